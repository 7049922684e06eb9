"""The bulk route's msgspec fast path (`node.api.fast_bulk`) against `parse_bulk` (pydantic):
whatever the fast path accepts, pydantic accepts too, as the same submissions; everything else
(valid or not) is left to pydantic, so refusals keep their fields and wording."""

from __future__ import annotations

import base64
import itertools
import json
import random
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from node.api import fast_bulk, is_base64, parse_bulk
from node.intake import Submission


def entry(number: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "document_sha256": f"{number:064x}",
        "document_type": 0x8001,
        "issued_at": "2026-11-30T10:00:00Z",
        "signature": {"format": "cms", "value": base64.b64encode(bytes([number]) * 40).decode()},
    }
    return body | overrides


def pydantic_submissions(raw: bytes) -> list[Submission] | None:
    try:
        return [e.submission() for e in parse_bulk(raw).entries]
    except RequestValidationError:
        return None


def agree(raw: bytes) -> bool:
    """Whether the fast path declined `raw` (None) or decoded it as pydantic does; True when
    the fast path took it."""
    fast = fast_bulk(raw)
    if fast is None:
        return False
    assert fast == pydantic_submissions(raw), raw[:300]
    return True


VALID = [
    [entry(1)],
    [entry(n) for n in range(1, 30)],
    [entry(2, document_sha256="AB" * 32), entry(3, document_sha256="aB" * 32)],
    [entry(4, issued_at="2026-11-30T19:00:00+09:00"), entry(5, issued_at="1970-01-01T00:00:00Z")],
    [entry(6, issued_at="2026-11-30T04:30:00-05:30"), entry(7, issued_at="2026-02-28T23:59:59Z")],
    [entry(8, document_type=1), entry(9, document_type=65534)],
    [entry(10, signature={"value": "QUJD", "format": "cms"})],
]


@pytest.mark.parametrize("entries", VALID)
def test_common_bodies_take_the_fast_path(entries: list[dict[str, Any]]) -> None:
    raw = json.dumps({"entries": entries}).encode()
    assert agree(raw)
    spaced = json.dumps({"entries": entries}, indent=2, ensure_ascii=True).encode()
    assert agree(spaced)


DECLINED_VALID = {
    "request id": {"request_id": "order-1", "entries": [entry(1)]},
    "null request id": {"request_id": None, "entries": [entry(1)]},
    "entry request id": {"entries": [entry(1, request_id="e-1")]},
    "application": {
        "entries": [
            entry(1, application={"format": "cms", "value": "QUJD", "application_sha256": "0" * 64})
        ]
    },
    "fraction of a second": {"entries": [entry(1, issued_at="2026-11-30T10:00:00.5Z")]},
    "space for T": {"entries": [entry(1, issued_at="2026-11-30 10:00:00Z")]},
    "lowercase t and z": {"entries": [entry(1, issued_at="2026-11-30t10:00:00z")]},
    "offset without colon": {"entries": [entry(1, issued_at="2026-11-30T10:00:00+0900")]},
    "type as float": {"entries": [entry(1, document_type=32769.0)]},
    "type as string": {"entries": [entry(1, document_type="32769")]},
    "type as bool": {"entries": [entry(1, document_type=True)]},
    "time as number": {"entries": [entry(1, issued_at=1_764_496_800)]},
    "pkcs1 (its certificate checked later)": {
        "entries": [entry(1, signature={"format": "pkcs1", "value": "QUJD"})]
    },
    "null certificate": {
        "entries": [entry(1, signature={"format": "cms", "value": "QUJD", "certificate": None})]
    },
}


@pytest.mark.parametrize("name", DECLINED_VALID)
def test_other_valid_bodies_are_left_to_pydantic(name: str) -> None:
    raw = json.dumps(DECLINED_VALID[name]).encode()
    assert not agree(raw)


