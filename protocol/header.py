"""Ethereum block headers: built from any engine's JSON-RPC block, encoded, decoded, hashed.

A block's hash is keccak of its header's RLP, so a header checks itself: whoever holds the RLP
(or the JSON fields) and the hash needs nothing else. The fields are the London ones
(`baseFeePerGas` last), optionally followed by the later forks' (withdrawals, blobs, beacon
root, requests), each present only with all before it: geth's, anvil's and the devnet's
headers decode alike. Only RLP and keccak: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

import rlp
from eth_utils.crypto import keccak
from rlp.exceptions import DecodingError

from protocol.errors import EvidenceError

EMPTY_UNCLES_HASH: Final = keccak(rlp.encode([]))
"""`sha3Uncles` of a block without uncles (every Clique block)."""

# (attribute, JSON-RPC name, kind): kind is a byte length, 0 for any length, or "int".
_LONDON: Final[tuple[tuple[str, str, int | str], ...]] = (
    ("parent_hash", "parentHash", 32),
    ("uncles_hash", "sha3Uncles", 32),
    ("coinbase", "miner", 20),
    ("state_root", "stateRoot", 32),
    ("transactions_root", "transactionsRoot", 32),
    ("receipts_root", "receiptsRoot", 32),
    ("logs_bloom", "logsBloom", 256),
    ("difficulty", "difficulty", "int"),
    ("number", "number", "int"),
    ("gas_limit", "gasLimit", "int"),
    ("gas_used", "gasUsed", "int"),
    ("timestamp", "timestamp", "int"),
    ("extra_data", "extraData", 0),
    ("mix_hash", "mixHash", 32),
    ("nonce", "nonce", 8),
    ("base_fee_per_gas", "baseFeePerGas", "int"),
)
_LATER: Final[tuple[tuple[str, str, int | str], ...]] = (
    ("withdrawals_root", "withdrawalsRoot", 32),  # Shanghai
    ("blob_gas_used", "blobGasUsed", "int"),  # Cancun
    ("excess_blob_gas", "excessBlobGas", "int"),
    ("parent_beacon_block_root", "parentBeaconBlockRoot", 32),
    ("requests_hash", "requestsHash", 32),  # Prague
)
_FIELDS: Final = _LONDON + _LATER
_REQUIRED: Final = len(_LONDON) - 1  # baseFeePerGas is optional too (pre-London headers)
HEADER_FIELDS: Final = tuple((json_name, kind) for _, json_name, kind in _FIELDS)
"""(JSON-RPC name, kind) of every header field in RLP order: kind is a byte length, 0 for any
length, or "int" (what the clerk's page decodes headers by, devtools/page_constants.py)."""
REQUIRED_HEADER_FIELDS: Final = _REQUIRED
"""Fields every header carries; the rest (baseFeePerGas on) are an optional suffix."""


class HeaderError(EvidenceError):
    """A block header that does not decode, or does not hash to the block hash claimed for it.
    `field` is the header field at fault (``header.extraData``, ``header`` as a whole)."""


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """An Ethereum block header, field for field in RLP order. Optional fields are None when
    the header does not carry them (only a suffix of them can be absent)."""

    parent_hash: bytes
    uncles_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    mix_hash: bytes
    nonce: bytes
    base_fee_per_gas: int | None = None
    withdrawals_root: bytes | None = None
    blob_gas_used: int | None = None
    excess_blob_gas: int | None = None
    parent_beacon_block_root: bytes | None = None
    requests_hash: bytes | None = None

    def __post_init__(self) -> None:
        present = [getattr(self, f.name) is not None for f in fields(self)]
        if False in present and True in present[present.index(False) :]:
            absent = _FIELDS[present.index(False)][1]
            raise HeaderError(f"header.{absent}", "missing, but later fields are present")
        for (_, json_name, kind), value in zip(_FIELDS, self.rlp_fields(), strict=False):
            _check(value, kind, f"header.{json_name}")

    def rlp_fields(self) -> list[bytes | int]:
        """The fields the header's RLP holds, in order (absent optional ones left out)."""
        values = [getattr(self, name) for name, _, _ in _FIELDS]
        return [v for v in values if v is not None]

    def encode(self) -> bytes:
        """The header's RLP: what the block hash is the keccak of."""
        encoded: bytes = rlp.encode(self.rlp_fields())
        return encoded

    def hash(self) -> bytes:
        return keccak(self.encode())

    def with_extra_data(self, extra_data: bytes) -> BlockHeader:
        """This header with other extraData (a Clique seal hash hashes it without the seal)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return BlockHeader(**{**values, "extra_data": extra_data})


def _check(value: object, kind: int | str, field: str) -> None:
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**256:
            raise HeaderError(field, f"not a 256-bit unsigned integer: {value!r}")
        return
    if not isinstance(value, bytes):
        raise HeaderError(field, f"not bytes: {value!r}")
    if kind and len(value) != kind:
        raise HeaderError(field, f"{len(value)} bytes, expected {kind}")


# ---------------------------------------------------------------------- from JSON-RPC


def header_from_rpc(block: Mapping[str, object]) -> BlockHeader:
    """The header of a JSON-RPC block object (`eth_getBlockByNumber`'s answer, any engine).

    Its `hash` is not trusted here: compare it with `BlockHeader.hash()` (`check_block_hash`).
    Raises HeaderError naming the JSON field that is missing or malformed."""
    values: dict[str, bytes | int] = {}
    for position, (name, json_name, kind) in enumerate(_FIELDS):
        raw = block.get(json_name)
        if raw is None:
            if position < _REQUIRED:
                raise HeaderError(f"header.{json_name}", "missing")
            continue
        values[name] = _quantity(raw, json_name) if kind == "int" else _data(raw, json_name)
    return BlockHeader(**values)  # type: ignore[arg-type]  # kinds checked in __post_init__


def claimed_hash(block: Mapping[str, object]) -> bytes:
    """The `hash` a JSON-RPC block object claims (unverified)."""
    value = _data(block.get("hash"), "hash")
    if len(value) != 32:
        raise HeaderError("header.hash", f"{len(value)} bytes, expected 32")
    return value


def check_block_hash(header: BlockHeader, expected: bytes, field: str = "header") -> None:
    """Raise HeaderError unless the header hashes to `expected`."""
    if header.hash() != expected:
        raise HeaderError(
            field,
            f"block {header.number} hashes to 0x{header.hash().hex()}, not 0x{expected.hex()}",
        )


def _data(value: object, json_name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise HeaderError(f"header.{json_name}", f"not 0x-prefixed hex bytes: {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise HeaderError(f"header.{json_name}", f"not hex: {value!r}") from None


def _quantity(value: object, json_name: str) -> int:
    digits = value[2:] if isinstance(value, str) and value.startswith("0x") else ""
    if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise HeaderError(f"header.{json_name}", f"not a 0x-prefixed hex quantity: {value!r}")
    return int(digits, 16)


# ---------------------------------------------------------------------- from RLP


def decode_header(raw: bytes, field: str = "header") -> BlockHeader:
    """A header from its RLP, which must be canonical (re-encode to the same bytes), so one
    header has one encoding and one hash."""
    try:
        items = rlp.decode(raw)
    except DecodingError as error:
        raise HeaderError(field, f"not RLP: {error}") from None
    if not isinstance(items, list) or not _REQUIRED <= len(items) <= len(_FIELDS):
        count = len(items) if isinstance(items, list) else "no"
        raise HeaderError(field, f"an RLP list of {count} items is not a header")
    values: dict[str, bytes | int] = {}
    for (name, json_name, kind), item in zip(_FIELDS, items, strict=False):
        if not isinstance(item, bytes):
            raise HeaderError(f"{field}.{json_name}", "a list where a value belongs")
        values[name] = int.from_bytes(item, "big") if kind == "int" else item
    try:
        header = BlockHeader(**values)  # type: ignore[arg-type]  # kinds checked in __post_init__
    except HeaderError as error:
        raise HeaderError(field + error.field.removeprefix("header"), error.problem) from None
    if header.encode() != raw:
        raise HeaderError(field, "not the canonical RLP of a header (leading zeros?)")
    return header


__all__ = [
    "EMPTY_UNCLES_HASH",
    "HEADER_FIELDS",
    "REQUIRED_HEADER_FIELDS",
    "BlockHeader",
    "HeaderError",
    "check_block_hash",
    "claimed_hash",
    "decode_header",
    "header_from_rpc",
]
