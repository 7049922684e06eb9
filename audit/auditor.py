"""`run_audit`: the chain replayed from genesis, the registry's history, every node's log.

Everything comes from public data: standard JSON-RPC on the chain, the committed artifact
lock, and the nodes' unauthenticated log endpoints. Findings are collected, never raised;
only a chain endpoint that cannot be read at all stops the audit (`ChainReadError`, or its
`AuditRpcError` for an answer the audit cannot use).
The chain is read with the verifier's read-only JSON-RPC client (`verifier.jsonrpc`), in
batches, so a 10,000-block replay is a few hundred round trips.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from eth_utils.address import to_checksum_address

from audit import findings as f
from audit.clique import CliqueReplay, Header
from audit.findings import Finding
from audit.logs import LogCheck, check_log
from audit.registry import (
    Anchor,
    CodeCheck,
    RegistryEventReader,
    RegistryReplay,
    check_code,
    governance_json,
)
from audit.tile_logs import check_tile_log
from audit.trust_root import ChainView, TrustRootCheck, check_trust_root
from contracts.artifact import LOCK_FILE
from protocol.trust_root import TrustRoot
from verifier.jsonrpc import ChainReadError, JsonRpcClient, hex_bytes
from verifier.tiles import TileSource

_T = TypeVar("_T")
REPORT_FORMAT: Final = "municipal-notary-audit/1"
DEFAULT_PERIOD: Final = 1
RPC_TIMEOUT: Final = 30.0
"""Per round trip: a batch of 200 full blocks may take a while on a busy endpoint."""


class AuditRpcError(ChainReadError):
    """The chain could not be read completely: the audit stops rather than report on part."""


class Progress(Protocol):
    """How the audit reports its phases (the CLI draws progress bars)."""

    def phase(self, label: str, total: int) -> Callable[[int], None]: ...

    def done(self) -> None: ...


class _Silent:
    def phase(self, label: str, total: int) -> Callable[[int], None]:
        return lambda _: None

    def done(self) -> None:
        pass


@dataclass(frozen=True)
class AuditConfig:
    rpc_url: str
    registry: str | None = None
    """None: find the registry on chain (a contract whose code matches the lock)."""
    node_urls: Mapping[str, str] = field(default_factory=dict)
    """Node address or 6-digit local-government code → base URL of the node's API."""
    nodes_file: str | None = None
    tile_sources: Mapping[str, TileSource] = field(default_factory=dict)
    """Node address or local-government code → its static tiles and checkpoint key: that node's
    log is read from its tiles instead of its API."""
    period: int = DEFAULT_PERIOD
    epoch: int = 30_000
    lock_file: Path = LOCK_FILE
    max_clock_skew: int = 300
    trust_root: TrustRoot | None = None
    """A published trust root to check against the chain (`--trust-root`)."""
    trust_root_file: str | None = None


