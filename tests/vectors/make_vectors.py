"""Write the protocol test vectors under tests/vectors/ (docs/PROTOCOL.md, "Test vectors").

    python -m tests.vectors.make_vectors [--new-signing-material] [--check]

Everything is a pure function of the committed signing material in ``signing/`` (a JPKI-TEST
CA and signer certificate, a CRL and two signatures), so re-running writes byte-identical
files and ``--check`` (and the test suite) can prove the committed vectors are current.
``--new-signing-material`` makes that material afresh with new random keys, which are
discarded: no private key is ever written to the repository.

What is written:
- ``leaf-vectors.json``: leaf encodings and leaf hashes of both entry kinds, salted digests;
- ``bundles/*.json``: valid (CMS and PKCS#1), pending and revoked bundles;
- ``bundles/invalid/*.json``: the valid CMS bundle with one field changed, each rejected by
  the check named in ``expected.json``;
- ``malformed/*``: bundles a strict parser must refuse, with the field it must name;
- ``chain.json``: the chain facts (anchors, transactions, blocks, the node) the offline tests
  serve through `RecordedChain`; chain tests make their own anchors on real engines;
- ``v3/``: version-3 bundles (chain evidence); ``v4/``: version-4 bundles (seals, smartphone
  and user-authentication signers, events, requesters: tests/vectors/v4.py).
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from anchor import AnchorRecord, NodeRecord, NodeStatus
from protocol.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    build_bundle,
    build_revocation_section,
    bundle_to_json,
    dump_bundle,
    format_time,
    make_document_entry,
)
from protocol.leaf import (
    COMMITTED_SIGNER_VERSION,
    LEGACY_ENCODING_VERSION,
    DocumentEntry,
    DocumentType,
    RevocationEntry,
    RevocationReason,
    SignatureFormat,
    salted_digest,
    signer_commitment,
    unix_seconds,
)
from protocol.merkle import MerkleTree
from protocol.signed_head import head_timestamp_digest
from protocol.trust_root import dump_trust_root
from tests.vectors.evidence_chain import ANCHOR_BLOCK, Anchor, build_chain
from tests.vectors.tsa_token import TestTsa
from tests.vectors.v4 import build_v4_vectors, create_v4_material
from verifier.chain import AnchorFacts, HeadAnchoredLog, TransactionFacts

VECTORS = Path(__file__).resolve().parent
SIGNING = "signing"
CHAIN_ID = 31337
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
LG_CODE = 131016
LATEST_BLOCK = 40
FINALITY_DEPTH = 2
VERIFY_AT = "2026-03-01T00:00:00Z"
"""The `now` the offline vector tests use (a fixed clock keeps them reproducible)."""

SIGNING_TIME = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
ISSUED_AT = datetime(2026, 1, 15, 8, 59, 0, tzinfo=UTC)
HEAD0_TIME = datetime(2026, 1, 15, 9, 1, 0, tzinfo=UTC)
HEAD1_TIME = datetime(2026, 2, 1, 10, 0, 0, tzinfo=UTC)
REVOKED_AT = datetime(2026, 2, 1, 9, 30, 0, tzinfo=UTC)

DOCUMENTS = {
    "documents/resident-record.txt": (
        "住民票の写し (TEST VECTOR)\n"
        "This synthetic document stands for a copy of a resident record.\n"
        "It describes no real person. 発行: 千代田区 (試験)\n"
    ),
    "documents/income-certificate.txt": (
        "所得証明書 (TEST VECTOR)\n"
        "This synthetic document stands for an income certificate.\n"
        "It describes no real person. 発行: 千代田区 (試験)\n"
    ),
}


# --------------------------------------------------------------------------- signing material


def create_signing_material() -> dict[str, bytes]:
    """A fresh JPKI-TEST CA, signer, CRL and the two signatures; the keys are discarded."""
    from devtools.cms_sign import sign_cms, sign_raw
    from devtools.testca import (
        SIGN_OU,
        TSUKUBA,
        SyntheticPerson,
        crl_distribution_point_name,
        make_crl,
        make_root,
        make_signature_ee,
        new_key,
        sign_ca_name,
    )

    ca_key, signer_key = new_key(), new_key()
    ca = make_root(
        sign_ca_name(), ca_key, datetime(2025, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC)
    )
    person = SyntheticPerson("試験 ベクトル", "1", "420000101", "東京都千代田区試験町一丁目1番地")
    signer = make_signature_ee(
        issuer_cert=ca,
        issuer_key=ca_key,
        key=signer_key,
        place=TSUKUBA,
        person=person,
        not_before=datetime(2025, 6, 1, tzinfo=UTC),
        not_after=datetime(2030, 6, 1, tzinfo=UTC),
    )
    crl = make_crl(
        issuer_cert=ca,
        issuer_key=ca_key,
        distribution_point=crl_distribution_point_name(SIGN_OU, TSUKUBA),
        revoked=[],
        this_update=datetime(2026, 1, 16, tzinfo=UTC),
        next_update=datetime(2026, 1, 17, tzinfo=UTC),
    )
    resident, income = (text.encode() for text in DOCUMENTS.values())
    return {
        f"{SIGNING}/ca.pem": ca.public_bytes(Encoding.PEM),
        f"{SIGNING}/signer.pem": signer.public_bytes(Encoding.PEM),
        f"{SIGNING}/crl.der": crl.public_bytes(Encoding.DER),
        f"{SIGNING}/resident-record.p7s": sign_cms(
            resident, key=signer_key, cert=signer, chain=[ca], signing_time=SIGNING_TIME
        ),
        f"{SIGNING}/income-certificate.sig": sign_raw(income, signer_key),
    }


@dataclass(frozen=True)
class SigningMaterial:
    ca_der: bytes
    signer_der: bytes
    cms: bytes
    pkcs1: bytes
    crl: bytes

    @classmethod
    def load(cls, root: Path = VECTORS) -> SigningMaterial:
        def der(name: str) -> bytes:
            cert = x509.load_pem_x509_certificate((root / SIGNING / name).read_bytes())
            return cert.public_bytes(Encoding.DER)

        return cls(
            ca_der=der("ca.pem"),
            signer_der=der("signer.pem"),
            cms=(root / SIGNING / "resident-record.p7s").read_bytes(),
            pkcs1=(root / SIGNING / "income-certificate.sig").read_bytes(),
            crl=(root / SIGNING / "crl.der").read_bytes(),
        )


# --------------------------------------------------------------------------- the recorded chain


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def tx_hash(n: int) -> bytes:
    return _h(f"vector transaction {n}")


def block_hash(n: int) -> bytes:
    return _h(f"vector block {n}")


@dataclass(frozen=True)
class Head:
    seq: int
    tree: MerkleTree
    block: int
    time: datetime
    tx: int

    def section(self) -> HeadSection:
        return HeadSection(self.seq, self.tree.size, self.tree.root)

    def anchor(self) -> AnchorSection:
        return AnchorSection(
            CHAIN_ID, REGISTRY, NODE, LG_CODE, tx_hash(self.tx), self.block, block_hash(self.block)
        )

    def inclusion(self, index: int) -> InclusionSection:
        return InclusionSection(index, self.tree.size, tuple(self.tree.inclusion_proof(index)))


class RecordedChain:
    """A `ChainReader` answering from chain.json: what a real registry would have said."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.anchors = {bytes.fromhex(a["root"]): a for a in data["anchors"]}
        self.transactions = {bytes.fromhex(t["tx_hash"][2:]): t for t in data["transactions"]}
        self.blocks = {b["number"]: b for b in data["blocks"]}
        self.nodes = {n["address"].lower(): n for n in data["nodes"]}
        self.reads = 0

    @classmethod
    def load(cls, root: Path = VECTORS) -> RecordedChain:
        return cls(json.loads((root / "chain.json").read_text(encoding="utf-8")))

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        self.reads += 1
        latest = self.data["latest_block"]
        raw = self.anchors.get(head.root)
        record = None
        if raw is not None:
            record = AnchorRecord(
                root=head.root,
                node=raw["node"],
                seq=raw["seq"],
                tree_size=raw["tree_size"],
                block_number=raw["block_number"],
                timestamp=raw["timestamp"],
                withdrawn=raw["withdrawn"],
            )
        tx = self.transactions.get(anchor.tx_hash)
        transaction = None
        if tx is not None:
            transaction = TransactionFacts(
                block_number=tx["block_number"],
                block_hash=bytes.fromhex(tx["block_hash"][2:]),
                succeeded=tx["status"] == 1,
                to=tx["to"],
                head_anchored=tuple(
                    HeadAnchoredLog(
                        log["node"],
                        log["lg_code"],
                        log["seq"],
                        log["tree_size"],
                        bytes.fromhex(log["root"]),
                    )
                    for log in tx["head_anchored"]
                ),
            )
        block = self.blocks.get(anchor.block_number)
        node_block = record.block_number if record is not None else anchor.block_number
        raw_node = self.nodes.get(anchor.node.lower())
        node = None
        if node_block <= latest:
            node = NodeRecord(
                address=anchor.node,
                lg_code=raw_node["lg_code"] if raw_node else 0,
                status=NodeStatus[raw_node["status"]] if raw_node else NodeStatus.UNREGISTERED,
                next_seq=0,
                tree_size=0,
                root=bytes(32),
                successor=None,
                name="",
            )
        return AnchorFacts(
            endpoint="recorded",
            chain_id=self.data["chain_id"],
            latest_block=latest,
            finality_depth=self.data["finality_depth"],
            finality_source="recorded in chain.json",
            record=record,
            transaction=transaction,
            canonical_block_hash=bytes.fromhex(block["hash"][2:]) if block else None,
            block_timestamp=block["timestamp"] if block else None,
            node=node,
            node_block=node_block,
        )


