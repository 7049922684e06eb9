"""`verify(document, bundle, policy) -> Verdict`: every check of docs/PROTOCOL.md, in order.

The rules live in `verifier.rules`; evidence comes from the bundle, the chain
(`verifier.chain`) and the JPKI checks (`verifier.jpki`). Each check ends as passed, failed,
skipped or unknown, and the verdict follows from them (`protocol.checks.decide`). Nothing that
can go wrong with a bundle, a chain endpoint or a node raises out of `verify`: a failure to get
evidence is ``unknown``, never ``valid``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from protocol.bundle import ENTRY_KIND_LABELS, ProofBundle, load_bundle, parse_bundle
from protocol.checks import (
    BUNDLE_FORMAT,
    CHECK_ORDER,
    DOCUMENT_LEAF,
    DOCUMENT_REVOCATION,
    REQUESTER_DISCLOSURE,
    Check,
    Outcome,
)
from protocol.errors import BundleFormatError
from protocol.leaf import entry_type_label, from_unix_seconds
from protocol.requester import RequesterDisclosure
from verifier.chain import (
    AnchorFacts,
    CachingChainReader,
    ChainReader,
    NodeStatusClient,
    NodeStatusSource,
    RpcChainReader,
)
from verifier.jpki import (
    CertificateKind,
    JPKICertificate,
    RevocationSources,
    SignerCheck,
    check_signer,
)
from verifier.models import DocumentDigest, Verdict, VerdictFacts
from verifier.policy import VerificationPolicy
from verifier.rules.anchoring import ANCHORING_CHECKS, anchoring_checks
from verifier.rules.context import Context
from verifier.rules.document import document_leaf
from verifier.rules.evidence import EvidenceFacts
from verifier.rules.issuer_policy import SignerFacts
from verifier.rules.requester import requester_disclosure
from verifier.rules.revocation import document_revocation
from verifier.rules.signature import SIGNATURE_CHECKS, signature_checks

# `_verdict` lists the rules' checks in this order, without looking up each by name.
assert (
    BUNDLE_FORMAT,
    DOCUMENT_LEAF,
    REQUESTER_DISCLOSURE,
    *ANCHORING_CHECKS,
    *SIGNATURE_CHECKS,
    DOCUMENT_REVOCATION,
) == CHECK_ORDER


def verify(
    document_or_digest: bytes | DocumentDigest,
    bundle: ProofBundle | bytes | str | Mapping[str, Any],
    policy: VerificationPolicy,
    *,
    requester_disclosure: RequesterDisclosure | None = None,
) -> Verdict:
    """Check `document_or_digest` against `bundle` under `policy`.

    Pass the document's bytes, or `DocumentDigest` (its SHA-256) when only that is at hand.
    The bundle may be parsed already or given as JSON text. With the holder's
    `requester_disclosure` (`protocol.requester.load_disclosure`), the verdict also says which
    card requested the document, or is invalid if the disclosure does not open the entry's
    requester commitment. For many verifications, build one `Verifier` and reuse it
    (connections and, optionally, cached lookups).
    """
    return Verifier(policy).verify(
        document_or_digest, bundle, requester_disclosure=requester_disclosure
    )


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
        if node_status is None and policy.node_url is not None and not policy.offline:
            node_status = NodeStatusClient(policy.node_url, timeout=policy.rpc_timeout)
        self._node_status = node_status
        self._cache_ttl = cache_ttl
        self._signer_cache: dict[
            tuple[str, int, tuple[str, ...], tuple[str, ...], frozenset[CertificateKind]],
            tuple[float, SignerCheck],
        ] = {}
        self._lock = threading.Lock()

    def verify(
        self,
        document_or_digest: bytes | DocumentDigest,
        bundle: ProofBundle | bytes | str | Mapping[str, Any],
        *,
        requester_disclosure: RequesterDisclosure | None = None,
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
        return _verdict(self._context(), parsed, digest, requester_disclosure)

    def _context(self) -> Context:
        return Context(
            policy=self.policy,
            now=self.policy.current_time(),
            read_chain=self._chain.read,
            node_status=self._node_status,
            check_signer=self._check_signer,
        )

    def _check_signer(
        self,
        cert: JPKICertificate,
        signing_time: int,
        intermediates: Sequence[JPKICertificate],
        revocation: RevocationSources | None,
        allowed: frozenset[CertificateKind],
    ) -> SignerCheck:
        """The signer verdict against the anchors of the certificate's own PKI, with the
        policy's revocation sources or with `revocation` (the bundle's own evidence), accepting
        the `allowed` certificate kinds; cached by what it depends on."""
        carried = () if revocation is None else _digests(revocation)
        key = (cert.sha256, signing_time, tuple(c.sha256 for c in intermediates), carried, allowed)
        now = time.monotonic()
        if self._cache_ttl > 0:
            with self._lock:
                hit = self._signer_cache.get(key)
            if hit is not None and now - hit[0] < self._cache_ttl:
                return hit[1]
        result = _run_check_signer(
            cert,
            signing_time=from_unix_seconds(signing_time),
            trust_anchors=self.policy.anchors_for(cert),
            intermediates=intermediates,
            policy=self.policy,
            revocation=revocation,
            allowed=allowed,
        )
        if self._cache_ttl > 0:
            with self._lock:
                if len(self._signer_cache) > 4096:
                    self._signer_cache.clear()
                self._signer_cache[key] = (now, result)
        return result


def _verdict(
    context: Context,
    bundle: ProofBundle,
    digest: bytes,
    disclosure: RequesterDisclosure | None = None,
) -> Verdict:
    """Every rule, in CHECK_ORDER; the verdict follows from the checks."""
    leaf = bundle.leaf
    anchoring = anchoring_checks(
        context,
        leaf.leaf_hash,
        bundle.inclusion,
        bundle.head,
        bundle.anchor,
        lg_code=leaf.lg_code,
        not_after_anchor=(("signing time", leaf.signing_time), ("issue time", leaf.issued_at)),
        evidence=bundle.evidence,
    )
    signature, signer, signer_facts = signature_checks(context, bundle, digest)
    revocation, revocation_facts = document_revocation(context, bundle)
    requester, requester_facts = requester_disclosure(leaf, disclosure)
    found = anchoring.checks
    checks = [
        _format_passed(bundle.version, bundle.status),
        document_leaf(bundle, digest),
        requester,
        *[found[name] for name in ANCHORING_CHECKS],
        *signature,
        revocation,
    ]

    def facts() -> VerdictFacts:
        return _facts(
            bundle,
            anchoring.facts,
            revocation_facts,
            _signer_facts(signer, signer_facts),
            anchoring.evidence,
            requester_facts,
        )

    return Verdict.from_checks(checks, facts, signer)


def _signer_facts(
    cert: JPKICertificate | None, signer: SignerFacts | None
) -> dict[str, Any] | None:
    """Who signed, without personal data: the kind, serial and issuer; a seal's office."""
    if cert is None:
        return None
    facts: dict[str, Any] = {
        "kind": cert.kind.value,
        "signer_kind": signer.kind.value if signer is not None else None,
        "description": signer.kind.description if signer is not None else None,
        "serial": cert.serial_hex,
        "sha256": cert.sha256,
        "issuer": cert.issuer,
    }
    if signer is not None and signer.seal is not None:
        facts["seal"] = signer.seal.as_public_dict()
    return facts


