"""The protocol's facts, each written once, with no I/O: what every other package shares.

- `protocol.merkle`: RFC 6962 hashing, inclusion and consistency proofs, compact ranges.
- `protocol.leaf`: the log's leaf encodings (document, revocation) and the local-government code.
- `protocol.bundle`: the proof bundle's parse, build and serialisation (docs/PROTOCOL.md).
- `protocol.registry_abi`: the NotaryRegistry's calls and events, encoded and decoded.
- `protocol.checks`: the verification checks, their order and the verdict rule.
- `protocol.finality`: when a Clique block counts as final.
- `protocol.mpt`: Ethereum Merkle-Patricia trie proofs (EIP-1186 `eth_getProof`), verified;
  proofs of small tries built.
- `protocol.header`: Ethereum block headers from JSON-RPC or RLP, and their hash.
- `protocol.clique`: Clique seals and signers, and finality shown by a chain of headers.
- `protocol.receipts`: receipt encodings and receipt proofs against a block's `receiptsRoot`.
- `protocol.registry_storage`: where the registry keeps node and anchor records (storage proofs).
- `protocol.errors`: what the above raise for input that breaks the formats.

Nothing here opens a file or a socket, reads the clock or logs (tests/test_import_rules.py):
functions take bytes and numbers and return values or raise `ProtocolError` (chain evidence:
its `EvidenceError`, naming the piece at fault).
"""
