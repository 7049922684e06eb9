"""`notary audit` against a real 3-validator devnet and real nodes: a clean network gives exit 0;
each tamper scenario gives its own finding and exit 1.

Scenarios: a node rewrites its log and anchors a head that does not extend the previous one;
a node withholds leaves; a block sealed by a key never voted in (injected into a copy of the
chain, served by a devnet full node); registry code that differs from the lock; an anchor
accepted after the node was suspended (by a registry built without that check)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel
import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from web3 import Web3

from anchor import RegistryClient, connect
from anchor.artifacts import load_registry_artifact
from anchor.registry import RevertDecoder
from anchor.transactions import TransactionSender
from audit.trust_root import read_certificates
from contracts import build
from devnet.chain import ChainStore
from devnet.network import DEFAULT_PERIOD, NetworkLayout, NetworkProcesses, NodeEntry, init_network
from devnet.ports import free_port
from devnet.sealer import OUT_OF_TURN_GRACE_PERIODS, WIGGLE_SECONDS
from devtools.demo_pdf import demo_pdf
from devtools.testca import TestHierarchy
from node.pdf_bundle import _append
from node.store import LEAF, u64
from protocol.trust_root import load_trust_root
from tests.chains import send_ether
from tests.devnet_helpers import (
    admin,
    block_number,
    forge_child,
    read_genesis,
    rpc,
    wait_until,
)
from tests.node_harness import LG_CODE, REPO, NodeProcess, http, provision_node, signed_entry
from verifier.pdf import read_sealed_pdf

pytest_plugins = ["tests.jpki_fixtures", "tests.browser"]
pytestmark = pytest.mark.chain

FULL_NODE = 4  # index of the non-sealing full node: 3 validators, 1 candidate, then it


@dataclass
class Network:
    layout: NetworkLayout
    processes: NetworkProcesses
    root: Path

    @property
    def url(self) -> str:
        return self.layout.nodes[0].rpc_url

    @property
    def funder(self) -> LocalAccount:
        return self.layout.dev_account()


@dataclass
class Audit:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    html: str

    def codes(self) -> set[str]:
        return {f["code"] for f in self.report["findings"]}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("audit")
    layout = init_network(root / "net", validators=3, candidates=1, full_nodes=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        # Vote the candidate in (2 of 3), so the audit replays a signer-set change.
        candidate = layout.nodes[3].address
        for node in layout.nodes[:2]:
            admin(layout, node.index, "clique_propose", candidate, True)
        url = layout.nodes[0].rpc_url
        wait_until(lambda: candidate in rpc(url, "clique_getSigners"), 60, "candidate voted in")
        yield Network(layout, processes, root)
    finally:
        processes.stop_all()


def run_audit(
    url: str, out: Path, *, registry: str | None = None, nodes: dict[str, str] | None = None
) -> Audit:
    args = [sys.executable, "-m", "node.cli", "audit", "--rpc", url, "--out", str(out)]
    if registry:
        args += ["--registry", registry]
    if nodes is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "nodes.json").write_text(json.dumps(nodes))
        args += ["--nodes", str(out / "nodes.json")]
    done = subprocess.run(args, check=False, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    html = (out / "report.html").read_text() if report_file.exists() else ""
    return Audit(done.returncode, done.stdout, done.stderr, report, html)


def started_node(
    network: Network, workdir: Path, hierarchy: TestHierarchy, batches: int
) -> tuple[NodeProcess, str]:
    """A node on its own registry with `batches` anchored heads; returns it and a token."""
    node = provision_node(network.url, network.funder, workdir, hierarchy)
    node.start()
    token = node.token("issuer", "submit", "read", "admin")
    for batch in range(batches):
        submit(node, token, [f"{workdir.name} batch {batch} doc {i}".encode() for i in range(3)])
        node.wait_final()
    return node, token


def submit(node: NodeProcess, token: str, documents: list[bytes]) -> None:
    signer = node.hierarchy.ee_valid_gen02
    for document in documents:
        answer = http("POST", node.url + "/v1/entries", signed_entry(signer, document), token)
        assert answer.status == 201, answer.body


def deploy_registry(w3: Web3, governance: LocalAccount, bytecode: str) -> RegistryClient:
    """Deploy `bytecode` (a registry build other than the locked one) with the locked ABI."""
    artifact = load_registry_artifact()
    factory = w3.eth.contract(abi=artifact.abi, bytecode=bytecode)
    sender = TransactionSender(w3, governance, decode_revert=RevertDecoder(artifact.abi))
    result = sender.transact(factory.constructor([governance.address], 1, 0))
    address = w3.eth.get_transaction_receipt(result.tx_hash)["contractAddress"]
    return RegistryClient(w3, address, governance)


def funded(network: Network, ether: int = 10) -> LocalAccount:
    account: LocalAccount = Account.create()
    send_ether(connect(network.url), network.funder, account.address, ether)
    return account


def node_key(node: NodeProcess) -> LocalAccount:
    password = node.password_file.read_text().strip()
    account: LocalAccount = Account.from_key(
        Account.decrypt(json.loads(node.key_file.read_text()), password)
    )
    return account


# ---------------------------------------------------------------------------- clean


def test_clean_network_has_no_findings(
    network: Network, jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    node, _ = started_node(network, tmp_path / "honest", jpki_hierarchy, batches=3)
    try:
        # No --registry: the audit finds the one contract whose code matches the lock.
        audit = run_audit(network.url, tmp_path / "out", nodes={str(LG_CODE): node.url})
    finally:
        node.stop()
    assert audit.code == 0, audit.stdout + audit.stderr
    assert "no findings" in audit.stdout
    report = audit.report
    assert report["verdict"] == "clean" and report["findings"] == []
    assert report["registry"]["address"] == node.registry
    assert report["registry"]["code_matches_lock"] is True
    # The replay followed the vote: genesis set of 3, then the candidate added.
    history = report["chain"]["signer_history"]
    assert [len(h["signers"]) for h in history] == [3, 4]
    assert network.layout.nodes[3].address in history[1]["signers"]
    assert 0 < report["summary"]["blocks"] <= block_number(network.url) + 1
    assert sum(report["chain"]["blocks_by_signer"].values()) == report["summary"]["blocks"] - 1
    (entry,) = report["nodes"]
    assert entry["log"] == "checked" and entry["leaves_checked"] == 9
    assert [a["seq"] for a in report["anchors"]] == list(range(len(report["anchors"])))
    assert sum(a["batch_size"] for a in report["anchors"]) == 9
    # A block's timestamp is fixed (whole seconds) before its sealer waits its turn, so a head
    # sent during that wait lands in a block stamped before it: a delay can be slightly negative.
    earliest = -(1 + (1 + OUT_OF_TURN_GRACE_PERIODS) * DEFAULT_PERIOD + 4 * WIGGLE_SECONDS)
    assert all(earliest <= a["delay_seconds"] < 120 for a in report["anchors"])
    assert "<svg" in audit.html and "No findings" in audit.html


# ---------------------------------------------------------------------------- node logs


def test_rewritten_log_is_reported_as_inconsistent(
    network: Network, jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    node, _ = started_node(network, tmp_path / "rewriter", jpki_hierarchy, batches=2)
    node.stop()
    # The municipality throws its log away and starts another with different entries...
    shutil.rmtree(node.data_dir)
    node.start()
    token = node.token("issuer", "submit", "read")
    submit(node, token, [f"rewritten doc {i}".encode() for i in range(8)])
    try:
        served = http("GET", node.url + "/v1/log/head").body
        assert served["tree_size"] == 8
        # ...and anchors that log's head with its key as if it extended the old one.
        registry = RegistryClient(connect(network.url), node.registry, node_key(node))
        seq = registry.next_seq(node_key(node).address)
        registry.anchor(seq, 8, bytes.fromhex(served["root"]))
        audit = run_audit(
            network.url, tmp_path / "out", registry=node.registry, nodes={str(LG_CODE): node.url}
        )
    finally:
        node.stop()
    assert audit.code == 1, audit.stdout + audit.stderr
    inconsistent = [f for f in audit.report["findings"] if f["code"] == "inconsistent-heads"]
    # Against the rewritten log no old head pair is provable any more, the new one included.
    assert [f["seq"] for f in inconsistent] == list(range(1, seq + 1))
    assert "does not extend" in inconsistent[0]["message"]
    assert "leaves-mismatch" in audit.codes()  # the old heads' leaves are gone, too
    assert "inconsistent-heads" in audit.stdout


def test_withheld_leaves_are_reported(
    network: Network, jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    node, _ = started_node(network, tmp_path / "withholder", jpki_hierarchy, batches=2)
    node.stop()
    db = plyvel.DB(str(node.data_dir / "log"))
    db.delete(LEAF + u64(4))  # proofs still work from stored subtrees; the leaf is gone
    db.close()
    node.start()
    try:
        assert len(http("GET", node.url + "/v1/log/leaves?start=0&end=6").body["leaves"]) == 5
        audit = run_audit(
            network.url, tmp_path / "out", registry=node.registry, nodes={str(LG_CODE): node.url}
        )
    finally:
        node.stop()
    assert audit.code == 1
    assert audit.codes() == {"leaves-withheld"}
    (finding,) = audit.report["findings"]
    assert "leaf 4 of 6" in finding["message"]
    assert audit.report["nodes"][0]["leaves_checked"] == 4


def test_unreachable_node_is_reported(
    network: Network, jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    node, _ = started_node(network, tmp_path / "offline", jpki_hierarchy, batches=1)
    node.stop()
    audit = run_audit(
        network.url, tmp_path / "out", registry=node.registry, nodes={str(LG_CODE): node.url}
    )
    assert audit.code == 1
    assert audit.codes() == {"node-unreachable"}
    assert audit.report["nodes"][0]["log"] == "unreachable"


# ---------------------------------------------------------------------------- chain


def test_block_sealed_by_a_key_never_voted_in_is_reported(network: Network, tmp_path: Path) -> None:
    registry, deployed = RegistryClient.deploy(connect(network.url), funded(network))
    full_node = network.layout.node(FULL_NODE).rpc_url
    wait_until(lambda: block_number(full_node) >= deployed.block_number, 30, "full node synced")
    # Copy the full node's chain, inject a block sealed by an outsider, serve the copy.
    network.processes.stop(FULL_NODE)
    copy = tmp_path / "copy"
    (copy / f"node-{FULL_NODE}").mkdir(parents=True)
    shutil.copy(network.layout.genesis_path, copy / "genesis.json")
    shutil.copytree(
        network.layout.node_dir(FULL_NODE) / "chaindata", copy / f"node-{FULL_NODE}" / "chaindata"
    )
    network.processes.start_node(FULL_NODE)
    genesis = read_genesis(copy)
    store = ChainStore(genesis, copy / f"node-{FULL_NODE}" / "chaindata")
    try:
        head = store.head()
        parent = store.block_by_header(head)
        outsider = keys.PrivateKey(Account.create().key)
        forged_hex = forge_child(parent, genesis, outsider, difficulty=2)
        forged = rlp.decode(bytes.fromhex(forged_hex[2:]), sedes=type(parent))
        with store.locked() as chain:
            chain.chaindb.persist_block(forged)  # bypasses every Clique check
        forged_number = forged.number
    finally:
        store.close()
    layout = NetworkLayout(copy, [NodeEntry(FULL_NODE, None, free_port(), free_port())])
    layout.save()
    served = NetworkProcesses(layout)
    served.start_node(FULL_NODE)
    try:
        url = layout.nodes[0].rpc_url
        assert block_number(url) == forged_number
        audit = run_audit(url, tmp_path / "out", registry=registry.address, nodes={})
    finally:
        served.stop_all()
    assert audit.code == 1, audit.stdout + audit.stderr
    unauthorised = [f for f in audit.report["findings"] if f["code"] == "unauthorised-signer"]
    assert [f["block"] for f in unauthorised] == [forged_number]
    address = outsider.public_key.to_checksum_address()
    assert address in unauthorised[0]["message"]
    assert audit.report["chain"]["sealing"][-1]["signer"] == address
    assert audit.codes() == {"unauthorised-signer", "wrong-difficulty"}  # 2 is in-turn only


# ---------------------------------------------------------------------------- registry


def test_registry_code_different_from_the_lock_is_reported(
    network: Network, tmp_path: Path
) -> None:
    artifact = load_registry_artifact()
    runtime = artifact.deployed_bytecode[2:]
    # Flip one byte of the metadata hash at the end of the runtime code: the contract works
    # exactly as before, but it is not the published build.
    changed = runtime[:-20] + ("00" if runtime[-20:-18] != "00" else "11") + runtime[-18:]
    bytecode = artifact.bytecode.replace(runtime, changed)
    assert bytecode != artifact.bytecode
    registry = deploy_registry(connect(network.url), funded(network), bytecode)
    audit = run_audit(network.url, tmp_path / "out", registry=registry.address, nodes={})
    assert audit.code == 1
    assert audit.codes() == {"registry-code-mismatch"}
    assert audit.report["registry"]["code_matches_lock"] is False


REGISTRY_CHECKS = (
    "if (status == NodeStatus.Unregistered) return "
    "abi.encodeWithSelector(NodeNotRegistered.selector, node);",
    "if (status != NodeStatus.Active) return "
    "abi.encodeWithSelector(NodeNotActive.selector, node, status);",
    "if (seq != expected) return abi.encodeWithSelector(WrongSequence.selector, expected, seq);",
    "if (treeSize < previousSize) return "
    "abi.encodeWithSelector(TreeSizeShrank.selector, previousSize, treeSize);",
)


@pytest.fixture(scope="module")
def lax_registry_bytecode() -> str:
    """The registry compiled without its anchoring checks: what a tampered deployment could
    accept. The audit must catch each breach from the events alone."""
    source = (build.CONTRACTS_DIR / "NotaryRegistry.sol").read_text()
    for check in REGISTRY_CHECKS:
        assert source.count(check) == 1, check
        source = source.replace(check, "")
    sources = {unit: {"content": path.read_text()} for unit, path in build.source_files().items()}
    sources["NotaryRegistry.sol"] = {"content": source}
    output = build._run_solc(
        {"language": "Solidity", "sources": sources, "settings": build.COMPILER_SETTINGS}
    )
    return (
        "0x"
        + output["contracts"]["NotaryRegistry.sol"]["NotaryRegistry"]["evm"]["bytecode"]["object"]
    )


def findings_of(audit: Audit, code: str) -> list[tuple[int | None, int | None]]:
    return [(f["seq"], f["block"]) for f in audit.report["findings"] if f["code"] == code]


def test_anchor_after_suspension_is_reported(
    network: Network, lax_registry_bytecode: str, tmp_path: Path
) -> None:
    w3 = connect(network.url)
    registry = deploy_registry(w3, funded(network), lax_registry_bytecode)
    key = funded(network)
    registry.register_node(key.address, LG_CODE, "千代田区")
    as_node = RegistryClient(w3, registry.address, key)
    as_node.anchor(0, 1, b"\x01" * 32)
    registry.suspend_node(key.address, "key compromise")
    after_suspension = as_node.anchor(1, 2, b"\x02" * 32)
    audit = run_audit(network.url, tmp_path / "out", registry=registry.address, nodes={})
    assert audit.code == 1
    assert findings_of(audit, "anchor-by-suspended-node") == [(1, after_suspension.block_number)]
    assert audit.codes() == {
        "anchor-by-suspended-node",
        "registry-code-mismatch",
        "node-url-missing",
    }


def test_gaps_shrinking_trees_and_unregistered_anchors_are_reported(
    network: Network, lax_registry_bytecode: str, tmp_path: Path
) -> None:
    w3 = connect(network.url)
    registry = deploy_registry(w3, funded(network), lax_registry_bytecode)
    key, stranger = funded(network), funded(network)
    registry.register_node(key.address, LG_CODE, "千代田区")
    as_node = RegistryClient(w3, registry.address, key)
    as_node.anchor(0, 4, b"\x01" * 32)
    gap = as_node.anchor(2, 5, b"\x02" * 32)  # seq 1 never anchored
    shrink = as_node.anchor(3, 3, b"\x03" * 32)
    unregistered = RegistryClient(w3, registry.address, stranger).anchor(0, 1, b"\x04" * 32)
    audit = run_audit(network.url, tmp_path / "out", registry=registry.address, nodes={})
    assert audit.code == 1
    assert findings_of(audit, "sequence-gap") == [(2, gap.block_number)]
    assert findings_of(audit, "tree-shrank") == [(3, shrink.block_number)]
    assert findings_of(audit, "anchor-by-unregistered-node") == [(0, unregistered.block_number)]
    assert audit.codes() == {
        "sequence-gap",
        "tree-shrank",
        "anchor-by-unregistered-node",
        "registry-code-mismatch",
        "node-url-missing",
    }


def test_withdrawn_head_is_reported_as_a_warning(network: Network, tmp_path: Path) -> None:
    w3 = connect(network.url)
    registry, _ = RegistryClient.deploy(w3, funded(network))
    key = funded(network)
    registry.register_node(key.address, LG_CODE, "千代田区")
    RegistryClient(w3, registry.address, key).anchor(0, 1, b"\x01" * 32)
    withdrawal = registry.withdraw_head(key.address, b"\x01" * 32, "key compromise")
    audit = run_audit(network.url, tmp_path / "out", registry=registry.address, nodes={})
    assert audit.code == 1
    (withdrawn,) = [f for f in audit.report["findings"] if f["code"] == "head-withdrawn"]
    assert withdrawn["severity"] == "warning" and "key compromise" in withdrawn["message"]
    assert (withdrawn["seq"], withdrawn["block"]) == (0, withdrawal.block_number)
    assert audit.report["anchors"][0]["withdrawn"] is True
    assert audit.codes() == {"head-withdrawn", "node-url-missing"}


# ---------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rpc", "ftp://x"], "must start with http"),
        (["--rpc", "http://127.0.0.1:1", "--registry", "0x12"], "not a 20-byte hex address"),
        (["--rpc", "http://127.0.0.1:1", "--nodes", "/nonexistent.json"], "cannot read --nodes"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "audit", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unreachable_chain_exits_3_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "audit",
            "--rpc",
            f"http://127.0.0.1:{free_port()}",
            "--out",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 3
    assert "unreachable" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- make run


@dataclass
class MakeRun:
    """`notary node --dev` (what `make run` starts), once for the module's make-run tests."""

    process: subprocess.Popen[str]
    banner: str
    port: int
    workdir: Path
    """Where the banner's commands run (they write bundle.json, CERT.pdf, audit-report)."""

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    @property
    def token(self) -> str:
        return (self.data_dir / "dev-token").read_text().strip()

    def command(self, after: str, before: str) -> list[str]:
        """The banner's paste block between the two texts, as argv."""
        block = self.banner.split(after, 1)[1].split(before, 1)[0]
        return shlex.split(block.replace("\\\n", " "))

    def run(self, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A banner command (`.venv/bin/notary ...`) with this Python, in the working folder."""
        assert args[0] == ".venv/bin/notary", args
        return subprocess.run(
            [sys.executable, "-m", "node.cli", *args[1:]],
            check=False, capture_output=True, text=True, cwd=self.workdir, timeout=timeout,
        )  # fmt: skip

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    workdir = tmp_path_factory.mktemp("make-run")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "node", "--dev", "--port", str(port),
         "--data-dir", str(workdir / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(banner)
        assert "Press Ctrl-C" in text, text
        yield MakeRun(process, text, port, workdir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


SEAL_BLOCK = ("append its proof bundle (CERT.pdf; about a minute):", "Then verify the sealed file")
VERIFY_PDF_BLOCK = ("Then verify the sealed file alone:", "Or drop CERT.pdf")


@dataclass
class SealedDemo:
    cert: Path
    """CERT.pdf, made by the banner's `notary seal` command."""
    other: Path
    """Another demo PDF sealed by the dev node itself (POST /v1/sealed-pdfs)."""


@pytest.fixture(scope="module")
def sealed_demo(make_run: MakeRun) -> SealedDemo:
    """The banner's one-file demo: its `notary seal` command writes CERT.pdf; and the dev node
    seals another PDF through /v1/sealed-pdfs (its test seal is configured)."""
    other_pdf = demo_pdf(["Copy of the resident record - another", "Name: OTHER TEST RESIDENT"])
    posted = http(
        "POST", make_run.url + "/v1/sealed-pdfs?document_type=1", token=make_run.token,
        raw=other_pdf,
    )  # fmt: skip
    assert posted.status == 201, posted.body
    args = make_run.command(*SEAL_BLOCK)
    assert args[:2] == [".venv/bin/notary", "seal"] and args[args.index("--out") + 1] == "CERT.pdf"
    done = make_run.run(args)
    assert done.returncode == 0, done.stdout + done.stderr
    cert = make_run.workdir / "CERT.pdf"
    assert Path(done.stdout.strip()) == cert and cert.exists(), done.stdout
    other_url = f"{make_run.url}/v1/sealed-pdfs/{posted.body['receipt_id']}"
    wait_until(
        lambda: http("GET", other_url, token=make_run.token).status == 200,
        120,
        "the node's sealed PDF final",
    )
    request = urllib.request.Request(
        other_url, headers={"Authorization": f"Bearer {make_run.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        other = make_run.workdir / "OTHER.pdf"
        other.write_bytes(response.read())
    return SealedDemo(cert, other)


def test_the_make_run_sealed_pdf_verifies_alone(make_run: MakeRun, sealed_demo: SealedDemo) -> None:
    """The banner's `notary verify CERT.pdf` (the file alone: no --bundle) says VALID, naming
    the municipal seal; the PDF the dev node sealed itself verifies the same way."""
    args = make_run.command(*VERIFY_PDF_BLOCK)
    assert args[:3] == [".venv/bin/notary", "verify", "CERT.pdf"] and "--bundle" not in args
    assert {"--rpc", "--registry", "--chain-id", "--node-url", "--trust", "--seal-trust",
            "--crl"} <= set(args)  # fmt: skip
    for path in ("CERT.pdf", str(sealed_demo.other)):
        done = make_run.run([*args[:2], path, *args[3:]], timeout=120)
        assert done.returncode == 0, path + done.stdout + done.stderr
        assert done.stdout.startswith("VALID: "), done.stdout
        assert "LGCJP-131016" in done.stdout, done.stdout
    assert f"Or drop CERT.pdf alone on {make_run.public}/verify" in make_run.banner


def _drop_pdf(page: Any, path: Path) -> dict[str, Any]:
    if page.get_attribute("#verdict", "data-state") == "done":
        page.click("#reset")
    page.set_input_files("#document-input", str(path))
    page.wait_for_selector('#verdict[data-state="done"]', timeout=60_000)
    failed = page.get_attribute("#verdict", "data-failed-check")
    detail = page.locator(f'#checks li[data-check="{failed}"] .detail') if failed else None
    return {
        "verdict": page.get_attribute("#verdict", "data-verdict"),
        "failed_check": failed,
        "word": page.inner_text("#verdict-word"),
        "reason": page.inner_text("#verdict-reason"),
        "detail": detail.inner_text() if detail is not None and detail.count() else None,
    }


def test_the_make_run_sealed_pdf_on_the_verify_page(
    make_run: MakeRun, sealed_demo: SealedDemo, browser: Any, tmp_path: Path
) -> None:
    """Exactly the banner's demo in Chromium: CERT.pdf dropped alone on the dev node's public
    /verify page is 有効 (the municipal seal named); one byte changed in its signed part is 無効
    with the reason; another document's bundle inside it is 無効."""
    page = browser.new_page(locale="ja-JP", viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(make_run.public + "/verify")
    page.wait_for_selector("body[data-ready=true]")

    result = _drop_pdf(page, sealed_demo.cert)
    assert result["verdict"] == "valid", (result["detail"], result)
    assert "有効" in result["word"], result
    assert page.get_attribute("#verdict-signer", "data-signer-kind") == "lgpki-seal"

    cert = sealed_demo.cert.read_bytes()
    sealed = read_sealed_pdf(cert)
    at = cert.index(b"TEST RESIDENT")
    assert at < sealed.signed.signed_length  # in the signed revision, outside /Contents
    altered = tmp_path / "CERT-altered.pdf"
    altered.write_bytes(cert[:at] + b"X" + cert[at + 1 :])
    result = _drop_pdf(page, altered)
    assert result["verdict"] == "invalid" and "無効" in result["word"], result
    assert result["reason"].strip(), result
    why = f"{result['reason']} {result['detail']}"
    assert "変更" in why or "一致" in why or "changed" in why, result

    other_bundle = read_sealed_pdf(sealed_demo.other.read_bytes()).bundle_json
    swapped = tmp_path / "CERT-swapped.pdf"
    swapped.write_bytes(_append(cert[: sealed.signed.signed_length], other_bundle))
    result = _drop_pdf(page, swapped)
    assert result["verdict"] == "invalid" and "無効" in result["word"], result
    assert not errors, errors
    page.close()


def test_the_make_run_network_audits_clean(make_run: MakeRun) -> None:
    """`notary node --dev` (what `make run` starts): its banner's audit command finds nothing,
    and its offline verify command says VALID AS OF EVIDENCE once the node and chain are gone.
    Runs last of the make-run tests: it stops the dev node."""
    tmp_path, token, url = make_run.workdir, make_run.token, make_run.url
    try:
        entry = json.loads((make_run.data_dir / "demo" / "entry.json").read_text())
        submitted = http("POST", url + "/v1/entries", entry, token)
        assert submitted.status == 201
        bundle_url = f"{url}/v1/receipts/{submitted.body['receipt_id']}/bundle"
        wait_until(
            lambda: "evidence" in (http("GET", bundle_url, token=token).body or {}),
            90,
            "the demo bundle with its chain evidence",
        )
        (tmp_path / "bundle.json").write_text(json.dumps(http("GET", bundle_url, token=token).body))
        leaves = http("GET", url + "/v1/log/head").body["tree_size"]
        wait_until(
            lambda: (
                (http("GET", url + "/v1/log/head").body["latest_final_head"] or {}).get("tree_size")
                == leaves
            ),
            60,
            "every entry final",
        )
        args = make_run.command("as a regulator would:", "Press Ctrl-C")
        assert args[:2] == [".venv/bin/notary", "audit"]
        done = make_run.run(args)
    finally:
        stopped = make_run.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    # SIGTERM stops the node and its validator cleanly (uvicorn would otherwise re-raise it).
    assert stopped == 0
    rpc_url = args[args.index("--rpc") + 1]
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(rpc_url, timeout=5)
    assert not isinstance(refused.value, urllib.error.HTTPError)  # nothing answers any more
    assert "no findings" in done.stdout, done.stdout
    # The demo entry, and the sealed PDFs when the make-run seal tests ran first.
    checked = "1 leaf" if leaves == 1 else f"{leaves} leaves"
    assert re.search(rf"\d+ anchors? by 1 node; {checked} checked", done.stdout), done.stdout
    assert (tmp_path / "audit-report" / "report.html").exists()
    # Its trust root names the test LGPKI CA as the seal anchor, beside the J-LIS ones.
    root = load_trust_root((make_run.data_dir / "trust-root.json").read_bytes())
    lgpki = make_run.data_dir / "jpki-test" / "ca" / "lgpki-ca.pem"
    assert root.seal_anchors == read_certificates(lgpki)
    assert not set(root.seal_anchors) & set(root.jpki_anchors)
    # The banner's offline command, with no node and no chain left running.
    args = make_run.command("consortium's trust root:", "One file:")
    assert args[:2] == [".venv/bin/notary", "verify"] and "--offline" in args
    offline = make_run.run(args, timeout=120)
    assert offline.returncode == 4, offline.stdout + offline.stderr
    assert offline.stdout.startswith("VALID AS OF EVIDENCE"), offline.stdout
