"""The batcher seals heads on count and on time, including entries a previous run left."""

from __future__ import annotations

import time
from pathlib import Path

from node.anchoring import Batcher
from node.metrics import Metrics
from node.models import RevocationSidecar
from node.store import LogStore, NewEntry


def sidecar(receipt_id: str) -> RevocationSidecar:
    """A minimal well-formed sidecar: the store keeps it, these tests never read it."""
    return RevocationSidecar(receipt_id=receipt_id, client="test", received_at=0, revokes=b"")


def entries(count: int, start: int = 0) -> list[NewEntry]:
    return [
        NewEntry(f"leaf {start + i}".encode(), sidecar(f"r{start + i}"), f"r{start + i}")
        for i in range(count)
    ]


def test_seals_when_full_or_when_the_interval_passes(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    batcher = Batcher(store, max_entries=10, interval=0.2, metrics=Metrics())
    store.append(entries(3))
    batcher.on_appended()
    assert batcher.seal_if_due() is None  # neither full nor old
    time.sleep(0.25)
    head = batcher.seal_if_due()
    assert head is not None and (head.seq, head.tree_size) == (0, 3)
    store.append(entries(10, 3))
    batcher.on_appended()
    assert batcher.wake.is_set()
    head = batcher.seal_if_due()
    assert head is not None and (head.seq, head.tree_size) == (1, 13)
    assert head.root == store.root(13)
    store.close()


def test_entries_left_by_a_crash_are_sealed_after_restart(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append(entries(5))
    store.close()
    reopened = LogStore(tmp_path)  # the new process never saw these appends
    batcher = Batcher(reopened, max_entries=100, interval=0.1, metrics=Metrics())
    assert batcher.seal_if_due() is None
    time.sleep(0.15)
    head = batcher.seal_if_due()
    assert head is not None and head.tree_size == 5
    reopened.close()
