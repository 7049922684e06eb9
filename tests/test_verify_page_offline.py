"""The clerk's page verifying version-3 bundles offline, in Debian's chromium (Playwright).

The page is written by `python -m verifier.web --trust-root tests/vectors/v3/trust-root.json`
with no JSON-RPC endpoint and no node, opened as a local file, and every request it might make
is recorded and refused: no chain process runs. The valid v3 vector shows the verdict
"valid as of the evidence" (never the green VALID), with the block it is as of and what is not
known; each altered vector is invalid at the check the Python verifier names
(tests/vectors/v3/expected.json). The same page with an endpoint and a node (stand-ins serving
v3/chain.json) says valid online, and valid_as_of again when the clerk ticks "verify offline".
Screenshots go to $NOTARY_TEST_ARTIFACTS or test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.node_harness import REPO
from tests.vectors.standins import recorded_chain, recorded_node

pytest_plugins = ["tests.browser"]

VECTORS = REPO / "tests" / "vectors"
V3 = VECTORS / "v3"
EXPECTED = json.loads((V3 / "expected.json").read_text(encoding="utf-8"))
CRL = VECTORS / "signing" / "crl.der"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NOTARY_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_page(output: Path, *options: str) -> Path:
    """`python -m verifier.web` as an IT department runs it. The v3 vectors are pre-seal
    bundles (registered types signed with a card): verified as expected.json states them, with
    the seal rule off (--accept-unsealed)."""
    command = [sys.executable, "-m", "verifier.web", "--trust-root", str(V3 / "trust-root.json")]
    if not EXPECTED["require_municipal_seal"]:
        command.append("--accept-unsealed")
    done = subprocess.run(
        [*command, "--crl", str(CRL), *options, "-o", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return output


def open_page(browser: Any, page_file: Path, requests: list[str]) -> Any:
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})

    def refuse(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
            return
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    return page


def verify_in_page(page: Any, document: Path, bundle: Path) -> dict[str, str | None]:
    if page.get_attribute("#verdict", "data-state") == "done":
        page.click("#reset")
    page.set_input_files("#document-input", str(document))
    page.set_input_files("#bundle-input", str(bundle))
    page.wait_for_selector('#verdict[data-state="done"]', timeout=60_000)
    return {
        "verdict": page.get_attribute("#verdict", "data-verdict"),
        "failed_check": page.get_attribute("#verdict", "data-failed-check"),
    }


def checks_of(page: Any) -> dict[str, str]:
    items = page.query_selector_all("#checks li")
    return {str(i.get_attribute("data-check")): str(i.get_attribute("data-outcome")) for i in items}


def test_page_verifies_v3_bundles_offline_with_no_network(
    browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    requests: list[str] = []
    page = open_page(browser, write_page(tmp_path / "verify.html"), requests)
    assert "offline" in page.inner_text("#config-notice")
    assert page.is_hidden("#mode")  # no endpoint: offline is the only way

    document = VECTORS / "documents" / "resident-record.txt"
    result = verify_in_page(page, document, V3 / "bundles" / "valid.json")
    assert result == {"verdict": "valid_as_of", "failed_check": None}, page.inner_text("#verdict")
    word = page.inner_text("#verdict-word")
    assert "VALID AS OF EVIDENCE" in word and "証拠時点で有効" in word
    sub = page.inner_text("#verdict-sub")
    chain = json.loads((V3 / "chain.json").read_text(encoding="utf-8"))
    assert f"block {chain['latest_block']}" in sub, sub
    assert "not known" in page.inner_text("#verdict-reason")
    # never the look of VALID: not the green of a valid verdict
    background = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundImage")
    assert "gradient" in background
    colour = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
    assert colour != "rgb(11, 110, 47)"
    facts = page.inner_text("#facts")
    assert "Evidence as of" in facts and "Not known offline" in facts
    checks = checks_of(page)
    assert checks["head_not_withdrawn"] == "passed" and checks["finality"] == "passed"
    assert checks["document_revocation"] == "skipped"
    tags = page.query_selector_all('#checks .asof-tag[data-as-of="true"]')
    assert len(tags) == 2  # head_not_withdrawn, document_revocation
    page.screenshot(path=str(artifacts / "verify-page-offline-valid-as-of.png"), full_page=True)

    for name, case in EXPECTED["bundles"].items():
        result = verify_in_page(page, VECTORS / case["document"], VECTORS / name)
        assert result == {"verdict": case["offline"], "failed_check": case["failed_check"]}, name
    page.screenshot(path=str(artifacts / "verify-page-offline-invalid.png"), full_page=True)
    assert requests == [], requests
    page.close()


def test_page_with_a_chain_and_a_trust_root_can_be_switched_offline(
    browser: Any, tmp_path: Path
) -> None:
    chain = json.loads((V3 / "chain.json").read_text(encoding="utf-8"))
    document = VECTORS / "documents" / "resident-record.txt"
    bundle = V3 / "bundles" / "valid.json"
    with recorded_chain(chain) as rpc_url, recorded_node() as node:
        page_file = write_page(tmp_path / "verify.html", "--rpc", rpc_url, "--node-url", node.url)
        requests: list[str] = []
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_visible("#mode")
        result = verify_in_page(page, document, bundle)
        assert result == {"verdict": "valid", "failed_check": None}, page.inner_text("#verdict")
        assert "the chain evidence agrees" in (page.text_content("#checks") or "")
        asked = len(node.requests)
        assert asked > 0

        def refuse(route: Any) -> None:
            requests.append(route.request.url)
            route.abort()

        page.route("**/*", refuse)
        page.check("#offline-mode")  # verifies again, with no network
        page.wait_for_selector('#verdict[data-verdict="valid_as_of"]', timeout=60_000)
        assert requests == [] and len(node.requests) == asked
        page.close()
