"""The committed verification page is exactly what its sources build.

verifier/web/verify.html ships in the Python package (no npm needed to install the verifier);
it is built from verifier/web/src by `npm run build:page`. This rebuilds it into a temporary
directory and fails on any difference, and fails if the generated protocol constants
(verifier/web/src/protocol.gen.js) are stale against the Python reference.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.page_constants import OUTPUT, render
from tests.node_harness import REPO
from verifier.web import inline_hashes

PAGE = REPO / "verifier" / "web" / "verify.html"
REBUILD = "python -m devtools.page_constants && npm run build:page"


def test_protocol_constants_are_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), f"stale: run {REBUILD}"


def test_committed_page_is_the_build_of_its_sources(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    out = tmp_path / "verify.html"
    done = subprocess.run(
        [node, "verifier/web/build.mjs", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    built = out.read_text(encoding="utf-8")
    assert built == PAGE.read_text(encoding="utf-8"), (
        f"verify.html differs from its build: run {REBUILD}"
    )
    # Still one self-contained page: one script and one style sheet inline, nothing loaded.
    scripts, styles = inline_hashes(built)
    assert len(scripts) == 1 and len(styles) == 1
    assert "<script src" not in built and '<link rel="stylesheet"' not in built
