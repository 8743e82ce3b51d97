/*
 * rank: among the nodes feasibility let through, which one should run the
 * next allocation of a task group? The second stage of placement, after
 * schedd/feasible.h, modelled on Nomad's rank iterators.
 *
 * For one node the ranker:
 *
 *   1. adds up what is used: the non-terminal allocations already on the
 *      node (the caller passes them, including the ones its plan proposes)
 *      plus the placement asked for, and refuses the node when that exceeds
 *      its resources minus its reserved resources, naming the exhausted
 *      dimension ("cpu", "memory", "disk");
 *   2. scores it: bin packing (Nomad's ScoreFitBinPack, or ScoreFitSpread),
 *      job anti-affinity, affinities and spreads, each in [-1, 1];
 *   3. averages the scores that apply (Nomad's ScoreNormalizationIterator).
 *
 * Nodes are visited in an order shuffled from a seed, and only the first
 * `limit` nodes that fit are scored (sch_rank_limit); the best of those wins.
 * docs/schedd.md ("Ranking") has the formulas and where Caravan differs.
 *
 * Not done here: the rescheduling penalty, preemption, networks and ports,
 * devices, distinct_hosts / distinct_property. The module reads model
 * structs only; it includes nothing from regiond.
 */
#ifndef SCH_RANK_H
#define SCH_RANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/job.h"
#include "common/node.h"

/* Exhausted dimensions, as Nomad's DimensionExhausted counts them. */
#define SCH_DIM_CPU    "cpu"
#define SCH_DIM_MEMORY "memory"
#define SCH_DIM_DISK   "disk"

/* Score names, as Nomad's ScoreMetaData spells them. */
#define SCH_SCORE_BINPACK       "binpack"
#define SCH_SCORE_ANTI_AFFINITY "job-anti-affinity"
#define SCH_SCORE_AFFINITY      "node-affinity"
#define SCH_SCORE_SPREAD        "allocation-spread"

/* Nomad's fit scores range over [0, 18]; normalised by this. */
#define SCH_BINPACK_MAX_FIT 18.0

/* Nodes scored when a group has spreads or affinities (Nomad's
 * node_limit_for_feasibility_checks default). */
#define SCH_RANK_LIMIT_SPREAD 100

struct sch_resources
{
    int64_t cpu; /* MHz */
    int64_t memory_mb;
    int64_t disk_mb;
};

/* The resources one allocation of tg asks for: the sum of its tasks' CPU and
 * memory, and its ephemeral disk. */
void sch_group_resources(const struct cv_task_group *tg, struct sch_resources *out);

/* The resources alloc holds: the sum of its tasks' CPU and memory and its
 * shared disk (zero when it has no AllocatedResources). */
void sch_alloc_resources(const struct cv_allocation *alloc, struct sch_resources *out);

/* True when alloc no longer holds resources: desired status stop or evict,
 * or a terminal client status (Nomad's Allocation.TerminalStatus). */
bool sch_alloc_terminal(const struct cv_allocation *alloc);

/* A node's capacity and what would be used on it after a placement. */
struct sch_usage
{
    struct sch_resources capacity; /* NodeResources minus ReservedResources */
    struct sch_resources used;     /* live allocations plus the placement */
};

/* Fills out for node (borrowed) with allocs[0..n) (borrowed; the
 * allocations on the node, terminal ones skipped) and the placement ask
 * (borrowed; NULL for none). */
void sch_node_usage(const struct cv_node *node, const struct cv_allocation *const *allocs, size_t n,
                    const struct sch_resources *ask, struct sch_usage *out);

/* True when used fits in capacity in every dimension. Otherwise false and,
 * when dimension is not NULL, *dimension is the first exhausted one in the
 * order cpu, memory, disk (SCH_DIM_*, static strings). */
bool sch_fits(const struct sch_usage *u, const char **dimension);

enum sch_fit_algorithm
{
    SCH_FIT_BINPACK = 0, /* prefer the fullest node (Nomad's default) */
    SCH_FIT_SPREAD = 1   /* prefer the emptiest node (SchedulerAlgorithm "spread") */
};

/* The fit score of u in [0, 1], from the free fractions of CPU and memory
 * f = 1 - used/capacity (0 when the capacity is 0):
 *   binpack: clamp(20 - (10^fcpu + 10^fmem), 0, 18) / 18
 *   spread:  clamp((10^fcpu + 10^fmem) - 2, 0, 18) / 18
 * So under binpack an empty node scores 0 and a full one 1. */
double sch_binpack_score(const struct sch_usage *u, enum sch_fit_algorithm alg);

/* Nomad's job anti-affinity: -(collisions + 1) / desired_count when the
 * node already runs `collisions` > 0 allocations of the same job and task
 * group, else 0 (and then it is not averaged in). A desired_count below 1
 * counts as 1; the result is clamped to [-1, 0]. */
double sch_anti_affinity_score(size_t collisions, int64_t desired_count);

/* The limit of nodes scored per placement (Nomad's GenericStack):
 *   batch:   2 ("power of two choices");
 *   others:  max(2, ceil(log2 n_nodes));
 *   a group with spreads or affinities: max(group_count, 100).
 * Never more than n_nodes (and at least 1 when n_nodes > 0). */
