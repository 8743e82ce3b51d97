/*
 * regiond_config: see regiond_config.h for the contract.
 *
 * One table describes every key of the file: its name, its kind (a name, an
 * address, a bounded integer, an object of more keys...) and where its value
 * lives in struct rcfg. The JSON loader walks a file against the table; the
 * flags map to entries of the same table by their key path, so a value is
 * checked by the same code whether it comes from a file or a flag, and only
 * the path in the message differs. Checks that need several values (ports
 * distinct, peers against bootstrap_expect) wait for rcfg_validate, because
 * a later file or flag may still change any of them.
 */
#define _DEFAULT_SOURCE /* IFF_UP and IFF_LOOPBACK in <net/if.h> */

#include "regiond/config/regiond_config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"

/* Config files are small and written by operators; these bounds keep a
 * wrong file (a log, a core dump) from being read into memory. */
static const struct cv_json_limits rcfg_json_limits = {
    .max_bytes = (size_t)1024 * 1024,
    .max_depth = 16,
    .max_string = (size_t)64 * 1024,
    .max_nodes = 10000,
};

#define NAME_MAX_LEN     128  /* region, datacenter, name */
#define HOST_MAX_LEN     253  /* a DNS name */
#define PATH_MAX_LEN     4095 /* data_dir, log_file */
#define CONNINFO_MAX_LEN 4096
#define SCHEMA_MAX_LEN   63 /* PostgreSQL's NAMEDATALEN - 1 */
#define REMOVE_MAX_DEPTH 32
#define GIB              (UINT64_C(1) << 30)

/* ---- the table of keys ------------------------------------------------------- */

enum kind
{
    K_OBJECT,   /* nested keys in `sub` */
    K_NAME,     /* region, datacenter, name */
    K_IP,       /* an IP address literal */
    K_HOST,     /* an IP address literal or a DNS name */
    K_PATH,     /* a file system path */
    K_OPTPATH,  /* a path, or "" for none */
    K_CONNINFO, /* a libpq connection string */
    K_SCHEMA,   /* a PostgreSQL schema name */
    K_ADAPTOR,  /* "embedded" | "postgres" */
    K_LEVEL,    /* a log level */
    K_UINT,     /* an integer in [min, max], stored in `size` bytes */
    K_EXPECT,   /* bootstrap_expect: 1, 3 or 5 */
    K_DOUBLE,   /* a number in (0, dmax] */
    K_BOOL,
    K_PEERS, /* an array of "ID@HOST:PORT" */
    K_DEV,   /* "dev": a flag only */
};

struct field
{
    const char *key;
    enum kind kind;
    size_t off;  /* of the member in struct rcfg */
    size_t size; /* K_UINT: 2, 4 or 8 */
    uint64_t min, max;
    double dmax;
    const struct field *sub; /* K_OBJECT: a table ending with a NULL key */
};

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

static const struct field top_fields[] = {
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
    FOBJ("heartbeat", heartbeat_fields),
    FSTR("dev", K_DEV, dev),
    FEND,
};

static void *member(struct rcfg *c, const struct field *f)
{
    return (char *)c + f->off;
}

static const struct field *table_find(const struct field *table, const char *key, size_t len)
{
    for (const struct field *f = table; f->key; f++) {
        if (strlen(f->key) == len && memcmp(f->key, key, len) == 0) {
            return f;
        }
    }
    return NULL;
}

/* The entry for a dotted key path ("store.postgres.schema"). */
static const struct field *field_by_path(const char *path)
{
    const struct field *table = top_fields;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const struct field *f = table_find(table, path, len);
        assert(f != NULL); /* paths come from the flag table */
        if (!f || !dot) {
            return f;
        }
        table = f->sub;
        path = dot + 1;
    }
}

/* ---- checks of single values --------------------------------------------------- */

static bool name_valid(const char *s)
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

static bool ip_unspecified(const char *s)
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
static bool schema_valid(const char *s)
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

static const char *const level_names[] = {"debug", "info", "warn", "error"};

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

static const char *adaptor_name(enum rcfg_store_adaptor a)
{
    return a == RCFG_STORE_POSTGRES ? "postgres" : "embedded";
}

/* Decimal digits only: flags take no sign, no spaces, no hex. */
static int parse_decimal(const char *s, uint64_t *out)
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

static int parse_bool(const char *s, bool *out)
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

static void replace_string(char **slot, const char *s)
{
    cv_free(*slot);
    *slot = s ? cv_strdup(s) : NULL;
}

static int range_error(const struct field *f, const char *text, const char *path,
                       struct cv_err *err)
{
    if (f->kind == K_EXPECT) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be 1, 3 or 5, got %s", text);
    }
    return cv_err_set_pathf(err, CV_EINVAL, path, "must be %" PRIu64 " to %" PRIu64 ", got %s",
                            f->min, f->max, text);
}

/* Sets an integer member; `text` is the value as written, for messages. */
static int set_uint(struct rcfg *c, const struct field *f, uint64_t v, const char *text,
                    const char *path, struct cv_err *err)
{
    if (f->kind == K_EXPECT) {
        if (v != 1 && v != 3 && v != 5) {
            return range_error(f, text, path, err);
        }
        c->bootstrap_expect = (uint32_t)v;
        return 0;
    }
    if (v < f->min || v > f->max) {
        return range_error(f, text, path, err);
    }
    void *m = member(c, f);
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

static int set_double(struct rcfg *c, const struct field *f, double v, const char *text,
                      const char *path, struct cv_err *err)
{
    if (!(v > 0 && v <= f->dmax)) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be more than 0 and at most %g, got %s",
                                f->dmax, text);
    }
    memcpy(member(c, f), &v, sizeof v);
    return 0;
}

/* Sets a string-valued member from NUL-terminated `s`. */
static int set_string(struct rcfg *c, const struct field *f, const char *s, const char *path,
                      struct cv_err *err)
{
    size_t n = strlen(s);
    if (!cv_utf8_valid(s, n)) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be valid UTF-8");
    }
    switch (f->kind) {
    case K_NAME:
        if (!name_valid(s)) {
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
            replace_string((char **)member(c, f), NULL);
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
        if (!schema_valid(s)) {
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
    replace_string((char **)member(c, f), s);
    return 0;
}

static bool is_string_kind(enum kind k)
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

static void peers_clear(struct rcfg *c)
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
    int rc = parse_decimal(idtext, &id);
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
    if (parse_decimal(colon + 1, &port) != 0 || port == 0 || port > 65535) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "\"%s\": the port must be 1 to 65535", s);
    }
    out->id = (uint32_t)id;
    out->host = cv_strdup(hostbuf);
    out->port = (uint16_t)port;
    return 0;
}

