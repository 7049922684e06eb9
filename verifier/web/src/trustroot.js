/** The consortium's trust root (protocol/trust_root.py, PROTOCOL 11) as the page reads it from
 * its configuration block: chain id, registry, the signer-set history the seals are judged by,
 * and the TSA, J-LIS and seal (LGPKI) anchors. The page does not check governance signatures: whoever
 * configures the page pins the trust root (docs/VERIFY_PAGE.md). Errors name the field. */
import { fromBase64 } from './bytes.js';
import { SignerHistory } from './clique.js';
import { toChecksumAddress } from './eip55.js';
import { TRUST_ROOT_VERSION } from './protocol.gen.js';

export class TrustRootError extends Error {
  constructor(field, problem) {
    super(`trust_root.${field}: ${problem}`);
    this.field = field;
  }
}
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
function object(v, path) {
  if (!isObject(v)) throw new TrustRootError(path, 'must be a JSON object');
  return v;
}
function int(v, path) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new TrustRootError(path, 'must be a non-negative integer');
  return v;
}
function hex32(v, path) {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(v)) throw new TrustRootError(path, 'must be "0x" and 64 hex characters');
  return v;
}
function address(v, path) {
  const ok = typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v)
    && (v.slice(2) === v.slice(2).toLowerCase() || v.slice(2) === v.slice(2).toUpperCase() || toChecksumAddress(v) === v);
  if (!ok) throw new TrustRootError(path, 'must be a 20-byte hex address with a valid checksum');
  return toChecksumAddress(v);
}
function derList(v, path) {
  if (!Array.isArray(v)) throw new TrustRootError(path, 'must be a list of base64 DER certificates');
  return v.map((item, i) => {
    if (typeof item !== 'string') throw new TrustRootError(`${path}[${i}]`, 'must be base64 text');
    if (item.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(item)) throw new TrustRootError(`${path}[${i}]`, 'is not valid base64');
    return fromBase64(item);
  });
}
function signerSets(v) {
  if (!Array.isArray(v) || !v.length) throw new TrustRootError('signer_sets', 'must be a non-empty list');
  const sets = v.map((item, i) => {
    const entry = object(item, `signer_sets[${i}]`);
    const signers = entry.signers;
    if (!Array.isArray(signers) || !signers.length) throw new TrustRootError(`signer_sets[${i}].signers`, 'must be a non-empty list');
    const addresses = signers.map((s, j) => address(s, `signer_sets[${i}].signers[${j}]`).slice(2).toLowerCase());
    if (new Set(addresses).size !== addresses.length) throw new TrustRootError(`signer_sets[${i}].signers`, 'lists a signer twice');
    return { block: BigInt(int(entry.block, `signer_sets[${i}].block`)), signers: new Set(addresses) };
  });
  for (let i = 1; i < sets.length; i++) {
    if (sets[i].block <= sets[i - 1].block) throw new TrustRootError('signer_sets', `not after the previous set's block ${sets[i - 1].block}`);
  }
  return sets;
}
/** protocol/trust_root.py _seal_anchors: absent means none; present, at least one. */
function sealAnchors(top) {
  if (top.seal_anchors === undefined) return [];
  const found = derList(top.seal_anchors, 'seal_anchors');
  if (!found.length) throw new TrustRootError('seal_anchors', 'omit the field when there are no seal anchors');
  return found;
}
/** The parsed trust root; TrustRootError naming the field if anything is wrong. */
export function parseTrustRoot(obj) {
  const top = object(obj, 'trust_root');
  if (top.version !== TRUST_ROOT_VERSION) throw new TrustRootError('version', `must be ${TRUST_ROOT_VERSION}`);
  const registry = object(top.registry, 'registry');
  const sets = signerSets(top.signer_sets);
  return {
    chainId: BigInt(int(top.chain_id, 'chain_id')),
    genesisHash: hex32(top.genesis_hash, 'genesis_hash'),
    registry: address(registry.address, 'registry.address'),
    codeHash: hex32(registry.code_hash, 'registry.code_hash'),
    history: new SignerHistory(sets),
    signerSets: sets,
    tsaAnchors: derList(top.tsa_anchors === undefined ? [] : top.tsa_anchors, 'tsa_anchors'),
    jpkiAnchors: derList(top.jpki_anchors === undefined ? [] : top.jpki_anchors, 'jpki_anchors'),
    sealAnchors: sealAnchors(top),
    issuedAt: int(top.issued_at === undefined ? 0 : top.issued_at, 'issued_at'),
    asOfBlock: top.as_of_block === undefined ? null : int(top.as_of_block, 'as_of_block'),
  };
}
