/** The sealed PDF ("one file", docs/VERIFY_PAGE.md): a small, strict reader for the one shape
 * our issuing side writes, not a general PDF reader.
 *
 * Container contract (written with pyHanko by the issuing side):
 *  - revision 1: the original PDF and exactly one PAdES signature (/SubFilter
 *    /ETSI.CAdES.detached) whose /ByteRange [0 a b c] covers every byte of revision 1 except its
 *    own /Contents hex string (a CMS SignedData, DER, zero-padded). The logged "document" is
 *    bytes[0, a) || bytes[b, b + c); revision 1 ends at b + c with %%EOF;
 *  - revision 2: one incremental update that only adds objects (new object numbers) and a new
 *    catalog (the same object, with /Names /EmbeddedFiles added), the embedded file
 *    "notary-bundle.json" (possibly /FlateDecode) holding the proof bundle. Nothing else may
 *    follow revision 1.
 * Cross-reference tables and streams (with PNG predictors) and object streams are read; hybrid
 * files, free-list tricks, changed or deleted objects, more updates, or a second signature are
 * refused with a PdfError that says why. */
const WS = new Set([0, 9, 10, 12, 13, 32]);
const DELIM = new Set([0x28, 0x29, 0x3c, 0x3e, 0x5b, 0x5d, 0x7b, 0x7d, 0x2f, 0x25]);
const MAX_DEPTH = 32;
const MAX_OBJECTS = 100000;
const MAX_INFLATED = 64 * 1024 * 1024;
export const MAX_PDF_BYTES = 64 * 1024 * 1024;
export const BUNDLE_FILE_NAME = 'notary-bundle.json';
export const SUBFILTER = 'ETSI.CAdES.detached';

export class PdfError extends Error {}
const fail = (message) => { throw new PdfError(message); };

const latin1 = (bytes, start, end) => String.fromCharCode(...bytes.subarray(start, end));
export const name = (v) => ({ name: v });
const isName = (v, n) => v !== null && typeof v === 'object' && typeof v.name === 'string' && (n === undefined || v.name === n);
const isRef = (v) => v !== null && typeof v === 'object' && typeof v.num === 'number' && typeof v.gen === 'number';
const isDict = (v) => v instanceof Map;

