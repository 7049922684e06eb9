"""Authenticated peer requests: every gossip and sync request carries a signature by the
sending node's key over the body, a timestamp and this network's genesis hash.

A validator signs with its validator key, so the signer set itself says who may talk to
it; a full node signs with its node key (`DATA/nodekey`) and must be allowed by address.
Replaying a captured request achieves nothing: every peer method is idempotent (a known
block is `known`, a known transaction is ignored), and the timestamp bounds the window."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from eth_keys.datatypes import PrivateKey, Signature
from eth_typing import Address
from eth_utils.crypto import keccak

HEADER_SIGNATURE = "x-devnet-signature"
HEADER_TIME = "x-devnet-time"
HEADER_FROM = "x-devnet-from"  # the sender's peer-plane URL, so we can gossip back
MAX_CLOCK_SKEW_SECONDS = 60
_DOMAIN = b"municipal-notary devnet peer request v1\x00"


class PeerAuthError(Exception):
    """A peer request without a valid signature, or from a node that is not allowed."""


def _message_hash(genesis_hash: bytes, timestamp: str, sender_url: str, body: bytes) -> bytes:
    return keccak(
        _DOMAIN + genesis_hash + timestamp.encode() + b"\x00" + sender_url.encode() + b"\x00"
        + keccak(body)
    )  # fmt: skip


@dataclass(frozen=True)
class PeerIdentity:
    """This node's key on the peer plane and the network it belongs to."""

    key: PrivateKey
    genesis_hash: bytes
    url: str  # our own peer-plane URL, as others should call it

    @property
    def address(self) -> Address:
        return Address(self.key.public_key.to_canonical_address())

    def sign(self, body: bytes, now: float | None = None) -> dict[str, str]:
        """Headers that authenticate `body` as coming from this node."""
        timestamp = str(int(time.time() if now is None else now))
        digest = _message_hash(self.genesis_hash, timestamp, self.url, body)
        signature = self.key.sign_msg_hash(digest)
        return {
            HEADER_SIGNATURE: "0x" + signature.to_bytes().hex(),
            HEADER_TIME: timestamp,
            HEADER_FROM: self.url,
        }


def authenticate(
    genesis_hash: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> tuple[Address, str]:
    """(sender address, sender's peer URL) of a signed request; raises PeerAuthError."""
    signature_hex = headers.get(HEADER_SIGNATURE, "")
    timestamp = headers.get(HEADER_TIME, "")
    sender_url = headers.get(HEADER_FROM, "")
    if not signature_hex or not timestamp.isdigit():
        raise PeerAuthError("unsigned peer request")
    if abs(int(timestamp) - (time.time() if now is None else now)) > MAX_CLOCK_SKEW_SECONDS:
        raise PeerAuthError(f"peer request timestamp {timestamp} is off by more than 60 s")
    try:
        signature = Signature(bytes.fromhex(signature_hex.removeprefix("0x")))
        public_key = signature.recover_public_key_from_msg_hash(
            _message_hash(genesis_hash, timestamp, sender_url, body)
        )
    except Exception as error:  # malformed signature bytes or an unrecoverable point
        raise PeerAuthError(f"unreadable peer signature: {error}") from None
    return Address(public_key.to_canonical_address()), sender_url
