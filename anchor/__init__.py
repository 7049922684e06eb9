"""Everything that talks to a chain: the registry client over standard Ethereum JSON-RPC.

`anchor/` speaks JSON-RPC and nothing else, so the embedded devnet, anvil, Besu or any
other engine serve equally.
"""

from anchor.artifacts import RegistryArtifact, load_registry_artifact
from anchor.chain import FailoverHTTPProvider, connect, endpoint_in_use
from anchor.chainstate import BlockInfo, MinedTransaction
from anchor.errors import (
    AnchorError,
    ChainRPCError,
    ChainUnavailableError,
    RegistryError,
    TransactionRejectedError,
    TransactionRevertedError,
    TransactionTimeoutError,
    WrongChainError,
)
from anchor.models import (
    AnchoredHeadEvent,
    AnchorRecord,
    BatchResult,
    GovernanceAction,
    GovernanceConfig,
    GovernanceResult,
    NodeRecord,
    NodeStatus,
    Proposal,
    ProposalState,
    RegistryEvent,
    SkippedHead,
    TreeHead,
    TxResult,
    is_valid_lg_code,
)
from anchor.registry import RegistryClient
from anchor.signing import SignedHead, head_signer, sign_head

__all__ = [
    "AnchorError",
    "AnchorRecord",
    "AnchoredHeadEvent",
    "BatchResult",
    "BlockInfo",
    "ChainRPCError",
    "ChainUnavailableError",
    "FailoverHTTPProvider",
    "GovernanceAction",
    "GovernanceConfig",
    "GovernanceResult",
    "MinedTransaction",
    "NodeRecord",
    "NodeStatus",
    "Proposal",
    "ProposalState",
    "RegistryArtifact",
    "RegistryClient",
    "RegistryError",
    "RegistryEvent",
    "SignedHead",
    "SkippedHead",
    "TransactionRejectedError",
    "TransactionRevertedError",
    "TransactionTimeoutError",
    "TreeHead",
    "TxResult",
    "WrongChainError",
    "connect",
    "endpoint_in_use",
    "head_signer",
    "is_valid_lg_code",
    "load_registry_artifact",
    "sign_head",
]
