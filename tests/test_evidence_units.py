"""The offline evidence core on hand-made data: headers (JSON-RPC, RLP, hash), Clique seals and
the finality check over a chain of headers, the trie builder against py-trie, receipt encodings
and proofs, and the registry's storage layout against the compiler's `storageLayout` artifact.
The same code on real devnet and anvil data: tests/test_evidence_chain.py."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest
import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from trie import HexaryTrie

from contracts.artifact import STORAGE_LAYOUT_PATH
from protocol import registry_storage as rs
from protocol.clique import (
    SEAL,
    VANITY,
    CliqueError,
    SignerHistory,
    SignerSet,
    checkpoint_signers,
    recover_signer,
    seal_hash,
    verify_finality,
)
from protocol.header import (
    EMPTY_UNCLES_HASH,
    BlockHeader,
    HeaderError,
    check_block_hash,
    claimed_hash,
    decode_header,
    header_from_rpc,
)
from protocol.mpt import EMPTY_TRIE_ROOT, MptProofError, build_proof, trie_root, verify_proof
from protocol.receipts import (
    Log,
    Receipt,
    ReceiptError,
    build_receipt_proof,
    decode_receipt,
    receipt_from_rpc,
    receipt_key,
    verify_receipt_proof,
)

KEYS = sorted(
    (PrivateKey(keccak(f"evidence signer {i}".encode())) for i in range(4)),
    key=lambda k: k.public_key.to_canonical_address(),
)
OUTSIDER = PrivateKey(keccak(b"not a signer"))


def address(key: PrivateKey) -> bytes:
    return key.public_key.to_canonical_address()


def sealed(header: BlockHeader, key: PrivateKey) -> BlockHeader:
    """`header` with its seal replaced by `key`'s."""
    body = header.extra_data[:-SEAL]
    signature = key.sign_msg_hash(seal_hash(header)).to_bytes()
    return header.with_extra_data(body + signature)


def header(number: int, parent: bytes, time: int, extra: bytes, **more: Any) -> BlockHeader:
    return BlockHeader(
        parent_hash=parent,
        uncles_hash=EMPTY_UNCLES_HASH,
        coinbase=b"\x00" * 20,
        state_root=keccak(b"state %d" % number),
        transactions_root=EMPTY_TRIE_ROOT,
        receipts_root=EMPTY_TRIE_ROOT,
        logs_bloom=b"\x00" * 256,
        difficulty=2,
        number=number,
        gas_limit=30_000_000,
        gas_used=0,
        timestamp=time,
        extra_data=extra,
        mix_hash=b"\x00" * 32,
        nonce=b"\x00" * 8,
        base_fee_per_gas=7,
        **more,
    )


def chain(signers: list[PrivateKey], length: int, start: int = 10) -> list[BlockHeader]:
    """`length` headers from block `start` on, sealed in turn by `signers`."""
    headers: list[BlockHeader] = []
    parent = keccak(b"parent of the first")
    for i in range(length):
        number = start + i
        blank = header(number, parent, 1_000 + i, b"\x00" * (VANITY + SEAL))
        headers.append(sealed(blank, signers[number % len(signers)]))
        parent = headers[-1].hash()
    return headers


def history(signers: list[PrivateKey], since: int = 0) -> SignerHistory:
    return SignerHistory([SignerSet(since, frozenset(address(k) for k in signers))])


def rpc_of(h: BlockHeader) -> dict[str, Any]:
    names = {f.name: f for f in dataclasses.fields(h)}
    camel = {
        "parent_hash": "parentHash", "uncles_hash": "sha3Uncles", "coinbase": "miner",
        "state_root": "stateRoot", "transactions_root": "transactionsRoot",
        "receipts_root": "receiptsRoot", "logs_bloom": "logsBloom", "difficulty": "difficulty",
        "number": "number", "gas_limit": "gasLimit", "gas_used": "gasUsed",
        "timestamp": "timestamp", "extra_data": "extraData", "mix_hash": "mixHash",
        "nonce": "nonce", "base_fee_per_gas": "baseFeePerGas",
        "withdrawals_root": "withdrawalsRoot", "blob_gas_used": "blobGasUsed",
        "excess_blob_gas": "excessBlobGas", "parent_beacon_block_root": "parentBeaconBlockRoot",
        "requests_hash": "requestsHash",
    }  # fmt: skip
    block: dict[str, Any] = {"hash": "0x" + h.hash().hex(), "totalDifficulty": "0x5"}
    for name in names:
        value = getattr(h, name)
        if value is not None:
            block[camel[name]] = hex(value) if isinstance(value, int) else "0x" + value.hex()
    return block


