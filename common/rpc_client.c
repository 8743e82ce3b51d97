/*
 * rpc_client: the client side of rpc.h, a pool of multiplexed connections.
 *
 * The pool keeps one `struct peer` per address it talks to, keyed by the
 * address in canonical form. A peer is created by the first call to its
 * address: the socket is created and the connect started at once, and
 * frames are queued in the bufferevent's output while the connect is in
 * flight. Any failure (connect refused or timed out, I/O error, EOF, a
 * malformed frame from the server, a "closing" notice from it) removes the
 * peer from the pool and fails its pending calls; the next call to that
 * address creates a new peer, which is all "reconnect" means.
 *
 * Each request gets a pool-wide id (from 1, never reused), a `struct
 * pending` in its peer's id hash and issue-ordered list, and, with a
 * timeout, a libevent timer. Whatever happens first - the response, the
 * timer, the peer's failure, the pool's end - removes the pending entry
 * and runs the callback; the others then find nothing, which is what makes
 * "exactly once" hold. A response for an id no longer pending (its call
 * timed out) is counted and dropped.
 *
 * Back pressure: before queuing, the peer's unsent output is compared with
 * high_water; above it the call is refused or the message dropped, so a
 * peer that stops reading costs at most high_water + max_frame bytes.
 *
 * Re-entrancy: callbacks may start new calls. A peer is unlinked from the
 * pool before its pending calls are failed, so a call made from one of
 * those callbacks starts a fresh connection. Nothing a callback can do
 * frees the peer whose read callback is dispatching a response.
 */
#include "common/rpc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/rpc_internal.h"

#define INITIAL_BUCKETS 16

struct peer;

struct pending
{
    uint64_t id;
    struct peer *peer;
    struct pending *hnext;       /* in the peer's id hash */
    struct pending *prev, *next; /* in the peer's issue order */
    struct event *timer;         /* NULL without a timeout */
    int timeout_ms;
    rpc_done_fn cb;
    void *arg;
    char method[RPC_METHOD_MAX + 1];
};

struct peer
{
    struct rpc_pool *pool;
    struct peer *next; /* in pool->peers */
    char addr[RPC_ADDR_MAX];
    struct bufferevent *bev;
    struct event *connect_timer;
    bool connected;
    struct pending **buckets; /* nbuckets, a power of two */
    size_t nbuckets;
    size_t npending;
    struct pending *head, *tail;
};

struct rpc_pool
{
    struct event_base *base;
    struct rpc_pool_options opts;
    struct peer *peers;
    uint64_t next_id;
    struct rpc_stats stats;
    int callback_depth; /* > 0 while a user callback runs */
    bool closing;
};

void rpc_pool_options_init(struct rpc_pool_options *o)
{
    o->max_frame = RPC_DEFAULT_MAX_FRAME;
    o->high_water = RPC_DEFAULT_HIGH_WATER;
    o->connect_timeout_ms = RPC_DEFAULT_CONNECT_TIMEOUT_MS;
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    return tv;
}

/* ---- pending calls ---------------------------------------------------------- */

static void pending_insert(struct peer *peer, struct pending *p)
{
    if (peer->npending >= peer->nbuckets) {
        size_t n = peer->nbuckets ? peer->nbuckets * 2 : INITIAL_BUCKETS;
        struct pending **b = cv_calloc(n, sizeof *b);
        for (size_t i = 0; i < peer->nbuckets; i++) {
            struct pending *q = peer->buckets[i];
            while (q) {
                struct pending *next = q->hnext;
                q->hnext = b[q->id & (n - 1)];
                b[q->id & (n - 1)] = q;
                q = next;
            }
        }
        cv_free(peer->buckets);
        peer->buckets = b;
        peer->nbuckets = n;
    }
    /* Ids are sequential, so the low bits spread them evenly. */
    struct pending **slot = &peer->buckets[p->id & (peer->nbuckets - 1)];
    p->hnext = *slot;
    *slot = p;
    p->prev = peer->tail;
    p->next = NULL;
    if (peer->tail) {
        peer->tail->next = p;
    } else {
        peer->head = p;
    }
    peer->tail = p;
    peer->npending++;
}