// ------------------------------------------------------------------ lexer and object parser
class Parser {
  constructor(bytes, pos = 0, end = bytes.length) { Object.assign(this, { bytes, pos, end }); }
  skipSpace() {
    const b = this.bytes;
    for (;;) {
      while (this.pos < this.end && WS.has(b[this.pos])) this.pos++;
      if (this.pos < this.end && b[this.pos] === 0x25) { // a comment runs to the end of its line
        while (this.pos < this.end && b[this.pos] !== 10 && b[this.pos] !== 13) this.pos++;
        continue;
      }
      return;
    }
  }
  word() {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.end && !WS.has(this.bytes[this.pos]) && !DELIM.has(this.bytes[this.pos])) this.pos++;
    return latin1(this.bytes, start, this.pos);
  }
  keyword(expected) {
    const at = this.pos;
    const got = this.word();
    if (got !== expected) fail(`expected "${expected}" at byte ${at}, found "${got.slice(0, 20)}"`);
  }
  integer(what) {
    const at = this.pos;
    const w = this.word();
    if (!/^[0-9]{1,15}$/.test(w)) fail(`expected ${what} (a non-negative integer) at byte ${at}`);
    return Number(w);
  }
  /** One direct object; `n g R` references come back as {num, gen}. */
  object(depth = 0) {
    if (depth > MAX_DEPTH) fail('objects nested too deeply');
    this.skipSpace();
    const b = this.bytes, start = this.pos;
    if (start >= this.end) fail('unexpected end of data');
    const c = b[start];
    if (c === 0x2f) return this.nameToken();
    if (c === 0x28) return this.literalString();
    if (c === 0x3c && b[start + 1] === 0x3c) return this.dict(depth);
    if (c === 0x3c) return this.hexString();
    if (c === 0x5b) {
      this.pos++;
      const items = [];
      for (;;) {
        this.skipSpace();
        if (b[this.pos] === 0x5d) { this.pos++; return items; }
        items.push(this.object(depth + 1));
      }
    }
    const w = this.word();
    if (w === 'true') return true;
    if (w === 'false') return false;
    if (w === 'null') return null;
    if (/^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(w)) {
      const n = Number(w);
      if (/^[0-9]{1,10}$/.test(w)) { // maybe "n g R"
        const save = this.pos;
        const g = this.word();
        if (/^[0-9]{1,5}$/.test(g)) {
          if (this.word() === 'R') return { num: n, gen: Number(g) };
        }
        this.pos = save;
      }
      return n;
    }
    return fail(`unexpected "${w.slice(0, 20) || String.fromCharCode(c)}" at byte ${start}`);
  }
  nameToken() {
    const b = this.bytes;
    this.pos++;
    const start = this.pos;
    while (this.pos < this.end && !WS.has(b[this.pos]) && !DELIM.has(b[this.pos])) this.pos++;
    const raw = latin1(b, start, this.pos);
    if (/#(?![0-9a-fA-F]{2})/.test(raw)) fail(`malformed name /${raw}`);
    return name(raw.replace(/#([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))));
  }
  literalString() {
    const b = this.bytes, out = [];
    const start = this.pos++;
    let depth = 1;
    while (this.pos < this.end) {
      const c = b[this.pos++];
      if (c === 0x5c) {
        const e = b[this.pos++];
        const map = { 0x6e: 10, 0x72: 13, 0x74: 9, 0x62: 8, 0x66: 12, 0x28: 0x28, 0x29: 0x29, 0x5c: 0x5c };
        if (e in map) out.push(map[e]);
        else if (e >= 0x30 && e <= 0x37) {
          let v = e - 0x30;
          for (let i = 0; i < 2 && b[this.pos] >= 0x30 && b[this.pos] <= 0x37; i++) v = v * 8 + b[this.pos++] - 0x30;
          out.push(v & 0xff);
        } else if (e === 13) { if (b[this.pos] === 10) this.pos++; } else if (e !== 10) out.push(e);
        continue;
      }
      if (c === 0x28) depth++;
      if (c === 0x29 && --depth === 0) return { string: new Uint8Array(out), start, end: this.pos, hex: false };
      out.push(c);
    }
    return fail('unterminated string');
  }
  hexString() {
    const b = this.bytes, start = this.pos++;
    let digits = '';
    while (this.pos < this.end && b[this.pos] !== 0x3e) {
      const c = b[this.pos++];
      if (WS.has(c)) continue;
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) fail(`not a hex digit in a hex string at byte ${this.pos - 1}`);
      digits += String.fromCharCode(c);
    }
    if (this.pos >= this.end) fail('unterminated hex string');
    this.pos++;
    if (digits.length % 2) digits += '0';
    const out = new Uint8Array(digits.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
    return { string: out, start, end: this.pos, hex: true };
  }
  dict(depth) {
    this.pos += 2;
    const out = new Map();
    for (;;) {
      this.skipSpace();
      if (this.bytes[this.pos] === 0x3e && this.bytes[this.pos + 1] === 0x3e) { this.pos += 2; return out; }
      const key = this.object(depth + 1);
      if (!isName(key)) fail(`a dictionary key is not a name (byte ${this.pos})`);
      if (out.has(key.name)) fail(`the dictionary key /${key.name} appears twice`);
      out.set(key.name, this.object(depth + 1));
    }
  }
}

// ------------------------------------------------------------------ streams
async function inflate(data, limit = MAX_INFLATED) {
  let stream;
  try {
    stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate'));
  } catch {
    return fail('this browser cannot decompress (no DecompressionStream)');
  }
  const reader = stream.getReader();
  const parts = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) { await reader.cancel(); fail('a compressed stream inflates to more than allowed'); }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof PdfError) throw e;
    fail('a compressed stream is corrupt (FlateDecode)');
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
/** PNG predictors (10-15) as xref streams use them. */
function unpredict(data, parms) {
  const predictor = parms && parms.get('Predictor') !== undefined ? parms.get('Predictor') : 1;
  if (predictor === 1) return data;
  if (predictor < 10 || predictor > 15) fail(`predictor ${predictor} is not supported`);
  const columns = parms.get('Columns') ?? 1;
  if (!Number.isInteger(columns) || columns < 1 || columns > 1024) fail('bad predictor /Columns');
  if ((parms.get('Colors') ?? 1) !== 1 || (parms.get('BitsPerComponent') ?? 8) !== 8) fail('only 8-bit single-colour predictors are supported');
  const row = columns + 1;
  if (data.length % row) fail('predicted data is not whole rows');
  const out = new Uint8Array((data.length / row) * columns);
  let prev = new Uint8Array(columns);
  for (let r = 0; r < data.length / row; r++) {
    const type = data[r * row];
    const cur = out.subarray(r * columns, (r + 1) * columns);
    for (let i = 0; i < columns; i++) {
      const x = data[r * row + 1 + i], a = i ? cur[i - 1] : 0, up = prev[i], c = i ? prev[i - 1] : 0;
      let v;
      if (type === 0) v = x;
      else if (type === 1) v = x + a;
      else if (type === 2) v = x + up;
      else if (type === 3) v = x + ((a + up) >> 1);
      else if (type === 4) {
        const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? up : c);
      } else fail(`PNG filter type ${type} is unknown`);
      cur[i] = v & 0xff;
    }
    prev = cur;
  }
  return out;
}
async function decodeStream(stream, limit) {
  const filter = stream.dict.get('Filter');
  const parms = stream.dict.get('DecodeParms');
  const filters = filter === undefined ? [] : Array.isArray(filter) ? filter : [filter];
  if (filters.length > 1 || (filters.length && !isName(filters[0], 'FlateDecode'))) fail('a stream uses a filter other than /FlateDecode');
  if (parms !== undefined && parms !== null && !isDict(parms)) fail('unsupported /DecodeParms');
  if (!filters.length) {
    if (parms !== undefined) fail('/DecodeParms without a filter');
    return stream.data;
  }
  return unpredict(await inflate(stream.data, limit), parms || null);
}

