"""The sealed PDF ("one file") and counter mode on the node's /verify page, in Chromium.

A PDF sealed as the issuing side seals it (tests/sealed_pdf.py: pyHanko, one PAdES signature
over revision 1, one update embedding notary-bundle.json) is registered with a real node on a
one-validator devnet; the clerk drops CERT.pdf alone: valid, naming the signer kind. One byte
changed in the signed content: invalid with the reason. Another document's bundle inside:
invalid. Counter mode: the claim ticket of another document says 取り違い, its own OK.

The fixture signer is the test JPKI card (`ee_valid_gen02`), so the documents use a
municipality-defined type (0x8001): registered certificate types need the municipal seal
(protocol/signers.py). The sealed 住民票 of `make run`'s demo, on the dev node's page, is
tests/test_audit.py's `test_the_make_run_sealed_pdf_on_the_verify_page`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import TestHierarchy
from tests.node_harness import REPO, NodeProcess, node_on_devnet
from tests.node_harness import http as call
from tests.sealed_pdf import embed_bundle, original_pdf, sign_pdf

pytest_plugins = ["tests.jpki_fixtures", "tests.browser"]
pytestmark = pytest.mark.chain

MUNICIPALITY_TYPE = 0x8001


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    with node_on_devnet(tmp_path_factory.mktemp("sealed-pdf"), jpki_hierarchy) as process:
        yield process


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NOTARY_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _register(node: NodeProcess, token: str, text: str) -> tuple[bytes, dict[str, Any]]:
    """Seal a PDF with the test card, register its signed bytes; (signed PDF, entry answer)."""
    signer = node.hierarchy.ee_valid_gen02
    key = load_private_key(signer.key)
    cert = x509.load_pem_x509_certificate(signer.cert.read_bytes())
    when = datetime.now(UTC).replace(microsecond=0)
    signed = sign_pdf(
        original_pdf(text), lambda data: sign_cms(data, key=key, cert=cert, signing_time=when)
    )
    body = {
        "document_sha256": hashlib.sha256(signed.document).hexdigest(),
        "document_type": MUNICIPALITY_TYPE,
        "issued_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {"format": "cms", "value": base64.b64encode(signed.cms).decode()},
    }
    answer = call("POST", node.url + "/v1/entries", body, token)
    assert answer.status == 201, answer.body
    return signed.pdf, answer.body


@pytest.fixture(scope="module")
def sealed(node: NodeProcess) -> dict[str, Any]:
    token = node.token("issuing-system", "submit", "read")
    signed = {
        name: _register(node, token, text)
        for name, text in (
            ("a", "Certificate A (test)"),
            ("b", "Certificate B (test)"),
        )
    }
    node.wait_final()
    result: dict[str, Any] = {}
    for name, (pdf, receipt) in signed.items():
        bundle = call("GET", f"{node.url}/v1/entries/{receipt['leaf_hash']}/bundle", token=token)
        assert bundle.headers["notary-bundle-state"] == "final", bundle.headers
        assert bundle.body["version"] == 4, "the node writes version-3 leaves"
        raw = json.dumps(bundle.body, indent=2).encode()
        result[name] = {"signed": pdf, "bundle": raw, "leaf_hash": receipt["leaf_hash"]}
    return result


def _open(browser: Any, node: NodeProcess) -> Any:
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(node.url + "/verify")
    page.wait_for_selector("body[data-ready=true]")
    page.errors = errors
    return page


def _drop_pdf(page: Any, path: Path) -> dict[str, Any]:
    if page.get_attribute("#verdict", "data-state") == "done":
        page.click("#reset")
    page.set_input_files("#document-input", str(path))
    page.wait_for_selector('#verdict[data-state="done"]', timeout=60_000)
    return {
        "verdict": page.get_attribute("#verdict", "data-verdict"),
        "failed_check": page.get_attribute("#verdict", "data-failed-check"),
        "word": page.inner_text("#verdict-word"),
        "reason": page.inner_text("#verdict-reason"),
    }


def test_sealed_pdf_alone_valid_altered_and_swapped(
    node: NodeProcess, sealed: dict[str, Any], browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    a, b = sealed["a"], sealed["b"]
    cert_pdf = tmp_path / "CERT.pdf"
    cert_pdf.write_bytes(embed_bundle(a["signed"], a["bundle"]))
    page = _open(browser, node)

    # (a) the sealed PDF alone: valid, and the verdict names the signer kind
    result = _drop_pdf(page, cert_pdf)
    assert result["verdict"] == "valid", result
    assert "有効" in result["word"]
    assert page.get_attribute("#verdict-signer", "data-signer-kind") == "jpki-card-signature"
    assert "マイナンバーカード" in page.inner_text("#verdict-signer")
    assert "封印PDF" in page.inner_text("#facts")
    page.screenshot(path=str(artifacts / "sealed-pdf-valid.png"), full_page=True)

    # (b) one byte changed in the signed content (the page's text): invalid, with the reason
    data = bytearray(cert_pdf.read_bytes())
    at = data.index(b"Certificate A")
    data[at] = ord("c")
    altered = tmp_path / "CERT-altered.pdf"
    altered.write_bytes(bytes(data))
    result = _drop_pdf(page, altered)
    assert (result["verdict"], result["failed_check"]) == ("invalid", "document_leaf"), result
    assert "無効" in result["word"]
    assert "変更" in result["reason"] or "一致" in result["reason"], result["reason"]
    page.screenshot(path=str(artifacts / "sealed-pdf-altered.png"), full_page=True)

    # (c) one byte changed in the container (the embedded file's name): invalid, why shown
    data = bytearray(cert_pdf.read_bytes())
    at = data.rindex(b"(notary\\055bundle\\056json)")
    data[at + 1] = ord("N")
    broken = tmp_path / "CERT-container.pdf"
    broken.write_bytes(bytes(data))
    result = _drop_pdf(page, broken)
    assert (result["verdict"], result["failed_check"]) == ("invalid", "bundle_format"), result
    detail = page.inner_text('#checks li[data-check="bundle_format"] .detail')
    assert detail.startswith("not a valid sealed PDF:"), detail

    # (d) another document's bundle inside A's signed PDF: invalid
    swapped = tmp_path / "CERT-swapped.pdf"
    swapped.write_bytes(embed_bundle(a["signed"], b["bundle"]))
    result = _drop_pdf(page, swapped)
    assert result["verdict"] == "invalid", result
    assert result["failed_check"] in ("document_leaf", "signature_binding"), result
    page.screenshot(path=str(artifacts / "sealed-pdf-swapped.png"), full_page=True)
    assert not page.errors, page.errors
    page.close()


def test_counter_mode_mix_up(
    node: NodeProcess, sealed: dict[str, Any], browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    a, b = sealed["a"], sealed["b"]
    cert_pdf = tmp_path / "CERT.pdf"
    cert_pdf.write_bytes(embed_bundle(a["signed"], a["bundle"]))
    page = _open(browser, node)
    page.check("#counter-mode")
    assert page.is_visible("#ticket")

    # the ticket of another document (a USB scanner types it and presses Enter)
    page.fill("#ticket", f"notary-ticket:{b['leaf_hash']}")
    page.press("#ticket", "Enter")
    result = _drop_pdf(page, cert_pdf)
    assert result["verdict"] == "valid", result
    box = page.wait_for_selector('#ticket-result[data-ticket="mismatch"]')
    assert box.is_visible()
    assert "取り違い" in box.inner_text()
    page.screenshot(path=str(artifacts / "counter-mode-mix-up.png"), full_page=True)

    # its own ticket: OK beside the normal verdict
    page.fill("#ticket", f"notary-ticket:{a['leaf_hash']}")
    page.press("#ticket", "Enter")
    box = page.wait_for_selector('#ticket-result[data-ticket="match"]')
    assert "OK" in box.inner_text()
    assert page.get_attribute("#verdict", "data-verdict") == "valid"
    page.close()
