"""The chain at national scale: 7 municipal validators on their own hosts, 1,741 nodes
anchoring a head a minute each, then the same at a multiple of that load.

    python -m bench.nation [--minutes 10] [--load-multipliers 1,3] [--mode single|anchor-many]
                           [--relay-interval 1.0] [--relay-max-heads 200] [--no-write]

Hosts are Linux network namespaces (tests/netns.py; run as root): 7 validator hosts, each
running `notary devnet node` with its own key (made on the host by `notary devnet keygen`),
peers reaching each other's peer plane through a delay relay (30 ± 10 ms each way), and a
load-generator host that holds the 1,741 node keys (funded in the genesis, registered by the
registry's governance key in nonce-sequenced batches). Every request this process makes
runs inside the load-generator host (`host.call`), never in the root namespace.

Load: every node anchors its next head `multiplier` times a minute. Arrivals are bursty:
within each minute a head's offset is 60 s x Beta(1, 3) (density 3(1 - t/60)^2: three
times the mean rate at the top of the minute, falling to none at its end; 58% of the heads
in the first 15 s), as when municipal nodes seal on wall-clock minutes (NTP) and office
systems submit in step. Each node sends to its own municipality's validator (node i to
validator i mod 7). `single`: one `anchor` transaction per head, signed by the node's key.
`anchor-many`: each node signs its head (EIP-712, `RegistryClient.sign_head`) and hands it
to a relayer, which every `--relay-interval` seconds sends the heads it received as
`anchorMany` transactions of at most `--relay-max-heads` heads (`send_anchor_many`).

Per load: offered and included heads/s; inclusion latency (send, or hand-over to the relayer,
to the first poll, every 0.25 s, that shows a block holding it); block-time adherence;
out-of-turn blocks; CPU seconds per validator per wall second (/proc/<pid>/stat); chain
growth (each validator's chaindata folder, extrapolated to a day); the pools at the end; and
`notary audit` over the chain, timed before and after the load and scaled to a day.
Rewrites the "Nation" section of bench/RESULTS.md, keeping the rows of the other mode.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import http.client
import itertools
import json
import os
import queue
import random
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3

from anchor import RegistryClient, connect
from anchor.artifacts import load_registry_artifact
from anchor.models import is_valid_lg_code
from anchor.registry import RevertDecoder, encode_action, propose_and_execute_data
from anchor.signing import SignedHead, sign_head
from bench.devnet import seal_stats
from bench.report import RESULTS, run_facts, write_section
from devnet.admin import admin_call
from devnet.anvil import wait_for_rpc
from tests.netns import Host, Network, network_of_hosts
from tests.validator_hosts import NOTARY, PEER_PORT, RELAY_PORT, REPO, ValidatorHost, keygen

HEADING = "## Nation (bench/nation.py)"
VALIDATORS = 7
NODES = 1_741
DELAY, JITTER = 0.03, 0.01
CHAIN_ID = 47_171
PERIOD = 1
MAX_FEE = 100 * 10**9
TIP = 10**9
ANCHOR_GAS = 120_000
REGISTER_GAS = 200_000  # per registration, in a proposal's execution
REGISTER_PER_PROPOSAL = 40
REGISTER_BATCH = 200  # under the pool's 256 transactions per sender
IDLE_SECONDS = 30  # no load: the validators' own upkeep (empty blocks, sync polls)
DRAIN_SECONDS = 90  # after the offer: how long the backlog may take to be mined
POLL = 0.25  # seconds between the poller's looks at the head
BETA = (1.0, 3.0)  # arrival offset within a minute: 60 s x Beta(a, b)
DATA_MARK = "<!-- nation-data "
ANCHOR_SELECTOR = keccak(text="anchor(uint64,uint64,bytes32)")[:4]


# ------------------------------------------------------------------------------ JSON-RPC


class Rpc:
    """JSON-RPC over one keep-alive connection. Create and use it inside a host's thread."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname or "", parts.port or 80, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
                return json.loads(self.conn.getresponse().read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, *params: Any) -> Any:
        answer = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results in order (None for an error)."""
        out: list[Any] = []
        for start in range(0, len(calls), 500):
            chunk = calls[start : start + 500]
            payload = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(chunk)
            ]
            answers = sorted(self.post(payload), key=lambda a: a["id"])
            out += [a.get("result") for a in answers]
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def send_raw(rpc: Rpc, raws: list[str], refusals: Counter[str]) -> int:
    """Submit raw transactions in one batch; count refusals by message (digits as N)."""
    payload = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [r]}
        for i, r in enumerate(raws)
    ]
    accepted = 0
    for answer in rpc.post(payload):
        if "error" in answer:
            refusals[re.sub(r"\d+", "N", answer["error"]["message"])] += 1
        else:
            accepted += 1
    return accepted


def sign_tx(account: LocalAccount, nonce: int, to: str, data: bytes, gas: int) -> tuple[str, str]:
    """(raw, hash) of an EIP-1559 transaction."""
    tx: TransactionDictType = {
        "nonce": nonce, "chainId": CHAIN_ID, "gas": gas, "value": 0, "to": HexStr(to),
        "data": HexStr("0x" + data.hex()), "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP,
    }  # fmt: skip
    signed = account.sign_transaction(tx)
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


# ------------------------------------------------------------------------------ the hosts


class Validator(ValidatorHost):
    """A validator host with what the benchmark reads off its process."""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def cpu_seconds(self) -> float:
        """utime + stime of the node process (ip netns exec execs it: same pid)."""
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def chain_bytes(self) -> int:
        total = 0
        for root, _, files in os.walk(self.data / "chaindata"):
            for name in files:
                with contextlib.suppress(FileNotFoundError):
                    total += os.stat(os.path.join(root, name)).st_size
        return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def relay_cpu(net: Network) -> float:
    """CPU seconds of the delay relays so far."""
    total = 0.0
    for proc in net._relays:
        with contextlib.suppress(OSError):
            total += cpu_seconds(proc.pid)
    return total


def own_cpu() -> float:
    """CPU seconds of this process (load generator, poller, relayer; not the audit)."""
    times = os.times()
    return times.user + times.system


def lg_code(i: int) -> int:
    """A valid 6-digit local-government code: a body per municipality and its check digit."""
    body = (i % 47 + 1) * 1000 + 100 + i // 47
    return next(body * 10 + d for d in range(10) if is_valid_lg_code(body * 10 + d))


@dataclass
class Consortium:
    net: Network
    validators: list[Validator]
    client: Host
    genesis: Path
    governance: LocalAccount
    relayer: LocalAccount
    nodes: list[LocalAccount]
    registry: str = ""
    next_seq: list[int] = field(default_factory=list)
    tree_size: list[int] = field(default_factory=list)


def build(net: Network, workdir: Path, nodes: list[LocalAccount]) -> Consortium:
    hosts, client = net.hosts[:VALIDATORS], net.hosts[VALIDATORS]
    with concurrent.futures.ThreadPoolExecutor(VALIDATORS) as pool:
        addresses = list(
            pool.map(lambda ih: keygen(ih[1], workdir / f"key-{ih[0]}"), enumerate(hosts))
        )
    validators = [
        Validator(h, workdir / f"key-{i}", workdir / f"v{i}", a)
        for i, (h, a) in enumerate(zip(hosts, addresses, strict=True))
    ]
    governance, relayer = Account.create(), Account.create()
    genesis = workdir / "genesis.json"
    argv = [*NOTARY, "devnet", "genesis", "--chain-id", str(CHAIN_ID), "--period", str(PERIOD)]
    argv += [a for v in validators for a in ("--signer", v.address)]
    argv += [a for acct in [governance, relayer, *nodes] for a in ("--fund", acct.address)]
    subprocess.run([*argv, "--out", str(genesis)], check=True, capture_output=True, cwd=REPO)
    for v in validators:
        v.host.delayed_port(RELAY_PORT, PEER_PORT, delay=DELAY, jitter=JITTER)
        v.peers = [o.peer_url for o in validators if o is not v]
    for v in validators:
        v.start(genesis)
    for v in validators:
        client.call(wait_for_rpc, v.rpc_url, 180, v.process)
    return Consortium(net, validators, client, genesis, governance, relayer, nodes)


def deploy_and_register(c: Consortium) -> float:
    """Deploy the registry and register every node; returns the seconds registration took."""
    url = c.validators[0].rpc_url

    def deploy() -> str:
        client, _ = RegistryClient.deploy(connect(url), c.governance, receipt_timeout=180)
        return client.address

    c.registry = c.client.call(deploy)
    started = time.monotonic()
    raws: list[str] = []
    # Governance proposals of REGISTER_PER_PROPOSAL registrations; the governance key is the
    # one member (1-of-1, no timelock), so each is executed right after it is proposed.
    contract = Web3().eth.contract(
        address=Web3.to_checksum_address(c.registry), abi=load_registry_artifact().abi
    )
    for k, start in enumerate(range(0, len(c.nodes), REGISTER_PER_PROPOSAL)):
        chunk = c.nodes[start : start + REGISTER_PER_PROPOSAL]
        actions = [
            encode_action(
                contract,
                "registerNode",
                n.address,
                lg_code(start + j),
                f"municipality {start + j:04d}",
                False,
            )
            for j, n in enumerate(chunk)
        ]
        propose, execute = propose_and_execute_data(contract, actions, 1 + k)
        gas = REGISTER_GAS * len(chunk)
        raws.append(sign_tx(c.governance, 1 + len(raws), c.registry, propose, gas)[0])
        raws.append(sign_tx(c.governance, 1 + len(raws), c.registry, execute, gas)[0])

    def register() -> None:
        rpc = Rpc(url)
        refusals: Counter[str] = Counter()
        for start in range(0, len(raws), REGISTER_BATCH):
            chunk = raws[start : start + REGISTER_BATCH]
            assert send_raw(rpc, chunk, refusals) == len(chunk), refusals
            want = 1 + start + len(chunk)
            deadline = time.monotonic() + 300
            while (
                int(rpc.call("eth_getTransactionCount", c.governance.address, "latest"), 16) < want
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"registrations up to nonce {want} not mined in 300 s")
                time.sleep(0.5)
            print(f"registered {want - 1}/{len(raws)}", flush=True)
        count = Rpc(url).call(
            "eth_call",
            {"to": c.registry, "data": "0x" + keccak(text="nodeCount()")[:4].hex()},
            "latest",
        )
        assert int(count, 16) == len(c.nodes), count

    c.client.call(register)
    c.next_seq = [0] * len(c.nodes)
    c.tree_size = [0] * len(c.nodes)
    return time.monotonic() - started


# ------------------------------------------------------------------------------ the load


@dataclass
class Item:
    at: float  # seconds after the phase start
    node: int
    seq: int
    raw: str = ""  # single: the signed transaction
    tx_hash: str = ""
    head: SignedHead | None = None  # anchor-many


def plan(c: Consortium, minutes: int, multiplier: int, mode: str, seed: int) -> list[Item]:
    """Every node's heads for the phase, pre-signed so signing does not pace the offer."""
    rng = random.Random(seed)
    items = []
    for i, node in enumerate(c.nodes):
        for minute in range(minutes):
            offsets = sorted(60 * rng.betavariate(*BETA) for _ in range(multiplier))
            for offset in offsets:
                seq = c.next_seq[i]
                c.next_seq[i] += 1
                c.tree_size[i] += rng.randint(1, 40)
                root = hashlib.sha256(f"{node.address}-{seq}".encode()).digest()
                item = Item(60 * minute + offset, i, seq)
                if mode == "single":
                    data = ANCHOR_SELECTOR + abi_encode(
                        ["uint64", "uint64", "bytes32"], [seq, c.tree_size[i], root]
                    )
                    item.raw, item.tx_hash = sign_tx(node, seq, c.registry, data, ANCHOR_GAS)
                else:
                    item.head = sign_head(
                        node, chain_id=CHAIN_ID, registry=c.registry, seq=seq,
                        tree_size=c.tree_size[i], root=root,
                    )  # fmt: skip
                items.append(item)
    items.sort(key=lambda it: it.at)
    return items


