"""Issue 15 item 3, "One file": the sealed PDF (docs/PROTOCOL.md, "The sealed PDF").

A real node on a one-validator devnet logs the seal's entries: `notary seal` seals, waits until
the bundle is final and appends it; `notary verify CERT.pdf` checks the one file. Then the ways a
sealed PDF can be wrong: a byte changed in the signed part, another document's bundle, a
modification after the bundle, not a PDF at all; and the node's own sealing endpoint.
The seal is Chiyoda-ku's LGPKI-TEST seal (`devtools.testca`, organizationIdentifier
LGCJP-131016) on a node of Chiyoda-ku (the harness's lg_code), verified against the seal trust
anchors (`--seal-trust`); another municipality's seal is refused by the node's issuance policy.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from devnet.network import NetworkProcesses, init_network
from devtools.demo_pdf import demo_pdf
from devtools.testca import CHIYODA_MAYOR, Issued, TestHierarchy
from node.pdf_bundle import _append
from node.sealing import SealIdentity, seal_pdf
from tests.node_harness import LG_CODE, REPO, NodeProcess, http, provision_node
from verifier.pdf import read_sealed_pdf, read_signed_pdf

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain
VERIFY_URL = "https://notary.example.lg.jp/verify"
MAX_PDF = 64 * 1024


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    """A node with a seal configured (key 0600), on its own devnet."""
    root = tmp_path_factory.mktemp("sealed-pdf")
    seal = jpki_hierarchy.seal
    assert CHIYODA_MAYOR.lg_code == LG_CODE  # the node's code is the seal's
    key = root / "seal-key.pem"
    shutil.copyfile(seal.key, key)
    key.chmod(0o600)
    layout = init_network(root / "chain", validators=1)
    chain = NetworkProcesses(layout)
    chain.start_all()
    process = provision_node(layout.nodes[0].rpc_url, layout.dev_account(), root, jpki_hierarchy)
    process.env.update(
        {
            "NOTARY_SEAL_KEY_FILE": str(key),
            "NOTARY_SEAL_CERT_FILE": str(seal.cert),
            "NOTARY_SEAL_CHAIN_FILES": f'["{jpki_hierarchy.lgpki_ca.cert}"]',
            "NOTARY_SEAL_LABEL": "Chiyoda-ku (test)",
            "NOTARY_SEAL_VERIFY_URL": VERIFY_URL,
            "NOTARY_MAX_PDF_BYTES": str(MAX_PDF),
        }
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()
        chain.stop_all()


@pytest.fixture(scope="module")
def token(node: NodeProcess) -> str:
    return node.token("issuing-system", "submit", "read")


def notary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def seal_args(
    node: NodeProcess, token: str, document: Path, *extra: str, seal: Issued | None = None
) -> list[str]:
    seal = seal or node.hierarchy.seal
    return [
        "seal",
        str(document),
        "--node-url",
        node.url,
        "--token",
        token,
        "--seal-key",
        str(seal.key),
        "--seal-cert",
        str(seal.cert),
        "--seal-chain",
        str(node.hierarchy.lgpki_ca.cert),
        "--verify-url",
        VERIFY_URL,
        *extra,
    ]


def verify_pdf(node: NodeProcess, document: Path) -> subprocess.CompletedProcess[str]:
    return notary(
        "verify",
        str(document),
        "--rpc",
        node.rpc_url,
        "--registry",
        node.registry,
        "--chain-id",
        str(node.chain_id),
        "--trust",
        str(node.data_dir / "trust"),
        "--seal-trust",
        str(node.data_dir / "seal-trust"),
        *[
            a
            for p in (*node.hierarchy.crl_files, *node.hierarchy.seal_crl_files)
            for a in ("--crl", str(p))
        ],
        "--node-url",
        node.url,
    )


@pytest.fixture(scope="module")
def sealed(
    node: NodeProcess, token: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Two documents sealed through `notary seal`: one waiting, one with --no-wait and --finish
    (its signed revision kept, to compare byte for byte)."""
    folder = tmp_path_factory.mktemp("sealed-docs")
    first, second = folder / "first.pdf", folder / "second.pdf"
    first.write_bytes(demo_pdf(["Copy of the resident record - first", "TEST RESIDENT ONE"]))
    second.write_bytes(demo_pdf(["Copy of the resident record - second", "TEST RESIDENT TWO"]))
    done = notary(*seal_args(node, token, second, "--no-wait", "--out", str(folder / "B.pdf")))
    assert done.returncode == 0, done.stderr
    signed_copy = folder / "B.signed.copy.pdf"
    shutil.copyfile(folder / "B.signed.pdf", signed_copy)
    done = notary(
        *seal_args(node, token, first, "--out", str(folder / "A.pdf"), "--timeout", "120")
    )
    assert done.returncode == 0, done.stderr
    assert "final" in done.stderr
    done = notary("seal", "--finish", str(folder / "B.receipt.json"), "--token", token)
    assert done.returncode == 0, done.stderr
    assert not (folder / "B.receipt.json").exists()  # finished: only the one file is left
    return {"A": folder / "A.pdf", "B": folder / "B.pdf", "B_signed": signed_copy}


