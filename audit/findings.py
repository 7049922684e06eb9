"""What an audit can find. Each finding has a stable code that scripts and tests match on,
and a message written for the regulator reading the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

Severity = Literal["error", "warning"]

# Chain (Clique consensus, replayed from genesis).
BLOCK_HASH_MISMATCH: Final = "block-hash-mismatch"
BROKEN_PARENT_LINK: Final = "broken-parent-link"
MALFORMED_HEADER: Final = "malformed-header"
UNAUTHORISED_SIGNER: Final = "unauthorised-signer"
RECENTLY_SIGNED: Final = "recently-signed"
WRONG_DIFFICULTY: Final = "wrong-difficulty"
BAD_CHECKPOINT: Final = "bad-checkpoint"
BLOCK_TIME_ANOMALY: Final = "block-time-anomaly"
# Registry.
REGISTRY_CODE_MISMATCH: Final = "registry-code-mismatch"
EVENT_NOT_CANONICAL: Final = "event-not-canonical"
ANCHOR_BY_UNREGISTERED_NODE: Final = "anchor-by-unregistered-node"
ANCHOR_BY_SUSPENDED_NODE: Final = "anchor-by-suspended-node"
SEQUENCE_GAP: Final = "sequence-gap"
TREE_SHRANK: Final = "tree-shrank"
HEAD_WITHDRAWN: Final = "head-withdrawn"
ANCHOR_TIME_ANOMALY: Final = "anchor-time-anomaly"
# Governance (node identity and who may anchor for which local government).
UNKNOWN_LG_CODE: Final = "unknown-lg-code"
DUPLICATE_ACTIVE_CODE: Final = "duplicate-active-code"
SHARED_LG_CODE: Final = "shared-lg-code"
GOVERNANCE_ACTION_WITHOUT_PROPOSAL: Final = "governance-action-without-proposal"
EXECUTED_BELOW_THRESHOLD: Final = "executed-below-threshold"
EXECUTED_BEFORE_TIMELOCK: Final = "executed-before-timelock"
UNDECODABLE_ACTION: Final = "undecodable-action"
# Node logs.
INCONSISTENT_HEADS: Final = "inconsistent-heads"
LEAVES_WITHHELD: Final = "leaves-withheld"
LEAVES_MISMATCH: Final = "leaves-mismatch"
NODE_UNREACHABLE: Final = "node-unreachable"
NODE_URL_MISSING: Final = "node-url-missing"
HEAD_NOT_SERVED: Final = "head-not-served"
# A node's log read from its static tiles (docs/AUDIT.md, "Auditing from tiles").
CHECKPOINT_INVALID: Final = "checkpoint-invalid"
CHECKPOINT_NOT_ANCHORED: Final = "checkpoint-not-anchored"
TILES_MISMATCH: Final = "tiles-mismatch"
TILES_BEHIND: Final = "tiles-behind"
# A published trust root (`notary audit --trust-root`), checked against the chain.
TRUST_ROOT_CHAIN_ID: Final = "trust-root-chain-id"
TRUST_ROOT_GENESIS: Final = "trust-root-genesis"
TRUST_ROOT_REGISTRY: Final = "trust-root-registry"
TRUST_ROOT_CODE_HASH: Final = "trust-root-code-hash"
TRUST_ROOT_SIGNER_SETS: Final = "trust-root-signer-sets"
TRUST_ROOT_GOVERNANCE: Final = "trust-root-governance"
TRUST_ROOT_SIGNATURES: Final = "trust-root-signatures"
TRUST_ROOT_OUTDATED: Final = "trust-root-outdated"

WARNINGS: Final = frozenset(
    {
        HEAD_WITHDRAWN,
        NODE_URL_MISSING,
        TILES_BEHIND,
        SHARED_LG_CODE,
        UNDECODABLE_ACTION,
        TRUST_ROOT_OUTDATED,
    }
)
"""Findings that record a legitimate but notable event or an incomplete audit, not a breach."""


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    node: str | None = None
    lg_code: str | None = None
    block: int | None = None
    seq: int | None = None

    @property
    def severity(self) -> Severity:
        return "warning" if self.code in WARNINGS else "error"

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity} | asdict(self)
