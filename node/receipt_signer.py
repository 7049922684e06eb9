"""Receipt signatures: EIP-191 personal messages signed with libsecp256k1 through coincurve.

The same bytes eth_account's `sign_message(encode_defunct(text=...))` returns (RFC 6979
deterministic nonces, low s, v = 27 + recovery id), at a fraction of its per-call cost: a bulk
request signs one receipt per entry, and eth_account spends most of its time in key and
message objects around the one libsecp256k1 call."""

from __future__ import annotations

from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

_PREFIX = b"\x19Ethereum Signed Message:\n"


class ReceiptSigner:
    def __init__(self, account: LocalAccount | bytes) -> None:
        """From the node's account, or its raw 32-byte private key (an intake worker)."""
        raw = account if isinstance(account, bytes) else bytes(account.key)
        self._key = PrivateKey(raw)

    def sign_text(self, text: str) -> bytes:
        """The 65-byte signature (r, s, v) of `text` as an EIP-191 personal message."""
        return self.sign_bytes(text.encode())

    def sign_bytes(self, data: bytes) -> bytes:
        """`sign_text` of the text whose UTF-8 encoding is `data`."""
        digest = keccak(_PREFIX + str(len(data)).encode() + data)
        signature = self._key.sign_recoverable(digest, hasher=None)
        return signature[:64] + bytes([signature[64] + 27])
