import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { ContentChunker } from '../core/cdc.js';
import { createHasher, hashBytes } from '../core/hash.js';
import type { DigestMessage, DigestResult } from './content-digests.js';

/**
 * The worker thread of ContentDigests (content-digests.ts): hashes and chunks the spill files of
 * large files being written through the mount while the bytes arrive, off the mount's JS thread.
 * It reads each spill file through its own descriptor, only up to where the mount said the bytes
 * are final, sends the chunks it cuts as it goes (the mount stores them while the file is still
 * being written, and while it waits for the tail), and answers `finish` on the result port, then
 * wakes the waiting mount thread.
 */

interface Stream {
  fd: number;
  /** Bytes read so far. */
  at: number;
  hasher: ReturnType<typeof createHasher>;
  chunker: ContentChunker;
  chunks: { size: number; hash: string }[];
  /** How many of `chunks` were sent to the mount thread already. */
  sent: number;
  failed?: string;
}

const READ_SIZE = 1024 * 1024;
const streams = new Map<number, Stream>();
let results: MessagePort | undefined;
const buf = Buffer.allocUnsafe(READ_SIZE);

/** Reads, hashes and chunks the stream's file up to `to`, sending the chunks cut after each read (the mount stores them meanwhile). */
function advance(id: number, s: Stream, to: number): void {
  while (!s.failed && s.at < to) {
    const n = readSync(s.fd, buf, 0, Math.min(READ_SIZE, to - s.at), s.at);
    if (n === 0) {
      s.failed = `spill file ends at ${s.at}, before ${to}`;
      return;
    }
    const bytes = buf.subarray(0, n);
    s.hasher.update(bytes);
    for (const chunk of s.chunker.push(bytes)) s.chunks.push({ size: chunk.length, hash: hashBytes(chunk) });
    s.at += n;
    if (s.chunks.length > s.sent) {
      results!.postMessage({ id, cut: s.chunks.slice(s.sent) } satisfies DigestResult);
      s.sent = s.chunks.length;
    }
  }
}

function end(id: number): Stream | undefined {
  const s = streams.get(id);
  streams.delete(id);
  if (s && s.fd >= 0) closeSync(s.fd);
  return s;
}

parentPort!.on('message', (m: DigestMessage) => {
  if (m.type === 'port') {
    results = m.port;
    return;
  }
  if (m.type === 'start') {
    const s: Stream = { fd: -1, at: 0, hasher: createHasher(), chunker: new ContentChunker(), chunks: [], sent: 0 };
    try {
      s.fd = openSync(m.path, 'r');
    } catch (err) {
      s.failed = String(err);
    }
    streams.set(m.id, s);
    return;
  }
  const s = streams.get(m.id);
  if (m.type === 'advance') {
    if (s) {
      try {
        advance(m.id, s, m.to);
      } catch (err) {
        s.failed = String(err);
      }
    }
    return;
  }
  if (m.type === 'drop') {
    end(m.id);
    return;
  }
  // finish
  let result: DigestResult;
  try {
    if (!s) throw new Error(`no stream ${m.id}`);
    advance(m.id, s, m.size);
    if (s.failed) throw new Error(s.failed);
    const tail = s.chunker.finish();
    if (tail) s.chunks.push({ size: tail.length, hash: hashBytes(tail) });
    result = { id: m.id, hash: s.hasher.digest(), size: m.size, chunks: s.chunks };
  } catch (err) {
    result = { id: m.id, error: String(err) };
  }
  end(m.id);
  results!.postMessage(result);
  const signal = new Int32Array(m.signal);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
