"""The proof-bundle format: strict reading (field paths in errors), producing, the schema file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from protocol.bundle import (
    BUNDLE_VERSIONS,
    EVIDENCE_TOP_LEVEL_FIELDS,
    LEAF_FIELDS,
    MAX_BUNDLE_BYTES,
    READABLE_VERSIONS,
    SECTION_FIELDS,
    TOP_LEVEL_FIELDS,
    AnchorSection,
    HeadSection,
    InclusionSection,
    build_bundle,
    build_revocation_section,
    bundle_to_json,
    dump_bundle,
    load_bundle,
    make_document_entry,
    parse_bundle,
)
from protocol.errors import BundleFormatError, LeafEncodingError
from protocol.evidence import EVIDENCE_SECTION_FIELDS, MAX_EVIDENCE_HEADERS
from protocol.leaf import COMMITTED_SIGNER_VERSION, RevocationEntry, SignatureFormat

ROOT = Path(__file__).parent.parent
VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
SCHEMA = json.loads((ROOT / "docs" / "bundle.schema.json").read_text(encoding="utf-8"))
VALID_TEXT = (VECTORS / "bundles" / "valid-cms.json").read_text(encoding="utf-8")


def valid() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VALID_TEXT)
    return data


def refused(data: Any) -> BundleFormatError:
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    with pytest.raises(BundleFormatError) as caught:
        load_bundle(text)
    return caught.value


@pytest.mark.parametrize("name", sorted(EXPECTED["malformed"]))
def test_malformed_vectors_are_refused_naming_the_field(name: str) -> None:
    error = refused((VECTORS / name).read_bytes())
    assert error.field == EXPECTED["malformed"][name]["field"]
    assert str(error).startswith(error.field + ": ")


@pytest.mark.parametrize("name", sorted(EXPECTED["bundles"]))
def test_well_formed_vectors_parse_and_round_trip(name: str) -> None:
    text = (VECTORS / name).read_text(encoding="utf-8")
    bundle = load_bundle(text)
    assert dump_bundle(bundle) == text  # canonical: the producer's own output
    assert parse_bundle(json.loads(text)) == bundle


def test_parsed_values() -> None:
    bundle = load_bundle(VALID_TEXT)
    data = valid()
    assert bundle.version == 2 and bundle.status == "anchored"
    assert bundle.leaf.version == 2
    assert bundle.leaf.lg_code == 131016 and bundle.leaf.document_type == 1
    assert bundle.leaf.salt.hex() == data["leaf"]["salt"]
    assert bundle.signature.format is SignatureFormat.CMS
    assert len(bundle.signature.certificates) == 2
    assert bundle.inclusion is not None and bundle.head is not None and bundle.anchor is not None
    assert bundle.inclusion.path[2].hex() == data["inclusion"]["path"][2]
    assert bundle.anchor.tx_hash.hex() == data["anchor"]["tx_hash"][2:]
    assert bundle.anchor.registry == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


PENDING_REVOCATION_WITH_REASON_0 = {
    "status": "pending",
    "entry": {
        "leaf_hash": "00" * 32,
        "revoked_leaf_hash": "00" * 32,
        "lg_code": "131016",
        "reason": 0,
        "revoked_at": "2026-01-01T00:00:00Z",
    },
}


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b[2]``-style paths in decoded JSON."""
    *parents, last = re.split(r"\.|(?=\[)", path)
    target: Any = data
    for part in parents:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("inclusion.path[2]", "zz" * 32, "inclusion.path[2]"),
        ("inclusion.path[0]", 7, "inclusion.path[0]"),
        ("inclusion", [], "inclusion"),
        ("leaf.salt", "00" * 31, "leaf.salt"),
        ("leaf.document_type", 1.0, "leaf.document_type"),
        ("leaf.document_type", True, "leaf.document_type"),
        ("leaf.document_type", 0, "leaf.document_type"),
        ("leaf.signing_time", "2026-02-30T00:00:00Z", "leaf.signing_time"),
        ("leaf.issued_at", "1969-12-31T23:59:59Z", "leaf.issued_at"),
        ("leaf.lg_code", 131016, "leaf.lg_code"),
        ("head.seq", 2**64, "head.seq"),
        ("head.tree_size", 0, "head.tree_size"),
        ("anchor.chain_id", 0, "anchor.chain_id"),
        ("anchor.tx_hash", "ab" * 32, "anchor.tx_hash"),
        ("anchor.registry", "0x1234", "anchor.registry"),
        ("signature.certificates", [], "signature.certificates"),
        ("signature.certificates[1]", "", "signature.certificates[1]"),
        ("signature.value", "QUJD\nREVG", "signature.value"),
        ("signature.value", "QUJDRA=A", "signature.value"),
        ("signature.value", "QR==", "signature.value"),
        ("signature.value", "-_-_", "signature.value"),
        ("status", "anchored ", "status"),
        ("version", "1", "version"),
        ("leaf", None, "leaf"),
        ("revocation", {"status": "pending"}, "revocation.entry"),
        ("revocation", PENDING_REVOCATION_WITH_REASON_0, "revocation.entry.reason"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
def test_field_errors_name_the_field(path: str, value: Any, field: str) -> None:
    data = valid()
    set_path(data, path, value)
    assert refused(data).field == field


def test_unknown_fields_are_refused_at_every_level() -> None:
    for section in ("leaf", "signature", "inclusion", "head", "anchor"):
        data = valid()
        data[section]["x_extension"] = 1
        assert refused(data).field == f"{section}.x_extension"


def test_version_is_checked_before_unknown_fields() -> None:
    # A future bundle must be told "wrong version", not "unknown field".
    data = valid()
    data["version"] = 5
    data["new_in_v5"] = {}
    error = refused(data)
    assert error.field == "version" and "version 5 is not supported" in str(error)


def test_size_limit_is_checked_before_parsing() -> None:
    data = valid()
    data["comment"] = "x" * MAX_BUNDLE_BYTES
    error = refused(json.dumps(data).encode())
    assert error.field == "bundle" and "bytes" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 400_000 + "]" * 400_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        '{"version": 1, "x": ' + "[" * 40 + "]" * 40 + "}",
    ],
    ids=["arrays", "objects", "inside-a-bundle"],
)
def test_deep_nesting_is_a_format_error_not_a_crash(text: str) -> None:
    # web3's dependencies raise the recursion limit to 100,000: without the nesting guard this
    # input overflows the C stack inside json.loads and kills the process.
    error = refused(text)
    assert error.field == "bundle" and "nested" in str(error)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    data = valid()
    data["comment"] = "[" * 1000
    assert refused(data).field == "comment"  # parsed fine, then refused as unknown


