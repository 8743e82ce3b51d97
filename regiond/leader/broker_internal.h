/*
 * broker_internal: what the files of the eval broker share and nobody
 * outside sees: the broker's state (the containers broker.c's opening
 * comment describes) and the helpers of broker.c that the timers
 * (broker_timers.c), the blocked evaluations (broker_blocked.c) and the
 * inspection (broker_inspect.c) use. broker.h is the module's contract;
 * nothing here is part of it.
 *
 * Names of shared functions carry broker__ (double underscore: internal).
 */
#ifndef CV_BROKER_INTERNAL_H
#define CV_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regiond/leader/broker.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

enum bstate
{
    BS_NONE = 0,
    BS_WAITING_DELAY,
    BS_PENDING,
    BS_READY,
    BS_UNACKED,
    BS_WAITING_NACK,
    BS_FAILED,
};

/* Indexes into a counter array; the public struct broker_counts is built
 * from it. */
enum bcount
{
    BC_READY,
    BC_UNACKED,
    BC_PENDING,
    BC_WAITING,
    BC_BLOCKED,
    BC_FAILED,
    BC_N,
};

struct btype
{
    struct lheap ready;
    size_t counts[BC_N];
    char name[];
};

struct bjob;

struct bentry
{
    struct broker_eval *ev; /* owned */
    struct bjob *job;       /* NULL while WAITING_DELAY */
    struct btype *type;
    enum bstate state;
    size_t pos;   /* position in the heap of its state */
    uint64_t seq; /* order of arrival, the last tie-break */
    uint64_t due; /* WAITING_*: when ready; UNACKED: nack deadline */
    unsigned dequeues;
    bool paused;
    char token[BROKER_TOKEN_SIZE];
    struct broker_eval *requeue; /* re-blocked while outstanding; owned */
    struct bentry *next_failed;
    char job_key[]; /* see broker__make_job_key */
};

struct bjob
{
    struct bentry *active;
    struct lheap pending;
    char key[];
};

struct bblocked
{
    struct broker_eval *ev; /* owned */
    struct btype *type;
    bool has_token;
    char token[BROKER_TOKEN_SIZE];
    struct bblocked *prev, *next;           /* captured or escaped list */
    struct bblocked *node_prev, *node_next; /* per node, when ev->node_id */
    char job_key[];
};

struct bunblock
{
    uint64_t index;
    char cls[];
};

struct broker
{
    struct broker_config cfg;
    bool enabled;
    uint64_t seq;
    uint64_t k0, k1;

    struct lmap evals; /* id => bentry */
    struct lmap jobs;  /* job key => bjob */
    struct lmap types; /* name => btype */
    struct lheap waiting;
    struct lheap unack;
    struct bentry *failed_head, *failed_tail;
    struct broker_eval_list cancelable;
    size_t cancelable_head; /* items before it were drained */

    struct lmap blocked;       /* id => bblocked */
    struct lmap blocked_jobs;  /* job key => bblocked */
    struct lmap blocked_nodes; /* node id => first bblocked of the node */
    struct bblocked *captured;
    struct bblocked *escaped;
    size_t blocked_escaped;
    struct lmap unblocks; /* computed class => bunblock */
    uint64_t max_unblock_index;

    size_t counts[BC_N];
};

/* ---- evaluation copies and helpers (broker.c) ---------------------------------- */

/* Appends ev to list, which takes ownership. */
void broker__list_push(struct broker_eval_list *list, struct broker_eval *ev);
/* a + b, saturated at UINT64_MAX. */
uint64_t broker__add_sat(uint64_t a, uint64_t b);
/* "<len of namespace>:<namespace>/<job>": unambiguous whatever the names
 * contain. broker__make_job_key writes it into buf, of the size
 * broker__job_key_size gives. */
size_t broker__job_key_size(const char *ns, const char *job_id);
void broker__make_job_key(char *buf, size_t size, const char *ns, const char *job_id);
/* Whether ev has an ID, a job ID and a type. */
bool broker__valid_eval(const struct broker_eval *ev);

/* ---- counters and types (broker.c) --------------------------------------------- */

/* The record of a scheduler type, made on first use. */
struct btype *broker__get_type(struct broker *b, const char *name);
/* The counter (enum bcount) of a state, or -1 for BS_NONE. */
int broker__state_counter(enum bstate s);
/* Adds delta to counter c (none when c < 0) in total and in t. */
void broker__count(struct broker *b, struct btype *t, int c, int delta);
/* Moves e to state s, keeping the counters. */
void broker__set_state(struct broker *b, struct bentry *e, enum bstate s);

/* ---- the queues (broker.c) ------------------------------------------------------ */

/* Makes e, its job's current evaluation, ready. */
void broker__push_ready(struct broker *b, struct bentry *e);
/* An evaluation whose time has come: ready if its job has no current
 * evaluation, pending behind it otherwise. */
void broker__make_ready_or_pending(struct broker *b, struct bentry *e);
/* Queues ev, taking ownership whatever the outcome. With a token, an
 * evaluation already delivered under that token is queued again once that
 * delivery is acked. */
int broker__enqueue_owned(struct broker *b, struct broker_eval *ev, const char *token,
                          uint64_t now);
/* The UNACKED entry of eval_id delivered under token, or NULL with *rc and
 * err saying why. */
struct bentry *broker__find_outstanding(const struct broker *b, const char *eval_id,
                                        const char *token, struct cv_err *err, int *rc);
/* Takes an UNACKED entry off the nack timer (if it is on it). */
void broker__leave_unack(struct broker *b, struct bentry *e);

#endif
