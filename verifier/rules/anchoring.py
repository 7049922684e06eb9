"""The anchoring checks: merkle_inclusion through anchor_time (docs/PROTOCOL.md).

They prove that a log entry is in a head its node anchored, in a successful transaction to the
trusted registry on the trusted chain, not withdrawn, by a node active for the entry's
municipality, deep enough to be final, and not earlier than what it proves. A document's own
anchoring and a revocation's go through the same `anchoring_checks`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec

from protocol.bundle import AnchorSection, HeadSection, InclusionSection, format_time
from protocol.checks import (
    ANCHOR_TIME,
    ANCHOR_TRANSACTION,
    CHAIN_ID,
    CHECK_ORDER,
    FINALITY,
    HEAD_ANCHORED,
    HEAD_NOT_WITHDRAWN,
    MERKLE_INCLUSION,
    NODE_AUTHORISED,
    REGISTRY,
    Check,
    Outcome,
)
from protocol.evidence import EvidenceSection
from protocol.merkle import ProofError, verify_inclusion
from protocol.registry_abi import NodeStatus
from verifier.chain import AnchorFacts
from verifier.errors import EvidenceUnavailableError
from verifier.rules.authorisation import authorisation_problems
from verifier.rules.context import Context
from verifier.rules.evidence import EvidenceFacts, evidence_checks

ANCHORING_CHECKS = CHECK_ORDER[
    CHECK_ORDER.index(MERKLE_INCLUSION) : CHECK_ORDER.index(ANCHOR_TIME) + 1
]
"""The run of CHECK_ORDER these checks fill, so the order is stated once."""


class Anchoring(msgspec.Struct, frozen=True):
    """The anchoring checks of one entry (the document's, or a revocation's)."""

    checks: dict[str, Check]
    facts: AnchorFacts | None
    evidence: EvidenceFacts | None = None

    def first_problem(self) -> Check | None:
        for name in ANCHORING_CHECKS:
            check = self.checks[name]
            if check.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
                return check
        return None


def anchoring_checks(
    context: Context,
    leaf_hash: bytes,
    inclusion: InclusionSection | None,
    head: HeadSection | None,
    anchor: AnchorSection | None,
    *,
    lg_code: int,
    not_after_anchor: Sequence[tuple[str, int]],
    evidence: EvidenceSection | None = None,
) -> Anchoring:
    if inclusion is None or head is None or anchor is None:
        pending = Check(
            MERKLE_INCLUSION,
            Outcome.UNKNOWN,
            "the entry is not anchored yet (status pending): fetch the anchored bundle "
            "from the issuing node later",
            True,
        )
        return _skip_rest({MERKLE_INCLUSION: pending}, "the entry is not anchored yet")

    merkle = merkle_inclusion(leaf_hash, inclusion, head)
    policy = context.policy
    chain_id = _chain_id(anchor.chain_id, policy.chain_id)
    registry = _registry(anchor.registry, policy.registry)
    checks = {MERKLE_INCLUSION: merkle, CHAIN_ID: chain_id, REGISTRY: registry}
    if merkle.outcome is not Outcome.PASSED:
        return _skip_rest(
            checks, "the inclusion proof does not lead to the head, so the chain was not asked"
        )
    if chain_id.outcome is not Outcome.PASSED or registry.outcome is not Outcome.PASSED:
        return _skip_rest(
            checks, "the anchor is on a chain or registry this verifier does not trust"
        )
    return _chain_checks(context, checks, head, anchor, lg_code, not_after_anchor, evidence)


@functools.lru_cache(maxsize=64)  # the same few answers for every bundle
def _chain_id(claimed: int, trusted: int) -> Check:
    if claimed == trusted:
        return Check(CHAIN_ID, Outcome.PASSED, f"anchored on chain id {claimed}, as trusted")
    return Check(
        CHAIN_ID,
        Outcome.FAILED,
        f"the bundle's anchor is on chain id {claimed}, but this verifier "
        f"trusts chain id {trusted} only",
    )


@functools.lru_cache(maxsize=64)
def _registry(claimed: str, trusted: str) -> Check:
    if claimed.lower() == trusted.lower():
        return Check(REGISTRY, Outcome.PASSED, f"registry {claimed}, as trusted")
    return Check(
        REGISTRY,
        Outcome.FAILED,
        f"the bundle names registry {claimed}, but this verifier trusts "
        f"{trusted} only (anyone can deploy a look-alike registry)",
    )


def _chain_checks(
    context: Context,
    checks: dict[str, Check],
    head: HeadSection,
    anchor: AnchorSection,
    lg_code: int,
    not_after: Sequence[tuple[str, int]],
    evidence: EvidenceSection | None,
) -> Anchoring:
    """Checks 6-11: from the chain, from the bundle's evidence (offline), or from both."""
    policy = context.policy
    offline = None
    if evidence is not None and policy.trust_root is not None:
        offline = evidence_checks(
            context, evidence, head, anchor, lg_code=lg_code, not_after=not_after
        )
    facts = None
    if not policy.offline:
        try:
            facts = context.read_chain(head, anchor)
        except EvidenceUnavailableError as exc:
            if offline is None:
                checks[HEAD_ANCHORED] = Check(
                    HEAD_ANCHORED, Outcome.UNKNOWN, f"cannot read the chain: {exc}"
                )
                return _skip_rest(checks, "no chain evidence (see head_anchored)")
    if facts is None:  # offline, or the chain is out of reach: the evidence decides
        if offline is None:
            checks[HEAD_ANCHORED] = Check(
                HEAD_ANCHORED,
                Outcome.UNKNOWN,
                "offline, and the bundle carries no chain evidence (a version-3 bundle does, "
                "once its anchor is final): verify online, or fetch the bundle again",
            )
            return _skip_rest(checks, "no chain evidence (see head_anchored)")
        checks.update(offline.checks)
        return Anchoring(checks, None, offline.facts)
    checks.update(_online_checks(context, facts, head, anchor, lg_code, not_after))
    if offline is None:
        return Anchoring(checks, facts)
    for name, found in offline.checks.items():
        checks[name] = _merged(checks[name], found)
    return Anchoring(checks, facts, offline.facts)


