"""Heads anchored by a relayer (`anchorMany`): the verifier and the audit accept them exactly
as heads a node anchored itself, on both engines; signed heads travel as JSON."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor import RegistryClient, SignedHead, head_signer, sign_head
from audit.registry import RegistryEventReader, RegistryReplay
from devtools.testca import TestHierarchy
from node.relay import RelayQueue, RelayRefusedError
from tests.chains import ChainEndpoint, send_ether
from tests.jpki_fixtures import all_crls, anchors
from tests.vectors.issuer import MiniLog, Signer, anchor_section
from verifier import VerdictStatus, VerificationPolicy, Verifier
from verifier.jsonrpc import JsonRpcClient

pytest_plugins = ["tests.jpki_fixtures"]

CHIYODA, IIZUKA = 131016, 402052


# ---------------------------------------------------------------------- signed heads, offline


def test_signed_head_json_round_trip_and_signer() -> None:
    account = Account.create()
    registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    head = sign_head(
        account, chain_id=31337, registry=registry, seq=3, tree_size=9, root=b"\x07" * 32
    )
    assert head.v in (27, 28) and len(head.signature) == 65
    assert SignedHead.from_json(head.to_json()) == head
    assert head_signer(head, chain_id=31337, registry=registry) == account.address
    assert head_signer(head, chain_id=1, registry=registry) != account.address
    for bad in (
        {**head.to_json(), "seq": -1},
        {**head.to_json(), "root": "0x00"},
        {**head.to_json(), "signature": "00" * 65},
        {**head.to_json(), "extra": 1},
        {k: v for k, v in head.to_json().items() if k != "node"},
    ):
        with pytest.raises(ValueError):
            SignedHead.from_json(bad)


# ---------------------------------------------------------------------- on chain


@pytest.mark.chain
def test_bundles_of_relayed_heads_verify_and_the_replay_is_clean(
    chain: ChainEndpoint, jpki_hierarchy: TestHierarchy
) -> None:
    h = jpki_hierarchy
    w3 = chain.web3()
    governance, _ = RegistryClient.deploy(w3, chain.new_account())
    keys: dict[int, LocalAccount] = {
        code: Account.create() for code in (CHIYODA, IIZUKA)
    }  # no ether: they never send
    for code, key in keys.items():
        governance.register_node(key.address, code, f"node {code}")
    nodes = {code: RegistryClient(w3, governance.address, key) for code, key in keys.items()}
    relayer = RegistryClient(w3, governance.address, chain.new_account())

    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    logs = {code: MiniLog(code) for code in keys}
    documents = {code: f"document of {code} (TEST, synthetic)".encode() for code in keys}
    items = {
        code: logs[code].add_document(
            documents[code], signer, signing_time=h.now - timedelta(hours=1)
        )
        for code in keys
    }
    heads = {code: logs[code].head(0) for code in keys}
    signed = [nodes[c].sign_head(0, heads[c].tree_size, heads[c].root) for c in keys]
    stale = nodes[CHIYODA].sign_head(5, 1, b"\x05" * 32)  # skipped: seq 5 is not next
    result = relayer.anchor_many([*signed, stale])
    assert [ev.node for ev in result.anchored] == [k.address for k in keys.values()]
    assert [(s.seq, s.reason) for s in result.skipped] == [(5, "WrongSequence")]
    # A second relayed batch continues Chiyoda's history; then Chiyoda anchors alone.
    logs[CHIYODA].add_document(b"second (TEST)", signer, signing_time=h.now - timedelta(hours=1))
    second = logs[CHIYODA].head(1)
    relayer.anchor_many([nodes[CHIYODA].sign_head(1, second.tree_size, second.root)])
    logs[CHIYODA].add_document(b"third (TEST)", signer, signing_time=h.now - timedelta(hours=1))
    third = logs[CHIYODA].head(2)
    RegistryClient(w3, governance.address, _funded(chain, keys[CHIYODA])).anchor(
        2, third.tree_size, third.root
    )
    _wait_for_block(chain, result.tx.block_number + 3)

    policy = VerificationPolicy(
        rpc_urls=[chain.rpc_url],
        registry=governance.address,
        chain_id=chain.chain_id,
        trust_anchors=anchors(h),
        revocation=all_crls(h),
        rpc_timeout=5.0,
        require_revocation_check=False,  # anchoring under test; no issuing node here
    )
    verifier = Verifier(policy)
    for code, key in keys.items():
        section = anchor_section(
            result.tx,
            chain_id=chain.chain_id,
            registry=governance.address,
            node=key.address,
            lg_code=code,
        )
        bundle = logs[code].bundle(items[code], heads[code], section)
        verdict = verifier.verify(documents[code], bundle)
        assert verdict.ok, verdict.summary
    # The relayer's transaction does not anchor a head it skipped, nor one of another node.
    forged_head = logs[IIZUKA].head(0)
    wrong_node = anchor_section(
        result.tx,
        chain_id=chain.chain_id,
        registry=governance.address,
        node=keys[CHIYODA].address,
        lg_code=CHIYODA,
    )
    bundle = logs[IIZUKA].bundle(items[IIZUKA], forged_head, wrong_node)
    verdict = verifier.verify(documents[IIZUKA], bundle)
    assert verdict.status is VerdictStatus.INVALID, verdict.summary

    # The audit's registry replay: relayed and direct heads form one clean history.
    latest = w3.eth.block_number
    canonical = {n: "0x" + bytes(w3.eth.get_block(n)["hash"]).hex() for n in range(latest + 1)}
    replay = RegistryReplay(canonical)
    replay.run(RegistryEventReader(JsonRpcClient(chain.rpc_url), governance.address), latest)
    assert replay.findings == []
    by_code = {n.lg_code: n for n in replay.nodes.values()}
    assert [a.seq for a in by_code[f"{CHIYODA:06d}"].anchors] == [0, 1, 2]
    assert [a.tx_hash for a in by_code[f"{IIZUKA:06d}"].anchors] == [result.tx.tx_hash]


def _funded(chain: ChainEndpoint, account: LocalAccount) -> LocalAccount:
    send_ether(chain.web3(), chain.funder, account.address, 1)
    return account


def _wait_for_block(chain: ChainEndpoint, number: int, timeout: float = 30) -> None:
    w3 = chain.web3()
    deadline = time.monotonic() + timeout
    while w3.eth.block_number < number:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{chain.engine} did not reach block {number}")
        if chain.engine == "anvil":
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        else:
            time.sleep(0.2)


# ---------------------------------------------------------------------- the relayer's queue


class _Registry:
    """The one thing RelayQueue asks the registry: who signed a head (chain 31337)."""

    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

    def head_signer(self, head: SignedHead) -> str | None:
        return head_signer(head, chain_id=31337, registry=self.address)


def test_relay_queue_checks_every_head_and_batches_in_seq_order() -> None:
    listed, unlisted = Account.create(), Account.create()
    registry = _Registry()
    queue = RelayQueue(cast(RegistryClient, registry), [listed.address])

    def signed(account: LocalAccount, seq: int, chain_id: int = 31337) -> SignedHead:
        return sign_head(
            account, chain_id=chain_id, registry=registry.address, seq=seq, tree_size=seq + 1,
            root=bytes([seq + 1]) * 32,
        )  # fmt: skip

    with pytest.raises(RelayRefusedError, match="does not relay for"):
        queue.accept([signed(listed, 0), signed(unlisted, 0)])
    with pytest.raises(RelayRefusedError, match="signature"):
        queue.accept([signed(listed, 0, chain_id=1)])
    assert len(queue) == 0  # all or none
    queue.accept([signed(listed, 2), signed(listed, 1)])
    queue.accept([signed(listed, 1)])  # handed over again: one copy queued
    assert len(queue) == 2
    assert [h.seq for h in queue.take(10)] == [1, 2]
    assert queue.take(10) == []
