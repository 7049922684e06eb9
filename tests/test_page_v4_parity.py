"""The page and the Python verifier on the version-4 vectors (tests/vectors/v4): for every
bundle and every requester disclosure of v4/expected.json, the page's verify() in Node
(tests/js/v4_parity.mjs) and `verifier.Verifier` give the same verdict, the same deciding check
and, check by check, the same outcome and the same detail sentence (issuer_policy's and
requester_disclosure's reasons included); the same signer kind, seal identity and requester."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from protocol.requester import load_disclosure
from tests.node_harness import REPO
from tests.vectors.make_vectors import RecordedChain
from verifier import VerificationPolicy, Verifier
from verifier.jpki import RevocationSources, load_certificates

VECTORS = REPO / "tests" / "vectors"
EXPECTED = json.loads((VECTORS / "v4" / "expected.json").read_text(encoding="utf-8"))


def _cases() -> list[dict[str, str]]:
    cases = [
        {"name": name, "bundle": name, "document": case["document"]}
        for name, case in EXPECTED["bundles"].items()
    ]
    cases += [
        {"name": f"disclosure {name}", "bundle": case["bundle"], "document": case["document"],
         "disclosure": case["disclosure"]}
        for name, case in EXPECTED["requester_disclosures"].items()
    ]  # fmt: skip
    return cases


def _python(case: dict[str, str]) -> dict[str, Any]:
    policy = EXPECTED["policy"]
    chain = json.loads((VECTORS / policy["chain"]).read_text(encoding="utf-8"))
    verifier = Verifier(
        VerificationPolicy(
            rpc_urls=[],
            registry=chain["registry"],
            chain_id=chain["chain_id"],
            trust_anchors=load_certificates([VECTORS / n for n in policy["trust_anchors"]]),
            seal_trust_anchors=load_certificates(
                [VECTORS / n for n in policy["seal_trust_anchors"]]
            ),
            revocation=RevocationSources(crl_files=[VECTORS / n for n in policy["crls"]]),
            now=datetime.fromisoformat(EXPECTED["verify_at"]),
            require_revocation_check=EXPECTED["require_revocation_check"],
            require_municipal_seal=EXPECTED["require_municipal_seal"],
        ),
        chain_reader=RecordedChain(chain),
    )
    disclosure = case.get("disclosure")
    verdict = verifier.verify(
        (VECTORS / case["document"]).read_bytes(),
        (VECTORS / case["bundle"]).read_bytes(),
        requester_disclosure=(
            load_disclosure((VECTORS / disclosure).read_bytes()) if disclosure else None
        ),
    )
    signer = verdict.facts.signer
    return {
        "name": case["name"],
        "status": verdict.status.value,
        "failed_check": verdict.failed_check,
        "checks": [
            {"name": c.name, "outcome": c.outcome.value, "detail": c.detail} for c in verdict.checks
        ],
        "signer_kind": signer["signer_kind"] if signer else None,
        "seal": signer.get("seal") if signer else None,
        "requester": verdict.facts.requester,
    }


# finality names where its depth came from: the page asks the stand-in's clique_getSigners, the
# Python test's recorded chain names chain.json. Every other check must read the same.
CHAIN_WORDED: set[str] = {"finality"}


def test_page_and_python_agree_check_by_check_on_the_v4_vectors(tmp_path: Path) -> None:
    cases = _cases()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    done = subprocess.run(
        [node, "tests/js/v4_parity.mjs", str(tmp_path / "cases.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = {r["name"]: r for r in json.loads(done.stdout)}
    assert set(page) == {c["name"] for c in cases}
    for case in cases:
        python, ours = _python(case), page[case["name"]]
        name = case["name"]
        assert (ours["status"], ours["failed_check"]) == (
            python["status"],
            python["failed_check"],
        ), name
        assert [c["name"] for c in ours["checks"]] == [c["name"] for c in python["checks"]]
        for mine, theirs in zip(ours["checks"], python["checks"], strict=True):
            assert mine["outcome"] == theirs["outcome"], (name, mine, theirs)
            if mine["name"] not in CHAIN_WORDED:
                assert mine["detail"] == theirs["detail"], (name, mine["name"])
        assert ours["signer_kind"] == python["signer_kind"], name
        assert ours["seal"] == python["seal"], name
        assert ours["requester"] == python["requester"], name


def _config_block(html: str) -> dict[str, Any]:
    start = html.index('<script type="application/json" id="notary-config">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return dict(json.loads(body))


def test_python_m_verifier_web_writes_the_seal_trust_anchors_and_the_seal_rule(
    tmp_path: Path,
) -> None:
    """`--seal-trust` fills `seal_trust_anchors` (the Python verifier's name, not a page-only
    one); `--accept-unsealed` turns require_municipal_seal off, which is on by default."""
    from click.testing import CliRunner

    from verifier.web.__main__ import main

    seal_ca = VECTORS / EXPECTED["policy"]["seal_trust_anchors"][0]
    runner = CliRunner()
    sealed, unsealed = tmp_path / "sealed.html", tmp_path / "unsealed.html"
    done = runner.invoke(main, ["--seal-trust", str(seal_ca), "-o", str(sealed)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["--accept-unsealed", "-o", str(unsealed)])
    assert done.exit_code == 0, done.output
    config = _config_block(sealed.read_text(encoding="utf-8"))
    assert "lgpki_anchors" not in config
    (anchor,) = load_certificates([seal_ca])
    assert [base64.b64decode(a) for a in config["seal_trust_anchors"]] == [anchor.der]
    assert config["require_municipal_seal"] is True
    other = _config_block(unsealed.read_text(encoding="utf-8"))
    assert other["seal_trust_anchors"] == [] and other["require_municipal_seal"] is False
