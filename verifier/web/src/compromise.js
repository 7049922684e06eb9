/** Revocations that reach back before their own date (verifier/jpki/compromise.py): a
 * revocation for key compromise counts whatever the claimed signing time, unless the CRL entry
 * states an invalidityDate after it; a revocation for any reason whose invalidityDate is at or
 * before the signing time counts. Only CRLs and OCSP responses signed by the certificate's
 * actual issuer are read. */
import { answerAbout, ocspSignedFor } from './ocsp.js';
import { isoOffset } from './time.js';
import { OID, rsaVerify } from './x509.js';

const COMPROMISE = new Set([1, 2, 10]); // keyCompromise, cACompromise, aACompromise
const NEVER_BACK = new Set([6, 8]); // certificateHold (temporary), removeFromCRL
const LABELS = {
  1: 'key compromise', 2: 'CA key compromise', 10: 'attribute authority compromise',
  3: 'affiliation change', 4: 'superseded', 5: 'cessation of operation', 9: 'privilege withdrawn',
};
const label = (reason) => LABELS[reason] || 'reason unspecified';

/** The first revocation of `cert` (issued by `issuer`) that counts at `when` although it is
 * dated later, or null: { date, reason, invalidSince, source }. */
export async function backdatedRevocation(cert, issuer, when, crls, ocsp) {
  for (const listing of await listings(cert, issuer, crls, ocsp)) {
    if (NEVER_BACK.has(listing.reason)) continue;
    if (listing.invalidSince !== null) {
      if (listing.invalidSince <= when) return listing;
    } else if (COMPROMISE.has(listing.reason)) {
      return listing;
    }
  }
  return null;
}

/** Python's BackdatedRevocation.describe, word for word. */
export function describeBackdated(listing, whose, when) {
  const at = isoOffset(when);
  if (listing.invalidSince !== null) {
    return `${whose} was revoked on ${isoOffset(listing.date)} (${label(listing.reason)}); the ${listing.source} `
      + `states it was invalid since ${isoOffset(listing.invalidSince)}, at or before the signing time ${at}`;
  }
  return `${whose} was revoked on ${isoOffset(listing.date)} for ${label(listing.reason)}: whoever held the key `
    + `could claim any signing time, so the claimed one (${at}) cannot make the signature valid`;
}

async function listings(cert, issuer, crls, ocsp) {
  const found = [];
  for (const crl of crls) {
    if (!crl.usable || crl.issuerKey !== issuer.subjectKey) continue;
    if (crl.signatureAlgorithm !== OID.sha256WithRSA || !(await rsaVerify(issuer.spki, crl.signature, crl.tbs))) continue;
    const entry = crl.revoked.get(cert.serial.toString(16));
    if (!entry || entry.indirect) continue; // an indirect CRL's entry names another issuer's certificate
    found.push({ date: entry.date, reason: entry.reason ?? 0, invalidSince: entry.invalidSince ?? null, source: 'CRL' });
  }
  for (const basic of ocsp) {
    if (!(await ocspSignedFor(issuer, basic))) continue;
    const single = await answerAbout(basic, cert, issuer);
    if (single && single.status === 'revoked' && single.revokedAt !== null) {
      found.push({ date: single.revokedAt, reason: single.reason ?? 0, invalidSince: null, source: 'OCSP' });
    }
  }
  return found;
}
