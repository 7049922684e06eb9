"""The node's typed records read what earlier versions wrote and write it back byte for byte,
so existing data folders keep working."""

from __future__ import annotations

import base64
import itertools
import json
import random
import time
from pathlib import Path

import pytest

from node.api import BASE64, is_base64
from node.models import (
    AnchoringRecord,
    DocumentSidecar,
    Head,
    HeadState,
    RecordError,
    RevocationSidecar,
    sidecar_from_json,
)
from node.store import HEAD, LEAF, META_HEADS, META_SIZE, NODE, SIDECAR, LogStore, StoreError, u64
from protocol.leaf import SignatureFormat
from protocol.merkle import hash_leaf

NODE_KEY = "0x" + "ab" * 20
ROOT = bytes(range(32))

# As `dataclasses.asdict(Head)` wrote them before heads were typed (field order included).
OLD_HEADS = [
    {
        "seq": 0, "tree_size": 1, "root": ROOT.hex(), "sealed_at": 1712345678.25,
        "state": "final", "tx_hash": "0x" + "11" * 32, "block_number": 7,
        "block_hash": "0x" + "22" * 32, "anchored_at": 1712345680, "attempts": 1,
        "last_error": None, "extra": {},  # anchored before the node recorded its key
    },
    {
        "seq": 1, "tree_size": 1, "root": ROOT.hex(), "sealed_at": 1712345679.5,
        "state": "anchored", "tx_hash": "0x" + "33" * 32, "block_number": 9,
        "block_hash": "0x" + "44" * 32, "anchored_at": 1712345690, "attempts": 2,
        "last_error": None, "extra": {"node": NODE_KEY},
    },
    {
        "seq": 2, "tree_size": 1, "root": ROOT.hex(), "sealed_at": 1712345700.0,
        "state": "submitted", "tx_hash": None, "block_number": None, "block_hash": None,
        "anchored_at": None, "attempts": 1, "last_error": None, "extra": {"node": NODE_KEY},
    },
    {
        "seq": 3, "tree_size": 1, "root": ROOT.hex(), "sealed_at": 1712345701,
        "state": "sealed", "tx_hash": None, "block_number": None, "block_hash": None,
        "anchored_at": None, "attempts": 0, "last_error": None, "extra": {},
    },
]  # fmt: skip

# As node/intake.py wrote sidecars before they were typed.
OLD_DOCUMENT_SIDECAR = {
    "kind": "document",
    "salt": "5a" * 32,
    "signature_format": "cms",
    "signature": base64.b64encode(b"\x30\x82signature").decode(),
    "certificates": [base64.b64encode(b"cert one").decode(), base64.b64encode(b"2").decode()],
    "receipt_id": "r_0123",
    "request_id": None,
    "client": "juki",
    "received_at": 1712345600,
}
OLD_REVOCATION_SIDECAR = {
    "kind": "revocation",
    "receipt_id": "r_0456",
    "client": "juki",
    "received_at": 1712345650,
    "revokes": "cd" * 32,
}


def test_old_head_records_read_typed_and_write_back_unchanged() -> None:
    for record in OLD_HEADS:
        raw = json.dumps(record).encode()
        head = Head.from_json(raw)
        assert head.state is HeadState(record["state"])
        assert head.to_json() == raw
    anchored = Head.from_json(json.dumps(OLD_HEADS[1]).encode())
    assert anchored.anchoring == AnchoringRecord(
        tx_hash="0x" + "33" * 32,
        block_number=9,
        block_hash="0x" + "44" * 32,
        anchored_at=1712345690,
        anchored_by=NODE_KEY,
    )
    assert Head.from_json(json.dumps(OLD_HEADS[0]).encode()).anchored_by is None


