/*
 * http_route: from a request line to an endpoint: the endpoint table,
 * percent-decoding of the path and the query, routing with Nomad's rules
 * (404 for an unknown path, 405 with Allow for a method the path does not
 * take), and the query options every read understands (index, wait,
 * stale, pretty, region), with Go's syntax for booleans and durations.
 */
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/http_internal.h"

#define T_JOBS     STATE_MASK(STATE_JOBS)
#define T_VERSIONS STATE_MASK(STATE_JOB_VERSIONS)
#define T_NODES    STATE_MASK(STATE_NODES)
#define T_ALLOCS   STATE_MASK(STATE_ALLOCS)
#define T_EVALS    STATE_MASK(STATE_EVALS)

/* Order matters where Nomad's does: sub-resources of an object route are
 * tried before the object itself. */
static const struct http_endpoint endpoints[] = {
    {"jobs.list", "/v1/jobs", NULL, HTTP_M_GET, HTTP_READ, T_JOBS | T_ALLOCS | T_EVALS,
     http_jobs_list, NULL},
    {"jobs.register", "/v1/jobs", NULL, HTTP_M_WRITE, HTTP_WRITE, 0, NULL, http_job_register},
    {"job.versions", "/v1/job/", "/versions", HTTP_M_GET, HTTP_READ, T_VERSIONS, http_job_versions,
     NULL},
    {"job.allocations", "/v1/job/", "/allocations", HTTP_M_GET, HTTP_READ, T_ALLOCS,
     http_job_allocations, NULL},
    {"job.evaluations", "/v1/job/", "/evaluations", HTTP_M_GET, HTTP_READ, T_EVALS,
     http_job_evaluations, NULL},
    {"job.summary", "/v1/job/", "/summary", HTTP_M_GET, HTTP_READ, T_JOBS | T_ALLOCS | T_EVALS,
     http_job_summary, NULL},
    {"job.plan", "/v1/job/", "/plan", HTTP_M_WRITE, HTTP_LOCAL, 0, NULL, http_job_plan},
    {"job.get", "/v1/job/", "", HTTP_M_GET, HTTP_READ, T_JOBS, http_job_get, NULL},
    {"job.update", "/v1/job/", "", HTTP_M_WRITE, HTTP_WRITE, 0, NULL, http_job_register},
    {"job.deregister", "/v1/job/", "", HTTP_M_DELETE, HTTP_WRITE, 0, NULL, http_job_deregister},
    {"nodes.list", "/v1/nodes", NULL, HTTP_M_GET, HTTP_READ, T_NODES, http_nodes_list, NULL},
    {"node.allocations", "/v1/node/", "/allocations", HTTP_M_GET, HTTP_READ, T_ALLOCS,
     http_node_allocations, NULL},
    {"node.drain", "/v1/node/", "/drain", HTTP_M_WRITE, HTTP_WRITE, 0, NULL, http_node_drain},
    {"node.eligibility", "/v1/node/", "/eligibility", HTTP_M_WRITE, HTTP_WRITE, 0, NULL,
     http_node_eligibility},
    {"node.get", "/v1/node/", "", HTTP_M_GET, HTTP_READ, T_NODES, http_node_get, NULL},
    {"allocs.list", "/v1/allocations", NULL, HTTP_M_GET, HTTP_READ, T_ALLOCS, http_allocs_list,
     NULL},
    {"alloc.get", "/v1/allocation/", "", HTTP_M_GET, HTTP_READ, T_ALLOCS, http_alloc_get, NULL},
    {"evals.list", "/v1/evaluations", NULL, HTTP_M_GET, HTTP_READ, T_EVALS, http_evals_list, NULL},
    {"eval.allocations", "/v1/evaluation/", "/allocations", HTTP_M_GET, HTTP_READ,
     T_ALLOCS | T_EVALS, http_eval_allocations, NULL},
    {"eval.get", "/v1/evaluation/", "", HTTP_M_GET, HTTP_READ, T_EVALS, http_eval_get, NULL},
    {"status.leader", "/v1/status/leader", NULL, HTTP_M_GET, HTTP_LOCAL, 0, NULL,
     http_status_leader},
    {"status.peers", "/v1/status/peers", NULL, HTTP_M_GET, HTTP_LOCAL, 0, NULL, http_status_peers},
    {"agent.self", "/v1/agent/self", NULL, HTTP_M_GET, HTTP_LOCAL, 0, NULL, http_agent_self},
};
#define N_ENDPOINTS (sizeof endpoints / sizeof endpoints[0])

