"""Version-4 vectors (leaf version 3, docs/PROTOCOL.md sections 9.7 and 14): municipal seals,
smartphone and user-authentication signers, events and requester commitments.

The signing material in ``v4/signing/`` (LGPKI-TEST and JPKI-TEST certificates from
`devtools.testca`, their CRLs and one CMS signature per case) was made once with random keys
that were then discarded (`create_v4_material`, ``make_vectors --new-v4-signing-material``);
everything else here is a pure function of it, so re-running writes byte-identical files.

What is written under ``v4/``:
- ``documents/``: the synthetic documents and event statements;
- ``bundles/*.json``: valid bundles (a sealed registered type with and without a requester,
  a smartphone-signed municipality-defined type, a login and a signature event, a pending one,
  one with chain evidence), ``bundles/invalid/*.json``: signers the issuance policy or the
  path validation refuses;
- ``requester/*.json``: the resident's disclosure that opens the requester commitment, and
  one that does not;
- ``malformed/*.json``: version-4 bundles a strict parser refuses, with the field it names;
- ``chain.json`` (the facts `RecordedChain` serves), ``trust-root.json`` (with the LGPKI-TEST
  seal anchor, so the evidence bundle verifies offline with nothing else), ``expected.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocol.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    ProofBundle,
    build_bundle,
    bundle_to_json,
    make_document_entry,
)
from protocol.leaf import (
    NO_REQUESTER,
    DocumentEntry,
    DocumentType,
    EntryKind,
    EventType,
    SignatureFormat,
    unix_seconds,
)
from protocol.merkle import MerkleTree
from protocol.requester import RequesterDisclosure, dump_disclosure
from protocol.trust_root import dump_trust_root
from tests.vectors.evidence_chain import ANCHOR_BLOCK, Anchor, build_chain

V4 = "v4"
SIGNING = f"{V4}/signing"
MATERIAL_NOW = datetime(2026, 1, 16, 0, 0, 0, tzinfo=UTC)
"""The test hierarchy's `now`: its CRLs are issued then, after every signing time."""
SIGNING_TIME = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
ISSUED_AT = datetime(2026, 1, 15, 8, 59, 0, tzinfo=UTC)
HEAD_TIME = datetime(2026, 1, 15, 9, 1, 0, tzinfo=UTC)
MUNICIPALITY_DEFINED = 0x8001

DOCUMENTS = {
    "sealed-resident-record.txt": (
        "住民票の写し (TEST VECTOR, version 4)\n"
        "A synthetic copy of a resident record, sealed by the municipality.\n"
        "It describes no real person. 発行: 千代田区長 (試験)\n"
    ),
    "sealed-tax-certificate.txt": (
        "納税証明書 (TEST VECTOR, version 4)\n"
        "A synthetic tax payment certificate, sealed by the municipality.\n"
        "It describes no real person. 発行: 千代田区長 (試験)\n"
    ),
    "municipal-notice.txt": (
        "区独自の届出受理証明 (TEST VECTOR, version 4, municipality-defined type 0x8001)\n"
        "A synthetic notice of a municipality-defined type.\n"
        "It describes no real person.\n"
    ),
    "login-statement.txt": (
        "municipal-notary login statement (TEST VECTOR)\n"
        "service: 千代田区 電子申請 (試験)\ntime: 2026-01-15T09:00:00Z\n"
    ),
    "signature-statement.txt": (
        "municipal-notary signature statement (TEST VECTOR)\n"
        "I sign the application 転入届 (試験) at 2026-01-15T09:00:00Z.\n"
    ),
    "application.txt": (
        "交付申請書 (TEST VECTOR)\n"
        "A synthetic application for a copy of the resident record, signed with a card.\n"
    ),
}
"""Under v4/documents/. `application.txt` is the resident's signed application: only its
SHA-256 enters the requester commitment."""

