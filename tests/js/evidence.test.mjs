// Version-3 bundles (chain evidence) through the page's verify(), as
// tests/test_verify_vectors.py runs them in Python: offline against tests/vectors/v3/trust-root.json
// with no network at all, and online against a stand-in for the chain with the evidence checked
// too. Every vector's verdict and deciding check equal Python's (v3/expected.json), and each
// altered piece of evidence fails the check Python names.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { VECTORS, readBytes, readJson, standInFetch } from './support.mjs';
import { FormatError } from '../../verifier/web/src/errors.js';
import { loadBundle } from '../../verifier/web/src/bundle.js';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { CHECK_ORDER } from '../../verifier/web/src/protocol.gen.js';
import { verify } from '../../verifier/web/src/verify.js';

const V3 = join(VECTORS, 'v3');
const EXPECTED = readJson(join(V3, 'expected.json'));
const CHAIN = readJson(join(V3, 'chain.json'));
const TRUST_ROOT = readJson(join(V3, 'trust-root.json'));
const NOW = Date.parse(EXPECTED.verify_at) / 1000;
const RPC = 'http://chain.test/rpc';
const CRL = readFileSync(join(VECTORS, 'signing', 'crl.der')).toString('base64');
const requests = [];
const realFetch = globalThis.fetch;
let offline, online;

async function policy(settings) {
  const built = await policyFrom({
    rpc_urls: [], chain_id: null, registry: null, node_url: null, finality_depth: null, trust_anchors: [], crls: [CRL],
    trust_root: TRUST_ROOT, ...settings,
  });
  assert.deepEqual(built.problems, []);
  return { ...built.policy, now: NOW, requireMunicipalSeal: EXPECTED.require_municipal_seal };
}

before(async () => {
  globalThis.fetch = async (url, init) => { requests.push(url); return standInFetch(CHAIN, RPC, 'http://node.test')(url, init); };
  offline = await policy({});
  online = { ...await policy({ rpc_urls: [RPC] }), requireRevocationCheck: false };
});
after(() => { globalThis.fetch = realFetch; });

test('a trust root alone makes an offline policy pinned to its chain and registry', () => {
  assert.equal(offline.offline, true);
  assert.equal(offline.chainId, BigInt(TRUST_ROOT.chain_id));
  assert.equal(offline.registry, TRUST_ROOT.registry.address);
  assert.equal(offline.trustAnchors.length, TRUST_ROOT.jpki_anchors.length); // J-LIS anchors from the trust root
  assert.equal(online.offline, false);
});

for (const [name, c] of Object.entries(EXPECTED.bundles)) {
  const document = () => readBytes(join(VECTORS, c.document));
  test(`${name}: offline ${c.offline}${c.failed_check ? ' at ' + c.failed_check : ''}, no network`, async () => {
    const before = requests.length;
    const verdict = await verify(document(), readBytes(join(VECTORS, name)), offline);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.offline, c.failed_check], verdict.deciding && verdict.deciding.detail);
    assert.equal(requests.length, before, 'offline verification asked the network');
    assert.equal(verdict.checks.length, CHECK_ORDER.length);
    if (c.failed_check) assert.match(verdict.deciding.detail, /evidence\./);
  });
  test(`${name}: online ${c.online}${c.failed_check ? ' at ' + c.failed_check : ''}, the evidence checked too`, async () => {
    const verdict = await verify(document(), readBytes(join(VECTORS, name)), online);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.online, c.failed_check], verdict.deciding && verdict.deciding.detail);
  });
}

