/** The sealed PDF on the page: read the container (pdf.js), then the usual verify(document,
 * bundle) on the signed bytes and the embedded bundle; the PDF's signature must be the one the
 * bundle records. And counter mode (窓口モード): the claim ticket's receipt id against the
 * document's. */
import { equal } from './bytes.js';
import { PdfError, readSealedPdf } from './pdf.js';
import { CHECK_ORDER } from './protocol.gen.js';
import { FAILED, SKIPPED, check, verdictOf } from './verdict.js';
import { verify } from './verify.js';

/** verify() for a sealed PDF: a container the page cannot accept is invalid at bundle_format
 * (the proof file cannot be had from it), naming why. */
export async function verifySealedPdf(pdfBytes, policy, options = {}) {
  let sealed;
  try {
    sealed = await readSealedPdf(pdfBytes);
  } catch (e) {
    if (!(e instanceof PdfError)) throw e;
    const checks = [check('bundle_format', FAILED, `not a valid sealed PDF: ${e.message}`, false, { field: 'pdf' })];
    for (const name of CHECK_ORDER.slice(1)) checks.push(check(name, SKIPPED, 'the sealed PDF could not be read'));
    return { ...verdictOf(checks, {}, null), sealed: null };
  }
  const verdict = await verify(sealed.document, sealed.bundle, policy, options);
  const result = { ...verdict, sealed: { byteRange: sealed.byteRange, documentBytes: sealed.document.length } };
  const binding = verdict.checks.find((c) => c.name === 'signature_binding');
  // The bundle's own signature value is what signature_binding and signature checked; the PDF's
  // signature must be that very CMS, or the bundle belongs to another signature of the bytes.
  if (verdict.facts && verdict.facts.leaf_hash && binding && binding.outcome !== SKIPPED && !equal(sealed.cms, verdict.bundleSignature || new Uint8Array())) {
    const checks = verdict.checks.map((c) => (c.name === 'signature_binding'
      ? check('signature_binding', FAILED, "the PDF's signature (/Contents) is not the signature the embedded proof file records")
      : c));
    return { ...verdictOf(checks, verdict.facts, verdict.signer), sealed: result.sealed };
  }
  return result;
}

// ---------------------------------------------------------------- counter mode (窓口モード)
/** A claim ticket's QR code says `notary-ticket:` and the receipt id: the leaf hash the node
 * returned to the issuing system (POST /v1/entries: "leaf_hash"), which the proof bundle carries
 * as leaf.leaf_hash. A scanner types it into the field; a bare 64-hex id is accepted too. */
export const TICKET_PREFIX = 'notary-ticket:';
export function parseTicket(text) {
  const value = String(text || '').trim();
  const body = value.toLowerCase().startsWith(TICKET_PREFIX) ? value.slice(TICKET_PREFIX.length) : value;
  if (!/^[0-9a-fA-F]{64}$/.test(body)) return null;
  return body.toLowerCase();
}
/** 'match' | 'mismatch' | 'unreadable' (the ticket) | 'no-document' (no receipt id to compare:
 * the proof file could not be read). */
export function compareTicket(ticketText, verdict) {
  const id = parseTicket(ticketText);
  if (id === null) return { outcome: 'unreadable', ticket: null, document: null };
  const leaf = verdict && verdict.facts ? verdict.facts.leaf_hash : null;
  if (!leaf) return { outcome: 'no-document', ticket: id, document: null };
  return { outcome: leaf === id ? 'match' : 'mismatch', ticket: id, document: leaf };
}
export const shortId = (id) => (id ? `${id.slice(0, 8)}…${id.slice(-4)}` : '—');
