"""Bad JSON-RPC input gets a JSON-RPC error, never a crash, a 500 or an HTML page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from anchor import RegistryClient, connect
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from tests.devnet_helpers import rpc, rpc_error, rpc_raw

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkLayout]:
    layout = init_network(tmp_path_factory.mktemp("rpc") / "net", validators=1, chain_id=4242)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        yield layout
    finally:
        processes.stop_all()


def url_of(layout: NetworkLayout) -> str:
    return layout.nodes[0].rpc_url


def signed_transfer(
    account: LocalAccount, *, nonce: int, chain_id: int = 4242, tip: int = 10**9
) -> str:
    tx = {
        "to": "0x" + "22" * 20, "value": 1, "gas": 21_000, "nonce": nonce, "chainId": chain_id,
        "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": tip,
    }  # fmt: skip
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe", -32700),
        (b"42", -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600),
        (b"[]", -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_noSuchMethod", "params": []}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x12"]}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": "0x12"}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": [1, 2, 3]}', -32602),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0xzz"]}',
            -32602,
        ),
    ],
)
def test_malformed_requests(node: NetworkLayout, body: bytes, code: int) -> None:
    status, answer = rpc_raw(url_of(node), body)
    assert status == 200
    assert answer["error"]["code"] == code, answer


def test_deeply_nested_json_is_an_error_not_a_crash(node: NetworkLayout) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    status, answer = rpc_raw(url_of(node), body)
    assert status == 200 and answer["error"]["code"] == -32700
    assert rpc(url_of(node), "eth_chainId") == hex(4242)


def test_batches(node: NetworkLayout) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification: no answer
        "garbage",
    ]
    status, answer = rpc_raw(url_of(node), json.dumps(batch).encode())
    assert status == 200
    assert answer[0] == {"jsonrpc": "2.0", "id": 1, "result": hex(4242)}
    assert answer[1]["id"] == 2 and answer[1]["error"]["code"] == -32601
    assert answer[2]["error"]["code"] == -32600 and len(answer) == 3
    too_many = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]
    status, answer = rpc_raw(url_of(node), json.dumps(too_many).encode())
    assert (
        status == 200
        and answer["error"]["code"] == -32600
        and "batch too large" in answer["error"]["message"]
    )


def test_oversized_body_and_wrong_verb(node: NetworkLayout) -> None:
    status, answer = rpc_raw(url_of(node), b" " * (6 * 1024 * 1024))
    assert status == 413 and answer["error"]["code"] == -32600
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url_of(node), timeout=10)
    assert caught.value.code == 405 and json.loads(caught.value.read())["error"]["code"] == -32600
    assert rpc(url_of(node), "eth_chainId") == hex(4242)  # still serving


def test_raw_transaction_errors(node: NetworkLayout) -> None:
    url = url_of(node)
    funded = node.dev_account()
    fresh: LocalAccount = Account.create()
    assert "rlp" in rpc_error(url, "eth_sendRawTransaction", "0xdeadbeef")["message"]
    assert rpc_error(url, "eth_sendRawTransaction", "not hex")["code"] == -32602
    wrong_chain = rpc_error(
        url, "eth_sendRawTransaction", signed_transfer(funded, nonce=0, chain_id=1)
    )
    assert "invalid chain id" in wrong_chain["message"]
    broke = rpc_error(url, "eth_sendRawTransaction", signed_transfer(fresh, nonce=0))
    assert "insufficient funds" in broke["message"]
    w3 = connect(url)
    nonce = w3.eth.get_transaction_count(funded.address, "pending")
    tx_hash = rpc(url, "eth_sendRawTransaction", signed_transfer(funded, nonce=nonce))
    underpriced = rpc_error(
        url, "eth_sendRawTransaction", signed_transfer(funded, nonce=nonce, tip=10**9 + 1)
    )
    assert "replacement transaction underpriced" in underpriced["message"]
    assert (
        "already known"
        in rpc_error(url, "eth_sendRawTransaction", signed_transfer(funded, nonce=nonce))["message"]
    )
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    stale = rpc_error(
        url, "eth_sendRawTransaction", signed_transfer(funded, nonce=nonce, tip=2 * 10**9)
    )
    assert "nonce too low" in stale["message"] and stale["code"] == -32000


def test_revert_returns_code_3_with_data(node: NetworkLayout) -> None:
    url = url_of(node)
    w3 = connect(url)
    registry, _ = RegistryClient.deploy(w3, node.dev_account())
    stranger = Account.create().address
    data = registry.contract.functions.anchor(0, 1, b"\x01" * 32)._encode_transaction_data()
    error = rpc_error(
        url, "eth_call", {"from": stranger, "to": registry.address, "data": data}, "latest"
    )
    selector = Web3.keccak(text="NodeNotRegistered(address)")[:4].hex()
    assert error["code"] == 3 and error["message"] == "execution reverted"
    assert error["data"].startswith("0x" + selector)
    estimate = rpc_error(
        url, "eth_estimateGas", {"from": stranger, "to": registry.address, "data": data}
    )
    assert estimate["code"] == 3 and estimate["data"] == error["data"]


def test_lookups_that_find_nothing(node: NetworkLayout) -> None:
    url = url_of(node)
    assert rpc(url, "eth_getBlockByNumber", hex(10**9), False) is None
    assert rpc(url, "eth_getTransactionReceipt", "0x" + "00" * 32) is None
    assert rpc(url, "eth_getBlockByHash", "0x" + "00" * 32, False) is None
    too_wide = rpc_error(url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(10**9)})
    assert too_wide["code"] in (-32000, -32005)
    assert rpc_error(url, "eth_getLogs", {"topics": ["0x12"]})["code"] == -32602
