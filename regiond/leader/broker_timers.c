/*
 * broker_timers: what the clock drives in the broker: nacks and their
 * delays, the nack deadline of outstanding evaluations (touch, pause,
 * resume), and broker_tick / broker_next_deadline.
 *
 * Two heaps hold the deadlines: `unack` the nack deadline of each delivered
 * evaluation (a paused one leaves it until resumed), `waiting` the time a
 * delayed or nacked evaluation becomes ready. broker_tick nacks what timed
 * out, then releases what is due. A nack waits out Nomad's nack delay before
 * the evaluation is ready again, or, past the delivery limit, sends it to
 * the failed queue. The broker keeps no timer of its own: the daemon calls
 * broker_tick when broker_next_deadline says.
 */
#include "regiond/leader/broker.h"

#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "regiond/leader/broker_internal.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

/* Nomad's nackReenqueueDelay, from the number of deliveries so far. */
static uint64_t nack_delay(const struct broker *b, unsigned dequeues)
{
    if (dequeues == 0) {
        return 0;
    }
    if (dequeues == 1) {
        return b->cfg.initial_nack_delay_ns;
    }
    uint64_t n = dequeues - 1;
    uint64_t d = b->cfg.subsequent_nack_delay_ns;
    return d != 0 && n > UINT64_MAX / d ? UINT64_MAX : n * d;
}

static void nack_entry(struct broker *b, struct bentry *e, uint64_t now)
{
    broker__leave_unack(b, e);
    broker_eval_free(e->requeue); /* the run that re-blocked it failed */
    e->requeue = NULL;
    e->token[0] = '\0';
    if (e->dequeues >= b->cfg.delivery_limit) {
        cv_log(CV_LOG_WARN, "broker", "eval reached delivery limit",
               "eval_id=%s job_id=%s limit=%u", e->ev->id, e->ev->job_id, b->cfg.delivery_limit);
        broker__set_state(b, e, BS_FAILED);
        e->next_failed = NULL;
        if (b->failed_tail) {
            b->failed_tail->next_failed = e;
        } else {
            b->failed_head = e;
        }
        b->failed_tail = e;
        return;
    }
    uint64_t delay = nack_delay(b, e->dequeues);
    if (delay == 0) {
        broker__push_ready(b, e);
        return;
    }
    e->due = broker__add_sat(now, delay);
    broker__set_state(b, e, BS_WAITING_NACK);
    lheap_push(&b->waiting, e);
}

int broker_nack(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                struct cv_err *err)
{
    int rc;
    struct bentry *e = broker__find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    nack_entry(b, e, now);
    return 0;
}

int broker_outstanding_touch(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                             struct cv_err *err)
{
    int rc;
    struct bentry *e = broker__find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    if (!e->paused) {
        e->due = broker__add_sat(now, b->cfg.nack_timeout_ns);
        lheap_fix(&b->unack, e);
    }
    return 0;
}

int broker_outstanding_pause(struct broker *b, const char *eval_id, const char *token,
                             struct cv_err *err)
{
    int rc;
    struct bentry *e = broker__find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    if (!e->paused) {
        lheap_remove(&b->unack, e);
        e->paused = true;
    }
    return 0;
}

int broker_outstanding_resume(struct broker *b, const char *eval_id, const char *token,
                              uint64_t now, struct cv_err *err)
{
    int rc;
    struct bentry *e = broker__find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    e->due = broker__add_sat(now, b->cfg.nack_timeout_ns);
    if (e->paused) {
        e->paused = false;
        lheap_push(&b->unack, e);
    } else {
        lheap_fix(&b->unack, e);
    }
    return 0;
}

bool broker_outstanding(const struct broker *b, const char *eval_id, char token[BROKER_TOKEN_SIZE])
{
    const struct bentry *e = lmap_get(&b->evals, eval_id);
    if (!e || e->state != BS_UNACKED) {
        return false;
    }
    if (token) {
        memcpy(token, e->token, BROKER_TOKEN_SIZE);
    }
    return true;
}

void broker_tick(struct broker *b, uint64_t now)
{
    if (!b->enabled) {
        return;
    }
    struct bentry *e;
    while ((e = lheap_peek(&b->unack)) != NULL && e->due <= now) {
        cv_log(CV_LOG_WARN, "broker", "eval nack timeout", "eval_id=%s job_id=%s deliveries=%u",
               e->ev->id, e->ev->job_id, e->dequeues);
        nack_entry(b, e, now);
    }
    while ((e = lheap_peek(&b->waiting)) != NULL && e->due <= now) {
        lheap_pop(&b->waiting);
        if (e->state == BS_WAITING_NACK) {
            broker__push_ready(b, e);
        } else {
            broker__make_ready_or_pending(b, e);
        }
    }
}

uint64_t broker_next_deadline(const struct broker *b)
{
    uint64_t next = UINT64_MAX;
    const struct bentry *e = lheap_peek(&b->unack);
    if (e) {
        next = e->due;
    }
    e = lheap_peek(&b->waiting);
    if (e && e->due < next) {
        next = e->due;
    }
    return next;
}
