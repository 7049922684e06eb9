"""A bulk request's intake checks in worker processes.

The CMS signature and signer checks of `node.intake.document_entry` are pure Python (asn1crypto,
pyhanko-certvalidator) and hold the GIL, so one process checks on one core. Large bulk requests
are cut into chunks checked in parallel by worker processes, each with the checks built from
the same settings (`node.intake_checks`; its own signer cache; CRL files are re-read on change
as in the node). Entries come back in order; what is appended, and the synced write, stay in
the node.
Workers are started with "spawn" (the node runs threads: forking them is unsafe), on the first
request that needs them, and replaced if one dies.

After the synced append, the same workers sign the receipts of a large request
(`IntakePool.start_receipts`, `node.receipts`: the signature covers the leaf index, known only once
appended). So each worker holds the node's receipt key: the raw 32-byte secp256k1 key goes
to it in the pool's initargs, which "spawn" hands over the pipe to the child (pickled with the
rest of its start-up data), never through the environment, the command line or a file.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from node.intake import Submission, SubmissionRejectedError
from node.intake_checks import (
    IntakeChecks,
    build_intake_checks,
    check_submission,
    crl_files_stated_once,
)
from node.receipt_signer import ReceiptSigner
from node.receipts import Chain, ReceiptMaker, ReceiptSource, receipt_source
from node.settings import NodeSettings
from node.store import EncodedEntry

CHUNK = 250
"""Entries per task: large enough that hand-over costs little, small enough to spread a
10,000-entry request evenly."""
RECEIPT_CHUNK = 500
"""Receipts per task (each ~50 µs to sign and ~250 bytes to hand over)."""


class PendingReceipts:
    """Receipts the workers are signing (IntakePool.start_receipts)."""

    def __init__(
        self,
        owner: IntakePool,
        pool: ProcessPoolExecutor,
        futures: list[Future[list[dict[str, Any]]]],
    ) -> None:
        self._owner, self._pool, self._futures = owner, pool, futures

    def result(self) -> list[dict[str, Any]]:
        """The receipts in order; raises BrokenProcessPool if a worker died."""
        try:
            return [receipt for future in self._futures for receipt in future.result()]
        except BrokenProcessPool:
            self._owner._discard(self._pool)
            raise

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()


class IntakePool:
    def __init__(self, settings: NodeSettings, receipt_key: bytes) -> None:
        """`receipt_key`: the node's raw secp256k1 private key, for `receipts`."""
        self.settings = settings
        self._receipt_key = receipt_key
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def wanted(self, count: int) -> bool:
        """Whether `count` entries are worth sending to the workers."""
        return self.settings.intake_workers > 0 and count >= self.settings.intake_pool_min_entries

    def document_entries(
        self, submissions: Sequence[Submission], *, client: str, bulk: bool
    ) -> tuple[list[EncodedEntry], list[ReceiptSource]]:
        """`document_entry` for each submission, in order, checked by the workers; raises the
        SubmissionRejectedError of the first refused position, as the in-process loop would.
        The entries come encoded (`NewEntry.encoded`), with their receipt sources: the node
        appends and hands them back for the receipts without building either."""
        received = time.time()
        chunks = [
            (list(submissions[start : start + CHUNK]), start)
            for start in range(0, len(submissions), CHUNK)
        ]
        pool = self._executor()
        try:
            futures = [
                pool.submit(
                    _check_chunk, chunk, start, self.settings.lg_code, client, bulk, received
                )
                for chunk, start in chunks
            ]
            results = [future.result() for future in futures]
        except BrokenProcessPool:
            self._discard(pool)
            raise
        entries: list[EncodedEntry] = []
        sources: list[ReceiptSource] = []
        for result in results:
            if isinstance(result, SubmissionRejectedError):
                raise result
            entries.extend(result[0])
            sources.extend(result[1])
        return entries, sources

    def start_receipts(
        self, first: int, sources: Sequence[ReceiptSource], node: str, chain: Chain
    ) -> PendingReceipts:
        """`ReceiptMaker.make` of entries `first`, `first` + 1, ..., handed to the workers now
        and collected in order later (`PendingReceipts.result`, which raises BrokenProcessPool
        if a worker died; the next call starts fresh ones): the node signs while its synced
        append runs, and releases them only once it succeeded."""
        pool = self._executor()
        try:
            futures = [
                pool.submit(
                    _sign_chunk,
                    list(sources[start : start + RECEIPT_CHUNK]),
                    first + start,
                    node,
                    chain,
                )
                for start in range(0, len(sources), RECEIPT_CHUNK)
            ]
        except BrokenProcessPool:
            self._discard(pool)
            raise
        return PendingReceipts(self, pool, futures)

    def start(self) -> None:
        """Start the workers now (else on the first request that needs them)."""
        if self.settings.intake_workers > 0:
            self._executor().submit(_ready).result()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.settings.intake_workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self.settings, self._receipt_key),
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory): the next request starts fresh ones."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------- in the workers

_checks: IntakeChecks | None = None
_signer: ReceiptSigner | None = None


def _init_worker(settings: NodeSettings, receipt_key: bytes) -> None:
    global _checks, _signer  # noqa: PLW0603 (one of each per worker process, built once)
    _checks = build_intake_checks(settings)
    _signer = ReceiptSigner(receipt_key)
    gc.collect()
    gc.freeze()  # as the node does (node.commands): collections walk only the tasks' objects


def _ready() -> bool:
    return _checks is not None


def _check_chunk(
    submissions: list[Submission],
    first: int,
    lg_code: int,
    client: str,
    bulk: bool,
    received: float,
) -> tuple[list[EncodedEntry], list[ReceiptSource]] | SubmissionRejectedError:
    """The chunk's entries, encoded, and their receipt sources, or the refusal of its first
    refused submission (returned, not raised: the node raises the first one over all
    chunks)."""
    assert _checks is not None, "worker not initialised"
    entries, sources = [], []
    with crl_files_stated_once(_checks):
        for offset, submission in enumerate(submissions):
            try:
                entry = check_submission(
                    _checks,
                    submission,
                    lg_code,
                    client=client,
                    field_prefix=f"entries[{first + offset}]." if bulk else "",
                    received_at=received,
                )
            except SubmissionRejectedError as error:
                return error
            entries.append(entry.encoded())
            sources.append(receipt_source(entry.leaf, entry.sidecar))
    return entries, sources


def _sign_chunk(
    sources: list[ReceiptSource], first: int, node: str, chain: Chain
) -> list[dict[str, Any]]:
    assert _signer is not None, "worker not initialised"
    return ReceiptMaker(_signer, node, chain).make_all(first, sources)
