/** RFC 3161 timestamp tokens over tree heads (verifier/timestamp.py verify_head_timestamp), in
 * the same order and with the same refusals: the token parses; its imprint is SHA-256 and equals
 * SHA-256 over the head's EIP-712 signed-head bytes (protocol/signed_head.py); the TSA
 * certificate the SignerInfo names is embedded and chains to one of the trust root's TSA anchors
 * with every certificate valid at genTime, the TSA certificate for time-stamping only (critical
 * extendedKeyUsage timeStamping, keyUsage digitalSignature and/or nonRepudiation: OpenSSL's
 * timestamp-sign purpose, which the Python reference's library uses), its CA certificates CAs;
 * the signed messageDigest is the TSTInfo's and the CMS signature verifies; and the signed ESS
 * signingCertificate(V2) names the TSA certificate. Failures read as the Python reference's
 * (which reads OpenSSL's error stack as the chain's verify error, or the CMS signature's reason).
 * Signatures: RSA PKCS#1 v1.5 and ECDSA (P-256, P-384, P-521) with SHA-256/384/512, by
 * WebCrypto; another algorithm is named as one the page cannot check. */
import * as asn1js from 'asn1js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { BasicConstraints, ExtendedKeyUsage } from '@peculiar/asn1-x509';
import { concat, equal, fromHex, hex, uint, utf8 } from './bytes.js';
import { parseCms } from './cms.js';
import { bytesOf, childrenOf, derTree, signedInteger } from './der.js';
import { EIP712_DOMAIN_TYPE, HEAD_TYPE, MAX_TOKEN_BYTES, REGISTRY_NAME, REGISTRY_VERSION } from './protocol.gen.js';
import { OID, extensionAs, nameKey, parseCertificate, readName } from './x509.js';

export class TimestampProblem extends Error {}

const TST_INFO = '1.2.840.113549.1.9.16.1.4';
const SIGNING_CERTIFICATE = '1.2.840.113549.1.9.16.2.12';
const SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
const TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const HASHES = {
  '1.3.14.3.2.26': ['sha1', sha1, null], [OID.sha256]: ['sha256', sha256, 'SHA-256'],
  '2.16.840.1.101.3.4.2.2': ['sha384', sha384, 'SHA-384'], '2.16.840.1.101.3.4.2.3': ['sha512', sha512, 'SHA-512'],
  '2.16.840.1.101.3.4.2.4': ['sha224', null, null],
};
const ESS_HASHES = ['sha1', 'sha256', 'sha384', 'sha512'];
const CURVES = { '1.2.840.10045.3.1.7': ['P-256', 32], '1.3.132.0.34': ['P-384', 48], '1.3.132.0.35': ['P-521', 66] };
// Certificate signature algorithms: [key kind, WebCrypto hash].
const SIGNATURE_ALGORITHMS = {
  [OID.sha256WithRSA]: ['rsa', 'SHA-256'], '1.2.840.113549.1.1.12': ['rsa', 'SHA-384'], '1.2.840.113549.1.1.13': ['rsa', 'SHA-512'],
  '1.2.840.10045.4.3.2': ['ec', 'SHA-256'], '1.2.840.10045.4.3.3': ['ec', 'SHA-384'], '1.2.840.10045.4.3.4': ['ec', 'SHA-512'],
};
// Real algorithms OpenSSL checks and the page does not (Ed25519, RSA-PSS, SHA-1 and SHA-224 ones).
const UNSUPPORTED_SIGNATURES = ['1.3.101.112', '1.3.101.113', '1.2.840.113549.1.1.10', '1.2.840.113549.1.1.5',
  '1.2.840.113549.1.1.14', '1.2.840.10045.4.1', '1.2.840.10045.4.3.1'];