static int peers_add(struct rcfg *c, const char *s, const char *path, struct cv_err *err)
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
static void format_hostport(char *out, size_t n, const char *host, unsigned port)
{
    if (strchr(host, ':')) {
        snprintf(out, n, "[%s]:%u", host, port);
    } else {
        snprintf(out, n, "%s:%u", host, port);
    }
}

/* ---- loading a file ------------------------------------------------------------ */

static const char *expected_type(enum kind k)
{
    switch (k) {
    case K_OBJECT:
        return "an object";
    case K_UINT:
    case K_EXPECT:
        return "an integer";
    case K_DOUBLE:
        return "a number";
    case K_BOOL:
        return "a boolean";
    case K_PEERS:
        return "an array of strings";
    default:
        return "a string";
    }
}

static int type_error(const struct field *f, const struct cv_json *v, const char *path,
                      struct cv_err *err)
{
    return cv_err_set_pathf(err, CV_EINVAL, path, "expected %s, got %s", expected_type(f->kind),
                            cv_json_type_name(v->type));
}

static int load_object(struct rcfg *c, const struct field *table, const struct cv_json *obj,
                       const char *prefix, struct cv_err *err);

static int load_peers(struct rcfg *c, const struct cv_json *v, const char *path, struct cv_err *err)
{
    if (v->u.array.len > RCFG_MAX_PEERS) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "at most %u peers: a region has at most %u servers, got %zu",
                                RCFG_MAX_PEERS, RCFG_MAX_PEERS + 1, v->u.array.len);
    }
    /* Parse into a scratch config so that a bad item leaves c's list whole. */
    struct rcfg scratch;
    memset(&scratch, 0, sizeof scratch);
    for (size_t i = 0; i < v->u.array.len; i++) {
        const struct cv_json *item = v->u.array.items[i];
        char ipath[CV_ERR_PATH_MAX];
        cv_path_index(ipath, "", path, i);
        int rc = 0;
        if (item->type != CV_JSON_STRING) {
            rc = cv_err_set_pathf(err, CV_EINVAL, ipath, "expected a string, got %s",
                                  cv_json_type_name(item->type));
        } else if (strlen(item->u.string.ptr) != item->u.string.len) {
            rc = cv_err_set_pathf(err, CV_EINVAL, ipath, "must not contain a NUL character");
        } else {
            rc = peers_add(&scratch, item->u.string.ptr, ipath, err);
        }
        if (rc != 0) {
            peers_clear(&scratch);
            return rc;
        }
    }
    peers_clear(c);
    c->peers = scratch.peers;
    c->n_peers = scratch.n_peers;
    return 0;
}

static int load_value(struct rcfg *c, const struct field *f, const struct cv_json *v,
                      const char *path, struct cv_err *err)
{
    if (f->kind == K_DEV) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "not a config file setting: use the -dev flag");
    }
    if (is_string_kind(f->kind)) {
        if (v->type != CV_JSON_STRING) {
            return type_error(f, v, path, err);
        }
        if (strlen(v->u.string.ptr) != v->u.string.len) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "must not contain a NUL character");
        }
        return set_string(c, f, v->u.string.ptr, path, err);
    }
    switch (f->kind) {
    case K_OBJECT:
        if (v->type != CV_JSON_OBJECT) {
            return type_error(f, v, path, err);
        }
        return load_object(c, f->sub, v, path, err);
    case K_UINT:
    case K_EXPECT: {
        if (v->type != CV_JSON_NUMBER) {
            return type_error(f, v, path, err);
        }
        int64_t i = 0;
        int rc = cv_json_int64(v, &i);
        if (rc == CV_EINVAL) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected an integer, got %s",
                                    v->u.number.text);
        }
        if (rc != 0 || i < 0) {
            return range_error(f, v->u.number.text, path, err);
        }
        return set_uint(c, f, (uint64_t)i, v->u.number.text, path, err);
    }
    case K_DOUBLE: {
        if (v->type != CV_JSON_NUMBER) {
            return type_error(f, v, path, err);
        }
        double d = 0;
        if (cv_json_double(v, &d) != 0) {
            d = -1; /* out of range: reported below with the text */
        }
        return set_double(c, f, d, v->u.number.text, path, err);
    }
    case K_BOOL:
        if (v->type != CV_JSON_BOOL) {
            return type_error(f, v, path, err);
        }
        *(bool *)member(c, f) = v->u.boolean;
        return 0;
    case K_PEERS:
        if (v->type != CV_JSON_ARRAY) {
            return type_error(f, v, path, err);
        }
        return load_peers(c, v, path, err);
    default:
        assert(!"unhandled kind");
        return CV_EINTERNAL;
    }
}

