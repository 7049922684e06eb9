"""Sealed PDFs for the page tests, written with pyHanko as the issuing side writes them.

Revision 1: a small original PDF and one PAdES signature (/SubFilter /ETSI.CAdES.detached); the
CMS in /Contents is made by `devtools.cms_sign.sign_cms` over the /ByteRange bytes (card-like:
contentType, signingTime, messageDigest), the signature the node logs. Revision 2: one
incremental update embedding `notary-bundle.json` (pyHanko's `embed_file`, Flate-compressed).

`python -m tests.sealed_pdf OUT_DIR` writes the fixtures of tests/js/pdf.test.mjs (a test CA of its
own; the JS tests only read the container, they do not verify the signer).
"""

# pyHanko's writer API is untyped.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner

BUNDLE_NAME = "notary-bundle.json"


def original_pdf(
    text: str = "Certificate of residence (test)", *, stream_xref: bool = False
) -> bytes:
    """A one-page PDF (classic xref table, or xref stream and object streams)."""
    writer = PdfFileWriter(stream_xrefs=stream_xref)
    content = generic.StreamObject(
        stream_data=f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    )
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.NameObject("/Contents"): writer.add_object(content),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Signed:
    pdf: bytes
    document: bytes
    """The /ByteRange bytes: what the node logs as the document."""
    cms: bytes


class _ExternalSigner(signers.ExternalSigner):
    pass


def sign_pdf(original: bytes, sign: Callable[[bytes], bytes], *, reserve: int = 8192) -> Signed:
    """Revision 1: `original` with one PAdES signature whose CMS is `sign(document bytes)`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(original))
    fields.append_signature_field(writer, fields.SigFieldSpec("Seal", on_page=0))
    meta = PdfSignatureMetadata(
        field_name="Seal", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    placeholder = _ExternalSigner(signing_cert=None, cert_registry=None, signature_value=bytes(256))
    pdf_signer = PdfSigner(meta, signer=placeholder)
    prep, _tbs, output = asyncio.run(
        pdf_signer.async_digest_doc_for_signing(writer, bytes_reserved=reserve, in_place=False)
    )
    assert isinstance(output, io.BytesIO)
    data = output.getvalue()
    start, end = prep.reserved_region_start, prep.reserved_region_end
    document = data[:start] + data[end:]
    cms = sign(document)
    if 2 * len(cms) + 2 > end - start:
        raise ValueError("the CMS does not fit the reserved /Contents")
    hexed = cms.hex().encode().ljust(end - start - 2, b"0")
    signed = data[:start] + b"<" + hexed + b">" + data[end:]
    assert signed[start : start + 1] == b"<" and len(signed) == len(data)
    return Signed(signed, document, cms)


class _KeepInfoWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer rewrites the signed revision's /Info (ModDate, Producer) on
    every write; the sealed-PDF contract allows only new objects and the new catalog."""

    def _update_meta(self) -> None:
        pass


def embed_bundle(
    pdf: bytes,
    bundle: bytes,
    *,
    name: str = BUNDLE_NAME,
    compress: bool = True,
    keep_info: bool = True,
) -> bytes:
    """Revision 2: one incremental update adding the embedded file `name` (and, with
    `keep_info=False`, pyHanko's default rewrite of /Info, which the page refuses)."""
    writer = (_KeepInfoWriter if keep_info else IncrementalPdfFileWriter)(io.BytesIO(pdf))
    stream = EmbeddedFileObject.from_file_data(
        writer, data=bundle, mime_type="application/json", compress=compress
    )
    embed_file(writer, FileSpec(file_spec_string=name, embedded_data=stream))
    # ... and lists it in /AF, as node/pdf_bundle.py does (PROTOCOL 15)
    spec_ref = writer.root["/Names"]["/EmbeddedFiles"]["/Names"].raw_get(1)
    writer.root[pdf_name("/AF")] = generic.ArrayObject([spec_ref])
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _fixtures(folder: Path) -> None:
    """The JS unit tests' fixtures (no chain: a throwaway CA signs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from devtools.cms_sign import sign_cms

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdf fixture signer")])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(datetime(2036, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )

    def sign(document: bytes) -> bytes:
        return sign_cms(document, key=key, cert=cert, signing_time=now)

    folder.mkdir(parents=True, exist_ok=True)
    bundle = (
        b'{"fixture": "not a real bundle", "note": "the JS reader tests read the container only"}\n'
    )
    for variant, stream_xref in (("table", False), ("xrefstream", True)):
        signed = sign_pdf(original_pdf(stream_xref=stream_xref), sign)
        (folder / f"signed-{variant}.pdf").write_bytes(signed.pdf)
        (folder / f"signed-{variant}.document").write_bytes(signed.document)
        (folder / f"signed-{variant}.cms").write_bytes(signed.cms)
        (folder / f"sealed-{variant}.pdf").write_bytes(embed_bundle(signed.pdf, bundle))
    (folder / "sealed-uncompressed.pdf").write_bytes(
        embed_bundle(sign_pdf(original_pdf(), sign).pdf, bundle, compress=False)
    )
    (folder / "sealed-info-rewritten.pdf").write_bytes(
        embed_bundle(sign_pdf(original_pdf(), sign).pdf, bundle, keep_info=False)
    )
    (folder / "bundle.json").write_bytes(bundle)


if __name__ == "__main__":
    _fixtures(Path(sys.argv[1]))
