"""`verify(document, bundle, policy) -> Verdict`: every check of docs/PROTOCOL.md, in order.

The rules live here; evidence comes from the bundle, the chain (`verifier.chain`) and the
JPKI checks (`verifier.jpki`). Each check ends as passed, failed, skipped or unknown, and the
verdict follows from them (`verifier.models.decide`). Nothing that can go wrong with a bundle,
a chain endpoint or a node raises out of `verify`: a failure to get evidence is ``unknown``,
never ``valid``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verifier.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    ProofBundle,
    RevocationSection,
    format_time,
    load_bundle,
    parse_bundle,
)
from verifier.chain import (
    AnchorFacts,
    CachingChainReader,
    ChainReader,
    NodeStatusClient,
    NodeStatusSource,
    RpcChainReader,
)
from verifier.digest_signature import certificate_from_der, verify_cms_digest, verify_pkcs1_digest
from verifier.errors import BundleFormatError, EvidenceUnavailableError
from verifier.jpki import (
    CertificateError,
    JPKICertificate,
    JPKIError,
    SignatureError,
    SignerCheck,
    check_signer,
)
from verifier.leaf import (
    SignatureFormat,
    document_type_label,
    from_unix_seconds,
    revocation_reason_label,
    unix_seconds,
)
from verifier.merkle import ProofError, verify_inclusion
from verifier.models import (
    ANCHOR_TIME,
    ANCHOR_TRANSACTION,
    BUNDLE_FORMAT,
    CHAIN_ID,
    CHECK_ORDER,
    DOCUMENT_LEAF,
    DOCUMENT_REVOCATION,
    FINALITY,
    HEAD_ANCHORED,
    HEAD_NOT_WITHDRAWN,
    MERKLE_INCLUSION,
    NODE_AUTHORISED,
    REGISTRY,
    SIGNATURE,
    SIGNATURE_BINDING,
    SIGNER_CERTIFICATE,
    Check,
    DocumentDigest,
    Outcome,
    Verdict,
    VerdictFacts,
)
from verifier.policy import VerificationPolicy
from verifier.registry_abi import NodeStatus

REVOCATION_NOT_CHECKED = (
    "revocation not checked: the bundle carries no revocation and no issuing node was asked. "
    "A holder can delete a revocation from a bundle, so only the issuing node can rule one "
    "out: give its URL (policy node_url; notary verify --node-url URL), or accept the risk "
    "explicitly (require_revocation_check off; notary verify --no-revocation-check)"
)
"""The detail of an ``unknown`` document_revocation when nobody could be asked."""

# Runs of CHECK_ORDER, so the order is stated once.
_ANCHORING_CHECKS = CHECK_ORDER[
    CHECK_ORDER.index(MERKLE_INCLUSION) : CHECK_ORDER.index(ANCHOR_TIME) + 1
]
_SIGNATURE_CHECKS = CHECK_ORDER[
    CHECK_ORDER.index(SIGNATURE_BINDING) : CHECK_ORDER.index(SIGNATURE) + 1
]


def verify(
    document_or_digest: bytes | DocumentDigest,
    bundle: ProofBundle | bytes | str | Mapping[str, Any],
    policy: VerificationPolicy,
) -> Verdict:
    """Check `document_or_digest` against `bundle` under `policy`.

    Pass the document's bytes, or `DocumentDigest` (its SHA-256) when only that is at hand.
    The bundle may be parsed already or given as JSON text. For many verifications, build one
    `Verifier` and reuse it (connections and, optionally, cached lookups).
    """
    return Verifier(policy).verify(document_or_digest, bundle)


class Verifier:
    """Verification under one policy, reusing connections between calls.

    `cache_ttl` (seconds, default 0: off) caches chain facts per head and signer verdicts per
    (certificate, signing time); a withdrawal, suspension or newly published revocation then
    shows up at most that late. `chain_reader` and `node_status` replace the JSON-RPC reader
    and the node client (tests, or an operator's own evidence sources).
    """

    def __init__(
        self,
        policy: VerificationPolicy,
        *,
        chain_reader: ChainReader | None = None,
        node_status: NodeStatusSource | None = None,
        cache_ttl: float = 0.0,
    ) -> None:
        self.policy = policy
        reader: ChainReader = chain_reader or RpcChainReader(
            policy.rpc_urls,
            registry=policy.registry,
            chain_id=policy.chain_id,
            finality_depth=policy.finality_depth,
            timeout=policy.rpc_timeout,
        )
        if cache_ttl > 0:
            reader = CachingChainReader(reader, cache_ttl)
        self._chain = reader
        if node_status is None and policy.node_url is not None:
            node_status = NodeStatusClient(policy.node_url, timeout=policy.rpc_timeout)
        self._node_status = node_status
        self._cache_ttl = cache_ttl
        self._signer_cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, SignerCheck]] = {}
        self._lock = threading.Lock()

    def verify(
        self,
        document_or_digest: bytes | DocumentDigest,
        bundle: ProofBundle | bytes | str | Mapping[str, Any],
    ) -> Verdict:
        digest = _document_sha256(document_or_digest)
        try:
            parsed = _parsed(bundle)
        except BundleFormatError as exc:
            checks = [Check(BUNDLE_FORMAT, Outcome.FAILED, f"not a valid proof bundle: {exc}")]
            checks += [
                Check(name, Outcome.SKIPPED, "the bundle could not be read")
                for name in CHECK_ORDER[1:]
            ]
            return Verdict.from_checks(checks, VerdictFacts())
        return _Run(self, parsed, digest).verdict()

    # -- used by _Run -------------------------------------------------------------------

    def read_chain(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        return self._chain.read(head, anchor)

    @property
    def node_status(self) -> NodeStatusSource | None:
        return self._node_status

    def signer_check(
        self, cert: JPKICertificate, signing_time: int, intermediates: Sequence[JPKICertificate]
    ) -> SignerCheck:
        key = (cert.sha256, signing_time, tuple(c.sha256 for c in intermediates))
        now = time.monotonic()
        if self._cache_ttl > 0:
            with self._lock:
                hit = self._signer_cache.get(key)
            if hit is not None and now - hit[0] < self._cache_ttl:
                return hit[1]
        result = _run_check_signer(
            cert,
            signing_time=from_unix_seconds(signing_time),
            trust_anchors=self.policy.trust_anchors,
            intermediates=intermediates,
            policy=self.policy,
        )
        if self._cache_ttl > 0:
            with self._lock:
                if len(self._signer_cache) > 4096:
                    self._signer_cache.clear()
                self._signer_cache[key] = (now, result)
        return result


@dataclass(frozen=True)
class _Anchoring:
    """The anchoring checks of one entry (the document's, or a revocation's)."""

    checks: dict[str, Check]
    facts: AnchorFacts | None

    def first_problem(self) -> Check | None:
        for name in _ANCHORING_CHECKS:
            check = self.checks[name]
            if check.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
                return check
        return None


class _Run:
    """One verification: the bundle is parsed, the document digest known."""

    def __init__(self, verifier: Verifier, bundle: ProofBundle, digest: bytes) -> None:
        self.verifier = verifier
        self.policy = verifier.policy
        self.bundle = bundle
        self.digest = digest
        self.now = self.policy.current_time()
        self.checks: dict[str, Check] = {}
        self.signer: JPKICertificate | None = None

    def verdict(self) -> Verdict:
        bundle = self.bundle
        self._add(
            BUNDLE_FORMAT,
            Outcome.PASSED,
            f"proof bundle version {bundle.version}, status {bundle.status}",
        )
        self._document_leaf()
        leaf = bundle.leaf
        anchoring = self._anchoring(
            leaf.leaf_hash,
            bundle.inclusion,
            bundle.head,
            bundle.anchor,
            lg_code=leaf.lg_code,
            not_after_anchor=(
                ("signing time", leaf.signing_time),
                ("issue time", leaf.issued_at),
            ),
        )
        self.checks.update(anchoring.checks)
        self._signature_checks()
        revocation_facts = self._document_revocation()
        return Verdict.from_checks(
            [self.checks[name] for name in CHECK_ORDER],
            self._facts(anchoring.facts, revocation_facts),
            self.signer,
        )

    def _add(self, name: str, outcome: Outcome, detail: str, *, pending: bool = False) -> None:
        self.checks[name] = Check(name, outcome, detail, pending)

    # -- document → leaf -----------------------------------------------------------------

    def _document_leaf(self) -> None:
        leaf = self.bundle.leaf
        computed = leaf.leaf_hash_for(self.digest, self.bundle.signature.format)
        if computed != leaf.leaf_hash:
            self._add(
                DOCUMENT_LEAF,
                Outcome.FAILED,
                "the document does not match this bundle: SHA-256 of the document, salt and "
                f"leaf fields give leaf hash {computed.hex()}, the bundle says "
                f"{leaf.leaf_hash.hex()} (a different or altered document, or altered leaf "
                "fields)",
            )
            return
        self._add(
            DOCUMENT_LEAF,
            Outcome.PASSED,
            f"document SHA-256 {self.digest.hex()} with the bundle's salt gives leaf hash "
            f"{computed.hex()}",
        )

    # -- anchoring (shared with revocation sections) ---------------------------------------

    def _anchoring(
        self,
        leaf_hash: bytes,
        inclusion: InclusionSection | None,
        head: HeadSection | None,
        anchor: AnchorSection | None,
        *,
        lg_code: int,
        not_after_anchor: Sequence[tuple[str, int]],
    ) -> _Anchoring:
        checks: dict[str, Check] = {}

        def add(name: str, outcome: Outcome, detail: str, *, pending: bool = False) -> None:
            checks[name] = Check(name, outcome, detail, pending)

        def skip_rest(reason: str) -> _Anchoring:
            for name in _ANCHORING_CHECKS:
                checks.setdefault(name, Check(name, Outcome.SKIPPED, reason))
            return _Anchoring(checks, None)

        if inclusion is None or head is None or anchor is None:
            add(
                MERKLE_INCLUSION,
                Outcome.UNKNOWN,
                "the entry is not anchored yet (status pending): fetch the anchored bundle "
                "from the issuing node later",
                pending=True,
            )
            return skip_rest("the entry is not anchored yet")

        merkle = _merkle_check(leaf_hash, inclusion, head)
        checks[MERKLE_INCLUSION] = merkle
        policy = self.policy
        if anchor.chain_id == policy.chain_id:
            add(CHAIN_ID, Outcome.PASSED, f"anchored on chain id {anchor.chain_id}, as trusted")
        else:
            add(
                CHAIN_ID,
                Outcome.FAILED,
                f"the bundle's anchor is on chain id {anchor.chain_id}, but this verifier "
                f"trusts chain id {policy.chain_id} only",
            )
        if anchor.registry.lower() == policy.registry.lower():
            add(REGISTRY, Outcome.PASSED, f"registry {anchor.registry}, as trusted")
        else:
            add(
                REGISTRY,
                Outcome.FAILED,
                f"the bundle names registry {anchor.registry}, but this verifier trusts "
                f"{policy.registry} only (anyone can deploy a look-alike registry)",
            )
        if not merkle.passed:
            return skip_rest(
                "the inclusion proof does not lead to the head, so the chain was not asked"
            )
        if not (checks[CHAIN_ID].passed and checks[REGISTRY].passed):
            return skip_rest("the anchor is on a chain or registry this verifier does not trust")
        try:
            facts = self.verifier.read_chain(head, anchor)
        except EvidenceUnavailableError as exc:
            add(HEAD_ANCHORED, Outcome.UNKNOWN, f"cannot read the chain: {exc}")
            return skip_rest("no chain evidence (see head_anchored)")

        checks[HEAD_ANCHORED] = _head_anchored(facts, head, anchor)
        checks[ANCHOR_TRANSACTION] = _anchor_transaction(facts, head, anchor, policy.registry)
        checks[HEAD_NOT_WITHDRAWN] = _not_withdrawn(facts)
        checks[NODE_AUTHORISED] = _node_authorised(facts, anchor, lg_code)
        if checks[HEAD_ANCHORED].passed and checks[ANCHOR_TRANSACTION].passed:
            checks[FINALITY] = _finality(facts, anchor)
            checks[ANCHOR_TIME] = self._anchor_time(facts, not_after_anchor)
        else:
            reason = "the anchor itself did not verify"
            add(FINALITY, Outcome.SKIPPED, reason)
            add(ANCHOR_TIME, Outcome.SKIPPED, reason)
        return _Anchoring(checks, facts)

    def _anchor_time(self, facts: AnchorFacts, not_after: Sequence[tuple[str, int]]) -> Check:
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
        skew = self.policy.max_clock_skew.total_seconds()
        now = self.now.timestamp()
        if anchored > now + skew:
            return Check(
                ANCHOR_TIME,
                Outcome.FAILED,
                f"the anchor block's time {format_time(record.timestamp)} is in the future "
                f"(now is {self.now:%Y-%m-%dT%H:%M:%SZ}): the chain's clock or this one is wrong",
            )
        for what, seconds in not_after:
            if seconds > anchored + skew:
                return Check(
                    ANCHOR_TIME,
                    Outcome.FAILED,
                    f"the entry's {what} {format_time(seconds)} is after the anchor time "
                    f"{format_time(record.timestamp)}: an anchor cannot precede what it proves",
                )
        age = _age(now - anchored)
        return Check(
            ANCHOR_TIME,
            Outcome.PASSED,
            f"anchored at {format_time(record.timestamp)} ({age} ago), block {record.block_number}",
        )

    # -- JPKI signature -------------------------------------------------------------------

    def _signature_checks(self) -> None:
        if not self.policy.require_signature:
            for name in _SIGNATURE_CHECKS:
                self._add(name, Outcome.SKIPPED, "the policy does not require the JPKI signature")
            return
        signature = self.bundle.signature.value
        certificates = self.bundle.signature.certificates  # decoded once, used below
        self._signature_binding(signature, certificates[0])
        try:
            cert = certificate_from_der(certificates[0])
            others = [certificate_from_der(der) for der in certificates[1:]]
        except CertificateError as exc:
            self._add(
                SIGNER_CERTIFICATE, Outcome.FAILED, f"a bundle certificate is unreadable: {exc}"
            )
            self._add(SIGNATURE, Outcome.SKIPPED, "the signer certificate is unreadable")
            return
        self.signer = cert
        self._signer_certificate(cert, others)
        self._signature(signature, cert)

    def _signature_binding(self, signature: bytes, signer_certificate: bytes) -> None:
        leaf = self.bundle.leaf
        problems = []
        if hashlib.sha256(signature).digest() != leaf.signature_sha256:
            problems.append(
                "the signature is not the one recorded in the log entry (its SHA-256 differs "
                "from leaf.signature_sha256)"
            )
        if hashlib.sha256(signer_certificate).digest() != leaf.signer_sha256:
            problems.append(
                "signature.certificates[0] is not the signer certificate recorded in the log "
                "entry (its SHA-256 differs from leaf.signer_sha256)"
            )
        if problems:
            self._add(SIGNATURE_BINDING, Outcome.FAILED, "; ".join(problems))
        else:
            self._add(
                SIGNATURE_BINDING,
                Outcome.PASSED,
                "the signature and signer certificate are the ones the log entry commits to",
            )

    def _signer_certificate(self, cert: JPKICertificate, others: list[JPKICertificate]) -> None:
        if not self.policy.trust_anchors:
            self._add(
                SIGNER_CERTIFICATE,
                Outcome.UNKNOWN,
                "no JPKI trust anchors are configured: give the J-LIS CA certificates of every "
                "generation (--trust)",
            )
            return
        try:
            result = self.verifier.signer_check(cert, self.bundle.leaf.signing_time, others)
        except JPKIError as exc:
            self._add(SIGNER_CERTIFICATE, Outcome.UNKNOWN, f"the signer check could not run: {exc}")
            return
        who = f"JPKI {cert.kind.value} certificate serial 0x{cert.serial_hex}"
        when = format_time(self.bundle.leaf.signing_time)
        if result.status == "valid":
            self._add(
                SIGNER_CERTIFICATE,
                Outcome.PASSED,
                f"{who} at the signing time {when}: {result.reason}",
            )
        elif result.status == "unknown":
            self._add(SIGNER_CERTIFICATE, Outcome.UNKNOWN, f"{who} at {when}: {result.reason}")
        else:
            label = result.status.replace("_", " ")
            self._add(
                SIGNER_CERTIFICATE,
                Outcome.FAILED,
                f"{who} is {label} at the signing time {when}: {result.reason}",
            )

    def _signature(self, signature: bytes, cert: JPKICertificate) -> None:
        leaf = self.bundle.leaf
        try:
            if self.bundle.signature.format is SignatureFormat.PKCS1:
                verify_pkcs1_digest(signature, self.digest, cert)
                self._add(
                    SIGNATURE,
                    Outcome.PASSED,
                    "RSA PKCS#1 v1.5 SHA-256 signature over the document verifies with the "
                    "signer certificate",
                )
                return
            signed = verify_cms_digest(signature, self.digest, extra_certificates=[cert])
        except (SignatureError, JPKIError) as exc:
            self._add(SIGNATURE, Outcome.FAILED, str(exc))
            return
        if signed.signer_cert != cert:
            self._add(
                SIGNATURE,
                Outcome.FAILED,
                f"the CMS was signed by certificate serial 0x{signed.signer_cert.serial_hex}, not "
                "by signature.certificates[0]",
            )
        elif signed.signing_time is None:
            self._add(
                SIGNATURE,
                Outcome.FAILED,
                "the CMS has no signingTime attribute (card signatures carry one)",
            )
        elif unix_seconds(signed.signing_time) != leaf.signing_time:
            self._add(
                SIGNATURE,
                Outcome.FAILED,
                f"the CMS signingTime {format_time(unix_seconds(signed.signing_time))} differs "
                f"from the log entry's signing time {format_time(leaf.signing_time)}",
            )
        else:
            self._add(
                SIGNATURE,
                Outcome.PASSED,
                "detached CMS SignedData over the document verifies (messageDigest is the "
                "document's SHA-256, signed by certificates[0])",
            )

    # -- revocation ------------------------------------------------------------------------

    def _document_revocation(self) -> dict[str, Any] | None:
        bundle = self.bundle
        if bundle.revocation is not None:
            check, facts = self._judge_revocation(bundle.revocation, "the bundle")
            if check.outcome is Outcome.FAILED or self.verifier.node_status is None:
                self.checks[DOCUMENT_REVOCATION] = check
                return facts
        node = self.verifier.node_status
        if node is None:
            if self.policy.require_revocation_check:
                self._add(DOCUMENT_REVOCATION, Outcome.UNKNOWN, REVOCATION_NOT_CHECKED)
            else:
                self._add(
                    DOCUMENT_REVOCATION,
                    Outcome.SKIPPED,
                    "not checked, by the policy's choice (require_revocation_check off): the "
                    "bundle carries no revocation and no issuing node was asked, so a revoked "
                    "document would pass",
                )
            return None
        try:
            answer = node.status(bundle.leaf.leaf_hash)
        except EvidenceUnavailableError as exc:
            self._add(DOCUMENT_REVOCATION, Outcome.UNKNOWN, f"cannot ask the issuing node: {exc}")
            return None
        if not answer.revoked:
            self._add(DOCUMENT_REVOCATION, Outcome.PASSED, "the issuing node reports no revocation")
            return None
        if answer.revocation is None:
            self._add(
                DOCUMENT_REVOCATION,
                Outcome.UNKNOWN,
                "the issuing node reports this document revoked but sent no proof yet; "
                "verify again once the revocation is anchored",
                pending=True,
            )
            return None
        check, facts = self._judge_revocation(answer.revocation, "the issuing node")
        self.checks[DOCUMENT_REVOCATION] = check
        return facts

    def _judge_revocation(
        self, section: RevocationSection, source: str
    ) -> tuple[Check, dict[str, Any] | None]:
        entry, leaf = section.entry, self.bundle.leaf

        def unknown(detail: str, *, pending: bool = False) -> tuple[Check, None]:
            return Check(DOCUMENT_REVOCATION, Outcome.UNKNOWN, detail, pending), None

        if entry.revoked_leaf_hash != leaf.leaf_hash:
            return unknown(
                f"the revocation from {source} names entry {entry.revoked_leaf_hash.hex()}, not "
                "this document's: it proves nothing about this document"
            )
        if entry.leaf_hash() != section.leaf_hash:
            return unknown(f"the revocation entry from {source} does not match its own leaf hash")
        if entry.lg_code != leaf.lg_code:
            return unknown(
                f"a revocation by municipality {entry.lg_code:06d} cannot revoke a document of "
                f"municipality {leaf.lg_code:06d}"
            )
        if section.status == "pending":
            return unknown(
                f"{source} holds a revocation of this document that is not anchored yet; "
                "verify again later",
                pending=True,
            )
        anchoring = self._anchoring(
            section.leaf_hash,
            section.inclusion,
            section.head,
            section.anchor,
            lg_code=leaf.lg_code,
            not_after_anchor=(("revocation time", entry.revoked_at),),
        )
        problem = anchoring.first_problem()
        if problem is not None:
            return unknown(
                f"the revocation from {source} does not verify ({problem.name}: {problem.detail})",
                pending=problem.pending,
            )
        reason = revocation_reason_label(entry.reason)
        anchor = section.anchor
        assert anchor is not None  # anchored sections have one (parser rule)
        facts = {
            "source": "bundle" if source == "the bundle" else "node",
            "reason": reason,
            "revoked_at": format_time(entry.revoked_at),
            "revocation_leaf_hash": section.leaf_hash.hex(),
            "tx_hash": "0x" + anchor.tx_hash.hex(),
            "block_number": anchor.block_number,
        }
        return (
            Check(
                DOCUMENT_REVOCATION,
                Outcome.FAILED,
                f"municipality {entry.lg_code:06d} revoked this document at "
                f"{format_time(entry.revoked_at)} (reason: {reason}); the revocation is "
                f"anchored in block {anchor.block_number} (from {source})",
            ),
            facts,
        )

    # -- facts ------------------------------------------------------------------------------

    def _facts(self, chain: AnchorFacts | None, revocation: dict[str, Any] | None) -> VerdictFacts:
        bundle, leaf = self.bundle, self.bundle.leaf
        anchor = bundle.anchor
        record = chain.record if chain is not None else None
        signer = None
        if self.signer is not None:
            signer = {
                "kind": self.signer.kind.value,
                "serial": self.signer.serial_hex,
                "sha256": self.signer.sha256,
                "issuer": self.signer.issuer,
            }
        return VerdictFacts(
            leaf_hash=leaf.leaf_hash.hex(),
            lg_code=leaf.lg_code,
            document_type=leaf.document_type,
            document_type_label=document_type_label(leaf.document_type),
            issued_at=from_unix_seconds(leaf.issued_at),
            signing_time=from_unix_seconds(leaf.signing_time),
            chain_id=anchor.chain_id if anchor else None,
            registry=anchor.registry if anchor else None,
            node=anchor.node if anchor else None,
            tx_hash="0x" + anchor.tx_hash.hex() if anchor else None,
            block_number=anchor.block_number if anchor else None,
            anchored_at=from_unix_seconds(record.timestamp) if record is not None else None,
            confirmations=(
                chain.latest_block - anchor.block_number
                if chain is not None and anchor is not None
                else None
            ),
            signer=signer,
            revocation=revocation,
        )


# --------------------------------------------------------------------------- the rules


def _merkle_check(leaf_hash: bytes, inclusion: InclusionSection, head: HeadSection) -> Check:
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


def _head_anchored(facts: AnchorFacts, head: HeadSection, anchor: AnchorSection) -> Check:
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


def _anchor_transaction(  # noqa: PLR0911 - one return per way an anchor claim can be false
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


def _not_withdrawn(facts: AnchorFacts) -> Check:
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


def _node_authorised(facts: AnchorFacts, anchor: AnchorSection, lg_code: int) -> Check:
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
    problems = []
    if node.lg_code != anchor.lg_code:
        problems.append(
            f"the node was registered for municipality {node.lg_code:06d}, the bundle says "
            f"{anchor.lg_code:06d}"
        )
    if lg_code != node.lg_code:
        problems.append(
            f"the document names municipality {lg_code:06d} but its node serves {node.lg_code:06d}"
        )
    logs = facts.transaction.head_anchored if facts.transaction is not None else ()
    if any(log.lg_code != node.lg_code for log in logs if log.node.lower() == anchor.node.lower()):
        problems.append("the HeadAnchored event names another municipality code")
    if node.status is not NodeStatus.ACTIVE:
        problems.append(f"the node was {node.status.name.lower()} at block {block}")
    if problems:
        return Check(NODE_AUTHORISED, Outcome.FAILED, "; ".join(problems))
    return Check(
        NODE_AUTHORISED,
        Outcome.PASSED,
        f"node {anchor.node} was registered for municipality {node.lg_code:06d} and active at "
        f"the anchor block {block}",
    )


def _finality(facts: AnchorFacts, anchor: AnchorSection) -> Check:
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


# --------------------------------------------------------------------------- helpers


def _document_sha256(document_or_digest: bytes | DocumentDigest) -> bytes:
    if isinstance(document_or_digest, DocumentDigest):
        return document_or_digest.sha256
    if isinstance(document_or_digest, bytes | bytearray | memoryview):
        return hashlib.sha256(document_or_digest).digest()
    raise TypeError(
        "give the document as bytes, or its SHA-256 as DocumentDigest, "
        f"not {type(document_or_digest).__name__}"
    )


def _parsed(bundle: ProofBundle | bytes | str | Mapping[str, Any]) -> ProofBundle:
    if isinstance(bundle, ProofBundle):
        return bundle
    if isinstance(bundle, bytes | bytearray | str):
        return load_bundle(bundle)
    return parse_bundle(dict(bundle) if isinstance(bundle, Mapping) else bundle)


def _run_check_signer(
    cert: JPKICertificate,
    *,
    signing_time: datetime,
    trust_anchors: Sequence[JPKICertificate],
    intermediates: Sequence[JPKICertificate],
    policy: VerificationPolicy,
) -> SignerCheck:
    """`check_signer` runs its own event loop; inside a running loop, use a worker thread."""

    def run() -> SignerCheck:
        return check_signer(
            cert,
            signing_time=signing_time,
            trust_anchors=trust_anchors,
            intermediates=intermediates,
            revocation=policy.revocation,
            policy=policy.signer_policy,
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _age(delta_seconds: float) -> str:
    seconds = max(0, int(delta_seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


__all__ = ["REVOCATION_NOT_CHECKED", "Verifier", "verify"]
