"""Static tiles served by Debian's nginx, beside the node's own proof endpoint and the pymerkle
peer, in one run:

    python -m bench.tiles [--entries 100000] [--seconds 10] [--connections 16]

1. A log of --entries document entries built with `LogStore.append` (bench/node.py's store
   ingest), then written as C2SP tiles, entry bundles and a checkpoint by `node.tiles.TileWriter`
   (every file temp + fsync + rename): files and seconds.
2. nginx (one worker, devtools/tile_server.py's config) serving them; `wrk` with keep-alive
   connections asks for random full level-0 tiles (8 KiB each, what a client fetches first
   for an inclusion proof), then random entry bundles.
3. `notary node` (no chain) on the same log: `wrk` asks GET /v1/log/inclusion for random leaves.
4. pymerkle 7.0.0 holding the same leaves behind the node's HTTP stack, loaded the same way.

A client needs about log2(n)/8 + 1 tiles for a proof against a fresh checkpoint (its tiles
cache across proofs); the node answers one proof per request. Rewrites only the "Tiles" section
of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.node import (
    PROOF_SAMPLE,
    SEED,
    ChainlessNode,
    Load,
    Peer,
    inclusion_urls,
    prepare,
    run_wrk,
    sample_leaf_hashes,
    serve_peer,
    store_ingest,
    warm_up,
    wrk_script,
)
from bench.report import run_facts, write_section
from devtools.tile_server import serve_tiles
from node.store import LogStore
from node.tiles import TileWriter
from protocol.checkpoint import NoteSigner
from protocol.tiles import TILE_WIDTH, entries_path, tile_path

HEADING = "## Tiles"


@dataclass
class Written:
    files: int
    megabytes: float
    seconds: float


def write_tiles(
    data_dir: Path, out: Path, entries: int, signer: NoteSigner | None = None
) -> tuple[Written, bytes]:
    store = LogStore(data_dir / "log")
    try:
        root = store.root(entries)
        writer = TileWriter(store, out, signer or NoteSigner.generate("notary.example/131016"))
        started = time.perf_counter()
        writer.publish(entries, root)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 1e6
    return Written(len(files), size, seconds), root


def nginx_loads(
    workdir: Path, tiles: Path, entries: int, connections: list[int], seconds: float
) -> list[Load]:
    rng = random.Random(SEED)
    full = entries // TILE_WIDTH
    tile_urls = ["/" + tile_path(0, rng.randrange(full)) for _ in range(PROOF_SAMPLE)]
    bundle_urls = ["/" + entries_path(rng.randrange(full)) for _ in range(PROOF_SAMPLE)]
    loads = []
    with serve_tiles(tiles, workdir / "nginx") as url:
        master = int((workdir / "nginx" / "nginx.pid").read_text())
        # The one worker answers; its CPU is the server's.
        pid = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
        tile_script = wrk_script(workdir / "tiles.lua", tile_urls)
        warm_up(url, tile_script, pid)
        for c in connections:
            loads.append(run_wrk("nginx tiles", url, tile_script, c, seconds, pid))
        bundle_script = wrk_script(workdir / "bundles.lua", bundle_urls)
        main = sorted(connections)[len(connections) // 2]
        loads.append(run_wrk("nginx bundles", url, bundle_script, main, seconds, pid))
    return loads


def node_loads(
    workdir: Path, node: ChainlessNode, hashes: list[bytes], entries: int,
    connections: list[int], seconds: float,
) -> list[Load]:  # fmt: skip
    script = wrk_script(workdir / "inclusion.lua", inclusion_urls(hashes, entries))
    wrk_script(workdir / "healthz.lua", ["/healthz"])  # serve_peer loads it too
    try:
        node.start()
        assert node.process is not None
        warm_up(node.url, script, node.process.pid)
        return [
            run_wrk("node proofs", node.url, script, c, seconds, node.process.pid)
            for c in connections
        ]
    finally:
        node.stop()


def render(
    args: argparse.Namespace, written: Written, nginx: list[Load], node: list[Load], peer: Peer
) -> str:
    command = (
        f"python -m bench.tiles --entries {args.entries} --seconds {args.seconds:g} "
        f"--connections {','.join(map(str, args.connections))}"
    )
    lines = [HEADING, "", *run_facts(command), ""]
    lines += [
        f"Writing the log of {args.entries:,} entries as tiles: {written.files:,} files, "
        f"{written.megabytes:.1f} MB, {written.seconds:.1f} s "
        f"({args.entries / written.seconds:,.0f} entries/s, each file fsynced and renamed).",
        "",
        "| server | what | connections | requests/s | p50 ms | p99 ms | errors | server CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for load in [*nginx, *node, *peer.proofs]:
        lines.append(
            f"| {load.label.split()[0]} | {' '.join(load.label.split()[1:])} | "
            f"{load.connections} | {load.rate:,.0f} | {load.p50_ms:.2f} | {load.p99_ms:.2f} | "
            f"{load.errors} | {load.server_cpu:.1f} |"
        )
    best_tiles = max(load.rate for load in nginx if load.label == "nginx tiles")
    best_node = max(load.rate for load in node)
    best_peer = max(load.rate for load in peer.proofs)
    lines += [
        "",
        f"Ratios (best rows): nginx tiles / node proofs = {best_tiles / best_node:.1f}x; "
        f"nginx tiles / pymerkle proofs = {best_tiles / best_peer:.1f}x. A client computing a "
        "proof itself fetches about log2(n)/8 + 1 tiles (3 for this log) once, then reuses "
        "them; nginx uses one worker process and the other core runs wrk.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--connections", type=lambda text: [int(c) for c in text.split(",")], default=[16]
    )
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md.")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is missing: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as scratch:
        workdir = Path(scratch)
        inputs = prepare(workdir, argparse.Namespace(http_requests=0, submits=0))
        data_dir, leaves_file = workdir / "data", workdir / "leaves.bin"
        print(f"1. a log of {args.entries:,} entries, then its tiles", flush=True)
        store_ingest(data_dir / "log", leaves_file, args.entries, inputs.pool, inputs.signer, SEED)
        written, root = write_tiles(data_dir, workdir / "tiles", args.entries)
        print(f"  {written.files:,} files in {written.seconds:.1f} s", flush=True)
        print("2. nginx", flush=True)
        nginx = nginx_loads(
            workdir, workdir / "tiles", args.entries, args.connections, args.seconds
        )
        hashes = sample_leaf_hashes(leaves_file, args.entries, PROOF_SAMPLE, SEED)
        print("3. node proofs", flush=True)
        node = ChainlessNode(data_dir, inputs.key_file, inputs.password_file, inputs.hierarchy)
        node_rows = node_loads(workdir, node, hashes, args.entries, args.connections, args.seconds)
        print("4. pymerkle peer", flush=True)
        peer = serve_peer(
            workdir, leaves_file, args.entries, hashes, root, args.connections, args.seconds
        )
    section = render(args, written, nginx, node_rows, peer)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
