/** Receipts and transactions as a block commits to them (protocol/receipts.py and
 * protocol/evidence_proofs.transaction_to): the consensus encodings, their proofs under the
 * header's receiptsRoot and transactionsRoot (key rlp(index)), and the registry's HeadAnchored logs. */
import { bigFromBytes, equal, fromHex, hex } from './bytes.js';
import { toChecksumAddress } from './eip55.js';
import { ProofError } from './errors.js';
import { MptProofError, verifyProof } from './mpt.js';
import { RECEIPT_TYPES, TOPIC_HEAD_ANCHORED, TX_TO_POSITION } from './protocol.gen.js';
import { RlpError, decode, encode, intBytes, isBytes } from './rlp.js';

const TOPIC = fromHex(TOPIC_HEAD_ANCHORED.slice(2));

/** The receipts and transactions tries' key of the `index`-th transaction: rlp(index). */
export const receiptKey = (index) => encode(intBytes(index));

function typed(raw, field) {
  if (!raw.length) throw new ProofError(field, 'empty');
  return raw[0] >= 0xc0 ? [0, raw] : [raw[0], raw.subarray(1)];
}
function rlpOf(payload, field) {
  try {
    return decode(payload);
  } catch (e) {
    if (!(e instanceof RlpError)) throw e;
    throw new ProofError(field, `not RLP: ${e.message}`);
  }
}
/** decode_receipt: {type, succeeded, logs: [{address, topics, data}]}. */
export function decodeReceipt(raw, field = 'receipt') {
  const [kind, payload] = typed(raw, field);
  const items = rlpOf(payload, field);
  if (!Array.isArray(items) || items.length !== 4) throw new ProofError(field, 'not a list of status, gas, bloom and logs');
  const [outcome, gas, bloom, logs] = items;
  if (!isBytes(outcome) || (outcome.length > 1 && outcome.length !== 32) || (outcome.length === 1 && outcome[0] !== 1)) {
    throw new ProofError(`${field}.status`, 'neither a status nor a state root');
  }
  if (!isBytes(gas) || gas[0] === 0 || !isBytes(bloom)) throw new ProofError(`${field}.cumulativeGasUsed`, 'not a canonical integer');
  if (!Array.isArray(logs)) throw new ProofError(`${field}.logs`, 'not a list');
  const decoded = logs.map((log, i) => {
    const at = `${field}.logs[${i}]`;
    if (!Array.isArray(log) || log.length !== 3) throw new ProofError(at, 'not a list of address, topics and data');
    const [address, topics, data] = log;
    if (!isBytes(address) || !isBytes(data)) throw new ProofError(at, 'address and data must be bytes');
    if (!Array.isArray(topics) || !topics.every(isBytes)) throw new ProofError(`${at}.topics`, 'not a list of topics');
    return { address, topics, data };
  });
  // Receipt.__post_init__
  if (!RECEIPT_TYPES.includes(kind)) throw new ProofError('receipt.type', `unknown receipt type ${kind}`);
  if (bloom.length !== 256) throw new ProofError('receipt.logsBloom', `${bloom.length} bytes, not 256`);
  decoded.forEach((log, i) => {
    if (log.address.length !== 20) throw new ProofError(`receipt.logs[${i}].address`, 'not 20 bytes');
    if (log.topics.length > 4 || log.topics.some((t) => t.length !== 32)) throw new ProofError(`receipt.logs[${i}].topics`, '0 to 4 topics of 32 bytes');
  });
  return { type: kind, succeeded: outcome.length === 1, logs: decoded };
}
/** verify_receipt_proof: the `index`-th receipt under `receiptsRoot`. */
export function verifyReceiptProof(receiptsRoot, index, proof) {
  let raw;
  try {
    raw = verifyProof(receiptsRoot, receiptKey(index), proof);
  } catch (e) {
    if (!(e instanceof MptProofError)) throw e;
    throw new ProofError(e.index === null ? 'receipt.proof' : `receipt.proof[${e.index}]`, e.problem);
  }
  if (raw === null) throw new ProofError('receipt.index', `the block has no receipt at index ${index}`);
  return { receipt: decodeReceipt(raw), raw };
}
/** Every HeadAnchored log `registry` emitted in the receipt (none for a failed transaction). */
export function headAnchoredLogs(receipt, registry) {
  if (!receipt.succeeded) return [];
  const out = [];
  for (const log of receipt.logs) {
    if ('0x' + hex(log.address) !== registry.toLowerCase() || log.topics.length !== 4 || !equal(log.topics[0], TOPIC) || log.data.length !== 128) continue;
    out.push({
      node: toChecksumAddress('0x' + hex(log.topics[1].subarray(12))), lg_code: Number(bigFromBytes(log.topics[2])),
      seq: bigFromBytes(log.topics[3]), tree_size: bigFromBytes(log.data.subarray(0, 32)), root: log.data.subarray(32, 64),
    });
  }
  return out;
}
/** The `to` of a transaction's consensus encoding (empty for a contract creation). */
export function transactionTo(raw) {
  const field = 'evidence.transaction.value';
  const [kind, payload] = typed(raw, field);
  if (kind >= TX_TO_POSITION.length) throw new ProofError(field, `unknown transaction type ${kind}`);
  const items = rlpOf(payload, field);
  const position = TX_TO_POSITION[kind];
  if (!Array.isArray(items) || items.length <= position) throw new ProofError(field, 'not a transaction');
  const to = items[position];
  if (!isBytes(to) || (to.length !== 0 && to.length !== 20)) throw new ProofError(field, 'its `to` is not an address');
  return to;
}
