/** The proof bundle (verifier/bundle.py): every rule of the Python parser, and errors that name
 * the field, like the Python parser's. Also a node's revocation bucket (verifier/chain.py). */
import { equal, fromBase64, fromHex, hex, toBase64 } from './bytes.js';
import { toChecksumAddress } from './eip55.js';
import { FormatError } from './errors.js';
import { parseEvidence } from './evidence.js';
import { asObject, has, integer, isObject, jsonType, onlyFields, required } from './fields.js';
import { parseJson } from './json.js';
import { isValidLgCode } from './leaf.js';
import {
  ANCHOR_FIELDS, BUNDLE_VERSION, ENCODING_VERSION, ENTRY_KIND_LABELS, EVIDENCE_TOP_LEVEL_FIELDS, EVIDENCE_VERSION, HEAD_FIELDS,
  INCLUSION_FIELDS, LEAF_FIELDS, LEAF_VERSION_OF_BUNDLE, MAX_BLOB_BYTES, MAX_BUNDLE_BYTES, MAX_CERTIFICATES, MAX_CHAIN_INT,
  MAX_PATH_LENGTH, READABLE_VERSIONS, REVOCATION_ENTRY_FIELDS, REVOCATION_FIELDS, SEALED_LEAF_FIELDS, SIGNATURE_FIELDS,
  SIGNATURE_FORMATS, TOP_LEVEL_FIELDS,
} from './protocol.gen.js';

// Field widths of the leaf encoding (PROTOCOL 2): uint16 codes, uint64 sizes and indices.
const MAX_UINT16 = 0xffff;
const MAX_UINT64 = (1n << 64n) - 1n;

function statusOf(v, path) {
  if (v === 'anchored' || v === 'pending') return v;
  throw new FormatError(path, 'must be "anchored" or "pending"');
}
function hex32(v, path) {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new FormatError(path, 'not 64 lowercase hex characters (a SHA-256 hash)');
  return fromHex(v);
}
function hex32x(v, path) {
  if (typeof v !== 'string' || !/^0x[0-9a-f]{64}$/.test(v)) throw new FormatError(path, 'not "0x" and 64 lowercase hex characters');
  return fromHex(v.slice(2));
}
function address(v, path) {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) throw new FormatError(path, 'not an address ("0x" and 40 hex characters)');
  const checksummed = toChecksumAddress(v);
  if (v !== checksummed && v !== v.toLowerCase()) throw new FormatError(path, 'mixed-case address with a wrong EIP-55 checksum (a typo?)');
  return checksummed;
}
function lgCode(v, path) {
  if (typeof v !== 'string' || !/^[0-9]{6}$/.test(v)) throw new FormatError(path, 'must be a 6-digit string such as "131016"');
  const code = Number(v);
  if (!isValidLgCode(code)) throw new FormatError(path, `${v} is not a local-government code (prefecture or check digit wrong)`);
  return code;
}
function time(v, path) {
  const m = typeof v === 'string' && /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/.exec(v);
  if (!m) throw new FormatError(path, 'must be a UTC time like "2026-01-15T09:00:00Z"');
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (y < 1 || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new FormatError(path, `${v} is not a real date and time`);
  }
  if (ms < 0) throw new FormatError(path, 'must not be before 1970');
  return ms / 1000;
}
function base64Field(v, path) {
  if (typeof v !== 'string') throw new FormatError(path, `must be a base64 string, not ${jsonType(v)}`);
  const size = v.length;
  if (!size) throw new FormatError(path, 'is empty');
  if (size > Math.floor(MAX_BLOB_BYTES * 4 / 3) + 4) throw new FormatError(path, `more than ${MAX_BLOB_BYTES} bytes`);
  if (size % 4) throw new FormatError(path, `not valid base64 (${size} characters is not a multiple of 4: truncated?)`);
  if (!/^\p{ASCII}*$/u.test(v)) throw new FormatError(path, 'not valid base64 (a character outside the alphabet)');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new FormatError(path, 'not valid base64 (a character outside the standard alphabet, or misplaced =)');
  const last = v.slice(-4);
  if (toBase64(fromBase64(last)) !== last) throw new FormatError(path, 'base64 is not in canonical form (non-zero padding bits)');
  return v;
}

