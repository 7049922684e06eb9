"""A real node stamping its anchored heads at a real TSA (OpenSSL's `ts -reply` over HTTP,
started by the test): tokens appear in the head JSON and verify over the head; a TSA that is
down delays tokens, never entries or anchoring; a node SIGKILLed while stamping loses
nothing and stamps the head after its restart."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from devnet.network import NetworkProcesses, init_network
from devnet.ports import free_port
from devtools.testca import TestHierarchy
from devtools.tsa import DEV_POLICY, TimestampAuthority, TsaFiles, generate_tsa
from node.timestamping import load_tsa_anchors
from tests.node_harness import NodeProcess, provision_node, signed_entry
from tests.node_harness import http as call
from verifier.timestamp import verify_head_timestamp

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain


class SwitchableTsa:
    """The dev TSA on one fixed port, stopped and started again by the test."""

    def __init__(self, files: TsaFiles) -> None:
        self.files = files
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tsa: TimestampAuthority | None = None

    def start(self) -> TimestampAuthority:
        self.tsa = TimestampAuthority(self.files, "127.0.0.1", self.port).__enter__()
        return self.tsa

    def stop(self) -> None:
        if self.tsa is not None:
            self.tsa.close()
            self.tsa = None


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwitchableTsa]:
    switch = SwitchableTsa(generate_tsa(tmp_path_factory.mktemp("tsa")))
    switch.start()
    try:
        yield switch
    finally:
        switch.stop()


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy, tsa: SwitchableTsa
) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("node-tsa")
    chain = NetworkProcesses(init_network(root / "chain", validators=1))
    chain.start_all()
    process = provision_node(
        chain.layout.nodes[0].rpc_url, chain.layout.dev_account(), root, jpki_hierarchy
    )
    process.env = {
        "NOTARY_TSA_URL": tsa.url,
        "NOTARY_TSA_TRUST_ANCHORS": str(tsa.files.trust_anchor),
        "NOTARY_TSA_POLICY": DEV_POLICY,
        "NOTARY_TSA_TIMEOUT": "2",
        "NOTARY_TSA_MAX_BACKOFF": "1",
    }
    try:
        process.start()
        yield process
    finally:
        process.stop()
        chain.stop_all()


@pytest.fixture(scope="module")
def tokens(node: NodeProcess) -> dict[str, str]:
    return {"submit": node.token("issuing-system", "submit", "read")}


def submit(node: NodeProcess, token: str, text: str) -> dict[str, Any]:
    body = signed_entry(node.hierarchy.ee_valid_gen02, text.encode())
    answer = call("POST", node.url + "/v1/entries", body, token)
    assert answer.status == 201, answer.body
    return dict(answer.body)


def heads(node: NodeProcess) -> list[dict[str, Any]]:
    return list(call("GET", node.url + "/v1/log/heads?limit=1000").body["heads"])


def wait_stamped(node: NodeProcess, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until every anchored head has its token; return the heads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = heads(node)
        anchored = [h for h in listed if h["state"] in ("anchored", "final")]
        if anchored and all(h["timestamp"] for h in anchored):
            return listed
        time.sleep(0.3)
    raise AssertionError(f"heads not stamped within {timeout} s: {heads(node)}")


def verify_all(node: NodeProcess, tsa: SwitchableTsa, listed: list[dict[str, Any]]) -> None:
    anchors: list[x509.Certificate] = load_tsa_anchors(tsa.files.trust_anchor)
    address = call("GET", node.url + "/v1/log/head").body["node"]
    for head in listed:
        if head["timestamp"] is None:
            continue
        facts = verify_head_timestamp(
            base64.b64decode(head["timestamp"]["token"]),
            chain_id=node.chain_id,
            registry=node.registry,
            node=address,
            seq=head["seq"],
            tree_size=head["tree_size"],
            root=bytes.fromhex(head["root"]),
            trust_anchors=anchors,
            policy=DEV_POLICY,
        )
        assert facts.gen_time.timestamp() >= head["sealed_at"] - 1
        assert facts.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ") == head["timestamp"]["gen_time"]


def test_anchored_heads_get_verified_tokens(
    node: NodeProcess, tokens: dict[str, str], tsa: SwitchableTsa
) -> None:
    for n in range(3):
        submit(node, tokens["submit"], f"stamped document {n}")
    node.wait_final()
    listed = wait_stamped(node)
    verify_all(node, tsa, listed)
    latest = call("GET", node.url + "/v1/log/head").body["latest_final_head"]
    assert latest["timestamp"]["tsa"] == "CN=Notary DEV TSA"


def test_tsa_down_delays_tokens_not_entries(
    node: NodeProcess, tokens: dict[str, str], tsa: SwitchableTsa
) -> None:
    tsa.stop()
    try:
        receipts = [submit(node, tokens["submit"], f"while the TSA is down {n}") for n in range(3)]
        head = node.wait_final()  # accepted, sealed, anchored and final without a TSA
        assert head["latest_final_head"]["timestamp"] is None
        time.sleep(2)  # a few failed, backed-off attempts
        assert call("GET", node.url + "/v1/log/head").body["latest_final_head"]["timestamp"] is None
    finally:
        tsa.start()
    listed = wait_stamped(node)  # retried once the TSA is back
    verify_all(node, tsa, listed)
    for receipt in receipts:
        answer = call(
            "GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=tokens["submit"]
        )
        assert answer.status == 200 and answer.body["status"] == "anchored"


def test_sigkill_while_stamping_loses_nothing(
    node: NodeProcess, tokens: dict[str, str], tsa: SwitchableTsa
) -> None:
    assert tsa.tsa is not None
    before = tsa.tsa.misbehaviour.requests
    tsa.tsa.misbehaviour.delay = 5.0  # the node is inside the TSA request when killed
    try:
        receipts = [submit(node, tokens["submit"], f"killed while stamping {n}") for n in range(3)]
        deadline = time.monotonic() + 60
        while tsa.tsa.misbehaviour.requests == before:
            assert time.monotonic() < deadline, "the node never asked the TSA"
            time.sleep(0.05)
        node.kill()
    finally:
        tsa.tsa.misbehaviour.delay = 0.0
    node.start()
    for receipt in receipts:
        answer = call(
            "GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=tokens["submit"]
        )
        assert answer.status == 200, answer.body
    node.wait_final()
    listed = wait_stamped(node)
    assert [h["seq"] for h in listed] == list(range(len(listed)))
    verify_all(node, tsa, listed)
    assert all(h["timestamp"] for h in listed if h["state"] == "final")


def test_heads_without_tokens_read_as_before(tmp_path: Path) -> None:
    """A store written before timestamps (no token keys, no stamped count) reads as unstamped."""
    from node.store import LogStore

    store = LogStore(tmp_path / "log")
    try:
        assert store.stamped_count == 0 and store.timestamp(0) is None
    finally:
        store.close()
