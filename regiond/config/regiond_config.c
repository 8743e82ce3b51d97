/*
 * regiond_config: see regiond_config.h for the contract. This file holds
 * what the module's other files share: the table of keys, the checks and
 * setters of single values, the list of peers, and the defaults
 * (rcfg_init, rcfg_free).
 *
 * One table describes every key of the file: its name, its kind (a name, an
 * address, a bounded integer, an object of more keys...) and where its value
 * lives in struct rcfg. The JSON loader walks a file against the table; the
 * flags map to entries of the same table by their key path, so a value is
 * checked by the same code whether it comes from a file or a flag, and only
 * the path in the message differs. Checks that need several values (ports
 * distinct, peers against bootstrap_expect) wait for rcfg_validate, because
 * a later file or flag may still change any of them.
 *
 * The other files: regiond_config_file.c loads a JSON file against the
 * table; regiond_config_flags.c parses the flags and prints the usage;
 * regiond_config_check.c is rcfg_validate, the data directory and the probe
 * of the ports; regiond_config_json.c writes the effective configuration as
 * JSON, with the password of the conninfo redacted. regiond_config_internal.h
 * declares what they share.
 */
#include "regiond/config/regiond_config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"
#include "regiond/config/regiond_config_internal.h"

#define NAME_MAX_LEN     128 /* region, datacenter, name */
#define CONNINFO_MAX_LEN 4096
#define GIB              (UINT64_C(1) << 30)

/* ---- the table of keys ------------------------------------------------------- */

#define MEMBER_SIZE(m) sizeof(((struct rcfg *)0)->m)
#define FSTR(k, kd, m)                                                                    \
    {                                                                                     \
        .key = (k), .kind = (kd), .off = offsetof(struct rcfg, m), .size = MEMBER_SIZE(m) \
    }
#define FUINT(k, m, lo, hi)                                                                  \
    {                                                                                        \
        .key = (k), .kind = K_UINT, .off = offsetof(struct rcfg, m), .size = MEMBER_SIZE(m), \
        .min = (lo), .max = (hi)                                                             \
    }
#define FOBJ(k, table)                               \
    {                                                \
        .key = (k), .kind = K_OBJECT, .sub = (table) \
    }
#define FEND        \
    {               \
        .key = NULL \
    }

static const struct field ports_fields[] = {
    FUINT("http", ports.http, 1, 65535),
    FUINT("rpc", ports.rpc, 1, 65535),
    FUINT("serf", ports.serf, 1, 65535),
    FEND,
};

static const struct field embedded_fields[] = {
    FUINT("segment_size", store.embedded.segment_size, 4096, GIB),
    FEND,
};

static const struct field postgres_fields[] = {
    FSTR("conninfo", K_CONNINFO, store.postgres.conninfo),
    FSTR("schema", K_SCHEMA, store.postgres.schema),
    FUINT("reconnect_timeout_ms", store.postgres.reconnect_timeout_ms, 100, 3600000),
    FEND,
};

static const struct field store_fields[] = {
    FSTR("adaptor", K_ADAPTOR, store.adaptor),
    FOBJ("embedded", embedded_fields),
    FOBJ("postgres", postgres_fields),
    FEND,
};

static const struct field raft_fields[] = {
    FUINT("election_timeout_ms", raft.election_timeout_ms, 50, 60000),
    FUINT("heartbeat_ms", raft.heartbeat_ms, 1, 60000),
    FUINT("snapshot_threshold", raft.snapshot_threshold, 1, UINT32_MAX),
    FUINT("snapshot_interval_s", raft.snapshot_interval_s, 1, 86400),
    FUINT("trailing_logs", raft.trailing_logs, 0, UINT32_MAX),
    FEND,
};

static const struct field http_fields[] = {
    FUINT("max_body_bytes", http.max_body_bytes, 4096, GIB),
    FEND,
};

