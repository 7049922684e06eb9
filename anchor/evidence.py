"""Reading the raw chain evidence of an anchor over standard JSON-RPC: headers, a block's
receipts and transactions, Clique signer sets and `eth_getProof`.

Every answer is checked against what it claims before it is returned (a header against its
block hash, a raw transaction against its hash), so a misbehaving endpoint gives an error,
never wrong evidence. Building and checking the proofs is `protocol`'s job; the node stitches
them together (`node/evidence.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from anchor.chain import translate_transport_errors
from anchor.errors import ChainRPCError
from protocol.errors import EvidenceError
from protocol.header import BlockHeader, check_block_hash, claimed_hash, header_from_rpc
from protocol.receipts import Receipt, receipt_from_rpc


@dataclass(frozen=True)
class RawBlock:
    """A block's header (checked against its hash) and its transactions' hashes, in order."""

    header: BlockHeader
    hash: bytes
    transactions: tuple[bytes, ...]


@dataclass(frozen=True)
class AccountProof:
    """`eth_getProof`'s answer for one account: its proof and each slot's value and proof."""

    account_proof: tuple[bytes, ...]
    slots: dict[int, tuple[int, tuple[bytes, ...]]]


class EvidenceReader:
    """Read-only evidence queries on one Web3 connection (any engine serving the standard
    methods; raw transactions come from `debug_getRawTransaction`, which geth, anvil and the
    devnet serve)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def _call(self, method: str, params: Sequence[Any]) -> Any:
        endpoint = str(getattr(self.w3.provider, "endpoint_uri", "the JSON-RPC endpoint"))
        with translate_transport_errors(endpoint):
            response: Any = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if not isinstance(response, dict) or "error" in response:
            error = response.get("error") if isinstance(response, dict) else response
            raise ChainRPCError(f"{method} answered with an error: {error}")
        return response.get("result")

    def latest_block(self) -> int:
        return int(self._call("eth_blockNumber", []), 16)

    def block(self, number: int) -> RawBlock | None:
        """The canonical block at `number` (None past the head), its header hash-checked."""
        block = self._call("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            return None
        try:
            header = header_from_rpc(block)
            expected = claimed_hash(block)
            check_block_hash(header, expected, f"block {number}")
        except EvidenceError as error:
            raise ChainRPCError(f"eth_getBlockByNumber({number}): {error}") from None
        hashes = tuple(bytes.fromhex(str(h)[2:]) for h in block.get("transactions") or ())
        return RawBlock(header, expected, hashes)

    def receipts(self, number: int) -> list[tuple[bytes, Receipt]]:
        """(transaction hash, receipt) of every transaction of block `number`, in order."""
        answers = self._call("eth_getBlockReceipts", [hex(number)])
        if not isinstance(answers, list):
            raise ChainRPCError(f"eth_getBlockReceipts({number}) gave no receipts")
        found = []
        for i, answer in enumerate(answers):
            try:
                found.append(
                    (bytes.fromhex(answer["transactionHash"][2:]), receipt_from_rpc(answer))
                )
            except (EvidenceError, KeyError, TypeError, ValueError) as error:
                raise ChainRPCError(f"receipt {i} of block {number}: {error}") from None
        return found

    def raw_transaction(self, tx_hash: bytes) -> bytes:
        """A transaction's consensus encoding, checked to hash to `tx_hash`."""
        raw = self._call("debug_getRawTransaction", ["0x" + tx_hash.hex()])
        data = bytes.fromhex(str(raw)[2:]) if isinstance(raw, str) else b""
        if keccak(data) != tx_hash:
            raise ChainRPCError(f"debug_getRawTransaction(0x{tx_hash.hex()}) is not that one")
        return data

    def clique_signers(self, number: int) -> frozenset[bytes] | None:
        """The Clique signers as of block `number`; None for an engine without Clique."""
        try:
            answer = self._call("clique_getSigners", [hex(number)])
        except ChainRPCError:
            return None
        if not isinstance(answer, list) or not answer:
            return None
        return frozenset(to_canonical_address(a) for a in answer)

    def proof(self, address: str, slots: Sequence[int], number: int) -> AccountProof:
        """`eth_getProof` of `address` for `slots` at block `number`."""
        answer = self._call(
            "eth_getProof",
            [to_checksum_address(address), ["0x" + s.to_bytes(32, "big").hex() for s in slots],
             hex(number)],
        )  # fmt: skip
        try:
            account = tuple(_bytes(n) for n in answer["accountProof"])
            found: dict[int, tuple[int, tuple[bytes, ...]]] = {}
            for entry in answer["storageProof"]:
                found[int(entry["key"], 16)] = (
                    int(entry["value"], 16),
                    tuple(_bytes(n) for n in entry["proof"]),
                )
        except (KeyError, TypeError, ValueError) as error:
            raise ChainRPCError(f"eth_getProof gave an unusable answer: {error!r}") from None
        return AccountProof(account, found)


def _bytes(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not 0x-prefixed hex: {value!r:.40}")
    return bytes.fromhex(value[2:])