@dataclass
class Block:
    number: int
    hash: str
    timestamp: int
    difficulty: int
    gas_used: int
    txs: list[str]
    seen: float  # time.time() when the poller first saw it


@dataclass
class PhaseRun:
    offer_start: float = 0.0  # time.time()
    offer_end: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)  # tx hash -> time sent (single)
    handed: dict[tuple[int, int], float] = field(default_factory=dict)  # (node, seq) -> time
    relay_txs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # tx -> heads
    offered: int = 0
    accepted: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    blocks: dict[int, Block] = field(default_factory=dict)
    relay_errors: list[str] = field(default_factory=list)


class Poller(threading.Thread):
    """Records every new block of one validator as it is first seen."""

    def __init__(self, url: str, run: PhaseRun, start_block: int) -> None:
        super().__init__(daemon=True)
        self.url, self.run_, self.next = url, run, start_block + 1
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        rpc = Rpc(self.url)
        while not self.stop.is_set():
            with contextlib.suppress(OSError, RuntimeError, ValueError, KeyError, TypeError):
                head = int(rpc.call("eth_blockNumber"), 16)
                while self.next <= head:
                    b = rpc.call("eth_getBlockByNumber", hex(self.next), False)
                    if b is None:  # a reorg onto a shorter branch: look again next poll
                        break
                    block = Block(
                        int(b["number"], 16), b["hash"], int(b["timestamp"], 16),
                        int(b["difficulty"], 16), int(b["gasUsed"], 16), b["transactions"],
                        time.time(),
                    )  # fmt: skip
                    with self.lock:
                        self.run_.blocks[block.number] = block
                    self.next += 1
            self.stop.wait(POLL)
        rpc.close()

    def included(self) -> set[str]:
        with self.lock:
            return {tx for b in self.run_.blocks.values() for tx in b.txs}


