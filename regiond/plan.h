/*
 * plan: the leader's plan verifier (the checking half of Nomad's plan
 * applier, nomad/plan_apply.go), as plain C: no Raft, no libevent, no
 * threads, no clock.
 *
 * A scheduler worker computes a plan against a state snapshot that may be
 * a little stale and submits it: the allocations it stops and the ones it
 * places, node by node. Before anything is written, the leader checks the
 * plan against the LATEST state, node by node: does the node still exist,
 * is it ready (and eligible, when it receives new allocations), and does
 * everything that will run on it after the plan fit its resources? What
 * fits is committed in one Raft entry (fsm_encode_plan_apply); what does
 * not is rejected, and the worker is told the index to refresh its state
 * to before it tries again. This is the optimistic concurrency that lets
 * workers schedule in parallel without locks.
 *
 * Pipelining. The leader verifies plan N+1 while plan N's entry is still
 * being committed by Raft, so plan N+1 must see plan N's effects although
 * they are not in the state yet: that is the overlay (struct
 * plan_overlay), the allocations placed and stopped by plans proposed but
 * not yet applied. plan_evaluate() reads a state snapshot through the
 * overlay. docs/plan.md has the rules, the overlay protocol and what a
 * worker must do on a partial commit.
 *
 * Threads: none of its own. A plan, a result and an overlay have one owner
 * each; plan_evaluate only reads its arguments, so it may run on another
 * thread as long as nobody changes the overlay or the plan meanwhile.
 *
 * What it does not do: queue plans by priority (the plan queue), wait for
 * the state to reach an index, talk to Raft, answer workers, check the
 * evaluation token against the eval broker, set CreateTime/ModifyTime
 * (the applier does those, with its clock), deployments, preemption,
 * devices, reserved cores, quotas, the bad-node tracker.
 */
#ifndef CV_PLAN_H
#define CV_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"

/* The largest plan document plan_parse reads: a plan becomes one Raft
 * entry, which cannot be larger. */
#define PLAN_MAX_BYTES FSM_MAX_ENTRY_BYTES

/* Nomad's job priority range; a plan's Priority is its evaluation's. */
#define PLAN_PRIORITY_MIN 1
#define PLAN_PRIORITY_MAX 100

/* ---- the plan a worker submits -------------------------------------------------------- */

/* An allocation the plan stops (an entry of Nomad's NodeUpdate): the
 * stored allocation gets DesiredStatus "stop" and these fields. */
struct plan_stop
{
    char *node_id;  /* the node it was listed under */
    char *alloc_id; /* UUID */
    char *desired_description;
    /* "" keeps the client's status; only "lost" and "unknown" take effect
     * (the state's rule), as when a node is down. */
    char *client_status;
    char *followup_eval_id; /* "" for none */
};

/* A plan (Nomad's structs.Plan, the parts Caravan has). Every string is
 * non-NULL ("" when absent).
 *
 * Ownership: the plan owns everything reachable from it: its strings, the
 * stops and the allocations (each with its AllocatedResources and, when
 * one is pinned, its Job). plan_free frees it all. Results of
 * plan_evaluate borrow from the plan (see struct plan_result).
 *
 * NodeUpdate and NodeAllocation are kept flat: a stop names its node, a
 * placement is on alloc->node_id. The order of both arrays does not
 * matter; plan_evaluate groups them by node. */
struct plan
{
    char *eval_id; /* the evaluation being scheduled (UUID) */
    char *eval_token;
    int64_t priority;
    bool all_at_once; /* gang semantics: every node fits, or nothing commits */
    char *job_id;     /* the job the plan is for (Job.ID) */
    /* Allocations to stop, from NodeUpdate. */
    struct plan_stop *stops;
    size_t n_stops;
    /* New and updated allocations, from NodeAllocation: complete
     * allocations with AllocatedResources, normally without a Job (the
     * state gives them the job's current version). */
    struct cv_allocation **allocs;
    size_t n_allocs;
    /* The state index the worker planned against: the verifier's snapshot
     * must be at least this recent. */
    uint64_t snapshot_index;

