"""The tree head a node signs (EIP-712) and what an RFC 3161 timestamp covers.

A node's head `(node, seq, treeSize, root)` is signed as the EIP-712 struct
`Head(address node,uint64 seq,uint64 treeSize,bytes32 root)` in the domain {name
`REGISTRY_NAME`, version `REGISTRY_VERSION`, chainId, verifyingContract = the registry}
(`anchor.signing` signs it, the registry checks it). Its *signed-head bytes* are the 66 bytes
EIP-712 hashes for signing:

    0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(Head)

A timestamp token over a head carries the message imprint SHA-256(signed-head bytes): the
same statement the registry anchors (this node's head number `seq` of this registry on this
chain), so a token cannot be moved to another node's, registry's or chain's head.
"""

from __future__ import annotations

import hashlib
from typing import Final

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

REGISTRY_NAME: Final = "NotaryRegistry"
REGISTRY_VERSION: Final = "2"
"""`NotaryRegistry.VERSION`: the EIP-712 domain version (version 1 had no `anchorMany`)."""

HEAD_TYPE: Final = "Head(address node,uint64 seq,uint64 treeSize,bytes32 root)"
DOMAIN_TYPE: Final = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
SIGNED_HEAD_LENGTH: Final = 66


def domain_separator(chain_id: int, registry: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=DOMAIN_TYPE),
                keccak(text=REGISTRY_NAME),
                keccak(text=REGISTRY_VERSION),
                chain_id,
                to_canonical_address(registry),
            ],
        )
    )


def head_struct_hash(node: str, seq: int, tree_size: int, root: bytes) -> bytes:
    if len(root) != 32:
        raise ValueError("a tree root must be exactly 32 bytes")
    return keccak(
        abi_encode(
            ["bytes32", "address", "uint64", "uint64", "bytes32"],
            [keccak(text=HEAD_TYPE), to_canonical_address(node), seq, tree_size, bytes(root)],
        )
    )


def signed_head_bytes(
    *, chain_id: int, registry: str, node: str, seq: int, tree_size: int, root: bytes
) -> bytes:
    """The 66 bytes whose Keccak-256 the node's key signs for this head."""
    return (
        b"\x19\x01"
        + domain_separator(chain_id, registry)
        + head_struct_hash(node, seq, tree_size, root)
    )


def head_timestamp_digest(
    *, chain_id: int, registry: str, node: str, seq: int, tree_size: int, root: bytes
) -> bytes:
    """The message imprint (SHA-256) an RFC 3161 token over this head must carry."""
    return hashlib.sha256(
        signed_head_bytes(
            chain_id=chain_id,
            registry=registry,
            node=node,
            seq=seq,
            tree_size=tree_size,
            root=root,
        )
    ).digest()
