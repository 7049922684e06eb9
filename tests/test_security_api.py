"""Issue 12: the node's HTTP API after the security review (findings 10 and 11).

- Private status (finding 11): a verifier asks for the revocations of a leaf-hash *prefix*
  (`GET /v1/revocations/{prefix}`), so the issuing node never learns which document a bank
  checks; the old per-document status route is gone.
- The municipal network split: the LGWAN listener serves the whole API, the internet listener
  only public reads; nothing that writes, nor anything that needs a token, is served there.
- Finding 10: `/readyz` on the public side says only ready or not; `/docs` loads nothing from
  another origin.

The node runs as a real process without a chain (entries are logged, not anchored): a
revocation then travels without its proof, which is all the prefix protocol needs to show.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from devnet.ports import free_port
from devtools.testca import TestHierarchy
from node import api as node_api
from node.api import PUBLIC_ROUTES, create_app, token_scopes
from node.models import RevocationSidecar
from node.service import NodeService
from node.settings import NodeSettings
from node.store import LogStore, NewEntry
from protocol.leaf import RevocationReason
from tests.node_harness import http as call
from tests.node_harness import signed_entry
from tests.two_listener_node import (
    TwoListenerNode,
    node_files,
    running_node,
    start_node,
    stop_node,
    wait_healthy,
)
from verifier.chain import PREFIX_HEX_DIGITS, NodeStatusAnswer, NodeStatusClient

pytest_plugins = ["tests.jpki_fixtures", "tests.browser"]


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[TwoListenerNode]:
    root = tmp_path_factory.mktemp("two-listeners")
    with running_node(root, jpki_hierarchy, "issuing-system", ("submit", "read", "admin")) as n:
        yield n


@dataclass
class Logged:
    """Documents the module's node holds, and which of them were revoked."""

    leaves: list[str]
    revoked: set[str]


@pytest.fixture(scope="module")
def logged(node: TwoListenerNode) -> Logged:
    signer = node.hierarchy.ee_valid_gen02
    entries = [
        signed_entry(signer, f"証明書 {i} {secrets.token_hex(8)}".encode()) for i in range(48)
    ]
    answer = call("POST", node.lgwan + "/v1/entries/bulk", {"entries": entries}, node.token)
    assert answer.status == 201, answer.body
    leaves = [receipt["leaf_hash"] for receipt in answer.body["receipts"]]
    revoked = set(leaves[::4])
    for leaf in revoked:
        done = call(
            "POST",
            f"{node.lgwan}/v1/entries/{leaf}/revocation",
            {"reason": "superseded"},
            node.token,
        )
        assert done.status == 201, done.body
    return Logged(leaves, revoked)


# --------------------------------------------------------------------------- finding 11


