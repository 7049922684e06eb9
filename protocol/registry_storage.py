"""Where `NotaryRegistry` keeps a node's record and an anchor record, so a verifier can read
them from `eth_getProof` storage proofs at a block, with no node to ask later.

Solidity's layout rules: a mapping at slot p keeps key k's value at keccak(pad32(k) ‖ pad32(p));
a struct takes consecutive slots from there, small fields packed from the low-order end of a
slot. `_nodes` (slot 0) maps an address to a `Node` of four slots; `_anchors` (slot 1) maps an
address to a mapping from root to a one-slot `StoredAnchor`. The numbers below are checked
against the compiler's `storageLayout` of the built registry by tests/test_evidence_units.py
(this module reads no file). A short string (under 32 bytes) sits in its slot with its length
times two in the lowest byte; a longer one keeps 2·length+1 there and its bytes from
keccak(slot) on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from protocol.errors import EvidenceError
from protocol.mpt import MptProofError, verify_account_proof, verify_storage_proof
from protocol.registry_abi import AnchorRecord, NodeRecord, NodeStatus


class StorageError(EvidenceError):
    """Registry storage evidence that does not prove a record: a proof that fails, a slot not
    proven, or a value that is not a record. `field` names it (``storage.slots[0x…]``)."""


@dataclass(frozen=True)
class Field:
    """A struct member: its slot relative to the struct's first, its byte offset from the
    slot's low-order end, and its size in bytes."""

    slot: int
    offset: int
    size: int

    def read(self, word: int) -> int:
        return (word >> (8 * self.offset)) & ((1 << (8 * self.size)) - 1)


NODES_SLOT: Final = 0
"""`mapping(address => Node) _nodes`."""
ANCHORS_SLOT: Final = 1
"""`mapping(address => mapping(bytes32 => StoredAnchor)) _anchors`."""
NODE_FIELDS: Final[Mapping[str, Field]] = {
    "lgCode": Field(0, 0, 4),
    "status": Field(0, 4, 1),
    "nextSeq": Field(0, 5, 8),
    "treeSize": Field(0, 13, 8),
    "successor": Field(1, 0, 20),
    "root": Field(2, 0, 32),
    "name": Field(3, 0, 32),
}
NODE_SIZE: Final = 4
"""Slots a `Node` takes (its `name`'s bytes, when 32 or more, live elsewhere)."""
ANCHOR_FIELDS: Final[Mapping[str, Field]] = {
    "seq": Field(0, 0, 8),
    "treeSize": Field(0, 8, 8),
    "blockNumber": Field(0, 16, 6),
    "timestamp": Field(0, 22, 5),
    "withdrawn": Field(0, 27, 1),
}
ANCHOR_SIZE: Final = 1


def mapping_slot(key: bytes, slot: int) -> int:
    """The slot of `key`'s value in a mapping at `slot` (key already padded to 32 bytes)."""
    if len(key) != 32:
        raise StorageError("storage.key", f"mapping keys are padded to 32 bytes, got {len(key)}")
    return int.from_bytes(keccak(key + slot.to_bytes(32, "big")), "big")


def _address_key(address: str | bytes) -> bytes:
    return to_canonical_address(address).rjust(32, b"\x00")


def node_slot(node: str | bytes) -> int:
    """The first slot of `_nodes[node]`."""
    return mapping_slot(_address_key(node), NODES_SLOT)


def node_slots(node: str | bytes) -> tuple[int, ...]:
    """The slots to prove for `_nodes[node]` (for a name of 32 bytes or more, then also
    `name_slots`)."""
    base = node_slot(node)
    return tuple(base + i for i in range(NODE_SIZE))


