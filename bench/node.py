"""Node benchmarks: durable ingest, proof serving over HTTP, submit-to-final latency, and a
pymerkle peer behind the same HTTP stack, in one run.

    python -m bench.node [--entries 1000000] [--seconds 10] [--connections 4,16,64]
                         [--http-requests 3] [--submits 50]

1. Durable ingest. (a) The log store alone: `LogStore.append` of batches of 10,000 entries
   (137-byte document leaves with seeded random salts, sidecars as `node.intake` writes them,
   real CMS signatures) with its synced LevelDB write, into a fresh folder, up to --entries;
   this builds the log of item 2. (b) Over HTTP: POST /v1/entries/bulk with 10,000 CMS-signed
   entries per request (one signer, one signing time) to a `notary node` process, then the
   same entries in-process through `NodeService.submit`, timed by part (signature and signer
   checks in `node.intake.document_entry`, the synced append, the receipts).
2. Proof serving: `notary node` (no chain) on the log of item 1(a); `wrk` with keep-alive
   connections asks GET /v1/log/inclusion for random leaves; /healthz of the same process
   gives the HTTP stack's own ceiling.
3. Submit-to-final latency: a one-validator devnet with 1 s blocks, a registry with the node
   registered, the node on the same log with NOTARY_BATCH_INTERVAL=0.2; entries submitted one
   at a time and /v1/log/head polled until a final head covers each. Then the bundle endpoint
   (read token) is loaded with `wrk` for random leaves of the now anchored log.
4. The peer: pymerkle 7.0.0 holding the same leaves, answering the same inclusion query from a
   minimal FastAPI app under the same uvicorn configuration, loaded the same way.

Every process and temporary folder is removed at the end, also on failure. Rewrites only the
"Node" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gc
import hashlib
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_account import Account
from fastapi import FastAPI, HTTPException, Query
from web3.types import RPCEndpoint

from anchor import connect
from anchor.keys import write_keystore
from bench.report import run_facts, write_section
from devnet.ports import free_port
from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import TestHierarchy, generate_test_hierarchy
from protocol.finality import clique_finality
from protocol.leaf import DOCUMENT_LEAF_SIZE, DocumentEntry, SignatureFormat, salted_digest
from protocol.merkle import hash_leaf, verify_inclusion

if TYPE_CHECKING:  # for annotations; at run time they are imported inside the functions using them
    from node.store import NewEntry
    from tests.node_harness import NodeProcess

HEADING = "## Node (bench/node.py)"
REPO = Path(__file__).resolve().parent.parent
BATCH = 10_000
LG_CODE = 131016
SEED = 5_2026
PASSWORD = "bench password"  # noqa: S105 (a throwaway keystore in a temporary folder)
PROOF_SAMPLE = 20_000  # distinct random leaves the load generator cycles through
POLL = 0.05  # seconds between /v1/log/head polls in item 3


# ---------------------------------------------------------------------- small helpers


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and its live children (the node's intake workers)."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def get_json(url: str, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), dict(error.headers)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}; see {log}")
        try:
            if get_json(url + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s; see {log}")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# ---------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Signer:
    """One test official: key, certificate, and the one signing time of the whole batch."""

    key_path: Path
    cert_path: Path
    signing_time: datetime

    @property
    def cert_der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes()).public_bytes(
            Encoding.DER
        )


def document(number: int) -> bytes:
    return f"municipal-notary bench document {number}".encode()


def _sign_range(signer: Signer, start: int, count: int) -> list[bytes]:
    key = load_private_key(signer.key_path)
    cert = x509.load_pem_x509_certificate(signer.cert_path.read_bytes())
    return [
        sign_cms(document(n), key=key, cert=cert, signing_time=signer.signing_time)
        for n in range(start, start + count)
    ]


def sign_documents(signer: Signer, count: int, workers: int = 2) -> list[bytes]:
    """Detached CMS signatures over documents 0..count-1 (RSA signing is slow: 2 processes)."""
    chunk = max(1, -(-count // (workers * 4)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(
            _sign_range,
            [signer] * len(range(0, count, chunk)),
            range(0, count, chunk),
            [min(chunk, count - s) for s in range(0, count, chunk)],
        )
        return [cms for part in parts for cms in part]


def entry_body(number: int, cms: bytes, issued_at: str) -> dict[str, Any]:
    return {
        "document_sha256": hashlib.sha256(document(number)).hexdigest(),
        "document_type": 0x8001,  # municipality-defined: signed with a JPKI card
        "issued_at": issued_at,
        "signature": {"format": "cms", "value": base64.b64encode(cms).decode()},
    }


# ---------------------------------------------------------------------- node processes


@dataclass
class ChainlessNode:
    """`notary node` without --rpc: accepts and serves, never anchors."""

    data_dir: Path
    key_file: Path
    password_file: Path
    hierarchy: TestHierarchy
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    repo: Path = REPO
    """The checkout whose node runs (bench.ingest compares two)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        trust = self.data_dir / "trust"
        trust.mkdir(parents=True, exist_ok=True)
        for anchor in self.hierarchy.trust_anchors:
            shutil.copy(anchor, trust / anchor.name)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "NOTARY_TRUST_DIR": str(trust),
            "NOTARY_CRL_FILES": json.dumps([str(p) for p in self.hierarchy.crl_files]),
            # Every document is signed once before the run, which may outlast 10 minutes.
            "NOTARY_SIGNING_TIME_MAX_AGE": "86400",
            **({} if self.repo == REPO else {"PYTHONPATH": str(self.repo)}),
        }
        args = [
            sys.executable, "-m", "node.cli", "node", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--key-file", str(self.key_file),
            "--password-file", str(self.password_file), "--lg-code", str(LG_CODE),
        ]  # fmt: skip
        log = self.data_dir / "node.log"
        started = time.monotonic()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.repo
            )
        wait_healthy(self.url, self.process, log, timeout=300)
        return time.monotonic() - started

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def create_token(data_dir: Path, name: str, *scopes: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "node", "--data-dir", str(data_dir), "token",
         "create", "--name", name, *[a for s in scopes for a in ("--scope", s)]],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return done.stdout.strip()


# ---------------------------------------------------------------------- 1(a) store ingest


