"""Synthetic JPKI-TEST and LGPKI-TEST hierarchies: the fixtures a verifier must get right.

JPKI-TEST mirrors the production profile (single-tier self-signed roots, two sign-CA generations
with one DN, DirName CRL distribution points split per municipality, basic four items in the
subjectAltName) under the organisation ``O=JPKI-TEST``, with smartphone certificates
(スマホ用電子証明書) marked by the test smartphone policy. LGPKI-TEST is an organisational CA
(``O=LGPKI-TEST``) issuing municipal seal certificates (職責証明書: an office, never a person)
bound to a local government by organizationIdentifier ``LGCJP-<code>``. Nothing either writes
can be taken for a production certificate; all personal data is invented. Private keys are
written with mode 0600 and exist only in the output folder: never commit them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from protocol.signers import (
    SEAL_POLICY_OIDS,
    SMARTPHONE_POLICY_OIDS,
    seal_organization_identifier,
)
from verifier.jpki import basic_four
from verifier.jpki.certificates import SIGNATURE_POLICY_OID, USER_AUTHENTICATION_POLICY_OID
from verifier.jpki.errors import JPKIError

ORGANISATION: Final = "JPKI-TEST"
AGENCY_OU: Final = "Japan Agency for Local Authority Information Systems"
SIGN_OU: Final = "JPKI for digital signature"
AUTH_OU: Final = "JPKI for user authentication"
TEST_OCSP_URL: Final = "http://ocsp.jpki-test.invalid/"
"""AIA OCSP URL of the test user-authentication certificate (.invalid never resolves)."""

LGPKI_ORGANISATION: Final = "LGPKI-TEST"
LGPKI_CA_OU: Final = "Organization CA"
SEAL_POLICY_OID: Final = SEAL_POLICY_OIDS[0]
SMARTPHONE_POLICY_OID: Final = SMARTPHONE_POLICY_OIDS[0]

KEY_BITS: Final = 2048
_DAY: Final = timedelta(days=1)


class TestCAError(JPKIError):
    """The synthetic JPKI-TEST hierarchy could not be written."""

    __test__ = False  # not a pytest test class despite the name


@dataclass(frozen=True)
class Municipality:
    prefecture: str
    city: str


TSUKUBA: Final = Municipality("Ibaraki-ken", "Tsukuba-shi")
IIZUKA: Final = Municipality("Fukuoka-ken", "Iizuka-shi")


@dataclass(frozen=True)
class SealHolder:
    """A local government and the office (職責) its seal certificate is issued to."""

    municipality: str
    lg_code: int
    title: str

    @property
    def common_name(self) -> str:
        return f"{self.municipality} {self.title}"


CHIYODA_MAYOR: Final = SealHolder("Chiyoda-ku", 131016, "Mayor")
"""The seal of the demo municipality (131016, the code the tests and vectors use)."""
TSUKUBA_MAYOR: Final = SealHolder("Tsukuba-shi", 82201, "Mayor")
CHIYODA_REGISTRAR: Final = SealHolder("Chiyoda-ku", 131016, "Director of Resident Affairs")


@dataclass(frozen=True, repr=False)
class SyntheticPerson:
    """Invented basic four items; `date_of_birth` is era digit (JIS X 0301) + YYYYMMDD."""

    name: str
    sex: str
    date_of_birth: str
    address: str
    name_substitute: str = ""
    address_substitute: str = ""


SYNTHETIC_PEOPLE: Final[dict[str, SyntheticPerson]] = {
    "sign-ee-valid-gen01": SyntheticPerson(
        "試験 太郎", "1", "419900101", "茨城県つくば市試験町一丁目1番地"
    ),
    "sign-ee-valid-gen02": SyntheticPerson(
        "試験 花子", "2", "419920202", "福岡県飯塚市検証町二丁目2番地"
    ),
    "sign-ee-revoked": SyntheticPerson(
        "試験 次郎", "1", "319850303", "茨城県つくば市試験町三丁目3番地"
    ),
    "sign-ee-expired": SyntheticPerson(
        "試験 三郎", "1", "319700404", "茨城県つくば市試験町四丁目4番地"
    ),
    "sign-ee-not-yet-valid": SyntheticPerson(
        "試験 桃子", "2", "520200505", "福岡県飯塚市検証町五丁目5番地"
    ),
    "sign-ee-fake-ca": SyntheticPerson(
        "偽造 一郎", "1", "420000606", "茨城県つくば市偽造町六丁目6番地"
    ),
    "sign-ee-fake-ca-forged-aki": SyntheticPerson(
        "偽造 二郎", "1", "420010707", "茨城県つくば市偽造町七丁目7番地"
    ),
    "sign-ee-smartphone": SyntheticPerson(
        "試験 携帯", "2", "420030808", "福岡県飯塚市検証町八丁目8番地"
    ),
}
"""Test people, by role. The manifest never repeats these; only the certificates hold them."""


def sign_ca_name(organisation: str = ORGANISATION) -> x509.Name:
    """The DN every sign-CA generation shares (and the fake CA copies)."""
    return _name(("C", "JP"), ("O", organisation), ("OU", SIGN_OU), ("OU", AGENCY_OU))


def auth_ca_name(organisation: str = ORGANISATION) -> x509.Name:
    return _name(("C", "JP"), ("O", organisation), ("OU", AUTH_OU), ("OU", AGENCY_OU))


def crl_distribution_point_name(purpose_ou: str, place: Municipality) -> x509.Name:
    """``C=JP,O=JPKI-TEST,OU=<purpose>,OU=CRL Distribution Points,OU=<pref>,CN=<city> CRLDP``."""
    return _name(
        ("C", "JP"),
        ("O", ORGANISATION),
        ("OU", purpose_ou),
        ("OU", "CRL Distribution Points"),
        ("OU", place.prefecture),
        ("CN", f"{place.city} CRLDP"),
    )


def lgpki_ca_name(organisation: str = LGPKI_ORGANISATION) -> x509.Name:
    """The organisational CA's DN (the fake LGPKI CA copies it)."""
    return _name(("C", "JP"), ("O", organisation), ("OU", LGPKI_CA_OU))