# ---------------------------------------------------------------------- headers


def test_header_round_trips_through_json_rpc_and_rlp() -> None:
    london = chain(KEYS[:3], 1)[0]
    later = dataclasses.replace(
        london,
        withdrawals_root=EMPTY_TRIE_ROOT,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=b"\x22" * 32,
        requests_hash=b"\x33" * 32,
    )
    pre_london = dataclasses.replace(london, base_fee_per_gas=None)
    for h in (london, later, pre_london):
        block = rpc_of(h)
        assert header_from_rpc(block) == h
        assert decode_header(h.encode()) == h
        assert claimed_hash(block) == h.hash() == keccak(h.encode())
        check_block_hash(h, h.hash())
    with pytest.raises(HeaderError, match=r"^header: block 10 hashes to"):
        check_block_hash(london, b"\x00" * 32)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parentHash": "0x1234"}, "header.parentHash"),
        ({"miner": "0xzz"}, "header.miner"),
        ({"number": "12"}, "header.number"),
        ({"number": "0x"}, "header.number"),
        ({"logsBloom": None}, "header.logsBloom"),
        ({"baseFeePerGas": None, "withdrawalsRoot": "0x" + "00" * 32}, "header.baseFeePerGas"),
    ],
)
def test_malformed_json_headers_name_the_field(change: dict[str, Any], field: str) -> None:
    block = {**rpc_of(chain(KEYS[:3], 1)[0]), **change}
    block = {k: v for k, v in block.items() if v is not None}
    with pytest.raises(HeaderError) as raised:
        header_from_rpc(block)
    assert raised.value.field == field


def test_header_rlp_must_be_a_canonical_header() -> None:
    h = chain(KEYS[:3], 1)[0]
    items = rlp.decode(h.encode())
    with pytest.raises(HeaderError, match="not RLP"):
        decode_header(h.encode()[:-1])
    with pytest.raises(HeaderError, match="14 items"):
        decode_header(rlp.encode(items[:14]))
    with pytest.raises(HeaderError, match=r"^header\.gasLimit: a list"):
        decode_header(rlp.encode([*items[:9], [b"x"], *items[10:]]))
    with pytest.raises(HeaderError, match=r"^headers\[2\]\.miner: 19 bytes"):
        decode_header(rlp.encode([*items[:2], b"\x01" * 19, *items[3:]]), "headers[2]")
    padded = [*items[:9], b"\x00" + items[9], *items[10:]]  # gasLimit with a leading zero
    with pytest.raises(HeaderError, match="canonical"):
        decode_header(rlp.encode(padded))


# ---------------------------------------------------------------------- Clique seals


def test_seal_recovers_its_signer_and_checkpoints_list_signers() -> None:
    h = chain(KEYS[:3], 1)[0]
    assert recover_signer(h) == address(KEYS[10 % 3])
    assert checkpoint_signers(h) == ()
    listed = b"".join(address(k) for k in KEYS[:3])
    checkpoint = sealed(h.with_extra_data(b"\x00" * VANITY + listed + b"\x00" * SEAL), KEYS[0])
    assert checkpoint_signers(checkpoint) == tuple(address(k) for k in KEYS[:3])
    assert recover_signer(checkpoint) == address(KEYS[0])
    with pytest.raises(CliqueError, match=r"^header\.extraData: 96 bytes, shorter"):
        recover_signer(h.with_extra_data(b"\x00" * 96))
    with pytest.raises(CliqueError, match="multiple of 20"):
        checkpoint_signers(h.with_extra_data(b"\x00" * (VANITY + 7 + SEAL)))
    bad_v = h.with_extra_data(h.extra_data[:-1] + b"\x1b")  # 27: geth's seals use 0 or 1
    with pytest.raises(CliqueError, match="does not recover"):
        recover_signer(bad_v)


