"""Issue 14: the node re-checks each signer once the next CRL (or an OCSP response) issued after
the signing time is there, keeps it, and version-3 bundles carry it, so the signer check is
decided offline with no revocation source of the verifier's own.

Real processes: a one-validator Clique devnet and two nodes (one on CRL files, one on an OCSP
responder, `devtools.ocsp`). The CRL node is SIGKILLed while its entries wait for their re-check,
then the operator's "next CRL" lands and the restarted node captures it. The verifier must
accept only evidence by the signer's own CA generation issued after the signing time, let its
own fresher sources decide when it has them (a key compromise published later counts), and
mark a check decided by the bundle's evidence `as_of`.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_utils.crypto import keccak

from devnet.network import NetworkProcesses, init_network
from devtools.cms_sign import load_private_key
from devtools.ocsp import TestOCSPResponder
from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    TSUKUBA,
    CRLEntry,
    Issued,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
)
from protocol.bundle import SEALED_VERSION
from protocol.checks import SIGNER_CERTIFICATE, Outcome, VerdictStatus
from protocol.clique import SignerSet
from protocol.trust_root import RegistryFacts, TrustRoot, dump_trust_root
from tests.devnet_helpers import rpc
from tests.node_harness import REPO, NodeProcess, provision_node, signed_entry
from tests.node_harness import http as call
from verifier import VerificationPolicy, Verifier
from verifier.jpki import RevocationSources, load_certificates
from verifier.models import Verdict

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

DOCUMENTS = {
    "first": "住民票の写し: signer evidence 1".encode(),
    "second": "住民票の写し: signer evidence 2".encode(),
    "compromised": "所得証明書: signer evidence 3".encode(),
    "ocsp": "印鑑登録証明書: signer evidence 4".encode(),
}


@dataclass
class World:
    rpc_url: str
    hierarchy: TestHierarchy
    node: NodeProcess
    trust_root: TrustRoot
    ocsp_trust_root: TrustRoot
    before: dict[str, Any]
    """The first document's version-3 bundle before the re-check."""
    bundles: dict[str, dict[str, Any]]
    signed_at: datetime
    next_crl: bytes
    """The CRL the operator published after the signing (what the node must keep)."""
    metrics: str
    """The CRL node's /metrics after the capture."""


def trust_root_for(url: str, registry: str, hierarchy: TestHierarchy) -> TrustRoot:
    genesis = rpc(url, "eth_getBlockByNumber", "0x0", False)
    signers = rpc(url, "clique_getSigners", "0x0")
    code = bytes.fromhex(rpc(url, "eth_getCode", registry, "latest")[2:])
    return TrustRoot(
        chain_id=int(rpc(url, "eth_chainId"), 16),
        genesis_hash=bytes.fromhex(genesis["hash"][2:]),
        registry=RegistryFacts(registry, keccak(code)),
        signer_sets=(SignerSet(0, frozenset(bytes.fromhex(s[2:]) for s in signers)),),
        tsa_anchors=(),
        jpki_anchors=tuple(load_certificates([p])[0].der for p in hierarchy.trust_anchors),
    )


def crl_by(
    ca: Issued,
    place: Any,
    revoked: Sequence[CRLEntry] = (),
    this_update: datetime | None = None,
    number: int = 2,
) -> bytes:
    """A CRL of `ca` for the signature certificates of `place`, issued now unless told."""
    issued = this_update or datetime.now(UTC).replace(microsecond=0)
    crl = make_crl(
        issuer_cert=x509.load_pem_x509_certificate(ca.cert.read_bytes()),
        issuer_key=load_private_key(ca.key),
        distribution_point=crl_distribution_point_name(SIGN_OU, place),
        revoked=revoked,
        this_update=issued,
        next_update=issued + timedelta(days=1),
        number=number,
    )
    return crl.public_bytes(Encoding.DER)


def publish(path: Path, der: bytes) -> None:
    """What the operator's CRL job does: write, then rename over the file the node reads."""
    temporary = path.with_suffix(".new")
    temporary.write_bytes(der)
    os.replace(temporary, path)


