// The version-4 vectors (tests/vectors/v4/expected.json: municipal seals, smartphone and
// user-authentication signers, events, requester disclosures, chain evidence, malformed
// version-4 bundles) through the page's verify(), under the policy Python's
// tests/test_verify_v4_vectors.py uses: the same verdict and deciding check, every check of
// CHECK_ORDER, and for the refusals the reason words Python's verdict gives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { VECTORS, readBytes, readJson, standInFetch } from './support.mjs';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { CHECK_ORDER } from '../../verifier/web/src/protocol.gen.js';
import { loadDisclosure } from '../../verifier/web/src/requester.js';
import { verify } from '../../verifier/web/src/verify.js';

const EXPECTED = readJson(join(VECTORS, 'v4', 'expected.json'));
const POLICY = EXPECTED.policy;
const CHAIN = readJson(join(VECTORS, POLICY.chain));
const NOW = Date.parse(EXPECTED.verify_at) / 1000;
const RPC = 'http://chain.test/rpc';
const text = (name) => readFileSync(join(VECTORS, name), 'utf8');
const b64 = (name) => readFileSync(join(VECTORS, name)).toString('base64');
const realFetch = globalThis.fetch;
let policy;

async function built(settings) {
  const made = await policyFrom({
    rpc_urls: [RPC], chain_id: BigInt(CHAIN.chain_id), registry: CHAIN.registry, node_url: null, finality_depth: null,
    trust_anchors: POLICY.trust_anchors.map(text), seal_trust_anchors: POLICY.seal_trust_anchors.map(text),
    crls: POLICY.crls.map(b64), trust_root: null, require_municipal_seal: EXPECTED.require_municipal_seal, ...settings,
  });
  assert.deepEqual(made.problems, []);
  return { ...made.policy, now: NOW, requireRevocationCheck: EXPECTED.require_revocation_check };
}
const run = (name, document, p = policy, options = {}) => verify(readBytes(join(VECTORS, document)), readBytes(join(VECTORS, name)), p, options);

before(async () => {
  globalThis.fetch = standInFetch(CHAIN, RPC, 'http://node.test');
  policy = await built({});
});
after(() => { globalThis.fetch = realFetch; });

for (const [name, c] of Object.entries(EXPECTED.bundles)) {
  test(`${name}: ${c.status}${c.failed_check ? ' at ' + c.failed_check : ''}`, async () => {
    const verdict = await run(name, c.document);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check], verdict.deciding && verdict.deciding.detail);
    assert.deepEqual(verdict.checks.map((k) => k.name), [...CHECK_ORDER]);
    if (c.failed_check) assert.equal(verdict.deciding.outcome, c.status === 'pending' ? 'unknown' : 'failed');
  });
}

test('the v4 signers are named by kind; a seal by its office', async () => {
  const kinds = {
    'sealed-requester': 'lgpki-seal', smartphone: 'jpki-smartphone-signature',
    'login-event': 'jpki-card-authentication', 'signature-event': 'jpki-card-signature',
  };
  for (const [name, kind] of Object.entries(kinds)) {
    const path = `v4/bundles/${name}.json`;
    const verdict = await run(path, EXPECTED.bundles[path].document);
    assert.equal(verdict.facts.signer.signer_kind, kind, name);
  }
  const sealed = await run('v4/bundles/sealed.json', EXPECTED.bundles['v4/bundles/sealed.json'].document);
  assert.equal(sealed.facts.signer.seal.organization_identifier, 'LGCJP-131016');
  assert.equal(sealed.facts.signer.seal.lg_code, 131016);
  assert.match(sealed.checks.find((k) => k.name === 'issuer_policy').detail, /^the municipal seal of .* \(LGCJP-131016, .*\) may sign a [a-z_]+$/);
  assert.match(sealed.checks.find((k) => k.name === 'signer_certificate').detail, /^municipal seal certificate serial 0x[0-9a-f]+ at the signing time /);
  const login = await run('v4/bundles/login-event.json', 'v4/documents/login-statement.txt');
  assert.equal(login.facts.entry_kind, 'event');
  assert.match(login.checks.find((k) => k.name === 'issuer_policy').detail, /may sign a login event$/);
});

