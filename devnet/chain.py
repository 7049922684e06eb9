"""One validator's copy of the chain: py-evm under Clique rules, on LevelDB.

All access goes through one lock: py-evm is not thread-safe, and the JSON-RPC server, the
sealer and the peer sync run on their own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import plyvel
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    VirtualMachineAPI,
)
from eth.chains.base import Chain
from eth.consensus.clique._utils import get_block_signer, sign_block_header
from eth.consensus.clique.constants import NONCE_AUTH, NONCE_DROP, SIGNATURE_LENGTH
from eth.consensus.clique.datatypes import Snapshot
from eth.constants import GENESIS_PARENT_HASH
from eth.db.chain import ChainDB
from eth.db.chain_gaps import GapChange
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound, TransactionNotFound
from eth.vm.chain_context import ChainContext
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.exceptions import ValidationError
from eth_utils.hexadecimal import encode_hex

from devnet.encoding import base_fee
from devnet.genesis import EXTRA_VANITY, Genesis, chain_class, sealing_vm_class
from devnet.leveldb import LevelDB

log = logging.getLogger("devnet.chain")
ZERO_ADDRESS = Address(b"\0" * 20)
SIGNER_CACHE_SIZE = 4096
# Finishing a block (transaction and receipt tries, state root, write) costs about as much
# again as executing its transactions; the estimate per transaction starts here and follows
# what blocks of at least FINISH_SAMPLE_MIN_TXS transactions measured.
INITIAL_FINISH_SECONDS_PER_TX = 0.001
FINISH_SAMPLE_MIN_TXS = 20


class BlockRejectedError(Exception):
    """A block failed validation; the message says which rule."""


class UnknownParentError(BlockRejectedError):
    """The block's parent is not known here (yet): sync from the peer that sent it."""


class DevnetChainDB(ChainDB):
    """py-evm's ChainDB without a wedge in its gap bookkeeping.

    py-evm tracks "gaps" (block numbers below the highest one it stored that it holds no
    header for) and moves the tip of that range up for *every* header it stores, canonical or
    not. Under Clique a lighter branch can be longer than the canonical one (out-of-turn
    blocks weigh 1, in-turn 2): store canonical 1a-2a (weight 4) and a side branch 1b-2b-3b
    (weight 3), and the tip says block 3 is held. The canonical block 3a then takes the
    "already held: replacing an uncle?" path, which looks up the canonical header #3, finds
    none and raises HeaderNotFound: block 3a and every later block on the canonical branch
    are refused, from peers, from sync and from this node's own sealer, for good. Under load
    this froze one validator of three while the other two went on (bench/devnet, item 2 of
    "The chain at national scale"). No header is missing in this database (a block is only
    stored after its parent), so with no canonical header at that number there is no uncle to
    replace and nothing to reopen."""

    @classmethod
    def _update_header_chain_gaps(
        cls, db: Any, persisting_header: BlockHeaderAPI, base_gaps: Any = None
    ) -> Any:
        try:
            return super()._update_header_chain_gaps(db, persisting_header, base_gaps)
        except HeaderNotFound:
            # Only the canonical lookup of the NoChange path raises this: nothing was written.
            gaps = base_gaps if base_gaps is not None else cls._get_header_chain_gaps(db)
            return GapChange.NoChange, gaps


@dataclass(frozen=True)
class Vote:
    """A signer-set proposal this validator votes for in the blocks it seals."""

    subject: Address
    authorize: bool


@dataclass(frozen=True)
class HeadView:
    """The head with a read-only state and the next block's base fee, cached per head:
    every incoming transaction is checked against it."""

    header: BlockHeaderAPI
    state: StateAPI
    next_base_fee: int


@dataclass(frozen=True)
class SealTiming:
    """Where the last `seal_block` spent its time (seconds): waiting for the chain lock,
    executing transactions, and finishing (roots, seal, write)."""

    lock_wait: float
    execute: float
    finish: float


@dataclass(frozen=True)
class CanonicalChange:
    """Blocks that became canonical, and blocks that stopped being canonical (a reorg)."""

    added: tuple[BlockAPI, ...]
    removed: tuple[BlockAPI, ...]