for (const [name, c] of Object.entries(EXPECTED.without_own_crls.bundles)) {
  test(`${name}: with no CRL of the page's own, the bundle's signer evidence decides: ${c.offline}`, async () => {
    const bare = await policy({ crls: [] });
    const verdict = await verify(readBytes(join(VECTORS, c.document)), readBytes(join(VECTORS, name)), bare);
    assert.deepEqual([verdict.status, verdict.failedCheck], [c.offline, c.failed_check], verdict.deciding && verdict.deciding.detail);
    const signer = verdict.checks.find((k) => k.name === 'signer_certificate');
    assert.equal(signer.as_of === true, c.signer_certificate_as_of, signer.detail);
    assert.match(signer.detail, c.failed_check ? /evidence\.signer_revocation\./ : /by the bundle's revocation evidence: a CRL issued /);
  });
}

test('valid_as_of: which checks are as of the evidence, and the block they are as of', async () => {
  const verdict = await verify(readBytes(join(VECTORS, 'documents', 'resident-record.txt')), readBytes(join(V3, 'bundles', 'valid.json')), offline);
  assert.equal(verdict.status, 'valid_as_of');
  const asOf = verdict.checks.filter((c) => c.as_of).map((c) => c.name);
  assert.deepEqual(asOf, ['head_not_withdrawn', 'document_revocation']);
  assert.equal(verdict.checks.find((c) => c.name === 'document_revocation').outcome, 'skipped');
  assert.equal(verdict.facts.as_of_block, BigInt(CHAIN.latest_block));
  assert.equal(verdict.facts.as_of_time, CHAIN.blocks.at(-1).timestamp);
  assert.equal(verdict.facts.confirmations, BigInt(CHAIN.blocks.length - 1));
  for (const c of verdict.checks.slice(0, 12)) assert.equal(c.outcome, c.name === 'requester_disclosure' ? 'skipped' : 'passed', c.name);
});

test('online with the chain out of reach, the evidence decides (valid_as_of)', async () => {
  const down = { ...online, rpcUrls: ['http://down.test/rpc'] };
  const verdict = await verify(readBytes(join(VECTORS, 'documents', 'resident-record.txt')), readBytes(join(V3, 'bundles', 'valid.json')), down);
  assert.equal(verdict.status, 'valid_as_of');
});

test('online, a chain contradicting the evidence (head withdrawn since) fails head_not_withdrawn', async () => {
  const withdrawn = structuredClone(CHAIN);
  withdrawn.anchors[0].withdrawn = true;
  globalThis.fetch = standInFetch(withdrawn, RPC, 'http://node.test');
  try {
    const verdict = await verify(readBytes(join(VECTORS, 'documents', 'resident-record.txt')), readBytes(join(V3, 'bundles', 'valid.json')), online);
    assert.deepEqual([verdict.status, verdict.failedCheck], ['invalid', 'head_not_withdrawn']);
  } finally {
    globalThis.fetch = async (url, init) => { requests.push(url); return standInFetch(CHAIN, RPC, 'http://node.test')(url, init); };
  }
});

test('a version-2 bundle offline is unknown at head_anchored: it carries no evidence', async () => {
  const verdict = await verify(readBytes(join(VECTORS, 'documents', 'resident-record.txt')), readBytes(join(VECTORS, 'bundles', 'valid-cms.json')), offline);
  assert.deepEqual([verdict.status, verdict.failedCheck], ['unknown', 'head_anchored']);
});

// ------------------------------------------------------------------ the evidence's format (protocol/evidence.py)
const VALID = JSON.parse(readFileSync(join(V3, 'bundles', 'valid.json'), 'utf8'));
const refused = (data) => {
  try {
    loadBundle(new TextEncoder().encode(JSON.stringify(data)));
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  assert.fail('accepted');
};
const edit = (fn) => { const data = structuredClone(VALID); fn(data); return data; };

test('the valid version-3 bundle reads, with its evidence', () => {
  const b = loadBundle(readBytes(join(V3, 'bundles', 'valid.json')));
  assert.equal(b.version, 3);
  assert.equal(b.leaf.version, 2);
  assert.equal(b.evidence.headers.length, 3);
  assert.equal(b.evidence.state.block_number, 14n);
});

for (const [what, fn, field, message] of [
  ['pending v3', (d) => { d.status = 'pending'; }, 'status', /version-3 bundle is "anchored"/],
  ['no evidence', (d) => { delete d.evidence; }, 'evidence', /missing/],
  ['evidence in v2', (d) => { d.version = 2; }, 'evidence', /unknown field/],
  ['unknown evidence field', (d) => { d.evidence.extra = 1; }, 'evidence.extra', /unknown field/],
  ['odd field name', (d) => { d.evidence.state['a b'] = 1; }, 'evidence.state."a b"', /unknown field/],
  ['no headers', (d) => { d.evidence.headers = []; }, 'evidence.headers', /has 0 entries; 1 to 256 allowed/],
  ['upper-case hex', (d) => { d.evidence.headers[0] = d.evidence.headers[0].toUpperCase().replace('0X', '0x'); }, 'evidence.headers[0]', /lowercase hex/],
  ['oversized header', (d) => { d.evidence.headers[0] = '0x' + '00'.repeat(16 * 1024 + 1); }, 'evidence.headers[0]', /more than 16384 bytes/],
  ['index a string', (d) => { d.evidence.receipt.index = '0'; }, 'evidence.receipt.index', /must be an integer, not a string/],
  ['index too large', (d) => { d.evidence.receipt.index = 2 ** 32; }, 'evidence.receipt.index', /out of range \(0 to 4294967295\)/],
  ['empty receipt proof', (d) => { d.evidence.receipt.proof = []; }, 'evidence.receipt.proof', /1 to 64 allowed/],
  ['too many proof nodes', (d) => { d.evidence.transaction.proof = Array(65).fill('0x00'); }, 'evidence.transaction.proof', /has 65 entries/],
  ['block 0', (d) => { d.evidence.state.block_number = 0; }, 'evidence.state.block_number', /out of range/],
  ['no slots', (d) => { d.evidence.state.slots = []; }, 'evidence.state.slots', /1 to 16 allowed/],
  ['slots out of order', (d) => { d.evidence.state.slots.reverse(); }, 'evidence.state.slots[1].slot', /ascending order/],
  ['short word', (d) => { d.evidence.state.slots[0].value = '0x01'; }, 'evidence.state.slots[0].value', /32-byte word/],
  ['bad token', (d) => { d.evidence.timestamp = 'AB='; }, 'evidence.timestamp', /not valid base64/],
  ['non-canonical token', (d) => { d.evidence.timestamp = 'AB=='; }, 'evidence.timestamp', /canonical padded form/],
  ['empty token', (d) => { d.evidence.timestamp = ''; }, 'evidence.timestamp', /non-empty base64/],
  ['empty signer revocation', (d) => { d.evidence.signer_revocation = { crls: [], ocsp_responses: [] }; }, 'evidence.signer_revocation', /no CRL and no OCSP response/],
  ['signer revocation field', (d) => { d.evidence.signer_revocation = { crls: [CRL] }; }, 'evidence.signer_revocation.ocsp_responses', /missing/],
  ['too many CRLs', (d) => { d.evidence.signer_revocation = { crls: Array(5).fill(CRL), ocsp_responses: [] }; }, 'evidence.signer_revocation.crls', /has 5 entries; at most 4 allowed/],
  ['a CRL twice', (d) => { d.evidence.signer_revocation = { crls: [CRL, CRL], ocsp_responses: [] }; }, 'evidence.signer_revocation.crls[1]', /ascending order of SHA-256, each once/],
]) {
  test(`format: ${what} is refused naming ${field}`, () => {
    const error = refused(edit(fn));
    assert.equal(error.field, field);
    assert.match(error.message, message);
  });
}

test('signer revocation evidence reads, each blob once', () => {
  const data = edit((d) => { d.evidence.signer_revocation = { crls: [CRL], ocsp_responses: [] }; });
  const b = loadBundle(new TextEncoder().encode(JSON.stringify(data)));
  assert.equal(b.evidence.signerRevocation.crls.length, 1);
  assert.equal(b.evidence.signerRevocation.ocspResponses.length, 0);
});

test('the version is checked before anything else: 5 is not supported', () => {
  const error = refused(edit((d) => { d.version = 5; d.new_in_v5 = {}; }));
  assert.equal(error.field, 'version');
  assert.match(error.message, /version 5 is not supported \(this verifier reads versions 1, 2, 3, 4;/);
});

test('evidence.timestamp: a token of the trust root\'s TSA over the head gives its genTime and TSA; refused ones fail anchor_time naming why', async () => {
  const document = readBytes(join(VECTORS, 'documents', 'resident-record.txt'));
  const anchorTime = async (name, p = offline) => {
    const verdict = await verify(document, readBytes(join(V3, 'bundles', name)), p);
    return [verdict, verdict.checks.find((k) => k.name === 'anchor_time')];
  };
  const [stamped, valid] = await anchorTime('timestamped.json');
  assert.equal(valid.outcome, 'passed');
  assert.match(valid.detail, /; timestamped at 2026-01-15T09:01:30Z by CN=Notary TEST TSA,O=municipal-notary TEST,C=JP \(RFC 3161, a TSA of the trust root\)$/);
  assert.equal(stamped.facts.timestamped_at, Date.parse('2026-01-15T09:01:30Z') / 1000);
  assert.equal(stamped.facts.timestamp_status, 'verified');
  const refusals = {
    'invalid/timestamp-other-head.json': /evidence\.timestamp: the token covers digest [0-9a-f]{64}, not the expected [0-9a-f]{64}$/,
    'invalid/timestamp-signature.json': /evidence\.timestamp: the timestamp token is not valid: the CMS signature does not verify \(signature failure\)$/,
    'invalid/timestamp-untrusted-tsa.json': /does not chain to a TSA of the trust root: unable to get local issuer certificate$/,
    'invalid/timestamp-eku.json': /does not chain to a TSA of the trust root: unsuitable certificate purpose$/,
  };
  for (const [name, detail] of Object.entries(refusals)) {
    const [verdict, refused] = await anchorTime(name);
    assert.equal(refused.outcome, 'failed', name);
    assert.match(refused.detail, detail, name);
    assert.equal(verdict.facts.timestamped_at, null);
  }
  // A trust root that names no TSA: the token is reported, not checked.
  const noTsa = await policy({ trust_root: { ...TRUST_ROOT, tsa_anchors: [] } });
  const [, unchecked] = await anchorTime('invalid/timestamp-signature.json', noTsa);
  assert.equal(unchecked.outcome, 'passed');
  assert.match(unchecked.detail, /; a TSA token is present, not checked: the trust root names no TSA$/);
});
