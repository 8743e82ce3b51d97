/*
 * agent_config: defaults, -dev, JSON files and flags, in that order
 * (agent_config.h).
 *
 * A JSON file:
 *
 *   {"servers": ["10.0.0.1:4647", "10.0.0.2:4647"], "data_dir": "/var/lib/caravan",
 *    "datacenter": "dc1", "name": "web-1", "node_class": "web", "node_pool": "default",
 *    "meta": {"rack": "r1"},
 *    "drivers": {"raw_exec": {"enabled": true}, "mock": {"enabled": false}},
 *    "reserved": {"cpu": 200, "memory": 256, "disk": 1024, "reserved_ports": "22"},
 *    "log_level": "info", "log_file": "/var/log/caravan/nodeagent.log",
 *    "bind_addr": "10.0.0.5", "http_port": 4656}
 */
#include "nodeagent/agent_config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

void agent_config_init(struct agent_config *c)
{
    memset(c, 0, sizeof *c);
    c->data_dir = cv_strdup("");
    c->datacenter = cv_strdup(AGENT_DEFAULT_DATACENTER);
    c->name = cv_strdup("");
    c->node_class = cv_strdup("");
    c->node_pool = cv_strdup("default");
    c->reserved_ports = cv_strdup("");
    c->log_level = CV_LOG_INFO;
    c->log_file = cv_strdup("");
    c->bind_addr = cv_strdup(AGENT_DEFAULT_BIND_ADDR);
    c->http_port = AGENT_DEFAULT_HTTP_PORT;
}

static void clear_servers(struct agent_config *c)
{
    for (size_t i = 0; i < c->n_servers; i++) {
        cv_free(c->servers[i]);
        c->servers[i] = NULL;
    }
    c->n_servers = 0;
}

void agent_config_free(struct agent_config *c)
{
    clear_servers(c);
    cv_free(c->data_dir);
    cv_free(c->datacenter);
    cv_free(c->name);
    cv_free(c->node_class);
    cv_free(c->node_pool);
    cv_free(c->reserved_ports);
    cv_free(c->log_file);
    cv_free(c->bind_addr);
    for (size_t i = 0; i < c->meta.len; i++) {
        cv_free(c->meta.items[i].key);
        cv_free(c->meta.items[i].value);
    }
    cv_free(c->meta.items);
    memset(c, 0, sizeof *c);
}

void agent_config_dev(struct agent_config *c)
{
    clear_servers(c);
    c->servers[c->n_servers++] = cv_strdup(AGENT_DEFAULT_SERVER);
    cv_set_string(&c->datacenter, AGENT_DEFAULT_DATACENTER);
    c->raw_exec = true;
    c->mock = true;
    c->dev = true;
    cv_set_string(&c->bind_addr, AGENT_DEFAULT_BIND_ADDR);
    c->http_port = AGENT_DEFAULT_HTTP_PORT;
}

/* ---- checks shared by files and flags ------------------------------------- */

/* "host:port" with a numeric port 1..65535 and a non-empty host; the RPC
 * layer checks the host is numeric when it connects. */
static int check_addr(const char *where, const char *addr, struct cv_err *err)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || strlen(addr) >= 64) {
        return cv_err_setf(err, CV_EINVAL, "%s: expected host:port, got \"%s\"", where, addr);
    }
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        return cv_err_setf(err, CV_EINVAL, "%s: port must be 1 to 65535, got \"%s\"", where, addr);
    }
    return 0;
}

/* Replaces the server list with a comma-separated one. */
static int set_servers_csv(struct agent_config *c, const char *where, const char *csv,
                           struct cv_err *err)
{
    char *copy = cv_strdup(csv);
    char *save = NULL;
    clear_servers(c);
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        if (c->n_servers == AGENT_MAX_SERVERS) {
            rc = cv_err_setf(err, CV_EINVAL, "%s: at most %d servers", where, AGENT_MAX_SERVERS);
        } else if ((rc = check_addr(where, tok, err)) == 0) {
            c->servers[c->n_servers++] = cv_strdup(tok);
        }
    }
    cv_free(copy);
    if (rc == 0 && c->n_servers == 0) {
        rc = cv_err_setf(err, CV_EINVAL, "%s: at least one server address is required", where);
    }
    return rc;
}

