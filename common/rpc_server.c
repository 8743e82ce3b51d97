/*
 * rpc_server: the server side of rpc.h: a listener, a table of handlers by
 * method name, and one `struct sconn` per accepted connection.
 *
 * Frames are read as they arrive and dispatched in order. A request gets a
 * `struct rpc_call` that the handler owns until rpc_reply; the call holds a
 * reference on its connection, so the connection's memory outlives the
 * socket: when the socket is gone (peer closed, error, server freed),
 * `bev` is NULL and a late rpc_reply drops its reply and frees the call.
 * This is what makes asynchronous replies (after a Raft commit, say) safe
 * without the handler watching connections.
 *
 * Back pressure: after each reply, a connection whose unsent output is over
 * high_water stops being read (frames already buffered wait too); the
 * write callback, run when the output falls to low_water, resumes reading
 * and dispatches what was buffered. Reading is also capped at one frame of
 * the limit (read watermark), so a connection holds at most about
 * max_frame of input and high_water + one reply of output.
 *
 * A malformed frame closes the connection, politely: the server queues a
 * response with id 0 carrying the reason (so the client can report it),
 * stops dispatching, flushes its output, shuts down its sending side and
 * discards input until the client closes or RPC_LINGER_MS pass. Reading
 * to the end keeps the kernel from answering unread bytes with a reset
 * that could destroy the notice before the client reads it.
 */
#include "common/rpc.h"

#include <assert.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/rpc_internal.h"

/* How long a connection closed for a protocol error may take to flush its
 * notice before it is cut. */
#define RPC_LINGER_MS  1000
#define LISTEN_BACKLOG 128
/* How long accepting pauses when the process is out of file descriptors. */
#define ACCEPT_RETRY_MS 100

struct handler
{
    char *method;
    rpc_handler_fn fn;
    void *arg;
};

struct sconn
{
    unsigned refs;             /* one while open, plus one per outstanding call */
    struct rpc_server *server; /* NULL once the server is freed */
    struct bufferevent *bev;   /* NULL once closed */
    struct event *linger;      /* closing: cuts the connection after RPC_LINGER_MS */
    struct sconn *prev, *next; /* in server->conns while open, then in
                                  server->zombies while calls hold it */
    bool zombie;
    char peer[RPC_ADDR_MAX];
    bool paused;  /* reading stopped for back pressure */
    bool closing; /* a protocol error: flushing the notice, discarding input */
    bool shut;    /* closing, and the sending side is shut down */
    bool eof;     /* closing, and the client has finished sending */
};

struct rpc_call
{
    struct sconn *conn;
    uint64_t id;
    bool message;
    char method[RPC_METHOD_MAX + 1];
};

struct rpc_server
{
    struct event_base *base;
    struct rpc_server_options opts;
    struct evconnlistener *listener;
    struct event *accept_retry; /* re-enables the listener after EMFILE */
    uint16_t port;
    char addr[RPC_ADDR_MAX];
    struct handler *handlers;
    size_t nhandlers;
    struct sconn *conns; /* open connections */
    size_t nconns;
    struct sconn *zombies; /* closed, still held by calls (to count their dropped replies) */
    struct rpc_stats stats;
    int handler_depth; /* > 0 while a handler runs */
};

void rpc_server_options_init(struct rpc_server_options *o)
{
    o->max_frame = RPC_DEFAULT_MAX_FRAME;
    o->high_water = RPC_DEFAULT_HIGH_WATER;
    o->low_water = RPC_DEFAULT_HIGH_WATER / 4;
    o->max_conns = RPC_DEFAULT_MAX_CONNS;
}

/* ---- connections ---------------------------------------------------------- */

static void list_remove(struct sconn **head, struct sconn *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        assert(*head == c);
        *head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

static void list_push(struct sconn **head, struct sconn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head) {
        (*head)->prev = c;
    }
    *head = c;
}

static void sconn_unref(struct sconn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) {
        assert(!c->bev);
        if (c->zombie) {
            assert(c->server);
            list_remove(&c->server->zombies, c);
        }
        cv_free(c);
    }
}

/* Closes the socket and takes the connection out of the open list; calls
 * still holding it keep its memory alive. */
static void sconn_close(struct sconn *c)
{
    struct rpc_server *s = c->server;
    assert(s && c->bev);
    list_remove(&s->conns, c);
    s->nconns--;
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->linger) {
        event_free(c->linger);
        c->linger = NULL;
    }
    if (c->refs > 1) {
        c->zombie = true;
        list_push(&s->zombies, c);
    }
    sconn_unref(c);
}