// ------------------------------------------------------------------ the file
export class PdfFile {
  constructor(bytes) {
    if (!(bytes instanceof Uint8Array)) fail('not bytes');
    if (bytes.length > MAX_PDF_BYTES) fail('the file is larger than a sealed PDF may be');
    if (latin1(bytes, 0, 5) !== '%PDF-' || !/^[12]\.[0-9]$/.test(latin1(bytes, 5, 8))) fail('not a PDF file (no %PDF- header)');
    this.bytes = bytes;
    this.cache = new Map();
  }
  /** Where the revision ending at `end` (just after its %%EOF and optional EOL) keeps its
   * last cross-reference section. */
  startxrefBefore(end) {
    const tail = latin1(this.bytes, Math.max(0, end - 64), end);
    const m = /startxref[\r\n ]+([0-9]{1,15})[\r\n ]+%%EOF(\r\n|\r|\n)?$/.exec(tail);
    if (!m) fail('the revision does not end with "startxref <offset> %%EOF"');
    return Number(m[1]);
  }
  /** One cross-reference section (table or stream) at `offset`: {entries: Map(num -> entry),
   * trailer, end (its last byte + 1), stream (its own object number, for xref streams)}. */
  async section(offset) {
    if (!Number.isInteger(offset) || offset < 8 || offset >= this.bytes.length) fail(`cross-reference offset ${offset} is outside the file`);
    const p = new Parser(this.bytes, offset);
    const entries = new Map();
    if (latin1(this.bytes, offset, offset + 4) === 'xref') {
      p.keyword('xref');
      for (;;) {
        p.skipSpace();
        if (latin1(this.bytes, p.pos, p.pos + 7) === 'trailer') break;
        const first = p.integer('a subsection start'), count = p.integer('a subsection size');
        if (count > MAX_OBJECTS) fail('too many cross-reference entries');
        p.skipSpace();
        for (let i = 0; i < count; i++) {
          const line = latin1(this.bytes, p.pos, p.pos + 20);
          const m = /^([0-9]{10}) ([0-9]{5}) ([nf])(\r\n| \r| \n)$/.exec(line);
          if (!m) fail(`malformed cross-reference entry at byte ${p.pos}`);
          p.pos += 20;
          const num = first + i;
          if (entries.has(num)) fail(`object ${num} appears twice in one cross-reference section`);
          entries.set(num, m[3] === 'n' ? { type: 1, offset: Number(m[1]), gen: Number(m[2]) } : { type: 0, gen: Number(m[2]) });
        }
      }
      p.keyword('trailer');
      const trailer = p.object();
      if (!isDict(trailer)) fail('the trailer is not a dictionary');
      if (trailer.has('XRefStm')) fail('hybrid cross-reference files are not accepted');
      return { entries, trailer, end: p.pos, stream: null };
    }
    const { num, value } = this.objectAt(offset);
    if (!value || !value.stream || !isName(value.dict.get('Type'), 'XRef')) fail(`no cross-reference table or stream at byte ${offset}`);
    const dict = value.dict;
    const w = dict.get('W');
    if (!Array.isArray(w) || w.length !== 3 || !w.every((x) => Number.isInteger(x) && x >= 0 && x <= 8) || w[1] === 0) fail('bad /W in a cross-reference stream');
    const size = dict.get('Size');
    if (!Number.isInteger(size) || size < 1 || size > MAX_OBJECTS) fail('bad /Size in a cross-reference stream');
    const index = dict.get('Index') ?? [0, size];
    if (!Array.isArray(index) || index.length % 2 || !index.every((x) => Number.isInteger(x) && x >= 0)) fail('bad /Index in a cross-reference stream');
    const stream = await this.withLength(value.stream, null);
    const data = await decodeStream(stream, MAX_INFLATED);
    const width = w[0] + w[1] + w[2];
    let at = 0;
    const field = (n, dflt) => {
      if (n === 0) return dflt;
      let v = 0;
      for (let i = 0; i < n; i++) v = v * 256 + data[at++];
      return v;
    };
    for (let k = 0; k < index.length; k += 2) {
      for (let i = 0; i < index[k + 1]; i++) {
        if (at + width > data.length) fail('a cross-reference stream is shorter than its /Index says');
        const type = field(w[0], 1), f2 = field(w[1], 0), f3 = field(w[2], 0);
        const n = index[k] + i;
        if (entries.has(n)) fail(`object ${n} appears twice in one cross-reference stream`);
        if (type === 0) entries.set(n, { type: 0, gen: f3 });
        else if (type === 1) entries.set(n, { type: 1, offset: f2, gen: f3 });
        else if (type === 2) entries.set(n, { type: 2, stream: f2, index: f3, gen: 0 });
        else fail(`cross-reference entry type ${type} is unknown`);
      }
    }
    if (at !== data.length) fail('a cross-reference stream has bytes beyond its /Index');
    return { entries, trailer: dict, end: stream.end, stream: num };
  }
  /** The indirect object at `offset`: "n g obj ... endobj", a stream's data kept raw. */
  objectAt(offset, expect = null) {
    const p = new Parser(this.bytes, offset);
    const num = p.integer('an object number'), gen = p.integer('a generation number');
    p.keyword('obj');
    if (expect && (expect.num !== num || expect.gen !== gen)) fail(`the cross-reference points object ${expect.num} at byte ${offset}, where object ${num} is`);
    let value = p.object();
    p.skipSpace();
    if (isDict(value) && latin1(this.bytes, p.pos, p.pos + 6) === 'stream') {
      p.pos += 6;
      if (this.bytes[p.pos] === 13 && this.bytes[p.pos + 1] === 10) p.pos += 2;
      else if (this.bytes[p.pos] === 10) p.pos += 1;
      else fail('"stream" is not followed by an end of line');
      value = { dict: value, stream: { dict: value, start: p.pos, data: null } };
      return { num, gen, value, end: null, parser: p };
    }
    p.keyword('endobj');
    return { num, gen, value, end: p.pos };
  }
  /** A stream's data by its /Length (direct, or an indirect object resolved with `map`). */
  async withLength(stream, map) {
    if (stream.data) return stream;
    let length = stream.dict.get('Length');
    if (isRef(length)) length = map ? await this.resolve(map, length) : fail('an indirect /Length here is not supported');
    if (!Number.isInteger(length) || length < 0 || stream.start + length > this.bytes.length) fail('a stream /Length is wrong');
    stream.data = this.bytes.subarray(stream.start, stream.start + length);
    const p = new Parser(this.bytes, stream.start + length);
    p.keyword('endstream');
    p.keyword('endobj');
    stream.end = p.pos;
    return stream;
  }
  /** The cross-reference map of the revision whose last section is at `offset`: every section
   * along /Prev, the later one winning. */
  async revisionMap(offset) {
    const sections = [];
    const seen = new Set();
    for (let at = offset; at !== undefined;) {
      if (seen.has(at) || sections.length > 64) fail('the cross-reference /Prev chain loops');
      seen.add(at);
      const s = await this.section(at);
      sections.push(s);
      const prev = s.trailer.get('Prev');
      if (prev !== undefined && !Number.isInteger(prev)) fail('bad /Prev');
      at = prev;
    }
    const map = new Map();
    for (const s of [...sections].reverse()) for (const [n, e] of s.entries) map.set(n, e);
    return { map, sections, trailer: sections[0].trailer };
  }
  /** Resolve a reference (or return a direct value) in a revision's map. */
  async resolve(map, value, depth = 0) {
    if (!isRef(value)) return value;
    if (depth > 8) fail('references nested too deeply');
    const entry = map.get(value.num);
    if (!entry || entry.type === 0 || entry.gen !== value.gen) return null; // PDF: a missing object is null
    const key = `${entry.type}:${entry.offset ?? entry.stream}:${entry.index ?? ''}:${value.num}`;
    if (this.cache.has(key)) return this.cache.get(key);
    let result;
    if (entry.type === 1) {
      const o = this.objectAt(entry.offset, value);
      result = o.value && o.value.stream ? { dict: o.value.dict, stream: await this.withLength(o.value.stream, map) } : o.value;
    } else {
      const container = await this.resolve(map, { num: entry.stream, gen: 0 }, depth + 1);
      if (!container || !container.stream || !isName(container.dict.get('Type'), 'ObjStm')) fail(`object ${value.num} is in object ${entry.stream}, which is no object stream`);
      const data = await decodeStream(container.stream, MAX_INFLATED);
      const n = container.dict.get('N'), first = container.dict.get('First');
      if (!Number.isInteger(n) || !Number.isInteger(first) || first > data.length || entry.index >= n) fail('a malformed object stream');
      const p = new Parser(data, 0, first);
      let offset = null;
      for (let i = 0; i <= entry.index; i++) {
        const num = p.integer('an object number'), off = p.integer('an offset');
        if (i === entry.index) {
          if (num !== value.num) fail(`object stream ${entry.stream} does not hold object ${value.num} where the cross-reference says`);
          offset = off;
        }
      }
      const q = new Parser(data, first + offset);
      result = q.object();
    }
    this.cache.set(key, result);
    return result;
  }
}

