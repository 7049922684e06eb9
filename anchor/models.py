"""Typed views of what the registry stores and emits."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# The check-digit rule lives with the leaf format; re-exported as part of anchor's API.
from protocol.leaf import is_valid_lg_code

# The read-only facts of the registry live with the verifier (the trust base; `protocol/`
# once it exists); the write side re-exports them so both sides share one definition.
from protocol.registry_abi import AnchorRecord, NodeRecord, NodeStatus, RegistryEvent
from protocol.registry_abi import show_arg as _show_arg


class ProposalState(enum.IntEnum):
    """Mirrors `NotaryRegistry.ProposalState`: where a governance proposal stands."""

    UNKNOWN = 0
    PENDING = 1
    """Fewer approvals than the threshold."""
    QUEUED = 2
    """Threshold reached; the timelock is running."""
    READY = 3
    """Executable now, by anyone."""
    EXECUTED = 4
    CANCELLED = 5
    EXPIRED = 6
    STALE = 7
    """The governance set changed after it was proposed."""

    @property
    def is_open(self) -> bool:
        return self in (ProposalState.PENDING, ProposalState.QUEUED, ProposalState.READY)


@dataclass(frozen=True)
class GovernanceConfig:
    """The consortium that governs node identity: `threshold` of `members` approve a
    proposal, which can be executed `timelock` seconds later."""

    members: tuple[str, ...]
    threshold: int
    timelock: int
    epoch: int


UNDECODABLE_ACTION = "undecodable"
"""`GovernanceAction.function` of an action whose calldata does not decode (see `raw`)."""


@dataclass(frozen=True)
class GovernanceAction:
    """One action of a proposal: a registry function and its arguments by name."""

    function: str
    args: dict[str, object]
    data: bytes
    """The ABI-encoded call, as proposed and executed."""

    @classmethod
    def raw(cls, data: bytes) -> GovernanceAction:
        """An action whose calldata does not decode as a governed function's: only its bytes
        (the registry refuses such actions; an older or tampered one may hold them)."""
        return cls(function=UNDECODABLE_ACTION, args={}, data=bytes(data))

    @property
    def decoded(self) -> bool:
        return self.function != UNDECODABLE_ACTION

    def describe(self) -> str:
        if not self.decoded:
            return f"undecodable action 0x{self.data.hex()}"
        shown = ", ".join(f"{k}={_show_arg(v)}" for k, v in self.args.items())
        return f"{self.function}({shown})"


@dataclass(frozen=True)
class Proposal:
    """A governance proposal: its state now and, read from its `ProposalCreated` event, its
    actions and description (None when the event could not be read)."""

    id: int
    proposer: str
    state: ProposalState
    epoch: int
    approvals: int
    created_block: int
    created_at: int
    ready_at: int
    """0 until the threshold is reached; then the time from which it can be executed."""
    expires_at: int
    actions_hash: bytes
    actions: tuple[GovernanceAction, ...] | None = None
    description: str | None = None


@dataclass(frozen=True)
class TreeHead:
    """A node's anchored head; `seq` is the sequence number it was anchored with."""

    seq: int
    tree_size: int
    root: bytes


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int


@dataclass(frozen=True)
class GovernanceResult(TxResult):
    """What a one-call governance helper did: it proposed, and executed when its sender's
    approval was enough and no timelock applied. The `TxResult` fields are those of the last
    transaction sent (the execution, or the proposal if it still awaits approvals)."""

    proposal_id: int = 0
    executed: bool = False
    proposal_tx: TxResult | None = None


@dataclass(frozen=True)
class AnchoredHeadEvent:
    """One `HeadAnchored` log, with its position on chain."""

    node: str
    lg_code: int
    seq: int
    tree_size: int
    root: bytes
    previous_tree_size: int
    previous_root: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class SkippedHead:
    """A head `anchorMany` left out (`HeadSkipped`): `reason` is the registry error's name
    (`WrongSequence`, `InvalidSignature`, …), or its selector in hex if unknown."""

    node: str
    seq: int
    reason: str


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one `anchorMany` transaction, head by head, in batch order."""

    tx: TxResult
    anchored: tuple[AnchoredHeadEvent, ...]
    skipped: tuple[SkippedHead, ...]


__all__ = [
    "UNDECODABLE_ACTION",
    "AnchorRecord",
    "AnchoredHeadEvent",
    "BatchResult",
    "GovernanceAction",
    "GovernanceConfig",
    "GovernanceResult",
    "NodeRecord",
    "NodeStatus",
    "Proposal",
    "ProposalState",
    "RegistryEvent",
    "SkippedHead",
    "TreeHead",
    "TxResult",
    "is_valid_lg_code",
]
