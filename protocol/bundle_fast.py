"""The fast reader of a common proof bundle: a version-1, -2 or -4 bundle without revocation or
evidence, as producers write it.

`read` decodes with msgspec against a typed schema (types, integer ranges, unknown fields and
nesting refused in C), then checks what a schema cannot say in a few bulk passes (hex, base64,
times, codes, addresses, duplicate keys). It returns None for anything else, well-formed or not,
and `protocol.bundle.load_bundle` then runs the strict reader, which decides and words every
error. So this reader only has to be sound: what it accepts, the strict reader accepts with the
same values (tests/test_bundle_fast.py holds the two side by side on every vector and mutant).
"""

from __future__ import annotations

import binascii
import functools
import re
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec
from eth_utils.address import to_checksum_address

from protocol.leaf import MAX_UINT16, MAX_UINT64, is_valid_lg_code

MAX_BYTES: Final = 1024 * 1024
"""`protocol.bundle.MAX_BUNDLE_BYTES` (restated: that module imports this one)."""
_MAX_BLOB_CHARS: Final = 256 * 1024 * 4 // 3 + 4
"""Base64 length of `protocol.bundle.MAX_BLOB_BYTES`, as the strict reader bounds it."""
_MAX_CHAIN_INT: Final = 2**63 - 1

# msgspec bounds must fit an int64: the upper bound of these is checked in `_checked`.
_Uint64 = Annotated[int, msgspec.Meta(ge=0)]
_Size = Annotated[int, msgspec.Meta(ge=1)]
_ChainInt = Annotated[int, msgspec.Meta(ge=1, le=_MAX_CHAIN_INT)]
# Hashes: 64 hex digits (a transaction or block hash with "0x"), lengths checked in C.
_Hash = Annotated[str, msgspec.Meta(min_length=64, max_length=64)]
_ChainHash = Annotated[str, msgspec.Meta(min_length=66, max_length=66)]


