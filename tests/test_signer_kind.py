"""Signer kinds: the LGPKI-TEST seal and JPKI-TEST smartphone fixtures, `classify_signer`, and
seal path validation with its own trust anchors (docs/PROTOCOL.md, "Signer kinds")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from devtools.testca import LGPKI_ORGANISATION, TestHierarchy
from protocol.signers import SignerKind
from tests.jpki_fixtures import anchors, cert, x509_cert
from verifier.jpki import CertificateKind, RevocationSources, SignerPolicy, check_signer
from verifier.jpki.certificates import load_certificates, profile_problems
from verifier.jpki.signer_kind import SignerKindError, classify_signer, seal_identity

pytest_plugins = ["tests.jpki_fixtures"]

SEAL_ONLY = SignerPolicy(allowed_kinds=frozenset({CertificateKind.SEAL}))


def _seal_anchors(h: TestHierarchy) -> list:  # type: ignore[type-arg]
    return load_certificates(h.seal_trust_anchors)


def _seal_crls(h: TestHierarchy) -> RevocationSources:
    return RevocationSources(crl_files=h.seal_crl_files)


def test_every_fixture_is_classified_from_der_x509_or_parsed(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    expected = {
        h.ee_valid_gen01: SignerKind.JPKI_CARD_SIGNATURE,
        h.ee_user_auth: SignerKind.JPKI_CARD_AUTHENTICATION,
        h.ee_smartphone_sign: SignerKind.JPKI_SMARTPHONE_SIGNATURE,
        h.ee_smartphone_auth: SignerKind.JPKI_SMARTPHONE_AUTHENTICATION,
        h.seal: SignerKind.LGPKI_SEAL,
        h.seal_other_municipality: SignerKind.LGPKI_SEAL,
    }
    for issued, kind in expected.items():
        loaded = x509_cert(issued)
        assert classify_signer(loaded) is kind
        assert classify_signer(loaded.public_bytes(Encoding.DER)) is kind
        assert classify_signer(cert(issued)) is kind
        assert profile_problems(cert(issued)) == [], issued.role


def test_a_ca_certificate_is_no_signer(jpki_hierarchy: TestHierarchy) -> None:
    with pytest.raises(SignerKindError, match="neither a JPKI"):
        classify_signer(cert(jpki_hierarchy.lgpki_ca))


def test_seal_subject_names_an_office_and_a_local_government(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    subject = x509_cert(h.seal).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == LGPKI_ORGANISATION
    identity = seal_identity(cert(h.seal))
    assert identity.lg_code == 131016 and identity.organization_identifier == "LGCJP-131016"
    assert identity.describe() == "Chiyoda-ku Mayor (LGCJP-131016, LGPKI-TEST)"
    assert seal_identity(cert(h.seal_other_municipality)).lg_code == 82201
    seal = x509_cert(h.seal)
    with pytest.raises(x509.ExtensionNotFound):  # no subjectAltName: no personal data
        seal.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    with pytest.raises(SignerKindError):  # a JPKI subject is never read as a seal
        seal_identity(cert(h.ee_valid_gen01))


def test_a_seal_validates_against_the_lgpki_anchor_only(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    when = h.now - timedelta(days=10)
    good = check_signer(
        cert(h.seal),
        signing_time=when,
        trust_anchors=_seal_anchors(h),
        revocation=_seal_crls(h),
        policy=SEAL_ONLY,
    )
    assert good.status == "valid", good.reason
    # The JPKI roots never vouch for a seal, and the LGPKI root never for a card.
    by_jpki = check_signer(
        cert(h.seal), signing_time=when, trust_anchors=anchors(h), policy=SEAL_ONLY
    )
    assert by_jpki.status == "untrusted"
    card = check_signer(
        cert(h.ee_valid_gen02),
        signing_time=when,
        trust_anchors=_seal_anchors(h),
        revocation=RevocationSources(crl_files=h.crl_files),
    )
    assert card.status == "untrusted"


def test_a_fake_lgpki_ca_copying_the_dn_is_refused(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    assert x509_cert(h.fake_lgpki_ca).subject == x509_cert(h.lgpki_ca).subject
    for carried in ([], load_certificates([h.fake_lgpki_ca.cert])):
        result = check_signer(
            cert(h.seal_fake),
            signing_time=h.now - timedelta(days=10),
            trust_anchors=_seal_anchors(h),
            intermediates=carried,
            revocation=_seal_crls(h),
            policy=SEAL_ONLY,
        )
        assert result.status == "untrusted", result.reason
        assert carried or "impostor" in result.reason


def test_a_revoked_seal_is_revoked_even_before_its_revocation(
    jpki_hierarchy: TestHierarchy,
) -> None:
    """Revoked for key compromise: a stolen seal key can claim any signing time."""
    h = jpki_hierarchy
    result = check_signer(
        cert(h.seal_revoked),
        signing_time=h.revoked_at - timedelta(days=30),
        trust_anchors=_seal_anchors(h),
        revocation=_seal_crls(h),
        policy=SEAL_ONLY,
    )
    assert result.status == "revoked", result.reason


def test_a_seal_without_revocation_data_is_unknown(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    result = check_signer(
        cert(h.seal),
        signing_time=h.now - timedelta(days=1),
        trust_anchors=_seal_anchors(h),
        policy=SEAL_ONLY,
    )
    assert result.status == "unknown"


def test_smartphone_certificates_validate_like_card_ones(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    sign = check_signer(
        cert(h.ee_smartphone_sign),
        signing_time=h.now - timedelta(days=1),
        trust_anchors=anchors(h),
        revocation=RevocationSources(crl_files=h.crl_files),
    )
    assert sign.status == "valid", sign.reason
    auth = check_signer(
        cert(h.ee_smartphone_auth),
        signing_time=h.now - timedelta(days=1),
        trust_anchors=anchors(h),
        revocation=RevocationSources(crl_files=h.crl_files),
        policy=SignerPolicy(allowed_kinds=frozenset({CertificateKind.USER_AUTHENTICATION})),
    )
    assert auth.status == "valid", auth.reason
