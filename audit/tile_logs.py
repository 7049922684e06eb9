"""A municipality's log checked from its static tiles alone (docs/AUDIT.md, "Auditing from
tiles"), the same checks as `audit/logs.py` makes through the node's API, with every proof
computed here: the checkpoint's signature with the node's checkpoint key, the checkpoint against
the anchored heads, consistency between consecutive anchored heads, and every leaf (entry
bundles) rehashed to each anchored root."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

from audit import findings as f
from audit.findings import Finding
from audit.logs import LogCheck
from audit.registry import Anchor, MunicipalNode
from protocol.merkle import (
    CompactRange,
    ProofError,
    hash_leaf,
    root_from_leaf_hashes,
    verify_consistency,
)
from protocol.tiles import TILE_WIDTH, Tile, tile_for, tile_path, tiles_between
from verifier.tiles import TileClient, TileReadError, TileSource, TileVerificationError


def check_tile_log(
    node: MunicipalNode, source: TileSource, advance: Callable[[int], None] = lambda _: None
) -> LogCheck:
    result = LogCheck(source.url)
    client = TileClient(source)
    try:
        checkpoint = client.verified_checkpoint()
        anchors = [a for a in node.anchors if a.tree_size <= checkpoint.tree_size]
        matching = [a for a in anchors if a.tree_size == checkpoint.tree_size]
        if checkpoint.tree_size and not any(a.root == checkpoint.root for a in matching):
            result.findings.append(
                _finding(
                    node,
                    f.CHECKPOINT_NOT_ANCHORED,
                    f"{source.url}: the checkpoint (size {checkpoint.tree_size}, root "
                    f"{checkpoint.root.hex()}) is not an anchored head of this node",
                )
            )
        if len(anchors) < len(node.anchors):
            latest = node.anchors[-1]
            result.findings.append(
                _finding(
                    node,
                    f.TILES_BEHIND,
                    f"{source.url}: the checkpoint (size {checkpoint.tree_size}) is behind the "
                    f"latest anchored head (seq {latest.seq}, size {latest.tree_size})",
                )
            )
        _check_consistency(client, anchors, result, advance)
        _check_leaves(client, node, anchors, checkpoint.tree_size, result)
        _check_tiles(client, node, checkpoint.tree_size, result)
        advance(len(node.anchors) - len(anchors))
        result.status = "checked"
    except TileReadError as error:
        result.status = "unreachable"
        result.findings.append(_finding(node, f.NODE_UNREACHABLE, str(error)))
    except TileVerificationError as error:
        result.status = "checked"
        result.findings.append(_finding(node, f.CHECKPOINT_INVALID, str(error)))
    finally:
        client.close()
    return result


def _check_consistency(
    client: TileClient, anchors: list[Anchor], result: LogCheck, advance: Callable[[int], None]
) -> None:
    """Each anchored head extends the one before, by a proof computed from the tiles."""
    for older, newer in itertools.pairwise(anchors):
        advance(1)
        if newer.tree_size <= older.tree_size:
            continue
        proof = client.consistency_proof(older.tree_size, newer.tree_size)
        try:
            verify_consistency(older.tree_size, newer.tree_size, proof, older.root, newer.root)
        except ProofError as error:
            result.findings.append(
                _anchor_finding(
                    newer,
                    f.INCONSISTENT_HEADS,
                    f"from the tiles, head seq {newer.seq} (size {newer.tree_size}) does not "
                    f"extend head seq {older.seq} (size {older.tree_size}): {error}",
                )
            )
    advance(1)


def _check_leaves(
    client: TileClient, node: MunicipalNode, anchors: list[Anchor], size: int, result: LogCheck
) -> None:
    """Every entry bundle up to the checkpoint, rehashed: each anchored root must come out."""
    pending = deque(sorted(anchors, key=lambda a: a.tree_size))
    frontier = CompactRange()
    for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        leaves = client.entries(size, index)
        if [hash_leaf(leaf) for leaf in leaves] != client.tile(tile_for(size, 0, index)):
            result.findings.append(
                _finding(
                    node,
                    f.TILES_MISMATCH,
                    f"entry bundle {index} does not match the hashes of tile {tile_path(0, index)}",
                )
            )
        for leaf in leaves:
            frontier.append(hash_leaf(leaf))
            while pending and pending[0].tree_size == frontier.size:
                anchor = pending.popleft()
                if frontier.root() != anchor.root:
                    result.findings.append(
                        _anchor_finding(
                            anchor,
                            f.LEAVES_MISMATCH,
                            f"the entry bundles' leaves 0..{anchor.tree_size - 1} do not hash "
                            f"to anchored root 0x{anchor.root.hex()} (seq {anchor.seq})",
                        )
                    )
        result.leaves_checked = frontier.size
    if frontier.size != size:
        result.findings.append(
            _finding(node, f.LEAVES_WITHHELD, f"the entry bundles hold {frontier.size} of {size}")
        )


def _check_tiles(client: TileClient, node: MunicipalNode, size: int, result: LogCheck) -> None:
    """Every hash of every tile above level 0 is the root of the 256 hashes under it: with the
    bundles' check, no tile can hold a hash that the leaves do not make."""
    for tile in tiles_between(0, size):
        if tile.level == 0:
            continue
        hashes = client.tile(tile)
        for offset, expected in enumerate(hashes):
            below = client.tile(Tile(tile.level - 1, tile.index * TILE_WIDTH + offset))
            if root_from_leaf_hashes(below) != expected:
                result.findings.append(
                    _finding(
                        node,
                        f.TILES_MISMATCH,
                        f"hash {offset} of tile {tile.path} is not the root of the tile under it",
                    )
                )
                return


def _finding(node: MunicipalNode, code: str, message: str) -> Finding:
    return Finding(code, message, node=node.key, lg_code=node.lg_code)


def _anchor_finding(anchor: Anchor, code: str, message: str) -> Finding:
    return Finding(
        code, message, node=anchor.node, lg_code=anchor.lg_code, block=anchor.block, seq=anchor.seq
    )
