"""The JPKI-TEST hierarchy has the production profile, and leaks nothing it should not."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from devtools.testca import (
    SYNTHETIC_PEOPLE,
    TEST_OCSP_URL,
    TestCAError,
    TestHierarchy,
    generate_test_hierarchy,
    sign_ca_name,
)
from tests.jpki_fixtures import x509_cert
from verifier.jpki.certificates import SIGNATURE_POLICY_OID, USER_AUTHENTICATION_POLICY_OID

pytest_plugins = ["tests.jpki_fixtures"]

SIGN_CA_DN = (
    "C=JP, O=JPKI-TEST, OU=JPKI for digital signature, "
    "OU=Japan Agency for Local Authority Information Systems"
)


def _dn(name: x509.Name) -> str:
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


def _public_key_der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_sign_ca_generations_share_the_dn_but_not_the_key(jpki_hierarchy: TestHierarchy) -> None:
    gen01 = x509_cert(jpki_hierarchy.sign_ca_gen01)
    gen02 = x509_cert(jpki_hierarchy.sign_ca_gen02)
    fake = x509_cert(jpki_hierarchy.fake_ca)
    assert _dn(gen01.subject) == _dn(gen02.subject) == _dn(fake.subject) == SIGN_CA_DN
    keys = {_public_key_der(c) for c in (gen01, gen02, fake)}
    assert len(keys) == 3
    for ca in (gen01, gen02, fake):
        assert ca.subject == ca.issuer  # single-tier, self-signed
        ca.verify_directly_issued_by(ca)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ca.public_key().key_size == 2048
        assert ca.signature_hash_algorithm is not None
        assert ca.signature_hash_algorithm.name == "sha256"


def test_signature_ee_follows_the_jpki_profile(jpki_hierarchy: TestHierarchy) -> None:
    ee = x509_cert(jpki_hierarchy.ee_valid_gen01)
    gen01 = x509_cert(jpki_hierarchy.sign_ca_gen01)
    ee.verify_directly_issued_by(gen01)
    subject = ee.subject
    assert [a.oid for a in subject] == [
        NameOID.COUNTRY_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.COMMON_NAME,
    ]
    assert [a.value for a in subject][:3] == ["JP", "Ibaraki-ken", "Tsukuba-shi"]
    usage = ee.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    policies = ee.extensions.get_extension_for_class(x509.CertificatePolicies)
    assert policies.critical
    assert [p.policy_identifier.dotted_string for p in policies.value] == [SIGNATURE_POLICY_OID]
    points = ee.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    names = [n for p in points for n in (p.full_name or [])]
    assert len(names) == 1 and isinstance(names[0], x509.DirectoryName)
    assert ",".join(r.rfc4514_string() for r in names[0].value.rdns) == (
        "C=JP,O=JPKI-TEST,OU=JPKI for digital signature,OU=CRL Distribution Points,"
        "OU=Ibaraki-ken,CN=Tsukuba-shi CRLDP"
    )
    aki = ee.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = gen01.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    san = ee.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    oids = sorted(o.type_id.dotted_string for o in san.get_values_for_type(x509.OtherName))
    assert oids == [f"1.2.392.200149.8.5.5.{i}" for i in range(1, 7)]


def test_user_auth_ee_has_no_personal_data(jpki_hierarchy: TestHierarchy) -> None:
    ee = x509_cert(jpki_hierarchy.ee_user_auth)
    ee.verify_directly_issued_by(x509_cert(jpki_hierarchy.auth_ca))
    assert [a.oid for a in ee.subject] == [NameOID.COUNTRY_NAME, NameOID.COMMON_NAME]
    common_name = ee.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(common_name, str) and len(common_name) == 23
    with pytest.raises(x509.ExtensionNotFound):
        ee.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    eku = ee.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = ee.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment
    policies = ee.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [USER_AUTHENTICATION_POLICY_OID]
    access = ee.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in access] == [
        (AuthorityInformationAccessOID.OCSP, TEST_OCSP_URL)
    ]


def test_validity_windows_are_relative_to_now(jpki_hierarchy: TestHierarchy) -> None:
    now = jpki_hierarchy.now
    for issued in (
        jpki_hierarchy.ee_valid_gen01,
        jpki_hierarchy.ee_valid_gen02,
        jpki_hierarchy.ee_revoked,
    ):
        assert issued.not_before < now < issued.not_after
    assert jpki_hierarchy.ee_expired.not_after < now
    assert jpki_hierarchy.ee_not_yet_valid.not_before > now
    assert jpki_hierarchy.revoked_at == now - timedelta(days=1)


def test_revoked_crl_lists_the_revoked_ee_and_is_signed_by_its_generation(
    jpki_hierarchy: TestHierarchy,
) -> None:
    crl = x509.load_der_x509_crl(jpki_hierarchy.crl_gen02_tsukuba.path.read_bytes())
    gen01 = x509_cert(jpki_hierarchy.sign_ca_gen01)
    gen02 = x509_cert(jpki_hierarchy.sign_ca_gen02)
    assert crl.is_signature_valid(gen02.public_key())  # type: ignore[arg-type]
    assert not crl.is_signature_valid(gen01.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(jpki_hierarchy.ee_revoked.serial)
    assert entry is not None
    assert entry.revocation_date_utc == jpki_hierarchy.revoked_at
    assert len(list(crl)) == 1
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical
    empty = x509.load_der_x509_crl(jpki_hierarchy.crl_gen01_tsukuba.path.read_bytes())
    assert len(list(empty)) == 0 and empty.is_signature_valid(gen01.public_key())  # type: ignore[arg-type]


def test_fake_ee_is_signed_by_the_fake_ca_only(jpki_hierarchy: TestHierarchy) -> None:
    fake_ee = x509_cert(jpki_hierarchy.ee_fake)
    fake_ee.verify_directly_issued_by(x509_cert(jpki_hierarchy.fake_ca))
    for genuine in (jpki_hierarchy.sign_ca_gen01, jpki_hierarchy.sign_ca_gen02):
        with pytest.raises(Exception):  # noqa: B017 - InvalidSignature
            fake_ee.verify_directly_issued_by(x509_cert(genuine))
    forged = x509_cert(jpki_hierarchy.ee_fake_forged_aki)
    aki = forged.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    gen01_ski = (
        x509_cert(jpki_hierarchy.sign_ca_gen01)
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest
    )
    assert aki.key_identifier == gen01_ski  # claims gen01, signed by the fake


def test_private_keys_are_owner_only(jpki_hierarchy: TestHierarchy) -> None:
    keys = sorted(jpki_hierarchy.out_dir.rglob("*.key"))
    assert len(keys) == len(jpki_hierarchy.all_issued) == 20
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_manifest_describes_every_file_without_personal_data(jpki_hierarchy: TestHierarchy) -> None:
    text = jpki_hierarchy.manifest.read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert manifest["organisation"] == "JPKI-TEST" and manifest["synthetic"] is True
    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = {
        p.relative_to(jpki_hierarchy.out_dir).as_posix()
        for p in jpki_hierarchy.out_dir.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    by_role = {(e["role"], e["type"]): e for e in manifest["files"]}
    revoked = by_role[("sign-ee-revoked", "certificate")]
    assert revoked["serial"] == jpki_hierarchy.ee_revoked.serial_hex
    assert revoked["issuer_role"] == "sign-ca-gen02"
    assert by_role[("crl-sign-gen02-tsukuba", "crl")]["revoked_serials"] == [
        jpki_hierarchy.ee_revoked.serial_hex
    ]
    for person in SYNTHETIC_PEOPLE.values():
        for item in (person.name, person.address, person.date_of_birth):
            assert item not in text
    for entry in manifest["files"]:
        assert "subject" not in entry


def test_regenerating_into_the_same_folder_keeps_keys_private(tmp_path: Path) -> None:
    key = tmp_path / "ee" / "sign-ee-valid-gen01.key"
    key.parent.mkdir(parents=True)
    key.write_text("stale")
    os.chmod(key, 0o644)
    now = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)
    result = generate_test_hierarchy(tmp_path, now)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert result.now == now
    assert x509_cert(result.sign_ca_gen01).subject == sign_ca_name()


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TestCAError, match="cannot write the test hierarchy"):
        generate_test_hierarchy(blocker)
