/*
 * safety_internal: what safety_run.c (the workers, the verifier, the log)
 * and safety_end.c (chaos, the final sweep and check) share: one run's
 * state, struct sim, and the steps each file offers the other.
 */
#ifndef CV_SAFETY_INTERNAL_H
#define CV_SAFETY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "regiond/plan.h"
#include "regiond/state/state.h"
#include "safety_run.h"
#include "sched_sim.h"

#define MAX_WORKERS  6
#define MAX_JOBS     16
#define MAX_ENTRIES  64
#define MAX_ATTEMPTS 5 /* plans per evaluation before it is requeued (Nomad's) */
#define STEP_LIMIT   20000
#define SWEEP_ROUNDS 10
#define AMPLE_PCT    40 /* of the nodes a job may use, at generation */
#define CHAOS_PCT    50 /* ... after any change the chaos makes */
#define FINAL_PCT    60 /* ... for (b) to be checked at the end */

enum wstate
{
    W_IDLE,
    W_READY,   /* holds an evaluation, will plan it on a fresh snapshot */
    W_PLANNED, /* holds a plan not yet verified */
    W_WAITING, /* its plan's entry is in the log */
};

struct worker
{
    enum wstate state;
    char eval_id[40];
    int job;
    unsigned attempts;
    bool blocked;
    uint64_t wait_ticket; /* plan again only once this overlay entry applied */
    struct plan *plan;
    char last_reject[PLAN_REASON_MAX + 64];
};

/* An entry proposed to the simulated Raft log, applied in order. */
struct entry
{
    struct cv_buf data;
    const char *what;
    uint64_t ticket; /* overlay ticket of a plan, 0 otherwise */
    int worker;      /* the worker waiting for it, -1 */
    size_t n_rejected, n_stops;
    bool chaos;
    int registers_job; /* the job it registers, -1 */
    unsigned n_evals;  /* evaluations it creates, enqueued once applied */
    char evals[MAX_JOBS + 1][40];
    int eval_jobs[MAX_JOBS + 1];
};

struct queued
{
    char eval_id[40];
    int job;
};

struct sim
{
    struct sim_world w;
    struct sim_rng rng;
    uint64_t seed;
    bool tight;
    unsigned n_nodes, n_jobs, k;
    struct plan_overlay *ov;
    struct worker workers[MAX_WORKERS];
    struct entry log[MAX_ENTRIES];
    unsigned log_head, log_len;
    struct queued queue[4 * MAX_ENTRIES];
    unsigned queue_len;
    bool outstanding[MAX_JOBS];
    char blocked[MAX_JOBS][40];    /* a blocked evaluation per job, "" for none */
    struct cv_job *jobs[MAX_JOBS]; /* generated; NULL once registered */
    unsigned next_job, jobs_applied;
    unsigned chaos_left;
    bool dense_names; /* CARAVAN_SAFETY_DENSE_NAMES: names 0..Count-1 required */
    struct safety_faults faults;
    uint64_t step;
    struct safety_stats *stats;
    char *why;
    size_t why_len;
    bool failed;
};

/* Records the first failure (with the step and index) and returns false. */
bool safety_failf(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints one line of the run when CARAVAN_SAFETY_VERBOSE is set. */
void safety_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The distinctive end of a fixture UUID ("...-8000-00000000002a"). */
const char *safety_tail(const char *id);

/* Queues an evaluation for the workers. */
void safety_enqueue(struct sim *s, const char *eval_id, int job);
/* Appends an empty entry to the simulated Raft log. */
struct entry *safety_log_push(struct sim *s);
/* Checks (a), unique names and constraints on the state as it is now. */
bool safety_check_now(struct sim *s, const char *after);
/* Runs the scheduler for eval_id on the current state. Returns false on
 * failure; *out is the plan, NULL when the plan is empty. */
bool safety_schedule(struct sim *s, const char *eval_id, bool *blocked, struct plan **out);

/* safety_end.c */
bool safety_chaos_in_log(const struct sim *s);
/* Proposes a node down, a node ineligible or a count change, when the
 * cluster stays ample (always on tight seeds). */
void safety_chaos(struct sim *s);
/* Proposes the registration of the next job. */
void safety_register_next(struct sim *s);
/* Evaluates every job, one at a time, until no plan changes anything. */
bool safety_sweep(struct sim *s);
/* Checks both invariants on the final state and fills the digest. */
bool safety_final_check(struct sim *s);

#endif