static void sconn_maybe_pause(struct sconn *c)
{
    struct rpc_server *s = c->server;
    size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    if (!c->paused && queued > s->opts.high_water) {
        c->paused = true;
        bufferevent_disable(c->bev, EV_READ);
        s->stats.pauses++;
        cv_log(CV_LOG_DEBUG, RPC_LOG, "paused reading", "peer=%s queued=%zu", c->peer, queued);
    }
}

/* Queues a response. One too big for a frame is replaced by a CV_ETOOBIG
 * error, so the client is told instead of waiting for its timeout. */
static int sconn_respond(struct sconn *c, uint64_t id, int status, const char *msg, size_t msg_len,
                         const void *payload, size_t len)
{
    struct rpc_server *s = c->server;
    struct rpc_frame f = {
        .kind = RPC_FRAME_RESPONSE,
        .id = id,
        .status = status,
        .err_msg = msg,
        .err_msg_len = status ? msg_len : 0,
        .payload = payload,
        .payload_len = len,
    };
    size_t frame_len;
    struct cv_err e;
    cv_err_clear(&e);
    int rc = rpc_write_frame(c->bev, &f, s->opts.max_frame, &frame_len, &e);
    int ret = rc;
    if (rc == CV_ETOOBIG) {
        char big[RPC_ERR_MSG_MAX];
        int n = snprintf(big, sizeof big, "reply of %zu bytes is over the frame limit of %zu bytes",
                         RPC_FRAME_HEADER_SIZE + f.err_msg_len + len, s->opts.max_frame);
        struct rpc_frame g = {
            .kind = RPC_FRAME_RESPONSE,
            .id = id,
            .status = CV_ETOOBIG,
            .err_msg = big,
            .err_msg_len = (size_t)n,
        };
        cv_log(CV_LOG_WARN, RPC_LOG, "reply too big", "peer=%s reason=\"%s\"", c->peer, big);
        rc = rpc_write_frame(c->bev, &g, s->opts.max_frame, &frame_len, &e);
    }
    if (rc != 0) {
        cv_log(CV_LOG_ERROR, RPC_LOG, "cannot queue reply", "peer=%s reason=\"%s\"", c->peer,
               e.msg);
        s->stats.drops++;
        return rc;
    }
    s->stats.frames_out++;
    s->stats.bytes_out += frame_len;
    sconn_maybe_pause(c);
    return ret;
}

static void sconn_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sconn_close(arg);
}

/* Closes the connection for a protocol error, telling the client why
 * first (see the top of the file). Returns false when the connection was
 * closed at once (`c` may be gone). */
static bool sconn_goodbye(struct sconn *c, int code, const char *reason)
{
    struct rpc_server *s = c->server;
    s->stats.protocol_errors++;
    s->stats.conns_failed++;
    cv_log(CV_LOG_WARN, RPC_LOG, "closing connection", "peer=%s reason=\"%s\"", c->peer, reason);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->closing = true;
    c->paused = false;
    size_t len = strlen(reason);
    struct rpc_frame f = {
        .kind = RPC_FRAME_RESPONSE,
        .id = 0,
        .status = code,
        .err_msg = reason,
        .err_msg_len = len < RPC_ERR_MSG_MAX ? len : RPC_ERR_MSG_MAX,
    };
    c->linger = evtimer_new(s->base, sconn_linger_cb, c);
    if (!c->linger || rpc_write_frame(c->bev, &f, s->opts.max_frame, NULL, NULL) != 0) {
        sconn_close(c);
        return false;
    }
    struct timeval tv = {.tv_sec = RPC_LINGER_MS / 1000,
                         .tv_usec = (long)(RPC_LINGER_MS % 1000) * 1000};
    event_add(c->linger, &tv);
    /* The write callback now runs when the output is empty. */
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return true;
}

static const struct handler *find_handler(const struct rpc_server *s, const char *method)
{
    for (size_t i = 0; i < s->nhandlers; i++) {
        if (strcmp(s->handlers[i].method, method) == 0) {
            return &s->handlers[i];
        }
    }
    return NULL;
}

