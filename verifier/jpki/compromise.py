"""Revocations that reach back before their own date: key compromise and invalidity dates.

Path validation judges revocation at the signing time, so a certificate revoked *after* a
signature leaves that signature valid. That is right for a resident who moved (affiliation
change) but wrong when the key itself leaked: whoever holds a compromised key can sign today
and claim any earlier signing time (a PKCS#1 signature carries no time at all, a CMS
`signingTime` is whatever the signer's software wrote). So, for the signer and every CA
certificate in its path:

- a revocation for key compromise (`keyCompromise`, `cACompromise`, `aACompromise`) counts
  whatever the claimed signing time, unless the CRL entry states an `invalidityDate` after
  that time (the CA says the key was good until then);
- a revocation for any reason whose CRL entry states an `invalidityDate` at or before the
  signing time counts: RFC 5280 5.3.2 says the certificate was invalid from that date.

Only CRLs and OCSP responses signed by the certificate's actual issuer (the key in the
validated path) are read, so a CA of another generation or an impostor with a copied DN
cannot revoke anything here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from asn1crypto import keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

COMPROMISE_REASONS: Final = frozenset(
    {
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.aa_compromise,
    }
)
_NOT_REVOKED: Final = frozenset({x509.ReasonFlags.remove_from_crl})


@dataclass(frozen=True)
class BackdatedRevocation:
    """A revocation that counts for a signing time before its revocation date."""

    revoked_at: datetime
    reason: x509.ReasonFlags
    invalid_since: datetime | None
    source: str  # "CRL" or "OCSP"

    @property
    def for_compromise(self) -> bool:
        return self.reason in COMPROMISE_REASONS

    def describe(self, whose: str, signing_time: datetime) -> str:
        when = signing_time.isoformat()
        if self.invalid_since is not None:
            return (
                f"{whose} was revoked on {self.revoked_at.isoformat()} ({_label(self.reason)}); "
                f"the {self.source} states it was invalid since "
                f"{self.invalid_since.isoformat()}, at or before the signing time {when}"
            )
        return (
            f"{whose} was revoked on {self.revoked_at.isoformat()} for {_label(self.reason)}: "
            f"whoever held the key could claim any signing time, so the claimed one ({when}) "
            "cannot make the signature valid"
        )


def backdated_revocation(
    subject: x509.Certificate,
    issuer: x509.Certificate,
    signing_time: datetime,
    crls: tuple[bytes, ...],
    ocsp_responses: tuple[bytes, ...],
) -> BackdatedRevocation | None:
    """The first revocation of `subject` (issued by `issuer`) that counts at `signing_time`
    although it is dated later, or None."""
    for listing in _listings(subject, issuer, crls, ocsp_responses):
        if listing.reason in _NOT_REVOKED or listing.reason is x509.ReasonFlags.certificate_hold:
            continue  # a hold is temporary, and never reaches back
        if listing.invalid_since is not None:
            if listing.invalid_since <= signing_time:
                return listing
        elif listing.for_compromise:
            return listing
    return None


def _listings(
    subject: x509.Certificate,
    issuer: x509.Certificate,
    crls: tuple[bytes, ...],
    ocsp_responses: tuple[bytes, ...],
) -> Iterator[BackdatedRevocation]:
    for der in crls:
        listing = _crl_listing(subject, issuer, der)
        if listing is not None:
            yield listing
    for der in ocsp_responses:
        listing = _ocsp_listing(subject, issuer, der)
        if listing is not None:
            yield listing


def _crl_listing(
    subject: x509.Certificate, issuer: x509.Certificate, der: bytes
) -> BackdatedRevocation | None:
    try:
        crl = x509.load_der_x509_crl(der)
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            return None
        entry = crl.get_revoked_certificate_by_serial_number(subject.serial_number)
        if entry is None:
            return None
        extensions = entry.extensions
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    try:
        extensions.get_extension_for_class(x509.CertificateIssuer)
        return None  # an indirect CRL's entry for another issuer's certificate
    except x509.ExtensionNotFound:
        pass
    try:
        reason = extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        reason = x509.ReasonFlags.unspecified
    try:
        invalid_since: datetime | None = extensions.get_extension_for_class(
            x509.InvalidityDate
        ).value.invalidity_date_utc
    except x509.ExtensionNotFound:
        invalid_since = None
    return BackdatedRevocation(entry.revocation_date_utc, reason, invalid_since, "CRL")


def _ocsp_listing(
    subject: x509.Certificate, issuer: x509.Certificate, der: bytes
) -> BackdatedRevocation | None:
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        if not ocsp_signed_for(issuer, response):
            return None
        for single in response.responses:
            if (
                single.serial_number == subject.serial_number
                and single.issuer_key_hash == key_hash(issuer, single.hash_algorithm)
                and single.certificate_status is ocsp.OCSPCertStatus.REVOKED
                and single.revocation_time_utc is not None
            ):
                reason = single.revocation_reason or x509.ReasonFlags.unspecified
                return BackdatedRevocation(single.revocation_time_utc, reason, None, "OCSP")
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return None


def ocsp_signed_for(issuer: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    """Signed by the issuer itself, or by a responder certificate it issued for OCSP."""
    candidates = [issuer]
    for delegate in response.certificates:
        try:
            delegate.verify_directly_issued_by(issuer)
            usages = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usages:
            candidates.append(delegate)
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    for signer in candidates:
        key = signer.public_key()
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(
                    response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
                )
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
            else:
                continue
        except InvalidSignature:
            continue
        return True
    return False


def key_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    """RFC 6960 issuerKeyHash: the hash of the issuer's subjectPublicKey BIT STRING."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(algorithm)
    digest.update(_subject_public_key(spki))
    return digest.finalize()


def _subject_public_key(spki: bytes) -> bytes:
    info = keys.PublicKeyInfo.load(spki)
    bits: bytes = info["public_key"].contents[1:]  # drop the unused-bits octet
    return bits


_LABELS: Final = {
    x509.ReasonFlags.key_compromise: "key compromise",
    x509.ReasonFlags.ca_compromise: "CA key compromise",
    x509.ReasonFlags.aa_compromise: "attribute authority compromise",
    x509.ReasonFlags.affiliation_changed: "affiliation change",
    x509.ReasonFlags.superseded: "superseded",
    x509.ReasonFlags.cessation_of_operation: "cessation of operation",
    x509.ReasonFlags.privilege_withdrawn: "privilege withdrawn",
}


def _label(reason: x509.ReasonFlags) -> str:
    return _LABELS.get(reason, "reason unspecified")
