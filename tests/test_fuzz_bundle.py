"""Fuzzing the proof-bundle reader and `verify()` (issue 12), offline and bounded in time.

Every input, however malformed, ends one of two ways: `load_bundle` refuses it with a
`BundleFormatError` naming a field, or accepts it; `verify()` then returns a verdict with
every check, never raises. An accepted bundle is exactly what the producer would write for
it (it round-trips through `dump_bundle`, and validates under docs/bundle.schema.json).
Inputs come from structural mutations of the protocol vectors (types, sizes, nesting,
unicode, huge numbers, duplicated keys, NaN, BOMs...) and from adversarial size ladders up to
the largest bundle, whose cost must grow linearly: the ratio of per-byte costs between the
smallest and largest rung is compared, never an absolute time, so a loaded machine does not
make it flaky while a quadratic scan (security finding 2) fails it.

Chain facts come from tests/vectors/chain.json (`RecordedChain`): no chain process.
"""

from __future__ import annotations

import base64
import gc
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from protocol.bundle import (
    MAX_BUNDLE_BYTES,
    ProofBundle,
    bundle_to_json,
    dump_bundle,
    load_bundle,
    parse_bundle,
)
from protocol.checks import BUNDLE_FORMAT, CHECK_ORDER, Outcome
from protocol.errors import BundleFormatError
from protocol.trust_root import load_trust_root
from tests.vectors.make_vectors import RecordedChain
from verifier import VerificationPolicy, Verifier
from verifier.jpki import RevocationSources, load_certificates
from verifier.models import Verdict

ROOT = Path(__file__).parent.parent
VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
CHAIN = json.loads((VECTORS / "chain.json").read_text(encoding="utf-8"))
SCHEMA = Draft202012Validator(
    json.loads((ROOT / "docs" / "bundle.schema.json").read_text(encoding="utf-8"))
)
SEEDS = {
    name: (
        (VECTORS / name).read_text(encoding="utf-8"),
        (VECTORS / EXPECTED["bundles"][name]["document"]).read_bytes(),
    )
    for name in (
        "bundles/valid-cms.json",
        "bundles/valid-pkcs1.json",
        "bundles/pending.json",
        "bundles/revoked.json",
    )
}
# A version-3 bundle: its evidence is checked against the v3 trust root on every input.
SEEDS["v3/bundles/valid.json"] = (
    (VECTORS / "v3" / "bundles" / "valid.json").read_text(encoding="utf-8"),
    (VECTORS / "documents" / "resident-record.txt").read_bytes(),
)
TRUST_ROOT = load_trust_root((VECTORS / "v3" / "trust-root.json").read_bytes())
SECONDS_PER_INPUT = 15.0  # a backstop against hangs only: a bundle takes milliseconds


@cache
def verifier() -> Verifier:
    policy = VerificationPolicy(
        rpc_urls=[],
        registry=CHAIN["registry"],
        chain_id=CHAIN["chain_id"],
        trust_anchors=load_certificates([VECTORS / "signing" / "ca.pem"]),
        revocation=RevocationSources(crl_files=[VECTORS / "signing" / "crl.der"]),
        now=datetime.fromisoformat(EXPECTED["verify_at"]),
        trust_root=TRUST_ROOT,
        require_municipal_seal=False,
    )
    return Verifier(policy, chain_reader=RecordedChain.load())


# ------------------------------------------------------------------------ the oracle


