"""Devnet benchmarks: sustained anchor transactions per second on a 3-validator devnet and,
in the same run, on anvil (1 s blocks both); block-time adherence; the time a fresh node
needs to sync 10,000 blocks.

    python -m bench.devnet [--seconds 30] [--rate 150] [--senders 50] [--backlog 500]
                           [--sync-blocks 10000] [--no-write]

Anchors go through JSON-RPC, as the node's anchoring worker sends them; the engines run as
separate processes on 127.0.0.1. After the offer, the backlog is left to drain until every
accepted anchor is mined; the report gives the rate per 30 s window, the largest pool (each
validator's admin socket, once a second), out-of-turn and empty blocks, the base fee, whether
every validator ended on the same block, and seal and import times from the validators'
logs; first, a block of 100 anchors sealed and imported in-process says how fast the machine
is at the time. Rewrites the "Devnet" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import re
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_keys.datatypes import PrivateKey
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.types import BlockData

from anchor import RegistryClient, connect, load_registry_artifact
from anchor.registry import encode_action, propose_and_execute_data
from bench.jsonrpc import RpcAnswer, RpcRequest, rpc_request
from bench.report import run_facts, write_section
from devnet.admin import admin_call
from devnet.anvil import AnvilProcess, dev_account
from devnet.chain import ChainStore
from devnet.genesis import Genesis
from devnet.network import NetworkProcesses, init_network

HEADING = "## Devnet (bench/devnet.py)"
ANCHOR_GAS = 120_000
MAX_FEE = Web3.to_wei(100, "gwei")
TIP = Web3.to_wei(1, "gwei")
DRAIN_SECONDS = 120  # after the load: how long the backlog may take to be mined
WINDOW = 30  # seconds per throughput window
CALIBRATION_ANCHORS = 100


def _post(url: str, payload: RpcRequest | list[RpcRequest]) -> bytes:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
        answer: bytes = response.read()
        return answer


def call(url: str, request: RpcRequest) -> RpcAnswer:
    answer: RpcAnswer = json.loads(_post(url, request))
    return answer


def call_batch(url: str, requests: list[RpcRequest]) -> list[RpcAnswer]:
    """One JSON-RPC batch; the answers sorted by id (a server may answer in any order)."""
    answers: list[RpcAnswer] = json.loads(_post(url, requests))
    return sorted(answers, key=lambda a: a["id"])


def send_batch(url: str, raws: list[str], refusals: Counter[str] | None = None) -> int:
    """Submit raw transactions in one JSON-RPC batch; return how many were accepted, and
    count the refusals by message (numbers left out) in `refusals`."""
    batch = [rpc_request("eth_sendRawTransaction", r, request_id=i) for i, r in enumerate(raws)]
    answers = call_batch(url, batch)
    if refusals is not None:
        for answer in answers:
            if "error" in answer:
                refusals[re.sub(r"\d+", "N", answer["error"]["message"])] += 1
    return sum("result" in a for a in answers)


def signed(
    account: LocalAccount,
    chain_id: int,
    nonce: int,
    to: str | None,
    data: str = "0x",
    value: int = 0,
    gas: int = ANCHOR_GAS,
) -> str:
    tx: TransactionDictType = {
        "nonce": nonce, "chainId": chain_id, "gas": gas, "value": value, "data": HexStr(data),
        "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP,
    }  # fmt: skip
    if to is not None:
        tx["to"] = HexStr(to)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def wait_receipt(w3: Web3, raw_hash: str, timeout: float = 120) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(
        HexStr(raw_hash), timeout=timeout, poll_latency=0.2
    )
    assert receipt["status"] == 1, receipt


@dataclass
class SealStats:
    """From the validators' logs, over the canonical blocks of the loaded span (seconds)."""

    sealed: int  # blocks sealed at those heights, the canonical ones and any that lost a race
    after_timestamp: float  # median: block published this long after its header's timestamp
    execute: float  # median time executing the block's transactions
    finish: float  # median time for roots, seal and write
    imports: float  # median time a peer took to import a loaded block
    per_block: float  # median anchors per loaded block