static int set_log_level(struct agent_config *c, const char *where, const char *v,
                         struct cv_err *err)
{
    if (cv_log_parse_level(v, &c->log_level) != 0) {
        return cv_err_setf(err, CV_EINVAL, "%s: must be debug, info, warn or error, got \"%s\"",
                           where, v);
    }
    return 0;
}

/* ---- JSON files --------------------------------------------------------------- */

static int want_type(const char *key, const struct cv_json *v, enum cv_json_type t,
                     struct cv_err *err)
{
    if (v->type != t) {
        return cv_err_setf(err, CV_EINVAL, "%s: expected %s, got %s", key, cv_json_type_name(t),
                           cv_json_type_name(v->type));
    }
    return 0;
}

static int json_string(const char *key, const struct cv_json *v, char **field, struct cv_err *err)
{
    int rc = want_type(key, v, CV_JSON_STRING, err);
    if (rc == 0) {
        cv_set_string(field, v->u.string.ptr);
    }
    return rc;
}

static int json_bool(const char *key, const struct cv_json *v, bool *field, struct cv_err *err)
{
    int rc = want_type(key, v, CV_JSON_BOOL, err);
    if (rc == 0) {
        *field = v->u.boolean;
    }
    return rc;
}

static int json_nonneg(const char *key, const struct cv_json *v, int64_t *field, struct cv_err *err)
{
    int rc = want_type(key, v, CV_JSON_NUMBER, err);
    if (rc != 0) {
        return rc;
    }
    int64_t n = 0;
    if (cv_json_int64(v, &n) != 0) {
        return cv_err_setf(err, CV_EINVAL, "%s: expected an integer, got %s", key,
                           v->u.number.text);
    }
    if (n < 0) {
        return cv_err_setf(err, CV_EINVAL, "%s: must not be negative, got %lld", key, (long long)n);
    }
    *field = n;
    return 0;
}

static int apply_drivers(struct agent_config *c, const struct cv_json *v, struct cv_err *err)
{
    int rc = want_type("drivers", v, CV_JSON_OBJECT, err);
    for (size_t i = 0; rc == 0 && i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        char key[CV_ERR_PATH_MAX];
        cv_path_join(key, "drivers", m->key);
        bool *flag = NULL;
        if (strcmp(m->key, "raw_exec") == 0) {
            flag = &c->raw_exec;
        } else if (strcmp(m->key, "mock") == 0) {
            flag = &c->mock;
        } else {
            return cv_err_setf(err, CV_EINVAL, "%s: unknown driver (raw_exec, mock)", key);
        }
        rc = want_type(key, m->value, CV_JSON_OBJECT, err);
        for (size_t j = 0; rc == 0 && j < m->value->u.object.len; j++) {
            const struct cv_json_member *o = &m->value->u.object.members[j];
            char sub[CV_ERR_PATH_MAX];
            cv_path_join(sub, key, o->key);
            if (strcmp(o->key, "enabled") == 0) {
                rc = json_bool(sub, o->value, flag, err);
            } else {
                rc = cv_err_setf(err, CV_EINVAL, "%s: unknown field", sub);
            }
        }
    }
    return rc;
}

static int apply_reserved(struct agent_config *c, const struct cv_json *v, struct cv_err *err)
{
    int rc = want_type("reserved", v, CV_JSON_OBJECT, err);
    for (size_t i = 0; rc == 0 && i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        char key[CV_ERR_PATH_MAX];
        cv_path_join(key, "reserved", m->key);
        if (strcmp(m->key, "cpu") == 0) {
            rc = json_nonneg(key, m->value, &c->reserved_cpu, err);
        } else if (strcmp(m->key, "memory") == 0) {
            rc = json_nonneg(key, m->value, &c->reserved_memory_mb, err);
        } else if (strcmp(m->key, "disk") == 0) {
            rc = json_nonneg(key, m->value, &c->reserved_disk_mb, err);
        } else if (strcmp(m->key, "reserved_ports") == 0) {
            rc = json_string(key, m->value, &c->reserved_ports, err);
        } else {
            rc = cv_err_setf(err, CV_EINVAL, "%s: unknown field", key);
        }
    }
    return rc;
}

