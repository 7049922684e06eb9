"""Issue 15 on a real node: the issuance policy at intake (the seal for registered types, the
seal bound to this node's local government), requester applications (commitment in the leaf,
disclosure to the issuing system, the record kept on the LGWAN side), login and signature
events verified like documents, and the privacy scan of everything the node makes public.

One node serves the whole module; the privacy test runs last and scans what the others
submitted too."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from devnet.ports import free_port
from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import SYNTHETIC_PEOPLE, Issued, TestHierarchy
from node.settings import NodeSettings
from protocol.requester import parse_disclosure
from tests.node_harness import REPO, NodeProcess, http, node_on_devnet, signed_entry
from verifier.jpki.basic_four import ADDRESS_OID, DATE_OF_BIRTH_OID, NAME_OID, SEX_OID

BASIC_FOUR = {NAME_OID: "name", SEX_OID: "sex", DATE_OF_BIRTH_OID: "date of birth",
              ADDRESS_OID: "address"}  # fmt: skip

pytest_plugins = ["tests.jpki_fixtures"]

CARD_HOLDER = "sign-ee-valid-gen02"
"""The fixture person whose card signs the application and the municipality-defined document."""
MUNICIPAL_TYPE = 0x8001
RESIDENT_RECORD_COPY = 1


@pytest.fixture(scope="module")
def public_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy, public_port: int
) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("node-issuance")
    env = {"NOTARY_PUBLIC_PORT": str(public_port)}
    with node_on_devnet(root, jpki_hierarchy, env) as process:
        yield process


@pytest.fixture(scope="module")
def token(node: NodeProcess) -> str:
    return node.token("issuing-system", "submit", "read")


@pytest.fixture(scope="module")
def submitted() -> dict[str, Any]:
    """What the tests submitted, by name, for the privacy scan: receipts and their bodies."""
    return {}


def _cms(signer: Issued, content: bytes) -> str:
    cms = sign_cms(
        content,
        key=load_private_key(signer.key),
        cert=x509.load_pem_x509_certificate(signer.cert.read_bytes()),
    )
    return base64.b64encode(cms).decode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _application(signer: Issued, text: bytes) -> dict[str, str]:
    return {
        "format": "cms",
        "value": _cms(signer, text),
        "application_sha256": hashlib.sha256(text).hexdigest(),
    }


def _sealed(seal: Issued, document: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "document_sha256": hashlib.sha256(document).hexdigest(),
        "document_type": RESIDENT_RECORD_COPY,
        "issued_at": _now(),
        "signature": {"format": "cms", "value": _cms(seal, document)},
        **extra,
    }


def _event(signer: Issued, statement: bytes, event_type: str) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "statement_sha256": hashlib.sha256(statement).hexdigest(),
        "event_time": _now(),
        "signature": {"format": "cms", "value": _cms(signer, statement)},
    }


def _refused(answer: Any, field: str, problem: str = "signer-not-accepted") -> None:
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.body["field"] == field, answer.body
    assert answer.body["type"].endswith(problem), answer.body


def _verify(
    node: NodeProcess, tmp_path: Path, content: bytes, bundle: Any, *extra: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "content").write_bytes(content)
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    h = node.hierarchy
    crls = [*h.crl_files, *h.seal_crl_files]
    args = [
        sys.executable, "-m", "node.cli", "verify", str(tmp_path / "content"),
        "--bundle", str(tmp_path / "bundle.json"),
        "--rpc", node.rpc_url, "--registry", node.registry, "--chain-id", str(node.chain_id),
        "--trust", str(node.data_dir / "trust"),
        *[a for p in h.seal_trust_anchors for a in ("--seal-trust", str(p))],
        *[a for p in crls for a in ("--crl", str(p))],
        "--node-url", node.url,
        *extra,
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)


def _final_bundle(node: NodeProcess, token: str, receipt_id: str) -> Any:
    node.wait_final()
    answer = http("GET", f"{node.url}/v1/receipts/{receipt_id}/bundle", token=token)
    assert answer.status == 200 and answer.headers["notary-bundle-state"] == "final", answer.body
    return answer.body


def test_a_sealed_document_with_an_application_gives_the_requester_disclosure(
    node: NodeProcess, token: str, submitted: dict[str, Any], tmp_path: Path
) -> None:
    h = node.hierarchy
    document = "住民票の写し: sealed, requested online".encode()
    application = "申請書: 住民票の写し 1通".encode()
    body = _sealed(h.seal, document, application=_application(h.ee_valid_gen02, application))
    answer = http("POST", node.url + "/v1/entries", body, token)
    assert answer.status == 201, answer.body
    receipt = answer.body
    disclosure = parse_disclosure(receipt["requester_disclosure"])
    assert disclosure.application_sha256 == hashlib.sha256(application).digest()
    card = x509.load_pem_x509_certificate(h.ee_valid_gen02.cert.read_bytes())
    assert disclosure.card_serial == card.serial_number
    assert disclosure.commitment().hex() == receipt["requester_commitment"]
    submitted["sealed"] = receipt
    # The municipality's records: the disclosure and the application signature again.
    kept = http("GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/requester", token=token)
    assert kept.status == 200, kept.body
    assert kept.body["requester_disclosure"] == receipt["requester_disclosure"]
    assert base64.b64decode(kept.body["application"]["value"]) == base64.b64decode(
        body["application"]["value"]
    )
    assert kept.body["signer_kind"] == "jpki-card-signature"
    # The leaf commits to the requester; the verifier opens it with the disclosure.
    bundle = _final_bundle(node, token, receipt["receipt_id"])
    assert bundle["leaf"]["requester_commitment"] == disclosure.commitment().hex()
    (tmp_path / "disclosure.json").write_text(json.dumps(receipt["requester_disclosure"]))
    done = _verify(
        node,
        tmp_path,
        document,
        bundle,
        "--requester-disclosure",
        str(tmp_path / "disclosure.json"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID") and "LGCJP-131016" in done.stdout, done.stdout


def test_the_issuance_policy_refuses_at_intake(node: NodeProcess, token: str) -> None:
    h = node.hierarchy
    document = b"a registered type signed with a personal card"
    card_on_registered = signed_entry(h.ee_valid_gen02, document, document_type=1)
    _refused(http("POST", node.url + "/v1/entries", card_on_registered, token), "document_type")
    other_seal = _sealed(h.seal_other_municipality, b"Tsukuba's seal on Chiyoda's log")
    answer = http("POST", node.url + "/v1/entries", other_seal, token)
    _refused(answer, "signature.certificates[0]")
    assert "LGCJP-082201" in answer.body["detail"]
    auth_on_document = signed_entry(h.ee_user_auth, b"a login certificate signs a document")
    _refused(http("POST", node.url + "/v1/entries", auth_on_document, token), "document_type")
    # An application must be signed with a signature certificate, not a login one.
    logged_in = _sealed(
        h.seal, b"sealed, applied for with an auth cert",
        application=_application(h.ee_user_auth, b"application"),
    )  # fmt: skip
    _refused(http("POST", node.url + "/v1/entries", logged_in, token), "application.certificate")
    wrong_digest = _sealed(
        h.seal, b"sealed, application digest mismatch",
        application={**_application(h.ee_valid_gen02, b"one"), "application_sha256": "00" * 32},
    )  # fmt: skip
    _refused(
        http("POST", node.url + "/v1/entries", wrong_digest, token),
        "application.value",
        "invalid-entry",
    )
    # In a bulk request the fields carry the entry's position.
    bulk = {"entries": [signed_entry(h.ee_valid_gen02, b"fine"), card_on_registered]}
    _refused(http("POST", node.url + "/v1/entries/bulk", bulk, token), "entries[1].document_type")


def test_a_login_event_is_logged_and_verifies_like_a_document(
    node: NodeProcess, token: str, submitted: dict[str, Any], tmp_path: Path
) -> None:
    h = node.hierarchy
    statement = json.dumps(
        {"service": "xID demo", "event": "login", "time": _now(), "nonce": "3f9a1c"}
    ).encode()
    answer = http(
        "POST", node.url + "/v1/events", _event(h.ee_user_auth, statement, "login"), token
    )
    assert answer.status == 201, answer.body
    assert answer.body["entry_kind"] == "event" and answer.body["event_type"] == "login"
    assert "requester_disclosure" not in answer.body
    submitted["event"] = answer.body
    # An authentication certificate may not sign a signature event.
    wrong = _event(h.ee_user_auth, b"a signature event", "signature")
    _refused(http("POST", node.url + "/v1/events", wrong, token), "event_type")
    signature_event = http(
        "POST", node.url + "/v1/events", _event(h.ee_valid_gen02, b"signed", "signature"), token
    )
    assert signature_event.status == 201, signature_event.body
    bundle = _final_bundle(node, token, answer.body["receipt_id"])
    done = _verify(node, tmp_path, statement, bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID") and "login" in done.stdout, done.stdout


def test_a_narrowing_issuance_policy_applies_and_a_widening_one_stops_the_start(
    tmp_path: Path,
) -> None:
    """Settings only: a widening policy is refused with one line before anything starts."""
    narrowed = NodeSettings.model_validate({"issuance_policy": {"0x8001": ["lgpki-seal"]}})
    assert narrowed.issuance_policy == {"0x8001": ["lgpki-seal"]}
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "node", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
        env={**os.environ, "NOTARY_ISSUANCE_POLICY": '{"1": ["jpki-card-signature"]}'},
    )  # fmt: skip
    assert done.returncode != 0
    assert "widens" in done.stderr and "Traceback" not in done.stderr, done.stderr


# ---------------------------------------------------------------------------- privacy


def _needles(h: TestHierarchy) -> dict[str, bytes]:
    """The fixture person's basic four items (UTF-8, and each item's DER as the certificate
    holds it), the card certificate (DER, base64) and its serial number."""
    person = SYNTHETIC_PEOPLE[CARD_HOLDER]
    der = x509.load_pem_x509_certificate(h.ee_valid_gen02.cert.read_bytes()).public_bytes(
        Encoding.DER
    )
    card = x509.load_der_x509_certificate(der)
    needles = {
        "name": person.name.encode(),
        "name without space": person.name.replace(" ", "").encode(),
        "address": person.address.encode(),
        "date of birth": person.date_of_birth.encode(),
        "card certificate (DER)": der,
        "card certificate (base64)": base64.b64encode(der),
        "card serial (hex)": format(card.serial_number, "X").encode(),
        "card serial (lower hex)": format(card.serial_number, "x").encode(),
    }
    san = card.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    for other in san.get_values_for_type(x509.OtherName):
        oid = other.type_id.dotted_string
        if oid in BASIC_FOUR:
            # The item as the certificate's DER writes it (type id, then [0] and the value):
            # the sex item ("2") is only findable so; the substitute flags are no data.
            tagged = bytes([0xA0, len(other.value)]) + other.value
            needles[f"{BASIC_FOUR[oid]} (DER)"] = core.ObjectIdentifier(oid).dump() + tagged
    assert sum(name.endswith("(DER)") for name in needles) == 5  # 4 items and the certificate
    assert all(needle in der for name, needle in needles.items() if name.endswith("(DER)"))
    return needles


_BASE64_OR_HEX = re.compile(rb"[A-Za-z0-9+/=]{16,}")


def _views(payload: bytes) -> list[bytes]:
    """The payload, and every long base64 or hex run in it decoded (a certificate inside a
    base64 CMS is not a substring of the CMS's base64)."""
    views = [payload]
    for run in _BASE64_OR_HEX.findall(payload):
        bare = run.rstrip(b"=")
        with contextlib.suppress(binascii.Error, ValueError):
            views.append(base64.b64decode(bare + b"=" * (-len(bare) % 4)))
        with contextlib.suppress(ValueError):
            views.append(bytes.fromhex(run.decode()))
    return views


def _found(payload: bytes, needles: dict[str, bytes]) -> list[str]:
    views = _views(payload)
    return [name for name, needle in needles.items() if any(needle in v for v in views)]


def test_nothing_personal_is_public_or_logged(
    node: NodeProcess, token: str, submitted: dict[str, Any], public_port: int
) -> None:
    """The privacy check of issue 15: a sealed document with an application signed by the
    fixture person, an event and a card-signed municipality-defined document are anchored;
    then every public answer, every bundle of a sealed document or an event, and every log
    line the node wrote are scanned for the person's basic four items and card certificate.

    A card-signed (two-file) bundle carries its signer's certificate by design: it is the
    holder's own bundle, served only on the LGWAN listener with a token and handed to the
    holder. The test checks that it does carry the card (so the scan could find it) and that
    no bundle route exists on the public listener."""
    h = node.hierarchy
    needles = _needles(h)
    if "sealed" not in submitted:  # run alone: submit what the other tests would have
        body = _sealed(h.seal, b"sealed", application=_application(h.ee_valid_gen02, b"app"))
        submitted["sealed"] = http("POST", node.url + "/v1/entries", body, token).body
        event = _event(h.ee_user_auth, b"login statement", "login")
        submitted["event"] = http("POST", node.url + "/v1/events", event, token).body
    card_signed = http(
        "POST", node.url + "/v1/entries", signed_entry(h.ee_valid_gen02, b"two-file"), token
    )
    assert card_signed.status == 201, card_signed.body
    head = node.wait_final()
    size = head["tree_size"]
    public = f"http://127.0.0.1:{public_port}"

    answers: dict[str, bytes] = {}

    def get(url: str, what: str) -> Any:
        answer = http("GET", url)
        assert answer.status == 200, (what, answer.status, answer.body)
        body = answer.body
        answers[what] = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return body

    get(public + "/v1/log/head", "head")
    get(public + f"/v1/log/heads?start=0&limit={size}", "heads")
    get(public + f"/v1/log/consistency?first=1&second={size}", "consistency")
    leaves = get(public + f"/v1/log/leaves?start=0&end={size}", "leaves")["leaves"]
    for leaf in leaves:
        get(public + f"/v1/log/inclusion?leaf_hash={leaf['leaf_hash']}&tree_size={size}", "proof")
        get(public + f"/v1/revocations/{leaf['leaf_hash'][:2]}", "revocations")
    for path in ("/verify", "/openapi.json", "/docs", "/healthz"):
        get(public + path, path)
    # Bundles, receipts and requester records are not routes of the public listener.
    for receipt in (submitted["sealed"], submitted["event"], card_signed.body):
        rid = receipt["receipt_id"]
        paths = (
            f"/v1/receipts/{rid}/bundle",
            f"/v1/receipts/{rid}/requester",
            f"/v1/receipts/{rid}",
            f"/v1/entries/{receipt['leaf_hash']}/bundle",
        )
        for path in paths:
            assert http("GET", public + path, token=token).status == 404, path
    for name in ("sealed", "event"):
        rid = submitted[name]["receipt_id"]
        bundle = http("GET", f"{node.url}/v1/receipts/{rid}/bundle", token=token)
        answers[f"{name} bundle"] = json.dumps(bundle.body).encode()
    two_file = http("GET", f"{node.url}/v1/receipts/{card_signed.body['receipt_id']}/bundle",
                    token=token)  # fmt: skip
    # The scan would see a card: the holder's own two-file bundle carries it.
    assert "card certificate (DER)" in _found(json.dumps(two_file.body).encode(), needles)
    # The node's stdout and stderr (node.log) and any other log file it wrote; a LevelDB
    # folder's NNNNNN.log is the private store's write-ahead log, not a log of the node.
    for log_file in sorted(node.data_dir.rglob("*.log")):
        if not (log_file.parent / "CURRENT").exists():
            answers[f"log {log_file.relative_to(node.data_dir)}"] = log_file.read_bytes()
    assert answers["log node.log"], "the node wrote no log"
    leaks = {
        what: found for what, payload in answers.items() if (found := _found(payload, needles))
    }
    assert not leaks, leaks
