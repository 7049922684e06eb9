"""A notarization node as a real process for tests: its chain, key, trust, and HTTP client."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor import RegistryClient, connect
from anchor.keys import write_keystore
from devnet.network import NetworkProcesses, init_network
from devnet.ports import free_port
from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import Issued, TestHierarchy
from tests.chains import send_ether

REPO = Path(__file__).resolve().parent.parent
LG_CODE = 131016


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def http(
    method: str, url: str, body: Any = None, token: str | None = None, raw: bytes | None = None
) -> Answer:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = response.read()
            return Answer(
                response.status, _decode(payload, response.headers), dict(response.headers)
            )
    except urllib.error.HTTPError as error:
        payload = error.read()
        return Answer(error.code, _decode(payload, error.headers), dict(error.headers))


def _decode(payload: bytes, headers: Any) -> Any:
    kind = headers.get("Content-Type", "")
    return json.loads(payload) if "json" in kind and payload else payload.decode(errors="replace")


def signed_entry(signer: Issued, document: bytes, **overrides: Any) -> dict[str, Any]:
    """A submission body for `document`, signed like a My Number card by `signer`."""
    cms = sign_cms(
        document,
        key=load_private_key(signer.key),
        cert=x509.load_pem_x509_certificate(signer.cert.read_bytes()),
    )
    body: dict[str, Any] = {
        "document_sha256": hashlib.sha256(document).hexdigest(),
        "document_type": 0x8001,  # municipality-defined: signed with a JPKI card
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {"format": "cms", "value": base64.b64encode(cms).decode()},
    }
    body.update(overrides)
    return body


@dataclass
class NodeProcess:
    """`notary node` on a free port with its own data folder; kill and restart at will."""

    data_dir: Path
    rpc_url: str
    registry: str
    chain_id: int
    key_file: Path
    password_file: Path
    hierarchy: TestHierarchy
    env: dict[str, str] = field(default_factory=dict)
    lg_code: int = LG_CODE
    rpc_urls: list[str] = field(default_factory=list)  # every --rpc, preferred first; [rpc_url]
    port: int = field(default_factory=free_port)
    governance: LocalAccount | None = None
    """The registry's only governance member (1 of 1, no timelock), if this harness deployed it."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "node.log"

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "NOTARY_TRUST_DIR": str(self.data_dir / "trust"),
            "NOTARY_CRL_FILES": json.dumps([str(p) for p in self.hierarchy.crl_files]),
            "NOTARY_SEAL_TRUST_DIR": str(self.data_dir / "seal-trust"),
            "NOTARY_SEAL_CRL_FILES": json.dumps([str(p) for p in self.hierarchy.seal_crl_files]),
            "NOTARY_BATCH_INTERVAL": "0.3",
            **self.env,
        }
        trust = self.data_dir / "trust"
        trust.mkdir(parents=True, exist_ok=True)
        for anchor in self.hierarchy.trust_anchors:
            (trust / anchor.name).write_bytes(anchor.read_bytes())
        seal_trust = self.data_dir / "seal-trust"
        seal_trust.mkdir(parents=True, exist_ok=True)
        for anchor in self.hierarchy.seal_trust_anchors:
            (seal_trust / anchor.name).write_bytes(anchor.read_bytes())
        args = [
            sys.executable,
            "-m",
            "node.cli",
            "node",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            *[a for url in self.rpc_urls or [self.rpc_url] for a in ("--rpc", url)],
            "--registry",
            self.registry,
            "--chain-id",
            str(self.chain_id),
            "--key-file",
            str(self.key_file),
            "--password-file",
            str(self.password_file),
            "--lg-code",
            str(self.lg_code),
        ]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"node exited with {self.process.returncode}; see {self.log_file}"
                )
            try:
                if http("GET", self.url + "/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node did not answer within {timeout} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def token(self, name: str, *scopes: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "node.cli",
                "node",
                "--data-dir",
                str(self.data_dir),
                "token",
                "create",
                "--name",
                name,
                *[a for s in scopes for a in ("--scope", s)],
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        return done.stdout.strip()

    def wait_final(self, timeout: float = 90) -> dict[str, Any]:
        """Wait until every entry is covered by a final head; return /v1/log/head."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = http("GET", self.url + "/v1/log/head").body
            final = head.get("latest_final_head")
            if final and final["tree_size"] == head["tree_size"]:
                return dict(head)
            time.sleep(0.3)
        raise AssertionError(f"entries not all final within {timeout} s: {head}")


def provision_node(
    rpc_url: str, funder: LocalAccount, workdir: Path, hierarchy: TestHierarchy
) -> NodeProcess:
    """Deploy a registry, create and register a funded node key, and describe the node."""
    w3 = connect(rpc_url)
    governance: LocalAccount = Account.create()
    node_key: LocalAccount = Account.create()
    send_ether(w3, funder, governance.address, 10)
    send_ether(w3, funder, node_key.address, 100)
    registry, _ = RegistryClient.deploy(w3, governance)
    registry.register_node(node_key.address, LG_CODE, "千代田区")
    workdir.mkdir(parents=True, exist_ok=True)
    key_file, password_file = workdir / "node-key.json", workdir / "node-key.password"
    write_keystore(node_key, key_file, "node password")
    password_file.write_text("node password\n")
    return NodeProcess(
        data_dir=workdir / "data",
        rpc_url=rpc_url,
        registry=registry.address,
        chain_id=int(w3.eth.chain_id),
        key_file=key_file,
        password_file=password_file,
        hierarchy=hierarchy,
        governance=governance,
    )


@contextmanager
def node_on_devnet(
    root: Path, hierarchy: TestHierarchy, env: dict[str, str] | None = None
) -> Iterator[NodeProcess]:
    """A started node on its own one-validator devnet, with a registry; both stopped after.
    `env`: extra NOTARY_* settings."""
    layout = init_network(root / "chain", validators=1)
    chain = NetworkProcesses(layout)
    chain.start_all()
    process = provision_node(layout.nodes[0].rpc_url, layout.dev_account(), root, hierarchy)
    process.env.update(env or {})
    try:
        process.start()
        yield process
    finally:
        process.stop()
        chain.stop_all()
