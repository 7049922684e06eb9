"""When an anchor counts as final on the consortium's Clique chain (ARCHITECTURE, decision 2).

Clique lets a signer seal at most one block in any `clique_signer_limit(N)` consecutive blocks
(EIP-225). Once that many blocks sit on top of a block, a majority of the N signers built on
it, so a minority of validators cannot replace it: that is the finality depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_FINALITY_DEPTH: Final = 2
"""Blocks on top of the anchor block when the chain does not say (no ``clique_getSigners``)."""


@dataclass(frozen=True)
class FinalityDepth:
    """How many blocks must be on top of a block before it counts as final, and why."""

    depth: int
    source: str

    def is_final(self, block_number: int, latest: int) -> bool:
        """Whether a block `block_number` is final with `latest` the chain's newest block."""
        return latest >= block_number + self.depth


def clique_signer_limit(signers: int) -> int:
    """floor(N/2)+1: a Clique signer may seal one block in this many (EIP-225's SIGNER_LIMIT)."""
    return signers // 2 + 1


def clique_finality(signers: int) -> FinalityDepth:
    """The finality depth of a Clique chain with `signers` signers, with its reason."""
    return FinalityDepth(
        clique_signer_limit(signers), f"floor({signers}/2)+1 for {signers} Clique signers"
    )
