"""The offline evidence core on real chains: a 3-validator Clique devnet and anvil.

Headers from `eth_getBlockByNumber` re-encode to their block hash (and to `debug_getRawHeader`),
seals recover the devnet's validators, a chain of real headers proves an anchor block final and
stops proving it once dropped, reordered, resealed or cut short; the receipt proof of a real
anchor transaction verifies against `receiptsRoot` and yields its `HeadAnchored` logs; storage
proofs (`eth_getProof`) give the node and anchor records `getNode`/`getAnchor` answer; anvil's
headers (later forks' fields) and typed receipts go through the same code. Any flipped byte of
any piece of evidence is refused."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from anchor import RegistryClient, connect
from devnet.anvil import ANVIL_BINARY, DEV_MNEMONIC, dev_account, wait_for_rpc
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.ports import free_port
from protocol import registry_storage as rs
from protocol.clique import (
    SEAL,
    SignerHistory,
    SignerSet,
    checkpoint_signers,
    recover_signer,
    seal_hash,
    verify_finality,
)
from protocol.errors import EvidenceError
from protocol.finality import clique_signer_limit
from protocol.header import BlockHeader, decode_header, header_from_rpc
from protocol.receipts import (
    ReceiptError,
    build_receipt_proof,
    decode_receipt,
    head_anchored_logs,
    receipt_from_rpc,
    verify_receipt_proof,
)
from protocol.registry_abi import HeadAnchoredLog, NodeStatus
from tests.chains import send_ether
from tests.devnet_helpers import rpc, wait_until

pytestmark = pytest.mark.chain

LONG_NAME = "東京都千代田区 municipal notarization node, primary site"  # > 31 bytes: long form


def hexbytes(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@dataclass
class Anchored:
    """A registry transaction and what it should have emitted."""

    tx_hash: str
    block: int
    heads: list[HeadAnchoredLog]


@dataclass
class DevnetEvidence:
    url: str
    layout: NetworkLayout
    registry: RegistryClient
    node_a: LocalAccount
    node_b: LocalAccount
    first: Anchored  # A's seq 0, alone
    batch: list[Anchored]  # A's seq 1 and B's seq 0, sent together
    relayed: Anchored  # A's seq 2 and B's seq 1 in one anchorMany
    withdrawn_root: bytes
    last_block: int  # after withdrawing A's first head and suspending B


def head(node: LocalAccount, lg_code: int, seq: int, size: int, root: bytes) -> HeadAnchoredLog:
    return HeadAnchoredLog(node.address, lg_code, seq, size, root)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetEvidence]:
    layout = init_network(tmp_path_factory.mktemp("evidence") / "net", validators=3)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        url = layout.nodes[0].rpc_url
        w3 = connect(url)
        dev = layout.dev_account()
        registry, _ = RegistryClient.deploy(w3, dev)
        node_a, node_b = Account.create(), Account.create()
        for account in (node_a, node_b):
            send_ether(w3, dev, account.address, 1)
        registry.register_node(node_a.address, 131016, "千代田区")
        registry.register_node(node_b.address, 271004, LONG_NAME)
        a = RegistryClient(w3, registry.address, node_a)
        b = RegistryClient(w3, registry.address, node_b)
        roots = [keccak(b"root %d" % i) for i in range(5)]
        done = a.anchor(0, 3, roots[0])
        first = Anchored(done.tx_hash, done.block_number, [head(node_a, 131016, 0, 3, roots[0])])
        sent = [a.send_anchor(1, 5, roots[1]), b.send_anchor(0, 2, roots[2])]
        batch = [
            Anchored(r.tx_hash, r.block_number, [h])
            for r, h in zip(
                (a.wait(sent[0]), b.wait(sent[1])),
                (head(node_a, 131016, 1, 5, roots[1]), head(node_b, 271004, 0, 2, roots[2])),
                strict=True,
            )
        ]
        signed = [a.sign_head(2, 8, roots[3]), b.sign_head(1, 4, roots[4])]
        many = registry.anchor_many(signed)
        assert len(many.anchored) == 2 and not many.skipped
        relayed = Anchored(
            many.tx.tx_hash,
            many.tx.block_number,
            [head(node_a, 131016, 2, 8, roots[3]), head(node_b, 271004, 1, 4, roots[4])],
        )
        registry.withdraw_head(node_a.address, roots[0], "test: key compromise")
        suspended = registry.suspend_node(node_b.address, "test: audit")
        depth = clique_signer_limit(3)
        wait_until(
            lambda: int(rpc(url, "eth_blockNumber"), 16) >= suspended.block_number + depth + 2,
            60,
            "blocks on top of the last registry transaction",
        )
        yield DevnetEvidence(
            url, layout, registry, node_a, node_b, first, batch, relayed, roots[0],
            suspended.block_number,
        )  # fmt: skip
    finally:
        processes.stop_all()


def block_of(url: str, number: int) -> dict[str, Any]:
    block: dict[str, Any] = rpc(url, "eth_getBlockByNumber", hex(number), False)
    return block


def headers_of(url: str, first: int, count: int) -> list[BlockHeader]:
    return [header_from_rpc(block_of(url, n)) for n in range(first, first + count)]


def validators(layout: NetworkLayout) -> dict[bytes, PrivateKey]:
    return {
        to_canonical_address(node.address): PrivateKey(bytes(layout.validator_key(node.index).key))
        for node in layout.nodes
        if node.address
    }


def signer_history(url: str) -> SignerHistory:
    signers = rpc(url, "clique_getSigners", "0x0")
    return SignerHistory([SignerSet(0, frozenset(hexbytes(s) for s in signers))])


def sealed(header: BlockHeader, key: PrivateKey) -> BlockHeader:
    signature = key.sign_msg_hash(seal_hash(header)).to_bytes()
    return header.with_extra_data(header.extra_data[:-SEAL] + signature)


# ---------------------------------------------------------------------- headers and seals


def test_devnet_headers_hash_to_their_blocks_and_seals_recover_the_validators(
    devnet: DevnetEvidence,
) -> None:
    url = devnet.url
    latest = int(rpc(url, "eth_blockNumber"), 16)
    expected = set(validators(devnet.layout))
    assert {hexbytes(s) for s in rpc(url, "clique_getSigners", "latest")} == expected
    sealers = set()
    for number in range(latest + 1):
        block = block_of(url, number)
        h = header_from_rpc(block)
        assert h.hash() == hexbytes(block["hash"]), number
        raw = hexbytes(rpc(url, "debug_getRawHeader", hex(number)))
        assert h.encode() == raw and decode_header(raw) == h
        if number == 0:
            assert set(checkpoint_signers(h)) == expected  # the genesis checkpoint
            continue
        sealers.add(recover_signer(h))
    assert sealers == expected  # every validator sealed, nobody else


def test_real_headers_prove_an_anchor_block_final(devnet: DevnetEvidence) -> None:
    url, number = devnet.url, devnet.first.block
    trusted = signer_history(url)
    headers = headers_of(url, number, 4)
    anchor = hexbytes(block_of(url, number)["hash"])
    evidence = verify_finality(headers, trusted, anchor)
    assert evidence.required == 2 and len(evidence.distinct_on_top) >= 2
    # the evidence as a bundle will carry it: the headers' RLP, decoded again
    again = [decode_header(h.encode(), f"headers[{i}]") for i, h in enumerate(headers)]
    assert verify_finality(again, trusted, anchor) == evidence
    assert verify_finality(headers[:3], trusted, anchor).final == headers[2]  # just enough

    def refused(bad: Sequence[BlockHeader], field: str) -> None:
        with pytest.raises(EvidenceError) as raised:
            verify_finality(bad, trusted, anchor)
        assert raised.value.field == field, raised.value

    refused([headers[0], headers[2], headers[3]], "headers[1].number")  # dropped
    refused([headers[0], headers[2], headers[1], headers[3]], "headers[1].number")  # reordered
    refused(headers[:2], "headers")  # one signer on top: too few
    refused(headers[1:], "headers[0]")  # not the anchor block
    keys = validators(devnet.layout)
    outsider = PrivateKey(keccak(b"an outsider's key"))
    forged = sealed(headers[1], outsider)
    relinked = sealed(
        dataclasses.replace(headers[2], parent_hash=forged.hash()),
        keys[recover_signer(headers[2])],
    )
    refused([headers[0], forged, relinked], "headers[1].extraData")  # unknown sealer
    # a real validator sealing both blocks on top: still one distinct signer
    twice = sealed(
        dataclasses.replace(headers[2], parent_hash=headers[1].hash()),
        keys[recover_signer(headers[1])],
    )
    refused([headers[0], headers[1], twice], "headers")
    # a history that does not list the devnet's signers refuses its seals
    stranger = SignerHistory([SignerSet(0, frozenset({b"\x01" * 20, b"\x02" * 20}))])
    with pytest.raises(EvidenceError, match="not a signer authorised"):
        verify_finality(headers, stranger, anchor)


def test_any_flipped_byte_of_the_header_chain_is_refused(devnet: DevnetEvidence) -> None:
    url, number = devnet.url, devnet.batch[0].block
    trusted = signer_history(url)
    raws = [h.encode() for h in headers_of(url, number, 3)]
    anchor = keccak(raws[0])
    for index, raw in enumerate(raws):
        for position in range(len(raw)):
            bad = [*raws[:index], flipped(raw, position), *raws[index + 1 :]]
            with pytest.raises(EvidenceError):
                headers = [decode_header(r, f"headers[{i}]") for i, r in enumerate(bad)]
                verify_finality(headers, trusted, anchor)
                pytest.fail(f"headers[{index}] byte {position} flipped and still accepted")


# ---------------------------------------------------------------------- receipts


def prove_receipt(url: str, anchored: Anchored) -> tuple[BlockHeader, int, list[bytes]]:
    """(header, index, proof) of an anchoring transaction's receipt, as a node would build it."""
    header = header_from_rpc(block_of(url, anchored.block))
    answers = rpc(url, "eth_getBlockReceipts", hex(anchored.block))
    receipts = [receipt_from_rpc(r, f"receipts[{i}]") for i, r in enumerate(answers)]
    index = [r["transactionHash"] for r in answers].index(anchored.tx_hash)
    return header, index, build_receipt_proof(receipts, index, header.receipts_root)


