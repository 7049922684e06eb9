"""anvil (Foundry's dev chain, from the pinned npm package) as a second, independent engine.

The registry and `anchor/` are proved against it so that nothing depends on our own devnet.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from eth_account import Account
from eth_account.signers.local import LocalAccount

from devnet.ports import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
# Publicly known development mnemonic: the keys it yields must never hold real value.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_ID = 31337


class EngineStartError(RuntimeError):
    """A chain process did not come up."""


def dev_account(index: int = 0) -> LocalAccount:
    """The funded account `index` of `DEV_MNEMONIC` (anvil prefunds the first ten)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def wait_for_rpc(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `eth_chainId` until the endpoint answers, the process dies, or time runs out."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EngineStartError(
                f"process exited with code {process.returncode} before {url} answered"
            )
        # The URL is one we built for a loopback port, never user input: S310 does not apply.
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310
                if "result" in json.loads(response.read()):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise EngineStartError(f"{url} did not answer within {timeout:g} s")


class AnvilProcess:
    """Runs anvil on a free loopback port; use as a context manager."""

    def __init__(
        self,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        port: int | None = None,
        state_file: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.block_time = block_time
        self.port = port or free_port()
        self.state_file = state_file
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AnvilProcess:
        if not ANVIL_BINARY.exists():
            raise EngineStartError(
                f"anvil not found at {ANVIL_BINARY}; run `npm ci` (make setup does)"
            )
        args = [
            str(ANVIL_BINARY),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", DEV_MNEMONIC,
            "--hardfork", "london",  # the same rules as the Clique devnet
        ]  # fmt: skip
        if self.block_time:
            args += ["--block-time", f"{self.block_time:g}"]
        if self.state_file:
            args += ["--state", str(self.state_file)]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.log_file:
                out.close()  # type: ignore[union-attr]
        try:
            wait_for_rpc(self.rpc_url, timeout, self.process)
        except EngineStartError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
