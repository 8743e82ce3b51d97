/*
 * http: the blocking HTTP client of the caravan command (see http.h).
 *
 * libevent reports a failed request by calling the done callback with a
 * NULL request (or one without a status) and, before that, the error
 * callback with its own reason (timeout, EOF...), but the socket's error
 * (ECONNREFUSED...) is gone by then. So on a failure other than a timeout
 * the client connects once more by itself, briefly, only to learn why, and
 * reports that: "connection refused to 127.0.0.1:4646".
 */
#include "cli/http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/buf.h"
#include "common/mem.h"

struct exchange
{
    struct event_base *base;
    bool done;
    bool failed;
    bool have_error;
    enum evhttp_request_error error;
    int status;
    uint64_t index;
    struct cv_buf body;
    cli_http_sink sink; /* NULL: keep the body */
    void *sink_arg;
};

/* A 2xx answer's bytes go to the sink as they come; others are kept so
 * the error can be reported. libevent drains the input after this. */
static void on_chunk(struct evhttp_request *req, void *arg)
{
    struct exchange *x = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    int status = evhttp_request_get_response_code(req);
    if (n == 0) {
        return;
    }
    if (status >= 200 && status <= 299) {
        x->sink(evbuffer_pullup(in, (ev_ssize_t)n), n, x->sink_arg);
        return;
    }
    cv_buf_reserve(&x->body, n);
    evbuffer_copyout(in, x->body.data + x->body.len, n);
    x->body.len += n;
    x->body.data[x->body.len] = '\0';
}

static void on_error(enum evhttp_request_error error, void *arg)
{
    struct exchange *x = arg;
    x->have_error = true;
    x->error = error;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct exchange *x = arg;
    x->done = true;
    if (!req || evhttp_request_get_response_code(req) == 0) {
        x->failed = true;
        if (!x->have_error) {
        }
        event_base_loopbreak(x->base);
        return;
    }
    x->status = evhttp_request_get_response_code(req);
    const char *idx = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Nomad-Index");
    if (idx) {
        x->index = strtoull(idx, NULL, 10);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    cv_buf_reserve(&x->body, n);
    if (n > 0) {
        evbuffer_remove(in, x->body.data + x->body.len, n);
        x->body.len += n;
        x->body.data[x->body.len] = '\0';
    }
    event_base_loopbreak(x->base);
}

char *cli_http_escape(const char *s)
{
    struct cv_buf b = CV_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            cv_buf_append_char(&b, (char)*p);
        } else {
            cv_buf_appendf(&b, "%%%02X", *p);
        }
    }
    return cv_buf_take(&b);
}

static enum evhttp_cmd_type method_type(const char *method)
{
    if (strcmp(method, "PUT") == 0) {
        return EVHTTP_REQ_PUT;
    }
    if (strcmp(method, "POST") == 0) {
        return EVHTTP_REQ_POST;
    }
    if (strcmp(method, "DELETE") == 0) {
        return EVHTTP_REQ_DELETE;
    }
    return EVHTTP_REQ_GET;
}

/* Connects to host:port with a short timeout and returns 0 or the errno
 * that stopped it (EHOSTUNREACH, ECONNREFUSED, ETIMEDOUT...). */
static int probe(const char *host, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        return EADDRNOTAVAIL;
    }
    int result = 0;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        result = errno;
        goto out;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            result = errno;
        } else {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 2000) <= 0) {
                result = ETIMEDOUT;
            } else {
                socklen_t len = sizeof result;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &len);
            }
        }
    }
    close(fd);
out:
    freeaddrinfo(res);
    return result;
}

