"""What a reader needs to know about `NotaryRegistry`, stated once and without I/O.

The verifier's facts (`getNode`, `getAnchor`, the `HeadAnchored` event, the `NodeStatus` enum)
are written out here by hand, so a bank can read them without the compiled contract; the
audit, which replays every event and describes governance actions, decodes them with the
compiled ABI (`RegistryAbi`). `anchor/`, the write side, imports these facts from here.
(`protocol/`, once it exists, is where this module belongs.)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

ZERO_ADDRESS: Final = "0x" + "00" * 20

PROPOSAL_LIFETIME_SECONDS: Final = 14 * 86_400
"""`NotaryRegistry.PROPOSAL_LIFETIME`: a proposal expires this long after its creation plus
the timelock in force then; once it reaches the threshold, never sooner than this long after
its `ready_at`."""

GOVERNED_FUNCTIONS: Final = (
    "registerNode",
    "suspendNode",
    "reactivateNode",
    "rotateNodeKey",
    "withdrawHead",
    "setGovernance",
)
"""The registry functions a governance proposal may carry as actions."""


class NodeStatus(enum.IntEnum):
    """Mirrors `NotaryRegistry.NodeStatus`."""

    UNREGISTERED = 0
    ACTIVE = 1
    SUSPENDED = 2
    RETIRED = 3


@dataclass(frozen=True)
class NodeRecord:
    """`getNode(node)`: a node's registration at one block."""

    address: str
    lg_code: int
    status: NodeStatus
    next_seq: int
    tree_size: int
    root: bytes
    successor: str | None
    name: str


@dataclass(frozen=True)
class AnchorRecord:
    """Where and when a root was anchored, as the registry stores it (`getAnchor`)."""

    root: bytes
    node: str
    seq: int
    tree_size: int
    block_number: int
    timestamp: int
    withdrawn: bool


@dataclass(frozen=True)
class RegistryEvent:
    """Any registry log, decoded: `name` is the Solidity event name."""

    name: str
    args: dict[str, object]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True, slots=True)
class HeadAnchoredLog:
    """One `HeadAnchored` event the registry emitted in the anchoring transaction."""

    node: str
    lg_code: int
    seq: int
    tree_size: int
    root: bytes


# --------------------------------------------------------------------------- the verifier's calls

GET_NODE_SIGNATURE: Final = "getNode(address)"
GET_NODE_OUTPUT: Final = "(uint32,uint8,uint64,uint64,address,bytes32,string)"
"""lgCode, status, nextSeq, treeSize, successor, root, name."""
GET_ANCHOR_SIGNATURE: Final = "getAnchor(address,bytes32)"
GET_ANCHOR_OUTPUT: Final = "(address,uint64,uint64,uint64,uint64,bool)"
"""node, seq, treeSize, blockNumber, timestamp, withdrawn."""
HEAD_ANCHORED_SIGNATURE: Final = "HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)"
"""Indexed: node, lgCode, seq; data: treeSize, root, previousTreeSize, previousRoot."""
HEAD_ANCHORED_TOPIC: Final = keccak(text=HEAD_ANCHORED_SIGNATURE)


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def encode_get_node(node: str) -> bytes:
    return selector(GET_NODE_SIGNATURE) + abi_encode(["address"], [to_checksum_address(node)])


def encode_get_anchor(node: str, root: bytes) -> bytes:
    return selector(GET_ANCHOR_SIGNATURE) + abi_encode(
        ["address", "bytes32"], [to_checksum_address(node), bytes32(root)]
    )


def decode_node(node: str, data: bytes) -> NodeRecord:
    """`getNode`'s answer (ValueError if it does not decode: no registry at that address?)."""
    (fields,) = _decode(GET_NODE_OUTPUT, data, GET_NODE_SIGNATURE)
    return node_record(node, fields)