static const struct field heartbeat_fields[] = {
    FUINT("min_ttl_s", heartbeat.min_ttl_s, 1, 3600),
    {.key = "max_per_second",
     .kind = K_DOUBLE,
     .off = offsetof(struct rcfg, heartbeat.max_per_second),
     .dmax = 1e6},
    FUINT("grace_s", heartbeat.grace_s, 0, 3600),
    FUINT("failover_ttl_s", heartbeat.failover_ttl_s, 1, 86400),
    FEND,
};

const struct field rcfg__top_fields[] = {
    FSTR("region", K_NAME, region),
    FSTR("datacenter", K_NAME, datacenter),
    FSTR("name", K_NAME, name),
    FSTR("data_dir", K_PATH, data_dir),
    FSTR("bind_addr", K_IP, bind_addr),
    FSTR("advertise", K_HOST, advertise),
    FOBJ("ports", ports_fields),
    FUINT("server_id", server_id, 1, RCFG_MAX_SERVER_ID),
    FSTR("bootstrap_expect", K_EXPECT, bootstrap_expect),
    FSTR("join", K_BOOL, join),
    FSTR("peers", K_PEERS, peers),
    FOBJ("store", store_fields),
    FSTR("log_level", K_LEVEL, log_level),
    FSTR("log_file", K_OPTPATH, log_file),
    FOBJ("raft", raft_fields),
    FOBJ("http", http_fields),
    FUINT("num_schedulers", num_schedulers, 0, RCFG_MAX_NUM_SCHEDULERS),
    FOBJ("heartbeat", heartbeat_fields),
    FSTR("dev", K_DEV, dev),
    FEND,
};

void *rcfg__member(struct rcfg *c, const struct field *f)
{
    return (char *)c + f->off;
}

const struct field *rcfg__table_find(const struct field *table, const char *key, size_t len)
{
    for (const struct field *f = table; f->key; f++) {
        if (strlen(f->key) == len && memcmp(f->key, key, len) == 0) {
            return f;
        }
    }
    return NULL;
}

/* The entry for a dotted key path ("store.postgres.schema"). */
const struct field *rcfg__field_by_path(const char *path)
{
    const struct field *table = rcfg__top_fields;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const struct field *f = rcfg__table_find(table, path, len);
        assert(f != NULL); /* paths come from the flag table */
        if (!f || !dot) {
            return f;
        }
        table = f->sub;
        path = dot + 1;
    }
}

/* ---- checks of single values --------------------------------------------------- */

bool rcfg__name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static bool ip_valid(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

bool rcfg__ip_unspecified(const char *s)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        return a4.s_addr == htonl(INADDR_ANY);
    }
    return inet_pton(AF_INET6, s, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

/* A DNS name: labels of letters, digits and '-' (not at either end). */
static bool dns_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HOST_MAX_LEN) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = s[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-') {
                return false;
            }
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-') {
            if (label == 0 && ch == '-') {
                return false;
            }
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static bool host_valid(const char *s)
{
    return ip_valid(s) || dns_name_valid(s);
}

/* store_pg.h's rule: [a-z_][a-z0-9_]*, at most 63 characters, not pg_*. */
bool rcfg__schema_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SCHEMA_MAX_LEN || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
            return false;
        }
    }
    return strncmp(s, "pg_", 3) != 0;
}

const char *const rcfg__level_names[] = {"debug", "info", "warn", "error"};

static int parse_level(const char *s, enum cv_log_level *out)
{
    char lower[8];
    size_t n = strlen(s);
    if (n >= sizeof lower) {
        return CV_EINVAL;
    }
    for (size_t i = 0; i <= n; i++) {
        lower[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    }
    return cv_log_parse_level(lower, out);
}

const char *rcfg__adaptor_name(enum rcfg_store_adaptor a)
{
    return a == RCFG_STORE_POSTGRES ? "postgres" : "embedded";
}

/* Decimal digits only: flags take no sign, no spaces, no hex. */
int rcfg__parse_decimal(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) {
        return CV_EINVAL;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return CV_EINVAL;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return CV_ETOOBIG;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int rcfg__parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return 0;
    }
    return CV_EINVAL;
}

/* ---- setting values ------------------------------------------------------------ */

