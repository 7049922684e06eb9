"""GET /v1/log/inclusion answered in plain ASGI when the request is well formed.

A proof costs the store ~50 µs; FastAPI's routing, query validation, dependency resolution and
response encoding cost several times that, and proof serving runs on one core (LevelDB admits
one process). This answers the common case, a valid leaf hash and tree size for a stored leaf,
with the same bytes and headers the route would send. Anything else (a malformed or repeated
parameter, an unknown leaf, a size out of range) goes on to the FastAPI route, which gives the
problem+json answer naming the field: one place decides every error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from protocol.leaf import MAX_UINT64

PATH = "/v1/log/inclusion"
_HEX32 = re.compile(r"[0-9a-fA-F]{64}")
_SIZE = re.compile(r"[1-9][0-9]{0,19}")
_HEADERS = [(b"content-type", b"application/json")]


class InclusionFastPath:
    def __init__(
        self,
        app: ASGIApp,
        index_of: Callable[[bytes], int | None],
        log_size: Callable[[], int],
        inclusion_proof: Callable[[int, int], list[bytes]],
        route: Callable[[], object | None],
    ) -> None:
        self.app = app
        self.index_of = index_of
        self.log_size = log_size
        self.inclusion_proof = inclusion_proof
        # The route this stands in for (None: the app has no such route, so neither does
        # this); also the request metrics' route label, as the router would set it.
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            route = self.route()
            body = None if route is None else self._answer(scope.get("query_string", b""))
            if body is not None:
                scope["route"] = route
                headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, query: bytes) -> bytes | None:
        """The route's 200 body for this query, or None to let the route decide."""
        try:
            pairs = parse_qsl(query.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        params = dict(pairs)
        if len(pairs) != 2 or params.keys() != {"leaf_hash", "tree_size"}:
            return None
        leaf_hash, size_text = params["leaf_hash"], params["tree_size"]
        if not _HEX32.fullmatch(leaf_hash) or not _SIZE.fullmatch(size_text):
            return None
        tree_size = int(size_text)
        if tree_size > MAX_UINT64:
            return None
        index = self.index_of(bytes.fromhex(leaf_hash))
        if index is None or not index < tree_size <= self.log_size():
            return None
        answer = {
            "leaf_index": index,
            "tree_size": tree_size,
            "path": [p.hex() for p in self.inclusion_proof(index, tree_size)],
        }
        # As Starlette's JSONResponse renders it.
        return json.dumps(
            answer, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode()