@dataclass
class ThroughputResult:
    engine: str
    offered: int
    accepted: int
    included: int
    seconds: float  # first to last block holding anchors, inclusive
    block_intervals: list[int]  # header timestamps over the loaded span
    failed: int
    windows: list[float] = field(default_factory=list)  # anchors/s per full WINDOW seconds
    out_of_turn: int = 0
    empty: int = 0  # blocks without transactions inside the loaded span
    base_fee: tuple[int, int] = (0, 0)  # min, max over the loaded span (wei)
    max_gas: int = 0  # largest gasUsed of a block in the loaded span
    backlog: list[int] = field(default_factory=list)  # pool size once a second while loading
    lagging: list[str] = field(default_factory=list)  # nodes not on the final block
    span_hashes: dict[int, str] = field(default_factory=dict)  # number -> hash, as logged
    refusals: Counter[str] = field(default_factory=Counter)  # by message
    load: list[float] = field(default_factory=list)  # 1-minute load average, once a second
    seal: SealStats | None = None

    @property
    def tps(self) -> float:
        return self.included / self.seconds if self.seconds else 0.0


def prepare(
    urls: list[str], funder: LocalAccount, senders: int
) -> tuple[RegistryClient, list[LocalAccount], int]:
    """Deploy a registry and register `senders` funded node keys (batched, few blocks)."""
    w3 = connect(urls[0])
    chain_id = w3.eth.chain_id
    registry, _ = RegistryClient.deploy(w3, funder, receipt_timeout=120)
    accounts: list[LocalAccount] = [Account.create() for _ in range(senders)]
    nonce: int = w3.eth.get_transaction_count(funder.address, "pending")
    raws = [
        signed(funder, chain_id, nonce + i, a.address, value=Web3.to_wei(10, "ether"), gas=21_000)
        for i, a in enumerate(accounts)
    ]
    nonce += len(raws)
    # Governance proposals of 50 registrations, each executed at once (1-of-1, no timelock);
    # all keys share one code, which governance allows explicitly (share_code).
    contract, first_id = registry.contract, registry.proposal_count() + 1
    for k, start in enumerate(range(0, senders, 50)):
        chunk = accounts[start : start + 50]
        actions = [
            encode_action(contract, "registerNode", a.address, 131016, f"bench {start + i}", True)
            for i, a in enumerate(chunk)
        ]
        propose, execute = propose_and_execute_data(contract, actions, first_id + k)
        for data, gas in (
            (propose, 40_000 * len(chunk) + 100_000),
            (execute, 200_000 * len(chunk)),
        ):
            raws.append(
                signed(funder, chain_id, nonce, registry.address, "0x" + data.hex(), gas=gas)
            )
            nonce += 1
    for start in range(0, len(raws), 100):
        assert send_batch(urls[0], raws[start : start + 100]) == len(raws[start : start + 100])
    wait_receipt(w3, "0x" + Web3.keccak(hexstr=raws[-1]).hex())
    return registry, accounts, chain_id


def mined_nonces(url: str, accounts: list[LocalAccount]) -> list[int]:
    batch = [
        rpc_request("eth_getTransactionCount", a.address, "latest", request_id=i)
        for i, a in enumerate(accounts)
    ]
    return [int(a["result"], 16) for a in call_batch(url, batch)]


