/*
 * workers: the scheduler workers' RPCs and the plan queue (see workers.h).
 *
 * Plans are verified on the loop thread, one at a time, in arrival order:
 * that serialises verification without a lock. A plan whose worker planned
 * at an index the leader's state has not applied yet waits in the queue
 * until it has (checked on every 20 ms tick). After verifying plan N its
 * result is proposed and added to the overlay at once, so plan N+1 is
 * verified against N's effects while N is still committing; when N's entry
 * is applied the overlay entry is marked committed and pruned once the
 * state holds it.
 *
 * Dequeue waiters are polled on the same tick: a worker asking for work
 * gets an evaluation as soon as one is ready, or null at its deadline.
 */
#include "regiond/workers.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/log.h"
#include "common/mem.h"
#include "regiond/fsm.h"
#include "regiond/plan.h"
#include "regiond/rpc_json.h"
#include "regiond/state/state.h"

#define TICK_MS         20
#define MAX_DEQUEUE_MS  10000
#define MAX_SCHEDULERS  8
#define SCHEDULER_CHARS 32

struct waiter
{
    struct waiter *next;
    struct rpc_call *call;
    char types[MAX_SCHEDULERS][SCHEDULER_CHARS];
    size_t ntypes;
    uint64_t deadline_ns;
};

struct queued_plan
{
    struct queued_plan *next;
    struct rpc_call *call;
    struct plan *plan;
};

struct applying;

struct workers
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct plan_overlay *ov;
    struct waiter *waiters;
    struct queued_plan *plans, **plans_tail;
    struct applying *applying; /* proposed plans not yet applied */
    struct event *tick_ev;
};

static uint64_t now_ns(void)
{
    return cv_clock_monotonic_ns(cv_clock_system());
}

/* The token must be the current delivery's of eval_id. */
static int check_token(struct workers *w, const char *eval_id, const char *token, char *msg,
                       size_t size)
{
    char current[BROKER_TOKEN_SIZE];
    if (!eval_id || !token) {
        snprintf(msg, size, "EvalID and Token are required");
        return CV_EINVAL;
    }
    if (!broker_outstanding(duties_broker(w->duties), eval_id, current)) {
        snprintf(msg, size, "evaluation %s is not outstanding", eval_id);
        return CV_ENOTFOUND;
    }
    if (strcmp(current, token) != 0) {
        snprintf(msg, size, "evaluation token does not match");
        return CV_EINVAL;
    }
    return 0;
}

/* ---- Eval.Dequeue ------------------------------------------------------------------ */

