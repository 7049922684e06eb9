"""Two real nodes on a devnet: one relays (`relay_for`), the other hands its signed heads to it
(`relay_url`) with a key that holds no ether. Every head of both lands through `anchorMany`,
bundles of the relayed node verify, and `notary audit` finds nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor import RegistryClient, connect
from anchor.keys import write_keystore
from devnet.network import NetworkProcesses, init_network
from devtools.testca import TestHierarchy
from tests.chains import send_ether
from tests.node_harness import LG_CODE, REPO, NodeProcess, http, signed_entry
from verifier import VerificationPolicy, verify
from verifier.jpki import RevocationSources, load_certificates

CHUO_KU = 131024  # the relayed node's municipality (千代田区 is the relayer's)

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[tuple[str, LocalAccount]]:
    layout = init_network(tmp_path / "chain", validators=1)
    processes = NetworkProcesses(layout)
    processes.start_all()
    try:
        yield layout.nodes[0].rpc_url, layout.dev_account()
    finally:
        processes.stop_all()


def node_process(
    rpc_url: str,
    registry: RegistryClient,
    key: LocalAccount,
    workdir: Path,
    h: TestHierarchy,
    lg_code: int = LG_CODE,
) -> NodeProcess:
    workdir.mkdir(parents=True)
    key_file, password_file = workdir / "key.json", workdir / "key.password"
    write_keystore(key, key_file, "pw")
    password_file.write_text("pw\n")
    return NodeProcess(
        data_dir=workdir / "data",
        rpc_url=rpc_url,
        registry=registry.address,
        chain_id=registry.chain_id(),
        key_file=key_file,
        password_file=password_file,
        hierarchy=h,
        lg_code=lg_code,
    )


def test_a_node_relays_for_another_and_the_audit_is_clean(
    devnet: tuple[str, LocalAccount], jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    rpc_url, funder = devnet
    w3 = connect(rpc_url)
    governance_key, relayer_key = Account.create(), Account.create()
    relayed_key = Account.create()  # never funded: it only signs
    send_ether(w3, funder, governance_key.address, 10)
    send_ether(w3, funder, relayer_key.address, 100)
    governance, _ = RegistryClient.deploy(w3, governance_key)
    governance.register_node(relayer_key.address, LG_CODE, "千代田区")
    governance.register_node(relayed_key.address, CHUO_KU, "中央区")

    relayer = node_process(rpc_url, governance, relayer_key, tmp_path / "relayer", jpki_hierarchy)
    relayer.env = {"NOTARY_RELAY_FOR": relayed_key.address, "NOTARY_RELAY_INTERVAL": "0.5"}
    relayer.start()
    relayed = node_process(
        rpc_url, governance, relayed_key, tmp_path / "relayed", jpki_hierarchy, CHUO_KU
    )
    token_file = tmp_path / "relay.token"
    token_file.write_text(relayer.token("second node", "relay") + "\n")
    relayed.env = {
        "NOTARY_RELAY_URL": relayer.url,
        "NOTARY_RELAY_TOKEN_FILE": str(token_file),
        "NOTARY_RELAY_TIMEOUT": "5",
    }
    relayed.start()
    try:
        tokens = {n.url: n.token("issuer", "submit", "read") for n in (relayer, relayed)}
        documents: dict[str, list[bytes]] = {}
        receipts: dict[str, list[dict[str, object]]] = {}
        for batch in range(2):
            for node in (relayer, relayed):
                docs = [f"{node.url} batch {batch} doc {i} (TEST)".encode() for i in range(3)]
                documents.setdefault(node.url, []).extend(docs)
                for doc in docs:
                    answer = http(
                        "POST",
                        node.url + "/v1/entries",
                        signed_entry(jpki_hierarchy.ee_valid_gen02, doc),
                        tokens[node.url],
                    )
                    assert answer.status == 201, answer.body
                    receipts.setdefault(node.url, []).append(answer.body)
            for node in (relayer, relayed):
                node.wait_final()

        # Every head went through anchorMany, sent by the relayer's key.
        heads = list(governance.iter_anchored_heads())
        assert {ev.node for ev in heads} == {relayer_key.address, relayed_key.address}
        for ev in heads:
            tx = w3.eth.get_transaction(ev.tx_hash)
            assert tx["from"] == relayer_key.address
            assert bytes(tx["input"])[:4] == bytes.fromhex("226b5808")  # anchorMany
        assert w3.eth.get_transaction_count(relayed_key.address) == 0
        assert w3.eth.get_balance(relayed_key.address) == 0

        # A bundle of the relayed node verifies: the verifier does not care who sent the tx.
        policy = VerificationPolicy(
            rpc_urls=[rpc_url],
            registry=governance.address,
            chain_id=governance.chain_id(),
            trust_anchors=load_certificates([str(p) for p in jpki_hierarchy.trust_anchors]),
            revocation=RevocationSources(crl_files=[str(p) for p in jpki_hierarchy.crl_files]),
            require_revocation_check=False,  # relaying under test, not revocation
        )
        for document, receipt in zip(documents[relayed.url], receipts[relayed.url], strict=True):
            bundle = http(
                "GET", f"{relayed.url}/v1/receipts/{receipt['receipt_id']}/bundle",
                token=tokens[relayed.url],
            ).body  # fmt: skip
            assert bundle["anchor"]["node"] == relayed_key.address
            verdict = verify(document, bundle, policy)
            assert verdict.status == "valid", verdict

        # Only holders of the relay scope may hand heads over.
        refused = http("POST", relayer.url + "/v1/relay/heads", {"heads": []}, tokens[relayer.url])
        assert refused.status == 403, refused.body

        out = tmp_path / "audit"
        out.mkdir()
        nodes = {relayer_key.address: relayer.url, relayed_key.address: relayed.url}
        (out / "nodes.json").write_text(json.dumps(nodes))
        done = subprocess.run(
            [
                sys.executable, "-m", "node.cli", "audit", "--rpc", rpc_url,
                "--registry", governance.address, "--nodes", str(out / "nodes.json"),
                "--out", str(out),
            ],
            check=False, capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        report = json.loads((out / "report.json").read_text())
        assert done.returncode == 0, done.stderr
        assert report["findings"] == []
        assert {n["log"] for n in report["nodes"]} == {"checked"}
    finally:
        relayed.stop()
        relayer.stop()
