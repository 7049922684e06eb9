"""Errors raised by `verifier`: each names what is wrong and what the caller can do about it.

`verify()` itself never raises for a bad bundle, a bad signature or an unreachable chain:
those become checks in the `Verdict`. Exceptions are for the parts a caller drives directly:
parsing a bundle, building a policy, encoding a leaf.
"""

from __future__ import annotations


class VerifierError(Exception):
    """Base class of everything `verifier` (outside `verifier.jpki`) raises."""


class BundleFormatError(VerifierError):
    """A proof bundle is not well-formed: not JSON, wrong version, a field missing, extra,
    out of range or badly encoded. `field` is the path of the offending field, e.g.
    ``inclusion.path[3]`` (``bundle`` for the document as a whole)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class LeafEncodingError(VerifierError, ValueError):
    """Leaf fields cannot be encoded (a value out of range) or leaf bytes cannot be decoded."""


class PolicyError(VerifierError):
    """A verification policy is configured inconsistently (bad URL, address, chain id...)."""


class EvidenceUnavailableError(VerifierError):
    """Evidence outside the bundle (chain, issuing node) could not be obtained.

    It leads to an ``unknown`` verdict, never ``valid``: the message says which source failed.
    """
