/** The page: configuration, the two drop zones, and the verdict in plain Japanese and English.
 * No innerHTML anywhere: every text is data. */
import { toChecksumAddress } from './eip55.js';
import { policyFrom } from './policy.js';
import { formatTime, pad6 } from './time.js';
import { compareTicket, shortId, verifySealedPdf } from './sealed.js';
import { FormatError } from './errors.js';
import { loadDisclosure } from './requester.js';
import { verify } from './verify.js';
import { basicFourItems, formatName } from './x509.js';

const $ = (id) => document.getElementById(id);
const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;

const ICONS = {
  valid: 'M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z',
  invalid: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
  revoked: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM4 12a8 8 0 0 1 12.9-6.31L5.69 16.9A7.95 7.95 0 0 1 4 12zm8 8a7.95 7.95 0 0 1-4.9-1.69L18.31 7.1A8 8 0 0 1 12 20z',
  pending: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.25 3.15.75-1.23-4.5-2.67z',
  unknown: 'M11 18h2v-2h-2v2zm1-16a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm0-14a4 4 0 0 0-4 4h2a2 2 0 1 1 4 0c0 2-3 1.75-3 5h2c0-2.25 3-2.5 3-5a4 4 0 0 0-4-4z',
  skipped: 'M19 13H5v-2h14v2z',
  valid_as_of: 'M13 3a9 9 0 0 0-9 9H1l3.89 3.89.07.14L9 12H6c0-3.87 3.13-7 7-7s7 3.13 7 7-3.13 7-7 7c-1.93 0-3.68-.79-4.94-2.06l-1.42 1.42A8.954 8.954 0 0 0 13 21a9 9 0 0 0 0-18zm-1 5v5l4.28 2.54.72-1.21-3.5-2.08V8H12z',
};
const WORDS = {
  valid: ['有効', 'VALID'], invalid: ['無効', 'INVALID'], revoked: ['失効', 'REVOKED'],
  pending: ['確認中', 'PENDING'], unknown: ['判定不能', 'UNKNOWN'],
  // Never the word or colour of VALID: valid only as of the bundle's chain evidence (offline).
  valid_as_of: ['証拠時点で有効', 'VALID AS OF EVIDENCE'],
};
const CHECK_LABELS = {
  bundle_format: ['証明データの形式', 'Proof file format'],
  document_leaf: ['書類と証明データの一致', 'Document matches the proof'],
  requester_disclosure: ['申請者の開示', "Requester's disclosure"],
  merkle_inclusion: ['自治体の台帳への収録', "Included in the municipality's log"],
  chain_id: ['台帳ネットワーク', 'Ledger network (chain id)'],
  registry: ['登録簿コントラクト', 'Registry contract'],
  head_anchored: ['ブロックチェーンへの記録', 'Recorded on the blockchain'],
  anchor_transaction: ['記録トランザクション', 'Recording transaction'],
  head_not_withdrawn: ['記録の取消なし', 'Record not withdrawn'],
  node_authorised: ['発行自治体の登録', 'Issuing municipality authorised'],
  finality: ['記録の確定', 'Record is final'],
  anchor_time: ['記録時刻', 'Recording time'],
  signature_binding: ['署名と記録の対応', 'Signature is the recorded one'],
  issuer_policy: ['署名者の種類（公印・カード）', 'Who may sign it (seal or card)'],
  signer_certificate: ['署名者の電子証明書', "Signer's certificate (JPKI or seal)"],
  signature: ['電子署名', 'Electronic signature'],
  document_revocation: ['書類の失効確認', 'Document revocation'],
};
const OUTCOME_WORDS = {
  passed: ['合格', 'passed'], failed: ['不合格', 'failed'], unknown: ['未確定', 'undecided'], skipped: ['未実施', 'not run'],
};
const DOCUMENT_TYPES = {
  1: ['住民票の写し', 'copy of the resident record'],
  2: ['住民票記載事項証明書', 'certificate of resident-record items'],
  3: ['印鑑登録証明書', 'seal registration certificate'],
  4: ['所得証明書・課税証明書', 'income / tax assessment certificate'],
  5: ['納税証明書', 'tax payment certificate'],
  6: ['戸籍証明書', 'family register certificate'],
};
const REVOCATION_REASONS = {
  unspecified: ['理由の指定なし', 'no reason given'],
  issued_in_error: ['誤交付', 'issued in error'],
  superseded: ['再交付（新しい書類に置き換え）', 'replaced by a newly issued document'],
  withdrawn_by_issuer: ['発行者による取消', 'withdrawn by the issuer'],
  signer_key_compromise: ['署名鍵の漏えい', "the signer's key was compromised"],
};