@dataclass
class AuditReport:
    config: AuditConfig
    chain_id: int
    replay: CliqueReplay
    registry: str
    code: CodeCheck
    registry_replay: RegistryReplay
    logs: dict[str, LogCheck]
    started: float
    finished: float
    findings: list[Finding] = field(default_factory=list)
    trust_root: TrustRootCheck | None = None

    @cached_property
    def _block_times(self) -> dict[int, int]:
        return {s.block: s.time for s in self.replay.seals}

    def anchor_times(self, anchor: Anchor) -> tuple[int | None, float | None]:
        """(time of the anchoring block, when the node says it sealed the head)."""
        return self._block_times.get(anchor.block), self.logs[anchor.origin].sealed_at.get(
            anchor.seq
        )

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        replay, nodes = self.replay, self.registry_replay.nodes
        head = replay.head
        anchors = [self._anchor_json(a) for a in self.registry_replay.anchors]
        order = {"error": 0, "warning": 1}
        return {
            "format": REPORT_FORMAT,
            "generated_at": datetime.fromtimestamp(self.finished, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "duration_seconds": round(self.finished - self.started, 3),
            "inputs": {
                "rpc_url": self.config.rpc_url,
                "registry": self.registry,
                "nodes_file": self.config.nodes_file,
                "period": self.config.period,
                "epoch": self.config.epoch,
            },
            "verdict": "clean" if self.clean else "findings",
            "summary": {
                "blocks": 0 if head is None else head.number + 1,
                "anchors": len(anchors),
                "nodes": len(nodes),
                "signers": len(replay.signers),
                "findings": len(self.findings),
                "proposals": len(self.registry_replay.proposals),
                "leaves_checked": sum(c.leaves_checked for c in self.logs.values()),
            },
            "chain": {
                "chain_id": self.chain_id,
                "genesis_hash": _hex(replay.hashes.get(0)),
                "head_number": None if head is None else head.number,
                "head_hash": None if head is None else _hex(head.hash),
                "head_time": None if head is None else head.timestamp,
                "signer_history": [
                    {"block": c.block, "time": c.time, "signers": list(c.signers)}
                    for c in replay.signer_history
                ],
                "blocks_by_signer": dict(Counter(s.signer for s in replay.seals)),
                "sealing": [
                    {"block": s.block, "time": s.time, "signer": s.signer, "in_turn": s.in_turn}
                    for s in replay.seals
                ],
            },
            "registry": {
                "address": self.registry,
                "code_matches_lock": self.code.matches,
                "code_hash": "0x" + self.code.code_hash,
                "expected_code_hash": "0x" + self.code.expected_code_hash,
            },
            "governance": governance_json(self.registry_replay, self._block_times),
            "nodes": [self._node_json(origin) for origin in nodes],
            "anchors": anchors,
            "trust_root": None if self.trust_root is None else self.trust_root.to_json(),
            "findings": [
                x.to_json() for x in sorted(self.findings, key=lambda x: order[x.severity])
            ],
        }

    def _node_json(self, origin: str) -> dict[str, Any]:
        node = self.registry_replay.nodes[origin]
        log = self.logs[origin]
        latest = node.anchors[-1] if node.anchors else None
        return {
            "address": node.key,
            "keys": node.keys,
            "lg_code": node.lg_code,
            "status": node.status.name.lower(),
            "url": log.url,
            "anchors": len(node.anchors),
            "latest_seq": latest.seq if latest else None,
            "latest_tree_size": latest.tree_size if latest else None,
            "log": log.status,
            "leaves_checked": log.leaves_checked,
        }

    def _anchor_json(self, anchor: Anchor) -> dict[str, Any]:
        when, sealed = self.anchor_times(anchor)
        delay = None if when is None or sealed is None else round(when - sealed, 3)
        return {
            "node": anchor.node,
            "lg_code": anchor.lg_code,
            "seq": anchor.seq,
            "tree_size": anchor.tree_size,
            "root": _hex(anchor.root),
            "block": anchor.block,
            "time": when,
            "tx_hash": anchor.tx_hash,
            "batch_size": anchor.batch_size,
            "delay_seconds": delay,
            "withdrawn": anchor.withdrawn,
        }


def run_audit(config: AuditConfig, progress: Progress | None = None) -> AuditReport:
    progress = progress or _Silent()
    started = time.time()
    rpc = JsonRpcClient(config.rpc_url, timeout=RPC_TIMEOUT)
    try:
        chain_id = rpc.chain_id()
        head_number = rpc.block_number()
        replay = CliqueReplay(
            period=config.period,
            epoch=config.epoch,
            now=time.time,
            max_clock_skew=config.max_clock_skew,
        )
        creations: list[str] = []
        advance = progress.phase("blocks", head_number + 1)
        full = config.registry is None
        for block in rpc.blocks(0, head_number, full_transactions=full):
            try:
                header = Header.from_rpc(block)
            except (KeyError, TypeError, ValueError) as error:
                raise AuditRpcError(f"block {block.get('number')} is malformed: {error}") from None
            replay.add(header)
            if full:
                creations += [t["hash"] for t in block["transactions"] if t.get("to") is None]
            advance(1)
        registry = config.registry or _find_registry(rpc, creations, config.lock_file)
    except (ValueError, KeyError, TypeError) as error:  # an answer that is not JSON-RPC's
        raise AuditRpcError(f"{config.rpc_url} answered malformed data: {error}") from None

    canonical = {n: "0x" + h.hex() for n, h in replay.hashes.items()}
    events = RegistryReplay(canonical, block_times={s.block: s.time for s in replay.seals})
    try:
        reader = RegistryEventReader(rpc, registry)
        runtime = reader.runtime_code(head_number)
        code = check_code(runtime, config.lock_file)
        events.run(reader, head_number)
    except (ChainReadError, ValueError, KeyError, TypeError) as error:
        # The endpoint failed mid-audit (or the ABI is missing): incomplete, not "findings".
        raise AuditRpcError(f"reading the registry failed: {error}") from None

    logs: dict[str, LogCheck] = {}
    advance = progress.phase("node logs", sum(len(n.anchors) for n in events.nodes.values()))
    for origin, node in events.nodes.items():
        tiles = _url_for(config.tile_sources, node.keys, node.lg_code)
        if tiles is not None:
            logs[origin] = check_tile_log(node, tiles, advance)
        else:
            url = _url_for(config.node_urls, node.keys, node.lg_code)
            logs[origin] = check_log(node, url, advance)
    progress.done()

    report = AuditReport(
        config=config,
        chain_id=chain_id,
        replay=replay,
        registry=to_checksum_address(registry),
        code=code,
        registry_replay=events,
        logs=logs,
        started=started,
        finished=time.time(),
    )
    if config.trust_root is not None:
        chain = ChainView(chain_id, replay, registry, runtime, events.governance_sets)
        report.trust_root = check_trust_root(config.trust_root, chain, config.trust_root_file)
    report.findings = _all_findings(report)
    return report


def _all_findings(report: AuditReport) -> list[Finding]:
    found = list(report.replay.findings)
    if not report.code.matches:
        found.append(
            Finding(
                f.REGISTRY_CODE_MISMATCH,
                f"the registry's code (sha256 0x{report.code.code_hash}) is not the published "
                f"build (0x{report.code.expected_code_hash} in contracts/artifacts.lock.json)",
            )
        )
    found += report.registry_replay.findings
    for log in report.logs.values():
        found += log.findings
    found += _anchor_time_findings(report)
    if report.trust_root is not None:
        found += report.trust_root.findings
    return found


def _anchor_time_findings(report: AuditReport) -> list[Finding]:
    """A node cannot seal a head after the block that anchored it."""
    found = []
    skew = report.config.max_clock_skew
    for anchor in report.registry_replay.anchors:
        when, sealed = report.anchor_times(anchor)
        if when is not None and sealed is not None and sealed > when + skew:
            found.append(
                Finding(
                    f.ANCHOR_TIME_ANOMALY,
                    f"the node says it sealed head seq {anchor.seq} at {sealed:.0f}, after the "
                    f"block that anchored it ({when})",
                    node=anchor.node,
                    lg_code=anchor.lg_code,
                    block=anchor.block,
                    seq=anchor.seq,
                )
            )
    return found


def _find_registry(rpc: JsonRpcClient, creations: list[str], lock_file: Path) -> str:
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in creations])
    addresses = [r["contractAddress"] for r in receipts if r and r.get("contractAddress")]
    codes = rpc.batch([("eth_getCode", [a, "latest"]) for a in addresses])
    matching = [
        a
        for a, c in zip(addresses, codes, strict=True)
        if check_code(hex_bytes(c), lock_file).matches
    ]
    if len(matching) != 1:
        found = "none" if not matching else ", ".join(matching)
        raise AuditRpcError(
            f"cannot tell which contract is the registry (contracts matching the lock: {found}); "
            "pass --registry"
        )
    return str(matching[0])


def _url_for(urls: Mapping[str, _T], keys: list[str], lg_code: str) -> _T | None:
    lowered = {k.lower(): v for k, v in urls.items()}
    for key in [*keys, lg_code]:
        if key.lower() in lowered:
            return lowered[key.lower()]
    return None


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()
