"""Make card-like CMS signatures with a software key, for tests and demonstrations.

It produces exactly what `signatures.verify_cms` expects from My Number card middleware:
RSA PKCS#1 v1.5 over the DER signed attributes (contentType, signingTime, messageDigest),
the signer identified by issuer and serial, signer and CA certificates embedded. A real
citizen's signature is made by the card; this module never touches one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from verifier.jpki.errors import JPKIError

_UTC_TIME_YEARS = range(1950, 2050)
"""RFC 5652 §11.3: signingTime uses UTCTime in these years, GeneralizedTime otherwise."""


def sign_cms(
    content: bytes,
    *,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    signing_time: datetime | None = None,
    attach: bool = False,
    identify_by: Literal["issuer_serial", "key_id"] = "issuer_serial",
) -> bytes:
    """DER ContentInfo(SignedData) over `content`, detached unless `attach`.

    `identify_by="key_id"` names the signer by subject key identifier (CMS v3) instead of
    issuer and serial, as some middleware does.
    """
    when = (signing_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    signer = _asn1(cert)
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [_time(when)]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [_sha256(content)]},
            ),
        ]
    )
    signature = sign_raw(signed_attrs.dump(), key)
    if identify_by == "key_id":
        sid = cms.SignerIdentifier({"subject_key_identifier": signer.key_identifier})
    else:
        sid = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": signer.issuer, "serial_number": signer.serial_number}
                )
            }
        )
    signer_info = cms.SignerInfo(
        {
            "version": "v3" if identify_by == "key_id" else "v1",
            "sid": sid,
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3" if identify_by == "key_id" else "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "data",
                "content": content if attach else None,
            },
            "certificates": [signer, *(_asn1(c) for c in chain)],
            "signer_infos": [signer_info],
        }
    )
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    der: bytes = info.dump()
    return der


def sign_raw(data: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """RSA PKCS#1 v1.5 over the SHA-256 DigestInfo of `data`: what the card computes."""
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def load_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """An unencrypted PEM or DER RSA private key, e.g. one written by the test CA."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise JPKIError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise JPKIError(f"{path}: the key is encrypted; give an unencrypted test key") from None
    except ValueError:
        raise JPKIError(f"{path}: not a PEM or DER private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise JPKIError(f"{path}: not an RSA key (JPKI cards use RSA-2048)")
    return key


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _time(when: datetime) -> cms.Time:
    if when.year in _UTC_TIME_YEARS:
        return cms.Time({"utc_time": core.UTCTime(when)})
    return cms.Time({"general_time": core.GeneralizedTime(when)})


def _sha256(content: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(content)
    return digest.finalize()
