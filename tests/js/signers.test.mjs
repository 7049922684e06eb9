// Signer kinds and the issuance policy (verifier/web/src/signers.js, protocol/signers.py) on
// parsed-certificate fields; and counter mode's ticket comparison (sealed.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptedSignerKinds, allowedCertificateKinds, certificateKind, classifySigner, describeSeal, issuerPolicy, kindProblems,
  sealIdentity, sealLgCode, signerSummary,
} from '../../verifier/web/src/signers.js';
import { compareTicket, parseTicket } from '../../verifier/web/src/sealed.js';
import {
  ACCEPTED_SIGNER_KINDS, SEAL_POLICY_OIDS, SIGNATURE_POLICY_OID, SMARTPHONE_POLICY_OIDS, USER_AUTHENTICATION_POLICY_OID,
} from '../../verifier/web/src/protocol.gen.js';

const SEAL_POLICY = SEAL_POLICY_OIDS[0], PHONE = SMARTPHONE_POLICY_OIDS[0];
const SIGN = new Set(['digital_signature', 'non_repudiation']);
/** A parsed certificate's fields (x509.js), its purpose computed as parseCertificate does. */
const cert = (over = {}) => {
  const c = { policies: [], policiesCritical: true, subject: [[{ oid: '2.5.4.6', value: 'JP' }]], keyUsage: SIGN, eku: null, serialHex: '1f', ...over };
  c.kind = certificateKind(c.policies);
  return c;
};
const seal = (orgId = 'LGCJP-402052', extra = [], policies = [SEAL_POLICY]) => cert({
  policies,
  subject: [[{ oid: '2.5.4.6', value: 'JP' }], [{ oid: '2.5.4.10', value: '飯塚市' }], [{ oid: '2.5.4.7', value: 'Iizuka-shi' }],
    [{ oid: '2.5.4.97', value: orgId }], [{ oid: '2.5.4.12', value: '市長' }], [{ oid: '2.5.4.3', value: 'Iizuka-shi Mayor' }], ...extra],
});
const leaf = (over = {}) => ({ kind: 'document', version: 3, document_type: 1, lg_code: 402052, ...over });
const SEALED = { requireMunicipalSeal: true }, UNSEALED = { requireMunicipalSeal: false };

test('the purpose by the policy OIDs alone, as verifier/jpki/certificates.py _kind', () => {
  assert.equal(certificateKind([SIGNATURE_POLICY_OID]), 'signature');
  assert.equal(certificateKind([USER_AUTHENTICATION_POLICY_OID, PHONE]), 'user_authentication');
  assert.equal(certificateKind([SEAL_POLICY]), 'seal');
  assert.equal(certificateKind([]), 'unknown');
  assert.equal(certificateKind([SIGNATURE_POLICY_OID, SEAL_POLICY]), 'unknown', 'two purposes at once');
  assert.equal(certificateKind(['1.2.392.200149.8.5.1.1.21']), 'unknown', 'no placeholder smartphone OIDs');
});

test('classify_signer: card or smartphone by the marker policy; a seal by its policy, never with the marker', () => {
  assert.equal(classifySigner(cert({ policies: [SIGNATURE_POLICY_OID] })), 'jpki-card-signature');
  assert.equal(classifySigner(cert({ policies: [SIGNATURE_POLICY_OID, PHONE] })), 'jpki-smartphone-signature');
  assert.equal(classifySigner(cert({ policies: [USER_AUTHENTICATION_POLICY_OID] })), 'jpki-card-authentication');
  assert.equal(classifySigner(cert({ policies: [USER_AUTHENTICATION_POLICY_OID, PHONE] })), 'jpki-smartphone-authentication');
  assert.equal(classifySigner(seal()), 'lgpki-seal');
  assert.equal(classifySigner(seal('LGCJP-402052', [], [SEAL_POLICY, PHONE])), null, 'a seal with the smartphone marker');
  assert.equal(classifySigner(seal('LGCJP-402052', [], [])), null, 'an organizationIdentifier alone makes no seal');
  assert.equal(classifySigner(cert()), null);
});

