// Its own module because copy mode (proxy/workspace.ts) enforces the same bound: importing it from
// open-files.ts loaded the whole open-file layer, worker_threads included, into every proxy exec.
/**
 * Zeros a file may gain past its end (truncate up, a write past the end) between two persists.
 * The store keeps every byte, a hole's too, and a persist hashes the whole file on the thread
 * serving every request: `truncate -s 1T` took hours, with the caller unkillable in its request
 * (its proxy exec's timeout and kill -9 had no effect). Beyond this: EFBIG.
 */
export const MAX_ZERO_FILL = 1024 * 1024 * 1024;
