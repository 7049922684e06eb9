"""Regression tests for the security review (issue 12), verifier side: finding 3 (revocation
was opt-in: a holder could delete a bundle's revocation section and a revoked document
verified as valid), the page's private revocation client (k-anonymous buckets), and finding
9 (the shipped page took its node, chain and registry from the link).

Everything runs offline: chain facts from tests/vectors/chain.json and an issuing node
stand-in (tests/vectors/standins.py); the page tests drive Debian's chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
from click.testing import CliRunner

import verifier.cli
from protocol.bundle import ProofBundle, RevocationSection, dump_bundle
from protocol.checks import DOCUMENT_REVOCATION, Outcome
from tests.test_verify_page import _der_certificate as der_certificate
from tests.test_verify_page import checks_of, verify_in_page
from tests.vectors.make_vectors import RecordedChain
from tests.vectors.standins import recorded_chain, recorded_node
from verifier import VerdictStatus, VerificationPolicy, Verifier, load_bundle
from verifier.chain import revocation_bucket_json
from verifier.jpki import RevocationSources, load_certificates
from verifier.web import PageConfig, page_template, render_page

pytest_plugins = ["tests.browser"]

VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
CHAIN = json.loads((VECTORS / "chain.json").read_text(encoding="utf-8"))
RESIDENT = VECTORS / "documents" / "resident-record.txt"
INCOME = VECTORS / "documents" / "income-certificate.txt"


def policy(**changes: Any) -> VerificationPolicy:
    """The vectors' policy, but with the library's own default for the revocation check."""
    fields: dict[str, Any] = {
        "rpc_urls": [],
        "registry": CHAIN["registry"],
        "chain_id": CHAIN["chain_id"],
        "trust_anchors": load_certificates([VECTORS / "signing" / "ca.pem"]),
        "revocation": RevocationSources(crl_files=[VECTORS / "signing" / "crl.der"]),
        "now": datetime.fromisoformat(EXPECTED["verify_at"]),
        "require_municipal_seal": EXPECTED["require_municipal_seal"],
    }
    fields.update(changes)
    return VerificationPolicy(**fields)


def verify(document: Path, bundle: bytes | ProofBundle, **changes: Any) -> Any:
    return Verifier(policy(**changes), chain_reader=RecordedChain.load()).verify(
        document.read_bytes(), bundle
    )


def revoked_bundle() -> ProofBundle:
    return load_bundle((VECTORS / "bundles" / "revoked.json").read_bytes())


def stripped_bundle() -> ProofBundle:
    """revoked.json with its revocation section deleted, as a dishonest holder would."""
    return msgspec.structs.replace(revoked_bundle(), revocation=None)


def income_revocation() -> RevocationSection:
    section = revoked_bundle().revocation
    assert section is not None
    return section


# ------------------------------------------------------------ finding 3: the library


def test_library_default_never_says_valid_without_a_revocation_check() -> None:
    assert VerificationPolicy([], CHAIN["registry"], 1).require_revocation_check
    verdict = verify(RESIDENT, (VECTORS / "bundles" / "valid-cms.json").read_bytes())
    assert verdict.status is VerdictStatus.UNKNOWN, verdict.summary
    assert verdict.failed_check == DOCUMENT_REVOCATION
    assert "revocation not checked" in (verdict.reason or "")
    assert "--node-url" in (verdict.reason or "")


def test_stripped_revocation_section_no_longer_verifies_as_valid() -> None:
    verdict = verify(INCOME, stripped_bundle())
    assert verdict.status is VerdictStatus.UNKNOWN and not verdict.ok
    with recorded_node([income_revocation()]) as node:
        asked = verify(INCOME, stripped_bundle(), node_url=node.url)
    assert asked.status is VerdictStatus.REVOKED, asked.summary


def test_explicit_opt_out_is_valid_and_says_revocation_was_not_checked() -> None:
    verdict = verify(INCOME, stripped_bundle(), require_revocation_check=False)
    assert verdict.ok
    check = verdict.check(DOCUMENT_REVOCATION)
    assert check is not None and check.outcome is Outcome.SKIPPED
    assert "not checked" in check.detail
    assert "not checked: document_revocation" in verdict.summary


# ------------------------------------------------------------ finding 3: notary verify


@pytest.fixture
def recorded_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """`notary verify` with the vectors' chain facts instead of a JSON-RPC endpoint."""

    def run(document: Any, bundle: Any, p: VerificationPolicy, **options: Any) -> Any:
        return Verifier(p, chain_reader=RecordedChain.load()).verify(document, bundle, **options)

    monkeypatch.setattr(verifier.cli, "run_verification", run)


