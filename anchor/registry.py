"""Typed client of `NotaryRegistry`: deploy, govern, anchor, read, and page through events."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, ContractLogicError, TransactionNotFound
from web3.types import BlockIdentifier, FilterParams, LogReceipt, RPCEndpoint

from anchor.artifacts import RegistryArtifact, load_registry_artifact
from anchor.chain import endpoint_in_use, translate_transport_errors
from anchor.chainstate import BlockInfo, MinedTransaction
from anchor.errors import (
    REGISTRY_ERRORS,
    AnchorError,
    ChainRPCError,
    TransactionRevertedError,
)
from anchor.models import (
    AnchoredHeadEvent,
    AnchorRecord,
    BatchResult,
    GovernanceAction,
    GovernanceConfig,
    GovernanceResult,
    NodeRecord,
    Proposal,
    ProposalState,
    RegistryEvent,
    SkippedHead,
    TreeHead,
    TxResult,
)
from anchor.signing import SignedHead, head_signer
from anchor.signing import sign_head as _sign_head
from anchor.transactions import TransactionSender
from protocol.finality import DEFAULT_FINALITY_DEPTH, FinalityDepth, clique_finality
from protocol.registry_abi import (
    GOVERNED_FUNCTIONS,
    anchor_record,
    node_record,
)

log = logging.getLogger("anchor.registry")
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")
DEFAULT_LOG_PAGE = 5_000
ANCHOR_GAS_LIMIT = 120_000
# anchorMany: the transaction plus, per head, a node's first anchor (the dearest case).
ANCHOR_MANY_BASE_GAS = 40_000
ANCHOR_MANY_HEAD_GAS = 70_000
MIN_LOG_PAGE = 16


class RevertDecoder:
    """Maps revert data to the registry's exception classes using the ABI's error entries."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_abi_type(i) for i in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (entry["name"], [i["name"] for i in entry["inputs"]], types)

    def name_of(self, selector: bytes) -> str:
        """The registry error's name for a 4-byte selector, or the selector in hex."""
        known = self._errors.get(bytes(selector))
        return known[0] if known else "0x" + bytes(selector).hex()

    def __call__(self, error: ContractLogicError) -> Exception:
        return self.decode(_revert_data(error), str(error))

    def decode(self, data: bytes | None, fallback: str = "reverted") -> Exception:
        hex_data = "0x" + data.hex() if data else None
        if not data or len(data) < 4:
            return TransactionRevertedError(f"reverted without reason ({fallback})", hex_data)
        selector, body = data[:4], data[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                (reason,) = abi_decode(["string"], body)
                return TransactionRevertedError(f"reverted: {reason}", hex_data)
            if selector == PANIC_SELECTOR:
                (code,) = abi_decode(["uint256"], body)
                return TransactionRevertedError(f"reverted with panic 0x{code:02x}", hex_data)
            if selector in self._errors:
                name, names, types = self._errors[selector]
                values = abi_decode(types, body)
                fields = {n: _plain(v) for n, v in zip(names, values, strict=True)}
                return REGISTRY_ERRORS[name](fields, hex_data)
        except Exception as error:  # malformed revert data from a misbehaving engine
            return TransactionRevertedError(
                f"undecodable revert data {hex_data}: {error}", hex_data
            )
        return TransactionRevertedError(f"reverted with unknown error {hex_data}", hex_data)


class RegistryClient:
    """One registry at `address`. Pass `account` to send transactions; reads need none."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        *,
        artifact: RegistryArtifact | None = None,
        receipt_timeout: float = 60.0,
    ) -> None:
        self.artifact = artifact or load_registry_artifact()
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self.decode_revert = RevertDecoder(self.artifact.abi)
        self._chain_id: int | None = None
        self.sender = (
            TransactionSender(
                w3, account, decode_revert=self.decode_revert, receipt_timeout=receipt_timeout
            )
            if account is not None
            else None
        )

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        deployer: LocalAccount,
        *,
        members: Sequence[str] | None = None,
        threshold: int = 1,
        timelock: int = 0,
        governance: str | None = None,
        receipt_timeout: float = 60.0,
    ) -> tuple[RegistryClient, TxResult]:
        """Deploy a new registry governed by `threshold` of `members` with a `timelock` in
        seconds. Without `members`: one member, `governance` or else the deployer (with the
        defaults, 1-of-1 and no timelock: development set-ups)."""
        artifact = load_registry_artifact()
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        decoder = RevertDecoder(artifact.abi)
        sender = TransactionSender(
            w3, deployer, decode_revert=decoder, receipt_timeout=receipt_timeout
        )
        governors = [to_checksum_address(m) for m in members or [governance or deployer.address]]
        result = sender.transact(factory.constructor(governors, threshold, timelock))
        with translate_transport_errors("the JSON-RPC endpoint"):
            receipt = w3.eth.get_transaction_receipt(HexBytes(result.tx_hash))
        address = receipt.get("contractAddress")
        if not address:
            raise AnchorError(f"deployment {result.tx_hash} created no contract")
        client = cls(w3, address, deployer, artifact=artifact, receipt_timeout=receipt_timeout)
        return client, result

    # ------------------------------------------------------------------ transactions

    # Governance, in one call each: propose, and execute at once when this client's approval
    # is enough and no timelock applies (a 1-of-1 development set-up); otherwise the
    # proposal waits for the other members (`GovernanceResult.executed` is False).

    def register_node(
        self, node: str, lg_code: int, name: str, *, share_code: bool = False
    ) -> GovernanceResult:
        """Register `node` for `lg_code`; `share_code` is governance's explicit permission for
        a second active node of the code (refused otherwise)."""
        return self.govern([self.action_register_node(node, lg_code, name, share_code=share_code)])

    def suspend_node(self, node: str, reason: str) -> GovernanceResult:
        return self.govern([self.action_suspend_node(node, reason)])

    def reactivate_node(self, node: str, *, share_code: bool = False) -> GovernanceResult:
        return self.govern([self.action_reactivate_node(node, share_code=share_code)])

    def rotate_node_key(self, current_key: str, new_key: str) -> GovernanceResult:
        """Move the node at `current_key` to `new_key`: a governance decision, routine
        rotations included (a node cannot rotate itself, or a stolen key could outrun a
        pending suspension)."""
        return self.govern([self.action_rotate_node_key(current_key, new_key)])

    def withdraw_head(self, node: str, root: bytes, reason: str) -> GovernanceResult:
        """Withdraw the head `node` anchored with `root`."""
        return self.govern([self.action_withdraw_head(node, root, reason)])

    def set_governance(
        self, members: Sequence[str], threshold: int, timelock: int
    ) -> GovernanceResult:
        """Replace the governance set (every open proposal becomes stale)."""
        return self.govern([self.action_set_governance(members, threshold, timelock)])

    def govern(self, actions: Sequence[bytes], description: str = "") -> GovernanceResult:
        """Propose `actions`; execute them at once if the proposal is ready. A single action
        the registry would refuse now raises its error before anything is sent."""
        if len(actions) == 1 and self.is_governance_member(self._sender().address):
            self.check_action(actions[0])
        proposal_id, proposed = self.propose(actions, description)
        if self.get_proposal(proposal_id, with_actions=False).state is not ProposalState.READY:
            return GovernanceResult(**vars(proposed), proposal_id=proposal_id, proposal_tx=proposed)
        executed = self.execute(proposal_id, actions)
        return GovernanceResult(
            **vars(executed), proposal_id=proposal_id, executed=True, proposal_tx=proposed
        )

    # Actions: ABI-encoded calls of the registry's governed functions, for `propose`.

    def action_register_node(
        self, node: str, lg_code: int, name: str, *, share_code: bool = False
    ) -> bytes:
        return self._encode("registerNode", to_checksum_address(node), lg_code, name, share_code)

    def action_suspend_node(self, node: str, reason: str) -> bytes:
        return self._encode("suspendNode", to_checksum_address(node), reason)

    def action_reactivate_node(self, node: str, *, share_code: bool = False) -> bytes:
        return self._encode("reactivateNode", to_checksum_address(node), share_code)

    def action_rotate_node_key(self, current_key: str, new_key: str) -> bytes:
        return self._encode(
            "rotateNodeKey", to_checksum_address(current_key), to_checksum_address(new_key)
        )

    def action_withdraw_head(self, node: str, root: bytes, reason: str) -> bytes:
        return self._encode("withdrawHead", to_checksum_address(node), _bytes32(root), reason)

    def action_set_governance(self, members: Sequence[str], threshold: int, timelock: int) -> bytes:
        return self._encode(
            "setGovernance", [to_checksum_address(m) for m in members], threshold, timelock
        )

    def decode_action(self, data: bytes) -> GovernanceAction:
        """The function and arguments of an encoded action (ValueError if not a governed one
        or if its arguments do not decode)."""
        try:
            function, args = self.contract.decode_function_input(HexBytes(data))
        except DecodingError as error:
            raise ValueError(f"action 0x{bytes(data).hex()} does not decode: {error}") from None
        name = function.fn_name
        if name not in GOVERNED_FUNCTIONS:
            raise ValueError(f"{name} is not a governance action")
        return GovernanceAction(
            function=name, args={k: _plain_arg(v) for k, v in args.items()}, data=bytes(data)
        )

    def _decode_or_raw(self, data: bytes) -> GovernanceAction:
        """The decoded action, or its raw bytes if it does not decode (an older or tampered
        registry may hold such actions: reading them must not fail)."""
        try:
            return self.decode_action(data)
        except (ValueError, LookupError, DecodingError):
            return GovernanceAction.raw(data)

    def check_action(self, action: bytes, block: BlockIdentifier = "latest") -> None:
        """Simulate `action` as an executed proposal would run it (a call from the registry to
        itself) and raise the registry's error if it would be refused now."""
        self.decode_action(action)
        with translate_transport_errors(self._endpoint()):
            try:
                self.w3.eth.call(
                    {"from": self.address, "to": self.address, "data": HexBytes(action)},
                    block_identifier=block,
                )
            except ContractLogicError as error:
                raise self.decode_revert(error) from None

    # Proposals, step by step.

    def propose(self, actions: Sequence[bytes], description: str = "") -> tuple[int, TxResult]:
        """Propose `actions` (this client's key must be a member; its approval counts)."""
        if not actions:
            raise ValueError("a proposal needs at least one action")
        result = self._transact("propose", [bytes(a) for a in actions], description)
        created = [e for e in self._receipt_events(result, "ProposalCreated")]
        if len(created) != 1:
            raise AnchorError(f"transaction {result.tx_hash} created no proposal")
        return int(created[0]["id"]), result

    def approve(self, proposal_id: int) -> TxResult:
        return self._transact("approve", proposal_id)

    def revoke_approval(self, proposal_id: int) -> TxResult:
        return self._transact("revokeApproval", proposal_id)

    def cancel(self, proposal_id: int) -> TxResult:
        return self._transact("cancel", proposal_id)

    def execute(self, proposal_id: int, actions: Sequence[bytes] | None = None) -> TxResult:
        """Execute a ready proposal; its actions are read from its `ProposalCreated` event
        unless given."""
        if actions is None:
            proposal = self.get_proposal(proposal_id)
            if proposal.state is ProposalState.UNKNOWN:
                raise REGISTRY_ERRORS["UnknownProposal"]({"id": proposal_id})
            if proposal.actions is None:
                raise AnchorError(
                    f"cannot read the actions of proposal {proposal_id} from block "
                    f"{proposal.created_block}"
                )
            actions = [a.data for a in proposal.actions]
        return self._transact("execute", proposal_id, [bytes(a) for a in actions])

    # ------------------------------------------------------------------ anchoring

    def anchor(self, seq: int, tree_size: int, root: bytes) -> TxResult:
        """Anchor the sending key's next head (exactly-once is the contract's rule)."""
        return self._transact("anchor", seq, tree_size, _bytes32(root))

    def send_anchor(self, seq: int, tree_size: int, root: bytes) -> str:
        """Submit an anchor without waiting; pair with `wait`.

        No gas estimate: a node pipelines heads, and head `seq` is only valid once `seq - 1`
        is mined. An anchor's gas does not depend on the batch (about 77k for a node's
        first head, 60k after), so a fixed limit covers it."""
        call = self.contract.functions.anchor(seq, tree_size, _bytes32(root))
        return self._sender().send(call, gas_limit=ANCHOR_GAS_LIMIT)

    def wait(self, tx_hash: str) -> TxResult:
        return self._sender().wait(tx_hash)

    # ------------------------------------------------------------------ signed heads

    def chain_id(self) -> int:
        if self._chain_id is None:
            with translate_transport_errors(self._endpoint()):
                self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def sign_head(self, seq: int, tree_size: int, root: bytes) -> SignedHead:
        """This client's key signs its node's head for `anchorMany` (sent by any relayer)."""
        account = self._sender().account
        return _sign_head(
            account,
            chain_id=self.chain_id(),
            registry=self.address,
            seq=seq,
            tree_size=tree_size,
            root=_bytes32(root),
        )

    def head_signer(self, head: SignedHead) -> str | None:
        """Who signed `head` for this registry (None if the signature is unusable): a
        relayer checks `head_signer(head) == head.node` before spending gas on it."""
        return head_signer(head, chain_id=self.chain_id(), registry=self.address)

    def anchor_many(self, heads: Sequence[SignedHead]) -> BatchResult:
        """Send heads of any nodes in one transaction and report each head's outcome."""
        return self.wait_many(self.send_anchor_many(heads))

    def send_anchor_many(self, heads: Sequence[SignedHead], gas_limit: int | None = None) -> str:
        """Submit `anchorMany(heads)` without waiting; pair with `wait_many`.

        No gas estimate by default: the outcome of each head depends on batches still in
        flight, and a bad head is skipped, not reverted, so an estimate could be short. The
        fixed limit covers every head being a node's first (the dearest case); unused gas is
        not paid for."""
        if not heads:
            raise ValueError("anchorMany needs at least one head")
        call = self.contract.functions.anchorMany([h.as_abi() for h in heads])
        limit = gas_limit or ANCHOR_MANY_BASE_GAS + ANCHOR_MANY_HEAD_GAS * len(heads)
        return self._sender().send(call, gas_limit=limit)

    def wait_many(self, tx_hash: str) -> BatchResult:
        """Wait for an `anchorMany` and decode its `HeadAnchored` and `HeadSkipped` logs."""
        result = self._sender().wait(tx_hash)
        return self.batch_result(result)

    def batch_result(self, result: TxResult) -> BatchResult:
        """The per-head outcome of the mined `anchorMany` transaction `result`."""
        with translate_transport_errors(self._endpoint()):
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(result.tx_hash))
        anchored_event = self.contract.events.HeadAnchored()
        skipped_event = self.contract.events.HeadSkipped()
        anchored_topic = _event_topic(anchored_event.abi)
        skipped_topic = _event_topic(skipped_event.abi)
        anchored: list[AnchoredHeadEvent] = []
        skipped: list[SkippedHead] = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != self.address or not log["topics"]:
                continue
            topic = bytes(log["topics"][0])
            if topic == anchored_topic:
                anchored.append(_anchored_head(anchored_event.process_log(log)["args"], log))
            elif topic == skipped_topic:
                args = skipped_event.process_log(log)["args"]
                skipped.append(
                    SkippedHead(
                        node=to_checksum_address(args["node"]),
                        seq=int(args["seq"]),
                        reason=self.decode_revert.name_of(bytes(args["reason"])),
                    )
                )
        return BatchResult(tx=result, anchored=tuple(anchored), skipped=tuple(skipped))

    # ------------------------------------------------------------------ reads

    def governance_config(self, block: BlockIdentifier = "latest") -> GovernanceConfig:
        return GovernanceConfig(
            members=tuple(
                to_checksum_address(m) for m in self._call("governanceMembers", block=block)
            ),
            threshold=int(self._call("threshold", block=block)),
            timelock=int(self._call("timelock", block=block)),
            epoch=int(self._call("governanceEpoch", block=block)),
        )

    def is_governance_member(self, account: str, block: BlockIdentifier = "latest") -> bool:
        return bool(self._call("isGovernanceMember", to_checksum_address(account), block=block))

    def proposal_count(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("proposalCount", block=block))

    def has_approved(
        self, proposal_id: int, member: str, block: BlockIdentifier = "latest"
    ) -> bool:
        return bool(
            self._call("hasApproved", proposal_id, to_checksum_address(member), block=block)
        )

    def active_node_count(self, lg_code: int, block: BlockIdentifier = "latest") -> int:
        return int(self._call("activeNodeCount", lg_code, block=block))

    def get_proposal(
        self, proposal_id: int, block: BlockIdentifier = "latest", *, with_actions: bool = True
    ) -> Proposal:
        """A proposal's state; with its actions and description from its `ProposalCreated`
        event (checked against the hash the registry stores)."""
        raw = self._call("getProposal", proposal_id, block=block)
        proposer, state, epoch, approvals, created_block, created_at, ready_at, expires, digest = (
            tuple(raw)
        )
        proposal = Proposal(
            id=proposal_id,
            proposer=to_checksum_address(proposer),
            state=ProposalState(state),
            epoch=epoch,
            approvals=approvals,
            created_block=created_block,
            created_at=created_at,
            ready_at=ready_at,
            expires_at=expires,
            actions_hash=bytes(digest),
        )
        if not with_actions or proposal.state is ProposalState.UNKNOWN:
            return proposal
        topic = "0x" + proposal_id.to_bytes(32, "big").hex()
        for event in self.iter_events(
            ["ProposalCreated"], created_block, created_block, extra_topics=[topic]
        ):
            data = [bytes(a) for a in event.args["actions"]]  # type: ignore[attr-defined]
            if keccak(abi_encode(["bytes[]"], [data])) != proposal.actions_hash:
                raise AnchorError(
                    f"the ProposalCreated event of proposal {proposal_id} does not match the "
                    "actions hash the registry stores"
                )
            return Proposal(
                **{
                    **vars(proposal),
                    "actions": tuple(self._decode_or_raw(a) for a in data),
                    "description": str(event.args["description"]),
                }
            )
        return proposal

    def iter_proposals(self, block: BlockIdentifier = "latest") -> Iterator[Proposal]:
        """Every proposal, oldest first, with its actions."""
        for proposal_id in range(1, self.proposal_count(block) + 1):
            yield self.get_proposal(proposal_id, block)

    def get_node(self, node: str, block: BlockIdentifier = "latest") -> NodeRecord:
        return node_record(node, self._call("getNode", to_checksum_address(node), block=block))

    def next_seq(self, node: str, block: BlockIdentifier = "latest") -> int:
        return int(self._call("nextSeq", to_checksum_address(node), block=block))

    def latest_head(self, node: str, block: BlockIdentifier = "latest") -> TreeHead | None:
        """The node's newest anchored head, or None before its first anchor."""
        seq, tree_size, root = self._call("latestHead", to_checksum_address(node), block=block)
        return None if tree_size == 0 else TreeHead(seq=seq, tree_size=tree_size, root=bytes(root))

    def get_anchor(
        self, node: str, root: bytes, block: BlockIdentifier = "latest"
    ) -> AnchorRecord | None:
        """Where and when `node` anchored `root`, or None if it never did."""
        fields = self._call("getAnchor", to_checksum_address(node), _bytes32(root), block=block)
        return anchor_record(root, fields)

    def node_addresses(self, block: BlockIdentifier = "latest") -> list[str]:
        """Every address ever registered (rotated keys included), in registration order."""
        count = int(self._call("nodeCount", block=block))
        return [to_checksum_address(self._call("nodeAt", i, block=block)) for i in range(count)]

    def runtime_code(self, block: BlockIdentifier = "latest") -> bytes:
        with translate_transport_errors(self._endpoint()):
            return bytes(self.w3.eth.get_code(self.address, block_identifier=block))

    # ------------------------------------------------------------------ chain state

    def block_number(self) -> int:
        """The number of the chain's newest block."""
        with translate_transport_errors(self._endpoint()):
            return int(self.w3.eth.block_number)

    def block(self, number: int) -> BlockInfo | None:
        """The canonical block at `number`, or None past the chain's head."""
        with translate_transport_errors(self._endpoint()):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
        return BlockInfo(
            number=int(block["number"]),
            hash="0x" + bytes(block["hash"]).hex(),
            timestamp=int(block["timestamp"]),
        )

    def receipt(self, tx_hash: str) -> MinedTransaction | None:
        """The receipt of transaction `tx_hash`, or None while it is not mined (pending, or
        unknown to the engine: see `transaction_known`)."""
        with translate_transport_errors(self._endpoint()):
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
        return MinedTransaction(
            tx_hash=tx_hash,
            succeeded=receipt["status"] == 1,
            block_number=int(receipt["blockNumber"]),
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            sender=to_checksum_address(receipt["from"]),
        )

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the engine holds transaction `tx_hash`, pending or mined."""
        with translate_transport_errors(self._endpoint()):
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
        return True

    def finality_depth(
        self, configured: int | None = None, *, fallback: int = DEFAULT_FINALITY_DEPTH
    ) -> FinalityDepth:
        """Blocks on top of a block before it is final: `configured` if set; else
        floor(N/2)+1 for the N signers `clique_getSigners` reports; else `fallback`, with a
        warning, for an engine that does not report Clique signers (anvil, Besu/QBFT), whose
        operator should configure the engine's own rule. An unreachable endpoint raises
        `ChainUnavailableError`: the caller asks again later."""
        if configured is not None:
            return FinalityDepth(configured, "configured")
        with translate_transport_errors(self._endpoint()):
            try:
                response: Any = self.w3.provider.make_request(RPCEndpoint("clique_getSigners"), [])
            except requests.HTTPError as error:
                status = error.response.status_code if error.response is not None else None
                if status is None or status >= 500 or status == 429:
                    raise  # the endpoint did not answer: ChainUnavailableError
                response = {"error": f"HTTP {status}"}  # an engine refusing the method
        result = response.get("result") if isinstance(response, dict) else None
        if isinstance(result, list) and result:
            return clique_finality(len(result))
        why = response.get("error") if isinstance(response, dict) else response
        log.warning(
            "the chain does not report its Clique signers (clique_getSigners: %s): finality "
            "depth falls back to %d blocks; set finality_depth to the engine's own rule",
            why,
            fallback,
        )
        return FinalityDepth(fallback, "fallback: the chain does not report Clique signers")

    def endpoint_in_use(self) -> dict[str, Any]:
        """The JSON-RPC endpoint reads and transactions go to now, safe to show."""
        return endpoint_in_use(self.w3)

    # ------------------------------------------------------------------ events

    def iter_anchored_heads(
        self,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        node: str | None = None,
        page_size: int = DEFAULT_LOG_PAGE,
    ) -> Iterator[AnchoredHeadEvent]:
        """Every `HeadAnchored` log in the range, oldest first, read in pages."""
        node_topic = _address_topic(node) if node else None
        for event in self.iter_events(
            ["HeadAnchored"], from_block, to_block, page_size=page_size, extra_topics=[node_topic]
        ):
            yield _anchored_event(event.args, event)

    def iter_events(
        self,
        names: Sequence[str] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        page_size: int = DEFAULT_LOG_PAGE,
        extra_topics: Sequence[str | None] = (),
    ) -> Iterator[RegistryEvent]:
        """Registry logs (all, or those named) in block pages; a page the engine refuses
        as too large is halved and retried, so millions of anchors stream in bounded memory."""
        events = {e.event_name: e for e in self.contract.all_events()}
        wanted = list(names) if names is not None else list(events)
        unknown = [n for n in wanted if n not in events]
        if unknown:
            raise AnchorError(f"registry has no event named {', '.join(unknown)}")
        by_topic = {_event_topic(events[n].abi): events[n] for n in wanted}
        topics: list[Any] = [["0x" + t.hex() for t in by_topic]]
        topics += list(extra_topics)
        while topics and topics[-1] is None:
            topics.pop()
        with translate_transport_errors(self._endpoint()):
            last = self.w3.eth.block_number if to_block is None else to_block
        start, page = from_block, max(page_size, 1)
        while start <= last:
            end = min(start + page - 1, last)
            params: FilterParams = {
                "address": self.address,
                "fromBlock": start,
                "toBlock": end,
                "topics": topics,
            }
            try:
                with translate_transport_errors(self._endpoint()):
                    logs: list[LogReceipt] = self.w3.eth.get_logs(params)
            except ChainRPCError as error:
                # Engines cap a query's block range or result count; a smaller page fits.
                if page > MIN_LOG_PAGE:
                    page //= 2
                    continue
                raise AnchorError(f"eth_getLogs {start}-{end} failed: {error}") from None
            for log in logs:
                decoded = by_topic[bytes(log["topics"][0])].process_log(log)
                yield RegistryEvent(
                    name=decoded["event"],
                    args=dict(decoded["args"]),
                    block_number=log["blockNumber"],
                    block_hash="0x" + bytes(log["blockHash"]).hex(),
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    log_index=log["logIndex"],
                )
            start = end + 1

    # ------------------------------------------------------------------ plumbing

    def _sender(self) -> TransactionSender:
        if self.sender is None:
            raise AnchorError("this RegistryClient has no account; pass one to send transactions")
        return self.sender

    def _transact(self, function: str, *args: Any) -> TxResult:
        return self._sender().transact(self.contract.functions[function](*args))

    def _encode(self, function: str, *args: Any) -> bytes:
        return bytes(HexBytes(self.contract.encode_abi(function, args=list(args))))

    def _receipt_events(self, result: TxResult, name: str) -> list[dict[str, Any]]:
        with translate_transport_errors(self._endpoint()):
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(result.tx_hash))
        event = self.contract.events[name]()
        topic = _event_topic(event.abi)
        return [
            dict(event.process_log(log)["args"])
            for log in receipt["logs"]
            if to_checksum_address(log["address"]) == self.address
            and log["topics"]
            and bytes(log["topics"][0]) == topic
        ]

    def _call(self, function: str, *args: Any, block: BlockIdentifier) -> Any:
        with translate_transport_errors(self._endpoint()):
            try:
                return self.contract.functions[function](*args).call(block_identifier=block)
            except ContractLogicError as error:
                raise self.decode_revert(error) from None

    def _endpoint(self) -> str:
        return str(getattr(self.w3.provider, "endpoint_uri", "the JSON-RPC endpoint"))


def encode_action(contract: Contract, function: str, *args: Any) -> bytes:
    """An action for `propose`, encoded offline (bulk set-ups that sign raw transactions)."""
    if function not in GOVERNED_FUNCTIONS:
        raise ValueError(f"{function} is not a governance action")
    return bytes(HexBytes(contract.encode_abi(function, args=list(args))))


def propose_and_execute_data(
    contract: Contract, actions: Sequence[bytes], proposal_id: int, description: str = ""
) -> tuple[bytes, bytes]:
    """Calldata of `propose(actions)` and of `execute(proposal_id, actions)`. With a 1-of-1
    governance and no timelock the one member sends both back to back (consecutive nonces; the
    execution may share the proposal's block): how development and benchmark set-ups
    register many nodes without waiting for receipts. `proposal_id` is the id the proposal
    will get: `proposalCount() + 1` when the member is the only proposer."""
    data = [bytes(a) for a in actions]
    propose = contract.encode_abi("propose", args=[data, description])
    execute = contract.encode_abi("execute", args=[proposal_id, data])
    return bytes(HexBytes(propose)), bytes(HexBytes(execute))


def _anchored_event(args: Any, where: RegistryEvent) -> AnchoredHeadEvent:
    return AnchoredHeadEvent(
        node=to_checksum_address(args["node"]),
        lg_code=int(args["lgCode"]),
        seq=int(args["seq"]),
        tree_size=int(args["treeSize"]),
        root=bytes(args["root"]),
        previous_tree_size=int(args["previousTreeSize"]),
        previous_root=bytes(args["previousRoot"]),
        block_number=where.block_number,
        block_hash=where.block_hash,
        tx_hash=where.tx_hash,
        log_index=where.log_index,
    )


def _anchored_head(args: Any, log: Any) -> AnchoredHeadEvent:
    return _anchored_event(
        args,
        RegistryEvent(
            name="HeadAnchored",
            args={},
            block_number=int(log["blockNumber"]),
            block_hash="0x" + bytes(log["blockHash"]).hex(),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            log_index=int(log["logIndex"]),
        ),
    )


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def _event_topic(abi: Any) -> bytes:
    types = ",".join(_abi_type(i) for i in abi["inputs"])
    return keccak(text=f"{abi['name']}({types})")


def _address_topic(address: str) -> str:
    return "0x" + "00" * 12 + to_checksum_address(address)[2:].lower()


def _bytes32(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError("a tree root must be exactly 32 bytes")
    return bytes(value)


def _plain_arg(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain_arg(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytes | bytearray) else value


def _revert_data(error: ContractLogicError) -> bytes | None:
    data = error.data
    if isinstance(data, dict):
        data = data.get("data") or next(iter(data.values()), None)
    if not isinstance(data, str) or not data.startswith("0x"):
        return None
    try:
        return bytes.fromhex(data[2:])
    except ValueError:
        return None
