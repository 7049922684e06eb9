"""The notarization node over real HTTP with a real chain (a one-validator devnet): submit,
anchor, bundle, verify; bulk; idempotency; auth; malformed input; revocation; privacy."""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from devtools.testca import SYNTHETIC_PEOPLE, TestHierarchy
from protocol.merkle import root_from_leaf_hashes, verify_consistency
from tests.node_harness import REPO, NodeProcess, node_on_devnet, signed_entry
from tests.node_harness import http as call
from verifier.chain import NodeStatusAnswer, NodeStatusClient

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    with node_on_devnet(tmp_path_factory.mktemp("node-api"), jpki_hierarchy) as process:
        yield process


@pytest.fixture(scope="module")
def tokens(node: NodeProcess) -> dict[str, str]:
    return {
        "submit": node.token("issuing-system", "submit", "read"),
        "read": node.token("reader", "read"),
        "admin": node.token("admin", "admin", "read"),
    }


def submit(node: NodeProcess, token: str, body: dict[str, Any], path: str = "/v1/entries") -> Any:
    return call("POST", node.url + path, body, token)


def verify_cli(
    node: NodeProcess, document: Path, bundle: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "node.cli",
        "verify",
        str(document),
        "--bundle",
        str(bundle),
        "--rpc",
        node.rpc_url,
        "--registry",
        node.registry,
        "--chain-id",
        str(node.chain_id),
        "--trust",
        str(node.data_dir / "trust"),
        *[a for p in node.hierarchy.crl_files for a in ("--crl", str(p))],
        *extra,
    ]
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)