class Leaf(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    leaf_hash: _Hash
    salt: _Hash
    lg_code: str
    document_type: Annotated[int, msgspec.Meta(ge=1, le=MAX_UINT16 - 1)]
    issued_at: str
    signing_time: str
    signer_sha256: _Hash
    signature_sha256: _Hash
    # A version-4 bundle's leaf has both (the commitment may be null), a version-1 or -2
    # bundle's neither: `_checked` holds each version to its own.
    kind: Literal["document", "event"] | msgspec.UnsetType = msgspec.UNSET
    requester_commitment: _Hash | msgspec.UnsetType | None = msgspec.UNSET


class Signature(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    format: Literal["cms", "pkcs1"]
    value: str
    certificates: Annotated[list[str], msgspec.Meta(min_length=1, max_length=8)]


class Inclusion(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    leaf_index: _Uint64
    tree_size: _Size
    path: Annotated[list[_Hash], msgspec.Meta(max_length=64)]


class Head(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    seq: _Uint64
    tree_size: _Size
    root: _Hash


class Anchor(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    chain_id: _ChainInt
    registry: str
    node: str
    lg_code: str
    tx_hash: _ChainHash
    block_number: _ChainInt
    block_hash: _ChainHash


class Bundle(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    version: Literal[1, 2, 4]
    status: Literal["anchored", "pending"]
    leaf: Leaf
    signature: Signature
    # UNSET, not None: an explicit null is malformed, and must not read as "absent".
    inclusion: Inclusion | msgspec.UnsetType = msgspec.UNSET
    head: Head | msgspec.UnsetType = msgspec.UNSET
    anchor: Anchor | msgspec.UnsetType = msgspec.UNSET


class Read(msgspec.Struct, gc=False):
    """A bundle this reader accepted, with its fields converted as the strict reader does."""

    raw: Bundle
    hashes: bytes
    """leaf_hash, salt, signer_sha256, signature_sha256, then (anchored) root, tx_hash,
    block_hash and the path, 32 bytes each; last, a version-4 leaf's requester commitment
    unless it is null."""
    lg_code: int
    issued_at: int
    signing_time: int
    registry: str = ""
    node: str = ""
    anchor_lg_code: int = 0


_DECODER: Final = msgspec.json.Decoder(Bundle)
_KEYS: Final = {"pending": 4 + 8 + 3, "anchored": 7 + 8 + 3 + 3 + 3 + 7}
"""Keys: top level 4 (anchored 7), leaf 8 (version 4: 10), signature 3; inclusion 3, head 3,
anchor 7."""
_STRINGS: Final = {"pending": 1 + 7 + 2, "anchored": 1 + 7 + 2 + 1 + 5}
"""String values besides the path and the certificates: status, leaf 7 (version 4: kind, and
the requester commitment unless null), format and value; anchored adds the head's root and
the anchor's registry, node, lg_code, tx_hash, block_hash."""
_SEALED: Final = 4
"""`protocol.bundle.SEALED_VERSION` (restated: that module imports this one)."""
_NO_REQUESTER: Final = "0" * 64
_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_BASE64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def read(data: bytes | str) -> Read | None:
    """The bundle in `data` if it is a common one this reader fully checks, else None."""
    if type(data) is bytes:
        if len(data) > MAX_BYTES:
            return None
    # Text: ASCII (what is accepted is, and lone surrogates would not even encode), so its
    # length is its size in bytes. (`isascii` is free on `str`: CPython keeps the flag.)
    elif type(data) is not str or not data.isascii() or len(data) > MAX_BYTES:
        return None
    try:
        bundle = _DECODER.decode(data)
    except msgspec.MsgspecError:
        return None
    return _checked(bundle, data)


def _checked(bundle: Bundle, data: bytes | str) -> Read | None:  # noqa: PLR0911 - one per rule
    leaf, signature, status = bundle.leaf, bundle.signature, bundle.status
    inclusion, head, anchor = bundle.inclusion, bundle.head, bundle.anchor
    certificates = signature.certificates
    extra = _sealed_strings(bundle.version, leaf)
    if extra is None:
        return None
    requester = leaf.requester_commitment
    if status == "anchored":
        if (
            type(inclusion) is not Inclusion
            or type(head) is not Head
            or type(anchor) is not Anchor
            or inclusion.leaf_index >= inclusion.tree_size
            or max(inclusion.tree_size, head.tree_size, head.seq) > MAX_UINT64
            or anchor.tx_hash[:2] != "0x"
            or anchor.block_hash[:2] != "0x"
        ):
            return None
        path = inclusion.path
        hexes = [
            leaf.leaf_hash,
            leaf.salt,
            leaf.signer_sha256,
            leaf.signature_sha256,
            head.root,
            anchor.tx_hash[2:],
            anchor.block_hash[2:],
            *path,
        ]
        registry, node = _address(anchor.registry), _address(anchor.node)
        anchor_lg_code = _lg_code(anchor.lg_code)
        if registry is None or node is None or anchor_lg_code is None:
            return None
    else:
        if not (inclusion is msgspec.UNSET and head is msgspec.UNSET and anchor is msgspec.UNSET):
            return None
        path, registry, node, anchor_lg_code = [], "", "", 0
        hexes = [leaf.leaf_hash, leaf.salt, leaf.signer_sha256, leaf.signature_sha256]
    if type(requester) is str:  # last, after the path
        hexes.append(requester)
    # Every item is 64 characters (the schema): all of them lowercase hex.
    joined = "".join(hexes)
    try:
        hashes = bytes.fromhex(joined)
    except ValueError:
        return None
    if hashes.hex() != joined:  # fromhex also takes upper case and spaces
        return None
    # No duplicate keys: every quote delimits a key or a string value, or is escaped inside
    # one; a repeated key (which the decoder lets the last win) or an escaped quote adds
    # quotes, so the count is exact only without either. Other escapes decode as the strict
    # reader decodes them, and every string is then checked by value.
    quotes = data.count('"') if type(data) is str else data.count(b'"')  # type: ignore[arg-type]
    strings = _KEYS[status] + _STRINGS[status] + len(path) + len(certificates) + extra
    if quotes != 2 * strings:
        return None
    lg_code = _lg_code(leaf.lg_code)
    issued_at, signing_time = _time(leaf.issued_at), _time(leaf.signing_time)
    if lg_code is None or issued_at is None or signing_time is None:
        return None
    if not all(map(_base64, certificates)) or not _base64(signature.value):
        return None
    return Read(bundle, hashes, lg_code, issued_at, signing_time, registry, node, anchor_lg_code)


def _sealed_strings(version: int, leaf: Leaf) -> int | None:
    """How many strings the leaf's kind and requester commitment add (a version-4 leaf has
    both, the commitment possibly null; a version-1 or -2 leaf neither); None if malformed."""
    kind, requester = leaf.kind, leaf.requester_commitment
    if version != _SEALED:
        return 0 if kind is msgspec.UNSET and requester is msgspec.UNSET else None
    if kind is msgspec.UNSET or requester is msgspec.UNSET:
        return None
    if requester is None:
        return 2 + 1  # "kind": "...", "requester_commitment": null
    if requester == _NO_REQUESTER:  # no requester is written null, not zeros
        return None
    return 2 + 2


@functools.lru_cache(maxsize=1024)
def _lg_code(value: str) -> int | None:
    if len(value) != 6 or not (value.isascii() and value.isdigit()):
        return None
    code = int(value)
    return code if is_valid_lg_code(code) else None


@functools.lru_cache(maxsize=4096)
def _time(value: str) -> int | None:
    if _TIME.fullmatch(value) is None:
        return None
    try:
        seconds = int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


@functools.lru_cache(maxsize=1024)
def _address(value: str) -> str | None:
    """EIP-55 form of an all-lowercase or correctly checksummed address."""
    if _ADDRESS.fullmatch(value) is None:
        return None
    checksummed = str(to_checksum_address(value))
    return checksummed if value in (checksummed, value.lower()) else None


def _base64(value: str) -> bool:
    """Canonical padded standard base64, as `protocol.bundle._base64` accepts it."""
    size = len(value)
    if not size or size > _MAX_BLOB_CHARS or size % 4 or not value.isascii():
        return False
    raw = value.encode("ascii")
    body = raw.rstrip(b"=")
    if size - len(body) > 2 or body.translate(None, _BASE64_ALPHABET):
        return False
    last = raw[-4:]
    return binascii.b2a_base64(binascii.a2b_base64(last), newline=False) == last
