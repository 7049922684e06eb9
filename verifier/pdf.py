"""Reading a sealed PDF (docs/PROTOCOL.md, "The sealed PDF"): the seal's signed revision and the
proof bundle appended after it, and nothing else.

Parsing uses pyHanko's reader (a maintained, strict PDF parser with per-revision cross-reference
history) rather than a parser of our own: a PDF is too rich a format to parse safely by hand, and
pyHanko already reads every revision's xref section, which the checks below need. The checks
themselves are explicit rather than pyHanko's difference policies: those allow form filling and
annotations, whereas a sealed PDF allows exactly one later revision that adds the bundle.

`PdfUnreadableError` means "not a PDF we can read" (a usage error); `PdfContainerError` means
the PDF breaks the container's rules (an invalid document).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any, Final

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.status import SignatureCoverageLevel

from protocol.sealed_pdf import (
    BUNDLE_FILE_NAME,
    BUNDLE_MIME,
    MAX_SEALED_PDF_BYTES,
    SEAL_SUBFILTER,
    ContentsError,
    cms_from_contents,
)
from verifier.errors import VerifierError

PDF_MAGIC: Final = b"%PDF-"
_EOF_TAIL: Final = re.compile(rb"%%EOF[\r\n\t\f \x00]*\Z")
_CATALOG_ADDED: Final = frozenset({"/Names", "/AF"})
_READ_ERRORS: Final = (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError)
"""What pyHanko and asn1crypto raise on malformed input."""


class PdfContainerError(VerifierError):
    """The PDF breaks the sealed PDF's rules: the document is not what was sealed."""


class PdfUnreadableError(PdfContainerError):
    """Not a PDF, or one too malformed (or too large) to read."""


@dataclass(frozen=True)
class SignedPdf:
    """The seal's signed revision: the logged document (the /ByteRange parts), its SHA-256 and
    the seal's exact CMS DER."""

    document: bytes
    document_sha256: bytes
    cms: bytes
    signed_length: int
    """Bytes from the start of the file to the end of the signed revision."""
    signed_revision: int
    revisions: int


@dataclass(frozen=True)
class SealedPdf:
    signed: SignedPdf
    bundle_json: bytes


def is_pdf(head: bytes) -> bool:
    return head.startswith(PDF_MAGIC)


def read_signed_pdf(data: bytes) -> SignedPdf:
    """The one seal of `data` and the revision it signs, checked: its /ByteRange covers that
    whole revision except /Contents, and the CMS's messageDigest is the digest of those bytes."""
    signed, _ = _read(data)
    return signed


def read_sealed_pdf(data: bytes) -> SealedPdf:
    """The signed revision and the bundle of the one revision after it, which may add only the
    embedded file `notary-bundle.json` (in /Names /EmbeddedFiles and /AF), nothing else."""
    signed, reader = _read(data)
    if signed.revisions == signed.signed_revision + 1:
        raise PdfContainerError(
            "the PDF holds its seal but no proof bundle (not appended yet: ask the issuer for "
            "the final PDF)"
        )
    if signed.revisions > signed.signed_revision + 2:
        raise PdfContainerError(
            f"the PDF was modified after its proof bundle was appended ({signed.revisions} "
            f"revisions; a sealed PDF has the seal's and one more)"
        )
    try:
        bundle = _bundle_revision(reader, signed.revisions - 1)
    except PdfContainerError:
        raise
    except _READ_ERRORS as exc:
        raise PdfContainerError(
            f"the revision after the seal is malformed ({_short(exc)})"
        ) from None
    return SealedPdf(signed, bundle)


def _read(data: bytes) -> tuple[SignedPdf, PdfFileReader]:
    if not is_pdf(data[:1024].lstrip(b"\r\n\t\f \x00")):
        raise PdfUnreadableError("not a PDF (it does not start with %PDF-)")
    if len(data) > MAX_SEALED_PDF_BYTES:
        raise PdfUnreadableError(f"the PDF is larger than {MAX_SEALED_PDF_BYTES} bytes")
    if not _EOF_TAIL.search(data[-1024:]):
        raise PdfContainerError("the PDF has data after its last %%EOF marker")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypted:
            raise PdfUnreadableError("the PDF is encrypted; a sealed PDF never is")
        seals = reader.embedded_signatures
    except PdfUnreadableError:
        raise
    except _READ_ERRORS as exc:
        raise PdfUnreadableError(f"not a readable PDF ({_short(exc)})") from None
    if len(seals) != 1:
        raise PdfContainerError(
            f"the PDF has {len(seals)} signatures; a sealed PDF has exactly one, the seal"
        )
    seal = seals[0]
    try:
        return _signed(data, reader, seal), reader
    except PdfContainerError:
        raise
    except _READ_ERRORS as exc:
        raise PdfContainerError(f"the seal is malformed ({_short(exc)})") from None


