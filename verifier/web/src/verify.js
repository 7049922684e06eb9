/** verify(document, bundle bytes, policy): every check of PROTOCOL 7 in the browser, as
 * verifier/verify.py runs them, with the same names, order, verdict rule and detail texts. */
import { equal, hex, sha256 } from './bytes.js';
import { FormatError, EvidenceError, SignatureProblem } from './errors.js';
import { loadBundle } from './bundle.js';
import { readChain } from './chain.js';
import {
  anchorTransaction, finality, headAnchored, merkleCheck, nodeAuthorised, notWithdrawn, revocationReasonLabel,
} from './checks.js';
import { verifyCmsDigest, verifyPkcs1 } from './cms.js';
import { checkSigner } from './jpki.js';
import { BundledRevocationError, checkBundledRevocation } from './signerrev.js';
import { documentLeafHash, revocationLeafHash } from './leaf.js';
import { evidenceChecks } from './offline.js';
import { CHECK_ORDER, CLOCK_SKEW_SECONDS, NOT_KNOWN_OFFLINE, REVOCATION_NOT_CHECKED } from './protocol.gen.js';
import { nodeStatus } from './revocations.js';
import { age, formatTime, pad6 } from './time.js';
import { ANCHORING_CHECKS, FAILED, PASSED, SIGNATURE_CHECKS, SKIPPED, UNKNOWN, check, verdictOf } from './verdict.js';
import { parseCertificate, withFingerprint } from './x509.js';
import { allowedCertificateKinds, issuerPolicy, signerSummary } from './signers.js';
import { requesterDisclosureCheck } from './requester.js';

/** `options.requesterDisclosure`: the holder's disclosure (requester.js loadDisclosure), checked
 * by requester_disclosure as verifier/verify.py does; without one that check is skipped. */
export async function verify(document, bundleBytes, policy, options = {}) {
  const digest = await sha256(document);
  let bundle;
  try {
    bundle = loadBundle(bundleBytes);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const checks = [check('bundle_format', FAILED, `not a valid proof bundle: ${e.message}`, false, { field: e.field })];
    for (const name of CHECK_ORDER.slice(1)) checks.push(check(name, SKIPPED, 'the bundle could not be read'));
    return verdictOf(checks, {}, null);
  }
  return new Run(policy, bundle, document, digest, options.requesterDisclosure || null).verdict();
}

/** verifier/policy.py anchors_for: a seal chains to the seal trust anchors (LGPKI CAs) only,
 * anything else to the J-LIS anchors only. */
export function anchorsFor(policy, cert) {
  return cert.kind === 'seal' ? policy.sealTrustAnchors || [] : policy.trustAnchors;
}
class Run {
  constructor(policy, bundle, document, digest, disclosure) {
    Object.assign(this, { policy, bundle, document, digest, disclosure });
    this.now = policy.now ?? Date.now() / 1000; // policy.now: a fixed clock (tests)
    this.checks = {};
    this.signer = null;
    this.signerFacts = null; // issuer_policy: the kind and a seal's identity
    this.requester = null;
  }
  add(name, outcome, detail, pending = false, extra = {}) { this.checks[name] = check(name, outcome, detail, pending, extra); }

  async verdict() {
    const b = this.bundle;
    this.add('bundle_format', PASSED, `proof bundle version ${b.version}, status ${b.status}`);
    await this.documentLeaf();
    const leaf = b.leaf;
    const [requester, requesterFacts] = await requesterDisclosureCheck(leaf, this.disclosure);
    this.checks.requester_disclosure = requester;
    this.requester = requesterFacts;
    const anchoring = await this.anchoring(leaf.leaf_hash, b.inclusion, b.head, b.anchor, leaf.lg_code,
      [['signing time', leaf.signing_time], ['issue time', leaf.issued_at]], b.evidence);
    Object.assign(this.checks, anchoring.checks);
    await this.signatureChecks();
    const revocationFacts = await this.documentRevocation();
    const verdict = verdictOf(CHECK_ORDER.map((n) => this.checks[n]), this.facts(anchoring.facts, revocationFacts, anchoring.evidence), this.signer);
    return { ...verdict, bundleSignature: b.signature.value }; // a sealed PDF compares its own (sealed.js)
  }

  async documentLeaf() {
    const leaf = this.bundle.leaf;
    const computed = await documentLeafHash(leaf, this.digest, this.bundle.signature.format);
    if (!equal(computed, leaf.leaf_hash)) {
      this.add('document_leaf', FAILED, `the document does not match this bundle: SHA-256 of the document, salt and leaf fields give leaf hash ${hex(computed)}, the bundle says ${hex(leaf.leaf_hash)} (a different or altered document, or altered leaf fields)`);
      return;
    }
    this.add('document_leaf', PASSED, `document SHA-256 ${hex(this.digest)} with the bundle's salt gives leaf hash ${hex(computed)}`);
  }

