"""The verification page's own JavaScript, unit-tested with `node --test` (tests/js/).

The JS tests read the same vectors as the Python tests (the shared RFC 6962 conformance folder,
tests/vectors): Merkle proofs, leaf encoding, bundle refusals, HeadAnchored decoding, the verdict
rule, and every protocol vector through the page's verify() against stand-ins. Run here so that
`make test` (and CI) runs them; the Node output is shown when they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.node_harness import REPO


def test_page_javascript_unit_tests() -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH (the page's tests and contracts build need it)"
    assert (REPO / "node_modules" / "asn1js").is_dir(), "run `npm ci` (make setup) first"
    # The sealed-PDF reader's fixtures are written by pyHanko here, not kept in git.
    subprocess.run(
        [sys.executable, "-m", "tests.sealed_pdf", str(REPO / "tests/js/fixtures/pdf")],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # A wrong folder must not pass with nothing run.
    summary = {
        k: int(v)
        for k, v in (
            line[2:].split()
            for line in output.splitlines()
            if line.startswith(("# tests ", "# pass ", "# fail "))
        )
    }
    assert summary["fail"] == 0 and summary["tests"] == summary["pass"] >= 150, summary