static int apply_meta(struct agent_config *c, const struct cv_json *v, struct cv_err *err)
{
    int rc = want_type("meta", v, CV_JSON_OBJECT, err);
    for (size_t i = 0; rc == 0 && i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        char key[CV_ERR_PATH_MAX];
        cv_path_join(key, "meta", m->key);
        if (!m->key[0]) {
            return cv_err_setf(err, CV_EINVAL, "meta: keys must not be empty");
        }
        rc = want_type(key, m->value, CV_JSON_STRING, err);
        if (rc == 0) {
            cv_strmap_set(&c->meta, m->key, m->value->u.string.ptr);
        }
    }
    return rc;
}

static int apply_servers(struct agent_config *c, const struct cv_json *v, struct cv_err *err)
{
    int rc = want_type("servers", v, CV_JSON_ARRAY, err);
    if (rc != 0) {
        return rc;
    }
    if (v->u.array.len == 0 || v->u.array.len > AGENT_MAX_SERVERS) {
        return cv_err_setf(err, CV_EINVAL, "servers: expected 1 to %d addresses, got %zu",
                           AGENT_MAX_SERVERS, v->u.array.len);
    }
    clear_servers(c);
    for (size_t i = 0; rc == 0 && i < v->u.array.len; i++) {
        char key[CV_ERR_PATH_MAX];
        cv_path_index(key, "", "servers", i);
        const struct cv_json *s = v->u.array.items[i];
        rc = want_type(key, s, CV_JSON_STRING, err);
        if (rc == 0) {
            rc = check_addr(key, s->u.string.ptr, err);
        }
        if (rc == 0) {
            c->servers[c->n_servers++] = cv_strdup(s->u.string.ptr);
        }
    }
    return rc;
}

static int apply_member(struct agent_config *c, const char *key, const struct cv_json *v,
                        struct cv_err *err)
{
    if (strcmp(key, "servers") == 0) {
        return apply_servers(c, v, err);
    }
    if (strcmp(key, "data_dir") == 0) {
        return json_string(key, v, &c->data_dir, err);
    }
    if (strcmp(key, "datacenter") == 0) {
        return json_string(key, v, &c->datacenter, err);
    }
    if (strcmp(key, "name") == 0) {
        return json_string(key, v, &c->name, err);
    }
    if (strcmp(key, "node_class") == 0) {
        return json_string(key, v, &c->node_class, err);
    }
    if (strcmp(key, "node_pool") == 0) {
        return json_string(key, v, &c->node_pool, err);
    }
    if (strcmp(key, "meta") == 0) {
        return apply_meta(c, v, err);
    }
    if (strcmp(key, "drivers") == 0) {
        return apply_drivers(c, v, err);
    }
    if (strcmp(key, "reserved") == 0) {
        return apply_reserved(c, v, err);
    }
    if (strcmp(key, "log_file") == 0) {
        return json_string(key, v, &c->log_file, err);
    }
    if (strcmp(key, "bind_addr") == 0) {
        return json_string(key, v, &c->bind_addr, err);
    }
    if (strcmp(key, "http_port") == 0) {
        int64_t port = 0;
        int rc = json_nonneg(key, v, &port, err);
        if (rc == 0 && (port < 1 || port > 65535)) {
            rc = cv_err_setf(err, CV_EINVAL, "%s: must be 1 to 65535, got %lld", key,
                             (long long)port);
        }
        if (rc == 0) {
            c->http_port = (int)port;
        }
        return rc;
    }
    if (strcmp(key, "log_level") == 0) {
        int rc = want_type(key, v, CV_JSON_STRING, err);
        return rc ? rc : set_log_level(c, key, v->u.string.ptr, err);
    }
    return cv_err_setf(err, CV_EINVAL, "%s: unknown field", key);
}

int agent_config_apply_json(struct agent_config *c, const char *text, size_t len,
                            const char *origin, struct cv_err *err)
{
    struct cv_json_limits lim = cv_json_default_limits;
    lim.max_bytes = CONFIG_MAX_BYTES;
    struct cv_json_doc *doc = NULL;
    int rc = cv_json_parse(text, len, &lim, &doc, err);
    if (rc == 0) {
        const struct cv_json *root = cv_json_doc_root(doc);
        rc = want_type("(top level)", root, CV_JSON_OBJECT, err);
        for (size_t i = 0; rc == 0 && i < root->u.object.len; i++) {
            const struct cv_json_member *m = &root->u.object.members[i];
            rc = apply_member(c, m->key, m->value, err);
        }
        cv_json_doc_free(doc);
    }
    if (rc != 0) {
        cv_err_wrapf(err, "%s", origin);
    }
    return rc;
}