def notary_verify(tmp_path: Path, document: Path, bundle: ProofBundle, *extra: str) -> Any:
    path = tmp_path / "bundle.json"
    path.write_text(dump_bundle(bundle), encoding="utf-8")
    args = [str(document), "--bundle", str(path), "--chain-id", str(CHAIN["chain_id"])]
    args += ["--registry", CHAIN["registry"], "--trust", str(VECTORS / "signing" / "ca.pem")]
    args += ["--accept-unsealed"]  # pre-seal vectors (expected.json)
    args += ["--crl", str(VECTORS / "signing" / "crl.der"), *extra]
    env = {"NOTARY_RPC_URL": None, "NOTARY_NODE_URL": None}
    return CliRunner().invoke(verifier.cli.verify, args, env=env)


@pytest.mark.usefixtures("recorded_cli")
def test_cli_without_node_url_exits_3_and_says_why(tmp_path: Path) -> None:
    done = notary_verify(tmp_path, INCOME, stripped_bundle())
    assert done.exit_code == 3, done.stdout + done.stderr
    assert done.stdout.startswith("UNKNOWN: document_revocation: revocation not checked")
    assert "no --node-url given" in done.stderr and "--no-revocation-check" in done.stderr


@pytest.mark.usefixtures("recorded_cli")
def test_cli_opt_out_is_valid_but_says_so(tmp_path: Path) -> None:
    done = notary_verify(tmp_path, INCOME, stripped_bundle(), "--no-revocation-check")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID: ") and "not checked: document_revocation" in done.stdout
    assert "revocation not checked (--no-revocation-check)" in done.stderr
    as_json = notary_verify(tmp_path, INCOME, stripped_bundle(), "--no-revocation-check", "--json")
    report = json.loads(as_json.stdout)
    assert report["exit_code"] == 0
    assert any("revocation not checked" in w for w in report["warnings"])


@pytest.mark.usefixtures("recorded_cli")
def test_cli_with_node_url_finds_the_stripped_revocation(tmp_path: Path) -> None:
    with recorded_node([income_revocation()]) as node:
        done = notary_verify(tmp_path, INCOME, stripped_bundle(), "--node-url", node.url)
        valid = notary_verify(
            tmp_path,
            RESIDENT,
            load_bundle((VECTORS / "bundles" / "valid-cms.json").read_bytes()),
            "--node-url",
            node.url,
        )
    assert done.exit_code == 1 and done.stdout.startswith("REVOKED: document_revocation")
    assert valid.exit_code == 0 and valid.stdout.startswith("VALID: "), valid.stdout
    assert "revocation" not in valid.stderr


# ------------------------------------------------------------ the page (chromium)


@pytest.fixture(scope="module")
def rpc_url() -> Iterator[str]:
    with recorded_chain(CHAIN) as url:
        yield url


def page_with(browser: Any, tmp_path: Path, rpc: str, node_url: str | None, query: str = "") -> Any:
    config = PageConfig(
        rpc_urls=[rpc],
        chain_id=CHAIN["chain_id"],
        registry=CHAIN["registry"],
        node_url=node_url,
        trust_anchors=[der_certificate(VECTORS / "signing" / "ca.pem")],
        crls=[(VECTORS / "signing" / "crl.der").read_bytes()],
        require_municipal_seal=EXPECTED["require_municipal_seal"],  # pre-seal vectors
    )
    static = tmp_path / "verify.html"
    static.write_text(render_page(config), encoding="utf-8")
    page = browser.new_page()
    page.goto(static.as_uri() + (f"?{query}" if query else ""))
    page.wait_for_selector("body[data-ready=true]")
    return page


def stripped_file(tmp_path: Path) -> Path:
    path = tmp_path / "stripped.json"
    path.write_text(dump_bundle(stripped_bundle()), encoding="utf-8")
    return path


