"""The consortium's trust root on a real 4-validator devnet (issue 14 item 3): exported from a
chain whose signer set changed by a vote in and a vote out, signed by governance members,
verified and chained, and checked by `notary audit --trust-root`, which finds each tampered
field and a trust root overtaken by a later vote."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anchor import RegistryClient, connect
from audit.trust_root import TrustRootExportError, cross_check_signers
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.ports import free_port
from protocol.clique import SignerSet
from protocol.trust_root import (
    TrustRoot,
    add_signature,
    dump_trust_root,
    load_trust_root,
    trust_root_digest,
    trust_root_typed_data,
)
from tests.devnet_helpers import admin, rpc, wait_until
from verifier.jsonrpc import JsonRpcClient

pytestmark = pytest.mark.chain
REPO = Path(__file__).resolve().parent.parent
NOTARY = [sys.executable, "-m", "node.cli"]


@dataclass
class Consortium:
    layout: NetworkLayout
    registry: str
    members: list[LocalAccount]
    key_files: list[Path]
    history: list[tuple[str, ...]]
    """The signer sets the votes made, as sorted addresses: genesis, vote in, vote out."""

    @property
    def url(self) -> str:
        return self.layout.nodes[0].rpc_url


def signers_now(url: str) -> tuple[str, ...]:
    return tuple(sorted(to_checksum_address(a) for a in rpc(url, "clique_getSigners")))


def vote(layout: NetworkLayout, voters: list[int], subject: str, add: bool) -> None:
    url = layout.nodes[0].rpc_url
    for index in voters:
        admin(layout, index, "clique_propose", subject, add)
    wait_until(lambda: (subject in signers_now(url)) == add, 90, f"vote on {subject}")
    for index in voters:  # stop voting once it took effect
        admin(layout, index, "clique_discard", subject)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    root = tmp_path_factory.mktemp("trust-root")
    layout = init_network(root / "net", validators=3, candidates=1)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        url = layout.nodes[0].rpc_url
        members = [Account.create() for _ in range(3)]
        registry, _ = RegistryClient.deploy(
            connect(url), layout.dev_account(), members=[m.address for m in members], threshold=2
        )
        key_files = []
        for i, member in enumerate(members):
            key_files.append(root / f"member-{i}.key")
            key_files[-1].write_text(member.key.hex())
        history = [signers_now(url)]
        candidate, dropped = layout.nodes[3].address, layout.nodes[2].address
        assert candidate is not None and dropped is not None
        vote(layout, [0, 1], candidate, True)  # 2 of 3
        history.append(signers_now(url))
        vote(layout, [0, 1, 3], dropped, False)  # 3 of 4
        history.append(signers_now(url))
        yield Consortium(layout, registry.address, members, key_files, history)
    finally:
        processes.stop_all()


def notary(*args: str | Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*NOTARY, *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def export(consortium: Consortium, out: Path) -> TrustRoot:
    done = notary(
        "trust-root", "export", "--rpc", consortium.url, "--registry", consortium.registry,
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return load_trust_root(out.read_bytes())


def sign_in_process(root: TrustRoot, *members: LocalAccount) -> TrustRoot:
    for member in members:
        message = encode_typed_data(full_message=trust_root_typed_data(root))
        root = add_signature(root, member.address, member.sign_message(message).signature)
    return root


def audit(consortium: Consortium, root: TrustRoot, out: Path) -> tuple[int, dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "trust-root.json").write_text(dump_trust_root(root))
    done = notary(
        "audit", "--rpc", consortium.url, "--registry", consortium.registry, "--out", out,
        "--trust-root", out / "trust-root.json",
    )  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert "trust-root" in (out / "report.html").read_text().lower()
    return done.returncode, report


def codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


# ---------------------------------------------------------------------------- export


def test_export_derives_the_signer_history_across_a_vote_in_and_a_vote_out(
    consortium: Consortium, tmp_path: Path
) -> None:
    root = export(consortium, tmp_path / "trust-root.json")
    sets = [tuple(sorted(to_checksum_address(s) for s in x.signers)) for x in root.signer_sets]
    assert sets == consortium.history
    assert root.signer_sets[0].block == 0 and len(root.signer_sets) == 3
    # Each set is what the engine answers at its block, and not yet at the block before.
    for entry in root.signer_sets[1:]:
        before = rpc(consortium.url, "clique_getSigners", hex(entry.block - 1))
        assert {to_checksum_address(a) for a in before} != {
            to_checksum_address(s) for s in entry.signers
        }
    chain = JsonRpcClient(consortium.url)
    assert root.chain_id == chain.chain_id()
    assert root.genesis_hash.hex() == chain.get_block(0)["hash"][2:]
    assert root.registry.address == consortium.registry
    assert root.registry.code_hash == keccak(chain.get_code(consortium.registry))
    assert root.governance is not None and root.governance.threshold == 2
    assert set(root.governance.members) == {m.address for m in consortium.members}
    assert root.as_of_block is not None and root.as_of_block >= root.signer_sets[-1].block
    assert root.signatures == ()


def test_the_engine_cross_check_refuses_a_history_it_does_not_confirm(
    consortium: Consortium, tmp_path: Path
) -> None:
    root = export(consortium, tmp_path / "trust-root.json")
    chain = JsonRpcClient(consortium.url)
    head = chain.block_number()
    assert cross_check_signers(chain, root.signer_sets, head) == len(root.signer_sets) + 1
    wrong = SignerSet(root.signer_sets[1].block, root.signer_sets[0].signers)
    with pytest.raises(TrustRootExportError, match="the engine names signers"):
        cross_check_signers(chain, [root.signer_sets[0], wrong], head)


def test_export_errors_are_one_line(consortium: Consortium, tmp_path: Path) -> None:
    cases: list[tuple[list[str | Path], int, str]] = [
        (["--rpc", consortium.url, "--registry", "0x1234"], 2, "not a 20-byte hex address"),
        (["--rpc", consortium.url, "--registry", "0x" + "00" * 19 + "01"], 1, "no contract"),
        (["--rpc", f"http://127.0.0.1:{free_port()}", "--registry", consortium.registry], 3,
         "incomplete"),
        (["--rpc", consortium.url, "--registry", consortium.registry, "--tsa-anchor",
          tmp_path / "missing.pem"], 2, "cannot read"),
    ]  # fmt: skip
    for args, code, text in cases:
        done = notary("trust-root", "export", *args)
        assert done.returncode == code, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


# ---------------------------------------------------------------------------- signing


def test_members_sign_to_threshold_and_verify_chains_updates(
    consortium: Consortium, tmp_path: Path
) -> None:
    file = tmp_path / "trust-root.json"
    unsigned = export(consortium, file)
    digest = trust_root_digest(unsigned).hex()
    done = notary("trust-root", "verify", file)
    assert done.returncode == 1 and "0 of 3 members" in done.stderr
    assert notary("trust-root", "sign", file, "--key-file", consortium.key_files[0]).returncode == 0
    done = notary("trust-root", "sign", file, "--key-file", consortium.key_files[0])
    assert done.returncode == 1 and "signed already" in done.stderr
    done = notary("trust-root", "verify", file, "--pin", digest)
    assert done.returncode == 1 and "1 of 3 members" in done.stderr
    assert notary("trust-root", "sign", file, "--key-file", consortium.key_files[1]).returncode == 0
    signed = load_trust_root(file.read_bytes())
    assert trust_root_digest(signed).hex() == digest  # signatures are outside the digest
    assert {s.member for s in signed.signatures} == {m.address for m in consortium.members[:2]}
    done = notary("trust-root", "verify", file, "--pin", digest)
    assert done.returncode == 0 and "signed by 2 of 3" in done.stdout, done.stderr
    done = notary("trust-root", "verify", file, "--pin", "00" * 32)
    assert done.returncode == 1 and "pinned" in done.stderr
    # A non-member's key is refused before it signs.
    outsider = tmp_path / "outsider.key"
    outsider.write_text(Account.create().key.hex())
    done = notary("trust-root", "sign", file, "--key-file", outsider)
    assert done.returncode == 1 and "not a governance member" in done.stderr
    assert done.stderr.count("\n") == 1
    # A tampered file: the signatures no longer recover their members.
    tampered = tmp_path / "tampered.json"
    tampered.write_text(file.read_text().replace('"threshold":2', '"threshold":1'))
    done = notary("trust-root", "verify", tampered)
    assert done.returncode == 1 and "was made by" in done.stderr
    # Later: a newer export, signed by 2 of the members the trusted one names, is accepted.
    newer = tmp_path / "newer.json"
    export(consortium, newer)
    for key in consortium.key_files[1:]:
        assert notary("trust-root", "sign", newer, "--key-file", key).returncode == 0
    done = notary("trust-root", "verify", newer, "--previous", file, "--pin", digest)
    assert done.returncode == 0, done.stderr
    done = notary("trust-root", "verify", file, "--previous", newer)
    assert done.returncode == 1 and "issued_at" in done.stderr  # no rollback


# ---------------------------------------------------------------------------- audit


def test_audit_checks_a_published_trust_root_and_finds_each_tampered_field(
    consortium: Consortium, tmp_path: Path
) -> None:
    root = sign_in_process(export(consortium, tmp_path / "export.json"), *consortium.members[:2])
    code, report = audit(consortium, root, tmp_path / "good")
    assert code == 0 and codes(report) == set(), report["findings"]
    assert report["trust_root"]["digest"] == "0x" + trust_root_digest(root).hex()
    assert len(report["trust_root"]["signed_by"]) == 2
    # Validly signed but wrong: the audit compares with the chain, not with the signatures.
    outsider = bytes.fromhex(Account.create().address[2:])
    sets = list(root.signer_sets)
    sets[1] = SignerSet(sets[1].block, sets[1].signers | {outsider})
    tampered = {
        "trust-root-signer-sets": replace(root, signer_sets=tuple(sets)),
        "trust-root-code-hash": replace(
            root, registry=replace(root.registry, code_hash=b"\x00" * 32)
        ),
        "trust-root-genesis": replace(root, genesis_hash=b"\x01" * 32),
        "trust-root-chain-id": replace(root, chain_id=root.chain_id + 1),
    }
    for expected, wrong in tampered.items():
        resigned = sign_in_process(replace(wrong, signatures=()), *consortium.members[:2])
        code, report = audit(consortium, resigned, tmp_path / expected)
        assert code == 1 and codes(report) == {expected}, report["findings"]
    # Signed by one member only: below the threshold.
    code, report = audit(
        consortium, replace(root, signatures=root.signatures[:1]), tmp_path / "under"
    )
    assert codes(report) == {"trust-root-signatures"}
    # A vote after the export: the trust root is outdated (a warning), not wrong.
    dropped = consortium.layout.nodes[2].address
    assert dropped is not None
    vote(consortium.layout, [0, 1], dropped, True)
    code, report = audit(consortium, root, tmp_path / "outdated")
    (finding,) = report["findings"]
    assert finding["code"] == "trust-root-outdated" and finding["severity"] == "warning"
    assert "signer set changed since" in finding["message"]