def _skip_rest(checks: dict[str, Check], reason: str) -> Anchoring:
    for name in ANCHORING_CHECKS:
        checks.setdefault(name, Check(name, Outcome.SKIPPED, reason))
    return Anchoring(checks, None)


def _online_checks(
    context: Context,
    facts: AnchorFacts,
    head: HeadSection,
    anchor: AnchorSection,
    lg_code: int,
    not_after: Sequence[tuple[str, int]],
) -> dict[str, Check]:
    checks = _head_checks(facts, head, anchor, lg_code, context.policy.registry).copy()
    if checks[HEAD_ANCHORED].passed and checks[ANCHOR_TRANSACTION].passed:
        checks[ANCHOR_TIME] = anchor_time(context, facts, not_after)
    else:
        reason = "the anchor itself did not verify"
        checks[ANCHOR_TIME] = Check(ANCHOR_TIME, Outcome.SKIPPED, reason)
    return checks


_HeadKey = tuple[AnchorFacts, HeadSection, AnchorSection, int, str]
_last_head: tuple[_HeadKey, dict[str, Check]] | None = None
"""The last `_head_checks` answer: bundles of one head, verified one after the other against
the same (cached) chain facts, share it."""


def _head_checks(
    facts: AnchorFacts, head: HeadSection, anchor: AnchorSection, lg_code: int, registry: str
) -> dict[str, Check]:
    """Checks 6 to 10: functions of these arguments alone (facts are immutable), so the last
    answer is reused while they are the same; the caller must not change the dict."""
    global _last_head  # noqa: PLW0603 - a one-entry memo, replaced in one assignment
    last = _last_head
    if (
        last is not None
        and last[0][0] is facts
        and last[0][1:] == (head, anchor, lg_code, registry)
    ):
        return last[1]
    checks = {
        HEAD_ANCHORED: head_anchored(facts, head, anchor),
        ANCHOR_TRANSACTION: anchor_transaction(facts, head, anchor, registry),
        HEAD_NOT_WITHDRAWN: head_not_withdrawn(facts),
        NODE_AUTHORISED: node_authorised(facts, anchor, lg_code),
    }
    if checks[HEAD_ANCHORED].passed and checks[ANCHOR_TRANSACTION].passed:
        checks[FINALITY] = finality(facts, anchor)
    else:
        checks[FINALITY] = Check(FINALITY, Outcome.SKIPPED, "the anchor itself did not verify")
    _last_head = ((facts, head, anchor, lg_code, registry), checks)
    return checks


