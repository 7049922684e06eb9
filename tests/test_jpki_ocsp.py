"""OCSP against a real responder over HTTP (devtools.ocsp): good, revoked, unknown, and every
answer that must not count (tampered, wrong responder, stale, replayed without our nonce).

The signature certificates of JPKI name no OCSP responder in their AIA, so these also prove
that a configured responder is honoured for them (pyhanko alone would ignore the answers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from devtools.cms_sign import sign_cms
from devtools.ocsp import MAX_REQUEST_BYTES, Authority, TestOCSPResponder
from devtools.testca import (
    IIZUKA,
    SYNTHETIC_PEOPLE,
    Issued,
    TestHierarchy,
    make_ocsp_responder,
    make_signature_ee,
    new_key,
)
from protocol.bundle import build_bundle, dump_bundle, make_document_entry
from protocol.leaf import SignatureFormat
from tests.jpki_fixtures import anchors, cert, key, x509_cert
from tests.node_harness import REPO, http
from verifier.jpki import (
    RevocationSources,
    SignerCheck,
    check_signer,
    parse_certificate,
)
from verifier.jpki.ocsp import build_request
from verifier.jpki.ocsp_status import NOT_GOOD_AT_SIGNING_TIME

pytest_plugins = ["tests.jpki_fixtures"]

HOUR = timedelta(hours=1)


@pytest.fixture
def responder(jpki_hierarchy: TestHierarchy) -> TestOCSPResponder:
    return TestOCSPResponder.for_hierarchy(jpki_hierarchy.out_dir)


@pytest.fixture
def url(responder: TestOCSPResponder) -> Iterator[str]:
    with responder.serve() as base:
        yield base


def _check(
    h: TestHierarchy,
    signer: Issued | x509.Certificate,
    sources: RevocationSources,
    signing_time: datetime | None = None,
) -> SignerCheck:
    certificate = parse_certificate(signer) if isinstance(signer, x509.Certificate) else None
    return check_signer(
        certificate or cert(signer),  # type: ignore[arg-type]
        signing_time=signing_time or h.now - HOUR,
        trust_anchors=anchors(h),
        revocation=sources,
    )


def _saved_answer(h: TestHierarchy, responder: TestOCSPResponder, signer: Issued) -> bytes:
    """A response fetched earlier and kept as evidence (no nonce: nobody asked for one)."""
    issuer = {"sign-ca-gen01": h.sign_ca_gen01, "sign-ca-gen02": h.sign_ca_gen02}
    request = build_request(cert(signer), cert(issuer[signer.issuer_role or ""]), nonce=None)
    return responder.respond(request)


def test_good_answer_validates_a_signature_certificate_without_aia(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder, url: str
) -> None:
    result = _check(
        jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, RevocationSources(ocsp_urls=[url])
    )
    assert result.status == "valid", result.reason
    assert responder.requests == ["POST /"]


def test_delegated_responder_with_ocsp_signing_is_accepted(
    jpki_hierarchy: TestHierarchy,
) -> None:
    delegated = TestOCSPResponder.for_hierarchy(jpki_hierarchy.out_dir, delegate=True)
    with delegated.serve() as url:
        result = _check(
            jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, RevocationSources(ocsp_urls=[url])
        )
    assert result.status == "valid", result.reason


def test_revoked_answer_is_revoked_with_the_crl_date(
    jpki_hierarchy: TestHierarchy, url: str
) -> None:
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, RevocationSources(ocsp_urls=[url]))
    assert result.status == "revoked"
    assert result.revoked_at == jpki_hierarchy.revoked_at


def test_revoked_answer_counts_even_when_a_crl_says_good(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder, url: str
) -> None:
    signer = jpki_hierarchy.ee_valid_gen02
    responder.revoke(x509_cert(signer), jpki_hierarchy.now - 2 * HOUR)
    sources = RevocationSources(crl_files=[jpki_hierarchy.crl_gen02_iizuka.path], ocsp_urls=[url])
    result = _check(jpki_hierarchy, signer, sources)
    assert result.status == "revoked"
    # Revoked only after the signing time: the signature stays valid (on the CRL's word).
    assert _check(jpki_hierarchy, signer, sources, jpki_hierarchy.now - 3 * HOUR).ok


def test_unknown_answer_decides_nothing(jpki_hierarchy: TestHierarchy, url: str) -> None:
    # Issued by gen02 but not in the responder's records (the manifest).
    ee = make_signature_ee(
        issuer_cert=x509_cert(jpki_hierarchy.sign_ca_gen02),
        issuer_key=key(jpki_hierarchy.sign_ca_gen02),
        key=new_key(),
        place=IIZUKA,
        person=SYNTHETIC_PEOPLE["sign-ee-valid-gen02"],
        not_before=jpki_hierarchy.now - 10 * HOUR,
        not_after=jpki_hierarchy.now + 1000 * HOUR,
    )
    result = _check(jpki_hierarchy, ee, RevocationSources(ocsp_urls=[url]))
    assert result.status == "unknown"
    assert NOT_GOOD_AT_SIGNING_TIME in result.reason


def test_tampered_answer_is_refused(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder
) -> None:
    answer = bytearray(_saved_answer(jpki_hierarchy, responder, jpki_hierarchy.ee_valid_gen02))
    answer[-5] ^= 0x01  # inside the signature
    sources = RevocationSources(ocsp_responses=[bytes(answer)])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, sources)
    assert result.status == "unknown"
    assert "signature does not verify" in result.reason


@pytest.mark.parametrize("impostor", ["other-generation", "no-ocsp-signing", "fake-ca"])
def test_answer_from_a_responder_the_ca_did_not_authorise_is_refused(
    jpki_hierarchy: TestHierarchy, impostor: str
) -> None:
    h = jpki_hierarchy
    gen02 = x509_cert(h.sign_ca_gen02)
    if impostor == "other-generation":  # same DN, the other generation's key
        signer_cert, signer_key = x509_cert(h.sign_ca_gen01), key(h.sign_ca_gen01)
    else:
        issuer = h.sign_ca_gen02 if impostor == "no-ocsp-signing" else h.fake_ca
        signer_key = new_key()
        signer_cert = make_ocsp_responder(
            issuer_cert=x509_cert(issuer),
            issuer_key=key(issuer),
            key=signer_key,
            not_before=h.now - 1000 * HOUR,
            not_after=h.now + 1000 * HOUR,
            extended_key_usage=(
                [ExtendedKeyUsageOID.CLIENT_AUTH]
                if impostor == "no-ocsp-signing"
                else [ExtendedKeyUsageOID.OCSP_SIGNING]
            ),
        )
    wrong = TestOCSPResponder(
        [Authority(gen02, signer_cert, signer_key, issued={h.ee_valid_gen02.serial})]
    )
    with wrong.serve() as url:
        result = _check(h, h.ee_valid_gen02, RevocationSources(ocsp_urls=[url]))
    assert result.status == "unknown"
    assert "it is signed neither by the CA nor by a responder the CA authorised" in result.reason


def test_stale_answer_is_refused_and_a_fresh_one_accepted(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder
) -> None:
    h = jpki_hierarchy
    responder.now = lambda: h.now - 5 * HOUR  # thisUpdate -5 h, nextUpdate -4 h
    stale = _saved_answer(h, responder, h.ee_valid_gen02)
    result = _check(h, h.ee_valid_gen02, RevocationSources(ocsp_responses=[stale]))
    assert result.status == "unknown"
    assert "too old: its nextUpdate is before the signing time" in result.reason
    # The same answer covers a signature made while it was current.
    assert _check(
        h, h.ee_valid_gen02, RevocationSources(ocsp_responses=[stale]), h.now - 4.5 * HOUR
    ).ok


def test_saved_answer_is_evidence_without_any_network(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder
) -> None:
    saved = _saved_answer(jpki_hierarchy, responder, jpki_hierarchy.ee_valid_gen01)
    result = _check(
        jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, RevocationSources(ocsp_responses=[saved])
    )
    assert result.status == "valid", result.reason
    assert responder.requests == []


def test_online_answer_without_our_nonce_is_refused_unless_allowed(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder, url: str
) -> None:
    responder.echo_nonce = False
    signer = jpki_hierarchy.ee_valid_gen02
    refused = _check(jpki_hierarchy, signer, RevocationSources(ocsp_urls=[url]))
    assert refused.status == "unknown"
    assert "does not echo the request's nonce" in refused.reason
    allowed = RevocationSources(ocsp_urls=[url], ocsp_require_nonce=False)
    assert _check(jpki_hierarchy, signer, allowed).ok


def test_responders_are_tried_in_order(jpki_hierarchy: TestHierarchy, url: str) -> None:
    down = "http://127.0.0.1:9/"  # discard port: nothing listens
    result = _check(
        jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, RevocationSources(ocsp_urls=[down, url])
    )
    assert result.ok, result.reason
    assert any(
        problem.startswith(f"OCSP {down}: cannot reach") for problem in result.revocation_problems
    )


def test_responder_bounds_requests(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder, url: str
) -> None:
    too_big = http("POST", url, raw=b"\x30" * (MAX_REQUEST_BYTES + 1))
    assert too_big.status == 413
    garbage = http("POST", url, raw=b"not a request")
    assert garbage.status == 200  # an OCSP error answer, as RFC 6960 wants
    request = build_request(
        cert(jpki_hierarchy.ee_valid_gen02), cert(jpki_hierarchy.sign_ca_gen02), nonce=None
    )
    by_get = http("GET", url + urllib.parse.quote(base64.b64encode(request).decode(), safe=""))
    assert by_get.status == 200 and by_get.headers["Content-Type"] == "application/ocsp-response"


# --------------------------------------------------------------------------- notary verify


def _pending_bundle(h: TestHierarchy, signer: Issued, folder: Path) -> tuple[Path, Path]:
    """A document and its pending bundle (no chain needed: the signer check still runs)."""
    document = folder / "document.txt"
    document.write_bytes(f"certificate signed by {signer.role}".encode())
    signature = sign_cms(
        document.read_bytes(),
        key=key(signer),
        cert=x509_cert(signer),
        signing_time=h.now - HOUR,
    )
    salt = secrets.token_bytes(32)
    entry = make_document_entry(
        document_sha256=hashlib.sha256(document.read_bytes()).digest(),
        salt=salt,
        lg_code=131016,
        document_type=0x8001,  # municipality-defined: a JPKI card may sign it
        issued_at=h.now - HOUR,
        signing_time=h.now - HOUR,
        signature_format=SignatureFormat.CMS,
        signature=signature,
        signer_certificate=cert(signer).der,
    )
    bundle = folder / "bundle.json"
    bundle.write_text(
        dump_bundle(
            build_bundle(
                entry=entry, salt=salt, signature=signature, certificates=[cert(signer).der]
            )
        )
    )
    return document, bundle


def _notary_verify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTARY_")}
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "verify", *args, "--json", "--no-revocation-check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=False,
    )


def _signer_check(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    found: dict[str, str] = next(c for c in checks if c["name"] == "signer_certificate")
    return found


@pytest.mark.parametrize(
    ("role", "exit_code", "outcome"),
    [("ee_valid_gen02", 3, "passed"), ("ee_revoked", 1, "failed")],
)
def test_notary_verify_asks_the_responder(
    jpki_hierarchy: TestHierarchy,
    responder: TestOCSPResponder,
    url: str,
    tmp_path: Path,
    role: str,
    exit_code: int,
    outcome: str,
) -> None:
    signer: Issued = getattr(jpki_hierarchy, role)
    document, bundle = _pending_bundle(jpki_hierarchy, signer, tmp_path)
    trust = [a for p in jpki_hierarchy.trust_anchors for a in ("--trust", str(p))]
    done = _notary_verify(str(document), "--bundle", str(bundle), *trust, "--ocsp", url)
    # A good signer leaves the verdict pending (3, no chain here); a revoked one fails it (1).
    assert done.returncode == exit_code, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert _signer_check(report)["outcome"] == outcome, report
    assert responder.requests == ["POST /"]


def test_notary_verify_takes_saved_responses_and_refuses_garbage_in_one_line(
    jpki_hierarchy: TestHierarchy, responder: TestOCSPResponder, tmp_path: Path
) -> None:
    signer = jpki_hierarchy.ee_valid_gen02
    document, bundle = _pending_bundle(jpki_hierarchy, signer, tmp_path)
    saved = tmp_path / "answer.ocsp"
    saved.write_bytes(_saved_answer(jpki_hierarchy, responder, signer))
    trust = [a for p in jpki_hierarchy.trust_anchors for a in ("--trust", str(p))]
    common = [str(document), "--bundle", str(bundle), *trust]
    done = _notary_verify(*common, "--ocsp-response", str(saved))
    assert done.returncode == 3 and _signer_check(json.loads(done.stdout))["outcome"] == "passed"
    without = _notary_verify(*common)
    assert _signer_check(json.loads(without.stdout))["outcome"] == "unknown"
    for bad in (["--ocsp-response", str(document)], ["--ocsp", "ftp://x.invalid/"]):
        refused = _notary_verify(*common, *bad)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, refused.stderr
        assert lines[0].startswith("notary verify: --ocsp")
