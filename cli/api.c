/*
 * api: requests with one-line errors, JSON access and Nomad's formats for
 * the caravan command (see api.h).
 */
#include "cli/api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/http.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/jsongen.h"
#include "common/mem.h"

/* The server's error text on one line: newlines become "; ", trailing
 * space goes, an HTML page (libevent's own 4xx) is dropped. */
static void one_line(const char *body, char *out, size_t size)
{
    size_t o = 0;
    const char *p = body ? body : "";
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
        p++;
    }
    if (*p == '<') {
        out[0] = '\0';
        return;
    }
    for (; *p && o + 3 < size; p++) {
        if (*p == '\n' || *p == '\r') {
            while (p[1] == '\n' || p[1] == '\r' || p[1] == ' ' || p[1] == '\t') {
                p++;
            }
            if (p[1]) {
                out[o++] = ';';
                out[o++] = ' ';
            }
        } else {
            out[o++] = *p == '\t' ? ' ' : *p;
        }
    }
    while (o > 0 && out[o - 1] == ' ') {
        o--;
    }
    out[o] = '\0';
}

static int call(const struct cli_ctx *ctx, const char *what, const char *method, const char *path,
                const char *body, int timeout_ms, struct cli_reply *out)
{
    memset(out, 0, sizeof *out);
    struct cli_http_resp resp;
    struct cv_err err = {0};
    if (cli_http_request(ctx, method, path, body, timeout_ms, &resp, &err) != 0) {
        fprintf(stderr, "Error %s: %s\n", what, err.msg);
        return -1;
    }
    if (resp.status < 200 || resp.status > 299) {
        char msg[1024];
        one_line(resp.body, msg, sizeof msg);
        if (msg[0]) {
            fprintf(stderr, "Error %s: Unexpected response code: %d (%s)\n", what, resp.status,
                    msg);
        } else {
            fprintf(stderr, "Error %s: Unexpected response code: %d\n", what, resp.status);
        }
        cli_http_resp_free(&resp);
        return -1;
    }
    struct cv_json_limits limits = cv_json_default_limits;
    limits.max_bytes = 256u << 20; /* lists of a big cluster */
    limits.max_nodes = 64u << 20;
    if (cv_json_parse(resp.body, resp.len, &limits, &out->doc, &err) != 0) {
        fprintf(stderr, "Error %s: the server's answer is not JSON: %s\n", what, err.msg);
        cli_http_resp_free(&resp);
        return -1;
    }
    out->root = cv_json_doc_root(out->doc);
    out->status = resp.status;
    out->index = resp.index;
    out->body = resp.body;
    return 0;
}

int cli_api_call(const struct cli_ctx *ctx, const char *what, const char *method, const char *path,
                 const char *body, struct cli_reply *out)
{
    return call(ctx, what, method, path, body, CLI_API_TIMEOUT_MS, out);
}

int cli_api_get(const struct cli_ctx *ctx, const char *what, const char *path,
                struct cli_reply *out)
{
    return call(ctx, what, "GET", path, NULL, CLI_API_TIMEOUT_MS, out);
}

int cli_api_block(const struct cli_ctx *ctx, const char *what, const char *path, uint64_t index,
                  int wait_ms, struct cli_reply *out)
{
    struct cv_buf p = CV_BUF_INIT;
    cv_buf_appendf(&p, "%s%cindex=%" PRIu64 "&wait=%dms", path, strchr(path, '?') ? '&' : '?',
                   index, wait_ms);
    /* The server adds up to wait/16 of jitter; leave room for it. */
    int rc = call(ctx, what, "GET", cv_buf_str(&p), NULL, wait_ms + wait_ms / 8 + 10000, out);
    cv_buf_free(&p);
    return rc;
}

void cli_reply_free(struct cli_reply *r)
{
    cv_json_doc_free(r->doc);
    cv_free(r->body);
    memset(r, 0, sizeof *r);
}

int cli_print_json(const struct cv_json *v)
{
    struct cv_jgen *g = cv_jgen_new(true);
    cv_jgen_value(g, v);
    const char *text;
    size_t len;
    struct cv_err err = {0};
    int rc = CLI_EXIT_OK;
    if (cv_jgen_finish(g, &text, &len, &err) != 0) {
        fprintf(stderr, "Error formatting JSON: %s\n", err.msg);
        rc = CLI_EXIT_FAILURE;
    } else {
        fwrite(text, 1, len, stdout);
        if (len == 0 || text[len - 1] != '\n') {
            fputc('\n', stdout);
        }
    }
    cv_jgen_free(g);
    return rc;
}

