"""The `evidence` section of a version-3 proof bundle: its model, strict reading and JSON form.

What it holds and how each piece is checked is docs/PROTOCOL.md section 10; checking is
`protocol.evidence_proofs`. Reading here is syntactic only (types, hex, sizes, counts, order):
whether the bytes prove anything is left to the checks, so a forged header or proof node is
refused by the check it attacks, not as a format error. Every blob is bounded, so a hostile
bundle cannot make a verifier decode or hash without limit.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from protocol.errors import BundleFormatError
from protocol.json_fields import json_int, json_object, json_type, only_fields, required

MAX_EVIDENCE_HEADERS: Final = 256
"""Headers from the anchor block to finality: ⌊N/2⌋+2 at least, so a consortium of up to about
500 signers (a few hundred kilobytes of headers; the bundle's 1 MiB bounds the rest)."""
MAX_HEADER_BYTES: Final = 16 * 1024
"""One header's RLP: a checkpoint lists every signer in extraData (20 bytes each)."""
MAX_PROOF_NODES: Final = 64
"""A trie path has at most 64 nibbles of key, so at most 64 nodes plus extensions never
exceed that in practice (account, storage, receipt and transaction tries hold hashed or short
keys)."""
MAX_TRIE_NODE_BYTES: Final = 64 * 1024
"""One trie node (a receipts-trie leaf holds a whole receipt: an `anchorMany` one logs every
head it anchored)."""
MAX_STORAGE_SLOTS: Final = 16
"""The node record (4 slots, more for a name of 32 bytes or more) and the anchor record."""
MAX_TOKEN_BYTES: Final = 64 * 1024
"""An RFC 3161 token (the TSA's certificate chain is the bulk)."""
MAX_INDEX: Final = 2**32 - 1
"""Transaction positions in a block."""
MAX_SIGNER_CRLS: Final = 4
"""CRLs deciding the signer's status at signing time: one normally (the CA generation's CRL for
the signer's distribution point issued next after signing); a few leave room for a CA that
splits or re-keys."""
MAX_SIGNER_CRL_BYTES: Final = 512 * 1024
"""One CRL: JPKI splits CRLs per municipality to keep them small; half the bundle's 1 MiB."""
MAX_SIGNER_OCSP_RESPONSES: Final = 4
MAX_OCSP_RESPONSE_BYTES: Final = 64 * 1024
"""One OCSP response (a delegated responder's certificate is the bulk)."""

EVIDENCE_FIELDS: Final = (
    "headers",
    "receipt",
    "transaction",
    "state",
    "timestamp",
    "signer_revocation",
)
RECEIPT_FIELDS: Final = ("index", "value", "proof")
TRANSACTION_FIELDS: Final = ("value", "proof")
STATE_FIELDS: Final = ("block_number", "account_proof", "slots")
SLOT_FIELDS: Final = ("slot", "value", "proof")
SIGNER_REVOCATION_FIELDS: Final = ("crls", "ocsp_responses")
EVIDENCE_SECTION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "evidence": EVIDENCE_FIELDS,
    "evidence.receipt": RECEIPT_FIELDS,
    "evidence.transaction": TRANSACTION_FIELDS,
    "evidence.state": STATE_FIELDS,
    "evidence.state.slots[]": SLOT_FIELDS,
    "evidence.signer_revocation": SIGNER_REVOCATION_FIELDS,
}
"""The fields of each object, for the schema-consistency test and for producers."""

_HEX_BLOB: Final = re.compile(r"0x(?:[0-9a-f]{2})+")
_WORD: Final = re.compile(r"0x[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ReceiptEvidence:
    """The anchoring transaction's receipt: its position in the anchor block, its consensus
    encoding, and the receipts-trie nodes proving it under `receiptsRoot`."""

    index: int
    value: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class TransactionEvidence:
    """The anchoring transaction's consensus encoding (keccak of it is `anchor.tx_hash`) and
    the transactions-trie nodes proving it at the receipt's index under `transactionsRoot`."""

    value: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class SlotEvidence:
    """One registry storage slot: its value and its storage proof (`eth_getProof`)."""

    slot: int
    value: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class StateEvidence:
    """The registry's account proof and storage proofs at `block_number`, a block whose header
    the evidence carries (producers use the last one: the finality block)."""

    block_number: int
    account_proof: tuple[bytes, ...]
    slots: tuple[SlotEvidence, ...]

    def slot_proofs(self) -> dict[int, tuple[bytes, ...]]:
        return {entry.slot: entry.proof for entry in self.slots}


@dataclass(frozen=True, slots=True)
class SignerRevocationEvidence:
    """The CRLs and OCSP responses (DER) that decided the signer certificate's status at the
    signing time, kept by the node after its grace period (docs/PROTOCOL.md section 10.3).

    Each list is in ascending order of the blobs' SHA-256 and holds each blob once, so one set
    of evidence has one serialisation and a CRL appears once per bundle. Whether they are
    genuine, about this signer and issued after the signing time is the verifier's check."""

    crls: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, crls: Iterable[bytes], ocsp_responses: Iterable[bytes]) -> SignerRevocationEvidence:
        """The canonical form of any collection of blobs: sorted, duplicates dropped."""
        return cls(_canonical(crls), _canonical(ocsp_responses))


