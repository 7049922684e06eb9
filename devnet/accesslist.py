"""`eth_createAccessList`: the EIP-2930 access list a call needs, found as geth finds it.

geth runs the call with a tracer that records, opcode by opcode, the storage slots read or
written (SLOAD, SSTORE: slot of the executing contract) and the accounts looked at
(BALANCE, EXTCODE*, SELFDESTRUCT, CALL*), leaving out the sender, the recipient (or the
created contract) and the precompiles; it runs the call again with that list until the
list stops growing, and reports the gas the last run used. Accesses are recorded whether
or not the call fails, so a reverting call still gets its list (and an `error`).

py-evm has no tracer hooks, but it dispatches every opcode through its computation class's
`opcodes` table (see devnet/execution.py): the state built here uses execution.py's
deadline-guarded computation with the recorded opcodes wrapped once more, so the same
gas cap and wall-clock deadline as `eth_call` apply, across all runs together.

The access list of a run is applied as py-evm applies a typed transaction's: the Berlin
executor warms `transaction.access_list`, and the intrinsic gas counts 2,400 per address
and 1,900 per storage key (EIP-2930). The call itself stays the legacy spoofed
transaction `eth_call` runs, with those two attributes overridden."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import Any

from eth.abc import (
    ComputationAPI,
    MessageAPI,
    OpcodeAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    VirtualMachineAPI,
)
from eth.exceptions import OutOfGas, Revert
from eth.vm import opcode_values as op
from eth.vm.forks.berlin.constants import (
    ACCESS_LIST_ADDRESS_COST_EIP_2930,
    ACCESS_LIST_STORAGE_KEY_COST_EIP_2930,
)
from eth.vm.forks.london.constants import EIP3529_MAX_REFUND_QUOTIENT
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address

from devnet.execution import _guarded_state_class, costless_state, execute_call

# London's precompiles: ecrecover, sha256, ripemd160, identity, modexp, the three bn256
# ones and blake2f (0x01-0x09).
PRECOMPILES = frozenset(Address(i.to_bytes(20, "big")) for i in range(1, 10))
MAX_ROUNDS = 16  # each round only adds entries; real calls settle in two or three
SLOT_OPCODES = frozenset({op.SLOAD, op.SSTORE})
ADDRESS_OPCODES = frozenset(
    {op.BALANCE, op.EXTCODESIZE, op.EXTCODECOPY, op.EXTCODEHASH, op.SELFDESTRUCT}
)
CALL_OPCODES = frozenset({op.CALL, op.CALLCODE, op.DELEGATECALL, op.STATICCALL})
ADDRESS_MASK = (1 << 160) - 1

AccessList = dict[Address, set[int]]


class AccessRecorder:
    def __init__(self, excluded: frozenset[Address], start: AccessList) -> None:
        self.excluded = excluded
        self.accessed: AccessList = {
            a: set(slots) for a, slots in start.items() if a not in excluded
        }

    def slot(self, address: Address, slot: int) -> None:
        self.accessed.setdefault(address, set()).add(slot)

    def account(self, address: Address) -> None:
        if address not in self.excluded:
            self.accessed.setdefault(address, set())


def recording_state(vm: VirtualMachineAPI) -> StateAPI:
    """`devnet.execution.costless_state`, with accesses recorded. Build it under the chain
    lock, run `create_access_list` on it outside."""
    return costless_state(vm, _recording_state_class)


def with_access_list(tx: Any, access: AccessList) -> SignedTransactionAPI:
    """`tx` (an eth_call SpoofTransaction) carrying `access` as an EIP-2930 list."""
    entries = tuple((a, tuple(sorted(access[a]))) for a in sorted(access))
    extra = sum(
        ACCESS_LIST_ADDRESS_COST_EIP_2930 + ACCESS_LIST_STORAGE_KEY_COST_EIP_2930 * len(slots)
        for _, slots in entries
    )
    spoofed: SignedTransactionAPI = SpoofTransaction(  # type: ignore[assignment]
        tx, access_list=entries, intrinsic_gas=tx.intrinsic_gas + extra
    )
    return spoofed


def create_access_list(
    state: StateAPI,
    tx: Any,
    excluded: Iterable[Address],
    start: AccessList,
    deadline_seconds: float,
) -> tuple[AccessList, int, str | None]:
    """(access list, gas used with it, the call's error or None), as geth's
    `eth_createAccessList`. Raises CallTimeoutError past the deadline."""
    excluded = frozenset(excluded) | PRECOMPILES
    deadline = time.monotonic() + deadline_seconds
    previous = AccessRecorder(excluded, start).accessed
    for _ in range(MAX_ROUNDS):
        recorder = AccessRecorder(excluded, previous)
        run = with_access_list(tx, previous)
        state.access_recorder = recorder  # type: ignore[attr-defined]
        try:
            computation = execute_call(state, run, deadline - time.monotonic())
        finally:
            state.access_recorder = None  # type: ignore[attr-defined]
        if recorder.accessed == previous:
            break
        previous = recorder.accessed
    return previous, gas_used(run, computation), call_error(computation)


def gas_used(tx: SignedTransactionAPI, computation: ComputationAPI) -> int:
    """What the transaction would be charged for (London refund rule)."""
    used = tx.gas - computation.get_gas_remaining()
    refund = min(computation.get_gas_refund(), used // EIP3529_MAX_REFUND_QUOTIENT)
    return int(used - refund)


def call_error(computation: ComputationAPI) -> str | None:
    """geth's text for a failed call (vm errors), or None."""
    if computation.is_success:
        return None
    error = computation.error
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        return "out of gas"
    return str(error) or type(error).__name__


# ---------------------------------------------------------------------- internals


def _word(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def _address(value: int | bytes) -> Address:
    return Address((_word(value) & ADDRESS_MASK).to_bytes(20, "big"))


class _RecordingOpcode(OpcodeAPI):
    """An opcode that first records the slot or account it is about to touch."""

    __slots__ = ("gas_cost", "inner", "mnemonic", "value")

    def __init__(self, value: int, inner: OpcodeAPI) -> None:
        self.value = value
        self.inner = inner
        self.mnemonic = inner.mnemonic
        self.gas_cost = getattr(inner, "gas_cost", None)

    def __call__(self, computation: ComputationAPI) -> None:
        recorder = getattr(computation.state, "access_recorder", None)
        if recorder is not None:
            stack = computation._stack.values  # type: ignore[attr-defined]
            if self.value in SLOT_OPCODES and stack:
                recorder.slot(Address(computation.msg.storage_address), _word(stack[-1]))
            elif self.value in ADDRESS_OPCODES and stack:
                recorder.account(_address(stack[-1]))
            elif self.value in CALL_OPCODES and len(stack) >= 2:
                recorder.account(_address(stack[-2]))
        self.inner(computation)

    @classmethod
    def as_opcode(cls, logic_fn: Any, mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("wraps an existing opcode")


RECORDED = SLOT_OPCODES | ADDRESS_OPCODES | CALL_OPCODES


def _recorded(table: dict[int, Any]) -> dict[int, Any]:
    return {v: _RecordingOpcode(v, fn) if v in RECORDED else fn for v, fn in table.items()}


@functools.cache
def _recording_state_class(state_class: type[StateAPI]) -> type[StateAPI]:
    guarded = _guarded_state_class(state_class)
    computation_class = guarded.computation_class
    recorded_tables: dict[int, dict[int, Any]] = {}

    class RecordingComputation(computation_class):  # type: ignore[misc, valid-type]
        opcodes = _recorded(computation_class.opcodes)

        def __init__(
            self,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
        ) -> None:
            super().__init__(state, message, transaction_context)
            if "opcodes" in self.__dict__:  # long init code: execution.py checks every opcode
                table = self.__dict__["opcodes"]
                if id(table) not in recorded_tables:
                    recorded_tables[id(table)] = _recorded(table)
                self.opcodes = recorded_tables[id(table)]

    class RecordingState(guarded):  # type: ignore[misc, valid-type]
        computation_class = RecordingComputation
        access_recorder: AccessRecorder | None = None

    RecordingComputation.__name__ = RecordingComputation.__qualname__ = (
        f"Recording{computation_class.__name__}"
    )
    RecordingState.__name__ = RecordingState.__qualname__ = f"Recording{guarded.__name__}"
    return RecordingState