def test_receipt_proofs_of_real_anchors_yield_their_head_anchored_logs(
    devnet: DevnetEvidence,
) -> None:
    url, registry = devnet.url, devnet.registry.address
    for anchored in [devnet.first, *devnet.batch, devnet.relayed]:
        header, index, proof = prove_receipt(url, anchored)
        receipt = verify_receipt_proof(header.receipts_root, index, proof)
        assert receipt.succeeded and receipt.type == 2
        assert list(head_anchored_logs(receipt, registry)) == anchored.heads
        assert head_anchored_logs(receipt, "0x" + "00" * 20) == ()  # another registry's: none
    # the devnet's raw receipts are these encodings
    block = devnet.batch[0].block
    raws = [hexbytes(r) for r in rpc(url, "debug_getRawReceipts", hex(block))]
    answers = rpc(url, "eth_getBlockReceipts", hex(block))
    assert [receipt_from_rpc(r).encode() for r in answers] == raws
    assert [decode_receipt(r) for r in raws] == [receipt_from_rpc(r) for r in answers]


def test_any_flipped_byte_of_a_receipt_proof_is_refused(devnet: DevnetEvidence) -> None:
    header, index, proof = prove_receipt(devnet.url, devnet.relayed)
    for n, node in enumerate(proof):
        for position in range(len(node)):
            bad = [*proof[:n], flipped(node, position), *proof[n + 1 :]]
            with pytest.raises(ReceiptError):
                verify_receipt_proof(header.receipts_root, index, bad)
    with pytest.raises(ReceiptError):
        verify_receipt_proof(flipped(header.receipts_root, 0), index, proof)
    with pytest.raises(ReceiptError):
        verify_receipt_proof(header.receipts_root, index + 1, proof)


