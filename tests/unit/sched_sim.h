/*
 * sched_sim: the world of test_sched_safety. A region's state store with
 * its FSM, random clusters and jobs built from a seed, and the checkers of
 * the scheduling safety invariants:
 *
 *   (a) no node holds more live allocations than it can run: CPU, memory
 *       and disk of NodeResources minus ReservedResources, NodeMaxAllocs;
 *   (b) every job's allocations are placed exactly once: for each group,
 *       Count live allocations named "<job>.<group>[i]", each name once,
 *       or fewer only when no node has room for one more
 *       (sim_check_exactly_once, which also tells whether the indexes
 *       are exactly 0..Count-1); the weaker form, no two live allocations
 *       with one name, holds at all times (sim_check_unique_names);
 *   and the scheduler's own rules, which the verifier does not check:
 *       datacenters, `${meta.*}` constraints, distinct_hosts
 *       (sim_check_constraints).
 *
 * The checkers read a committed state and judge it with their own
 * arithmetic: they share no code with the plan verifier they check.
 * Everything random comes from struct sim_rng (xorshift64*), never rand().
 */
#ifndef CV_SCHED_SIM_H
#define CV_SCHED_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"

/* ---- randomness ----------------------------------------------------------------------------- */

struct sim_rng
{
    uint64_t s; /* never 0 */
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_next(struct sim_rng *r);
/* Uniform in [0, n); n > 0. */
unsigned sim_below(struct sim_rng *r, unsigned n);
/* True with probability percent/100. */
bool sim_chance(struct sim_rng *r, unsigned percent);

/* ---- the world: a store written through the FSM --------------------------------------------- */

#define SIM_FAIL_MAX 2048

/* The fixed clock of every run: opts.now and status update times. */
#define SIM_NOW_NS ((int64_t)1700000000 * 1000000000)

struct sim_world
{
    struct state_store *st;
    struct fsm *fsm;
    uint64_t index; /* the last entry applied */
    unsigned next_eval;
    bool verbose; /* CARAVAN_SAFETY_VERBOSE: trace every step */
};

void sim_world_init(struct sim_world *w);
void sim_world_free(struct sim_world *w);

/* Applies one encoded entry at the next index. Returns 0 when the FSM
 * applied it; otherwise writes the FSM's reason into why and returns -1. */
int sim_apply(struct sim_world *w, const struct cv_buf *entry, struct fsm_result *res, char *why,
              size_t why_len);

/* IDs: nodes "10000000-0000-4000-8000-<n>", evaluations kind 3, jobs
 * "job-<n>". Each call returns one of a ring of static buffers. */
const char *sim_node_id(unsigned n);
const char *sim_eval_id(unsigned n);
const char *sim_job_id(unsigned n);
/* The number n of a job ID, or -1. */
int sim_job_number(const char *job_id);

/* ---- objects -------------------------------------------------------------------------------- */

struct sim_node_spec
{
    int cpu, mem, disk;             /* NodeResources */
    int res_cpu, res_mem, res_disk; /* ReservedResources, 0 for none */
    int max_allocs;                 /* NodeMaxAllocs, 0 for none */
    unsigned dc, rack, klass;       /* dc1.., r1.., class "" / small / large */
    bool ready, eligible;
};

/* Returns a new, canonical node (ComputedClass set) from the spec. */
struct cv_node *sim_mk_node(unsigned n, const struct sim_node_spec *spec);
/* The same, faster: a copy of tmpl (a node from sim_mk_node with
 * reservations) given node n's fields. No reservation is all zeros. */
struct cv_node *sim_mk_node_from(const struct cv_node *tmpl, unsigned n,
                                 const struct sim_node_spec *spec);

enum sim_dcs
{
    SIM_DCS_ANY,   /* ["*"] */
    SIM_DCS_TWO,   /* ["dc1", "dc2"] */
    SIM_DCS_FIRST, /* ["dc1"] */
};

#define SIM_MAX_GROUPS 2

struct sim_group_spec
{
    int count;
    int cpu, mem, disk; /* one task's CPU and MemoryMB, the group's EphemeralDisk */
    bool distinct_hosts;
};

struct sim_job_spec
{
    bool batch;
    int priority;
    enum sim_dcs dcs;
    bool rack_r1;    /* constraint ${meta.rack} = r1 */
    bool linux_only; /* constraint ${attr.kernel.name} = linux (every node) */
    unsigned n_groups;
    struct sim_group_spec groups[SIM_MAX_GROUPS];
};

/* Returns a new, canonical job "job-<n>" with groups "g0", "g1". */
struct cv_job *sim_mk_job(unsigned n, const struct sim_job_spec *spec);

/* Returns a new pending evaluation of job (borrowed) with the next eval
 * number; node_id NULL for none. */
struct cv_evaluation *sim_mk_eval(struct sim_world *w, const struct cv_job *job,
                                  const char *triggered_by, const char *node_id);

/* ---- capacity ------------------------------------------------------------------------------- */

/* True when every job fits with room to spare: for every job j, the asks
 * of all the jobs whose feasible nodes are among j's (status ready,
 * eligible, datacenter and rack constraint; nodes with NodeMaxAllocs not
 * counted) use at most pct percent of those nodes' CPU, memory and disk,
 * and a distinct_hosts group counts at most half of them. Then the
 * scheduler has no excuse not to place everything (invariant (b) is
 * checked). Otherwise writes which job does not fit into why. */
bool sim_ample(const struct cv_node *const *nodes, size_t n_nodes, const struct cv_job *const *jobs,
               size_t n_jobs, int pct, size_t *bad_job, char *why, size_t why_len);

/* What-if: a snapshot's nodes and jobs, where node_override and
 * job_override (each NULL for none) replace the stored object of their ID,
 * plus jobs not registered yet. */
struct sim_what_if
{
    const struct cv_node *node_override;
    const struct cv_job *job_override;
    const struct cv_job *const *pending;
    size_t n_pending;
};

/* sim_ample over a snapshot as changed by wi (NULL for none). */
bool sim_ample_snap(const struct state_snap *snap, const struct sim_what_if *wi, int pct, char *why,
                    size_t why_len);

/* ---- the invariants ------------------------------------------------------------------------- */

/* Nomad's TerminalStatus: desired stop or evict, or client complete, failed
 * or lost. */
bool sim_alloc_terminal(const struct cv_allocation *a);

/* (a) over the whole state. Returns true, or false with the offending node,
 * dimension, use, capacity and allocations in why. */
bool sim_check_capacity(const struct state_snap *snap, char *why, size_t why_len);

/* Every live allocation is on a node its job may use (datacenter, the
 * `${meta.*} =` constraints) and no distinct_hosts group has two live
 * allocations on one node. Not the verifier's business (it checks fit
 * only): this is the scheduler's own correctness, under re-planning. */
bool sim_check_constraints(const struct state_snap *snap, char *why, size_t why_len);

/* No two live allocations of one job with the same name. */
bool sim_check_unique_names(const struct state_snap *snap, char *why, size_t why_len);

/* (b): for every job and group, at most Count live allocations (none for a
 * stopped job), named "<job>.<group>[i]", each name once; and fewer than
 * Count only when no node could take one more: a node where the group is
 * feasible (ready, eligible, datacenter, the rack constraint) that has
 * room for one more of its allocations (CPU, memory, disk, NodeMaxAllocs,
 * distinct_hosts). Such groups are counted in *starved. With dense_names,
 * the names must also be exactly i = 0..Count-1.
 *
 * Why dense names are optional: Nomad's reconciler (and ours) stops the
 * highest name indexes when a group has more than Count, so a gap left by
 * a rejected placement survives a count decrease: {0,1,2,4,5,6,7} at
 * Count 6 becomes {0,1,2,4,5,6}, never renumbered. Count and uniqueness
 * are Nomad's guarantee; density is not. */
bool sim_check_exactly_once(const struct state_snap *snap, bool dense_names, size_t *starved,
                            char *why, size_t why_len);

#endif
