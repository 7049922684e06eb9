"""Whether a node's registry record allows it to have anchored a document: the rule shared by
node_authorised online (`verifier.rules.anchoring`) and on proven storage
(`verifier.rules.evidence`)."""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bundle import AnchorSection
from protocol.registry_abi import NodeRecord, NodeStatus


def authorisation_problems(
    node: NodeRecord, anchor: AnchorSection, lg_code: int, logged: Sequence[int], block: int
) -> list[str]:
    """Why `node` (its registry record at `block`) may not have anchored a document of
    `lg_code`; `logged` are the municipality codes its HeadAnchored events name. Empty: it
    may."""
    problems = []
    if node.lg_code != anchor.lg_code:
        problems.append(
            f"the node was registered for municipality {node.lg_code:06d}, the bundle says "
            f"{anchor.lg_code:06d}"
        )
    if lg_code != node.lg_code:
        problems.append(
            f"the document names municipality {lg_code:06d} but its node serves {node.lg_code:06d}"
        )
    if any(code != node.lg_code for code in logged):
        problems.append("the HeadAnchored event names another municipality code")
    if node.status is not NodeStatus.ACTIVE:
        problems.append(f"the node was {node.status.name.lower()} at block {block}")
    return problems
