/*
 * state: the region server's in-memory state store: the tables the FSM
 * writes (jobs with their versions, nodes, allocations, evaluations) and
 * that readers (HTTP handlers, scheduler workers, the plan applier) query.
 *
 * How it works. Every table is a persistent (immutable, path-copying)
 * balanced tree keyed by string; secondary indexes are trees of the same
 * kind keyed by composite keys ("<job id>\0<alloc id>"), so "allocations of
 * job X" is a range scan. A *state* is one root holding every table, the
 * index of the Raft entry that produced it and the index of the last write
 * to each table. A write transaction builds the next state beside the
 * current one, sharing every tree node it did not change; committing
 * publishes it with one pointer swap. A reader's snapshot is a reference
 * on one state: O(1) to take, never blocked by the writer, never changed
 * by it. docs/state.md describes the design.
 *
 * Objects. The store takes ownership of the jobs, nodes, allocations and
 * evaluations given to it, fills the fields the state owns (CreateIndex,
 * ModifyIndex, Version, Status... as Nomad's state store does), and from
 * then on never changes them: an update stores a new object. They are
 * reference-counted, so many states share them. Pointers returned by the
 * getters are valid while the caller holds the snapshot they came from.
 * For the objects to survive state_snapshot_write/state_restore exactly,
 * they must be canonical (as cv_*_decode leaves them).
 *
 * Allocations share their job: an allocation upserted without a Job gets
 * the job of the allocation it replaces, or the current version of its job
 * (Nomad's denormalized plan results), and alloc->job then points at that
 * shared, immutable job.
 *
 * Threads. One thread (the FSM's) writes, through one transaction at a
 * time. Snapshots may be taken, read, passed and released on any thread.
 * Keys are IDs in the single namespace "default" (docs/state.md says how
 * namespaces would fit).
 *
 * What it does not do: validate objects (the FSM's callers did, at the
 * border), persist anything (Raft's log and snapshots do), deployments,
 * job summaries, periodic or parameterized jobs.
 */
#ifndef CV_STATE_H
#define CV_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"

/* The tables, for per-table indexes and change notification. */
enum state_table
{
    STATE_JOBS,
    STATE_JOB_VERSIONS,
    STATE_NODES,
    STATE_ALLOCS,
    STATE_EVALS,
    STATE_TABLE_COUNT
};

#define STATE_MASK(table) (1u << (table))
#define STATE_ALL_TABLES  ((1u << STATE_TABLE_COUNT) - 1u)

/* Nomad's JobTrackedVersions: versions kept per job, current included. */
#define STATE_JOB_TRACKED_VERSIONS 6

struct state_config
{
    unsigned job_tracked_versions; /* 0 means STATE_JOB_TRACKED_VERSIONS */
};

struct state_store;
struct state_snap;
struct state_txn;

/* Returns a new, empty store at index 0. cfg is borrowed (NULL for the
 * defaults). */
struct state_store *state_store_new(const struct state_config *cfg);
/* Frees the store. No transaction may be open and no watch registered;
 * snapshots still held stay valid and are released on their own. */
void state_store_free(struct state_store *st);

/* ---- snapshots (any thread) --------------------------------------------- */

/* Returns a new reference on the current state: O(1), never blocked by a
 * running transaction, and unaffected by later commits. */
struct state_snap *state_snapshot(struct state_store *st);
/* Returns a new reference on the same snapshot (to hand it to a thread). */
struct state_snap *state_snapshot_retain(const struct state_snap *snap);
/* Drops a reference; NULL is ignored. Objects obtained from the snapshot
 * must not be used after the caller's last reference is dropped. */
void state_snapshot_release(struct state_snap *snap);

/* The Raft index of the last transaction committed into this state. */
uint64_t state_snap_index(const struct state_snap *snap);
/* The index of the last write to a table (X-Nomad-Index), 0 if never. */
uint64_t state_table_index(const struct state_snap *snap, enum state_table table);
/* The greatest index of the tables in mask (STATE_MASK bits). */
uint64_t state_tables_index(const struct state_snap *snap, unsigned mask);
/* The number of rows of a table. */
size_t state_table_count(const struct state_snap *snap, enum state_table table);

/* ---- getters: borrowed pointers, valid while the snapshot is held --------- */

const struct cv_job *state_job(const struct state_snap *snap, const char *id);
/* A tracked version of a job (the current one included), or NULL. */
const struct cv_job *state_job_version(const struct state_snap *snap, const char *id,
                                       uint64_t version);
const struct cv_node *state_node(const struct state_snap *snap, const char *id);
const struct cv_allocation *state_alloc(const struct state_snap *snap, const char *id);
const struct cv_evaluation *state_eval(const struct state_snap *snap, const char *id);

