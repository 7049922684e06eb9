// Bundle parsing on the same cases as tests/test_verify_bundle.py: every malformed vector of
// tests/vectors/expected.json is refused naming its field, the well-formed ones parse, and the
// field table of the Python test gives the same field; plus the node's revocation bucket rules.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VECTORS, readBytes, readJson } from './support.mjs';
import { answerFor, loadBundle, parseRevocationBucket } from '../../verifier/web/src/bundle.js';
import { FormatError } from '../../verifier/web/src/errors.js';
import { parseJson } from '../../verifier/web/src/json.js';
import { MAX_BUNDLE_BYTES } from '../../verifier/web/src/protocol.gen.js';

const EXPECTED = readJson(join(VECTORS, 'expected.json'));
const VALID_TEXT = readFileSync(join(VECTORS, 'bundles', 'valid-cms.json'), 'utf8');
const bytes = (text) => new TextEncoder().encode(text);

function refused(input) {
  try {
    loadBundle(typeof input === 'string' ? bytes(input) : input);
  } catch (e) {
    assert.ok(e instanceof FormatError, `not a FormatError: ${e}`);
    assert.ok(e.message.startsWith(e.field + ': '), e.message);
    return e;
  }
  assert.fail('the bundle was accepted');
}

for (const [name, c] of Object.entries(EXPECTED.malformed).sort()) {
  test(`malformed ${name} is refused naming ${c.field}`, () => {
    assert.equal(refused(readBytes(join(VECTORS, name))).field, c.field);
  });
}

test('every well-formed vector parses', () => {
  const names = Object.keys(EXPECTED.bundles);
  assert.ok(names.length >= 20);
  for (const name of names) loadBundle(readBytes(join(VECTORS, name)));
});