def wait_bundle(
    node: NodeProcess, leaf: str, token: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    body: Any = None
    while time.monotonic() < deadline:
        body = call("GET", f"{node.url}/v1/entries/{leaf}/bundle", token=token).body
        if isinstance(body, dict) and ready(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"bundle of {leaf} not ready in time: {body}")


def with_evidence(body: dict[str, Any]) -> bool:
    return body.get("version") == SEALED_VERSION and "evidence" in body


def with_signer_revocation(body: dict[str, Any]) -> bool:
    return with_evidence(body) and "signer_revocation" in body["evidence"]


def submit(node: NodeProcess, signer: Issued, document: bytes, token: str) -> str:
    answer = call("POST", node.url + "/v1/entries", signed_entry(signer, document), token=token)
    assert answer.status == 201, answer.body
    return str(answer.body["leaf_hash"])


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[World]:
    h = jpki_hierarchy
    root = tmp_path_factory.mktemp("signer-evidence")
    layout = init_network(root / "chain", validators=1)
    chain = NetworkProcesses(layout)
    chain.start_all()
    url = layout.nodes[0].rpc_url
    crls = root / "crls"  # the node's own copies: the session's hierarchy stays as it is
    crls.mkdir()
    for path in h.crl_files:
        (crls / path.name).write_bytes(path.read_bytes())
    node = provision_node(url, layout.dev_account(), root / "crl-node", h)
    node.env = {"NOTARY_CRL_FILES": json.dumps([str(crls / p.name) for p in h.crl_files])}
    ocsp_node: NodeProcess | None = None
    try:
        node.start()
        read, issue = node.token("reader", "read"), node.token("issuer", "submit")
        leaves = {
            "first": submit(node, h.ee_valid_gen02, DOCUMENTS["first"], issue),
            "second": submit(node, h.ee_valid_gen02, DOCUMENTS["second"], issue),
            "compromised": submit(node, h.ee_valid_gen01, DOCUMENTS["compromised"], issue),
        }
        node.wait_final()
        before = wait_bundle(node, leaves["first"], read, with_evidence)
        signed_at = datetime.fromisoformat(before["leaf"]["signing_time"])
        # SIGKILL while every entry waits for the CRL issued after its signing.
        node.kill()
        time.sleep(1.1)  # the next CRL is issued strictly after the signing second
        next_crl = crl_by(h.sign_ca_gen02, IIZUKA)
        publish(crls / h.crl_gen02_iizuka.path.name, next_crl)
        # gen01's next CRL reports a key compromise dated after the signing: it reaches back.
        compromise = CRLEntry(
            h.ee_valid_gen01.serial,
            datetime.now(UTC).replace(microsecond=0),
            x509.ReasonFlags.key_compromise,
        )
        publish(
            crls / h.crl_gen01_tsukuba.path.name, crl_by(h.sign_ca_gen01, TSUKUBA, [compromise])
        )
        node.start()
        bundles = {
            name: wait_bundle(node, leaf, read, with_signer_revocation)
            for name, leaf in leaves.items()
        }
        metrics = call("GET", node.url + "/metrics", token=read).body
        trust_root = trust_root_for(url, node.registry, h)

        responder = TestOCSPResponder.for_hierarchy(h.out_dir)
        with responder.serve() as ocsp_url:
            ocsp_node = provision_node(url, layout.dev_account(), root / "ocsp-node", h)
            ocsp_node.env = {"NOTARY_CRL_FILES": "[]", "NOTARY_OCSP_URLS": ocsp_url}
            ocsp_node.start()
            leaf = submit(
                ocsp_node,
                h.ee_valid_gen02,
                DOCUMENTS["ocsp"],
                ocsp_node.token("issuer", "submit"),
            )
            ocsp_node.wait_final()
            bundles["ocsp"] = wait_bundle(
                ocsp_node, leaf, ocsp_node.token("reader", "read"), with_signer_revocation
            )
            ocsp_trust_root = trust_root_for(url, ocsp_node.registry, h)
        yield World(
            url,
            h,
            node,
            trust_root,
            ocsp_trust_root,
            before,
            bundles,
            signed_at,
            next_crl,
            str(metrics),
        )
    finally:
        for running in (node, ocsp_node):
            if running is not None:
                running.stop()
        chain.stop_all()


def offline(world: World, bundle: dict[str, Any], document: str, **options: Any) -> Verdict:
    root = world.ocsp_trust_root if document == "ocsp" else world.trust_root
    policy = VerificationPolicy.for_trust_root(root, offline=True, **options)
    return Verifier(policy).verify(DOCUMENTS[document], bundle)


def signer_check(verdict: Verdict) -> Any:
    check = verdict.check(SIGNER_CERTIFICATE)
    assert check is not None
    return check


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


# --------------------------------------------------------------------------- the node


def test_bundles_before_the_recheck_carry_no_signer_revocation(world: World) -> None:
    assert "signer_revocation" not in world.before["evidence"]
    verdict = offline(world, world.before, "first")
    assert verdict.status is VerdictStatus.UNKNOWN, verdict.summary
    assert signer_check(verdict).outcome is Outcome.UNKNOWN


def test_after_a_sigkill_the_next_crl_is_kept_once_per_bundle(world: World) -> None:
    for name in ("first", "second"):
        part = world.bundles[name]["evidence"]["signer_revocation"]
        assert part == {"crls": [b64(world.next_crl)], "ocsp_responses": []}, name
    assert "notary_signer_evidence_captured_total 3.0" in world.metrics
    assert "notary_signer_evidence_pending 0.0" in world.metrics


def test_a_signer_revoked_at_signing_time_raises_the_alarm_and_fails(world: World) -> None:
    assert "notary_signers_revoked_at_signing_total 1.0" in world.metrics
    verdict = offline(world, world.bundles["compromised"], "compromised")
    assert verdict.status is VerdictStatus.INVALID, verdict.summary
    check = signer_check(verdict)
    assert verdict.failed_check == SIGNER_CERTIFICATE and "key compromise" in check.detail


# --------------------------------------------------------------------------- offline


def test_offline_with_no_crl_the_signer_check_passes_as_of(world: World) -> None:
    verdict = offline(world, world.bundles["first"], "first")
    assert verdict.status is VerdictStatus.VALID_AS_OF, verdict.summary
    check = signer_check(verdict)
    assert check.outcome is Outcome.PASSED and check.as_of, check
    assert "revocation evidence: a CRL issued" in check.detail


def test_the_cli_verifies_offline_with_no_crl(world: World, tmp_path: Path) -> None:
    document, bundle, root = tmp_path / "doc.txt", tmp_path / "bundle.json", tmp_path / "tr.json"
    document.write_bytes(DOCUMENTS["first"])
    bundle.write_text(json.dumps(world.bundles["first"]), encoding="utf-8")
    root.write_text(dump_trust_root(world.trust_root), encoding="utf-8")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "node.cli", "verify", str(document)),
            *("--bundle", str(bundle), "--trust-root", str(root), "--offline"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stdout.startswith("VALID AS OF EVIDENCE"), done.stdout
    assert "revocation of the signer certificate published after" in done.stdout
    assert "judged by the CRL/OCSP evidence the bundle carries" in done.stderr


def test_ocsp_evidence_decides_offline_too(world: World) -> None:
    part = world.bundles["ocsp"]["evidence"]["signer_revocation"]
    assert part["crls"] == [] and len(part["ocsp_responses"]) == 1
    verdict = offline(world, world.bundles["ocsp"], "ocsp")
    assert verdict.status is VerdictStatus.VALID_AS_OF, verdict.summary
    check = signer_check(verdict)
    assert check.as_of and "an OCSP response of" in check.detail


def foreign_crls(world: World) -> dict[str, tuple[bytes, str]]:
    h = world.hierarchy
    return {
        "signed by a CA copying the DN": (
            crl_by(h.fake_ca, IIZUKA),
            "not signed by the trusted CA generation",
        ),
        "signed by the other generation": (
            crl_by(h.sign_ca_gen01, IIZUKA),
            "not signed by the trusted CA generation",
        ),
        "of another CA": (h.crl_auth_tsukuba.path.read_bytes(), "issued by"),
        "issued before the signing": (
            crl_by(h.sign_ca_gen02, IIZUKA, this_update=world.signed_at - timedelta(hours=1)),
            "before the signing time",
        ),
        "not a CRL": (b"\x30\x03\x02\x01\x01", "not a DER certificate revocation list"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "signed by a CA copying the DN",
        "signed by the other generation",
        "of another CA",
        "issued before the signing",
        "not a CRL",
    ],
)
def test_a_foreign_or_tampered_crl_is_refused(world: World, name: str) -> None:
    der, words = foreign_crls(world)[name]
    bundle = copy.deepcopy(world.bundles["first"])
    bundle["evidence"]["signer_revocation"]["crls"] = [b64(der)]
    verdict = offline(world, bundle, "first")
    assert verdict.status is VerdictStatus.INVALID, (name, verdict.summary)
    check = signer_check(verdict)
    assert check.outcome is Outcome.FAILED, check
    assert "evidence.signer_revocation.crls[0]" in check.detail and words in check.detail, check


# --------------------------------------------------------------------------- the verifier's own


def revoked_after_signing(world: World, reason: x509.ReasonFlags) -> bytes:
    later = datetime.now(UTC).replace(microsecond=0)
    entry = CRLEntry(world.hierarchy.ee_valid_gen02.serial, later, reason)
    return crl_by(world.hierarchy.sign_ca_gen02, IIZUKA, [entry], number=3)


def online(world: World, crl: bytes) -> Verdict:
    policy = VerificationPolicy.for_trust_root(
        world.trust_root,
        rpc_urls=[world.rpc_url],
        revocation=RevocationSources(crls=[crl]),
        node_url=world.node.url,
    )
    return Verifier(policy).verify(DOCUMENTS["first"], world.bundles["first"])


def test_a_revocation_after_signing_stays_good_offline_and_online(world: World) -> None:
    assert offline(world, world.bundles["first"], "first").status is VerdictStatus.VALID_AS_OF
    verdict = online(world, revoked_after_signing(world, x509.ReasonFlags.affiliation_changed))
    assert verdict.status is VerdictStatus.VALID, verdict.summary
    assert not signer_check(verdict).as_of  # the verifier's own CRL decided


def test_a_key_compromise_published_later_counts_online(world: World) -> None:
    verdict = online(world, revoked_after_signing(world, x509.ReasonFlags.key_compromise))
    assert verdict.status is VerdictStatus.INVALID, verdict.summary
    assert verdict.failed_check == SIGNER_CERTIFICATE
    assert "key compromise" in signer_check(verdict).detail
