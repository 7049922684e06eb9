"""Ethereum Merkle-Patricia trie proofs (EIP-1186 `eth_getProof`), checked offline.

A proof is the RLP of the trie nodes on one key's path, root first: each node must hash to the
reference its parent holds (the first to the root: a block's `stateRoot`, or an account's
`storageHash`). Walking it gives the value stored under the key, or shows that there is none
(an exclusion proof: the path ends at an empty branch slot or at a node for another key).
Keys are hashed, as in Ethereum's secure tries: keccak(address) in the state trie,
keccak(32-byte slot) in a storage trie.

The walk is strict: the nodes must be exactly the path, in order (geth's, anvil's and the
devnet's proofs are), a node embedded in its parent (RLP under 32 bytes) is not listed again,
and anything else raises `MptProofError`. `build_proof` makes such proofs from all of a small
trie's items (a block's receipts). Only hashing and RLP: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import rlp
from eth_utils.crypto import keccak
from rlp.exceptions import DecodingError

from protocol.errors import ProtocolError

EMPTY_TRIE_ROOT: Final = keccak(rlp.encode(b""))
"""The root of a trie holding nothing: an account without storage has it as `storageHash`."""
EMPTY_CODE_HASH: Final = keccak(b"")
"""keccak of empty code: the `codeHash` of an account without code."""
MAX_UINT256: Final = 2**256 - 1
_BRANCH_WIDTH: Final = 17  # 16 children and a value
_HASH_SIZE: Final = 32


class MptProofError(ProtocolError, ValueError):
    """A trie proof does not lead from its root to the key: a node that does not hash to its
    parent's reference, a missing or surplus node, or a node that is not a trie node. `index`
    is the position of the offending node in the proof (None: the proof as a whole)."""

    def __init__(self, problem: str, index: int | None = None) -> None:
        where = "proof" if index is None else f"proof[{index}]"
        super().__init__(f"{where}: {problem}")
        self.index = index
        self.problem = problem


@dataclass(frozen=True)
class AccountState:
    """An account as the state trie stores it."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