const struct cv_json *cli_jget(const struct cv_json *obj, const char *key)
{
    if (!obj || obj->type != CV_JSON_OBJECT) {
        return NULL;
    }
    return cv_json_object_get(obj, key);
}

const char *cli_jstr(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cli_jget(obj, key);
    return v && v->type == CV_JSON_STRING ? v->u.string.ptr : "";
}

int64_t cli_jint(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cli_jget(obj, key);
    int64_t n = 0;
    if (v && v->type == CV_JSON_NUMBER && cv_json_int64(v, &n) != 0) {
        double d = 0;
        cv_json_double(v, &d);
        n = (int64_t)d;
    }
    return n;
}

bool cli_jbool(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cli_jget(obj, key);
    return v && v->type == CV_JSON_BOOL && v->u.boolean;
}

size_t cli_jlen(const struct cv_json *v)
{
    if (!v) {
        return 0;
    }
    if (v->type == CV_JSON_OBJECT) {
        return v->u.object.len;
    }
    return v->type == CV_JSON_ARRAY ? v->u.array.len : 0;
}

const char *cli_short_id(const struct cli_ctx *ctx, const char *id, char *buf)
{
    snprintf(buf, 64, "%.*s", ctx->verbose ? 63 : 8, id ? id : "");
    return buf;
}

const char *cli_format_time(int64_t unix_ns, char *buf, size_t size)
{
    if (unix_ns <= 0) {
        buf[0] = '\0';
        return buf;
    }
    time_t t = (time_t)(unix_ns / CV_NSEC_PER_SEC);
    struct tm tm;
    localtime_r(&t, &tm);
    char zone[8];
    strftime(zone, sizeof zone, "%z", &tm); /* +0200 */
    if (strcmp(zone, "+0000") == 0) {
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else {
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s%.3s:%.2s", stamp, zone, zone + 3);
    }
    return buf;
}

const char *cli_now(char *buf, size_t size)
{
    return cli_format_time(cv_clock_wall_ns(cv_clock_system()), buf, size);
}

const char *cli_format_ago(int64_t unix_ns, char *buf, size_t size)
{
    if (unix_ns <= 0) {
        buf[0] = '\0';
        return buf;
    }
    int64_t now = cv_clock_wall_ns(cv_clock_system());
    int64_t d = (now - unix_ns + CV_NSEC_PER_SEC / 2) / CV_NSEC_PER_SEC;
    const char *suffix = " ago";
    if (d < 0) {
        d = -d;
        suffix = " from now";
    }
    static const struct
    {
        int64_t secs;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    size_t first = 3;
    for (size_t i = 0; i < 4; i++) {
        if (d >= units[i].secs) {
            first = i;
            break;
        }
    }
    /* The two most significant units, as Nomad prints them. */
    int64_t a = d / units[first].secs;
    if (first == 3) {
        snprintf(buf, size, "%" PRId64 "s%s", a, suffix);
    } else {
        int64_t b = (d % units[first].secs) / units[first + 1].secs;
        snprintf(buf, size, "%" PRId64 "%c%" PRId64 "%c%s", a, units[first].unit, b,
                 units[first + 1].unit, suffix);
    }
    return buf;
}

int cli_resolve_prefix(const struct cli_ctx *ctx, const char *noun, const char *list_path,
                       const char *object_path, const char *prefix, char *id, size_t size)
{
    if (strcmp(noun, "job") != 0 && strlen(prefix) < 2) {
        fprintf(stderr, "Error: %s ID must contain at least two characters\n", noun);
        return -1;
    }
    char *esc = cli_http_escape(prefix);
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "%s?prefix=%s", list_path, esc);
    cv_free(esc);
    char what[64];
    snprintf(what, sizeof what, "querying %ss", noun);
    struct cli_reply r;
    int rc = cli_api_get(ctx, what, cv_buf_str(&path), &r);
    cv_buf_reset(&path);
    if (rc != 0) {
        cv_buf_free(&path);
        return -1;
    }
    size_t n = r.root->type == CV_JSON_ARRAY ? r.root->u.array.len : 0;
    const char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *cand = cli_jstr(r.root->u.array.items[i], "ID");
        if (strcmp(cand, prefix) == 0) {
            found = cand; /* an exact ID wins over longer ones it prefixes */
            break;
        }
    }
    if (!found && n == 1) {
        found = cli_jstr(r.root->u.array.items[0], "ID");
    }
    if (!found && n == 0) {
        /* Nothing by prefix: ask for the object itself, so that the
         * operator sees the server's own answer (404 "job not found"). */
        cli_reply_free(&r);
        char *full = cli_http_escape(prefix);
        cv_buf_appendf(&path, "%s/%s", object_path, full);
        cv_free(full);
        snprintf(what, sizeof what, "querying %s", noun);
        rc = cli_api_get(ctx, what, cv_buf_str(&path), &r);
        cv_buf_free(&path);
        if (rc != 0) {
            return -1;
        }
        snprintf(id, size, "%s", cli_jstr(r.root, "ID")[0] ? cli_jstr(r.root, "ID") : prefix);
        cli_reply_free(&r);
        return 0;
    }
    if (!found) {
        fprintf(stderr, "Error: prefix \"%s\" matched %zu %ss:", prefix, n, noun);
        for (size_t i = 0; i < n && i < 10; i++) {
            fprintf(stderr, " %s", cli_jstr(r.root->u.array.items[i], "ID"));
        }
        fprintf(stderr, "%s\n", n > 10 ? " ..." : "");
        cli_reply_free(&r);
        cv_buf_free(&path);
        return -1;
    }
    snprintf(id, size, "%s", found);
    cli_reply_free(&r);
    cv_buf_free(&path);
    return 0;
}