def lgpki_crl_distribution_point_name() -> x509.Name:
    return _name(
        ("C", "JP"),
        ("O", LGPKI_ORGANISATION),
        ("OU", LGPKI_CA_OU),
        ("OU", "CRL Distribution Points"),
        ("CN", "Organization CA CRLDP"),
    )


def seal_subject(holder: SealHolder) -> x509.Name:
    """``C=JP, O=LGPKI-TEST, L=<municipality>, organizationIdentifier=LGCJP-<code>,
    title=<office>, CN=<municipality office>``: an office, no person."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, LGPKI_ORGANISATION),
            x509.NameAttribute(NameOID.LOCALITY_NAME, holder.municipality),
            x509.NameAttribute(
                NameOID.ORGANIZATION_IDENTIFIER, seal_organization_identifier(holder.lg_code)
            ),
            x509.NameAttribute(NameOID.TITLE, holder.title),
            x509.NameAttribute(NameOID.COMMON_NAME, holder.common_name),
        ]
    )


_ATTRIBUTES: Final = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "CN": NameOID.COMMON_NAME,
}


def _name(*pairs: tuple[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_ATTRIBUTES[kind], value) for kind, value in pairs])


@dataclass(frozen=True)
class Issued:
    """A certificate written to disk, with its key file and the facts tests need."""

    role: str
    cert: Path
    key: Path
    serial: int
    not_before: datetime
    not_after: datetime
    issuer_role: str | None

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")


@dataclass(frozen=True)
class CRLEntry:
    """One revoked certificate of a test CRL."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.affiliation_changed
    invalid_since: datetime | None = None


@dataclass(frozen=True)
class CRLFile:
    role: str
    path: Path
    issuer_role: str
    distribution_point: str
    revoked_serials: tuple[int, ...]


