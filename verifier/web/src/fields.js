/** What the strict readers of the bundle and its evidence share (protocol/bundle.py and
 * protocol/evidence.py): JSON types named as Python names them, unknown and missing fields. */
import { FormatError } from './errors.js';
import { JsonFloat } from './json.js';

export function jsonType(v) {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'bigint' || v instanceof JsonFloat) return 'a number';
  if (typeof v === 'string') return 'a string';
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}
export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonFloat);
export const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
export function asObject(v, path) {
  if (!isObject(v)) throw new FormatError(path, `must be a JSON object, not ${jsonType(v)}`);
  return v;
}
const byCodePoint = (a, b) => {
  const x = [...a].map((c) => c.codePointAt(0)), y = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};
/** The first unknown field (Python's sorted order), quoted as JSON when it is no plain name, as
 * protocol/json_fields.py does for the bundle and its evidence. */
export function onlyFields(obj, allowed, prefix) {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k)).sort(byCodePoint);
  if (!unknown.length) return;
  let name = unknown[0];
  if (!/^[A-Za-z0-9_]+$/.test(name)) name = JSON.stringify(name);
  throw new FormatError(prefix + name, 'unknown field (not part of the bundle format)');
}
export function required(obj, name, prefix, anchored = false) {
  if (!has(obj, name)) throw new FormatError(prefix + name, `missing${anchored ? ' (an "anchored" bundle needs it)' : ''}`);
  return obj[name];
}
export function integer(v, path, low, high) {
  if (typeof v !== 'bigint') throw new FormatError(path, `must be an integer, not ${jsonType(v)}`);
  if (v < BigInt(low) || v > BigInt(high)) throw new FormatError(path, `${v} is out of range (${low} to ${high})`);
  return v;
}
