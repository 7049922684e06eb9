"""The compact binary form of entry sidecars, certificates by reference.

A JSON sidecar (`node.models`) repeats the signer's certificate twice per entry, in base64: in
`certificates` and inside the CMS. Here each certificate is named by its SHA-256 (the store keeps
its DER once, `node.store.CERTIFICATE`), and every copy of it inside the signature bytes is cut out
and put back on reading, so the signature read back is byte for byte the one signed (the leaf
commits to its SHA-256). A stored value starting with `{` is an older JSON sidecar: both are read,
nothing is migrated.

Document, version 1:
    0x01 | format u8 | salt 32 | received_at i64 | n u8 | n x certificate SHA-256
    | k u8 | k x (certificate number u8, offset u32) | signature rest (u32 length + bytes)
    | receipt_id, client (u16 length + UTF-8) | request_id (u16 length, 0xFFFF: none)
Revocation, version 1:
    0x02 | received_at i64 | revokes (u8 length + bytes) | receipt_id, client
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable

from node.models import DocumentSidecar, EntrySidecar, RecordError, RevocationSidecar
from protocol.leaf import SignatureFormat

DOCUMENT_V1 = 0x01
REVOCATION_V1 = 0x02
_NONE = 0xFFFF

_DOC_HEAD = struct.Struct(">BB32sqB")
_SPLICE = struct.Struct(">BI")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_REV_HEAD = struct.Struct(">BqB")


@functools.lru_cache(maxsize=1024)
def certificate_key(der: bytes) -> bytes:
    """The name a certificate is stored under: its SHA-256 (remembered: a bulk's entries name
    the same few certificates, and a bytes object hashes once for the cache)."""
    return hashlib.sha256(der).digest()


def is_json(raw: bytes) -> bool:
    return raw[:1] == b"{"


def encode(sidecar: EntrySidecar) -> tuple[bytes, dict[bytes, bytes]]:
    """The binary sidecar and the certificates it refers to, by SHA-256."""
    if isinstance(sidecar, RevocationSidecar):
        return (
            _REV_HEAD.pack(REVOCATION_V1, sidecar.received_at, len(sidecar.revokes))
            + sidecar.revokes
            + _text(sidecar.receipt_id)
            + _text(sidecar.client),
            {},
        )
    certificates = sidecar.certificates
    if len(certificates) > 255:
        raise RecordError(f"{len(certificates)} certificates in one sidecar (at most 255)")
    hashes = [certificate_key(der) for der in certificates]
    rest, splices = _cut(sidecar.signature, certificates)
    parts = [
        _DOC_HEAD.pack(
            DOCUMENT_V1,
            int(sidecar.signature_format),
            sidecar.salt,
            sidecar.received_at,
            len(certificates),
        ),
        *hashes,
        bytes([len(splices)]),
        *(_SPLICE.pack(number, offset) for number, offset in splices),
        _U32.pack(len(rest)),
        rest,
        _text(sidecar.receipt_id),
        _text(sidecar.client),
        _U16.pack(_NONE) if sidecar.request_id is None else _text(sidecar.request_id),
    ]
    return b"".join(parts), dict(zip(hashes, certificates, strict=True))


def decode(raw: bytes, certificate: Callable[[bytes], bytes]) -> EntrySidecar:
    """The sidecar stored as binary `raw`; `certificate` returns a DER by its SHA-256."""
    try:
        if raw[0] == REVOCATION_V1:
            _, received_at, length = _REV_HEAD.unpack_from(raw)
            at = _REV_HEAD.size
            revokes = raw[at : at + length]
            receipt_id, at = _read_text(raw, at + length)
            client, at = _read_text(raw, at)
            _end(raw, at)
            return RevocationSidecar(receipt_id, client, received_at, revokes)
        if raw[0] != DOCUMENT_V1:
            raise RecordError(f"unknown sidecar version {raw[0]}")
        _, form, salt, received_at, count = _DOC_HEAD.unpack_from(raw)
        at = _DOC_HEAD.size
        hashes = [raw[at + 32 * i : at + 32 * (i + 1)] for i in range(count)]
        at += 32 * count
        certificates = tuple(certificate(h) for h in hashes)
        splices: list[tuple[int, int]] = []
        for _ in range(raw[at]):
            splices.append(_SPLICE.unpack_from(raw, at + 1 + _SPLICE.size * len(splices)))
        at += 1 + _SPLICE.size * len(splices)
        (length,) = _U32.unpack_from(raw, at)
        rest = raw[at + 4 : at + 4 + length]
        if len(rest) != length:
            raise RecordError("signature cut short")
        at += 4 + length
        receipt_id, at = _read_text(raw, at)
        client, at = _read_text(raw, at)
        (request_length,) = _U16.unpack_from(raw, at)
        request_id: str | None = None
        if request_length == _NONE:
            at += 2
        else:
            request_id, at = _read_text(raw, at)
        _end(raw, at)
        return DocumentSidecar(
            salt=salt,
            signature_format=SignatureFormat(form),
            signature=_splice(rest, splices, certificates),
            certificates=certificates,
            receipt_id=receipt_id,
            request_id=request_id,
            client=client,
            received_at=received_at,
        )
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as error:
        if isinstance(error, RecordError):
            raise
        raise RecordError(f"malformed binary sidecar: {error!r}") from None


def _cut(signature: bytes, certificates: tuple[bytes, ...]) -> tuple[bytes, list[tuple[int, int]]]:
    """`signature` without each certificate it embeds, and where each was: (number, offset in
    the signature read back, in increasing order)."""
    found: list[tuple[int, int]] = []  # (offset in signature, certificate number)
    for number, der in enumerate(certificates):
        offset = signature.find(der) if der else -1
        if offset >= 0 and all(
            offset + len(der) <= start or start + len(certificates[n]) <= offset
            for start, n in found
        ):
            found.append((offset, number))
    if not found:
        return signature, []
    found.sort()
    pieces, position = [], 0
    for offset, number in found:
        pieces.append(signature[position:offset])
        position = offset + len(certificates[number])
    pieces.append(signature[position:])
    return b"".join(pieces), [(number, offset) for offset, number in found]


def _splice(rest: bytes, splices: list[tuple[int, int]], certificates: tuple[bytes, ...]) -> bytes:
    if not splices:
        return rest
    pieces, taken, written = [], 0, 0
    for number, offset in splices:
        gap = offset - written
        if gap < 0:
            raise RecordError("certificate splices overlap")
        pieces.append(rest[taken : taken + gap])
        pieces.append(certificates[number])
        taken += gap
        written = offset + len(certificates[number])
    pieces.append(rest[taken:])
    return b"".join(pieces)


def _text(value: str) -> bytes:
    data = value.encode()
    if len(data) >= _NONE:
        raise RecordError(f"a sidecar text field of {len(data)} bytes (at most {_NONE - 1})")
    return _U16.pack(len(data)) + data


def _read_text(raw: bytes, at: int) -> tuple[str, int]:
    (length,) = _U16.unpack_from(raw, at)
    data = raw[at + 2 : at + 2 + length]
    if len(data) != length:
        raise RecordError("text field cut short")
    return data.decode(), at + 2 + length


def _end(raw: bytes, at: int) -> None:
    if at != len(raw):
        raise RecordError(f"{len(raw) - at} trailing bytes in a binary sidecar")
