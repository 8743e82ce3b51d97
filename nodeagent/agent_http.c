/*
 * agent_http: the node agent's HTTP API (docs/nodeagent.md, "The HTTP API").
 *
 * One endpoint so far, Nomad's log reader:
 *
 *   GET /v1/client/fs/logs/<alloc id>?task=T&type=stdout|stderr
 *       [&origin=start|end][&offset=N][&follow=true]
 *
 * answers the task's log as plain text (Nomad frames it in JSON; we do
 * not): the rotated files <task>.<type>.1 .. .N, oldest first, then the
 * live .0 (logs.h). origin=start skips the first `offset` bytes,
 * origin=end gives the last `offset` bytes. follow=true keeps the answer
 * open as a chunked reply: every 250 ms the stream sends what was written
 * since (following a rotation: what the old live file had beyond the
 * position sent is read from its rotated copy), and ends once the task is
 * dead and nothing more came, or the client goes away.
 *
 * Only paths the agent makes itself are ever opened: the allocation must
 * be one the agent runs (its ID a UUID in the agent's table), the task one
 * of that allocation's tasks, the type one of two words.
 */
#include <sys/queue.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/log.h"
#include "common/mem.h"
#include "nodeagent/agent_internal.h"

#define LOGS_PREFIX        "/v1/client/fs/logs/"
#define FOLLOW_INTERVAL_MS 250
/* At most this much is read per answer or per follow tick, so a slow
 * client or a huge log cannot grow the agent's memory without bound. */
#define READ_MAX_BYTES (64 * 1024 * 1024)
#define TICK_MAX_BYTES (1024 * 1024)
#define MAX_ROTATED    4096

struct log_stream
{
    struct agent_http *h;
    struct log_stream *prev, *next;
    struct evhttp_request *req;
    struct event *tick;
    char alloc_id[CV_UUID_LEN + 1];
    char *task;
    char *base;       /* <logs dir>/<task>.<type>. */
    int max_index;    /* highest rotated index seen */
    int64_t live_off; /* bytes of .0 already sent */
};

struct agent_http
{
    struct agent *a;
    struct evhttp *http;
    struct log_stream *streams;
};

/* ---- the files of one log -------------------------------------------------------- */

/* The rotated indices of `base` ("<dir>/<task>.stdout."), sorted ascending,
 * into idx (at most max); returns how many. */
static size_t rotated(const char *base, int *idx, size_t max)
{
    const char *slash = strrchr(base, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - base), base);
    const char *prefix = slash + 1;
    size_t plen = strlen(prefix);
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && n < max && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, plen) != 0) {
            continue;
        }
        const char *num = de->d_name + plen;
        char *end = NULL;
        long v = strtol(num, &end, 10);
        if (*num < '1' || *num > '9' || *end != '\0' || v < 1 || v > INT_MAX) {
            continue;
        }
        size_t k = n++;
        while (k > 0 && idx[k - 1] > (int)v) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = (int)v;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Appends path's bytes [off, off+limit) to out; returns how many. */
static int64_t read_range(const char *path, int64_t off, int64_t limit, struct evbuffer *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return 0;
    }
    int64_t total = 0;
    char buf[65536];
    while (total < limit) {
        size_t want = (size_t)(limit - total) < sizeof buf ? (size_t)(limit - total) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)(off + total));
        if (n <= 0) {
            break;
        }
        evbuffer_add(out, buf, (size_t)n);
        total += n;
    }
    close(fd);
    return total;
}

static void index_path(const char *base, int i, char *out, size_t size)
{
    snprintf(out, size, "%s%d", base, i);
}

/* The whole log from logical byte `skip` on (at most READ_MAX_BYTES) into
 * out; records where a follow continues in s (may be NULL). */
static void read_log(const char *base, int64_t skip, bool from_end, struct evbuffer *out,
                     struct log_stream *s)
{
    static int idx[MAX_ROTATED];
    size_t n = rotated(base, idx, MAX_ROTATED);
    char path[PATH_MAX];
    int64_t total = 0;
    for (size_t i = 0; i <= n; i++) {
        index_path(base, i < n ? idx[i] : 0, path, sizeof path);
        total += file_size(path);
    }
    if (from_end) {
        skip = skip >= total ? 0 : total - skip;
    }
    int64_t budget = READ_MAX_BYTES;
    int64_t live_off = 0;
    for (size_t i = 0; i <= n; i++) {
        index_path(base, i < n ? idx[i] : 0, path, sizeof path);
        int64_t size = file_size(path);
        int64_t from = skip < size ? skip : size;
        skip -= from;
        int64_t got = read_range(path, from, budget < size - from ? budget : size - from, out);
        budget -= got;
        if (i == n) {
            live_off = from + got;
        }
    }
    if (s) {
        s->max_index = n > 0 ? idx[n - 1] : 0;
        s->live_off = live_off;
    }
}

