"""Inclusion proofs from four servers on one log, in one run (issue 16, item 2):

    python -m bench.proofs [--entries 1000000] [--seconds 10] [--connections 64] [--rate 3000]

1. A log of --entries document entries (bench/node.py's store ingest), then its C2SP tiles and
   checkpoint (`node.tiles.TileWriter`).
2. Servers, one after another on the same 2 cores: `notary node` (no chain; its plain-ASGI
   inclusion path, one process), `notary tiles proofs --workers 2` (read-only proof workers
   from the tiles), the pymerkle 7.0.0 peer (bench/node.py), Debian's nginx (2 workers)
   serving the level-0 tiles a client fetches to build a proof itself.
3. For each: closed loop (`wrk`, --connections keep-alive connections, each sends its next
   request when the answer arrives) and paced at --rate requests/s: wrk's Lua `delay()` holds
   each of the connections for C/rate seconds minus the latency measured in a 3 s calibration
   run, so the load is set by the schedule, not by the server's speed (Debian has no wrk2). The
   achieved rate is reported beside the latencies: a server that cannot keep the schedule
   shows a lower rate, and its latencies then under-state what an open-loop client would see.

Every server's proofs for 50 leaves are checked against the log's root first. Prints the
section; with --write, replaces "Proofs (bench/proofs.py)" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.node import (
    PROOF_SAMPLE,
    REPO,
    SEED,
    ChainlessNode,
    Inputs,
    Load,
    check_proofs,
    get_json,
    inclusion_urls,
    prepare,
    run_wrk,
    sample_leaf_hashes,
    stop_process,
    store_ingest,
    tree_cpu_seconds,
    wait_healthy,
    wrk_script,
)
from bench.report import run_facts, write_section
from bench.tiles import write_tiles
from devnet.ports import free_port
from devtools.tile_server import serve_tiles
from protocol.checkpoint import NoteSigner
from protocol.tiles import TILE_WIDTH, tile_path

HEADING = "## Proofs (bench/proofs.py)"
WORKERS = 2


def paced_script(path: Path, urls: Sequence[str], delay_ms: float) -> Path:
    """`wrk_script` whose connections each wait `delay_ms` before every request."""
    script = wrk_script(path, urls)
    script.write_text(script.read_text() + f"\ndelay = function()\n  return {delay_ms:.3f}\nend\n")
    return script


def paced(
    label: str,
    url: str,
    workdir: Path,
    urls: Sequence[str],
    rate: float,
    connections: int,
    seconds: float,
    pid: int,
    cpu: Callable[[int], float],
) -> Load:
    """A row at about `rate` requests/s: calibrate the per-connection delay, then measure."""
    period_ms = 1000 * connections / rate
    probe = run_wrk(
        f"{label} (calibration)", url,
        paced_script(workdir / "paced.lua", urls, period_ms), connections, 3, pid, cpu,
    )  # fmt: skip
    latency_ms = max(0.0, 1000 * connections / max(probe.rate, 1.0) - period_ms)
    delay_ms = max(0.0, period_ms - latency_ms)
    script = paced_script(workdir / "paced.lua", urls, delay_ms)
    return run_wrk(f"{label} at {rate:,.0f}/s", url, script, connections, seconds, pid, cpu)


def rows(
    label: str,
    url: str,
    workdir: Path,
    urls: Sequence[str],
    args: argparse.Namespace,
    pid: int,
    cpu: Callable[[int], float] = tree_cpu_seconds,
) -> list[Load]:
    script = wrk_script(workdir / f"{label.split(maxsplit=1)[0]}.lua", urls)
    run_wrk("warm-up", url, script, 8, 3, pid, cpu)
    closed = [run_wrk(label, url, script, c, args.seconds, pid, cpu) for c in args.connections]
    main = max(args.connections)
    timed = paced(label, url, workdir, urls, args.rate, main, args.seconds, pid, cpu)
    timed.label = f"{label}, paced"
    return [*closed, timed]


@contextmanager
def proof_workers(tiles: Path, key: str, log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable, "-m", "node.cli", "tiles", "proofs", "--tiles-dir", str(tiles),
        "--verifier-key", key, "--port", str(port), "--workers", str(WORKERS),
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_healthy(url, process, log, timeout=600)
        for _ in range(6000):  # every worker loaded: /healthz answers from any of them
            if all(get_json(url + "/healthz")[1].get("tree_size") for _ in range(8)):
                break
            time.sleep(0.1)
        yield url, process.pid
    finally:
        stop_process(process)


@contextmanager
def peer(workdir: Path, leaves_file: Path, count: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    facts, log = workdir / "peer.json", workdir / "peer.log"
    args = [
        sys.executable, "-m", "bench.node", "--peer-serve", str(leaves_file),
        "--entries", str(count), "--peer-port", str(port), "--peer-facts", str(facts),
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        wait_healthy(url, process, log, timeout=900)
        yield url, process.pid
    finally:
        stop_process(process)


def render(args: argparse.Namespace, loads: list[Load], written: str, minutes: float) -> str:
    def row(x: Load) -> str:
        cores = x.server_cpu / x.seconds if x.seconds else 0.0
        return (
            f"| {x.label} | {x.connections} | {x.rate:,.0f} | {x.p50_ms:.1f} | {x.p90_ms:.1f} | "
            f"{x.p99_ms:.1f} | {x.max_ms:.0f} | {x.errors} | {cores:.2f} |"
        )

    met = [
        x for x in loads
        if x.label.startswith(("node proofs", "proof workers"))
        and x.rate >= 0.97 * args.rate and x.p99_ms < 20 and x.errors == 0
    ]  # fmt: skip
    command = (
        f"python -m bench.proofs --entries {args.entries} --seconds {args.seconds:g} "
        f"--connections {','.join(map(str, args.connections))} --rate {args.rate:g} --write"
    )
    return "\n".join(
        [
            HEADING,
            "",
            *run_facts(command),
            f"- Log: {args.entries:,} document entries; {written}. Whole run {minutes:.1f} min.",
            f"- Load: Debian `wrk` 4, 1 thread, {PROOF_SAMPLE:,} seeded-random leaves cycled,"
            f" {args.seconds:g} s per row after a 3 s warm-up, on the same 2 cores as the"
            " server. Closed rows: each connection sends when its answer arrives. Paced rows:"
            f" Lua `delay()` per request calibrated to {args.rate:,.0f}/s (bench/proofs.py"
            " docstring); latency is from send to answer.",
            f"- Servers: node = `notary node` (one process, LevelDB); proof workers = `notary"
            f" tiles proofs --workers {WORKERS}` (published tiles in memory); pymerkle = the"
            " bench/node.py peer (FastAPI, one process); nginx = 2 workers serving 8 KiB"
            " level-0 tiles (a client builds the proof itself from ~3 tiles).",
            "",
            "| server | connections | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors"
            " | server cores |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[row(x) for x in loads],
            "",
            f"- Target p99 < 20 ms at ≥ {args.rate:,.0f} proofs/s: "
            + ("met by " + "; ".join(sorted({x.label for x in met})) if met else "MISSED")
            + ".",
        ]
    )


def measure(
    args: argparse.Namespace,
    workdir: Path,
    inputs: Inputs,
    leaves_file: Path,
    tiles: Path,
    signer: NoteSigner,
    root: bytes,
) -> list[Load]:
    """Every server's rows, one server after another."""
    data_dir = workdir / "data"
    hashes = sample_leaf_hashes(leaves_file, args.entries, PROOF_SAMPLE, SEED)
    urls = inclusion_urls(hashes, args.entries)
    loads: list[Load] = []

    print("2. node", flush=True)
    node = ChainlessNode(data_dir, inputs.key_file, inputs.password_file, inputs.hierarchy)
    try:
        node.start()
        assert node.process is not None
        check_proofs(node.url, hashes[:50], args.entries, root)
        loads += rows("node proofs", node.url, workdir, urls, args, node.process.pid)
    finally:
        node.stop()
    print("3. proof workers", flush=True)
    with proof_workers(tiles, str(signer.verifier), workdir / "workers.log") as (url, pid):
        check_proofs(url, hashes[:50], args.entries, root)
        loads += rows("proof workers", url, workdir, urls, args, pid)
    print("4. pymerkle peer", flush=True)
    with peer(workdir, leaves_file, args.entries) as (url, pid):
        check_proofs(url, hashes[:50], args.entries, root)
        loads += rows("pymerkle proofs", url, workdir, urls, args, pid)
    print("5. nginx tiles", flush=True)
    rng_tiles = [
        "/" + tile_path(0, int.from_bytes(h[:4], "big") % (args.entries // TILE_WIDTH))
        for h in hashes
    ]
    with serve_tiles(tiles, workdir / "nginx", workers=2) as url:
        master = int((workdir / "nginx" / "nginx.pid").read_text())
        loads += rows("nginx tiles", url, workdir, rng_tiles, args, master)
    return loads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--connections", type=lambda text: [int(c) for c in text.split(",")], default=[64]
    )
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument("--write", action="store_true", help="Replace the section in RESULTS.md")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is missing: apt-get install -y wrk")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-proofs-") as scratch:
        workdir = Path(scratch)
        inputs = prepare(workdir, argparse.Namespace(http_requests=0, submits=0))
        data_dir, leaves_file = workdir / "data", workdir / "leaves.bin"
        print(f"1. a log of {args.entries:,} entries, then its tiles", flush=True)
        store_ingest(data_dir / "log", leaves_file, args.entries, inputs.pool, inputs.signer, SEED)
        signer = NoteSigner.generate("notary.example/131016")
        tiles = workdir / "tiles"
        done, root = write_tiles(data_dir, tiles, args.entries, signer)
        written = f"tiles: {done.files:,} files, {done.megabytes:.1f} MB in {done.seconds:.1f} s"
        print(f"  {written}", flush=True)
        loads = measure(args, workdir, inputs, leaves_file, tiles, signer, root)
    section = render(args, loads, written, (time.monotonic() - began) / 60)
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
