"""JSON-RPC 2.0 over HTTP (single and batch requests) on a threaded standard-library server.
Every failure becomes a JSON-RPC error object, never an HTML page or a dropped connection.

Browsers may call it from any origin (CORS, as anvil and geth --http.corsdomain '*' do): the
verification page (verifier/web) reads the registry from the clerk's browser. The API holds
no secrets (no unlocked accounts), so a foreign page learns nothing it could not ask itself."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devnet.rpc import Api, RpcError

log = logging.getLogger("devnet.server")
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_BATCH = 1000
DRAIN_LIMIT_BYTES = 32 * 1024 * 1024


def handle_payload(api: Api, body: bytes) -> Any:
    """The JSON-RPC answer for a raw request body (None when only notifications came)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(None, RpcError(RpcError.PARSE, "parse error"))
    except RecursionError:
        return _error(None, RpcError(RpcError.PARSE, "parse error: nested too deeply"))
    if isinstance(payload, list):
        if not payload:
            return _error(None, RpcError(RpcError.INVALID_REQUEST, "empty batch"))
        if len(payload) > MAX_BATCH:
            return _error(
                None, RpcError(RpcError.INVALID_REQUEST, f"batch too large (max {MAX_BATCH})")
            )
        answers = [a for a in (_handle_one(api, r) for r in payload) if a is not None]
        return answers or None
    return _handle_one(api, payload)


def _handle_one(api: Api, request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or "method" not in request:
        request_id = request.get("id") if isinstance(request, dict) else None
        return _error(request_id, RpcError(RpcError.INVALID_REQUEST, "invalid request"))
    request_id = request.get("id")
    try:
        result = api.call(request["method"], request.get("params"))
    except RpcError as error:
        return _error(request_id, error)
    except Exception:
        log.exception("internal error in %s", request.get("method"))
        return _error(request_id, RpcError(RpcError.INTERNAL, "internal error"))
    if "id" not in request:
        return None  # a notification
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.as_json()}


class RpcServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        super().__init__(address, _Handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    server: RpcServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self._reply(
                411, _error(None, RpcError(RpcError.INVALID_REQUEST, "Content-Length required"))
            )
            return
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            # Read (and drop) a moderately oversized body so the client sees the answer
            # rather than a broken pipe; a huge one just gets the connection closed.
            if length <= DRAIN_LIMIT_BYTES:
                while length > 0:
                    length -= len(self.rfile.read(min(length, 1 << 16))) or length
            self._reply(413, _error(None, RpcError(RpcError.INVALID_REQUEST, "request too large")))
            self.close_connection = True
            return
        answer = handle_payload(self.server.api, self.rfile.read(length))
        self._reply(200, answer)

    def do_GET(self) -> None:
        self._reply(405, _error(None, RpcError(RpcError.INVALID_REQUEST, "JSON-RPC needs POST")))

    def do_OPTIONS(self) -> None:
        """CORS preflight: a browser asks before POSTing application/json."""
        self.send_response(204)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(self, status: int, answer: Any) -> None:
        body = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _cors_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
