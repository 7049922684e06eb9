"""Issue 12, item 4: schemathesis against the node's own OpenAPI description, all checks.

A real node process (no chain: entries are logged, not anchored) serves both listeners; the
schemathesis CLI (`st run`, what a user runs) reads each listener's served /openapi.json and
fuzzes every operation with `--checks all`: no server error, every answer's status, content
type, headers and body as described, schema-valid requests accepted and invalid ones refused,
`Allow` on 405, no operation that ignores its auth. On the LGWAN listener it sends a token of
every scope, so the authenticated routes (submit, revoke, bundles, relay) are exercised too.

What no schema can state (a generated signature never verifies; two parameters must relate)
is in the repository's schemathesis.toml, which a user's `st run` from the repository reads too.

Bounded: a fixed number of examples per operation (no `--max-time`: with it, schemathesis
fuzzes until the time is spent), about 25 s for both listeners on a quiet 2-core machine; the
subprocess is killed after TIMEOUT. Under CI the seed is fixed (like tests/conftest.py
derandomizing Hypothesis); elsewhere it is random and printed, so a failure can be replayed
with NOTARY_FUZZ_SEED. schemathesis runs in a temporary folder (its cache and reports) with its
example database off, so it leaves nothing in the repository.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testca import TestHierarchy
from tests.node_harness import REPO, signed_entry
from tests.node_harness import http as call
from tests.two_listener_node import TwoListenerNode, running_node

pytest_plugins = ["tests.jpki_fixtures"]

MAX_EXAMPLES = 50
"""Test cases per operation and phase: about 1,500 requests to the LGWAN listener's 16
operations (the coverage phase adds its own), 450 to the public one's 8."""
TIMEOUT = 100
"""Seconds one `st run` may take before the test fails (it takes 5 to 15 s on a quiet machine)."""
CI_SEED = 20261123
LEFT_BY_ST = (".schemathesis", "schemathesis-report")
"""What `st run` writes into its working folder, unless told otherwise."""


def _st() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is not installed (pip install -e '.[dev]')"
    return found


def _seed() -> int:
    if "NOTARY_FUZZ_SEED" in os.environ:
        return int(os.environ["NOTARY_FUZZ_SEED"])
    return CI_SEED if os.environ.get("CI") else random.SystemRandom().randrange(2**31)


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[TwoListenerNode]:
    root = tmp_path_factory.mktemp("fuzz-node")
    scopes = ("submit", "read", "admin", "relay")
    with running_node(root, jpki_hierarchy, "fuzzer", scopes) as node:
        # A few real entries, so that look-ups by leaf hash and index ranges can hit.
        entries = [
            signed_entry(jpki_hierarchy.ee_valid_gen02, f"fuzz {i}".encode()) for i in (1, 2)
        ]
        answer = call("POST", node.lgwan + "/v1/entries/bulk", {"entries": entries}, node.token)
        assert answer.status == 201, answer.body
        yield node


def _fuzz(base: str, workdir: Path, *extra: str) -> tuple[int, str]:
    seed = _seed()
    in_repo = {name for name in LEFT_BY_ST if (REPO / name).exists()}
    args = [
        _st(), "--config-file", str(REPO / "schemathesis.toml"), "run", base + "/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(seed),
        "--workers", "1",
        "--request-timeout", "20",
        "--generation-database", "none",
        "--report-dir", str(workdir / "report"),
        "--no-color",
        *extra,
    ]  # fmt: skip
    done = subprocess.run(
        args,
        cwd=workdir,  # anything st writes relative to its folder stays out of the repository
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
        check=False,
    )
    output = f"seed {seed} (NOTARY_FUZZ_SEED replays it)\n{done.stdout}\n{done.stderr}"
    print(output)  # pytest shows it with the test's output: phases, counts, time
    assert (workdir / ".schemathesis").is_dir()  # its cache went to the temporary folder...
    assert {name for name in LEFT_BY_ST if (REPO / name).exists()} == in_repo  # ...not here
    return done.returncode, output


def test_the_lgwan_listener_passes_every_check(node: TwoListenerNode, tmp_path: Path) -> None:
    code, output = _fuzz(node.lgwan, tmp_path, "--header", f"Authorization: Bearer {node.token}")
    assert code == 0, output


def test_the_public_listener_passes_every_check(node: TwoListenerNode, tmp_path: Path) -> None:
    code, output = _fuzz(node.public, tmp_path)
    assert code == 0, output
