"""Checks 6-11 decided from a version-3 bundle's chain evidence and the trust root, with no
network (docs/PROTOCOL.md section 10 and "Offline verification").

- head_anchored: the receipt, proven under the anchor header's receiptsRoot, succeeded and
  carries the registry's `HeadAnchored` log of exactly this node, seq, size and root;
- anchor_transaction: the anchor header is the bundle's block (hash and number); the
  transaction proven at the receipt's index hashes to `anchor.tx_hash` and was sent to the
  registry; the registry's anchor record names the same block;
- head_not_withdrawn: the anchor record, proven at the evidence's state block, exists and is not
  withdrawn, *as of that block* (a later withdrawal is not seen: ``as_of``);
- node_authorised: the node record at the state block is active for the bundle's and the leaf's
  lg_code (and the log's);
- finality: the headers link up and are sealed by signers the trust root's history authorises,
  ⌊N/2⌋+1 distinct ones on top of the anchor block;
- anchor_time: the anchor header's timestamp (equal to the anchor record's), not in the future
  and not before what the leaf states; and a TSA token over the head, when present, checked
  against the trust root's TSAs and its genTime reported beside it.
Each failure names the evidence field at fault (``evidence.receipt.proof[1]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from protocol.bundle import AnchorSection, HeadSection, format_time
from protocol.checks import (
    ANCHOR_TIME,
    ANCHOR_TRANSACTION,
    FINALITY,
    HEAD_ANCHORED,
    HEAD_NOT_WITHDRAWN,
    NODE_AUTHORISED,
    Check,
    Outcome,
)
from protocol.errors import EvidenceError
from protocol.evidence import EvidenceSection
from protocol.evidence_proofs import (
    ProvenState,
    anchor_header,
    decode_headers,
    prove_finality,
    prove_head_anchored,
    prove_receipt,
    prove_state,
    prove_transaction,
)
from protocol.header import BlockHeader
from protocol.registry_abi import HeadAnchoredLog
from protocol.registry_storage import anchor_slot
from protocol.trust_root import TrustRoot
from verifier.rules.authorisation import authorisation_problems
from verifier.rules.context import Context
from verifier.timestamp import TimestampError, verify_head_timestamp

EVIDENCE_CHECKS = (
    HEAD_ANCHORED,
    ANCHOR_TRANSACTION,
    HEAD_NOT_WITHDRAWN,
    NODE_AUTHORISED,
    FINALITY,
    ANCHOR_TIME,
)


@dataclass(frozen=True)
class EvidenceFacts:
    """What the evidence established, for the verdict's facts."""

    anchored_at: int
    """The anchor block's timestamp."""
    as_of_block: int | None
    """The block whose state the storage proofs show (what `as_of` checks are as of)."""
    as_of_time: int | None
    confirmations: int
    """Headers on top of the anchor block."""
    timestamped_at: datetime | None = None
    """A trusted TSA's genTime for the head, when the bundle carries a token it could check."""


@dataclass(frozen=True)
class EvidenceOutcome:
    checks: dict[str, Check]
    facts: EvidenceFacts | None


def _failed(name: str, error: EvidenceError) -> Check:
    return Check(
        name, Outcome.FAILED, f"the chain evidence does not hold: {error.field}: {error.problem}"
    )


