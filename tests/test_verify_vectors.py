"""The protocol vectors, verified offline against the chain facts recorded in chain.json.

Each invalid vector changes one field of a valid bundle and must fail at the check named in
expected.json. The same rules are then exercised branch by branch with edited chain facts
(withdrawn head, suspended node, reverted transaction...), and the node's revocation buckets
are exercised against a local stand-in (tests/vectors/standins.py). The vectors' policy opts
out of asking the issuing node (expected.json); tests/test_security_verifier.py covers the
default, which never reports valid without that check.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from anchor import NodeStatus
from protocol.bundle import AnchorSection, HeadSection, RevocationSection, revocation_to_json
from protocol.checks import CHECK_ORDER
from protocol.trust_root import load_trust_root
from tests.vectors.make_vectors import RecordedChain, build_vectors, stale
from tests.vectors.standins import RecordedNode, recorded_node
from verifier import (
    DocumentDigest,
    Outcome,
    Verdict,
    VerdictStatus,
    VerificationPolicy,
    Verifier,
    load_bundle,
    verify,
)
from verifier.chain import (
    PREFIX_HEX_DIGITS,
    AnchorFacts,
    CachingChainReader,
    NodeStatusClient,
    revocation_bucket_json,
)
from verifier.errors import EvidenceUnavailableError, PolicyError
from verifier.jpki import RevocationSources, load_certificates

VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
CHAIN = json.loads((VECTORS / "chain.json").read_text(encoding="utf-8"))
RESIDENT = (VECTORS / "documents" / "resident-record.txt").read_bytes()
INCOME = (VECTORS / "documents" / "income-certificate.txt").read_bytes()


def policy(**changes: Any) -> VerificationPolicy:
    fields: dict[str, Any] = {
        "rpc_urls": [],
        "registry": CHAIN["registry"],
        "chain_id": CHAIN["chain_id"],
        "trust_anchors": load_certificates([VECTORS / "signing" / "ca.pem"]),
        "revocation": RevocationSources(crl_files=[VECTORS / "signing" / "crl.der"]),
        "now": datetime.fromisoformat(EXPECTED["verify_at"]),
        "require_revocation_check": EXPECTED["require_revocation_check"],
        "require_municipal_seal": EXPECTED["require_municipal_seal"],
    }
    fields.update(changes)
    return VerificationPolicy(**fields)


def bundle_text(name: str) -> bytes:
    return (VECTORS / "bundles" / name).read_bytes()


class EditedChain(RecordedChain):
    """chain.json with some facts changed, for the branches the vectors do not reach."""

    def __init__(self, **changes: Any) -> None:
        super().__init__(json.loads(json.dumps(CHAIN)))
        self.changes = changes

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        facts = super().read(head, anchor)
        if "raise_" in self.changes:
            raise self.changes["raise_"]
        edits = {k: v for k, v in self.changes.items() if k in AnchorFacts.__slots__}
        for name in ("record", "transaction", "node"):
            if name + "_edit" in self.changes and getattr(facts, name) is not None:
                edits[name] = dataclasses.replace(
                    getattr(facts, name), **self.changes[name + "_edit"]
                )
        return dataclasses.replace(facts, **edits)


def run(
    bundle: str | bytes = "valid-cms.json",
    document: bytes | DocumentDigest = RESIDENT,
    chain: RecordedChain | None = None,
    **policy_changes: Any,
) -> Verdict:
    text = bundle_text(bundle) if isinstance(bundle, str) else bundle
    verifier = Verifier(policy(**policy_changes), chain_reader=chain or RecordedChain.load())
    return verifier.verify(document, text)


def outcomes(verdict: Verdict) -> dict[str, str]:
    return {check.name: check.outcome.value for check in verdict.checks}


# --------------------------------------------------------------------------- the vectors


def test_vectors_are_current() -> None:
    # make_vectors is deterministic: the committed files are exactly what it produces.
    assert stale(build_vectors()) == []


@pytest.mark.parametrize("name", sorted(EXPECTED["bundles"]))
def test_bundle_vectors_give_the_expected_verdict(name: str) -> None:
    expected = EXPECTED["bundles"][name]
    verdict = Verifier(policy(), chain_reader=RecordedChain.load()).verify(
        (VECTORS / expected["document"]).read_bytes(), (VECTORS / name).read_bytes()
    )
    assert [check.name for check in verdict.checks] == list(CHECK_ORDER)
    assert verdict.status.value == expected["status"], verdict.summary
    assert verdict.failed_check == expected["failed_check"], verdict.summary
    if expected["failed_check"] is not None:
        deciding = verdict.check(expected["failed_check"])
        assert deciding is not None and deciding.outcome is not Outcome.PASSED


def test_valid_vector_passes_every_check_but_the_optional_revocation() -> None:
    verdict = run()
    assert verdict.ok and verdict.failed_check is None and verdict.reason is None
    assert outcomes(verdict) == {name: "passed" for name in CHECK_ORDER} | {
        "document_revocation": "skipped",
        "requester_disclosure": "skipped",  # on request only: no disclosure given
    }
    assert verdict.summary.startswith("VALID: resident_record_copy issued by municipality 131016")
    assert "not checked: document_revocation;" in verdict.summary + ";"
    facts = verdict.facts
    assert facts.anchored_at == datetime.fromisoformat("2026-01-15T09:01:00+00:00")
    assert (facts.block_number, facts.confirmations, facts.chain_id) == (5, 35, 31337)
    assert facts.signer is not None and facts.signer["kind"] == "signature"
    assert facts.signer["signer_kind"] == "jpki-card-signature"
    assert "signed with a My Number card signature certificate" in verdict.summary
    issuer = verdict.check("issuer_policy")
    assert issuer is not None and "pre-seal bundle, --accept-unsealed" in issuer.detail


@pytest.mark.parametrize("name", sorted(EXPECTED["seal_policy"]))
def test_pre_seal_vectors_fail_the_seal_policy_by_default(name: str) -> None:
    expected = EXPECTED["seal_policy"][name]
    document = INCOME if "pkcs1" in name else RESIDENT
    verdict = run(name.rsplit("/", maxsplit=1)[-1], document, require_municipal_seal=True)
    assert verdict.status.value == expected["status"]
    assert verdict.failed_check == expected["failed_check"]
    assert verdict.reason is not None and "--accept-unsealed" in verdict.reason


def test_pkcs1_vector_and_digest_only_verification() -> None:
    assert run("valid-pkcs1.json", INCOME).ok
    assert run("valid-cms.json", DocumentDigest.of(RESIDENT)).ok
    assert run("valid-pkcs1.json", DocumentDigest.of(INCOME)).ok


def test_wrong_document_fails_leaf_and_signature_but_not_the_proof() -> None:
    verdict = run(document=INCOME)
    assert verdict.status is VerdictStatus.INVALID and verdict.failed_check == "document_leaf"
    found = outcomes(verdict)
    # The bundle itself is sound (proof, anchor, signer); the document is not the signed one.
    assert found["merkle_inclusion"] == found["head_anchored"] == "passed"
    assert found["signer_certificate"] == "passed"
    assert found["signature"] == "failed"
    assert "messageDigest mismatch" in (verdict.check("signature") or _none()).detail


def test_revoked_vector_names_reason_and_time() -> None:
    verdict = run("revoked.json", INCOME)
    assert verdict.status is VerdictStatus.REVOKED
    assert "superseded" in (verdict.reason or "") and "2026-02-01T09:30:00Z" in (
        verdict.reason or ""
    )
    assert verdict.facts.revocation is not None
    assert verdict.facts.revocation["reason"] == "superseded"
    assert verdict.facts.revocation["source"] == "bundle"


def test_pending_vector_still_checks_the_signature() -> None:
    verdict = run("pending.json")
    assert verdict.status is VerdictStatus.PENDING
    found = outcomes(verdict)
    assert found["merkle_inclusion"] == "unknown"
    assert found["head_anchored"] == found["finality"] == "skipped"
    assert found["signature"] == found["signer_certificate"] == "passed"
    # A pending bundle whose signature is bad is invalid, not pending.
    data = json.loads(bundle_text("pending.json"))
    data["signature"]["certificates"] = data["signature"]["certificates"][1:]
    assert run(json.dumps(data).encode()).status is VerdictStatus.INVALID


def test_malformed_bundle_is_an_invalid_verdict_with_every_check_listed() -> None:
    verdict = run((VECTORS / "malformed" / "huge-path.json").read_bytes())
    assert verdict.status is VerdictStatus.INVALID and verdict.failed_check == "bundle_format"
    assert "inclusion.path" in (verdict.reason or "")
    assert [c.outcome for c in verdict.checks[1:]] == [Outcome.SKIPPED] * (len(CHECK_ORDER) - 1)


def test_bundle_as_parsed_object_or_mapping() -> None:
    text = bundle_text("valid-cms.json")
    assert run(text).ok
    verifier = Verifier(policy(), chain_reader=RecordedChain.load())
    assert verifier.verify(RESIDENT, load_bundle(text)).ok
    assert verifier.verify(RESIDENT, json.loads(text)).ok
    with pytest.raises(TypeError, match="DocumentDigest"):
        verifier.verify("text", text)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- policy effects


def test_signature_not_required_skips_the_jpki_checks() -> None:
    verdict = run(require_signature=False, trust_anchors=())
    assert verdict.ok
    assert {
        outcomes(verdict)[n] for n in ("signature_binding", "signer_certificate", "signature")
    } == {"skipped"}


def test_no_trust_anchors_is_unknown_not_valid() -> None:
    verdict = run(trust_anchors=())
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "signer_certificate"
    assert "no JPKI trust anchors" in (verdict.reason or "")


def test_no_revocation_data_is_unknown_not_valid() -> None:
    verdict = run(revocation=RevocationSources())
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "signer_certificate"
    assert "no CRL/OCSP" in (verdict.reason or "")


def test_no_rpc_endpoint_is_unknown() -> None:
    verdict = Verifier(policy()).verify(RESIDENT, bundle_text("valid-cms.json"))
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "head_anchored"
    assert "no JSON-RPC endpoint is configured" in (verdict.reason or "")


def test_module_level_verify_uses_the_policy() -> None:
    verdict = verify(RESIDENT, bundle_text("valid-cms.json"), policy())
    assert verdict.failed_check == "head_anchored"  # no endpoint in this policy


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rpc_urls": "http://127.0.0.1:8545"}, "list of URLs"),
        ({"rpc_urls": ["ftp://x"]}, "http"),
        ({"registry": "0x1234"}, "address"),
        ({"chain_id": 0}, "positive"),
        ({"chain_id": True}, "integer"),
        ({"finality_depth": -1}, "non-negative"),
        ({"node_url": "file:///etc"}, "http"),
        ({"now": datetime(2026, 1, 1)}, "time zone"),
        ({"rpc_timeout": 0}, "positive"),
    ],
)
def test_policy_refuses_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy(**changes)


def test_policy_refuses_an_end_entity_trust_anchor() -> None:
    signer = load_certificates([VECTORS / "signing" / "signer.pem"])
    with pytest.raises(PolicyError, match="not a CA certificate"):
        policy(trust_anchors=signer)


# --------------------------------------------------------------------------- chain branches


@pytest.mark.parametrize(
    ("chain", "status", "check", "message"),
    [
        (EditedChain(record_edit={"withdrawn": True}), "invalid", "head_not_withdrawn", "withdrew"),
        (
            EditedChain(node_edit={"status": NodeStatus.SUSPENDED}),
            "invalid",
            "node_authorised",
            "suspended at block 5",
        ),
        (
            EditedChain(node_edit={"status": NodeStatus.RETIRED}),
            "invalid",
            "node_authorised",
            "retired",
        ),
        (
            EditedChain(node_edit={"status": NodeStatus.UNREGISTERED}),
            "invalid",
            "node_authorised",
            "not a registered node",
        ),
        (EditedChain(node_edit={"lg_code": 11002}), "invalid", "node_authorised", "011002"),
        (EditedChain(node=None), "invalid", "node_authorised", "does not exist"),
        (
            EditedChain(transaction_edit={"succeeded": False}),
            "invalid",
            "anchor_transaction",
            "reverted",
        ),
        (
            EditedChain(transaction_edit={"to": "0x" + "11" * 20}),
            "invalid",
            "anchor_transaction",
            "not sent to the registry",
        ),
        (
            EditedChain(transaction_edit={"head_anchored": ()}),
            "invalid",
            "anchor_transaction",
            "no HeadAnchored",
        ),
        (
            EditedChain(canonical_block_hash=b"\x01" * 32),
            "invalid",
            "anchor_transaction",
            "reorganised",
        ),
        (
            EditedChain(record_edit={"block_number": 6}),
            "invalid",
            "anchor_transaction",
            "recorded the anchor in block 6",
        ),
        (EditedChain(record=None), "invalid", "head_anchored", "never anchored"),
        (EditedChain(record_edit={"seq": 3}), "invalid", "head_anchored", "seq 3"),
        (EditedChain(block_timestamp=1), "invalid", "anchor_time", "inconsistent"),
        (
            EditedChain(record_edit={"timestamp": 1_768_467_000}, block_timestamp=1_768_467_000),
            "invalid",
            "anchor_time",
            "after the anchor time",
        ),
        (
            EditedChain(record_edit={"timestamp": 1_900_000_000}, block_timestamp=1_900_000_000),
            "invalid",
            "anchor_time",
            "in the future",
        ),
        (EditedChain(latest_block=6), "pending", "finality", "1 of the 2 blocks"),
        (
            EditedChain(raise_=EvidenceUnavailableError("endpoint down")),
            "unknown",
            "head_anchored",
            "endpoint down",
        ),
    ],
    ids=lambda value: None,
)
def test_chain_facts_decide_the_right_check(
    chain: EditedChain, status: str, check: str, message: str
) -> None:
    verdict = run(chain=chain)
    assert (verdict.status.value, verdict.failed_check) == (status, check), verdict.summary
    assert message in (verdict.reason or "")


def test_suspended_after_the_anchor_block_does_not_matter() -> None:
    # Facts are read at the anchor block: only the node's status there counts. A node that is
    # suspended now is reported ACTIVE at block 5 by a correct reader (see the chain tests).
    verdict = run(chain=EditedChain(latest_block=1000))
    assert verdict.ok and (verdict.check("finality") or _none()).detail.startswith("995 blocks")


def test_caching_reader_asks_once_per_head_within_ttl() -> None:
    now = [0.0]
    inner = RecordedChain.load()
    cached = CachingChainReader(inner, ttl=60, clock=lambda: now[0])
    verifier = Verifier(policy(require_signature=False), chain_reader=cached)
    for _ in range(3):
        assert verifier.verify(RESIDENT, bundle_text("valid-cms.json")).ok
    assert verifier.verify(INCOME, bundle_text("valid-pkcs1.json")).ok  # same head
    assert inner.reads == 1
    now[0] = 61.0
    assert verifier.verify(RESIDENT, bundle_text("valid-cms.json")).ok
    assert inner.reads == 2


def test_verifier_cache_ttl_caches_chain_and_signer() -> None:
    inner = RecordedChain.load()
    verifier = Verifier(policy(), chain_reader=inner, cache_ttl=300)
    first = verifier.verify(RESIDENT, bundle_text("valid-cms.json"))
    second = verifier.verify(RESIDENT, bundle_text("valid-cms.json"))
    assert first.ok and second.ok and inner.reads == 1
    assert first.checks == second.checks


# --------------------------------------------------------------------------- personal data


def test_verdict_json_carries_no_personal_data_until_asked() -> None:
    verdict = run()
    text = json.dumps(verdict.as_dict(), ensure_ascii=False)
    items = verdict.signer_personal_data()
    assert items is not None and items.name == "試験 ベクトル"
    for secret in (items.name, items.address, items.date_of_birth_raw):
        assert secret and secret not in text and secret not in repr(verdict)
    assert "Tsukuba" not in text  # the subject names the holder's municipality: not shown
    assert json.loads(text)["status"] == "valid"
    assert json.loads(text)["checks"][0] == {
        "name": "bundle_format",
        "outcome": "passed",
        "detail": "proof bundle version 2, status anchored",
    }


def test_no_signer_no_personal_data() -> None:
    verdict = run((VECTORS / "malformed" / "not-json.json").read_bytes())
    assert verdict.signer_personal_data() is None


# --------------------------------------------------------------------------- the issuing node


@pytest.fixture
def node_server() -> Iterator[RecordedNode]:
    with recorded_node() as node:
        yield node


def bucket_path(bundle: str) -> str:
    leaf_hash = load_bundle(bundle_text(bundle)).leaf.leaf_hash.hex()
    return "/v1/revocations/" + leaf_hash[:PREFIX_HEX_DIGITS]


def revocation_of_income() -> RevocationSection:
    section = load_bundle(bundle_text("revoked.json")).revocation
    assert section is not None
    return section


def test_node_reports_not_revoked(node_server: RecordedNode) -> None:
    verdict = run(node_url=node_server.url, require_revocation_check=True)
    assert verdict.ok and outcomes(verdict)["document_revocation"] == "passed"
    assert node_server.requests == [bucket_path("valid-cms.json")]
    assert "not checked" not in verdict.summary


def test_node_asks_by_prefix_only(node_server: RecordedNode) -> None:
    # k-anonymity: the node learns two hex digits of the leaf hash, never the leaf hash.
    run(node_url=node_server.url)
    leaf_hash = load_bundle(bundle_text("valid-cms.json")).leaf.leaf_hash.hex()
    (path,) = node_server.requests
    assert path == f"/v1/revocations/{leaf_hash[:2]}" and leaf_hash not in path


def test_node_proves_a_revocation_the_bundle_lacks(node_server: RecordedNode) -> None:
    node_server.revocations.append(revocation_of_income())
    verdict = run("valid-pkcs1.json", INCOME, node_url=node_server.url)
    assert verdict.status is VerdictStatus.REVOKED and verdict.failed_check == "document_revocation"
    assert "from the issuing node" in (verdict.reason or "")
    assert verdict.facts.revocation is not None and verdict.facts.revocation["source"] == "node"


def test_other_revocations_in_the_bucket_do_not_count(node_server: RecordedNode) -> None:
    # Another document of the same bucket is revoked: not this one.
    other = revocation_to_json(revocation_of_income())
    prefix = bucket_path("valid-cms.json").rsplit("/", 1)[1]
    other["entry"]["revoked_leaf_hash"] = prefix + "00" * 31
    node_server.serve(bucket_path("valid-cms.json"), {"prefix": prefix, "revocations": [other]})
    verdict = run(node_url=node_server.url)
    assert verdict.ok and outcomes(verdict)["document_revocation"] == "passed"


def test_a_revocation_outside_the_bucket_makes_the_answer_malformed(
    node_server: RecordedNode,
) -> None:
    # The income certificate's revocation (prefix 9c) served in the resident record's bucket
    # (prefix ab).
    node_server.serve(
        bucket_path("valid-cms.json"), _bucket("valid-cms.json", [revocation_of_income()])
    )
    verdict = run(node_url=node_server.url)
    assert verdict.status is VerdictStatus.UNKNOWN
    prefix = bucket_path("valid-cms.json").rsplit("/", 1)[1]
    assert f"revocations[0]: revokes a leaf outside prefix {prefix}" in (verdict.reason or "")


def _bucket(bundle: str, sections: list[RevocationSection]) -> dict[str, Any]:
    return revocation_bucket_json(bucket_path(bundle).rsplit("/", 1)[1], sections)


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({"prefix": "zz", "revocations": []}, 200, "prefix: must be the prefix asked for"),
        ({"revocations": []}, 200, "prefix: must be the prefix asked for"),
        ("extra", 200, "extra: unknown field"),
        ("no-list", 200, "revocations: must be a list"),
        ("bad-section", 200, "revocations[0]"),
        (b"<html>", 200, "not JSON"),
        ({}, 500, "HTTP 500"),
        ({}, 404, "HTTP 404"),
    ],
)
def test_bad_node_answers_are_unknown(
    node_server: RecordedNode, payload: Any, code: int, message: str
) -> None:
    good = _bucket("valid-cms.json", [])
    if payload == "extra":
        payload = {**good, "extra": 1}
    elif payload == "no-list":
        payload = {**good, "revocations": {}}
    elif payload == "bad-section":
        payload = {**good, "revocations": [{"status": "anchored"}]}
    node_server.serve(bucket_path("valid-cms.json"), payload, code)
    verdict = run(node_url=node_server.url)
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "document_revocation"
    assert message in (verdict.reason or "")


def test_unreachable_node_is_unknown() -> None:
    client = NodeStatusClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(EvidenceUnavailableError, match="cannot reach the issuing node"):
        client.status(b"\x00" * 32)
    verdict = run(node_url="http://127.0.0.1:9")
    assert verdict.status is VerdictStatus.UNKNOWN


def test_bundle_revocation_wins_without_asking_the_node(node_server: RecordedNode) -> None:
    verdict = run("revoked.json", INCOME, node_url=node_server.url)
    assert verdict.status is VerdictStatus.REVOKED and node_server.requests == []


def _none() -> Any:
    raise AssertionError("check missing")


# --------------------------------------------------------------------------- version 3

V3 = VECTORS / "v3"
V3_EXPECTED = json.loads((V3 / "expected.json").read_text(encoding="utf-8"))


def v3_policy(*, offline: bool) -> VerificationPolicy:
    return VerificationPolicy.for_trust_root(
        load_trust_root((V3 / "trust-root.json").read_bytes()),
        offline=offline,
        revocation=RevocationSources(crl_files=[VECTORS / "signing" / "crl.der"]),
        now=datetime.fromisoformat(V3_EXPECTED["verify_at"]),
        require_revocation_check=False,
        require_municipal_seal=V3_EXPECTED["require_municipal_seal"],
    )


@pytest.mark.parametrize("name", sorted(V3_EXPECTED["bundles"]))
def test_v3_vectors_online_and_offline_agree(name: str) -> None:
    case = V3_EXPECTED["bundles"][name]
    document = (VECTORS / case["document"]).read_bytes()
    bundle = (VECTORS / name).read_bytes()
    chain = RecordedChain(json.loads((V3 / "chain.json").read_text(encoding="utf-8")))
    online = Verifier(v3_policy(offline=False), chain_reader=chain).verify(document, bundle)
    offline = Verifier(v3_policy(offline=True)).verify(document, bundle)
    assert online.status.value == case["online"], online.summary
    assert offline.status.value == case["offline"], offline.summary
    assert online.failed_check == offline.failed_check == case["failed_check"]
    assert chain.reads == 1  # online really read the chain
    if case["failed_check"] is not None:
        failed = offline.check(case["failed_check"])
        assert failed is not None and "evidence." in failed.detail


def test_v3_vectors_without_evidence_are_unknown_offline() -> None:
    # A version-2 bundle carries no evidence: offline it cannot be decided.
    verdict = Verifier(v3_policy(offline=True)).verify(RESIDENT, bundle_text("valid-cms.json"))
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "head_anchored"


def test_v3_online_with_an_unreachable_chain_falls_back_to_the_evidence() -> None:
    class Down:
        def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
            raise EvidenceUnavailableError("the chain is down")

    bundle = (V3 / "bundles" / "valid.json").read_bytes()
    verdict = Verifier(v3_policy(offline=False), chain_reader=Down()).verify(RESIDENT, bundle)
    assert verdict.status is VerdictStatus.VALID_AS_OF, verdict.summary


def test_v3_online_chain_contradicting_the_evidence_fails() -> None:
    # The chain says the head was withdrawn; the evidence (older) says not: online wins.
    chain = json.loads((V3 / "chain.json").read_text(encoding="utf-8"))
    chain["anchors"][0]["withdrawn"] = True
    bundle = (V3 / "bundles" / "valid.json").read_bytes()
    verdict = Verifier(v3_policy(offline=False), chain_reader=RecordedChain(chain)).verify(
        RESIDENT, bundle
    )
    assert verdict.status is VerdictStatus.INVALID
    assert verdict.failed_check == "head_not_withdrawn"


def test_an_offline_policy_refuses_the_network() -> None:
    root = load_trust_root((V3 / "trust-root.json").read_bytes())
    with pytest.raises(PolicyError, match="rpc_urls"):
        VerificationPolicy.for_trust_root(root, offline=True, rpc_urls=["http://127.0.0.1:1"])
    with pytest.raises(PolicyError, match="trust root"):
        VerificationPolicy(rpc_urls=[], registry=CHAIN["registry"], chain_id=1, offline=True)


@pytest.mark.parametrize("name", sorted(V3_EXPECTED["without_own_crls"]["bundles"]))
def test_v3_signer_revocation_evidence_decides_without_own_crls(name: str) -> None:
    # PROTOCOL 10.3: with no CRL of its own, offline, the bundle's signer_revocation decides
    # the signer check (as of that evidence), once every blob holds.
    case = V3_EXPECTED["without_own_crls"]["bundles"][name]
    policy = VerificationPolicy.for_trust_root(
        load_trust_root((V3 / "trust-root.json").read_bytes()),
        offline=True,
        now=datetime.fromisoformat(V3_EXPECTED["verify_at"]),
        require_revocation_check=False,
        require_municipal_seal=False,
    )
    verdict = Verifier(policy).verify(
        (VECTORS / case["document"]).read_bytes(), (VECTORS / name).read_bytes()
    )
    assert verdict.status.value == case["offline"], verdict.summary
    assert verdict.failed_check == case["failed_check"]
    signer = verdict.check("signer_certificate")
    assert signer is not None and signer.as_of is case["signer_certificate_as_of"], signer
    assert "evidence.signer_revocation" in signer.detail or "bundle's revocation evidence" in (
        signer.detail
    )


def test_checks_reused_per_head_follow_the_chain_facts() -> None:
    # Checks 6-10 are reused while the same facts answer for the same head
    # (verifier/rules/anchoring.py:_head_checks): new facts for that head must be judged anew.
    withdrawn = EditedChain(record_edit={"withdrawn": True})
    for chain, outcome in [(None, "passed"), (withdrawn, "failed"), (None, "passed")]:
        verdict = run(chain=chain)
        assert outcomes(verdict)["head_not_withdrawn"] == outcome