static int load_object(struct rcfg *c, const struct field *table, const struct cv_json *obj,
                       const char *prefix, struct cv_err *err)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        char path[CV_ERR_PATH_MAX];
        cv_path_join(path, prefix, m->key);
        const struct field *f =
            strlen(m->key) == m->key_len ? table_find(table, m->key, m->key_len) : NULL;
        if (!f) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "unknown field");
        }
        int rc = load_value(c, f, m->value, path, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Reads the whole file, refusing more than the JSON limit allows. */
static int read_config_file(const char *path, char **out, size_t *out_len, struct cv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cv_err_setf(err, e == ENOENT ? CV_ENOTFOUND : CV_EIO, "%s: cannot open: %s", path,
                           strerror(e));
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = cv_err_setf(err, CV_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto err_after_fd;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = cv_err_setf(err, CV_EINVAL, "%s: is a directory; -config takes a file", path);
        goto err_after_fd;
    }
    size_t limit = rcfg_json_limits.max_bytes;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > limit) {
        rc = cv_err_setf(err, CV_ETOOBIG, "%s: %jd bytes, over the %zu-byte limit of a config file",
                         path, (intmax_t)st.st_size, limit);
        goto err_after_fd;
    }
    /* Read up to limit + 1 bytes, so that a file that grew (or a pipe) is
     * still caught by the limit. */
    char *buf = cv_malloc(limit + 2);
    size_t len = 0;
    while (len <= limit) {
        ssize_t n = read(fd, buf + len, limit + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = cv_err_setf(err, CV_EIO, "%s: cannot read: %s", path, strerror(errno));
            goto err_after_buf;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    if (len > limit) {
        rc = cv_err_setf(err, CV_ETOOBIG, "%s: over the %zu-byte limit of a config file", path,
                         limit);
        goto err_after_buf;
    }
    buf[len] = '\0';
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;

err_after_buf:
    cv_free(buf);
err_after_fd:
    close(fd);
    return rc;
}

int rcfg_load_file(struct rcfg *c, const char *path, struct cv_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_config_file(path, &text, &len, err);
    if (rc != 0) {
        return rc;
    }
    struct cv_json_doc *doc = NULL;
    rc = cv_json_parse(text, len, &rcfg_json_limits, &doc, err);
    if (rc != 0) {
        cv_err_wrapf(err, "%s", path);
        goto err_after_text;
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    if (root->type != CV_JSON_OBJECT) {
        rc = cv_err_setf(err, CV_EINVAL, "%s: expected a JSON object of settings, got %s", path,
                         cv_json_type_name(root->type));
        goto err_after_doc;
    }
    rc = load_object(c, top_fields, root, "", err);
    if (rc == 0) {
        c->files = cv_reallocarray(c->files, c->n_files + 1, sizeof *c->files);
        c->files[c->n_files++] = cv_strdup(path);
    }
err_after_doc:
    cv_json_doc_free(doc);
err_after_text:
    cv_free(text);
    return rc;
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
}

/* -dev: one server on loopback with the embedded store; files and flags
 * that come after may still change any of it. */
static void apply_dev_defaults(struct rcfg *c)
{
    c->dev = true;
    replace_string(&c->bind_addr, RCFG_DEV_BIND);
    c->bootstrap_expect = 1;
    c->server_id = 1;
    c->join = false;
    peers_clear(c);
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
    peers_clear(c);
    cv_free(c->store.postgres.conninfo);
    cv_free(c->store.postgres.schema);
    cv_free(c->log_file);
    for (size_t i = 0; i < c->n_files; i++) {
        cv_free(c->files[i]);
    }
    cv_free(c->files);
    memset(c, 0, sizeof *c);
}

/* ---- flags --------------------------------------------------------------------- */

enum flag_action
{
    FA_FIELD,  /* sets the key `key` */
    FA_CONFIG, /* loads a file */
    FA_DEV,
    FA_PEER, /* adds to peers (the first one drops the files' peers) */
    FA_HELP,
};

struct flag
{
    const char *name; /* without the dash */
    const char *arg;  /* the value's placeholder in the usage; NULL: a boolean */
    enum flag_action action;
    const char *key;   /* the file key it overrides */
    const char *help;  /* one line */
    const char *unset; /* the default shown when the key has no value */
};

static const struct flag flag_table[] = {
    {"config", "FILE", FA_CONFIG, NULL,
     "JSON config file to load; repeat for several, later files override earlier ones", "none"},
    {"dev", NULL, FA_DEV, "dev", "one server on 127.0.0.1, embedded store in a temporary directory",
     NULL},
    {"region", "NAME", FA_FIELD, "region", "region this server belongs to", NULL},
    {"dc", "NAME", FA_FIELD, "datacenter", "datacenter of this server", NULL},
    {"name", "NAME", FA_FIELD, "name", "name of this server, unique in the region", "the hostname"},
    {"data-dir", "DIR", FA_FIELD, "data_dir", "directory for this server's state",
     "required; -dev makes a temporary one"},
    {"bind", "ADDR", FA_FIELD, "bind_addr", "IP address the HTTP, RPC and gossip ports listen on",
     NULL},
    {"advertise", "HOST", FA_FIELD, "advertise", "address other servers and clients dial",
     "the bind address; with 0.0.0.0, the first non-loopback IPv4 address"},
    {"http-port", "PORT", FA_FIELD, "ports.http", "HTTP API port", NULL},
    {"rpc-port", "PORT", FA_FIELD, "ports.rpc", "RPC port (servers, clients and Raft)", NULL},
    {"serf-port", "PORT", FA_FIELD, "ports.serf", "gossip port (UDP and TCP)", NULL},
    {"server-id", "ID", FA_FIELD, "server_id",
     "Raft id of this server, 1..65535, unique in the region", "1 for a lone server"},
    {"bootstrap-expect", "N", FA_FIELD, "bootstrap_expect", "servers in the region: 1, 3 or 5",
     NULL},
    {"join", NULL, FA_FIELD, "join",
     "join a running region: -peer names servers to contact, not the first voters", NULL},
    {"peer", "ID@HOST:PORT", FA_PEER, "peers",
     "another server and its RPC port; repeat for each (replaces the files' peers)", "none"},
    {"store", "ADAPTOR", FA_FIELD, "store.adaptor", "persistence adaptor: embedded or postgres",
     NULL},
    {"pg-conninfo", "CONNINFO", FA_FIELD, "store.postgres.conninfo",
     "PostgreSQL connection string or URI (postgres store)", "none"},
    {"pg-schema", "SCHEMA", FA_FIELD, "store.postgres.schema",
     "PostgreSQL schema of this server (postgres store)", "caravan_<region>_<name>"},
    {"log-level", "LEVEL", FA_FIELD, "log_level", "debug, info, warn or error", NULL},
    {"log-file", "FILE", FA_FIELD, "log_file", "append log lines to FILE; SIGHUP reopens it",
     "stderr"},
    {"h", NULL, FA_HELP, NULL, "print this help", NULL},
    {"help", NULL, FA_HELP, NULL, "print this help", NULL},
};

#define N_FLAGS (sizeof flag_table / sizeof flag_table[0])

static const struct flag *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (strlen(flag_table[i].name) == len && memcmp(flag_table[i].name, name, len) == 0) {
            return &flag_table[i];
        }
    }
    return NULL;
}

/* The default of the key behind `fl` in `d` (a freshly initialised config). */
static void default_text(struct rcfg *d, const struct flag *fl, char *out, size_t n)
{
    snprintf(out, n, "%s", fl->unset ? fl->unset : "none");
    if (fl->action != FA_FIELD) {
        return;
    }
    const struct field *f = field_by_path(fl->key);
    void *m = member(d, f);
    switch (f->kind) {
    case K_UINT: {
        uint64_t v = 0;
        if (f->size == sizeof(uint16_t)) {
            v = *(uint16_t *)m;
        } else if (f->size == sizeof(uint32_t)) {
            v = *(uint32_t *)m;
        } else {
            v = *(uint64_t *)m;
        }
        if (v != 0) {
            snprintf(out, n, "%" PRIu64, v);
        }
        break;
    }
    case K_EXPECT:
        snprintf(out, n, "%u", d->bootstrap_expect);
        break;
    case K_BOOL:
        snprintf(out, n, "%s", *(bool *)m ? "true" : "false");
        break;
    case K_ADAPTOR:
        snprintf(out, n, "%s", adaptor_name(d->store.adaptor));
        break;
    case K_LEVEL:
        snprintf(out, n, "%s", level_names[d->log_level]);
        break;
    default: {
        const char *s = *(char **)m;
        if (s && !fl->unset) {
            snprintf(out, n, "%s", s);
        }
        break;
    }
    }
}

void rcfg_usage(FILE *out)
{
    struct rcfg d;
    rcfg_init(&d);
    fprintf(out,
            "Usage: regiond [-dev] [-config FILE]... [flags]\n"
            "\n"
            "Runs a Caravan region server. Settings are taken from the built-in defaults,\n"
            "then -dev's, then each -config file in order, then the other flags, each\n"
            "overriding the one before. docs/config.md describes every setting.\n"
            "\n"
            "Flags (-flag VALUE or -flag=VALUE):\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        const struct flag *fl = &flag_table[i];
        if (fl->action == FA_HELP) {
            continue;
        }
        fprintf(out, "  -%s%s%s\n", fl->name, fl->arg ? " " : "", fl->arg ? fl->arg : "");
        if (!fl->arg) {
            fprintf(out, "      %s\n", fl->help);
            continue;
        }
        char def[96];
        default_text(&d, fl, def, sizeof def);
        fprintf(out, "      %s (default: %s)\n", fl->help, def);
    }
    fprintf(out, "  -h, -help\n      print this help\n");
    rcfg_free(&d);
}

struct flag_item
{
    const struct flag *fl;
    const char *value;
};

/* Applies one FA_FIELD flag through the key's table entry. */
static int apply_field_flag(struct rcfg *c, const struct flag *fl, const char *value,
                            struct cv_err *err)
{
    char path[CV_ERR_PATH_MAX];
    snprintf(path, sizeof path, "-%s", fl->name);
    const struct field *f = field_by_path(fl->key);
    if (is_string_kind(f->kind)) {
        return set_string(c, f, value, path, err);
    }
    switch (f->kind) {
    case K_UINT:
    case K_EXPECT: {
        uint64_t v = 0;
        int rc = parse_decimal(value, &v);
        if (rc == CV_EINVAL) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected an integer, got \"%s\"", value);
        }
        if (rc != 0) {
            return range_error(f, value, path, err);
        }
        return set_uint(c, f, v, value, path, err);
    }
    case K_BOOL: {
        bool b = false;
        if (parse_bool(value, &b) != 0) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected true or false, got \"%s\"",
                                    value);
        }
        *(bool *)member(c, f) = b;
        return 0;
    }
    default:
        assert(!"flag of an unexpected kind");
        return CV_EINTERNAL;
    }
}

