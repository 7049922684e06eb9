"""Polled filters: `eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`,
`eth_getFilterChanges`, `eth_getFilterLogs` and `eth_uninstallFilter`, as geth serves them
over HTTP (ethers' and web3.py's event watchers poll these).

Nothing is computed for a filter when a block arrives: the chain store's listener runs
under the chain lock, on the sealer's or the importer's thread. The node keeps one short
journal of canonical-chain changes (block hash, and whether the block joined or left the
canonical chain) and one of transactions entering the pool; a filter is a cursor into
one of them. A poll reads the entries past its cursor and moves it on; the caller then
turns block entries into logs (`devnet/rpc.py`), so the work is done by the client that
asks, on a worker of its plane.

As in geth a filter expires when it has not been polled for 5 minutes, and an unknown or
expired filter answers "filter not found". Unlike geth the node holds at most
`MAX_FILTERS` filters: more are refused until some are uninstalled or expire. The
journals are bounded too; a filter that falls further behind than a journal reaches
(thousands of blocks, hours at the devnet's period: it would have expired long before)
misses the oldest entries."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_typing import Address, Hash32

from devnet.chain import CanonicalChange

FILTER_TIMEOUT_SECONDS = 300.0  # geth: filters.Config.Timeout, 5 minutes
MAX_FILTERS = 1024  # per node, all clients together
BLOCK_JOURNAL = 4096  # canonical-chain changes kept for polling (> 1 h at a 1 s period)
PENDING_JOURNAL = 16_384  # transactions entering the pool kept for polling (= pool size)

LOGS, BLOCKS, PENDING = "logs", "blocks", "pending"


class FilterNotFoundError(Exception):
    """Unknown, expired or uninstalled filter (geth: "filter not found")."""


class TooManyFiltersError(Exception):
    """The node holds `MAX_FILTERS` filters already."""


@dataclass(frozen=True)
class LogCriteria:
    """A parsed log filter. `from_block`/`to_block` are block numbers (`earliest` is 0), or
    tags ("latest", "safe", "finalized") resolved when a query runs; new blocks are matched
    against numbers only, as in geth."""

    addresses: frozenset[Address]
    topics: tuple[frozenset[bytes] | None, ...]
    from_block: int | str
    to_block: int | str
    block_hash: Hash32 | None


@dataclass
class Filter:
    kind: str
    cursor: int
    deadline: float
    criteria: LogCriteria | None = None
    full_transactions: bool = False


@dataclass(frozen=True)
class BlockEvent:
    block_hash: Hash32
    removed: bool  # True: the block left the canonical chain (a reorg)


class _Journal:
    """Append-only entries numbered consecutively; only the newest `size` are kept."""

    def __init__(self, size: int) -> None:
        self.entries: deque[Any] = deque(maxlen=size)
        self.next_seq = 0

    def append(self, entry: Any) -> None:
        self.entries.append(entry)
        self.next_seq += 1

    def since(self, cursor: int) -> list[Any]:
        first_seq = self.next_seq - len(self.entries)
        skip = max(0, cursor - first_seq)
        return list(itertools.islice(self.entries, skip, None))


class Filters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._filters: dict[str, Filter] = {}
        self._blocks = _Journal(BLOCK_JOURNAL)
        self._pending = _Journal(PENDING_JOURNAL)

    def __len__(self) -> int:
        with self._lock:
            return len(self._filters)

    # ------------------------------------------------------------------ events

    def on_canonical_change(self, change: CanonicalChange) -> None:
        """Chain store listener (runs under the chain lock: only appends)."""
        with self._lock:
            for block in change.removed:
                self._blocks.append(BlockEvent(Hash32(block.hash), removed=True))
            for block in change.added:
                self._blocks.append(BlockEvent(Hash32(block.hash), removed=False))

    def on_pending_transaction(self, tx_hash: Hash32) -> None:
        with self._lock:
            self._pending.append(tx_hash)

    # ------------------------------------------------------------------ filters

    def install(
        self, kind: str, criteria: LogCriteria | None = None, full_transactions: bool = False
    ) -> str:
        now = self._clock()
        with self._lock:
            self._expire(now)
            if len(self._filters) >= MAX_FILTERS:
                raise TooManyFiltersError(
                    f"too many filters (max {MAX_FILTERS}); uninstall some or let them expire"
                )
            journal = self._pending if kind == PENDING else self._blocks
            filter_id = _new_id()
            self._filters[filter_id] = Filter(
                kind, journal.next_seq, now + FILTER_TIMEOUT_SECONDS, criteria, full_transactions
            )
            return filter_id

    def changes(self, filter_id: str) -> tuple[Filter, list[Any]]:
        """The filter and its journal entries since the last poll (BlockEvents, or
        transaction hashes for a pending-transaction filter); restarts its timeout."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            found = self._filters.get(filter_id)
            if found is None:
                raise FilterNotFoundError("filter not found")
            found.deadline = now + FILTER_TIMEOUT_SECONDS
            journal = self._pending if found.kind == PENDING else self._blocks
            entries = journal.since(found.cursor)
            found.cursor = journal.next_seq
            return found, entries

    def get(self, filter_id: str) -> Filter:
        """The filter, without restarting its timeout (geth's eth_getFilterLogs)."""
        with self._lock:
            self._expire(self._clock())
            found = self._filters.get(filter_id)
            if found is None:
                raise FilterNotFoundError("filter not found")
            return found

    def uninstall(self, filter_id: str) -> bool:
        with self._lock:
            return self._filters.pop(filter_id, None) is not None

    def _expire(self, now: float) -> None:
        for filter_id in [i for i, f in self._filters.items() if f.deadline <= now]:
            del self._filters[filter_id]


def _new_id() -> str:
    """geth's rpc.NewID: 16 random bytes, hex, leading zeros dropped."""
    return "0x" + (secrets.token_hex(16).lstrip("0") or "0")
