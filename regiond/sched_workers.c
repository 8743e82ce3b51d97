/*
 * sched_workers: the scheduler worker threads (see sched_workers.h).
 */
#include "regiond/sched_workers.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/random.h"
#include "common/rpc.h"
#include "regiond/plan.h"
#include "regiond/sched_state.h"
#include "schedd/sched.h"

#define DEQUEUE_WAIT_MS   500 /* how long one Eval.Dequeue waits for work */
#define RPC_TIMEOUT_MS    10000
#define INDEX_WAIT_MS     5000 /* for the state to reach an evaluation's index */
#define BACKOFF_MIN_MS    50   /* after an RPC error (no leader yet...) */
#define BACKOFF_MAX_MS    1000
#define MAX_PLANS_SERVICE 5 /* Nomad's maxServiceScheduleAttempts */
#define MAX_PLANS_BATCH   2 /* maxBatchScheduleAttempts */
#define TOKEN_MAX         64

static const char *const SCHEDULERS[] = {"service", "batch", "system", "sysbatch"};

struct worker
{
    struct sched_workers *owner;
    unsigned id;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct rpc_pool *pool;
};

struct sched_workers
{
    char *rpc_addr;
    struct state_store *state;
    size_t placements_per_plan;
    struct worker *workers;
    unsigned n;
    atomic_bool stopping;
    atomic_uint running; /* threads not yet exited */
    _Atomic uint64_t acked, nacked, plans, partial, placed, blocked;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sleeps up to ms, waking early when the workers are stopping. */
static void pause_ms(struct sched_workers *w, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !atomic_load(&w->stopping); slept += 10) {
        sleep_ms(10);
    }
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a blocking RPC on the worker's own loop --------------------------------------- */

struct sync_call
{
    bool done;
    int status;
    char msg[CV_ERR_MSG_MAX];
    struct cv_buf payload;
};

static void on_call_done(const struct rpc_result *res, void *arg)
{
    struct sync_call *c = arg;
    c->done = true;
    c->status = res->status;
    snprintf(c->msg, sizeof c->msg, "%s", res->err_msg != NULL ? res->err_msg : "");
    if (res->len > 0) {
        cv_buf_append(&c->payload, res->payload, res->len);
    }
}

/* Calls method with the JSON g (consumed) and parses the answer into *out.
 * Returns 0, or the call's error code with msg set. */
static int call_json(struct worker *wk, const char *method, struct cv_jgen *g,
                     struct cv_json_doc **out, char *msg, size_t msg_size)
{
    *out = NULL;
    const char *body = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    int rc = cv_jgen_finish(g, &body, &len, &err);
    struct sync_call c = {0};
    cv_buf_init(&c.payload);
    if (rc == 0) {
        rc = rpc_call(wk->pool, wk->owner->rpc_addr, method, body, len, RPC_TIMEOUT_MS,
                      on_call_done, &c, &err);
    }
    cv_jgen_free(g);
    if (rc != 0) {
        snprintf(msg, msg_size, "%s: %.400s", method, err.msg);
        cv_buf_free(&c.payload);
        return rc;
    }
    while (!c.done) {
        event_base_loop(wk->base, EVLOOP_ONCE);
    }
    rc = c.status;
    if (rc != 0) {
        snprintf(msg, msg_size, "%s: %.400s", method, c.msg);
    } else if (c.payload.len > 0) {
        rc = cv_json_parse(c.payload.data, c.payload.len, NULL, out, &err);
        if (rc != 0) {
            snprintf(msg, msg_size, "%s: answer: %.400s", method, err.msg);
        }
    }
    cv_buf_free(&c.payload);
    return rc;
}

static const char *doc_string(const struct cv_json_doc *doc, const char *key)
{
    const struct cv_json *v = doc != NULL ? cv_json_object_get(cv_json_doc_root(doc), key) : NULL;
    return v != NULL && v->type == CV_JSON_STRING ? v->u.string.ptr : NULL;
}

static uint64_t doc_uint(const struct cv_json_doc *doc, const char *key)
{
    const struct cv_json *v = doc != NULL ? cv_json_object_get(cv_json_doc_root(doc), key) : NULL;
    uint64_t n = 0;
    if (v == NULL || v->type != CV_JSON_NUMBER || cv_json_uint64(v, &n) != 0) {
        return 0;
    }
    return n;
}

/* ---- the broker's side ------------------------------------------------------------- */

/* Asks for an evaluation. Returns 0 with *ev NULL when none came in time. */
static int dequeue(struct worker *wk, struct cv_evaluation **ev, char token[TOKEN_MAX])
{
    *ev = NULL;
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Schedulers");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < sizeof SCHEDULERS / sizeof SCHEDULERS[0]; i++) {
        cv_jgen_string(g, SCHEDULERS[i]);
    }
    cv_jgen_array_end(g);
    cv_jgen_key(g, "TimeoutMs");
    cv_jgen_uint(g, DEQUEUE_WAIT_MS);
    cv_jgen_object_end(g);
    struct cv_json_doc *doc = NULL;
    char msg[CV_ERR_MSG_MAX];
    int rc = call_json(wk, "Eval.Dequeue", g, &doc, msg, sizeof msg);
    if (rc != 0) {
        cv_log(CV_LOG_DEBUG, "sched", "dequeue failed", "worker=%u error=\"%s\"", wk->id, msg);
        return rc;
    }
    const struct cv_json *e = cv_json_object_get(cv_json_doc_root(doc), "Eval");
    const char *tok = doc_string(doc, "Token");
    if (e != NULL && e->type == CV_JSON_OBJECT && tok != NULL && strlen(tok) < TOKEN_MAX) {
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        if (cv_eval_decode(e, ev, &errs) != 0) {
            char one[CV_ERR_MSG_MAX];
            cv_log(CV_LOG_ERROR, "sched", "leader sent an evaluation that does not decode",
                   "error=\"%s\"", cv_errlist_format(&errs, 0, one, sizeof one));
            rc = CV_EPARSE;
        } else {
            snprintf(token, TOKEN_MAX, "%s", tok);
        }
        cv_errlist_free(&errs);
    }
    cv_json_doc_free(doc);
    return rc;
}

