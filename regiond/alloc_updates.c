/*
 * alloc_updates: client allocation updates, batched on the leader (see
 * alloc_updates.h).
 */
#include "regiond/alloc_updates.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/node.h"
#include "common/random.h"
#include "regiond/fsm.h"
#include "regiond/rpc_json.h"
#include "regiond/state/state.h"

/* A caller waiting for its updates' entry, and the IDs of its updates that
 * were dropped (allocations that no longer exist). */
struct waiter
{
    struct rpc_call *call;
    char **dropped;
    size_t n_dropped;
};

/* Callers whose updates one Raft entry carries. */
struct batch
{
    struct waiter *calls;
    size_t n_calls;
};

struct alloc_updates
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct event *timer;
    bool timer_armed;
    /* The batch being collected. */
    struct cv_allocation **allocs; /* owned */
    size_t n_allocs, cap_allocs;
    struct waiter *calls;
    size_t n_calls, cap_calls;
};

static int64_t wall_ns(void)
{
    return cv_clock_wall_ns(cv_clock_system());
}

/* ---- decoding one call -------------------------------------------------------------- */

static void check_update(const struct cv_allocation *a, const char *path, struct cv_errlist *errs)
{
    static const char *const client[] = {CV_ALLOC_CLIENT_PENDING,
                                         CV_ALLOC_CLIENT_RUNNING,
                                         CV_ALLOC_CLIENT_COMPLETE,
                                         CV_ALLOC_CLIENT_FAILED,
                                         CV_ALLOC_CLIENT_LOST,
                                         CV_ALLOC_CLIENT_UNKNOWN,
                                         NULL};
    static const char *const states[] = {CV_TASK_STATE_PENDING, CV_TASK_STATE_RUNNING,
                                         CV_TASK_STATE_DEAD, NULL};
    cv_check_uuid(errs, path, "ID", a->id, true);
    cv_check_uuid(errs, path, "NodeID", a->node_id, true);
    cv_check_vocab(errs, path, "ClientStatus", a->client_status, client);
    char sub[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < a->task_states.len; i++) {
        const struct cv_task_state *ts = &a->task_states.items[i];
        snprintf(sub, sizeof sub, "%s.TaskStates.%s", path, ts->key);
        cv_check_vocab(errs, sub, "State", ts->state, states);
    }
}

/* Decodes {"Allocs": [...]} into out[0..*n) (owned). Returns 0, or an error
 * code with msg set and nothing in out. */
static int decode_updates(const struct cv_json_doc *doc, struct cv_allocation ***out, size_t *n,
                          char *msg, size_t msg_size)
{
    *out = NULL;
    *n = 0;
    const struct cv_json *list = cv_json_object_get(cv_json_doc_root(doc), "Allocs");
    if (list == NULL || list->type != CV_JSON_ARRAY || list->u.array.len == 0 ||
        list->u.array.len > ALLOC_UPDATES_CALL_MAX) {
        snprintf(msg, msg_size, "Allocs: an array of 1 to %d allocation updates is required",
                 ALLOC_UPDATES_CALL_MAX);
        return CV_EINVAL;
    }
    size_t len = list->u.array.len;
    struct cv_allocation **allocs = cv_calloc(len, sizeof *allocs);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char path[64];
        snprintf(path, sizeof path, "Allocs[%zu]", i);
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        allocs[i] = cv_alloc_new();
        const struct cv_json *item = list->u.array.items[i];
        if (item->type != CV_JSON_OBJECT) {
            cv_errlist_addf(&errs, path, "must be an object, not %s",
                            cv_json_type_name(item->type));
        } else if (cv_decode(&cv_allocation_schema, item, allocs[i], path, &errs) == 0) {
            check_update(allocs[i], path, &errs);
        }
        if (errs.len > 0) {
            cv_errlist_format(&errs, 0, msg, msg_size);
            rc = CV_EVALIDATE;
        }
        cv_errlist_free(&errs);
    }
    if (rc != 0) {
        for (size_t i = 0; i < len; i++) {
            cv_alloc_free(allocs[i]);
        }
        cv_free(allocs);
        return rc;
    }
    *out = allocs;
    *n = len;
    return 0;
}

/* Every update must be for an allocation on the node it claims; updates of
 * allocations that no longer exist (garbage collected while the client was
 * reporting) are not errors: they are marked in unknown[] and dropped. */
static int check_against_state(struct alloc_updates *u, struct cv_allocation *const *allocs,
                               size_t n, bool *unknown, char *msg, size_t msg_size)
{
    struct state_snap *snap = state_snapshot(srv_state(u->srv));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cv_allocation *stored = state_alloc(snap, allocs[i]->id);
        unknown[i] = stored == NULL;
        if (stored == NULL) {
            continue;
        }
        if (strcmp(stored->node_id, allocs[i]->node_id) != 0) {
            snprintf(msg, msg_size, "Allocs[%zu]: allocation %s is not on node %s", i,
                     allocs[i]->id, allocs[i]->node_id);
            rc = CV_EINVAL;
        }
    }
    state_snapshot_release(snap);
    return rc;
}

