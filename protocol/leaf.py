"""The log entry format: what one leaf of a municipal RFC 6962 log commits to, byte for byte.

A leaf is a fixed binary layout (docs/PROTOCOL.md, "Leaf encoding"), versioned and
domain-separated, so that two implementations can only agree by producing the same bytes.
It holds no personal data: the document appears only as a *salted* digest (a guessed document
cannot be tested against it without the holder's salt), and the signer, since encoding version
2, only as a commitment salted with the same per-document salt, so that the documents one card
signed cannot be linked through the public log (version 1 leaves held the certificate's plain
SHA-256 and stay verifiable). The RFC 6962 leaf hash is ``SHA-256(0x00 || encode())``.

Three entry kinds share one log: a *document* entry per notarised document, an *event* entry
per login or signature event a JPKI holder wants to prove later (same layout, its own type
codes), and a *revocation* entry that withdraws an earlier entry by its leaf hash. Since
encoding version 3 a document leaf also commits to the requester: a salted commitment to the
resident's JPKI-signed application and card serial number, which only the resident can open.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from protocol.errors import LeafEncodingError
from protocol.merkle import hash_leaf

DOMAIN_TAG: Final = b"municipal-notary"
"""First 16 bytes of every leaf: no other SHA-256 input in the system starts with them."""

ENCODING_VERSION: Final = 3
"""Byte 16 of a document or event leaf a node writes now: version 2 plus `requester_ref`.

Byte 16 of every leaf. Document entries: 1 (signer field = SHA-256 of the certificate, the
first logs), 2 (signer field = `signer_commitment`) or 3 (version 2 plus the requester
commitment; the only version of event entries); revocation entries: 1 (their layout never
changed). Verifiers refuse others.
"""
LEGACY_ENCODING_VERSION: Final = 1
COMMITTED_SIGNER_VERSION: Final = 2
DOCUMENT_ENCODING_VERSIONS: Final = (
    LEGACY_ENCODING_VERSION,
    COMMITTED_SIGNER_VERSION,
    ENCODING_VERSION,
)
REVOCATION_ENCODING_VERSION: Final = 1

SALTED_DIGEST_TAG: Final = b"municipal-notary/salted-document-digest/v1"
"""Domain tag of the salted document digest (docs/PROTOCOL.md, "Salt rule")."""
SIGNER_COMMITMENT_TAG: Final = b"municipal-notary/signer-commitment/v1"
"""Domain tag of the signer commitment of version-2 and -3 leaves."""
REQUESTER_COMMITMENT_TAG: Final = b"municipal-notary/requester-commitment/v1"
"""Domain tag of the requester commitment of version-3 leaves."""
NO_REQUESTER: Final = bytes(32)
"""`requester_ref` of an entry with no signed application (counter issuance, events)."""
MAX_SERIAL_BYTES: Final = 20
"""RFC 5280 4.1.2.2: a certificate serial number is a positive integer of at most 20 octets."""

SALT_SIZE: Final = 32
DIGEST_SIZE: Final = 32
MAX_UINT16: Final = 0xFFFF
MAX_UINT64: Final = 2**64 - 1

_HEADER: Final = struct.Struct(">16sBB")
_DOCUMENT: Final = struct.Struct(">16sBB32sIHQQB32s32s")
_DOCUMENT_V3: Final = struct.Struct(">16sBB32sIHQQB32s32s32s")
_REVOCATION: Final = struct.Struct(">16sBB32sIHQ")

DOCUMENT_LEAF_SIZE: Final = _DOCUMENT.size
"""137 bytes (versions 1 and 2)."""
DOCUMENT_V3_LEAF_SIZE: Final = _DOCUMENT_V3.size
"""169 bytes: version 2 and the 32-byte requester commitment (documents and events)."""
REVOCATION_LEAF_SIZE: Final = _REVOCATION.size
"""64 bytes."""


class EntryKind(enum.IntEnum):
    """Byte 17 of every leaf."""

    DOCUMENT = 1
    REVOCATION = 2
    EVENT = 3
    """A login or signature event (version 3 only): the document layout, an `EventType`."""


SIGNED_ENTRY_KINDS: Final = (EntryKind.DOCUMENT, EntryKind.EVENT)


class SignatureFormat(enum.IntEnum):
    """How the JPKI signer signed the document; committed in the leaf so it cannot be swapped."""

    CMS = 1
    """CMS SignedData, detached, over the document bytes (messageDigest = SHA-256(document))."""
    PKCS1 = 2
    """A bare RSA PKCS#1 v1.5 SHA-256 signature over the document bytes."""

    @property
    def label(self) -> str:
        """The name used in the proof bundle's ``signature.format``."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> SignatureFormat:
        return cls[label.upper()]


class DocumentType(enum.IntEnum):
    """Registered document types (uint16). 0x8000-0xFFFE are left to municipalities."""

    RESIDENT_RECORD_COPY = 1
    """住民票の写し"""
    RESIDENT_RECORD_ITEMS = 2
    """住民票記載事項証明書"""
    SEAL_REGISTRATION = 3
    """印鑑登録証明書"""
    INCOME_TAX_ASSESSMENT = 4
    """所得証明書・課税証明書"""
    TAX_PAYMENT = 5
    """納税証明書"""
    FAMILY_REGISTER = 6
    """戸籍証明書"""


class EventType(enum.IntEnum):
    """What an event entry records (uint16, in the document-type field of the layout)."""

    LOGIN = 1
    """A login with the card's user-authentication certificate (利用者証明用電子証明書)."""
    SIGNATURE = 2
    """An electronic signature with the signature certificate (署名用電子証明書)."""


