"""The verification rules of docs/PROTOCOL.md ("Verification"), one module per group of checks.

Each rule takes the parsed bundle and a `Context` (policy, time, evidence sources) and returns
`Check`s; none raises for bad input or missing evidence. `verifier.verify` runs them in
`protocol.checks.CHECK_ORDER` and `protocol.checks.decide` turns them into a verdict.

- `document`: the document and the bundle's leaf (document_leaf).
- `anchoring`: inclusion proof, chain, registry, anchor transaction, withdrawal, node, finality
  and anchor time; also used for a revocation's own anchoring.
- `evidence`: the same checks decided from a v3 bundle's chain evidence and a trust root, with
  no network (offline: ``valid_as_of``).
- `authorisation`: whether a node's registry record allows the anchor (online and proven).
- `signature`: the JPKI signature, its binding to the leaf and the signer certificate.
- `revocation`: whether the issuing municipality revoked the document.
"""