static int ack_or_nack(struct worker *wk, const char *method, const char *eval_id,
                       const char *token)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "EvalID");
    cv_jgen_string(g, eval_id);
    cv_jgen_key(g, "Token");
    cv_jgen_string(g, token);
    cv_jgen_object_end(g);
    struct cv_json_doc *doc = NULL;
    char msg[CV_ERR_MSG_MAX];
    int rc = call_json(wk, method, g, &doc, msg, sizeof msg);
    cv_json_doc_free(doc);
    if (rc != 0) {
        cv_log(CV_LOG_WARN, "sched", "ack or nack failed", "eval=%s error=\"%s\"", eval_id, msg);
    }
    return rc;
}

static void nack(struct worker *wk, const struct cv_evaluation *ev, const char *token,
                 const char *why)
{
    cv_log(CV_LOG_WARN, "sched", "evaluation given back", "worker=%u eval=%s job=%s why=\"%s\"",
           wk->id, ev->id, ev->job_id, why);
    ack_or_nack(wk, "Eval.Nack", ev->id, token);
    atomic_fetch_add(&wk->owner->nacked, 1);
}

/* ---- waiting for the local state ---------------------------------------------------- */

static uint64_t state_index(struct sched_workers *w)
{
    struct state_snap *snap = state_snapshot(w->state);
    uint64_t index = state_snap_index(snap);
    state_snapshot_release(snap);
    return index;
}

/* Polls the state, 1 ms apart: a follower is normally a few milliseconds
 * behind, and an entry that writes no table would never wake a watch. */
static bool wait_index(struct sched_workers *w, uint64_t index)
{
    uint64_t deadline = mono_ms() + INDEX_WAIT_MS;
    while (state_index(w) < index) {
        if (mono_ms() > deadline || atomic_load(&w->stopping)) {
            return false;
        }
        sleep_ms(1);
    }
    return true;
}

