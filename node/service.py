"""The node's moving parts wired together: store, intake, receipts, bundles, anchoring."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_account.signers.local import LocalAccount

from anchor import RegistryClient, connect
from anchor.evidence import EvidenceReader
from anchor.keys import load_account
from anchor.transactions import gwei
from node.anchoring import AnchorWorker, Batcher, run_worker
from node.bundles import BundleAnswer, BundleBuilder, ChainIdentity
from node.evidence import EvidenceCapturer, run_capturer
from node.intake import (
    Submission,
    SubmissionRejectedError,
    body_fingerprint,
    revocation_entry,
)
from node.intake_checks import build_intake_checks, check_submission
from node.intake_pool import IntakePool, PendingReceipts
from node.metrics import Metrics
from node.models import Head, HeadState, HeadTimestamp
from node.receipt_signer import ReceiptSigner
from node.receipts import ReceiptMaker, ReceiptSource, receipt_source
from node.relay import RelayClient, Relayer, RelayQueue, run_relayer
from node.requester_record import RequesterRecord, requester_from_json, requester_key
from node.settings import NodeSettings
from node.signer_evidence import SignerEvidenceCapturer, run_signer_evidence
from node.store import REQUEST, EncodedEntry, LogStore, NewEntry, StoredEntry, StoreError
from node.tiles import NOTE_KEY_FILE, TilePublisher, TileWriter, load_or_create_note_key
from node.timestamping import HeadStamper, TsaClient, load_tsa_anchors, run_stamper
from node.tokens import Client, TokenStore
from protocol.checkpoint import NoteSigner
from protocol.leaf import (
    DocumentEntry,
    decode_entry,
)
from verifier.chain import revocation_bucket_json
from verifier.jpki import JPKICertificate, RevocationSources

log = logging.getLogger("node")

EVIDENCE_MAX_BACKOFF = 60.0
"""Seconds between capture attempts at most while the chain endpoint fails."""
BUCKET_CACHE_SIZE = 4096
"""Revocation buckets kept ready: every 1- and 2-digit prefix, and the busiest longer ones."""


@dataclass(frozen=True)
class RevocationBucketAnswer:
    """What the node serves for one prefix (verifier.chain.REVOCATIONS_PATH), ready to send."""

    body: bytes
    etag: str


@dataclass(frozen=True)
class SubmitResult:
    receipts: list[dict[str, Any]]
    replayed: bool


class NodeService:
    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.store = LogStore(settings.store_dir)
        self.tokens = TokenStore(settings.data_dir / "tokens.json")
        self.metrics = Metrics()
        self.metrics.tree_size.set(self.store.size)
        self.intake = build_intake_checks(settings)
        self.freshness, self.gate = self.intake.freshness, self.intake.gate
        self.key: LocalAccount = load_account(
            _required(settings.key_file, "key_file"), settings.password_file
        )
        self.intake_pool = IntakePool(settings, bytes(self.key.key))
        self.batcher = Batcher(
            self.store, settings.batch_max_entries, settings.batch_interval, self.metrics
        )
        self.registry: RegistryClient | None = None
        self.worker: AnchorWorker | None = None
        self.identity: ChainIdentity | None = None
        self.relay_queue: RelayQueue | None = None
        self.relayer: Relayer | None = None
        if settings.rpc_url:
            w3 = connect(settings.rpc_url, chain_id=settings.chain_id)
            self.registry = RegistryClient(
                w3,
                _required(settings.registry, "registry"),
                self.key,
                receipt_timeout=settings.anchor_receipt_timeout,
            )
            assert self.registry.sender is not None
            self.registry.sender.max_fee_per_gas = gwei(settings.anchor_max_fee_gwei)
            self.identity = ChainIdentity(
                self.registry.chain_id(), self.registry.address, self.key.address, settings.lg_code
            )
            relay: RelayClient | RelayQueue | None = None
            if settings.relay_for:
                # A relayer batches its own heads with the others'.
                self.relay_queue = RelayQueue(
                    self.registry, [*settings.relay_for, self.key.address]
                )
                self.relayer = Relayer(self.relay_queue, self.registry, settings.relay_max_heads)
                relay = self.relay_queue
            if settings.relay_url:
                token_file = _required(settings.relay_token_file, "relay_token_file")
                relay = RelayClient(settings.relay_url, token_file.read_text().strip())
            self.worker = AnchorWorker(
                self.store,
                self.registry,
                # None: the worker asks the chain (RegistryClient.finality_depth).
                settings.finality_depth,
                self.metrics,
                max_in_flight=settings.max_anchors_in_flight,
                relay=relay,
                relay_timeout=settings.relay_timeout,
            )
        self._receipts = ReceiptMaker(
            ReceiptSigner(self.key),
            self.key.address,
            None if self.identity is None else (self.identity.chain_id, self.identity.registry),
        )
        self.capturer = self._chain_evidence()
        self.stamper: HeadStamper | None = None
        if settings.tsa_url:
            if self.identity is None:
                raise ValueError(
                    "setting tsa_url needs a chain (rpc_url): heads are stamped once anchored"
                )
            client = TsaClient(
                settings.tsa_url,
                load_tsa_anchors(_required(settings.tsa_trust_anchors, "tsa_trust_anchors")),
                policy=settings.tsa_policy,
                timeout=settings.tsa_timeout,
            )
            self.stamper = HeadStamper(self.store, client, self.identity, self.metrics)
        self.signer_evidence = self._signer_evidence(
            self.intake.trust_anchors, self.intake.revocation, self.intake.seal_anchors
        )
        self.note_key, self.tiles = self._tile_publisher(settings)
        self.bundles = BundleBuilder(self.store, self.identity)
        self._submit_lock = threading.RLock()  # revoke() checks, then appends, under it
        # prefix -> (store version it was built at, answer); the anonymous public endpoint
        # then costs a dictionary look-up until the log or a head changes.
        self._buckets: OrderedDict[str, tuple[int, RevocationBucketAnswer]] = OrderedDict()
        self._buckets_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._relay_thread: threading.Thread | None = None
        self._stamp_thread: threading.Thread | None = None
        self._evidence_thread: threading.Thread | None = None
        self._signer_thread: threading.Thread | None = None

    def _tile_publisher(self, settings: NodeSettings) -> tuple[NoteSigner, TilePublisher | None]:
        """The checkpoint key (made at first start) and, unless off, the tile publisher."""
        key = load_or_create_note_key(settings.data_dir / NOTE_KEY_FILE, settings.origin)
        if not settings.tiles:
            return key, None
        writer = TileWriter(self.store, settings.tile_dir, key)
        return key, TilePublisher(writer, self.metrics.registry)

    def _chain_evidence(self) -> EvidenceCapturer | None:
        """The final heads' chain evidence capture, when the node anchors."""
        if not self.settings.rpc_url or self.identity is None:
            return None
        # Its own connection: capture runs in its own thread, apart from anchoring.
        reader = EvidenceReader(connect(self.settings.rpc_url, chain_id=self.settings.chain_id))
        return EvidenceCapturer(self.store, reader, self.identity, self.metrics)

    def _signer_evidence(
        self,
        trust_anchors: tuple[JPKICertificate, ...],
        revocation: RevocationSources,
        seal_anchors: tuple[JPKICertificate, ...],
    ) -> SignerEvidenceCapturer | None:
        """The signer re-check after the grace period, when there is something to check with."""
        if not trust_anchors or revocation.is_empty:
            return None
        seal_crls = [str(p) for p in self.settings.seal_crl_files]
        return SignerEvidenceCapturer(
            self.store,
            trust_anchors,
            replace(revocation, crl_files=[*revocation.crl_files, *seal_crls]),
            self.metrics,
            grace=self.settings.revocation_evidence_grace,
            seal_trust_anchors=seal_anchors,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=run_worker,
            args=(self.batcher, self.worker, self._stop, self.metrics),
            name="anchoring",
            daemon=True,
        )
        self._thread.start()
        if self.relayer is not None:
            self._relay_thread = threading.Thread(
                target=run_relayer,
                args=(self.relayer, self._stop, self.settings.relay_interval),
                name="relaying",
                daemon=True,
            )
            self._relay_thread.start()
        if self.stamper is not None:
            self._stamp_thread = threading.Thread(
                target=run_stamper,
                args=(self.stamper, self._stop, self.settings.tsa_max_backoff),
                name="timestamping",
                daemon=True,
            )
            self._stamp_thread.start()
        if self.capturer is not None:
            self._evidence_thread = threading.Thread(
                target=run_capturer,
                args=(self.capturer, self._stop, EVIDENCE_MAX_BACKOFF),
                name="evidence",
                daemon=True,
            )
            self._evidence_thread.start()
        if self.signer_evidence is not None:
            self._signer_thread = threading.Thread(
                target=run_signer_evidence,
                args=(self.signer_evidence, self._stop),
                name="signer-evidence",
                daemon=True,
            )
            self._signer_thread.start()
        if self.tiles is not None:
            self.tiles.start(self._stop)

    def stop(self) -> None:
        self._stop.set()
        self.batcher.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        threads = (
            self._relay_thread,
            self._stamp_thread,
            self._evidence_thread,
            self._signer_thread,
            None if self.tiles is None else self.tiles.thread,
        )
        for thread in threads:
            if thread is not None:
                thread.join(timeout=15)
        self.intake_pool.close()
        self.store.close()

    # ------------------------------------------------------------------ writes

    def submit(
        self,
        submissions: Sequence[Submission],
        client: Client,
        request_id: str | None,
        body: Any,
        *,
        bulk: bool = False,
    ) -> SubmitResult:
        """Check every submission, then append all of them in one synced write, or none."""
        replay = self._replay(client, request_id, body)
        if replay is not None:
            return replay
        if self.intake_pool.wanted(len(submissions)):
            encoded, sources = self.intake_pool.document_entries(
                submissions, client=client.name, bulk=bulk
            )
            return self._append(encoded, sources, client, request_id, body)
        entries: list[NewEntry] = []
        for position, submission in enumerate(submissions):
            entries.append(
                check_submission(
                    self.intake,
                    submission,
                    self.settings.lg_code,
                    client=client.name,
                    field_prefix=f"entries[{position}]." if bulk else "",
                )
            )
        return self._append(entries, _sources(entries), client, request_id, body)

    def requester(self, receipt_id: str) -> RequesterRecord | None:
        """The requester kept privately with an entry (LGWAN only), if it had one."""
        stored = self.store.get_json(requester_key(receipt_id))
        return None if stored is None else requester_from_json(stored)

    def with_disclosure(self, receipt: dict[str, Any]) -> dict[str, Any]:
        """The receipt as the issuing system gets it on submission: with the requester
        disclosure to hand to the resident (outside the signed body; LGWAN only)."""
        if "requester_commitment" not in receipt:
            return receipt  # no application (the signed body names the commitment if any)
        record = self.requester(receipt["receipt_id"])
        if record is None:
            return receipt
        return receipt | {"requester_disclosure": record.public_answer()["requester_disclosure"]}

    def revoke(self, leaf_hash: bytes, reason: int, client: Client) -> dict[str, Any]:
        index = self.store.index_of(leaf_hash)
        if index is None:
            raise SubmissionRejectedError(
                "leaf_hash",
                "no entry with this leaf hash in this log",
                status=404,
                problem="not-found",
            )
        stored = self.store.entry(index)
        assert stored is not None
        if not isinstance(decode_entry(stored.leaf), DocumentEntry):
            raise SubmissionRejectedError("leaf_hash", "only document entries can be revoked")
        if self.store.revocation_of(leaf_hash) is not None:
            raise SubmissionRejectedError(
                "leaf_hash",
                "this document was already revoked",
                status=409,
                problem="already-revoked",
            )
        entry = revocation_entry(leaf_hash, self.settings.lg_code, reason, client=client.name)
        with self._submit_lock:
            if self.store.revocation_of(leaf_hash) is not None:
                raise SubmissionRejectedError(
                    "leaf_hash",
                    "this document was already revoked",
                    status=409,
                    problem="already-revoked",
                )
            return self._append([entry], _sources([entry]), client, None, None).receipts[0]

    def _replay(self, client: Client, request_id: str | None, body: Any) -> SubmitResult | None:
        if request_id is None:
            return None
        record = self.store.get_json(_request_key(client, request_id))
        if record is None:
            return None
        if record["body"] != body_fingerprint(body):
            raise SubmissionRejectedError(
                "request_id",
                f"request id {request_id!r} was used before with a different body",
                status=409,
                problem="request-id-reused",
            )
        indices: list[int] = record["indices"]  # one request's entries: consecutive
        sources = _sources([self._entry(i) for i in indices])
        pending = self._start_receipts(indices[0], sources)
        return SubmitResult(self._finish_receipts(indices[0], sources, pending), replayed=True)

    def _append(
        self,
        entries: Sequence[NewEntry | EncodedEntry],
        sources: list[ReceiptSource],
        client: Client,
        request_id: str | None,
        body: Any,
    ) -> SubmitResult:
        """Append `entries` (with `sources`, their receipt sources) in one synced write and
        answer their receipts, or the earlier answer to the same request."""
        with self._submit_lock:
            replay = self._replay(client, request_id, body)
            if replay is not None:
                return replay
            first = self.store.size  # only _append appends, under this lock
            extra = {}
            if request_id is not None:
                record = {
                    "body": body_fingerprint(body),
                    "indices": list(range(first, first + len(entries))),
                }
                extra[_request_key(client, request_id)] = json.dumps(record).encode()
            # The workers sign the receipts while the synced append runs; they leave the
            # node only once it succeeded.
            pending = self._start_receipts(first, sources)
            try:
                appended = self.store.append(entries, extra)
            except BaseException:
                if isinstance(pending, PendingReceipts):
                    pending.cancel()
                raise
            if appended != first:
                raise StoreError(f"appended at {appended}, expected {first}")
        kinds = [source[2] for source in sources]
        for kind in set(kinds):
            self.metrics.entries.labels(kind=kind).inc(kinds.count(kind))
        self.metrics.tree_size.set(self.store.size)
        self.batcher.on_appended()
        # Receipts from what was just written (the same records a read would return).
        try:
            receipts = self._finish_receipts(first, sources, pending)
        except Exception:
            # Stored and synced, but unanswered: the client's retry with the same request_id
            # gets these entries' receipts (`_replay`) instead of appending them again.
            log.exception("receipts of entries %d-%d failed", first, first + len(entries) - 1)
            raise SubmissionRejectedError(
                "request_id",
                f"the {len(entries)} entries were stored (from leaf index {first}) but their "
                "receipts could not be made; send the same request with the same request_id "
                "again to get them (without one, a retry stores the entries again)",
                status=503,
                problem="receipts-unavailable",
                retry_after=1,
            ) from None
        return SubmitResult(receipts, replayed=False)

    def _start_receipts(
        self, first: int, sources: list[ReceiptSource]
    ) -> PendingReceipts | Exception | None:
        """A large request's receipts handed to the intake workers (or why that failed, to be
        answered once the entries are stored); None for a small one, signed here."""
        if not self.intake_pool.wanted(len(sources)):
            return None
        try:
            return self.intake_pool.start_receipts(
                first, sources, self._receipts.node, self._receipts.chain
            )
        except Exception as error:
            return error

    def _finish_receipts(
        self,
        first: int,
        sources: list[ReceiptSource],
        pending: PendingReceipts | Exception | None,
    ) -> list[dict[str, Any]]:
        """The receipts `_start_receipts` began (`pending`), or, for a small request, signed
        here."""
        if isinstance(pending, Exception):
            raise pending
        if pending is not None:
            return pending.result()
        return self._receipts.make_all(first, sources)

    # ------------------------------------------------------------------ reads

    def _entry(self, index: int) -> StoredEntry:
        stored = self.store.entry(index)
        if stored is None:
            raise KeyError(index)
        return stored

    def receipt(self, stored: StoredEntry) -> dict[str, Any]:
        """The signed receipt of an entry: no personal data, recomputable from the store."""
        return self._receipts.make(stored.index, receipt_source(stored.leaf, stored.sidecar))

    # The log and its heads, for the API's read routes.

    @property
    def log_size(self) -> int:
        return self.store.size

    @property
    def head_count(self) -> int:
        return self.store.head_count

    def entry_by_receipt(self, receipt_id: str) -> StoredEntry | None:
        index = self.store.index_of_receipt(receipt_id)
        return None if index is None else self.store.entry(index)

    def index_of(self, leaf_hash: bytes) -> int | None:
        return self.store.index_of(leaf_hash)

    def leaves(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        return self.store.leaves(start, end)

    def root(self, tree_size: int) -> bytes:
        return self.store.root(tree_size)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return self.store.inclusion_proof(index, tree_size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.store.consistency_proof(size1, size2)

    def heads(self, start: int = 0, limit: int | None = None) -> list[Head]:
        return list(self.store.heads(start, limit))

    def latest_head(self) -> Head | None:
        return self.store.latest_head()

    def head_timestamp(self, seq: int) -> HeadTimestamp | None:
        """The RFC 3161 token over head `seq`, once it has one."""
        return self.store.timestamp(seq)

    def latest_final_head(self) -> Head | None:
        """The newest final head (heads become final in order, so a scan from the newest
        stops at the first)."""
        for seq in range(self.store.head_count - 1, -1, -1):
            head = self.store.head(seq)
            if head is not None and head.state is HeadState.FINAL:
                return head
        return None

    def bundle_by_leaf_hash(self, leaf_hash: bytes) -> BundleAnswer | None:
        index = self.store.index_of(leaf_hash)
        return None if index is None else self.bundles.for_index(index)

    def bundle_by_receipt(self, receipt_id: str) -> BundleAnswer | None:
        index = self.store.index_of_receipt(receipt_id)
        return None if index is None else self.bundles.for_index(index)

    def revocation_bucket(self, prefix: str) -> RevocationBucketAnswer:
        """Every revocation whose revoked leaf hash starts with `prefix` (lowercase hex), each
        with its proof once anchored: a verifier asks for a prefix, never for one document."""
        version = self.store.version
        with self._buckets_lock:
            cached = self._buckets.get(prefix)
            if cached is not None and cached[0] == version:
                self._buckets.move_to_end(prefix)
                return cached[1]
        sections = []
        for leaf_hash, _ in self.store.revocations_with_prefix(prefix):
            section = self.bundles.revocation_section(leaf_hash)
            if section is not None:
                sections.append(section)
        body = json.dumps(revocation_bucket_json(prefix, sections), separators=(",", ":")).encode()
        answer = RevocationBucketAnswer(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        with self._buckets_lock:
            self._buckets[prefix] = (version, answer)
            self._buckets.move_to_end(prefix)
            while len(self._buckets) > BUCKET_CACHE_SIZE:
                self._buckets.popitem(last=False)
        return answer

    def chain_endpoint(self) -> dict[str, Any] | None:
        """The JSON-RPC endpoint in use (URL without credentials, position, count), if any."""
        return None if self.registry is None else self.registry.endpoint_in_use()

    def readiness(self) -> tuple[bool, str]:
        if (stale := self.freshness.not_ready_reason()) is not None:
            return False, stale
        if self.worker is None:
            return True, "no chain configured: accepting entries, not anchoring"
        if self.worker.halted:
            return False, self.worker.halted
        if self.worker.last_error:
            return False, f"chain unavailable: {self.worker.last_error}"
        return True, "ok"

    def revocation_summary(self) -> list[dict[str, Any]]:
        """Per CA generation: its CRLs' earliest nextUpdate and stale points (no personal data)."""
        return [
            {
                "ca": ca.ca,
                "next_update": ca.next_update.isoformat() if ca.next_update else None,
                "stale_points": list(ca.stale_points),
            }
            for ca in self.freshness.per_ca()
        ]

    def export_revocation_metrics(self) -> None:
        now = self.freshness.now()
        for ca in self.freshness.per_ca():
            if ca.next_update is not None:
                self.metrics.crl_next_update.labels(ca=ca.ca).set(ca.next_update.timestamp())
            age = (now - ca.oldest_this_update).total_seconds()
            self.metrics.crl_age.labels(ca=ca.ca).set(age)
            self.metrics.crl_stale.labels(ca=ca.ca).set(1 if ca.stale_points else 0)


def _request_key(client: Client, request_id: str) -> bytes:
    return REQUEST + hashlib.sha256(f"{client.name}\0{request_id}".encode()).digest()


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise ValueError(f"setting {name} is required")
    return value


def _sources(entries: Sequence[NewEntry | StoredEntry]) -> list[ReceiptSource]:
    return [receipt_source(e.leaf, e.sidecar) for e in entries]
