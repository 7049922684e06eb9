"""Fuzzing a devnet validator's public JSON-RPC (issue 12), against a real process.

Generated requests reach every public method the node serves, with good and bad parameters
(wrong types, huge and negative quantities, hex without 0x or of odd length, oversized arrays,
nested objects, null, missing and extra parameters), in single requests and batches (empty,
oversized, mixed), besides bodies that are not JSON-RPC at all, wrong content types and
invalid ids. Whatever comes in, the node must answer: never an HTTP 5xx, always a well-formed
JSON-RPC 2.0 answer (error codes in the standard ranges, never -32603 "internal error",
which only an unhandled exception produces; the request's id echoed), each within a deadline;
and afterwards it still answers and still seals blocks.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devnet import server as server_module
from devnet.network import NetworkProcesses, init_network
from devnet.rpc import ADMIN_METHODS, PEER_METHODS, Api, RpcError
from devnet.server import Plane, handle_payload
from tests.devnet_helpers import block_number, rpc, wait_until

pytestmark = pytest.mark.chain

ANSWER_SECONDS = 20.0
"""Deadline for any answer: an eth_call stops after 1 s, a batch after 10 s (+ its last call)."""
STANDARD_CODES = {-32700, -32600, -32601, -32602}
SERVER_CODES = range(-32099, -32000 + 1)  # implementation-defined server errors
REVERTED = 3  # geth's "execution reverted", with the revert data
PUBLIC_METHODS = sorted(
    {
        name.replace("_rpc_", "", 1).replace("__", "_")
        for name in dir(Api)
        if name.startswith("_rpc_")
    }
    - PEER_METHODS
    - ADMIN_METHODS
)


# ------------------------------------------------------------------------ the node


@dataclass
class Node:
    url: str
    port: int
    processes: NetworkProcesses
    address: str  # the funded development account
    tx_hash: str  # a mined transfer
    block_hash: str  # its block
    block: str  # its block number
    chain_id: int


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    layout = init_network(tmp_path_factory.mktemp("fuzz-rpc") / "net", validators=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        url = layout.nodes[0].rpc_url
        wait_until(lambda: block_number(url) >= 1, 30, "a first block")
        dev = layout.dev_account()
        chain_id = int(rpc(url, "eth_chainId"), 16)
        tx_hash = _transfer(url, dev, chain_id)
        receipt: dict[str, Any] = {}

        def mined() -> bool:
            receipt.update(rpc(url, "eth_getTransactionReceipt", tx_hash) or {})
            return bool(receipt)

        wait_until(mined, 30, "the transfer to be mined")
        yield Node(
            url,
            layout.nodes[0].rpc_port,
            processes,
            dev.address,
            tx_hash,
            receipt["blockHash"],
            receipt["blockNumber"],
            chain_id,
        )
    finally:
        processes.stop_all()


def _transfer(url: str, sender: Any, chain_id: int) -> str:
    signed = sender.sign_transaction({
        "to": Account.create().address, "value": 1, "gas": 21_000, "chainId": chain_id,
        "nonce": int(rpc(url, "eth_getTransactionCount", sender.address, "pending"), 16),
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
    })  # fmt: skip
    return str(rpc(url, "eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex()))


class Client:
    """One keep-alive connection, reopened when the node closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def post(
        self, body: bytes, content_type: str | None = "application/json", method: str = "POST"
    ) -> tuple[int, bytes, float]:
        headers = {} if content_type is None else {"Content-Type": content_type}
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=ANSWER_SECONDS + 5
                )
            started = time.perf_counter()
            try:
                self.connection.request(method, "/", body=body, headers=headers)
                answer = self.connection.getresponse()
                raw = answer.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            seconds = time.perf_counter() - started
            if answer.getheader("connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            return answer.status, raw, seconds
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[Client]:
    connection = Client(node.port)
    yield connection
    if connection.connection is not None:
        connection.connection.close()


# ------------------------------------------------------------------------ the oracle


def _strict_json(raw: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer is not JSON: {raw[:200]!r}")

    return json.loads(raw, parse_constant=refuse)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _valid_id(request: Any) -> bool:
    request_id = request.get("id")
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, float):
        return math.isfinite(request_id)
    return request_id is None or isinstance(request_id, str | int)


def check_response(response: Any, request: Any) -> None:
    """One JSON-RPC 2.0 response object, for `request` (None: it could not be read)."""
    assert isinstance(response, dict), response
    assert response.get("jsonrpc") == "2.0", response
    assert "id" in response, response
    assert set(response) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), response
    if "error" in response:
        error = response["error"]
        assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
        code, message = error.get("code"), error.get("message")
        assert type(code) is int and isinstance(message, str) and message, error
        assert code in STANDARD_CODES or code in SERVER_CODES or code == REVERTED, error
        assert code != RpcError.INTERNAL
    if isinstance(request, dict) and _valid_id(request):
        assert response["id"] == request.get("id"), (response, request)
    else:
        assert response["id"] is None, (response, request)


