"""Merkle benchmark: our pure-Python RFC 6962 tree against the hashlib floor and pymerkle.

    python -m bench.merkle [--leaves N]

Measures, best of --repeat runs in one process: (a) the floor, 2n bare hashlib.sha256 calls
over 65-byte inputs (a tree of n leaves needs n leaf hashes and n - 1 node hashes); (b) our root
from precomputed leaf hashes, and from the documents; (c) our root plus every inclusion proof;
(d) pymerkle 7.0.0 doing the same. (a), (b) and (b') run in alternation so that load from other
processes hits them alike. Prints a table and rewrites the "Merkle" section of bench/RESULTS.md.
Garbage collection is off while timing, as timeit does.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from bench.report import RESULTS, run_facts, write_section
from protocol.merkle import (
    MerkleTree,
    hash_leaf,
    root_from_leaf_hashes,
    verify_inclusion,
)

SECTION = "## Merkle (bench/merkle.py)"
T = TypeVar("T")


def timed_once(job: Callable[[], T]) -> tuple[float, T]:
    """Wall-clock time of one run of `job`, with the garbage collector off, and its result."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = job()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def best_of(repeat: int, job: Callable[[], T]) -> tuple[float, T]:
    """Fastest wall-clock time of ``repeat`` runs (the least disturbed by other processes),
    and the last run's result (earlier results are dropped at once: big ones are freed
    before the next run)."""
    times = [timed_once(job)[0] for _ in range(repeat - 1)]
    last, result = timed_once(job)
    return min([*times, last]), result


def best_of_rounds(repeat: int, jobs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best times of jobs run in alternation, so a burst of load hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeat):
        for name, job in jobs.items():
            times[name].append(best_of(1, job)[0])
    return {name: min(values) for name, values in times.items()}


def floor(inputs: list[bytes]) -> None:
    sha256 = hashlib.sha256
    for data in inputs:
        sha256(data).digest()


def floor_inputs(n: int, rng: random.Random) -> list[bytes]:
    """2n inputs of 65 bytes, shaped like node inputs (0x01 || left || right)."""
    node_inputs = [b"\x01" + rng.randbytes(64) for _ in range(n)]
    return node_inputs + node_inputs


