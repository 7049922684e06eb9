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
    def __init__(self, account: LocalAccount) -> None:
        self._key = PrivateKey(bytes(account.key))

    def sign_text(self, text: str) -> bytes:
        """The 65-byte signature (r, s, v) of `text` as an EIP-191 personal message."""
        data = text.encode()
        digest = keccak(_PREFIX + str(len(data)).encode() + data)
        signature = self._key.sign_recoverable(digest, hasher=None)
        return signature[:64] + bytes([signature[64] + 27])
