"""Verification against real engines (anvil and the Clique devnet), heads anchored via `anchor/`.

One module-scoped history per engine keeps the transactions few: a registry, one node, three
anchored heads (documents; a revocation; a head governance then withdraws) and the node's
suspension after all of it. Every test then only reads. The CLI is exercised here too, as a
subprocess, because its valid/invalid/pending exit codes need a chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from anchor import NodeStatus, RegistryClient, TxResult
from devnet.ports import free_port
from devtools.testca import TestHierarchy
from protocol.bundle import AnchorSection, InclusionSection, ProofBundle, dump_bundle
from protocol.checks import CHECK_ORDER
from protocol.leaf import RevocationReason
from tests.chains import ChainEndpoint
from tests.jpki_fixtures import all_crls, anchors
from tests.vectors.issuer import LogDocument, MiniLog, Signer, anchor_section
from verifier import VerdictStatus, VerificationPolicy, Verifier
from verifier.models import Verdict

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

LG_CODE = 131016
REPO = Path(__file__).resolve().parent.parent
HOUR = timedelta(hours=1)


@dataclass
class History:
    """What the module's setup anchored, and the bundles a node would have handed out."""

    chain: ChainEndpoint
    hierarchy: TestHierarchy
    registry: str
    node: str
    governance: RegistryClient
    documents: dict[str, bytes]
    bundles: dict[str, ProofBundle]
    results: list[TxResult]

    def policy(self, **changes: Any) -> VerificationPolicy:
        fields: dict[str, Any] = {
            "rpc_urls": [self.chain.rpc_url],
            "registry": self.registry,
            "chain_id": self.chain.chain_id,
            "trust_anchors": anchors(self.hierarchy),
            "revocation": all_crls(self.hierarchy),
            "rpc_timeout": 5.0,
            # the chain facts are under test; the issuing node: test_verify_vectors.py and
            # test_security_verifier.py
            "require_revocation_check": False,
        }
        fields.update(changes)
        return VerificationPolicy(**fields)

    def verify(self, name: str, bundle: ProofBundle | None = None, **changes: Any) -> Verdict:
        verifier = Verifier(self.policy(**changes))
        return verifier.verify(self.documents[name], bundle or self.bundles[name])


@pytest.fixture(scope="module")
def history(chain: ChainEndpoint, jpki_hierarchy: TestHierarchy) -> History:
    h = jpki_hierarchy
    w3 = chain.web3()
    governance, _ = RegistryClient.deploy(w3, chain.new_account())
    node_account = chain.new_account()
    governance.register_node(node_account.address, LG_CODE, "千代田区")
    node = RegistryClient(w3, governance.address, node_account)

    signer = Signer.from_issued(h.ee_valid_gen01, h.sign_ca_gen01)
    when = h.now - HOUR
    documents = {
        name: f"{name} (TEST, synthetic, no real person)".encode()
        for name in ("valid", "revoked", "late", "withdrawn")
    }
    log = MiniLog(LG_CODE)
    items: dict[str, LogDocument] = {}
    items["valid"] = log.add_document(documents["valid"], signer, signing_time=when)
    items["revoked"] = log.add_document(documents["revoked"], signer, signing_time=when)
    heads = [log.head(0)]
    results = [node.anchor(0, heads[0].tree_size, heads[0].root)]

    revocation_index = log.add_revocation(
        items["revoked"], reason=RevocationReason.ISSUED_IN_ERROR, revoked_at=h.now
    )
    items["late"] = log.add_document(documents["late"], signer, signing_time=when)
    heads.append(log.head(1))
    results.append(node.anchor(1, heads[1].tree_size, heads[1].root))

    items["withdrawn"] = log.add_document(documents["withdrawn"], signer, signing_time=when)
    heads.append(log.head(2))
    results.append(node.anchor(2, heads[2].tree_size, heads[2].root))
    governance.withdraw_head(node_account.address, heads[2].root, "drill: node key compromised")
    governance.suspend_node(node_account.address, "drill: suspended after anchoring")

    def anchor(i: int) -> AnchorSection:
        return anchor_section(
            results[i],
            chain_id=chain.chain_id,
            registry=governance.address,
            node=node_account.address,
            lg_code=LG_CODE,
        )

    revocation = log.revocation_section(
        log.revocation_entry(
            items["revoked"], reason=RevocationReason.ISSUED_IN_ERROR, revoked_at=h.now
        ),
        revocation_index,
        heads[1],
        anchor(1),
    )
    bundles = {
        "valid": log.bundle(items["valid"], heads[0], anchor(0)),
        "revoked": log.bundle(items["revoked"], heads[0], anchor(0), revocation),
        "late": log.bundle(items["late"], heads[1], anchor(1)),
        "withdrawn": log.bundle(items["withdrawn"], heads[2], anchor(2)),
    }
    # Every head final under the default depth (2 on both engines): let the chain move on.
    _wait_for_block(chain, results[-1].block_number + 2)
    return History(
        chain, h, governance.address, node_account.address, governance, documents, bundles, results
    )


