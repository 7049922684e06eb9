/** CRLs (verifier/jpki): parsed by @peculiar/asn1-x509 from strict DER; scope (RFC 5280 6.3.3,
 * simplified) and revocation of a certificate at the signing time. */
import { CRLReason, CertificateList, InvalidityDate, IssuingDistributionPoint } from '@peculiar/asn1-x509';
import { bytesOf, parseDer, secondsOf, signedInteger } from './der.js';
import { isoOffset } from './time.js';
import { OID, extensionAs, generalNames, nameKey, readExtensions, readName, rsaVerify } from './x509.js';

const UNDERSTOOD_CRL_EXTENSIONS = new Set([
  OID.crlNumber, OID.issuingDistributionPoint, OID.authorityKeyIdentifier, OID.freshestCrl,
]);

/** A CRL from strict DER. With `lenient`, as `cryptography` loads one (extensions read only
 * when used): an unreadable extension leaves the CRL loaded but not usable, so that its issuer
 * and signature are still judged (verifier/jpki/bundled_revocation.py). */
export function parseCrl(der, lenient = false) {
  const [parsed] = parseDer(der, CertificateList);
  if (!lenient) return readCrl(der, parsed);
  try {
    return readCrl(der, parsed);
  } catch {
    const tbs = parsed.tbsCertList;
    const issuer = readName(tbs.issuer);
    return {
      der, tbs: new Uint8Array(parsed.tbsCertListRaw), issuer, issuerKey: nameKey(issuer),
      thisUpdate: secondsOf(tbs.thisUpdate), nextUpdate: tbs.nextUpdate ? secondsOf(tbs.nextUpdate) : null, revoked: new Map(),
      signatureAlgorithm: parsed.signatureAlgorithm.algorithm, signature: bytesOf(parsed.signature),
      idp: null, usable: false, problem: 'an unreadable extension',
    };
  }
}
function readCrl(der, parsed) {
  const tbs = parsed.tbsCertList;
  const issuer = readName(tbs.issuer);
  const revoked = new Map();
  for (const entry of tbs.revokedCertificates || []) {
    let reason = null;
    const extensions = readExtensions(entry.crlEntryExtensions);
    if (extensions.has(OID.crlReason)) reason = extensionAs(extensions.get(OID.crlReason), CRLReason).reason;
    const invalidSince = extensions.has(OID.invalidityDate)
      ? secondsOf(extensionAs(extensions.get(OID.invalidityDate), InvalidityDate).value) : null;
    const indirect = extensions.has(OID.certificateIssuer);
    revoked.set(signedInteger(entry.userCertificate).toString(16), { date: secondsOf(entry.revocationDate), reason, invalidSince, indirect });
  }
  const extensions = readExtensions(tbs.crlExtensions);
  const crl = {
    der, tbs: new Uint8Array(parsed.tbsCertListRaw), issuer, issuerKey: nameKey(issuer),
    thisUpdate: secondsOf(tbs.thisUpdate), nextUpdate: tbs.nextUpdate ? secondsOf(tbs.nextUpdate) : null, revoked,
    signatureAlgorithm: parsed.signatureAlgorithm.algorithm, signature: bytesOf(parsed.signature),
    idp: null, usable: true, problem: null,
  };
  for (const [oid, e] of extensions) {
    if (oid === OID.deltaCrlIndicator) { crl.usable = false; crl.problem = 'a delta CRL (only complete CRLs are used)'; }
    else if (e.critical && !UNDERSTOOD_CRL_EXTENSIONS.has(oid)) { crl.usable = false; crl.problem = `an unsupported critical extension ${oid}`; }
  }
  if (extensions.has(OID.issuingDistributionPoint)) {
    const idp = extensionAs(extensions.get(OID.issuingDistributionPoint), IssuingDistributionPoint);
    const point = idp.distributionPoint;
    const g = generalNames(point && point.fullName);
    crl.idp = {
      names: g.names, uris: g.uris, onlyUser: Boolean(idp.onlyContainsUserCerts), onlyCa: Boolean(idp.onlyContainsCACerts),
      // CRLs for some reasons only, indirect CRLs, relative names and attribute-certificate
      // CRLs are not used: their scope is not what this page checks (the result is unknown).
      partial: Boolean((point && !point.fullName) || idp.onlySomeReasons || idp.indirectCRL || idp.onlyContainsAttributeCerts),
    };
  }
  return crl;
}

/** Is `crl` meant to list `cert` (same issuer name, matching distribution point)? RFC 5280 6.3.3 (b), simplified. */
export function crlScopeCovers(crl, cert) {
  if (!crl.usable || crl.issuerKey !== cert.issuerKey) return false;
  const idp = crl.idp;
  if (!idp) return true;
  if (idp.partial || (idp.onlyUser && cert.isCa) || (idp.onlyCa && !cert.isCa)) return false;
  if (!idp.names.length && !idp.uris.length) return true;
  const certNames = cert.crlDp.names.length || cert.crlDp.uris.length ? cert.crlDp : { names: [cert.issuer], uris: [] };
  const wanted = new Set(certNames.names.map(nameKey));
  return idp.names.some((n) => wanted.has(nameKey(n))) || idp.uris.some((u) => certNames.uris.includes(u));
}

/** Revocation of `cert` (issued by `issuer`) at `when`, from the configured CRLs. */
export async function revocationAt(cert, issuer, when, crls) {
  const problems = [];
  let covered = false;
  for (const crl of crls) {
    if (!crlScopeCovers(crl, cert)) continue;
    if (crl.signatureAlgorithm !== OID.sha256WithRSA || !(await rsaVerify(issuer.spki, crl.signature, crl.tbs))) continue; // another CA generation's CRL
    if (issuer.keyUsage && !issuer.keyUsage.has('crl_sign')) { problems.push('the CA certificate may not sign CRLs'); continue; }
    // Judged at the signing time with CRLs issued later (retroactive, as verifier/jpki does);
    // a CRL that expired before the signing time says nothing about it.
    if (crl.nextUpdate !== null && crl.nextUpdate < when) { problems.push(`a CRL expired on ${isoOffset(crl.nextUpdate)}, before the signing time`); continue; }
    covered = true;
    const entry = crl.revoked.get(cert.serial.toString(16));
    if (entry && entry.date <= when) return { covered, revoked: entry, problems };
  }
  return { covered, revoked: null, problems };
}