/* ---- plans ----------------------------------------------------------------------------- */

struct submit_answer
{
    uint64_t alloc_index;
    uint64_t refresh_index;
    uint64_t placed;
};

static int submit(struct worker *wk, struct sch_plan *sp, const char *token,
                  struct submit_answer *ans, char *msg, size_t msg_size)
{
    struct plan *p = sched_plan_to_plan(sp, token);
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Plan");
    plan_encode(p, g);
    cv_jgen_object_end(g);
    plan_free(p);
    struct cv_json_doc *doc = NULL;
    int rc = call_json(wk, "Plan.Submit", g, &doc, msg, msg_size);
    if (rc == 0) {
        ans->alloc_index = doc_uint(doc, "AllocIndex");
        ans->refresh_index = doc_uint(doc, "RefreshIndex");
        ans->placed = doc_uint(doc, "Placed");
    }
    cv_json_doc_free(doc);
    return rc;
}

/* ---- finishing an evaluation ------------------------------------------------------------ */

/* Replaces e's FailedTGAllocs and QueuedAllocations with the outcome's. */
static void move_metrics(struct cv_evaluation *e, struct sch_outcome *o)
{
    for (size_t i = 0; i < e->failed_tg_allocs.len; i++) {
        cv_free(e->failed_tg_allocs.items[i].key);
        cv_release(&cv_alloc_metric_schema, &e->failed_tg_allocs.items[i].metric);
    }
    cv_free(e->failed_tg_allocs.items);
    for (size_t i = 0; i < e->queued_allocations.len; i++) {
        cv_free(e->queued_allocations.items[i].key);
    }
    cv_free(e->queued_allocations.items);
    e->failed_tg_allocs.items = o->failed_tg_allocs.items;
    e->failed_tg_allocs.len = o->failed_tg_allocs.len;
    o->failed_tg_allocs.items = NULL;
    o->failed_tg_allocs.len = 0;
    e->queued_allocations = o->queued;
    memset(&o->queued, 0, sizeof o->queued);
}

static struct cv_evaluation *blocked_eval(const struct cv_evaluation *ev, struct sch_outcome *o,
                                          const char *trigger, uint64_t snapshot_index)
{
    char id[CV_UUID_LEN + 1];
    cv_uuid_generate(id);
    struct cv_evaluation *b = cv_eval_new();
    cv_set_string(&b->id, id);
    cv_set_string(&b->namespace, ev->namespace);
    b->priority = ev->priority;
    cv_set_string(&b->type, ev->type);
    cv_set_string(&b->triggered_by, trigger);
    cv_set_string(&b->job_id, ev->job_id);
    b->job_modify_index = ev->job_modify_index;
    cv_set_string(&b->status, CV_EVAL_STATUS_BLOCKED);
    cv_set_string(&b->status_description, "created to place remaining allocations");
    cv_set_string(&b->previous_eval, ev->id);
    b->class_eligibility.items = o->class_eligibility.items;
    b->class_eligibility.len = o->class_eligibility.len;
    o->class_eligibility.items = NULL;
    o->class_eligibility.len = 0;
    b->escaped_computed_class = o->escaped_computed_class;
    b->snapshot_index = snapshot_index;
    int64_t now = wall_ns();
    b->create_time = now;
    b->modify_time = now;
    return b;
}

/* Writes the evaluation's outcome (and a blocked evaluation when needed)
 * and acks it. */