def test_signer_history_says_who_may_seal_each_block() -> None:
    a, b, c, d = (address(k) for k in KEYS)
    sets = SignerHistory([SignerSet(0, frozenset({a, b, c})), SignerSet(20, frozenset({a, d}))])
    assert sets.may_seal(1) == sets.may_seal(20) == {a, b, c}
    assert sets.may_seal(21) == sets.signers_at(20) == {a, d}
    with pytest.raises(CliqueError, match="starts at block 5"):
        SignerHistory([SignerSet(5, frozenset({a}))]).may_seal(5)
    with pytest.raises(CliqueError, match="not after"):
        SignerHistory([SignerSet(5, frozenset({a})), SignerSet(5, frozenset({b}))])
    with pytest.raises(CliqueError, match="empty signer set"):
        SignerSet(0, frozenset())
    with pytest.raises(CliqueError, match="empty"):
        SignerHistory([])


def test_finality_over_a_chain_of_headers() -> None:
    signers = KEYS[:3]  # N = 3: two distinct signers on top
    headers = chain(signers, 3)
    anchor = headers[0].hash()
    evidence = verify_finality(headers, history(signers), anchor)
    assert evidence.anchor == headers[0] and evidence.final == headers[2]
    assert evidence.required == 2 and len(evidence.distinct_on_top) == 2
    assert evidence.sealers == tuple(recover_signer(h) for h in headers)
    five = [*KEYS[:4], OUTSIDER]  # N = 5 needs three
    with pytest.raises(CliqueError, match=r"2 distinct signer.*needs 3"):
        verify_finality(chain(five, 3), history(five), chain(five, 3)[0].hash())


def test_finality_refuses_each_broken_chain() -> None:
    signers = KEYS[:3]
    headers = chain(signers, 4)
    anchor = headers[0].hash()
    trusted = history(signers)

    def fails(bad: list[BlockHeader], field: str, anchor_hash: bytes = anchor) -> None:
        with pytest.raises(CliqueError) as raised:
            verify_finality(bad, trusted, anchor_hash)
        assert raised.value.field == field, raised.value

    fails([], "headers")
    fails(headers, "headers[0]", keccak(b"another anchor block"))
    fails([headers[0], headers[2], headers[3]], "headers[1].number")  # a header dropped
    fails([headers[0], headers[2], headers[1]], "headers[1].number")  # reordered
    fails(headers[:2], "headers")  # one signer on top: too few
    relinked = dataclasses.replace(headers[1], parent_hash=keccak(b"elsewhere"))
    fails([headers[0], sealed(relinked, signers[11 % 3])], "headers[1].parentHash")
    early = sealed(dataclasses.replace(headers[1], timestamp=1), signers[11 % 3])
    fails([headers[0], early], "headers[1].timestamp")
    # resealed by an unknown key, the rest of the chain fixed up to link to it
    forged = sealed(headers[1], OUTSIDER)
    fixed = sealed(dataclasses.replace(headers[2], parent_hash=forged.hash()), signers[12 % 3])
    fails([headers[0], forged, fixed], "headers[1].extraData")
    # one real signer sealing every block on top: still one distinct signer
    twice = sealed(dataclasses.replace(headers[2], parent_hash=headers[1].hash()), signers[11 % 3])
    fails([headers[0], headers[1], twice], "headers")
    # the anchor block itself sealed by an outsider
    fails(
        [sealed(headers[0], OUTSIDER)], "headers[0].extraData", sealed(headers[0], OUTSIDER).hash()
    )


def test_a_shrinking_signer_set_never_lowers_the_bar() -> None:
    headers = chain(KEYS[:2], 4, start=10)  # sealed alternately by KEYS[0] and KEYS[1]
    a, b = address(KEYS[0]), address(KEYS[1])
    others = frozenset({address(k) for k in KEYS[2:]} | {address(OUTSIDER)})
    wide = SignerSet(0, frozenset({a, b}) | others)  # five signers: three needed
    narrow = SignerSet(11, frozenset({a, b}))  # two signers from block 12 on: two needed
    with pytest.raises(CliqueError, match="needs 3"):
        verify_finality(headers, SignerHistory([wide, narrow]), headers[0].hash())
    assert verify_finality(
        headers, SignerHistory([SignerSet(0, frozenset({a, b}))]), headers[0].hash()
    )


