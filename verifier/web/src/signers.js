/** Who signed, and may they sign this entry: the page's copy of verifier/jpki/certificates.py
 * (`_kind`), verifier/jpki/signer_kind.py (`classify_signer`, `seal_identity`) and
 * verifier/rules/issuer_policy.py, over the table of protocol/signers.py (generated constants).
 *
 *  1. The certificate's purpose (x509.js `kind`) is read from its certificate policies alone:
 *     the JPKI signature policy, the JPKI user-authentication policy, or a seal policy
 *     (SEAL_POLICY_OIDS); exactly one of them, else 'unknown'.
 *  2. The signer kind refines it: a JPKI certificate that also carries a smartphone marker policy
 *     (SMARTPHONE_POLICY_OIDS) is the smartphone one; a seal never carries that marker.
 *  3. The purpose picks the anchors the certificate must chain to (verify.js `anchorsFor`): the
 *     seal trust anchors (LGPKI CAs) for a seal, the J-LIS anchors for anything else, never both;
 *     a CA copying the LGPKI DN with its own key is an impostor (jpki.js).
 *  4. issuer_policy: accepted_signer_kinds(entry kind, type) decides whether that kind may sign
 *     the entry, a seal must name the leaf's own lg_code, and require_municipal_seal off lets a
 *     pre-seal (version-1 or -2) document leaf be signed with a JPKI signature certificate.
 */
import { isValidLgCode } from './leaf.js';
import {
  ACCEPTED_SIGNER_KINDS, DOCUMENT_TYPES, ENCODING_VERSION, EVENT_TYPES, ORGANIZATION_IDENTIFIER_OID,
  PERSONAL_SIGNATURE_KINDS, SEAL_ORGANIZATION_IDENTIFIER_PREFIX, SEAL_POLICY_OIDS, SIGNATURE_POLICY_OID,
  SIGNER_KIND_DESCRIPTIONS, SMARTPHONE_POLICY_OIDS, USER_AUTHENTICATION_POLICY_OID,
} from './protocol.gen.js';
import { FAILED, PASSED, check } from './verdict.js';

export const JPKI_CARD_SIGNATURE = 'jpki-card-signature';
export const JPKI_SMARTPHONE_SIGNATURE = 'jpki-smartphone-signature';
export const JPKI_CARD_AUTHENTICATION = 'jpki-card-authentication';
export const JPKI_SMARTPHONE_AUTHENTICATION = 'jpki-smartphone-authentication';
export const LGPKI_SEAL = 'lgpki-seal';

export const TITLE = '2.5.4.12';
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const UNSEALED_ACCEPTED = 'accepted without the municipal seal (pre-seal bundle, --accept-unsealed)';

/** verifier/jpki/signer_kind.py CERTIFICATE_KINDS: the certificate purpose each kind is checked as. */
export const CERTIFICATE_KINDS = Object.freeze({
  [JPKI_CARD_SIGNATURE]: 'signature', [JPKI_SMARTPHONE_SIGNATURE]: 'signature',
  [JPKI_CARD_AUTHENTICATION]: 'user_authentication', [JPKI_SMARTPHONE_AUTHENTICATION]: 'user_authentication',
  [LGPKI_SEAL]: 'seal',
});

/** verifier/jpki/certificates.py _kind: by the policy OIDs alone; two purposes at once is none. */
export function certificateKind(policies) {
  const found = [
    ['signature', policies.includes(SIGNATURE_POLICY_OID)],
    ['user_authentication', policies.includes(USER_AUTHENTICATION_POLICY_OID)],
    ['seal', SEAL_POLICY_OIDS.some((oid) => policies.includes(oid))],
  ].filter(([, present]) => present);
  return found.length === 1 ? found[0][0] : 'unknown';
}

/** verifier/jpki/signer_kind.py classify_signer, on a parsed certificate (x509.js): the kind it
 * claims, or null when it claims none. */
