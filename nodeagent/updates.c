/*
 * updates: the agent's queue of allocation status updates (agent.h, step 5).
 *
 * An update is one allocation's JSON object, encoded when its runner
 * reported. The queue holds at most one per allocation: a later update
 * replaces the queued one (it carries the whole state, so nothing is lost).
 * AGENT_UPDATE_INTERVAL_MS after the first update queued (the timer is armed
 * only while something waits, so an idle agent costs no wake-ups), when no
 * call is in flight, up to AGENT_UPDATE_MAX_BATCH updates move to
 * `inflight` and go out in one Node.UpdateAlloc. On success they are dropped. On failure they go
 * back to the queue, unless a newer update of the same allocation arrived meanwhile, and the next
 * call waits a backoff on the next server: updates survive a server restart or a leader change.
 *
 * A refusal about one update ("Allocs[3]: allocation ... does not exist",
 * CV_ENOTFOUND, CV_EINVAL or CV_EVALIDATE: the allocation was collected, or
 * the update is wrong) would refuse every retry too, so that update alone
 * is dropped (logged) and the rest are sent again at once.
 */
#include "nodeagent/agent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rpc.h"

#define UPDATE_RETRY_MAX_MS 5000
#define UPDATE_TIMEOUT_MS   10000

static void list_push(struct agent_update_list *l, const char *id, char *json)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = cv_reallocarray(l->items, l->cap, sizeof *l->items);
    }
    struct agent_update *u = &l->items[l->len++];
    snprintf(u->id, sizeof u->id, "%s", id);
    u->json = json;
}

static struct agent_update *list_find(struct agent_update_list *l, const char *id)
{
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->items[i].id, id) == 0) {
            return &l->items[i];
        }
    }
    return NULL;
}

static void list_remove(struct agent_update_list *l, size_t i)
{
    cv_free(l->items[i].json);
    memmove(&l->items[i], &l->items[i + 1], (l->len - i - 1) * sizeof *l->items);
    l->len--;
}

static void list_free(struct agent_update_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        cv_free(l->items[i].json);
    }
    cv_free(l->items);
    memset(l, 0, sizeof *l);
}

/* Arms the send timer unless armed: the interval, or what is left of the
 * backoff when longer. */
static void arm(struct agent *a)
{
    if (evtimer_pending(a->upd_ev, NULL)) {
        return;
    }
    uint64_t now = agent_now_ns(a);
    uint64_t wait_ms = AGENT_UPDATE_INTERVAL_MS;
    if (a->upd_next_ns > now && (a->upd_next_ns - now) / CV_NSEC_PER_MSEC > wait_ms) {
        wait_ms = (a->upd_next_ns - now) / CV_NSEC_PER_MSEC + 1;
    }
    agent_timer_ms(a->upd_ev, (int)wait_ms);
}

void agent_updates_queue(struct agent *a, const char *id, char *json)
{
    if (!a->freeing) {
        arm(a);
    }
    struct agent_update *u = list_find(&a->queue, id);
    if (u) {
        cv_free(u->json);
        u->json = json;
        return;
    }
    list_push(&a->queue, id, json);
}

void agent_updates_drop(struct agent *a, const char *id)
{
    for (size_t i = 0; i < a->queue.len; i++) {
        if (strcmp(a->queue.items[i].id, id) == 0) {
            list_remove(&a->queue, i);
            return;
        }
    }
}

bool agent_updates_idle(const struct agent *a)
{
    return a->queue.len == 0 && a->inflight.len == 0;
}

/* Puts the in-flight updates back in front of the queue, except those a
 * newer update replaced meanwhile. */
static void requeue_inflight(struct agent *a)
{
    struct agent_update_list merged = {0};
    for (size_t i = 0; i < a->inflight.len; i++) {
        struct agent_update *u = &a->inflight.items[i];
        if (list_find(&a->queue, u->id)) {
            cv_free(u->json);
        } else {
            list_push(&merged, u->id, u->json);
        }
    }
    for (size_t i = 0; i < a->queue.len; i++) {
        list_push(&merged, a->queue.items[i].id, a->queue.items[i].json);
    }
    cv_free(a->queue.items);
    cv_free(a->inflight.items);
    memset(&a->inflight, 0, sizeof a->inflight);
    a->queue = merged;
}

