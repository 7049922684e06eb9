"""Client behaviour that needs control over the engine: timeouts, stale nonces, transport
failures, wrong chains, reverts discovered only after mining. anvil gives that control."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.providers.base import BaseProvider

from anchor import (
    ChainUnavailableError,
    RegistryClient,
    TransactionTimeoutError,
    WrongChainError,
    connect,
)
from anchor import errors as e
from devnet.anvil import AnvilProcess, dev_account
from devnet.ports import free_port
from tests.chains import send_ether

pytestmark = pytest.mark.chain


def root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@pytest.fixture
def anvil() -> Iterator[AnvilProcess]:
    with AnvilProcess() as process:
        yield process


def deploy_with_node(w3: Web3) -> tuple[RegistryClient, RegistryClient]:
    governance, _ = RegistryClient.deploy(w3, dev_account(0), receipt_timeout=5)
    governance.register_node(dev_account(1).address, 131016, "千代田区")
    return governance, RegistryClient(w3, governance.address, dev_account(1), receipt_timeout=1)


def test_unreachable_endpoint_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainUnavailableError, match=f"cannot reach {url}"):
        connect(url, timeout=2)


def test_wrong_chain_id_is_refused(anvil: AnvilProcess) -> None:
    with pytest.raises(WrongChainError) as caught:
        connect(anvil.rpc_url, chain_id=1)
    assert (caught.value.expected, caught.value.actual) == (1, anvil.chain_id)


def test_endpoint_dying_mid_session_is_chain_unavailable(anvil: AnvilProcess) -> None:
    w3 = connect(anvil.rpc_url)
    governance, node = deploy_with_node(w3)
    anvil.stop()
    with pytest.raises(ChainUnavailableError):
        node.anchor(0, 1, root("a"))
    with pytest.raises(ChainUnavailableError):
        governance.get_node(dev_account(1).address)


def test_receipt_timeout_names_the_transaction(anvil: AnvilProcess) -> None:
    w3 = connect(anvil.rpc_url)
    _, node = deploy_with_node(w3)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    with pytest.raises(TransactionTimeoutError) as caught:
        node.anchor(0, 1, root("slow"))
    tx_hash = caught.value.tx_hash
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert node.wait(tx_hash).tx_hash == tx_hash  # still mined later, as the error says


def test_revert_found_after_mining_is_decoded(anvil: AnvilProcess) -> None:
    # Two heads with the same seq both pass estimation while neither is mined; the second
    # reverts in the block. The node must learn it was a WrongSequence, not just "failed".
    w3 = connect(anvil.rpc_url)
    _, node = deploy_with_node(w3)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    first = node.send_anchor(0, 1, root("one"))
    second = node.send_anchor(0, 2, root("two"))
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert node.wait(first).block_number > 0
    with pytest.raises(e.WrongSequence) as caught:
        node.wait(second)
    assert caught.value.fields == {"expected": 1, "given": 0}


def test_stale_local_nonce_is_resynchronised(anvil: AnvilProcess) -> None:
    w3 = connect(anvil.rpc_url)
    _, node = deploy_with_node(w3)
    node.anchor(0, 1, root("a"))  # the client now caches the next nonce
    send_ether(w3, dev_account(1), dev_account(2).address, 1)  # same key, behind its back
    node.anchor(1, 2, root("b"))
    assert node.next_seq(dev_account(1).address) == 2


def test_engine_refusal_is_transaction_rejected(anvil: AnvilProcess) -> None:
    w3 = connect(anvil.rpc_url)
    governance, _ = deploy_with_node(w3)
    poor = RegistryClient(w3, governance.address, dev_account(1))
    poor.sender.receipt_timeout = 5  # type: ignore[union-attr]
    w3.provider.make_request("anvil_setBalance", [dev_account(1).address, "0x0"])  # type: ignore[arg-type]
    with pytest.raises(e.AnchorError) as caught:
        poor.anchor(0, 1, root("broke"))
    print(type(caught.value), caught.value)
    assert type(caught.value) is e.TransactionRejectedError
    assert "insufficient funds" in str(caught.value).lower()


def test_event_paging_halves_pages_the_engine_refuses(
    anvil: AnvilProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    w3 = connect(anvil.rpc_url)
    governance, node = deploy_with_node(w3)
    for seq in range(3):
        node.anchor(seq, seq + 1, root(f"r{seq}"))
        w3.provider.make_request("anvil_mine", [hex(40)])  # type: ignore[arg-type]
    real_get_logs = w3.eth.get_logs
    ranges: list[int] = []

    def capped(params: Any) -> Any:  # an engine that refuses ranges over 32 blocks
        ranges.append(params["toBlock"] - params["fromBlock"] + 1)
        if ranges[-1] > 32:
            error = {"code": -32005, "message": "query exceeds max block range 32"}
            raise Web3RPCError("refused", rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})
        return real_get_logs(params)

    monkeypatch.setattr(w3.eth, "get_logs", capped)
    events = list(governance.iter_anchored_heads(page_size=1024))
    assert [e.seq for e in events] == [0, 1, 2]
    refused, accepted = [r for r in ranges if r > 32], [r for r in ranges if r <= 32]
    assert ranges[0] > 32 and refused == sorted(refused, reverse=True)  # halved after refusals...
    assert sum(accepted) >= w3.eth.block_number  # ...then the whole chain in small pages
    with pytest.raises(e.AnchorError, match="eth_getLogs"):  # ...and gives up below the floor
        monkeypatch.setattr(
            w3.eth, "get_logs", lambda params: capped({"fromBlock": 0, "toBlock": 99})
        )
        list(governance.iter_anchored_heads(page_size=1024))


def test_chain_state_reads_are_typed_and_fail_as_anchor_errors(anvil: AnvilProcess) -> None:
    w3 = connect(anvil.rpc_url)
    _, node = deploy_with_node(w3)
    result = node.anchor(0, 1, root("a"))
    mined = node.receipt(result.tx_hash)
    assert mined is not None and mined.succeeded
    assert (mined.block_number, mined.block_hash) == (result.block_number, result.block_hash)
    assert mined.sender == dev_account(1).address
    block = node.block(result.block_number)
    assert block is not None and block.hash == result.block_hash
    assert node.block_number() >= result.block_number
    assert node.block(node.block_number() + 1000) is None
    assert node.transaction_known(result.tx_hash)
    unknown = "0x" + "ee" * 32
    assert node.receipt(unknown) is None and not node.transaction_known(unknown)
    # anvil has no clique_getSigners: the fallback, said so.
    depth = node.finality_depth()
    assert depth.depth == 2 and "fallback" in depth.source
    assert node.finality_depth(5).depth == 5
    anvil.stop()
    for read in (node.block_number, lambda: node.receipt(unknown), node.finality_depth):
        with pytest.raises(ChainUnavailableError):
            read()


class _CliqueAnswer(BaseProvider):
    """Answers every request with `answer` (a JSON-RPC response object)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer

    def make_request(self, method: Any, params: Any) -> Any:
        return {"jsonrpc": "2.0", "id": 1, **self.answer}


@pytest.mark.parametrize(
    ("answer", "depth"),
    [
        ({"result": ["0x" + "01" * 20]}, 1),
        ({"result": ["0x" + f"{i:02x}" * 20 for i in range(3)]}, 2),
        ({"result": ["0x" + f"{i:02x}" * 20 for i in range(5)]}, 3),
        ({"error": {"code": -32601, "message": "the method does not exist"}}, 2),
    ],
)
def test_finality_depth_follows_the_clique_signers(
    answer: dict[str, Any], depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    client = RegistryClient(Web3(_CliqueAnswer(answer)), "0x" + "11" * 20)
    found = client.finality_depth()
    assert found.depth == depth
    assert ("falls back" in caplog.text) == ("error" in answer)
