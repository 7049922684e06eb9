"""The node's log as static C2SP tiles, served by Debian's nginx and read with no node process:
proofs computed from tiles equal the node's own, a tampered tile, a wrong key or a checkpoint
that is not the anchored head is refused, the audit reads a log from tiles, and
`notary tiles export` rebuilds the same files from a stopped node's data dir."""

from __future__ import annotations

import base64
import filecmp
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.testca import TestHierarchy
from devtools.tile_server import serve_tiles
from protocol.checkpoint import NoteSigner, parse_verifier_key
from protocol.merkle import hash_leaf
from protocol.tiles import tile_for, tile_path
from tests.node_harness import LG_CODE, REPO, NodeProcess, http, node_on_devnet, signed_entry
from verifier.tiles import (
    TileClient,
    TileSource,
    TileVerificationError,
    check_anchored,
    inclusion_from_tiles,
)

pytest_plugins = ["tests.jpki_fixtures"]
pytestmark = pytest.mark.chain

EXPORT = (sys.executable, "-m", "node.cli", "tiles", "export")
BATCHES = (200, 100)  # two anchored heads; 300 leaves: a full tile, partial tiles on two levels


@dataclass
class Served:
    node: NodeProcess
    url: str
    """nginx's base URL: the node's tiles under /log/, a tampered copy under /tampered/."""
    key: str
    head: dict[str, Any]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, jpki_hierarchy: TestHierarchy
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("tiles")
    with node_on_devnet(root / "node", jpki_hierarchy) as node:
        token = node.token("issuer", "submit", "read")
        signer = jpki_hierarchy.ee_valid_gen02
        for batch, count in enumerate(BATCHES):
            entries = [signed_entry(signer, f"tiles {batch}/{i}".encode()) for i in range(count)]
            answer = http("POST", node.url + "/v1/entries/bulk", {"entries": entries}, token)
            assert answer.status == 201, answer.body
            head = node.wait_final()
        key = _wait_checkpoint(node, head["tree_size"])
        site = root / "site"
        site.mkdir()
        (site / "log").symlink_to(node.data_dir / "tiles")
        shutil.copytree(node.data_dir / "tiles", site / "tampered")
        tile = site / "tampered" / tile_path(0, 0)
        data = bytearray(tile.read_bytes())
        data[5 * 32] ^= 1  # leaf 5's hash
        tile.write_bytes(bytes(data))
        with serve_tiles(site, root / "nginx") as url:
            yield Served(node, url, key, head)


def _wait_checkpoint(node: NodeProcess, size: int) -> str:
    """The node's checkpoint key, once its checkpoint reaches `size` (tiles lag anchoring)."""
    for _ in range(300):
        answer = http("GET", node.url + "/v1/tiles/key").body
        if answer["checkpoint_size"] == size:
            return str(answer["verifier_key"])
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint of size {size}: {answer}")


def _source(served: Served, prefix: str = "log", key: str | None = None) -> TileSource:
    return TileSource(f"{served.url}/{prefix}", parse_verifier_key(key or served.key))