@dataclass
class StoreIngest:
    entries: int
    seconds: float
    cpu_seconds: float
    batch_seconds: list[float]
    logical_bytes_per_entry: float
    sidecar_bytes_per_entry: float
    disk_bytes: int
    flushed_mb: float  # memtables written to level 0
    compaction_write_mb: float  # written by compactions into levels 1+
    compaction_read_mb: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


@dataclass(frozen=True)
class PoolSignature:
    document_sha256: bytes
    signature_b64: str
    signature_sha256: bytes


def build_batch(
    first: int,
    count: int,
    pool: Sequence[PoolSignature],
    rng: random.Random,
    signer: Signer,
    cert_b64: str,
    signer_sha256: bytes,
) -> list[NewEntry]:
    """Entries exactly as `node.intake.document_entry` builds them, salts from `rng`."""
    from node.models import DocumentSidecar
    from node.store import NewEntry

    seconds = int(signer.signing_time.timestamp())
    entries: list[NewEntry] = []
    for number in range(first, first + count):
        signed = pool[number % len(pool)]
        salt = rng.randbytes(32)
        leaf = DocumentEntry(
            salted_digest(salt, signed.document_sha256), LG_CODE, 1, seconds, seconds,
            SignatureFormat.CMS, signer_sha256, signed.signature_sha256,
        ).encode()  # fmt: skip
        receipt_id = "r_" + rng.randbytes(16).hex()
        sidecar = DocumentSidecar(
            salt=salt,
            signature_format=SignatureFormat.CMS,
            signature=base64.b64decode(signed.signature_b64),
            certificates=(base64.b64decode(cert_b64),),
            receipt_id=receipt_id,
            request_id=None,
            client="bench",
            received_at=seconds + 60,
        )
        entries.append(NewEntry(leaf, sidecar, receipt_id))
    return entries


def entry_bytes(entry: NewEntry) -> int:
    """Key and value bytes one append writes for `entry` (node/store.py append:
    leaf, sidecar, index, receipt, the leaf's node and on average one completed parent, the
    subtrees CompactRange.append returns)."""
    return (
        (9 + len(entry.leaf))
        + (9 + sidecar_bytes(entry))
        + (33 + 8)
        + (1 + len(entry.receipt_id) + 8)
        + 2 * (10 + 32)
    )


def sidecar_bytes(entry: NewEntry) -> int:
    """Bytes of the binary sidecar the store writes (certificates by SHA-256, node/sidecars.py)."""
    from node import sidecars

    return len(sidecars.encode(entry.sidecar)[0])


def leveldb_compaction_mb(db: Any) -> tuple[float, float, float]:
    """(MB flushed to level 0, MB written by compactions to levels 1+, MB they read) of a
    `plyvel.DB` (plyvel ships no type information)."""
    stats = db.get_property(b"leveldb.stats").decode()
    flushed = written = read = 0.0
    for line in stats.splitlines():
        cells = line.split()
        if len(cells) == 6 and cells[0].isdigit():
            read += float(cells[4])
            if cells[0] == "0":
                flushed += float(cells[5])
            else:
                written += float(cells[5])
    return flushed, written, read


def store_ingest(
    store_dir: Path,
    leaves_file: Path,
    entries: int,
    pool: Sequence[PoolSignature],
    signer: Signer,
    seed: int,
) -> StoreIngest:
    from node.store import LogStore

    rng = random.Random(seed)
    cert_der = signer.cert_der
    cert_b64 = base64.b64encode(cert_der).decode()
    signer_sha256 = hashlib.sha256(cert_der).digest()
    store = LogStore(store_dir)
    batch_seconds: list[float] = []
    logical = sidecar = cpu = 0.0
    try:
        with open(leaves_file, "wb") as leaves:
            for first in range(0, entries, BATCH):
                batch = build_batch(
                    first, min(BATCH, entries - first), pool, rng, signer, cert_b64, signer_sha256
                )
                if first == 0:
                    logical = statistics.mean(map(entry_bytes, batch[:1000]))
                    sidecar = statistics.mean(sidecar_bytes(e) for e in batch[:1000])
                started, cpu_started = time.perf_counter(), time.process_time()
                store.append(batch)
                batch_seconds.append(time.perf_counter() - started)
                cpu += time.process_time() - cpu_started
                leaves.write(b"".join(e.leaf for e in batch))
                if len(batch_seconds) % 10 == 0:
                    done = first + len(batch)
                    print(
                        f"  store: {done:,} entries, {done / sum(batch_seconds):,.0f}/s so far",
                        flush=True,
                    )
        flushed, written, read = leveldb_compaction_mb(store.db)
    finally:
        store.close()
    disk = sum(p.stat().st_size for p in store_dir.iterdir() if p.is_file())
    return StoreIngest(
        entries, sum(batch_seconds), cpu, batch_seconds, logical, sidecar, disk, flushed, written,
        read,
    )  # fmt: skip


def read_leaf(leaves_file: Path, index: int) -> bytes:
    with open(leaves_file, "rb") as handle:
        handle.seek(index * DOCUMENT_LEAF_SIZE)
        return handle.read(DOCUMENT_LEAF_SIZE)


def sample_leaf_hashes(leaves_file: Path, count: int, sample: int, seed: int) -> list[bytes]:
    indices = random.Random(seed).sample(range(count), min(count, sample))
    with open(leaves_file, "rb") as handle:
        hashes = []
        for index in indices:
            handle.seek(index * DOCUMENT_LEAF_SIZE)
            hashes.append(hash_leaf(handle.read(DOCUMENT_LEAF_SIZE)))
    return hashes


# ---------------------------------------------------------------------- 1(b) HTTP ingest


@dataclass
class HttpIngest:
    entries: int
    request_seconds: list[float]
    node_cpu_seconds: float
    body_mb: float
    # in-process, same entries
    parse_seconds: float
    checks_seconds: float
    append_seconds: float
    receipts_seconds: float
    submit_seconds: float
    encode_seconds: float

    @property
    def seconds(self) -> float:
        return sum(self.request_seconds)

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


