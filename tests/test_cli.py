"""The `notary` command as a user runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from anchor import RegistryClient, connect, load_registry_artifact
from devnet.anvil import free_port
from tests.conftest import DeployedRegistry

NOTARY = [sys.executable, "-m", "node.cli"]
REPO = Path(__file__).resolve().parent.parent


def notary(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOTARY, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert text in done.stderr


def test_help_lists_subcommands() -> None:
    done = notary("--help")
    assert done.returncode == 0
    for name in ("dev", "registry", "jpki"):
        assert f"  {name} " in done.stdout


@pytest.mark.chain
def test_registry_read_commands(registry: DeployedRegistry) -> None:
    address = registry.node_account.address
    common = ["--rpc", registry.chain.rpc_url, "--registry", registry.governance.address]
    registry.node.anchor(0, 7, b"\x11" * 32)
    shown = notary("registry", "show-node", *common, address)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["lg_code"], record["status"], record["tree_size"]) == (131016, "active", 7)
    looked_up = notary("registry", "lookup", *common, address, "0x" + "11" * 32)
    assert json.loads(looked_up.stdout)["seq"] == 0
    anchors = notary("registry", "anchors", *common, "--node", address)
    assert [json.loads(line)["tree_size"] for line in anchors.stdout.splitlines()] == [7]
    missing = notary("registry", "lookup", *common, address, "0x" + "22" * 32)
    assert_one_line_error(missing, 1, "never anchored")


@pytest.mark.chain
def test_registry_governance_commands_with_keystore(
    registry: DeployedRegistry, tmp_path: Path
) -> None:
    from anchor.keys import write_keystore

    key_file, password_file = tmp_path / "governance.json", tmp_path / "password"
    write_keystore(registry.governance.sender.account, key_file, "correct horse")  # type: ignore[union-attr]
    password_file.write_text("correct horse\n")
    assert key_file.stat().st_mode & 0o777 == 0o600
    common = ["--rpc", registry.chain.rpc_url, "--registry", registry.governance.address]
    keys = ["--key-file", str(key_file), "--password-file", str(password_file)]
    fresh = registry.chain.new_account().address
    done = notary("registry", "register-node", *common, *keys, fresh, "082201", "つくば市")
    assert done.returncode == 0, done.stderr
    assert registry.governance.get_node(fresh).lg_code == 82201
    done = notary("registry", "suspend-node", *common, *keys, fresh, "--reason", "test")
    assert done.returncode == 0, done.stderr
    again = notary("registry", "suspend-node", *common, *keys, fresh, "--reason", "test")
    assert_one_line_error(again, 1, "NodeNotActive")
    password_file.write_text("wrong\n")
    wrong = notary("registry", "reactivate-node", *common, *keys, fresh)
    assert_one_line_error(wrong, 1, "cannot decrypt")


def test_bad_arguments_exit_2_without_traceback() -> None:
    common = ["--rpc", "http://127.0.0.1:9", "--registry", "0x" + "00" * 20]
    assert_one_line_error(notary("registry", "show-node", *common, "0xnothex"), 2, "20-byte hex")
    bad_code = notary(
        "registry", "register-node", *common, "--key-file", "/nonexistent",
        "0x" + "11" * 20, "131017", "x",
    )  # fmt: skip
    assert_one_line_error(bad_code, 2, "check digit")
    lookup = notary("registry", "lookup", *common, "0x" + "11" * 20, "0x1234")
    assert_one_line_error(lookup, 2, "32-byte hex root")


def test_unreachable_chain_is_one_line_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = notary(
        "registry", "show-node", "--rpc", url, "--registry", "0x" + "00" * 20, "0x" + "11" * 20
    )
    assert_one_line_error(done, 1, f"notary: error: cannot reach {url}")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.chain
def test_dev_runs_a_chain_with_registry_until_terminated(tmp_path: Path) -> None:
    """What `make run` does: a chain, a deployed registry, a demo node; SIGTERM stops it."""
    port = free_port()
    process = subprocess.Popen(
        [*NOTARY, "dev", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output
        summary = json.loads((tmp_path / "dev.json").read_text())
        assert summary["registry"] in output
        w3 = connect(summary["rpc_url"], chain_id=summary["chain_id"])
        deployed = w3.eth.get_code(summary["registry"])
        assert bytes(deployed) == bytes.fromhex(load_registry_artifact().deployed_bytecode[2:])
        demo = RegistryClient(w3, summary["registry"]).get_node(summary["demo_node"]["address"])
        assert demo.lg_code == summary["demo_node"]["lg_code"] == 131016
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
