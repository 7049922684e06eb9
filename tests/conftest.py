from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import settings

from anchor import RegistryClient
from tests.chains import ENGINES, ChainEndpoint, running_engine

# CI draws the same examples on every run: a random example must never decide a landing.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", params=ENGINES)
def chain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChainEndpoint]:
    """One engine process for the whole session, per engine in ENGINES."""
    with running_engine(request.param, tmp_path_factory.mktemp(request.param)) as endpoint:
        yield endpoint


@dataclass
class DeployedRegistry:
    """A fresh registry with its governance key and one registered, active node."""

    chain: ChainEndpoint
    governance: RegistryClient
    node_account: LocalAccount
    node: RegistryClient
    lg_code: int

    def client_for(self, account: LocalAccount) -> RegistryClient:
        return RegistryClient(self.chain.web3(), self.governance.address, account)


@pytest.fixture
def registry(chain: ChainEndpoint) -> DeployedRegistry:
    w3 = chain.web3()
    governance_account = chain.new_account()
    governance, _ = RegistryClient.deploy(w3, governance_account)
    node_account = chain.new_account()
    governance.register_node(node_account.address, 131016, "千代田区")
    node = RegistryClient(w3, governance.address, node_account)
    return DeployedRegistry(chain, governance, node_account, node, 131016)
