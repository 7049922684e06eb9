"""`notary node`: run the notarization node; `notary node token ...`: manage API tokens."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import shlex
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import uvicorn
from pydantic import ValidationError
from uvicorn._compat import asyncio_run

from node.api import Plane, create_app
from node.service import NodeService
from node.settings import NodeSettings, load_settings
from node.tokens import SCOPES, TokenError, TokenStore

if TYPE_CHECKING:
    from devtools.local_devnet import DevEnvironment

log = logging.getLogger("node")


@click.group(invoke_without_command=True)
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file."
)
@click.option("--dev", is_flag=True, help="Provision and run an embedded one-validator devnet too.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", help="Interface of the LGWAN listener (the whole API) [127.0.0.1].")
@click.option("--port", type=int, help="Port of the LGWAN listener [8080].")
@click.option(
    "--public-host", help="Interface of the public listener (public reads only) [127.0.0.1]."
)
@click.option(
    "--public-port",
    type=int,
    help="Port of the public listener, for the internet side [none; --dev: port + 1].",
)
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
def node(ctx: click.Context, /, config: Path | None, dev: bool, **options: Any) -> None:
    """Run the notarization node: the whole HTTP API on the LGWAN listener (127.0.0.1:8080 by
    default), public reads only on the public listener (--public-port)."""
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
    """One listener of the node. All of them stop together: the first of the group captures
    SIGTERM/SIGINT for all. uvicorn re-raises the signal once it has shut down, which ends the
    process before our own clean-up runs (the anchoring worker's stop, `--dev`'s validator
    process); the shutdown is already graceful, so the signal is consumed instead."""

    def __init__(self, config: uvicorn.Config, group: list[_Server]) -> None:
        super().__init__(config)
        self.group = group
        group.append(self)

    def handle_exit(self, sig: int, frame: Any) -> None:
        for server in self.group:
            uvicorn.Server.handle_exit(server, sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self is not self.group[0]:
            yield
            return
        with super().capture_signals():
            try:
                yield
            finally:
                for server in self.group:
                    server._captured_signals.clear()


Listeners = dict[Plane, str]
"""The base URL of each listener the node serves, by plane."""


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything starts, so a taken port fails the start
    with one line and the real port of `port` 0 is known for the banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(settings: NodeSettings, started: Callable[[Listeners], None] | None = None) -> None:
    """Serve the LGWAN listener and, if configured, the public one, from one process and one
    NodeService (one store, one anchoring worker)."""
    sys.setrecursionlimit(NODE_RECURSION_LIMIT)
    sockets: dict[Plane, socket.socket] = {"lgwan": _listen(settings.host, settings.port)}
    try:
        if settings.public_port is not None:
            sockets["public"] = _listen(settings.public_host, settings.public_port)
        service = NodeService(settings)
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    service.start()
    try:
        group: list[_Server] = []
        for plane in sockets:
            # No access log: /metrics counts requests per route, and a log line per proof
            # request costs a third of the proof-serving throughput. (It would also record
            # which revocation buckets were asked for, by whom.)
            _Server(
                uvicorn.Config(create_app(service, plane), log_level="info", access_log=False),
                group,
            )
        listeners: Listeners = {plane: _url(sock) for plane, sock in sockets.items()}
        # Start-up objects (modules, the apps, the service, trust anchors) leave the garbage
        # collector's generations: the full collections a 10,000-entry bulk request sets off
        # then walk only what requests made (~20% of the node's CPU on such a request).
        gc.collect()
        gc.freeze()
        log.info("listening: %s", ", ".join(f"{plane} {url}" for plane, url in listeners.items()))
        asyncio_run(
            _serve_all(group, list(sockets.values()), lambda: started and started(listeners)),
            loop_factory=group[0].config.get_loop_factory(),
        )
    finally:
        service.stop()
        for sock in sockets.values():
            sock.close()


async def _serve_all(
    servers: list[_Server], sockets: list[socket.socket], started: Callable[[], Any]
) -> None:
    """Run every server; when one stops (a signal, a failed start), stop the others too."""
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, sockets, strict=True)
    ]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            break
        await asyncio.sleep(0.02)
    else:
        started()
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)


def _run_dev(settings: NodeSettings) -> None:
    # Development tools load only in development mode: production never imports them.
    from devtools.local_devnet import provision  # noqa: PLC0415

    env = provision(settings.data_dir, settings.lg_code, settings.name)
    try:
        public_port = settings.public_port
        if public_port is None:  # both listeners, as in production: next to the LGWAN one
            public_port = settings.port + 1 if 0 < settings.port < 65535 else 0
        dev_settings = settings.model_copy(
            update={
                "rpc_url": [env.rpc_url],
                "registry": env.registry,
                "chain_id": env.chain_id,
                "key_file": env.key_file,
                "password_file": env.password_file,
                "trust_dir": env.trust_dir,
                "crl_files": env.crl_files,
                "seal_trust_dir": env.seal_trust_dir,
                "seal_crl_files": env.seal_crl_files,
                "public_port": public_port,
                "trust_root_file": settings.trust_root_file or env.trust_root,
                # The local TSA, unless the operator named one (with its own trust anchors).
                "tsa_url": settings.tsa_url or env.tsa.url,
                "tsa_trust_anchors": settings.tsa_trust_anchors
                if settings.tsa_url
                else env.tsa.trust_anchors,
                **_dev_seal_settings(settings, env),
            }
        )

        def started(listeners: Listeners) -> None:
            # The regulator's view of this dev network: `notary audit --nodes` reads it.
            nodes_file = settings.data_dir / NODES_FILE
            nodes_file.write_text(
                json.dumps({f"{settings.lg_code:06d}": listeners["public"]}) + "\n"
            )
            click.echo(_dev_banner(dev_settings, env, listeners))

        _serve(dev_settings, started)
    finally:
        env.stop()


NODES_FILE = "nodes.json"


def _dev_seal_settings(settings: NodeSettings, env: DevEnvironment) -> dict[str, Any]:
    """The test seal for /v1/sealed-pdfs, unless the operator configured a seal (or the test CA
    has none for this code). The stamp names the public listener's /verify (the default)."""
    if env.seal is None or settings.seal_key_file or settings.seal_cert_file:
        return {}
    return {
        "seal_key_file": env.seal.key,
        "seal_cert_file": env.seal.cert,
        "seal_chain_files": env.seal.chain,
        "seal_label": settings.seal_label or env.seal.label,
    }