// Extensions OpenSSL understands: another one marked critical makes a certificate unusable.
const KNOWN_EXTENSIONS = new Set(['2.5.29.14', '2.5.29.15', '2.5.29.17', '2.5.29.18', '2.5.29.19', '2.5.29.30', '2.5.29.31',
  '2.5.29.32', '2.5.29.33', '2.5.29.35', '2.5.29.36', '2.5.29.37', '2.5.29.54', '1.3.6.1.5.5.7.1.1']);

const word = (bytes) => { const out = new Uint8Array(32); out.set(bytes, 32 - bytes.length); return out; };

/** The 66 bytes EIP-712 hashes for a node's head (protocol/signed_head.py signed_head_bytes). */
export function signedHeadBytes({ chainId, registry, node, seq, treeSize, root }) {
  const domain = keccak_256(concat(keccak_256(utf8(EIP712_DOMAIN_TYPE)), keccak_256(utf8(REGISTRY_NAME)),
    keccak_256(utf8(REGISTRY_VERSION)), uint(BigInt(chainId), 32), word(fromHex(registry.slice(2)))));
  const head = keccak_256(concat(keccak_256(utf8(HEAD_TYPE)), word(fromHex(node.slice(2))),
    uint(BigInt(seq), 32), uint(BigInt(treeSize), 32), root));
  return concat(new Uint8Array([0x19, 0x01]), domain, head);
}
export const headTimestampDigest = (head) => sha256(signedHeadBytes(head));

/** {genTime (Unix seconds), tsa (the TSA certificate's subject, RFC 4514)} of a token over the
 * head, checked against `anchors` (DER certificates); TimestampProblem says what failed. */
export async function verifyHeadTimestamp(token, head, anchors) {
  if (!anchors.length) throw new TimestampProblem('no TSA trust anchors given: a token cannot be trusted');
  const digest = headTimestampDigest(head);
  if (token.length > MAX_TOKEN_BYTES) throw new TimestampProblem(`a timestamp token is at most ${MAX_TOKEN_BYTES} bytes`);
  const { cms, info, content } = readToken(token);
  if (info.hashAlgorithm !== OID.sha256) throw new TimestampProblem(`the token's imprint uses hash ${info.hashAlgorithm}, not SHA-256`);
  if (!equal(info.message, digest)) throw new TimestampProblem(`the token covers digest ${hex(info.message)}, not the expected ${hex(digest)}`);
  const notValid = (reason) => new TimestampProblem(`the timestamp token is not valid: ${reason}`);
  const embedded = cms.certificates.map((der) => readCertificate(der, 'an embedded certificate'));
  const sid = cms.sid.issuerAndSerialNumber;
  const signer = sid && embedded.find((c) => c.serial === signedInteger(sid.serialNumber) && c.issuerKey === nameKey(readName(sid.issuer)));
  if (!signer) throw notValid('the CMS signature does not verify (signer certificate not found)');
  const chainProblem = await chainError(signer, embedded, anchors.map((der) => readCertificate(der, 'a TSA anchor')), info.genTime);
  if (chainProblem) throw notValid(`the TSA certificate does not chain to a TSA of the trust root: ${chainProblem}`);
  const hash = HASHES[cms.digestAlgorithm];
  if (!hash) throw notValid('the CMS signature does not verify (signature failure)'); // OpenSSL knows no such digest
  if (!hash[2]) throw new TimestampProblem(`the token's digest algorithm ${hash[0]} is not one the page can check`);
  const attributes = signedAttributes(cms.signedAttrs);
  const messageDigest = attributes.get(OID.messageDigest);
  if (!messageDigest) throw notValid('the CMS signature does not verify (unable to find message digest)');
  if (!equal(messageDigest[0].valueBlock.valueHexView, hash[1](content))) throw notValid('the CMS signature does not verify (digest failure)');
  const signed = cms.signedAttrsRaw.slice();
  signed[0] = 0x31; // signed over the DER SET OF, not the [0] IMPLICIT tag (RFC 5652 5.4)
  if (!(await verifySignature(signer, hash[2], cms.signature, signed))) throw notValid('the CMS signature does not verify (signature failure)');
  checkSigningCertificate(cms, signer, attributes);
  return { genTime: info.genTime, tsa: rfc4514(signer.subject) };
}

