"""SIGKILL the node at 20+ random moments under submit and anchoring load, restart it, and
check: every acknowledged entry has a valid final bundle, the registry holds each head
exactly once with no gap, and every anchored head is consistent with the next."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
import time
from http.client import HTTPException
from typing import Any

import pytest

from anchor import RegistryClient, connect
from devnet.network import NetworkProcesses, init_network
from protocol.bundle import parse_bundle
from protocol.leaf import SignatureFormat
from protocol.merkle import verify_consistency, verify_inclusion
from tests.node_harness import NodeProcess, http, provision_node, signed_entry
from verifier import VerificationPolicy, verify
from verifier.jpki import RevocationSources, load_certificates

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

KILLS = 22


class Load:
    """Submits entries until stopped; keeps every receipt the node acknowledged (2xx)."""

    def __init__(self, node: NodeProcess, token: str, bodies: list[dict[str, Any]]) -> None:
        self.node, self.token, self.bodies = node, token, bodies
        self.acknowledged: list[dict[str, Any]] = []
        self.refused: list[Any] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for round_number in itertools.count():
            if self.stop.is_set():
                return
            body = self.bodies[round_number % len(self.bodies)]
            bulk = round_number % 3 == 0
            try:
                if bulk:
                    answer = http(
                        "POST",
                        self.node.url + "/v1/entries/bulk",
                        {"entries": [body] * 5},
                        self.token,
                    )
                else:
                    answer = http("POST", self.node.url + "/v1/entries", body, self.token)
            except (OSError, HTTPException):
                time.sleep(0.05)  # the node is down or died mid-answer: a real client retries
                continue
            if answer.status in (200, 201):
                self.acknowledged.extend(answer.body["receipts"] if bulk else [answer.body])
            else:
                self.refused.append(answer.body)


def test_sigkill_at_random_moments_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: Any
) -> None:
    seed = int(os.environ.get("NOTARY_CRASH_SEED", "20261123"))
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("crash")
    layout = init_network(root / "chain", validators=1)
    chain = NetworkProcesses(layout)
    chain.start_all()
    node = provision_node(layout.nodes[0].rpc_url, layout.dev_account(), root, jpki_hierarchy)
    node.env = {"NOTARY_BATCH_INTERVAL": "0.2", "NOTARY_MAX_ANCHORS_IN_FLIGHT": "4"}
    try:
        node.start()
        token = node.token("issuing-system", "submit", "read")
        documents = [f"crash test document {i}".encode() for i in range(4)]
        bodies = [signed_entry(jpki_hierarchy.ee_valid_gen02, d) for d in documents]
        load = Load(node, token, bodies)
        load.thread.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.8))
            node.kill()
            node.start()
        time.sleep(1.0)
        load.stop.set()
        load.thread.join(timeout=60)
        assert not load.refused, load.refused[:3]
        assert len(load.acknowledged) > 50, f"load too small to mean anything (seed {seed})"
        head = node.wait_final(timeout=240)
        _check_every_acknowledged_entry(node, token, load.acknowledged, documents, head)
        _check_registry_history(node, head)
        _check_full_verification_of_a_sample(node, token, load.acknowledged, documents, rng)
    finally:
        node.stop()
        chain.stop_all()


def _check_every_acknowledged_entry(
    node: NodeProcess,
    token: str,
    receipts: list[dict[str, Any]],
    documents: list[bytes],
    head: dict[str, Any],
) -> None:
    seen_indices: set[int] = set()
    for receipt in receipts:
        assert receipt["leaf_index"] not in seen_indices, "two acknowledgements share a leaf"
        seen_indices.add(receipt["leaf_index"])
        answer = http("GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=token)
        assert answer.status == 200, (receipt, answer.body)
        assert answer.headers["notary-bundle-state"] == "final"
        bundle = answer.body
        assert bundle["leaf"]["leaf_hash"] == receipt["leaf_hash"]
        inclusion, tree_head = bundle["inclusion"], bundle["head"]
        verify_inclusion(
            bytes.fromhex(receipt["leaf_hash"]),
            inclusion["leaf_index"],
            inclusion["tree_size"],
            [bytes.fromhex(p) for p in inclusion["path"]],
            bytes.fromhex(tree_head["root"]),
        )
    assert max(seen_indices) < head["tree_size"]


def _check_registry_history(node: NodeProcess, head: dict[str, Any]) -> None:
    registry = RegistryClient(connect(node.rpc_url), node.registry)
    node_address = head["node"]
    events = list(registry.iter_anchored_heads(node=node_address))
    assert [e.seq for e in events] == list(range(len(events))), "a gap or a duplicate seq"
    local = http("GET", node.url + "/v1/log/heads?limit=1000").body["heads"]
    assert len(local) == len(events) and all(h["state"] == "final" for h in local)
    for event, mine in zip(events, local, strict=True):
        assert (event.seq, event.tree_size, event.root.hex()) == (
            mine["seq"],
            mine["tree_size"],
            mine["root"],
        )
    for old, new in itertools.pairwise(events):
        assert new.previous_root == old.root and new.tree_size > old.tree_size
        proof = http(
            "GET", f"{node.url}/v1/log/consistency?first={old.tree_size}&second={new.tree_size}"
        ).body
        verify_consistency(
            old.tree_size,
            new.tree_size,
            [bytes.fromhex(p) for p in proof["proof"]],
            old.root,
            new.root,
        )
    assert events[-1].tree_size == head["tree_size"]


def _check_full_verification_of_a_sample(
    node: NodeProcess,
    token: str,
    receipts: list[dict[str, Any]],
    documents: list[bytes],
    rng: random.Random,
) -> None:
    hierarchy = node.hierarchy
    policy = VerificationPolicy(
        rpc_urls=[node.rpc_url],
        registry=node.registry,
        chain_id=node.chain_id,
        trust_anchors=load_certificates([str(p) for p in hierarchy.trust_anchors]),
        revocation=RevocationSources(crl_files=[str(p) for p in hierarchy.crl_files]),
        require_revocation_check=False,  # durability under test, not revocation
    )
    by_digest = {hashlib.sha256(d).hexdigest(): d for d in documents}
    for receipt in rng.sample(receipts, min(8, len(receipts))):
        bundle = http(
            "GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=token
        ).body
        body = next(b for b in by_digest if _leaf_matches(b, bundle))
        verdict = verify(by_digest[body], bundle, policy)
        assert verdict.status == "valid", verdict


def _leaf_matches(digest_hex: str, bundle: dict[str, Any]) -> bool:
    parsed = parse_bundle(bundle)
    entry = parsed.leaf.entry(bytes.fromhex(digest_hex), SignatureFormat.CMS)
    return entry.leaf_hash() == parsed.leaf.leaf_hash
