"""Each municipality's log, checked against its anchors through the node's public endpoints
(docs/API.md, "log"): consistency proofs between consecutive anchored heads show nothing was
rewritten or dropped; fetching every leaf and recomputing each anchored root shows nothing is
withheld. Nothing here needs a token or touches personal data."""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import requests

from audit import findings as f
from audit.findings import Finding
from audit.registry import Anchor, MunicipalNode
from protocol.merkle import CompactRange, ProofError, hash_leaf, verify_consistency

LEAVES_PAGE: Final = 1000
HEADS_PAGE: Final = 1000
DEFAULT_TIMEOUT: Final = 15.0


class NodeUnavailableError(Exception):
    """The node did not answer, or answered something that is not its documented API."""


@dataclass(slots=True)
class LogCheck:
    url: str | None
    status: str = "no-url"
    """checked | unreachable | no-url"""
    leaves_checked: int = 0
    sealed_at: dict[int, float] = field(default_factory=dict)
    """seq → when the node sealed that head (for the anchoring delay)."""
    findings: list[Finding] = field(default_factory=list)


class NodeLog:
    """HTTP client for one node's public log endpoints."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, **params: int) -> Any:
        try:
            response = self._session.get(self.url + path, params=params, timeout=self.timeout)
        except requests.RequestException as error:
            raise NodeUnavailableError(f"{self.url} unreachable: {error}") from None
        if response.status_code != 200:
            raise NodeUnavailableError(f"GET {path} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise NodeUnavailableError(f"GET {path} did not answer JSON") from None


def check_log(
    node: MunicipalNode, url: str | None, advance: Callable[[int], None] = lambda _: None
) -> LogCheck:
    result = LogCheck(url)
    if url is None:
        result.findings.append(
            _finding(node, f.NODE_URL_MISSING, "no URL for this node: its log was not audited")
        )
        return result
    log = NodeLog(url)
    try:
        served = log.get("/v1/log/head")
        if served.get("node") not in node.keys:
            raise NodeUnavailableError(
                f"{url} serves node {served.get('node')}, not this municipality's key {node.key}"
            )
        result.sealed_at = _sealed_times(log)
        _check_consistency(log, node, result, advance)
        _check_leaves(log, node, result)
        result.status = "checked"
    except (NodeUnavailableError, KeyError, TypeError, AttributeError) as error:
        result.status = "unreachable"
        result.findings.append(_finding(node, f.NODE_UNREACHABLE, f"{url}: {error}"))
    finally:
        log.close()
    return result


def _sealed_times(log: NodeLog) -> dict[int, float]:
    times: dict[int, float] = {}
    start = 0
    while True:
        page = log.get("/v1/log/heads", start=start, limit=HEADS_PAGE)["heads"]
        for head in page:
            if isinstance(head.get("sealed_at"), int | float):
                times[int(head["seq"])] = float(head["sealed_at"])
        if len(page) < HEADS_PAGE:
            return times
        start += len(page)


def _check_consistency(
    log: NodeLog, node: MunicipalNode, result: LogCheck, advance: Callable[[int], None]
) -> None:
    """Each anchored head must extend the one before it, by the node's own proof."""
    for older, newer in zip(node.anchors, node.anchors[1:], strict=False):
        advance(1)
        if newer.tree_size <= older.tree_size:
            continue  # equal sizes with equal roots need no proof; the registry replay
            # already reported a shrink or a root change without growth
        try:
            answer = log.get("/v1/log/consistency", first=older.tree_size, second=newer.tree_size)
        except NodeUnavailableError as error:
            result.findings.append(
                _anchor_finding(
                    newer,
                    f.HEAD_NOT_SERVED,
                    f"no consistency proof from size {older.tree_size} to {newer.tree_size}: "
                    f"{error}",
                )
            )
            continue
        try:
            proof = [bytes.fromhex(p) for p in answer["proof"]]
            verify_consistency(older.tree_size, newer.tree_size, proof, older.root, newer.root)
        except (ProofError, ValueError, TypeError) as error:
            result.findings.append(
                _anchor_finding(
                    newer,
                    f.INCONSISTENT_HEADS,
                    f"head seq {newer.seq} (size {newer.tree_size}) does not extend head seq "
                    f"{older.seq} (size {older.tree_size}): {error}",
                )
            )
    advance(1)


def _check_leaves(log: NodeLog, node: MunicipalNode, result: LogCheck) -> None:
    """Fetch every leaf up to the last anchored size, in full pages, and recompute each
    anchored root as the running tree reaches its size."""
    if not node.anchors:
        return
    pending = deque(sorted(node.anchors, key=lambda a: a.tree_size))
    end = pending[-1].tree_size
    frontier = CompactRange()
    while frontier.size < end:
        stop = min(frontier.size + LEAVES_PAGE, end)
        try:
            page = log.get("/v1/log/leaves", start=frontier.size, end=stop)["leaves"]
        except NodeUnavailableError as error:
            page, reason = [], str(error)
        else:
            reason = "the node returned fewer leaves than asked"
        for item in page:
            if item.get("index") != frontier.size:
                break
            try:
                frontier.append(hash_leaf(base64.b64decode(item["leaf"], validate=True)))
            except (binascii.Error, TypeError, KeyError):
                break
            while pending and pending[0].tree_size == frontier.size:
                _compare_root(frontier, pending.popleft(), result)
        result.leaves_checked = frontier.size
        if frontier.size < stop:
            result.findings.append(
                _finding(
                    node,
                    f.LEAVES_WITHHELD,
                    f"leaf {frontier.size} of {end} anchored leaves is not retrievable: {reason}",
                )
            )
            return


def _compare_root(frontier: CompactRange, anchor: Anchor, result: LogCheck) -> None:
    if frontier.root() != anchor.root:
        result.findings.append(
            _anchor_finding(
                anchor,
                f.LEAVES_MISMATCH,
                f"the served leaves 0..{anchor.tree_size - 1} do not hash to anchored root "
                f"0x{anchor.root.hex()} (seq {anchor.seq})",
            )
        )


def _finding(node: MunicipalNode, code: str, message: str) -> Finding:
    return Finding(code, message, node=node.key, lg_code=node.lg_code)


def _anchor_finding(anchor: Anchor, code: str, message: str) -> Finding:
    return Finding(
        code, message, node=anchor.node, lg_code=anchor.lg_code, block=anchor.block, seq=anchor.seq
    )