function readToken(token) {
  const malformed = (why) => new TimestampProblem(`not a DER RFC 3161 TimeStampToken: ${why}`);
  let cms;
  try {
    cms = parseCms(token);
  } catch (e) {
    throw malformed(e.message);
  }
  if (cms.encap.eContentType !== TST_INFO) throw malformed(`the signed content is ${cms.encap.eContentType}, not a TSTInfo`);
  try {
    const content = cms.encap.eContent && cms.encap.eContent.single ? bytesOf(cms.encap.eContent.single.buffer) : null;
    if (!content) throw new Error('the token carries no TSTInfo');
    const fields = childrenOf(derTree(content));
    const [version, policy, imprint, serial, genTime] = fields;
    if (!(version instanceof asn1js.Integer) || !(policy instanceof asn1js.ObjectIdentifier) || !(imprint instanceof asn1js.Sequence)
        || !(serial instanceof asn1js.Integer) || !(genTime instanceof asn1js.GeneralizedTime)) throw new Error('TSTInfo is malformed');
    const [algorithm, message] = childrenOf(imprint);
    const oid = algorithm && childrenOf(algorithm)[0];
    if (!(oid instanceof asn1js.ObjectIdentifier) || !(message instanceof asn1js.OctetString)) throw new Error('messageImprint is malformed');
    return {
      cms, content,
      info: { hashAlgorithm: oid.valueBlock.toString(), message: new Uint8Array(message.valueBlock.valueHexView), genTime: Math.floor(genTime.toDate().getTime() / 1000) },
    };
  } catch (e) {
    throw malformed(e.message);
  }
}

function readCertificate(der, what) {
  try {
    const cert = parseCertificate(der);
    const bc = cert.extensions.get(OID.basicConstraints);
    const pathLen = bc ? extensionAs(bc, BasicConstraints).pathLenConstraint : undefined;
    cert.pathLen = pathLen === undefined ? null : pathLen;
    const eku = cert.extensions.get(OID.extKeyUsage);
    cert.eku = eku ? { critical: eku.critical, purposes: Array.from(extensionAs(eku, ExtendedKeyUsage)) } : null;
    const signatureValue = childrenOf(derTree(der))[2];
    cert.signatureUnusedBits = signatureValue instanceof asn1js.BitString ? signatureValue.valueBlock.unusedBits : -1;
    return cert;
  } catch (e) {
    throw new TimestampProblem(`not a DER RFC 3161 TimeStampToken: ${what} is unreadable: ${e.message}`);
  }
}

const selfIssued = (c) => c.subjectKey === c.issuerKey && (!c.aki || !c.ski || equal(c.aki, c.ski));
const issues = (issuer, c) => issuer.subjectKey === c.issuerKey && (!c.aki || !issuer.ski || equal(c.aki, issuer.ski));
const isAnchor = (c, anchors) => anchors.some((a) => equal(a.der, c.der));

/** OpenSSL's verify error for the TSA certificate's chain at `time`, or null (X509_verify_cert
 * with the trust anchors as the store, the token's certificates as untrusted, no partial chains). */
