"""The registry's history, replayed event by event: who was registered, suspended or rotated
when, and whether every anchor came from an active node with the next sequence number and a
tree that did not shrink. Events are the record; the contract's own checks are not trusted,
since the code on chain may not be the code that was published (`code_matches_lock`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address

from audit import findings as f
from audit.findings import Finding
from audit.lgcodes import lookup as official_lg_code
from contracts.artifact import LOCK_FILE, read_artifact
from protocol.registry_abi import (
    PROPOSAL_LIFETIME_SECONDS,
    NodeStatus,
    RegistryAbi,
    RegistryEvent,
)
from verifier.jsonrpc import DEFAULT_LOG_PAGE, JsonRpcClient, hex_bytes, quantity

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


class RegistryEventReader:
    """The registry's logs, decoded with the compiled ABI, read over the verifier's read-only
    JSON-RPC client: the audit needs no key and no write-side code."""

    def __init__(
        self,
        rpc: JsonRpcClient,
        address: str,
        abi: RegistryAbi | None = None,
        *,
        page_size: int = DEFAULT_LOG_PAGE,
    ) -> None:
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.abi = abi or RegistryAbi(read_artifact()["abi"])
        self.page_size = page_size

    def runtime_code(self, block: int) -> bytes:
        return self.rpc.get_code(self.address, block)

    def describe_action(self, data: bytes) -> str:
        """ValueError if `data` is not a governance action or does not decode."""
        return self.abi.describe_action(data)

    def iter_events(
        self, names: Sequence[str] | None = None, from_block: int = 0, to_block: int | None = None
    ) -> Iterator[RegistryEvent]:
        """Registry logs (all, or those named), oldest first, in bounded pages."""
        topics = [["0x" + t.hex() for t in self.abi.event_topics(names)]]
        last = self.rpc.block_number() if to_block is None else to_block
        for log in self.rpc.get_logs(
            self.address, topics, from_block, last, page_size=self.page_size
        ):
            name, args = self.abi.decode_event(
                [hex_bytes(t) for t in log["topics"]], hex_bytes(log["data"])
            )
            yield RegistryEvent(
                name=name,
                args=args,
                block_number=quantity(log["blockNumber"], "blockNumber"),
                block_hash=str(log["blockHash"]).lower(),
                tx_hash=str(log["transactionHash"]).lower(),
                log_index=quantity(log["logIndex"], "logIndex"),
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


@dataclass(slots=True)
class GovernanceStep:
    """Who did something to a proposal, and where on chain."""

    member: str
    block: int
    tx_hash: str
    approvals: int | None = None


@dataclass(slots=True)
class GovernanceProposal:
    """One proposal, replayed from its events: what it did, who approved it, when it ran."""

    id: int
    proposer: str
    epoch: int
    description: str
    actions: list[str]
    """Each action as `function(arg=value, ...)`."""
    block: int
    tx_hash: str
    expires_at: int
    approvals: list[GovernanceStep] = field(default_factory=list)
    revocations: list[GovernanceStep] = field(default_factory=list)
    ready_at: int | None = None
    executed: GovernanceStep | None = None
    cancelled: GovernanceStep | None = None

    @property
    def outcome(self) -> str:
        if self.executed:
            return "executed"
        return "cancelled" if self.cancelled else "open"


@dataclass(slots=True)
class GovernanceSet:
    epoch: int
    members: list[str]
    threshold: int
    timelock: int
    block: int
    tx_hash: str


# Events that change node identity or governance: only an executed proposal may emit them
# (key rotations included: a node cannot rotate its own key).
GOVERNED_EVENTS: Final = frozenset(
    {
        "NodeRegistered",
        "NodeSuspended",
        "NodeReactivated",
        "NodeKeyRotated",
        "HeadWithdrawn",
        "LocalGovernmentCodeShared",
        "GovernanceChanged",
    }
)


@dataclass
class RegistryReplay:
    canonical_hashes: dict[int, str]
    """Block number → hash from the Clique replay: events must come from that chain."""
    nodes: dict[str, MunicipalNode] = field(default_factory=dict)
    """By origin key."""
    findings: list[Finding] = field(default_factory=list)
    block_times: dict[int, int] = field(default_factory=dict)
    """Block number → timestamp (from the Clique replay), to check timelocks."""
    governance_sets: list[GovernanceSet] = field(default_factory=list)
    proposals: dict[int, GovernanceProposal] = field(default_factory=dict)
    describe_action: Callable[[bytes], str] | None = None
    _origin: dict[str, str] = field(default_factory=dict)
    _by_root: dict[tuple[str, bytes], Anchor] = field(default_factory=dict)
    _active: dict[str, set[str]] = field(default_factory=dict)
    """lg code → origins of its active nodes."""
    _activations: list[tuple[str, str, RegistryEvent]] = field(default_factory=list)
    _shared: set[tuple[str, str]] = field(default_factory=set)
    _governed: list[RegistryEvent] = field(default_factory=list)
    _executions: set[str] = field(default_factory=set)

    def run(self, reader: RegistryEventReader, to_block: int) -> None:
        if self.describe_action is None:
            self.describe_action = reader.describe_action
        for event in reader.iter_events(None, 0, to_block):
            self.apply(event)
        self.finish()

    def finish(self) -> None:
        """Findings that need the whole history: a governed event is justified by the
        `ProposalExecuted` later in its transaction; a shared code by its own event."""
        for code, _origin, event in self._activations:
            key = str(event.args["node"])
            if (event.tx_hash, key) in self._shared:
                self._report_code(
                    f.SHARED_LG_CODE,
                    f"governance let {key} be active beside another active node of {code}",
                    key,
                    code,
                    event,
                )
            else:
                self._report_code(
                    f.DUPLICATE_ACTIVE_CODE,
                    f"{key} became active while another node of {code} was active, without "
                    "governance allowing the code to be shared",
                    key,
                    code,
                    event,
                )
        for event in self._governed:
            if event.tx_hash in self._executions:
                continue
            if event.name == "GovernanceChanged" and int(event.args["epoch"]) == 1:  # type: ignore[call-overload]
                continue  # the constructor's
            self.findings.append(
                Finding(
                    f.GOVERNANCE_ACTION_WITHOUT_PROPOSAL,
                    f"{event.name} in transaction {event.tx_hash} was not carried out by an "
                    "executed governance proposal",
                    node=str(event.args.get("node") or "") or None,
                    block=event.block_number,
                )
            )
        self._activations.clear()
        self._governed.clear()

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
        if event.name in GOVERNED_EVENTS:
            self._governed.append(event)
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(event)

    # ------------------------------------------------------------------ governance

    def _on_GovernanceChanged(self, event: RegistryEvent) -> None:  # noqa: N802
        a = event.args
        self.governance_sets.append(
            GovernanceSet(
                epoch=int(a["epoch"]),  # type: ignore[call-overload]
                members=[str(m) for m in a["members"]],  # type: ignore[attr-defined]
                threshold=int(a["threshold"]),  # type: ignore[call-overload]
                timelock=int(a["timelock"]),  # type: ignore[call-overload]
                block=event.block_number,
                tx_hash=event.tx_hash,
            )
        )

    def _on_ProposalCreated(self, event: RegistryEvent) -> None:  # noqa: N802
        a = event.args
        describe = self.describe_action or (lambda data: "0x" + data.hex())
        proposal_id = int(a["id"])  # type: ignore[call-overload]
        actions = []
        encoded = [bytes(d) for d in a["actions"]]  # type: ignore[attr-defined]
        for index, data in enumerate(encoded):
            try:
                actions.append(describe(data))
            except (ValueError, LookupError, DecodingError) as error:
                # The registry refuses such actions; one that got through (an older or
                # tampered registry, or calldata only the stricter Python decoder rejects)
                # is recorded as it is, for the reader to see, and the audit goes on.
                raw = "0x" + data.hex()
                actions.append(raw)
                self.findings.append(
                    Finding(
                        f.UNDECODABLE_ACTION,
                        f"action {index} of proposal {proposal_id} does not decode as a "
                        f"governance action ({error}): {raw}",
                        block=event.block_number,
                    )
                )
        self.proposals[proposal_id] = GovernanceProposal(
            id=proposal_id,
            proposer=str(a["proposer"]),
            epoch=int(a["epoch"]),  # type: ignore[call-overload]
            description=str(a["description"]),
            actions=actions,
            block=event.block_number,
            tx_hash=event.tx_hash,
            expires_at=int(a["expiresAt"]),  # type: ignore[call-overload]
        )

    def _on_ProposalApproved(self, event: RegistryEvent) -> None:  # noqa: N802
        proposal = self.proposals.get(int(event.args["id"]))  # type: ignore[call-overload]
        if proposal is None:
            return
        approvals = int(event.args["approvals"])  # type: ignore[call-overload]
        proposal.approvals.append(_step(event, "member", approvals))
        ready_at = int(event.args["readyAt"])  # type: ignore[call-overload]
        if ready_at and proposal.ready_at is None:  # the threshold was reached just now
            # The registry then gives it at least a full lifetime after `readyAt`.
            proposal.expires_at = max(proposal.expires_at, ready_at + PROPOSAL_LIFETIME_SECONDS)
        proposal.ready_at = ready_at or proposal.ready_at

    def _on_ProposalApprovalRevoked(self, event: RegistryEvent) -> None:  # noqa: N802
        proposal = self.proposals.get(int(event.args["id"]))  # type: ignore[call-overload]
        if proposal is None:
            return
        approvals = int(event.args["approvals"])  # type: ignore[call-overload]
        proposal.revocations.append(_step(event, "member", approvals))
        threshold = self._set_of(proposal.epoch)
        if threshold is not None and approvals < threshold.threshold:
            proposal.ready_at = None

    def _on_ProposalCancelled(self, event: RegistryEvent) -> None:  # noqa: N802
        proposal = self.proposals.get(int(event.args["id"]))  # type: ignore[call-overload]
        if proposal is not None:
            proposal.cancelled = _step(event, "by")

    def _on_ProposalExecuted(self, event: RegistryEvent) -> None:  # noqa: N802
        self._executions.add(event.tx_hash)
        proposal = self.proposals.get(int(event.args["id"]))  # type: ignore[call-overload]
        if proposal is None:
            return
        proposal.executed = _step(event, "executor")
        rules = self._set_of(proposal.epoch)
        approvals = len(proposal.approvals) - len(proposal.revocations)
        if rules is not None and approvals < rules.threshold:
            self.findings.append(
                Finding(
                    f.EXECUTED_BELOW_THRESHOLD,
                    f"proposal {proposal.id} was executed with {approvals} approval(s); the "
                    f"threshold was {rules.threshold}",
                    block=event.block_number,
                )
            )
        when = self.block_times.get(event.block_number)
        if when is not None and (proposal.ready_at is None or when < proposal.ready_at):
            ready = (
                "never became ready"
                if proposal.ready_at is None
                else (f"was ready only at {proposal.ready_at}")
            )
            self.findings.append(
                Finding(
                    f.EXECUTED_BEFORE_TIMELOCK,
                    f"proposal {proposal.id} was executed at {when} but {ready}",
                    block=event.block_number,
                )
            )

    def _set_of(self, epoch: int) -> GovernanceSet | None:
        return next((g for g in self.governance_sets if g.epoch == epoch), None)

    # ------------------------------------------------------------------ nodes

    def _on_NodeRegistered(self, event: RegistryEvent) -> None:  # noqa: N802
        key = str(event.args["node"])
        code = _code(event.args["lgCode"])
        self._origin[key] = key
        self.nodes[key] = MunicipalNode(key, code, [key])
        if official_lg_code(int(code)) is None:
            self._report_code(
                f.UNKNOWN_LG_CODE,
                f"{key} was registered for {code}, which is not in the official list of "
                "local-government codes (全国地方公共団体コード)",
                key,
                code,
                event,
            )
        self._activate(key, code, event)

    def _on_LocalGovernmentCodeShared(self, event: RegistryEvent) -> None:  # noqa: N802
        self._shared.add((event.tx_hash, str(event.args["node"])))

    def _on_NodeSuspended(self, event: RegistryEvent) -> None:  # noqa: N802
        self._set_status(event, NodeStatus.SUSPENDED)
        node = self._node(str(event.args["node"]))
        if node is not None:
            self._active.get(node.lg_code, set()).discard(node.origin)

    def _on_NodeReactivated(self, event: RegistryEvent) -> None:  # noqa: N802
        self._set_status(event, NodeStatus.ACTIVE)
        node = self._node(str(event.args["node"]))
        if node is not None:
            self._activate(node.origin, node.lg_code, event)

    def _activate(self, origin: str, code: str, event: RegistryEvent) -> None:
        active = self._active.setdefault(code, set())
        if active - {origin}:
            self._activations.append((code, origin, event))
        active.add(origin)

    def _report_code(
        self, code: str, message: str, key: str, lg_code: str, event: RegistryEvent
    ) -> None:
        self.findings.append(
            Finding(code, message, node=key, lg_code=lg_code, block=event.block_number)
        )

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


def _step(event: RegistryEvent, who: str, approvals: int | None = None) -> GovernanceStep:
    return GovernanceStep(
        member=str(event.args[who]),
        block=event.block_number,
        tx_hash=event.tx_hash,
        approvals=approvals,
    )


def governance_json(replay: RegistryReplay, times: dict[int, int]) -> dict[str, Any]:
    """The governance history for the report: every set, every proposal, who and when."""

    def step(s: GovernanceStep | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {
            "member": s.member,
            "block": s.block,
            "time": times.get(s.block),
            "tx_hash": s.tx_hash,
        } | ({} if s.approvals is None else {"approvals": s.approvals})

    return {
        "sets": [
            {
                "epoch": g.epoch,
                "members": g.members,
                "threshold": g.threshold,
                "timelock_seconds": g.timelock,
                "block": g.block,
                "time": times.get(g.block),
                "tx_hash": g.tx_hash,
            }
            for g in replay.governance_sets
        ],
        "proposals": [
            {
                "id": p.id,
                "outcome": p.outcome,
                "proposer": p.proposer,
                "epoch": p.epoch,
                "description": p.description,
                "actions": p.actions,
                "block": p.block,
                "time": times.get(p.block),
                "tx_hash": p.tx_hash,
                "expires_at": p.expires_at,
                "ready_at": p.ready_at,
                "approvals": [step(a) for a in p.approvals],
                "revocations": [step(r) for r in p.revocations],
                "executed": step(p.executed),
                "cancelled": step(p.cancelled),
            }
            for p in replay.proposals.values()
        ],
    }


def _code(value: object) -> str:
    return f"{int(value):06d}"  # type: ignore[call-overload]
