/** X.509 certificates (verifier/jpki/certificates.py): parsed by @peculiar/asn1-x509 from strict
 * DER, read into the fields the JPKI checks use; the JPKI profile; RSA signatures (WebCrypto). */
import {
  AuthorityKeyIdentifier, BasicConstraints, CRLDistributionPoints, Certificate, CertificatePolicies, ExtendedKeyUsage,
  KeyUsage, KeyUsageFlags, SubjectAlternativeName, SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { bitLength, hex, sha256 } from './bytes.js';
import { childrenOf, derTree, parseDer, rawOf, secondsOf, signedInteger, stringOfDer, bytesOf } from './der.js';
import { Asn1Error } from './errors.js';
import { certificateKind, classifySigner, kindProblems } from './signers.js';

export const MIN_RSA_BITS = 2048;

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha256: '2.16.840.1.101.3.4.2.1',
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  certificateIssuer: '2.5.29.29',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  freshestCrl: '2.5.29.46',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  jpkiSignaturePolicy: '1.2.392.200149.8.5.1.1.20',
  jpkiAuthenticationPolicy: '1.2.392.200149.8.5.1.3.30',
};
export const OID_NAMES = {
  [OID.data]: 'data', [OID.signedData]: 'signed_data', '1.2.840.113549.1.7.3': 'enveloped_data',
  '1.3.14.3.2.26': 'sha1', [OID.sha256]: 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512', [OID.rsaEncryption]: 'rsassa_pkcs1v15',
  [OID.sha256WithRSA]: 'sha256_rsa', '1.2.840.113549.1.1.10': 'rsassa_pss',
};
const BASIC_FOUR = {
  '1.2.392.200149.8.5.5.1': 'name', '1.2.392.200149.8.5.5.2': 'name_substitute',
  '1.2.392.200149.8.5.5.3': 'sex', '1.2.392.200149.8.5.5.4': 'date_of_birth',
  '1.2.392.200149.8.5.5.5': 'address', '1.2.392.200149.8.5.5.6': 'address_substitute',
};
const NAME_ATTRIBUTES = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O',
  '2.5.4.11': 'OU', '2.5.4.5': 'serialNumber', '0.9.2342.19200300.100.1.25': 'DC',
  '2.5.4.12': 'title', '2.5.4.97': 'organizationIdentifier',
};
const KEY_USAGES = [
  ['digital_signature', KeyUsageFlags.digitalSignature], ['non_repudiation', KeyUsageFlags.nonRepudiation],
  ['key_encipherment', KeyUsageFlags.keyEncipherment], ['data_encipherment', KeyUsageFlags.dataEncipherment],
  ['key_agreement', KeyUsageFlags.keyAgreement], ['key_cert_sign', KeyUsageFlags.keyCertSign],
  ['crl_sign', KeyUsageFlags.cRLSign], ['encipher_only', KeyUsageFlags.encipherOnly],
  ['decipher_only', KeyUsageFlags.decipherOnly],
];
const V3 = 2;

// ------------------------------------------------------------------ names
/** An asn1-schema Name as [[{oid, value}]] (RDNs in certificate order). */
export function readName(name) {
  return Array.from(name, (rdn) => Array.from(rdn, (atv) => ({ oid: atv.type, value: attributeText(atv.value) })));
}
function attributeText(v) {
  for (const key of ['utf8String', 'printableString', 'ia5String', 'teletexString', 'bmpString', 'universalString']) {
    if (typeof v[key] === 'string') return v[key];
  }
  return v.anyValue ? stringOfDer(new Uint8Array(v.anyValue)) : '';
}
/** A comparable form of a name: RFC 5280 7.1 matching, simplified (case, inner spaces). */
export function nameKey(rdns) {
  return rdns.map((rdn) => rdn.map((a) => `${a.oid}=${a.value.trim().replace(/\s+/g, ' ').toLowerCase()}`).sort().join('+')).join(',');
}
/** Certificate order (C first), as verifier/jpki formats names. */
export function formatName(rdns) {
  return rdns.map((rdn) => rdn.map((a) => `${NAME_ATTRIBUTES[a.oid] || a.oid}=${a.value.replace(/([,+"\\<>;])/g, '\\$1')}`).join('+')).join(', ');
}
/** directoryName and URI entries of GeneralNames. */
export function generalNames(names) {
  const out = { names: [], uris: [] };
  for (const gn of names || []) {
    if (gn.directoryName) out.names.push(readName(gn.directoryName));
    else if (typeof gn.uniformResourceIdentifier === 'string') out.uris.push(gn.uniformResourceIdentifier);
  }
  return out;
}

