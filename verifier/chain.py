"""Evidence from outside the bundle: the registry on chain, and the issuing node's word.

Readers only *gather* facts (what the registry recorded for a root, the anchoring
transaction, the node's registration at the anchor block, how deep the block is); judging
them against the bundle is `verifier.verify`'s job, so the rules live in one place and can
be tested with recorded facts. Chain reads go through `verifier.jsonrpc`, the read-only
client (no account, no transactions), over standard JSON-RPC, so any engine serves; what the
registry's calls and events look like is in `protocol.registry_abi`. Every failure to obtain
evidence is an `EvidenceUnavailableError`, which a verdict reports as ``unknown``.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from eth_utils.address import to_checksum_address

from protocol.bundle import (
    MAX_BUNDLE_BYTES,
    AnchorSection,
    HeadSection,
    RevocationSection,
    load_json,
    parse_revocation_section,
    revocation_to_json,
)
from protocol.errors import BundleFormatError
from protocol.finality import DEFAULT_FINALITY_DEPTH, FinalityDepth, clique_finality
from protocol.registry_abi import (
    AnchorRecord,
    HeadAnchoredLog,
    NodeRecord,
    decode_anchor,
    decode_head_anchored,
    decode_node,
    encode_get_anchor,
    encode_get_node,
)
from verifier.errors import EvidenceUnavailableError
from verifier.jsonrpc import (
    ChainReadError,
    JsonRpcClient,
    JsonRpcError,
    WrongChainError,
    call_params,
    hex_bytes,
    quantity,
)
from verifier.policy import DEFAULT_RPC_TIMEOUT

_EVIDENCE_ERRORS: Final = (ChainReadError, ValueError, KeyError, TypeError)
"""What a misbehaving or unreachable endpoint can make a read raise; each means "no evidence"."""


@dataclass(frozen=True, slots=True)
class TransactionFacts:
    """The receipt of the transaction the bundle names."""

    block_number: int
    block_hash: bytes
    succeeded: bool
    to: str | None
    head_anchored: tuple[HeadAnchoredLog, ...]


@dataclass(frozen=True, slots=True)
class AnchorFacts:
    """Everything the chain says about one anchor claim, read from one endpoint.

    `record` is the registry's `getAnchor(node, root)` at `latest_block`; `node` is `getNode` at
    `node_block` (the anchor block the registry recorded, else the bundle's); None values
    mean "does not exist" (never anchored, no such transaction, no such block).
    """

    endpoint: str
    chain_id: int
    latest_block: int
    finality_depth: int
    finality_source: str
    record: AnchorRecord | None
    transaction: TransactionFacts | None
    canonical_block_hash: bytes | None
    block_timestamp: int | None
    node: NodeRecord | None
    node_block: int


class ChainReader(Protocol):
    """Gathers the chain's facts about a head and its anchor claim."""

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        """Raise EvidenceUnavailableError if no configured endpoint can answer."""
        ...


class RpcChainReader:
    """Reads the registry over JSON-RPC; endpoints are tried in order until one answers.

    An endpoint that serves another chain than `chain_id` is skipped (and named in the error
    if none is left): evidence from another chain proves nothing. A verdict costs two or three
    batched round trips to the endpoint that answers.
    """

    def __init__(
        self,
        rpc_urls: Sequence[str],
        *,
        registry: str,
        chain_id: int,
        finality_depth: int | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT,
    ) -> None:
        self.rpc_urls = tuple(rpc_urls)
        self.registry = to_checksum_address(registry)
        self.chain_id = chain_id
        self.finality_depth = finality_depth
        self.timeout = timeout
        self._clients: dict[str, JsonRpcClient] = {}
        self._finality: dict[str, FinalityDepth] = {}
        self._lock = threading.Lock()

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        if not self.rpc_urls:
            raise EvidenceUnavailableError(
                "no JSON-RPC endpoint is configured, so the anchor cannot be looked up"
            )
        problems: list[str] = []
        for url in self.rpc_urls:
            try:
                return self._read_from(url, head, anchor)
            except WrongChainError as error:
                problems.append(
                    f"{url} serves chain id {error.actual}, but the policy trusts chain id "
                    f"{error.expected} only"
                )
            except _EVIDENCE_ERRORS as error:
                problems.append(f"{url}: {_one_line(error)}")
            with self._lock:
                self._clients.pop(url, None)  # ask its chain id again next time
        raise EvidenceUnavailableError(
            "no JSON-RPC endpoint could be read (" + "; ".join(problems) + ")"
        )

    def _client(self, url: str) -> JsonRpcClient:
        with self._lock:
            client = self._clients.get(url)
        if client is None:
            client = JsonRpcClient(url, timeout=self.timeout)
            client.check_chain_id(self.chain_id)
            with self._lock:
                self._clients[url] = client
        return client

    def _read_from(self, url: str, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        rpc = self._client(url)
        latest_hex, receipt, block = rpc.batch(
            [
                ("eth_blockNumber", []),
                ("eth_getTransactionReceipt", ["0x" + anchor.tx_hash.hex()]),
                ("eth_getBlockByNumber", [hex(anchor.block_number), False]),
            ]
        )
        latest = quantity(latest_hex, "eth_blockNumber")
        transaction = self._transaction(receipt)
        canonical_hash, timestamp = (None, None)
        if anchor.block_number <= latest and isinstance(block, dict):
            canonical_hash, timestamp = hex_bytes(block["hash"]), quantity(block["timestamp"])
        calls = [self._call(encode_get_anchor(anchor.node, head.root), latest)]
        if anchor.block_number <= latest:
            calls.append(self._call(encode_get_node(anchor.node), anchor.block_number))
        answers = rpc.batch(calls)
        record = decode_anchor(head.root, hex_bytes(answers[0]))
        node_block = record.block_number if record is not None else anchor.block_number
        node: NodeRecord | None = None
        if node_block <= latest:
            if node_block == anchor.block_number:
                node_data = hex_bytes(answers[1])
            else:
                node_data = hex_bytes(
                    rpc.batch([self._call(encode_get_node(anchor.node), node_block)])[0]
                )
            node = decode_node(anchor.node, node_data)
        finality = self._finality_depth(rpc, url)
        return AnchorFacts(
            endpoint=url,
            chain_id=self.chain_id,
            latest_block=latest,
            finality_depth=finality.depth,
            finality_source=finality.source,
            record=record,
            transaction=transaction,
            canonical_block_hash=canonical_hash,
            block_timestamp=timestamp,
            node=node,
            node_block=node_block,
        )

    def _call(self, data: bytes, block: int) -> tuple[str, list[Any]]:
        return ("eth_call", [call_params(self.registry, data), hex(block)])

    def _transaction(self, receipt: Any) -> TransactionFacts | None:
        if receipt is None:
            return None
        logs = tuple(
            log
            for log in (
                decode_head_anchored(
                    entry["address"],
                    [hex_bytes(t) for t in entry["topics"]],
                    hex_bytes(entry["data"]),
                    self.registry,
                )
                for entry in receipt["logs"]
            )
            if log
        )
        to = receipt.get("to")
        status = receipt.get("status")
        return TransactionFacts(
            block_number=quantity(receipt["blockNumber"], "blockNumber"),
            block_hash=hex_bytes(receipt["blockHash"]),
            succeeded=status is not None and quantity(status, "status") == 1,
            to=to_checksum_address(to) if to else None,
            head_anchored=logs,
        )

    def _finality_depth(self, rpc: JsonRpcClient, url: str) -> FinalityDepth:
        if self.finality_depth is not None:
            return FinalityDepth(self.finality_depth, "set by the policy")
        with self._lock:
            known = self._finality.get(url)
        if known is not None:
            return known
        signers = _clique_signers(rpc)
        found = (
            FinalityDepth(
                DEFAULT_FINALITY_DEPTH,
                "default; the chain does not report its signers (clique_getSigners)",
            )
            if signers is None
            else clique_finality(signers)
        )
        with self._lock:
            self._finality[url] = found
        return found


def _clique_signers(rpc: JsonRpcClient) -> int | None:
    """Number of Clique signers at the head, or None if the engine has no such method."""
    (result,) = rpc.answers([("clique_getSigners", [])])
    if isinstance(result, JsonRpcError):
        return None
    if isinstance(result, list) and result:
        return len(result)
    return None


class CachingChainReader:
    """Remembers facts for `ttl` seconds: bundles of one head share one lookup.

    A withdrawal or suspension reaches a cached verifier at most `ttl` seconds late; keep it
    short where that matters (the default Verifier does not cache).
    """

    def __init__(
        self,
        inner: ChainReader,
        ttl: float,
        *,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[HeadSection, AnchorSection], tuple[float, AnchorFacts]]
        self._entries = OrderedDict()
        self._lock = threading.Lock()
        self._last: tuple[HeadSection, AnchorSection, float, AnchorFacts] | None = None
        """The entry read last, most recently used: bundles of one head (sharing its section
        objects, as `protocol.bundle.load_bundle` makes them) find it by identity."""

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        now = self._clock()
        last = self._last
        if last is not None and last[0] is head and last[1] is anchor and now - last[2] < self.ttl:
            return last[3]
        key = (head, anchor)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                self._entries.move_to_end(key)
                self._last = (head, anchor, hit[0], hit[1])
                return hit[1]
        facts = self.inner.read(head, anchor)
        with self._lock:
            self._last = (head, anchor, now, facts)
            self._entries[key] = (now, facts)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return facts


# --------------------------------------------------------------------------- the issuing node

REVOCATIONS_PATH: Final = "/v1/revocations/{prefix}"
"""The node endpoint a verifier asks about revocation (docs/PROTOCOL.md, "Revocation buckets").

The verifier names only the first `PREFIX_HEX_DIGITS` hex digits of the leaf hash and gets every
revocation whose revoked leaf hash starts with them: the node learns which 1/256 of its log
the document is in, never which document (k-anonymity by prefix)."""

PREFIX_HEX_DIGITS: Final = 2
"""What this verifier sends: 256 buckets, so a log of 10,000 entries hides each in about 39."""

MAX_PREFIX_HEX_DIGITS: Final = 4
"""A node accepts prefixes of 1 to this many lowercase hex digits."""

PREFIX_PATTERN: Final = re.compile(rf"[0-9a-f]{{1,{MAX_PREFIX_HEX_DIGITS}}}")


@dataclass(frozen=True, slots=True)
class NodeStatusAnswer:
    """The node's answer for one document: revoked or not, and the section proving it."""

    revoked: bool
    revocation: RevocationSection | None


@dataclass(frozen=True, slots=True)
class RevocationBucket:
    """Every revocation the node holds whose revoked leaf hash starts with `prefix`."""

    prefix: str
    revocations: tuple[RevocationSection, ...]

    def answer_for(self, leaf_hash: bytes) -> NodeStatusAnswer:
        for section in self.revocations:
            if section.entry.revoked_leaf_hash == leaf_hash:
                return NodeStatusAnswer(True, section)
        return NodeStatusAnswer(False, None)


class NodeStatusSource(Protocol):
    def status(self, leaf_hash: bytes) -> NodeStatusAnswer:
        """Raise EvidenceUnavailableError if the node cannot be asked or answers badly."""
        ...


class NodeStatusClient:
    """``GET {base_url}/v1/revocations/{prefix}`` on the issuing node.

    Each section is parsed as strictly as a bundle and verified like one by the caller: the
    node's word alone never makes a document ``revoked``.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_RPC_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def status(self, leaf_hash: bytes) -> NodeStatusAnswer:
        prefix = leaf_hash.hex()[:PREFIX_HEX_DIGITS]
        url = self.base_url + REVOCATIONS_PATH.format(prefix=prefix)
        body = self._get(url)
        try:
            bucket = parse_revocation_bucket(load_json(body), prefix)
        except BundleFormatError as exc:
            raise EvidenceUnavailableError(
                f"{url} answered with a malformed revocation list: {exc}"
            ) from None
        return bucket.answer_for(leaf_hash)

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body: bytes = response.read(MAX_BUNDLE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise EvidenceUnavailableError(f"{url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvidenceUnavailableError(
                f"cannot reach the issuing node at {url} ({reason})"
            ) from None
        if len(body) > MAX_BUNDLE_BYTES:
            raise EvidenceUnavailableError(f"{url} sent more than {MAX_BUNDLE_BYTES} bytes")
        return body


def parse_revocation_bucket(obj: object, prefix: str) -> RevocationBucket:
    """Validate a node's answer for `prefix` (raises BundleFormatError naming the field)."""
    if type(obj) is not dict:
        raise BundleFormatError("revocations", "must be a JSON object")
    unknown = sorted(set(obj) - {"prefix", "revocations"})
    if unknown:
        raise BundleFormatError(unknown[0], "unknown field in a revocation list")
    if obj.get("prefix") != prefix:
        raise BundleFormatError("prefix", f"must be the prefix asked for, {prefix!r}")
    raw = obj.get("revocations")
    if type(raw) is not list:
        raise BundleFormatError("revocations", "must be a list")
    sections = tuple(
        parse_revocation_section(item, f"revocations[{i}]") for i, item in enumerate(raw)
    )
    for i, section in enumerate(sections):
        if not section.entry.revoked_leaf_hash.hex().startswith(prefix):
            raise BundleFormatError(f"revocations[{i}]", f"revokes a leaf outside prefix {prefix}")
    return RevocationBucket(prefix, sections)


def revocation_bucket_json(prefix: str, sections: Iterable[RevocationSection]) -> dict[str, Any]:
    """What a node serves at REVOCATIONS_PATH (for the node's implementation and tests)."""
    return {"prefix": prefix, "revocations": [revocation_to_json(s) for s in sections]}


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:300]


__all__ = [
    "MAX_PREFIX_HEX_DIGITS",
    "PREFIX_HEX_DIGITS",
    "PREFIX_PATTERN",
    "REVOCATIONS_PATH",
    "AnchorFacts",
    "CachingChainReader",
    "ChainReader",
    "HeadAnchoredLog",
    "NodeStatusAnswer",
    "NodeStatusClient",
    "NodeStatusSource",
    "RevocationBucket",
    "RpcChainReader",
    "TransactionFacts",
    "parse_revocation_bucket",
    "revocation_bucket_json",
]
