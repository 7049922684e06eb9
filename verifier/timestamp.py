"""RFC 3161 timestamp tokens over tree heads, verified offline with Trail of Bits'
`rfc3161-client` (the library sigstore-python verifies its timestamps with).

A token says that a TSA saw a digest at `genTime`. Over a head, the digest is
`protocol.signed_head.head_timestamp_digest` (SHA-256 over the head's EIP-712 signed-head
bytes). A token is accepted when: it parses (at most `MAX_TOKEN_BYTES`); its imprint is SHA-256
and equals that digest; its CMS signature verifies with the TSA certificate it names; that
certificate chains to one of the given trust anchors with every certificate valid *at
genTime* (a token stays verifiable for as long as its algorithms hold, after the TSA's
certificate expires); the TSA certificate carries extendedKeyUsage timeStamping, critical
(RFC 3161 §2.3); and the signed ESS signingCertificate(V2) attribute names that certificate
(checked here: the library does not). A policy OID and a nonce are checked when given.
Pure apart from the clock-free library calls: the node checks what it receives with the same
functions (`node/timestamping.py`), and the bundle's verifier will.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from asn1crypto import cms, core, tsp
from cryptography import x509
from rfc3161_client import (
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from protocol.signed_head import head_timestamp_digest
from verifier.errors import VerifierError

MAX_TOKEN_BYTES: Final = 64 * 1024
"""A token is a few kilobytes (the TSA's certificate chain is the bulk); parsing stops here."""
SHA256_OID: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
# TimeStampResp { status PKIStatusInfo { granted(0) } }: what wraps a stored token back into the
# response form the library verifies (RFC 3161 §2.4.2).
_GRANTED_STATUS: Final = bytes.fromhex("3003020100")


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2, with the token optional (asn1crypto's `tsp.TimeStampResp` requires it,
    so a refusal would not parse)."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampError(VerifierError):
    """A timestamp token is malformed, does not cover the head, or is not from a trusted TSA."""


@dataclass(frozen=True)
class TimestampFacts:
    """What a verified token establishes."""

    gen_time: datetime
    """When the TSA saw the digest (UTC)."""
    digest: bytes
    policy: str
    serial_number: int
    tsa: str
    """The TSA certificate's subject (RFC 4514)."""


def verify_head_timestamp(
    token: bytes,
    *,
    chain_id: int,
    registry: str,
    node: str,
    seq: int,
    tree_size: int,
    root: bytes,
    trust_anchors: Sequence[x509.Certificate],
    policy: str | None = None,
) -> TimestampFacts:
    """Verify `token` (DER TimeStampToken) over the head `(node, seq, tree_size, root)` of
    `registry` on `chain_id`; raise `TimestampError` saying what failed."""
    digest = head_timestamp_digest(
        chain_id=chain_id, registry=registry, node=node, seq=seq, tree_size=tree_size, root=root
    )
    return verify_timestamp_token(token, digest, trust_anchors, policy=policy)


def verify_timestamp_token(
    token: bytes,
    digest: bytes,
    trust_anchors: Sequence[x509.Certificate],
    *,
    policy: str | None = None,
    nonce: int | None = None,
) -> TimestampFacts:
    """Verify `token` (DER TimeStampToken) over the SHA-256 `digest`."""
    if not trust_anchors:
        raise TimestampError("no TSA trust anchors given: a token cannot be trusted")
    if len(digest) != 32:
        raise TimestampError("the digest to check must be 32 bytes (SHA-256)")
    response = _as_response(token)
    try:
        info = response.tst_info
        imprint = info.message_imprint
        algorithm, message = imprint.hash_algorithm, imprint.message
    except ValueError as error:
        raise TimestampError(f"the timestamp token cannot be read: {error}") from None
    # Checked first and apart: the library's own message does not say which digest it found.
    if algorithm != SHA256_OID:
        raise TimestampError(
            f"the token's imprint uses hash {algorithm.dotted_string}, not SHA-256"
        )
    if message != digest:
        raise TimestampError(
            f"the token covers digest {message.hex()}, not the expected {digest.hex()}"
        )
    builder = VerifierBuilder()
    for anchor in trust_anchors:
        builder = builder.add_root_certificate(anchor)
    if policy is not None:
        builder = builder.policy_id(x509.ObjectIdentifier(policy))
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify(response, digest)
    except VerificationError as error:
        raise TimestampError(f"the timestamp token is not valid: {_reason(error)}") from None
    except ValueError as error:  # malformed parts met while verifying
        raise TimestampError(f"the timestamp token cannot be read: {error}") from None
    # The library does not check this (RFC 2634 §5.4, RFC 5816): the signed attributes name
    # the signer's certificate by hash, so no other certificate for the same key can stand in.
    _check_signing_certificate(token)
    return TimestampFacts(
        gen_time=info.gen_time,
        digest=message,
        policy=info.policy.dotted_string,
        serial_number=info.serial_number,
        tsa=_signer_subject(response),
    )


def token_from_reply(answer: bytes) -> bytes:
    """The token (DER, certificates in DER order) of a TSA's TimeStampResp; `TimestampError`
    if the answer is not one, or the TSA did not grant the request. Nothing is verified."""
    if len(answer) > MAX_TOKEN_BYTES:
        raise TimestampError(f"the TSA's answer is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        response = _TimeStampResp.load(answer, strict=True)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            texts = response["status"]["status_string"].native or ["no reason given"]
            raise TimestampError(f"the TSA refused ({status}): {'; '.join(texts)}")
        token = response["time_stamp_token"]
        if isinstance(token, core.Void):
            raise TimestampError("the TSA granted the request but sent no token")
        return der_token(token.dump())
    except (ValueError, TypeError, KeyError) as error:
        raise TimestampError(f"the TSA's answer is not a TimeStampResp: {error}") from None


def der_token(token: bytes) -> bytes:
    """`token` with its SignedData's certificates in DER order (SET OF sorted).

    OpenSSL's `ts -reply` (like other TSAs) writes them in the order it added them; the
    library, reading strict DER, refuses that. The certificate set lies outside what the TSA
    signs, so sorting it changes no signed byte; everything else is kept byte for byte."""
    try:
        info = cms.ContentInfo.load(token, strict=True)
        signed = info["content"]
        certificates = signed["certificates"]
        if certificates.native is None:
            return token
        signed["certificates"] = cms.CertificateSet(list(certificates))
        return bytes(info.dump())
    except (ValueError, TypeError, KeyError) as error:
        raise TimestampError(f"not a DER RFC 3161 TimeStampToken: {error}") from None


def token_digest(token: bytes) -> bytes:
    """The message imprint a token carries (unverified), to tell which head it was made for."""
    return _as_response(token).tst_info.message_imprint.message


def _as_response(token: bytes) -> TimeStampResponse:
    if len(token) > MAX_TOKEN_BYTES:
        raise TimestampError(f"a timestamp token is at most {MAX_TOKEN_BYTES} bytes")
    body = _GRANTED_STATUS + der_token(token)
    try:
        return decode_timestamp_response(_der_sequence(body))
    except ValueError as error:
        raise TimestampError(f"not a DER RFC 3161 TimeStampToken: {error}") from None


def _der_sequence(content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return b"\x30" + bytes([length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(encoded)]) + encoded + content


def _check_signing_certificate(token: bytes) -> None:
    try:
        signed = cms.ContentInfo.load(der_token(token))["content"]
        signer = signed["signer_infos"][0]
        sid = signer["sid"].chosen
        certificate = next(
            c.chosen
            for c in signed["certificates"]
            if c.name == "certificate"
            and c.chosen.issuer == sid["issuer"]
            and c.chosen.serial_number == sid["serial_number"].native
        )
        ids: list[tuple[str, bytes]] = []
        for attribute in signer["signed_attrs"]:
            kind = attribute["type"].native
            if kind == "signing_certificate_v2":
                for cert_id in attribute["values"][0]["certs"]:
                    ids.append(
                        (cert_id["hash_algorithm"]["algorithm"].native, cert_id["cert_hash"].native)
                    )
            elif kind == "signing_certificate":
                for cert_id in attribute["values"][0]["certs"]:
                    ids.append(("sha1", cert_id["cert_hash"].native))
    except (ValueError, TypeError, KeyError, IndexError, StopIteration) as error:
        raise TimestampError(f"the token's signer certificate cannot be found: {error!r}") from None
    if not ids:
        raise TimestampError(
            "the token does not name its signer's certificate (ESS signingCertificate)"
        )
    # The first ESSCertID is the signer's (RFC 2634 §5.4).
    algorithm, cert_hash = ids[0]
    if algorithm not in ("sha1", "sha256", "sha384", "sha512"):
        raise TimestampError(f"the token names its certificate by an unknown hash {algorithm}")
    if hashlib.new(algorithm, certificate.dump()).digest() != cert_hash:
        raise TimestampError(
            "the token's signed attributes name another certificate than the one it is signed with"
        )


def _signer_subject(response: TimeStampResponse) -> str:
    signer = next(iter(response.signed_data.signer_infos))
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
            return cert.subject.rfc4514_string()
    return signer.issuer.rfc4514_string()


def _reason(error: VerificationError) -> str:
    """The library's reason; OpenSSL's error stack (its source files and line numbers) read as
    what failed: the TSA certificate's chain at genTime (OpenSSL's verify error), or the CMS
    signature (the outermost reason), as the verification page says it too."""
    text = str(error).rstrip(".") or type(error).__name__
    if "ErrorStack(" not in text:
        return text
    chain = re.search(r'data: "Verify error: ([^"]*)"', text)
    if chain:
        return f"the TSA certificate does not chain to a TSA of the trust root: {chain.group(1)}"
    # The innermost PKCS7 reason says what failed ("digest failure", "signature failure");
    # PKCS7_verify wraps them all as a signature failure.
    reason = re.search(r'library: "PKCS7 routines"[^}]*?reason: "([^"]*)"', text)
    if reason:
        return f"the CMS signature does not verify ({reason.group(1)})"
    return text
