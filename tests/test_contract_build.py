"""The compiled-artifact lock: a rebuild that differs must fail with a way forward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import build


def test_build_matches_committed_lock() -> None:
    # `make test` already built; building again must reproduce the lock bit for bit.
    artifact = build.build()
    lock = json.loads(build.LOCK_FILE.read_text())
    assert lock["settings"]["evmVersion"] == "london"
    assert lock["settings"]["optimizer"]["enabled"] is True
    assert lock["compiler"]["version"] == build.solc_version()
    combined = json.loads(artifact.read_text())
    assert combined["compiler"] == lock["compiler"]["version"]
    assert "5f" not in _opcodes(combined["deployedBytecode"]), "PUSH0 is not valid under London"


def test_mismatch_fails_and_says_how_to_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = json.loads(build.LOCK_FILE.read_text())
    lock["artifacts"]["NotaryRegistry.bin-runtime"] = "00" * 32
    tampered = tmp_path / "artifacts.lock.json"
    tampered.write_text(json.dumps(lock))
    monkeypatch.setattr(build, "LOCK_FILE", tampered)
    monkeypatch.setattr(build, "BUILD_DIR", tmp_path / "build")
    with pytest.raises(build.BuildError) as caught:
        build.build()
    message = str(caught.value)
    assert "artifacts.NotaryRegistry.bin-runtime" in message
    assert "make contracts-lock" in message
    assert not (tmp_path / "build" / "NotaryRegistry.json").exists()
    assert build.main([]) == 1


def _opcodes(bytecode: str) -> list[str]:
    """Opcodes of the code part (PUSH data skipped, metadata trailer dropped)."""
    code = bytes.fromhex(bytecode.removeprefix("0x"))
    code = code[: len(code) - 2 - int.from_bytes(code[-2:], "big")]
    ops, i = [], 0
    while i < len(code):
        op = code[i]
        ops.append(f"{op:02x}")
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return ops