def offer_single(
    c: Consortium, items: list[Item], seconds: float, drain: float
) -> tuple[PhaseRun, int]:
    """Runs inside the client host: send each head's transaction at its time."""
    run = PhaseRun()
    urls = [v.rpc_url for v in c.validators]
    start_block = int(Rpc(urls[0]).call("eth_blockNumber"), 16)
    poller = Poller(urls[0], run, start_block)
    poller.start()
    queues: list[queue.Queue[list[Item] | None]] = [queue.Queue() for _ in urls]
    lock = threading.Lock()

    def sender(index: int) -> None:
        rpc = Rpc(urls[index])
        while (batch := queues[index].get()) is not None:
            now = time.time()
            refusals: Counter[str] = Counter()
            try:
                accepted = send_raw(rpc, [it.raw for it in batch], refusals)
            except OSError as error:
                accepted, refusals = 0, Counter({f"transport: {error}": len(batch)})
            with lock:
                for it in batch:
                    run.sent[it.tx_hash] = now
                run.accepted += accepted
                run.refusals.update(refusals)
        rpc.close()

    senders = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(len(urls))]
    for t in senders:
        t.start()
    run.offer_start = time.time()
    base = time.monotonic()
    position = 0
    while position < len(items):
        elapsed = time.monotonic() - base
        due = []
        while position < len(items) and items[position].at <= elapsed:
            due.append(items[position])
            position += 1
        by_validator: dict[int, list[Item]] = {}
        for it in due:
            by_validator.setdefault(it.node % len(urls), []).append(it)
        for index, batch in by_validator.items():
            queues[index].put(batch)
        run.offered += len(due)
        time.sleep(0.02)
    time.sleep(max(0.0, seconds - (time.monotonic() - base)))
    run.offer_end = time.time()
    for q in queues:
        q.put(None)
    for t in senders:
        t.join()
    pool_at_end = max(_pool_sizes(c))
    deadline = time.monotonic() + drain
    wanted = set(run.sent)
    while time.monotonic() < deadline and not wanted <= poller.included():
        time.sleep(1)
    poller.stop.set()
    poller.join()
    return run, pool_at_end


