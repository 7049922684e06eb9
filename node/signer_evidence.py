"""Re-checking each entry's signer after the grace period, and keeping what decided it.

At intake the node judged the signer with the revocation data it had then; a revocation made
just before the signing time may not have been published yet. So once evidence issued at least
`grace` seconds after the signing time exists (default 0: the first CRL issued after the signing
time, J-LIS's next daily CRL; or an OCSP response produced after it), the node judges the signer
at the signing time again with exactly that CRL or OCSP response, and keeps it: the entry's
record names it by SHA-256, the DER is stored once however many entries it decided
(`node.store`), and version-3 bundles carry it (`evidence.signer_revocation`) so a verifier with
no revocation source of its own can decide the signer check offline (docs/PROTOCOL.md 10.3).

A signer found revoked at the signing time is an alarm (`notary_signers_revoked_at_signing`, a
log line naming the entry by index and leaf hash only): the entry stays in the append-only log,
its bundles carry the CRL that shows the revocation and every verifier rejects its signer; the
municipality decides whether to revoke the document (`notary revoke`).

It runs in its own thread and never holds up intake. Each entry's record, the blobs it names and
the settled mark are one synced write (`LogStore.save_signer_evidence`): a SIGKILL loses nothing
but a re-check, done again later with the same result. Entries are settled in any order (one
waiting for its municipality's CRL does not hold up the others); the scan starts at the first
unsettled entry.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.x509 import ocsp

from node.metrics import Metrics
from node.models import DocumentSidecar, SignerEvidence, SignerStatus
from node.store import LogStore
from protocol.evidence import MAX_OCSP_RESPONSE_BYTES, MAX_SIGNER_CRL_BYTES
from protocol.leaf import DocumentEntry, decode_entry
from verifier.digest_signature import certificate_from_der
from verifier.jpki import (
    CertificateKind,
    JPKICertificate,
    JPKIError,
    RevocationSources,
    SignerPolicy,
    check_signer,
    collect_evidence,
)
from verifier.jpki.revocation import dirname_key, distribution_point_keys

log = logging.getLogger("node.signer_evidence")

SCAN_LIMIT: Final = 2000
"""Entries looked at per pass from the first unsettled one: a day's worth for most nodes."""
FIRST_RETRY: Final = 5.0
MAX_RETRY: Final = 600.0
"""Seconds before an entry whose re-check failed (a source down) is tried again, doubling."""


DECIDED_CACHE: Final = 1024
"""Re-check answers kept (`SignerEvidenceCapturer._decide`)."""


class RecheckError(Exception):
    """The re-check could not decide although evidence is due (a source failed)."""


@dataclass(frozen=True)
class Decision:
    record: SignerEvidence
    blobs: tuple[bytes, ...]


