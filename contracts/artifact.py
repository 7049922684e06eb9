"""Where the registry's build and its lock live, and reading the compiled artifact.

Standard library only: the audit and the write side read the artifact without the compiler.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

CONTRACTS_DIR: Final = Path(__file__).resolve().parent
BUILD_DIR: Final = CONTRACTS_DIR / "build"
LOCK_FILE: Final = CONTRACTS_DIR / "artifacts.lock.json"
"""The compiler version and SHA-256 of every artifact `contracts/build.py` must reproduce."""
CONTRACT_NAME: Final = "NotaryRegistry"
ARTIFACT_PATH: Final = BUILD_DIR / f"{CONTRACT_NAME}.json"
"""The compiled registry (ABI, bytecode, compiler) that `contracts/build.py` writes."""
STORAGE_LAYOUT_PATH: Final = BUILD_DIR / f"{CONTRACT_NAME}.storage.json"
"""solc's `storageLayout` of the registry: the slot and packing of every state variable."""


@cache
def read_artifact(path: Path = ARTIFACT_PATH) -> dict[str, Any]:
    """The artifact's JSON object; ValueError naming the file if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"registry artifact not found at {path}; build it with `make contracts`"
        ) from None
    except ValueError as error:
        raise ValueError(f"registry artifact at {path} is unreadable: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"registry artifact at {path} is unreadable: not a JSON object")
    return data
