"""The checks every verification performs, their order, and the rule that turns their
outcomes into a verdict (docs/PROTOCOL.md, "Verification"). The page and the CLI show the same
names; the JS page takes them from the constants generated from this module.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Final

import msgspec


class VerdictStatus(enum.StrEnum):
    VALID = "valid"
    """Every required check passed."""
    INVALID = "invalid"
    """A check failed: the document, bundle or signer cannot be trusted (see failed_check)."""
    PENDING = "pending"
    """Not anchored yet, or the anchor is not final yet: verify again later."""
    REVOKED = "revoked"
    """The issuing municipality revoked this document (a proven revocation entry)."""
    UNKNOWN = "unknown"
    """Evidence could not be obtained (chain or node unreachable, no revocation data)."""
    VALID_AS_OF = "valid_as_of"
    """Every check passed, some only as of the bundle's chain evidence (offline verification):
    what happened after it was captured (a withdrawal of the head, a revocation of the document)
    is not known. Never `VALID`: accepting it is a separate, explicit choice."""


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not performed: disabled by the policy, or a check it depends on did not pass."""
    UNKNOWN = "unknown"
    """Could not be decided with the evidence available."""


BUNDLE_FORMAT: Final = "bundle_format"
DOCUMENT_LEAF: Final = "document_leaf"
MERKLE_INCLUSION: Final = "merkle_inclusion"
CHAIN_ID: Final = "chain_id"
REGISTRY: Final = "registry"
HEAD_ANCHORED: Final = "head_anchored"
ANCHOR_TRANSACTION: Final = "anchor_transaction"
HEAD_NOT_WITHDRAWN: Final = "head_not_withdrawn"
NODE_AUTHORISED: Final = "node_authorised"
FINALITY: Final = "finality"
ANCHOR_TIME: Final = "anchor_time"
SIGNATURE_BINDING: Final = "signature_binding"
ISSUER_POLICY: Final = "issuer_policy"
"""May this kind of signer sign this entry (protocol.signers), and is a seal this
municipality's own."""
REQUESTER_DISCLOSURE: Final = "requester_disclosure"
"""Does the holder's requester disclosure open the leaf's requester commitment."""
SIGNER_CERTIFICATE: Final = "signer_certificate"
SIGNATURE: Final = "signature"
DOCUMENT_REVOCATION: Final = "document_revocation"

CHECK_ORDER: Final = (
    BUNDLE_FORMAT,
    DOCUMENT_LEAF,
    REQUESTER_DISCLOSURE,
    MERKLE_INCLUSION,
    CHAIN_ID,
    REGISTRY,
    HEAD_ANCHORED,
    ANCHOR_TRANSACTION,
    HEAD_NOT_WITHDRAWN,
    NODE_AUTHORISED,
    FINALITY,
    ANCHOR_TIME,
    SIGNATURE_BINDING,
    ISSUER_POLICY,
    SIGNER_CERTIFICATE,
    SIGNATURE,
    DOCUMENT_REVOCATION,
)
"""Every verdict lists exactly these checks, in this order (docs/PROTOCOL.md, "Verification")."""
ON_REQUEST_CHECKS: Final = (REQUESTER_DISCLOSURE,)
"""Checks performed only when the verifier is given something to check (a requester
disclosure): skipped otherwise, and then not listed as "not checked" in a summary."""


class Check(msgspec.Struct, frozen=True, gc=False):  # see protocol.bundle's model
    """One step of verification. `pending` marks an ``unknown`` that only time will decide
    (the entry is not anchored, or its block not final yet), which makes the verdict
    ``pending`` rather than ``unknown``."""

    name: str
    outcome: Outcome
    detail: str
    pending: bool = False
    as_of: bool = False
    """Decided only as of the bundle's chain evidence (offline): a later change is not seen."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "outcome": self.outcome.value,
            "detail": self.detail,
        }
        if self.as_of:
            found["as_of"] = True
        return found


def decide(checks: Sequence[Check]) -> tuple[VerdictStatus, Check | None]:
    """invalid > revoked > unknown > pending > valid_as_of > valid; the check that decided it
    (the first; None for valid_as_of and valid)."""
    revoked = unknown = pending = None
    as_of = False
    failed, undecided = Outcome.FAILED, Outcome.UNKNOWN
    for check in checks:
        outcome = check.outcome
        if outcome is failed:
            if check.name != DOCUMENT_REVOCATION:
                return VerdictStatus.INVALID, check
            revoked = revoked or check
        elif outcome is undecided:
            if check.pending:
                pending = pending or check
            else:
                unknown = unknown or check
        as_of = as_of or check.as_of
    if revoked is not None:
        return VerdictStatus.REVOKED, revoked
    if unknown is not None:
        return VerdictStatus.UNKNOWN, unknown
    if pending is not None:
        return VerdictStatus.PENDING, pending
    if as_of:
        return VerdictStatus.VALID_AS_OF, None
    return VerdictStatus.VALID, None
