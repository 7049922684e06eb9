"""The `jpki` commands: test CA and card-like signing, with one-line errors."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from devtools.jpki_cli import jpki
from devtools.testca import TestHierarchy
from tests.jpki_fixtures import cert
from verifier.jpki import verify_cms

pytest_plugins = ["tests.jpki_fixtures"]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(jpki, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _sign_args(h: TestHierarchy, *extra: str) -> list[str]:
    return [
        "sign",
        "--key",
        str(h.ee_valid_gen01.key),
        "--cert",
        str(h.ee_valid_gen01.cert),
        "--chain",
        str(h.sign_ca_gen01.cert),
        *extra,
    ]


def test_test_ca_writes_the_hierarchy(tmp_path: Path) -> None:
    out = tmp_path / "ca"
    code, output = _run("test-ca", "--out", str(out), "--now", "2030-01-02T03:04:05+09:00")
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generated_at"] == "2030-01-01T18:04:05+00:00"
    roles = {entry["role"] for entry in manifest["files"]}
    assert {"sign-ca-gen01", "sign-ca-gen02", "fake-sign-ca", "sign-ee-revoked"} <= roles
    assert stat.S_IMODE((out / "ee" / "sign-ee-revoked.key").stat().st_mode) == 0o600
    assert str(out / "manifest.json") in output


def test_sign_writes_a_detached_cms_that_verifies(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    document = tmp_path / "certificate.pdf"
    document.write_bytes(b"%PDF-1.7 synthetic")
    code, output = _run(
        *_sign_args(jpki_hierarchy, "--signing-time", "2026-05-01T09:00:00+09:00"), str(document)
    )
    assert code == 0, output
    signature = tmp_path / "certificate.pdf.p7s"
    assert f"wrote {signature}" in output and "detached" in output
    signed = verify_cms(signature.read_bytes(), document.read_bytes())
    assert signed.signer_cert == cert(jpki_hierarchy.ee_valid_gen01)
    assert signed.signing_time == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    assert {c.serial_number for c in signed.embedded_certs} == {
        jpki_hierarchy.ee_valid_gen01.serial,
        jpki_hierarchy.sign_ca_gen01.serial,
    }


def test_sign_attached_to_a_chosen_output(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(b"attached content")
    out = tmp_path / "signed.cms"
    code, output = _run(*_sign_args(jpki_hierarchy, "--attach", "--out", str(out)), str(document))
    assert code == 0, output
    assert verify_cms(out.read_bytes()).content_attached


@pytest.mark.parametrize("option", ["--key", "--cert", "--chain", "FILE"])
def test_missing_path_is_one_line_without_traceback(
    jpki_hierarchy: TestHierarchy, tmp_path: Path, option: str
) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    missing = str(tmp_path / "does-not-exist.pem")
    args = _sign_args(jpki_hierarchy)
    if option == "FILE":
        args.append(missing)
    else:
        args[args.index(option) + 1] = missing
        args.append(str(document))
    code, output = _run(*args)
    assert code in (1, 2)
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and "does-not-exist.pem" in lines[0]
    assert "No such file or directory" in lines[0]


def test_key_that_does_not_match_the_certificate(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    args = _sign_args(jpki_hierarchy)
    args[args.index("--key") + 1] = str(jpki_hierarchy.ee_valid_gen02.key)
    code, output = _run(*args, str(document))
    assert code == 1
    assert output.strip().splitlines() == [
        f"Error: {jpki_hierarchy.ee_valid_gen02.key} is not the key of the certificate "
        f"{jpki_hierarchy.ee_valid_gen01.cert}"
    ]


def test_certificate_given_as_key_is_refused(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    args = _sign_args(jpki_hierarchy)
    args[args.index("--key") + 1] = str(jpki_hierarchy.ee_valid_gen01.cert)
    code, output = _run(*args, str(document))
    assert code == 1
    assert "not a PEM or DER private key" in output and len(output.strip().splitlines()) == 1


def test_signing_time_without_zone_is_refused(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    code, output = _run(
        *_sign_args(jpki_hierarchy, "--signing-time", "2026-05-01T09:00"), str(document)
    )
    assert code == 1
    assert output.strip() == "Error: '2026-05-01T09:00' has no time zone; add e.g. +09:00 or Z"


def test_test_ca_into_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    code, output = _run("test-ca", "--out", str(blocker))
    assert code in (1, 2)
    assert len(output.strip().splitlines()) == 1 and output.startswith("Error: ")
