"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): where each tile of an RFC 6962 log lives, what a
tile holds, and entry bundles. Pure format code; writing and fetching tiles is the caller's.

A tile at level L, index N holds the hashes of the Merkle subtrees of height 8·L at positions
256·N .. 256·N + W - 1 (W = 256 for a full tile, fewer for the partial tile at a level's right
edge), concatenated. Level-0 tiles hold the leaf hashes; `tile/entries/...` the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from protocol.merkle import HASH_SIZE, hash_children

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
"""Hashes in a full tile (and entries in a full entry bundle)."""
MAX_ENTRY_BYTES: Final = 0xFFFF
"""An entry's length is a 2-byte big-endian prefix in its bundle."""


class TileFormatError(ValueError):
    """A tile, entry bundle or tile path that does not follow tlog-tiles."""


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of a tree: `width` hashes at `level`, starting at hash 256·`index`."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH


def encode_index(index: int) -> str:
    """N in a tile path: zero-padded 3-digit groups, every group but the last prefixed with
    `x` (1234067 → x001/x234/067), so a directory never holds more than 1000 names."""
    if index < 0:
        raise TileFormatError(f"tile index {index} is negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise TileFormatError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]`, relative to the log's prefix."""
    if not 0 <= level <= 63:
        raise TileFormatError(f"tile level {level} is out of range")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """`tile/entries/<N>[.p/<W>]`: the entry bundle of leaves 256·N .. 256·N + W - 1."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def level_width(tree_size: int, level: int) -> int:
    """How many hashes level `level` of a tree of `tree_size` leaves has (complete subtrees
    of height 8·level)."""
    return tree_size >> (TILE_HEIGHT * level)


def tile_for(tree_size: int, level: int, index: int) -> Tile:
    """The tile (`level`, `index`) as a tree of `tree_size` leaves has it: full, or partial at the
    level's right edge. TileFormatError if the tree has no such tile."""
    hashes = level_width(tree_size, level)
    width = min(TILE_WIDTH, hashes - index * TILE_WIDTH)
    if index < 0 or width <= 0:
        raise TileFormatError(f"a tree of size {tree_size} has no tile {level}/{index}")
    return Tile(level, index, width)


def tiles_between(old_size: int, new_size: int) -> Iterator[Tile]:
    """Every tile of a tree of `new_size` leaves that a tree of `old_size` did not already have in
    the same form: new full tiles and the partial tiles that grew, level by level."""
    if not 0 <= old_size <= new_size:
        raise TileFormatError(f"sizes {old_size} → {new_size} do not grow")
    level = 0
    while (hashes := level_width(new_size, level)) > 0:
        old = level_width(old_size, level)
        first = old // TILE_WIDTH  # the old partial tile (if any) grows or becomes full
        for index in range(first, (hashes + TILE_WIDTH - 1) // TILE_WIDTH):
            tile = tile_for(new_size, level, index)
            if index * TILE_WIDTH + tile.width > old:
                yield tile
        level += 1


def entry_bundles_between(old_size: int, new_size: int) -> Iterator[Tile]:
    """The entry bundles (as level-0 tiles: index, width) new or grown from `old_size` to
    `new_size`."""
    return (tile for tile in tiles_between(old_size, new_size) if tile.level == 0)


# ------------------------------------------------------------------ contents


def encode_tile(hashes: Sequence[bytes]) -> bytes:
    """A tile's bytes: its hashes, concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise TileFormatError(f"a tile holds 1 to {TILE_WIDTH} hashes of {HASH_SIZE} bytes")
    return b"".join(hashes)


def decode_tile(data: bytes, width: int) -> list[bytes]:
    """The `width` hashes of a tile's bytes; TileFormatError unless it has exactly that many."""
    if len(data) != width * HASH_SIZE:
        raise TileFormatError(
            f"a tile of width {width} has {width * HASH_SIZE} bytes, got {len(data)}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Each entry with its 2-byte big-endian length in front, concatenated."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileFormatError(f"an entry bundle holds 1 to {TILE_WIDTH} entries")
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise TileFormatError(f"an entry of {len(entry)} bytes does not fit a 2-byte length")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The `width` entries of a bundle; TileFormatError for a truncated or overlong bundle."""
    entries, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TileFormatError("an entry bundle ends inside a length prefix")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise TileFormatError("an entry bundle ends inside an entry")
        entries.append(data[offset : offset + length])
        offset += length
    if len(entries) != width:
        raise TileFormatError(f"the entry bundle holds {len(entries)} entries, not {width}")
    return entries


# ------------------------------------------------------------------ subtrees from tiles

TileHashes = Callable[[Tile], Sequence[bytes]]
"""Reads one tile's hashes (already checked to be `tile.width` of them)."""


def subtree_hash_from_tiles(tree_size: int, start: int, end: int, read: TileHashes) -> bytes:
    """The hash of the perfect aligned subtree [start, end) of a tree of `tree_size` leaves, from
    its tiles: the tile at level ⌊h/8⌋ holds it directly (h a multiple of 8) or holds the 2^(h mod
    8) hashes under it, folded here. Plugs into `protocol.merkle.*_from_subtrees`."""
    width = end - start
    if width <= 0 or width & (width - 1) or start % width or end > tree_size:
        raise TileFormatError(f"[{start}, {end}) is not a perfect subtree of size {tree_size}")
    height = width.bit_length() - 1
    level, below = divmod(height, TILE_HEIGHT)
    first = start >> (TILE_HEIGHT * level)  # position of its first hash at that level
    tile = tile_for(tree_size, level, first // TILE_WIDTH)
    hashes = list(read(tile))
    offset = first % TILE_WIDTH
    nodes = hashes[offset : offset + (1 << below)]
    while len(nodes) > 1:
        nodes = [hash_children(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
    return nodes[0]