// ------------------------------------------------------------------ the sealed PDF
function eofEnd(bytes, end) {
  // revision 1 ends with %%EOF and an optional end of line, exactly at `end`
  const tail = latin1(bytes, Math.max(0, end - 7), end);
  if (!/%%EOF(\r\n|\r|\n)?$/.test(tail)) fail('the signature does not cover its revision up to its %%EOF');
}
/** Structural equality of two parsed objects (references by number, strings by bytes). */
function same(a, b) {
  if (a === b) return true;
  if (isDict(a) && isDict(b)) return a.size === b.size && [...a].every(([k, v]) => b.has(k) && same(v, b.get(k)));
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (isName(a) && isName(b)) return a.name === b.name;
  if (isRef(a) && isRef(b)) return a.num === b.num && a.gen === b.gen;
  if (a && b && a.string && b.string) return a.string.length === b.string.length && a.string.every((x, i) => x === b.string[i]);
  return false;
}
const text = (v) => (v && v.string ? latin1(v.string, 0, v.string.length) : null);
/** A PDF text string: UTF-16BE with its BOM, else PDFDocEncoding (ASCII here). */
function textString(v) {
  if (!v || !v.string) return null;
  const b = v.string;
  if (b[0] === 0xfe && b[1] === 0xff) {
    try { return new TextDecoder('utf-16be', { fatal: true }).decode(b.subarray(2)); } catch { return null; }
  }
  return text(v);
}
/** The length of the DER element at the start of `bytes` (one definite-length TLV). */
function derLength(bytes) {
  if (bytes.length < 2 || bytes[0] !== 0x30) fail('/Contents does not hold a CMS SignedData (DER SEQUENCE)');
  const first = bytes[1];
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || bytes.length < 2 + n) fail('/Contents does not hold a definite-length DER SEQUENCE');
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + bytes[2 + i];
  return 2 + n + len;
}

