/*
 * broker: the leader's evaluation broker and blocked-evaluation tracker
 * (Nomad's EvalBroker and BlockedEvals), as plain C with no I/O, no timers
 * and no threads of its own.
 *
 * The broker hands evaluations to scheduler workers with at-least-once
 * delivery: a dequeue gives the worker an evaluation and a fresh delivery
 * token; the worker acks (done) or nacks (retry later) with that token. A
 * delivery neither acked nor nacked within the nack timeout is nacked by
 * broker_tick(). After `delivery_limit` deliveries a nacked evaluation
 * goes to the failed queue, which the leader drains to write it `failed`.
 *
 * Ordering. Ready evaluations wait in one queue per scheduler type
 * (`service`, `batch`, `system`, `sysbatch`, `_core`...), highest priority
 * first, then lowest CreateIndex (FIFO). At most one evaluation per job
 * is ready, in flight, waiting for its nack delay or failed: the others
 * wait in the job's pending queue. When the job's evaluation is acked (or
 * drained from the failed queue) the pending one with the highest priority,
 * then the highest ModifyIndex (the newest), becomes ready and every other
 * pending one of the job is moved to the cancelable list: the leader writes
 * them `canceled` through Raft (broker_drain_cancelable).
 *
 * Time. The broker never reads a clock. Every call that needs the time
 * takes `now` in nanoseconds on one monotonic clock of the caller's choice
 * (the daemon passes cv_clock_monotonic_ns); broker_next_deadline() says
 * when broker_tick() has work next. WaitUntil deadlines must be given on
 * that same clock (broker_eval.wait_until).
 *
 * What the broker keeps. Not the full cv_evaluation: only the scheduling
 * keys (struct broker_eval), copied into one allocation per evaluation.
 * The state store stays the one source of truth for the evaluation itself
 * (a worker reads it from its snapshot by ID), failed-allocation metrics
 * are not duplicated per queued evaluation, and 100,000 queued evaluations
 * cost about 100,000 small blocks.
 *
 * Blocked evaluations. broker_block() tracks an evaluation that could not
 * place everything, keyed by the computed node classes it saw. A capacity
 * change on a class (broker_unblock_class) re-enqueues the blocked
 * evaluations that were eligible for it or never saw it, plus every
 * "escaped" one (constraints on unique attributes); broker_unblock_node()
 * re-enqueues those tied to a node. One blocked evaluation per job is kept:
 * the newest by max(CreateIndex, SnapshotIndex) wins and the other goes to
 * the cancelable list. An evaluation blocked with a SnapshotIndex older
 * than an unblock that could have helped it is re-enqueued at once (it
 * missed that unblock while it was being scheduled).
 *
 * Leadership. The broker works only while enabled (on the leader).
 * Disabling drops every evaluation, blocked or queued, and wakes waiting
 * dequeuers (on_ready with a NULL type) so that their next dequeue fails
 * with CV_ENOTLEADER. Enabling starts empty: the new leader re-enqueues the
 * pending evaluations and re-blocks the blocked ones from its state.
 *
 * Not thread-safe: the daemon calls it from its event loop only. docs/leader.md
 * compares the behaviour with Nomad's.
 */
#ifndef BROKER_H
#define BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/evaluation.h"

/* A delivery token: a random UUID (36 characters) and its NUL. */
#define BROKER_TOKEN_SIZE 37

#define BROKER_DEFAULT_NACK_TIMEOUT_NS          (60 * CV_NSEC_PER_SEC)
#define BROKER_DEFAULT_INITIAL_NACK_DELAY_NS    (1 * CV_NSEC_PER_SEC)
#define BROKER_DEFAULT_SUBSEQUENT_NACK_DELAY_NS (20 * CV_NSEC_PER_SEC)
#define BROKER_DEFAULT_DELIVERY_LIMIT           3

/* The scheduling keys of an evaluation. As an argument it is borrowed;
 * the broker keeps its own copy. Copies made by broker_eval_copy (and
 * every broker_eval the broker hands out) are one allocation: free them
 * with broker_eval_free. */
struct broker_eval
{
    const char *id;           /* required */
    const char *namespace;    /* NULL means "default" */
    const char *job_id;       /* required */
    const char *type;         /* required: the scheduler type */
    const char *triggered_by; /* may be NULL */
    const char *node_id;      /* may be NULL; blocked system evals by node */
    int64_t priority;
    uint64_t create_index;
    uint64_t modify_index;
    uint64_t snapshot_index; /* blocked evals: the index scheduled at */
    uint64_t wait_ns;        /* Eval.Wait: ready this long after enqueue */
    uint64_t wait_until;     /* WaitUntil on the broker's clock; 0: none */
    /* ClassEligibility (blocked evals): computed class => eligible. */
    const struct cv_bool_kv *classes;
    size_t nclasses;
    bool escaped; /* EscapedComputedClass */
};