/** Extensions by OID, each value checked as strict DER; a repeated extension is malformed. */
export function readExtensions(list) {
  const out = new Map();
  for (const ext of list || []) {
    if (out.has(ext.extnID)) throw new Asn1Error(`extension ${ext.extnID} appears twice`);
    const value = bytesOf(ext.extnValue.buffer);
    derTree(value);
    out.set(ext.extnID, { critical: Boolean(ext.critical), value });
  }
  return out;
}
export const extensionAs = (ext, type) => AsnConvert.parse(ext.value, type);

// ------------------------------------------------------------------ certificates
export function parseCertificate(der) {
  let parsed, tree;
  try {
    [parsed, tree] = parseDer(der, Certificate);
  } catch {
    throw new Error('not a DER or PEM X.509 certificate');
  }
  try {
    const tbs = parsed.tbsCertificate;
    if (tbs.version !== V3) throw new Error('only X.509 v3 certificates are supported');
    const serial = signedInteger(tbs.serialNumber);
    const issuer = readName(tbs.issuer);
    const subject = readName(tbs.subject);
    // The key as sent, for WebCrypto: the sixth field of the TBS, after the optional version.
    const tbsFields = childrenOf(childrenOf(tree)[0]);
    const spki = rawOf(tbsFields[tbsFields[0].idBlock.tagClass === 3 ? 6 : 5]);
    const keyAlgorithm = tbs.subjectPublicKeyInfo.algorithm.algorithm;
    let rsaBits = null;
    if (keyAlgorithm === OID.rsaEncryption) {
      const [modulus] = childrenOf(derTree(bytesOf(tbs.subjectPublicKeyInfo.subjectPublicKey)));
      rsaBits = bitLength(signedInteger(modulus.valueBlock.valueHexView));
    }
    const extensions = readExtensions(tbs.extensions);
    const ext = (oid) => extensions.get(oid);
    const cert = {
      der, tbs: new Uint8Array(parsed.tbsCertificateRaw), serial, serialHex: (serial < 0n ? -serial : serial).toString(16),
      issuer, issuerKey: nameKey(issuer), subject, subjectKey: nameKey(subject),
      notBefore: secondsOf(tbs.validity.notBefore), notAfter: secondsOf(tbs.validity.notAfter), spki,
      keyAlgorithm, rsaBits, signatureAlgorithm: parsed.signatureAlgorithm.algorithm, innerAlgorithm: tbs.signature.algorithm,
      signature: bytesOf(parsed.signatureValue), extensions,
      isCa: false, keyUsage: null, policies: [], policiesCritical: false, crlDp: { names: [], uris: [] },
      ski: null, aki: null, san: null, eku: null,
    };
    if (ext(OID.extKeyUsage)) cert.eku = Array.from(extensionAs(ext(OID.extKeyUsage), ExtendedKeyUsage));
    if (ext(OID.basicConstraints)) cert.isCa = Boolean(extensionAs(ext(OID.basicConstraints), BasicConstraints).cA);
    if (ext(OID.keyUsage)) {
      const flags = extensionAs(ext(OID.keyUsage), KeyUsage).toNumber();
      cert.keyUsage = new Set(KEY_USAGES.filter(([, flag]) => flags & flag).map(([name]) => name));
    }
    if (ext(OID.certificatePolicies)) {
      cert.policiesCritical = ext(OID.certificatePolicies).critical;
      cert.policies = Array.from(extensionAs(ext(OID.certificatePolicies), CertificatePolicies), (p) => p.policyIdentifier);
    }
    if (ext(OID.crlDistributionPoints)) {
      for (const dp of extensionAs(ext(OID.crlDistributionPoints), CRLDistributionPoints)) {
        const g = generalNames(dp.distributionPoint && dp.distributionPoint.fullName);
        cert.crlDp.names.push(...g.names);
        cert.crlDp.uris.push(...g.uris);
      }
    }
    if (ext(OID.subjectKeyIdentifier)) cert.ski = bytesOf(extensionAs(ext(OID.subjectKeyIdentifier), SubjectKeyIdentifier).buffer);
    if (ext(OID.authorityKeyIdentifier)) {
      const id = extensionAs(ext(OID.authorityKeyIdentifier), AuthorityKeyIdentifier).keyIdentifier;
      cert.aki = id ? bytesOf(id.buffer) : null;
    }
    if (ext(OID.subjectAltName)) cert.san = ext(OID.subjectAltName).value;
    // signers.js: the purpose by the policy OIDs (verifier/jpki/certificates.py), then the
    // signer kind (card or smartphone, or the municipal seal: classify_signer)
    cert.kind = certificateKind(cert.policies);
    cert.signerKind = classifySigner(cert);
    cert.issuerText = formatName(issuer);
    return cert;
  } catch (e) {
    if (e instanceof Asn1Error || e instanceof TypeError || e.name === 'AsnSchemaValidationError') throw new Error(`certificate is malformed (${e.message})`, { cause: e });
    throw e;
  }
}
export async function withFingerprint(cert) { cert.sha256 = hex(await sha256(cert.der)); return cert; }