/* ---- iterators ------------------------------------------------------------
 * An iterator lives on the caller's stack, borrows its snapshot (and its
 * prefix or key argument) and needs no release. state_iter_next returns the
 * next object (const struct cv_job * for job iterators, and so on), or NULL
 * at the end. Order is by the index's key: IDs in byte order; job versions
 * newest first.
 */
#define STATE_ITER_DEPTH 64 /* > the height of any AVL tree in memory */

struct state_tnode;

struct state_iter
{
    /* private */
    const struct state_tnode *stack[STATE_ITER_DEPTH];
    unsigned depth;
    const char *prefix;
    size_t prefix_len;
    bool composite; /* prefix is "<prefix>\0", the first part of a composite key */
};

/* Jobs whose ID starts with prefix ("" or NULL for all). */
void state_iter_jobs(const struct state_snap *snap, const char *prefix, struct state_iter *it);
/* The tracked versions of a job, newest first. */
void state_iter_job_versions(const struct state_snap *snap, const char *job_id,
                             struct state_iter *it);
void state_iter_nodes(const struct state_snap *snap, const char *prefix, struct state_iter *it);
void state_iter_allocs(const struct state_snap *snap, const char *prefix, struct state_iter *it);
void state_iter_allocs_by_job(const struct state_snap *snap, const char *job_id,
                              struct state_iter *it);
void state_iter_allocs_by_node(const struct state_snap *snap, const char *node_id,
                               struct state_iter *it);
void state_iter_evals(const struct state_snap *snap, const char *prefix, struct state_iter *it);
void state_iter_evals_by_job(const struct state_snap *snap, const char *job_id,
                             struct state_iter *it);
void state_iter_evals_by_status(const struct state_snap *snap, const char *status,
                                struct state_iter *it);
const void *state_iter_next(struct state_iter *it);

/* ---- write transactions (the writer thread only) ---------------------------
 * One at a time. Each write call either applies completely or returns an
 * error and changes nothing, so the transaction stays usable; the FSM
 * decides whether to commit the rest or abort. Write calls take ownership
 * of the objects they are given on success only (the array itself stays
 * the caller's); on failure the caller still owns them. ID strings are
 * borrowed for the call; except for state_txn_delete_job's, they must not
 * belong to objects the call deletes or replaces (copy an ID read from
 * state_txn_view first).
 */

/* Opens the transaction of Raft entry `index`, which must be greater than
 * the index of the current state. */
struct state_txn *state_txn_begin(struct state_store *st, uint64_t index);
/* The transaction's state as it is now, writes included, for the FSM's
 * reads. Borrowed: the view and what is read from it are valid until the
 * next write call, commit or abort. */
const struct state_snap *state_txn_view(const struct state_txn *txn);

/* Registers or updates a job. A new job gets CreateIndex = ModifyIndex =
 * JobModifyIndex = index and keeps its Version; an existing one keeps its
 * CreateIndex and gets Version = max(given, previous + 1). Status is
 * computed from the job's allocations and evaluations (Nomad's rules).
 * The job is recorded in job_versions, which keeps the newest
 * job_tracked_versions versions and, beyond those, the newest stable one. */
int state_txn_upsert_job(struct state_txn *txn, struct cv_job *job, struct cv_err *err);
/* Purges a job and its versions (not its allocations or evaluations, which
 * garbage collection deletes). CV_ENOTFOUND when absent. */
int state_txn_delete_job(struct state_txn *txn, const char *job_id, struct cv_err *err);

/* Registers or updates a node. A known node keeps its CreateIndex, drain
 * state and scheduling eligibility (a client cannot undo a drain by
 * registering again). */
int state_txn_upsert_node(struct state_txn *txn, struct cv_node *node, struct cv_err *err);
/* Sets Status and StatusUpdatedAt (Unix seconds); CV_ENOTFOUND when the
 * node is unknown. status is borrowed. */
int state_txn_update_node_status(struct state_txn *txn, const char *node_id, const char *status,
                                 int64_t updated_at, struct cv_err *err);
/* Sets SchedulingEligibility; CV_ENOTFOUND for an unknown node, CV_EINVAL
 * when making a draining node eligible. */
int state_txn_update_node_eligibility(struct state_txn *txn, const char *node_id,
                                      const char *eligibility, struct cv_err *err);
/* Sets or clears a node's drain (Nomad's UpdateNodeDrain). strategy is
 * borrowed and copied into the node as its DrainStrategy, with Drain true
 * and SchedulingEligibility "ineligible"; NULL turns the drain off (no
 * DrainStrategy, Drain false), and with mark_eligible makes the node
 * "eligible" again (without, its eligibility stays as it is). The node's
 * StatusUpdatedAt becomes updated_at (Unix seconds). The strategy's times
 * must be RFC 3339 or "" (the caller validated them). CV_ENOTFOUND when
 * the node is unknown. */
