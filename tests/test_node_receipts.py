"""Receipts signed by the intake workers (node/receipts.py, IntakePool.start_receipts): the same
body and signature bytes as the receipt the node signed itself before (json.dumps canonical
text, eth_account's EIP-191 signature), for document, event, requester and revocation entries; a
receipt stage that fails after the synced append answers 503 and the same request_id then gets
the stored entries' receipts."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct

import node.intake_pool
from devnet.ports import free_port
from devtools.testca import TestHierarchy
from node.api import EntryIn, EventIn, create_app
from node.intake import Submission, SubmissionRejectedError
from node.models import DocumentSidecar
from node.receipt_signer import ReceiptSigner
from node.receipts import ReceiptMaker, canonical_json
from node.service import NodeService
from node.store import StoredEntry
from node.tokens import Client
from protocol.leaf import (
    NO_REQUESTER,
    DocumentEntry,
    EntryKind,
    RevocationEntry,
    RevocationReason,
    decode_entry,
    event_type_label,
)
from tests.node_harness import http, signed_entry
from tests.test_node_intake_pool import service

pytest_plugins = ["tests.jpki_fixtures"]

CLIENT = Client("issuer", frozenset({"submit", "admin", "read"}))


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_receipt(
    svc: NodeService, stored: StoredEntry, chain: tuple[int, str] | None = None
) -> dict[str, Any]:
    """The receipt as NodeService.receipt made it before the workers signed receipts."""
    entry = decode_entry(stored.leaf)
    sidecar = stored.sidecar
    body: dict[str, Any] = {
        "receipt_id": sidecar.receipt_id,
        "kind": sidecar.kind.value,
        "leaf_hash": stored.leaf_hash.hex(),
        "leaf_index": stored.index,
        "lg_code": f"{entry.lg_code:06d}",
        "received_at": _time(sidecar.received_at),
        "node": svc.key.address,
    }
    if isinstance(entry, DocumentEntry):
        assert isinstance(sidecar, DocumentSidecar)
        body |= {
            "salt": sidecar.salt.hex(),
            "document_type": entry.document_type,
            "issued_at": _time(entry.issued_at),
            "signing_time": _time(entry.signing_time),
        }
        if entry.kind == EntryKind.EVENT:
            body |= {"entry_kind": "event", "event_type": event_type_label(entry.document_type)}
        if entry.requester_ref != NO_REQUESTER:
            body["requester_commitment"] = entry.requester_ref.hex()
    elif isinstance(entry, RevocationEntry):
        body |= {"revokes": entry.revoked_leaf_hash.hex(), "reason": entry.reason}
    if chain is not None:
        body |= {"chain_id": chain[0], "registry": chain[1]}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signed = Account.sign_message(encode_defunct(text=text), private_key=svc.key.key)
    return body | {"receipt_signature": "0x" + bytes(signed.signature).hex()}


def _event(h: TestHierarchy, statement: bytes, event_type: str) -> dict[str, Any]:
    signer = h.ee_user_auth if event_type == "login" else h.ee_valid_gen02
    signature = signed_entry(signer, statement)["signature"]
    return {
        "event_type": event_type,
        "statement_sha256": hashlib.sha256(statement).hexdigest(),
        "event_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": signature,
    }


def mixed_submissions(h: TestHierarchy) -> list[Submission]:
    """Card-signed documents, one with the resident's application, and two events."""
    application = signed_entry(h.ee_valid_gen01, b"my application")["signature"]
    documents = [signed_entry(h.ee_valid_gen02, f"doc {i}".encode()) for i in range(4)]
    documents[1]["application"] = {
        **application,
        "application_sha256": hashlib.sha256(b"my application").hexdigest(),
    }
    events = [_event(h, b"login statement", "login"), _event(h, b"sign statement", "signature")]
    return [
        *(EntryIn.model_validate(d).submission() for d in documents[:2]),
        EventIn.model_validate(events[0]).submission(),
        *(EntryIn.model_validate(d).submission() for d in documents[2:]),
        EventIn.model_validate(events[1]).submission(),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"receipt_id": "r", "kind": "document", "leaf_index": 0, "document_type": 32769},
        {"b": 1, "a": "x", "chain_id": 31337, "registry": "0x" + "Ab" * 20},
        {"entry_kind": "event", "event_type": "login", "requester_commitment": "00" * 32},
        {"revokes": "ff" * 32, "reason": 4, "leaf_index": 2**63},
        # Not in a receipt today (node-made ASCII), but the canonical form must hold anyway.
        {"名前": "千代田区 ①", "z": "\u2028\u00e9\U0001f600", "ctl": '\x00\x1f\t\n"\\/\x7f'},
    ],
)
def test_canonical_json_is_json_dumps(body: dict[str, Any]) -> None:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(body) == text.encode()


def test_receipt_signer_matches_eth_account() -> None:
    account = Account.create()
    text = '{"a":"千代田"}'
    expected = bytes(account.sign_message(encode_defunct(text=text)).signature)
    assert ReceiptSigner(account).sign_text(text) == expected
    assert ReceiptSigner(bytes(account.key)).sign_bytes(text.encode()) == expected