/* ---- the batch ---------------------------------------------------------------------- */

static void add_to_batch(struct alloc_updates *u, struct cv_allocation *a)
{
    for (size_t i = 0; i < u->n_allocs; i++) {
        if (strcmp(u->allocs[i]->id, a->id) == 0) {
            cv_alloc_free(u->allocs[i]); /* the later report wins */
            u->allocs[i] = a;
            return;
        }
    }
    if (u->n_allocs == u->cap_allocs) {
        u->cap_allocs = u->cap_allocs != 0 ? u->cap_allocs * 2 : 64;
        u->allocs = cv_reallocarray(u->allocs, u->cap_allocs, sizeof *u->allocs);
    }
    u->allocs[u->n_allocs++] = a;
}

static void add_call(struct alloc_updates *u, struct waiter w)
{
    if (u->n_calls == u->cap_calls) {
        u->cap_calls = u->cap_calls != 0 ? u->cap_calls * 2 : 16;
        u->calls = cv_reallocarray(u->calls, u->cap_calls, sizeof *u->calls);
    }
    u->calls[u->n_calls++] = w;
}

static void waiter_free(struct waiter *w)
{
    for (size_t i = 0; i < w->n_dropped; i++) {
        cv_free(w->dropped[i]);
    }
    cv_free(w->dropped);
    w->dropped = NULL;
    w->n_dropped = 0;
}

/* {"Index", "Dropped": [...]}: the entry's index (0 when nothing was
 * written) and the updates dropped for allocations that no longer exist. */
static void reply_ok(struct waiter *w, uint64_t index)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, index);
    cv_jgen_key(g, "Dropped");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < w->n_dropped; i++) {
        cv_jgen_string(g, w->dropped[i]);
    }
    cv_jgen_array_end(g);
    cv_jgen_object_end(g);
    rpcj_reply_json(w->call, g);
}

static void reply_all(struct waiter *calls, size_t n, int status, const char *msg, uint64_t index)
{
    for (size_t i = 0; i < n; i++) {
        if (status != 0) {
            rpcj_reply_error(calls[i].call, status, msg);
        } else {
            reply_ok(&calls[i], index);
        }
        waiter_free(&calls[i]);
    }
}

static void on_batch_applied(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct batch *b = arg;
    if (status != 0) {
        reply_all(b->calls, b->n_calls, status, cv_strerror(status), 0);
    } else if (res->outcome != FSM_APPLIED) {
        reply_all(b->calls, b->n_calls, res->err.code != 0 ? res->err.code : CV_EINVAL,
                  res->err.msg, 0);
    } else {
        reply_all(b->calls, b->n_calls, 0, "", index);
    }
    cv_free(b->calls);
    cv_free(b);
}

static bool has_job(struct cv_evaluation **evals, size_t n, const char *job_id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(evals[i]->job_id, job_id) == 0) {
            return true;
        }
    }
    return false;
}

/* One evaluation per job whose wanted allocation the batch reports failed. */
static size_t failure_evals(struct alloc_updates *u, struct cv_evaluation ***out)
{
    struct state_snap *snap = state_snapshot(srv_state(u->srv));
    struct cv_evaluation **evals = NULL;
    size_t n = 0;
    int64_t now = wall_ns();
    for (size_t i = 0; i < u->n_allocs; i++) {
        const struct cv_allocation *a = u->allocs[i];
        if (strcmp(a->client_status, CV_ALLOC_CLIENT_FAILED) != 0) {
            continue;
        }
        const struct cv_allocation *stored = state_alloc(snap, a->id);
        const struct cv_job *job = stored != NULL ? state_job(snap, stored->job_id) : NULL;
        if (job == NULL || job->stop || strcmp(stored->desired_status, CV_ALLOC_DESIRED_RUN) != 0 ||
            has_job(evals, n, job->id)) {
            continue;
        }
        char id[CV_UUID_LEN + 1];
        cv_uuid_generate(id);
        struct cv_evaluation *e = cv_eval_new();
        cv_set_string(&e->id, id);
        cv_set_string(&e->namespace, job->namespace);
        e->priority = job->priority;
        cv_set_string(&e->type, job->type);
        cv_set_string(&e->triggered_by, CV_EVAL_TRIGGER_RETRY_FAILED_ALLOC);
        cv_set_string(&e->job_id, job->id);
        e->job_modify_index = job->job_modify_index;
        cv_set_string(&e->status, CV_EVAL_STATUS_PENDING);
        e->create_time = now;
        e->modify_time = now;
        evals = cv_reallocarray(evals, n + 1, sizeof *evals);
        evals[n++] = e;
    }
    state_snapshot_release(snap);
    *out = evals;
    return n;
}

