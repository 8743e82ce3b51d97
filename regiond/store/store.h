/*
 * store: the persistence adaptor interface Raft writes through.
 *
 * One opaque `struct store` with a vtable behind it; the adaptors are
 * `embedded` (segment files, store_embedded.h) and `mem` (in memory, for the
 * simulator and as the conformance suite's reference, store_mem.h). PostgreSQL
 * comes later behind the same calls.
 *
 * How it works. Every call below except open/close/dispatch/drain only
 * validates its arguments, copies what it needs and queues an operation.
 * A worker thread applies queued operations strictly in submission order.
 * Appends that are queued while the worker is busy are written together and
 * made durable by one sync (group commit). When an operation is done, its
 * completion is queued; completions NEVER run on the worker thread: the
 * caller's thread runs them in submission order inside store_dispatch(),
 * and store_event_fd() becomes readable while completions wait, so an event
 * loop can watch it without this module knowing about the loop.
 *
 * Fail-stop. The first I/O error (EIO, ENOSPC, a failed fsync, a lost
 * connection the adaptor gave up on) puts the store in the failed state:
 * that operation, every operation not yet durable and every later one
 * complete with that error; nothing is written any more and an fsync is never
 * retried. What was acknowledged before stays acknowledged. The owner is
 * expected to step down and exit; store_failed() tells whether it happened.
 *
 * Log indexes start at 1. The log holds the entries [first_index,
 * last_index]; it is empty when last_index == first_index - 1 (first_index
 * moves past a snapshot with store_truncate_head).
 *
 * Not thread-safe: one thread (the event loop) makes every call.
 */
#ifndef CV_STORE_H
#define CV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Largest entry payload an adaptor accepts (and believes when recovering). */
#define STORE_ENTRY_MAX (64u * 1024u * 1024u)
/* Largest snapshot configuration blob. */
#define STORE_CONF_MAX (1u * 1024u * 1024u)

struct store;

struct store_entry
{
    uint64_t index;
    uint64_t term;
    uint8_t type; /* opaque to the store */
    const void *data;
    size_t len;
};

struct store_snapshot_meta
{
    uint64_t index;   /* last log index the snapshot covers */
    uint64_t term;    /* term of that entry */
    uint64_t size;    /* bytes of snapshot data */
    const void *conf; /* opaque cluster configuration blob */
    size_t conf_len;
};

/* What open/recover found. Filled by an adaptor's open function; release with
 * store_state_free (it owns snapshot.conf). */
struct store_state
{
    uint64_t term;
    uint64_t vote; /* 0: no vote */
    uint64_t first_index;
    uint64_t last_index;
    bool has_snapshot;
    struct store_snapshot_meta snapshot; /* valid when has_snapshot */
};

void store_state_free(struct store_state *state);

/* Completion of a write. `status` is 0 or a negative CV_E* code; `err` is
 * borrowed for the call and carries the message when status != 0. */
typedef void (*store_done_cb)(void *arg, int status, const struct cv_err *err);

/* Completion of store_read. On success the callee takes ownership of
 * `entries` (n of them, data inside the same block): free with
 * store_entries_free. On failure entries is NULL. */
typedef void (*store_read_cb)(void *arg, int status, const struct cv_err *err,
                              struct store_entry *entries, size_t n);

/* Completion of store_snapshot_get. `meta` and `data` are borrowed for the
 * call; `len` is 0 at or past the end of the snapshot. */
typedef void (*store_chunk_cb)(void *arg, int status, const struct cv_err *err,
                               const struct store_snapshot_meta *meta, uint64_t offset,
                               const void *data, size_t len);

void store_entries_free(struct store_entry *entries, size_t n);

/* ---- writes (each is ordered after every earlier call) ------------------- */

/* Appends n entries (n may be 0). Their indexes must be consecutive and the
 * first must be last_index + 1 as of the calls made so far. Copies entries
 * and their data before returning (the caller keeps ownership of both). `cb`
 * runs once the whole batch is durable. Returns 0, or CV_EINVAL (nothing
 * queued, cb never runs) when the indexes are wrong or an entry is over
 * STORE_ENTRY_MAX. */
int store_append(struct store *s, const struct store_entry *entries, size_t n, store_done_cb cb,
                 void *arg);

/* Removes the entries with index >= `index` (a conflict). first_index <=
 * index <= last_index + 1, else CV_EINVAL. cb runs once the removal is
 * durable. */
int store_truncate_tail(struct store *s, uint64_t index, store_done_cb cb, void *arg);

/* Removes the entries with index <= `index` (compaction after a snapshot
 * covering `index`). When index >= last_index the log becomes empty and
 * continues at index + 1 (a snapshot installed from the leader). An index
 * below first_index is a no-op. cb runs once first_index is durably moved;
 * files holding only removed entries are deleted afterwards. */
int store_truncate_head(struct store *s, uint64_t index, store_done_cb cb, void *arg);

/* Durably records term and vote (0: none) together. */
int store_set_term_vote(struct store *s, uint64_t term, uint64_t vote, store_done_cb cb, void *arg);

/* Writes one chunk of a snapshot. Chunks go in order: offset 0 starts a
 * snapshot (abandoning any unfinished one), each next chunk starts where the
 * last ended, with the same meta->index/term/size. The chunk that reaches
 * meta->size (or the first, for an empty snapshot) finishes it: its cb runs
 * once the snapshot is durable and has replaced the previous one. Copies
 * meta, conf and data. CV_EINVAL on a chunk out of order or past size. */
int store_snapshot_put(struct store *s, const struct store_snapshot_meta *meta, uint64_t offset,
                       const void *data, size_t len, store_done_cb cb, void *arg);

/* ---- reads (ordered with writes: they see every earlier call) ------------ */

/* Reads the entries [from, to] (inclusive; from > to reads nothing); they must
 * lie within [first_index, last_index] as of the calls made so far, else
 * CV_EINVAL. */
int store_read(struct store *s, uint64_t from, uint64_t to, store_read_cb cb, void *arg);

/* Reads up to max_len bytes of the latest finished snapshot from offset.
 * Completes with CV_ENOTFOUND when there is none. */
int store_snapshot_get(struct store *s, uint64_t offset, size_t max_len, store_chunk_cb cb,
                       void *arg);

/* ---- the caller's side of the queue -------------------------------------- */

/* An fd that is readable while completions wait (or, in manual mode, while
 * operations wait). Owned by the store; watch it, do not read or close it. */
int store_event_fd(const struct store *s);

/* Runs the completions that are ready, in submission order, on the calling
 * thread; in manual mode first performs every queued operation. Callbacks may
 * call into the store. Returns how many callbacks ran. */
size_t store_dispatch(struct store *s);

/* Blocks until every operation submitted so far has completed and its
 * callback has run. For startup, tests and tools: never on the event loop. */
void store_drain(struct store *s);

/* Returns 0, or the fail-stop error code (and its message into err). */
int store_failed(const struct store *s, struct cv_err *err);

/* The log's bounds as of the calls made so far (not necessarily durable). */
uint64_t store_first_index(const struct store *s);
uint64_t store_last_index(const struct store *s);

/* Name of the adaptor ("embedded", "mem"). */
const char *store_adaptor_name(const struct store *s);

/* Completes every submitted operation (running its callback here), then
 * releases the store. NULL is ignored. */
void store_close(struct store *s);

#endif