test('the v4 invalid signers fail for the reason their vector names (Python\'s words)', async () => {
  const reasons = {
    'card-registered-type': /^a My Number card signature certificate \(serial 0x[0-9a-f]+\) may not sign a [a-z_]+ \(accepted: municipal seal \(LGPKI organisational certificate\)\)$/,
    'seal-other-municipality': /names local government 082201, but the entry was issued by municipality 131016: a seal signs only its own municipality's documents$/,
    'auth-on-document': /^a My Number card user-authentication certificate \(serial 0x[0-9a-f]+\) may not sign a municipality-defined type \d+ \(accepted: /,
    'seal-revoked': /^municipal seal certificate serial 0x[0-9a-f]+ is revoked at the signing time /,
    // the bundle carries the fake CA, so a CA of that name signed it, but no path leads to a
    // seal trust anchor (Python's words too)
    'seal-fake-ca': /^municipal seal certificate serial 0x[0-9a-f]+ is untrusted at the signing time [0-9TZ:-]+: no path to a configured trust anchor$/,
  };
  for (const [name, reason] of Object.entries(reasons)) {
    const path = `v4/bundles/invalid/${name}.json`;
    const verdict = await run(path, EXPECTED.bundles[path].document);
    assert.match(verdict.deciding.detail, reason, name);
  }
});

test('J-LIS anchors never vouch for a seal, nor seal anchors for a card', async () => {
  const swapped = await built({ trust_anchors: POLICY.seal_trust_anchors.map(text), seal_trust_anchors: POLICY.trust_anchors.map(text) });
  const seal = await run('v4/bundles/sealed.json', EXPECTED.bundles['v4/bundles/sealed.json'].document, swapped);
  assert.deepEqual([seal.status, seal.failedCheck], ['invalid', 'signer_certificate']);
  const phone = await run('v4/bundles/smartphone.json', EXPECTED.bundles['v4/bundles/smartphone.json'].document, swapped);
  assert.deepEqual([phone.status, phone.failedCheck], ['invalid', 'signer_certificate']);
  const none = await built({ seal_trust_anchors: [] });
  const unanchored = await run('v4/bundles/sealed.json', EXPECTED.bundles['v4/bundles/sealed.json'].document, none);
  assert.deepEqual([unanchored.status, unanchored.failedCheck], ['unknown', 'signer_certificate']);
  assert.match(unanchored.deciding.detail, /^no municipal seal trust anchors are configured/);
  await assert.rejects(built({ seal_trust_anchors: POLICY.trust_anchors.map(text) }), /both a J-LIS and a seal trust anchor/);
});

for (const [name, c] of Object.entries(EXPECTED.requester_disclosures)) {
  test(`requester disclosure ${name}: ${c.status}${c.failed_check ? ' at ' + c.failed_check : ''}`, async () => {
    const disclosure = loadDisclosure(readBytes(join(VECTORS, c.disclosure)));
    const verdict = await run(c.bundle, c.document, policy, { requesterDisclosure: disclosure });
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check], verdict.deciding && verdict.deciding.detail);
    const check = verdict.checks.find((k) => k.name === 'requester_disclosure');
    assert.equal(check.outcome, c.status === 'valid' ? 'passed' : 'failed');
    if (c.status === 'valid') {
      const opening = readJson(join(VECTORS, c.disclosure));
      assert.deepEqual(verdict.facts.requester, { card_serial: opening.card_serial, application_sha256: opening.application_sha256 });
      assert.equal(check.detail, `requested with the card certificate serial 0x${opening.card_serial} (application SHA-256 ${opening.application_sha256}): the disclosure opens leaf.requester_commitment`);
    }
  });
}

test('without a disclosure requester_disclosure is skipped, saying whether the entry commits to a requester', async () => {
  const committed = await run('v4/bundles/sealed-requester.json', 'v4/documents/sealed-resident-record.txt');
  assert.equal(committed.checks[2].outcome, 'skipped');
  assert.equal(committed.checks[2].detail, 'no requester disclosure given; the entry commits to its requester without naming them');
  assert.equal(committed.facts.requester, null);
  const none = await run('v4/bundles/sealed.json', EXPECTED.bundles['v4/bundles/sealed.json'].document);
  assert.equal(none.checks[2].detail, 'no requester disclosure given (the entry names no requester)');
});

test('a requester disclosure is read strictly, naming the field (protocol/requester.py)', () => {
  const good = readJson(join(VECTORS, EXPECTED.requester_disclosures.opens.disclosure));
  const refused = (obj) => { try { loadDisclosure(JSON.stringify(obj)); } catch (e) { return e.field; } return null; };
  assert.equal(refused(good), null);
  assert.equal(refused({ ...good, extra: 1 }), 'extra');
  assert.equal(refused({ ...good, requester_disclosure: 2 }), 'requester_disclosure');
  assert.equal(refused({ ...good, salt: good.salt.toUpperCase() }), 'salt');
  assert.equal(refused({ ...good, application_sha256: good.application_sha256.slice(2) }), 'application_sha256');
  for (const serial of ['0' + good.card_serial, good.card_serial.toLowerCase(), '', 'F'.repeat(41), 12]) assert.equal(refused({ ...good, card_serial: serial }), 'card_serial', String(serial));
  assert.throws(() => loadDisclosure('{'), /requester_disclosure: not JSON/);
  assert.throws(() => loadDisclosure(' '.repeat(4097)), /larger than any disclosure/);
});

test('offline with the trust root alone: its seal_anchors vouch for the seal (valid_as_of)', async () => {
  const off = EXPECTED.offline;
  const made = await policyFrom({
    rpc_urls: [], chain_id: null, registry: null, node_url: null, finality_depth: null, trust_anchors: [],
    crls: off.crls.map(b64), trust_root: readJson(join(VECTORS, off.trust_root)),
  });
  assert.deepEqual(made.problems, []);
  assert.ok(made.policy.sealTrustAnchors.length > 0, 'the trust root names seal anchors');
  const offline = { ...made.policy, now: NOW };
  globalThis.fetch = async (url) => { throw new Error(`offline verification asked ${url}`); };
  try {
    for (const [name, c] of Object.entries(off.bundles)) {
      const verdict = await run(name, c.document, offline);
      assert.deepEqual([verdict.status, verdict.failedCheck], [c.status, c.failed_check], name);
    }
  } finally {
    globalThis.fetch = standInFetch(CHAIN, RPC, 'http://node.test');
  }
});

test('malformed version-4 bundles are invalid at bundle_format, naming the field', async () => {
  const document = 'v4/documents/sealed-resident-record.txt';
  for (const [name, c] of Object.entries(EXPECTED.malformed)) {
    const verdict = await run(name, document);
    assert.deepEqual([verdict.status, verdict.failedCheck], ['invalid', 'bundle_format'], name);
    assert.ok(verdict.checks[0].detail.startsWith(`not a valid proof bundle: ${c.field}: `), `${name}: ${verdict.checks[0].detail}`);
    assert.equal(verdict.checks.length, CHECK_ORDER.length);
  }
});