/* Tries to hand the waiter an evaluation; true when it was answered. */
static bool try_dequeue(struct workers *w, struct waiter *wt, bool final)
{
    const char *types[MAX_SCHEDULERS];
    for (size_t i = 0; i < wt->ntypes; i++) {
        types[i] = wt->types[i];
    }
    struct broker_eval *be = NULL;
    char token[BROKER_TOKEN_SIZE] = "";
    int rc = broker_dequeue(duties_broker(w->duties), types, wt->ntypes, now_ns(), &be, token);
    if (rc != 0) {
        rpcj_reply_error(wt->call, rc, "this server is not the region's active leader");
        return true;
    }
    if (!be && !final) {
        return false;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Eval");
    struct state_snap *snap = state_snapshot(srv_state(w->srv));
    const struct cv_evaluation *ev = be ? state_eval(snap, be->id) : NULL;
    if (ev) {
        cv_eval_encode(ev, g);
    } else {
        cv_jgen_null(g);
    }
    state_snapshot_release(snap);
    cv_jgen_key(g, "Token");
    cv_jgen_string(g, ev ? token : "");
    cv_jgen_object_end(g);
    rpcj_reply_json(wt->call, g);
    if (be && !ev) {
        /* Gone from the state meanwhile: nothing to schedule. */
        broker_ack(duties_broker(w->duties), be->id, token, now_ns(), NULL);
    }
    broker_eval_free(be);
    return true;
}

static void leader_dequeue(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct workers *w = arg;
    if (!rpcj_require_active_leader(call, duties_active(w->duties))) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const struct cv_json *list = cv_json_object_get(cv_json_doc_root(doc), "Schedulers");
    const struct cv_json *timeout = cv_json_object_get(cv_json_doc_root(doc), "TimeoutMs");
    struct waiter *wt = cv_calloc(1, sizeof *wt);
    wt->call = call;
    bool ok = list && list->type == CV_JSON_ARRAY && list->u.array.len > 0 &&
              list->u.array.len <= MAX_SCHEDULERS;
    for (size_t i = 0; ok && i < list->u.array.len; i++) {
        const struct cv_json *t = list->u.array.items[i];
        ok = t->type == CV_JSON_STRING && t->u.string.len > 0 && t->u.string.len < SCHEDULER_CHARS;
        if (ok) {
            snprintf(wt->types[wt->ntypes++], SCHEDULER_CHARS, "%s", t->u.string.ptr);
        }
    }
    int64_t ms = 0;
    if (ok && timeout) {
        ok = timeout->type == CV_JSON_NUMBER && cv_json_int64(timeout, &ms) == 0 && ms >= 0;
    }
    cv_json_doc_free(doc);
    if (!ok) {
        cv_free(wt);
        rpcj_reply_error(call, CV_EINVAL,
                         "Schedulers (1 to 8 scheduler types) is required; TimeoutMs is a "
                         "non-negative number of milliseconds");
        return;
    }
    if (ms > MAX_DEQUEUE_MS) {
        ms = MAX_DEQUEUE_MS;
    }
    wt->deadline_ns = now_ns() + (uint64_t)ms * CV_NSEC_PER_MSEC;
    if (try_dequeue(w, wt, ms == 0)) {
        cv_free(wt);
        return;
    }
    wt->next = w->waiters;
    w->waiters = wt;
}

static void poll_waiters(struct workers *w)
{
    uint64_t now = now_ns();
    struct waiter **link = &w->waiters;
    while (*link) {
        struct waiter *wt = *link;
        bool answered;
        if (!duties_active(w->duties)) {
            rpcj_reply_error(wt->call, CV_ENOTLEADER, "leadership was lost");
            answered = true;
        } else {
            answered = try_dequeue(w, wt, now >= wt->deadline_ns);
        }
        if (answered) {
            *link = wt->next;
            cv_free(wt);
        } else {
            link = &wt->next;
        }
    }
}

/* ---- Eval.Ack, Eval.Nack, Eval.Update --------------------------------------------- */

static void ack_or_nack(struct workers *w, struct rpc_call *call, const void *payload, size_t len,
                        bool ack)
{
    if (!rpcj_require_active_leader(call, duties_active(w->duties))) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const char *id = rpcj_string(doc, "EvalID");
    const char *token = rpcj_string(doc, "Token");
    struct cv_err err = {0};
    int rc = id && token ? (ack ? broker_ack : broker_nack)(duties_broker(w->duties), id, token,
                                                            now_ns(), &err)
                         : cv_err_setf(&err, CV_EINVAL, "EvalID and Token are required");
    cv_json_doc_free(doc);
    if (rc != 0) {
        rpcj_reply_error(call, rc, err.msg);
    } else {
        rpc_reply(call, 0, NULL, "{}", 2);
    }
}

static void leader_ack(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    ack_or_nack(arg, call, payload, len, true);
}

static void leader_nack(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    ack_or_nack(arg, call, payload, len, false);
}

static void on_index_written(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct rpc_call *call = arg;
    if (status != 0) {
        rpcj_reply_error(call, status, cv_strerror(status));
        return;
    }
    if (res->outcome != FSM_APPLIED) {
        rpcj_reply_error(call, res->err.code ? res->err.code : CV_EINVAL, res->err.msg);
        return;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, index);
    cv_jgen_object_end(g);
    rpcj_reply_json(call, g);
}

static void leader_eval_update(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct workers *w = arg;
    if (!rpcj_require_active_leader(call, duties_active(w->duties))) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const struct cv_json *list = cv_json_object_get(cv_json_doc_root(doc), "Evals");
    const char *token = rpcj_string(doc, "Token");
    char msg[CV_ERR_MSG_MAX] = "";
    int rc = 0;
    size_t n = list && list->type == CV_JSON_ARRAY ? list->u.array.len : 0;
    if (n == 0 || n > 1024) {
        rc = CV_EINVAL;
        snprintf(msg, sizeof msg, "Evals: 1 to 1024 evaluations are required");
    }
    struct cv_evaluation **evals = cv_calloc(n ? n : 1, sizeof *evals);
    size_t decoded = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        if (cv_eval_decode(list->u.array.items[i], &evals[i], &errs) != 0) {
            char one[CV_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "Evals[%zu].%s", i,
                     cv_errlist_format(&errs, 0, one, sizeof one));
            rc = CV_EVALIDATE;
        } else {
            decoded++;
        }
        cv_errlist_free(&errs);
    }
    /* The first evaluation is the caller's own: it must hold its token. */
    if (rc == 0) {
        rc = check_token(w, evals[0]->id, token, msg, sizeof msg);
    }
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    struct cv_err err = {0};
    if (rc == 0 &&
        fsm_encode_eval_update((const struct cv_evaluation *const *)evals, n, &cmd, &err) != 0) {
        rc = err.code;
        snprintf(msg, sizeof msg, "%s", err.msg);
    }
    if (rc == 0 && srv_propose(w->srv, cmd.data, cmd.len, on_index_written, call, &err) != 0) {
        rc = err.code;
        snprintf(msg, sizeof msg, "%s", err.msg);
    }
    if (rc != 0) {
        rpcj_reply_error(call, rc, msg);
    }
    cv_buf_free(&cmd);
    for (size_t i = 0; i < decoded; i++) {
        cv_eval_free(evals[i]);
    }
    cv_free(evals);
    cv_json_doc_free(doc);
}

