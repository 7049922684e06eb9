"""Compile the registry with the pinned solc-js and check the result against the lock.

Anyone (a regulator above all) can rebuild and compare: the lock records the compiler
version and the SHA-256 of every artifact, and the build fails on any difference.

    python -m contracts.build               # compile, write contracts/build/, check the lock
    python -m contracts.build --update-lock # accept new artifacts deliberately
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from contracts.artifact import (
    BUILD_DIR,
    CONTRACT_NAME,
    CONTRACTS_DIR,
    LOCK_FILE,
    STORAGE_LAYOUT_PATH,
)

REPO_ROOT = CONTRACTS_DIR.parent
NODE_MODULES = REPO_ROOT / "node_modules"
SOLC_JS = NODE_MODULES / "solc" / "solc.js"
SOURCES = ("NotaryRegistry.sol",)
# `import ... "path";` in any of its forms; the path is group 1.
_IMPORT = re.compile(r'^\s*import\s+(?:[^;"]*?\s+from\s+)?"([^"]+)"[^;]*;', re.MULTILINE)

# Clique runs pre-merge rules (LondonVM), so no PUSH0: evmVersion must be london.
# viaIR: the IR pipeline emits far fewer opcodes for `anchor`; py-evm interprets every
# opcode in Python, so the devnet executes anchors ~1.6x faster (and gas drops ~3%).
COMPILER_SETTINGS: dict[str, Any] = {
    "evmVersion": "london",
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 10_000},
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "metadata",
                # where each state variable lives: offline verifiers read the registry from
                # storage proofs (protocol/registry_storage.py is pinned to this artifact)
                "storageLayout",
            ],
        }
    },
}


class BuildError(Exception):
    """The contracts did not compile or do not match the lock."""


# solc-js's own CLI can lose the tail of a large answer written to a pipe (it exits
# before stdout drains), so the compiler is called in-process and writes to a file.
_COMPILE_JS = """
const fs = require("fs");
const solc = require(process.argv[1]);
fs.writeFileSync(process.argv[3], solc.compile(fs.readFileSync(process.argv[2], "utf8")));
"""


def _run_solc(request: dict[str, Any]) -> dict[str, Any]:
    if not SOLC_JS.exists():
        raise BuildError(f"solc-js not found at {SOLC_JS}; run `npm ci` (make setup does)")
    node = shutil.which("node")
    if node is None:
        raise BuildError("node is not on PATH; solc-js needs Node.js")
    with tempfile.TemporaryDirectory() as scratch:
        request_file, output_file = Path(scratch, "input.json"), Path(scratch, "output.json")
        request_file.write_text(json.dumps(request))
        done = subprocess.run(
            [node, "-e", _COMPILE_JS, str(SOLC_JS.parent), str(request_file), str(output_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(f"solc-js failed: {done.stderr.strip()}")
        output: dict[str, Any] = json.loads(output_file.read_text())
    return output


def solc_version() -> str:
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [
            node,
            "-e",
            "process.stdout.write(require(process.argv[1]).version())",
            str(SOLC_JS.parent),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"cannot load solc-js: {done.stderr.strip()}; run `npm ci`")
    return done.stdout.strip()


def source_files() -> dict[str, Path]:
    """Every source unit the build compiles: ours, then what they import, transitively.

    A path starting with `@` is a package under `node_modules/` (pinned in package.json and
    package-lock.json, e.g. `@openzeppelin/contracts/...`); a `./` or `../` path is relative
    to the importing unit. Every unit is hashed into the lock, so a changed dependency fails
    the build just as a changed contract does."""
    found: dict[str, Path] = {}
    pending = list(SOURCES)
    while pending:
        unit = pending.pop(0)
        if unit in found:
            continue
        path = (NODE_MODULES / unit) if unit.startswith("@") else (CONTRACTS_DIR / unit)
        if not path.is_file():
            raise BuildError(f"cannot resolve import {unit!r} ({path} missing; run `npm ci`)")
        found[unit] = path
        for target in _IMPORT.findall(path.read_text()):
            relative = target.startswith(".")
            pending.append(
                posixpath.normpath(posixpath.join(posixpath.dirname(unit), target))
                if relative
                else target
            )
    return found


def compile_artifacts() -> dict[str, bytes]:
    """Compile the sources; return artifact file name → exact bytes."""
    request = {
        "language": "Solidity",
        "sources": {unit: {"content": path.read_text()} for unit, path in source_files().items()},
        "settings": COMPILER_SETTINGS,
    }
    output = _run_solc(request)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    contract = output["contracts"]["NotaryRegistry.sol"][CONTRACT_NAME]
    abi = json.dumps(contract["abi"], indent=2, sort_keys=True).encode() + b"\n"
    return {
        f"{CONTRACT_NAME}.abi.json": abi,
        f"{CONTRACT_NAME}.bin": contract["evm"]["bytecode"]["object"].encode(),
        f"{CONTRACT_NAME}.bin-runtime": contract["evm"]["deployedBytecode"]["object"].encode(),
        f"{CONTRACT_NAME}.metadata.json": contract["metadata"].encode(),
        STORAGE_LAYOUT_PATH.name: json.dumps(
            contract["storageLayout"], indent=2, sort_keys=True
        ).encode()
        + b"\n",
    }


def combined_artifact(artifacts: dict[str, bytes], version: str) -> dict[str, Any]:
    """The one file `anchor/` loads: ABI plus both bytecodes."""
    return {
        "contractName": CONTRACT_NAME,
        "compiler": version,
        "settings": {k: v for k, v in COMPILER_SETTINGS.items() if k != "outputSelection"},
        "abi": json.loads(artifacts[f"{CONTRACT_NAME}.abi.json"]),
        "bytecode": "0x" + artifacts[f"{CONTRACT_NAME}.bin"].decode(),
        "deployedBytecode": "0x" + artifacts[f"{CONTRACT_NAME}.bin-runtime"].decode(),
    }


def lock_document(artifacts: dict[str, bytes], version: str) -> dict[str, Any]:
    return {
        "compiler": {"package": "solc (npm, solc-js)", "version": version},
        "settings": {k: v for k, v in COMPILER_SETTINGS.items() if k != "outputSelection"},
        "sources": {
            unit: hashlib.sha256(path.read_bytes()).hexdigest()
            for unit, path in sorted(source_files().items())
        },
        "artifacts": {
            name: hashlib.sha256(data).hexdigest() for name, data in sorted(artifacts.items())
        },
    }


def lock_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between the committed lock and this build."""
    differences = []
    for section in ("compiler", "settings", "sources", "artifacts"):
        want, got = expected.get(section, {}), actual[section]
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                differences.append(
                    f"{section}.{key}: lock has {want.get(key)!r}, build has {got.get(key)!r}"
                )
    return differences


