"""A validator's three planes under hostile callers: votes never on the public JSON-RPC,
foreign Host headers and non-JSON bodies refused, gossip only from known peers, slow and
idle connections unable to stop sealing or RPC, gas bombs cut off."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_keys import keys

from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.peerauth import PeerIdentity
from tests.devnet_helpers import (
    admin,
    block_number,
    fetch_block,
    forge_child,
    peer_answer,
    read_genesis,
    rpc,
    rpc_raw,
    wait_until,
)

pytestmark = pytest.mark.chain
DEAD = "0x000000000000000000000000000000000000dEaD"
HALF_SENT = (
    b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{"
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkProcesses]:
    layout = init_network(tmp_path_factory.mktemp("planes") / "net", validators=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        wait_until(lambda: block_number(layout.nodes[0].rpc_url) >= 1, 30, "a first block")
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def network(running: NetworkProcesses) -> NetworkLayout:
    return running.layout


def body(method: str, *params: object) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).encode()


def test_a_vote_from_a_web_page_or_the_public_rpc_is_refused(network: NetworkLayout) -> None:
    url = network.nodes[0].rpc_url
    # What a foreign page can send without a preflight: text/plain, cross-origin.
    status, answer = rpc_raw(
        url, body("clique_propose", DEAD, True),
        {"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )  # fmt: skip
    assert status == 415 and answer["error"]["code"] == -32600
    # With a preflight the method still does not exist on the public plane.
    status, answer = rpc_raw(url, body("clique_propose", DEAD, True))
    assert status == 200 and answer["error"]["code"] == -32601
    status, answer = rpc_raw(network.nodes[0].peer_url, body("clique_propose", DEAD, True))
    assert status == 403
    assert admin(network, 0, "clique_proposals") == {}
    before = block_number(url)
    wait_until(lambda: block_number(url) >= before + 2, 10, "sealing goes on")
    assert rpc(url, "clique_getSigners") == [network.nodes[0].address]


def test_dns_rebinding_is_refused_by_the_host_check(network: NetworkLayout) -> None:
    url = network.nodes[0].rpc_url
    status, answer = rpc_raw(url, body("eth_chainId"), {"Host": "evil.example"})
    assert status == 403 and "Host" in answer["error"]["message"]
    status, answer = rpc_raw(
        url, body("eth_chainId"), {"Host": f"localhost:{network.nodes[0].rpc_port}"}
    )
    assert status == 200 and answer["result"] == rpc(url, "eth_chainId")


def test_admin_socket_is_for_the_owner_only(network: NetworkLayout) -> None:
    mode = os.stat(network.node_dir(0) / "admin.sock").st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_gossip_from_an_unknown_or_forging_peer_is_refused(network: NetworkLayout) -> None:
    outsider = keys.PrivateKey(os.urandom(32))
    account = Account.create()
    tx = account.sign_transaction({
        "to": DEAD, "value": 0, "gas": 21_000, "nonce": 0, "chainId": 47100,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
    })  # fmt: skip
    raw = "0x" + bytes(tx.raw_transaction).hex()
    status, answer = peer_answer(network, 0, "devnet_newTransactions", [raw], key=outsider)
    assert status == 403 and "not an allowed peer" in answer["error"]["message"]
    assert rpc(network.nodes[0].rpc_url, "eth_getTransactionByHash", "0x" + tx.hash.hex()) is None
    genesis = read_genesis(network.root)
    head = fetch_block(network, block_number(network.nodes[0].rpc_url))
    forged = forge_child(head, genesis, outsider, difficulty=2)
    status, answer = peer_answer(network, 0, "devnet_newBlock", forged, key=outsider)
    assert status == 403
    # Unsigned, or signed over another body: refused before anything is parsed.
    status, _ = rpc_raw(network.nodes[0].peer_url, body("devnet_head"))
    assert status == 403
    validator = keys.PrivateKey(bytes(network.validator_key(0).key))
    headers = PeerIdentity(validator, genesis.block_hash(), "").sign(body("devnet_head"))
    status, _ = rpc_raw(network.nodes[0].peer_url, body("devnet_status"), headers)
    assert status == 403
    status, answer = rpc_raw(network.nodes[0].peer_url, body("devnet_head"), headers)
    assert status == 200 and answer["result"]["number"] >= head.number


def test_idle_and_half_sent_connections_stop_neither_sealing_nor_rpc(
    running: NetworkProcesses,
) -> None:
    entry = running.layout.nodes[0]
    held: list[socket.socket] = []
    try:
        for index in range(1000):
            sock = socket.socket()
            sock.bind(("127.0.0.3", 0))  # the attacker's own address; the checker uses .1
            sock.settimeout(5)
            try:
                sock.connect(("127.0.0.1", entry.rpc_port))
            except OSError:
                sock.close()
                continue
            if index % 2:
                sock.sendall(HALF_SENT)
            held.append(sock)
        started = time.monotonic()
        before = block_number(entry.rpc_url)
        assert time.monotonic() - started < 2
        wait_until(lambda: block_number(entry.rpc_url) >= before + 2, 10, "sealing goes on")
        with open(f"/proc/{running.processes[0].pid}/status") as status:
            threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
        assert threads < 64, threads
        # Half-sent requests are cut off after the request deadline (10 s).
        wait_until(lambda: all(_closed_by_peer(s) for s in held[1:40:2]), 20, "slow ones closed")
    finally:
        for sock in held:
            sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """True once the server closed the connection without answering."""
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    assert data == b"", data  # a half-sent request gets no answer, only a close
    return True


# JUMPDEST; PUSH1 0; JUMP: init code that loops for ever (run by a call without `to`).
LOOP_FOR_EVER = "0x5b600056"


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_gas_bomb_is_cut_off_while_blocks_keep_coming(network: NetworkLayout, method: str) -> None:
    url = network.nodes[0].rpc_url
    before = block_number(url)
    for _ in range(3):
        started = time.monotonic()
        status, answer = rpc_raw(url, body(method, {"data": LOOP_FOR_EVER, "gas": hex(2**40)}))
        elapsed = time.monotonic() - started
        assert status == 200 and "execution aborted" in answer["error"]["message"], answer
        assert elapsed < 2, elapsed
    assert block_number(url) >= before + 2  # three bombs took ~3 s: the sealer kept going
    # An ordinary call still answers.
    status, answer = rpc_raw(url, body("eth_call", {"to": DEAD, "data": "0x"}))
    assert answer["result"] == "0x"


def test_operator_allows_and_disallows_a_peer(network: NetworkLayout) -> None:
    full_node = keys.PrivateKey(os.urandom(32))
    address = full_node.public_key.to_checksum_address()
    assert peer_answer(network, 0, "devnet_head", key=full_node)[0] == 403
    assert admin(network, 0, "admin_allowPeer", address) is True
    status, answer = peer_answer(network, 0, "devnet_head", key=full_node)
    assert status == 200 and "number" in answer["result"]
    saved = json.loads((network.node_dir(0) / "allowed-peers.json").read_text())
    assert saved == [address]  # kept across restarts
    assert admin(network, 0, "admin_disallowPeer", address) is True
    assert peer_answer(network, 0, "devnet_head", key=full_node)[0] == 403