def node_record(node: str, fields: Sequence[Any]) -> NodeRecord:
    """`getNode`'s decoded output tuple as a record (for every reader of the registry)."""
    lg_code, status, next_seq, tree_size, successor, root, name = fields
    return NodeRecord(
        address=to_checksum_address(node),
        lg_code=lg_code,
        status=NodeStatus(status),
        next_seq=next_seq,
        tree_size=tree_size,
        root=bytes(root),
        successor=None if successor == ZERO_ADDRESS else to_checksum_address(successor),
        name=name,
    )


def decode_anchor(root: bytes, data: bytes) -> AnchorRecord | None:
    """`getAnchor`'s answer; None if the node never anchored `root`."""
    (fields,) = _decode(GET_ANCHOR_OUTPUT, data, GET_ANCHOR_SIGNATURE)
    return anchor_record(root, fields)


def anchor_record(root: bytes, fields: Sequence[Any]) -> AnchorRecord | None:
    """`getAnchor`'s decoded output tuple as a record; None if `root` was never anchored."""
    anchored_by, seq, size, number, timestamp, withdrawn = fields
    if anchored_by == ZERO_ADDRESS:
        return None
    return AnchorRecord(
        root=bytes(root),
        node=to_checksum_address(anchored_by),
        seq=seq,
        tree_size=size,
        block_number=number,
        timestamp=timestamp,
        withdrawn=withdrawn,
    )


def decode_head_anchored(
    address: str, topics: Sequence[bytes], data: bytes, registry: str
) -> HeadAnchoredLog | None:
    """A `HeadAnchored` log of `registry`; None for any other log."""
    if (
        to_checksum_address(address) != to_checksum_address(registry)
        or len(topics) != 4
        or topics[0] != HEAD_ANCHORED_TOPIC
        or len(data) != 4 * 32
    ):
        return None
    return HeadAnchoredLog(
        node=to_checksum_address(topics[1][12:]),
        lg_code=int.from_bytes(topics[2], "big"),
        seq=int.from_bytes(topics[3], "big"),
        tree_size=int.from_bytes(data[0:32], "big"),
        root=data[32:64],
    )


# --------------------------------------------------------------------------- governance reads

GOVERNANCE_MEMBERS_SIGNATURE: Final = "governanceMembers()"
THRESHOLD_SIGNATURE: Final = "threshold()"
"""The governance set a trust root records (`threshold` is a `uint16` public variable)."""


def decode_governance_members(data: bytes) -> tuple[str, ...]:
    """`governanceMembers()`'s answer, checksummed (ValueError if it does not decode)."""
    (members,) = _decode("address[]", data, GOVERNANCE_MEMBERS_SIGNATURE)
    return tuple(to_checksum_address(m) for m in members)


def decode_threshold(data: bytes) -> int:
    (threshold,) = _decode("uint16", data, THRESHOLD_SIGNATURE)
    return int(threshold)


def address_topic(address: str) -> str:
    return "0x" + "00" * 12 + to_checksum_address(address)[2:].lower()