def _merged(online: Check, evidence: Check) -> Check:
    """An online check and the same check from the bundle's evidence: a failure of either
    fails it (the evidence contradicting the chain is as bad as the chain contradicting the
    bundle); else the chain's answer, which is current, and the evidence's when the chain
    could not decide."""
    if online.outcome is Outcome.FAILED:
        return online
    if evidence.outcome is Outcome.FAILED:
        return evidence
    if online.outcome is Outcome.PASSED:
        suffix = "; the chain evidence agrees" if evidence.passed else ""
        return Check(online.name, online.outcome, online.detail + suffix)
    if evidence.passed:
        return evidence
    return online


def anchor_time(
    context: Context, facts: AnchorFacts, not_after: Sequence[tuple[str, int]]
) -> Check:
    record = facts.record
    assert record is not None  # head_anchored passed
    anchored = record.timestamp
    if facts.block_timestamp is not None and facts.block_timestamp != record.timestamp:
        return Check(
            ANCHOR_TIME,
            Outcome.FAILED,
            f"the registry recorded time {format_time(record.timestamp)} but block "
            f"{record.block_number} has time {format_time(facts.block_timestamp)}: the "
            "endpoint's answers are inconsistent",
        )
    skew = context.policy.max_clock_skew.total_seconds()
    now = context.now.timestamp()
    if anchored > now + skew:
        return Check(
            ANCHOR_TIME,
            Outcome.FAILED,
            f"the anchor block's time {format_time(record.timestamp)} is in the future "
            f"(now is {context.now:%Y-%m-%dT%H:%M:%SZ}): the chain's clock or this one is wrong",
        )
    for what, seconds in not_after:
        if seconds > anchored + skew:
            return Check(
                ANCHOR_TIME,
                Outcome.FAILED,
                f"the entry's {what} {format_time(seconds)} is after the anchor time "
                f"{format_time(record.timestamp)}: an anchor cannot precede what it proves",
            )
    return _anchor_time_passed(record.timestamp, int(now - anchored), record.block_number)


@functools.lru_cache(maxsize=256)  # bundles of one head, verified within the same second
def _anchor_time_passed(timestamp: int, age_seconds: int, block_number: int) -> Check:
    return Check(
        ANCHOR_TIME,
        Outcome.PASSED,
        f"anchored at {format_time(timestamp)} ({_describe_age(age_seconds)} ago), "
        f"block {block_number}",
    )


def merkle_inclusion(leaf_hash: bytes, inclusion: InclusionSection, head: HeadSection) -> Check:
    if inclusion.tree_size != head.tree_size:
        return Check(
            MERKLE_INCLUSION,
            Outcome.FAILED,
            f"the inclusion proof is for a tree of {inclusion.tree_size} leaves but the head "
            f"has {head.tree_size}",
        )
    try:
        verify_inclusion(
            leaf_hash, inclusion.leaf_index, inclusion.tree_size, inclusion.path, head.root
        )
    except ProofError as exc:
        return Check(MERKLE_INCLUSION, Outcome.FAILED, str(exc))
    return Check(
        MERKLE_INCLUSION,
        Outcome.PASSED,
        f"leaf {inclusion.leaf_index} of {inclusion.tree_size} leads to root "
        f"{head.root.hex()} (head seq {head.seq})",
    )


def head_anchored(facts: AnchorFacts, head: HeadSection, anchor: AnchorSection) -> Check:
    record = facts.record
    if record is None:
        return Check(
            HEAD_ANCHORED,
            Outcome.FAILED,
            f"root {head.root.hex()} was never anchored in registry {anchor.registry} on chain "
            f"{facts.chain_id}",
        )
    problems = []
    if record.node.lower() != anchor.node.lower():
        problems.append(f"it was anchored by node {record.node}, not by {anchor.node}")
    if record.seq != head.seq:
        problems.append(f"as head seq {record.seq}, not {head.seq}")
    if record.tree_size != head.tree_size:
        problems.append(f"over {record.tree_size} leaves, not {head.tree_size}")
    if problems:
        return Check(
            HEAD_ANCHORED,
            Outcome.FAILED,
            "the registry's record of this root contradicts the bundle: " + "; ".join(problems),
        )
    return Check(
        HEAD_ANCHORED,
        Outcome.PASSED,
        f"registry {anchor.registry} records root {head.root.hex()[:16]}… as head seq "
        f"{record.seq} over {record.tree_size} leaves of node {record.node}",
    )


