"""The JPKI checks inside `verify`: each JPKI-TEST fixture gives the verdict it stands for.

The chain is out of the picture here (a reader that confirms whatever head it is asked
about); tests/test_verify_chain.py covers the chain with real engines.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from anchor import AnchorRecord, NodeRecord, NodeStatus
from devtools.cms_sign import sign_cms
from devtools.testca import Issued, TestHierarchy
from protocol.bundle import (
    AnchorSection,
    HeadSection,
    ProofBundle,
    build_bundle,
    make_document_entry,
)
from protocol.leaf import SignatureFormat
from tests.jpki_fixtures import all_crls, anchors
from tests.vectors.issuer import LogDocument, MiniLog, Signer
from verifier import VerdictStatus, VerificationPolicy, Verifier
from verifier.chain import AnchorFacts, HeadAnchoredLog, TransactionFacts
from verifier.jpki import CertificateKind, SignerPolicy
from verifier.models import Verdict

pytest_plugins = ["tests.jpki_fixtures"]

DOCUMENT = "所得証明書 (TEST) — synthetic, describes no real person".encode()
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class ConfirmingChain:
    """Confirms any head as anchored at `anchored_at` by an active node of 131016."""

    def __init__(self, anchored_at: datetime) -> None:
        self.timestamp = int(anchored_at.timestamp())

    def read(self, head: HeadSection, anchor: AnchorSection) -> AnchorFacts:
        return AnchorFacts(
            endpoint="confirming",
            chain_id=anchor.chain_id,
            latest_block=anchor.block_number + 10,
            finality_depth=2,
            finality_source="test",
            record=AnchorRecord(
                head.root, anchor.node, head.seq, head.tree_size, anchor.block_number,
                self.timestamp, False,
            ),
            transaction=TransactionFacts(
                anchor.block_number, anchor.block_hash, True, REGISTRY,
                (HeadAnchoredLog(anchor.node, 131016, head.seq, head.tree_size, head.root),),
            ),
            canonical_block_hash=anchor.block_hash,
            block_timestamp=self.timestamp,
            node=NodeRecord(anchor.node, 131016, NodeStatus.ACTIVE, 1, 1, head.root, None, "x"),
            node_block=anchor.block_number,
        )  # fmt: skip


def anchored(log: MiniLog, item: LogDocument) -> ProofBundle:
    head = log.head(0)
    anchor = AnchorSection(31337, REGISTRY, NODE, 131016, b"\x05" * 32, 5, b"\x06" * 32)
    return log.bundle(item, head, anchor)


def verify_signed(
    h: TestHierarchy,
    issued: Issued,
    signing_time: datetime,
    *,
    fmt: SignatureFormat = SignatureFormat.CMS,
    document: bytes = DOCUMENT,
    signer_policy: SignerPolicy | None = None,
) -> Verdict:
    ca = h.sign_ca_gen02 if issued.issuer_role == "sign-ca-gen02" else h.sign_ca_gen01
    signer = Signer.from_issued(issued, ca)
    log = MiniLog()
    item = log.add_document(DOCUMENT, signer, signing_time=signing_time, fmt=fmt)
    return verifier(h, signer_policy).verify(document, anchored(log, item))


def verifier(h: TestHierarchy, signer_policy: SignerPolicy | None = None) -> Verifier:
    policy = VerificationPolicy(
        rpc_urls=[],
        registry=REGISTRY,
        chain_id=31337,
        trust_anchors=anchors(h),
        revocation=all_crls(h),
        now=h.now,
        signer_policy=signer_policy or SignerPolicy(),
        require_revocation_check=False,  # the signer is under test, not the document
    )
    return Verifier(policy, chain_reader=ConfirmingChain(h.now - timedelta(minutes=10)))


def assert_invalid_signer(verdict: Verdict, *words: str) -> None:
    assert verdict.status is VerdictStatus.INVALID, verdict.summary
    assert verdict.failed_check == "signer_certificate", verdict.summary
    for word in words:
        assert word in (verdict.reason or ""), verdict.reason


def test_first_generation_signer_is_valid(jpki_hierarchy: TestHierarchy) -> None:
    verdict = verify_signed(
        jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, jpki_hierarchy.now - HOUR
    )
    assert verdict.ok, verdict.summary
    assert "trusted chain, valid and not revoked" in detail(verdict, "signer_certificate")


def test_second_generation_signer_is_valid(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    verdict = verify_signed(h, h.ee_valid_gen02, h.now - HOUR)
    assert verdict.ok, verdict.summary


def test_revoked_signer_is_invalid_with_reason(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    verdict = verify_signed(h, h.ee_revoked, h.now - HOUR)  # revoked a day before now
    assert_invalid_signer(verdict, "revoked", h.revoked_at.isoformat())


def test_revoked_signer_before_revocation_is_valid(jpki_hierarchy: TestHierarchy) -> None:
    # Judged at the signing time: a signature made before the revocation stays good.
    h = jpki_hierarchy
    assert verify_signed(h, h.ee_revoked, h.revoked_at - DAY).ok


def test_expired_signer_is_invalid(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    assert_invalid_signer(verify_signed(h, h.ee_expired, h.now - HOUR), "expired")


def test_expired_certificate_signed_while_valid_is_valid(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    assert verify_signed(h, h.ee_expired, h.now - 400 * DAY).ok


def test_not_yet_valid_signer_is_invalid(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    assert_invalid_signer(verify_signed(h, h.ee_not_yet_valid, h.now - HOUR), "not yet valid")


@pytest.mark.parametrize("role", ["ee_fake", "ee_fake_forged_aki"])
@pytest.mark.parametrize("embed_fake_ca", [True, False])
def test_fake_ca_with_production_dn_is_untrusted(
    jpki_hierarchy: TestHierarchy, role: str, embed_fake_ca: bool
) -> None:
    h = jpki_hierarchy
    chain = (h.fake_ca,) if embed_fake_ca else ()
    signer = Signer.from_issued(getattr(h, role), *chain)
    log = MiniLog()
    item = log.add_document(DOCUMENT, signer, signing_time=h.now - HOUR)
    verdict = verifier(h).verify(DOCUMENT, anchored(log, item))
    # Embedded, the fake root is just another certificate: no path leads to a J-LIS anchor.
    # Not embedded, no trusted generation's key verifies the certificate: an impostor.
    assert_invalid_signer(verdict, "untrusted", *(() if embed_fake_ca else ("impostor",)))
    assert outcome(verdict, "signature") == "passed"  # the signature itself is fine


def test_user_authentication_certificate_is_not_a_signer(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    signer = Signer.from_issued(h.ee_user_auth, h.auth_ca)
    log = MiniLog()
    item = log.add_document(DOCUMENT, signer, signing_time=h.now - HOUR)
    verdict = verifier(h).verify(DOCUMENT, anchored(log, item))
    assert verdict.failed_check == "issuer_policy", verdict.summary
    signer_check = verdict.check("signer_certificate")
    assert signer_check is not None and "not accepted" in signer_check.detail
    # The issuance policy decides, not the relying party's SignerPolicy: only a login event
    # takes a user-authentication certificate (tests/test_verify_seal.py).
    auth_ok = SignerPolicy(allowed_kinds=frozenset({CertificateKind.USER_AUTHENTICATION}))
    assert not verifier(h, auth_ok).verify(DOCUMENT, anchored(log, item)).ok


def test_raw_pkcs1_signature(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    verdict = verify_signed(h, h.ee_valid_gen01, h.now - HOUR, fmt=SignatureFormat.PKCS1)
    assert verdict.ok, verdict.summary
    assert "PKCS#1" in detail(verdict, "signature")


def test_raw_pkcs1_signature_over_another_document(jpki_hierarchy: TestHierarchy) -> None:
    # A node that recorded another document's signature: committed, but not over this one.
    h = jpki_hierarchy
    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    when = h.now - HOUR
    other = signer.sign(b"another document", when, SignatureFormat.PKCS1)
    verdict = _node_recorded(h, signer, other, when, fmt=SignatureFormat.PKCS1)
    assert verdict.failed_check == "signature", verdict.summary
    assert "does not verify" in (verdict.reason or "")


def test_cms_from_another_signer_than_the_recorded_certificate(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    recorded = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    actual = Signer.from_issued(h.ee_valid_gen02, h.sign_ca_gen02)
    when = h.now - HOUR
    cms = actual.sign(DOCUMENT, when, SignatureFormat.CMS)
    verdict = _node_recorded(h, recorded, cms, when)
    assert verdict.failed_check == "signature", verdict.summary
    assert "not by signature.certificates[0]" in (verdict.reason or "")


def test_cms_signing_time_must_equal_the_leaf(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    cms = signer.sign(DOCUMENT, h.now - 2 * HOUR, SignatureFormat.CMS)
    verdict = _node_recorded(h, signer, cms, h.now - HOUR)
    assert verdict.failed_check == "signature", verdict.summary
    assert "differs from the log entry's signing time" in (verdict.reason or "")


def test_attached_cms_is_refused(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    when = h.now - HOUR
    cms = sign_cms(DOCUMENT, key=signer.key, cert=signer.cert, signing_time=when, attach=True)
    verdict = _node_recorded(h, signer, cms, when)
    assert verdict.failed_check == "signature", verdict.summary
    assert "detached signatures only" in (verdict.reason or "")


def test_unreadable_signer_certificate(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    when = h.now - HOUR
    cms = signer.sign(DOCUMENT, when, SignatureFormat.CMS)
    verdict = _node_recorded(h, signer, cms, when, certificates=[b"\x30\x03\x02\x01\x01"])
    assert verdict.failed_check == "signer_certificate"
    assert "unreadable" in (verdict.reason or "")


def test_signer_personal_data_only_on_request(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    verdict = verify_signed(h, h.ee_valid_gen02, h.now - HOUR)
    items = verdict.signer_personal_data()
    assert items is not None and items.name == "試験 花子"
    assert "試験" not in str(verdict.as_dict()) and "花子" not in repr(verdict)


# --------------------------------------------------------------------------- helpers


def detail(verdict: Verdict, name: str) -> str:
    check = verdict.check(name)
    assert check is not None
    return check.detail


def outcome(verdict: Verdict, name: str) -> str:
    check = verdict.check(name)
    assert check is not None
    return check.outcome.value


def _node_recorded(
    h: TestHierarchy,
    signer: Signer,
    signature: bytes,
    signing_time: datetime,
    certificates: list[bytes] | None = None,
    fmt: SignatureFormat = SignatureFormat.CMS,
) -> Verdict:
    """A bundle whose leaf commits to `signature` and `certificates` as a node recorded them."""
    certs = certificates or signer.certificates
    entry = make_document_entry(
        document_sha256=hashlib.sha256(DOCUMENT).digest(),
        salt=b"\x07" * 32,
        lg_code=131016,
        document_type=0x8001,  # municipality-defined: a JPKI card may sign it
        issued_at=signing_time,
        signing_time=signing_time,
        signature_format=fmt,
        signature=signature,
        signer_certificate=certs[0],
    )
    log = MiniLog()
    log.leaves.append(entry.leaf_hash())
    head = log.head(0)
    anchor = AnchorSection(31337, REGISTRY, NODE, 131016, b"\x05" * 32, 5, b"\x06" * 32)
    bundle = build_bundle(
        entry=entry,
        salt=b"\x07" * 32,
        signature=signature,
        certificates=certs,
        inclusion=log.inclusion(0, 1),
        head=head,
        anchor=anchor,
    )
    return verifier(h).verify(DOCUMENT, bundle)