size_t sch_rank_limit(const char *job_type, size_t n_nodes, bool has_spread_or_affinity,
                      int64_t group_count);

/* Fills order[0..n) with a permutation of 0..n-1: Fisher-Yates driven by
 * xorshift64* seeded with seed (0 is replaced by a fixed constant). The same
 * seed gives the same order. */
void sch_shuffle(uint64_t seed, size_t *order, size_t n);

/* A node offered to the ranker: a feasible node and the allocations on it
 * (all borrowed, valid until the ranker is freed). */
struct sch_candidate
{
    const struct cv_node *node;
    const struct cv_allocation *const *allocs;
    size_t n_allocs;
};

/* An allocation of the job anywhere in the cluster and the node it is on,
 * for spread counting (borrowed). Allocations of other task groups and
 * terminal ones are skipped. */
struct sch_placed
{
    const struct cv_allocation *alloc;
    const struct cv_node *node;
};

struct sch_rank_request
{
    const struct cv_job *job;          /* borrowed */
    const struct cv_task_group *tg;    /* borrowed; one of job's groups */
    const struct sch_candidate *nodes; /* the feasible nodes, borrowed */
    size_t n_nodes;
    const struct sch_placed *job_allocs; /* for spreads; may be NULL */
    size_t n_job_allocs;
    uint64_t seed; /* shuffles the visiting order */
    size_t limit;  /* 0 = sch_rank_limit's default */
    enum sch_fit_algorithm algorithm;
    /* Resources of one placement; NULL = sch_group_resources(tg). */
    const struct sch_resources *ask;
};

/* The score breakdown of one node (Nomad's NodeScoreMeta). A has_* flag is
 * false when the score did not apply and was not averaged in. */
struct sch_ranked
{
    const struct cv_node *node; /* borrowed from the request */
    size_t index;               /* into request.nodes */
    double binpack;
    double anti_affinity;
    double affinity;
    double spread;
    bool has_anti_affinity;
    bool has_affinity;
    bool has_spread;
    double final_score; /* the mean of the scores that apply */
};

struct sch_rank_stats
{
    size_t visited;   /* nodes looked at (Nomad's NodesEvaluated) */
    size_t exhausted; /* nodes that did not fit (NodesExhausted) */
    size_t exhausted_cpu;
    size_t exhausted_memory;
    size_t exhausted_disk;
    size_t scored; /* nodes that fit and were scored, at most the limit */
};

/* ---- pieces for a placement engine that keeps state between placements ---- */

/* True when the job, the group or one of its tasks has affinities. */
bool sch_has_affinities(const struct cv_job *job, const struct cv_task_group *tg);

/* Nomad's NodeAffinityIterator: Σ weights of the matching affinities /
 * Σ |weights| over the job's, the group's and its tasks'. False when the
 * score does not apply (no affinities, or the matched weights sum to 0). */
bool sch_affinity_score(const struct cv_job *job, const struct cv_task_group *tg,
                        const struct cv_node *node, double *out);

/* The spread blocks of a group (its own, then the job's) with the number of
 * the group's live allocations per value of each attribute: built from
 * placed[0..n) (borrowed, only read during the call), then kept current
 * with sch_spreads_add as placements are made. Values are borrowed from
 * the nodes, which must outlive the tracker. */
struct sch_spreads;
struct sch_spreads *sch_spreads_new(const struct cv_job *job, const struct cv_task_group *tg,
                                    const struct sch_placed *placed, size_t n_placed);
/* Counts one more allocation of the group on node. */
void sch_spreads_add(struct sch_spreads *sp, const struct cv_node *node);
/* Nomad's SpreadIterator score of placing one more allocation on node, in
 * [-1, 1]; false when it does not apply (no spreads, or a zero sum). */
bool sch_spreads_score(const struct sch_spreads *sp, const struct cv_node *node, double *out);
void sch_spreads_free(struct sch_spreads *sp);

struct sch_ranker;

/* Builds a ranker and ranks req's nodes: visits them in the shuffled order,
 * skips those that do not fit, scores up to the limit of those that do.
 * req and everything it points to are borrowed and must stay valid until
 * sch_ranker_free. Returns a new ranker (never NULL). */
struct sch_ranker *sch_ranker_new(const struct sch_rank_request *req);
void sch_ranker_free(struct sch_ranker *r);

/* The best scored node: the highest final score, the first visited on a
 * tie. Returns false (and leaves *out alone) when no node fits. */
bool sch_ranker_best(const struct sch_ranker *r, struct sch_ranked *out);

/* The limit applied, the counters, and the scored nodes in visiting order
 * (i < stats.scored), borrowed from the ranker, for placement metrics. */
size_t sch_ranker_limit(const struct sch_ranker *r);
void sch_ranker_stats(const struct sch_ranker *r, struct sch_rank_stats *out);
const struct sch_ranked *sch_ranker_scored(const struct sch_ranker *r, size_t i);

/* Scores one node for req as the ranker does, without the limit or the
 * shuffle: false with *dimension set when it does not fit. c must point
 * into req->nodes (out->index is its position there). */
bool sch_rank_node(const struct sch_rank_request *req, const struct sch_candidate *c,
                   struct sch_ranked *out, const char **dimension);

#endif
