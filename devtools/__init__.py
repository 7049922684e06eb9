"""What only development and tests need; production code never imports it.

- `testca`: the synthetic JPKI-TEST CA hierarchy (test keys, invented people).
- `cms_sign`: card-like CMS signatures made with a software key.
- `jpki_cli`: `notary jpki test-ca` and `notary jpki sign` over the two above.
- `local_devnet`: `notary node --dev`, a one-validator Clique devnet with everything provisioned.
- `local_anvil`: `notary dev`, an anvil chain with the registry deployed (contract work).
"""
