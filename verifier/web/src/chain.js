/** The chain, read over JSON-RPC with fetch (verifier/chain.py RpcChainReader): the anchor
 * record, the anchoring transaction and its HeadAnchored event, the canonical block, the node's
 * registration at the anchor block, and the finality depth (Clique: floor(N/2)+1). */
import { bigFromBytes, fromHex, hex } from './bytes.js';
import { toChecksumAddress } from './eip55.js';
import { EvidenceError, RpcError, WrongChainError } from './errors.js';
import {
  DEFAULT_FINALITY_DEPTH, RPC_TIMEOUT_MS, SELECTOR_GET_ANCHOR, SELECTOR_GET_NODE, TOPIC_HEAD_ANCHORED,
} from './protocol.gen.js';

const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

let rpcId = 0;
async function rpc(url, method, params) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), RPC_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
      signal: controller.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new EvidenceError(e.name === 'AbortError' ? `no answer within ${RPC_TIMEOUT_MS / 1000} s` : 'cannot connect (network error, or the endpoint refuses this page: CORS)');
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) throw new EvidenceError(`answered HTTP ${response.status}`);
  let body;
  try { body = await response.json(); } catch (e) { throw new EvidenceError('answered something that is not JSON'); }
  if (body && body.error) throw new RpcError(`${method}: ${String(body.error.message || body.error.code).slice(0, 200)}`);
  if (!body || !has(body, 'result')) throw new EvidenceError(`${method}: no result`);
  return body.result;
}
function quantity(v, what) {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]+$/.test(v)) throw new EvidenceError(`${what} is not a hex quantity`);
  return BigInt(v);
}
function hexData(v, what) {
  if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(v)) throw new EvidenceError(`${what} is not hex data`);
  return fromHex(v.slice(2));
}
const word = (data, n) => data.subarray(32 * n, 32 * n + 32);
const wordInt = (data, n) => bigFromBytes(word(data, n));
const wordAddress = (data, n) => toChecksumAddress('0x' + hex(word(data, n).subarray(12)));
const blockTag = (n) => '0x' + n.toString(16);
const padAddress = (a) => a.slice(2).toLowerCase().padStart(64, '0');