static void sconn_dispatch(struct sconn *c, const struct rpc_frame *f)
{
    struct rpc_server *s = c->server;
    if (f->kind == RPC_FRAME_RESPONSE) {
        sconn_goodbye(c, CV_EPARSE, "unexpected response frame from a client");
        return;
    }
    struct rpc_call *call = cv_malloc(sizeof *call);
    call->conn = c;
    call->id = f->id;
    call->message = f->kind == RPC_FRAME_MESSAGE;
    memcpy(call->method, f->method, f->method_len);
    call->method[f->method_len] = '\0';
    const struct handler *h = find_handler(s, call->method);
    if (!h) {
        if (call->message) {
            s->stats.drops++;
            cv_log(CV_LOG_DEBUG, RPC_LOG, "message for unknown method", "peer=%s method=%s",
                   c->peer, call->method);
        } else {
            char msg[RPC_ERR_MSG_MAX];
            int n = snprintf(msg, sizeof msg, "unknown method \"%s\"", call->method);
            sconn_respond(c, f->id, CV_ENOTFOUND, msg, (size_t)n, NULL, 0);
        }
        cv_free(call);
        return;
    }
    rpc_handler_fn fn = h->fn;
    void *arg = h->arg;
    /* A request's call may be freed by the handler (rpc_reply): only a
     * message's call is still ours when it returns. */
    bool message = call->message;
    c->refs++;
    s->handler_depth++;
    fn(call, f->payload_len ? f->payload : NULL, f->payload_len, arg);
    s->handler_depth--;
    if (message) {
        sconn_unref(c);
        cv_free(call);
    }
}

/* Dispatches every whole frame in the input, unless paused or closing. */
static void sconn_process(struct sconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->closing) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    /* Held so that `c` can be checked after a close (allocation failure
     * while saying goodbye) without being freed under us. */
    c->refs++;
    while (c->bev && !c->paused && !c->closing) {
        struct rpc_server *s = c->server;
        struct rpc_frame f;
        size_t frame_len = 0;
        struct cv_err e;
        cv_err_clear(&e);
        int rc = rpc_read_frame(in, s->opts.max_frame, &f, &frame_len, &e);
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            sconn_goodbye(c, rc, e.msg);
            break;
        }
        s->stats.frames_in++;
        s->stats.bytes_in += frame_len;
        /* Handlers and replies cannot close the connection, so the frame,
         * which points into the input buffer, stays valid throughout. */
        sconn_dispatch(c, &f);
        if (!c->bev || c->closing) {
            break;
        }
        evbuffer_drain(in, frame_len);
    }
    sconn_unref(c);
}

static void sconn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    sconn_process(arg);
}

static void sconn_write_cb(struct bufferevent *bev, void *arg)
{
    struct sconn *c = arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    if (c->closing) {
        if (evbuffer_get_length(out) > 0) {
            return;
        }
        if (c->eof) {
            sconn_close(c);
        } else if (!c->shut) {
            c->shut = true;
            shutdown(bufferevent_getfd(bev), SHUT_WR);
        }
        return;
    }
    if (c->paused && evbuffer_get_length(out) <= c->server->opts.low_water) {
        c->paused = false;
        bufferevent_enable(bev, EV_READ);
        cv_log(CV_LOG_DEBUG, RPC_LOG, "resumed reading", "peer=%s", c->peer);
        /* Frames that arrived before the pause are already buffered: no
         * read event will announce them. */
        sconn_process(c);
    }
}

static void sconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    int error = EVUTIL_SOCKET_ERROR();
    struct sconn *c = arg;
    struct rpc_server *s = c->server;
    if (c->closing) {
        if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
            /* The client finished sending; the notice may still go out. */
            c->eof = true;
            bufferevent_disable(bev, EV_READ);
            return;
        }
        sconn_close(c);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        size_t partial = evbuffer_get_length(bufferevent_get_input(bev));
        if (partial > 0 && !c->paused) {
            char reason[128];
            snprintf(reason, sizeof reason,
                     "truncated frame: connection closed after %zu bytes of a frame", partial);
            if (sconn_goodbye(c, CV_EPARSE, reason)) {
                /* nothing more will come: close once the notice is out */
                c->eof = true;
                bufferevent_disable(bev, EV_READ);
            }
            return;
        }
        cv_log(CV_LOG_DEBUG, RPC_LOG, "connection closed by peer", "peer=%s", c->peer);
    } else {
        s->stats.conns_failed++;
        cv_log(CV_LOG_INFO, RPC_LOG, "connection lost", "peer=%s reason=\"%s\"", c->peer,
               evutil_socket_error_to_string(error));
    }
    sconn_close(c);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)listener;
    (void)socklen;
    struct rpc_server *s = arg;
    char peer[RPC_ADDR_MAX];
    rpc_addr_format(sa, peer, sizeof peer);
    if (s->nconns >= s->opts.max_conns) {
        s->stats.conns_rejected++;
        cv_log(CV_LOG_WARN, RPC_LOG, "too many connections", "peer=%s max_conns=%zu", peer,
               s->opts.max_conns);
        close(fd);
        return;
    }
    struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        cv_log(CV_LOG_ERROR, RPC_LOG, "cannot set up connection", "peer=%s", peer);
        close(fd);
        return;
    }
    /* LEV_OPT_CLOSE_ON_EXEC covers the listener; make sure of the
     * connection too, so that tasks forked by the process inherit none. */
    evutil_make_socket_closeonexec(fd);
    rpc_socket_tune(fd);
    struct sconn *c = cv_calloc(1, sizeof *c);
    c->refs = 1;
    c->server = s;
    c->bev = bev;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    list_push(&s->conns, c);
    s->nconns++;
    s->stats.conns_opened++;
    bufferevent_setcb(bev, sconn_read_cb, sconn_write_cb, sconn_event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, s->opts.max_frame);
    bufferevent_setwatermark(bev, EV_WRITE, s->opts.low_water, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    cv_log(CV_LOG_DEBUG, RPC_LOG, "accepted connection", "peer=%s", peer);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rpc_server *s = arg;
    evconnlistener_enable(s->listener);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
    int error = EVUTIL_SOCKET_ERROR();
    struct rpc_server *s = arg;
    cv_log(CV_LOG_WARN, RPC_LOG, "accept failed", "addr=%s error=\"%s\"", s->addr,
           evutil_socket_error_to_string(error));
    if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        /* The pending connection stays in the queue and the listener stays
         * readable: without a pause this would spin. */
        evconnlistener_disable(listener);
        struct timeval tv = {.tv_sec = 0, .tv_usec = (long)ACCEPT_RETRY_MS * 1000};
        event_add(s->accept_retry, &tv);
    }
}

