"""Stand-ins on 127.0.0.1 for what the vectors' verifier talks to: a JSON-RPC endpoint answering
from chain.json, and an issuing node answering revocation buckets (docs/PROTOCOL.md 6).

The page tests (Chromium) and the offline Python tests share them, so both verifiers meet the
same answers. Each server allows CORS, as the real ones do for browsers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from web3 import Web3

from protocol.bundle import RevocationSection
from verifier.chain import PREFIX_PATTERN, revocation_bucket_json

HEAD_ANCHORED = "HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)"


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
            topic = "0x" + bytes(Web3.keccak(text=HEAD_ANCHORED)).hex()
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


@contextmanager
def recorded_chain(chain: dict[str, Any]) -> Iterator[str]:
    """A JSON-RPC endpoint on 127.0.0.1 answering from chain.json; yields its URL."""
    handler = type("Handler", (_RecordedRpc,), {"chain": chain})
    with _serving(handler) as url:
        yield url


@dataclass
class RecordedNode:
    """An issuing node's revocation endpoint: ``GET /v1/revocations/{prefix}``.

    It answers each prefix with the sections in `revocations` whose revoked leaf hash starts
    with it, unless `answers` holds a canned (status, body) for that exact path (a lying or
    broken node). Every path asked is kept in `requests`.
    """

    revocations: list[RevocationSection] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str) -> tuple[int, bytes]:
        if path in self.answers:
            return self.answers[path]
        prefix = path.removeprefix("/v1/revocations/")
        if not path.startswith("/v1/revocations/") or not PREFIX_PATTERN.fullmatch(prefix):
            return 404, b'{"type": "about:blank", "status": 404}'
        sections = [
            s for s in self.revocations if s.entry.revoked_leaf_hash.hex().startswith(prefix)
        ]
        return 200, json.dumps(revocation_bucket_json(prefix, sections)).encode()

    def serve(self, path: str, payload: Any, code: int = 200) -> None:
        """Answer `path` with `payload` (JSON-encoded unless bytes) from now on."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.answers[path] = (code, body)


@contextmanager
def recorded_node(revocations: Iterable[RevocationSection] = ()) -> Iterator[RecordedNode]:
    """A RecordedNode listening on 127.0.0.1; its `url` is the node's base URL."""
    state = RecordedNode(list(revocations))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            code, body = state.answer(self.path)
            self.send_response(code)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        state.url = url
        yield state


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
