/*
 * avfs_busy_wait: a SQLite extension with the busy handler avfs waits for the write lock in
 * (ARCHITECTURE.md, "Concurrent writers"). Built at install (scripts/build-busy-wait.js), loaded
 * on every connection (src/store/db.ts); without it SQLite's own handler waits.
 *
 * SQLite's handler sleeps longer the longer a writer has waited (1, 2, 5 … 25, 50, 100 ms): with
 * many writer processes the lock is often free while every waiter sleeps, and the one that waited
 * longest sleeps longest, which is where the tail comes from. This one tries again every
 * POLL_US, however long it has waited, until the timeout: a try is one failed fcntl lock, a few
 * microseconds of CPU.
 *
 *   SELECT avfs_busy_wait(30000);  -- wait up to 30 s for a lock on this connection (0: not at all)
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include <stdint.h>
#include <time.h>

#define POLL_US 1000

/* When the current wait began. A handler runs on the thread of the statement that waits, and one
 * thread waits for one lock at a time, so a per-thread start serves every connection. */
static __thread struct timespec waiting_since;

static int wait_for_lock(void *timeout_ms, int tries) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (tries == 0) waiting_since = now;
  long long waited_ms = (now.tv_sec - waiting_since.tv_sec) * 1000LL + (now.tv_nsec - waiting_since.tv_nsec) / 1000000;
  if (waited_ms >= (intptr_t)timeout_ms) return 0; /* SQLITE_BUSY for the caller */
  struct timespec pause = { 0, POLL_US * 1000L };
  nanosleep(&pause, NULL);
  return 1;
}

static void set_busy_wait(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_int64 ms = sqlite3_value_int64(argv[0]);
  if (ms > 0) sqlite3_busy_handler(db, wait_for_lock, (void *)(intptr_t)(ms > INT32_MAX ? INT32_MAX : ms));
  else sqlite3_busy_handler(db, 0, 0);
  sqlite3_result_int64(ctx, ms > 0 ? ms : 0);
}

int sqlite3_avfsbusywait_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  (void)error;
  return sqlite3_create_function(db, "avfs_busy_wait", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, 0, set_busy_wait, 0, 0);
}
