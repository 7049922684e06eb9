"""The node's background jobs after anchoring (timestamping, evidence capture): a loop that does
what is due, backs off while it fails, and never takes the node down with it."""

from __future__ import annotations

import logging
import threading
from typing import Final, Protocol

from prometheus_client import Counter

log = logging.getLogger("node")

FIRST_BACKOFF: Final = 1.0


class BackgroundJob(Protocol):
    last_error: str | None
    """Shown to the operator (the LGWAN /readyz detail, logs); None while the job works."""

    def step(self, stop: threading.Event) -> object:
        """Do what is due now; return early once `stop` is set (a backlog must not hold up
        the node's shutdown)."""


def run_retrying(
    job: BackgroundJob,
    stop: threading.Event,
    *,
    what: str,
    expected: type[Exception],
    errors: Counter,
    max_backoff: float,
    poll: float,
) -> None:
    """Run `job` until `stop`: every `poll` seconds while it works; after a failure, again
    after a back-off doubling up to `max_backoff`. `expected` failures (a TSA or chain that
    does not answer) are logged in one line, anything else with its traceback."""
    backoff = FIRST_BACKOFF
    while not stop.is_set():
        try:
            job.step(stop)
        except Exception as error:  # retry, never die: nothing else waits for this job
            errors.inc()
            job.last_error = str(error)
            if isinstance(error, expected):
                log.warning("%s paused %.1f s: %s", what, backoff, error)
            else:
                log.exception("%s paused %.1f s after an unexpected error", what, backoff)
            stop.wait(backoff)
            backoff = min(max_backoff, backoff * 2)
            continue
        job.last_error = None
        backoff = FIRST_BACKOFF
        stop.wait(poll)
