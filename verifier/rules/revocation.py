"""document_revocation: whether the issuing municipality revoked the document.

A revocation is itself a log entry, anchored like a document; a proven one makes the verdict
``revoked``. The holder can delete a revocation from a bundle, so only the issuing node can
rule one out: without it the check is ``unknown`` unless the policy accepts the risk.
"""

from __future__ import annotations

from typing import Any

from protocol.bundle import ProofBundle, RevocationSection, format_time
from protocol.checks import DOCUMENT_REVOCATION, Check, Outcome
from protocol.leaf import revocation_reason_label
from verifier.chain import NodeStatusSource
from verifier.errors import EvidenceUnavailableError
from verifier.rules.anchoring import anchoring_checks
from verifier.rules.context import Context

REVOCATION_NOT_CHECKED = (
    "revocation not checked: the bundle carries no revocation and no issuing node was asked. "
    "A holder can delete a revocation from a bundle, so only the issuing node can rule one "
    "out: give its URL (policy node_url; notary verify --node-url URL), or accept the risk "
    "explicitly (require_revocation_check off; notary verify --no-revocation-check)"
)
"""The detail of an ``unknown`` document_revocation when nobody could be asked."""

NOT_CHECKED_BY_CHOICE = (
    "not checked, by the policy's choice (require_revocation_check off): the bundle carries no "
    "revocation and no issuing node was asked, so a revoked document would pass"
)

NOT_KNOWN_OFFLINE = (
    "not known offline: the bundle carries no revocation, and only the issuing node can say "
    "whether the municipality revoked the document (or whether a revocation was cut from the "
    "bundle); verify online with the node's URL to rule it out"
)
"""The detail of document_revocation in offline verification without a revocation section."""

_UNKNOWN_OFFLINE = Check(DOCUMENT_REVOCATION, Outcome.SKIPPED, NOT_KNOWN_OFFLINE, as_of=True)
_NOT_CHECKED = Check(DOCUMENT_REVOCATION, Outcome.UNKNOWN, REVOCATION_NOT_CHECKED)
_NOT_CHECKED_BY_CHOICE = Check(DOCUMENT_REVOCATION, Outcome.SKIPPED, NOT_CHECKED_BY_CHOICE)
"""Checks are immutable: these three, made once, are every answer without a node to ask."""


def document_revocation(
    context: Context, bundle: ProofBundle
) -> tuple[Check, dict[str, Any] | None]:
    """The check and, for a proven revocation, its facts (source, reason, time, anchor)."""
    if bundle.revocation is not None:
        check, facts = _judge(context, bundle, bundle.revocation, "the bundle")
        if check.outcome is Outcome.FAILED or context.node_status is None:
            return check, facts
    node = context.node_status
    if node is None:
        if context.policy.offline:
            return _UNKNOWN_OFFLINE, None
        if context.policy.require_revocation_check:
            return _NOT_CHECKED, None
        return _NOT_CHECKED_BY_CHOICE, None
    return _ask_issuing_node(context, bundle, node)


def _ask_issuing_node(
    context: Context, bundle: ProofBundle, node: NodeStatusSource
) -> tuple[Check, dict[str, Any] | None]:
    try:
        answer = node.status(bundle.leaf.leaf_hash)
    except EvidenceUnavailableError as exc:
        detail = f"cannot ask the issuing node: {exc}"
        return Check(DOCUMENT_REVOCATION, Outcome.UNKNOWN, detail), None
    if not answer.revoked:
        detail = "the issuing node reports no revocation"
        return Check(DOCUMENT_REVOCATION, Outcome.PASSED, detail), None
    if answer.revocation is None:
        detail = (
            "the issuing node reports this document revoked but sent no proof yet; verify "
            "again once the revocation is anchored"
        )
        return Check(DOCUMENT_REVOCATION, Outcome.UNKNOWN, detail, pending=True), None
    return _judge(context, bundle, answer.revocation, "the issuing node")


def _judge(
    context: Context, bundle: ProofBundle, section: RevocationSection, source: str
) -> tuple[Check, dict[str, Any] | None]:
    entry, leaf = section.entry, bundle.leaf

    def unknown(detail: str, *, pending: bool = False) -> tuple[Check, None]:
        return Check(DOCUMENT_REVOCATION, Outcome.UNKNOWN, detail, pending), None

    if entry.revoked_leaf_hash != leaf.leaf_hash:
        return unknown(
            f"the revocation from {source} names entry {entry.revoked_leaf_hash.hex()}, not "
            "this document's: it proves nothing about this document"
        )
    if entry.leaf_hash() != section.leaf_hash:
        return unknown(f"the revocation entry from {source} does not match its own leaf hash")
    if entry.lg_code != leaf.lg_code:
        return unknown(
            f"a revocation by municipality {entry.lg_code:06d} cannot revoke a document of "
            f"municipality {leaf.lg_code:06d}"
        )
    if section.status == "pending":
        return unknown(
            f"{source} holds a revocation of this document that is not anchored yet; "
            "verify again later",
            pending=True,
        )
    anchoring = anchoring_checks(
        context,
        section.leaf_hash,
        section.inclusion,
        section.head,
        section.anchor,
        lg_code=leaf.lg_code,
        not_after_anchor=(("revocation time", entry.revoked_at),),
    )
    problem = anchoring.first_problem()
    if problem is not None:
        return unknown(
            f"the revocation from {source} does not verify ({problem.name}: {problem.detail})",
            pending=problem.pending,
        )
    reason = revocation_reason_label(entry.reason)
    anchor = section.anchor
    assert anchor is not None  # anchored sections have one (parser rule)
    facts = {
        "source": "bundle" if source == "the bundle" else "node",
        "reason": reason,
        "revoked_at": format_time(entry.revoked_at),
        "revocation_leaf_hash": section.leaf_hash.hex(),
        "tx_hash": "0x" + anchor.tx_hash.hex(),
        "block_number": anchor.block_number,
    }
    return (
        Check(
            DOCUMENT_REVOCATION,
            Outcome.FAILED,
            f"municipality {entry.lg_code:06d} revoked this document at "
            f"{format_time(entry.revoked_at)} (reason: {reason}); the revocation is "
            f"anchored in block {anchor.block_number} (from {source})",
        ),
        facts,
    )
