"""EIP-225 Clique seals, and the offline evidence that a block is final.

A Clique block is sealed by one authorised signer: its extraData ends with a 65-byte secp256k1
signature (r, s, v with v 0 or 1) over the keccak of the header's RLP with that signature cut
off. extraData starts with 32 bytes of vanity; at a checkpoint, the sorted signer addresses
sit between vanity and seal.

A chain of headers from an anchor block onwards, each linked to its parent by hash and sealed by
a signer authorised at its height, shows the block final once ⌊N/2⌋+1 distinct signers sealed
on top of it (`protocol.finality`): a majority of the signers built on it, so a minority cannot
replace it. The signers authorised at each height come from the consortium's signer-set
history (`SignerHistory`), never from the headers being checked. Only hashing and secp256k1
recovery: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError

from protocol.errors import EvidenceError
from protocol.finality import clique_signer_limit
from protocol.header import BlockHeader

VANITY: Final = 32
"""Bytes of free vanity data at the start of extraData."""
SEAL: Final = 65
"""Bytes of the signer's seal at the end of extraData: r, s (32 bytes each), v (0 or 1)."""
ADDRESS_SIZE: Final = 20


class CliqueError(EvidenceError):
    """A header's seal does not recover an authorised signer, a chain of headers is not linked,
    or too few signers sealed on top of a block. `field` names the header (``headers[3]``) and,
    where one is at fault, its field (``headers[3].extraData``)."""


def seal_hash(header: BlockHeader, field: str = "header") -> bytes:
    """What the signer signs: the keccak of the header's RLP with the seal cut from extraData."""
    _check_extra(header, field)
    return header.with_extra_data(header.extra_data[:-SEAL]).hash()


def recover_signer(header: BlockHeader, field: str = "header") -> bytes:
    """The 20-byte address whose key sealed `header`; CliqueError if the seal does not recover."""
    _check_extra(header, field)
    seal = header.extra_data[-SEAL:]
    try:
        signature = Signature(
            vrs=(seal[64], int.from_bytes(seal[:32], "big"), int.from_bytes(seal[32:64], "big"))
        )
        public = signature.recover_public_key_from_msg_hash(seal_hash(header, field))
    except (BadSignature, ValidationError, ValueError) as error:
        raise CliqueError(
            f"{field}.extraData", f"the seal does not recover a key: {error}"
        ) from None
    return public.to_canonical_address()


def checkpoint_signers(header: BlockHeader, field: str = "header") -> tuple[bytes, ...]:
    """The signer addresses a checkpoint header lists between vanity and seal (empty for an
    ordinary block)."""
    _check_extra(header, field)
    body = header.extra_data[VANITY:-SEAL]
    if len(body) % ADDRESS_SIZE:
        raise CliqueError(
            f"{field}.extraData", f"signer list of {len(body)} bytes, not a multiple of 20"
        )
    return tuple(body[i : i + ADDRESS_SIZE] for i in range(0, len(body), ADDRESS_SIZE))


def _check_extra(header: BlockHeader, field: str) -> None:
    if len(header.extra_data) < VANITY + SEAL:
        raise CliqueError(
            f"{field}.extraData",
            f"{len(header.extra_data)} bytes, shorter than vanity and seal ({VANITY + SEAL})",
        )


# ---------------------------------------------------------------------- signer-set history


@dataclass(frozen=True)
class SignerSet:
    """The Clique signers as of block `block` (what `clique_getSigners` answers there): the
    keys that may seal blocks `block + 1` onwards, until the next change."""

    block: int
    signers: frozenset[bytes]

    def __post_init__(self) -> None:
        if self.block < 0:
            raise CliqueError("signers.block", f"a block number, got {self.block}")
        if not self.signers:
            raise CliqueError(f"signers[block {self.block}]", "an empty signer set")
        if any(not isinstance(s, bytes) or len(s) != ADDRESS_SIZE for s in self.signers):
            raise CliqueError(f"signers[block {self.block}]", "signers are 20-byte addresses")