@dataclass(frozen=True)
class TestHierarchy:
    """Paths of everything `generate_test_hierarchy` wrote, by role."""

    __test__ = False  # not a pytest test class despite the name

    out_dir: Path
    manifest: Path
    now: datetime
    revoked_at: datetime
    sign_ca_gen01: Issued
    sign_ca_gen02: Issued
    auth_ca: Issued
    fake_ca: Issued
    ee_valid_gen01: Issued
    ee_valid_gen02: Issued
    ee_revoked: Issued
    ee_expired: Issued
    ee_not_yet_valid: Issued
    ee_user_auth: Issued
    ee_fake: Issued
    ee_fake_forged_aki: Issued
    crl_gen01_tsukuba: CRLFile
    crl_gen02_tsukuba: CRLFile
    crl_gen02_iizuka: CRLFile
    crl_auth_tsukuba: CRLFile
    ee_smartphone_sign: Issued
    """スマホ用署名用電子証明書 from sign-CA gen02 (Iizuka's CRL covers it)."""
    ee_smartphone_auth: Issued
    """スマホ用利用者証明用電子証明書 from the user-authentication CA (Tsukuba's CRL)."""
    lgpki_ca: Issued
    fake_lgpki_ca: Issued
    """Copies the LGPKI-TEST CA's DN with its own key."""
    seal: Issued
    """Chiyoda-ku's (131016) mayor: the seal of the municipality the tests notarise for."""
    seal_other_municipality: Issued
    """Tsukuba-shi's (082201) mayor: a good seal, of another local government."""
    seal_revoked: Issued
    """A Chiyoda-ku office whose seal was revoked at `revoked_at` (key compromise)."""
    seal_fake: Issued
    """A Chiyoda-ku seal from the fake LGPKI CA."""
    crl_lgpki: CRLFile
    all_issued: tuple[Issued, ...] = field(default=(), repr=False)

    @property
    def trust_anchors(self) -> tuple[Path, ...]:
        """The genuine JPKI roots: both sign-CA generations and the user-authentication CA."""
        return (self.sign_ca_gen01.cert, self.sign_ca_gen02.cert, self.auth_ca.cert)

    @property
    def seal_trust_anchors(self) -> tuple[Path, ...]:
        """The genuine LGPKI-TEST root: the only anchor a seal may chain to."""
        return (self.lgpki_ca.cert,)

    @property
    def seal_crl_files(self) -> tuple[Path, ...]:
        return (self.crl_lgpki.path,)

    @property
    def crl_files(self) -> tuple[Path, ...]:
        return tuple(
            crl.path
            for crl in (
                self.crl_gen01_tsukuba,
                self.crl_gen02_tsukuba,
                self.crl_gen02_iizuka,
                self.crl_auth_tsukuba,
            )
        )