class RevocationReason(enum.IntEnum):
    """Why a municipality withdrew a document it issued (uint16)."""

    UNSPECIFIED = 1
    ISSUED_IN_ERROR = 2
    """誤交付: issued to the wrong person or with wrong content."""
    SUPERSEDED = 3
    """再交付: replaced by a newly issued document."""
    WITHDRAWN_BY_ISSUER = 4
    SIGNER_KEY_COMPROMISE = 5


def document_type_label(code: int) -> str:
    """A readable name for a document type code, registered or not."""
    try:
        return DocumentType(code).name.lower()
    except ValueError:
        if 0x8000 <= code <= 0xFFFE:
            return f"municipality-defined type {code}"
        return f"unregistered type {code}"


def event_type_label(code: int) -> str:
    try:
        return EventType(code).name.lower()
    except ValueError:
        return f"unregistered event type {code}"


def entry_type_label(kind: EntryKind, code: int) -> str:
    """The type code read as what it is for this kind of entry."""
    return event_type_label(code) if kind == EntryKind.EVENT else document_type_label(code)


def revocation_reason_label(code: int) -> str:
    try:
        return RevocationReason(code).name.lower()
    except ValueError:
        return f"unregistered reason {code}"


def new_salt() -> bytes:
    """32 random bytes from the OS CSPRNG: one per document, drawn by the node, never reused."""
    return secrets.token_bytes(SALT_SIZE)


def salted_digest(salt: bytes, document_sha256: bytes) -> bytes:
    """SHA-256(SALTED_DIGEST_TAG || salt || SHA-256(document)): what the leaf commits to."""
    _check_bytes(salt, SALT_SIZE, "salt")
    _check_bytes(document_sha256, DIGEST_SIZE, "document digest")
    return hashlib.sha256(SALTED_DIGEST_TAG + salt + document_sha256).digest()


def signer_commitment(salt: bytes, signer_sha256: bytes) -> bytes:
    """SHA-256(SIGNER_COMMITMENT_TAG || salt || SHA-256(signer certificate DER)).

    The signer field of a version-2 leaf. The document's own salt hides it: without the
    holder's bundle, two leaves of the same card look unrelated, and a known certificate
    cannot be tested against a leaf.
    """
    _check_bytes(salt, SALT_SIZE, "salt")
    _check_bytes(signer_sha256, DIGEST_SIZE, "signer certificate digest")
    return hashlib.sha256(SIGNER_COMMITMENT_TAG + salt + signer_sha256).digest()


