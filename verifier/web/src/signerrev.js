/** Is the revocation evidence a version-3 bundle carries (`evidence.signer_revocation`) fit to
 * decide its signer's status at the signing time? A port of verifier/jpki/bundled_revocation.py
 * (PROTOCOL 10.3): each blob must be issued by the CA generation whose key issued the signer
 * certificate, be about that certificate, and have a thisUpdate at or after the signing time.
 * What it then says is judged by the path validation (jpki.js), as for the page's own CRLs. */
import { parseCrl } from './crl.js';
import { answerAbout, ocspSignedFor, parseOcsp } from './ocsp.js';
import { formatTime } from './time.js';
import { OID, rsaVerify, signedBy } from './x509.js';

export class BundledRevocationError extends Error {
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}

const BEFORE = (issued, when) => `its thisUpdate ${formatTime(issued)} is before the signing time ${formatTime(when)}: it cannot show a revocation made between the two`;

/** Check every blob; return [described[], crls (parsed), ocsp (parsed)]. `candidates` are the
 * trust anchors and the bundle's other certificates. Throws BundledRevocationError naming the
 * first blob that does not hold. */
export async function checkBundledRevocation(cert, candidates, when, crls, ocspResponses, path = 'evidence.signer_revocation') {
  const issuers = [];
  for (const c of candidates) if (await signedBy(cert, c)) issuers.push(c);
  const described = [];
  const parsedCrls = [];
  const parsedOcsp = [];
  for (const [i, der] of crls.entries()) {
    const field = `${path}.crls[${i}]`;
    let crl;
    try {
      crl = parseCrl(der, true);
    } catch {
      throw new BundledRevocationError(field, 'not a DER certificate revocation list');
    }
    if (crl.issuerKey !== cert.issuerKey) throw new BundledRevocationError(field, `issued by ${pyRepr(rfc4514(crl.issuer))}, not by the signer certificate's CA`);
    let signed = false;
    for (const issuer of issuers) {
      if (crl.signatureAlgorithm === OID.sha256WithRSA && await rsaVerify(issuer.spki, crl.signature, crl.tbs)) { signed = true; break; }
    }
    if (!signed) throw new BundledRevocationError(field, 'not signed by the trusted CA generation that issued the signer certificate (forged, altered, or from a CA copying its name)');
    if (crl.thisUpdate < when) throw new BundledRevocationError(field, BEFORE(crl.thisUpdate, when));
    described.push(`a CRL issued ${formatTime(crl.thisUpdate)}`);
    parsedCrls.push(crl);
  }
  for (const [i, der] of ocspResponses.entries()) {
    const field = `${path}.ocsp_responses[${i}]`;
    let response;
    try {
      response = parseOcsp(der);
    } catch {
      throw new BundledRevocationError(field, 'not a DER OCSP response');
    }
    if (!response.successful) throw new BundledRevocationError(field, 'not a successful OCSP response');
    let ca = null;
    for (const issuer of issuers) if (await ocspSignedFor(issuer, response.basic)) { ca = issuer; break; }
    if (!ca) throw new BundledRevocationError(field, 'not signed by the trusted CA generation that issued the signer certificate, nor by a responder it authorised');
    const single = await answerAbout(response.basic, cert, ca);
    if (!single) throw new BundledRevocationError(field, 'it answers for another certificate (CertID)');
    if (single.thisUpdate < when) throw new BundledRevocationError(field, BEFORE(single.thisUpdate, when));
    described.push(`an OCSP response of ${formatTime(single.thisUpdate)}`);
    parsedOcsp.push(response.basic);
  }
  return { described, crls: parsedCrls, ocsp: parsedOcsp };
}

// cryptography's Name.rfc4514_string(): last RDN first, its short attribute names, RFC 4514 escaping.
const RFC4514_NAMES = {
  '2.5.4.3': 'CN', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '2.5.4.6': 'C', '2.5.4.9': 'STREET', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
};
function escape4514(value) {
  let v = value.replace(/([\\"+,;<>])/g, '\\$1').replace(/\0/g, '\\00');
  if (/^[#\s]/.test(v)) v = '\\' + v;
  if (/\s$/.test(v)) v = v.slice(0, -1) + '\\' + v.slice(-1);
  return v;
}
export function rfc4514(rdns) {
  return [...rdns].reverse().map((rdn) => rdn.map((a) => `${RFC4514_NAMES[a.oid] || a.oid}=${escape4514(a.value)}`).join('+')).join(',');
}
/** Python's repr() of a str, as an f-string's !r writes it (printable text). */
export function pyRepr(text) {
  if (text.includes("'") && !text.includes('"')) return `"${text.replace(/\\/g, '\\\\')}"`;
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
