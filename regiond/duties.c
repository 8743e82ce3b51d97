/*
 * duties: the leader's eval broker, heartbeat timers and node RPCs
 * (see duties.h).
 *
 * Everything is driven by one 50 ms timer on the loop: it notices
 * leadership changes, feeds the broker the evaluations written since the
 * last look (by their ModifyIndex), runs the broker's and the heartbeats'
 * timers, and writes back what they decided (nodes down, evaluations failed
 * or canceled) as Raft entries.
 *
 * The node RPCs exist twice: "Node.Register" / "Node.UpdateStatus", which
 * any server takes and a follower relays to the leader as
 * "Leader.Node.Register" / "Leader.Node.UpdateStatus", which are answered
 * only by an active leader and never relayed again (so a relay cannot loop
 * while servers disagree on the leader).
 */
#include "regiond/duties.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/random.h"
#include "common/rpc.h"
#include "regiond/fsm.h"
#include "regiond/rpc_json.h"
#include "regiond/state/state.h"

#define DUTIES_UNBLOCK_FAILED_NS (60ull * CV_NSEC_PER_SEC)
#define TICK_MS                  50
#define DRAIN_BATCH              64

struct duties
{
    struct event_base *base;
    struct srv *srv;
    struct duties_config cfg;
    struct broker *broker;
    struct hb *hb;
    struct event *tick_ev;
    bool active;
    bool scan_evals;                 /* an entry wrote evaluations the apply hook did not name */
    uint64_t nodes_seen;             /* nodes with ModifyIndex <= this were looked at */
    uint64_t next_unblock_failed_ns; /* when evaluations out of plan attempts run again */
};

static uint64_t now_ns(void)
{
    return cv_clock_monotonic_ns(cv_clock_system());
}

static uint64_t random_cb(void *ctx)
{
    (void)ctx;
    return cv_random_u64();
}

void duties_config_default(struct duties_config *cfg)
{
    hb_config_default(&cfg->heartbeat);
    broker_config_default(&cfg->broker);
}

bool duties_active(const struct duties *d)
{
    return d->active;
}

struct broker *duties_broker(struct duties *d)
{
    return d->broker;
}

/* ---- writing decisions back -------------------------------------------------- */

static void on_written(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    const char *what = arg;
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        cv_log(CV_LOG_WARN, "leader", "a leader write did not apply",
               "what=%s status=%d error=\"%s\"", what, status,
               res ? res->err.msg : cv_strerror(status));
        return;
    }
    (void)index;
}

static void propose_buf(struct duties *d, struct cv_buf *cmd, const char *what)
{
    struct cv_err err = {0};
    if (srv_propose(d->srv, cmd->data, cmd->len, on_written, (void *)what, &err) != 0) {
        cv_log(CV_LOG_WARN, "leader", "cannot propose", "what=%s error=\"%s\"", what, err.msg);
    }
}

/* Writes the evaluations the broker gave up on (failed) or superseded
 * (canceled) back to the state with that status. */
static void write_back(struct duties *d, bool failed)
{
    struct broker_eval_list list;
    broker_eval_list_init(&list);
    size_t n = failed ? broker_drain_failed(d->broker, DRAIN_BATCH, &list)
                      : broker_drain_cancelable(d->broker, DRAIN_BATCH, &list);
    if (n == 0) {
        broker_eval_list_free(&list);
        return;
    }
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    struct cv_evaluation **evals = cv_calloc(n, sizeof *evals);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cv_evaluation *stored = state_eval(snap, list.items[i]->id);
        if (!stored) {
            continue;
        }
        struct cv_evaluation *e = cv_eval_copy(stored);
        cv_set_string(&e->status, failed ? CV_EVAL_STATUS_FAILED : CV_EVAL_STATUS_CANCELED);
        cv_set_string(&e->status_description,
                      failed ? "evaluation reached its delivery limit"
                             : "canceled after a newer evaluation of the job completed");
        evals[m++] = e;
    }
    state_snapshot_release(snap);
    if (m > 0) {
        struct cv_buf cmd;
        cv_buf_init(&cmd);
        if (fsm_encode_eval_update((const struct cv_evaluation *const *)evals, m, &cmd, NULL) ==
            0) {
            propose_buf(d, &cmd, failed ? "evals failed" : "evals canceled");
        }
        cv_buf_free(&cmd);
    }
    for (size_t i = 0; i < m; i++) {
        cv_eval_free(evals[i]);
    }
    cv_free(evals);
    broker_eval_list_free(&list);
}