static void print_counts(FILE *out, const struct cv_json *obj, const char *indent,
                         const char *fmt_kind, const char *what)
{
    for (size_t i = 0; obj && obj->type == CV_JSON_OBJECT && i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        int64_t n = 0;
        if (m->value->type == CV_JSON_NUMBER) {
            cv_json_int64(m->value, &n);
        }
        fprintf(out, "%s* %s \"%s\" %s on %" PRId64 " nodes\n", indent, fmt_kind, m->key, what, n);
    }
}

void cli_print_alloc_metrics(FILE *out, const struct cv_json *metric, const char *indent)
{
    if (cli_jint(metric, "NodesEvaluated") == 0) {
        fprintf(out, "%s* No nodes were eligible for evaluation\n", indent);
    }
    const struct cv_json *avail = cli_jget(metric, "NodesAvailable");
    for (size_t i = 0; avail && avail->type == CV_JSON_OBJECT && i < avail->u.object.len; i++) {
        const struct cv_json_member *m = &avail->u.object.members[i];
        int64_t n = 0;
        if (m->value->type == CV_JSON_NUMBER && cv_json_int64(m->value, &n) == 0 && n == 0) {
            fprintf(out, "%s* No nodes are available in datacenter \"%s\"\n", indent, m->key);
        }
    }
    const char *filtered[] = {"ClassFiltered", "Class", "ConstraintFiltered", "Constraint"};
    for (size_t k = 0; k < 4; k += 2) {
        const struct cv_json *obj = cli_jget(metric, filtered[k]);
        for (size_t i = 0; obj && obj->type == CV_JSON_OBJECT && i < obj->u.object.len; i++) {
            const struct cv_json_member *m = &obj->u.object.members[i];
            int64_t n = 0;
            if (m->value->type == CV_JSON_NUMBER) {
                cv_json_int64(m->value, &n);
            }
            fprintf(out, "%s* %s \"%s\": %" PRId64 " nodes excluded by filter\n", indent,
                    filtered[k + 1], m->key, n);
        }
    }
    int64_t exhausted = cli_jint(metric, "NodesExhausted");
    if (exhausted > 0) {
        fprintf(out, "%s* Resources exhausted on %" PRId64 " nodes\n", indent, exhausted);
    }
    print_counts(out, cli_jget(metric, "ClassExhausted"), indent, "Class", "exhausted");
    print_counts(out, cli_jget(metric, "DimensionExhausted"), indent, "Dimension", "exhausted");
    const struct cv_json *quota = cli_jget(metric, "QuotaExhausted");
    for (size_t i = 0; quota && quota->type == CV_JSON_ARRAY && i < quota->u.array.len; i++) {
        if (quota->u.array.items[i]->type == CV_JSON_STRING) {
            fprintf(out, "%s* Quota limit hit \"%s\"\n", indent,
                    quota->u.array.items[i]->u.string.ptr);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t cli_sorted_keys(const struct cv_json *obj, const char **names, size_t max)
{
    if (!obj || obj->type != CV_JSON_OBJECT) {
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < obj->u.object.len && n < max; i++) {
        names[n++] = obj->u.object.members[i].key;
    }
    qsort(names, n, sizeof names[0], cmp_str);
    return n;
}