def _chain_json(heads: list[Head]) -> dict[str, Any]:
    anchors, transactions, blocks = [], [], []
    previous = 0
    for head in heads:
        timestamp = unix_seconds(head.time)
        anchors.append(
            {
                "root": head.tree.root.hex(),
                "node": NODE,
                "seq": head.seq,
                "tree_size": head.tree.size,
                "block_number": head.block,
                "timestamp": timestamp,
                "withdrawn": False,
            }
        )
        transactions.append(
            {
                "tx_hash": "0x" + tx_hash(head.tx).hex(),
                "block_number": head.block,
                "block_hash": "0x" + block_hash(head.block).hex(),
                "status": 1,
                "to": REGISTRY,
                "head_anchored": [
                    {
                        "node": NODE,
                        "lg_code": LG_CODE,
                        "seq": head.seq,
                        "tree_size": head.tree.size,
                        "root": head.tree.root.hex(),
                        "previous_tree_size": previous,
                    }
                ],
            }
        )
        blocks.append(
            {
                "number": head.block,
                "hash": "0x" + block_hash(head.block).hex(),
                "timestamp": timestamp,
            }
        )
        previous = head.tree.size
    return {
        "description": "Chain facts the offline vector tests serve (tests.vectors.RecordedChain).",
        "chain_id": CHAIN_ID,
        "registry": REGISTRY,
        "latest_block": LATEST_BLOCK,
        "finality_depth": FINALITY_DEPTH,
        "anchors": anchors,
        "transactions": transactions,
        "blocks": blocks,
        "nodes": [{"address": NODE, "lg_code": LG_CODE, "status": "ACTIVE"}],
    }


