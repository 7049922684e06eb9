"""The signer checks: signature_binding, issuer_policy, signer_certificate and signature
(docs/PROTOCOL.md).

The log entry commits to the signature and the signer certificate by their SHA-256; the
signer's kind must be one the entry accepts (`verifier.rules.issuer_policy`); the signer
certificate must chain to a trusted CA of its own PKI (J-LIS for JPKI, the LGPKI anchors for a
seal) and be unrevoked at the signing time (by the verifier's revocation sources, else by the
CRL or OCSP response the bundle carries); the signature must be over the document (PKCS#1 v1.5,
or detached CMS with the entry's signing time).
"""

from __future__ import annotations

import hashlib

from protocol.bundle import ProofBundle, format_time
from protocol.checks import (
    CHECK_ORDER,
    ISSUER_POLICY,
    SIGNATURE,
    SIGNATURE_BINDING,
    SIGNER_CERTIFICATE,
    Check,
    Outcome,
)
from protocol.leaf import SignatureFormat, from_unix_seconds, unix_seconds
from verifier.digest_signature import certificate_from_der, verify_cms_digest, verify_pkcs1_digest
from verifier.jpki import (
    CertificateError,
    CertificateKind,
    JPKICertificate,
    JPKIError,
    RevocationSources,
    SignatureError,
    SignerCheck,
)
from verifier.jpki.bundled_revocation import BundledRevocationError, check_bundled_revocation
from verifier.rules.context import Context
from verifier.rules.issuer_policy import SignerFacts, allowed_certificate_kinds, issuer_policy

SIGNATURE_CHECKS = CHECK_ORDER[
    CHECK_ORDER.index(SIGNATURE_BINDING) : CHECK_ORDER.index(SIGNATURE) + 1
]
"""The run of CHECK_ORDER these checks fill."""
_NOT_REQUIRED = tuple(
    Check(name, Outcome.SKIPPED, "the policy does not require the signature")
    for name in SIGNATURE_CHECKS
)


def signature_checks(
    context: Context, bundle: ProofBundle, digest: bytes
) -> tuple[list[Check], JPKICertificate | None, SignerFacts | None]:
    """The four checks in order, the signer certificate when it could be read, and its kind
    when it has one."""
    if not context.policy.require_signature:
        return list(_NOT_REQUIRED), None, None
    value = bundle.signature.value
    certificates = bundle.signature.certificates
    binding = signature_binding(bundle, value, certificates[0])
    try:
        cert = certificate_from_der(certificates[0])
        others = [certificate_from_der(der) for der in certificates[1:]]
    except CertificateError as exc:
        return (
            [
                binding,
                Check(ISSUER_POLICY, Outcome.SKIPPED, "the signer certificate is unreadable"),
                Check(
                    SIGNER_CERTIFICATE, Outcome.FAILED, f"a bundle certificate is unreadable: {exc}"
                ),
                Check(SIGNATURE, Outcome.SKIPPED, "the signer certificate is unreadable"),
            ],
            None,
            None,
        )
    policy_check, signer = issuer_policy(bundle.leaf, cert, context.policy)
    return (
        [
            binding,
            policy_check,
            signer_certificate(context, bundle, cert, others),
            signature(bundle, digest, value, cert),
        ],
        cert,
        signer,
    )


def signature_binding(bundle: ProofBundle, value: bytes, signer_der: bytes) -> Check:
    leaf = bundle.leaf
    problems = []
    if hashlib.sha256(value).digest() != leaf.signature_sha256:
        problems.append(
            "the signature is not the one recorded in the log entry (its SHA-256 differs "
            "from leaf.signature_sha256)"
        )
    if hashlib.sha256(signer_der).digest() != leaf.signer_sha256:
        problems.append(
            "signature.certificates[0] is not the signer certificate recorded in the log "
            "entry (its SHA-256 differs from leaf.signer_sha256)"
        )
    if problems:
        return Check(SIGNATURE_BINDING, Outcome.FAILED, "; ".join(problems))
    return Check(
        SIGNATURE_BINDING,
        Outcome.PASSED,
        "the signature and signer certificate are the ones the log entry commits to",
    )


