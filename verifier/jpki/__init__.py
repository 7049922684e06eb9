"""JPKI (My Number card) checks: who signed, and was their certificate good at the time.

Typical use::

    signed = verify_cms(cms_der, document)                    # signature over the content
    check = check_signer(signed.signer_cert,
                         signing_time=signed.signing_time,
                         trust_anchors=load_certificates(anchor_files),
                         intermediates=signed.embedded_certs,
                         revocation=RevocationSources(crl_files=crl_files))
    check.status  # valid, revoked, expired, not_yet_valid, untrusted, invalid or unknown

Personal data (the "basic four items") is decoded only by `read_basic_four_items`.
The test CA and card-like CMS signer are development tools outside the verifier
(`devtools.testca`, `devtools.cms_sign`).
"""

from verifier.jpki.basic_four import BasicFourItems, read_basic_four_items
from verifier.jpki.certificates import (
    SIGNATURE_POLICY_OID,
    USER_AUTHENTICATION_POLICY_OID,
    CertificateKind,
    JPKICertificate,
    load_certificates,
    parse_certificate,
    parse_certificates,
    profile_problems,
)
from verifier.jpki.errors import (
    BadSignatureError,
    CertificateError,
    ConfigurationError,
    DigestMismatchError,
    JPKIError,
    MalformedSignatureError,
    RevocationSourceError,
    SignatureError,
    SignerCertificateMissingError,
    UnsupportedAlgorithmError,
)
from verifier.jpki.revocation import RevocationEvidence, RevocationSources, collect_evidence
from verifier.jpki.signatures import SignedContent, verify_cms, verify_raw
from verifier.jpki.validation import (
    NO_REVOCATION_INFO,
    SignerCheck,
    SignerPolicy,
    SignerStatus,
    check_signer,
    check_signer_async,
)

__all__ = [
    "NO_REVOCATION_INFO",
    "SIGNATURE_POLICY_OID",
    "USER_AUTHENTICATION_POLICY_OID",
    "BadSignatureError",
    "BasicFourItems",
    "CertificateError",
    "CertificateKind",
    "ConfigurationError",
    "DigestMismatchError",
    "JPKICertificate",
    "JPKIError",
    "MalformedSignatureError",
    "RevocationEvidence",
    "RevocationSourceError",
    "RevocationSources",
    "SignatureError",
    "SignedContent",
    "SignerCertificateMissingError",
    "SignerCheck",
    "SignerPolicy",
    "SignerStatus",
    "UnsupportedAlgorithmError",
    "check_signer",
    "check_signer_async",
    "collect_evidence",
    "load_certificates",
    "parse_certificate",
    "parse_certificates",
    "profile_problems",
    "read_basic_four_items",
    "verify_cms",
    "verify_raw",
]
