"""Regression tests for the security review "Hardening the node, the verifier and the
registry" (issue 12), the node's findings: 1 (backdated signing times), 8 (key rotation broke
older bundles) and 10 (token store races, a signer cache that never expired, the funded
`dev-account.key`, no cap on the anchoring fee, a `require_signature` setting without effect).

Unit tests first; those marked `chain` start a devnet and a node."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from pydantic import ValidationError

from anchor import RegistryClient, connect
from anchor.keys import load_account, write_keystore
from anchor.transactions import (
    DEFAULT_MAX_FEE_PER_GAS,
    FeeCapExceededError,
    TransactionSender,
    gwei,
)
from devnet.network import NetworkError, init_network
from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    CRLEntry,
    Issued,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
)
from node.intake import (
    SignatureInput,
    SignerGate,
    SigningWindow,
    Submission,
    SubmissionRejectedError,
    document_entry,
)
from node.settings import NodeSettings
from node.tokens import TokenStore
from protocol.leaf import SignatureFormat
from tests.chains import send_ether
from tests.jpki_fixtures import all_crls, anchors, cert, key, x509_cert
from tests.node_harness import NodeProcess, node_on_devnet, signed_entry
from tests.node_harness import http as call
from tests.test_verify_signer import ConfirmingChain, anchored
from tests.vectors.issuer import MiniLog, Signer
from verifier import VerdictStatus, VerificationPolicy, Verifier, verify
from verifier.jpki import RevocationSources, SignerPolicy, check_signer, load_certificates

pytest_plugins = ["tests.jpki_fixtures"]

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DOCUMENT = "住民票の写し (TEST) — synthetic".encode()


# ----------------------------------------------------------------- helpers


def _pkcs1_body(signer: Issued, document: bytes, signing_time: datetime) -> dict[str, Any]:
    """A raw PKCS#1 submission claiming `signing_time` (the signature carries no time)."""
    signature = load_private_key(signer.key).sign(document, padding.PKCS1v15(), hashes.SHA256())
    der = x509_cert(signer).public_bytes(serialization.Encoding.DER)
    return {
        "document_sha256": hashlib.sha256(document).hexdigest(),
        "document_type": 0x8001,  # municipality-defined: signed with a JPKI card
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature": {
            "format": "pkcs1",
            "value": base64.b64encode(signature).decode(),
            "certificate": base64.b64encode(der).decode(),
            "signing_time": signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def _cms_body(signer: Issued, document: bytes, signing_time: datetime) -> dict[str, Any]:
    """A CMS submission whose `signingTime` attribute says `signing_time`."""
    cms = sign_cms(
        document,
        key=load_private_key(signer.key),
        cert=x509_cert(signer),
        signing_time=signing_time,
    )
    body = signed_entry(signer, document)
    body["signature"]["value"] = base64.b64encode(cms).decode()
    return body


def _key_compromise_crl(
    h: TestHierarchy, revoked: Issued, revoked_at: datetime, invalid_since: datetime | None = None
) -> bytes:
    """gen02's Iizuka CRL (ee_valid_gen02's distribution point) revoking `revoked` for key
    compromise at `revoked_at`."""
    crl = make_crl(
        issuer_cert=x509_cert(h.sign_ca_gen02),
        issuer_key=key(h.sign_ca_gen02),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[
            CRLEntry(revoked.serial, revoked_at, x509.ReasonFlags.key_compromise, invalid_since)
        ],
        this_update=h.now,
        next_update=h.now + DAY,
        number=2,
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _others_crls(h: TestHierarchy) -> list[Path]:
    """Every fixture CRL but gen02's Iizuka one (a test supplies its own)."""
    return [p for p in h.crl_files if p != h.crl_gen02_iizuka.path]


def _gate(h: TestHierarchy, revocation: RevocationSources, **options: Any) -> SignerGate:
    return SignerGate(
        trust_anchors=tuple(anchors(h)), revocation=revocation, policy=SignerPolicy(), **options
    )


def _submission(signer: Issued, signing_time: datetime) -> Submission:
    body = _pkcs1_body(signer, DOCUMENT, signing_time)["signature"]
    return Submission(
        document_sha256=hashlib.sha256(DOCUMENT).digest(),
        document_type=0x8001,
        issued_at=int(signing_time.timestamp()),
        signature=SignatureInput(
            format=SignatureFormat.PKCS1,
            value=base64.b64decode(body["value"]),
            certificate=base64.b64decode(body["certificate"]),
            signing_time=int(signing_time.timestamp()),
        ),
    )


# ----------------------------------------------------------------- finding 1: unit level


def test_finding_1_signing_window_defaults_and_messages() -> None:
    window = SigningWindow()
    assert (window.max_age, window.max_ahead) == (600.0, 120.0)
    received = 1_800_000_000.0
    assert window.refusal(int(received) - 600, received) is None
    assert window.refusal(int(received) + 120, received) is None
    old = window.refusal(int(received) - 86400, received)
    assert old is not None and "24 h 0 min before" in old and "signing_time_max_age" in old
    ahead = window.refusal(int(received) + 121, received)
    assert ahead is not None and "signing_time_max_ahead" in ahead
    settings = NodeSettings(signing_time_max_age=3600, signing_time_max_ahead=0)
    assert (settings.signing_time_max_age, settings.signing_time_max_ahead) == (3600, 0)
    assert NodeSettings().signing_time_max_age == 600


def test_finding_1_key_compromise_counts_before_its_revocation_date(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    crls = [_key_compromise_crl(h, signer, h.now - HOUR)]
    sources = RevocationSources(crls=crls, crl_files=_others_crls(h))
    result = check_signer(
        cert(signer), signing_time=h.now - DAY, trust_anchors=anchors(h), revocation=sources
    )
    assert result.status == "revoked", result.reason
    assert "key compromise" in result.reason and result.revoked_at == h.now - HOUR
    # An ordinary revocation keeps the rule of the signing time (the fixture's ee_revoked).
    before = check_signer(
        cert(h.ee_revoked),
        signing_time=h.revoked_at - HOUR,
        trust_anchors=anchors(h),
        revocation=all_crls(h),
    )
    assert before.status == "valid", before.reason


def test_finding_1_invalidity_date_is_honoured(jpki_hierarchy: TestHierarchy) -> None:
    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    crls = [_key_compromise_crl(h, signer, h.now - HOUR, invalid_since=h.now - 3 * HOUR)]
    sources = RevocationSources(crls=crls, crl_files=_others_crls(h))

    def status(at: datetime) -> str:
        result = check_signer(
            cert(signer), signing_time=at, trust_anchors=anchors(h), revocation=sources
        )
        return f"{result.status}: {result.reason}"

    # The CA says the key was good until three hours ago: older signatures stand.
    assert status(h.now - 4 * HOUR).startswith("valid")
    assert status(h.now - 2 * HOUR).startswith("revoked")
    assert "invalid since" in status(h.now - 2 * HOUR)


def test_finding_1_key_compromise_through_verify(jpki_hierarchy: TestHierarchy) -> None:
    """The bank's verifier applies the same rule (check 13, signer_certificate)."""
    h, issued = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    log = MiniLog()
    item = log.add_document(
        DOCUMENT, Signer.from_issued(issued, h.sign_ca_gen02), signing_time=h.now - DAY
    )
    bundle = anchored(log, item)

    def verdict(crls: list[bytes]) -> Any:
        policy = VerificationPolicy(
            rpc_urls=[],
            registry=bundle.anchor.registry if bundle.anchor else "",
            chain_id=31337,
            trust_anchors=anchors(h),
            revocation=RevocationSources(crls=crls, crl_files=_others_crls(h)),
            now=h.now,
            require_revocation_check=False,
        )
        chain = ConfirmingChain(h.now - 10 * MINUTE)
        return Verifier(policy, chain_reader=chain).verify(DOCUMENT, bundle)

    plain = make_crl(
        issuer_cert=x509_cert(h.sign_ca_gen02),
        issuer_key=key(h.sign_ca_gen02),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[(issued.serial, h.now - HOUR)],  # affiliation change
        this_update=h.now,
        next_update=h.now + DAY,
    ).public_bytes(serialization.Encoding.DER)
    assert verdict([plain]).status is VerdictStatus.VALID, verdict([plain]).summary
    compromised = verdict([_key_compromise_crl(h, issued, h.now - HOUR)])
    assert compromised.status is VerdictStatus.INVALID, compromised.summary
    assert compromised.failed_check == "signer_certificate"
    assert "key compromise" in (compromised.reason or "")


def test_finding_1_node_refuses_a_signer_revoked_for_key_compromise(
    jpki_hierarchy: TestHierarchy,
) -> None:
    """Inside the window (5 minutes old) but before a key-compromise revocation dated one
    minute ago: the node's intake refuses it, as it would accept it for another reason."""
    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    received = h.now
    crls = [_key_compromise_crl(h, signer, received - MINUTE)]
    gate = _gate(h, RevocationSources(crls=crls, crl_files=_others_crls(h)))
    with pytest.raises(SubmissionRejectedError) as refused:
        document_entry(
            _submission(signer, received - 5 * MINUTE),
            131016,
            gate,
            client="test",
            received_at=received.timestamp(),
        )
    assert refused.value.problem == "signer-revoked"
    assert refused.value.field == "signature.certificate"
    assert "key compromise" in refused.value.detail


# ----------------------------------------------------------------- finding 10: unit level


def test_finding_10_token_revoke_is_not_lost_to_a_stale_store(tmp_path: Path) -> None:
    """The node's store (A) and a `token revoke` command (B) share tokens.json. B's change
    keeps A's modification time (a coarse clock): A must neither keep honouring the revoked
    token nor write its stale copy back over the revocation."""
    path = tmp_path / "tokens.json"
    node, command = TokenStore(path), TokenStore(path)
    token = node.create("issuing-system", ["submit"])
    assert node.resolve(token) is not None
    before = path.stat()
    assert command.revoke("issuing-system") == 1
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    node.RACY_SECONDS = 0.0  # even once the racy window is over
    assert node.resolve(token) is None
    node.create("another-system", ["read"])  # a create racing the revoke
    assert TokenStore(path).resolve(token) is None
    assert {r["name"] for r in TokenStore(path).list()} == {"issuing-system", "another-system"}


def _create_tokens(path: str, prefix: str, count: int) -> None:
    store = TokenStore(Path(path))
    for number in range(count):
        store.create(f"{prefix}-{number}", ["submit"])


def test_finding_10_concurrent_token_changes_from_processes_all_land(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_create_tokens, args=(str(path), f"system{w}", 15)) for w in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(TokenStore(path).list()) == 45


def test_finding_10_signer_cache_is_rebuilt_when_the_crl_changes(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    crl_file = tmp_path / "iizuka.crl"
    crl_file.write_bytes(h.crl_gen02_iizuka.path.read_bytes())  # lists nothing
    gate = _gate(h, RevocationSources(crl_files=[*_others_crls(h), crl_file]))
    seconds = int((h.now - HOUR).timestamp())
    assert gate.check(cert(signer), [], seconds).status == "valid"
    # The operator's CRL job replaces the file: a revocation an hour before that time.
    replaced = make_crl(
        issuer_cert=x509_cert(h.sign_ca_gen02),
        issuer_key=key(h.sign_ca_gen02),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[(signer.serial, h.now - 2 * HOUR)],
        this_update=h.now,
        next_update=h.now + DAY,
        number=2,
    )
    scratch = tmp_path / "iizuka.crl.new"
    scratch.write_bytes(replaced.public_bytes(serialization.Encoding.DER))
    scratch.replace(crl_file)
    assert gate.check(cert(signer), [], seconds).status == "revoked"


def test_finding_10_signer_cache_entries_expire(
    jpki_hierarchy: TestHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import node.intake

    h, signer = jpki_hierarchy, jpki_hierarchy.ee_valid_gen02
    asked: list[int] = []
    real = node.intake.check_signer

    def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(node.intake, "check_signer", counting)
    clock = [1000.0]
    gate = _gate(h, all_crls(h), cache_ttl=300.0, clock=lambda: clock[0])
    seconds = int((h.now - HOUR).timestamp())
    gate.check(cert(signer), [], seconds)
    clock[0] += 299
    gate.check(cert(signer), [], seconds)
    assert len(asked) == 1  # cached
    clock[0] += 2
    gate.check(cert(signer), [], seconds)
    assert len(asked) == 2  # expired, asked again


def test_finding_10_require_signature_is_gone_not_silently_ignored() -> None:
    """Every leaf commits to a JPKI signature (docs/PROTOCOL.md 2), so the node cannot log an
    unsigned entry; a setting that claimed to allow it is refused rather than ignored."""
    assert "require_signature" not in NodeSettings.model_fields
    with pytest.raises(ValidationError, match="require_signature"):
        NodeSettings(require_signature=False)  # type: ignore[call-arg]


class _FeeChain:
    """Just enough of web3 for `TransactionSender.send`: a base fee, a tip, a nonce."""

    def __init__(self, base_fee: int, tip: int) -> None:
        self.eth = self
        self.base_fee, self.max_priority_fee, self.chain_id = base_fee, tip, 31337
        self.sent: list[bytes] = []
        self.provider = None

    def get_block(self, _: str) -> dict[str, int]:
        return {"baseFeePerGas": self.base_fee}

    def get_transaction_count(self, *_: Any) -> int:
        return 0

    def send_raw_transaction(self, raw: bytes) -> bytes:
        self.sent.append(raw)
        return hashlib.sha256(raw).digest()


class _Call:
    def build_transaction(self, params: dict[str, Any]) -> dict[str, Any]:
        tx = {k: v for k, v in params.items() if k != "from"}
        return {**tx, "to": "0x" + "11" * 20, "data": "0x", "value": 0}


@pytest.mark.parametrize(
    ("base_fee", "expected_max_fee"),
    [(gwei(10), gwei(21)), (gwei(600), gwei(1000))],  # 2 x base + tip, else the cap
)
def test_finding_10_max_fee_never_exceeds_the_cap(base_fee: int, expected_max_fee: int) -> None:
    chain = _FeeChain(base_fee, gwei(1))
    sender = TransactionSender(chain, Account.create(), decode_revert=Exception)  # type: ignore[arg-type]
    assert sender.max_fee_per_gas == DEFAULT_MAX_FEE_PER_GAS == gwei(1000)
    sender.send(_Call(), gas_limit=100_000)  # type: ignore[arg-type]
    assert len(chain.sent) == 1
    decoded = TypedTransaction.from_bytes(chain.sent[0]).as_dict()
    assert decoded["maxFeePerGas"] == expected_max_fee


def test_finding_10_fee_above_the_cap_is_refused_with_a_clear_error() -> None:
    chain = _FeeChain(gwei(1500), gwei(1))
    sender = TransactionSender(chain, Account.create(), decode_revert=Exception)  # type: ignore[arg-type]
    with pytest.raises(FeeCapExceededError, match="anchor_max_fee_gwei") as refused:
        sender.send(_Call(), gas_limit=100_000)  # type: ignore[arg-type]
    assert "1501 gwei" in str(refused.value) and "1000 gwei" in str(refused.value)
    assert chain.sent == []
    assert NodeSettings(anchor_max_fee_gwei=5).anchor_max_fee_gwei == 5


def test_finding_10_devnet_init_writes_no_funded_key_unless_asked(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from devnet.cli import devnet

    runner = CliRunner()
    plain = runner.invoke(devnet, ["init", "--validators", "1", "--dir", str(tmp_path / "a")])
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "a" / "dev-account.key").exists()
    assert "dev account" not in plain.output
    genesis = json.loads((tmp_path / "a" / "genesis.json").read_text())
    assert len(genesis["alloc"]) == 1  # the validator only
    asked = runner.invoke(
        devnet, ["init", "--validators", "1", "--dev-account", "--dir", str(tmp_path / "b")]
    )
    assert asked.exit_code == 0, asked.output
    assert (tmp_path / "b" / "dev-account.key").stat().st_mode & 0o077 == 0
    assert "funded dev account" in asked.output
    # Tests and `notary node --dev` (make run) build their chains through the library.
    assert init_network(tmp_path / "c", 1).dev_account().address
    with pytest.raises(NetworkError, match="--dev-account"):
        init_network(tmp_path / "d", 1, dev_account=False).dev_account()


# ----------------------------------------------------------------- a node for finding 1


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[NodeProcess]:
    with node_on_devnet(tmp_path_factory.mktemp("node-security-12"), jpki_hierarchy) as process:
        yield process


@pytest.fixture(scope="module")
def submit_token(node: NodeProcess) -> str:
    return node.token("issuing-system", "submit", "read")


def _tree_size(node: NodeProcess) -> int:
    size: int = call("GET", node.url + "/v1/log/head").body["tree_size"]
    return size


@pytest.mark.chain
@pytest.mark.parametrize(
    ("make", "field"),
    [(_pkcs1_body, "signature.signing_time"), (_cms_body, "signature.value")],
    ids=["pkcs1", "cms"],
)
def test_finding_1_backdated_signing_time_refused(
    node: NodeProcess, submit_token: str, make: Any, field: str
) -> None:
    h = node.hierarchy
    before = _tree_size(node)
    # The review's case: refused as revoked at "now", accepted one day before the revocation.
    current = call(
        "POST", node.url + "/v1/entries", make(h.ee_revoked, DOCUMENT, datetime.now(UTC)),
        submit_token,
    )  # fmt: skip
    assert current.status == 422 and current.body["type"].endswith("signer-revoked"), current.body
    backdated = make(h.ee_revoked, DOCUMENT, h.revoked_at - DAY)
    answer = call("POST", node.url + "/v1/entries", backdated, submit_token)
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["type"].endswith("signing-time-outside-window")
    assert answer.body["field"] == field
    assert "signing_time_max_age" in answer.body["detail"]
    assert _tree_size(node) == before


@pytest.mark.chain
def test_finding_1_signing_time_in_the_future_refused(node: NodeProcess, submit_token: str) -> None:
    ahead = _pkcs1_body(node.hierarchy.ee_valid_gen02, DOCUMENT, datetime.now(UTC) + 10 * MINUTE)
    bulk = call("POST", node.url + "/v1/entries/bulk", {"entries": [ahead]}, submit_token)
    assert bulk.status == 422, bulk.body
    assert bulk.body["field"] == "entries[0].signature.signing_time"
    assert "signing_time_max_ahead" in bulk.body["detail"]


@pytest.mark.chain
def test_finding_1_signing_time_inside_the_window_accepted(
    node: NodeProcess, submit_token: str
) -> None:
    h = node.hierarchy
    for signing_time in (datetime.now(UTC) - 5 * MINUTE, datetime.now(UTC) + MINUTE):
        body = _pkcs1_body(h.ee_valid_gen02, DOCUMENT + b" in the window", signing_time)
        answer = call("POST", node.url + "/v1/entries", body, submit_token)
        assert answer.status == 201, answer.body


# ----------------------------------------------------------------- finding 8: key rotation


def _rotate_node_key(node: NodeProcess, old: LocalAccount, new: LocalAccount) -> None:
    """Move the node's registration to `new` the way an operator does it: a governance
    decision (the node's own key cannot rotate it). The harness's registry is governed 1 of 1
    without a timelock, so the one-call helper proposes and executes at once."""
    assert node.governance is not None
    registry = RegistryClient(connect(node.rpc_url), node.registry, node.governance)
    result = registry.rotate_node_key(old.address, new.address)
    assert result.executed


@pytest.mark.chain
def test_finding_8_bundles_anchored_before_a_key_rotation_still_verify(
    tmp_path: Path, jpki_hierarchy: TestHierarchy
) -> None:
    with node_on_devnet(tmp_path, jpki_hierarchy) as node:
        token = node.token("issuing-system", "submit", "read")
        documents = [b"anchored under the first key", b"anchored under the second key"]
        receipts = []
        first = call("POST", node.url + "/v1/entries", signed_entry(
            jpki_hierarchy.ee_valid_gen02, documents[0]), token)  # fmt: skip
        assert first.status == 201, first.body
        receipts.append(first.body)
        node.wait_final()

        old = load_account(node.key_file, node.password_file)
        new: LocalAccount = Account.create()
        node.stop()
        _rotate_node_key(node, old, new)
        send_ether(connect(node.rpc_url), old, new.address, 50)
        write_keystore(new, node.key_file, "node password")
        node.start()

        second = call("POST", node.url + "/v1/entries", signed_entry(
            jpki_hierarchy.ee_valid_gen02, documents[1]), token)  # fmt: skip
        assert second.status == 201, second.body
        receipts.append(second.body)
        node.wait_final()

        policy = VerificationPolicy(
            rpc_urls=[node.rpc_url],
            registry=node.registry,
            chain_id=node.chain_id,
            trust_anchors=load_certificates(jpki_hierarchy.trust_anchors),
            revocation=RevocationSources(crl_files=jpki_hierarchy.crl_files),
            require_revocation_check=False,
        )
        for document, receipt, key_used in zip(documents, receipts, (old, new), strict=True):
            bundle = call(
                "GET", f"{node.url}/v1/receipts/{receipt['receipt_id']}/bundle", token=token
            ).body
            assert bundle["anchor"]["node"] == key_used.address, bundle["anchor"]
            verdict = verify(document, bundle, policy)
            assert verdict.status is VerdictStatus.VALID, verdict.summary
