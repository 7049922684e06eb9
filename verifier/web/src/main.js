/* municipal-notary verification page: docs/PROTOCOL.md section 7, run entirely in the browser.
 *
 * The checks, their names, order and verdict rule are those of verifier/verify.py; messages
 * follow it closely so that the page and `notary verify` explain a verdict in the same words.
 * Nothing here sends the document anywhere: it is hashed with WebCrypto and only the bundle's
 * public values (a root, a transaction hash, a leaf hash) are looked up on the chain and at
 * the issuing node. Built into verify.html by verifier/web/build.mjs (docs/VERIFY_PAGE.md). */
import { start } from './ui.js';

start();
