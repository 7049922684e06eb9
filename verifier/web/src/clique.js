/** EIP-225 Clique seals and the offline proof that a block is final (protocol/clique.py): each
 * header after the anchor block links to its parent, every header is sealed by a signer the trust
 * root's history authorises at its height, and ⌊N/2⌋+1 distinct signers sealed on top of the
 * anchor block. secp256k1 recovery is @noble/curves'. */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bigFromBytes, equal, hex } from './bytes.js';
import { toChecksumAddress } from './eip55.js';
import { ProofError } from './errors.js';
import { hashWithExtraData } from './header.js';
import { CLIQUE_SEAL, CLIQUE_VANITY } from './protocol.gen.js';

const show = (address) => toChecksumAddress('0x' + address); // lower-case hex

function checkExtra(header, field) {
  const size = header.extraData.length;
  if (size < CLIQUE_VANITY + CLIQUE_SEAL) throw new ProofError(`${field}.extraData`, `${size} bytes, shorter than vanity and seal (${CLIQUE_VANITY + CLIQUE_SEAL})`);
}
/** What the signer signs: keccak of the header's RLP with the seal cut from extraData. */
export function sealHash(header, field = 'header') {
  checkExtra(header, field);
  return hashWithExtraData(header, header.extraData.subarray(0, header.extraData.length - CLIQUE_SEAL));
}
/** The 20-byte address whose key sealed `header` (hex, lower case). */
export function recoverSigner(header, field = 'header') {
  checkExtra(header, field);
  const seal = header.extraData.subarray(header.extraData.length - CLIQUE_SEAL);
  let publicKey;
  try {
    const v = seal[64];
    if (v > 1) throw new Error(`value of v, aka y-parity, was ${v}, must be either 0 or 1`);
    const signature = new secp256k1.Signature(bigFromBytes(seal.subarray(0, 32)), bigFromBytes(seal.subarray(32, 64)), v);
    publicKey = signature.recoverPublicKey(sealHash(header, field)).toBytes(false);
  } catch (e) {
    if (e instanceof ProofError) throw e;
    throw new ProofError(`${field}.extraData`, `the seal does not recover a key: ${e.message}`);
  }
  return hex(keccak_256(publicKey.subarray(1)).subarray(12));
}

/** The trust root's signer sets [{block, signers: Set of lower-case hex}], in block order. */
export class SignerHistory {
  constructor(sets) { this.sets = sets; }
  /** The signers as of `block`: those that may seal block `block + 1`. */
  signersAt(block) {
    let current = null;
    for (const entry of this.sets) {
      if (entry.block > block) break;
      current = entry;
    }
    if (current === null) throw new ProofError('signers', `the history starts at block ${this.sets[0].block}, after ${block}`);
    return current.signers;
  }
  maySeal(number) { return this.signersAt(number - 1n); }
}

function checkLink(header, parent, field) {
  if (header.number !== parent.number + 1n) throw new ProofError(`${field}.number`, `block ${header.number} does not follow block ${parent.number}`);
  if (!equal(header.parentHash, parent.hash)) {
    throw new ProofError(`${field}.parentHash`, `block ${header.number} names parent 0x${hex(header.parentHash)}, not block ${parent.number}'s hash 0x${hex(parent.hash)}`);
  }
  if (header.timestamp < parent.timestamp) {
    throw new ProofError(`${field}.timestamp`, `block ${header.number} is timed ${header.timestamp}, before its parent (${parent.timestamp})`);
  }
}
/** verify_finality: {sealers, required, distinct} or ProofError naming the first header at fault. */
export function verifyFinality(headers, history, anchorHash) {
  if (!headers.length) throw new ProofError('headers', "no headers: the anchor block's header comes first");
  const anchor = headers[0];
  if (!equal(anchor.hash, anchorHash)) {
    throw new ProofError('headers[0]', `block ${anchor.number} hashes to 0x${hex(anchor.hash)}, not the anchor block's 0x${hex(anchorHash)}`);
  }
  if (anchor.number < 1n) throw new ProofError('headers[0].number', 'the genesis block carries no seal');
  const sealers = [];
  let largest = history.maySeal(anchor.number + 1n).size;
  headers.forEach((header, index) => {
    const field = `headers[${index}]`;
    if (index) {
      checkLink(header, headers[index - 1], field);
      largest = Math.max(largest, history.maySeal(header.number).size);
    }
    const signer = recoverSigner(header, field);
    if (!history.maySeal(header.number).has(signer)) {
      throw new ProofError(`${field}.extraData`, `block ${header.number} is sealed by ${show(signer)}, not a signer authorised at that height`);
    }
    sealers.push(signer);
  });
  const required = Math.floor(largest / 2) + 1; // protocol.finality.clique_signer_limit
  const distinct = new Set(sealers.slice(1)).size;
  if (distinct < required) {
    throw new ProofError('headers', `${distinct} distinct signer(s) sealed the ${headers.length - 1} block(s) on top of block ${anchor.number}; finality needs ${required} (⌊N/2⌋+1)`);
  }
  return { sealers, required, distinct };
}
