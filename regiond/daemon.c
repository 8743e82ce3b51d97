/*
 * daemon: the server core and the HTTP API bridged on one loop (daemon.h).
 */
#include "regiond/daemon.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rpc.h"
#include "regiond/duties.h"
#include "regiond/http.h"
#include "regiond/http_fwd.h"
#include "regiond/alloc_updates.h"
#include "regiond/client_allocs.h"
#include "regiond/sched_workers.h"
#include "regiond/workers.h"
#include "regiond/server.h"

struct daemon
{
    struct event_base *base;
    const struct rcfg *cfg;
    struct srv *srv;
    struct duties *duties;
    struct workers *workers;
    struct alloc_updates *alloc_updates;
    struct client_allocs *client_allocs;
    struct sched_workers *schedulers; /* NULL when num_schedulers is 0 */
    struct http_server *http;
    char rpc_addr[RPC_ADDR_MAX];

    struct event *shutdown_ev;
    uint64_t shutdown_deadline_ms;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

/* ---- configuration -> server core --------------------------------------------- */

/* "host:port" with host resolved to a numeric address (the RPC layer dials
 * numeric addresses only). */
static int rpc_address(const char *host, uint16_t port, char out[RPC_ADDR_MAX], struct cv_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        return cv_err_setf(err, CV_EINVAL, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
        snprintf(out, RPC_ADDR_MAX, "%s:%u", ip, (unsigned)port);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof ip);
        snprintf(out, RPC_ADDR_MAX, "[%s]:%u", ip, (unsigned)port);
    }
    freeaddrinfo(res);
    return 0;
}

