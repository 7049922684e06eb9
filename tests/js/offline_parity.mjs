// Used by tests/test_page_evidence.py (not a test itself): verifies each bundle of a case list
// offline with the page's verify() against tests/vectors/v3/trust-root.json and prints
// [{name, status, failed_check, detail, signer, anchor_time}] as JSON, for comparison with the Python
// verifier's. With --no-crls the page has no CRL of its own (the bundle's signer_revocation
// evidence then decides the signer check).
//   node tests/js/offline_parity.mjs CASES.json [--no-crls]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VECTORS, readBytes, readJson } from './support.mjs';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { verify } from '../../verifier/web/src/verify.js';

const V3 = join(VECTORS, 'v3');
const cases = readJson(process.argv[2]);
globalThis.fetch = async (url) => { throw new Error(`offline verification asked ${url}`); };
const built = await policyFrom({
  rpc_urls: [], chain_id: null, registry: null, node_url: null, finality_depth: null, trust_anchors: [],
  crls: process.argv.includes('--no-crls') ? [] : [readFileSync(join(VECTORS, 'signing', 'crl.der')).toString('base64')], trust_root: readJson(join(V3, 'trust-root.json')),
});
const expected = readJson(join(V3, 'expected.json'));
// Pre-seal bundles, as tests/test_page_evidence.py verifies them (require_municipal_seal off).
const policy = { ...built.policy, now: Date.parse(expected.verify_at) / 1000, requireMunicipalSeal: expected.require_municipal_seal };
const document = readBytes(join(VECTORS, 'documents', 'resident-record.txt'));
const results = [];
for (const c of cases) {
  const verdict = await verify(document, readBytes(c.path), policy);
  const signer = verdict.checks.find((k) => k.name === 'signer_certificate');
  const anchorTime = verdict.checks.find((k) => k.name === 'anchor_time');
  results.push({
    name: c.name, status: verdict.status, failed_check: verdict.failedCheck, detail: verdict.deciding ? verdict.deciding.detail : null,
    signer: { outcome: signer.outcome, detail: signer.detail, as_of: signer.as_of === true },
    anchor_time: anchorTime ? { outcome: anchorTime.outcome, detail: anchorTime.detail } : null,
    timestamped_at: verdict.facts ? verdict.facts.timestamped_at : null,
  });
}
process.stdout.write(JSON.stringify(results));