void rcfg__replace_string(char **slot, const char *s)
{
    cv_free(*slot);
    *slot = s ? cv_strdup(s) : NULL;
}

int rcfg__range_error(const struct field *f, const char *text, const char *path, struct cv_err *err)
{
    if (f->kind == K_EXPECT) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be 1, 3 or 5, got %s", text);
    }
    return cv_err_set_pathf(err, CV_EINVAL, path, "must be %" PRIu64 " to %" PRIu64 ", got %s",
                            f->min, f->max, text);
}

/* Sets an integer member; `text` is the value as written, for messages. */
int rcfg__set_uint(struct rcfg *c, const struct field *f, uint64_t v, const char *text,
                   const char *path, struct cv_err *err)
{
    if (f->kind == K_EXPECT) {
        if (v != 1 && v != 3 && v != 5) {
            return rcfg__range_error(f, text, path, err);
        }
        c->bootstrap_expect = (uint32_t)v;
        return 0;
    }
    if (v < f->min || v > f->max) {
        return rcfg__range_error(f, text, path, err);
    }
    void *m = rcfg__member(c, f);
    switch (f->size) {
    case sizeof(uint16_t): {
        uint16_t u = (uint16_t)v;
        memcpy(m, &u, sizeof u);
        break;
    }
    case sizeof(uint32_t): {
        uint32_t u = (uint32_t)v;
        memcpy(m, &u, sizeof u);
        break;
    }
    default: {
        assert(f->size == sizeof(uint64_t));
        memcpy(m, &v, sizeof v);
        break;
    }
    }
    return 0;
}

int rcfg__set_double(struct rcfg *c, const struct field *f, double v, const char *text,
                     const char *path, struct cv_err *err)
{
    if (!(v > 0 && v <= f->dmax)) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be more than 0 and at most %g, got %s",
                                f->dmax, text);
    }
    memcpy(rcfg__member(c, f), &v, sizeof v);
    return 0;
}

/* Sets a string-valued member from NUL-terminated `s`. */
int rcfg__set_string(struct rcfg *c, const struct field *f, const char *s, const char *path,
                     struct cv_err *err)
{
    size_t n = strlen(s);
    if (!cv_utf8_valid(s, n)) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be valid UTF-8");
    }
    switch (f->kind) {
    case K_NAME:
        if (!rcfg__name_valid(s)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be 1 to %d letters, digits, '.', '_' or '-', got \"%s\"",
                                    NAME_MAX_LEN, s);
        }
        break;
    case K_IP:
        if (!ip_valid(s)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be an IPv4 or IPv6 address such as 0.0.0.0, got \"%s\"",
                                    s);
        }
        break;
    case K_HOST:
        if (!host_valid(s)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be an IP address or a DNS name, got \"%s\"", s);
        }
        break;
    case K_PATH:
    case K_OPTPATH:
        if (n == 0 && f->kind == K_OPTPATH) {
            rcfg__replace_string((char **)rcfg__member(c, f), NULL);
            return 0;
        }
        if (n == 0 || n > PATH_MAX_LEN) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "must be a path of 1 to %d bytes",
                                    PATH_MAX_LEN);
        }
        break;
    case K_CONNINFO:
        if (n == 0 || n > CONNINFO_MAX_LEN) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be a libpq connection string of 1 to %d bytes",
                                    CONNINFO_MAX_LEN);
        }
        break;
    case K_SCHEMA:
        if (!rcfg__schema_valid(s)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "\"%s\": use 1 to 63 characters of a-z, 0-9 and _, starting "
                                    "with a letter or _ (not pg_)",
                                    s);
        }
        break;
    case K_ADAPTOR:
        if (strcmp(s, "embedded") == 0) {
            c->store.adaptor = RCFG_STORE_EMBEDDED;
        } else if (strcmp(s, "postgres") == 0) {
            c->store.adaptor = RCFG_STORE_POSTGRES;
        } else {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be \"embedded\" or \"postgres\", got \"%s\"", s);
        }
        return 0;
    case K_LEVEL:
        if (parse_level(s, &c->log_level) != 0) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "must be debug, info, warn or error, got \"%s\"", s);
        }
        return 0;
    default:
        assert(!"not a string kind");
        return CV_EINTERNAL;
    }
    rcfg__replace_string((char **)rcfg__member(c, f), s);
    return 0;
}

