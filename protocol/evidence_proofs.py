"""What a bundle's chain evidence proves, step by step (docs/PROTOCOL.md section 10).

Each step checks one piece against what is already established, and raises an
`EvidenceError` whose `field` names the piece at fault, prefixed ``evidence.``: the anchor
header against the bundle's block hash; the receipt and the transaction against that header's
roots; the registry's storage against the state root of a header the evidence carries; the
headers' seals against the trust root's signer history. The verifier maps each step to its
check (verifier/rules/evidence.py); the node runs them all before it stores evidence
(`prove_all`), so it never hands out evidence that does not verify. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import rlp
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from rlp.exceptions import DecodingError

from protocol.clique import FinalityEvidence, SignerHistory, verify_finality
from protocol.errors import EvidenceError
from protocol.evidence import EvidenceSection
from protocol.header import BlockHeader, HeaderError, decode_header
from protocol.mpt import MptProofError, verify_proof
from protocol.receipts import Receipt, head_anchored_logs, receipt_key, verify_receipt_proof
from protocol.registry_abi import AnchorRecord, HeadAnchoredLog, NodeRecord
from protocol.registry_storage import anchor_slot, decode_anchor, decode_node, proven_words

# Position of `to` in each transaction type's RLP list (legacy, EIP-2930, then EIP-1559 and
# the later types, which keep the 1559 prefix).
TO_POSITION: Final = {0: 3, 1: 4, 2: 5, 3: 5, 4: 5}


def _prefixed(error: EvidenceError) -> EvidenceError:
    field = error.field if error.field.startswith("evidence") else f"evidence.{error.field}"
    return EvidenceError(field, error.problem)


def decode_headers(evidence: EvidenceSection) -> tuple[BlockHeader, ...]:
    """Every header of the evidence, decoded (canonical RLP only)."""
    return tuple(
        decode_header(raw, f"evidence.headers[{i}]") for i, raw in enumerate(evidence.headers)
    )


def anchor_header(
    headers: Sequence[BlockHeader], block_number: int, block_hash: bytes
) -> BlockHeader:
    """headers[0], once shown to be the bundle's anchor block."""
    first = headers[0]
    if first.hash() != block_hash:
        raise EvidenceError(
            "evidence.headers[0]",
            f"hashes to 0x{first.hash().hex()}, not the anchor block 0x{block_hash.hex()}",
        )
    if first.number != block_number:
        raise EvidenceError(
            "evidence.headers[0].number",
            f"block {first.number}, but the bundle names block {block_number}",
        )
    return first


def prove_receipt(evidence: EvidenceSection, anchor: BlockHeader) -> Receipt:
    """The anchoring transaction's receipt, proven under the anchor block's receiptsRoot."""
    stated = evidence.receipt
    try:
        receipt = verify_receipt_proof(anchor.receipts_root, stated.index, stated.proof)
    except EvidenceError as error:
        raise _prefixed(error) from None
    if receipt.encode() != stated.value:
        raise EvidenceError(
            "evidence.receipt.value", "is not the receipt the proof proves at that index"
        )
    return receipt


def prove_head_anchored(
    receipt: Receipt, registry: str, node: str, seq: int, tree_size: int, root: bytes
) -> HeadAnchoredLog:
    """The receipt's `HeadAnchored` log of `registry` for exactly this head."""
    if not receipt.succeeded:
        raise EvidenceError("evidence.receipt.value", "the transaction failed: it anchored nothing")
    for log in head_anchored_logs(receipt, registry):
        if (
            log.node.lower() == node.lower()
            and log.seq == seq
            and log.tree_size == tree_size
            and log.root == root
        ):
            return log
    raise EvidenceError(
        "evidence.receipt.value",
        f"no HeadAnchored log of registry {registry} for node {node}, seq {seq}, "
        f"size {tree_size} and this root",
    )


def prove_transaction(
    evidence: EvidenceSection, anchor: BlockHeader, tx_hash: bytes, registry: str
) -> None:
    """The transaction at the receipt's index is the bundle's `tx_hash`, sent to `registry`."""
    stated = evidence.transaction
    index = evidence.receipt.index
    try:
        proven = verify_proof(anchor.transactions_root, receipt_key(index), stated.proof)
    except MptProofError as error:
        where = "" if error.index is None else f"[{error.index}]"
        raise EvidenceError(f"evidence.transaction.proof{where}", error.problem) from None
    if proven is None:
        raise EvidenceError(
            "evidence.transaction.proof", f"the block has no transaction at index {index}"
        )
    if proven != stated.value:
        raise EvidenceError(
            "evidence.transaction.value", "is not the transaction the proof proves at that index"
        )
    if keccak(proven) != tx_hash:
        raise EvidenceError(
            "evidence.transaction.value",
            f"transaction {index} of the block hashes to 0x{keccak(proven).hex()}, "
            f"not the bundle's 0x{tx_hash.hex()}",
        )
    to = transaction_to(proven)
    if to != to_canonical_address(registry):
        shown = to_checksum_address(to) if len(to) == 20 else "nobody (a contract creation)"
        raise EvidenceError(
            "evidence.transaction.value", f"was sent to {shown}, not the registry {registry}"
        )