int agent_config_load_file(struct agent_config *c, const char *path, struct cv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return cv_err_setf(err, CV_EIO, "-config %s: %s", path, strerror(errno));
    }
    char *buf = cv_malloc(CONFIG_MAX_BYTES + 1);
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    int rc = 0;
    if (ferror(f)) {
        rc = cv_err_setf(err, CV_EIO, "-config %s: read error", path);
    } else if (n > CONFIG_MAX_BYTES) {
        rc = cv_err_setf(err, CV_ETOOBIG, "-config %s: larger than %d bytes", path,
                         CONFIG_MAX_BYTES);
    } else {
        rc = agent_config_apply_json(c, buf, n, path, err);
    }
    fclose(f);
    cv_free(buf);
    return rc;
}

/* ---- flags ------------------------------------------------------------------ */

void agent_config_usage(FILE *out)
{
    fputs(
        "usage: nodeagent -dev | -config FILE [flags]\n"
        "  -dev                  servers 127.0.0.1:4647, temporary data dir, dc1,\n"
        "                        raw_exec and mock drivers enabled\n"
        "  -config FILE          JSON configuration (repeatable; later files override)\n"
        "  -servers A,B          server RPC addresses (host:port, comma-separated)\n"
        "  -data-dir DIR         state directory (node ID, allocations, task state)\n"
        "  -dc NAME              datacenter\n"
        "  -name NAME            node name (default: the hostname)\n"
        "  -node-class NAME      node class\n"
        "  -node-pool NAME       node pool\n"
        "  -meta KEY=VALUE       node metadata (repeatable)\n"
        "  -log-level LEVEL      debug, info, warn or error\n"
        "  -log-file PATH        log to PATH (reopened on SIGHUP) instead of stderr\n"
        "  -bind ADDR            address of the HTTP API (default 127.0.0.1)\n"
        "  -http-port PORT       port of the HTTP API (default 4656)\n"
        "  -simulate N           run N simulated nodes (mock driver only) in this process,\n"
        "                        each in <data dir>/sim-<i>, named <name>-<i>\n",
        out);
}

/* "-name value", "-name=value" or "--name ...": splits argv[*i] and takes
 * the value from the next argument when needed. */
static int flag_value(int argc, char **argv, int *i, const char *flag, const char **value,
                      struct cv_err *err)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq) {
        *value = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc) {
        return cv_err_setf(err, CV_EINVAL, "-%s: needs a value", flag);
    }
    *value = argv[++*i];
    return 0;
}

/* The flag's name without dashes or "=value", into out. */
static void flag_name(const char *arg, char *out, size_t size)
{
    while (*arg == '-') {
        arg++;
    }
    size_t n = strcspn(arg, "=");
    if (n >= size) {
        n = size - 1;
    }
    memcpy(out, arg, n);
    out[n] = '\0';
}

static int apply_flag(struct agent_config *c, const char *name, const char *v, struct cv_err *err)
{
    char where[80];
    snprintf(where, sizeof where, "-%s", name);
    if (strcmp(name, "servers") == 0) {
        return set_servers_csv(c, where, v, err);
    }
    if (strcmp(name, "log-level") == 0) {
        return set_log_level(c, where, v, err);
    }
    if (strcmp(name, "meta") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) {
            return cv_err_setf(err, CV_EINVAL, "-meta: expected key=value, got \"%s\"", v);
        }
        char *key = cv_strndup(v, (size_t)(eq - v));
        cv_strmap_set(&c->meta, key, eq + 1);
        cv_free(key);
        return 0;
    }
    if (strcmp(name, "http-port") == 0) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || n < 1 || n > 65535) {
            return cv_err_setf(err, CV_EINVAL, "-http-port: must be 1 to 65535, got \"%s\"", v);
        }
        c->http_port = (int)n;
        return 0;
    }
    if (strcmp(name, "simulate") == 0) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || n < 1 || n > 100000) {
            return cv_err_setf(err, CV_EINVAL, "-simulate: must be 1 to 100000, got \"%s\"", v);
        }
        c->simulate = (int)n;
        return 0;
    }
    char **field = NULL;
    if (strcmp(name, "data-dir") == 0) {
        field = &c->data_dir;
    } else if (strcmp(name, "dc") == 0) {
        field = &c->datacenter;
    } else if (strcmp(name, "name") == 0) {
        field = &c->name;
    } else if (strcmp(name, "node-class") == 0) {
        field = &c->node_class;
    } else if (strcmp(name, "node-pool") == 0) {
        field = &c->node_pool;
    } else if (strcmp(name, "log-file") == 0) {
        field = &c->log_file;
    } else if (strcmp(name, "bind") == 0) {
        field = &c->bind_addr;
    }
    if (!field) {
        return cv_err_setf(err, CV_EINVAL, "-%s: unknown flag (nodeagent -h lists them)", name);
    }
    if (strcmp(name, "node-class") != 0 && strcmp(name, "log-file") != 0 && !*v) {
        return cv_err_setf(err, CV_EINVAL, "-%s: must not be empty", name);
    }
    cv_set_string(field, v);
    return 0;
}

