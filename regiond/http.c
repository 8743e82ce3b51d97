/*
 * http: the server, request contexts, forwarding to the leader, blocking
 * queries and replies of the HTTP API (see http.h; routing and query
 * options are in http_route.c, the endpoints in http_jobs.c, http_nodes.c,
 * http_allocs.c and http_status.c).
 *
 * A request's life. on_request (a socket) or http_handle_forwarded (a
 * follower) makes a context and calls ctx_start: http_parse_request
 * decodes the URI, routes it and parses the query options; then the
 * request is forwarded to the leader, runs as a read (run_read) or starts
 * as a write (the endpoint's start function, which usually ends in
 * http_propose). Exactly one reply is sent per
 * context (send_reply), after which the context is freed, unless the
 * backend still holds a pointer to it (a proposal or forward in flight),
 * in which case the backend's callback frees it.
 *
 * Blocking queries. run_read reads from a fresh snapshot; when the index
 * of the answer is not above the client's ?index it registers a one-shot
 * state watch on the endpoint's tables, at the index of the snapshot it
 * read, and returns. The watch callback runs on the committing thread and
 * only activates the context's wake-up event; the loop then runs the read
 * again. A timer ends the wait: it removes the watch (after which the
 * callback can no longer run) and answers with what is there.
 *
 * Shutdown. http_server_free removes every watch, answers forwarded
 * requests with 503, lets evhttp close the sockets and orphans the
 * contexts the backend still holds: their callbacks find srv == NULL and
 * only free them.
 */
#include "regiond/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "regiond/http_internal.h"

#define JSON_TYPE  "application/json"
#define PLAIN_TYPE "text/plain; charset=utf-8"

/* How long a follower waits for the leader's answer to a request that does
 * not block (a write waits for its Raft commit), and the margin added to a
 * blocking query's own wait. */
#define FORWARD_TIMEOUT_MS 60000u
#define FORWARD_MARGIN_MS  10000u

#define ALL_METHODS                                                                            \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

static void run_read(struct http_ctx *c);
static void send_reply(struct http_ctx *c);

/* ---- small helpers ---------------------------------------------------------------- */

int64_t http_now_ns(void)
{
    return cv_clock_wall_ns(cv_clock_system());
}

struct state_store *http_state(const struct http_ctx *c)
{
    return c->srv->backend.state(c->srv->backend.data);
}

bool http_known_leader(const struct http_ctx *c)
{
    return c->srv->backend.known_leader(c->srv->backend.data);
}

uint64_t http_last_contact(const struct http_ctx *c)
{
    return c->srv->backend.last_contact_ms(c->srv->backend.data);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Request Entity Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

static const char *evhttp_method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "OTHER";
}

/* ---- contexts --------------------------------------------------------------------- */

static struct http_ctx *ctx_new(struct http_server *srv)
{
    struct http_ctx *c = cv_calloc(1, sizeof *c);
    c->srv = srv;
    c->status = 200;
    c->next = srv->live;
    if (srv->live) {
        srv->live->prev = c;
    }
    srv->live = c;
    srv->stats.requests++;
    return c;
}

static void ctx_unlink(struct http_ctx *c)
{
    struct http_server *srv = c->srv;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        srv->live = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

/* Ends a blocking query's wait: no watch callback runs after this. */
static void ctx_stop_wait(struct http_ctx *c)
{
    if (c->watch_armed) {
        state_watch_remove(http_state(c), &c->watch);
        c->watch_armed = false;
        c->srv->stats.waiting--;
    }
    if (c->timer_ev) {
        event_free(c->timer_ev);
        c->timer_ev = NULL;
    }
    if (c->wake_ev) {
        event_free(c->wake_ev);
        c->wake_ev = NULL;
    }
}

static void ctx_free(struct http_ctx *c)
{
    if (c->srv) {
        ctx_stop_wait(c);
        ctx_unlink(c);
    }
    for (size_t i = 0; i < c->n_params; i++) {
        cv_free(c->params[i].key);
        cv_free(c->params[i].value);
    }
    cv_free(c->params);
    cv_free(c->uri);
    cv_free(c->path);
    cv_free(c->body);
    cv_free(c->id);
    cv_buf_free(&c->out);
    cv_free(c);
}

/* After the reply: free now, or when the backend lets go. */
static void ctx_done(struct http_ctx *c)
{
    if (!c->in_backend) {
        ctx_free(c);
    } else if (c->srv) {
        ctx_stop_wait(c);
    }
}

/* ---- replies ---------------------------------------------------------------------- */

static void set_text(struct http_ctx *c, int status, const char *fmt, va_list ap)
{
    cv_buf_reset(&c->out);
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n > 0) {
        cv_buf_reserve(&c->out, (size_t)n + 1);
        vsnprintf(c->out.data, (size_t)n + 1, fmt, ap);
        c->out.len = (size_t)n;
    }
    c->status = status;
    c->json = false;
}