def offer_anchor_many(  # noqa: PLR0915 - one sequence: poll, relay, offer, drain
    c: Consortium, items: list[Item], seconds: float, drain: float, interval: float, max_heads: int
) -> tuple[PhaseRun, int]:
    """Runs inside the client host: heads reach the relayer at their times; every `interval`
    it sends what it has as `anchorMany` transactions of at most `max_heads` heads."""
    run = PhaseRun()
    urls = [v.rpc_url for v in c.validators]
    start_block = int(Rpc(urls[0]).call("eth_blockNumber"), 16)
    poller = Poller(urls[0], run, start_block)
    poller.start()
    inbox: list[Item] = []
    lock = threading.Lock()
    stop = threading.Event()

    def relayer() -> None:
        # The relayer is a municipality's node next to its own validator (validator 0).
        client = RegistryClient(connect(urls[0]), c.registry, c.relayer, receipt_timeout=120)
        while True:
            stopping = stop.wait(interval)
            with lock:
                heads = list(inbox)
                inbox.clear()
            heads.sort(key=lambda it: (it.node, it.seq))
            for start in range(0, len(heads), max_heads):
                chunk = heads[start : start + max_heads]
                try:
                    tx = client.send_anchor_many([_signed_head(it) for it in chunk])
                except Exception as error:  # counted and reported
                    run.relay_errors.append(str(error))
                    run.refusals[re.sub(r"\d+", "N", str(error))[:120]] += len(chunk)
                    continue
                run.relay_txs[tx] = [(it.node, it.seq) for it in chunk]
                run.accepted += len(chunk)
            if stopping:
                return

    thread = threading.Thread(target=relayer, daemon=True)
    thread.start()
    run.offer_start = time.time()
    base = time.monotonic()
    position = 0
    while position < len(items):
        elapsed = time.monotonic() - base
        now = time.time()
        with lock:
            while position < len(items) and items[position].at <= elapsed:
                it = items[position]
                inbox.append(it)
                run.handed[(it.node, it.seq)] = now
                position += 1
                run.offered += 1
        time.sleep(0.02)
    time.sleep(max(0.0, seconds - (time.monotonic() - base)))
    run.offer_end = time.time()
    stop.set()
    thread.join()
    pool_at_end = max(_pool_sizes(c))
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline and not set(run.relay_txs) <= poller.included():
        time.sleep(1)
    poller.stop.set()
    poller.join()
    return run, pool_at_end


def _signed_head(item: Item) -> SignedHead:
    if item.head is None:
        raise ValueError(f"head {item.seq} of node {item.node} was planned unsigned")
    return item.head


def wait_for_head(url: str, number: int, timeout: float) -> None:
    rpc = Rpc(url)
    deadline = time.monotonic() + timeout
    while int(rpc.call("eth_blockNumber"), 16) < number:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the chain did not reach block {number} within {timeout:g} s")
        time.sleep(0.5)


def _pool_sizes(c: Consortium) -> list[int]:
    return [int(admin_call(v.data, "devnet_status")["pending_transactions"]) for v in c.validators]


def canonical_blocks(url: str, run: PhaseRun) -> None:
    """Replace what the poller saw by the canonical blocks (a reorg may have changed some)."""
    rpc = Rpc(url)
    numbers = sorted(run.blocks)
    if not numbers:
        return
    answers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    for n, b in zip(numbers, answers, strict=True):
        seen = run.blocks[n]
        if b is None:  # no longer on the canonical chain (a reorg onto a shorter branch)
            del run.blocks[n]
        elif b["hash"] != seen.hash:
            run.blocks[n] = Block(
                n, b["hash"], int(b["timestamp"], 16), int(b["difficulty"], 16),
                int(b["gasUsed"], 16), b["transactions"], seen.seen,
            )  # fmt: skip


def anchored_topic() -> str:
    """topic0 of `HeadAnchored`, from the compiled registry's ABI."""
    (event,) = [
        e for e in load_registry_artifact().abi
        if e.get("type") == "event" and e["name"] == "HeadAnchored"
    ]  # fmt: skip
    types = ",".join(i["type"] for i in event["inputs"])
    return "0x" + keccak(text=f"HeadAnchored({types})").hex()


def relay_outcomes(url: str, txs: list[str]) -> tuple[dict[str, tuple[int, int]], Counter[str]]:
    """tx -> (heads anchored, heads skipped) from the receipts (skipped -1: reverted), and
    the skipped heads by reason (`HeadSkipped`'s error selector, named from the ABI)."""
    topic = anchored_topic()
    decoder = RevertDecoder(load_registry_artifact().abi)
    rpc = Rpc(url)
    receipts = rpc.batch([("eth_getTransactionReceipt", [t]) for t in txs])
    out, reasons = {}, Counter[str]()
    for tx, r in zip(txs, receipts, strict=True):
        if r is None:
            continue
        anchored = sum(1 for log in r["logs"] if log["topics"][:1] == [topic])
        out[tx] = (anchored, len(r["logs"]) - anchored if int(r["status"], 16) else -1)
        for log in r["logs"]:
            if log["topics"][:1] != [topic] and len(log["data"]) >= 2 + 128:
                # HeadSkipped(node indexed, uint64 seq, bytes4 reason): reason is word 2.
                reasons[decoder.name_of(bytes.fromhex(log["data"][2 + 64 : 2 + 72]))] += 1
    return out, reasons


def sample_receipts(url: str, txs: list[str]) -> int:
    """How many of `txs` failed (status 0)."""
    rpc = Rpc(url)
    return sum(
        1 for r in rpc.batch([("eth_getTransactionReceipt", [t]) for t in txs])
        if r is not None and int(r["status"], 16) != 1
    )  # fmt: skip


# ------------------------------------------------------------------------------ the audit


