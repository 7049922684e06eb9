"""The clerk's verification page (verifier/web/verify.html) in a real browser.

Debian's chromium, driven by Playwright, against a real one-validator devnet and a real node:
the node's own /verify page says valid for the registered document, invalid (naming the
document check) when one byte changed, revoked once the municipality revoked it; the same
file used statically (file://, configured inside) says valid; and the page agrees with the
Python verifier on every protocol test vector (served by stand-ins for tests/vectors/chain.json
and an issuing node, tests/vectors/standins.py). Screenshots go to $NOTARY_TEST_ARTIFACTS or
test-artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from web3 import Web3

from anchor.artifacts import load_registry_artifact
from devtools.testca import SYNTHETIC_PEOPLE, TestHierarchy
from protocol.checks import CHECK_ORDER
from tests.node_harness import REPO, NodeProcess, node_on_devnet, signed_entry
from tests.node_harness import http as call
from tests.vectors.standins import recorded_chain, recorded_node
from verifier.chain import PREFIX_HEX_DIGITS
from verifier.web import PageConfig, inline_hashes, page_template, render_page

pytest_plugins = ["tests.jpki_fixtures", "tests.browser"]
pytestmark = pytest.mark.chain

VECTORS = REPO / "tests" / "vectors"
VERDICTS = ("valid", "invalid", "revoked", "pending", "unknown")


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NOTARY_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    with node_on_devnet(tmp_path_factory.mktemp("verify-page"), jpki_hierarchy) as process:
        yield process


@dataclass
class Registered:
    document: bytes
    bundle: dict[str, Any]

    @property
    def leaf_hash(self) -> str:
        return str(self.bundle["leaf"]["leaf_hash"])


@pytest.fixture(scope="module")
def tokens(node: NodeProcess) -> dict[str, str]:
    return {
        "submit": node.token("issuing-system", "submit", "read"),
        "admin": node.token("municipal-admin", "admin", "read"),
    }


@pytest.fixture(scope="module")
def registered(node: NodeProcess, tokens: dict[str, str]) -> dict[str, Registered]:
    """Two documents, anchored and final: one for the node page (later revoked), one static."""
    documents = {
        "node": "住民票の写し\n氏名: 試験 花子\n住所: 福岡県飯塚市検証町二丁目2番地\n".encode(),
        "static": "所得証明書\n令和8年度 所得金額: 3,456,000円\n".encode(),
    }
    # Municipality-defined types: the fixture signer is a JPKI card, and the registered types
    # (1 住民票の写し, 4 所得証明書) of a version-3 leaf need the municipal seal (signers.py).
    types = {"node": 0x8001, "static": 0x8004}
    leaves = {}
    for name, document in documents.items():
        answer = call(
            "POST",
            node.url + "/v1/entries",
            signed_entry(node.hierarchy.ee_valid_gen02, document, document_type=types[name]),
            tokens["submit"],
        )
        assert answer.status == 201, answer.body
        leaves[name] = answer.body["leaf_hash"]
    node.wait_final()
    result = {}
    for name, leaf in leaves.items():
        bundle = call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=tokens["submit"])
        assert bundle.headers["notary-bundle-state"] == "final", bundle.headers
        result[name] = Registered(documents[name], bundle.body)
    return result


# ---------------------------------------------------------------------- helpers


def verify_in_page(page: Any, document: Path, bundle: Path) -> dict[str, str | None]:
    """Choose both files as a clerk would and wait for the verdict."""
    if page.get_attribute("#verdict", "data-state") == "done":
        page.click("#reset")
    page.set_input_files("#document-input", str(document))
    page.set_input_files("#bundle-input", str(bundle))
    page.wait_for_selector('#verdict[data-state="done"]', timeout=60_000)
    verdict = page.get_attribute("#verdict", "data-verdict")
    assert verdict in VERDICTS
    return {
        "verdict": verdict,
        "failed_check": page.get_attribute("#verdict", "data-failed-check"),
        "reason_check": page.get_attribute("#verdict-reason", "data-check"),
        "reason": page.inner_text("#verdict-reason"),
    }


def write(folder: Path, name: str, data: bytes | dict[str, Any]) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data, indent=2).encode())
    return path


def shoot(page: Any, artifacts: Path, name: str) -> Path:
    path = artifacts / f"verify-page-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def checks_of(page: Any) -> dict[str, str]:
    items = page.query_selector_all("#checks li")
    return {str(i.get_attribute("data-check")): str(i.get_attribute("data-outcome")) for i in items}


# ---------------------------------------------------------------------- the node's page


def test_node_page_valid_invalid_revoked(
    node: NodeProcess,
    tokens: dict[str, str],
    registered: dict[str, Registered],
    browser: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    entry = registered["node"]
    document = write(tmp_path, "resident-record.txt", entry.document)
    bundle = write(tmp_path, "bundle.json", entry.bundle)
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})
    requests: list[Any] = []
    # Playwright cannot wrap a builtin method as a handler, hence the lambda.
    page.on("request", lambda request: requests.append(request))  # noqa: PLW0108
    errors: list[str] = []  # CSP violations and script errors show up here
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(node.url + "/verify")
    assert response is not None and response.status == 200
    headers = response.headers
    assert headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    assert re.search(r"connect-src 'self' http://127\.0\.0\.1:\d+", csp), csp
    page.wait_for_selector("body[data-ready=true]")

    # (a) the registered document: valid, with the municipality and anchor shown plainly
    result = verify_in_page(page, document, bundle)
    assert result["verdict"] == "valid", result
    outcomes = checks_of(page)
    assert list(outcomes) == list(CHECK_ORDER)
    # requester_disclosure runs only with a disclosure (ON_REQUEST_CHECKS); all else passed
    assert outcomes.pop("requester_disclosure") == "skipped"
    assert set(outcomes.values()) == {"passed"}
    facts = page.inner_text("#facts")
    assert "131016" in facts and str(entry.bundle["anchor"]["block_number"]) in facts
    # the signer's personal data is not in the page until the clerk asks for it
    person = SYNTHETIC_PEOPLE["sign-ee-valid-gen02"]
    assert person.name not in page.content() and person.address not in page.content()
    shoot(page, artifacts, "valid")
    page.click("#show-signer")
    signer = page.inner_text("#signer-data")
    assert person.name in signer and person.address in signer
    assert page.get_attribute("#show-signer", "aria-expanded") == "true"
    shoot(page, artifacts, "valid-signer-shown")
    page.click("#show-signer")
    assert person.name not in page.content()

    # (b) one byte changed: invalid, and the reason names the document check
    altered = bytearray(entry.document)
    altered[-2] ^= 0x01
    result = verify_in_page(page, write(tmp_path, "altered.txt", bytes(altered)), bundle)
    assert result["verdict"] == "invalid", result
    assert result["failed_check"] == result["reason_check"] == "document_leaf"
    assert "登録された書類と一致しません" in str(result["reason"])
    assert "changed after it was registered" in str(result["reason"])
    assert checks_of(page)["document_leaf"] == "failed"
    shoot(page, artifacts, "invalid")

    # (c) the municipality revokes it: revoked, both from the node's status endpoint (the old
    # bundle has no revocation section) and from a re-issued bundle that carries one
    revoked = call(
        "POST",
        f"{node.url}/v1/entries/{entry.leaf_hash}/revocation",
        {"reason": "superseded"},
        tokens["admin"],
    )
    assert revoked.status == 201, revoked.body
    node.wait_final()
    bucket = call("GET", f"{node.url}/v1/revocations/{entry.leaf_hash[:PREFIX_HEX_DIGITS]}")
    assert bucket.headers["access-control-allow-origin"] == "*"
    result = verify_in_page(page, document, bundle)
    assert result["verdict"] == "revoked", result
    assert result["failed_check"] == "document_revocation"
    assert "再交付" in str(result["reason"]) and "revoked" in str(result["reason"])
    shoot(page, artifacts, "revoked")
    reissued = call("GET", f"{node.url}/v1/entries/{entry.leaf_hash}/bundle", token=tokens["admin"])
    assert reissued.body["revocation"]["status"] == "anchored"
    result = verify_in_page(page, document, write(tmp_path, "reissued.json", reissued.body))
    assert result["verdict"] == "revoked", result

    # the document never left the browser: only the node and the chain were asked, and no
    # request carried its bytes or its digest
    digest = hashlib.sha256(entry.document).hexdigest()
    for request in requests:
        assert request.url.startswith((node.url, node.rpc_url)), request.url
        body = request.post_data_buffer or b""
        assert entry.document not in body and digest.encode() not in body
    assert errors == []
    page.close()


def test_node_page_escapes_its_configuration(node: NodeProcess) -> None:
    page = call("GET", node.url + "/verify")
    assert page.status == 200 and page.headers["cache-control"] == "no-store"
    block = re.search(
        r'<script type="application/json" id="notary-config">(.*?)</script>', page.body, re.S
    )
    assert block is not None
    config = json.loads(block.group(1))
    assert config["registry"] == node.registry and config["chain_id"] == node.chain_id
    assert config["rpc_url"] == node.rpc_url and config["node_url"] == ""
    assert "allow_url_settings" not in config  # only this block configures the page
    assert len(config["trust_anchors"]) >= 2 and len(config["crls"]) >= 1
    hostile = PageConfig(registry="</script><script>alert(1)</script>", rpc_urls=["http://x/?a&b"])
    rendered = render_page(hostile)
    assert "</script><script>" not in rendered
    json_text = re.search(
        r'<script type="application/json" id="notary-config">(.*?)</script>', rendered, re.S
    )
    assert json_text is not None
    assert json.loads(json_text.group(1))["registry"] == hostile.registry
    scripts, _ = inline_hashes(page.body)
    assert all(s in page.headers["content-security-policy"] for s in scripts)


# ---------------------------------------------------------------------- static use


def test_static_page_configured_by_it_department(
    node: NodeProcess,
    registered: dict[str, Registered],
    browser: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    """An IT department's copy (python -m verifier.web): every setting inside the file."""
    hierarchy = node.hierarchy
    config = PageConfig(
        rpc_urls=[node.rpc_url],
        chain_id=node.chain_id,
        registry=node.registry,
        node_url=node.url,
        trust_anchors=[_der_certificate(p) for p in hierarchy.trust_anchors],
        crls=[p.read_bytes() for p in hierarchy.crl_files],
    )
    static = tmp_path / "verify.html"
    static.write_text(render_page(config), encoding="utf-8")
    entry = registered["static"]
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})
    page.goto(static.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    result = verify_in_page(
        page,
        write(tmp_path, "income.txt", entry.document),
        write(tmp_path, "income-bundle.json", entry.bundle),
    )
    assert result["verdict"] == "valid", result
    assert checks_of(page)["document_revocation"] == "passed"  # the node was asked
    shoot(page, artifacts, "static-valid")

    # the shipped template, unconfigured, refuses to judge rather than guess, whatever the
    # link says (settings from a link are ignored)
    unconfigured = tmp_path / "template.html"
    unconfigured.write_text(page_template(), encoding="utf-8")
    query = urlencode({"rpc": node.rpc_url, "chain_id": node.chain_id, "registry": node.registry})
    page.goto(unconfigured.as_uri() + "?" + query)
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_visible("#config-notice")
    assert "were ignored" in page.inner_text("#config-notice")
    result = verify_in_page(page, tmp_path / "income.txt", tmp_path / "income-bundle.json")
    assert result["verdict"] == "unknown"
    shoot(page, artifacts, "static-unconfigured-unknown")
    page.close()


# ---------------------------------------------------------------------- protocol vectors


def vector_config(
    rpc_url: str, node_url: str | None, *, require_municipal_seal: bool = True
) -> PageConfig:
    chain = json.loads((VECTORS / "chain.json").read_text())
    return PageConfig(
        rpc_urls=[rpc_url],
        chain_id=chain["chain_id"],
        registry=chain["registry"],
        node_url=node_url,
        trust_anchors=[_der_certificate(VECTORS / "signing" / "ca.pem")],
        crls=[(VECTORS / "signing" / "crl.der").read_bytes()],
        require_municipal_seal=require_municipal_seal,
    )


def test_page_agrees_with_the_protocol_vectors(
    browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    """Every bundle of docs/PROTOCOL.md 9.6 gets the verdict and failed check expected.json
    states, and every malformed bundle is refused naming the same field.

    expected.json is stated for a verifier that asks no node and does not require it; the page
    always requires the check, so it asks a stand-in node that knows no revocation (the
    verdicts are the same: only a bundle's own revocation section counts). They are pre-seal
    bundles, stated with require_municipal_seal off; under the page's default (on) those of
    `seal_policy` are invalid at issuer_policy, as in Python."""
    expected = json.loads((VECTORS / "expected.json").read_text())
    chain = json.loads((VECTORS / "chain.json").read_text())
    with recorded_chain(chain) as rpc_url, recorded_node() as node:
        sealed = tmp_path / "verify-sealed.html"
        sealed.write_text(render_page(vector_config(rpc_url, node.url)), encoding="utf-8")
        page = browser.new_page()
        page.goto(sealed.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        for bundle, case in expected["seal_policy"].items():
            document = VECTORS / expected["bundles"][bundle]["document"]
            result = verify_in_page(page, document, VECTORS / bundle)
            assert (result["verdict"], result["failed_check"]) == (
                case["status"],
                case["failed_check"],
            ), bundle
            assert result["reason_check"] == "issuer_policy"
            assert checks_of(page)["issuer_policy"] == "failed"
        page.close()
        static = tmp_path / "verify.html"
        config = vector_config(
            rpc_url, node.url, require_municipal_seal=expected["require_municipal_seal"]
        )
        static.write_text(render_page(config), encoding="utf-8")
        page = browser.new_page()
        page.goto(static.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        for bundle, case in expected["bundles"].items():
            result = verify_in_page(page, VECTORS / case["document"], VECTORS / bundle)
            got = (result["verdict"], result["failed_check"])
            assert got == (case["status"], case["failed_check"]), bundle
            if bundle == "bundles/pending.json":
                shoot(page, artifacts, "pending")
        document = VECTORS / "documents" / "resident-record.txt"
        for bundle, case in expected["malformed"].items():
            result = verify_in_page(page, document, VECTORS / bundle)
            assert (result["verdict"], result["failed_check"]) == ("invalid", "bundle_format")
            detail = page.inner_text('#checks li[data-check="bundle_format"] .detail')
            assert detail.startswith(f"not a valid proof bundle: {case['field']}: "), bundle
        page.close()
    # The node was asked by bucket only: two hex digits, never a leaf hash.
    assert node.requests
    bucket = re.compile(rf"/v1/revocations/[0-9a-f]{{{PREFIX_HEX_DIGITS}}}")
    assert all(bucket.fullmatch(path) for path in node.requests), node.requests


def v4_config(rpc_url: str, node_url: str | None) -> PageConfig:
    """The policy of tests/vectors/v4/expected.json (as tests/test_verify_v4_vectors.py)."""
    policy = json.loads((VECTORS / "v4" / "expected.json").read_text())["policy"]
    chain = json.loads((VECTORS / policy["chain"]).read_text())
    return PageConfig(
        rpc_urls=[rpc_url],
        chain_id=chain["chain_id"],
        registry=chain["registry"],
        node_url=node_url,
        trust_anchors=[_der_certificate(VECTORS / name) for name in policy["trust_anchors"]],
        seal_trust_anchors=[
            _der_certificate(VECTORS / name) for name in policy["seal_trust_anchors"]
        ],
        crls=[(VECTORS / name).read_bytes() for name in policy["crls"]],
    )


def test_page_agrees_with_the_v4_vectors(browser: Any, artifacts: Path, tmp_path: Path) -> None:
    """Every version-4 vector (seals, smartphone, events, chain evidence, malformed) gets the
    verdict and deciding check of v4/expected.json; the seal's office is named; a requester
    disclosure chosen in box 3 opens the commitment (the card serial shown) or fails
    requester_disclosure, as Python's verdict does."""
    expected = json.loads((VECTORS / "v4" / "expected.json").read_text())
    chain = json.loads((VECTORS / expected["policy"]["chain"]).read_text())
    with recorded_chain(chain) as rpc_url, recorded_node() as node:
        static = tmp_path / "verify-v4.html"
        static.write_text(render_page(v4_config(rpc_url, node.url)), encoding="utf-8")
        page = browser.new_page()
        page.goto(static.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        for bundle, case in expected["bundles"].items():
            result = verify_in_page(page, VECTORS / case["document"], VECTORS / bundle)
            got = (result["verdict"], result["failed_check"])
            assert got == (case["status"], case["failed_check"]), (bundle, result["reason"])
            assert list(checks_of(page)) == list(CHECK_ORDER), bundle
            if bundle == "v4/bundles/sealed.json":
                kind = page.get_attribute("#verdict-signer", "data-signer-kind")
                assert kind == "lgpki-seal"
                assert "LGCJP-131016" in page.inner_text("#verdict-signer")
                shoot(page, artifacts, "v4-sealed")
            if bundle == "v4/bundles/login-event.json":  # an event's type names the event
                assert "login event" in page.inner_text("#facts")
                assert "resident record" not in page.inner_text("#facts")
        for name, case in expected["requester_disclosures"].items():
            if page.get_attribute("#verdict", "data-state") == "done":
                page.click("#reset")
            page.click("#requester summary")
            page.set_input_files("#disclosure-input", str(VECTORS / case["disclosure"]))
            result = verify_in_page(page, VECTORS / case["document"], VECTORS / case["bundle"])
            got = (result["verdict"], result["failed_check"])
            assert got == (case["status"], case["failed_check"]), (name, result["reason"])
            outcome = checks_of(page)["requester_disclosure"]
            assert outcome == ("passed" if case["status"] == "valid" else "failed"), name
            if case["status"] == "valid":
                serial = json.loads((VECTORS / case["disclosure"]).read_text())["card_serial"]
                assert page.get_attribute("#verdict-requester", "data-card-serial") == serial
                assert f"0x{serial}" in page.inner_text("#verdict-requester")
                shoot(page, artifacts, "v4-requester")
            else:
                assert not page.is_visible("#verdict-requester"), name
            page.click("#reset")
            page.click("#requester summary")  # closed again for the next case
        document = VECTORS / "v4" / "documents" / "sealed-resident-record.txt"
        for bundle, case in expected["malformed"].items():
            result = verify_in_page(page, document, VECTORS / bundle)
            assert (result["verdict"], result["failed_check"]) == ("invalid", "bundle_format")
            detail = page.inner_text('#checks li[data-check="bundle_format"] .detail')
            assert detail.startswith(f"not a valid proof bundle: {case['field']}: "), bundle
        page.close()


def test_page_constants_match_the_registry_abi() -> None:
    html = page_template()
    abi = {item.get("name"): item for item in load_registry_artifact().abi}

    def signature(name: str) -> str:
        return f"{name}({','.join(i['type'] for i in abi[name]['inputs'])})"

    for constant, name, size in (
        ("SELECTOR_GET_ANCHOR", "getAnchor", 4),
        ("SELECTOR_GET_NODE", "getNode", 4),
        ("TOPIC_HEAD_ANCHORED", "HeadAnchored", 32),
    ):
        value = "0x" + bytes(Web3.keccak(text=signature(name)))[:size].hex()
        assert re.search(rf"const {constant} =(?:\s*//[^\n]*)?\s*'{value}'", html), constant


# ---------------------------------------------------------------------- stand-ins


def _der_certificate(path: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)
