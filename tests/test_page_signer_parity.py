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

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    CRLEntry,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
)
from tests.jpki_fixtures import anchors, cert, key, x509_cert
from tests.node_harness import REPO
from verifier.jpki import RevocationSources, check_signer

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
    roots = [
        _b64(x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(serialization.Encoding.DER))
        for p in h.trust_anchors
    ]
    signer_der = x509_cert(signer).public_bytes(serialization.Encoding.DER)
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
            "name": name, "cert": _b64(signer_der), "anchors": roots, "crls": [_b64(crl)],
            "when": int(signed_at.timestamp()),
        })  # fmt: skip
    case_file = tmp_path / "cases.json"
    case_file.write_text(json.dumps(page_cases))
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    done = subprocess.run(
        [node, "tests/js/signer_parity.mjs", str(case_file)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for page in json.loads(done.stdout):
        assert (page["status"], page["reason"]) == python[page["name"]], page["name"]
