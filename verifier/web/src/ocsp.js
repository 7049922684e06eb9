/** OCSP responses (RFC 6960), read by @peculiar/asn1-ocsp from strict DER: who signed one
 * (verifier/jpki/compromise.py ocsp_signed_for), which answer is about a certificate (CertID:
 * serial and issuer key hash), and what it says. Signatures are checked with WebCrypto. */
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus, id_kp_OCSPSigning, id_pkix_ocsp_basic } from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ExtendedKeyUsage, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { equal } from './bytes.js';
import { bytesOf, parseDer, secondsOf, signedInteger } from './der.js';
import { OID, extensionAs, parseCertificate, rsaVerify, signedBy } from './x509.js';

const HASHES = { '1.3.14.3.2.26': 'SHA-1', [OID.sha256]: 'SHA-256', '2.16.840.1.101.3.4.2.2': 'SHA-384', '2.16.840.1.101.3.4.2.3': 'SHA-512' };

/** A DER OCSPResponse: { successful, basic: {...} | null }. Throws on anything not strict DER
 * or not a basic response. */
export function parseOcsp(der) {
  const [response] = parseDer(der, OCSPResponse);
  if (response.responseStatus !== OCSPResponseStatus.successful) return { successful: false, basic: null };
  const bytes = response.responseBytes;
  if (!bytes || bytes.responseType !== id_pkix_ocsp_basic) throw new Error('not a basic OCSP response');
  const [basic] = parseDer(bytesOf(bytes.response.buffer), BasicOCSPResponse);
  const data = basic.tbsResponseData;
  return {
    successful: true,
    basic: {
      tbs: new Uint8Array(basic.tbsResponseDataRaw),
      signatureAlgorithm: basic.signatureAlgorithm.algorithm,
      signature: bytesOf(basic.signature),
      certs: (basic.certs || []).map((c) => childCertificate(c)),
      responses: data.responses.map((single) => ({
        hashAlgorithm: single.certID.hashAlgorithm.algorithm,
        issuerKeyHash: bytesOf(single.certID.issuerKeyHash.buffer),
        serial: signedInteger(single.certID.serialNumber),
        thisUpdate: secondsOf(single.thisUpdate),
        nextUpdate: single.nextUpdate ? secondsOf(single.nextUpdate) : null,
        status: single.certStatus.revoked ? 'revoked' : single.certStatus.unknown !== undefined ? 'unknown' : 'good',
        revokedAt: single.certStatus.revoked ? secondsOf(single.certStatus.revoked.revocationTime) : null,
        reason: single.certStatus.revoked && single.certStatus.revoked.revocationReason
          ? single.certStatus.revoked.revocationReason.reason : null,
      })),
    },
  };
}
function childCertificate(cert) {
  // Re-read from its own DER so that the page's certificate reader (strict, profile fields) applies.
  try {
    return parseCertificate(serialise(cert));
  } catch {
    return null; // an unreadable responder certificate authorises nothing
  }
}
const serialise = (cert) => new Uint8Array(AsnConvert.serialize(cert));

/** Did `issuer`'s key, or a responder certificate it issued for OCSP signing, sign `basic`? */
export async function ocspSignedFor(issuer, basic) {
  if (basic.signatureAlgorithm !== OID.sha256WithRSA) return false;
  const candidates = [issuer];
  for (const delegate of basic.certs) {
    if (!delegate || !(await signedBy(delegate, issuer))) continue;
    const eku = delegate.extensions.get(OID.extKeyUsage);
    if (eku && Array.from(extensionAs(eku, ExtendedKeyUsage)).includes(id_kp_OCSPSigning)) candidates.push(delegate);
  }
  for (const signer of candidates) if (await rsaVerify(signer.spki, basic.signature, basic.tbs)) return true;
  return false;
}

/** RFC 6960 issuerKeyHash: the hash of the issuer's subjectPublicKey BIT STRING (its value
 * after the unused-bits octet). */
export async function keyHash(issuer, hashOid) {
  const name = HASHES[hashOid];
  if (!name) return null;
  const bits = AsnConvert.parse(issuer.spki, SubjectPublicKeyInfo).subjectPublicKey;
  return new Uint8Array(await crypto.subtle.digest(name, bytesOf(bits)));
}

/** The answer of `basic` about `cert` issued by `issuer` (CertID: serial and key hash), or null. */
export async function answerAbout(basic, cert, issuer) {
  for (const single of basic.responses) {
    if (single.serial !== cert.serial) continue;
    const hash = await keyHash(issuer, single.hashAlgorithm);
    if (hash && equal(hash, single.issuerKeyHash)) return single;
  }
  return null;
}
