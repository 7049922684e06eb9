"""Typed views of what the registry stores and emits."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NodeStatus(enum.IntEnum):
    """Mirrors `NotaryRegistry.NodeStatus`."""

    UNREGISTERED = 0
    ACTIVE = 1
    SUSPENDED = 2
    RETIRED = 3


@dataclass(frozen=True)
class NodeRecord:
    address: str
    lg_code: int
    status: NodeStatus
    next_seq: int
    tree_size: int
    root: bytes
    successor: str | None
    name: str


@dataclass(frozen=True)
class TreeHead:
    """A node's anchored head; `seq` is the sequence number it was anchored with."""

    seq: int
    tree_size: int
    root: bytes


@dataclass(frozen=True)
class AnchorRecord:
    """Where and when a root was anchored, as the registry stores it."""

    root: bytes
    node: str
    seq: int
    tree_size: int
    block_number: int
    timestamp: int
    withdrawn: bool


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int


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


@dataclass(frozen=True)
class RegistryEvent:
    """Any registry log, decoded: `name` is the Solidity event name."""

    name: str
    args: dict[str, object]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


def is_valid_lg_code(code: int) -> bool:
    """The 全国地方公共団体コード rule the contract enforces: prefecture 01-47 and check digit."""
    if isinstance(code, bool) or not 0 <= code < 1_000_000 or not 1 <= code // 10_000 <= 47:
        return False
    body = code // 10
    total = 0
    for weight in range(2, 7):
        total += (body % 10) * weight
        body //= 10
    return (11 - total % 11) % 10 == code % 10
