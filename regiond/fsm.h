/*
 * fsm: the region server's finite state machine, the one place where a
 * committed Raft entry becomes a change of the state store.
 *
 * Every state change of a region is a Raft log entry of type RAFT_COMMAND
 * whose bytes the Raft library never looks at. This module gives them a
 * meaning, in both directions:
 *
 *   - the leader builds an entry with an fsm_encode_* function from model
 *     objects it has already decoded and validated at the border;
 *   - every server, the leader included, hands each committed entry to
 *     fsm_apply(), in index order, which decodes it and applies it to the
 *     state store in ONE transaction at the entry's index: all of it is
 *     committed, or none of it.
 *
 * Entry format: one byte of command type (enum fsm_command), one byte of
 * command version, then a JSON object with Nomad's field names (the
 * models' own encodings, as in the state store's snapshots), so an entry
 * reads in a hex dump. docs/fsm.md has the table of commands.
 *
 * Bad entries. The bytes are treated as hostile even though they came
 * through Raft: a leader's bug or a version skew must not crash every
 * server at once. An entry that does not decode (too short, unknown type
 * or version, bad JSON, wrong shapes, an object its model refuses) is
 * SKIPPED: nothing is written, an error is logged and counted. An entry
 * that decodes but that the state refuses (a status for an unknown node, a
 * plan stopping an allocation that does not exist) is REJECTED as a whole,
 * as Nomad's FSM rejects it, and the proposer gets the reason in its
 * result. Either way the state's index still moves to the entry's index, so
 * the state's index is always the index of the last entry applied, on every
 * server alike.
 *
 * Threads: one thread (the one Raft applies entries on) calls fsm_apply,
 * fsm_apply_noop and fsm_restore; fsm_get_stats may be called from any
 * thread. The encoders are pure functions, callable from any thread.
 *
 * What it does not do: talk to Raft (it gets (index, data, len) and needs
 * no Raft header), tell the eval broker or the heartbeat timers what
 * changed (the daemon does that from the result and the state), validate
 * requests (the endpoints do, at the border).
 */
#ifndef CV_FSM_H
#define CV_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "regiond/state/state.h"

/* The command type, the first byte of an entry. A new command gets a new
 * number; numbers are never reused. 0 is never a command. */
enum fsm_command
{
    FSM_JOB_REGISTER = 1,
    FSM_JOB_DEREGISTER = 2,
    FSM_NODE_REGISTER = 3,
    FSM_NODE_STATUS = 4,
    FSM_NODE_ELIGIBILITY = 5,
    FSM_NODE_DEREGISTER = 6,
    FSM_EVAL_UPDATE = 7,
    FSM_EVAL_DELETE = 8,
    FSM_ALLOC_CLIENT_UPDATE = 9,
    FSM_PLAN_APPLY = 10,
    FSM_NODE_DRAIN = 11,
};
#define FSM_COMMAND_MAX FSM_NODE_DRAIN

/* The command version, the second byte: the one every encoder writes and
 * the only one fsm_apply reads. A change an older server must not ignore
 * bumps it (docs/fsm.md, "Versioning"). */
#define FSM_COMMAND_VERSION 1

/* Type byte + version byte. */
#define FSM_HEADER_BYTES 2

/* The largest entry the encoders produce and fsm_apply decodes: Raft's own
 * limit on an entry (RAFT_MAX_ENTRY_BYTES). */
#define FSM_MAX_ENTRY_BYTES ((size_t)64 << 20)

/* The format version of fsm_snapshot_write's header. */
#define FSM_SNAPSHOT_VERSION 1

/* Returns the command's name as logs show it ("JobRegister"), or
 * "unknown". */
const char *fsm_command_name(unsigned type);

/* ---- encoding (what the leader proposes) ------------------------------------------
 * Each encoder replaces the contents of `out` with a whole entry: header
 * and JSON body. The objects are borrowed and must be canonical, as the
 * models' decoders leave them. Returns 0; CV_EINVAL when a string is not
 * valid UTF-8 (err says so); CV_ETOOBIG when the entry would exceed
 * FSM_MAX_ENTRY_BYTES. On failure `out` is left empty.
 */

/* {"Job": job, "Eval": eval}. eval may be NULL; its JobID must be job's ID. */
int fsm_encode_job_register(const struct cv_job *job, const struct cv_evaluation *eval,
                            struct cv_buf *out, struct cv_err *err);