def all_proofs(documents: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    tree = MerkleTree(map(hash_leaf, documents))
    return tree.root, list(tree.inclusion_proofs())


def all_proofs_one_by_one(documents: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    tree = MerkleTree(map(hash_leaf, documents))
    return tree.root, [tree.inclusion_proof(i) for i in range(tree.size)]


def pymerkle_build(documents: list[bytes]) -> Any:  # pymerkle ships no type information
    from pymerkle import InmemoryTree

    tree = InmemoryTree()  # sha256 with RFC 6962 prefixes (its default "security" mode)
    tree.append_entries(documents)
    tree.get_root()
    return tree


def pymerkle_proofs(tree: Any, indices: list[int]) -> list[Any]:
    return [tree.prove_inclusion(i + 1) for i in indices]  # pymerkle counts from 1


def run(n: int, repeat: int, sample: int) -> tuple[list[tuple[str, float, str]], list[str]]:
    rng = random.Random(6962)
    documents = [rng.randbytes(24) + i.to_bytes(8, "big") for i in range(n)]  # distinct
    leaf_hashes = [hash_leaf(d) for d in documents]
    notes: list[str] = []

    root = root_from_leaf_hashes(leaf_hashes)
    assert root == root_from_leaf_hashes(list(map(hash_leaf, documents)))
    core = best_of_rounds(
        repeat,
        {
            "floor": partial(floor, floor_inputs(n, rng)),
            "root": partial(root_from_leaf_hashes, leaf_hashes),
            "root_docs": lambda: root_from_leaf_hashes(list(map(hash_leaf, documents))),
        },
    )
    t_floor, t_root, t_root_docs = core["floor"], core["root"], core["root_docs"]
    t_tree, (tree_root, proofs) = best_of(repeat, partial(all_proofs, documents))
    assert tree_root == root and len(proofs) == n
    for i in rng.sample(range(n), min(n, 1000)):
        verify_inclusion(leaf_hashes[i], i, n, proofs[i], root)
    del proofs
    t_one, (_, proofs) = best_of(repeat, partial(all_proofs_one_by_one, documents))
    del proofs

    t_pm_build, pm_tree = best_of(repeat, partial(pymerkle_build, documents))
    assert pm_tree.get_root() == root, "pymerkle disagrees on the root"
    indices = list(range(n)) if sample >= n else sorted(rng.sample(range(n), sample))
    t_pm_sample, pm_proofs = best_of(repeat, partial(pymerkle_proofs, pm_tree, indices))
    assert pm_proofs[0].path[1:] == MerkleTree(leaf_hashes).inclusion_proof(indices[0])
    t_pm_proofs = t_pm_sample * n / len(indices)
    if len(indices) < n:
        notes.append(
            f"pymerkle proofs: {len(indices):,} random leaves timed ({t_pm_sample:.2f} s), "
            f"extrapolated linearly to all {n:,}; all n would take too long."
        )
    del pm_tree, pm_proofs

    rows = [
        ("(a) floor: 2n sha256() calls on 65-byte inputs", t_floor, "1.00 x floor"),
        ("(b) ours: root from n leaf hashes", t_root, f"{t_root / t_floor:.2f} x floor"),
        (
            "(b') ours: root from n documents (incl. leaf hashing)",
            t_root_docs,
            f"{t_root_docs / t_floor:.2f} x floor",
        ),
        (
            "(c) ours: MerkleTree from n documents + root + all n inclusion proofs",
            t_tree,
            f"{t_tree / t_floor:.2f} x floor",
        ),
        (
            "(c') ours: same, one inclusion_proof(i) call per leaf",
            t_one,
            f"{t_one / t_floor:.2f} x floor",
        ),
        (
            "(d) pymerkle: build n leaves (append_entries) + root",
            t_pm_build,
            f"pymerkle/ours = {t_pm_build / t_root_docs:.1f} (vs b')",
        ),
        (
            "(d') pymerkle: build + root + all n inclusion proofs"
            + (" (extrapolated)" if len(indices) < n else ""),
            t_pm_build + t_pm_proofs,
            f"pymerkle/ours = {(t_pm_build + t_pm_proofs) / t_tree:.1f} (vs c)",
        ),
    ]
    notes.append(
        f"Targets: (b) within 1.5 x floor: {'met' if t_root <= 1.5 * t_floor else 'MISSED'} "
        f"({t_root / t_floor:.2f} x); at least 5 x faster than pymerkle building the same tree: "
        f"{'met' if t_pm_build >= 5 * t_root_docs else 'MISSED'} "
        f"({t_pm_build / t_root_docs:.1f} x)."
    )
    notes.append(
        f"Hash calls: (b) does n - 1 = {n - 1:,} node hashes; (b') adds n leaf hashes, i.e. "
        f"2n - 1 calls, the same work as the floor. Per node hash, (b) costs "
        f"{t_root / (n - 1) * 1e9:.0f} ns against {t_floor / (2 * n) * 1e9:.0f} ns per floor call "
        f"({t_root / (n - 1) / (t_floor / (2 * n)):.2f} x)."
    )
    notes.append(
        "pymerkle only takes documents (it hashes leaves itself, 0x00-prefixed), so (d) is "
        "compared with (b') and (d') with (c), which both include leaf hashing."
    )
    return rows, notes


def render(n: int, repeat: int, rows: list[tuple[str, float, str]], notes: list[str]) -> str:
    command = f"python -m bench.merkle --leaves {n}"
    lines = [
        SECTION,
        "",
        *run_facts(command),
        f"- Timing: best of {repeat}, gc off while timing",
        f"- Leaves: {n:,} (distinct 32-byte documents)",
        "",
        "| Job | Seconds | Ratio |",
        "|---|---:|---|",
        *(f"| {name} | {seconds:.3f} | {ratio} |" for name, seconds, ratio in rows),
        "",
        *(f"- {note}" for note in notes),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pymerkle-sample", type=int, default=20_000, help="pymerkle proofs actually timed"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rows, notes = run(args.leaves, args.repeat, args.pymerkle_sample)
    section = render(args.leaves, args.repeat, rows, notes)
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