/* A node past its TTL: down, with an evaluation per affected job, and its
 * allocations lost. */
static void mark_down(struct duties *d, const char *node_id)
{
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    const struct cv_node *node = state_node(snap, node_id);
    if (!node || strcmp(node->status, CV_NODE_STATUS_DOWN) == 0) {
        state_snapshot_release(snap);
        return;
    }
    size_t cap = 16, n_allocs = 0, n_evals = 0;
    struct cv_allocation **lost = cv_calloc(cap, sizeof *lost);
    struct cv_evaluation **evals = cv_calloc(cap, sizeof *evals);
    int64_t wall = cv_clock_wall_ns(cv_clock_system());
    struct state_iter it;
    state_iter_allocs_by_node(snap, node_id, &it);
    for (const struct cv_allocation *a; (a = state_iter_next(&it));) {
        if (cv_alloc_client_terminal(a->client_status) ||
            strcmp(a->desired_status, CV_ALLOC_DESIRED_RUN) != 0) {
            continue;
        }
        if (n_allocs == cap || n_evals == cap) {
            cap *= 2;
            lost = cv_reallocarray(lost, cap, sizeof *lost);
            evals = cv_reallocarray(evals, cap, sizeof *evals);
        }
        struct cv_allocation *u = cv_alloc_copy(a);
        cv_set_string(&u->client_status, CV_ALLOC_CLIENT_LOST);
        cv_set_string(&u->client_description, "alloc is lost since its node is down");
        lost[n_allocs++] = u;
        bool seen = false;
        for (size_t i = 0; i < n_evals && !seen; i++) {
            seen = strcmp(evals[i]->job_id, a->job_id) == 0;
        }
        const struct cv_job *job = state_job(snap, a->job_id);
        if (seen || !job) {
            continue;
        }
        struct cv_evaluation *e = cv_eval_new();
        char id[CV_UUID_LEN + 1];
        cv_uuid_generate(id);
        cv_set_string(&e->id, id);
        cv_set_string(&e->namespace, "default");
        e->priority = job->priority;
        cv_set_string(&e->type, job->type);
        cv_set_string(&e->triggered_by, "node-update");
        cv_set_string(&e->job_id, job->id);
        cv_set_string(&e->node_id, node_id);
        e->node_modify_index = node->modify_index;
        cv_set_string(&e->status, CV_EVAL_STATUS_PENDING);
        e->create_time = wall;
        e->modify_time = wall;
        evals[n_evals++] = e;
    }
    state_snapshot_release(snap);

    cv_log(CV_LOG_WARN, "leader", "node missed its heartbeat: marking it down",
           "node=%s allocs_lost=%zu evals=%zu", node_id, n_allocs, n_evals);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    if (fsm_encode_node_status(node_id, CV_NODE_STATUS_DOWN, wall / CV_NSEC_PER_SEC,
                               (const struct cv_evaluation *const *)evals, n_evals, &cmd,
                               NULL) == 0) {
        propose_buf(d, &cmd, "node down");
    }
    if (n_allocs > 0) {
        cv_buf_reset(&cmd);
        if (fsm_encode_alloc_client_update((const struct cv_allocation *const *)lost, n_allocs,
                                           NULL, 0, &cmd, NULL) == 0) {
            propose_buf(d, &cmd, "allocs lost");
        }
    }
    cv_buf_free(&cmd);
    for (size_t i = 0; i < n_allocs; i++) {
        cv_alloc_free(lost[i]);
    }
    for (size_t i = 0; i < n_evals; i++) {
        cv_eval_free(evals[i]);
    }
    cv_free(lost);
    cv_free(evals);
}