/** verifier/jpki/certificates.py profile_problems */
export function profileProblems(cert) {
  const problems = [];
  if (cert.kind === 'unknown') problems.push(`no JPKI certificate policy (expected ${OID.jpkiSignaturePolicy} or ${OID.jpkiAuthenticationPolicy}) and no municipal seal policy`);
  if (cert.keyAlgorithm !== OID.rsaEncryption || (cert.rsaBits || 0) < MIN_RSA_BITS) problems.push(`key is not RSA with at least ${MIN_RSA_BITS} bits`);
  if (cert.signatureAlgorithm !== OID.sha256WithRSA) problems.push('certificate is not signed with sha256WithRSAEncryption');
  problems.push(...kindProblems(cert));
  return problems;
}

/** The signer's basic four items (基本4情報): personal data, decoded only on request. */
export function basicFourItems(cert) {
  if (!cert.san) return null;
  const items = {};
  for (const gn of AsnConvert.parse(cert.san, SubjectAlternativeName)) {
    if (!gn.otherName) continue;
    const key = BASIC_FOUR[gn.otherName.typeId];
    if (!key) continue;
    try { items[key] = stringOfDer(new Uint8Array(gn.otherName.value)); } catch { items[key] = null; }
  }
  return Object.keys(items).length ? items : null;
}

// ------------------------------------------------------------------ RSA (WebCrypto)
const keyCache = new Map();
export async function rsaVerify(spki, signature, data) {
  const id = hex(spki);
  let key = keyCache.get(id);
  if (key === undefined) {
    try {
      key = await crypto.subtle.importKey('spki', spki, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    } catch {
      key = null;
    }
    keyCache.set(id, key);
  }
  if (key === null) return false;
  try {
    return await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, signature, data);
  } catch {
    return false;
  }
}
/** Did `issuer`'s key sign `cert`? (sha256WithRSAEncryption, the only algorithm JPKI uses) */
export async function signedBy(cert, issuer) {
  if (cert.issuerKey !== issuer.subjectKey || cert.signatureAlgorithm !== OID.sha256WithRSA) return false;
  return rsaVerify(issuer.spki, cert.signature, cert.tbs);
}
