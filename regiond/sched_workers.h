/*
 * sched_workers: the scheduler worker threads of one server (Nomad's
 * nomad/worker.go). Every server runs them, the leader and the followers
 * alike: scheduling is spread over the region, and only the verification
 * of plans is serialized on the leader.
 *
 * Each thread loops:
 *
 *   1. Eval.Dequeue (waits up to half a second for an evaluation of the
 *      job types it serves) from this server, which relays it to the leader
 *      when it is a follower;
 *   2. waits until this server's state has applied the evaluation's
 *      ModifyIndex (at most 5 s, then the evaluation is nacked);
 *   3. takes a snapshot and runs the scheduler (schedd/sched.h) on it;
 *   4. submits the plan (Plan.Submit), at most 512 placements at a time
 *      (the rest goes in the next plans); when the leader refused part of it
 *      the answer carries a RefreshIndex: the worker waits for it, takes a
 *      fresh snapshot and schedules again, which places only what did not
 *      commit (at most 5 plans per evaluation for service and system jobs,
 *      2 for batch, as Nomad);
 *   5. writes the evaluation back (Eval.Update): complete, with the groups
 *      that could not be placed (FailedTGAllocs), QueuedAllocations, and a
 *      new blocked evaluation carrying the class eligibility when something
 *      did not fit; failed with a blocked evaluation when the plan attempts
 *      ran out;
 *   6. Eval.Ack, or Eval.Nack on any error so the broker delivers it again.
 *
 * The threads talk RPC to this server's own address, each on its own event
 * loop; they read the state store directly (snapshots are thread-safe).
 */
#ifndef CV_REGIOND_SCHED_WORKERS_H
#define CV_REGIOND_SCHED_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/state/state.h"

/* The most worker threads one server runs. */
#define SCHED_WORKERS_MAX 256

struct sched_workers_config
{
    const char *rpc_addr;      /* this server's RPC address, "host:port" (copied) */
    struct state_store *state; /* this server's state store (borrowed) */
    unsigned n_workers;        /* 1 to SCHED_WORKERS_MAX */
    /* Placements per plan; 0: SCHED_WORKERS_PLACEMENTS_PER_PLAN. A larger
     * evaluation commits in several plans, one after the other. */
    size_t placements_per_plan;
};

/* Verifying a plan runs on the leader's event loop (about 0.15 ms per
 * placement), which also sends Raft's heartbeats: plans stay small. */
#define SCHED_WORKERS_PLACEMENTS_PER_PLAN 512

struct sched_workers_stats
{
    uint64_t evals_acked;  /* scheduled and acknowledged */
    uint64_t evals_nacked; /* given back after an error */
    uint64_t plans;        /* plans submitted */
    uint64_t partial;      /* plans partly refused by the leader */
    uint64_t placed;       /* allocations the leader committed */
    uint64_t blocked;      /* blocked evaluations created */
};

struct sched_workers;

/* Starts the threads. Returns 0 and *out, or CV_EINVAL (a bad config) or
 * CV_EIO (a thread could not start) with err set. */
int sched_workers_start(const struct sched_workers_config *cfg, struct sched_workers **out,
                        struct cv_err *err);

/* Asks every thread to stop after what it holds; returns at once. */
void sched_workers_request_stop(struct sched_workers *w);
/* The threads that have not exited yet. */
unsigned sched_workers_running(const struct sched_workers *w);

/* Asks every thread to stop, waits for them (each finishes the evaluation
 * it holds, or nacks it), and frees everything. NULL is a no-op. */
void sched_workers_stop(struct sched_workers *w);

void sched_workers_get_stats(const struct sched_workers *w, struct sched_workers_stats *out);

#endif
