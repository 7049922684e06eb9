"""`notary verify` without a chain: usage errors, malformed bundles, JSON output, personal data.

Exit codes 0/1/3 against a real chain are in tests/test_verify_chain.py. A few cases run as a
real process (what a user runs: one line on stderr, no traceback); the full list of
malformed vectors runs in-process through the same click command, which is much faster.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from verifier.cli import verify as verify_command

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
RESIDENT = VECTORS / "documents" / "resident-record.txt"
PENDING = VECTORS / "bundles" / "pending.json"
VALID = VECTORS / "bundles" / "valid-cms.json"
TRUST = ["--trust", str(VECTORS / "signing" / "ca.pem"), "--accept-unsealed"]  # pre-seal
CRL = ["--crl", str(VECTORS / "signing" / "crl.der")]
NO_NODE = "--no-revocation-check"  # no issuing node here (tests/test_security_verifier.py)
PERSONAL = ("試験 ベクトル", "東京都千代田区試験町一丁目1番地", "420000101")


def notary(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTARY_")}
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=False,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    env = {"NOTARY_RPC_URL": None, "NOTARY_NODE_URL": None}
    result = CliRunner().invoke(verify_command, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def assert_usage_error(code: int, stdout: str, stderr: str, *words: str) -> None:
    assert code == 2, stdout + stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("notary verify: "), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    "name",
    [
        "not-json.json",
        "wrong-version.json",
        "truncated-base64.json",
        "huge-path.json",
        "too-many-certificates.json",
        "unknown-field.json",
    ],
)
def test_bad_bundle_process_exits_2_with_one_line(name: str) -> None:
    done = notary(str(RESIDENT), "--bundle", str(VECTORS / "malformed" / name))
    field = EXPECTED["malformed"][f"malformed/{name}"]["field"]
    assert_usage_error(done.returncode, done.stdout, done.stderr, name, f"{field}: ")


@pytest.mark.parametrize("name", sorted(EXPECTED["malformed"]))
def test_every_malformed_vector_is_a_usage_error_naming_the_field(name: str) -> None:
    field = EXPECTED["malformed"][name]["field"]
    assert_usage_error(*invoke(str(RESIDENT), "--bundle", str(VECTORS / name)), f" {field}: ")


def test_pending_bundle_json_exit_3_without_personal_data() -> None:
    done = notary(str(RESIDENT), "--bundle", str(PENDING), *TRUST, *CRL, NO_NODE, "--json")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "pending" and report["exit_code"] == 3
    assert report["failed_check"] == "merkle_inclusion"
    assert [c["name"] for c in report["checks"]][:4] == [
        "bundle_format",
        "document_leaf",
        "requester_disclosure",
        "merkle_inclusion",
    ]
    assert report["facts"]["signer"]["signer_kind"] == "jpki-card-signature"
    assert {c["name"]: c["outcome"] for c in report["checks"]}["signature"] == "passed"
    assert "signer_personal_data" not in report
    assert not any(item in done.stdout + done.stderr for item in PERSONAL)


def test_show_signer_prints_the_basic_four_items() -> None:
    done = notary(str(RESIDENT), "--bundle", str(PENDING), *TRUST, *CRL, NO_NODE, "--show-signer")
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("PENDING: merkle_inclusion: ")
    assert all(item in done.stdout for item in PERSONAL)
    code, stdout, _ = invoke(
        str(RESIDENT), "--bundle", str(PENDING), *TRUST, *CRL, NO_NODE, "--json", "--show-signer"
    )
    assert code == 3 and json.loads(stdout)["signer_personal_data"] == {
        "name": PERSONAL[0],
        "sex": "1",
        "date_of_birth": PERSONAL[2],
        "address": PERSONAL[1],
    }


def test_bundle_on_another_chain_is_invalid_exit_1() -> None:
    done = notary(str(RESIDENT), "--bundle", str(VALID), *TRUST, *CRL, "--chain-id", "1")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("INVALID: chain_id: ")
    assert "Traceback" not in done.stderr


def test_wrong_document_is_invalid_exit_1() -> None:
    other = VECTORS / "documents" / "income-certificate.txt"
    code, stdout, _ = invoke(str(other), "--bundle", str(PENDING), *TRUST, *CRL)
    assert code == 1 and stdout.startswith("INVALID: document_leaf: ")


def test_digest_mode() -> None:
    digest = hashlib.sha256(RESIDENT.read_bytes()).hexdigest()
    code, stdout, _ = invoke(digest, "--digest", "--bundle", str(PENDING), *TRUST, *CRL, NO_NODE)
    assert code == 3 and stdout.startswith("PENDING: ")


def test_no_trust_anchors_warns_and_cannot_be_valid() -> None:
    code, stdout, stderr = invoke(str(RESIDENT), "--bundle", str(PENDING), "--accept-unsealed")
    assert code == 3
    assert "no --trust given" in stderr
    assert "[??  ] signer_certificate" in stdout


def test_unpinned_settings_are_announced() -> None:
    code, _, stderr = invoke(
        str(RESIDENT), "--bundle", str(VALID), *TRUST, *CRL, "--rpc", "http://127.0.0.1:9"
    )
    assert code == 3
    registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert f"chain id 31337 and registry {registry} taken from the bundle" in stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([str(VECTORS / "missing.txt"), "--bundle", str(PENDING)], ["cannot read the document"]),
        ([str(RESIDENT), "--bundle", str(VECTORS / "missing.json")], ["cannot read the bundle"]),
        (["abc", "--digest", "--bundle", str(PENDING)], ["not a SHA-256 digest"]),
        (
            [
                str(RESIDENT),
                "--bundle",
                str(PENDING),
                "--trust",
                str(VECTORS / "signing" / "signer.pem"),
            ],
            ["end-entity"],
        ),
        (
            [str(RESIDENT), "--bundle", str(PENDING), "--trust", str(VECTORS / "documents")],
            ["no certificate files"],
        ),
        (
            [str(RESIDENT), "--bundle", str(PENDING), "--trust", str(RESIDENT)],
            ["--trust", "not a DER or PEM"],
        ),
        (
            [str(RESIDENT), "--bundle", str(PENDING), "--crl", str(VECTORS / "none.crl")],
            ["--crl", "no such file"],
        ),
        (
            [str(RESIDENT), "--bundle", str(PENDING), "--crl-url", "ftp://crl"],
            ["--crl-url", "http"],
        ),
        ([str(RESIDENT), "--bundle", str(PENDING), "--rpc", "ftp://rpc"], ["JSON-RPC URL"]),
        ([str(RESIDENT), "--bundle", str(PENDING), "--registry", "0x12"], ["registry"]),
        ([str(RESIDENT), "--bundle", str(PENDING), "--finality", "-1"], ["--finality"]),
        ([str(RESIDENT), "--bundle", str(PENDING), "--node-url", "file:///x"], ["node URL"]),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], words: list[str]) -> None:
    assert_usage_error(*invoke(*args), *words)


def test_trust_folder_is_loaded() -> None:
    folder = VECTORS / "signing"  # ca.pem and signer.pem: the end-entity one is refused
    code, _, stderr = invoke(str(RESIDENT), "--bundle", str(PENDING), "--trust", str(folder))
    assert code == 2 and "signer.pem holds an end-entity certificate" in stderr


def test_notary_help_lists_verify() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0
    assert "  verify " in done.stdout and "exit 0 valid" in done.stdout
