"""RFC 6962 compact ranges: a growing log's root in O(log n) memory.

The leaves [0, n) of an RFC 6962 tree are covered by one perfect, aligned subtree per set bit of
n, largest (leftmost) first; the root of the tree is those subtree roots folded from the right.
Appending a leaf merges equal-height subtrees like a binary counter carries. This is the one
implementation of that frontier: the node's store persists the subtrees ``append`` completes,
the audit replays a node's log with it, and ``proof.root_from_subtrees`` folds with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from protocol.merkle.hasher import EMPTY_ROOT, HASH_SIZE, hash_children

CompletedSubtree = tuple[int, int, bytes]
"""``(level, position, hash)``: the perfect subtree over leaves [position << level,
(position + 1) << level)."""


class CompactRange:
    """The perfect-subtree roots covering leaves [0, size): append leaves, read the root."""

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []  # one per set bit of size, highest bit (leftmost) first

    @classmethod
    def from_subtrees(cls, size: int, subtree_hash: Callable[[int, int], bytes]) -> CompactRange:
        """The range over [0, size), its O(log n) subtrees read with ``subtree_hash(s, e)``."""
        if size < 0:
            raise ValueError(f"size {size} must not be negative")
        compact = cls()
        compact._hashes = [subtree_hash(start, end) for start, end in perfect_subtrees(0, size)]
        compact._size = size
        return compact

    @property
    def size(self) -> int:
        """Number of leaves appended (or loaded)."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The covering perfect-subtree roots, leftmost (largest) first."""
        return tuple(self._hashes)

    def copy(self) -> CompactRange:
        other = CompactRange()
        other._size, other._hashes = self._size, list(self._hashes)
        return other

    def append(self, leaf_hash: bytes) -> list[CompletedSubtree]:
        """Add one leaf; return every perfect subtree it completes, the leaf itself first and
        then each parent it closes, as ``(level, position, hash)``."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(
                f"a leaf hash has {HASH_SIZE} bytes (hash_leaf(document)), got {len(leaf_hash)}"
            )
        node, level, position = leaf_hash, 0, self._size
        completed = [(0, position, node)]
        while position & 1:  # a right child: merge with the equal-height subtree to its left
            node = hash_children(self._hashes.pop(), node)
            level, position = level + 1, position >> 1
            completed.append((level, position, node))
        self._hashes.append(node)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves [0, size); EMPTY_ROOT when there are none."""
        return fold_subtrees(self._hashes)


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """The root of adjacent perfect subtrees given left to right, each at most as large as the
    one before (a compact range): fold from the right. EMPTY_ROOT for no subtrees."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = hash_children(left, root)
    return root


def perfect_subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees covering [begin, end), left to right, largest possible first."""
    ranges = []
    while begin < end:
        width = 1 << ((end - begin).bit_length() - 1)
        if begin:
            width = min(width, begin & -begin)
        ranges.append((begin, begin + width))
        begin += width
    return ranges
