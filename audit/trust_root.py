"""The consortium's trust root, from the chain: `export_trust_root` builds it, and
`check_trust_root` judges a published one against the audit's replay.

Both derive every chain fact the same way, independently of the validators: the signer-set
history from the audit's own Clique replay (genesis extraData, then votes and checkpoints,
`audit.clique`), cross-checked with `clique_getSigners` where the engine answers it; the
genesis hash from block 0; the registry's code hash from `eth_getCode`, which must be the
published build (`contracts/artifacts.lock.json`); the governance set from the registry. So
"what export would produce now" is exactly what the audit compares with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from audit import findings as f
from audit.clique import DEFAULT_EPOCH, CliqueReplay, Header
from audit.findings import Finding
from audit.registry import GovernanceSet, check_code
from contracts.artifact import LOCK_FILE
from protocol.clique import SignerSet
from protocol.registry_abi import (
    GOVERNANCE_MEMBERS_SIGNATURE,
    THRESHOLD_SIGNATURE,
    decode_governance_members,
    decode_threshold,
    selector,
)
from protocol.trust_root import (
    GovernanceFacts,
    RegistryFacts,
    TrustRoot,
    TrustRootError,
    trust_root_digest,
    verify_self_signed,
)
from verifier.jsonrpc import ChainReadError, JsonRpcClient, JsonRpcError

METHOD_NOT_FOUND: Final = -32601
RPC_TIMEOUT: Final = 30.0


class TrustRootExportError(Exception):
    """The chain cannot vouch for a trust root: it fails the Clique replay, its engine
    disagrees with the replay, or the registry is not the published build."""


# ---------------------------------------------------------------------- chain facts


def replay_chain(
    rpc: JsonRpcClient,
    head: int,
    *,
    period: int,
    epoch: int = DEFAULT_EPOCH,
    advance: Callable[[int], None] = lambda _: None,
) -> CliqueReplay:
    """Blocks 0..head through the audit's Clique replay."""
    replay = CliqueReplay(period=period, epoch=epoch)
    for block in rpc.blocks(0, head):
        try:
            replay.add(Header.from_rpc(block))
        except (KeyError, TypeError, ValueError) as error:
            raise ChainReadError(f"block {block.get('number')} is malformed: {error}") from None
        advance(1)
    return replay


def signer_sets(replay: CliqueReplay) -> tuple[SignerSet, ...]:
    """The replay's signer history as `protocol.clique` sets: the set recorded at block n is
    what `clique_getSigners` answers at n."""
    return tuple(
        SignerSet(change.block, frozenset(bytes.fromhex(s[2:]) for s in change.signers))
        for change in replay.signer_history
    )


def cross_check_signers(rpc: JsonRpcClient, sets: Sequence[SignerSet], head: int) -> int:
    """Ask the engine (`clique_getSigners`) at each change and at the head; raise on any
    disagreement. Returns how many answers were compared: 0 from an engine without the
    method (anvil, or a non-Clique engine), fewer where it has pruned old snapshots."""
    points = [(s.block, s.signers) for s in sets] + [(head, sets[-1].signers)]
    answers = rpc.answers([("clique_getSigners", [hex(block)]) for block, _ in points])
    compared = 0
    for (block, expected), answer in zip(points, answers, strict=True):
        if isinstance(answer, JsonRpcError):
            if answer.code == METHOD_NOT_FOUND:
                return 0
            continue  # e.g. a snapshot the engine no longer keeps
        if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
            raise ChainReadError(f"clique_getSigners at block {block}: malformed answer")
        told = frozenset(bytes.fromhex(a.removeprefix("0x")) for a in answer)
        if told != expected:
            raise TrustRootExportError(
                f"at block {block} the engine names signers {_names(told)}, but the replay of "
                f"the chain's votes and checkpoints gives {_names(expected)}"
            )
        compared += 1
    return compared


def registry_facts(
    rpc: JsonRpcClient, registry: str, block: int, lock_file: Path = LOCK_FILE
) -> RegistryFacts:
    """The registry's address and keccak256 code hash; TrustRootExportError unless its code
    is the published build (the audit's `check_code`)."""
    runtime = rpc.get_code(registry, block)
    if not runtime:
        raise TrustRootExportError(f"there is no contract at {registry} (block {block})")
    code = check_code(runtime, lock_file)
    if not code.matches:
        raise TrustRootExportError(
            f"the code at {registry} (sha256 0x{code.code_hash}) is not the published build "
            f"(0x{code.expected_code_hash} in contracts/artifacts.lock.json)"
        )
    return RegistryFacts(to_checksum_address(registry), keccak(runtime))