export function classifySigner(cert) {
  const smartphone = SMARTPHONE_POLICY_OIDS.some((oid) => cert.policies.includes(oid));
  if (cert.kind === 'signature') return smartphone ? JPKI_SMARTPHONE_SIGNATURE : JPKI_CARD_SIGNATURE;
  if (cert.kind === 'user_authentication') return smartphone ? JPKI_SMARTPHONE_AUTHENTICATION : JPKI_CARD_AUTHENTICATION;
  if (cert.kind === 'seal' && !smartphone) return LGPKI_SEAL;
  return null;
}
export const isSmartphone = (kind) => kind === JPKI_SMARTPHONE_SIGNATURE || kind === JPKI_SMARTPHONE_AUTHENTICATION;

function subjectValues(cert, oid) {
  return cert.subject.flat().filter((a) => a.oid === oid).map((a) => a.value);
}
export const organizationIdentifiers = (cert) => subjectValues(cert, ORGANIZATION_IDENTIFIER_OID);

/** protocol/signers.py seal_lg_code: the code a seal's organizationIdentifier names, or null. */
export function sealLgCode(organizationIdentifier) {
  const m = new RegExp(`^${SEAL_ORGANIZATION_IDENTIFIER_PREFIX}([0-9]{6})$`).exec(organizationIdentifier);
  if (!m) return null;
  const code = Number(m[1]);
  return isValidLgCode(code) ? code : null;
}

/** verifier/jpki/signer_kind.py seal_identity: who a seal speaks for (an office, never a
 * person); each field only when the subject has exactly one such attribute. */
export function sealIdentity(cert) {
  const single = (oid) => { const values = subjectValues(cert, oid); return values.length === 1 ? values[0] : null; };
  const identifiers = organizationIdentifiers(cert);
  const identifier = identifiers.length === 1 ? identifiers[0] : null;
  return {
    organisation: single('2.5.4.10'), municipality: single('2.5.4.7'), title: single(TITLE), common_name: single('2.5.4.3'),
    organization_identifier: identifier, lg_code: identifier !== null ? sealLgCode(identifier) : null,
  };
}
/** SealIdentity.describe: e.g. "Chiyoda-ku Mayor (LGCJP-131016, LGPKI-TEST)". */
export function describeSeal(seal) {
  const name = seal.common_name || [seal.municipality, seal.title].filter(Boolean).join(' ');
  const extras = [seal.organization_identifier, seal.organisation].filter(Boolean).join(', ');
  return extras ? `${name || 'unnamed office'} (${extras})` : name || 'unnamed office';
}

/** The profile of each purpose (verifier/jpki/certificates.py profile_problems, the part that
 * depends on the purpose). */
export function kindProblems(cert) {
  const usage = cert.keyUsage || new Set();
  const problems = [];
  const lacking = (...names) => names.filter((u) => !usage.has(u));
  if (cert.kind === 'signature') {
    if (!cert.policiesCritical) problems.push('signature certificate policy extension is not critical');
    const missing = lacking('digital_signature', 'non_repudiation');
    if (missing.length) problems.push(`key usage lacks ${missing.join(', ')}`);
  } else if (cert.kind === 'user_authentication') {
    if (!usage.has('digital_signature')) problems.push('key usage lacks digital_signature');
    if (!(cert.eku || []).includes(CLIENT_AUTH)) problems.push('extended key usage lacks clientAuth');
  } else if (cert.kind === 'seal') {
    const missing = lacking('digital_signature', 'non_repudiation');
    if (missing.length) problems.push(`key usage lacks ${missing.join(', ')}`);
    const identifiers = organizationIdentifiers(cert);
    if (identifiers.length !== 1 || sealLgCode(identifiers[0]) === null) {
      problems.push('a seal names exactly one local government: organizationIdentifier LGCJP-<6-digit local-government code>');
    }
  }
  return problems;
}

/** protocol/signers.py accepted_signer_kinds(kind, type_code), from the generated table. */
export function acceptedSignerKinds(entryKind, typeCode) {
  if (entryKind === 'event') {
    const table = ACCEPTED_SIGNER_KINDS.event;
    const name = EVENT_TYPES[typeCode];
    return name && table[name] ? table[name] : table.other;
  }
  const table = ACCEPTED_SIGNER_KINDS.document;
  return DOCUMENT_TYPES[typeCode] ? table.registered : table.other;
}

/** protocol/leaf.py entry_type_label. */
export function entryTypeLabel(entryKind, typeCode) {
  if (entryKind === 'event') return EVENT_TYPES[typeCode] || `unregistered event type ${typeCode}`;
  if (DOCUMENT_TYPES[typeCode]) return DOCUMENT_TYPES[typeCode];
  return typeCode >= 0x8000 && typeCode <= 0xfffe ? `municipality-defined type ${typeCode}` : `unregistered type ${typeCode}`;
}

