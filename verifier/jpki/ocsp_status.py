"""What the OCSP responses say about a signer on a validated path, judged by pyhanko.

pyhanko-certvalidator consults OCSP during path validation only for a certificate whose
Authority Information Access names a responder; JPKI signature certificates name none, yet
J-LIS answers for them to registered parties. So the verifier asks pyhanko's own RFC 6960
check (`verify_ocsp_response`) directly, on the path it validated: responder identity (the CA,
or a certificate the CA issued with id-kp-OCSPSigning), signature, CertID (issuer name and key
hash, serial), and a thisUpdate/nextUpdate window that covers the signing time (the context's
moment). Nothing here parses OCSP by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    OCSPNoMatchesError,
    OCSPValidationError,
    OCSPValidationIndeterminateError,
    RevokedError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.revinfo.validate_ocsp import verify_ocsp_response

NOT_FOR_THIS_CERTIFICATE: Final = "no OCSP response is about this certificate"
NOT_GOOD_AT_SIGNING_TIME: Final = (
    "no OCSP response says the certificate was good at the signing time (an 'unknown' "
    "answer, or a revocation dated after the signing time, decides nothing here)"
)

# pyhanko's failure messages, in our words: its own text is never passed on (some of its
# messages name the certificate's subject, which names the holder's municipality).
_FAILURES: Final = (
    ("signature", "its signature does not verify (altered, or not signed by its responder)"),
    ("unauthorized", "it is signed neither by the CA nor by a responder the CA authorised"),
    ("could not be located", "its responder certificate is missing"),
    ("could not be validated", "its responder certificate is not valid for the CA"),
    ("not recent enough", "it is too old: its nextUpdate is before the signing time"),
    ("too recent", "it was produced after the signing time"),
    ("freshness", "its thisUpdate/nextUpdate cannot be judged"),
    ("does not match", "it answers for another certificate (CertID mismatch)"),
)


@dataclass(frozen=True)
class OCSPStatus:
    """`good`, or `revoked` (the library's error, for the verdict), or why neither."""

    good: bool = False
    revoked: RevokedError | None = None
    problems: tuple[str, ...] = ()


async def ocsp_status(
    cert: asn1_x509.Certificate, path: ValidationPath, context: ValidationContext
) -> OCSPStatus:
    """Judge the context's OCSP responses for `cert` (the leaf of `path`) at its moment."""
    try:
        await verify_ocsp_response(cert, path, context)
    except RevokedError as revoked:
        return OCSPStatus(revoked=revoked)
    except OCSPNoMatchesError:
        return OCSPStatus(problems=(NOT_FOR_THIS_CERTIFICATE,))
    except OCSPValidationIndeterminateError as undecided:
        reasons = _reasons(failure[0] for failure in undecided.failures)
        return OCSPStatus(problems=reasons or (NOT_GOOD_AT_SIGNING_TIME,))
    except (OCSPValidationError, ValueError):
        return OCSPStatus(problems=("an OCSP response could not be processed",))
    return OCSPStatus(good=True)


def _reasons(messages: Iterable[object]) -> tuple[str, ...]:
    reasons: list[str] = []
    for message in messages:
        text = str(message)
        reason = next((ours for key, ours in _FAILURES if key in text), "it cannot be used")
        if f"OCSP response: {reason}" not in reasons:
            reasons.append(f"OCSP response: {reason}")
    return tuple(reasons)