def requester_commitment(salt: bytes, application_sha256: bytes, card_serial: int) -> bytes:
    """SHA-256(REQUESTER_COMMITMENT_TAG || salt || SHA-256(application) || serial (20 bytes)).

    The requester field of a version-3 leaf. `salt` is the requester salt (not the document's:
    the resident, who alone receives it, can open the commitment to a verifier without giving
    away anything else); the serial is the card certificate's, big-endian, left-padded.
    """
    _check_bytes(salt, SALT_SIZE, "requester salt")
    _check_bytes(application_sha256, DIGEST_SIZE, "application digest")
    serial = card_serial_bytes(card_serial)
    return hashlib.sha256(REQUESTER_COMMITMENT_TAG + salt + application_sha256 + serial).digest()


def card_serial_bytes(card_serial: int) -> bytes:
    """A certificate serial number as the 20 bytes the requester commitment hashes."""
    if isinstance(card_serial, bool) or not isinstance(card_serial, int) or card_serial <= 0:
        raise LeafEncodingError("a certificate serial number is a positive integer")
    if card_serial.bit_length() > 8 * MAX_SERIAL_BYTES:
        raise LeafEncodingError(f"a certificate serial number has at most {MAX_SERIAL_BYTES} bytes")
    return card_serial.to_bytes(MAX_SERIAL_BYTES, "big")


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """A notarised document (or, `kind` EVENT, a login or signature event): salted digest,
    issuer, type, times and the signature's fingerprints.

    Times are Unix seconds (UTC). `signing_time` is the moment the JPKI signer signed: the
    signer certificate is judged at that moment, so the leaf commits to it (a bundle holder
    cannot move it to before a revocation). `signer_ref` is, by `version`, the certificate's
    SHA-256 (1) or `signer_commitment(salt, SHA-256(certificate))` (2, 3). `requester_ref`
    (version 3) is `requester_commitment(...)` of the resident's signed application, or
    `NO_REQUESTER`; for an event `document_type` holds its `EventType`.
    """

    salted_digest: bytes
    lg_code: int
    document_type: int
    issued_at: int
    signing_time: int
    signature_format: SignatureFormat
    signer_ref: bytes
    signature_sha256: bytes
    version: int = LEGACY_ENCODING_VERSION
    requester_ref: bytes = NO_REQUESTER
    kind: EntryKind = EntryKind.DOCUMENT

    def __post_init__(self) -> None:
        if self.version not in DOCUMENT_ENCODING_VERSIONS:
            raise LeafEncodingError(f"document leaf encoding version {self.version!r} is unknown")
        if self.kind not in SIGNED_ENTRY_KINDS:
            raise LeafEncodingError("kind must be a document or an event")
        _check_bytes(self.requester_ref, DIGEST_SIZE, "requester_ref")
        if self.version < ENCODING_VERSION and (
            self.kind != EntryKind.DOCUMENT or self.requester_ref != NO_REQUESTER
        ):
            raise LeafEncodingError(
                f"events and requester commitments need leaf version {ENCODING_VERSION}"
            )
        _check_bytes(self.salted_digest, DIGEST_SIZE, "salted_digest")
        check_lg_code(self.lg_code)
        _check_int(self.document_type, 1, MAX_UINT16 - 1, "document_type")
        _check_int(self.issued_at, 0, MAX_UINT64, "issued_at")
        _check_int(self.signing_time, 0, MAX_UINT64, "signing_time")
        if not isinstance(self.signature_format, SignatureFormat):
            raise LeafEncodingError("signature_format must be a SignatureFormat")
        _check_bytes(self.signer_ref, DIGEST_SIZE, "signer_ref")
        _check_bytes(self.signature_sha256, DIGEST_SIZE, "signature_sha256")

    def encode(self) -> bytes:
        """The 137 (versions 1, 2) or 169 (version 3) leaf bytes (PROTOCOL.md, "Document entry")."""
        return encode_document(
            self.salted_digest,
            self.lg_code,
            self.document_type,
            self.issued_at,
            self.signing_time,
            self.signature_format,
            self.signer_ref,
            self.signature_sha256,
            version=self.version,
            requester_ref=self.requester_ref,
            kind=self.kind,
        )

    def leaf_hash(self) -> bytes:
        """The RFC 6962 leaf hash, SHA-256(0x00 || encode())."""
        return hash_leaf(self.encode())