  async anchoring(leafHash, inclusion, head, anchor, lgCodeValue, notAfter, evidence = null) {
    const checks = {};
    const add = (name, outcome, detail, pending = false, extra = {}) => { checks[name] = check(name, outcome, detail, pending, extra); };
    const skipRest = (reason) => {
      for (const name of ANCHORING_CHECKS) if (!checks[name]) add(name, SKIPPED, reason);
      return { checks, facts: null };
    };
    if (!inclusion || !head || !anchor) {
      add('merkle_inclusion', UNKNOWN, 'the entry is not anchored yet (status pending): fetch the anchored bundle from the issuing node later', true);
      return skipRest('the entry is not anchored yet');
    }
    checks.merkle_inclusion = await merkleCheck(leafHash, inclusion, head);
    const policy = this.policy;
    if (anchor.chain_id === policy.chainId) add('chain_id', PASSED, `anchored on chain id ${anchor.chain_id}, as trusted`);
    else add('chain_id', FAILED, `the bundle's anchor is on chain id ${anchor.chain_id}, but this verifier trusts chain id ${policy.chainId} only`);
    if (anchor.registry.toLowerCase() === policy.registry.toLowerCase()) add('registry', PASSED, `registry ${anchor.registry}, as trusted`);
    else add('registry', FAILED, `the bundle names registry ${anchor.registry}, but this verifier trusts ${policy.registry} only (anyone can deploy a look-alike registry)`);
    if (checks.merkle_inclusion.outcome !== PASSED) return skipRest('the inclusion proof does not lead to the head, so the chain was not asked');
    if (checks.chain_id.outcome !== PASSED || checks.registry.outcome !== PASSED) return skipRest('the anchor is on a chain or registry this verifier does not trust');
    return this.chainChecks(checks, skipRest, head, anchor, lgCodeValue, notAfter, evidence);
  }

  /** Checks 6-11: from the chain, from the bundle's evidence (offline), or from both
   * (verifier/rules/anchoring.py _chain_checks). */
  async chainChecks(checks, skipRest, head, anchor, lgCodeValue, notAfter, evidence) {
    const policy = this.policy;
    const add = (name, outcome, detail, extra = {}) => { checks[name] = check(name, outcome, detail, false, extra); };
    const offline = evidence && policy.trustRoot
      ? await evidenceChecks(evidence, head, anchor, { lgCode: lgCodeValue, notAfter, trustRoot: policy.trustRoot, now: this.now })
      : null;
    let facts = null;
    if (!policy.offline) {
      try {
        facts = await readChain(policy, head, anchor);
      } catch (e) {
        if (!(e instanceof EvidenceError)) throw e;
        if (!offline) {
          add('head_anchored', UNKNOWN, `cannot read the chain: ${e.message}`, { evidence: 'chain' });
          return skipRest('no chain evidence (see head_anchored)');
        }
      }
    }
    if (facts === null) { // offline, or the chain is out of reach: the evidence decides
      if (!offline) {
        add('head_anchored', UNKNOWN, 'offline, and the bundle carries no chain evidence (a version-3 bundle does, once its anchor is final): verify online, or fetch the bundle again', { evidence: 'offline' });
        return skipRest('no chain evidence (see head_anchored)');
      }
      Object.assign(checks, offline.checks);
      return { checks, facts: null, evidence: offline.facts };
    }
    checks.head_anchored = headAnchored(facts, head, anchor);
    checks.anchor_transaction = anchorTransaction(facts, head, anchor, policy.registry);
    checks.head_not_withdrawn = notWithdrawn(facts);
    checks.node_authorised = nodeAuthorised(facts, anchor, lgCodeValue);
    if (checks.head_anchored.outcome === PASSED && checks.anchor_transaction.outcome === PASSED) {
      checks.finality = finality(facts, anchor);
      checks.anchor_time = this.anchorTime(facts, notAfter);
    } else {
      add('finality', SKIPPED, 'the anchor itself did not verify');
      add('anchor_time', SKIPPED, 'the anchor itself did not verify');
    }
    if (!offline) return { checks, facts };
    for (const [name, found] of Object.entries(offline.checks)) checks[name] = merged(checks[name], found);
    return { checks, facts, evidence: offline.facts };
  }