static void clear_batch(struct alloc_updates *u)
{
    for (size_t i = 0; i < u->n_allocs; i++) {
        cv_alloc_free(u->allocs[i]);
    }
    u->n_allocs = 0;
    u->n_calls = 0;
}

static void flush(struct alloc_updates *u)
{
    if (u->timer_armed) {
        event_del(u->timer);
        u->timer_armed = false;
    }
    if (u->n_calls == 0) {
        return;
    }
    for (size_t i = 0; i < u->n_allocs; i++) {
        if (u->allocs[i]->modify_time == 0) {
            u->allocs[i]->modify_time = wall_ns();
        }
    }
    struct cv_evaluation **evals = NULL;
    size_t n_evals = failure_evals(u, &evals);
    struct batch *b = cv_calloc(1, sizeof *b);
    b->calls = cv_calloc(u->n_calls, sizeof *b->calls);
    memcpy(b->calls, u->calls, u->n_calls * sizeof *b->calls); /* the waiters move */
    b->n_calls = u->n_calls;

    struct cv_buf cmd;
    cv_buf_init(&cmd);
    struct cv_err err = {0};
    int rc = fsm_encode_alloc_client_update((const struct cv_allocation *const *)u->allocs,
                                            u->n_allocs, (const struct cv_evaluation *const *)evals,
                                            n_evals, &cmd, &err);
    if (rc == 0) {
        rc = srv_propose(u->srv, cmd.data, cmd.len, on_batch_applied, b, &err);
    }
    if (rc != 0) {
        reply_all(b->calls, b->n_calls, rc, err.msg, 0);
        cv_free(b->calls);
        cv_free(b);
    }
    cv_buf_free(&cmd);
    for (size_t i = 0; i < n_evals; i++) {
        cv_eval_free(evals[i]);
    }
    cv_free(evals);
    clear_batch(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct alloc_updates *u = arg;
    u->timer_armed = false;
    flush(u);
}

/* ---- the RPCs ----------------------------------------------------------------------- */

static void leader_update_alloc(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct alloc_updates *u = arg;
    if (!rpcj_require_active_leader(call, duties_active(u->duties))) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (doc == NULL) {
        return;
    }
    char msg[CV_ERR_MSG_MAX] = "";
    struct cv_allocation **allocs = NULL;
    size_t n = 0;
    int rc = decode_updates(doc, &allocs, &n, msg, sizeof msg);
    cv_json_doc_free(doc);
    bool *unknown = cv_calloc(n != 0 ? n : 1, sizeof *unknown);
    if (rc == 0) {
        rc = check_against_state(u, allocs, n, unknown, msg, sizeof msg);
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            cv_alloc_free(allocs[i]);
        }
        cv_free(allocs);
        cv_free(unknown);
        rpcj_reply_error(call, rc, msg);
        return;
    }
    struct waiter w = {.call = call};
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (unknown[i]) {
            w.dropped = cv_reallocarray(w.dropped, w.n_dropped + 1, sizeof *w.dropped);
            w.dropped[w.n_dropped++] = cv_strdup(allocs[i]->id);
            cv_alloc_free(allocs[i]);
        } else {
            add_to_batch(u, allocs[i]);
            kept++;
        }
    }
    cv_free(allocs);
    cv_free(unknown);
    if (kept == 0) {
        reply_ok(&w, 0); /* nothing to write */
        waiter_free(&w);
        return;
    }
    add_call(u, w);
    if (u->n_allocs >= ALLOC_UPDATES_BATCH_MAX) {
        flush(u);
    } else if (!u->timer_armed) {
        struct timeval tv = {0, ALLOC_UPDATES_BATCH_MS * 1000};
        event_add(u->timer, &tv);
        u->timer_armed = true;
    }
}

static void update_alloc(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct alloc_updates *u = arg;
    if (srv_is_leader(u->srv)) {
        leader_update_alloc(call, payload, len, arg);
    } else {
        srv_relay(u->srv, call, "Leader.Node.UpdateAlloc", payload, len);
    }
}

int alloc_updates_new(struct event_base *base, struct srv *srv, struct duties *duties,
                      struct alloc_updates **out, struct cv_err *err)
{
    struct alloc_updates *u = cv_calloc(1, sizeof *u);
    u->base = base;
    u->srv = srv;
    u->duties = duties;
    u->timer = evtimer_new(base, on_timer, u);
    struct rpc_server *rs = srv_rpc_server(srv);
    int rc = rpc_server_handle(rs, "Node.UpdateAlloc", update_alloc, u, err);
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Leader.Node.UpdateAlloc", leader_update_alloc, u, err);
    }
    if (rc != 0) {
        alloc_updates_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

void alloc_updates_free(struct alloc_updates *u)
{
    if (u == NULL) {
        return;
    }
    if (u->timer != NULL) {
        event_free(u->timer);
    }
    reply_all(u->calls, u->n_calls, CV_ESHUTDOWN, "the server is stopping", 0);
    clear_batch(u);
    cv_free(u->allocs);
    cv_free(u->calls);
    cv_free(u);
}