def test_not_utf8_is_refused() -> None:
    error = refused(VALID_TEXT.encode("utf-16"))
    assert error.field == "bundle" and "UTF-8" in str(error)


def test_wrong_input_type() -> None:
    with pytest.raises(BundleFormatError, match="expected JSON text"):
        load_bundle(123)  # type: ignore[arg-type]


def test_lowercase_addresses_are_accepted_and_checksummed() -> None:
    data = valid()
    data["anchor"]["node"] = data["anchor"]["node"].lower()
    bundle = load_bundle(json.dumps(data))
    assert bundle.anchor is not None
    assert bundle.anchor.node == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_pending_bundle_has_no_anchoring_sections() -> None:
    bundle = load_bundle((VECTORS / "bundles" / "pending.json").read_bytes())
    assert bundle.status == "pending"
    assert (bundle.inclusion, bundle.head, bundle.anchor) == (None, None, None)


# --------------------------------------------------------------------------- producing


def parts() -> dict[str, Any]:
    bundle = load_bundle(VALID_TEXT)
    assert bundle.inclusion and bundle.head and bundle.anchor
    return {
        "salt": bundle.leaf.salt,
        "signature": bundle.signature.value,
        "certificates": bundle.signature.certificates,
        "inclusion": bundle.inclusion,
        "head": bundle.head,
        "anchor": bundle.anchor,
    }


