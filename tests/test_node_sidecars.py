"""Binary sidecars with certificates stored once by SHA-256; old JSON sidecars still read."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import plyvel
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from devtools.cms_sign import sign_cms
from devtools.testca import TestHierarchy
from node import sidecars
from node.models import DocumentSidecar, RecordError, RevocationSidecar
from node.store import CERTIFICATE, SIDECAR, EncodedEntry, LogStore, NewEntry, StoreError, u64
from protocol.leaf import SignatureFormat
from tests.jpki_fixtures import key, x509_cert

pytest_plugins = ["tests.jpki_fixtures"]


def cms_sidecar(h: TestHierarchy, number: int, request_id: str | None) -> DocumentSidecar:
    signer, ca = x509_cert(h.ee_valid_gen01), x509_cert(h.sign_ca_gen01)
    cms = sign_cms(
        f"document {number}".encode(), key=key(h.ee_valid_gen01), cert=signer, chain=[ca]
    )
    certificates = (signer.public_bytes(Encoding.DER), ca.public_bytes(Encoding.DER))
    assert all(der in cms for der in certificates)  # what the binary form cuts out
    return DocumentSidecar(
        salt=bytes([number]) * 32,
        signature_format=SignatureFormat.CMS,
        signature=cms,
        certificates=certificates,
        receipt_id=f"r_{number:032x}",
        request_id=request_id,
        client="市役所-issuer",
        received_at=1_700_000_000 + number,
    )


def test_round_trip_puts_every_certificate_back_in_the_signature(
    jpki_hierarchy: TestHierarchy,
) -> None:
    for request_id in (None, "batch-7"):
        sidecar = cms_sidecar(jpki_hierarchy, 1, request_id)
        raw, certificates = sidecars.encode(sidecar)
        assert set(certificates) == {hashlib.sha256(c).digest() for c in sidecar.certificates}
        # Neither certificate is left in the stored bytes: each is named by its hash only.
        assert all(der not in raw for der in sidecar.certificates)
        assert len(raw) < len(sidecar.to_json()) / 3
        assert sidecars.decode(raw, certificates.__getitem__) == sidecar


def test_round_trip_of_pkcs1_and_revocation_sidecars() -> None:
    pkcs1 = DocumentSidecar(
        salt=b"\x07" * 32,
        signature_format=SignatureFormat.PKCS1,
        signature=b"\x01" * 256,
        certificates=(b"\x30\x82certificate",),
        receipt_id="r_1",
        request_id=None,
        client="c",
        received_at=5,
    )
    raw, certificates = sidecars.encode(pkcs1)
    assert sidecars.decode(raw, certificates.__getitem__) == pkcs1
    revocation = RevocationSidecar("r_2", "c", 6, b"\xaa" * 32)
    raw, certificates = sidecars.encode(revocation)
    assert certificates == {}
    assert sidecars.decode(raw, certificates.__getitem__) == revocation


def test_truncated_or_padded_binary_sidecars_are_refused(jpki_hierarchy: TestHierarchy) -> None:
    raw, certificates = sidecars.encode(cms_sidecar(jpki_hierarchy, 2, "x"))
    for broken in (raw[:-1], raw + b"\x00", raw[:40], b"\x09" + raw[1:]):
        with pytest.raises(RecordError):
            sidecars.decode(broken, certificates.__getitem__)


def test_store_keeps_each_certificate_once_and_reads_old_json_sidecars(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    documents = [cms_sidecar(jpki_hierarchy, n, None) for n in range(4)]
    store = LogStore(tmp_path)
    for first in (0, 2):  # two batches naming the same two certificates
        store.append(
            [NewEntry(f"leaf {n}".encode(), documents[n], documents[n].receipt_id)
             for n in (first, first + 1)]
        )  # fmt: skip
    certificate_keys = [k for k, _ in store.iterate_prefix(CERTIFICATE)]
    assert len(certificate_keys) == 2
    # A sidecar as an older node wrote it, JSON, next to the binary ones.
    legacy = cms_sidecar(jpki_hierarchy, 9, "old")
    store.append([NewEntry(b"leaf 9", legacy, legacy.receipt_id)])
    store.db.put(SIDECAR + u64(4), legacy.to_json(), sync=True)
    store.close()

    reopened = LogStore(tmp_path)  # a new process: nothing cached
    read = [reopened.entry(i) for i in range(5)]
    assert [e.sidecar if e else None for e in read] == [*documents, legacy]
    reopened.close()


def test_a_missing_certificate_is_a_store_error(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    document = cms_sidecar(jpki_hierarchy, 3, None)
    store = LogStore(tmp_path)
    store.append([NewEntry(b"leaf", document, document.receipt_id)])
    store.close()
    db = plyvel.DB(str(tmp_path))
    db.delete(CERTIFICATE + hashlib.sha256(document.certificates[1]).digest())
    db.close()
    reopened = LogStore(tmp_path)
    with pytest.raises(StoreError, match=r"certificate .* is missing"):
        reopened.entry(0)
    reopened.close()


def test_encoded_entries_are_stored_byte_for_byte_as_new_entries(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    """The intake workers hand over entries encoded (`NewEntry.encoded`): the store holds the
    same bytes under the same keys as from the entries themselves, mixed or not, and they
    survive a pickle round trip (the hand-over)."""
    documents = [cms_sidecar(jpki_hierarchy, n, "b" if n % 2 else None) for n in range(4)]
    revocation = RevocationSidecar("r_rev", "c", 7, b"\xaa" * 32)
    entries = [
        *(
            NewEntry(f"leaf {n}".encode(), d, d.receipt_id, private=((b"P" + bytes([n]), b"x"),))
            for n, d in enumerate(documents)
        ),
        NewEntry(b"leaf r", revocation, revocation.receipt_id, revokes=b"\xaa" * 32),
    ]
    plain, encoded, mixed = (
        LogStore(tmp_path / "a"),
        LogStore(tmp_path / "b"),
        LogStore(tmp_path / "c"),
    )
    plain.append(entries, {b"extra": b"1"})
    handed = pickle.loads(pickle.dumps([e.encoded() for e in entries]))  # noqa: S301 (our own bytes)
    assert all(isinstance(e, EncodedEntry) for e in handed)
    encoded.append(handed, {b"extra": b"1"})
    mixed.append([entries[0], *handed[1:3]])
    mixed.append([*entries[3:]], {b"extra": b"1"})
    contents = [list(s.db.iterator()) for s in (plain, encoded, mixed)]
    assert contents[0] == contents[1] == contents[2]
    assert [encoded.entry(i).sidecar for i in range(4)] == documents  # type: ignore[union-attr]
    for store in (plain, encoded, mixed):
        store.close()