def post(connection: http.client.HTTPConnection, path: str, body: bytes, token: str) -> Any:
    connection.request(
        "POST",
        path,
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    payload = response.read()
    if response.status not in (200, 201):
        raise RuntimeError(f"POST {path}: {response.status} {payload[:300]!r}")
    return json.loads(payload)


def http_ingest(
    workdir: Path,
    hierarchy: TestHierarchy,
    key_file: Path,
    password_file: Path,
    bodies: list[bytes],
) -> HttpIngest:
    node = ChainlessNode(workdir / "http-data", key_file, password_file, hierarchy)
    node.data_dir.mkdir(parents=True)
    token = create_token(node.data_dir, "bench-issuer", "submit")
    request_seconds: list[float] = []
    try:
        node.start()
        assert node.process is not None
        connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=600)
        # The intake workers start on the first large bulk request: start them untimed.
        warm = json.loads(bodies[0])
        post(
            connection,
            "/v1/entries/bulk",
            json.dumps({"entries": warm["entries"][:300]}).encode(),
            token,
        )
        cpu_before = tree_cpu_seconds(node.process.pid)
        for number, body in enumerate(bodies):
            started = time.perf_counter()
            answer = post(connection, "/v1/entries/bulk", body, token)
            request_seconds.append(time.perf_counter() - started)
            assert len(answer["receipts"]) == BATCH, "short bulk answer"
            print(
                f"  http bulk {number + 1}/{len(bodies)}: {request_seconds[-1]:.2f} s", flush=True
            )
        node_cpu = tree_cpu_seconds(node.process.pid) - cpu_before
        connection.close()
    finally:
        node.stop()
    parts = in_process_submit(workdir / "inproc-data", hierarchy, key_file, password_file, bodies)
    return HttpIngest(
        len(bodies) * BATCH,
        request_seconds,
        node_cpu,
        statistics.mean(len(b) for b in bodies) / 1e6,
        *parts,
    )


P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class PartTimer:
    """Wall seconds spent in one function on the measured path, and how often it ran."""

    seconds: float = 0.0
    calls: int = 0

    def wrap(self, function: Callable[P, R]) -> Callable[P, R]:
        """`function` itself, timed: the wrapper calls through and changes nothing else."""

        @functools.wraps(function)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


def in_process_submit(
    data_dir: Path,
    hierarchy: TestHierarchy,
    key_file: Path,
    password_file: Path,
    bodies: list[bytes],
) -> tuple[float, float, float, float, float, float]:
    """The bulk path without HTTP, timed by part: (parse, checks, append, receipts, submit,
    encode) seconds over all `bodies`.

    `NodeService.submit` runs unchanged; three of the calls it makes are wrapped in timers
    for the duration (`unittest.mock.patch.object`, which fails if a name is gone): the
    signature and signer checks (`node.intake_checks.check_submission`, called by its name in
    `node.service`, or the intake pool's `document_entries`), the synced append and the
    receipts (`NodeService._finish_receipts`: for a large request, the wait for the intake
    workers, which sign while the append runs);
    encoding is the bulk route's (`node.api.bulk_answer`). The call counts are checked
    afterwards, so a refactor that routes around a wrapper fails here instead of reporting
    0 s for that part."""
    import node.service
    from node.api import bulk_answer, bulk_submissions
    from node.intake_checks import check_submission
    from node.settings import load_settings
    from node.tokens import Client

    trust = data_dir / "trust"
    trust.mkdir(parents=True)
    for anchor in hierarchy.trust_anchors:
        shutil.copy(anchor, trust / anchor.name)
    settings = load_settings(
        data_dir=data_dir, key_file=key_file, password_file=password_file, trust_dir=trust,
        crl_files=list(hierarchy.crl_files), lg_code=LG_CODE,
    )  # fmt: skip
    service = node.service.NodeService(settings)  # not started: no batcher thread
    service.intake_pool.start()  # spawned before timing, as a running node has them
    checks, append, receipts = PartTimer(), PartTimer(), PartTimer()
    pool = service.intake_pool
    client = Client("bench-issuer", frozenset({"submit"}))
    parse = submit = encode = 0.0
    entries = 0
    try:
        with (
            mock.patch.object(node.service, "check_submission", checks.wrap(check_submission)),
            mock.patch.object(pool, "document_entries", checks.wrap(pool.document_entries)),
            mock.patch.object(service.store, "append", append.wrap(service.store.append)),
            mock.patch.object(service, "_finish_receipts", receipts.wrap(service._finish_receipts)),
        ):
            for body in bodies:
                started = time.perf_counter()
                submissions, request_id, dumped = bulk_submissions(body)  # as the route does
                parse += time.perf_counter() - started
                started = time.perf_counter()
                result = service.submit(submissions, client, request_id, dumped, bulk=True)
                submit += time.perf_counter() - started
                started = time.perf_counter()
                bulk_answer(service, result.receipts)
                encode += time.perf_counter() - started
                entries += len(submissions)
    finally:
        service.intake_pool.close()
        service.store.close()
    calls = (checks.calls, append.calls, receipts.calls)
    # One pooled call per request when the workers check, else one call per entry.
    check_calls = len(bodies) if pool.wanted(BATCH) else entries
    if calls != (check_calls, len(bodies), len(bodies)):
        raise RuntimeError(
            f"the timed parts were not on the measured path: (checks, appends, receipts) ran "
            f"{calls} times for {entries} entries in {len(bodies)} requests"
        )
    return parse, checks.seconds, append.seconds, receipts.seconds, submit, encode


# ---------------------------------------------------------------------- load with wrk


