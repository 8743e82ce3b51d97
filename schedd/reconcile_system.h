/*
 * reconcile_system: what must change so that a system or sysbatch job's
 * allocations match the job: one allocation of each task group on every
 * node that may run it. The step before placement, modelled on Nomad's node
 * reconciler (scheduler/util.go diffSystemAllocs and
 * diffSystemAllocsForNode, scheduler_system.go).
 *
 * The caller passes the candidate nodes: ready, eligible, not draining, in
 * one of the job's datacenters and in its node pool (constraints and
 * resources are checked later, at placement, on the node each placement
 * names). For each task group, node by node:
 *
 *   - a candidate without a live allocation of the group gets a placement
 *     on it, "<job>.<group>[0]" (a system allocation's index is always 0);
 *     it replaces the latest terminal allocation of the group there, if any
 *     (below);
 *   - a live allocation of an older job (Version or JobModifyIndex differ)
 *     on a candidate is updated in place, or stopped and replaced on the
 *     same node when what the tasks run changed (sch_group_update_destructive);
 *   - several live allocations of a group on one node: the newest (highest
 *     CreateIndex, then highest ID) stays, the others are stopped;
 *   - a live allocation on a node that is not a candidate: stopped as lost
 *     when node_state says the node is down or gone, stopped ("alloc is
 *     being migrated", counted as migrate) when it is draining, and never
 *     replaced; kept as it is, not updated, when the node is up (it became
 *     ineligible, or left the job's datacenters or pool).
 *
 * Terminal allocations on a candidate without a live one:
 *   - system: the latest is replaced on the node, as SCH_PLACE_RESCHEDULE
 *     when it failed, SCH_PLACE_LOST when it was lost, SCH_PLACE_NEW with
 *     its ID otherwise (completed or stopped: system jobs always run);
 *   - sysbatch: the latest is rerun only when the job changed what its tasks
 *     run since (a destructive update, SCH_PLACE_DESTRUCTIVE), or when it
 *     failed and the group's ReschedulePolicy has attempts left (validated
 *     sysbatch jobs have none: failed allocations stay failed, as in Nomad).
 *     A completed allocation is never rerun for the same job version, nor is
 *     a lost or stopped one.
 *
 * A stopped job (Stop) or a purged one (job NULL) stops every live
 * allocation, as does a group the job no longer has or whose Count is 0.
 *
 * Not done here: deployments and max_parallel (every update is issued at
 * once), the drainer's order (system allocations on a draining node are
 * stopped at once, where Nomad waits for the drainer to mark them),
 * disconnected clients. The module reads model structs only; it includes
 * nothing from regiond.
 */
#ifndef SCH_RECONCILE_SYSTEM_H
#define SCH_RECONCILE_SYSTEM_H

#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/job.h"
#include "common/node.h"
#include "schedd/reconcile.h"

/* Reconciles job (borrowed; NULL when purged), of type system or sysbatch,
 * with nodes[0..n_nodes) (borrowed: the candidate nodes, each listed once)
 * and allocs[0..n) (borrowed: every allocation of the job, any status) at
 * time now (Unix ns, for the reschedule interval). node_state (may be NULL:
 * every node up) is asked, with ctx, about each node that holds a live
 * allocation and is not a candidate; candidates are up.
 *
 * On success returns 0 and fills out (release with
 * sch_reconcile_result_free): every placement has node_id set; stops,
 * in-place updates and the per-group desired counters are as
 * sch_reconcile's. Output follows the job's groups in order, then the
 * candidates in the given order, then the other nodes by ID. A replacement
 * of a failed sysbatch allocation carries the reschedule tracker with the
 * new attempt; system replacements carry none (system jobs have no
 * reschedule policy to count against).
 *
 * Returns CV_EINVAL, with out empty, for a job that is not system or
 * sysbatch, a node without an ID or listed twice, an allocation without an
 * ID, a task group or a node ID. */
int sch_reconcile_system(const struct cv_job *job, const struct cv_node *const *nodes,
                         size_t n_nodes, const struct cv_allocation *const *allocs, size_t n,
                         sch_node_state_fn node_state, void *ctx, int64_t now,
                         struct sch_reconcile_result *out, struct cv_err *err);

#endif