/* ---- the server ------------------------------------------------------------- */

int rpc_server_new(struct event_base *base, const struct rpc_server_options *opts,
                   struct rpc_server **out, struct cv_err *err)
{
    struct rpc_server_options o;
    if (opts) {
        o = *opts;
    } else {
        rpc_server_options_init(&o);
    }
    if (!base) {
        return cv_err_setf(err, CV_EINVAL, "no event base");
    }
    if (o.max_frame < RPC_MIN_MAX_FRAME || o.max_frame > RPC_MAX_MAX_FRAME) {
        return cv_err_setf(err, CV_EINVAL, "max_frame %zu is not between %zu and %zu", o.max_frame,
                           RPC_MIN_MAX_FRAME, RPC_MAX_MAX_FRAME);
    }
    if (o.high_water == 0 || o.low_water >= o.high_water) {
        return cv_err_setf(err, CV_EINVAL,
                           "low_water (%zu) must be below high_water (%zu), which must be positive",
                           o.low_water, o.high_water);
    }
    if (o.max_conns == 0) {
        return cv_err_setf(err, CV_EINVAL, "max_conns must be positive");
    }
    struct rpc_server *s = cv_calloc(1, sizeof *s);
    s->base = base;
    s->opts = o;
    *out = s;
    return 0;
}

int rpc_server_listen(struct rpc_server *s, const char *addr, struct cv_err *err)
{
    if (s->listener) {
        return cv_err_setf(err, CV_EINVAL, "already listening on %s", s->addr);
    }
    struct sockaddr_storage ss;
    int sslen;
    int rc = rpc_addr_parse(addr, true, &ss, &sslen, err);
    if (rc != 0) {
        return rc;
    }
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        return cv_err_setf(err, CV_EIO, "cannot listen on %s: %s", addr, rpc_socket_error());
    }
    if (evutil_make_socket_nonblocking(fd) != 0 || evutil_make_socket_closeonexec(fd) != 0 ||
        evutil_make_listen_socket_reuseable(fd) != 0) {
        rc = cv_err_setf(err, CV_EIO, "cannot listen on %s: %s", addr, rpc_socket_error());
        goto err_after_fd;
    }
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) != 0) {
        int e = errno;
        if (e == EADDRINUSE) {
            rc = cv_err_setf(err, CV_EUNAVAILABLE, "address %s already in use", addr);
        } else if (e == EADDRNOTAVAIL) {
            rc = cv_err_setf(err, CV_EUNAVAILABLE, "address %s is not available on this machine",
                             addr);
        } else {
            rc = cv_err_setf(err, CV_EIO, "cannot listen on %s: %s", addr, strerror(e));
        }
        goto err_after_fd;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        rc = cv_err_setf(
            err, e == EADDRINUSE ? CV_EUNAVAILABLE : CV_EIO,
            e == EADDRINUSE ? "address %s already in use: %s" : "cannot listen on %s: %s", addr,
            strerror(e));
        goto err_after_fd;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        rc = cv_err_setf(err, CV_EIO, "cannot listen on %s: %s", addr, rpc_socket_error());
        goto err_after_fd;
    }
    s->listener = evconnlistener_new(s->base, accept_cb, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!s->listener) {
        rc = cv_err_setf(err, CV_EIO, "cannot listen on %s: %s", addr, rpc_socket_error());
        goto err_after_fd;
    }
    s->accept_retry = evtimer_new(s->base, accept_retry_cb, s);
    if (!s->accept_retry) {
        evconnlistener_free(s->listener); /* closes fd */
        s->listener = NULL;
        return cv_err_setf(err, CV_EIO, "cannot listen on %s: no timer", addr);
    }
    evconnlistener_set_error_cb(s->listener, accept_error_cb);
    rpc_addr_format((struct sockaddr *)&bound, s->addr, sizeof s->addr);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    cv_log(CV_LOG_INFO, RPC_LOG, "listening", "addr=%s", s->addr);
    return 0;