def evidence_checks(
    context: Context,
    evidence: EvidenceSection,
    head: HeadSection,
    anchor: AnchorSection,
    *,
    lg_code: int,
    not_after: Sequence[tuple[str, int]],
) -> EvidenceOutcome:
    """Checks 6-11 from `evidence` (the policy has a trust root); never raises."""
    root = context.policy.trust_root
    assert root is not None  # the caller checks
    checks: dict[str, Check] = {}
    try:
        headers = decode_headers(evidence)
        first = anchor_header(headers, anchor.block_number, anchor.block_hash)
    except EvidenceError as error:
        name = ANCHOR_TRANSACTION if error.field.startswith("evidence.headers[0]") else FINALITY
        checks[name] = _failed(name, error)
        reason = "the evidence's headers do not hold (see " + name + ")"
        for other in EVIDENCE_CHECKS:
            checks.setdefault(other, Check(other, Outcome.SKIPPED, reason))
        return EvidenceOutcome(checks, None)

    log: HeadAnchoredLog | None = None
    try:
        receipt = prove_receipt(evidence, first)
        log = prove_head_anchored(receipt, anchor.registry, anchor.node, *_head(head))
        checks[HEAD_ANCHORED] = Check(
            HEAD_ANCHORED,
            Outcome.PASSED,
            f"receipt {evidence.receipt.index} of block {first.number}, proven under its "
            f"receiptsRoot, logs HeadAnchored for seq {head.seq} over {head.tree_size} leaves "
            f"of node {anchor.node}",
        )
    except EvidenceError as error:
        checks[HEAD_ANCHORED] = _failed(HEAD_ANCHORED, error)

    state: ProvenState | None = None
    state_error: EvidenceError | None = None
    try:
        state = prove_state(evidence, headers, anchor.registry, anchor.node, head.root)
    except EvidenceError as error:
        state_error = error

    checks[ANCHOR_TRANSACTION] = _transaction(evidence, first, anchor, state)
    checks[HEAD_NOT_WITHDRAWN], checks[NODE_AUTHORISED] = _state_checks(
        evidence, state, state_error, head, anchor, lg_code, log
    )
    try:
        finality = prove_finality(headers, root.signer_history(), anchor.block_hash)
        checks[FINALITY] = Check(
            FINALITY,
            Outcome.PASSED,
            f"{len(finality.distinct_on_top)} distinct signers of the trust root sealed the "
            f"{len(headers) - 1} block(s) on top of block {first.number}; {finality.required} "
            "needed (⌊N/2⌋+1)",
        )
    except EvidenceError as error:
        checks[FINALITY] = _failed(FINALITY, error)
    checks[ANCHOR_TIME], stamped = _anchor_time(
        context, root, evidence, first, state, head, anchor, not_after
    )
    facts = EvidenceFacts(
        anchored_at=first.timestamp,
        as_of_block=state.header.number if state else None,
        as_of_time=state.header.timestamp if state else None,
        confirmations=len(headers) - 1,
        timestamped_at=stamped,
    )
    return EvidenceOutcome(checks, facts)


def _head(head: HeadSection) -> tuple[int, int, bytes]:
    return head.seq, head.tree_size, head.root


def _transaction(
    evidence: EvidenceSection,
    first: BlockHeader,
    anchor: AnchorSection,
    state: ProvenState | None,
) -> Check:
    try:
        prove_transaction(evidence, first, anchor.tx_hash, anchor.registry)
    except EvidenceError as error:
        return _failed(ANCHOR_TRANSACTION, error)
    record = state.anchor if state is not None else None
    if record is not None and record.block_number != anchor.block_number:
        return Check(
            ANCHOR_TRANSACTION,
            Outcome.FAILED,
            f"the registry's proven anchor record names block {record.block_number}, not "
            f"{anchor.block_number}",
        )
    return Check(
        ANCHOR_TRANSACTION,
        Outcome.PASSED,
        f"transaction 0x{anchor.tx_hash.hex()}, proven at index {evidence.receipt.index} of "
        f"block {first.number} (0x{anchor.block_hash.hex()[:16]}…), was sent to the registry",
    )


def _state_checks(
    evidence: EvidenceSection,
    state: ProvenState | None,
    error: EvidenceError | None,
    head: HeadSection,
    anchor: AnchorSection,
    lg_code: int,
    log: HeadAnchoredLog | None,
) -> tuple[Check, Check]:
    if state is None:
        assert error is not None
        culprit = _slot_of(evidence, error)
        anchor_record = anchor_slot(anchor.node, head.root)
        both = culprit is None
        reason = "the registry's storage evidence does not hold"
        withdrawn = (
            _failed(HEAD_NOT_WITHDRAWN, error)
            if both or culprit == anchor_record
            else Check(HEAD_NOT_WITHDRAWN, Outcome.SKIPPED, reason)
        )
        node = (
            _failed(NODE_AUTHORISED, error)
            if both or culprit != anchor_record
            else Check(NODE_AUTHORISED, Outcome.SKIPPED, reason)
        )
        return withdrawn, node
    block = state.header.number
    when = format_time(state.header.timestamp)
    return _withdrawal(state, head, block, when), _node(state, anchor, lg_code, log, block)