void http_set_error(struct http_ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_text(c, status, fmt, ap);
    va_end(ap);
}

void http_reply_error(struct http_ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_text(c, status, fmt, ap);
    va_end(ap);
    send_reply(c);
}

void http_reply(struct http_ctx *c)
{
    send_reply(c);
}

void http_reply_json(struct http_ctx *c)
{
    c->json = true;
    send_reply(c);
}

/* Re-indents a JSON answer for ?pretty (Nomad adds a newline after it). */
static void prettify(struct http_ctx *c)
{
    struct cv_json_limits lim = {c->out.len, 1024, c->out.len, SIZE_MAX};
    struct cv_json_doc *doc = NULL;
    if (cv_json_parse(c->out.data, c->out.len, &lim, &doc, NULL) != 0) {
        return;
    }
    struct cv_jgen *g = cv_jgen_new(true);
    cv_jgen_value(g, cv_json_doc_root(doc));
    const char *text;
    size_t len;
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        cv_buf_reset(&c->out);
        cv_buf_append(&c->out, text, len);
        cv_buf_append_char(&c->out, '\n');
    }
    cv_jgen_free(g);
    cv_json_doc_free(doc);
}

static void send_reply(struct http_ctx *c)
{
    if (c->replied) {
        return;
    }
    c->replied = true;
    struct http_fwd_response resp;
    memset(&resp, 0, sizeof resp);
    char index_buf[24], contact_buf[24];
    if (c->relay) {
        resp = *c->relay;
    } else {
        if (c->json && c->pretty && c->status == 200 && c->out.len) {
            prettify(c);
        }
        resp.status = c->status;
        resp.headers[resp.n_headers++] =
            (struct http_fwd_header){"Content-Type", c->json ? JSON_TYPE : PLAIN_TYPE};
        if (c->has_index) {
            snprintf(index_buf, sizeof index_buf, "%llu", (unsigned long long)c->index);
            resp.headers[resp.n_headers++] = (struct http_fwd_header){"X-Nomad-Index", index_buf};
        }
        if (c->srv) {
            snprintf(contact_buf, sizeof contact_buf, "%llu",
                     (unsigned long long)http_last_contact(c));
            resp.headers[resp.n_headers++] = (struct http_fwd_header){
                "X-Nomad-KnownLeader", http_known_leader(c) ? "true" : "false"};
            resp.headers[resp.n_headers++] =
                (struct http_fwd_header){"X-Nomad-LastContact", contact_buf};
        }
        if (c->allow[0]) {
            resp.headers[resp.n_headers++] = (struct http_fwd_header){"Allow", c->allow};
        }
        resp.body = c->out.data;
        resp.body_len = c->out.len;
    }
    if (resp.status >= 500) {
        cv_log(CV_LOG_WARN, "http", "request failed", "method=%s path=%s status=%d", c->method_name,
               c->path ? c->path : "?", resp.status);
    }
    if (c->evreq) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(c->evreq);
        for (size_t i = 0; i < resp.n_headers; i++) {
            evhttp_add_header(h, resp.headers[i].name, resp.headers[i].value);
        }
        struct evbuffer *buf = evbuffer_new();
        if (resp.body_len) {
            evbuffer_add(buf, resp.body, resp.body_len);
        }
        evhttp_send_reply(c->evreq, resp.status, reason_phrase(resp.status), buf);
        evbuffer_free(buf);
        c->evreq = NULL;
    } else if (c->fwd_cb) {
        http_fwd_cb cb = c->fwd_cb;
        c->fwd_cb = NULL;
        cb(c->fwd_arg, 0, &resp);
    }
    ctx_done(c);
}

