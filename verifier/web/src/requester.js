/** The holder's requester disclosure (protocol/requester.py, PROTOCOL 14.6) and the
 * requester_disclosure check (verifier/rules/requester.py): the resident's small JSON document
 * opens the leaf's requester commitment, naming the card serial that signed the application. */
import { concat, equal, hex, sha256, utf8 } from './bytes.js';
import { FormatError } from './errors.js';
import { asObject, integer, onlyFields, required } from './fields.js';
import { parseJson } from './json.js';
import { DISCLOSURE_FIELDS, DISCLOSURE_VERSION, ENCODING_VERSION, MAX_DISCLOSURE_BYTES, REQUESTER_COMMITMENT_TAG } from './protocol.gen.js';
import { FAILED, PASSED, SKIPPED, check } from './verdict.js';

const MAX_SERIAL_BYTES = 20;

function hexField(v, path, size) {
  if (typeof v !== 'string' || v.length !== 2 * size || !/^[0-9a-f]*$/.test(v)) throw new FormatError(path, `must be ${size} bytes as lower-case hex`);
  return Uint8Array.from(v.match(/../g), (b) => parseInt(b, 16));
}

/** protocol/requester.py load_disclosure: bytes or text to a disclosure; FormatError naming the
 * field. `cardSerial` is a BigInt, `cardSerialHex` upper-case hex as certificate viewers show it. */
export function loadDisclosure(data) {
  const bytes = typeof data === 'string' ? utf8(data) : data;
  if (bytes.length > MAX_DISCLOSURE_BYTES) throw new FormatError('requester_disclosure', 'larger than any disclosure');
  let obj;
  try {
    obj = parseJson(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch {
    throw new FormatError('requester_disclosure', 'not JSON');
  }
  const top = asObject(obj, 'requester_disclosure');
  onlyFields(top, DISCLOSURE_FIELDS, '');
  const version = integer(required(top, 'requester_disclosure', ''), 'requester_disclosure', 1, DISCLOSURE_VERSION);
  if (version !== BigInt(DISCLOSURE_VERSION)) throw new FormatError('requester_disclosure', `must be ${DISCLOSURE_VERSION}`);
  const salt = hexField(required(top, 'salt', ''), 'salt', 32);
  const applicationSha256 = hexField(required(top, 'application_sha256', ''), 'application_sha256', 32);
  const serialText = required(top, 'card_serial', '');
  if (typeof serialText !== 'string' || serialText.length < 1 || serialText.length > 40 || !/^[0-9A-F]+$/.test(serialText) || serialText.startsWith('0')) {
    throw new FormatError('card_serial', 'must be the serial number in upper-case hex without leading zeros');
  }
  const cardSerial = BigInt('0x' + serialText);
  if (cardSerial <= 0n) throw new FormatError('card_serial', 'a certificate serial number is a positive integer');
  if (cardSerial >= 1n << BigInt(8 * MAX_SERIAL_BYTES)) throw new FormatError('card_serial', `a certificate serial number has at most ${MAX_SERIAL_BYTES} bytes`);
  return { salt, applicationSha256, cardSerial, cardSerialHex: cardSerial.toString(16).toUpperCase() };
}

/** protocol/leaf.py requester_commitment: SHA-256(tag || salt || SHA-256(application) || serial, 20 bytes). */
export async function requesterCommitment(disclosure) {
  const serial = new Uint8Array(MAX_SERIAL_BYTES);
  let n = disclosure.cardSerial;
  for (let i = MAX_SERIAL_BYTES - 1; i >= 0; i--) { serial[i] = Number(n & 0xffn); n >>= 8n; }
  return sha256(concat(utf8(REQUESTER_COMMITMENT_TAG), disclosure.salt, disclosure.applicationSha256, serial));
}

/** verifier/rules/requester.py requester_disclosure: the check, and the requester facts when the
 * disclosure opens the commitment. Without a disclosure the check is skipped (on request only). */
export async function requesterDisclosureCheck(leaf, disclosure) {
  const committed = leaf.version === ENCODING_VERSION && leaf.requester_commitment !== null;
  if (!disclosure) {
    const detail = committed
      ? 'no requester disclosure given; the entry commits to its requester without naming them'
      : 'no requester disclosure given (the entry names no requester)';
    return [check('requester_disclosure', SKIPPED, detail), null];
  }
  if (!committed) {
    return [check('requester_disclosure', FAILED, 'a requester disclosure was given, but this entry commits to no requester (leaf.requester_commitment is null): the disclosure belongs to another document'), null];
  }
  if (!equal(await requesterCommitment(disclosure), leaf.requester_commitment)) {
    return [check('requester_disclosure', FAILED, 'the requester disclosure does not open leaf.requester_commitment: its salt, application digest or card serial is not the one this document was issued for'), null];
  }
  const facts = { card_serial: disclosure.cardSerialHex, application_sha256: hex(disclosure.applicationSha256) };
  return [check('requester_disclosure', PASSED, `requested with the card certificate serial 0x${facts.card_serial} (application SHA-256 ${facts.application_sha256}): the disclosure opens leaf.requester_commitment`), facts];
}
