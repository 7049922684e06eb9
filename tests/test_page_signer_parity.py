"""The page's signer check counts a revocation that reaches back before its own date as the
Python verifier does (verifier/jpki/compromise.py): key compromise whatever the claimed signing
time, an invalidity date at or before it; an ordinary revocation keeps the signing-time rule.
Same status and the same words, on certificates and CRLs made for the test."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from devtools.ocsp import TestOCSPResponder
from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    CRLEntry,
    Issued,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
)
from tests.jpki_fixtures import anchors, cert, key, x509_cert
from tests.node_harness import REPO
from verifier.jpki import RevocationSources, check_signer
from verifier.jpki.ocsp import build_request

pytest_plugins = ["tests.jpki_fixtures"]

HOUR = timedelta(hours=1)


def _crl(h: TestHierarchy, entry: CRLEntry) -> bytes:
    """gen02's Iizuka CRL (the distribution point of ee_valid_gen02) with one entry."""
    return make_crl(
        issuer_cert=x509_cert(h.sign_ca_gen02),
        issuer_key=key(h.sign_ca_gen02),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[entry],
        this_update=h.now,
        next_update=h.now + 24 * HOUR,
        number=2,
    ).public_bytes(serialization.Encoding.DER)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _page(cases: list[dict[str, object]], tmp_path: Path) -> dict[str, tuple[str, str]]:
    """The page's checkSigner on each case: name → (status, reason)."""
    case_file = tmp_path / "cases.json"
    case_file.write_text(json.dumps(cases))
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    done = subprocess.run(
        [node, "tests/js/signer_parity.mjs", str(case_file)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {r["name"]: (r["status"], r["reason"]) for r in json.loads(done.stdout)}


def _roots(h: TestHierarchy) -> list[str]:
    return [
        _b64(
            x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(serialization.Encoding.DER)
        )
        for p in h.trust_anchors
    ]


def _der(issued: Issued) -> str:
    return _b64(x509_cert(issued).public_bytes(serialization.Encoding.DER))


def test_page_and_python_agree_on_revocations_that_reach_back(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    serial = signer.serial
    compromise, moved = x509.ReasonFlags.key_compromise, x509.ReasonFlags.affiliation_changed
    cases: list[tuple[str, CRLEntry, datetime, str]] = [
        ("key compromise after signing", CRLEntry(serial, h.now - HOUR, compromise), h.now - 24 * HOUR, "revoked"),  # noqa: E501
        ("invalid since before signing", CRLEntry(serial, h.now - HOUR, compromise, h.now - 3 * HOUR), h.now - 2 * HOUR, "revoked"),  # noqa: E501
        ("invalid since after signing", CRLEntry(serial, h.now - HOUR, compromise, h.now - 3 * HOUR), h.now - 4 * HOUR, "valid"),  # noqa: E501
        ("moved after signing", CRLEntry(serial, h.now - HOUR, moved), h.now - 24 * HOUR, "valid"),
        ("moved, invalid since before signing", CRLEntry(serial, h.now - HOUR, moved, h.now - 30 * HOUR), h.now - 24 * HOUR, "revoked"),  # noqa: E501
    ]  # fmt: skip
    page_cases, python = [], {}
    for name, entry, signed_at, expected in cases:
        crl = _crl(h, entry)
        result = check_signer(
            cert(signer),
            signing_time=signed_at,
            trust_anchors=anchors(h),
            revocation=RevocationSources(crls=[crl]),
        )
        assert result.status == expected, f"{name}: {result.reason}"
        python[name] = (result.status, result.reason)
        page_cases.append({
            "name": name, "cert": _der(signer), "anchors": _roots(h), "crls": [_b64(crl)],
            "when": int(signed_at.timestamp()),
        })  # fmt: skip
    assert _page(page_cases, tmp_path) == python


@pytest.mark.parametrize("delegate", [False, True])
def test_page_and_python_agree_on_saved_ocsp_responses(
    jpki_hierarchy: TestHierarchy, tmp_path: Path, delegate: bool
) -> None:
    """CA-signed and delegated OCSP responses as a bundle carries them: good, revoked before
    signing, revoked after signing (moved, or key compromise). An answer "revoked" dated after
    the signing time decides nothing (docs/OPERATOR.md: a CRL, or an answer saved at signing
    time, decides it), so both sides say unknown for a move, never valid; a key compromise
    reaches back and revokes."""
    h = jpki_hierarchy
    honest = TestOCSPResponder.for_hierarchy(h.out_dir, delegate=delegate)
    responder = TestOCSPResponder.for_hierarchy(h.out_dir, delegate=delegate)
    moved, compromised = h.ee_valid_gen01, h.ee_valid_gen02
    responder.revoke(x509_cert(moved), h.now - HOUR, x509.ReasonFlags.affiliation_changed)
    responder.revoke(x509_cert(compromised), h.now - HOUR, x509.ReasonFlags.key_compromise)
    issuers = {"sign-ca-gen01": h.sign_ca_gen01, "sign-ca-gen02": h.sign_ca_gen02}
    cases = [
        ("good", honest, h.ee_valid_gen02, h.now - 2 * HOUR, "valid"),
        ("revoked before signing", responder, h.ee_revoked, h.revoked_at + HOUR, "revoked"),
        ("moved after signing", responder, moved, h.now - 2 * HOUR, "unknown"),
        ("key compromise after signing", responder, compromised, h.now - 2 * HOUR, "revoked"),
    ]
    page_cases, python = [], {}
    for name, answering, signer, signed_at, expected in cases:
        issuer = issuers[signer.issuer_role or ""]
        answer = answering.respond(build_request(cert(signer), cert(issuer), nonce=None))
        result = check_signer(
            cert(signer),
            signing_time=signed_at,
            trust_anchors=anchors(h),
            revocation=RevocationSources(ocsp_responses=[answer]),
        )
        assert result.status == expected, f"{name}: {result.reason}"
        python[name] = (result.status, result.reason)
        page_cases.append({
            "name": name, "cert": _der(signer), "anchors": _roots(h), "crls": [],
            "ocsp": [_b64(answer)], "when": int(signed_at.timestamp()),
        })  # fmt: skip
    assert _page(page_cases, tmp_path) == python