/* A field error from a file names the key; say which file it was in. */
static int file_error(const char *file, int rc, struct cv_err *err)
{
    if (err && err->path[0]) {
        char msg[CV_ERR_MSG_MAX];
        cv_err_format(err, msg, sizeof msg);
        cv_err_setf(err, rc, "%s: %s", file, msg);
    }
    return rc;
}

int rcfg_apply_flags(struct rcfg *c, int argc, char **argv, struct cv_err *err)
{
    int rc = 0;
    bool dev = c->dev;
    bool peers_from_flags = false;
    struct flag_item *items = cv_calloc(argc > 0 ? (size_t)argc : 1, sizeof *items);
    size_t n = 0;

    /* Pass 1: syntax only, so that -dev and -config take effect first
     * wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) {
                rc = cv_err_setf(err, CV_EINVAL,
                                 "unexpected argument \"%s\": regiond takes flags only",
                                 argv[i + 1]);
                goto out;
            }
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            rc = cv_err_setf(err, CV_EINVAL, "unexpected argument \"%s\": regiond takes flags only",
                             a);
            goto out;
        }
        const char *name = a[1] == '-' ? a + 2 : a + 1;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *fl = flag_find(name, len);
        char path[CV_ERR_PATH_MAX];
        if (!fl) {
            snprintf(path, sizeof path, "-%.*s", (int)len, name);
            rc = cv_err_set_pathf(err, CV_EINVAL, path, "unknown flag (regiond -help lists them)");
            goto out;
        }
        snprintf(path, sizeof path, "-%s", fl->name);
        const char *value;
        if (!fl->arg) {
            value = eq ? eq + 1 : "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && argv[i + 1][0] != '-') {
            value = argv[++i];
        } else if (i + 1 < argc) {
            rc = cv_err_set_pathf(err, CV_EINVAL, path,
                                  "missing value (next is \"%s\"; write %s=VALUE for a value "
                                  "that starts with -)",
                                  argv[i + 1], path);
            goto out;
        } else {
            rc = cv_err_set_pathf(err, CV_EINVAL, path, "missing value");
            goto out;
        }
        if (fl->action == FA_HELP) {
            rcfg_usage(stdout);
            rc = RCFG_HELP;
            goto out;
        }
        if (fl->action == FA_DEV) {
            if (parse_bool(value, &dev) != 0) {
                rc = cv_err_set_pathf(err, CV_EINVAL, path, "expected true or false, got \"%s\"",
                                      value);
                goto out;
            }
            continue;
        }
        items[n].fl = fl;
        items[n].value = value;
        n++;
    }

    /* Pass 2: -dev's defaults, then the files, then the other flags. */
    if (dev) {
        apply_dev_defaults(c);
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].fl->action == FA_CONFIG) {
            rc = rcfg_load_file(c, items[i].value, err);
            if (rc != 0) {
                rc = file_error(items[i].value, rc, err);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct flag *fl = items[i].fl;
        if (fl->action == FA_FIELD) {
            rc = apply_field_flag(c, fl, items[i].value, err);
        } else if (fl->action == FA_PEER) {
            if (!peers_from_flags) {
                peers_clear(c);
                peers_from_flags = true;
            }
            rc = peers_add(c, items[i].value, "-peer", err);
        }
        if (rc != 0) {
            goto out;
        }
    }
out:
    cv_free(items);
    return rc;
}

