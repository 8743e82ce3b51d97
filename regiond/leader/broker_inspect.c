/*
 * broker_inspect: read-only views of the broker: an evaluation's state,
 * the counters in total and per scheduler type, and broker_verify, which
 * recounts every container and checks the invariants broker.c describes
 * (for tests and simulations: it walks everything).
 */
#include "regiond/leader/broker.h"

#include <stddef.h>

#include "regiond/leader/broker_internal.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

/* ---- inspection ------------------------------------------------------------ */

enum broker_eval_state broker_eval_state(const struct broker *b, const char *eval_id)
{
    const struct bentry *e = lmap_get(&b->evals, eval_id);
    if (!e) {
        return BROKER_EVAL_NONE;
    }
    switch (e->state) {
    case BS_WAITING_DELAY:
    case BS_WAITING_NACK:
        return BROKER_EVAL_WAITING;
    case BS_PENDING:
        return BROKER_EVAL_PENDING;
    case BS_READY:
        return BROKER_EVAL_READY;
    case BS_UNACKED:
        return BROKER_EVAL_UNACKED;
    case BS_FAILED:
        return BROKER_EVAL_FAILED;
    case BS_NONE:
        break;
    }
    return BROKER_EVAL_NONE;
}

bool broker_is_blocked(const struct broker *b, const char *eval_id)
{
    return lmap_get(&b->blocked, eval_id) != NULL;
}

static void fill_counts(const size_t c[BC_N], struct broker_counts *out)
{
    out->ready = c[BC_READY];
    out->unacked = c[BC_UNACKED];
    out->pending = c[BC_PENDING];
    out->waiting = c[BC_WAITING];
    out->blocked = c[BC_BLOCKED];
    out->failed = c[BC_FAILED];
}

void broker_stats(const struct broker *b, struct broker_stats *out)
{
    fill_counts(b->counts, &out->total);
    out->blocked_escaped = b->blocked_escaped;
    out->cancelable = b->cancelable.len - b->cancelable_head;
}

void broker_type_stats(const struct broker *b, const char *type, struct broker_counts *out)
{
    static const size_t zero[BC_N];
    const struct btype *t = lmap_get(&b->types, type);
    fill_counts(t ? t->counts : zero, out);
}

bool broker_type_stats_next(const struct broker *b, size_t *pos, const char **type,
                            struct broker_counts *out)
{
    void *v;
    if (!lmap_next(&b->types, pos, NULL, &v)) {
        return false;
    }
    const struct btype *t = v;
    if (type) {
        *type = t->name;
    }
    if (out) {
        fill_counts(t->counts, out);
    }
    return true;
}

#define VERIFY(cond, ...)                                       \
    do {                                                        \
        if (!(cond)) {                                          \
            return cv_err_setf(err, CV_EINTERNAL, __VA_ARGS__); \
        }                                                       \
    } while (0)

static int verify_entry(const struct broker *b, const struct bentry *e, struct cv_err *err)
{
    const char *id = e->ev->id;
    VERIFY(lmap_get(&b->types, e->ev->type) == e->type, "eval %s: wrong type record", id);
    const struct bjob *j = e->state == BS_WAITING_DELAY ? NULL : lmap_get(&b->jobs, e->job_key);
    switch (e->state) {
    case BS_WAITING_DELAY:
        VERIFY(lheap_contains(&b->waiting, e), "eval %s: delayed but not waiting", id);
        break;
    case BS_PENDING:
        VERIFY(j && e->job == j, "eval %s: pending without its job", id);
        VERIFY(lheap_contains(&j->pending, e), "eval %s: not in its job's pending queue", id);
        VERIFY(j->active && j->active != e, "eval %s: pending behind no evaluation", id);
        break;
    case BS_READY:
        VERIFY(lheap_contains(&e->type->ready, e), "eval %s: ready but not queued", id);
        break;
    case BS_UNACKED:
        VERIFY(e->paused ? !lheap_contains(&b->unack, e) : lheap_contains(&b->unack, e),
               "eval %s: unacked but not timed", id);
        VERIFY(e->token[0] != '\0', "eval %s: unacked without a token", id);
        break;
    case BS_WAITING_NACK:
        VERIFY(lheap_contains(&b->waiting, e), "eval %s: nacked but not waiting", id);
        break;
    case BS_FAILED:
        break;
    case BS_NONE:
        VERIFY(false, "eval %s: in the table without a state", id);
    }
    if (e->state == BS_READY || e->state == BS_UNACKED || e->state == BS_WAITING_NACK ||
        e->state == BS_FAILED) {
        VERIFY(j && e->job == j && j->active == e, "eval %s: not its job's current one", id);
    }
    VERIFY(e->requeue == NULL || e->state == BS_UNACKED, "eval %s: requeue while not out", id);
    return 0;
}