def _signed(data: bytes, reader: PdfFileReader, seal: Any) -> SignedPdf:
    subfilter = seal.sig_object.get("/SubFilter")
    if subfilter != SEAL_SUBFILTER:
        raise PdfContainerError(f"the signature's /SubFilter is {subfilter}, not {SEAL_SUBFILTER}")
    coverage = seal.evaluate_signature_coverage()
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        raise PdfContainerError(
            "the seal's /ByteRange does not cover its whole revision (all but /Contents)"
        )
    start1, length1, start2, length2 = (int(x) for x in seal.byte_range)
    document = data[start1 : start1 + length1] + data[start2 : start2 + length2]
    try:
        cms_der = cms_from_contents(bytes(seal.pkcs7_content))
    except ContentsError as exc:
        raise PdfContainerError(str(exc)) from None
    digest = hashlib.sha256(document).digest()
    if digest != _message_digest(cms_der):
        raise PdfContainerError(
            "the signed part of the PDF was changed after sealing (its SHA-256 is not the "
            "seal's messageDigest)"
        )
    return SignedPdf(
        document=document,
        document_sha256=digest,
        cms=cms_der,
        signed_length=start2 + length2,
        signed_revision=int(seal.signed_revision),
        revisions=int(reader.xrefs.total_revisions),
    )


def _message_digest(cms_der: bytes) -> bytes:
    try:
        info = cms.ContentInfo.load(cms_der, strict=True)
        signer_infos = info["content"]["signer_infos"]
        if len(signer_infos) != 1:
            raise PdfContainerError("the seal's CMS must have exactly one signer")
        for attribute in signer_infos[0]["signed_attrs"]:
            if attribute["type"].native == "message_digest":
                value = attribute["values"][0].native
                if isinstance(value, bytes):
                    return value
    except PdfContainerError:
        raise
    except _READ_ERRORS as exc:
        raise PdfContainerError(f"the seal's CMS is malformed ({_short(exc)})") from None
    raise PdfContainerError("the seal's CMS has no messageDigest attribute")


def _bundle_revision(reader: PdfFileReader, revision: int) -> bytes:
    """The bundle added by `revision`, after checking that it changes nothing else: no object of
    an earlier revision is rewritten or freed but the catalog, the catalog only gains /AF and
    /Names /EmbeddedFiles, and every new object belongs to the bundle's embedded file."""
    xrefs = reader.xrefs
    if xrefs.refs_freed_in_revision(revision):
        raise PdfContainerError("the revision after the seal frees objects of the sealed PDF")
    previous = revision - 1
    old_trailer = reader.trailer.flatten(previous)
    new_trailer = reader.trailer.flatten(revision)
    root_ref = new_trailer.raw_get("/Root")
    if root_ref != old_trailer.raw_get("/Root"):
        raise PdfContainerError("the revision after the seal replaces the document catalog")
    for key in set(old_trailer) | set(new_trailer):
        if key not in ("/Prev", "/Size", "/ID", "/XRefStm") and (
            old_trailer.raw_get(key) if key in old_trailer else None
        ) != (new_trailer.raw_get(key) if key in new_trailer else None):
            raise PdfContainerError(f"the revision after the seal changes the trailer's {key}")
    changed = xrefs.explicit_refs_in_revision(revision)
    xref_stream = xrefs.get_xref_container_info(revision).stream_ref
    rewritten = {
        ref
        for ref in changed
        if ref != root_ref.reference and xrefs.get_historical_ref(ref, previous) is not None
    }
    if rewritten:
        raise PdfContainerError(
            f"the revision after the seal changes {len(rewritten)} object(s) of the sealed PDF"
        )
    old_root = reader.get_historical_root(previous)
    new_root = reader.root
    _check_catalog(old_root, new_root)
    names = new_root["/Names"]
    if "/Names" in old_root:
        old_names = old_root["/Names"]
        if "/EmbeddedFiles" in old_names or {k: old_names.raw_get(k) for k in old_names} != {
            k: names.raw_get(k) for k in names if k != "/EmbeddedFiles"
        }:
            raise PdfContainerError("the revision after the seal changes the catalog's /Names")
    filespec_ref, stream_ref, data = _bundle_file(names["/EmbeddedFiles"])
    af = new_root["/AF"]
    if not isinstance(af, generic.ArrayObject) or list(af.iterate()) != [filespec_ref]:
        raise PdfContainerError("/AF must list exactly the bundle's file specification")
    allowed = {filespec_ref, stream_ref} | _indirect_parts(new_root, ("/Names", "/AF"))
    if xref_stream is not None:
        allowed.add(generic.Reference(xref_stream.idnum, xref_stream.generation, pdf=reader))
    extra = {(r.idnum, r.generation) for r in changed} - {(r.idnum, r.generation) for r in allowed}
    extra.discard((root_ref.reference.idnum, root_ref.reference.generation))
    if extra:
        raise PdfContainerError(
            f"the revision after the seal adds {len(extra)} object(s) besides the proof bundle"
        )
    return data


