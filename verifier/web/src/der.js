/** DER on top of asn1js and @peculiar/asn1-schema, with the page's strict rules kept on top.
 *
 * asn1js reads BER; certificates, CRLs and signatures must be DER, as the Python verifier
 * (cryptography) requires. So every structure is first read by asn1js and then refused unless
 * it is one definite-length structure with nothing after it, low tag numbers only, lengths of at
 * most 4 bytes, primitive strings, and times in the RFC 5280 forms (YYMMDDHHMMSSZ and
 * YYYYMMDDHHMMSS[.f]Z). The typed fields then come from the asn1-schema classes of RFC 5280 and
 * RFC 5652 (@peculiar/asn1-x509, @peculiar/asn1-cms). */
import * as asn1js from 'asn1js';
import { AsnParser } from '@peculiar/asn1-schema';
import { hex } from './bytes.js';
import { Asn1Error } from './errors.js';

const UNIVERSAL = 1;
const SEQUENCE = 16, SET = 17, UTC_TIME = 23, GENERALIZED_TIME = 24;
const UTC_TIME_FORM = /^\d{12}Z$/;
const GENERALIZED_TIME_FORM = /^\d{14}(?:\.\d+)?Z$/;

/** The asn1js tree of `bytes`, or Asn1Error if it is not strict DER. */
export function derTree(bytes) {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error) throw new Asn1Error(parsed.result.error || 'not DER');
  if (parsed.offset !== bytes.length) throw new Asn1Error('trailing data after the DER structure');
  strict(parsed.result);
  return parsed.result;
}

function strict(node) {
  const { idBlock, lenBlock } = node;
  if (idBlock.isHexOnly || idBlock.tagNumber >= 31) throw new Asn1Error('high tag numbers are not used here');
  if (lenBlock.isIndefiniteForm) throw new Asn1Error('indefinite length (BER, not DER)');
  if (lenBlock.blockLength > 5) throw new Asn1Error('bad length');
  if (idBlock.tagClass === UNIVERSAL) {
    const tag = idBlock.tagNumber;
    if (idBlock.isConstructed && tag !== SEQUENCE && tag !== SET) throw new Asn1Error('a constructed string (BER, not DER)');
    if (tag === UTC_TIME || tag === GENERALIZED_TIME) {
      const text = latin1(node.valueBlock.valueHexView);
      if (!(tag === UTC_TIME ? UTC_TIME_FORM : GENERALIZED_TIME_FORM).test(text)) throw new Asn1Error(`not a UTC time: ${text}`);
    }
  }
  // Only constructed nodes hold children; asn1js also decodes primitive OCTET STRINGs that
  // happen to look like DER, but those bytes are data, not structure.
  if (idBlock.isConstructed) for (const child of node.valueBlock.value) strict(child);
}

/** Parse strict DER into an asn1-schema class; returns [object, asn1js tree]. */
export function parseDer(bytes, type) {
  const tree = derTree(bytes);
  try {
    return [AsnParser.fromASN(tree, type), tree];
  } catch (e) {
    throw new Asn1Error(e.message);
  }
}

/** The exact bytes of an asn1js node (as received, for signatures and fingerprints). */
export const rawOf = (node) => new Uint8Array(node.valueBeforeDecodeView);
export const childrenOf = (node) => (node.idBlock.isConstructed ? node.valueBlock.value : []);
export const bytesOf = (buffer) => new Uint8Array(buffer instanceof ArrayBuffer ? buffer : buffer.buffer).slice();

const latin1 = (bytes) => new TextDecoder('latin1').decode(bytes);

/** Seconds of an asn1-schema Time (fractions dropped: judged to the second, like the leaf). */
export function secondsOf(time) {
  const date = time.utcTime || time.generalTime || time;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new Asn1Error('not a time');
  return Math.floor(date.getTime() / 1000);
}

/** Two's complement INTEGER content (as asn1-schema hands serial numbers over) to BigInt. */
export function signedInteger(buffer) {
  const b = new Uint8Array(buffer);
  let v = b.length ? BigInt('0x' + hex(b)) : 0n;
  if (b.length && b[0] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

/** Text of a DER string value (a name attribute, an otherName): the page's readings of the
 * string types; other types as '#' and their DER hex, as RFC 4514 does. */
export function stringOfDer(bytes) {
  const node = derTree(bytes);
  const b = node.valueBlock.valueHexView;
  if (node.idBlock.tagClass !== UNIVERSAL || node.idBlock.isConstructed) return '#' + hex(bytes);
  switch (node.idBlock.tagNumber) {
    case 12: return new TextDecoder('utf-8').decode(b); // UTF8String
    case 19: case 22: case 26: case 20: return latin1(b); // Printable, IA5, Visible; T61 as most software reads it
    case 30: return new TextDecoder('utf-16be').decode(b); // BMPString
    case 28: { // UniversalString
      let out = '';
      for (let i = 0; i + 3 < b.length; i += 4) out += String.fromCodePoint((b[i] << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3]) >>> 0);
      return out;
    }
    default: return '#' + hex(bytes);
  }
}
