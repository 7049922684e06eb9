/** The checks that judge the chain's facts (verifier/verify.py): each returns one check. */
import { equal, hex } from './bytes.js';
import { rootFromInclusion } from './rfc6962.js';
import { pad6 } from './time.js';
import { DOCUMENT_TYPES, NODE_STATUS, REVOCATION_REASONS } from './protocol.gen.js';
import { FAILED, PASSED, SKIPPED, UNKNOWN, check } from './verdict.js';

export async function merkleCheck(leafHash, inclusion, head) {
  if (inclusion.tree_size !== head.tree_size) {
    return check('merkle_inclusion', FAILED, `the inclusion proof is for a tree of ${inclusion.tree_size} leaves but the head has ${head.tree_size}`);
  }
  let root;
  try {
    root = await rootFromInclusion(leafHash, inclusion.leaf_index, inclusion.tree_size, inclusion.path);
  } catch (e) {
    return check('merkle_inclusion', FAILED, e.message);
  }
  if (!equal(root, head.root)) {
    return check('merkle_inclusion', FAILED, `inclusion proof for leaf ${inclusion.leaf_index} in a tree of size ${inclusion.tree_size} leads to root ${hex(root)}, not the expected ${hex(head.root)}: the leaf, index, size, proof or root is wrong`);
  }
  return check('merkle_inclusion', PASSED, `leaf ${inclusion.leaf_index} of ${inclusion.tree_size} leads to root ${hex(head.root)} (head seq ${head.seq})`);
}
export function headAnchored(facts, head, anchor) {
  const record = facts.record;
  if (!record) return check('head_anchored', FAILED, `root ${hex(head.root)} was never anchored in registry ${anchor.registry} on chain ${facts.chain_id}`);
  const problems = [];
  if (record.node.toLowerCase() !== anchor.node.toLowerCase()) problems.push(`it was anchored by node ${record.node}, not by ${anchor.node}`);
  if (record.seq !== head.seq) problems.push(`as head seq ${record.seq}, not ${head.seq}`);
  if (record.tree_size !== head.tree_size) problems.push(`over ${record.tree_size} leaves, not ${head.tree_size}`);
  if (problems.length) return check('head_anchored', FAILED, "the registry's record of this root contradicts the bundle: " + problems.join('; '));
  return check('head_anchored', PASSED, `registry ${anchor.registry} records root ${hex(head.root).slice(0, 16)}… as head seq ${record.seq} over ${record.tree_size} leaves of node ${record.node}`);
}
export function anchorTransaction(facts, head, anchor, registry) {
  const tx = facts.transaction;
  const txHex = '0x' + hex(anchor.tx_hash);
  const failed = (detail) => check('anchor_transaction', FAILED, detail);
  if (!tx) return failed(`transaction ${txHex} does not exist on chain ${facts.chain_id}`);
  if (!tx.succeeded) return failed(`transaction ${txHex} reverted: it anchored nothing`);
  if (!tx.to || tx.to.toLowerCase() !== registry.toLowerCase()) return failed(`transaction ${txHex} was not sent to the registry ${registry}`);
  if (tx.block_number !== anchor.block_number) return failed(`transaction ${txHex} is in block ${tx.block_number}, not block ${anchor.block_number}`);
  if (!equal(tx.block_hash, anchor.block_hash)) return failed(`block ${tx.block_number} holding the transaction has hash 0x${hex(tx.block_hash)}, not 0x${hex(anchor.block_hash)}`);
  if (!facts.canonical_block_hash || !equal(facts.canonical_block_hash, anchor.block_hash)) {
    return failed(`block 0x${hex(anchor.block_hash)} is not the chain's block ${anchor.block_number} (reorganised away, or the endpoint is inconsistent)`);
  }
  if (facts.record && facts.record.block_number !== anchor.block_number) return failed(`the registry recorded the anchor in block ${facts.record.block_number}, not ${anchor.block_number}`);
  const matching = tx.head_anchored.filter((log) => log.node.toLowerCase() === anchor.node.toLowerCase() && log.seq === head.seq && log.tree_size === head.tree_size && equal(log.root, head.root));
  if (!matching.length) return failed(`transaction ${txHex} emitted no HeadAnchored event for node ${anchor.node}, seq ${head.seq}, size ${head.tree_size} and this root`);
  return check('anchor_transaction', PASSED, `transaction ${txHex} in block ${anchor.block_number} (0x${hex(anchor.block_hash).slice(0, 16)}…) emitted HeadAnchored for this head`);
}
export function notWithdrawn(facts) {
  if (!facts.record) return check('head_not_withdrawn', SKIPPED, 'the root is not anchored');
  if (facts.record.withdrawn) return check('head_not_withdrawn', FAILED, 'governance withdrew this head (e.g. after a node key compromise): proofs against it are void');
  return check('head_not_withdrawn', PASSED, 'the head has not been withdrawn');
}
export function nodeAuthorised(facts, anchor, lgCodeValue) {
  const node = facts.node, block = facts.node_block;
  if (!node) return check('node_authorised', FAILED, `block ${block} does not exist on this chain yet`);
  if (node.status === 0) return check('node_authorised', FAILED, `${anchor.node} was not a registered node at block ${block}`);
  const problems = [];
  if (node.lg_code !== anchor.lg_code) problems.push(`the node was registered for municipality ${pad6(node.lg_code)}, the bundle says ${pad6(anchor.lg_code)}`);
  if (lgCodeValue !== node.lg_code) problems.push(`the document names municipality ${pad6(lgCodeValue)} but its node serves ${pad6(node.lg_code)}`);
  const logs = facts.transaction ? facts.transaction.head_anchored : [];
  if (logs.some((log) => log.node.toLowerCase() === anchor.node.toLowerCase() && log.lg_code !== node.lg_code)) problems.push('the HeadAnchored event names another municipality code');
  if (node.status !== 1) problems.push(`the node was ${NODE_STATUS[node.status] || 'in status ' + node.status} at block ${block}`);
  if (problems.length) return check('node_authorised', FAILED, problems.join('; '));
  return check('node_authorised', PASSED, `node ${anchor.node} was registered for municipality ${pad6(node.lg_code)} and active at the anchor block ${block}`);
}
export function finality(facts, anchor) {
  const depth = facts.latest_block - anchor.block_number;
  const needed = facts.finality_depth;
  if (depth < needed) {
    return check('finality', UNKNOWN, `block ${anchor.block_number} has ${depth} of the ${needed} blocks on top that make it final (${facts.finality_source}); verify again in a few blocks`, true);
  }
  return check('finality', PASSED, `${depth} blocks on top of block ${anchor.block_number}; ${needed} needed (${facts.finality_source})`);
}
export function revocationReasonLabel(code) { return REVOCATION_REASONS[code] || `unregistered reason ${code}`; }
export function documentTypeLabel(code) {
  if (DOCUMENT_TYPES[code]) return DOCUMENT_TYPES[code];
  return code >= 0x8000 && code <= 0xfffe ? `municipality-defined type ${code}` : `unregistered type ${code}`;
}
