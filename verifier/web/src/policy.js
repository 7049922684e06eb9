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
  const crls = [];
  const trustRoot = settings.trust_root ? parseTrustRoot(settings.trust_root) : null;
  let chainId = settings.chain_id, registry = settings.registry;
  if (trustRoot) {
    if (chainId !== null && chainId !== undefined && chainId !== trustRoot.chainId) throw new PolicyError(`chain_id ${chainId} is not the trust root's chain id ${trustRoot.chainId}`);
    if (registry && registry !== trustRoot.registry) throw new PolicyError(`registry ${registry} is not the trust root's ${trustRoot.registry}`);
    chainId = trustRoot.chainId;
    registry = trustRoot.registry;
  }
  // The J-LIS anchors and the seal trust anchors (LGPKI CAs, verifier/policy.py
  // seal_trust_anchors): from the configuration, else from the trust root's jpki_anchors and
  // seal_anchors (for_trust_root). Each PKI vouches only for its own certificates.
  const readAnchors = (texts, name) => {
    const found = [];
    texts.forEach((text, i) => {
      try {
        for (const der of blobsFromText(text)) {
          const cert = parseCertificate(der);
          if (!cert.isCa) problems.push(`${name}[${i}] is not a CA certificate (serial 0x${cert.serialHex}): ignored`);
          else found.push(cert);
        }
      } catch (e) {
        problems.push(`${name}[${i}]: ${e.message}: ignored`);
      }
    });
    return found;
  };
  const configured = (name, rootField, rootName) => {
    const own = settings[name] || [];
    if (own.length || trustRoot === null) return readAnchors(own, name);
    return readAnchors(trustRoot[rootField].map(toBase64), rootName);
  };
  const anchors = configured('trust_anchors', 'jpkiAnchors', 'trust_root.jpki_anchors');
  const sealTrustAnchors = configured('seal_trust_anchors', 'sealAnchors', 'trust_root.seal_anchors');
  settings.crls.forEach((text, i) => {
    try {
      for (const der of blobsFromText(text)) crls.push(parseCrl(der));
    } catch (e) {
      problems.push(`crls[${i}]: not a DER or PEM CRL (${e.message}): ignored`);
    }
  });
  for (const a of [...anchors, ...sealTrustAnchors]) await withFingerprint(a);
  const jlis = new Set(anchors.map((a) => a.sha256));
  if (sealTrustAnchors.some((a) => jlis.has(a.sha256))) {
    throw new PolicyError('a CA certificate is both a J-LIS and a seal trust anchor: each PKI vouches only for its own certificates');
  }
  return {
    policy: {
      rpcUrls: settings.rpc_urls, chainId, registry, trustRoot,
      // no network at all: decided from the bundle's evidence (the page can be switched to it)
      offline: trustRoot !== null && !settings.rpc_urls.length,
      trustAnchors: anchors, sealTrustAnchors, crls, finalityDepth: settings.finality_depth, nodeUrl: settings.node_url,
      requireSignature: true,
      // verifier/policy.py require_municipal_seal: on unless configured off (--accept-unsealed),
      // which accepts pre-seal (version-1 or -2) documents signed with a JPKI signature certificate
      requireMunicipalSeal: settings.require_municipal_seal !== false,
      requireRevocationCheck: true, // never a green VALID without asking the issuing node
    },
    problems,
  };
}
