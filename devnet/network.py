"""A devnet folder: genesis, validator keystores and the peer list, and the processes that
run it (`notary devnet init/up/node`)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from devnet.anvil import free_port, wait_for_rpc
from devnet.genesis import DEFAULT_CHAIN_ID, DEFAULT_PERIOD, Genesis

DEV_FUNDS_WEI = 10**27  # a billion ether: development accounts never run dry


class NetworkError(Exception):
    """The devnet folder is missing, incomplete or inconsistent."""


@dataclass
class NodeEntry:
    index: int
    address: str | None  # signer address; None for a non-sealing full node
    rpc_port: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"


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

    def keystore(self, index: int) -> Path:
        return self.node_dir(index) / "keystore.json"

    def password_file(self, index: int) -> Path:
        return self.node_dir(index) / "password"

    def save(self) -> None:
        data = {"nodes": [asdict(n) for n in self.nodes]}
        (self.root / "network.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> NetworkLayout:
        try:
            data = json.loads((root / "network.json").read_text())
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
            password = self.password_file(index).read_text().rstrip("\n")
            key = Account.decrypt(json.loads(self.keystore(index).read_text()), password)
        except OSError as error:
            raise NetworkError(f"cannot read the key of node {index}: {error}") from None
        except ValueError as error:
            raise NetworkError(f"cannot decrypt the key of node {index}: {error}") from None
        account: LocalAccount = Account.from_key(key)
        return account

    def dev_account(self) -> LocalAccount:
        account: LocalAccount = Account.from_key(self.dev_key_path.read_text().strip())
        return account


def init_network(
    root: Path,
    validators: int,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    period: int = DEFAULT_PERIOD,
    full_nodes: int = 0,
    candidates: int = 0,
    base_port: int | None = None,
) -> NetworkLayout:
    """Write genesis, keystores (with password files) and the peer list into `root`.

    `candidates` are nodes with a key that are not signers at genesis: they seal once the
    signers vote them in (`clique_propose`)."""
    if (root / "genesis.json").exists():
        raise NetworkError(f"{root} already holds a devnet; remove it or pick another --dir")
    if validators < 1:
        raise NetworkError("a Clique network needs at least one validator")
    root.mkdir(parents=True, exist_ok=True)
    accounts = [Account.create() for _ in range(validators + candidates)]
    dev: LocalAccount = Account.create()
    nodes = []
    for index in range(validators + candidates + full_nodes):
        port = base_port + index if base_port else free_port()
        address = accounts[index].address if index < len(accounts) else None
        nodes.append(NodeEntry(index, address, port))
    layout = NetworkLayout(root, nodes)
    for index, account in enumerate(accounts):
        layout.node_dir(index).mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        _write_private(layout.password_file(index), password + "\n")
        _write_private(layout.keystore(index), json.dumps(Account.encrypt(account.key, password)))
    _write_private(layout.dev_key_path, dev.key.hex() + "\n")
    genesis = Genesis(
        chain_id=chain_id,
        signers=[a.address for a in accounts[:validators]],
        alloc={dev.address: DEV_FUNDS_WEI, **{a.address: DEV_FUNDS_WEI for a in accounts}},
        period=period,
    )
    genesis.save(layout.genesis_path)
    layout.save()
    return layout


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)  # touch() leaves an existing file's mode alone
    path.write_text(text)


class NetworkProcesses:
    """Starts every node of a layout as its own process; stops them all."""

    def __init__(self, layout: NetworkLayout, log_dir: Path | None = None) -> None:
        self.layout = layout
        self.log_dir = log_dir or layout.root
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start_node(self, index: int, timeout: float = 60.0) -> None:
        log_file = open(self.log_dir / f"node-{index}.log", "ab")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node.cli",
                    "devnet",
                    "node",
                    "--dir",
                    str(self.layout.root),
                    "--index",
                    str(index),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            log_file.close()
        self.processes[index] = process
        wait_for_rpc(self.layout.node(index).rpc_url, timeout, process)

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

    def wait_any_exit(self, poll: float = 0.5) -> int | None:
        """Block until a process exits (returns its index) — or forever while all run."""
        while True:
            for index, process in self.processes.items():
                if process.poll() is not None:
                    return index
            time.sleep(poll)