/* ---- the backend: proposals and forwarding ------------------------------------------ */

static void on_proposed(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct http_ctx *c = arg;
    c->in_backend = false;
    if (!c->srv || c->replied) {
        ctx_free(c);
        return;
    }
    c->applied(c, status, index, res);
}

void http_propose(struct http_ctx *c, const struct cv_buf *cmd, http_applied_fn applied)
{
    struct http_server *srv = c->srv;
    c->applied = applied;
    c->in_backend = true;
    srv->stats.proposals++;
    int rc = srv->backend.propose(srv->backend.data, cmd->data, cmd->len, on_proposed, c);
    if (rc != 0) {
        c->in_backend = false;
        http_reply_apply_error(c, rc, NULL);
    }
}

void http_reply_apply_error(struct http_ctx *c, int status, const struct fsm_result *res)
{
    if (status != 0) {
        if (status == CV_ENOTLEADER) {
            http_reply_error(c, 503, "No cluster leader");
        } else {
            http_reply_error(c, cv_error_http_status(status), "%s", cv_strerror(status));
        }
        return;
    }
    int code = res && res->err.code ? res->err.code : CV_EINTERNAL;
    char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4] = "command not applied";
    if (res && res->err.code) {
        cv_err_format(&res->err, msg, sizeof msg);
    }
    http_reply_error(c, cv_error_http_status(code), "%s", msg);
}

static void on_forwarded(void *arg, int status, const struct http_fwd_response *resp)
{
    struct http_ctx *c = arg;
    c->in_backend = false;
    if (!c->srv || c->replied) {
        ctx_free(c);
        return;
    }
    if (status != 0 || !resp) {
        if (status == CV_ETIMEDOUT) {
            http_reply_error(c, 504, "timed out waiting for the leader's answer");
        } else if (status == CV_EUNAVAILABLE || status == CV_ENOTLEADER) {
            http_reply_error(c, 503, "No cluster leader");
        } else {
            http_reply_error(c, cv_error_http_status(status ? status : CV_EINTERNAL),
                             "forwarding to the leader failed: %s", cv_strerror(status));
        }
        return;
    }
    c->relay = resp;
    send_reply(c);
}

static void forward(struct http_ctx *c)
{
    struct http_server *srv = c->srv;
    uint64_t timeout = c->blocking ? c->wait_ms + FORWARD_MARGIN_MS : FORWARD_TIMEOUT_MS;
    struct http_fwd_request req = {c->method_name, c->uri, c->body, c->body_len,
                                   (uint32_t)(timeout > UINT32_MAX ? UINT32_MAX : timeout)};
    c->in_backend = true;
    srv->stats.forwarded_out++;
    int rc = srv->backend.forward(srv->backend.data, &req, on_forwarded, c);
    if (rc != 0) {
        c->in_backend = false;
        if (rc == CV_EUNAVAILABLE || rc == CV_ENOTLEADER) {
            http_reply_error(c, 503, "No cluster leader");
        } else {
            http_reply_error(c, cv_error_http_status(rc), "forwarding to the leader failed: %s",
                             cv_strerror(rc));
        }
    }
}

/* ---- blocking reads ----------------------------------------------------------------- */

/* The state watch's callback: on the committing thread, with the watch
 * lock held. It only wakes the loop. */