bool rcfg__is_string_kind(enum kind k)
{
    switch (k) {
    case K_NAME:
    case K_IP:
    case K_HOST:
    case K_PATH:
    case K_OPTPATH:
    case K_CONNINFO:
    case K_SCHEMA:
    case K_ADAPTOR:
    case K_LEVEL:
        return true;
    default:
        return false;
    }
}

/* ---- peers --------------------------------------------------------------------- */

void rcfg__peers_clear(struct rcfg *c)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        cv_free(c->peers[i].host);
    }
    cv_free(c->peers);
    c->peers = NULL;
    c->n_peers = 0;
}

/* Parses "ID@HOST:PORT" (HOST may be an IPv6 address in brackets). */
static int parse_peer(const char *s, struct rcfg_peer *out, const char *path, struct cv_err *err)
{
    static const char form[] = "expected ID@HOST:PORT such as \"2@10.0.0.2:4647\"";
    const char *at = strchr(s, '@');
    if (!at || at == s) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": %s", s, form);
    }
    char idtext[24];
    size_t idlen = (size_t)(at - s);
    uint64_t id = 0;
    if (idlen >= sizeof idtext) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": server id must be 1 to %u", s,
                                RCFG_MAX_SERVER_ID);
    }
    memcpy(idtext, s, idlen);
    idtext[idlen] = '\0';
    int rc = rcfg__parse_decimal(idtext, &id);
    if (rc == CV_EINVAL) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": %s", s, form);
    }
    if (rc != 0 || id == 0 || id > RCFG_MAX_SERVER_ID) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": server id must be 1 to %u", s,
                                RCFG_MAX_SERVER_ID);
    }

    const char *host = at + 1;
    const char *host_end;
    const char *colon;
    if (*host == '[') {
        host++;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') {
            return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": %s", s, form);
        }
        colon = host_end + 1;
    } else {
        colon = strrchr(host, ':');
        if (!colon) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": %s (the RPC port is required)",
                                    s, form);
        }
        if (memchr(host, ':', (size_t)(colon - host))) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "\"%s\": write an IPv6 address in brackets, as "
                                    "\"2@[fd00::2]:4647\"",
                                    s);
        }
        host_end = colon;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen > HOST_MAX_LEN) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": %s", s, form);
    }
    char hostbuf[HOST_MAX_LEN + 1];
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';
    bool bracketed = host_end != colon;
    unsigned char a6[sizeof(struct in6_addr)];
    if (bracketed ? inet_pton(AF_INET6, hostbuf, a6) != 1 : !host_valid(hostbuf)) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "\"%s\": \"%s\" is not an IP address or a DNS name", s, hostbuf);
    }
    uint64_t port = 0;
    if (rcfg__parse_decimal(colon + 1, &port) != 0 || port == 0 || port > 65535) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": the port must be 1 to 65535", s);
    }
    out->id = (uint32_t)id;
    out->host = cv_strdup(hostbuf);
    out->port = (uint16_t)port;
    return 0;
}

int rcfg__peers_add(struct rcfg *c, const char *s, const char *path, struct cv_err *err)
{
    if (c->n_peers >= RCFG_MAX_PEERS) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "at most %u peers: a region has at most %u servers", RCFG_MAX_PEERS,
                                RCFG_MAX_PEERS + 1);
    }
    struct rcfg_peer p;
    int rc = parse_peer(s, &p, path, err);
    if (rc != 0) {
        return rc;
    }
    c->peers = cv_reallocarray(c->peers, c->n_peers + 1, sizeof *c->peers);
    c->peers[c->n_peers++] = p;
    return 0;
}