    /* private */
    size_t cap_stops, cap_allocs;
};

/* Returns a new, empty plan (priority 50, Nomad's default). */
struct plan *plan_new(void);
/* Frees the plan and everything it owns. NULL is ignored. */
void plan_free(struct plan *p);

/* Appends a stop; the strings are copied (NULL reads as ""). */
void plan_add_stop(struct plan *p, const char *node_id, const char *alloc_id,
                   const char *desired_description, const char *client_status,
                   const char *followup_eval_id);
/* Appends a placement on alloc->node_id; takes ownership of alloc. */
void plan_add_alloc(struct plan *p, struct cv_allocation *alloc);

/* Decodes a plan from parsed JSON, in Nomad's Plan shape:
 *
 *   {"EvalID", "EvalToken", "Priority", "AllAtOnce", "Job": {"ID", "Namespace"},
 *    "NodeUpdate": {"<node>": [{"ID", "DesiredDescription", "ClientStatus",
 *                               "FollowupEvalID", "DesiredStatus", "NodeID"}]},
 *    "NodeAllocation": {"<node>": [Allocation...]}, "SnapshotIndex"}
 *
 * The input is hostile: every field is checked (UUIDs, vocabularies, the
 * priority range, allocations through cv_alloc_decode, an allocation's
 * NodeID and JobID against its key and the plan's job, IDs listed twice),
 * a key nobody knows is refused, and Nomad's fields Caravan does not
 * support (NodePreemptions, Deployment, DeploymentUpdates, Annotations)
 * are accepted only empty. On success returns 0 and *out is a new plan
 * (free with plan_free); on failure returns CV_EVALIDATE, *out NULL, and
 * err holds the first problem with its field path
 * ("NodeAllocation.<node>[2].AllocatedResources: is required"). */
int plan_decode(const struct cv_json *v, struct plan **out, struct cv_err *err);
/* Parses text (at most PLAN_MAX_BYTES) and decodes it. A syntax error
 * returns the parser's CV_EPARSE or CV_ETOOBIG. */
int plan_parse(const char *text, size_t len, struct plan **out, struct cv_err *err);
/* Writes the plan in the shape plan_decode reads. */
void plan_encode(const struct plan *p, struct cv_jgen *g);

/* ---- the verifier's answer ----------------------------------------------------------------- */

#define PLAN_REASON_MAX 160

/* A node whose part of the plan was refused, and why, in Nomad's words
 * where Nomad has them: "node does not exist", "node is not ready for
 * placements", "node is down and contains invalid updates", "node is
 * disconnected and contains invalid updates", "node is not eligible",
 * "job \"<id>\" does not exist", "max allocation exceeded", "cpu",
 * "memory", "disk", "reserved alloc port collision: ...". */
struct plan_rejection
{
    const char *node_id; /* borrowed from the plan */
    char reason[PLAN_REASON_MAX];
};

/* What plan_evaluate decided.
 *
 * Ownership: the arrays are the result's (plan_result_free frees them);
 * everything they point to (allocations, strings) is borrowed from the
 * plan, so the plan must outlive the result and must not change while it
 * is used. */
struct plan_result
{
    const char *eval_id; /* the plan's */
    /* What commits: placements and stops of the nodes that fit. */
    const struct cv_allocation **allocs;
    size_t n_allocs;
    struct fsm_alloc_stop *stops;
    size_t n_stops;
    /* Nodes whose placements (or, for a node that does not fit, whole
     * part) were refused, in node ID order. */
    struct plan_rejection *rejected;
    size_t n_rejected;
    /* Stops left out because the allocation exists neither in the state
     * nor in the overlay (garbage collected meanwhile): nothing to stop. */
    size_t stops_gone;
    uint64_t snapshot_index; /* the state index the verifier read */
    /* 0 when nothing was rejected. Otherwise the index the worker must
     * wait for before it plans again: the state index the verifier used,
     * raised to the commit index of any overlay entry it counted that the
     * snapshot did not contain yet. */
    uint64_t refresh_index;
    /* The newest overlay entry counted that had not committed yet (a
     * ticket), 0 when none. When something was rejected and this is not 0,
     * the refresh index the worker gets must also cover that entry's commit
     * index (docs/plan.md, "Refresh index"). */
    uint64_t pending_ticket;
};

