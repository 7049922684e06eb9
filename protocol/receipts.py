"""Transaction receipts as a block commits to them, and proofs of one against `receiptsRoot`.

A block's receipts trie maps rlp(index) to the receipt's consensus encoding: the RLP list
[status or post-state root, cumulative gas, logs bloom, logs] for a legacy transaction, the
type byte then that RLP for an EIP-2718 typed one (type 1, 2, and the later types of the same
shape). A proof of one receipt against the header's `receiptsRoot` shows, with nothing but the
header, that the registry emitted a `HeadAnchored` log in that block. Building a proof needs
all the block's receipts (`eth_getBlockReceipts`, any engine); checking it needs none.
No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import rlp
from eth_utils.address import to_checksum_address
from rlp.exceptions import DecodingError

from protocol.errors import EvidenceError
from protocol.mpt import MptProofError, build_proof, verify_proof
from protocol.registry_abi import HeadAnchoredLog, decode_head_anchored

LEGACY: Final = 0
TYPED: Final = frozenset({1, 2, 3, 4})
"""EIP-2718 receipt types whose payload has the legacy receipt's shape (access list, dynamic
fee, blob, set-code transactions)."""
_STATUS: Final = {b"": 0, b"\x01": 1}


class ReceiptError(EvidenceError):
    """A receipt that does not decode, or a receipt proof that does not prove it. `field`
    names the part at fault (``receipt.proof[2]``, ``receipt.logs[0].topics``)."""


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt's consensus fields. `status` is 1 or 0 (None before Byzantium, when the
    receipt held the post-transaction state root `post_state` instead)."""

    type: int
    status: int | None
    cumulative_gas_used: int
    logs_bloom: bytes
    logs: tuple[Log, ...]
    post_state: bytes | None = None

    def __post_init__(self) -> None:
        if self.type != LEGACY and self.type not in TYPED:
            raise ReceiptError("receipt.type", f"unknown receipt type {self.type}")
        if (self.status is None) == (self.post_state is None):
            raise ReceiptError("receipt.status", "either a status or a post-state root")
        if self.status not in (None, 0, 1):
            raise ReceiptError("receipt.status", f"0 or 1, got {self.status}")
        if self.post_state is not None and len(self.post_state) != 32:
            raise ReceiptError("receipt.root", "a post-state root is 32 bytes")
        if len(self.logs_bloom) != 256:
            raise ReceiptError("receipt.logsBloom", f"{len(self.logs_bloom)} bytes, not 256")
        for index, log in enumerate(self.logs):
            if len(log.address) != 20:
                raise ReceiptError(f"receipt.logs[{index}].address", "not 20 bytes")
            if len(log.topics) > 4 or any(len(t) != 32 for t in log.topics):
                raise ReceiptError(f"receipt.logs[{index}].topics", "0 to 4 topics of 32 bytes")

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    def encode(self) -> bytes:
        """The consensus encoding: what the receipts trie holds under rlp(index)."""
        if self.post_state is not None:
            outcome = self.post_state
        else:
            outcome = b"\x01" if self.status else b""  # geth's RLP of success and failure
        logs = [[log.address, list(log.topics), log.data] for log in self.logs]
        payload: bytes = rlp.encode([outcome, self.cumulative_gas_used, self.logs_bloom, logs])
        return payload if self.type == LEGACY else bytes([self.type]) + payload


def receipt_key(index: int) -> bytes:
    """The receipts (and transactions) trie's key of the `index`-th transaction: rlp(index)."""
    if index < 0:
        raise ReceiptError("receipt.index", f"a transaction index, got {index}")
    key: bytes = rlp.encode(index)
    return key


def decode_receipt(raw: bytes, field: str = "receipt") -> Receipt:
    """A receipt from its consensus encoding (typed envelope or legacy RLP)."""
    if not raw:
        raise ReceiptError(field, "empty")
    kind, payload = (LEGACY, raw) if raw[0] >= 0xC0 else (raw[0], raw[1:])
    try:
        items = rlp.decode(payload)
    except DecodingError as error:
        raise ReceiptError(field, f"not RLP: {error}") from None
    if not isinstance(items, list) or len(items) != 4:
        raise ReceiptError(field, "not a list of status, gas, bloom and logs")
    outcome, gas, bloom, logs = items
    if not isinstance(outcome, bytes) or (outcome not in _STATUS and len(outcome) != 32):
        raise ReceiptError(f"{field}.status", f"neither a status nor a state root: {outcome!r}")
    if not isinstance(gas, bytes) or gas[:1] == b"\x00" or not isinstance(bloom, bytes):
        raise ReceiptError(f"{field}.cumulativeGasUsed", "not a canonical integer")
    if not isinstance(logs, list):
        raise ReceiptError(f"{field}.logs", "not a list")
    receipt = Receipt(
        type=kind,
        status=_STATUS.get(outcome),
        cumulative_gas_used=int.from_bytes(gas, "big"),
        logs_bloom=bloom,
        logs=tuple(_decode_log(log, f"{field}.logs[{i}]") for i, log in enumerate(logs)),
        post_state=outcome if outcome not in _STATUS else None,
    )
    if receipt.encode() != raw:
        raise ReceiptError(field, "not the canonical encoding of a receipt")
    return receipt


