"""The OCSP client side: ask a responder about one certificate, and read supplied responses.

Only the transport and the replay defence live here. Whether a response is genuine (signed by
the CA or by a responder it delegated with id-kp-OCSPSigning), answers for this certificate
(CertID) and covers the signing time (thisUpdate/nextUpdate) is judged by
pyhanko-certvalidator in `verifier.jpki.validation`, like CRLs.

A response fetched online must echo the nonce of our request (RFC 8954): otherwise anyone on
the path could replay an old "good" answer signed before a revocation. A response handed over
as evidence (a file, a proof bundle) has no request to echo; its thisUpdate/nextUpdate window
around the signing time is what makes it count.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from verifier.jpki.certificates import JPKICertificate
from verifier.jpki.errors import RevocationSourceError

MAX_OCSP_BYTES: Final = 1024 * 1024
NONCE_BYTES: Final = 32
"""RFC 8954: between 1 and 32 octets; the most unpredictable allowed."""

Transport = Callable[[str, bytes], bytes]
"""POSTs an `application/ocsp-request` body to a URL and returns the response body."""


def parse_ocsp_response(data: bytes) -> bytes:
    """Check that `data` is a successful OCSP response; the validator checks its signature."""
    try:
        response = asn1_ocsp.OCSPResponse.load(data)
        status = response["response_status"].native
    except (ValueError, TypeError):
        raise RevocationSourceError("not a DER OCSP response") from None
    if status != "successful":
        raise RevocationSourceError(f"OCSP responder answered {status!r}")
    try:
        response.basic_ocsp_response  # noqa: B018 - parses the body; raises if malformed
    except (ValueError, TypeError, KeyError):
        raise RevocationSourceError("not a basic OCSP response") from None
    return data


def build_request(cert: JPKICertificate, issuer: JPKICertificate, nonce: bytes | None) -> bytes:
    """An RFC 6960 request for `cert` as issued by `issuer`, with `nonce` if given."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        # SHA-1 only names the certificate in the CertID (RFC 6960 default); no security role.
        cert.x509,
        issuer.x509,
        hashes.SHA1(),  # noqa: S303
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def fetch_ocsp(
    cert: JPKICertificate,
    issuer: JPKICertificate,
    url: str,
    transport: Transport,
    *,
    require_nonce: bool = True,
) -> bytes:
    """Ask the responder at `url` about `cert`; refuse an answer that does not echo our nonce."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = parse_ocsp_response(transport(url, build_request(cert, issuer, nonce)))
    echoed = response_nonce(body)
    if echoed is None and require_nonce:
        raise RevocationSourceError(
            "the response does not echo the request's nonce, so it may be a replayed old "
            "answer (if this responder never sends nonces, allow that explicitly)"
        )
    if echoed is not None and echoed != nonce:
        raise RevocationSourceError(
            "the response carries another request's nonce: a replayed or misrouted answer"
        )
    return body


def response_nonce(der: bytes) -> bytes | None:
    """The nonce a successful response carries, or None."""
    try:
        extension = ocsp.load_der_ocsp_response(der).extensions.get_extension_for_class(
            x509.OCSPNonce
        )
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise RevocationSourceError("the response's extensions cannot be read") from None
    return extension.value.nonce