static void pending_remove(struct peer *peer, struct pending *p)
{
    struct pending **slot = &peer->buckets[p->id & (peer->nbuckets - 1)];
    while (*slot != p) {
        assert(*slot);
        slot = &(*slot)->hnext;
    }
    *slot = p->hnext;
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        peer->head = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    } else {
        peer->tail = p->prev;
    }
    peer->npending--;
}

static struct pending *pending_find(struct peer *peer, uint64_t id)
{
    if (!peer->nbuckets) {
        return NULL;
    }
    struct pending *p = peer->buckets[id & (peer->nbuckets - 1)];
    while (p && p->id != id) {
        p = p->hnext;
    }
    return p;
}

static void pending_free(struct pending *p)
{
    if (p->timer) {
        event_free(p->timer);
    }
    cv_free(p);
}

/* Runs the callback of `p`, which is no longer in any peer. */
static void deliver(struct rpc_pool *pool, struct pending *p, int status, const char *msg,
                    const void *payload, size_t len)
{
    struct rpc_result res = {
        .status = status,
        .err_msg = status == 0 ? "" : (msg && *msg ? msg : cv_strerror(status)),
        .payload = len ? payload : NULL,
        .len = len,
    };
    pool->callback_depth++;
    p->cb(&res, p->arg);
    pool->callback_depth--;
}

/* ---- peers -------------------------------------------------------------------- */

static void peer_unlink(struct peer *peer)
{
    struct peer **pp = &peer->pool->peers;
    while (*pp != peer) {
        assert(*pp);
        pp = &(*pp)->next;
    }
    *pp = peer->next;
}

/* Closes the peer's connection, fails its pending calls with `status` and
 * the formatted message, in the order they were made, and frees it. */
__attribute__((format(printf, 3, 4))) static void peer_fail(struct peer *peer, int status,
                                                            const char *fmt, ...)
{
    struct rpc_pool *pool = peer->pool;
    char msg[CV_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    peer_unlink(peer);
    if (status == CV_ESHUTDOWN) {
        cv_log(CV_LOG_DEBUG, RPC_LOG, "connection closed", "peer=%s pending=%zu", peer->addr,
               peer->npending);
    } else {
        pool->stats.conns_failed++;
        /* A peer that is down is retried by every call made to it; its
         * connect failures stay at debug level so they cannot flood the
         * log. The loss of an established connection is worth a line. */
        cv_log(peer->connected ? CV_LOG_INFO : CV_LOG_DEBUG, RPC_LOG, "connection failed",
               "peer=%s pending=%zu reason=\"%s\"", peer->addr, peer->npending, msg);
    }
    bufferevent_free(peer->bev);
    peer->bev = NULL;
    event_free(peer->connect_timer);
    peer->connect_timer = NULL;

    struct pending *p;
    while ((p = peer->head) != NULL) {
        pending_remove(peer, p);
        deliver(pool, p, status, msg, NULL, 0);
        pending_free(p);
    }
    cv_free(peer->buckets);
    cv_free(peer);
}

static void peer_read_cb(struct bufferevent *bev, void *arg)
{
    struct peer *peer = arg;
    struct rpc_pool *pool = peer->pool;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        struct rpc_frame f;
        size_t frame_len = 0;
        struct cv_err e;
        cv_err_clear(&e);
        int rc = rpc_read_frame(in, pool->opts.max_frame, &f, &frame_len, &e);
        if (rc == 0) {
            return;
        }
        if (rc < 0) {
            pool->stats.protocol_errors++;
            cv_log(CV_LOG_WARN, RPC_LOG, "bad frame from server", "peer=%s reason=\"%s\"",
                   peer->addr, e.msg);
            peer_fail(peer, CV_EPARSE, "bad frame from %s: %s", peer->addr, e.msg);
            return;
        }
        pool->stats.frames_in++;
        pool->stats.bytes_in += frame_len;
        if (f.kind != RPC_FRAME_RESPONSE) {
            pool->stats.protocol_errors++;
            peer_fail(peer, CV_EPARSE, "bad frame from %s: unexpected %s frame from a server",
                      peer->addr, rpc_frame_kind_name((int)f.kind));
            return;
        }
        if (f.id == 0) {
            /* The server is closing the connection and says why. */
            peer_fail(peer, CV_EUNAVAILABLE, "connection to %s closed by peer: %.*s (%s)",
                      peer->addr, (int)f.err_msg_len, f.err_msg, cv_strerror(f.status));
            return;
        }
        struct pending *p = pending_find(peer, f.id);
        if (!p) {
            pool->stats.late_replies++;
        } else {
            pending_remove(peer, p);
            char msg[RPC_ERR_MSG_MAX + 1];
            memcpy(msg, f.err_msg, f.err_msg_len);
            msg[f.err_msg_len] = '\0';
            /* The payload stays in the input buffer until the callback
             * returns; a callback cannot read from this connection. */
            deliver(pool, p, f.status, msg, f.payload, f.payload_len);
            pending_free(p);
        }
        evbuffer_drain(in, frame_len);
    }
}

