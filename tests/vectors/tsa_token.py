"""A test time-stamping authority for the version-3 vectors: RFC 3161 tokens made at
vector-generation time, byte for byte the same at every run.

The keys are derived from fixed labels (as the synthetic chain's Clique signers are, in
tests/vectors/evidence_chain.py): they are test keys, public by construction, trusted by the
v3 trust root only. Certificates and tokens are signed with deterministic ECDSA (RFC 6979),
every field is fixed, and the token is assembled with asn1crypto in DER (signed attributes in
SET OF order), so `make_vectors --check` can compare it. `TestTsa.token` makes a token as a TSA
would (devtools/tsa.py runs OpenSSL's): TSTInfo in SignedData, the TSA certificate embedded,
signed attributes contentType, messageDigest and ESS signingCertificateV2 naming the TSA
certificate by its SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devtools.tsa import key_usage

TSA_POLICY = "1.3.6.1.4.1.32473.1.1"
"""The test TSA's policy OID (devtools.tsa.DEV_POLICY: the documentation arc of RFC 5612)."""
VALID_FROM = datetime(2025, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2035, 1, 1, tzinfo=UTC)


def _key(label: str) -> ec.EllipticCurvePrivateKey:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    secret = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(secret, ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "municipal-notary TEST"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class TestTsa:
    """A test CA and a TSA certificate under it. `eku` is the TSA certificate's extended key
    usage (timeStamping, critical, as RFC 3161 §2.3 requires; another for a refused one)."""

    label: str
    serial: int
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.TIME_STAMPING

    __test__ = False  # not a pytest class

    @cached_property
    def _ca_key(self) -> ec.EllipticCurvePrivateKey:
        return _key(f"vector TSA CA {self.label}")

    @cached_property
    def _tsa_key(self) -> ec.EllipticCurvePrivateKey:
        return _key(f"vector TSA {self.label} {self.serial}")

    @cached_property
    def ca(self) -> x509.Certificate:
        name = _name(f"{self.label} TEST TSA CA")
        public = self._ca_key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(self.serial)
            .not_valid_before(VALID_FROM)
            .not_valid_after(VALID_UNTIL)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._ca_key, hashes.SHA256(), ecdsa_deterministic=True)
        )

    @cached_property
    def certificate(self) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(f"{self.label} TEST TSA"))
            .issuer_name(self.ca.subject)
            .public_key(self._tsa_key.public_key())
            .serial_number(self.serial + 1)
            .not_valid_before(VALID_FROM)
            .not_valid_after(VALID_UNTIL)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([self.eku]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256(), ecdsa_deterministic=True)
        )

    @property
    def ca_der(self) -> bytes:
        return self.ca.public_bytes(Encoding.DER)

    def token(self, digest: bytes, gen_time: datetime, serial_number: int) -> bytes:
        """A DER TimeStampToken over the SHA-256 `digest`, stamped `gen_time`."""
        info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": TSA_POLICY,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": digest,
                },
                "serial_number": serial_number,
                "gen_time": gen_time,
            }
        ).dump()
        cert = asn1_x509.Certificate.load(self.certificate.public_bytes(Encoding.DER))
        attributes = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(info).digest()]}),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "cert_hash": hashlib.sha256(cert.dump()).digest(),
                                    "issuer_serial": {
                                        "issuer": [
                                            asn1_x509.GeneralName(
                                                name="directory_name", value=cert.issuer
                                            )
                                        ],
                                        "serial_number": cert.serial_number,
                                    },
                                }
                            ]
                        }
                    ],
                }
            ),
        ]
        # DER: a SET OF is in the order of its elements' encodings.
        attributes.sort(key=lambda a: a.dump())
        signed_attrs = cms.CMSAttributes(attributes)
        signature = self._tsa_key.sign(
            signed_attrs.dump(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        )
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": cert.issuer, "serial_number": cert.serial_number},
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": signature,
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(info),
                },
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())
