"""`notary tiles`: the log as static tiles: its checkpoint key, and an export of a stopped
node's log (docs/OPERATOR.md, "Serving the log as static tiles")."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from node.settings import NodeSettings, load_settings
from node.store import LogStore
from node.tiles import NOTE_KEY_FILE, TileWriter, load_or_create_note_key

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
