/** Where NotaryRegistry keeps a node's record and an anchor record (protocol/registry_storage.py,
 * layout generated from it): slots, packing, and the words proven by eth_getProof. */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bigFromBytes, concat, fromHex, uint } from './bytes.js';
import { toChecksumAddress } from './eip55.js';
import { ProofError } from './errors.js';
import { MptProofError, verifyAccountProof, verifyStorageProof } from './mpt.js';
import { ANCHORS_SLOT, ANCHOR_LAYOUT, NODES_SLOT, NODE_LAYOUT, NODE_SIZE, NODE_STATUS } from './protocol.gen.js';

const slotHex = (slot) => '0x' + slot.toString(16); // Python's hex()
const read = ([, offset, size], word) => (word >> BigInt(8 * offset)) & ((1n << BigInt(8 * size)) - 1n);
const addressKey = (address) => uint(BigInt(address), 32);

export const mappingSlot = (key, slot) => bigFromBytes(keccak_256(concat(key, uint(slot, 32))));
export const nodeSlot = (node) => mappingSlot(addressKey(node), NODES_SLOT);
export function anchorSlot(node, root) {
  return mappingSlot(root, mappingSlot(addressKey(node), ANCHORS_SLOT));
}
export function nodeSlots(node) {
  const base = nodeSlot(node);
  return Array.from({ length: NODE_SIZE }, (_, i) => base + BigInt(i));
}
function word(words, slot, what) {
  if (!words.has(slot)) throw new ProofError(`storage.slots[${slotHex(slot)}]`, `${what} is not proven`);
  return words.get(slot);
}
function nameSlots(node, nameWord) {
  if (!(nameWord & 1n)) return [];
  const length = (nameWord - 1n) / 2n;
  const first = bigFromBytes(keccak_256(uint(nodeSlot(node) + BigInt(NODE_LAYOUT.name[0]), 32)));
  return Array.from({ length: Number((length + 31n) / 32n) }, (_, i) => first + BigInt(i));
}
function decodeName(node, words, slot) {
  const w = word(words, slot, "the node's name");
  let data;
  if (w & 1n) {
    const length = Number((w - 1n) / 2n);
    data = concat(...nameSlots(node, w).map((s) => uint(word(words, s, "a word of the node's name"), 32))).subarray(0, length);
  } else {
    const length = Math.floor(Number(w & 0xffn) / 2);
    if (length > 31) throw new ProofError(`storage.slots[${slotHex(slot)}]`, "not a string's slot");
    data = uint(w, 32).subarray(0, length);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch (e) {
    throw new ProofError(`storage.slots[${slotHex(slot)}]`, 'the name is not UTF-8');
  }
}
/** _nodes[node] from proven words (Map slot → value), as getNode answers it. */
export function decodeNode(node, words) {
  const base = nodeSlot(node);
  const packed = word(words, base, "the node's lgCode, status, nextSeq and treeSize");
  const status = Number(read(NODE_LAYOUT.status, packed));
  if (status >= NODE_STATUS.length) throw new ProofError(`storage.slots[${slotHex(base)}]`, `not a node record: ${status} is not a valid NodeStatus`);
  const successor = read(NODE_LAYOUT.successor, word(words, base + 1n, "the node's successor"));
  word(words, base + 2n, "the node's root");
  return {
    address: toChecksumAddress(node), lg_code: Number(read(NODE_LAYOUT.lgCode, packed)), status,
    next_seq: read(NODE_LAYOUT.nextSeq, packed), tree_size: read(NODE_LAYOUT.treeSize, packed),
    successor: successor ? toChecksumAddress('0x' + successor.toString(16).padStart(40, '0')) : null,
    name: decodeName(node, words, base + BigInt(NODE_LAYOUT.name[0])),
  };
}
/** _anchors[node][root] from its proven word, as getAnchor answers it; null if never anchored. */
export function decodeAnchor(word) {
  if (!read(ANCHOR_LAYOUT.blockNumber, word)) return null;
  return {
    seq: read(ANCHOR_LAYOUT.seq, word), tree_size: read(ANCHOR_LAYOUT.treeSize, word),
    block_number: read(ANCHOR_LAYOUT.blockNumber, word), timestamp: read(ANCHOR_LAYOUT.timestamp, word),
    withdrawn: Boolean(read(ANCHOR_LAYOUT.withdrawn, word)),
  };
}
const where = (field, e) => (e.index === null ? field : `${field}[${e.index}]`);
/** proven_words: Map slot → value of the registry's storage at a state root, each proven. */
export function provenWords(stateRoot, registry, accountProof, slotProofs) {
  let account;
  try {
    account = verifyAccountProof(stateRoot, fromHex(registry.slice(2).toLowerCase()), accountProof);
  } catch (e) {
    if (!(e instanceof MptProofError)) throw e;
    throw new ProofError(where('storage.account_proof', e), e.problem);
  }
  if (account === null) throw new ProofError('storage.account_proof', 'proves the registry absent at that block');
  const words = new Map();
  for (const [slot, proof] of slotProofs) {
    try {
      words.set(slot, verifyStorageProof(account.storage_root, slot, proof));
    } catch (e) {
      if (!(e instanceof MptProofError)) throw e;
      throw new ProofError(where(`storage.slots[${slotHex(slot)}]`, e), e.problem);
    }
  }
  return words;
}
