"""py-evm's database API on LevelDB (plyvel): py-evm no longer ships a LevelDB backend.

Single writes go straight to LevelDB; an `atomic_batch` becomes one LevelDB write batch,
written with sync=True. py-evm writes the canonical head inside such a batch, so a block
is either wholly on disk with its head pointer or not at all, even across a power cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import plyvel
from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB


class LevelDB(BaseAtomicDB):
    def __init__(self, path: Path, *, sync_batches: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sync_batches = sync_batches
        self.db = plyvel.DB(str(path), create_if_missing=True)

    def __getitem__(self, key: bytes) -> bytes:
        value: bytes | None = self.db.get(key)  # plyvel ships no type hints
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)

    def _exists(self, key: bytes) -> bool:
        return self.db.get(key) is not None

    def __delitem__(self, key: bytes) -> None:
        if self.db.get(key) is None:
            raise KeyError(key)
        self.db.delete(key)

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with _LevelDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    def close(self) -> None:
        self.db.close()


class _LevelDBWriteBatch(AtomicDBWriteBatch):
    """Keeps py-evm's readable batch, but commits it as one LevelDB write batch."""

    _write_target_db: LevelDB

    def _commit(self) -> None:
        diff = self._diff()
        target = self._write_target_db
        with target.db.write_batch(sync=target.sync_batches) as batch:
            for key, value in diff.pending_items():
                batch.put(key, value)
            for key in diff.deleted_keys():
                batch.delete(key)
