"""The issuance policy in verification (docs/PROTOCOL.md, "Signer kinds"): who may sign what,
the seal bound to its municipality, seal and JPKI anchors kept apart, events, and the
requester disclosure. Pending bundles from the miniature issuer: every check up to the
signature is decided without a chain."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from devtools.testca import Issued, TestHierarchy
from protocol.bundle import dump_bundle
from protocol.checks import ISSUER_POLICY, REQUESTER_DISCLOSURE, SIGNER_CERTIFICATE, Outcome
from protocol.leaf import EntryKind, EventType, requester_commitment
from protocol.requester import RequesterDisclosure, dump_disclosure
from tests.jpki_fixtures import anchors
from tests.vectors.issuer import LogDocument, MiniLog, Signer
from verifier import VerificationPolicy, Verifier
from verifier.cli import verify as verify_command
from verifier.jpki import RevocationSources, load_certificates
from verifier.models import Verdict

pytest_plugins = ["tests.jpki_fixtures"]

DOCUMENT = "住民票の写し (TEST, no real person)".encode()
REGISTRAR = 0x8001  # a municipality-defined type
REGISTRY = "0x" + "11" * 20
DISCLOSURE = RequesterDisclosure(b"\x05" * 32, b"\x06" * 32, 0x1A2B3C)


def _policy(h: TestHierarchy, **changes: Any) -> VerificationPolicy:
    fields: dict[str, Any] = {
        "rpc_urls": [],
        "registry": REGISTRY,
        "chain_id": 31337,
        "trust_anchors": anchors(h),
        "seal_trust_anchors": load_certificates(h.seal_trust_anchors),
        "revocation": RevocationSources(crl_files=[*h.crl_files, *h.seal_crl_files]),
        "require_revocation_check": False,
    }
    fields.update(changes)
    return VerificationPolicy(**fields)


def _issue(
    h: TestHierarchy, signer: Issued, ca: Issued, *, document_type: int, **options: Any
) -> LogDocument:
    return MiniLog().add_document(
        DOCUMENT,
        Signer.from_issued(signer, ca),
        signing_time=h.now - timedelta(hours=2),
        document_type=document_type,
        **options,
    )


def _verify(
    h: TestHierarchy, item: LogDocument, *, disclosure: RequesterDisclosure | None = None, **p: Any
) -> Verdict:
    bundle = MiniLog().bundle(item)
    return Verifier(_policy(h, **p)).verify(DOCUMENT, bundle, requester_disclosure=disclosure)


def _outcome(verdict: Verdict, name: str) -> Outcome:
    check = verdict.check(name)
    assert check is not None
    return check.outcome


def test_a_sealed_registered_document_passes_and_names_the_office(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    item = _issue(h, h.seal, h.lgpki_ca, document_type=1)
    verdict = _verify(h, item)
    assert verdict.status.value == "pending", verdict.summary  # every signer check passed
    assert _outcome(verdict, ISSUER_POLICY) is Outcome.PASSED
    assert _outcome(verdict, SIGNER_CERTIFICATE) is Outcome.PASSED
    signer = verdict.facts.signer
    assert signer is not None and signer["signer_kind"] == "lgpki-seal"
    assert signer["seal"]["organization_identifier"] == "LGCJP-131016"
    assert signer["seal"]["title"] == "Mayor"


@pytest.mark.parametrize(
    ("role", "document_type", "reason"),
    [
        ("ee_valid_gen02", 1, "may not sign a resident_record_copy"),
        ("seal_other_municipality", 1, "names local government 082201"),
        ("ee_user_auth", REGISTRAR, "user-authentication certificate"),
    ],
    ids=["card-on-registered-type", "seal-of-another-municipality", "auth-on-document"],
)
def test_signers_the_entry_does_not_accept_are_invalid(
    jpki_hierarchy: TestHierarchy, role: str, document_type: int, reason: str
) -> None:
    h = jpki_hierarchy
    signer: Issued = getattr(h, role)
    ca = h.lgpki_ca if role.startswith("seal") else h.sign_ca_gen02
    ca = h.auth_ca if role == "ee_user_auth" else ca
    verdict = _verify(h, _issue(h, signer, ca, document_type=document_type))
    assert verdict.status.value == "invalid"
    assert verdict.failed_check == ISSUER_POLICY
    assert verdict.reason is not None and reason in verdict.reason, verdict.reason


def test_a_revoked_seal_is_invalid(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    verdict = _verify(h, _issue(h, h.seal_revoked, h.lgpki_ca, document_type=1))
    assert verdict.failed_check == SIGNER_CERTIFICATE
    assert "revoked" in (verdict.reason or "")


def test_jpki_anchors_never_vouch_for_a_seal(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    item = _issue(h, h.seal, h.lgpki_ca, document_type=1)
    verdict = _verify(h, item, seal_trust_anchors=())
    check = verdict.check(SIGNER_CERTIFICATE)
    assert check is not None and check.outcome is Outcome.UNKNOWN
    assert "--seal-trust" in check.detail
    fake = _verify(h, _issue(h, h.seal_fake, h.fake_lgpki_ca, document_type=1))
    assert fake.failed_check == SIGNER_CERTIFICATE and "untrusted" in (fake.reason or "")


def test_a_smartphone_signature_may_sign_a_municipality_defined_type(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    verdict = _verify(h, _issue(h, h.ee_smartphone_sign, h.sign_ca_gen02, document_type=REGISTRAR))
    assert verdict.status.value == "pending", verdict.summary
    assert verdict.facts.signer is not None
    assert verdict.facts.signer["signer_kind"] == "jpki-smartphone-signature"


def test_a_login_event_is_signed_with_an_authentication_certificate(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    login = _issue(
        h, h.ee_user_auth, h.auth_ca, document_type=EventType.LOGIN, kind=EntryKind.EVENT
    )
    verdict = _verify(h, login)
    assert verdict.status.value == "pending", verdict.summary
    assert verdict.facts.entry_kind == "event" and verdict.facts.document_type_label == "login"
    # The same card's signature certificate cannot log in.
    card = _issue(
        h, h.ee_valid_gen02, h.sign_ca_gen02, document_type=EventType.LOGIN, kind=EntryKind.EVENT
    )
    assert _verify(h, card).failed_check == ISSUER_POLICY


def test_the_requester_disclosure_opens_the_commitment_or_the_verdict_is_invalid(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    committed = _issue(
        h, h.seal, h.lgpki_ca, document_type=1, requester_ref=DISCLOSURE.commitment()
    )
    opened = _verify(h, committed, disclosure=DISCLOSURE)
    assert _outcome(opened, REQUESTER_DISCLOSURE) is Outcome.PASSED
    assert opened.facts.requester == {
        "card_serial": "1A2B3C",
        "application_sha256": "06" * 32,
    }
    assert _outcome(_verify(h, committed), REQUESTER_DISCLOSURE) is Outcome.SKIPPED
    wrong = RequesterDisclosure(DISCLOSURE.salt, DISCLOSURE.application_sha256, 0x1A2B3D)
    refused = _verify(h, committed, disclosure=wrong)
    assert refused.status.value == "invalid" and refused.failed_check == REQUESTER_DISCLOSURE
    uncommitted = _verify(h, _issue(h, h.seal, h.lgpki_ca, document_type=1), disclosure=DISCLOSURE)
    assert uncommitted.failed_check == REQUESTER_DISCLOSURE
    assert "commits to no requester" in (uncommitted.reason or "")
    assert requester_commitment(DISCLOSURE.salt, DISCLOSURE.application_sha256, 0x1A2B3C) == (
        DISCLOSURE.commitment()
    )


def test_cli_reports_the_seal_and_the_requester(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    h = jpki_hierarchy
    item = _issue(h, h.seal, h.lgpki_ca, document_type=1, requester_ref=DISCLOSURE.commitment())
    document, bundle, disclosure = tmp_path / "doc", tmp_path / "b.json", tmp_path / "d.json"
    document.write_bytes(DOCUMENT)
    bundle.write_text(dump_bundle(MiniLog().bundle(item)), encoding="utf-8")
    disclosure.write_text(dump_disclosure(DISCLOSURE), encoding="utf-8")
    args = [str(document), "--bundle", str(bundle), "--chain-id", "31337", "--registry", REGISTRY]
    args += ["--rpc", "http://127.0.0.1:9", "--no-revocation-check"]
    args += ["--trust", str(h.sign_ca_gen02.cert), "--seal-trust", str(h.lgpki_ca.cert)]
    args += [a for p in h.seal_crl_files for a in ("--crl", str(p))]
    done = CliRunner().invoke(verify_command, [*args, "--requester-disclosure", str(disclosure)])
    assert done.exit_code == 3, done.output  # pending: not anchored
    assert "[ok  ] issuer_policy" in done.output and "Chiyoda-ku Mayor" in done.output
    assert "[ok  ] requester_disclosure" in done.output and "0x1A2B3C" in done.output
    disclosure.write_text("{}", encoding="utf-8")
    bad = CliRunner().invoke(verify_command, [*args, "--requester-disclosure", str(disclosure)])
    assert bad.exit_code == 2 and "not a valid requester disclosure" in bad.output
