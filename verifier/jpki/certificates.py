"""Parse JPKI certificates into a small typed view that is safe to log.

A JPKI signature certificate carries the holder's name, address, sex and birth date in its
subjectAltName. This module never decodes those: `JPKICertificate`'s repr, str and
`as_public_dict()` hold only issuer, serial, fingerprints, policies and usages. The personal
items are read only through `verifier.jpki.basic_four`, on explicit request.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID

from protocol.signers import ORGANIZATION_IDENTIFIER_OID, SEAL_POLICY_OIDS, seal_lg_code
from verifier.jpki.errors import CertificateError

SIGNATURE_POLICY_OID: Final = "1.2.392.200149.8.5.1.1.20"
"""Certificate policy of the JPKI signature certificate (署名用電子証明書)."""

USER_AUTHENTICATION_POLICY_OID: Final = "1.2.392.200149.8.5.1.3.30"
"""Certificate policy of the JPKI user-authentication certificate (利用者証明用電子証明書)."""

CLIENT_AUTH_EKU_OID: Final = "1.3.6.1.5.5.7.3.2"
MIN_RSA_BITS: Final = 2048


class CertificateKind(enum.StrEnum):
    """Which certificate this is, decided by its certificate policy OIDs alone: a JPKI purpose,
    or a municipal seal (`protocol.signers.SEAL_POLICY_OIDS`). `verifier.jpki.signer_kind`
    refines it (card or smartphone)."""

    SIGNATURE = "signature"
    USER_AUTHENTICATION = "user_authentication"
    SEAL = "seal"
    UNKNOWN = "unknown"


_KEY_USAGE_NAMES: Final = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
# cryptography calls nonRepudiation "content_commitment"; we report the RFC 5280 name,
# which is also what pyhanko-certvalidator expects in a key-usage requirement.
_KEY_USAGE_RFC_NAME: Final = {"content_commitment": "non_repudiation"}


def format_name(name: x509.Name) -> str:
    """A DN in certificate order (C first), the way JPKI documents write it."""
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


@dataclass(frozen=True, eq=False, repr=False)
class JPKICertificate:
    """One parsed certificate: public profile fields only, plus the raw objects on request.

    `repr()`, `str()` and `as_public_dict()` never contain the subject or the subjectAltName:
    for a signature certificate those hold the holder's residence and the "basic four items".
    """

    der: bytes
    kind: CertificateKind
    serial_number: int
    sha256: str
    issuer: str
    not_before: datetime
    not_after: datetime
    is_ca: bool
    policy_oids: tuple[str, ...]
    policies_critical: bool
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...]
    crl_distribution_dirnames: tuple[str, ...]
    crl_distribution_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    subject_key_identifier: bytes | None
    authority_key_identifier: bytes | None
    signature_hash_algorithm: str | None
    public_key_algorithm: str
    public_key_bits: int | None
    x509: x509.Certificate = field(compare=False)
    asn1: asn1_x509.Certificate = field(compare=False)

    @property
    def serial_hex(self) -> str:
        """The serial as lower-case hex: JPKI uses it to identify the holder pseudonymously."""
        return format(self.serial_number, "x")

    @property
    def subject(self) -> str:
        """The subject DN. For a signature certificate it names the holder's municipality."""
        return format_name(self.x509.subject)

    @property
    def is_self_signed(self) -> bool:
        return self.x509.subject == self.x509.issuer and (
            self.subject_key_identifier is None
            or self.authority_key_identifier in (None, self.subject_key_identifier)
        )

    def as_public_dict(self) -> dict[str, Any]:
        """JSON-ready fields that identify the certificate without any personal data."""
        return {
            "kind": self.kind.value,
            "serial": self.serial_hex,
            "sha256": self.sha256,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "is_ca": self.is_ca,
            "policy_oids": list(self.policy_oids),
            "key_usage": sorted(self.key_usage),
            "extended_key_usage": list(self.extended_key_usage),
            "subject_key_identifier": _hex_or_none(self.subject_key_identifier),
            "authority_key_identifier": _hex_or_none(self.authority_key_identifier),
        }

    def __repr__(self) -> str:
        return (
            f"JPKICertificate(kind={self.kind.value}, serial=0x{self.serial_hex}, "
            f"issuer={self.issuer!r}, sha256={self.sha256[:16]}…)"
        )

    def __str__(self) -> str:
        return f"{self.kind.value} certificate serial 0x{self.serial_hex} from {self.issuer}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JPKICertificate) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)


