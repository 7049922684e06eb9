"""The Clique devnet as real processes on 127.0.0.1: block production, agreement between
validators, crash recovery, a non-sealing full node, and web3.py working unchanged."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from anchor import RegistryClient, connect
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from tests.chains import send_ether
from tests.devnet_helpers import (
    admin,
    block_number,
    canonical_hash,
    read_genesis,
    rpc,
    wait_for_common_block,
    wait_until,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def network(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NetworkLayout, NetworkProcesses]]:
    """Three validators and one full node."""
    layout = init_network(tmp_path_factory.mktemp("devnet") / "net", validators=3, full_nodes=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        yield layout, processes
    finally:
        processes.stop_all()


def urls(layout: NetworkLayout) -> list[str]:
    return [n.rpc_url for n in layout.nodes]


def test_heads_advance_at_the_period_and_agree(
    network: tuple[NetworkLayout, NetworkProcesses],
) -> None:
    layout, _ = network
    first = wait_for_common_block(urls(layout), 1, timeout=30)
    wait_until(lambda: block_number(layout.nodes[0].rpc_url) >= first + 8, 40, "8 more blocks")
    agreed = wait_for_common_block(urls(layout), first + 8, timeout=30)
    stamps = [
        int(rpc(layout.nodes[0].rpc_url, "eth_getBlockByNumber", hex(n), False)["timestamp"], 16)
        for n in range(first, agreed + 1)
    ]
    # Block time is the header's: never under the period, and about the period on average
    # (wall-clock gaps can be shorter when a late block is followed by an on-time one).
    assert all(b - a >= 1 for a, b in itertools.pairwise(stamps)), stamps
    assert (stamps[-1] - stamps[0]) / (len(stamps) - 1) <= 2.5, stamps
    signers = rpc(layout.nodes[3].rpc_url, "clique_getSigners")
    assert sorted(signers) == sorted(n.address for n in layout.nodes[:3])


def test_full_node_follows_without_sealing(network: tuple[NetworkLayout, NetworkProcesses]) -> None:
    layout, _ = network
    full = layout.nodes[3].rpc_url
    status = admin(layout, 3, "devnet_status")
    assert status["signer"] is None
    wait_for_common_block(urls(layout), block_number(layout.nodes[0].rpc_url), timeout=30)
    activity = rpc(full, "clique_status")["sealerActivity"]
    assert set(activity) <= {n.address for n in layout.nodes[:3]}


def test_receipts_and_logs_identical_on_every_node(
    network: tuple[NetworkLayout, NetworkProcesses],
) -> None:
    layout, _ = network
    w3 = connect(layout.nodes[1].rpc_url)
    governance = layout.dev_account()
    registry, _ = RegistryClient.deploy(w3, governance)
    registry.register_node(governance.address, 131016, "千代田区")
    result = registry.anchor(0, 3, hashlib.sha256(b"head").digest())
    wait_for_common_block(urls(layout), result.block_number, timeout=30)
    receipts = [rpc(u, "eth_getTransactionReceipt", result.tx_hash) for u in urls(layout)]
    assert all(r == receipts[0] for r in receipts) and receipts[0]["status"] == "0x1"
    topic = (
        "0x"
        + Web3.keccak(
            text="HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)"
        ).hex()
    )
    query = {
        "fromBlock": "0x0",
        "toBlock": hex(result.block_number),
        "address": registry.address,
        "topics": [topic],
    }
    logs = [rpc(u, "eth_getLogs", query) for u in urls(layout)]
    assert len(logs[0]) == 1 and all(entry == logs[0] for entry in logs)
    assert logs[0][0]["transactionHash"] == result.tx_hash


def test_web3_calls_used_by_anchor(network: tuple[NetworkLayout, NetworkProcesses]) -> None:
    layout, _ = network
    w3 = connect(layout.nodes[2].rpc_url)
    history = w3.eth.fee_history(4, "latest", [10, 50])
    assert len(history["baseFeePerGas"]) == 5 and len(history["reward"]) == 4
    assert w3.eth.max_priority_fee > 0 and w3.eth.gas_price > 0
    sender = layout.dev_account()
    receiver = Account.create().address
    pending_before = w3.eth.get_transaction_count(sender.address, "pending")
    send_ether(w3, sender, receiver, 2)
    assert w3.eth.get_balance(receiver) == Web3.to_wei(2, "ether")
    assert w3.eth.get_transaction_count(sender.address) == pending_before + 1
    finalized = w3.eth.get_block("finalized")["number"]
    assert finalized == max(0, w3.eth.block_number - 2)  # floor(3/2)+1 blocks deep
    assert w3.eth.get_block("earliest")["number"] == 0
    assert w3.eth.syncing is False


def test_validator_killed_and_restarted_catches_up(
    network: tuple[NetworkLayout, NetworkProcesses],
) -> None:
    layout, processes = network
    live = [layout.nodes[i].rpc_url for i in (0, 1, 3)]
    processes.kill(2)
    before = block_number(live[0])
    wait_until(lambda: block_number(live[0]) >= before + 4, 40, "blocks without validator 2")
    processes.start_node(2)
    target = block_number(live[0])
    wait_for_common_block(urls(layout), target, timeout=60)


def test_all_validators_killed_keep_state(network: tuple[NetworkLayout, NetworkProcesses]) -> None:
    layout, processes = network
    w3 = connect(layout.nodes[0].rpc_url)
    sender = layout.dev_account()
    registry, _ = RegistryClient.deploy(w3, sender)
    registry.register_node(sender.address, 402052, "飯塚市")
    anchored = registry.anchor(0, 9, hashlib.sha256(b"durable").digest())
    receiver = Account.create().address
    send_ether(w3, sender, receiver, 3)
    head = wait_for_common_block(urls(layout), block_number(layout.nodes[0].rpc_url), timeout=30)
    head_hash = canonical_hash(layout.nodes[0].rpc_url, head)
    logs_before = list(registry.iter_anchored_heads())
    for index in list(processes.processes):
        processes.kill(index)
    processes.start_all()
    w3 = connect(layout.nodes[1].rpc_url)
    assert canonical_hash(layout.nodes[1].rpc_url, head) == head_hash
    assert w3.eth.get_balance(receiver) == Web3.to_wei(3, "ether")
    reread = RegistryClient(w3, registry.address)
    record = reread.get_anchor(sender.address, hashlib.sha256(b"durable").digest())
    assert record is not None and record.block_number == anchored.block_number
    assert list(reread.iter_anchored_heads()) == logs_before
    wait_until(
        lambda: block_number(layout.nodes[1].rpc_url) > head + 2, 40, "production after restart"
    )


def test_restart_with_foreign_genesis_is_refused(tmp_path: Path) -> None:
    layout = init_network(tmp_path / "a", validators=1)
    other = init_network(tmp_path / "b", validators=1)
    processes = NetworkProcesses(layout)
    processes.start_all()
    processes.stop_all()
    (layout.root / "genesis.json").write_text((other.root / "genesis.json").read_text())
    with pytest.raises(Exception, match="exited"):
        processes.start_node(0, timeout=30)
    log = (layout.root / "node-0.log").read_text()
    assert "genesis file describes" in log
    assert read_genesis(layout.root).signers == read_genesis(other.root).signers
