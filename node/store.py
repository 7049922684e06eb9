"""The node's durable state in LevelDB: the append-only log, its Merkle subtrees, the tree
heads and their anchoring state, receipts, idempotency keys and API tokens.

Every mutation is one LevelDB write batch written with sync=True, so what a caller was
told is stored survives SIGKILL and power loss. Proofs never rebuild the tree: the hash of
every complete aligned subtree is stored when it completes, so a proof or a root for any
size takes O(log n) reads (`protocol.merkle.*_from_subtrees`).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import plyvel

from node import sidecars
from node.models import (
    EntrySidecar,
    Head,
    HeadEvidence,
    HeadState,
    HeadTimestamp,
    RecordError,
    SignerEvidence,
    sidecar_from_json,
)
from protocol.merkle import (
    CompactRange,
    consistency_proof_from_subtrees,
    hash_leaf,
    inclusion_proof_from_subtrees,
    root_from_subtrees,
)

_U64 = struct.Struct(">Q")
_NODE = struct.Struct(">BQ")

META_SIZE = b"meta:size"
META_HEADS = b"meta:heads"
META_STAMPED = b"meta:stamped"  # heads 0 .. n-1 all have a timestamp (absent: 0)
META_EVIDENCED = b"meta:evidenced"  # heads 0 .. n-1 all have chain evidence (absent: 0)
META_SIGNERS_SETTLED = b"meta:signers-settled"  # entries 0 .. n-1 need no signer re-check
LEAF = b"L"  # + u64 index -> leaf bytes
SIDECAR = b"X"  # + u64 index -> binary sidecar (node/sidecars.py), or JSON in older folders
CERTIFICATE = b"C"  # + SHA-256 -> certificate DER, stored once however many entries name it
INDEX = b"I"  # + leaf hash -> u64 index
NODE = b"N"  # + u8 level + u64 position -> subtree hash
HEAD = b"H"  # + u64 seq -> JSON head record
TIMESTAMP = b"T"  # + u64 seq -> JSON HeadTimestamp (RFC 3161 token over the head)
EVIDENCE = b"E"  # + u64 seq -> JSON HeadEvidence (headers, receipt, tx and state proofs)
RECEIPT = b"R"  # + receipt id -> u64 index
REQUEST = b"Q"  # + sha256(client, request id) -> JSON {body_sha256, indices}
REVOKED = b"V"  # + revoked leaf hash -> u64 index of the revocation entry
SIGNER_EVIDENCE = b"S"  # + u64 index -> JSON SignerEvidence (what decided the signer's status)
REVOCATION_BLOB = b"B"  # + SHA-256 -> DER CRL or OCSP response, stored once however many use it

_HEX_PREFIX = re.compile(r"[0-9a-f]{0,64}")

LEVELDB_OPTIONS: dict[str, Any] = {
    # A large memtable turns a 10,000-entry batch into one in-memory write, and makes fewer,
    # larger level-0 files (LevelDB stalls writers while level 0 is full).
    "write_buffer_size": 64 << 20,
    "max_file_size": 16 << 20,  # fewer files per level: fewer, longer compactions
    "lru_cache_size": 64 << 20,  # the upper Merkle levels and hot index blocks stay in memory
    "bloom_filter_bits": 10,  # a missing leaf hash (404) costs no disk read per level
    "block_size": 16 << 10,
}
"""Tuned for the node's write pattern (bench/RESULTS.md, Node). Any folder opens with any of
these: they change how new files are written, not the format."""
CACHED_CERTIFICATES = 1024


class StoreError(Exception):
    """The store is unusable (corrupt, or opened twice)."""


def u64(value: int) -> bytes:
    return _U64.pack(value)


@dataclass(frozen=True)
class NewEntry:
    """What an append writes for one entry."""

    leaf: bytes
    sidecar: EntrySidecar
    receipt_id: str
    revokes: bytes | None = None  # leaf hash a revocation entry withdraws
    private: tuple[tuple[bytes, bytes], ...] = ()
    """Records kept with the entry, in its synced batch, never served publicly (the
    requester record: node.requester_record)."""

    def encoded(self) -> EncodedEntry:
        sidecar, certificates = sidecars.encode(self.sidecar)
        return EncodedEntry(
            self.leaf, sidecar, certificates, self.receipt_id, self.revokes, self.private
        )


class EncodedEntry(NamedTuple):
    """A NewEntry as `LogStore.append` writes it, its sidecar already in binary form
    (`NewEntry.encoded`). The intake workers hand these over for a large request, so the
    node's append only writes bytes (and a tuple of bytes unpickles ~4 x faster than the
    dataclasses)."""

    leaf: bytes
    sidecar: bytes  # node.sidecars.encode
    certificates: dict[bytes, bytes]  # SHA-256 -> DER, the certificates the sidecar names
    receipt_id: str
    revokes: bytes | None
    private: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf: bytes
    leaf_hash: bytes
    sidecar: EntrySidecar


class LogStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.db = plyvel.DB(str(path), create_if_missing=True, **LEVELDB_OPTIONS)
        except plyvel.IOError as error:
            raise StoreError(
                f"cannot open {path}: {error} (is another node running on it?)"
            ) from None
        self._write_lock = threading.Lock()
        # Certificates known to be on disk (written by a synced batch), and DER read back.
        self._stored_certificates: set[bytes] = set()
        self._certificates: OrderedDict[bytes, bytes] = OrderedDict()
        self._certificates_lock = threading.Lock()
        self._version = 0
        self._size = self._read_int(META_SIZE)
        self._heads = self._read_int(META_HEADS)
        # The perfect subtrees covering the log: appends compute parents from them
        # without reading back.
        self._frontier = CompactRange.from_subtrees(self._size, self.subtree_hash)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ log

    @property
    def size(self) -> int:
        return self._size

    @property
    def version(self) -> int:
        """Changes whenever an entry is appended or a head is sealed or changes state: what
        was computed from the store at one version holds until it changes (caches)."""
        return self._version

    def append(
        self,
        entries: Sequence[NewEntry | EncodedEntry],
        extra_writes: dict[bytes, bytes] | None = None,
    ) -> int:
        """Append entries in one synced batch; return the index of the first."""
        encoded = [e if isinstance(e, EncodedEntry) else e.encoded() for e in entries]
        with self._write_lock:
            first = self._size
            frontier = self._frontier.copy()
            new_certificates: dict[bytes, bytes] = {}
            with self.db.write_batch(sync=True) as batch:
                for offset, entry in enumerate(encoded):
                    index = first + offset
                    leaf_hash = hash_leaf(entry.leaf)
                    batch.put(LEAF + u64(index), entry.leaf)
                    batch.put(SIDECAR + u64(index), entry.sidecar)
                    for sha256, der in entry.certificates.items():
                        if sha256 not in self._stored_certificates:
                            new_certificates[sha256] = der
                    batch.put(INDEX + leaf_hash, u64(index))
                    batch.put(RECEIPT + entry.receipt_id.encode(), u64(index))
                    if entry.revokes is not None:
                        batch.put(REVOKED + entry.revokes, u64(index))
                    for key, value in entry.private:
                        batch.put(key, value)
                    # The leaf and every subtree it completes, under their (level, position).
                    for level, position, node in frontier.append(leaf_hash):
                        batch.put(NODE + _NODE.pack(level, position), node)
                for sha256, der in new_certificates.items():
                    batch.put(CERTIFICATE + sha256, der)
                for key, value in (extra_writes or {}).items():
                    batch.put(key, value)
                batch.put(META_SIZE, u64(first + len(entries)))
            if len(self._stored_certificates) > 100_000:  # a bound; forgetting costs a rewrite
                self._stored_certificates.clear()
            self._stored_certificates.update(new_certificates)
            self._frontier = frontier
            self._size = first + len(entries)
            self._version += 1
            return first

    def entry(self, index: int) -> StoredEntry | None:
        if not 0 <= index < self._size:
            return None
        leaf = self.db.get(LEAF + u64(index))
        sidecar = self.db.get(SIDECAR + u64(index))
        if leaf is None or sidecar is None:
            raise StoreError(f"entry {index} is missing below size {self._size}")
        try:
            if sidecars.is_json(sidecar):  # written before the binary form
                record = sidecar_from_json(sidecar)
            else:
                record = sidecars.decode(sidecar, self.certificate)
        except RecordError as error:
            raise StoreError(f"entry {index}: {error}") from None
        return StoredEntry(index, leaf, hash_leaf(leaf), record)

    def certificate(self, sha256: bytes) -> bytes:
        """A certificate an entry names, by its SHA-256 (immutable: cached)."""
        with self._certificates_lock:
            der = self._certificates.get(sha256)
            if der is not None:
                self._certificates.move_to_end(sha256)
                return der
        stored: bytes | None = self.db.get(CERTIFICATE + sha256)
        if stored is None:
            raise RecordError(f"certificate {sha256.hex()} is missing")
        with self._certificates_lock:
            self._certificates[sha256] = stored
            if len(self._certificates) > CACHED_CERTIFICATES:
                self._certificates.popitem(last=False)
        return stored

    def index_of(self, leaf_hash: bytes) -> int | None:
        raw = self.db.get(INDEX + leaf_hash)
        return None if raw is None else _U64.unpack(raw)[0]

    def index_of_receipt(self, receipt_id: str) -> int | None:
        raw = self.db.get(RECEIPT + receipt_id.encode())
        return None if raw is None else _U64.unpack(raw)[0]

    def revocation_of(self, leaf_hash: bytes) -> int | None:
        raw = self.db.get(REVOKED + leaf_hash)
        return None if raw is None else _U64.unpack(raw)[0]

    def revocations_with_prefix(self, prefix: str) -> Iterator[tuple[bytes, int]]:
        """(revoked leaf hash, index of its revocation entry) for every revoked leaf hash whose
        lowercase hex starts with `prefix`, in leaf-hash order: one LevelDB range scan over
        exactly those keys, however large the log."""
        if not _HEX_PREFIX.fullmatch(prefix):
            raise ValueError(f"{prefix!r} is not a prefix of lowercase hex digits")
        low = REVOKED + bytes.fromhex(prefix.ljust(64, "0"))
        high = REVOKED + bytes.fromhex(prefix.ljust(64, "f"))
        for key, value in self.db.iterator(start=low, stop=high, include_stop=True):
            yield key[len(REVOKED) :], _U64.unpack(value)[0]

    def leaves(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(index, leaf bytes) for start <= index < end, in order."""
        end = min(end, self._size)
        if start >= end:  # also keeps keys a u64 cannot hold out of the iterator bounds
            return
        for key, value in self.db.iterator(start=LEAF + u64(start), stop=LEAF + u64(end)):
            yield _U64.unpack(key[1:])[0], value

    # ------------------------------------------------------------------ Merkle

    def subtree_hash(self, start: int, end: int) -> bytes:
        level = (end - start).bit_length() - 1
        # plyvel ships no type hints: its get() returns the stored bytes or None.
        value: bytes | None = self.db.get(NODE + _NODE.pack(level, start >> level))
        if value is None:
            raise StoreError(f"subtree [{start}, {end}) is not stored")
        return value

    def root(self, tree_size: int) -> bytes:
        return root_from_subtrees(tree_size, self.subtree_hash)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return inclusion_proof_from_subtrees(index, tree_size, self.subtree_hash)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return consistency_proof_from_subtrees(size1, size2, self.subtree_hash)

    # ------------------------------------------------------------------ heads

    @property
    def head_count(self) -> int:
        return self._heads

    def seal_head(self, tree_size: int, sealed_at: float) -> Head:
        """Record a new head over the first `tree_size` leaves, with the next seq."""
        with self._write_lock:
            head = Head(self._heads, tree_size, self.root(tree_size), sealed_at)
            with self.db.write_batch(sync=True) as batch:
                batch.put(HEAD + u64(head.seq), head.to_json())
                batch.put(META_HEADS, u64(self._heads + 1))
            self._heads += 1
            self._version += 1
            return head

    def head(self, seq: int) -> Head | None:
        raw = self.db.get(HEAD + u64(seq))
        return None if raw is None else _head(raw)

    def save_head(self, head: Head) -> None:
        self.db.put(HEAD + u64(head.seq), head.to_json(), sync=True)
        with self._write_lock:
            self._version += 1

    def heads(self, start: int = 0, limit: int | None = None) -> Iterator[Head]:
        stop = self._heads if limit is None else min(self._heads, start + limit)
        if start >= stop:
            return
        for _, value in self.db.iterator(start=HEAD + u64(start), stop=HEAD + u64(stop)):
            yield _head(value)

    def latest_head(self) -> Head | None:
        return self.head(self._heads - 1) if self._heads else None

    def covering_head(self, index: int, states: Sequence[HeadState]) -> Head | None:
        """The earliest head in one of `states` that contains leaf `index` (binary search
        by size, then a forward scan over the few heads in the wanted states)."""
        low, high = 0, self._heads
        while low < high:
            middle = (low + high) // 2
            head = self.head(middle)
            assert head is not None
            if head.tree_size > index:
                high = middle
            else:
                low = middle + 1
        for head in self.heads(low):
            if head.state in states:
                return head
            if head.state is HeadState.SEALED:
                return None  # later heads are not anchored before earlier ones
        return None

    # ------------------------------------------------------------------ timestamps

    @property
    def stamped_count(self) -> int:
        """Heads are stamped in seq order: every head below this has its timestamp."""
        return self._read_int(META_STAMPED)

    def save_timestamp(self, seq: int, timestamp: HeadTimestamp) -> None:
        """Keep the next head's timestamp, in one synced write with the count."""
        with self._write_lock:
            if seq != self.stamped_count:
                raise StoreError(f"head {seq} stamped out of order (next is {self.stamped_count})")
            with self.db.write_batch(sync=True) as batch:
                batch.put(TIMESTAMP + u64(seq), timestamp.to_json())
                batch.put(META_STAMPED, u64(seq + 1))
            self._version += 1

    def timestamp(self, seq: int) -> HeadTimestamp | None:
        raw = self.db.get(TIMESTAMP + u64(seq))
        if raw is None:
            return None
        try:
            return HeadTimestamp.from_json(raw)
        except RecordError as error:
            raise StoreError(f"head {seq}: {error}") from None

    # ------------------------------------------------------------------ chain evidence

    @property
    def evidenced_count(self) -> int:
        """Evidence is captured in seq order: every head below this has its evidence."""
        return self._read_int(META_EVIDENCED)

    def save_evidence(self, seq: int, evidence: HeadEvidence) -> None:
        """Keep the next head's evidence, in one synced write with the count: after a SIGKILL
        the head has either none (it is captured again) or all of it."""
        with self._write_lock:
            if seq != self.evidenced_count:
                raise StoreError(
                    f"evidence of head {seq} stored out of order (next is {self.evidenced_count})"
                )
            with self.db.write_batch(sync=True) as batch:
                batch.put(EVIDENCE + u64(seq), evidence.to_json())
                batch.put(META_EVIDENCED, u64(seq + 1))
            self._version += 1

    def evidence(self, seq: int) -> HeadEvidence | None:
        raw = self.db.get(EVIDENCE + u64(seq))
        if raw is None:
            return None
        try:
            return HeadEvidence.from_json(raw)
        except RecordError as error:
            raise StoreError(f"head {seq}: {error}") from None

    # ------------------------------------------------------------------ signer revocation evidence

    @property
    def signers_settled(self) -> int:
        """Every entry below this has its signer evidence, or needs none (revocation entries)."""
        return self._read_int(META_SIGNERS_SETTLED)

    def save_signer_evidence(
        self, index: int, record: SignerEvidence | None, blobs: Sequence[bytes]
    ) -> None:
        """Keep entry `index`'s signer evidence (None: it needs none) with the CRLs and OCSP
        responses it names, and move the settled mark over every entry that now has a record,
        in one synced write: after a SIGKILL the entry has all of it or nothing (and is checked
        again). Blobs are keyed by their SHA-256, so a CRL shared by many entries is stored once
        and writing it again changes nothing."""
        with self._write_lock:
            settled = self.signers_settled
            with self.db.write_batch(sync=True) as batch:
                for blob in blobs:
                    batch.put(REVOCATION_BLOB + hashlib.sha256(blob).digest(), blob)
                if record is not None:
                    batch.put(SIGNER_EVIDENCE + u64(index), record.to_json())
                if index == settled:
                    settled += 1
                    while settled < self._size and (
                        self.db.get(SIGNER_EVIDENCE + u64(settled)) is not None
                    ):
                        settled += 1
                    batch.put(META_SIGNERS_SETTLED, u64(settled))
            self._version += 1

    def signer_evidence(self, index: int) -> SignerEvidence | None:
        raw = self.db.get(SIGNER_EVIDENCE + u64(index))
        if raw is None:
            return None
        try:
            return SignerEvidence.from_json(raw)
        except RecordError as error:
            raise StoreError(f"entry {index}: {error}") from None

    def revocation_blob(self, sha256: bytes) -> bytes:
        blob: bytes | None = self.db.get(REVOCATION_BLOB + sha256)
        if blob is None:
            raise StoreError(f"revocation evidence {sha256.hex()} is missing")
        return blob

    # ------------------------------------------------------------------ small records

    def get_json(self, key: bytes) -> Any:
        raw = self.db.get(key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: bytes, value: Any) -> None:
        self.db.put(key, json.dumps(value).encode(), sync=True)

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self.db.iterator(prefix=prefix)

    def _read_int(self, key: bytes) -> int:
        raw = self.db.get(key)
        return 0 if raw is None else _U64.unpack(raw)[0]


def _head(raw: bytes) -> Head:
    try:
        return Head.from_json(raw)
    except RecordError as error:
        raise StoreError(str(error)) from None
