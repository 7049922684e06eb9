/** The verification policy from the page's configuration block: trust anchors and CRLs read
 * from base64 or PEM; what cannot be read is ignored and reported, never trusted. A trust root
 * (verifier/policy.py for_trust_root) pins the chain and registry, gives the J-LIS anchors when
 * none are configured, and lets the page decide checks 4-11 from a bundle's evidence offline. */
import { blobsFromText, toBase64 } from './bytes.js';
import { parseCrl } from './crl.js';
import { parseTrustRoot } from './trustroot.js';
import { parseCertificate, withFingerprint } from './x509.js';

/** A configuration the page cannot run with (the page then shows no verdict but unknown). */
export class PolicyError extends Error {}

export async function policyFrom(settings) {
  const problems = [];
  const anchors = [], crls = [];
  const trustRoot = settings.trust_root ? parseTrustRoot(settings.trust_root) : null;
  let chainId = settings.chain_id, registry = settings.registry;
  if (trustRoot) {
    if (chainId !== null && chainId !== undefined && chainId !== trustRoot.chainId) throw new PolicyError(`chain_id ${chainId} is not the trust root's chain id ${trustRoot.chainId}`);
    if (registry && registry !== trustRoot.registry) throw new PolicyError(`registry ${registry} is not the trust root's ${trustRoot.registry}`);
    chainId = trustRoot.chainId;
    registry = trustRoot.registry;
  }
  const fromRoot = !settings.trust_anchors.length && trustRoot !== null;
  const anchorTexts = fromRoot ? trustRoot.jpkiAnchors.map(toBase64) : settings.trust_anchors;
  const anchorName = fromRoot ? 'trust_root.jpki_anchors' : 'trust_anchors';
  anchorTexts.forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) {
        const cert = parseCertificate(der);
        if (!cert.isCa) problems.push(`${anchorName}[${i}] is not a CA certificate (serial 0x${cert.serialHex}): ignored`);
        else anchors.push(cert);
      }
    } catch (e) {
      problems.push(`${anchorName}[${i}]: ${e.message}: ignored`);
    }
  });
  // LGPKI CA certificates: a municipal seal (lgpki-seal, signers.js) must chain to one of them.
  const sealAnchors = [];
  (settings.lgpki_anchors || []).forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) {
        const cert = parseCertificate(der);
        if (!cert.isCa) problems.push(`lgpki_anchors[${i}] is not a CA certificate (serial 0x${cert.serialHex}): ignored`);
        else sealAnchors.push(cert);
      }
    } catch (e) {
      problems.push(`lgpki_anchors[${i}]: ${e.message}: ignored`);
    }
  });
  settings.crls.forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) crls.push(parseCrl(der));
    } catch (e) {
      problems.push(`crls[${i}]: not a DER or PEM CRL (${e.message}): ignored`);
    }
  });
  for (const a of [...anchors, ...sealAnchors]) await withFingerprint(a);
  return {
    policy: {
      rpcUrls: settings.rpc_urls, chainId, registry, trustRoot,
      // no network at all: decided from the bundle's evidence (the page can be switched to it)
      offline: trustRoot !== null && !settings.rpc_urls.length,
      trustAnchors: anchors, sealAnchors, crls, finalityDepth: settings.finality_depth, nodeUrl: settings.node_url,
      requireSignature: true,
      requireRevocationCheck: true, // never a green VALID without asking the issuing node
    },
    problems,
  };
}