def signer_certificate(
    context: Context, bundle: ProofBundle, cert: JPKICertificate, others: list[JPKICertificate]
) -> Check:
    """The signer at the signing time. The verifier's own revocation sources decide when they
    can (fresher: a later revocation reaching back, for key compromise, counts); else the
    revocation evidence the bundle carries decides, as of its issue (``as_of``)."""
    anchors = context.policy.anchors_for(cert)
    if not anchors:
        return Check(SIGNER_CERTIFICATE, Outcome.UNKNOWN, _no_anchors(cert))
    allowed = allowed_certificate_kinds(bundle.leaf, context.policy)
    signing_time = bundle.leaf.signing_time
    carried = bundle.evidence.signer_revocation if bundle.evidence is not None else None
    described: tuple[str, ...] = ()
    if carried is not None:
        try:
            described = check_bundled_revocation(
                cert,
                [*anchors, *others],
                from_unix_seconds(signing_time),
                carried.crls,
                carried.ocsp_responses,
            )
        except BundledRevocationError as exc:
            return Check(
                SIGNER_CERTIFICATE,
                Outcome.FAILED,
                f"the signer's revocation evidence does not hold: {exc.field}: {exc.problem}",
            )
    try:
        if carried is None or not context.policy.revocation.is_empty:
            result = context.check_signer(cert, signing_time, others, None, allowed)
            if carried is None or result.status != "unknown":
                return _judged(cert, signing_time, result)
        bundled = RevocationSources(crls=carried.crls, ocsp_responses=carried.ocsp_responses)
        result = context.check_signer(cert, signing_time, others, bundled, allowed)
    except JPKIError as exc:
        return Check(SIGNER_CERTIFICATE, Outcome.UNKNOWN, f"the signer check could not run: {exc}")
    return _judged(cert, signing_time, result, " and ".join(described))


def _no_anchors(cert: JPKICertificate) -> str:
    if cert.kind is CertificateKind.SEAL:
        return (
            "no municipal seal trust anchors are configured: give the LGPKI organisational CA "
            "certificates (--seal-trust)"
        )
    return (
        "no JPKI trust anchors are configured: give the J-LIS CA certificates of every "
        "generation (--trust)"
    )


def _judged(
    cert: JPKICertificate, signing_time: int, result: SignerCheck, carried: str = ""
) -> Check:
    """The check for a signer verdict; `carried` names the bundle's evidence that decided it."""
    what = "municipal seal" if cert.kind is CertificateKind.SEAL else f"JPKI {cert.kind.value}"
    who = f"{what} certificate serial 0x{cert.serial_hex}"
    when = format_time(signing_time)
    source = f" (by the bundle's revocation evidence: {carried})" if carried else ""
    if result.status == "valid":
        if not carried:
            return Check(
                SIGNER_CERTIFICATE,
                Outcome.PASSED,
                f"{who} at the signing time {when}: {result.reason}",
            )
        return Check(
            SIGNER_CERTIFICATE,
            Outcome.PASSED,
            f"{who} at the signing time {when}: {result.reason}{source}; a revocation "
            "published after that evidence (a key compromise reaching back) is not known "
            "without the verifier's own revocation sources",
            as_of=True,
        )
    if result.status == "unknown":
        return Check(
            SIGNER_CERTIFICATE, Outcome.UNKNOWN, f"{who} at {when}: {result.reason}{source}"
        )
    label = result.status.replace("_", " ")
    return Check(
        SIGNER_CERTIFICATE,
        Outcome.FAILED,
        f"{who} is {label} at the signing time {when}: {result.reason}{source}",
    )


def signature(bundle: ProofBundle, digest: bytes, value: bytes, cert: JPKICertificate) -> Check:
    leaf = bundle.leaf
    try:
        if bundle.signature.format is SignatureFormat.PKCS1:
            verify_pkcs1_digest(value, digest, cert)
            return Check(
                SIGNATURE,
                Outcome.PASSED,
                "RSA PKCS#1 v1.5 SHA-256 signature over the document verifies with the "
                "signer certificate",
            )
        signed = verify_cms_digest(value, digest, extra_certificates=[cert])
    except (SignatureError, JPKIError) as exc:
        return Check(SIGNATURE, Outcome.FAILED, str(exc))
    if signed.signer_cert != cert:
        return Check(
            SIGNATURE,
            Outcome.FAILED,
            f"the CMS was signed by certificate serial 0x{signed.signer_cert.serial_hex}, not "
            "by signature.certificates[0]",
        )
    if signed.signing_time is None:
        return Check(
            SIGNATURE,
            Outcome.FAILED,
            "the CMS has no signingTime attribute (card signatures carry one)",
        )
    if unix_seconds(signed.signing_time) != leaf.signing_time:
        return Check(
            SIGNATURE,
            Outcome.FAILED,
            f"the CMS signingTime {format_time(unix_seconds(signed.signing_time))} differs "
            f"from the log entry's signing time {format_time(leaf.signing_time)}",
        )
    return Check(
        SIGNATURE,
        Outcome.PASSED,
        "detached CMS SignedData over the document verifies (messageDigest is the "
        "document's SHA-256, signed by certificates[0])",
    )
