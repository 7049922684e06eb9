"""The node's revocation data as its operator sees it: a CRL past nextUpdate makes /readyz 503
(the public listener says only "not ready"), shows in the metrics, and refuses submissions with
a 503 naming the CRL; replacing the file brings everything back without a restart. OCSP
configured instead (the devtools responder over HTTP) keeps the node ready and accepting."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from devtools.ocsp import TestOCSPResponder
from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    SYNTHETIC_PEOPLE,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
)
from tests.jpki_fixtures import key, x509_cert
from tests.node_harness import Answer, signed_entry
from tests.node_harness import http as call
from tests.two_listener_node import TwoListenerNode, running_node

pytest_plugins = ["tests.jpki_fixtures"]

HOUR = timedelta(hours=1)


def _write_crl(h: TestHierarchy, path: Path, next_update: datetime) -> None:
    """gen02's Iizuka CRL (ee_valid_gen02's point), replaced as a CRL job would: write, rename."""
    crl = make_crl(
        issuer_cert=x509_cert(h.sign_ca_gen02),
        issuer_key=key(h.sign_ca_gen02),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[],
        this_update=next_update - 24 * HOUR,
        next_update=next_update,
    )
    scratch = path.with_suffix(".new")
    scratch.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    scratch.replace(path)


@pytest.fixture
def crl_file(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> Path:
    path = tmp_path / "iizuka-gen02.crl"
    _write_crl(jpki_hierarchy, path, datetime.now(UTC) + 24 * HOUR)
    return path


@pytest.fixture
def node(
    jpki_hierarchy: TestHierarchy, crl_file: Path, tmp_path: Path
) -> Iterator[TwoListenerNode]:
    settings = {"NOTARY_CRL_FILES": json.dumps([str(crl_file)])}
    with running_node(tmp_path / "node", jpki_hierarchy, "issuer", ("submit",), settings) as node:
        yield node


def _header(answer: Answer, name: str) -> str:
    return {k.lower(): v for k, v in answer.headers.items()}[name.lower()]


def _submit(node: TwoListenerNode, text: str) -> Answer:
    entry = signed_entry(node.hierarchy.ee_valid_gen02, text.encode())
    return call("POST", node.lgwan + "/v1/entries", entry, node.token)


def _metric(node: TwoListenerNode, name: str) -> float:
    text = call("GET", node.lgwan + "/metrics").body
    found = re.search(
        rf'^{name}\{{ca="JPKI for digital signature sha256:[0-9a-f]{{12}}"\}} (\S+)$', text, re.M
    )
    assert found, text
    return float(found.group(1))


def test_stale_crl_flips_readyz_metrics_and_submissions_and_a_refresh_flips_back(
    node: TwoListenerNode, crl_file: Path
) -> None:
    h = node.hierarchy
    ready = call("GET", node.lgwan + "/readyz")
    assert ready.status == 200, ready.body
    assert ready.body["crls"][0]["stale_points"] == []
    assert _metric(node, "notary_crl_stale") == 0
    assert _submit(node, "before").status == 201

    expired = datetime.now(UTC) - HOUR
    _write_crl(h, crl_file, expired)
    stale = call("GET", node.lgwan + "/readyz")
    assert stale.status == 503
    assert _header(stale, "Content-Type") == "application/problem+json"
    assert stale.body["type"].endswith("/not-ready")
    assert "CRL past its nextUpdate" in stale.body["detail"]
    assert "Iizuka-shi CRLDP" in stale.body["detail"]
    public = call("GET", node.public + "/readyz")
    assert public.status == 503 and "CRL" not in json.dumps(public.body)
    assert _metric(node, "notary_crl_stale") == 1
    assert _metric(node, "notary_crl_next_update_seconds") == int(expired.timestamp())
    assert _metric(node, "notary_crl_age_seconds") > 24 * 3600

    refused = _submit(node, "during")
    assert refused.status == 503, refused.body
    assert refused.body["type"].endswith("/revocation-data-stale")
    assert refused.body["field"] == "signature.certificate"
    assert "CRL" in refused.body["detail"] and "refresh" in refused.body["detail"]
    assert int(_header(refused, "Retry-After")) > 0
    person = SYNTHETIC_PEOPLE["sign-ee-valid-gen02"]
    assert person.name not in json.dumps(refused.body) + json.dumps(stale.body)

    _write_crl(h, crl_file, datetime.now(UTC) + 24 * HOUR)  # the CRL job catches up
    assert call("GET", node.lgwan + "/readyz").status == 200
    assert call("GET", node.public + "/readyz").status == 200
    assert _metric(node, "notary_crl_stale") == 0
    assert _submit(node, "after").status == 201


def test_grace_delays_the_alarm_but_not_the_refusal(
    jpki_hierarchy: TestHierarchy, crl_file: Path, tmp_path: Path
) -> None:
    _write_crl(jpki_hierarchy, crl_file, datetime.now(UTC) - HOUR)
    settings = {"NOTARY_CRL_FILES": json.dumps([str(crl_file)]), "NOTARY_CRL_STALE_GRACE": "7200"}
    with running_node(tmp_path / "node", jpki_hierarchy, "issuer", ("submit",), settings) as node:
        assert call("GET", node.lgwan + "/readyz").status == 200
        assert _metric(node, "notary_crl_stale") == 0
        assert _submit(node, "in grace").status == 503


def test_ocsp_keeps_a_node_with_a_stale_crl_ready_and_accepting(
    jpki_hierarchy: TestHierarchy, crl_file: Path, tmp_path: Path
) -> None:
    _write_crl(jpki_hierarchy, crl_file, datetime.now(UTC) - HOUR)
    responder = TestOCSPResponder.for_hierarchy(jpki_hierarchy.out_dir)
    with responder.serve() as url:
        settings = {
            "NOTARY_CRL_FILES": json.dumps([str(crl_file)]),
            "NOTARY_OCSP_URLS": url,
        }
        with running_node(tmp_path / "n", jpki_hierarchy, "issuer", ("submit",), settings) as node:
            assert call("GET", node.lgwan + "/readyz").status == 200
            assert _metric(node, "notary_crl_stale") == 1  # the CRL is still reported
            assert _submit(node, "vouched by OCSP").status == 201
            assert responder.requests == ["POST /"]
            revoked = signed_entry(jpki_hierarchy.ee_revoked, b"revoked signer")
            refused = call("POST", node.lgwan + "/v1/entries", revoked, node.token)
            assert refused.status == 422 and refused.body["type"].endswith("/signer-revoked")
