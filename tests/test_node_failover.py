"""Several JSON-RPC endpoints with failover, and reorgs, against real anvil processes.

Endpoint outages are real: a URL nobody listens on (connection refused), and a small HTTP
relay in front of the same anvil that can answer 503, lose the answer to a transaction it
passed on, or stop listening. Reorgs are anvil's own `anvil_reorg`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from anchor import FailoverHTTPProvider, RegistryClient, WrongChainError, connect
from anchor import errors as e
from devnet.anvil import AnvilProcess, dev_account
from devnet.ports import free_port
from devtools.testca import TestHierarchy
from tests.node_harness import NodeProcess, provision_node, signed_entry
from tests.node_harness import http as call

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

FINALITY_DEPTH = 3  # anvil mines only on demand here: nothing turns final behind our back


def root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    log_file = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with AnvilProcess(log_file=log_file) as process:
        yield process


class Relay(ThreadingHTTPServer):
    """An HTTP endpoint passing JSON-RPC requests on to `target`, with switchable outages."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.target = target
        self.mode = "pass"  # "pass", "503", or "lose-send-answer"
        self.requests = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.shutdown()
            self.thread.join()
        self.server_close()  # the port refuses connections from now on


class RelayHandler(BaseHTTPRequestHandler):
    server: Relay

    def do_POST(self) -> None:
        relay = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        relay.requests += 1
        if relay.mode == "503":
            self._reply(503, b"down for maintenance")
            return
        request = urllib.request.Request(relay.target, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.read()
        if relay.mode == "lose-send-answer" and json.loads(body)["method"] == (
            "eth_sendRawTransaction"
        ):
            self._reply(502, b"bad gateway")  # the engine took it; its answer is lost
            return
        self._reply(200, answer)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def deploy_with_node(w3: Web3) -> tuple[RegistryClient, RegistryClient]:
    governance, _ = RegistryClient.deploy(w3, dev_account(0), receipt_timeout=10)
    governance.register_node(dev_account(3).address, 131016, "千代田区")
    return governance, RegistryClient(w3, governance.address, dev_account(3), receipt_timeout=10)


# ---------------------------------------------------------------------- the provider


def test_dead_first_endpoint_is_skipped(anvil: AnvilProcess) -> None:
    dead = dead_url()
    w3 = connect([dead, anvil.rpc_url], chain_id=anvil.chain_id)
    provider = w3.provider
    assert isinstance(provider, FailoverHTTPProvider)
    assert (provider.endpoint_uri, provider.endpoint_index) == (anvil.rpc_url, 1)
    governance, node = deploy_with_node(w3)  # reads, estimates and raw transactions
    node.anchor(0, 1, root("via the live endpoint"))
    assert governance.next_seq(dev_account(3).address) == 1
    with pytest.raises(e.ChainUnavailableError, match="cannot reach any JSON-RPC endpoint"):
        connect([dead, dead_url()])


def test_failover_is_sticky_and_returns_to_the_preferred_endpoint(
    anvil: AnvilProcess, caplog: pytest.LogCaptureFixture
) -> None:
    relay = Relay(anvil.rpc_url)
    try:
        w3 = connect([relay.url, anvil.rpc_url], retry_preferred_after=0.5)
        provider = w3.provider
        assert isinstance(provider, FailoverHTTPProvider)
        governance, node = deploy_with_node(w3)
        address = dev_account(3).address
        assert provider.endpoint_uri == relay.url and relay.requests > 0

        # A JSON-RPC error answer (here a revert) is an answer, not an outage.
        with pytest.raises(e.WrongSequence):
            node.anchor(5, 1, root("wrong seq"))
        assert provider.endpoint_uri == relay.url

        relay.mode = "503"
        with caplog.at_level(logging.WARNING, logger="anchor.chain"):
            assert governance.next_seq(address) == 0
        assert provider.endpoint_uri == anvil.rpc_url
        assert f"{relay.url} failed (HTTP 503); failing over to {anvil.rpc_url}" in caplog.text
        asked = relay.requests
        governance.next_seq(address)
        assert relay.requests == asked  # sticky: the working endpoint keeps the requests

        relay.mode = "pass"
        time.sleep(0.6)
        governance.next_seq(address)
        assert provider.endpoint_uri == relay.url  # the preferred endpoint, tried again

        # The relay passes the transaction on but loses the answer: the retry on the next
        # endpoint finds it there ("already imported" / "nonce too low"), nothing is sent twice.
        relay.mode = "lose-send-answer"
        nonce = w3.eth.get_transaction_count(address)
        node.anchor(0, 1, root("sent once"))
        assert provider.endpoint_uri == anvil.rpc_url
        assert w3.eth.get_transaction_count(address) == nonce + 1
        assert governance.next_seq(address) == 1

        relay.mode = "pass"
        time.sleep(0.6)
        governance.next_seq(address)
        assert provider.endpoint_uri == relay.url
        relay.stop()  # now: connection refused
        node.anchor(1, 2, root("after the relay died"))
        assert provider.endpoint_uri == anvil.rpc_url
        assert governance.next_seq(address) == 2
    finally:
        relay.stop()


def test_endpoints_of_different_chains_are_refused(anvil: AnvilProcess) -> None:
    with AnvilProcess(chain_id=anvil.chain_id + 1) as other:
        with pytest.raises(WrongChainError) as caught:
            connect([anvil.rpc_url, other.rpc_url])
        assert str(caught.value) == (
            f"{other.rpc_url} serves chain id {other.chain_id}, expected {anvil.chain_id}"
        )
        with pytest.raises(WrongChainError, match=f"{anvil.rpc_url} serves chain id"):
            connect([dead_url(), anvil.rpc_url, other.rpc_url], chain_id=other.chain_id)


# ---------------------------------------------------------------------- the node


class NodeOnAnvil:
    def __init__(self, anvil: AnvilProcess, process: NodeProcess, token: str) -> None:
        self.anvil = anvil
        self.process = process
        self.token = token
        self.w3 = connect(anvil.rpc_url)
        self.registry = RegistryClient(self.w3, process.registry)
        self.address = ""
        self.submitted = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in answer, answer
        return answer.get("result")

    def submit(self) -> None:
        self.submitted += 1
        document = f"住民票の写し: failover test {self.submitted}".encode()
        body = signed_entry(self.process.hierarchy.ee_valid_gen02, document)
        answer = call("POST", self.process.url + "/v1/entries", body, self.token)
        assert answer.status == 201, answer.body
        self.address = answer.body["node"]

    def head(self, seq: int) -> dict[str, Any]:
        heads = call("GET", f"{self.process.url}/v1/log/heads?start={seq}&limit=1").body["heads"]
        return dict(heads[0]) if heads else {}

    def anchored(self, seq: int, **expected: Any) -> dict[str, Any]:
        """Wait until head `seq` is anchored (not yet final) and return it."""

        def check() -> dict[str, Any] | None:
            head = self.head(seq)
            if head.get("state") == "anchored" and all(head[k] == v for k, v in expected.items()):
                return head
            return None

        return dict(wait_until(check, f"head {seq} anchored with {expected}"))

    def anchored_seqs(self) -> list[int]:
        return [event.seq for event in self.registry.iter_anchored_heads(node=self.address)]


@pytest.fixture(scope="module")
def node(
    anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeOnAnvil]:
    workdir: Path = tmp_path_factory.mktemp("failover-node")
    process = provision_node(anvil.rpc_url, dev_account(0), workdir, jpki_hierarchy)
    process.rpc_urls = [dead_url(), anvil.rpc_url]
    process.env = {"NOTARY_FINALITY_DEPTH": str(FINALITY_DEPTH)}
    process.start()
    try:
        yield NodeOnAnvil(anvil, process, process.token("issuer", "submit", "read"))
    finally:
        process.stop()


def test_node_with_a_dead_preferred_endpoint_anchors(node: NodeOnAnvil) -> None:
    ready = call("GET", node.process.url + "/readyz")
    assert ready.status == 200, ready.body
    assert ready.body["chain_endpoint"] == {"url": node.anvil.rpc_url, "index": 1, "configured": 2}
    node.submit()
    node.anchored(0)
    assert node.registry.next_seq(node.address) == 1
    node.rpc("anvil_mine", [hex(FINALITY_DEPTH)])
    node.process.wait_final(timeout=20)
    assert "does not answer at start" in node.process.log_file.read_text()


def test_reorg_dropping_an_anchor_anchors_the_head_again_once(node: NodeOnAnvil) -> None:
    seq = node.registry.next_seq(node.address)
    node.submit()
    head = node.anchored(seq)
    assert node.w3.eth.block_number == head["block_number"]
    nonce = node.w3.eth.get_transaction_count(node.address)
    node.rpc("anvil_reorg", [1, []])  # the anchor's block, replaced by an empty one
    assert node.registry.next_seq(node.address) == seq
    assert node.w3.eth.get_transaction_count(node.address, "pending") == nonce - 1
    node.rpc("anvil_mine", [hex(FINALITY_DEPTH)])  # the node notices at finality depth
    again = wait_until(
        lambda: (h := node.head(seq))["state"] == "anchored" and h["tx_hash"] != head["tx_hash"],
        f"head {seq} anchored again",
    )
    assert again
    assert node.w3.eth.get_transaction_count(node.address) == nonce  # the freed nonce reused
    node.rpc("anvil_mine", [hex(FINALITY_DEPTH)])
    node.process.wait_final(timeout=20)
    assert node.registry.next_seq(node.address) == seq + 1
    assert node.anchored_seqs() == list(range(seq + 1))


def test_reorg_mining_an_anchor_again_elsewhere_is_adopted(node: NodeOnAnvil) -> None:
    seq = node.registry.next_seq(node.address)
    node.submit()
    head = node.anchored(seq)
    raw = node.rpc("eth_getRawTransactionByHash", [head["tx_hash"]])
    nonce = node.w3.eth.get_transaction_count(node.address)
    node.rpc("anvil_reorg", [1, [[raw, 0]]])  # the same transaction in a new block
    receipt = node.w3.eth.get_transaction_receipt(head["tx_hash"])
    new_hash = "0x" + bytes(receipt["blockHash"]).hex()
    assert new_hash != head["block_hash"]
    node.rpc("anvil_mine", [hex(FINALITY_DEPTH)])
    node.process.wait_final(timeout=20)
    final = node.head(seq)
    assert (final["tx_hash"], final["block_hash"]) == (head["tx_hash"], new_hash)
    assert node.w3.eth.get_transaction_count(node.address) == nonce  # adopted, not resent
    assert node.anchored_seqs() == list(range(seq + 1))
