"""Errors raised by `protocol`: input that does not follow the protocol's formats.

Each names the offending field, so a caller can report it (an HTTP problem's field, a CLI's
one-line error) without parsing the message.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of everything `protocol` raises."""


class BundleFormatError(ProtocolError):
    """A proof bundle is not well-formed: not JSON, wrong version, a field missing, extra,
    out of range or badly encoded. `field` is the path of the offending field, e.g.
    ``inclusion.path[3]`` (``bundle`` for the document as a whole)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class LeafEncodingError(ProtocolError, ValueError):
    """Leaf fields cannot be encoded (a value out of range) or leaf bytes cannot be decoded."""


class EvidenceError(ProtocolError, ValueError):
    """Chain evidence (block headers, a receipt proof, registry storage) does not prove what
    it is offered for. `field` names the offending item, e.g. ``headers[3].extraData``
    or ``receipt.logs[0]``, so a verifier can say which piece of a bundle is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
