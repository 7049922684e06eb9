"""The compiled registry, as `contracts/build.py` wrote it (checked against the lock)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anchor.errors import ArtifactError
from verifier.registry_abi import ARTIFACT_PATH


@dataclass(frozen=True)
class RegistryArtifact:
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler: str


@cache
def load_registry_artifact(path: Path = ARTIFACT_PATH) -> RegistryArtifact:
    try:
        data = json.loads(path.read_text())
        return RegistryArtifact(
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            compiler=data["compiler"],
        )
    except FileNotFoundError:
        raise ArtifactError(
            f"registry artifact not found at {path}; build it with `make contracts`"
        ) from None
    except (ValueError, KeyError) as error:
        raise ArtifactError(f"registry artifact at {path} is unreadable: {error}") from None
