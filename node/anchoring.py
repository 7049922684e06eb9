"""Sealing tree heads and anchoring them on chain, exactly once and in order.

The registry is the source of truth for what was anchored: its `nextSeq` for this node
says which heads are on chain. On start and after every chain error the worker reconciles
its local head states with it, so a crash between sending a transaction and recording it
can neither anchor a head twice (the contract refuses a used seq) nor skip one (the
contract refuses any seq but the next).

With a relay (`node.relay`) the worker sends no transactions: it signs each head and hands it
to a relayer, reads `nextSeq` to learn which heads the relayer's `anchorMany` landed (adopting
their `HeadAnchored` records as for a head mined after a crash), and hands a head over again
after `relay_timeout` seconds without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from anchor import AnchorError, NodeStatus, RegistryClient, SignedHead
from node.metrics import Metrics
from node.models import AnchoringRecord, Head, HeadState
from node.store import LogStore
from protocol.finality import FinalityDepth

log = logging.getLogger("node.anchoring")
MAX_BACKOFF = 30.0


class HeadRelay(Protocol):
    """Where a node hands its signed heads instead of sending transactions."""

    def hand_over(self, heads: Sequence[SignedHead]) -> None: ...


class LogDivergedError(Exception):
    """The chain holds a head for this node that the local log does not: stop, alert."""


@dataclass
class Batcher:
    """Seals a head every `max_entries` new entries or `interval` seconds, whichever first."""

    store: LogStore
    max_entries: int
    interval: float
    metrics: Metrics
    wake: threading.Event = field(default_factory=threading.Event)
    _pending_since: float | None = None

    def on_appended(self) -> None:
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        if self.pending() >= self.max_entries:
            self.wake.set()

    def pending(self) -> int:
        latest = self.store.latest_head()
        return self.store.size - (latest.tree_size if latest else 0)

    def seal_if_due(self) -> Head | None:
        pending = self.pending()
        if pending == 0:
            self._pending_since = None
            return None
        if self._pending_since is None:  # entries left unsealed by a previous run
            self._pending_since = time.monotonic()
        if pending < self.max_entries and time.monotonic() - self._pending_since < self.interval:
            return None
        head = self.store.seal_head(self.store.size, time.time())
        self._pending_since = None if self.pending() == 0 else time.monotonic()
        self.metrics.heads_sealed.inc()
        log.info("sealed head %d over %d entries", head.seq, head.tree_size)
        return head


class AnchorWorker:
    def __init__(
        self,
        store: LogStore,
        registry: RegistryClient,
        finality_depth: int | None,
        metrics: Metrics,
        *,
        max_in_flight: int = 8,
        relay: HeadRelay | None = None,
        relay_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.relay = relay
        self.relay_timeout = relay_timeout
        self._handed_over: dict[int, float] = {}  # seq → when it last went to the relay
        self.registry = registry
        self.configured_finality_depth = finality_depth
        self.finality: FinalityDepth | None = None  # asked of the chain on the first step
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        sender = registry.sender
        if sender is None:
            raise ValueError("the anchoring registry client needs the node's key")
        self.sender = sender
        self.node_address = sender.address
        self.needs_reconcile = True
        self.halted: str | None = None
        self.last_error: str | None = None

    # ------------------------------------------------------------------ one round

    def step(self) -> None:
        """Reconcile if needed, then submit, collect receipts and confirm finality."""
        if self.halted:
            return
        self._finality()  # asked of the chain once, before anything depends on it
        if self.needs_reconcile:
            self.reconcile()
        if self.relay is not None:
            self._collect_relayed()
            self._hand_over()
        else:
            self._submit()
            self._collect_receipts()
        self._confirm_finality()

    def reconcile(self) -> None:
        """Align local head states with the registry's view of this node."""
        record = self.registry.get_node(self.node_address)
        if record.status is not NodeStatus.ACTIVE:
            # Sending would only burn gas on reverts; /readyz shows this until governance acts.
            raise AnchorError(f"the registry lists this node as {record.status.name.lower()}")
        chain_next = record.next_seq
        if chain_next > self.store.head_count:
            self.halted = (
                f"the registry has {chain_next} heads for {self.node_address} but the local log "
                f"sealed only {self.store.head_count}: the log store is not the one that anchored"
            )
            raise LogDivergedError(self.halted)
        first_unfinal = self._first_unfinal()
        if chain_next < first_unfinal:
            # Resending would be refused or fork the history clients hold as final: wait.
            raise AnchorError(
                f"the registry has {chain_next} heads for this node but {first_unfinal} are "
                "final here: the JSON-RPC endpoint is behind, or a reorg deeper than the "
                f"finality depth ({self._finality().depth}) removed final anchors"
            )
        lost = False
        for head in self.store.heads(first_unfinal):
            on_chain = head.seq < chain_next
            if on_chain and (
                head.state in (HeadState.SEALED, HeadState.SUBMITTED)
                or (head.state is HeadState.ANCHORED and not self._block_canonical(head))
            ):
                # Mined after all, or mined again in another block after a reorg: adopt.
                self._adopt_chain_record(head)
            elif not on_chain and head.state.is_anchored:
                log.warning("head %d no longer on chain (reorg)", head.seq)
                lost |= self._unanchor(head)
            elif (
                not on_chain
                and head.state is HeadState.SUBMITTED
                and not self._tx_known(head.tx_hash)
            ):
                log.warning("anchor transaction of head %d is gone; sending it again", head.seq)
                self._reset(head)
                lost = True
        if lost:
            # The lost transactions' nonces are free again; a counter past them would leave
            # a gap that every later anchor waits behind.
            self.sender.resync_nonce()
        self.needs_reconcile = False

    def _adopt_chain_record(self, head: Head) -> None:
        # The key that sent it, if recorded: after a key rotation, heads in flight were
        # anchored under the previous key, and the registry files them under it.
        node = head.anchored_by or self.node_address
        record = self.registry.get_anchor(node, head.root)
        if record is None or record.seq != head.seq or record.node != node:
            self.halted = (
                f"head {head.seq} on chain does not match the local log (root {head.root.hex()}): "
                "anchoring halted, investigate before restarting"
            )
            raise LogDivergedError(self.halted)
        events = list(
            self.registry.iter_anchored_heads(record.block_number, record.block_number, node=node)
        )
        event = next((e for e in events if e.seq == head.seq), None)
        if event is None:
            raise AnchorError(
                f"no HeadAnchored log for head {head.seq} in block {record.block_number}"
            )
        anchoring = AnchoringRecord(
            tx_hash=event.tx_hash,
            block_number=event.block_number,
            block_hash=event.block_hash,
            anchored_at=record.timestamp,
            anchored_by=node,
        )
        self.store.save_head(head.anchored(anchoring))
        log.info(
            "head %d was already anchored in block %d (adopted)", head.seq, record.block_number
        )

    def _unanchor(self, head: Head) -> bool:
        """A head whose anchor block left the canonical chain: wait for its transaction if an
        engine still holds it (it is mined again), else send it again. True if sent again."""
        if self._tx_known(head.tx_hash):
            log.info("head %d: its transaction is pending again; waiting for it", head.seq)
            self.store.save_head(head.unmined())
            return False
        log.warning("head %d: its transaction is gone; will anchor it again", head.seq)
        self._reset(head)
        return True

    def _reset(self, head: Head) -> None:
        self.store.save_head(head.reset())

    def _block_canonical(self, head: Head) -> bool:
        """Whether the block the head was recorded in is still the chain's block there."""
        if head.block_number is None:
            return False
        block = self.registry.block(head.block_number)
        return block is not None and block.hash == head.block_hash

    def _tx_known(self, tx_hash: str | None) -> bool:
        return tx_hash is not None and self.registry.transaction_known(tx_hash)

    def _finality(self) -> FinalityDepth:
        if self.finality is None:
            self.finality = self.registry.finality_depth(self.configured_finality_depth)
            log.info("finality depth %d blocks (%s)", self.finality.depth, self.finality.source)
        return self.finality

    # ------------------------------------------------------------------ stages

    def _submit(self) -> None:
        in_flight = 0
        for head in self.store.heads(self._first_unfinal()):
            if head.state is HeadState.SUBMITTED:
                in_flight += 1
            elif head.state is HeadState.SEALED:
                if in_flight >= self.max_in_flight:
                    return
                tx_hash = self.registry.send_anchor(head.seq, head.tree_size, head.root)
                self.store.save_head(head.submitted(tx_hash, self.node_address))
                self.metrics.anchors_submitted.inc()
                in_flight += 1

    def _hand_over(self) -> None:
        """Sign sealed heads (and those the relayer has not landed in time) and hand them
        to the relay, oldest first, at most `max_in_flight` at a time."""
        assert self.relay is not None
        now = time.monotonic()
        due: list[Head] = []
        for head in self.store.heads(self._first_unfinal()):
            if len(due) >= self.max_in_flight:
                break
            waited = now - self._handed_over.get(head.seq, -self.relay_timeout)
            if head.state is HeadState.SEALED or (
                head.state is HeadState.SUBMITTED and waited >= self.relay_timeout
            ):
                due.append(head)
        if not due:
            return
        self.relay.hand_over([self.registry.sign_head(h.seq, h.tree_size, h.root) for h in due])
        for head in due:
            self._handed_over[head.seq] = now
            if head.state is HeadState.SEALED:
                # No transaction of its own; the key that signed it.
                self.store.save_head(head.submitted(None, self.node_address))
                self.metrics.anchors_submitted.inc()

    def _collect_relayed(self) -> None:
        """Heads the relayer landed: the registry's `nextSeq` moved past them."""
        pending = [
            h for h in self.store.heads(self._first_unfinal()) if h.state is HeadState.SUBMITTED
        ]
        if not pending:
            return
        chain_next = self.registry.next_seq(self.node_address)
        for head in pending:
            if head.seq >= chain_next:
                return  # later heads cannot be anchored before this one (seq order)
            self._adopt_chain_record(head)
            self._handed_over.pop(head.seq, None)
            self.metrics.anchor_lag_seconds.set(max(0.0, time.time() - head.sealed_at))

    def _collect_receipts(self) -> None:
        for head in self.store.heads(self._first_unfinal()):
            if head.state is not HeadState.SUBMITTED:
                continue
            receipt = self.registry.receipt(head.tx_hash) if head.tx_hash else None
            if receipt is None:
                if not self._tx_known(head.tx_hash):
                    # Neither mined nor pending: a reorg dropped it, or a failover reached an
                    # endpoint that never saw it. Nothing would ever mine it: reconcile.
                    self.needs_reconcile = True
                return  # later heads cannot be mined before this one (nonce order)
            if not receipt.succeeded:
                reason: Exception = AnchorError(f"anchor of head {head.seq} reverted")
                try:
                    self.registry.wait(head.tx_hash or "")
                except AnchorError as error:
                    reason = error
                # Send it again after the back-off (and a reconcile); later heads in
                # flight revert too and are reset the same way.
                self._reset(head)
                self.needs_reconcile = True
                raise AnchorError(f"anchor of head {head.seq} reverted: {reason}")
            block = self.registry.block(receipt.block_number)
            if block is None or block.hash != receipt.block_hash:
                # Its block was replaced between the two reads: look again next round.
                self.needs_reconcile = True
                return
            anchoring = AnchoringRecord(
                tx_hash=head.tx_hash,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
                anchored_at=block.timestamp,
                # Sent by a version that did not record the key: the receipt names it.
                anchored_by=head.anchored_by or receipt.sender,
            )
            self.store.save_head(head.anchored(anchoring))
            self.metrics.anchor_lag_seconds.set(max(0.0, time.time() - head.sealed_at))

    def _confirm_finality(self) -> None:
        finality = self._finality()
        latest = self.registry.block_number()
        for head in self.store.heads(self._first_unfinal()):
            if head.state is not HeadState.ANCHORED or head.block_number is None:
                return
            if not finality.is_final(head.block_number, latest):
                return
            canonical = self.registry.block(head.block_number)
            if canonical is None or canonical.hash != head.block_hash:
                # The registry decides (reconcile): mined again elsewhere (adopt that block),
                # pending again (wait), or gone (send again).
                log.warning("block of head %d was replaced (reorg); re-checking", head.seq)
                self.needs_reconcile = True
                return
            self.store.save_head(head.finalised())
            self.metrics.heads_final.inc()
            self.metrics.final_lag_seconds.set(max(0.0, time.time() - head.sealed_at))

    def _first_unfinal(self) -> int:
        """Seq of the oldest head not yet final (heads become final in order)."""
        low, high = 0, self.store.head_count
        while low < high:
            middle = (low + high) // 2
            head = self.store.head(middle)
            if head is not None and head.state is HeadState.FINAL:
                low = middle + 1
            else:
                high = middle
        return low


def run_worker(
    batcher: Batcher,
    worker: AnchorWorker | None,
    stop: threading.Event,
    metrics: Metrics,
    poll: float = 0.2,
) -> None:
    """The background loop: seal when due, anchor, back off on chain errors."""
    backoff = 0.5
    while not stop.is_set():
        try:
            batcher.seal_if_due()
            if worker is not None:
                worker.step()
            backoff = 0.5
            if worker is not None:
                worker.last_error = None
        except LogDivergedError as error:
            log.critical("%s", error)
            metrics.chain_errors.inc()
        except AnchorError as error:
            metrics.chain_errors.inc()
            if worker is not None:
                worker.needs_reconcile = True
                worker.last_error = str(error)
            log.warning("anchoring paused %.1f s: %s", backoff, error)
            stop.wait(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)
            continue
        batcher.wake.wait(poll)
        batcher.wake.clear()
