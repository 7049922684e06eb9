"""A bank installs the verifier alone: it must import and work without the node's server stack."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BLOCKED = ("fastapi", "starlette", "uvicorn", "plyvel", "eth", "py_evm", "devnet", "node")

PROBE = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None

    sys.meta_path.insert(0, Block())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]

    import verifier
    import verifier.cli
    from verifier import DocumentDigest, Verifier, VerificationPolicy, load_bundle
    from verifier.jpki import RevocationSources, load_certificates

    vectors = sys.argv[2]
    bundle = load_bundle(open(vectors + "/bundles/pending.json", "rb").read())
    document = open(vectors + "/documents/resident-record.txt", "rb").read()
    policy = VerificationPolicy(
        rpc_urls=[],
        registry="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        chain_id=31337,
        trust_anchors=load_certificates([vectors + "/signing/ca.pem"]),
        revocation=RevocationSources(crl_files=[vectors + "/signing/crl.der"]),
        require_revocation_check=False,
        require_municipal_seal=False,
    )
    verdict = Verifier(policy).verify(document, bundle)
    loaded = sorted({n.split(".")[0] for n in sys.modules} & BLOCKED)
    print(json.dumps({"status": verdict.status.value, "loaded": loaded}))
    """
)


def test_verifier_imports_and_verifies_without_the_server_stack() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(BLOCKED), str(REPO / "tests" / "vectors")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The pending vector passes every check it can (signature, signer) without a chain.
    assert done.stdout.strip() == '{"status": "pending", "loaded": []}'


def test_the_block_really_blocks() -> None:
    # Guard against a probe that blocks nothing: importing a blocked module must fail.
    probe = PROBE.split("import verifier\n")[0] + "import plyvel\n"
    done = subprocess.run(
        [sys.executable, "-c", probe, ",".join(BLOCKED), "."],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode != 0 and "blocked for this test: plyvel" in done.stderr
