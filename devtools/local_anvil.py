"""`notary dev`: an anvil chain with the registry deployed and a demo municipality registered.

For contract and client work against a third-party engine; the node's own development mode
(`notary node --dev`, what `make run` runs) uses the Clique devnet instead.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from anchor import RegistryClient, connect
from devnet.anvil import AnvilProcess, dev_account

DEMO_LG_CODE = 131016  # 東京都千代田区, a real code with a valid check digit
DEMO_NAME = "千代田区 (demo)"


@click.command()
@click.option(
    "--port", default=8545, show_default=True, help="Loopback port of the JSON-RPC endpoint."
)
@click.option("--chain-id", default=31337, show_default=True, help="Chain id of the local chain.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("devnet-data"),
    show_default=True,
    help="Where the chain log and dev.json (addresses) are written.",
)
def dev(port: int, chain_id: int, data_dir: Path) -> None:
    """Start a local chain, deploy the registry, register a demo municipality, and wait."""
    data_dir.mkdir(parents=True, exist_ok=True)
    governance, demo_node = dev_account(0), dev_account(1)
    anvil = AnvilProcess(port=port, chain_id=chain_id, log_file=data_dir / "chain.log")
    with anvil:
        w3 = connect(anvil.rpc_url, chain_id=chain_id)
        registry, deployment = RegistryClient.deploy(w3, governance)
        registry.register_node(demo_node.address, DEMO_LG_CODE, DEMO_NAME)
        summary = {
            "rpc_url": anvil.rpc_url,
            "chain_id": chain_id,
            "registry": registry.address,
            "deployment_block": deployment.block_number,
            "governance": governance.address,
            "demo_node": {"address": demo_node.address, "lg_code": DEMO_LG_CODE, "name": DEMO_NAME},
        }
        (data_dir / "dev.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        click.echo(
            "\n".join(
                [
                    "municipal-notary local chain is running (anvil, London rules)",
                    f"  RPC URL            {anvil.rpc_url}   (chain id {chain_id})",
                    f"  Registry           {registry.address}  (block {deployment.block_number})",
                    f"  Governance         {governance.address}  (public dev key, no real value)",
                    f"  Demo municipality  {DEMO_LG_CODE} {DEMO_NAME}",
                    f"  Demo node key      {demo_node.address}",
                    f"  Written to         {data_dir / 'dev.json'}",
                    "",
                    f"  Try: .venv/bin/notary registry show-node --rpc {anvil.rpc_url} "
                    f"--registry {registry.address} {demo_node.address}",
                    "Press Ctrl-C to stop.",
                ]
            )
        )
        _wait_for_stop(anvil)
    click.echo("stopped.")


def _wait_for_stop(anvil: AnvilProcess) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        if anvil.process is None or anvil.process.poll() is not None:
            raise click.ClickException("the chain process exited unexpectedly; see chain.log")
