/** RLP (Ethereum's recursive length prefix), canonical only: the strict reading of pyrlp
 * (`rlp.decode`), so that one header, receipt or trie node has one encoding, as in
 * protocol/header.py and protocol/mpt.py. Items are Uint8Array; lists are arrays. */
import { concat } from './bytes.js';

export class RlpError extends Error {}

function length(bytes, at, size) {
  if (at + size > bytes.length) throw new RlpError('the length prefix runs past the end');
  if (bytes[at] === 0) throw new RlpError('a length with leading zero bytes');
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + bytes[at + i];
  if (n < 56) throw new RlpError('a long-form length under 56');
  return n;
}
function item(bytes, at) {
  if (at >= bytes.length) throw new RlpError('truncated');
  const p = bytes[at];
  if (p < 0x80) return [bytes.subarray(at, at + 1), at + 1];
  let start, size, list;
  if (p <= 0xb7) { start = at + 1; size = p - 0x80; list = false; }
  else if (p <= 0xbf) { start = at + 1 + (p - 0xb7); size = length(bytes, at + 1, p - 0xb7); list = false; }
  else if (p <= 0xf7) { start = at + 1; size = p - 0xc0; list = true; }
  else { start = at + 1 + (p - 0xf7); size = length(bytes, at + 1, p - 0xf7); list = true; }
  const end = start + size;
  if (end > bytes.length) throw new RlpError(`an item of ${size} bytes runs past the end`);
  if (!list) {
    if (size === 1 && bytes[start] < 0x80) throw new RlpError('a single byte below 0x80 not encoded as itself');
    return [bytes.subarray(start, end), end];
  }
  const items = [];
  let next = start;
  while (next < end) {
    const [child, after] = item(bytes, next);
    if (after > end) throw new RlpError('a list item runs past its list');
    items.push(child);
    next = after;
  }
  return [items, end];
}
/** The one item `bytes` encode; RlpError if not canonical RLP or bytes follow it. */
export function decode(bytes) {
  const [found, end] = item(bytes, 0);
  if (end !== bytes.length) throw new RlpError(`${bytes.length - end} bytes after the item`);
  return found;
}
function prefix(size, offset) {
  if (size < 56) return Uint8Array.of(offset + size);
  const digits = [];
  for (let n = size; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
  return Uint8Array.of(offset + 55 + digits.length, ...digits);
}
export function encode(value) {
  if (Array.isArray(value)) {
    const body = concat(...value.map(encode));
    return concat(prefix(body.length, 0xc0), body);
  }
  if (value.length === 1 && value[0] < 0x80) return value;
  return concat(prefix(value.length, 0x80), value);
}
/** The minimal big-endian bytes of a non-negative integer (RLP's integers: 0 is empty). */
export function intBytes(n) {
  let v = BigInt(n);
  const out = [];
  while (v > 0n) { out.unshift(Number(v & 0xffn)); v >>= 8n; }
  return Uint8Array.from(out);
}
export const isBytes = (v) => v instanceof Uint8Array;
