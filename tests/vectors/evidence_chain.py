"""A synthetic Clique chain for the version-3 vectors: one anchor, its evidence, its trust root.

Deterministic (fixed signer keys, fixed times), built with `protocol`'s own trie and header code
and sealed as EIP-225 says, so a verifier checks it exactly as a real chain's evidence
(tests/test_offline_evidence.py covers a real one). It also yields the chain facts an online
verifier would read (`chain_json`, served by `RecordedChain`), so the vectors can show online
and offline verdicts agreeing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from protocol.clique import SEAL, VANITY, SignerSet
from protocol.evidence import (
    EvidenceSection,
    ReceiptEvidence,
    SlotEvidence,
    StateEvidence,
    TransactionEvidence,
)
from protocol.header import EMPTY_UNCLES_HASH, BlockHeader
from protocol.mpt import EMPTY_CODE_HASH, build_proof
from protocol.receipts import Log, Receipt, receipt_key
from protocol.registry_abi import HEAD_ANCHORED_TOPIC
from protocol.registry_storage import anchor_slot, node_slot, node_slots
from protocol.trust_root import RegistryFacts, TrustRoot

SIGNER_KEYS = tuple(PrivateKey(keccak(f"vector signer {i}".encode())) for i in range(3))
NODE_NAME = "千代田区"
ANCHOR_BLOCK = 12
BLOCK_TIME = 1


@dataclass(frozen=True)
class Anchor:
    chain_id: int
    registry: str
    node: str
    lg_code: int
    seq: int
    tree_size: int
    root: bytes
    timestamp: int


@dataclass(frozen=True)
class SyntheticChain:
    evidence: EvidenceSection
    block_hash: bytes
    tx_hash: bytes
    trust_root: TrustRoot
    chain: dict[str, Any]
    """chain.json's shape (`RecordedChain`): what the registry would answer online."""


def _word(value: bytes) -> bytes:
    return value.rjust(32, b"\x00")


def _short_string(text: str) -> int:
    data = text.encode("utf-8")
    assert len(data) < 32
    return int.from_bytes(data.ljust(31, b"\x00") + bytes([2 * len(data)]), "big")


def _sealed(header: BlockHeader, key: PrivateKey) -> BlockHeader:
    unsealed = header.with_extra_data(bytes(VANITY))
    signature = key.sign_msg_hash(unsealed.hash())
    sealed = header.with_extra_data(bytes(VANITY) + signature.to_bytes())
    assert len(sealed.extra_data) == VANITY + SEAL
    return sealed


def _header(
    number: int, parent: bytes, timestamp: int, gas_used: int = 0, **roots: bytes
) -> BlockHeader:
    empty = keccak(rlp.encode(b""))
    return BlockHeader(
        parent_hash=parent,
        uncles_hash=EMPTY_UNCLES_HASH,
        coinbase=bytes(20),
        state_root=roots.get("state", empty),
        transactions_root=roots.get("transactions", empty),
        receipts_root=roots.get("receipts", empty),
        logs_bloom=bytes(256),
        difficulty=2,
        number=number,
        gas_limit=30_000_000,
        gas_used=gas_used,
        timestamp=timestamp,
        extra_data=bytes(VANITY + SEAL),
        mix_hash=bytes(32),
        nonce=bytes(8),
        base_fee_per_gas=7,
    )