def _decode_log(log: object, field: str) -> Log:
    if not isinstance(log, list) or len(log) != 3:
        raise ReceiptError(field, "not a list of address, topics and data")
    address, topics, data = log
    if not isinstance(address, bytes) or not isinstance(data, bytes):
        raise ReceiptError(field, "address and data must be bytes")
    if not isinstance(topics, list) or not all(isinstance(t, bytes) for t in topics):
        raise ReceiptError(f"{field}.topics", "not a list of topics")
    return Log(address, tuple(topics), data)


def receipt_from_rpc(receipt: Mapping[str, object], field: str = "receipt") -> Receipt:
    """A receipt from a JSON-RPC receipt object (`eth_getTransactionReceipt`,
    `eth_getBlockReceipts`); the fields the block does not commit to are ignored."""
    kind = _quantity(receipt.get("type", "0x0"), f"{field}.type")
    status = receipt.get("status")
    logs = receipt.get("logs")
    if not isinstance(logs, list):
        raise ReceiptError(f"{field}.logs", "missing or not a list")
    return Receipt(
        type=kind,
        status=None if status is None else _quantity(status, f"{field}.status"),
        cumulative_gas_used=_quantity(
            receipt.get("cumulativeGasUsed"), f"{field}.cumulativeGasUsed"
        ),
        logs_bloom=_data(receipt.get("logsBloom"), f"{field}.logsBloom"),
        logs=tuple(_log_from_rpc(log, f"{field}.logs[{i}]") for i, log in enumerate(logs)),
        post_state=None if status is not None else _data(receipt.get("root"), f"{field}.root"),
    )


def _log_from_rpc(log: object, field: str) -> Log:
    if not isinstance(log, dict):
        raise ReceiptError(field, "not a log object")
    topics = log.get("topics")
    if not isinstance(topics, list):
        raise ReceiptError(f"{field}.topics", "missing or not a list")
    return Log(
        _data(log.get("address"), f"{field}.address"),
        tuple(_data(t, f"{field}.topics[{i}]") for i, t in enumerate(topics)),
        _data(log.get("data"), f"{field}.data"),
    )


def _data(value: object, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ReceiptError(field, f"not 0x-prefixed hex: {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ReceiptError(field, f"not hex: {value!r}") from None


def _quantity(value: object, field: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ReceiptError(field, f"not a 0x-prefixed quantity: {value!r}")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise ReceiptError(field, f"not a hex quantity: {value!r}") from None


# ---------------------------------------------------------------------- proofs


def build_receipt_proof(
    receipts: Sequence[Receipt], index: int, receipts_root: bytes
) -> list[bytes]:
    """The proof of the `index`-th receipt against `receipts_root`, built from all the block's
    receipts in order. Raises ReceiptError when they do not make that root (a receipt missing,
    extra, or altered: the caller fetched the wrong block's, or an engine answered wrongly)."""
    if not 0 <= index < len(receipts):
        raise ReceiptError("receipt.index", f"{index} is not below the {len(receipts)} receipts")
    items = {receipt_key(i): r.encode() for i, r in enumerate(receipts)}
    root, proof = build_proof(items, receipt_key(index))
    if root != receipts_root:
        raise ReceiptError(
            "receipts",
            f"the {len(receipts)} receipts make root 0x{root.hex()}, "
            f"not the header's receiptsRoot 0x{receipts_root.hex()}",
        )
    return proof


def verify_receipt_proof(receipts_root: bytes, index: int, proof: Sequence[bytes]) -> Receipt:
    """The `index`-th receipt of the block whose header has `receipts_root`, proven by
    `proof` (the nodes of `build_receipt_proof`). Raises ReceiptError naming the proof node at
    fault, or when the proof shows no receipt at that index."""
    try:
        raw = verify_proof(receipts_root, receipt_key(index), proof)
    except MptProofError as error:
        where = "receipt.proof" if error.index is None else f"receipt.proof[{error.index}]"
        raise ReceiptError(where, error.problem) from None
    if raw is None:
        raise ReceiptError("receipt.index", f"the block has no receipt at index {index}")
    return decode_receipt(raw)


def head_anchored_logs(receipt: Receipt, registry: str) -> tuple[HeadAnchoredLog, ...]:
    """Every `HeadAnchored` log `registry` emitted in this receipt's transaction (an `anchor`
    emits one; a relayer's `anchorMany` one per head). Empty for a failed transaction."""
    if not receipt.succeeded:
        return ()
    found = (
        decode_head_anchored(to_checksum_address(log.address), log.topics, log.data, registry)
        for log in receipt.logs
    )
    return tuple(log for log in found if log is not None)


__all__ = [
    "LEGACY",
    "TYPED",
    "Log",
    "Receipt",
    "ReceiptError",
    "build_receipt_proof",
    "decode_receipt",
    "head_anchored_logs",
    "receipt_from_rpc",
    "receipt_key",
    "verify_receipt_proof",
]
