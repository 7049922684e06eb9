"""The node's signer-evidence records (no chain): a CRL shared by many entries is stored once,
entries settle in any order while the settled mark only moves over a contiguous run, and all of
it survives a reopen; nothing is due before the grace is over."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from unittest import mock

import node.signer_evidence
from devtools.testca import TestHierarchy
from node.metrics import Metrics
from node.models import RevocationSidecar, SignerEvidence, SignerStatus
from node.signer_evidence import SignerEvidenceCapturer
from node.store import REVOCATION_BLOB, LogStore, NewEntry
from tests.jpki_fixtures import anchors
from verifier.jpki import RevocationSources, check_signer

pytest_plugins = ["tests.jpki_fixtures"]


def sidecar(receipt_id: str) -> RevocationSidecar:
    return RevocationSidecar(receipt_id=receipt_id, client="test", received_at=0, revokes=b"")


def record(crl: bytes) -> SignerEvidence:
    return SignerEvidence(SignerStatus.GOOD, (hashlib.sha256(crl).digest(),), (), 1_768_467_700)


def test_one_blob_per_crl_settled_in_any_order_and_durable(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append([NewEntry(bytes([i]) * 40, sidecar(f"r{i}"), f"r{i}") for i in range(3)])
    crl = b"the next CRL"
    store.save_signer_evidence(1, record(crl), [crl])
    assert store.signers_settled == 0  # entry 0 still waits
    store.save_signer_evidence(0, record(crl), [crl])
    assert store.signers_settled == 2  # over 0 and the already settled 1
    assert len(list(store.iterate_prefix(REVOCATION_BLOB))) == 1
    store.close()
    reopened = LogStore(tmp_path)
    assert reopened.signers_settled == 2
    assert reopened.signer_evidence(0) == record(crl) and reopened.signer_evidence(2) is None
    assert reopened.revocation_blob(hashlib.sha256(crl).digest()) == crl
    reopened.close()


def test_a_record_reads_back_unchanged() -> None:
    stored = SignerEvidence(SignerStatus.REVOKED, (), (b"\1" * 32,), 5)
    assert SignerEvidence.from_json(stored.to_json()) == stored


def test_nothing_is_due_before_the_grace_is_over(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    capturer = SignerEvidenceCapturer(
        store,
        (),
        RevocationSources(crls=[b"unused"]),
        Metrics(),
        grace=3600.0,
        clock=lambda: 1_000.0,
    )
    # Signed 10 minutes ago: an hour's grace is not over, so no source is even read.
    assert capturer.recheck(400, [b"not even a certificate"]) is None
    store.close()


def test_a_recheck_is_judged_once_per_signer_second_and_blob(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    """Entries one signer signed in the same second, decided by the same CRL, cost one path
    validation (`SignerEvidenceCapturer._decide` keeps the answer); another second is judged
    again, and every answer is the one judged in full."""
    h = jpki_hierarchy
    store = LogStore(tmp_path)
    capturer = SignerEvidenceCapturer(
        store, anchors(h), RevocationSources(crl_files=list(h.crl_files)), Metrics()
    )
    certificates = [h.ee_valid_gen02.cert.read_bytes()]
    signed = int((h.now - timedelta(hours=1)).timestamp())
    with mock.patch.object(node.signer_evidence, "check_signer", wraps=check_signer) as judged:
        first = [capturer.recheck(signed, certificates) for _ in range(3)]
        assert judged.call_count == 1
        later = capturer.recheck(signed + 1, certificates)
        assert judged.call_count == 2
    fresh = SignerEvidenceCapturer(
        store, anchors(h), RevocationSources(crl_files=list(h.crl_files)), Metrics()
    )
    assert first == [fresh.recheck(signed, certificates)] * 3
    assert later == fresh.recheck(signed + 1, certificates)
    assert first[0] is not None and first[0].record.status is SignerStatus.GOOD
    store.close()