def name_slots(node: str | bytes, name_word: int) -> tuple[int, ...]:
    """The slots holding the bytes of a node's name of 32 bytes or more (none for a shorter
    one), given its `name` slot's value."""
    if not name_word & 1:
        return ()
    length = (name_word - 1) // 2
    first = int.from_bytes(keccak((node_slot(node) + NODE_FIELDS["name"].slot).to_bytes(32, "big")))
    return tuple(first + i for i in range((length + 31) // 32))


def anchor_slot(node: str | bytes, root: bytes) -> int:
    """The slot of `_anchors[node][root]`."""
    if len(root) != 32:
        raise StorageError("storage.root", f"a root is 32 bytes, got {len(root)}")
    return mapping_slot(root, mapping_slot(_address_key(node), ANCHORS_SLOT))


# ---------------------------------------------------------------------- decoding


def _word(words: Mapping[int, int], slot: int, what: str) -> int:
    if slot not in words:
        raise StorageError(f"storage.slots[{hex(slot)}]", f"{what} is not proven")
    return words[slot]


def decode_node(node: str | bytes, words: Mapping[int, int]) -> NodeRecord:
    """`_nodes[node]` from proven storage words (slot → value), as `getNode` answers it."""
    base = node_slot(node)
    packed = _word(words, base, "the node's lgCode, status, nextSeq and treeSize")
    try:
        status = NodeStatus(NODE_FIELDS["status"].read(packed))
    except ValueError as error:
        raise StorageError(f"storage.slots[{hex(base)}]", f"not a node record: {error}") from None
    successor = NODE_FIELDS["successor"].read(_word(words, base + 1, "the node's successor"))
    root = NODE_FIELDS["root"].read(_word(words, base + 2, "the node's root"))
    return NodeRecord(
        address=to_checksum_address(node),
        lg_code=NODE_FIELDS["lgCode"].read(packed),
        status=status,
        next_seq=NODE_FIELDS["nextSeq"].read(packed),
        tree_size=NODE_FIELDS["treeSize"].read(packed),
        root=root.to_bytes(32, "big"),
        successor=to_checksum_address(successor.to_bytes(20, "big")) if successor else None,
        name=_decode_name(node, words, base + NODE_FIELDS["name"].slot),
    )


def _decode_name(node: str | bytes, words: Mapping[int, int], slot: int) -> str:
    word = _word(words, slot, "the node's name")
    if word & 1:  # long form: 2·length+1 here, the bytes from keccak(slot)
        length = (word - 1) // 2
        data = b"".join(
            _word(words, s, "a word of the node's name").to_bytes(32, "big")
            for s in name_slots(node, word)
        )[:length]
    else:
        length = (word & 0xFF) // 2
        if length > 31:
            raise StorageError(f"storage.slots[{hex(slot)}]", "not a string's slot")
        data = word.to_bytes(32, "big")[:length]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StorageError(f"storage.slots[{hex(slot)}]", "the name is not UTF-8") from None


def decode_anchor(node: str | bytes, root: bytes, word: int) -> AnchorRecord | None:
    """`_anchors[node][root]` from its proven storage word, as `getAnchor` answers it: None
    if `node` never anchored `root` (the registry marks a record by a nonzero block number)."""
    if not ANCHOR_FIELDS["blockNumber"].read(word):
        return None
    return AnchorRecord(
        root=bytes(root),
        node=to_checksum_address(node),
        seq=ANCHOR_FIELDS["seq"].read(word),
        tree_size=ANCHOR_FIELDS["treeSize"].read(word),
        block_number=ANCHOR_FIELDS["blockNumber"].read(word),
        timestamp=ANCHOR_FIELDS["timestamp"].read(word),
        withdrawn=bool(ANCHOR_FIELDS["withdrawn"].read(word)),
    )


# ---------------------------------------------------------------------- proofs


def proven_words(
    state_root: bytes,
    registry: str | bytes,
    account_proof: Sequence[bytes],
    slot_proofs: Mapping[int, Sequence[bytes]],
) -> dict[int, int]:
    """The registry's storage words at the block whose header has `state_root`, each slot
    proven by its `eth_getProof` storage proof through the registry's account proof.
    Raises StorageError naming the proof at fault; an absent registry fails too."""
    try:
        account = verify_account_proof(state_root, to_canonical_address(registry), account_proof)
    except MptProofError as error:
        raise StorageError(_where("storage.account_proof", error), error.problem) from None
    if account is None:
        raise StorageError("storage.account_proof", "proves the registry absent at that block")
    words = {}
    for slot, proof in slot_proofs.items():
        try:
            words[slot] = verify_storage_proof(account.storage_root, slot, proof)
        except MptProofError as error:
            raise StorageError(
                _where(f"storage.slots[{hex(slot)}]", error), error.problem
            ) from None
    return words


def _where(field: str, error: MptProofError) -> str:
    return field if error.index is None else f"{field}[{error.index}]"


__all__ = [
    "ANCHORS_SLOT",
    "ANCHOR_FIELDS",
    "ANCHOR_SIZE",
    "NODES_SLOT",
    "NODE_FIELDS",
    "NODE_SIZE",
    "Field",
    "StorageError",
    "anchor_slot",
    "decode_anchor",
    "decode_node",
    "mapping_slot",
    "name_slots",
    "node_slot",
    "node_slots",
    "proven_words",
]
