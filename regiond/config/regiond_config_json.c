/*
 * regiond_config_json: the effective configuration as JSON (rcfg_to_json,
 * which GET /v1/agent/self embeds) and the redaction of a libpq connection
 * string (rcfg_redact_conninfo).
 *
 * The JSON takes the shape and names of Nomad's agent configuration where
 * Nomad has the setting (durations in integer nanoseconds, as Go encodes
 * them), with Caravan's own settings beside them. A password in a conninfo
 * is replaced by "redacted" in both of its forms, key=value and URI; a
 * key=value string that does not parse is hidden whole.
 */
#include "regiond/config/regiond_config.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "regiond/config/regiond_config_internal.h"

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
        rcfg__format_hostport(addr, sizeof addr, c->advertise, port);
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
    jgen_kv_string(g, "Adaptor", rcfg__adaptor_name(c->store.adaptor));
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
    if (c->num_schedulers == RCFG_NUM_SCHEDULERS_AUTO) {
        jgen_kv_uint(g, "NumSchedulers", rcfg_online_cpus());
    } else {
        jgen_kv_uint(g, "NumSchedulers", c->num_schedulers);
    }
    /* Caravan's own: Raft's integer ids, the other servers, the store. */
    jgen_kv_uint(g, "ServerID", c->server_id);
    cv_jgen_key(g, "Join");
    cv_jgen_bool(g, c->join);
    cv_jgen_key(g, "Peers");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < c->n_peers; i++) {
        char addr[HOST_MAX_LEN + 40];
        char hp[HOST_MAX_LEN + 16];
        rcfg__format_hostport(hp, sizeof hp, c->peers[i].host, c->peers[i].port);
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