static void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    int error = EVUTIL_SOCKET_ERROR();
    struct peer *peer = arg;
    if (what & BEV_EVENT_CONNECTED) {
        peer->connected = true;
        event_del(peer->connect_timer);
        cv_log(CV_LOG_DEBUG, RPC_LOG, "connected", "peer=%s", peer->addr);
        return;
    }
    (void)bev;
    if (what & BEV_EVENT_EOF) {
        peer_fail(peer, CV_EUNAVAILABLE, "connection to %s closed by peer", peer->addr);
    } else if (peer->connected) {
        peer_fail(peer, CV_EUNAVAILABLE, "connection to %s lost: %s", peer->addr,
                  evutil_socket_error_to_string(error));
    } else {
        peer_fail(peer, CV_EUNAVAILABLE, "connect to %s failed: %s", peer->addr,
                  evutil_socket_error_to_string(error));
    }
}

static void peer_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct peer *peer = arg;
    peer_fail(peer, CV_EUNAVAILABLE, "connect to %s timed out after %d ms", peer->addr,
              peer->pool->opts.connect_timeout_ms);
}

/* Returns the peer for `addr`, connecting when there is none. */
static int peer_get(struct rpc_pool *pool, const char *addr, struct peer **out, struct cv_err *err)
{
    struct sockaddr_storage ss;
    int sslen;
    int rc = rpc_addr_parse(addr, false, &ss, &sslen, err);
    if (rc != 0) {
        return rc;
    }
    char canon[RPC_ADDR_MAX];
    rpc_addr_format((struct sockaddr *)&ss, canon, sizeof canon);
    for (struct peer *p = pool->peers; p; p = p->next) {
        if (strcmp(p->addr, canon) == 0) {
            *out = p;
            return 0;
        }
    }

    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        return cv_err_setf(err, CV_EUNAVAILABLE, "cannot create a socket for %s: %s", canon,
                           rpc_socket_error());
    }
    if (evutil_make_socket_nonblocking(fd) != 0 || evutil_make_socket_closeonexec(fd) != 0) {
        rc = cv_err_setf(err, CV_EUNAVAILABLE, "cannot set up a socket for %s: %s", canon,
                         rpc_socket_error());
        close(fd);
        return rc;
    }
    rpc_socket_tune(fd);
    struct bufferevent *bev = bufferevent_socket_new(pool->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        return cv_err_setf(err, CV_EUNAVAILABLE, "cannot create a connection to %s", canon);
    }
    struct peer *peer = cv_calloc(1, sizeof *peer);
    peer->pool = pool;
    snprintf(peer->addr, sizeof peer->addr, "%s", canon);
    peer->bev = bev;
    peer->connect_timer = evtimer_new(pool->base, peer_connect_timeout_cb, peer);
    if (!peer->connect_timer) {
        rc = cv_err_setf(err, CV_EUNAVAILABLE, "cannot create a timer for %s", canon);
        goto err_after_peer;
    }
    bufferevent_setcb(bev, peer_read_cb, NULL, peer_event_cb, peer);
    /* Nothing is read beyond one frame of the limit until it is consumed. */
    bufferevent_setwatermark(bev, EV_READ, 0, pool->opts.max_frame);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, sslen) != 0) {
        rc = cv_err_setf(err, CV_EUNAVAILABLE, "connect to %s failed: %s", canon,
                         rpc_socket_error());
        goto err_after_timer;
    }
    struct timeval tv = ms_to_tv(pool->opts.connect_timeout_ms);
    event_add(peer->connect_timer, &tv);
    peer->next = pool->peers;
    pool->peers = peer;
    pool->stats.conns_opened++;
    *out = peer;
    return 0;

