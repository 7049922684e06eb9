"""Card-like CMS and raw PKCS#1 v1.5 signatures: what verifies, and each way it must not."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms

from devtools.cms_sign import sign_cms, sign_raw
from devtools.testca import Issued, TestHierarchy
from tests.jpki_fixtures import all_crls, anchors, cert, key, x509_cert
from verifier.jpki import (
    BadSignatureError,
    DigestMismatchError,
    MalformedSignatureError,
    SignatureError,
    SignerCertificateMissingError,
    UnsupportedAlgorithmError,
    check_signer,
    verify_cms,
    verify_raw,
)

pytest_plugins = ["tests.jpki_fixtures"]

DOCUMENT = "住民票の写し (synthetic test document)\n".encode()


def _sign(
    h: TestHierarchy,
    issued: Issued | None = None,
    *,
    content: bytes = DOCUMENT,
    at: datetime | None = None,
    **options: Any,
) -> bytes:
    issued = issued or h.ee_valid_gen02
    ca = h.sign_ca_gen01 if issued.issuer_role == "sign-ca-gen01" else h.sign_ca_gen02
    return sign_cms(
        content,
        key=key(issued),
        cert=x509_cert(issued),
        chain=[x509_cert(ca)],
        signing_time=at or h.now - timedelta(hours=1),
        **options,
    )


def _mutate(der: bytes, change: Callable[[Any], None]) -> bytes:
    info = cms.ContentInfo.load(der)
    change(info["content"])
    return bytes(info.dump(force=True))


def test_reencoding_alone_keeps_the_signature_valid(jpki_hierarchy: TestHierarchy) -> None:
    # Guards the mutation tests below: only the deliberate change can break them.
    der = _mutate(_sign(jpki_hierarchy), lambda signed_data: None)
    assert verify_cms(der, DOCUMENT).signer_cert == cert(jpki_hierarchy.ee_valid_gen02)


def test_detached_cms_verifies_and_reports_signer_and_time(jpki_hierarchy: TestHierarchy) -> None:
    at = datetime(2026, 4, 1, 3, 4, 5, tzinfo=UTC)
    signed = verify_cms(_sign(jpki_hierarchy, at=at), DOCUMENT)
    assert signed.signer_cert == cert(jpki_hierarchy.ee_valid_gen02)
    assert signed.signing_time == at
    assert signed.content_sha256 == hashlib.sha256(DOCUMENT).hexdigest()
    assert not signed.content_attached
    assert {c.serial_number for c in signed.embedded_certs} == {
        jpki_hierarchy.ee_valid_gen02.serial,
        jpki_hierarchy.sign_ca_gen02.serial,
    }


def test_attached_cms_verifies_without_separate_content(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy, attach=True)
    assert verify_cms(der).content_attached
    assert verify_cms(der, DOCUMENT).content_attached
    with pytest.raises(DigestMismatchError, match="differs from the given file"):
        verify_cms(der, DOCUMENT + b"x")


def test_signer_found_by_subject_key_identifier(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy, identify_by="key_id")
    sid = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["sid"]
    assert sid.name == "subject_key_identifier"
    assert verify_cms(der, DOCUMENT).signer_cert == cert(jpki_hierarchy.ee_valid_gen02)


def test_tampered_content_is_a_digest_mismatch(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy)
    with pytest.raises(DigestMismatchError, match="messageDigest mismatch"):
        verify_cms(der, DOCUMENT.replace(b"synthetic", b"Synthetic"))


def test_tampered_signature_is_a_bad_signature(jpki_hierarchy: TestHierarchy) -> None:
    def flip(signed_data: Any) -> None:
        signer_info = signed_data["signer_infos"][0]
        value = bytearray(signer_info["signature"].native)
        value[17] ^= 0x01
        signer_info["signature"] = bytes(value)

    with pytest.raises(BadSignatureError, match="does not verify"):
        verify_cms(_mutate(_sign(jpki_hierarchy), flip), DOCUMENT)


def test_tampered_signed_time_is_a_bad_signature(jpki_hierarchy: TestHierarchy) -> None:
    def backdate(signed_data: Any) -> None:
        for attribute in signed_data["signer_infos"][0]["signed_attrs"]:
            if attribute["type"].native == "signing_time":
                attribute["values"] = [cms.Time({"utc_time": datetime(2020, 1, 1, tzinfo=UTC)})]

    with pytest.raises(BadSignatureError):
        verify_cms(_mutate(_sign(jpki_hierarchy), backdate), DOCUMENT)


def test_certificate_swapped_for_another_holder_is_a_bad_signature(
    jpki_hierarchy: TestHierarchy,
) -> None:
    # Signed with valid-gen02's key but claiming valid-gen01's certificate.
    forged = sign_cms(
        DOCUMENT,
        key=key(jpki_hierarchy.ee_valid_gen02),
        cert=x509_cert(jpki_hierarchy.ee_valid_gen01),
        signing_time=jpki_hierarchy.now,
    )
    with pytest.raises(BadSignatureError):
        verify_cms(forged, DOCUMENT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"garbage", "not a DER CMS structure"),
        (b"\x30\x03\x02\x01\x01", "not a DER CMS structure"),
    ],
)
def test_garbage_is_a_clear_signature_error(data: bytes, message: str) -> None:
    with pytest.raises(MalformedSignatureError, match=message):
        verify_cms(data, DOCUMENT)


def test_truncated_and_padded_cms_are_malformed(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy)
    for broken in (der[: len(der) // 2], der[:-1], der + b"\x00"):
        with pytest.raises(MalformedSignatureError):
            verify_cms(broken, DOCUMENT)


def test_base64_input_gets_a_hint(jpki_hierarchy: TestHierarchy) -> None:
    with pytest.raises(MalformedSignatureError, match="PEM or base64"):
        verify_cms(base64.b64encode(_sign(jpki_hierarchy)), DOCUMENT)


def test_detached_cms_without_content_is_refused(jpki_hierarchy: TestHierarchy) -> None:
    with pytest.raises(MalformedSignatureError, match="give the signed file as well"):
        verify_cms(_sign(jpki_hierarchy))


def test_missing_signer_certificate(jpki_hierarchy: TestHierarchy) -> None:
    def strip(signed_data: Any) -> None:
        signed_data["certificates"] = cms.CertificateSet([])

    der = _mutate(_sign(jpki_hierarchy), strip)
    with pytest.raises(SignerCertificateMissingError, match="neither embedded"):
        verify_cms(der, DOCUMENT)
    signer = cert(jpki_hierarchy.ee_valid_gen02)
    assert verify_cms(der, DOCUMENT, extra_certificates=[signer]).signer_cert == signer


@pytest.mark.parametrize(
    ("field", "algorithm", "message"),
    [
        ("digest_algorithm", "sha1", "digest algorithm 'sha1'"),
        ("digest_algorithm", "sha512", "digest algorithm 'sha512'"),
        ("signature_algorithm", "rsassa_pss", "signature algorithm 'rsassa_pss'"),
        ("signature_algorithm", "sha256_ecdsa", "signature algorithm 'sha256_ecdsa'"),
    ],
)
def test_other_algorithms_are_unsupported(
    jpki_hierarchy: TestHierarchy, field: str, algorithm: str, message: str
) -> None:
    def swap(signed_data: Any) -> None:
        signed_data["signer_infos"][0][field] = {"algorithm": algorithm}

    with pytest.raises(UnsupportedAlgorithmError, match=message):
        verify_cms(_mutate(_sign(jpki_hierarchy), swap), DOCUMENT)


def test_missing_signed_attributes_are_refused(jpki_hierarchy: TestHierarchy) -> None:
    def drop(signed_data: Any) -> None:
        signed_data["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes([])

    with pytest.raises(MalformedSignatureError, match="no signed attributes"):
        verify_cms(_mutate(_sign(jpki_hierarchy), drop), DOCUMENT)


def test_two_signers_are_refused(jpki_hierarchy: TestHierarchy) -> None:
    def duplicate(signed_data: Any) -> None:
        signer_info = signed_data["signer_infos"][0]
        signed_data["signer_infos"] = [signer_info, signer_info.copy()]

    with pytest.raises(MalformedSignatureError, match="exactly one signer"):
        verify_cms(_mutate(_sign(jpki_hierarchy), duplicate), DOCUMENT)


def test_not_signed_data_is_refused() -> None:
    data = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    with pytest.raises(MalformedSignatureError, match="not signed_data"):
        verify_cms(data, b"hello")


def test_raw_pkcs1_signature(jpki_hierarchy: TestHierarchy) -> None:
    signature = sign_raw(DOCUMENT, key(jpki_hierarchy.ee_valid_gen01))
    at = jpki_hierarchy.now - timedelta(minutes=5)
    signer = cert(jpki_hierarchy.ee_valid_gen01)
    signed = verify_raw(signature, DOCUMENT, signer, signing_time=at)
    assert signed.signer_cert == signer and signed.signing_time == at
    assert signed.embedded_certs == ()
    pem = jpki_hierarchy.ee_valid_gen01.cert.read_bytes()
    assert verify_raw(signature, DOCUMENT, pem).signing_time is None
    with pytest.raises(BadSignatureError):
        verify_raw(signature, DOCUMENT + b"!", signer)
    with pytest.raises(BadSignatureError):
        verify_raw(signature[:-1] + bytes([signature[-1] ^ 1]), DOCUMENT, signer)
    with pytest.raises(BadSignatureError):
        verify_raw(signature, DOCUMENT, cert(jpki_hierarchy.ee_valid_gen02))
    with pytest.raises(SignatureError, match="time zone"):
        verify_raw(signature, DOCUMENT, signer, signing_time=datetime(2026, 1, 1))


def test_raw_signature_with_non_rsa_certificate_is_unsupported(
    jpki_hierarchy: TestHierarchy,
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from verifier.jpki import parse_certificate

    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "EC-TEST")])
    ec_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(jpki_hierarchy.now)
        .not_valid_after(jpki_hierarchy.now + timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    with pytest.raises(UnsupportedAlgorithmError, match="JPKI signs with RSA"):
        verify_raw(b"\x00" * 64, DOCUMENT, parse_certificate(ec_cert))


@pytest.mark.parametrize(("before_revocation", "expected"), [(True, "valid"), (False, "revoked")])
def test_signature_then_signer_check_end_to_end(
    jpki_hierarchy: TestHierarchy, before_revocation: bool, expected: str
) -> None:
    offset = -timedelta(hours=2) if before_revocation else timedelta(hours=2)
    der = _sign(jpki_hierarchy, jpki_hierarchy.ee_revoked, at=jpki_hierarchy.revoked_at + offset)
    signed = verify_cms(der, DOCUMENT)
    assert signed.signing_time is not None
    result = check_signer(
        signed.signer_cert,
        signing_time=signed.signing_time,
        trust_anchors=anchors(jpki_hierarchy),
        intermediates=signed.embedded_certs,
        revocation=all_crls(jpki_hierarchy),
    )
    assert result.status == expected, result.reason


def test_embedded_fake_ca_does_not_make_its_signer_trusted(jpki_hierarchy: TestHierarchy) -> None:
    der = sign_cms(
        DOCUMENT,
        key=key(jpki_hierarchy.ee_fake),
        cert=x509_cert(jpki_hierarchy.ee_fake),
        chain=[x509_cert(jpki_hierarchy.fake_ca)],
        signing_time=jpki_hierarchy.now - timedelta(hours=1),
    )
    signed = verify_cms(der, DOCUMENT)  # the signature itself is intact...
    assert signed.signing_time is not None
    result = check_signer(  # ...but the embedded self-signed "CA" is no trust anchor.
        signed.signer_cert,
        signing_time=signed.signing_time,
        trust_anchors=anchors(jpki_hierarchy),
        intermediates=signed.embedded_certs,
        revocation=all_crls(jpki_hierarchy),
    )
    assert result.status == "untrusted"
