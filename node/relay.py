"""Relaying: many municipalities' heads in one `anchorMany` transaction.

Two roles, both optional (anchoring alone, one `anchor` transaction per head, stays the
default):

- **hand heads to a relayer** (`relay_url`): the anchoring worker signs each head with the
  node's key (EIP-712) and posts it to another node's `POST /v1/relay/heads`; it learns the
  outcome from the registry's `nextSeq` and hands the head over again after
  `relay_timeout` seconds without it. The node's key needs no ether.
- **relay for others** (`relay_for`): this node accepts signed heads of the listed node
  addresses on `POST /v1/relay/heads` (a token with the `relay` scope) and sends what it
  collected every `relay_interval` seconds in one `anchorMany`, paid by its own key.

The relayer is best effort and keeps no state across restarts: the registry is the source of
truth, a head it skips or loses is handed over again, and a head anchored twice cannot
happen (the sequence rule skips the copy).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence

from eth_utils.address import to_checksum_address

from anchor import AnchorError, RegistryClient, SignedHead

log = logging.getLogger("node.relay")
RELAY_PATH = "/v1/relay/heads"
MAX_HEADS_PER_REQUEST = 1_000


class RelayRefusedError(ValueError):
    """A signed head this relayer does not take (not listed, bad signature, malformed)."""


class RelayQueue:
    """Signed heads waiting for the next batch, one per (node, seq), newest copy kept."""

    def __init__(self, registry: RegistryClient, allowed: Iterable[str]) -> None:
        self.registry = registry
        self.allowed = {to_checksum_address(a) for a in allowed}
        self._heads: dict[tuple[str, int], SignedHead] = {}
        self._lock = threading.Lock()

    def accept(self, heads: Sequence[SignedHead]) -> int:
        """Queue `heads` after checking each; all or none (raises RelayRefusedError)."""
        if len(heads) > MAX_HEADS_PER_REQUEST:
            raise RelayRefusedError(f"at most {MAX_HEADS_PER_REQUEST} heads per request")
        for position, head in enumerate(heads):
            if head.node not in self.allowed:
                raise RelayRefusedError(
                    f"heads[{position}]: this node does not relay for {head.node}"
                )
            if self.registry.head_signer(head) != head.node:
                raise RelayRefusedError(
                    f"heads[{position}]: the signature is not {head.node}'s for this registry "
                    "and chain"
                )
        with self._lock:
            for head in heads:
                self._heads[(head.node, head.seq)] = head
        return len(heads)

    def hand_over(self, heads: Sequence[SignedHead]) -> None:
        """The relayer node's own heads join the queue like anyone's."""
        self.accept(heads)

    def take(self, limit: int) -> list[SignedHead]:
        """Up to `limit` queued heads, first come first served (no node waits behind
        others for ever), sorted so each node's heads go in seq order; they leave the queue."""
        with self._lock:
            keys = sorted(list(self._heads)[:limit])
            return [self._heads.pop(k) for k in keys]

    def __len__(self) -> int:
        with self._lock:
            return len(self._heads)


class Relayer:
    """Sends the queue as `anchorMany` batches; `step` is one round."""

    def __init__(self, queue: RelayQueue, registry: RegistryClient, max_heads: int) -> None:
        self.queue = queue
        self.registry = registry
        self.max_heads = max_heads
        self.last_error: str | None = None

    def step(self) -> int:
        """Send one batch of due heads; return how many were anchored."""
        heads = self.queue.take(self.max_heads)
        if not heads:
            return 0
        next_seq: dict[str, int] = {}
        due = []
        for head in heads:
            if head.node not in next_seq:
                next_seq[head.node] = self.registry.next_seq(head.node)
            if head.seq >= next_seq[head.node]:  # older ones are on chain already
                due.append(head)
        if not due:
            return 0
        result = self.registry.anchor_many(due)
        log.info(
            "relayed %d heads in %s (block %d, %d gas): %d anchored, %d skipped",
            len(due),
            result.tx.tx_hash,
            result.tx.block_number,
            result.tx.gas_used,
            len(result.anchored),
            len(result.skipped),
        )
        for skipped in result.skipped:
            log.info("skipped head %d of %s: %s", skipped.seq, skipped.node, skipped.reason)
        return len(result.anchored)


def run_relayer(relayer: Relayer, stop: threading.Event, interval: float) -> None:
    """The relaying loop: a batch every `interval` seconds; errors wait one interval.

    Heads of a failed batch are dropped: their nodes hand them over again."""
    while not stop.wait(interval):
        try:
            relayer.step()
            relayer.last_error = None
        except (AnchorError, OSError, ValueError) as error:
            relayer.last_error = str(error)
            log.warning("relaying failed (the nodes will hand their heads over again): %s", error)


class RelayClient:
    """Posts this node's signed heads to its relayer."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + RELAY_PATH
        self.token = token
        self.timeout = timeout

    def hand_over(self, heads: Sequence[SignedHead]) -> None:
        """Raises AnchorError if the relayer cannot be reached or refuses."""
        body = json.dumps({"heads": [h.to_json() for h in heads]}).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator configures the URL
            self.url,
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read(2_000).decode(errors="replace")
            raise AnchorError(f"relayer {self.url} answered HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AnchorError(f"cannot reach relayer {self.url}: {reason}") from None
