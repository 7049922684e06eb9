"""RFC 6962 / RFC 9162 Merkle proofs: generation and verification.

Modelled on transparency-dev/merkle (Go): verification is a port of its ``proof/verify.go``
(same decomposition into "inner" and "border" hashes, so we agree with what Certificate
Transparency accepts, with stricter input checks on top), and the subtree-based generation
follows its ``proof/proof.go``.
The list-based generators are the literal PATH/PROOF definitions of RFC 6962 §2.1.1-2.1.2, kept
deliberately independent from the subtree-based ones so that tests can play them off against each
other.

Verification trusts nothing it is given: every failure, including wrong types, is a
``ProofError``, so callers need exactly one ``except`` clause.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Final

from protocol.merkle.compact import CompactRange, fold_subtrees, perfect_subtrees
from protocol.merkle.hasher import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, hash_children

MAX_TREE_SIZE: Final = 2**64 - 1
"""Tree sizes and indices are uint64 in RFC 6962 / RFC 9162; anything larger is not a real log."""

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end)``: hash of the perfect, aligned subtree over leaves [start, end)."""

_CHUNK_BITS: Final = 10
"""Leaves per batch (as a power of two) when MerkleTree emits all proofs at once."""


class ProofError(ValueError):
    """A proof does not establish what it claims. The one exception verifiers need to catch."""


class MalformedProofError(ProofError):
    """The inputs cannot form a valid proof at all: bad types, hash lengths, sizes or indices."""


class RootMismatchError(ProofError):
    """The proof is well-formed but leads to a different root: wrong data or a forked log."""


# --------------------------------------------------------------------------- generation


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 §2.1, computed level by level.

    Pairing neighbours and carrying an odd last node up unchanged builds exactly the RFC tree
    (split at the largest power of two), without recursion and with one hash per interior node.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    _check_leaf_hash_lengths(level)
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 6962 §2.1.1 over the first ``tree_size`` leaf hashes.

    O(n) hashing per call; use MerkleTree for many proofs over the same leaves.
    """
    _check_generation_size(tree_size, len(leaf_hashes), "tree_size")
    if not 0 <= index < tree_size:
        raise ValueError(f"index {index} is not a leaf of a tree of size {tree_size}")
    path: list[bytes] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:  # the RFC recursion, unrolled: descend towards the leaf, collect siblings
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(root_from_leaf_hashes(leaf_hashes[mid:hi]))
            hi = mid
        else:
            path.append(root_from_leaf_hashes(leaf_hashes[lo:mid]))
            lo = mid
    path.reverse()  # the RFC lists siblings from the leaf upwards
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 6962 §2.1.2; empty when size1 is 0 or equals size2."""
    _check_generation_size(size2, len(leaf_hashes), "size2")
    if not 0 <= size1 <= size2:
        raise ValueError(f"size1 {size1} must be between 0 and size2 ({size2})")
    if size1 in (0, size2):
        return []
    proof: list[bytes] = []
    lo, hi, m = 0, size2, size1
    whole_old_tree = True  # the flag b of SUBPROOF(m, D[n], b)
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if lo + m <= mid:
            proof.append(root_from_leaf_hashes(leaf_hashes[mid:hi]))
            hi = mid
        else:
            proof.append(root_from_leaf_hashes(leaf_hashes[lo:mid]))
            m -= mid - lo
            lo = mid
            whole_old_tree = False
    if not whole_old_tree:
        proof.append(root_from_leaf_hashes(leaf_hashes[lo:hi]))
    proof.reverse()
    return proof


def inclusion_proof_from_subtrees(
    index: int, tree_size: int, subtree_hash: SubtreeHash
) -> list[bytes]:
    """Inclusion proof built only from perfect subtree hashes, as transparency-dev's Inclusion.

    A store that keeps the hash of every complete aligned subtree answers this with
    O(log n) ``subtree_hash`` reads; the one hash that is not a stored subtree (the partial right
    edge of the tree) is rebuilt from the perfect subtrees that cover it.
    """
    _check_generation_size(tree_size, MAX_TREE_SIZE, "tree_size")
    if not 0 <= index < tree_size:
        raise ValueError(f"index {index} is not a leaf of a tree of size {tree_size}")
    return _path_from_subtrees(index, 0, tree_size, subtree_hash)


def root_from_subtrees(tree_size: int, subtree_hash: SubtreeHash) -> bytes:
    """MTH of the first ``tree_size`` leaves from its O(log n) covering perfect subtrees."""
    _check_generation_size(tree_size, MAX_TREE_SIZE, "tree_size")
    return CompactRange.from_subtrees(tree_size, subtree_hash).root()