static const struct
{
    const char *name;
    unsigned bit;
} method_names[] = {
    {"GET", HTTP_M_GET},       {"PUT", HTTP_M_PUT},   {"POST", HTTP_M_POST},
    {"DELETE", HTTP_M_DELETE}, {"HEAD", HTTP_M_HEAD}, {"OPTIONS", HTTP_M_OPTIONS},
    {"PATCH", HTTP_M_PATCH},
};
#define N_METHOD_NAMES (sizeof method_names / sizeof method_names[0])

unsigned http_method_bit(const char *name)
{
    for (size_t i = 0; i < N_METHOD_NAMES; i++) {
        if (strcmp(name, method_names[i].name) == 0) {
            return method_names[i].bit;
        }
    }
    return HTTP_M_OTHER;
}

static void format_allow(unsigned methods, char *out, size_t cap)
{
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < N_METHOD_NAMES; i++) {
        if (methods & method_names[i].bit) {
            int n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", method_names[i].name);
            if (n < 0 || (size_t)n >= cap - len) {
                break;
            }
            len += (size_t)n;
        }
    }
}

/* ---- query strings ---------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes s[0..len) into a new string ('+' is a space when plus).
 * NULL for a bad escape or an encoded NUL. */
static char *pct_decode(const char *s, size_t len, bool plus)
{
    char *out = cv_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                cv_free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus) {
            out[o++] = ' ';
        } else if (ch == '\0') {
            cv_free(out);
            return NULL;
        } else {
            out[o++] = ch;
        }
    }
    out[o] = '\0';
    return out;
}

static bool parse_query(struct http_ctx *c, const char *q)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len) {
            if (c->n_params == HTTP_MAX_PARAMS) {
                return false;
            }
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            char *key = pct_decode(q, klen, true);
            char *value = eq ? pct_decode(eq + 1, len - klen - 1, true) : cv_strdup("");
            if (!key || !value) {
                cv_free(key);
                cv_free(value);
                return false;
            }
            if (!c->params) {
                c->params = cv_calloc(HTTP_MAX_PARAMS, sizeof *c->params);
            }
            c->params[c->n_params++] = (struct http_param){key, value};
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return true;
}

const char *http_query(const struct http_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_params; i++) {
        if (strcmp(c->params[i].key, name) == 0) {
            return c->params[i].value;
        }
    }
    return NULL;
}

/* Go's strconv.ParseBool. */
static bool go_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool http_query_bool(struct http_ctx *c, const char *name, bool dflt, bool *out)
{
    const char *v = http_query(c, name);
    *out = dflt;
    if (!v || !*v) {
        return true;
    }
    if (!go_parse_bool(v, out)) {
        http_set_error(c, 400, "Failed to parse value of %s (%s) as a bool", name, v);
        return false;
    }
    return true;
}

/* Go's time.ParseDuration: an optional sign, then one or more
 * <decimal><unit> with units ns us µs ms s m h; "0" alone is allowed.
 * Gives milliseconds; a negative duration gives 0 (the default wait). */
static bool parse_go_duration(const char *s, uint64_t *ms)
{
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return true;
    }
    if (!*s) {
        return false;
    }
    double total_ns = 0;
    while (*s) {
        double v = 0, scale = 1;
        bool digits = false;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            s++;
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                scale /= 10;
                v += (*s - '0') * scale;
                s++;
                digits = true;
            }
        }
        if (!digits) {
            return false;
        }
        double unit;
        if (strncmp(s, "ns", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (strncmp(s, "us", 2) == 0) {
            unit = 1e3;
            s += 2;
        } else if (strncmp(s, "\xc2\xb5s", 3) == 0 || strncmp(s, "\xce\xbcs", 3) == 0) {
            unit = 1e3;
            s += 3;
        } else if (strncmp(s, "ms", 2) == 0) {
            unit = 1e6;
            s += 2;
        } else if (*s == 's') {
            unit = 1e9;
            s += 1;
        } else if (*s == 'm') {
            unit = 60e9;
            s += 1;
        } else if (*s == 'h') {
            unit = 3600e9;
            s += 1;
        } else {
            return false;
        }
        total_ns += v * unit;
        if (total_ns > 9.2e18) {
            return false; /* Go: "invalid duration" past int64 */
        }
    }
    *ms = neg ? 0 : (uint64_t)(total_ns / 1e6);
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!*s) {
        return false;
    }
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ?index, ?wait, ?stale, ?pretty, ?region. False after replying 400/500. */
static bool parse_options(struct http_ctx *c)
{
    const char *v = http_query(c, "pretty");
    c->pretty = v && strcmp(v, "0") != 0;

    v = http_query(c, "region");
    if (v && *v && strcmp(v, c->srv->region) != 0) {
        /* Nomad's answer when no server of the region is known. */
        http_reply_error(c, 500, "No path to region");
        return false;
    }
    if (c->ep->kind != HTTP_READ) {
        return true;
    }
    v = http_query(c, "stale");
    if (v) {
        c->stale = true;
        if (*v && !go_parse_bool(v, &c->stale)) {
            http_reply_error(c, 400, "Expect `true` or `false` for `stale` query string parameter");
            return false;
        }
    }
    uint64_t wait_ms = 0;
    v = http_query(c, "wait");
    if (v && *v && !parse_go_duration(v, &wait_ms)) {
        http_reply_error(c, 400, "Invalid wait time");
        return false;
    }
    v = http_query(c, "index");
    if (v && *v) {
        if (!parse_u64(v, &c->min_index)) {
            http_reply_error(c, 400, "Invalid index");
            return false;
        }
        c->blocking = c->min_index > 0;
    }
    if (c->blocking) {
        if (wait_ms == 0) {
            wait_ms = HTTP_DEFAULT_WAIT_MS;
        } else if (wait_ms > HTTP_MAX_WAIT_MS) {
            wait_ms = HTTP_MAX_WAIT_MS;
        }
        c->wait_ms = wait_ms + http_random(wait_ms / HTTP_WAIT_JITTER_FRACT + 1);
    }
    return true;
}

