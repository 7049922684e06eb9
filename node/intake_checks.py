"""The intake's checks as the settings describe them, built the same in the node and in every
intake worker process: the J-LIS gate, the municipal seal's gate, the issuance policy and the
requester application's window, and `check_submission`, the one place a submission becomes a
log entry (so a bulk request checked by the workers meets exactly the checks of a single one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from node.intake import (
    Issuance,
    SignerGate,
    SigningWindow,
    Submission,
    document_entry,
)
from node.issuance_policy import IssuancePolicy, parse_policy
from node.requester import check_application
from node.revocation_status import RevocationFreshness
from node.settings import NodeSettings
from node.store import NewEntry
from verifier.jpki import (
    CertificateKind,
    JPKICertificate,
    RevocationSources,
    SignerPolicy,
    load_certificates,
)


@dataclass(frozen=True)
class IntakeChecks:
    gate: SignerGate
    """J-LIS: signature certificates sign documents and applications, authentication ones
    log in (the issuance policy says which one an entry needs before the gate runs)."""
    issuance: Issuance
    application_window: SigningWindow
    """How long before the entry a resident may have signed the application."""
    trust_anchors: tuple[JPKICertificate, ...]
    seal_anchors: tuple[JPKICertificate, ...]
    revocation: RevocationSources
    freshness: RevocationFreshness
    """Of the J-LIS CRLs (the node's /readyz and metrics)."""


def build_intake_checks(settings: NodeSettings) -> IntakeChecks:
    # J-LIS anchors and the seal's LGPKI anchors: each vouches only for its own PKI.
    trust_anchors = tuple(load_certificates(trust_files(settings.trust_dir)))
    seal_anchors = tuple(load_certificates(trust_files(settings.seal_trust_dir)))
    revocation = RevocationSources(
        crl_files=[str(p) for p in settings.crl_files],
        ocsp_urls=settings.ocsp_urls,
        use_certificate_ocsp_urls=settings.ocsp_from_certificate,
        ocsp_require_nonce=settings.ocsp_require_nonce,
        fetch_timeout=settings.ocsp_timeout,
    )
    freshness = RevocationFreshness(
        trust_anchors,
        revocation.crl_files,
        ocsp_configured=bool(settings.ocsp_urls or settings.ocsp_from_certificate),
        grace=timedelta(seconds=settings.crl_stale_grace),
    )
    window = SigningWindow(settings.signing_time_max_age, settings.signing_time_max_ahead)
    gate = SignerGate(
        trust_anchors=trust_anchors,
        revocation=revocation,
        policy=SignerPolicy(
            allowed_kinds=frozenset(
                {CertificateKind.SIGNATURE, CertificateKind.USER_AUTHENTICATION}
            ),
            require_revocation_info=settings.require_revocation_info,
        ),
        window=window,
        stale_cause=freshness.stale_cause,
    )
    issuance = Issuance(
        IssuancePolicy(settings.lg_code, parse_policy(settings.issuance_policy)),
        _seal_gate(settings, seal_anchors, window),
    )
    return IntakeChecks(
        gate=gate,
        issuance=issuance,
        application_window=SigningWindow(
            settings.application_max_age, settings.signing_time_max_ahead
        ),
        trust_anchors=trust_anchors,
        seal_anchors=seal_anchors,
        revocation=revocation,
        freshness=freshness,
    )


def check_submission(
    checks: IntakeChecks,
    submission: Submission,
    lg_code: int,
    *,
    client: str,
    field_prefix: str = "",
    received_at: float | None = None,
) -> NewEntry:
    """The submission's application (if any) and the submission itself checked, as its log
    entry; raises SubmissionRejectedError naming the field."""
    requester = None
    if submission.application is not None:
        requester = check_application(
            submission.application,
            checks.gate,
            checks.application_window,
            field_prefix=field_prefix,
            received_at=received_at,
        )
    return document_entry(
        submission,
        lg_code,
        checks.gate,
        client=client,
        field_prefix=field_prefix,
        received_at=received_at,
        issuance=checks.issuance,
        requester=requester,
    )


@contextmanager
def crl_files_stated_once(checks: IntakeChecks) -> Iterator[None]:
    """`SignerGate.crl_files_stated_once` of the J-LIS gate and the seal's, together."""
    with ExitStack() as stack:
        for gate in (checks.gate, checks.issuance.seal_gate):
            if gate is not None:
                stack.enter_context(gate.crl_files_stated_once())
        yield


def _seal_gate(
    settings: NodeSettings, seal_anchors: tuple[JPKICertificate, ...], window: SigningWindow
) -> SignerGate | None:
    """The municipal seal's own gate: LGPKI anchors and CRLs only (None: no seal trust)."""
    if not seal_anchors:
        return None
    crl_files = [str(p) for p in settings.seal_crl_files]
    freshness = RevocationFreshness(
        seal_anchors,
        crl_files,
        ocsp_configured=False,
        grace=timedelta(seconds=settings.crl_stale_grace),
    )
    return SignerGate(
        trust_anchors=seal_anchors,
        revocation=RevocationSources(crl_files=crl_files),
        policy=SignerPolicy(
            allowed_kinds=frozenset({CertificateKind.SEAL}),
            require_revocation_info=settings.require_revocation_info,
        ),
        window=window,
        stale_cause=freshness.stale_cause,
    )


def trust_files(folder: Path | None) -> list[str]:
    if folder is None:
        return []
    return sorted(
        str(p) for p in folder.iterdir() if p.suffix.lower() in (".pem", ".crt", ".cer", ".der")
    )
