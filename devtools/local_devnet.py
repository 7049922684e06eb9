"""`notary node --dev`: everything a first-time user needs, provisioned into the data folder
on the first run and reused afterwards: a one-validator devnet, the registry with this node
registered, the node's key, a JPKI-TEST hierarchy to trust, a demo document signed like a
My Number card, an API token, and a local RFC 3161 TSA (`devtools.tsa`, its own process) whose
test CA the node trusts for timestamps."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from anchor import RegistryClient, connect
from anchor.keys import load_account, write_keystore
from audit.trust_root import ExportConfig, export_trust_root, read_certificates
from devnet.genesis import Genesis
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import generate_test_hierarchy
from devtools.tsa import TsaError, generate_tsa
from node.tokens import SCOPES, TokenStore
from protocol.leaf import DocumentType
from protocol.trust_root import dump_trust_root

DEMO_TEXT = (
    "住民票の写し (demo)\n氏名: 試験 太郎\n住所: 茨城県つくば市 1-1-1\n発行: 千代田区 (demo)\n"
)


@dataclass
class DevEnvironment:
    chain: NetworkProcesses
    rpc_url: str
    chain_id: int
    registry: str
    key_file: Path
    password_file: Path
    trust_dir: Path
    crl_files: list[Path]
    token: str
    demo_document: Path
    demo_entry: Path
    tsa: DevTsa
    trust_root: Path

    def stop(self) -> None:
        self.tsa.stop()
        self.chain.stop_all()


@dataclass
class DevTsa:
    """The local TSA process: its URL and the CA certificate a node trusts for its tokens."""

    process: subprocess.Popen[bytes]
    url: str
    trust_anchors: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


TSA_START_TIMEOUT = 30.0


def start_tsa(folder: Path) -> DevTsa:
    """`python -m devtools.tsa` on a free port, its identity in `folder` (made once)."""
    files = generate_tsa(folder)
    url_file = folder / "url"
    url_file.unlink(missing_ok=True)
    with open(folder / "tsa.log", "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.tsa",
                "--dir",
                str(folder),
                "--url-file",
                str(url_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + TSA_START_TIMEOUT
    while not url_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise TsaError(f"the development TSA did not start; see {folder / 'tsa.log'}")
        time.sleep(0.05)
    return DevTsa(process, url_file.read_text().strip(), files.trust_anchor)


def provision(data_dir: Path, lg_code: int, name: str) -> DevEnvironment:
    data_dir.mkdir(parents=True, exist_ok=True)
    chain_dir = data_dir / "chain"
    layout = (
        NetworkLayout.load(chain_dir)
        if (chain_dir / "network.json").exists()
        else init_network(chain_dir, 1)
    )
    processes = NetworkProcesses(layout)
    processes.start_all()
    tsa: DevTsa | None = None
    try:
        tsa = start_tsa(data_dir / "tsa")
        rpc_url = layout.nodes[0].rpc_url
        w3 = connect(rpc_url)
        node_key, key_file, password_file = _node_key(data_dir)
        registry = _registry(data_dir, w3, layout.dev_account(), node_key, lg_code, name)
        jpki = _test_ca(data_dir)
        token = _dev_token(data_dir)
        demo_document, demo_entry = _demo(data_dir, jpki)
        trust_root = _trust_root(data_dir, layout, rpc_url, registry, jpki, tsa)
    except BaseException:
        if tsa is not None:
            tsa.stop()
        processes.stop_all()
        raise
    return DevEnvironment(
        chain=processes,
        rpc_url=rpc_url,
        chain_id=int(w3.eth.chain_id),
        registry=registry,
        key_file=key_file,
        password_file=password_file,
        trust_dir=jpki.trust_dir,
        crl_files=jpki.crl_files,
        token=token,
        demo_document=demo_document,
        demo_entry=demo_entry,
        tsa=tsa,
        trust_root=trust_root,
    )


def _trust_root(
    data_dir: Path, layout: NetworkLayout, rpc_url: str, registry: str, jpki: TestJPKI,
    tsa: DevTsa,
) -> Path:  # fmt: skip
    """The consortium's trust root as `notary trust-root export` would write it, so that bundles
    of this node verify offline (`notary verify --offline`). Exported once: the one-validator
    chain never changes its signers, and a replay from genesis at every start would grow with
    the chain."""
    path = data_dir / "trust-root.json"
    if path.exists():
        return path
    anchors = tuple(der for pem in sorted(jpki.trust_dir.glob("*.pem"))
                    for der in read_certificates(pem))  # fmt: skip
    genesis = Genesis.load(layout.genesis_path)
    root = export_trust_root(
        ExportConfig(
            rpc_url=rpc_url,
            registry=registry,
            tsa_anchors=read_certificates(tsa.trust_anchors),
            jpki_anchors=anchors,
            seal_anchors=tuple(der for pem in jpki.seal_anchors for der in read_certificates(pem)),
            period=genesis.period,
            epoch=genesis.epoch,
        )
    )
    partial = path.with_suffix(".partial")  # a crash mid-write must not leave half a file
    partial.write_text(dump_trust_root(root) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def _node_key(data_dir: Path) -> tuple[LocalAccount, Path, Path]:
    key_file, password_file = data_dir / "node-key.json", data_dir / "node-key.password"
    if not key_file.exists():
        password = secrets.token_urlsafe(24)
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        write_keystore(Account.create(), key_file, password)
    return load_account(key_file, password_file), key_file, password_file


def _registry(
    data_dir: Path, w3: Web3, dev: LocalAccount, node_key: LocalAccount, lg_code: int, name: str
) -> str:
    record_file = data_dir / "registry.json"
    if record_file.exists():
        return str(json.loads(record_file.read_text())["registry"])
    # Development: the dev account is the whole governance (1 of 1, no timelock), so the
    # registration proposal is executed at once. A consortium deploys with its members, a
    # threshold and a timelock (docs/REGISTRY.md, "Governance").
    registry, deployment = RegistryClient.deploy(w3, dev, members=[dev.address], threshold=1)
    registry.register_node(node_key.address, lg_code, name)
    funding = dev.sign_transaction(
        {
            "to": node_key.address,
            "value": Web3.to_wei(1000, "ether"),
            "gas": 21_000,
            "nonce": w3.eth.get_transaction_count(dev.address, "pending"),
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": Web3.to_wei(10, "gwei"),
            "maxPriorityFeePerGas": Web3.to_wei(1, "gwei"),
        }
    )
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(funding.raw_transaction), timeout=60
    )
    record_file.write_text(
        json.dumps({"registry": registry.address, "block": deployment.block_number}) + "\n"
    )
    return registry.address


@dataclass(frozen=True)
class TestJPKI:
    trust_dir: Path
    crl_files: list[Path]
    signer_cert: Path
    signer_key: Path
    seal_anchors: tuple[Path, ...] = ()
    """The LGPKI-TEST CA: the trust root's seal anchors (none in a data dir made before)."""


