"""Validators on network-namespace hosts (tests/netns.py), each set up as docs/OPERATOR.md
tells a municipality: `keygen` on its own host, `notary devnet node` with its peers' URLs
through delay relays. Shared by tests/test_devnet_hosts.py and bench/nation.py."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devnet.anvil import wait_for_rpc
from tests.netns import Host

REPO = Path(__file__).resolve().parent.parent
NOTARY = [sys.executable, "-m", "node.cli"]
RPC_PORT, PEER_PORT, RELAY_PORT = 8545, 30303, 30304


def keygen(host: Host, out: Path) -> str:
    """`notary devnet keygen` on the host itself; the address is the last line."""
    done = host.run([*NOTARY, "devnet", "keygen", "--out", str(out)], cwd=REPO)
    return str(done.stdout.strip().splitlines()[-1])


@dataclass
class ValidatorHost:
    """One municipality's host: its key folder, data folder and `notary devnet node`."""

    host: Host
    key_dir: Path
    data: Path
    address: str
    peers: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host.ip}:{RPC_PORT}"

    @property
    def peer_url(self) -> str:
        """The peer plane as other hosts reach it: through this host's delay relay."""
        return f"http://{self.host.ip}:{RELAY_PORT}"

    @property
    def log(self) -> Path:
        return self.data.with_suffix(".log")

    def start(self, genesis: Path, client: Host | None = None) -> None:
        """Start the node; with `client`, wait (from that host) until its RPC answers."""
        argv = [
            *NOTARY, "devnet", "node", "--genesis", str(genesis), "--data", str(self.data),
            "--key", str(self.key_dir), "--rpc", f"{self.host.ip}:{RPC_PORT}",
            "--peer-listen", f"{self.host.ip}:{PEER_PORT}", "--peer-url", self.peer_url,
        ]  # fmt: skip
        for url in self.peers:
            argv += ["--peer", url]
        with open(self.log, "ab") as log:
            self.process = self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        if client is not None:
            client.call(wait_for_rpc, self.rpc_url, 60, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def admin(self, *args: str) -> str:
        """A `notary devnet` admin command on this node (its unix socket)."""
        done = subprocess.run(
            [*NOTARY, "devnet", *args, "--data", str(self.data)],
            capture_output=True, text=True, check=True, cwd=REPO,
        )  # fmt: skip
        return done.stdout