static void finish(struct worker *wk, const struct cv_evaluation *ev, const char *token,
                   struct sch_outcome *o, uint64_t snapshot_index, bool out_of_attempts)
{
    struct cv_evaluation *done = cv_eval_copy(ev);
    struct cv_evaluation *blocked = NULL;
    if (out_of_attempts) {
        cv_set_string(&done->status, CV_EVAL_STATUS_FAILED);
        cv_set_string(&done->status_description, "maximum attempts reached");
        blocked = blocked_eval(ev, o, CV_EVAL_TRIGGER_MAX_PLANS, snapshot_index);
    } else {
        cv_set_string(&done->status, CV_EVAL_STATUS_COMPLETE);
        cv_set_string(&done->status_description, "");
        if (sch_outcome_blocked(o)) {
            blocked = blocked_eval(ev, o, CV_EVAL_TRIGGER_QUEUED_ALLOCS, snapshot_index);
        }
    }
    move_metrics(done, o);
    done->snapshot_index = snapshot_index;
    done->modify_time = wall_ns();
    if (blocked != NULL) {
        cv_set_string(&done->blocked_eval, blocked->id);
    }

    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Evals");
    cv_jgen_array_begin(g);
    cv_eval_encode(done, g);
    if (blocked != NULL) {
        cv_eval_encode(blocked, g);
    }
    cv_jgen_array_end(g);
    cv_jgen_key(g, "Token");
    cv_jgen_string(g, token);
    cv_jgen_object_end(g);
    struct cv_json_doc *doc = NULL;
    char msg[CV_ERR_MSG_MAX];
    int rc = call_json(wk, "Eval.Update", g, &doc, msg, sizeof msg);
    cv_json_doc_free(doc);
    if (rc != 0) {
        nack(wk, ev, token, msg);
    } else if (ack_or_nack(wk, "Eval.Ack", ev->id, token) == 0) {
        atomic_fetch_add(&wk->owner->acked, 1);
        if (blocked != NULL) {
            atomic_fetch_add(&wk->owner->blocked, 1);
        }
    }
    cv_eval_free(done);
    cv_eval_free(blocked);
}

static bool plan_empty(const struct sch_plan *p)
{
    return p->stops.len == 0 && p->allocs.len == 0;
}

/* Schedules ev until its plan commits whole, or the attempts run out. */
static void process(struct worker *wk, const struct cv_evaluation *ev, const char *token)
{
    struct sched_workers *w = wk->owner;
    if (!wait_index(w, ev->modify_index)) {
        nack(wk, ev, token, "the local state did not reach the evaluation's index in time");
        return;
    }
    bool batch = ev->type != NULL && strcmp(ev->type, "batch") == 0;
    unsigned max_plans = batch ? MAX_PLANS_BATCH : MAX_PLANS_SERVICE;
    struct sch_options opts = {.algorithm = SCH_FIT_BINPACK,
                               .max_placements = w->placements_per_plan};
    for (unsigned attempt = 1;; attempt++) {
        struct state_snap *snap = state_snapshot(w->state);
        struct sch_state st;
        sched_state_init(&st, snap);
        struct sch_outcome out;
        sch_outcome_init(&out);
        struct cv_err err = {0};
        opts.now = wall_ns();
        /* A different node order on each attempt: the nodes that refused the
         * last plan are not tried first again. */
        opts.seed = attempt == 1 ? 0 : cv_random_u64();
        int rc = sch_schedule(&st, ev, &opts, &out, &err);
        if (rc != 0) {
            state_snapshot_release(snap);
            nack(wk, ev, token, err.msg);
            return;
        }
        uint64_t snapshot_index = st.index;
        struct submit_answer ans = {0};
        bool commit_whole = true;
        if (!plan_empty(&out.plan)) {
            char msg[CV_ERR_MSG_MAX];
            rc = submit(wk, &out.plan, token, &ans, msg, sizeof msg);
            atomic_fetch_add(&w->plans, 1);
            if (rc != 0) {
                sch_outcome_free(&out);
                state_snapshot_release(snap);
                nack(wk, ev, token, msg);
                return;
            }
            atomic_fetch_add(&w->placed, ans.placed);
            commit_whole = ans.refresh_index == 0;
        }
        state_snapshot_release(snap);
        if (commit_whole && out.truncated) {
            /* A full plan committed and more is to place: the next plan is
             * not a retry. */
            sch_outcome_free(&out);
            attempt--;
            if (!wait_index(w, ans.alloc_index)) {
                nack(wk, ev, token, "the local state did not reach the plan's index in time");
                return;
            }
            continue;
        }
        if (commit_whole || attempt >= max_plans) {
            finish(wk, ev, token, &out, snapshot_index, !commit_whole);
            sch_outcome_free(&out);
            return;
        }
        atomic_fetch_add(&w->partial, 1);
        sch_outcome_free(&out);
        if (!wait_index(w, ans.refresh_index)) {
            nack(wk, ev, token, "the local state did not reach the refresh index in time");
            return;
        }
    }
}

