"""Signer verdicts at the signing time: each JPKI-TEST fixture gets the outcome it stands for."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from devtools.testca import (
    SIGN_OU,
    SYNTHETIC_PEOPLE,
    TSUKUBA,
    Issued,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
    make_root,
    make_signature_ee,
    new_key,
    sign_ca_name,
)
from tests.jpki_fixtures import all_crls, anchors, cert, issue_from_gen01, key, x509_cert
from verifier.jpki import (
    NO_REVOCATION_INFO,
    CertificateKind,
    ConfigurationError,
    RevocationSources,
    SignerCheck,
    SignerPolicy,
    check_signer,
    check_signer_async,
    parse_certificate,
)

pytest_plugins = ["tests.jpki_fixtures"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
AUTH_ONLY = SignerPolicy(allowed_kinds=frozenset({CertificateKind.USER_AUTHENTICATION}))


def _check(
    h: TestHierarchy,
    issued: Issued,
    at: datetime,
    revocation: RevocationSources | None = None,
    policy: SignerPolicy | None = None,
) -> SignerCheck:
    return check_signer(
        cert(issued),
        signing_time=at,
        trust_anchors=anchors(h),
        revocation=all_crls(h) if revocation is None else revocation,
        policy=policy,
    )


@pytest.mark.parametrize(
    ("role", "generation"),
    [("ee_valid_gen01", "sign_ca_gen01"), ("ee_valid_gen02", "sign_ca_gen02")],
)
def test_each_generation_vouches_for_its_own_certificates(
    jpki_hierarchy: TestHierarchy, role: str, generation: str
) -> None:
    issued: Issued = getattr(jpki_hierarchy, role)
    result = _check(jpki_hierarchy, issued, jpki_hierarchy.now - HOUR)
    assert result.status == "valid", result.reason
    assert result.ok
    # The same-DN generations are told apart by key: the chain ends at the right one.
    ee = cert(issued)
    root = cert(getattr(jpki_hierarchy, generation))
    assert result.chain == (ee.sha256, root.sha256)
    assert result.trust_anchor == root.sha256
    assert result.serial == ee.serial_hex and result.fingerprint == ee.sha256
    assert result.kind is CertificateKind.SIGNATURE


def test_revoked_after_signing_time_is_revoked(jpki_hierarchy: TestHierarchy) -> None:
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.now - HOUR)
    assert result.status == "revoked"
    assert result.revoked_at == jpki_hierarchy.revoked_at
    assert "revoked on" in result.reason and "affiliation change" in result.reason


def test_signature_made_before_the_revocation_stays_valid(jpki_hierarchy: TestHierarchy) -> None:
    # The CRL was issued after the signature (retroactive revocation information).
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.revoked_at - HOUR)
    assert result.status == "valid", result.reason
    assert result.revoked_at is None


def test_expired_certificate_is_expired(jpki_hierarchy: TestHierarchy) -> None:
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_expired, jpki_hierarchy.now - HOUR)
    assert result.status == "expired"
    assert jpki_hierarchy.ee_expired.not_after.isoformat() in result.reason


def test_expired_certificate_was_valid_while_it_lived(jpki_hierarchy: TestHierarchy) -> None:
    during = jpki_hierarchy.ee_expired.not_after - 10 * DAY
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_expired, during).status == "valid"


def test_not_yet_valid_certificate_is_not_yet_valid(jpki_hierarchy: TestHierarchy) -> None:
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_not_yet_valid, jpki_hierarchy.now - HOUR)
    assert result.status == "not_yet_valid"
    assert jpki_hierarchy.ee_not_yet_valid.not_before.isoformat() in result.reason


@pytest.mark.parametrize("role", ["ee_fake", "ee_fake_forged_aki"])
def test_fake_ca_copying_the_production_dn_is_untrusted(
    jpki_hierarchy: TestHierarchy, role: str
) -> None:
    result = _check(jpki_hierarchy, getattr(jpki_hierarchy, role), jpki_hierarchy.now - HOUR)
    assert result.status == "untrusted"
    assert "no trusted CA generation with that name signed it" in result.reason
    assert result.chain == ()


def test_fake_ca_is_trusted_only_if_configured(jpki_hierarchy: TestHierarchy) -> None:
    # Sanity check of the fixture: with the fake root as anchor, the path exists.
    result = check_signer(
        cert(jpki_hierarchy.ee_fake),
        signing_time=jpki_hierarchy.now - HOUR,
        trust_anchors=[cert(jpki_hierarchy.fake_ca)],
        policy=SignerPolicy(require_revocation_info=False),
    )
    assert result.status == "valid"


def test_unknown_issuer_is_untrusted(jpki_hierarchy: TestHierarchy) -> None:
    result = check_signer(
        cert(jpki_hierarchy.ee_valid_gen01),
        signing_time=jpki_hierarchy.now - HOUR,
        trust_anchors=[cert(jpki_hierarchy.auth_ca)],
        revocation=all_crls(jpki_hierarchy),
    )
    assert result.status == "untrusted"
    assert "not a configured trust anchor" in result.reason


def test_missing_revocation_info_is_unknown_not_valid(jpki_hierarchy: TestHierarchy) -> None:
    result = _check(
        jpki_hierarchy,
        jpki_hierarchy.ee_valid_gen01,
        jpki_hierarchy.now - HOUR,
        RevocationSources(),
    )
    assert result.status == "unknown"
    assert NO_REVOCATION_INFO in result.reason


def test_revocation_can_be_waived_but_supplied_crls_still_count(
    jpki_hierarchy: TestHierarchy,
) -> None:
    lenient = SignerPolicy(require_revocation_info=False)
    waived = _check(
        jpki_hierarchy,
        jpki_hierarchy.ee_valid_gen01,
        jpki_hierarchy.now - HOUR,
        RevocationSources(),
        lenient,
    )
    assert waived.status == "valid"
    assert "revocation NOT checked" in waived.reason
    revoked = _check(
        jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.now - HOUR, None, lenient
    )
    assert revoked.status == "revoked"


def test_crl_of_another_municipality_does_not_cover(jpki_hierarchy: TestHierarchy) -> None:
    # valid-gen02 lives in Iizuka; gen02's Tsukuba CRL is genuine but for other residents.
    only_tsukuba = RevocationSources(crl_files=[jpki_hierarchy.crl_gen02_tsukuba.path])
    result = _check(
        jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, jpki_hierarchy.now - HOUR, only_tsukuba
    )
    assert result.status == "unknown"


def test_crl_of_the_other_generation_does_not_clear_a_revoked_certificate(
    jpki_hierarchy: TestHierarchy,
) -> None:
    # gen01's Tsukuba CRL has the same issuer DN and distribution point, and lists nothing.
    other_generation = RevocationSources(crl_files=[jpki_hierarchy.crl_gen01_tsukuba.path])
    result = _check(
        jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.now - HOUR, other_generation
    )
    assert result.status == "unknown"


def test_crl_signed_by_the_fake_ca_is_ignored(jpki_hierarchy: TestHierarchy) -> None:
    forged = make_crl(
        issuer_cert=x509_cert(jpki_hierarchy.fake_ca),
        issuer_key=key(jpki_hierarchy.fake_ca),
        distribution_point=crl_distribution_point_name(SIGN_OU, TSUKUBA),
        revoked=[],
        this_update=jpki_hierarchy.now,
        next_update=jpki_hierarchy.now + DAY,
    )
    sources = RevocationSources(crls=[forged.public_bytes(serialization.Encoding.DER)])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.now - HOUR, sources)
    assert result.status == "unknown"


def test_crl_too_old_for_the_signing_time_is_unknown(jpki_hierarchy: TestHierarchy) -> None:
    # The CRLs' nextUpdate is now + 1 day; a signature from later is not covered by them.
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, jpki_hierarchy.now + 3 * DAY)
    assert result.status == "unknown"


def test_user_authentication_certificate_is_refused_for_signatures(
    jpki_hierarchy: TestHierarchy,
) -> None:
    refused = _check(jpki_hierarchy, jpki_hierarchy.ee_user_auth, jpki_hierarchy.now - HOUR)
    assert refused.status == "invalid"
    assert "user_authentication certificate is not accepted" in refused.reason
    accepted = _check(
        jpki_hierarchy, jpki_hierarchy.ee_user_auth, jpki_hierarchy.now - HOUR, policy=AUTH_ONLY
    )
    assert accepted.status == "valid", accepted.reason
    assert accepted.kind is CertificateKind.USER_AUTHENTICATION


def test_ca_that_expired_before_the_signature_makes_it_expired() -> None:
    now = datetime.now().astimezone()
    root_key = new_key()
    root = make_root(sign_ca_name(), root_key, now - 900 * DAY, now - 10 * DAY)
    ee = make_signature_ee(
        issuer_cert=root,
        issuer_key=root_key,
        key=new_key(),
        place=TSUKUBA,
        person=SYNTHETIC_PEOPLE["sign-ee-valid-gen01"],
        not_before=now - 100 * DAY,
        not_after=now + 100 * DAY,
    )
    result = check_signer(
        parse_certificate(ee),
        signing_time=now - HOUR,
        trust_anchors=[parse_certificate(root)],
        policy=SignerPolicy(require_revocation_info=False),
    )
    assert result.status == "expired"
    assert result.reason.startswith("a CA certificate in the path expired")
    early = check_signer(
        parse_certificate(ee),
        signing_time=now - 50 * DAY,
        trust_anchors=[parse_certificate(root)],
        policy=SignerPolicy(require_revocation_info=False),
    )
    assert early.status == "valid", early.reason


def test_key_usage_is_enforced_by_profile_and_by_path_validation(
    jpki_hierarchy: TestHierarchy,
) -> None:
    no_nr = parse_certificate(issue_from_gen01(jpki_hierarchy, non_repudiation=False))
    sources = RevocationSources(crls=[jpki_hierarchy.crl_gen01_tsukuba.path.read_bytes()])

    def judge(policy: SignerPolicy) -> SignerCheck:
        return check_signer(
            no_nr,
            signing_time=jpki_hierarchy.now - HOUR,
            trust_anchors=anchors(jpki_hierarchy),
            revocation=sources,
            policy=policy,
        )

    profiled = judge(SignerPolicy(require_revocation_info=False))
    assert profiled.status == "invalid"
    assert "key usage lacks non_repudiation" in profiled.reason
    unprofiled = judge(SignerPolicy(require_revocation_info=False, enforce_profile=False))
    assert unprofiled.status == "invalid"
    assert "not valid for the required usage" in unprofiled.reason


def test_configuration_mistakes_raise(jpki_hierarchy: TestHierarchy) -> None:
    ee = cert(jpki_hierarchy.ee_valid_gen01)
    with pytest.raises(ConfigurationError, match="time zone"):
        check_signer(ee, signing_time=datetime(2024, 1, 1), trust_anchors=anchors(jpki_hierarchy))
    with pytest.raises(ConfigurationError, match="no trust anchors"):
        check_signer(ee, signing_time=jpki_hierarchy.now, trust_anchors=[])
    with pytest.raises(ConfigurationError, match="is not a CA certificate"):
        check_signer(ee, signing_time=jpki_hierarchy.now, trust_anchors=[ee])


def test_result_serialises_without_personal_data(jpki_hierarchy: TestHierarchy) -> None:
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, jpki_hierarchy.now - HOUR)
    text = json.dumps(result.as_dict(), ensure_ascii=False) + repr(result)
    person = SYNTHETIC_PEOPLE["sign-ee-revoked"]
    for secret in (person.name, person.address, person.date_of_birth, "Tsukuba-shi"):
        assert secret not in text
    assert json.loads(json.dumps(result.as_dict()))["status"] == "revoked"


def test_async_form_works_inside_an_event_loop(jpki_hierarchy: TestHierarchy) -> None:
    async def inside_loop() -> SignerCheck:
        return await check_signer_async(
            cert(jpki_hierarchy.ee_valid_gen02),
            signing_time=jpki_hierarchy.now - HOUR,
            trust_anchors=anchors(jpki_hierarchy),
            revocation=all_crls(jpki_hierarchy),
        )

    assert asyncio.run(inside_loop()).status == "valid"