def anchor_load(
    urls: list[str],
    registry: RegistryClient,
    accounts: list[LocalAccount],
    chain_id: int,
    seconds: float,
    rate: int,
    engine: str,
    pool_size: Callable[[], int] | None = None,
    max_backlog: int = 0,
) -> ThroughputResult:
    """Offer pre-signed anchors at `rate`/s for `seconds` (with `max_backlog`, never more
    than that many offered and not yet mined), then wait until every accepted one is mined
    (at most DRAIN_SECONDS), and describe the blocks that hold them."""
    w3 = connect(urls[0])
    rounds = int(seconds * rate / len(accounts)) + 1
    # Pre-signed so the load generator is not what limits the measurement.
    pending: list[str] = []
    for seq in range(rounds):
        for i, account in enumerate(accounts):
            root = hashlib.sha256(f"{engine}-{i}-{seq}".encode()).digest()
            data = registry.contract.functions.anchor(seq, seq + 1, root)._encode_transaction_data()
            pending.append(signed(account, chain_id, seq, registry.address, data))
    start_block = w3.eth.block_number
    backlog: list[int] = []
    sampling = threading.Event()

    load: list[float] = []

    def sample() -> None:
        while not sampling.wait(1.0):
            load.append(os.getloadavg()[0])
            if pool_size is not None:
                with contextlib.suppress(Exception):
                    backlog.append(pool_size())

    threading.Thread(target=sample, daemon=True).start()
    refusals: Counter[str] = Counter()
    mined = BlockCounter(w3, start_block)
    started = time.monotonic()
    sent, tick, target, accepted = 0, 0, 0, 0
    while sent < len(pending) and time.monotonic() - started < seconds:
        tick += 1
        target = min(len(pending), int(rate * (time.monotonic() - started + 0.1)))
        if max_backlog:  # closed loop: no more than max_backlog offered and not yet mined
            target = min(target, mined.count() + max_backlog)
        if target > sent:
            accepted += send_batch(urls[tick % len(urls)], pending[sent:target], refusals)
            sent = target
        time.sleep(0.1)
    sampling.set()
    print(f"{engine}: offered {sent}, accepted {accepted}; pool at the end {backlog[-1:]}")
    if refusals:
        print(f"{engine}: refused {dict(refusals)}")
    # Each sender's anchors went out in nonce order: sender i sent nonces 0..expected[i]-1.
    expected = [sent // len(accounts) + (i < sent % len(accounts)) for i in range(len(accounts))]
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        nonces = mined_nonces(urls[0], accounts)
        if all(n >= e for n, e in zip(nonces, expected, strict=True)):
            break
        time.sleep(1)
    result = describe(w3, urls, start_block, engine)
    result.offered, result.accepted, result.backlog = sent, accepted, backlog
    result.refusals, result.load = refusals, load
    return result


class BlockCounter:
    """Transactions mined after `start_block` so far, one block fetched once."""

    def __init__(self, w3: Web3, start_block: int) -> None:
        self.w3, self.seen, self.total = w3, start_block, 0

    def count(self) -> int:
        head = self.w3.eth.block_number
        while self.seen < head:
            self.seen += 1
            self.total += len(self.w3.eth.get_block(self.seen)["transactions"])
        return self.total


def describe(w3: Web3, urls: list[str], start_block: int, engine: str) -> ThroughputResult:
    """The blocks after `start_block`: from the first to the last holding transactions."""
    end_block = w3.eth.block_number
    blocks = [w3.eth.get_block(n) for n in range(start_block + 1, end_block + 1)]
    loaded_at = [i for i, b in enumerate(blocks) if b["transactions"]]
    span = blocks[loaded_at[0] : loaded_at[-1] + 1] if loaded_at else []
    seconds = (span[-1]["timestamp"] - span[0]["timestamp"] + 1) if span else 0
    sample_txs = [tx for b in span[:: max(1, len(span) // 10)] for tx in tx_hashes(b)[:3]]
    windows = []
    for w in range(int(seconds // WINDOW)):
        low = span[0]["timestamp"] + w * WINDOW
        count = sum(len(b["transactions"]) for b in span if low <= b["timestamp"] < low + WINDOW)
        windows.append(count / WINDOW)
    fees = [int(b["baseFeePerGas"]) for b in span] or [0]
    lagging = []
    for url in urls[1:] if blocks else []:
        if _block_hash_when_there(url, end_block) != blocks[-1]["hash"].to_0x_hex():
            lagging.append(url)
    return ThroughputResult(
        engine, 0, 0,
        included=sum(len(b["transactions"]) for b in span),
        seconds=seconds,
        block_intervals=[b2["timestamp"] - b1["timestamp"] for b1, b2 in itertools.pairwise(span)],
        failed=sum(w3.eth.get_transaction_receipt(tx)["status"] != 1 for tx in sample_txs),
        windows=windows,
        out_of_turn=sum(b["difficulty"] == 1 for b in span),
        empty=sum(not b["transactions"] for b in span),
        base_fee=(min(fees), max(fees)),
        max_gas=max((int(b["gasUsed"]) for b in span), default=0),
        lagging=lagging,
        span_hashes={b["number"]: b["hash"].to_0x_hex()[:18] for b in span},
    )  # fmt: skip


def tx_hashes(block: BlockData) -> list[HexBytes]:
    """The transaction hashes of a block fetched without full transactions."""
    hashes = [tx for tx in block["transactions"] if isinstance(tx, bytes)]
    if len(hashes) != len(block["transactions"]):
        raise TypeError("expected a block fetched with full_transactions=False")
    return hashes


def _block_hash_when_there(url: str, number: int, wait: float = 10) -> str | None:
    """The hash of block `number` on another node (0x hex), waiting a little for it to arrive
    there; None if it does not."""
    deadline = time.monotonic() + wait
    while True:
        block = call(url, rpc_request("eth_getBlockByNumber", hex(number), False)).get("result")
        if block:
            return str(block["hash"])
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


SEALED = re.compile(
    r"sealed block (\d+) (0x[0-9a-f]+) \((?:in turn|out of turn), (\d+) txs, ([\d.]+) s after its"
    r" timestamp; lock wait [\d.]+ s, execute ([\d.]+) s, finish ([\d.]+) s\)"
)
IMPORTED = re.compile(r"imported block (\d+) (0x[0-9a-f]+) \((\d+) txs\) in ([\d.]+) s")


def seal_stats(logs: list[Path], canonical: dict[int, str]) -> SealStats | None:
    """Seal and import timings of the loaded span's blocks (`canonical`: number -> short
    hash), from the validators' INFO lines."""
    sealed, delays, execute, finish, imports, sizes = 0, [], [], [], [], []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if (m := SEALED.search(line)) and int(m[1]) in canonical:
                sealed += 1
                if canonical[int(m[1])] == m[2]:
                    delays.append(float(m[4]))
                    execute.append(float(m[5]))
                    finish.append(float(m[6]))
                    sizes.append(int(m[3]))
            elif (m := IMPORTED.search(line)) and canonical.get(int(m[1])) == m[2]:
                imports.append(float(m[4]))
    if not delays:
        return None
    return SealStats(
        sealed,
        statistics.median(delays),
        statistics.median(execute),
        statistics.median(finish),
        statistics.median(imports) if imports else 0.0,
        statistics.median(sizes),
    )


def devnet_throughput(
    workdir: Path, seconds: float, rate: int, senders: int, max_backlog: int = 0
) -> ThroughputResult:
    layout = init_network(workdir / "throughput", validators=3)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        urls = [n.rpc_url for n in layout.nodes]
        registry, accounts, chain_id = prepare(urls, layout.dev_account(), senders)

        def pool_size() -> int:  # the largest pool of the three
            return max(
                int(admin_call(layout.node_dir(n.index), "devnet_status")["pending_transactions"])
                for n in layout.nodes
            )

        result = anchor_load(
            urls, registry, accounts, chain_id, seconds, rate, "devnet", pool_size, max_backlog
        )
    finally:
        processes.stop_all()
    logs = [layout.root / f"node-{n.index}.log" for n in layout.nodes]
    result.seal = seal_stats(logs, result.span_hashes)
    return result


def anvil_throughput(
    seconds: float, rate: int, senders: int, max_backlog: int = 0
) -> ThroughputResult:
    with AnvilProcess(block_time=1) as anvil:
        registry, accounts, chain_id = prepare([anvil.rpc_url], dev_account(0), senders)

        def pool_size() -> int:
            status = call(anvil.rpc_url, rpc_request("txpool_status"))
            return sum(int(v, 16) for v in status["result"].values())

        return anchor_load(
            [anvil.rpc_url], registry, accounts, chain_id, seconds, rate, "anvil", pool_size,
            max_backlog,
        )  # fmt: skip


def calibrate(workdir: Path, anchors: int = CALIBRATION_ANCHORS) -> tuple[float, float]:
    """(seconds to seal, seconds to import) one block of `anchors` anchors, in this process
    with nothing else of the benchmark running: how fast this machine is right now."""
    key = PrivateKey(bytes(Account.create().key))
    funder, senders = Account.create(), [Account.create() for _ in range(anchors)]
    genesis = Genesis(
        chain_id=47100,
        signers=[key.public_key.to_checksum_address()],
        alloc={a.address: 10**24 for a in [funder, *senders]},
        timestamp=int(time.time()) - 60,
    )
    sealer = ChainStore(genesis, workdir / "calibrate-seal")
    importer = ChainStore(genesis, workdir / "calibrate-import")
    artifact = load_registry_artifact()
    contract = Web3().eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    address = Web3.to_checksum_address(
        Web3.keccak(rlp.encode([bytes.fromhex(funder.address[2:]), 0]))[12:]
    )
    registry = Web3().eth.contract(address=address, abi=artifact.abi)

    def block(raws: list[str]) -> tuple[float, float]:
        txs = [sealer.decode_transaction(bytes.fromhex(r[2:])) for r in raws]
        started = time.monotonic()
        sealed = sealer.seal_block(
            key,
            sealer.head().hash,
            genesis.timestamp + sealer.head().block_number + 1,
            txs,
            None,
            lambda tx, why: None,
        )
        sealed_in = time.monotonic() - started
        assert sealed is not None and len(sealed.transactions) == len(raws)
        started = time.monotonic()
        importer.import_block(sealed)
        return sealed_in, time.monotonic() - started

    try:
        deploy = contract.constructor([funder.address], 1, 0).data_in_transaction
        block([signed(funder, 47100, 0, None, deploy, gas=6_000_000)])
        actions = [
            encode_action(registry, "registerNode", s.address, 131016, f"c{i}", True)
            for i, s in enumerate(senders)
        ]
        propose, execute = propose_and_execute_data(registry, actions, 1)
        block([
            signed(funder, 47100, 1, address, "0x" + propose.hex(), gas=40_000 * len(senders) + 100_000),
            signed(funder, 47100, 2, address, "0x" + execute.hex(), gas=200_000 * len(senders)),
        ])  # fmt: skip
        return block([
            signed(s, 47100, 0, address, registry.functions.anchor(0, 1, hashlib.sha256(s.key).digest())._encode_transaction_data())
            for s in senders
        ])  # fmt: skip
    finally:
        sealer.close()
        importer.close()


def sync_time(workdir: Path, blocks: int) -> tuple[float, float]:
    """(seconds to prefill `blocks` in-process, seconds for a fresh full node to sync them)."""
    layout = init_network(workdir / "sync", validators=1, full_nodes=1)
    genesis = Genesis.load(layout.genesis_path)
    genesis = Genesis(**{**genesis.__dict__, "timestamp": int(time.time()) - blocks - 600})
    genesis.save(layout.genesis_path)
    key = PrivateKey(bytes(layout.validator_key(0).key))
    started = time.monotonic()
    store = ChainStore(genesis, layout.node_dir(0) / "chaindata")
    timestamp = genesis.timestamp
    for _ in range(blocks):
        timestamp += genesis.period
        store.seal_block(key, store.head().hash, timestamp, [], None, lambda tx, why: None)
    store.close()
    prefill = time.monotonic() - started
    processes = NetworkProcesses(layout)
    try:
        processes.start_node(0)
        started = time.monotonic()
        processes.start_node(1)
        full = connect(layout.nodes[1].rpc_url)
        while full.eth.block_number < blocks:
            time.sleep(0.2)
        return prefill, time.monotonic() - started
    finally:
        processes.stop_all()


def render(
    devnet: ThroughputResult,
    anvil: ThroughputResult,
    prefill: float,
    sync: float,
    args: argparse.Namespace,
    calibration: tuple[float, float] = (0.0, 0.0),
) -> str:
    def row(r: ThroughputResult) -> str:
        windows = f"{min(r.windows):.0f}-{max(r.windows):.0f}" if r.windows else "-"
        backlog = f"{max(r.backlog):,} / {r.backlog[-1]:,}" if r.backlog else "-"
        return (
            f"| {r.engine} | {r.offered:,} | {r.accepted:,} | {r.included:,} | {r.seconds:.0f} | {r.tps:.1f}"
            f" | {windows} | {backlog} | {r.failed} |"
        )

    intervals = devnet.block_intervals or [0]
    gwei = 10**9
    command = f"python -m bench.devnet --seconds {args.seconds:g} --rate {args.rate} --senders {args.senders} --backlog {args.backlog} --sync-blocks {args.sync_blocks}"
    seal = devnet.seal
    lines = [
        HEADING,
        "",
        *run_facts(command),
        f"- Load: {args.senders} registered node keys each anchoring its next head; pre-signed EIP-1559 transactions"
        f" (max fee {MAX_FEE // gwei} gwei, tip {TIP // gwei} gwei) offered at up to {args.rate}/s for {args.seconds:g} s in"
        " JSON-RPC batches (round-robin over the devnet's validators), "
        + (
            f"never more than {args.backlog} offered and not yet mined (so the rate is what the chain takes);"
            if args.backlog
            else "whatever the chain takes;"
        )
        + " then the backlog is left to drain until every"
        f" accepted anchor is mined (at most {DRAIN_SECONDS} s). All three validators and the load generator share the machine's 2 cores.",
        "",
        f"| engine (1 s blocks) | offered | accepted | included | seconds with load | anchor tx/s | tx/s per {WINDOW} s window |"
        " pool max / at the end of the offer | failed receipts (sample) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        row(devnet),
        row(anvil),
        "",
        f"- devnet/anvil throughput ratio: {devnet.tps / anvil.tps:.2f}"
        if anvil.tps
        else "- anvil included nothing",
        f"- Not included: devnet {devnet.accepted - devnet.included}, anvil {anvil.accepted - anvil.included} of the accepted anchors;"
        f" refused: devnet {_refusals(devnet)}, anvil {_refusals(anvil)}."
        f" Validators not on the observed node's final block: {len(devnet.lagging)}.",
        f"- This machine's speed at the start (one process, nothing else of the benchmark running): a block of"
        f" {CALIBRATION_ANCHORS} anchors sealed in {calibration[0]:.2f} s and imported in {calibration[1]:.2f} s"
        f" ({calibration[0] * 1000 / CALIBRATION_ANCHORS:.1f} and {calibration[1] * 1000 / CALIBRATION_ANCHORS:.1f} ms an anchor).",
        f"- Machine load while offering (1-minute load average, 2 cores; the engine's own processes and the load"
        f" generator included): devnet mean {_mean(devnet.load):.1f}, max {max(devnet.load, default=0):.1f};"
        f" anvil mean {_mean(anvil.load):.1f}. Other jobs on the machine take CPU from the validators, and the"
        " sealers then fit fewer anchors in each block's time budget.",
        f"- Block-time adherence (devnet, {len(devnet.block_intervals)} intervals from the first to the last block with anchors):"
        f" mean {statistics.mean(intervals):.2f} s, max {max(intervals)} s, {sum(i == 1 for i in intervals) / len(intervals):.0%} exactly 1 s;"
        f" {devnet.out_of_turn} out-of-turn blocks, {devnet.empty} empty blocks.",
        f"- Base fee over the loaded span: {devnet.base_fee[0] / gwei:.4f}-{devnet.base_fee[1] / gwei:.4f} gwei"
        f" (anchors' max fee {MAX_FEE // gwei} gwei); the largest block used {devnet.max_gas:,} gas, and the base fee"
        " rises only after blocks above the 15,000,000 gas target.",
    ]
    if seal is not None:
        lines.append(
            f"- Per block (medians, from the validators' logs): {seal.per_block:.0f} anchors; sealed in"
            f" {seal.execute:.2f} s executing + {seal.finish:.2f} s finishing (roots, seal, write), published"
            f" {seal.after_timestamp:.2f} s after its timestamp; each peer imports it in {seal.imports:.2f} s."
            f" Seals at those heights: {seal.sealed} for {len(devnet.span_hashes)} blocks"
            f" ({seal.sealed - len(devnet.span_hashes)} lost a race)."
        )
    lines += [
        f"- Sync: a fresh full node imported {args.sync_blocks:,} empty blocks from one validator in {sync:.1f} s"
        f" ({args.sync_blocks / sync:.0f} blocks/s, every block re-executed and its seal checked); prefilling them in-process took {prefill:.1f} s.",
        "- Target: at least 100 anchor tx/s sustained on the devnet (nationwide need is about 29/s).",
        "- What limits it: py-evm interprets the EVM in Python and every validator executes every block, so each"
        " block's critical path is its seal on the in-turn validator plus its import on the next one, and both"
        " must fit in the period. The sealer stops adding anchors when the block could not be out 35% of the period"
        " after its timestamp (execution plus the roots and write after it), which sets the anchors per block; the"
        " import takes about as long again. Offered more, the backlog waits in the pools and is mined at this rate."
        " Here three validators, the load generator and other jobs share 2 cores; on one host per municipality"
        " each validator has its own. A consortium that needs more moves to a compiled engine (Besu/QBFT) behind"
        " the same JSON-RPC"
        " (ARCHITECTURE decision 1).",
        "",
    ]
    return "\n".join(lines)


def _mean(values: list[float]) -> float:
    return statistics.mean(values) if values else 0.0


def _refusals(result: ThroughputResult) -> str:
    if not result.refusals:
        return "none"
    return ", ".join(f"{n:,} `{message}`" for message, n in result.refusals.most_common())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=150)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument(
        "--backlog",
        type=int,
        default=500,
        help="Offer no more when this many anchors are offered and not yet mined (0: no limit).",
    )
    parser.add_argument("--sync-blocks", type=int, default=10_000)
    parser.add_argument(
        "--no-write", action="store_true", help="Print only; leave RESULTS.md alone."
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-devnet-") as scratch:
        workdir = Path(scratch)
        calibration = calibrate(workdir)
        print(
            f"calibration: {CALIBRATION_ANCHORS} anchors sealed in {calibration[0]:.2f} s, imported in {calibration[1]:.2f} s"
        )
        devnet = devnet_throughput(workdir, args.seconds, args.rate, args.senders, args.backlog)
        print(f"devnet: {devnet.included} anchors in {devnet.seconds:.0f} s = {devnet.tps:.1f}/s")
        anvil = anvil_throughput(args.seconds, args.rate, args.senders, args.backlog)
        print(f"anvil: {anvil.included} anchors in {anvil.seconds:.0f} s = {anvil.tps:.1f}/s")
        prefill, sync = sync_time(workdir, args.sync_blocks)
        print(f"sync {args.sync_blocks} blocks: {sync:.1f} s (prefill {prefill:.1f} s)")
    section = render(devnet, anvil, prefill, sync, args, calibration)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
