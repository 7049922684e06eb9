/** Checks 6-11 decided from a version-3 bundle's chain evidence and the trust root, with no
 * network (verifier/rules/evidence.py, PROTOCOL 10.2): the same steps, outcomes, `as_of` marks
 * and detail texts. Never throws for bad evidence: a ProofError fails the check it attacks. */
import { hex } from './bytes.js';
import { ProofError } from './errors.js';
import {
  anchorHeader, decodeHeaders, proveFinality, proveHeadAnchored, proveReceipt, proveState, proveTransaction,
} from './proofs.js';
import { CLOCK_SKEW_SECONDS, NODE_STATUS } from './protocol.gen.js';
import { anchorSlot } from './storage.js';
import { formatTime, pad6 } from './time.js';
import { TimestampProblem, verifyHeadTimestamp } from './timestamp.js';
import { FAILED, PASSED, SKIPPED, check } from './verdict.js';

export const EVIDENCE_CHECKS = ['head_anchored', 'anchor_transaction', 'head_not_withdrawn', 'node_authorised', 'finality', 'anchor_time'];

const failed = (name, e) => check(name, FAILED, `the chain evidence does not hold: ${e.field}: ${e.problem}`);
function attempt(fn) {
  try {
    return [fn(), null];
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    return [null, e];
  }
}

/** {checks, facts} from `evidence` against `trustRoot` (its signer history and TSAs); `now` in Unix seconds. */
export async function evidenceChecks(evidence, head, anchor, { lgCode, notAfter, trustRoot, now }) {
  const checks = {};
  const [decoded, headerError] = attempt(() => {
    const headers = decodeHeaders(evidence);
    return [headers, anchorHeader(headers, anchor.block_number, anchor.block_hash)];
  });
  if (headerError) {
    const name = headerError.field.startsWith('evidence.headers[0]') ? 'anchor_transaction' : 'finality';
    checks[name] = failed(name, headerError);
    const reason = `the evidence's headers do not hold (see ${name})`;
    for (const other of EVIDENCE_CHECKS) if (!checks[other]) checks[other] = check(other, SKIPPED, reason);
    return { checks, facts: null };
  }
  const [headers, first] = decoded;

  const [log, receiptError] = attempt(() => proveHeadAnchored(proveReceipt(evidence, first), anchor.registry, anchor.node, head.seq, head.tree_size, head.root));
  checks.head_anchored = receiptError ? failed('head_anchored', receiptError) : check('head_anchored', PASSED,
    `receipt ${evidence.receipt.index} of block ${first.number}, proven under its receiptsRoot, logs HeadAnchored for seq ${head.seq} over ${head.tree_size} leaves of node ${anchor.node}`);

  const [state, stateError] = attempt(() => proveState(evidence, headers, anchor.registry, anchor.node, head.root));
  checks.anchor_transaction = transactionCheck(evidence, first, anchor, state);
  [checks.head_not_withdrawn, checks.node_authorised] = stateChecks(evidence, state, stateError, head, anchor, lgCode, log);
  const [finality, finalityError] = attempt(() => proveFinality(headers, trustRoot.history, anchor.block_hash));
  checks.finality = finalityError ? failed('finality', finalityError) : check('finality', PASSED,
    `${finality.distinct} distinct signers of the trust root sealed the ${headers.length - 1} block(s) on top of block ${first.number}; ${finality.required} needed (⌊N/2⌋+1)`);
  const [anchorTimeCheck, stamped] = await anchorTime(evidence, first, state, notAfter, trustRoot, now, head, anchor);
  checks.anchor_time = anchorTimeCheck;
  const facts = {
    anchored_at: Number(first.timestamp),
    as_of_block: state ? state.header.number : null,
    as_of_time: state ? Number(state.header.timestamp) : null,
    confirmations: headers.length - 1,
    timestamped_at: stamped,
    timestamp_present: evidence.timestamp !== null,
    timestamp_status: anchorTimeCheck.tsa || null,
    node: state ? state.node : null,
  };
  return { checks, facts };
}

function transactionCheck(evidence, first, anchor, state) {
  const [, error] = attempt(() => proveTransaction(evidence, first, anchor.tx_hash, anchor.registry));
  if (error) return failed('anchor_transaction', error);
  const record = state ? state.anchor : null;
  if (record && record.block_number !== anchor.block_number) {
    return check('anchor_transaction', FAILED, `the registry's proven anchor record names block ${record.block_number}, not ${anchor.block_number}`);
  }
  return check('anchor_transaction', PASSED,
    `transaction 0x${hex(anchor.tx_hash)}, proven at index ${evidence.receipt.index} of block ${first.number} (0x${hex(anchor.block_hash).slice(0, 16)}…), was sent to the registry`);
}

