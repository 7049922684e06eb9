"""The node's issuance policy without a node: the protocol's table, a narrowing, a widening
refused, and the seal bound to the node's own local government."""

from __future__ import annotations

import pytest

from devtools.testca import Issued, TestHierarchy
from node.issuance_policy import IssuancePolicy, PolicyRefusalError, parse_policy
from protocol.leaf import EntryKind, EventType
from protocol.signers import SignerKind
from verifier.jpki import JPKICertificate, parse_certificate

pytest_plugins = ["tests.jpki_fixtures"]

CHIYODA = 131016
CARD_TYPE = 0x8001


def _cert(issued: Issued) -> JPKICertificate:
    return parse_certificate(issued.cert.read_bytes())


def _refusal(
    policy: IssuancePolicy, issued: Issued, kind: EntryKind, type_code: int
) -> PolicyRefusalError:
    with pytest.raises(PolicyRefusalError) as refused:
        policy.admit(_cert(issued), kind, type_code, where="signature", type_field="document_type")
    return refused.value


def test_the_protocol_table_applies_by_default(jpki_hierarchy: TestHierarchy) -> None:
    h = jpki_hierarchy
    policy = IssuancePolicy(CHIYODA)
    admit = policy.admit
    fields = {"where": "signature", "type_field": "document_type"}
    assert admit(_cert(h.seal), EntryKind.DOCUMENT, 1, **fields) is SignerKind.LGPKI_SEAL
    assert (
        admit(_cert(h.ee_smartphone_sign), EntryKind.DOCUMENT, CARD_TYPE, **fields)
        is SignerKind.JPKI_SMARTPHONE_SIGNATURE
    )
    assert (
        admit(_cert(h.ee_user_auth), EntryKind.EVENT, EventType.LOGIN, **fields)
        is SignerKind.JPKI_CARD_AUTHENTICATION
    )
    card = _refusal(policy, h.ee_valid_gen02, EntryKind.DOCUMENT, 1)
    assert card.field == "document_type" and "lgpki-seal" in card.detail
    login = _refusal(policy, h.ee_user_auth, EntryKind.EVENT, EventType.SIGNATURE)
    assert login.field == "document_type"
    other = _refusal(policy, h.seal_other_municipality, EntryKind.DOCUMENT, 1)
    assert other.field == "signature.certificates[0]" and "LGCJP-082201" in other.detail


def test_a_narrowed_policy_refuses_what_the_table_allows(jpki_hierarchy: TestHierarchy) -> None:
    policy = IssuancePolicy(CHIYODA, parse_policy({"0x8001": ["lgpki-seal"]}))
    refused = _refusal(policy, jpki_hierarchy.ee_valid_gen02, EntryKind.DOCUMENT, CARD_TYPE)
    assert refused.field == "document_type" and "accepted: lgpki-seal" in refused.detail
    assert policy.accepted(EntryKind.DOCUMENT, 0x8002) == frozenset(
        {
            SignerKind.LGPKI_SEAL,
            SignerKind.JPKI_CARD_SIGNATURE,
            SignerKind.JPKI_SMARTPHONE_SIGNATURE,
        }
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"1": ["jpki-card-signature"]}, "widens"),
        ({"0x8001": ["jpki-card-authentication"]}, "widens"),
        ({"resident": ["lgpki-seal"]}, "not a document type code"),
        ({"0": ["lgpki-seal"]}, "not a document type"),
        ({"1": ["a-rubber-stamp"]}, "not a signer kind"),
        ({"1": "lgpki-seal"}, "must be a list"),
        ({"1": ["lgpki-seal"], "0x1": ["lgpki-seal"]}, "twice"),
    ],
)
def test_a_policy_that_widens_or_names_nothing_is_refused(
    raw: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy(raw)