# ---------------------------------------------------------------------- registry storage


def storage_evidence(
    url: str, registry: str, slots: Sequence[int], block: int
) -> tuple[bytes, list[bytes], dict[int, list[bytes]]]:
    """(state root, account proof, slot → storage proof) at `block`, from eth_getProof."""
    answer = rpc(url, "eth_getProof", registry, [hex(s) for s in slots], hex(block))
    state_root = header_from_rpc(block_of(url, block)).state_root
    account = [hexbytes(n) for n in answer["accountProof"]]
    proofs = {
        slot: [hexbytes(n) for n in entry["proof"]]
        for slot, entry in zip(slots, answer["storageProof"], strict=True)
    }
    return state_root, account, proofs


def proven(url: str, registry: str, slots: Sequence[int], block: int) -> dict[int, int]:
    state_root, account, proofs = storage_evidence(url, registry, slots, block)
    return rs.proven_words(state_root, registry, account, proofs)


def read_registry(
    url: str, registry: str, block: int, nodes: Sequence[str], roots: Sequence[tuple[str, bytes]]
) -> dict[int, int]:
    """Every word of the node and anchor records asked for, proven at `block` (two rounds: a
    long name's words are found from its length)."""
    slots = [s for n in nodes for s in rs.node_slots(n)] + [rs.anchor_slot(n, r) for n, r in roots]
    words = proven(url, registry, slots, block)
    more = [s for n in nodes for s in rs.name_slots(n, words[rs.node_slots(n)[3]])]
    if more:
        words |= proven(url, registry, more, block)
    return words


