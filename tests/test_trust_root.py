"""The trust root's format: canonical JSON, a digest that names it, field-naming errors."""

from __future__ import annotations

import pytest

from protocol.clique import SignerSet
from protocol.trust_root import (
    RegistryFacts,
    TrustRoot,
    TrustRootError,
    dump_trust_root,
    load_trust_root,
    trust_root_digest,
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
    ],
)
def test_a_malformed_trust_root_names_the_field(change: tuple[str, str], field: str) -> None:
    text = dump_trust_root(ROOT)
    assert change[0] in text
    with pytest.raises(TrustRootError) as raised:
        load_trust_root(text.replace(*change, 1))
    assert raised.value.field.startswith(field)
