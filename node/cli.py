"""The `notary` command: one entry point, sub-commands loaded only when used.

Lazy loading keeps `notary verify` working where only the verifier's dependencies are
installed (a bank does not need the node's server stack).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# name → "module:attribute" of a click command or group.
SUBCOMMANDS = {
    "audit": (
        "audit.cli:audit",
        "Regulator's audit of the chain, the registry and every node's log: exit 0 clean.",
    ),
    "node": (
        "node.commands:node",
        "Run the notarization node (--dev: with an embedded chain); manage tokens.",
    ),
    "dev": (
        "devtools.local_anvil:dev",
        "A local anvil chain with the registry deployed (for contract work).",
    ),
    "registry": ("anchor.cli:registry", "Deploy and govern the registry; read nodes and anchors."),
    "devnet": ("devnet.cli:devnet", "Create, run and inspect the Clique validator network."),
    "jpki": ("devtools.jpki_cli:jpki", "JPKI test CA and card-like signing for tests and demos."),
    "seal": (
        "node.seal_cli:seal",
        "Seal a PDF with the municipality's seal, log it, append its proof bundle once final.",
    ),
    "verify": (
        "verifier.cli:verify",
        "Check a document and its proof bundle: exit 0 valid, 1 invalid/revoked, 3 undecided.",
    ),
    "tiles": (
        "node.tiles_cli:tiles",
        "The log as static C2SP tiles: the checkpoint key; export a stopped node's log.",
    ),
    "trust-root": (
        "node.cli:trust_root",
        "Export the consortium's trust root from the chain, sign it (a member), verify it.",
    ),
}

# The trust root's commands live on both sides: export and verify read (audit/), sign needs a
# member's key (anchor/). Loaded lazily, so neither side imports the other.
TRUST_ROOT_COMMANDS = {
    "export": ("audit.trust_root_cli:export", "Build trust-root.json from the chain (unsigned)."),
    "sign": ("anchor.trust_root_cli:sign", "Add a governance member's signature."),
    "seal": (
        "node.seal_cli:seal",
        "Seal a PDF with the municipality's seal, log it, append its proof bundle once final.",
    ),
    "verify": (
        "audit.trust_root_cli:verify",
        "Check signatures to threshold, chained from --pin or --previous (no network).",
    ),
}


class LazyGroup(click.Group):
    table: dict[str, tuple[str, str]] = SUBCOMMANDS
    """name → ("module:attribute", help line)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.table:
            return None
        module_name, attribute = self.table[cmd_name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table, so `notary --help` imports nothing heavy.
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.table[name][1]) for name in sorted(self.table)])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as error:  # one readable line, never a traceback
            if os.environ.get("NOTARY_DEBUG"):
                raise
            click.echo(f"notary: error: {_describe(error)}", err=True)
            raise click.exceptions.Exit(1) from None


def _describe(error: Exception) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if type(error).__module__.split(".")[0] in {
        "anchor",
        "audit",
        "devtools",
        "verifier",
        "node",
        "devnet",
        "contracts",
    }:
        return message
    return f"{type(error).__name__}: {message} (set NOTARY_DEBUG=1 for a traceback)"


class TrustRootGroup(LazyGroup):
    table = TRUST_ROOT_COMMANDS


@click.group(cls=TrustRootGroup, name="trust-root")
def trust_root() -> None:
    """The consortium's trust root: export it from the chain, sign it, verify it."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="municipal-notary", prog_name="notary")
def main() -> None:
    """municipal-notary: verifiable municipal certificates anchored on a shared chain."""


if __name__ == "__main__":
    sys.exit(main())
