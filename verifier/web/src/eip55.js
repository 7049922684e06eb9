/** EIP-55 address checksums: bundles carry addresses checksummed or in lower case (PROTOCOL 5). */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hex, utf8 } from './bytes.js';

export function keccak256(data) { return keccak_256(data); }

export function toChecksumAddress(address) {
  const lower = address.slice(2).toLowerCase();
  const digest = hex(keccak_256(utf8(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(digest[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}
