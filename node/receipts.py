"""Signed receipts: the body of an entry's receipt and its EIP-191 signature, built the same in
the node (single entries, reads, replays) and in the intake worker processes (large bulk
requests, after their synced append: the signature covers leaf_index).

A receipt is made from a `ReceiptSource`, a small tuple rather than the stored entry: the
workers get one per entry, so the hand-over carries the leaf and four short fields, not the
sidecar's signature and certificates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from node.models import DocumentSidecar, EntrySidecar
from node.receipt_signer import ReceiptSigner
from node.store import StoreError
from protocol.leaf import (
    NO_REQUESTER,
    DocumentEntry,
    EntryKind,
    RevocationEntry,
    decode_entry,
    entry_fields,
    event_type_label,
    signed_entry_fields,
)
from protocol.merkle import hash_leaf

ReceiptSource = tuple[bytes, str, str, int, bytes | None]
"""(leaf, receipt_id, sidecar kind, received_at, salt of a document sidecar or None)."""

Chain = tuple[int, str] | None
"""(chain id, registry address) when the node anchors, named in every receipt."""


def receipt_source(leaf: bytes, sidecar: EntrySidecar) -> ReceiptSource:
    salt = sidecar.salt if isinstance(sidecar, DocumentSidecar) else None
    return (leaf, sidecar.receipt_id, sidecar.kind.value, sidecar.received_at, salt)


def canonical_json(body: dict[str, Any]) -> bytes:
    """The signed text: keys sorted, no spaces, UTF-8 unescaped; the same bytes as
    `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`
    (tests/test_node_receipts.py holds them equal), at a fraction of the cost."""
    return msgspec.json.encode(body, order="sorted")


class ReceiptMaker:
    def __init__(self, signer: ReceiptSigner, node: str, chain: Chain) -> None:
        self.signer = signer
        self.node = node
        self.chain = chain

    def make(self, index: int, source: ReceiptSource) -> dict[str, Any]:
        """The signed receipt of the entry at `index`: no personal data, recomputable from
        the store."""
        leaf, receipt_id, kind, received_at, salt = source
        # A version-3 document or event leaf (every one a node appends now) is read without
        # building its entry; any other leaf is decoded (or refused) in full.
        fields = signed_entry_fields(leaf)
        entry: DocumentEntry | RevocationEntry | None = None
        if fields is None:
            entry = decode_entry(leaf)
            lg_code = entry.lg_code
            if isinstance(entry, DocumentEntry):
                fields = entry_fields(entry)
        else:
            lg_code = fields[0]
        body: dict[str, Any] = {
            "receipt_id": receipt_id,
            "kind": kind,
            "leaf_hash": hash_leaf(leaf).hex(),
            "leaf_index": index,
            "lg_code": f"{lg_code:06d}",
            "received_at": _time(received_at),
            "node": self.node,
        }
        if fields is not None:
            _, document_type, issued_at, signing_time, entry_kind, requester_ref = fields
            if salt is None:
                raise StoreError(f"entry {index} is a document with a {kind} sidecar")
            body |= {
                "salt": salt.hex(),
                "document_type": document_type,
                "issued_at": _time(issued_at),
                "signing_time": _time(signing_time),
            }
            if entry_kind == EntryKind.EVENT:
                body |= {"entry_kind": "event", "event_type": event_type_label(document_type)}
            if requester_ref != NO_REQUESTER:
                body["requester_commitment"] = requester_ref.hex()
        elif isinstance(entry, RevocationEntry):
            body |= {"revokes": entry.revoked_leaf_hash.hex(), "reason": entry.reason}
        if self.chain is not None:
            body |= {"chain_id": self.chain[0], "registry": self.chain[1]}
        signature = self.signer.sign_bytes(canonical_json(body))
        body["receipt_signature"] = "0x" + signature.hex()
        return body

    def make_all(self, first: int, sources: Iterable[ReceiptSource]) -> list[dict[str, Any]]:
        return [self.make(first + offset, source) for offset, source in enumerate(sources)]


@functools.lru_cache(maxsize=4096)
def _time(seconds: int) -> str:
    """RFC 3339 UTC; cached: a bulk's receipts repeat the same few issue and signing times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