/* Fills `out` with pointers into `ev` (borrowed, must outlive `out`).
 * wait_until is left 0: WaitUntil is a wall-clock time, and the caller
 * converts it to the broker's clock. */
void broker_eval_from_cv(const struct cv_evaluation *ev, struct broker_eval *out);
/* Returns a new copy in one allocation (namespace defaulted). */
struct broker_eval *broker_eval_copy(const struct broker_eval *ev);
void broker_eval_free(struct broker_eval *ev);

/* A list of evaluations handed to the caller, who owns the items. */
struct broker_eval_list
{
    struct broker_eval **items;
    size_t len;
    size_t cap;
};

void broker_eval_list_init(struct broker_eval_list *list);
/* Frees every item and the array. */
void broker_eval_list_free(struct broker_eval_list *list);

struct broker_config
{
    uint64_t nack_timeout_ns;          /* unacked delivery => nack; > 0 */
    uint64_t initial_nack_delay_ns;    /* re-enqueue delay after 1 delivery */
    uint64_t subsequent_nack_delay_ns; /* times (deliveries - 1) after more */
    unsigned delivery_limit;           /* deliveries before failed; >= 1 */
    /* Randomness for delivery tokens and hash keys (required). Tests pass a
     * seeded generator; the daemon a cryptographic one, since a token must
     * not be guessable. */
    uint64_t (*random)(void *ctx);
    void *random_ctx;
    /* Called when an evaluation of `type` becomes ready, and with type NULL
     * when the broker is disabled (wake every waiter). Optional. It must
     * not call into the broker: schedule a wake-up and return. */
    void (*on_ready)(void *ctx, const char *type);
    void *on_ready_ctx;
};

/* Nomad's defaults; random and on_ready NULL. */
void broker_config_default(struct broker_config *cfg);

struct broker;

/* Creates a disabled broker; cfg is copied. Returns 0, or CV_EINVAL for a
 * bad configuration (message in err). */
int broker_new(const struct broker_config *cfg, struct broker **out, struct cv_err *err);
void broker_free(struct broker *b);

/* Enabling an enabled broker, or disabling a disabled one, does nothing.
 * Disabling drops everything (see the top of this file). */
void broker_set_enabled(struct broker *b, bool enabled);
bool broker_enabled(const struct broker *b);

/* ---- the ready path -------------------------------------------------------- */

/* Queues an evaluation (borrowed, copied). It becomes ready now, or after
 * wait_ns / at wait_until, or waits behind its job's current evaluation.
 * Returns 0; CV_EEXIST when the ID is already in the broker (nothing
 * changes; harmless when the FSM re-applies an update); CV_ENOTLEADER when
 * disabled (a follower's FSM may ignore it); CV_EINVAL when id, job_id or
 * type is missing. */
int broker_enqueue(struct broker *b, const struct broker_eval *ev, uint64_t now);

/* Takes the next ready evaluation of one of `types`: the highest priority
 * at the head of those queues, ties to the lowest CreateIndex. On success
 * *out is a new copy (free with broker_eval_free) and token holds the
 * delivery token, whose nack deadline is now + nack_timeout; *out is NULL
 * when nothing is ready. Returns 0, or CV_ENOTLEADER when disabled. */
int broker_dequeue(struct broker *b, const char *const *types, size_t ntypes, uint64_t now,
                   struct broker_eval **out, char token[BROKER_TOKEN_SIZE]);
/* How many evaluations of `types` are ready. */
size_t broker_ready_count(const struct broker *b, const char *const *types, size_t ntypes);

/* Acknowledges a delivery: the evaluation leaves the broker and the job's
 * next pending evaluation becomes ready (older ones become cancelable).
 * CV_ENOTFOUND "evaluation is not outstanding" when it is not delivered
 * (unknown, or its delivery already timed out); CV_EINVAL "evaluation token
 * does not match" for another delivery's token. */
int broker_ack(struct broker *b, const char *eval_id, const char *token, uint64_t now,
               struct cv_err *err);
/* Gives a delivery back: after `delivery_limit` deliveries the evaluation
 * goes to the failed queue; otherwise it is ready again after the nack
 * delay (0 after no delivery, initial_nack_delay after 1, (n-1) times
 * subsequent_nack_delay after n). Errors as broker_ack. */
int broker_nack(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                struct cv_err *err);

/* A worker still busy with a delivery pushes its nack deadline to now +
 * nack_timeout. A paused delivery stays paused. Errors as broker_ack. */
int broker_outstanding_touch(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                             struct cv_err *err);
/* Stops the nack timer of a delivery while its plan waits in the plan
 * queue (an unbounded wait that is not the worker's fault); resume starts a
 * full nack timeout again. Errors as broker_ack. */
int broker_outstanding_pause(struct broker *b, const char *eval_id, const char *token,
                             struct cv_err *err);
