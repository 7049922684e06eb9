"""Revision 2 of a sealed PDF: the proof bundle appended as one embedded file, nothing else.

The bundle (its JSON exactly as the node serves it) goes uncompressed into one embedded file
stream named `notary-bundle.json`, listed in the catalog's /Names /EmbeddedFiles and /AF; the
incremental update rewrites only the catalog, so the signed revision stays byte for byte as it
was sealed (docs/PROTOCOL.md, "The sealed PDF").
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from protocol.bundle import load_bundle
from protocol.errors import BundleFormatError
from protocol.sealed_pdf import BUNDLE_FILE_NAME, BUNDLE_MIME
from verifier.pdf import PdfContainerError, read_sealed_pdf, read_signed_pdf


class BundleAppendError(Exception):
    """The bundle cannot be appended to this PDF (not a signed revision, or not its bundle)."""


class _BundleOnlyWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer without its metadata refresh (/Info ModDate and Producer,
    XMP): the bundle's revision may change nothing but what holds the bundle."""

    def _update_meta(self) -> None:
        pass


def append_bundle(signed_pdf: bytes, bundle_json: bytes) -> bytes:
    """`signed_pdf` (the seal's revision, nothing after it) with `bundle_json` appended. The
    bundle must be this PDF's: its signature is the seal's CMS."""
    try:
        signed = read_signed_pdf(signed_pdf)
    except PdfContainerError as exc:
        raise BundleAppendError(f"not a sealed PDF's signed revision: {exc}") from None
    if signed.revisions != signed.signed_revision + 1:
        raise BundleAppendError("the PDF has revisions after its seal; append to the signed PDF")
    try:
        bundle = load_bundle(bundle_json)
    except BundleFormatError as exc:
        raise BundleAppendError(f"not a valid proof bundle: {exc}") from None
    if bundle.signature.value != signed.cms:
        raise BundleAppendError("this bundle is another document's: its signature is not the seal")
    out = _append(signed_pdf, bundle_json)
    try:
        read_sealed_pdf(out)  # the container every verifier checks: fail here, not there
    except PdfContainerError as exc:
        raise BundleAppendError(f"the result breaks the container rules: {exc}") from None
    return out


def _append(signed_pdf: bytes, bundle_json: bytes) -> bytes:
    writer = _BundleOnlyWriter(io.BytesIO(signed_pdf), strict=True)
    stream = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/EmbeddedFile"),
            pdf_name("/Subtype"): pdf_name("/" + BUNDLE_MIME),
            pdf_name("/Params"): generic.DictionaryObject(
                {pdf_name("/Size"): generic.NumberObject(len(bundle_json))}
            ),
        },
        stream_data=bundle_json,
    )
    stream_ref = writer.add_object(stream)
    filespec = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Filespec"),
            pdf_name("/F"): pdf_string(BUNDLE_FILE_NAME),
            pdf_name("/UF"): pdf_string(BUNDLE_FILE_NAME),
            pdf_name("/EF"): generic.DictionaryObject(
                {pdf_name("/F"): stream_ref, pdf_name("/UF"): stream_ref}
            ),
            pdf_name("/AFRelationship"): pdf_name("/Supplement"),
            pdf_name("/Desc"): pdf_string("Proof bundle of the municipal notary (JSON)"),
        }
    )
    filespec_ref = writer.add_object(filespec)
    root = writer.root
    names = generic.DictionaryObject()
    if "/Names" in root:  # keep the signed revision's other name trees as they were
        old = root["/Names"]
        names.update({key: old.raw_get(key) for key in old})
    names[pdf_name("/EmbeddedFiles")] = generic.DictionaryObject(
        {pdf_name("/Names"): generic.ArrayObject([pdf_string(BUNDLE_FILE_NAME), filespec_ref])}
    )
    root[pdf_name("/Names")] = names
    root[pdf_name("/AF")] = generic.ArrayObject([filespec_ref])
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