/* ---- feeding the broker -------------------------------------------------------- */

static void feed_one(struct duties *d, const struct cv_evaluation *e, bool blocked, uint64_t now)
{
    struct broker_eval be;
    broker_eval_from_cv(e, &be);
    if (blocked) {
        enum broker_block_outcome outcome;
        if (!broker_is_blocked(d->broker, e->id)) {
            broker_block(d->broker, &be, NULL, now, &outcome);
        }
    } else {
        broker_enqueue(d->broker, &be, now); /* CV_EEXIST: already tracked */
    }
}

static void feed(struct duties *d, struct state_snap *snap, const char *status, uint64_t now)
{
    struct state_iter it;
    state_iter_evals_by_status(snap, status, &it);
    bool blocked = strcmp(status, CV_EVAL_STATUS_BLOCKED) == 0;
    for (const struct cv_evaluation *e; (e = state_iter_next(&it));) {
        feed_one(d, e, blocked, now);
    }
}

/* Nodes that became ready and eligible (registered, back up, made
 * eligible) since the last look are new capacity: blocked evaluations of
 * their class, or tied to them, are queued again. */
static void unblock_for_nodes(struct duties *d, struct state_snap *snap, uint64_t now)
{
    uint64_t index = state_table_index(snap, STATE_NODES);
    if (index <= d->nodes_seen) {
        return;
    }
    struct state_iter it;
    state_iter_nodes(snap, NULL, &it);
    for (const struct cv_node *node; (node = state_iter_next(&it));) {
        if (node->modify_index <= d->nodes_seen ||
            strcmp(node->status, CV_NODE_STATUS_READY) != 0 ||
            strcmp(node->scheduling_eligibility, "eligible") != 0) {
            continue;
        }
        broker_unblock_node(d->broker, node->id, now);
        broker_unblock_class(d->broker, node->computed_class, node->modify_index, now);
    }
    d->nodes_seen = index;
}

/* A full look at the pending and blocked evaluations: when leadership
 * starts, and after entries that wrote evaluations the apply hook could not
 * name one by one. */
static void feed_broker(struct duties *d, uint64_t now)
{
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    if (d->scan_evals) {
        d->scan_evals = false;
        feed(d, snap, CV_EVAL_STATUS_PENDING, now);
        feed(d, snap, CV_EVAL_STATUS_BLOCKED, now);
    }
    unblock_for_nodes(d, snap, now);
    state_snapshot_release(snap);
}

/* Allocations stopped running on some nodes: their capacity is free again,
 * so the blocked evaluations of those nodes' classes may fit now. */
static void unblock_freed(struct duties *d, uint64_t index, const struct fsm_result *res)
{
    if (res->n_freed_nodes == 0 && !res->freed_overflow) {
        return;
    }
    uint64_t now = now_ns();
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    for (size_t i = 0; i < res->n_freed_nodes; i++) {
        const struct cv_node *node = state_node(snap, res->freed_nodes[i]);
        if (node) {
            broker_unblock_node(d->broker, node->id, now);
            broker_unblock_class(d->broker, node->computed_class, index, now);
        }
    }
    if (res->freed_overflow) {
        /* Too many nodes to list: every class may have room now. */
        struct state_iter it;
        state_iter_nodes(snap, NULL, &it);
        for (const struct cv_node *node; (node = state_iter_next(&it));) {
            broker_unblock_class(d->broker, node->computed_class, index, now);
        }
    }
    state_snapshot_release(snap);
}

/* After each applied command: the evaluation a job register, deregister or
 * plan names goes to the broker at once (the hot path: one lookup); other
 * commands that write evaluations ask for a full look on the next tick. */
