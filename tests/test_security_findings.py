"""Regression tests for the security review "Hardening the node, the verifier and the
registry": findings 2 (quadratic bundle parsing), 5 (unauthenticated large bodies),
6 (500s on out-of-range numbers) and 7 (an entry logged whose bundle can never be built).

The first tests need no node; the others share one node on a devnet for the module."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import Issued, TestHierarchy
from protocol.bundle import MAX_BUNDLE_BYTES, MAX_CERTIFICATES, load_json
from protocol.errors import BundleFormatError
from protocol.leaf import MAX_UINT64
from tests.node_harness import NodeProcess, node_on_devnet, signed_entry
from tests.node_harness import http as call

pytest_plugins = ["tests.jpki_fixtures"]


# ----------------------------------------------------------------- finding 2: bundle parsing


def _escaped_quotes(size: int) -> str:
    """The review's input: 40 brackets, then a string that never ends, made of `\\"`."""
    return "[" * 40 + '"' + '\\"' * ((size - 41) // 2)


def _escaped_quotes_closed(size: int) -> str:
    """Valid JSON nested 20 deep around one long string of escaped quotes."""
    return "[" * 20 + '"' + '\\"' * ((size - 42) // 2) + '"' + "]" * 20


def _brackets_in_string(size: int) -> str:
    """Valid JSON: 40 brackets inside a string of escaped quotes do not count as nesting."""
    return '["' + "[" * 40 + '\\"' * ((size - 46) // 2) + '"]'


def _outcome(text: str) -> str:
    try:
        load_json(text)
    except BundleFormatError as error:
        return str(error)
    return "accepted"


def _cost(text: str, repeats: int = 5) -> float:
    """The least of a few timings: noise (the benchmark, the other tests) only adds time."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        _outcome(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("size", [32 * 1024, MAX_BUNDLE_BYTES])
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_escaped_quotes, "bundle: nested more than 32 levels deep (no bundle is)"),
        (_escaped_quotes_closed, "accepted"),
        (_brackets_in_string, "accepted"),
    ],
)
def test_crafted_escaped_quotes_are_judged_as_before(make: Any, expected: str, size: int) -> None:
    text = make(size)
    assert size - 2 <= len(text.encode()) <= MAX_BUNDLE_BYTES
    started = time.perf_counter()
    assert _outcome(text) == expected
    # Generous: the scan takes milliseconds; before the fix 32 KB took ~3 s, 1 MiB ~50 min.
    assert time.perf_counter() - started < 2.0


def test_nesting_check_cost_grows_linearly() -> None:
    # Small sizes first, so that a quadratic scan fails here in seconds (8 -> 32 KB: ~16x
    # before the fix) instead of spending an hour on the megabyte.
    small, four_times = _cost(_escaped_quotes(8 * 1024)), _cost(_escaped_quotes(32 * 1024))
    assert four_times < 10 * small, (small, four_times)
    # The review's bound: 16x the input may cost at most 40x the time (quadratic: 256x).
    medium, large = _cost(_escaped_quotes(64 * 1024)), _cost(_escaped_quotes(MAX_BUNDLE_BYTES))
    assert large < 40 * medium, (medium, large)


# ----------------------------------------------------------------- a node for the rest


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    with node_on_devnet(tmp_path_factory.mktemp("node-security"), jpki_hierarchy) as process:
        yield process


@pytest.fixture(scope="module")
def tokens(node: NodeProcess) -> dict[str, str]:
    return {
        "submit": node.token("issuing-system", "submit", "read"),
        "read": node.token("reader", "read"),
    }


def _tree_size(node: NodeProcess) -> int:
    size: int = call("GET", node.url + "/v1/log/head").body["tree_size"]
    return size


def _announce(
    node: NodeProcess, path: str, token: str | None, length: int, sent: bytes = b'{"entr'
) -> tuple[int, dict[str, Any], float]:
    """POST announcing `length` bytes and sending only `sent`; the answer must come before
    the rest (which never comes): (status, problem body, seconds to the answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        started = time.perf_counter()
        connection.putrequest("POST", path)
        if token is not None:
            connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders(sent)
        answer = connection.getresponse()  # times out if the node waits for the body
        body = json.loads(answer.read())
        return answer.status, body, time.perf_counter() - started
    finally:
        connection.close()


# ----------------------------------------------------------------- finding 5: large bodies


@pytest.mark.chain
@pytest.mark.parametrize("path", ["/v1/entries", "/v1/entries/bulk"])
@pytest.mark.parametrize(
    ("who", "status", "problem"),
    [
        (None, 401, "unauthorized"),
        ("ntk_not-a-token", 401, "unauthorized"),
        ("read", 403, "forbidden"),
    ],
)
def test_token_is_checked_before_a_large_body_is_read(
    node: NodeProcess,
    tokens: dict[str, str],
    path: str,
    who: str | None,
    status: int,
    problem: str,
) -> None:
    token = tokens.get(who, who) if who is not None else None
    answer, body, seconds = _announce(node, path, token, 50 * 1024 * 1024)
    assert answer == status and body["type"].endswith(problem), body
    assert body["field"] == "Authorization" and seconds < 5
    assert call("GET", node.url + "/healthz").status == 200


@pytest.mark.chain
def test_single_entry_body_is_limited_to_what_an_entry_needs(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    # Under max_body_bytes (64 MiB), over what one entry can need: refused without reading.
    answer, body, seconds = _announce(node, "/v1/entries", tokens["submit"], 1024 * 1024)
    assert answer == 413 and body["type"].endswith("body-too-large") and seconds < 5, body
    # A real entry still fits.
    entry = signed_entry(node.hierarchy.ee_valid_gen02, b"fits the entry limit")
    assert call("POST", node.url + "/v1/entries", entry, tokens["submit"]).status == 201


# ----------------------------------------------------------------- finding 6: no 500s


@pytest.mark.chain
@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"/v1/log/leaves?start={2**64}&end={2**64 + 1}", "start"),
        (f"/v1/log/leaves?start={2**64 - 2}&end={2**64}", "end"),
        (f"/v1/log/heads?start={2**64}", "start"),
        (f"/v1/log/consistency?first=0&second={2**64}", "second"),
        ("/v1/log/inclusion?leaf_hash=" + "00" * 32 + f"&tree_size={2**64}", "tree_size"),
    ],
)
def test_numbers_beyond_uint64_are_refused_naming_the_parameter(
    node: NodeProcess, query: str, field: str
) -> None:
    answer = call("GET", node.url + query)
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["field"] == field


@pytest.mark.chain
def test_log_ranges_are_declared_and_the_top_of_uint64_is_served(node: NodeProcess) -> None:
    spec = call("GET", node.url + "/openapi.json").body
    for path, names in (("/v1/log/leaves", {"start", "end"}), ("/v1/log/heads", {"start"})):
        parameters = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        for name in names:
            assert parameters[name]["maximum"] == MAX_UINT64, (path, name, parameters[name])
    top = call("GET", f"{node.url}/v1/log/leaves?start={MAX_UINT64 - 1}&end={MAX_UINT64}")
    assert top.status == 200 and top.body == {"leaves": []}
    heads = call("GET", f"{node.url}/v1/log/heads?start={MAX_UINT64}&limit=1000")
    assert heads.status == 200 and heads.body["heads"] == []


@pytest.mark.chain
@pytest.mark.parametrize("bulk", [False, True])
def test_issued_at_before_1970_is_refused_naming_it(
    node: NodeProcess, tokens: dict[str, str], bulk: bool
) -> None:
    entry = signed_entry(
        node.hierarchy.ee_valid_gen02, b"issued long ago", issued_at="1969-12-31T23:59:59Z"
    )
    before = _tree_size(node)
    if bulk:
        answer = call("POST", node.url + "/v1/entries/bulk", {"entries": [entry]}, tokens["submit"])
    else:
        answer = call("POST", node.url + "/v1/entries", entry, tokens["submit"])
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["field"] == ("entries[0].issued_at" if bulk else "issued_at")
    assert "1970" in answer.body["detail"]
    assert _tree_size(node) == before


@pytest.mark.chain
def test_signing_time_before_1970_is_refused_naming_it(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    certificate = x509.load_pem_x509_certificate(node.hierarchy.ee_valid_gen02.cert.read_bytes())
    body = {
        "document_sha256": "ab" * 32,
        "document_type": 1,
        "issued_at": "2026-11-23T10:00:00+09:00",
        "signature": {
            "format": "pkcs1",
            "value": base64.b64encode(b"\x00" * 256).decode(),
            "certificate": base64.b64encode(certificate.public_bytes(Encoding.DER)).decode(),
            "signing_time": "1969-07-20T20:17:40Z",
        },
    }
    answer = call("POST", node.url + "/v1/entries", body, tokens["submit"])
    assert answer.status == 422 and answer.body["field"] == "signature.signing_time", answer.body


# ----------------------------------------------------------------- finding 7: certificates


def _cms_with_certificates(signer: Issued, extra: list[Issued], document: bytes) -> str:
    cms = sign_cms(
        document,
        key=load_private_key(signer.key),
        cert=x509.load_pem_x509_certificate(signer.cert.read_bytes()),
        chain=[x509.load_pem_x509_certificate(i.cert.read_bytes()) for i in extra],
    )
    return base64.b64encode(cms).decode()


def _others(hierarchy: TestHierarchy) -> list[Issued]:
    """Genuine certificates besides the signer's, its CA first (none forged: a forged CA
    could make path building refuse the signer for another reason)."""
    return [
        hierarchy.sign_ca_gen02,
        hierarchy.sign_ca_gen01,
        hierarchy.auth_ca,
        hierarchy.ee_valid_gen01,
        hierarchy.ee_revoked,
        hierarchy.ee_expired,
        hierarchy.ee_not_yet_valid,
        hierarchy.ee_user_auth,
    ]


@pytest.mark.chain
def test_cms_with_more_certificates_than_a_bundle_carries_is_refused(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    signer, others = node.hierarchy.ee_valid_gen02, _others(node.hierarchy)
    assert len(others) == MAX_CERTIFICATES  # with the signer's: one too many
    document = b"nine certificates"
    entry = signed_entry(signer, document)
    entry["signature"]["value"] = _cms_with_certificates(signer, others, document)
    before = _tree_size(node)
    answer = call("POST", node.url + "/v1/entries", entry, tokens["submit"])
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["field"] == "signature.value"
    assert f"at most {MAX_CERTIFICATES}" in answer.body["detail"]
    assert _tree_size(node) == before


@pytest.mark.chain
def test_cms_with_as_many_certificates_as_a_bundle_carries_gets_its_bundle(
    node: NodeProcess, tokens: dict[str, str]
) -> None:
    signer, others = node.hierarchy.ee_valid_gen02, _others(node.hierarchy)
    document = b"eight certificates"
    entry = signed_entry(signer, document)
    entry["signature"]["value"] = _cms_with_certificates(
        signer, others[: MAX_CERTIFICATES - 1], document
    )
    receipt = call("POST", node.url + "/v1/entries", entry, tokens["submit"])
    assert receipt.status == 201, receipt.body
    bundle = call(
        "GET", f"{node.url}/v1/receipts/{receipt.body['receipt_id']}/bundle", token=tokens["read"]
    )
    assert bundle.status == 200, bundle.body
    assert len(bundle.body["signature"]["certificates"]) == MAX_CERTIFICATES