# ---------------------------------------------------------------------- trie builder


def test_trie_builder_matches_py_trie() -> None:
    rng = random.Random(225)
    for size in (1, 2, 3, 16, 17, 130, 300):
        items = {receipt_key(i): rng.randbytes(rng.choice((1, 5, 40, 200))) for i in range(size)}
        reference = HexaryTrie({})
        for key, value in items.items():
            reference[key] = value
        assert trie_root(items) == reference.root_hash
        for key in [*list(items)[:20], receipt_key(size), b"\x99"]:
            root, proof = build_proof(items, key)
            assert verify_proof(root, key, proof) == items.get(key)
    # keys that are prefixes of others keep their values in branches
    nested = {b"\x01": b"a", b"\x01\x02": b"b", b"\x01\x02\x03": b"c", b"\x02": b"d"}
    reference = HexaryTrie({})
    for key, value in nested.items():
        reference[key] = value
    assert trie_root(nested) == reference.root_hash
    for key, value in nested.items():
        assert (
            verify_proof(*build_proof(nested, key)[:1], key, build_proof(nested, key)[1]) == value
        )
    assert build_proof({}, b"\x80") == (EMPTY_TRIE_ROOT, [])
    with pytest.raises(MptProofError, match="no empty values"):
        build_proof({b"\x01": b""}, b"\x01")


# ---------------------------------------------------------------------- receipts


def sample_receipts() -> list[Receipt]:
    log = Log(b"\x11" * 20, (keccak(b"topic"), b"\x00" * 32), b"data")
    bloom = b"\x00" * 255 + b"\x01"
    return [
        Receipt(0, 1, 21_000, bloom, ()),
        Receipt(1, 0, 50_000, bloom, (log,)),
        Receipt(2, 1, 90_000, bloom, (log, log)),
        Receipt(0, None, 120_000, bloom, (), post_state=b"\x44" * 32),  # pre-Byzantium
    ]


def test_receipt_encodings_round_trip() -> None:
    for receipt in sample_receipts():
        raw = receipt.encode()
        assert decode_receipt(raw) == receipt
        assert raw[0] >= 0xC0 if receipt.type == 0 else raw[0] == receipt.type
    failed = sample_receipts()[1].encode()
    assert rlp.decode(failed[1:])[0] == b""  # geth's encoding of a failed status
    as_json = {
        "type": "0x2",
        "status": "0x1",
        "cumulativeGasUsed": hex(90_000),
        "logsBloom": "0x" + sample_receipts()[2].logs_bloom.hex(),
        "logs": [
            {"address": "0x" + "11" * 20, "topics": ["0x" + t.hex() for t in log.topics],
             "data": "0x" + log.data.hex(), "logIndex": "0x0"}
            for log in sample_receipts()[2].logs
        ],
        "transactionHash": "0x" + "ab" * 32,
    }  # fmt: skip
    assert receipt_from_rpc(as_json) == sample_receipts()[2]
    with pytest.raises(ReceiptError) as raised:
        receipt_from_rpc({**as_json, "logs": [{**as_json["logs"][0], "topics": ["0x12"]}]})
    assert raised.value.field == "receipt.logs[0].topics"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "receipt"),
        (b"\x09" + rlp.encode([b"\x01", 1, b"\x00" * 256, []]), "receipt.type"),
        (rlp.encode([b"\x02", 1, b"\x00" * 256, []]), "receipt.status"),
        (rlp.encode([b"\x01", 1, b"\x00" * 255, []]), "receipt.logsBloom"),
        (
            rlp.encode([b"\x01", 1, b"\x00" * 256, [[b"\x01" * 20, b"", b""]]]),
            "receipt.logs[0].topics",
        ),
        (rlp.encode([b"\x01", b"\x00\x01", b"\x00" * 256, []]), "receipt.cumulativeGasUsed"),
        (rlp.encode([b"\x01", 1, b"\x00" * 256]), "receipt"),
    ],
)
def test_malformed_receipts_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ReceiptError) as raised:
        decode_receipt(raw)
    assert raised.value.field == field


