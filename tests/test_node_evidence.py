"""The node's evidence records (no chain): stored durably in seq order with their count, read
back unchanged after a reopen, absent in old data folders; a capture that fails is retried and
counted, and never stores anything."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from node.bundles import ChainIdentity
from node.evidence import CaptureError, EvidenceCapturer, run_capturer
from node.metrics import Metrics
from node.models import AnchoringRecord, HeadEvidence, HeadState, RecordError
from node.store import LogStore, StoreError
from protocol.bundle import load_bundle

VECTORS = Path(__file__).parent / "vectors"


def evidence() -> HeadEvidence:
    bundle = load_bundle((VECTORS / "v3" / "bundles" / "valid.json").read_bytes())
    assert bundle.evidence is not None
    return HeadEvidence(bundle.evidence, 1_768_467_700)


def test_evidence_is_stored_in_order_and_survives_a_reopen(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log")
    assert store.evidenced_count == 0 and store.evidence(0) is None  # an old folder
    with pytest.raises(StoreError, match="out of order"):
        store.save_evidence(1, evidence())
    store.save_evidence(0, evidence())
    store.close()
    reopened = LogStore(tmp_path / "log")
    assert reopened.evidenced_count == 1
    assert reopened.evidence(0) == evidence()
    reopened.close()


def test_a_stored_record_is_the_bundle_evidence_without_its_token() -> None:
    record = evidence()
    assert HeadEvidence.from_json(record.to_json()) == record
    with pytest.raises(RecordError):
        HeadEvidence.from_json(b'{"captured_at": 1, "evidence": {"headers": []}}')


class FailingReader:
    calls = 0

    def block(self, number: int) -> None:
        FailingReader.calls += 1
        raise CaptureError("the endpoint is down")


def test_a_failing_capture_is_retried_counted_and_stores_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log")
    sealed = store.seal_head(0, 0.0)  # no entries needed: the head is what capture reads
    metrics = Metrics()
    identity = ChainIdentity(31337, "0x" + "11" * 20, "0x" + "22" * 20, 131016)
    capturer = EvidenceCapturer(store, FailingReader(), identity, metrics)  # type: ignore[arg-type]
    record = AnchoringRecord("0x" + "33" * 32, 5, "0x" + "44" * 32, 1, identity.node)
    store.save_head(dataclasses.replace(sealed, state=HeadState.FINAL, anchoring=record))
    stop = threading.Event()
    thread = threading.Thread(target=run_capturer, args=(capturer, stop, 0.2), daemon=True)
    thread.start()
    try:
        time.sleep(2.5)  # first backoff 1 s, then 0.2 s (max_backoff): several attempts
    finally:
        stop.set()
        thread.join(5)
    assert FailingReader.calls >= 2  # retried
    assert metrics.evidence_errors._value.get() >= 2  # counted
    assert capturer.last_error is not None and "down" in capturer.last_error
    assert store.evidenced_count == 0 and store.evidence(0) is None
    store.close()
