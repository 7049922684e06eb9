"""Tree heads signed by a node's anchoring key (EIP-712), for `NotaryRegistry.anchorMany`.

A node signs `Head(address node,uint64 seq,uint64 treeSize,bytes32 root)` in the domain
{name "NotaryRegistry", version `REGISTRY_VERSION`, chainId, verifyingContract}; any relayer
can then put the head into a batch. The chain id and registry address in the domain mean a
signature is good for one registry on one chain only; the registry's sequence rule makes a
replay on that registry harmless (the seq is used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

# The domain's facts live in `protocol` (a timestamp's imprint is computed from them too).
from protocol.signed_head import REGISTRY_NAME, REGISTRY_VERSION

HEAD_TYPES: dict[str, list[dict[str, str]]] = {
    "Head": [
        {"name": "node", "type": "address"},
        {"name": "seq", "type": "uint64"},
        {"name": "treeSize", "type": "uint64"},
        {"name": "root", "type": "bytes32"},
    ]
}
SIGNATURE_LENGTH = 65
# secp256k1 order / 2: the registry (OpenZeppelin's ECDSA) refuses an `s` above it.
HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass(frozen=True)
class SignedHead:
    """One node's head with its EIP-712 signature (`v` 27/28, `r`, `s` 32 bytes each)."""

    node: str
    seq: int
    tree_size: int
    root: bytes
    v: int
    r: bytes
    s: bytes

    @property
    def signature(self) -> bytes:
        """The 65-byte `r ‖ s ‖ v` form (what the relay API carries)."""
        return self.r + self.s + bytes([self.v])

    def as_abi(self) -> tuple[str, int, int, bytes, int, bytes, bytes]:
        """The `SignedHead` struct as web3 encodes it."""
        return (self.node, self.seq, self.tree_size, self.root, self.v, self.r, self.s)

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "seq": self.seq,
            "tree_size": self.tree_size,
            "root": "0x" + self.root.hex(),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> SignedHead:
        """Parse the JSON form strictly; raises ValueError naming the bad field."""
        if not isinstance(obj, dict):
            raise ValueError("a signed head must be a JSON object")
        unknown = sorted(set(obj) - {"node", "seq", "tree_size", "root", "signature"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} in a signed head")
        node = obj.get("node")
        if not isinstance(node, str):
            raise ValueError("node must be an address")
        try:
            node = to_checksum_address(node)
        except ValueError:
            raise ValueError("node must be an address") from None
        seq, size = obj.get("seq"), obj.get("tree_size")
        for name, value in (("seq", seq), ("tree_size", size)):
            if type(value) is not int or not 0 <= value < 2**64:
                raise ValueError(f"{name} must be an integer in uint64 range")
        root = _hex_bytes(obj.get("root"), "root", 32)
        signature = _hex_bytes(obj.get("signature"), "signature", SIGNATURE_LENGTH)
        return from_signature(node, seq, size, root, signature)  # type: ignore[arg-type]


def from_signature(
    node: str, seq: int, tree_size: int, root: bytes, signature: bytes
) -> SignedHead:
    """A signed head from the 65-byte `r ‖ s ‖ v` signature."""
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError("a signature must be 65 bytes (r, s, v)")
    return SignedHead(
        node=to_checksum_address(node),
        seq=seq,
        tree_size=tree_size,
        root=bytes(root),
        v=signature[64],
        r=bytes(signature[:32]),
        s=bytes(signature[32:64]),
    )


def head_typed_data(
    *, chain_id: int, registry: str, node: str, seq: int, tree_size: int, root: bytes
) -> dict[str, Any]:
    """The full EIP-712 message (what `eth_signTypedData_v4` takes) for one head."""
    if len(root) != 32:
        raise ValueError("a tree root must be exactly 32 bytes")
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **HEAD_TYPES,
        },
        "primaryType": "Head",
        "domain": {
            "name": REGISTRY_NAME,
            "version": REGISTRY_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(registry),
        },
        "message": {
            "node": to_checksum_address(node),
            "seq": seq,
            "treeSize": tree_size,
            "root": bytes(root),
        },
    }


def sign_head(
    account: LocalAccount, *, chain_id: int, registry: str, seq: int, tree_size: int, root: bytes
) -> SignedHead:
    """Sign the head `(seq, tree_size, root)` of `account`'s node for `registry` on `chain_id`."""
    message = head_typed_data(
        chain_id=chain_id,
        registry=registry,
        node=account.address,
        seq=seq,
        tree_size=tree_size,
        root=root,
    )
    signed = account.sign_message(encode_typed_data(full_message=message))
    return SignedHead(
        node=to_checksum_address(account.address),
        seq=seq,
        tree_size=tree_size,
        root=bytes(root),
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
    )


def head_signer(head: SignedHead, *, chain_id: int, registry: str) -> str | None:
    """The address that signed `head` for `registry` on `chain_id`, checked as strictly as
    the registry checks it (`v` 27/28, low `s`); None if the signature is unusable.

    A relayer calls this before batching, so a bad head costs it no gas."""
    if head.v not in (27, 28) or int.from_bytes(head.s, "big") > HALF_CURVE_ORDER:
        return None
    message = head_typed_data(
        chain_id=chain_id,
        registry=registry,
        node=head.node,
        seq=head.seq,
        tree_size=head.tree_size,
        root=head.root,
    )
    try:
        signer = Account.recover_message(encode_typed_data(full_message=message), vrs=_vrs(head))
    except Exception:  # eth-keys raises several types for an invalid signature
        return None
    return to_checksum_address(signer)


def _vrs(head: SignedHead) -> tuple[int, int, int]:
    return head.v, int.from_bytes(head.r, "big"), int.from_bytes(head.s, "big")


def _hex_bytes(value: object, name: str, length: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{name} must be 0x-prefixed hex")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{name} must be 0x-prefixed hex") from None
    if len(data) != length:
        raise ValueError(f"{name} must be {length} bytes")
    return data
