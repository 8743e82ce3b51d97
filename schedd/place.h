/*
 * place: the placement engine of one evaluation (Nomad's stack): which
 * node should the next allocation of a task group go on?
 *
 * Built once per evaluation, it keeps what one placement learned for the
 * next: the candidate nodes (ready, eligible, not draining, in the job's
 * datacenters and node pool) in an order shuffled from the evaluation's
 * seed, a cursor into that order that moves on between placements, each
 * node's usage (loaded from the state the first time the node is looked
 * at, then kept current as the plan stops and places), and the count of
 * the job's allocations per node and group. A placement therefore costs
 * the nodes it visits (about the rank limit), not the cluster's size.
 *
 * For one placement of the selected group, node by node from the cursor:
 * feasibility (schedd/feasible.h, cached per class), distinct_hosts and
 * distinct_property against the job's live allocations and the plan's
 * placements, fit (CPU, memory, disk, NodeMaxAllocs), then the scores of
 * schedd/rank.h averaged; the best of the first `limit` nodes that fit
 * wins. Everything seen is counted into a struct cv_alloc_metric as
 * Nomad's AllocMetric counts it.
 *
 * Used by sched.c only; the header exists so that tests and benchmarks
 * can drive it too.
 */
#ifndef SCH_PLACE_H
#define SCH_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "schedd/rank.h"
#include "schedd/sched.h"

/* The dimension reported when NodeMaxAllocs is reached. */
#define SCH_DIM_MAX_ALLOCS "allocations"

struct sch_stack;

/* True when node may receive allocations of job at all: ready, eligible,
 * not draining, in one of the job's datacenters and its node pool (the
 * candidates; constraints and drivers are checked per group). */
bool sch_node_candidate(const struct cv_job *job, const struct cv_node *node);

/* Builds the engine for job (borrowed) over st (borrowed), reading the
 * job's allocations job_allocs[0..n) (borrowed; any status). seed orders
 * the nodes. Never fails. */
struct sch_stack *sch_stack_new(const struct sch_state *st, const struct cv_job *job,
                                const struct cv_allocation *const *job_allocs, size_t n,
                                uint64_t seed, enum sch_fit_algorithm algorithm,
                                bool score_metadata);
void sch_stack_free(struct sch_stack *s);

/* The plan stops alloc (borrowed): its resources are free for placements
 * and it no longer counts for anti-affinity and distinct_*. Call for every
 * stop before the first placement. */
void sch_stack_stop(struct sch_stack *s, const struct cv_allocation *alloc);

/* Selects the task group the next placements are for (one of the job's).
 * Returns 0, or CV_EINVAL when a constraint cannot be checked (err). */
int sch_stack_select_group(struct sch_stack *s, const struct cv_task_group *tg, struct cv_err *err);

/* Picks a node for one allocation of the selected group asking `ask`,
 * counting what it saw into metric (added to, not reset). On success
 * returns the node (borrowed from the state) and records the placement
 * (usage, counts, spreads); NULL when no node is feasible and fits. */
const struct cv_node *sch_stack_place(struct sch_stack *s, const struct sch_resources *ask,
                                      struct cv_alloc_metric *metric);

/* For system jobs: may node (borrowed) run one more allocation of the
 * selected group? Returns true and records the placement, or false with
 * *filtered true when the node is not feasible (a constraint, a driver,
 * not a candidate) and false when it is feasible but full. metric counts
 * the visit. */
bool sch_stack_place_on(struct sch_stack *s, const struct cv_node *node,
                        const struct sch_resources *ask, struct cv_alloc_metric *metric,
                        bool *filtered);

/* The number of candidate nodes and the node visits made so far. */
size_t sch_stack_candidates(const struct sch_stack *s);
uint64_t sch_stack_visits(const struct sch_stack *s);

/* Fills the class eligibility seen so far (a computed class is eligible when
 * a node of it passed feasibility for some group, ineligible when nodes of
 * it were filtered and none passed) and whether a constraint escaped the
 * class, into out's fields (appended, keys copied). */
void sch_stack_class_eligibility(const struct sch_stack *s, struct sch_outcome *out);

#endif
