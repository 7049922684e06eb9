/** The verdict rule (verifier/verify.py, PROTOCOL 7): every check in CHECK_ORDER, and
 * invalid > revoked > unknown > pending > valid, with the check that decided it. */
import { CHECK_ORDER } from './protocol.gen.js';

export const PASSED = 'passed', FAILED = 'failed', SKIPPED = 'skipped', UNKNOWN = 'unknown';
// Runs of CHECK_ORDER, so the order is stated once.
export const ANCHORING_CHECKS = CHECK_ORDER.slice(CHECK_ORDER.indexOf('merkle_inclusion'), CHECK_ORDER.indexOf('anchor_time') + 1);
export const SIGNATURE_CHECKS = CHECK_ORDER.slice(CHECK_ORDER.indexOf('signature_binding'), CHECK_ORDER.indexOf('signature') + 1);

export const check = (name, outcome, detail, pending = false, extra = {}) => ({ name, outcome, detail, pending, ...extra });

/** invalid > revoked > unknown > pending > valid, and the check that decided it. */
export function decide(checks) {
  let revoked = null, unknown = null, pending = null;
  for (const c of checks) {
    if (c.outcome === FAILED) {
      if (c.name !== 'document_revocation') return ['invalid', c];
      revoked = revoked || c;
    } else if (c.outcome === UNKNOWN) {
      if (c.pending) pending = pending || c; else unknown = unknown || c;
    }
  }
  if (revoked) return ['revoked', revoked];
  if (unknown) return ['unknown', unknown];
  if (pending) return ['pending', pending];
  return ['valid', null];
}

export function verdictOf(checks, facts, signer) {
  const [status, deciding] = decide(checks);
  return { status, failedCheck: deciding ? deciding.name : null, deciding, checks, facts, signer };
}
