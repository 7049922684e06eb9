"""`notary seal DOC.pdf`: the issuing system's one-file path (docs/API.md, "Sealed PDFs").

Seals DOC.pdf with the municipality's seal (PAdES, node/sealing.py), logs the seal's signed
bytes and CMS as an entry of the node (POST /v1/entries), waits until the node's bundle is
final and appends it (node/pdf_bundle.py). The signed PDF and the node's receipt are kept
beside OUT until then (`OUT.signed.pdf`, `OUT.receipt.json`), so `--no-wait`, or a wait that
times out, is finished later with `notary seal --finish OUT.receipt.json`.

Exit codes: 0 the sealed PDF is written; 1 an error (one line); 2 a usage error; 3 the bundle
was not final within --timeout (finish later).
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

import click
import requests
from cryptography.x509.oid import NameOID

from node.pdf_bundle import BundleAppendError, append_bundle
from node.sealing import SealIdentity, SealingError, seal_pdf
from protocol.sealed_pdf import MAX_SEALED_PDF_BYTES
from verifier.pdf import read_signed_pdf

PENDING_EXIT: Final = 3
POLL_SECONDS: Final = 1.0
HTTP_TIMEOUT: Final = 30.0
RECEIPT_FORMAT: Final = "notary-seal-receipt/1"


@click.command("seal")
@click.argument("document", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--node-url", envvar="NOTARY_NODE_URL", help="The node's LGWAN base URL.")
@click.option(
    "--token",
    envvar="NOTARY_TOKEN",
    help="A node token with the submit and read scopes (or NOTARY_TOKEN).",
)
@click.option("--seal-key", type=click.Path(dir_okay=False, path_type=Path), help="Seal key.")
@click.option(
    "--seal-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Seal certificate (PEM or DER; a PEM may go on with its CA certificates).",
)
@click.option(
    "--seal-chain",
    "seal_chain",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA certificate to embed with the seal (repeatable).",
)
@click.option(
    "--issuer-label",
    help="ASCII name of the municipality on the stamp (default: the seal certificate's O).",
)
@click.option(
    "--verify-url",
    help="The public verification page the stamp and its QR code name (default: NODE_URL/verify).",
)
@click.option(
    "--document-type",
    type=click.IntRange(1, 65534),
    default=1,
    show_default=True,
    help="Registered document type (docs/PROTOCOL.md; 1: copy of the resident record).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The sealed PDF (default: DOC.sealed.pdf).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the final bundle.",
)
@click.option("--no-wait", is_flag=True, help="Seal and log only; finish later with --finish.")
@click.option(
    "--finish",
    "finish",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the final bundle to a PDF sealed earlier: its OUT.receipt.json.",
)
def seal(
    document: Path | None,
    node_url: str | None,
    token: str | None,
    seal_key: Path | None,
    seal_cert: Path | None,
    seal_chain: tuple[Path, ...],
    issuer_label: str | None,
    verify_url: str | None,
    document_type: int,
    out: Path | None,
    timeout: float,
    no_wait: bool,
    finish: Path | None,
) -> None:
    """Seal DOCUMENT (a PDF), log it on the node, and append its proof bundle once final."""
    if finish is not None:
        if document is not None:
            _usage("give DOCUMENT or --finish RECEIPT, not both")
        _finish(_read_receipt(finish), finish, node_url, token, timeout)
        return
    if document is None:
        _usage("give the PDF to seal (or --finish RECEIPT)")
    missing = [
        name
        for name, value in (
            ("--node-url", node_url),
            ("--token", token),
            ("--seal-key", seal_key),
            ("--seal-cert", seal_cert),
        )
        if not value
    ]
    if missing:
        _usage(f"missing {', '.join(missing)}")
    assert node_url and token and seal_key and seal_cert  # for the type checker: checked above
    node_url = node_url.rstrip("/")
    out = out or document.with_suffix(".sealed.pdf")
    try:
        identity = SealIdentity.from_files(
            seal_key, seal_cert, seal_chain, issuer_label or _default_label(seal_cert)
        )
        original = _read_pdf(document)
        signed = seal_pdf(original, identity, verify_url or f"{node_url}/verify")
    except SealingError as exc:
        _fail(str(exc))
    entry = read_signed_pdf(signed)
    receipt = _submit(node_url, token, entry.document_sha256, entry.cms, document_type)
    signed_path, receipt_path = _sidecars(out)
    _write(signed_path, signed)
    state = {
        "format": RECEIPT_FORMAT,
        "node_url": node_url,
        "signed_pdf": str(signed_path.resolve()),
        "out": str(out.resolve()),
        "receipt": receipt,
    }
    _write(receipt_path, (json.dumps(state, indent=2) + "\n").encode())
    click.echo(f"sealed and logged: receipt {receipt['receipt_id']}", err=True)
    if no_wait:
        click.echo(f"signed PDF {signed_path}; finish with: notary seal --finish {receipt_path}")
        return
    _finish(state, receipt_path, None, token, timeout)


def _finish(
    state: dict[str, Any], receipt_path: Path, node_url: str | None, token: str | None,
    timeout: float,
) -> None:  # fmt: skip
    if not token:
        _usage("missing --token (a token with the read scope)")
    base = (node_url or state["node_url"]).rstrip("/")
    receipt_id = state["receipt"]["receipt_id"]
    signed_path, out = Path(state["signed_pdf"]), Path(state["out"])
    signed = _read_pdf(signed_path)
    bundle = _wait_final(base, token, receipt_id, timeout, receipt_path)
    try:
        sealed = append_bundle(signed, bundle)
    except BundleAppendError as exc:
        _fail(str(exc))
    _write(out, sealed)
    for path in (signed_path, receipt_path):
        path.unlink(missing_ok=True)
    click.echo(str(out))


def _wait_final(
    base: str, token: str, receipt_id: str, timeout: float, receipt_path: Path
) -> bytes:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        answer = _http("GET", f"{base}/v1/receipts/{receipt_id}/bundle", token)
        if answer.status_code != 200:
            _fail(f"the node did not give the bundle: {_problem(answer)}")
        state = answer.headers.get("Notary-Bundle-State", "pending")
        if state != last:
            click.echo(f"bundle {receipt_id}: {state}", err=True)
            last = state
        if state == "final":
            return answer.content
        if time.monotonic() >= deadline:
            click.echo(
                f"notary seal: the bundle is not final after {timeout:g} s ({state}); finish "
                f"later with: notary seal --finish {receipt_path}",
                err=True,
            )
            raise click.exceptions.Exit(PENDING_EXIT)
        time.sleep(POLL_SECONDS)


def _submit(base: str, token: str, digest: bytes, cms: bytes, document_type: int) -> dict[str, Any]:
    body = {
        "request_id": "seal-" + digest.hex()[:48],
        "document_sha256": digest.hex(),
        "document_type": document_type,
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {"format": "cms", "value": base64.b64encode(cms).decode()},
    }
    answer = _http("POST", f"{base}/v1/entries", token, body)
    if answer.status_code not in (200, 201):
        _fail(f"the node refused the entry: {_problem(answer)}")
    receipt: dict[str, Any] = answer.json()
    return receipt


def _http(method: str, url: str, token: str, body: Any = None) -> requests.Response:
    try:
        return requests.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=HTTP_TIMEOUT,
        )
    except requests.RequestException as exc:
        _fail(f"cannot reach the node at {url}: {type(exc).__name__}")


def _problem(answer: requests.Response) -> str:
    try:
        problem = answer.json()
        detail = f"{problem.get('detail', problem.get('title', ''))}"
        field = problem.get("field")
        return f"{answer.status_code} {detail}" + (f" ({field})" if field else "")
    except ValueError:
        return f"HTTP {answer.status_code}"


def _read_receipt(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
        if state.get("format") != RECEIPT_FORMAT or "receipt_id" not in state["receipt"]:
            raise ValueError
    except OSError as exc:
        _usage(f"cannot read {path}: {exc.strerror}")
    except (ValueError, TypeError, KeyError, AttributeError):
        _usage(f"{path} is not a receipt written by notary seal")
    return dict(state)


def _read_pdf(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SEALED_PDF_BYTES + 1)
    except OSError as exc:
        _usage(f"cannot read {path}: {exc.strerror}")
    if len(data) > MAX_SEALED_PDF_BYTES:
        _usage(f"{path} is larger than {MAX_SEALED_PDF_BYTES} bytes")
    return data


def _default_label(cert_file: Path) -> str:
    try:
        identity_cert = SealIdentity.certificate_of(cert_file)
    except SealingError as exc:
        _fail(str(exc))
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        for attribute in identity_cert.subject.get_attributes_for_oid(oid):
            value = str(attribute.value)
            if value.isascii() and value.strip():
                return value
    _usage("the seal certificate names no ASCII organisation: give --issuer-label")


def _sidecars(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".signed.pdf"), stem.with_name(stem.name + ".receipt.json")


def _write(path: Path, data: bytes) -> None:
    """Atomically: a crash leaves the old file or the new one, never half of one."""
    scratch = path.with_name(path.name + ".tmp")
    try:
        with open(scratch, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        scratch.replace(path)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror}")


def _fail(message: str) -> NoReturn:
    click.echo(f"notary seal: {message}", err=True)
    raise click.exceptions.Exit(1)


def _usage(message: str) -> NoReturn:
    click.echo(f"notary seal: {message}", err=True)
    raise click.exceptions.Exit(2)