def bytes32(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError("a tree root must be exactly 32 bytes")
    return bytes(value)


def _decode(types: str, data: bytes, what: str) -> tuple[Any, ...]:
    if not data:
        raise ValueError(f"{what} returned no data: is a registry deployed at that address?")
    try:
        return tuple(abi_decode([types], data))
    except (DecodingError, ValueError, OverflowError) as error:
        raise ValueError(f"{what} returned undecodable data: {error}") from None


# --------------------------------------------------------------------------- the whole ABI (audit)


@dataclass(frozen=True)
class _Entry:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    indexed: tuple[bool, ...]


class RegistryAbi:
    """Decodes any registry event and any governance action with the compiled ABI."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        self.events: dict[bytes, _Entry] = {}
        self.functions: dict[bytes, _Entry] = {}
        for item in abi:
            if item.get("type") not in ("event", "function"):
                continue
            inputs = item["inputs"]
            entry = _Entry(
                name=item["name"],
                names=tuple(i["name"] for i in inputs),
                types=tuple(abi_type(i) for i in inputs),
                indexed=tuple(bool(i.get("indexed")) for i in inputs),
            )
            signature = f"{entry.name}({','.join(entry.types)})"
            if item["type"] == "event":
                self.events[keccak(text=signature)] = entry
            else:
                self.functions[selector(signature)] = entry

    def event_topics(self, names: Sequence[str] | None = None) -> list[bytes]:
        """Topic 0 of each named event (all if None); ValueError for an unknown name."""
        by_name = {e.name: t for t, e in self.events.items()}
        wanted = list(names) if names is not None else list(by_name)
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise ValueError(f"registry has no event named {', '.join(unknown)}")
        return [by_name[n] for n in wanted]

    def decode_event(self, topics: Sequence[bytes], data: bytes) -> tuple[str, dict[str, object]]:
        """(event name, arguments by name); ValueError if the log is not a registry event."""
        entry = self.events.get(bytes(topics[0])) if topics else None
        if entry is None:
            raise ValueError("not a registry event")
        indexed = [t for t, i in zip(entry.types, entry.indexed, strict=True) if i]
        plain = [t for t, i in zip(entry.types, entry.indexed, strict=True) if not i]
        if len(topics) != len(indexed) + 1:
            raise ValueError(f"{entry.name} log with {len(topics)} topics")
        try:
            from_topics = iter(
                abi_decode([t], bytes(topic))[0]
                for t, topic in zip(indexed, topics[1:], strict=True)
            )
            from_data = iter(abi_decode(plain, bytes(data)))
            values = [next(from_topics) if i else next(from_data) for i in entry.indexed]
        except DecodingError as error:
            raise ValueError(f"{entry.name} log does not decode: {error}") from None
        return entry.name, {
            n: _normalise(t, v) for n, t, v in zip(entry.names, entry.types, values, strict=True)
        }

    def decode_action(self, data: bytes) -> tuple[str, dict[str, object]]:
        """(function, arguments by name) of a governance action; ValueError if it is not one
        or its arguments do not decode."""
        entry = self.functions.get(bytes(data[:4]))
        if entry is None:
            raise ValueError(f"action 0x{bytes(data).hex()} does not decode: unknown selector")
        if entry.name not in GOVERNED_FUNCTIONS:
            raise ValueError(f"{entry.name} is not a governance action")
        try:
            values = abi_decode(list(entry.types), bytes(data[4:]))
        except DecodingError as error:
            raise ValueError(f"action 0x{bytes(data).hex()} does not decode: {error}") from None
        return entry.name, {
            n: _normalise(t, v) for n, t, v in zip(entry.names, entry.types, values, strict=True)
        }

    def describe_action(self, data: bytes) -> str:
        """`function(name=value, ...)`, as the audit report shows an action."""
        return describe_call(*self.decode_action(data))


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter (tuples spelled out)."""
    if param["type"].startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def describe_call(function: str, args: dict[str, object]) -> str:
    shown = ", ".join(f"{k}={show_arg(v)}" for k, v in args.items())
    return f"{function}({shown})"


def show_arg(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and not value.startswith("0x"):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_arg(v) for v in value) + "]"
    return str(value)


def _normalise(abi: str, value: Any) -> Any:
    """Addresses checksummed, arrays as lists, bytes as bytes (as web3 presents them)."""
    if abi.endswith("]"):
        inner = abi[: abi.rindex("[")]
        return [_normalise(inner, v) for v in value]
    if abi == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value


__all__ = [
    "GOVERNED_FUNCTIONS",
    "HEAD_ANCHORED_SIGNATURE",
    "HEAD_ANCHORED_TOPIC",
    "PROPOSAL_LIFETIME_SECONDS",
    "ZERO_ADDRESS",
    "AnchorRecord",
    "HeadAnchoredLog",
    "NodeRecord",
    "NodeStatus",
    "RegistryAbi",
    "RegistryEvent",
    "abi_type",
    "address_topic",
    "anchor_record",
    "bytes32",
    "decode_anchor",
    "decode_head_anchored",
    "decode_node",
    "describe_call",
    "encode_get_anchor",
    "encode_get_node",
    "node_record",
    "show_arg",
]