int broker_outstanding_resume(struct broker *b, const char *eval_id, const char *token,
                              uint64_t now, struct cv_err *err);
/* True when eval_id is delivered and unacked; its token is copied into
 * token when not NULL. */
bool broker_outstanding(const struct broker *b, const char *eval_id, char token[BROKER_TOKEN_SIZE]);

/* Nacks every delivery whose deadline is <= now, then makes ready every
 * waiting evaluation whose time has come. */
void broker_tick(struct broker *b, uint64_t now);
/* The earliest time broker_tick has work, or UINT64_MAX. */
uint64_t broker_next_deadline(const struct broker *b);

/* Moves up to `max` failed evaluations (delivery limit reached), oldest
 * first, to `out` (initialized by the caller), which owns them. Each one
 * releases its job as an ack does. Returns how many were moved. */
size_t broker_drain_failed(struct broker *b, size_t max, struct broker_eval_list *out);
/* Moves up to `max` evaluations to cancel (superseded pending ones and
 * duplicate blocked ones), oldest first, to `out`. Returns how many. */
size_t broker_drain_cancelable(struct broker *b, size_t max, struct broker_eval_list *out);

/* ---- blocked evaluations ------------------------------------------------ */

enum broker_block_outcome
{
    BROKER_BLOCK_TRACKED = 0,    /* waits for an unblock */
    BROKER_BLOCK_REENQUEUED = 1, /* missed an unblock: queued at once */
    BROKER_BLOCK_DUPLICATE = 2,  /* the job has a newer blocked eval: cancelable */
};

/* Tracks a blocked evaluation (borrowed, copied). `token` is NULL, or the
 * delivery token when a worker re-blocks the evaluation it holds: if it is
 * unblocked while that delivery is outstanding, it is queued when the
 * delivery is acked and dropped if it is nacked. `outcome` may be NULL.
 * Returns 0, CV_ENOTLEADER when disabled, CV_EINVAL when id, job_id or type
 * is missing. */
int broker_block(struct broker *b, const struct broker_eval *ev, const char *token, uint64_t now,
                 enum broker_block_outcome *outcome);
/* Capacity changed at Raft `index` on nodes of `computed_class`: queues
 * the blocked evaluations eligible for that class or that never saw it,
 * and every escaped one, except those that planned on a snapshot at
 * `index` or later (they saw the change). Returns how many were unblocked. */
size_t broker_unblock_class(struct broker *b, const char *computed_class, uint64_t index,
                            uint64_t now);
/* Queues the blocked evaluations tied to node_id. Returns how many. */
size_t broker_unblock_node(struct broker *b, const char *node_id, uint64_t now);
/* Queues the blocked evaluations triggered by max-plan-attempts (the leader
 * calls this every minute, as Nomad does). Returns how many. */
size_t broker_unblock_failed(struct broker *b, uint64_t now);
/* Stops tracking the job's blocked evaluation (a later evaluation of the
 * job placed everything); it is neither queued nor cancelled. Returns true
 * when there was one. */
bool broker_untrack(struct broker *b, const char *namespace, const char *job_id);

/* ---- inspection ------------------------------------------------------------ */

enum broker_eval_state
{
    BROKER_EVAL_NONE = 0, /* not in the queues (maybe blocked) */
    BROKER_EVAL_WAITING,  /* delayed, or waiting out a nack delay */
    BROKER_EVAL_PENDING,  /* behind its job's current evaluation */
    BROKER_EVAL_READY,    /* can be dequeued */
    BROKER_EVAL_UNACKED,  /* delivered, not yet acked */
    BROKER_EVAL_FAILED,   /* in the failed queue */
};

enum broker_eval_state broker_eval_state(const struct broker *b, const char *eval_id);
bool broker_is_blocked(const struct broker *b, const char *eval_id);

struct broker_counts
{
    size_t ready;
    size_t unacked;
    size_t pending;
    size_t waiting; /* delayed (Wait, WaitUntil) and nack delays */
    size_t blocked;
    size_t failed;
};

struct broker_stats
{
    struct broker_counts total;
    size_t blocked_escaped;
    size_t cancelable;
};

void broker_stats(const struct broker *b, struct broker_stats *out);
/* Counts of one scheduler type (zeros when it has none). */
void broker_type_stats(const struct broker *b, const char *type, struct broker_counts *out);
/* Iterates the types seen since enabled: start with *pos = 0. */
bool broker_type_stats_next(const struct broker *b, size_t *pos, const char **type,
                            struct broker_counts *out);

/* Walks every internal structure and checks its invariants (one current
 * evaluation per job, counters, heap order). O(n): for tests. Returns 0 or
 * CV_EINTERNAL with what is wrong in err. */
int broker_verify(const struct broker *b, struct cv_err *err);

#endif