def test_storage_proofs_give_the_records_get_node_and_get_anchor_answer(
    devnet: DevnetEvidence,
) -> None:
    url, client = devnet.url, devnet.registry
    a, b = devnet.node_a.address, devnet.node_b.address
    root = devnet.withdrawn_root
    never = keccak(b"never anchored")
    for block in (devnet.first.block, devnet.relayed.block, devnet.last_block):
        words = read_registry(url, client.address, block, [a, b], [(a, root), (b, never)])
        for node in (a, b):
            assert rs.decode_node(node, words) == client.get_node(node, block), (node, block)
        for node, r in ((a, root), (b, never)):
            word = words[rs.anchor_slot(node, r)]
            assert rs.decode_anchor(node, r, word) == client.get_anchor(node, r, block)
    # what a verifier concludes at the anchor block, and after governance acted
    at_anchor = read_registry(url, client.address, devnet.first.block, [a, b], [(a, root)])
    node = rs.decode_node(a, at_anchor)
    assert (node.status, node.lg_code) == (NodeStatus.ACTIVE, 131016)
    record = rs.decode_anchor(a, root, at_anchor[rs.anchor_slot(a, root)])
    assert record is not None and not record.withdrawn
    assert (record.block_number, record.seq, record.tree_size) == (devnet.first.block, 0, 3)
    later = read_registry(url, client.address, devnet.last_block, [a, b], [(a, root)])
    assert rs.decode_node(b, later).status == NodeStatus.SUSPENDED
    assert rs.decode_node(b, later).name == LONG_NAME
    withdrawn = rs.decode_anchor(a, root, later[rs.anchor_slot(a, root)])
    assert withdrawn is not None and withdrawn.withdrawn


def test_any_flipped_byte_of_a_storage_proof_is_refused(devnet: DevnetEvidence) -> None:
    a = devnet.node_a.address
    slot = rs.anchor_slot(a, devnet.withdrawn_root)
    state_root, account, proofs = storage_evidence(
        devnet.url, devnet.registry.address, [slot], devnet.first.block
    )
    assert rs.proven_words(state_root, devnet.registry.address, account, proofs)[slot]
    for n, node in enumerate(account):
        for position in range(0, len(node), 3):  # every third byte: the account proof is long
            bad = [*account[:n], flipped(node, position), *account[n + 1 :]]
            with pytest.raises(rs.StorageError, match=r"^storage\.account_proof"):
                rs.proven_words(state_root, devnet.registry.address, bad, proofs)
    for n, node in enumerate(proofs[slot]):
        for position in range(len(node)):
            bad_slot = [*proofs[slot][:n], flipped(node, position), *proofs[slot][n + 1 :]]
            with pytest.raises(rs.StorageError, match=r"^storage\.slots\["):
                rs.proven_words(state_root, devnet.registry.address, account, {slot: bad_slot})
    with pytest.raises(rs.StorageError, match="registry absent"):
        rs.proven_words(state_root, "0x" + "00" * 19 + "01", *_absent_account(devnet))


