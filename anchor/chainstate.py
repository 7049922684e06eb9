"""Typed answers about chain state that an anchoring node needs: blocks, receipts, finality.

`RegistryClient` reads them (`block`, `block_number`, `receipt`, `transaction_known`,
`finality_depth`); a node never needs the Web3 object itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("anchor.chainstate")


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


@dataclass(frozen=True)
class FinalityDepth:
    """How many blocks must be on top of a block before it counts as final, and why."""

    depth: int
    source: str

    def is_final(self, block_number: int, latest: int) -> bool:
        """Whether a block `block_number` is final with `latest` the chain's newest block."""
        return latest >= block_number + self.depth


def clique_finality_depth(signers: int) -> int:
    """floor(N/2)+1 for a Clique chain of N signers: once that many blocks are on top of a
    block, a majority of the signers built on it (ARCHITECTURE, key decision 2)."""
    if signers < 1:
        raise ValueError("a Clique chain has at least one signer")
    return signers // 2 + 1
