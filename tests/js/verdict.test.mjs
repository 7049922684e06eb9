// The verdict rule (verifier/verify.py, PROTOCOL 7): invalid > revoked > unknown > pending > valid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECK_ORDER } from '../../verifier/web/src/protocol.gen.js';
import { ANCHORING_CHECKS, FAILED, PASSED, SIGNATURE_CHECKS, SKIPPED, UNKNOWN, check, decide, verdictOf } from '../../verifier/web/src/verdict.js';

const all = (overrides = {}) => CHECK_ORDER.map((name) => overrides[name] || check(name, PASSED, 'ok'));

test('the seventeen checks and their runs', () => {
  assert.equal(CHECK_ORDER.length, 17);
  assert.equal(CHECK_ORDER[2], 'requester_disclosure');
  assert.deepEqual(ANCHORING_CHECKS, CHECK_ORDER.slice(3, 12));
  assert.deepEqual(SIGNATURE_CHECKS, ['signature_binding', 'issuer_policy', 'signer_certificate', 'signature']);
});

test('all passed (or skipped) is valid', () => {
  assert.deepEqual(decide(all()), ['valid', null]);
  assert.equal(decide(all({ signature: check('signature', SKIPPED, 'off') }))[0], 'valid');
});

test('each outcome decides as the Python verifier does', () => {
  const cases = [
    [{ document_leaf: check('document_leaf', FAILED, 'x') }, 'invalid', 'document_leaf'],
    [{ document_revocation: check('document_revocation', FAILED, 'x') }, 'revoked', 'document_revocation'],
    [{ finality: check('finality', UNKNOWN, 'x', true) }, 'pending', 'finality'],
    [{ head_anchored: check('head_anchored', UNKNOWN, 'x') }, 'unknown', 'head_anchored'],
    // invalid beats revoked, revoked beats unknown, unknown beats pending; the first one decides
    [{ signature: check('signature', FAILED, 'x'), document_revocation: check('document_revocation', FAILED, 'x') }, 'invalid', 'signature'],
    [{ finality: check('finality', UNKNOWN, 'x'), document_revocation: check('document_revocation', FAILED, 'x') }, 'revoked', 'document_revocation'],
    [{ merkle_inclusion: check('merkle_inclusion', UNKNOWN, 'x', true), signer_certificate: check('signer_certificate', UNKNOWN, 'x') }, 'unknown', 'signer_certificate'],
    [{ chain_id: check('chain_id', FAILED, 'x'), registry: check('registry', FAILED, 'x') }, 'invalid', 'chain_id'],
  ];
  for (const [overrides, status, name] of cases) {
    const [got, deciding] = decide(all(overrides));
    assert.equal(got, status, JSON.stringify(Object.keys(overrides)));
    assert.equal(deciding.name, name);
    const verdict = verdictOf(all(overrides), {}, null);
    assert.equal(verdict.status, status);
    assert.equal(verdict.failedCheck, name);
  }
});