def _slot_of(evidence: EvidenceSection, error: EvidenceError) -> int | None:
    """The storage slot an error is about, or None (the account proof, the block, a record
    that does not decode)."""
    for position, entry in enumerate(evidence.state.slots):
        if error.field.startswith(f"evidence.state.slots[{position}]"):
            return entry.slot
    return None


def _withdrawal(state: ProvenState, head: HeadSection, block: int, when: str) -> Check:
    record = state.anchor
    if record is None:
        return Check(
            HEAD_NOT_WITHDRAWN,
            Outcome.FAILED,
            f"the registry's storage at block {block} proves no anchor of this root by this node",
        )
    if record.seq != head.seq or record.tree_size != head.tree_size:
        return Check(
            HEAD_NOT_WITHDRAWN,
            Outcome.FAILED,
            f"the proven anchor record is seq {record.seq} over {record.tree_size} leaves, not "
            f"seq {head.seq} over {head.tree_size}",
        )
    if record.withdrawn:
        return Check(
            HEAD_NOT_WITHDRAWN,
            Outcome.FAILED,
            f"governance had withdrawn this head by block {block}: proofs against it are void",
        )
    return Check(
        HEAD_NOT_WITHDRAWN,
        Outcome.PASSED,
        f"not withdrawn as of block {block} ({when}), by the registry's proven storage; a "
        "withdrawal after that is not known offline",
        as_of=True,
    )


def _node(
    state: ProvenState,
    anchor: AnchorSection,
    lg_code: int,
    log: HeadAnchoredLog | None,
    block: int,
) -> Check:
    node = state.node
    logged = [log.lg_code] if log is not None else []
    problems = authorisation_problems(node, anchor, lg_code, logged, block)
    if problems:
        return Check(NODE_AUTHORISED, Outcome.FAILED, "; ".join(problems))
    return Check(
        NODE_AUTHORISED,
        Outcome.PASSED,
        f"node {anchor.node} is registered for municipality {node.lg_code:06d} and active at "
        f"block {block}, by the registry's proven storage",
    )


def _anchor_time(
    context: Context,
    root: TrustRoot,
    evidence: EvidenceSection,
    first: BlockHeader,
    state: ProvenState | None,
    head: HeadSection,
    anchor: AnchorSection,
    not_after: Sequence[tuple[str, int]],
) -> tuple[Check, datetime | None]:
    anchored = first.timestamp
    record = state.anchor if state is not None else None
    if record is not None and record.timestamp != anchored:
        return Check(
            ANCHOR_TIME,
            Outcome.FAILED,
            f"the registry recorded time {format_time(record.timestamp)} but the anchor header "
            f"says {format_time(anchored)}",
        ), None
    skew = context.policy.max_clock_skew.total_seconds()
    if anchored > context.now.timestamp() + skew:
        return Check(
            ANCHOR_TIME,
            Outcome.FAILED,
            f"the anchor block's time {format_time(anchored)} is in the future",
        ), None
    for what, seconds in not_after:
        if seconds > anchored + skew:
            return Check(
                ANCHOR_TIME,
                Outcome.FAILED,
                f"the entry's {what} {format_time(seconds)} is after the anchor time "
                f"{format_time(anchored)}: an anchor cannot precede what it proves",
            ), None
    detail = f"anchored at {format_time(anchored)} (the anchor header's time), block {first.number}"
    stamped = None
    if evidence.timestamp is not None:
        if not root.tsa_anchors:
            detail += "; a TSA token is present, not checked: the trust root names no TSA"
        else:
            try:
                facts = verify_head_timestamp(
                    evidence.timestamp,
                    chain_id=anchor.chain_id,
                    registry=anchor.registry,
                    node=anchor.node,
                    seq=head.seq,
                    tree_size=head.tree_size,
                    root=head.root,
                    trust_anchors=[x509.load_der_x509_certificate(d) for d in root.tsa_anchors],
                )
            except (TimestampError, ValueError) as error:
                return Check(
                    ANCHOR_TIME,
                    Outcome.FAILED,
                    f"the chain evidence does not hold: evidence.timestamp: {error}",
                ), None
            stamped = facts.gen_time
            detail += (
                f"; timestamped at {stamped:%Y-%m-%dT%H:%M:%SZ} by {facts.tsa} (RFC 3161, a TSA "
                "of the trust root)"
            )
    return Check(ANCHOR_TIME, Outcome.PASSED, detail), stamped