# --------------------------------------------------------------------------- the log


def _filler(i: int) -> DocumentEntry:
    return DocumentEntry(
        salted_digest=_h(f"filler document {i}"),
        lg_code=LG_CODE,
        document_type=DocumentType.RESIDENT_RECORD_COPY,
        issued_at=unix_seconds(ISSUED_AT) - 600 + i,
        signing_time=unix_seconds(ISSUED_AT) - 600 + i,
        signature_format=SignatureFormat.CMS,
        signer_ref=_h(f"filler signer {i}"),
        signature_sha256=_h(f"filler signature {i}"),
        version=COMMITTED_SIGNER_VERSION,
    )


@dataclass(frozen=True)
class Log:
    """The vector log: 7 entries under head 0, then a filler and a revocation under head 1.

    These are pre-seal entries: the CMS entry has leaf encoding version 2 (signer commitment),
    the PKCS#1 entry version 1 (the signer's plain SHA-256), as the first logs wrote them, both
    registered types signed with a JPKI card. Their expected verdicts are under
    `require_municipal_seal` off (`--accept-unsealed`), so each still exercises the check it
    was made for; under the default policy they fail issuer_policy (expected.json says so)."""

    cms_entry: DocumentEntry
    pkcs1_entry: DocumentEntry
    revocation: RevocationEntry
    head0: Head
    head1: Head

    CMS_INDEX = 5
    PKCS1_INDEX = 6
    REVOCATION_INDEX = 8


def salt_for(name: str) -> bytes:
    """Vector salts are derived so the vectors are reproducible; a node draws them at random."""
    return _h(f"vector salt: {name}")


def build_log(material: SigningMaterial) -> Log:
    resident, income = (text.encode() for text in DOCUMENTS.values())
    cms_entry = dataclasses.replace(
        make_document_entry(
            document_sha256=hashlib.sha256(resident).digest(),
            salt=salt_for("resident-record"),
            lg_code=LG_CODE,
            document_type=DocumentType.RESIDENT_RECORD_COPY,
            issued_at=ISSUED_AT,
            signing_time=SIGNING_TIME,
            signature_format=SignatureFormat.CMS,
            signature=material.cms,
            signer_certificate=material.signer_der,
        ),
        version=COMMITTED_SIGNER_VERSION,
    )
    pkcs1_entry = dataclasses.replace(
        make_document_entry(
            document_sha256=hashlib.sha256(income).digest(),
            salt=salt_for("income-certificate"),
            lg_code=LG_CODE,
            document_type=DocumentType.INCOME_TAX_ASSESSMENT,
            issued_at=ISSUED_AT,
            signing_time=SIGNING_TIME,
            signature_format=SignatureFormat.PKCS1,
            signature=material.pkcs1,
            signer_certificate=material.signer_der,
        ),
        signer_ref=hashlib.sha256(material.signer_der).digest(),
        version=LEGACY_ENCODING_VERSION,
    )
    revocation = RevocationEntry(
        revoked_leaf_hash=pkcs1_entry.leaf_hash(),
        lg_code=LG_CODE,
        reason=RevocationReason.SUPERSEDED,
        revoked_at=unix_seconds(REVOKED_AT),
    )
    leaves = [_filler(i).leaf_hash() for i in range(5)]
    leaves += [cms_entry.leaf_hash(), pkcs1_entry.leaf_hash(), _filler(7).leaf_hash()]
    leaves += [revocation.leaf_hash()]
    head0 = Head(0, MerkleTree(leaves[:7]), block=5, time=HEAD0_TIME, tx=5)
    head1 = Head(1, MerkleTree(leaves), block=9, time=HEAD1_TIME, tx=9)
    return Log(cms_entry, pkcs1_entry, revocation, head0, head1)


# --------------------------------------------------------------------------- the vectors

Mutation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    mutate: Mutation
    failed_check: str
    status: str = "invalid"