def build_chain(anchor: Anchor) -> SyntheticChain:
    """The anchor block (a single transaction: `anchor(seq, treeSize, root)` to the registry),
    two blocks sealed on top by the other signers, and the registry's state after it."""
    registry = to_canonical_address(anchor.registry)
    node = to_canonical_address(anchor.node)
    # The transaction: only its hash and `to` matter to the evidence (legacy RLP, fixed seal).
    calldata = (
        keccak(b"anchor(uint64,uint64,bytes32)")[:4]
        + b"".join(
            _word(v) for v in (anchor.seq.to_bytes(8, "big"), anchor.tree_size.to_bytes(8, "big"))
        )
        + anchor.root
    )
    raw_tx = rlp.encode([anchor.seq, 7, 100_000, registry, 0, calldata, 27, 1, 1])
    tx_hash = keccak(raw_tx)
    log = Log(
        address=registry,
        topics=(
            HEAD_ANCHORED_TOPIC,
            _word(node),
            anchor.lg_code.to_bytes(32, "big"),
            anchor.seq.to_bytes(32, "big"),
        ),
        data=anchor.tree_size.to_bytes(32, "big") + anchor.root + bytes(64),
    )
    receipt = Receipt(0, 1, 60_000, bytes(256), (log,))
    tx_root, tx_proof = build_proof({receipt_key(0): raw_tx}, receipt_key(0))
    receipts_root, receipt_proof = build_proof({receipt_key(0): receipt.encode()}, receipt_key(0))

    # The registry's storage: the node record (active) and the anchor record.
    base = node_slot(node)
    words = {
        base: anchor.lg_code | 1 << 32 | (anchor.seq + 1) << 40 | anchor.tree_size << 104,
        base + 2: int.from_bytes(anchor.root, "big"),
        base + 3: _short_string(NODE_NAME),
        anchor_slot(node, anchor.root): (
            anchor.seq | anchor.tree_size << 64 | ANCHOR_BLOCK << 128 | anchor.timestamp << 176
        ),
    }
    storage = {keccak(s.to_bytes(32, "big")): rlp.encode(v) for s, v in words.items()}
    wanted = sorted({*node_slots(node), anchor_slot(node, anchor.root)})
    storage_root = build_proof(storage, b"")[0]
    slots = tuple(
        SlotEvidence(
            s, words.get(s, 0), tuple(build_proof(storage, keccak(s.to_bytes(32, "big")))[1])
        )
        for s in wanted
    )
    code_hash = keccak(b"synthetic registry code")
    accounts = {
        keccak(registry): rlp.encode([1, 0, storage_root, code_hash]),
        keccak(node): rlp.encode(
            [anchor.seq + 1, 10**18, keccak(rlp.encode(b"")), EMPTY_CODE_HASH]
        ),
    }
    state_root, account_proof = build_proof(accounts, keccak(registry))

    genesis = keccak(b"synthetic genesis")
    headers = []
    parent = keccak(b"synthetic block 11")
    for offset, key in enumerate(SIGNER_KEYS):
        number = ANCHOR_BLOCK + offset
        if offset == 0:
            header = _header(
                number,
                parent,
                anchor.timestamp,
                state=state_root,
                transactions=tx_root,
                receipts=receipts_root,
                gas_used=60_000,
            )
        else:
            header = _header(
                number, parent, anchor.timestamp + offset * BLOCK_TIME, state=state_root
            )
        sealed = _sealed(header, key)
        headers.append(sealed)
        parent = sealed.hash()
    last = headers[-1]
    evidence = EvidenceSection(
        headers=tuple(h.encode() for h in headers),
        receipt=ReceiptEvidence(0, receipt.encode(), tuple(receipt_proof)),
        transaction=TransactionEvidence(raw_tx, tuple(tx_proof)),
        state=StateEvidence(last.number, tuple(account_proof), slots),
    )
    signers = frozenset(k.public_key.to_canonical_address() for k in SIGNER_KEYS)
    trust_root = TrustRoot(
        chain_id=anchor.chain_id,
        genesis_hash=genesis,
        registry=RegistryFacts(to_checksum_address(registry), code_hash),
        signer_sets=(SignerSet(0, signers),),
    )
    block_hash = headers[0].hash()
    chain = {
        "description": "The synthetic chain of the v3 vectors (tests.vectors.evidence_chain).",
        "chain_id": anchor.chain_id,
        "registry": to_checksum_address(registry),
        "latest_block": last.number,
        "finality_depth": 2,
        "anchors": [
            {
                "root": anchor.root.hex(),
                "node": to_checksum_address(node),
                "seq": anchor.seq,
                "tree_size": anchor.tree_size,
                "block_number": ANCHOR_BLOCK,
                "timestamp": anchor.timestamp,
                "withdrawn": False,
            }
        ],
        "transactions": [
            {
                "tx_hash": "0x" + tx_hash.hex(),
                "block_number": ANCHOR_BLOCK,
                "block_hash": "0x" + block_hash.hex(),
                "status": 1,
                "to": to_checksum_address(registry),
                "head_anchored": [
                    {
                        "node": to_checksum_address(node),
                        "lg_code": anchor.lg_code,
                        "seq": anchor.seq,
                        "tree_size": anchor.tree_size,
                        "root": anchor.root.hex(),
                        "previous_tree_size": 0,
                    }
                ],
            }
        ],
        "blocks": [
            {"number": h.number, "hash": "0x" + h.hash().hex(), "timestamp": h.timestamp}
            for h in headers
        ],
        "nodes": [
            {"address": to_checksum_address(node), "lg_code": anchor.lg_code, "status": "ACTIVE"}
        ],
    }
    return SyntheticChain(evidence, block_hash, tx_hash, trust_root, chain)
