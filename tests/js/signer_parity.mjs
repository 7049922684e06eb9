// Used by tests/test_page_signer_parity.py (not a test itself): the page's signer check
// (jpki.js checkSigner) on certificates, CRLs and OCSP responses the Python test generated, printed as
// [{name, status, reason}] for comparison with verifier/jpki's check_signer.
//   node tests/js/signer_parity.mjs CASES.json
import { readFileSync } from 'node:fs';
import { parseCrl } from '../../verifier/web/src/crl.js';
import { checkSigner } from '../../verifier/web/src/jpki.js';
import { parseOcsp } from '../../verifier/web/src/ocsp.js';
import { parseCertificate, withFingerprint } from '../../verifier/web/src/x509.js';

const der = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
const certificate = async (b64) => withFingerprint(parseCertificate(der(b64)));
const results = [];
for (const c of JSON.parse(readFileSync(process.argv[2], 'utf8'))) {
  const anchors = await Promise.all(c.anchors.map(certificate));
  const crls = c.crls.map((b64) => parseCrl(der(b64)));
  const ocsp = (c.ocsp || []).map((b64) => parseOcsp(der(b64)).basic);
  const result = await checkSigner(await certificate(c.cert), c.when, anchors, [], crls, ocsp);
  results.push({ name: c.name, status: result.status, reason: result.reason });
}
process.stdout.write(JSON.stringify(results));