def _set(path: str, value: Any) -> Mutation:
    def mutate(bundle: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = bundle
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _flip_hex(path: str, index: int | None = None) -> Mutation:
    """Flip the lowest bit of the last hex digit of a string field (or of one list item)."""

    def flip(value: str) -> str:
        return value[:-1] + format(int(value[-1], 16) ^ 1, "x")

    def mutate(bundle: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = bundle
        for part in parents:
            target = target[part]
        if index is None:
            target[last] = flip(target[last])
        else:
            target[last][index] = flip(target[last][index])

    return mutate


def _set_item(path: str, index: int, value: Any) -> Mutation:
    def mutate(bundle: dict[str, Any]) -> None:
        target = bundle
        for part in path.split("."):
            target = target[part]
        target[index] = value

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(bundle: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(bundle)

    return mutate


def _mutations(log: Log, material: SigningMaterial) -> list[Case]:
    def with_leaf_hash(mutation: Mutation, **changes: Any) -> Mutation:
        """`mutation`, then leaf.leaf_hash recomputed as a forger would."""

        def mutate(bundle: dict[str, Any]) -> None:
            mutation(bundle)
            fields = {**_entry_fields(log.cms_entry), **changes}
            bundle["leaf"]["leaf_hash"] = DocumentEntry(**fields).leaf_hash().hex()

        return mutate

    def swap_signer(bundle: dict[str, Any]) -> None:
        bundle["signature"]["certificates"][0] = base64.b64encode(material.ca_der).decode()

    def corrupt_signature(bundle: dict[str, Any]) -> None:
        raw = bytearray(material.cms)
        raw[-1] ^= 0x01  # inside the RSA signature value, the last field of the CMS
        bundle["signature"]["value"] = base64.b64encode(bytes(raw)).decode()

    next_second = format_time(unix_seconds(SIGNING_TIME) + 1)
    later = format_time(unix_seconds(ISSUED_AT) + 3600)
    return [
        Case(
            "leaf-index",
            "inclusion.leaf_index 5 → 4",
            _set("inclusion.leaf_index", 4),
            "merkle_inclusion",
        ),
        Case(
            "path-element",
            "last hex digit of inclusion.path[1] flipped",
            _flip_hex("inclusion.path", 1),
            "merkle_inclusion",
        ),
        Case(
            "tree-size",
            "inclusion.tree_size 7 → 6 (head still 7)",
            _set("inclusion.tree_size", 6),
            "merkle_inclusion",
        ),
        Case(
            "tree-size-both",
            "inclusion.tree_size and head.tree_size 7 → 8: the path still leads to the root, "
            "but the registry recorded 7",
            _both(_set("inclusion.tree_size", 8), _set("head.tree_size", 8)),
            "head_anchored",
        ),
        Case(
            "root",
            "last hex digit of head.root flipped",
            _flip_hex("head.root"),
            "merkle_inclusion",
        ),
        Case("head-seq", "head.seq 0 → 1", _set("head.seq", 1), "head_anchored"),
        Case(
            "tx-hash",
            "last hex digit of anchor.tx_hash flipped",
            _flip_hex("anchor.tx_hash"),
            "anchor_transaction",
        ),
        Case(
            "block-number",
            "anchor.block_number 5 → 6",
            _set("anchor.block_number", 6),
            "anchor_transaction",
        ),
        Case(
            "block-hash",
            "last hex digit of anchor.block_hash flipped",
            _flip_hex("anchor.block_hash"),
            "anchor_transaction",
        ),
        Case("chain-id", "anchor.chain_id 31337 → 1", _set("anchor.chain_id", 1), "chain_id"),
        Case(
            "registry",
            "anchor.registry replaced by another address",
            _set("anchor.registry", "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            "registry",
        ),
        Case(
            "node",
            "anchor.node replaced by another address",
            _set("anchor.node", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            "head_anchored",
        ),
        Case(
            "anchor-lg-code",
            'anchor.lg_code "131016" → "011002"',
            _set("anchor.lg_code", "011002"),
            "node_authorised",
        ),
        Case(
            "leaf-lg-code",
            'leaf.lg_code "131016" → "011002"',
            _set("leaf.lg_code", "011002"),
            "document_leaf",
        ),
        Case(
            "leaf-lg-code-rehashed",
            'leaf.lg_code "131016" → "011002" and leaf.leaf_hash recomputed to match',
            with_leaf_hash(_set("leaf.lg_code", "011002"), lg_code=11002),
            "merkle_inclusion",
        ),
        Case(
            "salt", "last hex digit of leaf.salt flipped", _flip_hex("leaf.salt"), "document_leaf"
        ),
        Case(
            "leaf-hash",
            "last hex digit of leaf.leaf_hash flipped",
            _flip_hex("leaf.leaf_hash"),
            "document_leaf",
        ),
        Case(
            "document-type",
            "leaf.document_type 1 → 3",
            _set("leaf.document_type", 3),
            "document_leaf",
        ),
        Case(
            "document-type-rehashed",
            "leaf.document_type 1 → 3 and leaf.leaf_hash recomputed to match",
            with_leaf_hash(_set("leaf.document_type", 3), document_type=3),
            "merkle_inclusion",
        ),
        Case(
            "issued-at", f"leaf.issued_at → {later}", _set("leaf.issued_at", later), "document_leaf"
        ),
        Case(
            "signing-time",
            f"leaf.signing_time → {next_second}",
            _set("leaf.signing_time", next_second),
            "document_leaf",
        ),
        Case(
            "signing-time-rehashed",
            f"leaf.signing_time → {next_second} and leaf.leaf_hash recomputed to match",
            with_leaf_hash(
                _set("leaf.signing_time", next_second),
                signing_time=unix_seconds(SIGNING_TIME) + 1,
            ),
            "merkle_inclusion",
        ),
        Case(
            "signer-certificate",
            "signature.certificates[0] replaced by the CA certificate",
            swap_signer,
            "signature_binding",
        ),
        Case(
            "signature",
            "last byte of the CMS (inside the RSA signature) flipped",
            corrupt_signature,
            "signature_binding",
        ),
    ]


def _entry_fields(entry: DocumentEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in DocumentEntry.__slots__}


def _malformed(valid: dict[str, Any]) -> list[tuple[str, bytes, str, str]]:
    """(file name, content, field the error must name, description)."""

    def variant(mutate: Mutation) -> bytes:
        bundle = copy.deepcopy(valid)
        mutate(bundle)
        return _json_bytes(bundle)

    def drop(path: str) -> Mutation:
        def mutate(bundle: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target = bundle
            for part in parents:
                target = target[part]
            del target[last]

        return mutate

    valid_text = _json_bytes(valid).decode()
    truncated_cms = valid["signature"]["value"][:-3]
    return [
        ("not-json.json", b"this is not JSON {", "bundle", "plain text"),
        (
            "truncated-json.json",
            valid_text[: len(valid_text) // 2].encode(),
            "bundle",
            "cut in half",
        ),
        ("array.json", b"[1, 2, 3]\n", "bundle", "a JSON array, not an object"),
        ("wrong-version.json", variant(_set("version", 5)), "version", "version 5"),
        ("missing-version.json", variant(drop("version")), "version", "no version field"),
        (
            "truncated-base64.json",
            variant(_set("signature.value", truncated_cms)),
            "signature.value",
            "base64 cut short",
        ),
        (
            "bad-base64-certificate.json",
            variant(_set_item("signature.certificates", 0, "@@@@")),
            "signature.certificates[0]",
            "not base64",
        ),
        (
            "huge-path.json",
            variant(_set("inclusion.path", ["00" * 32] * 65)),
            "inclusion.path",
            "65 path hashes (at most 64)",
        ),
        (
            "too-many-certificates.json",
            variant(_set("signature.certificates", valid["signature"]["certificates"] * 5)),
            "signature.certificates",
            "10 certificates (at most 8)",
        ),
        (
            "unknown-field.json",
            variant(_set("comment", "hello")),
            "comment",
            "an unknown top-level field",
        ),
        (
            "unknown-nested-field.json",
            variant(_set("anchor.gas_used", 1)),
            "anchor.gas_used",
            "an unknown field in anchor",
        ),
        (
            "bad-path-hex.json",
            variant(_set_item("inclusion.path", 1, valid["inclusion"]["path"][1].upper())),
            "inclusion.path[1]",
            "upper-case hex",
        ),
        (
            "short-root.json",
            variant(_set("head.root", valid["head"]["root"][:62])),
            "head.root",
            "31-byte root",
        ),
        ("missing-salt.json", variant(drop("leaf.salt")), "leaf.salt", "no salt"),
        (
            "pending-with-anchor.json",
            variant(_set("status", "pending")),
            "inclusion",
            "status pending but anchored fields present",
        ),
        (
            "anchored-without-anchor.json",
            variant(drop("anchor")),
            "anchor",
            "status anchored but no anchor",
        ),
        (
            "string-index.json",
            variant(_set("inclusion.leaf_index", "5")),
            "inclusion.leaf_index",
            "index as a string",
        ),
        (
            "negative-block.json",
            variant(_set("anchor.block_number", -1)),
            "anchor.block_number",
            "negative block number",
        ),
        (
            "bad-lg-code.json",
            variant(_set("leaf.lg_code", "131017")),
            "leaf.lg_code",
            "wrong check digit",
        ),
        (
            "bad-checksum.json",
            variant(_set("anchor.node", NODE.replace("C5", "c5", 1))),
            "anchor.node",
            "EIP-55 checksum broken",
        ),
        (
            "bad-time.json",
            variant(_set("leaf.issued_at", "2026-01-15 08:59:00")),
            "leaf.issued_at",
            "time without T and Z",
        ),
        (
            "bad-format.json",
            variant(_set("signature.format", "xades")),
            "signature.format",
            "unknown signature format",
        ),
        (
            "duplicate-key.json",
            valid_text.replace('"version": 2,', '"version": 2,\n  "version": 2,', 1).encode(),
            "bundle",
            "a field given twice",
        ),
        (
            "nan.json",
            valid_text.replace('"document_type": 1', '"document_type": NaN', 1).encode(),
            "bundle",
            "NaN is not JSON",
        ),
        (
            "index-beyond-size.json",
            variant(_set("inclusion.leaf_index", 7)),
            "inclusion.leaf_index",
            "index not below the tree size",
        ),
    ]


def _leaf_vectors(log: Log, material: SigningMaterial) -> dict[str, Any]:
    resident = next(iter(DOCUMENTS.values())).encode()
    digest = hashlib.sha256(resident).digest()
    salt = salt_for("resident-record")
    signer_sha256 = hashlib.sha256(material.signer_der).digest()

    def document(entry: DocumentEntry, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "document",
            "fields": {
                "salted_digest": entry.salted_digest.hex(),
                "lg_code": entry.lg_code,
                "document_type": entry.document_type,
                "issued_at": entry.issued_at,
                "signing_time": entry.signing_time,
                "signature_format": entry.signature_format.label,
                "signer_ref": entry.signer_ref.hex(),
                "signature_sha256": entry.signature_sha256.hex(),
                "version": entry.version,
            },
            "encoding": entry.encode().hex(),
            "leaf_hash": entry.leaf_hash().hex(),
        }

    revocation = log.revocation
    return {
        "description": "Leaf encodings (docs/PROTOCOL.md, Leaf encoding). Times are Unix seconds.",
        "salted_digests": [
            {
                "document_sha256": digest.hex(),
                "salt": salt.hex(),
                "salted_digest": salted_digest(salt, digest).hex(),
            },
            {
                "document_sha256": hashlib.sha256(b"").hexdigest(),
                "salt": "00" * 32,
                "salted_digest": salted_digest(bytes(32), hashlib.sha256(b"").digest()).hex(),
            },
        ],
        "signer_commitments": [
            {
                "salt": salt.hex(),
                "signer_sha256": signer_sha256.hex(),
                "signer_commitment": signer_commitment(salt, signer_sha256).hex(),
            },
        ],
        "entries": [
            document(log.cms_entry, "resident-record (CMS, version 2)"),
            document(log.pkcs1_entry, "income-certificate (PKCS#1, version 1)"),
            {
                "name": "revocation of income-certificate",
                "kind": "revocation",
                "fields": {
                    "revoked_leaf_hash": revocation.revoked_leaf_hash.hex(),
                    "lg_code": revocation.lg_code,
                    "reason": revocation.reason,
                    "revoked_at": revocation.revoked_at,
                },
                "encoding": revocation.encode().hex(),
                "leaf_hash": revocation.leaf_hash().hex(),
            },
        ],
        "heads": [
            {"seq": head.seq, "tree_size": head.tree.size, "root": head.tree.root.hex()}
            for head in (log.head0, log.head1)
        ],
    }


def build_vectors(root: Path = VECTORS) -> dict[str, bytes]:
    """Every vector file (relative path → bytes), computed from the committed material."""
    material = SigningMaterial.load(root)
    log = build_log(material)
    files: dict[str, bytes] = {name: text.encode() for name, text in DOCUMENTS.items()}
    files["leaf-vectors.json"] = _json_bytes(_leaf_vectors(log, material))
    files["chain.json"] = _json_bytes(_chain_json([log.head0, log.head1]))

    certificates = [material.signer_der, material.ca_der]
    valid_cms = build_bundle(
        entry=log.cms_entry,
        salt=salt_for("resident-record"),
        signature=material.cms,
        certificates=certificates,
        inclusion=log.head0.inclusion(Log.CMS_INDEX),
        head=log.head0.section(),
        anchor=log.head0.anchor(),
    )
    valid_pkcs1 = build_bundle(
        entry=log.pkcs1_entry,
        salt=salt_for("income-certificate"),
        signature=material.pkcs1,
        certificates=certificates,
        inclusion=log.head0.inclusion(Log.PKCS1_INDEX),
        head=log.head0.section(),
        anchor=log.head0.anchor(),
    )
    pending = build_bundle(
        entry=log.cms_entry,
        salt=salt_for("resident-record"),
        signature=material.cms,
        certificates=certificates,
    )
    revocation = build_revocation_section(
        log.revocation,
        inclusion=log.head1.inclusion(Log.REVOCATION_INDEX),
        head=log.head1.section(),
        anchor=log.head1.anchor(),
    )
    revoked = build_bundle(
        entry=log.pkcs1_entry,
        salt=salt_for("income-certificate"),
        signature=material.pkcs1,
        certificates=certificates,
        inclusion=log.head0.inclusion(Log.PKCS1_INDEX),
        head=log.head0.section(),
        anchor=log.head0.anchor(),
        revocation=revocation,
    )
    resident, income = DOCUMENTS
    expected: dict[str, Any] = {
        "description": (
            "What verifying each bundle must give (policy: chain.json's chain and registry, "
            f"trust anchor signing/ca.pem, CRL signing/crl.der, now {VERIFY_AT}; no issuing "
            "node is asked and require_revocation_check is off, so only a bundle's own "
            "revocation section counts: with it on, a bundle that would be valid is unknown "
            "at document_revocation). These are pre-seal bundles (registered types signed "
            "with a JPKI card): require_municipal_seal is off; with it on (the default) each "
            "otherwise valid one is invalid at issuer_policy (seal_policy)."
        ),
        "verify_at": VERIFY_AT,
        "require_revocation_check": False,
        "require_municipal_seal": False,
        "seal_policy": {
            "bundles/valid-cms.json": {"status": "invalid", "failed_check": "issuer_policy"},
            "bundles/valid-pkcs1.json": {"status": "invalid", "failed_check": "issuer_policy"},
        },
        "bundles": {},
        "malformed": {},
    }
    for name, bundle, document, status, check in (
        ("bundles/valid-cms.json", valid_cms, resident, "valid", None),
        ("bundles/valid-pkcs1.json", valid_pkcs1, income, "valid", None),
        ("bundles/pending.json", pending, resident, "pending", "merkle_inclusion"),
        ("bundles/revoked.json", revoked, income, "revoked", "document_revocation"),
    ):
        files[name] = dump_bundle(bundle).encode()
        expected["bundles"][name] = {
            "document": document,
            "status": status,
            "failed_check": check,
            "description": name.split("/")[-1].removesuffix(".json"),
        }
    valid_json = bundle_to_json(valid_cms)
    for case in _mutations(log, material):
        mutated = copy.deepcopy(valid_json)
        case.mutate(mutated)
        name = f"bundles/invalid/{case.name}.json"
        files[name] = _json_bytes(mutated)
        expected["bundles"][name] = {
            "document": resident,
            "status": case.status,
            "failed_check": case.failed_check,
            "description": case.description,
        }
    for file_name, content, field, description in _malformed(valid_json):
        name = f"malformed/{file_name}"
        files[name] = content
        expected["malformed"][name] = {"field": field, "description": description}
    files["expected.json"] = _json_bytes(expected)
    files.update(_v3_vectors(log, material, resident))
    files.update(
        build_v4_vectors(
            root, chain_id=CHAIN_ID, registry=REGISTRY, node=NODE, verify_at=VERIFY_AT,
            json_bytes=_json_bytes,
        )
    )  # fmt: skip
    return files


V3_MUTATIONS: tuple[tuple[str, str, int, str], ...] = (
    # (file name, evidence field, byte to flip (negative: from the end), the check that fails)
    ("anchor-header", "headers.0", 40, "anchor_transaction"),
    ("later-header", "headers.1", 100, "finality"),
    ("seal", "headers.2", -40, "finality"),
    ("receipt-proof-node", "receipt.proof.0", -3, "head_anchored"),
    ("receipt-log", "receipt.value", -1, "head_anchored"),
    ("transaction-proof-node", "transaction.proof.0", -3, "anchor_transaction"),
    ("transaction", "transaction.value", -1, "anchor_transaction"),
    ("account-proof-node", "state.account_proof.0", -3, "head_not_withdrawn"),
)


def _v3_vectors(log: Log, material: SigningMaterial, document: str) -> dict[str, bytes]:
    """Version-3 bundles over a synthetic Clique chain (tests/vectors/evidence_chain.py): the
    valid one and one per altered piece of evidence, each with its online verdict (chain facts
    from v3/chain.json, evidence checked against v3/trust-root.json) and its offline one."""
    head = log.head0
    synthetic = build_chain(
        Anchor(CHAIN_ID, REGISTRY, NODE, LG_CODE, head.seq, head.tree.size, head.tree.root,
               unix_seconds(head.time))
    )  # fmt: skip
    anchor = msgspec.structs.replace(
        head.anchor(),
        tx_hash=synthetic.tx_hash,
        block_number=ANCHOR_BLOCK,
        block_hash=synthetic.block_hash,
    )
    valid = bundle_to_json(
        build_bundle(
            entry=log.cms_entry,
            salt=salt_for("resident-record"),
            signature=material.cms,
            certificates=[material.signer_der, material.ca_der],
            inclusion=head.inclusion(Log.CMS_INDEX),
            head=head.section(),
            anchor=anchor,
            evidence=synthetic.evidence,
        )
    )
    root = dataclasses.replace(
        synthetic.trust_root, jpki_anchors=(material.ca_der,), tsa_anchors=(TSA.ca_der,)
    )
    files = {
        "v3/chain.json": _json_bytes(synthetic.chain),
        "v3/trust-root.json": (dump_trust_root(root) + "\n").encode(),
        "v3/bundles/valid.json": _json_bytes(valid),
    }
    expected: dict[str, Any] = {
        "description": (
            "Version-3 bundles (chain evidence) over the synthetic chain of "
            "tests/vectors/evidence_chain.py. Policy: v3/trust-root.json, CRL signing/crl.der, "
            f"now {VERIFY_AT}, revocation check not required. Online: chain facts from "
            "v3/chain.json and the evidence checked too; offline: the evidence alone. Both must "
            "agree: valid online is valid_as_of offline, and an altered piece of evidence fails "
            "the same check either way. Pre-seal bundles: require_municipal_seal off."
        ),
        "require_municipal_seal": False,
        "verify_at": VERIFY_AT,
        "bundles": {
            "v3/bundles/valid.json": {
                "document": document,
                "online": "valid",
                "offline": "valid_as_of",
                "failed_check": None,
            }
        },
    }
    for name, field, position, check in V3_MUTATIONS:
        mutated = copy.deepcopy(valid)
        target: Any = mutated["evidence"]
        keys = [int(k) if k.lstrip("-").isdigit() else k for k in field.split(".")]
        for key in keys[:-1]:
            target = target[key]
        raw = bytearray(bytes.fromhex(target[keys[-1]][2:]))
        raw[position] ^= 0x01
        target[keys[-1]] = "0x" + raw.hex()
        path = f"v3/bundles/invalid/{name}.json"
        files[path] = _json_bytes(mutated)
        expected["bundles"][path] = {
            "document": document,
            "online": "invalid",
            "offline": "invalid",
            "failed_check": check,
            "description": f"evidence.{field}: byte {position} flipped",
        }
    _signer_revocation_vectors(valid, material.crl, document, files, expected)
    _timestamp_vectors(valid, head, document, files, expected)
    files["v3/expected.json"] = _json_bytes(expected)
    return files


def _signer_revocation_vectors(
    valid: dict[str, Any],
    crl_der: bytes,
    document: str,
    files: dict[str, bytes],
    expected: dict[str, Any],
) -> None:
    """The valid bundle carrying the CA's CRL as `evidence.signer_revocation` (PROTOCOL 10.3),
    and two whose evidence does not hold (an altered CRL; a blob that is no OCSP response).
    With the policy's own CRL they verify as the others; `without_own_crls` gives the verdict
    when the bundle's evidence alone decides the signer (offline, no CRL configured)."""
    crl = base64.b64encode(crl_der).decode()
    altered = bytearray(crl_der)
    altered[-1] ^= 0x01  # the CA's signature
    cases = {
        "v3/bundles/signer-revocation.json": ({"crls": [crl], "ocsp_responses": []}, None),
        "v3/bundles/invalid/signer-revocation-crl.json": (
            {"crls": [base64.b64encode(bytes(altered)).decode()], "ocsp_responses": []},
            "evidence.signer_revocation.crls[0]: the CA's signature altered",
        ),
        "v3/bundles/invalid/signer-revocation-ocsp.json": (
            {"crls": [], "ocsp_responses": [crl]},
            "evidence.signer_revocation.ocsp_responses[0]: a CRL, not an OCSP response",
        ),
    }
    expected["without_own_crls"] = {
        "description": (
            "The same bundles verified offline with no CRL configured: the bundle's "
            "signer_revocation decides the signer check, as of that evidence."
        ),
        "bundles": {},
    }
    for path, (carried, description) in cases.items():
        bundle = copy.deepcopy(valid)
        bundle["evidence"]["signer_revocation"] = carried
        files[path] = _json_bytes(bundle)
        failed = None if description is None else "signer_certificate"
        case: dict[str, Any] = {
            "document": document,
            "online": "valid" if failed is None else "invalid",
            "offline": "valid_as_of" if failed is None else "invalid",
            "failed_check": failed,
        }
        if description is not None:
            case["description"] = description
        expected["bundles"][path] = case
        expected["without_own_crls"]["bundles"][path] = {
            "document": document,
            "offline": "valid_as_of" if failed is None else "invalid",
            "failed_check": failed,
            "signer_certificate_as_of": failed is None,
        }


TSA = TestTsa("Notary", 0x7501)
"""The v3 trust root's TSA (its CA is the root's one `tsa_anchors` entry)."""
TIMESTAMPED_AFTER = 30
"""Seconds from the anchor block's time to the test TSA's genTime."""


def _timestamp_vectors(
    valid: dict[str, Any],
    head: Head,
    document: str,
    files: dict[str, bytes],
    expected: dict[str, Any],
) -> None:
    """The valid bundle with an RFC 3161 token over its head (`evidence.timestamp`, checked
    against the trust root's TSAs into anchor_time), and four whose token does not hold: one
    over another head, one with its signature altered, one by a TSA the trust root does not
    name, one by a certificate of the trusted CA without the timeStamping purpose."""
    anchor = valid["anchor"]

    def digest(seq: int) -> bytes:
        return head_timestamp_digest(
            chain_id=anchor["chain_id"],
            registry=anchor["registry"],
            node=anchor["node"],
            seq=seq,
            tree_size=head.tree.size,
            root=head.tree.root,
        )

    gen_time = datetime.fromtimestamp(unix_seconds(head.time) + TIMESTAMPED_AFTER, UTC)
    token = TSA.token(digest(head.seq), gen_time, 1)
    altered = bytearray(token)
    altered[-1] ^= 0x01  # the last byte of the TSA's ECDSA signature
    cases = {
        "v3/bundles/timestamped.json": (token, None),
        "v3/bundles/invalid/timestamp-other-head.json": (
            TSA.token(digest(head.seq + 1), gen_time, 2),
            "evidence.timestamp: a token of the trusted TSA over the node's next head",
        ),
        "v3/bundles/invalid/timestamp-signature.json": (
            bytes(altered),
            "evidence.timestamp: the last byte of the TSA's signature flipped",
        ),
        "v3/bundles/invalid/timestamp-untrusted-tsa.json": (
            TestTsa("Other", 0x7601).token(digest(head.seq), gen_time, 3),
            "evidence.timestamp: a token by a TSA the trust root does not name",
        ),
        "v3/bundles/invalid/timestamp-eku.json": (
            TestTsa("Notary", 0x7511, eku=ExtendedKeyUsageOID.CODE_SIGNING).token(
                digest(head.seq), gen_time, 4
            ),
            "evidence.timestamp: signed by a certificate of the trusted CA for code signing, "
            "not time-stamping",
        ),
    }
    for path, (carried, description) in cases.items():
        bundle = copy.deepcopy(valid)
        bundle["evidence"]["timestamp"] = base64.b64encode(carried).decode()
        files[path] = _json_bytes(bundle)
        failed = None if description is None else "anchor_time"
        case: dict[str, Any] = {
            "document": document,
            "online": "valid" if failed is None else "invalid",
            "offline": "valid_as_of" if failed is None else "invalid",
            "failed_check": failed,
        }
        if description is not None:
            case["description"] = description
        expected["bundles"][path] = case


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def write(files: dict[str, bytes], root: Path = VECTORS) -> None:
    for name, content in sorted(files.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def stale(files: dict[str, bytes], root: Path = VECTORS) -> list[str]:
    """Vector files whose committed content differs from `files` (or that are missing)."""
    return sorted(
        name
        for name, content in files.items()
        if not (root / name).is_file() or (root / name).read_bytes() != content
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--new-signing-material",
        action="store_true",
        help="make a new CA, signer, CRL and signatures (new random keys, then discarded)",
    )
    parser.add_argument(
        "--new-v4-signing-material",
        action="store_true",
        help="make the v4 (seal, smartphone, events) certificates, CRLs and signatures afresh "
        "(new random keys, then discarded)",
    )
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.new_signing_material:
        write(create_signing_material())
    if args.new_v4_signing_material:
        write(create_v4_material())
    files = build_vectors()
    if args.check:
        outdated = stale(files)
        for name in outdated:
            print(f"stale: {name}")
        return 1 if outdated else 0
    write(files)
    print(f"wrote {len(files)} vector files under {VECTORS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
