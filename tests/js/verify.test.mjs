// verify() end to end on every bundle of tests/vectors/expected.json, as
// tests/test_verify_page.py runs them in Chromium: the same verdict and failed check, against
// stand-ins for the chain and an issuing node that knows no revocation. These are pre-seal
// bundles: expected.json states them with require_municipal_seal off, and its `seal_policy`
// the verdicts under the default (a card on a registered type: invalid at issuer_policy).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { VECTORS, readBytes, readJson, standInFetch } from './support.mjs';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { CHECK_ORDER } from '../../verifier/web/src/protocol.gen.js';
import { verify } from '../../verifier/web/src/verify.js';

const EXPECTED = readJson(join(VECTORS, 'expected.json'));
const CHAIN = readJson(join(VECTORS, 'chain.json'));
const RPC = 'http://chain.test/rpc', NODE = 'http://node.test';
const requests = [];
const realFetch = globalThis.fetch;
let policy, sealed;

before(async () => {
  globalThis.fetch = standInFetch(CHAIN, RPC, NODE, requests);
  const built = await policyFrom({
    rpc_urls: [RPC], chain_id: BigInt(CHAIN.chain_id), registry: CHAIN.registry, node_url: NODE, finality_depth: null,
    trust_anchors: [readFileSync(join(VECTORS, 'signing', 'ca.pem'), 'utf8')],
    crls: [readFileSync(join(VECTORS, 'signing', 'crl.der')).toString('base64')],
  });
  assert.deepEqual(built.problems, []);
  assert.equal(built.policy.requireMunicipalSeal, true, 'the seal rule is on unless configured off');
  sealed = built.policy;
  policy = { ...built.policy, requireMunicipalSeal: EXPECTED.require_municipal_seal };
});
after(() => { globalThis.fetch = realFetch; });

for (const [name, c] of Object.entries(EXPECTED.bundles)) {
  test(`${name}: ${c.status}${c.failed_check ? ' at ' + c.failed_check : ''}`, async () => {
    const verdict = await verify(readBytes(join(VECTORS, c.document)), readBytes(join(VECTORS, name)), policy);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check], verdict.deciding && verdict.deciding.detail);
    assert.deepEqual(verdict.checks.map((k) => k.name), [...CHECK_ORDER]);
    const requester = verdict.checks.find((k) => k.name === 'requester_disclosure');
    assert.equal(requester.outcome, 'skipped', 'asked for only with a disclosure');
  });
}

for (const [name, c] of Object.entries(EXPECTED.seal_policy)) {
  test(`${name} under the default seal rule: ${c.status} at ${c.failed_check}`, async () => {
    const document = EXPECTED.bundles[name].document;
    const verdict = await verify(readBytes(join(VECTORS, document)), readBytes(join(VECTORS, name)), sealed);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check]);
    assert.match(verdict.deciding.detail, /^a My Number card signature certificate \(serial 0x[0-9a-f]+\) may not sign a [a-z_]+ \(accepted: municipal seal \(LGPKI organisational certificate\)\); this bundle predates the municipal seal: a relying party that accepts such documents verifies with --accept-unsealed$/);
  });
}

test('with the seal rule off a pre-seal card bundle passes issuer_policy saying so', async () => {
  const c = EXPECTED.bundles['bundles/valid-cms.json'];
  const verdict = await verify(readBytes(join(VECTORS, c.document)), readBytes(join(VECTORS, 'bundles/valid-cms.json')), policy);
  const issuer = verdict.checks.find((k) => k.name === 'issuer_policy');
  assert.equal(issuer.outcome, 'passed');
  assert.match(issuer.detail, /: accepted without the municipal seal \(pre-seal bundle, --accept-unsealed\)$/);
  assert.equal(verdict.facts.signer.signer_kind, 'jpki-card-signature');
});

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
