"""The fast bundle reader (protocol/bundle_fast.py) against the strict one it stands in for.

Soundness: whatever `bundle_fast.read` accepts, the strict reader (`parse_bundle(load_json())`)
accepts with the very same model; everything else goes to the strict reader, so errors keep
their words. Usefulness: the bundles producers write do take the fast road.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import bundle_fast
from protocol.bundle import _from_fast, dump_bundle, load_bundle, load_json, parse_bundle
from protocol.errors import BundleFormatError
from tests.test_fuzz_bundle import SEEDS, TEXT_EDITS, _paths, _structural

VECTORS = Path(__file__).parent / "vectors"
ALL_VECTORS = sorted(
    p for p in VECTORS.rglob("*.json") if "bundles" in p.parts or "malformed" in p.parts
)


def same_as_strict(data: str | bytes) -> bool:
    """Fail if the fast reader accepts what the strict one refuses or reads differently;
    True when the fast reader took it."""
    fast = bundle_fast.read(data)
    if fast is None:
        return False
    assert _from_fast(fast) == parse_bundle(load_json(data))
    return True


@pytest.mark.parametrize("path", ALL_VECTORS, ids=lambda p: str(p.relative_to(VECTORS)))
def test_every_vector_reads_the_same(path: Path) -> None:
    same_as_strict(path.read_bytes())
    same_as_strict(path.read_text(encoding="utf-8"))


def test_what_producers_write_takes_the_fast_road() -> None:
    for name in ("valid-cms", "valid-pkcs1", "pending", "invalid/path-element"):
        raw = (VECTORS / "bundles" / f"{name}.json").read_bytes()
        compact = json.dumps(json.loads(raw), separators=(",", ":"))
        for form in (raw, raw.decode(), dump_bundle(load_bundle(raw)), compact):
            assert same_as_strict(form), name


def test_version_4_bundles_take_the_fast_road() -> None:
    v4 = VECTORS / "v4" / "bundles"
    names = ("sealed", "sealed-requester", "pending", "login-event", "signature-event")
    for name in names:
        raw = (v4 / f"{name}.json").read_bytes()
        compact = json.dumps(json.loads(raw), separators=(",", ":"))
        for form in (raw, raw.decode(), dump_bundle(load_bundle(raw)), compact):
            assert same_as_strict(form), name
    # with evidence: the strict reader's (a later version of this reader may learn it)
    assert bundle_fast.read((v4 / "sealed-evidence.json").read_bytes()) is None


def test_all_version_4_malformed_vectors_are_left_to_the_strict_reader() -> None:
    malformed = sorted((VECTORS / "v4" / "malformed").glob("*.json"))
    assert len(malformed) == 7
    for path in malformed:
        assert bundle_fast.read(path.read_bytes()) is None, path.name
        with pytest.raises(BundleFormatError):
            load_bundle(path.read_bytes())


def test_all_25_malformed_vectors_are_left_to_the_strict_reader() -> None:
    malformed = sorted((VECTORS / "malformed").glob("*.json"))
    assert len(malformed) == 25
    for path in malformed:
        assert bundle_fast.read(path.read_bytes()) is None, path.name
        with pytest.raises(BundleFormatError):
            load_bundle(path.read_bytes())


VALID = (VECTORS / "bundles" / "valid-cms.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "edit",
    [
        # a duplicate key, whatever the spacing before its colon (the decoder keeps the last)
        lambda t: t.replace('"seq": 0', '"seq": 0, "seq" : 0', 1),
        lambda t: t.replace('"seq": 0', '"seq"\n:0, "seq": 0', 1),
        lambda t: t.replace('"status": "anchored"', '"status": "pending", "status": "anchored"'),
        # the same key spelled with an escape
        lambda t: t.replace('"seq": 0', '"seq": 0, "se\\u0071": 0', 1),
        # an escaped quote inside a string: one more quote than strings
        lambda t: t.replace('"131016"', '"131\\"016"'),
        # explicit nulls are not absent fields; values out of range or of the wrong type
        lambda t: t.replace('"status": "anchored"', '"status": "pending"'),
        lambda t: t.replace('"seq": 0', '"seq": 18446744073709551616', 1),
        lambda t: t.replace('"seq": 0', '"seq": 0.0', 1),
        lambda t: t.replace('"seq": 0', '"seq": true', 1),
        lambda t: t.replace('"version": 2', '"version": 3', 1),
        lambda t: t.replace('"version": 2', '"version": 2.0', 1),
        # non-canonical hex, a trailing newline in a hash, a time that does not exist
        lambda t: re.sub('("root": ")([0-9a-f]{64})', lambda m: m[1] + m[2].upper(), t),
        lambda t: re.sub('("root": ")([0-9a-f]{64})', lambda m: m[1] + m[2][:62] + " 0", t),
        lambda t: t.replace('",\n    "salt"', '\\n",\n    "salt"', 1),
        lambda t: t.replace("T", "t", 1),
        lambda t: "\ufeff" + t,
        lambda t: t + "x",
    ],
)
def test_near_misses_go_to_the_strict_reader(edit: object) -> None:
    assert callable(edit)
    text = edit(VALID)
    assert text != VALID
    assert bundle_fast.read(text) is None
    assert bundle_fast.read(text.encode()) is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace('"131016"', '"\\u0031\\u0033\\u0031\\u0030\\u0031\\u0036"'),
        lambda t: t.replace('"status": "anchored"', '"st\\u0061tus": "anchored"'),
        lambda t: t.replace('"format": "cms"', '"format": "\\u0063ms"'),
        lambda t: t.replace('"seq": 0', '"seq": 0, "se\\u0071": 0', 1),
        lambda t: t.replace('"131016"', '"131016\\u0000"'),
    ],
)
def test_escapes_read_as_the_strict_reader_reads_them(edit: object) -> None:
    """JSON escapes decode alike in both readers; the fast one may take them or not, never
    with another meaning."""
    assert callable(edit)
    text = edit(VALID)
    assert text != VALID
    try:
        strict = parse_bundle(load_json(text))
    except BundleFormatError:
        strict = None
    for form in (text, text.encode()):
        fast = bundle_fast.read(form)
        assert (None if fast is None else _from_fast(fast)) in (None, strict)


SEALED = (VECTORS / "v4" / "bundles" / "sealed-requester.json").read_text(encoding="utf-8")
_REQUESTER = re.compile(r'"requester_commitment": "([0-9a-f]{64})"')


@pytest.mark.parametrize(
    "edit",
    [
        # the leaf of one version in a bundle of another
        lambda t: t.replace('"version": 4', '"version": 2', 1),
        lambda t: t.replace('"version": 4', '"version": 1', 1),
        lambda t: t.replace('"version": 4', '"version": 3', 1),
        lambda t: re.sub(r'\n\s*"kind": "document",', "", t),
        lambda t: _REQUESTER.sub('"requester_commitment": null', t).replace(
            ',\n    "requester_commitment": null', ""
        ),
        lambda t: t.replace('"kind": "document"', '"kind": null'),
        # kinds, and requester commitments, a strict reader refuses
        lambda t: t.replace('"kind": "document"', '"kind": "revocation"'),
        lambda t: t.replace('"kind": "document"', '"kind": "Document"'),
        lambda t: t.replace('"kind": "document"', '"kind": 0'),
        lambda t: _REQUESTER.sub('"requester_commitment": "' + "0" * 64 + '"', t),
        lambda t: _REQUESTER.sub(lambda m: f'"requester_commitment": "{m[1].upper()}"', t),
        lambda t: _REQUESTER.sub(lambda m: f'"requester_commitment": "{m[1][:62]}"', t),
        lambda t: _REQUESTER.sub(lambda m: f'"requester_commitment": "0x{m[1]}"', t),
        lambda t: _REQUESTER.sub('"requester_commitment": ""', t),
        lambda t: _REQUESTER.sub('"requester_commitment": 0', t),
        lambda t: _REQUESTER.sub(lambda m: f'"requester_commitment": ["{m[1]}"]', t),
        # a repeated kind or commitment
        lambda t: t.replace('"kind": "document"', '"kind": "event", "kind": "document"'),
        lambda t: t.replace('"kind": "document"', '"kind": "document", "kind" : "document"'),
        lambda t: _REQUESTER.sub(
            lambda m: f'"requester_commitment": null, "requester_commitment": "{m[1]}"', t
        ),
    ],
)
def test_version_4_near_misses_go_to_the_strict_reader(edit: object) -> None:
    assert callable(edit)
    text = edit(SEALED)
    assert text != SEALED
    assert bundle_fast.read(text) is None
    assert bundle_fast.read(text.encode()) is None


def test_a_null_requester_commitment_reads_as_none() -> None:
    text = _REQUESTER.sub('"requester_commitment": null', SEALED)
    assert same_as_strict(text)
    assert load_bundle(text).leaf.requester_commitment == bytes(32)


@pytest.mark.parametrize(
    "number", ["00", "01", "-01", "+0", "0.", "0x0", "--0", "0e", "0 /* c */", "0,"]
)
def test_json_the_stdlib_refuses_the_fast_reader_refuses_too(number: str) -> None:
    # Soundness rests on msgspec's grammar being no looser than json.loads' anywhere.
    text = VALID.replace('"seq": 0', '"seq": ' + number, 1)
    assert bundle_fast.read(text) is None
    with pytest.raises(BundleFormatError):
        load_bundle(text)


@pytest.mark.parametrize("around", ["\x0c", "\x0b", "\x00", "\xa0", "{}", ","])
def test_text_around_the_object_is_refused(around: str) -> None:
    extra = around.encode().decode("unicode_escape")
    for text in (VALID + extra, extra + VALID):
        assert bundle_fast.read(text) is None
        assert bundle_fast.read(text.encode()) is None


def test_an_explicit_null_is_not_an_absent_section() -> None:
    pending = json.loads((VECTORS / "bundles" / "pending.json").read_bytes())
    for name in ("inclusion", "head", "anchor"):
        assert bundle_fast.read(json.dumps({**pending, name: None})) is None
        with pytest.raises(BundleFormatError):
            load_bundle(json.dumps({**pending, name: None}))


MUTANT_SEEDS = {name: text for name, (text, _) in SEEDS.items()} | {
    f"v4/bundles/{name}.json": (VECTORS / "v4" / "bundles" / f"{name}.json").read_text(
        encoding="utf-8"
    )
    for name in ("sealed-requester", "sealed", "pending", "login-event")
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutants_read_the_same(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(MUTANT_SEEDS)), label="seed")
    text = MUTANT_SEEDS[name]
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng"))
    if data.draw(st.booleans(), label="textual"):
        edit = data.draw(st.sampled_from(sorted(TEXT_EDITS)), label="edit")
        same_as_strict(TEXT_EDITS[edit](text, rng))
        return
    tree = json.loads(text)
    path = data.draw(st.sampled_from(list(_paths(tree))), label="path")
    tree = _structural(tree, path, data.draw, rng)
    same_as_strict(json.dumps(tree, ensure_ascii=rng.randrange(2) == 0))


def test_bundles_of_one_head_share_its_sections_and_no_other() -> None:
    cms = load_bundle((VECTORS / "bundles" / "valid-cms.json").read_bytes())
    pkcs1 = load_bundle((VECTORS / "bundles" / "valid-pkcs1.json").read_bytes())
    assert cms.head is pkcs1.head and cms.anchor is pkcs1.anchor  # one head, one anchor
    assert cms.anchor is not None
    other_block = cms.anchor.block_number + 1
    text = VALID.replace(
        f'"block_number": {cms.anchor.block_number}', f'"block_number": {other_block}'
    )
    moved = load_bundle(text)
    assert moved.anchor is not None and moved.anchor.block_number == other_block
    assert moved.head is not cms.head and moved.anchor is not cms.anchor
    assert moved == parse_bundle(load_json(text))
