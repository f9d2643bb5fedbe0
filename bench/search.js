// Issue 4: search. FTS query latency over 100 and 10,000 documents of 4 KB (by how many documents
// the query matches), grep over 1,000 files, find by glob over 10,000 entries, and the fork of a
// vault of 10,000 indexed documents beside the fork of an unindexed one of the same shape.
// Baselines: GNU grep/find over the same tree exported to the native filesystem, and the
// unindexed fork.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../dist/store/vaults.js';
import { findEntries, grepFiles, searchText } from '../dist/store/search.js';
import { compileGlob } from '../dist/core/glob.js';
import { clock, dur, mark, median, p95, ratio, sample, spawnMs, target, num } from './lib.js';

export const id = 'search';
export const title = 'Search: FTS5 search, grep, find, fork of an indexed vault (issue 4)';

const ACTOR = { source: 'sdk' };
const DOC_BYTES = 4096;
const PLAN = {
  full: { queryRuns: 41, baselineRuns: 5, grepRuns: 15, findRuns: 21, forkRuns: 15, writes: 2000 },
  quick: { queryRuns: 11, baselineRuns: 3, grepRuns: 5, findRuns: 7, forkRuns: 5, writes: 500 },
};

// ---- corpus -------------------------------------------------------------------------------

/**
 * Deterministic prose-like text: a 20,000-word vocabulary drawn log-uniformly (Zipf-like, as word
 * frequencies in real text), so a few words are in every document and most are rare; sentences
 * end with ". " and lines break now and then.
 */
function corpus(seed = 42) {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const vocab = Array.from({ length: 20000 }, (_, i) => 'w' + i.toString(36));
  const word = () => vocab[Math.min(vocab.length - 1, Math.floor(Math.exp(rnd() * Math.log(vocab.length))) - 1)];
  return (i, size = DOC_BYTES) => {
    let text = `document ${i} `;
    while (text.length < size) text += word() + (rnd() < 0.08 ? '.\n' : ' ');
    return text.slice(0, size);
  };
}

const EXTS = ['md', 'ts', 'txt', 'json'];
const docPath = (i) => `/d${Math.floor(i / 100)}/f${i}.${EXTS[i % 4]}`;

/** The first `n` documents of a corpus, generated once and reused by every vault and tree built from it. */
const generated = new Map();
function documents(n, seed = 42) {
  const key = `${seed}`;
  const have = generated.get(key) ?? [];
  if (have.length < n) {
    const doc = corpus(seed);
    // corpus() is sequential: regenerate from the start so document i is always the same text.
    for (let i = 0; i < n; i++) {
      const text = doc(i);
      if (i >= have.length) have.push(text);
    }
    generated.set(key, have);
  }
  return have.slice(0, n);
}

/** A vault of `n` documents in directories of 100 (text, or binary of the same size). */
function buildVault(store, name, n, { binary = false, seed = 42 } = {}) {
  createVault(store, name, ACTOR);
  const vfs = new VaultFs(store, name, ACTOR);
  const docs = documents(n, seed);
  store.mutate(() => {
    docs.forEach((text, i) => {
      // Binary twin: one NUL byte up front, so the same bytes are stored but never indexed.
      vfs.writeFile(docPath(i), binary ? Buffer.concat([Buffer.from([0]), Buffer.from(text.slice(1))]) : text, { parents: true });
    });
  });
  return vfs;
}

/** The same documents as files on the native filesystem, for the GNU grep/find baselines. */
function writeTree(dir, n, seed = 42) {
  documents(n, seed).forEach((text, i) => {
    const file = join(dir, docPath(i));
    if (i % 100 === 0) mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  });
}

const docFreq = (store, q) => store.db.prepare('SELECT count(*) AS n FROM fts WHERE fts MATCH ?').get(q).n;

/** The word of `docs` held by the number of them closest to `df` (ties: the first in sort order). */
function wordNearDf(docs, df) {
  const counts = new Map();
  for (const text of docs) for (const w of new Set(text.match(/\bw\w+\b/g) ?? [])) counts.set(w, (counts.get(w) ?? 0) + 1);
  return [...counts].sort((a, b) => Math.abs(a[1] - df) - Math.abs(b[1] - df) || (a[0] < b[0] ? -1 : 1))[0][0];
}