/* {"JobID", "Purge", "SubmitTime", "Eval"}. Without purge the job is
 * stopped: a new version of it with Stop = true (and SubmitTime, when not
 * 0). With purge the job and its versions are deleted. eval may be NULL. */
int fsm_encode_job_deregister(const char *job_id, bool purge, int64_t submit_time,
                              const struct cv_evaluation *eval, struct cv_buf *out,
                              struct cv_err *err);

/* {"Node": node}. */
int fsm_encode_node_register(const struct cv_node *node, struct cv_buf *out, struct cv_err *err);

/* {"NodeID", "Status", "UpdatedAt" (Unix seconds), "Evals": [...]}: the
 * status change and the evaluations it creates, in one entry. */
int fsm_encode_node_status(const char *node_id, const char *status, int64_t updated_at,
                           const struct cv_evaluation *const *evals, size_t n_evals,
                           struct cv_buf *out, struct cv_err *err);

/* {"NodeID", "Eligibility"}. */
int fsm_encode_node_eligibility(const char *node_id, const char *eligibility, struct cv_buf *out,
                                struct cv_err *err);

/* {"NodeID", "DrainStrategy": {"Deadline", "IgnoreSystemJobs",
 * "ForceDeadline", "StartedAt"} or null, "MarkEligible", "UpdatedAt" (Unix
 * seconds)}: Nomad's NodeUpdateDrainRequest as its FSM applies it. A
 * strategy (borrowed; its times RFC 3339 or "") starts or updates a drain
 * and makes the node ineligible; NULL ends it, and with mark_eligible makes
 * the node eligible again. The strategy is written as given: the leader
 * computes ForceDeadline and StartedAt before proposing. */
int fsm_encode_node_drain(const char *node_id, const struct cv_drain_strategy *strategy,
                          bool mark_eligible, int64_t updated_at, struct cv_buf *out,
                          struct cv_err *err);

/* {"NodeIDs": [...]}. */
int fsm_encode_node_deregister(const char *const *node_ids, size_t n, struct cv_buf *out,
                               struct cv_err *err);

/* {"Evals": [...]}. */
int fsm_encode_eval_update(const struct cv_evaluation *const *evals, size_t n, struct cv_buf *out,
                           struct cv_err *err);

/* {"Evals": [IDs], "Allocs": [IDs]}: garbage collection. */
int fsm_encode_eval_delete(const char *const *eval_ids, size_t n_evals,
                           const char *const *alloc_ids, size_t n_allocs, struct cv_buf *out,
                           struct cv_err *err);

/* {"Allocs": [...], "Evals": [...]}. Only what a client is the authority on
 * is written for each allocation: ID, NodeID, ClientStatus,
 * ClientDescription, TaskStates and ModifyTime. */
int fsm_encode_alloc_client_update(const struct cv_allocation *const *allocs, size_t n_allocs,
                                   const struct cv_evaluation *const *evals, size_t n_evals,
                                   struct cv_buf *out, struct cv_err *err);

/* An allocation a plan stops (Nomad's AllocationDiff): the stored
 * allocation with DesiredStatus "stop" and these fields changed. */
struct fsm_alloc_stop
{
    const char *id;
    const char *desired_description;
    /* NULL or "" keeps the client's status; only "lost" and "unknown" take
     * effect (the state keeps a client's own status otherwise, as Nomad). */
    const char *client_status;
    const char *followup_eval_id; /* NULL or "" for none */
    int64_t modify_time;          /* Unix ns; 0 keeps the stored one */
};

/* What the plan verifier commits for one plan. */
struct fsm_plan
{
    const char *eval_id; /* the evaluation the plan came from; required */
    /* Placements and in-place updates. An allocation without a Job shares
     * the job of the allocation it replaces, or the current version of its
     * job (the state's rule), so plans normally leave Job out. */
    const struct cv_allocation *const *allocs_updated;
    size_t n_updated;
    const struct fsm_alloc_stop *allocs_stopped;
    size_t n_stopped;
    const struct cv_evaluation *eval; /* written with the plan; NULL for none */
};

/* {"EvalID", "AllocsUpdated": [...], "AllocsStopped": [{"ID",
 * "DesiredDescription", "ClientStatus", "FollowupEvalID", "ModifyTime"}],
 * "Eval"}. */