/** issuer_policy.is_unsealed_allowed: a pre-seal document leaf, and a policy that accepts it. */
export function isUnsealedAllowed(leaf, policy) {
  return policy.requireMunicipalSeal === false && leaf.version < ENCODING_VERSION && leaf.kind === 'document';
}
/** issuer_policy.accepted_kinds: what may sign this entry under `policy`. */
export function acceptedKinds(leaf, policy) {
  const accepted = new Set(acceptedSignerKinds(leaf.kind, leaf.document_type));
  if (isUnsealedAllowed(leaf, policy)) for (const k of PERSONAL_SIGNATURE_KINDS) accepted.add(k);
  return accepted;
}
/** issuer_policy.allowed_certificate_kinds: the purposes signer_certificate may accept here. */
export function allowedCertificateKinds(leaf, policy) {
  return [...new Set([...acceptedKinds(leaf, policy)].map((k) => CERTIFICATE_KINDS[k]))];
}

const pad6 = (code) => String(code).padStart(6, '0');
/** Python's sorted() of ASCII strings: by code unit. */
const sortedText = (items) => [...items].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** verifier/rules/issuer_policy.py issuer_policy: the check, and the signer's facts (kind, a
 * seal's identity) when the certificate claims a kind. */
export function issuerPolicy(leaf, cert, policy) {
  const kind = classifySigner(cert);
  let what = `a ${entryTypeLabel(leaf.kind, leaf.document_type)}`;
  if (leaf.kind === 'event') what += ' event';
  if (kind === null) {
    return [check('issuer_policy', FAILED, `the signer certificate (serial 0x${cert.serialHex}) is neither a JPKI certificate nor a municipal seal, so it may sign nothing`, false, { kind: 'no_signer_kind' }), null];
  }
  const signer = { kind, seal: kind === LGPKI_SEAL ? sealIdentity(cert) : null };
  const accepted = acceptedKinds(leaf, policy);
  const who = signer.seal ? `the municipal seal of ${describeSeal(signer.seal)}` : `a ${SIGNER_KIND_DESCRIPTIONS[kind]} (serial 0x${cert.serialHex})`;
  if (!accepted.has(kind)) {
    const names = sortedText([...accepted].map((k) => SIGNER_KIND_DESCRIPTIONS[k])).join(', ') || 'nothing';
    const hint = leaf.version < ENCODING_VERSION && PERSONAL_SIGNATURE_KINDS.includes(kind) && policy.requireMunicipalSeal !== false
      ? '; this bundle predates the municipal seal: a relying party that accepts such documents verifies with --accept-unsealed'
      : '';
    return [check('issuer_policy', FAILED, `${who} may not sign ${what} (accepted: ${names})${hint}`, false, { kind: 'signer_kind' }), signer];
  }
  if (signer.seal && signer.seal.lg_code !== leaf.lg_code) {
    const named = signer.seal.lg_code !== null ? `local government ${pad6(signer.seal.lg_code)}` : 'no valid local-government code';
    return [check('issuer_policy', FAILED, `${who} names ${named}, but the entry was issued by municipality ${pad6(leaf.lg_code)}: a seal signs only its own municipality's documents`, false, { kind: 'seal_municipality' }), signer];
  }
  let detail = `${who} may sign ${what}`;
  if (isUnsealedAllowed(leaf, policy) && !acceptedSignerKinds(leaf.kind, leaf.document_type).includes(kind)) detail += `: ${UNSEALED_ACCEPTED}`;
  return [check('issuer_policy', PASSED, detail), signer];
}

/** What the verdict may show about the signer (verifier/verify.py _signer_facts): its kind and,
 * for a seal, the office it speaks for; never a JPKI subject. */
export function signerSummary(cert, signer) {
  const kind = signer ? signer.kind : null;
  const summary = { signer_kind: kind, description: kind ? SIGNER_KIND_DESCRIPTIONS[kind] : null, smartphone: isSmartphone(kind) };
  if (signer && signer.seal) summary.seal = signer.seal;
  return summary;
}
