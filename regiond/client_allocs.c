/*
 * client_allocs: the allocation watch of client agents (see
 * client_allocs.h).
 *
 * A blocking query reads the node's allocations; when nothing is newer than
 * the client's index it arms a state watch on the allocations table and a
 * timer. The watch callback runs on the committing thread and only wakes
 * the loop (event_active); the loop reads again, and either answers or
 * re-arms. The timer answers what there is. Waiting queries are kept in a
 * list so that shutdown can answer them.
 */
#include "regiond/client_allocs.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/random.h"
#include "common/rpc.h"
#include "regiond/rpc_json.h"
#include "regiond/state/state.h"

struct query
{
    struct client_allocs *owner;
    struct query *prev, *next;
    struct rpc_call *call;
    char node_id[CV_UUID_LEN + 1];
    uint64_t min_index;
    struct state_watch watch;
    bool watch_armed;
    struct event *wake_ev;
    struct event *timer_ev;
};

struct client_allocs
{
    struct event_base *base;
    struct srv *srv;
    struct query *waiting;
};

/* ---- Node.GetClientAllocs ---------------------------------------------------------- */

/* Writes the answer for node_id into g (when not NULL) and returns the
 * node's highest AllocModifyIndex (at least 1), or 0 when the node is
 * unknown. */
static uint64_t read_node_allocs(const struct state_snap *snap, const char *node_id,
                                 struct cv_jgen *g)
{
    if (state_node(snap, node_id) == NULL) {
        return 0;
    }
    uint64_t index = 1;
    if (g != NULL) {
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "Allocs");
        cv_jgen_object_begin(g);
    }
    struct state_iter it;
    state_iter_allocs_by_node(snap, node_id, &it);
    for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
        if (a->alloc_modify_index > index) {
            index = a->alloc_modify_index;
        }
        if (g != NULL) {
            cv_jgen_key(g, a->id);
            cv_jgen_uint(g, a->alloc_modify_index);
        }
    }
    if (g != NULL) {
        cv_jgen_object_end(g);
        cv_jgen_key(g, "Index");
        cv_jgen_uint(g, index);
        cv_jgen_object_end(g);
    }
    return index;
}

static void unlink_query(struct query *q)
{
    struct client_allocs *ca = q->owner;
    if (q->prev != NULL) {
        q->prev->next = q->next;
    } else if (ca->waiting == q) {
        ca->waiting = q->next;
    }
    if (q->next != NULL) {
        q->next->prev = q->prev;
    }
    q->prev = q->next = NULL;
}

static void query_free(struct query *q)
{
    if (q->watch_armed) {
        state_watch_remove(srv_state(q->owner->srv), &q->watch);
        q->watch_armed = false;
    }
    unlink_query(q);
    if (q->wake_ev != NULL) {
        event_free(q->wake_ev);
    }
    if (q->timer_ev != NULL) {
        event_free(q->timer_ev);
    }
    cv_free(q);
}

static void on_watch(void *arg, uint64_t index)
{
    (void)index;
    struct query *q = arg;
    event_active(q->wake_ev, EV_READ, 0);
}

static void run_query(struct query *q, bool final);

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct query *q = arg;
    if (!q->watch_armed) {
        return;
    }
    q->watch_armed = false;
    run_query(q, false);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct query *q = arg;
    if (q->watch_armed) {
        state_watch_remove(srv_state(q->owner->srv), &q->watch);
        q->watch_armed = false;
    }
    run_query(q, true);
}

/* Answers when there is something newer than the client's index (or when
 * final), otherwise waits for the next write to the allocations. */
static void run_query(struct query *q, bool final)
{
    struct state_store *st = srv_state(q->owner->srv);
    for (;;) {
        struct state_snap *snap = state_snapshot(st);
        uint64_t index = read_node_allocs(snap, q->node_id, NULL);
        uint64_t table = state_table_index(snap, STATE_ALLOCS);
        if (index == 0) {
            state_snapshot_release(snap);
            char msg[96];
            snprintf(msg, sizeof msg, "node %s is not registered", q->node_id);
            rpcj_reply_error(q->call, CV_ENOTFOUND, msg);
            query_free(q);
            return;
        }
        if (final || index > q->min_index) {
            struct cv_jgen *g = cv_jgen_new(false);
            read_node_allocs(snap, q->node_id, g);
            state_snapshot_release(snap);
            rpcj_reply_json(q->call, g);
            query_free(q);
            return;
        }
        state_snapshot_release(snap);
        if (state_watch_add(st, &q->watch, STATE_MASK(STATE_ALLOCS), table, on_watch, q)) {
            q->watch_armed = true;
            return;
        }
        /* A commit landed since the snapshot: read again. */
    }
}