/* What was written since the last tick, into out. */
static void read_new(struct log_stream *s, struct evbuffer *out)
{
    static int idx[MAX_ROTATED];
    size_t n = rotated(s->base, idx, MAX_ROTATED);
    char path[PATH_MAX];
    int64_t budget = TICK_MAX_BYTES;
    /* Rotated since: the old live file's rest is in the first new copy,
     * later copies are whole. */
    for (size_t i = 0; i < n && budget > 0; i++) {
        if (idx[i] <= s->max_index) {
            continue;
        }
        index_path(s->base, idx[i], path, sizeof path);
        int64_t size = file_size(path);
        int64_t from = s->live_off < size ? s->live_off : size;
        int64_t got = read_range(path, from, budget < size - from ? budget : size - from, out);
        budget -= got;
        if (from + got < size) {
            s->live_off = from + got; /* over budget: resume in this copy */
            return;
        }
        s->max_index = idx[i];
        s->live_off = 0;
    }
    index_path(s->base, 0, path, sizeof path);
    int64_t size = file_size(path);
    if (size < s->live_off) {
        s->live_off = 0; /* truncated and its copy gone: start over */
    }
    if (budget > 0) {
        s->live_off += read_range(path, s->live_off, budget, out);
    }
}

/* ---- follow streams ------------------------------------------------------------------ */

static void stream_free(struct log_stream *s)
{
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        s->h->streams = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    event_free(s->tick);
    cv_free(s->task);
    cv_free(s->base);
    cv_free(s);
}

static void on_stream_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    stream_free(arg);
}

/* Ends the reply: the connection no longer reports to the stream. */
static void stream_end(struct log_stream *s)
{
    evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
    evhttp_send_reply_end(s->req);
    stream_free(s);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct log_stream *s = arg;
    struct agent_alloc_runner *ar = agent_watch_find(s->h->a, s->alloc_id);
    bool done = true;
    if (ar) {
        agent_alloc_runner_task(ar, s->task, &done);
    }
    struct evbuffer *out = evbuffer_new();
    read_new(s, out);
    size_t n = evbuffer_get_length(out);
    if (n > 0) {
        evhttp_send_reply_chunk(s->req, out);
    }
    evbuffer_free(out);
    if (done && n == 0) {
        stream_end(s);
        return;
    }
    agent_timer_ms(s->tick, n >= TICK_MAX_BYTES ? 0 : FOLLOW_INTERVAL_MS);
}

/* ---- the request ---------------------------------------------------------------------- */

