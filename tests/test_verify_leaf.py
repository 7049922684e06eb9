"""The leaf encoding of docs/PROTOCOL.md: byte layout, vectors, domain separation, limits."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LeafEncodingError
from protocol.leaf import (
    COMMITTED_SIGNER_VERSION,
    DOCUMENT_LEAF_SIZE,
    DOCUMENT_V3_LEAF_SIZE,
    DOMAIN_TAG,
    ENCODING_VERSION,
    LEGACY_ENCODING_VERSION,
    NO_REQUESTER,
    REQUESTER_COMMITMENT_TAG,
    REVOCATION_LEAF_SIZE,
    SALTED_DIGEST_TAG,
    SIGNER_COMMITMENT_TAG,
    DocumentEntry,
    DocumentType,
    EntryKind,
    EventType,
    RevocationEntry,
    SignatureFormat,
    decode_entry,
    document_type_label,
    is_valid_lg_code,
    new_salt,
    requester_commitment,
    salted_digest,
    signer_commitment,
    unix_seconds,
)
from protocol.merkle import hash_leaf

VECTORS = Path(__file__).parent / "vectors"
LEAF_VECTORS = json.loads((VECTORS / "leaf-vectors.json").read_text(encoding="utf-8"))
PROTOCOL = (Path(__file__).parent.parent / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")


def entry_from(vector: dict[str, Any]) -> DocumentEntry | RevocationEntry:
    fields = vector["fields"]
    if vector["kind"] == "revocation":
        return RevocationEntry(
            revoked_leaf_hash=bytes.fromhex(fields["revoked_leaf_hash"]),
            lg_code=fields["lg_code"],
            reason=fields["reason"],
            revoked_at=fields["revoked_at"],
        )
    return DocumentEntry(
        salted_digest=bytes.fromhex(fields["salted_digest"]),
        lg_code=fields["lg_code"],
        document_type=fields["document_type"],
        issued_at=fields["issued_at"],
        signing_time=fields["signing_time"],
        signature_format=SignatureFormat.from_label(fields["signature_format"]),
        signer_ref=bytes.fromhex(fields["signer_ref"]),
        signature_sha256=bytes.fromhex(fields["signature_sha256"]),
        version=fields["version"],
        requester_ref=bytes.fromhex(fields.get("requester_ref", NO_REQUESTER.hex())),
        kind=EntryKind.EVENT if vector["kind"] == "event" else EntryKind.DOCUMENT,
    )


def sample_document(**changes: Any) -> DocumentEntry:
    fields: dict[str, Any] = {
        "salted_digest": b"\x11" * 32,
        "lg_code": 131016,
        "document_type": DocumentType.SEAL_REGISTRATION,
        "issued_at": 1_768_467_540,
        "signing_time": 1_768_467_600,
        "signature_format": SignatureFormat.CMS,
        "signer_ref": b"\x22" * 32,
        "signature_sha256": b"\x33" * 32,
        "version": ENCODING_VERSION,
    }
    fields.update(changes)
    return DocumentEntry(**fields)


@pytest.mark.parametrize("vector", LEAF_VECTORS["entries"], ids=lambda v: v["name"])
def test_entry_vectors_encode_and_hash_as_published(vector: dict[str, Any]) -> None:
    entry = entry_from(vector)
    assert entry.encode().hex() == vector["encoding"]
    assert entry.leaf_hash().hex() == vector["leaf_hash"]
    assert entry.leaf_hash() == hashlib.sha256(b"\x00" + entry.encode()).digest()
    assert decode_entry(bytes.fromhex(vector["encoding"])) == entry


@pytest.mark.parametrize("vector", LEAF_VECTORS["salted_digests"], ids=["document", "empty"])
def test_salted_digest_vectors(vector: dict[str, str]) -> None:
    digest = bytes.fromhex(vector["document_sha256"])
    salt = bytes.fromhex(vector["salt"])
    expected = hashlib.sha256(SALTED_DIGEST_TAG + salt + digest).hexdigest()
    assert salted_digest(salt, digest).hex() == vector["salted_digest"] == expected


@pytest.mark.parametrize("vector", LEAF_VECTORS["signer_commitments"])
def test_signer_commitment_vectors(vector: dict[str, str]) -> None:
    salt, signer = bytes.fromhex(vector["salt"]), bytes.fromhex(vector["signer_sha256"])
    expected = hashlib.sha256(SIGNER_COMMITMENT_TAG + salt + signer).hexdigest()
    assert signer_commitment(salt, signer).hex() == vector["signer_commitment"] == expected


def test_protocol_document_publishes_the_vectors() -> None:
    # The spec quotes the vectors; this keeps the two from drifting apart.
    for vector in LEAF_VECTORS["entries"]:
        assert vector["encoding"] in PROTOCOL.replace("\n", "").replace(" ", "")
        assert vector["leaf_hash"] in PROTOCOL
    for vector in LEAF_VECTORS["salted_digests"][:1]:
        assert vector["salted_digest"] in PROTOCOL
    for vector in LEAF_VECTORS["signer_commitments"]:
        assert vector["signer_commitment"] in PROTOCOL
    for head in LEAF_VECTORS["heads"]:
        assert head["root"] in PROTOCOL


def test_document_layout_offsets() -> None:
    entry = sample_document(version=COMMITTED_SIGNER_VERSION)
    data = entry.encode()
    assert len(data) == DOCUMENT_LEAF_SIZE == 137
    assert data[0:16] == DOMAIN_TAG == b"municipal-notary"
    assert data[16] == 2  # encoding version
    assert data[17] == 1  # kind: document
    assert data[18:50] == entry.salted_digest
    assert struct.unpack(">I", data[50:54])[0] == 131016
    assert struct.unpack(">H", data[54:56])[0] == 3
    assert struct.unpack(">Q", data[56:64])[0] == entry.issued_at
    assert struct.unpack(">Q", data[64:72])[0] == entry.signing_time
    assert data[72] == 1  # CMS
    assert data[73:105] == entry.signer_ref
    assert data[105:137] == entry.signature_sha256


def test_version_3_layout_appends_the_requester_commitment() -> None:
    requester = b"\x44" * 32
    entry = sample_document(requester_ref=requester)
    data = entry.encode()
    v2 = sample_document(version=COMMITTED_SIGNER_VERSION).encode()
    assert len(data) == DOCUMENT_V3_LEAF_SIZE == 169
    assert data[16] == 3 and data[17] == 1
    assert data[18:137] == v2[18:137]
    assert data[137:169] == requester
    assert decode_entry(data) == entry
    event = sample_document(kind=EntryKind.EVENT, document_type=EventType.LOGIN)
    assert event.encode()[17] == 3 and decode_entry(event.encode()) == event


def test_requester_commitment_is_the_tagged_hash_of_salt_application_and_serial() -> None:
    salt, application = b"\x55" * 32, b"\x66" * 32
    expected = hashlib.sha256(
        REQUESTER_COMMITMENT_TAG + salt + application + (0x1234).to_bytes(20, "big")
    ).digest()
    assert requester_commitment(salt, application, 0x1234) == expected
    with pytest.raises(LeafEncodingError, match="positive"):
        requester_commitment(salt, application, 0)
    with pytest.raises(LeafEncodingError, match="20 bytes"):
        requester_commitment(salt, application, 2**160)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": EntryKind.EVENT},
        {"requester_ref": b"\x44" * 32},
    ],
    ids=["event", "requester"],
)
def test_events_and_requesters_need_version_3(change: dict[str, Any]) -> None:
    with pytest.raises(LeafEncodingError, match="need leaf version 3"):
        sample_document(version=COMMITTED_SIGNER_VERSION, **change)


def test_revocation_layout_offsets() -> None:
    entry = RevocationEntry(b"\x44" * 32, 131016, 2, 1_769_938_200)
    data = entry.encode()
    assert len(data) == REVOCATION_LEAF_SIZE == 64
    assert data[:18] == DOMAIN_TAG + b"\x01\x02"
    assert data[18:50] == b"\x44" * 32
    assert struct.unpack(">IHQ", data[50:64]) == (131016, 2, 1_769_938_200)


@pytest.mark.parametrize(
    "change",
    [
        {"salted_digest": b"\x12" * 32},
        {"lg_code": 11002},
        {"document_type": 4},
        {"issued_at": 1_768_467_541},
        {"signing_time": 1_768_467_601},
        {"signature_format": SignatureFormat.PKCS1},
        {"signer_ref": b"\x23" * 32},
        {"signature_sha256": b"\x34" * 32},
        {"version": LEGACY_ENCODING_VERSION},
        {"version": COMMITTED_SIGNER_VERSION},
        {"requester_ref": b"\x01" * 32},
        {"kind": EntryKind.EVENT},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_field_changes_the_leaf_hash(change: dict[str, Any]) -> None:
    assert sample_document(**change).leaf_hash() != sample_document().leaf_hash()


def test_kinds_and_raw_data_are_domain_separated() -> None:
    document = sample_document()
    revocation = RevocationEntry(document.leaf_hash(), 131016, 2, 1_769_938_200)
    # The same bytes without the tag/version/kind header are another leaf entirely.
    assert hash_leaf(document.encode()[18:]) != document.leaf_hash()
    assert document.encode()[:18] != revocation.encode()[:18]
    with pytest.raises(LeafEncodingError, match="domain tag"):
        decode_entry(b"x" * 16 + document.encode()[16:])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (DOMAIN_TAG + b"\x04\x01" + bytes(151), "version 4"),
        (DOMAIN_TAG + b"\x02\x02" + bytes(46), "version 2"),
        (DOMAIN_TAG + b"\x01\x04" + bytes(46), "kind 4"),
        (DOMAIN_TAG + b"\x02\x03" + bytes(119), "version 2 is not supported"),
        (DOMAIN_TAG + b"\x01\x01" + bytes(118), "137 bytes"),
        (DOMAIN_TAG + b"\x03\x01" + bytes(119), "169 bytes"),
        (DOMAIN_TAG + b"\x01\x02" + bytes(47), "64 bytes"),
    ],
    ids=[
        "empty",
        "future-version",
        "revocation-version-2",
        "unknown-kind",
        "event-version-2",
        "short-document",
        "short-version-3",
        "long-revocation",
    ],
)
def test_decode_refuses_anything_but_the_exact_layouts(data: bytes, message: str) -> None:
    with pytest.raises(LeafEncodingError, match=message):
        decode_entry(data)


def test_decode_refuses_an_unknown_signature_format() -> None:
    data = bytearray(sample_document().encode())
    data[72] = 9
    with pytest.raises(LeafEncodingError, match="signature format 9"):
        decode_entry(bytes(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"salted_digest": b"\x11" * 31}, "salted_digest must be 32 bytes"),
        ({"lg_code": 131017}, "check digit"),
        ({"lg_code": 481000}, "check digit"),  # prefecture 48 does not exist
        ({"lg_code": True}, "local-government code"),
        ({"document_type": 0}, "document_type"),
        ({"document_type": 0xFFFF}, "document_type"),
        ({"issued_at": -1}, "issued_at"),
        ({"signing_time": 2**64}, "signing_time"),
        ({"signature_format": 1}, "SignatureFormat"),
        ({"signer_ref": "22" * 32}, "signer_ref"),
        ({"version": 4}, "version 4"),
        ({"requester_ref": b"\x01" * 31}, "requester_ref"),
    ],
)
def test_out_of_range_fields_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(LeafEncodingError, match=message):
        sample_document(**change)


def test_lg_code_rule_matches_known_codes() -> None:
    # 千代田区, 札幌市, 那覇市 (real codes with their check digits)
    assert all(is_valid_lg_code(code) for code in (131016, 11002, 472018))
    assert not any(is_valid_lg_code(code) for code in (131017, 11003, 0, 999999, 1_000_000))


@pytest.mark.parametrize("code", [True, False, 131016.0, "131016", None])
def test_lg_code_rule_refuses_what_is_not_an_int(code: Any) -> None:
    # False == 0 and True == 1 as ints, but a bool is never a deliberate code.
    assert is_valid_lg_code(code) is False


def test_lg_code_rule_is_written_once() -> None:
    import anchor
    import anchor.models

    assert anchor.is_valid_lg_code is anchor.models.is_valid_lg_code is is_valid_lg_code


def test_salts_are_random_and_32_bytes() -> None:
    salts = {new_salt() for _ in range(64)}
    assert len(salts) == 64 and all(len(s) == 32 for s in salts)
    with pytest.raises(LeafEncodingError, match="salt must be 32 bytes"):
        salted_digest(b"short", bytes(32))


def test_document_type_labels() -> None:
    assert document_type_label(1) == "resident_record_copy"
    assert document_type_label(0x8001) == "municipality-defined type 32769"
    assert document_type_label(77) == "unregistered type 77"


def test_times_need_a_zone() -> None:
    with pytest.raises(LeafEncodingError, match="time zone"):
        unix_seconds(datetime(2026, 1, 1))


@given(
    digest=st.binary(min_size=32, max_size=32),
    lg_code=st.sampled_from([131016, 11002, 472018]),
    document_type=st.integers(1, 0xFFFE),
    issued_at=st.integers(0, 2**64 - 1),
    signing_time=st.integers(0, 2**64 - 1),
    fmt=st.sampled_from(list(SignatureFormat)),
)
def test_document_round_trip(
    digest: bytes,
    lg_code: int,
    document_type: int,
    issued_at: int,
    signing_time: int,
    fmt: SignatureFormat,
) -> None:
    entry = sample_document(
        salted_digest=digest,
        lg_code=lg_code,
        document_type=document_type,
        issued_at=issued_at,
        signing_time=signing_time,
        signature_format=fmt,
    )
    assert decode_entry(entry.encode()) == entry