def _lower_addresses(data: Any) -> Any:
    """Addresses may be given checksummed or all lower-case; the parser writes checksums."""
    if isinstance(data, dict):
        return {k: _lower_addresses(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_lower_addresses(v) for v in data]
    if isinstance(data, str) and data.startswith("0x") and len(data) == 42:
        return data.lower()
    return data


def judge(text: str | bytes, document: bytes) -> ProofBundle | None:
    """Parse and verify `text`; fail the test on anything but refusal or acceptance."""
    started = time.perf_counter()
    try:
        bundle: ProofBundle | None = load_bundle(text)
    except BundleFormatError as error:
        assert isinstance(error.field, str) and error.field, error
        assert error.problem and str(error).startswith(error.field + ": "), error
        bundle = None
    if bundle is not None:
        # (parse_bundle, not load_bundle: the indented form of a bundle just under the size
        # limit written compactly can be over it)
        assert parse_bundle(json.loads(dump_bundle(bundle))) == bundle
        written = bundle_to_json(bundle)
        assert not list(SCHEMA.iter_errors(written)), written
        # Accepted means already canonical: nothing in the input was silently dropped,
        # re-read or normalised (but the case of an address).
        assert _lower_addresses(written) == _lower_addresses(json.loads(text))
    verdict = verifier().verify(document, text)
    _check_verdict(verdict, accepted=bundle is not None)
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS_PER_INPUT, f"{elapsed:.1f} s for {len(text)} characters"
    return bundle


def _check_verdict(verdict: Verdict, *, accepted: bool) -> None:
    assert isinstance(verdict, Verdict)
    assert [check.name for check in verdict.checks] == list(CHECK_ORDER)
    first = verdict.checks[0]
    assert first.name == BUNDLE_FORMAT
    assert (first.outcome is Outcome.PASSED) == accepted, first
    assert verdict.summary


def test_seeds_are_accepted() -> None:
    for name, (text, document) in SEEDS.items():
        assert judge(text, document) is not None, name


# ------------------------------------------------------------------------ mutations


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in the JSON tree (the root is `()`)."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(data, path[:-1])[path[-1]] = value
    return data


_HEXISH = st.text("0123456789abcdefABCDEFx", min_size=0, max_size=80)
_WEIRD_TEXT = st.sampled_from([
    "", " ", "\u0000", "\ufeff", "\ud800", "\U0001f600" * 8, "ａｎｃｈｏｒｅｄ", "anchored\n",
    "0x", "0X" + "ab" * 32, "Ａ" * 64, "٠١٢٣٤٥", "１３１０１６", "131016 ",
    "2026-01-15T09:00:00+00:00",
    "2026-02-30T09:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z", "2026-01-15T09:00:60Z", "=" * 8, "AAAA" * 3 + "A===", "AAB=",
    "QUJD\nREVG", "-1", "1e3", "null", "pending", "cms", "PKCS1", "\\u0000",
])  # fmt: skip
_NUMBERS = st.sampled_from([
    0, 1, -1, 2**16 - 1, 2**16, 2**31, 2**32 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1,
    2**64, 2**256, -(2**64), 10**4000, 0.5, 1.0, -0.0, 1e308, 5e-324,
])  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    _NUMBERS,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    _WEIRD_TEXT,
    _HEXISH,
    st.text(max_size=40),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _tweak_text(value: str, rng: random.Random) -> str:
    i = rng.randrange(len(value))
    return rng.choice([
        value[:i] + value[i + 1 :],  # one character shorter
        value + value[i],  # one longer
        value.upper(),
        value[:i] + rng.choice("0fF=+/ \u00e9g") + value[i + 1 :],
        value * rng.choice([2, 50]),
        " " + value,
    ])  # fmt: skip


def _tweak(value: Any, rng: random.Random) -> Any:
    """A near miss of the same type: what a typo or a bit flip gives."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.choice([-1, 1, 2**32, 2**64, -(2**64)])
    if isinstance(value, str) and value:
        return _tweak_text(value, rng)
    if isinstance(value, list) and value:
        return rng.choice([value[:-1], value + value[-1:], value * 10, []])
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        changed = dict(value)
        if rng.randrange(2):
            del changed[key]
        else:
            changed[key + "_"] = changed[key]
        return changed
    return None


def _structural(data: Any, path: tuple[Any, ...], draw: Any, rng: random.Random) -> Any:
    kind = draw(st.sampled_from(["replace", "tweak", "delete", "extra", "wrap", "deep"]))
    target = _get(data, path)
    if kind == "replace":
        return _set(data, path, draw(_VALUES))
    if kind == "tweak":
        return _set(data, path, _tweak(target, rng))
    if kind == "delete" and path and isinstance(_get(data, path[:-1]), dict):
        del _get(data, path[:-1])[path[-1]]
        return data
    if kind == "extra" and isinstance(target, dict):
        target[draw(st.sampled_from(["extra", "Version", "status ", "leaf_hash", ""]))] = draw(
            _VALUES
        )
        return data
    if kind == "wrap":
        return _set(data, path, [target] if rng.randrange(2) else {"value": target})
    depth = draw(st.sampled_from([2, 30, 33, 200, 500]))
    wrapped: Any = target
    for _ in range(depth):
        wrapped = [wrapped]
    return _set(data, path, wrapped)


def _replace_number(text: str, token: str, rng: random.Random) -> str:
    field = rng.choice(['"version": 1', '"document_type": 1', '"tree_size": 7', '"seq": 0'])
    return text.replace(field, field.split(":")[0] + ": " + token, 1)


def _insert(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(["\x00", "}", "]", ",", '"', "\\", "\ud800", "💥"]) + text[i:]


def _duplicate_key(text: str, rng: random.Random) -> str:
    key = rng.choice(['"status"', '"leaf"', '"version"', '"path"', '"root"', '"salt"'])
    return text.replace(key + ":", f"{key}: 1, {key}:", 1)


def _flip_bit(text: str, rng: random.Random) -> bytes:
    raw = bytearray(text.encode())
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


TEXT_EDITS: dict[str, Callable[[str, random.Random], str | bytes]] = {
    "bom": lambda text, rng: "\ufeff" + text,
    "utf-8 bom": lambda text, rng: b"\xef\xbb\xbf" + text.encode(),
    "utf-16": lambda text, rng: text.encode("utf-16"),
    "truncate": lambda text, rng: text[: rng.randrange(len(text))],
    "insert": _insert,
    "duplicate key": _duplicate_key,
    "NaN": lambda text, rng: _replace_number(text, "NaN", rng),
    "-Infinity": lambda text, rng: _replace_number(text, "-Infinity", rng),
    "5000 digits": lambda text, rng: _replace_number(text, "9" * 5000, rng),
    "1e400": lambda text, rng: _replace_number(text, "1e400", rng),
    "trailing": lambda text, rng: text + rng.choice(["\n\n", " x", "{}", "\x00", "\ufeff"]),
    "control": lambda text, rng: text.replace('"anchored"', '"anch\u0007ored"', 1),
    "escapes": lambda text, rng: text.replace(
        '"131016"', '"\\u0031\\u0033\\u0031\\u0030\\u0031\\u0036"'
    ),
    "lone surrogate": lambda text, rng: text.replace('"cms"', '"\\ud800"', 1).replace(
        '"pkcs1"', '"\\udfff"', 1
    ),
    "bit flip": _flip_bit,
}


@settings(
    max_examples=300,
    deadline=None,  # time is bounded by `judge` and by the size ladders below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_structural_mutations_are_refused_or_accepted(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    text, document = SEEDS[name]
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng"))
    tree = json.loads(text)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = list(_paths(tree))
        path = data.draw(st.sampled_from(paths), label="path")
        tree = _structural(tree, path, data.draw, rng)
    judge(json.dumps(tree, ensure_ascii=rng.randrange(2) == 0), document)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_textual_mutations_are_refused_or_accepted(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    text, document = SEEDS[name]
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng"))
    edit = data.draw(st.sampled_from(sorted(TEXT_EDITS)), label="edit")
    judge(TEXT_EDITS[edit](text, rng), document)


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=2048) | st.text(max_size=512))
def test_arbitrary_input_is_refused_or_accepted(blob: bytes | str) -> None:
    judge(blob, b"any document")


# ------------------------------------------------------------------------ regressions


def test_a_number_with_more_digits_than_python_converts_is_a_format_error() -> None:
    # json.loads raised ValueError (int max str digits, 4,300) past the BundleFormatError net.
    text, document = SEEDS["bundles/valid-cms.json"]
    for digits in (4301, 100_000):
        mutated = text.replace('"document_type": 1', '"document_type": ' + "9" * digits, 1)
        with pytest.raises(BundleFormatError, match="digits"):
            load_bundle(mutated)
        judge(mutated, document)


def test_path_hashes_of_wrong_lengths_summing_right_are_refused() -> None:
    # The one-pass path check joined the hashes and only looked at the total length.
    text, document = SEEDS["bundles/valid-cms.json"]
    data = json.loads(text)
    path = data["inclusion"]["path"]
    path[0], path[1] = path[0] + path[1][0], path[1][1:]
    with pytest.raises(BundleFormatError) as caught:
        load_bundle(json.dumps(data))
    assert caught.value.field == "inclusion.path[0]"
    judge(json.dumps(data), document)


def test_an_unknown_field_with_an_empty_name_is_named() -> None:
    # The error's field was "" (the empty name after an empty prefix): unreadable.
    text, document = SEEDS["bundles/pending.json"]
    data = json.loads(text)
    data[""] = None
    with pytest.raises(BundleFormatError) as caught:
        load_bundle(json.dumps(data))
    assert caught.value.field == '""'
    judge(json.dumps(data), document)


def _with_certificate(index: int, edit: Callable[[bytes], bytes]) -> str:
    data = json.loads(SEEDS["bundles/valid-cms.json"][0])
    certificates = data["signature"]["certificates"]
    der = edit(base64.b64decode(certificates[index]))
    certificates[index] = base64.b64encode(der).decode()
    return json.dumps(data)


SHA256_WITH_RSA = bytes.fromhex("2a864886f70d01010b")  # 1.2.840.113549.1.1.11
UNKNOWN_ALGORITHM = bytes.fromhex("2a864886f77501010b")  # 1.2.840.113653.1.1.11


def _break_subject(der: bytes) -> bytes:
    """A zero byte where the subject's first attribute value has its tag."""
    subject = asn1_x509.Certificate.load(der)["tbs_certificate"]["subject"].dump()
    at = der.index(subject) + 11
    return der[:at] + b"\x00" + der[at + 1 :]


@pytest.mark.parametrize(
    ("index", "edit"),
    [
        # the signer's signature algorithm unknown to cryptography: UnsupportedAlgorithm
        # escaped verify() (found by the bit flips above)
        (0, lambda der: der.replace(SHA256_WITH_RSA, UNKNOWN_ALGORITHM)),
        # an intermediate's malformed subject, decoded only when path building compared it:
        # ValueError escaped verify()
        (1, _break_subject),
    ],
    ids=["unknown signature algorithm", "malformed subject"],
)
def test_a_malformed_certificate_gives_a_verdict(
    index: int, edit: Callable[[bytes], bytes]
) -> None:
    document = SEEDS["bundles/valid-cms.json"][1]
    text = _with_certificate(index, edit)
    assert judge(text, document) is not None
    assert verifier().verify(document, text).status.value != "valid"


# ------------------------------------------------------------------------ size ladders


LADDER = (16 * 1024, 64 * 1024, 512 * 1024, MAX_BUNDLE_BYTES)
"""Sizes in bytes; the largest is the largest bundle a verifier reads."""
SLACK = 8.0
"""How much more a byte may cost on the largest rung than on the smallest. Linear code stays
near 1 (less: fixed costs weigh more on small inputs); a quadratic scan reaches 32 at 512 KB
and 64 at 1 MiB. Each cost is the least of a few runs: load only ever adds time."""


def _valid_tree() -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(SEEDS["bundles/valid-cms.json"][0])
    return tree


def _fill(size: int, make: Callable[[int], str]) -> str:
    """`make(n)` for an n that makes the text `size` bytes or up to 64 under: the texts grow
    about linearly with n, so a few secant steps find it."""
    base = len(make(0).encode())
    per_n = (len(make(4096).encode()) - base) / 4096
    n = max(0, int((size - 32 - base) / per_n))
    for _ in range(20):
        length = len(make(n).encode())
        if size - 64 <= length <= size:
            return make(n)
        n = max(0, n + int((size - 32 - length) / per_n) or (1 if length < size else -1))
    raise AssertionError(f"no text of {size} bytes from {make.__name__}")


def _escaped_quotes(n: int) -> str:
    """Security finding 2: brackets, then an unterminated string of `\\"`."""
    return "[" * 40 + '"' + '\\"' * n


def _brackets_in_strings(n: int) -> str:
    return json.dumps({"version": 1, "pad": ["[{" * 20 + '\\"'] * n})


def _long_field(n: int) -> str:
    tree = _valid_tree()
    tree["leaf"]["salt"] = "a" * n
    return json.dumps(tree)


def _long_base64(n: int) -> str:
    """Accepted up to the blob limit: the signature is n canonical base64 characters."""
    tree = _valid_tree()
    tree["signature"]["value"] = base64.b64encode(bytes(range(256)) * (n // 192 + 1))[
        : n // 4 * 4
    ].decode()
    return json.dumps(tree)


def _large_certificates(n: int) -> str:
    """Accepted: eight certificates of garbage DER that verify() has to look at."""
    tree = _valid_tree()
    blob = base64.b64encode(b"\x30\x82" + bytes(range(256)) * (n // 1536 + 1))[
        : n // 32 * 4
    ].decode()
    tree["signature"]["certificates"] = [tree["signature"]["certificates"][0]] + [blob] * 7
    return json.dumps(tree)


def _many_keys(n: int) -> str:
    tree = _valid_tree()
    tree["leaf"].update({f"k{i}": i for i in range(n)})
    return json.dumps(tree)


def _duplicate_keys(n: int) -> str:
    return "{" + '"version": 1, ' * n + '"status": "pending"}'


def _escapes(n: int) -> str:
    tree = _valid_tree()
    tree["leaf"]["lg_code"] = "\u00e9\U0001f600\ud800" * n
    return json.dumps(tree, ensure_ascii=True)


def _whitespace(n: int) -> str:
    return json.dumps(_valid_tree()).replace(": ", ":" + " " * n, 1)


def _deep_then_flat(n: int) -> str:
    """As deep as allowed, and brackets enough that the nesting scan runs over all of it."""
    return "[" * 31 + "[0]," * n + "0" + "]" * 31


LADDERS: dict[str, Callable[[int], str]] = {
    "escaped quotes (finding 2)": _escaped_quotes,
    "brackets in strings": _brackets_in_strings,
    "long hex field": _long_field,
    "long base64 signature": _long_base64,
    "large certificates": _large_certificates,
    "many unknown keys": _many_keys,
    "duplicate keys": _duplicate_keys,
    "unicode escapes": _escapes,
    "whitespace": _whitespace,
    "32 deep then flat": _deep_then_flat,
}


def _cost(text: str, document: bytes, repeats: int = 3) -> float:
    """The least of a few runs of parse + verify; one run when it is already slow (so a
    quadratic scan fails in seconds instead of repeating minutes).

    The cyclic garbage collector is off while timing: a megabyte of ``[0],`` allocates a
    quarter of a million lists, enough to set off full collections of the whole test
    process, which would cost as much again as parsing (amortised linear, but a step up in
    the per-byte cost that says nothing about the parser)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            judge(text, document)
            best = min(best, time.perf_counter() - started)
            if best > 1.0:
                break
    finally:
        gc.enable()
    return best


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_cost_grows_linearly_up_to_the_largest_bundle(name: str) -> None:
    document = SEEDS["bundles/valid-cms.json"][1]
    make = LADDERS[name]
    per_byte: list[float] = []
    for size in LADDER:  # smallest first: a quadratic scan fails before the megabyte
        text = _fill(size, make)
        per_byte.append(_cost(text, document) / size)
        ratio = per_byte[-1] / per_byte[0]
        assert ratio < SLACK, f"{name}: a byte costs {ratio:.1f}x at {size} than at {LADDER[0]}"


def test_the_ladder_catches_the_old_quadratic_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurement itself, on the regex finding 2 replaced: small sizes (the old scan
    takes about 3 s for 32 KB), 16 times apart, must exceed SLACK."""
    old = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
    monkeypatch.setattr("protocol.bundle._STRINGS", old)
    monkeypatch.setattr(f"{__name__}.SECONDS_PER_INPUT", float("inf"))
    document = SEEDS["bundles/valid-cms.json"][1]
    small, large = 1024, 16 * 1024
    costs = [_cost(_fill(size, _escaped_quotes), document) / size for size in (small, large)]
    assert costs[1] / costs[0] > SLACK, costs


def test_every_ladder_rung_reaches_its_size() -> None:
    for name, make in LADDERS.items():
        for size in (LADDER[0], LADDER[-1]):
            assert size - 64 <= len(_fill(size, make).encode()) <= size, name