@dataclass
class SignerEvidenceCapturer:
    """Re-checks entries' signers once their grace has passed (see the module's docstring)."""

    store: LogStore
    trust_anchors: Sequence[JPKICertificate]
    revocation: RevocationSources
    metrics: Metrics
    grace: float = 0.0
    seal_trust_anchors: Sequence[JPKICertificate] = ()
    """The LGPKI anchors a municipal seal is re-checked against (never the J-LIS ones)."""
    clock: Callable[[], float] = field(default=time.time, repr=False)
    last_error: str | None = None
    _retry: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)
    """Entry index → (not before, current backoff), after a failed re-check (memory only)."""
    _decided: OrderedDict[tuple[object, ...], SignerStatus | None] = field(
        default_factory=OrderedDict, repr=False
    )
    """`_decide`'s answers by everything they depend on (the last DECIDED_CACHE)."""

    @property
    def crl_sources(self) -> RevocationSources:
        return replace(self.revocation, ocsp_urls=(), use_certificate_ocsp_urls=False)

    @property
    def ocsp_sources(self) -> RevocationSources | None:
        if not (self.revocation.ocsp_urls or self.revocation.use_certificate_ocsp_urls):
            return None
        return RevocationSources(
            ocsp_urls=self.revocation.ocsp_urls,
            use_certificate_ocsp_urls=self.revocation.use_certificate_ocsp_urls,
            ocsp_require_nonce=self.revocation.ocsp_require_nonce,
            fetch_timeout=self.revocation.fetch_timeout,
        )

    def step(self, stop: threading.Event | None = None) -> int:
        """One pass over the unsettled entries; returns how many were settled with evidence."""
        start = self.store.signers_settled
        end = min(self.store.size, start + SCAN_LIMIT)
        captured = waiting = 0
        for index in range(start, end):
            if stop is not None and stop.is_set():
                break
            outcome = self._settle(index)
            captured += outcome == "captured"
            waiting += outcome == "waiting"
        self.metrics.signer_evidence_pending.set(waiting + self.store.size - end)
        return captured

    def _settle(self, index: int) -> str:
        stored = self.store.entry(index)
        assert stored is not None
        entry = decode_entry(stored.leaf)
        sidecar = stored.sidecar
        if not isinstance(entry, DocumentEntry) or not isinstance(sidecar, DocumentSidecar):
            if index == self.store.signers_settled:
                self.store.save_signer_evidence(index, None, ())  # nothing to re-check
            return "none"
        if self.store.signer_evidence(index) is not None:
            return "done"  # settled before an earlier entry was
        now = self.clock()
        not_before, backoff = self._retry.get(index, (0.0, FIRST_RETRY / 2))
        if now < not_before:
            return "waiting"
        try:
            decision = self.recheck(entry.signing_time, sidecar.certificates)
        except (RecheckError, JPKIError) as error:
            backoff = min(MAX_RETRY, backoff * 2)
            self._retry[index] = (now + backoff, backoff)
            self.metrics.signer_evidence_failed.inc()
            self.last_error = f"entry {index}: {error}"
            log.warning(
                "entry %d: signer re-check failed, again in %.0f s: %s", index, backoff, error
            )
            return "waiting"
        if decision is None:
            if self.ocsp_sources is not None and now >= entry.signing_time + self.grace:
                # The responder answered, but not so as to decide (an "unknown", or a revocation
                # after the signing time): ask again later, not at every pass.
                backoff = min(MAX_RETRY, backoff * 2)
                self._retry[index] = (now + backoff, backoff)
            return "waiting"
        self.store.save_signer_evidence(index, decision.record, decision.blobs)
        self._retry.pop(index, None)
        self.metrics.signer_evidence_captured.inc()
        if decision.record.status is SignerStatus.REVOKED:
            self.metrics.signers_revoked_at_signing.inc()
            log.error(
                "entry %d (leaf %s): its signer certificate was revoked at its signing time by "
                "the revocation evidence issued after it; the entry stays in the log, its "
                "bundles carry that evidence and verifiers reject the signer; decide whether to "
                "revoke the document",
                index,
                stored.leaf_hash.hex(),
            )
        else:
            log.info("entry %d: signer re-checked at its signing time, evidence kept", index)
        return "captured"

    def recheck(self, signing_seconds: int, certificates: Sequence[bytes]) -> Decision | None:
        """The decision on the signer at `signing_seconds` by one CRL or OCSP response issued at
        least `grace` seconds after it; None while there is none yet."""
        due = signing_seconds + self.grace
        if self.clock() < due:
            return None
        # Parsed once per process (`certificate_from_der`): a log names few distinct signers.
        cert = certificate_from_der(certificates[0])
        others = [certificate_from_der(der) for der in certificates[1:]]
        signed_at = datetime.fromtimestamp(signing_seconds, UTC)
        issued_after = datetime.fromtimestamp(due, UTC)
        anchors = self._anchors(cert)
        collected = collect_evidence(cert, [*anchors, *others], self.crl_sources)
        for crl in _crls_for(cert, collected.crls, issued_after):
            decided = self._decide(cert, others, signed_at, RevocationSources(crls=[crl]))
            if decided is not None:
                return Decision(_record(decided, crls=(crl,)), (crl,))
        ocsp_sources = self.ocsp_sources
        if ocsp_sources is not None:
            asked = collect_evidence(cert, [*anchors, *others], ocsp_sources)
            for response in _responses_for(cert, asked.ocsp_responses, issued_after):
                sources = RevocationSources(ocsp_responses=[response])
                decided = self._decide(cert, others, signed_at, sources)
                if decided is not None:
                    return Decision(_record(decided, ocsp=(response,)), (response,))
            if asked.problems:
                raise RecheckError("; ".join(asked.problems))
        if collected.problems:
            raise RecheckError("; ".join(collected.problems))
        return None

    def _anchors(self, cert: JPKICertificate) -> Sequence[JPKICertificate]:
        if cert.kind is CertificateKind.SEAL:
            return self.seal_trust_anchors
        return self.trust_anchors

    def _decide(
        self,
        cert: JPKICertificate,
        others: Sequence[JPKICertificate],
        signed_at: datetime,
        sources: RevocationSources,
    ) -> SignerStatus | None:
        """The signer's status at `signed_at` by `sources` alone (one CRL or OCSP response);
        None if they do not cover it. A path validation costs ~5 ms: the answer is kept by
        the certificates, the time and the blob, all it depends on, so entries one signer
        signed in the same second with the same deciding CRL are judged once."""
        blobs = (*sources.crls, *sources.ocsp_responses)  # by digest: CRLs reach 512 KiB
        key = (
            cert.sha256,
            *(other.sha256 for other in others),
            signed_at,
            len(sources.crls),
            *(hashlib.sha256(blob).digest() for blob in blobs),
        )
        if key in self._decided:
            self._decided.move_to_end(key)
            return self._decided[key]
        status = self._judge(cert, others, signed_at, sources)
        self._decided[key] = status
        if len(self._decided) > DECIDED_CACHE:
            self._decided.popitem(last=False)
        return status

    def _judge(
        self,
        cert: JPKICertificate,
        others: Sequence[JPKICertificate],
        signed_at: datetime,
        sources: RevocationSources,
    ) -> SignerStatus | None:
        check = check_signer(
            cert,
            signing_time=signed_at,
            trust_anchors=self._anchors(cert),
            intermediates=others,
            revocation=sources,
            # Intake applied the issuance policy; here only the signer's own PKI matters.
            policy=SignerPolicy(allowed_kinds=frozenset(CertificateKind)),
        )
        if check.status == "valid":
            return SignerStatus.GOOD
        if check.status == "revoked":
            return SignerStatus.REVOKED
        if check.status == "unknown":
            return None  # this blob does not cover the signer: another may
        raise RecheckError(f"the signer is now judged {check.status}: {check.reason}")


