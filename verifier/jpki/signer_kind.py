"""Which kind of signer a certificate is: a My Number card or smartphone JPKI certificate, or
the municipality's seal (`protocol.signers.SignerKind`).

The kind is read from the certificate's policies alone (JPKI purpose, the smartphone marker,
the seal policy), so it says what the certificate *claims* to be; whether a trusted CA of that
PKI vouched for it is the path validation's job, with that PKI's anchors only. A seal's
identity (organisation, office, local government) is public by design; nothing here reads a
JPKI subject or subjectAltName.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from protocol.signers import SMARTPHONE_POLICY_OIDS, SignerKind, seal_lg_code
from verifier.jpki.certificates import (
    CertificateKind,
    JPKICertificate,
    organization_identifiers,
    parse_certificate,
)
from verifier.jpki.errors import CertificateError

CERTIFICATE_KINDS: Final = {
    SignerKind.JPKI_CARD_SIGNATURE: CertificateKind.SIGNATURE,
    SignerKind.JPKI_SMARTPHONE_SIGNATURE: CertificateKind.SIGNATURE,
    SignerKind.JPKI_CARD_AUTHENTICATION: CertificateKind.USER_AUTHENTICATION,
    SignerKind.JPKI_SMARTPHONE_AUTHENTICATION: CertificateKind.USER_AUTHENTICATION,
    SignerKind.LGPKI_SEAL: CertificateKind.SEAL,
}
"""The certificate profile (and path-validation usage) each signer kind is checked against."""


class SignerKindError(CertificateError):
    """The certificate is none of the signer kinds (no JPKI purpose, no seal policy)."""


Certificate = bytes | x509.Certificate | JPKICertificate
"""DER or PEM bytes, a `cryptography` certificate, or an already parsed `JPKICertificate`."""


def classify_signer(certificate: Certificate) -> SignerKind:
    """The signer kind this certificate claims; SignerKindError if it claims none.

    Card and smartphone certificates come from the same J-LIS CAs with the same purpose
    policy; the smartphone's carries the smartphone marker policy besides it.
    """
    cert = _parsed(certificate)
    smartphone = any(oid in cert.policy_oids for oid in SMARTPHONE_POLICY_OIDS)
    if cert.kind is CertificateKind.SIGNATURE:
        if smartphone:
            return SignerKind.JPKI_SMARTPHONE_SIGNATURE
        return SignerKind.JPKI_CARD_SIGNATURE
    if cert.kind is CertificateKind.USER_AUTHENTICATION:
        if smartphone:
            return SignerKind.JPKI_SMARTPHONE_AUTHENTICATION
        return SignerKind.JPKI_CARD_AUTHENTICATION
    if cert.kind is CertificateKind.SEAL and not smartphone:
        return SignerKind.LGPKI_SEAL
    raise SignerKindError(
        f"certificate serial 0x{cert.serial_hex} is neither a JPKI signature or "
        "user-authentication certificate nor a municipal seal (its certificate policies name "
        "no single one of them)"
    )


@dataclass(frozen=True)
class SealIdentity:
    """Who a seal certificate speaks for: an organisation's office, never a person."""

    organisation: str | None
    municipality: str | None
    title: str | None
    common_name: str | None
    organization_identifier: str | None
    lg_code: int | None
    """The local-government code the organizationIdentifier names (None: names none)."""

    def describe(self) -> str:
        """E.g. ``Chiyoda-ku Mayor (LGCJP-131016, LGPKI-TEST)``."""
        name = self.common_name or " ".join(p for p in (self.municipality, self.title) if p)
        extras = ", ".join(p for p in (self.organization_identifier, self.organisation) if p)
        return f"{name or 'unnamed office'} ({extras})" if extras else name or "unnamed office"

    def as_public_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "municipality": self.municipality,
            "title": self.title,
            "common_name": self.common_name,
            "organization_identifier": self.organization_identifier,
            "lg_code": self.lg_code,
        }


def seal_identity(certificate: Certificate) -> SealIdentity:
    """The seal's subject as a `SealIdentity`; SignerKindError for any other certificate (a
    JPKI subject names the holder's residence and is never read here)."""
    cert = _parsed(certificate)
    if classify_signer(cert) is not SignerKind.LGPKI_SEAL:
        raise SignerKindError(f"certificate serial 0x{cert.serial_hex} is not a municipal seal")
    subject = cert.x509.subject
    identifiers = organization_identifiers(cert)
    identifier = identifiers[0] if len(identifiers) == 1 else None
    return SealIdentity(
        organisation=_single(subject, NameOID.ORGANIZATION_NAME),
        municipality=_single(subject, NameOID.LOCALITY_NAME),
        title=_single(subject, NameOID.TITLE),
        common_name=_single(subject, NameOID.COMMON_NAME),
        organization_identifier=identifier,
        lg_code=seal_lg_code(identifier) if identifier is not None else None,
    )


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if len(values) == 1 else None


def _parsed(certificate: Certificate) -> JPKICertificate:
    if isinstance(certificate, JPKICertificate):
        return certificate
    return parse_certificate(certificate)
