"""Pending transactions: validated on entry, ordered by nonce per sender and by tip across
senders, replaceable by a higher fee, bounded in size. Error texts follow geth's, since
clients (web3.py, our `anchor/`) match on them."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import SignedTransactionAPI, StateAPI
from eth_typing import Address, Hash32

MAX_TX_BYTES = 128 * 1024
MAX_PER_SENDER = 256
MAX_POOL = 16_384
REPLACEMENT_BUMP_PERCENT = 10


class TxRejectedError(Exception):
    """The pool refuses a transaction; the message is what JSON-RPC returns."""


@dataclass
class PooledTx:
    tx: SignedTransactionAPI
    raw: bytes

    @property
    def sender(self) -> Address:
        return Address(self.tx.sender)

    def tip(self, base_fee: int) -> int:
        return min(self.tx.max_priority_fee_per_gas, self.tx.max_fee_per_gas - base_fee)


class TxPool:
    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self._lock = threading.Lock()
        self._by_sender: dict[Address, dict[int, PooledTx]] = {}
        self._by_hash: dict[Hash32, PooledTx] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def add(  # noqa: PLR0912 (one check per geth error)
        self, tx: SignedTransactionAPI, raw: bytes, state: StateAPI, base_fee: int, gas_limit: int
    ) -> Hash32:
        """Validate `tx` against `state` (the head) and keep it. Raises TxRejectedError."""
        if len(raw) > MAX_TX_BYTES:
            raise TxRejectedError("oversized data")
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is None:
            raise TxRejectedError("only replay-protected (EIP-155) transactions allowed over RPC")
        if chain_id != self.chain_id:
            raise TxRejectedError(f"invalid chain id: have {chain_id}, want {self.chain_id}")
        try:
            tx.check_signature_validity()
            sender = Address(tx.sender)
        except Exception:
            raise TxRejectedError("invalid sender") from None
        if tx.gas < tx.intrinsic_gas:
            raise TxRejectedError("intrinsic gas too low")
        if tx.gas > gas_limit:
            raise TxRejectedError("exceeds block gas limit")
        if tx.max_fee_per_gas < tx.max_priority_fee_per_gas:
            raise TxRejectedError("max priority fee per gas higher than max fee per gas")
        if tx.max_fee_per_gas < base_fee:
            raise TxRejectedError(
                f"max fee per gas less than block base fee: maxFeePerGas: {tx.max_fee_per_gas}, "
                f"baseFee: {base_fee}"
            )
        state_nonce = state.get_nonce(sender)
        if tx.nonce < state_nonce:
            raise TxRejectedError(f"nonce too low: next nonce {state_nonce}, tx nonce {tx.nonce}")
        cost = tx.gas * tx.max_fee_per_gas + tx.value
        if state.get_balance(sender) < cost:
            raise TxRejectedError("insufficient funds for gas * price + value")
        with self._lock:
            if tx.hash in self._by_hash:
                raise TxRejectedError("already known")
            queue = self._by_sender.setdefault(sender, {})
            old = queue.get(tx.nonce)
            if old is not None:
                bump = 100 + REPLACEMENT_BUMP_PERCENT
                if (
                    tx.max_fee_per_gas * 100 < old.tx.max_fee_per_gas * bump
                    or tx.max_priority_fee_per_gas * 100 < old.tx.max_priority_fee_per_gas * bump
                ):
                    raise TxRejectedError("replacement transaction underpriced")
                del self._by_hash[old.tx.hash]
            elif len(queue) >= MAX_PER_SENDER:
                # A nonce below the sender's highest is nearer to being executable (it may
                # close a gap that holds the rest back): drop the highest instead, as geth
                # drops the furthest queued transactions first.
                highest = max(queue)
                if tx.nonce > highest:
                    raise TxRejectedError("txpool is full for this sender")
                del self._by_hash[queue.pop(highest).tx.hash]
            elif len(self._by_hash) >= MAX_POOL:
                raise TxRejectedError("txpool is full")
            pooled = PooledTx(tx, raw)
            queue[tx.nonce] = pooled
            self._by_hash[tx.hash] = pooled
        return Hash32(tx.hash)

    def get(self, tx_hash: Hash32) -> PooledTx | None:
        with self._lock:
            return self._by_hash.get(tx_hash)

    def pending_nonce(self, sender: Address, state_nonce: int) -> int:
        """The next nonce counting consecutive pooled transactions (`pending` tag)."""
        with self._lock:
            queue = self._by_sender.get(sender, {})
            nonce = state_nonce
            while nonce in queue:
                nonce += 1
            return nonce

    def executable(
        self, nonce_of: Callable[[Address], int], base_fee: int, limit: int | None = None
    ) -> list[SignedTransactionAPI]:
        """Transactions ready for the next block: each sender's run of consecutive nonces
        from its state nonce, interleaved by highest tip first; at most `limit` of them (a
        block holds few of a large backlog, and ordering all of it would take the time)."""
        with self._lock:
            runs: dict[Address, list[PooledTx]] = {}
            for sender, queue in self._by_sender.items():
                nonce, run = nonce_of(sender), []
                while nonce in queue and queue[nonce].tx.max_fee_per_gas >= base_fee:
                    run.append(queue[nonce])
                    nonce += 1
                if run:
                    runs[sender] = run
        heap = [(-run[0].tip(base_fee), i, sender) for i, (sender, run) in enumerate(runs.items())]
        heapq.heapify(heap)
        ordered: list[SignedTransactionAPI] = []
        positions = dict.fromkeys(runs, 0)
        while heap and (limit is None or len(ordered) < limit):
            _, i, sender = heapq.heappop(heap)
            run = runs[sender]
            ordered.append(run[positions[sender]].tx)
            positions[sender] += 1
            if positions[sender] < len(run):
                heapq.heappush(heap, (-run[positions[sender]].tip(base_fee), i, sender))
        return ordered

    def remove_included(self, nonce_of: Callable[[Address], int]) -> None:
        """Drop what the new head made stale (mined, or overtaken by another's nonce)."""
        with self._lock:
            for sender in list(self._by_sender):
                queue, state_nonce = self._by_sender[sender], nonce_of(sender)
                for nonce in [n for n in queue if n < state_nonce]:
                    del self._by_hash[queue.pop(nonce).tx.hash]
                if not queue:
                    del self._by_sender[sender]

    def drop(self, tx: SignedTransactionAPI) -> None:
        with self._lock:
            pooled = self._by_hash.pop(Hash32(tx.hash), None)
            if pooled is not None:
                queue = self._by_sender.get(pooled.sender, {})
                queue.pop(tx.nonce, None)
                if not queue:
                    self._by_sender.pop(pooled.sender, None)

    def raw_transactions(self) -> list[bytes]:
        with self._lock:
            return [p.raw for p in self._by_hash.values()]
