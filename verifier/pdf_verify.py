"""Verifying a sealed PDF alone: its container (verifier/pdf.py), then the usual `verify()` of
the seal's signed bytes against the bundle inside (docs/PROTOCOL.md, "The sealed PDF").

A PDF that breaks the container's rules (the signed part changed, another document's bundle,
a modification after the bundle) is an ``invalid`` verdict whose first check, bundle_format,
says why; a file that is not a readable PDF raises `PdfUnreadableError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.bundle import ProofBundle, load_bundle
from protocol.checks import BUNDLE_FORMAT, CHECK_ORDER, Check, Outcome
from protocol.errors import BundleFormatError
from protocol.leaf import SignatureFormat
from protocol.sealed_pdf import BUNDLE_FILE_NAME
from verifier.models import DocumentDigest, Verdict, VerdictFacts
from verifier.pdf import PdfContainerError, read_sealed_pdf
from verifier.policy import VerificationPolicy
from verifier.verify import verify


@dataclass(frozen=True)
class SealedDocument:
    """What a sealed PDF holds: the digest of its signed bytes and the bundle that proves them."""

    digest: DocumentDigest
    bundle: ProofBundle


def open_sealed_pdf(data: bytes) -> SealedDocument:
    """The signed revision's digest and the embedded bundle, once the container checks pass and
    the bundle's signature is this PDF's seal (not another document's bundle)."""
    sealed = read_sealed_pdf(data)
    try:
        bundle = load_bundle(sealed.bundle_json)
    except BundleFormatError as exc:
        raise PdfContainerError(
            f"the embedded {BUNDLE_FILE_NAME} is not a valid bundle: {exc}"
        ) from None
    if (
        bundle.signature.format is not SignatureFormat.CMS
        or bundle.signature.value != sealed.signed.cms
    ):
        raise PdfContainerError(
            f"the embedded {BUNDLE_FILE_NAME} belongs to another document: its signature is not "
            "this PDF's seal"
        )
    return SealedDocument(DocumentDigest(sealed.signed.document_sha256), bundle)


def container_verdict(reason: str) -> Verdict:
    """The ``invalid`` verdict of a PDF that breaks the container's rules."""
    checks = [Check(BUNDLE_FORMAT, Outcome.FAILED, f"sealed PDF: {reason}")]
    checks += [
        Check(name, Outcome.SKIPPED, "the sealed PDF's container is invalid")
        for name in CHECK_ORDER[1:]
    ]
    return Verdict.from_checks(checks, VerdictFacts())


def verify_sealed_pdf(data: bytes, policy: VerificationPolicy) -> Verdict:
    """`verify()` for a sealed PDF given alone. Raises `PdfUnreadableError` for a file that is
    not a readable PDF; every other problem is in the verdict."""
    try:
        document = open_sealed_pdf(data)
    except PdfContainerError as exc:
        if type(exc) is not PdfContainerError:
            raise
        return container_verdict(str(exc))
    return verify(document.digest, document.bundle, policy)