/* ---- Plan.Submit and the plan queue ----------------------------------------------- */

struct applying
{
    struct applying *next;
    struct workers *w; /* NULL once the workers are freed: answer, touch nothing */
    struct rpc_call *call;
    struct plan *plan;
    struct plan_result result;
    uint64_t ticket;
    uint64_t refresh_index;
};

static void reply_plan(struct rpc_call *call, uint64_t alloc_index, uint64_t refresh_index,
                       const struct plan_result *r)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "AllocIndex");
    cv_jgen_uint(g, alloc_index);
    cv_jgen_key(g, "RefreshIndex");
    cv_jgen_uint(g, refresh_index);
    cv_jgen_key(g, "Placed");
    cv_jgen_uint(g, r->n_allocs);
    cv_jgen_key(g, "Stopped");
    cv_jgen_uint(g, r->n_stops);
    cv_jgen_key(g, "RejectedNodes");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < r->n_rejected; i++) {
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "NodeID");
        cv_jgen_string(g, r->rejected[i].node_id);
        cv_jgen_key(g, "Reason");
        cv_jgen_string(g, r->rejected[i].reason);
        cv_jgen_object_end(g);
    }
    cv_jgen_array_end(g);
    cv_jgen_object_end(g);
    rpcj_reply_json(call, g);
}

static void applying_free(struct applying *a)
{
    plan_result_free(&a->result);
    plan_free(a->plan);
    cv_free(a);
}

static void unlink_applying(struct applying *a)
{
    if (!a->w) {
        return;
    }
    for (struct applying **link = &a->w->applying; *link; link = &(*link)->next) {
        if (*link == a) {
            *link = a->next;
            break;
        }
    }
}

static void on_plan_applied(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct applying *a = arg;
    unlink_applying(a);
    if (!a->w) {
        rpcj_reply_error(a->call, CV_ESHUTDOWN, "the server is stopping");
    } else if (status != 0 || res->outcome != FSM_APPLIED) {
        plan_overlay_drop(a->w->ov, a->ticket);
        int code = status ? status : (res->err.code ? res->err.code : CV_EINVAL);
        rpcj_reply_error(a->call, code, status ? cv_strerror(status) : res->err.msg);
    } else {
        plan_overlay_commit(a->w->ov, a->ticket, index);
        plan_overlay_prune(a->w->ov, index);
        uint64_t refresh =
            a->refresh_index ? (a->refresh_index > index ? a->refresh_index : index) : 0;
        reply_plan(a->call, index, refresh, &a->result);
    }
    applying_free(a);
}

/* Verifies one plan and proposes what fits. Returns false when the state
 * has not reached the plan's snapshot index yet (the plan waits). */
static bool apply_plan(struct workers *w, struct queued_plan *q)
{
    struct state_snap *snap = state_snapshot(srv_state(w->srv));
    if (state_snap_index(snap) < q->plan->snapshot_index) {
        state_snapshot_release(snap);
        return false;
    }
    struct applying *a = cv_calloc(1, sizeof *a);
    a->w = w;
    a->call = q->call;
    a->plan = q->plan;
    plan_result_init(&a->result);
    struct cv_err err = {0};
    int rc = plan_evaluate(snap, w->ov, a->plan, &a->result, &err);
    state_snapshot_release(snap);
    if (rc != 0) {
        rpcj_reply_error(a->call, rc, err.msg);
        applying_free(a);
        return true;
    }
    if (a->result.refresh_index) {
        /* A plan still committing counted too: refresh past everything
         * proposed so far. */
        uint64_t last = raft_last_index(srv_raft(w->srv));
        a->refresh_index = a->result.pending_ticket && last > a->result.refresh_index
                               ? last
                               : a->result.refresh_index;
    }
    if (plan_result_is_noop(&a->result)) {
        reply_plan(a->call, 0, a->refresh_index, &a->result);
        applying_free(a);
        return true;
    }
    struct fsm_plan fp;
    plan_result_fsm(&a->result, &fp);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    rc = fsm_encode_plan_apply(&fp, &cmd, &err);
    if (rc == 0) {
        rc = srv_propose(w->srv, cmd.data, cmd.len, on_plan_applied, a, &err);
    }
    cv_buf_free(&cmd);
    if (rc != 0) {
        rpcj_reply_error(a->call, rc, err.msg);
        applying_free(a);
        return true;
    }
    a->ticket = plan_overlay_add(w->ov, &a->result);
    a->next = w->applying;
    w->applying = a;
    return true;
}