def resident_entry(**changes: Any) -> Any:
    p = parts()
    fields: dict[str, Any] = {
        "document_sha256": hashlib.sha256(
            (VECTORS / "documents/resident-record.txt").read_bytes()
        ).digest(),
        "salt": p["salt"],
        "lg_code": 131016,
        "document_type": 1,
        "issued_at": 1_768_467_540,
        "signing_time": 1_768_467_600,
        "signature_format": SignatureFormat.CMS,
        "signature": p["signature"],
        "signer_certificate": p["certificates"][0],
    }
    fields.update(changes)
    # The valid vector is a pre-seal (version-2) leaf; make_document_entry writes version 3.
    return dataclasses.replace(make_document_entry(**fields), version=COMMITTED_SIGNER_VERSION)


def test_producer_rebuilds_the_valid_vector_exactly() -> None:
    p = parts()
    bundle = build_bundle(
        entry=resident_entry(),
        salt=p["salt"],
        signature=p["signature"],
        certificates=p["certificates"],
        inclusion=p["inclusion"],
        head=p["head"],
        anchor=p["anchor"],
    )
    assert dump_bundle(bundle) == VALID_TEXT


def test_producer_refuses_inconsistent_parts() -> None:
    p = parts()
    entry = resident_entry()
    common = {"entry": entry, "salt": p["salt"], "certificates": p["certificates"]}
    with pytest.raises(LeafEncodingError, match="signature is not the one"):
        build_bundle(signature=p["signature"] + b"\x00", **common)
    with pytest.raises(LeafEncodingError, match="certificates\\[0\\]"):
        build_bundle(
            entry=entry,
            salt=p["salt"],
            signature=p["signature"],
            certificates=p["certificates"][1:],
        )
    with pytest.raises(LeafEncodingError, match="together"):
        build_bundle(signature=p["signature"], inclusion=p["inclusion"], **common)
    with pytest.raises(LeafEncodingError, match="salt must be 32 bytes"):
        build_bundle(
            entry=entry, salt=b"short", signature=p["signature"], certificates=p["certificates"]
        )
    with pytest.raises(LeafEncodingError, match="would not parse"):
        build_bundle(signature=p["signature"], **{**common, "certificates": p["certificates"] * 5})


def test_producer_pending_bundle_then_revocation_section() -> None:
    p = parts()
    pending = build_bundle(
        entry=resident_entry(),
        salt=p["salt"],
        signature=p["signature"],
        certificates=p["certificates"],
    )
    assert pending.status == "pending" and "inclusion" not in bundle_to_json(pending)
    entry = RevocationEntry(pending.leaf.leaf_hash, 131016, 2, 1_769_938_200)
    section = build_revocation_section(entry)
    assert section.status == "pending" and section.leaf_hash == entry.leaf_hash()
    anchored = build_revocation_section(
        entry,
        inclusion=InclusionSection(0, 1, ()),
        head=HeadSection(3, 1, entry.leaf_hash()),
        anchor=AnchorSection(
            1, "0x" + "11" * 20, "0x" + "22" * 20, 131016, b"\x01" * 32, 9, b"\x02" * 32
        ),
    )
    assert anchored.status == "anchored" and anchored.anchor is not None
    assert anchored.anchor.registry == "0x1111111111111111111111111111111111111111"


# --------------------------------------------------------------------------- the schema file


def test_schema_is_draft_2020_12_and_lists_the_parser_fields() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["type"] == "object" and SCHEMA["additionalProperties"] is False
    assert list(SCHEMA["properties"]) == list(EVIDENCE_TOP_LEVEL_FIELDS)
    assert [f for f in EVIDENCE_TOP_LEVEL_FIELDS if f != "evidence"] == list(TOP_LEVEL_FIELDS)
    assert set(SCHEMA["required"]) == {"version", "status", "leaf", "signature"}
    assert SCHEMA["properties"]["version"]["enum"] == list(READABLE_VERSIONS) == [1, 2, 3, 4]
    assert list(BUNDLE_VERSIONS) == [1, 2]
    defs = SCHEMA["$defs"]
    for section, fields in SECTION_FIELDS.items():
        definition = defs[section.replace(".", "_")]
        assert definition["additionalProperties"] is False, section
        assert list(definition["properties"]) == list(fields), section
    assert list(defs["leaf"]["required"]) == list(LEAF_FIELDS)
    assert defs["inclusion"]["properties"]["path"]["maxItems"] == 64
    assert defs["signature"]["properties"]["certificates"]["maxItems"] == 8
    for section, fields in EVIDENCE_SECTION_FIELDS.items():
        name = section.replace(".", "_").replace("_state_slots[]", "_slot")
        definition = defs[name]
        assert definition["additionalProperties"] is False, section
        assert list(definition["properties"]) == list(fields), section
    assert defs["evidence"]["properties"]["headers"]["maxItems"] == MAX_EVIDENCE_HEADERS