  anchorTime(facts, notAfter) {
    const record = facts.record;
    const anchored = record.timestamp;
    if (facts.block_timestamp !== null && facts.block_timestamp !== anchored) {
      return check('anchor_time', FAILED, `the registry recorded time ${formatTime(anchored)} but block ${record.block_number} has time ${formatTime(facts.block_timestamp)}: the endpoint's answers are inconsistent`);
    }
    if (anchored > this.now + CLOCK_SKEW_SECONDS) {
      return check('anchor_time', FAILED, `the anchor block's time ${formatTime(anchored)} is in the future (now is ${formatTime(Math.floor(this.now))}): the chain's clock or this one is wrong`);
    }
    for (const [what, seconds] of notAfter) {
      if (seconds > anchored + CLOCK_SKEW_SECONDS) {
        return check('anchor_time', FAILED, `the entry's ${what} ${formatTime(seconds)} is after the anchor time ${formatTime(anchored)}: an anchor cannot precede what it proves`);
      }
    }
    return check('anchor_time', PASSED, `anchored at ${formatTime(anchored)} (${age(this.now - anchored)} ago), block ${record.block_number}`);
  }

  async signatureChecks() {
    if (!this.policy.requireSignature) {
      for (const name of SIGNATURE_CHECKS) this.add(name, SKIPPED, 'the policy does not require the signature');
      return;
    }
    const { value, certificates } = this.bundle.signature;
    await this.signatureBinding(value, certificates[0]);
    let cert, others;
    try {
      cert = await withFingerprint(parseCertificate(certificates[0]));
      others = [];
      for (const der of certificates.slice(1)) others.push(await withFingerprint(parseCertificate(der)));
    } catch (e) {
      this.add('issuer_policy', SKIPPED, 'the signer certificate is unreadable');
      this.add('signer_certificate', FAILED, `a bundle certificate is unreadable: ${e.message}`, false, { kind: 'unreadable' });
      this.add('signature', SKIPPED, 'the signer certificate is unreadable');
      return;
    }
    this.signer = cert;
    const [policyCheck, signerFacts] = issuerPolicy(this.bundle.leaf, cert, this.policy);
    this.checks.issuer_policy = policyCheck;
    this.signerFacts = signerFacts;
    await this.signerCertificate(cert, others);
    await this.signature(value, cert);
  }

  async signatureBinding(signature, signerCertificate) {
    const leaf = this.bundle.leaf;
    const problems = [];
    if (!equal(await sha256(signature), leaf.signature_sha256)) problems.push('the signature is not the one recorded in the log entry (its SHA-256 differs from leaf.signature_sha256)');
    if (!equal(await sha256(signerCertificate), leaf.signer_sha256)) problems.push('signature.certificates[0] is not the signer certificate recorded in the log entry (its SHA-256 differs from leaf.signer_sha256)');
    if (problems.length) this.add('signature_binding', FAILED, problems.join('; '));
    else this.add('signature_binding', PASSED, 'the signature and signer certificate are the ones the log entry commits to');
  }

  async signerCertificate(cert, others) {
    // verifier/rules/signature.py signer_certificate: the certificate's purpose picks the anchor
    // set it must chain to; only the purposes the entry accepts pass (issuer_policy's table).
    const leaf = this.bundle.leaf;
    const anchors = anchorsFor(this.policy, cert);
    if (!anchors.length) {
      if (cert.kind === 'seal') this.add('signer_certificate', UNKNOWN, 'no municipal seal trust anchors are configured: give the LGPKI organisational CA certificates (seal_trust_anchors)', false, { kind: 'no_anchors' });
      else this.add('signer_certificate', UNKNOWN, 'no JPKI trust anchors are configured: give the J-LIS CA certificates of every generation (trust_anchors)', false, { kind: 'no_anchors' });
      return;
    }
    const accepted = allowedCertificateKinds(leaf, this.policy);
    // verifier/rules/signature.py: the bundle's revocation evidence must hold (it names the
    // blob that does not); the page's own CRLs decide when they can; else the bundle's
    // evidence decides, as of its issue.
    const when = leaf.signing_time;
    const carried = this.bundle.evidence ? this.bundle.evidence.signerRevocation : null;
    let bundled = null;
    if (carried) {
      try {
        bundled = await checkBundledRevocation(cert, [...anchors, ...others], when, carried.crls, carried.ocspResponses);
      } catch (e) {
        if (!(e instanceof BundledRevocationError)) throw e;
        this.add('signer_certificate', FAILED, `the signer's revocation evidence does not hold: ${e.field}: ${e.problem}`, false, { kind: 'signer_evidence' });
        return;
      }
    }
    if (!carried || this.policy.crls.length) {
      const own = await checkSigner(cert, when, anchors, others, this.policy.crls, [], accepted);
      if (!carried || own.status !== 'unknown') { this.judged(cert, when, own); return; }
    }
    const result = await checkSigner(cert, when, anchors, others, bundled.crls, bundled.ocsp, accepted);
    this.judged(cert, when, result, bundled.described.join(' and '));
  }

