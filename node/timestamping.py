"""RFC 3161 timestamps over anchored heads, from the TSA set per node (`tsa_url`).

What is stamped: SHA-256 over the head's EIP-712 signed-head bytes
(`protocol.signed_head.head_timestamp_digest`): the head as the registry anchors it, naming the
key that anchored it. A head is stamped once it is anchored, because only then is that key
certain (a key rotation between sealing and anchoring changes it) and the token then covers
exactly the statement on chain; the cost is a genTime one block later than sealing.

Stamping runs in its own thread, after anchoring and apart from it: a TSA that is down, slow
or wrong delays tokens only, never an entry, a seal or an anchor. Heads are stamped in seq
order; each token is verified (imprint, nonce, policy, chain to `tsa_trust_anchors`, EKU) and
then written in one synced write with the count of stamped heads, so a SIGKILL at any point
leaves either no token for the head (it is asked for again) or a complete, verified one.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from node.background import run_retrying
from node.bundles import ChainIdentity
from node.metrics import Metrics
from node.models import HeadTimestamp
from node.store import LogStore
from protocol.signed_head import signed_head_bytes
from verifier.timestamp import (
    MAX_TOKEN_BYTES,
    TimestampError,
    token_from_reply,
    verify_timestamp_token,
)

log = logging.getLogger("node.timestamping")

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
MAX_ANSWER_BYTES: Final = MAX_TOKEN_BYTES


class TimestampingError(Exception):
    """The TSA could not give a usable token this time (down, slow, refused, or invalid)."""


def load_tsa_anchors(path: Path) -> list[x509.Certificate]:
    """The TSA trust anchors: every certificate of a PEM file."""
    try:
        anchors = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read TSA trust anchors from {path}: {error}") from None
    return anchors


class TsaClient:
    """Asks one TSA for a token over a message and verifies the answer before returning it."""

    def __init__(
        self,
        url: str,
        trust_anchors: Sequence[x509.Certificate],
        *,
        policy: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if not trust_anchors:
            raise ValueError("a TSA needs trust anchors (tsa_trust_anchors)")
        self.url = url
        self._parts = parts
        self.trust_anchors = list(trust_anchors)
        self.policy = policy
        self.timeout = timeout

    def stamp(self, message: bytes) -> HeadTimestamp:
        """A verified token over SHA-256(`message`), asked with a fresh nonce and certReq."""
        request = (
            TimestampRequestBuilder()
            .data(message)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        answer = self._post(request.as_bytes())
        try:
            token = token_from_reply(answer)
            facts = verify_timestamp_token(
                token,
                hashlib.sha256(message).digest(),
                self.trust_anchors,
                policy=self.policy,
                nonce=request.nonce,
            )
        except TimestampError as error:
            raise TimestampingError(str(error)) from None
        return HeadTimestamp(
            token=token,
            gen_time=facts.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            tsa=facts.tsa,
        )

    def _post(self, body: bytes) -> bytes:
        """POST the query; the whole exchange is cut off after `timeout` seconds and the
        answer after `MAX_ANSWER_BYTES`, however slowly or plentifully the TSA sends."""
        parts = self._parts
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(parts.hostname or "", parts.port, timeout=self.timeout)
        deadline = time.monotonic() + self.timeout
        # A read blocked on a trickling TSA wakes when the watchdog shuts the socket down.
        watchdog = threading.Timer(self.timeout, _shutdown, args=(connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(
                "POST",
                path,
                body,
                {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE, "Connection": "close"},
            )
            response = connection.getresponse()
            _check_headers(response)
            answer = self._read(connection, response, deadline)
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline:
                raise TimestampingError(f"the TSA took longer than {self.timeout} s") from None
            raise TimestampingError(f"cannot reach the TSA: {error!r}") from None
        finally:
            watchdog.cancel()
            connection.close()
        if time.monotonic() > deadline:
            raise TimestampingError(f"the TSA took longer than {self.timeout} s")
        return answer

    def _read(
        self,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        deadline: float,
    ) -> bytes:
        answer = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimestampingError(f"the TSA took longer than {self.timeout} s")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            chunk = response.read1(MAX_ANSWER_BYTES + 1 - len(answer))
            if not chunk:
                return bytes(answer)
            answer += chunk
            if len(answer) > MAX_ANSWER_BYTES:
                raise TimestampingError(f"the TSA's answer is larger than {MAX_ANSWER_BYTES}")


def _check_headers(response: http.client.HTTPResponse) -> None:
    if response.status != 200:
        raise TimestampingError(f"the TSA answered HTTP {response.status}")
    kind = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if kind != REPLY_TYPE:
        raise TimestampingError(f"the TSA answered {kind or 'no type'}, not {REPLY_TYPE}")
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise TimestampingError(
            f"the TSA's answer ({declared} bytes) is larger than {MAX_ANSWER_BYTES}"
        )


def _shutdown(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class HeadStamper:
    """Stamps anchored heads in seq order (see the module's docstring)."""

    store: LogStore
    client: TsaClient
    identity: ChainIdentity
    metrics: Metrics
    last_error: str | None = None

    def step(self, stop: threading.Event | None = None) -> int:
        """Stamp every anchored head not yet stamped (until `stop` is set); return how many
        were stamped."""
        stamped = 0
        seq = self.store.stamped_count
        while seq < self.store.head_count and not (stop is not None and stop.is_set()):
            head = self.store.head(seq)
            # Heads are anchored in seq order: the first unanchored one ends the round.
            if head is None or not head.state.is_anchored:
                break
            message = signed_head_bytes(
                chain_id=self.identity.chain_id,
                registry=self.identity.registry,
                node=head.anchored_by or self.identity.node,
                seq=head.seq,
                tree_size=head.tree_size,
                root=head.root,
            )
            timestamp = self.client.stamp(message)
            self.store.save_timestamp(seq, timestamp)
            self.metrics.heads_timestamped.inc()
            log.info("head %d timestamped at %s", seq, timestamp.gen_time)
            stamped += 1
            seq += 1
        return stamped


def run_stamper(
    stamper: HeadStamper, stop: threading.Event, max_backoff: float, poll: float = 0.5
) -> None:
    """The stamping loop: stamp what is due, back off (doubling up to `max_backoff`) while the
    TSA fails. Nothing else waits for it."""
    run_retrying(
        stamper,
        stop,
        what="timestamping",
        expected=TimestampingError,
        errors=stamper.metrics.timestamp_errors,
        max_backoff=max_backoff,
        poll=poll,
    )