static int failure(const struct cli_ctx *ctx, const struct exchange *x, int timeout_ms,
                   struct cv_err *err)
{
    if (x->have_error && x->error == EVREQ_HTTP_TIMEOUT) {
        return cv_err_setf(err, CV_ETIMEDOUT, "no answer from %s:%d within %d s", ctx->host,
                           ctx->port, (timeout_ms + 999) / 1000);
    }
    int why = probe(ctx->host, ctx->port);
    if (why == EADDRNOTAVAIL) {
        return cv_err_setf(err, CV_EUNAVAILABLE, "cannot resolve %s", ctx->host);
    }
    switch (why) {
    case ECONNREFUSED:
        return cv_err_setf(err, CV_EUNAVAILABLE, "connection refused to %s:%d", ctx->host,
                           ctx->port);
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ETIMEDOUT:
    case ECONNRESET:
        return cv_err_setf(err, CV_EUNAVAILABLE, "%s to %s:%d", strerror(why), ctx->host,
                           ctx->port);
    default:
        return cv_err_setf(err, CV_EUNAVAILABLE, "%s:%d closed the connection without an answer",
                           ctx->host, ctx->port);
    }
}

static int exchange(const struct cli_ctx *ctx, const char *method, const char *path,
                    const char *body, int timeout_ms, cli_http_sink sink, void *sink_arg,
                    struct cli_http_resp *out, struct cv_err *err)
{
    memset(out, 0, sizeof *out);
    struct exchange x = {0};
    cv_buf_init(&x.body);
    x.sink = sink;
    x.sink_arg = sink_arg;
    int rc = 0;
    struct cv_buf uri = CV_BUF_INIT;
    cv_buf_append_str(&uri, path);
    if (ctx->region) {
        char *r = cli_http_escape(ctx->region);
        cv_buf_appendf(&uri, "%cregion=%s", strchr(path, '?') ? '&' : '?', r);
        cv_free(r);
    }

    x.base = event_base_new();
    if (!x.base) {
        rc = cv_err_setf(err, CV_EINTERNAL, "cannot create an event loop");
        goto out_uri;
    }
    struct evhttp_connection *conn =
        evhttp_connection_base_new(x.base, NULL, ctx->host, (unsigned short)ctx->port);
    if (!conn) {
        rc = cv_err_setf(err, CV_EUNAVAILABLE, "cannot resolve %s", ctx->host);
        goto out_base;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_retries(conn, 0);

    /* The request belongs to the connection once made, even when making
     * it fails. */
    struct evhttp_request *req = evhttp_request_new(on_done, &x);
    evhttp_request_set_error_cb(req, on_error);
    if (sink) {
        evhttp_request_set_chunked_cb(req, on_chunk);
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", ctx->host, ctx->port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "User-Agent", "caravan/" CARAVAN_VERSION);
    evhttp_add_header(h, "Accept", "application/json");
    if (ctx->token) {
        evhttp_add_header(h, "X-Nomad-Token", ctx->token);
    }
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    if (evhttp_make_request(conn, req, method_type(method), cv_buf_str(&uri)) != 0) {
        rc = cv_err_setf(err, CV_EUNAVAILABLE, "cannot send the request to %s", hostport);
        goto out_conn;
    }
    event_base_dispatch(x.base);
    if (!x.done || x.failed) {
        rc = failure(ctx, &x, timeout_ms, err);
        goto out_conn;
    }
    out->status = x.status;
    out->index = x.index;
    out->len = x.body.len;
    out->body = cv_buf_take(&x.body);

out_conn:
    evhttp_connection_free(conn);
out_base:
    event_base_free(x.base);
out_uri:
    cv_buf_free(&uri);
    cv_buf_free(&x.body);
    return rc;
}

int cli_http_request(const struct cli_ctx *ctx, const char *method, const char *path,
                     const char *body, int timeout_ms, struct cli_http_resp *out,
                     struct cv_err *err)
{
    return exchange(ctx, method, path, body, timeout_ms, NULL, NULL, out, err);
}

int cli_http_stream(const struct cli_ctx *ctx, const char *path, int timeout_ms, cli_http_sink sink,
                    void *arg, struct cli_http_resp *out, struct cv_err *err)
{
    return exchange(ctx, "GET", path, NULL, timeout_ms, sink, arg, out, err);
}

void cli_http_resp_free(struct cli_http_resp *r)
{
    cv_free(r->body);
    r->body = NULL;
}
