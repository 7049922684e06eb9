/** The document signature (verifier/digest_signature.py): a detached CMS SignedData parsed by
 * @peculiar/asn1-cms from strict DER, or a bare RSA PKCS#1 v1.5 signature; verified with
 * WebCrypto under the page's rules (one signer, SHA-256 / RSA PKCS#1 v1.5, contentType data,
 * signed attributes, RSA keys of at least 2048 bits). */
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData } from '@peculiar/asn1-cms';
import { equal, hex } from './bytes.js';
import { bytesOf, childrenOf, derTree, parseDer, rawOf, signedInteger } from './der.js';
import { Asn1Error, SignatureProblem } from './errors.js';
import { MIN_RSA_BITS, OID, OID_NAMES, formatName, nameKey, parseCertificate, readName, rsaVerify, withFingerprint } from './x509.js';

const oidName = (oid) => OID_NAMES[oid] || oid;
const CONTEXT = 3;

export function parseCms(der) {
  let info, tree;
  try {
    [info, tree] = parseDer(der, ContentInfo);
  } catch (e) {
    throw new SignatureProblem(`not a DER CMS structure${der[0] !== 0x30 ? ' (PEM or base64? give the DER bytes)' : ''} (${e.message})`);
  }
  if (info.contentType !== OID.signedData) throw new SignatureProblem(`CMS content type is '${oidName(info.contentType)}', not signed_data`);
  try {
    const signed = AsnConvert.parse(info.content, SignedData);
    // The embedded certificates as sent (their fingerprints and signatures are over these bytes).
    const signedFields = childrenOf(childrenOf(childrenOf(tree)[1])[0]);
    const tagged = (nodes, n) => nodes.find((node) => node.idBlock.tagClass === CONTEXT && node.idBlock.tagNumber === n);
    const set = tagged(signedFields, 0);
    const certificates = set ? childrenOf(set).filter((c) => c.idBlock.tagClass === 1 && c.idBlock.tagNumber === 16).map(rawOf) : [];
    if (signed.signerInfos.length !== 1) throw new SignatureProblem(`expected exactly one signer, the CMS has ${signed.signerInfos.length}`);
    const si = signed.signerInfos[0];
    // The signed attributes as sent: the signature is over their DER (asn1-schema keeps no raw
    // copy of a repeated field). signerInfos is the last field of SignedData.
    const attrsNode = tagged(childrenOf(childrenOf(signedFields[signedFields.length - 1])[0]), 0);
    return {
      encap: signed.encapContentInfo, certificates, sid: si.sid, digestAlgorithm: si.digestAlgorithm.algorithm,
      signedAttrs: si.signedAttrs || null, signedAttrsRaw: attrsNode ? rawOf(attrsNode) : null,
      signatureAlgorithm: si.signatureAlgorithm.algorithm, signature: bytesOf(si.signature.buffer),
    };
  } catch (e) {
    if (e instanceof SignatureProblem) throw e;
    throw new SignatureProblem(`CMS SignedData is malformed (${e.message})`);
  }
}

export async function verifyCmsDigest(der, documentSha256, extra) {
  const cms = parseCms(der);
  let attributes, signer;
  try {
    if (cms.digestAlgorithm !== OID.sha256) throw new SignatureProblem(`digest algorithm '${oidName(cms.digestAlgorithm)}' is not supported (need sha256)`);
    if (cms.signatureAlgorithm !== OID.rsaEncryption && cms.signatureAlgorithm !== OID.sha256WithRSA) {
      throw new SignatureProblem(`signature algorithm '${oidName(cms.signatureAlgorithm)}' is not supported (need RSA PKCS#1 v1.5 with SHA-256)`);
    }
    const contentType = cms.encap.eContentType;
    if (contentType !== OID.data) throw new SignatureProblem(`the CMS signs content of type '${oidName(contentType)}', not data`);
    if (cms.encap.eContent) throw new SignatureProblem('the CMS carries the document inside it; a proof bundle holds detached signatures only (the document is personal data)');
    attributes = signedAttributes(cms.signedAttrs);
    const embedded = [];
    for (const c of cms.certificates) {
      try { embedded.push(await withFingerprint(parseCertificate(c))); } catch (e) { throw new SignatureProblem(`an embedded certificate is unreadable: ${e.message}`); }
    }
    signer = findSigner(cms.sid, [...embedded, ...extra]);
  } catch (e) {
    if (e instanceof SignatureProblem) throw e;
    throw new SignatureProblem(`CMS SignedData is malformed (${e.message})`);
  }
  if (!equal(attributes.messageDigest, documentSha256)) {
    throw new SignatureProblem('messageDigest mismatch: the signature was made over a different document (the file was changed after signing, or it is not the file that was signed)');
  }
  checkRsaKey(signer);
  const signed = cms.signedAttrsRaw.slice();
  signed[0] = 0x31; // signed over the DER SET OF, not the [0] IMPLICIT tag (RFC 5652 5.4)
  if (!(await rsaVerify(signer.spki, cms.signature, signed))) {
    throw new SignatureProblem(`the signature does not verify with the key of certificate serial 0x${signer.serialHex} (signature or signed data altered, or a different signer)`);
  }
  return { signer, signingTime: attributes.signingTime };
}

