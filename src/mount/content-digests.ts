import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { ContentDigest, DigestedPut } from '../store/blobs.js';
import { pushAll } from '../core/arrays.js';

export type DigestMessage =
  | { type: 'port'; port: MessagePort }
  | { type: 'start'; id: number; path: string }
  | { type: 'advance'; id: number; to: number }
  | { type: 'finish'; id: number; size: number; signal: SharedArrayBuffer }
  | { type: 'drop'; id: number };

/** The worker's answers: chunks cut so far (after an advance), then the whole digest or an error (to finish). */
export type DigestResult = { id: number; cut: ChunkDigest[] } | ({ id: number } & ContentDigest) | { id: number; error: string };

export type ChunkDigest = ContentDigest['chunks'][number];

/** One spill file being digested: the bytes below `sent` are final (the worker may have read them). */
export interface DigestStream {
  id: number;
  sent: number;
  /** Chunks the worker cut and the mount has not taken yet (`take`), in order. */
  cut: ChunkDigest[];
  /** The worker's answer to `finish`, once it came. */
  answer?: Exclude<DigestResult, { cut: ChunkDigest[] }>;
  /** The chunks stored while the bytes arrive (WorkingCopies' to manage; null once that failed). */
  put?: DigestedPut | null;
}

/** Tell the worker about new bytes once this many have arrived (fewer messages, same overlap). */
const ADVANCE_STEP = 1024 * 1024;
/** Longest wait for a digest at persist; past it the persist hashes the file itself. */
const FINISH_TIMEOUT_MS = 120_000;
/** How often a persist waiting for a digest stores the chunks cut meanwhile. */
const WAIT_SLICE_MS = 2;

/**
 * Hashing and chunking of large files written through the mount while their bytes arrive, on a
 * worker thread (digest-worker.ts), so that persisting a 256 MiB file does not start hashing it
 * on the mount's one JS thread only when it is closed. A file's spill file gets a stream when it
 * is opened; as sequential writes make bytes final the worker reads and digests them (the
 * content's SHA-256, its FastCDC chunks and theirs); persisting it waits for the tail and hands
 * the digest to the store, which then only inserts the chunks it does not have
 * (blobs.ts putDigestedContentFromFd). The chunks the worker cuts come back as it goes (`take`),
 * so that WorkingCopies can store them while the file is still being written, and while the
 * persist waits for the tail. A write or truncate below what the worker may have read ends the
 * stream, and the persist hashes the file itself.
 */
export class ContentDigests {
  private worker: Worker | null = null;
  private results: MessagePort | null = null;
  private nextId = 1;
  private broken = false;
  private readonly streams = new Map<number, DigestStream>();

  constructor(private readonly workerPath: string | null) {}

  /**
   * The built worker, dist/mount/digest-worker.js (tests running from the TypeScript sources have
   * none). Named from one level up so that the linked CLI (dist/cli-bundle/) finds it too.
   */
  static defaultWorker(): string | null {
    const path = fileURLToPath(new URL('../mount/digest-worker.js', import.meta.url));
    return existsSync(path) ? path : null;
  }

  /** Starts digesting the spill file at `path`; null when there is no worker. */
  start(path: string): DigestStream | null {
    const worker = this.ensureWorker();
    if (!worker) return null;
    const id = this.nextId++;
    worker.postMessage({ type: 'start', id, path } satisfies DigestMessage);
    const s: DigestStream = { id, sent: 0, cut: [] };
    this.streams.set(id, s);
    return s;
  }

  /** Bytes [0, size) of the stream's file are final unless written again (then `write` ends the stream). */
  advance(s: DigestStream, size: number, force = false): void {
    if (size - s.sent < (force ? 1 : ADVANCE_STEP)) return;
    s.sent = size;
    this.worker?.postMessage({ type: 'advance', id: s.id, to: size } satisfies DigestMessage);
  }

  /** Whether bytes at `position` may still change without ending the stream. */
  canChange(s: DigestStream, position: number): boolean {
    return position >= s.sent;
  }

  drop(s: DigestStream): void {
    this.streams.delete(s.id);
    this.worker?.postMessage({ type: 'drop', id: s.id } satisfies DigestMessage);
  }

  /**
   * The chunks of the stream's file the worker has cut since the last take, in order and without
   * waiting, once they add up to `minBytes` (none before: they are kept for the next take).
   */
  take(s: DigestStream, minBytes: number): ChunkDigest[] {
    this.drain();
    let bytes = 0;
    for (const c of s.cut) bytes += c.size;
    if (bytes < minBytes) return [];
    const cut = s.cut;
    s.cut = [];
    return cut;
  }

  /** Takes every message on the result port to its stream: cut chunks, or the answer to finish (a stream no longer followed drops them). */
  private drain(): void {
    for (;;) {
      const m = this.results && (receiveMessageOnPort(this.results)?.message as DigestResult | undefined);
      if (!m) return;
      const s = this.streams.get(m.id);
      if (!s) continue;
      if ('cut' in m) pushAll(s.cut, m.cut);
      else s.answer = m;
    }
  }

  /**
   * Waits for the digest of the stream's file, whose content is its first `size` bytes; undefined
   * if the worker failed. `whileWaiting` runs every WAIT_SLICE_MS until the answer comes, so that
   * the chunks the worker cuts meanwhile are stored while it hashes the rest (`take`).
   */
  finish(s: DigestStream, size: number, whileWaiting?: () => void): ContentDigest | undefined {
    const worker = this.worker;
    try {
      // A worker that died (its error or exit event came in while this thread served earlier requests) answers nothing.
      if (!worker || !this.results || this.broken) return undefined;
      const signal = new SharedArrayBuffer(4);
      const done = new Int32Array(signal);
      worker.postMessage({ type: 'finish', id: s.id, size, signal } satisfies DigestMessage);
      const deadline = Date.now() + FINISH_TIMEOUT_MS;
      while (Atomics.wait(done, 0, 0, whileWaiting ? WAIT_SLICE_MS : FINISH_TIMEOUT_MS) === 'timed-out') {
        if (Date.now() >= deadline) {
          this.stop();
          return undefined;
        }
        whileWaiting?.();
      }
      this.drain();
      return !s.answer || 'error' in s.answer ? undefined : s.answer;
    } finally {
      this.streams.delete(s.id);
    }
  }

  /** Ends the worker (unmount). */
  stop(): void {
    this.broken = true;
    this.streams.clear();
    void this.worker?.terminate();
    this.worker = null;
    this.results = null;
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.broken || !this.workerPath) return this.worker;
    const worker = new Worker(this.workerPath);
    worker.unref();
    const died = () => {
      this.broken = true;
    };
    worker.on('error', died);
    worker.on('exit', died);
    const { port1, port2 } = new MessageChannel();
    worker.postMessage({ type: 'port', port: port2 } satisfies DigestMessage, [port2]);
    port1.unref();
    this.worker = worker;
    this.results = port1;
    return worker;
  }
}
