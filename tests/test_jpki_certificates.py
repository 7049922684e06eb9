"""Parsing JPKI certificates: the public profile is read, personal data only on request."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from devtools.testca import SYNTHETIC_PEOPLE, TEST_OCSP_URL, TestHierarchy
from tests.jpki_fixtures import cert, issue_from_gen01, x509_cert
from verifier.jpki import (
    BasicFourItems,
    CertificateError,
    CertificateKind,
    load_certificates,
    parse_certificate,
    parse_certificates,
    profile_problems,
    read_basic_four_items,
)

pytest_plugins = ["tests.jpki_fixtures"]

SIGN_CA = (
    "C=JP, O=JPKI-TEST, OU=JPKI for digital signature, "
    "OU=Japan Agency for Local Authority Information Systems"
)
AUTH_CA = (
    "C=JP, O=JPKI-TEST, OU=JPKI for user authentication, "
    "OU=Japan Agency for Local Authority Information Systems"
)


def test_signature_certificate_profile_is_read(jpki_hierarchy: TestHierarchy) -> None:
    parsed = cert(jpki_hierarchy.ee_valid_gen01)
    assert parsed.kind is CertificateKind.SIGNATURE
    assert parsed.issuer == SIGN_CA
    assert parsed.serial_number == jpki_hierarchy.ee_valid_gen01.serial
    assert parsed.policy_oids == ("1.2.392.200149.8.5.1.1.20",)
    assert parsed.policies_critical
    assert parsed.key_usage == frozenset({"digital_signature", "non_repudiation"})
    assert parsed.extended_key_usage == ()
    assert parsed.crl_distribution_dirnames == (
        "C=JP, O=JPKI-TEST, OU=JPKI for digital signature, OU=CRL Distribution Points, "
        "OU=Ibaraki-ken, CN=Tsukuba-shi CRLDP",
    )
    assert parsed.crl_distribution_urls == () and parsed.ocsp_urls == ()
    assert not parsed.is_ca
    assert parsed.public_key_algorithm == "rsa" and parsed.public_key_bits == 2048
    assert parsed.signature_hash_algorithm == "sha256"
    assert parsed.not_before == jpki_hierarchy.ee_valid_gen01.not_before
    gen01 = cert(jpki_hierarchy.sign_ca_gen01)
    assert parsed.authority_key_identifier == gen01.subject_key_identifier
    assert profile_problems(parsed) == []


def test_user_authentication_certificate_profile_is_read(jpki_hierarchy: TestHierarchy) -> None:
    parsed = cert(jpki_hierarchy.ee_user_auth)
    assert parsed.kind is CertificateKind.USER_AUTHENTICATION
    assert parsed.issuer == AUTH_CA
    assert parsed.extended_key_usage == ("1.3.6.1.5.5.7.3.2",)
    assert parsed.key_usage == frozenset({"digital_signature"})
    assert parsed.ocsp_urls == (TEST_OCSP_URL,)
    assert profile_problems(parsed) == []


def test_ca_certificates_have_no_jpki_kind(jpki_hierarchy: TestHierarchy) -> None:
    gen02 = cert(jpki_hierarchy.sign_ca_gen02)
    assert gen02.kind is CertificateKind.UNKNOWN
    assert gen02.is_ca and gen02.is_self_signed
    assert gen02.key_usage == frozenset({"key_cert_sign", "crl_sign"})
    assert "no JPKI certificate policy" in profile_problems(gen02)[0]


def test_der_pem_and_bundles_parse_alike(jpki_hierarchy: TestHierarchy) -> None:
    pem = jpki_hierarchy.ee_valid_gen02.cert.read_bytes()
    der = x509_cert(jpki_hierarchy.ee_valid_gen02).public_bytes(serialization.Encoding.DER)
    assert parse_certificate(pem) == parse_certificate(der)
    assert parse_certificate(der).der == der
    bundle = pem + jpki_hierarchy.sign_ca_gen02.cert.read_bytes()
    assert [c.serial_number for c in parse_certificates(bundle)] == [
        jpki_hierarchy.ee_valid_gen02.serial,
        jpki_hierarchy.sign_ca_gen02.serial,
    ]
    with pytest.raises(CertificateError, match="exactly one certificate, found 2"):
        parse_certificate(bundle)


@pytest.mark.parametrize(
    "data", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"-----BEGIN CERTIFICATE-----\nAAAA\n"]
)
def test_garbage_is_a_certificate_error(data: bytes) -> None:
    with pytest.raises(CertificateError, match=r"not a DER or PEM X\.509 certificate"):
        parse_certificate(data)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(CertificateError, match=r"cannot read certificate file .*nope\.pem"):
        load_certificates([missing])


def _personal_strings(jpki_hierarchy: TestHierarchy, role: str) -> list[str]:
    person = SYNTHETIC_PEOPLE[role]
    issued = getattr(jpki_hierarchy, "ee_" + role.removeprefix("sign-ee-").replace("-", "_"))
    subject = x509_cert(issued).subject
    common_name = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(common_name, str)
    return [person.name, person.address, person.date_of_birth, "Tsukuba-shi", common_name]


@pytest.mark.parametrize("role", ["sign-ee-valid-gen01", "sign-ee-revoked"])
def test_default_views_hold_no_personal_data(jpki_hierarchy: TestHierarchy, role: str) -> None:
    issued = getattr(jpki_hierarchy, "ee_" + role.removeprefix("sign-ee-").replace("-", "_"))
    parsed = cert(issued)
    views = [
        repr(parsed),
        str(parsed),
        json.dumps(parsed.as_public_dict(), ensure_ascii=False),
        f"{parsed}",
        repr([parsed]),
    ]
    for text in views:
        for secret in _personal_strings(jpki_hierarchy, role):
            assert secret not in text, (secret, text)
    # ...while still identifying the certificate.
    assert parsed.serial_hex in repr(parsed)
    assert parsed.as_public_dict()["sha256"] == parsed.sha256


def test_basic_four_items_are_decoded_on_request(jpki_hierarchy: TestHierarchy) -> None:
    person = SYNTHETIC_PEOPLE["sign-ee-valid-gen02"]
    items = read_basic_four_items(cert(jpki_hierarchy.ee_valid_gen02))
    assert isinstance(items, BasicFourItems)
    assert items.name == person.name == "試験 花子"
    assert items.sex == "2"
    assert items.date_of_birth_raw == "419920202"
    assert items.date_of_birth == date(1992, 2, 2)
    assert items.address == person.address
    assert items.name_substitute_flag == "" and items.address_substitute_flag == ""
    for text in (repr(items), str(items), repr([items])):
        assert person.name not in text and person.address not in text and "1992" not in text


def test_user_authentication_certificate_has_no_basic_four(jpki_hierarchy: TestHierarchy) -> None:
    assert read_basic_four_items(cert(jpki_hierarchy.ee_user_auth)) is None


def test_profile_problems_name_each_deviation(jpki_hierarchy: TestHierarchy) -> None:
    problems = profile_problems(
        parse_certificate(
            issue_from_gen01(jpki_hierarchy, non_repudiation=False, policy_critical=False)
        )
    )
    assert problems == [
        "signature certificate policy extension is not critical",
        "key usage lacks non_repudiation",
    ]
    ec_problems = profile_problems(parse_certificate(issue_from_gen01(jpki_hierarchy, ec_key=True)))
    assert ec_problems == ["key is not RSA with at least 2048 bits"]


def test_basic_four_item_that_is_not_a_string_is_refused(jpki_hierarchy: TestHierarchy) -> None:
    integer_der = b"\x02\x01\x05"
    bad = parse_certificate(issue_from_gen01(jpki_hierarchy, san_value=integer_der))
    with pytest.raises(CertificateError, match=r"1\.2\.392\.200149\.8\.5\.5\.1 is not an ASN\.1"):
        read_basic_four_items(bad)
