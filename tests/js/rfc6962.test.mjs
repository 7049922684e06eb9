// The page's RFC 6962 code on transparency-dev/merkle's vectors (/work/shared/conformance), the
// same files tests/test_merkle_conformance.py runs through the Python verifier.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { CONFORMANCE, fromB64, fromHex, readJson, toHex } from './support.mjs';
import { EMPTY_ROOT_HEX, ProofError, hashChildren, hashLeaf, verifyConsistency, verifyInclusion } from '../../verifier/web/src/rfc6962.js';

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.json') ? [path] : [];
  });
}
const KINDS = ['inclusion', 'consistency'];
const vectors = KINDS.flatMap((kind) => files(join(CONFORMANCE, kind)).sort().map((path) => ({ kind, path, v: readJson(path) })));
const proof = (v) => (v.proof || []).map(fromB64); // the Go vectors write an empty proof as null

test('the conformance folder is complete (no pass with a handful of cases)', () => {
  assert.ok(vectors.length > 50, `only ${vectors.length} vectors under ${CONFORMANCE}`);
  for (const kind of KINDS) {
    assert.ok(vectors.some((x) => x.kind === kind && x.v.wantErr), `no wantErr ${kind} vectors`);
    assert.ok(vectors.some((x) => x.kind === kind && !x.v.wantErr), `no accepted ${kind} vectors`);
  }
});

for (const { kind, path, v } of vectors) {
  test(`${kind}: ${relative(CONFORMANCE, path)} (${v.desc})`, async () => {
    const run = kind === 'inclusion'
      ? () => verifyInclusion(fromB64(v.leafHash), BigInt(v.leafIdx), BigInt(v.treeSize), proof(v), fromB64(v.root))
      : () => verifyConsistency(BigInt(v.size1), BigInt(v.size2), proof(v), fromB64(v.root1), fromB64(v.root2));
    if (v.wantErr) await assert.rejects(run, ProofError);
    else await run();
  });
}

// RFC 6962's test tree (certificate-transparency): the leaves behind the vectors' roots.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
async function rootOf(hashes) { // MTH of RFC 6962 2.1, split at the largest power of two below n
  if (hashes.length === 1) return hashes[0];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return hashChildren(await rootOf(hashes.slice(0, k)), await rootOf(hashes.slice(k)));
}

test('leaf and node hashes rebuild the roots of the happy-path vectors', async () => {
  const hashes = await Promise.all(LEAVES.map(hashLeaf));
  let rebuilt = 0;
  for (const { kind, v } of vectors) {
    if (v.wantErr || kind !== 'inclusion' || v.treeSize > LEAVES.length) continue;
    if (toHex(hashes[v.leafIdx]) !== toHex(fromB64(v.leafHash))) continue;
    assert.equal(toHex(await rootOf(hashes.slice(0, v.treeSize))), toHex(fromB64(v.root)));
    rebuilt++;
  }
  assert.ok(rebuilt >= 2, 'no happy-path vector used the RFC 6962 test leaves');
});

test('the empty-tree root and the two hash prefixes', async () => {
  assert.equal(toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array()))), EMPTY_ROOT_HEX);
  // RFC 6962: leaf = SHA-256(0x00 || data); node = SHA-256(0x01 || left || right).
  assert.equal(toHex(await hashLeaf(new Uint8Array())), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  const leaf = await hashLeaf(new Uint8Array());
  assert.notEqual(toHex(await hashChildren(leaf, leaf)), toHex(await hashLeaf(new Uint8Array([...leaf, ...leaf]))));
});
