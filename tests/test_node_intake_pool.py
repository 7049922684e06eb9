"""Bulk intake checks in worker processes: same entries, same first refusal, as in-process."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

import node.intake_pool
from anchor.keys import write_keystore
from devtools.testca import TestHierarchy
from node.api import EntryIn
from node.intake import ApplicationInput, SignatureInput, Submission, SubmissionRejectedError
from node.models import DocumentSidecar
from node.service import NodeService
from node.settings import load_settings
from node.tokens import Client
from protocol.leaf import EntryKind, SignatureFormat
from protocol.merkle import hash_leaf
from tests.node_harness import signed_entry

pytest_plugins = ["tests.jpki_fixtures"]


@contextmanager
def service(tmp_path: Path, h: TestHierarchy, workers: int) -> Iterator[NodeService]:
    """A node with `workers` intake workers, stopped when the block ends."""
    trust, seal_trust = tmp_path / "trust", tmp_path / "seal-trust"
    for folder, anchors in ((trust, h.trust_anchors), (seal_trust, h.seal_trust_anchors)):
        folder.mkdir()
        for anchor in anchors:
            shutil.copy(anchor, folder / anchor.name)
    write_keystore(Account.create(), tmp_path / "key.json", "pw")
    (tmp_path / "pw").write_text("pw\n")
    settings = load_settings(
        data_dir=tmp_path,
        key_file=tmp_path / "key.json",
        password_file=tmp_path / "pw",
        trust_dir=trust,
        crl_files=list(h.crl_files),
        seal_trust_dir=seal_trust,
        seal_crl_files=list(h.seal_crl_files),
        lg_code=131016,
        intake_workers=workers,
        intake_pool_min_entries=2,
    )
    svc = NodeService(settings)
    try:
        yield svc
    finally:
        svc.stop()


def test_refusals_cross_processes_whole() -> None:
    error = SubmissionRejectedError("entries[3].x", "why", 503, "p", retry_after=9)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert (copy.field, copy.detail, copy.status, copy.problem, copy.retry_after) == (
        "entries[3].x", "why", 503, "p", 9,
    )  # fmt: skip


def test_submissions_cross_processes_whole() -> None:
    """Submission and SignatureInput pickle by their constructor (node/intake.py): every
    field survives, defaults or not."""
    signature = SignatureInput(SignatureFormat.PKCS1, b"sig", b"cert", 1_764_000_000)
    full = Submission(
        b"\x01" * 32, 2, 1_764_000_001, signature, "req-1", EntryKind.EVENT,
        ApplicationInput(b"cms", b"\x02" * 32),
    )  # fmt: skip
    plain = Submission(
        b"\x03" * 32, 0x8001, 5, SignatureInput(SignatureFormat.CMS, b"v", None, None)
    )
    for submission in (full, plain):
        copy = pickle.loads(pickle.dumps(submission))  # noqa: S301 (our own bytes)
        assert copy == submission and type(copy.signature) is SignatureInput


def test_workers_check_in_order_and_raise_the_first_refusal(
    tmp_path: Path, jpki_hierarchy: TestHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node.intake_pool, "CHUNK", 2)  # 7 entries: four chunks, two workers
    bodies = [signed_entry(jpki_hierarchy.ee_valid_gen02, f"doc {i}".encode()) for i in range(7)]
    good = [EntryIn.model_validate(b).submission() for b in bodies]
    # Positions 3 and 5 sign other documents; 3 is the first refused, in the second chunk.
    bad = list(good)
    bad[3], bad[5] = (
        EntryIn.model_validate({**bodies[i], "document_sha256": "00" * 32}).submission()
        for i in (3, 5)
    )
    with service(tmp_path, jpki_hierarchy, workers=2) as pooled:
        client = Client("issuer", frozenset({"submit"}))
        assert pooled.intake_pool.wanted(len(good))
        with pytest.raises(SubmissionRejectedError) as refused:
            pooled.submit(bad, client, None, None, bulk=True)
        assert refused.value.field == "entries[3].signature.value"
        assert pooled.store.size == 0  # all or none

        result = pooled.submit(good, client, None, None, bulk=True)
        assert [r["leaf_index"] for r in result.receipts] == list(range(7))
        for receipt, submission in zip(result.receipts, good, strict=True):
            stored = pooled.store.entry(receipt["leaf_index"])
            assert stored is not None and isinstance(stored.sidecar, DocumentSidecar)
            assert stored.sidecar.signature == submission.signature.value
            assert receipt["leaf_hash"] == hash_leaf(stored.leaf).hex()
            assert receipt == pooled.receipt(stored)  # what a later read signs, byte for byte
            unsigned = {k: v for k, v in receipt.items() if k != "receipt_signature"}
            text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            signer = Account.recover_message(
                encode_defunct(text=text), signature=receipt["receipt_signature"]
            )
            assert signer == pooled.key.address


def test_pooled_bulk_meets_the_issuance_policy_and_the_requester_checks(
    tmp_path: Path, jpki_hierarchy: TestHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers build the intake checks from the settings as the node does
    (node/intake_checks.py): a pooled bulk refuses what a single request refuses, naming the
    entry, and stores nothing."""
    monkeypatch.setattr(node.intake_pool, "CHUNK", 2)
    h = jpki_hierarchy
    card = [signed_entry(h.ee_valid_gen02, f"doc {i}".encode()) for i in range(6)]
    chiyoda = signed_entry(h.seal, b"sealed copy", document_type=1)
    application = signed_entry(h.ee_valid_gen01, b"my application")["signature"]
    cases = {
        # a registered type (1, 住民票の写し) signed with a My Number card: the seal's only
        "entries[3].document_type": {**card[3], "document_type": 1},
        # another municipality's seal (Tsukuba-shi) on Chiyoda-ku's node
        "entries[4].signature.certificates[0]": signed_entry(
            h.seal_other_municipality, b"tsukuba copy", document_type=1
        ),
        # the resident's application signed over another digest
        "entries[5].application.value": {
            **card[5],
            "application": {**application, "application_sha256": "00" * 32},
        },
    }
    with service(tmp_path, h, workers=2) as pooled:
        client = Client("issuer", frozenset({"submit"}))
        for field, bad in cases.items():
            bodies = [*card[:2], chiyoda, *card[3:]]
            bodies[int(field[8])] = bad
            submissions = [EntryIn.model_validate(b).submission() for b in bodies]
            assert pooled.intake_pool.wanted(len(submissions))
            with pytest.raises(SubmissionRejectedError) as refused:
                pooled.submit(submissions, client, None, None, bulk=True)
            assert (refused.value.field, refused.value.status) == (field, 422), (
                refused.value.field,
                refused.value.detail,
            )
            assert pooled.store.size == 0  # all or none
        bodies = [*card[:2], chiyoda, *card[3:]]
        done = pooled.submit(
            [EntryIn.model_validate(b).submission() for b in bodies], client, None, None, bulk=True
        )
        assert len(done.receipts) == 6  # the sealed 住民票 and the card-signed entries pass
