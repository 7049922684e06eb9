"""Typed answers about chain state that an anchoring node needs: blocks and receipts.

The finality rule is `protocol.finality`.

`RegistryClient` reads them (`block`, `block_number`, `receipt`, `transaction_known`,
`finality_depth`); a node never needs the Web3 object itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlockInfo:
    number: int
    hash: str  # 0x-prefixed hex
    timestamp: int


@dataclass(frozen=True)
class MinedTransaction:
    """The receipt of a mined transaction: where, from whom, and whether it succeeded (a
    reverted transaction is mined too)."""

    tx_hash: str
    succeeded: bool
    block_number: int
    block_hash: str  # 0x-prefixed hex
    sender: str  # checksummed