async function ethCall(url, registry, data, block) {
  const result = hexData(await rpc(url, 'eth_call', [{ to: registry, data }, blockTag(block)]), 'eth_call result');
  if (!result.length) throw new EvidenceError(`the registry ${registry} has no code at block ${block} (wrong registry address?)`);
  return result;
}
/** getAnchor's six words: node, seq, treeSize, blockNumber, timestamp, withdrawn (null: none). */
export function decodeAnchor(out) {
  if (out.length < 6 * 32) throw new EvidenceError('getAnchor returned too little data');
  if (wordInt(out, 0) === 0n) return null;
  return {
    node: wordAddress(out, 0), seq: wordInt(out, 1), tree_size: wordInt(out, 2),
    block_number: wordInt(out, 3), timestamp: Number(wordInt(out, 4)), withdrawn: wordInt(out, 5) !== 0n,
  };
}
async function getAnchor(url, registry, node, root, block) {
  return decodeAnchor(await ethCall(url, registry, SELECTOR_GET_ANCHOR + padAddress(node) + hex(root), block));
}
async function getNode(url, registry, node, block) {
  const out = await ethCall(url, registry, SELECTOR_GET_NODE + padAddress(node), block);
  // A struct with a string is returned behind an offset: (offset)(lgCode, status, nextSeq,
  // treeSize, successor, root, name offset)...(name length)(name bytes).
  const base = Number(wordInt(out, 0));
  if (base % 32 || out.length < base + 7 * 32) throw new EvidenceError('getNode returned malformed data');
  const tuple = out.subarray(base);
  let name = '';
  const nameAt = Number(wordInt(tuple, 6));
  if (nameAt % 32 === 0 && tuple.length >= nameAt + 32) {
    const length = Number(wordInt(tuple, nameAt / 32));
    if (tuple.length >= nameAt + 32 + length) name = new TextDecoder().decode(tuple.subarray(nameAt + 32, nameAt + 32 + length));
  }
  return { lg_code: Number(wordInt(tuple, 0)), status: Number(wordInt(tuple, 1)), name };
}
/** The HeadAnchored events `registry` emitted, from a receipt's logs (others are skipped). */
export function decodeHeadAnchored(logs, registry) {
  const out = [];
  for (const log of logs || []) {
    const topics = (log.topics || []).map((t) => hexData(t, 'log topic'));
    if (!log.address || log.address.toLowerCase() !== registry.toLowerCase() || topics.length !== 4 || '0x' + hex(topics[0]) !== TOPIC_HEAD_ANCHORED) continue;
    const data = hexData(log.data, 'log data');
    if (data.length !== 4 * 32) continue;
    out.push({
      node: toChecksumAddress('0x' + hex(topics[1].subarray(12))), lg_code: Number(bigFromBytes(topics[2])),
      seq: bigFromBytes(topics[3]), tree_size: wordInt(data, 0), root: word(data, 1).slice(),
    });
  }
  return out;
}
/** The facts of eth_getTransactionReceipt's answer the anchor check uses. */
export function decodeReceipt(receipt, registry) {
  if (receipt === null) return null;
  return {
    block_number: quantity(receipt.blockNumber, 'receipt blockNumber'), block_hash: hexData(receipt.blockHash, 'receipt blockHash'),
    succeeded: receipt.status !== undefined && receipt.status !== null && quantity(receipt.status, 'receipt status') === 1n,
    to: receipt.to ? toChecksumAddress(receipt.to) : null, head_anchored: decodeHeadAnchored(receipt.logs, registry),
  };
}
async function readTransaction(url, registry, txHash) {
  return decodeReceipt(await rpc(url, 'eth_getTransactionReceipt', ['0x' + hex(txHash)]), registry);
}
const finalityCache = new Map();
async function finalityDepth(url, configured) {
  if (configured !== null) return [configured, 'set by the policy'];
  if (finalityCache.has(url)) return finalityCache.get(url);
  let found;
  try {
    const signers = await rpc(url, 'clique_getSigners', []);
    found = Array.isArray(signers) && signers.length
      ? [Math.floor(signers.length / 2) + 1, `floor(${signers.length}/2)+1 for ${signers.length} Clique signers`]
      : null;
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    found = null;
  }
  found = found || [DEFAULT_FINALITY_DEPTH, "default; the chain does not report its signers (clique_getSigners)"];
  finalityCache.set(url, found);
  return found;
}
async function readFrom(url, policy, head, anchor) {
  const chainId = quantity(await rpc(url, 'eth_chainId', []), 'eth_chainId');
  if (chainId !== policy.chainId) throw new WrongChainError(`${url} serves chain id ${chainId}, but the policy trusts chain id ${policy.chainId} only`);
  const latest = quantity(await rpc(url, 'eth_blockNumber', []), 'eth_blockNumber');
  const record = await getAnchor(url, policy.registry, anchor.node, head.root, latest);
  const transaction = await readTransaction(url, policy.registry, anchor.tx_hash);
  let canonicalHash = null, blockTimestamp = null;
  if (anchor.block_number <= latest) {
    const block = await rpc(url, 'eth_getBlockByNumber', [blockTag(anchor.block_number), false]);
    if (block) { canonicalHash = hexData(block.hash, 'block hash'); blockTimestamp = Number(quantity(block.timestamp, 'block timestamp')); }
  }
  const nodeBlock = record ? record.block_number : anchor.block_number;
  const node = nodeBlock <= latest ? await getNode(url, policy.registry, anchor.node, nodeBlock) : null;
  const [depth, source] = await finalityDepth(url, policy.finalityDepth);
  return {
    endpoint: url, chain_id: chainId, latest_block: latest, finality_depth: BigInt(depth), finality_source: source,
    record, transaction, canonical_block_hash: canonicalHash, block_timestamp: blockTimestamp, node, node_block: nodeBlock,
  };
}
export async function readChain(policy, head, anchor) {
  if (!policy.rpcUrls.length) throw new EvidenceError('no JSON-RPC endpoint is configured, so the anchor cannot be looked up');
  const problems = [];
  for (const url of policy.rpcUrls) {
    try {
      return await readFrom(url, policy, head, anchor);
    } catch (e) {
      // A malformed answer is no evidence either (verifier/chain.py _EVIDENCE_ERRORS).
      if (!(e instanceof EvidenceError || e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError)) throw e;
      problems.push(e instanceof WrongChainError ? e.message : `${url}: ${e.message}`);
    }
  }
  throw new EvidenceError(`no JSON-RPC endpoint could be read (${problems.join('; ')})`);
}
