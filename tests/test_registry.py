"""Every rule and revert path of NotaryRegistry, driven through `anchor/` on a real engine."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from anchor import (
    AnchorError,
    BatchResult,
    NodeStatus,
    RegistryClient,
    SignedHead,
    TreeHead,
    is_valid_lg_code,
    load_registry_artifact,
    sign_head,
)
from anchor import errors as e
from anchor.registry import ANCHOR_MANY_BASE_GAS, ANCHOR_MANY_HEAD_GAS
from anchor.signing import head_typed_data
from node.anchoring import AnchorWorker
from node.metrics import Metrics
from node.models import RevocationSidecar
from node.store import LogStore, NewEntry
from protocol.signed_head import REGISTRY_NAME, REGISTRY_VERSION
from tests.chains import ChainEndpoint
from tests.conftest import DeployedRegistry

pytestmark = pytest.mark.chain
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def test_deployed_code_equals_locked_artifact(registry: DeployedRegistry) -> None:
    # No immutables: an auditor can compare on-chain code with the build byte for byte.
    artifact = load_registry_artifact()
    assert registry.governance.runtime_code() == bytes.fromhex(artifact.deployed_bytecode[2:])
    config = registry.governance.governance_config()
    assert config.members == (registry.governance.sender.address,)  # type: ignore[union-attr]
    assert (config.threshold, config.timelock, config.epoch) == (1, 0, 1)


def test_registered_node_record_and_event(registry: DeployedRegistry) -> None:
    record = registry.governance.get_node(registry.node_account.address)
    assert (record.lg_code, record.status, record.name) == (131016, NodeStatus.ACTIVE, "千代田区")
    assert (record.next_seq, record.tree_size, record.root, record.successor) == (
        0,
        0,
        bytes(32),
        None,
    )
    assert registry.governance.latest_head(registry.node_account.address) is None
    assert registry.governance.node_addresses() == [registry.node_account.address]
    events = list(registry.governance.iter_events(["NodeRegistered"]))
    assert [(ev.args["node"], ev.args["lgCode"], ev.args["name"]) for ev in events] == [
        (registry.node_account.address, 131016, "千代田区")
    ]


def test_anchor_sequence_stores_head_and_lookup(registry: DeployedRegistry) -> None:
    results = [registry.node.anchor(seq, 10 * (seq + 1), root(f"h{seq}")) for seq in range(3)]
    address = registry.node_account.address
    assert registry.node.next_seq(address) == 3
    assert registry.node.latest_head(address) == TreeHead(seq=2, tree_size=30, root=root("h2"))
    for seq, result in enumerate(results):
        record = registry.node.get_anchor(address, root(f"h{seq}"))
        assert record is not None
        assert (record.node, record.seq, record.tree_size, record.withdrawn) == (
            address,
            seq,
            10 * (seq + 1),
            False,
        )
        block = registry.chain.web3().eth.get_block(result.block_number)
        assert (record.block_number, record.timestamp) == (result.block_number, block["timestamp"])
    assert registry.node.get_anchor(address, root("never")) is None
    events = list(registry.node.iter_anchored_heads())
    assert [
        (ev.seq, ev.tree_size, ev.root, ev.previous_tree_size, ev.previous_root) for ev in events
    ] == [
        (0, 10, root("h0"), 0, bytes(32)),
        (1, 20, root("h1"), 10, root("h0")),
        (2, 30, root("h2"), 20, root("h1")),
    ]
    assert all(ev.node == address and ev.lg_code == 131016 for ev in events)
    assert [ev.tx_hash for ev in events] == [r.tx_hash for r in results]


def test_anchor_gas_is_well_under_100k(registry: DeployedRegistry) -> None:
    first = registry.node.anchor(0, 1, root("g0")).gas_used
    steady = [
        registry.node.anchor(seq, 1000 * seq, root(f"g{seq}")).gas_used for seq in range(1, 4)
    ]
    print(f"\nanchor gas on {registry.chain.engine}: first {first}, then {steady}")
    assert first < 85_000
    assert max(steady) < 65_000


def test_anchor_by_unregistered_address(registry: DeployedRegistry) -> None:
    stranger = registry.client_for(registry.chain.new_account())
    with pytest.raises(e.NodeNotRegistered) as caught:
        stranger.anchor(0, 1, root("x"))
    assert caught.value.fields["node"].lower() == stranger.sender.address.lower()  # type: ignore[union-attr]


def test_suspended_node_cannot_anchor_until_reactivated(registry: DeployedRegistry) -> None:
    address = registry.node_account.address
    registry.governance.suspend_node(address, "key audit")
    assert registry.governance.get_node(address).status is NodeStatus.SUSPENDED
    with pytest.raises(e.NodeNotActive) as caught:
        registry.node.anchor(0, 1, root("s"))
    assert caught.value.fields["status"] == NodeStatus.SUSPENDED
    suspensions = list(registry.governance.iter_events(["NodeSuspended"]))
    assert suspensions[0].args["reason"] == "key audit"
    with pytest.raises(e.NodeNotActive):
        registry.governance.suspend_node(address, "again")
    registry.governance.reactivate_node(address)
    with pytest.raises(e.NodeNotSuspended):
        registry.governance.reactivate_node(address)
    registry.node.anchor(0, 1, root("s"))


def test_wrong_and_duplicate_sequence(registry: DeployedRegistry) -> None:
    with pytest.raises(e.WrongSequence) as skipped:
        registry.node.anchor(1, 5, root("skip"))
    assert skipped.value.fields == {"expected": 0, "given": 1}
    registry.node.anchor(0, 5, root("a"))
    with pytest.raises(e.WrongSequence) as duplicate:
        registry.node.anchor(0, 6, root("b"))
    assert duplicate.value.fields == {"expected": 1, "given": 0}


def test_tree_size_never_shrinks_and_equal_size_keeps_root(registry: DeployedRegistry) -> None:
    registry.node.anchor(0, 100, root("a"))
    with pytest.raises(e.TreeSizeShrank) as shrank:
        registry.node.anchor(1, 99, root("b"))
    assert shrank.value.fields == {"previous": 100, "given": 99}
    with pytest.raises(e.RootChangedWithoutGrowth):
        registry.node.anchor(1, 100, root("fork"))
    with pytest.raises(e.RootAlreadyAnchored):
        registry.node.anchor(1, 100, root("a"))
    registry.node.anchor(1, 101, root("b"))


def test_empty_head_and_roots_are_per_node(registry: DeployedRegistry) -> None:
    with pytest.raises(e.EmptyHead):
        registry.node.anchor(0, 0, root("a"))
    with pytest.raises(e.EmptyHead):
        registry.node.anchor(0, 1, bytes(32))
    registry.node.anchor(0, 1, root("a"))
    # Another node anchoring a copy of this root claims it for itself only: it cannot
    # block the first node's history, and lookups stay per node.
    other_account = registry.chain.new_account()
    registry.governance.register_node(other_account.address, 402052, "飯塚市")
    registry.client_for(other_account).anchor(0, 1, root("a"))
    mine = registry.governance.get_anchor(registry.node_account.address, root("a"))
    theirs = registry.governance.get_anchor(other_account.address, root("a"))
    assert mine is not None and theirs is not None
    assert (mine.node, theirs.node) == (registry.node_account.address, other_account.address)
    with pytest.raises(e.RootAlreadyAnchored):
        registry.node.anchor(1, 1, root("a"))


def test_withdraw_head(registry: DeployedRegistry) -> None:
    registry.node.anchor(0, 1, root("w"))
    node = registry.node_account.address
    with pytest.raises(e.NotGovernanceMember):
        registry.node.withdraw_head(node, root("w"), "not mine to withdraw")
    registry.governance.withdraw_head(node, root("w"), "key compromise")
    record = registry.governance.get_anchor(node, root("w"))
    assert record is not None and record.withdrawn
    withdrawn = list(registry.governance.iter_events(["HeadWithdrawn"]))
    assert withdrawn[0].args["reason"] == "key compromise"
    assert withdrawn[0].args["node"] == registry.node_account.address
    with pytest.raises(e.HeadAlreadyWithdrawn):
        registry.governance.withdraw_head(node, root("w"), "twice")
    with pytest.raises(e.UnknownRoot):
        registry.governance.withdraw_head(node, root("nothing"), "no such head")
    with pytest.raises(e.UnknownRoot):  # the root exists, but not for this node
        registry.governance.withdraw_head(registry.governance.sender.address, root("w"), "x")  # type: ignore[union-attr]


def test_key_rotation_moves_sequence_and_head(registry: DeployedRegistry) -> None:
    old = registry.node_account.address
    registry.node.anchor(0, 10, root("r0"))
    new_account = registry.chain.new_account()
    registry.governance.rotate_node_key(old, new_account.address)  # routine: governance too
    old_record = registry.governance.get_node(old)
    assert (old_record.status, old_record.successor) == (NodeStatus.RETIRED, new_account.address)
    new_record = registry.governance.get_node(new_account.address)
    assert (new_record.status, new_record.lg_code, new_record.next_seq, new_record.tree_size) == (
        NodeStatus.ACTIVE, 131016, 1, 10,
    )  # fmt: skip
    with pytest.raises(e.NodeNotActive):
        registry.node.anchor(1, 20, root("r1"))
    registry.client_for(new_account).anchor(1, 20, root("r1"))
    first = registry.governance.get_anchor(old, root("r0"))
    assert first is not None and first.node == old  # history stays attributed to the old key
    rotated = list(registry.governance.iter_events(["NodeKeyRotated"]))
    assert (rotated[0].args["previousKey"], rotated[0].args["newKey"]) == (old, new_account.address)
    assert registry.governance.node_addresses() == [old, new_account.address]


def test_key_rotation_rules(registry: DeployedRegistry) -> None:
    old = registry.node_account.address
    stranger = registry.client_for(registry.chain.new_account())
    target = registry.chain.new_account().address
    with pytest.raises(e.NotGovernance):  # not an executed proposal
        stranger._transact("rotateNodeKey", old, target)
    with pytest.raises(e.NotGovernance):  # nor the node's own key, even while active
        registry.node._transact("rotateNodeKey", old, target)
    with pytest.raises(e.NotGovernanceMember):  # nor may it propose one
        stranger.rotate_node_key(old, target)
    with pytest.raises(e.NodeAlreadyRegistered):
        registry.governance.rotate_node_key(old, old)
    with pytest.raises(e.ZeroAddress):
        registry.governance.rotate_node_key(old, "0x" + "00" * 20)
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.rotate_node_key(target, stranger.sender.address)  # type: ignore[union-attr]
    registry.governance.suspend_node(old, "lost key")
    with pytest.raises(e.NotGovernance):  # a stolen key cannot outrun governance
        registry.node._transact("rotateNodeKey", old, registry.chain.new_account().address)
    registry.governance.rotate_node_key(old, target)  # governance rotates a lost key
    assert registry.governance.get_node(target).status is NodeStatus.SUSPENDED
    with pytest.raises(e.NodeNotActive):
        registry.governance.rotate_node_key(old, registry.chain.new_account().address)
    with pytest.raises(e.NodeAlreadyRegistered):  # a retired key is never reused
        registry.governance.register_node(old, 131016, "again")


def test_registration_rules(registry: DeployedRegistry) -> None:
    fresh = registry.chain.new_account().address
    with pytest.raises(e.NotGovernanceMember):
        registry.node.register_node(fresh, 402052, "x")
    with pytest.raises(e.NodeAlreadyRegistered):
        registry.governance.register_node(registry.node_account.address, 402052, "x")
    for bad_code in (131017, 481001, 1_311_016, 0, 31019):
        with pytest.raises(e.InvalidLocalGovernmentCode):
            registry.governance.register_node(fresh, bad_code, "x")
    for bad_name in ("", "x" * 129):
        with pytest.raises(e.InvalidName):
            registry.governance.register_node(fresh, 402052, bad_name)
    with pytest.raises(e.ZeroAddress):
        registry.governance.register_node("0x" + "00" * 20, 402052, "x")
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.suspend_node(fresh, "x")
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.reactivate_node(fresh)
    with pytest.raises(e.LocalGovernmentCodeInUse):  # 千代田区 has its active node
        registry.governance.register_node(fresh, 131016, "千代田区 (second)")
    assert registry.governance.proposal_count() == 1  # refusals are simulated, never proposed


def test_governance_only_calls(registry: DeployedRegistry) -> None:
    address = registry.node_account.address
    with pytest.raises(e.NotGovernanceMember):
        registry.node.suspend_node(address, "x")
    with pytest.raises(e.NotGovernanceMember):
        registry.node.reactivate_node(address)
    with pytest.raises(e.NotGovernanceMember):
        registry.node.set_governance([address], 1, 0)
    for call in (  # the governed functions themselves run only inside `execute`
        ("suspendNode", address, "x"),
        ("reactivateNode", address, False),
        ("registerNode", Account.create().address, 402052, "x", False),
        ("withdrawHead", address, root("x"), "x"),
        ("setGovernance", [address], 1, 0),
    ):
        with pytest.raises(e.NotGovernance):
            registry.governance._transact(*call)


def test_governance_set_change(registry: DeployedRegistry) -> None:
    successor_account = registry.chain.new_account()
    successor = registry.client_for(successor_account)
    open_id, _ = registry.governance.propose(
        [registry.governance.action_suspend_node(registry.node_account.address, "later")]
    )
    changed = registry.governance.set_governance([successor_account.address], 1, 0)
    assert changed.executed
    config = registry.governance.governance_config()
    assert (config.members, config.epoch) == ((successor_account.address,), 2)
    with pytest.raises(e.NotGovernanceMember):
        registry.governance.suspend_node(registry.node_account.address, "old governance")
    stale = registry.governance.get_proposal(open_id)
    assert stale.state.name == "STALE"  # approvals of the old set never count
    with pytest.raises(e.ProposalClosed):
        successor.execute(open_id)
    successor.suspend_node(registry.node_account.address, "new governance")


def test_local_government_code_rule_matches_contract(registry: DeployedRegistry) -> None:
    known = {11002: True, 131016: True, 82201: True, 402052: True, 172065: True, 10006: True}
    sample = [*known, 131017, 11001, 479993, 480002, 9999, 999999, 1_000_000, 0]
    for code in sample:
        on_chain = registry.governance.contract.functions.isValidLocalGovernmentCode(code).call()
        assert on_chain == is_valid_lg_code(code), code
        if code in known:
            assert on_chain


def test_event_paging_streams_every_anchor_in_order(registry: DeployedRegistry) -> None:
    other_account = registry.chain.new_account()
    registry.governance.register_node(other_account.address, 82201, "つくば市")
    other = registry.client_for(other_account)
    for seq in range(12):
        registry.node.anchor(seq, seq + 1, root(f"p{seq}"))
        other.anchor(seq, seq + 1, root(f"q{seq}"))
    everything = list(registry.governance.iter_anchored_heads(page_size=3))
    assert len(everything) == 24
    positions = [(ev.block_number, ev.log_index) for ev in everything]
    assert positions == sorted(positions)
    mine = list(
        registry.governance.iter_anchored_heads(node=registry.node_account.address, page_size=2)
    )
    assert [ev.seq for ev in mine] == list(range(12))
    assert {ev.node for ev in mine} == {registry.node_account.address}
    late = list(registry.governance.iter_anchored_heads(from_block=everything[-1].block_number))
    assert late == [everything[-1]] or late == everything[-2:]
    with pytest.raises(AnchorError, match="no event named"):
        list(registry.governance.iter_events(["NoSuchEvent"]))


def test_reads_need_no_account_but_writes_do(
    registry: DeployedRegistry, chain: ChainEndpoint
) -> None:
    reader = RegistryClient(chain.web3(), registry.governance.address)
    assert reader.get_node(registry.node_account.address).lg_code == 131016
    with pytest.raises(AnchorError, match="no account"):
        reader.anchor(0, 1, root("x"))
    with pytest.raises(ValueError, match="32 bytes"):
        registry.node.anchor(0, 1, b"short")


# ---------------------------------------------------------------------- anchorMany (relayed)


def register_nodes(registry: DeployedRegistry, codes: list[int]) -> list[RegistryClient]:
    """Fresh registered nodes (keys need no ether: a relayer sends their heads)."""
    nodes = []
    for code in codes:
        account = Account.create()
        registry.governance.register_node(account.address, code, f"node {code}")
        nodes.append(registry.client_for(account))
    return nodes


def relayer_for(registry: DeployedRegistry) -> RegistryClient:
    """Any funded key may relay: this one is not a registered node."""
    return registry.client_for(registry.chain.new_account())


def outcome(result: BatchResult) -> tuple[list[tuple[str, int]], list[tuple[str, int, str]]]:
    return (
        [(ev.node, ev.seq) for ev in result.anchored],
        [(sk.node, sk.seq, sk.reason) for sk in result.skipped],
    )


def test_eip712_domain_and_digest_match_the_contract(registry: DeployedRegistry) -> None:
    client = registry.node
    fields, name, version, chain_id, contract, salt, extensions = (
        client.contract.functions.eip712Domain().call()
    )
    assert (fields, name, version) == (b"\x0f", REGISTRY_NAME, REGISTRY_VERSION)
    assert (chain_id, contract, salt, extensions) == (
        registry.chain.chain_id, client.address, bytes(32), [],
    )  # fmt: skip
    assert client.contract.functions.VERSION().call() == REGISTRY_VERSION
    node = registry.node_account.address
    message = head_typed_data(
        chain_id=chain_id, registry=client.address, node=node, seq=7, tree_size=99, root=root("d")
    )
    signable = encode_typed_data(full_message=message)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert client.contract.functions.hashHead(node, 7, 99, root("d")).call() == expected


def test_anchor_many_lands_heads_of_several_nodes_in_one_transaction(
    registry: DeployedRegistry,
) -> None:
    chiyoda = registry.node
    iizuka, tsukuba = register_nodes(registry, [402052, 82201])
    relayer = relayer_for(registry)
    heads = [
        chiyoda.sign_head(0, 10, root("c0")),
        iizuka.sign_head(0, 5, root("i0")),
        chiyoda.sign_head(1, 20, root("c1")),  # consecutive heads of one node share a batch
        tsukuba.sign_head(0, 1, root("t0")),
    ]
    result = relayer.anchor_many(heads)
    assert outcome(result) == ([(h.node, h.seq) for h in heads], [])
    assert {ev.tx_hash for ev in result.anchored} == {result.tx.tx_hash}
    assert [(ev.lg_code, ev.previous_tree_size) for ev in result.anchored] == [
        (131016, 0), (402052, 0), (131016, 10), (82201, 0),
    ]  # fmt: skip
    for head in heads:
        record = relayer.get_anchor(head.node, head.root)
        assert record is not None
        assert (record.node, record.seq, record.tree_size, record.block_number) == (
            head.node, head.seq, head.tree_size, result.tx.block_number,
        )  # fmt: skip
    assert relayer.next_seq(chiyoda.sender.address) == 2  # type: ignore[union-attr]
    # Readers see the same HeadAnchored events as for `anchor`, attributed to each node.
    logged = list(relayer.iter_anchored_heads(node=iizuka.sender.address))  # type: ignore[union-attr]
    assert [(ev.seq, ev.root, ev.tx_hash) for ev in logged] == [(0, root("i0"), result.tx.tx_hash)]
    # A node's own `anchor` continues the sequence the relayer advanced.
    chiyoda_direct = registry.node
    chiyoda_direct.anchor(2, 30, root("c2"))


def test_anchor_many_skips_each_bad_head_and_lands_the_rest(registry: DeployedRegistry) -> None:
    good, stale, shrinking, suspended, forged, strangers = register_nodes(
        registry, [271004, 402052, 82201, 11002, 172065, 10006]
    )
    relayer = relayer_for(registry)
    relayer.anchor_many([stale.sign_head(0, 5, root("s0")), shrinking.sign_head(0, 9, root("k0"))])
    registry.governance.suspend_node(suspended.sender.address, "key audit")  # type: ignore[union-attr]
    chain_id = registry.chain.chain_id
    other_chain = sign_head(
        good.sender.account, chain_id=chain_id + 1, registry=good.address,  # type: ignore[union-attr]
        seq=0, tree_size=1, root=root("x"),
    )  # fmt: skip
    other_contract = sign_head(
        good.sender.account, chain_id=chain_id, registry=relayer.sender.address,  # type: ignore[union-attr]
        seq=0, tree_size=1, root=root("x"),
    )  # fmt: skip
    by_impostor = strangers.sign_head(0, 1, root("f"))
    wrong_signer = replace(by_impostor, node=forged.sender.address)  # type: ignore[union-attr]
    valid = good.sign_head(0, 1, root("g0"))
    high_s = replace(
        valid,
        s=(CURVE_ORDER - int.from_bytes(valid.s, "big")).to_bytes(32, "big"),
        v=55 - valid.v,  # the malleable twin: same signer, s in the upper half
    )
    bad_v = replace(valid, v=valid.v - 27)
    batch = [
        other_chain,
        other_contract,
        wrong_signer,
        high_s,
        bad_v,
        suspended.sign_head(0, 1, root("p0")),
        stale.sign_head(0, 6, root("s0 again")),  # seq 0 is used
        stale.sign_head(2, 6, root("s2")),  # seq 1 skipped
        shrinking.sign_head(1, 8, root("k1")),
        shrinking.sign_head(1, 9, root("k fork")),
        valid,
        stale.sign_head(1, 6, root("s1")),
    ]
    for head in batch[:5]:  # a relayer can refuse these before spending gas
        assert relayer.head_signer(head) != head.node
    result = relayer.anchor_many(batch)
    anchored, skipped = outcome(result)
    assert anchored == [(valid.node, 0), (stale.sender.address, 1)]  # type: ignore[union-attr]
    assert [reason for _, _, reason in skipped] == [
        "InvalidSignature", "InvalidSignature", "InvalidSignature", "InvalidSignature",
        "InvalidSignature", "NodeNotActive", "WrongSequence", "WrongSequence", "TreeSizeShrank",
        "RootChangedWithoutGrowth",
    ]  # fmt: skip
    assert [(node, seq) for node, seq, _ in skipped] == [(h.node, h.seq) for h in batch[:10]]
    assert relayer.next_seq(suspended.sender.address) == 0  # type: ignore[union-attr]
    assert relayer.next_seq(shrinking.sender.address) == 1  # type: ignore[union-attr]
    assert relayer.get_anchor(forged.sender.address, root("f")) is None  # type: ignore[union-attr]
    # `anchor` refuses the same heads with the errors that name the skip reasons.
    with pytest.raises(e.TreeSizeShrank):
        shrinking.anchor(1, 8, root("k1"))


def test_replaying_a_batch_anchors_nothing_twice(registry: DeployedRegistry) -> None:
    first, second = register_nodes(registry, [402052, 82201])
    relayer = relayer_for(registry)
    batch = [first.sign_head(0, 3, root("a0")), second.sign_head(0, 4, root("b0"))]
    assert len(relayer.anchor_many(batch).anchored) == 2
    replay = relayer_for(registry).anchor_many(batch)  # another relayer, same signed heads
    assert outcome(replay) == ([], [(h.node, h.seq, "WrongSequence") for h in batch])
    heads = list(relayer.iter_anchored_heads())
    assert [(ev.node, ev.seq) for ev in heads] == [(h.node, h.seq) for h in batch]
    with pytest.raises(e.EmptyBatch):
        relayer._transact("anchorMany", [])
    with pytest.raises(ValueError, match="at least one head"):
        relayer.send_anchor_many([])


def test_anchor_many_gas_per_head(registry: DeployedRegistry) -> None:
    relayer = relayer_for(registry)
    nodes = register_nodes(registry, [c for c in range(402052, 410000) if is_valid_lg_code(c)][:10])
    first = relayer.anchor_many([n.sign_head(0, 1, root(f"{i}/0")) for i, n in enumerate(nodes)])
    later = relayer.anchor_many([n.sign_head(1, 2, root(f"{i}/1")) for i, n in enumerate(nodes)])
    single = relayer.anchor_many([nodes[0].sign_head(2, 3, root("0/2"))])
    per_head = later.tx.gas_used / 10
    print(
        f"\nanchorMany gas on {registry.chain.engine}: 1 head {single.tx.gas_used}, "
        f"10 first heads {first.tx.gas_used / 10:.0f}/head, 10 later heads {per_head:.0f}/head"
    )
    assert len(later.anchored) == 10
    # `anchor` costs ~58.6k for a later head: a batch saves the 21k of a transaction per head
    # and pays ~3.5k for the signature check (ecrecover) instead.
    assert per_head < 48_000
    assert first.tx.gas_used < 10 * ANCHOR_MANY_HEAD_GAS
    assert single.tx.gas_used < ANCHOR_MANY_BASE_GAS + ANCHOR_MANY_HEAD_GAS


def test_node_worker_hands_heads_to_a_relay_and_again_when_one_is_lost(
    registry: DeployedRegistry, tmp_path: Path
) -> None:
    node_key = Account.create()  # no ether: it never sends a transaction
    registry.governance.register_node(node_key.address, 402052, "飯塚市")
    node = registry.client_for(node_key)
    relayer = relayer_for(registry)

    class LossyRelay:
        """Loses the first hand-over, relays later ones at once."""

        def __init__(self) -> None:
            self.handed: list[list[int]] = []

        def hand_over(self, heads: Sequence[SignedHead]) -> None:
            self.handed.append([h.seq for h in heads])
            if len(self.handed) > 1:
                relayer.anchor_many(heads)

    store = LogStore(tmp_path / "log")
    relay = LossyRelay()
    worker = AnchorWorker(store, node, 0, Metrics(), relay=relay, relay_timeout=0.5)
    try:
        for seq in range(2):
            sidecar = RevocationSidecar(f"r{seq}", "test", 0, b"")
            store.append([NewEntry(f"leaf {seq}".encode(), sidecar, f"r{seq}")])
            store.seal_head(store.size, time.time())
        worker.step()
        assert relay.handed == [[0, 1]]
        assert [h.state for h in store.heads(0)] == ["submitted", "submitted"]
        worker.step()  # not due again yet
        assert relay.handed == [[0, 1]]
        time.sleep(0.6)
        worker.step()  # handed over again and relayed
        assert relay.handed == [[0, 1], [0, 1]]
        worker.step()  # the registry's nextSeq says both landed: adopt and finalise
        heads = list(store.heads(0))
        assert [h.state for h in heads] == ["final", "final"]
        anchored = list(relayer.iter_anchored_heads(node=node_key.address))
        assert [h.tx_hash for h in heads] == [ev.tx_hash for ev in anchored]
        assert registry.chain.web3().eth.get_transaction_count(node_key.address) == 0
    finally:
        store.close()
