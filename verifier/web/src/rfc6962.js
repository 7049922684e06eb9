/** RFC 6962 Merkle hashing and proofs (verifier/merkle), transparency-dev/merkle's algorithms.
 *
 * The page verifies inclusion; consistency is here so that tests/js runs the same shared
 * conformance vectors as the Python verifier (esbuild leaves it out of the page). */
import { bitLength, concat, equal, hex, popCount, sha256 } from './bytes.js';

export class ProofError extends Error {}

const HASH_SIZE = 32;
const MAX_TREE_SIZE = (1n << 64n) - 1n;
export const EMPTY_ROOT_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export async function hashLeaf(data) { return sha256(concat(new Uint8Array([0]), data)); }
export async function hashChildren(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }

function checkProof(proof, expected, what) {
  if (!Array.isArray(proof)) throw new ProofError(`proof must be a list of ${HASH_SIZE}-byte hashes`);
  if (proof.length !== expected) {
    throw new ProofError(`proof length is ${proof.length}, but ${what} has exactly ${expected} ${expected === 1 ? 'hash' : 'hashes'}`);
  }
  proof.forEach((h, i) => checkHash(h, `proof[${i}]`));
  return proof;
}
function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) throw new ProofError(`${what} must be a ${HASH_SIZE}-byte SHA-256 hash`);
  return value;
}
function checkSize(value, what) {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_TREE_SIZE) throw new ProofError(`${what} must be an integer between 0 and 2**64 - 1 (a BigInt)`);
  return value;
}

/** The root an inclusion proof implies for `leafHash` at `index` in a tree of `size` leaves. */
export async function rootFromInclusion(leafHash, index, size, proof) {
  checkHash(leafHash, 'leaf_hash');
  checkSize(index, 'leaf_index');
  checkSize(size, 'tree_size');
  if (size === 0n) throw new ProofError('tree_size is 0: an empty tree has no leaves, so nothing can be included in it');
  if (index >= size) throw new ProofError(`leaf_index ${index} is outside a tree of size ${size} (valid: 0 to ${size - 1n})`);
  const inner = bitLength(index ^ (size - 1n)); // levels below the point where the path meets the right edge
  const border = popCount(index >> BigInt(inner));
  checkProof(proof, inner + border, `an inclusion proof for leaf ${index} in a tree of size ${size}`);
  let node = leafHash;
  for (let level = 0; level < inner; level++) {
    node = (index >> BigInt(level)) & 1n ? await hashChildren(proof[level], node) : await hashChildren(node, proof[level]);
  }
  for (const sibling of proof.slice(inner)) node = await hashChildren(sibling, node);
  return node;
}

/** Returns if `proof` shows the leaf is in the tree with `root`; else throws ProofError. */
export async function verifyInclusion(leafHash, index, size, proof, root) {
  checkHash(root, 'root');
  const computed = await rootFromInclusion(leafHash, index, size, proof);
  if (!equal(computed, root)) {
    throw new ProofError(`inclusion proof for leaf ${index} in a tree of size ${size} leads to root ${hex(computed)}, not the expected ${hex(root)}`);
  }
}

function trailingZeros(n) { let z = 0; while (((n >> BigInt(z)) & 1n) === 0n) z++; return z; }

/** Returns if (size2, root2) extends (size1, root1) append-only; else throws ProofError.
 * As verifier/merkle: from the empty tree the proof is empty and root1 the empty-tree root. */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  if (size1 > size2) throw new ProofError(`size1 (${size1}) is larger than size2 (${size2})`);
  if (size1 === 0n || size1 === size2) {
    checkProof(proof, 0, `a consistency proof from size ${size1} to ${size2} (always empty)`);
    if (size1 === 0n && hex(root1) !== EMPTY_ROOT_HEX) throw new ProofError('size1 is 0 but root1 is not the empty-tree root');
    if ((size1 === size2) && !equal(root1, root2)) throw new ProofError('root1 and root2 differ but both claim to be the root of the same tree');
    return;
  }
  const shift = trailingZeros(size1); // the old tree's last perfect subtree has 2**shift leaves
  const innerFull = bitLength((size1 - 1n) ^ (size2 - 1n));
  const inner = innerFull - shift;
  const border = popCount((size1 - 1n) >> BigInt(innerFull));
  const seeded = size1 !== 1n << BigInt(shift); // unless size1 is a power of two, the proof starts with the seed
  checkProof(proof, (seeded ? 1 : 0) + inner + border, `a consistency proof from size ${size1} to size ${size2}`);
  const hashes = seeded ? proof.slice(1) : proof;
  const mask = (size1 - 1n) >> BigInt(shift);
  let old = seeded ? proof[0] : root1;
  let now = old;
  for (let level = 0; level < inner; level++) {
    const sibling = hashes[level];
    if ((mask >> BigInt(level)) & 1n) {
      old = await hashChildren(sibling, old);
      now = await hashChildren(sibling, now);
    } else { // a sibling that only exists in the new tree
      now = await hashChildren(now, sibling);
    }
  }
  for (const sibling of hashes.slice(inner)) {
    old = await hashChildren(sibling, old);
    now = await hashChildren(sibling, now);
  }
  if (!equal(old, root1)) throw new ProofError(`consistency proof from size ${size1} to ${size2} rebuilds the old root as ${hex(old)}, not root1`);
  if (!equal(now, root2)) throw new ProofError(`consistency proof from size ${size1} to ${size2} rebuilds the new root as ${hex(now)}, not root2`);
}
