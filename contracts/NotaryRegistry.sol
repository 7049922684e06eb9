// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title NotaryRegistry
/// @notice Anchors the tree heads of each municipality's append-only RFC 6962 log.
/// @dev Exactly-once anchoring is enforced here, not in the nodes: a head is accepted only
///      with the node's next sequence number and a tree size that never shrinks, so a node
///      that crashes and restarts reads `nextSeq` and can neither anchor twice nor skip.
///      The chain holds tree heads only, never personal data. No immutables are used, so
///      the deployed runtime code equals the compiled artifact byte for byte (auditors
///      compare the two).
///      Heads reach the registry in one of two ways: `anchor`, sent by the node's own key, or
///      `anchorMany`, sent by any relayer with heads each signed by its node's key (EIP-712).
///      Both apply the same rules and emit the same `HeadAnchored` event.
///      Node identity is governed by a consortium, not by one key: a governance member
///      proposes a list of actions (register, suspend, reactivate, rotate a node's key,
///      withdraw a head, change the governance set), `threshold` members approve it, and
///      after `timelock` seconds anyone executes it. Each action is a call of this contract to
///      itself, so the functions that change nodes refuse every other caller, the node's own
///      key included: a node cannot rotate itself out of governance's reach.
contract NotaryRegistry {
    /// @notice Lifecycle of an anchoring key. `Retired` keys were rotated away from.
    enum NodeStatus {
        Unregistered,
        Active,
        Suspended,
        Retired
    }

    /// @notice Where a governance proposal stands.
    /// @dev Pending: fewer approvals than the threshold. Queued: threshold reached, timelock
    ///      running. Ready: executable now. Stale: the governance set changed since it was
    ///      proposed (approvals of another set never count).
    enum ProposalState {
        Unknown,
        Pending,
        Queued,
        Ready,
        Executed,
        Cancelled,
        Expired,
        Stale
    }

    /// @notice A municipal node, keyed by its current anchoring address.
    /// @dev `anchor` touches two slots of it: the first (code, status, nextSeq, treeSize)
    ///      and `root`; `successor` and `name` are written only on registration and rotation.
    struct Node {
        uint32 lgCode; // 全国地方公共団体コード, 6 digits with check digit
        NodeStatus status;
        uint64 nextSeq; // sequence number the next anchored head must carry
        uint64 treeSize; // size of the latest anchored head
        address successor; // set when the key was rotated (status Retired)
        bytes32 root; // root of the latest anchored head
        string name;
    }

    /// @notice What the registry knows about an anchored root.
    struct AnchorRecord {
        address node;
        uint64 seq;
        uint64 treeSize;
        uint64 blockNumber;
        uint64 timestamp;
        bool withdrawn;
    }

    /// @dev `AnchorRecord` packed into one storage slot: one new slot per anchor is what
    ///      keeps `anchor` far below 100k gas.
    struct StoredAnchor {
        uint64 seq;
        uint64 treeSize;
        uint48 blockNumber;
        uint40 timestamp;
        bool withdrawn;
    }

    /// @notice One tree head signed by its node's anchoring key, as `anchorMany` takes it.
    /// @dev The signature is EIP-712 over `Head(address node,uint64 seq,uint64 treeSize,bytes32 root)`
    ///      in the domain {name "NotaryRegistry", version `VERSION`, chainId, this contract};
    ///      `v` is 27 or 28 and `s` in the lower half of the curve order (no malleable copies).
    struct SignedHead {
        address node;
        uint64 seq;
        uint64 treeSize;
        bytes32 root;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A governance proposal. Its actions are not stored, only their hash: they are in
    ///         the `ProposalCreated` event (block `createdBlock`) and are given again to `execute`.
    struct Proposal {
        address proposer;
        uint32 epoch; // governance set it was proposed under
        uint16 approvals;
        bool executed;
        bool cancelled;
        uint64 createdBlock;
        uint64 createdAt;
        uint64 readyAt; // 0 until the threshold is reached; then that time + timelock
        uint64 expiresAt;
        bytes32 actionsHash; // keccak256(abi.encode(actions))
    }

    /// @notice A proposal as `getProposal` returns it.
    struct ProposalView {
        address proposer;
        ProposalState state;
        uint32 epoch;
        uint16 approvals;
        uint64 createdBlock;
        uint64 createdAt;
        uint64 readyAt;
        uint64 expiresAt;
        bytes32 actionsHash;
    }

    /// @notice Version of this registry's anchoring rules; the EIP-712 domain's `version`.
    ///         Version 1 was the registry without `anchorMany`. Governance does not sign heads,
    ///         so the consortium governance left the version unchanged.
    string public constant VERSION = "2";

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("NotaryRegistry");
    bytes32 private constant VERSION_HASH = keccak256(bytes(VERSION));
    /// @notice EIP-712 type hash of a signed head.
    bytes32 public constant HEAD_TYPEHASH =
        keccak256("Head(address node,uint64 seq,uint64 treeSize,bytes32 root)");

    /// @notice Most members a governance set may have.
    uint256 public constant MAX_MEMBERS = 64;
    /// @notice Longest timelock governance may set (a longer one could freeze governance).
    uint32 public constant MAX_TIMELOCK = 30 days;
    /// @notice A proposal expires this long after its creation plus the timelock then in force;
    ///         once it reaches the threshold, never less than this long after its `readyAt`
    ///         (a proposal approved late still gets a full execution window).
    uint64 public constant PROPOSAL_LIFETIME = 14 days;

    mapping(address => Node) private _nodes;
    /// @dev Keyed by node and root: a root is the node's own claim, so no node can block
    ///      another's next head by anchoring a copy of its root first.
    mapping(address => mapping(bytes32 => StoredAnchor)) private _anchors;
    address[] private _nodeAddresses;
    /// @dev Active nodes per local-government code: one, unless governance decided otherwise.
    mapping(uint32 => uint32) private _activeNodes;

    address[] private _members;
    mapping(address => bool) private _isMember;
    /// @notice Approvals a proposal needs.
    uint16 public threshold;
    /// @notice Seconds between a proposal reaching the threshold and its execution.
    uint32 public timelock;
    /// @notice Increments with every change of the governance set; proposals of an older
    ///         epoch can no longer be approved or executed.
    uint32 public governanceEpoch;
    /// @notice Number of proposals ever made; ids run from 1 to this.
    uint64 public proposalCount;
    mapping(uint256 => Proposal) private _proposals;
    mapping(uint256 => mapping(address => bool)) private _approved;

    /// @notice A node was registered for a local government.
    event NodeRegistered(address indexed node, uint32 indexed lgCode, string name);
    /// @notice Governance suspended a node; its further anchors are refused.
    event NodeSuspended(address indexed node, uint32 indexed lgCode, string reason);
    /// @notice Governance lifted a suspension.
    event NodeReactivated(address indexed node, uint32 indexed lgCode);
    /// @notice The node's anchoring key moved to `newKey`; sequence and head move with it.
    event NodeKeyRotated(address indexed previousKey, address indexed newKey, uint32 indexed lgCode);
    /// @notice Governance explicitly let `node` be active beside other active nodes of its
    ///         code (`activeNodes` counts them all, `node` included).
    event LocalGovernmentCodeShared(uint32 indexed lgCode, address indexed node, uint32 activeNodes);
    /// @notice A tree head was anchored. `previousTreeSize`/`previousRoot` let an auditor pair
    ///         consecutive heads for consistency proofs without extra reads.
    event HeadAnchored(
        address indexed node,
        uint32 indexed lgCode,
        uint64 indexed seq,
        uint64 treeSize,
        bytes32 root,
        uint64 previousTreeSize,
        bytes32 previousRoot
    );
    /// @notice `anchorMany` left out one head; the others in the batch were still anchored.
    ///         `reason` is the selector of the error `anchor` would have reverted with
    ///         (`InvalidSignature` for a signature that is not the node's). Anyone can relay,
    ///         so a skip says nothing about the node: it is the relayer's report, no more.
    event HeadSkipped(address indexed node, uint64 seq, bytes4 reason);
    /// @notice Governance withdrew a head (e.g. key compromise); verifiers must reject it.
    event HeadWithdrawn(bytes32 indexed root, address indexed node, uint64 indexed seq, string reason);
    /// @notice The governance set changed (epoch 1: the constructor's).
    event GovernanceChanged(uint32 indexed epoch, address[] members, uint16 threshold, uint32 timelock);
    /// @notice A member proposed `actions` (ABI-encoded calls of this registry to itself).
    event ProposalCreated(
        uint256 indexed id,
        address indexed proposer,
        uint32 indexed epoch,
        uint64 expiresAt,
        bytes[] actions,
        string description
    );
    /// @notice A member approved a proposal; `readyAt` is non-zero once the threshold is
    ///         reached: the time from which it may be executed.
    event ProposalApproved(uint256 indexed id, address indexed member, uint16 approvals, uint64 readyAt);
    /// @notice A member withdrew an approval before execution.
    event ProposalApprovalRevoked(uint256 indexed id, address indexed member, uint16 approvals);
    /// @notice The proposal's actions were carried out (their own events precede this one).
    event ProposalExecuted(uint256 indexed id, address indexed executor);
    /// @notice The proposer cancelled the proposal.
    event ProposalCancelled(uint256 indexed id, address indexed by);

    /// @notice A node-governing function was called directly; it runs only inside `execute`.
    error NotGovernance(address caller);
    /// @notice The caller is not a member of the governance set.
    error NotGovernanceMember(address caller);
    /// @notice Members must be 1–`MAX_MEMBERS` distinct non-zero addresses, the threshold 1 to
    ///         their number, the timelock at most `MAX_TIMELOCK`.
    error InvalidGovernance();
    /// @notice A proposal needs at least one action.
    error EmptyProposal();
    /// @notice A proposal's action is not a governance function of this registry.
    error UnsupportedAction(bytes4 selector);
    /// @notice A proposal's action (0-based `index`) names a governance function but its
    ///         arguments do not decode as that function's.
    error MalformedAction(uint256 index, bytes4 selector);
    /// @notice No proposal has this id.
    error UnknownProposal(uint256 id);
    /// @notice The proposal is executed, cancelled, expired or stale.
    error ProposalClosed(uint256 id, ProposalState state);
    /// @notice The member approved this proposal already.
    error AlreadyApproved(uint256 id, address member);
    /// @notice The member has not approved this proposal.
    error NotApproved(uint256 id, address member);
    /// @notice The proposal has fewer approvals than the threshold.
    error ThresholdNotReached(uint256 id, uint16 approvals, uint16 threshold);
    /// @notice The timelock has not passed; the proposal can be executed from `readyAt`.
    error TimelockNotPassed(uint256 id, uint64 readyAt);
    /// @notice The actions given to `execute` are not the ones proposed.
    error ActionsMismatch(uint256 id);
    /// @notice Only the proposer may cancel a proposal.
    error NotProposer(uint256 id, address caller);
    /// @notice Another node of this code is active and governance did not allow sharing it.
    error LocalGovernmentCodeInUse(uint32 lgCode);
    /// @notice The zero address cannot be a node or a governance member.
    error ZeroAddress();
    /// @notice The registry's own address cannot be a node (it is the governance caller).
    error RegistryAddress();
    /// @notice The code is not a valid 6-digit local-government code (prefecture 01–47, check digit).
    error InvalidLocalGovernmentCode(uint32 lgCode);
    /// @notice A node name must be 1–128 bytes.
    error InvalidName();
    /// @notice The address is (or was) already a node key; keys are never reused.
    error NodeAlreadyRegistered(address node);
    /// @notice The address is not a registered node.
    error NodeNotRegistered(address node);
    /// @notice The node is suspended or its key was retired.
    error NodeNotActive(address node, NodeStatus status);
    /// @notice The node is not suspended, so it cannot be reactivated.
    error NodeNotSuspended(address node);
    /// @notice `seq` must equal the node's next sequence number.
    error WrongSequence(uint64 expected, uint64 given);
    /// @notice A head's tree size may never be smaller than the previous head's.
    error TreeSizeShrank(uint64 previous, uint64 given);
    /// @notice A head of the same size must have the same root (anything else is a fork).
    error RootChangedWithoutGrowth(bytes32 previousRoot, bytes32 given);
    /// @notice The root is zero or an empty tree; nothing to anchor.
    error EmptyHead();
    /// @notice This node anchored this root before.
    error RootAlreadyAnchored(bytes32 root);
    /// @notice A signed head's signature is malformed, malleable, or not by the head's node.
    error InvalidSignature();
    /// @notice `anchorMany` was called without heads.
    error EmptyBatch();
    /// @notice The node never anchored this root.
    error UnknownRoot(address node, bytes32 root);
    /// @notice The head was already withdrawn.
    error HeadAlreadyWithdrawn(bytes32 root);

    /// @dev Node-governing functions run only as actions of an executed proposal.
    modifier onlyGovernance() {
        if (msg.sender != address(this)) revert NotGovernance(msg.sender);
        _;
    }

    modifier onlyMember() {
        if (!_isMember[msg.sender]) revert NotGovernanceMember(msg.sender);
        _;
    }

    /// @param members The governance set, e.g. the validator municipalities' governance keys.
    /// @param threshold_ Approvals a proposal needs (1 to the number of members).
    /// @param timelock_ Seconds between reaching the threshold and execution (0 for development).
    constructor(address[] memory members, uint16 threshold_, uint32 timelock_) {
        _setGovernance(members, threshold_, timelock_);
    }

    // ------------------------------------------------------------------ proposals

    /// @notice Propose actions: ABI-encoded calls of `registerNode`, `suspendNode`,
    ///         `reactivateNode`, `rotateNodeKey`, `withdrawHead` or `setGovernance`, carried out
    ///         in order, all or none. The proposer's approval is counted.
    /// @param description Why, for the record (no personal data: it is public for good).
    /// @return id The proposal's id.
    function propose(bytes[] calldata actions, string calldata description)
        external
        onlyMember
        returns (uint256 id)
    {
        uint256 count = actions.length;
        if (count == 0) revert EmptyProposal();
        for (uint256 i = 0; i < count; ++i) {
            // Every action must decode, so that members, clients and auditors can read what
            // they approve: `validateAction` reverts on anything else.
            try this.validateAction(actions[i]) {}
            catch (bytes memory refusal) {
                if (bytes4(refusal) == UnsupportedAction.selector) {
                    assembly ("memory-safe") {
                        revert(add(refusal, 0x20), mload(refusal))
                    }
                }
                revert MalformedAction(i, bytes4(actions[i]));
            }
        }
        id = ++proposalCount;
        Proposal storage p = _proposals[id];
        p.proposer = msg.sender;
        p.epoch = governanceEpoch;
        p.createdBlock = uint64(block.number);
        p.createdAt = uint64(block.timestamp);
        p.expiresAt = uint64(block.timestamp) + timelock + PROPOSAL_LIFETIME;
        p.actionsHash = keccak256(abi.encode(actions));
        emit ProposalCreated(id, msg.sender, governanceEpoch, p.expiresAt, actions, description);
        _approve(id, p);
    }

    /// @notice Approve a pending or queued proposal.
    function approve(uint256 id) external onlyMember {
        Proposal storage p = _openProposal(id);
        if (_approved[id][msg.sender]) revert AlreadyApproved(id, msg.sender);
        _approve(id, p);
    }

    /// @notice Withdraw one's approval before execution; below the threshold the timelock
    ///         starts again when it is reached again.
    function revokeApproval(uint256 id) external onlyMember {
        Proposal storage p = _openProposal(id);
        if (!_approved[id][msg.sender]) revert NotApproved(id, msg.sender);
        _approved[id][msg.sender] = false;
        uint16 approvals = p.approvals - 1;
        p.approvals = approvals;
        if (approvals < threshold) p.readyAt = 0;
        emit ProposalApprovalRevoked(id, msg.sender, approvals);
    }

    /// @notice Cancel a proposal that has not been executed (its proposer only).
    function cancel(uint256 id) external {
        Proposal storage p = _openProposal(id);
        if (msg.sender != p.proposer) revert NotProposer(id, msg.sender);
        p.cancelled = true;
        emit ProposalCancelled(id, msg.sender);
    }

    /// @notice Carry out a proposal once approved by the threshold and past its timelock.
    ///         Anyone may send it: the decision was the members'. If one action fails, the
    ///         whole execution reverts with that action's error and the proposal stays open.
    /// @param actions The proposal's actions, exactly as in its `ProposalCreated` event.
    function execute(uint256 id, bytes[] calldata actions) external {
        Proposal storage p = _openProposal(id);
        if (p.readyAt == 0) revert ThresholdNotReached(id, p.approvals, threshold);
        if (block.timestamp < p.readyAt) revert TimelockNotPassed(id, p.readyAt);
        if (keccak256(abi.encode(actions)) != p.actionsHash) revert ActionsMismatch(id);
        p.executed = true;
        uint256 count = actions.length;
        for (uint256 i = 0; i < count; ++i) {
            (bool ok, bytes memory result) = address(this).call(actions[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(result, 0x20), mload(result))
                }
            }
        }
        emit ProposalExecuted(id, msg.sender);
    }

    /// @notice Reverts unless `action` is a call of a governed function whose arguments
    ///         decode as that function's (`UnsupportedAction`, or a revert without data).
    ///         `propose` applies it to every action.
    function validateAction(bytes calldata action) external pure {
        if (action.length < 4) revert UnsupportedAction(bytes4(action));
        bytes4 selector = bytes4(action);
        bytes calldata args = action[4:];
        if (selector == this.registerNode.selector) {
            abi.decode(args, (address, uint32, string, bool));
        } else if (selector == this.suspendNode.selector) {
            abi.decode(args, (address, string));
        } else if (selector == this.reactivateNode.selector) {
            abi.decode(args, (address, bool));
        } else if (selector == this.rotateNodeKey.selector) {
            abi.decode(args, (address, address));
        } else if (selector == this.withdrawHead.selector) {
            abi.decode(args, (address, bytes32, string));
        } else if (selector == this.setGovernance.selector) {
            abi.decode(args, (address[], uint16, uint32));
        } else {
            revert UnsupportedAction(selector);
        }
    }

    function _approve(uint256 id, Proposal storage p) private {
        _approved[id][msg.sender] = true;
        uint16 approvals = p.approvals + 1;
        p.approvals = approvals;
        if (approvals >= threshold && p.readyAt == 0) {
            uint64 readyAt = uint64(block.timestamp) + timelock;
            p.readyAt = readyAt;
            // Reaching the threshold late must still leave a full execution window.
            if (readyAt + PROPOSAL_LIFETIME > p.expiresAt) p.expiresAt = readyAt + PROPOSAL_LIFETIME;
        }
        emit ProposalApproved(id, msg.sender, approvals, p.readyAt);
    }

    /// @dev The proposal, if it can still be approved, cancelled or executed.
    function _openProposal(uint256 id) private view returns (Proposal storage p) {
        p = _proposals[id];
        ProposalState state = _state(p);
        if (state == ProposalState.Unknown) revert UnknownProposal(id);
        if (state > ProposalState.Ready) revert ProposalClosed(id, state);
    }

    function _state(Proposal storage p) private view returns (ProposalState) {
        if (p.proposer == address(0)) return ProposalState.Unknown;
        if (p.executed) return ProposalState.Executed;
        if (p.cancelled) return ProposalState.Cancelled;
        if (p.epoch != governanceEpoch) return ProposalState.Stale;
        if (block.timestamp > p.expiresAt) return ProposalState.Expired;
        if (p.readyAt == 0) return ProposalState.Pending;
        if (block.timestamp < p.readyAt) return ProposalState.Queued;
        return ProposalState.Ready;
    }

    function _setGovernance(address[] memory members, uint16 threshold_, uint32 timelock_) private {
        uint256 count = members.length;
        if (count == 0 || count > MAX_MEMBERS || threshold_ == 0 || threshold_ > count || timelock_ > MAX_TIMELOCK) {
            revert InvalidGovernance();
        }
        uint256 previous = _members.length;
        for (uint256 i = 0; i < previous; ++i) {
            _isMember[_members[i]] = false;
        }
        delete _members;
        for (uint256 i = 0; i < count; ++i) {
            address member = members[i];
            if (member == address(0) || member == address(this) || _isMember[member]) {
                revert InvalidGovernance();
            }
            _isMember[member] = true;
            _members.push(member);
        }
        threshold = threshold_;
        timelock = timelock_;
        uint32 epoch = governanceEpoch + 1;
        governanceEpoch = epoch;
        emit GovernanceChanged(epoch, members, threshold_, timelock_);
    }

    // ------------------------------------------------------------------ governed actions

    /// @notice Replace the governance set, threshold and timelock. Every open proposal becomes
    ///         stale: approvals given under the old set never count under the new one.
    function setGovernance(address[] calldata members, uint16 threshold_, uint32 timelock_)
        external
        onlyGovernance
    {
        _setGovernance(members, threshold_, timelock_);
    }

    /// @notice Register a municipality's node under its anchoring address.
    /// @param node The anchoring address (the node's signing key).
    /// @param lgCode The 6-digit local-government code, check digit included (e.g. 131016).
    /// @param name Display name, e.g. "千代田区"; 1–128 bytes of UTF-8.
    /// @param shareCode Governance's explicit decision that this node may be active beside
    ///        another active node of the same code; otherwise such a registration is refused.
    function registerNode(address node, uint32 lgCode, string calldata name, bool shareCode)
        external
        onlyGovernance
    {
        if (node == address(0)) revert ZeroAddress();
        if (node == address(this)) revert RegistryAddress();
        if (!isValidLocalGovernmentCode(lgCode)) revert InvalidLocalGovernmentCode(lgCode);
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0 || nameLength > 128) revert InvalidName();
        if (_nodes[node].status != NodeStatus.Unregistered) revert NodeAlreadyRegistered(node);
        Node storage n = _nodes[node];
        n.lgCode = lgCode;
        n.status = NodeStatus.Active;
        n.name = name;
        _nodeAddresses.push(node);
        emit NodeRegistered(node, lgCode, name);
        _activate(node, lgCode, shareCode);
    }

    /// @notice Suspend a node; its anchors are refused until reactivated.
    function suspendNode(address node, string calldata reason) external onlyGovernance {
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.Unregistered) revert NodeNotRegistered(node);
        if (n.status != NodeStatus.Active) revert NodeNotActive(node, n.status);
        n.status = NodeStatus.Suspended;
        _activeNodes[n.lgCode] -= 1;
        emit NodeSuspended(node, n.lgCode, reason);
    }

    /// @notice Lift a suspension. `shareCode` as in `registerNode`.
    function reactivateNode(address node, bool shareCode) external onlyGovernance {
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.Unregistered) revert NodeNotRegistered(node);
        if (n.status != NodeStatus.Suspended) revert NodeNotSuspended(node);
        n.status = NodeStatus.Active;
        emit NodeReactivated(node, n.lgCode);
        _activate(node, n.lgCode, shareCode);
    }

    /// @dev Counts `node` as active for its code; refuses a second active node of the code
    ///      unless governance said so, and records that it did.
    function _activate(address node, uint32 lgCode, bool shareCode) private {
        uint32 active = _activeNodes[lgCode] + 1;
        if (active > 1) {
            if (!shareCode) revert LocalGovernmentCodeInUse(lgCode);
            emit LocalGovernmentCodeShared(lgCode, node, active);
        }
        _activeNodes[lgCode] = active;
    }

    /// @notice Move a node to a new anchoring key; the sequence and latest head move with it.
    /// @dev Governance only, routine rotations included: a node that could rotate itself
    ///      would let the holder of a stolen key move the node away from a pending suspension
    ///      (or onto a key a pending proposal names). A suspended node stays suspended under
    ///      the new key. The old key is retired for good.
    function rotateNodeKey(address currentKey, address newKey) external onlyGovernance {
        Node storage old = _nodes[currentKey];
        if (newKey == address(0)) revert ZeroAddress();
        if (newKey == address(this)) revert RegistryAddress();
        if (old.status == NodeStatus.Unregistered) revert NodeNotRegistered(currentKey);
        if (old.status == NodeStatus.Retired) revert NodeNotActive(currentKey, old.status);
        if (_nodes[newKey].status != NodeStatus.Unregistered) revert NodeAlreadyRegistered(newKey);
        Node storage moved = _nodes[newKey];
        moved.lgCode = old.lgCode;
        moved.status = old.status;
        moved.nextSeq = old.nextSeq;
        moved.treeSize = old.treeSize;
        moved.root = old.root;
        moved.name = old.name;
        old.status = NodeStatus.Retired;
        old.successor = newKey;
        _nodeAddresses.push(newKey);
        emit NodeKeyRotated(currentKey, newKey, old.lgCode);
    }

    /// @notice Withdraw a head `node` anchored, e.g. after a key compromise. Verifiers reject it.
    function withdrawHead(address node, bytes32 root, string calldata reason) external onlyGovernance {
        StoredAnchor storage a = _anchors[node][root];
        if (a.blockNumber == 0) revert UnknownRoot(node, root);
        if (a.withdrawn) revert HeadAlreadyWithdrawn(root);
        a.withdrawn = true;
        emit HeadWithdrawn(root, node, a.seq, reason);
    }

    // ------------------------------------------------------------------ anchoring

    /// @notice Anchor the caller's next tree head.
    /// @param seq Must equal `nextSeq(msg.sender)`.
    /// @param treeSize Number of leaves in the log; never smaller than the previous head's.
    /// @param root RFC 6962 root of the first `treeSize` leaves.
    function anchor(uint64 seq, uint64 treeSize, bytes32 root) external {
        bytes memory refusal = _anchorHead(msg.sender, seq, treeSize, root);
        if (refusal.length != 0) {
            assembly ("memory-safe") {
                revert(add(refusal, 0x20), mload(refusal))
            }
        }
    }

    /// @notice Anchor several nodes' next heads in one transaction; anyone may send it.
    /// @dev Each head must carry its node's EIP-712 signature and pass the rules of `anchor`
    ///      for that node, applied in array order (so one node's consecutive heads may share
    ///      a batch). A head that fails is skipped with `HeadSkipped` and the rest go on: one
    ///      stale or bad head cannot revert the municipalities batched with it. Each node
    ///      learns its outcome from `nextSeq`. Replaying a signed head is harmless: its seq
    ///      is used, so it is skipped with `WrongSequence`.
    /// @return anchored How many heads were anchored.
    function anchorMany(SignedHead[] calldata heads) external returns (uint256 anchored) {
        uint256 count = heads.length;
        if (count == 0) revert EmptyBatch();
        bytes32 domain = _domainSeparator();
        for (uint256 i = 0; i < count; ++i) {
            SignedHead calldata h = heads[i];
            bytes32 digest = _typedDataHash(domain, _headStructHash(h.node, h.seq, h.treeSize, h.root));
            (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecover(digest, h.v, h.r, h.s);
            if (recoverError != ECDSA.RecoverError.NoError || signer != h.node) {
                emit HeadSkipped(h.node, h.seq, InvalidSignature.selector);
                continue;
            }
            bytes memory refusal = _anchorHead(h.node, h.seq, h.treeSize, h.root);
            if (refusal.length != 0) {
                emit HeadSkipped(h.node, h.seq, bytes4(refusal));
                continue;
            }
            ++anchored;
        }
    }

    /// @dev The rules of anchoring, shared by `anchor` and `anchorMany`. Anchors the head and
    ///      returns nothing, or changes nothing and returns the ABI-encoded custom error that
    ///      refuses it.
    function _anchorHead(address node, uint64 seq, uint64 treeSize, bytes32 root)
        private
        returns (bytes memory refusal)
    {
        Node storage n = _nodes[node];
        NodeStatus status = n.status;
        if (status == NodeStatus.Unregistered) return abi.encodeWithSelector(NodeNotRegistered.selector, node);
        if (status != NodeStatus.Active) return abi.encodeWithSelector(NodeNotActive.selector, node, status);
        uint64 expected = n.nextSeq;
        if (seq != expected) return abi.encodeWithSelector(WrongSequence.selector, expected, seq);
        uint64 previousSize = n.treeSize;
        if (treeSize < previousSize) return abi.encodeWithSelector(TreeSizeShrank.selector, previousSize, treeSize);
        if (treeSize == 0 || root == bytes32(0)) return abi.encodeWithSelector(EmptyHead.selector);
        bytes32 previousRoot = n.root;
        if (treeSize == previousSize && root != previousRoot) {
            return abi.encodeWithSelector(RootChangedWithoutGrowth.selector, previousRoot, root);
        }
        StoredAnchor storage record = _anchors[node][root];
        if (record.blockNumber != 0) return abi.encodeWithSelector(RootAlreadyAnchored.selector, root);

        n.nextSeq = expected + 1;
        n.treeSize = treeSize;
        n.root = root;
        record.seq = seq;
        record.treeSize = treeSize;
        record.blockNumber = uint48(block.number);
        record.timestamp = uint40(block.timestamp);
        emit HeadAnchored(node, n.lgCode, seq, treeSize, root, previousSize, previousRoot);
    }

    // ------------------------------------------------------------------ EIP-712

    /// @notice The EIP-712 digest a node signs for a head (what `anchorMany` recovers from).
    function hashHead(address node, uint64 seq, uint64 treeSize, bytes32 root) external view returns (bytes32) {
        return _typedDataHash(_domainSeparator(), _headStructHash(node, seq, treeSize, root));
    }

    /// @notice The EIP-712 domain (EIP-5267): name, version, chain id and this contract.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "NotaryRegistry", VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @dev Computed per call, not cached in an immutable: the deployed code stays equal to
    ///      the artifact, and a chain-id change can never leave a stale separator.
    function _domainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _headStructHash(address node, uint64 seq, uint64 treeSize, bytes32 root)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(HEAD_TYPEHASH, node, seq, treeSize, root));
    }

    function _typedDataHash(bytes32 domain, bytes32 structHash) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    // ------------------------------------------------------------------ reads

    /// @notice The node record of an anchoring address (status Unregistered if unknown).
    function getNode(address node) external view returns (Node memory) {
        return _nodes[node];
    }

    /// @notice The sequence number the node's next head must carry.
    function nextSeq(address node) external view returns (uint64) {
        return _nodes[node].nextSeq;
    }

    /// @notice The node's latest anchored head; `seq` is meaningless while `treeSize` is 0.
    function latestHead(address node) external view returns (uint64 seq, uint64 treeSize, bytes32 root) {
        Node storage n = _nodes[node];
        uint64 next = n.nextSeq;
        return (next == 0 ? 0 : next - 1, n.treeSize, n.root);
    }

    /// @notice Where and when `node` anchored `root` (`node` is zero in the answer if never).
    function getAnchor(address node, bytes32 root) external view returns (AnchorRecord memory record) {
        StoredAnchor memory a = _anchors[node][root];
        if (a.blockNumber == 0) return record;
        return AnchorRecord({
            node: node,
            seq: a.seq,
            treeSize: a.treeSize,
            blockNumber: a.blockNumber,
            timestamp: a.timestamp,
            withdrawn: a.withdrawn
        });
    }

    /// @notice Number of addresses ever registered (rotated keys included).
    function nodeCount() external view returns (uint256) {
        return _nodeAddresses.length;
    }

    /// @notice The i-th address ever registered, in registration order.
    function nodeAt(uint256 index) external view returns (address) {
        return _nodeAddresses[index];
    }

    /// @notice Active nodes registered for a local-government code (normally 0 or 1).
    function activeNodeCount(uint32 lgCode) external view returns (uint32) {
        return _activeNodes[lgCode];
    }

    /// @notice The governance set; `threshold`, `timelock` and `governanceEpoch` go with it.
    function governanceMembers() external view returns (address[] memory) {
        return _members;
    }

    /// @notice True if `account` is a member of the current governance set.
    function isGovernanceMember(address account) external view returns (bool) {
        return _isMember[account];
    }

    /// @notice A proposal and its state now (`Unknown` for an id never used).
    function getProposal(uint256 id) external view returns (ProposalView memory) {
        Proposal storage p = _proposals[id];
        return ProposalView({
            proposer: p.proposer,
            state: _state(p),
            epoch: p.epoch,
            approvals: p.approvals,
            createdBlock: p.createdBlock,
            createdAt: p.createdAt,
            readyAt: p.readyAt,
            expiresAt: p.expiresAt,
            actionsHash: p.actionsHash
        });
    }

    /// @notice True if `member` approved proposal `id` (and has not revoked it).
    function hasApproved(uint256 id, address member) external view returns (bool) {
        return _approved[id][member];
    }

    /// @notice True for a 6-digit local-government code: prefecture 01–47 and a valid check
    ///         digit (weights 6,5,4,3,2 over the first five digits, modulo 11).
    function isValidLocalGovernmentCode(uint32 code) public pure returns (bool) {
        if (code >= 1_000_000) return false;
        uint32 prefecture = code / 10_000;
        if (prefecture < 1 || prefecture > 47) return false;
        uint32 body = code / 10;
        uint32 sum = 0;
        for (uint32 weight = 2; weight <= 6; weight++) {
            sum += (body % 10) * weight;
            body /= 10;
        }
        uint32 remainder = sum % 11;
        uint32 check = (11 - remainder) % 10;
        return check == code % 10;
    }
}