static int server_config(const struct rcfg *c, struct srv_config *sc, struct cv_err *err)
{
    memset(sc, 0, sizeof *sc);
    sc->id = c->server_id ? c->server_id : 1;
    int rc = rpc_address(c->bind_addr, c->ports.rpc, sc->rpc_bind, err);
    if (rc == 0 && c->advertise) {
        rc = rpc_address(c->advertise, c->ports.rpc, sc->rpc_advertise, err);
    }
    for (size_t i = 0; rc == 0 && i < c->n_peers; i++) {
        if (sc->n_peers == sizeof sc->peers / sizeof sc->peers[0]) {
            return cv_err_setf(err, CV_EINVAL, "too many peers (at most %zu)", sc->n_peers);
        }
        struct srv_peer *p = &sc->peers[sc->n_peers++];
        p->id = c->peers[i].id;
        rc = rpc_address(c->peers[i].host, c->peers[i].port, p->addr, err);
        if (rc != 0) {
            cv_err_wrapf(err, "peer %u", (unsigned)c->peers[i].id);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (c->store.adaptor == RCFG_STORE_POSTGRES) {
        sc->store = SRV_STORE_POSTGRES;
        sc->pg_conninfo = c->store.postgres.conninfo;
        sc->pg_schema = c->store.postgres.schema;
        sc->pg_reconnect_ms = c->store.postgres.reconnect_timeout_ms;
    } else {
        sc->store = SRV_STORE_EMBEDDED;
        sc->data_dir = c->data_dir;
        sc->segment_size = c->store.embedded.segment_size;
    }
    sc->election_timeout_ms = c->raft.election_timeout_ms;
    sc->heartbeat_ms = c->raft.heartbeat_ms;
    sc->snapshot_threshold = c->raft.snapshot_threshold;
    sc->trailing_logs = c->raft.trailing_logs;
    return 0;
}

/* ---- the HTTP API's backend ----------------------------------------------------- */

static struct state_store *be_state(void *data)
{
    return srv_state(((struct daemon *)data)->srv);
}

static bool be_is_leader(void *data)
{
    /* Ready for consistent reads: a new leader's state may miss writes
     * committed under the old one until an entry of its term commits. */
    return srv_is_ready_leader(((struct daemon *)data)->srv);
}

static bool be_known_leader(void *data)
{
    return srv_leader_id(((struct daemon *)data)->srv) != 0;
}

static uint64_t be_last_contact_ms(void *data)
{
    return srv_last_contact_ms(((struct daemon *)data)->srv);
}

static int be_propose(void *data, const void *cmd, size_t len, http_propose_cb cb, void *arg)
{
    struct daemon *d = data;
    return srv_propose(d->srv, cmd, len, cb, arg, NULL);
}

struct forward
{
    http_fwd_cb cb;
    void *arg;
    size_t max_body;
};

static void on_forwarded(const struct rpc_result *res, void *arg)
{
    struct forward *f = arg;
    if (res->status != 0) {
        cv_log(CV_LOG_WARN, "daemon", "forwarding to the leader failed", "error=\"%s\"",
               res->err_msg);
        f->cb(f->arg, res->status, NULL);
        cv_free(f);
        return;
    }
    struct http_fwd_decoded_response *dec = NULL;
    struct cv_err err = {0};
    if (http_fwd_decode_response(res->payload, res->len, f->max_body, &dec, &err) != 0) {
        cv_log(CV_LOG_WARN, "daemon", "the leader's forwarded answer is malformed", "error=\"%s\"",
               err.msg);
        f->cb(f->arg, CV_EPARSE, NULL);
    } else {
        f->cb(f->arg, 0, &dec->resp);
        http_fwd_decoded_free(dec);
    }
    cv_free(f);
}

static int be_forward(void *data, const struct http_fwd_request *req, http_fwd_cb cb, void *arg)
{
    struct daemon *d = data;
    const char *leader = srv_leader_addr(d->srv);
    if (!leader[0] || srv_is_leader(d->srv)) {
        return CV_EUNAVAILABLE;
    }
    size_t max_body = d->cfg->http.max_body_bytes;
    struct cv_buf buf;
    cv_buf_init(&buf);
    int rc = http_fwd_encode_request(req, max_body, &buf, NULL);
    if (rc != 0) {
        cv_buf_free(&buf);
        return rc;
    }
    struct forward *f = cv_malloc(sizeof *f);
    *f = (struct forward){cb, arg, (size_t)64 << 20};
    rc = rpc_call(srv_rpc_pool(d->srv), leader, HTTP_FWD_METHOD, buf.data, buf.len,
                  (int)req->timeout_ms, on_forwarded, f, NULL);
    cv_buf_free(&buf);
    if (rc != 0) {
        cv_free(f);
    }
    return rc;
}

static void be_leader_addr(void *data, char buf[HTTP_ADDR_MAX])
{
    snprintf(buf, HTTP_ADDR_MAX, "%s", srv_leader_addr(((struct daemon *)data)->srv));
}

static size_t be_peers(void *data, char (*addrs)[HTTP_ADDR_MAX], size_t cap)
{
    struct srv_peer peers[RAFT_MAX_SERVERS];
    size_t n = srv_peers(((struct daemon *)data)->srv, peers, RAFT_MAX_SERVERS);
    size_t i = 0;
    for (; i < n && i < cap; i++) {
        snprintf(addrs[i], HTTP_ADDR_MAX, "%s", peers[i].addr);
    }
    return i;
}

/* ---- forwarded requests on the leader ------------------------------------------- */

static void on_forward_answered(void *arg, int status, const struct http_fwd_response *resp)
{
    struct rpc_call *call = arg;
    if (status != 0 || !resp) {
        rpc_reply(call, status ? status : CV_EINTERNAL, "the leader could not answer", NULL, 0);
        return;
    }
    struct cv_buf buf;
    cv_buf_init(&buf);
    struct cv_err err = {0};
    if (http_fwd_encode_response(resp, &buf, &err) != 0) {
        rpc_reply(call, err.code, err.msg, NULL, 0);
    } else {
        rpc_reply(call, 0, NULL, buf.data, buf.len);
    }
    cv_buf_free(&buf);
}

static void on_forward_request(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct daemon *d = arg;
    struct http_fwd_decoded_request *dec = NULL;
    struct cv_err err = {0};
    if (http_fwd_decode_request(payload, len, d->cfg->http.max_body_bytes, &dec, &err) != 0) {
        rpc_reply(call, err.code, err.msg, NULL, 0);
        return;
    }
    http_handle_forwarded(d->http, &dec->req, on_forward_answered, call);
    http_fwd_decoded_free(dec);
}

/* ---- lifecycle ------------------------------------------------------------------ */

int daemon_start(struct event_base *base, const struct rcfg *cfg, struct daemon **out,
                 struct cv_err *err)
{
    struct srv_config sc;
    int rc = server_config(cfg, &sc, err);
    if (rc != 0) {
        return rc;
    }
    struct daemon *d = cv_calloc(1, sizeof *d);
    d->base = base;
    d->cfg = cfg;
    rc = srv_new(base, &sc, &d->srv, err);
    if (rc != 0) {
        cv_free(d);
        return rc;
    }
    struct duties_config dc;
    duties_config_default(&dc);
    dc.heartbeat.min_ttl_ns = (uint64_t)cfg->heartbeat.min_ttl_s * CV_NSEC_PER_SEC;
    dc.heartbeat.max_per_second = cfg->heartbeat.max_per_second;
    dc.heartbeat.grace_ns = (uint64_t)cfg->heartbeat.grace_s * CV_NSEC_PER_SEC;
    dc.heartbeat.failover_ttl_ns = (uint64_t)cfg->heartbeat.failover_ttl_s * CV_NSEC_PER_SEC;
    rc = duties_new(base, d->srv, &dc, &d->duties, err);
    if (rc == 0) {
        rc = workers_new(base, d->srv, d->duties, &d->workers, err);
    }
    if (rc == 0) {
        rc = alloc_updates_new(base, d->srv, d->duties, &d->alloc_updates, err);
    }
    if (rc == 0) {
        rc = client_allocs_new(base, d->srv, &d->client_allocs, err);
    }
    if (rc != 0) {
        client_allocs_free(d->client_allocs);
        alloc_updates_free(d->alloc_updates);
        workers_free(d->workers);
        duties_free(d->duties);
        srv_free(d->srv);
        cv_free(d);
        return rc;
    }
    struct srv_peer self;
    srv_peers(d->srv, &self, 1);
    snprintf(d->rpc_addr, sizeof d->rpc_addr, "%s", self.addr);
    static const struct http_backend ops = {
        .state = be_state,
        .is_leader = be_is_leader,
        .known_leader = be_known_leader,
        .last_contact_ms = be_last_contact_ms,
        .propose = be_propose,
        .forward = be_forward,
        .leader_addr = be_leader_addr,
        .peers = be_peers,
    };
    struct http_backend backend = ops;
    backend.data = d;
    struct http_options ho = {.bind_addr = cfg->bind_addr,
                              .port = cfg->ports.http,
                              .max_body = cfg->http.max_body_bytes,
                              .region = cfg->region,
                              .datacenter = cfg->datacenter,
                              .node_name = cfg->name,
                              .rpc_addr = d->rpc_addr};
    char *agent_config = rcfg_to_json(cfg); /* agent/self's "config", password redacted */
    ho.agent_config_json = agent_config;
    d->http = http_server_new(base, &backend, &ho, err);
    cv_free(agent_config);
    if (!d->http) {
        client_allocs_free(d->client_allocs);
        alloc_updates_free(d->alloc_updates);
        workers_free(d->workers);
        duties_free(d->duties);
        srv_free(d->srv);
        cv_free(d);
        return err && err->code ? err->code : CV_EUNAVAILABLE;
    }
    rc = rpc_server_handle(srv_rpc_server(d->srv), HTTP_FWD_METHOD, on_forward_request, d, err);
    if (rc != 0) {
        daemon_free(d);
        return rc;
    }
    unsigned n_sched = rcfg_num_schedulers(cfg);
    if (n_sched > 0) {
        struct sched_workers_config swc = {
            .rpc_addr = d->rpc_addr, .state = srv_state(d->srv), .n_workers = n_sched};
        rc = sched_workers_start(&swc, &d->schedulers, err);
        if (rc != 0) {
            daemon_free(d);
            return rc;
        }
    }
    cv_log(CV_LOG_INFO, "daemon", "serving", "region=%s name=%s http=%s:%u rpc=%s schedulers=%u",
           cfg->region, cfg->name, cfg->bind_addr, (unsigned)http_server_port(d->http), d->rpc_addr,
           n_sched);
    *out = d;
    return 0;
}

static void shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    struct timeval now;
    event_base_gettimeofday_cached(d->base, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
    if (srv_is_leader(d->srv) && now_ms < d->shutdown_deadline_ms) {
        struct timeval again = {0, 20 * 1000};
        event_add(d->shutdown_ev, &again);
        return;
    }
    if (d->shutdown_done) {
        void (*done)(void *) = d->shutdown_done;
        d->shutdown_done = NULL;
        done(d->shutdown_arg);
    }
}

void daemon_shutdown(struct daemon *d, unsigned timeout_ms, void (*done)(void *arg), void *arg)
{
    if (d->shutdown_ev) {
        return; /* already stopping */
    }
    d->shutdown_done = done;
    d->shutdown_arg = arg;
    if (srv_transfer_leadership(d->srv) == 0) {
        cv_log(CV_LOG_INFO, "daemon", "handing leadership over before stopping", "id=%s",
               d->rpc_addr);
    }
    struct timeval now;
    event_base_gettimeofday_cached(d->base, &now);
    d->shutdown_deadline_ms =
        (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000 + timeout_ms;
    d->shutdown_ev = evtimer_new(d->base, shutdown_poll, d);
    struct timeval first = {0, 0};
    event_add(d->shutdown_ev, &first);
}

bool daemon_failed(const struct daemon *d, struct cv_err *err)
{
    return srv_failed(d->srv, err);
}

/* The worker threads call this server's own RPC port: keep serving them
 * while they finish what they hold (a Dequeue waits at most half a second,
 * a plan or an update a few milliseconds), then join them. */
static void stop_schedulers(struct daemon *d)
{
    if (d->schedulers == NULL) {
        return;
    }
    sched_workers_request_stop(d->schedulers);
    for (unsigned i = 0; i < 15000 && sched_workers_running(d->schedulers) > 0; i++) {
        event_base_loop(d->base, EVLOOP_NONBLOCK);
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    sched_workers_stop(d->schedulers);
    d->schedulers = NULL;
}

void daemon_free(struct daemon *d)
{
    if (!d) {
        return;
    }
    if (d->shutdown_ev) {
        event_free(d->shutdown_ev);
    }
    stop_schedulers(d);
    http_server_free(d->http);
    client_allocs_free(d->client_allocs);
    alloc_updates_free(d->alloc_updates);
    workers_free(d->workers);
    duties_free(d->duties);
    srv_free(d->srv);
    cv_free(d);
}
