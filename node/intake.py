"""Turning an issuing system's submission into a log entry: check the JPKI signature and its
signer at signing time, draw the salt, and encode the leaf. Nothing is stored here."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from node.issuance_policy import IssuancePolicy, PolicyRefusalError
from node.models import DocumentSidecar, RevocationSidecar
from node.requester_record import RequesterRecord, requester_key
from node.store import NewEntry
from protocol.bundle import MAX_CERTIFICATES, make_document_entry
from protocol.leaf import (
    MAX_UINT64,
    NO_REQUESTER,
    EntryKind,
    RevocationEntry,
    SignatureFormat,
    new_salt,
)
from protocol.signers import SignerKind
from verifier.digest_signature import certificate_from_der, verify_cms_digest, verify_pkcs1_digest
from verifier.jpki import (
    JPKICertificate,
    JPKIError,
    RevocationSources,
    SignerCheck,
    SignerPolicy,
    check_signer,
)
from verifier.jpki.revocation import RevocationEvidence, collect_evidence
from verifier.jpki.signing_moments import (
    UnreadableEvidenceError,
    at_signing_time,
    boundary_seconds,
    run_index,
)


class SubmissionRejectedError(Exception):
    """The submission is refused; `field` names the offending field for the problem body."""

    def __init__(
        self,
        field: str,
        detail: str,
        status: int = 422,
        problem: str = "invalid-entry",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail
        self.status = status
        self.problem = problem
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Refusals cross from intake worker processes (node.intake_pool) pickled.
        return (
            SubmissionRejectedError,
            (self.field, self.detail, self.status, self.problem, self.retry_after),
        )


REVOCATION_RETRY_AFTER = 300
"""Seconds a caller waits before resubmitting while the node's revocation data is unusable:
the operator's CRL job (or the OCSP responder) has to recover first."""


@dataclass(frozen=True)
class SignatureInput:
    format: SignatureFormat
    value: bytes
    certificate: bytes | None  # DER; required for PKCS#1, optional for CMS (embedded there)
    signing_time: int | None  # required for PKCS#1 (the card does not state it)

    def __reduce__(self) -> tuple[Any, ...]:
        # Bulk submissions cross to the intake workers pickled (node.intake_pool): the
        # constructor's arguments unpickle ~3 x faster than a frozen dataclass's state.
        return (SignatureInput, (self.format, self.value, self.certificate, self.signing_time))


@dataclass(frozen=True)
class ApplicationInput:
    """The resident's JPKI signature over their application (detached CMS) and the
    application's SHA-256; the node never sees the application itself."""

    cms: bytes
    application_sha256: bytes


@dataclass(frozen=True)
class Submission:
    document_sha256: bytes  # an event's: the statement's SHA-256
    document_type: int  # an event's: its EventType
    issued_at: int  # an event's: the event time
    signature: SignatureInput
    request_id: str | None = None
    kind: EntryKind = EntryKind.DOCUMENT
    application: ApplicationInput | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (  # as SignatureInput's
            Submission,
            (
                self.document_sha256,
                self.document_type,
                self.issued_at,
                self.signature,
                self.request_id,
                self.kind,
                self.application,
            ),
        )


@dataclass(frozen=True)
class SigningWindow:
    """How far a claimed signing time may lie from the moment the node receives the entry.

    The signer is judged at the signing time it states, and a PKCS#1 signature (or a CMS
    `signingTime`) says whatever the submitter wants: without a bound, a revoked signer would
    claim a time before the revocation. An issuing system submits right after the card signs,
    so 10 minutes covers queueing, retries and a short outage; 2 minutes ahead covers clock
    skew (less than a verifier's 5 minutes, so an accepted entry always passes its
    anchor-time check). A municipality that submits in deferred batches widens `max_age`."""

    max_age: float = 600.0
    max_ahead: float = 120.0

    def refusal(self, signing_seconds: int, received: float) -> str | None:
        """Why `signing_seconds` is refused for an entry received at `received`, or None (the
        signing time is only formatted for a refusal: ~2 us an entry otherwise)."""
        if signing_seconds < received - self.max_age:
            return (
                f"the signing time {_utc(signing_seconds)} is "
                f"{_span(received - signing_seconds)} before the node received the entry; "
                f"at most {_span(self.max_age)} is accepted "
                "(signing_time_max_age): submit entries as they are signed"
            )
        if signing_seconds > received + self.max_ahead:
            return (
                f"the signing time {_utc(signing_seconds)} is "
                f"{_span(signing_seconds - received)} after the node received the entry; "
                f"at most {_span(self.max_ahead)} of clock skew is accepted "
                "(signing_time_max_ahead): check the issuing system's clock"
            )
        return None