static void on_applied(void *arg, uint64_t index, const struct fsm_result *res)
{
    (void)index;
    struct duties *d = arg;
    if (!d->active || res->outcome != FSM_APPLIED) {
        return;
    }
    switch (res->type) {
    case FSM_JOB_REGISTER:
    case FSM_JOB_DEREGISTER:
    case FSM_PLAN_APPLY:
        if (res->eval_id[0]) {
            struct state_snap *snap = state_snapshot(srv_state(d->srv));
            const struct cv_evaluation *e = state_eval(snap, res->eval_id);
            if (e && strcmp(e->status, CV_EVAL_STATUS_PENDING) == 0) {
                feed_one(d, e, false, now_ns());
            } else if (e && strcmp(e->status, CV_EVAL_STATUS_BLOCKED) == 0) {
                feed_one(d, e, true, now_ns());
            }
            state_snapshot_release(snap);
        }
        break;
    case FSM_NODE_STATUS:
    case FSM_EVAL_UPDATE:
    case FSM_ALLOC_CLIENT_UPDATE:
        d->scan_evals = true;
        break;
    default:
        break;
    }
    unblock_freed(d, index, res);
}

/* ---- leadership ------------------------------------------------------------------ */

/* Leading, with an entry of this term committed: the state is current. */
static bool should_lead(const struct duties *d)
{
    const struct raft *r = srv_raft(d->srv);
    return srv_is_leader(d->srv) && raft_term_at(r, raft_commit_index(r)) == raft_current_term(r);
}

static void establish(struct duties *d, uint64_t now)
{
    d->active = true;
    d->scan_evals = true;
    d->nodes_seen = 0;
    broker_set_enabled(d->broker, true);
    feed_broker(d, now);
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    size_t cap = 64, n = 0;
    const char **ids = cv_calloc(cap, sizeof *ids);
    struct state_iter it;
    state_iter_nodes(snap, NULL, &it);
    for (const struct cv_node *node; (node = state_iter_next(&it));) {
        if (strcmp(node->status, CV_NODE_STATUS_DOWN) == 0) {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            ids = cv_reallocarray(ids, cap, sizeof *ids);
        }
        ids[n++] = node->id;
    }
    hb_initialize(d->hb, ids, n, now);
    cv_free(ids);
    state_snapshot_release(snap);
    cv_log(CV_LOG_INFO, "leader", "leader duties started", "nodes=%zu", n);
}

static void revoke(struct duties *d)
{
    d->active = false;
    size_t nodes = hb_count(d->hb);
    broker_set_enabled(d->broker, false);
    hb_stop(d->hb);
    cv_log(CV_LOG_INFO, "leader", "leader duties stopped", "nodes=%zu", nodes);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct duties *d = arg;
    uint64_t now = now_ns();
    bool lead = should_lead(d);
    if (lead && !d->active) {
        establish(d, now);
    } else if (!lead && d->active) {
        revoke(d);
    }
    if (!d->active) {
        return;
    }
    feed_broker(d, now);
    broker_tick(d->broker, now);
    /* Evaluations that ran out of plan attempts (blocked, "max-plan-attempts")
     * wait for no capacity change: they are queued again every minute, as
     * Nomad's failedEvalUnblockInterval. */
    if (d->next_unblock_failed_ns == 0) {
        d->next_unblock_failed_ns = now + DUTIES_UNBLOCK_FAILED_NS;
    } else if (now >= d->next_unblock_failed_ns) {
        broker_unblock_failed(d->broker, now);
        d->next_unblock_failed_ns = now + DUTIES_UNBLOCK_FAILED_NS;
    }
    struct hb_node_list expired;
    hb_node_list_init(&expired);
    hb_tick(d->hb, now, &expired);
    for (size_t i = 0; i < expired.len; i++) {
        mark_down(d, expired.ids[i]);
    }
    hb_node_list_free(&expired);
    write_back(d, true);
    write_back(d, false);
}

