"""The registry's history, replayed event by event: who was registered, suspended or rotated
when, and whether every anchor came from an active node with the next sequence number and a
tree that did not shrink. Events are the record; the contract's own checks are not trusted,
since the code on chain may not be the code that was published (`code_matches_lock`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from anchor import NodeStatus, RegistryClient
from anchor.models import RegistryEvent
from verifier.audit import findings as f
from verifier.audit.findings import Finding

LOCK_FILE: Final = Path(__file__).resolve().parents[2] / "contracts" / "artifacts.lock.json"
RUNTIME_ARTIFACT: Final = "NotaryRegistry.bin-runtime"


@dataclass(frozen=True, slots=True)
class CodeCheck:
    code_hash: str
    expected_code_hash: str

    @property
    def matches(self) -> bool:
        return self.code_hash == self.expected_code_hash


def check_code(runtime: bytes, lock_file: Path = LOCK_FILE) -> CodeCheck:
    """Compare on-chain runtime code with the committed lock (SHA-256 of the hex artifact
    `contracts/build.py` writes), so no compiler is needed to audit."""
    lock = json.loads(lock_file.read_text())
    return CodeCheck(
        code_hash=hashlib.sha256(runtime.hex().encode()).hexdigest(),
        expected_code_hash=lock["artifacts"][RUNTIME_ARTIFACT],
    )


@dataclass(slots=True)
class Anchor:
    node: str
    """The key that anchored it (a municipality's key changes on rotation)."""
    origin: str
    """The municipality's first key: one identity across rotations."""
    lg_code: str
    seq: int
    tree_size: int
    root: bytes
    block: int
    tx_hash: str
    batch_size: int
    withdrawn: bool = False


@dataclass(slots=True)
class MunicipalNode:
    """One municipality's node across key rotations."""

    origin: str
    lg_code: str
    keys: list[str]
    status: NodeStatus = NodeStatus.ACTIVE
    anchors: list[Anchor] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.keys[-1]


@dataclass
class RegistryReplay:
    canonical_hashes: dict[int, str]
    """Block number → hash from the Clique replay: events must come from that chain."""
    nodes: dict[str, MunicipalNode] = field(default_factory=dict)
    """By origin key."""
    findings: list[Finding] = field(default_factory=list)
    _origin: dict[str, str] = field(default_factory=dict)
    _by_root: dict[tuple[str, bytes], Anchor] = field(default_factory=dict)

    def run(self, client: RegistryClient, to_block: int) -> None:
        for event in client.iter_events(None, 0, to_block):
            self.apply(event)

    @property
    def anchors(self) -> list[Anchor]:
        return sorted(
            (a for n in self.nodes.values() for a in n.anchors), key=lambda a: (a.block, a.seq)
        )

    def apply(self, event: RegistryEvent) -> None:
        if self.canonical_hashes.get(event.block_number) != event.block_hash:
            self.findings.append(
                Finding(
                    f.EVENT_NOT_CANONICAL,
                    f"{event.name} log in block {event.block_number} is not in the replayed chain",
                    block=event.block_number,
                )
            )
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(event)

    def _on_NodeRegistered(self, event: RegistryEvent) -> None:  # noqa: N802
        key = str(event.args["node"])
        self._origin[key] = key
        self.nodes[key] = MunicipalNode(key, _code(event.args["lgCode"]), [key])

    def _on_NodeSuspended(self, event: RegistryEvent) -> None:  # noqa: N802
        self._set_status(event, NodeStatus.SUSPENDED)

    def _on_NodeReactivated(self, event: RegistryEvent) -> None:  # noqa: N802
        self._set_status(event, NodeStatus.ACTIVE)

    def _on_NodeKeyRotated(self, event: RegistryEvent) -> None:  # noqa: N802
        previous, new = str(event.args["previousKey"]), str(event.args["newKey"])
        node = self._node(previous)
        if node is not None:
            node.keys.append(new)
            self._origin[new] = node.origin

    def _on_HeadWithdrawn(self, event: RegistryEvent) -> None:  # noqa: N802
        key, root = str(event.args["node"]), bytes(event.args["root"])  # type: ignore[call-overload]
        anchor = self._by_root.get((key, root))
        if anchor is not None:
            anchor.withdrawn = True
        self.findings.append(
            Finding(
                f.HEAD_WITHDRAWN,
                f"governance withdrew head seq {event.args['seq']} (root 0x{root.hex()}): "
                f"{event.args['reason']}",
                node=key,
                lg_code=anchor.lg_code if anchor else None,
                block=event.block_number,
                seq=int(event.args["seq"]),  # type: ignore[call-overload]
            )
        )

    def _on_HeadAnchored(self, event: RegistryEvent) -> None:  # noqa: N802
        a = event.args
        key = str(a["node"])
        seq, size = int(a["seq"]), int(a["treeSize"])  # type: ignore[call-overload]
        root = bytes(a["root"])  # type: ignore[call-overload]
        node = self._node(key)

        def report(code: str, message: str) -> None:
            self.findings.append(
                Finding(
                    code,
                    message,
                    node=key,
                    lg_code=_code(a["lgCode"]),
                    block=event.block_number,
                    seq=seq,
                )
            )

        if node is None:
            report(f.ANCHOR_BY_UNREGISTERED_NODE, f"{key} anchored seq {seq}, never registered")
            return
        if node.key != key or node.status != NodeStatus.ACTIVE:
            state = "a retired key" if node.key != key else node.status.name.lower()
            report(
                f.ANCHOR_BY_SUSPENDED_NODE,
                f"{key} anchored seq {seq} while {state}; the registry should have refused it",
            )
        previous = node.anchors[-1] if node.anchors else None
        expected = previous.seq + 1 if previous else 0
        if seq != expected:
            report(f.SEQUENCE_GAP, f"anchored seq {seq}, expected {expected}")
        previous_size = previous.tree_size if previous else 0
        if size < previous_size:
            report(f.TREE_SHRANK, f"tree size {size} after {previous_size} (seq {seq})")
        elif previous and size == previous_size and root != previous.root:
            report(f.INCONSISTENT_HEADS, f"root changed without growth at size {size} (seq {seq})")
        anchor = Anchor(
            node=key,
            origin=node.origin,
            lg_code=node.lg_code,
            seq=seq,
            tree_size=size,
            root=root,
            block=event.block_number,
            tx_hash=event.tx_hash,
            batch_size=size - previous_size,
        )
        node.anchors.append(anchor)
        self._by_root[(key, root)] = anchor

    def _set_status(self, event: RegistryEvent, status: NodeStatus) -> None:
        node = self._node(str(event.args["node"]))
        if node is not None:
            node.status = status

    def _node(self, key: str) -> MunicipalNode | None:
        origin = self._origin.get(key)
        return None if origin is None else self.nodes[origin]


def _code(value: object) -> str:
    return f"{int(value):06d}"  # type: ignore[call-overload]