@dataclass
class SignerGate:
    """What the node accepts as a signer: trust anchors, revocation sources, policy, and the
    window around the receive time a signing time must fall in.

    Path validation costs ~10 ms per signer; a batch signed by one official in the same
    second repeats the same question, so answers are cached per (certificate, signing
    time). A bulk signed at many different seconds asks a new question per second, so the
    revocation evidence is collected once per (certificate, intermediates) and the seconds
    at which the verdict can change are found in it and in the certificates
    (`verifier.jpki.signing_moments`): a signing time strictly between two such boundary
    seconds gets the verdict judged in full for another time between the same two,
    restated for its own time; a boundary second is always judged in full. Cached answers
    and evidence live at most `cache_ttl` seconds, and everything is dropped as soon as a
    configured CRL file changes (the operator's CRL job replaced it), so a revocation
    published in a new CRL counts from the next request.
    """

    trust_anchors: tuple[JPKICertificate, ...]
    revocation: RevocationSources
    policy: SignerPolicy
    window: SigningWindow = field(default_factory=SigningWindow)
    stale_cause: Callable[[JPKICertificate, str | None, datetime], str | None] | None = None
    """Names the node's own out-of-date CRL behind an "unknown" verdict, if that is the cause
    (`node.revocation_status.RevocationFreshness.stale_cause`)."""
    cache_size: int = 4096
    cache_ttl: float = 300.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _cache: OrderedDict[tuple[str, int], tuple[float, SignerCheck]] = field(
        default_factory=OrderedDict, repr=False
    )
    _facts: OrderedDict[tuple[str, ...], _SignerFacts] = field(
        default_factory=OrderedDict, repr=False
    )
    _crl_state: tuple[tuple[str, int, int, int], ...] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _held: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @contextmanager
    def crl_files_stated_once(self) -> Iterator[None]:
        """Within, this thread's checks take the CRL files' state (`file_state`) read once, on
        entering, instead of reading it for each (~4 us for 4 files): an intake worker
        checks a chunk of a bulk request against the CRLs as they were when it began, as the
        request's other chunks and a single entry are."""
        outer = getattr(self._held, "crl_state", None)
        self._held.crl_state = file_state(self.revocation.crl_files)
        try:
            yield
        finally:
            self._held.crl_state = outer

    def check(
        self, signer: JPKICertificate, intermediates: list[JPKICertificate], signing_seconds: int
    ) -> SignerCheck:
        key = (signer.sha256, signing_seconds)
        now = self.clock()
        crl_state = getattr(self._held, "crl_state", None)
        if crl_state is None:
            crl_state = file_state(self.revocation.crl_files)
        with self._lock:
            if crl_state != self._crl_state:
                self._cache.clear()
                self._facts.clear()
                self._crl_state = crl_state
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] >= self.cache_ttl:
                del self._cache[key]
                cached = None
        if cached is not None:
            return cached[1]
        signing_time = datetime.fromtimestamp(signing_seconds, UTC)
        facts = self._facts_for(signer, intermediates, now, crl_state)
        run = None if facts.boundaries is None else run_index(facts.boundaries, signing_seconds)
        result = None
        if run is not None and (judged := facts.verdicts.get(run)) is not None:
            result = at_signing_time(judged, signing_time)
        if result is None:
            result = check_signer(
                signer,
                signing_time=signing_time,
                trust_anchors=self.trust_anchors,
                intermediates=intermediates,
                policy=self.policy,
                evidence=facts.evidence,
            )
        if result.status in _SETTLED:
            with self._lock:  # "unknown" (no revocation info yet) is worth asking again
                if self._crl_state == crl_state:  # not judged on CRLs replaced meanwhile
                    self._cache[key] = (now, result)
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
                    if run is not None and facts.kept:
                        facts.verdicts.setdefault(run, result)
        return result

    def _facts_for(
        self,
        signer: JPKICertificate,
        intermediates: list[JPKICertificate],
        now: float,
        crl_state: tuple[tuple[str, int, int, int], ...],
    ) -> _SignerFacts:
        """The revocation evidence for `signer` with these intermediates and its boundary
        seconds: collected once per `cache_ttl` and CRL set, as `check_signer` would."""
        key = (signer.sha256, *(c.sha256 for c in intermediates))
        with self._lock:
            facts = self._facts.get(key)
            if facts is not None and now - facts.collected < self.cache_ttl:
                self._facts.move_to_end(key)
                return facts
        others = [c for c in intermediates if c != signer]
        evidence = collect_evidence(signer, [*self.trust_anchors, *others], self.revocation)
        try:
            boundaries: tuple[int, ...] | None = boundary_seconds(
                [signer, *self.trust_anchors, *others], evidence
            )
        except UnreadableEvidenceError:
            boundaries = None
        # A source that failed may answer next time: such evidence serves this call only.
        facts = _SignerFacts(evidence, boundaries, now, kept=not evidence.problems)
        if facts.kept:
            with self._lock:
                if self._crl_state == crl_state:
                    self._facts[key] = facts
                    if len(self._facts) > self.cache_size:
                        self._facts.popitem(last=False)
        return facts

    def unavailable(self, signer: JPKICertificate, check: SignerCheck) -> tuple[str, str] | None:
        """(problem type, detail) when an "unknown" verdict is the node's fault: its CRL is out
        of date, or its revocation sources failed. None when the signer itself is the cause."""
        if check.status != "unknown":
            return None
        if self.stale_cause is not None:
            cause = self.stale_cause(signer, check.trust_anchor, check.signing_time)
            if cause is not None:
                return "revocation-data-stale", cause
        if check.revocation_problems:
            return (
                "revocation-source-unavailable",
                "the node's revocation sources failed, so it cannot tell whether the signer "
                "certificate was revoked: "
                + "; ".join(check.revocation_problems)
                + "; retry later",
            )
        return None


