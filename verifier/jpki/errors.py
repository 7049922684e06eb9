"""Errors raised by `verifier.jpki`: a caller never sees a raw asn1crypto or cryptography error.

Every message names what was wrong and, where possible, what to do about it. Messages never
contain personal data from a certificate (names, addresses, birth dates).
"""

from __future__ import annotations


class JPKIError(Exception):
    """Base class of everything `verifier.jpki` raises."""


class CertificateError(JPKIError):
    """A certificate could not be read or is not an X.509 v3 certificate we can use."""


class SignatureError(JPKIError):
    """A signature (CMS or raw PKCS#1 v1.5) is malformed, unsupported or does not verify."""


class MalformedSignatureError(SignatureError):
    """The bytes are not a CMS SignedData (or a signature) this verifier can read."""


class UnsupportedAlgorithmError(SignatureError):
    """The signature does not use RSA PKCS#1 v1.5 with SHA-256, the only JPKI card profile."""


class SignerCertificateMissingError(SignatureError):
    """The certificate that made the signature is not in the CMS nor given by the caller."""


class DigestMismatchError(SignatureError):
    """The signed messageDigest is not the SHA-256 of the content: content and signature differ."""


class BadSignatureError(SignatureError):
    """The RSA signature does not verify with the signer certificate's public key."""


class RevocationSourceError(JPKIError):
    """A configured CRL or OCSP source could not be read, fetched or parsed."""


class ConfigurationError(JPKIError):
    """Trust anchors, revocation sources or a policy were configured inconsistently."""