/* ---- the data directory -------------------------------------------------------- */

/* mkdir -p: creates every missing component of `dir`. On failure returns
 * the errno and writes the component that failed into `failed`. */
static int mkdir_parents(const char *dir, char *failed, size_t failed_size)
{
    char buf[PATH_MAX_LEN + 1];
    size_t n = strlen(dir);
    if (n > PATH_MAX_LEN) {
        snprintf(failed, failed_size, "%.*s...", (int)(failed_size > 4 ? failed_size - 4 : 0), dir);
        return ENAMETOOLONG;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];
        buf[i] = '\0';
        /* Parents get the usual 0755; the data dir itself holds the Raft
         * log and is for this server's user only. */
        if (mkdir(buf, saved == '\0' ? 0700 : 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(failed, failed_size, "%s", buf);
            return e;
        }
        buf[i] = saved;
    }
    return 0;
}

int rcfg_check_data_dir(const char *dir, struct cv_err *err)
{
    if (!dir || !*dir) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "must be a path");
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e == ENOTDIR) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                    "\"%s\": cannot create: a parent of it is a file, not a "
                                    "directory",
                                    dir);
        }
        if (e != ENOENT) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot access: %s", dir,
                                    strerror(e));
        }
        char failed[PATH_MAX_LEN + 1];
        e = mkdir_parents(dir, failed, sizeof failed);
        if (e != 0) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot create \"%s\": %s",
                                    dir, failed, strerror(e));
        }
        if (stat(dir, &st) != 0) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot access: %s", dir,
                                    strerror(errno));
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "\"%s\": not a directory", dir);
    }
    DIR *d = opendir(dir);
    if (!d) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "\"%s\": not readable: %s (it must be readable and writable by "
                                "the user regiond runs as)",
                                dir, strerror(errno));
    }
    closedir(d);
    /* access(W_OK) would not see a read-only mount or a full inode table;
     * creating a file does. */
    char probe[PATH_MAX_LEN + 32];
    snprintf(probe, sizeof probe, "%s/.regiond-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "\"%s\": not writable: %s (it must be readable and writable by "
                                "the user regiond runs as)",
                                dir, strerror(errno));
    }
    close(fd);
    unlink(probe);
    return 0;
}

/* Removes `path` and, for a directory, everything under it, without
 * following symbolic links. */
static int remove_tree(const char *path, unsigned depth)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return unlink(path) == 0 ? 0 : errno;
    }
    if (depth > REMOVE_MAX_DEPTH) {
        return ELOOP;
    }
    DIR *d = opendir(path);
    if (!d) {
        return errno;
    }
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        char child[PATH_MAX_LEN + 1];
        if (snprintf(child, sizeof child, "%s/%s", path, ent->d_name) >= (int)sizeof child) {
            rc = ENAMETOOLONG;
            break;
        }
        rc = remove_tree(child, depth + 1);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0) {
        rc = errno;
    }
    return rc;
}

int rcfg_remove_temp_data_dir(struct rcfg *c, struct cv_err *err)
{
    if (!c->data_dir_temp || !c->data_dir) {
        return 0;
    }
    int e = remove_tree(c->data_dir, 0);
    if (e != 0) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot remove: %s", c->data_dir,
                                strerror(e));
    }
    c->data_dir_temp = false;
    return 0;
}

static int make_temp_data_dir(struct rcfg *c, struct cv_err *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) {
        tmp = "/tmp";
    }
    char buf[PATH_MAX_LEN + 1];
    if (snprintf(buf, sizeof buf, "%s/regiond-dev-XXXXXX", tmp) >= (int)sizeof buf) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "TMPDIR is too long");
    }
    if (!mkdtemp(buf)) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "cannot create a temporary directory in \"%s\": %s", tmp,
                                strerror(errno));
    }
    replace_string(&c->data_dir, buf);
    c->data_dir_temp = true;
    return 0;
}

/* ---- validation ---------------------------------------------------------------- */

static bool ipv4_private(uint32_t a)
{
    return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1u) || (a >> 16) == (192u << 8 | 168u) ||
           (a >> 22) == (100u << 2 | 1u); /* 100.64/10, carrier-grade NAT */
}

/* The first non-loopback, non-link-local IPv4 address of an interface that
 * is up, a private one (RFC 1918, RFC 6598) first, as Nomad does. */
static bool first_ipv4(char *out, size_t n)
{
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) != 0) {
        return false;
    }
    const struct sockaddr_in *best = NULL;
    bool best_private = false;
    for (const struct ifaddrs *ifa = all; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !(ifa->ifa_flags & IFF_UP) ||
            (ifa->ifa_flags & IFF_LOOPBACK)) {
            continue;
        }
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ifa->ifa_addr;
        uint32_t a = ntohl(sin->sin_addr.s_addr);
        if ((a >> 24) == 127 || (a >> 16) == (169u << 8 | 254u) || a == 0) {
            continue;
        }
        bool priv = ipv4_private(a);
        if (!best || (priv && !best_private)) {
            best = sin;
            best_private = priv;
        }
    }
    bool found = best && inet_ntop(AF_INET, &best->sin_addr, out, (socklen_t)n) != NULL;
    freeifaddrs(all);
    return found;
}

static int resolve_advertise(struct rcfg *c, struct cv_err *err)
{
    if (c->advertise) {
        return 0;
    }
    if (!ip_unspecified(c->bind_addr)) {
        replace_string(&c->advertise, c->bind_addr);
        return 0;
    }
    char addr[INET_ADDRSTRLEN];
    if (!first_ipv4(addr, sizeof addr)) {
        return cv_err_set_pathf(err, CV_EINVAL, "advertise",
                                "bind_addr is %s and this machine has no non-loopback IPv4 "
                                "address to advertise: set advertise (or -advertise)",
                                c->bind_addr);
    }
    replace_string(&c->advertise, addr);
    return 0;
}

static bool host_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

static int check_ports_distinct(const struct rcfg *c, struct cv_err *err)
{
    if (c->ports.rpc == c->ports.http) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.rpc",
                                "%u is also ports.http: the three ports must differ", c->ports.rpc);
    }
    if (c->ports.serf == c->ports.http) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.serf",
                                "%u is also ports.http: the three ports must differ",
                                c->ports.serf);
    }
    if (c->ports.serf == c->ports.rpc) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.serf",
                                "%u is also ports.rpc: the three ports must differ", c->ports.serf);
    }
    return 0;
}

