/** The verification policy from the page's configuration block: trust anchors and CRLs read
 * from base64 or PEM; what cannot be read is ignored and reported, never trusted. */
import { blobsFromText } from './bytes.js';
import { parseCrl } from './crl.js';
import { parseCertificate, withFingerprint } from './x509.js';

export async function policyFrom(settings) {
  const problems = [];
  const anchors = [], crls = [];
  settings.trust_anchors.forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) {
        const cert = parseCertificate(der);
        if (!cert.isCa) problems.push(`trust_anchors[${i}] is not a CA certificate (serial 0x${cert.serialHex}): ignored`);
        else anchors.push(cert);
      }
    } catch (e) {
      problems.push(`trust_anchors[${i}]: ${e.message}: ignored`);
    }
  });
  settings.crls.forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) crls.push(parseCrl(der));
    } catch (e) {
      problems.push(`crls[${i}]: not a DER or PEM CRL (${e.message}): ignored`);
    }
  });
  for (const a of anchors) await withFingerprint(a);
  return {
    policy: {
      rpcUrls: settings.rpc_urls, chainId: settings.chain_id, registry: settings.registry,
      trustAnchors: anchors, crls, finalityDepth: settings.finality_depth, nodeUrl: settings.node_url,
      requireSignature: true,
      requireRevocationCheck: true, // never a green VALID without asking the issuing node
    },
    problems,
  };
}