def transaction_to(raw: bytes) -> bytes:
    """The `to` address of a transaction's consensus encoding (empty for a creation)."""
    if not raw:
        raise EvidenceError("evidence.transaction.value", "empty")
    kind, payload = (0, raw) if raw[0] >= 0xC0 else (raw[0], raw[1:])
    if kind not in TO_POSITION:
        raise EvidenceError("evidence.transaction.value", f"unknown transaction type {kind}")
    try:
        items = rlp.decode(payload)
    except DecodingError as error:
        raise EvidenceError("evidence.transaction.value", f"not RLP: {error}") from None
    position = TO_POSITION[kind]
    if not isinstance(items, list) or len(items) <= position:
        raise EvidenceError("evidence.transaction.value", "not a transaction")
    to = items[position]
    if not isinstance(to, bytes) or len(to) not in (0, 20):
        raise EvidenceError("evidence.transaction.value", "its `to` is not an address")
    return to


@dataclass(frozen=True)
class ProvenState:
    """The registry's records at a block the evidence carries."""

    header: BlockHeader
    node: NodeRecord
    anchor: AnchorRecord | None


def prove_state(
    evidence: EvidenceSection,
    headers: Sequence[BlockHeader],
    registry: str,
    node: str,
    root: bytes,
) -> ProvenState:
    """The node record and the anchor record, proven at `state.block_number`'s state root."""
    state = evidence.state
    header = next((h for h in headers if h.number == state.block_number), None)
    if header is None:
        raise EvidenceError(
            "evidence.state.block_number",
            f"block {state.block_number} is not among the evidence's headers",
        )
    try:
        words = proven_words(header.state_root, registry, state.account_proof, state.slot_proofs())
    except EvidenceError as error:
        raise _prefixed(_slot_index(error, evidence)) from None
    for position, entry in enumerate(state.slots):
        if words[entry.slot] != entry.value:
            raise EvidenceError(
                f"evidence.state.slots[{position}].value",
                "is not the value its proof proves",
            )
    try:
        record = decode_node(node, words)
    except EvidenceError as error:
        raise _prefixed(error) from None
    slot = anchor_slot(node, root)
    if slot not in words:
        raise EvidenceError("evidence.state.slots", "the anchor record's slot is not proven")
    return ProvenState(header, record, decode_anchor(node, root, words[slot]))


def _slot_index(error: EvidenceError, evidence: EvidenceSection) -> EvidenceError:
    """``storage.slots[0x…][2]`` → ``state.slots[i].proof[2]``: name the bundle's field."""
    for position, entry in enumerate(evidence.state.slots):
        named = f"storage.slots[{hex(entry.slot)}]"
        if error.field.startswith(named):
            rest = error.field[len(named) :]
            return EvidenceError(f"state.slots[{position}].proof{rest}", error.problem)
    if error.field.startswith("storage.account_proof"):
        rest = error.field[len("storage.account_proof") :]
        return EvidenceError(f"state.account_proof{rest}", error.problem)
    return error


def prove_finality(
    headers: Sequence[BlockHeader], history: SignerHistory, block_hash: bytes
) -> FinalityEvidence:
    """The anchor block is final: ⌊N/2⌋+1 distinct authorised signers sealed on top of it."""
    try:
        return verify_finality(headers, history, block_hash)
    except (EvidenceError, HeaderError) as error:
        raise _prefixed(error) from None


@dataclass(frozen=True)
class ProvenAnchor:
    """Everything the evidence proved about one anchor."""

    headers: tuple[BlockHeader, ...]
    anchor: BlockHeader
    log: HeadAnchoredLog
    state: ProvenState
    finality: FinalityEvidence


def prove_all(
    evidence: EvidenceSection,
    *,
    history: SignerHistory,
    registry: str,
    node: str,
    seq: int,
    tree_size: int,
    root: bytes,
    tx_hash: bytes,
    block_number: int,
    block_hash: bytes,
) -> ProvenAnchor:
    """Every step at once (a producer's self-check); raises the first EvidenceError."""
    headers = decode_headers(evidence)
    anchor = anchor_header(headers, block_number, block_hash)
    receipt = prove_receipt(evidence, anchor)
    log = prove_head_anchored(receipt, registry, node, seq, tree_size, root)
    prove_transaction(evidence, anchor, tx_hash, registry)
    state = prove_state(evidence, headers, registry, node, root)
    record = state.anchor
    if record is None or record.withdrawn or record.seq != seq or record.tree_size != tree_size:
        raise EvidenceError("evidence.state.slots", "the anchor record does not match the head")
    finality = prove_finality(headers, history, block_hash)
    return ProvenAnchor(headers, anchor, log, state, finality)


__all__ = [
    "TO_POSITION",
    "ProvenAnchor",
    "ProvenState",
    "anchor_header",
    "decode_headers",
    "prove_all",
    "prove_finality",
    "prove_head_anchored",
    "prove_receipt",
    "prove_state",
    "prove_transaction",
    "transaction_to",
]