static int check_servers(struct rcfg *c, struct cv_err *err)
{
    if (c->dev) {
        if (c->bootstrap_expect != 1) {
            return cv_err_set_pathf(err, CV_EINVAL, "bootstrap_expect",
                                    "must be 1 with -dev, which runs one server, got %u",
                                    c->bootstrap_expect);
        }
        if (c->join || c->n_peers > 0) {
            return cv_err_set_pathf(err, CV_EINVAL, c->join ? "join" : "peers",
                                    "-dev runs one server on its own: remove %s",
                                    c->join ? "join" : "the peers");
        }
    }
    if (c->server_id == 0) {
        if (c->bootstrap_expect != 1 || c->join) {
            return cv_err_set_pathf(err, CV_EINVAL, "server_id",
                                    "required in a region of several servers: number them 1, 2, "
                                    "3... once, and never reuse a number (docs/config.md)");
        }
        c->server_id = 1;
    }
    if (c->join) {
        if (c->n_peers == 0) {
            return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                    "join needs at least one server of the running region to "
                                    "contact");
        }
    } else if (c->bootstrap_expect == 1 && c->n_peers > 0) {
        return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                "bootstrap_expect is 1 (a lone server), so there are no peers, "
                                "got %zu (or set join to add this server to a running region)",
                                c->n_peers);
    } else if (c->n_peers != c->bootstrap_expect - 1) {
        return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                "bootstrap_expect is %u, so list the other %u servers, got %zu "
                                "(or set join to add this server to a running region)",
                                c->bootstrap_expect, c->bootstrap_expect - 1, c->n_peers);
    }
    return 0;
}

/* After advertise is known: no peer is this server or another peer. */
static int check_peers(const struct rcfg *c, struct cv_err *err)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct rcfg_peer *p = &c->peers[i];
        char path[CV_ERR_PATH_MAX];
        char addr[HOST_MAX_LEN + 16];
        cv_path_index(path, "", "peers", i);
        format_hostport(addr, sizeof addr, p->host, p->port);
        if (p->id == c->server_id) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "server id %u is this server's own server_id: list the other "
                                    "servers only",
                                    p->id);
        }
        assert(c->advertise != NULL); /* resolve_advertise ran before */
        if (p->port == c->ports.rpc && host_equal(p->host, c->advertise)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "%s is this server's own RPC address: list the other servers "
                                    "only",
                                    addr);
        }
        for (size_t j = 0; j < i; j++) {
            const struct rcfg_peer *q = &c->peers[j];
            if (q->id == p->id) {
                return cv_err_set_pathf(err, CV_EINVAL, path, "server id %u is also peers[%zu]",
                                        p->id, j);
            }
            if (q->port == p->port && host_equal(q->host, p->host)) {
                return cv_err_set_pathf(err, CV_EINVAL, path, "address %s is also peers[%zu]", addr,
                                        j);
            }
        }
    }
    return 0;
}

/* caravan_<region>_<name>, lower case, every other character an '_'. */
static void derive_schema(const struct rcfg *c, char *out, size_t n)
{
    char raw[SCHEMA_MAX_LEN * 4];
    snprintf(raw, sizeof raw, "caravan_%s_%s", c->region, c->name);
    size_t len = strlen(raw);
    if (len >= n) {
        len = n - 1;
    }
    if (len > SCHEMA_MAX_LEN) {
        len = SCHEMA_MAX_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = raw[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) {
            ch = '_';
        }
        out[i] = ch;
    }
    out[len] = '\0';
}

static int check_store(struct rcfg *c, struct cv_err *err)
{
    if (c->store.adaptor != RCFG_STORE_POSTGRES) {
        return 0;
    }
    if (!c->store.postgres.conninfo) {
        return cv_err_set_pathf(err, CV_EINVAL, "store.postgres.conninfo",
                                "required when store.adaptor is \"postgres\" (or -pg-conninfo)");
    }
    if (!c->store.postgres.schema) {
        char schema[SCHEMA_MAX_LEN + 1];
        derive_schema(c, schema, sizeof schema);
        replace_string(&c->store.postgres.schema, schema);
    }
    if (!schema_valid(c->store.postgres.schema)) {
        return cv_err_set_pathf(err, CV_EINVAL, "store.postgres.schema",
                                "\"%s\": use 1 to 63 characters of a-z, 0-9 and _, starting with "
                                "a letter or _ (not pg_)",
                                c->store.postgres.schema);
    }
    return 0;
}

static int check_log_file(const char *path, struct cv_err *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, "log_file", "\"%s\": cannot open for appending: %s",
                                path, strerror(errno));
    }
    close(fd);
    return 0;
}

int rcfg_validate(struct rcfg *c, struct cv_err *err)
{
    if (!c->name) {
        return cv_err_set_pathf(err, CV_EINVAL, "name",
                                "the hostname could not be read: set name (or -name)");
    }
    if (!name_valid(c->name)) {
        return cv_err_set_pathf(err, CV_EINVAL, "name",
                                "the hostname \"%s\" is not a valid name: set name (or -name)",
                                c->name);
    }
    if (!c->data_dir && !c->dev) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir",
                                "required: set data_dir (or -data-dir); only -dev makes a "
                                "temporary one");
    }
    int rc = check_ports_distinct(c, err);
    if (rc == 0) {
        rc = check_servers(c, err);
    }
    if (rc == 0 && c->raft.heartbeat_ms >= c->raft.election_timeout_ms) {
        rc = cv_err_set_pathf(err, CV_EINVAL, "raft.heartbeat_ms",
                              "must be less than raft.election_timeout_ms (%u), got %u",
                              c->raft.election_timeout_ms, c->raft.heartbeat_ms);
    }
    if (rc == 0) {
        rc = check_store(c, err);
    }
    if (rc == 0) {
        rc = resolve_advertise(c, err);
    }
    if (rc == 0) {
        rc = check_peers(c, err);
    }
    if (rc != 0) {
        return rc;
    }

    /* What touches the file system comes last, after every pure check. */
    bool made_temp = false;
    if (!c->data_dir) {
        rc = make_temp_data_dir(c, err);
        if (rc != 0) {
            return rc;
        }
        made_temp = true;
    }
    rc = rcfg_check_data_dir(c->data_dir, err);
    if (rc == 0) {
        char *abs = realpath(c->data_dir, NULL);
        if (!abs) {
            rc = cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot resolve: %s",
                                  c->data_dir, strerror(errno));
        } else {
            replace_string(&c->data_dir, abs);
            free(abs); /* realpath allocates with libc */
        }
    }
    if (rc == 0 && c->log_file) {
        rc = check_log_file(c->log_file, err);
    }
    if (rc != 0 && made_temp) {
        remove_tree(c->data_dir, 0);
        replace_string(&c->data_dir, NULL);
        c->data_dir_temp = false;
    }
    return rc;
}

