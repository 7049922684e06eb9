"""Every rule and revert path of NotaryRegistry, driven through `anchor/` on a real engine."""

from __future__ import annotations

import hashlib

import pytest

from anchor import (
    AnchorError,
    NodeStatus,
    RegistryClient,
    TreeHead,
    is_valid_lg_code,
    load_registry_artifact,
)
from anchor import errors as e
from tests.chains import ChainEndpoint
from tests.conftest import DeployedRegistry

pytestmark = pytest.mark.chain


def root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def test_deployed_code_equals_locked_artifact(registry: DeployedRegistry) -> None:
    # No immutables: an auditor can compare on-chain code with the build byte for byte.
    artifact = load_registry_artifact()
    assert registry.governance.runtime_code() == bytes.fromhex(artifact.deployed_bytecode[2:])
    assert registry.governance.governance() == registry.governance.sender.address  # type: ignore[union-attr]


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
    with pytest.raises(e.NotGovernance):
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


def test_key_rotation_by_node_moves_sequence_and_head(registry: DeployedRegistry) -> None:
    old = registry.node_account.address
    registry.node.anchor(0, 10, root("r0"))
    new_account = registry.chain.new_account()
    registry.node.rotate_node_key(old, new_account.address)
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
    with pytest.raises(e.NotNodeOrGovernance):
        stranger.rotate_node_key(old, target)
    with pytest.raises(e.NodeAlreadyRegistered):
        registry.governance.rotate_node_key(old, old)
    with pytest.raises(e.ZeroAddress):
        registry.governance.rotate_node_key(old, "0x" + "00" * 20)
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.rotate_node_key(target, stranger.sender.address)  # type: ignore[union-attr]
    registry.governance.suspend_node(old, "lost key")
    with pytest.raises(e.NotNodeOrGovernance):  # a stolen key cannot outrun governance
        registry.node.rotate_node_key(old, registry.chain.new_account().address)
    registry.governance.rotate_node_key(old, target)  # governance rotates a lost key
    assert registry.governance.get_node(target).status is NodeStatus.SUSPENDED
    with pytest.raises(e.NodeNotActive):
        registry.governance.rotate_node_key(old, registry.chain.new_account().address)
    with pytest.raises(e.NodeAlreadyRegistered):  # a retired key is never reused
        registry.governance.register_node(old, 131016, "again")


def test_registration_rules(registry: DeployedRegistry) -> None:
    fresh = registry.chain.new_account().address
    with pytest.raises(e.NotGovernance):
        registry.node.register_node(fresh, 131016, "x")
    with pytest.raises(e.NodeAlreadyRegistered):
        registry.governance.register_node(registry.node_account.address, 131016, "x")
    for bad_code in (131017, 481001, 1_311_016, 0, 31019):
        with pytest.raises(e.InvalidLocalGovernmentCode):
            registry.governance.register_node(fresh, bad_code, "x")
    for bad_name in ("", "x" * 129):
        with pytest.raises(e.InvalidName):
            registry.governance.register_node(fresh, 131016, bad_name)
    with pytest.raises(e.ZeroAddress):
        registry.governance.register_node("0x" + "00" * 20, 131016, "x")
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.suspend_node(fresh, "x")
    with pytest.raises(e.NodeNotRegistered):
        registry.governance.reactivate_node(fresh)


def test_governance_only_calls(registry: DeployedRegistry) -> None:
    address = registry.node_account.address
    with pytest.raises(e.NotGovernance):
        registry.node.suspend_node(address, "x")
    with pytest.raises(e.NotGovernance):
        registry.node.reactivate_node(address)
    with pytest.raises(e.NotGovernance):
        registry.node.transfer_governance(address)


def test_two_step_governance_transfer(registry: DeployedRegistry) -> None:
    nominee_account = registry.chain.new_account()
    nominee = registry.client_for(nominee_account)
    with pytest.raises(e.NotPendingGovernance):
        nominee.accept_governance()
    registry.governance.transfer_governance(nominee_account.address)
    with pytest.raises(e.NotPendingGovernance):
        registry.node.accept_governance()
    nominee.accept_governance()
    assert registry.governance.governance() == nominee_account.address
    with pytest.raises(e.NotGovernance):
        registry.governance.suspend_node(registry.node_account.address, "old governance")
    nominee.suspend_node(registry.node_account.address, "new governance")


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
