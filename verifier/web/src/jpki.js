/** The signer's certificate at the signing time (verifier/jpki/validation.py): JPKI profile, a
 * path to a configured trust anchor chosen by name and signature, validity and revocation of
 * every certificate in it. */
import { backdatedRevocation, describeBackdated } from './compromise.js';
import { revocationAt } from './crl.js';
import { answerAbout, ocspSignedFor } from './ocsp.js';
import { isoOffset } from './time.js';
import { profileProblems, signedBy } from './x509.js';

// asn1crypto's CRLReason.human_friendly, as the Python verifier words a revocation.
const CRL_REASONS = ['an unspecified reason', 'a compromised key', 'the CA being compromised', 'an affiliation change',
  'certificate supersession', 'a cessation of operation', 'a certificate hold', 'an unspecified reason',
  'removal from the CRL', 'privilege withdrawl', 'the AA being compromised'];
const NOT_GOOD_AT_SIGNING_TIME = "no OCSP response says the certificate was good at the signing time (an 'unknown' answer, or a revocation dated after the signing time, decides nothing here)";

/** What the OCSP responses say about the signer `cert` (issued by `issuer`) at `when`
 * (verifier/jpki/ocsp_status.py): good, revoked (its answer), or the problems. */
async function ocspStatus(cert, issuer, when, responses) {
  const problems = [];
  for (const basic of responses) {
    if (!(await ocspSignedFor(issuer, basic))) { addProblem(problems, 'it is signed neither by the CA nor by a responder the CA authorised'); continue; }
    const single = await answerAbout(basic, cert, issuer);
    if (!single) continue;
    if (single.nextUpdate !== null && single.nextUpdate < when) { addProblem(problems, 'it is too old: its nextUpdate is before the signing time'); continue; }
    if (single.status === 'good') return { good: true, revoked: null, problems: [] };
    if (single.status === 'revoked' && single.revokedAt <= when) return { good: false, revoked: { date: single.revokedAt, reason: single.reason }, problems: [] };
  }
  return { good: false, revoked: null, problems: problems.length ? problems : [NOT_GOOD_AT_SIGNING_TIME] };
}
function addProblem(problems, reason) {
  const text = `OCSP response: ${reason}`;
  if (!problems.includes(text)) problems.push(text);
}

async function untrustedIssuer(cert, candidates) {
  const sameName = candidates.filter((c) => c.subjectKey === cert.issuerKey);
  for (const issuer of sameName) if (await signedBy(cert, issuer)) return null;
  if (sameName.length) {
    return `issued in the name of '${cert.issuerText}', but no trusted CA generation with that name signed it: the issuer is an impostor or the certificate was altered`;
  }
  return `issuer '${cert.issuerText}' is not a configured trust anchor or intermediate`;
}
async function buildPath(cert, anchors, others, depth) {
  if (depth > 6) return null;
  for (const anchor of anchors) if (await signedBy(cert, anchor)) return [cert, anchor];
  for (const ca of others) {
    if (ca === cert || !ca.isCa || (ca.keyUsage && !ca.keyUsage.has('key_cert_sign'))) continue;
    if (await signedBy(cert, ca)) {
      const rest = await buildPath(ca, anchors, others.filter((o) => o !== ca), depth + 1);
      if (rest) return [cert, ...rest];
    }
  }
  return null;
}
/** `crls` are parsed CRLs; `ocsp` parsed basic OCSP responses (ocsp.js), which may decide the
 * signer certificate itself when no CRL covers it, and revoke it when a CRL says valid.
 * `accepted`: the certificate purposes (x509.js `kind`) that may sign here; `anchors` are the
 * anchor set of that purpose's PKI (J-LIS for JPKI, LGPKI for a seal: signers.js). */
export async function checkSigner(cert, when, anchors, others, crls, ocsp = [], accepted = ['signature']) {
  const result = (status, reason, path = null, revokedAt = null) => ({ status, reason, path, revokedAt });
  if (!accepted.includes(cert.kind)) return result('invalid', `a ${cert.kind} certificate is not accepted here (accepted: ${[...accepted].sort().join(', ') || 'none'})`);
  const problems = profileProblems(cert);
  if (problems.length) return result('invalid', `not a ${cert.kind === 'seal' ? 'municipal seal' : 'JPKI'} certificate profile: ` + problems.join('; '));
  const untrusted = await untrustedIssuer(cert, [...anchors, ...others]);
  if (untrusted) return result('untrusted', untrusted);
  const path = await buildPath(cert, anchors, others.filter((o) => o.sha256 !== cert.sha256), 0);
  if (!path) return result('untrusted', 'no path to a configured trust anchor');
  const at = isoOffset(when);
  let revocationProblems = [];
  for (let i = path.length - 2; i >= 0; i--) { // from the anchor's child down to the signer
    const c = path[i];
    const where = i === 0 ? 'the signer certificate' : 'a CA certificate in the path';
    if (when > c.notAfter) return result('expired', `${where} expired on ${isoOffset(c.notAfter)}, before the signing time ${at}`, path);
    if (when < c.notBefore) return result('not_yet_valid', `${where} only became valid on ${isoOffset(c.notBefore)}, after the signing time ${at}`, path);
    const rev = await revocationAt(c, path[i + 1], when, crls);
    revocationProblems = revocationProblems.concat(rev.problems);
    if (i === 0 && ocsp.length && !rev.revoked) {
      // No CRL decided, or one said valid: a responder's answer at the signing time counts.
      const status = await ocspStatus(c, path[1], when, ocsp);
      if (status.revoked) rev.revoked = status.revoked;
      else if (status.good) rev.covered = true;
      else if (!rev.covered) revocationProblems = revocationProblems.concat(status.problems);
    }
    if (rev.revoked) {
      const reason = CRL_REASONS[rev.revoked.reason ?? 0] || 'an unspecified reason';
      return result('revoked', `${where} was revoked on ${isoOffset(rev.revoked.date)} (${reason}), before the signing time ${at}`, path, rev.revoked.date);
    }
    if (!rev.covered) {
      const compromised = await reachingBack(path, when, crls, ocsp); // as verifier/jpki/validation.py
      if (compromised) return compromised;
      let reason = `no CRL/OCSP covers this certificate at the signing time ${at}`;
      if (revocationProblems.length) reason += '; sources that failed: ' + revocationProblems.join('; ');
      return result('unknown', reason, path);
    }
  }
  const anchor = path[path.length - 1];
  // RFC 5280 leaves anchor validity to the relying party; verifier/jpki refuses signatures
  // made outside the CA generation's own validity, and so does this page.
  if (when > anchor.notAfter) return result('expired', `a CA certificate in the path expired on ${isoOffset(anchor.notAfter)}, before the signing time ${at}`, path);
  if (when < anchor.notBefore) return result('not_yet_valid', `a CA certificate in the path only became valid on ${isoOffset(anchor.notBefore)}, after the signing time ${at}`, path);
  return (await reachingBack(path, when, crls, ocsp))
    || result('valid', 'trusted chain, valid and not revoked at the signing time', path);
}

/** A revocation dated after `when` that still counts (compromise.js), the signer before its
 * CAs, as a `checkSigner` result; null if none. */
async function reachingBack(path, when, crls, ocsp) {
  for (let i = 0; i < path.length - 1; i++) {
    const listing = await backdatedRevocation(path[i], path[i + 1], when, crls, ocsp);
    if (listing) {
      const whose = i === 0 ? 'the signer certificate' : 'a CA certificate in the path';
      return { status: 'revoked', reason: describeBackdated(listing, whose, when), path, revokedAt: listing.date };
    }
  }
  return null;
}