def test_page_without_a_node_is_not_green(browser: Any, rpc_url: str, tmp_path: Path) -> None:
    page = page_with(browser, tmp_path, rpc_url, None)
    assert "no node_url is configured" in page.inner_text("#config-notice")
    result = verify_in_page(page, INCOME, stripped_file(tmp_path))
    assert (result["verdict"], result["failed_check"]) == ("unknown", "document_revocation")
    assert "revoked document could not be told apart" in str(result["reason"])
    assert checks_of(page)[DOCUMENT_REVOCATION] == "unknown"
    page.close()


def test_page_ignores_a_node_url_in_the_link(browser: Any, rpc_url: str, tmp_path: Path) -> None:
    with recorded_node([income_revocation()]) as honest, recorded_node() as forger:
        query = urlencode({"node": forger.url, "node_url": forger.url, "rpc": "http://x"})
        page = page_with(browser, tmp_path, rpc_url, honest.url, query)
        assert "were ignored" in page.inner_text("#config-notice")
        assert forger.url not in page.inner_text("#settings")
        result = verify_in_page(page, INCOME, stripped_file(tmp_path))
        page.close()
    assert result["verdict"] == "revoked", result
    assert forger.requests == [] and honest.requests


def test_shipped_template_takes_no_settings_from_the_link(
    browser: Any, rpc_url: str, tmp_path: Path
) -> None:
    block = re.search(
        r'<script type="application/json" id="notary-config">(.*?)</script>',
        page_template(),
        re.S,
    )
    assert block is not None and not json.loads(block.group(1)).get("allow_url_settings")
    with pytest.raises(TypeError):
        PageConfig(allow_url_settings=True)  # type: ignore[call-arg]
    template = tmp_path / "template.html"
    template.write_text(page_template(), encoding="utf-8")
    with recorded_node() as forger:
        query = urlencode(
            {
                "rpc": rpc_url,
                "chain_id": CHAIN["chain_id"],
                "registry": CHAIN["registry"],
                "node": forger.url,
            }
        )
        page = browser.new_page()
        page.goto(template.as_uri() + "?" + query)
        page.wait_for_selector("body[data-ready=true]")
        result = verify_in_page(page, INCOME, stripped_file(tmp_path))
        page.close()
    assert result["verdict"] == "unknown" and forger.requests == []


def _bucket_for(bundle: ProofBundle) -> tuple[str, str]:
    prefix = bundle.leaf.leaf_hash.hex()[:2]
    return prefix, f"/v1/revocations/{prefix}"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("wrong-prefix", "prefix: must be the prefix asked for"),
        ("outside", "revokes a leaf outside prefix"),
        ("extra", "extra: unknown field in a revocation list"),
    ],
)
def test_page_is_as_strict_as_the_python_client(
    browser: Any, rpc_url: str, tmp_path: Path, answer: str, message: str
) -> None:
    resident = load_bundle((VECTORS / "bundles" / "valid-cms.json").read_bytes())
    prefix, path = _bucket_for(resident)
    payload: dict[str, Any] = revocation_bucket_json(prefix, [])
    if answer == "wrong-prefix":
        payload["prefix"] = "00"
    elif answer == "outside":
        payload = revocation_bucket_json(prefix, [income_revocation()])  # a 9c… leaf
    else:
        payload["extra"] = 1
    with recorded_node() as node:
        node.serve(path, payload)
        page = page_with(browser, tmp_path, rpc_url, node.url)
        verify_in_page(page, RESIDENT, VECTORS / "bundles" / "valid-cms.json")
        verdict = page.get_attribute("#verdict", "data-verdict")
        detail = page.inner_text(f'#checks li[data-check="{DOCUMENT_REVOCATION}"] .detail')
        page.close()
    assert verdict == "unknown" and message in detail, detail
    assert node.requests == [path]


def test_page_finds_a_revocation_in_its_bucket(browser: Any, rpc_url: str, tmp_path: Path) -> None:
    with recorded_node([income_revocation()]) as node:
        page = page_with(browser, tmp_path, rpc_url, node.url)
        result = verify_in_page(page, INCOME, stripped_file(tmp_path))
        resident = verify_in_page(page, RESIDENT, VECTORS / "bundles" / "valid-cms.json")
        page.close()
    assert (result["verdict"], result["failed_check"]) == ("revoked", "document_revocation")
    assert resident["verdict"] == "valid"
    income_leaf = stripped_bundle().leaf.leaf_hash.hex()
    assert node.requests[0] == f"/v1/revocations/{income_leaf[:2]}"
    assert not any(income_leaf in r for r in node.requests)