  judged(cert, when, result, carried = '') {
    const who = `${cert.kind === 'seal' ? 'municipal seal' : `JPKI ${cert.kind}`} certificate serial 0x${cert.serialHex}`;
    const at = formatTime(when);
    const source = carried ? ` (by the bundle's revocation evidence: ${carried})` : '';
    const extra = { kind: result.status };
    if (result.status === 'valid' && !carried) this.add('signer_certificate', PASSED, `${who} at the signing time ${at}: ${result.reason}`, false, extra);
    else if (result.status === 'valid') {
      this.add('signer_certificate', PASSED, `${who} at the signing time ${at}: ${result.reason}${source}; a revocation published after that evidence (a key compromise reaching back) is not known without the verifier's own revocation sources`, false, { ...extra, as_of: true });
    } else if (result.status === 'unknown') this.add('signer_certificate', UNKNOWN, `${who} at ${at}: ${result.reason}${source}`, false, extra);
    else this.add('signer_certificate', FAILED, `${who} is ${result.status.replace(/_/g, ' ')} at the signing time ${at}: ${result.reason}${source}`, false, extra);
  }

  async signature(signature, cert) {
    const leaf = this.bundle.leaf;
    let signed;
    try {
      if (this.bundle.signature.format === 'pkcs1') {
        await verifyPkcs1(signature, this.document, cert);
        this.add('signature', PASSED, 'RSA PKCS#1 v1.5 SHA-256 signature over the document verifies with the signer certificate');
        return;
      }
      signed = await verifyCmsDigest(signature, this.digest, [cert]);
    } catch (e) {
      if (!(e instanceof SignatureProblem)) throw e;
      this.add('signature', FAILED, e.message);
      return;
    }
    if (!equal(signed.signer.der, cert.der)) {
      this.add('signature', FAILED, `the CMS was signed by certificate serial 0x${signed.signer.serialHex}, not by signature.certificates[0]`);
    } else if (signed.signingTime === null) {
      this.add('signature', FAILED, 'the CMS has no signingTime attribute (card signatures carry one)');
    } else if (signed.signingTime !== leaf.signing_time) {
      this.add('signature', FAILED, `the CMS signingTime ${formatTime(signed.signingTime)} differs from the log entry's signing time ${formatTime(leaf.signing_time)}`);
    } else {
      this.add('signature', PASSED, "detached CMS SignedData over the document verifies (messageDigest is the document's SHA-256, signed by certificates[0])");
    }
  }

  async documentRevocation() {
    const bundle = this.bundle;
    const nodeUrl = this.policy.offline ? null : this.policy.nodeUrl;
    if (bundle.revocation) {
      const [c, facts] = await this.judgeRevocation(bundle.revocation, 'the bundle');
      if (c.outcome === FAILED || nodeUrl === null) { this.checks.document_revocation = c; return facts; }
    }
    if (nodeUrl === null) {
      if (this.policy.offline) {
        this.add('document_revocation', SKIPPED, NOT_KNOWN_OFFLINE, false, { as_of: true });
      } else if (this.policy.requireRevocationCheck === false) {
        this.add('document_revocation', SKIPPED, "not checked, by the policy's choice (require_revocation_check off): the bundle carries no revocation and no issuing node was asked, so a revoked document would pass");
      } else {
        this.add('document_revocation', UNKNOWN, REVOCATION_NOT_CHECKED, false, { evidence: 'no-node' });
      }
      return null;
    }
    let answer;
    try {
      answer = await nodeStatus(nodeUrl, bundle.leaf.leaf_hash);
    } catch (e) {
      if (!(e instanceof EvidenceError)) throw e;
      this.add('document_revocation', UNKNOWN, `cannot ask the issuing node: ${e.message}`, false, { evidence: 'node' });
      return null;
    }
    if (!answer.revoked) { this.add('document_revocation', PASSED, 'the issuing node reports no revocation'); return null; }
    if (!answer.revocation) {
      this.add('document_revocation', UNKNOWN, 'the issuing node reports this document revoked but sent no proof yet; verify again once the revocation is anchored', true);
      return null;
    }
    const [c, facts] = await this.judgeRevocation(answer.revocation, 'the issuing node');
    this.checks.document_revocation = c;
    return facts;
  }