def _sealed_pdf_block(env: DevEnvironment, api: str, public: str, online: list[str]) -> list[str]:
    """The banner's one-file demo: seal the demo PDF, then verify CERT.pdf alone."""
    if env.seal is None:
        return []
    seal = [
        f".venv/bin/notary seal {shlex.quote(str(env.demo_pdf))} --out CERT.pdf",
        f"--node-url {api} --token {env.token}",
        f"--seal-key {shlex.quote(str(env.seal.key))}",
        f"--seal-cert {shlex.quote(str(env.seal.cert))}",
        *(f"--seal-chain {shlex.quote(str(p))}" for p in env.seal.chain),
        f"--issuer-label {shlex.quote(env.seal.label)} --verify-url {public}/verify",
    ]
    verify = [".venv/bin/notary verify CERT.pdf", *online]
    return [
        "One file: seal a certificate PDF with the municipality's (test) seal, log it and, once",
        "final, append its proof bundle (CERT.pdf; about a minute):",
        "",
        "  " + " \\\n      ".join(seal),
        "",
        "Then verify the sealed file alone:",
        "",
        "  " + " \\\n      ".join(verify),
        "",
        f"Or drop CERT.pdf alone on {public}/verify: the page does the same checks.",
        "",
    ]


def _dev_banner(settings: NodeSettings, env: DevEnvironment, listeners: Listeners) -> str:
    api, public = listeners["lgwan"], listeners["public"]
    auth = f'-H "Authorization: Bearer {env.token}"'
    entry = shlex.quote(str(env.demo_entry))
    receipt_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"receipt_id\"])'"
    online = [
        f"--rpc {env.rpc_url} --registry {env.registry} --chain-id {env.chain_id}",
        f"--node-url {public} --trust {shlex.quote(str(env.trust_dir))}",
        f"--seal-trust {shlex.quote(str(env.seal_trust_dir))}",
        *(f"--crl {shlex.quote(str(p))}" for p in [*env.crl_files, *env.seal_crl_files]),
    ]
    verify = [
        f".venv/bin/notary verify {shlex.quote(str(env.demo_document))} --bundle bundle.json",
        *online,
    ]
    offline = [
        f".venv/bin/notary verify {shlex.quote(str(env.demo_document))} --bundle bundle.json",
        f"--trust-root {shlex.quote(str(env.trust_root))} --offline",
        f"--trust {shlex.quote(str(env.trust_dir))}",
        f"--seal-trust {shlex.quote(str(env.seal_trust_dir))}",
        *(f"--crl {shlex.quote(str(p))}" for p in [*env.crl_files, *env.seal_crl_files]),
    ]
    token_file = settings.data_dir / "dev-token"
    return "\n".join(
        [
            "",
            "municipal-notary node is running (development mode)",
            f"  LGWAN side     {api}   (issuing system: submit, revoke, bundles; operator)",
            f"    API          {api}/v1   OpenAPI {api}/openapi.json   docs {api}/docs",
            f"    health       {api}/healthz   {api}/readyz   {api}/metrics",
            f"  internet side  {public}   (public reads only; put a TLS proxy in front)",
            f"    verify page  {public}/verify   (for clerks: drop a document and its bundle.json,"
            " or a sealed PDF alone)",
            f"    log          {public}/v1/log/head   {public}/v1/revocations/{{prefix}}",
            f"  chain          {env.rpc_url} (chain id {env.chain_id}, one local validator)",
            f"  registry       {env.registry}",
            f"  TSA (RFC 3161) {settings.tsa_url}   (anchored heads are timestamped)",
            f"  API token      {env.token}",
            f"                 (all scopes; also in {token_file})",
            "",
            "Submit the demo document's digest and fetch its proof bundle (paste as one block):",
            "",
            f"  RID=$(curl -s {auth} -H 'Content-Type: application/json' \\",
            f"      --data @{entry} {api}/v1/entries | {receipt_id})",
            "  for i in $(seq 60); do sleep 1; \\",
            f"      curl -sf {auth} {api}/v1/receipts/$RID/bundle > bundle.json \\",
            "      && grep -q '\"evidence\"' bundle.json && break; done",
            "",
            "Then verify it as a bank would:",
            "",
            "  " + " \\\n      ".join(verify),
            "",
            "Or offline, as a bank would years from now: no chain, no node (stop them first if",
            "you like); the bundle's evidence is checked against the consortium's trust root:",
            "",
            "  " + " \\\n      ".join(offline),
            "",
            *_sealed_pdf_block(env, api, public, online),
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
