"""Reading a node's log from its static C2SP tiles alone (docs/PROTOCOL.md, "Tiles and
checkpoints"): no node process, any web server or mirror. Read-only HTTP.

The checkpoint is trusted only once its note signature verifies with the node's checkpoint key
and its origin is the expected one; every tile is trusted only through a proof that reaches the
checkpoint's (or an anchored) root: a tampered tile yields a proof that does not verify.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import requests

from protocol.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from protocol.merkle import (
    ProofError,
    consistency_proof_from_subtrees,
    hash_leaf,
    inclusion_proof_from_subtrees,
    root_from_subtrees,
    verify_consistency,
    verify_inclusion,
)
from protocol.tiles import (
    TILE_WIDTH,
    Tile,
    TileFormatError,
    decode_entry_bundle,
    decode_tile,
    entries_path,
    subtree_hash_from_tiles,
    tile_for,
)

DEFAULT_TIMEOUT: Final = 15.0
MAX_TILE_BYTES: Final = TILE_WIDTH * 32
MAX_BUNDLE_BYTES: Final = TILE_WIDTH * (2 + 0xFFFF)
MAX_CHECKPOINT_BYTES: Final = 1 << 16
CACHE_TILES: Final = 4096


class TileReadError(Exception):
    """The tiles could not be fetched (server down, missing file)."""


class TileVerificationError(Exception):
    """What the tiles say does not verify: the checkpoint's signature or origin, a tile that
    does not hash to the trusted root, or a checkpoint that disagrees with the anchored root."""


@dataclass(frozen=True)
class TileSource:
    """Where a node's tiles are served and the key its checkpoints must be signed with."""

    url: str
    verifier: NoteVerifier
    origin: str | None = None
    """Expected checkpoint origin; None: the key's name."""


