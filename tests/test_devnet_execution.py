"""devnet.execution: eth_call / eth_estimateGas with capped gas, a wall-clock deadline,
and the EVM running outside the chain lock. No network: a ChainStore on tmp_path whose
genesis holds the contracts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth.abc import SignedTransactionAPI, StateAPI
from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_keys import keys
from eth_typing import Address
from eth_utils import to_checksum_address

from devnet import execution
from devnet.chain import ChainStore
from devnet.execution import (
    CallTimeoutError,
    cap_gas,
    costless_state,
    estimate_gas,
    execute_call,
)
from devnet.genesis import Genesis

DEADLINE = 1.0
SLACK = 0.5
KEY = keys.PrivateKey(b"\x42" * 32)
SIGNER = Address(KEY.public_key.to_canonical_address())
CALLER = Address(b"\xca" * 20)
RECIPIENT = Address(b"\xee" * 20)


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def returning_top_word() -> bytes:
    """PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: return the top of the stack as a word."""
    return bytes.fromhex("60005260206000f3")


LOOP = Address(b"\x10" * 20)
LOOP_CODE = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP
NESTED_LOOP = Address(b"\x11" * 20)
# CALL(gas, LOOP, 0, 0, 0, 0, 0), STOP: the loop runs one frame down.
NESTED_LOOP_CODE = bytes.fromhex("6000600060006000600073") + LOOP + bytes.fromhex("5af100")
CONSTANT = Address(b"\x20" * 20)
CONSTANT_CODE = bytes.fromhex("602a") + returning_top_word()  # returns 42
REVERTING = Address(b"\x30" * 20)
REVERTING_CODE = bytes.fromhex("602a60005260206000fd")  # reverts with the word 42
BALANCE_OF = Address(b"\x40" * 20)
BALANCE_OF_CODE = b"\x73" + RECIPIENT + b"\x31" + returning_top_word()  # BALANCE(RECIPIENT)

CONTRACTS = {
    LOOP: LOOP_CODE,
    NESTED_LOOP: NESTED_LOOP_CODE,
    CONSTANT: CONSTANT_CODE,
    REVERTING: REVERTING_CODE,
    BALANCE_OF: BALANCE_OF_CODE,
}


@dataclass(frozen=True)
class ContractGenesis(Genesis):
    """A genesis whose state also holds contract code (Genesis.state() only has balances)."""

    code: dict[Address, bytes] = field(default_factory=dict)

    def state(self) -> dict[Address, dict[str, Any]]:
        state = super().state()
        for address, code in self.code.items():
            state[address] = {"balance": 0, "nonce": 0, "code": code, "storage": {}}
        return state


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChainStore]:
    genesis = ContractGenesis(
        chain_id=47_199,
        signers=[KEY.public_key.to_checksum_address()],
        alloc={KEY.public_key.to_checksum_address(): 10**21, to_checksum_address(CALLER): 10**18},
        code=CONTRACTS,
        timestamp=int(time.time()) - 60,  # room to seal a block without a future timestamp
    )
    chain_store = ChainStore(genesis, tmp_path / "chaindata")
    yield chain_store
    chain_store.close()


def call_tx(
    vm: Any, to: bytes, gas: int, data: bytes = b"", value: int = 0
) -> SignedTransactionAPI:
    """The transaction rpc.py builds for eth_call: unsigned, gas price 0, spoofed sender."""
    unsigned = vm.create_unsigned_transaction(
        nonce=vm.state.get_nonce(CALLER), gas_price=0, gas=gas, to=to, value=value, data=data
    )
    spoofed: SignedTransactionAPI = SpoofTransaction(unsigned, from_=CALLER)  # type: ignore[assignment]
    return spoofed


def prepare(
    store: ChainStore, to: bytes, requested_gas: int | None, data: bytes = b"", value: int = 0
) -> tuple[StateAPI, SignedTransactionAPI]:
    """What the RPC layer does under the chain lock: cap gas, build the tx and the state."""
    with store.locked() as chain:
        head = chain.get_canonical_head()
        vm = chain.get_vm(head)
        tx = call_tx(vm, to, cap_gas(requested_gas, head.gas_limit), data, value)
        return costless_state(vm), tx


# ---------------------------------------------------------------------- gas cap


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, 30_000_000), (2**40, 30_000_000), (30_000_001, 30_000_000), (50_000, 50_000)],
)
def test_cap_gas_clamps_to_the_block_gas_limit(requested: int | None, expected: int) -> None:
    assert cap_gas(requested, 30_000_000) == expected


# ---------------------------------------------------------------------- gas bombs


@pytest.mark.parametrize("target", [LOOP, NESTED_LOOP], ids=["loop", "loop-one-call-down"])
def test_gas_bomb_call_is_capped_and_stops_at_the_deadline(
    store: ChainStore, target: Address
) -> None:
    state, tx = prepare(store, target, 2**40)
    assert tx.gas == store.head().gas_limit
    started = time.monotonic()
    with pytest.raises(CallTimeoutError):
        execute_call(state, tx, DEADLINE)
    assert DEADLINE <= time.monotonic() - started < DEADLINE + SLACK
    # The timed-out run was rolled back: the same state still serves calls.
    _, constant_tx = prepare(store, CONSTANT, None)
    assert bytes(execute_call(state, constant_tx, DEADLINE).output) == word(42)


def test_gas_bomb_estimate_stops_at_the_deadline(store: ChainStore) -> None:
    state, tx = prepare(store, LOOP, 2**40)
    started = time.monotonic()
    with pytest.raises(CallTimeoutError):
        estimate_gas(state, tx, DEADLINE)
    assert DEADLINE <= time.monotonic() - started < DEADLINE + SLACK


def test_long_init_code_checks_every_opcode(
    store: ChainStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Init code longer than deployed code may be (only possible for init code under
    London) runs with every opcode checked: no jump-free stretch escapes the deadline."""
    reads = 0

    def counting_clock() -> float:
        nonlocal reads
        reads += 1
        return time.monotonic()

    monkeypatch.setattr(execution, "time", SimpleNamespace(monotonic=counting_clock))

    def clock_reads(pairs: int) -> int:
        nonlocal reads
        state, tx = prepare(store, b"", None, data=bytes.fromhex("5850") * pairs)  # PC POP
        reads = 0
        assert execute_call(state, tx, DEADLINE).is_success
        return reads

    assert clock_reads(10_000) < 10  # 20,000 bytes: checked on frame entry and exit only
    assert clock_reads(15_000) >= 30_000  # 30,000 bytes: every opcode checked


