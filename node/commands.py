"""`notary node`: run the notarization node; `notary node token ...`: manage API tokens."""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import uvicorn
from pydantic import ValidationError

from node.api import create_app
from node.devsetup import DevEnvironment, provision
from node.service import NodeService
from node.settings import NodeSettings, load_settings
from node.tokens import SCOPES, TokenError, TokenStore


@click.group(invoke_without_command=True)
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file."
)
@click.option("--dev", is_flag=True, help="Provision and run an embedded one-validator devnet too.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host")
@click.option("--port", type=int)
@click.option(
    "--rpc",
    "rpc_url",
    multiple=True,
    help="JSON-RPC URL of the shared chain (else --dev's embedded one); repeat it to fail "
    "over between several, preferred first.",
)
@click.option("--registry", help="NotaryRegistry address.")
@click.option("--chain-id", type=int)
@click.option(
    "--key-file", type=click.Path(dir_okay=False, path_type=Path), help="Anchoring key keystore."
)
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lg-code", type=int, help="This municipality's local-government code.")
@click.pass_context
def node(ctx: click.Context, config: Path | None, dev: bool, **options: Any) -> None:
    """Run the notarization node (HTTP API on 127.0.0.1:8080 by default)."""
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = options.get("data_dir")
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options["rpc_url"] = list(options["rpc_url"]) or None  # none given: file/env decide
    try:
        settings = load_settings(config, **options)
    except ValidationError as error:
        first = error.errors()[0]
        raise click.UsageError(
            f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None
    if dev and not settings.rpc_url:
        _run_dev(settings)
    else:
        _serve(settings)


# web3 imports py_ecc, which raises the recursion limit to 100,000; json.loads of a deeply
# nested request body would then overflow the C stack and kill the process instead of
# raising RecursionError. The node runs no deep recursion of its own.
NODE_RECURSION_LIMIT = 2000


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once it has shut down, which ends the process before
    our own clean-up runs (the anchoring worker's stop, `--dev`'s validator process). The
    shutdown is already graceful, so the signal is consumed instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


def _serve(settings: NodeSettings, banner: str | None = None) -> None:
    sys.setrecursionlimit(NODE_RECURSION_LIMIT)
    service = NodeService(settings)
    service.start()
    try:
        # No access log: /metrics counts requests per route, and a log line per proof
        # request costs a third of the proof-serving throughput.
        config = uvicorn.Config(
            create_app(service),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
        )
        server = _Server(config)
        if banner:
            original = server.startup

            async def startup(*args: Any, **kwargs: Any) -> None:
                await original(*args, **kwargs)
                click.echo(banner)

            server.startup = startup  # type: ignore[method-assign]
        server.run()
    finally:
        service.stop()


def _run_dev(settings: NodeSettings) -> None:
    env = provision(settings.data_dir, settings.lg_code, settings.name)
    try:
        dev_settings = settings.model_copy(
            update={
                "rpc_url": [env.rpc_url],
                "registry": env.registry,
                "chain_id": env.chain_id,
                "key_file": env.key_file,
                "password_file": env.password_file,
                "trust_dir": env.trust_dir,
                "crl_files": env.crl_files,
            }
        )
        # The regulator's view of this dev network: `notary audit --nodes` reads it.
        nodes_file = settings.data_dir / NODES_FILE
        nodes_file.write_text(json.dumps({f"{settings.lg_code:06d}": _api_url(settings)}) + "\n")
        _serve(dev_settings, _dev_banner(dev_settings, env))
    finally:
        env.stop()


NODES_FILE = "nodes.json"


def _api_url(settings: NodeSettings) -> str:
    return f"http://{settings.host}:{settings.port}"


def _dev_banner(settings: NodeSettings, env: DevEnvironment) -> str:
    api = _api_url(settings)
    auth = f'-H "Authorization: Bearer {env.token}"'
    entry = shlex.quote(str(env.demo_entry))
    receipt_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"receipt_id\"])'"
    verify = [
        f".venv/bin/notary verify {shlex.quote(str(env.demo_document))} --bundle bundle.json",
        f"--rpc {env.rpc_url} --registry {env.registry} --chain-id {env.chain_id}",
        f"--node-url {api} --trust {shlex.quote(str(env.trust_dir))}",
        *(f"--crl {shlex.quote(str(p))}" for p in env.crl_files),
    ]
    token_file = settings.data_dir / "dev-token"
    return "\n".join(
        [
            "",
            "municipal-notary node is running (development mode)",
            f"  API            {api}/v1   OpenAPI {api}/openapi.json   docs {api}/docs",
            f"  health         {api}/healthz   {api}/readyz   {api}/metrics",
            f"  verify page    {api}/verify   (for clerks: drop a document and its bundle.json)",
            f"  chain          {env.rpc_url} (chain id {env.chain_id}, one local validator)",
            f"  registry       {env.registry}",
            f"  API token      {env.token}",
            f"                 (all scopes; also in {token_file})",
            "",
            "Submit the demo document's digest and fetch its proof bundle (paste as one block):",
            "",
            f"  RID=$(curl -s {auth} -H 'Content-Type: application/json' \\",
            f"      --data @{entry} {api}/v1/entries | {receipt_id})",
            f"  sleep 5; curl -s {auth} {api}/v1/receipts/$RID/bundle > bundle.json",
            "",
            "Then verify it as a bank would:",
            "",
            "  " + " \\\n      ".join(verify),
            "",
            "Audit the chain, the registry and this node's log as a regulator would:",
            "",
            f"  .venv/bin/notary audit --rpc {env.rpc_url} --registry {env.registry} \\",
            f"      --nodes {shlex.quote(str(settings.data_dir / NODES_FILE))} --out audit-report",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


@node.group()
def token() -> None:
    """API tokens of issuing systems (stored hashed in DATA_DIR/tokens.json)."""


def _token_store(ctx: click.Context) -> TokenStore:
    data_dir = ctx.obj.get("data_dir") or load_settings().data_dir
    return TokenStore(Path(data_dir) / "tokens.json")


@token.command("create")
@click.option("--name", required=True, help="Who the token is for, e.g. the issuing system.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES), required=True)
@click.pass_context
def token_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    try:
        click.echo(_token_store(ctx).create(name, list(scopes)))
    except TokenError as error:
        raise click.UsageError(str(error)) from None


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """Names, scopes and dates of the tokens (never the tokens themselves)."""
    for record in _token_store(ctx).list():
        state = f"revoked {record['revoked_at']}" if record.get("revoked_at") else "active"
        scopes = ",".join(record["scopes"])
        click.echo(f"{record['name']}\t{scopes}\tcreated {record['created_at']}\t{state}")


@token.command("revoke")
@click.option("--name", required=True)
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke every token of NAME."""
    count = _token_store(ctx).revoke(name)
    if not count:
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"revoked {count} token(s) of {name}")
