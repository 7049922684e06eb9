"""HTTP for a devnet node's three planes, on uvicorn: the public JSON-RPC (browsers may call
it), the peer plane (signed requests from known nodes only) and the admin plane (a unix
socket: no browser can reach it).

Every plane assumes a hostile caller: bounded worker threads (py-evm work never runs on the
event loop), a cap on connections per client address, a deadline for each request to
arrive, body limits before anything is parsed, and per-client limits on expensive calls.
Every failure is a JSON-RPC error object, never an HTML page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from devnet.rpc import Api, RpcError

log = logging.getLogger("devnet.server")
MAX_BATCH = 1000
BATCH_SECONDS = 10.0  # a batch's requests are answered "timed out" once this is spent
REQUEST_DEADLINE_SECONDS = 10.0  # a request must arrive whole within this
IDLE_SECONDS = 5  # keep-alive connections without a request are closed after this
CONNECTIONS_PER_CLIENT = 128
BACKLOG = 1024
# eth_call and friends cost CPU in proportion to what the caller asks; each client address
# may run this many at once, and all clients together leave workers free for cheap reads.
EXPENSIVE_METHODS = frozenset({
    "eth_call", "eth_estimateGas", "eth_createAccessList", "eth_getLogs", "eth_getFilterLogs",
    "eth_feeHistory", "eth_getBlockReceipts", "eth_getProof", "eth_getStorageValues",
    "debug_getRawReceipts", "clique_status",
})  # fmt: skip
EXPENSIVE_PER_CLIENT = 2

Authenticator = Callable[[dict[str, str], bytes], str]


@dataclass
class Plane:
    """What one listener serves and how it lets callers in."""

    name: str
    methods: frozenset[str]
    workers: int
    max_body_bytes: int
    cors: bool = False
    allowed_hosts: frozenset[str] | None = None  # None: any Host header (unix socket, peers)
    authenticate: Authenticator | None = None  # raises on refusal, returns the caller's name
    expensive: ExpensiveCalls = field(init=False)

    def __post_init__(self) -> None:
        self.expensive = ExpensiveCalls(EXPENSIVE_PER_CLIENT, max(1, self.workers - 2))


class ExpensiveCalls:
    """Non-blocking slots for expensive methods, per client and in total: a caller over its
    share gets an error at once instead of occupying a worker."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client, self.total = per_client, total
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        with self._lock:
            if self._running[client] >= self.per_client or self._running.total() >= self.total:
                raise RpcError(RpcError.LIMIT, "too many concurrent expensive calls; retry shortly")
            self._running[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[client] -= 1
                if self._running[client] <= 0:
                    del self._running[client]


def handle_payload(api: Api, body: bytes, plane: Plane, client: str = "local") -> Any:
    """The JSON-RPC answer for a raw request body (None when only notifications came)."""
    try:
        payload = json.loads(body, parse_constant=_no_constant)
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
        return _handle_batch(api, payload, plane, client)
    return _handle_one(api, payload, plane, client)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; echoed in an id they would make the answer invalid."""
    raise ValueError(f"{name} is not JSON")


def _handle_batch(api: Api, requests: list[Any], plane: Plane, client: str) -> Any:
    """Each request in turn, within BATCH_SECONDS: a batch of calls that each run into their
    own deadline would otherwise hold a worker (and the caller) for minutes. Requests still
    waiting when the time is up are answered "request timed out", as geth answers them."""
    deadline = time.monotonic() + BATCH_SECONDS
    answers = []
    for request in requests:
        if time.monotonic() < deadline:
            answer = _handle_one(api, request, plane, client)
        else:
            answer = _timed_out(request)
        if answer is not None:
            answers.append(answer)
    return answers or None


def _timed_out(request: Any) -> dict[str, Any] | None:
    if isinstance(request, dict) and "id" not in request:
        return None  # a notification gets no answer, in time or not
    request_id = _valid_id(request) if isinstance(request, dict) else None
    return _error(request_id, RpcError(RpcError.TIMEOUT, "request timed out"))


def _valid_id(request: dict[str, Any]) -> Any:
    """The request's id when it is one JSON-RPC allows (a string, a number or null), else None."""
    request_id = request.get("id")
    if request_id is None or isinstance(request_id, str):
        return request_id
    if isinstance(request_id, float):  # 1e999 reads as inf, which JSON cannot write back
        return request_id if math.isfinite(request_id) else None
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return request_id
    return None


def _handle_one(api: Api, request: Any, plane: Plane, client: str) -> dict[str, Any] | None:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or "method" not in request:
        request_id = _valid_id(request) if isinstance(request, dict) else None
        return _error(request_id, RpcError(RpcError.INVALID_REQUEST, "invalid request"))
    request_id, method = request.get("id"), request["method"]
    if _valid_id(request) != request_id:
        message = "invalid request: id must be a string, a number or null"
        return _error(None, RpcError(RpcError.INVALID_REQUEST, message))
    try:
        if not isinstance(method, str) or method not in plane.methods:
            raise RpcError(
                RpcError.METHOD_NOT_FOUND, f"the method {method} does not exist/is not available"
            )
        if method in EXPENSIVE_METHODS:
            with plane.expensive.slot(client):
                result = api.call(method, request.get("params"))
        else:
            result = api.call(method, request.get("params"))
    except RpcError as error:
        return _error(request_id, error)
    except Exception:
        log.exception("internal error in %s", method)
        return _error(request_id, RpcError(RpcError.INTERNAL, "internal error"))
    if "id" not in request:
        return None  # a notification
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.as_json()}


