"""The node's published log read back from its tiles directory, for read-only proof workers.

The node writes level-0 tiles (the leaf hashes), the upper tiles and then the signed
checkpoint, each file renamed into place (`node.tiles`), so a checkpoint on disk always has
every tile it needs. A worker opens the checkpoint with the node's note verifier key, reads
the level-0 tiles up to its size, rebuilds every complete subtree hash in memory (one hash per
interior node, once) and checks the root against the checkpoint before it answers for that
size: a proof is only ever given for a tree size the node has signed and published, and from
leaf hashes that hash to the signed root. A newer checkpoint is read the same way, adding only
the new leaves; until it checks out, the previous one stays in service.

Memory per worker: 64 bytes per leaf in the subtree levels plus the leaf-hash index (a dict of
32-byte keys, ~155 bytes per leaf): ~220 MB for 1,000,000 entries (1.5 s to hash them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol.checkpoint import CheckpointError, NoteVerifier, open_checkpoint
from protocol.merkle import hash_children
from protocol.merkle.proof import inclusion_proof_from_subtrees
from protocol.tiles import TILE_WIDTH, TileFormatError, decode_tile, tile_for

CHECKPOINT_FILE: Final = "checkpoint"
HASH: Final = 32


class PublishedLogError(Exception):
    """The tiles directory holds no usable checkpoint, or tiles that do not match it."""


@dataclass(frozen=True)
class _State:
    size: int
    root: bytes
    note: bytes


class PublishedLog:
    """Leaf index, subtree hashes and the published size, kept current with `refresh`."""

    def __init__(
        self,
        tiles_dir: Path,
        verifier: NoteVerifier,
        *,
        origin: str | None = None,
        recheck_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tiles_dir = tiles_dir
        self.verifier = verifier
        self.origin = origin
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        # levels[h]: the hashes of the complete subtrees of height h, 32 bytes each, in order.
        self._levels: list[bytearray] = [bytearray()]
        self._index: dict[bytes, int] = {}
        self._state = _State(0, b"", b"")
        self._checked = float("-inf")
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The published tree size this answers for (0 before the first checkpoint)."""
        return self._state.size

    def refresh(self, *, force: bool = False) -> None:
        """Take up a new checkpoint if one was written (checked at most every
        `recheck_seconds` unless `force`). A checkpoint that does not check out is refused
        with PublishedLogError and the previous one stays in service."""
        now = self.clock()
        if not force and now - self._checked < self.recheck_seconds:
            return
        with self._lock:
            self._checked = now
            path = self.tiles_dir / CHECKPOINT_FILE
            try:
                note = path.read_bytes()  # a few hundred bytes; its inode and mtime could repeat
            except FileNotFoundError:
                return  # nothing published yet
            except OSError as error:
                raise PublishedLogError(f"{path}: {error}") from None
            if note == self._state.note:
                return
            try:
                checkpoint = open_checkpoint(note, self.verifier, self.origin)
            except CheckpointError as error:
                raise PublishedLogError(f"{path}: {error}") from None
            if checkpoint.tree_size < self._state.size:
                raise PublishedLogError(
                    f"{path}: the checkpoint shrank from {self._state.size} "
                    f"to {checkpoint.tree_size} leaves"
                )
            self._grow(checkpoint.tree_size, checkpoint.root)
            self._state = _State(checkpoint.tree_size, checkpoint.root, note)

    def index_of(self, leaf_hash: bytes) -> int | None:
        index = self._index.get(leaf_hash)
        return index if index is not None and index < self._state.size else None

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """The RFC 6962 path for `index` in the tree of `tree_size` <= `size` leaves."""
        if tree_size > self._state.size:
            raise ValueError(f"tree size {tree_size} is beyond the published {self._state.size}")
        return inclusion_proof_from_subtrees(index, tree_size, self._subtree)

    # ------------------------------------------------------------------ inside

    def _subtree(self, start: int, end: int) -> bytes:
        height = (end - start).bit_length() - 1
        offset = (start >> height) * HASH
        return bytes(self._levels[height][offset : offset + HASH])

    def _grow(self, size: int, root: bytes) -> None:
        """Read leaves [old size, size) from level-0 tiles, extend every level, check the root;
        on a mismatch roll back to the old size and refuse."""
        old = self._state.size
        added = self._read_leaves(old, size)
        lengths = [len(level) for level in self._levels]
        try:
            for position, leaf in enumerate(added, start=old):
                self._levels[0] += leaf
                self._complete_parents(position + 1)
            if size and self._root(size) != root:
                raise PublishedLogError(
                    f"the tiles in {self.tiles_dir} do not hash to the checkpoint's root "
                    f"(size {size})"
                )
        except PublishedLogError:
            del self._levels[len(lengths) :]
            for level, length in zip(self._levels, lengths, strict=True):
                del level[length:]
            raise
        for position, leaf in enumerate(added, start=old):
            self._index.setdefault(leaf, position)

    def _complete_parents(self, count: int) -> None:
        """After leaf count-1 is added: the subtrees it completes, bottom up."""
        height = 0
        while count & 1 == 0:
            count >>= 1
            level = self._levels[height]
            left, right = level[-2 * HASH : -HASH], level[-HASH:]
            if height + 1 == len(self._levels):
                self._levels.append(bytearray())
            self._levels[height + 1] += hash_children(bytes(left), bytes(right))
            height += 1

    def _root(self, size: int) -> bytes:
        """MTH of the first `size` leaves from the complete subtrees (its compact range)."""
        hashes = []
        start = 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                hashes.append(self._subtree(start, start + (1 << height)))
                start += 1 << height
        root = hashes[-1]
        for left in reversed(hashes[:-1]):
            root = hash_children(left, root)
        return root

    def _read_leaves(self, old: int, size: int) -> list[bytes]:
        leaves: list[bytes] = []
        for index in range(old // TILE_WIDTH, (size + TILE_WIDTH - 1) // TILE_WIDTH):
            tile = tile_for(size, 0, index)
            path = self.tiles_dir / tile.path
            try:
                hashes = decode_tile(path.read_bytes(), tile.width)
            except (OSError, TileFormatError) as error:
                raise PublishedLogError(f"{path}: {error}") from None
            first = index * TILE_WIDTH
            leaves.extend(hashes[max(0, old - first) :])
        return leaves