def consistency_proof_from_subtrees(
    size1: int, size2: int, subtree_hash: SubtreeHash
) -> list[bytes]:
    """Consistency proof from perfect subtree hashes, as in transparency-dev's proof.Consistency.

    The old tree's last perfect subtree is the "seed"; the proof is the seed (omitted when the
    old tree is itself perfect, because the verifier already has its root) followed by the path
    from the seed to the new root.
    """
    _check_generation_size(size2, MAX_TREE_SIZE, "size2")
    if not 0 <= size1 <= size2:
        raise ValueError(f"size1 {size1} must be between 0 and size2 ({size2})")
    if size1 in (0, size2):
        return []
    level = _trailing_zeros(size1)
    index = (size1 >> level) - 1
    path = _path_from_subtrees(index, level, size2, subtree_hash)
    if index == 0:
        return path
    return [subtree_hash(index << level, size1), *path]


class MerkleTree:
    """A whole tree kept in memory level by level, for issuing many proofs at once.

    Building costs one hash per interior node (n - 1 in total); afterwards the root is a lookup
    and each inclusion proof is O(log n) list lookups. ``levels[h][j]`` is the node at height h,
    position j; an odd last node is carried up unchanged, which is exactly RFC 6962's shape.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        level = list(leaf_hashes)
        _check_leaf_hash_lengths(level)
        levels = [level]
        while len(level) > 1:
            level = _parent_level(level)
            levels.append(level)
        self._levels: list[list[bytes]] = levels

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """MTH of all leaves; EMPTY_ROOT for a tree without leaves."""
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def subtree_hash(self, start: int, end: int) -> bytes:
        """Hash of the perfect aligned subtree [start, end); the *_from_subtrees callable."""
        width = end - start
        if width <= 0 or width & (width - 1) or start % width or end > self.size:
            raise ValueError(
                f"[{start}, {end}) is not a complete aligned subtree of a tree of size {self.size}"
            )
        level = width.bit_length() - 1
        return self._levels[level][start >> level]

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """Proof for leaf ``index`` in this tree, or in its state at ``tree_size`` leaves."""
        if tree_size is not None and tree_size != self.size:
            _check_generation_size(tree_size, self.size, "tree_size")
            return inclusion_proof_from_subtrees(index, tree_size, self.subtree_hash)
        if not 0 <= index < self.size:
            raise ValueError(f"index {index} is not a leaf of a tree of size {self.size}")
        proof = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):  # otherwise this node is carried up and has no sibling here
                proof.append(level[sibling])
            index >>= 1
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Proof that the first ``size1`` leaves are a prefix of the first ``size2`` (or all)."""
        new_size = self.size if size2 is None else size2
        _check_generation_size(new_size, self.size, "size2")
        return consistency_proof_from_subtrees(size1, new_size, self.subtree_hash)

    def inclusion_proofs(self) -> Iterator[list[bytes]]:
        """Every leaf's inclusion proof, in leaf order; much faster than one call per leaf.

        Leaves in one aligned chunk share every sibling above the chunk, so those are looked up
        once per chunk; the per-leaf siblings below are gathered column by column in C loops.
        """
        levels = self._levels
        for block_start, block_end in perfect_subtrees(0, self.size):
            height = (block_end - block_start).bit_length() - 1
            above_block = self.inclusion_proof(block_start)[height:]
            bits = min(height, _CHUNK_BITS)
            for start in range(block_start, block_end, 1 << bits):
                shared = [levels[h][(start >> h) ^ 1] for h in range(bits, height)]
                shared += above_block
                if bits == 0:
                    yield list(shared)
                    continue
                columns = [_sibling_column(levels[h], start, bits, h) for h in range(bits)]
                yield from map(list.__add__, map(list, zip(*columns, strict=True)), repeat(shared))


# --------------------------------------------------------------------------- verification