err_after_fd:
    close(fd);
    return rc;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    return s->port;
}

int rpc_server_handle(struct rpc_server *s, const char *method, rpc_handler_fn fn, void *arg,
                      struct cv_err *err)
{
    size_t len = method ? strlen(method) : 0;
    if (len == 0 || len > RPC_METHOD_MAX || !fn) {
        return cv_err_setf(err, CV_EINVAL,
                           "a handler needs a function and a method name of 1 "
                           "to %d bytes",
                           RPC_METHOD_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)method[i];
        if (ch < 0x21 || ch > 0x7e) {
            return cv_err_setf(err, CV_EINVAL,
                               "method name \"%s\" has a space or a non-printable byte", method);
        }
    }
    if (find_handler(s, method)) {
        return cv_err_setf(err, CV_EEXIST, "a handler for %s is already registered", method);
    }
    s->handlers = cv_reallocarray(s->handlers, s->nhandlers + 1, sizeof *s->handlers);
    s->handlers[s->nhandlers++] =
        (struct handler){.method = cv_strdup(method), .fn = fn, .arg = arg};
    return 0;
}

void rpc_server_free(struct rpc_server *s)
{
    if (!s) {
        return;
    }
    /* Freeing the server from a handler would close the connection whose
     * frame is being dispatched. */
    assert(s->handler_depth == 0);
    if (s->listener) {
        evconnlistener_free(s->listener);
        event_free(s->accept_retry);
    }
    while (s->conns) {
        sconn_close(s->conns);
    }
    /* Calls outlive the server: they see a closed connection and no server. */
    while (s->zombies) {
        struct sconn *c = s->zombies;
        list_remove(&s->zombies, c);
        c->zombie = false;
        c->server = NULL;
    }
    for (size_t i = 0; i < s->nhandlers; i++) {
        cv_free(s->handlers[i].method);
    }
    cv_free(s->handlers);
    cv_free(s);
}

void rpc_server_stats(const struct rpc_server *s, struct rpc_stats *out)
{
    *out = s->stats;
    out->conns_open = s->nconns;
    out->queued_bytes = 0;
    for (const struct sconn *c = s->conns; c; c = c->next) {
        out->queued_bytes += evbuffer_get_length(bufferevent_get_output(c->bev));
    }
}

/* ---- calls -------------------------------------------------------------------- */

int rpc_reply(struct rpc_call *call, int status, const char *err_msg, const void *payload,
              size_t len)
{
    if (call->message) {
        return 0; /* freed by the dispatcher when the handler returns */
    }
    struct sconn *c = call->conn;
    int rc;
    if (!c->bev || c->closing) {
        if (c->server) { /* NULL once the server is freed */
            c->server->stats.drops++;
        }
        rc = CV_EUNAVAILABLE;
    } else {
        char bad[64];
        if (status > 0 || status < -0xFFFF) {
            snprintf(bad, sizeof bad, "handler replied with invalid status %d", status);
            cv_log(CV_LOG_ERROR, RPC_LOG, "invalid reply status", "method=%s status=%d",
                   call->method, status);
            status = CV_EINTERNAL;
            err_msg = bad;
        }
        size_t msg_len = err_msg ? strnlen(err_msg, RPC_ERR_MSG_MAX) : 0;
        rc = sconn_respond(c, call->id, status, err_msg, msg_len, payload, len);
    }
    sconn_unref(c);
    cv_free(call);
    return rc;
}

const char *rpc_call_method(const struct rpc_call *call)
{
    return call->method;
}

bool rpc_call_is_message(const struct rpc_call *call)
{
    return call->message;
}

const char *rpc_call_peer(const struct rpc_call *call)
{
    return call->conn->peer;
}