class ChainStore:
    def __init__(self, genesis: Genesis, db_path: Path) -> None:
        self.genesis = genesis
        try:
            self.db = LevelDB(db_path)
        except plyvel.IOError as error:
            raise BlockRejectedError(
                f"cannot open the chain data in {db_path} ({error}); is this node already running?"
            ) from None
        base = chain_class(genesis)
        self.chain_cls: type[Chain] = type(base.__name__, (base,), {"chaindb_class": DevnetChainDB})
        self.lock = threading.RLock()
        self.listeners: list[Callable[[CanonicalChange], None]] = []
        self._signer_cache: OrderedDict[Hash32, Address] = OrderedDict()
        self._sealing_vms: dict[Address, type[VirtualMachineAPI]] = {}
        self._head_view: HeadView | None = None
        self._tx_builder: Any = None
        self._finish_seconds_per_tx = INITIAL_FINISH_SECONDS_PER_TX
        self.last_seal: SealTiming | None = None
        expected = Hash32(genesis.block_hash())
        try:
            self.chain = self.chain_cls(self.db)
            stored = self.chain.get_canonical_block_hash(BlockNumber(0))
        except (CanonicalHeadNotFound, HeaderNotFound):
            # py-evm annotates from_genesis as returning BaseChain; it returns cls(...).
            self.chain = cast(
                Chain,
                self.chain_cls.from_genesis(self.db, genesis.header_params(), genesis.state()),
            )
            stored = self.chain.get_canonical_block_hash(BlockNumber(0))
        self.genesis_hash: Hash32 = expected
        if stored != expected:
            raise BlockRejectedError(
                f"{db_path} holds chain {encode_hex(stored)}, "
                f"but the genesis file describes {encode_hex(expected)}"
            )

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def locked(self) -> Iterator[Chain]:
        with self.lock:
            yield self.chain

    # ------------------------------------------------------------------ reads

    def head(self) -> BlockHeaderAPI:
        with self.lock:
            return self.chain.get_canonical_head()

    def head_view(self) -> HeadView:
        with self.lock:
            head = self.chain.get_canonical_head()
            if self._head_view is None or self._head_view.header.hash != head.hash:
                vm = self.chain.get_vm(head)
                next_header = vm.create_header_from_parent(head)
                self._head_view = HeadView(head, vm.state, base_fee(next_header))
            return self._head_view

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """Decode a raw (typed or legacy) transaction; raises on malformed input."""
        if self._tx_builder is None:
            self._tx_builder = self.chain.get_vm_class_for_block_number(
                BlockNumber(1)
            ).get_transaction_builder()
        tx: SignedTransactionAPI = self._tx_builder.decode(raw)
        return tx

    def total_difficulty(self, block_hash: Hash32) -> int:
        with self.lock:
            return self.chain.chaindb.get_score(block_hash)

    def has_block(self, block_hash: Hash32) -> bool:
        with self.lock:
            return self.chain.chaindb.header_exists(block_hash)

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        with self.lock:
            try:
                return self.chain.chaindb.get_canonical_block_header_by_number(BlockNumber(number))
            except HeaderNotFound:
                return None

    def header_by_hash(self, block_hash: Hash32) -> BlockHeaderAPI | None:
        with self.lock:
            try:
                return self.chain.get_block_header_by_hash(block_hash)
            except HeaderNotFound:
                return None

    def block_by_header(self, header: BlockHeaderAPI) -> BlockAPI:
        with self.lock:
            return self.chain.get_block_by_header(header)

    def receipts(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        with self.lock:
            vm_class = self.chain.get_vm_class(header)
            return self.chain.chaindb.get_receipts(header, vm_class.get_receipt_builder())

    def transaction_location(self, tx_hash: Hash32) -> tuple[BlockHeaderAPI, int] | None:
        """(canonical header, index) of a mined transaction, or None."""
        with self.lock:
            try:
                number, index = self.chain.chaindb.get_transaction_index(tx_hash)
            except (TransactionNotFound, KeyError):
                return None
            header = self.header_by_number(number)
            return None if header is None else (header, index)

    def snapshot(self, header: BlockHeaderAPI) -> Snapshot:
        with self.lock:
            manager = self.chain.consensus_context.snapshot_manager  # type: ignore[attr-defined]
            snapshot: Snapshot = manager.get_or_create_snapshot(header.block_number, header.hash)
            return snapshot

    def signers(self, header: BlockHeaderAPI) -> list[Address]:
        return list(self.snapshot(header).get_sorted_signers())

    def signer_of(self, header: BlockHeaderAPI) -> Address:
        """The sealer of `header` (ecrecover, cached: the recent-signer rule asks often)."""
        with self.lock:
            cached = self._signer_cache.get(header.hash)
            if cached is not None:
                return cached
            signer = get_block_signer(header)
            self._signer_cache[header.hash] = signer
            if len(self._signer_cache) > SIGNER_CACHE_SIZE:
                self._signer_cache.popitem(last=False)
            return signer

    def recent_signers(self, parent: BlockHeaderAPI, limit: int) -> list[Address]:
        """Signers of `parent` and its ancestors that still block a signer: the newest
        `limit - 1` blocks (EIP-225: one block per `floor(N/2)+1` per signer)."""
        recent: list[Address] = []
        header: BlockHeaderAPI | None = parent
        while header is not None and header.block_number > 0 and len(recent) < limit - 1:
            recent.append(self.signer_of(header))
            header = self.header_by_hash(header.parent_hash)
        return recent

    # ------------------------------------------------------------------ writes

    def import_block(self, block: BlockAPI) -> bool:
        """Validate and store a peer's block; True if it was new. Raises BlockRejectedError."""
        with self.lock:
            if self.has_block(block.hash):
                return False
            parent = self.header_by_hash(block.header.parent_hash)
            if parent is None:
                raise UnknownParentError(
                    f"block {block.number} {encode_hex(block.hash)}: parent unknown"
                )
            self.check_clique_rules(block.header, parent)
            started = time.monotonic()
            try:
                result = self.chain.import_block(block)
            except Exception as error:  # py-evm raises many types for bad blocks
                raise BlockRejectedError(
                    f"block {block.number} {encode_hex(block.hash)}: {error}"
                ) from None
            log.log(
                logging.INFO if block.transactions else logging.DEBUG,  # not every empty one
                "imported block %d %s (%d txs) in %.2f s",
                block.number, encode_hex(block.hash)[:18], len(block.transactions),
                time.monotonic() - started,
            )  # fmt: skip
            added, removed = result.new_canonical_blocks, result.old_canonical_blocks
            if not added:
                added, removed = self._prefer_on_tie(block.header)
            self._publish(added, removed)
            return True

    def _prefer_on_tie(
        self, header: BlockHeaderAPI
    ) -> tuple[tuple[BlockAPI, ...], tuple[BlockAPI, ...]]:
        """Make `header` the head if it ties with the head on total difficulty and has the
        lower hash. py-evm keeps the first of equal branches, so the halves of a healed
        even split would each keep theirs; one rule on every node makes them converge."""
        db = self.chain.chaindb
        head = self.chain.get_canonical_head()
        if db.get_score(header.hash) != db.get_score(head.hash) or header.hash >= head.hash:
            return (), ()
        with db.db.atomic_batch() as batch:
            new_headers, old_headers = db._set_as_canonical_chain_head(  # type: ignore[attr-defined]
                batch, header, GENESIS_PARENT_HASH
            )
            for canonical in new_headers:
                tx_hashes = db._get_block_transaction_hashes(batch, canonical)  # type: ignore[attr-defined]
                for index, tx_hash in enumerate(tx_hashes):
                    db._add_transaction_to_canonical_chain(batch, tx_hash, canonical, index)  # type: ignore[attr-defined]
        log.info("equal total difficulty: switched to the branch with the lower head hash")
        return (
            tuple(self.chain.get_block_by_header(h) for h in new_headers),
            tuple(self.chain.get_block_by_header(h) for h in old_headers),
        )

    def check_clique_rules(self, header: BlockHeaderAPI, parent: BlockHeaderAPI) -> None:
        """The EIP-225 rules py-evm leaves out: block period and the recent-signer rule."""
        where = f"block {header.block_number} {encode_hex(header.hash)}"
        if header.timestamp < parent.timestamp + self.genesis.period:
            raise BlockRejectedError(
                f"{where}: sealed before the {self.genesis.period} s period elapsed"
            )
        try:
            signer = self.signer_of(header)
        except Exception as error:
            raise BlockRejectedError(f"{where}: unreadable seal: {error}") from None
        signers = self.signers(parent)
        if signer not in signers:
            raise BlockRejectedError(
                f"{where}: sealed by {encode_hex(signer)}, not an authorised signer"
            )
        if signer in self.recent_signers(parent, len(signers) // 2 + 1):
            raise BlockRejectedError(f"{where}: {encode_hex(signer)} signed too recently")
        in_turn = signers.index(signer) == header.block_number % len(signers)
        if header.difficulty != (2 if in_turn else 1):
            raise BlockRejectedError(f"{where}: difficulty {header.difficulty} does not match turn")

    def seal_block(
        self,
        key: PrivateKey,
        parent_hash: Hash32,
        timestamp: int,
        transactions: Iterable[SignedTransactionAPI],
        vote: Vote | None,
        on_invalid: Callable[[SignedTransactionAPI, str], None],
        build_seconds: float = float("inf"),
    ) -> BlockAPI | None:
        """Build a block on `parent_hash` with as many of `transactions` as fit in gas and
        in `build_seconds`, seal and store it; None if the head moved on meanwhile.

        The time budget keeps blocks on the period under load: every peer must execute
        the block before it can build the next one. It covers the whole seal, the state
        and trie roots and the write included (about as long again as executing the
        transactions), and starts once the chain lock is held, so time spent waiting for an
        import does not turn into an empty block."""
        signer = Address(key.public_key.to_canonical_address())
        asked = time.monotonic()
        with self.lock:
            started = time.monotonic()
            deadline = started + build_seconds
            parent = self.chain.get_canonical_head()
            if parent.hash != parent_hash:
                return None
            number = parent.block_number + 1
            signers = self.signers(parent)
            in_turn = signers.index(signer) == number % len(signers)
            checkpoint = number % self.genesis.epoch == 0
            coinbase, nonce = ZERO_ADDRESS, NONCE_DROP
            if vote is not None and not checkpoint:
                coinbase, nonce = vote.subject, (NONCE_AUTH if vote.authorize else NONCE_DROP)
            extra = (
                EXTRA_VANITY + (b"".join(signers) if checkpoint else b"") + b"\0" * SIGNATURE_LENGTH
            )
            vm_class = self._sealing_vm(signer)
            template = vm_class.create_header_from_parent(
                parent,
                coinbase=coinbase,
                nonce=nonce,
                difficulty=2 if in_turn else 1,
                timestamp=timestamp,
                extra_data=extra,
                gas_limit=parent.gas_limit,
            )
            vm = vm_class(
                header=template,
                chaindb=self.chain.chaindb,
                chain_context=ChainContext(self.genesis.chain_id),
                consensus_context=self.chain.consensus_context,
            )
            header = template
            included: list[SignedTransactionAPI] = []
            receipts: list[ReceiptAPI] = []
            finish_per_tx = self._finish_seconds_per_tx
            for tx in transactions:
                # Room left for this transaction and for finishing the block with it.
                if time.monotonic() + finish_per_tx * (len(included) + 1) > deadline:
                    break
                if header.gas_used + tx.gas > header.gas_limit:
                    continue
                try:
                    receipt, _ = vm.apply_transaction(header, tx)
                except ValidationError as error:  # raised before any state change
                    on_invalid(tx, str(error))
                    continue
                header = vm.add_receipt_to_header(header, receipt)
                included.append(tx)
                receipts.append(receipt)
            executed = time.monotonic()
            block = vm.set_block_transactions_and_withdrawals(
                vm.get_block(), header, included, receipts
            )
            finalized = vm.finalize_block(block).block
            sealed = finalized.copy(header=sign_block_header(finalized.header, key))
            self.check_clique_rules(sealed.header, parent)
            new, old = self.chain.persist_block(sealed)[1:]
            finished = time.monotonic()
            if len(included) >= FINISH_SAMPLE_MIN_TXS:
                per_tx = (finished - executed) / len(included)
                self._finish_seconds_per_tx += (per_tx - self._finish_seconds_per_tx) / 4
            self.last_seal = SealTiming(
                lock_wait=started - asked,
                execute=executed - started,
                finish=finished - executed,
            )
            self._publish(new, old)
            return sealed

    def _sealing_vm(self, signer: Address) -> type[VirtualMachineAPI]:
        if signer not in self._sealing_vms:
            self._sealing_vms[signer] = sealing_vm_class(self.chain_cls, signer)
        return self._sealing_vms[signer]

    def _publish(self, added: tuple[BlockAPI, ...], removed: tuple[BlockAPI, ...]) -> None:
        if not added and not removed:
            return
        change = CanonicalChange(added, removed)
        if removed:
            log.info("reorg: %d blocks replaced by %d", len(removed), len(added))
        for listener in self.listeners:
            listener(change)