def encode_document(
    salted_digest: bytes,
    lg_code: int,
    document_type: int,
    issued_at: int,
    signing_time: int,
    signature_format: SignatureFormat,
    signer_ref: bytes,
    signature_sha256: bytes,
    *,
    version: int,
    requester_ref: bytes = NO_REQUESTER,
    kind: EntryKind = EntryKind.DOCUMENT,
) -> bytes:
    """The document layout itself, for callers whose fields are already validated.

    Raises LeafEncodingError if a value does not fit its field.
    """
    if version not in DOCUMENT_ENCODING_VERSIONS:
        raise LeafEncodingError(f"document leaf encoding version {version!r} is unknown")
    try:
        if version == ENCODING_VERSION:
            return _DOCUMENT_V3.pack(
                DOMAIN_TAG,
                version,
                kind,
                salted_digest,
                lg_code,
                document_type,
                issued_at,
                signing_time,
                signature_format,
                signer_ref,
                signature_sha256,
                requester_ref,
            )
        return _DOCUMENT.pack(
            DOMAIN_TAG,
            version,
            EntryKind.DOCUMENT,
            salted_digest,
            lg_code,
            document_type,
            issued_at,
            signing_time,
            signature_format,
            signer_ref,
            signature_sha256,
        )
    except struct.error as exc:
        raise LeafEncodingError(f"a document field does not fit the leaf layout ({exc})") from None


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """The issuing municipality withdraws the document entry with `revoked_leaf_hash`."""

    revoked_leaf_hash: bytes
    lg_code: int
    reason: int
    revoked_at: int

    def __post_init__(self) -> None:
        _check_bytes(self.revoked_leaf_hash, DIGEST_SIZE, "revoked_leaf_hash")
        check_lg_code(self.lg_code)
        _check_int(self.reason, 1, MAX_UINT16 - 1, "reason")
        _check_int(self.revoked_at, 0, MAX_UINT64, "revoked_at")

    def encode(self) -> bytes:
        """The 64 leaf bytes (docs/PROTOCOL.md, "Revocation entry")."""
        return _REVOCATION.pack(
            DOMAIN_TAG,
            REVOCATION_ENCODING_VERSION,
            EntryKind.REVOCATION,
            self.revoked_leaf_hash,
            self.lg_code,
            self.reason,
            self.revoked_at,
        )

    def leaf_hash(self) -> bytes:
        return hash_leaf(self.encode())


def decode_entry(data: bytes) -> DocumentEntry | RevocationEntry:
    """Parse leaf bytes back into an entry; refuses anything but the exact layouts."""
    if not isinstance(data, bytes) or len(data) < _HEADER.size:
        raise LeafEncodingError("too short to be a leaf")
    tag, version, kind = _HEADER.unpack_from(data)
    if tag != DOMAIN_TAG:
        raise LeafEncodingError("not a municipal-notary leaf (wrong domain tag)")
    supported = {
        EntryKind.DOCUMENT: DOCUMENT_ENCODING_VERSIONS,
        EntryKind.EVENT: (ENCODING_VERSION,),
        EntryKind.REVOCATION: (REVOCATION_ENCODING_VERSION,),
    }.get(kind, ())
    if supported and version not in supported:
        raise LeafEncodingError(f"leaf encoding version {version} is not supported")
    if kind in SIGNED_ENTRY_KINDS:
        layout = _DOCUMENT_V3 if version == ENCODING_VERSION else _DOCUMENT
        if len(data) != layout.size:
            raise LeafEncodingError(
                f"a version-{version} {EntryKind(kind).name.lower()} leaf has {layout.size} bytes"
            )
        fields = layout.unpack(data)[3:]
        try:
            signature_format = SignatureFormat(fields[5])
        except ValueError:
            raise LeafEncodingError(f"unknown signature format {fields[5]}") from None
        return DocumentEntry(
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            fields[4],
            signature_format,
            fields[6],
            fields[7],
            version=version,
            requester_ref=fields[8] if version == ENCODING_VERSION else NO_REQUESTER,
            kind=EntryKind(kind),
        )
    if kind == EntryKind.REVOCATION:
        if len(data) != REVOCATION_LEAF_SIZE:
            raise LeafEncodingError(f"a revocation leaf has {REVOCATION_LEAF_SIZE} bytes")
        return RevocationEntry(*_REVOCATION.unpack(data)[3:])
    raise LeafEncodingError(f"unknown entry kind {kind}")


