/** What a bundle's chain evidence proves, step by step (protocol/evidence_proofs.py): the anchor
 * header against the bundle's block hash, the receipt and the transaction against its roots, the
 * registry's storage against a carried header's state root, the seals against the trust root's
 * signer history. Each step throws a ProofError naming the evidence field at fault. */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { equal, hex } from './bytes.js';
import { verifyFinality } from './clique.js';
import { toChecksumAddress } from './eip55.js';
import { ProofError } from './errors.js';
import { decodeHeader } from './header.js';
import { MptProofError, verifyProof } from './mpt.js';
import { headAnchoredLogs, receiptKey, transactionTo, verifyReceiptProof } from './receipts.js';
import { anchorSlot, decodeAnchor, decodeNode, provenWords } from './storage.js';

const prefixed = (e) => new ProofError(e.field.startsWith('evidence') ? e.field : `evidence.${e.field}`, e.problem);
function rethrowPrefixed(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProofError) throw prefixed(e);
    throw e;
  }
}

export function decodeHeaders(evidence) {
  return evidence.headers.map((raw, i) => decodeHeader(raw, `evidence.headers[${i}]`));
}
/** headers[0], once shown to be the bundle's anchor block. */
export function anchorHeader(headers, blockNumber, blockHash) {
  const first = headers[0];
  if (!equal(first.hash, blockHash)) throw new ProofError('evidence.headers[0]', `hashes to 0x${hex(first.hash)}, not the anchor block 0x${hex(blockHash)}`);
  if (first.number !== blockNumber) throw new ProofError('evidence.headers[0].number', `block ${first.number}, but the bundle names block ${blockNumber}`);
  return first;
}
export function proveReceipt(evidence, anchor) {
  const stated = evidence.receipt;
  const { receipt, raw } = rethrowPrefixed(() => verifyReceiptProof(anchor.receiptsRoot, stated.index, stated.proof));
  if (!equal(raw, stated.value)) throw new ProofError('evidence.receipt.value', 'is not the receipt the proof proves at that index');
  return receipt;
}
export function proveHeadAnchored(receipt, registry, node, seq, treeSize, root) {
  if (!receipt.succeeded) throw new ProofError('evidence.receipt.value', 'the transaction failed: it anchored nothing');
  const log = headAnchoredLogs(receipt, registry).find((l) => l.node.toLowerCase() === node.toLowerCase() && l.seq === seq && l.tree_size === treeSize && equal(l.root, root));
  if (log) return log;
  throw new ProofError('evidence.receipt.value', `no HeadAnchored log of registry ${registry} for node ${node}, seq ${seq}, size ${treeSize} and this root`);
}
export function proveTransaction(evidence, anchor, txHash, registry) {
  const stated = evidence.transaction;
  const index = evidence.receipt.index;
  let proven;
  try {
    proven = verifyProof(anchor.transactionsRoot, receiptKey(index), stated.proof);
  } catch (e) {
    if (!(e instanceof MptProofError)) throw e;
    throw new ProofError(`evidence.transaction.proof${e.index === null ? '' : `[${e.index}]`}`, e.problem);
  }
  if (proven === null) throw new ProofError('evidence.transaction.proof', `the block has no transaction at index ${index}`);
  if (!equal(proven, stated.value)) throw new ProofError('evidence.transaction.value', 'is not the transaction the proof proves at that index');
  const digest = keccak_256(proven);
  if (!equal(digest, txHash)) {
    throw new ProofError('evidence.transaction.value', `transaction ${index} of the block hashes to 0x${hex(digest)}, not the bundle's 0x${hex(txHash)}`);
  }
  const to = transactionTo(proven);
  if ('0x' + hex(to) !== registry.toLowerCase()) {
    const shown = to.length === 20 ? toChecksumAddress('0x' + hex(to)) : 'nobody (a contract creation)';
    throw new ProofError('evidence.transaction.value', `was sent to ${shown}, not the registry ${registry}`);
  }
}
/** storage.slots[0x…] → state.slots[i].proof: name the bundle's field. */
function slotIndex(e, evidence) {
  for (const [position, entry] of evidence.state.slots.entries()) {
    const named = `storage.slots[0x${entry.slot.toString(16)}]`;
    if (e.field.startsWith(named)) return new ProofError(`state.slots[${position}].proof${e.field.slice(named.length)}`, e.problem);
  }
  if (e.field.startsWith('storage.account_proof')) return new ProofError(`state.account_proof${e.field.slice('storage.account_proof'.length)}`, e.problem);
  return e;
}
/** The node record and the anchor record, proven at `state.block_number`'s state root. */
export function proveState(evidence, headers, registry, node, root) {
  const state = evidence.state;
  const header = headers.find((h) => h.number === state.block_number);
  if (!header) throw new ProofError('evidence.state.block_number', `block ${state.block_number} is not among the evidence's headers`);
  let words;
  try {
    words = provenWords(header.stateRoot, registry, state.account_proof, state.slots.map((s) => [s.slot, s.proof]));
  } catch (e) {
    if (e instanceof ProofError) throw prefixed(slotIndex(e, evidence));
    throw e;
  }
  state.slots.forEach((entry, position) => {
    if (words.get(entry.slot) !== entry.value) throw new ProofError(`evidence.state.slots[${position}].value`, 'is not the value its proof proves');
  });
  const record = rethrowPrefixed(() => decodeNode(node, words));
  const slot = anchorSlot(node, root);
  if (!words.has(slot)) throw new ProofError('evidence.state.slots', "the anchor record's slot is not proven");
  return { header, node: record, anchor: decodeAnchor(words.get(slot)) };
}
export function proveFinality(headers, history, blockHash) {
  return rethrowPrefixed(() => verifyFinality(headers, history, blockHash));
}
