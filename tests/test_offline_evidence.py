"""Issue 14: a real node on a real 3-validator Clique devnet hands out a bundle whose
chain evidence verifies offline, after every chain process is stopped and its data deleted.

The node anchors a document, the head becomes final, the node captures the evidence (headers
to finality, receipt and transaction proofs, the registry's storage proofs) and a TSA's token;
the test exports the consortium's trust root from the chain, then stops the devnet and deletes
its folders. `notary verify --offline` must then give `valid_as_of` (exit 4) with no network;
every evidence field altered must be refused by the check it attacks; online verification with
the trust root must agree while the chain runs.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_utils.crypto import keccak

from devnet.network import NetworkProcesses, init_network
from devtools.testca import TestHierarchy
from devtools.tsa import DEV_POLICY, TimestampAuthority, generate_tsa
from protocol.bundle import SEALED_VERSION, load_bundle
from protocol.checks import (
    ANCHOR_TIME,
    ANCHOR_TRANSACTION,
    FINALITY,
    HEAD_ANCHORED,
    HEAD_NOT_WITHDRAWN,
    NODE_AUTHORISED,
    Outcome,
    VerdictStatus,
)
from protocol.clique import SignerSet
from protocol.registry_storage import node_slot
from protocol.trust_root import RegistryFacts, TrustRoot, dump_trust_root
from tests.devnet_helpers import rpc
from tests.node_harness import REPO, NodeProcess, provision_node, signed_entry
from tests.node_harness import http as call
from verifier import VerificationPolicy, Verifier
from verifier.jpki import RevocationSources, load_certificates
from verifier.models import Verdict

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

DOCUMENT = "住民票の写し: offline evidence".encode()


@dataclass
class Captured:
    """What the holder and the relying party keep once the chain is gone."""

    folder: Path
    bundle: dict[str, Any]
    trust_root: TrustRoot
    hierarchy: TestHierarchy
    online: Verdict
    """The verdict online, with the trust root, while the chain still ran."""

    @property
    def bundle_file(self) -> Path:
        return self.folder / "bundle.json"

    @property
    def document_file(self) -> Path:
        return self.folder / "document.txt"

    @property
    def trust_root_file(self) -> Path:
        return self.folder / "trust-root.json"


def export_trust_root(url: str, registry: str, tsa_anchor: Path, jpki: TestHierarchy) -> TrustRoot:
    """The consortium's trust root, as governance would export it from the running chain."""
    genesis = rpc(url, "eth_getBlockByNumber", "0x0", False)
    signers = rpc(url, "clique_getSigners", "0x0")
    code = bytes.fromhex(rpc(url, "eth_getCode", registry, "latest")[2:])
    tsa = x509.load_pem_x509_certificates(tsa_anchor.read_bytes())
    return TrustRoot(
        chain_id=int(rpc(url, "eth_chainId"), 16),
        genesis_hash=bytes.fromhex(genesis["hash"][2:]),
        registry=RegistryFacts(registry, keccak(code)),
        signer_sets=(SignerSet(0, frozenset(bytes.fromhex(s[2:]) for s in signers)),),
        tsa_anchors=tuple(c.public_bytes(Encoding.DER) for c in tsa),
        jpki_anchors=tuple(load_certificates([p])[0].der for p in jpki.trust_anchors),
    )


def offline_policy(captured: Captured) -> VerificationPolicy:
    return VerificationPolicy.for_trust_root(
        captured.trust_root,
        offline=True,
        revocation=RevocationSources(crl_files=captured.hierarchy.crl_files),
    )


