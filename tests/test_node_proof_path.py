"""The inclusion fast path answers exactly as the FastAPI route does, and leaves every error
to the route (problem+json naming the field)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from anchor.keys import write_keystore
from node.api import create_app
from node.models import RevocationSidecar
from node.proof_path import InclusionFastPath
from node.service import NodeService
from node.settings import load_settings
from node.store import NewEntry
from protocol.merkle import hash_leaf

Answer = tuple[int, dict[bytes, bytes], bytes]


def call(app: Any, query: str) -> Answer:
    """One GET /v1/log/inclusion through the whole ASGI stack, as uvicorn would drive it."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/v1/log/inclusion", "raw_path": b"/v1/log/inclusion",
        "query_string": query.encode(), "headers": [(b"host", b"node")], "root_path": "",
        "client": ("127.0.0.1", 1), "server": ("node", 80),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


@pytest.fixture
def service(tmp_path: Path) -> Any:
    write_keystore(Account.create(), tmp_path / "key.json", "pw")
    (tmp_path / "pw").write_text("pw\n")
    settings = load_settings(
        data_dir=tmp_path,
        key_file=tmp_path / "key.json",
        password_file=tmp_path / "pw",
        lg_code=131016,
        intake_workers=0,
    )
    node = NodeService(settings)
    node.store.append(
        [
            NewEntry(f"leaf {i}".encode(), RevocationSidecar(f"r{i}", "t", 0, b""), f"r{i}")
            for i in range(13)
        ]
    )
    yield node
    node.store.close()


def test_fast_answers_equal_the_route_and_errors_stay_with_the_route(
    service: NodeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf = hash_leaf(b"leaf 5").hex()
    queries = [
        f"leaf_hash={leaf}&tree_size=13",
        f"tree_size=6&leaf_hash={leaf.upper()}",
        f"leaf_hash={leaf}&tree_size=5",  # the leaf is not in a tree of 5: 422
        f"leaf_hash={leaf}&tree_size=14",  # beyond the log: 422
        f"leaf_hash={'ab' * 32}&tree_size=13",  # unknown leaf: 404
        f"leaf_hash={leaf[:-1]}&tree_size=13",  # malformed: 422
        f"leaf_hash={leaf}&tree_size=0",
        f"leaf_hash={leaf}&tree_size=13&tree_size=12",  # the route takes the last one
        f"leaf_hash={leaf}",
    ]
    fast = [call(create_app(service), q) for q in queries]
    monkeypatch.setattr(InclusionFastPath, "_answer", lambda self, query: None)
    routed = [call(create_app(service), q) for q in queries]
    assert fast == routed
    assert [status for status, _, _ in fast] == [200, 200, 422, 422, 404, 422, 422, 200, 422]
    assert json.loads(fast[0][2])["leaf_index"] == 5
    for status, headers, body in fast[2:7] + fast[8:]:
        problem = json.loads(body)
        assert headers[b"content-type"] == b"application/problem+json", (status, problem)
        assert problem["status"] == status and problem.get("field")


def test_fast_answers_are_counted_under_the_route(service: NodeService) -> None:
    app = create_app(service)
    call(app, f"leaf_hash={hash_leaf(b'leaf 1').hex()}&tree_size=13")
    samples = {
        tuple(sorted(s.labels.items()))
        for metric in service.metrics.request_seconds.collect()
        for s in metric.samples
        if s.name.endswith("_count") and s.value
    }
    assert (("method", "GET"), ("route", "/v1/log/inclusion"), ("status", "200")) in samples
