"""Was this JPKI certificate trustworthy *when it signed*? Path, validity and revocation.

A document is judged years after it was signed, so the question is never "is the certificate
valid now" but "was it valid, unrevoked and chained to a J-LIS root at the signing time".
Path building and RFC 5280 processing are pyhanko-certvalidator's; this module decides the
policy (which trust anchors, what revocation evidence, which key usages) and turns the
library's exceptions into one `SignerCheck` a relying party can read. Library messages are
never passed on: they quote the subject, which names the holder's municipality.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.validate import validate_usage

from verifier.jpki.certificates import (
    CertificateKind,
    JPKICertificate,
    profile_problems,
)
from verifier.jpki.compromise import backdated_revocation
from verifier.jpki.errors import ConfigurationError
from verifier.jpki.ocsp_status import ocsp_status
from verifier.jpki.revocation import RevocationEvidence, RevocationSources, collect_evidence

SignerStatus = Literal[
    "valid", "revoked", "expired", "not_yet_valid", "untrusted", "invalid", "unknown"
]

NO_REVOCATION_INFO: Final = "no CRL/OCSP covers this certificate"

_KEY_USAGE: Final[dict[CertificateKind, set[str]]] = {
    CertificateKind.SIGNATURE: {"digital_signature", "non_repudiation"},
    CertificateKind.USER_AUTHENTICATION: {"digital_signature"},
    CertificateKind.SEAL: {"digital_signature", "non_repudiation"},
    CertificateKind.UNKNOWN: {"digital_signature"},
}
_EXTENDED_KEY_USAGE: Final[dict[CertificateKind, set[str]]] = {
    CertificateKind.USER_AUTHENTICATION: {"client_auth"},  # asn1crypto names, not OIDs
}


@dataclass(frozen=True)
class SignerPolicy:
    """What a signer certificate must satisfy besides a trusted, unrevoked path.

    `require_revocation_info` (default on): with no CRL or OCSP response covering the
    certificate the verdict is "unknown", never a silent "valid". Turn it off only for
    offline previews; revocation evidence that *is* supplied is always honoured.
    """

    allowed_kinds: frozenset[CertificateKind] = frozenset({CertificateKind.SIGNATURE})
    require_revocation_info: bool = True
    enforce_profile: bool = True


@dataclass(frozen=True)
class SignerCheck:
    """The verdict on one signer certificate at one signing time, free of personal data."""

    status: SignerStatus
    reason: str
    kind: CertificateKind
    serial: str
    fingerprint: str
    signing_time: datetime
    chain: tuple[str, ...] = ()
    """SHA-256 fingerprints from the signer up to the trust anchor, when a path was found."""
    revoked_at: datetime | None = None
    revocation_problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    @property
    def trust_anchor(self) -> str | None:
        """Fingerprint of the CA generation that vouched for the signer."""
        return self.chain[-1] if self.chain else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "kind": self.kind.value,
            "serial": self.serial,
            "fingerprint": self.fingerprint,
            "signing_time": self.signing_time.isoformat(),
            "chain": list(self.chain),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_problems": list(self.revocation_problems),
        }


def check_signer(
    cert: JPKICertificate,
    *,
    signing_time: datetime,
    trust_anchors: Sequence[JPKICertificate],
    intermediates: Iterable[JPKICertificate] = (),
    revocation: RevocationSources | None = None,
    policy: SignerPolicy | None = None,
    evidence: RevocationEvidence | None = None,
) -> SignerCheck:
    """Blocking form of `check_signer_async`; do not call it from a running event loop."""
    return asyncio.run(
        check_signer_async(
            cert,
            signing_time=signing_time,
            trust_anchors=trust_anchors,
            intermediates=intermediates,
            revocation=revocation,
            policy=policy,
            evidence=evidence,
        )
    )


async def check_signer_async(
    cert: JPKICertificate,
    *,
    signing_time: datetime,
    trust_anchors: Sequence[JPKICertificate],
    intermediates: Iterable[JPKICertificate] = (),
    revocation: RevocationSources | None = None,
    policy: SignerPolicy | None = None,
    evidence: RevocationEvidence | None = None,
) -> SignerCheck:
    """Judge `cert` at `signing_time` against all configured CA generations.

    Several generations share one DN, so every anchor with the issuer's DN is a candidate and
    the one whose key verifies the signature wins. Revocation is judged at the signing time:
    a certificate revoked after it signed stays valid for that signature, unless it was
    revoked for key compromise or its CRL entry dates its invalidity at or before the signing
    time (a compromised key can claim any signing time; `verifier.jpki.compromise`). Network sources
    in `revocation` are contacted only if configured there. OCSP responses are judged by
    `verifier.jpki.ocsp_status` too, as pyhanko reads them only for certificates with an AIA.

    `evidence` is what `collect_evidence` gathered from `revocation` for this certificate
    and these issuers, collected earlier (the node judges many signing times on one
    collection); when given, `revocation` is not read.
    """
    if signing_time.utcoffset() is None:
        raise ConfigurationError("signing_time must carry a time zone (e.g. UTC)")
    anchors = _checked_anchors(trust_anchors)
    policy = policy or SignerPolicy()
    others = [c for c in intermediates if c != cert]
    verdict = _Verdict(cert, signing_time)

    if (refusal := _refusal(cert, policy, [*anchors, *others])) is not None:
        return verdict(*refusal)

    if evidence is None:
        # Loading files and fetching URLs blocks: keep it off the event loop.
        evidence = await asyncio.to_thread(
            collect_evidence, cert, [*anchors, *others], revocation or RevocationSources()
        )
    verdict.problems = evidence.problems
    strict = _context(signing_time, anchors, others, evidence, require=True)
    outcome = await _validate(cert, strict)
    revocation_waived = False
    by_ocsp: RevokedError | None = None  # OCSP answers only for the signer (ocsp_status)
    lenient_path: ValidationPath | None = None
    if isinstance(outcome, InsufficientRevinfoError) and (
        evidence.ocsp_responses or not policy.require_revocation_info
    ):
        lenient = _context(signing_time, anchors, others, evidence, require=False)
        unchecked = await _validate(cert, lenient)
        if isinstance(unchecked, ValidationPath):
            lenient_path = unchecked
            decided, revocation_waived = await _decide_by_ocsp(
                verdict, cert, unchecked, strict, evidence, policy
            )
            by_ocsp = decided if isinstance(decided, RevokedError) else None
            outcome = decided or outcome
        else:
            outcome = unchecked
    elif isinstance(outcome, ValidationPath) and evidence.ocsp_responses:
        # Valid by CRL; a responder's revocation before the signing time still counts.
        status = await ocsp_status(cert.asn1, outcome, strict)
        if status.revoked is not None:
            outcome = by_ocsp = status.revoked
    if isinstance(outcome, BaseException):
        return _not_validated(verdict, outcome, by_ocsp, lenient_path, evidence)
    if (expired := _anchor_outside_validity(verdict, outcome, anchors)) is not None:
        return expired
    if (compromised := _revoked_before_its_date(verdict, outcome, evidence)) is not None:
        return compromised
    reason = "trusted chain, valid and not revoked at the signing time"
    if revocation_waived:
        reason = f"chain valid at the signing time; revocation NOT checked ({NO_REVOCATION_INFO})"
    return verdict("valid", reason, outcome)


def _not_validated(
    verdict: _Verdict,
    outcome: BaseException,
    by_ocsp: RevokedError | None,
    lenient_path: ValidationPath | None,
    evidence: RevocationEvidence,
) -> SignerCheck:
    """The verdict when the path did not validate at the signing time."""
    if isinstance(outcome, InsufficientRevinfoError) and lenient_path is not None:
        # Undecided at the signing time, yet a revocation that reaches back (key compromise,
        # an invalidity date) still settles it.
        compromised = _revoked_before_its_date(verdict, lenient_path, evidence)
        if compromised is not None:
            return compromised
    # pyhanko reports an OCSP revocation at no position in the path: it is the signer's.
    where = "the signer certificate" if outcome is by_ocsp else None
    return _interpret(verdict, outcome, where)


def _refusal(
    cert: JPKICertificate, policy: SignerPolicy, issuers: Sequence[JPKICertificate]
) -> tuple[SignerStatus, str] | None:
    """Reasons to refuse `cert` before any path building or revocation lookup."""
    if cert.kind not in policy.allowed_kinds:
        allowed = ", ".join(sorted(kind.value for kind in policy.allowed_kinds)) or "none"
        return (
            "invalid",
            f"a {cert.kind.value} certificate is not accepted here (accepted: {allowed})",
        )
    if policy.enforce_profile and (problems := profile_problems(cert)):
        profile = "municipal seal" if cert.kind is CertificateKind.SEAL else "JPKI"
        return "invalid", f"not a {profile} certificate profile: " + "; ".join(problems)
    if (untrusted := _untrusted_issuer(cert, issuers)) is not None:
        return "untrusted", untrusted
    return None


@dataclass
class _Verdict:
    """Builds `SignerCheck`s for one certificate and signing time."""

    cert: JPKICertificate
    signing_time: datetime
    problems: tuple[str, ...] = ()

    def __call__(
        self,
        status: SignerStatus,
        reason: str,
        path: ValidationPath | None = None,
        revoked_at: datetime | None = None,
    ) -> SignerCheck:
        return SignerCheck(
            status=status,
            reason=reason,
            kind=self.cert.kind,
            serial=self.cert.serial_hex,
            fingerprint=self.cert.sha256,
            signing_time=self.signing_time,
            chain=_chain(path),
            revoked_at=revoked_at,
            revocation_problems=self.problems,
        )


def _checked_anchors(trust_anchors: Sequence[JPKICertificate]) -> list[JPKICertificate]:
    if not trust_anchors:
        raise ConfigurationError("no trust anchors configured: give the J-LIS CA certificates")
    for anchor in trust_anchors:
        if not anchor.is_ca:
            raise ConfigurationError(
                f"trust anchor serial 0x{anchor.serial_hex} is not a CA certificate"
            )
    return list(trust_anchors)


def _untrusted_issuer(cert: JPKICertificate, candidates: Sequence[JPKICertificate]) -> str | None:
    """Why no configured CA can have issued `cert`, or None if one's key verifies it.

    Checked before path building so that a CA copying a J-LIS DN gets a plain answer.
    """
    same_name = [c for c in candidates if c.x509.subject == cert.x509.issuer]
    for issuer in same_name:
        try:
            cert.x509.verify_directly_issued_by(issuer.x509)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return None
    if same_name:
        return (
            f"issued in the name of {cert.issuer!r}, but no trusted CA generation with that "
            "name signed it: the issuer is an impostor or the certificate was altered"
        )
    return f"issuer {cert.issuer!r} is not a configured trust anchor or intermediate"


async def _decide_by_ocsp(
    verdict: _Verdict,
    cert: JPKICertificate,
    path: ValidationPath,
    strict: ValidationContext,
    evidence: RevocationEvidence,
    policy: SignerPolicy,
) -> tuple[ValidationPath | Exception | None, bool]:
    """No CRL decided: the OCSP responses may (`verifier.jpki.ocsp_status`).

    Returns the outcome (None: keep the InsufficientRevinfoError found before) and whether
    the revocation check was waived by the policy."""
    if evidence.ocsp_responses:
        status = await ocsp_status(cert.asn1, path, strict)
        if status.good:
            return path, False
        if status.revoked is not None:
            return status.revoked, False
        verdict.problems = (*verdict.problems, *status.problems)
    if not policy.require_revocation_info:
        return path, True
    return None, False


def _context(
    signing_time: datetime,
    anchors: Sequence[JPKICertificate],
    others: Sequence[JPKICertificate],
    evidence: RevocationEvidence,
    *,
    require: bool,
) -> ValidationContext:
    return ValidationContext(
        trust_roots=[anchor.asn1 for anchor in anchors],
        other_certs=[other.asn1 for other in others],
        crls=list(evidence.crls),
        ocsps=list(evidence.ocsp_responses),
        moment=signing_time,
        retroactive_revinfo=True,
        allow_fetching=False,  # our own fetching already ran, only where configured
        revocation_mode="require" if require else "none",
    )


async def _validate(
    cert: JPKICertificate, context: ValidationContext
) -> ValidationPath | Exception:
    """The validated path, or the exception that stopped validation."""
    try:
        validator = CertificateValidator(cert.asn1, validation_context=context)
        path = await validator.async_validate_path()
        # What CertificateValidator.async_validate_usage does, through the typed function.
        validate_usage(
            cert.asn1,
            _KEY_USAGE[cert.kind],
            _EXTENDED_KEY_USAGE.get(cert.kind, set()),
            extended_optional=False,
        )
        return path
    except Exception as exc:  # every library failure becomes a verdict, never escapes
        return exc


def _anchor_outside_validity(
    verdict: _Verdict, path: ValidationPath, anchors: Sequence[JPKICertificate]
) -> SignerCheck | None:
    """RFC 5280 leaves trust-anchor validity to the relying party; a CA generation's key
    must not vouch for signatures made outside the CA certificate's own validity."""
    chain = _chain(path)
    anchor = next((a for a in anchors if chain and a.sha256 == chain[-1]), None)
    when = verdict.signing_time
    if anchor is None:
        return None
    if when > anchor.not_after:
        return verdict(
            "expired",
            f"a CA certificate in the path expired on {anchor.not_after.isoformat()}, "
            f"before the signing time {when.isoformat()}",
            path,
        )
    if when < anchor.not_before:
        return verdict(
            "not_yet_valid",
            f"a CA certificate in the path only became valid on "
            f"{anchor.not_before.isoformat()}, after the signing time {when.isoformat()}",
            path,
        )
    return None