def _record(
    status: SignerStatus, *, crls: tuple[bytes, ...] = (), ocsp: tuple[bytes, ...] = ()
) -> SignerEvidence:
    return SignerEvidence(
        status,
        tuple(hashlib.sha256(c).digest() for c in crls),
        tuple(hashlib.sha256(r).digest() for r in ocsp),
        int(time.time()),
    )


def _crls_for(cert: JPKICertificate, crls: Sequence[bytes], issued_after: datetime) -> list[bytes]:
    """The CRLs that may decide `cert`: its CA's name, its distribution point (or none), issued
    at or after `issued_after`, small enough for a bundle; the earliest first (the next CRL)."""
    points = distribution_point_keys(cert)
    found: list[tuple[datetime, bytes]] = []
    for der in crls:
        if len(der) > MAX_SIGNER_CRL_BYTES:
            continue
        try:
            crl = x509.load_der_x509_crl(der)
        except ValueError:
            continue
        if crl.issuer != cert.x509.issuer or crl.last_update_utc < issued_after:
            continue
        point = _issuing_point(crl)
        if point is not None and point not in points:
            continue
        found.append((crl.last_update_utc, der))
    return [der for _, der in sorted(found, key=lambda item: item[0])]


def _issuing_point(crl: x509.CertificateRevocationList) -> tuple[tuple[str, str], ...] | None:
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None
    for name in idp.full_name or ():
        if isinstance(name, x509.DirectoryName):
            return dirname_key(name.value)
    return None


def _responses_for(
    cert: JPKICertificate, responses: Sequence[bytes], issued_after: datetime
) -> list[bytes]:
    """OCSP responses about `cert` produced at or after `issued_after`, small enough for a
    bundle."""
    found = []
    for der in responses:
        if len(der) > MAX_OCSP_RESPONSE_BYTES:
            continue
        try:
            response = ocsp.load_der_ocsp_response(der)
            singles = list(response.responses)
        except ValueError:
            continue
        if any(
            s.serial_number == cert.x509.serial_number and s.this_update_utc >= issued_after
            for s in singles
        ):
            found.append(der)
    return found


def run_signer_evidence(
    capturer: SignerEvidenceCapturer, stop: threading.Event, poll: float = 2.0
) -> None:
    """The re-check loop: a pass every `poll` seconds; nothing else waits for it."""
    while not stop.is_set():
        try:
            capturer.step(stop)
        except Exception as error:  # a store or library failure: log, retry, never die
            capturer.metrics.signer_evidence_failed.inc()
            capturer.last_error = str(error)
            log.exception("signer re-check pass failed")
        stop.wait(poll)
