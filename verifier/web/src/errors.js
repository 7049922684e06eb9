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
/** A bundle's chain evidence does not prove what it is offered for (protocol.errors
 * EvidenceError): `field` names the piece at fault (`evidence.receipt.proof[1]`). Unlike
 * EvidenceError (nothing to judge: unknown), this fails the check it attacks. */
export class ProofError extends Error {
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}