static void drain_plans(struct workers *w)
{
    while (w->plans) {
        struct queued_plan *q = w->plans;
        if (!duties_active(w->duties)) {
            rpcj_reply_error(q->call, CV_ENOTLEADER, "leadership was lost");
            plan_free(q->plan);
        } else if (!apply_plan(w, q)) {
            return; /* the head waits for the state to catch up */
        }
        w->plans = q->next;
        if (!w->plans) {
            w->plans_tail = &w->plans;
        }
        cv_free(q);
    }
}

static void leader_plan_submit(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct workers *w = arg;
    if (!rpcj_require_active_leader(call, duties_active(w->duties))) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), "Plan");
    struct plan *p = NULL;
    struct cv_err err = {0};
    int rc = v ? plan_decode(v, &p, &err) : cv_err_setf(&err, CV_EINVAL, "Plan: required");
    cv_json_doc_free(doc);
    char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 2];
    if (rc == 0) {
        rc = check_token(w, p->eval_id, p->eval_token, msg, sizeof msg);
    } else {
        snprintf(msg, sizeof msg, "%s%s%s", err.path, err.path[0] ? ": " : "", err.msg);
    }
    if (rc != 0) {
        plan_free(p);
        rpcj_reply_error(call, rc, msg);
        return;
    }
    struct queued_plan *q = cv_calloc(1, sizeof *q);
    q->call = call;
    q->plan = p;
    *w->plans_tail = q;
    w->plans_tail = &q->next;
    drain_plans(w);
}

/* ---- relaying, ticking, lifecycle -------------------------------------------------- */

#define FOLLOWER_ENTRY(name, method, leader_fn)                                         \
    static void name(struct rpc_call *call, const void *payload, size_t len, void *arg) \
    {                                                                                   \
        struct workers *w = arg;                                                        \
        if (srv_is_leader(w->srv)) {                                                    \
            leader_fn(call, payload, len, arg);                                         \
        } else {                                                                        \
            srv_relay(w->srv, call, "Leader." method, payload, len);                    \
        }                                                                               \
    }

FOLLOWER_ENTRY(entry_dequeue, "Eval.Dequeue", leader_dequeue)
FOLLOWER_ENTRY(entry_ack, "Eval.Ack", leader_ack)
FOLLOWER_ENTRY(entry_nack, "Eval.Nack", leader_nack)
FOLLOWER_ENTRY(entry_update, "Eval.Update", leader_eval_update)
FOLLOWER_ENTRY(entry_plan, "Plan.Submit", leader_plan_submit)

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct workers *w = arg;
    poll_waiters(w);
    drain_plans(w);
}

int workers_new(struct event_base *base, struct srv *srv, struct duties *duties,
                struct workers **out, struct cv_err *err)
{
    struct workers *w = cv_calloc(1, sizeof *w);
    w->base = base;
    w->srv = srv;
    w->duties = duties;
    w->ov = plan_overlay_new();
    w->plans_tail = &w->plans;
    static const struct
    {
        const char *method;
        rpc_handler_fn fn;
    } methods[] = {
        {"Eval.Dequeue", entry_dequeue},
        {"Eval.Ack", entry_ack},
        {"Eval.Nack", entry_nack},
        {"Eval.Update", entry_update},
        {"Plan.Submit", entry_plan},
        {"Leader.Eval.Dequeue", leader_dequeue},
        {"Leader.Eval.Ack", leader_ack},
        {"Leader.Eval.Nack", leader_nack},
        {"Leader.Eval.Update", leader_eval_update},
        {"Leader.Plan.Submit", leader_plan_submit},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        int rc = rpc_server_handle(srv_rpc_server(srv), methods[i].method, methods[i].fn, w, err);
        if (rc != 0) {
            workers_free(w);
            return rc;
        }
    }
    w->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, w);
    struct timeval every = {0, TICK_MS * 1000};
    event_add(w->tick_ev, &every);
    *out = w;
    return 0;
}

void workers_free(struct workers *w)
{
    if (!w) {
        return;
    }
    if (w->tick_ev) {
        event_free(w->tick_ev);
    }
    while (w->waiters) {
        struct waiter *wt = w->waiters;
        w->waiters = wt->next;
        rpcj_reply_error(wt->call, CV_ESHUTDOWN, "the server is stopping");
        cv_free(wt);
    }
    while (w->plans) {
        struct queued_plan *q = w->plans;
        w->plans = q->next;
        rpcj_reply_error(q->call, CV_ESHUTDOWN, "the server is stopping");
        plan_free(q->plan);
        cv_free(q);
    }
    for (struct applying *a = w->applying; a; a = a->next) {
        a->w = NULL; /* srv_free fails the proposal and frees it */
    }
    plan_overlay_free(w->ov);
    cv_free(w);
}
