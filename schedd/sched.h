/*
 * sched: one evaluation in, one plan out. The scheduler proper, modelled on
 * Nomad's GenericScheduler and SystemScheduler (scheduler/generic_sched.go,
 * scheduler/scheduler_system.go), as a pure function of a state snapshot:
 * no threads, no clock, no I/O.
 *
 *   1. read the evaluation's job and every allocation of it;
 *   2. reconcile: service and batch jobs through schedd/reconcile.h,
 *      system and sysbatch jobs through schedd/reconcile_system.h;
 *   3. place what must be placed: feasibility (schedd/feasible.h, cached
 *      per computed class), distinct_hosts and distinct_property against
 *      the allocations already there and the ones this plan adds, fit and
 *      score (schedd/rank.h) over the nodes in an order shuffled once per
 *      evaluation, visited from a cursor that moves on between placements
 *      (Nomad's stack), so one placement costs the nodes it looks at, not
 *      the size of the cluster;
 *   4. report: the plan (stops, placements, in-place updates), the groups
 *      that could not be placed with Nomad's AllocMetric for each, the
 *      queued count per group, the DesiredTGUpdates annotations, and the
 *      class eligibility a blocked evaluation needs.
 *
 * The caller (a worker in regiond, or the dry run of `job plan`) submits
 * the plan to the leader's verifier; on a partial commit it refreshes its
 * snapshot and calls sch_schedule again, which reconciles against what did
 * commit and places only the rest.
 *
 * The state is read through struct sch_state, a table of functions the
 * server implements over its snapshot: this module includes nothing from
 * regiond.
 */
#ifndef SCH_SCHED_H
#define SCH_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "schedd/rank.h"
#include "schedd/reconcile.h"

typedef void (*sch_visit_node_fn)(void *arg, const struct cv_node *node);
typedef void (*sch_visit_alloc_fn)(void *arg, const struct cv_allocation *alloc);

/* A consistent, read-only view of the cluster (one snapshot). Every
 * pointer it hands out stays valid, unchanged, until the caller's snapshot
 * is released, which is after sch_outcome_free. */
struct sch_state
{
    void *ctx;
    /* The index of the snapshot: the plan's SnapshotIndex. */
    uint64_t index;
    /* The job's current version, NULL when there is none (purged). */
    const struct cv_job *(*job)(void *ctx, const char *job_id);
    /* The node, NULL when it is not registered. */
    const struct cv_node *(*node)(void *ctx, const char *node_id);
    /* Calls fn on every node, in the same order each time. */
    void (*each_node)(void *ctx, sch_visit_node_fn fn, void *arg);
    /* Calls fn on every allocation of the job, of any status. */
    void (*each_job_alloc)(void *ctx, const char *job_id, sch_visit_alloc_fn fn, void *arg);
    /* Calls fn on every allocation on the node, of any status. */
    void (*each_node_alloc)(void *ctx, const char *node_id, sch_visit_alloc_fn fn, void *arg);
};

struct sch_options
{
    int64_t now;   /* Unix ns: reschedule intervals, CreateTime of nothing */
    uint64_t seed; /* node order; 0 = derived from the evaluation ID */
    enum sch_fit_algorithm algorithm;
    /* Keep the score breakdown of the best nodes in each placement's
     * metrics (Nomad's ScoreMetaData, 5 nodes): costs memory per alloc. */
    bool score_metadata;
    /* The most placements one plan carries (0: no limit). The rest is left
     * for the next plan (outcome.truncated): a plan stays a bounded Raft
     * entry and a bounded stretch of the leader's verification. */
    size_t max_placements;
};

/* An allocation the plan stops, listed under the node it is on. */
struct sch_plan_stop
{
    char *node_id;
    char *alloc_id;
    const char *description;   /* static */
    const char *client_status; /* static; NULL: unchanged */
};

/* The plan, in the parts regiond's struct plan has; the caller converts it
 * (schedd does not know the wire shape). Everything is owned. */
struct sch_plan
{
    char *eval_id;
    char *job_id;
    int64_t priority;
    bool all_at_once;
    uint64_t snapshot_index;
    CV_VEC(struct sch_plan_stop) stops;
    /* New allocations (a fresh ID, no Job: the state gives them the job's
     * current version) and in-place updates (the existing ID and node, with
     * the job pinned to the version being scheduled). */
    CV_VEC(struct cv_allocation *) allocs;
};

struct sch_outcome
{
    struct sch_plan plan;
    /* The groups with allocations that could not be placed, and why. */
    CV_VEC(struct cv_tg_metric) failed_tg_allocs;
    /* Allocations not placed, by group (every group of the job, 0 when all
     * were placed): the evaluation's QueuedAllocations. */
    struct cv_intmap queued;
    /* What the reconciler decided, per group (Nomad's DesiredTGUpdates). */
    CV_VEC(struct sch_desired_updates) desired;
    /* For a blocked evaluation: the computed classes seen and whether a
     * node of each could run the job, and whether a constraint escaped the
     * class (then any node change may help). */
    CV_VEC(struct cv_bool_kv) class_eligibility;
    bool escaped_computed_class;
    /* The plan stopped at max_placements: schedule again once it commits. */
    bool truncated;
    /* Counters: nodes visited and placements made, for benchmarks. */
    uint64_t nodes_visited;
    uint64_t placed;
};

void sch_outcome_init(struct sch_outcome *o);
void sch_outcome_free(struct sch_outcome *o);

/* True when the outcome needs a blocked evaluation: something could not be
 * placed for lack of a feasible or fitting node. */
bool sch_outcome_blocked(const struct sch_outcome *o);

/* Schedules evaluation ev (borrowed) against st. Returns 0 and fills out
 * (initialized by the caller; free with sch_outcome_free) on success, also
 * when nothing could be placed (failed_tg_allocs says why). Returns
 * CV_EINVAL (err says what) for an evaluation without a JobID, a job type
 * the scheduler does not know, or allocations the reconciler refuses. */
int sch_schedule(const struct sch_state *st, const struct cv_evaluation *ev,
                 const struct sch_options *opts, struct sch_outcome *out, struct cv_err *err);

#endif
