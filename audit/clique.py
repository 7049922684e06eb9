"""EIP-225 Clique, replayed from genesis by the auditor, independently of the validators.

For every block: the header hashes to the hash the chain reports, links to its parent, and is
sealed by a key that was an authorised signer at that height (the genesis set, then the
votes carried in headers); the signer did not seal one of the last floor(N/2) blocks;
difficulty says in-turn (2) or out-of-turn (1) correctly; checkpoints list the signer set;
timestamps respect the block period. The rules follow EIP-225 and go-ethereum's snapshot
logic, written anew here (not taken from devnet/, which this audits); the header encoding and
seal recovery are `protocol.header` and `protocol.clique`, which offline verifiers share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from eth_utils.address import to_checksum_address

from audit import findings as f
from audit.findings import Finding
from protocol.clique import SEAL, VANITY, checkpoint_signers, recover_signer, seal_hash
from protocol.finality import clique_signer_limit
from protocol.header import EMPTY_UNCLES_HASH as EMPTY_UNCLES
from protocol.header import BlockHeader, claimed_hash, header_from_rpc

NONCE_AUTH: Final = b"\xff" * 8
NONCE_DROP: Final = b"\x00" * 8
ZERO_ADDRESS: Final = b"\x00" * 20
DIFF_IN_TURN: Final = 2
DIFF_NO_TURN: Final = 1
DEFAULT_EPOCH: Final = 30_000


@dataclass(frozen=True, slots=True)
class Header:
    """A block as the chain reports it: its header (`protocol.header`, which also hashes and
    recovers seals) and the hash the chain claims for it, which the replay checks."""

    header: BlockHeader
    hash: bytes

    @classmethod
    def from_rpc(cls, block: Mapping[str, object]) -> Header:
        """Raises ValueError (a HeaderError naming the field) on a malformed block."""
        return cls(header_from_rpc(block), claimed_hash(block))

    @property
    def number(self) -> int:
        return self.header.number

    @property
    def parent_hash(self) -> bytes:
        return self.header.parent_hash

    @property
    def coinbase(self) -> bytes:
        return self.header.coinbase

    @property
    def difficulty(self) -> int:
        return self.header.difficulty

    @property
    def timestamp(self) -> int:
        return self.header.timestamp

    @property
    def extra(self) -> bytes:
        return self.header.extra_data

    @property
    def mix_hash(self) -> bytes:
        return self.header.mix_hash

    @property
    def nonce(self) -> bytes:
        return self.header.nonce

    @property
    def uncles_hash(self) -> bytes:
        return self.header.uncles_hash

    def computed_hash(self) -> bytes:
        return self.header.hash()

    def seal_hash(self) -> bytes:
        return seal_hash(self.header)

    def signer(self) -> bytes:
        """Raises ValueError (a CliqueError) when the seal is malformed or does not recover."""
        return recover_signer(self.header)

    def checkpoint_signers(self) -> list[bytes]:
        return list(checkpoint_signers(self.header))


@dataclass(frozen=True, slots=True)
class SignerChange:
    block: int
    time: int
    signers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SealRecord:
    block: int
    time: int
    signer: str
    in_turn: bool


@dataclass
class _Vote:
    signer: bytes
    subject: bytes
    authorize: bool


@dataclass
class CliqueReplay:
    """Feed headers in order from genesis with `add`; findings accumulate in `findings`.

    A block that breaks a rule is reported and then applied as far as it can be, so one
    forged block does not bury the rest of the chain under follow-on findings."""

    period: int
    epoch: int = DEFAULT_EPOCH
    now: Callable[[], float] | None = None
    max_clock_skew: int = 300
    findings: list[Finding] = field(default_factory=list)
    signer_history: list[SignerChange] = field(default_factory=list)
    seals: list[SealRecord] = field(default_factory=list)
    hashes: dict[int, bytes] = field(default_factory=dict)
    """Block number → hash of the replayed chain (registry logs must come from it)."""
    _signers: list[bytes] = field(default_factory=list)
    _recents: dict[int, bytes] = field(default_factory=dict)
    _votes: list[_Vote] = field(default_factory=list)
    _parent: Header | None = None

    @property
    def signers(self) -> list[str]:
        return [to_checksum_address(s) for s in self._signers]

    @property
    def head(self) -> Header | None:
        return self._parent

    def add(self, header: Header) -> None:
        if header.computed_hash() != header.hash:
            self._report(
                f.BLOCK_HASH_MISMATCH,
                header,
                f"header does not hash to the block hash the chain reports (0x{header.hash.hex()})",
            )
        if self._parent is None:
            self._genesis(header)
        else:
            self._block(header, self._parent)
        self._parent = header
        self.hashes[header.number] = header.hash

    def _genesis(self, header: Header) -> None:
        if header.number != 0:
            raise ValueError("the replay must start at the genesis block")
        try:
            self._signers = sorted(header.checkpoint_signers())
        except ValueError as error:
            self._report(f.BAD_CHECKPOINT, header, f"genesis: {error}")
        if not self._signers:
            self._report(f.BAD_CHECKPOINT, header, "genesis names no Clique signer")
        self._record_signers(header)

    def _block(self, header: Header, parent: Header) -> None:
        number = header.number
        if number != parent.number + 1 or header.parent_hash != parent.hash:
            self._report(f.BROKEN_PARENT_LINK, header, f"does not extend block {parent.number}")
        self._check_fields(header)
        self._check_time(header, parent)
        if number % self.epoch == 0:
            self._votes.clear()
            self._check_checkpoint(header)
        limit = clique_signer_limit(len(self._signers))
        self._recents.pop(number - limit, None)
        try:
            signer = header.signer()
        except ValueError as error:
            self._report(f.UNAUTHORISED_SIGNER, header, str(error))
            return
        address = to_checksum_address(signer)
        if signer not in self._signers:
            self._report(
                f.UNAUTHORISED_SIGNER,
                header,
                f"sealed by {address}, which is not an authorised signer at this height",
            )
        elif signer in self._recents.values():
            self._report(
                f.RECENTLY_SIGNED,
                header,
                f"{address} sealed one of the last {limit - 1} blocks already",
            )
        in_turn = self._in_turn(number, signer)
        expected = DIFF_IN_TURN if in_turn else DIFF_NO_TURN
        if header.difficulty != expected:
            self._report(
                f.WRONG_DIFFICULTY,
                header,
                f"difficulty {header.difficulty}, expected {expected} for "
                f"{'an in-turn' if in_turn else 'an out-of-turn'} signer",
            )
        self.seals.append(SealRecord(number, header.timestamp, address, in_turn))
        self._recents[number] = signer
        if signer in self._signers:
            self._tally(header, signer)

    def _check_fields(self, header: Header) -> None:
        problems = []
        checkpoint = header.number % self.epoch == 0
        if header.nonce not in (NONCE_AUTH, NONCE_DROP):
            problems.append("nonce is neither an authorise nor a drop vote")
        if checkpoint and (header.coinbase != ZERO_ADDRESS or header.nonce != NONCE_DROP):
            problems.append("a checkpoint block carries a vote")
        if not checkpoint and len(header.extra) != VANITY + SEAL:
            problems.append(f"extraData is {len(header.extra)} bytes, expected {VANITY + SEAL}")
        if header.mix_hash != b"\x00" * 32:
            problems.append("mixHash is not zero")
        if header.uncles_hash != EMPTY_UNCLES:
            problems.append("the block has uncles")
        if problems:
            self._report(f.MALFORMED_HEADER, header, "; ".join(problems))

    def _check_time(self, header: Header, parent: Header) -> None:
        if header.timestamp < parent.timestamp + self.period:
            self._report(
                f.BLOCK_TIME_ANOMALY,
                header,
                f"timestamp {header.timestamp} is less than {self.period} s after its "
                f"parent's ({parent.timestamp})",
            )
        if self.now is not None and header.timestamp > self.now() + self.max_clock_skew:
            self._report(f.BLOCK_TIME_ANOMALY, header, "timestamp lies in the future")

    def _check_checkpoint(self, header: Header) -> None:
        try:
            listed = header.checkpoint_signers()
        except ValueError as error:
            self._report(f.BAD_CHECKPOINT, header, str(error))
            return
        if listed != self._signers:
            self._report(
                f.BAD_CHECKPOINT,
                header,
                "checkpoint lists a signer set different from the one the votes produced",
            )

    def _in_turn(self, number: int, signer: bytes) -> bool:
        if signer not in self._signers:
            return False
        return number % len(self._signers) == self._signers.index(signer)

    def _tally(self, header: Header, signer: bytes) -> None:
        """EIP-225 voting: one live vote per (signer, subject); a majority applies it."""
        subject = header.coinbase
        self._votes = [v for v in self._votes if not (v.signer == signer and v.subject == subject)]
        authorize = header.nonce == NONCE_AUTH
        if subject == ZERO_ADDRESS or (subject in self._signers) == authorize:
            return  # not a vote, or a vote that changes nothing: EIP-225 ignores it
        self._votes.append(_Vote(signer, subject, authorize))
        tally = sum(1 for v in self._votes if v.subject == subject and v.authorize == authorize)
        if tally <= len(self._signers) // 2:
            return
        if authorize:
            self._signers = sorted([*self._signers, subject])
        else:
            self._signers = [s for s in self._signers if s != subject]
            limit = clique_signer_limit(len(self._signers))
            self._recents.pop(header.number - limit, None)
            self._votes = [v for v in self._votes if v.signer != subject]
        self._votes = [v for v in self._votes if v.subject != subject]
        self._record_signers(header)

    def _record_signers(self, header: Header) -> None:
        self.signer_history.append(
            SignerChange(header.number, header.timestamp, tuple(self.signers))
        )

    def _report(self, code: str, header: Header, message: str) -> None:
        self.findings.append(
            Finding(code, f"block {header.number}: {message}", block=header.number)
        )
