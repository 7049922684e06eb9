"""The version-4 vectors (tests/vectors/v4, docs/PROTOCOL.md 9.7 and 14): municipal seals,
smartphone and user-authentication signers, events, requester disclosures, chain evidence and
malformed version-4 bundles, verified against v4/expected.json's policy; and a sealed bundle
verified offline with the trust root alone (its seal_anchors), by the library and the CLI."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from protocol.bundle import load_bundle
from protocol.checks import CHECK_ORDER
from protocol.errors import BundleFormatError
from protocol.requester import load_disclosure
from protocol.trust_root import dump_trust_root, load_trust_root
from tests.vectors.make_vectors import RecordedChain
from verifier import Outcome, VerificationPolicy, Verifier
from verifier.cli import verify as verify_command
from verifier.jpki import RevocationSources, load_certificates
from verifier.models import Verdict

VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "v4" / "expected.json").read_text(encoding="utf-8"))
POLICY = EXPECTED["policy"]
CHAIN = json.loads((VECTORS / POLICY["chain"]).read_text(encoding="utf-8"))
OFFLINE = EXPECTED["offline"]
TRUST_ROOT = VECTORS / OFFLINE["trust_root"]


def _paths(names: list[str]) -> list[Path]:
    return [VECTORS / name for name in names]


def policy(**changes: Any) -> VerificationPolicy:
    fields: dict[str, Any] = {
        "rpc_urls": [],
        "registry": CHAIN["registry"],
        "chain_id": CHAIN["chain_id"],
        "trust_anchors": load_certificates(_paths(POLICY["trust_anchors"])),
        "seal_trust_anchors": load_certificates(_paths(POLICY["seal_trust_anchors"])),
        "revocation": RevocationSources(crl_files=_paths(POLICY["crls"])),
        "now": datetime.fromisoformat(EXPECTED["verify_at"]),
        "require_revocation_check": EXPECTED["require_revocation_check"],
        "require_municipal_seal": EXPECTED["require_municipal_seal"],
    }
    fields.update(changes)
    return VerificationPolicy(**fields)


def run(name: str, document: str, **options: Any) -> Verdict:
    verifier = Verifier(policy(), chain_reader=RecordedChain(CHAIN))
    return verifier.verify(
        (VECTORS / document).read_bytes(), (VECTORS / name).read_bytes(), **options
    )


@pytest.mark.parametrize("name", sorted(EXPECTED["bundles"]))
def test_v4_bundles_give_the_expected_verdict(name: str) -> None:
    case = EXPECTED["bundles"][name]
    verdict = run(name, case["document"])
    assert [check.name for check in verdict.checks] == list(CHECK_ORDER)
    assert verdict.status.value == case["status"], verdict.summary
    assert verdict.failed_check == case["failed_check"], verdict.summary
    if case["failed_check"] is not None:
        deciding = verdict.check(case["failed_check"])
        failed = Outcome.UNKNOWN if case["status"] == "pending" else Outcome.FAILED
        assert deciding is not None and deciding.outcome is failed


def test_the_v4_signers_are_named_by_kind() -> None:
    kinds = {
        "sealed-requester": "lgpki-seal",
        "smartphone": "jpki-smartphone-signature",
        "login-event": "jpki-card-authentication",
        "signature-event": "jpki-card-signature",
    }
    for name, kind in kinds.items():
        path = f"v4/bundles/{name}.json"
        verdict = run(path, EXPECTED["bundles"][path]["document"])
        assert verdict.facts.signer is not None, name
        assert verdict.facts.signer["signer_kind"] == kind, name
    sealed = run(
        "v4/bundles/sealed.json", EXPECTED["bundles"]["v4/bundles/sealed.json"]["document"]
    )
    assert sealed.facts.signer is not None
    assert sealed.facts.signer["seal"]["organization_identifier"] == "LGCJP-131016"
    login = run("v4/bundles/login-event.json", "v4/documents/login-statement.txt")
    assert login.facts.entry_kind == "event" and login.facts.document_type_label == "login"


def test_the_v4_invalid_signers_fail_for_the_reason_their_vector_names() -> None:
    reasons = {
        "card-registered-type": "may not sign",
        "seal-other-municipality": "names local government 082201",
        "auth-on-document": "user-authentication certificate",
        "seal-revoked": "revoked",
        "seal-fake-ca": "untrusted",
    }
    for name, reason in reasons.items():
        path = f"v4/bundles/invalid/{name}.json"
        verdict = run(path, EXPECTED["bundles"][path]["document"])
        assert verdict.reason is not None and reason in verdict.reason, (name, verdict.reason)


@pytest.mark.parametrize("name", sorted(EXPECTED["requester_disclosures"]))
def test_v4_requester_disclosures(name: str) -> None:
    case = EXPECTED["requester_disclosures"][name]
    disclosure = load_disclosure((VECTORS / case["disclosure"]).read_bytes())
    verdict = run(case["bundle"], case["document"], requester_disclosure=disclosure)
    assert verdict.status.value == case["status"], verdict.summary
    assert verdict.failed_check == case["failed_check"], verdict.summary
    check = verdict.check("requester_disclosure")
    assert check is not None
    assert check.outcome is (Outcome.PASSED if case["status"] == "valid" else Outcome.FAILED)
    if case["status"] == "valid":
        assert verdict.facts.requester is not None
        assert verdict.facts.requester["card_serial"] == disclosure.card_serial_hex


@pytest.mark.parametrize("name", sorted(EXPECTED["malformed"]))
def test_malformed_v4_bundles_name_their_field(name: str) -> None:
    with pytest.raises(BundleFormatError) as raised:
        load_bundle((VECTORS / name).read_bytes())
    assert raised.value.field == EXPECTED["malformed"][name]["field"], raised.value
    verdict = run(name, "v4/documents/sealed-resident-record.txt")
    assert verdict.status.value == "invalid" and verdict.failed_check == "bundle_format"


# --------------------------------------------------------------------------- the trust root


def offline_policy(root_bytes: bytes) -> VerificationPolicy:
    return VerificationPolicy.for_trust_root(
        load_trust_root(root_bytes),
        offline=True,
        revocation=RevocationSources(crl_files=_paths(OFFLINE["crls"])),
        now=datetime.fromisoformat(EXPECTED["verify_at"]),
        require_revocation_check=False,
    )


@pytest.mark.parametrize("name", sorted(OFFLINE["bundles"]))
def test_a_sealed_bundle_verifies_offline_with_the_trust_root_alone(name: str) -> None:
    case = OFFLINE["bundles"][name]
    document, bundle = (VECTORS / case["document"]).read_bytes(), (VECTORS / name).read_bytes()
    root = TRUST_ROOT.read_bytes()
    policy = offline_policy(root)
    assert len(policy.seal_trust_anchors) == 1 and len(policy.trust_anchors) == 2
    verdict = Verifier(policy).verify(document, bundle)
    assert verdict.status.value == case["status"], verdict.summary
    assert verdict.failed_check == case["failed_check"]
    # The same trust root without its seal anchors cannot vouch for the seal.
    stripped = dataclasses.replace(load_trust_root(root), seal_anchors=())
    unsealed = Verifier(offline_policy(dump_trust_root(stripped).encode())).verify(document, bundle)
    assert unsealed.status.value == "unknown" and unsealed.failed_check == "signer_certificate"


def test_the_cli_verifies_a_sealed_bundle_offline_without_seal_trust() -> None:
    name = next(iter(OFFLINE["bundles"]))
    args = [str(VECTORS / OFFLINE["bundles"][name]["document"]), "--bundle", str(VECTORS / name)]
    args += ["--trust-root", str(TRUST_ROOT), "--offline", "--no-revocation-check"]
    args += [a for crl in OFFLINE["crls"] for a in ("--crl", str(VECTORS / crl))]
    done = CliRunner().invoke(verify_command, args)
    assert done.exit_code == 4, done.output  # valid_as_of
    assert "VALID AS OF EVIDENCE" in done.output and "Chiyoda-ku Mayor" in done.output
    assert "[ok  ] issuer_policy" in done.output
