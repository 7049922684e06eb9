"""Errors raised by `verifier`: each names what is wrong and what the caller can do about it.

A bundle or leaf that breaks the protocol's formats raises `protocol.errors.ProtocolError`
(`BundleFormatError`, `LeafEncodingError`); `VerifierError` is for the verifier's own parts.

`verify()` itself never raises for a bad bundle, a bad signature or an unreachable chain:
those become checks in the `Verdict`. Exceptions are for the parts a caller drives directly:
parsing a bundle, building a policy, encoding a leaf.
"""

from __future__ import annotations


class VerifierError(Exception):
    """Base class of everything `verifier` (outside `verifier.jpki`) raises."""


class PolicyError(VerifierError):
    """A verification policy is configured inconsistently (bad URL, address, chain id...)."""


class EvidenceUnavailableError(VerifierError):
    """Evidence outside the bundle (chain, issuing node) could not be obtained.

    It leads to an ``unknown`` verdict, never ``valid``: the message says which source failed.
    """