/* The N of a leading "Allocs[N]" in a refusal, or -1. */
static long refused_index(const char *msg)
{
    const char *p = strstr(msg, "Allocs[");
    if (!p) {
        return -1;
    }
    char *end = NULL;
    long n = strtol(p + 7, &end, 10);
    return end && *end == ']' && n >= 0 ? n : -1;
}

struct update_call
{
    struct agent *a;
    char addr[RPC_ADDR_MAX];
};

static void on_updated(const struct rpc_result *res, void *arg)
{
    struct update_call *c = arg;
    struct agent *a = c->a;
    if (a->freeing) {
        cv_free(c);
        return;
    }
    if (res->status == 0) {
        cv_log(CV_LOG_DEBUG, "agent", "allocation updates sent", "n=%zu server=%s", a->inflight.len,
               c->addr);
        list_free(&a->inflight);
        a->upd_backoff_ms = 0;
        cv_free(c);
        if (a->queue.len > 0) {
            arm(a);
        }
        return;
    }
    bool refused =
        res->status == CV_ENOTFOUND || res->status == CV_EINVAL || res->status == CV_EVALIDATE;
    if (refused) {
        long i = refused_index(res->err_msg);
        if (i >= 0 && (size_t)i < a->inflight.len) {
            cv_log(CV_LOG_WARN, "agent", "allocation update refused: dropped",
                   "alloc=%s err=\"%s\"", a->inflight.items[i].id, res->err_msg);
            list_remove(&a->inflight, (size_t)i);
        } else {
            cv_log(CV_LOG_ERROR, "agent", "allocation updates refused: dropped", "n=%zu err=\"%s\"",
                   a->inflight.len, res->err_msg);
            list_free(&a->inflight);
        }
        requeue_inflight(a);
    } else {
        agent_server_failed(a, c->addr, "Node.UpdateAlloc", res->err_msg);
        requeue_inflight(a);
        int ms = agent_backoff_next(&a->upd_backoff_ms, UPDATE_RETRY_MAX_MS);
        a->upd_next_ns = agent_now_ns(a) + (uint64_t)ms * CV_NSEC_PER_MSEC;
    }
    cv_free(c);
    if (a->queue.len > 0) {
        arm(a);
    }
}

static void send_batch(struct agent *a)
{
    size_t n = a->queue.len < AGENT_UPDATE_MAX_BATCH ? a->queue.len : AGENT_UPDATE_MAX_BATCH;
    struct cv_buf body;
    cv_buf_init(&body);
    cv_buf_append_str(&body, "{\"Allocs\": [");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            cv_buf_append_char(&body, ',');
        }
        cv_buf_append_str(&body, a->queue.items[i].json);
        list_push(&a->inflight, a->queue.items[i].id, a->queue.items[i].json);
    }
    cv_buf_append_str(&body, "]}");
    memmove(a->queue.items, a->queue.items + n, (a->queue.len - n) * sizeof *a->queue.items);
    a->queue.len -= n;
    struct update_call *c = cv_calloc(1, sizeof *c);
    c->a = a;
    snprintf(c->addr, sizeof c->addr, "%s", agent_server_addr(a));
    struct cv_err err = {0};
    if (rpc_call(a->pool, c->addr, "Node.UpdateAlloc", body.data, body.len, UPDATE_TIMEOUT_MS,
                 on_updated, c, &err) != 0) {
        agent_server_failed(a, c->addr, "Node.UpdateAlloc", err.msg);
        requeue_inflight(a);
        int ms = agent_backoff_next(&a->upd_backoff_ms, UPDATE_RETRY_MAX_MS);
        a->upd_next_ns = agent_now_ns(a) + (uint64_t)ms * CV_NSEC_PER_MSEC;
        cv_free(c);
        arm(a);
    }
    cv_buf_free(&body);
}

static void on_update_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent *a = arg;
    if (a->inflight.len > 0 || a->queue.len == 0) {
        return; /* the call's end re-arms */
    }
    if (agent_now_ns(a) < a->upd_next_ns) {
        arm(a);
        return;
    }
    send_batch(a);
}

int agent_updates_init(struct agent *a, struct cv_err *err)
{
    (void)err;
    a->upd_ev = evtimer_new(a->base, on_update_timer, a);
    return 0;
}

void agent_updates_free(struct agent *a)
{
    if (a->upd_ev) {
        event_free(a->upd_ev);
    }
    list_free(&a->queue);
    list_free(&a->inflight);
}
