"""Revision 1 of a sealed PDF: the issuer's PDF signed with the municipality's seal (PAdES).

The seal is a pyHanko signature with /SubFilter /ETSI.CAdES.detached, SHA-256, RSA PKCS#1
v1.5, the seal certificate and its CA embedded, and a visible stamp (one ASCII line naming the
municipality and the verification page, and a QR code of that page) drawn in the signed
revision so that it cannot be altered later. Its CMS carries a signingTime attribute although
PAdES baseline omits it: the log's entry, and every verifier, judge the signer at that time
(docs/PROTOCOL.md, "The sealed PDF").
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.signers.pdf_cms import CAdESSignedAttributeProviderSpec, PdfCMSSignedAttributes
from pyhanko.stamp import QRStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from protocol.sealed_pdf import SEAL_FIELD_NAME
from verifier.pdf import PdfContainerError, read_signed_pdf

STAMP_BOX = (36, 24, 436, 84)
"""Where the stamp goes on the first page (points from the bottom left): a 400x60 strip."""
SIGNATURE_SPACE = 24 * 1024
"""Bytes reserved in /Contents for the CMS (seal and CA certificates, no timestamps)."""


class SealingError(Exception):
    """The PDF cannot be sealed, or the seal key or certificate cannot be used."""


@dataclass(frozen=True)
class SealIdentity:
    """The municipality's seal: its RSA key and certificate, the CA certificates to embed, and
    what the stamp says (ASCII: the stamp uses a standard font)."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    issuer_label: str

    @staticmethod
    def certificate_of(cert_file: Path) -> x509.Certificate:
        """The seal certificate: the first in `cert_file`."""
        return _load_certificates(cert_file)[0]

    @classmethod
    def from_files(
        cls, key_file: Path, cert_file: Path, chain_files: tuple[Path, ...], issuer_label: str
    ) -> SealIdentity:
        key = _load_key(key_file)
        certificate, *rest = _load_certificates(cert_file)
        chain = [*rest, *(c for path in chain_files for c in _load_certificates(path))]
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != (
            key.public_key().public_numbers()
        ):
            raise SealingError(f"{key_file} is not the key of the certificate in {cert_file}")
        if not issuer_label.isascii() or not issuer_label.strip():
            raise SealingError("the stamp's issuer label must be non-empty ASCII")
        return cls(key, certificate, tuple(chain), issuer_label.strip())


def seal_pdf(document: bytes, seal: SealIdentity, verify_url: str) -> bytes:
    """`document` with the seal appended as an incremental update (revision 1 of the sealed
    PDF). Refuses encrypted PDFs, PDFs already signed and PDFs that carry embedded files."""
    if not verify_url.isascii() or not verify_url.startswith(("http://", "https://")):
        raise SealingError("the verification page URL must be an ASCII http(s) URL")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(document), strict=True)
        _check_sealable(writer)
        signer = _signer(seal)
        metadata = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD_NAME,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason="Issued and sealed by the municipality",
        )
        stamp = QRStampStyle(
            stamp_text=f"Issued by {seal.issuer_label}. Verify: %(url)s",
            border_width=0,
        )
        pdf_signer = signers.PdfSigner(
            metadata,
            signer=signer,
            stamp_style=stamp,
            new_field_spec=SigFieldSpec(SEAL_FIELD_NAME, on_page=0, box=STAMP_BOX),
        )
        out = io.BytesIO()
        pdf_signer.sign_pdf(
            writer,
            output=out,
            appearance_text_params={"url": verify_url},
            bytes_reserved=SIGNATURE_SPACE,
        )
    except SealingError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SealingError(f"cannot seal this PDF: {_short(exc)}") from None
    sealed = out.getvalue()
    try:
        read_signed_pdf(sealed)  # what every verifier will check: fail here, not there
    except PdfContainerError as exc:
        raise SealingError(f"the sealed PDF does not meet the container rules: {exc}") from None
    return sealed


def _check_sealable(writer: IncrementalPdfFileWriter) -> None:
    if writer.prev.encrypted:
        raise SealingError("the PDF is encrypted; seal an unencrypted PDF")
    if writer.prev.embedded_signatures:
        raise SealingError("the PDF is signed already; seal the unsigned original")
    root = writer.root
    names = root.get("/Names")
    if "/AF" in root or (names is not None and "/EmbeddedFiles" in names.get_object()):
        raise SealingError(
            "the PDF carries embedded files; the sealed PDF may carry only its bundle"
        )


def _signer(seal: SealIdentity) -> signers.SimpleSigner:
    cert = asn1_x509.Certificate.load(seal.certificate.public_bytes(serialization.Encoding.DER))
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in seal.chain
    ]
    key = asn1_keys.PrivateKeyInfo.load(
        seal.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return _SealSigner(
        signing_cert=cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([cert, *chain]),
    )


class _SealSigner(signers.SimpleSigner):
    """pyHanko's PAdES attributes omit signingTime; this keeps the CAdES set (ESS
    signingCertificateV2 and signingTime, the same moment as the signature's /M) so the seal
    carries the signed time the log and every verifier judge the seal certificate at."""

    def _signed_attr_provider_spec(
        self,
        attr_settings: PdfCMSSignedAttributes,
        timestamper: Any = None,
        use_cades: bool = False,
        is_pdf_sig: bool = True,
    ) -> CAdESSignedAttributeProviderSpec:
        assert self.signing_cert is not None  # set by the constructor
        return CAdESSignedAttributeProviderSpec(
            attr_settings=attr_settings,
            signing_cert=self.signing_cert,
            is_pades=False,
            timestamper=timestamper,
        )


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SealingError(f"cannot read the seal key {path}: {exc.strerror}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (TypeError, ValueError):
        raise SealingError(f"{path} is not an unencrypted PEM or DER private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealingError(f"{path} is not an RSA key")
    return key


def _load_certificates(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SealingError(f"cannot read the certificate file {path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            found = x509.load_pem_x509_certificates(data)
        else:
            found = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise SealingError(f"{path} holds no PEM or DER certificate") from None
    if not found:
        raise SealingError(f"{path} holds no certificate")
    return found


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