EMPTY_ACCOUNT: Final = AccountState(0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
"""What an absent account reads as: what anvil and reth report for one (geth reports zero
hashes); `verify_account_proof` returns None for it instead."""


def nibbles_of(key: bytes) -> tuple[int, ...]:
    return tuple(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(encoded: bytes, index: int) -> tuple[tuple[int, ...], bool]:
    """(path nibbles, is a leaf) of a leaf or extension node's compact path (hex-prefix)."""
    if not encoded:
        raise MptProofError("a leaf or extension node with an empty path", index)
    nibbles = nibbles_of(encoded)
    flag = nibbles[0]
    if flag > 3 or (flag in (0, 2) and nibbles[1] != 0):
        raise MptProofError(f"bad hex-prefix path flag 0x{encoded[0]:02x}", index)
    return nibbles[1 if flag & 1 else 2 :], flag >= 2


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The value stored under `key` (the trie's key: already hashed for secure tries) in the
    trie with root hash `root`, or None when the proof shows that `key` is absent.

    Raises MptProofError when the proof does not prove either."""
    if len(root) != _HASH_SIZE:
        raise MptProofError(f"the root must be {_HASH_SIZE} bytes, got {len(root)}")
    if not proof and root == EMPTY_TRIE_ROOT:
        return None  # geth proves nothing about an empty trie: its root says it all
    path = nibbles_of(key)
    position = 0  # nibbles of the key consumed so far
    used = 0  # proof nodes consumed so far
    reference: bytes | list[object] = root
    index = 0  # the node being checked (for an embedded node: the listed node holding it)
    while True:
        if isinstance(reference, bytes):
            if used == len(proof):
                raise MptProofError(
                    f"ends after {used} node(s); the path goes on to the node with hash "
                    f"0x{reference.hex()}"
                )
            raw, index = proof[used], used
            used += 1
            if keccak(raw) != reference:
                holder = "the root" if index == 0 else f"proof[{index - 1}]"
                raise MptProofError(
                    f"does not hash to the reference 0x{reference.hex()} of {holder}", index
                )
            try:
                node: object = rlp.decode(raw)
            except DecodingError as error:
                raise MptProofError(f"not valid RLP: {error}", index) from None
        else:
            node = reference
        step = _step(node, path[position:], index)
        if step.child is None:
            if used != len(proof):
                raise MptProofError(
                    f"{len(proof) - used} node(s) after the end of the key's path", used
                )
            return step.value
        reference, position = step.child, position + step.consumed


@dataclass(frozen=True)
class _Step:
    value: bytes | None = None
    """The value found, when the walk ends (None: the key is absent)."""
    child: bytes | list[object] | None = None
    """Where the walk goes on (None: it ends here)."""
    consumed: int = 0
    """Nibbles of the key this node consumed on the way to `child`."""


def _step(node: object, rest: tuple[int, ...], index: int) -> _Step:
    """One node of the walk, `rest` the nibbles of the key not consumed yet."""
    if node == b"":
        return _Step()  # the empty trie
    if isinstance(node, list) and len(node) == _BRANCH_WIDTH:
        return _branch_step(node, rest, index)
    if isinstance(node, list) and len(node) == 2 and isinstance(node[0], bytes):
        return _short_step(node, rest, index)
    raise MptProofError("not a trie node (a branch of 17 items, an extension or a leaf)", index)


def _branch_step(node: list[object], rest: tuple[int, ...], index: int) -> _Step:
    if not rest:
        return _Step(_value(node[16], index))
    child = node[rest[0]]
    if child == b"":
        return _Step()  # exclusion: no child on the key's next nibble
    return _Step(child=_reference(child, index), consumed=1)


def _short_step(node: list[object], rest: tuple[int, ...], index: int) -> _Step:
    """A leaf or an extension: a path segment, then a value or a child."""
    assert isinstance(node[0], bytes)
    segment, is_leaf = _hex_prefix(node[0], index)
    if is_leaf:
        return _Step(_value(node[1], index) if rest == segment else None)
    if not segment:
        raise MptProofError("an extension node with an empty path", index)
    if rest[: len(segment)] != segment:
        return _Step()  # exclusion: the key leaves the extension's path
    return _Step(child=_reference(node[1], index), consumed=len(segment))


def _reference(child: object, index: int) -> bytes | list[object]:
    """A child reference: a node's hash, or a node under 32 bytes embedded as it is."""
    if isinstance(child, bytes):
        if len(child) != _HASH_SIZE:
            raise MptProofError(f"a child reference of {len(child)} bytes (not a hash)", index)
        return child
    if isinstance(child, list):
        if len(rlp.encode(child)) >= _HASH_SIZE:
            raise MptProofError("an embedded node of 32 bytes or more (must be hashed)", index)
        return child
    raise MptProofError("a child reference that is neither a hash nor a node", index)


def _value(value: object, index: int) -> bytes | None:
    if not isinstance(value, bytes):
        raise MptProofError("a value that is a list, not bytes", index)
    return value or None


# ---------------------------------------------------------------------- EIP-1186 fields


def account_key(address: bytes) -> bytes:
    """The state trie's key of an account."""
    if len(address) != 20:
        raise MptProofError(f"an address is 20 bytes, got {len(address)}")
    return keccak(address)


def storage_key(slot: int) -> bytes:
    """A storage trie's key of a slot."""
    if not 0 <= slot <= MAX_UINT256:
        raise MptProofError(f"a storage slot is 0 to 2**256-1, got {slot}")
    return keccak(slot.to_bytes(32, "big"))


_ACCOUNT_SEDES: Final = rlp.sedes.List([
    rlp.sedes.big_endian_int,
    rlp.sedes.big_endian_int,
    rlp.sedes.Binary.fixed_length(_HASH_SIZE),
    rlp.sedes.Binary.fixed_length(_HASH_SIZE),
])  # fmt: skip


def verify_account_proof(
    state_root: bytes, address: bytes, proof: Sequence[bytes]
) -> AccountState | None:
    """The account `address` at a block whose state root is `state_root`, or None when the
    proof shows it absent (it then reads as `EMPTY_ACCOUNT`)."""
    raw = verify_proof(state_root, account_key(address), proof)
    if raw is None:
        return None
    try:
        nonce, balance, storage_root, code_hash = rlp.decode(raw, sedes=_ACCOUNT_SEDES)
    except (DecodingError, rlp.exceptions.DeserializationError) as error:
        raise MptProofError(f"the proven value is not an account: {error}") from None
    return AccountState(nonce, balance, storage_root, code_hash)


def verify_storage_proof(storage_root: bytes, slot: int, proof: Sequence[bytes]) -> int:
    """The value of storage slot `slot` of an account whose `storageHash` is `storage_root`
    (0 when the proof shows the slot empty: tries hold no zero slots)."""
    raw = verify_proof(storage_root, storage_key(slot), proof)
    if raw is None:
        return 0
    try:
        value: int = rlp.decode(raw, sedes=rlp.sedes.big_endian_int)
    except (DecodingError, rlp.exceptions.DeserializationError) as error:
        raise MptProofError(f"the proven value is not a storage word: {error}") from None
    if not 0 < value <= MAX_UINT256:
        raise MptProofError(f"the proven value {value} is not a nonzero 256-bit word")
    return value


# ---------------------------------------------------------------------- building proofs


def build_proof(items: Mapping[bytes, bytes], key: bytes) -> tuple[bytes, list[bytes]]:
    """(root hash, proof of `key`) of the trie holding exactly `items` (key → non-empty value),
    as `verify_proof` takes it: the root node and every node on the key's path stored by hash,
    not those embedded in their parent. Builds the whole trie in memory: meant for small ones,
    such as a block's receipts (`protocol.receipts`)."""
    if any(not value for value in items.values()):
        raise MptProofError("a trie holds no empty values")
    if not items:
        return EMPTY_TRIE_ROOT, []
    stored: dict[bytes, object] = {}
    node = _build(sorted((nibbles_of(k), v) for k, v in items.items()), 0, stored)
    proof = [rlp.encode(node)]
    path = nibbles_of(key)
    position = 0
    while True:
        step = _step(node, path[position:], len(proof) - 1)
        if step.child is None:
            return keccak(proof[0]), proof
        position += step.consumed
        if isinstance(step.child, bytes):
            node = stored[step.child]
            proof.append(rlp.encode(node))
        else:
            node = step.child


def trie_root(items: Mapping[bytes, bytes]) -> bytes:
    """The root hash of the trie holding exactly `items` (e.g. a block's receiptsRoot)."""
    return build_proof(items, b"")[0]


def _build(
    items: list[tuple[tuple[int, ...], bytes]], depth: int, stored: dict[bytes, object]
) -> object:
    """The node holding `items` (sorted, at least one), whose keys agree on `depth` nibbles."""
    if len(items) == 1:
        path, value = items[0]
        return [_compact(path[depth:], leaf=True), value]
    first, last = items[0][0], items[-1][0]
    shared = depth
    while shared < min(len(first), len(last)) and first[shared] == last[shared]:
        shared += 1  # sorted: what the first and the last share, all share
    if shared > depth:
        child = _build(items, shared, stored)
        return [_compact(first[depth:shared], leaf=False), _child(child, stored)]
    branch: list[object] = [b""] * _BRANCH_WIDTH
    for nibble in range(16):
        group = [item for item in items if len(item[0]) > depth and item[0][depth] == nibble]
        if group:
            branch[nibble] = _child(_build(group, depth + 1, stored), stored)
    ending = [value for path, value in items if len(path) == depth]
    if ending:
        branch[16] = ending[0]
    return branch


def _child(node: object, stored: dict[bytes, object]) -> object:
    """How a parent refers to `node`: embedded when its RLP is under 32 bytes, else by hash."""
    encoded = rlp.encode(node)
    if len(encoded) < _HASH_SIZE:
        return node
    reference = keccak(encoded)
    stored[reference] = node
    return reference


def _compact(nibbles: tuple[int, ...], leaf: bool) -> bytes:
    """Hex-prefix encoding of a leaf's or extension's path."""
    flag = (2 if leaf else 0) + len(nibbles) % 2
    padded = (flag, *nibbles) if len(nibbles) % 2 else (flag, 0, *nibbles)
    return bytes(padded[i] << 4 | padded[i + 1] for i in range(0, len(padded), 2))
