// Used by tests/test_page_v4_parity.py (not a test itself): every check of the page's verify()
// on the version-4 vectors, under v4/expected.json's policy against a stand-in of its chain,
// printed as [{name, status, failed_check, checks: [{name, outcome, detail}], signer, requester}]
// for comparison with the Python verifier's verdicts.
//   node tests/js/v4_parity.mjs CASES.json   (cases: [{name, bundle, document, disclosure?}])
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VECTORS, readBytes, readJson, standInFetch } from './support.mjs';
import { policyFrom } from '../../verifier/web/src/policy.js';
import { loadDisclosure } from '../../verifier/web/src/requester.js';
import { verify } from '../../verifier/web/src/verify.js';

const EXPECTED = readJson(join(VECTORS, 'v4', 'expected.json'));
const POLICY = EXPECTED.policy;
const CHAIN = readJson(join(VECTORS, POLICY.chain));
const RPC = 'http://chain.test/rpc';
globalThis.fetch = standInFetch(CHAIN, RPC, 'http://node.test');
const built = await policyFrom({
  rpc_urls: [RPC], chain_id: BigInt(CHAIN.chain_id), registry: CHAIN.registry, node_url: null, finality_depth: null,
  trust_anchors: POLICY.trust_anchors.map((n) => readFileSync(join(VECTORS, n), 'utf8')),
  seal_trust_anchors: POLICY.seal_trust_anchors.map((n) => readFileSync(join(VECTORS, n), 'utf8')),
  crls: POLICY.crls.map((n) => readFileSync(join(VECTORS, n)).toString('base64')), trust_root: null,
});
const policy = { ...built.policy, now: Date.parse(EXPECTED.verify_at) / 1000, requireRevocationCheck: EXPECTED.require_revocation_check };
const results = [];
for (const c of readJson(process.argv[2])) {
  const options = c.disclosure ? { requesterDisclosure: loadDisclosure(readBytes(join(VECTORS, c.disclosure))) } : {};
  const verdict = await verify(readBytes(join(VECTORS, c.document)), readBytes(join(VECTORS, c.bundle)), policy, options);
  const signer = verdict.facts && verdict.facts.signer;
  results.push({
    name: c.name, status: verdict.status, failed_check: verdict.failedCheck,
    checks: verdict.checks.map((k) => ({ name: k.name, outcome: k.outcome, detail: k.detail })),
    signer_kind: signer ? signer.signer_kind : null, seal: signer && signer.seal ? signer.seal : null,
    requester: verdict.facts && verdict.facts.requester ? verdict.facts.requester : null,
  });
}
process.stdout.write(JSON.stringify(results));
