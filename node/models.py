"""The node's own records, typed: tree heads with how far their anchoring got, and the sidecar
kept next to each log entry.

Each reads and writes exactly the JSON the store has always held (field names, order and
encodings), so data folders written by earlier versions keep working and a record read and
written back is byte for byte what it was.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar

from protocol.errors import BundleFormatError
from protocol.evidence import EvidenceSection, evidence_to_json, parse_evidence
from protocol.leaf import SignatureFormat

ANCHORED_BY_KEY = "node"
"""Key in a head record's `extra` object: the address that anchored the head (the node's
key at that time). Absent in heads recorded before the node kept it."""


class RecordError(ValueError):
    """A stored record does not have the shape this node writes."""


class HeadState(enum.StrEnum):
    """How far a head's anchoring got; heads move through these in order (a reorg can send
    one back)."""

    SEALED = "sealed"
    """In the log, not sent."""
    SUBMITTED = "submitted"
    """Its transaction is sent (or its signed head handed to a relayer), not mined."""
    ANCHORED = "anchored"
    """Mined in a block, not yet final."""
    FINAL = "final"
    """Enough blocks on top of its block (the finality depth)."""

    @property
    def is_anchored(self) -> bool:
        return self in (HeadState.ANCHORED, HeadState.FINAL)


@dataclass(frozen=True)
class AnchoringRecord:
    """Where a head's anchoring stands on chain.

    `tx_hash` is the transaction that carries it (None while a relayer holds the signed head);
    the block fields are set once it is mined; `anchored_by` is the key that signed it (after
    a key rotation, older heads stay filed under the previous key), None for heads recorded
    before the node kept it."""

    tx_hash: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    anchored_at: int | None = None  # block timestamp
    anchored_by: str | None = None

    def unmined(self) -> AnchoringRecord:
        """The same transaction, back in the pool (its block left the chain)."""
        return replace(self, block_number=None, block_hash=None, anchored_at=None)


@dataclass(frozen=True)
class Head:
    """A sealed tree head and how far its anchoring got. Changes make a new `Head`
    (`submitted`, `anchored`, `unmined`, `reset`, `finalised`) for the store to save."""

    seq: int
    tree_size: int
    root: bytes
    sealed_at: float
    state: HeadState = HeadState.SEALED
    anchoring: AnchoringRecord = AnchoringRecord()
    attempts: int = 0
    last_error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Keys of the record's `extra` object this version does not know: kept as they are."""

    # ------------------------------------------------------------------ views

    @property
    def tx_hash(self) -> str | None:
        return self.anchoring.tx_hash

    @property
    def block_number(self) -> int | None:
        return self.anchoring.block_number

    @property
    def block_hash(self) -> str | None:
        return self.anchoring.block_hash

    @property
    def anchored_at(self) -> int | None:
        return self.anchoring.anchored_at

    @property
    def anchored_by(self) -> str | None:
        return self.anchoring.anchored_by

    # ------------------------------------------------------------------ transitions

    def submitted(self, tx_hash: str | None, by: str) -> Head:
        """Sent in transaction `tx_hash` (None: handed to a relayer), signed by key `by`."""
        return replace(
            self,
            state=HeadState.SUBMITTED,
            anchoring=AnchoringRecord(tx_hash=tx_hash, anchored_by=by),
            attempts=self.attempts + 1,
        )

    def anchored(self, record: AnchoringRecord) -> Head:
        return replace(self, state=HeadState.ANCHORED, anchoring=record)

    def unmined(self) -> Head:
        """Its block left the chain but an engine still holds its transaction."""
        return replace(self, state=HeadState.SUBMITTED, anchoring=self.anchoring.unmined())

    def reset(self) -> Head:
        """Not on chain and its transaction gone: to be sent again."""
        return replace(self, state=HeadState.SEALED, anchoring=AnchoringRecord())

    def finalised(self) -> Head:
        return replace(self, state=HeadState.FINAL)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> bytes:
        extra = dict(self.extra)
        if self.anchored_by is not None:
            extra[ANCHORED_BY_KEY] = self.anchored_by
        record = {
            "seq": self.seq,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "sealed_at": self.sealed_at,
            "state": self.state.value,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "anchored_at": self.anchored_at,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "extra": extra,
        }
        return json.dumps(record).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Head:
        try:
            data = json.loads(raw)
            extra = dict(data.get("extra") or {})
            anchored_by = extra.pop(ANCHORED_BY_KEY, None)
            return cls(
                seq=int(data["seq"]),
                tree_size=int(data["tree_size"]),
                root=bytes.fromhex(data["root"]),
                sealed_at=data["sealed_at"],
                state=HeadState(data.get("state", HeadState.SEALED.value)),
                anchoring=AnchoringRecord(
                    tx_hash=data.get("tx_hash"),
                    block_number=data.get("block_number"),
                    block_hash=data.get("block_hash"),
                    anchored_at=data.get("anchored_at"),
                    anchored_by=anchored_by if isinstance(anchored_by, str) else None,
                ),
                attempts=int(data.get("attempts", 0)),
                last_error=data.get("last_error"),
                extra=MappingProxyType(extra),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RecordError(f"malformed head record: {error!r}") from None


@dataclass(frozen=True)
class HeadTimestamp:
    """An RFC 3161 token over a head (`protocol.signed_head.head_timestamp_digest`), verified
    when it was received, kept next to the head record (never inside it: the anchoring worker
    rewrites head records, and neither writer may undo the other's)."""

    token: bytes
    """The DER TimeStampToken, certificates in DER order (`verifier.timestamp.der_token`)."""
    gen_time: str
    """The token's genTime, RFC 3339 UTC: for display; the token is what proves it."""
    tsa: str
    """The TSA certificate's subject (RFC 4514)."""

    def to_json(self) -> bytes:
        return json.dumps(
            {"token": _b64(self.token), "gen_time": self.gen_time, "tsa": self.tsa}
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HeadTimestamp:
        try:
            data = json.loads(raw)
            return cls(_unb64(data["token"]), str(data["gen_time"]), str(data["tsa"]))
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise RecordError(f"malformed head timestamp: {error!r}") from None


@dataclass(frozen=True)
class HeadEvidence:
    """A final head's chain evidence (docs/PROTOCOL.md section 10), verified before it was
    stored; kept next to the head record, like its timestamp. The timestamp token is not part of
    it: it may arrive later, and bundles take it from the head's `HeadTimestamp`."""

    section: EvidenceSection
    captured_at: int
    """Unix seconds: when the node captured it (the state proofs are as of its last header)."""

    def to_json(self) -> bytes:
        body = evidence_to_json(replace(self.section, timestamp=None, signer_revocation=None))
        return json.dumps({"captured_at": self.captured_at, "evidence": body}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HeadEvidence:
        try:
            data = json.loads(raw)
            return cls(parse_evidence(data["evidence"]), int(data["captured_at"]))
        except (ValueError, KeyError, TypeError, BundleFormatError) as error:
            raise RecordError(f"malformed head evidence: {error!r}") from None


class SignerStatus(enum.StrEnum):
    """What the re-check after the grace period found about an entry's signer."""

    GOOD = "good"
    """Not revoked at the signing time."""
    REVOKED = "revoked"
    """Revoked at the signing time (or by a revocation that reaches back): an alarm. The entry
    stays in the append-only log; verifiers reject its signer."""


@dataclass(frozen=True)
class SignerEvidence:
    """An entry's signer re-checked at its signing time after the grace period: the verdict and
    the CRLs and OCSP responses that decided it, by SHA-256 (the DER is stored once per blob in
    the store, however many entries it decided)."""

    status: SignerStatus
    crls: tuple[bytes, ...]
    ocsp_responses: tuple[bytes, ...]
    checked_at: int
    """Unix seconds of the re-check."""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "status": self.status.value,
                "crls": [d.hex() for d in self.crls],
                "ocsp_responses": [d.hex() for d in self.ocsp_responses],
                "checked_at": self.checked_at,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SignerEvidence:
        try:
            data = json.loads(raw)
            return cls(
                SignerStatus(data["status"]),
                tuple(bytes.fromhex(d) for d in data["crls"]),
                tuple(bytes.fromhex(d) for d in data["ocsp_responses"]),
                int(data["checked_at"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise RecordError(f"malformed signer evidence: {error!r}") from None


class EntryKind(enum.StrEnum):
    DOCUMENT = "document"
    REVOCATION = "revocation"


@dataclass(frozen=True)
class DocumentSidecar:
    """What the node keeps next to a document entry's leaf: the salt and the signature
    material the proof bundle hands to the holder, and where the entry came from."""

    kind: ClassVar[EntryKind] = EntryKind.DOCUMENT

    salt: bytes
    signature_format: SignatureFormat
    signature: bytes
    certificates: tuple[bytes, ...]
    receipt_id: str
    request_id: str | None
    client: str
    received_at: int

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "kind": self.kind.value,
                "salt": self.salt.hex(),
                "signature_format": self.signature_format.label,
                "signature": _b64(self.signature),
                "certificates": [_b64(c) for c in self.certificates],
                "receipt_id": self.receipt_id,
                "request_id": self.request_id,
                "client": self.client,
                "received_at": self.received_at,
            }
        ).encode()


@dataclass(frozen=True)
class RevocationSidecar:
    """What the node keeps next to a revocation entry's leaf."""

    kind: ClassVar[EntryKind] = EntryKind.REVOCATION

    receipt_id: str
    client: str
    received_at: int
    revokes: bytes  # the revoked entry's leaf hash

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "kind": self.kind.value,
                "receipt_id": self.receipt_id,
                "client": self.client,
                "received_at": self.received_at,
                "revokes": self.revokes.hex(),
            }
        ).encode()


EntrySidecar = DocumentSidecar | RevocationSidecar


def sidecar_from_json(raw: bytes) -> EntrySidecar:
    """The sidecar stored as `raw` (JSON as `to_json` writes it)."""
    try:
        data = json.loads(raw)
        kind = EntryKind(data["kind"])
        if kind is EntryKind.DOCUMENT:
            return DocumentSidecar(
                salt=bytes.fromhex(data["salt"]),
                signature_format=SignatureFormat.from_label(data["signature_format"]),
                signature=_unb64(data["signature"]),
                certificates=tuple(_unb64(c) for c in data["certificates"]),
                receipt_id=str(data["receipt_id"]),
                request_id=data["request_id"],
                client=str(data["client"]),
                received_at=int(data["received_at"]),
            )
        return RevocationSidecar(
            receipt_id=str(data["receipt_id"]),
            client=str(data["client"]),
            received_at=int(data["received_at"]),
            revokes=bytes.fromhex(data["revokes"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise RecordError(f"malformed entry sidecar: {error!r}") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