/* ---- probing the ports --------------------------------------------------------- */

static int probe_port(const struct rcfg *c, uint16_t port, int type, const char *key,
                      const char *flag, struct cv_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, c->bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, c->bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sslen = sizeof *sin6;
    } else {
        return cv_err_set_pathf(err, CV_EINVAL, "bind_addr", "must be an IP address, got \"%s\"",
                                c->bind_addr);
    }
    const char *proto = type == SOCK_DGRAM ? "UDP" : "TCP";
    char addr[INET6_ADDRSTRLEN + 16];
    format_hostport(addr, sizeof addr, c->bind_addr, port);
    int fd = socket(ss.ss_family, type, 0);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, key, "cannot open a %s socket: %s", proto,
                                strerror(errno));
    }
    int one = 1;
    /* The daemon listens with SO_REUSEADDR, so a port in TIME_WAIT is free
     * for it; probe the same way. */
    if (type == SOCK_STREAM) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    int rc = 0;
    if (bind(fd, (const struct sockaddr *)(const void *)&ss, sslen) != 0) {
        int e = errno;
        if (e == EADDRINUSE) {
            rc = cv_err_set_pathf(err, CV_ECONFLICT, key,
                                  "%s %s is already in use (another regiond, or a Nomad agent?): "
                                  "stop it or choose another port with %s or %s",
                                  proto, addr, key, flag);
        } else if (e == EADDRNOTAVAIL) {
            rc = cv_err_set_pathf(err, CV_EINVAL, "bind_addr",
                                  "%s is not an address of this machine", c->bind_addr);
        } else if (e == EACCES) {
            rc = cv_err_set_pathf(err, CV_EIO, key,
                                  "%s %s: permission denied (ports below 1024 need privileges)",
                                  proto, addr);
        } else {
            rc = cv_err_set_pathf(err, CV_EIO, key, "cannot bind %s %s: %s", proto, addr,
                                  strerror(e));
        }
    }
    close(fd);
    return rc;
}

int rcfg_check_ports(const struct rcfg *c, struct cv_err *err)
{
    int rc = probe_port(c, c->ports.http, SOCK_STREAM, "ports.http", "-http-port", err);
    if (rc == 0) {
        rc = probe_port(c, c->ports.rpc, SOCK_STREAM, "ports.rpc", "-rpc-port", err);
    }
    if (rc == 0) {
        rc = probe_port(c, c->ports.serf, SOCK_STREAM, "ports.serf", "-serf-port", err);
    }
    if (rc == 0) {
        rc = probe_port(c, c->ports.serf, SOCK_DGRAM, "ports.serf", "-serf-port", err);
    }
    return rc;
}

/* ---- the effective configuration ------------------------------------------------ */

static const char redacted[] = "redacted";

/* key=value form: `key = value` pairs separated by spaces; a value is bare
 * (backslash escapes) or in single quotes (backslash escapes). Returns
 * false when the text does not parse, so the caller hides all of it. */
static bool redact_keyvalue(const char *s, struct cv_buf *out)
{
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
            cv_buf_append_char(out, *p++);
        }
        if (!*p) {
            return true;
        }
        const char *key = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            p++;
        }
        size_t keylen = (size_t)(p - key);
        if (keylen == 0) {
            return false;
        }
        cv_buf_append(out, key, keylen);
        while (*p == ' ' || *p == '\t') {
            cv_buf_append_char(out, *p++);
        }
        if (*p != '=') {
            return false;
        }
        cv_buf_append_char(out, *p++);
        while (*p == ' ' || *p == '\t') {
            cv_buf_append_char(out, *p++);
        }
        const char *val = p;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1]) {
                    p++;
                }
                p++;
            }
            if (*p != '\'') {
                return false;
            }
            p++;
        } else {
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                if (*p == '\\' && p[1]) {
                    p++;
                }
                p++;
            }
        }
        if (keylen == 8 && memcmp(key, "password", 8) == 0) {
            cv_buf_append_str(out, redacted);
        } else {
            cv_buf_append(out, val, (size_t)(p - val));
        }
    }
}

/* postgresql://user:password@host/db?password=... */
static void redact_uri(const char *s, size_t scheme_len, struct cv_buf *out)
{
    const char *auth = s + scheme_len;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++) {
        if (auth[i] == '@') {
            at = auth + i; /* the last '@' ends the user info */
        }
    }
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        cv_buf_append(out, s, (size_t)(colon + 1 - s));
        cv_buf_append_str(out, redacted);
        cv_buf_append(out, at, auth_len - (size_t)(at - auth));
    } else {
        cv_buf_append(out, s, scheme_len + auth_len);
    }
    const char *rest = auth + auth_len;
    const char *q = strchr(rest, '?');
    if (!q) {
        cv_buf_append_str(out, rest);
        return;
    }
    cv_buf_append(out, rest, (size_t)(q + 1 - rest));
    const char *p = q + 1;
    while (*p) {
        size_t plen = strcspn(p, "&#");
        if (plen >= 9 && memcmp(p, "password=", 9) == 0) {
            cv_buf_append_str(out, "password=");
            cv_buf_append_str(out, redacted);
        } else {
            cv_buf_append(out, p, plen);
        }
        p += plen;
        if (*p == '&') {
            cv_buf_append_char(out, *p++);
        } else if (*p == '#') {
            cv_buf_append_str(out, p);
            break;
        }
    }
}

char *rcfg_redact_conninfo(const char *conninfo)
{
    struct cv_buf out = CV_BUF_INIT;
    static const char *const schemes[] = {"postgresql://", "postgres://"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(conninfo, schemes[i], n) == 0) {
            redact_uri(conninfo, n, &out);
            return cv_buf_take(&out);
        }
    }
    if (!redact_keyvalue(conninfo, &out)) {
        cv_buf_reset(&out);
        cv_buf_append_str(&out, redacted);
    }
    return cv_buf_take(&out);
}

