"""A one-host devnet folder (`notary devnet init/up`), built from the same pieces a
municipality uses on its own host: `keygen` per validator, `genesis` from their addresses,
and one `notary devnet node` process per node, supervised."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from devnet.anvil import EngineStartError, wait_for_rpc
from devnet.genesis import DEFAULT_CHAIN_ID, DEFAULT_PERIOD, Genesis
from devnet.keys import (
    KeyFileError,
    generate_key_dir,
    load_key_dir,
    node_key_address,
    write_private,
)
from devnet.ports import free_port

DEV_FUNDS_WEI = 10**27  # a billion ether: development accounts never run dry
LOOPBACK = "127.0.0.1"
MAX_RESTART_DELAY = 30.0
HEALTHY_SECONDS = 60.0  # a node up this long has its restart back-off reset


class NetworkError(Exception):
    """The devnet folder is missing, incomplete or inconsistent."""


@dataclass
class NodeEntry:
    index: int
    address: str | None  # signer address; None for a full node (or: no validator key)
    rpc_port: int
    peer_port: int
    identity: str | None = None  # the peer-plane address: the validator key's, or the nodekey's

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.rpc_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.peer_port}"


@dataclass
class NetworkLayout:
    root: Path
    nodes: list[NodeEntry]

    @property
    def genesis_path(self) -> Path:
        return self.root / "genesis.json"

    @property
    def dev_key_path(self) -> Path:
        return self.root / "dev-account.key"

    def node_dir(self, index: int) -> Path:
        return self.root / f"node-{index}"

    def save(self) -> None:
        data = {"nodes": [asdict(n) for n in self.nodes]}
        (self.root / "network.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> NetworkLayout:
        try:
            data = json.loads((root / "network.json").read_text())
            for entry in data["nodes"]:  # folders made before the peer plane existed
                entry.setdefault("peer_port", free_port())
            nodes = [NodeEntry(**n) for n in data["nodes"]]
        except FileNotFoundError:
            raise NetworkError(
                f"{root} is not a devnet folder; run `notary devnet init --dir {root}`"
            ) from None
        except (ValueError, TypeError, KeyError) as error:
            raise NetworkError(f"{root / 'network.json'} is malformed: {error}") from None
        return cls(root, nodes)

    def node(self, index: int) -> NodeEntry:
        for node in self.nodes:
            if node.index == index:
                return node
        raise NetworkError(f"no node {index} in {self.root / 'network.json'}")

    def validator_key(self, index: int) -> LocalAccount:
        try:
            account: LocalAccount = Account.from_key(load_key_dir(self.node_dir(index)))
        except KeyFileError as error:
            raise NetworkError(f"node {index}: {error}") from None
        return account

    @property
    def has_dev_account(self) -> bool:
        return self.dev_key_path.exists()

    def dev_account(self) -> LocalAccount:
        try:
            key = self.dev_key_path.read_text().strip()
        except FileNotFoundError:
            raise NetworkError(
                f"{self.root} has no development account (made only by "
                "`notary devnet init --dev-account`)"
            ) from None
        account: LocalAccount = Account.from_key(key)
        return account

    def node_argv(self, index: int) -> list[str]:
        """The `notary devnet node` command line of node `index`."""
        entry = self.node(index)
        genesis_signers = set(Genesis.load(self.genesis_path).signers)
        argv = [
            "devnet", "node",
            "--genesis", str(self.genesis_path),
            "--data", str(self.node_dir(index)),
            "--rpc", f"{LOOPBACK}:{entry.rpc_port}",
            "--peer-listen", f"{LOOPBACK}:{entry.peer_port}",
        ]  # fmt: skip
        if entry.address is not None:
            argv += ["--key", str(self.node_dir(index))]
        for other in self.nodes:
            if other.index != index:
                argv += ["--peer", other.peer_url]
            # This folder's own full nodes and candidates may sync before any vote.
            if other.identity and other.identity not in genesis_signers:
                argv += ["--allow-peer", other.identity]
        return argv


def init_network(
    root: Path,
    validators: int,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    period: int = DEFAULT_PERIOD,
    full_nodes: int = 0,
    candidates: int = 0,
    base_port: int | None = None,
    dev_account: bool = True,
) -> NetworkLayout:
    """Keys (one `keygen` folder per validator, a node key per full node), a genesis from
    the validators' addresses, and the peer list, in `root`.

    `candidates` are nodes with a key that are not signers at genesis: they seal once the
    signers vote them in (`notary devnet vote add`). `dev_account` funds a fresh account at
    genesis and writes its key unencrypted to `dev-account.key` (mode 0600): what tests and
    `notary node --dev` deploy registries with. The `notary devnet init` and `up` commands
    pass it only with `--dev-account`, so a folder made for anything else holds no funded
    key in the clear."""
    if (root / "genesis.json").exists():
        raise NetworkError(f"{root} already holds a devnet; remove it or pick another --dir")
    if validators < 1:
        raise NetworkError("a Clique network needs at least one validator")
    root.mkdir(parents=True, exist_ok=True)
    layout = NetworkLayout(root, [])
    keyed = validators + candidates
    for index in range(keyed + full_nodes):
        if base_port:
            rpc_port, peer_port = base_port + 2 * index, base_port + 2 * index + 1
        else:
            rpc_port, peer_port = free_port(), free_port()
        if index < keyed:
            address: str | None = generate_key_dir(layout.node_dir(index))
            identity = address
        else:
            layout.node_dir(index).mkdir(mode=0o700)
            address, identity = None, node_key_address(layout.node_dir(index))
        layout.nodes.append(NodeEntry(index, address, rpc_port, peer_port, identity))
    funded = []
    if dev_account:
        dev: LocalAccount = Account.create()
        write_private(layout.dev_key_path, dev.key.hex() + "\n")
        funded.append(dev.address)
    keyed_addresses = [n.address for n in layout.nodes if n.address is not None]
    genesis = Genesis(
        chain_id=chain_id,
        signers=keyed_addresses[:validators],
        alloc={a: DEV_FUNDS_WEI for a in [*funded, *keyed_addresses]},
        period=period,
    )
    genesis.save(layout.genesis_path)
    layout.save()
    return layout


class NetworkProcesses:
    """Runs every node of a layout as its own process; restarts the ones that die."""

    def __init__(self, layout: NetworkLayout, log_dir: Path | None = None) -> None:
        self.layout = layout
        self.log_dir = log_dir or layout.root
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.started_at: dict[int, float] = {}

    def spawn(self, index: int) -> subprocess.Popen[bytes]:
        log_file = open(self.log_dir / f"node-{index}.log", "ab")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", *self.layout.node_argv(index)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            log_file.close()
        self.processes[index] = process
        self.started_at[index] = time.monotonic()
        return process

    def start_node(self, index: int, timeout: float = 60.0) -> None:
        process = self.spawn(index)
        try:
            wait_for_rpc(self.layout.node(index).rpc_url, timeout, process)
        except EngineStartError as error:
            raise EngineStartError(f"node {index}: {error}; {self.log_tail(index)}") from None

    def log_tail(self, index: int, lines: int = 5) -> str:
        """The last lines of a node's log, for a start-up error to say why."""
        try:
            text = (self.log_dir / f"node-{index}.log").read_text(errors="replace")
        except OSError:
            return "no log"
        return "log ends: " + " | ".join(text.strip().splitlines()[-lines:])

    def start_all(self, timeout: float = 60.0) -> None:
        for node in self.layout.nodes:
            self.start_node(node.index, timeout)

    def kill(self, index: int) -> None:
        process = self.processes.pop(index)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, index: int, timeout: float = 15.0) -> int:
        process = self.processes.pop(index)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for index in list(self.processes):
            self.stop(index)

    def supervise(self, stop: threading.Event, report: Callable[[str], None]) -> None:
        """Until `stop` is set: restart every node that exits, with a back-off doubling per
        quick failure (1 s up to 30 s); the others keep running."""
        delays = {n.index: 1.0 for n in self.layout.nodes}
        due: dict[int, float] = {}
        while not stop.wait(0.5):
            now = time.monotonic()
            for index, process in list(self.processes.items()):
                if process.poll() is None:
                    if now - self.started_at[index] > HEALTHY_SECONDS:
                        delays[index] = 1.0
                    continue
                del self.processes[index]
                due[index] = now + delays[index]
                report(
                    f"node {index} exited with code {process.returncode}; restarting in "
                    f"{delays[index]:g} s (log: {self.log_dir / f'node-{index}.log'})"
                )
                delays[index] = min(MAX_RESTART_DELAY, delays[index] * 2)
            for index, when in list(due.items()):
                if now >= when:
                    del due[index]
                    self.spawn(index)
                    report(f"node {index} restarted")