@dataclass
class _CA:
    role: str
    name: x509.Name
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def make_root(
    name: x509.Name, key: rsa.RSAPrivateKey, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    """A self-signed single-tier JPKI-style root."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_signature_ee(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    place: Municipality,
    person: SyntheticPerson,
    not_before: datetime,
    not_after: datetime,
    authority_key_id: bytes | None = None,
    smartphone: bool = False,
) -> x509.Certificate:
    """A signature certificate with the JPKI profile; `authority_key_id` can forge the AKI;
    `smartphone` adds the smartphone marker policy (protocol.signers)."""
    policies = (SIGNATURE_POLICY_OID, SMARTPHONE_POLICY_OID)[: 2 if smartphone else 1]
    subject = _name(("C", "JP"), ("L", place.prefecture), ("L", place.city), ("CN", _opaque_id(25)))
    dp = crl_distribution_point_name(SIGN_OU, place)
    aki = authority_key_id or _ski_of(issuer_cert)
    return (
        _ee_builder(issuer_cert, key, subject, not_before, not_after, aki)
        .add_extension(_ee_key_usage(non_repudiation=True), critical=True)
        .add_extension(_policy(*policies), critical=True)
        .add_extension(_dirname_crl_dp(dp), critical=False)
        .add_extension(x509.SubjectAlternativeName(_basic_four_names(person)), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def make_seal_ee(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    holder: SealHolder,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A municipal seal (職責証明書): digitalSignature+nonRepudiation, the seal policy, the
    LGPKI-TEST CRL distribution point; no subjectAltName, no personal data."""
    return (
        _ee_builder(
            issuer_cert, key, seal_subject(holder), not_before, not_after, _ski_of(issuer_cert)
        )
        .add_extension(_ee_key_usage(non_repudiation=True), critical=True)
        .add_extension(_policy(SEAL_POLICY_OID), critical=False)
        .add_extension(_dirname_crl_dp(lgpki_crl_distribution_point_name()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def make_user_auth_ee(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    place: Municipality,
    not_before: datetime,
    not_after: datetime,
    ocsp_url: str = TEST_OCSP_URL,
    smartphone: bool = False,
) -> x509.Certificate:
    """A user-authentication certificate: opaque CN, clientAuth, OCSP URL, no personal data;
    `smartphone` adds the smartphone marker policy."""
    policies = (USER_AUTHENTICATION_POLICY_OID, SMARTPHONE_POLICY_OID)[: 2 if smartphone else 1]
    subject = _name(("C", "JP"), ("CN", _opaque_id(23)))
    ocsp = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
    )
    return (
        _ee_builder(issuer_cert, key, subject, not_before, not_after, _ski_of(issuer_cert))
        .add_extension(_ee_key_usage(non_repudiation=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_policy(*policies), critical=True)
        .add_extension(_dirname_crl_dp(crl_distribution_point_name(AUTH_OU, place)), critical=False)
        .add_extension(x509.AuthorityInformationAccess([ocsp]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def make_ocsp_responder(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    not_before: datetime,
    not_after: datetime,
    extended_key_usage: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.OCSP_SIGNING,),
) -> x509.Certificate:
    """A responder certificate the CA delegates OCSP signing to (RFC 6960 4.2.2.2).

    It carries id-pkix-ocsp-nocheck, as delegated responders do: its own revocation is not
    checked over OCSP (that would recurse), so keep it short-lived in production. Another
    `extended_key_usage` makes the impostors the tests need."""
    subject = _name(
        ("C", "JP"), ("O", ORGANISATION), ("OU", "OCSP Responder"), ("CN", _opaque_id(12))
    )
    builder = (
        _ee_builder(issuer_cert, key, subject, not_before, not_after, _ski_of(issuer_cert))
        .add_extension(_ee_key_usage(non_repudiation=False), critical=True)
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    if extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_crl(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    distribution_point: x509.Name,
    revoked: Sequence[tuple[int, datetime] | CRLEntry],
    this_update: datetime,
    next_update: datetime,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """A per-municipality CRL whose issuing distribution point is `distribution_point`.

    A `(serial, revoked_at)` pair is revoked for affiliation change, the usual JPKI reason;
    a `CRLEntry` states its own reason and, optionally, an invalidity date."""
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.DirectoryName(distribution_point)],
        relative_name=None,
        only_contains_user_certs=True,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(_ski_of(issuer_cert), None, None), critical=False
        )
        .add_extension(idp, critical=True)
    )
    for item in revoked:
        listed = item if isinstance(item, CRLEntry) else CRLEntry(*item)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(listed.serial)
            .revocation_date(listed.revoked_at)
            .add_extension(x509.CRLReason(listed.reason), critical=False)
        )
        if listed.invalid_since is not None:
            entry = entry.add_extension(x509.InvalidityDate(listed.invalid_since), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer_key, hashes.SHA256())


def generate_test_hierarchy(out_dir: Path, now: datetime | None = None) -> TestHierarchy:
    """Write the JPKI-TEST fixtures into `out_dir` (created if needed) and describe them.

    Times are relative to `now` (default: the current time), so the "valid" certificates are
    valid at `now` and the revocation happened one day before it.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    try:
        return _generate(_Writer(Path(out_dir)), now)
    except OSError as exc:
        raise TestCAError(f"cannot write the test hierarchy to {out_dir}: {exc.strerror}") from None


def _generate(writer: _Writer, now: datetime) -> TestHierarchy:
    gen01 = writer.root("sign-ca-gen01", sign_ca_name(), now - 3650 * _DAY, now + 365 * _DAY)
    gen02 = writer.root("sign-ca-gen02", sign_ca_name(), now - 1460 * _DAY, now + 2190 * _DAY)
    auth = writer.root("auth-ca", auth_ca_name(), now - 1460 * _DAY, now + 2190 * _DAY)
    fake = writer.root("fake-sign-ca", sign_ca_name(), now - 365 * _DAY, now + 3650 * _DAY)

    def sign_ee(
        role: str, ca: _CA, place: Municipality, start: int, end: int, forge: _CA | None = None
    ) -> Issued:
        key = new_key()
        cert = make_signature_ee(
            issuer_cert=ca.cert,
            issuer_key=ca.key,
            key=key,
            place=place,
            person=SYNTHETIC_PEOPLE[role],
            not_before=now + start * _DAY,
            not_after=now + end * _DAY,
            authority_key_id=_ski_of(forge.cert) if forge else None,
        )
        return writer.issued(role, cert, key, ca.role)

    valid01 = sign_ee("sign-ee-valid-gen01", gen01, TSUKUBA, -1000, 300)
    valid02 = sign_ee("sign-ee-valid-gen02", gen02, IIZUKA, -200, 1500)
    revoked = sign_ee("sign-ee-revoked", gen02, TSUKUBA, -400, 1400)
    expired = sign_ee("sign-ee-expired", gen01, TSUKUBA, -2200, -375)
    not_yet = sign_ee("sign-ee-not-yet-valid", gen02, IIZUKA, 30, 1800)
    fake_ee = sign_ee("sign-ee-fake-ca", fake, TSUKUBA, -100, 1500)
    forged = sign_ee("sign-ee-fake-ca-forged-aki", fake, TSUKUBA, -100, 1500, forge=gen01)

    auth_key = new_key()
    auth_ee = writer.issued(
        "auth-ee",
        make_user_auth_ee(
            issuer_cert=auth.cert,
            issuer_key=auth.key,
            key=auth_key,
            place=TSUKUBA,
            not_before=now - 200 * _DAY,
            not_after=now + 1500 * _DAY,
        ),
        auth_key,
        auth.role,
    )

    revoked_at = now - _DAY

    def crl(
        role: str, ca: _CA, purpose_ou: str, place: Municipality, listed: list[Issued]
    ) -> CRLFile:
        dp = crl_distribution_point_name(purpose_ou, place)
        entries = [(issued.serial, revoked_at) for issued in listed]
        signed = make_crl(
            issuer_cert=ca.cert,
            issuer_key=ca.key,
            distribution_point=dp,
            revoked=entries,
            this_update=now,
            next_update=now + _DAY,
        )
        return writer.crl(role, signed, ca.role, dp, tuple(serial for serial, _ in entries))

    crl_gen01_tsukuba = crl("crl-sign-gen01-tsukuba", gen01, SIGN_OU, TSUKUBA, [])
    crl_gen02_tsukuba = crl("crl-sign-gen02-tsukuba", gen02, SIGN_OU, TSUKUBA, [revoked])
    crl_gen02_iizuka = crl("crl-sign-gen02-iizuka", gen02, SIGN_OU, IIZUKA, [])
    crl_auth_tsukuba = crl("crl-auth-tsukuba", auth, AUTH_OU, TSUKUBA, [])
    phone = _smartphone_fixtures(writer, now, gen02, auth)
    seals = _seal_fixtures(writer, now, revoked_at)
    return TestHierarchy(
        out_dir=writer.root_dir,
        manifest=writer.write_manifest(now, revoked_at),
        now=now,
        revoked_at=revoked_at,
        sign_ca_gen01=writer.by_role[gen01.role],
        sign_ca_gen02=writer.by_role[gen02.role],
        auth_ca=writer.by_role[auth.role],
        fake_ca=writer.by_role[fake.role],
        ee_valid_gen01=valid01,
        ee_valid_gen02=valid02,
        ee_revoked=revoked,
        ee_expired=expired,
        ee_not_yet_valid=not_yet,
        ee_user_auth=auth_ee,
        ee_fake=fake_ee,
        ee_fake_forged_aki=forged,
        crl_gen01_tsukuba=crl_gen01_tsukuba,
        crl_gen02_tsukuba=crl_gen02_tsukuba,
        crl_gen02_iizuka=crl_gen02_iizuka,
        crl_auth_tsukuba=crl_auth_tsukuba,
        **phone,
        **seals,
        all_issued=tuple(writer.by_role.values()),
    )


def _smartphone_fixtures(writer: _Writer, now: datetime, sign: _CA, auth: _CA) -> dict[str, Any]:
    sign_key, auth_key = new_key(), new_key()
    signature = make_signature_ee(
        issuer_cert=sign.cert,
        issuer_key=sign.key,
        key=sign_key,
        place=IIZUKA,
        person=SYNTHETIC_PEOPLE["sign-ee-smartphone"],
        not_before=now - 100 * _DAY,
        not_after=now + 1500 * _DAY,
        smartphone=True,
    )
    authentication = make_user_auth_ee(
        issuer_cert=auth.cert,
        issuer_key=auth.key,
        key=auth_key,
        place=TSUKUBA,
        not_before=now - 100 * _DAY,
        not_after=now + 1500 * _DAY,
        smartphone=True,
    )
    return {
        "ee_smartphone_sign": writer.issued("sign-ee-smartphone", signature, sign_key, sign.role),
        "ee_smartphone_auth": writer.issued(
            "auth-ee-smartphone", authentication, auth_key, auth.role
        ),
    }


def _seal_fixtures(writer: _Writer, now: datetime, revoked_at: datetime) -> dict[str, Any]:
    """The LGPKI-TEST organisational CA, its seals and CRL, and an impostor CA."""
    ca = writer.root("lgpki-ca", lgpki_ca_name(), now - 1460 * _DAY, now + 2190 * _DAY)
    fake = writer.root("fake-lgpki-ca", lgpki_ca_name(), now - 365 * _DAY, now + 3650 * _DAY)

    def seal(role: str, issuer: _CA, holder: SealHolder) -> Issued:
        key = new_key()
        cert = make_seal_ee(
            issuer_cert=issuer.cert,
            issuer_key=issuer.key,
            key=key,
            holder=holder,
            not_before=now - 400 * _DAY,
            not_after=now + 700 * _DAY,
        )
        return writer.issued(role, cert, key, issuer.role)

    valid = seal("seal-chiyoda-mayor", ca, CHIYODA_MAYOR)
    other = seal("seal-tsukuba-mayor", ca, TSUKUBA_MAYOR)
    revoked = seal("seal-chiyoda-revoked", ca, CHIYODA_REGISTRAR)
    fake_seal = seal("seal-fake-ca", fake, CHIYODA_MAYOR)
    dp = lgpki_crl_distribution_point_name()
    listing = CRLEntry(revoked.serial, revoked_at, x509.ReasonFlags.key_compromise)
    signed = make_crl(
        issuer_cert=ca.cert,
        issuer_key=ca.key,
        distribution_point=dp,
        revoked=[listing],
        this_update=now,
        next_update=now + _DAY,
    )
    return {
        "lgpki_ca": writer.by_role[ca.role],
        "fake_lgpki_ca": writer.by_role[fake.role],
        "seal": valid,
        "seal_other_municipality": other,
        "seal_revoked": revoked,
        "seal_fake": fake_seal,
        "crl_lgpki": writer.crl("crl-lgpki", signed, ca.role, dp, (revoked.serial,)),
    }


class _Writer:
    """Writes PEM/DER files under one folder and remembers what it wrote for the manifest."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        self.by_role: dict[str, Issued] = {}
        self.crls: list[CRLFile] = []
        self._entries: list[dict[str, Any]] = []
        for sub in ("ca", "ee", "crl"):
            (root_dir / sub).mkdir(parents=True, exist_ok=True)

    def root(self, role: str, name: x509.Name, not_before: datetime, not_after: datetime) -> _CA:
        key = new_key()
        cert = make_root(name, key, not_before, not_after)
        self.issued(role, cert, key, None, folder="ca")
        return _CA(role, name, key, cert)

    def issued(
        self,
        role: str,
        cert: x509.Certificate,
        key: rsa.RSAPrivateKey,
        issuer_role: str | None,
        folder: str = "ee",
    ) -> Issued:
        cert_path = self.root_dir / folder / f"{role}.pem"
        key_path = self.root_dir / folder / f"{role}.key"
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(key_path, _key_pem(key), 0o600)
        issued = Issued(
            role=role,
            cert=cert_path,
            key=key_path,
            serial=cert.serial_number,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            issuer_role=issuer_role,
        )
        self.by_role[role] = issued
        der = cert.public_bytes(serialization.Encoding.DER)
        self._entries.append(
            {
                "role": role,
                "type": "ca_certificate" if issuer_role is None else "certificate",
                "path": self._relative(cert_path),
                "serial": issued.serial_hex,
                "not_before": issued.not_before.isoformat(),
                "not_after": issued.not_after.isoformat(),
                "issuer_role": issuer_role,
                "sha256": hashlib.sha256(der).hexdigest(),
            }
        )
        self._entries.append(
            {"role": role, "type": "private_key", "path": self._relative(key_path), "mode": "0600"}
        )
        return issued

    def crl(
        self,
        role: str,
        crl: x509.CertificateRevocationList,
        issuer_role: str,
        distribution_point: x509.Name,
        revoked_serials: tuple[int, ...],
    ) -> CRLFile:
        path = self.root_dir / "crl" / f"{role}.crl"
        der = crl.public_bytes(serialization.Encoding.DER)
        _write(path, der, 0o644)
        dp_text = ",".join(rdn.rfc4514_string() for rdn in distribution_point.rdns)
        entry = CRLFile(role, path, issuer_role, dp_text, revoked_serials)
        self.crls.append(entry)
        self._entries.append(
            {
                "role": role,
                "type": "crl",
                "path": self._relative(path),
                "issuer_role": issuer_role,
                "distribution_point": dp_text,
                "this_update": crl.last_update_utc.isoformat(),
                "next_update": crl.next_update_utc.isoformat() if crl.next_update_utc else None,
                "revoked_serials": [format(serial, "x") for serial in revoked_serials],
                "sha256": hashlib.sha256(der).hexdigest(),
            }
        )
        return entry

    def write_manifest(self, now: datetime, revoked_at: datetime) -> Path:
        path = self.root_dir / "manifest.json"
        manifest = {
            "generator": "devtools.testca",
            "organisation": ORGANISATION,
            "seal_organisation": LGPKI_ORGANISATION,
            "synthetic": True,
            "generated_at": now.isoformat(),
            "revoked_at": revoked_at.isoformat(),
            "files": self._entries,
        }
        _write(path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(), 0o644)
        return path

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root_dir).as_posix()


def _write(path: Path, data: bytes, mode: int) -> None:
    # O_CREAT's mode is reduced by the umask and ignored for existing files: chmod explicitly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _ee_key_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ee_builder(
    issuer_cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    authority_key_id: bytes,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(authority_key_id, None, None), critical=False)
    )


def _policy(*oids: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in oids]
    )


def _dirname_crl_dp(name: x509.Name) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.DirectoryName(name)], relative_name=None, reasons=None, crl_issuer=None
    )
    return x509.CRLDistributionPoints([point])


def _basic_four_names(person: SyntheticPerson) -> list[x509.GeneralName]:
    items: list[tuple[str, core.Asn1Value]] = [
        (basic_four.NAME_OID, core.UTF8String(person.name)),
        (basic_four.NAME_SUBSTITUTE_OID, core.PrintableString(person.name_substitute)),
        (basic_four.SEX_OID, core.PrintableString(person.sex)),
        (basic_four.DATE_OF_BIRTH_OID, core.PrintableString(person.date_of_birth)),
        (basic_four.ADDRESS_OID, core.UTF8String(person.address)),
        (basic_four.ADDRESS_SUBSTITUTE_OID, core.PrintableString(person.address_substitute)),
    ]
    return [x509.OtherName(x509.ObjectIdentifier(oid), value.dump()) for oid, value in items]


def _ski_of(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _opaque_id(length: int) -> str:
    alphabet = string.digits + string.ascii_uppercase
    return "".join(secrets.choice(alphabet) for _ in range(length))
