/*
 * agent: lifecycle, registration, heartbeats and server failover (agent.h).
 *
 * One timer (hb_ev) drives both registration and heartbeats: while the node
 * is not registered it fires Node.Register, afterwards Node.UpdateStatus.
 * At most one of them is in flight. A failure (error or timeout) moves the
 * agent to the next server and retries after a backoff with jitter (250 ms
 * doubling to 10 s while registering; heartbeats retry within 250 ms to 2 s
 * so a few failovers still fit in the TTL). A heartbeat answered
 * CV_ENOTFOUND means the servers lost the node (a new cluster, its state
 * wiped): the agent registers again at once.
 */
#include "nodeagent/agent_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rpc.h"
#include "nodeagent/fingerprint.h"

#define HEARTBEAT_RETRY_MAX_MS 2000

uint64_t agent_now_ns(const struct agent *a)
{
    return cv_clock_monotonic_ns(a->clock);
}

void agent_timer_ms(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_del(ev);
    evtimer_add(ev, &tv);
}

int agent_backoff_next(int *ms, int max_ms)
{
    int cur = *ms < AGENT_BACKOFF_MIN_MS ? AGENT_BACKOFF_MIN_MS : *ms;
    if (cur > max_ms) {
        cur = max_ms;
    }
    *ms = cur * 2 > max_ms ? max_ms : cur * 2;
    int jitter = (int)(cv_random_u64() % (uint64_t)(cur / 4 + 1));
    return cur - cur / 8 + jitter;
}

const char *agent_server_addr(const struct agent *a)
{
    return a->cfg->servers[a->server % a->cfg->n_servers];
}

void agent_server_failed(struct agent *a, const char *addr, const char *what, const char *msg)
{
    if (a->freeing) {
        return;
    }
    cv_log(CV_LOG_WARN, "agent", "server call failed", "call=%s server=%s err=\"%s\"", what, addr,
           msg);
    if (strcmp(addr, agent_server_addr(a)) == 0 && a->cfg->n_servers > 1) {
        a->server = (a->server + 1) % a->cfg->n_servers;
        cv_log(CV_LOG_INFO, "agent", "failing over", "server=%s", agent_server_addr(a));
    }
}

const char *agent_node_id(const struct agent *a)
{
    return a->node->id;
}

/* ---- registration and heartbeats ------------------------------------------------ */

static void schedule_heartbeat(struct agent *a, uint64_t ttl_ns)
{
    int ms = ttl_ns ? (int)(ttl_ns / 2 / (uint64_t)CV_NSEC_PER_MSEC) : AGENT_HEARTBEAT_DFLT_MS;
    if (ms < AGENT_HEARTBEAT_MIN_MS) {
        ms = AGENT_HEARTBEAT_MIN_MS;
    }
    agent_timer_ms(a->hb_ev, ms);
}

/* The TTL of a Node.Register or Node.UpdateStatus answer, 0 when absent. */
static uint64_t answer_ttl(const struct rpc_result *res)
{
    struct cv_json_doc *doc = NULL;
    uint64_t ttl = 0;
    if (cv_json_parse(res->payload, res->len, NULL, &doc, NULL) == 0) {
        const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), "HeartbeatTTL");
        if (v && v->type == CV_JSON_NUMBER && cv_json_uint64(v, &ttl) != 0) {
            ttl = 0;
        }
        cv_json_doc_free(doc);
    }
    return ttl;
}

struct hb_call
{
    struct agent *a;
    bool is_register;
    char addr[RPC_ADDR_MAX];
};

static void on_hb_answer(const struct rpc_result *res, void *arg)
{
    struct hb_call *c = arg;
    struct agent *a = c->a;
    a->hb_inflight = false;
    if (a->freeing || a->stopping) {
        cv_free(c);
        return;
    }
    const char *what = c->is_register ? "Node.Register" : "Node.UpdateStatus";
    if (res->status == 0) {
        a->ttl_ns = answer_ttl(res);
        a->hb_backoff_ms = 0;
        if (c->is_register) {
            cv_log(CV_LOG_INFO, "agent", "registered", "node=%s server=%s ttl_ms=%llu", a->node->id,
                   c->addr, (unsigned long long)(a->ttl_ns / CV_NSEC_PER_MSEC));
            a->registered = true;
            agent_watch_start(a);
        }
        schedule_heartbeat(a, a->ttl_ns);
    } else if (!c->is_register && res->status == CV_ENOTFOUND) {
        cv_log(CV_LOG_WARN, "agent", "the servers do not know this node: registering again",
               "server=%s", c->addr);
        a->registered = false;
        /* A new cluster's indexes start over: a MinQueryIndex from the old
         * one would hold the watch for its whole wait. */
        a->watch_index = 0;
        agent_timer_ms(a->hb_ev, 0);
    } else {
        agent_server_failed(a, c->addr, what, res->err_msg);
        int ms = agent_backoff_next(&a->hb_backoff_ms,
                                    a->registered ? HEARTBEAT_RETRY_MAX_MS : AGENT_BACKOFF_MAX_MS);
        agent_timer_ms(a->hb_ev, ms);
    }
    cv_free(c);
}