def run_audit(c: Consortium, out: Path) -> dict[str, Any]:
    """`notary audit` inside the client host; its wall time and what it covered.

    The audit reads from validator 6 while the other six are paused (SIGSTOP): the chain
    stands still, and the auditor and the node serving it are not competing with six more
    validators for the machine's two cores (an auditor runs on its own machine)."""
    url = c.validators[-1].rpc_url
    paused = c.validators[:-1]
    # Validator 6 first catches up with validator 0's head (which the load was checked on).
    first = c.client.call(lambda: int(Rpc(c.validators[0].rpc_url).call("eth_blockNumber"), 16))
    c.client.call(wait_for_head, url, first, 120)
    for v in paused:
        v.signal(signal.SIGSTOP)
    try:
        time.sleep(2)  # let validator 6 finish what it was doing
        head = c.client.call(lambda: Rpc(url).call("eth_getBlockByNumber", "latest", False))
        started = time.monotonic()
        done = c.client.run(
            [*NOTARY, "audit", "--rpc", url, "--registry", c.registry, "--out", str(out),
             "--period", str(PERIOD), "--no-progress"],
            check=False, cwd=REPO, timeout=3600,
        )  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        for v in paused:
            v.signal(signal.SIGCONT)
    number = int(head["number"], 16)
    c.client.call(wait_for_head, url, number + 2, 120)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    codes = Counter(f["code"] for f in report.get("findings", []))
    summary = report.get("summary", {})
    return {
        "seconds": seconds,
        "exit": done.returncode,
        "inner_seconds": report.get("duration_seconds"),
        "head": number,
        "head_timestamp": int(head["timestamp"], 16),
        "blocks": summary.get("blocks"),
        "anchors": summary.get("anchors"),
        "findings": dict(codes),
        "stderr": done.stderr[-500:] if done.returncode not in (0, 1) else "",
    }


# ------------------------------------------------------------------------------ a phase


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def count_reorgs(log: Path, start: float, end: float) -> int:
    """`reorg:` lines a validator logged between `start` and `end` (time.time())."""
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if "reorg:" in line:
            with contextlib.suppress(ValueError):
                # The node logs local time, which mktime reads back as such.
                stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
                count += start - 1 <= stamp <= end
    return count


def idle_cpu(c: Consortium, seconds: float) -> list[float]:
    """CPU seconds per wall second of each validator with no transactions offered."""
    before = [v.cpu_seconds() for v in c.validators]
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    return [(v.cpu_seconds() - b) / wall for v, b in zip(c.validators, before, strict=True)]


