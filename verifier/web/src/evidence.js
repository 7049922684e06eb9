/** The `evidence` section of a version-3 bundle (protocol/evidence.py, PROTOCOL 10.1): its
 * strict reading, shape only (types, hex, sizes, counts, order), with the same limits and the
 * same field errors. Whether the bytes prove anything is left to the checks (proofs.js). */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, fromHex, toBase64 } from './bytes.js';
import { FormatError } from './errors.js';
import { asObject, has, integer, jsonType, onlyFields, required } from './fields.js';
import {
  EVIDENCE_FIELDS, MAX_EVIDENCE_HEADERS, MAX_HEADER_BYTES, MAX_INDEX, MAX_OCSP_RESPONSE_BYTES,
  MAX_PROOF_NODES, MAX_SIGNER_CRL_BYTES, MAX_SIGNER_CRLS, MAX_SIGNER_OCSP_RESPONSES, MAX_STORAGE_SLOTS,
  MAX_TOKEN_BYTES, MAX_TRIE_NODE_BYTES, RECEIPT_FIELDS, SIGNER_REVOCATION_FIELDS, SLOT_FIELDS, STATE_FIELDS,
  TRANSACTION_FIELDS,
} from './protocol.gen.js';


export function parseEvidence(obj, path = 'evidence') {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, EVIDENCE_FIELDS, prefix);
  const headers = blobs(required(section, 'headers', prefix), prefix + 'headers', 1, MAX_EVIDENCE_HEADERS, MAX_HEADER_BYTES);
  const receipt = parseReceipt(required(section, 'receipt', prefix), prefix + 'receipt');
  const transaction = parseTransaction(required(section, 'transaction', prefix), prefix + 'transaction');
  const state = parseState(required(section, 'state', prefix), prefix + 'state');
  const timestamp = has(section, 'timestamp') ? base64(section.timestamp, prefix + 'timestamp', MAX_TOKEN_BYTES) : null;
  const signerRevocation = has(section, 'signer_revocation')
    ? parseSignerRevocation(section.signer_revocation, prefix + 'signer_revocation') : null;
  return { headers, receipt, transaction, state, timestamp, signerRevocation };
}
// The CRLs or OCSP responses that decided the signer at its signing time: read (and kept for
// the shape rules), not yet used by the page's signer check.
function parseSignerRevocation(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, SIGNER_REVOCATION_FIELDS, prefix);
  const crls = derList(required(section, 'crls', prefix), prefix + 'crls', MAX_SIGNER_CRLS, MAX_SIGNER_CRL_BYTES);
  const ocspResponses = derList(required(section, 'ocsp_responses', prefix), prefix + 'ocsp_responses',
    MAX_SIGNER_OCSP_RESPONSES, MAX_OCSP_RESPONSE_BYTES);
  if (!crls.length && !ocspResponses.length) throw new FormatError(path, 'holds no CRL and no OCSP response (omit it instead)');
  return { crls, ocspResponses };
}
function derList(value, path, high, blobBytes) {
  if (!Array.isArray(value)) throw new FormatError(path, 'must be an array of base64 strings');
  if (value.length > high) throw new FormatError(path, `has ${value.length} entries; at most ${high} allowed`);
  const blobs = value.map((item, i) => base64(item, `${path}[${i}]`, blobBytes));
  const digests = blobs.map((blob) => sha256(blob));
  for (let i = 1; i < digests.length; i++) {
    if (compareBytes(digests[i], digests[i - 1]) <= 0) throw new FormatError(`${path}[${i}]`, 'must be in ascending order of SHA-256, each once');
  }
  return blobs;
}
function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
function parseReceipt(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, RECEIPT_FIELDS, prefix);
  return {
    index: Number(integer(required(section, 'index', prefix), prefix + 'index', 0, MAX_INDEX)),
    value: blob(required(section, 'value', prefix), prefix + 'value', MAX_TRIE_NODE_BYTES),
    proof: proof(required(section, 'proof', prefix), prefix + 'proof', 1),
  };
}
function parseTransaction(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, TRANSACTION_FIELDS, prefix);
  return {
    value: blob(required(section, 'value', prefix), prefix + 'value', MAX_TRIE_NODE_BYTES),
    proof: proof(required(section, 'proof', prefix), prefix + 'proof', 1),
  };
}
function parseState(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, STATE_FIELDS, prefix);
  const block = integer(required(section, 'block_number', prefix), prefix + 'block_number', 1, (1n << 63n) - 1n);
  const account = proof(required(section, 'account_proof', prefix), prefix + 'account_proof', 1);
  const raw = required(section, 'slots', prefix);
  if (!Array.isArray(raw)) throw new FormatError(prefix + 'slots', 'must be an array of storage proofs');
  if (raw.length < 1 || raw.length > MAX_STORAGE_SLOTS) throw new FormatError(prefix + 'slots', `has ${raw.length} entries; 1 to ${MAX_STORAGE_SLOTS} allowed`);
  const slots = raw.map((item, i) => parseSlot(item, `${prefix}slots[${i}]`));
  for (let i = 1; i < slots.length; i++) {
    if (slots[i].slot <= slots[i - 1].slot) throw new FormatError(`${prefix}slots[${i}].slot`, 'slots must be in ascending order, each once');
  }
  return { block_number: block, account_proof: account, slots };
}
function parseSlot(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, SLOT_FIELDS, prefix);
  return {
    slot: word(required(section, 'slot', prefix), prefix + 'slot'),
    value: word(required(section, 'value', prefix), prefix + 'value'),
    proof: proof(required(section, 'proof', prefix), prefix + 'proof', 0),
  };
}
const proof = (value, path, low) => blobs(value, path, low, MAX_PROOF_NODES, MAX_TRIE_NODE_BYTES);
function blobs(value, path, low, high, blobBytes) {
  if (!Array.isArray(value)) throw new FormatError(path, 'must be an array of 0x-prefixed hex strings');
  if (value.length < low || value.length > high) throw new FormatError(path, `has ${value.length} entries; ${low} to ${high} allowed`);
  return value.map((item, i) => blob(item, `${path}[${i}]`, blobBytes));
}
function blob(value, path, limit) {
  if (typeof value !== 'string') throw new FormatError(path, `must be a hex string, not ${jsonType(value)}`);
  if (value.length > 2 + 2 * limit) throw new FormatError(path, `more than ${limit} bytes`);
  if (!/^0x(?:[0-9a-f]{2})+$/.test(value)) throw new FormatError(path, 'not "0x" and a non-empty even number of lowercase hex characters');
  return fromHex(value.slice(2));
}
function word(value, path) {
  if (typeof value !== 'string' || !/^0x[0-9a-f]{64}$/.test(value)) throw new FormatError(path, 'not "0x" and 64 lowercase hex characters (a 32-byte word)');
  return BigInt(value);
}
function base64(value, path, limit) {
  if (typeof value !== 'string' || !value) throw new FormatError(path, 'must be a non-empty base64 string');
  if (value.length > Math.floor(limit * 4 / 3) + 4) throw new FormatError(path, `more than ${limit} bytes`);
  let raw;
  try {
    if (value.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new Error('alphabet');
    raw = fromBase64(value);
  } catch (e) {
    throw new FormatError(path, 'not valid base64');
  }
  if (toBase64(raw) !== value) throw new FormatError(path, 'base64 is not in canonical padded form');
  return raw;
}