def _canonical(blobs: Iterable[bytes]) -> tuple[bytes, ...]:
    unique = {hashlib.sha256(blob).digest(): blob for blob in blobs}
    return tuple(unique[digest] for digest in sorted(unique))


@dataclass(frozen=True, slots=True)
class EvidenceSection:
    """Everything a verifier needs, with a trust root, to decide checks 6-11 offline."""

    headers: tuple[bytes, ...]
    """RLP of the anchor block's header and each header on top of it, in order."""
    receipt: ReceiptEvidence
    transaction: TransactionEvidence
    state: StateEvidence
    timestamp: bytes | None = None
    """DER RFC 3161 TimeStampToken over the signed head, when the node has one."""
    signer_revocation: SignerRevocationEvidence | None = None
    """What decided the signer's revocation status at the signing time, once the node kept it."""


# --------------------------------------------------------------------------- reading


def parse_evidence(obj: object, path: str = "evidence") -> EvidenceSection:
    """Validate decoded JSON as an evidence section; BundleFormatError names the field."""
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, EVIDENCE_FIELDS, prefix)
    headers = _blobs(
        required(section, "headers", prefix),
        prefix + "headers",
        low=1,
        high=MAX_EVIDENCE_HEADERS,
        blob_bytes=MAX_HEADER_BYTES,
    )
    receipt = _receipt(required(section, "receipt", prefix), prefix + "receipt")
    transaction = _transaction(required(section, "transaction", prefix), prefix + "transaction")
    state = _state(required(section, "state", prefix), prefix + "state")
    timestamp = None
    if "timestamp" in section:
        timestamp = _base64(section["timestamp"], prefix + "timestamp", MAX_TOKEN_BYTES)
    signer_revocation = None
    if "signer_revocation" in section:
        signer_revocation = _signer_revocation(
            section["signer_revocation"], prefix + "signer_revocation"
        )
    return EvidenceSection(headers, receipt, transaction, state, timestamp, signer_revocation)


def _signer_revocation(obj: object, path: str) -> SignerRevocationEvidence:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, SIGNER_REVOCATION_FIELDS, prefix)
    crls = _der_list(
        required(section, "crls", prefix), prefix + "crls", MAX_SIGNER_CRLS, MAX_SIGNER_CRL_BYTES
    )
    responses = _der_list(
        required(section, "ocsp_responses", prefix),
        prefix + "ocsp_responses",
        MAX_SIGNER_OCSP_RESPONSES,
        MAX_OCSP_RESPONSE_BYTES,
    )
    if not crls and not responses:
        raise BundleFormatError(path, "holds no CRL and no OCSP response (omit it instead)")
    return SignerRevocationEvidence(crls, responses)


def _der_list(value: object, path: str, high: int, blob_bytes: int) -> tuple[bytes, ...]:
    """Base64 DER blobs in ascending SHA-256 order, each once (`SignerRevocationEvidence`)."""
    if type(value) is not list:
        raise BundleFormatError(path, "must be an array of base64 strings")
    if len(value) > high:
        raise BundleFormatError(path, f"has {len(value)} entries; at most {high} allowed")
    blobs = tuple(_base64(item, f"{path}[{i}]", blob_bytes) for i, item in enumerate(value))
    digests = [hashlib.sha256(blob).digest() for blob in blobs]
    for i in range(1, len(digests)):
        if digests[i] <= digests[i - 1]:
            raise BundleFormatError(
                f"{path}[{i}]", "must be in ascending order of SHA-256, each once"
            )
    return blobs


def _receipt(obj: object, path: str) -> ReceiptEvidence:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, RECEIPT_FIELDS, prefix)
    return ReceiptEvidence(
        index=json_int(required(section, "index", prefix), prefix + "index", 0, MAX_INDEX),
        value=_blob(required(section, "value", prefix), prefix + "value", MAX_TRIE_NODE_BYTES),
        proof=_proof(required(section, "proof", prefix), prefix + "proof", low=1),
    )


def _transaction(obj: object, path: str) -> TransactionEvidence:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, TRANSACTION_FIELDS, prefix)
    return TransactionEvidence(
        value=_blob(required(section, "value", prefix), prefix + "value", MAX_TRIE_NODE_BYTES),
        proof=_proof(required(section, "proof", prefix), prefix + "proof", low=1),
    )


