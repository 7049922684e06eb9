"""The node's log as static C2SP tlog-tiles and a signed checkpoint (docs/PROTOCOL.md, "Tiles and
checkpoints"), for any web server to serve (docs/OPERATOR.md, "Serving the log as static tiles").

Tiles are written after anchoring, in their own thread, never on the path that acknowledges an
entry: the checkpoint published is always an anchored head (its root is the root on chain).
Every file is written to a temporary name, fsynced and renamed, and the checkpoint goes last, so
a SIGKILL at any point leaves the previous checkpoint with every tile it needs. Full tiles and
bundles are immutable (an existing one is kept); partial ones are replaced as they grow.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from node.background import run_retrying
from node.store import LogStore, StoreError
from protocol.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    open_checkpoint,
    parse_signer_key,
    sign_checkpoint,
)
from protocol.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    encode_entry_bundle,
    encode_tile,
    entries_path,
    tiles_between,
)

log = logging.getLogger("node.tiles")

CHECKPOINT_FILE: Final = "checkpoint"
NOTE_KEY_FILE: Final = "note.key"
POLL_SECONDS: Final = 1.0
MAX_BACKOFF: Final = 60.0


class TileError(Exception):
    """Tiles could not be written (disk full, permissions, a store read failed)."""


# ------------------------------------------------------------------ the note key


def load_or_create_note_key(path: Path, origin: str) -> NoteSigner:
    """The node's Ed25519 checkpoint key: read from `path`, or made there at first start (0600,
    like the node's other keys). Its name is the log's origin; a key made for another origin is
    refused rather than silently replaced (verifiers pin it)."""
    if not path.exists():
        signer = NoteSigner.generate(origin)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, (str(signer) + "\n").encode(), mode=0o600)
        log.info("created the checkpoint key %s: %s", path, signer.verifier)
        return signer
    try:
        signer = parse_signer_key(path.read_text())
    except (OSError, CheckpointError) as error:
        raise TileError(f"cannot read the checkpoint key {path}: {error}") from None
    if signer.name != origin:
        raise TileError(
            f"the checkpoint key {path} is for origin {signer.name!r}, not {origin!r}: "
            "set checkpoint_origin back, or move the key aside to make a new one"
        )
    return signer


# ------------------------------------------------------------------ writing


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so a reader (or a crash) sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power loss
    finally:
        os.close(directory)


@dataclass
class TileWriter:
    """Writes the tiles, entry bundles and checkpoint of a store's log into `out_dir`."""

    store: LogStore
    out_dir: Path
    signer: NoteSigner

    def __post_init__(self) -> None:
        self.published = self._published_size()

    def _published_size(self) -> int:
        """The size of the checkpoint already in `out_dir` (its tiles are all there), else 0."""
        try:
            note = (self.out_dir / CHECKPOINT_FILE).read_bytes()
            return open_checkpoint(note, self.signer.verifier).tree_size
        except (OSError, CheckpointError):
            return 0

    def publish(self, tree_size: int, root: bytes) -> bool:
        """Bring the tiles up to `tree_size` and sign a checkpoint for it; False if the published
        checkpoint is already there or further on (heads are published in order)."""
        if tree_size <= self.published and self.published:
            return False
        try:
            if self.store.root(tree_size) != root:
                raise TileError(f"the log's root at size {tree_size} is not the head's root")
            for tile in tiles_between(self.published, tree_size):
                self._write_tile(tile)
                if tile.level == 0:
                    self._write_bundle(tile)
            checkpoint = Checkpoint(self.signer.name, tree_size, root)
            _write_atomic(self.out_dir / CHECKPOINT_FILE, sign_checkpoint(checkpoint, self.signer))
        except (OSError, StoreError) as error:
            raise TileError(f"writing tiles up to size {tree_size}: {error}") from None
        self.published = tree_size
        return True

    def _write_tile(self, tile: Tile) -> None:
        path = self.out_dir / tile.path
        if tile.is_full and path.exists():
            return
        span = 1 << (TILE_HEIGHT * tile.level)
        first = tile.index * TILE_WIDTH
        hashes = [
            self.store.subtree_hash((first + i) * span, (first + i + 1) * span)
            for i in range(tile.width)
        ]
        _write_atomic(path, encode_tile(hashes))

    def _write_bundle(self, tile: Tile) -> None:
        path = self.out_dir / entries_path(tile.index, tile.width)
        if tile.is_full and path.exists():
            return
        start = tile.index * TILE_WIDTH
        leaves = [leaf for _, leaf in self.store.leaves(start, start + tile.width)]
        if len(leaves) != tile.width:
            raise TileError(f"leaves {start}..{start + tile.width - 1} are not all in the store")
        _write_atomic(path, encode_entry_bundle(leaves))


# ------------------------------------------------------------------ the background job


class TilePublisher:
    """Publishes the newest anchored head as tiles and a checkpoint, once it is anchored."""

    def __init__(self, writer: TileWriter, registry: CollectorRegistry) -> None:
        self.writer = writer
        self.last_error: str | None = None
        self.errors = Counter(
            "notary_tile_errors", "Failed attempts to write tiles", registry=registry
        )
        self.checkpoint_size = Gauge(
            "notary_checkpoint_size", "Tree size of the published checkpoint", registry=registry
        )
        self.checkpoint_size.set(writer.published)
        self.thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        self.thread = threading.Thread(
            target=run_publisher, args=(self, stop), name="tiles", daemon=True
        )
        self.thread.start()

    def step(self, stop: threading.Event) -> None:
        store = self.writer.store
        for seq in range(store.head_count - 1, -1, -1):
            head = store.head(seq)
            if head is None or head.tree_size <= self.writer.published:
                return
            if head.state.is_anchored:
                self.writer.publish(head.tree_size, head.root)
                self.checkpoint_size.set(head.tree_size)
                return


def run_publisher(publisher: TilePublisher, stop: threading.Event) -> None:
    run_retrying(
        publisher,
        stop,
        what="tile publishing",
        expected=TileError,
        errors=publisher.errors,
        max_backoff=MAX_BACKOFF,
        poll=POLL_SECONDS,
    )