def _hex_or_none(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def parse_certificate(data: bytes | x509.Certificate) -> JPKICertificate:
    """Parse one certificate given as DER, PEM or a `cryptography` object."""
    if isinstance(data, x509.Certificate):
        return _from_x509(data)
    certificates = parse_certificates(data)
    if len(certificates) != 1:
        raise CertificateError(
            f"expected exactly one certificate, found {len(certificates)} in the PEM data"
        )
    return certificates[0]


def parse_certificates(data: bytes) -> list[JPKICertificate]:
    """Parse a DER certificate or a PEM bundle of one or more certificates."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            loaded = x509.load_pem_x509_certificates(data)
        else:
            loaded = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CertificateError("not a DER or PEM X.509 certificate") from None
    return [_from_x509(cert) for cert in loaded]


def load_certificates(paths: Iterable[str | os.PathLike[str]]) -> list[JPKICertificate]:
    """Read certificates from files (DER or PEM bundles), naming the file that fails."""
    result: list[JPKICertificate] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise CertificateError(f"cannot read certificate file {path}: {exc.strerror}") from None
        try:
            result.extend(parse_certificates(data))
        except CertificateError as exc:
            raise CertificateError(f"{path}: {exc}") from None
    return result


def _from_x509(cert: x509.Certificate) -> JPKICertificate:
    try:
        return _build(cert)
    except CertificateError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        # cryptography parses extensions lazily; a malformed one surfaces here.
        raise CertificateError(f"certificate has a malformed extension ({exc})") from None
    except x509.DuplicateExtension as exc:
        # Also lazy, and not a ValueError (found by the CMS fast path's byte-change test).
        raise CertificateError(f"certificate repeats an extension ({exc})") from None
    except UnsupportedAlgorithm as exc:
        # Also lazy: a signature or key algorithm it does not know (found by fuzzing).
        raise CertificateError(f"certificate uses an unsupported algorithm ({exc})") from None


def _build(cert: x509.Certificate) -> JPKICertificate:
    if cert.version is not x509.Version.v3:
        raise CertificateError("only X.509 v3 certificates are supported")
    der = cert.public_bytes(Encoding.DER)
    # cryptography decodes the subject on first use: a malformed one must fail here, as a
    # CertificateError, not in path building (found by fuzzing).
    cert.subject.rfc4514_string()
    extensions = cert.extensions
    policy_oids, policies_critical = _policies(extensions)
    dirnames, urls = _crl_distribution_points(extensions)
    public_key = cert.public_key()
    algorithm = "rsa" if isinstance(public_key, rsa.RSAPublicKey) else type(public_key).__name__
    bits = public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else None
    hash_algorithm = cert.signature_hash_algorithm
    return JPKICertificate(
        der=der,
        kind=_kind(policy_oids),
        serial_number=cert.serial_number,
        sha256=hashlib.sha256(der).hexdigest(),
        issuer=format_name(cert.issuer),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=_is_ca(extensions),
        policy_oids=policy_oids,
        policies_critical=policies_critical,
        key_usage=_key_usage(extensions),
        extended_key_usage=_extended_key_usage(extensions),
        crl_distribution_dirnames=dirnames,
        crl_distribution_urls=urls,
        ocsp_urls=_ocsp_urls(extensions),
        subject_key_identifier=_ski(extensions),
        authority_key_identifier=_aki(extensions),
        signature_hash_algorithm=hash_algorithm.name if hash_algorithm is not None else None,
        public_key_algorithm=algorithm,
        public_key_bits=bits,
        x509=cert,
        asn1=asn1_x509.Certificate.load(der),
    )


def _kind(policy_oids: tuple[str, ...]) -> CertificateKind:
    found = [
        kind
        for kind, present in (
            (CertificateKind.SIGNATURE, SIGNATURE_POLICY_OID in policy_oids),
            (CertificateKind.USER_AUTHENTICATION, USER_AUTHENTICATION_POLICY_OID in policy_oids),
            (CertificateKind.SEAL, any(oid in policy_oids for oid in SEAL_POLICY_OIDS)),
        )
        if present
    ]
    # Two purposes in one certificate is no profile at all: refuse rather than pick one.
    return found[0] if len(found) == 1 else CertificateKind.UNKNOWN


def _policies(extensions: x509.Extensions) -> tuple[tuple[str, ...], bool]:
    try:
        ext = extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return (), False
    oids = tuple(info.policy_identifier.dotted_string for info in ext.value)
    return oids, ext.critical


def _is_ca(extensions: x509.Extensions) -> bool:
    try:
        return extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _key_usage(extensions: x509.Extensions) -> frozenset[str]:
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    names = {name for name in _KEY_USAGE_NAMES if getattr(usage, name)}
    if usage.key_agreement:
        names |= {n for n in ("encipher_only", "decipher_only") if getattr(usage, n)}
    return frozenset(_KEY_USAGE_RFC_NAME.get(name, name) for name in names)


def _extended_key_usage(extensions: x509.Extensions) -> tuple[str, ...]:
    try:
        usage = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(oid.dotted_string for oid in usage)


def _crl_distribution_points(
    extensions: x509.Extensions,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        points = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return (), ()
    dirnames: list[str] = []
    urls: list[str] = []
    for point in points:
        for general_name in point.full_name or ():
            if isinstance(general_name, x509.DirectoryName):
                dirnames.append(format_name(general_name.value))
            elif isinstance(general_name, x509.UniformResourceIdentifier):
                urls.append(general_name.value)
    return tuple(dirnames), tuple(urls)


def _ocsp_urls(extensions: x509.Extensions) -> tuple[str, ...]:
    try:
        access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        desc.access_location.value
        for desc in access
        if desc.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(desc.access_location, x509.UniformResourceIdentifier)
    )


def _ski(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _aki(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def organization_identifiers(cert: JPKICertificate) -> tuple[str, ...]:
    """The subject's organizationIdentifier values (a seal names its local government here)."""
    oid = x509.ObjectIdentifier(ORGANIZATION_IDENTIFIER_OID)
    return tuple(str(a.value) for a in cert.x509.subject.get_attributes_for_oid(oid))


def profile_problems(cert: JPKICertificate) -> list[str]:
    """What in this end-entity certificate departs from its profile (empty if nothing).

    Checked: RSA ≥ 2048 with SHA-256, the policy OID (critical for signature certificates),
    and the key usages each kind needs; a seal names one local government
    (organizationIdentifier ``LGCJP-<code>``). Chain, validity and revocation are
    `validation`'s job.
    """
    problems: list[str] = []
    if cert.kind is CertificateKind.UNKNOWN:
        problems.append(
            "no JPKI certificate policy (expected "
            f"{SIGNATURE_POLICY_OID} or {USER_AUTHENTICATION_POLICY_OID}) and no municipal "
            "seal policy"
        )
    if cert.public_key_algorithm != "rsa" or (cert.public_key_bits or 0) < MIN_RSA_BITS:
        problems.append(f"key is not RSA with at least {MIN_RSA_BITS} bits")
    if cert.signature_hash_algorithm != hashes.SHA256.name:
        problems.append("certificate is not signed with sha256WithRSAEncryption")
    if cert.kind is CertificateKind.SIGNATURE:
        if not cert.policies_critical:
            problems.append("signature certificate policy extension is not critical")
        missing = {"digital_signature", "non_repudiation"} - cert.key_usage
        if missing:
            problems.append(f"key usage lacks {', '.join(sorted(missing))}")
    elif cert.kind is CertificateKind.USER_AUTHENTICATION:
        if "digital_signature" not in cert.key_usage:
            problems.append("key usage lacks digital_signature")
        if CLIENT_AUTH_EKU_OID not in cert.extended_key_usage:
            problems.append("extended key usage lacks clientAuth")
    elif cert.kind is CertificateKind.SEAL:
        missing = {"digital_signature", "non_repudiation"} - cert.key_usage
        if missing:
            problems.append(f"key usage lacks {', '.join(sorted(missing))}")
        identifiers = organization_identifiers(cert)
        if len(identifiers) != 1 or seal_lg_code(identifiers[0]) is None:
            problems.append(
                "a seal names exactly one local government: organizationIdentifier "
                "LGCJP-<6-digit local-government code>"
            )
    return problems
