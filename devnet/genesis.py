"""Genesis of a Clique network and the py-evm chain classes that run it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth.abc import VirtualMachineAPI
from eth.chains.base import Chain
from eth.consensus.clique._utils import get_block_signer
from eth.consensus.clique.clique import CliqueApplier, CliqueConsensus, CliqueConsensusContext
from eth.consensus.clique.constants import SIGNATURE_LENGTH, VANITY_LENGTH
from eth.db.atomic import AtomicDB
from eth.typing import AccountState
from eth.vm.forks.london import LondonVM
from eth_typing import Address
from eth_utils.address import to_canonical_address, to_checksum_address

DEFAULT_CHAIN_ID = 47_100
DEFAULT_PERIOD = 1
DEFAULT_EPOCH = 30_000
DEFAULT_GAS_LIMIT = 30_000_000
INITIAL_BASE_FEE = 1_000_000_000
EXTRA_VANITY = b"municipal-notary devnet".ljust(VANITY_LENGTH, b"\0")


class GenesisError(ValueError):
    """The genesis file is missing or malformed."""


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    signers: list[str]
    alloc: dict[str, int]
    period: int = DEFAULT_PERIOD
    epoch: int = DEFAULT_EPOCH
    gas_limit: int = DEFAULT_GAS_LIMIT
    timestamp: int = field(default_factory=lambda: int(time.time()))

    def save(self, path: Path) -> None:
        data = asdict(self)
        data["alloc"] = {k: hex(v) for k, v in self.alloc.items()}
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            data["alloc"] = {to_checksum_address(k): int(v, 16) for k, v in data["alloc"].items()}
            data["signers"] = [to_checksum_address(s) for s in data["signers"]]
            genesis = cls(**data)
        except FileNotFoundError:
            raise GenesisError(
                f"no genesis at {path}: use the consortium's genesis.json "
                "(`notary devnet genesis`; for a one-host devnet, `notary devnet init`)"
            ) from None
        except (ValueError, TypeError, KeyError) as error:
            raise GenesisError(f"genesis {path} is malformed: {error}") from None
        if not genesis.signers:
            raise GenesisError(f"genesis {path} names no signers")
        if genesis.period < 1:
            raise GenesisError("period must be at least 1 s")
        return genesis

    def block_hash(self) -> bytes:
        """The genesis block's hash: what identifies this network."""
        chain = chain_class(self).from_genesis(AtomicDB(), self.header_params(), self.state())
        return bytes(chain.get_canonical_head().hash)

    def hash_hex(self) -> str:
        return "0x" + self.block_hash().hex()

    def extra_data(self) -> bytes:
        """Checkpoint extra-data: vanity, the sorted signers, an empty seal."""
        signers = sorted(to_canonical_address(s) for s in self.signers)
        return EXTRA_VANITY + b"".join(signers) + b"\0" * SIGNATURE_LENGTH

    def header_params(self) -> dict[str, Any]:
        return {
            "difficulty": 1,
            "extra_data": self.extra_data(),
            "gas_limit": self.gas_limit,
            "timestamp": self.timestamp,
            "nonce": b"\0" * 8,
            "base_fee_per_gas": INITIAL_BASE_FEE,
        }

    def state(self) -> AccountState:
        return {
            to_canonical_address(address): {
                "balance": balance,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
            for address, balance in self.alloc.items()
        }


class CliqueRules(CliqueConsensus):
    """py-evm's Clique, readable on unsealed headers.

    Reading state builds an execution context from the head, and an unsealed header (the
    genesis, or a block being built) has no seal to recover a fee recipient from; the
    coincurve backend then raises BadSignature where py-evm expects ValueError. The fee
    recipient only matters when executing a sealed block, whose seal is validated."""

    @classmethod
    def get_fee_recipient(cls, header: Any) -> Address:
        try:
            return get_block_signer(header)
        except Exception:
            return Address(header.coinbase)


def chain_class(genesis: Genesis) -> type[Chain]:
    """The chain that imports and validates blocks under Clique with London rules."""
    context = type("ConsensusContext", (CliqueConsensusContext,), {"epoch_length": genesis.epoch})
    vm_configuration = tuple(
        (number, vm.configure(consensus_class=CliqueRules))
        for number, vm in CliqueApplier().amend_vm_configuration(((0, LondonVM),))
    )
    chain: type[Chain] = Chain.configure(
        __name__="MunicipalCliqueChain",
        vm_configuration=vm_configuration,
        chain_id=genesis.chain_id,
        consensus_context_class=context,
    )
    return chain


def sealing_vm_class(chain: type[Chain], signer: Address) -> type[VirtualMachineAPI]:
    """A VM for building a block that `signer` will seal.

    Clique pays fees to the block's signer, recovered from the seal; while the block is
    being built there is no seal yet, so the consensus class is told who will sign.
    """

    class SealingConsensus(CliqueRules):
        @classmethod
        def get_fee_recipient(cls, header: Any) -> Address:
            return signer

    _, vm_class = chain.vm_configuration[0]
    return vm_class.configure(consensus_class=SealingConsensus)
