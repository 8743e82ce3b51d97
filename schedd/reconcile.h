/*
 * reconcile: what must change so that a service or batch job's allocations
 * match the job? The step before placement, modelled on Nomad's allocation
 * reconciler (scheduler/reconcile.go, computeGroup).
 *
 * For each task group the reconciler sorts the group's allocations into
 * buckets and turns them into decisions:
 *
 *   - allocations already stopped, service allocations that completed or
 *     were lost, and failed ones already replaced (NextAllocation set) are
 *     left alone and do not count;
 *   - live allocations on a node that is down or gone are lost: stopped with
 *     client status "lost" and replaced; on a draining node they migrate:
 *     stopped and replaced;
 *   - failed allocations are replaced while the ReschedulePolicy has
 *     attempts left in its interval (or is unlimited); the placement carries
 *     the tracker with the new attempt recorded. Out of attempts, they stay
 *     as they are and count toward Count;
 *   - batch allocations that completed count toward Count and are never
 *     replaced;
 *   - when more allocations would remain than Count, replacements of lost
 *     then of migrating allocations are given up first, then the highest
 *     name indexes go; missing ones are placed at the lowest free indexes;
 *   - live allocations of an older job are updated in place, or stopped and
 *     replaced (destructive update) when what the tasks run changed
 *     (sch_group_update_destructive).
 *
 * A stopped job (Stop) or a purged one (job NULL) stops every live
 * allocation, as does a group the job no longer has.
 *
 * Not done here: system and sysbatch jobs (Nomad's node reconciler:
 * schedd/reconcile_system.h, which shares this result struct), deployments,
 * canaries and max_parallel (every destructive update is issued at once),
 * the reschedule delay (replacements are immediate, no follow-up
 * evaluations), disconnected clients. The module reads model structs only;
 * it includes nothing from regiond.
 */
#ifndef SCH_RECONCILE_H
#define SCH_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/job.h"

/* Stop descriptions, as Nomad's reconciler words them. */
#define SCH_DESC_NOT_NEEDED "alloc not needed due to job update"
#define SCH_DESC_MIGRATING  "alloc is being migrated"
#define SCH_DESC_UPDATING   "alloc is being updated due to job update"
#define SCH_DESC_LOST       "alloc is lost since its node is down"

/* What the caller knows of the node an allocation runs on. */
enum sch_node_state
{
    SCH_NODE_UP,       /* ready or ineligible, not draining */
    SCH_NODE_DRAINING, /* has a drain strategy: its allocations migrate */
    SCH_NODE_DOWN,     /* status down: its allocations are lost */
    SCH_NODE_GONE,     /* not in the state store: also lost */
};

/* Tells the state of node node_id (borrowed for the call). ctx is the
 * caller's, passed through. */
typedef enum sch_node_state (*sch_node_state_fn)(void *ctx, const char *node_id);

/* Why a placement is made. */
enum sch_place_reason
{
    SCH_PLACE_NEW,         /* Count not met */
    SCH_PLACE_LOST,        /* replaces an allocation on a down or gone node */
    SCH_PLACE_MIGRATE,     /* replaces an allocation on a draining node */
    SCH_PLACE_RESCHEDULE,  /* replaces a failed allocation */
    SCH_PLACE_DESTRUCTIVE, /* replaces an allocation of an older job */
};

struct sch_placement
{
    char *task_group;
    char *name; /* "<job>.<group>[<index>]" */
    /* The allocation it replaces; NULL for SCH_PLACE_NEW, except a system
     * job's placement that replaces a completed or stopped allocation. */
    char *previous_id;
    /* The node it must go on: system and sysbatch placements only
     * (schedd/reconcile_system.h); NULL otherwise. */
    char *node_id;
    enum sch_place_reason reason;
    /* SCH_PLACE_RESCHEDULE only: the failed allocation's events within and
     * before the interval, plus this attempt (time now, its ID and node).
     * NULL for a system job's replacements: no policy counts them. */
    struct cv_reschedule_tracker *reschedule_tracker;
};

struct sch_stop
{
    char *alloc_id;
    const char *description;   /* one of SCH_DESC_*, static */
    const char *client_status; /* CV_ALLOC_CLIENT_LOST, or NULL: unchanged */
};

/* Nomad's DesiredUpdates annotation for one task group. */
struct sch_desired_updates
{
    char *task_group;
    int64_t place;       /* new allocations and replacements of lost/failed ones */
    int64_t stop;        /* stopped: not needed or lost */
    int64_t migrate;     /* stopped and replaced off a draining node */
    int64_t inplace;     /* updated in place */
    int64_t destructive; /* stopped and replaced for a job update */
    int64_t ignore;      /* kept as they are */
};

struct sch_reconcile_result
{
    CV_VEC(struct sch_placement) place;
    CV_VEC(struct sch_stop) stop;
    CV_VEC(char *) inplace; /* IDs of the allocations updated in place */
    CV_VEC(struct sch_desired_updates)
    desired; /* job's groups in order, then
                groups only allocations name */
};

/* Reconciles job (borrowed; NULL when purged) with allocs[0..n) (borrowed:
 * every allocation of the job, any status) at time now (Unix ns, for the
 * reschedule interval). node_state (may be NULL: every node up) is asked
 * about the node of each live allocation. On success returns 0 and fills out
 * (release with sch_reconcile_result_free). Returns CV_EUNSUPPORTED for
 * system and sysbatch jobs, CV_EINVAL for an allocation without an ID, a
 * task group or a "...[<index>]" name; out is then empty. */
int sch_reconcile(const struct cv_job *job, const struct cv_allocation *const *allocs, size_t n,
                  sch_node_state_fn node_state, void *ctx, int64_t now,
                  struct sch_reconcile_result *out, struct cv_err *err);

void sch_reconcile_result_free(struct sch_reconcile_result *r);

/* True when moving an allocation from old_job's group old_tg to new_job's
 * group new_tg needs a new allocation: the tasks (by name, in order), their
 * driver, user, config, env, meta, resources, lifecycle or log config
 * changed, or the group's networks, ephemeral disk or
 * meta, or the job's meta. Only Count, constraints, affinities, spreads,
 * restart/reschedule policies, update/migrate strategies, shutdown delays,
 * kill timeout/signal, leader and kind may change in place. */
bool sch_group_update_destructive(const struct cv_job *old_job, const struct cv_task_group *old_tg,
                                  const struct cv_job *new_job, const struct cv_task_group *new_tg);

#endif
