"""Is the revocation evidence a bundle carries fit to decide its signer's status at signing time?

A node keeps, after its grace period, the CRL or OCSP response that decided whether the signer
certificate was revoked at the signing time, and bundles carry it (docs/PROTOCOL.md section
10.3). A holder can alter or swap it, so before the path validator may read it each blob must be:
issued by the CA whose key issued the signer certificate (a trusted generation: the DN alone
proves nothing, generations and impostors share it), about this certificate (an OCSP CertID),
and issued at or after the signing time (evidence from before it cannot know a revocation
between its issue and the signature). What it then *says* is the validator's job
(`verifier.jpki.validation`), as for any other CRL or OCSP response.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509 import ocsp

from verifier.jpki.certificates import JPKICertificate
from verifier.jpki.compromise import key_hash, ocsp_signed_for
from verifier.jpki.errors import JPKIError


class BundledRevocationError(JPKIError):
    """A blob of the bundle's revocation evidence cannot speak for the signer; `field` names it
    (``evidence.signer_revocation.crls[0]``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_bundled_revocation(
    cert: JPKICertificate,
    candidates: Sequence[JPKICertificate],
    signing_time: datetime,
    crls: Sequence[bytes],
    ocsp_responses: Sequence[bytes],
    path: str = "evidence.signer_revocation",
) -> tuple[str, ...]:
    """Check every blob (see the module's docstring); return what each is, for the verdict's
    detail ("a CRL issued 2026-01-16T00:00:00Z"). `candidates` are the trust anchors and the
    bundle's other certificates: the ones whose key verifies `cert` may have signed the
    evidence. Raises BundledRevocationError naming the first blob that does not hold."""
    issuers = [c.x509 for c in candidates if _issued(cert.x509, c.x509)]
    described = [
        _check_crl(cert.x509, issuers, signing_time, der, f"{path}.crls[{i}]")
        for i, der in enumerate(crls)
    ]
    described += [
        _check_ocsp(cert.x509, issuers, signing_time, der, f"{path}.ocsp_responses[{i}]")
        for i, der in enumerate(ocsp_responses)
    ]
    return tuple(described)


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_crl(
    cert: x509.Certificate,
    issuers: Sequence[x509.Certificate],
    signing_time: datetime,
    der: bytes,
    field: str,
) -> str:
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError:
        raise BundledRevocationError(field, "not a DER certificate revocation list") from None
    if crl.issuer != cert.issuer:
        raise BundledRevocationError(
            field,
            f"issued by {crl.issuer.rfc4514_string()!r}, not by the signer certificate's CA",
        )
    if not any(_crl_signed_by(crl, issuer) for issuer in issuers):
        raise BundledRevocationError(
            field,
            "not signed by the trusted CA generation that issued the signer certificate "
            "(forged, altered, or from a CA copying its name)",
        )
    issued = crl.last_update_utc
    if issued < signing_time:
        raise BundledRevocationError(
            field,
            f"its thisUpdate {_time(issued)} is before the signing time {_time(signing_time)}: "
            "it cannot show a revocation made between the two",
        )
    return f"a CRL issued {_time(issued)}"


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, UnsupportedAlgorithm):
        return False


def _check_ocsp(
    cert: x509.Certificate,
    issuers: Sequence[x509.Certificate],
    signing_time: datetime,
    der: bytes,
    field: str,
) -> str:
    try:
        response = ocsp.load_der_ocsp_response(der)
        successful = response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    except ValueError:
        raise BundledRevocationError(field, "not a DER OCSP response") from None
    if not successful:
        raise BundledRevocationError(field, "not a successful OCSP response")
    ca = next((i for i in issuers if ocsp_signed_for(i, response)), None)
    if ca is None:
        raise BundledRevocationError(
            field,
            "not signed by the trusted CA generation that issued the signer certificate, nor "
            "by a responder it authorised",
        )
    single = next(
        (
            s
            for s in response.responses
            if s.serial_number == cert.serial_number
            and s.issuer_key_hash == key_hash(ca, s.hash_algorithm)
        ),
        None,
    )
    if single is None:
        raise BundledRevocationError(field, "it answers for another certificate (CertID)")
    produced = single.this_update_utc
    if produced < signing_time:
        raise BundledRevocationError(
            field,
            f"its thisUpdate {_time(produced)} is before the signing time {_time(signing_time)}: "
            "it cannot show a revocation made between the two",
        )
    return f"an OCSP response of {_time(produced)}"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