CERTIFICATES = (
    "sign-ca", "auth-ca", "lgpki-ca", "fake-lgpki-ca",
    "card", "smartphone", "auth", "seal", "seal-other", "seal-revoked", "seal-fake",
)  # fmt: skip
"""PEM files under v4/signing/ (`<name>.pem`)."""
CRLS = ("crl-sign-iizuka", "crl-auth-tsukuba", "crl-lgpki")
"""DER files under v4/signing/ (`<name>.der`): every CRL the v4 policy uses."""


@dataclass(frozen=True)
class Case:
    """One entry of the v4 log: who signs which document as what."""

    name: str
    document: str
    signer: str
    issuer: str
    document_type: int
    kind: EntryKind = EntryKind.DOCUMENT
    requester: bool = False
    status: str = "valid"
    failed_check: str | None = None
    description: str = ""


CASES = (
    Case("sealed-requester", "sealed-resident-record.txt", "seal", "lgpki-ca",
         DocumentType.RESIDENT_RECORD_COPY, requester=True,
         description="registered type sealed by Chiyoda-ku's mayor (LGCJP-131016), with a "
                     "requester commitment (v4/requester/opening.json opens it)"),
    Case("sealed", "sealed-tax-certificate.txt", "seal", "lgpki-ca",
         DocumentType.TAX_PAYMENT,
         description="registered type sealed by Chiyoda-ku's mayor, no requester (null)"),
    Case("smartphone", "municipal-notice.txt", "smartphone", "sign-ca", MUNICIPALITY_DEFINED,
         description="municipality-defined type signed with a smartphone signature certificate"),
    Case("login-event", "login-statement.txt", "auth", "auth-ca", EventType.LOGIN,
         kind=EntryKind.EVENT,
         description="login event signed with a user-authentication certificate"),
    Case("signature-event", "signature-statement.txt", "card", "sign-ca", EventType.SIGNATURE,
         kind=EntryKind.EVENT,
         description="signature event signed with a card signature certificate"),
    Case("invalid/card-registered-type", "sealed-resident-record.txt", "card", "sign-ca",
         DocumentType.RESIDENT_RECORD_COPY, status="invalid", failed_check="issuer_policy",
         description="registered type signed with a card under leaf version 3 (no pre-seal "
                     "exception)"),
    Case("invalid/seal-other-municipality", "sealed-resident-record.txt", "seal-other",
         "lgpki-ca", DocumentType.RESIDENT_RECORD_COPY, status="invalid",
         failed_check="issuer_policy",
         description="a good seal of Tsukuba-shi (LGCJP-082201) on a document of 131016"),
    Case("invalid/auth-on-document", "municipal-notice.txt", "auth", "auth-ca",
         MUNICIPALITY_DEFINED, status="invalid", failed_check="issuer_policy",
         description="a user-authentication certificate signing a document"),
    Case("invalid/seal-revoked", "sealed-resident-record.txt", "seal-revoked", "lgpki-ca",
         DocumentType.RESIDENT_RECORD_COPY, status="invalid", failed_check="signer_certificate",
         description="a Chiyoda-ku seal revoked (key compromise) in crl-lgpki.der"),
    Case("invalid/seal-fake-ca", "sealed-resident-record.txt", "seal-fake", "fake-lgpki-ca",
         DocumentType.RESIDENT_RECORD_COPY, status="invalid", failed_check="signer_certificate",
         description="a Chiyoda-ku seal from a CA copying the LGPKI-TEST DN with its own key"),
)  # fmt: skip


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _salt(name: str) -> bytes:
    """Derived, so the vectors are reproducible; a node draws salts at random."""
    return _h(f"v4 vector salt: {name}")


# --------------------------------------------------------------------------- signing material


