"""protocol/tiles.py and protocol/checkpoint.py: the C2SP formats, on published vectors and
against the in-memory RFC 6962 tree."""

from __future__ import annotations

import base64

import pytest

from protocol.checkpoint import (
    EM_DASH,
    Checkpoint,
    CheckpointError,
    NoteSigner,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
)
from protocol.merkle import (
    MerkleTree,
    consistency_proof_from_subtrees,
    hash_leaf,
    inclusion_proof_from_subtrees,
    root_from_subtrees,
)
from protocol.tiles import (
    TILE_WIDTH,
    Tile,
    TileFormatError,
    decode_entry_bundle,
    decode_tile,
    encode_entry_bundle,
    encode_index,
    encode_tile,
    entries_path,
    subtree_hash_from_tiles,
    tile_for,
    tile_path,
    tiles_between,
)

# golang.org/x/mod/sumdb/note's documented example (the reference implementation).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n" + EM_DASH + " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUg"
    "YN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
# c2sp.org/signed-note's example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n" + EM_DASH + " example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1"
    "YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def test_the_reference_signer_signs_the_reference_note_byte_for_byte() -> None:
    signer = parse_signer_key(GO_SKEY)
    assert str(signer) == GO_SKEY
    assert str(signer.verifier) == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE  # Ed25519 is deterministic
    assert open_note(GO_NOTE, parse_verifier_key(GO_VKEY)) == GO_TEXT


def test_the_specs_example_note_verifies() -> None:
    verifier = parse_verifier_key(SPEC_VKEY)
    assert open_note(SPEC_NOTE, verifier) == "This is an example message.\n"
    assert str(verifier) == SPEC_VKEY


@pytest.mark.parametrize(
    "key",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # wrong key hash
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        GO_VKEY + "=",
    ],
)
def test_a_malformed_verifier_key_is_refused(key: str) -> None:
    with pytest.raises(CheckpointError):
        parse_verifier_key(key)


def test_a_tampered_note_or_another_key_is_refused() -> None:
    verifier = parse_verifier_key(GO_VKEY)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_note(GO_NOTE.replace(b"cryptography", b"cryptographY"), verifier)
    with pytest.raises(CheckpointError, match="not signed by"):
        open_note(GO_NOTE, NoteSigner.generate("PeterNeumann").verifier)
    with pytest.raises(CheckpointError, match="not signed by"):
        open_note(SPEC_NOTE, verifier)


def test_a_checkpoint_round_trips_and_names_its_origin() -> None:
    signer = NoteSigner.generate("notary.example/131016")
    checkpoint = Checkpoint("notary.example/131016", 1234, bytes(range(32)))
    note = sign_checkpoint(checkpoint, signer)
    assert note.decode().startswith(
        "notary.example/131016\n1234\n" + base64.b64encode(bytes(range(32))).decode() + "\n\n— "
    )
    assert open_checkpoint(note, signer.verifier) == checkpoint
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, signer.verifier, origin="notary.example/012017")


@pytest.mark.parametrize(
    "text",
    [
        "o\n12\n",
        "o\n012\nAAAA\n",
        "o\n-1\n" + "A" * 44 + "\n",
        "\n1\n" + "A" * 44 + "\n",
        "o\n1\nAAAA\n",
    ],
)
def test_a_malformed_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_tile_paths_follow_the_spec() -> None:
    # c2sp.org/tlog-tiles: "the tile at level 1, index 1234067 ... tile/1/x001/x234/067"
    assert tile_path(1, 1_234_067) == "tile/1/x001/x234/067"
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(2, 1000, 7) == "tile/2/x001/000.p/7"
    assert entries_path(1_234_067, 128) == "tile/entries/x001/x234/067.p/128"
    assert encode_index(999) == "999"
    with pytest.raises(TileFormatError):
        tile_path(0, 0, 0)
    with pytest.raises(TileFormatError):
        tile_path(0, 0, 257)


def test_tiles_of_a_tree_and_of_its_growth() -> None:
    size = 70_000  # 273 full level-0 tiles + 112; level 1: 1 full + 17; level 2: 1
    tiles = list(tiles_between(0, size))
    assert len(tiles) == 274 + 2 + 1
    assert tiles[273] == Tile(0, 273, 112)
    assert tiles[-3:] == [Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]
    # One more entry: only the right edge changes.
    assert list(tiles_between(size, size + 1)) == [Tile(0, 273, 113)]
    # Filling the partial tile makes it full and starts the level above growing.
    assert list(tiles_between(256, 512)) == [Tile(0, 1), Tile(1, 0, 2)]
    assert list(tiles_between(5, 5)) == []
    with pytest.raises(TileFormatError):
        tile_for(size, 2, 1)


def test_tile_and_bundle_encodings() -> None:
    hashes = [bytes([i]) * 32 for i in range(3)]
    assert decode_tile(encode_tile(hashes), 3) == hashes
    with pytest.raises(TileFormatError):
        decode_tile(encode_tile(hashes), 4)
    entries = [b"", b"a", b"x" * 300]
    bundle = encode_entry_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert decode_entry_bundle(bundle, 3) == entries
    with pytest.raises(TileFormatError):
        decode_entry_bundle(bundle[:-1], 3)
    with pytest.raises(TileFormatError):
        decode_entry_bundle(bundle, 2)
    with pytest.raises(TileFormatError):
        encode_entry_bundle([b"x" * 65_536])


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 1000, 65_536 + 300])
def test_proofs_from_tiles_equal_proofs_from_the_tree(size: int) -> None:
    leaves = [hash_leaf(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree(leaves)

    def read(tile: Tile) -> list[bytes]:
        # Hashes at level 8·L: the roots of the 256^L-leaf subtrees, as a node writes them.
        span = 1 << (8 * tile.level)
        first = tile.index * TILE_WIDTH
        return [
            tree.subtree_hash((first + i) * span, (first + i + 1) * span) for i in range(tile.width)
        ]

    def subtree(start: int, end: int) -> bytes:
        return subtree_hash_from_tiles(size, start, end, read)

    assert root_from_subtrees(size, subtree) == tree.root
    for index in {0, size // 2, size - 1}:
        assert inclusion_proof_from_subtrees(index, size, subtree) == tree.inclusion_proof(
            index, size
        )
    for old in {1, size // 3, size - 1}:
        if 0 < old <= size:
            assert consistency_proof_from_subtrees(old, size, subtree) == tree.consistency_proof(
                old, size
            )