int broker_verify(const struct broker *b, struct cv_err *err)
{
    size_t counts[BC_N] = {0};
    size_t pos = 0;
    void *v;
    while (lmap_next(&b->evals, &pos, NULL, &v)) {
        const struct bentry *e = v;
        int rc = verify_entry(b, e, err);
        if (rc) {
            return rc;
        }
        counts[broker__state_counter(e->state)]++;
    }
    size_t nfailed = 0;
    for (const struct bentry *e = b->failed_head; e; e = e->next_failed) {
        VERIFY(e->state == BS_FAILED, "failed queue holds eval %s in another state", e->ev->id);
        nfailed++;
    }
    VERIFY(nfailed == counts[BC_FAILED], "failed queue length %zu, %zu failed", nfailed,
           counts[BC_FAILED]);
    size_t npending = 0;
    pos = 0;
    while (lmap_next(&b->jobs, &pos, NULL, &v)) {
        const struct bjob *j = v;
        VERIFY(j->active != NULL, "job %s has no current evaluation", j->key);
        VERIFY(lheap_valid(&j->pending), "job %s: pending heap out of order", j->key);
        npending += lheap_len(&j->pending);
    }
    VERIFY(npending == counts[BC_PENDING], "pending heaps hold %zu, %zu pending", npending,
           counts[BC_PENDING]);
    VERIFY(lheap_valid(&b->waiting) && lheap_valid(&b->unack), "timer heap out of order");
    VERIFY(lheap_len(&b->waiting) == counts[BC_WAITING], "waiting heap length");

    size_t blocked = 0, escaped = 0;
    for (int list = 0; list < 2; list++) {
        const struct bblocked *prev = NULL;
        for (const struct bblocked *bl = list ? b->escaped : b->captured; bl; bl = bl->next) {
            VERIFY(bl->prev == prev, "blocked list links broken at %s", bl->ev->id);
            VERIFY(bl->ev->escaped == (list == 1), "blocked eval %s on the wrong list", bl->ev->id);
            VERIFY(lmap_get(&b->blocked, bl->ev->id) == bl, "blocked eval %s not indexed",
                   bl->ev->id);
            VERIFY(lmap_get(&b->blocked_jobs, bl->job_key) == bl,
                   "blocked eval %s is not its job's", bl->ev->id);
            blocked++;
            escaped += list;
            prev = bl;
        }
    }
    VERIFY(blocked == lmap_len(&b->blocked) && blocked == lmap_len(&b->blocked_jobs),
           "blocked lists hold %zu, tables %zu and %zu", blocked, lmap_len(&b->blocked),
           lmap_len(&b->blocked_jobs));
    VERIFY(escaped == b->blocked_escaped, "escaped count");
    counts[BC_BLOCKED] = blocked;

    size_t by_type[BC_N] = {0};
    size_t nready = 0;
    pos = 0;
    while (lmap_next(&b->types, &pos, NULL, &v)) {
        const struct btype *t = v;
        VERIFY(lheap_valid(&t->ready), "type %s: ready heap out of order", t->name);
        VERIFY(lheap_len(&t->ready) == t->counts[BC_READY], "type %s: ready count", t->name);
        nready += lheap_len(&t->ready);
        for (int c = 0; c < BC_N; c++) {
            by_type[c] += t->counts[c];
        }
    }
    VERIFY(nready == counts[BC_READY], "ready heaps hold %zu, %zu ready", nready, counts[BC_READY]);
    for (int c = 0; c < BC_N; c++) {
        VERIFY(counts[c] == b->counts[c] && by_type[c] == b->counts[c],
               "counter %d: recounted %zu, total %zu, by type %zu", c, counts[c], b->counts[c],
               by_type[c]);
    }
    return 0;
}
