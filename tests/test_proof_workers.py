"""Read-only proof workers: proofs from the published tiles equal the store's, only up to the
signed checkpoint, a newer checkpoint is taken up only once its tiles hash to its root, and
`notary tiles proofs` serves them from worker processes with problem+json errors."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from devnet.ports import free_port
from node.proof_server import ProofApp
from node.published_log import PublishedLog, PublishedLogError
from node.store import LogStore, NewEntry
from node.tiles import TileWriter
from protocol.checkpoint import NoteSigner
from protocol.merkle import hash_leaf
from protocol.tiles import tile_path
from tests.node_harness import REPO
from tests.test_node_store import sidecar

ORIGIN = "notary.example/131016"
SIZES = (300, 70, 513)  # published one after another: sizes 300, 375, 893


def _append(store: LogStore, count: int, rng: random.Random) -> None:
    start = store.size
    store.append(
        [
            NewEntry(rng.randbytes(40), sidecar(f"r{start + i}"), f"r{start + i}")
            for i in range(count)
        ]
    )


def _publish(store: LogStore, writer: TileWriter) -> None:
    assert writer.publish(store.size, store.root(store.size))


def _leaf_hash(store: LogStore, index: int) -> bytes:
    entry = store.entry(index)
    assert entry is not None
    return hash_leaf(entry.leaf)


@pytest.fixture
def published(tmp_path: Path) -> tuple[LogStore, TileWriter, NoteSigner]:
    store = LogStore(tmp_path / "log")
    signer = NoteSigner.generate(ORIGIN)
    return store, TileWriter(store, tmp_path / "tiles", signer), signer


def test_proofs_equal_the_stores_up_to_each_checkpoint(
    published: tuple[LogStore, TileWriter, NoteSigner], tmp_path: Path
) -> None:
    store, writer, signer = published
    rng = random.Random(16)
    log = PublishedLog(tmp_path / "tiles", signer.verifier, recheck_seconds=0)
    log.refresh()
    assert log.size == 0  # nothing published yet: nothing answered
    try:
        for count in SIZES:
            _append(store, count, rng)
            _publish(store, writer)
            _append(store, 5, rng)  # appended, not published: never answered for
            log.refresh()
            assert log.size == store.size - 5
            for _ in range(60):
                size = rng.randint(1, log.size)
                index = rng.randrange(size)
                assert log.index_of(_leaf_hash(store, index)) == index
                assert log.inclusion_proof(index, size) == store.inclusion_proof(index, size)
            assert log.index_of(_leaf_hash(store, store.size - 1)) is None
            with pytest.raises(ValueError, match="beyond the published"):
                log.inclusion_proof(0, store.size)
    finally:
        store.close()


def test_a_checkpoint_whose_tiles_do_not_match_is_refused(
    published: tuple[LogStore, TileWriter, NoteSigner], tmp_path: Path
) -> None:
    store, writer, signer = published
    rng = random.Random(17)
    tiles = tmp_path / "tiles"
    try:
        _append(store, 300, rng)
        _publish(store, writer)
        log = PublishedLog(tiles, signer.verifier, recheck_seconds=0)
        log.refresh()
        good = log.inclusion_proof(7, 300)
        _append(store, 100, rng)
        _publish(store, writer)
        partial = tiles / tile_path(0, 1, 400 - 256)
        data = bytearray(partial.read_bytes())
        data[(350 - 256) * 32] ^= 1  # leaf 350: new since the last checkpoint
        partial.write_bytes(bytes(data))
        with pytest.raises(PublishedLogError, match="do not hash to the checkpoint"):
            log.refresh()
        assert log.size == 300 and log.inclusion_proof(7, 300) == good  # the old one serves
        other = PublishedLog(tiles, NoteSigner.generate(ORIGIN).verifier)
        with pytest.raises(PublishedLogError):
            other.refresh()  # a key that did not sign it
        assert other.size == 0
    finally:
        store.close()


def _call(app: ProofApp, path: str, query: str = "") -> tuple[int, str, dict[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode()}
    asyncio.run(app(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers[b"content-type"].decode(), json.loads(sent[1]["body"])


def test_the_app_answers_as_the_nodes_route_and_names_fields(
    published: tuple[LogStore, TileWriter, NoteSigner], tmp_path: Path
) -> None:
    store, writer, signer = published
    rng = random.Random(18)
    try:
        _append(store, 300, rng)
        _publish(store, writer)
        _append(store, 10, rng)
        app = ProofApp(PublishedLog(tmp_path / "tiles", signer.verifier, recheck_seconds=0))
        leaf = _leaf_hash(store, 42).hex()
        status, kind, body = _call(app, "/v1/log/inclusion", f"leaf_hash={leaf}&tree_size=300")
        assert (status, kind) == (200, "application/json")
        assert body == {
            "leaf_index": 42,
            "tree_size": 300,
            "path": [p.hex() for p in store.inclusion_proof(42, 300)],
        }
        unpublished = _leaf_hash(store, 305).hex()
        for query, status, field in [
            (f"leaf_hash={leaf}&tree_size=301", 422, "tree_size"),  # beyond the checkpoint
            (f"leaf_hash={leaf}&tree_size=42", 422, "tree_size"),
            (f"leaf_hash={leaf}&tree_size=0", 422, "tree_size"),
            (f"leaf_hash={leaf}", 422, "tree_size"),
            (f"leaf_hash={leaf}&tree_size=3&tree_size=4", 422, "tree_size"),
            ("leaf_hash=zz&tree_size=3", 422, "leaf_hash"),
            (f"leaf_hash={unpublished}&tree_size=300", 404, "leaf_hash"),
            (f"leaf_hash={'00' * 32}&tree_size=300", 404, "leaf_hash"),
        ]:
            got = _call(app, "/v1/log/inclusion", query)
            assert got[:2] == (status, "application/problem+json"), query
            assert got[2]["field"] == field and got[2]["status"] == status, query
        assert _call(app, "/v1/entries")[0] == 404
        assert _call(app, "/healthz")[2] == {"status": "ok", "tree_size": 300}
    finally:
        store.close()


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_notary_tiles_proofs_serves_from_worker_processes(
    published: tuple[LogStore, TileWriter, NoteSigner], tmp_path: Path
) -> None:
    store, writer, signer = published
    rng = random.Random(19)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _append(store, 600, rng)
    _publish(store, writer)
    command = [
        sys.executable, "-m", "node.cli", "tiles", "proofs", "--tiles-dir", str(tmp_path / "tiles"),
        "--verifier-key", str(signer.verifier), "--port", str(port), "--workers", "2",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO)
    try:
        for _ in range(300):  # up to 30 s for two spawned workers to load
            try:
                if _get(base + "/healthz")[1]["tree_size"] == 600:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        leaf = _leaf_hash(store, 599).hex()
        status, body = _get(f"{base}/v1/log/inclusion?leaf_hash={leaf}&tree_size=600")
        assert status == 200 and body["path"] == [p.hex() for p in store.inclusion_proof(599, 600)]
        # A new checkpoint is taken up by every worker (each checks the file on its own).
        _append(store, 100, rng)
        _publish(store, writer)
        leaf = _leaf_hash(store, 650).hex()
        seen = set()
        for _ in range(300):
            status, body = _get(f"{base}/v1/log/inclusion?leaf_hash={leaf}&tree_size=700")
            seen.add(status)
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200 and seen <= {404, 200}
        assert body["path"] == [p.hex() for p in store.inclusion_proof(650, 700)]
    finally:
        server.terminate()
        server.wait(timeout=20)
        store.close()