def root_from_inclusion_proof(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``leaf_index``; raises ProofError.

    Useful when the root is not known in advance (e.g. to look it up on chain afterwards).
    """
    leaf_hash = _check_hash(leaf_hash, "leaf_hash")
    index = _check_size(leaf_index, "leaf_index")
    size = _check_size(tree_size, "tree_size")
    if size == 0:
        raise MalformedProofError(
            "tree_size is 0: an empty tree has no leaves, so nothing can be included in it"
        )
    if index >= size:
        raise MalformedProofError(
            f"leaf_index {index} is outside a tree of size {size} (valid: 0 to {size - 1})"
        )
    inner = (index ^ (size - 1)).bit_length()  # levels below the point where the path meets
    border = (index >> inner).bit_count()  # the right edge, and left siblings above it
    hashes = _check_proof(
        proof, inner + border, f"an inclusion proof for leaf {index} in a tree of size {size}"
    )
    # hash_children inlined: this loop is most of a bundle's Merkle check.
    sha256, prefix, node = hashlib.sha256, NODE_PREFIX, leaf_hash
    for level, sibling in enumerate(hashes[:inner]):
        if index >> level & 1:
            node = sha256(prefix + sibling + node).digest()
        else:
            node = sha256(prefix + node + sibling).digest()
    for sibling in hashes[inner:]:
        node = sha256(prefix + sibling + node).digest()
    return node


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if ``proof`` shows the leaf is in the tree with ``root``; else raise ProofError."""
    root = _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, leaf_index, tree_size, proof)
    if computed != root:
        raise RootMismatchError(
            f"inclusion proof for leaf {leaf_index} in a tree of size {tree_size} leads to root "
            f"{computed.hex()}, not the expected {root.hex()}: the leaf, index, size, proof or "
            "root is wrong"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Return if the tree (size2, root2) extends (size1, root1) append-only; else raise ProofError.

    Follows transparency-dev/merkle, plus one stricter rule: for size1 == 0 the proof must be
    empty *and* root1 must be EMPTY_ROOT, the only root an empty tree can have.
    """
    old_size = _check_size(size1, "size1")
    new_size = _check_size(size2, "size2")
    root1 = _check_hash(root1, "root1")
    root2 = _check_hash(root2, "root2")
    if old_size > new_size:
        raise MalformedProofError(
            f"size1 ({old_size}) is larger than size2 ({new_size}): a log only grows, so the "
            "older, smaller tree must come first"
        )
    if old_size == 0:
        _check_proof(proof, 0, "a consistency proof from the empty tree (always empty)")
        if root1 != EMPTY_ROOT:
            raise RootMismatchError(
                f"size1 is 0 but root1 is {root1.hex()}, not the empty-tree root {EMPTY_ROOT.hex()}"
            )
        _check_roots_match(new_size == 0, root1, root2, "the empty tree")
        return
    if old_size == new_size:
        _check_proof(
            proof, 0, f"a consistency proof between two trees of size {old_size} (always empty)"
        )
        _check_roots_match(True, root1, root2, f"the tree of size {old_size}")
        return
    _verify_growth(old_size, new_size, proof, root1, root2)


# --------------------------------------------------------------------------- internals


def _verify_growth(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Consistency for 0 < size1 < size2 (transparency-dev's VerifyConsistency main case)."""
    shift = _trailing_zeros(size1)  # the old tree's last perfect subtree has 2**shift leaves
    inner_full = ((size1 - 1) ^ (size2 - 1)).bit_length()
    inner = inner_full - shift
    border = ((size1 - 1) >> inner_full).bit_count()
    seeded = size1 != 1 << shift  # unless size1 is a power of two, the proof starts with the seed
    hashes = _check_proof(
        proof,
        int(seeded) + inner + border,
        f"a consistency proof from size {size1} to size {size2}",
    )
    seed, hashes = (hashes[0], hashes[1:]) if seeded else (root1, hashes)
    mask = (size1 - 1) >> shift
    old = new = seed
    for level, sibling in enumerate(hashes[:inner]):
        if mask >> level & 1:
            old = hash_children(sibling, old)
            new = hash_children(sibling, new)
        else:  # a sibling that only exists in the new tree
            new = hash_children(new, sibling)
    for sibling in hashes[inner:]:
        old = hash_children(sibling, old)
        new = hash_children(sibling, new)
    if old != root1:
        raise RootMismatchError(
            f"consistency proof from size {size1} to {size2} rebuilds the old root as "
            f"{old.hex()}, not root1 {root1.hex()}: the proof, a size or root1 is wrong"
        )
    if new != root2:
        raise RootMismatchError(
            f"consistency proof from size {size1} to {size2} rebuilds the new root as "
            f"{new.hex()}, not root2 {root2.hex()}: the proof, a size or root2 is wrong, or the "
            "log rewrote its history"
        )


def _check_roots_match(applies: bool, root1: bytes, root2: bytes, what: str) -> None:
    if applies and root1 != root2:
        raise RootMismatchError(
            f"root1 {root1.hex()} and root2 {root2.hex()} differ but both claim to be the root "
            f"of {what}: one is wrong or the log has forked"
        )


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise MalformedProofError(
            f"{what} must be bytes (a raw {HASH_SIZE}-byte SHA-256 hash), "
            f"got {type(value).__name__}"
        )
    if len(value) != HASH_SIZE:
        raise MalformedProofError(
            f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {len(value)} bytes"
        )
    return value


def _check_size(value: object, what: str) -> int:
    # bool is an int subclass; True as an index is always a bug, never a deliberate 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedProofError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MalformedProofError(f"{what} must be between 0 and 2**64 - 1, got {value}")
    return value


def _check_proof(proof: object, expected: int, what: str) -> list[bytes] | tuple[bytes, ...]:
    if (  # a parsed bundle's path: no copy
        type(proof) is tuple
        and len(proof) == expected
        and {*map(type, proof)} <= {bytes}
        and {*map(len, proof)} <= {HASH_SIZE}
    ):
        return proof
    if isinstance(proof, bytes | bytearray | memoryview | str) or not isinstance(proof, Sequence):
        raise MalformedProofError(
            f"proof must be a list of {HASH_SIZE}-byte hashes, got {type(proof).__name__}"
        )
    if len(proof) != expected:
        raise MalformedProofError(
            f"proof length is {len(proof)}, but {what} has exactly {expected} "
            + ("hash" if expected == 1 else "hashes")
        )
    hashes = list(proof)
    # One C-speed pass for the usual case; the item-by-item loop words the error otherwise.
    if {*map(type, hashes)} <= {bytes} and {*map(len, hashes)} <= {HASH_SIZE}:
        return hashes
    return [_check_hash(item, f"proof[{i}]") for i, item in enumerate(hashes)]


def _check_leaf_hash_lengths(leaf_hashes: list[bytes]) -> None:
    # One C-speed pass; catches the classic mistake of passing documents instead of leaf hashes.
    lengths = set(map(len, leaf_hashes))
    if lengths - {HASH_SIZE}:
        raise ValueError(
            f"leaf hashes must be {HASH_SIZE} bytes (hash_leaf(document)), got lengths "
            f"{sorted(lengths - {HASH_SIZE})[:5]}"
        )


def _check_generation_size(size: int, available: int, what: str) -> None:
    if not 0 <= size <= available:
        raise ValueError(f"{what} {size} must be between 0 and {available}")


def _parent_level(level: list[bytes]) -> list[bytes]:
    """Hash neighbours pairwise; an odd last node moves up unchanged (RFC 6962's shape).

    This loop is the whole cost of building a tree, so it avoids per-pair function calls.
    """
    sha256, prefix = hashlib.sha256, NODE_PREFIX
    pairs = iter(level)
    # Both zip arguments are one iterator, so it yields (level[0], level[1]), (level[2], ...).
    # An odd last node is dropped by zip (hence strict=False) and appended below.
    upper = [
        sha256(prefix + left + right).digest() for left, right in zip(pairs, pairs, strict=False)
    ]
    if len(level) & 1:
        upper.append(level[-1])
    return upper


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _path_from_subtrees(
    index: int, level: int, tree_size: int, subtree_hash: SubtreeHash
) -> list[bytes]:
    """Hashes that lead from the perfect subtree (level, index) to the root of ``tree_size``.

    The path first climbs through complete siblings up to the "fork", where it leaves the right
    edge of the tree. Above it come the partial right-edge subtree (rebuilt from the perfect
    subtrees covering it) and then the perfect subtrees to the left, lowest first.
    """
    inner = (index ^ (tree_size >> level)).bit_length() - 1
    fork_start = (index >> inner) << (level + inner)
    fork_end = fork_start + (1 << (level + inner))
    path = []
    node = index
    for height in range(level, level + inner):
        sibling = node ^ 1
        path.append(subtree_hash(sibling << height, (sibling + 1) << height))
        node >>= 1
    if fork_end < tree_size:
        right = [subtree_hash(start, end) for start, end in perfect_subtrees(fork_end, tree_size)]
        path.append(fold_subtrees(right))
    path.extend(
        subtree_hash(start, end) for start, end in reversed(perfect_subtrees(0, fork_start))
    )
    return path


def _sibling_column(level: list[bytes], start: int, bits: int, height: int) -> list[bytes]:
    """For the 2**bits leaves from ``start``: each one's sibling at ``height``, in leaf order."""
    first = start >> height
    nodes = level[first : first + (1 << (bits - height))]
    swapped = nodes[:]
    swapped[0::2], swapped[1::2] = nodes[1::2], nodes[0::2]
    if height == 0:
        return swapped
    return list(chain.from_iterable(map(repeat, swapped, repeat(1 << height))))
