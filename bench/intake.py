"""The bulk intake's parts side by side, in one process (issue 16, item 1):

    python -m bench.intake [--entries 2000]

--entries CMS-signed documents (one JPKI-TEST signer, one signing time), then, each the best of
3 rounds, interleaved so that both sides of a ratio see the same machine:
(a) the CMS check `verify_cms_digest` (one DER walk, `verifier/jpki/cms_fast.py`) against
`verify_cms_digest_full` (asn1crypto), and RSA verification alone; (b) a bulk body of those
entries parsed by `node.api.parse_bulk` against FastAPI's way (`json.loads`, then pydantic on
the Python objects), with the garbage collector on as in the node (the other parts with it
off); (c) the signer gate for the same signing time (cached), for --entries distinct
signing times (one a second, as a bulk signed over hours; a new gate each round, so its one
evidence collection and full judgements are counted), and the full judgement
(`check_signer`: path validation and CRL checks) that each new signing time cost before
(--distinct-times of them). Prints lines for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.node import Signer, document, entry_body, sign_documents
from devtools.cms_sign import load_private_key
from devtools.testca import TestHierarchy, generate_test_hierarchy
from node.api import BulkIn, parse_bulk
from node.intake import SignerGate
from verifier.digest_signature import verify_cms_digest, verify_cms_digest_full
from verifier.jpki import (
    JPKICertificate,
    RevocationSources,
    SignerPolicy,
    check_signer,
    load_certificates,
)


def best(rounds: int, work: Callable[[], object], *, gc_on: bool = False) -> float:
    times = []
    if not gc_on:
        gc.disable()
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--distinct-times", type=int, default=50)
    args = parser.parse_args(argv)
    n = args.entries
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as scratch:
        hierarchy = generate_test_hierarchy(Path(scratch) / "jpki")
        issuer = hierarchy.ee_valid_gen02
        when = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
        signatures = sign_documents(Signer(issuer.key, issuer.cert, when), n)
        digests = [hashlib.sha256(document(i)).digest() for i in range(n)]
        issued = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps(
            {"entries": [entry_body(i, signatures[i], issued) for i in range(n)]}
        ).encode()
        first = verify_cms_digest(signatures[0], digests[0])
        key = first.signer_cert.x509.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert verify_cms_digest_full(signatures[0], digests[0]).signer_cert == first.signer_cert

        def fast() -> None:
            for s, d in zip(signatures, digests, strict=True):
                verify_cms_digest(s, d)

        def full() -> None:
            for s, d in zip(signatures, digests, strict=True):
                verify_cms_digest_full(s, d)

        signed = hashlib.sha256(b"x").digest()
        raw = sign_rsa(issuer.key, signed)

        def rsa_only() -> None:
            for _ in range(n):
                key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())

        results: dict[str, float] = {"fast": 1e9, "full": 1e9, "rsa": 1e9}
        for _ in range(3):
            results["fast"] = min(results["fast"], best(1, fast))
            results["full"] = min(results["full"], best(1, full))
            results["rsa"] = min(results["rsa"], best(1, rsa_only))
        parse_new = parse_old = 1e9
        for _ in range(3):
            parse_new = min(parse_new, best(1, lambda: parse_bulk(body), gc_on=True))
            parse_old = min(
                parse_old, best(1, lambda: BulkIn.model_validate(json.loads(body)), gc_on=True)
            )
        base = int(first.signing_time.timestamp()) if first.signing_time else 0
        same, distinct, full_each = gate_figures(
            hierarchy, first.signer_cert, base, n, args.distinct_times
        )
    m = args.distinct_times
    us = {k: v / n * 1e6 for k, v in results.items()}
    print(f"- Command: `python -m bench.intake --entries {n}`")
    print(
        f"- (a) CMS check per entry: one DER walk {us['fast']:.1f} µs against asn1crypto "
        f"{us['full']:.1f} µs (full/fast = {us['full'] / us['fast']:.1f} x); RSA-2048 "
        f"verification alone {us['rsa']:.1f} µs."
    )
    print(
        f"- (b) bulk body of {n:,} entries ({len(body) / 1e6:.1f} MB): parse_bulk "
        f"{parse_new / n * 1e6:.1f} µs per entry against json.loads + pydantic "
        f"{parse_old / n * 1e6:.1f} µs (old/new = {parse_old / parse_new:.1f} x)."
    )
    print(
        f"- (c) signer gate: same signing time (cached) {same / n * 1e6:.1f} µs per entry; "
        f"{n:,} distinct signing times {distinct / n * 1e6:.1f} µs per entry "
        f"({distinct:.2f} s in all, new gate); a full judgement per new signing time (the "
        f"gate's cost before) {full_each / m * 1e3:.1f} ms ({m} of them), "
        f"{full_each / m * n:.0f} s for {n:,}."
    )


def gate_figures(
    hierarchy: TestHierarchy, signer: JPKICertificate, base: int, n: int, m: int
) -> tuple[float, float, float]:
    """Seconds for n checks at one signing time, for n distinct signing times (a new gate
    each round), and for m full judgements."""
    anchors = tuple(load_certificates(hierarchy.trust_anchors))
    sources = RevocationSources(crl_files=[str(p) for p in hierarchy.crl_files])

    def new_gate() -> SignerGate:
        return SignerGate(anchors, sources, SignerPolicy())

    def distinct_seconds() -> None:
        fresh = new_gate()
        for i in range(n):
            assert fresh.check(signer, [], base - i).ok

    def full_judgements() -> None:
        for i in range(m):
            check_signer(
                signer,
                signing_time=datetime.fromtimestamp(base - i, UTC),
                trust_anchors=anchors,
                revocation=sources,
                policy=SignerPolicy(),
            )

    gate = new_gate()
    distinct = best(3, distinct_seconds)
    full_each = best(1, full_judgements)
    same = best(3, lambda: [gate.check(signer, [], base) for _ in range(n)])
    return same, distinct, full_each


def sign_rsa(key_path: Path, data: bytes) -> bytes:
    return load_private_key(key_path).sign(data, padding.PKCS1v15(), hashes.SHA256())


if __name__ == "__main__":
    main()