/* ---- routing ---------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t len = strlen(s), n = strlen(suffix);
    return len > n && memcmp(s + len - n, suffix, n) == 0;
}

static void match_routes(struct http_ctx *c, const char *prefix, const char *suffix,
                         unsigned *allowed, const struct http_endpoint **match)
{
    for (size_t i = 0; i < N_ENDPOINTS; i++) {
        const struct http_endpoint *ep = &endpoints[i];
        bool same = suffix ? ep->suffix && strcmp(ep->prefix, prefix) == 0 &&
                                 strcmp(ep->suffix, suffix) == 0
                           : !ep->suffix && strcmp(ep->prefix, prefix) == 0;
        if (same) {
            *allowed |= ep->methods;
            if (!*match && (ep->methods & c->method)) {
                *match = ep;
            }
        }
    }
}

/* Finds the endpoint for c->path and c->method. Returns false after
 * replying 404 or 405. */
static bool route(struct http_ctx *c)
{
    const char *path = c->path;
    unsigned allowed = 0;
    const struct http_endpoint *match = NULL;
    match_routes(c, path, NULL, &allowed, &match);
    if (!allowed) {
        /* Object routes: the first sub-resource whose suffix the path
         * ends with, else the object itself (Nomad's order). */
        const char *prefix = NULL, *suffix = NULL;
        for (size_t i = 0; i < N_ENDPOINTS && !suffix; i++) {
            const struct http_endpoint *ep = &endpoints[i];
            if (!ep->suffix || strncmp(path, ep->prefix, strlen(ep->prefix)) != 0) {
                continue;
            }
            prefix = ep->prefix;
            if (*ep->suffix && ends_with(path + strlen(prefix), ep->suffix)) {
                suffix = ep->suffix;
            }
        }
        if (prefix) {
            suffix = suffix ? suffix : "";
            size_t plen = strlen(prefix);
            size_t idlen = strlen(path) - plen - strlen(suffix);
            if (idlen > 0) {
                match_routes(c, prefix, suffix, &allowed, &match);
                c->id = cv_strndup(path + plen, idlen);
            }
        }
    }
    if (!allowed) {
        http_reply_error(c, 404, "Invalid URL path: %s", path);
        return false;
    }
    if (!match) {
        format_allow(allowed, c->allow, sizeof c->allow);
        http_reply_error(c, 405, "Invalid method");
        return false;
    }
    c->ep = match;
    return true;
}

/* Splits c->uri into the decoded path and the query. False after replying. */
static bool parse_uri(struct http_ctx *c)
{
    const char *u = c->uri;
    /* Absolute form (through a proxy: "http://host/path"): skip the authority. */
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
        const char *slash = strchr(strstr(u, "//") + 2, '/');
        u = slash ? slash : "/";
    }
    if (*u != '/') {
        http_reply_error(c, 400, "invalid request URI");
        return false;
    }
    size_t plen = strcspn(u, "?#");
    c->path = pct_decode(u, plen, false);
    if (!c->path) {
        http_reply_error(c, 400, "invalid escape in the request path");
        return false;
    }
    if (u[plen] == '?') {
        const char *q = u + plen + 1;
        char *query = cv_strndup(q, strcspn(q, "#"));
        bool ok = parse_query(c, query);
        cv_free(query);
        if (!ok) {
            http_reply_error(c, 400, "invalid query string");
            return false;
        }
    }
    return true;
}

bool http_parse_request(struct http_ctx *c)
{
    return parse_uri(c) && route(c) && parse_options(c);
}