async function chainError(leaf, embedded, anchors, time) {
  const chain = [leaf];
  for (;;) {
    const top = chain[chain.length - 1];
    if (selfIssued(top)) {
      if (isAnchor(top, anchors)) break;
      return chain.length === 1 ? 'self-signed certificate' : 'self-signed certificate in certificate chain';
    }
    const issuer = anchors.find((a) => issues(a, top)) || embedded.find((c) => c !== top && !chain.includes(c) && issues(c, top));
    if (!issuer) return isAnchor(top, anchors) ? 'unable to get issuer certificate' : 'unable to get local issuer certificate';
    chain.push(issuer);
    if (chain.length > 10) return 'certificate chain too long';
  }
  let intermediates = 0;
  for (const [i, cert] of chain.entries()) {
    for (const [oid, ext] of cert.extensions) if (ext.critical && !KNOWN_EXTENSIONS.has(oid)) return 'unhandled critical extension';
    if (i > 0 && (!cert.isCa || (cert.keyUsage && !cert.keyUsage.has('key_cert_sign')))) return 'invalid CA certificate';
    if (i === 0 && !timestampSigner(cert)) return 'unsuitable certificate purpose';
    if (i > 0 && cert.pathLen !== null && intermediates > cert.pathLen) return 'path length constraint exceeded';
    if (i > 0 && !selfIssued(cert)) intermediates++;
  }
  // A key that does not decode (an EC point off its curve) stops OpenSSL before any signature.
  for (const cert of chain) if (!(await importable(cert))) return 'unspecified certificate verification error';
  for (let n = chain.length - 1; n >= 0; n--) {
    const cert = chain[n];
    if (n < chain.length - 1) {
      const kind = SIGNATURE_ALGORITHMS[cert.signatureAlgorithm];
      if (!kind && UNSUPPORTED_SIGNATURES.includes(cert.signatureAlgorithm)) {
        throw new TimestampProblem(`the TSA chain is signed with ${cert.signatureAlgorithm}, an algorithm the page cannot check`);
      }
      if (!kind || cert.signatureUnusedBits !== 0 || cert.innerAlgorithm !== cert.signatureAlgorithm
          || !(await verifySignature(chain[n + 1], kind[1], cert.signature, cert.tbs, kind[0]))) return 'certificate signature failure';
    }
    if (time < cert.notBefore) return 'certificate is not yet valid or the system clock is incorrect';
    if (time > cert.notAfter) return 'certificate has expired';
  }
  return null;
}

/** OpenSSL's timestamp-sign purpose for the TSA certificate (RFC 3161 2.3). */
function timestampSigner(cert) {
  const usage = cert.keyUsage;
  if (usage) {
    const allowed = ['digital_signature', 'non_repudiation'];
    if ([...usage].some((u) => !allowed.includes(u)) || !allowed.some((u) => usage.has(u))) return false;
  }
  return Boolean(cert.eku && cert.eku.critical && cert.eku.purposes.length === 1 && cert.eku.purposes[0] === TIME_STAMPING);
}

function signedAttributes(attrs) {
  const found = new Map();
  for (const attr of attrs || []) {
    if (!found.has(attr.attrType)) found.set(attr.attrType, attr.attrValues.map((v) => derTree(new Uint8Array(v))));
  }
  return found;
}

/** verifier/timestamp.py _check_signing_certificate: the first ESSCertID(v2) names the signer. */
function checkSigningCertificate(cms, signer, attributes) {
  const ids = [];
  try {
    for (const [type, values] of attributes) {
      if (type !== SIGNING_CERTIFICATE_V2 && type !== SIGNING_CERTIFICATE) continue;
      for (const certId of childrenOf(childrenOf(values[0])[0])) {
        const parts = childrenOf(certId);
        if (type === SIGNING_CERTIFICATE) {
          ids.push(['sha1', parts[0].valueBlock.valueHexView]);
        } else if (parts[0] instanceof asn1js.Sequence) {
          const oid = childrenOf(parts[0])[0].valueBlock.toString();
          ids.push([HASHES[oid] ? HASHES[oid][0] : oid, parts[1].valueBlock.valueHexView]);
        } else {
          ids.push(['sha256', parts[0].valueBlock.valueHexView]);
        }
      }
    }
  } catch (e) {
    throw new TimestampProblem(`the token's signer certificate cannot be found: ${e.message}`);
  }
  if (!ids.length) throw new TimestampProblem("the token does not name its signer's certificate (ESS signingCertificate)");
  const [algorithm, certHash] = ids[0];
  if (!ESS_HASHES.includes(algorithm)) throw new TimestampProblem(`the token names its certificate by an unknown hash ${algorithm}`);
  const hash = Object.values(HASHES).find(([name]) => name === algorithm)[1];
  if (!equal(hash(signer.der), new Uint8Array(certHash))) {
    throw new TimestampProblem("the token's signed attributes name another certificate than the one it is signed with");
  }
}

