// Reading the chain: the HeadAnchored events of the vector transactions (tests/vectors/chain.json,
// encoded as the Python stand-in serves them), getAnchor's words, and the generated ABI facts
// against Keccak-256 of their signatures.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { HEAD_ANCHORED, VECTORS, chainAnswer, fromHex, keccakHex, readJson, receiptOf, toHex, word } from './support.mjs';
import { decodeAnchor, decodeHeadAnchored, decodeReceipt } from '../../verifier/web/src/chain.js';
import { toChecksumAddress } from '../../verifier/web/src/eip55.js';
import * as P from '../../verifier/web/src/protocol.gen.js';

const CHAIN = readJson(join(VECTORS, 'chain.json'));

test('selectors and the event topic are Keccak-256 of the signatures', () => {
  assert.equal(P.HEAD_ANCHORED_SIGNATURE, HEAD_ANCHORED);
  assert.equal(P.TOPIC_HEAD_ANCHORED, keccakHex(P.HEAD_ANCHORED_SIGNATURE));
  assert.equal(P.SELECTOR_GET_ANCHOR, keccakHex(P.GET_ANCHOR_SIGNATURE).slice(0, 10));
  assert.equal(P.SELECTOR_GET_NODE, keccakHex(P.GET_NODE_SIGNATURE).slice(0, 10));
});

test('EIP-55 checksums (the registry and node of the vectors)', () => {
  for (const address of [CHAIN.registry, ...CHAIN.nodes.map((n) => n.address)]) {
    assert.equal(toChecksumAddress(address.toLowerCase()), address);
  }
  assert.equal(toChecksumAddress('0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359'), '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359'); // EIP-55's own example
});

test('every HeadAnchored event of the vector transactions decodes to what chain.json says', () => {
  let events = 0;
  for (const tx of CHAIN.transactions) {
    const decoded = decodeReceipt(receiptOf(tx), CHAIN.registry);
    assert.equal(decoded.block_number, BigInt(tx.block_number));
    assert.equal(decoded.succeeded, tx.status === 1);
    assert.equal(decoded.to, tx.to);
    assert.equal(decoded.head_anchored.length, tx.head_anchored.length);
    decoded.head_anchored.forEach((log, i) => {
      const want = tx.head_anchored[i];
      assert.deepEqual(
        { node: log.node, lg_code: log.lg_code, seq: log.seq, tree_size: log.tree_size, root: toHex(log.root) },
        { node: want.node, lg_code: want.lg_code, seq: BigInt(want.seq), tree_size: BigInt(want.tree_size), root: want.root },
      );
      events++;
    });
  }
  assert.ok(events >= 2, 'the vectors hold HeadAnchored events');
});

test('logs that are not HeadAnchored from the registry are skipped', () => {
  const tx = CHAIN.transactions[0];
  const [log] = receiptOf(tx).logs;
  const variants = [
    { ...log, address: '0x' + '11'.repeat(20) }, // another contract
    { ...log, topics: ['0x' + word(1), ...log.topics.slice(1)] }, // another event
    { ...log, topics: log.topics.slice(0, 3) }, // not indexed as HeadAnchored is
    { ...log, data: log.data.slice(0, -64) }, // too short
  ];
  for (const variant of variants) assert.deepEqual(decodeHeadAnchored([variant], CHAIN.registry), []);
  assert.equal(decodeHeadAnchored([log], CHAIN.registry.toLowerCase()).length, 1); // address case does not matter
  assert.equal(decodeReceipt(null, CHAIN.registry), null);
  assert.equal(decodeReceipt({ ...receiptOf(tx), status: '0x0' }, CHAIN.registry).succeeded, false);
});

test('getAnchor words decode to the anchor record', () => {
  const anchor = CHAIN.anchors[0];
  const data = '0x' + word(P.SELECTOR_GET_ANCHOR).slice(-8) + word(anchor.node) + anchor.root;
  const record = decodeAnchor(fromHex(chainAnswer(CHAIN, 'eth_call', [{ data }])));
  assert.deepEqual(record, {
    node: anchor.node, seq: BigInt(anchor.seq), tree_size: BigInt(anchor.tree_size),
    block_number: BigInt(anchor.block_number), timestamp: anchor.timestamp, withdrawn: anchor.withdrawn,
  });
  assert.equal(decodeAnchor(new Uint8Array(6 * 32)), null); // never anchored
  assert.throws(() => decodeAnchor(new Uint8Array(5 * 32)), /too little data/);
});
