"""The JSON-RPC 2.0 shapes the benchmarks send and read (raw, over plain HTTP, so that the
client library is not what is measured)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class RpcRequest(TypedDict):
    jsonrpc: str
    id: int
    method: str
    params: list[Any]  # method-specific: addresses, block tags, call objects


class RpcError(TypedDict):
    code: int
    message: str


class RpcAnswer(TypedDict):
    jsonrpc: str
    id: int
    result: NotRequired[Any]  # method-specific; absent when `error` is present
    error: NotRequired[RpcError]


def rpc_request(method: str, *params: Any, request_id: int = 1) -> RpcRequest:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
