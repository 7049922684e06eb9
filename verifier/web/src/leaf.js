/** Leaf encoding (protocol/leaf.py, PROTOCOL 2-3): document, event and revocation leaves, salted
 * digests, signer commitments and the local-government code's check digit. */
import { concat, sha256, uint, utf8 } from './bytes.js';
import { hashLeaf } from './rfc6962.js';
import {
  DOMAIN_TAG, ENCODING_VERSION, ENTRY_KIND_DOCUMENT, ENTRY_KIND_EVENT, ENTRY_KIND_REVOCATION, LEGACY_ENCODING_VERSION,
  REVOCATION_ENCODING_VERSION, SALTED_DIGEST_TAG, SIGNATURE_FORMATS, SIGNER_COMMITMENT_TAG,
} from './protocol.gen.js';

const DOMAIN = utf8(DOMAIN_TAG);

/** verifier/leaf.py is_valid_lg_code: prefecture 01-47 and the check digit (the registry's rule). */
export function isValidLgCode(code) {
  if (typeof code !== 'number' || !Number.isInteger(code)) return false;
  if (!(code >= 0 && code < 1000000) || !(Math.floor(code / 10000) >= 1 && Math.floor(code / 10000) <= 47)) return false;
  let body = Math.floor(code / 10), total = 0;
  for (let weight = 2; weight <= 6; weight++) { total += (body % 10) * weight; body = Math.floor(body / 10); }
  return (11 - (total % 11)) % 10 === code % 10;
}

export async function saltedDigest(salt, documentSha256) { return sha256(concat(utf8(SALTED_DIGEST_TAG), salt, documentSha256)); }

/** Version 2 and 3 leaves hold SHA-256(tag || salt || SHA-256(certificate)), version 1 the SHA-256. */
export async function signerRef(leaf) {
  return leaf.version === LEGACY_ENCODING_VERSION ? leaf.signer_sha256 : sha256(concat(utf8(SIGNER_COMMITMENT_TAG), leaf.salt, leaf.signer_sha256));
}

/** No requester (counter issuance, events): the version-3 leaf holds 32 zero bytes. */
export const NO_REQUESTER = new Uint8Array(32);

/** The 137 (versions 1, 2) or 169 (version 3: documents and events, plus the requester
 * commitment) bytes of a signed entry's leaf from its fields (protocol/leaf.py encode_document). */
export function encodeDocumentLeaf(f) {
  const v3 = f.version === ENCODING_VERSION;
  const kind = f.kind === 'event' ? ENTRY_KIND_EVENT : ENTRY_KIND_DOCUMENT;
  if (!v3 && kind !== ENTRY_KIND_DOCUMENT) throw new Error(`events need leaf version ${ENCODING_VERSION}`);
  return concat(
    DOMAIN, new Uint8Array([f.version, kind]), f.salted_digest,
    uint(f.lg_code, 4), uint(f.document_type, 2), uint(f.issued_at, 8), uint(f.signing_time, 8),
    new Uint8Array([SIGNATURE_FORMATS.indexOf(f.signature_format)]), f.signer_ref, f.signature_sha256,
    v3 ? (f.requester_commitment || NO_REQUESTER) : new Uint8Array(0),
  );
}
/** The document leaf a bundle's leaf fields and the document's SHA-256 give. */
export async function documentLeafData(leaf, documentSha256, format) {
  return encodeDocumentLeaf({
    ...leaf, salted_digest: await saltedDigest(leaf.salt, documentSha256), signature_format: format,
    signer_ref: await signerRef(leaf),
  });
}
export async function documentLeafHash(leaf, documentSha256, format) {
  return hashLeaf(await documentLeafData(leaf, documentSha256, format));
}

/** The 64 bytes of a revocation leaf. */
export function revocationLeafData(entry) {
  return concat(
    DOMAIN, new Uint8Array([REVOCATION_ENCODING_VERSION, ENTRY_KIND_REVOCATION]), entry.revoked_leaf_hash,
    uint(entry.lg_code, 4), uint(entry.reason, 2), uint(entry.revoked_at, 8),
  );
}
export async function revocationLeafHash(entry) { return hashLeaf(revocationLeafData(entry)); }
