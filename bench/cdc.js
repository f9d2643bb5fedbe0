#!/usr/bin/env node
// Content-defined chunking (issue 16): how fast the chunker runs beside SHA-256 on the same bytes
// (every stored chunk is hashed anyway), and what 100 versions of a 10 MB file, each with a 100-byte
// insertion at a random offset, cost in chunk bytes plus packed chunk lists, for average chunk
// sizes of 8, 16 and 32 KiB beside today's fixed 64 KiB chunks.
//
//   node bench/cdc.js [--quick]      after `npm run build`; prints markdown tables
//
// It has the shape of a bench/run.js section (id, title, run) but is not registered there: it
// measures the pure pieces in dist/core, not the store.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { ContentChunker, splitContent } from '../dist/core/cdc.js';
import { encodeChunkList } from '../dist/core/chunk-list.js';
import { bytes, markdownTable, median, num, ratio, target, mark, timeMs } from './lib.js';

export const id = 'cdc';
export const title = 'Content-defined chunking: throughput and the insertion-edit storage ratio (issue 16)';

const KiB = 1024;
const FILE_SIZE = 10 * 1024 * KiB;
const INSERT_BYTES = 100;
const PLANS = {
  full: { throughputBytes: 64 * 1024 * KiB, runs: 7, versions: 100 },
  quick: { throughputBytes: 16 * 1024 * KiB, runs: 3, versions: 20 },
};
/** The average sizes compared; min and max keep the defaults' shape (avg / 4 and avg × 4). */
const AVERAGES = [8 * KiB, 16 * KiB, 32 * KiB];
/** Fixed 64 KiB chunks, as avfs stored large content before content-defined chunking (core/chunking.ts, since removed). */
const splitChunks = (data) => Array.from({ length: Math.ceil(data.length / (64 * KiB)) }, (_, i) => data.subarray(i * 64 * KiB, (i + 1) * 64 * KiB));
const cdcOptions = (avg) => ({ minSize: avg / 4, avgSize: avg, maxSize: avg * 4 });

export async function run({ quick = false, log = () => {} } = {}) {
  const plan = quick ? PLANS.quick : PLANS.full;
  log(`throughput on ${bytes(plan.throughputBytes)} of random bytes`);
  const speed = throughput(plan);
  const insertion = AVERAGES.map((avg) => {
    log(`${plan.versions} versions, average ${bytes(avg)}`);
    return { label: `CDC, average ${bytes(avg)} (min ${bytes(avg / 4)}, max ${bytes(avg * 4)})`, ...insertionWorkload(plan.versions, (data) => splitContent(data, cdcOptions(avg))) };
  });
  log(`${plan.versions} versions, fixed 64 KB chunks`);
  const fixed = { label: 'baseline: fixed 64 KB chunks (before)', ...insertionWorkload(plan.versions, (data) => splitChunks(data)) };
  const targets = plan.versions === 100 ? insertion.map((r) => target(`insertion edits, ${r.label}`, '≤ 1.3× the file size', r.ratio, '<=', 1.3)) : [];

  const mbps = (samples) => num(plan.throughputBytes / 2 ** 20 / (median(samples) / 1000));
  return {
    tables: [
      {
        caption: `Chunking throughput on ${bytes(plan.throughputBytes)} of random bytes (default sizes 4/16/64 KB; median of ${plan.runs} interleaved runs)`,
        columns: ['path', 'MB/s:', 'time ÷ SHA-256:'],
        rows: [
          ['splitContent (one-shot)', mbps(speed.oneShot), ratio(median(speed.oneShot) / median(speed.sha256))],
          ['ContentChunker, 128 KB pushes (FUSE writes)', mbps(speed.stream128), ratio(median(speed.stream128) / median(speed.sha256))],
          ['ContentChunker, 64 KB pushes (pipe reads)', mbps(speed.stream64), ratio(median(speed.stream64) / median(speed.sha256))],
          ['baseline: `crypto.createHash(\'sha256\')`', mbps(speed.sha256), ratio(1)],
        ],
      },
      {
        caption: `${plan.versions} versions of a ${bytes(FILE_SIZE)} file, each with a ${INSERT_BYTES}-byte insertion at a random offset`,
        columns: ['chunking', 'mean chunk:', 'distinct chunks:', 'chunk bytes:', 'list bytes:', 're-stored per edit:', '(chunks + lists) ÷ file:', 'room per chunk row:', 'target', ''],
        rows: [...insertion, fixed].map((r, i) => [
          r.label,
          bytes(Math.round(r.meanChunk)),
          num(r.distinctChunks),
          bytes(r.chunkBytes),
          bytes(r.listBytes),
          bytes(Math.round(r.perEdit)),
          ratio(r.ratio),
          r.ratio < 1.3 ? bytes(Math.round(((1.3 - r.ratio) * FILE_SIZE) / r.distinctChunks)) : '—',
          targets[i]?.text ?? '',
          targets[i] ? mark(targets[i].met) : '',
        ]),
      },
    ],
    notes: [
      `Throughput: the same random buffer chunked whole (splitContent), pushed to a ContentChunker in 128 KB and 64 KB pieces, and hashed whole with SHA-256; "time ÷ SHA-256" is the chunker's median time over the hash's, so 1.00× means as fast as hashing the bytes and 2.00× half as fast.`,
      `Insertion workload: ${bytes(FILE_SIZE)} of random bytes, then ${plan.versions - 1} more versions, each the previous one with ${INSERT_BYTES} random bytes inserted at a uniformly random offset. Every version is chunked; chunks are deduplicated by SHA-256 and get consecutive integer ids in order of first appearance (as rowids would), and each version's chunk list is packed with encodeChunkList. "chunk bytes" is the sum of the distinct chunks' sizes, "list bytes" the sum of the packed lists, the ratio (chunk bytes + list bytes) over the first version's size. Per-row overhead in the database (one row per distinct chunk: its key, hash, refcount and the b-tree pages' unused space) is not included; "room per chunk row" is how much of it each distinct chunk may cost before the total passes 1.3× the file size.`,
    ],
    targets,
  };
}