/* ---- node RPCs ------------------------------------------------------------------- */

static void reply_ttl(struct duties *d, struct rpc_call *call, uint64_t index, uint64_t ttl_ns)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "HeartbeatTTL");
    cv_jgen_uint(g, ttl_ns);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, index);
    cv_jgen_key(g, "LeaderRPCAddr");
    cv_jgen_string(g, srv_leader_addr(d->srv));
    cv_jgen_key(g, "NumNodes");
    cv_jgen_uint(g, hb_count(d->hb));
    cv_jgen_object_end(g);
    rpcj_reply_json(call, g);
}

struct pending_call
{
    struct duties *d;
    struct rpc_call *call;
    char node_id[CV_UUID_LEN + 1];
};

static void on_node_written(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct pending_call *p = arg;
    if (status != 0) {
        rpcj_reply_error(p->call, status, cv_strerror(status));
    } else if (res->outcome != FSM_APPLIED) {
        rpcj_reply_error(p->call, res->err.code ? res->err.code : CV_EINVAL, res->err.msg);
    } else {
        uint64_t ttl = 0;
        struct state_snap *snap = state_snapshot(srv_state(p->d->srv));
        const struct cv_node *node = state_node(snap, p->node_id);
        bool down = node && strcmp(node->status, CV_NODE_STATUS_DOWN) == 0;
        state_snapshot_release(snap);
        if (down) {
            hb_clear(p->d->hb, p->node_id);
        } else {
            hb_reset(p->d->hb, p->node_id, now_ns(), &ttl, NULL);
        }
        reply_ttl(p->d, p->call, index, ttl);
    }
    cv_free(p);
}

static void propose_for_call(struct duties *d, struct rpc_call *call, const char *node_id,
                             struct cv_buf *cmd)
{
    struct pending_call *p = cv_calloc(1, sizeof *p);
    p->d = d;
    p->call = call;
    snprintf(p->node_id, sizeof p->node_id, "%s", node_id);
    struct cv_err err = {0};
    if (srv_propose(d->srv, cmd->data, cmd->len, on_node_written, p, &err) != 0) {
        cv_free(p);
        rpcj_reply_error(call, err.code, err.msg);
    }
}

static void leader_register(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct duties *d = arg;
    if (!rpcj_require_active_leader(call, d->active)) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), "Node");
    if (!v) {
        cv_json_doc_free(doc);
        rpcj_reply_error(call, CV_EINVAL, "Node: required");
        return;
    }
    struct cv_node *node = NULL;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    int rc = cv_node_decode(v, &node, &errs);
    cv_json_doc_free(doc);
    if (rc != 0) {
        char msg[CV_ERR_MSG_MAX];
        cv_errlist_format(&errs, 0, msg, sizeof msg);
        cv_errlist_free(&errs);
        rpcj_reply_error(call, CV_EVALIDATE, msg);
        return;
    }
    cv_errlist_free(&errs);
    /* The leader's hash, whatever the client sent: every server and every
     * scheduler must see one class per kind of node. */
    cv_node_compute_class(node);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    struct cv_err err = {0};
    if (fsm_encode_node_register(node, &cmd, &err) != 0) {
        rpcj_reply_error(call, err.code, err.msg);
    } else {
        propose_for_call(d, call, node->id, &cmd);
    }
    cv_buf_free(&cmd);
    cv_node_free(node);
}

static bool status_valid(const char *s)
{
    return strcmp(s, CV_NODE_STATUS_INITIALIZING) == 0 || strcmp(s, CV_NODE_STATUS_READY) == 0 ||
           strcmp(s, CV_NODE_STATUS_DOWN) == 0 || strcmp(s, CV_NODE_STATUS_DISCONNECTED) == 0;
}