int fsm_encode_plan_apply(const struct fsm_plan *plan, struct cv_buf *out, struct cv_err *err);

/* ---- applying (every server) ------------------------------------------------------- */

struct fsm;

/* Returns a new FSM writing into st (borrowed: it must outlive the FSM, and
 * nothing else may write into it). */
struct fsm *fsm_new(struct state_store *st);
/* Frees the FSM, not the store. NULL is ignored. */
void fsm_free(struct fsm *f);

enum fsm_outcome
{
    FSM_APPLIED,  /* committed at the entry's index */
    FSM_REJECTED, /* decoded, refused by the state: nothing written */
    FSM_SKIPPED,  /* did not decode: nothing written, logged as an error */
};

#define FSM_ID_MAX          36 /* a UUID */
#define FSM_FREED_NODES_MAX 16

/* What the proposer of an entry learns from its application. */
struct fsm_result
{
    enum fsm_outcome outcome;
    unsigned type;     /* the entry's type byte; 0 when it had none */
    uint64_t index;    /* the entry's index: the state's index after the call */
    struct cv_err err; /* code 0 when applied; the reason otherwise */
    /* JobRegister and JobDeregister without purge: the job as stored. */
    uint64_t job_version;
    uint64_t job_modify_index;
    /* The command's "Eval" (JobRegister, JobDeregister, PlanApply), "" when
     * there was none or it was not applied. */
    char eval_id[FSM_ID_MAX + 1];
    /* Nodes where an allocation stopped running (AllocClientUpdate to a
     * terminal client status, PlanApply stops): capacity was freed there,
     * so blocked evaluations may now fit. With more nodes than listed,
     * freed_overflow is set and the list is partial. */
    char freed_nodes[FSM_FREED_NODES_MAX][FSM_ID_MAX + 1];
    size_t n_freed_nodes;
    bool freed_overflow;
};

/* Applies the committed entry at `index`, which must be above the state's
 * index (every entry is applied once, in order). Returns 0 when the entry
 * was consumed, whatever its outcome (res says which); the state's index is
 * then `index`. Returns CV_EINVAL, doing nothing, when index is not above
 * the state's: the caller applied an entry twice or out of order. res may
 * be NULL. data is borrowed for the call. */
int fsm_apply(struct fsm *f, uint64_t index, const void *data, size_t len, struct fsm_result *res);

/* For the entries that are not commands (Raft's no-ops, barriers,
 * configuration changes): moves the state's index to `index` without
 * writing a table, so the state's index stays the last applied Raft index
 * (what Raft's snapshots and "wait until the state reaches index N" need).
 * Returns 0, or CV_EINVAL as fsm_apply does. */
int fsm_apply_noop(struct fsm *f, uint64_t index);

struct fsm_stats
{
    uint64_t applied;            /* commands committed */
    uint64_t rejected;           /* commands the state refused */
    uint64_t skipped;            /* entries that did not decode */
    uint64_t noops;              /* fsm_apply_noop calls */
    uint64_t last_index;         /* the last entry consumed (or restored) */
    uint64_t last_skipped_index; /* 0 when none was skipped */
};

/* Copies the counters. Any thread. */
void fsm_get_stats(const struct fsm *f, struct fsm_stats *out);

/* ---- snapshot and restore (Raft log compaction) -----------------------------------
 * The stream is one header line of the FSM's own,
 *   {"Format":"caravan-fsm","Version":1}\n
 * followed by the state store's snapshot stream (docs/state.md), so a later
 * change of the FSM can refuse an older snapshot clearly.
 */

/* Streams snap (taken by the caller at the index it reports to Raft; any
 * thread) through fn. Returns 0 or the writer's error. */
int fsm_snapshot_write(const struct state_snap *snap, state_write_fn fn, void *arg,
                       struct cv_err *err);

/* Replaces the state with the snapshot read through fn. CV_EPARSE for a
 * stream that is not an FSM snapshot or is damaged, CV_EUNSUPPORTED for an
 * FSM or state format version this server does not read, or the reader's
 * error; on failure the state is unchanged. */
int fsm_restore(struct fsm *f, state_read_fn fn, void *arg, struct cv_err *err);

#endif
