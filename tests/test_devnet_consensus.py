"""Clique consensus rules between real validator processes: signer voting, and forged
blocks (non-signer seal, wrong state root, wrong difficulty, too early) being refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth.consensus.clique._utils import get_block_signer
from eth_keys import keys
from eth_utils import to_checksum_address

from devnet.network import NetworkLayout, NetworkProcesses, init_network
from tests.devnet_helpers import (
    admin,
    block_number,
    fetch_block,
    forge_child,
    peer_answer,
    read_genesis,
    rpc,
    rpc_error,
    wait_until,
)

pytestmark = pytest.mark.chain


def sealers_since(layout: NetworkLayout, first: int) -> set[str]:
    """Addresses that sealed blocks `first`..head, recovered from the seals."""
    url = layout.nodes[0].rpc_url
    return {
        to_checksum_address(get_block_signer(fetch_block(layout, number).header))
        for number in range(first, block_number(url) + 1)
    }


def test_signer_voted_in_seals_and_voted_out_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    layout = init_network(tmp_path_factory.mktemp("voting") / "net", validators=3, candidates=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        genesis_signers = [n.address for n in layout.nodes[:3]]
        candidate = layout.nodes[3].address
        assert candidate is not None
        url = layout.nodes[0].rpc_url
        assert candidate not in rpc(url, "clique_getSigners")
        # A majority (2 of 3) proposes the candidate.
        for node in layout.nodes[:2]:
            admin(layout, node.index, "clique_propose", candidate, True)
        assert admin(layout, 0, "clique_proposals") == {candidate: True}
        # Votes never travel on the public JSON-RPC.
        assert rpc_error(url, "clique_propose", candidate, True)["code"] == -32601
        wait_until(lambda: candidate in rpc(url, "clique_getSigners"), 60, "candidate voted in")
        voted_in_at = block_number(url)
        wait_until(
            lambda: candidate in sealers_since(layout, voted_in_at),
            60,
            "candidate sealing a block",
        )
        # Now 4 signers: dropping one takes 3 votes (more than half).
        for node in layout.nodes[:3]:
            admin(layout, node.index, "clique_discard", candidate)
        dropped = genesis_signers[2]
        for node in (layout.nodes[0], layout.nodes[1], layout.nodes[3]):
            admin(layout, node.index, "clique_propose", dropped, False)
        wait_until(lambda: dropped not in rpc(url, "clique_getSigners"), 90, "signer voted out")
        # A block sealed by the removed signer is no longer accepted.
        key = keys.PrivateKey(bytes(layout.validator_key(2).key))
        genesis = read_genesis(layout.root)
        head = fetch_block(layout, block_number(url))
        status, answer = peer_answer(
            layout, 0, "devnet_newBlock", forge_child(head, genesis, key, difficulty=1)
        )
        assert status == 200 and "not an authorised signer" in answer["error"]["message"]
        snapshot = rpc(url, "clique_getSnapshot")
        assert sorted(snapshot["signers"]) == sorted([*genesis_signers[:2], candidate])
    finally:
        processes.stop_all()


@pytest.fixture(scope="module")
def single_validator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkLayout]:
    layout = init_network(tmp_path_factory.mktemp("forgery") / "net", validators=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        yield layout
    finally:
        processes.stop_all()


def _forge_on_head(
    layout: NetworkLayout, key: keys.PrivateKey, difficulty: int = 2, **changes: object
) -> dict:
    url = layout.nodes[0].rpc_url
    genesis = read_genesis(layout.root)
    wait_until(lambda: block_number(url) >= 1, 30, "a first block")
    head = fetch_block(layout, block_number(url))
    # Signed as the validator itself: the peer plane lets it in, the Clique rules judge it.
    status, answer = peer_answer(
        layout, 0, "devnet_newBlock", forge_child(head, genesis, key, difficulty, **changes),
        key=keys.PrivateKey(bytes(layout.validator_key(0).key)),
    )  # fmt: skip
    assert status == 200 and "error" in answer, answer
    assert block_number(url) >= head.number  # the forged block never became the head
    return dict(answer["error"])


def test_block_from_non_signer_is_rejected(single_validator: NetworkLayout) -> None:
    outsider = keys.PrivateKey(b"\x42" * 32)
    error = _forge_on_head(single_validator, outsider)
    assert "not an authorised signer" in error["message"]


def test_block_with_wrong_state_root_is_rejected(single_validator: NetworkLayout) -> None:
    signer = keys.PrivateKey(bytes(single_validator.validator_key(0).key))
    error = _forge_on_head(single_validator, signer, state_root=b"\x13" * 32)
    assert "state_root" in error["message"] or "state root" in error["message"]
    url = single_validator.nodes[0].rpc_url
    head = rpc(url, "eth_getBlockByNumber", "latest", False)
    assert head["stateRoot"] != "0x" + "13" * 32


def test_block_with_wrong_difficulty_is_rejected(single_validator: NetworkLayout) -> None:
    signer = keys.PrivateKey(bytes(single_validator.validator_key(0).key))
    error = _forge_on_head(
        single_validator, signer, difficulty=1
    )  # a lone signer is always in turn
    assert "difficulty" in error["message"]


def test_block_sealed_before_the_period_is_rejected(single_validator: NetworkLayout) -> None:
    url = single_validator.nodes[0].rpc_url
    genesis = read_genesis(single_validator.root)
    signer = keys.PrivateKey(bytes(single_validator.validator_key(0).key))
    head = fetch_block(single_validator, block_number(url))
    early = forge_child(head, genesis, signer, 2, timestamp=head.header.timestamp)
    status, answer = peer_answer(single_validator, 0, "devnet_newBlock", early, key=signer)
    message = answer["error"]["message"]
    assert status == 200 and ("period" in message or "timestamp" in message)