def build(update_lock: bool = False) -> Path:
    version = solc_version()
    artifacts = compile_artifacts()
    BUILD_DIR.mkdir(exist_ok=True)
    for name, data in artifacts.items():
        (BUILD_DIR / name).write_bytes(data)
    combined = BUILD_DIR / f"{CONTRACT_NAME}.json"
    actual = lock_document(artifacts, version)
    if update_lock:
        LOCK_FILE.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    elif not LOCK_FILE.exists():
        raise BuildError(f"{LOCK_FILE.name} is missing; create it with `make contracts-lock`")
    else:
        differences = lock_differences(json.loads(LOCK_FILE.read_text()), actual)
        if differences:
            combined.unlink(missing_ok=True)
            raise BuildError(
                "compiled contracts differ from contracts/artifacts.lock.json:\n  "
                + "\n  ".join(differences)
                + "\nIf you changed the source or the pinned compiler on purpose, review the"
                " change and run `make contracts-lock`, then commit the new lock."
            )
    # Written last: the Makefile treats this file as "built and matching the lock".
    combined.write_text(json.dumps(combined_artifact(artifacts, version), indent=2) + "\n")
    return combined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-lock", action="store_true", help="accept new artifacts")
    args = parser.parse_args(argv)
    try:
        path = build(update_lock=args.update_lock)
    except BuildError as error:
        print(f"contracts: {error}", file=sys.stderr)
        return 1
    print(f"contracts: built {path.relative_to(REPO_ROOT)} (matches {LOCK_FILE.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
