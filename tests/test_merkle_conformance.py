"""transparency-dev/merkle's RFC 6962 vectors, read straight from the shared conformance folder.

Every file is one test case: accepted cases must verify, ``wantErr`` cases must raise ProofError.
Where the vector's leaves are the well-known RFC 6962 test inputs, our generators must also
reproduce the vector's proof byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from protocol.merkle import (
    MerkleTree,
    ProofError,
    consistency_proof,
    hash_leaf,
    inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def _vector_dir() -> Path:
    override = os.environ.get("NOTARY_CONFORMANCE_DIR")
    if override:
        return Path(override)
    # ../shared next to the repository root: the checkout layout CI uses.
    return Path(__file__).resolve().parents[2] / "shared" / "conformance" / "rfc6962"


VECTOR_DIR = _vector_dir()
KINDS = ("inclusion", "consistency")
VECTOR_FILES = sorted(
    path
    for kind in KINDS
    if (VECTOR_DIR / kind).is_dir()
    for path in (VECTOR_DIR / kind).rglob("*.json")
)
NOT_FOUND = f"conformance vectors not found at {VECTOR_DIR}"
MISSING_REASON = f"{NOT_FOUND}; CI always has them"

# The leaf inputs behind transparency-dev's testdata (the RFC 6962 test tree of
# certificate-transparency): used to check that we *generate* the same proofs, not only verify.
RFC6962_LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_LEAF_HASHES = [hash_leaf(data) for data in RFC6962_LEAF_INPUTS]


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vector


def _proof(vector: dict[str, Any]) -> list[bytes]:
    # The Go vectors encode an empty proof as null.
    return [_b64(item) for item in vector["proof"] or []]


def _leaves_for_root(size: int, root: bytes) -> list[bytes] | None:
    """The RFC 6962 test leaves behind ``root``, or None if the vector used other data."""
    if size > len(RFC6962_LEAF_HASHES):
        return None
    leaves = RFC6962_LEAF_HASHES[:size]
    return leaves if root_from_leaf_hashes(leaves) == root else None


def _regenerated_inclusion(vector: dict[str, Any]) -> tuple[list[bytes], list[bytes]] | None:
    """(our proof, vector proof) when the vector's leaves are derivable, else None."""
    size, index = vector["treeSize"], vector["leafIdx"]
    leaves = _leaves_for_root(size, _b64(vector["root"]))
    if leaves is None or leaves[index] != _b64(vector["leafHash"]):
        return None
    ours = inclusion_proof(leaves, index, size)
    assert MerkleTree(leaves).inclusion_proof(index) == ours
    return ours, _proof(vector)


def _regenerated_consistency(vector: dict[str, Any]) -> tuple[list[bytes], list[bytes]] | None:
    size1, size2 = vector["size1"], vector["size2"]
    leaves = _leaves_for_root(size2, _b64(vector["root2"]))
    if leaves is None or _leaves_for_root(size1, _b64(vector["root1"])) is None:
        return None
    ours = consistency_proof(leaves, size1, size2)
    assert MerkleTree(leaves).consistency_proof(size1) == ours
    return ours, _proof(vector)


def _verify(kind: str, vector: dict[str, Any]) -> None:
    if kind == "inclusion":
        verify_inclusion(
            _b64(vector["leafHash"]),
            vector["leafIdx"],
            vector["treeSize"],
            _proof(vector),
            _b64(vector["root"]),
        )
    else:
        verify_consistency(
            vector["size1"],
            vector["size2"],
            _proof(vector),
            _b64(vector["root1"]),
            _b64(vector["root2"]),
        )


def _params() -> list[Any]:
    if not VECTOR_FILES:
        return [
            pytest.param(None, id="vectors-missing", marks=pytest.mark.skip(reason=MISSING_REASON))
        ]
    return [pytest.param(path, id=path.relative_to(VECTOR_DIR).as_posix()) for path in VECTOR_FILES]


def test_vectors_present_on_ci() -> None:
    """CI must never pass by skipping: there, a missing folder is a failure."""
    if os.environ.get("CI"):
        assert VECTOR_DIR.is_dir(), f"CI is set but {NOT_FOUND}"
    elif not VECTOR_DIR.is_dir():
        pytest.skip(MISSING_REASON)


def test_vector_count() -> None:
    """A wrong path or a half-copied folder must not pass with a handful of cases."""
    if not VECTOR_DIR.is_dir():
        pytest.skip(MISSING_REASON)
    assert len(VECTOR_FILES) > 50, f"only {len(VECTOR_FILES)} vector files under {VECTOR_DIR}"
    for kind in KINDS:
        vectors = [_load(p) for p in VECTOR_FILES if p.relative_to(VECTOR_DIR).parts[0] == kind]
        assert any(v["wantErr"] for v in vectors), f"no wantErr {kind} vectors"
        assert any(not v["wantErr"] for v in vectors), f"no accepted {kind} vectors"


def test_generation_check_is_not_vacuous() -> None:
    """The byte-for-byte generation check below must actually run for the happy paths."""
    if not VECTOR_FILES:
        pytest.skip(MISSING_REASON)
    regenerated = 0
    for path in VECTOR_FILES:
        vector = _load(path)
        kind = path.relative_to(VECTOR_DIR).parts[0]
        if vector["wantErr"]:
            continue
        pair = (_regenerated_inclusion if kind == "inclusion" else _regenerated_consistency)(vector)
        regenerated += pair is not None
    assert regenerated >= 2, "no happy-path vector used the RFC 6962 test leaves"


@pytest.mark.parametrize("path", _params())
def test_vector(path: Path) -> None:
    vector = _load(path)
    kind = path.relative_to(VECTOR_DIR).parts[0]
    assert kind in KINDS
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            _verify(kind, vector)
        return
    _verify(kind, vector)
    # Extra: reproduce the proof from the leaves when they are the known test inputs.
    pair = (_regenerated_inclusion if kind == "inclusion" else _regenerated_consistency)(vector)
    if pair is not None:
        ours, theirs = pair
        assert ours == theirs
