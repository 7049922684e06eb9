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
from devnet.ports import free_port
from devtools.local_devnet import DevEnvironment, DevSeal, DevTsa
from node.commands import _dev_banner, _dev_seal_settings
from node.settings import NodeSettings, load_settings
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
    write_keystore(registry.governance.sender.account, key_file, "correct horse")
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


def _dev_env(tmp_path: Path, *, sealed: bool) -> tuple[DevEnvironment, NodeSettings]:
    """A DevEnvironment of made-up paths (no processes), and node settings for it."""
    seal = DevSeal(tmp_path / "seal.key", tmp_path / "seal.pem", [tmp_path / "ca.pem"], "Town")
    env = DevEnvironment(
        chain=None,
        rpc_url="http://127.0.0.1:1",
        chain_id=7,
        registry="0x" + "11" * 20,
        key_file=tmp_path / "key.json",
        password_file=tmp_path / "pw",
        trust_dir=tmp_path / "trust",
        crl_files=[tmp_path / "a.crl"],
        seal_trust_dir=tmp_path / "seal-trust",
        seal_crl_files=[tmp_path / "seal.crl"],
        token="ntk_test",
        demo_document=tmp_path / "document.txt",
        demo_entry=tmp_path / "entry.json",
        tsa=DevTsa(None, "http://127.0.0.1:2/", tmp_path / "tsa.pem"),
        trust_root=tmp_path / "trust-root.json",
        demo_pdf=tmp_path / "certificate.pdf",
        seal=seal if sealed else None,
    )
    return env, load_settings(data_dir=tmp_path)


def test_the_dev_banner_shows_the_one_file_demo_only_with_a_seal(tmp_path: Path) -> None:
    """Chiyoda-ku's dev node (the test CA's seal) gets the seal and the banner's `notary seal`
    and `notary verify CERT.pdf` block; another code gets neither, and an operator's own seal
    setting is kept."""
    listeners = {"lgwan": "http://127.0.0.1:8080", "public": "http://127.0.0.1:8081"}
    env, settings = _dev_env(tmp_path, sealed=True)
    banner = _dev_banner(settings, env, listeners)
    seal_line = next(line for line in banner.splitlines() if "notary seal" in line)
    assert str(tmp_path / "certificate.pdf") in seal_line and "--out CERT.pdf" in seal_line
    assert f"--seal-key {tmp_path / 'seal.key'}" in banner
    assert "--verify-url http://127.0.0.1:8081/verify" in banner
    assert ".venv/bin/notary verify CERT.pdf \\" in banner
    assert "Or drop CERT.pdf alone on http://127.0.0.1:8081/verify" in banner
    assert banner.index("--offline") < banner.index("notary seal") < banner.index("notary audit")
    assert _dev_seal_settings(settings, env)["seal_key_file"] == tmp_path / "seal.key"
    own = settings.model_copy(update={"seal_key_file": tmp_path / "own.key"})
    assert _dev_seal_settings(own, env) == {}

    env, settings = _dev_env(tmp_path, sealed=False)
    banner = _dev_banner(settings, env, listeners)
    assert "notary seal" not in banner and "CERT.pdf" not in banner
    assert "--offline" in banner and "notary audit" in banner
    assert _dev_seal_settings(settings, env) == {}
