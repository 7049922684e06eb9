// Leaf encoding, salted digests, signer commitments and the local-government check digit on
// tests/vectors/leaf-vectors.json, the vectors tests/test_verify_leaf.py checks in Python.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { VECTORS, fromHex, readJson, toHex } from './support.mjs';
import { encodeDocumentLeaf, isValidLgCode, revocationLeafData, saltedDigest, signerRef } from '../../verifier/web/src/leaf.js';
import { hashLeaf } from '../../verifier/web/src/rfc6962.js';

const LEAVES = readJson(join(VECTORS, 'leaf-vectors.json'));

test('salted digests', async () => {
  assert.ok(LEAVES.salted_digests.length >= 2);
  for (const v of LEAVES.salted_digests) {
    assert.equal(toHex(await saltedDigest(fromHex(v.salt), fromHex(v.document_sha256))), v.salted_digest);
  }
});

test('signer commitments', async () => {
  for (const v of LEAVES.signer_commitments) {
    const leaf = { salt: fromHex(v.salt), signer_sha256: fromHex(v.signer_sha256) };
    assert.equal(toHex(await signerRef({ ...leaf, version: 2 })), v.signer_commitment);
    assert.equal(toHex(await signerRef({ ...leaf, version: 1 })), v.signer_sha256); // version 1: the SHA-256 itself
  }
});

test('document and revocation leaves encode byte for byte and hash to the vector', async () => {
  const kinds = new Set();
  for (const entry of LEAVES.entries) {
    const f = entry.fields;
    let data;
    if (entry.kind === 'document') {
      data = encodeDocumentLeaf({
        ...f, salted_digest: fromHex(f.salted_digest), signer_ref: fromHex(f.signer_ref), signature_sha256: fromHex(f.signature_sha256),
      });
      assert.equal(data.length, 137, entry.name);
    } else {
      data = revocationLeafData({ revoked_leaf_hash: fromHex(f.revoked_leaf_hash), lg_code: f.lg_code, reason: f.reason, revoked_at: f.revoked_at });
      assert.equal(data.length, 64, entry.name);
    }
    kinds.add(entry.kind);
    assert.equal(toHex(data), entry.encoding, entry.name);
    assert.equal(toHex(await hashLeaf(data)), entry.leaf_hash, entry.name);
  }
  assert.deepEqual([...kinds].sort(), ['document', 'revocation']);
});

test('the local-government code rule matches known codes (verifier/leaf.py is_valid_lg_code)', () => {
  for (const code of [131016, 11002, 472018]) assert.equal(isValidLgCode(code), true, String(code));
  for (const code of [131017, 11003, 0, 999999, 1000000, 481000]) assert.equal(isValidLgCode(code), false, String(code));
  for (const code of [true, '131016', 131016.5, null, 131016n]) assert.equal(isValidLgCode(code), false, String(code));
});