def _wait_for_block(chain: ChainEndpoint, number: int, timeout: float = 30) -> None:
    w3 = chain.web3()
    deadline = time.monotonic() + timeout
    while w3.eth.block_number < number:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{chain.engine} did not reach block {number}")
        if chain.engine == "anvil":
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        else:
            time.sleep(0.2)


# --------------------------------------------------------------------------- verdicts


def test_anchored_document_is_valid(history: History) -> None:
    verdict = history.verify("valid")
    assert verdict.ok, verdict.summary
    finality = verdict.check("finality")
    assert finality is not None
    if history.chain.engine == "devnet":
        assert "for 3 Clique signers" in finality.detail  # asked with clique_getSigners
    else:
        assert "does not report its signers" in finality.detail
    assert verdict.facts.anchored_at is not None
    block = history.chain.web3().eth.get_block(history.results[0].block_number)
    assert int(verdict.facts.anchored_at.timestamp()) == block["timestamp"]


def test_node_suspended_after_the_anchor_block_keeps_old_anchors_valid(history: History) -> None:
    record = history.governance.get_node(history.node)
    assert record.status is NodeStatus.SUSPENDED  # now
    verdict = history.verify("late")  # anchored before the suspension
    assert verdict.ok, verdict.summary
    assert "active at the anchor block" in (verdict.check("node_authorised") or _missing()).detail


def test_withdrawn_head_is_invalid(history: History) -> None:
    verdict = history.verify("withdrawn")
    assert verdict.status is VerdictStatus.INVALID, verdict.summary
    assert verdict.failed_check == "head_not_withdrawn"


def test_document_revocation_is_revoked(history: History) -> None:
    verdict = history.verify("revoked")
    assert verdict.status is VerdictStatus.REVOKED, verdict.summary
    assert "issued_in_error" in (verdict.reason or "")
    assert f"block {history.results[1].block_number}" in (verdict.reason or "")
    # Without the section (a holder can strip it) the same document is not valid unless the
    # relying party explicitly opted out of asking the issuing node (issue 12, finding 3).
    stripped = msgspec.structs.replace(history.bundles["revoked"], revocation=None)
    assert history.verify("revoked", stripped).ok  # opted out in History.policy
    unchecked = history.verify("revoked", stripped, require_revocation_check=True)
    assert unchecked.status is VerdictStatus.UNKNOWN, unchecked.summary
    assert unchecked.failed_check == "document_revocation"


def test_not_yet_final_is_pending(history: History) -> None:
    verdict = history.verify("valid", finality_depth=10**9)
    assert verdict.status is VerdictStatus.PENDING, verdict.summary
    assert verdict.failed_check == "finality"


def test_unreachable_rpc_is_unknown_and_endpoints_are_tried_in_order(history: History) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    verdict = history.verify("valid", rpc_urls=[dead])
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "head_anchored"
    assert f"cannot reach {dead}" in (verdict.reason or "")
    assert history.verify("valid", rpc_urls=[dead, history.chain.rpc_url]).ok