@functools.lru_cache(maxsize=16)
def _format_passed(version: int, status: str) -> Check:
    return Check(BUNDLE_FORMAT, Outcome.PASSED, f"proof bundle version {version}, status {status}")


def _facts(
    bundle: ProofBundle,
    chain: AnchorFacts | None,
    revocation: dict[str, Any] | None,
    signer: dict[str, Any] | None,
    evidence: EvidenceFacts | None = None,
    requester: dict[str, Any] | None = None,
) -> VerdictFacts:
    leaf = bundle.leaf
    anchor = bundle.anchor
    record = chain.record if chain is not None else None
    anchored_at = record.timestamp if record is not None else None
    confirmations = (
        chain.latest_block - anchor.block_number
        if chain is not None and anchor is not None
        else None
    )
    if evidence is not None:
        anchored_at = anchored_at if anchored_at is not None else evidence.anchored_at
        if confirmations is None:
            confirmations = evidence.confirmations
    return VerdictFacts(
        leaf_hash=leaf.leaf_hash.hex(),
        lg_code=leaf.lg_code,
        entry_kind=ENTRY_KIND_LABELS[leaf.kind],
        document_type=leaf.document_type,
        document_type_label=_type_label(leaf.kind, leaf.document_type),
        issued_at=_moment(leaf.issued_at),
        signing_time=_moment(leaf.signing_time),
        chain_id=anchor.chain_id if anchor else None,
        registry=anchor.registry if anchor else None,
        node=anchor.node if anchor else None,
        tx_hash="0x" + anchor.tx_hash.hex() if anchor else None,
        block_number=anchor.block_number if anchor else None,
        anchored_at=_moment(anchored_at) if anchored_at is not None else None,
        confirmations=confirmations,
        signer=signer,
        requester=requester,
        revocation=revocation,
        as_of_block=evidence.as_of_block if evidence is not None else None,
        as_of_time=(
            from_unix_seconds(evidence.as_of_time)
            if evidence is not None and evidence.as_of_time is not None
            else None
        ),
        timestamped_at=evidence.timestamped_at if evidence is not None else None,
    )


_type_label = functools.lru_cache(maxsize=1024)(entry_type_label)
_moment = functools.lru_cache(maxsize=4096)(from_unix_seconds)
"""Datetimes are immutable: bundles of one batch share their few times."""


def _digests(sources: RevocationSources) -> tuple[str, ...]:
    """What in-memory revocation data a signer verdict depends on (the bundle's evidence)."""
    blobs = (*sources.crls, *sources.ocsp_responses)
    return tuple(hashlib.sha256(blob).hexdigest() for blob in blobs)


def _document_sha256(document_or_digest: bytes | DocumentDigest) -> bytes:
    if type(document_or_digest) is bytes:  # the usual case first: this is on every call
        return hashlib.sha256(document_or_digest).digest()
    if isinstance(document_or_digest, DocumentDigest):
        return document_or_digest.sha256
    if isinstance(document_or_digest, bytes | bytearray | memoryview):
        return hashlib.sha256(document_or_digest).digest()
    raise TypeError(
        "give the document as bytes, or its SHA-256 as DocumentDigest, "
        f"not {type(document_or_digest).__name__}"
    )


def _parsed(bundle: ProofBundle | bytes | str | Mapping[str, Any]) -> ProofBundle:
    if type(bundle) is bytes:  # the usual case first: this is on every call
        return load_bundle(bundle)
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
    revocation: RevocationSources | None,
    allowed: frozenset[CertificateKind],
) -> SignerCheck:
    """`check_signer` runs its own event loop; inside a running loop, use a worker thread."""

    def run() -> SignerCheck:
        return check_signer(
            cert,
            signing_time=signing_time,
            trust_anchors=trust_anchors,
            intermediates=intermediates,
            revocation=policy.revocation if revocation is None else revocation,
            policy=dataclasses.replace(policy.signer_policy, allowed_kinds=allowed),
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


__all__ = ["Verifier", "verify"]