# ---------------------------------------------------------------------- ordinary calls


def test_ordinary_call_returns_what_py_evm_returns(store: ChainStore) -> None:
    state, tx = prepare(store, CONSTANT, None)
    computation = execute_call(state, tx, DEADLINE)
    with store.locked() as chain, chain.get_vm(store.head()).in_costless_state() as plain_state:
        expected = plain_state.costless_execute_transaction(tx)
    assert computation.is_success
    assert bytes(computation.output) == bytes(expected.output) == word(42)
    assert computation.get_gas_used() == expected.get_gas_used()


def test_value_transfer_call_succeeds_with_empty_output(store: ChainStore) -> None:
    state, tx = prepare(store, RECIPIENT, 21_000, value=5)
    computation = execute_call(state, tx, DEADLINE)
    assert computation.is_success
    assert bytes(computation.output) == b""


def test_revert_is_reported_in_the_computation_not_raised(store: ChainStore) -> None:
    state, tx = prepare(store, REVERTING, None)
    computation = execute_call(state, tx, DEADLINE)
    assert computation.is_error
    assert isinstance(computation.error, Revert)
    assert bytes(computation.output) == word(42)
    with pytest.raises(Revert):
        estimate_gas(state, tx, DEADLINE)


@pytest.mark.parametrize("target", [CONSTANT, RECIPIENT], ids=["contract", "transfer"])
def test_estimate_matches_py_evm_chain_estimate(store: ChainStore, target: Address) -> None:
    state, tx = prepare(store, target, None, value=5 if target == RECIPIENT else 0)
    execute_call(state, tx, DEADLINE)  # rpc.py runs the call first: the state is reusable
    with store.locked() as chain:
        expected = chain.estimate_gas(tx, store.head())
    assert estimate_gas(state, tx, DEADLINE) == expected
    if target == RECIPIENT:
        assert expected == 21_000


def test_only_guarded_states_are_accepted(store: ChainStore) -> None:
    with store.locked() as chain:
        vm = chain.get_vm(store.head())
        tx = call_tx(vm, CONSTANT, 100_000)
        with vm.in_costless_state() as unguarded, pytest.raises(TypeError):
            execute_call(unguarded, tx, DEADLINE)


# ---------------------------------------------------------------------- chain lock


def test_bomb_does_not_hold_the_chain_lock(store: ChainStore) -> None:
    """While a gas bomb runs, another thread takes the lock at once, reads the head and
    even seals a block; the call keeps reading the state it was built on."""
    bomb_state, bomb_tx = prepare(store, LOOP, 2**40)
    old_state, balance_tx = prepare(store, BALANCE_OF, None)
    outcome: list[BaseException | None] = []
    running = threading.Event()

    def run_bomb() -> None:
        running.set()
        try:
            execute_call(bomb_state, bomb_tx, DEADLINE)
        except BaseException as error:  # reported to the main thread
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run_bomb)
    worker.start()
    try:
        running.wait(5)
        time.sleep(0.1)  # the bomb is well inside the EVM by now
        assert worker.is_alive()
        started = time.monotonic()
        with store.locked():
            head = store.head()
        assert time.monotonic() - started < 0.1

        with store.locked() as chain:
            transfer = (
                chain.get_vm(head)
                .create_unsigned_transaction(
                    nonce=0, gas_price=2 * 10**9, gas=21_000, to=RECIPIENT, value=7, data=b""
                )
                .as_signed_transaction(KEY, chain_id=store.genesis.chain_id)
            )
        sealed = store.seal_block(
            KEY,
            head.hash,
            head.timestamp + store.genesis.period,
            [transfer],
            None,
            lambda tx, why: pytest.fail(why),
        )
        assert sealed is not None and len(sealed.transactions) == 1
        assert worker.is_alive(), "sealing waited for the call"
    finally:
        worker.join(DEADLINE + 5)
    assert len(outcome) == 1 and isinstance(outcome[0], CallTimeoutError)

    # The state built before the block still reads the old balance; a new one the new.
    assert bytes(execute_call(old_state, balance_tx, DEADLINE).output) == word(0)
    new_state, new_balance_tx = prepare(store, BALANCE_OF, None)
    assert bytes(execute_call(new_state, new_balance_tx, DEADLINE).output) == word(7)
