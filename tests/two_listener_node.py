"""A notarization node process without a chain, with both listeners (LGWAN and public).

Shared by the API security tests and the schemathesis fuzzer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from devnet.ports import free_port
from devtools.testca import TestHierarchy
from tests.node_harness import REPO
from tests.node_harness import http as call

LG_CODE = 131016


@dataclass
class TwoListenerNode:
    """`notary node --port P --public-port Q` without a chain, and a token of every scope."""

    data_dir: Path
    lgwan: str
    public: str
    token: str
    hierarchy: TestHierarchy
    process: subprocess.Popen[bytes]

    @property
    def log_file(self) -> Path:
        return self.data_dir / "node.log"


def node_files(root: Path, hierarchy: TestHierarchy) -> tuple[Path, dict[str, str]]:
    """A node key and the environment naming the JPKI trust anchors and CRLs."""
    root.mkdir(parents=True, exist_ok=True)
    key_file = root / "node-key.hex"
    key_file.write_text(Account.create().key.hex())
    trust = root / "trust"
    trust.mkdir(exist_ok=True)
    for anchor in hierarchy.trust_anchors:
        (trust / anchor.name).write_bytes(anchor.read_bytes())
    env = {
        "NOTARY_TRUST_DIR": str(trust),
        "NOTARY_CRL_FILES": json.dumps([str(p) for p in hierarchy.crl_files]),
    }
    return key_file, env


def start_node(
    data_dir: Path, key_file: Path, env: dict[str, str], port: int, public_port: int
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable, "-m", "node.cli", "node", "--data-dir", str(data_dir),
        "--port", str(port), "--public-port", str(public_port),
        "--key-file", str(key_file), "--lg-code", str(LG_CODE),
    ]  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "node.log", "ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            cwd=REPO,
        )


def wait_healthy(process: subprocess.Popen[bytes], *urls: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"node exited with {process.returncode}")
        try:
            if call("GET", waiting[0] + "/healthz").status == 200:
                waiting.pop(0)
                continue
        except OSError:
            pass
        time.sleep(0.1)
    if waiting:
        raise RuntimeError(f"{waiting} did not answer within {timeout} s")


def stop_node(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@contextmanager
def running_node(
    root: Path,
    hierarchy: TestHierarchy,
    token_name: str,
    scopes: tuple[str, ...],
    settings: dict[str, str] | None = None,
) -> Iterator[TwoListenerNode]:
    """Start a node with both listeners and a token of `scopes` (`settings`: more NOTARY_*
    variables); on exit it must stop with code 0 and without a traceback in its log."""
    key_file, env = node_files(root, hierarchy)
    env.update(settings or {})
    data_dir = root / "data"
    token = subprocess.run(
        [sys.executable, "-m", "node.cli", "node", "--data-dir", str(data_dir), "token",
         "create", "--name", token_name, *(a for s in scopes for a in ("--scope", s))],
        capture_output=True, text=True, check=True, cwd=REPO,
    ).stdout.strip()  # fmt: skip
    port, public_port = free_port(), free_port()
    process = start_node(data_dir, key_file, env, port, public_port)
    lgwan, public = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{public_port}"
    try:
        wait_healthy(process, lgwan, public)
        yield TwoListenerNode(data_dir, lgwan, public, token, hierarchy, process)
    finally:
        code = stop_node(process)
    log = (data_dir / "node.log").read_text(errors="replace")
    assert code == 0, log
    assert "Traceback" not in log, log