@dataclass
class Load:
    label: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu: float
    wrk_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH-WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50\\": %d, \\"p90\\": %d, "
    .. "\\"p99\\": %d, \\"max\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk_script(path: Path, urls: Sequence[str], token: str | None = None) -> Path:
    """A wrk Lua script cycling through `urls` (each connection thread from its own offset)."""
    lines = ["local paths = {"]
    lines += [f'  "{u}",' for u in urls]
    lines += [
        "}",
        "local counter = 0",
        "request = function()",
        "  counter = counter + 1",
        "  return wrk.format('GET', paths[(counter % #paths) + 1])",
        "end",
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    path.write_text("\n".join(lines) + "\n" + WRK_DONE)
    return path


def run_wrk(
    label: str,
    base_url: str,
    script: Path,
    connections: int,
    seconds: float,
    server_pid: int,
    cpu: Callable[[int], float] = cpu_seconds,
) -> Load:
    threads = 1  # one wrk thread drives thousands of requests/s; the other core is the server's
    args = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(script), base_url,
    ]  # fmt: skip
    cpu_before = cpu(server_pid)
    wrk_before = os.times()
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 120)
    wrk_after = os.times()
    server_cpu = cpu(server_pid) - cpu_before
    wrk_cpu = (wrk_after.children_user + wrk_after.children_system) - (
        wrk_before.children_user + wrk_before.children_system
    )
    found = re.search(r"BENCH-WRK (\{.*\})", done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    data = json.loads(found.group(1))
    result = Load(
        label, connections, data["requests"], data["duration_us"] / 1e6,
        data["p50"] / 1e3, data["p90"] / 1e3, data["p99"] / 1e3, data["max"] / 1e3,
        data["errors"], server_cpu, wrk_cpu,
    )  # fmt: skip
    print(
        f"  {label} c={connections}: {result.rate:,.0f}/s p50 {result.p50_ms:.1f} ms "
        f"p99 {result.p99_ms:.1f} ms errors {result.errors}",
        flush=True,
    )
    return result


def warm_up(base_url: str, script: Path, server_pid: int) -> None:
    run_wrk("warm-up", base_url, script, 8, 3, server_pid)


# ---------------------------------------------------------------------- 2. proof serving


@dataclass
class Serving:
    start_seconds: float
    proofs: list[Load]
    healthz: Load
    store_us_per_proof: float


def inclusion_urls(hashes: Sequence[bytes], tree_size: int) -> list[str]:
    return [f"/v1/log/inclusion?leaf_hash={h.hex()}&tree_size={tree_size}" for h in hashes]


def check_proofs(base_url: str, hashes: Sequence[bytes], tree_size: int, root: bytes) -> None:
    for leaf_hash in hashes:
        status, body, _ = get_json(
            f"{base_url}/v1/log/inclusion?leaf_hash={leaf_hash.hex()}&tree_size={tree_size}"
        )
        assert status == 200, body
        path = [bytes.fromhex(p) for p in body["path"]]
        verify_inclusion(leaf_hash, body["leaf_index"], tree_size, path, root)


def serve_proofs(
    workdir: Path,
    node: ChainlessNode,
    hashes: Sequence[bytes],
    tree_size: int,
    connections: Sequence[int],
    seconds: float,
) -> tuple[Serving, bytes]:
    script = wrk_script(workdir / "inclusion.lua", inclusion_urls(hashes, tree_size))
    healthz = wrk_script(workdir / "healthz.lua", ["/healthz"])
    try:
        start = node.start()
        assert node.process is not None
        status, head, _ = get_json(node.url + "/v1/log/head")
        assert status == 200 and head["tree_size"] == tree_size, head
        root = bytes.fromhex(head["root"])
        check_proofs(node.url, hashes[:50], tree_size, root)
        warm_up(node.url, script, node.process.pid)
        loads = [
            run_wrk("node proofs", node.url, script, c, seconds, node.process.pid)
            for c in connections
        ]
        main = sorted(connections)[len(connections) // 2]
        ceiling = run_wrk("node /healthz", node.url, healthz, main, seconds, node.process.pid)
    finally:
        node.stop()
    return Serving(start, loads, ceiling, store_proof_cost(node.data_dir, hashes, tree_size)), root


def store_proof_cost(data_dir: Path, hashes: Sequence[bytes], tree_size: int) -> float:
    """Microseconds per proof for the store's own work (index lookup + O(log n) reads)."""
    from node.store import LogStore

    store = LogStore(data_dir / "log")
    try:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for leaf_hash in hashes:
                index = store.index_of(leaf_hash)
                assert index is not None
                store.inclusion_proof(index, tree_size)
            best = min(best, time.perf_counter() - started)
    finally:
        store.close()
    return best / len(hashes) * 1e6


# ---------------------------------------------------------------------- 4. pymerkle peer


def peer_app(leaves_file: Path, count: int) -> tuple[FastAPI, float]:
    """A minimal FastAPI app answering GET /v1/log/inclusion from a pymerkle tree."""
    from pymerkle import InmemoryTree

    raw = leaves_file.read_bytes()[: count * DOCUMENT_LEAF_SIZE]
    leaves = [raw[i : i + DOCUMENT_LEAF_SIZE] for i in range(0, len(raw), DOCUMENT_LEAF_SIZE)]
    started = time.perf_counter()
    tree = InmemoryTree()  # sha256 with RFC 6962 prefixes: the same leaf hashes and root
    tree.append_entries(leaves)
    positions = {hash_leaf(leaf): i for i, leaf in enumerate(leaves)}
    build = time.perf_counter() - started
    del raw, leaves
    # Millions of long-lived tree objects: without this every full collection rescans them
    # (p99 of 600 ms in a trial run). The node's heap holds no such structure.
    gc.collect()
    gc.freeze()
    app = FastAPI(title="pymerkle peer")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/log/inclusion")
    def inclusion(leaf_hash: str, tree_size: Annotated[int, Query(ge=1)]) -> dict[str, Any]:
        try:
            index = positions.get(bytes.fromhex(leaf_hash))
        except ValueError:
            raise HTTPException(422, "leaf_hash must be hexadecimal") from None
        if index is None:
            raise HTTPException(404, "no entry with this leaf hash")
        if not index < tree_size <= count:
            raise HTTPException(422, "tree_size out of range")
        proof = tree.prove_inclusion(index + 1, tree_size)  # pymerkle counts from 1
        path = proof.path[1:]  # its path starts with the leaf hash itself
        return {"leaf_index": index, "tree_size": tree_size, "path": [p.hex() for p in path]}

    return app, build


def peer_main(leaves_file: Path, count: int, port: int, facts: Path) -> None:
    """Run in its own process: build the tree, then serve it like `notary node` serves."""
    import uvicorn

    app, build = peer_app(leaves_file, count)
    facts.write_text(json.dumps({"build_seconds": build}))
    # The node's own uvicorn configuration (node/commands.py _serve).
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info")).run()


@dataclass
class Peer:
    build_seconds: float
    proofs: list[Load]
    healthz: Load


def serve_peer(
    workdir: Path,
    leaves_file: Path,
    count: int,
    hashes: Sequence[bytes],
    root: bytes,
    connections: Sequence[int],
    seconds: float,
) -> Peer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    facts, log = workdir / "peer.json", workdir / "peer.log"
    args = [
        sys.executable, "-m", "bench.node", "--peer-serve", str(leaves_file),
        "--entries", str(count), "--peer-port", str(port), "--peer-facts", str(facts),
    ]  # fmt: skip
    script = workdir / "inclusion.lua"
    healthz = workdir / "healthz.lua"
    process = None
    try:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=REPO,
            )
        wait_healthy(url, process, log, timeout=600)
        check_proofs(url, hashes[:50], count, root)  # same proofs as the node's: same root
        warm_up(url, script, process.pid)
        loads = [
            run_wrk("pymerkle proofs", url, script, c, seconds, process.pid) for c in connections
        ]
        main = sorted(connections)[len(connections) // 2]
        ceiling = run_wrk("pymerkle /healthz", url, healthz, main, seconds, process.pid)
    finally:
        stop_process(process)
    return Peer(json.loads(facts.read_text())["build_seconds"], loads, ceiling)


# ---------------------------------------------------------------------- 3. submit to final


@dataclass
class Finality:
    first_head_seconds: float  # node start -> the head over the pre-built log is final
    finality_depth: int
    acks: list[float]  # submit round trips
    to_sealed: list[float]
    to_final: list[float]
    missing: int
    sealed_to_block: list[float]  # poll-observed seal -> timestamp of the block with the anchor
    block_to_final: list[float]  # that block's timestamp -> poll-observed final
    pauses: int  # "anchoring paused" (chain error, backoff) lines in the node log meanwhile
    paused_seconds: float  # their announced backoff, summed
    pause_reasons: dict[str, int]  # the errors behind them, by kind
    bundles: Load | None = None
    bundle_bytes: int = 0


class HeadPoller:
    """Polls /v1/log/head and stamps when each leaf index is first covered by a sealed head and
    by a final head."""

    def __init__(self, base_url: str) -> None:
        self.host, self.port = base_url.removeprefix("http://").split(":")
        self.sealed: dict[int, float] = {}
        self.final: dict[int, float] = {}
        self.watch: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="head-poller", daemon=True)

    def _run(self) -> None:
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        while not self.stop.is_set():
            connection.request("GET", "/v1/log/head")
            head = json.loads(connection.getresponse().read())
            now = time.perf_counter()
            sealed = (head["latest_head"] or {}).get("tree_size", 0)
            final = (head["latest_final_head"] or {}).get("tree_size", 0)
            with self.lock:
                for index in self.watch:
                    if index < sealed:
                        self.sealed.setdefault(index, now)
                    if index < final:
                        self.final.setdefault(index, now)
            time.sleep(POLL)
        connection.close()


def anchoring_pauses(log_file: Path, start: int) -> tuple[int, float, dict[str, int]]:
    """(count, announced seconds, errors by kind) of the worker's backoffs after `start`."""
    with open(log_file, "rb") as handle:
        handle.seek(start)
        pauses = re.findall(r"anchoring paused ([\d.]+) s: (.*)", handle.read().decode())
    reasons: dict[str, int] = {}
    for _, why in pauses:
        kind = re.sub(r"\(.*", "", why).strip()[:80]
        reasons[kind] = reasons.get(kind, 0) + 1
    return len(pauses), sum(float(seconds) for seconds, _ in pauses), reasons


def anchor_stages(
    node: NodeProcess, poller: HeadPoller, acks: dict[int, float]
) -> tuple[list[float], list[float]]:
    """Per entry: poll-observed seal -> timestamp of the block that anchored its head, and that
    timestamp -> poll-observed final (block timestamps are whole seconds of the same clock)."""
    wall = time.time() - time.perf_counter()
    status, answer, _ = get_json(node.url + "/v1/log/heads?start=0&limit=1000")
    assert status == 200, answer
    w3 = connect(node.rpc_url)
    stamps: dict[int, int] = {}
    sealed_to_block, block_to_final = [], []
    for index in sorted(acks):
        head = next((h for h in answer["heads"] if h["tree_size"] > index), None)
        if head is None or head["block_number"] is None or index not in poller.final:
            continue
        number = head["block_number"]
        if number not in stamps:
            stamps[number] = int(w3.eth.get_block(number)["timestamp"])
        sealed_to_block.append(stamps[number] - (poller.sealed[index] + wall))
        block_to_final.append(poller.final[index] + wall - stamps[number])
    return sealed_to_block, block_to_final


@contextmanager
def devnet_node(
    workdir: Path, data_dir: Path, hierarchy: TestHierarchy
) -> Iterator[tuple[NodeProcess, float]]:
    """A one-validator devnet with 1 s blocks, a registry with the node registered, and the node
    on `data_dir` with a 0.2 s batch interval; yields (NodeProcess, start seconds)."""
    from devnet.network import NetworkProcesses, init_network
    from tests.node_harness import provision_node

    layout = init_network(workdir / "chain", validators=1, period=1)
    chain = NetworkProcesses(layout)
    node = None
    try:
        chain.start_all()
        node = provision_node(
            layout.nodes[0].rpc_url, layout.dev_account(), workdir / "anchoring", hierarchy
        )
        node.data_dir = data_dir
        node.env = {"NOTARY_BATCH_INTERVAL": "0.2", "NOTARY_SIGNING_TIME_MAX_AGE": "86400"}
        started = time.monotonic()
        node.start(timeout=300)
        yield node, time.monotonic() - started
    finally:
        if node is not None:
            node.stop()
        chain.stop_all()


def submit_to_final(
    workdir: Path,
    data_dir: Path,
    hierarchy: TestHierarchy,
    bodies: list[bytes],
    hashes: Sequence[bytes],
    seed: int,
    seconds: float,
    connections: int,
) -> Finality:
    rng = random.Random(seed)
    with devnet_node(workdir, data_dir, hierarchy) as (node, start_seconds):
        token = node.token("bench-issuer", "submit", "read")
        started = time.monotonic()
        node.wait_final(timeout=300)
        first_head = start_seconds + time.monotonic() - started
        signers = connect(node.rpc_url).provider.make_request(RPCEndpoint("clique_getSigners"), [])
        depth = clique_finality(len(signers["result"])).depth
        log_start = node.log_file.stat().st_size
        poller = HeadPoller(node.url)
        poller.thread.start()
        connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        acks: dict[int, float] = {}
        round_trips = []
        try:
            for body in bodies:
                sent = time.perf_counter()
                receipt = post(connection, "/v1/entries", body, token)
                acked = time.perf_counter()
                round_trips.append(acked - sent)
                index = receipt["leaf_index"]
                with poller.lock:
                    acks[index] = acked
                    poller.watch.add(index)
                time.sleep(rng.uniform(0.2, 0.5))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with poller.lock:
                    if len(poller.final) == len(acks):
                        break
                time.sleep(0.2)
        finally:
            poller.stop.set()
            poller.thread.join(timeout=10)
            connection.close()
        to_sealed = [poller.sealed[i] - acks[i] for i in acks if i in poller.sealed]
        to_final = [poller.final[i] - acks[i] for i in acks if i in poller.final]
        sealed_to_block, block_to_final = anchor_stages(node, poller, acks)
        result = Finality(
            first_head, depth, round_trips, to_sealed, to_final, len(acks) - len(to_final),
            sealed_to_block, block_to_final, *anchoring_pauses(node.log_file, log_start),
        )  # fmt: skip
        print(
            f"  submit-to-final: median {statistics.median(to_final):.2f} s over {len(to_final)}",
            flush=True,
        )
        # Bundles of random leaves of the pre-built log, now under a final head.
        urls = [f"/v1/entries/{h.hex()}/bundle" for h in hashes]
        status, bundle, headers = get_json(node.url + urls[0], token)
        assert status == 200, bundle
        assert headers.get("notary-bundle-state") == "final", headers
        result.bundle_bytes = len(json.dumps(bundle))
        script = wrk_script(workdir / "bundle.lua", urls, token)
        assert node.process is not None
        warm_up(node.url, script, node.process.pid)
        result.bundles = run_wrk(
            "node bundles", node.url, script, connections, seconds, node.process.pid
        )
    return result


# ---------------------------------------------------------------------- report


def render(
    args: argparse.Namespace,
    store: StoreIngest,
    ingest: HttpIngest,
    serving: Serving,
    peer: Peer,
    finality: Finality,
    setup_seconds: float,
    total_seconds: float,
) -> str:
    connections = ",".join(str(c) for c in args.connections)
    command = (
        f"python -m bench.node --entries {args.entries} --seconds {args.seconds:g} "
        f"--connections {connections} --http-requests {args.http_requests} --submits {args.submits}"
    )
    batches = store.batch_seconds
    tenth = max(1, len(batches) // 10)
    first_rate = BATCH * tenth / sum(batches[:tenth])
    last_rate = BATCH * tenth / sum(batches[-tenth:])
    median_rate = BATCH / statistics.median(batches)
    logical_gb = store.logical_bytes_per_entry * store.entries / 1e9
    http_rate = ingest.rate
    in_process = ingest.parse_seconds + ingest.submit_seconds + ingest.encode_seconds
    other = (
        ingest.submit_seconds
        - ingest.checks_seconds
        - ingest.receipts_seconds
        - ingest.append_seconds
    )
    main = sorted(args.connections)[len(args.connections) // 2]
    node_main = next(x for x in serving.proofs if x.connections == main)
    peer_main_load = next(x for x in peer.proofs if x.connections == main)
    best_node = max(serving.proofs, key=lambda x: x.rate)
    met_proofs = [x for x in serving.proofs if x.rate >= 3000 and x.p99_ms < 20]
    final_median = statistics.median(finality.to_final)
    final_p90 = percentile(finality.to_final, 90)
    stage_means = [
        statistics.mean(x) if x else float("nan")
        for x in (finality.to_sealed, finality.sealed_to_block, finality.block_to_final)
    ]
    bundles = finality.bundles
    assert bundles is not None

    def load_row(x: Load) -> str:
        cores = (x.server_cpu) / x.seconds if x.seconds else 0.0
        return (
            f"| {x.label} | {x.connections} | {x.rate:,.0f} | {x.p50_ms:.1f} | {x.p90_ms:.1f} | "
            f"{x.p99_ms:.1f} | {x.max_ms:.0f} | {x.errors} | {cores:.2f} | {x.wrk_cpu / x.seconds:.2f} |"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        HEADING, "",
        *run_facts(command),
        f"- Log: {store.entries:,} document entries (137-byte leaves, seeded random salts, sidecars as `node.intake` writes them with real 2 kB CMS signatures); one JPKI-TEST signer, one signing time.",
        f"- Load generator: Debian `wrk` 4 (1 thread, keep-alive connections, {args.seconds:g} s per row after a 3 s warm-up, {PROOF_SAMPLE:,} distinct seeded-random leaves cycled), on the same 2 cores as the server.",
        f"- Whole run: {total_seconds / 60:.1f} min (set-up incl. signing {setup_seconds:.0f} s).",
        "",
        "### 1. Durable ingest",
        "",
        "| path | entries | seconds | entries/s | CPU cores used | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| (a) `LogStore.append`, 10,000 per synced batch, fresh folder | {store.entries:,} | {store.seconds:.1f} | {store.rate:,.0f} | {store.cpu_seconds / store.seconds:.2f} | 20,000/s: {verdict(store.rate >= 20_000)} |",
        f"| (b) POST /v1/entries/bulk, 10,000 CMS-signed per request, `notary node` process | {ingest.entries:,} | {ingest.seconds:.1f} | {http_rate:,.0f} | {ingest.node_cpu_seconds / ingest.seconds:.2f} (node and its intake workers) | 10,000/s: {verdict(http_rate >= 10_000)} |",
        "",
        f"- (a) by phase: first 10% of batches {first_rate:,.0f}/s, last 10% {last_rate:,.0f}/s; median batch {statistics.median(batches):.2f} s ({median_rate:,.0f}/s), slowest {max(batches):.2f} s."
        f" Each entry writes about {store.logical_bytes_per_entry:,.0f} bytes of keys and values, {store.sidecar_bytes_per_entry:,.0f} of them the binary sidecar (the CMS with its certificate cut out, the certificate named by its SHA-256 and stored once): {logical_gb:.1f} GB in all;"
        f" the folder holds {store.disk_bytes / 1e9:.1f} GB (snappy). LevelDB flushed {store.flushed_mb / 1e3:.1f} GB of memtables and its compactions then read {store.compaction_read_mb / 1e3:.1f} GB and wrote {store.compaction_write_mb / 1e3:.1f} GB more.",
        "- (a) what limits it: the synced batch itself runs at the median-batch rate; the average falls below it when batches wait for LevelDB's single background compaction (LevelDB stops writes while level 0 is full), which grows with the folder.",
        f"- (b) per request of 10,000: median {statistics.median(ingest.request_seconds):.2f} s, body {ingest.body_mb:.1f} MB. The same {ingest.entries:,} entries in-process through `NodeService.submit` (no HTTP) took {ingest.submit_seconds:.1f} s:"
        f" signature + signer checks (`node.intake_checks.check_submission`, in the intake worker processes for 10,000-entry requests) {ingest.checks_seconds:.1f} s, receipts (a libsecp256k1 signature each, through coincurve, in the intake workers after the append for 10,000-entry requests) {ingest.receipts_seconds:.1f} s, synced append {ingest.append_seconds:.1f} s;"
        f" request parsing (`node.api.bulk_submissions`: msgspec for the common body, else pydantic-core) {ingest.parse_seconds:.1f} s and response encoding (msgspec) {ingest.encode_seconds:.1f} s more."
        f" In-process in all {in_process:.1f} s against {ingest.seconds:.1f} s over HTTP (HTTP/in-process = {ingest.seconds / in_process:.2f}: the HTTP path does this same work, so these shares are its shares up to the transport, FastAPI's request handling and the machine's noise); shares of the in-process time:"
        f" signature + signer checks {ingest.checks_seconds / in_process:.0%}, receipts {ingest.receipts_seconds / in_process:.0%}, parsing + encoding {(ingest.parse_seconds + ingest.encode_seconds) / in_process:.0%}, synced append {ingest.append_seconds / in_process:.0%}, the rest of `submit` {other / in_process:.0%}.",
        f"- (b) the checks and the receipts run in `intake_workers` processes (one per core, node/intake_pool.py); parsing and the synced append stay in the node's one process (LevelDB admits one); measured {ingest.node_cpu_seconds / ingest.seconds:.2f} cores for the node and its workers.",
        "",
        f"### 2. Proof serving on the {store.entries:,}-entry log (and 4. the pymerkle peer)",
        "",
        "| server | connections | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | server cores | wrk cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[load_row(x) for x in serving.proofs],
        load_row(serving.healthz),
        *[load_row(x) for x in peer.proofs],
        load_row(peer.healthz),
        load_row(bundles),
        "",
        f"- Target ≥ 3,000 proofs/s with p99 < 20 ms: {verdict(bool(met_proofs))}"
        + (
            f" ({', '.join(f'{x.rate:,.0f} proofs/s at {x.connections} connections, p99 {x.p99_ms:.1f} ms' for x in met_proofs)}; highest rate {best_node.rate:,.0f} proofs/s at {best_node.connections} connections, p99 {best_node.p99_ms:.1f} ms)."
            if met_proofs
            else f" (best {best_node.rate:,.0f} proofs/s at {best_node.connections} connections, p99 {best_node.p99_ms:.1f} ms)."
        ),
        f"- Node vs peer at {main} connections: {node_main.rate:,.0f} vs {peer_main_load.rate:,.0f} proofs/s (node/peer = {node_main.rate / peer_main_load.rate:.2f});"
        f" each server's own /healthz ceiling: {serving.healthz.rate:,.0f} vs {peer.healthz.rate:,.0f} requests/s.",
        f"- What limits it: the store's own work per proof (in-process, `index_of` + `inclusion_proof`, {PROOF_SAMPLE:,} leaves, best of 3) is {serving.store_us_per_proof:.0f} µs,"
        f" i.e. {1e6 / serving.store_us_per_proof:,.0f} proofs/s on one core; the rest of the {1e6 / node_main.rate:,.0f} µs per request at {main} connections is the HTTP stack on one core (one uvicorn process: LevelDB admits one process)."
        f" Both servers run the same uvicorn configuration and a sync /healthz handler, so the gap between their /healthz rows is the node's middleware stack (request timing into a Prometheus histogram, the body-size limit).",
        "- Latencies are wrk's (closed loop: each connection sends its next request when the previous answer arrives), so p99 includes queueing behind the other connections.",
        f"- Node start on the {store.entries:,}-entry log: {serving.start_seconds:.1f} s to /healthz (frontier from stored subtrees, no rebuild)."
        f" pymerkle built the same {store.entries:,}-leaf tree in memory in {peer.build_seconds:.1f} s (then `gc.freeze()`, so full collections do not rescan its objects); every checked proof (50 per server) verified against the node's root, so both serve the same tree.",
        "- Published peer figure (Tessera, write path, not proof serving; 12 cores and individual adds, not comparable one to one with either row of item 1): \"A single local instance on an 12-core VM with 8GB of RAM writing to local filesystem stored on a mirrored pair of SAS disks. Without antispam, it was able to sustain around 2900 writes/s.\""
        " (transparency-dev/tessera, docs/performance.md, POSIX, https://github.com/transparency-dev/tessera/blob/10291081ca0389c2217b790cb7b7448ec1b5aad3/docs/performance.md). That page gives write figures only (Tessera's clients read static tiles and build proofs themselves), so there is no published figure to set beside item 2.",
        f"- Bundles (GET /v1/entries/{{leaf_hash}}/bundle with a read token): item 2's node has no chain, so its bundles are pending; measured in item 3 on the same log once anchored and final (row 'node bundles', {finality.bundle_bytes:,}-byte JSON each).",
        "",
        "### 3. Submit-to-final latency (one-validator devnet, 1 s blocks, NOTARY_BATCH_INTERVAL=0.2)",
        "",
        f"- {len(finality.acks)} entries submitted one at a time (POST /v1/entries, 0.2-0.5 s apart, seeded), each timed from its 201 to the first /v1/log/head poll (every {POLL * 1000:.0f} ms) whose latest_final_head covers it.",
        f"- Submit-to-final: median {final_median:.2f} s, p90 {final_p90:.2f} s, max {max(finality.to_final):.2f} s; {finality.missing} not final within 60 s. Target median < 3 s: {verdict(final_median < 3)}.",
        f"- Stages (means, which add up to the mean of {statistics.mean(finality.to_final):.2f} s): 201 → head sealed {stage_means[0]:.2f} s (batch interval 0.2 s and worker poll 0.2 s; sealing runs in the anchoring worker's loop, so chain-error backoffs would delay it too);"
        f" sealed → timestamp of the block holding its anchor {stage_means[1]:.2f} s; that block → final seen {stage_means[2]:.2f} s (one more block at depth 1, then the worker's receipt and finality polls). Submit round trip (CMS check, synced write, receipt): median {statistics.median(finality.acks) * 1000:.0f} ms.",
        f"- Anchoring worker during the run: {finality.pauses} chain-error backoffs announcing {finality.paused_seconds:.1f} s of pauses"
        + (": " + "; ".join(f"{n} x {why}" for why, n in sorted(finality.pause_reasons.items(), key=lambda kv: -kv[1])) + "." if finality.pauses else "."),
        f"- Finality depth {finality.finality_depth} block(s) (one Clique signer: floor(1/2)+1); the log of item 2 was anchored as the node's first head, final {finality.first_head_seconds:.0f} s after the node process started.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


@dataclass
class Inputs:
    hierarchy: TestHierarchy
    signer: Signer
    key_file: Path
    password_file: Path
    pool: list[PoolSignature]  # real signatures the store entries of 1(a) reuse
    bulk_bodies: list[bytes]  # 1(b): JSON bodies of 10,000 entries each
    single_bodies: list[bytes]  # 3: one entry each


def prepare(workdir: Path, args: argparse.Namespace) -> Inputs:
    """Test CA, node key, and every signature the run needs (signed before anything is timed)."""
    hierarchy = generate_test_hierarchy(workdir / "jpki")
    issuer = hierarchy.ee_valid_gen02
    when = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    signer = Signer(issuer.key, issuer.cert, when)
    key_file, password_file = workdir / "node-key.json", workdir / "node-key.password"
    write_keystore(Account.create(), key_file, PASSWORD)
    password_file.write_text(PASSWORD + "\n")
    http_count = args.http_requests * BATCH
    print(f"signing {http_count + args.submits:,} documents (CMS, RSA-2048)", flush=True)
    signatures = sign_documents(signer, max(1000, http_count + args.submits))
    issued_at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    pool = [
        PoolSignature(
            hashlib.sha256(document(n)).digest(),
            base64.b64encode(cms).decode(),
            hashlib.sha256(cms).digest(),
        )
        for n, cms in enumerate(signatures[:1000])
    ]
    bulk = [
        json.dumps(
            {"entries": [entry_body(n, signatures[n], issued_at) for n in range(s, s + BATCH)]}
        ).encode()
        for s in range(0, http_count, BATCH)
    ]
    single = [
        json.dumps(entry_body(n, signatures[n], issued_at)).encode()
        for n in range(http_count, http_count + args.submits)
    ]
    return Inputs(hierarchy, signer, key_file, password_file, pool, bulk, single)


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10, help="per load row")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[4, 16, 64],
        help="keep-alive connections per load row, comma-separated",
    )
    parser.add_argument("--http-requests", type=int, default=3, help="bulk requests of 10,000")
    parser.add_argument("--submits", type=int, default=50)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md.")
    parser.add_argument("--peer-serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer-facts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_serve is not None:
        peer_main(args.peer_serve, args.entries, args.peer_port, args.peer_facts)
        return
    if args.entries % BATCH or args.entries < BATCH:
        parser.error(f"--entries must be a multiple of {BATCH}")
    if shutil.which("wrk") is None:
        parser.error("wrk is missing: apt-get install -y wrk")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-node-") as scratch:
        workdir = Path(scratch)
        inputs = prepare(workdir, args)
        hierarchy, signer = inputs.hierarchy, inputs.signer
        key_file, password_file = inputs.key_file, inputs.password_file
        http_count = args.http_requests * BATCH
        setup = time.monotonic() - began

        data_dir = workdir / "data"
        leaves_file = workdir / "leaves.bin"
        print(f"1(a) store ingest of {args.entries:,} entries", flush=True)
        store = store_ingest(
            data_dir / "log", leaves_file, args.entries, inputs.pool, signer, args.seed
        )
        print(f"  {store.rate:,.0f} entries/s", flush=True)

        print(f"1(b) HTTP bulk ingest of {http_count:,} entries", flush=True)
        ingest = http_ingest(workdir, hierarchy, key_file, password_file, inputs.bulk_bodies)
        print(f"  {ingest.rate:,.0f} entries/s", flush=True)
        inputs.bulk_bodies.clear()

        hashes = sample_leaf_hashes(leaves_file, args.entries, PROOF_SAMPLE, args.seed)
        print("2. proof serving", flush=True)
        node = ChainlessNode(data_dir, key_file, password_file, hierarchy)
        serving, root = serve_proofs(
            workdir, node, hashes, args.entries, args.connections, args.seconds
        )
        print("4. pymerkle peer", flush=True)
        peer = serve_peer(
            workdir, leaves_file, args.entries, hashes, root, args.connections, args.seconds
        )
        print("3. submit-to-final on a devnet with 1 s blocks", flush=True)
        main_connections = sorted(args.connections)[len(args.connections) // 2]
        finality = submit_to_final(
            workdir, data_dir, hierarchy, inputs.single_bodies, hashes, args.seed,
            args.seconds, main_connections,
        )  # fmt: skip
    section = render(args, store, ingest, serving, peer, finality, setup, time.monotonic() - began)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