def test_sealed_pdf_verifies_alone(node: NodeProcess, sealed: dict[str, Path]) -> None:
    for name in ("A", "B"):
        done = verify_pdf(node, sealed[name])
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("VALID: "), done.stdout
    # The signed revision is byte for byte what was sealed; the bundle only follows it.
    signed = sealed["B_signed"].read_bytes()
    final = sealed["B"].read_bytes()
    assert final.startswith(signed) and len(final) > len(signed)
    assert read_sealed_pdf(final).signed.signed_length == len(signed)


def test_a_byte_changed_in_the_signed_part_is_invalid(
    node: NodeProcess, sealed: dict[str, Path], tmp_path: Path
) -> None:
    data = sealed["A"].read_bytes()
    at = data.index(b"TEST RESIDENT ONE")
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(data[:at] + b"X" + data[at + 1 :])
    done = verify_pdf(node, forged)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("INVALID: bundle_format: sealed PDF: the signed part")


def test_another_documents_bundle_is_invalid(
    node: NodeProcess, sealed: dict[str, Path], tmp_path: Path
) -> None:
    bundle_of_a = read_sealed_pdf(sealed["A"].read_bytes()).bundle_json
    swapped = tmp_path / "swapped.pdf"
    swapped.write_bytes(_append(sealed["B_signed"].read_bytes(), bundle_of_a))
    done = verify_pdf(node, swapped)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "belongs to another document" in done.stdout.splitlines()[0]