class TileClient:
    """Fetches one log's checkpoint, tiles and entry bundles; computes proofs from them."""

    def __init__(self, source: TileSource, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.source = source
        self.base = source.url.rstrip("/") + "/"
        self.timeout = timeout
        self._session = requests.Session()
        self._tiles: OrderedDict[Tile, list[bytes]] = OrderedDict()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TileClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ fetching

    def _get(self, path: str, limit: int) -> bytes | None:
        """The file's bytes, None if the server has no such file."""
        url = self.base + path
        try:
            with self._session.get(url, timeout=self.timeout, stream=True) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise TileReadError(f"GET {url} answered HTTP {response.status_code}")
                data = response.raw.read(limit + 1, decode_content=True)
        except requests.RequestException as error:
            raise TileReadError(f"{url} unreachable: {error}") from None
        if len(data) > limit:
            raise TileVerificationError(f"{url} is larger than {limit} bytes")
        return bytes(data)

    def checkpoint(self) -> Checkpoint:
        """The log's current checkpoint, its signature and origin verified."""
        note = self._get("checkpoint", MAX_CHECKPOINT_BYTES)
        if note is None:
            raise TileReadError(f"{self.base}checkpoint: not found")
        try:
            return open_checkpoint(note, self.source.verifier, self.source.origin)
        except CheckpointError as error:
            raise TileVerificationError(f"{self.base}checkpoint: {error}") from None

    def tile(self, tile: Tile) -> list[bytes]:
        """A tile's hashes. A partial tile the server no longer has is read from the full tile
        that replaced it (tlog-tiles lets servers delete partial tiles)."""
        cached = self._tiles.get(tile)
        if cached is not None:
            self._tiles.move_to_end(tile)
            return cached
        data = self._get(tile.path, MAX_TILE_BYTES)
        if data is None and not tile.is_full:
            full = self._get(Tile(tile.level, tile.index).path, MAX_TILE_BYTES)
            data = None if full is None else full[: tile.width * 32]
        if data is None:
            raise TileReadError(f"{self.base}{tile.path}: not found")
        try:
            hashes = decode_tile(data, tile.width)
        except TileFormatError as error:
            raise TileVerificationError(f"{self.base}{tile.path}: {error}") from None
        self._tiles[tile] = hashes
        if len(self._tiles) > CACHE_TILES:
            self._tiles.popitem(last=False)
        return hashes

    def entries(self, tree_size: int, index: int) -> list[bytes]:
        """Entry bundle `index` as a tree of `tree_size` leaves has it (unverified: check the
        leaves' hashes against level-0 tiles or a proof)."""
        tile = tile_for(tree_size, 0, index)
        path = entries_path(tile.index, tile.width)
        data = self._get(path, MAX_BUNDLE_BYTES)
        if data is None and not tile.is_full:
            full = self._get(entries_path(tile.index), MAX_BUNDLE_BYTES)
            if full is not None:
                return _decoded(self.base + path, full, None)[: tile.width]
        if data is None:
            raise TileReadError(f"{self.base}{path}: not found")
        return _decoded(self.base + path, data, tile.width)

    # ------------------------------------------------------------------ proofs

    def _subtree(self, tree_size: int) -> _Subtrees:
        return _Subtrees(self, tree_size)

    def root(self, tree_size: int) -> bytes:
        return root_from_subtrees(tree_size, self._subtree(tree_size))

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return inclusion_proof_from_subtrees(index, tree_size, self._subtree(tree_size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return consistency_proof_from_subtrees(size1, size2, self._subtree(size2))

    def verified_checkpoint(self) -> Checkpoint:
        """The checkpoint, and its root recomputed from the tiles (the right edge of every level):
        a server whose tiles do not match its checkpoint is caught before any proof."""
        checkpoint = self.checkpoint()
        if self.root(checkpoint.tree_size) != checkpoint.root:
            raise TileVerificationError(
                f"the tiles at {self.base} do not hash to the checkpoint's root "
                f"(size {checkpoint.tree_size})"
            )
        return checkpoint


@dataclass(frozen=True)
class _Subtrees:
    client: TileClient
    tree_size: int

    def __call__(self, start: int, end: int) -> bytes:
        return subtree_hash_from_tiles(self.tree_size, start, end, self.client.tile)


def _decoded(url: str, data: bytes, width: int | None) -> list[bytes]:
    try:
        if width is None:
            return decode_entry_bundle(data, TILE_WIDTH)
        return decode_entry_bundle(data, width)
    except TileFormatError as error:
        raise TileVerificationError(f"{url}: {error}") from None


# ------------------------------------------------------------------ against the anchored head


def check_anchored(
    client: TileClient, checkpoint: Checkpoint, anchored_size: int, anchored_root: bytes
) -> None:
    """The anchored head (size, root read from the chain) is the checkpoint, or a prefix of it
    by a consistency proof computed from the tiles; TileVerificationError otherwise."""
    if anchored_size > checkpoint.tree_size:
        raise TileVerificationError(
            f"the checkpoint (size {checkpoint.tree_size}) is older than the anchored head "
            f"(size {anchored_size})"
        )
    if anchored_size == checkpoint.tree_size:
        if checkpoint.root != anchored_root:
            raise TileVerificationError(
                f"the checkpoint's root {checkpoint.root.hex()} is not the anchored root "
                f"{anchored_root.hex()} (size {anchored_size})"
            )
        return
    proof = client.consistency_proof(anchored_size, checkpoint.tree_size)
    try:
        verify_consistency(
            anchored_size, checkpoint.tree_size, proof, anchored_root, checkpoint.root
        )
    except ProofError as error:
        raise TileVerificationError(
            f"the checkpoint (size {checkpoint.tree_size}) does not extend the anchored head "
            f"(size {anchored_size}): {error}"
        ) from None


def inclusion_from_tiles(
    client: TileClient, leaf: bytes, index: int, anchored_size: int, anchored_root: bytes
) -> list[bytes]:
    """The inclusion proof of `leaf` (its bytes) at `index` in the anchored head, computed from
    the tiles and verified against the anchored root; the checkpoint is checked first (its
    signature, and that it is or extends the anchored head)."""
    checkpoint = client.checkpoint()
    check_anchored(client, checkpoint, anchored_size, anchored_root)
    proof = client.inclusion_proof(index, anchored_size)
    try:
        verify_inclusion(hash_leaf(leaf), index, anchored_size, proof, anchored_root)
    except ProofError as error:
        raise TileVerificationError(
            f"the tiles' proof for leaf {index} does not reach the anchored root: {error}"
        ) from None
    return proof


def leaf_hashes_match(
    client: TileClient, tree_size: int, index: int, leaves: Sequence[bytes]
) -> bool:
    """Whether entry bundle `index`'s leaves hash to the level-0 tile's hashes."""
    return [hash_leaf(leaf) for leaf in leaves] == client.tile(tile_for(tree_size, 0, index))