def create_v4_material() -> dict[str, bytes]:
    """A fresh LGPKI-TEST and JPKI-TEST hierarchy (`devtools.testca`, at `MATERIAL_NOW`), the
    certificates and CRLs the v4 vectors use and one CMS signature per case; keys discarded."""
    from devtools.cms_sign import load_private_key, sign_cms
    from devtools.testca import generate_test_hierarchy

    work = Path(tempfile.mkdtemp(prefix="v4-material-"))
    try:
        h = generate_test_hierarchy(work / "pki", MATERIAL_NOW)
        issued = {
            "sign-ca": h.sign_ca_gen02, "auth-ca": h.auth_ca, "lgpki-ca": h.lgpki_ca,
            "fake-lgpki-ca": h.fake_lgpki_ca, "card": h.ee_valid_gen02,
            "smartphone": h.ee_smartphone_sign, "auth": h.ee_user_auth, "seal": h.seal,
            "seal-other": h.seal_other_municipality, "seal-revoked": h.seal_revoked,
            "seal-fake": h.seal_fake,
        }  # fmt: skip
        files: dict[str, bytes] = {}
        for name in CERTIFICATES:
            files[f"{SIGNING}/{name}.pem"] = issued[name].cert.read_bytes()
        for name, crl in (
            ("crl-sign-iizuka", h.crl_gen02_iizuka),
            ("crl-auth-tsukuba", h.crl_auth_tsukuba),
            ("crl-lgpki", h.crl_lgpki),
        ):
            files[f"{SIGNING}/{name}.der"] = _der_crl(crl.path.read_bytes())
        for case in CASES:
            cert = x509.load_pem_x509_certificate(issued[case.signer].cert.read_bytes())
            ca = x509.load_pem_x509_certificate(issued[case.issuer].cert.read_bytes())
            files[f"{SIGNING}/{_signature_name(case)}"] = sign_cms(
                DOCUMENTS[case.document].encode(),
                key=load_private_key(issued[case.signer].key),
                cert=cert,
                chain=[ca],
                signing_time=SIGNING_TIME,
            )
        return files
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _der_crl(data: bytes) -> bytes:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data).public_bytes(Encoding.DER)
    return data


def _signature_name(case: Case) -> str:
    return case.name.replace("/", "-") + ".p7s"


@dataclass(frozen=True)
class Material:
    root: Path

    def cert(self, name: str) -> bytes:
        pem = (self.root / SIGNING / f"{name}.pem").read_bytes()
        return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)

    def signature(self, case: Case) -> bytes:
        return (self.root / SIGNING / _signature_name(case)).read_bytes()


# --------------------------------------------------------------------------- the v4 log


def requester_disclosure(material: Material) -> RequesterDisclosure:
    """What the resident who applied with the card of ``card.pem`` receives."""
    serial = x509.load_der_x509_certificate(material.cert("card")).serial_number
    application = DOCUMENTS["application.txt"].encode()
    return RequesterDisclosure(
        _h("v4 vector requester salt"), hashlib.sha256(application).digest(), serial
    )


@dataclass(frozen=True)
class Logged:
    case: Case
    entry: DocumentEntry
    salt: bytes
    signature: bytes
    certificates: tuple[bytes, bytes]
    index: int


def _entries(material: Material, disclosure: RequesterDisclosure) -> list[Logged]:
    fillers = 3
    logged = []
    for i, case in enumerate(CASES):
        signature = material.signature(case)
        salt = _salt(case.name)
        entry = make_document_entry(
            document_sha256=hashlib.sha256(DOCUMENTS[case.document].encode()).digest(),
            salt=salt,
            lg_code=131016,
            document_type=case.document_type,
            issued_at=ISSUED_AT,
            signing_time=SIGNING_TIME,
            signature_format=SignatureFormat.CMS,
            signature=signature,
            signer_certificate=material.cert(case.signer),
            requester_ref=disclosure.commitment() if case.requester else NO_REQUESTER,
            kind=case.kind,
        )
        certificates = (material.cert(case.signer), material.cert(case.issuer))
        logged.append(Logged(case, entry, salt, signature, certificates, fillers + i))
    return logged


