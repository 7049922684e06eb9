"""The devnet under load ("The chain at national scale", item 2): bench/devnet once left 765
of 1,965 anchors pending while the node it watched stopped advancing. The cause was a
py-evm bookkeeping wedge after a reorg onto a shorter, heavier branch (a longer, lighter
side branch made every later canonical block fail to import); out-of-turn signers sealing
competing blocks under load made such reorgs frequent, and time spent waiting for the chain
lock was taken from the build budget, so blocks could go out empty with a full pool.

These tests assert behaviour, not speed: such branches no longer wedge a node; a sealer that
waited for the lock still fills its block; a burst larger than a block is mined in full on
every node with no empty block in between, and no node is left behind; in the pool, neither a
transaction the base fee overtook nor a sender's full queue holds anything else back."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp
from eth.abc import BlockAPI
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from web3 import Web3

from bench.devnet import prepare, send_batch, signed
from devnet.chain import ChainStore
from devnet.genesis import Genesis, chain_class
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.txpool import MAX_PER_SENDER, TxPool, TxRejectedError
from tests.devnet_helpers import admin, peer_rpc, rpc, wait_until

pytestmark = pytest.mark.chain

SENDERS = 40
NONCES = 12  # 480 anchors: about four blocks' worth at the 1 s period's build budget


def _sorted_keys(layout: NetworkLayout) -> list[keys.PrivateKey]:
    """The validators' keys in Clique turn order (sorted by address)."""
    found = [
        keys.PrivateKey(bytes(layout.validator_key(n.index).key)) for n in layout.nodes if n.address
    ]
    return sorted(found, key=lambda k: k.public_key.to_canonical_address())


def _seal(store: ChainStore, key: keys.PrivateKey, timestamp: int) -> BlockAPI:
    block = store.seal_block(key, store.head().hash, timestamp, [], None, lambda tx, why: None)
    assert block is not None
    return block


def test_a_longer_lighter_side_branch_does_not_wedge_the_canonical_one(tmp_path: Path) -> None:
    """A full node sees canonical 1a-2a (in turn, weight 4) and a side branch 1b-2b-3b (out
    of turn, weight 3), as out-of-turn races under load produce. py-evm then took block 3 for
    known and refused 3a, and every later canonical block, with "No canonical header for
    block number #3"; the node stayed on 2a for good while the others went on."""
    layout = init_network(tmp_path / "net", validators=3, full_nodes=1)
    genesis = Genesis.load(layout.genesis_path)
    genesis = Genesis(**{**genesis.__dict__, "timestamp": int(time.time()) - 600})
    genesis.save(layout.genesis_path)
    signer = _sorted_keys(layout)  # signer[n % 3] is in turn at block n
    heavy, light = ChainStore(genesis, tmp_path / "heavy"), ChainStore(genesis, tmp_path / "light")
    try:
        t = genesis.timestamp
        b1, b2, b3 = (_seal(light, signer[(n + 2) % 3], t + n) for n in (1, 2, 3))
        a1, a2, a3, a4 = (_seal(heavy, signer[n % 3], t + n) for n in (1, 2, 3, 4))
    finally:
        heavy.close()
        light.close()
    assert [b.header.difficulty for b in (b1, b2, b3)] == [1, 1, 1]
    assert [a.header.difficulty for a in (a1, a2, a3, a4)] == [2, 2, 2, 2]
    processes = NetworkProcesses(layout)
    try:
        processes.start_node(3)  # the full node only: the blocks come from this test
        for block in (b1, a1, a2, b2, b3, a3, a4):
            raw = "0x" + rlp.encode(block).hex()
            assert peer_rpc(layout, 3, "devnet_newBlock", raw, "") == "imported"
        head = rpc(layout.nodes[3].rpc_url, "eth_getBlockByNumber", "latest", False)
        assert head["hash"] == "0x" + a4.hash.hex()
        assert rpc(layout.nodes[3].rpc_url, "eth_getBlockByNumber", "0x3", False)["hash"] == (
            "0x" + a3.hash.hex()
        )
    finally:
        processes.stop_all()


def test_seal_budget_is_not_spent_waiting_for_the_chain_lock(tmp_path: Path) -> None:
    """An import holding the chain lock for longer than the build budget used to leave the
    sealer no time at all: an empty block with executable transactions in the pool."""
    key = keys.PrivateKey(b"\x07" * 32)
    sender = Account.create()
    genesis = Genesis(
        chain_id=47100,
        signers=[key.public_key.to_checksum_address()],
        alloc={sender.address: 10**24},
        timestamp=int(time.time()) - 60,
    )
    store = ChainStore(genesis, tmp_path / "chain")
    try:
        raws = [
            signed(sender, 47100, n, "0x000000000000000000000000000000000000dEaD", gas=21_000)
            for n in range(5)
        ]
        txs = [store.decode_transaction(bytes.fromhex(r[2:])) for r in raws]
        parent = store.head().hash
        holding, release = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with store.locked():
                holding.set()
                release.wait(5)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        holding.wait(5)
        threading.Timer(0.5, release.set).start()
        block = store.seal_block(
            key, parent, genesis.timestamp + 1, txs, None, lambda tx, why: None,
            build_seconds=0.3,
        )  # fmt: skip
        holder.join()
        assert block is not None and len(block.transactions) == 5
        assert store.last_seal is not None and store.last_seal.lock_wait >= 0.4
    finally:
        store.close()


class _FundedState:
    """What `TxPool.add` reads of the head state: every account at nonce 0, well funded."""

    def get_nonce(self, address: bytes) -> int:
        return 0

    def get_balance(self, address: bytes) -> int:
        return 10**24


