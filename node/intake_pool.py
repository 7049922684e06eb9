"""A bulk request's intake checks in worker processes.

The CMS signature and signer checks of `node.intake.document_entry` are pure Python (asn1crypto,
pyhanko-certvalidator) and hold the GIL, so one process checks on one core. Large bulk requests
are cut into chunks checked in parallel by worker processes, each with the checks built from
the same settings (`node.intake_checks`; its own signer cache; CRL files are re-read on change
as in the node). Entries come back in order; what is appended, and the synced write, stay in
the node.
Workers are started with "spawn" (the node runs threads: forking them is unsafe), on the first
request that needs them, and replaced if one dies.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from node.intake import Submission, SubmissionRejectedError
from node.intake_checks import IntakeChecks, build_intake_checks, check_submission
from node.settings import NodeSettings
from node.store import NewEntry

CHUNK = 250
"""Entries per task: large enough that hand-over costs little, small enough to spread a
10,000-entry request evenly."""


class IntakePool:
    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def wanted(self, count: int) -> bool:
        """Whether `count` entries are worth sending to the workers."""
        return self.settings.intake_workers > 0 and count >= self.settings.intake_pool_min_entries

    def document_entries(
        self, submissions: Sequence[Submission], *, client: str, bulk: bool
    ) -> list[NewEntry]:
        """`document_entry` for each submission, in order, checked by the workers; raises the
        SubmissionRejectedError of the first refused position, as the in-process loop would."""
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
        entries: list[NewEntry] = []
        for result in results:
            if isinstance(result, SubmissionRejectedError):
                raise result
            entries.extend(result)
        return entries

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
                    initargs=(self.settings,),
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


def _init_worker(settings: NodeSettings) -> None:
    global _checks  # noqa: PLW0603 (one set of checks per worker process, built once)
    _checks = build_intake_checks(settings)


def _ready() -> bool:
    return _checks is not None


def _check_chunk(
    submissions: list[Submission],
    first: int,
    lg_code: int,
    client: str,
    bulk: bool,
    received: float,
) -> list[NewEntry] | SubmissionRejectedError:
    """The chunk's entries, or the refusal of its first refused submission (returned, not
    raised: the node raises the first one over all chunks)."""
    assert _checks is not None, "worker not initialised"
    entries = []
    for offset, submission in enumerate(submissions):
        try:
            entries.append(
                check_submission(
                    _checks,
                    submission,
                    lg_code,
                    client=client,
                    field_prefix=f"entries[{first + offset}]." if bulk else "",
                    received_at=received,
                )
            )
        except SubmissionRejectedError as error:
            return error
    return entries