def test_old_sidecars_read_typed_and_write_back_unchanged() -> None:
    raw = json.dumps(OLD_DOCUMENT_SIDECAR).encode()
    document = sidecar_from_json(raw)
    assert document == DocumentSidecar(
        salt=bytes.fromhex("5a" * 32),
        signature_format=SignatureFormat.CMS,
        signature=b"\x30\x82signature",
        certificates=(b"cert one", b"2"),
        receipt_id="r_0123",
        request_id=None,
        client="juki",
        received_at=1712345600,
    )
    assert document.to_json() == raw
    raw = json.dumps(OLD_REVOCATION_SIDECAR).encode()
    revocation = sidecar_from_json(raw)
    assert revocation == RevocationSidecar("r_0456", "juki", 1712345650, bytes.fromhex("cd" * 32))
    assert revocation.to_json() == raw


def test_a_data_folder_written_by_an_older_version_keeps_working(tmp_path: Path) -> None:
    """Records put in LevelDB as the old code did: the store reads them typed, moves a head
    on, and what it writes back differs only in what changed."""
    import plyvel

    leaf = b"an old leaf"
    db = plyvel.DB(str(tmp_path), create_if_missing=True)
    db.put(LEAF + u64(0), leaf)
    db.put(SIDECAR + u64(0), json.dumps(OLD_DOCUMENT_SIDECAR).encode())
    db.put(NODE + bytes([0]) + u64(0), hash_leaf(leaf))
    db.put(META_SIZE, u64(1))
    for record in OLD_HEADS:
        db.put(HEAD + u64(record["seq"]), json.dumps(record).encode())
    db.put(META_HEADS, u64(len(OLD_HEADS)))
    db.close()

    store = LogStore(tmp_path)
    try:
        stored = store.entry(0)
        assert stored is not None and isinstance(stored.sidecar, DocumentSidecar)
        assert stored.sidecar.receipt_id == "r_0123"
        assert [h.state for h in store.heads()] == ["final", "anchored", "submitted", "sealed"]
        covering = store.covering_head(0, (HeadState.ANCHORED, HeadState.FINAL))
        assert covering is not None and covering.seq == 0
        head = store.head(1)
        assert head is not None
        store.save_head(head.finalised())
        assert store.db.get(HEAD + u64(1)) == json.dumps(OLD_HEADS[1] | {"state": "final"}).encode()
        sealed = store.head(3)
        assert sealed is not None
        store.save_head(sealed.submitted("0x" + "55" * 32, NODE_KEY))
        assert json.loads(store.db.get(HEAD + u64(3))) == OLD_HEADS[3] | {
            "state": "submitted",
            "tx_hash": "0x" + "55" * 32,
            "attempts": 1,
            "extra": {"node": NODE_KEY},
        }
        new = store.seal_head(1, time.time())
        assert store.head(new.seq) == new
    finally:
        store.close()


def test_transitions_keep_the_anchoring_record_consistent() -> None:
    head = Head(0, 1, ROOT, 1.0).submitted("0x01", NODE_KEY)
    assert (head.state, head.tx_hash, head.anchored_by, head.attempts) == (
        HeadState.SUBMITTED, "0x01", NODE_KEY, 1,
    )  # fmt: skip
    anchored = head.anchored(AnchoringRecord("0x01", 5, "0x05", 100, NODE_KEY))
    assert anchored.state.is_anchored
    unmined = anchored.unmined()
    assert (unmined.state, unmined.tx_hash, unmined.block_number) == (
        HeadState.SUBMITTED, "0x01", None,
    )  # fmt: skip
    reset = unmined.reset()
    assert reset.anchoring == AnchoringRecord() and reset.state is HeadState.SEALED
    assert reset.attempts == 1


def test_malformed_records_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordError):
        sidecar_from_json(b'{"kind": "document"}')
    with pytest.raises(RecordError):
        Head.from_json(json.dumps(OLD_HEADS[0] | {"state": "lost"}).encode())
    store = LogStore(tmp_path)
    try:
        store.db.put(HEAD + u64(0), b"{}")
        with pytest.raises(StoreError):
            store.head(0)
    finally:
        store.close()


def test_the_fast_base64_check_is_the_published_pattern() -> None:
    alphabet = "Ab+/=\n-"
    cases = ["".join(p) for n in range(6) for p in itertools.product(alphabet, repeat=n)]
    rng = random.Random(3)
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(40))) for _ in range(5000)]
    for case in cases:
        assert is_base64(case) == (BASE64.fullmatch(case) is not None), repr(case)