class _CountingDB:
    """The store's LevelDB, counting the records its iterators hand out."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.records = 0

    def iterator(self, **kwargs: Any) -> Iterator[Any]:
        for record in self.db.iterator(**kwargs):
            self.records += 1
            yield record

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def revocation_sidecar(receipt_id: str, revokes: str) -> RevocationSidecar:
    return RevocationSidecar(
        receipt_id=receipt_id, client="test", received_at=0, revokes=bytes.fromhex(revokes)
    )


def test_revocations_by_prefix_read_only_their_key_range(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log")
    edges = ["00" * 32, "ff" * 32, "a" + "0" * 63, "a" + "f" * 63, "9f" + "f" * 62, "b0" + "0" * 62]
    revoked = sorted({*edges, *(secrets.token_hex(32) for _ in range(700))})
    # Document entries too: their keys must never be read by a revocation look-up.
    store.append(
        [NewEntry(f"doc {i}".encode(), revocation_sidecar(f"d{i}", ""), f"d{i}") for i in range(50)]
        + [
            NewEntry(
                f"revocation {i}".encode(),
                revocation_sidecar(f"r{i}", leaf),
                f"r{i}",
                revokes=bytes.fromhex(leaf),
            )
            for i, leaf in enumerate(revoked)
        ]
    )
    counting = _CountingDB(store.db)
    store.db = counting
    for prefix in ["a", "a0", "af", "9f", "b", "0", "00", "0000", "ffff", "f", "ab1", "7c3e", ""]:
        counting.records = 0
        found = list(store.revocations_with_prefix(prefix))
        expected = [leaf for leaf in revoked if leaf.startswith(prefix)]
        assert [leaf.hex() for leaf, _ in found] == expected, prefix
        assert counting.records == len(expected), prefix  # a range scan, not a full scan
        for leaf, index in found:
            assert store.entry(index) is not None
            assert store.revocation_of(leaf) == index
    with pytest.raises(ValueError, match="lowercase hex"):
        list(store.revocations_with_prefix("AB"))
    store.close()


def _header(answer: Any, name: str) -> str:
    return {k.lower(): v for k, v in answer.headers.items()}[name]


def _revoked_in(bucket: dict[str, Any]) -> list[str]:
    return [r["entry"]["revoked_leaf_hash"] for r in bucket["revocations"]]


def test_bucket_lists_exactly_the_revocations_with_its_prefix(
    node: TwoListenerNode, logged: Logged
) -> None:
    prefixes = {leaf[:n] for leaf in logged.leaves for n in (1, 2, 3, 4)}
    for prefix in [*sorted(prefixes)[::3], "0", "f", "ffff"]:
        answer = call("GET", f"{node.public}/v1/revocations/{prefix}")
        assert answer.status == 200, answer.body
        assert answer.body["prefix"] == prefix
        assert _revoked_in(answer.body) == sorted(r for r in logged.revoked if r.startswith(prefix))
        for revocation in answer.body["revocations"]:
            assert revocation["entry"]["reason"] == RevocationReason.SUPERSEDED
            assert revocation["status"] == "pending"  # this node has no chain to anchor on
        assert _header(answer, "access-control-allow-origin") == "*"
        assert _header(answer, "content-type") == "application/json"
    # The same everywhere: on the LGWAN side too, and cacheable, with a validator.
    leaf = sorted(logged.revoked)[0]
    public = call("GET", f"{node.public}/v1/revocations/{leaf[:2]}")
    lgwan = call("GET", f"{node.lgwan}/v1/revocations/{leaf[:2]}")
    assert public.body == lgwan.body and leaf in _revoked_in(public.body)
    assert _header(public, "cache-control") == "public, max-age=10"
    etag = _header(public, "etag")
    request = urllib.request.Request(
        f"{node.public}/v1/revocations/{leaf[:2]}", headers={"If-None-Match": etag}
    )
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(request, timeout=30)
    assert not_modified.value.code == 304 and not_modified.value.headers["ETag"] == etag


@pytest.mark.parametrize("prefix", ["AB", "abcde", "g1", "a-", "%20", "0x1", "ab.json"])
def test_a_bad_prefix_is_refused_naming_it(node: TwoListenerNode, prefix: str) -> None:
    answer = call("GET", f"{node.public}/v1/revocations/{prefix}")
    assert answer.status == 422, answer.body
    assert _header(answer, "content-type") == "application/problem+json"
    assert answer.body["field"] == "prefix" and "1 to 4 lowercase" in answer.body["detail"]
    assert _header(answer, "access-control-allow-origin") == "*"  # a page can tell why


def test_the_per_document_status_route_is_gone(node: TwoListenerNode, logged: Logged) -> None:
    leaf = logged.leaves[1]
    for base in (node.lgwan, node.public):
        assert call("GET", f"{base}/v1/entries/{leaf}/status").status == 404


class _RecordingProxy:
    """A reverse proxy in front of the public listener that keeps every request it passes."""

    def __init__(self, upstream: str) -> None:
        self.requests: list[str] = []
        self.answers: list[bytes] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests.append(f"{self.requestline}\n{self.headers}")
                forwarded = urllib.request.Request(upstream + self.path, headers=dict(self.headers))
                try:
                    with urllib.request.urlopen(forwarded, timeout=30) as answer:
                        status, body, kind = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as error:
                    status, body, kind = error.code, error.read(), error.headers
                proxy.answers.append(body)
                self.send_response(status)
                self.send_header("Content-Type", kind.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_verifier_learns_a_revocation_without_naming_the_document(
    node: TwoListenerNode, logged: Logged
) -> None:
    revoked = sorted(logged.revoked)[-1]
    kept = next(leaf for leaf in logged.leaves if leaf not in logged.revoked)
    proxy = _RecordingProxy(node.public)
    try:
        client = NodeStatusClient(proxy.url)
        answer = client.status(bytes.fromhex(revoked))
        assert answer.revoked and answer.revocation is not None
        assert answer.revocation.entry.revoked_leaf_hash.hex() == revoked
        assert answer.revocation.status == "pending"
        assert client.status(bytes.fromhex(kept)) == NodeStatusAnswer(False, None)
    finally:
        proxy.close()
    assert [r.splitlines()[0] for r in proxy.requests] == [
        f"GET /v1/revocations/{revoked[:PREFIX_HEX_DIGITS]} HTTP/1.1",
        f"GET /v1/revocations/{kept[:PREFIX_HEX_DIGITS]} HTTP/1.1",
    ]
    # What reached the node names neither document; the answer about the document that was
    # not revoked does not contain it either; and the node logged neither.
    seen = "\n".join(proxy.requests).lower()
    for leaf in (revoked, kept):
        assert leaf not in seen and leaf[:8] not in seen
    assert kept.encode() not in proxy.answers[1]
    node_log = node.log_file.read_text(errors="replace")
    assert revoked not in node_log and kept not in node_log


# --------------------------------------------------------------------------- the listeners


@pytest.fixture(scope="module")
def routes(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> list[APIRoute]:
    """Every route of the LGWAN app, from the code (so a route added later is covered)."""
    service = _service(tmp_path_factory.mktemp("route-table"), jpki_hierarchy)
    try:
        return [r for r in create_app(service).routes if isinstance(r, APIRoute)]
    finally:
        service.stop()


def _service(root: Path, hierarchy: TestHierarchy) -> NodeService:
    key_file, env = node_files(root, hierarchy)
    return NodeService(
        NodeSettings(
            data_dir=root / "data",
            key_file=key_file,
            trust_dir=Path(env["NOTARY_TRUST_DIR"]),
            crl_files=[Path(p) for p in json.loads(env["NOTARY_CRL_FILES"])],
        )
    )


def _concrete(path: str) -> str:
    values = {"leaf_hash": "ab" * 32, "receipt_id": "r_0123", "prefix": "ab", "name": "x"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


def _request(method: str, url: str, token: str | None = None) -> int:
    return call(method, url, {} if method in ("POST", "PUT", "PATCH") else None, token).status


def test_nothing_that_writes_is_served_on_the_public_listener(
    node: TwoListenerNode, routes: list[APIRoute]
) -> None:
    writing = [
        (method, route.path)
        for route in routes
        for method in sorted(route.methods - {"GET", "HEAD"})
    ]
    assert {("POST", "/v1/entries"), ("POST", "/v1/entries/{leaf_hash}/revocation")} <= set(writing)
    for method, path in writing:
        url = _concrete(path)
        assert _request(method, node.public + url) == 404, (method, path)
        assert _request(method, node.public + url, node.token) == 404, (method, path)
        assert _request(method, node.lgwan + url) != 404, (method, path)  # it exists there


def test_what_needs_a_token_is_not_served_publicly(
    node: TwoListenerNode, routes: list[APIRoute], logged: Logged
) -> None:
    leaf = logged.leaves[2]
    needing = [r.path for r in routes if "GET" in r.methods and token_scopes(r)]
    assert "/v1/entries/{leaf_hash}/bundle" in needing
    for path in needing:
        url = _concrete(path).replace("ab" * 32, leaf)
        assert call("GET", node.public + url, token=node.token).status == 404, path
        assert call("GET", node.lgwan + url).status == 401, path
    bundle = call("GET", f"{node.lgwan}/v1/entries/{leaf}/bundle", token=node.token)
    assert bundle.status == 200
    # Operator endpoints without a token are LGWAN-only too.
    assert call("GET", node.public + "/metrics").status == 404
    assert call("GET", node.lgwan + "/metrics").status == 200


def test_the_public_listener_serves_the_public_reads(
    node: TwoListenerNode, routes: list[APIRoute], logged: Logged
) -> None:
    for path in ["/v1/log/head", "/v1/log/heads", "/healthz", "/readyz", "/openapi.json"]:
        assert call("GET", node.public + path).status == 200, path
    leaves = call("GET", node.public + "/v1/log/leaves?start=0&end=2").body["leaves"]
    assert [x["leaf_hash"] for x in leaves] == logged.leaves[:2]
    page = call("GET", node.public + "/verify")
    assert page.status == 200 and "<html" in page.body.lower()
    spec = call("GET", node.public + "/openapi.json").body
    assert set(spec["paths"]) <= PUBLIC_ROUTES
    assert "/v1/revocations/{prefix}" in spec["paths"]
    assert all(set(ops) <= {"get", "head"} for ops in spec["paths"].values())
    # The LGWAN listener serves the whole API: every route of the code is in its description.
    full = call("GET", node.lgwan + "/openapi.json").body
    assert {r.path for r in routes if r.include_in_schema} == set(full["paths"])


def test_a_public_route_that_writes_or_needs_a_token_stops_the_start(
    tmp_path: Path, jpki_hierarchy: TestHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(tmp_path, jpki_hierarchy)
    try:
        for path in ["/v1/entries", "/v1/receipts/{receipt_id}/bundle"]:
            monkeypatch.setattr(node_api, "PUBLIC_ROUTES", PUBLIC_ROUTES | {path})
            with pytest.raises(RuntimeError, match="public routes that write or need a token"):
                create_app(service, "public")
    finally:
        service.stop()


def test_both_listeners_stop_together_and_a_taken_port_fails_the_start(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    key_file, env = node_files(tmp_path, jpki_hierarchy)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        refused = start_node(tmp_path / "refused", key_file, env, free_port(), busy)
        assert refused.wait(timeout=60) == 1
    log = (tmp_path / "refused" / "node.log").read_text()
    assert f"cannot listen on 127.0.0.1:{busy}" in log and "Traceback" not in log
    port, public_port = free_port(), free_port()
    process = start_node(tmp_path / "data", key_file, env, port, public_port)
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{public_port}")
    finally:
        assert stop_node(process) == 0
    for closed in (port, public_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", closed), timeout=5).close()


# --------------------------------------------------------------------------- finding 10


def _asgi_get(app: Any, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET through an ASGI app, in process."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"node.test")],
        "client": ("127.0.0.1", 1), "server": ("node.test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body


def test_public_readiness_says_only_ready_or_not(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    service = _service(tmp_path, jpki_hierarchy)
    secret_endpoint = "http://rpc-7.chain.internal.example:8545"
    try:
        public, lgwan = create_app(service, "public"), create_app(service, "lgwan")
        status, _, body = _asgi_get(public, "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        service.readiness = lambda: (  # type: ignore[method-assign]
            False,
            f"chain unavailable: {secret_endpoint} refused the connection",
        )
        service.chain_endpoint = lambda: {  # type: ignore[method-assign]
            "url": secret_endpoint,
            "index": 0,
            "configured": 1,
        }
        status, headers, body = _asgi_get(public, "/readyz")
        answer = json.loads(body)
        assert status == 503 and headers["content-type"] == "application/problem+json"
        assert answer["type"].endswith("/not-ready") and "chain_endpoint" not in answer
        assert "rpc-7" not in body.decode() and "refused" not in body.decode()
        # The operator, on the LGWAN side, still reads why.
        status, _, body = _asgi_get(lgwan, "/readyz")
        assert status == 503 and secret_endpoint in body.decode()
        assert json.loads(body)["chain_endpoint"]["url"] == secret_endpoint
    finally:
        service.stop()


_REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']*)["']""", re.IGNORECASE)