err_after_timer:
    event_free(peer->connect_timer);
err_after_peer:
    bufferevent_free(bev); /* closes fd */
    cv_free(peer);
    return rc;
}

/* ---- the pool --------------------------------------------------------------- */

int rpc_pool_new(struct event_base *base, const struct rpc_pool_options *opts,
                 struct rpc_pool **out, struct cv_err *err)
{
    struct rpc_pool_options o;
    if (opts) {
        o = *opts;
    } else {
        rpc_pool_options_init(&o);
    }
    if (!base) {
        return cv_err_setf(err, CV_EINVAL, "no event base");
    }
    if (o.max_frame < RPC_MIN_MAX_FRAME || o.max_frame > RPC_MAX_MAX_FRAME) {
        return cv_err_setf(err, CV_EINVAL, "max_frame %zu is not between %zu and %zu", o.max_frame,
                           RPC_MIN_MAX_FRAME, RPC_MAX_MAX_FRAME);
    }
    if (o.high_water == 0) {
        return cv_err_setf(err, CV_EINVAL, "high_water must be positive");
    }
    if (o.connect_timeout_ms <= 0) {
        return cv_err_setf(err, CV_EINVAL, "connect_timeout_ms must be positive, got %d",
                           o.connect_timeout_ms);
    }
    struct rpc_pool *pool = cv_calloc(1, sizeof *pool);
    pool->base = base;
    pool->opts = o;
    pool->next_id = 1;
    *out = pool;
    return 0;
}

void rpc_pool_free(struct rpc_pool *pool)
{
    if (!pool) {
        return;
    }
    /* Freeing the pool from its own callback would free the peer whose
     * callback is running. */
    assert(pool->callback_depth == 0);
    pool->closing = true;
    while (pool->peers) {
        peer_fail(pool->peers, CV_ESHUTDOWN, "rpc pool closed");
    }
    cv_free(pool);
}

static void pending_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    struct peer *peer = p->peer;
    struct rpc_pool *pool = peer->pool;
    pending_remove(peer, p);
    pool->stats.timeouts++;
    char msg[CV_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "call %s to %s timed out after %d ms", p->method, peer->addr,
             p->timeout_ms);
    deliver(pool, p, CV_ETIMEDOUT, msg, NULL, 0);
    pending_free(p);
}

/* What rpc_call and rpc_send share: checks, the peer, back pressure, and
 * queuing the frame. */