def run_phase(  # noqa: PLR0915 - one measured phase, start to report
    c: Consortium, workdir: Path, minutes: int, multiplier: int, args: argparse.Namespace,
    audit_before: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    seconds = minutes * 60
    t0 = time.monotonic()
    items = plan(c, minutes, multiplier, args.mode, seed=1000 + multiplier)
    print(
        f"{multiplier}x: {len(items):,} heads signed in {time.monotonic() - t0:.1f} s", flush=True
    )
    cpu0 = [v.cpu_seconds() for v in c.validators]
    others0 = (relay_cpu(c.net), own_cpu())
    bytes0 = [v.chain_bytes() for v in c.validators]
    load: list[float] = []
    sampling = threading.Event()

    def sample_load() -> None:
        while not sampling.wait(5):
            load.append(os.getloadavg()[0])

    threading.Thread(target=sample_load, daemon=True).start()
    wall0 = time.monotonic()
    if args.mode == "single":
        job = c.client.submit(offer_single, c, items, seconds, DRAIN_SECONDS)
    else:
        job = c.client.submit(
            offer_anchor_many, c, items, seconds, DRAIN_SECONDS, args.relay_interval,
            args.relay_max_heads,
        )  # fmt: skip
    # CPU and chain size over the offer only: sampled when it ends (before the drain).
    time.sleep(seconds)
    cpu1 = [v.cpu_seconds() for v in c.validators]
    others1 = (relay_cpu(c.net), own_cpu())
    rss = [rss_bytes(v.process.pid) for v in c.validators if v.process is not None]
    bytes1 = [v.chain_bytes() for v in c.validators]
    wall = time.monotonic() - wall0
    sampling.set()
    run, pool_at_end = job.result()
    drained_pool = max(c.client.call(_pool_sizes, c))
    c.client.call(canonical_blocks, c.validators[0].rpc_url, run)
    audit_after = run_audit(c, workdir / f"audit-{args.mode}-{multiplier}x")
    print(f"{multiplier}x: audit {audit_after}", flush=True)

    blocks = [run.blocks[n] for n in sorted(run.blocks)]
    tx_block = {tx: b for b in blocks for tx in b.txs}
    in_offer = [
        b for b in blocks if run.offer_start <= b.timestamp + 1 and b.timestamp <= run.offer_end
    ]
    latencies: list[float] = []
    included_in_offer = 0
    heads_per_block: list[int] = []
    failed = -1
    skip_reasons: Counter[str] = Counter()
    if args.mode == "single":
        for tx, sent in run.sent.items():
            b = tx_block.get(tx)
            if b is not None:
                latencies.append(b.seen - sent)
                included_in_offer += b.seen <= run.offer_end
        included = len(latencies)
        mine = set(run.sent)
        heads_per_block = [sum(tx in mine for tx in b.txs) for b in in_offer]
        sample = rng_sample(list(tx_for for tx_for in run.sent if tx_for in tx_block), 300)
        failed = c.client.call(sample_receipts, c.validators[0].rpc_url, sample)
        skipped = 0
    else:
        outcomes, skip_reasons = c.client.call(
            relay_outcomes, c.validators[0].rpc_url, [t for t in run.relay_txs if t in tx_block]
        )
        included = skipped = 0
        per_block: Counter[int] = Counter()
        for tx, heads in run.relay_txs.items():
            if tx not in outcomes:
                continue
            anchored, skip = outcomes[tx]
            b = tx_block[tx]
            included += anchored
            skipped += max(skip, 0) if skip >= 0 else len(heads)
            per_block[b.number] += anchored
            for key in heads:
                latencies.append(b.seen - run.handed[key])
                included_in_offer += b.seen <= run.offer_end
        heads_per_block = [per_block.get(b.number, 0) for b in in_offer]
        failed = sum(1 for o in outcomes.values() if o[1] < 0)
    intervals = [b2.timestamp - b1.timestamp for b1, b2 in itertools.pairwise(in_offer)]
    canonical = {b.number: b.hash[:18] for b in in_offer}
    seal = seal_stats([v.log for v in c.validators], canonical)
    reorgs = count_reorgs(c.validators[0].log, run.offer_start, run.offer_end)
    cpu = [(b - a) / wall for a, b in zip(cpu0, cpu1, strict=True)]
    growth = [(b - a) / wall * 86_400 for a, b in zip(bytes0, bytes1, strict=True)]
    # Per simulated day at this load: the audit's growth per anchor (the blocks between the
    # two audits, idle ones included, charged to the anchors: the conservative side) times
    # the anchors a day of this offer brings.
    audit_delta = audit_after["seconds"] - audit_before["seconds"]
    anchors_delta = (audit_after["anchors"] or 0) - (audit_before["anchors"] or 0)
    offered_s = run.offer_end - run.offer_start
    result = {
        "mode": args.mode,
        "multiplier": multiplier,
        "minutes": minutes,
        "offered": run.offered,
        "accepted": run.accepted,
        "included": included,
        "included_in_offer": included_in_offer,
        "skipped": skipped,
        "skip_reasons": dict(skip_reasons),
        "failed": failed,
        "offer_seconds": offered_s,
        "offered_per_s": run.offered / offered_s,
        "included_per_s": included_in_offer / offered_s,
        "peak_second": max(Counter(int(it.at) for it in items).values()),
        "latency_p50": percentile(latencies, 50),
        "latency_p99": percentile(latencies, 99),
        "latency_max": max(latencies, default=float("nan")),
        "intervals": dict(Counter(intervals)),
        "blocks": len(in_offer),
        "late_pct": 100 * sum(i > PERIOD for i in intervals) / len(intervals) if intervals else 0,
        "out_of_turn": sum(b.difficulty == 1 for b in in_offer),
        "reorgs": reorgs,
        "empty": sum(not b.txs for b in in_offer),
        "max_gas": max((b.gas_used for b in in_offer), default=0),
        "heads_per_block_max": max(heads_per_block, default=0),
        "heads_per_block_median": statistics.median(heads_per_block) if heads_per_block else 0,
        "cpu": cpu,
        "rss": rss,
        "relay_cpu": (others1[0] - others0[0]) / wall,
        "loadgen_cpu": (others1[1] - others0[1]) / wall,
        "bytes_per_day": growth,
        "pool_at_end": pool_at_end,
        "pool_after_drain": drained_pool,
        "refusals": dict(run.refusals),
        "relay_txs": len(run.relay_txs),
        "relay_errors": run.relay_errors[:3],
        "load_avg": [statistics.mean(load) if load else 0.0, max(load, default=0.0)],
        "audit_before": audit_before,
        "audit_after": audit_after,
        "audit_per_1000_anchors": 1000 * audit_delta / anchors_delta
        if anchors_delta > 0
        else float("nan"),
        "audit_per_day": (
            audit_delta / anchors_delta * run.offered / offered_s * 86_400
            if anchors_delta > 0
            else float("nan")
        ),
        "seal": asdict(seal) if seal else None,
    }
    print(
        json.dumps({k: v for k, v in result.items() if k not in ("audit_before",)}, default=str),
        flush=True,
    )
    return result


def rng_sample(values: list[str], k: int) -> list[str]:
    return random.Random(7).sample(values, min(k, len(values)))


# ------------------------------------------------------------------------------ report


def limits(r: dict[str, Any]) -> str:
    cores = sum(r["cpu"])
    backlog = r["pool_at_end"]
    parts = []
    if r["included_in_offer"] < 0.95 * r["offered"] or backlog > r["offered_per_s"] * 10:
        parts.append(
            f"The chain did not keep up: {backlog:,} in the pools when the offer ended"
            f" ({r['pool_after_drain']:,} after {DRAIN_SECONDS} s of drain)"
        )
    else:
        parts.append("Kept up with the offer")
    if r.get("reorgs") is not None:
        parts.append(f"{r['reorgs']} reorgs in validator 0's log during the offer")
    seal = r.get("seal")
    if seal:
        parts.append(
            f"blocks of median {seal['per_block']:.0f} txs: seal {seal['execute']:.2f} s executing"
            f" + {seal['finish']:.2f} s finishing, published {seal['after_timestamp']:.2f} s after"
            f" the timestamp, import {seal['imports']:.2f} s on each peer; {seal['sealed']} blocks"
            f" sealed for the {r['blocks']} heights of the offer (the rest lost out-of-turn races)"
        )
    if r.get("rss"):
        parts.append(
            f"validator memory (RSS) at the end of the offer {max(r['rss']) / 2**20:,.0f} MiB at most"
        )
    parts.append(
        f"CPU used: the 7 validators {cores:.2f} cores (idle before the load:"
        f" {sum(r.get('idle_cpu', [])):.2f}), the delay relays {r.get('relay_cpu', 0):.2f}, the"
        f" load generator {r.get('loadgen_cpu', 0):.2f}, of the machine's 2 (1-min load average"
        f" mean {r['load_avg'][0]:.1f}, max {r['load_avg'][1]:.1f})"
    )
    return "; ".join(parts)


def chain_rate(r: dict[str, Any]) -> float:
    """Anchors the chain mined per second of chain time between the audits before and after
    this load (any load's: a backlog left by the previous load is mined here too)."""
    before, after = r["audit_before"], r["audit_after"]
    span = after["head_timestamp"] - before["head_timestamp"]
    anchors = (after["anchors"] or 0) - (before["anchors"] or 0)
    return anchors / span if span > 0 else 0.0


def _per_anchor(r: dict[str, Any]) -> str:
    """Chain growth per anchor mined (blocks, lost races and state included)."""
    rate = chain_rate(r)
    growth = statistics.median(r["bytes_per_day"])
    return f"{growth / 86_400 / rate:,.0f}" if rate > 0 else "-"


def relayer_note(r: dict[str, Any]) -> str:
    note = f" Relayer: {r['relay_txs']:,} anchorMany transactions, {r['skipped']:,} heads skipped"
    reasons = r.get("skip_reasons")
    if reasons:
        note += " (" + ", ".join(f"{n:,} {why}" for why, n in reasons.items()) + ")"
    elif r["skipped"]:
        note += (
            " (reasons not recorded by this run; a head whose node's previous head was in a"
            " refused batch fails the registry's sequence rule, and this relayer does not retry:"
            " a real node hands its head over again, node/relay.py)"
        )
    refused = sum(r["refusals"].values())
    if refused:
        note += (
            f"; {refused:,} heads refused with their batch: one relayer may hold at most 256"
            " transactions in a pool (DEVNET.md, Transaction pool)"
        )
    return note + "."


def render(data: dict[str, Any]) -> str:
    rows = sorted(data["rows"], key=lambda r: (r["mode"] != "single", r["multiplier"]))
    lines = [HEADING, ""]
    for mode in ("single", "anchor-many"):
        facts = data["facts"].get(mode)
        if facts:
            lines += [f"- Run `{mode}`:", *("  " + f for f in facts)]
    lines += [
        f"- Hosts: {VALIDATORS} validator hosts and 1 load-generator host, each a Linux network"
        f" namespace (tests/netns.py) on one machine; validators' peer planes reached through"
        f" delay relays, {DELAY * 1000:.0f} ± {JITTER * 1000:.0f} ms each way (tests/netdelay.py)."
        f" Keys made on each host (`notary devnet keygen`), genesis from the addresses"
        f" (`notary devnet genesis`, period {PERIOD} s, the {NODES:,} node keys, the governance"
        f" and the relayer funded), each validator started with `notary devnet node`.",
        f"- Load: {NODES:,} registered node keys (registered by the governance key in"
        f" nonce-sequenced batches of {REGISTER_BATCH}), each anchoring its next head once a minute"
        " at 1x (k times a minute at kx). Bursty: within each minute a head's offset is"
        " 60 s x Beta(1, 3) (density 3(1 - t/60)^2, three times the mean rate at the top of the"
        " minute; 58% of the heads in its first 15 s), seeded; node i sends to validator i mod 7."
        " `single`: one `anchor` transaction per head (EIP-1559, max fee 100 gwei, tip 1 gwei)."
        " `anchor-many`: heads signed by their nodes (EIP-712) handed to one relayer next to"
        " validator 0, which sends what it received as `anchorMany` every relay interval."
        f" After the offer, up to {DRAIN_SECONDS} s of drain.",
        "- Latency: from the send (single) or the hand-over to the relayer (anchor-many) to the"
        f" first poll of validator 0 (every {POLL} s) showing a block that holds it; heads not"
        " included by the end of the drain are left out of the percentiles (counted in 'included').",
        "- Audit: `notary audit --rpc <validator 6> --registry <addr>` in the load-generator host"
        " (no `--nodes`: the chain and registry parts; each node's log is audited against its own"
        " volume, see bench/RESULTS.md Audit), timed before and after each load over the whole"
        " chain (exit 1 with one `node-url-missing` finding per node is expected without `--nodes`);"
        " per simulated day = (after - before) / anchors added x the anchors a day of the"
        " offered rate brings (blocks in between, idle ones included, are charged to the anchors).",
        "",
        "| mode | load | minutes | heads offered (/s; peak second) | this load's heads included by end of offer (/s) | included after drain | chain: anchors mined /s between the audits | latency p50 / p99 / max s | blocks: 1 s / 2 s / ≥3 s intervals, % late | out-of-turn blocks | heads per block median / max | pool at end of offer / after drain |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        iv = {int(k): v for k, v in r["intervals"].items()}
        ge3 = sum(v for k, v in iv.items() if k >= 3)
        lines.append(
            f"| {r['mode']} | {r['multiplier']}x | {r['minutes']} | {r['offered']:,}"
            f" ({r['offered_per_s']:.1f}/s; {r['peak_second']}) | {r['included_in_offer']:,}"
            f" ({r['included_per_s']:.1f}/s) | {r['included']:,} | {chain_rate(r):.1f} | {r['latency_p50']:.2f} /"
            f" {r['latency_p99']:.2f} / {r['latency_max']:.1f} | {iv.get(1, 0)} / {iv.get(2, 0)}"
            f" / {ge3}, {r['late_pct']:.1f}% | {r['out_of_turn']} |"
            f" {r['heads_per_block_median']:.0f} / {r['heads_per_block_max']}"
            f" | {r['pool_at_end']:,} / {r['pool_after_drain']:,} |"
        )
    lines += [
        "",
        "| mode | load | CPU s per validator per wall s (mean; min-max) | chain bytes/day (median of 7 validators; min-max) | chain bytes per anchor mined | audit s before / after | audit s per 1,000 anchors | audit s per simulated day | failed receipts | refused (single: transactions; anchor-many: heads in batches the relayer could not send) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cpu = r["cpu"]
        growth = r["bytes_per_day"]
        refused = ", ".join(f"{n:,} `{m}`" for m, n in r["refusals"].items()) or "none"
        lines.append(
            f"| {r['mode']} | {r['multiplier']}x | {statistics.mean(cpu):.2f}; {min(cpu):.2f}-{max(cpu):.2f}"
            f" | {statistics.median(growth) / 1e9:.2f} GB; {min(growth) / 1e9:.2f}-{max(growth) / 1e9:.2f}"
            f" | {_per_anchor(r)}"
            f" | {r['audit_before']['seconds']:.1f} / {r['audit_after']['seconds']:.1f}"
            f" | {r['audit_per_1000_anchors']:.2f} | {r['audit_per_day']:,.0f} | {r['failed']} | {refused} |"
        )
    lines += [
        "",
        "What limited each run (all on one machine: 7 validators, their relays and the load"
        " generator on 2 cores, so each validator got about a quarter of a core; every validator"
        " executes every block, and blocks that come out late make out-of-turn signers seal"
        " competing ones, which every validator then executes too):",
        "",
    ]
    previous: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = r["audit_after"]
        before = previous.get(r["mode"])
        previous[r["mode"]] = r
        carried = (
            f"It began with the previous load's {before['pool_after_drain']:,} transactions still"
            " pending"
            + (" (anchorMany batches)" if r["mode"] != "single" else "")
            + ", mined first (nonce order). "
            if before and before["pool_after_drain"]
            else ""
        )
        lines.append(
            f"- {r['mode']} {r['multiplier']}x: {carried}{limits(r)}. Audit after: {a['blocks']:,} blocks,"
            f" {a['anchors']:,} anchors in {a['seconds']:.1f} s (exit {a['exit']};"
            f" findings {a['findings'] or 'none'})."
            + (relayer_note(r) if r["mode"] != "single" else "")
        )
    lines += [
        "",
        f"{DATA_MARK}{json.dumps(data, separators=(',', ':'), default=str)} -->",
        "",
    ]
    return "\n".join(lines)


def previous_data() -> dict[str, Any]:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start = text.find(HEADING)
    if start < 0:
        return {"rows": [], "facts": {}}
    end = text.find("\n## ", start + len(HEADING))
    section = text[start : end if end >= 0 else len(text)]
    mark = section.find(DATA_MARK)
    if mark < 0:
        return {"rows": [], "facts": {}}
    blob = section[mark + len(DATA_MARK) : section.find(" -->", mark)]
    try:
        data: dict[str, Any] = json.loads(blob)
        return data
    except ValueError:
        return {"rows": [], "facts": {}}


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="Minutes of load per multiplier.")
    parser.add_argument(
        "--load-multipliers", default="1,3", help="Heads per node per minute, e.g. 1,3."
    )
    parser.add_argument("--mode", choices=["single", "anchor-many"], default="single")
    parser.add_argument("--relay-interval", type=float, default=1.0)
    parser.add_argument("--relay-max-heads", type=int, default=50)
    parser.add_argument(
        "--no-write", action="store_true", help="Print only; leave RESULTS.md alone."
    )
    parser.add_argument("--keep", type=Path, help="Keep the data folders and logs here.")
    args = parser.parse_args(argv)
    multipliers = [int(m) for m in args.load_multipliers.split(",")]
    command = f"python -m bench.nation --minutes {args.minutes} --load-multipliers {args.load_multipliers} --mode {args.mode}"
    if args.mode == "anchor-many":
        command += (
            f" --relay-interval {args.relay_interval:g} --relay-max-heads {args.relay_max_heads}"
        )
    started = time.monotonic()
    rows = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir = args.keep
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-nation-")))
        nodes = [Account.create() for _ in range(NODES)]
        net = stack.enter_context(network_of_hosts(VALIDATORS + 1))
        c = build(net, workdir, nodes)
        print(f"{VALIDATORS} validators up in {time.monotonic() - started:.0f} s", flush=True)
        registration = deploy_and_register(c)
        print(
            f"registry {c.registry}; {NODES} nodes registered in {registration:.0f} s", flush=True
        )
        audit = run_audit(c, workdir / "audit-base")
        print(f"baseline audit {audit}", flush=True)
        idle = idle_cpu(c, IDLE_SECONDS)
        print(f"idle CPU per validator {idle}", flush=True)
        for multiplier in multipliers:
            row = run_phase(c, workdir, args.minutes, multiplier, args, audit)
            row["registration_seconds"] = registration
            row["idle_cpu"] = idle
            rows.append(row)
            audit = row["audit_after"]
    total = time.monotonic() - started
    data = previous_data()
    data["rows"] = [r for r in data["rows"] if r["mode"] != args.mode] + rows
    facts = run_facts(command)
    facts.append(
        f"- Whole run: {total / 60:.1f} min (registration of {NODES:,} nodes: {rows[0]['registration_seconds']:.0f} s)"
    )
    data["facts"][args.mode] = facts
    section = render(data)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