function signedAttributes(attrs) {
  if (!attrs || !attrs.length) throw new SignatureProblem('the CMS has no signed attributes (card signatures sign contentType, messageDigest and signingTime)');
  const found = new Map();
  for (const attr of attrs) {
    const oid = attr.attrType;
    const name = { [OID.contentType]: 'content_type', [OID.messageDigest]: 'message_digest', [OID.signingTime]: 'signing_time' }[oid] || oid;
    if (found.has(oid)) throw new SignatureProblem(`signed attribute ${name} appears twice`);
    if (attr.attrValues.length !== 1) throw new SignatureProblem(`signed attribute ${name} must have exactly one value`);
    found.set(oid, derTree(new Uint8Array(attr.attrValues[0])));
  }
  if (!found.has(OID.messageDigest) || !found.has(OID.contentType)) throw new SignatureProblem('signed attributes lack messageDigest or contentType');
  const contentTypeNode = found.get(OID.contentType);
  if (!(contentTypeNode instanceof asn1js.ObjectIdentifier)) throw new Asn1Error('contentType: unexpected ASN.1 type');
  const contentType = contentTypeNode.valueBlock.toString();
  if (contentType !== OID.data) throw new SignatureProblem(`signed contentType '${oidName(contentType)}' differs from the content's 'data'`);
  const digest = found.get(OID.messageDigest);
  if (!(digest instanceof asn1js.OctetString)) throw new SignatureProblem('messageDigest or signingTime has the wrong type');
  let signingTime = null;
  if (found.has(OID.signingTime)) {
    const time = found.get(OID.signingTime);
    if (!(time instanceof asn1js.UTCTime || time instanceof asn1js.GeneralizedTime)) throw new SignatureProblem('messageDigest or signingTime has the wrong type');
    signingTime = Math.floor(time.toDate().getTime() / 1000);
  }
  return { messageDigest: new Uint8Array(digest.valueBlock.valueHexView), signingTime };
}

function findSigner(sid, candidates) {
  if (sid.issuerAndSerialNumber) {
    const issuer = readName(sid.issuerAndSerialNumber.issuer);
    const serial = signedInteger(sid.issuerAndSerialNumber.serialNumber);
    const hit = candidates.find((c) => c.serial === serial && c.issuerKey === nameKey(issuer));
    if (hit) return hit;
    throw new SignatureProblem(`the signer certificate (serial 0x${serial.toString(16)} from ${formatName(issuer)}) is neither embedded in the CMS nor supplied`);
  }
  const keyId = bytesOf(sid.subjectKeyIdentifier.buffer);
  const hit = candidates.find((c) => c.ski && equal(c.ski, keyId));
  if (hit) return hit;
  throw new SignatureProblem(`the signer certificate (subject key identifier ${hex(keyId)}) is neither embedded in the CMS nor supplied`);
}

export function checkRsaKey(cert) {
  if (cert.keyAlgorithm !== OID.rsaEncryption) throw new SignatureProblem('the signer certificate does not have an RSA key; JPKI signs with RSA');
  if (cert.rsaBits < MIN_RSA_BITS) throw new SignatureProblem(`the signer's RSA key has ${cert.rsaBits} bits; at least ${MIN_RSA_BITS} needed`);
}

export async function verifyPkcs1(signature, document, cert) {
  checkRsaKey(cert);
  // WebCrypto hashes the document itself: the same DigestInfo the card signed.
  if (!(await rsaVerify(cert.spki, signature, document))) {
    throw new SignatureProblem(`the signature does not verify with the key of certificate serial 0x${cert.serialHex} over this document (document altered or a different signer)`);
  }
}