/* ---- the threads --------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct sched_workers *w = wk->owner;
    unsigned backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&w->stopping)) {
        struct cv_evaluation *ev = NULL;
        char token[TOKEN_MAX] = "";
        if (dequeue(wk, &ev, token) != 0) {
            pause_ms(w, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        if (ev != NULL) {
            process(wk, ev, token);
            cv_eval_free(ev);
        }
    }
    atomic_fetch_sub(&w->running, 1);
    return NULL;
}

static void free_workers(struct sched_workers *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        rpc_pool_free(w->workers[i].pool);
        if (w->workers[i].base != NULL) {
            event_base_free(w->workers[i].base);
        }
    }
    cv_free(w->workers);
    cv_free(w->rpc_addr);
    cv_free(w);
}

int sched_workers_start(const struct sched_workers_config *cfg, struct sched_workers **out,
                        struct cv_err *err)
{
    *out = NULL;
    if (cfg->rpc_addr == NULL || cfg->state == NULL || cfg->n_workers == 0 ||
        cfg->n_workers > SCHED_WORKERS_MAX) {
        return cv_err_setf(err, CV_EINVAL,
                           "scheduler workers: an RPC address, a state store and 1 to %d "
                           "workers are required",
                           SCHED_WORKERS_MAX);
    }
    struct sched_workers *w = cv_calloc(1, sizeof *w);
    w->rpc_addr = cv_strdup(cfg->rpc_addr);
    w->state = cfg->state;
    w->placements_per_plan = cfg->placements_per_plan != 0 ? cfg->placements_per_plan
                                                           : SCHED_WORKERS_PLACEMENTS_PER_PLAN;
    w->n = cfg->n_workers;
    w->workers = cv_calloc(w->n, sizeof *w->workers);
    atomic_init(&w->stopping, false);
    atomic_init(&w->running, 0);
    for (unsigned i = 0; i < w->n; i++) {
        struct worker *wk = &w->workers[i];
        wk->owner = w;
        wk->id = i;
        wk->base = event_base_new();
        if (wk->base == NULL || rpc_pool_new(wk->base, NULL, &wk->pool, err) != 0) {
            free_workers(w);
            return cv_err_setf(err, CV_EIO, "scheduler worker %u: no event loop", i);
        }
    }
    for (unsigned i = 0; i < w->n; i++) {
        struct worker *wk = &w->workers[i];
        atomic_fetch_add(&w->running, 1);
        if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
            atomic_fetch_sub(&w->running, 1);
            sched_workers_stop(w);
            return cv_err_setf(err, CV_EIO, "scheduler worker %u: thread not started", i);
        }
        wk->started = true;
    }
    *out = w;
    return 0;
}

void sched_workers_request_stop(struct sched_workers *w)
{
    atomic_store(&w->stopping, true);
}

unsigned sched_workers_running(const struct sched_workers *w)
{
    return atomic_load(&((struct sched_workers *)w)->running);
}

void sched_workers_stop(struct sched_workers *w)
{
    if (w == NULL) {
        return;
    }
    atomic_store(&w->stopping, true);
    for (unsigned i = 0; i < w->n; i++) {
        if (w->workers[i].started) {
            pthread_join(w->workers[i].thread, NULL);
        }
    }
    free_workers(w);
}

void sched_workers_get_stats(const struct sched_workers *w, struct sched_workers_stats *out)
{
    struct sched_workers *m = (struct sched_workers *)w; /* atomics read only */
    out->evals_acked = atomic_load(&m->acked);
    out->evals_nacked = atomic_load(&m->nacked);
    out->plans = atomic_load(&m->plans);
    out->partial = atomic_load(&m->partial);
    out->placed = atomic_load(&m->placed);
    out->blocked = atomic_load(&m->blocked);
}