def anchor_transaction(  # noqa: PLR0911 - one return per way an anchor claim can be false
    facts: AnchorFacts, head: HeadSection, anchor: AnchorSection, registry: str
) -> Check:
    tx = facts.transaction
    tx_hex = "0x" + anchor.tx_hash.hex()

    def failed(detail: str) -> Check:
        return Check(ANCHOR_TRANSACTION, Outcome.FAILED, detail)

    if tx is None:
        return failed(f"transaction {tx_hex} does not exist on chain {facts.chain_id}")
    if not tx.succeeded:
        return failed(f"transaction {tx_hex} reverted: it anchored nothing")
    if tx.to is None or tx.to.lower() != registry.lower():
        return failed(f"transaction {tx_hex} was not sent to the registry {registry}")
    if tx.block_number != anchor.block_number:
        return failed(
            f"transaction {tx_hex} is in block {tx.block_number}, not block {anchor.block_number}"
        )
    if tx.block_hash != anchor.block_hash:
        return failed(
            f"block {tx.block_number} holding the transaction has hash 0x{tx.block_hash.hex()}, "
            f"not 0x{anchor.block_hash.hex()}"
        )
    if facts.canonical_block_hash != anchor.block_hash:
        return failed(
            f"block 0x{anchor.block_hash.hex()} is not the chain's block {anchor.block_number} "
            "(reorganised away, or the endpoint is inconsistent)"
        )
    if facts.record is not None and facts.record.block_number != anchor.block_number:
        return failed(
            f"the registry recorded the anchor in block {facts.record.block_number}, "
            f"not {anchor.block_number}"
        )
    matching = [
        log
        for log in tx.head_anchored
        if log.node.lower() == anchor.node.lower()
        and log.seq == head.seq
        and log.tree_size == head.tree_size
        and log.root == head.root
    ]
    if not matching:
        return failed(
            f"transaction {tx_hex} emitted no HeadAnchored event for node {anchor.node}, "
            f"seq {head.seq}, size {head.tree_size} and this root"
        )
    return Check(
        ANCHOR_TRANSACTION,
        Outcome.PASSED,
        f"transaction {tx_hex} in block {anchor.block_number} (0x{anchor.block_hash.hex()[:16]}…) "
        "emitted HeadAnchored for this head",
    )


def head_not_withdrawn(facts: AnchorFacts) -> Check:
    if facts.record is None:
        return Check(HEAD_NOT_WITHDRAWN, Outcome.SKIPPED, "the root is not anchored")
    if facts.record.withdrawn:
        return Check(
            HEAD_NOT_WITHDRAWN,
            Outcome.FAILED,
            "governance withdrew this head (e.g. after a node key compromise): proofs against "
            "it are void",
        )
    return Check(HEAD_NOT_WITHDRAWN, Outcome.PASSED, "the head has not been withdrawn")


def node_authorised(facts: AnchorFacts, anchor: AnchorSection, lg_code: int) -> Check:
    node = facts.node
    block = facts.node_block
    if node is None:
        return Check(
            NODE_AUTHORISED, Outcome.FAILED, f"block {block} does not exist on this chain yet"
        )
    if node.status is NodeStatus.UNREGISTERED:
        return Check(
            NODE_AUTHORISED,
            Outcome.FAILED,
            f"{anchor.node} was not a registered node at block {block}",
        )
    logs = facts.transaction.head_anchored if facts.transaction is not None else ()
    logged = [log.lg_code for log in logs if log.node.lower() == anchor.node.lower()]
    problems = authorisation_problems(node, anchor, lg_code, logged, block)
    if problems:
        return Check(NODE_AUTHORISED, Outcome.FAILED, "; ".join(problems))
    return Check(
        NODE_AUTHORISED,
        Outcome.PASSED,
        f"node {anchor.node} was registered for municipality {node.lg_code:06d} and active at "
        f"the anchor block {block}",
    )


def finality(facts: AnchorFacts, anchor: AnchorSection) -> Check:
    depth = facts.latest_block - anchor.block_number
    needed = facts.finality_depth
    if depth < needed:
        return Check(
            FINALITY,
            Outcome.UNKNOWN,
            f"block {anchor.block_number} has {depth} of the {needed} blocks on top that make "
            f"it final ({facts.finality_source}); verify again in a few blocks",
            pending=True,
        )
    return Check(
        FINALITY,
        Outcome.PASSED,
        f"{depth} blocks on top of block {anchor.block_number}; {needed} needed "
        f"({facts.finality_source})",
    )


def _describe_age(delta_seconds: float) -> str:
    seconds = max(0, int(delta_seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
