// Builds the verification page: verifier/web/src/page.html with the page's ES modules bundled by
// esbuild into its one inline <script>, so the page stays one self-contained file that a node
// serves with a hash-based CSP (verifier/web/__init__.py). Deterministic: the same sources,
// lock file and options give the same bytes (tests/test_page_build.py rebuilds and compares).
//
//   node verifier/web/build.mjs [--out PATH]     (npm run build:page)
//
// The protocol constants (src/protocol.gen.js, generated from Python by devtools.page_constants)
// are not rewritten by esbuild: their lines open the script verbatim, without `export`, and the
// bundle reads them from there, so the shipped page shows them exactly as generated.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(WEB, '..', '..');
const SRC = join(WEB, 'src');
const TEMPLATE = join(SRC, 'page.html');
const PROTOCOL = join(SRC, 'protocol.gen.js');
const MARKER = '/*! @page-script: verifier/web/build.mjs puts the bundle of verifier/web/src here */';
const STATEMENT = /^export const ([A-Z][A-Z0-9_]*) = .*;(?: \/\/ .*)?$/;

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

/** The protocol constants as a classic-script prelude, and their names. */
function protocolPrelude() {
  const names = [];
  const lines = readFileSync(PROTOCOL, 'utf8').split('\n').map((line) => {
    if (line === '' || line.startsWith('//')) return line;
    const m = STATEMENT.exec(line);
    if (!m) fail(`${relative(ROOT, PROTOCOL)}: not a one-line constant: ${line}`);
    names.push(m[1]);
    return line.slice('export '.length);
  });
  const text = lines.join('\n').trimEnd() + `\nconst NOTARY_PROTOCOL = Object.freeze({ ${names.join(', ')} });\n`;
  return { text, names };
}

/** Imports of protocol.gen.js read the prelude's constants instead of a second copy. */
function protocolFromPrelude(names) {
  return {
    name: 'protocol-prelude',
    setup(build) {
      build.onResolve({ filter: /(^|\/)protocol\.gen\.js$/ }, () => ({ path: 'protocol.gen.js', namespace: 'protocol-prelude' }));
      build.onLoad({ filter: /.*/, namespace: 'protocol-prelude' }, () => ({
        contents: names.map((n) => `export const ${n} = NOTARY_PROTOCOL.${n};`).join('\n'),
        loader: 'js',
      }));
    },
  };
}

/** Name, version and licence text of every npm package that ended up in the bundle. */
function licences(metafile) {
  const packages = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (!m || packages.has(m[1])) continue;
    const folder = join(ROOT, input.slice(0, m.index + m[0].length));
    const meta = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
    let text = '';
    for (const name of ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license']) {
      try { text = readFileSync(join(folder, name), 'utf8'); break; } catch { /* next name */ }
    }
    if (!text) fail(`${meta.name} has no licence file`);
    packages.set(m[1], `${meta.name} ${meta.version} (${meta.license})\n\n${text.trim()}\n`);
  }
  const body = [...packages.keys()].sort().map((k) => packages.get(k)).join('\n----\n\n');
  if (body.includes('-->')) fail('a licence text would end the HTML comment');
  return `<!--\nThird-party software in this page's script (bundled by verifier/web/build.mjs):\n\n${body}-->\n`;
}

export async function buildPage() {
  const { text: prelude, names } = protocolPrelude();
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [join(SRC, 'main.js')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    charset: 'utf8',
    minify: true,
    legalComments: 'none', // the licences go, complete, into one comment after </html>
    metafile: true,
    logLevel: 'warning',
    plugins: [protocolFromPrelude(names)],
  });
  const bundle = result.outputFiles[0].text;
  for (const bad of ['</script', '<!--']) if (bundle.toLowerCase().includes(bad)) fail(`the bundle contains ${bad}`);
  const template = readFileSync(TEMPLATE, 'utf8');
  if (template.split(MARKER).length !== 2) fail(`${relative(ROOT, TEMPLATE)} must hold the marker once`);
  const script = `'use strict';\n${prelude}${bundle}`;
  return template.replace(MARKER, () => script) + licences(result.metafile);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out');
  const out = at > 0 ? resolve(process.argv[at + 1]) : join(WEB, 'verify.html');
  const page = await buildPage();
  writeFileSync(out, page);
  console.log(`${relative(process.cwd(), out) || out}: ${Buffer.byteLength(page)} bytes`);
}
