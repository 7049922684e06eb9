"""Helpers for devnet tests: raw JSON-RPC, waiting on heads, forging blocks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rlp
from eth.abc import BlockAPI
from eth.consensus.clique._utils import sign_block_header
from eth.consensus.clique.constants import SIGNATURE_LENGTH
from eth_keys import keys

from devnet.admin import admin_call
from devnet.genesis import EXTRA_VANITY, Genesis, chain_class
from devnet.network import NetworkLayout
from devnet.peerauth import PeerIdentity


def rpc_raw(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST `body`; (HTTP status, decoded JSON or None)."""
    request = urllib.request.Request(
        url, body, {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).encode()
    status, answer = rpc_raw(url, body)
    assert status == 200, answer
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def rpc_error(url: str, method: str, *params: Any) -> dict[str, Any]:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).encode()
    status, answer = rpc_raw(url, body)
    assert status == 200 and "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def block_number(url: str) -> int:
    return int(rpc(url, "eth_blockNumber"), 16)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, RuntimeError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def canonical_hash(url: str, number: int) -> str | None:
    block = rpc(url, "eth_getBlockByNumber", hex(number), False)
    return None if block is None else str(block["hash"])


def wait_for_common_block(urls: list[str], minimum: int, timeout: float) -> int:
    """Wait until every node has a block >= minimum and they agree on it; return its number."""
    agreed: list[int] = []

    def agree() -> bool:
        number = min(block_number(u) for u in urls)
        if number < minimum:
            return False
        hashes = {canonical_hash(u, number) for u in urls}
        if len(hashes) == 1:
            agreed.append(number)
            return True
        return False

    wait_until(agree, timeout, f"all nodes to agree on a block >= {minimum}")
    return agreed[-1]


def admin(layout: NetworkLayout, index: int, method: str, *params: Any) -> Any:
    """A call on node `index`'s admin socket."""
    return admin_call(layout.node_dir(index), method, *params)


def peer_answer(
    layout: NetworkLayout,
    target: int,
    method: str,
    *params: Any,
    key: keys.PrivateKey | None = None,
) -> tuple[int, Any]:
    """(HTTP status, answer) of a peer-plane call on node `target`, signed with `key`
    (default: the first validator's key: an allowed peer of every node)."""
    if key is None:
        signer = next(n.index for n in layout.nodes if n.address)
        key = keys.PrivateKey(bytes(layout.validator_key(signer).key))
    genesis = read_genesis(layout.root)
    identity = PeerIdentity(key, genesis.block_hash(), "")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    return rpc_raw(layout.node(target).peer_url, body.encode(), identity.sign(body.encode()))


def peer_rpc(layout: NetworkLayout, target: int, method: str, *params: Any) -> Any:
    status, answer = peer_answer(layout, target, method, *params)
    assert status == 200 and "result" in answer, answer
    return answer["result"]


def fetch_block(layout: NetworkLayout, number: int, target: int = 0) -> BlockAPI:
    """Block `number` as node `target` holds it, fetched over the peer plane."""
    genesis = read_genesis(layout.root)
    (raw,) = peer_rpc(layout, target, "devnet_getBlocks", number, 1)
    block_class = chain_class(genesis).get_vm_class_for_block_number(1).get_block_class()
    block: BlockAPI = rlp.decode(bytes.fromhex(raw[2:]), sedes=block_class)
    return block


def forge_child(
    parent: BlockAPI, genesis: Genesis, key: keys.PrivateKey, difficulty: int, **header_changes: Any
) -> str:
    """An empty child of `parent` sealed by `key`, as RLP hex; `header_changes` corrupt it."""
    vm_class = chain_class(genesis).get_vm_class_for_block_number(parent.number + 1)
    header = vm_class.create_header_from_parent(
        parent.header,
        timestamp=max(parent.header.timestamp + genesis.period, int(time.time())),
        difficulty=difficulty,
        extra_data=EXTRA_VANITY + b"\0" * SIGNATURE_LENGTH,
        nonce=b"\0" * 8,
        gas_limit=parent.header.gas_limit,
    ).copy(**header_changes)
    block = vm_class.get_block_class()(sign_block_header(header, key), transactions=[], uncles=[])
    return "0x" + rlp.encode(block).hex()


def read_genesis(root: Path) -> Genesis:
    return Genesis.load(root / "genesis.json")