_SETTLED = frozenset({"valid", "revoked", "expired", "not_yet_valid", "untrusted", "invalid"})


@dataclass
class _SignerFacts:
    """One collection of revocation evidence for a signer, the seconds at which its verdict
    can change (None: some evidence is unreadable here, judge every second in full), and
    the verdict judged in full in each run between two boundary seconds."""

    evidence: RevocationEvidence
    boundaries: tuple[int, ...] | None
    collected: float
    kept: bool
    verdicts: dict[int, SignerCheck] = field(default_factory=dict)


def file_state(paths: Sequence[str | os.PathLike[str]]) -> tuple[tuple[str, int, int, int], ...]:
    """What tells a replaced file from the one read before: inode, size, mtime."""
    state = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            state.append((os.fspath(path), -1, -1, -1))
            continue
        state.append((os.fspath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(state)


@dataclass(frozen=True)
class Issuance:
    """Who may sign what on this node (`IssuancePolicy`), and the gate that judges a
    municipal seal: LGPKI anchors and CRLs, kept apart from the J-LIS ones (None: no seal
    trust configured, so no seal is accepted)."""

    policy: IssuancePolicy
    seal_gate: SignerGate | None = None

    def gate_for(self, kind: SignerKind, jpki_gate: SignerGate, cert_field: str) -> SignerGate:
        if kind is not SignerKind.LGPKI_SEAL:
            return jpki_gate
        if self.seal_gate is None:
            raise SubmissionRejectedError(
                cert_field,
                "this node trusts no municipal seal CA (setting seal_trust_dir), so it cannot "
                "accept a seal",
                problem="signer-untrusted",
            )
        return self.seal_gate


def new_receipt_id() -> str:
    return "r_" + secrets.token_hex(16)


def document_entry(
    submission: Submission,
    lg_code: int,
    gate: SignerGate,
    *,
    client: str,
    field_prefix: str = "",
    received_at: float | None = None,
    issuance: Issuance | None = None,
    requester: RequesterRecord | None = None,
) -> NewEntry:
    """Check `submission` and build its log entry. Raises SubmissionRejectedError.

    `received_at` (default: now) is when the node received it; the signing time must lie
    in the gate's window around it. `issuance` (the node always gives it) refuses signers
    the issuance policy does not accept and picks the seal's gate for a seal; `requester`
    (an already checked application) goes into the leaf as its commitment and into the
    store privately."""
    received = time.time() if received_at is None else received_at
    sig = submission.signature
    where = f"{field_prefix}signature"
    if not 0 <= submission.issued_at <= MAX_UINT64:
        raise SubmissionRejectedError(
            f"{field_prefix}issued_at", "must not be before 1970-01-01T00:00:00Z"
        )
    try:
        if sig.format is SignatureFormat.CMS:
            signed = verify_cms_digest(sig.value, submission.document_sha256)
            signer, embedded, signing_time = (
                signed.signer_cert,
                signed.embedded_certs,
                signed.signing_time,
            )
            if signing_time is None:
                raise SubmissionRejectedError(
                    f"{where}.value", "the CMS signature has no signingTime attribute"
                )
            signing_seconds = int(signing_time.timestamp())
        else:
            if sig.certificate is None:
                raise SubmissionRejectedError(
                    f"{where}.certificate", "a PKCS#1 signature needs the signer certificate"
                )
            if sig.signing_time is None:
                raise SubmissionRejectedError(
                    f"{where}.signing_time", "a PKCS#1 signature needs its signing time"
                )
            signer = certificate_from_der(sig.certificate)
            verify_pkcs1_digest(sig.value, submission.document_sha256, signer)
            embedded, signing_seconds = (), sig.signing_time
    except JPKIError as error:
        raise SubmissionRejectedError(
            f"{where}.value", f"signature does not verify: {error}"
        ) from None
    time_field = (
        f"{where}.signing_time" if sig.format is SignatureFormat.PKCS1 else f"{where}.value"
    )
    if not 0 <= signing_seconds <= MAX_UINT64:
        raise SubmissionRejectedError(
            time_field, "the signing time must not be before 1970-01-01T00:00:00Z"
        )
    if (outside := gate.window.refusal(signing_seconds, received)) is not None:
        raise SubmissionRejectedError(time_field, outside, problem="signing-time-outside-window")
    others = [c for c in embedded if c.sha256 != signer.sha256]
    if 1 + len(others) > MAX_CERTIFICATES:
        # The bundle carries the signer's certificate and these; a bundle may carry at most
        # MAX_CERTIFICATES, so an entry with more could be logged but never proven.
        raise SubmissionRejectedError(
            f"{where}.value",
            f"the CMS carries {1 + len(others)} certificates (the signer's and "
            f"{len(others)} more); at most {MAX_CERTIFICATES} are allowed",
        )
    gate = _admitted(issuance, gate, signer, submission, where, field_prefix)
    check = gate.check(signer, others, signing_seconds)
    if (unavailable := gate.unavailable(signer, check)) is not None:
        # The node's fault, not the caller's: 503, and the same entry succeeds later.
        raise SubmissionRejectedError(
            f"{where}.certificate",
            unavailable[1],
            status=503,
            problem=unavailable[0],
            retry_after=REVOCATION_RETRY_AFTER,
        )
    if not check.ok:
        raise SubmissionRejectedError(
            f"{where}.certificate",
            f"signer certificate is {check.status} at the signing time: {check.reason}",
            problem=f"signer-{check.status.replace('_', '-')}",
        )
    certificates = [signer.der, *(c.der for c in others)]
    salt = new_salt()
    entry = make_document_entry(
        document_sha256=submission.document_sha256,
        salt=salt,
        lg_code=lg_code,
        document_type=submission.document_type,
        issued_at=submission.issued_at,
        signing_time=signing_seconds,
        signature_format=sig.format,
        signature=sig.value,
        signer_certificate=signer.der,
        requester_ref=NO_REQUESTER if requester is None else requester.commitment(),
        kind=submission.kind,
    )
    receipt_id = new_receipt_id()
    sidecar = DocumentSidecar(
        salt=salt,
        signature_format=sig.format,
        signature=sig.value,
        certificates=tuple(certificates),
        receipt_id=receipt_id,
        request_id=submission.request_id,
        client=client,
        received_at=int(received),
    )
    private = () if requester is None else ((requester_key(receipt_id), requester.to_json()),)
    return NewEntry(entry.encode(), sidecar, receipt_id, private=private)


def _admitted(
    issuance: Issuance | None,
    gate: SignerGate,
    signer: JPKICertificate,
    submission: Submission,
    where: str,
    field_prefix: str,
) -> SignerGate:
    """The gate that judges `signer`, once the issuance policy accepts it for this entry."""
    if issuance is None:
        return gate
    type_field = "event_type" if submission.kind == EntryKind.EVENT else "document_type"
    try:
        signer_kind = issuance.policy.admit(
            signer,
            submission.kind,
            submission.document_type,
            where=where,
            type_field=f"{field_prefix}{type_field}",
        )
    except PolicyRefusalError as refusal:
        raise SubmissionRejectedError(
            refusal.field, refusal.detail, problem="signer-not-accepted"
        ) from None
    return issuance.gate_for(signer_kind, gate, f"{where}.certificates[0]")


def revocation_entry(
    revoked_leaf_hash: bytes, lg_code: int, reason: int, *, client: str
) -> NewEntry:
    entry = RevocationEntry(revoked_leaf_hash, lg_code, reason, int(time.time()))
    receipt_id = new_receipt_id()
    sidecar = RevocationSidecar(
        receipt_id=receipt_id,
        client=client,
        received_at=entry.revoked_at,
        revokes=revoked_leaf_hash,
    )
    return NewEntry(entry.encode(), sidecar, receipt_id, revokes=revoked_leaf_hash)


def body_fingerprint(body: Any) -> str:
    """Stable hash of a request body, to tell a retry from a conflicting reuse of an id."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    """A duration for people: 45 s, 10 min, 3 h 5 min, 2 d 4 h."""
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 7200:
        return f"{minutes} min"
    if whole < 2 * 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"