function throughput(plan) {
  const data = randomBytes(plan.throughputBytes);
  const pushAll = (size) => {
    const chunker = new ContentChunker();
    for (let pos = 0; pos < data.length; pos += size) chunker.push(data.subarray(pos, pos + size));
    chunker.finish();
  };
  const samples = { oneShot: [], stream128: [], stream64: [], sha256: [] };
  const runs = {
    oneShot: () => splitContent(data),
    stream128: () => pushAll(128 * KiB),
    stream64: () => pushAll(64 * KiB),
    sha256: () => createHash('sha256').update(data).digest(),
  };
  for (let i = -1; i < plan.runs; i++) {
    for (const [name, fn] of Object.entries(runs)) {
      const ms = timeMs(fn);
      if (i >= 0) samples[name].push(ms); // the first round warms up
    }
  }
  return samples;
}

/** Stores `versions` versions of the insertion workload with `split` and counts what they cost. */
function insertionWorkload(versions, split) {
  const ids = new Map(); // chunk hash -> id
  let chunkBytes = 0;
  let listBytes = 0;
  let chunksSeen = 0;
  let bytesSeen = 0;
  let firstVersionBytes = 0;
  let data = randomBytes(FILE_SIZE);
  for (let v = 0; v < versions; v++) {
    if (v > 0) {
      const at = randomInt(data.length + 1);
      data = Buffer.concat([data.subarray(0, at), randomBytes(INSERT_BYTES), data.subarray(at)]);
    }
    const chunks = split(data);
    const listIds = chunks.map((chunk) => {
      const hash = createHash('sha256').update(chunk).digest('hex');
      let chunkId = ids.get(hash);
      if (chunkId === undefined) {
        chunkId = ids.size + 1;
        ids.set(hash, chunkId);
        chunkBytes += chunk.length;
      }
      return chunkId;
    });
    listBytes += encodeChunkList(listIds, chunks.map((c) => c.length)).length;
    chunksSeen += chunks.length;
    bytesSeen += data.length;
    if (v === 0) firstVersionBytes = chunkBytes;
  }
  return {
    distinctChunks: ids.size,
    meanChunk: bytesSeen / chunksSeen,
    chunkBytes,
    listBytes,
    perEdit: (chunkBytes - firstVersionBytes) / Math.max(1, versions - 1),
    ratio: (chunkBytes + listBytes) / FILE_SIZE,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (msg) => process.stderr.write(`cdc: ${msg}\n`) });
  process.stdout.write(`${result.tables.map(markdownTable).join('\n\n')}\n\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`);
}
