/** The issuing node's revocation bucket (PROTOCOL 6, verifier/chain.py NodeStatusClient).
 *
 * k-anonymous: only the first PREFIX_HEX_DIGITS hex digits of the leaf hash leave the browser;
 * the node answers every revocation in that bucket, and the answer is refused unless it names
 * that prefix and every revocation in it lies inside it. */
import { hex } from './bytes.js';
import { answerFor, parseRevocationBucket } from './bundle.js';
import { EvidenceError } from './errors.js';
import { parseJson } from './json.js';
import { MAX_BUNDLE_BYTES, PREFIX_HEX_DIGITS, RPC_TIMEOUT_MS } from './protocol.gen.js';

export async function nodeStatus(baseUrl, leafHash) {
  const prefix = hex(leafHash).slice(0, PREFIX_HEX_DIGITS);
  const url = `${baseUrl.replace(/\/+$/, '')}/v1/revocations/${prefix}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), RPC_TIMEOUT_MS);
  let response, body;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' }, signal: controller.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    if (!response.ok) throw new EvidenceError(`${url} answered HTTP ${response.status}`);
    body = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    if (e instanceof EvidenceError) throw e;
    throw new EvidenceError(`cannot reach the issuing node at ${url} (${e.name === 'AbortError' ? 'timed out' : 'network error or CORS'})`);
  } finally {
    clearTimeout(timer);
  }
  if (body.length > MAX_BUNDLE_BYTES) throw new EvidenceError(`${url} sent more than ${MAX_BUNDLE_BYTES} bytes`);
  let bucket;
  try {
    bucket = parseRevocationBucket(parseJson(new TextDecoder('utf-8', { fatal: true }).decode(body)), prefix);
  } catch (e) {
    throw new EvidenceError(`${url} answered with a malformed revocation list: ${e.message}`);
  }
  return answerFor(bucket, leafHash);
}