def _absent_account(devnet: DevnetEvidence) -> tuple[list[bytes], dict[int, list[bytes]]]:
    answer = rpc(devnet.url, "eth_getProof", "0x" + "00" * 19 + "01", [], hex(devnet.first.block))
    return [hexbytes(n) for n in answer["accountProof"]], {}


# ---------------------------------------------------------------------- anvil


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """anvil at its default (latest) hardfork: headers carry the later forks' fields."""
    log = (tmp_path_factory.mktemp("anvil") / "anvil.log").open("wb")
    port = free_port()
    process = subprocess.Popen(
        [str(ANVIL_BINARY), "--host", "127.0.0.1", "--port", str(port), "--mnemonic", DEV_MNEMONIC],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_rpc(url, 20, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


RECIPIENT = to_checksum_address("0x" + "5a" * 20)


def signed_transfer(account: LocalAccount, nonce: int, chain_id: int, kind: int) -> str:
    tx: dict[str, Any] = {
        "to": RECIPIENT, "value": 1, "gas": 30_000, "nonce": nonce,
        "chainId": chain_id, "gasPrice": 10**10,
    }  # fmt: skip
    if kind == 1:
        tx |= {"type": 1, "accessList": [{"address": RECIPIENT, "storageKeys": []}]}
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()  # type: ignore[arg-type]


def test_anvil_headers_and_typed_receipts_go_through_the_same_code(anvil: str) -> None:
    w3 = connect(anvil)
    governance = dev_account(0)
    node, sender = dev_account(1), dev_account(2)
    registry, _ = RegistryClient.deploy(w3, governance)
    registry.register_node(node.address, 131016, "千代田区")
    client = RegistryClient(w3, registry.address, node)
    root = keccak(b"anvil root")
    rpc(anvil, "evm_setAutomine", False)
    try:
        nonce = w3.eth.get_transaction_count(sender.address)
        chain_id = w3.eth.chain_id
        sent: Callable[[int], str] = lambda kind: rpc(  # noqa: E731
            anvil, "eth_sendRawTransaction", signed_transfer(sender, nonce + kind, chain_id, kind)
        )
        legacy, access_list = sent(0), sent(1)
        anchored = client.send_anchor(0, 1, root)
        rpc(anvil, "evm_mine")
    finally:
        rpc(anvil, "evm_setAutomine", True)
    done = client.wait(anchored)
    block = block_of(anvil, done.block_number)
    header = header_from_rpc(block)
    assert header.hash() == hexbytes(block["hash"])
    assert header.withdrawals_root is not None  # a post-London header, hashed all the same
    answers = rpc(anvil, "eth_getBlockReceipts", hex(done.block_number))
    by_hash = {r["transactionHash"]: i for i, r in enumerate(answers)}
    assert {int(r["type"], 16) for r in answers} == {0, 1, 2}
    receipts = [receipt_from_rpc(r) for r in answers]
    for tx_hash in (legacy, access_list, anchored):
        index = by_hash[tx_hash]
        proof = build_receipt_proof(receipts, index, header.receipts_root)
        assert verify_receipt_proof(header.receipts_root, index, proof) == receipts[index]
    receipt = receipts[by_hash[anchored]]
    (log,) = head_anchored_logs(receipt, registry.address)
    assert log == HeadAnchoredLog(to_checksum_address(node.address), 131016, 0, 1, root)
    slots = [*rs.node_slots(node.address), rs.anchor_slot(node.address, root)]
    words = proven(anvil, registry.address, slots, done.block_number)
    assert rs.decode_node(node.address, words) == registry.get_node(node.address, done.block_number)
    assert rs.decode_anchor(node.address, root, words[slots[-1]]) == registry.get_anchor(
        node.address, root, done.block_number
    )
