/** Who signed, and may they sign this entry (protocol/signers.py): the one place the page decides
 * a signer certificate's kind (JPKI card or smartphone, signature or user authentication, or
 * the municipality's LGPKI seal) and applies the issuance policy to it.
 *
 * The rule, in order:
 *  1. The certificate's own content proposes a kind. A JPKI certificate names its purpose and
 *     medium by its certificate policy OID (exactly one of JPKI_POLICIES, nothing else decides
 *     card vs smartphone); a seal carries the subject attribute organizationIdentifier (2.5.4.97)
 *     and no JPKI policy. Anything else has no kind.
 *  2. The proposal holds only if the certificate chains to the anchor set of that PKI: JPKI kinds
 *     to the J-LIS anchors (`trust_anchors`), a seal to the LGPKI anchors (`lgpki_anchors`).
 *     So a look-alike seal from a JPKI CA, or a JPKI-policy certificate from an LGPKI CA, is
 *     refused (jpki.js chooses the anchors from the proposed kind).
 *  3. Each kind's profile: signature kinds need keyUsage digitalSignature + nonRepudiation and a
 *     critical policy; authentication kinds digitalSignature and EKU clientAuth; a seal
 *     digitalSignature + nonRepudiation and an organizationIdentifier "LGCJP-" + the 6-digit
 *     local-government code (its check digit valid).
 *  4. accepted_signer_kinds(entry kind, type) decides whether that kind may sign the entry, and
 *     a seal must name the leaf's own lg_code (a seal of another municipality is refused).
 */
import { isValidLgCode } from './leaf.js';
import {
  ACCEPTED_SIGNER_KINDS, DOCUMENT_TYPES, EVENT_TYPES, SEAL_ORGANIZATION_IDENTIFIER_PREFIX, SIGNER_KIND_DESCRIPTIONS,
} from './protocol.gen.js';

export const JPKI_CARD_SIGNATURE = 'jpki-card-signature';
export const JPKI_SMARTPHONE_SIGNATURE = 'jpki-smartphone-signature';
export const JPKI_CARD_AUTHENTICATION = 'jpki-card-authentication';
export const JPKI_SMARTPHONE_AUTHENTICATION = 'jpki-smartphone-authentication';
export const LGPKI_SEAL = 'lgpki-seal';

export const ORGANIZATION_IDENTIFIER = '2.5.4.97';
export const TITLE = '2.5.4.12';
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** JPKI certificate policy OIDs by signer kind. The card's two are J-LIS's; the smartphone's
 * (スマホ用電子証明書, same CAs) are this project's test profile until J-LIS's are pinned:
 * they must equal devtools/testca.py's (the `seal` branch) and verifier/jpki's. */
export const JPKI_POLICIES = Object.freeze({
  '1.2.392.200149.8.5.1.1.20': JPKI_CARD_SIGNATURE,
  '1.2.392.200149.8.5.1.1.21': JPKI_SMARTPHONE_SIGNATURE,
  '1.2.392.200149.8.5.1.3.30': JPKI_CARD_AUTHENTICATION,
  '1.2.392.200149.8.5.1.3.31': JPKI_SMARTPHONE_AUTHENTICATION,
});
const SIGNATURE_KINDS = new Set([JPKI_CARD_SIGNATURE, JPKI_SMARTPHONE_SIGNATURE]);
const AUTHENTICATION_KINDS = new Set([JPKI_CARD_AUTHENTICATION, JPKI_SMARTPHONE_AUTHENTICATION]);

/** The issuance policy applies to leaves of this encoding version and later; older leaves were
 * written before it and keep their rule (a JPKI signature certificate, card or smartphone). */
export const POLICY_FROM_LEAF_VERSION = 3;

/** x509.js's purpose label for a kind (what verifier/jpki calls CertificateKind). */
export function purposeOf(kind) {
  if (SIGNATURE_KINDS.has(kind)) return 'signature';
  if (AUTHENTICATION_KINDS.has(kind)) return 'user_authentication';
  if (kind === LGPKI_SEAL) return 'seal';
  return 'unknown';
}
export const isJpki = (kind) => SIGNATURE_KINDS.has(kind) || AUTHENTICATION_KINDS.has(kind);
export const isSmartphone = (kind) => kind === JPKI_SMARTPHONE_SIGNATURE || kind === JPKI_SMARTPHONE_AUTHENTICATION;

function subjectValues(cert, oid) {
  return cert.subject.flat().filter((a) => a.oid === oid).map((a) => a.value);
}

/** Step 1: the kind the certificate's content proposes (null: none), from its parsed fields
 * (x509.js parseCertificate: policies, subject, keyUsage, eku). */
