"""The auditor's Clique replay on hand-built headers: every EIP-225 rule it enforces, and the
voting it follows, including the cases a healthy devnet never produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

from audit.clique import (
    EMPTY_UNCLES,
    NONCE_AUTH,
    NONCE_DROP,
    SEAL,
    VANITY,
    CliqueReplay,
    Header,
)

KEYS = sorted(
    (PrivateKey(keccak(f"signer {i}".encode())) for i in range(5)),
    key=lambda k: k.public_key.to_canonical_address(),
)
ZERO = b"\x00" * 20


def address(key: PrivateKey) -> bytes:
    return key.public_key.to_canonical_address()


def rpc_block(fields: list[Any], block_hash: bytes) -> dict[str, Any]:
    names = [
        "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot",
        "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData",
        "mixHash", "nonce", "baseFeePerGas",
    ]  # fmt: skip
    block = {
        n: (hex(v) if isinstance(v, int) else "0x" + v.hex())
        for n, v in zip(names, fields, strict=True)
    }
    block["hash"] = "0x" + block_hash.hex()
    return block


@dataclass
class ChainBuilder:
    """Seals headers the way a Clique signer does; each call can break one rule."""

    genesis_signers: list[PrivateKey]
    epoch: int = 30_000
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        signers = b"".join(sorted(address(k) for k in self.genesis_signers))
        self._append(0, b"\x00" * 32, 1, 1_000, b"\x00" * VANITY + signers + b"\x00" * SEAL)

    def seal(
        self,
        key: PrivateKey,
        *,
        difficulty: int = 2,
        gap: int = 1,
        coinbase: bytes = ZERO,
        nonce: bytes = NONCE_DROP,
        signers: list[bytes] | None = None,
    ) -> None:
        parent = self.blocks[-1]
        number = int(parent["number"], 16) + 1
        body = b"\x00" * VANITY + b"".join(signers or [])
        fields = self._fields(
            number,
            bytes.fromhex(parent["hash"][2:]),
            difficulty,
            int(parent["timestamp"], 16) + gap,
            body,
            coinbase,
            nonce,
        )
        seal = key.sign_msg_hash(keccak(rlp.encode(fields))).to_bytes()
        fields[12] = body + seal
        self.blocks.append(rpc_block(fields, keccak(rlp.encode(fields))))

    def replay(self, period: int = 1) -> CliqueReplay:
        replay = CliqueReplay(period=period, epoch=self.epoch)
        for block in self.blocks:
            replay.add(Header.from_rpc(block))
        return replay

    def _append(self, number: int, parent: bytes, difficulty: int, time: int, extra: bytes) -> None:
        fields = self._fields(number, parent, difficulty, time, extra, ZERO, NONCE_DROP)
        self.blocks.append(rpc_block(fields, keccak(rlp.encode(fields))))

    @staticmethod
    def _fields(
        number: int,
        parent: bytes,
        difficulty: int,
        time: int,
        extra: bytes,
        coinbase: bytes,
        nonce: bytes,
    ) -> list[Any]:
        empty = keccak(rlp.encode(b""))
        return [
            parent, EMPTY_UNCLES, coinbase, b"\x11" * 32, empty, empty, b"\x00" * 256,
            difficulty, number, 30_000_000, 0, time, extra, b"\x00" * 32, nonce, 7,
        ]  # fmt: skip


def in_turn(builder: ChainBuilder, signers: list[PrivateKey]) -> PrivateKey:
    """The signer whose turn the next block is (signers sorted by address)."""
    ordered = sorted(signers, key=address)
    return ordered[len(builder.blocks) % len(ordered)]


def codes(replay: CliqueReplay) -> list[tuple[str, int | None]]:
    return [(f.code, f.block) for f in replay.findings]


def test_a_well_formed_chain_has_no_findings() -> None:
    signers = KEYS[:3]
    chain = ChainBuilder(signers)
    for _ in range(9):
        chain.seal(in_turn(chain, signers))
    replay = chain.replay()
    assert replay.findings == []
    assert len(replay.seals) == 9 and all(s.in_turn for s in replay.seals)


def test_out_of_turn_block_needs_difficulty_1() -> None:
    ordered = sorted(KEYS[:3], key=address)
    chain = ChainBuilder(ordered)
    chain.seal(ordered[0], difficulty=1)  # block 1 is ordered[1]'s turn: 1 is right
    chain.seal(ordered[2], difficulty=1)  # block 2 is ordered[2]'s turn: 1 is wrong
    assert codes(chain.replay()) == [("wrong-difficulty", 2)]


def test_signer_sealing_twice_within_the_recent_window_is_reported() -> None:
    chain = ChainBuilder(KEYS[:3])  # limit floor(3/2)+1 = 2: no two blocks in a row
    turn = in_turn(chain, KEYS[:3])
    chain.seal(turn)
    chain.seal(turn, difficulty=1)
    assert ("recently-signed", 2) in codes(chain.replay())


def test_outsider_seal_is_unauthorised() -> None:
    chain = ChainBuilder(KEYS[:3])
    chain.seal(KEYS[4], difficulty=1)
    (finding,) = chain.replay().findings
    assert finding.code == "unauthorised-signer" and finding.block == 1


def test_tampered_header_no_longer_matches_its_hash() -> None:
    chain = ChainBuilder(KEYS[:1])
    chain.seal(KEYS[0])
    chain.blocks[1]["gasUsed"] = "0x5"  # what a rewritten block served with the old hash is
    found = codes(chain.replay())
    assert ("block-hash-mismatch", 1) in found
    assert ("unauthorised-signer", 1) in found  # the seal no longer recovers the signer


def test_block_before_the_period_is_a_time_anomaly() -> None:
    chain = ChainBuilder(KEYS[:1])
    chain.seal(KEYS[0], gap=1)
    chain.seal(KEYS[0], gap=1)
    assert codes(chain.replay(period=2)) == [
        ("block-time-anomaly", 1),
        ("block-time-anomaly", 2),
    ]
    assert chain.replay(period=1).findings == []


def test_votes_add_a_signer_by_majority_and_it_then_seals() -> None:
    signers = KEYS[:2]
    chain = ChainBuilder(signers)
    newcomer = KEYS[2]
    # The first vote of two is not a majority; the second is (more than half of 2).
    for _ in signers:
        chain.seal(in_turn(chain, signers), coinbase=address(newcomer), nonce=NONCE_AUTH)
    members = [*signers, newcomer]
    chain.seal(newcomer, difficulty=2 if in_turn(chain, members) == newcomer else 1)
    replay = chain.replay()
    assert replay.findings == []
    assert [len(h.signers) for h in replay.signer_history] == [2, 3]
    assert replay.signer_history[1].block == 2
    newcomer_address = newcomer.public_key.to_checksum_address()
    assert newcomer_address in {s.signer for s in replay.seals[2:]}


def test_a_seal_by_a_signer_voted_out_is_unauthorised() -> None:
    signers = KEYS[:2]
    chain = ChainBuilder(signers)
    ordered = sorted(signers, key=address)
    for _ in signers:  # both vote to drop the second signer
        chain.seal(in_turn(chain, signers), coinbase=address(ordered[1]), nonce=NONCE_DROP)
    chain.seal(ordered[0])
    chain.seal(ordered[1], difficulty=1)
    replay = chain.replay()
    assert [len(h.signers) for h in replay.signer_history] == [2, 1]
    assert codes(replay) == [("unauthorised-signer", 4)]


def test_checkpoint_must_list_the_voted_signer_set() -> None:
    signers = KEYS[:1]
    chain = ChainBuilder(signers, epoch=2)
    chain.seal(KEYS[0])
    chain.seal(KEYS[0], signers=[address(KEYS[0]), address(KEYS[1])])  # claims an extra signer
    assert codes(chain.replay()) == [("bad-checkpoint", 2)]
    good = ChainBuilder(signers, epoch=2)
    good.seal(KEYS[0])
    good.seal(KEYS[0], signers=[address(KEYS[0])])
    assert good.replay().findings == []


@pytest.mark.parametrize("nonce", [b"\x01" * 8, NONCE_AUTH])
def test_bad_vote_nonces_are_malformed(nonce: bytes) -> None:
    chain = ChainBuilder(KEYS[:1], epoch=2)
    chain.seal(KEYS[0], nonce=b"\x01" * 8)
    chain.seal(KEYS[0], nonce=nonce, signers=[address(KEYS[0])])  # checkpoint: no votes
    assert [c for c, _ in codes(chain.replay())] == ["malformed-header", "malformed-header"]
