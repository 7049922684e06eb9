"""The trust root's format: canonical JSON, a digest that names it, field-naming errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.signers.local import LocalAccount

from protocol.clique import SignerSet
from protocol.trust_root import (
    GovernanceFacts,
    MemberSignature,
    RegistryFacts,
    TrustRoot,
    TrustRootError,
    TrustRootSignatureError,
    TrustRootUpdateError,
    accept_chain,
    accept_update,
    add_signature,
    dump_trust_root,
    load_trust_root,
    signing_hash,
    trust_root_digest,
    trust_root_typed_data,
    verify_trust_root_signatures,
)

ROOT = TrustRoot(
    chain_id=1337,
    genesis_hash=b"\x11" * 32,
    registry=RegistryFacts("0x" + "ab" * 20, b"\x22" * 32),
    signer_sets=(
        SignerSet(0, frozenset({b"\x01" * 20, b"\x02" * 20})),
        SignerSet(90, frozenset({b"\x01" * 20, b"\x02" * 20, b"\x03" * 20})),
    ),
    tsa_anchors=(b"\x30\x03\x02\x01\x01",),
    issued_at=1_800_000_000,
)


def test_a_trust_root_reads_back_to_the_same_canonical_json_and_digest() -> None:
    text = dump_trust_root(ROOT)
    again = load_trust_root(text)
    assert dump_trust_root(again) == text
    assert trust_root_digest(again) == trust_root_digest(ROOT)
    assert again.signer_history().signers_at(100) == ROOT.signer_sets[1].signers
    assert again.signer_history().signers_at(89) == ROOT.signer_sets[0].signers


def test_seal_anchors_are_written_only_when_there_are_some() -> None:
    # A trust root from before the field (none of its own) keeps its bytes and digest.
    assert "seal_anchors" not in dump_trust_root(ROOT)
    assert load_trust_root(dump_trust_root(ROOT)).seal_anchors == ()
    sealed = replace(ROOT, seal_anchors=(b"\x30\x03\x02\x01\x02",))
    text = dump_trust_root(sealed)
    assert '"seal_anchors":["MAMCAQI="]' in text
    again = load_trust_root(text)
    assert again.seal_anchors == sealed.seal_anchors and again.extensions == {}
    assert dump_trust_root(again) == text
    assert trust_root_digest(again) == trust_root_digest(sealed) != trust_root_digest(ROOT)
    # One trust root, one form: an empty list would be a second spelling of "none".
    with pytest.raises(TrustRootError) as raised:
        load_trust_root(
            dump_trust_root(ROOT).replace('"signer_sets"', '"seal_anchors":[],"signer_sets"')
        )
    assert raised.value.field == "seal_anchors"


def test_any_change_changes_the_digest() -> None:
    other = TrustRoot(**{**ROOT.__dict__, "chain_id": 1338})
    assert trust_root_digest(other) != trust_root_digest(ROOT)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('"version":1', '"version":2'), "version"),
        (('"chain_id":1337', '"chain_id":-1'), "chain_id"),
        (('"block":0', '"block":"0"'), "signer_sets[0].block"),
        (('"block":90', '"block":0'), "signer_sets"),
        (('"genesis_hash":"0x11', '"genesis_hash":"0xzz'), "genesis_hash"),
        (('"tsa_anchors":["', '"tsa_anchors":["!'), "tsa_anchors[0]"),
        (('"seal_anchors":["', '"seal_anchors":["!'), "seal_anchors[0]"),
        (('"seal_anchors":["MAMCAQI="]', '"seal_anchors":"MAMCAQI="'), "seal_anchors"),
    ],
)
def test_a_malformed_trust_root_names_the_field(change: tuple[str, str], field: str) -> None:
    text = dump_trust_root(replace(ROOT, seal_anchors=(b"\x30\x03\x02\x01\x02",)))
    assert change[0] in text
    with pytest.raises(TrustRootError) as raised:
        load_trust_root(text.replace(*change, 1))
    assert raised.value.field.startswith(field)


# ---------------------------------------------------------------------- governance signatures

MEMBERS = [Account.from_key(bytes([i]) * 32) for i in (1, 2, 3, 4)]
GOVERNED = replace(
    ROOT,
    governance=GovernanceFacts(tuple(sorted(m.address for m in MEMBERS[:3])), 2),
    as_of_block=120,
)


def signed(root: TrustRoot, *accounts: LocalAccount) -> TrustRoot:
    for account in accounts:
        message = encode_typed_data(full_message=trust_root_typed_data(root))
        root = add_signature(root, account.address, account.sign_message(message).signature)
    return root


def test_the_eip712_hash_is_what_wallets_sign_and_signatures_leave_the_digest_alone() -> None:
    message = encode_typed_data(full_message=trust_root_typed_data(GOVERNED))
    assert _hash_eip191_message(message) == signing_hash(GOVERNED)
    root = signed(GOVERNED, MEMBERS[0], MEMBERS[1])
    assert trust_root_digest(root) == trust_root_digest(GOVERNED)
    again = load_trust_root(dump_trust_root(root))
    assert dump_trust_root(again) == dump_trust_root(root)
    assert verify_trust_root_signatures(again, GOVERNED.governance.members, 2) == {  # type: ignore[union-attr]
        MEMBERS[0].address,
        MEMBERS[1].address,
    }


def test_threshold_non_member_duplicate_and_tampered_signatures_are_refused() -> None:
    members = GOVERNED.governance.members  # type: ignore[union-attr]
    with pytest.raises(TrustRootSignatureError, match=r"1 of 3 members .* signed; 2 must"):
        verify_trust_root_signatures(signed(GOVERNED, MEMBERS[0]), members, 2)
    with pytest.raises(TrustRootSignatureError, match="not a governance member"):
        verify_trust_root_signatures(signed(GOVERNED, MEMBERS[0], MEMBERS[3]), members, 1)
    one = signed(GOVERNED, MEMBERS[0])
    twice = replace(one, signatures=one.signatures * 2)
    with pytest.raises(TrustRootSignatureError, match="signed twice"):
        verify_trust_root_signatures(twice, members, 1)
    with pytest.raises(TrustRootSignatureError, match="signed already"):
        signed(one, MEMBERS[0])
    # The signed content changes: the signature no longer recovers its member.
    tampered = replace(signed(GOVERNED, MEMBERS[0], MEMBERS[1]), chain_id=1338)
    with pytest.raises(TrustRootSignatureError, match=r"claims .* but was made by"):
        verify_trust_root_signatures(tampered, members, 2)
    # A signature claimed for another member.
    forged = replace(
        one, signatures=(MemberSignature(MEMBERS[1].address, one.signatures[0].signature),)
    )
    with pytest.raises(TrustRootSignatureError, match="claims"):
        verify_trust_root_signatures(forged, members, 1)
    # The mirror (high-s) of a valid signature is refused, so a signature has one form.
    raw = one.signatures[0].signature
    s = int.from_bytes(raw[32:64], "big")
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    mirror = raw[:32] + (n - s).to_bytes(32, "big") + bytes([55 - raw[64]])
    with pytest.raises(TrustRootSignatureError, match="canonical"):
        verify_trust_root_signatures(
            replace(one, signatures=(MemberSignature(MEMBERS[0].address, mirror),)), members, 1
        )


def test_updates_chain_from_a_pinned_root_signed_by_the_trusted_governance() -> None:
    first = signed(GOVERNED, MEMBERS[0], MEMBERS[1])
    # The consortium adds member 3 and a signer set; threshold of old and of new sign.
    newer_unsigned = replace(
        GOVERNED,
        signer_sets=(*GOVERNED.signer_sets, SignerSet(150, frozenset({b"\x01" * 20}))),
        governance=GovernanceFacts(tuple(sorted(m.address for m in MEMBERS)), 3),
        issued_at=GOVERNED.issued_at + 60,
        as_of_block=200,
    )
    newer = signed(newer_unsigned, MEMBERS[0], MEMBERS[1], MEMBERS[3])
    assert accept_update(first, newer) == {m.address for m in (MEMBERS[0], MEMBERS[1], MEMBERS[3])}
    assert accept_chain(trust_root_digest(first), [first, newer]) == newer
    with pytest.raises(TrustRootUpdateError, match="pinned"):
        accept_chain(b"\x00" * 32, [first, newer])
    # Enough of the new set but only one of the trusted members: not authorised.
    everyone = tuple(sorted(m.address for m in MEMBERS))
    lower = replace(newer_unsigned, governance=GovernanceFacts(everyone, 2))
    with pytest.raises(TrustRootSignatureError, match="trusted governance"):
        accept_update(first, signed(lower, MEMBERS[0], MEMBERS[3]))
    # Authorised by the trusted members, but the new set has not taken it up.
    with pytest.raises(TrustRootSignatureError, match="its own governance"):
        accept_update(first, signed(newer_unsigned, MEMBERS[0], MEMBERS[1]))
    with pytest.raises(TrustRootSignatureError, match="neither governance"):
        accept_update(first, signed(newer_unsigned, *MEMBERS, Account.from_key(b"\x09" * 32)))
    # Not newer, history rewritten, another chain.
    with pytest.raises(TrustRootUpdateError, match="issued_at"):
        accept_update(
            first, signed(replace(newer_unsigned, issued_at=GOVERNED.issued_at), *MEMBERS[:3])
        )
    rewritten = replace(newer_unsigned, signer_sets=newer_unsigned.signer_sets[1:])
    with pytest.raises(TrustRootUpdateError, match="does not extend"):
        accept_update(first, signed(rewritten, *MEMBERS[:3]))
    with pytest.raises(TrustRootUpdateError, match="another chain"):
        accept_update(first, signed(replace(newer_unsigned, chain_id=5), *MEMBERS[:3]))


def test_the_node_page_gets_the_trust_root_it_would_verify_with(tmp_path: Path) -> None:
    from node.api import _page_trust_root

    good = tmp_path / "trust-root.json"
    good.write_text(dump_trust_root(ROOT))
    config = _page_trust_root(good)
    assert config is not None and load_trust_root(json.dumps(config)) == load_trust_root(
        good.read_text()
    )
    bad = tmp_path / "bad.json"
    bad.write_text(dump_trust_root(ROOT).replace('"version":1', '"version":9'))
    assert _page_trust_root(bad) is None  # left out (and logged), the page still served
    assert _page_trust_root(tmp_path / "missing.json") is None
    assert _page_trust_root(None) is None


def test_the_local_devnet_test_ca_names_its_seal_anchor_and_reads_older_data_dirs(
    tmp_path: Path,
) -> None:
    from devtools.local_devnet import _test_ca

    made = _test_ca(tmp_path)
    assert [p.name for p in made.seal_anchors] == ["lgpki-ca.pem"]
    assert not set(made.seal_anchors) & set(made.trust_dir.glob("*.pem"))
    # A data dir provisioned before seal anchors existed: none, and no error.
    summary = tmp_path / "jpki-test" / "dev-summary.json"
    facts = json.loads(summary.read_text())
    del facts["seal_anchors"]
    summary.write_text(json.dumps(facts))
    assert _test_ca(tmp_path).seal_anchors == ()


def test_export_refuses_a_certificate_given_as_both_a_jpki_and_a_seal_anchor() -> None:
    from click.testing import CliRunner

    from audit.trust_root_cli import export

    ca = Path(__file__).parent / "vectors" / "v4" / "signing" / "lgpki-ca.pem"
    args = ["--rpc", "http://127.0.0.1:9", "--registry", "0x" + "ab" * 20]
    done = CliRunner().invoke(export, [*args, "--jpki-anchor", str(ca), "--seal-anchor", str(ca)])
    assert done.exit_code == 2, done.output
    assert done.output.count("\n") == 1 and "both a J-LIS and a seal anchor" in done.output