def _revoked_before_its_date(
    verdict: _Verdict, path: ValidationPath, evidence: RevocationEvidence
) -> SignerCheck | None:
    """A revocation dated after the signing time that still counts: key compromise, or an
    invalidity date at or before the signing time (`verifier.jpki.compromise`)."""
    try:
        certs = [
            x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)
        ]
    except (AttributeError, TypeError, ValueError):
        return None
    # Root first; check the signer before the CAs, as its revocation is the one to report.
    for position in range(len(certs) - 1, 0, -1):
        listing = backdated_revocation(
            certs[position],
            certs[position - 1],
            verdict.signing_time,
            evidence.crls,
            evidence.ocsp_responses,
        )
        if listing is not None:
            whose = (
                "the signer certificate"
                if position == len(certs) - 1
                else "a CA certificate in the path"
            )
            return verdict(
                "revoked",
                listing.describe(whose, verdict.signing_time),
                path,
                listing.revoked_at,
            )
    return None


def _interpret(  # noqa: PLR0911
    verdict: _Verdict, outcome: BaseException, where: str | None = None
) -> SignerCheck:
    path = outcome.original_path if isinstance(outcome, PathValidationError) else None
    where = where or _position(outcome)
    when = verdict.signing_time.isoformat()
    if isinstance(outcome, RevokedError):
        revoked_at = outcome.revocation_dt
        return verdict(
            "revoked",
            f"{where} was revoked on {revoked_at.isoformat()} "
            f"({outcome.reason.human_friendly}), before the signing time {when}",
            path,
            revoked_at,
        )
    if isinstance(outcome, ExpiredError):
        return verdict(
            "expired",
            f"{where} expired on {outcome.expired_dt.isoformat()}, before the signing time {when}",
            path,
        )
    if isinstance(outcome, NotYetValidError):
        return verdict(
            "not_yet_valid",
            f"{where} only became valid on {outcome.valid_from.isoformat()}, "
            f"after the signing time {when}",
            path,
        )
    if isinstance(outcome, InsufficientRevinfoError):
        reason = f"{NO_REVOCATION_INFO} at the signing time {when}"
        if verdict.problems:
            reason += "; sources that failed: " + "; ".join(verdict.problems)
        return verdict("unknown", reason, path)
    if isinstance(outcome, PathBuildingError):
        return verdict("untrusted", "no path to a configured trust anchor", path)
    if isinstance(outcome, DisallowedAlgorithmError):
        return verdict("invalid", f"{where} uses an algorithm that is not accepted", path)
    if isinstance(outcome, PathValidationError):
        if "signature" in str(outcome):
            return verdict("untrusted", f"the signature on {where} does not verify", path)
        return verdict("invalid", f"the certificate path failed validation at {where}", path)
    if isinstance(outcome, InvalidCertificateError):
        required = ", ".join(sorted(_KEY_USAGE[verdict.cert.kind]))
        return verdict("invalid", f"certificate is not valid for the required usage ({required})")
    if isinstance(outcome, ValidationError):
        return verdict("invalid", "certificate validation failed")
    return verdict(
        "unknown", f"validation could not complete ({type(outcome).__name__}); try again later"
    )


def _position(exc: BaseException) -> str:
    if isinstance(exc, PathValidationError) and not exc.is_ee_cert:
        return "a CA certificate in the path"
    return "the signer certificate"


def _chain(path: ValidationPath | None) -> tuple[str, ...]:
    if path is None:
        return ()
    try:
        certs: list[asn1_x509.Certificate] = list(path.iter_certs(include_root=True))
    except (AttributeError, TypeError, ValueError):
        return ()
    return tuple(hashlib.sha256(c.dump()).hexdigest() for c in reversed(certs))
