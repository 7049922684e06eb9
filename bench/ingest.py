"""HTTP bulk ingest alone (bench.node row 1(b), issue 16 item 3), quick enough to run per change:

    python -m bench.ingest [--requests 3] [--connections 1,2] [--rounds 1]
                           [--compare PATH] [--no-in-process] [--signer-recheck due|later]

--requests bodies of 10,000 CMS-signed entries each (one signer, one signing time, as in
bench.node) are signed once. A `notary node` without a chain (bench.node's ChainlessNode, its
intake workers started by a warm-up request) then gets, per --connections count c, --requests
POST /v1/entries/bulk on each of c keep-alive connections at once (every connection sends
the same bodies, rotated; no request_id, so every request appends). Each row prints
entries/s (all requests' entries over the row's wall time), the slowest request, and the CPU
seconds of the node and its workers during the row.

--compare PATH runs a second node from another checkout of the project (say a `git archive`
of the commit before a change) on the same bodies; the rows then alternate between the two
nodes, --rounds times, so both see the same machine. Finally, unless --no-in-process, the
same bodies go through `NodeService.submit` in this process (bench.node.in_process_submit),
timed by part: parse, checks, append, receipts, encode.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.node import (
    BATCH,
    ChainlessNode,
    cpu_seconds,
    create_token,
    in_process_submit,
    post,
    prepare,
    tree_cpu_seconds,
)

WARM_ENTRIES = 300
"""Above intake_pool_min_entries: the warm-up request starts the workers."""


@dataclass
class Row:
    label: str
    connections: int
    entries: int
    seconds: float
    slowest: float
    cpu_seconds: float
    node_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds

    def line(self) -> str:
        return (
            f"  {self.label:>8} c={self.connections}: {self.rate:7,.0f} entries/s "
            f"({self.entries:,} in {self.seconds:.2f} s, slowest request {self.slowest:.2f} s, "
            f"node+workers {self.cpu_seconds:.1f} CPU-s = {self.cpu_seconds / self.seconds:.2f} "
            f"cores, node alone {self.node_cpu_seconds:.1f})"
        )


def run_row(
    node: ChainlessNode, label: str, token: str, bodies: list[bytes], connections: int
) -> Row:
    """`bodies` on each of `connections` connections at once; wall time of the whole row."""
    assert node.process is not None
    durations: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)

    def send(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=600)
        mine = bodies[number % len(bodies) :] + bodies[: number % len(bodies)]
        try:
            start.wait()
            for body in mine:
                began = time.perf_counter()
                answer = post(connection, "/v1/entries/bulk", body, token)
                took = time.perf_counter() - began
                if len(answer["receipts"]) != BATCH:
                    raise RuntimeError("short bulk answer")
                with lock:
                    durations.append(took)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    cpu_before = tree_cpu_seconds(node.process.pid)
    node_before = cpu_seconds(node.process.pid)
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    cpu = tree_cpu_seconds(node.process.pid) - cpu_before
    node_cpu = cpu_seconds(node.process.pid) - node_before
    if errors:
        raise errors[0]
    return Row(label, connections, len(durations) * BATCH, seconds, max(durations), cpu, node_cpu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3, help="bodies of 10,000 entries")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[1, 2],
        help="concurrent keep-alive connections per row, comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=1, help="times every row runs")
    parser.add_argument("--compare", type=Path, help="another checkout, run alternately")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument(
        "--signer-recheck",
        choices=("due", "later"),
        default="due",
        help="due: the test CA's CRL postdates the signing time, so the node re-checks every "
        "entry's signer (node/signer_evidence.py) beside the intake; later: as for entries "
        "that arrive before the next CRL is issued, the re-check waits (the nodes get "
        "revocation_evidence_grace = 1 day) and is not part of the rows",
    )
    args = parser.parse_args(argv)
    if args.signer_recheck == "later":
        os.environ["NOTARY_REVOCATION_EVIDENCE_GRACE"] = "86400"  # ChainlessNode passes it on
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        workdir = Path(scratch)
        inputs = prepare(workdir, argparse.Namespace(http_requests=args.requests, submits=0))
        bodies = inputs.bulk_bodies
        print(f"{len(bodies)} bodies of {BATCH:,} entries, {len(bodies[0]) / 1e6:.1f} MB each")
        sides = [("this", None)] + ([("compare", args.compare)] if args.compare else [])
        nodes: list[tuple[str, ChainlessNode, str]] = []
        try:
            for label, repo in sides:
                data_dir = workdir / f"node-{label}"
                data_dir.mkdir()
                node = ChainlessNode(
                    data_dir, inputs.key_file, inputs.password_file, inputs.hierarchy
                )
                if repo is not None:
                    node.repo = repo.resolve()
                token = create_token(data_dir, "bench-issuer", "submit")
                node.start()
                warm = json.loads(bodies[0])["entries"][:WARM_ENTRIES]
                connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=600)
                post(connection, "/v1/entries/bulk", json.dumps({"entries": warm}).encode(), token)
                connection.close()
                nodes.append((label, node, token))
            print(f"load average {os.getloadavg()[0]:.2f} before the rows", flush=True)
            for _ in range(args.rounds):
                for connections in args.connections:
                    for label, node, token in nodes:
                        print(run_row(node, label, token, bodies, connections).line(), flush=True)
            print(f"load average {os.getloadavg()[0]:.2f} after the rows", flush=True)
        finally:
            for _, node, _ in nodes:
                node.stop()
        if args.no_in_process:
            return
        parse, checks, append, receipts, submit, encode = in_process_submit(
            workdir / "in-process", inputs.hierarchy, inputs.key_file, inputs.password_file, bodies
        )
        entries = len(bodies) * BATCH
        print(f"in-process, {entries:,} entries (this checkout), seconds:")
        print(
            f"  parse {parse:.2f}, checks {checks:.2f}, append {append:.2f}, receipts "
            f"{receipts:.2f}, submit in all {submit:.2f}, encode {encode:.2f}; "
            f"{entries / (parse + submit + encode):,.0f} entries/s"
        )


if __name__ == "__main__":
    main()