def test_submit_anchor_and_verify(
    node: NodeProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    document = "住民票の写し: test document 1".encode()
    answer = submit(node, tokens["submit"], signed_entry(node.hierarchy.ee_valid_gen02, document))
    assert answer.status == 201, answer.body
    receipt = answer.body
    assert (
        receipt["lg_code"] == "131016"
        and receipt["kind"] == "document"
        and len(receipt["salt"]) == 64
    )
    signed = {k: v for k, v in receipt.items() if k != "receipt_signature"}
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signer = Account.recover_message(
        encode_defunct(text=canonical), signature=receipt["receipt_signature"]
    )
    assert signer == receipt["node"]
    pending = call(
        "GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=tokens["read"]
    )
    assert pending.status == 200 and pending.body["leaf"]["leaf_hash"] == receipt["leaf_hash"]
    node.wait_final()
    final = call(
        "GET", f"{node.url}/v1/entries/{receipt['leaf_hash']}/bundle", token=tokens["read"]
    )
    assert final.headers["notary-bundle-state"] == "final" and final.body["status"] == "anchored"
    (tmp_path / "doc").write_bytes(document)
    (tmp_path / "bundle.json").write_text(json.dumps(final.body))
    done = verify_cli(node, tmp_path / "doc", tmp_path / "bundle.json", "--node-url", node.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID")
    (tmp_path / "doc").write_bytes(document + b" ")
    tampered = verify_cli(node, tmp_path / "doc", tmp_path / "bundle.json")
    assert tampered.returncode == 1 and "INVALID" in tampered.stdout


def test_bulk_is_all_or_nothing(node: NodeProcess, tokens: dict[str, str]) -> None:
    signer = node.hierarchy.ee_valid_gen01
    entries = [signed_entry(signer, f"bulk document {i}".encode()) for i in range(40)]
    before = call("GET", node.url + "/v1/log/head").body["tree_size"]
    bad = [*entries[:3], {**entries[3], "document_sha256": "zz" * 32}, *entries[4:]]
    refused = submit(node, tokens["submit"], {"entries": bad}, "/v1/entries/bulk")
    assert refused.status == 422 and refused.body["field"] == "entries[3].document_sha256"
    revoked = [*entries[:5], signed_entry(node.hierarchy.ee_revoked, b"revoked signer")]
    refused = submit(node, tokens["submit"], {"entries": revoked}, "/v1/entries/bulk")
    assert refused.status == 422 and refused.body["field"] == "entries[5].signature.certificate"
    assert "revoked" in refused.body["detail"]
    assert call("GET", node.url + "/v1/log/head").body["tree_size"] == before
    accepted = submit(node, tokens["submit"], {"entries": entries}, "/v1/entries/bulk")
    assert accepted.status == 201
    indices = [r["leaf_index"] for r in accepted.body["receipts"]]
    assert indices == list(range(before, before + 40))


def test_idempotent_on_request_id(node: NodeProcess, tokens: dict[str, str]) -> None:
    body = signed_entry(node.hierarchy.ee_valid_gen02, b"idempotent", request_id="order-2026-0001")
    first = submit(node, tokens["submit"], body)
    again = submit(node, tokens["submit"], body)
    assert (first.status, again.status) == (201, 200)
    assert again.body == first.body
    clash = submit(node, tokens["submit"], {**body, "document_type": 2})
    assert clash.status == 409 and clash.body["field"] == "request_id"
    # The key is per client: another issuing system may use the same id.
    other = node.token("other-system", "submit")
    assert submit(node, other, body).status == 201


def test_authentication_and_scopes(node: NodeProcess, tokens: dict[str, str]) -> None:
    body = signed_entry(node.hierarchy.ee_valid_gen02, b"auth")
    missing = call("POST", node.url + "/v1/entries", body)
    assert missing.status == 401 and "Bearer" in missing.headers["www-authenticate"]
    assert missing.headers["content-type"] == "application/problem+json"
    assert call("POST", node.url + "/v1/entries", body, "ntk_not-a-token").status == 401
    assert submit(node, tokens["read"], body).status == 403
    leaf = submit(node, tokens["submit"], body).body["leaf_hash"]
    assert call("GET", f"{node.url}/v1/entries/{leaf}/bundle").status == 401
    assert call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=tokens["read"]).status == 200
    assert (
        call(
            "POST",
            f"{node.url}/v1/entries/{leaf}/revocation",
            {"reason": "superseded"},
            tokens["submit"],
        ).status
        == 403
    )
    doomed = node.token("leaving", "submit")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "node",
            "--data-dir",
            str(node.data_dir),
            "token",
            "revoke",
            "--name",
            "leaving",
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    assert submit(node, doomed, body).status == 401


def _mutate(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "field", "status"),
    [
        ("document_sha256", "ab" * 31, "document_sha256", 422),
        ("document_sha256", "xyz", "document_sha256", 422),
        ("document_sha256", KeyError, "document_sha256", 422),
        ("document_type", 0, "document_type", 422),
        ("document_type", 70000, "document_type", 422),
        ("issued_at", "2026-11-23T10:00:00", "issued_at", 422),
        ("issued_at", "yesterday", "issued_at", 422),
        ("surprise", 1, "surprise", 422),
        ("signature.format", "xades", "signature.format", 422),
        ("signature.value", "%%%not base64", "signature.value", 422),
        ("signature.value", base64.b64encode(b"garbage").decode(), "signature.value", 422),
    ],
)
def test_malformed_entries_are_refused_naming_the_field(
    node: NodeProcess, tokens: dict[str, str], path: str, value: Any, field: str, status: int
) -> None:
    body = _mutate(signed_entry(node.hierarchy.ee_valid_gen02, b"malformed"), path, value)
    before = call("GET", node.url + "/v1/log/head").body["tree_size"]
    answer = submit(node, tokens["submit"], body)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert (
        answer.body["field"] == field
        and answer.body["status"] == status
        and answer.body["type"].startswith("https://")
    )
    assert call("GET", node.url + "/v1/log/head").body["tree_size"] == before


