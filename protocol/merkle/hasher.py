"""RFC 6962 §2.1 hashing: the only place that knows the domain-separation prefixes.

Leaves and interior nodes get different one-byte prefixes so that a leaf can never be
passed off as an interior node (second-preimage resistance of the tree).
"""

from __future__ import annotations

import hashlib
from typing import Final

HASH_SIZE: Final = 32
"""Every hash in the tree is a SHA-256 digest of this many bytes."""

LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()
"""MTH({}) — the root of a tree with no leaves (RFC 6962 §2.1)."""


def hash_leaf(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash a leaf contributes to the tree."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()