def _state(obj: object, path: str) -> StateEvidence:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, STATE_FIELDS, prefix)
    block_number = required(section, "block_number", prefix)
    block = json_int(block_number, prefix + "block_number", 1, 2**63 - 1)
    account = _proof(required(section, "account_proof", prefix), prefix + "account_proof", low=1)
    raw_slots = required(section, "slots", prefix)
    if type(raw_slots) is not list:
        raise BundleFormatError(prefix + "slots", "must be an array of storage proofs")
    if not 1 <= len(raw_slots) <= MAX_STORAGE_SLOTS:
        raise BundleFormatError(
            prefix + "slots", f"has {len(raw_slots)} entries; 1 to {MAX_STORAGE_SLOTS} allowed"
        )
    slots = tuple(_slot(item, f"{prefix}slots[{i}]") for i, item in enumerate(raw_slots))
    for i in range(1, len(slots)):
        if slots[i].slot <= slots[i - 1].slot:
            raise BundleFormatError(
                f"{prefix}slots[{i}].slot", "slots must be in ascending order, each once"
            )
    return StateEvidence(block, account, slots)


def _slot(obj: object, path: str) -> SlotEvidence:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, SLOT_FIELDS, prefix)
    return SlotEvidence(
        slot=_word(required(section, "slot", prefix), prefix + "slot"),
        value=_word(required(section, "value", prefix), prefix + "value"),
        proof=_proof(required(section, "proof", prefix), prefix + "proof", low=0),
    )


def _proof(value: object, path: str, *, low: int) -> tuple[bytes, ...]:
    return _blobs(value, path, low=low, high=MAX_PROOF_NODES, blob_bytes=MAX_TRIE_NODE_BYTES)


def _blobs(value: object, path: str, *, low: int, high: int, blob_bytes: int) -> tuple[bytes, ...]:
    if type(value) is not list:
        raise BundleFormatError(path, "must be an array of 0x-prefixed hex strings")
    if not low <= len(value) <= high:
        raise BundleFormatError(path, f"has {len(value)} entries; {low} to {high} allowed")
    return tuple(_blob(item, f"{path}[{i}]", blob_bytes) for i, item in enumerate(value))


def _blob(value: object, path: str, limit: int) -> bytes:
    if type(value) is not str:
        raise BundleFormatError(path, f"must be a hex string, not {json_type(value)}")
    if len(value) > 2 + 2 * limit:
        raise BundleFormatError(path, f"more than {limit} bytes")
    if _HEX_BLOB.fullmatch(value) is None:
        raise BundleFormatError(
            path, 'not "0x" and a non-empty even number of lowercase hex characters'
        )
    return bytes.fromhex(value[2:])


def _word(value: object, path: str) -> int:
    if type(value) is not str or _WORD.fullmatch(value) is None:
        raise BundleFormatError(path, 'not "0x" and 64 lowercase hex characters (a 32-byte word)')
    return int(value[2:], 16)


def _base64(value: object, path: str, limit: int) -> bytes:
    if type(value) is not str or not value:
        raise BundleFormatError(path, "must be a non-empty base64 string")
    if len(value) > limit * 4 // 3 + 4:
        raise BundleFormatError(path, f"more than {limit} bytes")
    try:
        raw = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise BundleFormatError(path, "not valid base64") from None
    if _b64(raw) != value:
        raise BundleFormatError(path, "base64 is not in canonical padded form")
    return raw


# --------------------------------------------------------------------------- writing


def evidence_to_json(evidence: EvidenceSection) -> dict[str, Any]:
    """The section as JSON-ready data, fields in protocol order (the inverse of
    `parse_evidence`): one evidence section has one serialisation."""
    state = evidence.state
    result: dict[str, Any] = {
        "headers": [_hex(h) for h in evidence.headers],
        "receipt": {
            "index": evidence.receipt.index,
            "value": _hex(evidence.receipt.value),
            "proof": [_hex(n) for n in evidence.receipt.proof],
        },
        "transaction": {
            "value": _hex(evidence.transaction.value),
            "proof": [_hex(n) for n in evidence.transaction.proof],
        },
        "state": {
            "block_number": state.block_number,
            "account_proof": [_hex(n) for n in state.account_proof],
            "slots": [
                {
                    "slot": _word_hex(s.slot),
                    "value": _word_hex(s.value),
                    "proof": [_hex(n) for n in s.proof],
                }
                for s in state.slots
            ],
        },
    }
    if evidence.timestamp is not None:
        result["timestamp"] = _b64(evidence.timestamp)
    if evidence.signer_revocation is not None:
        result["signer_revocation"] = {
            "crls": [_b64(c) for c in evidence.signer_revocation.crls],
            "ocsp_responses": [_b64(r) for r in evidence.signer_revocation.ocsp_responses],
        }
    return result


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _word_hex(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


__all__ = [
    "EVIDENCE_FIELDS",
    "EVIDENCE_SECTION_FIELDS",
    "MAX_EVIDENCE_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_OCSP_RESPONSE_BYTES",
    "MAX_PROOF_NODES",
    "MAX_SIGNER_CRLS",
    "MAX_SIGNER_CRL_BYTES",
    "MAX_SIGNER_OCSP_RESPONSES",
    "MAX_STORAGE_SLOTS",
    "MAX_TOKEN_BYTES",
    "MAX_TRIE_NODE_BYTES",
    "EvidenceSection",
    "ReceiptEvidence",
    "SignerRevocationEvidence",
    "SlotEvidence",
    "StateEvidence",
    "TransactionEvidence",
    "evidence_to_json",
    "parse_evidence",
]