/** The vocabulary word whose document frequency is closest to `df` (in the home's index). */
function wordWithDf(store, df) {
  // fts5vocab gives every term with its document count without scanning documents.
  store.db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab USING fts5vocab(main, 'fts', 'row')");
  return store.db.prepare("SELECT term, doc FROM temp.bench_vocab WHERE term GLOB 'w*' ORDER BY abs(doc - ?) LIMIT 1").get(df);
}

// ---- sections -----------------------------------------------------------------------------

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const tables = [];
  const targets = [];
  // The 100-document vault lives in a home of its own: the index is home-wide (see the crowded rows).
  const smallStore = openStore(join(tmp, 'home100'));
  const store = openStore(join(tmp, 'home'));
  try {
    log('generating 10,000 documents of 4 KB');
    documents(10000);
    log('building vaults of 100 and 10,000 documents');
    const small = buildVault(smallStore, 'docs100', 100);
    const large = buildVault(store, 'docs10k', 10000);
    log('writing the same 10,000 documents to disk for the GNU baselines');
    const tree10k = join(tmp, 'tree10k');
    writeTree(tree10k, 10000);

    // (1) FTS query latency by query class.
    const picks = [10, 100, 1000].map((df) => wordWithDf(store, df));
    const top = store.db.prepare("SELECT term, doc FROM temp.bench_vocab WHERE term GLOB 'w*' ORDER BY doc DESC, cnt DESC LIMIT 1").get();
    const queries = [
      ...picks.map((p) => ({ label: `word in ${p.doc.toLocaleString('en-US')} of 10k docs`, q: p.term, grepWord: p.term })),
      { label: `two words (AND), each in thousands of docs`, q: `${picks[2].term} ${wordWithDf(store, 5000).term}` },
      { label: `phrase of two common words`, q: `"${top.term} w2"` },
      { label: `prefix query`, q: `${picks[1].term.slice(0, 3)}*` },
      { label: `the most frequent word (in every doc)`, q: top.term, grepWord: top.term },
    ];
    const ftsRows = [];
    for (const { label, q, grepWord } of queries) {
      log(`search ${q}`);
      const row = [label, `\`${q}\``, docFreq(store, q).toLocaleString('en-US')];
      for (const vfs of [small, large]) {
        const vault = vfs.row();
        const t = sample(plan.queryRuns, () => searchText(vfs.store, vault, q, { limit: 20 }), { warmup: 3 });
        row.push(dur(median(t)));
        if (vfs === large) {
          const base = grepWord ? median(sample(plan.baselineRuns, () => spawnMs('grep', ['-rlw', grepWord, tree10k]), { warmup: 1 })) : NaN;
          row.push(dur(p95(t)), grepWord ? dur(base) : '—', grepWord ? ratio(median(t) / base) : '—');
          const tg = target(`FTS query at 10k docs: ${label}`, '≤ 5 ms median', median(t), '<=', 5, 'ms');
          targets.push(tg);
          row.push(tg.text, mark(tg.met));
        }
      }
      ftsRows.push(row);
    }
    tables.push({
      caption: `FTS search (\`searchText\`, top 20 with snippets), 4 KB documents; medians of ${plan.queryRuns} runs. Baseline: GNU \`grep -rlw <word>\` over the same 10k files on disk (spawned)`,
      columns: ['Query', 'FTS5 query', 'docs matched (of 10k):', '100 docs:', '10k docs:', '10k p95:', 'grep -rlw 10k:', 'avfs / grep:', 'Target', 'Met'],
      rows: ftsRows,
    });

    // (1b) the same query with the home crowded by forks that share the contents.
    log('search with 5 forks sharing the contents');
    const typical = queries[1].q;
    const alone = median(sample(plan.queryRuns, () => searchText(store, large.row(), typical, { limit: 20 }), { warmup: 3 }));
    for (let k = 0; k < 5; k++) forkVault(store, 'docs10k', `shared${k}`, ACTOR);
    const crowded = median(sample(plan.queryRuns, () => searchText(store, large.row(), typical, { limit: 20 }), { warmup: 3 }));
    for (let k = 0; k < 5; k++) deleteVault(store, `shared${k}`, false, ACTOR);

    // (1c) a small vault in a home dominated by a large one: its matches are a small share of the
    // home-wide index, so a search ranks the home's matches (worst for the most frequent word).
    log('search a 100-doc vault in the home of the 10k-doc vault');
    const guest = buildVault(store, 'guest100', 100, { seed: 4242 });
    const guestTypical = median(sample(plan.queryRuns, () => searchText(store, guest.row(), typical, { limit: 20 }), { warmup: 3 }));
    const guestTop = median(sample(plan.queryRuns, () => searchText(store, guest.row(), top.term, { limit: 20 }), { warmup: 3 }));
    const aloneTop = median(sample(plan.queryRuns, () => searchText(smallStore, small.row(), top.term, { limit: 20 }), { warmup: 3 }));
    deleteVault(store, 'guest100', false, ACTOR);

    // (2) grep over 1,000 files.
    log('grep over 1,000 files');
    const grep1k = buildVault(store, 'grep1k', 1000, { seed: 7 });
    const tree1k = join(tmp, 'tree1k');
    writeTree(tree1k, 1000, 7);
    // A word of these 1,000 documents (about 10% of them hold it, as the 10k pick's share): the
    // 10k vault's words need not occur here, and GNU grep finding none exits 1.
    const word = wordNearDf(documents(1000, 7), 100);
    const re = new RegExp(`\\b${word}\\b`);
    // What grepFiles reads: [path, hash, size] of each file (the API lists them the same way).
    const files1k = grep1k.walk('/').filter((e) => e.type === 'f').map((e) => [e.path, e.hash, e.size]);
    const grepApi = sample(plan.grepRuns, () => grepFiles(store, files1k, { regex: re }), { warmup: 2 });
    const grepApiL = sample(plan.grepRuns, () => grepFiles(store, files1k, { regex: re, filesOnly: true }), { warmup: 2 });
    const gnuGrep = sample(plan.grepRuns, () => spawnMs('grep', ['-rnE', `\\b${word}\\b`, tree1k]), { warmup: 1 });
    const gnuGrepL = sample(plan.grepRuns, () => spawnMs('grep', ['-rlE', `\\b${word}\\b`, tree1k]), { warmup: 1 });
    const matches = grepFiles(store, files1k, { regex: re }).matches.length;

    // (3) find by glob over 10,000 entries.
    log('find by glob over 10,000 entries');
    const root = large.stat('/');
    const nameRe = compileGlob('*.md');
    const pathRe = compileGlob('/d1*/**/*.{ts,json}');
    const findName = sample(plan.findRuns, () => findEntries(store, large.row(), root, { name: nameRe }), { warmup: 2 });
    const findPath = sample(plan.findRuns, () => findEntries(store, large.row(), root, { path: pathRe }), { warmup: 2 });
    const gnuFind = sample(plan.findRuns, () => spawnMs('find', [tree10k, '-name', '*.md']), { warmup: 1 });
    const entries = large.walk('/').length;

    tables.push({
      caption: 'grep and find through the store API (in process) vs GNU grep/find over the same files on disk (spawned: includes ~1 ms process start)',
      columns: ['Workload', 'avfs median:', 'avfs p95:', 'GNU median:', 'avfs / GNU:'],
      rows: [
        [`grep \`\\b${word}\\b\` over 1,000 files of 4 KB (${matches} matching lines) vs \`grep -rnE\``, dur(median(grepApi)), dur(p95(grepApi)), dur(median(gnuGrep)), ratio(median(grepApi) / median(gnuGrep))],
        [`grep -l, same files vs \`grep -rlE\``, dur(median(grepApiL)), dur(p95(grepApiL)), dur(median(gnuGrepL)), ratio(median(grepApiL) / median(gnuGrepL))],
        [`find --name '*.md' over ${num(entries)} entries vs \`find -name '*.md'\``, dur(median(findName)), dur(p95(findName)), dur(median(gnuFind)), ratio(median(findName) / median(gnuFind))],
        [`find --glob '/d1*/**/*.{ts,json}' over ${num(entries)} entries`, dur(median(findPath)), dur(p95(findPath)), '—', '—'],
        [`search \`${typical}\` at 10k docs, home also holding 5 forks of the vault (vs ${dur(alone)} alone)`, dur(crowded), '', '—', ratio(crowded / alone) + ' of alone'],
        [`search \`${typical}\` in a 100-doc vault, home also holding the 10k-doc vault`, dur(guestTypical), '', '—', '—'],
        [`search \`${top.term}\` (most frequent word) in a 100-doc vault, home also holding the 10k-doc vault (vs ${dur(aloneTop)} alone)`, dur(guestTop), '', '—', ratio(guestTop / aloneTop) + ' of alone'],
      ],
    });

    // (4) fork of an indexed vault vs an unindexed one of the same shape, interleaved.
    log('fork: 10k indexed vs 10k unindexed documents');
    buildVault(store, 'bin10k', 10000, { binary: true });
    const fork = { text: [], bin: [] };
    for (let i = -2; i < plan.forkRuns; i++) {
      for (const [key, src] of i % 2 === 0 ? [['text', 'docs10k'], ['bin', 'bin10k']] : [['bin', 'bin10k'], ['text', 'docs10k']]) {
        const t0 = clock();
        forkVault(store, src, `f-${key}`, ACTOR);
        const ms = Number(clock() - t0) / 1e6;
        deleteVault(store, `f-${key}`, false, ACTOR);
        if (i >= 0) fork[key].push(ms);
      }
    }
    const forkRel = median(fork.text) / median(fork.bin);
    const forkTarget = target('fork of 10k indexed docs vs unindexed', '≤ 1.25× unindexed fork', forkRel, '<=', 1.25);
    targets.push(forkTarget);

    // (5) what indexing costs a write: 1 KB of new text vs 1 KB of new binary content.
    log('1 KB writes: text (indexed) vs binary (not indexed)');
    const w = new VaultFs(store, 'docs10k', ACTOR);
    const doc = corpus(99);
    const writes = { text: [], bin: [] };
    for (let i = 0; i < plan.writes; i++) {
      const text = doc(i, 1024);
      let t0 = clock();
      w.writeFile(`/w/t${i % 100}.txt`, text, { parents: true });
      writes.text.push(Number(clock() - t0) / 1e6);
      const bin = Buffer.concat([Buffer.from([0]), Buffer.from(text.slice(1))]);
      bin.writeUInt32LE(i + 1, 1);
      t0 = clock();
      w.writeFile(`/w/b${i % 100}.bin`, bin, { parents: true });
      writes.bin.push(Number(clock() - t0) / 1e6);
    }
    const indexed = store.db.prepare('SELECT count(*) AS n FROM text_index').get().n;

    tables.push({
      caption: `Fork and write cost of indexing (interleaved; medians of ${plan.forkRuns} forks and ${plan.writes} writes)`,
      columns: ['Workload', 'indexed (text):', 'unindexed (binary):', 'text / binary:', 'Target', 'Met'],
      rows: [
        ['fork of a vault of 10,000 docs of 4 KB', dur(median(fork.text)), dur(median(fork.bin)), ratio(forkRel), forkTarget.text, mark(forkTarget.met)],
        ['write of 1 KB of new content (one transaction)', dur(median(writes.text)), dur(median(writes.bin)), ratio(median(writes.text) / median(writes.bin)), '—', ''],
      ],
    });

    const notes = [
      `Documents: 4 KB of generated prose-like text (a 20,000-word vocabulary drawn with Zipf-like frequencies, so a few words occur in every document and most are rare), in directories of 100, written through \`VaultFs.writeFile\` and indexed in the writing transaction. The 100-doc vault has a home of its own; the 10k-doc vault's home ends with ${num(indexed)} indexed contents (the grep, guest and write vaults add theirs). "docs matched" counts matches in the 10k-doc home.`,
      `Search: \`searchText\` with limit 20, including bm25 ranking, the join with the vault's current entries and 20 snippets. The query words are picked from the index by document frequency. Queries whose terms occur in thousands of documents many times each (the most frequent word, phrases and prefixes over such words) cost more: FTS5 decodes every position of every matching document to rank them; the targets say per query which ones meet 5 ms.`,
      `Baselines are GNU grep/find over the same documents exported to the native filesystem (warm page cache), spawned per run, so they include about a millisecond of process start. GNU grep answers a different question (no ranking), it is there for scale.`,
      `Fork: \`forkVault\` of the 10k-document text vault (every content indexed) and of a vault of the same 10k paths whose contents are binary (a NUL byte first: stored the same way, never indexed), interleaved, each fork deleted untimed. The index is keyed by content, so a fork copies no index rows and the two should cost the same.`,
      `Writes: 1 KB of new text (indexed: an 8 KiB sniff, a UTF-8 decode and two inserts, text_index and FTS5) vs 1 KB of new binary content (the sniff only), alternating, one transaction each. The store benchmark writes random bytes, which are binary and never indexed.`,
    ];
    return { tables, notes, targets };
  } finally {
    store.release();
    smallStore.release();
  }
}
