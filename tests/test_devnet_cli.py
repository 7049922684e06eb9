"""`notary devnet` as operators run it: keygen and genesis from addresses, one-line errors,
and `up` restarting a node that dies while the others keep sealing."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devnet.genesis import Genesis
from devnet.network import NetworkLayout
from tests.devnet_helpers import block_number, wait_until

pytestmark = pytest.mark.chain
NOTARY = [sys.executable, "-m", "node.cli"]
REPO = Path(__file__).resolve().parent.parent


def notary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOTARY, *args], capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )


def test_keygen_and_genesis_from_addresses_only(tmp_path: Path) -> None:
    done = notary("devnet", "keygen", "--out", str(tmp_path / "key"))
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip().splitlines()[-1]
    for name in ("keystore.json", "password"):
        assert stat.S_IMODE((tmp_path / "key" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o700
    keystore = json.loads((tmp_path / "key" / "keystore.json").read_text())
    assert "0x" + keystore["address"].lower() == address.lower()
    again = notary("devnet", "keygen", "--out", str(tmp_path / "key"))
    assert again.returncode == 1 and "never overwrites" in again.stderr
    genesis = tmp_path / "genesis.json"
    done = notary(
        "devnet", "genesis", "--signer", address, "--fund", "0x" + "11" * 20,
        "--chain-id", "4711", "--period", "2", "--out", str(genesis),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = Genesis.load(genesis)
    assert loaded.signers == [address] and loaded.chain_id == 4711 and loaded.period == 2
    assert set(loaded.alloc) == {address, "0x" + "11" * 20}
    assert loaded.hash_hex() in done.stdout
    bad = notary("devnet", "genesis", "--signer", "0x12", "--out", str(tmp_path / "g2.json"))
    assert bad.returncode == 2 and "not a 0x-prefixed 20-byte address" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_admin_commands_without_a_running_node_are_one_line_errors(tmp_path: Path) -> None:
    done = notary("devnet", "vote", "add", "0x" + "22" * 20, "--data", str(tmp_path))
    assert done.returncode == 1 and "no node is running" in done.stderr
    assert "Traceback" not in done.stderr


def test_up_restarts_a_node_that_dies_and_the_others_keep_sealing(tmp_path: Path) -> None:
    root = tmp_path / "net"
    up = subprocess.Popen(
        [*NOTARY, "devnet", "up", "--dir", str(root), "--validators", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        wait_until((root / "network.json").exists, 30, "the folder")
        layout = NetworkLayout.load(root)
        urls = [n.rpc_url for n in layout.nodes]
        wait_until(lambda: all(block_number(u) >= 2 for u in urls), 60, "both sealing")
        victim = _pid_of(layout.node_dir(1))
        os.kill(victim, signal.SIGKILL)
        before = block_number(urls[0])
        # Two signers: floor(2/2)+1 = 2 must seal, so the chain waits for the restart.
        wait_until(
            lambda: _pids_of(layout.node_dir(1)) not in ([], [victim]), 30, "node 1 restarted"
        )
        wait_until(lambda: block_number(urls[1]) > before, 60, "node 1 back in step")
        wait_until(lambda: block_number(urls[0]) >= before + 2, 30, "sealing again")
        assert up.poll() is None  # `up` itself kept running
    finally:
        up.send_signal(signal.SIGTERM)
        _, stderr = up.communicate(timeout=30)
    assert up.returncode == 0
    assert "node 1 exited with code -9; restarting in 1 s" in stderr
    assert "node 1 restarted" in stderr
    time.sleep(0.5)
    assert not any(_pids_of(layout.node_dir(i)) for i in (0, 1)), "a node outlived `up`"


def _pids_of(data: Path) -> list[int]:
    """Processes running `notary devnet node --data <data>`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"devnet" in argv and str(data).encode() in argv:
            pids.append(int(pid))
    return pids


def _pid_of(data: Path) -> int:
    pids = _pids_of(data)
    assert len(pids) == 1, pids
    return pids[0]
