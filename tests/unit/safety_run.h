/*
 * safety_run: one run of test_sched_safety's simulation (the test's
 * header comment describes it): workers, the eval broker's queue, the
 * leader's verifier and overlay, the simulated Raft log and the chaos,
 * driven by one seed.
 */
#ifndef CV_SAFETY_RUN_H
#define CV_SAFETY_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct safety_stats
{
    uint64_t steps;
    uint64_t plans;          /* verified */
    uint64_t rejected_plans; /* with at least one rejected node */
    uint64_t partial;        /* rejected nodes, yet something committed */
    uint64_t pipelined;      /* proposed while another entry was in the log */
    uint64_t direct;         /* committed at once, without the overlay */
    uint64_t retries;        /* plans made again after a rejection */
    uint64_t requeues;       /* evaluations requeued after 5 attempts */
    uint64_t chaos;          /* node down, ineligible, count changes */
    uint64_t blocked_ample;  /* outcomes that could not place everything, ample seeds */
    uint64_t placed;         /* allocations committed */
    uint64_t name_gaps;      /* seeds ending with names not 0..Count-1 */
    uint64_t starved_ample;  /* groups short of Count, no node with room, ample seeds */
    uint64_t digest;         /* of the final allocations, for replays */
};

void safety_stats_add(struct safety_stats *into, const struct safety_stats *s);

/* True when seed runs a tight cluster (one seed in four). */
bool safety_tight(uint64_t seed);

/* Deliberate faults, for the controls that show the checks can fail. */
struct safety_faults
{
    /* The leader verifies plans against the state alone, without the
     * overlay of the plans proposed and not yet applied. */
    bool no_overlay;
};

/* Runs seed; true when every invariant held, otherwise false with what
 * broke (node, job, step) in why. stats is added to. faults may be NULL. */
bool safety_run(uint64_t seed, const struct safety_faults *faults, struct safety_stats *stats,
                char *why, size_t why_len);

#endif
