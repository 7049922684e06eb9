"""RFC 3161 timestamps over heads, against a real TSA: OpenSSL's `ts -reply` over HTTP
(devtools/tsa.py), started by the test. The node's client asks, the verifier checks; wrong
imprints, tampered tokens, untrusted, expired and wrong-purpose TSAs are refused; slow,
oversized and absent TSAs are cut off."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from eth_account import Account
from eth_account.messages import encode_typed_data

from anchor.signing import head_typed_data
from devnet.ports import free_port
from devtools.tsa import (
    DEV_POLICY,
    MAX_QUERY_BYTES,
    TimestampAuthority,
    TsaFiles,
    generate_tsa,
    running_tsa,
)
from node.models import HeadTimestamp
from node.timestamping import TimestampingError, TsaClient, load_tsa_anchors
from protocol.signed_head import head_timestamp_digest, signed_head_bytes
from verifier.timestamp import (
    TimestampError,
    der_token,
    token_digest,
    verify_head_timestamp,
    verify_timestamp_token,
)

DER = serialization.Encoding.DER
NODE = Account.from_key(b"\x01" * 32).address
HEAD = {
    "chain_id": 1337,
    "registry": "0x" + "ab" * 20,
    "node": NODE,
    "seq": 7,
    "tree_size": 1234,
    "root": hashlib.sha256(b"root").digest(),
}


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    with running_tsa(tmp_path_factory.mktemp("tsa")) as authority:
        yield authority


@pytest.fixture(scope="module")
def anchors(tsa: TimestampAuthority) -> list[x509.Certificate]:
    return load_tsa_anchors(tsa.files.trust_anchor)


@pytest.fixture(scope="module")
def token(tsa: TimestampAuthority, anchors: list[x509.Certificate]) -> bytes:
    return TsaClient(tsa.url, anchors).stamp(signed_head_bytes(**HEAD)).token  # type: ignore[arg-type]


def stamp_with(files: TsaFiles) -> bytes:
    """A token over HEAD from a TSA with `files`, checked against its own CA (so the test
    reaches the verifier only with what a TSA really issued)."""
    with TimestampAuthority(files) as authority:
        client = TsaClient(authority.url, load_tsa_anchors(files.trust_anchor))
        query = signed_head_bytes(**HEAD)  # type: ignore[arg-type]
        return client._post(_query(query))  # the raw reply: verified by the test


def _query(message: bytes) -> bytes:
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    return (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .build()
        .as_bytes()
    )


# ---------------------------------------------------------------------- what is stamped


def test_signed_head_bytes_are_what_the_node_key_signs() -> None:
    signable = encode_typed_data(full_message=head_typed_data(**HEAD))  # type: ignore[arg-type]
    expected = b"\x19" + signable.version + signable.header + signable.body
    assert signed_head_bytes(**HEAD) == expected  # type: ignore[arg-type]
    assert head_timestamp_digest(**HEAD) == hashlib.sha256(expected).digest()  # type: ignore[arg-type]
    # The vector of docs/PROTOCOL.md, section 5.2.
    assert head_timestamp_digest(**HEAD).hex() == (  # type: ignore[arg-type]
        "f920cc4d0b331eabb0565b4b2ea85d3032c059ce29dba34855ea6411c0affab7"
    )
    # Every field of the head, and its domain, changes the imprint.
    for field, other in [
        ("chain_id", 1338),
        ("registry", "0x" + "ac" * 20),
        ("node", Account.from_key(b"\x02" * 32).address),
        ("seq", 8),
        ("tree_size", 1235),
        ("root", bytes(32)),
    ]:
        assert head_timestamp_digest(**(HEAD | {field: other})) != head_timestamp_digest(**HEAD)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- issued and verified


def test_token_issued_over_http_and_verified(
    tsa: TimestampAuthority, anchors: list[x509.Certificate], token: bytes
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    facts = verify_head_timestamp(token, **HEAD, trust_anchors=anchors, policy=DEV_POLICY)  # type: ignore[arg-type]
    assert before <= facts.gen_time <= datetime.now(UTC) + timedelta(seconds=5)
    assert facts.digest == head_timestamp_digest(**HEAD)  # type: ignore[arg-type]
    assert facts.policy == DEV_POLICY and facts.tsa == "CN=Notary DEV TSA"
    assert token_digest(token) == facts.digest
    # The stored token is already in DER order: normalising again changes nothing.
    assert der_token(token) == token
    record = HeadTimestamp(token, "2030-01-01T00:00:00Z", facts.tsa)
    assert HeadTimestamp.from_json(record.to_json()) == record


def test_the_client_checks_nonce_and_policy(
    tsa: TimestampAuthority, anchors: list[x509.Certificate], token: bytes
) -> None:
    digest = head_timestamp_digest(**HEAD)  # type: ignore[arg-type]
    with pytest.raises(TimestampError, match="Nonce"):
        verify_timestamp_token(token, digest, anchors, nonce=12345)
    with pytest.raises(TimestampError, match="Policy"):
        verify_timestamp_token(token, digest, anchors, policy="1.2.3.4")
    client = TsaClient(tsa.url, anchors, policy="1.2.3.4")
    with pytest.raises(TimestampingError, match="Policy"):
        client.stamp(b"any head")


# ---------------------------------------------------------------------- refused tokens


def test_wrong_imprint_is_refused(anchors: list[x509.Certificate], token: bytes) -> None:
    with pytest.raises(TimestampError, match="covers digest"):
        verify_head_timestamp(token, **(HEAD | {"seq": 8}), trust_anchors=anchors)  # type: ignore[arg-type]
    other_node = Account.from_key(b"\x02" * 32).address
    with pytest.raises(TimestampError, match="covers digest"):
        verify_head_timestamp(token, **(HEAD | {"node": other_node}), trust_anchors=anchors)  # type: ignore[arg-type]


def test_tampered_token_is_refused(anchors: list[x509.Certificate], token: bytes) -> None:
    info = cms.ContentInfo.load(token)
    signer = info["content"]["signer_infos"][0]
    # A changed signature, and a changed genTime under the original signature.
    signature = bytearray(signer["signature"].native)
    signature[-1] ^= 1
    signer["signature"] = bytes(signature)
    with pytest.raises(TimestampError, match="not valid"):
        verify_head_timestamp(bytes(info.dump()), **HEAD, trust_anchors=anchors)  # type: ignore[arg-type]
    info = cms.ContentInfo.load(token)
    content = info["content"]["encap_content_info"]["content"]
    tst = content.parsed
    tst["gen_time"] = tst["gen_time"].native + timedelta(days=1)
    info["content"]["encap_content_info"]["content"] = cms.ParsableOctetString(tst.dump())
    with pytest.raises(TimestampError, match="not valid"):
        verify_head_timestamp(bytes(info.dump()), **HEAD, trust_anchors=anchors)  # type: ignore[arg-type]
    for garbage in (b"", b"\x30\x03\x02\x01\x00", token[:-10], b"\x30" * 70_000):
        with pytest.raises(TimestampError):
            verify_head_timestamp(garbage, **HEAD, trust_anchors=anchors)  # type: ignore[arg-type]


def test_untrusted_tsa_is_refused(tmp_path: Path, token: bytes) -> None:
    stranger = generate_tsa(tmp_path / "stranger")
    with pytest.raises(TimestampError, match="not valid"):
        verify_head_timestamp(
            token,
            **HEAD,  # type: ignore[arg-type]
            trust_anchors=load_tsa_anchors(stranger.trust_anchor),
        )
    with pytest.raises(TimestampError, match="no TSA trust anchors"):
        verify_head_timestamp(token, **HEAD, trust_anchors=[])  # type: ignore[arg-type]


def test_tsa_certificate_expired_when_it_signed_is_refused(tmp_path: Path) -> None:
    files = generate_tsa(
        tmp_path / "expired",
        valid_from=datetime.now(UTC) - timedelta(days=30),
        valid_for=timedelta(days=10),
    )
    from verifier.timestamp import token_from_reply

    token = token_from_reply(stamp_with(files))  # OpenSSL signs with it all the same
    with pytest.raises(TimestampError, match="not valid"):
        verify_head_timestamp(
            token,
            **HEAD,  # type: ignore[arg-type]
            trust_anchors=load_tsa_anchors(files.trust_anchor),
        )


def resigned(token: bytes, files: TsaFiles) -> bytes:
    """`token` signed again with the key and certificate of `files`."""
    key = serialization.load_pem_private_key(files.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    info = cms.ContentInfo.load(token)
    signed = info["content"]
    signer = signed["signer_infos"][0]
    asn1_issuer = asn1_x509.Name.load(certificate.issuer.public_bytes())
    signer["sid"] = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": {
                "issuer": asn1_issuer,
                "serial_number": certificate.serial_number,
            }
        }
    )
    for attribute in signer["signed_attrs"]:
        if attribute["type"].native == "signing_certificate_v2":
            cert_id = attribute["values"][0]["certs"][0]
            cert_id["cert_hash"] = hashlib.sha256(certificate.public_bytes(DER)).digest()
            cert_id["issuer_serial"] = tsp.IssuerSerial(
                {
                    "issuer": [asn1_x509.GeneralName({"directory_name": asn1_issuer})],
                    "serial_number": certificate.serial_number,
                }
            )
    attributes = (
        b"\x31" + signer["signed_attrs"].dump(force=True)[1:]
    )  # signed as SET OF (RFC 5652 5.4)
    signer["signature"] = key.sign(attributes, ec.ECDSA(hashes.SHA256()))
    der = certificate.public_bytes(DER)
    signed["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices({"certificate": asn1_x509.Certificate.load(der)})]
    )
    return bytes(info.dump())


def test_token_naming_another_certificate_is_refused(tmp_path: Path, token: bytes) -> None:
    """Signed by a trusted TSA key, but its signed attributes name another certificate."""
    other = generate_tsa(tmp_path / "other")
    info = cms.ContentInfo.load(resigned(token, other))
    signer = info["content"]["signer_infos"][0]
    key = serialization.load_pem_private_key(other.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    for attribute in signer["signed_attrs"]:
        if attribute["type"].native == "signing_certificate_v2":
            attribute["values"][0]["certs"][0]["cert_hash"] = bytes(32)
    signer["signature"] = key.sign(
        b"\x31" + signer["signed_attrs"].dump(force=True)[1:], ec.ECDSA(hashes.SHA256())
    )
    with pytest.raises(TimestampError, match="name another certificate"):
        verify_head_timestamp(
            bytes(info.dump()),
            **HEAD,  # type: ignore[arg-type]
            trust_anchors=load_tsa_anchors(other.trust_anchor),
        )


def test_tsa_certificate_for_another_purpose_is_refused(tmp_path: Path, token: bytes) -> None:
    """OpenSSL will not sign with a certificate lacking timeStamping, so the token is signed
    again here, as a key certified for TLS would sign it."""
    control = generate_tsa(tmp_path / "control")
    verify_head_timestamp(
        resigned(token, control),
        **HEAD,  # type: ignore[arg-type]
        trust_anchors=load_tsa_anchors(control.trust_anchor),
    )  # the re-signing itself is sound
    tls = generate_tsa(tmp_path / "tls", eku=ExtendedKeyUsageOID.SERVER_AUTH)
    with pytest.raises(TimestampError, match="unsuitable certificate purpose"):
        verify_head_timestamp(
            resigned(token, tls),
            **HEAD,  # type: ignore[arg-type]
            trust_anchors=load_tsa_anchors(tls.trust_anchor),
        )


# ---------------------------------------------------------------------- the transport


def test_tsa_down_is_reported(anchors: list[x509.Certificate]) -> None:
    client = TsaClient(f"http://127.0.0.1:{free_port()}/", anchors, timeout=2)
    with pytest.raises(TimestampingError, match="cannot reach"):
        client.stamp(b"head")


def test_slow_answers_are_cut_off(tsa: TimestampAuthority, anchors: list[x509.Certificate]) -> None:
    client = TsaClient(tsa.url, anchors, timeout=1.5)
    for delay, trickle in ((5.0, 0.0), (0.0, 0.05)):  # late, then one byte every 50 ms
        tsa.misbehaviour.delay, tsa.misbehaviour.trickle = delay, trickle
        try:
            started = time.monotonic()
            with pytest.raises(TimestampingError, match=r"longer than 1\.5 s"):
                client.stamp(b"head")
            assert time.monotonic() - started < 3.0
        finally:
            tsa.misbehaviour.delay = tsa.misbehaviour.trickle = 0.0


def test_oversized_answers_are_cut_off(
    tsa: TimestampAuthority, anchors: list[x509.Certificate]
) -> None:
    tsa.misbehaviour.padding = 1_000_000
    try:
        with pytest.raises(TimestampingError, match="larger than"):
            TsaClient(tsa.url, anchors).stamp(b"head")
    finally:
        tsa.misbehaviour.padding = 0
    assert TsaClient(tsa.url, anchors).stamp(b"head").token


def test_the_dev_tsa_refuses_what_is_not_a_query(tsa: TimestampAuthority) -> None:
    def post(body: bytes, kind: str) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(tsa.url, body, {"Content-Type": kind}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, {}
        except urllib.error.HTTPError as error:
            assert error.headers["Content-Type"] == "application/problem+json"
            return error.code, json.loads(error.read())

    assert post(b"x", "application/json")[0] == 415
    assert post(b"\0" * (MAX_QUERY_BYTES + 1), "application/timestamp-query")[0] == 413
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tsa.url, timeout=10)
    assert refused.value.code == 405
    # Not a DER query: OpenSSL answers with a rejection, which the client reports.
    status, _ = post(b"\x30\x00", "application/timestamp-query")
    assert status == 200


def test_a_refusal_is_reported(tsa: TimestampAuthority) -> None:
    from verifier.timestamp import token_from_reply

    request = urllib.request.Request(
        tsa.url, b"\x30\x00", {"Content-Type": "application/timestamp-query"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            reply = answer.read()
    except urllib.error.HTTPError:
        pytest.fail("the TSA should answer a bad query with a TimeStampResp")
    with pytest.raises(TimestampError, match="refused"):
        token_from_reply(reply)
    assert base64.b64encode(reply)


def test_the_dev_tsa_runs_as_a_process(tmp_path: Path) -> None:
    """What `notary node --dev` starts: `python -m devtools.tsa`, reused across restarts."""
    from devtools.local_devnet import start_tsa

    for _ in range(2):  # the second start reuses the identity made by the first
        tsa = start_tsa(tmp_path / "tsa")
        try:
            client = TsaClient(tsa.url, load_tsa_anchors(tsa.trust_anchors), policy=DEV_POLICY)
            stamp = client.stamp(signed_head_bytes(**HEAD))  # type: ignore[arg-type]
            verify_head_timestamp(
                stamp.token,
                **HEAD,  # type: ignore[arg-type]
                trust_anchors=load_tsa_anchors(tsa.trust_anchors),
            )
        finally:
            tsa.stop()
        assert tsa.process.returncode is not None