/* Strings set through the table are UTF-8 already; a hostname or a file
 * name from the command line may not be, and would fail the generator. */
static void jgen_kv_string(struct cv_jgen *g, const char *key, const char *value)
{
    cv_jgen_key(g, key);
    cv_jgen_string(g, value && cv_utf8_valid(value, strlen(value)) ? value : "");
}

static void jgen_kv_uint(struct cv_jgen *g, const char *key, uint64_t value)
{
    cv_jgen_key(g, key);
    cv_jgen_uint(g, value);
}

static void jgen_advertise(struct cv_jgen *g, const char *key, const struct rcfg *c, unsigned port)
{
    char addr[HOST_MAX_LEN + 16] = "";
    if (c->advertise) {
        format_hostport(addr, sizeof addr, c->advertise, port);
    }
    jgen_kv_string(g, key, addr);
}

/* Go encodes a time.Duration as integer nanoseconds. */
static uint64_t seconds_ns(uint64_t s)
{
    return s * UINT64_C(1000000000);
}

static void jgen_store(struct cv_jgen *g, const struct rcfg *c)
{
    cv_jgen_key(g, "Store");
    cv_jgen_object_begin(g);
    jgen_kv_string(g, "Adaptor", adaptor_name(c->store.adaptor));
    cv_jgen_key(g, "Embedded");
    cv_jgen_object_begin(g);
    jgen_kv_uint(g, "SegmentSize", c->store.embedded.segment_size);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Postgres");
    cv_jgen_object_begin(g);
    char *conninfo =
        c->store.postgres.conninfo ? rcfg_redact_conninfo(c->store.postgres.conninfo) : NULL;
    jgen_kv_string(g, "Conninfo", conninfo);
    cv_free(conninfo);
    jgen_kv_string(g, "Schema", c->store.postgres.schema);
    jgen_kv_uint(g, "ReconnectTimeoutMS", c->store.postgres.reconnect_timeout_ms);
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
}

static void jgen_server(struct cv_jgen *g, const struct rcfg *c)
{
    char buf[64];
    cv_jgen_key(g, "Server");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Enabled");
    cv_jgen_bool(g, true);
    jgen_kv_uint(g, "BootstrapExpect", c->bootstrap_expect);
    jgen_kv_string(g, "DataDir", c->data_dir);
    jgen_kv_uint(g, "HeartbeatGrace", seconds_ns(c->heartbeat.grace_s));
    jgen_kv_uint(g, "MinHeartbeatTTL", seconds_ns(c->heartbeat.min_ttl_s));
    cv_jgen_key(g, "MaxHeartbeatsPerSecond");
    cv_jgen_double(g, c->heartbeat.max_per_second);
    jgen_kv_uint(g, "FailoverHeartbeatTTL", seconds_ns(c->heartbeat.failover_ttl_s));
    jgen_kv_uint(g, "RaftSnapshotThreshold", c->raft.snapshot_threshold);
    snprintf(buf, sizeof buf, "%us", c->raft.snapshot_interval_s);
    jgen_kv_string(g, "RaftSnapshotInterval", buf);
    jgen_kv_uint(g, "RaftTrailingLogs", c->raft.trailing_logs);
    /* Caravan's own: Raft's integer ids, the other servers, the store. */
    jgen_kv_uint(g, "ServerID", c->server_id);
    cv_jgen_key(g, "Join");
    cv_jgen_bool(g, c->join);
    cv_jgen_key(g, "Peers");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < c->n_peers; i++) {
        char addr[HOST_MAX_LEN + 40];
        char hp[HOST_MAX_LEN + 16];
        format_hostport(hp, sizeof hp, c->peers[i].host, c->peers[i].port);
        snprintf(addr, sizeof addr, "%u@%s", c->peers[i].id, hp);
        cv_jgen_string(g, addr);
    }
    cv_jgen_array_end(g);
    jgen_kv_uint(g, "RaftElectionTimeoutMS", c->raft.election_timeout_ms);
    jgen_kv_uint(g, "RaftHeartbeatMS", c->raft.heartbeat_ms);
    jgen_store(g, c);
    cv_jgen_object_end(g);
}

char *rcfg_to_json(const struct rcfg *c)
{
    static const char *const upper_levels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    jgen_kv_string(g, "Region", c->region);
    jgen_kv_string(g, "Datacenter", c->datacenter);
    jgen_kv_string(g, "NodeName", c->name);
    jgen_kv_string(g, "DataDir", c->data_dir);
    jgen_kv_string(g, "LogLevel", upper_levels[c->log_level]);
    jgen_kv_string(g, "LogFile", c->log_file);
    jgen_kv_string(g, "BindAddr", c->bind_addr);
    cv_jgen_key(g, "Ports");
    cv_jgen_object_begin(g);
    jgen_kv_uint(g, "HTTP", c->ports.http);
    jgen_kv_uint(g, "RPC", c->ports.rpc);
    jgen_kv_uint(g, "Serf", c->ports.serf);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "AdvertiseAddrs");
    cv_jgen_object_begin(g);
    jgen_advertise(g, "HTTP", c, c->ports.http);
    jgen_advertise(g, "RPC", c, c->ports.rpc);
    jgen_advertise(g, "Serf", c, c->ports.serf);
    cv_jgen_object_end(g);
    jgen_server(g, c);
    cv_jgen_key(g, "Limits");
    cv_jgen_object_begin(g);
    jgen_kv_uint(g, "HTTPMaxBodyBytes", c->http.max_body_bytes);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "DevMode");
    cv_jgen_bool(g, c->dev);
    cv_jgen_key(g, "Files");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < c->n_files; i++) {
        const char *f = c->files[i];
        cv_jgen_string(g, cv_utf8_valid(f, strlen(f)) ? f : "");
    }
    cv_jgen_array_end(g);
    cv_jgen_object_end(g);

    const char *text = NULL;
    size_t len = 0;
    char *out;
    /* Every string was checked as UTF-8 when it was set, so this cannot
     * fail; an empty object is still better than a crash. */
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        out = cv_strndup(text, len);
    } else {
        assert(!"config JSON failed");
        out = cv_strdup("{}");
    }
    cv_jgen_free(g);
    return out;
}
