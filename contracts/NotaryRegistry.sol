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
contract NotaryRegistry {
    /// @notice Lifecycle of an anchoring key. `Retired` keys were rotated away from.
    enum NodeStatus {
        Unregistered,
        Active,
        Suspended,
        Retired
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

    /// @notice Version of this registry's rules and ABI; the EIP-712 domain's `version`.
    ///         Version 1 was the registry without `anchorMany`.
    string public constant VERSION = "2";

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("NotaryRegistry");
    bytes32 private constant VERSION_HASH = keccak256(bytes(VERSION));
    /// @notice EIP-712 type hash of a signed head.
    bytes32 public constant HEAD_TYPEHASH =
        keccak256("Head(address node,uint64 seq,uint64 treeSize,bytes32 root)");

    /// @notice Address allowed to register, suspend and rotate nodes and withdraw heads.
    address public governance;
    /// @notice Address nominated by `transferGovernance`, until it accepts.
    address public pendingGovernance;

    mapping(address => Node) private _nodes;
    /// @dev Keyed by node and root: a root is the node's own claim, so no node can block
    ///      another's next head by anchoring a copy of its root first.
    mapping(address => mapping(bytes32 => StoredAnchor)) private _anchors;
    address[] private _nodeAddresses;

    /// @notice A node was registered for a local government.
    event NodeRegistered(address indexed node, uint32 indexed lgCode, string name);
    /// @notice Governance suspended a node; its further anchors are refused.
    event NodeSuspended(address indexed node, uint32 indexed lgCode, string reason);
    /// @notice Governance lifted a suspension.
    event NodeReactivated(address indexed node, uint32 indexed lgCode);
    /// @notice The node's anchoring key moved to `newKey`; sequence and head move with it.
    event NodeKeyRotated(address indexed previousKey, address indexed newKey, uint32 indexed lgCode);
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
    /// @notice Governance nominated a successor, who must call `acceptGovernance`.
    event GovernanceTransferStarted(address indexed current, address indexed nominee);
    /// @notice Governance changed hands.
    event GovernanceTransferred(address indexed previous, address indexed current);

    /// @notice The caller is not the governance address.
    error NotGovernance(address caller);
    /// @notice The caller is not the pending governance nominee.
    error NotPendingGovernance(address caller);
    /// @notice The zero address cannot be a node or governance.
    error ZeroAddress();
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
    /// @notice The caller may not rotate this node's key.
    error NotNodeOrGovernance(address caller, address node);
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

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    /// @param governance_ The first governance address (in production a consortium multisig).
    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceTransferred(address(0), governance_);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Nominate a new governance address; it takes over once it accepts.
    function transferGovernance(address nominee) external onlyGovernance {
        if (nominee == address(0)) revert ZeroAddress();
        pendingGovernance = nominee;
        emit GovernanceTransferStarted(governance, nominee);
    }

    /// @notice Accept a pending nomination (two steps, so a typo cannot lose governance).
    function acceptGovernance() external {
        if (msg.sender != pendingGovernance) revert NotPendingGovernance(msg.sender);
        emit GovernanceTransferred(governance, msg.sender);
        governance = msg.sender;
        pendingGovernance = address(0);
    }

    /// @notice Register a municipality's node under its anchoring address.
    /// @param node The anchoring address (the node's signing key).
    /// @param lgCode The 6-digit local-government code, check digit included (e.g. 131016).
    /// @param name Display name, e.g. "千代田区"; 1–128 bytes of UTF-8.
    function registerNode(address node, uint32 lgCode, string calldata name) external onlyGovernance {
        if (node == address(0)) revert ZeroAddress();
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
    }

    /// @notice Suspend a node; its anchors are refused until reactivated.
    function suspendNode(address node, string calldata reason) external onlyGovernance {
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.Unregistered) revert NodeNotRegistered(node);
        if (n.status != NodeStatus.Active) revert NodeNotActive(node, n.status);
        n.status = NodeStatus.Suspended;
        emit NodeSuspended(node, n.lgCode, reason);
    }

    /// @notice Lift a suspension.
    function reactivateNode(address node) external onlyGovernance {
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.Unregistered) revert NodeNotRegistered(node);
        if (n.status != NodeStatus.Suspended) revert NodeNotSuspended(node);
        n.status = NodeStatus.Active;
        emit NodeReactivated(node, n.lgCode);
    }

    /// @notice Move a node to a new anchoring key; the sequence and latest head move with it.
    /// @dev Callable by an active node itself (routine rotation) or by governance (lost or
    ///      compromised key). A suspended node cannot rotate its own key, so the holder of a
    ///      stolen key cannot outrun governance; it stays suspended under the new key.
    ///      The old key is retired for good.
    function rotateNodeKey(address currentKey, address newKey) external {
        Node storage old = _nodes[currentKey];
        bool byGovernance = msg.sender == governance;
        if (!byGovernance && (msg.sender != currentKey || old.status != NodeStatus.Active)) {
            revert NotNodeOrGovernance(msg.sender, currentKey);
        }
        if (newKey == address(0)) revert ZeroAddress();
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
