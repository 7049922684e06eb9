"""Read-only proof workers: GET /v1/log/inclusion answered from the node's published tiles.

The node's own proof route runs in the node's one process (LevelDB admits one). These workers
are separate processes (`notary tiles proofs`, uvicorn with `--workers`), each holding the
published log in memory (`node.published_log`), so proof serving scales with cores. They
answer only for tree sizes up to the newest checkpoint the node has signed (an anchored head);
the node's route also serves the unanchored tail. Same 200 body as the node's route; errors are
RFC 9457 problem+json naming the field. Plain ASGI: nothing but this path and /healthz.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from node.api import PROBLEM_BASE
from node.published_log import PublishedLog, PublishedLogError
from protocol.checkpoint import NoteVerifier, parse_verifier_key
from protocol.leaf import MAX_UINT64

log = logging.getLogger("node.proof_server")

PATH: Final = "/v1/log/inclusion"
_HEX32 = re.compile(r"[0-9a-fA-F]{64}")
_SIZE = re.compile(r"[1-9][0-9]{0,19}")


class ProblemError(Exception):
    def __init__(self, status: int, problem: str, title: str, detail: str, field: str | None):
        super().__init__(detail)
        self.status, self.problem, self.title, self.detail, self.field = (
            status,
            problem,
            title,
            detail,
            field,
        )


class ProofApp:
    def __init__(self, published: PublishedLog) -> None:
        self.published = published

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        try:
            if path not in (PATH, "/healthz"):
                raise ProblemError(404, "not-found", "Not found", f"no route {path}", None)
            if scope["method"] not in ("GET", "HEAD"):
                raise ProblemError(
                    405, "method-not-allowed", "Method not allowed", "GET only", None
                )
            self._refresh()
            if path == "/healthz":
                body = {"status": "ok", "tree_size": self.published.size}
            else:
                body = self.answer(scope.get("query_string", b""))
        except ProblemError as problem:
            await _send(send, problem.status, _problem_body(problem, path), problem=True)
            return
        await _send(send, 200, body)

    def _refresh(self) -> None:
        try:
            self.published.refresh()
        except PublishedLogError as error:  # the previous checkpoint stays in service
            log.error("newer checkpoint refused: %s", error)

    def answer(self, query: bytes) -> dict[str, Any]:
        """The node route's 200 body, or a ProblemError naming the field."""
        try:
            pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise ProblemError(
                422, "invalid-request", "Invalid request", "bad query", None
            ) from None
        params: dict[str, list[str]] = {}
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        leaf_text = _one(params, "leaf_hash")
        size_text = _one(params, "tree_size")
        if not _HEX32.fullmatch(leaf_text):
            raise _invalid("leaf_hash", "must be 64 hexadecimal digits (a SHA-256 hash)")
        if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_UINT64:
            raise _invalid("tree_size", f"must be an integer from 1 to {MAX_UINT64}")
        tree_size = int(size_text)
        published = self.published.size
        index = self.published.index_of(bytes.fromhex(leaf_text))
        if index is None:
            raise ProblemError(
                404,
                "not-found",
                "Not found",
                f"no entry with this leaf hash in the published log (size {published})",
                "leaf_hash",
            )
        if not index < tree_size <= published:
            raise _invalid(
                "tree_size",
                f"tree_size must be in ({index}, {published}] (the newest published checkpoint)",
            )
        return {
            "leaf_index": index,
            "tree_size": tree_size,
            "path": [p.hex() for p in self.published.inclusion_proof(index, tree_size)],
        }

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.published.refresh(force=True)
                except PublishedLogError as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                log.info("serving proofs up to tree size %d", self.published.size)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    if len(values) != 1:
        raise _invalid(name, "required, exactly once")
    return values[0]


def _invalid(field: str, detail: str) -> ProblemError:
    return ProblemError(422, "invalid-request", "Invalid request", f"{field}: {detail}", field)


def _problem_body(problem: ProblemError, instance: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.problem,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.field is not None:
        body["field"] = problem.field
    return body


async def _send(send: Send, status: int, body: dict[str, Any], *, problem: bool = False) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    kind = b"application/problem+json" if problem else b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


# ------------------------------------------------------------------ uvicorn factory

ENV_TILES: Final = "NOTARY_PROOFS_TILES_DIR"
ENV_KEY: Final = "NOTARY_PROOFS_VERIFIER_KEY"


def app_from_environment() -> ProofApp:
    """The app for `uvicorn --factory` in each worker: tiles dir and verifier key from the
    environment `notary tiles proofs` sets (uvicorn's workers are spawned processes)."""
    verifier: NoteVerifier = parse_verifier_key(os.environ[ENV_KEY])
    return ProofApp(PublishedLog(Path(os.environ[ENV_TILES]), verifier))
