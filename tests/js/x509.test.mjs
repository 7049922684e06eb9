// Certificates, CRLs and signatures of tests/vectors/signing read by the libraries, and the
// page's strict DER rules on top of them (asn1js alone would accept BER).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VECTORS, readBytes } from './support.mjs';
import { blobsFromText, sha256 } from '../../verifier/web/src/bytes.js';
import { verifyCmsDigest, verifyPkcs1 } from '../../verifier/web/src/cms.js';
import { parseCrl } from '../../verifier/web/src/crl.js';
import { derTree } from '../../verifier/web/src/der.js';
import { SignatureProblem } from '../../verifier/web/src/errors.js';
import { checkSigner } from '../../verifier/web/src/jpki.js';
import { basicFourItems, parseCertificate, profileProblems, withFingerprint } from '../../verifier/web/src/x509.js';

const SIGNING = join(VECTORS, 'signing');
const pem = (name) => blobsFromText(readFileSync(join(SIGNING, name), 'utf8'))[0];
const SIGNER = pem('signer.pem'), CA = pem('ca.pem');
const CRL = readBytes(join(SIGNING, 'crl.der'));
const RESIDENT = readBytes(join(VECTORS, 'documents', 'resident-record.txt'));
const INCOME = readBytes(join(VECTORS, 'documents', 'income-certificate.txt'));

test('the signer and CA certificates of the vectors', async () => {
  const signer = await withFingerprint(parseCertificate(SIGNER));
  const ca = parseCertificate(CA);
  assert.equal(signer.kind, 'signature');
  assert.equal(signer.rsaBits, 2048);
  assert.deepEqual([...signer.keyUsage].sort(), ['digital_signature', 'non_repudiation']);
  assert.equal(signer.policiesCritical, true);
  assert.deepEqual(profileProblems(signer), []);
  assert.equal(signer.issuerKey, ca.subjectKey);
  assert.equal(ca.isCa, true);
  assert.equal(signer.sha256, Buffer.from(await sha256(SIGNER)).toString('hex'));
  const four = basicFourItems(signer);
  assert.ok(four.name && four.address, 'the basic four items are readable on request');
});

test('the CRL, the path and revocation at the signing time', async () => {
  const signer = await withFingerprint(parseCertificate(SIGNER));
  const ca = await withFingerprint(parseCertificate(CA));
  const crl = parseCrl(CRL);
  assert.equal(crl.issuerKey, ca.subjectKey);
  assert.equal(crl.usable, true);
  const when = Date.UTC(2026, 0, 15, 9, 0, 0) / 1000;
  const result = await checkSigner(signer, when, [ca], [], [crl]);
  assert.equal(result.status, 'valid', result.reason);
  assert.equal((await checkSigner(signer, when, [ca], [], [])).status, 'unknown'); // no CRL, no verdict
  assert.equal((await checkSigner(signer, when, [], [], [crl])).status, 'untrusted');
});

test('the detached CMS and the PKCS#1 signature of the vectors verify, and not over another document', async () => {
  const signer = await withFingerprint(parseCertificate(SIGNER));
  const cms = readBytes(join(SIGNING, 'resident-record.p7s'));
  const signed = await verifyCmsDigest(cms, await sha256(RESIDENT), [signer]);
  assert.equal(signed.signer.serialHex, signer.serialHex);
  await assert.rejects(verifyCmsDigest(cms, await sha256(INCOME), [signer]), /messageDigest mismatch/);
  const pkcs1 = readBytes(join(SIGNING, 'income-certificate.sig'));
  await verifyPkcs1(pkcs1, INCOME, signer);
  await assert.rejects(verifyPkcs1(pkcs1, RESIDENT, signer), SignatureProblem);
});

// BER forms of the signer certificate that DER forbids: each must be refused.
function withLongLength(der, lengthBytes) { // outer SEQUENCE length in `lengthBytes` bytes
  const [, first] = der;
  const size = first & 0x80 ? first & 0x7f : 0;
  const body = der.subarray(2 + size);
  const len = [];
  for (let n = body.length, i = 0; i < lengthBytes; i++, n = Math.floor(n / 256)) len.unshift(n & 0xff);
  return new Uint8Array([0x30, 0x80 | lengthBytes, ...len, ...body]);
}
function indefinite(der) {
  const size = der[1] & 0x80 ? der[1] & 0x7f : 0;
  return new Uint8Array([0x30, 0x80, ...der.subarray(2 + size), 0, 0]);
}

test('strict DER: trailing bytes, indefinite lengths, 5-byte lengths and constructed strings are refused', () => {
  derTree(SIGNER); // the real certificate is DER
  derTree(withLongLength(SIGNER, 4)); // a (non-minimal) 4-byte length is read, as before
  for (const [what, bad] of [
    ['trailing byte', new Uint8Array([...SIGNER, 0])],
    ['indefinite length', indefinite(SIGNER)],
    ['5-byte length', withLongLength(SIGNER, 5)],
    ['constructed OCTET STRING', new Uint8Array([0x24, 0x05, 0x04, 0x03, 1, 2, 3])],
    ['high tag number', new Uint8Array([0x1f, 0x81, 0x00, 0x00])],
    ['UTCTime without seconds', new Uint8Array([0x17, 0x0b, ...Buffer.from('2601010000Z')])],
  ]) {
    assert.throws(() => derTree(bad), Error, what);
    if (bad[0] === 0x30) assert.throws(() => parseCertificate(bad), /not a DER or PEM X.509 certificate/, what);
  }
  assert.throws(() => parseCrl(new Uint8Array([...CRL, 0])), /trailing data/);
});
