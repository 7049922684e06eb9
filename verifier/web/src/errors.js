/** Error kinds the checks tell apart (verifier/errors.py): a bundle that breaks the format,
 * evidence that could not be had (a check becomes unknown, never valid), and broken DER or
 * signatures (a check fails). */

export class FormatError extends Error {
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}
/** Evidence outside the bundle could not be had: a check becomes unknown, never valid. */
export class EvidenceError extends Error {}
export class RpcError extends EvidenceError {}
export class WrongChainError extends EvidenceError {}
export class Asn1Error extends Error {}
export class SignatureProblem extends Error {}