// ------------------------------------------------------------------ signatures (WebCrypto)
/** Did `cert`'s key sign `data` (hash: a WebCrypto name)? RSA PKCS#1 v1.5 or ECDSA; `kind`, when
 * given, is the key kind the signature algorithm needs. */
async function verifySignature(cert, hashName, signature, data, kind = null) {
  let algorithm, sig = signature;
  if (cert.keyAlgorithm === OID.rsaEncryption && (kind === null || kind === 'rsa')) {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: hashName };
  } else if (cert.keyAlgorithm === EC_PUBLIC_KEY && (kind === null || kind === 'ec')) {
    const curve = CURVES[curveOf(cert.spki)];
    if (!curve) throw new TimestampProblem('the TSA chain uses an elliptic curve the page cannot check');
    algorithm = { name: 'ECDSA', namedCurve: curve[0], hash: hashName };
    sig = rawEcdsa(signature, curve[1]);
    if (!sig) return false;
  } else {
    return false;
  }
  try {
    const key = await crypto.subtle.importKey('spki', cert.spki, algorithm, false, ['verify']);
    return await crypto.subtle.verify(algorithm, key, sig, data);
  } catch {
    return false;
  }
}
async function importable(cert) {
  let algorithm;
  if (cert.keyAlgorithm === OID.rsaEncryption) algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  else if (cert.keyAlgorithm === EC_PUBLIC_KEY && CURVES[curveOf(cert.spki)]) algorithm = { name: 'ECDSA', namedCurve: CURVES[curveOf(cert.spki)][0] };
  else return true; // judged by its signatures
  try {
    await crypto.subtle.importKey('spki', cert.spki, algorithm, false, ['verify']);
    return true;
  } catch {
    return false;
  }
}
function curveOf(spki) {
  const [algorithm] = childrenOf(derTree(spki));
  const parameters = childrenOf(algorithm)[1];
  return parameters instanceof asn1js.ObjectIdentifier ? parameters.valueBlock.toString() : null;
}
/** ECDSA-Sig-Value (DER) as WebCrypto's r ‖ s, or null. */
function rawEcdsa(der, size) {
  try {
    const parts = childrenOf(derTree(der));
    if (parts.length !== 2 || !parts.every((n) => n instanceof asn1js.Integer)) return null;
    const [r, s] = parts;
    const out = new Uint8Array(2 * size);
    for (const [i, n] of [r, s].entries()) {
      let v = new Uint8Array(n.valueBlock.valueHexView);
      while (v.length > size && v[0] === 0) v = v.subarray(1);
      if (v.length > size) return null;
      out.set(v, i * size + size - v.length);
    }
    return out;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ names
const RFC4514_NAMES = {
  '2.5.4.3': 'CN', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C',
  '2.5.4.9': 'STREET', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
};
/** A name as Python's cryptography writes it (Name.rfc4514_string): last RDN first. */
export function rfc4514(rdns) {
  const escape = (value) => {
    if (!value) return '';
    let v = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\+/g, '\\+').replace(/,/g, '\\,')
      .replace(/;/g, '\\;').replace(/</g, '\\<').replace(/>/g, '\\>').replace(/\0/g, '\\00');
    if (v[0] === '#' || v[0] === ' ') v = '\\' + v;
    if (v.endsWith(' ')) v = v.slice(0, -1) + '\\ ';
    return v;
  };
  return [...rdns].reverse().map((rdn) => rdn.map((a) => `${RFC4514_NAMES[a.oid] || a.oid}=${escape(a.value)}`).join('+')).join(',');
}