def read_governance(rpc: JsonRpcClient, registry: str, block: int) -> GovernanceFacts:
    """`governanceMembers()` and `threshold()` at `block`, in one batch."""
    members, threshold = rpc.batch(
        [
            ("eth_call", [_call(registry, GOVERNANCE_MEMBERS_SIGNATURE), hex(block)]),
            ("eth_call", [_call(registry, THRESHOLD_SIGNATURE), hex(block)]),
        ]
    )
    try:
        return GovernanceFacts(
            tuple(sorted(decode_governance_members(_data(members)))),
            decode_threshold(_data(threshold)),
        )
    except TrustRootError as error:
        raise TrustRootExportError(f"the registry's governance: {error}") from None


def _call(registry: str, signature: str) -> dict[str, str]:
    return {"to": to_checksum_address(registry), "data": "0x" + selector(signature).hex()}


def _data(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainReadError("eth_call answered something that is not hex data")
    return bytes.fromhex(value[2:])


def _names(signers: frozenset[bytes]) -> str:
    return "[" + ", ".join(sorted(to_checksum_address(s) for s in signers)) + "]"


# ---------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportConfig:
    rpc_url: str
    registry: str
    tsa_anchors: tuple[bytes, ...] = ()
    jpki_anchors: tuple[bytes, ...] = ()
    seal_anchors: tuple[bytes, ...] = ()
    """The LGPKI organisational CAs whose seals count (docs/PROTOCOL.md 14.4)."""
    period: int = 1
    epoch: int = DEFAULT_EPOCH
    lock_file: Path = LOCK_FILE

    def __post_init__(self) -> None:
        if set(self.jpki_anchors) & set(self.seal_anchors):
            raise TrustRootExportError(
                "a certificate is both a J-LIS and a seal anchor: each PKI vouches only for "
                "its own certificates"
            )


def export_trust_root(
    config: ExportConfig,
    phase: Callable[[str, int], Callable[[int], None]] = lambda _label, _total: lambda _: None,
) -> TrustRoot:
    """The trust root the chain vouches for at its head; unsigned. Raises ChainReadError when
    the chain cannot be read, TrustRootExportError when it cannot vouch for one."""
    rpc = JsonRpcClient(config.rpc_url, timeout=RPC_TIMEOUT)
    try:
        chain_id = rpc.chain_id()
        head = rpc.block_number()
        replay = replay_chain(
            rpc, head, period=config.period, epoch=config.epoch, advance=phase("blocks", head + 1)
        )
        if replay.findings:
            first = replay.findings[0]
            raise TrustRootExportError(
                f"the chain fails the Clique replay ({len(replay.findings)} finding(s), first "
                f"{first.code}: {first.message}); run notary audit"
            )
        sets = signer_sets(replay)
        cross_check_signers(rpc, sets, head)
        registry = registry_facts(rpc, config.registry, head, config.lock_file)
        governance = read_governance(rpc, config.registry, head)
    except (ValueError, KeyError, TypeError) as error:
        raise ChainReadError(f"{config.rpc_url} answered malformed data: {error}") from None
    return TrustRoot(
        chain_id=chain_id,
        genesis_hash=replay.hashes[0],
        registry=registry,
        signer_sets=sets,
        tsa_anchors=config.tsa_anchors,
        jpki_anchors=config.jpki_anchors,
        seal_anchors=config.seal_anchors,
        issued_at=int(time.time()),
        governance=governance,
        as_of_block=head,
    )


def read_certificates(path: Path) -> tuple[bytes, ...]:
    """DER of every certificate in a PEM file (or of the one DER certificate it holds)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TrustRootExportError(f"cannot read {path}: {error.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            found = x509.load_pem_x509_certificates(data)
        else:
            found = [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        raise TrustRootExportError(f"{path} holds no certificate: {error}") from None
    return tuple(c.public_bytes(Encoding.DER) for c in found)


# ---------------------------------------------------------------------- audit


@dataclass(frozen=True)
class ChainView:
    """What the audit established, to judge a trust root by."""

    chain_id: int
    replay: CliqueReplay
    registry: str
    runtime: bytes
    governance_sets: Sequence[GovernanceSet]


@dataclass
class TrustRootCheck:
    root: TrustRoot
    file: str | None = None
    findings: list[Finding] = field(default_factory=list)
    signers: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        root = self.root
        return {
            "file": self.file,
            "digest": "0x" + trust_root_digest(root).hex(),
            "issued_at": root.issued_at,
            "as_of_block": root.as_of_block,
            "signer_sets": len(root.signer_sets),
            "governance": None
            if root.governance is None
            else {"members": list(root.governance.members), "threshold": root.governance.threshold},
            "signed_by": sorted(self.signers),
            "findings": [x.code for x in self.findings],
        }


def check_trust_root(root: TrustRoot, chain: ChainView, file: str | None = None) -> TrustRootCheck:
    """Every field of `root` the chain can vouch for, against what export would produce now
    for the range it covers: a later signer or governance change is `trust-root-outdated`."""
    check = TrustRootCheck(root, file)
    report = check.findings.append
    replay = chain.replay
    head = replay.head.number if replay.head is not None else 0
    if root.chain_id != chain.chain_id:
        report(
            _finding(
                f.TRUST_ROOT_CHAIN_ID,
                f"names chain id {root.chain_id}, the chain is {chain.chain_id}",
            )
        )
    genesis = replay.hashes.get(0, b"")
    if root.genesis_hash != genesis:
        report(
            _finding(
                f.TRUST_ROOT_GENESIS,
                f"names genesis 0x{root.genesis_hash.hex()}, the "
                f"chain's block 0 is 0x{genesis.hex()}",
            )
        )
    if to_checksum_address(root.registry.address) != to_checksum_address(chain.registry):
        report(
            _finding(
                f.TRUST_ROOT_REGISTRY,
                f"names registry {root.registry.address}, the audited registry is {chain.registry}",
            )
        )
    elif root.registry.code_hash != keccak(chain.runtime):
        report(
            _finding(
                f.TRUST_ROOT_CODE_HASH,
                f"names code hash 0x{root.registry.code_hash.hex()}"
                f", the registry's code hashes to 0x{keccak(chain.runtime).hex()}",
            )
        )
    cutoff = root.as_of_block if root.as_of_block is not None else root.signer_sets[-1].block
    if cutoff > head:
        report(
            _finding(
                f.TRUST_ROOT_SIGNER_SETS,
                f"covers the chain up to block {cutoff}, past its head {head}",
            )
        )
    _check_signer_sets(root, signer_sets(replay), cutoff, report)
    _check_governance(root, chain.governance_sets, cutoff, report)
    try:
        check.signers = verify_self_signed(root)
    except TrustRootError as error:
        report(_finding(f.TRUST_ROOT_SIGNATURES, str(error)))
    return check


def _check_signer_sets(
    root: TrustRoot, actual: Sequence[SignerSet], cutoff: int, report: Callable[[Finding], None]
) -> None:
    covered = [s for s in actual if s.block <= cutoff]
    for index, (claimed, real) in enumerate(zip(root.signer_sets, covered, strict=False)):
        if claimed != real:
            report(
                _finding(
                    f.TRUST_ROOT_SIGNER_SETS,
                    f"signer_sets[{index}] says block "
                    f"{claimed.block}: {_names(claimed.signers)}; the chain's votes and "
                    f"checkpoints give block {real.block}: {_names(real.signers)}",
                    block=real.block,
                )
            )
            return
    if len(root.signer_sets) != len(covered):
        report(
            _finding(
                f.TRUST_ROOT_SIGNER_SETS,
                f"lists {len(root.signer_sets)} signer set(s) "
                f"up to block {cutoff}; the chain has {len(covered)}",
            )
        )
    later = [s for s in actual if s.block > cutoff]
    if later:
        report(
            _finding(
                f.TRUST_ROOT_OUTDATED,
                f"covers the chain up to block {cutoff}; the "
                f"signer set changed since, at block(s) "
                f"{', '.join(str(s.block) for s in later)}",
                block=later[0].block,
            )
        )


def _check_governance(
    root: TrustRoot,
    sets: Sequence[GovernanceSet],
    cutoff: int,
    report: Callable[[Finding], None],
) -> None:
    if root.governance is None:
        report(_finding(f.TRUST_ROOT_GOVERNANCE, "names no governance members and threshold"))
        return
    in_force = [s for s in sets if s.block <= cutoff]
    if not in_force:
        report(
            _finding(f.TRUST_ROOT_GOVERNANCE, f"the registry had no governance at block {cutoff}")
        )
        return
    real = in_force[-1]
    members = tuple(sorted(to_checksum_address(m) for m in real.members))
    if (root.governance.members, root.governance.threshold) != (members, real.threshold):
        report(
            _finding(
                f.TRUST_ROOT_GOVERNANCE,
                f"names {root.governance.threshold} of "
                f"[{', '.join(root.governance.members)}]; the registry's governance at "
                f"block {cutoff} is {real.threshold} of [{', '.join(members)}]",
            )
        )
    changed = [s for s in sets if s.block > cutoff]
    if changed:
        report(
            _finding(
                f.TRUST_ROOT_OUTDATED,
                f"covers the chain up to block {cutoff}; the "
                f"governance changed since, at block {changed[0].block}",
                block=changed[0].block,
            )
        )


def _finding(code: str, message: str, block: int | None = None) -> Finding:
    return Finding(code, f"trust root: {message}", block=block)
