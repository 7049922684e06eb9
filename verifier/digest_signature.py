"""JPKI signatures checked against the document's SHA-256 alone, without the document.

A relying party may hold only the digest (``notary verify --digest``), and a bundle never
carries the document. Both signature forms allow that: a detached CMS signs the document
through its messageDigest attribute, and a raw PKCS#1 v1.5 signature signs a SHA-256
DigestInfo. The CMS profile checks are `verifier.jpki.signatures`' own (same helpers, same
errors); only the content step differs: compare messageDigest with the given digest.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

from asn1crypto import core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from verifier.jpki import (
    BadSignatureError,
    JPKICertificate,
    MalformedSignatureError,
    SignatureError,
    SignedContent,
    UnsupportedAlgorithmError,
    parse_certificate,
)
from verifier.jpki.certificates import MIN_RSA_BITS
from verifier.jpki.cms_fast import verify_detached

# The CMS profile checks of verifier.jpki, reused so that both paths refuse the same inputs.
from verifier.jpki.signatures import (
    _ASN1_ERRORS,
    _check_algorithms,
    _checked_content,
    _embedded_certificates,
    _find_signer,
    _load_signed_data,
    _short,
    _signed_attributes,
    _single_signer,
)

SHA256_SIZE: Final = 32


@functools.lru_cache(maxsize=512)
def certificate_from_der(der: bytes) -> JPKICertificate:
    """Parse a certificate once per process: bundles from one signer repeat the same bytes.

    JPKICertificate is immutable, so sharing one parsed object is safe.
    """
    return parse_certificate(der)


def verify_cms_digest(
    cms_der: bytes,
    document_sha256: bytes,
    *,
    extra_certificates: Sequence[JPKICertificate] = (),
) -> SignedContent:
    """Verify a detached card-style CMS SignedData whose messageDigest must be `document_sha256`.

    A CMS that carries the content itself is refused: a proof bundle must not contain the
    document (it is personal data). The plain card profile is read by `cms_fast` in one DER
    walk; whatever that does not accept takes the asn1crypto path below, which alone refuses.
    """
    _check_digest(document_sha256)
    fast = verify_detached(cms_der, document_sha256, certificate_from_der, extra_certificates)
    if fast is not None:
        return fast  # the plain card profile, verified
    return verify_cms_digest_full(cms_der, document_sha256, extra_certificates=extra_certificates)


def verify_cms_digest_full(
    cms_der: bytes,
    document_sha256: bytes,
    *,
    extra_certificates: Sequence[JPKICertificate] = (),
) -> SignedContent:
    """`verify_cms_digest` on asn1crypto alone: every profile, every refusal and its message."""
    _check_digest(document_sha256)
    info = _load_signed_data(cms_der)
    try:
        signed_data = info["content"]
        signer_info = _single_signer(signed_data)
        _check_algorithms(signer_info)
        _require_detached_data(signed_data)
        attributes = _signed_attributes(signer_info, signed_data)
        embedded = _embedded_certificates(signed_data, certificate_from_der)
        signer = _find_signer_fast(signer_info["sid"], [*embedded, *extra_certificates])
        signed_bytes = signer_info["signed_attrs"].untag().dump()
        signature = signer_info["signature"].native
    except SignatureError:
        raise
    except _ASN1_ERRORS as exc:
        raise MalformedSignatureError(f"CMS SignedData is malformed ({_short(exc)})") from None
    return _checked_content(
        document_sha256, attributes, signer, signature, signed_bytes, embedded, False,
        "the signature was made over a different document",
    )  # fmt: skip


def verify_pkcs1_digest(signature: bytes, document_sha256: bytes, cert: JPKICertificate) -> None:
    """Verify a bare RSA PKCS#1 v1.5 signature over the SHA-256 DigestInfo `document_sha256`."""
    _check_digest(document_sha256)
    public_key = cert.x509.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError(
            f"the signer certificate has a {cert.public_key_algorithm} key; JPKI signs with RSA"
        )
    if public_key.key_size < MIN_RSA_BITS:
        raise UnsupportedAlgorithmError(
            f"the signer's RSA key has {public_key.key_size} bits; at least {MIN_RSA_BITS} needed"
        )
    try:
        public_key.verify(
            signature, document_sha256, padding.PKCS1v15(), Prehashed(hashes.SHA256())
        )
    except InvalidSignature:
        raise BadSignatureError(
            f"the signature does not verify with the key of certificate serial "
            f"0x{cert.serial_hex} over this document (document altered or a different signer)"
        ) from None


def _find_signer_fast(sid: Any, candidates: Sequence[JPKICertificate]) -> JPKICertificate:
    """`_find_signer`, first trying byte-identical issuer names.

    asn1crypto compares names after LDAP string preparation, which costs more than the RSA
    verification; the signer's certificate normally carries the issuer name byte for byte as
    the CMS does, so that comparison settles it. Anything else gets the full comparison (and
    its error message).
    """
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for cert in candidates:
            if cert.serial_number == serial and cert.asn1.issuer.dump() == issuer:
                return cert
    return _find_signer(sid, candidates)


def _check_digest(document_sha256: bytes) -> None:
    if not isinstance(document_sha256, bytes) or len(document_sha256) != SHA256_SIZE:
        raise SignatureError("the document digest must be the 32-byte SHA-256 of the document")


def _require_detached_data(signed_data: Any) -> None:
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "data":
        raise MalformedSignatureError(
            f"the CMS signs content of type {encap['content_type'].native!r}, not data"
        )
    content = encap["content"]
    if not (isinstance(content, core.Void) or content.native is None):
        raise MalformedSignatureError(
            "the CMS carries the document inside it; a proof bundle holds detached signatures "
            "only (the document is personal data)"
        )