static void send_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", msg);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void serve_logs(struct agent_http *h, struct evhttp_request *req, const char *alloc_id,
                       const char *query)
{
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query ? query : "", &q) != 0) {
        send_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *task = evhttp_find_header(&q, "task");
    const char *type = evhttp_find_header(&q, "type");
    const char *origin = evhttp_find_header(&q, "origin");
    const char *offset = evhttp_find_header(&q, "offset");
    const char *follow = evhttp_find_header(&q, "follow");
    char msg[256];
    struct agent_alloc_runner *ar = NULL;
    bool done = true;
    int64_t off = 0;
    if (cv_uuid_valid(alloc_id)) {
        ar = agent_watch_find(h->a, alloc_id);
    }
    if (!ar) {
        send_error(req, 404, "Not Found", "unknown allocation");
        goto out;
    }
    if (!task || !*task) {
        send_error(req, 400, "Bad Request", "missing task name (?task=)");
        goto out;
    }
    if (strchr(task, '/') || task[0] == '.' || !agent_alloc_runner_task(ar, task, &done)) {
        snprintf(msg, sizeof msg, "unknown task \"%.100s\" in allocation %s", task, alloc_id);
        send_error(req, 404, "Not Found", msg);
        goto out;
    }
    if (!type || (strcmp(type, "stdout") != 0 && strcmp(type, "stderr") != 0)) {
        snprintf(msg, sizeof msg, "type: must be stdout or stderr, got \"%.100s\"",
                 type ? type : "");
        send_error(req, 400, "Bad Request", msg);
        goto out;
    }
    if (origin && strcmp(origin, "start") != 0 && strcmp(origin, "end") != 0) {
        snprintf(msg, sizeof msg, "origin: must be start or end, got \"%.100s\"", origin);
        send_error(req, 400, "Bad Request", msg);
        goto out;
    }
    if (offset) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(offset, &end, 10);
        if (!*offset || *end || errno || v < 0) {
            snprintf(msg, sizeof msg, "offset: expected a byte count, got \"%.100s\"", offset);
            send_error(req, 400, "Bad Request", msg);
            goto out;
        }
        off = v;
    }
    if (follow && strcmp(follow, "true") != 0 && strcmp(follow, "false") != 0) {
        snprintf(msg, sizeof msg, "follow: must be true or false, got \"%.100s\"", follow);
        send_error(req, 400, "Bad Request", msg);
        goto out;
    }
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/alloc/%s/alloc/logs/%s.%s.", h->a->cfg->data_dir, alloc_id,
             task, type);
    bool from_end = origin && strcmp(origin, "end") == 0;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", "text/plain; charset=utf-8");
    struct evbuffer *body = evbuffer_new();
    if (!follow || strcmp(follow, "true") != 0) {
        read_log(base, off, from_end, body, NULL);
        evhttp_send_reply(req, 200, "OK", body);
        evbuffer_free(body);
        goto out;
    }
    struct log_stream *s = cv_calloc(1, sizeof *s);
    s->h = h;
    s->req = req;
    snprintf(s->alloc_id, sizeof s->alloc_id, "%s", alloc_id);
    s->task = cv_strdup(task);
    s->base = cv_strdup(base);
    s->tick = evtimer_new(h->a->base, on_tick, s);
    read_log(base, off, from_end, body, s);
    s->next = h->streams;
    if (s->next) {
        s->next->prev = s;
    }
    h->streams = s;
    evhttp_send_reply_start(req, 200, "OK");
    if (evbuffer_get_length(body) > 0) {
        evhttp_send_reply_chunk(req, body);
    }
    evbuffer_free(body);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_stream_closed, s);
    agent_timer_ms(s->tick, FOLLOW_INTERVAL_MS);
out:
    evhttp_clear_headers(&q);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct agent_http *h = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || strncmp(path, LOGS_PREFIX, strlen(LOGS_PREFIX)) != 0) {
        send_error(req, 404, "Not Found", "no such endpoint");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        send_error(req, 405, "Method Not Allowed", "method not allowed: use GET");
        return;
    }
    serve_logs(h, req, path + strlen(LOGS_PREFIX), evhttp_uri_get_query(uri));
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int agent_http_start(struct agent *a, struct cv_err *err)
{
    (void)err;
    const struct agent_config *cfg = a->cfg;
    if (cfg->http_port == 0) {
        return 0;
    }
    struct agent_http *h = cv_calloc(1, sizeof *h);
    h->a = a;
    h->http = evhttp_new(a->base);
    if (!h->http) {
        cv_free(h);
        return cv_err_setf(err, CV_EINTERNAL, "http: cannot create the server");
    }
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    if (!evhttp_bind_socket_with_handle(h->http, cfg->bind_addr, (ev_uint16_t)cfg->http_port)) {
        /* Not fatal: the node still runs its tasks (several agents on one
         * host, e.g. in tests, would otherwise need a port each); it only
         * registers no HTTPAddr, so `alloc logs` says so. */
        int e = errno;
        evhttp_free(h->http);
        cv_free(h);
        cv_log(CV_LOG_ERROR, "agent", "http: cannot listen, running without the HTTP API",
               "addr=%s:%d error=\"%s\"", cfg->bind_addr, cfg->http_port,
               e ? strerror(e) : "bad address");
        return 0;
    }
    evhttp_set_gencb(h->http, on_request, h);
    a->http = h;
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", cfg->bind_addr, cfg->http_port);
    cv_free(a->node->http_addr);
    a->node->http_addr = cv_strdup(addr);
    cv_log(CV_LOG_INFO, "agent", "http listening", "addr=%s", addr);
    return 0;
}

void agent_http_free(struct agent *a)
{
    struct agent_http *h = a->http;
    if (!h) {
        return;
    }
    while (h->streams) {
        struct log_stream *s = h->streams;
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
        stream_free(s);
    }
    evhttp_free(h->http);
    cv_free(h);
    a->http = NULL;
}
