"""Block production under EIP-225: seal on time when in turn, after a period's grace and a
random delay when out of turn, never twice within `floor(N/2)+1` blocks, and carry this
validator's votes."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from eth.abc import BlockAPI, SignedTransactionAPI
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils.hexadecimal import encode_hex

from devnet.chain import ChainStore, Vote
from devnet.txpool import TxPool

log = logging.getLogger("devnet.sealer")
WIGGLE_SECONDS = 0.5  # per signer, as geth's wiggleTime
MIN_TX_GAS = 21_000
# Share of the period a block may take to seal: executing its transactions and finishing it
# (roots, seal, write). Each peer then spends about as long again importing it, and the next
# in-turn signer must have imported it before it can build on it, so sealing plus importing
# stays within the period with room for the CPU the other work takes (measured: 0.35 s to
# seal and 0.38 s to import a block of ~120 anchors at 1 s; bench/RESULTS.md).
BUILD_SHARE_OF_PERIOD = 0.35
# In turn, the block should be out by its timestamp + BUILD_SHARE_OF_PERIOD: a sealer that
# starts late (its parent came late, or the CPU is shared) seals a smaller block, down to
# this share, so the next signer catches up instead of every later block slipping too.
MIN_BUILD_SHARE_OF_PERIOD = 0.1
# An out-of-turn signer first leaves the in-turn signer this many periods beyond the slot
# for its block to arrive and be imported, then waits its random wiggle. With py-evm a
# loaded block takes a good part of a period to seal and again to import, so without the
# grace an out-of-turn signer sealed a competing block at most heights under load.
OUT_OF_TURN_GRACE_PERIODS = 1.0


class Sealer:
    def __init__(
        self,
        store: ChainStore,
        pool: TxPool,
        key: PrivateKey,
        on_sealed: Callable[[BlockAPI], None],
        is_syncing: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.pool = pool
        self.key = key
        self.address = Address(key.public_key.to_canonical_address())
        self.on_sealed = on_sealed
        self.is_syncing = is_syncing
        self.proposals: dict[Address, Vote] = {}
        self._stop = threading.Event()
        self._head_changed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)
        store.listeners.append(lambda change: self._head_changed.set())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._head_changed.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._seal_next()
            except Exception:
                log.exception("sealing failed; retrying")
                self._stop.wait(0.5)

    def _seal_next(self) -> None:
        self._head_changed.clear()
        parent = self.store.head()
        signers = self.store.signers(parent)
        if self.address not in signers or self.is_syncing():
            self._head_changed.wait(1.0)
            return
        if self.address in self.store.recent_signers(parent, len(signers) // 2 + 1):
            self._head_changed.wait(1.0)  # signed recently: wait for others
            return
        number = parent.block_number + 1
        in_turn = signers.index(self.address) == number % len(signers)
        timestamp = max(parent.timestamp + self.store.genesis.period, int(time.time()))
        delay = timestamp - time.time()
        if not in_turn:
            delay += OUT_OF_TURN_GRACE_PERIODS * self.store.genesis.period
            delay += random.uniform(0, (len(signers) // 2 + 1) * WIGGLE_SECONDS)  # noqa: S311
        if delay > 0 and self._head_changed.wait(delay):
            return  # someone else sealed first: start over on the new head
        if self._stop.is_set():
            return
        candidates = self._candidates()
        period = self.store.genesis.period
        budget = BUILD_SHARE_OF_PERIOD * period
        if in_turn:  # out of turn it is late anyway: a fallback block gets the full budget
            budget = max(MIN_BUILD_SHARE_OF_PERIOD * period, timestamp + budget - time.time())
        block = self.store.seal_block(
            self.key,
            parent.hash,
            timestamp,
            candidates,
            self._vote(signers),
            self._drop_invalid,
            build_seconds=budget,
        )
        if block is None:
            return
        timing = self.store.last_seal
        log.info(
            "sealed block %d %s (%s, %d txs, %.2f s after its timestamp; "
            "lock wait %.2f s, execute %.2f s, finish %.2f s)",
            block.number, encode_hex(block.hash)[:18], "in turn" if in_turn else "out of turn",
            len(block.transactions), time.time() - timestamp,
            *((timing.lock_wait, timing.execute, timing.finish) if timing else (0, 0, 0)),
        )  # fmt: skip
        self.on_sealed(block)

    def _candidates(self) -> list[SignedTransactionAPI]:
        # Under the chain lock: the head's state must not change while nonces are read.
        with self.store.locked():
            view = self.store.head_view()
            return self.pool.executable(
                lambda sender: int(view.state.get_nonce(sender)),
                view.next_base_fee,
                limit=view.header.gas_limit // MIN_TX_GAS,  # more than a block can hold
            )

    def _vote(self, signers: list[Address]) -> Vote | None:
        """One open proposal, chosen at random as geth does; fulfilled ones are skipped."""
        # A copy: the RPC thread may change proposals while this runs.
        proposals = list(self.proposals.values())
        open_votes = [v for v in proposals if (v.subject in signers) != v.authorize]
        return random.choice(open_votes) if open_votes else None  # noqa: S311

    def _drop_invalid(self, tx: SignedTransactionAPI, reason: str) -> None:
        if "nonce" in reason.lower():
            return  # a nonce gap may close later; stale nonces are pruned per block
        log.info("dropping transaction %s: %s", encode_hex(tx.hash), reason)
        self.pool.drop(tx)
