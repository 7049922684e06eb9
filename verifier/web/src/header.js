/** Ethereum block headers from their RLP (protocol/header.py): decoded field by field, canonical
 * only (re-encoding gives the same bytes), hashed with keccak. London fields, then the later
 * forks' as an optional suffix. */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bigFromBytes, equal } from './bytes.js';
import { ProofError } from './errors.js';
import { HEADER_FIELDS, REQUIRED_HEADER_FIELDS } from './protocol.gen.js';
import { RlpError, decode, encode, intBytes, isBytes } from './rlp.js';

const NAMES = Object.fromEntries(HEADER_FIELDS.map(([name], i) => [name, i]));

/** A header from its RLP: {items, hash, parentHash, number, timestamp, …}; ProofError names the field. */
export function decodeHeader(raw, field = 'header') {
  let items;
  try {
    items = decode(raw);
  } catch (e) {
    if (!(e instanceof RlpError)) throw e;
    throw new ProofError(field, `not RLP: ${e.message}`);
  }
  if (!Array.isArray(items) || items.length < REQUIRED_HEADER_FIELDS || items.length > HEADER_FIELDS.length) {
    throw new ProofError(field, `an RLP list of ${Array.isArray(items) ? items.length : 'no'} items is not a header`);
  }
  const header = { items, raw };
  items.forEach((item, i) => {
    const [name, kind] = HEADER_FIELDS[i];
    if (!isBytes(item)) throw new ProofError(`${field}.${name}`, 'a list where a value belongs');
    if (kind === 'int') {
      if (item.length > 32) throw new ProofError(`${field}.${name}`, 'not a 256-bit unsigned integer');
      header[name] = bigFromBytes(item);
    } else {
      if (kind && item.length !== kind) throw new ProofError(`${field}.${name}`, `${item.length} bytes, expected ${kind}`);
      header[name] = item;
    }
  });
  const canonical = encode(items.map((item, i) => (HEADER_FIELDS[i][1] === 'int' ? intBytes(bigFromBytes(item)) : item)));
  if (!equal(canonical, raw)) throw new ProofError(field, 'not the canonical RLP of a header (leading zeros?)');
  header.hash = keccak_256(raw);
  return header;
}
/** The hash of `header` with other extraData (a Clique seal hash hashes it without the seal). */
export function hashWithExtraData(header, extraData) {
  const items = header.items.slice();
  items[NAMES.extraData] = extraData;
  return keccak_256(encode(items));
}