def test_schema_patterns_accept_the_valid_vector() -> None:
    # No jsonschema dependency: check the string patterns the schema declares by hand.
    defs = SCHEMA["$defs"]
    data = valid()
    for section in ("leaf", "inclusion", "head", "anchor"):
        for name, value in data[section].items():
            spec = defs[section]["properties"][name]
            spec = defs[spec["$ref"].split("/")[-1]] if "$ref" in spec else spec
            if "pattern" in spec:
                assert re.fullmatch(spec["pattern"], value), (section, name)


# --------------------------------------------------------------------------- version 3


def v3() -> dict[str, Any]:
    return json.loads((ROOT / "tests" / "vectors" / "v3" / "bundles" / "valid.json").read_text())


def test_a_v3_bundle_round_trips_canonically() -> None:
    text = (ROOT / "tests" / "vectors" / "v3" / "bundles" / "valid.json").read_text()
    bundle = load_bundle(text)
    assert bundle.version == 3 and bundle.evidence is not None and bundle.leaf.version == 2
    assert dump_bundle(bundle) == text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("evidence"), "evidence"),
        (lambda b: b.update(status="pending"), "status"),
        (lambda b: b["evidence"].update(extra=1), "evidence.extra"),
        (lambda b: b["evidence"].update(headers=[]), "evidence.headers"),
        (
            lambda b: b["evidence"].update(headers=b["evidence"]["headers"] * 100),
            "evidence.headers",
        ),
        (lambda b: b["evidence"]["headers"].__setitem__(0, "0xABCD"), "evidence.headers[0]"),
        (lambda b: b["evidence"]["headers"].__setitem__(0, "0x"), "evidence.headers[0]"),
        (lambda b: b["evidence"]["headers"].__setitem__(0, "0x123"), "evidence.headers[0]"),
        (lambda b: b["evidence"]["receipt"].update(index=-1), "evidence.receipt.index"),
        (lambda b: b["evidence"]["receipt"].update(index=True), "evidence.receipt.index"),
        (lambda b: b["evidence"]["receipt"].update(proof=[]), "evidence.receipt.proof"),
        (
            lambda b: b["evidence"]["receipt"].update(proof=["0x00"] * 65),
            "evidence.receipt.proof",
        ),
        (lambda b: b["evidence"]["transaction"].pop("value"), "evidence.transaction.value"),
        (lambda b: b["evidence"]["state"].update(block_number=0), "evidence.state.block_number"),
        (
            lambda b: b["evidence"]["state"]["slots"].reverse(),
            "evidence.state.slots[1].slot",
        ),
        (
            lambda b: b["evidence"]["state"]["slots"][0].update(value="0x01"),
            "evidence.state.slots[0].value",
        ),
        (
            lambda b: b["evidence"]["state"].update(slots=b["evidence"]["state"]["slots"] * 4),
            "evidence.state.slots",
        ),
        (lambda b: b["evidence"].update(timestamp="AAA"), "evidence.timestamp"),
        (lambda b: b["evidence"].update(timestamp="AB=="), "evidence.timestamp"),
    ],
)
def test_v3_format_errors_name_the_field(change: Any, field: str) -> None:
    data = v3()
    change(data)
    assert refused(data).field == field


def test_evidence_is_refused_in_a_version_2_bundle() -> None:
    data = v3()
    data["version"] = 2
    assert refused(data).field == "evidence"
