// Signer kinds and the issuance policy (verifier/web/src/signers.js, protocol/signers.py) on
// parsed-certificate fields; and counter mode's ticket comparison (sealed.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptedSignerKinds, JPKI_POLICIES, kindProblems, policyProblem, proposedKind, sealLgCode, signerSummary,
} from '../../verifier/web/src/signers.js';
import { compareTicket, parseTicket } from '../../verifier/web/src/sealed.js';
import { ACCEPTED_SIGNER_KINDS } from '../../verifier/web/src/protocol.gen.js';

const OID = Object.fromEntries(Object.entries(JPKI_POLICIES).map(([oid, kind]) => [kind, oid]));
const SIGN = new Set(['digital_signature', 'non_repudiation']);
const cert = (over = {}) => ({ policies: [], subject: [[{ oid: '2.5.4.6', value: 'JP' }]], keyUsage: SIGN, eku: null, ...over });
const seal = (orgId = 'LGCJP-402052', extra = []) => cert({
  subject: [[{ oid: '2.5.4.6', value: 'JP' }], [{ oid: '2.5.4.10', value: '飯塚市' }], [{ oid: '2.5.4.12', value: '市長' }],
    [{ oid: '2.5.4.97', value: orgId }], ...extra],
});
const leaf = (over = {}) => ({ kind: 'document', document_type: 1, lg_code: 402052, ...over });

test('the certificate proposes its kind: JPKI by exactly one policy OID, a seal by organizationIdentifier', () => {
  for (const [kind, oid] of Object.entries(OID)) assert.equal(proposedKind(cert({ policies: [oid] })), kind);
  assert.equal(proposedKind(seal()), 'lgpki-seal');
  assert.equal(proposedKind(cert()), null, 'no JPKI policy, no organizationIdentifier');
  assert.equal(proposedKind(cert({ policies: [OID['jpki-card-signature'], OID['jpki-smartphone-signature']] })), null, 'card and smartphone at once');
  assert.equal(proposedKind({ ...seal(), policies: [OID['jpki-card-signature']] }), null, 'a JPKI policy on a seal');
});

test('smartphone and card certificates are told apart (スマホ用電子証明書 vs マイナンバーカード)', () => {
  const phone = signerSummary(cert({ policies: [OID['jpki-smartphone-signature']] }), 'jpki-smartphone-signature');
  const card = signerSummary(cert({ policies: [OID['jpki-card-signature']] }), 'jpki-card-signature');
  assert.equal(phone.smartphone, true);
  assert.equal(card.smartphone, false);
  assert.equal(card.organization, undefined, 'nothing about a person is summarised');
});

test('each kind\'s profile: key usages, clientAuth for logins, one valid LGCJP organizationIdentifier for seals', () => {
  assert.deepEqual(kindProblems(cert(), 'jpki-card-signature'), []);
  assert.deepEqual(kindProblems(cert({ keyUsage: new Set(['digital_signature']) }), 'jpki-smartphone-signature'), ['key usage lacks non_repudiation']);
  assert.deepEqual(kindProblems(cert({ keyUsage: new Set(['digital_signature']) }), 'jpki-card-authentication'), ['extended key usage lacks clientAuth']);
  assert.deepEqual(kindProblems(cert({ keyUsage: new Set(['digital_signature']), eku: ['1.3.6.1.5.5.7.3.2'] }), 'jpki-card-authentication'), []);
  assert.deepEqual(kindProblems(seal(), 'lgpki-seal'), []);
  assert.match(kindProblems(seal('LGCJP-402053'), 'lgpki-seal')[0], /not "LGCJP-" and a local-government code/);
  assert.match(kindProblems(seal('LGCJP-402052', [[{ oid: '2.5.4.97', value: 'LGCJP-131016' }]]), 'lgpki-seal')[0], /exactly one/);
  assert.equal(sealLgCode('LGCJP-131016'), 131016);
  for (const bad of ['LGCJP-13101', 'lgcjp-131016', 'LGCJP-131017', 'LGCJP-1310160', ' LGCJP-131016']) assert.equal(sealLgCode(bad), null, bad);
});

test('accepted_signer_kinds: registered types need the seal, municipality-defined ones take a JPKI signature too, events their purpose', () => {
  assert.deepEqual([...acceptedSignerKinds('document', 1)], ['lgpki-seal']);
  assert.deepEqual([...acceptedSignerKinds('document', 6)], ['lgpki-seal']);
  assert.deepEqual([...acceptedSignerKinds('document', 0x8001)], ['jpki-card-signature', 'jpki-smartphone-signature', 'lgpki-seal']);
  assert.deepEqual([...acceptedSignerKinds('event', 1)], ['jpki-card-authentication', 'jpki-smartphone-authentication']);
  assert.deepEqual([...acceptedSignerKinds('event', 2)], ['jpki-card-signature', 'jpki-smartphone-signature']);
  assert.deepEqual([...acceptedSignerKinds('event', 3)], []);
  assert.deepEqual(ACCEPTED_SIGNER_KINDS.document.registered, ['lgpki-seal']);
});

test('the policy refuses a card on a registered certificate type and another municipality\'s seal', () => {
  const card = cert({ policies: [OID['jpki-card-signature']] });
  const refused = policyProblem(leaf(), card, 'jpki-card-signature');
  assert.equal(refused.kind, 'signer_kind');
  assert.match(refused.detail, /may not sign a document of type resident_record_copy: it needs municipal seal/);
  assert.equal(policyProblem(leaf({ document_type: 0x8001 }), card, 'jpki-card-signature'), null);
  assert.equal(policyProblem(leaf(), seal(), 'lgpki-seal'), null);
  const other = policyProblem(leaf({ lg_code: 131016 }), seal(), 'lgpki-seal');
  assert.equal(other.kind, 'seal_municipality');
  assert.match(other.detail, /belongs to local government 402052.*entry is of 131016/);
  assert.equal(policyProblem(leaf({ kind: 'event', document_type: 1 }), card, 'jpki-card-signature').kind, 'signer_kind', 'a login needs an authentication certificate');
});

test('a seal summary shows organisation and title, nothing else', () => {
  const s = signerSummary(seal(), 'lgpki-seal');
  assert.equal(s.organization, '飯塚市');
  assert.equal(s.title, '市長');
  assert.equal(s.lg_code, 402052);
});

const LEAF = 'ab'.repeat(32);
test('counter mode: the ticket QR (notary-ticket:<leaf hash>) against the document', () => {
  assert.equal(parseTicket(`notary-ticket:${LEAF}`), LEAF);
  assert.equal(parseTicket(`  NOTARY-TICKET:${LEAF.toUpperCase()}\n`), LEAF, 'scanners may shout and add Enter');
  assert.equal(parseTicket(LEAF), LEAF);
  for (const bad of ['', 'notary-ticket:', `notary-ticket:${LEAF}0`, `notary-ticket:${LEAF.slice(2)}`, `x${LEAF}`, 'r_d5c3']) assert.equal(parseTicket(bad), null, bad);
  const verdict = { facts: { leaf_hash: LEAF } };
  assert.equal(compareTicket(`notary-ticket:${LEAF}`, verdict).outcome, 'match');
  const other = compareTicket(`notary-ticket:${'cd'.repeat(32)}`, verdict);
  assert.equal(other.outcome, 'mismatch');
  assert.equal(other.document, LEAF);
  assert.equal(compareTicket('garbage', verdict).outcome, 'unreadable');
  assert.equal(compareTicket(`notary-ticket:${LEAF}`, { facts: {} }).outcome, 'no-document');
});
