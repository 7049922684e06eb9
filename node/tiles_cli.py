"""`notary tiles`: the log as static tiles: its checkpoint key, and an export of a stopped
node's log (docs/OPERATOR.md, "Serving the log as static tiles")."""

from __future__ import annotations

import os
from pathlib import Path

import click
from pydantic import ValidationError

from node.proof_server import ENV_KEY, ENV_TILES
from node.settings import NodeSettings, load_settings
from node.store import LogStore
from node.tiles import NOTE_KEY_FILE, TileWriter, load_or_create_note_key
from protocol.checkpoint import CheckpointError, parse_verifier_key

_config = click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="The node's TOML settings."
)
_data_dir = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="The node's data dir."
)


def _settings(config: Path | None, data_dir: Path | None) -> NodeSettings:
    try:
        return load_settings(config, data_dir=data_dir)
    except ValidationError as error:
        first = error.errors()[0]
        raise click.UsageError(
            f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


@click.group()
def tiles() -> None:
    """The log as C2SP static tiles and a signed checkpoint."""


@tiles.command("key")
@_config
@_data_dir
def key(config: Path | None, data_dir: Path | None) -> None:
    """Print the checkpoint verifier key (<origin>+<key hash>+<key>), for verifiers and auditors
    (made in DATA_DIR/note.key if the node has not started yet)."""
    settings = _settings(config, data_dir)
    signer = load_or_create_note_key(settings.data_dir / NOTE_KEY_FILE, settings.origin)
    click.echo(str(signer.verifier))


@tiles.command("export")
@_config
@_data_dir
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write tile/ and checkpoint into (what the web server serves).",
)
def export(config: Path | None, data_dir: Path | None, out: Path) -> None:
    """Write the tiles, entry bundles and checkpoint of a stopped node's log up to its newest
    anchored head (the checkpoint's root is the root on chain)."""
    settings = _settings(config, data_dir)
    if not settings.store_dir.is_dir():
        raise click.ClickException(f"no log in {settings.data_dir} (no {settings.store_dir})")
    signer = load_or_create_note_key(settings.data_dir / NOTE_KEY_FILE, settings.origin)
    store = LogStore(settings.store_dir)
    try:
        head = next((h for h in reversed(list(store.heads())) if h.state.is_anchored), None)
        if head is None:
            raise click.ClickException("the log has no anchored head to publish")
        writer = TileWriter(store, out, signer)
        writer.publish(head.tree_size, head.root)
    finally:
        store.close()
    click.echo(f"{out}: checkpoint {signer.name} size {head.tree_size} (head seq {head.seq})")


@tiles.command("proofs")
@click.option(
    "--tiles-dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The node's tiles directory (tiles_dir; default DATA_DIR/tiles).",
)
@click.option(
    "--verifier-key",
    required=True,
    help="The checkpoint verifier key, as `notary tiles key` prints it.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def proofs(tiles_dir: Path, verifier_key: str, host: str, port: int, workers: int) -> None:
    """Serve GET /v1/log/inclusion from the published tiles in read-only worker processes
    (docs/OPERATOR.md, "Proof workers"): up to the newest checkpoint, never further."""
    import uvicorn  # noqa: PLC0415 (only this command needs it)

    try:
        parse_verifier_key(verifier_key)
    except CheckpointError as error:
        raise click.UsageError(f"--verifier-key: {error}") from None
    os.environ[ENV_TILES] = str(tiles_dir.resolve())
    os.environ[ENV_KEY] = verifier_key
    uvicorn.run(
        "node.proof_server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
