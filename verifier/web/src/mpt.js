/** Merkle-Patricia trie proofs (protocol/mpt.py, EIP-1186), walked strictly: the nodes must be
 * exactly the key's path, root first; a node embedded in its parent is not listed again. */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bigFromBytes, equal, fromHex, hex, uint } from './bytes.js';
import { EMPTY_TRIE_ROOT } from './protocol.gen.js';
import { RlpError, decode, encode, isBytes } from './rlp.js';

const EMPTY_ROOT = fromHex(EMPTY_TRIE_ROOT.slice(2));
const MAX_UINT256 = (1n << 256n) - 1n;

/** A proof that does not lead from its root to the key; `index` is the node at fault (null: the proof). */
export class MptProofError extends Error {
  constructor(problem, index = null) {
    super(`${index === null ? 'proof' : `proof[${index}]`}: ${problem}`);
    this.problem = problem;
    this.index = index;
  }
}
const nibblesOf = (key) => Array.from(key, (b) => [b >> 4, b & 15]).flat();
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function hexPrefix(encoded, index) {
  if (!encoded.length) throw new MptProofError('a leaf or extension node with an empty path', index);
  const nibbles = nibblesOf(encoded);
  const flag = nibbles[0];
  if (flag > 3 || ((flag === 0 || flag === 2) && nibbles[1] !== 0)) {
    throw new MptProofError(`bad hex-prefix path flag 0x${encoded[0].toString(16).padStart(2, '0')}`, index);
  }
  return [nibbles.slice(flag & 1 ? 1 : 2), flag >= 2];
}
function reference(child, index) {
  if (isBytes(child)) {
    if (child.length !== 32) throw new MptProofError(`a child reference of ${child.length} bytes (not a hash)`, index);
    return child;
  }
  if (encode(child).length >= 32) throw new MptProofError('an embedded node of 32 bytes or more (must be hashed)', index);
  return child;
}
function value(v, index) {
  if (!isBytes(v)) throw new MptProofError('a value that is a list, not bytes', index);
  return v.length ? v : null;
}
/** One node of the walk: {value} when it ends (null: absent), or {child, consumed}. */
function step(node, rest, index) {
  if (isBytes(node) && node.length === 0) return { value: null };
  if (Array.isArray(node) && node.length === 17) {
    if (!rest.length) return { value: value(node[16], index) };
    const child = node[rest[0]];
    if (isBytes(child) && child.length === 0) return { value: null };
    return { child: reference(child, index), consumed: 1 };
  }
  if (Array.isArray(node) && node.length === 2 && isBytes(node[0])) {
    const [segment, leaf] = hexPrefix(node[0], index);
    if (leaf) return { value: same(rest, segment) ? value(node[1], index) : null };
    if (!segment.length) throw new MptProofError('an extension node with an empty path', index);
    if (!same(rest.slice(0, segment.length), segment)) return { value: null };
    return { child: reference(node[1], index), consumed: segment.length };
  }
  throw new MptProofError('not a trie node (a branch of 17 items, an extension or a leaf)', index);
}
/** The value under `key` in the trie with root hash `root`, or null when the proof shows it absent. */
export function verifyProof(root, key, proof) {
  if (root.length !== 32) throw new MptProofError(`the root must be 32 bytes, got ${root.length}`);
  if (!proof.length && equal(root, EMPTY_ROOT)) return null;
  const path = nibblesOf(key);
  let position = 0, used = 0, index = 0, ref = root;
  for (;;) {
    let node;
    if (isBytes(ref)) {
      if (used === proof.length) throw new MptProofError(`ends after ${used} node(s); the path goes on to the node with hash 0x${hex(ref)}`);
      const raw = proof[used];
      index = used++;
      if (!equal(keccak_256(raw), ref)) {
        throw new MptProofError(`does not hash to the reference 0x${hex(ref)} of ${index === 0 ? 'the root' : `proof[${index - 1}]`}`, index);
      }
      try {
        node = decode(raw);
      } catch (e) {
        if (!(e instanceof RlpError)) throw e;
        throw new MptProofError(`not valid RLP: ${e.message}`, index);
      }
    } else {
      node = ref;
    }
    const next = step(node, path.slice(position), index);
    if (next.child === undefined) {
      if (used !== proof.length) throw new MptProofError(`${proof.length - used} node(s) after the end of the key's path`, used);
      return next.value;
    }
    ref = next.child;
    position += next.consumed;
  }
}
/** The registry's account at a state root (null: proven absent). */
export function verifyAccountProof(stateRoot, address, proof) {
  const raw = verifyProof(stateRoot, keccak_256(address), proof);
  if (raw === null) return null;
  let items;
  try {
    items = decode(raw);
  } catch (e) {
    if (!(e instanceof RlpError)) throw e;
    throw new MptProofError(`the proven value is not an account: ${e.message}`);
  }
  const minimal = (b) => isBytes(b) && (b.length === 0 || b[0] !== 0);
  if (!Array.isArray(items) || items.length !== 4 || !minimal(items[0]) || !minimal(items[1])
    || !isBytes(items[2]) || items[2].length !== 32 || !isBytes(items[3]) || items[3].length !== 32) {
    throw new MptProofError('the proven value is not an account');
  }
  return { nonce: bigFromBytes(items[0]), balance: bigFromBytes(items[1]), storage_root: items[2], code_hash: items[3] };
}
/** A storage slot's value under an account's storageHash (0n: proven empty). */
export function verifyStorageProof(storageRoot, slot, proof) {
  if (slot < 0n || slot > MAX_UINT256) throw new MptProofError(`a storage slot is 0 to 2**256-1, got ${slot}`);
  const raw = verifyProof(storageRoot, keccak_256(uint(slot, 32)), proof);
  if (raw === null) return 0n;
  let item;
  try {
    item = decode(raw);
  } catch (e) {
    if (!(e instanceof RlpError)) throw e;
    throw new MptProofError(`the proven value is not a storage word: ${e.message}`);
  }
  if (!isBytes(item) || (item.length && item[0] === 0)) throw new MptProofError('the proven value is not a storage word');
  const v = bigFromBytes(item);
  if (!(v > 0n && v <= MAX_UINT256)) throw new MptProofError(`the proven value ${v} is not a nonzero 256-bit word`);
  return v;
}
