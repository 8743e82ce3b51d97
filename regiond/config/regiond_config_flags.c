/*
 * regiond_config_flags: the command line (rcfg_apply_flags) and its usage
 * text (rcfg_usage).
 *
 * Each flag is a line of flag_table: its name, the placeholder of its value,
 * and what it does, most often setting the key at a dotted path of the table
 * of keys, so that its value is checked as a file's would be. Parsing takes
 * two passes: the first checks the syntax only and notes -dev, so that -dev
 * and -config take effect first wherever they stand; the second applies
 * -dev's defaults, then the files in order, then the other flags in order.
 * The usage shows each flag's default, read from a fresh rcfg_init.
 */
#include "regiond/config/regiond_config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/config/regiond_config_internal.h"

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
    {"num-schedulers", "N", FA_FIELD, "num_schedulers",
     "scheduler worker threads, 0 to 256 (0: this server schedules nothing)", "one per CPU"},
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
    const struct field *f = rcfg__field_by_path(fl->key);
    void *m = rcfg__member(d, f);
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
        snprintf(out, n, "%s", rcfg__adaptor_name(d->store.adaptor));
        break;
    case K_LEVEL:
        snprintf(out, n, "%s", rcfg__level_names[d->log_level]);
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
    const struct field *f = rcfg__field_by_path(fl->key);
    if (rcfg__is_string_kind(f->kind)) {
        return rcfg__set_string(c, f, value, path, err);
    }
    switch (f->kind) {
    case K_UINT:
    case K_EXPECT: {
        uint64_t v = 0;
        int rc = rcfg__parse_decimal(value, &v);
        if (rc == CV_EINVAL) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected an integer, got \"%s\"", value);
        }
        if (rc != 0) {
            return rcfg__range_error(f, value, path, err);
        }
        return rcfg__set_uint(c, f, v, value, path, err);
    }
    case K_BOOL: {
        bool b = false;
        if (rcfg__parse_bool(value, &b) != 0) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected true or false, got \"%s\"",
                                    value);
        }
        *(bool *)rcfg__member(c, f) = b;
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
            if (rcfg__parse_bool(value, &dev) != 0) {
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
        rcfg__apply_dev_defaults(c);
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
                rcfg__peers_clear(c);
                peers_from_flags = true;
            }
            rc = rcfg__peers_add(c, items[i].value, "-peer", err);
        }
        if (rc != 0) {
            goto out;
        }
    }
out:
    cv_free(items);
    return rc;
}