function slotOf(evidence, error) {
  for (const [position, entry] of evidence.state.slots.entries()) {
    if (error.field.startsWith(`evidence.state.slots[${position}]`)) return entry.slot;
  }
  return null;
}
function stateChecks(evidence, state, error, head, anchor, lgCode, log) {
  if (!state) {
    const culprit = slotOf(evidence, error);
    const anchorRecord = anchorSlot(anchor.node, head.root);
    const both = culprit === null;
    const reason = "the registry's storage evidence does not hold";
    return [
      both || culprit === anchorRecord ? failed('head_not_withdrawn', error) : check('head_not_withdrawn', SKIPPED, reason),
      both || culprit !== anchorRecord ? failed('node_authorised', error) : check('node_authorised', SKIPPED, reason),
    ];
  }
  const block = state.header.number;
  return [withdrawal(state, head, block, formatTime(state.header.timestamp)), nodeCheck(state, anchor, lgCode, log, block)];
}
function withdrawal(state, head, block, when) {
  const record = state.anchor;
  if (!record) return check('head_not_withdrawn', FAILED, `the registry's storage at block ${block} proves no anchor of this root by this node`);
  if (record.seq !== head.seq || record.tree_size !== head.tree_size) {
    return check('head_not_withdrawn', FAILED, `the proven anchor record is seq ${record.seq} over ${record.tree_size} leaves, not seq ${head.seq} over ${head.tree_size}`);
  }
  if (record.withdrawn) return check('head_not_withdrawn', FAILED, `governance had withdrawn this head by block ${block}: proofs against it are void`);
  return check('head_not_withdrawn', PASSED,
    `not withdrawn as of block ${block} (${when}), by the registry's proven storage; a withdrawal after that is not known offline`, false, { as_of: true });
}
function nodeCheck(state, anchor, lgCode, log, block) {
  const node = state.node;
  const problems = [];
  if (node.status !== 1) problems.push(`the node was ${NODE_STATUS[node.status]} at block ${block}`);
  if (node.lg_code !== anchor.lg_code) problems.push(`the node is registered for municipality ${pad6(node.lg_code)}, the bundle says ${pad6(anchor.lg_code)}`);
  if (lgCode !== node.lg_code) problems.push(`the document names municipality ${pad6(lgCode)} but its node serves ${pad6(node.lg_code)}`);
  if (log && log.lg_code !== node.lg_code) problems.push('the HeadAnchored log names another municipality code');
  if (problems.length) return check('node_authorised', FAILED, problems.join('; '));
  return check('node_authorised', PASSED,
    `node ${anchor.node} is registered for municipality ${pad6(node.lg_code)} and active at block ${block}, by the registry's proven storage`);
}
async function anchorTime(evidence, first, state, notAfter, trustRoot, now, head, anchor) {
  const anchored = Number(first.timestamp);
  const record = state ? state.anchor : null;
  if (record && Number(record.timestamp) !== anchored) {
    return [check('anchor_time', FAILED, `the registry recorded time ${formatTime(record.timestamp)} but the anchor header says ${formatTime(anchored)}`), null];
  }
  if (anchored > now + CLOCK_SKEW_SECONDS) return [check('anchor_time', FAILED, `the anchor block's time ${formatTime(anchored)} is in the future`), null];
  for (const [what, seconds] of notAfter) {
    if (seconds > anchored + CLOCK_SKEW_SECONDS) {
      return [check('anchor_time', FAILED, `the entry's ${what} ${formatTime(seconds)} is after the anchor time ${formatTime(anchored)}: an anchor cannot precede what it proves`), null];
    }
  }
  let detail = `anchored at ${formatTime(anchored)} (the anchor header's time), block ${first.number}`;
  if (evidence.timestamp === null) return [check('anchor_time', PASSED, detail, false, { tsa: 'none' }), null];
  if (!trustRoot.tsaAnchors.length) {
    detail += '; a TSA token is present, not checked: the trust root names no TSA';
    return [check('anchor_time', PASSED, detail, false, { tsa: 'not_checked' }), null];
  }
  // The token over the head, against the trust root's TSAs (verifier/timestamp.py): the node
  // is the key that anchored, as the registry's HeadAnchored log says.
  let stamp;
  try {
    stamp = await verifyHeadTimestamp(evidence.timestamp, {
      chainId: anchor.chain_id, registry: anchor.registry, node: anchor.node, seq: head.seq, treeSize: head.tree_size, root: head.root,
    }, trustRoot.tsaAnchors);
  } catch (e) {
    if (!(e instanceof TimestampProblem)) throw e;
    return [check('anchor_time', FAILED, `the chain evidence does not hold: evidence.timestamp: ${e.message}`, false, { tsa: 'failed' }), null];
  }
  detail += `; timestamped at ${formatTime(stamp.genTime)} by ${stamp.tsa} (RFC 3161, a TSA of the trust root)`;
  return [check('anchor_time', PASSED, detail, false, { tsa: 'verified' }), stamp.genTime];
}