/* "host:port", with an IPv6 address in brackets. */
void rcfg__format_hostport(char *out, size_t n, const char *host, unsigned port)
{
    if (strchr(host, ':')) {
        snprintf(out, n, "[%s]:%u", host, port);
    } else {
        snprintf(out, n, "%s:%u", host, port);
    }
}

/* ---- defaults ------------------------------------------------------------------ */

void rcfg_init(struct rcfg *c)
{
    memset(c, 0, sizeof *c);
    c->region = cv_strdup(RCFG_DEFAULT_REGION);
    c->datacenter = cv_strdup(RCFG_DEFAULT_DATACENTER);
    char host[HOST_MAX_LEN + 2];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        c->name = cv_strdup(host); /* rcfg_validate says so if it is not a valid name */
    }
    c->bind_addr = cv_strdup(RCFG_DEFAULT_BIND);
    c->ports.http = RCFG_DEFAULT_HTTP_PORT;
    c->ports.rpc = RCFG_DEFAULT_RPC_PORT;
    c->ports.serf = RCFG_DEFAULT_SERF_PORT;
    c->bootstrap_expect = 1;
    c->store.adaptor = RCFG_STORE_EMBEDDED;
    c->store.embedded.segment_size = RCFG_DEFAULT_SEGMENT_SIZE;
    c->store.postgres.reconnect_timeout_ms = RCFG_DEFAULT_PG_RECONNECT_MS;
    c->log_level = CV_LOG_INFO;
    c->raft.election_timeout_ms = RCFG_DEFAULT_ELECTION_MS;
    c->raft.heartbeat_ms = RCFG_DEFAULT_RAFT_HEARTBEAT_MS;
    c->raft.snapshot_threshold = RCFG_DEFAULT_SNAPSHOT_THRESHOLD;
    c->raft.snapshot_interval_s = RCFG_DEFAULT_SNAPSHOT_INTERVAL;
    c->raft.trailing_logs = RCFG_DEFAULT_TRAILING_LOGS;
    c->http.max_body_bytes = RCFG_DEFAULT_MAX_BODY_BYTES;
    c->heartbeat.min_ttl_s = RCFG_DEFAULT_HB_MIN_TTL_S;
    c->heartbeat.max_per_second = RCFG_DEFAULT_HB_MAX_PER_SECOND;
    c->heartbeat.grace_s = RCFG_DEFAULT_HB_GRACE_S;
    c->heartbeat.failover_ttl_s = RCFG_DEFAULT_HB_FAILOVER_TTL_S;
    c->num_schedulers = RCFG_NUM_SCHEDULERS_AUTO;
}

/* -dev: one server on loopback with the embedded store; files and flags
 * that come after may still change any of it. */
void rcfg__apply_dev_defaults(struct rcfg *c)
{
    c->dev = true;
    rcfg__replace_string(&c->bind_addr, RCFG_DEV_BIND);
    c->bootstrap_expect = 1;
    c->server_id = 1;
    c->join = false;
    rcfg__peers_clear(c);
    c->store.adaptor = RCFG_STORE_EMBEDDED;
}

void rcfg_free(struct rcfg *c)
{
    cv_free(c->region);
    cv_free(c->datacenter);
    cv_free(c->name);
    cv_free(c->data_dir);
    cv_free(c->bind_addr);
    cv_free(c->advertise);
    rcfg__peers_clear(c);
    cv_free(c->store.postgres.conninfo);
    cv_free(c->store.postgres.schema);
    cv_free(c->log_file);
    for (size_t i = 0; i < c->n_files; i++) {
        cv_free(c->files[i]);
    }
    cv_free(c->files);
    memset(c, 0, sizeof *c);
}

unsigned rcfg_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (unsigned)n : 1u;
}

unsigned rcfg_num_schedulers(const struct rcfg *c)
{
    if (c->num_schedulers == RCFG_NUM_SCHEDULERS_AUTO) {
        unsigned n = rcfg_online_cpus();
        return n < RCFG_MAX_NUM_SCHEDULERS ? n : RCFG_MAX_NUM_SCHEDULERS;
    }
    return c->num_schedulers;
}
