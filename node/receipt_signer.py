"""Receipt signatures: EIP-191 personal messages signed with libsecp256k1 through coincurve.

The same bytes eth_account's `sign_message(encode_defunct(text=...))` returns (RFC 6979
deterministic nonces, low s, v = 27 + recovery id), at a fraction of its per-call cost: a bulk
request signs one receipt per entry, and eth_account spends most of its time in key and
message objects around the one libsecp256k1 call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak as eth_keccak

try:  # pycryptodome: eth_hash's backend here (eth-keyfile requires it)
    from Crypto.Hash import keccak as _pycryptodome_keccak
    from Crypto.Util import _raw_api
except ImportError:  # pragma: no cover
    _pycryptodome_keccak = _raw_api = None  # type: ignore[assignment]

_PREFIX = b"\x19Ethereum Signed Message:\n"


def _direct_keccak() -> Callable[[bytes], bytes] | None:
    """Keccak-256 by pycryptodome's C code called straight through its cffi binding, one
    reused state per thread: ~2 us for a receipt's ~500 bytes, where eth_hash's dispatch to
    the same code through a new hash object takes ~5. None where pycryptodome binds its C
    code otherwise (ctypes) or has moved it."""
    lib: Any = getattr(_pycryptodome_keccak, "_raw_keccak_lib", None)
    ffi: Any = getattr(_raw_api, "ffi", None)
    if getattr(_raw_api, "backend", None) != "cffi" or lib is None or ffi is None:
        return None
    local = threading.local()

    def keccak256(data: bytes) -> bytes:
        try:
            state, out = local.state, local.out
        except AttributeError:
            pointer = ffi.new("void **")
            if lib.keccak_init(pointer, 64, 24):  # capacity 2 x 32 bytes, 24 rounds
                raise RuntimeError("keccak_init failed") from None
            state = local.state = ffi.gc(pointer[0], lib.keccak_destroy)
            out = local.out = ffi.new("uint8_t[32]")
        if (
            lib.keccak_reset(state)
            or lib.keccak_absorb(state, data, len(data))
            or lib.keccak_digest(state, out, 32, 0x01)  # Keccak's padding, not SHA-3's
        ):
            raise RuntimeError("keccak failed")
        return bytes(ffi.buffer(out))

    try:
        works = keccak256(b"") == eth_keccak(b"") and keccak256(b"a" * 200) == eth_keccak(
            b"a" * 200
        )
    except Exception:  # a binding laid out otherwise: eth_hash then
        return None
    return keccak256 if works else None


keccak: Callable[[bytes], bytes] = _direct_keccak() or eth_keccak
"""Keccak-256, as eth_hash's `keccak` (tests/test_node_receipts.py holds them equal)."""


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