test('parsed values (tests/test_verify_bundle.py test_parsed_values)', () => {
  const b = loadBundle(bytes(VALID_TEXT));
  const data = JSON.parse(VALID_TEXT);
  assert.equal(b.version, 2);
  assert.equal(b.status, 'anchored');
  assert.equal(b.leaf.version, 2);
  assert.equal(b.leaf.lg_code, 131016);
  assert.equal(b.leaf.document_type, 1);
  assert.equal(Buffer.from(b.leaf.salt).toString('hex'), data.leaf.salt);
  assert.equal(b.signature.format, 'cms');
  assert.equal(b.signature.certificates.length, 2);
  assert.equal(Buffer.from(b.inclusion.path[2]).toString('hex'), data.inclusion.path[2]);
  assert.equal(b.anchor.registry, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
  assert.equal(typeof b.head.seq, 'bigint'); // uint64 kept exact
});

/** valid-cms.json with `path` set to the JSON text `raw` (so that 1.0 stays 1.0). */
function withField(path, raw) {
  const data = JSON.parse(VALID_TEXT);
  const parts = path.split(/\.|(?=\[)/);
  const last = parts.pop();
  let target = data;
  for (const p of parts) target = p.startsWith('[') ? target[Number(p.slice(1, -1))] : target[p];
  if (last.startsWith('[')) target[Number(last.slice(1, -1))] = '@@RAW@@'; else target[last] = '@@RAW@@';
  return JSON.stringify(data).replace('"@@RAW@@"', raw);
}
const PENDING_REVOCATION_WITH_REASON_0 = JSON.stringify({
  status: 'pending',
  entry: { leaf_hash: '00'.repeat(32), revoked_leaf_hash: '00'.repeat(32), lg_code: '131016', reason: 0, revoked_at: '2026-01-01T00:00:00Z' },
});
const FIELD_CASES = [ // tests/test_verify_bundle.py test_field_errors_name_the_field
  ['inclusion.path[2]', JSON.stringify('zz'.repeat(32)), 'inclusion.path[2]'],
  ['inclusion.path[0]', '7', 'inclusion.path[0]'],
  ['inclusion', '[]', 'inclusion'],
  ['leaf.salt', JSON.stringify('00'.repeat(31)), 'leaf.salt'],
  ['leaf.document_type', '1.0', 'leaf.document_type'],
  ['leaf.document_type', 'true', 'leaf.document_type'],
  ['leaf.document_type', '0', 'leaf.document_type'],
  ['leaf.signing_time', '"2026-02-30T00:00:00Z"', 'leaf.signing_time'],
  ['leaf.issued_at', '"1969-12-31T23:59:59Z"', 'leaf.issued_at'],
  ['leaf.lg_code', '131016', 'leaf.lg_code'],
  ['head.seq', '18446744073709551616', 'head.seq'],
  ['head.tree_size', '0', 'head.tree_size'],
  ['anchor.chain_id', '0', 'anchor.chain_id'],
  ['anchor.tx_hash', JSON.stringify('ab'.repeat(32)), 'anchor.tx_hash'],
  ['anchor.registry', '"0x1234"', 'anchor.registry'],
  ['signature.certificates', '[]', 'signature.certificates'],
  ['signature.certificates[1]', '""', 'signature.certificates[1]'],
  ['signature.value', '"QUJD\\nREVG"', 'signature.value'],
  ['signature.value', '"QUJDRA=A"', 'signature.value'],
  ['signature.value', '"QR=="', 'signature.value'],
  ['signature.value', '"-_-_"', 'signature.value'],
  ['status', '"anchored "', 'status'],
  ['version', '"1"', 'version'],
  ['leaf', 'null', 'leaf'],
  ['revocation', '{"status": "pending"}', 'revocation.entry'],
  ['revocation', PENDING_REVOCATION_WITH_REASON_0, 'revocation.entry.reason'],
];
for (const [path, raw, field] of FIELD_CASES) {
  test(`${path} = ${raw.slice(0, 40)} is refused naming ${field}`, () => {
    assert.equal(refused(withField(path, raw)).field, field);
  });
}

test('unknown fields are refused at every level', () => {
  for (const section of ['leaf', 'signature', 'inclusion', 'head', 'anchor']) {
    const data = JSON.parse(VALID_TEXT);
    data[section].x_extension = 1;
    assert.equal(refused(JSON.stringify(data)).field, `${section}.x_extension`);
  }
});

test('the version is checked before unknown fields', () => {
  const data = JSON.parse(VALID_TEXT);
  data.version = 5;
  data.new_in_v5 = {};
  const error = refused(JSON.stringify(data));
  assert.equal(error.field, 'version');
  assert.match(error.message, /version 5 is not supported/);
});

test('the size limit is checked before parsing, nesting and encoding are refused', () => {
  const big = JSON.parse(VALID_TEXT);
  big.comment = 'x'.repeat(MAX_BUNDLE_BYTES);
  assert.match(refused(JSON.stringify(big)).message, /^bundle: .*bytes/);
  for (const text of ['['.repeat(400000) + ']'.repeat(400000), '{"version": 1, "x": ' + '['.repeat(40) + ']'.repeat(40) + '}']) {
    assert.match(refused(text).message, /^bundle: nested/);
  }
  const brackets = JSON.parse(VALID_TEXT);
  brackets.comment = '['.repeat(1000);
  assert.equal(refused(JSON.stringify(brackets)).field, 'comment'); // read fine, then refused as unknown
  const utf16 = new Uint8Array(Buffer.from('\ufeff' + VALID_TEXT, 'utf16le'));
  assert.match(refused(utf16).message, /UTF-8/);
});

test('the strict JSON reader keeps uint64 exact and refuses duplicates', () => {
  assert.equal(parseJson('18446744073709551615'), 18446744073709551615n);
  assert.throws(() => parseJson('{"a": 1, "a": 2}'), /appears twice/);
  assert.throws(() => parseJson('NaN'), /NaN is not a JSON number/);
});

// ------------------------------------------------------------ the node's revocation bucket
const REVOKED = JSON.parse(readFileSync(join(VECTORS, 'bundles', 'revoked.json'), 'utf8'));
const bucket = (obj, prefix) => parseRevocationBucket(parseJson(JSON.stringify(obj)), prefix);

test('a bucket is read like the Python client reads it (tests/test_security_verifier.py)', () => {
  const section = REVOKED.revocation;
  const leaf = section.entry.revoked_leaf_hash;
  const prefix = leaf.slice(0, 2);
  const answer = answerFor(bucket({ prefix, revocations: [section] }, prefix), Buffer.from(leaf, 'hex'));
  assert.equal(answer.revoked, true);
  assert.equal(answerFor(bucket({ prefix, revocations: [] }, prefix), Buffer.from(leaf, 'hex')).revoked, false);
  assert.throws(() => bucket({ prefix: '00', revocations: [] }, prefix), /prefix: must be the prefix asked for/);
  const other = prefix === '00' ? '01' : '00';
  assert.throws(() => bucket({ prefix: other, revocations: [section] }, other), /revokes a leaf outside prefix/);
  assert.throws(() => bucket({ prefix, revocations: [], extra: 1 }, prefix), /extra: unknown field in a revocation list/);
});
