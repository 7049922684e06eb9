/** The strict JSON reader of the bundle format (verifier/bundle.py).
 *
 * JSON.parse accepts duplicate keys and turns 1.0 into 1 and 2**64 into a float; the bundle
 * format refuses the first two and needs uint64 exactly, so the page parses JSON itself:
 * integers become BigInt, other numbers JsonFloat. */
import { FormatError } from './errors.js';
import { MAX_NESTING } from './protocol.gen.js';

export class JsonFloat { constructor(text) { this.text = text; } }
export function parseJson(text) {
  let i = 0, depth = 0;
  const where = () => {
    const before = text.slice(0, i);
    const line = before.split('\n').length;
    return `line ${line} column ${i - before.lastIndexOf('\n')}`;
  };
  const fail = (msg) => { throw new FormatError('bundle', `not JSON (${msg}: ${where()})`); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  function value() {
    ws();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      if (++depth > MAX_NESTING) throw new FormatError('bundle', `nested more than ${MAX_NESTING} levels deep (no bundle is)`);
      const result = ch === '{' ? object() : array();
      depth--;
      return result;
    }
    if (ch === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    if (ch === 'N' || ch === 'I' || (ch === '-' && text[i + 1] === 'I')) {
      throw new FormatError('bundle', `${ch === 'N' ? 'NaN' : 'Infinity'} is not a JSON number`);
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail('Expecting value');
    i += m[0].length;
    return m[1] === undefined && m[2] === undefined ? BigInt(m[0]) : new JsonFloat(m[0]);
  }
  function object() {
    i++;
    const out = Object.create(null);
    const seen = new Set();
    ws();
    if (text[i] === '}') { i++; return out; }
    for (;;) {
      ws();
      if (text[i] !== '"') fail('Expecting property name enclosed in double quotes');
      const key = string();
      if (seen.has(key)) throw new FormatError('bundle', `field '${key}' appears twice in one object`);
      seen.add(key);
      ws();
      if (text[i] !== ':') fail("Expecting ':' delimiter");
      i++;
      out[key] = value();
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === '}') { i++; return out; }
      fail("Expecting ',' delimiter");
    }
  }
  function array() {
    i++;
    const out = [];
    ws();
    if (text[i] === ']') { i++; return out; }
    for (;;) {
      out.push(value());
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === ']') { i++; return out; }
      fail("Expecting ',' delimiter");
    }
  }
  function string() {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('Unterminated string');
      const ch = text[i++];
      if (ch === '"') return out;
      if (ch < ' ') fail('Invalid control character');
      if (ch !== '\\') { out += ch; continue; }
      const esc = text[i++];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[esc];
      if (simple !== undefined) { out += simple; continue; }
      if (esc !== 'u' || !/^[0-9a-fA-F]{4}$/.test(text.substr(i, 4))) fail('Invalid \\escape');
      out += String.fromCharCode(parseInt(text.substr(i, 4), 16));
      i += 4;
    }
  }
  const result = value();
  ws();
  if (i !== text.length) fail('Extra data');
  return result;
}
