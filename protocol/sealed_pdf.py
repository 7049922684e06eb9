"""The sealed PDF's container facts (docs/PROTOCOL.md, "The sealed PDF"), with no I/O.

Revision 1 is the issuer's PDF plus one PAdES seal (/SubFilter /ETSI.CAdES.detached); the
logged "document" is the seal's signed byte ranges and the entry's signature is the seal's CMS.
Revision 2 adds only the proof bundle as an embedded file. Sealer (node/), Python verifier
(verifier/pdf.py) and the clerk's page read these constants from here.
"""

from __future__ import annotations

from typing import Final

BUNDLE_FILE_NAME: Final = "notary-bundle.json"
"""The embedded file's name in /EmbeddedFiles, and its filespec's /F and /UF."""
BUNDLE_MIME: Final = "application/json"
SEAL_SUBFILTER: Final = "/ETSI.CAdES.detached"
SEAL_FIELD_NAME: Final = "NotarySeal"
MAX_SEALED_PDF_BYTES: Final = 32 * 1024 * 1024
"""Largest sealed PDF a verifier reads (a certificate is well under a megabyte)."""


class ContentsError(ValueError):
    """The signature dictionary's /Contents is not one DER structure followed by zero padding."""


def cms_from_contents(contents: bytes) -> bytes:
    """The exact CMS DER inside a /Contents string: its outer TLV, with the zero padding that
    reserves room for the signature stripped (and checked to be only zeros)."""
    if len(contents) < 2 or contents[0] != 0x30:
        raise ContentsError("the seal's /Contents does not start with a DER SEQUENCE")
    first = contents[1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(contents) < 2 + count:
            raise ContentsError("the seal's /Contents has an invalid DER length")
        header, length = 2 + count, int.from_bytes(contents[2 : 2 + count], "big")
    end = header + length
    if end > len(contents):
        raise ContentsError("the seal's /Contents is shorter than its DER length says")
    if contents[end:].strip(b"\x00"):
        raise ContentsError("the seal's /Contents has data after its CMS other than padding")
    return contents[:end]