int state_txn_update_node_drain(struct state_txn *txn, const char *node_id,
                                const struct cv_drain_strategy *strategy, bool mark_eligible,
                                int64_t updated_at, struct cv_err *err);
/* Deletes nodes; CV_ENOTFOUND (and nothing deleted) if one is unknown. */
int state_txn_delete_nodes(struct state_txn *txn, const char *const *ids, size_t n,
                           struct cv_err *err);

/* Inserts or replaces allocations (plan results). A replaced allocation's
 * CreateIndex, TaskStates and client status are kept (unless the new one
 * is marked lost or unknown), as Nomad does. An allocation without a Job
 * shares the job of the allocation it replaces, or the current version of
 * job JobID; CV_ENOTFOUND if there is neither. ModifyIndex and
 * AllocModifyIndex become index. Job statuses follow. */
int state_txn_upsert_allocs(struct state_txn *txn, struct cv_allocation *const *allocs, size_t n,
                            struct cv_err *err);
/* Applies what a client is the authority on: ClientStatus,
 * ClientDescription, TaskStates and ModifyTime are taken from each update
 * (matched by ID) into a copy of the stored allocation, ModifyIndex becomes
 * index. Updates for unknown allocations are dropped. Takes ownership of
 * every update on success (also the dropped ones). */
int state_txn_update_allocs_from_client(struct state_txn *txn, struct cv_allocation *const *updates,
                                        size_t n, struct cv_err *err);

/* Inserts or replaces evaluations. An evaluation that completes without
 * failed task groups cancels the job's blocked evaluations, as Nomad's
 * does. Job statuses follow. */
int state_txn_upsert_evals(struct state_txn *txn, struct cv_evaluation *const *evals, size_t n,
                           struct cv_err *err);
/* Deletes evaluations and allocations (garbage collection); unknown IDs
 * are skipped. Job statuses follow (a job with nothing left is dead). */
int state_txn_delete_evals(struct state_txn *txn, const char *const *eval_ids, size_t n_evals,
                           const char *const *alloc_ids, size_t n_allocs, struct cv_err *err);

/* Publishes every write of the transaction at once, fires the watches it
 * satisfies (on this thread) and closes the transaction. A transaction with
 * no write still moves the state's index to its own (a Raft entry that
 * changed nothing was applied). Returns the index. */
uint64_t state_txn_commit(struct state_txn *txn);
/* Drops every write of the transaction and closes it. */
void state_txn_abort(struct state_txn *txn);

/* ---- change notification for blocking queries -------------------------------
 * A watch fires once, after the first commit that writes one of its tables
 * at an index above min_index (or after a restore, which replaces every
 * table). Its callback runs on the committing thread with the watch lock
 * held: it must be short, must not block and must not call state_watch_*;
 * it is meant to hand the event to the owner's loop (event_active). The
 * struct is the caller's and must stay valid until it fired or was removed.
 */
typedef void (*state_watch_fn)(void *arg, uint64_t index);

struct state_watch
{
    /* private */
    struct state_watch *prev, *next;
    unsigned tables;
    uint64_t min_index;
    state_watch_fn fn;
    void *arg;
    bool armed;
};

/* Registers w. Returns false, without registering, when the tables in mask
 * already have an index above min_index (answer the query at once); there
 * is no window in which a commit could be missed between the caller's read
 * and the registration. */
bool state_watch_add(struct state_store *st, struct state_watch *w, unsigned tables,
                     uint64_t min_index, state_watch_fn fn, void *arg);
/* Unregisters w. Returns true if it was still armed; false if it already
 * fired. After it returns the callback is not running and never will. */
bool state_watch_remove(struct state_store *st, struct state_watch *w);

/* ---- FSM snapshot and restore (Raft compaction) -----------------------------
 * The stream is text: a versioned header line, one line per record, an end
 * line with the record count. Each line is "<fnv-1a 64 hex> <compact JSON>"
 * so a damaged record is named. docs/state.md has the format.
 */

/* Receives the next bytes of the stream; returns 0 or a negative CV_E*. */
typedef int (*state_write_fn)(void *arg, const void *data, size_t len);
/* Fills buf with up to cap bytes; *got = 0 at the end of the stream.
 * Returns 0 or a negative CV_E*. */
typedef int (*state_read_fn)(void *arg, void *buf, size_t cap, size_t *got);

/* Streams the whole snapshot. Returns 0, or the writer's error (wrapped). */
int state_snapshot_write(const struct state_snap *snap, state_write_fn fn, void *arg,
                         struct cv_err *err);
/* Rebuilds the state from a stream and publishes it in place of the
 * current one (readers holding older snapshots keep them), then fires
 * every watch. On failure (CV_EPARSE for a truncated or damaged stream,
 * naming the record; or the reader's error) the store is unchanged. No
 * transaction may be open. */
int state_restore(struct state_store *st, state_read_fn fn, void *arg, struct cv_err *err);

#endif