def _test_ca(data_dir: Path) -> TestJPKI:
    """A JPKI-TEST hierarchy to trust; generated once (RSA keys are slow), then reused."""
    out = data_dir / "jpki-test"
    summary = out / "dev-summary.json"
    if not summary.exists():
        hierarchy = generate_test_hierarchy(out)
        trust = out / "trust"
        trust.mkdir(exist_ok=True)
        for anchor in hierarchy.trust_anchors:
            (trust / anchor.name).write_bytes(anchor.read_bytes())
        facts = {
            "trust_dir": str(trust),
            "crl_files": [str(p) for p in hierarchy.crl_files],
            "signer_cert": str(hierarchy.ee_valid_gen02.cert),
            "signer_key": str(hierarchy.ee_valid_gen02.key),
            "seal_anchors": [str(p) for p in hierarchy.seal_trust_anchors],
        }
        summary.write_text(json.dumps(facts, indent=2) + "\n")
    facts = json.loads(summary.read_text())
    return TestJPKI(
        Path(facts["trust_dir"]),
        [Path(p) for p in facts["crl_files"]],
        Path(facts["signer_cert"]),
        Path(facts["signer_key"]),
        tuple(Path(p) for p in facts.get("seal_anchors", ())),
    )


def _dev_token(data_dir: Path) -> str:
    token_file = data_dir / "dev-token"
    if token_file.exists():
        return token_file.read_text().strip()
    token = TokenStore(data_dir / "tokens.json").create("dev", list(SCOPES))
    token_file.touch(mode=0o600)
    token_file.write_text(token + "\n")
    return token


def _demo(data_dir: Path, jpki: TestJPKI) -> tuple[Path, Path]:
    demo = data_dir / "demo"
    demo.mkdir(exist_ok=True)
    document, entry = demo / "document.txt", demo / "entry.json"
    # Signed afresh at every start: the node refuses signing times older than
    # signing_time_max_age (10 minutes), so yesterday's demo entry would be refused.
    content = DEMO_TEXT.encode()
    document.write_bytes(content)
    cms = sign_cms(
        content,
        key=load_private_key(jpki.signer_key),
        cert=x509.load_pem_x509_certificate(jpki.signer_cert.read_bytes()),
    )
    body = {
        "document_sha256": hashlib.sha256(content).hexdigest(),
        "document_type": int(DocumentType.RESIDENT_RECORD_COPY),
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {"format": "cms", "value": base64.b64encode(cms).decode()},
    }
    entry.write_text(json.dumps(body, indent=2) + "\n")
    return document, entry