INVALID = {
    "empty": {"entries": []},
    "no entries": {},
    "unknown field": {"entries": [entry(1, colour="red")]},
    "unknown top field": {"entries": [entry(1)], "x": 1},
    "missing digest": {"entries": [{k: v for k, v in entry(1).items() if k != "document_sha256"}]},
    "short digest": {"entries": [entry(1, document_sha256="ab" * 31)]},
    "non-hex digest": {"entries": [entry(1, document_sha256="zz" * 32)]},
    "fullwidth digest": {"entries": [entry(1, document_sha256="０" * 64)]},
    "digest with newline": {"entries": [entry(1, document_sha256="ab" * 32 + "\n")]},
    "type 0": {"entries": [entry(1, document_type=0)]},
    "type 65535": {"entries": [entry(1, document_type=65535)]},
    "huge type": {"entries": [entry(1, document_type=2**70)]},
    "naive time": {"entries": [entry(1, issued_at="2026-11-30T10:00:00")]},
    "before 1970": {"entries": [entry(1, issued_at="1969-12-31T23:59:59Z")]},
    "before 1970 by offset": {"entries": [entry(1, issued_at="1970-01-01T08:59:59+09:00")]},
    "hour 24": {"entries": [entry(1, issued_at="2026-11-30T24:00:00Z")]},
    "leap second": {"entries": [entry(1, issued_at="2026-12-31T23:59:60Z")]},
    "30 February": {"entries": [entry(1, issued_at="2026-02-30T10:00:00Z")]},
    "offset 24 h": {"entries": [entry(1, issued_at="2026-11-30T10:00:00+24:00")]},
    "year 0": {"entries": [entry(1, issued_at="0000-01-01T00:00:00Z")]},
    "unknown format": {"entries": [entry(1, signature={"format": "CMS", "value": "QUJD"})]},
    "bad base64": {"entries": [entry(1, signature={"format": "cms", "value": "QUJ"})]},
    "base64 with space": {"entries": [entry(1, signature={"format": "cms", "value": "QU JD"})]},
    "url-safe base64": {"entries": [entry(1, signature={"format": "cms", "value": "-_-_"})]},
    "inner padding": {"entries": [entry(1, signature={"format": "cms", "value": "QQ==QUJD"})]},
    "too long signature": {
        "entries": [entry(1, signature={"format": "cms", "value": "QUJD" * (16 * 1024 + 1)})]
    },
    "null signature": {"entries": [entry(1, signature=None)]},
    "entries not a list": {"entries": entry(1)},
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_bodies_are_refused_by_pydantic(name: str) -> None:
    raw = json.dumps(INVALID[name], ensure_ascii=False).encode()
    assert fast_bulk(raw) is None
    with pytest.raises(RequestValidationError):
        parse_bulk(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"null",
        b'{"entries": [',
        b'{"entries": [], "entries": [' + json.dumps(entry(1)).encode() + b"]}",
        b'{"entries": [' + json.dumps(entry(1)).encode() + b'], "entries": []}',
        b'\xff{"entries": []}',
        json.dumps({"entries": [entry(1)]}).encode().replace(b"cms", b"c\xe9s"),
        b'{"entries": [{"document_sha256": "' + b"a" * 64 + b'", "document_sha256": "zz"}]}',
    ],
)
def test_odd_bytes_agree(raw: bytes) -> None:
    agree(raw)  # asserts itself when the fast path takes the body


def test_seeded_byte_changes_agree() -> None:
    """Single-byte changes of a small valid body: wherever the fast path still decodes one,
    pydantic decodes the same submissions."""
    raw = json.dumps({"entries": [entry(1), entry(2, issued_at="2026-11-30T19:00:00+09:00")]})
    data = raw.encode()
    rng = random.Random(16)
    taken = 0
    for _ in range(3000):
        changed = bytearray(data)
        changed[rng.randrange(len(changed))] = rng.choice(b'0123456789abcdefAZ+-/=:TZ"{}[],. \\')
        taken += agree(bytes(changed))
    assert taken > 100  # changes to digests, times and signatures that stay valid


def test_fast_path_base64_is_pydantics_on_every_short_text() -> None:
    """The fast path decodes a signature's base64 in msgspec: on every text up to a few
    characters over alphabets that mix data, padding, whitespace, URL-safe and non-ASCII
    characters, sent plain and JSON-escaped, it takes exactly the texts pydantic takes
    (`is_base64`), with the same bytes (`agree`)."""
    compared = 0
    for alphabet, longest in (("AQ/+= \n-_é", 4), ("AQ=\n", 7), ("A=", 12)):
        for length in range(longest + 1):
            for characters in itertools.product(alphabet, repeat=length):
                text = "".join(characters)
                for escaped in (False, True):
                    body = {"entries": [entry(1, signature={"format": "cms", "value": text})]}
                    raw = json.dumps(body, ensure_ascii=escaped)
                    if escaped:
                        raw = raw.replace('/"', '\\/"').replace("A", "\\u0041")
                    assert agree(raw.encode()) == is_base64(text), text
                    compared += 1
    assert compared > 80_000


@pytest.mark.parametrize("size", [49_151, 49_152, 49_153])
def test_the_longest_signature_agrees(size: int) -> None:
    """64 Ki base64 characters (SignatureIn.value's max_length) hold 49,152 bytes."""
    value = base64.b64encode(b"\x01" * size).decode()
    raw = json.dumps({"entries": [entry(1, signature={"format": "cms", "value": value})]})
    assert agree(raw.encode()) == (len(value) <= 64 * 1024)
