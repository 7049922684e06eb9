"""Capturing the chain evidence of final heads, for bundles that verify offline (PROTOCOL 10).

Once a head is final, the node fetches through its own JSON-RPC connection the anchor block's
header and those on top of it up to finality, the block's receipts and transactions, the Clique
signer sets in force, and `eth_getProof` of the registry at the last of those headers; it
builds the receipt and transaction proofs (`protocol`), then checks the whole evidence exactly
as an offline verifier does (`protocol.evidence_proofs.prove_all`, against the signer sets the
chain reported) and only then stores it, in one synced write with the count of heads that have
evidence. A SIGKILL leaves a head with all of its evidence or none (captured again: the same
blocks give the same evidence), and heads are captured in seq order.

Capture runs in its own thread: a slow or failing endpoint delays evidence only, never intake,
sealing or anchoring; failures are retried with backoff and counted in the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from anchor.errors import AnchorError
from anchor.evidence import EvidenceReader, RawBlock
from node.background import run_retrying
from node.bundles import ChainIdentity
from node.metrics import Metrics
from node.models import Head, HeadEvidence, HeadState
from node.store import LogStore
from protocol.clique import SignerHistory, SignerSet, recover_signer
from protocol.errors import EvidenceError
from protocol.evidence import (
    MAX_EVIDENCE_HEADERS,
    EvidenceSection,
    ReceiptEvidence,
    SlotEvidence,
    StateEvidence,
    TransactionEvidence,
)
from protocol.evidence_proofs import prove_all
from protocol.finality import clique_signer_limit
from protocol.header import BlockHeader
from protocol.mpt import build_proof
from protocol.receipts import build_receipt_proof, receipt_key
from protocol.registry_storage import anchor_slot, name_slots, node_slot, node_slots

log = logging.getLogger("node.evidence")


class CaptureError(Exception):
    """The evidence of a head cannot be captured now (endpoint down or wrong, blocks missing)."""


@dataclass
class EvidenceCapturer:
    """Captures the evidence of final heads in seq order (see the module's docstring)."""

    store: LogStore
    reader: EvidenceReader
    identity: ChainIdentity
    metrics: Metrics
    last_error: str | None = None

    def step(self, stop: threading.Event | None = None) -> int:
        """Capture every final head's evidence not yet captured; return how many were."""
        captured = 0
        seq = self.store.evidenced_count
        while seq < self.store.head_count and not (stop is not None and stop.is_set()):
            head = self.store.head(seq)
            if head is None or head.state is not HeadState.FINAL:
                break  # heads become final in seq order
            self.store.save_evidence(seq, HeadEvidence(self.capture(head), int(time.time())))
            self.metrics.heads_evidenced.inc()
            log.info("head %d: chain evidence captured and verified", seq)
            captured += 1
            seq += 1
        self.metrics.heads_without_evidence.set(self._final_without_evidence())
        return captured

    def _final_without_evidence(self) -> int:
        count = 0
        for head in self.store.heads(self.store.evidenced_count):
            if head.state is not HeadState.FINAL:
                break
            count += 1
        return count

    def capture(self, head: Head) -> EvidenceSection:
        """The head's evidence, verified; CaptureError when it cannot be had or does not hold."""
        if head.block_number is None or head.block_hash is None or head.tx_hash is None:
            raise CaptureError(f"head {head.seq} is final but its anchor is not recorded")
        block_hash = bytes.fromhex(head.block_hash[2:])
        tx_hash = bytes.fromhex(head.tx_hash[2:])
        node = head.anchored_by or self.identity.node
        registry = self.identity.registry
        try:
            anchor = self._block(head.block_number)
            if anchor.hash != block_hash:
                raise CaptureError(
                    f"block {head.block_number} is no longer the one head {head.seq} was anchored "
                    "in (a reorganisation past finality?)"
                )
            headers, history = self._headers_to_finality(anchor.header)
            receipt = self._receipt(anchor, tx_hash)
            transaction = self._transaction(anchor, receipt.index)
            state = self._state(registry, node, head.root, headers[-1].number)
        except AnchorError as error:
            raise CaptureError(str(error)) from None
        evidence = EvidenceSection(
            headers=tuple(h.encode() for h in headers),
            receipt=receipt,
            transaction=transaction,
            state=state,
        )
        try:
            prove_all(
                evidence,
                history=history,
                registry=registry,
                node=node,
                seq=head.seq,
                tree_size=head.tree_size,
                root=head.root,
                tx_hash=tx_hash,
                block_number=head.block_number,
                block_hash=block_hash,
            )
        except EvidenceError as error:
            raise CaptureError(
                f"head {head.seq}: the captured evidence does not verify: {error}"
            ) from None
        return evidence

    def _block(self, number: int) -> RawBlock:
        block = self.reader.block(number)
        if block is None:
            raise CaptureError(f"block {number} does not exist on this endpoint yet")
        return block

    def _headers_to_finality(self, anchor: BlockHeader) -> tuple[list[BlockHeader], SignerHistory]:
        """The anchor header and those on top of it until ⌊N/2⌋+1 distinct authorised signers
        sealed on top (N the largest signer set over them), and the signer sets in force."""
        headers = [anchor]
        sets: list[SignerSet] = []
        largest = 0
        sealers: set[bytes] = set()
        for number in _from(anchor.number):
            signers = self.reader.clique_signers(number - 1)
            if signers is None:
                raise CaptureError(
                    "the chain does not report its Clique signers (clique_getSigners): its "
                    "finality cannot be proven offline"
                )
            if not sets or sets[-1].signers != signers:
                sets.append(SignerSet(number - 1, signers))
            largest = max(largest, len(signers))
            if number > anchor.number:
                header = self._block(number).header
                if header.parent_hash != headers[-1].hash():
                    raise CaptureError(f"block {number} does not extend the evidence's headers")
                headers.append(header)
                try:
                    sealers.add(recover_signer(header))
                except EvidenceError as error:
                    raise CaptureError(f"block {number}: {error}") from None
                if len(sealers) >= clique_signer_limit(largest):
                    return headers, SignerHistory(sets)
            if len(headers) >= MAX_EVIDENCE_HEADERS:
                raise CaptureError(
                    f"no finality within {MAX_EVIDENCE_HEADERS} headers of block {anchor.number}"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _receipt(self, anchor: RawBlock, tx_hash: bytes) -> ReceiptEvidence:
        receipts = self.reader.receipts(anchor.header.number)
        hashes = [h for h, _ in receipts]
        if tx_hash not in hashes:
            raise CaptureError(f"transaction 0x{tx_hash.hex()} is not in its anchor block")
        index = hashes.index(tx_hash)
        only = [r for _, r in receipts]
        try:
            proof = build_receipt_proof(only, index, anchor.header.receipts_root)
        except EvidenceError as error:
            raise CaptureError(f"the anchor block's receipts: {error}") from None
        return ReceiptEvidence(index, only[index].encode(), tuple(proof))

    def _transaction(self, anchor: RawBlock, index: int) -> TransactionEvidence:
        raws = [self.reader.raw_transaction(h) for h in anchor.transactions]
        root, proof = build_proof(
            {receipt_key(i): r for i, r in enumerate(raws)}, receipt_key(index)
        )
        if root != anchor.header.transactions_root:
            raise CaptureError("the anchor block's transactions do not make its transactionsRoot")
        return TransactionEvidence(raws[index], tuple(proof))

    def _state(self, registry: str, node: str, root: bytes, block: int) -> StateEvidence:
        slots = [*node_slots(node), anchor_slot(node, root)]
        answer = self.reader.proof(registry, slots, block)
        name_slot = node_slot(node) + 3
        extra = name_slots(node, answer.slots.get(name_slot, (0, ()))[0])
        if extra:  # a long name: its bytes live elsewhere, prove them too
            slots += extra
            answer = self.reader.proof(registry, slots, block)
        try:
            entries = tuple(SlotEvidence(slot, *answer.slots[slot]) for slot in sorted(set(slots)))
        except KeyError as error:
            raise CaptureError(f"eth_getProof did not prove slot {error}") from None
        return StateEvidence(block, answer.account_proof, entries)


def _from(first: int) -> Iterator[int]:
    number = first
    while True:
        yield number
        number += 1


def run_capturer(
    capturer: EvidenceCapturer, stop: threading.Event, max_backoff: float, poll: float = 1.0
) -> None:
    """The capture loop: capture what is due, back off (doubling up to `max_backoff`) while it
    fails. Nothing else waits for it."""
    run_retrying(
        capturer,
        stop,
        what="evidence capture",
        expected=CaptureError,
        errors=capturer.metrics.evidence_errors,
        max_backoff=max_backoff,
        poll=poll,
    )
