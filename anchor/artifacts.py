"""The compiled registry, as `contracts/build.py` wrote it (checked against the lock)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anchor.errors import ArtifactError
from contracts.artifact import ARTIFACT_PATH, read_artifact


@dataclass(frozen=True)
class RegistryArtifact:
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler: str


@cache
def load_registry_artifact(path: Path = ARTIFACT_PATH) -> RegistryArtifact:
    try:
        data = read_artifact(path)
        return RegistryArtifact(
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            compiler=data["compiler"],
        )
    except ValueError as error:
        raise ArtifactError(str(error)) from None
    except KeyError as error:
        raise ArtifactError(f"registry artifact at {path} lacks {error}") from None