def _pool_add(pool: TxPool, account: LocalAccount, nonce: int, max_fee: int) -> None:
    tx = {
        "nonce": nonce, "chainId": 47100, "gas": 21_000, "value": 1,
        "to": "0x000000000000000000000000000000000000dEaD",
        "maxFeePerGas": max_fee, "maxPriorityFeePerGas": 10**9,
    }  # fmt: skip
    raw = bytes(account.sign_transaction(tx).raw_transaction)
    genesis = Genesis(chain_id=47100, signers=[account.address], alloc={})
    decoded = chain_class(genesis).get_vm_class_for_block_number(1).get_transaction_builder()
    pool.add(decoded.decode(raw), raw, _FundedState(), 10**9, 30_000_000)  # type: ignore[arg-type]


def test_an_underpriced_transaction_waits_without_blocking_other_senders() -> None:
    """Base fee above one sender's max fee: that sender's run stops there (it stays pooled,
    as geth's queue keeps it), every other sender's transactions are still offered."""
    rich, poor = Account.create(), Account.create()
    pool, gwei = TxPool(47100), 10**9
    for account, fee in ((rich, 100 * gwei), (poor, 2 * gwei)):
        for nonce in range(3):
            _pool_add(pool, account, nonce, fee)
    offered = pool.executable(lambda sender: 0, 5 * gwei)
    assert {tx.sender for tx in offered} == {bytes.fromhex(rich.address[2:])}
    assert len(offered) == 3 and len(pool) == 6
    assert len(pool.executable(lambda sender: 0, 1 * gwei)) == 6


def test_a_full_sender_queue_takes_a_gap_filling_nonce_by_dropping_its_highest() -> None:
    """Nonces 1..256 fill the sender's queue behind a gap at 0, which was refused once. Sent
    again, nonce 0 must get in (dropping 256, the furthest from executable), or the sender
    is stuck for good."""
    sender, pool = Account.create(), TxPool(47100)
    for nonce in range(1, MAX_PER_SENDER + 1):
        _pool_add(pool, sender, nonce, 10**11)
    with pytest.raises(TxRejectedError, match="txpool is full for this sender"):
        _pool_add(pool, sender, MAX_PER_SENDER + 1, 10**11)
    assert pool.executable(lambda s: 0, 10**9) == []
    _pool_add(pool, sender, 0, 10**11)
    offered = pool.executable(lambda s: 0, 10**9)
    assert [tx.nonce for tx in offered] == list(range(MAX_PER_SENDER))
    assert len(pool.executable(lambda s: 0, 10**9, limit=100)) == 100


@pytest.fixture(scope="module")
def validators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkLayout]:
    layout = init_network(tmp_path_factory.mktemp("devnet") / "net", validators=3)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        yield layout
    finally:
        processes.stop_all()


def test_a_burst_larger_than_a_block_is_mined_in_full_on_every_node(
    validators: NetworkLayout,
) -> None:
    """480 pre-signed anchors from 40 node keys, offered at once round-robin over the three
    validators: every one is mined, no block between the first and the last of them is
    empty, every node ends on the same head with an empty pool, and no node refused a
    block or failed to seal."""
    layout = validators
    urls = [n.rpc_url for n in layout.nodes]
    registry, accounts, chain_id = prepare(urls, layout.dev_account(), SENDERS)
    raws = []
    for seq, (i, account) in itertools.product(range(NONCES), enumerate(accounts)):
        root = hashlib.sha256(f"burst-{i}-{seq}".encode()).digest()
        data = registry.contract.functions.anchor(seq, seq + 1, root)._encode_transaction_data()
        raws.append(signed(account, chain_id, seq, registry.address, data))
    for start in range(0, len(raws), SENDERS):
        batch = raws[start : start + SENDERS]
        assert send_batch(urls[(start // SENDERS) % len(urls)], batch) == len(batch)
    hashes = {Web3.to_hex(Web3.keccak(hexstr=r)) for r in raws}

    def mined() -> bool:
        counts = [
            int(rpc(urls[0], "eth_getTransactionCount", a.address, "latest"), 16) for a in accounts
        ]
        return all(c == NONCES for c in counts)

    wait_until(mined, 60, f"all {len(raws)} anchors mined")
    head = int(rpc(urls[0], "eth_blockNumber"), 16)
    blocks = [rpc(urls[0], "eth_getBlockByNumber", hex(n), False) for n in range(1, head + 1)]
    loaded = [i for i, b in enumerate(blocks) if hashes & set(b["transactions"])]
    span = blocks[loaded[0] : loaded[-1] + 1]
    assert sum(len(hashes & set(b["transactions"])) for b in span) == len(raws)
    assert len(span) >= 2, "the burst should need more than one block"
    empty = [int(b["number"], 16) for b in span if not b["transactions"]]
    assert not empty, f"blocks {empty} went out empty while anchors waited"

    def agreed() -> bool:  # a wedged node never gets there
        found = [rpc(u, "eth_getBlockByNumber", hex(head), False) for u in urls]
        return None not in found and len({b["hash"] for b in found}) == 1

    wait_until(agreed, 30, f"every validator on the same block {head}")
    wait_until(
        lambda: all(admin(layout, n.index, "devnet_status")["pending_transactions"] == 0
                    for n in layout.nodes),
        30, "every pool empty",
    )  # fmt: skip
    for node in layout.nodes:
        log = (layout.root / f"node-{node.index}.log").read_text()
        for symptom in ("rejected block", "sealing failed", "stopped: block"):
            assert symptom not in log, f"node {node.index}: {symptom!r} in its log"