static void on_watch(void *arg, uint64_t index)
{
    (void)index;
    struct http_ctx *c = arg;
    event_active(c->wake_ev, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_ctx *c = arg;
    if (!c->watch_armed) {
        return;
    }
    c->watch_armed = false;
    c->srv->stats.waiting--;
    run_read(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_ctx *c = arg;
    c->timed_out = true;
    if (c->watch_armed) {
        state_watch_remove(http_state(c), &c->watch);
        c->watch_armed = false;
        c->srv->stats.waiting--;
    }
    run_read(c);
}

static void start_wait(struct http_ctx *c)
{
    struct http_server *srv = c->srv;
    c->wake_ev = event_new(srv->base, -1, 0, on_wake, c);
    c->timer_ev = event_new(srv->base, -1, 0, on_timeout, c);
    if (!c->wake_ev || !c->timer_ev) {
        cv_log(CV_LOG_ERROR, "http", "event_new failed", "wait_ms=%llu",
               (unsigned long long)c->wait_ms);
        abort();
    }
    struct timeval tv = {(time_t)(c->wait_ms / 1000), (suseconds_t)((c->wait_ms % 1000) * 1000)};
    event_add(c->timer_ev, &tv);
    srv->stats.blocked++;
}

static void run_read(struct http_ctx *c)
{
    struct state_store *st = http_state(c);
    for (;;) {
        struct state_snap *snap = state_snapshot(st);
        cv_buf_reset(&c->out);
        c->status = 200;
        c->json = true;
        uint64_t index = 0;
        c->ep->read(c, snap, &index);
        uint64_t tables = state_tables_index(snap, c->ep->tables);
        state_snapshot_release(snap);
        if (index == 0) {
            index = tables;
        }
        if (index < 1) {
            index = 1; /* never 0: a client could not block on it (Nomad's rule) */
        }
        bool waitable = c->status == 200 || c->status == 404;
        if (c->blocking && waitable && !c->timed_out && index <= c->min_index) {
            if (!c->timer_ev) {
                start_wait(c);
            }
            if (state_watch_add(st, &c->watch, c->ep->tables, tables, on_watch, c)) {
                c->watch_armed = true;
                c->srv->stats.waiting++;
                return;
            }
            continue; /* a commit landed since the snapshot: read again */
        }
        c->has_index = true;
        c->index = index;
        send_reply(c);
        return;
    }
}

/* ---- starting a request ------------------------------------------------------------- */

static void ctx_start(struct http_ctx *c)
{
    struct http_server *srv = c->srv;
    if (!http_parse_request(c)) {
        return;
    }
    const struct http_endpoint *ep = c->ep;
    if (ep->kind == HTTP_LOCAL) {
        ep->start(c);
        return;
    }
    bool needs_leader = ep->kind == HTTP_WRITE || !c->stale;
    if (needs_leader && !c->forwarded && !srv->backend.is_leader(srv->backend.data)) {
        forward(c);
        return;
    }
    if (ep->kind == HTTP_WRITE) {
        ep->start(c);
    } else {
        run_read(c);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *srv = arg;
    struct http_ctx *c = ctx_new(srv);
    c->evreq = req;
    const char *name = evhttp_method_name(evhttp_request_get_command(req));
    snprintf(c->method_name, sizeof c->method_name, "%s", name);
    c->method = http_method_bit(name);
    c->uri = cv_strdup(evhttp_request_get_uri(req));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len) {
        c->body = cv_malloc(len + 1);
        evbuffer_copyout(in, c->body, len);
        c->body[len] = '\0';
        c->body_len = len;
    }
    ctx_start(c);
}

void http_handle_forwarded(struct http_server *srv, const struct http_fwd_request *req,
                           http_fwd_cb cb, void *arg)
{
    struct http_ctx *c = ctx_new(srv);
    srv->stats.forwarded_in++;
    c->forwarded = true;
    c->fwd_cb = cb;
    c->fwd_arg = arg;
    snprintf(c->method_name, sizeof c->method_name, "%s", req->method ? req->method : "");
    c->method = http_method_bit(c->method_name);
    c->uri = cv_strdup(req->uri ? req->uri : "");
    if (req->body_len > srv->max_body) {
        http_reply_error(c, 413, "request body of %zu bytes is over the limit of %zu",
                         req->body_len, srv->max_body);
        return;
    }
    if (req->body_len) {
        c->body = cv_malloc(req->body_len + 1);
        memcpy(c->body, req->body, req->body_len);
        c->body[req->body_len] = '\0';
        c->body_len = req->body_len;
    }
    ctx_start(c);
}

/* ---- the server ------------------------------------------------------------------- */

static void copy_opt(char *dst, size_t cap, const char *value, const char *dflt)
{
    snprintf(dst, cap, "%s", value ? value : dflt);
}

struct http_server *http_server_new(struct event_base *base, const struct http_backend *backend,
                                    const struct http_options *opts, struct cv_err *err)
{
    struct http_options o = {0};
    if (opts) {
        o = *opts;
    }
    const char *addr = o.bind_addr ? o.bind_addr : "127.0.0.1";
    struct in6_addr probe;
    if (inet_pton(AF_INET, addr, &probe) != 1 && inet_pton(AF_INET6, addr, &probe) != 1) {
        cv_err_setf(err, CV_EINVAL, "http: bind address \"%s\" is not a numeric IP address", addr);
        return NULL;
    }
    struct http_server *srv = cv_calloc(1, sizeof *srv);
    srv->base = base;
    srv->backend = *backend;
    srv->max_body = o.max_body ? o.max_body : HTTP_DEFAULT_MAX_BODY;
    copy_opt(srv->region, sizeof srv->region, o.region, "global");
    copy_opt(srv->datacenter, sizeof srv->datacenter, o.datacenter, "dc1");
    copy_opt(srv->node_name, sizeof srv->node_name, o.node_name, "regiond");
    copy_opt(srv->rpc_addr, sizeof srv->rpc_addr, o.rpc_addr, "");

    if (o.agent_config_json) {
        struct cv_err perr = {0};
        int rc = cv_json_parse(o.agent_config_json, strlen(o.agent_config_json), NULL,
                               &srv->agent_config, &perr);
        if (rc != 0 || cv_json_doc_root(srv->agent_config)->type != CV_JSON_OBJECT) {
            cv_json_doc_free(srv->agent_config);
            cv_free(srv);
            cv_err_setf(err, CV_EINVAL, "http: agent config is not a JSON object%s%s",
                        rc ? ": " : "", rc ? perr.msg : "");
            return NULL;
        }
    }
    srv->evhttp = evhttp_new(base);
    if (!srv->evhttp) {
        cv_json_doc_free(srv->agent_config);
        cv_free(srv);
        cv_err_setf(err, CV_EINTERNAL, "http: evhttp_new failed");
        return NULL;
    }
    evhttp_set_max_body_size(srv->evhttp, (ev_ssize_t)srv->max_body);
    evhttp_set_max_headers_size(srv->evhttp, 64 * 1024);
    /* Every method reaches on_request, so an unsupported one gets 405 with
     * Allow rather than evhttp's 501. */
    evhttp_set_allowed_methods(srv->evhttp, ALL_METHODS);
    /* Read the rest of an oversized body before closing, so the client
     * sees the 413 instead of a reset. */
    evhttp_set_flags(srv->evhttp, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(srv->evhttp, on_request, srv);

    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(srv->evhttp, addr, o.port);
    if (!sock) {
        evhttp_free(srv->evhttp);
        cv_json_doc_free(srv->agent_config);
        cv_free(srv);
        cv_err_setf(err, CV_EUNAVAILABLE, "http: cannot listen on %s port %u", addr,
                    (unsigned)o.port);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &slen) == 0) {
        if (ss.ss_family == AF_INET) {
            srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    cv_log(CV_LOG_INFO, "http", "listening", "addr=%s port=%u", addr, (unsigned)srv->port);
    return srv;
}

void http_server_free(struct http_server *srv)
{
    if (!srv) {
        return;
    }
    while (srv->live) {
        struct http_ctx *c = srv->live;
        bool held = c->in_backend;
        ctx_stop_wait(c);
        c->evreq = NULL; /* evhttp_free closes its connection */
        if (c->fwd_cb && !c->replied) {
            http_reply_error(c, 503, "server shutting down");
            if (!held) {
                continue; /* send_reply freed it */
            }
        }
        c->replied = true;
        ctx_unlink(c);
        c->srv = NULL;
        if (!held) {
            ctx_free(c);
        }
        /* else the backend's callback frees it */
    }
    evhttp_free(srv->evhttp);
    cv_json_doc_free(srv->agent_config);
    cv_free(srv);
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stats(const struct http_server *srv, struct http_stats *out)
{
    *out = srv->stats;
}