/** Read a sealed PDF: {document (the signed bytes), cms (the signature's DER), bundle (the
 * embedded notary-bundle.json bytes), byteRange}. Throws PdfError naming what is wrong. */
export async function readSealedPdf(bytes) {
  const pdf = new PdfFile(bytes);
  const lastXref = pdf.startxrefBefore(bytes.length);
  const last = await pdf.section(lastXref);
  const prev = last.trailer.get('Prev');
  if (!Number.isInteger(prev)) fail('the PDF has a single revision: the proof file was never embedded after sealing');
  // revision 1 (the signed one): its own chain of sections ends where /Prev points
  const signed = await pdf.revisionMap(prev);
  const root1 = signed.trailer.get('Root');
  if (!isRef(root1)) fail('revision 1 has no catalog');
  const catalog1 = await pdf.resolve(signed.map, root1);
  if (!isDict(catalog1)) fail('revision 1 has no catalog');
  // the signature: exactly one signature field in the AcroForm, a PAdES signature dictionary
  const form = await pdf.resolve(signed.map, catalog1.get('AcroForm'));
  const fields = form && isDict(form) ? await pdf.resolve(signed.map, form.get('Fields')) : null;
  if (!Array.isArray(fields)) fail('the PDF has no signature (no form fields)');
  const sigs = [];
  for (const ref of fields) {
    const field = await pdf.resolve(signed.map, ref);
    if (isDict(field) && isName(await pdf.resolve(signed.map, field.get('FT')), 'Sig')) sigs.push(field);
    if (isDict(field) && field.has('Kids')) fail('nested form fields are not accepted in a sealed PDF');
  }
  if (sigs.length !== 1) fail(`a sealed PDF has exactly one signature field, this one has ${sigs.length}`);
  const sigRef = sigs[0].get('V');
  if (!isRef(sigRef)) fail('the signature field holds no signature');
  const entry = signed.map.get(sigRef.num);
  if (!entry || entry.type !== 1) fail('the signature dictionary is not a plain object');
  const sigObject = pdf.objectAt(entry.offset, sigRef);
  const sig = sigObject.value;
  if (!isDict(sig)) fail('the signature is not a dictionary');
  const subFilter = sig.get('SubFilter');
  if (!isName(subFilter, SUBFILTER)) fail(`the signature is not PAdES (/SubFilter /${isName(subFilter) ? subFilter.name : '?'}, expected /${SUBFILTER})`);
  const range = sig.get('ByteRange');
  const contents = sig.get('Contents');
  if (!Array.isArray(range) || range.length !== 4 || !range.every((x) => Number.isInteger(x) && x >= 0)) fail('the signature has no proper /ByteRange');
  if (!contents || !contents.hex) fail('the signature /Contents is not a hex string');
  const [a0, a, b, c] = range;
  if (a0 !== 0) fail('/ByteRange does not start at the first byte');
  // the hole is exactly the /Contents string of this signature dictionary, "<" to ">"
  if (contents.start !== a || contents.end !== b) fail('/ByteRange does not leave out exactly the signature\'s /Contents');
  const end1 = b + c;
  if (end1 > bytes.length) fail('/ByteRange reaches beyond the end of the file');
  eofEnd(bytes, end1);
  if (bytes[end1] === 10 || (bytes[end1] === 13 && bytes[end1 - 1] !== 13)) fail('the signature does not cover its revision\'s last end of line');
  if (pdf.startxrefBefore(end1) !== prev) fail('the revision the signature covers is not the one the update builds on');
  if (lastXref < end1) fail('the last cross-reference section lies inside the signed revision');
  if (sigObject.end > end1) fail('the signature dictionary is not inside the signed revision');
  // the CMS: DER, then only zero padding
  const der = derLength(contents.string);
  if (der > contents.string.length) fail('/Contents holds a truncated CMS');
  if (!contents.string.subarray(der).every((x) => x === 0)) fail('/Contents has bytes after its CMS other than zero padding');
  const cms = contents.string.slice(0, der);
  const document = new Uint8Array(a + c);
  document.set(bytes.subarray(0, a), 0);
  document.set(bytes.subarray(b, end1), a);
  const bundle = await readUpdate(pdf, end1, last, lastXref, signed, root1, catalog1);
  return { document, cms, bundle, byteRange: range };
}