def test_maker_names_the_chain() -> None:
    account = Account.create()
    chain = (31337, "0x" + "12" * 20)
    maker = ReceiptMaker(ReceiptSigner(account), account.address, chain)
    revocation = RevocationEntry(b"\x07" * 32, 131016, int(RevocationReason.SUPERSEDED), 1)
    leaf = revocation.encode()
    receipt = maker.make(9, (leaf, "rid", "revocation", 1_800_000_000, None))
    assert (receipt["chain_id"], receipt["registry"], receipt["leaf_index"]) == (31337, chain[1], 9)
    unsigned = {k: v for k, v in receipt.items() if k != "receipt_signature"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signer = Account.recover_message(
        encode_defunct(text=text), signature=receipt["receipt_signature"]
    )
    assert signer == account.address


def test_pooled_receipts_are_the_node_receipts(
    tmp_path: Path, jpki_hierarchy: TestHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node.intake_pool, "RECEIPT_CHUNK", 2)  # several tasks, both workers
    with service(tmp_path, jpki_hierarchy, workers=2) as svc:
        submissions = mixed_submissions(jpki_hierarchy)
        body = {"request_id": "order-1", "n": len(submissions)}
        svc.submit(submissions[:1], CLIENT, None, None, bulk=True)  # below the pool's minimum
        with mock.patch.object(
            svc.intake_pool, "start_receipts", wraps=svc.intake_pool.start_receipts
        ) as pooled:
            result = svc.submit(submissions, CLIENT, "order-1", body, bulk=True)
            assert pooled.call_count == 1
            again = svc.submit(submissions, CLIENT, "order-1", body, bulk=True)
            assert pooled.call_count == 2  # a large replay is signed by the workers too
        assert not result.replayed and again.replayed
        assert again.receipts == result.receipts
        assert [r["leaf_index"] for r in result.receipts] == list(range(1, 7))
        kinds = [(r.get("entry_kind"), "requester_commitment" in r) for r in result.receipts]
        assert kinds == [
            (None, False), (None, True), ("event", False), (None, False), (None, False),
            ("event", False),
        ]  # fmt: skip
        for receipt in result.receipts:
            stored = svc.store.entry(receipt["leaf_index"])
            assert stored is not None
            assert receipt == reference_receipt(svc, stored)
            assert receipt == svc.receipt(stored)  # what a read of the receipt signs
        revoked = bytes.fromhex(result.receipts[0]["leaf_hash"])
        revocation = svc.revoke(revoked, int(RevocationReason.SUPERSEDED), CLIENT)
        stored = svc.store.entry(revocation["leaf_index"])
        assert stored is not None
        assert revocation == reference_receipt(svc, stored)
        assert revocation["revokes"] == revoked.hex()


def _kill_workers(svc: NodeService) -> None:
    pool = svc.intake_pool._pool
    assert pool is not None
    processes = list(pool._processes.values())
    for process in processes:
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
    for process in processes:
        process.join(10)


@contextmanager
def serving(svc: NodeService) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_receipts_lost_after_the_append_are_replayed(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    """A worker killed between the synced append and the receipts: 503 problem+json, the
    entries stay stored, and the same request again gets their receipts (not a second
    append); the next request gets fresh workers."""
    h = jpki_hierarchy
    with service(tmp_path, h, workers=2) as svc:
        token = svc.tokens.create("issuing-system", ["submit", "read"])
        entries = [signed_entry(h.ee_valid_gen02, f"kept {i}".encode()) for i in range(5)]
        body = {"request_id": "batch-7", "entries": entries}
        real_start = svc.intake_pool.start_receipts

        def kill_then_start(*args: Any, **kwargs: Any) -> Any:
            # Whether the dead workers fail the hand-over or the receipts, it is after the
            # checks and before the append (_append starts the receipts, then appends).
            _kill_workers(svc)
            return real_start(*args, **kwargs)

        with serving(svc) as url:
            http("POST", url + "/v1/entries/bulk", {"entries": entries[:3]}, token)  # workers up
            size = svc.store.size
            with mock.patch.object(svc.intake_pool, "start_receipts", kill_then_start):
                lost = http("POST", url + "/v1/entries/bulk", body, token)
            assert lost.status == 503, lost.body
            assert lost.headers["content-type"].startswith("application/problem+json")
            assert lost.body["type"].endswith("receipts-unavailable")
            assert lost.body["field"] == "request_id" and lost.headers["retry-after"] == "1"
            assert svc.store.size == size + 5  # stored and synced before the receipts

            replay = http("POST", url + "/v1/entries/bulk", body, token)
            assert replay.status == 200, replay.body
            assert svc.store.size == size + 5  # not appended again
            receipts = replay.body["receipts"]
            assert [r["leaf_index"] for r in receipts] == list(range(size, size + 5))
            for receipt in receipts:
                stored = svc.store.entry(receipt["leaf_index"])
                assert stored is not None and receipt == reference_receipt(svc, stored)
            fresh = http("POST", url + "/v1/entries/bulk", {"entries": entries}, token)
            assert fresh.status == 201 and len(fresh.body["receipts"]) == 5


def test_bulk_answer_is_what_json_response_sent(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    """The bulk answer, msgspec-encoded, is byte for byte Starlette's JSONResponse body."""
    from fastapi.responses import JSONResponse

    from node.api import bulk_answer

    with service(tmp_path, jpki_hierarchy, workers=0) as svc:
        result = svc.submit(mixed_submissions(jpki_hierarchy), CLIENT, None, None, bulk=True)
        receipts = [svc.with_disclosure(r) for r in result.receipts]
        assert any("requester_disclosure" in r for r in receipts)
        assert bulk_answer(svc, result.receipts) == JSONResponse({"receipts": receipts}).body


def test_refusal_before_the_append_is_not_a_receipt_failure(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    with service(tmp_path, jpki_hierarchy, workers=2) as svc:
        bad = EntryIn.model_validate(
            {**signed_entry(jpki_hierarchy.ee_valid_gen02, b"x"), "document_sha256": "00" * 32}
        ).submission()
        good = mixed_submissions(jpki_hierarchy)
        with pytest.raises(SubmissionRejectedError) as refused:
            svc.submit([*good, bad], CLIENT, None, None, bulk=True)
        assert refused.value.status == 422 and refused.value.field.startswith("entries[6].")
        assert svc.store.size == 0
