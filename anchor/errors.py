"""Errors raised by `anchor/`: a caller never sees a raw web3 error for a known failure."""

from __future__ import annotations

from typing import Any


class AnchorError(Exception):
    """Base class of everything `anchor/` raises."""


class ArtifactError(AnchorError):
    """The compiled registry artifact is missing or unreadable."""


class ChainUnavailableError(AnchorError):
    """The JSON-RPC endpoint cannot be reached or answered with a transport error."""


class ChainRPCError(AnchorError):
    """The endpoint answered a request with a JSON-RPC error."""


class WrongChainError(AnchorError):
    """The endpoint serves a different chain than the one configured."""

    def __init__(self, expected: int, actual: int, *, endpoint: str | None = None) -> None:
        super().__init__(f"{endpoint or 'endpoint'} serves chain id {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual
        self.endpoint = endpoint


class TransactionTimeoutError(AnchorError):
    """A sent transaction was not mined in time; it may still be mined later."""

    def __init__(self, tx_hash: str, timeout: float) -> None:
        super().__init__(f"transaction {tx_hash} not mined within {timeout:g} s (it may still be)")
        self.tx_hash = tx_hash
        self.timeout = timeout


class TransactionRejectedError(AnchorError):
    """The engine refused the transaction (nonce, fee, balance, malformed)."""


class TransactionRevertedError(AnchorError):
    """A transaction or call reverted without a reason this client knows."""

    def __init__(self, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.data = data


class RegistryError(TransactionRevertedError):
    """The registry refused the call with one of its custom errors.

    Subclasses are named after the Solidity errors; `fields` holds the error's arguments.
    """

    solidity_name = ""

    def __init__(self, fields: dict[str, Any], data: str | None = None) -> None:
        details = ", ".join(f"{k}={_show(v)}" for k, v in fields.items())
        super().__init__(f"registry refused: {self.solidity_name}({details})", data)
        self.fields = fields


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _registry_error(name: str, doc: str) -> type[RegistryError]:
    return type(name, (RegistryError,), {"solidity_name": name, "__doc__": doc})


NotGovernance = _registry_error(
    "NotGovernance", "Only an executed governance proposal may do this."
)
NotGovernanceMember = _registry_error(
    "NotGovernanceMember", "The sender is not a member of the governance set."
)
InvalidGovernance = _registry_error(
    "InvalidGovernance", "Members, threshold or timelock out of range, or a member repeated."
)
EmptyProposal = _registry_error("EmptyProposal", "A proposal needs at least one action.")
UnsupportedAction = _registry_error(
    "UnsupportedAction", "A proposal's action is not a governance function of the registry."
)
MalformedAction = _registry_error(
    "MalformedAction", "A proposal's action does not decode as the governance function it names."
)
UnknownProposal = _registry_error("UnknownProposal", "No proposal has this id.")
ProposalClosed = _registry_error(
    "ProposalClosed", "The proposal is executed, cancelled, expired or stale."
)
AlreadyApproved = _registry_error("AlreadyApproved", "The member approved this proposal already.")
NotApproved = _registry_error("NotApproved", "The member has not approved this proposal.")
ThresholdNotReached = _registry_error(
    "ThresholdNotReached", "The proposal has fewer approvals than the threshold."
)
TimelockNotPassed = _registry_error(
    "TimelockNotPassed", "The proposal's timelock has not passed yet."
)
ActionsMismatch = _registry_error(
    "ActionsMismatch", "The actions given to execute are not the proposed ones."
)
NotProposer = _registry_error("NotProposer", "Only the proposer may cancel a proposal.")
LocalGovernmentCodeInUse = _registry_error(
    "LocalGovernmentCodeInUse",
    "Another node of this code is active and governance did not allow sharing it.",
)
ZeroAddress = _registry_error("ZeroAddress", "The zero address is not allowed here.")
RegistryAddress = _registry_error(
    "RegistryAddress", "The registry's own address cannot be a node key."
)
InvalidLocalGovernmentCode = _registry_error(
    "InvalidLocalGovernmentCode", "Not a 6-digit local-government code with a valid check digit."
)
InvalidName = _registry_error("InvalidName", "A node name must be 1-128 bytes.")
NodeAlreadyRegistered = _registry_error("NodeAlreadyRegistered", "The key is or was a node key.")
NodeNotRegistered = _registry_error("NodeNotRegistered", "The address is not a registered node.")
NodeNotActive = _registry_error("NodeNotActive", "The node is suspended or its key retired.")
NodeNotSuspended = _registry_error("NodeNotSuspended", "The node is not suspended.")
WrongSequence = _registry_error("WrongSequence", "The head's seq is not the node's next.")
TreeSizeShrank = _registry_error("TreeSizeShrank", "The head is smaller than the previous one.")
RootChangedWithoutGrowth = _registry_error(
    "RootChangedWithoutGrowth", "Same size as the previous head but another root: a fork."
)
EmptyHead = _registry_error("EmptyHead", "An empty tree or zero root cannot be anchored.")
RootAlreadyAnchored = _registry_error("RootAlreadyAnchored", "This root was anchored before.")
InvalidSignature = _registry_error(
    "InvalidSignature", "The head's signature is malformed, malleable or not by its node."
)
EmptyBatch = _registry_error("EmptyBatch", "anchorMany was called without heads.")
UnknownRoot = _registry_error("UnknownRoot", "No anchor has this root.")
HeadAlreadyWithdrawn = _registry_error("HeadAlreadyWithdrawn", "The head was withdrawn before.")

REGISTRY_ERRORS: dict[str, type[RegistryError]] = {
    cls.solidity_name: cls
    for cls in (
        NotGovernance,
        NotGovernanceMember,
        InvalidGovernance,
        EmptyProposal,
        UnsupportedAction,
        MalformedAction,
        UnknownProposal,
        ProposalClosed,
        AlreadyApproved,
        NotApproved,
        ThresholdNotReached,
        TimelockNotPassed,
        ActionsMismatch,
        NotProposer,
        LocalGovernmentCodeInUse,
        ZeroAddress,
        RegistryAddress,
        InvalidLocalGovernmentCode,
        InvalidName,
        NodeAlreadyRegistered,
        NodeNotRegistered,
        NodeNotActive,
        NodeNotSuspended,
        WrongSequence,
        TreeSizeShrank,
        RootChangedWithoutGrowth,
        EmptyHead,
        RootAlreadyAnchored,
        InvalidSignature,
        EmptyBatch,
        UnknownRoot,
        HeadAlreadyWithdrawn,
    )
}
