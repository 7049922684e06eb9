"""The read-only JSON-RPC client (batches, bounds, one error type) and the registry facts the
verifier writes out by hand, checked against the compiled ABI so they cannot drift."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from contracts.artifact import read_artifact
from devnet.ports import free_port
from protocol.registry_abi import (
    GET_ANCHOR_OUTPUT,
    GET_ANCHOR_SIGNATURE,
    GET_NODE_OUTPUT,
    GET_NODE_SIGNATURE,
    HEAD_ANCHORED_SIGNATURE,
    HEAD_ANCHORED_TOPIC,
    ZERO_ADDRESS,
    NodeStatus,
    RegistryAbi,
    abi_type,
    decode_anchor,
)
from verifier.errors import EvidenceUnavailableError
from verifier.jsonrpc import (
    ChainReadError,
    JsonRpcClient,
    JsonRpcError,
    ResponseTooLargeError,
    WrongChainError,
)

Handler = Callable[[Any], Any]


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[Any], dict[str, Handler]]]:
    """A fake engine: `methods[name](params)` answers; `seen` records each request body."""
    seen: list[Any] = []
    methods: dict[str, Handler] = {"eth_chainId": lambda _: "0x7a69"}

    class Engine(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            answers = []
            for call in body:
                method = methods.get(call["method"])
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
                if method is None:
                    answer["error"] = {"code": -32601, "message": "no such method"}
                else:
                    answer["result"] = method(call["params"])
                answers.append(answer)
            data = json.dumps(answers[::-1]).encode()  # any order: matched by id
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, methods
    finally:
        server.shutdown()
        server.server_close()


def test_calls_go_in_one_batch_and_errors_are_per_call(
    endpoint: tuple[str, list[Any], dict[str, Handler]],
) -> None:
    url, seen, methods = endpoint
    methods["eth_blockNumber"] = lambda _: "0x10"
    rpc = JsonRpcClient(url)
    results = rpc.answers([("eth_blockNumber", []), ("clique_getSigners", []), ("eth_chainId", [])])
    assert results[0] == "0x10" and results[2] == "0x7a69"
    assert isinstance(results[1], JsonRpcError) and results[1].code == -32601
    assert len(seen) == 1 and len(seen[0]) == 3
    with pytest.raises(JsonRpcError, match="clique_getSigners failed: no such method"):
        rpc.batch([("eth_blockNumber", []), ("clique_getSigners", [])])
    assert rpc.block_number() == 16


def test_chain_id_is_checked(endpoint: tuple[str, list[Any], dict[str, Handler]]) -> None:
    url, _, _ = endpoint
    JsonRpcClient(url).check_chain_id(31337)
    with pytest.raises(WrongChainError, match="serves chain id 31337, expected 1") as caught:
        JsonRpcClient(url).check_chain_id(1)
    assert isinstance(caught.value, EvidenceUnavailableError)


def test_an_answer_too_large_is_refused_and_a_log_page_halved(
    endpoint: tuple[str, list[Any], dict[str, Handler]],
) -> None:
    url, seen, methods = endpoint

    def logs(params: Any) -> Any:
        span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
        return [{"n": "x" * 100}] * span  # about 110 bytes a block

    methods["eth_getLogs"] = logs
    rpc = JsonRpcClient(url, max_response_bytes=4_000)
    with pytest.raises(ResponseTooLargeError):
        rpc.call("eth_getLogs", {"fromBlock": "0x0", "toBlock": "0x63"})
    found = list(rpc.get_logs(ZERO_ADDRESS, [], 0, 99, page_size=64))
    assert len(found) == 100
    pages = [int(b[0]["params"][0]["toBlock"], 16) for b in seen if b[0]["method"] == "eth_getLogs"]
    assert pages[1:3] == [63, 31]  # 64 blocks are too many: halved


def test_an_unreachable_endpoint_is_one_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainReadError, match=f"cannot reach {url}: endpoint unreachable"):
        JsonRpcClient(url, timeout=2).block_number()
    with pytest.raises(ValueError, match="must start with http"):
        JsonRpcClient("file:///etc/passwd")


def test_hand_written_registry_facts_match_the_compiled_abi() -> None:
    # Built by `make test`'s set-up: a missing build must fail.
    abi = RegistryAbi(read_artifact()["abi"])
    events = {e.name: e for e in abi.events.values()}
    head = events["HeadAnchored"]
    assert f"HeadAnchored({','.join(head.types)})" == HEAD_ANCHORED_SIGNATURE
    assert head.indexed == (True, True, True, False, False, False, False)
    assert abi.event_topics(["HeadAnchored"]) == [HEAD_ANCHORED_TOPIC]
    compiled = {
        f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})": abi_type(e["outputs"][0])
        for e in read_artifact()["abi"]
        if e.get("type") == "function" and e["name"] in ("getNode", "getAnchor")
    }
    expected = {GET_NODE_SIGNATURE: GET_NODE_OUTPUT, GET_ANCHOR_SIGNATURE: GET_ANCHOR_OUTPUT}
    assert compiled == expected
    assert [s.name for s in NodeStatus] == ["UNREGISTERED", "ACTIVE", "SUSPENDED", "RETIRED"]
    assert decode_anchor(b"\x01" * 32, b"\x00" * 32 * 6) is None
    with pytest.raises(ValueError, match="is a registry deployed"):
        decode_anchor(b"\x01" * 32, b"")