def test_docs_load_nothing_from_another_origin(node: TwoListenerNode) -> None:
    for base in (node.lgwan, node.public):
        docs = call("GET", base + "/docs")
        assert docs.status == 200 and "swagger-ui" in docs.body
        html = docs.body
        assert "http:" not in html and "https:" not in html and "cdn" not in html
        references = _REFERENCE.findall(html)
        assert len(references) >= 4, references  # css, icon, js, the description
        for reference in references:
            assert reference.startswith("/") and not reference.startswith("//"), reference
        policy = _header(docs, "content-security-policy")
        assert "default-src 'none'" in policy and "http" not in policy
        assert "script-src 'self' 'sha256-" in policy and "connect-src 'self'" in policy
        for reference in references:
            asset = urllib.request.urlopen(base + reference, timeout=30)
            assert asset.status == 200 and len(asset.read()) > 0, reference
        script = urllib.request.urlopen(base + "/docs/assets/swagger-ui-bundle.js", timeout=30)
        assert _header(script, "content-type").startswith("text/javascript")
        assert b"SwaggerUIBundle" in script.read()
        assert call("GET", base + "/redoc").status == 404
        assert call("GET", base + "/docs/assets/index.html").status == 404
        assert call("GET", base + "/docs/assets/..%2F__init__.py").status == 404


def test_docs_render_in_a_browser_from_the_node_alone(node: TwoListenerNode, browser: Any) -> None:
    """Swagger UI under its CSP, as a browser on a host without internet would load it."""
    page = browser.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(node.public + "/docs")
    page.get_by_text("/v1/revocations/{prefix}").first.wait_for(timeout=30_000)
    assert "municipal-notary node (public)" in page.inner_text(".info")
    page.close()
    assert problems == []
    assert requested and all(url.startswith(node.public + "/") for url in requested), requested