def _check_catalog(old: generic.DictionaryObject, new: generic.DictionaryObject) -> None:
    if "/AF" in old:
        raise PdfContainerError("the sealed revision already has /AF (associated files)")
    for key in set(old) | set(new):
        if key in _CATALOG_ADDED:
            continue
        if (old.raw_get(key) if key in old else None) != (new.raw_get(key) if key in new else None):
            raise PdfContainerError(f"the revision after the seal changes the catalog's {key}")
    if "/Names" not in new or "/AF" not in new:
        raise PdfContainerError("the revision after the seal does not add the proof bundle")


def _bundle_file(tree: Any) -> tuple[Any, Any, bytes]:
    """The one entry of a flat /EmbeddedFiles name tree: (filespec ref, stream ref, bytes)."""
    if "/Kids" in tree:
        raise PdfContainerError("the embedded-files tree must be flat (one /Names array)")
    entries = tree["/Names"]
    if len(entries) != 2 or str(entries[0]) != BUNDLE_FILE_NAME:
        raise PdfContainerError(f"the PDF must embed exactly one file, {BUNDLE_FILE_NAME}")
    filespec_ref = entries.raw_get(1)
    if not isinstance(filespec_ref, generic.IndirectObject):
        raise PdfContainerError("the bundle's file specification must be an indirect object")
    spec = filespec_ref.get_object()
    if spec.get("/Type") != "/Filespec" or str(spec.get("/F")) != BUNDLE_FILE_NAME:
        raise PdfContainerError(f"the embedded file is not named {BUNDLE_FILE_NAME}")
    if "/UF" in spec and str(spec["/UF"]) != BUNDLE_FILE_NAME:
        raise PdfContainerError(f"the embedded file's /UF is not {BUNDLE_FILE_NAME}")
    stream_ref = spec["/EF"].raw_get("/F")
    if not isinstance(stream_ref, generic.IndirectObject):
        raise PdfContainerError("the bundle's embedded file stream must be an indirect object")
    stream = stream_ref.get_object()
    if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/EmbeddedFile":
        raise PdfContainerError("the bundle's /EF /F is not an embedded file stream")
    if stream.get("/Subtype") != "/" + BUNDLE_MIME:
        raise PdfContainerError(f"the embedded bundle's /Subtype is not {BUNDLE_MIME}")
    if "/Filter" in stream:
        raise PdfContainerError("the embedded bundle must be stored uncompressed (no /Filter)")
    return filespec_ref, stream_ref, bytes(stream.data)


def _indirect_parts(root: generic.DictionaryObject, keys: tuple[str, ...]) -> set[Any]:
    """Every indirect reference reachable from `root`'s `keys` (the new objects the bundle's
    revision may legitimately add: names dictionary, name tree, arrays)."""
    found: set[Any] = set()
    pending = [root.raw_get(k) for k in keys if k in root]
    while pending:
        item = pending.pop()
        if isinstance(item, generic.IndirectObject):
            if item.reference in found:
                continue
            found.add(item.reference)
            item = item.get_object()
        if isinstance(item, generic.DictionaryObject):
            pending.extend(item.raw_get(k) for k in item)
        elif isinstance(item, generic.ArrayObject):
            pending.extend(item.iterate())
    return found


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