def exchange(
    client: Client,
    payload: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
    method: str = "POST",
    unreadable: bool = False,
) -> Any:
    """Send `payload` (or `raw` bytes); check the answer as the issue demands; return it.

    `unreadable`: the raw body is not to be parsed here to predict the answer (nested so deep
    that json.loads would overflow this process's C stack: web3 imports py_ecc, which raises
    the recursion limit to 100,000; the node runs its requests on 512 MB stacks)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    status, answer, seconds = client.post(body, content_type, method)
    assert status < 500, (status, answer[:300], body[:300])
    assert seconds < ANSWER_SECONDS, (seconds, body[:300])
    if status != 200:  # refused before JSON-RPC: an error object all the same
        assert 400 <= status < 500, status
        check_response(_strict_json(answer), None)
        return _strict_json(answer)
    if unreadable:
        payload = ...
    elif payload is None:
        try:
            payload = json.loads(body, parse_constant=_not_json)
        except (ValueError, RecursionError):
            payload = ...  # not JSON: the answer is one parse error
    if not answer:  # no answer: only for notifications
        requests = payload if isinstance(payload, list) else [payload]
        assert payload != [] and all(
            isinstance(r, dict) and "id" not in r and r.get("jsonrpc") == "2.0"
            and isinstance(r.get("method"), str)
            for r in requests
        ), payload  # fmt: skip
        return None
    decoded = _strict_json(answer)
    if isinstance(payload, list) and payload and len(payload) <= server_module.MAX_BATCH:
        assert isinstance(decoded, list), decoded
        expected = [r for r in payload if not (isinstance(r, dict) and "id" not in r)]
        # Notifications get no answer unless they are invalid requests.
        assert len(expected) <= len(decoded) <= len(payload), (len(decoded), len(payload))
        answered_ids = [r.get("id") for r in expected if isinstance(r, dict) and _valid_id(r)]
        for response in decoded:
            check_response(response, None if response["id"] is None else {"id": response["id"]})
        got = [d["id"] for d in decoded if d["id"] is not None]
        assert sorted(map(repr, got)) == sorted(repr(i) for i in answered_ids if i is not None)
    else:
        request = payload if isinstance(payload, dict) else None
        check_response(decoded, request)
    return decoded


# ------------------------------------------------------------------------ generation


HUGE = "0x" + "f" * 100
EDGE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**53 + 1, 2**64, 2**256, -(2**256), 10**300, 1.5, -0.0, 1e308,
    "", "0x", "0x0", "0x00", "0x1", "1a", "0x1a2", "0xzz", "0x-1", "0x 1", "0x1_0", "0X1",
    "0x" + "0" * 64 + "1", HUGE, "0x" + "ab" * 20, "0x" + "ab" * 32, "0x" + "ab" * 33,
    "latest", "pending", "earliest", "safe", "finalized", "LATEST", "\u0000", "\ud800", "𝟘x𝟙",
    "a" * 10_000, "0x" + "ab" * 200_000, [], [None], [0] * 2000, [HUGE] * 10_000, {},
    {"a": {"b": {"c": [1, {"d": None}]}}}, {str(i): i for i in range(5000)},
    {"blockNumber": "0x0"}, {"blockHash": "0x" + "00" * 32},
    {"blockNumber": {"blockNumber": "0x0"}}, {"blockHash": "0x" + "00" * 32, "blockNumber": "0x0"},
    {"blockNumber": "0x0", "requireCanonical": "x"},
]  # fmt: skip
CALL_FIELDS = [
    "from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "data",
    "input", "nonce", "accessList", "type", "chainId",
]  # fmt: skip
FILTER_FIELDS = ["fromBlock", "toBlock", "address", "topics", "blockHash"]


def good_params(node: Node) -> dict[str, list[Any]]:
    """Parameters each method accepts, to mutate from."""
    address, block, block_hash, tx = node.address, node.block, node.block_hash, node.tx_hash
    call = {"from": address, "to": "0x" + "00" * 19 + "04", "data": "0x1234", "value": "0x0"}
    filters = {"fromBlock": "0x0", "toBlock": "latest", "address": address, "topics": [None]}
    return {
        "eth_getBlockByNumber": [block, True],
        "eth_getBlockByHash": [block_hash, False],
        "eth_getTransactionByHash": [tx],
        "eth_getTransactionReceipt": [tx],
        "eth_getBlockTransactionCountByHash": [block_hash],
        "eth_getBlockTransactionCountByNumber": [block],
        "eth_getTransactionByBlockHashAndIndex": [block_hash, "0x0"],
        "eth_getTransactionByBlockNumberAndIndex": [block, "0x0"],
        "eth_getUncleCountByBlockHash": [block_hash],
        "eth_getUncleCountByBlockNumber": [block],
        "eth_getUncleByBlockHashAndIndex": [block_hash, "0x0"],
        "eth_getUncleByBlockNumberAndIndex": [block, "0x0"],
        "eth_getBlockReceipts": [block],
        "eth_sign": [address, "0x1234"],
        "eth_signTransaction": [{**call, "gas": "0x5208", "gasPrice": "0x1", "nonce": "0x0"}],
        "eth_sendTransaction": [call],
        "debug_getRawHeader": [block],
        "debug_getRawBlock": [block_hash],
        "debug_getRawReceipts": [block],
        "debug_getRawTransaction": [tx],
        "eth_getBalance": [address, "latest"],
        "eth_getCode": [address, block],
        "eth_getStorageAt": [address, "0x0", "latest"],
        "eth_getTransactionCount": [address, "pending"],
        "eth_getStorageValues": [{address: ["0x0", "0x1"]}, "latest"],
        "eth_getProof": [address, ["0x0"], "latest"],
        "eth_feeHistory": ["0x4", "latest", [10, 50, 90]],
        "eth_call": [call, "latest"],
        "eth_estimateGas": [call],
        "eth_createAccessList": [call, "latest"],
        "eth_sendRawTransaction": ["0x02f86a"],
        "eth_getLogs": [filters],
        "eth_newFilter": [filters],
        "eth_newPendingTransactionFilter": [True],
        "eth_uninstallFilter": ["0x1"],
        "eth_getFilterChanges": ["0x1"],
        "eth_getFilterLogs": ["0x1"],
        "clique_getSigners": ["latest"],
        "clique_getSnapshot": [block],
    }


def _edge() -> st.SearchStrategy[Any]:
    return st.sampled_from(EDGE_VALUES) | st.integers() | st.text(max_size=20)


@st.composite
def mutated_object(draw: Any, base: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    changed = dict(base)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from([*fields, "unknown"]))
        if draw(st.booleans()) and name in changed:
            del changed[name]
        else:
            changed[name] = draw(_edge())
    return changed


@st.composite
def params_for(draw: Any, method: str, good: list[Any]) -> Any:
    """Mostly a list near the good one; sometimes a wrong shape altogether."""
    shape = draw(
        st.sampled_from(["mutate", "mutate", "mutate", "good", "shorter", "longer", "other"])
    )
    params = list(good)
    if shape == "good":
        return params
    if shape == "shorter":
        return params[: draw(st.integers(0, max(0, len(params) - 1)))]
    if shape == "longer":
        return params + draw(st.lists(_edge(), min_size=1, max_size=3))
    if shape == "other":
        return draw(st.sampled_from([None, {}, {"0": 1}, "0x1", 7, True, [[]], [params]]))
    for _ in range(draw(st.integers(1, 2))):
        if not params:
            params.append(draw(_edge()))
            continue
        i = draw(st.integers(0, len(params) - 1))
        if isinstance(params[i], dict) and draw(st.booleans()):
            fields = FILTER_FIELDS if "fromBlock" in params[i] else CALL_FIELDS
            params[i] = draw(mutated_object(params[i], fields))
        else:
            params[i] = draw(_edge())
    return params


@st.composite
def request_for(draw: Any, node: Node) -> dict[str, Any]:
    table = good_params(node)
    method = draw(st.sampled_from(PUBLIC_METHODS))
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    params = draw(params_for(method, table.get(method, [])))
    if params is not None or draw(st.booleans()):
        request["params"] = params
    request["id"] = draw(
        st.integers(-(2**70), 2**70) | st.text(max_size=12) | st.none() | st.just(1.5)
    )
    return request


# ------------------------------------------------------------------------ the methods


def test_the_public_plane_serves_its_methods_and_nothing_else(node: Node, client: Client) -> None:
    table = good_params(node)
    assert len(PUBLIC_METHODS) > 50
    for method in PUBLIC_METHODS:
        answer = exchange(
            client,
            {"jsonrpc": "2.0", "id": method, "method": method, "params": table.get(method, [])},
        )
        assert answer.get("error", {}).get("code") != -32601, answer
    for method in sorted(PEER_METHODS | ADMIN_METHODS):
        answer = exchange(client, {"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
        assert answer["error"]["code"] == -32601, (method, answer)


@settings(
    max_examples=1500,
    deadline=None,  # each answer has its own deadline (ANSWER_SECONDS)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_requests_get_well_formed_answers(
    node: Node, client: Client, data: st.DataObject
) -> None:
    exchange(client, data.draw(request_for(node)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_batches_get_well_formed_answers(
    node: Node, client: Client, data: st.DataObject
) -> None:
    requests: list[Any] = data.draw(st.lists(request_for(node), min_size=1, max_size=12))
    for _ in range(data.draw(st.integers(0, 3))):  # invalid members and notifications
        member = data.draw(st.sampled_from([
            1, "x", None, [], [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}],
            {"jsonrpc": "2.0", "method": "eth_chainId"}, {"id": 5}, {"jsonrpc": "1.0", "id": 6},
            {"jsonrpc": "2.0", "id": {"nested": 1}, "method": "eth_chainId"},
        ]))  # fmt: skip
        requests.insert(data.draw(st.integers(0, len(requests))), member)
    exchange(client, requests)


ENVELOPES: list[Any] = [
    {"jsonrpc": "2.0", "id": 1},
    {"jsonrpc": "2.0", "id": 1, "method": None},
    {"jsonrpc": "2.0", "id": 1, "method": ["eth_chainId"]},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_nope"},
    {"jsonrpc": "2.0", "id": 1, "method": ""},
    {"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"},
    {"jsonrpc": 2.0, "id": 1, "method": "eth_chainId"},
    {"id": 1, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": True, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": 2**200, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": -1.5e300, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": "x" * 5000, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": None, "method": "eth_chainId"},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {}},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [1]},
    {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "extra": True},
    [],
    [1, 2, 3],
    [[]],
    [{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3,  # notifications only: no answer
    [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)],  # too large
    [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(1000)],
    "eth_chainId",
    42,
    None,
]


@pytest.mark.parametrize("payload", ENVELOPES, ids=lambda p: json.dumps(p)[:40])
def test_envelopes_get_well_formed_answers(client: Client, payload: Any) -> None:
    exchange(client, payload)


DEEP = b"[" * 100_000 + b"]" * 100_000
RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"not json",
    b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"',
    b'{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":Infinity,"method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":-Infinity,"method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":1e999,"method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x1","latest",[NaN]]}',
    b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"eth_chainId"}',
    b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
    '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}'.encode("utf-16"),
    b'{"jsonrpc":"2.0","id":"\\ud800","method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\xff\xfe"]}',
    b"\x00" * 1000,
    b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"} trailing',
    # (deep, but within what this process's json module reads too, to predict the answer)
    b'{"jsonrpc":"2.0","method":"eth_chainId","id":' + b"[" * 500 + b"]" * 500 + b"}",
    b'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":['
    + b'{"blockNumber":' * 500
    + b'"0x0"'
    + b"}" * 500
    + b"]}",
    DEEP,
    b"[" * 200_000,
]


@pytest.mark.parametrize("body", RAW_BODIES, ids=lambda b: repr(b[:30]))
def test_raw_bodies_get_well_formed_answers(client: Client, body: bytes) -> None:
    exchange(client, raw=body, unreadable=body.count(b"[") > 1000)


@pytest.mark.parametrize(
    ("content_type", "method"),
    [
        (None, "POST"),
        ("text/plain", "POST"),
        ("application/x-www-form-urlencoded", "POST"),
        ("multipart/form-data; boundary=x", "POST"),
        ("application/json-rpc", "POST"),
        ("application/json; charset=utf-8", "POST"),
        ("APPLICATION/JSON", "POST"),
        ("application/json", "GET"),
        ("application/json", "PUT"),
        ("application/json", "DELETE"),
    ],
)
def test_wrong_content_types_and_methods_are_refused_as_json_rpc(
    client: Client, content_type: str | None, method: str
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"}).encode()
    exchange(client, raw=body, content_type=content_type, method=method)


def test_an_oversized_body_is_refused_with_413(node: Node) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * (6 << 20) + b'"]}'
    status, answer, seconds = Client(node.port).post(body)
    assert status == 413 and seconds < ANSWER_SECONDS
    check_response(_strict_json(answer), None)


_TX_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "nonce": st.sampled_from([0, 1, 2**64 - 1, 10**6]),
    "gas": st.sampled_from([0, 20_999, 21_000, 10**6, 30_000_000, 30_000_001, 2**63]),
    "value": st.sampled_from([0, 1, 10**30, 2**256 - 1]),
    "maxFeePerGas": st.sampled_from([0, 1, 10**9, 10**11, 2**256 - 1]),
    "maxPriorityFeePerGas": st.sampled_from([0, 10**9, 10**12, 2**256 - 1]),
    "data": st.sampled_from([b"", b"\x00" * 100, b"\x5b\x60\x00\x56", b"\xfe", b"\x00" * 130_000]),
    "chainId": st.sampled_from([1, 47100, 2**63]),
    "to": st.sampled_from([None, "0x" + "00" * 19 + "04", "0x" + "ee" * 20]),
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_signed_transactions_get_well_formed_answers(
    node: Node, client: Client, data: st.DataObject
) -> None:
    """Well-signed transactions with edge fields, from a funded and from an empty account;
    the funded ones that are valid are mined (and must not stop the sealer)."""
    fields = {name: data.draw(values, label=name) for name, values in _TX_FIELD_VALUES.items()}
    fields["chainId"] = data.draw(st.sampled_from([node.chain_id, fields["chainId"]]))
    if fields["to"] is None:
        del fields["to"]
    funded = data.draw(st.booleans(), label="funded")
    sender = node.processes.layout.dev_account() if funded else Account.create()
    if funded and data.draw(st.booleans(), label="next nonce"):
        fields["nonce"] = int(
            rpc(node.url, "eth_getTransactionCount", sender.address, "pending"), 16
        )
    if data.draw(st.booleans(), label="legacy"):
        fields["gasPrice"] = fields.pop("maxFeePerGas")
        del fields["maxPriorityFeePerGas"]
    try:
        raw = "0x" + bytes(sender.sign_transaction(fields).raw_transaction).hex()
    except Exception:  # eth-account refuses some of these itself: nothing to send
        return
    for method in ("eth_sendRawTransaction", "eth_call", "eth_estimateGas"):
        params: list[Any] = [raw]
        if method != "eth_sendRawTransaction":
            call: dict[str, Any] = {
                k: hex(v) if isinstance(v, int) else "0x" + v.hex() if isinstance(v, bytes) else v
                for k, v in fields.items()
            }
            params = [{**call, "from": sender.address}]
        exchange(client, {"jsonrpc": "2.0", "id": method, "method": method, "params": params})


# ------------------------------------------------------------------------ regressions


def _error_code(client: Client, method: str, *params: Any) -> int:
    answer = exchange(client, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" in answer, answer
    code: int = answer["error"]["code"]
    return code


ZERO = "0x" + "00" * 20


@pytest.mark.parametrize(
    ("method", "params"),
    [
        # storage slots beyond 256 bits reached py-evm's validation: -32603
        ("eth_getStorageAt", [ZERO, "0x1" + "0" * 64]),
        ("eth_getStorageAt", [ZERO, HUGE]),
        # int() took "-1", "+1", "1_0" and whitespace as hex; a negative slot crashed
        ("eth_getProof", [ZERO, ["0x-1"]]),
        ("eth_getStorageValues", [{ZERO: ["0x-1"]}]),
        ("eth_getStorageAt", [ZERO, "0x1_0"]),
        # bytes.fromhex skips whitespace: an address with spaces was taken
        ("eth_getBalance", ["0x" + "00 " * 20]),
        ("eth_getCode", ["0x" + "00" * 20 + "\n"]),
        # a percentile no float can hold: OverflowError formatting the message
        ("eth_feeHistory", ["0x1", "latest", [10**400]]),
        # a block object nested in a block object: resolved recursively
        ("eth_getBlockByNumber", [{"blockNumber": {"blockNumber": "0x0"}}]),
    ],
)
def test_parameters_that_crashed_or_slipped_through_are_invalid_params(
    client: Client, method: str, params: list[Any]
) -> None:
    assert _error_code(client, method, *params) == RpcError.INVALID_PARAMS


def test_nan_and_infinity_are_not_json(client: Client) -> None:
    # Python's json reads them; the id was echoed as NaN, and the answer was not JSON.
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        answer = exchange(
            client, raw=b'{"jsonrpc":"2.0","method":"eth_chainId","id":' + token + b"}"
        )
        assert answer == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "parse error"},
        }
    # A number too large for a float reads as inf: no id to echo.
    answer = exchange(client, raw=b'{"jsonrpc":"2.0","method":"eth_chainId","id":1e999}')
    assert answer["id"] is None and answer["error"]["code"] == RpcError.INVALID_REQUEST


@pytest.mark.parametrize("request_id", [{"a": 1}, [1], [[[]]], True])
def test_an_id_that_is_no_string_number_or_null_is_an_invalid_request(
    client: Client, request_id: Any
) -> None:
    # JSON-RPC 2.0: an id is a string, a number or null; objects were echoed back.
    answer = exchange(client, {"jsonrpc": "2.0", "id": request_id, "method": "eth_chainId"})
    assert answer["id"] is None and answer["error"]["code"] == RpcError.INVALID_REQUEST


class _SlowApi:
    """Stands in for `Api`: every call takes `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def call(self, method: str, params: Any) -> str:
        self.calls += 1
        time.sleep(self.seconds)
        return "0x1"


def test_a_batch_is_answered_within_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch of 1,000 calls that each run into eth_call's 1 s deadline held a worker (and
    # the caller) for 1,000 s; the rest of a batch is now "timed out" after BATCH_SECONDS.
    monkeypatch.setattr(server_module, "BATCH_SECONDS", 0.3)
    api = _SlowApi(0.1)
    plane = Plane("public", frozenset({"eth_call"}), workers=1, max_body_bytes=1 << 20)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": []} for i in range(50)]
    batch.insert(20, {"jsonrpc": "2.0", "method": "eth_call"})  # a notification: no answer
    started = time.monotonic()
    answers = handle_payload(api, json.dumps(batch).encode(), plane)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0 and api.calls <= 4
    assert [a["id"] for a in answers] == list(range(50))
    done = [a for a in answers if "result" in a]
    timed_out = [a for a in answers if "error" in a]
    assert 1 <= len(done) <= 4 and len(done) + len(timed_out) == 50
    assert all(a["error"] == {"code": -32002, "message": "request timed out"} for a in timed_out)


def test_a_batch_of_gas_bombs_is_answered_in_time(node: Node, client: Client) -> None:
    loop = {
        "jsonrpc": "2.0",
        "method": "eth_call",
        "params": [{"data": "0x5b600056"}],
    }  # JUMPDEST PUSH1 0 JUMP
    batch = [{**loop, "id": i} for i in range(3)] + [
        {"jsonrpc": "2.0", "id": 99, "method": "eth_chainId"}
    ]
    answers = exchange(client, batch)
    assert [a["id"] for a in answers] == [0, 1, 2, 99]
    assert all("timeout" in a["error"]["message"] for a in answers[:3])
    assert answers[3]["result"] == hex(node.chain_id)


# ------------------------------------------------------------------------ afterwards


def test_zz_the_node_still_answers_and_seals(node: Node, client: Client) -> None:
    """Last in the module (pytest keeps file order): after everything above."""
    assert node.processes.processes[0].poll() is None, "the node died"
    before = block_number(node.url)
    wait_until(lambda: block_number(node.url) >= before + 2, 15, "two more blocks")
    dev = node.processes.layout.dev_account()
    tx_hash = _transfer(node.url, dev, node.chain_id)
    wait_until(
        lambda: rpc(node.url, "eth_getTransactionReceipt", tx_hash) is not None, 30, "a transfer"
    )
    exchange(client, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    log = (node.processes.layout.root / "node-0.log").read_text(errors="replace")
    assert "internal error in" not in log and "Exception in ASGI application" not in log
