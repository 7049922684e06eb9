"""The `evidence.signer_revocation` part of a version-3 bundle: strict, bounded, canonical."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from protocol.bundle import bundle_to_json, load_bundle
from protocol.errors import BundleFormatError
from protocol.evidence import (
    MAX_SIGNER_CRL_BYTES,
    MAX_SIGNER_CRLS,
    SignerRevocationEvidence,
)

VALID = Path(__file__).parent / "vectors" / "v3" / "bundles" / "valid.json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def in_order(*blobs: bytes) -> list[bytes]:
    return sorted(blobs, key=lambda b: hashlib.sha256(b).digest())


def with_part(part: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(VALID.read_text(encoding="utf-8"))
    bundle["evidence"]["signer_revocation"] = part
    return bundle


def refused(bundle: dict[str, Any]) -> BundleFormatError:
    with pytest.raises(BundleFormatError) as caught:
        load_bundle(json.dumps(bundle))
    return caught.value


def test_a_signer_revocation_part_reads_and_writes_back_the_same() -> None:
    crls = in_order(b"crl one", b"crl two")
    bundle = with_part({"crls": [b64(c) for c in crls], "ocsp_responses": [b64(b"ocsp")]})
    parsed = load_bundle(json.dumps(bundle))
    assert parsed.evidence is not None
    assert parsed.evidence.signer_revocation == SignerRevocationEvidence(tuple(crls), (b"ocsp",))
    assert bundle_to_json(parsed) == bundle
    assert list(bundle_to_json(parsed)["evidence"])[-1] == "signer_revocation"


def test_the_canonical_form_sorts_and_drops_duplicates() -> None:
    made = SignerRevocationEvidence.of([b"b", b"a", b"b"], [])
    assert made.crls == tuple(in_order(b"a", b"b"))


@pytest.mark.parametrize(
    ("part", "field", "words"),
    [
        ({"crls": [], "ocsp_responses": []}, "evidence.signer_revocation", "no CRL"),
        ({"crls": []}, "evidence.signer_revocation.ocsp_responses", "missing"),
        (
            {"crls": [b64(b"x")], "ocsp_responses": [], "crl": []},
            "evidence.signer_revocation.crl",
            "unknown field",
        ),
        ({"crls": "AAAA", "ocsp_responses": []}, "evidence.signer_revocation.crls", "array"),
        ({"crls": ["AA"], "ocsp_responses": []}, "evidence.signer_revocation.crls[0]", "base64"),
        (
            {"crls": [b64(b"x"), b64(b"x")], "ocsp_responses": []},
            "evidence.signer_revocation.crls[1]",
            "each once",
        ),
        (
            {"crls": [b64(c) for c in reversed(in_order(b"a", b"b"))], "ocsp_responses": []},
            "evidence.signer_revocation.crls[1]",
            "ascending",
        ),
        (
            {"crls": [b64(bytes([i])) for i in range(MAX_SIGNER_CRLS + 1)], "ocsp_responses": []},
            "evidence.signer_revocation.crls",
            "at most",
        ),
        (
            {"crls": [b64(b"\0" * (MAX_SIGNER_CRL_BYTES + 3))], "ocsp_responses": []},
            "evidence.signer_revocation.crls[0]",
            "more than",
        ),
        ([], "evidence.signer_revocation", "object"),
    ],
)
def test_malformed_parts_are_refused_naming_the_field(part: Any, field: str, words: str) -> None:
    error = refused(with_part(copy.deepcopy(part)))
    assert error.field == field and words in str(error), str(error)