@pytest.fixture(scope="module")
def captured(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[Captured]:
    root = tmp_path_factory.mktemp("offline")
    tsa_files = generate_tsa(root / "tsa")
    layout = init_network(root / "chain", validators=3)
    chain = NetworkProcesses(layout)
    chain.start_all()
    url = layout.nodes[0].rpc_url
    node: NodeProcess | None = None
    try:
        with TimestampAuthority(tsa_files, "127.0.0.1", 0) as tsa:
            node = provision_node(url, layout.dev_account(), root / "node", jpki_hierarchy)
            node.env = {
                "NOTARY_TSA_URL": tsa.url,
                "NOTARY_TSA_TRUST_ANCHORS": str(tsa_files.trust_anchor),
                "NOTARY_TSA_POLICY": DEV_POLICY,
            }
            node.start()
            read = node.token("reader", "read")
            submit = node.token("issuer", "submit")
            answer = call(
                "POST",
                node.url + "/v1/entries",
                signed_entry(jpki_hierarchy.ee_valid_gen02, DOCUMENT),
                token=submit,
            )
            assert answer.status == 201, answer.body
            leaf = answer.body["leaf_hash"]
            node.wait_final()
            bundle = wait_for_evidence(node.url + f"/v1/entries/{leaf}/bundle", read)
            trust_root = export_trust_root(
                url, node.registry, tsa_files.trust_anchor, jpki_hierarchy
            )
        folder = root / "holder"
        folder.mkdir()
        captured = Captured(folder, bundle, trust_root, jpki_hierarchy, None)  # type: ignore[arg-type]
        captured.bundle_file.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
        captured.document_file.write_bytes(DOCUMENT)
        captured.trust_root_file.write_text(dump_trust_root(trust_root), encoding="utf-8")
        online_policy = VerificationPolicy.for_trust_root(
            trust_root,
            rpc_urls=[url],
            revocation=RevocationSources(crl_files=jpki_hierarchy.crl_files),
            node_url=node.url,
        )
        captured.online = Verifier(online_policy).verify(DOCUMENT, bundle)
    finally:
        if node is not None:
            node.stop()
        chain.stop_all()
    # Nothing of the chain is left: its processes are gone and so are their data folders.
    shutil.rmtree(root / "chain")
    shutil.rmtree(root / "node")
    yield captured


def wait_for_evidence(url: str, token: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        body = call("GET", url, token=token).body
        if body.get("version") == SEALED_VERSION and "timestamp" in body.get("evidence", {}):
            return dict(body)
        time.sleep(0.5)
    raise AssertionError(f"no bundle with a timestamp within {timeout} s: {body}")


# --------------------------------------------------------------------------- the bundle


def test_the_node_serves_a_bundle_with_evidence(captured: Captured) -> None:
    bundle = load_bundle(json.dumps(captured.bundle))
    assert (
        bundle.version == SEALED_VERSION
        and bundle.evidence is not None
        and bundle.anchor is not None
    )
    evidence = bundle.evidence
    # 3 signers: the anchor block and at least 2 distinct sealers on top.
    assert len(evidence.headers) >= 3
    assert evidence.timestamp is not None
    assert evidence.state.block_number == bundle.anchor.block_number + len(evidence.headers) - 1


def test_online_verification_with_the_trust_root_is_valid(captured: Captured) -> None:
    assert captured.online.status is VerdictStatus.VALID, captured.online.summary


# --------------------------------------------------------------------------- offline


def test_the_cli_verifies_offline_with_no_chain_left(captured: Captured) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "verify",
            str(captured.document_file),
            "--bundle",
            str(captured.bundle_file),
            "--trust-root",
            str(captured.trust_root_file),
            "--offline",
            *[a for p in captured.hierarchy.crl_files for a in ("--crl", str(p))],
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("VALID AS OF EVIDENCE"), done.stdout
    assert "not known offline" in done.stdout, done.stdout


def test_offline_and_online_verdicts_agree(captured: Captured) -> None:
    offline = Verifier(offline_policy(captured)).verify(DOCUMENT, captured.bundle)
    assert offline.status is VerdictStatus.VALID_AS_OF, offline.summary
    assert offline.failed_check is None and captured.online.failed_check is None
    for check in offline.checks:
        assert check.outcome in (Outcome.PASSED, Outcome.SKIPPED), check
    facts = offline.facts
    assert facts.as_of_block == captured.bundle["evidence"]["state"]["block_number"]
    assert facts.anchored_at == captured.online.facts.anchored_at
    assert facts.timestamped_at is not None
    assert offline.check(HEAD_NOT_WITHDRAWN).as_of  # type: ignore[union-attr]


def test_a_tampered_document_is_invalid_offline(captured: Captured) -> None:
    offline = Verifier(offline_policy(captured)).verify(DOCUMENT + b" ", captured.bundle)
    assert offline.status is VerdictStatus.INVALID and offline.failed_check == "document_leaf"


# --------------------------------------------------------------------------- mutations


def flip_hex(value: str, position: int) -> str:
    """`value` (0x-hex) with one byte's low bit flipped, `position` bytes from the start (a
    negative position counts from the end)."""
    raw = bytearray(bytes.fromhex(value[2:]))
    raw[position] ^= 0x01
    return "0x" + raw.hex()


def flip_b64(value: str, position: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


Mutation = Callable[[dict[str, Any]], None]


def node_slot_index(evidence: dict[str, Any], node: str) -> int:
    """Where the node record's first slot is among the evidence's (ascending) slots."""
    wanted = "0x" + node_slot(node).to_bytes(32, "big").hex()
    return [s["slot"] for s in evidence["state"]["slots"]].index(wanted)


def _set(path: str, change: Callable[[Any], Any]) -> Mutation:
    """Change the evidence field at `path` (dots; "NODE" is the node record's slot index)."""

    def mutate(bundle: dict[str, Any]) -> None:
        evidence = bundle["evidence"]
        target: Any = evidence
        keys: list[Any] = []
        for key in path.split("."):
            if key == "NODE":
                keys.append(node_slot_index(evidence, bundle["anchor"]["node"]))
            elif key.lstrip("-").isdigit():
                keys.append(int(key))
            else:
                keys.append(key)
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = change(target[keys[-1]])

    return mutate


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    # The anchor header's bytes: it no longer hashes to the bundle's block.
    "anchor header byte": (_set("headers.0", lambda h: flip_hex(h, 40)), ANCHOR_TRANSACTION),
    # A later header's byte (its state root): the chain of parent hashes breaks.
    "later header byte": (_set("headers.1", lambda h: flip_hex(h, 100)), FINALITY),
    # The seal's r: the signature recovers another key (or none), not an authorised signer.
    "seal": (_set("headers.-1", lambda h: flip_hex(h, -40)), FINALITY),
    "headers cut short": (_set("headers", lambda h: h[:1]), FINALITY),
    "receipt proof node": (_set("receipt.proof.0", lambda n: flip_hex(n, -3)), HEAD_ANCHORED),
    "receipt index": (_set("receipt.index", lambda i: i + 1), HEAD_ANCHORED),
    "receipt log": (_set("receipt.value", lambda v: flip_hex(v, -1)), HEAD_ANCHORED),
    "transaction proof node": (
        _set("transaction.proof.0", lambda n: flip_hex(n, -3)),
        ANCHOR_TRANSACTION,
    ),
    "transaction value": (_set("transaction.value", lambda v: flip_hex(v, -1)), ANCHOR_TRANSACTION),
    "account proof node": (
        _set("state.account_proof.0", lambda n: flip_hex(n, -3)),
        HEAD_NOT_WITHDRAWN,
    ),
    "node storage proof node": (
        _set("state.slots.NODE.proof.0", lambda n: flip_hex(n, -3)),
        NODE_AUTHORISED,
    ),
    "storage value": (_set("state.slots.NODE.value", lambda v: flip_hex(v, -1)), NODE_AUTHORISED),
    "state block not in the headers": (
        _set("state.block_number", lambda b: b + 100),
        NODE_AUTHORISED,
    ),
    "timestamp token": (_set("timestamp", lambda t: flip_b64(t, -10)), ANCHOR_TIME),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_altered_evidence_field_is_refused_by_its_check(
    captured: Captured, name: str
) -> None:
    mutate, check = MUTATIONS[name]
    bundle = copy.deepcopy(captured.bundle)
    mutate(bundle)
    verdict = Verifier(offline_policy(captured)).verify(DOCUMENT, bundle)
    assert verdict.status is VerdictStatus.INVALID, (name, verdict.summary)
    found = verdict.check(check)
    assert found is not None and found.outcome is Outcome.FAILED, (name, verdict.summary)
    assert "evidence." in found.detail, found.detail