def build_v4_vectors(
    root: Path,
    *,
    chain_id: int,
    registry: str,
    node: str,
    verify_at: str,
    json_bytes: Callable[[Any], bytes],
) -> dict[str, bytes]:
    """Every v4 vector file (path relative to tests/vectors → bytes)."""
    material = Material(root)
    disclosure = requester_disclosure(material)
    logged = _entries(material, disclosure)
    leaves = [_h(f"v4 filler leaf {i}") for i in range(3)] + [x.entry.leaf_hash() for x in logged]
    tree = MerkleTree(leaves)
    synthetic = build_chain(
        Anchor(chain_id, registry, node, 131016, 0, tree.size, tree.root, unix_seconds(HEAD_TIME))
    )
    head = HeadSection(0, tree.size, tree.root)
    anchor = AnchorSection(
        chain_id, registry, node, 131016, synthetic.tx_hash, ANCHOR_BLOCK, synthetic.block_hash
    )

    def bundle(item: Logged, *, anchored: bool = True, evidence: bool = False) -> ProofBundle:
        path = tuple(tree.inclusion_proof(item.index))
        return build_bundle(
            entry=item.entry,
            salt=item.salt,
            signature=item.signature,
            certificates=item.certificates,
            inclusion=InclusionSection(item.index, tree.size, path) if anchored else None,
            head=head if anchored else None,
            anchor=anchor if anchored else None,
            evidence=synthetic.evidence if evidence else None,
        )

    trust_root = dataclasses.replace(
        synthetic.trust_root,
        jpki_anchors=(material.cert("sign-ca"), material.cert("auth-ca")),
        seal_anchors=(material.cert("lgpki-ca"),),
    )
    files: dict[str, bytes] = {
        f"{V4}/documents/{name}": text.encode() for name, text in DOCUMENTS.items()
    }
    files[f"{V4}/chain.json"] = json_bytes(synthetic.chain)
    files[f"{V4}/trust-root.json"] = (dump_trust_root(trust_root) + "\n").encode()
    opening, not_opening = f"{V4}/requester/opening.json", f"{V4}/requester/not-opening.json"
    files[opening] = dump_disclosure(disclosure).encode()
    files[not_opening] = dump_disclosure(
        dataclasses.replace(disclosure, card_serial=disclosure.card_serial + 1)
    ).encode()

    expected: dict[str, Any] = {
        "description": (
            "Version-4 bundles (leaf version 3: municipal seals, smartphone and "
            "user-authentication signers, events, requester commitments; docs/PROTOCOL.md 9.7 "
            "and 14). Policy (`policy`, paths relative to tests/vectors): chain facts from "
            "v4/chain.json, the J-LIS anchors and the seal (LGPKI-TEST) anchors, the CRLs, now "
            f"{verify_at}, no issuing node asked, require_revocation_check off, "
            "require_municipal_seal on (the default). `requester_disclosures` verifies a bundle "
            "with a holder's disclosure; `offline` verifies with v4/trust-root.json alone "
            "(its jpki_anchors and seal_anchors; no other trust anchor given)."
        ),
        "verify_at": verify_at,
        "require_revocation_check": False,
        "require_municipal_seal": True,
        "policy": {
            "chain": f"{V4}/chain.json",
            "trust_anchors": [f"{SIGNING}/sign-ca.pem", f"{SIGNING}/auth-ca.pem"],
            "seal_trust_anchors": [f"{SIGNING}/lgpki-ca.pem"],
            "crls": [f"{SIGNING}/{name}.der" for name in CRLS],
        },
        "bundles": {},
        "requester_disclosures": {},
        "offline": {
            "trust_root": f"{V4}/trust-root.json",
            "crls": [f"{SIGNING}/{name}.der" for name in CRLS],
            "bundles": {},
        },
        "malformed": {},
    }

    def add(path: str, item: Logged, status: str, check: str | None, description: str) -> None:
        expected["bundles"][path] = {
            "document": f"{V4}/documents/{item.case.document}",
            "status": status,
            "failed_check": check,
            "description": description,
        }

    by_name = {x.case.name: x for x in logged}
    for item in logged:
        path = f"{V4}/bundles/{item.case.name}.json"
        files[path] = json_bytes(bundle_to_json(bundle(item)))
        add(path, item, item.case.status, item.case.failed_check, item.case.description)

    sealed_requester, sealed = by_name["sealed-requester"], by_name["sealed"]
    pending = bundle_to_json(bundle(sealed_requester, anchored=False))
    files[f"{V4}/bundles/pending.json"] = json_bytes(pending)
    add(f"{V4}/bundles/pending.json", sealed_requester, "pending", "merkle_inclusion",
        "sealed-requester before its head is anchored")  # fmt: skip
    with_evidence = bundle_to_json(bundle(sealed_requester, evidence=True))
    evidence_path = f"{V4}/bundles/sealed-evidence.json"
    files[evidence_path] = json_bytes(with_evidence)
    add(evidence_path, sealed_requester, "valid", None,
        "sealed-requester with the chain evidence (checked with a trust root)")  # fmt: skip
    expected["offline"]["bundles"][evidence_path] = {
        "document": f"{V4}/documents/{sealed_requester.case.document}",
        "status": "valid_as_of",
        "failed_check": None,
        "description": "the seal chains to the trust root's seal_anchors: no other anchor given",
    }
    for name, bundle_path, item, status, check in (
        ("opens", "sealed-requester", sealed_requester, "valid", None),
        ("does-not-open", "sealed-requester", sealed_requester, "invalid", "requester_disclosure"),
        ("no-commitment", "sealed", sealed, "invalid", "requester_disclosure"),
    ):
        disclosure_path = not_opening if name == "does-not-open" else opening
        expected["requester_disclosures"][name] = {
            "bundle": f"{V4}/bundles/{bundle_path}.json",
            "document": f"{V4}/documents/{item.case.document}",
            "disclosure": disclosure_path,
            "status": status,
            "failed_check": check,
        }

    anchored = bundle_to_json(bundle(sealed_requester))
    for file_name, content, field, description in _malformed(anchored, pending, with_evidence):
        path = f"{V4}/malformed/{file_name}"
        files[path] = json_bytes(content)
        expected["malformed"][path] = {"field": field, "description": description}
    files[f"{V4}/expected.json"] = json_bytes(expected)
    return files