/** Revision 2: only new objects and the new catalog; its embedded notary-bundle.json. */
async function readUpdate(pdf, end1, last, lastXref, signed, root1, catalog1) {
  const bytes = pdf.bytes;
  const trailer = last.trailer;
  const root = trailer.get('Root');
  if (!isRef(root) || root.num !== root1.num || root.gen !== root1.gen) fail('the update replaces the document catalog with another object');
  const size1 = signed.trailer.get('Size');
  if (!Number.isInteger(size1)) fail('revision 1 has no /Size');
  for (const key of trailer.keys()) {
    if (!['Size', 'Root', 'Prev', 'Info', 'ID', 'Type', 'W', 'Index', 'Length', 'Filter', 'DecodeParms'].includes(key)) fail(`the update's trailer has /${key}`);
  }
  if (!same(trailer.get('Info') ?? null, signed.trailer.get('Info') ?? null)) fail('the update changes the document information (/Info)');
  // every entry: a new object inside the update, or the catalog (rewritten)
  const objects = [];
  for (const [num, e] of last.entries) {
    if (num === 0 && e.type === 0) continue;
    if (e.type === 0) fail(`the update deletes object ${num}`);
    if (e.type === 2) fail('the update uses an object stream (not what the issuing side writes)');
    if (num === last.stream) {
      if (e.offset !== lastXref) fail('the cross-reference stream is not where its entry says');
      continue;
    }
    if (e.offset < end1 || e.offset >= lastXref) fail(`the update's object ${num} lies outside the update`);
    const isCatalog = num === root1.num;
    if (!isCatalog && signed.map.has(num) && signed.map.get(num).type !== 0) fail(`the update changes object ${num} of the signed revision`);
    if (!isCatalog && num < size1) fail(`the update reuses object number ${num} of the signed revision`);
    if (isCatalog && e.gen !== root1.gen) fail('the update changes the catalog\'s generation');
    objects.push([e.offset, num, e.gen]);
  }
  if (!last.entries.has(root1.num)) fail('the update does not carry the new catalog');
  // The update's bytes are exactly its objects, back to back, then its cross-reference part.
  objects.sort((x, y) => x[0] - y[0]);
  const blank = (from, to) => /^[\0\t\n\f\r ]*(%[^\r\n]*[\r\n]+[\0\t\n\f\r ]*)*$/.test(latin1(bytes, from, to));
  let at = end1;
  for (const [offset, num, gen] of objects) {
    if (offset < at || !blank(at, offset)) fail(`unexplained bytes in the update before object ${num}`);
    const o = pdf.objectAt(offset, { num, gen });
    at = o.end === null ? (await pdf.withLength(o.value.stream, null)).end : o.end;
  }
  if (at > lastXref || !blank(at, lastXref)) fail('unexplained bytes in the update before its cross-reference section');
  const tail = latin1(bytes, last.end, bytes.length);
  if (!/^[\0\t\n\f\r ]*startxref[\r\n ]+[0-9]+[\r\n ]+%%EOF(\r\n|\r|\n)?$/.test(tail)) fail('bytes after the embedded proof file\'s update (a further change to the PDF)');
  // the new catalog: the old one, with /Names /EmbeddedFiles and /AF added (nothing else)
  const map = new Map(signed.map);
  for (const [n, e] of last.entries) map.set(n, e);
  const catalog = await pdf.resolve(map, root);
  if (!isDict(catalog)) fail('the update\'s catalog is not a dictionary');
  if (catalog1.has('AF')) fail('the sealed revision already has /AF (associated files)');
  for (const [key, value] of catalog) {
    if (key === 'Names' || key === 'AF') continue;
    if (!catalog1.has(key) || !same(value, catalog1.get(key))) fail(`the update changes the catalog's /${key}`);
  }
  for (const key of catalog1.keys()) if (!catalog.has(key)) fail(`the update removes the catalog's /${key}`);
  const names = await pdf.resolve(map, catalog.get('Names'));
  if (!isDict(names)) fail('the update adds no /Names to the catalog');
  const oldNames = catalog1.has('Names') ? await pdf.resolve(signed.map, catalog1.get('Names')) : new Map();
  if (!isDict(oldNames) || oldNames.has('EmbeddedFiles')) fail('the signed revision already names embedded files');
  for (const [key, value] of names) {
    if (key === 'EmbeddedFiles') continue;
    if (!oldNames.has(key) || !same(value, oldNames.get(key))) fail(`the update changes the catalog's /Names /${key}`);
  }
  const tree = await pdf.resolve(map, names.get('EmbeddedFiles'));
  if (!isDict(tree) || tree.has('Kids')) fail('the embedded files are not one flat name tree');
  const list = await pdf.resolve(map, tree.get('Names'));
  if (!Array.isArray(list) || list.length !== 2) fail(`a sealed PDF embeds exactly one file, ${BUNDLE_FILE_NAME}`);
  if (text(list[0]) !== BUNDLE_FILE_NAME) fail(`the embedded file is not named ${BUNDLE_FILE_NAME}`);
  const spec = await pdf.resolve(map, list[1]);
  if (!isDict(spec)) fail('the embedded file has no file specification');
  const af = catalog.has('AF') ? await pdf.resolve(map, catalog.get('AF')) : null;
  if (!Array.isArray(af) || af.length !== 1 || !same(af[0], list[1])) fail('/AF must list exactly the bundle\'s file specification');
  for (const key of ['F', 'UF']) { // the file specification names the same file
    if (key === 'UF' && !spec.has('UF')) continue;
    const value = await pdf.resolve(map, spec.get(key));
    if (textString(value) !== BUNDLE_FILE_NAME) fail(`the embedded file's /${key} is not ${BUNDLE_FILE_NAME}`);
  }
  const ef = await pdf.resolve(map, spec.get('EF'));
  const fileRef = isDict(ef) ? ef.get('F') : null;
  if (!isRef(fileRef) || !last.entries.has(fileRef.num)) fail('the embedded file is not a stream of the update');
  const file = await pdf.resolve(map, fileRef);
  if (!file || !file.stream) fail('the embedded file is not a stream');
  return decodeStream(file.stream, 1024 * 1024 + 1);
}

/** Is this a PDF (by its first bytes)? The page then reads it as a sealed PDF. */
export const looksLikePdf = (bytes) => bytes.length >= 5 && latin1(bytes, 0, 5) === '%PDF-';