def test_receipt_proofs_prove_one_receipt_and_refuse_any_tampering() -> None:
    receipts = sample_receipts() * 9  # 36: a branch at the root, leaves both hashed and not
    items = {receipt_key(i): r.encode() for i, r in enumerate(receipts)}
    root = trie_root(items)
    for index in (0, 1, 17, 35):
        proof = build_receipt_proof(receipts, index, root)
        assert verify_receipt_proof(root, index, proof) == receipts[index]
    proof = build_receipt_proof(receipts, 2, root)
    with pytest.raises(ReceiptError, match="no receipt at index 36"):
        verify_receipt_proof(root, 36, build_proof(items, receipt_key(36))[1])  # exclusion
    with pytest.raises(ReceiptError, match="receiptsRoot"):
        build_receipt_proof(receipts[:-1], 2, root)  # a receipt missing
    with pytest.raises(ReceiptError, match="not below"):
        build_receipt_proof(receipts, 36, root)
    for n, node in enumerate(proof):
        for position in range(len(node)):
            bad = node[:position] + bytes([node[position] ^ 0x01]) + node[position + 1 :]
            with pytest.raises(ReceiptError) as raised:
                verify_receipt_proof(root, 2, [*proof[:n], bad, *proof[n + 1 :]])
            assert raised.value.field.startswith("receipt.proof")
    with pytest.raises(ReceiptError, match=r"receipt\.proof"):
        verify_receipt_proof(root, 3, proof)  # another index's proof


# ---------------------------------------------------------------------- registry storage


def test_registry_storage_facts_match_the_compilers_storage_layout() -> None:
    layout = json.loads(STORAGE_LAYOUT_PATH.read_text())  # make test builds it
    variables = {v["label"]: v for v in layout["storage"]}
    types = layout["types"]

    def struct_of(mapping_type: str) -> dict[str, Any]:
        value = types[mapping_type]["value"]
        while types[value]["encoding"] == "mapping":
            value = types[value]["value"]
        return dict(types[value])

    nodes, anchors = variables["_nodes"], variables["_anchors"]
    assert (int(nodes["slot"]), nodes["offset"]) == (rs.NODES_SLOT, 0)
    assert (int(anchors["slot"]), anchors["offset"]) == (rs.ANCHORS_SLOT, 0)
    assert types[nodes["type"]]["key"] == "t_address"
    outer = types[anchors["type"]]
    assert outer["key"] == "t_address" and types[outer["value"]]["key"] == "t_bytes32"
    for variable, fields, size in (
        (nodes, rs.NODE_FIELDS, rs.NODE_SIZE),
        (anchors, rs.ANCHOR_FIELDS, rs.ANCHOR_SIZE),
    ):
        struct = struct_of(variable["type"])
        assert int(struct["numberOfBytes"]) == 32 * size
        members = {
            m["label"]: rs.Field(
                int(m["slot"]), m["offset"], int(types[m["type"]]["numberOfBytes"])
            )
            for m in struct["members"]
        }
        assert members == dict(fields)


def test_registry_slots_follow_soliditys_mapping_rule() -> None:
    node = "0x" + "12" * 20
    base = int.from_bytes(keccak(b"\x00" * 12 + b"\x12" * 20 + (0).to_bytes(32, "big")))
    assert rs.node_slot(node) == base
    assert rs.node_slots(node) == (base, base + 1, base + 2, base + 3)
    inner = keccak(b"\x00" * 12 + b"\x12" * 20 + (1).to_bytes(32, "big"))
    root = keccak(b"root")
    assert rs.anchor_slot(node, root) == int.from_bytes(keccak(root + inner))
    word = (7 << 0) | (1 << 64) | (1234 << 128) | (1_700_000_000 << 176) | (1 << 216)
    record = rs.decode_anchor(node, root, word)
    assert record is not None
    assert (record.seq, record.tree_size, record.block_number) == (7, 1, 1234)
    assert (record.timestamp, record.withdrawn) == (1_700_000_000, True)
    assert rs.decode_anchor(node, root, 7) is None  # no block number: never anchored
    with pytest.raises(rs.StorageError, match="is not proven"):
        rs.decode_node(node, {base: 1})
    with pytest.raises(rs.StorageError, match="not a node record"):
        rs.decode_node(node, {base: 9 << 32, base + 1: 0, base + 2: 0, base + 3: 0})
