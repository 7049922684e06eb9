"""Signing and sending transactions from one local key: nonces, EIP-1559 fees, receipts.

Nonces are handed out locally (under a lock) so that a node can have several anchors in
flight without asking the chain each time; the counter re-reads the chain's pending
count whenever the engine says a nonce is stale, and on `resync_nonce`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from anchor.chain import rpc_message, translate_transport_errors
from anchor.errors import (
    TransactionRejectedError,
    TransactionRevertedError,
    TransactionTimeoutError,
)
from anchor.models import TxResult

# An estimate is exact for the state it ran on; a margin covers state that changes
# before inclusion (a first write to a slot costs more than a later one).
GAS_MARGIN_NUMERATOR = 5
GAS_MARGIN_DENOMINATOR = 4
FALLBACK_PRIORITY_FEE = Web3.to_wei(1, "gwei")
DEFAULT_MAX_FEE_PER_GAS = Web3.to_wei(1000, "gwei")
"""A guard, not a price: a private chain's base fee stays far below it (an anchor of ~60k gas
costs at most 0.06 ether under it), but a fee spike (spam filling blocks, a misconfigured
engine) must not drain an anchoring key that sends one transaction per head."""

RevertDecoder = Callable[[ContractLogicError], Exception]
ContractCall = ContractFunction | ContractConstructor


class FeeCapExceededError(TransactionRejectedError):
    """The chain asks more per gas than the configured cap; nothing was sent."""

    def __init__(self, needed: int, cap: int) -> None:
        super().__init__(
            f"the chain's base fee plus tip is {_gwei_text(needed)} gwei per gas, above the "
            f"configured cap of {_gwei_text(cap)} gwei (anchor_max_fee_gwei); not sending. "
            "Wait for the base fee to fall, or raise the cap if this price is expected"
        )
        self.needed = needed
        self.cap = cap


def gwei(amount: float) -> int:
    """`amount` gwei in wei."""
    return int(Web3.to_wei(amount, "gwei"))


def _gwei_text(wei: int) -> str:
    return f"{wei / 10**9:.9f}".rstrip("0").rstrip(".")


class TransactionSender:
    """Sends contract transactions from `account` and waits for their receipts.

    `max_fee_per_gas` (wei; None: no cap) bounds what any transaction offers: the usual
    offer (twice the base fee plus the tip) is lowered to it, and a transaction is refused
    with `FeeCapExceededError` while the base fee plus the tip alone exceeds it."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        decode_revert: RevertDecoder,
        receipt_timeout: float = 60.0,
        poll_interval: float = 0.1,
        max_fee_per_gas: int | None = DEFAULT_MAX_FEE_PER_GAS,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decode_revert = decode_revert
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.max_fee_per_gas = max_fee_per_gas
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    def transact(self, call: ContractCall) -> TxResult:
        """Estimate, sign, send and wait; reverts become the registry's own exceptions."""
        tx_hash = self.send(call)
        return self.wait(tx_hash)

    def send(self, call: ContractCall, gas_limit: int | None = None) -> str:
        """Sign and submit `call`; return the transaction hash without waiting.

        With `gas_limit` the estimate is skipped: needed for a transaction that is only
        valid after earlier ones still in flight (an estimate runs against the latest
        block and would revert)."""
        with translate_transport_errors(self._endpoint()):
            try:
                gas = (
                    gas_limit
                    if gas_limit is not None
                    else call.estimate_gas({"from": self.account.address})
                    * GAS_MARGIN_NUMERATOR
                    // GAS_MARGIN_DENOMINATOR
                )
            except ContractLogicError as error:
                raise self.decode_revert(error) from None
            except Web3RPCError as error:
                raise TransactionRejectedError(
                    f"engine cannot estimate gas: {rpc_message(error)}"
                ) from None
            max_fee, priority_fee = self._fees()
            for attempt in range(2):
                with self._lock:
                    nonce = self._take_nonce(refresh=attempt > 0)
                    params: TxParams = {
                        "from": self.account.address,
                        "nonce": Nonce(nonce),
                        "gas": gas,
                        "chainId": self._chain(),
                        "maxFeePerGas": Wei(max_fee),
                        "maxPriorityFeePerGas": Wei(priority_fee),
                    }
                    tx = call.build_transaction(params)
                    signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
                    try:
                        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                    except Web3RPCError as error:
                        if _is_already_known(error) or (
                            _is_stale_nonce(error) and self._known(signed.hash)
                        ):
                            # This very transaction reached an engine before: a request that
                            # failed over after the first endpoint had taken it. It is sent.
                            return "0x" + bytes(signed.hash).hex()
                        self._release_nonce(nonce)
                        if attempt == 0 and _is_stale_nonce(error):
                            continue
                        raise TransactionRejectedError(
                            f"engine refused transaction: {rpc_message(error)}"
                        ) from None
                return "0x" + bytes(tx_hash).hex()
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, tx_hash: str) -> TxResult:
        """Wait for the receipt; a reverted transaction raises its decoded reason."""
        with translate_transport_errors(self._endpoint()):
            try:
                receipt: TxReceipt = self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=self.receipt_timeout, poll_latency=self.poll_interval
                )
            except TimeExhausted:
                raise TransactionTimeoutError(tx_hash, self.receipt_timeout) from None
            if receipt["status"] != 1:
                raise self._revert_reason(tx_hash, receipt)
            return TxResult(
                tx_hash=tx_hash,
                block_number=receipt["blockNumber"],
                block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                gas_used=receipt["gasUsed"],
            )

    def _revert_reason(self, tx_hash: str, receipt: TxReceipt) -> Exception:
        """Replay a mined, reverted transaction as a call on its block's state to learn why.

        The state after its block is what it collided with in practice (a competing
        transaction from the same key earlier in that block), so the reason is accurate for
        the registry's rules."""
        tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        replay: TxParams = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
        }
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"])
        except ContractLogicError as error:
            return self.decode_revert(error)
        return TransactionRevertedError(
            f"transaction {tx_hash} reverted in block {receipt['blockNumber']}"
        )

    def _fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for EIP-1559, within `max_fee_per_gas`."""
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        try:
            priority = int(self.w3.eth.max_priority_fee)
        except Web3RPCError:
            priority = FALLBACK_PRIORITY_FEE
        # Twice the base fee survives six consecutive full blocks of base-fee growth.
        offer = 2 * base_fee + priority
        cap = self.max_fee_per_gas
        if cap is None or offer <= cap:
            return offer, priority
        if base_fee + priority > cap:
            raise FeeCapExceededError(base_fee + priority, cap)
        return cap, priority

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _take_nonce(self, *, refresh: bool) -> int:
        if self._next_nonce is None or refresh:
            self._next_nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        nonce = self._next_nonce
        self._next_nonce = nonce + 1
        return nonce

    def resync_nonce(self) -> None:
        """Forget the local nonce counter; the next send reads the chain's pending count.

        For when sent transactions are gone (a reorg dropped them, or a failover reached an
        endpoint that never saw them): a counter past them would leave a nonce gap that every
        later transaction waits behind forever."""
        with self._lock:
            self._next_nonce = None

    def _known(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def _release_nonce(self, nonce: int) -> None:
        # Only the newest nonce can be given back without leaving a gap.
        if self._next_nonce == nonce + 1:
            self._next_nonce = nonce

    def _endpoint(self) -> str:
        provider: Any = self.w3.provider
        return str(getattr(provider, "endpoint_uri", "the JSON-RPC endpoint"))


def _is_already_known(error: Web3RPCError) -> bool:
    # geth "already known", anvil "transaction already imported", Besu "Known transaction"
    message = rpc_message(error).lower()
    return (
        "already known" in message
        or "already imported" in message
        or message.startswith("known transaction")
    )


def _is_stale_nonce(error: Web3RPCError) -> bool:
    message = rpc_message(error).lower()
    return "nonce too low" in message or "nonce is too low" in message