SignedEntryFields = tuple[int, int, int, int, EntryKind, bytes]
"""(lg_code, document_type, issued_at, signing_time, kind, requester_ref)."""

_SIGNATURE_FORMATS: Final = frozenset(SignatureFormat)
_KINDS: Final = {int(kind): kind for kind in SIGNED_ENTRY_KINDS}


def entry_fields(entry: DocumentEntry) -> SignedEntryFields:
    """`signed_entry_fields` of a decoded entry: the same tuple, from its attributes."""
    return (
        entry.lg_code,
        entry.document_type,
        entry.issued_at,
        entry.signing_time,
        entry.kind,
        entry.requester_ref,
    )


def signed_entry_fields(data: bytes) -> SignedEntryFields | None:
    """The fields a receipt names of a version-3 document or event leaf, read without building
    its `DocumentEntry` (~4 x faster: the node signs a receipt per appended entry). None for
    any other bytes, valid or not, which `decode_entry` then reads or refuses: whatever this
    reads, `decode_entry` accepts with the same fields (tests/test_leaf_fast_fields.py)."""
    if len(data) != _DOCUMENT_V3.size:
        return None
    (
        tag,
        version,
        kind,
        _,
        lg_code,
        document_type,
        issued_at,
        signing_time,
        form,
        _,
        _,
        requester,
    ) = _DOCUMENT_V3.unpack(data)
    if (
        tag != DOMAIN_TAG
        or version != ENCODING_VERSION
        or kind not in _KINDS
        or form not in _SIGNATURE_FORMATS
        or not 1 <= document_type <= MAX_UINT16 - 1
        or not _known_lg_code(lg_code)
    ):
        return None
    return lg_code, document_type, issued_at, signing_time, _KINDS[kind], requester


def check_lg_code(code: int) -> int:
    """A 6-digit 全国地方公共団体コード with a valid check digit (the registry's own rule)."""
    if not is_valid_lg_code(code):
        raise LeafEncodingError(
            f"{code!r} is not a 6-digit local-government code with a valid check digit"
        )
    return code


def is_valid_lg_code(code: int) -> bool:
    """Prefecture 01-47 and check digit (weights 6..2 over the first five digits, mod 11).

    The rule `NotaryRegistry.isValidLocalGovernmentCode` enforces on chain, and the only Python
    copy of it: the leaf format, the bundle reader and the chain client (`anchor`) all use this.
    A bool or any other non-int is never a code (True is an int subclass, not a deliberate 1).
    """
    if isinstance(code, bool) or not isinstance(code, int):
        return False
    if not 0 <= code < 1_000_000 or not 1 <= code // 10_000 <= 47:
        return False
    body, total = code // 10, 0
    for weight in range(2, 7):
        total += (body % 10) * weight
        body //= 10
    return (11 - total % 11) % 10 == code % 10


# `is_valid_lg_code` remembered, for `signed_entry_fields` (a node writes one code).
_known_lg_code = functools.lru_cache(maxsize=4096, typed=True)(is_valid_lg_code)


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch of a time-zone-aware datetime (sub-seconds dropped)."""
    if moment.utcoffset() is None:
        raise LeafEncodingError("a time must carry a time zone (e.g. UTC)")
    return int(moment.timestamp())


def from_unix_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _check_bytes(value: object, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise LeafEncodingError(f"{what} must be {size} bytes")


def _check_int(value: object, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LeafEncodingError(f"{what} must be an integer from {low} to {high}")