def test_the_key_is_the_origin_of_this_municipality(served: Served) -> None:
    assert served.key.startswith(f"notary.example/{LG_CODE:06d}+")
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "tiles", "key", "--data-dir", str(served.node.data_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.strip() == served.key
    assert (served.node.data_dir / "note.key").stat().st_mode & 0o777 == 0o600


def test_nginx_serves_tiles_with_their_cache_rules(served: Served) -> None:
    def get(path: str) -> tuple[bytes, Any]:
        with urllib.request.urlopen(f"{served.url}/log/{path}") as response:
            return response.read(), response.headers

    note, headers = get("checkpoint")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=2"
    origin, size, root = note.decode().split("\n")[:3]
    assert (origin, int(size)) == (f"notary.example/{LG_CODE:06d}", 300)
    assert base64.b64decode(root).hex() == served.head["latest_final_head"]["root"]
    tile, headers = get("tile/0/000")
    assert len(tile) == 256 * 32 and "immutable" in headers["Cache-Control"]
    assert headers["Content-Type"] == "application/octet-stream"
    _, headers = get("tile/0/001.p/44")
    assert headers["Cache-Control"] == "public, max-age=2"
    _, headers = get("tile/1/000.p/1")
    bundle, headers = get("tile/entries/000")
    assert "immutable" in headers["Cache-Control"]
    first = http("GET", served.node.url + "/v1/log/leaves?start=0&end=1").body["leaves"][0]
    assert bundle[2 : 2 + int.from_bytes(bundle[:2], "big")] == base64.b64decode(first["leaf"])


def test_proofs_from_tiles_equal_the_nodes_own(served: Served) -> None:
    final = served.head["latest_final_head"]
    size, root = final["tree_size"], bytes.fromhex(final["root"])
    node = served.node.url
    with TileClient(_source(served)) as client:
        checkpoint = client.verified_checkpoint()
        assert (checkpoint.tree_size, checkpoint.root) == (size, root)
        for index in (0, 5, 255, 256, 299):
            leaf = base64.b64decode(
                http("GET", f"{node}/v1/log/leaves?start={index}&end={index + 1}").body["leaves"][
                    0
                ]["leaf"]
            )
            query = f"leaf_hash={hash_leaf(leaf).hex()}&tree_size={size}"
            own = http("GET", f"{node}/v1/log/inclusion?{query}").body
            proof = inclusion_from_tiles(client, leaf, index, size, root)
            assert own["leaf_index"] == index
            assert [p.hex() for p in proof] == own["path"]
        first = BATCHES[0]
        own = http("GET", f"{node}/v1/log/consistency?first={first}&second={size}").body
        assert [p.hex() for p in client.consistency_proof(first, size)] == own["proof"]
        entries = client.entries(size, 1)
        assert len(entries) == 44
        assert [hash_leaf(e) for e in entries] == client.tile(tile_for(size, 0, 1))


def test_a_tampered_tile_a_wrong_key_or_another_root_is_refused(served: Served) -> None:
    final = served.head["latest_final_head"]
    size, root = final["tree_size"], bytes.fromhex(final["root"])
    node = served.node.url
    leaf = base64.b64decode(
        http("GET", f"{node}/v1/log/leaves?start=4&end=5").body["leaves"][0]["leaf"]
    )
    with TileClient(_source(served, "tampered")) as client:
        client.checkpoint()  # the signed checkpoint itself is intact
        # Leaf 4's proof starts with leaf 5's hash, the one changed.
        with pytest.raises(TileVerificationError, match="does not reach the anchored root"):
            inclusion_from_tiles(client, leaf, 4, size, root)
    other = str(NoteSigner.generate(f"notary.example/{LG_CODE:06d}").verifier)
    with (
        TileClient(_source(served, key=other)) as client,
        pytest.raises(TileVerificationError, match="not signed by"),
    ):
        client.checkpoint()
    with TileClient(_source(served)) as client:
        checkpoint = client.checkpoint()
        with pytest.raises(TileVerificationError, match="is not the anchored root"):
            check_anchored(client, checkpoint, size, bytes(32))
        first = BATCHES[0]
        with pytest.raises(TileVerificationError, match="does not extend the anchored head"):
            check_anchored(client, checkpoint, first, bytes(32))
        check_anchored(client, checkpoint, first, client.root(first))


def _audit(served: Served, out: Path, prefix: str) -> tuple[int, dict[str, Any], str]:
    node = served.node
    nodes = {f"{LG_CODE:06d}": {"tiles": f"{served.url}/{prefix}", "note_key": served.key}}
    out.mkdir(parents=True)
    (out / "nodes.json").write_text(json.dumps(nodes))
    args = ["audit", "--rpc", node.rpc_url, "--registry", node.registry]
    args += ["--nodes", str(out / "nodes.json"), "--out", str(out), "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads((out / "report.json").read_text()), done.stdout


def test_the_audit_reads_a_log_from_its_tiles(served: Served, tmp_path: Path) -> None:
    code, report, stdout = _audit(served, tmp_path / "clean", "log")
    assert code == 0, stdout
    (entry,) = report["nodes"]
    assert entry["log"] == "checked" and entry["leaves_checked"] == 300
    code, report, stdout = _audit(served, tmp_path / "tampered", "tampered")
    assert code == 1
    # The leaves are intact; the tile and the proofs computed from it are not.
    codes = {f["code"] for f in report["findings"]}
    assert codes == {"tiles-mismatch", "inconsistent-heads"}, stdout


def test_export_rebuilds_the_same_files_from_a_stopped_node(served: Served, tmp_path: Path) -> None:
    served.node.stop()  # the last test of the module: the export needs the store unlocked
    out = tmp_path / "export"
    done = subprocess.run(
        [*EXPORT, "--data-dir", str(served.node.data_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "size 300" in done.stdout
    written = served.node.data_dir / "tiles"
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    kept = {p.relative_to(written) for p in written.rglob("*") if p.is_file()}
    # The node also kept the partial tiles of its first checkpoint (size 200), for clients
    # still on it; the rest is byte for byte what the export wrote.
    assert {str(p) for p in kept - set(files)} == {"tile/0/000.p/200", "tile/entries/000.p/200"}
    match, mismatch, errors = filecmp.cmpfiles(written, out, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)
    refused = subprocess.run(
        [*EXPORT, "--data-dir", str(tmp_path / "none"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
