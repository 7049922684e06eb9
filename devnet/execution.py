"""Read-only execution for `eth_call` and `eth_estimateGas`: capped gas, a wall-clock
deadline, and no chain lock held while the EVM runs.

A caller asking for `gas: 2**40` on a loop used to pin the validator at 100 % CPU under
the chain lock. Three limits close that:

* `cap_gas` clamps the requested gas to the block gas limit, as geth's RPCGasCap does
  (clamp, never an error).
* The EVM checks a deadline. py-evm dispatches every opcode through the computation
  class's `opcodes` table (`BaseComputation.apply_computation`), so the states built here
  use a computation class whose table wraps JUMP and JUMPI with a `time.monotonic()`
  check, and whose `apply_computation` checks when a frame (call, create, precompile)
  starts and when it ends. Every loop needs a jump, every nested call or create starts
  a frame, so what runs between two checks is one jump-free stretch of one frame's
  code, at most as many opcodes as the code is long. Deployed code is at most 24,576
  bytes (EIP-170, ~25 ms in py-evm); only init code (a create call, CREATE, CREATE2)
  can be longer under London rules, and a frame with such code runs with every opcode
  checked. The exit check matters too: without it, a deep stack of frames could
  unwind through long jump-free code. Checking two opcodes costs ~4 % on a tight loop
  and nothing measurable on an ordinary call.
  `CallTimeoutError` is not a py-evm `VMError`: py-evm's handler (the computation's
  `__exit__`) only turns VMErrors into an errored computation, so this one propagates
  out of every frame to the caller. (Were it swallowed, the check on frame exit would
  raise it again, outside the frame's handler.) Gas does not bound time well enough on its own:
  py-evm runs ~1 M opcodes/s, a 30 M gas jump loop is ~7.5 M opcodes.
* The EVM runs outside the chain lock, on a state the caller builds under it
  (`costless_state`), just as `VM.in_costless_state` builds it.

Why running outside the lock is safe (checked against devnet/leveldb.py and py-evm 0.12):

* The state reads a fixed state root. All it ever reads from the database is
  content-addressed: trie nodes (keyed by their keccak), code (by its hash) and, for
  BLOCKHASH, headers by hash (the ancestors are read lazily, during execution).
  Importing or sealing a block only adds such keys: py-evm's AccountDB and StorageDB
  commit their tries with `apply_deletes=False`, so no trie node is ever deleted, and
  the keys a reorg rewrites or deletes (canonical number -> hash, transaction lookups,
  the head pointer) are never read by a state. A fixed root reads the same data
  whatever blocks are imported meanwhile.
* `LevelDB` (devnet/leveldb.py) reads with plyvel's `DB.get`, which releases the GIL
  around LevelDB's `Get`; LevelDB allows concurrent reads and writes from several
  threads, and a write batch becomes visible atomically.
* Nothing mutable is shared with the chain. AccountDB's caches and journals (account
  LRU, `CacheDB` over the trie, `JournalDB`, `BatchDB`, the per-account storage
  objects) belong to the one state instance built per request. The only shared caches
  on the read path are `functools.lru_cache`s over immutable inputs (header RLP
  decoding in eth/db/header.py), which are thread-safe. `ConsensusContext` is not
  touched: the fee recipient comes from a classmethod (`CliqueRules.get_fee_recipient`).
* One caveat, outside this module: plyvel's `DB.close()` frees the LevelDB handle
  without waiting for a `Get` running in another thread. `ChainStore.close()` takes the
  chain lock, which a call running here does not hold, so the server must let in-flight
  calls finish (at most one deadline) before closing the store.

A state from `costless_state` serves one request on one thread; it is not shared.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from eth.abc import (
    ComputationAPI,
    MessageAPI,
    OpcodeAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    VirtualMachineAPI,
)
from eth.estimators.gas import binary_gas_search
from eth.vm import opcode_values
from eth.vm.forks.spurious_dragon.constants import EIP170_CODE_SIZE_LIMIT
from eth_typing import Hash32

# Every loop needs JUMP or JUMPI; calls and creates are checked in `apply_computation`.
GUARDED_OPCODES = frozenset({opcode_values.JUMP, opcode_values.JUMPI})
# Code longer than deployed code may be (EIP-170) can only be init code, which London
# does not limit: it runs with every opcode checked, so that no jump-free stretch of
# code runs for longer than ~24,576 opcodes (~25 ms in py-evm) without a check.
MAX_CODE_CHECKED_BY_JUMPS = EIP170_CODE_SIZE_LIMIT

# py-evm's own default estimator (eth.estimators.gas.binary_gas_search_intrinsic_tolerance).
DEFAULT_ESTIMATE_TOLERANCE = 21_000


class CallTimeoutError(Exception):
    """Execution passed its deadline. Deliberately not an `eth.exceptions.VMError`:
    py-evm turns those into an errored computation, this one must reach the caller."""


def cap_gas(requested: int | None, block_gas_limit: int) -> int:
    """The gas a call may use: `requested`, clamped to the block gas limit; the block
    gas limit when none is requested (geth's RPCGasCap: clamp, do not reject)."""
    if requested is None:
        return block_gas_limit
    return min(requested, block_gas_limit)


def costless_state(
    vm: VirtualMachineAPI,
    state_classes: Callable[[type[StateAPI]], type[StateAPI]] | None = None,
) -> StateAPI:
    """The state `vm.in_costless_state()` yields (a block on top of the vm's header, base
    fee 0) but with deadline-guarded execution. Call it under the chain lock (it only
    builds objects; nothing is read yet), then run `execute_call` / `estimate_gas` on
    it outside the lock. One state per request. `state_classes` maps the VM's state class
    to the guarded one to use (default: deadline checks only)."""
    header = vm.get_header()
    temp_block = vm.generate_block_from_parent_header_and_coinbase(header, header.coinbase)
    free_header = temp_block.header
    if hasattr(free_header, "base_fee_per_gas"):
        free_header = free_header.copy(base_fee_per_gas=0)
    # py-evm annotates VM.previous_hashes Optional, but it always returns the ancestors' hashes.
    prev_hashes = itertools.chain((header.hash,), cast(Iterable[Hash32], vm.previous_hashes))
    # What `vm.build_state` does, with the guarded state class in place of the VM's.
    # VirtualMachineAPI omits the chain_context attribute that every VM sets in __init__.
    chain_context = vm.chain_context  # type: ignore[attr-defined]
    context = vm.create_execution_context(free_header, prev_hashes, chain_context)
    state_class = (state_classes or _guarded_state_class)(vm.get_state_class())
    state: StateAPI = state_class(vm.chaindb.db, context, free_header.state_root)
    return state


def execute_call(
    state: StateAPI, tx: SignedTransactionAPI, deadline_seconds: float
) -> ComputationAPI:
    """Run `tx` for free (`state.costless_execute_transaction`, as `eth_call` always
    has) on a state from `costless_state` and return the computation: reverts and
    other EVM errors are reported in it, as py-evm reports them. Raises
    CallTimeoutError once `deadline_seconds` have passed. The state's changes are
    reverted afterwards (also after a timeout), so the state can serve another run."""
    with _deadline(state, deadline_seconds):
        return state.costless_execute_transaction(tx)


def estimate_gas(
    state: StateAPI,
    tx: SignedTransactionAPI,
    deadline_seconds: float,
    tolerance: int = DEFAULT_ESTIMATE_TOLERANCE,
) -> int:
    """The gas `tx` needs: py-evm's `binary_gas_search` (what `Chain.estimate_gas` runs,
    with py-evm's default tolerance) on a state from `costless_state`, with one deadline
    across all of its executions. The search tops out at the state's gas limit; like
    py-evm it raises the VMError (e.g. Revert) of a transaction that fails even with
    that much gas. Raises CallTimeoutError once `deadline_seconds` have passed."""
    with _deadline(state, deadline_seconds):
        estimate: int = binary_gas_search(state, tx, tolerance=tolerance)
        return estimate


# ---------------------------------------------------------------------- internals


@contextlib.contextmanager
def _deadline(state: StateAPI, seconds: float) -> Iterator[None]:
    """Arm the state's deadline for one run, and undo the run's changes afterwards."""
    if not isinstance(state, _DeadlineState):
        raise TypeError("run calls on a state from devnet.execution.costless_state(vm)")
    snapshot = state.snapshot()
    state.call_deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        state.call_deadline = math.inf
        state.revert(snapshot)


def _check(state: Any) -> None:
    if time.monotonic() > state.call_deadline:
        raise CallTimeoutError("execution exceeded its time limit")


class _DeadlineOpcode(OpcodeAPI):
    """An opcode that first checks the state's deadline."""

    __slots__ = ("gas_cost", "inner", "mnemonic")

    def __init__(self, inner: OpcodeAPI) -> None:
        self.inner = inner
        self.mnemonic = inner.mnemonic
        self.gas_cost = getattr(inner, "gas_cost", None)

    def __call__(self, computation: ComputationAPI) -> None:
        if time.monotonic() > computation.state.call_deadline:  # type: ignore[attr-defined]
            raise CallTimeoutError("execution exceeded its time limit")
        self.inner(computation)

    @classmethod
    def as_opcode(cls, logic_fn: Any, mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("wraps an existing opcode")


class _DeadlineState:
    """Marker base of the guarded state classes; `call_deadline` is a monotonic time."""

    call_deadline: float = math.inf


@functools.cache
def _guarded_state_class(state_class: type[StateAPI]) -> type[StateAPI]:
    """`state_class` with a guarded computation class; cached per state class (one for
    LondonVM), so a call builds no classes."""
    computation_class = state_class.computation_class
    jumps_checked = {
        value: _DeadlineOpcode(fn) if value in GUARDED_OPCODES else fn
        for value, fn in computation_class.opcodes.items()
    }
    all_checked: dict[int, OpcodeAPI] = {
        value: _DeadlineOpcode(fn) for value, fn in computation_class.opcodes.items()
    }

    class DeadlineComputation(computation_class):  # type: ignore[misc, valid-type]
        opcodes = jumps_checked

        def __init__(
            self,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
        ) -> None:
            super().__init__(state, message, transaction_context)
            if len(message.code) > MAX_CODE_CHECKED_BY_JUMPS:
                self.opcodes = all_checked  # read per frame by `apply_computation`

        @classmethod
        def apply_computation(
            cls,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
            parent_computation: ComputationAPI | None = None,
        ) -> ComputationAPI:
            """Check the deadline when a frame starts and when it ends."""
            _check(state)
            computation: ComputationAPI = super().apply_computation(
                state, message, transaction_context, parent_computation=parent_computation
            )
            _check(state)
            return computation

    class DeadlineState(_DeadlineState, state_class):  # type: ignore[misc, valid-type]
        computation_class = DeadlineComputation

    for cls, base in ((DeadlineComputation, computation_class), (DeadlineState, state_class)):
        cls.__name__ = cls.__qualname__ = f"Deadline{base.__name__}"
    return DeadlineState