export function parseBundle(obj) {
  const top = asObject(obj, 'bundle');
  if (!has(top, 'version')) throw new FormatError('version', 'missing (a proof bundle starts with its version)');
  if (typeof top.version !== 'bigint') throw new FormatError('version', `must be the integer ${BUNDLE_VERSION}`);
  if (!READABLE_VERSIONS.some((v) => BigInt(v) === top.version)) {
    throw new FormatError('version', `version ${top.version} is not supported (this verifier reads versions ${READABLE_VERSIONS.join(', ')}; update it or ask the issuer for a version-${BUNDLE_VERSION} bundle)`);
  }
  const version = Number(top.version);
  const withEvidence = version === EVIDENCE_VERSION; // an anchored version-2 leaf and its chain evidence
  const mayHaveEvidence = version >= EVIDENCE_VERSION; // version 4: once the node captured it
  onlyFields(top, mayHaveEvidence ? EVIDENCE_TOP_LEVEL_FIELDS : TOP_LEVEL_FIELDS, '');
  const status = statusOf(required(top, 'status', ''), 'status');
  if (withEvidence && status !== 'anchored') throw new FormatError('status', 'a version-3 bundle is "anchored" (it carries the anchor\'s evidence)');
  if (has(top, 'evidence') && status !== 'anchored') throw new FormatError('evidence', 'only an "anchored" bundle carries evidence');
  // the signed entry's leaf encoding version (PROTOCOL 2): 1, 2 (bundles 2 and 3) or 3 (bundle 4)
  const leafVersion = LEAF_VERSION_OF_BUNDLE[String(version)];
  const leaf = { ...parseLeaf(required(top, 'leaf', ''), leafVersion), version: leafVersion };
  const signature = parseSignature(required(top, 'signature', ''));
  const [inclusion, head, anchor] = parseAnchoring(top, status, '');
  const evidence = withEvidence || has(top, 'evidence') ? parseEvidence(required(top, 'evidence', ''), 'evidence') : null;
  const revocation = has(top, 'revocation') ? parseRevocationSection(top.revocation, 'revocation') : null;
  return { version, status, leaf, signature, inclusion, head, anchor, evidence, revocation };
}
function entryKind(v, path) {
  const label = typeof v === 'string' ? ENTRY_KIND_LABELS.find((l) => l === v) : undefined;
  if (!label) throw new FormatError(path, 'must be "document" or "event"');
  return label;
}
function parseLeaf(obj, leafVersion) {
  const leaf = asObject(obj, 'leaf');
  const sealed = leafVersion === ENCODING_VERSION;
  onlyFields(leaf, sealed ? SEALED_LEAF_FIELDS : LEAF_FIELDS, 'leaf.');
  const field = (name) => required(leaf, name, 'leaf.');
  let kind = 'document', requester = null;
  if (sealed) {
    kind = entryKind(field('kind'), 'leaf.kind');
    const value = field('requester_commitment');
    if (value !== null) {
      requester = hex32(value, 'leaf.requester_commitment');
      if (requester.every((b) => b === 0)) throw new FormatError('leaf.requester_commitment', 'no requester is written null, not zeros');
    }
  }
  return {
    kind,
    leaf_hash: hex32(field('leaf_hash'), 'leaf.leaf_hash'),
    salt: hex32(field('salt'), 'leaf.salt'),
    lg_code: lgCode(field('lg_code'), 'leaf.lg_code'),
    document_type: Number(integer(field('document_type'), 'leaf.document_type', 1, MAX_UINT16 - 1)),
    issued_at: time(field('issued_at'), 'leaf.issued_at'),
    signing_time: time(field('signing_time'), 'leaf.signing_time'),
    signer_sha256: hex32(field('signer_sha256'), 'leaf.signer_sha256'),
    signature_sha256: hex32(field('signature_sha256'), 'leaf.signature_sha256'),
    requester_commitment: requester, // null: no requester (the leaf holds zeros)
  };
}
function parseSignature(obj) {
  const section = asObject(obj, 'signature');
  onlyFields(section, SIGNATURE_FIELDS, 'signature.');
  const format = required(section, 'format', 'signature.');
  if (typeof format !== 'string' || !SIGNATURE_FORMATS.includes(format)) throw new FormatError('signature.format', 'must be "cms" or "pkcs1"');
  const value = base64Field(required(section, 'value', 'signature.'), 'signature.value');
  const certificates = required(section, 'certificates', 'signature.');
  if (!Array.isArray(certificates)) throw new FormatError('signature.certificates', 'must be an array of base64 DER');
  if (certificates.length < 1 || certificates.length > MAX_CERTIFICATES) {
    throw new FormatError('signature.certificates', `has ${certificates.length} entries; 1 to ${MAX_CERTIFICATES} allowed (the signer's certificate first)`);
  }
  const certs = certificates.map((c, i) => fromBase64(base64Field(c, `signature.certificates[${i}]`)));
  return { format, value: fromBase64(value), certificates: certs };
}
function parseAnchoring(obj, status, prefix) {
  if (status === 'pending') {
    for (const name of ['inclusion', 'head', 'anchor']) {
      if (has(obj, name)) throw new FormatError(prefix + name, 'not allowed while status is "pending" (nothing is anchored)');
    }
    return [null, null, null];
  }
  return [
    parseInclusion(required(obj, 'inclusion', prefix, true), prefix + 'inclusion'),
    parseHead(required(obj, 'head', prefix, true), prefix + 'head'),
    parseAnchor(required(obj, 'anchor', prefix, true), prefix + 'anchor'),
  ];
}
function parseInclusion(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, INCLUSION_FIELDS, prefix);
  const treeSize = integer(required(section, 'tree_size', prefix), prefix + 'tree_size', 1, MAX_UINT64);
  const leafIndex = integer(required(section, 'leaf_index', prefix), prefix + 'leaf_index', 0, MAX_UINT64);
  if (leafIndex >= treeSize) throw new FormatError(prefix + 'leaf_index', `${leafIndex} is not below tree_size ${treeSize}`);
  const raw = required(section, 'path', prefix);
  if (!Array.isArray(raw)) throw new FormatError(prefix + 'path', 'must be an array of hex hashes');
  if (raw.length > MAX_PATH_LENGTH) throw new FormatError(prefix + 'path', `has ${raw.length} hashes; an inclusion path has at most ${MAX_PATH_LENGTH}`);
  return { leaf_index: leafIndex, tree_size: treeSize, path: raw.map((h, i) => hex32(h, `${prefix}path[${i}]`)) };
}
function parseHead(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, HEAD_FIELDS, prefix);
  return {
    seq: integer(required(section, 'seq', prefix), prefix + 'seq', 0, MAX_UINT64),
    tree_size: integer(required(section, 'tree_size', prefix), prefix + 'tree_size', 1, MAX_UINT64),
    root: hex32(required(section, 'root', prefix), prefix + 'root'),
  };
}
function parseAnchor(obj, path) {
  const section = asObject(obj, path);
  const prefix = path + '.';
  onlyFields(section, ANCHOR_FIELDS, prefix);
  const field = (name) => required(section, name, prefix);
  return {
    chain_id: integer(field('chain_id'), prefix + 'chain_id', 1, MAX_CHAIN_INT),
    registry: address(field('registry'), prefix + 'registry'),
    node: address(field('node'), prefix + 'node'),
    lg_code: lgCode(field('lg_code'), prefix + 'lg_code'),
    tx_hash: hex32x(field('tx_hash'), prefix + 'tx_hash'),
    block_number: integer(field('block_number'), prefix + 'block_number', 1, MAX_CHAIN_INT),
    block_hash: hex32x(field('block_hash'), prefix + 'block_hash'),
  };
}
export function parseRevocationSection(obj, path) {
  const section = asObject(obj, path);
  onlyFields(section, REVOCATION_FIELDS, path + '.');
  const status = statusOf(required(section, 'status', path + '.'), path + '.status');
  const entryPath = path + '.entry';
  const raw = asObject(required(section, 'entry', path + '.'), entryPath);
  onlyFields(raw, REVOCATION_ENTRY_FIELDS, entryPath + '.');
  const prefix = entryPath + '.';
  const leafHash = hex32(required(raw, 'leaf_hash', prefix), prefix + 'leaf_hash');
  const entry = {
    revoked_leaf_hash: hex32(required(raw, 'revoked_leaf_hash', prefix), prefix + 'revoked_leaf_hash'),
    lg_code: lgCode(required(raw, 'lg_code', prefix), prefix + 'lg_code'),
    reason: Number(integer(required(raw, 'reason', prefix), prefix + 'reason', 1, MAX_UINT16 - 1)),
    revoked_at: time(required(raw, 'revoked_at', prefix), prefix + 'revoked_at'),
  };
  const [inclusion, head, anchor] = parseAnchoring(section, status, path + '.');
  return { status, entry, leaf_hash: leafHash, inclusion, head, anchor };
}
export function loadBundle(bytes) {
  if (bytes.length > MAX_BUNDLE_BYTES) throw new FormatError('bundle', `${bytes.length} bytes is more than the ${MAX_BUNDLE_BYTES} a bundle may have`);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new FormatError('bundle', 'not UTF-8 text');
  }
  return parseBundle(parseJson(text));
}
/** A node's revocation bucket for `prefix` (verifier/chain.py parse_revocation_bucket). */
export function parseRevocationBucket(obj, prefix) {
  if (!isObject(obj)) throw new FormatError('revocations', 'must be a JSON object');
  const unknown = Object.keys(obj).filter((k) => k !== 'prefix' && k !== 'revocations').sort();
  if (unknown.length) throw new FormatError(unknown[0], 'unknown field in a revocation list');
  if (obj.prefix !== prefix) throw new FormatError('prefix', `must be the prefix asked for, '${prefix}'`);
  if (!Array.isArray(obj.revocations)) throw new FormatError('revocations', 'must be a list');
  const sections = obj.revocations.map((item, i) => parseRevocationSection(item, `revocations[${i}]`));
  sections.forEach((section, i) => {
    if (!hex(section.entry.revoked_leaf_hash).startsWith(prefix)) throw new FormatError(`revocations[${i}]`, `revokes a leaf outside prefix ${prefix}`);
  });
  return { prefix, revocations: sections };
}
/** RevocationBucket.answer_for: the section revoking exactly this leaf, if any. */
export function answerFor(bucket, leafHash) {
  const section = bucket.revocations.find((s) => equal(s.entry.revoked_leaf_hash, leafHash));
  return section ? { revoked: true, revocation: section } : { revoked: false, revocation: null };
}
