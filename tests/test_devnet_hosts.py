"""The validator network across hosts: each municipality's validator in its own network
namespace on its own address, peers ~50 ms apart through delay relays, partitions with
nftables. Keys are made on each host (`keygen`), the genesis from addresses (`genesis`),
each node started with `notary devnet node`, exactly as docs/OPERATOR.md tells operators."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys

from anchor import RegistryClient, connect
from devnet.admin import admin_call
from devnet.genesis import Genesis
from devnet.peerauth import PeerIdentity
from devtools.testca import TestHierarchy
from tests.devnet_helpers import rpc, rpc_raw, wait_for_common_block, wait_until
from tests.netns import Host, Network, network_of_hosts
from tests.node_harness import NodeProcess, http, provision_node, signed_entry
from tests.validator_hosts import NOTARY, PEER_PORT, RELAY_PORT, REPO, ValidatorHost, keygen

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

CHAIN_ID = 47_123
DEAD = "0x000000000000000000000000000000000000dEaD"


@dataclass
class Consortium:
    """Every network call of the test goes through `client.call`: made inside the client
    host, never from the root namespace."""

    net: Network
    validators: list[ValidatorHost]
    client: Host  # the notary node, the test's own calls
    genesis: Path
    dev: LocalAccount
    workdir: Path

    def rpc(self, validator: ValidatorHost, method: str, *params: Any) -> Any:
        return self.client.call(rpc, validator.rpc_url, method, *params)

    def head(self, validator: ValidatorHost) -> int:
        return int(self.rpc(validator, "eth_blockNumber"), 16)

    def agree(self, validators: list[ValidatorHost], minimum: int, timeout: float = 60) -> int:
        urls = [v.rpc_url for v in validators]
        return self.client.call(wait_for_common_block, urls, minimum, timeout)

    def wait(self, condition: Any, timeout: float, what: str) -> None:
        self.client.call(wait_until, condition, timeout, what)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    """Four validator hosts, a fifth host for a later joiner, and a client host."""
    workdir = tmp_path_factory.mktemp("hosts")
    with network_of_hosts(6) as net:
        hosts, client = net.hosts[:4], net.hosts[5]
        validators = []
        for index, host in enumerate(hosts):
            key_dir = workdir / f"key-{index}"
            validators.append(
                ValidatorHost(host, key_dir, workdir / f"v{index}", keygen(host, key_dir))
            )
        dev: LocalAccount = Account.create()
        genesis = workdir / "genesis.json"
        signers = [a for v in validators for a in ("--signer", v.address)]
        subprocess.run(
            [*NOTARY, "devnet", "genesis", *signers, "--fund", dev.address,
             "--chain-id", str(CHAIN_ID), "--period", "1",
             "--out", str(genesis)],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
        for validator in validators:
            validator.host.delayed_port(RELAY_PORT, PEER_PORT)
            validator.peers = [v.peer_url for v in validators if v is not validator]
        for validator in validators:
            validator.start(genesis, client)
        yield Consortium(net, validators, client, genesis, dev, workdir)


def test_four_hosts_seal_at_the_period_and_agree(consortium: Consortium) -> None:
    c, v = consortium, consortium.validators
    first = c.agree(v, 2)
    agreed = c.agree(v, first + 8)
    stamps = [
        int(c.rpc(v[0], "eth_getBlockByNumber", hex(n), False)["timestamp"], 16)
        for n in range(first, agreed + 1)
    ]
    assert all(b - a >= 1 for a, b in itertools.pairwise(stamps)), stamps
    assert (stamps[-1] - stamps[0]) / (len(stamps) - 1) <= 1.5, stamps
    assert sorted(c.rpc(v[2], "clique_getSigners")) == sorted(x.address for x in v)
    # Every peer reached through its relay, on another host.
    peers = v[0].admin("peer", "list")
    assert peers.count("  up  ") == 3, peers


def test_a_host_cut_off_catches_up_after_healing(consortium: Consortium) -> None:
    c, v = consortium, consortium.validators
    c.net.isolate(v[3].host)
    try:
        start = c.head(v[0])
        c.wait(lambda: c.head(v[0]) >= start + 5, 30, "the majority sealing without host 3")
        # Alone, host 3 seals at most once (asked on its admin socket: no network needed).
        assert int(admin_call(v[3].data, "eth_blockNumber"), 16) <= start + 2
    finally:
        c.net.heal()
    c.agree(v, c.head(v[0]), timeout=60)


def test_validator_killed_while_importing_restarts_on_the_same_head(
    consortium: Consortium,
) -> None:
    c, v = consortium, consortium.validators
    nonce = int(c.rpc(v[0], "eth_getTransactionCount", c.dev.address, "pending"), 16)
    raws = [
        c.dev.sign_transaction({
            "to": Account.create().address, "value": 1, "gas": 21_000, "nonce": nonce + i,
            "chainId": CHAIN_ID, "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9,
        }).raw_transaction
        for i in range(250)
    ]  # fmt: skip
    for raw in raws:
        c.rpc(v[0], "eth_sendRawTransaction", "0x" + bytes(raw).hex())
    time.sleep(1.5)  # blocks full of transfers are being imported on host 2
    v[2].kill()
    v[2].start(c.genesis, c.client)
    c.wait(
        lambda: (
            int(c.rpc(v[0], "eth_getTransactionCount", c.dev.address, "latest"), 16) == nonce + 250
        ),
        60,
        "every transfer mined",
    )
    c.agree(v, c.head(v[0]))


def test_even_split_converges_and_an_anchor_lost_with_the_losing_side_is_made_again_once(
    consortium: Consortium, jpki_hierarchy: TestHierarchy
) -> None:
    c, v = consortium, consortium.validators
    notary = c.client.call(
        provision_node, v[0].rpc_url, c.dev, c.workdir / "notary", jpki_hierarchy
    )
    notary.rpc_urls = [v[0].rpc_url]
    c.client.call(notary.start)
    try:
        token = notary.token("issuing-system", "submit", "read")
        _submit(c, notary, token, b"before the split")
        c.client.call(notary.wait_final)
        lost = None
        for attempt in range(4):
            lost = _split_with_anchor_on_the_losing_side(c, notary, token, attempt)
            if lost is not None:
                break
        assert lost is not None, "no attempt left the anchor on the losing side only"
        tx_hash, losing_block = lost
        head = c.client.call(notary.wait_final, 120)
        assert c.rpc(v[0], "eth_getBlockByHash", losing_block, False) is None or (
            c.rpc(v[0], "eth_getBlockByNumber", "latest", False)["hash"] != losing_block
        )
        c.agree(v, c.head(v[0]))
        seqs = c.client.call(_anchored_seqs, v[1].rpc_url, notary.registry)
        assert seqs == list(range(len(seqs))), seqs  # each head exactly once, in order
        final = head["latest_final_head"]
        assert final["seq"] == seqs[-1] and final["tree_size"] == head["tree_size"]
        canonical = c.rpc(v[3], "eth_getTransactionReceipt", tx_hash)
        assert canonical is None or canonical["blockHash"] != losing_block
    finally:
        c.net.heal()
        notary.stop()


def _anchored_seqs(rpc_url: str, registry: str) -> list[int]:
    """Seqs of every HeadAnchored event. Run it inside a host: a web3 client opens its
    connections lazily, in whichever thread uses it."""
    return [e.seq for e in RegistryClient(connect(rpc_url), registry).iter_anchored_heads()]


def _submit(c: Consortium, notary: NodeProcess, token: str, document: bytes) -> None:
    body = signed_entry(notary.hierarchy.ee_valid_gen02, document)
    answer = c.client.call(http, "POST", notary.url + "/v1/entries", body, token)
    assert answer.status == 201, answer.body


def _split_with_anchor_on_the_losing_side(
    c: Consortium, notary: NodeProcess, token: str, attempt: int
) -> tuple[str, str] | None:
    """Split 2 | 2 right after a block n so that the notary's side loses on difficulty.

    R1, R2 sealed n and n-1; P and Q, the other two, are the only ones allowed to seal n+1
    (recent-signer rule), P not in turn. {P, R1} seal n+1 out of turn and stall (+1);
    {Q, R2} seal n+1 and n+2 (at least +2). The notary's anchor, sent after the split to a
    validator of {P, R1}, lands in that one losing block (or not: None, try again)."""
    v = c.validators
    signers = sorted(c.rpc(v[0], "clique_getSigners"), key=lambda a: int(a, 16))
    for _ in range(12):  # the notary talks to v[0]: wait for a block that puts it on the
        head = c.head(v[0])  # losing side
        c.wait(lambda before=head: c.head(v[0]) > before, 10, "a new block")
        n = c.head(v[0])
        recents = c.rpc(v[0], "clique_getSnapshot", hex(n))["recents"]
        r1, r2 = recents[str(n)], recents[str(n - 1)]
        p = next(s for s in signers if s not in (r1, r2, signers[(n + 1) % 4]))
        losing = {p, r1}
        if v[0].address in losing and c.head(v[0]) == n:
            break
    else:
        return None
    losers = [x for x in v if x.address in losing]
    winners = [x for x in v if x.address not in losing]
    c.net.partition([*(x.host for x in losers), c.client], [x.host for x in winners])
    try:
        if int(admin_call(winners[0].data, "eth_blockNumber"), 16) != n:
            return None  # a block slipped in before the partition: try again
        _submit(c, notary, token, f"during split {attempt}".encode())
        # The client is cut off from the winners: ask them on their admin sockets.
        try:
            wait_until(
                lambda: int(admin_call(winners[0].data, "eth_blockNumber"), 16) >= n + 2,
                20,
                "the winning side sealing",
            )
        except AssertionError:
            # Seen once in CI on a loaded machine: the winners had not sealed their two blocks
            # within 20 s. That is this split's set-up failing, not the property under test
            # (convergence is asserted after the heal): try a fresh split.
            return None
        time.sleep(3)  # the losing side's one out-of-turn block, after its wiggle
        pending = [h for h in _heads(c, notary) if h["state"] != "final"]
        if not pending or pending[-1].get("tx_hash") is None:
            return None
        tx_hash = pending[-1]["tx_hash"]
        receipt = c.rpc(losers[0], "eth_getTransactionReceipt", tx_hash)
        if receipt is None or admin_call(winners[0].data, "eth_getTransactionReceipt", tx_hash):
            return None
        return tx_hash, receipt["blockHash"]
    finally:
        c.net.heal()


def _heads(c: Consortium, notary: NodeProcess) -> list[dict[str, Any]]:
    answer = c.client.call(http, "GET", notary.url + "/v1/log/heads?start=0&limit=100")
    return list(answer.body["heads"])


def test_hostile_callers_on_another_host_change_nothing(consortium: Consortium) -> None:
    """The review's probes from a foreign host: a vote on the public RPC, gossip signed by
    an unknown key straight to a peer plane, and gas bombs, while blocks keep coming."""
    c, v = consortium, consortium.validators
    vote = {"jsonrpc": "2.0", "id": 1, "method": "clique_propose", "params": [DEAD, True]}
    status, answer = c.client.call(rpc_raw, v[0].rpc_url, json.dumps(vote).encode())
    assert status == 200 and answer["error"]["code"] == -32601
    outsider = PeerIdentity(
        keys.PrivateKey(os.urandom(32)), Genesis.load(c.genesis).block_hash(), ""
    )
    gossip = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "devnet_head", "params": []})
    status, answer = c.client.call(
        rpc_raw, v[1].peer_url, gossip.encode(), outsider.sign(gossip.encode())
    )
    assert status == 403 and "not an allowed peer" in answer["error"]["message"]
    start = c.head(v[0])
    for _ in range(3):
        began = time.monotonic()
        bomb = {"data": "0x5b600056", "gas": hex(2**40)}  # JUMPDEST PUSH1 0 JUMP
        status, answer = c.client.call(
            rpc_raw, v[2].rpc_url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                                "params": [bomb, "latest"]}).encode()
        )  # fmt: skip
        assert "execution aborted" in answer["error"]["message"]
        assert time.monotonic() - began < 2
    c.agree(v, start + 2)
    assert DEAD not in c.rpc(v[0], "clique_getSigners")


def test_fifth_host_keygen_sync_vote_and_seal(consortium: Consortium) -> None:
    c, v = consortium, consortium.validators
    host = c.net.hosts[4]
    key_dir = c.workdir / "key-4"
    address = keygen(host, key_dir)
    for validator in v:  # it must sync before the vote: every signer lets it in
        assert "allowed" in validator.admin("peer", "allow", address)
    host.delayed_port(RELAY_PORT, PEER_PORT)
    joiner = ValidatorHost(host, key_dir, c.workdir / "v4", address, peers=[v[0].peer_url])
    joiner.start(c.genesis, c.client)
    c.agree([*v, joiner], c.head(v[0]))  # synced as a full node: not a signer yet
    assert address not in c.rpc(v[0], "clique_getSigners")
    for validator in v[:3]:  # more than half of four
        validator.admin("vote", "add", address)
    c.wait(lambda: address in c.rpc(v[0], "clique_getSigners"), 60, "the vote to pass")
    for validator in v[:3]:
        validator.admin("vote", "discard", address)
    c.wait(lambda: address in c.rpc(joiner, "clique_status")["sealerActivity"], 60, "it sealing")
    c.agree([*v, joiner], c.head(v[0]))