static bool json_uint(const struct cv_json_doc *doc, const char *key, uint64_t *out, uint64_t dflt)
{
    const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), key);
    if (v == NULL) {
        *out = dflt;
        return true;
    }
    return v->type == CV_JSON_NUMBER && cv_json_uint64(v, out) == 0;
}

static void get_client_allocs(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct client_allocs *ca = arg;
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (doc == NULL) {
        return;
    }
    const char *node_id = rpcj_string(doc, "NodeID");
    uint64_t min_index = 0;
    uint64_t wait_ms = 0;
    bool ok = node_id != NULL && strlen(node_id) == CV_UUID_LEN &&
              json_uint(doc, "MinQueryIndex", &min_index, 0) &&
              json_uint(doc, "MaxQueryTimeMs", &wait_ms, CLIENT_ALLOCS_DEFAULT_WAIT_MS);
    if (!ok) {
        cv_json_doc_free(doc);
        rpcj_reply_error(call, CV_EINVAL,
                         "NodeID (a UUID) is required; MinQueryIndex and MaxQueryTimeMs are "
                         "non-negative integers");
        return;
    }
    if (wait_ms > CLIENT_ALLOCS_MAX_WAIT_MS) {
        wait_ms = CLIENT_ALLOCS_MAX_WAIT_MS;
    }
    struct query *q = cv_calloc(1, sizeof *q);
    q->owner = ca;
    q->call = call;
    snprintf(q->node_id, sizeof q->node_id, "%s", node_id);
    q->min_index = min_index;
    cv_json_doc_free(doc);
    q->wake_ev = event_new(ca->base, -1, 0, on_wake, q);
    q->timer_ev = event_new(ca->base, -1, 0, on_timeout, q);
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)((wait_ms % 1000) * 1000)};
    event_add(q->timer_ev, &tv);
    q->next = ca->waiting;
    if (ca->waiting != NULL) {
        ca->waiting->prev = q;
    }
    ca->waiting = q;
    run_query(q, wait_ms == 0);
}

/* ---- Alloc.GetAllocs ------------------------------------------------------------------ */

static void get_allocs(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct client_allocs *ca = arg;
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (doc == NULL) {
        return;
    }
    const struct cv_json *ids = cv_json_object_get(cv_json_doc_root(doc), "AllocIDs");
    bool ok = ids != NULL && ids->type == CV_JSON_ARRAY && ids->u.array.len > 0 &&
              ids->u.array.len <= CLIENT_ALLOCS_MAX_IDS;
    for (size_t i = 0; ok && i < ids->u.array.len; i++) {
        ok = ids->u.array.items[i]->type == CV_JSON_STRING;
    }
    if (!ok) {
        cv_json_doc_free(doc);
        char msg[128];
        snprintf(msg, sizeof msg, "AllocIDs: an array of 1 to %d allocation IDs is required",
                 CLIENT_ALLOCS_MAX_IDS);
        rpcj_reply_error(call, CV_EINVAL, msg);
        return;
    }
    struct state_snap *snap = state_snapshot(srv_state(ca->srv));
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Allocs");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < ids->u.array.len; i++) {
        const struct cv_allocation *a = state_alloc(snap, ids->u.array.items[i]->u.string.ptr);
        if (a != NULL) {
            cv_alloc_encode(a, g);
        }
    }
    cv_jgen_array_end(g);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, state_table_index(snap, STATE_ALLOCS));
    cv_jgen_object_end(g);
    state_snapshot_release(snap);
    cv_json_doc_free(doc);
    rpcj_reply_json(call, g);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int client_allocs_new(struct event_base *base, struct srv *srv, struct client_allocs **out,
                      struct cv_err *err)
{
    struct client_allocs *ca = cv_calloc(1, sizeof *ca);
    ca->base = base;
    ca->srv = srv;
    struct rpc_server *rs = srv_rpc_server(srv);
    int rc = rpc_server_handle(rs, "Node.GetClientAllocs", get_client_allocs, ca, err);
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Alloc.GetAllocs", get_allocs, ca, err);
    }
    if (rc != 0) {
        cv_free(ca);
        return rc;
    }
    *out = ca;
    return 0;
}

void client_allocs_free(struct client_allocs *ca)
{
    if (ca == NULL) {
        return;
    }
    while (ca->waiting != NULL) {
        struct query *q = ca->waiting;
        if (q->watch_armed) {
            state_watch_remove(srv_state(ca->srv), &q->watch);
            q->watch_armed = false;
        }
        run_query(q, true); /* answers and frees q */
    }
    cv_free(ca);
}