static int queue_frame(struct rpc_pool *pool, const char *addr, struct rpc_frame *f,
                       struct peer **peer_out, struct cv_err *err)
{
    if (pool->closing) {
        return cv_err_setf(err, CV_ESHUTDOWN, "rpc pool closed");
    }
    if (!addr) {
        return cv_err_setf(err, CV_EINVAL, "no address");
    }
    size_t method_len = f->method ? strlen(f->method) : 0;
    if (method_len == 0 || method_len > RPC_METHOD_MAX) {
        return cv_err_setf(err, CV_EINVAL, "method name must have 1 to %d bytes", RPC_METHOD_MAX);
    }
    f->method_len = method_len;
    /* Check the frame before connecting, so a bad one costs no socket. */
    int rc = rpc_frame_check(f, pool->opts.max_frame, NULL, err);
    if (rc != 0) {
        return rc;
    }
    struct peer *peer = NULL;
    rc = peer_get(pool, addr, &peer, err);
    if (rc != 0) {
        return rc;
    }
    if (!peer || !peer->bev) {
        return cv_err_setf(err, CV_EINTERNAL, "no connection to %s", addr);
    }
    struct evbuffer *output = bufferevent_get_output(peer->bev);
    size_t queued = output ? evbuffer_get_length(output) : 0;
    if (queued > pool->opts.high_water) {
        if (f->kind == RPC_FRAME_MESSAGE) {
            pool->stats.drops++;
            return cv_err_setf(err, CV_EUNAVAILABLE,
                               "peer %s is slow: %zu bytes queued; message %s dropped", peer->addr,
                               queued, f->method);
        }
        pool->stats.rejected_slow++;
        return cv_err_setf(err, CV_EUNAVAILABLE, "peer %s is slow: %zu bytes queued", peer->addr,
                           queued);
    }
    size_t frame_len;
    rc = rpc_write_frame(peer->bev, f, pool->opts.max_frame, &frame_len, err);
    if (rc != 0) {
        return rc;
    }
    pool->stats.frames_out++;
    pool->stats.bytes_out += frame_len;
    *peer_out = peer;
    return 0;
}

int rpc_call(struct rpc_pool *pool, const char *addr, const char *method, const void *payload,
             size_t len, int timeout_ms, rpc_done_fn cb, void *arg, struct cv_err *err)
{
    if (!cb || timeout_ms < 0) {
        return cv_err_setf(err, CV_EINVAL, "rpc_call needs a callback and a timeout >= 0");
    }
    struct rpc_frame f = {
        .kind = RPC_FRAME_REQUEST,
        .id = pool->next_id,
        .method = method,
        .payload = payload,
        .payload_len = len,
    };
    /* The timer exists before the frame is queued, so that nothing can fail
     * between queuing and registering. */
    struct pending *p = cv_calloc(1, sizeof *p);
    if (timeout_ms > 0) {
        p->timer = evtimer_new(pool->base, pending_timeout_cb, p);
        if (!p->timer) {
            cv_free(p);
            return cv_err_setf(err, CV_EIO, "cannot create a timer");
        }
    }
    struct peer *peer = NULL;
    int rc = queue_frame(pool, addr, &f, &peer, err);
    if (rc != 0) {
        pending_free(p);
        return rc;
    }
    assert(peer);
    pool->next_id++;
    p->id = f.id;
    p->peer = peer;
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->arg = arg;
    memcpy(p->method, method, f.method_len);
    p->method[f.method_len] = '\0';
    pending_insert(peer, p);
    if (p->timer) {
        struct timeval tv = ms_to_tv(timeout_ms);
        event_add(p->timer, &tv);
    }
    return 0;
}

int rpc_send(struct rpc_pool *pool, const char *addr, const char *method, const void *payload,
             size_t len, struct cv_err *err)
{
    struct rpc_frame f = {
        .kind = RPC_FRAME_MESSAGE,
        .method = method,
        .payload = payload,
        .payload_len = len,
    };
    struct peer *peer = NULL;
    return queue_frame(pool, addr, &f, &peer, err);
}

void rpc_pool_stats(const struct rpc_pool *pool, struct rpc_stats *out)
{
    *out = pool->stats;
    out->conns_open = 0;
    out->queued_bytes = 0;
    for (const struct peer *p = pool->peers; p; p = p->next) {
        out->conns_open++;
        out->queued_bytes += evbuffer_get_length(bufferevent_get_output(p->bev));
    }
}
