"""`protocol.leaf.signed_entry_fields` (the receipts' fast read of a leaf) against
`decode_entry`: whatever it reads, `decode_entry` accepts with the same fields; it reads every
version-3 document and event leaf; everything else (older versions, revocations, any refused
bytes) it leaves to `decode_entry`."""

from __future__ import annotations

import random

from protocol.errors import LeafEncodingError
from protocol.leaf import (
    NO_REQUESTER,
    DocumentEntry,
    EntryKind,
    RevocationEntry,
    SignatureFormat,
    decode_entry,
    entry_fields,
    signed_entry_fields,
)

LG_CODES = (131016, 11002, 472018)


def _leaves(rng: random.Random) -> list[bytes]:
    leaves = []
    for version in (1, 2, 3):
        for kind in (EntryKind.DOCUMENT, EntryKind.EVENT):
            if kind == EntryKind.EVENT and version < 3:
                continue
            for requester in (NO_REQUESTER, rng.randbytes(32)):
                if requester != NO_REQUESTER and version < 3:
                    continue
                entry = DocumentEntry(
                    rng.randbytes(32),
                    rng.choice(LG_CODES),
                    rng.choice((1, 2, 0x8001, 65534)),
                    rng.randrange(2**64),
                    rng.randrange(2**64),
                    rng.choice(list(SignatureFormat)),
                    rng.randbytes(32),
                    rng.randbytes(32),
                    version=version,
                    requester_ref=requester,
                    kind=kind,
                )
                leaves.append(entry.encode())
    leaves.append(RevocationEntry(rng.randbytes(32), 131016, 1, 5).encode())
    return leaves


def _fields(data: bytes) -> object:
    try:
        entry = decode_entry(data)
    except LeafEncodingError:
        return "refused"
    if not isinstance(entry, DocumentEntry):
        return "revocation"
    return (entry.version, entry_fields(entry))


def test_fast_fields_agree_with_decode_entry_on_valid_and_changed_leaves() -> None:
    rng = random.Random(16)
    read = 0
    for _ in range(40):
        for leaf in _leaves(rng):
            variants = [leaf]
            for _ in range(30):  # one to three bytes changed, or cut, or lengthened
                changed = bytearray(leaf)
                for _ in range(rng.randint(1, 3)):
                    at = rng.randrange(len(changed))
                    # Mostly the header, lg code, type and format bytes, where rules apply.
                    at = rng.choice((at, rng.randrange(16, 18), rng.randrange(50, 56), 72))
                    changed[at % len(changed)] = rng.randrange(256)
                variants += [bytes(changed), leaf[:-1], leaf + b"\x00"]
            for data in variants:
                fast = signed_entry_fields(data)
                full = _fields(data)
                if fast is not None:
                    assert full == (3, fast), data.hex()
                    read += 1
                elif isinstance(full, tuple):
                    assert full[0] != 3  # only older versions are left to decode_entry
    assert read > 500


def test_every_version_3_signed_leaf_is_read_fast() -> None:
    rng = random.Random(3)
    for leaf in _leaves(rng):
        full = _fields(leaf)
        if isinstance(full, tuple) and full[0] == 3:
            assert signed_entry_fields(leaf) == full[1]
        else:
            assert signed_entry_fields(leaf) is None