def test_wrong_chain_id_in_policy(history: History) -> None:
    # The bundle's chain is not the trusted one: invalid, the chain is not even asked.
    verdict = history.verify("valid", chain_id=4242)
    assert verdict.status is VerdictStatus.INVALID and verdict.failed_check == "chain_id"
    assert "trusts chain id 4242 only" in (verdict.reason or "")
    # Bundle and policy agree on 4242, but the endpoint serves another chain: cannot decide.
    bundle = _with_anchor(history.bundles["valid"], chain_id=4242)
    verdict = history.verify("valid", bundle, chain_id=4242)
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "head_anchored"
    assert f"serves chain id {history.chain.chain_id}" in (verdict.reason or "")


def test_registry_address_without_a_contract_is_unknown(history: History) -> None:
    empty = "0x000000000000000000000000000000000000dEaD"
    bundle = _with_anchor(history.bundles["valid"], registry=empty)
    verdict = history.verify("valid", bundle, registry=empty)
    assert verdict.status is VerdictStatus.UNKNOWN and verdict.failed_check == "head_anchored"


def _with_anchor(bundle: ProofBundle, **changes: Any) -> ProofBundle:
    assert bundle.anchor is not None
    return msgspec.structs.replace(bundle, anchor=msgspec.structs.replace(bundle.anchor, **changes))


def _with_head(bundle: ProofBundle, **changes: Any) -> ProofBundle:
    assert bundle.head is not None and bundle.inclusion is not None
    head = msgspec.structs.replace(bundle.head, **changes)
    inclusion = InclusionSection(bundle.inclusion.leaf_index, head.tree_size, bundle.inclusion.path)
    return msgspec.structs.replace(bundle, head=head, inclusion=inclusion)


def _flip(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 1])


MUTATIONS: dict[str, tuple[Any, str]] = {
    "tx_hash": (
        lambda b, h: _with_anchor(b, tx_hash=_flip(b.anchor.tx_hash)),
        "anchor_transaction",
    ),
    "tx_of_another_head": (
        lambda b, h: _with_anchor(b, tx_hash=bytes.fromhex(h.results[1].tx_hash[2:])),
        "anchor_transaction",
    ),
    "block_number": (
        lambda b, h: _with_anchor(b, block_number=b.anchor.block_number + 1),
        "anchor_transaction",
    ),
    "block_hash": (
        lambda b, h: _with_anchor(b, block_hash=_flip(b.anchor.block_hash)),
        "anchor_transaction",
    ),
    "chain_id": (lambda b, h: _with_anchor(b, chain_id=b.anchor.chain_id + 1), "chain_id"),
    "registry": (lambda b, h: _with_anchor(b, registry="0x" + "12" * 20), "registry"),
    "node": (lambda b, h: _with_anchor(b, node=h.governance.sender.address), "head_anchored"),
    "municipality_code": (lambda b, h: _with_anchor(b, lg_code=11002), "node_authorised"),
    "root": (lambda b, h: _with_head(b, root=_flip(b.head.root)), "merkle_inclusion"),
    "head_seq": (lambda b, h: _with_head(b, seq=1), "head_anchored"),
    "tree_size": (lambda b, h: _with_head(b, tree_size=b.head.tree_size + 1), "merkle_inclusion"),
    "leaf_index": (
        lambda b, h: msgspec.structs.replace(
            b, inclusion=msgspec.structs.replace(b.inclusion, leaf_index=1)
        ),
        "merkle_inclusion",
    ),
}


@pytest.mark.parametrize("field", sorted(MUTATIONS))
def test_mutated_chain_field_fails_the_right_check(history: History, field: str) -> None:
    mutate, check = MUTATIONS[field]
    bundle = mutate(history.bundles["valid"], history)
    verdict = history.verify("valid", bundle)
    assert verdict.status is VerdictStatus.INVALID, verdict.summary
    assert verdict.failed_check == check, verdict.summary


# --------------------------------------------------------------------------- the CLI


