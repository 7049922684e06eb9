"""Bad input to the verifiers: always a ProofError with a message a person can act on.

A verifier that leaks TypeError or IndexError on hostile input is a verifier whose callers
forget an except clause; these tests pin both the exception type and the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protocol.merkle import (
    EMPTY_ROOT,
    MalformedProofError,
    MerkleTree,
    ProofError,
    RootMismatchError,
    hash_leaf,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [hash_leaf(b"certificate %d" % i) for i in range(8)]
TREE = MerkleTree(LEAVES)
ROOT = TREE.root
PROOF = TREE.inclusion_proof(5)  # 3 hashes
OLD_ROOT = MerkleTree(LEAVES[:6]).root
CONSISTENCY = TREE.consistency_proof(6)  # 3 hashes
H = b"\x11" * 32


def _inclusion(**changes: Any) -> None:
    args: dict[str, Any] = {
        "leaf_hash": LEAVES[5],
        "leaf_index": 5,
        "tree_size": 8,
        "proof": PROOF,
        "root": ROOT,
    }
    args.update(changes)
    verify_inclusion(**args)


def _consistency(**changes: Any) -> None:
    args: dict[str, Any] = {
        "size1": 6,
        "size2": 8,
        "proof": CONSISTENCY,
        "root1": OLD_ROOT,
        "root2": ROOT,
    }
    args.update(changes)
    verify_consistency(**args)


def case(name: str, changes: dict[str, Any], error: type[ProofError], message: str) -> Any:
    """One bad-input case: which arguments change, and the error and message expected."""
    return pytest.param(changes, error, message, id=name)


def test_baselines_verify() -> None:
    _inclusion()
    _consistency()


# --------------------------------------------------------------------------- inclusion

INCLUSION_CASES = [
    case(
        "leaf-hash-short",
        {"leaf_hash": H[:31]},
        MalformedProofError,
        r"leaf_hash must be a 32-byte .* got 31 bytes",
    ),
    case(
        "leaf-hash-long",
        {"leaf_hash": H + b"\x00"},
        MalformedProofError,
        r"leaf_hash must be a 32-byte .* got 33 bytes",
    ),
    case(
        "leaf-hash-empty",
        {"leaf_hash": b""},
        MalformedProofError,
        r"leaf_hash must be a 32-byte .* got 0 bytes",
    ),
    case(
        "leaf-hash-str",
        {"leaf_hash": "ab" * 32},
        MalformedProofError,
        r"leaf_hash must be bytes .* got str",
    ),
    case(
        "leaf-hash-bytearray",
        {"leaf_hash": bytearray(H)},
        MalformedProofError,
        r"leaf_hash must be bytes .* got bytearray",
    ),
    case(
        "leaf-hash-none",
        {"leaf_hash": None},
        MalformedProofError,
        r"leaf_hash must be bytes .* got NoneType",
    ),
    case(
        "root-short",
        {"root": ROOT[:-1]},
        MalformedProofError,
        r"root must be a 32-byte .* got 31 bytes",
    ),
    case("root-hex", {"root": ROOT.hex()}, MalformedProofError, r"root must be bytes .* got str"),
    case("root-none", {"root": None}, MalformedProofError, r"root must be bytes .* got NoneType"),
    case(
        "proof-element-short",
        {"proof": [PROOF[0], PROOF[1][:16], PROOF[2]]},
        MalformedProofError,
        r"proof\[1\] must be a 32-byte .* got 16 bytes",
    ),
    case(
        "proof-element-empty",
        {"proof": [PROOF[0], PROOF[1], b""]},
        MalformedProofError,
        r"proof\[2\] must be a 32-byte .* got 0 bytes",
    ),
    case(
        "proof-element-str",
        {"proof": [PROOF[0].hex(), PROOF[1], PROOF[2]]},
        MalformedProofError,
        r"proof\[0\] must be bytes .* got str",
    ),
    case(
        "proof-element-int",
        {"proof": [PROOF[0], 7, PROOF[2]]},
        MalformedProofError,
        r"proof\[1\] must be bytes .* got int",
    ),
    case(
        "proof-none",
        {"proof": None},
        MalformedProofError,
        r"proof must be a list of 32-byte hashes, got NoneType",
    ),
    case(
        "proof-single-bytes",
        {"proof": b"".join(PROOF)},
        MalformedProofError,
        r"proof must be a list of 32-byte hashes, got bytes",
    ),
    case("proof-str", {"proof": "abc"}, MalformedProofError, r"proof must be a list .* got str"),
    case(
        "proof-too-long",
        {"proof": [*PROOF, H]},
        MalformedProofError,
        r"proof length is 4, but an inclusion proof for leaf 5 in a tree of size 8 has exactly 3",
    ),
    case(
        "proof-too-short",
        {"proof": PROOF[:2]},
        MalformedProofError,
        r"proof length is 2, but .* has exactly 3",
    ),
    case(
        "proof-empty",
        {"proof": []},
        MalformedProofError,
        r"proof length is 0, but .* has exactly 3",
    ),
    case(
        "index-negative",
        {"leaf_index": -1},
        MalformedProofError,
        r"leaf_index must be between 0 and 2\*\*64 - 1, got -1",
    ),
    case(
        "index-equals-size",
        {"leaf_index": 8},
        MalformedProofError,
        r"leaf_index 8 is outside a tree of size 8 \(valid: 0 to 7\)",
    ),
    case(
        "index-beyond-size",
        {"leaf_index": 2**64 - 1},
        MalformedProofError,
        r"leaf_index 18446744073709551615 is outside a tree of size 8",
    ),
    case(
        "index-beyond-uint64",
        {"leaf_index": 2**64},
        MalformedProofError,
        r"leaf_index must be between 0 and 2\*\*64 - 1",
    ),
    case(
        "index-bool",
        {"leaf_index": True},
        MalformedProofError,
        r"leaf_index must be an int, got bool",
    ),
    case(
        "index-float",
        {"leaf_index": 5.0},
        MalformedProofError,
        r"leaf_index must be an int, got float",
    ),
    case(
        "index-str", {"leaf_index": "5"}, MalformedProofError, r"leaf_index must be an int, got str"
    ),
    case(
        "size-zero",
        {"leaf_index": 0, "tree_size": 0, "proof": []},
        MalformedProofError,
        r"tree_size is 0: an empty tree has no leaves",
    ),
    case(
        "size-negative",
        {"tree_size": -8},
        MalformedProofError,
        r"tree_size must be between 0 and 2\*\*64 - 1, got -8",
    ),
    case(
        "size-beyond-uint64",
        {"tree_size": 2**64},
        MalformedProofError,
        r"tree_size must be between 0 and 2\*\*64 - 1",
    ),
    case(
        "size-bool",
        {"leaf_index": 0, "tree_size": True, "proof": []},
        MalformedProofError,
        r"tree_size must be an int, got bool",
    ),
    case(
        "size-none",
        {"tree_size": None},
        MalformedProofError,
        r"tree_size must be an int, got NoneType",
    ),
    case(
        "wrong-root",
        {"root": H},
        RootMismatchError,
        r"inclusion proof for leaf 5 in a tree of size 8 leads to root [0-9a-f]{64}, "
        r"not the expected 1111",
    ),
    case(
        "wrong-leaf",
        {"leaf_hash": LEAVES[4]},
        RootMismatchError,
        r"leads to root .* the leaf, index, size, proof or root is wrong",
    ),
    case("empty-root", {"root": EMPTY_ROOT}, RootMismatchError, r"not the expected e3b0c442"),
]


@pytest.mark.parametrize(("changes", "error", "message"), INCLUSION_CASES)
def test_verify_inclusion_rejects(
    changes: dict[str, Any], error: type[ProofError], message: str
) -> None:
    with pytest.raises(error, match=message):
        _inclusion(**changes)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    # root_from_inclusion_proof has no root argument: every other malformed input applies.
    [
        c
        for c in INCLUSION_CASES
        if c.values[1] is MalformedProofError and "root" not in c.values[0]
    ],
)
def test_root_from_inclusion_proof_rejects(
    changes: dict[str, Any], error: type[ProofError], message: str
) -> None:
    args: dict[str, Any] = {"leaf_hash": LEAVES[5], "leaf_index": 5, "tree_size": 8}
    args["proof"] = PROOF
    args.update(changes)
    with pytest.raises(error, match=message):
        root_from_inclusion_proof(**args)


def test_proof_as_tuple_is_fine() -> None:
    verify_inclusion(LEAVES[5], 5, 8, tuple(PROOF), ROOT)


# --------------------------------------------------------------------------- consistency

CONSISTENCY_CASES = [
    case(
        "size1-larger",
        {"size1": 9, "size2": 8},
        MalformedProofError,
        r"size1 \(9\) is larger than size2 \(8\): a log only grows",
    ),
    case(
        "size1-negative",
        {"size1": -1},
        MalformedProofError,
        r"size1 must be between 0 and 2\*\*64 - 1, got -1",
    ),
    case(
        "size2-negative",
        {"size2": -8},
        MalformedProofError,
        r"size2 must be between 0 and 2\*\*64 - 1, got -8",
    ),
    case(
        "size2-beyond-uint64",
        {"size2": 2**64},
        MalformedProofError,
        r"size2 must be between 0 and 2\*\*64 - 1",
    ),
    case("size1-bool", {"size1": True}, MalformedProofError, r"size1 must be an int, got bool"),
    case("size2-bool", {"size2": False}, MalformedProofError, r"size2 must be an int, got bool"),
    case("size1-float", {"size1": 6.0}, MalformedProofError, r"size1 must be an int, got float"),
    case("size2-none", {"size2": None}, MalformedProofError, r"size2 must be an int, got NoneType"),
    case(
        "root1-short",
        {"root1": OLD_ROOT[:9]},
        MalformedProofError,
        r"root1 must be a 32-byte .* got 9 bytes",
    ),
    case(
        "root2-long",
        {"root2": ROOT + ROOT},
        MalformedProofError,
        r"root2 must be a 32-byte .* got 64 bytes",
    ),
    case(
        "root1-str",
        {"root1": OLD_ROOT.hex()},
        MalformedProofError,
        r"root1 must be bytes .* got str",
    ),
    case(
        "root2-memoryview",
        {"root2": memoryview(ROOT)},
        MalformedProofError,
        r"root2 must be bytes .* got memoryview",
    ),
    case(
        "proof-element-short",
        {"proof": [CONSISTENCY[0][:31], *CONSISTENCY[1:]]},
        MalformedProofError,
        r"proof\[0\] must be a 32-byte .* got 31 bytes",
    ),
    case(
        "proof-element-none",
        {"proof": [*CONSISTENCY[:2], None]},
        MalformedProofError,
        r"proof\[2\] must be bytes .* got NoneType",
    ),
    case(
        "proof-none", {"proof": None}, MalformedProofError, r"proof must be a list .* got NoneType"
    ),
    case("proof-dict", {"proof": {0: H}}, MalformedProofError, r"proof must be a list .* got dict"),
    case(
        "proof-too-long",
        {"proof": [*CONSISTENCY, H]},
        MalformedProofError,
        r"proof length is 4, but a consistency proof from size 6 to size 8 has exactly 3",
    ),
    case(
        "proof-too-short",
        {"proof": CONSISTENCY[1:]},
        MalformedProofError,
        r"proof length is 2, but .* has exactly 3",
    ),
    case(
        "proof-empty",
        {"proof": []},
        MalformedProofError,
        r"proof length is 0, but a consistency proof from size 6 to size 8 has exactly 3",
    ),
    case(
        "size1-zero-with-proof",
        {"size1": 0, "root1": EMPTY_ROOT},
        MalformedProofError,
        r"proof length is 3, but a consistency proof from the empty tree \(always empty\) "
        r"has exactly 0 hashes",
    ),
    case(
        "size1-zero-wrong-root1",
        {"size1": 0, "proof": []},
        RootMismatchError,
        r"size1 is 0 but root1 is [0-9a-f]{64}, not the empty-tree root e3b0c442",
    ),
    case(
        "both-zero-wrong-root2",
        {"size1": 0, "size2": 0, "proof": [], "root1": EMPTY_ROOT},
        RootMismatchError,
        r"differ but both claim to be the root of the empty tree",
    ),
    case(
        "same-size-with-proof",
        {"size1": 8, "root1": ROOT},
        MalformedProofError,
        r"proof length is 3, but a consistency proof between two trees of size 8 "
        r"\(always empty\) has exactly 0 hashes",
    ),
    case(
        "same-size-different-roots",
        {"size1": 8, "proof": []},
        RootMismatchError,
        r"differ but both claim to be the root of the tree of size 8: "
        r"one is wrong or the log has forked",
    ),
    case(
        "wrong-root1",
        {"root1": H},
        RootMismatchError,
        r"rebuilds the old root as [0-9a-f]{64}, not root1 1111",
    ),
    case(
        "wrong-root2",
        {"root2": H},
        RootMismatchError,
        r"rebuilds the new root as [0-9a-f]{64}, not root2 1111.*rewrote its history",
    ),
    case("swapped-roots", {"root1": ROOT, "root2": OLD_ROOT}, RootMismatchError, r"not root1"),
    case(
        "proof-for-other-size",
        {"size1": 1},
        RootMismatchError,
        r"from size 1 to 8 rebuilds the new root",
    ),
]


@pytest.mark.parametrize(("changes", "error", "message"), CONSISTENCY_CASES)
def test_verify_consistency_rejects(
    changes: dict[str, Any], error: type[ProofError], message: str
) -> None:
    with pytest.raises(error, match=message):
        _consistency(**changes)


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2"),
    [
        pytest.param(0, 8, EMPTY_ROOT, ROOT, id="from-empty"),
        pytest.param(0, 0, EMPTY_ROOT, EMPTY_ROOT, id="empty-to-empty"),
        pytest.param(8, 8, ROOT, ROOT, id="same-size"),
    ],
)
def test_trivial_consistency_accepts_empty_proof(
    size1: int, size2: int, root1: bytes, root2: bytes
) -> None:
    verify_consistency(size1, size2, [], root1, root2)


# --------------------------------------------------------------------------- never another type

GARBAGE: list[object] = [
    None, True, False, 0, -1, 2**70, 1.5, "", "00" * 32, b"", b"\x00" * 31, b"\x00" * 33,
    bytearray(32), memoryview(b"\x00" * 32), [], [b"\x00" * 32], (None,), {}, object(),
]  # fmt: skip


def _replace(position: int, value: object, args: list[object]) -> list[object]:
    return [value if i == position else arg for i, arg in enumerate(args)]


@pytest.mark.parametrize("position", range(5))
@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize(
    ("verify", "good"),
    [
        pytest.param(verify_inclusion, [LEAVES[5], 5, 8, PROOF, ROOT], id="inclusion"),
        pytest.param(verify_consistency, [6, 8, CONSISTENCY, OLD_ROOT, ROOT], id="consistency"),
    ],
)
def test_garbage_in_any_argument_is_a_proof_error(
    verify: Callable[..., None], good: list[object], position: int, value: object
) -> None:
    """Whatever lands in any argument, the only possible outcomes are None or ProofError."""
    try:
        verify(*_replace(position, value, good))
    except ProofError as error:
        assert str(error)
    except Exception as error:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"{type(error).__name__} leaked from {verify.__name__}: {error}")


def test_proof_error_is_a_value_error() -> None:
    """Callers that already catch ValueError around parsing keep working."""
    assert issubclass(ProofError, ValueError)
    assert issubclass(MalformedProofError, ProofError)
    assert issubclass(RootMismatchError, ProofError)