/* Sets r to the empty result. */
void plan_result_init(struct plan_result *r);
/* Frees r's arrays and leaves it empty. */
void plan_result_free(struct plan_result *r);
/* True when the result commits nothing (no Raft entry needed). */
bool plan_result_is_noop(const struct plan_result *r);
/* Fills out with the plan-apply command for r (no Eval): pass it to
 * fsm_encode_plan_apply. out borrows from r, valid as long as r. */
void plan_result_fsm(const struct plan_result *r, struct fsm_plan *out);

/* ---- the overlay: plans proposed but not yet applied -------------------------------------- */

struct plan_overlay;

/* Returns a new, empty overlay. */
struct plan_overlay *plan_overlay_new(void);
/* Frees it. NULL is ignored. */
void plan_overlay_free(struct plan_overlay *ov);

/* Records the effects of a result just proposed to Raft (copied: the
 * result and its plan may go). Returns the entry's ticket (never 0),
 * increasing. A no-op result may be added (it changes nothing). */
uint64_t plan_overlay_add(struct plan_overlay *ov, const struct plan_result *res);
/* The entry with this ticket was applied at Raft index `index` (whatever
 * the FSM's outcome). From then on plan_evaluate ignores it when reading a
 * snapshot at `index` or later (the state has it), and still counts it for
 * older snapshots. Unknown tickets are ignored. */
void plan_overlay_commit(struct plan_overlay *ov, uint64_t ticket, uint64_t index);
/* The entry with this ticket will never be applied (the proposal failed):
 * forget it. Unknown tickets are ignored. */
void plan_overlay_drop(struct plan_overlay *ov, uint64_t ticket);
/* Frees the committed entries at or below `index`: call it when no
 * evaluation will read a snapshot older than `index` again (typically with
 * the index of the snapshot the next evaluation uses). */
void plan_overlay_prune(struct plan_overlay *ov, uint64_t index);
/* The number of entries held (committed ones not yet pruned included). */
size_t plan_overlay_len(const struct plan_overlay *ov);

/* ---- verification ---------------------------------------------------------------------------- */

/* Checks plan p against snapshot snap as seen through overlay ov (NULL for
 * none) and fills out (overwritten; free with plan_result_free), node by
 * node (docs/plan.md has the rules):
 *
 *   - a node that only loses allocations always accepts its stops;
 *   - a node that receives allocations must exist and be "ready" (a "down"
 *     node accepts only updates marking allocations lost or unknown, a
 *     "disconnected" one only unknown), and be "eligible" unless every
 *     allocation it receives is an in-place update of one already running
 *     there; otherwise its placements are refused and its stops still
 *     apply;
 *   - the node's allocations after the plan (non-terminal ones in the
 *     state and the overlay, minus those the plan stops or replaces, plus
 *     the plan's) must fit: count (NodeMaxAllocs), CPU shares, memory MB
 *     and disk MB of NodeResources minus ReservedResources, and no host
 *     port used twice or reserved; otherwise the node's whole part (stops
 *     too) is refused;
 *   - with AllAtOnce, one refused node refuses the whole plan.
 *
 * Cost: O(k * m log m) for k nodes of m allocations each, with index range
 * scans of the state (no table scan), plus O(n log n) for the plan's n
 * entries. Returns 0; CV_EINVAL (out empty) when the snapshot is older than
 * the plan's SnapshotIndex (wait for the state first) or the plan places
 * one allocation twice. The plan is assumed valid otherwise (plan_decode's
 * checks). */
int plan_evaluate(const struct state_snap *snap, const struct plan_overlay *ov,
                  const struct plan *p, struct plan_result *out, struct cv_err *err);

#endif
