"""The clerk's verification page (verifier/web/verify.html) in a real browser.

Debian's chromium, driven by Playwright, against a real one-validator devnet and a real node:
the node's own /verify page says valid for the registered document, invalid (naming the
document check) when one byte changed, revoked once the municipality revoked it; the same
file used statically (file://, settings from the link) says valid; and the page agrees with
the Python verifier on every protocol test vector (served by a JSON-RPC stand-in for
tests/vectors/chain.json). Screenshots go to $NOTARY_TEST_ARTIFACTS or test-artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from web3 import Web3

from anchor.artifacts import load_registry_artifact
from tests.node_harness import REPO, NodeProcess, node_on_devnet, signed_entry
from tests.node_harness import http as call
from verifier.jpki.testca import SYNTHETIC_PEOPLE, TestHierarchy
from verifier.web import PageConfig, inline_hashes, page_template, render_page

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

VECTORS = REPO / "tests" / "vectors"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VERDICTS = ("valid", "invalid", "revoked", "pending", "unknown")


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NOTARY_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: run `make browser` (part of `make test`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


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
    types = {"node": 1, "static": 4}  # 住民票の写し, 所得証明書
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
    assert set(checks_of(page).values()) == {"passed"}
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
    status = call("GET", f"{node.url}/v1/entries/{entry.leaf_hash}/status")
    assert status.headers["access-control-allow-origin"] == "*"
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
    assert config["allow_url_settings"] is False  # a link cannot swap the trusted chain
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


def test_static_page_with_settings_from_the_link(
    node: NodeProcess,
    registered: dict[str, Registered],
    browser: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    """An IT department's copy: trust anchors and CRLs inside, the chain named in the link."""
    hierarchy = node.hierarchy
    config = PageConfig(
        trust_anchors=[_der_certificate(p) for p in hierarchy.trust_anchors],
        crls=[p.read_bytes() for p in hierarchy.crl_files],
        allow_url_settings=True,
    )
    static = tmp_path / "verify.html"
    static.write_text(render_page(config), encoding="utf-8")
    query = urlencode(
        {
            "rpc": node.rpc_url,
            "chain_id": node.chain_id,
            "registry": node.registry,
            "node": node.url,
        }
    )
    entry = registered["static"]
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})
    page.goto(static.as_uri() + "?" + query)
    page.wait_for_selector("body[data-ready=true]")
    result = verify_in_page(
        page,
        write(tmp_path, "income.txt", entry.document),
        write(tmp_path, "income-bundle.json", entry.bundle),
    )
    assert result["verdict"] == "valid", result
    assert checks_of(page)["document_revocation"] == "passed"  # the node was asked
    assert page.is_visible("#verdict-url-warning")
    shoot(page, artifacts, "static-valid")

    # without the chain's coordinates the page refuses to judge rather than guess
    page.goto(static.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_visible("#config-notice")
    result = verify_in_page(page, tmp_path / "income.txt", tmp_path / "income-bundle.json")
    assert result["verdict"] == "unknown"
    shoot(page, artifacts, "static-unconfigured-unknown")
    page.close()


# ---------------------------------------------------------------------- protocol vectors


def test_page_agrees_with_the_protocol_vectors(
    browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    """Every bundle of docs/PROTOCOL.md 9.6 gets the verdict and failed check expected.json
    states, and every malformed bundle is refused naming the same field."""
    expected = json.loads((VECTORS / "expected.json").read_text())
    chain = json.loads((VECTORS / "chain.json").read_text())
    config = PageConfig(
        chain_id=chain["chain_id"],
        registry=chain["registry"],
        trust_anchors=[_der_certificate(VECTORS / "signing" / "ca.pem")],
        crls=[(VECTORS / "signing" / "crl.der").read_bytes()],
        allow_url_settings=True,
    )
    static = tmp_path / "verify.html"
    static.write_text(render_page(config), encoding="utf-8")
    with _recorded_chain(chain) as rpc_url:
        page = browser.new_page()
        page.goto(static.as_uri() + "?" + urlencode({"rpc": rpc_url}))
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


def _word(value: int | bytes | str) -> str:
    if isinstance(value, str):
        value = bytes.fromhex(value.removeprefix("0x"))
    if isinstance(value, bytes):
        return value.rjust(32, b"\0").hex()
    return value.to_bytes(32, "big").hex()


class _RecordedRpc(BaseHTTPRequestHandler):
    """Standard JSON-RPC answers from chain.json, as tests.vectors.RecordedChain reads them."""

    chain: dict[str, Any]

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.end_headers()

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            answer = {"result": self.answer(request["method"], request["params"])}
        except LookupError as exc:
            answer = {"error": {"code": -32601, "message": str(exc)}}
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], **answer}).encode()
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, method: str, params: list[Any]) -> Any:  # noqa: PLR0911
        chain = self.chain
        if method == "eth_chainId":
            return hex(chain["chain_id"])
        if method == "eth_blockNumber":
            return hex(chain["latest_block"])
        if method == "eth_call":
            data = params[0]["data"][2:]
            selector, node = data[:8], "0x" + data[8 + 24 : 8 + 64]
            if selector == "fdd436c0":
                root = data[72:136]
                found = next((a for a in chain["anchors"] if a["root"] == root), None)
                if found is None:
                    return "0x" + "00" * 32 * 6
                fields = ("node", "seq", "tree_size", "block_number", "timestamp", "withdrawn")
                return "0x" + "".join(_word(int(found[f])) if f != "node" else _word(found[f])
                                      for f in fields)  # fmt: skip
            known = next((n for n in chain["nodes"] if n["address"].lower() == node), None)
            status = ["UNREGISTERED", "ACTIVE", "SUSPENDED", "RETIRED"].index(
                known["status"] if known else "UNREGISTERED"
            )
            words = [32, known["lg_code"] if known else 0, status, 0, 0, 0, 7 * 32, 0]
            return "0x" + "".join(_word(w) for w in words)
        if method == "eth_getTransactionReceipt":
            tx = next((t for t in chain["transactions"] if t["tx_hash"] == params[0]), None)
            if tx is None:
                return None
            topic = "0x" + bytes(Web3.keccak(text=_HEAD_ANCHORED)).hex()
            logs = [
                {
                    "address": tx["to"],
                    "topics": [topic, *("0x" + _word(log[k]) for k in ("node", "lg_code", "seq"))],
                    "data": "0x"
                    + _word(log["tree_size"])
                    + _word(log["root"])
                    + _word(log["previous_tree_size"])
                    + _word(0),
                }
                for log in tx["head_anchored"]
            ]
            return {
                "blockNumber": hex(tx["block_number"]),
                "blockHash": tx["block_hash"],
                "status": hex(tx["status"]),
                "to": tx["to"],
                "logs": logs,
            }
        if method == "eth_getBlockByNumber":
            block = next((b for b in chain["blocks"] if hex(b["number"]) == params[0]), None)
            return (
                None
                if block is None
                else {"hash": block["hash"], "timestamp": hex(block["timestamp"])}
            )
        raise LookupError(f"the method {method} does not exist")

    def log_message(self, format: str, *args: Any) -> None:
        pass


_HEAD_ANCHORED = "HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)"


@contextmanager
def _recorded_chain(chain: dict[str, Any]) -> Iterator[str]:
    """A JSON-RPC endpoint on 127.0.0.1 answering from chain.json; yields its URL."""
    handler = type("Handler", (_RecordedRpc,), {"chain": chain})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
