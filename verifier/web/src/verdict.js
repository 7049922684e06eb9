/** The verdict rule (protocol/checks.py decide, PROTOCOL 7): every check in CHECK_ORDER, and
 * invalid > revoked > unknown > pending > valid_as_of > valid, with the check that decided it. */
import { CHECK_ORDER } from './protocol.gen.js';

export const PASSED = 'passed', FAILED = 'failed', SKIPPED = 'skipped', UNKNOWN = 'unknown';
// Runs of CHECK_ORDER, so the order is stated once.
export const ANCHORING_CHECKS = CHECK_ORDER.slice(CHECK_ORDER.indexOf('merkle_inclusion'), CHECK_ORDER.indexOf('anchor_time') + 1);
export const SIGNATURE_CHECKS = CHECK_ORDER.slice(CHECK_ORDER.indexOf('signature_binding'), CHECK_ORDER.indexOf('signature') + 1);

export const check = (name, outcome, detail, pending = false, extra = {}) => ({ name, outcome, detail, pending, ...extra });

/** invalid > revoked > unknown > pending > valid_as_of > valid, and the check that decided it
 * (none for valid_as_of and valid). A check marked `as_of` was decided only as of the bundle's
 * chain evidence (offline): then the verdict is never `valid`. */
export function decide(checks) {
  let revoked = null, unknown = null, pending = null, asOf = false;
  for (const c of checks) {
    asOf = asOf || c.as_of === true;
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
  if (asOf) return ['valid_as_of', null];
  return ['valid', null];
}

export function verdictOf(checks, facts, signer) {
  const [status, deciding] = decide(checks);
  return { status, failedCheck: deciding ? deciding.name : null, deciding, checks, facts, signer };
}