class RefusedLog:
    """Logs refused callers with their reason, at most once a second per reason, so a flood
    of bad requests cannot flood the log."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def refused(self, plane: str, client: str, reason: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, 0.0) >= 1.0:
            self._last[reason] = now
            log.warning("%s plane refused %s: %s", plane, client, reason)


class JsonRpcApp:
    """The ASGI application of one plane."""

    def __init__(self, api: Api, plane: Plane) -> None:
        self.api = api
        self.plane = plane
        self.executor = ThreadPoolExecutor(plane.workers, thread_name_prefix=f"rpc-{plane.name}")
        self.refusals = RefusedLog()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: PLR0911
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope["client"][0] if scope.get("client") else "local"
        reply = _Reply(send, cors=self.plane.cors)
        hosts = self.plane.allowed_hosts
        if hosts is not None and "*" not in hosts and host_name(headers.get("host")) not in hosts:
            self.refusals.refused(self.plane.name, client, "Host header not allowed")
            message = "Host header not allowed (the node's operator can add it with --rpc-host)"
            await reply.error(403, RpcError.INVALID_REQUEST, message)
            return
        if scope["method"] == "OPTIONS" and self.plane.cors:
            await reply.preflight()
            return
        if scope["method"] != "POST":
            await reply.error(405, RpcError.INVALID_REQUEST, "JSON-RPC needs POST")
            return
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            await reply.error(
                415, RpcError.INVALID_REQUEST, "Content-Type must be application/json"
            )
            return
        body = await self._read_body(headers, receive)
        if body is None:
            limit = self.plane.max_body_bytes
            self.refusals.refused(self.plane.name, client, f"body over {limit} bytes")
            await reply.error(413, RpcError.INVALID_REQUEST, "request too large")
            return
        if self.plane.authenticate is not None:
            try:
                client = self.plane.authenticate(headers, body)
            except Exception as error:  # PeerAuthError and anything a forged header provokes
                self.refusals.refused(self.plane.name, client, str(error))
                await reply.error(403, -32001, f"peer refused: {error}")
                return
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(
            self.executor, handle_payload, self.api, body, self.plane, client
        )
        await reply.json(200, answer)

    async def _read_body(self, headers: dict[str, str], receive: Any) -> bytes | None:
        """The body, or None when it is over the limit. A moderately oversized body is read
        and dropped so the client sees the 413 rather than a broken pipe."""
        limit = self.plane.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > 2 * limit:
            return None
        chunks, size, message = [], 0, {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            size += len(message.get("body", b""))
            if size <= limit:
                chunks.append(message.get("body", b""))
            elif size > 2 * limit:
                return None
        return None if size > limit else b"".join(chunks)


class _Reply:
    def __init__(self, send: Any, cors: bool) -> None:
        self.send = send
        self.cors = cors

    async def json(
        self, status: int, answer: Any, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        body = b"" if answer is None else json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json"), *(extra or [])]
        await self._send(status, headers, body)

    async def error(self, status: int, code: int, message: str) -> None:
        extra = [(b"allow", b"POST, OPTIONS" if self.cors else b"POST")] if status == 405 else []
        await self.json(status, _error(None, RpcError(code, message)), extra)

    async def preflight(self) -> None:
        headers = [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", b"Content-Type"),
            (b"access-control-max-age", b"600"),
        ]
        await self._send(204, headers, b"")

    async def _send(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self.cors:
            headers = [*headers, (b"access-control-allow-origin", b"*")]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def host_name(host_header: str | None) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-case."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guarded_protocol(per_client: int, deadline: float, max_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol with what it leaves out for exposed ports: a connection cap per
    client address, and a deadline for each request to arrive whole (slow or half-sent
    requests are closed; uvicorn itself only times out idle keep-alive connections)."""
    open_per_client: Counter[str] = Counter()

    class GuardedProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _received = 0
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            key = self.client[0] if self.client else "local"
            open_per_client[key] += 1
            self._counted = key
            if open_per_client[key] > per_client:
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._timer is None:
                self._arm()
            self._received += len(data)
            if self._received > max_bytes:
                self.transport.close()
                return
            super().data_received(data)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                open_per_client[self._counted] -= 1
                if open_per_client[self._counted] <= 0:
                    del open_per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._received = 0
            self._timer = self.loop.call_later(deadline, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol


def tcp_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every keep-alive request waits ~40 ms on delayed ACKs (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def unix_listener(path: Path) -> socket.socket:
    """A unix socket only this user can open (mode 0600)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def raise_open_file_limit() -> None:
    """Connections are file descriptors: allow as many as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, 1 << 20), hard))


