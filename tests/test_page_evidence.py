"""The page's offline verification agrees with the Python verifier on altered chain evidence.

Beyond the version-3 vectors (tests/js/evidence.test.mjs), every byte-level alteration below of
the valid v3 bundle's evidence (each header, the receipt and transaction and their proof nodes,
the account proof, every storage slot's proof and value) and a few structural ones (a header
dropped, the state block moved, the receipt index changed, a slot left out) is verified offline
by `verifier.Verifier` and by the page's `verify()` in Node (tests/js/offline_parity.mjs): the
verdict and the deciding check must be the same, and an altered piece must never pass.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from protocol.signed_head import head_timestamp_digest
from protocol.trust_root import load_trust_root
from tests.node_harness import REPO
from tests.vectors.make_vectors import TSA
from verifier import VerificationPolicy, Verifier
from verifier.jpki import RevocationSources

VECTORS = REPO / "tests" / "vectors"
V3 = VECTORS / "v3"
VALID: dict[str, Any] = json.loads((V3 / "bundles" / "valid.json").read_text(encoding="utf-8"))
DOCUMENT = (VECTORS / "documents" / "resident-record.txt").read_bytes()


def _flip(blob: str, position: int) -> str:
    data = bytearray.fromhex(blob[2:])
    data[position % len(data)] ^= 0x01
    return "0x" + data.hex()


def _mutations() -> dict[str, Callable[[dict[str, Any]], None]]:
    """name → an edit of the bundle (in place)."""
    found: dict[str, Callable[[dict[str, Any]], None]] = {}
    evidence = VALID["evidence"]

    def blob_at(path: tuple[str | int, ...]) -> str:
        node: Any = evidence
        for key in path:
            node = node[key]
        assert isinstance(node, str)
        return node

    paths: list[tuple[str | int, ...]] = [("headers", i) for i in range(len(evidence["headers"]))]
    paths += [("receipt", "value"), ("transaction", "value")]
    paths += [("receipt", "proof", i) for i in range(len(evidence["receipt"]["proof"]))]
    paths += [("transaction", "proof", i) for i in range(len(evidence["transaction"]["proof"]))]
    state = evidence["state"]
    paths += [("state", "account_proof", i) for i in range(len(state["account_proof"]))]
    for k, slot in enumerate(state["slots"]):
        paths.append(("state", "slots", k, "value"))
        paths += [("state", "slots", k, "proof", i) for i in range(len(slot["proof"]))]
    for path in paths:
        size = (len(blob_at(path)) - 2) // 2
        for position in sorted({0, 1, 2, size // 3, size // 2, size - 40, size - 3, size - 1}):
            if not 0 <= position < size:
                continue

            def edit(bundle: dict[str, Any], path: tuple[str | int, ...] = path,
                     position: int = position) -> None:  # fmt: skip
                node: Any = bundle["evidence"]
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = _flip(node[path[-1]], position)

            found["evidence." + ".".join(map(str, path)) + f"@{position}"] = edit

    def drop_last_header(b: dict[str, Any]) -> None:
        b["evidence"]["headers"].pop()

    def swap_headers(b: dict[str, Any]) -> None:
        h = b["evidence"]["headers"]
        h[1], h[2] = h[2], h[1]

    def state_at_anchor(b: dict[str, Any]) -> None:
        b["evidence"]["state"]["block_number"] = VALID["anchor"]["block_number"]

    def state_elsewhere(b: dict[str, Any]) -> None:
        b["evidence"]["state"]["block_number"] = 99

    def receipt_index(b: dict[str, Any]) -> None:
        b["evidence"]["receipt"]["index"] = 1

    found.update({
        "drop the last header": drop_last_header,
        "swap headers 1 and 2": swap_headers,
        "state at the anchor block": state_at_anchor,
        "state at a block not carried": state_elsewhere,
        "receipt index 1": receipt_index,
    })  # fmt: skip
    for k in range(len(state["slots"])):

        def drop_slot(b: dict[str, Any], k: int = k) -> None:
            del b["evidence"]["state"]["slots"][k]

        found[f"leave out slot {k}"] = drop_slot
    return found


def _policy(*, crls: bool = True) -> VerificationPolicy:
    expected = json.loads((V3 / "expected.json").read_text(encoding="utf-8"))
    return VerificationPolicy.for_trust_root(
        load_trust_root((V3 / "trust-root.json").read_bytes()),
        offline=True,
        revocation=RevocationSources(crl_files=[VECTORS / "signing" / "crl.der"] if crls else []),
        now=datetime.fromisoformat(expected["verify_at"]),
        require_municipal_seal=False,
    )


def test_page_and_python_agree_on_altered_evidence(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    assert (REPO / "node_modules" / "@noble" / "curves").is_dir(), "run `npm ci` first"
    verifier = Verifier(_policy())
    cases, python = [], {}
    for index, (name, edit) in enumerate(_mutations().items()):
        bundle = json.loads(json.dumps(VALID))
        edit(bundle)
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        verdict = verifier.verify(DOCUMENT, path.read_bytes())
        python[name] = (verdict.status.value, verdict.failed_check)
        cases.append({"name": name, "path": str(path)})
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    done = subprocess.run(
        [node, "tests/js/offline_parity.mjs", str(tmp_path / "cases.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    page = {r["name"]: (r["status"], r["failed_check"]) for r in json.loads(done.stdout)}
    assert len(page) == len(python) >= 100, len(python)
    differ = {name: (python[name], page[name]) for name in python if python[name] != page[name]}
    assert not differ, differ
    # Every alteration is caught (by both), except the state read at the anchor block, which
    # still proves the records: the synthetic chain's state root is the same in every block.
    accepted = [name for name, (status, _) in python.items() if status != "invalid"]
    assert accepted == ["state at the anchor block"], accepted


def _signer_revocation_cases() -> dict[str, dict[str, Any]]:
    """name → a bundle: the v3 vectors with `evidence.signer_revocation`, and further edits of
    its CRL (bytes flipped across it, the CRL also given as an OCSP response, left out)."""
    carrying: dict[str, Any] = json.loads(
        (V3 / "bundles" / "signer-revocation.json").read_text(encoding="utf-8")
    )
    found: dict[str, dict[str, Any]] = {}
    expected = json.loads((V3 / "expected.json").read_text(encoding="utf-8"))
    for name in expected["without_own_crls"]["bundles"]:
        found[name] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    crl = base64.b64decode(carrying["evidence"]["signer_revocation"]["crls"][0])
    for position in (0, 5, 40, len(crl) // 2, len(crl) - 300, len(crl) - 1):
        altered = bytearray(crl)
        altered[position] ^= 0x01
        bundle = json.loads(json.dumps(carrying))
        bundle["evidence"]["signer_revocation"]["crls"] = [base64.b64encode(altered).decode()]
        found[f"crl@{position}"] = bundle
    both = json.loads(json.dumps(carrying))
    both["evidence"]["signer_revocation"]["ocsp_responses"] = [base64.b64encode(crl).decode()]
    found["crl and a CRL as OCSP"] = both
    none = json.loads(json.dumps(carrying))
    del none["evidence"]["signer_revocation"]
    found["no signer_revocation"] = none
    return found


def test_page_and_python_agree_on_signer_revocation_evidence(tmp_path: Path) -> None:
    # PROTOCOL 10.3 on the same bytes: with no CRL of their own (the bundle's evidence decides)
    # and with the vectors' CRL (their own source decides), the page and the Python verifier
    # give the same verdict and the same signer_certificate outcome, detail and as_of.
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    cases = []
    for index, (name, bundle) in enumerate(_signer_revocation_cases().items()):
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        cases.append({"name": name, "path": str(path)})
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    for own_crls in (False, True):
        verifier = Verifier(_policy(crls=own_crls))
        python = {}
        for c in cases:
            verdict = verifier.verify(DOCUMENT, Path(c["path"]).read_bytes())
            signer = verdict.check("signer_certificate")
            assert signer is not None
            python[c["name"]] = (
                verdict.status.value,
                verdict.failed_check,
                {"outcome": signer.outcome.value, "detail": signer.detail, "as_of": signer.as_of},
            )
        done = subprocess.run(
            [node, "tests/js/offline_parity.mjs", str(tmp_path / "cases.json")]
            + ([] if own_crls else ["--no-crls"]),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        page = {
            r["name"]: (r["status"], r["failed_check"], r["signer"])
            for r in json.loads(done.stdout)
        }
        assert page == python, {n: (python[n], page[n]) for n in python if python[n] != page[n]}
        statuses = {name: status for name, (status, _, _) in python.items()}
        assert statuses["v3/bundles/signer-revocation.json"] == "valid_as_of"
        assert statuses["no signer_revocation"] == ("valid_as_of" if own_crls else "unknown")


def _timestamp_cases() -> dict[str, dict[str, Any]]:
    """name → a bundle: the v3 vectors with `evidence.timestamp` (a valid token, one over
    another head, one with its signature altered, one by an untrusted TSA, one by a certificate
    without the timeStamping purpose), tokens stamped when the TSA certificate had expired or
    was not yet valid, and the valid token with a byte flipped at positions across it."""
    expected = json.loads((V3 / "expected.json").read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = {
        name: json.loads((VECTORS / name).read_text(encoding="utf-8"))
        for name in expected["bundles"]
        if "timestamp" in name
    }
    assert len(found) == 5, sorted(found)
    stamped = found["v3/bundles/timestamped.json"]
    head, anchor = stamped["head"], stamped["anchor"]
    digest = head_timestamp_digest(
        chain_id=anchor["chain_id"],
        registry=anchor["registry"],
        node=anchor["node"],
        seq=head["seq"],
        tree_size=head["tree_size"],
        root=bytes.fromhex(head["root"]),
    )

    def carrying(token: bytes) -> dict[str, Any]:
        bundle = json.loads(json.dumps(stamped))
        bundle["evidence"]["timestamp"] = base64.b64encode(token).decode()
        return bundle

    found["stamped after the TSA certificate expired"] = carrying(
        TSA.token(digest, datetime(2035, 6, 1, tzinfo=UTC), 9)
    )
    found["stamped before the TSA certificate was valid"] = carrying(
        TSA.token(digest, datetime(2024, 6, 1, tzinfo=UTC), 10)
    )
    token = base64.b64decode(stamped["evidence"]["timestamp"])
    for position in range(0, len(token), 23):
        altered = bytearray(token)
        altered[position] ^= 0x01
        found[f"token@{position}"] = carrying(bytes(altered))
    return found


# What the Python reference's parser (rfc3161-client, asn1crypto) says of a token that is not DER
# is its own text, and the page's stricter DER reader refuses a few tokens OpenSSL reads (and
# then refuses too); each says it in its own words. Everything else must read the same.
_UNREADABLE = ("not a DER RFC 3161 TimeStampToken", "cannot be read", "cannot be found")


def test_page_and_python_agree_on_timestamp_tokens(tmp_path: Path) -> None:
    # verifier/timestamp.py and the page's timestamp.js on the same tokens: the same verdict,
    # deciding check and anchor_time outcome, the same anchor_time detail (genTime and the
    # TSA when valid, the refusal when not) but for tokens neither can read, and the same
    # timestamped_at fact.
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    verifier = Verifier(_policy())
    cases, python = [], {}
    for index, (name, bundle) in enumerate(_timestamp_cases().items()):
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        cases.append({"name": name, "path": str(path)})
        verdict = verifier.verify(DOCUMENT, path.read_bytes())
        check = verdict.check("anchor_time")
        assert check is not None
        stamped = verdict.facts.timestamped_at
        python[name] = (
            verdict.status.value,
            verdict.failed_check,
            check.outcome.value,
            check.detail,
            None if stamped is None else int(stamped.timestamp()),
        )
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    done = subprocess.run(
        [node, "tests/js/offline_parity.mjs", str(tmp_path / "cases.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    page = {
        r["name"]: (
            r["status"],
            r["failed_check"],
            r["anchor_time"]["outcome"],
            r["anchor_time"]["detail"],
            r["timestamped_at"],
        )
        for r in json.loads(done.stdout)
    }
    assert page.keys() == python.keys()
    differ = {}
    for name, theirs in python.items():
        ours = page[name]
        unreadable = any(text in detail for text in _UNREADABLE for detail in (theirs[3], ours[3]))
        if (ours[:3], ours[4]) != (theirs[:3], theirs[4]) or (
            not unreadable and ours[3] != theirs[3]
        ):
            differ[name] = (theirs, ours)
    assert not differ, differ
    statuses = {name: status for name, (status, *_) in python.items()}
    assert statuses["v3/bundles/timestamped.json"] == "valid_as_of"
    assert python["v3/bundles/timestamped.json"][3].endswith(
        "timestamped at 2026-01-15T09:01:30Z by CN=Notary TEST TSA,O=municipal-notary TEST,C=JP "
        "(RFC 3161, a TSA of the trust root)"
    )
    refused = [name for name, status in statuses.items() if status != "invalid"]
    # A flipped byte outside what the TSA signs (the certificate set's own signature is
    # checked; the SignedData's digestAlgorithms list is not) may leave the token valid.
    assert "v3/bundles/timestamped.json" in refused
    assert not [n for n in refused if n.startswith("v3/bundles/invalid/")], refused
    details = {name: detail for name, (_, _, _, detail, _) in python.items()}
    assert "certificate has expired" in details["stamped after the TSA certificate expired"]
    assert "not yet valid" in details["stamped before the TSA certificate was valid"]