export function proposedKind(cert) {
  const jpki = [...new Set(cert.policies.filter((oid) => oid in JPKI_POLICIES))];
  const orgIds = subjectValues(cert, ORGANIZATION_IDENTIFIER);
  if (jpki.length === 1 && !orgIds.length) return JPKI_POLICIES[jpki[0]];
  if (!jpki.length && orgIds.length) return LGPKI_SEAL;
  return null;
}

/** protocol/signers.py seal_lg_code: the code a seal's organizationIdentifier names, or null. */
export function sealLgCode(organizationIdentifier) {
  const m = new RegExp(`^${SEAL_ORGANIZATION_IDENTIFIER_PREFIX}([0-9]{6})$`).exec(organizationIdentifier);
  if (!m) return null;
  const code = Number(m[1]);
  return isValidLgCode(code) ? code : null;
}

/** Step 3: what in the certificate departs from its kind's profile (empty: nothing). */
export function kindProblems(cert, kind) {
  const usage = cert.keyUsage || new Set();
  const problems = [];
  if (SIGNATURE_KINDS.has(kind) || kind === LGPKI_SEAL) {
    const missing = ['digital_signature', 'non_repudiation'].filter((u) => !usage.has(u));
    if (missing.length) problems.push(`key usage lacks ${missing.join(', ')}`);
  }
  if (AUTHENTICATION_KINDS.has(kind)) {
    if (!usage.has('digital_signature')) problems.push('key usage lacks digital_signature');
    if (!(cert.eku || []).includes(CLIENT_AUTH)) problems.push('extended key usage lacks clientAuth');
  }
  if (kind === LGPKI_SEAL) {
    const orgIds = subjectValues(cert, ORGANIZATION_IDENTIFIER);
    if (orgIds.length !== 1) problems.push('a seal certificate names exactly one organizationIdentifier');
    else if (sealLgCode(orgIds[0]) === null) problems.push(`organizationIdentifier "${orgIds[0]}" is not "${SEAL_ORGANIZATION_IDENTIFIER_PREFIX}" and a local-government code`);
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

export function entryTypeLabel(entryKind, typeCode) {
  if (entryKind === 'event') return EVENT_TYPES[typeCode] ? `${EVENT_TYPES[typeCode]} event` : `unregistered event type ${typeCode}`;
  if (DOCUMENT_TYPES[typeCode]) return DOCUMENT_TYPES[typeCode];
  return typeCode >= 0x8000 ? `municipality-defined type ${typeCode}` : `unregistered type ${typeCode}`;
}

/** Step 4 for a leaf: null if `kind` may sign it, else the reason (English, the check's detail). */
export function policyProblem(leaf, cert, kind) {
  const accepted = acceptedSignerKinds(leaf.kind, leaf.document_type);
  const what = entryTypeLabel(leaf.kind, leaf.document_type);
  if (!accepted.includes(kind)) {
    const needs = accepted.length ? accepted.map((k) => SIGNER_KIND_DESCRIPTIONS[k]).join(' or ') : 'nothing (no signer kind may sign it)';
    return { kind: 'signer_kind', detail: `a ${SIGNER_KIND_DESCRIPTIONS[kind]} may not sign a ${leaf.kind} of type ${what}: it needs ${needs}` };
  }
  if (kind === LGPKI_SEAL) {
    const code = sealLgCode(subjectValues(cert, ORGANIZATION_IDENTIFIER)[0] || '');
    if (code !== leaf.lg_code) {
      return { kind: 'seal_municipality', detail: `the seal belongs to local government ${String(code).padStart(6, '0')} (organizationIdentifier), but the entry is of ${String(leaf.lg_code).padStart(6, '0')}: a municipality's seal cannot issue another's document` };
    }
  }
  return null;
}

/** What the verdict may show about the signer: its kind, and for a seal the organisation and
 * title (never a person's data: JPKI subjects show nothing but the kind). */
export function signerSummary(cert, kind) {
  const summary = { signer_kind: kind, description: kind ? SIGNER_KIND_DESCRIPTIONS[kind] : null, smartphone: isSmartphone(kind) };
  if (kind === LGPKI_SEAL) {
    summary.organization = subjectValues(cert, '2.5.4.10').join(' ') || null;
    summary.unit = subjectValues(cert, '2.5.4.11').join(' ') || null;
    summary.title = subjectValues(cert, TITLE).join(' ') || subjectValues(cert, '2.5.4.3').join(' ') || null;
    summary.lg_code = sealLgCode(subjectValues(cert, ORGANIZATION_IDENTIFIER)[0] || '');
  }
  return summary;
}