@pytest.mark.parametrize(
    ("role", "problem"),
    [
        ("ee_revoked", "signer-revoked"),
        ("ee_expired", "signer-expired"),
        ("ee_fake", "signer-untrusted"),
    ],
)
def test_bad_signers_are_refused(
    node: NodeProcess, tokens: dict[str, str], role: str, problem: str
) -> None:
    signer = getattr(node.hierarchy, role)
    answer = submit(node, tokens["submit"], signed_entry(signer, b"bad signer"))
    assert answer.status == 422 and answer.body["type"].endswith(problem), answer.body
    assert answer.body["field"] == "signature.certificate"


def test_signature_over_another_document_is_refused(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    body = signed_entry(node.hierarchy.ee_valid_gen02, b"what was signed")
    body["document_sha256"] = "00" * 32
    answer = submit(node, tokens["submit"], body)
    assert answer.status == 422 and "messageDigest" in answer.body["detail"]


def test_transport_level_garbage(node: NodeProcess, tokens: dict[str, str]) -> None:
    not_json = call("POST", node.url + "/v1/entries", token=tokens["submit"], raw=b"{not json")
    assert not_json.status == 422 and not_json.headers["content-type"] == "application/problem+json"
    # Announce a 100 MB body and send none of it: the node must answer 413 without reading.
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    connection.putrequest("POST", "/v1/entries")
    connection.putheader("Authorization", f"Bearer {tokens['submit']}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(100 * 1024 * 1024))
    connection.endheaders()
    huge = connection.getresponse()
    assert huge.status == 413 and json.loads(huge.read())["type"].endswith("body-too-large")
    connection.close()
    assert (
        call("GET", node.url + "/v1/entries/nothex/bundle", token=tokens["read"]).body["field"]
        == "leaf_hash"
    )
    assert call("GET", node.url + "/v1/no-such-thing").status == 404
    # Deep nesting must reach the JSON parser (bulk: a single entry's 256 KiB limit would
    # refuse these 400 KB unread) and come back as a problem, not a crash.
    nested = call(
        "POST",
        node.url + "/v1/entries/bulk",
        token=tokens["submit"],
        raw=b"[" * 200_000 + b"]" * 200_000,
    )
    assert (
        nested.status in (400, 422) and nested.headers["content-type"] == "application/problem+json"
    )
    assert call("GET", node.url + "/healthz").status == 200  # still alive
    assert call("GET", node.url + "/v1/log/consistency?first=5&second=2").status == 422


def test_revocation_shows_in_verification(
    node: NodeProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    document = b"certificate issued in error"
    receipt = submit(
        node, tokens["submit"], signed_entry(node.hierarchy.ee_valid_gen02, document)
    ).body
    leaf = receipt["leaf_hash"]
    # A verifier asks for the revocations of the first two hex digits, never for the leaf.
    status = NodeStatusClient(node.url)
    assert status.status(bytes.fromhex(leaf)) == NodeStatusAnswer(False, None)
    (tmp_path / "doc").write_bytes(document)
    pending = call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=tokens["read"])
    (tmp_path / "before-revocation.json").write_text(json.dumps(pending.body))
    revoked = call(
        "POST",
        f"{node.url}/v1/entries/{leaf}/revocation",
        {"reason": "issued_in_error"},
        tokens["admin"],
    )
    assert (
        revoked.status == 201
        and revoked.body["kind"] == "revocation"
        and revoked.body["revokes"] == leaf
    )
    twice = call(
        "POST",
        f"{node.url}/v1/entries/{leaf}/revocation",
        {"reason": "superseded"},
        tokens["admin"],
    )
    assert twice.status == 409
    node.wait_final()
    answer = status.status(bytes.fromhex(leaf))
    assert answer.revoked and answer.revocation is not None
    assert answer.revocation.status == "anchored"
    assert answer.revocation.entry.revoked_leaf_hash.hex() == leaf
    bucket = call("GET", f"{node.url}/v1/revocations/{leaf[:2]}").body
    assert bucket["prefix"] == leaf[:2]
    assert all(r["entry"]["revoked_leaf_hash"].startswith(leaf[:2]) for r in bucket["revocations"])
    bundle = call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=tokens["read"]).body
    assert bundle["revocation"]["status"] == "anchored"
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    done = verify_cli(node, tmp_path / "doc", tmp_path / "bundle.json")
    assert done.returncode == 1 and done.stdout.startswith("REVOKED"), done.stdout
    # A bundle fetched before the revocation learns it from the node's revocation bucket.
    old = verify_cli(
        node, tmp_path / "doc", tmp_path / "before-revocation.json", "--node-url", node.url
    )
    assert old.returncode == 1 and old.stdout.startswith("REVOKED"), old.stdout


def test_log_endpoints_prove_consistency(node: NodeProcess, tokens: dict[str, str]) -> None:
    submit(node, tokens["submit"], signed_entry(node.hierarchy.ee_valid_gen01, b"log 1"))
    head = node.wait_final()
    heads = call("GET", node.url + "/v1/log/heads?limit=1000").body["heads"]
    anchored = [h for h in heads if h["state"] == "final"]
    assert len(anchored) >= 2 and [h["seq"] for h in heads] == list(range(len(heads)))
    for old, new in itertools.pairwise(anchored):
        proof = call(
            "GET",
            f"{node.url}/v1/log/consistency?first={old['tree_size']}&second={new['tree_size']}",
        ).body
        verify_consistency(
            old["tree_size"],
            new["tree_size"],
            [bytes.fromhex(p) for p in proof["proof"]],
            bytes.fromhex(old["root"]),
            bytes.fromhex(new["root"]),
        )
    leaves = call("GET", f"{node.url}/v1/log/leaves?start=0&end={head['tree_size']}").body["leaves"]
    assert (
        root_from_leaf_hashes([bytes.fromhex(x["leaf_hash"]) for x in leaves]).hex() == head["root"]
    )


def test_operations_endpoints(node: NodeProcess) -> None:
    assert call("GET", node.url + "/healthz").body == {"status": "ok"}
    assert call("GET", node.url + "/readyz").status == 200
    metrics = call("GET", node.url + "/metrics").body
    assert "notary_entries_total" in metrics and "notary_http_request_seconds_bucket" in metrics
    spec = call("GET", node.url + "/openapi.json").body
    assert {"/v1/entries", "/v1/entries/bulk", "/v1/log/head", "/v1/log/consistency"} <= set(
        spec["paths"]
    )


def test_no_personal_data_in_logs_or_public_endpoints(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    receipt = submit(
        node, tokens["submit"], signed_entry(node.hierarchy.ee_valid_gen02, b"privacy")
    ).body
    leaf = receipt["leaf_hash"]
    node.wait_final()
    head = call("GET", node.url + "/v1/log/head").body
    public = [
        json.dumps(receipt, ensure_ascii=False),
        json.dumps(head, ensure_ascii=False),
        json.dumps(call("GET", node.url + "/v1/log/heads").body),
        json.dumps(
            call("GET", f"{node.url}/v1/log/leaves?start=0&end={min(head['tree_size'], 1000)}").body
        ),
        json.dumps(call("GET", f"{node.url}/v1/revocations/{leaf[:2]}").body),
        json.dumps(
            call(
                "GET", f"{node.url}/v1/log/inclusion?leaf_hash={leaf}&tree_size={head['tree_size']}"
            ).body
        ),
        call("GET", node.url + "/metrics").body,
        node.log_file.read_text(errors="replace"),
    ]
    certificate = node.hierarchy.ee_valid_gen02.cert.read_text()
    der_b64 = "".join(certificate.splitlines()[1:-1])
    person = SYNTHETIC_PEOPLE["sign-ee-valid-gen02"]
    forbidden = [person.name, person.address, person.date_of_birth, "Iizuka-shi", der_b64[40:120]]
    for text in public:
        for value in forbidden:
            assert value not in text
    # The holder's bundle does carry the certificate: that is why it needs a token.
    bundle = json.dumps(
        call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=tokens["read"]).body
    )
    assert der_b64[40:120] in bundle
