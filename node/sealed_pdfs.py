"""The node's sealing service for the issuing system (POST/GET /v1/sealed-pdfs): seal a posted
PDF with the configured seal, log it like any entry, keep the signed PDF, and hand it back with
its bundle appended once final.

The signed PDFs hold resident data: they stay in `data_dir/sealed/` (mode 0600, on the LGWAN
host only) and are never logged; the operator purges them once fetched (docs/API.md). The
seal key must be mode 0600, like the anchoring key.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from node.intake import SignatureInput, Submission
from node.pdf_bundle import append_bundle
from node.sealing import SealIdentity, seal_pdf
from node.service import NodeService
from node.settings import NodeSettings
from node.tokens import Client
from protocol.bundle import dump_bundle
from protocol.leaf import SignatureFormat
from verifier.pdf import read_signed_pdf

RECEIPT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")


class SealConfigError(Exception):
    """The seal is configured wrongly (the node refuses to start)."""


@dataclass(frozen=True)
class SealedAnswer:
    """GET /v1/sealed-pdfs/{id}: the final PDF, or how far its bundle is."""

    state: str
    pdf: bytes | None


class PdfSealer:
    def __init__(self, service: NodeService, identity: SealIdentity, verify_url: str) -> None:
        self.service = service
        self.identity = identity
        self.verify_url = verify_url
        self.folder = service.settings.data_dir / "sealed"
        self.folder.mkdir(mode=0o700, exist_ok=True)

    @classmethod
    def from_settings(cls, service: NodeService) -> PdfSealer | None:
        settings = service.settings
        if settings.seal_key_file is None and settings.seal_cert_file is None:
            return None
        if settings.seal_key_file is None or settings.seal_cert_file is None:
            raise SealConfigError("seal_key_file and seal_cert_file go together")
        _check_private(settings.seal_key_file)
        identity = SealIdentity.from_files(
            settings.seal_key_file,
            settings.seal_cert_file,
            tuple(settings.seal_chain_files),
            settings.seal_label or f"local government {settings.lg_code:06d}",
        )
        return cls(service, identity, _verify_url(settings))

    def seal(
        self,
        pdf: bytes,
        document_type: int,
        issued_at: datetime | None,
        client: Client,
        request_id: str | None,
    ) -> tuple[dict[str, Any], bool]:
        """Seal, log, keep the signed PDF: (receipt, replayed). Raises SealingError for a PDF
        that cannot be sealed and SubmissionRejectedError as POST /v1/entries does."""
        body = {"pdf_sha256": hashlib.sha256(pdf).hexdigest(), "document_type": document_type}
        signed = seal_pdf(pdf, self.identity, self.verify_url)
        entry = read_signed_pdf(signed)
        when = (issued_at or datetime.now(UTC)).timestamp()
        submission = Submission(
            document_sha256=entry.document_sha256,
            document_type=document_type,
            issued_at=int(when),
            signature=SignatureInput(
                format=SignatureFormat.CMS, value=entry.cms, certificate=None, signing_time=None
            ),
            request_id=request_id,
        )
        result = self.service.submit([submission], client, request_id, body)
        receipt = result.receipts[0]
        if not result.replayed:
            _write_private(self._path(receipt["receipt_id"]), signed)
        return receipt, result.replayed

    def sealed(self, receipt_id: str) -> SealedAnswer | None:
        """The final PDF (signed revision + bundle), or the bundle's state while not final;
        None if no signed PDF is kept under this receipt id."""
        path = self._path(receipt_id)
        if path is None or not path.is_file():
            return None
        answer = self.service.bundle_by_receipt(receipt_id)
        if answer is None:
            return None
        if answer.state != "final":
            return SealedAnswer(answer.state, None)
        bundle_json = dump_bundle(answer.bundle).encode()
        return SealedAnswer("final", append_bundle(path.read_bytes(), bundle_json))

    def _path(self, receipt_id: str) -> Path | None:
        if not RECEIPT_ID.fullmatch(receipt_id):
            return None
        return self.folder / f"{receipt_id}.pdf"


def _verify_url(settings: NodeSettings) -> str:
    if settings.seal_verify_url:
        return settings.seal_verify_url
    if settings.public_port:
        return f"http://{settings.public_host}:{settings.public_port}/verify"
    return f"http://{settings.host}:{settings.port}/verify"


def _check_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SealConfigError(f"cannot read the seal key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealConfigError(f"the seal key {path} must be readable by its owner only (0600)")


def _write_private(path: Path | None, data: bytes) -> None:
    assert path is not None  # receipt ids come from the node
    scratch = path.with_name(path.name + ".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    scratch.replace(path)