int agent_config_parse_args(struct agent_config *c, int argc, char **argv, struct cv_err *err)
{
    char name[64];
    /* Pass 1: -h and -dev, which change what the other layers start from. */
    for (int i = 1; i < argc; i++) {
        flag_name(argv[i], name, sizeof name);
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            agent_config_usage(stdout);
            return AGENT_CONFIG_HELP;
        }
        if (strcmp(name, "dev") == 0 && c->dev == false) {
            agent_config_dev(c);
        }
    }
    /* Pass 2: the files, in order. */
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-') {
            return cv_err_setf(err, CV_EINVAL, "unexpected argument \"%s\"", argv[i]);
        }
        flag_name(argv[i], name, sizeof name);
        if (strcmp(name, "dev") == 0) {
            continue;
        }
        const char *v = NULL;
        int rc = flag_value(argc, argv, &i, name, &v, err);
        if (rc != 0) {
            return rc;
        }
        if (strcmp(name, "config") == 0 && (rc = agent_config_load_file(c, v, err)) != 0) {
            return rc;
        }
    }
    /* Pass 3: the other flags. */
    for (int i = 1; i < argc; i++) {
        flag_name(argv[i], name, sizeof name);
        if (strcmp(name, "dev") == 0) {
            continue;
        }
        const char *v = NULL;
        int rc = flag_value(argc, argv, &i, name, &v, err);
        if (rc == 0 && strcmp(name, "config") != 0) {
            rc = apply_flag(c, name, v, err);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return agent_config_finish(c, err);
}

int agent_config_finish(struct agent_config *c, struct cv_err *err)
{
    if (c->n_servers == 0) {
        return cv_err_setf(err, CV_EINVAL,
                           "servers: at least one server address is required (-servers)");
    }
    if (!c->datacenter[0]) {
        return cv_err_setf(err, CV_EINVAL, "datacenter: must not be empty (-dc)");
    }
    if (!c->node_pool[0]) {
        return cv_err_setf(err, CV_EINVAL, "node_pool: must not be empty (-node-pool)");
    }
    if (!c->bind_addr[0]) {
        return cv_err_setf(err, CV_EINVAL, "bind_addr: must not be empty (-bind)");
    }
    if (!c->data_dir[0]) {
        if (!c->dev) {
            return cv_err_setf(err, CV_EINVAL, "data_dir: required outside -dev (-data-dir)");
        }
        const char *tmp = getenv("TMPDIR");
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/nodeagent-dev-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(path)) {
            return cv_err_setf(err, CV_EIO, "-dev: cannot make a temporary data dir in %s: %s",
                               tmp && *tmp ? tmp : "/tmp", strerror(errno));
        }
        cv_set_string(&c->data_dir, path);
        c->data_dir_is_temp = true;
    }
    if (c->data_dir[0] != '/') {
        char cwd[PATH_MAX];
        char path[PATH_MAX * 2];
        if (!getcwd(cwd, sizeof cwd)) {
            return cv_err_setf(err, CV_EIO, "data_dir: cannot resolve \"%s\": %s", c->data_dir,
                               strerror(errno));
        }
        snprintf(path, sizeof path, "%s/%s", cwd, c->data_dir);
        cv_set_string(&c->data_dir, path);
    }
    if (!c->name[0]) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0]) {
            snprintf(host, sizeof host, "nodeagent");
        }
        cv_set_string(&c->name, host);
    }
    return 0;
}
