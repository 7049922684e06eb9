// The sealed-PDF reader (verifier/web/src/pdf.js) on pyHanko-written fixtures
// (tests/sealed_pdf.py writes them: `python -m tests.sealed_pdf tests/js/fixtures/pdf`, which
// tests/test_page_js.py runs first; they are not kept in git), and on malformed and
// malicious variants of them: every one is refused with a reason, none yields a document.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PdfError, readSealedPdf } from '../../verifier/web/src/pdf.js';

const DIR = join(import.meta.dirname, 'fixtures', 'pdf');
const read = (name) => new Uint8Array(readFileSync(join(DIR, name)));
const latin1 = (b) => Buffer.from(b).toString('latin1');
const fromLatin1 = (s) => new Uint8Array(Buffer.from(s, 'latin1'));
const BUNDLE = read('bundle.json');

async function refused(bytes, pattern) {
  await assert.rejects(readSealedPdf(bytes), (e) => {
    assert.ok(e instanceof PdfError, `not a PdfError: ${e && e.stack}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

for (const variant of ['table', 'xrefstream']) {
  test(`a sealed PDF (${variant}) gives the signed bytes, the CMS and the embedded bundle`, async () => {
    const sealed = await readSealedPdf(read(`sealed-${variant}.pdf`));
    assert.deepEqual(sealed.document, read(`signed-${variant}.document`));
    assert.deepEqual(sealed.cms, read(`signed-${variant}.cms`));
    assert.deepEqual(sealed.bundle, BUNDLE);
    const signed = read(`signed-${variant}.pdf`);
    const [, a, b, c] = sealed.byteRange;
    assert.equal(b + c, signed.length, 'the signature covers revision 1 to its end');
    assert.equal(signed[a], 0x3c);
    assert.equal(signed[b - 1], 0x3e);
  });
}

test('an uncompressed embedded file is read as well', async () => {
  assert.deepEqual((await readSealedPdf(read('sealed-uncompressed.pdf'))).bundle, BUNDLE);
});

test('an update that rewrites /Info (pyHanko\'s default) is refused: only new objects and the catalog', async () => {
  await refused(read('sealed-info-rewritten.pdf'), /changes object 5 of the signed revision/);
});

test('a signed PDF without the embedded proof file is refused', async () => {
  await refused(read('signed-table.pdf'));
  await refused(read('signed-xrefstream.pdf'));
});

test('not a PDF, or truncated', async () => {
  await refused(fromLatin1('{"version": 4}'), /not a PDF/);
  const sealed = read('sealed-table.pdf');
  await refused(sealed.slice(0, sealed.length - 10), /startxref/);
  await refused(sealed.slice(0, 5000));
});

test('anything after the update is refused (a second update, or trailing bytes)', async () => {
  const sealed = read('sealed-table.pdf');
  await refused(fromLatin1(latin1(sealed) + 'garbage'), /startxref/);
  // a second incremental update on top (here: the same update appended again)
  const signed = read('signed-table.pdf');
  const update = latin1(sealed).slice(signed.length);
  await refused(fromLatin1(latin1(sealed) + update));
});

test('a changed byte anywhere in the container structure is refused or changes what is read', async () => {
  const sealed = read('sealed-table.pdf');
  const text = latin1(sealed);
  // /ByteRange moved by one: no longer exactly the /Contents hole
  const m = /\/ByteRange \[0 ([0-9]+) ([0-9]+) ([0-9]+)\s*\]/.exec(text) || /\/ByteRange \[ ?0 ([0-9]+) ([0-9]+) ([0-9]+) ?\]/.exec(text);
  assert.ok(m, 'a ByteRange');
  const shifted = text.replace(m[0], m[0].replace(` ${m[3]}`, ` ${String(Number(m[3]) - 1).padStart(m[3].length, ' ')}`));
  assert.notEqual(shifted, text);
  await refused(fromLatin1(shifted));
  // a non-zero byte in the padding after the CMS
  const contents = text.indexOf('<', Number(m[1])) + 1;
  const end = Number(m[2]) - 1;
  const padded = text.slice(0, end - 1) + '1' + text.slice(end);
  assert.equal(text.slice(end - 1, end), '0');
  await refused(fromLatin1(padded), /zero padding/);
  // a non-hex character in /Contents
  await refused(fromLatin1(text.slice(0, contents + 3) + 'x' + text.slice(contents + 4)), /hex/);
  // the embedded file renamed
  const renamed = text.replace('(notary\\055bundle\\056json) 15 0 R', '(notary\\055bundle\\056jsoN) 15 0 R');
  assert.notEqual(renamed, text);
  await refused(fromLatin1(renamed), /not named notary-bundle.json/);
});

test('the update may not change the signed catalog beyond /Names', async () => {
  const text = latin1(read('sealed-table.pdf'));
  const start = read('signed-table.pdf').length;
  const update = text.slice(start);
  const changed = update.replace('/Pages 2 0 R', '/Pages 3 0 R');
  assert.notEqual(changed, update);
  await refused(fromLatin1(text.slice(0, start) + changed), /changes the catalog's \/Pages/);
});

test('an update that deletes or redefines a signed object is refused', async () => {
  const text = latin1(read('sealed-table.pdf'));
  const start = read('signed-table.pdf').length;
  const update = text.slice(start);
  // the update's entry for the catalog (object 1) made free: a deletion
  const deleted = update.replace(/(0 2\r?\n0000000000 65535 f\s{1,2})([0-9]{10}) 00000 n/, (all, head, off) => all.replace(`${off} 00000 n`, '0000000000 00001 f'));
  assert.notEqual(deleted, update);
  await refused(fromLatin1(text.slice(0, start) + deleted), /deletes object 1/);
  // the new objects renumbered onto signed ones (2..6): a redefinition
  const renumbered = update.replace(/\n11 5\r?\n/, (all) => all.replace('11 5', ' 2 5'));
  assert.notEqual(renumbered, update);
  await refused(fromLatin1(text.slice(0, start) + renumbered));
});

test('two signature fields, or a signature that is not PAdES, are refused', async () => {
  const text = latin1(read('sealed-table.pdf'));
  const sub = text.replace('/SubFilter /ETSI.CAdES.detached', '/SubFilter /adbe.pkcs7.detached');
  assert.notEqual(sub, text);
  await refused(fromLatin1(sub), /not PAdES/);
});

test('an embedded stream swapped for a decompression bomb is refused', async () => {
  const { deflateSync } = await import('node:zlib');
  const bomb = deflateSync(Buffer.alloc(4 * 1024 * 1024));
  const text = latin1(read('sealed-uncompressed.pdf'));
  const start = text.lastIndexOf('/Type /EmbeddedFile');
  const dictStart = text.lastIndexOf('<<', start);
  const streamStart = text.indexOf('stream\n', start) + 7;
  const streamEnd = text.indexOf('\nendstream', streamStart);
  const header = text.slice(dictStart, streamStart).replace(/\/Length [0-9]+/, `/Filter /FlateDecode /Length ${bomb.length}`);
  const forged = text.slice(0, dictStart) + header + bomb.toString('latin1') + text.slice(streamEnd);
  // the offsets after the stream are now wrong: refused either way, never read
  await refused(fromLatin1(forged));
});

test('the file specification must name notary-bundle.json too', async () => {
  const text = latin1(read('sealed-table.pdf'));
  const at = text.lastIndexOf('/F (notary\\055bundle\\056json)');
  assert.ok(at > 0);
  const renamed = text.slice(0, at + 4) + 'N' + text.slice(at + 5);
  await refused(fromLatin1(renamed), /\/F is not notary-bundle.json/);
});