// ---------------------------------------------------------------- DOM helpers (no innerHTML: every text is data)
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v; else if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}
const bilingual = (ja, en) => [el('span', { text: ja }), ' ', el('span', { class: 'en', lang: 'en', text: '/ ' + en })];
const para = (ja, en, attrs = {}) => [el('p', { ...attrs, text: ja }), el('p', { class: 'en', lang: 'en', text: en })];
const JST = new Intl.DateTimeFormat('ja-JP', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const jst = (seconds) => `${JST.format(new Date(Number(seconds) * 1000))}（日本時間 / JST）`;
const dateJst = (seconds) => `${JST.format(new Date(Number(seconds) * 1000)).split(' ')[0]} (JST)`;

// ---------------------------------------------------------------- configuration
const URL_SETTING_NAMES = ['rpc', 'rpc_url', 'chain_id', 'registry', 'node', 'node_url', 'finality_depth', 'trust_anchors', 'seal_trust_anchors', 'require_municipal_seal', 'crls', 'trust_root', 'offline'];
function readSettings() {
  const problems = [];
  let raw = {};
  try {
    raw = JSON.parse($('notary-config').textContent || '{}') || {};
  } catch (e) {
    problems.push('設定ブロック (notary-config) が JSON ではありません / the configuration block is not valid JSON');
  }
  // Only this block configures the page. Settings in the link (?node=, ?rpc=, ...) are
  // ignored: a link could otherwise send the page to a forger's node or registry.
  const ignored = [...new URLSearchParams(location.search).keys()].filter((k) => URL_SETTING_NAMES.includes(k));
  if (ignored.length) problems.push(`リンク（URL）に含まれる設定 ${ignored.join(', ')} は無視しました / settings in the link (${ignored.join(', ')}) were ignored: this page uses only its own configuration`);
  const pick = (key) => (raw[key] === undefined ? null : raw[key]);
  const settings = { rpc_urls: [], chain_id: null, registry: null, node_url: null, finality_depth: null, trust_anchors: [], seal_trust_anchors: [], require_municipal_seal: true, crls: [], trust_root: null, ignored };
  const root = pick('trust_root');
  if (root !== null) {
    if (typeof root === 'object' && !Array.isArray(root)) settings.trust_root = root;
    else problems.push('trust_root は trust-root.json の JSON オブジェクトです / must be the JSON object of trust-root.json');
  }
  const rpc = pick('rpc_url');
  for (const url of (Array.isArray(rpc) ? rpc : rpc === null ? [] : [rpc])) {
    if (typeof url === 'string' && /^https?:\/\/\S+$/.test(url)) settings.rpc_urls.push(url);
    else if (typeof url === 'string' && /^\/\S*$/.test(url)) settings.rpc_urls.push(new URL(url, location.href).href);
    else problems.push(`rpc_url ${JSON.stringify(url)} は http(s):// の URL ではありません / is not an http(s):// URL`);
  }
  const chain = pick('chain_id');
  if (chain !== null) {
    if (/^[1-9][0-9]{0,18}$/.test(String(chain))) settings.chain_id = BigInt(chain);
    else problems.push(`chain_id ${JSON.stringify(chain)} は正の整数ではありません / is not a positive integer`);
  }
  const registry = pick('registry');
  if (registry !== null) {
    const text = String(registry);
    if (/^0x[0-9a-fA-F]{40}$/.test(text) && (text === text.toLowerCase() || toChecksumAddress(text) === text)) settings.registry = toChecksumAddress(text);
    else problems.push(`registry ${JSON.stringify(registry)} はアドレスではありません / is not an address (or has a wrong EIP-55 checksum)`);
  }
  const node = pick('node_url');
  if (node !== null) {
    // "": the node serving this page; its folder, so that a reverse-proxy prefix still works
    if (node === '') settings.node_url = location.protocol.startsWith('http') ? new URL('.', location.href).href.replace(/\/+$/, '') : null;
    else if (typeof node === 'string' && /^https?:\/\/\S+$/.test(node)) settings.node_url = node.replace(/\/+$/, '');
    else problems.push(`node_url ${JSON.stringify(node)} は http(s):// の URL ではありません / is not an http(s):// URL`);
  }
  if (settings.node_url === null && settings.rpc_urls.length) problems.push('node_url が設定されていません。失効を確認できないため、「有効」とは判定しません / no node_url is configured: revocation cannot be checked, so no document is shown as valid');
  if (settings.trust_root && !settings.rpc_urls.length) problems.push('台帳の接続先がないため、ネットワークを使わずに証明データ内の証拠で検証します。結果は最善でも「証拠時点で有効」です / no rpc_url: the page verifies offline, from the chain evidence in the proof file; the best result is "valid as of the evidence", never "valid"');
  const depth = pick('finality_depth');
  if (depth !== null) {
    if (/^[0-9]{1,6}$/.test(String(depth))) settings.finality_depth = Number(depth);
    else problems.push('finality_depth は 0 以上の整数です / must be a non-negative integer');
  }
  settings.trust_anchors = Array.isArray(raw.trust_anchors) ? raw.trust_anchors.filter((t) => typeof t === 'string') : [];
  settings.seal_trust_anchors = Array.isArray(raw.seal_trust_anchors) ? raw.seal_trust_anchors.filter((t) => typeof t === 'string') : [];
  // Only an explicit false turns the seal rule off (pre-seal bundles, --accept-unsealed).
  settings.require_municipal_seal = raw.require_municipal_seal !== false;
  if (!settings.require_municipal_seal) problems.push('require_municipal_seal が off です。公印のない旧形式（版1・2）の証明書も受け付けます / require_municipal_seal is off: pre-seal (version-1 or -2) documents signed with a My Number card are accepted without the municipal seal');
  settings.crls = Array.isArray(raw.crls) ? raw.crls.filter((t) => typeof t === 'string') : [];
  const missing = [];
  if (!settings.trust_root) { // a trust root names the chain and registry, and allows offline use
    if (!settings.rpc_urls.length) missing.push('rpc_url');
    if (settings.chain_id === null) missing.push('chain_id');
    if (settings.registry === null) missing.push('registry');
  }
  return { settings, problems, missing };
}

const state = { sealed: null, documentFile: null, bundleFile: null, run: 0, result: null, policy: null, settings: null, blocked: null, ready: null, offline: false };

async function setUp() {
  const { settings, problems, missing } = readSettings();
  state.settings = settings;
  if (!globalThis.crypto || !crypto.subtle) {
    state.blocked = ['このページは https:// で開く必要があります（暗号機能が使えません）。', 'Open this page over https:// (the browser offers no WebCrypto here).'];
  } else if (missing.length) {
    state.blocked = [`このページは設定されていません（${missing.join(', ')} がありません）。IT担当者に連絡してください。`, `This page is not configured (${missing.join(', ')} missing). Contact your IT department.`];
  }
  let policyProblems = [];
  if (!state.blocked) {
    try {
      const built = await policyFrom(settings);
      state.policy = built.policy;
      policyProblems = built.problems;
    } catch (e) {
      console.error(e);
      state.blocked = ['このページの設定を読み込めませんでした。IT担当者に連絡してください。', `The configuration of this page could not be loaded (${e.message}). Contact your IT department.`];
    }
  }
  if (state.policy) {
    state.offline = state.policy.offline;
    // Online and offline both possible: the clerk may choose no network at all.
    $('mode').hidden = !(state.policy.trustRoot && state.policy.rpcUrls.length);
    $('offline-mode').checked = state.offline;
  }
  const notice = $('config-notice');
  const lines = [...problems, ...policyProblems];
  if (state.blocked || lines.length) {
    notice.hidden = false;
    notice.classList.toggle('error', Boolean(state.blocked));
    notice.replaceChildren(...(state.blocked ? para(state.blocked[0], state.blocked[1]) : []), ...lines.map((l) => el('p', { class: 'mono', text: l })));
  }
  renderSettings();
}

function renderSettings() {
  const s = state.settings, p = state.policy;
  const rows = [
    [['台帳の接続先', 'Ledger endpoint (JSON-RPC)'], s.rpc_urls.join(', ') || '—'],
    [['チェーンID', 'Chain id'], s.chain_id === null ? '—' : String(s.chain_id)],
    [['登録簿', 'Registry'], s.registry || '—'],
    [['失効の問い合わせ先', 'Revocation status from'], s.node_url || 'なし / none'],
    [['認証局（J-LIS）', 'Trust anchors (J-LIS CAs)'], p ? p.trustAnchors.map((a) => `${formatName(a.subject)} (SHA-256 ${a.sha256.slice(0, 16)}…)`).join('\n') || 'なし / none' : '—'],
    [['認証局（LGPKI・公印）', 'Trust anchors for municipal seals (LGPKI CAs)'], p ? p.sealTrustAnchors.map((a) => `${formatName(a.subject)} (SHA-256 ${a.sha256.slice(0, 16)}…)`).join('\n') || 'なし / none' : '—'],
    [['失効リスト（CRL）', 'Certificate revocation lists'], p ? `${p.crls.length}` : '—'],
    [['確定に必要なブロック数', 'Finality depth'], s.finality_depth === null ? 'チェーンに問い合わせ / ask the chain' : String(s.finality_depth)],
    [['信頼ルート', 'Trust root'], p && p.trustRoot ? trustRootText(p.trustRoot) : 'なし / none'],
    [['検証の方法', 'Verification mode'], p && p.trustRoot && (state.offline || !p.rpcUrls.length) ? 'オフライン（証明データ内の証拠） / offline (the proof file\'s chain evidence)' : 'オンライン（台帳に問い合わせ） / online (asks the ledger)'],
  ];
  if (s.ignored.length) rows.push([['無視したリンクの設定', 'Settings in the link (ignored)'], s.ignored.join(', ')]);
  $('settings').replaceChildren(...rows.flatMap(([label, value]) => [el('dt', {}, ...bilingual(label[0], label[1])), el('dd', { class: 'mono', text: value })]));
}

function trustRootText(root) {
  const last = root.signerSets[root.signerSets.length - 1];
  return [`chain id ${root.chainId}, registry ${root.registry}`,
    `${root.signerSets.length} 署名者セット / signer set(s); 最新 / latest: ${last.signers.size} signers from block ${last.block}`,
    `TSA ${root.tsaAnchors.length}, J-LIS ${root.jpkiAnchors.length}, LGPKI ${root.sealAnchors.length}${root.asOfBlock !== null ? `, as of block ${root.asOfBlock}` : ''}`].join('\n');
}

// ---------------------------------------------------------------- files
function chooseFile(kind, file) {
  if (!file) return;
  state[kind === 'document' ? 'documentFile' : 'bundleFile'] = file;
  const zone = $(kind === 'document' ? 'drop-document' : 'drop-bundle');
  zone.classList.add('filled');
  $(kind === 'document' ? 'document-name' : 'bundle-name').textContent = `✓ ${file.name}（${file.size.toLocaleString('ja-JP')} バイト / bytes）`;
  if (kind === 'document') state.sealed = null;
  runIfReady();
}
/** Both files, or a sealed PDF alone (a PDF that names embedded files: then the page reads the
 * proof file from inside it, and any fault of the container is a verdict, never a wait). */
async function runIfReady() {
  if (!state.documentFile) return;
  if (state.bundleFile) { run(); return; }
  const file = state.documentFile;
  if (file.size > MAX_DOCUMENT_BYTES) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (file !== state.documentFile || state.bundleFile) return;
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 5));
  const claimsSealed = head === '%PDF-' && new TextDecoder('latin1').decode(bytes).includes('/EmbeddedFiles');
  state.sealed = claimsSealed;
  if (claimsSealed) run();
}
function sealedPending() { return state.documentFile && !state.bundleFile && state.sealed; }
function wireZone(kind) {
  const zone = $(kind === 'document' ? 'drop-document' : 'drop-bundle');
  const input = $(kind === 'document' ? 'document-input' : 'bundle-input');
  input.addEventListener('change', () => chooseFile(kind, input.files[0]));
  zone.addEventListener('dragover', (e) => { e.preventDefault(); e.stopPropagation(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault(); e.stopPropagation();
    zone.classList.remove('dragging');
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (files.length === 2) dropBoth(files); else chooseFile(kind, files[0]);
  });
}
function dropBoth(files) { // both files dropped at once: the .json one is the proof
  const bundle = files.find((f) => /\.json$/i.test(f.name)) || files[1];
  chooseFile('bundle', bundle);
  chooseFile('document', files.find((f) => f !== bundle));
}

// ---------------------------------------------------------------- the requester disclosure (optional)
/** The disclosure pasted (or loaded from a file) into box ③: none, a parsed one, or why it
 * cannot be read (then no verdict: as `notary verify --requester-disclosure` refuses the file). */
function readDisclosure() {
  const text = $('disclosure-text').value.trim();
  if (!text) return { value: null, problem: null };
  try {
    return { value: loadDisclosure(text), problem: null };
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    return { value: null, problem: e.message };
  }
}
function rerunIfReady() { if (state.documentFile && (state.bundleFile || sealedPending())) run(); }
function renderRequester(result) {
  const line = $('verdict-requester');
  const requester = result.facts && result.facts.requester;
  if (!requester) { line.hidden = true; line.removeAttribute('data-card-serial'); return; }
  line.dataset.cardSerial = requester.card_serial;
  line.replaceChildren(...bilingual(`申請者: カードの署名用電子証明書 シリアル番号 0x${requester.card_serial}`,
    `Requested with the card certificate serial 0x${requester.card_serial}`));
  line.hidden = false;
}

// ---------------------------------------------------------------- running
async function run() {
  const id = ++state.run;
  await state.ready; // files chosen before the configuration was read wait for it
  if (id !== state.run) return;
  const verdict = $('verdict');
  verdict.removeAttribute('data-verdict');
  verdict.removeAttribute('data-failed-check');
  verdict.dataset.state = 'running';
  $('verdict-icon').replaceChildren(el('div', { class: 'spinner' }));
  $('verdict-word').replaceChildren(el('span', { class: 'progress' }, ...bilingual('確認しています…', 'Checking…')));
  $('verdict-sub').textContent = '';
  for (const idName of ['verdict-reason', 'verdict-advice', 'verdict-requester', 'actions', 'facts-panel', 'signer-panel', 'checks-panel']) $(idName).hidden = true;
  hideSigner();
  let result;
  try {
    if (state.blocked) {
      result = { status: 'unknown', failedCheck: 'configuration', deciding: { name: 'configuration', outcome: 'unknown', detail: state.blocked[1] }, checks: [], facts: {}, signer: null, blocked: state.blocked };
    } else if (state.documentFile.size > MAX_DOCUMENT_BYTES) {
      result = { status: 'unknown', failedCheck: 'document_size', deciding: { name: 'document_size', outcome: 'unknown', detail: 'document too large' }, checks: [], facts: {}, signer: null };
    } else {
      const policy = state.policy.trustRoot ? { ...state.policy, offline: state.offline || !state.policy.rpcUrls.length } : state.policy;
      const disclosure = readDisclosure(); // the holder's requester disclosure, if given
      if (disclosure.problem) {
        result = { status: 'unknown', failedCheck: 'disclosure_input', deciding: { name: 'disclosure_input', outcome: 'unknown', detail: disclosure.problem }, checks: [], facts: {}, signer: null };
      } else if (state.bundleFile) {
        const [documentBytes, bundleBytes] = await Promise.all([state.documentFile.arrayBuffer(), state.bundleFile.arrayBuffer()]);
        result = await verify(new Uint8Array(documentBytes), new Uint8Array(bundleBytes), policy, { requesterDisclosure: disclosure.value });
      } else { // a sealed PDF: the proof file is inside it
        result = await verifySealedPdf(new Uint8Array(await state.documentFile.arrayBuffer()), policy, { requesterDisclosure: disclosure.value });
      }
    }
  } catch (e) { // a bug or a browser failure must never look like a verdict on the document
    console.error(e);
    result = { status: 'unknown', failedCheck: 'internal', deciding: { name: 'internal', outcome: 'unknown', detail: String(e && e.message || e) }, checks: [], facts: {}, signer: null };
  }
  if (id !== state.run) return; // the files changed meanwhile
  state.result = result;
  render(result);
}

// ---------------------------------------------------------------- plain words
const EVENT_WORDS = { 1: ['ログインの記録', 'login event'], 2: ['電子署名の記録', 'electronic signature event'] };
/** The entry's type in words: an event's type code names the event, not a document type. */
function entryType(facts) {
  if (facts.entry_kind === 'event') return EVENT_WORDS[facts.document_type] || [`記録（種別 ${facts.document_type}）`, `event (type ${facts.document_type})`];
  return documentType(facts.document_type);
}
function documentType(code) {
  if (code === undefined || code === null) return ['書類', 'document'];
  return DOCUMENT_TYPES[code] || [`書類（種別 ${code}）`, `document (type ${code})`];
}
function reasonWords(label) { return REVOCATION_REASONS[label] || [label, label]; }
function explain(result) {
  const d = result.deciding;
  const f = result.facts || {};
  const [docJa, docEn] = entryType(f);
  const by = f.lg_code ? `自治体コード ${pad6(f.lg_code)}${f.municipality_name ? `（${f.municipality_name}）` : ''}` : '自治体';
  switch (result.status) {
    case 'valid': return {
      sub: ['この書類は有効です', 'This document is valid'],
      reason: [`この${docJa}は、${by}が登録した内容から変更されておらず、電子署名も有効です。`,
        `This ${docEn} is exactly the one the municipality registered, and its electronic signature is valid.`],
    };
    case 'valid_as_of': {
      const block = f.as_of_block !== null && f.as_of_block !== undefined ? String(f.as_of_block) : '?';
      const when = f.as_of_time !== null && f.as_of_time !== undefined ? jst(f.as_of_time) : '';
      const whenEn = f.as_of_time !== null && f.as_of_time !== undefined ? new Date(Number(f.as_of_time) * 1000).toISOString().replace(/\.000Z$/, 'Z') : '';
      return {
        sub: [`ブロック ${block}（${when}）の時点の証拠では有効です`, `Valid as of the evidence: block ${block}${whenEn ? ` (${whenEn})` : ''}`],
        reason: [`この${docJa}は${by}が登録した内容から変更されておらず、電子署名も有効です。ただし、ネットワークを使わずに証明データ内の証拠で確認したため、その時点より後のこと（記録の取消、書類の失効）は分かりません。`,
          `This ${docEn} is exactly the one the municipality registered and its signature is valid, checked offline from the proof file's ledger evidence. What happened after that block is not known: a withdrawal of the record, or a revocation of the document.`],
        advice: ['オフラインの証拠による判定です。受け付けてよいかは業務の規程に従ってください。失効していないことを確かめるには、ネットワークに接続して（オンラインで）もう一度確認してください。',
          'This is a decision from offline evidence. Accept it only if your procedures allow that; to rule out a later revocation, verify again online.'],
      };
    }
    case 'revoked': {
      const r = (d.revocation || {});
      const [ja, en] = reasonWords(r.reason);
      const when = r.revoked_at ? dateJst(r.revoked_at) : '';
      return {
        sub: ['この書類は失効しています', 'This document has been revoked'],
        reason: [`発行した自治体がこの書類を失効させました（理由: ${ja}${when ? `、${when}` : ''}）。`,
          `The issuing municipality revoked this document (reason: ${en}${when ? `, on ${when}` : ''}).`],
        advice: ['この書類は受け付けないでください。新しく発行された書類の提出を求めてください。', 'Do not accept this document. Ask for a newly issued one.'],
      };
    }
    case 'pending': return {
      sub: ['確認が完了していません', 'The check is not complete yet'],
      reason: d.name === 'merkle_inclusion'
        ? ['この書類はまだ台帳に記録されていません。しばらくしてから、発行元から新しい証明データを受け取ってください。', 'The document is not recorded on the ledger yet. Get an updated proof file from the issuer later.']
        : d.name === 'document_revocation'
          ? ['発行した自治体がこの書類の失効手続き中です。確定までしばらくお待ちください。', 'The issuing municipality is revoking this document; the revocation is not final yet.']
          : ['台帳への記録が確定するのを待っています。数分後に「もう一度確認する」を押してください。', 'The ledger record is not final yet. Press "Verify again" in a few minutes.'],
      advice: ['確認が完了するまで、この書類を受け付けないでください。', 'Do not accept the document until the check is complete.'],
    };
    case 'unknown': return {
      sub: ['判定できませんでした', 'No decision was possible'],
      reason: unknownReason(result),
      advice: ['これは書類が無効という意味ではありません。時間をおいてもう一度確認するか、IT担当者に連絡してください。', 'This does not mean the document is invalid. Try again later or contact your IT department.'],
    };
    default: return {
      sub: ['この書類は無効です', 'This document is NOT valid'],
      reason: invalidReason(d),
      advice: ['この書類は受け付けないでください。提出した方に確認するか、発行した自治体に問い合わせてください。', 'Do not accept this document. Ask the person who submitted it, or contact the issuing municipality.'],
    };
  }
}
function invalidReason(d) {
  switch (d.name) {
    case 'bundle_format': return ['証明データ（bundle.json）が壊れているか、証明データではありません。', 'The proof file (bundle.json) is damaged or is not a proof file.'];
    case 'document_leaf': return ['この書類は登録された書類と一致しません。登録後に変更されたか、別の書類です。', 'The document does not match the registered one: it was changed after it was registered, or it is a different document.'];
    case 'merkle_inclusion': return ['証明データの内容が改ざんされているか、壊れています。', 'The proof file has been altered or is damaged.'];
    case 'chain_id': case 'registry': return ['証明データが、このページが信頼していない台帳を指しています。', 'The proof points to a ledger this page does not trust.'];
    case 'head_not_withdrawn': return ['この記録は、管理機関によって取り消されています（鍵の漏えいなど）。', 'The consortium withdrew this record (for example after a key was compromised).'];
    case 'node_authorised': return ['記録したシステムは、その時点で正式に登録された自治体のものではありませんでした。', 'The system that recorded it was not an authorised municipal node at that time.'];
    case 'signature_binding': return ['電子署名が、登録された署名と一致しません。', 'The electronic signature is not the one that was registered.'];
    case 'requester_disclosure': return ['申請者の開示情報が、この書類の申請者と一致しません（別の書類のものです）。', "The requester's disclosure does not belong to this document."];
    case 'issuer_policy': return ({
      seal_municipality: ['この書類の公印は、発行した自治体のものではありません。', "The seal on this document is another municipality's."],
      no_signer_kind: ['署名者の電子証明書は、マイナンバーカードの証明書でも自治体の公印でもありません。', "The signer's certificate is neither a My Number card certificate nor a municipal seal."],
    })[d.kind] || ['この種類の書類には自治体の公印が必要です（個人のカードなど、この書類に署名できない証明書で署名されています）。', 'This kind of document must carry the municipal seal (it was signed with a certificate that may not sign it, such as a personal card).'];
    case 'signature': return ['電子署名が書類と一致しません。署名の後に書類が変更された可能性があります。', 'The electronic signature does not match the document: it may have been changed after signing.'];
    case 'signer_certificate': return ({
      revoked: ['署名者の電子証明書は、署名した時点で失効していました。', "The signer's certificate had been revoked when the document was signed."],
      expired: ['署名者の電子証明書は、署名した時点で有効期限が切れていました。', "The signer's certificate had expired when the document was signed."],
      not_yet_valid: ['署名した時点で、署名者の電子証明書はまだ有効になっていませんでした。', "The signer's certificate was not yet valid when the document was signed."],
      untrusted: ['署名者の電子証明書は、信頼できる認証局（J-LIS・LGPKI）が発行したものではありません。', "The signer's certificate was not issued by a trusted authority (J-LIS, or LGPKI for a seal)."],
      signer_evidence: ['証明データに含まれる署名者の失効情報（CRL・OCSP）が、改ざんされているか、署名者の認証局のものではありません。', "The signer's revocation evidence in the proof file was altered, or is not from the signer's CA."],
    })[d.kind] || ['署名者の電子証明書が、署名用電子証明書の要件を満たしていません。', "The signer's certificate is not a valid JPKI signature certificate."];
    default: return ['証明データの内容が台帳（ブロックチェーン）の記録と一致しません。', 'The proof does not match the record on the ledger (blockchain).'];
  }
}
function unknownReason(result) {
  const d = result.deciding;
  if (result.blocked) return result.blocked;
  if (d.name === 'internal') return ['確認中に予期しないエラーが起きました。', 'An unexpected error stopped the check.'];
  if (d.name === 'disclosure_input') return ['申請者の開示情報（JSON）を読み取れません。ファイルを確かめてください。', `The requester disclosure cannot be read (${d.detail}). Check the file.`];
  if (d.name === 'document_size') return ['書類のファイルが大きすぎて、このページでは確認できません。', 'The document file is too large to check in this page.'];
  if (d.evidence === 'offline') return ['ネットワークを使わない検証ですが、この証明データには台帳の証拠が含まれていません（バージョン3の証明データが必要です）。', 'Offline verification, but this proof file carries no ledger evidence (a version-3 proof file does).'];
  if (d.evidence === 'chain') return ['台帳（ブロックチェーン）に接続できないため、判定できません。', 'The ledger (blockchain) cannot be reached, so no decision is possible.'];
  if (d.evidence === 'node') return ['発行した自治体に失効の有無を問い合わせできませんでした。', 'The issuing municipality could not be asked whether the document was revoked.'];
  if (d.evidence === 'no-node') return ['この書類が失効していないかを確認できません。このページに発行元（自治体）への問い合わせ先が設定されていないため、失効した書類を見分けられません。', 'Whether the document was revoked cannot be checked: this page has no issuing node configured to ask, so a revoked document could not be told apart.'];
  if (d.name === 'signer_certificate') {
    return d.kind === 'no_anchors'
      ? ['このページに署名者の認証局（J-LIS、公印は LGPKI）の証明書が設定されていません。', "This page has no CA certificates configured for the signer (J-LIS, or LGPKI for a municipal seal)."]
      : ['署名者の電子証明書の失効情報（CRL）がないため、判定できません。', "No revocation list (CRL) covers the signer's certificate, so it cannot be checked."];
  }
  if (d.name === 'document_revocation') return ['失効の情報を確認できませんでした。', 'The revocation information could not be verified.'];
  return ['必要な情報を確認できなかったため、判定できません。', 'Some evidence could not be obtained, so no decision is possible.'];
}

// ---------------------------------------------------------------- rendering
function render(result) {
  const verdict = $('verdict');
  const words = WORDS[result.status];
  const text = explain(result);
  verdict.dataset.state = 'done';
  verdict.dataset.verdict = result.status;
  if (result.failedCheck) verdict.dataset.failedCheck = result.failedCheck; else verdict.removeAttribute('data-failed-check');
  $('verdict-icon').replaceChildren(icon(result.status));
  $('verdict-word').replaceChildren(el('span', { text: words[0] }), el('span', { class: 'en', lang: 'en', text: words[1] }));
  $('verdict-sub').replaceChildren(...bilingual(text.sub[0], text.sub[1]));
  const reason = $('verdict-reason');
  reason.replaceChildren(...para(text.reason[0], text.reason[1]));
  reason.dataset.check = result.failedCheck || '';
  reason.hidden = false;
  const advice = $('verdict-advice');
  const adviceLines = text.advice ? [...para(text.advice[0], text.advice[1])] : [];
  const revocationCheck = result.checks.find((c) => c.name === 'document_revocation');
  if (result.status === 'valid' && revocationCheck && revocationCheck.outcome === 'skipped') {
    adviceLines.push(...para('注意: 発行元への失効の問い合わせは行っていません（設定されていません）。', 'Note: the issuer was not asked whether the document was revoked (not configured).'));
  }
  advice.replaceChildren(...adviceLines);
  advice.hidden = !adviceLines.length;
  $('actions').hidden = false;
  renderFacts(result);
  renderChecks(result);
  renderSignerKind(result);
  renderRequester(result);
  renderTicket();
  $('signer-panel').hidden = !result.signer;
  verdict.focus({ preventScroll: false });
}

function renderFacts(result) {
  const f = result.facts || {};
  if (f.leaf_hash === undefined) { $('facts-panel').hidden = true; return; }
  const rows = [];
  const add = (ja, en, value, mono = false) => rows.push(el('dt', {}, ...bilingual(ja, en)), el('dd', { class: mono ? 'mono' : null, text: value }));
  const [docJa, docEn] = entryType(f);
  add('書類の種類', 'Document type', `${docJa} / ${docEn}`);
  add('発行自治体', 'Issuing municipality', `自治体コード / code ${pad6(f.lg_code)}${f.municipality_name ? `\u3000${f.municipality_name}` : ''}`);
  add('発行日時', 'Issued at', jst(f.issued_at));
  add('署名日時', 'Signed at', jst(f.signing_time));
  if (f.anchored_at !== null && f.anchored_at !== undefined) add('台帳への記録日時', 'Recorded on the ledger at', jst(f.anchored_at));
  if (f.block_number !== null && f.block_number !== undefined) {
    const conf = f.confirmations !== null && f.confirmations !== undefined ? `（その後 ${f.confirmations} ブロック / ${f.confirmations} blocks since）` : '';
    add('ブロック番号', 'Block number', `${f.block_number}${conf}`);
  }
  if (f.as_of_block !== null && f.as_of_block !== undefined) {
    add('証拠の時点', 'Evidence as of', `ブロック / block ${f.as_of_block}${f.as_of_time !== null ? `\u3000${jst(f.as_of_time)}` : ''}`);
    if (result.status === 'valid_as_of') add('オフラインでは不明', 'Not known offline', 'その後の記録の取消・書類の失効 / a later withdrawal of the record or revocation of the document');
  }
  if (f.timestamped_at !== null && f.timestamped_at !== undefined) {
    add('タイムスタンプ（RFC 3161）', 'Timestamp token (RFC 3161)', `${jst(f.timestamped_at)}（信頼ルートのTSAが確認 / by a TSA of the trust root）`);
  } else if (f.timestamp_present) {
    add('タイムスタンプ（RFC 3161）', 'Timestamp token (RFC 3161)', f.timestamp_status === 'failed'
      ? 'あり、無効（anchor_time を参照） / present, not valid (see anchor_time)'
      : 'あり、未検証：信頼ルートにTSAなし / present, not checked: the trust root names no TSA');
  }
  if (f.revocation) {
    const [ja, en] = reasonWords(f.revocation.reason);
    add('失効', 'Revoked', `${jst(f.revocation.revoked_at)} — ${ja} / ${en}`);
  }
  if (f.chain_id !== null && f.chain_id !== undefined) add('チェーンID', 'Chain id', String(f.chain_id), true);
  if (f.tx_hash) add('記録トランザクション', 'Transaction', f.tx_hash, true);
  add('台帳上の識別子', 'Leaf hash', f.leaf_hash, true);
  if (f.signer && f.signer.signer_kind) add('署名に使われた証明書', 'Signed with', signerKindText(f.signer).join(' / '));
  if (f.signer) add('署名者の証明書（シリアル番号）', "Signer's certificate serial", `0x${f.signer.serial}`, true);
  if (result.sealed) add('封印PDF', 'Sealed PDF', `署名された範囲 ${result.sealed.documentBytes.toLocaleString('ja-JP')} バイト / ${result.sealed.documentBytes} signed bytes; 証明データはPDF内 / proof file inside the PDF`);
  $('facts').replaceChildren(...rows);
  // Unless the verdict is valid or revoked, these are the proof file's claims, not facts.
  const confirmed = result.status === 'valid' || result.status === 'revoked';
  $('facts-title').replaceChildren(...(confirmed
    ? bilingual('書類の登録情報', 'Registration details')
    : result.status === 'valid_as_of'
      ? bilingual('書類の登録情報（証拠の時点）', 'Registration details (as of the evidence)')
      : bilingual('証明データに書かれた内容（未確認）', 'What the proof file states (not confirmed)')));
  $('facts-panel').hidden = false;
}

function renderChecks(result) {
  if (!result.checks.length) { $('checks-panel').hidden = true; return; }
  const items = result.checks.map((c) => {
    const [ja, en] = CHECK_LABELS[c.name] || [c.name, c.name];
    const [oja, oen] = OUTCOME_WORDS[c.outcome];
    const mark = el('span', { class: 'mark', 'aria-hidden': 'true' });
    mark.append(icon(c.outcome === 'passed' ? 'valid' : c.outcome === 'failed' ? 'invalid' : c.outcome === 'unknown' ? 'unknown' : 'skipped'));
    return el('li', { 'data-check': c.name, 'data-outcome': c.outcome },
      mark,
      el('div', {}, el('span', { class: 'title', text: `${ja} / ${en}` }), el('span', { class: 'outcome', text: `— ${oja} / ${oen}` }),
        c.as_of ? el('span', { class: 'asof-tag', 'data-as-of': 'true', text: '証拠の時点 / as of the evidence' }) : null,
        el('span', { class: 'en mono', text: `  (${c.name})` })),
      el('div', { class: 'detail', lang: 'en', text: c.detail }));
  });
  $('checks').replaceChildren(...items);
  $('checks-count').textContent = String(items.length);
  $('checks-details').open = result.status !== 'valid';
  $('checks-panel').hidden = false;
}

// ---------------------------------------------------------------- the signer's personal data, on request only
function hideSigner() {
  $('signer-data').replaceChildren();
  $('signer-data').hidden = true;
  $('show-signer').setAttribute('aria-expanded', 'false');
  $('show-signer').replaceChildren(...bilingual("署名者の証明書を表示", "Show signer's certificate"));
}
function showSigner() {
  const cert = state.result && state.result.signer;
  if (!cert) return;
  const rows = [];
  const add = (ja, en, value, mono = false) => rows.push(el('dt', {}, ...bilingual(ja, en)), el('dd', { class: mono ? 'mono' : null, text: value || '—' }));
  const four = basicFourItems(cert) || {};
  add('氏名', 'Name', four.name);
  const sex = { 1: '男 / male', 2: '女 / female', 3: '不明 / unknown' }[four.sex] || four.sex;
  add('性別', 'Sex', sex);
  const dob = four.date_of_birth && /^[0-9]?([0-9]{4})([0-9]{2})([0-9]{2})$/.exec(four.date_of_birth);
  add('生年月日', 'Date of birth', dob ? `${dob[1]}-${dob[2]}-${dob[3]}` : four.date_of_birth);
  add('住所', 'Address', four.address);
  add('証明書の主体者', 'Subject', formatName(cert.subject), true);
  add('発行者', 'Issuer', cert.issuerText, true);
  add('シリアル番号', 'Serial number', `0x${cert.serialHex}`, true);
  add('有効期間', 'Valid', `${formatTime(cert.notBefore)} — ${formatTime(cert.notAfter)}`, true);
  add('SHA-256', 'Fingerprint', cert.sha256, true);
  const box = $('signer-data');
  box.replaceChildren(el('dl', { class: 'facts' }, ...rows),
    el('p', { class: 'caution', text: '個人情報です。業務に必要な範囲でのみ利用してください。 / Personal data: use it only as your work requires.' }));
  box.hidden = false;
  $('show-signer').setAttribute('aria-expanded', 'true');
  $('show-signer').replaceChildren(...bilingual('署名者の証明書を隠す', "Hide signer's certificate"));
}

function reset() {
  state.run++;
  state.documentFile = state.bundleFile = state.result = state.sealed = null;
  $('ticket').value = '';
  $('disclosure-text').value = '';
  $('disclosure-input').value = '';
  renderTicket();
  for (const kind of ['document', 'bundle']) {
    $(`${kind}-input`).value = '';
    $(`${kind}-name`).textContent = '';
    $(kind === 'document' ? 'drop-document' : 'drop-bundle').classList.remove('filled');
  }
  const verdict = $('verdict');
  verdict.dataset.state = 'idle';
  verdict.removeAttribute('data-verdict');
  verdict.removeAttribute('data-failed-check');
  $('verdict-icon').replaceChildren();
  $('verdict-word').replaceChildren(...bilingual('結果はここに表示されます', 'The result appears here'));
  $('verdict-sub').textContent = '';
  for (const idName of ['verdict-reason', 'verdict-advice', 'actions', 'facts-panel', 'signer-panel', 'checks-panel']) $(idName).hidden = true;
  hideSigner();
  $('document-input').focus();
}

// ---------------------------------------------------------------- signer kind and counter mode
const SIGNER_KIND_WORDS = {
  'jpki-card-signature': ['マイナンバーカード（署名用電子証明書）', 'My Number card (signature certificate)'],
  'jpki-smartphone-signature': ['スマホ用電子証明書（署名用）', 'smartphone certificate (signature)'],
  'jpki-card-authentication': ['マイナンバーカード（利用者証明用電子証明書）', 'My Number card (user-authentication certificate)'],
  'jpki-smartphone-authentication': ['スマホ用電子証明書（利用者証明用）', 'smartphone certificate (user authentication)'],
  'lgpki-seal': ['自治体の公印（LGPKI 職責証明書）', "the municipality's seal (LGPKI organisational certificate)"],
};
/** The signer kind in plain words; for a seal the organisation and title (never a person). */
function signerKindText(signer) {
  const [ja, en] = SIGNER_KIND_WORDS[signer.signer_kind] || ['不明な証明書', 'unknown certificate'];
  if (signer.signer_kind !== 'lgpki-seal' || !signer.seal) return [ja, en];
  const seal = signer.seal; // an office and its organisation (verifier/jpki/signer_kind.py SealIdentity)
  const who = [seal.organisation, seal.municipality, seal.title || seal.common_name].filter(Boolean).join(' ')
    + (seal.organization_identifier ? ` (${seal.organization_identifier})` : '');
  return [who ? `${ja}：${who}` : ja, who ? `${en}: ${who}` : en];
}
function renderSignerKind(result) {
  const line = $('verdict-signer');
  const signer = result.facts && result.facts.signer;
  if (!signer || !signer.signer_kind) { line.hidden = true; line.removeAttribute('data-signer-kind'); return; }
  const [ja, en] = signerKindText(signer);
  line.dataset.signerKind = signer.signer_kind;
  line.replaceChildren(...bilingual(`署名: ${ja}`, `Signed with: ${en}`));
  line.hidden = false;
}
/** Counter mode: the ticket's receipt id against the document's (the leaf hash). */
function renderTicket() {
  const box = $('ticket-result');
  const on = $('counter-mode').checked;
  const typed = $('ticket').value.trim();
  if (!on || !typed || !state.result) { box.hidden = true; box.removeAttribute('data-ticket'); box.replaceChildren(); return; }
  const c = compareTicket(typed, state.result);
  box.dataset.ticket = c.outcome;
  const words = {
    match: [`OK 引換券と書類は一致しています（受付番号 ${shortId(c.ticket)}）`, 'OK: the ticket and the document match'],
    mismatch: ['取り違い', `Mix-up: this is not the ticket's document (ticket ${shortId(c.ticket)}, document ${shortId(c.document)}). Do not hand it over.`],
    unreadable: ['引換券のQRコードを読み取れません。もう一度読み取ってください。', 'The ticket\'s QR code could not be read. Scan it again.'],
    'no-document': ['書類の受付番号が分からないため照合できません（証明データを読めません）。', 'The document\'s receipt id is unknown (the proof file could not be read): cannot compare.'],
  }[c.outcome];
  const extra = c.outcome === 'mismatch' ? [el('p', { text: 'この書類は引換券のものではありません。渡さないでください。' })] : [];
  box.replaceChildren(el('p', { class: 'ticket-word', text: words[0] }), ...extra, el('p', { class: 'en', lang: 'en', text: words[1] }));
  box.hidden = false;
}

// ---------------------------------------------------------------- wiring
/** Wire the page up; `body[data-ready]` is set once the configuration is read. */
export function start() {
  wireZone('document');
  wireZone('bundle');
  // A file dropped beside the zones must not make the browser open it (and leave the page).
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (files.length === 2) dropBoth(files);
    else if (files.length === 1 && !/\.json$/i.test(files[0].name)) chooseFile('document', files[0]);
  });
  $('show-signer').addEventListener('click', () => ($('signer-data').hidden ? showSigner() : hideSigner()));
  $('rerun').addEventListener('click', () => { if (state.documentFile && (state.bundleFile || sealedPending())) run(); });
  $('counter-mode').addEventListener('change', () => {
    $('counter-box').hidden = !$('counter-mode').checked;
    if ($('counter-mode').checked) $('ticket').focus();
    renderTicket();
  });
  // A USB QR scanner types the ticket and presses Enter.
  $('ticket').addEventListener('input', renderTicket);
  $('ticket').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); renderTicket(); } });
  $('reset').addEventListener('click', reset);
  $('disclosure-input').addEventListener('change', async () => {
    const file = $('disclosure-input').files[0];
    if (!file) return;
    $('disclosure-text').value = file.size > 65536 ? '(too large)' : await file.text();
    rerunIfReady();
  });
  $('disclosure-text').addEventListener('change', rerunIfReady);
  $('offline-mode').addEventListener('change', () => {
    state.offline = $('offline-mode').checked;
    renderSettings();
    if (state.documentFile && (state.bundleFile || sealedPending())) run();
  });
  state.ready = setUp().then(() => { document.body.dataset.ready = 'true'; });
}