class PlaneServers:
    """Runs each (app, socket) under uvicorn on one event loop in a background thread."""

    def __init__(self, listeners: list[tuple[JsonRpcApp, socket.socket]]) -> None:
        self.listeners = listeners
        self.servers: list[uvicorn.Server] = []
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def start(self) -> None:
        raise_open_file_limit()
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # no start lines per plane
        for app, _ in self.listeners:
            max_bytes = 2 * app.plane.max_body_bytes + 64 * 1024
            config = uvicorn.Config(
                app,
                http=guarded_protocol(CONNECTIONS_PER_CLIENT, REQUEST_DEADLINE_SECONDS, max_bytes),
                lifespan="off",
                backlog=BACKLOG,
                timeout_keep_alive=IDLE_SECONDS,
                limit_concurrency=8192,
                access_log=False,
                log_config=None,
                proxy_headers=False,  # client addresses key the per-client limits
                server_header=False,
                date_header=False,
            )
            self.servers.append(uvicorn.Server(config))
        self._thread.start()

    def _run(self) -> None:
        async def serve_all() -> None:
            await asyncio.gather(
                *(
                    s.serve(sockets=[sock])
                    for s, (_, sock) in zip(self.servers, self.listeners, strict=True)
                )
            )

        asyncio.run(serve_all())

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self._thread.join(timeout=10)
        for app, sock in self.listeners:
            if sock.family == socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    os.unlink(sock.getsockname())
            # In-flight calls finish first (an eth_call within its deadline): the store is
            # closed next, and LevelDB must not be closed under a running read.
            app.executor.shutdown(wait=True, cancel_futures=True)
            sock.close()