class SignerHistory:
    """Every signer set of the chain from some block on, in order: the trust root a verifier
    judges seals by. A set holds from its block until the next set's."""

    def __init__(self, sets: Sequence[SignerSet]) -> None:
        if not sets:
            raise CliqueError("signers", "the signer-set history is empty")
        for earlier, later in pairwise(sets):
            if later.block <= earlier.block:
                raise CliqueError(
                    f"signers[block {later.block}]",
                    f"not after the previous set's block {earlier.block}",
                )
        self.sets: tuple[SignerSet, ...] = tuple(sets)

    def signers_at(self, block: int) -> frozenset[bytes]:
        """The signers as of `block`, i.e. those that may seal block `block + 1`."""
        current = None
        for entry in self.sets:
            if entry.block > block:
                break
            current = entry
        if current is None:
            raise CliqueError(
                "signers", f"the history starts at block {self.sets[0].block}, after {block}"
            )
        return current.signers

    def may_seal(self, number: int) -> frozenset[bytes]:
        """The signers authorised to seal block `number`."""
        return self.signers_at(number - 1)


# ---------------------------------------------------------------------- finality


@dataclass(frozen=True)
class FinalityEvidence:
    """What a checked chain of headers proved."""

    anchor: BlockHeader
    """The first header: the block shown final."""
    final: BlockHeader
    """The last header."""
    sealers: tuple[bytes, ...]
    """The signer of each header, the anchor block's first."""
    required: int
    """Distinct signers that had to seal on top of the anchor block (⌊N/2⌋+1)."""

    @property
    def distinct_on_top(self) -> frozenset[bytes]:
        return frozenset(self.sealers[1:])


def verify_finality(
    headers: Sequence[BlockHeader], history: SignerHistory, anchor_hash: bytes
) -> FinalityEvidence:
    """Check that `headers` (the anchor block, then its successors in order) prove the block
    with hash `anchor_hash` final on a Clique chain whose signers `history` gives.

    Each header after the first has the next number, its predecessor's hash as parentHash and a
    timestamp not before it; every header is sealed by a signer authorised at its height; and
    the headers after the first are sealed by at least ⌊N/2⌋+1 distinct signers, N the largest
    signer set in force over them (a shrinking set never lowers the bar). Raises CliqueError
    (or HeaderError) naming the first header at fault."""
    if not headers:
        raise CliqueError("headers", "no headers: the anchor block's header comes first")
    anchor = headers[0]
    if anchor.hash() != anchor_hash:
        raise CliqueError(
            "headers[0]",
            f"block {anchor.number} hashes to 0x{anchor.hash().hex()}, "
            f"not the anchor block's 0x{anchor_hash.hex()}",
        )
    if anchor.number < 1:
        raise CliqueError("headers[0].number", "the genesis block carries no seal")
    sealers: list[bytes] = []
    largest = len(history.may_seal(anchor.number + 1))
    for index, header in enumerate(headers):
        field = f"headers[{index}]"
        if index:
            _check_link(header, headers[index - 1], field)
            largest = max(largest, len(history.may_seal(header.number)))
        signer = recover_signer(header, field)
        allowed = history.may_seal(header.number)
        if signer not in allowed:
            raise CliqueError(
                f"{field}.extraData",
                f"block {header.number} is sealed by {to_checksum_address(signer)}, "
                "not a signer authorised at that height",
            )
        sealers.append(signer)
    required = clique_signer_limit(largest)
    distinct = len(set(sealers[1:]))
    if distinct < required:
        raise CliqueError(
            "headers",
            f"{distinct} distinct signer(s) sealed the {len(headers) - 1} block(s) on top of "
            f"block {anchor.number}; finality needs {required} (⌊N/2⌋+1)",
        )
    return FinalityEvidence(anchor, headers[-1], tuple(sealers), required)


def _check_link(header: BlockHeader, parent: BlockHeader, field: str) -> None:
    if header.number != parent.number + 1:
        raise CliqueError(
            f"{field}.number", f"block {header.number} does not follow block {parent.number}"
        )
    if header.parent_hash != parent.hash():
        raise CliqueError(
            f"{field}.parentHash",
            f"block {header.number} names parent 0x{header.parent_hash.hex()}, "
            f"not block {parent.number}'s hash 0x{parent.hash().hex()}",
        )
    if header.timestamp < parent.timestamp:
        raise CliqueError(
            f"{field}.timestamp",
            f"block {header.number} is timed {header.timestamp}, before its parent "
            f"({parent.timestamp})",
        )


__all__ = [
    "SEAL",
    "VANITY",
    "CliqueError",
    "FinalityEvidence",
    "SignerHistory",
    "SignerSet",
    "checkpoint_signers",
    "recover_signer",
    "seal_hash",
    "verify_finality",
]
