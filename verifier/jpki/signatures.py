"""Verify signatures made with a My Number card: CMS SignedData or raw PKCS#1 v1.5.

The card signs an RSA PKCS#1 v1.5 SHA-256 DigestInfo. Client software wraps it in CMS
SignedData with the signed attributes contentType, messageDigest and signingTime and embeds
the signer and CA certificates. Only that profile is accepted: anything else is refused with
a `SignatureError` subclass saying what was found. This module proves *who* signed *what*;
whether that certificate was trustworthy at the signing time is `validation`'s question.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from asn1crypto import cms, core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from verifier.jpki.certificates import MIN_RSA_BITS, JPKICertificate, parse_certificate
from verifier.jpki.errors import (
    BadSignatureError,
    CertificateError,
    DigestMismatchError,
    MalformedSignatureError,
    SignatureError,
    SignerCertificateMissingError,
    UnsupportedAlgorithmError,
)

_RSA_PKCS1_V15: Final = frozenset({"rsassa_pkcs1v15", "sha256_rsa"})
"""rsaEncryption (what card middleware writes) or sha256WithRSAEncryption."""

_ASN1_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, OverflowError)
"""What asn1crypto raises, lazily, on malformed input."""


@dataclass(frozen=True)
class SignedContent:
    """A verified signature: who signed (certificate), over what (digest), and when (claimed).

    `signing_time` is the signer's own claim (CMS signingTime) or what the caller supplied
    for a raw signature; None if the CMS carries none. `embedded_certs` are all certificates
    embedded in the CMS, the signer's included (none for a raw signature); pass them on as
    intermediates. They are *not* trusted for being there: trust comes from the anchors.
    """

    signer_cert: JPKICertificate
    embedded_certs: tuple[JPKICertificate, ...]
    signing_time: datetime | None
    content_sha256: str
    content_attached: bool


def verify_cms(
    cms_der: bytes,
    content: bytes | None = None,
    *,
    extra_certificates: Sequence[JPKICertificate] = (),
) -> SignedContent:
    """Verify a card-style CMS SignedData over `content` (detached) or its attached content.

    If the CMS carries content and `content` is given too, they must be identical. The signer
    certificate is looked up by issuer+serial or subject key identifier among the embedded
    certificates and then `extra_certificates`.
    """
    info = _load_signed_data(cms_der)
    try:
        signed_data = info["content"]
        signer_info = _single_signer(signed_data)
        _check_algorithms(signer_info)
        signed_content, attached = _content(signed_data, content)
        attributes = _signed_attributes(signer_info, signed_data)
        embedded = _embedded_certificates(signed_data)
        signer = _find_signer(signer_info["sid"], [*embedded, *extra_certificates])
        signed_bytes = signer_info["signed_attrs"].untag().dump()
        signature = signer_info["signature"].native
    except SignatureError:
        raise
    except _ASN1_ERRORS as exc:
        raise MalformedSignatureError(f"CMS SignedData is malformed ({_short(exc)})") from None

    digest = hashlib.sha256(signed_content).digest()
    return _checked_content(
        digest, attributes, signer, signature, signed_bytes, embedded, attached,
        "the signed digest is not the SHA-256 of this content",
    )  # fmt: skip


def _checked_content(
    digest: bytes,
    attributes: _Attributes,
    signer: JPKICertificate,
    signature: bytes,
    signed_bytes: bytes,
    embedded: Sequence[JPKICertificate],
    attached: bool,
    mismatch: str,
) -> SignedContent:
    """The last steps every CMS path shares: messageDigest, then the RSA signature."""
    if not hmac.compare_digest(digest, attributes.message_digest):
        raise DigestMismatchError(
            f"messageDigest mismatch: {mismatch} "
            "(the file was changed after signing, or it is not the file that was signed)"
        )
    _verify_rsa(signer, signature, signed_bytes)
    return SignedContent(
        signer_cert=signer,
        embedded_certs=tuple(embedded),
        signing_time=attributes.signing_time,
        content_sha256=digest.hex(),
        content_attached=attached,
    )


def verify_raw(
    signature: bytes,
    content: bytes,
    cert: JPKICertificate | bytes,
    *,
    signing_time: datetime | None = None,
) -> SignedContent:
    """Verify a bare RSA PKCS#1 v1.5 SHA-256 signature over `content` with `cert`'s key.

    A raw signature carries no time; pass the time the signature is claimed to be made
    (e.g. from the application log) so the certificate can be judged at that moment.
    """
    signer = cert if isinstance(cert, JPKICertificate) else parse_certificate(cert)
    if signing_time is not None and signing_time.utcoffset() is None:
        raise SignatureError("signing_time must carry a time zone (e.g. UTC)")
    _verify_rsa(signer, signature, content)
    return SignedContent(
        signer_cert=signer,
        embedded_certs=(),
        signing_time=signing_time,
        content_sha256=hashlib.sha256(content).hexdigest(),
        content_attached=False,
    )


def _load_signed_data(cms_der: bytes) -> Any:
    if not cms_der:
        raise MalformedSignatureError("the signature file is empty")
    try:
        info = cms.ContentInfo.load(cms_der, strict=True)
        content_type = info["content_type"].native
    except _ASN1_ERRORS as exc:
        hint = " (PEM or base64? give the DER bytes)" if cms_der[:1] != b"\x30" else ""
        raise MalformedSignatureError(f"not a DER CMS structure{hint} ({_short(exc)})") from None
    if content_type != "signed_data":
        raise MalformedSignatureError(f"CMS content type is {content_type!r}, not signed_data")
    return info


def _single_signer(signed_data: Any) -> Any:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise MalformedSignatureError(
            f"expected exactly one signer, the CMS has {len(signer_infos)}"
        )
    return signer_infos[0]


def _check_algorithms(signer_info: Any) -> None:
    digest = signer_info["digest_algorithm"]["algorithm"].native
    if digest != "sha256":
        raise UnsupportedAlgorithmError(
            f"digest algorithm {digest!r} is not supported (need sha256)"
        )
    algorithm = signer_info["signature_algorithm"]["algorithm"].native
    if algorithm not in _RSA_PKCS1_V15:
        raise UnsupportedAlgorithmError(
            f"signature algorithm {algorithm!r} is not supported "
            "(need RSA PKCS#1 v1.5 with SHA-256)"
        )


def _content(signed_data: Any, supplied: bytes | None) -> tuple[bytes, bool]:
    encap = signed_data["encap_content_info"]
    raw = encap["content"]
    attached = None if isinstance(raw, core.Void) or raw.native is None else raw.native
    if attached is not None and not isinstance(attached, bytes):
        raise MalformedSignatureError("attached content is not an OCTET STRING")
    if attached is None and supplied is None:
        raise MalformedSignatureError(
            "the CMS is detached (it carries no content): give the signed file as well"
        )
    if attached is not None and supplied is not None and attached != supplied:
        raise DigestMismatchError("the content attached to the CMS differs from the given file")
    if attached is not None:
        return attached, True
    assert supplied is not None  # for the type checker: checked above
    return supplied, False


@dataclass(frozen=True)
class _Attributes:
    message_digest: bytes
    signing_time: datetime | None


def _signed_attributes(signer_info: Any, signed_data: Any) -> _Attributes:
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void) or len(attrs) == 0:
        raise MalformedSignatureError(
            "the CMS has no signed attributes (card signatures sign contentType, "
            "messageDigest and signingTime)"
        )
    found: dict[str, Any] = {}
    for attribute in attrs:
        name = attribute["type"].native
        values = attribute["values"]
        if name in found:
            raise MalformedSignatureError(f"signed attribute {name} appears twice")
        if len(values) != 1:
            raise MalformedSignatureError(f"signed attribute {name} must have exactly one value")
        found[name] = values[0].native
    if "message_digest" not in found or "content_type" not in found:
        raise MalformedSignatureError("signed attributes lack messageDigest or contentType")
    expected_type = signed_data["encap_content_info"]["content_type"].native
    if found["content_type"] != expected_type:
        raise MalformedSignatureError(
            f"signed contentType {found['content_type']!r} differs from "
            f"the content's {expected_type!r}"
        )
    message_digest = found["message_digest"]
    signing_time = found.get("signing_time")
    if not isinstance(message_digest, bytes) or (
        signing_time is not None and not isinstance(signing_time, datetime)
    ):
        raise MalformedSignatureError("messageDigest or signingTime has the wrong type")
    return _Attributes(message_digest, signing_time)


def _embedded_certificates(
    signed_data: Any, parse: Callable[[bytes], JPKICertificate] = parse_certificate
) -> list[JPKICertificate]:
    certificates = signed_data["certificates"]
    if isinstance(certificates, core.Void):
        return []
    result: list[JPKICertificate] = []
    for choice in certificates:
        if choice.name != "certificate":
            continue  # attribute/other certificate formats play no part in JPKI
        try:
            result.append(parse(choice.chosen.dump()))
        except CertificateError as exc:
            raise MalformedSignatureError(f"an embedded certificate is unreadable: {exc}") from None
    return result


def _find_signer(sid: Any, candidates: Sequence[JPKICertificate]) -> JPKICertificate:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for cert in candidates:
            if cert.serial_number == serial and cert.asn1.issuer == issuer:
                return cert
        wanted = f"serial 0x{format(serial, 'x')} from {issuer.human_friendly}"
    else:
        key_id = sid.chosen.native
        for cert in candidates:
            if cert.subject_key_identifier == key_id:
                return cert
        wanted = f"subject key identifier {key_id.hex()}"
    raise SignerCertificateMissingError(
        f"the signer certificate ({wanted}) is neither embedded in the CMS nor supplied"
    )


def _verify_rsa(signer: JPKICertificate, signature: bytes, data: bytes) -> None:
    public_key = signer.x509.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError(
            f"the signer certificate has a {signer.public_key_algorithm} key; JPKI signs with RSA"
        )
    if public_key.key_size < MIN_RSA_BITS:
        raise UnsupportedAlgorithmError(
            f"the signer's RSA key has {public_key.key_size} bits; at least {MIN_RSA_BITS} needed"
        )
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise BadSignatureError(
            f"the signature does not verify with the key of certificate serial "
            f"0x{signer.serial_hex} (signature or signed data altered, or a different signer)"
        ) from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