static void leader_update_status(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct duties *d = arg;
    if (!rpcj_require_active_leader(call, d->active)) {
        return;
    }
    struct cv_json_doc *doc = rpcj_parse_object(call, payload, len);
    if (!doc) {
        return;
    }
    const char *id = rpcj_string(doc, "NodeID");
    const char *status = rpcj_string(doc, "Status");
    char msg[CV_ERR_MSG_MAX];
    if (!id || !status || !status_valid(status)) {
        snprintf(msg, sizeof msg,
                 "NodeID and Status (initializing, ready, down or disconnected) are required");
        cv_json_doc_free(doc);
        rpcj_reply_error(call, CV_EINVAL, msg);
        return;
    }
    struct state_snap *snap = state_snapshot(srv_state(d->srv));
    const struct cv_node *node = state_node(snap, id);
    bool same = node && strcmp(node->status, status) == 0;
    bool known = node != NULL;
    uint64_t index = state_snap_index(snap);
    state_snapshot_release(snap);
    if (!known) {
        snprintf(msg, sizeof msg, "node %s is not registered", id);
        cv_json_doc_free(doc);
        rpcj_reply_error(call, CV_ENOTFOUND, msg);
        return;
    }
    if (same && strcmp(status, CV_NODE_STATUS_DOWN) != 0) {
        /* A heartbeat: the leader's timer only, no Raft write. */
        uint64_t ttl = 0;
        hb_reset(d->hb, id, now_ns(), &ttl, NULL);
        cv_json_doc_free(doc);
        reply_ttl(d, call, index, ttl);
        return;
    }
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    struct cv_err err = {0};
    int64_t wall = cv_clock_wall_ns(cv_clock_system());
    if (fsm_encode_node_status(id, status, wall / CV_NSEC_PER_SEC, NULL, 0, &cmd, &err) != 0) {
        rpcj_reply_error(call, err.code, err.msg);
    } else {
        propose_for_call(d, call, id, &cmd);
    }
    cv_buf_free(&cmd);
    cv_json_doc_free(doc);
}

static void node_register(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct duties *d = arg;
    if (srv_is_leader(d->srv)) {
        leader_register(call, payload, len, arg);
    } else {
        srv_relay(d->srv, call, "Leader.Node.Register", payload, len);
    }
}

static void node_update_status(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct duties *d = arg;
    if (srv_is_leader(d->srv)) {
        leader_update_status(call, payload, len, arg);
    } else {
        srv_relay(d->srv, call, "Leader.Node.UpdateStatus", payload, len);
    }
}

/* ---- lifecycle --------------------------------------------------------------------- */

int duties_new(struct event_base *base, struct srv *srv, const struct duties_config *cfg,
               struct duties **out, struct cv_err *err)
{
    struct duties *d = cv_calloc(1, sizeof *d);
    d->base = base;
    d->srv = srv;
    d->cfg = *cfg;
    d->cfg.heartbeat.random = random_cb;
    d->cfg.broker.random = random_cb;
    int rc = hb_new(&d->cfg.heartbeat, &d->hb, err);
    if (rc == 0) {
        rc = broker_new(&d->cfg.broker, &d->broker, err);
    }
    struct rpc_server *rs = srv_rpc_server(srv);
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Node.Register", node_register, d, err);
    }
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Node.UpdateStatus", node_update_status, d, err);
    }
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Leader.Node.Register", leader_register, d, err);
    }
    if (rc == 0) {
        rc = rpc_server_handle(rs, "Leader.Node.UpdateStatus", leader_update_status, d, err);
    }
    if (rc != 0) {
        duties_free(d);
        return rc;
    }
    srv_set_apply_hook(srv, on_applied, d);
    d->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, d);
    struct timeval every = {0, TICK_MS * 1000};
    event_add(d->tick_ev, &every);
    *out = d;
    return 0;
}

void duties_free(struct duties *d)
{
    if (!d) {
        return;
    }
    if (d->tick_ev) {
        event_free(d->tick_ev);
    }
    srv_set_apply_hook(d->srv, NULL, NULL);
    broker_free(d->broker);
    hb_free(d->hb);
    cv_free(d);
}