  async judgeRevocation(section, source) {
    const entry = section.entry, leaf = this.bundle.leaf;
    const unknown = (detail, pending = false) => [check('document_revocation', UNKNOWN, detail, pending), null];
    if (!equal(entry.revoked_leaf_hash, leaf.leaf_hash)) return unknown(`the revocation from ${source} names entry ${hex(entry.revoked_leaf_hash)}, not this document's: it proves nothing about this document`);
    if (!equal(await revocationLeafHash(entry), section.leaf_hash)) return unknown(`the revocation entry from ${source} does not match its own leaf hash`);
    if (entry.lg_code !== leaf.lg_code) {
      return unknown(`a revocation by municipality ${pad6(entry.lg_code)} cannot revoke a document of municipality ${pad6(leaf.lg_code)}`);
    }
    if (section.status === 'pending') return unknown(`${source} holds a revocation of this document that is not anchored yet; verify again later`, true);
    const anchoring = await this.anchoring(section.leaf_hash, section.inclusion, section.head, section.anchor, leaf.lg_code, [['revocation time', entry.revoked_at]]);
    const problem = ANCHORING_CHECKS.map((n) => anchoring.checks[n]).find((c) => c.outcome === FAILED || c.outcome === UNKNOWN);
    if (problem) return unknown(`the revocation from ${source} does not verify (${problem.name}: ${problem.detail})`, problem.pending);
    const reason = revocationReasonLabel(entry.reason);
    const anchor = section.anchor;
    const facts = {
      source: source === 'the bundle' ? 'bundle' : 'node', reason, reason_code: entry.reason, revoked_at: entry.revoked_at,
      revocation_leaf_hash: hex(section.leaf_hash), tx_hash: '0x' + hex(anchor.tx_hash), block_number: anchor.block_number,
    };
    return [check('document_revocation', FAILED,
      `municipality ${pad6(entry.lg_code)} revoked this document at ${formatTime(entry.revoked_at)} (reason: ${reason}); the revocation is anchored in block ${anchor.block_number} (from ${source})`,
      false, { revocation: facts }), facts];
  }

  facts(chain, revocation, evidence) {
    const b = this.bundle, leaf = b.leaf, anchor = b.anchor;
    const record = chain ? chain.record : null;
    const node = chain && chain.node ? chain.node : evidence && evidence.node ? evidence.node : null;
    let confirmations = chain && anchor ? chain.latest_block - anchor.block_number : null;
    if (confirmations === null && evidence) confirmations = BigInt(evidence.confirmations);
    return {
      leaf_hash: hex(leaf.leaf_hash), lg_code: leaf.lg_code, document_type: leaf.document_type,
      issued_at: leaf.issued_at, signing_time: leaf.signing_time,
      chain_id: anchor ? anchor.chain_id : null, registry: anchor ? anchor.registry : null, node: anchor ? anchor.node : null,
      tx_hash: anchor ? '0x' + hex(anchor.tx_hash) : null, block_number: anchor ? anchor.block_number : null,
      anchored_at: record ? record.timestamp : evidence ? evidence.anchored_at : null,
      confirmations,
      municipality_name: node && node.lg_code === leaf.lg_code ? node.name : null,
      signer: this.signer ? {
        kind: this.signer.kind, serial: this.signer.serialHex, sha256: this.signer.sha256, issuer: this.signer.issuerText,
        ...signerSummary(this.signer, this.signerFacts), // signer_kind, description, a seal's identity
      } : null,
      entry_kind: leaf.kind, requester_committed: Boolean(leaf.requester_commitment), requester: this.requester,
      revocation,
      offline: Boolean(this.policy.offline),
      evidence: Boolean(b.evidence),
      as_of_block: evidence ? evidence.as_of_block : null,
      as_of_time: evidence ? evidence.as_of_time : null,
      timestamped_at: evidence ? evidence.timestamped_at : null,
      timestamp_present: evidence ? evidence.timestamp_present : false,
      timestamp_status: evidence ? evidence.timestamp_status : null,
    };
  }
}

/** An online check and the same check from the bundle's evidence (verifier/rules/anchoring.py
 * _merged): a failure of either fails it; else the chain's answer, which is current. */
function merged(online, fromEvidence) {
  if (online.outcome === FAILED) return online;
  if (fromEvidence.outcome === FAILED) return fromEvidence;
  if (online.outcome === PASSED) {
    return check(online.name, online.outcome, online.detail + (fromEvidence.outcome === PASSED ? '; the chain evidence agrees' : ''));
  }
  if (fromEvidence.outcome === PASSED) return fromEvidence;
  return online;
}