def _malformed(
    anchored: dict[str, Any], pending: dict[str, Any], with_evidence: dict[str, Any]
) -> list[tuple[str, dict[str, Any], str, str]]:
    """(file name, bundle JSON, field the error must name, description)."""

    def variant(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copied = copy.deepcopy(base)
        change(copied)
        return copied

    def leaf(**fields: Any) -> Callable[[dict[str, Any]], None]:
        return lambda b: b["leaf"].update(fields)

    upper = anchored["leaf"]["requester_commitment"].upper()

    def v2_leaf(b: dict[str, Any]) -> None:
        del b["leaf"]["kind"], b["leaf"]["requester_commitment"]

    def pending_with_evidence(b: dict[str, Any]) -> None:
        b["evidence"] = with_evidence["evidence"]

    return [
        ("kind-wrong.json", variant(anchored, leaf(kind="certificate")), "leaf.kind",
         'leaf.kind "certificate" (only "document" or "event")'),
        ("kind-revocation.json", variant(anchored, leaf(kind="revocation")), "leaf.kind",
         'leaf.kind "revocation": a bundle proves a document or an event'),
        ("requester-zeros.json", variant(anchored, leaf(requester_commitment="00" * 32)),
         "leaf.requester_commitment", "32 zero bytes written instead of null"),
        ("requester-upper-case.json",
         variant(anchored, leaf(requester_commitment=upper)),
         "leaf.requester_commitment", "upper-case hex"),
        ("pending-with-evidence.json", variant(pending, pending_with_evidence), "evidence",
         "evidence in a pending bundle"),
        ("v2-leaf.json", variant(anchored, v2_leaf), "leaf.kind",
         "a version-2 leaf section (no kind, no requester_commitment) in a version-4 bundle"),
        ("v4-leaf-in-version-2.json", variant(anchored, lambda b: b.update(version=2)),
         "leaf.kind", "a version-4 leaf section in a bundle that says version 2"),
    ]  # fmt: skip
