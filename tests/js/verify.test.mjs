// verify() end to end on every bundle of tests/vectors/expected.json, as
// tests/test_verify_page.py runs them in Chromium: the same verdict and failed check, against
// stand-ins for the chain and an issuing node that knows no revocation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { VECTORS, readBytes, readJson, standInFetch } from './support.mjs';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { verify } from '../../verifier/web/src/verify.js';

const EXPECTED = readJson(join(VECTORS, 'expected.json'));
const CHAIN = readJson(join(VECTORS, 'chain.json'));
const RPC = 'http://chain.test/rpc', NODE = 'http://node.test';
const requests = [];
const realFetch = globalThis.fetch;
let policy;

before(async () => {
  globalThis.fetch = standInFetch(CHAIN, RPC, NODE, requests);
  const built = await policyFrom({
    rpc_urls: [RPC], chain_id: BigInt(CHAIN.chain_id), registry: CHAIN.registry, node_url: NODE, finality_depth: null,
    trust_anchors: [readFileSync(join(VECTORS, 'signing', 'ca.pem'), 'utf8')],
    crls: [readFileSync(join(VECTORS, 'signing', 'crl.der')).toString('base64')],
  });
  assert.deepEqual(built.problems, []);
  policy = built.policy;
});
after(() => { globalThis.fetch = realFetch; });

for (const [name, c] of Object.entries(EXPECTED.bundles)) {
  test(`${name}: ${c.status}${c.failed_check ? ' at ' + c.failed_check : ''}`, async () => {
    const verdict = await verify(readBytes(join(VECTORS, c.document)), readBytes(join(VECTORS, name)), policy);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check], verdict.deciding && verdict.deciding.detail);
    assert.equal(verdict.checks.length, 15);
  });
}

test('malformed bundles are invalid at bundle_format, naming the field', async () => {
  const document = readBytes(join(VECTORS, 'documents', 'resident-record.txt'));
  for (const [name, c] of Object.entries(EXPECTED.malformed)) {
    const verdict = await verify(document, readBytes(join(VECTORS, name)), policy);
    assert.deepEqual([verdict.status, verdict.failedCheck], ['invalid', 'bundle_format'], name);
    assert.ok(verdict.checks[0].detail.startsWith(`not a valid proof bundle: ${c.field}: `), name);
  }
});

test('the node was asked by bucket only: two hex digits, never a leaf hash', () => {
  const asked = requests.filter((url) => url.startsWith(NODE));
  assert.ok(asked.length > 0);
  for (const url of asked) assert.match(url, /^http:\/\/node\.test\/v1\/revocations\/[0-9a-f]{2}$/);
});
