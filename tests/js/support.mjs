// Shared by the page's unit tests: the repository's vector folders (the same files the Python
// tests read) and stand-ins for the chain and the issuing node (tests/vectors/standins.py).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keccak_256 } from '@noble/hashes/sha3.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SRC = join(REPO, 'verifier', 'web', 'src');
export const VECTORS = join(REPO, 'tests', 'vectors');
// As tests/test_merkle_conformance.py: $NOTARY_CONFORMANCE_DIR, else ../shared beside the checkout.
export const CONFORMANCE = process.env.NOTARY_CONFORMANCE_DIR || join(REPO, '..', 'shared', 'conformance', 'rfc6962');

export const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
export const readBytes = (path) => new Uint8Array(readFileSync(path));
export const fromHex = (text) => new Uint8Array(Buffer.from(text.replace(/^0x/, ''), 'hex'));
export const toHex = (bytes) => Buffer.from(bytes).toString('hex');
export const fromB64 = (text) => new Uint8Array(Buffer.from(text, 'base64'));
export const vectorsPresent = () => existsSync(CONFORMANCE);

export const HEAD_ANCHORED = 'HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)';
export const keccakHex = (text) => '0x' + toHex(keccak_256(new TextEncoder().encode(text)));

/** A 32-byte ABI word of an integer, a hex string or an address. */
export function word(value) {
  if (typeof value === 'string') return value.replace(/^0x/, '').toLowerCase().padStart(64, '0');
  return BigInt(value).toString(16).padStart(64, '0');
}

/** eth_getTransactionReceipt's answer for a chain.json transaction, as the Python stand-in serves it. */
export function receiptOf(tx) {
  return {
    blockNumber: '0x' + tx.block_number.toString(16),
    blockHash: tx.block_hash,
    status: '0x' + tx.status.toString(16),
    to: tx.to,
    logs: tx.head_anchored.map((log) => ({
      address: tx.to,
      topics: [keccakHex(HEAD_ANCHORED), ...['node', 'lg_code', 'seq'].map((k) => '0x' + word(log[k]))],
      data: '0x' + word(log.tree_size) + word(log.root) + word(log.previous_tree_size) + word(0),
    })),
  };
}

/** JSON-RPC answers from chain.json (tests/vectors/standins.py _RecordedRpc.answer). */
export function chainAnswer(chain, method, params) {
  switch (method) {
    case 'eth_chainId': return '0x' + chain.chain_id.toString(16);
    case 'eth_blockNumber': return '0x' + chain.latest_block.toString(16);
    case 'eth_call': {
      const data = params[0].data.slice(2);
      const selector = data.slice(0, 8), node = '0x' + data.slice(8 + 24, 8 + 64);
      if (selector === 'fdd436c0') {
        const found = chain.anchors.find((a) => a.root === data.slice(72, 136));
        if (!found) return '0x' + '00'.repeat(32 * 6);
        return '0x' + ['node', 'seq', 'tree_size', 'block_number', 'timestamp', 'withdrawn'].map((f) => word(f === 'node' ? found.node : Number(found[f]))).join('');
      }
      const known = chain.nodes.find((n) => n.address.toLowerCase() === node);
      const status = ['UNREGISTERED', 'ACTIVE', 'SUSPENDED', 'RETIRED'].indexOf(known ? known.status : 'UNREGISTERED');
      return '0x' + [32, known ? known.lg_code : 0, status, 0, 0, 0, 7 * 32, 0].map(word).join('');
    }
    case 'eth_getTransactionReceipt': {
      const tx = chain.transactions.find((t) => t.tx_hash === params[0]);
      return tx ? receiptOf(tx) : null;
    }
    case 'eth_getBlockByNumber': {
      const block = chain.blocks.find((b) => '0x' + b.number.toString(16) === params[0]);
      return block ? { hash: block.hash, timestamp: '0x' + block.timestamp.toString(16) } : null;
    }
    default: throw new Error(`the method ${method} does not exist`);
  }
}

/** A fetch for the page's code: the chain at `rpcUrl`, a node without revocations at `nodeUrl`. */
export function standInFetch(chain, rpcUrl, nodeUrl, requests = []) {
  return async (url, init = {}) => {
    requests.push(url);
    if (url === rpcUrl) {
      const request = JSON.parse(init.body);
      let answer;
      try { answer = { result: chainAnswer(chain, request.method, request.params) }; } catch (e) { answer = { error: { code: -32601, message: e.message } }; }
      return new Response(JSON.stringify({ jsonrpc: '2.0', id: request.id, ...answer }));
    }
    const m = url.startsWith(nodeUrl) && /\/v1\/revocations\/([0-9a-f]{1,4})$/.exec(url);
    if (m) return new Response(JSON.stringify({ prefix: m[1], revocations: [] }));
    return new Response('not found', { status: 404 });
  };
}