static void on_hb_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent *a = arg;
    if (a->hb_inflight || a->stopping) {
        return;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    if (a->registered) {
        cv_jgen_key(g, "NodeID");
        cv_jgen_string(g, a->node->id);
        cv_jgen_key(g, "Status");
        cv_jgen_string(g, CV_NODE_STATUS_READY);
    } else {
        cv_jgen_key(g, "Node");
        cv_node_encode(a->node, g);
    }
    cv_jgen_object_end(g);
    const char *body = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    struct hb_call *c = cv_calloc(1, sizeof *c);
    c->a = a;
    c->is_register = !a->registered;
    snprintf(c->addr, sizeof c->addr, "%s", agent_server_addr(a));
    const char *method = c->is_register ? "Node.Register" : "Node.UpdateStatus";
    int rc = cv_jgen_finish(g, &body, &len, &err);
    if (rc == 0) {
        rc = rpc_call(a->pool, c->addr, method, body, len, AGENT_RPC_TIMEOUT_MS, on_hb_answer, c,
                      &err);
    }
    cv_jgen_free(g);
    if (rc != 0) {
        agent_server_failed(a, c->addr, method, err.msg);
        cv_free(c);
        agent_timer_ms(a->hb_ev, agent_backoff_next(&a->hb_backoff_ms, AGENT_BACKOFF_MAX_MS));
        return;
    }
    a->hb_inflight = true;
}

/* ---- lifecycle ------------------------------------------------------------------- */

int agent_new(struct event_base *base, const struct agent_config *cfg, const struct cv_clock *clock,
              struct agent **out, struct cv_err *err)
{
    return agent_new_with(base, cfg, clock, NULL, out, err);
}

int agent_new_with(struct event_base *base, const struct agent_config *cfg,
                   const struct cv_clock *clock, const struct agent_options *opts,
                   struct agent **out, struct cv_err *err)
{
    *out = NULL;
    struct agent *a = cv_calloc(1, sizeof *a);
    a->base = base;
    a->cfg = cfg;
    a->clock = clock ? clock : cv_clock_system();
    int rc = agent_fingerprint(cfg, a->clock, &a->node, err);
    if (rc == 0 && opts && opts->pool) {
        a->pool = opts->pool;
    } else if (rc == 0) {
        rc = rpc_pool_new(base, NULL, &a->pool, err);
        a->own_pool = rc == 0;
    }
    if (rc == 0) {
        a->hb_ev = evtimer_new(base, on_hb_timer, a);
        rc = agent_updates_init(a, err);
    }
    if (rc == 0) {
        rc = agent_watch_init(a, err);
    }
    if (rc == 0) {
        rc = agent_http_start(a, err);
    }
    if (rc != 0) {
        agent_free(a);
        return rc;
    }
    cv_log(CV_LOG_INFO, "agent", "fingerprinted", "node=%s name=%s dc=%s cores=%s compute_mhz=%s",
           a->node->id, a->node->name, a->node->datacenter,
           cv_strmap_get(&a->node->attributes, "cpu.numcores"),
           cv_strmap_get(&a->node->attributes, "cpu.totalcompute"));
    /* Reattach before talking to anyone: a task must never start twice. */
    agent_watch_recover(a);
    int delay = 0;
    if (opts && opts->start_jitter_ms > 0) {
        delay = (int)(cv_random_u64() % (uint64_t)opts->start_jitter_ms);
    }
    agent_timer_ms(a->hb_ev, delay);
    *out = a;
    return 0;
}

void agent_detach(struct agent *a)
{
    a->freeing = true;
}

static void finish_stop(struct agent *a)
{
    void (*done)(void *) = a->done;
    a->done = NULL;
    evtimer_del(a->stop_ev);
    if (done) {
        done(a->done_arg);
    }
}

static void on_stop_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent *a = arg;
    if (agent_updates_idle(a) || agent_now_ns(a) >= a->shutdown_deadline_ns) {
        if (!agent_updates_idle(a)) {
            cv_log(CV_LOG_WARN, "agent", "stopping with updates unsent", "queued=%zu inflight=%zu",
                   a->queue.len, a->inflight.len);
        }
        finish_stop(a);
        return;
    }
    agent_timer_ms(a->stop_ev, 50);
}

void agent_shutdown(struct agent *a, int timeout_ms, void (*done)(void *arg), void *arg)
{
    a->stopping = true;
    a->done = done;
    a->done_arg = arg;
    evtimer_del(a->hb_ev);
    evtimer_del(a->watch_ev);
    a->shutdown_deadline_ns = agent_now_ns(a) + (uint64_t)timeout_ms * CV_NSEC_PER_MSEC;
    a->stop_ev = evtimer_new(a->base, on_stop_check, a);
    agent_timer_ms(a->stop_ev, 0);
}

void agent_free(struct agent *a)
{
    if (!a) {
        return;
    }
    a->freeing = true;
    /* Pending calls fail with CV_ESHUTDOWN inside this; their callbacks see
     * `freeing` and only free what they hold. A shared pool was freed
     * before (agent_detach). */
    if (a->own_pool) {
        rpc_pool_free(a->pool);
    }
    agent_http_free(a);
    agent_watch_free(a);
    agent_updates_free(a);
    if (a->hb_ev) {
        event_free(a->hb_ev);
    }
    if (a->stop_ev) {
        event_free(a->stop_ev);
    }
    cv_node_free(a->node);
    cv_free(a);
}