def notary(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTARY_")}
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def files(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify-cli")
    paths: dict[str, Path] = {}
    for name, bundle in history.bundles.items():
        (folder / f"{name}.json").write_text(dump_bundle(bundle), encoding="utf-8")
        (folder / f"{name}.txt").write_bytes(history.documents[name])
        paths[name] = folder / name
    return paths


def cli_args(history: History, name: str, files: dict[str, Path], *extra: str) -> list[str]:
    h = history.hierarchy
    args = [str(files[name].with_suffix(".txt")), "--bundle", str(files[name].with_suffix(".json"))]
    args += ["--rpc", history.chain.rpc_url]
    for anchor_cert in h.trust_anchors:
        args += ["--trust", str(anchor_cert)]
    for crl in h.crl_files:
        args += ["--crl", str(crl)]
    if "--revocation-required" in extra:  # the CLI's default: ask the node or exit 3
        return [*args, *(e for e in extra if e != "--revocation-required")]
    return [*args, "--no-revocation-check", *extra]


def test_cli_valid_exits_0_and_warns_about_unpinned_settings(
    history: History, files: dict[str, Path]
) -> None:
    done = notary(*cli_args(history, "valid", files))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("VALID: ")
    assert len(lines) == 1 + len(CHECK_ORDER) and all(line.startswith("  [") for line in lines[1:])
    assert "taken from the bundle" in done.stderr and "Traceback" not in done.stderr
    assert "試験" not in done.stdout  # no personal data without --show-signer


def test_cli_pinned_json_and_show_signer(history: History, files: dict[str, Path]) -> None:
    pinned = ["--registry", history.registry, "--chain-id", str(history.chain.chain_id)]
    done = notary(*cli_args(history, "valid", files, *pinned, "--json"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "valid" and report["exit_code"] == 0
    assert done.stderr == ""
    assert [w.split(":")[0] for w in report["warnings"]] == [
        "revocation not checked (--no-revocation-check)"
    ]
    assert "signer_personal_data" not in report and "試験" not in done.stdout
    shown = notary(*cli_args(history, "valid", files, *pinned, "--json", "--show-signer"))
    personal = json.loads(shown.stdout)["signer_personal_data"]
    assert personal["name"] == "試験 太郎" and personal["date_of_birth"] == "419900101"
    human = notary(*cli_args(history, "valid", files, *pinned, "--show-signer"))
    assert "signer (personal data): name=試験 太郎" in human.stdout


def test_cli_invalid_revoked_and_pending_exit_codes(
    history: History, files: dict[str, Path]
) -> None:
    withdrawn = notary(*cli_args(history, "withdrawn", files))
    assert withdrawn.returncode == 1 and withdrawn.stdout.startswith("INVALID: head_not_withdrawn")
    revoked = notary(*cli_args(history, "revoked", files))
    assert revoked.returncode == 1 and revoked.stdout.startswith("REVOKED: document_revocation")
    pending = notary(*cli_args(history, "valid", files, "--finality", "1000000000"))
    assert pending.returncode == 3 and pending.stdout.startswith("PENDING: finality")
    unchecked = notary(*cli_args(history, "valid", files, "--revocation-required"))
    assert unchecked.returncode == 3, unchecked.stdout + unchecked.stderr
    assert unchecked.stdout.startswith("UNKNOWN: document_revocation: revocation not checked")
    assert "no --node-url given" in unchecked.stderr


def test_cli_digest_mode_and_unknown_exit_code(history: History, files: dict[str, Path]) -> None:
    digest = hashlib.sha256(history.documents["valid"]).hexdigest()
    args = cli_args(history, "valid", files, "--digest")
    args[0] = digest
    assert notary(*args).returncode == 0
    dead = notary(
        *cli_args(history, "valid", files)[:3], "--rpc", f"http://127.0.0.1:{free_port()}"
    )
    assert dead.returncode == 3 and dead.stdout.startswith("UNKNOWN: ")
    assert "Traceback" not in dead.stderr


def _missing() -> Any:
    raise AssertionError("check missing")