def test_modifications_after_the_seal_are_invalid(
    node: NodeProcess, sealed: dict[str, Path], tmp_path: Path
) -> None:
    final = sealed["B"].read_bytes()
    # A third revision (here: the page rotated) after the bundle's.
    writer = IncrementalPdfFileWriter(io.BytesIO(final), strict=True)
    page = writer.root["/Pages"]["/Kids"][0]
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    later = io.BytesIO()
    writer.write(later)
    # The bundle's own revision also changing the page.
    signed = sealed["B_signed"].read_bytes()
    bundle = read_sealed_pdf(final).bundle_json
    sneaky = _sneaky_append(signed, bundle)
    for name, data, reason in (
        ("later.pdf", later.getvalue(), "modified after its proof bundle"),
        ("sneaky.pdf", sneaky, "changes 1 object(s) of the sealed PDF"),
        ("garbage.pdf", final + b"\n% appended\n", "after its last %%EOF"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        done = verify_pdf(node, path)
        assert done.returncode == 1, name + done.stdout + done.stderr
        assert reason in done.stdout.splitlines()[0], (name, done.stdout)


def _sneaky_append(signed: bytes, bundle: bytes) -> bytes:
    """The bundle's revision, plus a rotated page in the same update."""
    appended = _append(signed, bundle)
    # Rebuild the same revision with the page change folded in.
    from node import pdf_bundle

    class Sneaky(pdf_bundle._BundleOnlyWriter):
        def write(self, stream: object) -> None:
            page = self.root["/Pages"]["/Kids"][0]
            page["/Rotate"] = generic.NumberObject(90)
            self.update_container(page)
            super().write(stream)

    original = pdf_bundle._BundleOnlyWriter
    pdf_bundle._BundleOnlyWriter = Sneaky  # type: ignore[misc]
    try:
        sneaky = pdf_bundle._append(signed, bundle)
    finally:
        pdf_bundle._BundleOnlyWriter = original  # type: ignore[misc]
    assert sneaky != appended
    return sneaky


def test_malformed_files_are_one_line_errors(sealed: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "letter.pdf"
    text.write_text("not a pdf at all\n")
    truncated = tmp_path / "truncated.pdf"
    data = sealed["A"].read_bytes()
    truncated.write_bytes(data[:200] + b"\n%%EOF\n")
    signed_only = sealed["B_signed"]
    for path, code, words in (
        (text, 2, "is not a PDF"),
        (truncated, 2, "not a readable PDF"),
    ):
        done = notary("verify", str(path))
        assert done.returncode == code, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in done.stderr, lines
    done = notary("verify", str(signed_only), "--no-revocation-check")
    assert done.returncode == 1
    assert "no proof bundle" in done.stdout.splitlines()[0]
    done = notary("seal", str(text), "--node-url", "http://127.0.0.1:9", "--token", "t",
                  "--seal-key", str(text), "--seal-cert", str(text))  # fmt: skip
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_node_seals_logs_and_serves_the_final_pdf(
    node: NodeProcess, token: str, tmp_path: Path
) -> None:
    url = node.url + "/v1/sealed-pdfs"
    document = demo_pdf(["Income certificate - node endpoint", "TEST RESIDENT THREE"])
    answer = http("POST", url + "?document_type=4", token=token, raw=document)
    assert answer.status == 201, answer.body
    receipt_id = answer.body["receipt_id"]
    headers = {k.lower(): v for k, v in answer.headers.items()}
    assert headers["location"] == f"/v1/sealed-pdfs/{receipt_id}"
    pending = http("GET", f"{url}/{receipt_id}", token=token)
    if pending.status == 409:  # usually: the head is not final this fast
        assert pending.body["type"].endswith("/not-final")
        assert {k.lower() for k in pending.headers} >= {"retry-after"}
    node.wait_final()
    request = urllib.request.Request(
        f"{url}/{receipt_id}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        path = tmp_path / "from-node.pdf"
        path.write_bytes(response.read())
    done = verify_pdf(node, path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "income certificate" in done.stdout.lower() or done.stdout.startswith("VALID: ")
    assert http("GET", f"{url}/r_unknown", token=token).status == 404


def test_node_refuses_what_it_cannot_seal(node: NodeProcess, token: str) -> None:
    url = node.url + "/v1/sealed-pdfs?document_type=1"
    too_big = http("POST", url, token=token, raw=b"%PDF-1.7\n" + b"0" * MAX_PDF)
    assert too_big.status == 413 and too_big.body["type"].endswith("/body-too-large")
    not_pdf = http("POST", url, token=token, raw=b"hello")
    assert not_pdf.status == 422 and not_pdf.body["field"] == "body", not_pdf.body
    anonymous = http("POST", url, raw=demo_pdf())
    assert anonymous.status == 401
    missing_type = http("POST", node.url + "/v1/sealed-pdfs", token=token, raw=demo_pdf())
    assert missing_type.status == 422


def test_another_municipalitys_seal_is_refused(
    node: NodeProcess, token: str, tmp_path: Path
) -> None:
    """Tsukuba-shi's seal (LGCJP-082201) on a Chiyoda-ku node: the issuance policy refuses the
    entry with 422, through `notary seal` (one line, exit 1) and through POST /v1/entries."""
    other = node.hierarchy.seal_other_municipality
    document = tmp_path / "tsukuba.pdf"
    document.write_bytes(demo_pdf(["Copy of the resident record - Tsukuba", "TEST RESIDENT"]))
    out = tmp_path / "T.pdf"
    done = notary(*seal_args(node, token, document, "--out", str(out), seal=other))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(lines) == 1 and "the node refused the entry: 422" in lines[0], lines
    assert not out.exists()
    identity = SealIdentity.from_files(other.key, other.cert, (), "Tsukuba-shi (test)")
    entry = read_signed_pdf(seal_pdf(document.read_bytes(), identity, VERIFY_URL))
    body = {
        "document_sha256": entry.document_sha256.hex(),
        "document_type": 1,
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {"format": "cms", "value": base64.b64encode(entry.cms).decode()},
    }
    refused = http("POST", node.url + "/v1/entries", body, token)
    assert refused.status == 422, refused.body
    assert "082201" in refused.body["detail"] and "131016" in refused.body["detail"], refused.body