test('each purpose\'s profile, in verifier/jpki/certificates.py profile_problems words', () => {
  assert.deepEqual(kindProblems(cert({ policies: [SIGNATURE_POLICY_OID] })), []);
  assert.deepEqual(kindProblems(cert({ policies: [SIGNATURE_POLICY_OID], policiesCritical: false, keyUsage: new Set(['digital_signature']) })),
    ['signature certificate policy extension is not critical', 'key usage lacks non_repudiation']);
  assert.deepEqual(kindProblems(cert({ policies: [USER_AUTHENTICATION_POLICY_OID], keyUsage: new Set(['digital_signature']) })), ['extended key usage lacks clientAuth']);
  assert.deepEqual(kindProblems(cert({ policies: [USER_AUTHENTICATION_POLICY_OID], keyUsage: new Set(['digital_signature']), eku: ['1.3.6.1.5.5.7.3.2'] })), []);
  assert.deepEqual(kindProblems(seal()), []);
  const one = 'a seal names exactly one local government: organizationIdentifier LGCJP-<6-digit local-government code>';
  assert.deepEqual(kindProblems(seal('LGCJP-402053')), [one]);
  assert.deepEqual(kindProblems(seal('LGCJP-402052', [[{ oid: '2.5.4.97', value: 'LGCJP-131016' }]])), [one]);
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
  assert.deepEqual(allowedCertificateKinds(leaf({ kind: 'event' }), SEALED), ['user_authentication']);
  assert.deepEqual(allowedCertificateKinds(leaf({ version: 2 }), UNSEALED).sort(), ['seal', 'signature']);
  assert.deepEqual(allowedCertificateKinds(leaf(), UNSEALED), ['seal'], 'a version-3 leaf gets no pre-seal exception');
});

test('issuer_policy: a card on a registered type, another municipality\'s seal, a login signed for', () => {
  const card = cert({ policies: [SIGNATURE_POLICY_OID] });
  const [refused] = issuerPolicy(leaf(), card, SEALED);
  assert.deepEqual([refused.name, refused.outcome, refused.kind], ['issuer_policy', 'failed', 'signer_kind']);
  assert.equal(refused.detail, 'a My Number card signature certificate (serial 0x1f) may not sign a resident_record_copy (accepted: municipal seal (LGPKI organisational certificate))');
  const [legacy] = issuerPolicy(leaf({ version: 2 }), card, SEALED);
  assert.match(legacy.detail, /; this bundle predates the municipal seal: a relying party that accepts such documents verifies with --accept-unsealed$/);
  const [unsealed] = issuerPolicy(leaf({ version: 2 }), card, UNSEALED);
  assert.equal(unsealed.outcome, 'passed');
  assert.match(unsealed.detail, /may sign a resident_record_copy: accepted without the municipal seal/);
  assert.equal(issuerPolicy(leaf({ document_type: 0x8001 }), card, SEALED)[0].outcome, 'passed');
  const [own, facts] = issuerPolicy(leaf(), seal(), SEALED);
  assert.equal(own.detail, 'the municipal seal of Iizuka-shi Mayor (LGCJP-402052, 飯塚市) may sign a resident_record_copy');
  assert.equal(facts.seal.lg_code, 402052);
  const [other] = issuerPolicy(leaf({ lg_code: 131016 }), seal(), SEALED);
  assert.equal(other.kind, 'seal_municipality');
  assert.equal(other.detail, "the municipal seal of Iizuka-shi Mayor (LGCJP-402052, 飯塚市) names local government 402052, but the entry was issued by municipality 131016: a seal signs only its own municipality's documents");
  const [login] = issuerPolicy(leaf({ kind: 'event' }), card, SEALED);
  assert.equal(login.detail, 'a My Number card signature certificate (serial 0x1f) may not sign a login event (accepted: My Number card user-authentication certificate, smartphone JPKI user-authentication certificate)');
  const [none, noFacts] = issuerPolicy(leaf(), cert(), SEALED);
  assert.equal(none.detail, 'the signer certificate (serial 0x1f) is neither a JPKI certificate nor a municipal seal, so it may sign nothing');
  assert.equal(noFacts, null);
  assert.match(issuerPolicy(leaf({ kind: 'event', document_type: 9 }), card, SEALED)[0].detail, /may not sign a unregistered event type 9 event \(accepted: nothing\)$/);
});

test('a seal\'s identity is its office, as SealIdentity; the summary names nothing of a person', () => {
  const identity = sealIdentity(seal());
  assert.deepEqual(identity, {
    organisation: '飯塚市', municipality: 'Iizuka-shi', title: '市長', common_name: 'Iizuka-shi Mayor',
    organization_identifier: 'LGCJP-402052', lg_code: 402052,
  });
  assert.equal(describeSeal({ ...identity, common_name: null }), 'Iizuka-shi 市長 (LGCJP-402052, 飯塚市)');
  const phone = signerSummary(cert({ policies: [SIGNATURE_POLICY_OID, PHONE] }), { kind: 'jpki-smartphone-signature', seal: null });
  assert.equal(phone.smartphone, true);
  assert.equal(phone.seal, undefined, 'nothing about a person is summarised');
  assert.equal(signerSummary(seal(), { kind: 'lgpki-seal', seal: identity }).seal.title, '市長');
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
