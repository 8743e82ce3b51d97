/*
 * test_regiond_config: the region server's configuration: defaults, -dev,
 * files, flags over files, every error an operator can make (with the key
 * or flag it names), the data dir and port checks, and the effective
 * configuration with its password hidden. Each test works in a temporary
 * directory of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/err.h"
#include "common/json.h"
#include "common/mem.h"
#include "regiond/config/regiond_config.h"
#include "regiond/leader/heartbeat.h"
#include "regiond/store/store_embedded.h"
#include "regiond/store/store_pg.h"
#include "testutil.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- helpers ------------------------------------------------------------------- */

struct fixture
{
    char dir[256];
    struct rcfg c;
    struct cv_err err;
};

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700); /* a test may have taken the permissions away */
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                    continue;
                }
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                rm_rf(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int fx_setup(void **state)
{
    cv_test_setup(state);
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_rcfg-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        return -1;
    }
    rcfg_init(&fx->c);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    rcfg_free(&fx->c);
    rm_rf(fx->dir);
    free(fx);
    return cv_test_teardown(state);
}

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Writes `single_quoted` (' for ") to dir/name; returns the path (static
 * buffer per call site is enough: tests use one or two at a time). */
static void write_file(const struct fixture *fx, const char *name, const char *single_quoted,
                       char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", fx->dir, name);
    char *text = cv_test_quotes(single_quoted);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    cv_free(text);
}

/* Loads a one-off file and returns the result code. */
static int load(struct fixture *fx, const char *single_quoted)
{
    char path[512];
    write_file(fx, "c.json", single_quoted, path, sizeof path);
    cv_err_clear(&fx->err);
    return rcfg_load_file(&fx->c, path, &fx->err);
}

static void assert_err(const struct cv_err *err, int rc, int code, const char *path,
                       const char *msg_part)
{
    if (rc != code || strcmp(err->path, path) != 0 || !strstr(err->msg, msg_part)) {
        print_error("got rc %d path \"%s\" msg \"%s\"\nwanted rc %d path \"%s\" msg with \"%s\"\n",
                    rc, err->path, err->msg, code, path, msg_part);
        fail();
    }
}

static void set_data_dir(struct fixture *fx, const char *sub)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", fx->dir, sub);
    cv_free(fx->c.data_dir);
    fx->c.data_dir = cv_strdup(dir);
}

/* ---- defaults and dev ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    assert_string_equal(c->region, "global");
    assert_string_equal(c->datacenter, "dc1");
    assert_string_equal(c->name, host);
    assert_null(c->data_dir);
    assert_string_equal(c->bind_addr, "0.0.0.0");
    assert_null(c->advertise);
    assert_i64_equal(c->ports.http, 4646);
    assert_i64_equal(c->ports.rpc, 4647);
    assert_i64_equal(c->ports.serf, 4648);
    assert_i64_equal(c->server_id, 0);
    assert_i64_equal(c->bootstrap_expect, 1);
    assert_false(c->join);
    assert_i64_equal((int64_t)c->n_peers, 0);
    assert_i64_equal(c->store.adaptor, RCFG_STORE_EMBEDDED);
    assert_u64_equal(c->store.embedded.segment_size, 64u * 1024 * 1024);
    assert_null(c->store.postgres.conninfo);
    assert_null(c->store.postgres.schema);
    assert_i64_equal(c->store.postgres.reconnect_timeout_ms, 30000);
    assert_i64_equal(c->log_level, CV_LOG_INFO);
    assert_null(c->log_file);
    assert_i64_equal(c->raft.election_timeout_ms, 300);
    assert_i64_equal(c->raft.heartbeat_ms, 50);
    assert_u64_equal(c->raft.snapshot_threshold, 8192);
    assert_i64_equal(c->raft.snapshot_interval_s, 120);
    assert_u64_equal(c->raft.trailing_logs, 10240);
    assert_u64_equal(c->http.max_body_bytes, 16u * 1024 * 1024);
    assert_i64_equal(c->heartbeat.min_ttl_s, 10);
    assert_true(c->heartbeat.max_per_second == 50.0);
    assert_i64_equal(c->heartbeat.grace_s, 10);
    assert_i64_equal(c->heartbeat.failover_ttl_s, 300);
    assert_u64_equal(c->num_schedulers, RCFG_NUM_SCHEDULERS_AUTO);
    assert_u64_equal(rcfg_num_schedulers(c), rcfg_online_cpus());
    assert_true(rcfg_online_cpus() >= 1);
    assert_false(c->dev);

    /* Without a data_dir a production server does not start. */
    int rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "data_dir", "required");
}

/* The defaults repeated here are those of the modules that use them. */
static void test_defaults_agree_with_modules(void **state)
{
    (void)state;
    assert_u64_equal(RCFG_DEFAULT_SEGMENT_SIZE, STORE_SEGMENT_SIZE_DEFAULT);
    assert_u64_equal(RCFG_DEFAULT_PG_RECONNECT_MS, STORE_PG_RECONNECT_TIMEOUT_MS);
    assert_u64_equal(RCFG_DEFAULT_HB_MIN_TTL_S * CV_NSEC_PER_SEC, HB_DEFAULT_MIN_TTL_NS);
    assert_u64_equal(RCFG_DEFAULT_HB_GRACE_S * CV_NSEC_PER_SEC, HB_DEFAULT_GRACE_NS);
    assert_u64_equal(RCFG_DEFAULT_HB_FAILOVER_TTL_S * CV_NSEC_PER_SEC, HB_DEFAULT_FAILOVER_TTL_NS);
    assert_true(RCFG_DEFAULT_HB_MAX_PER_SECOND == HB_DEFAULT_MAX_PER_SECOND);
}

static void test_dev_defaults(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    char *argv[] = {"regiond", "-dev"};
    assert_i64_equal(rcfg_apply_flags(c, ARGC(argv), argv, &fx->err), 0);
    assert_true(c->dev);
    assert_string_equal(c->bind_addr, "127.0.0.1");
    assert_i64_equal(c->bootstrap_expect, 1);
    assert_i64_equal(c->server_id, 1);
    assert_i64_equal(c->store.adaptor, RCFG_STORE_EMBEDDED);
    assert_i64_equal(c->ports.http, 4646);

    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
    assert_true(c->data_dir_temp);
    assert_non_null(c->data_dir);
    assert_true(c->data_dir[0] == '/');
    assert_non_null(strstr(c->data_dir, "regiond-dev-"));
    assert_string_equal(c->advertise, "127.0.0.1");
    struct stat st;
    assert_i64_equal(stat(c->data_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* The daemon removes it at exit, with whatever the store wrote in it. */
    char path[1024];
    snprintf(path, sizeof path, "%s/sub", c->data_dir);
    assert_i64_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/file", c->data_dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    char *dir = cv_strdup(c->data_dir);
    assert_i64_equal(rcfg_remove_temp_data_dir(c, &fx->err), 0);
    assert_i64_equal(stat(dir, &st), -1);
    assert_false(c->data_dir_temp);
    cv_free(dir);
}

/* -dev with a data_dir keeps the directory; -dev refuses a region. */
static void test_dev_rules(void **state)
{
    struct fixture *fx = *state;
    char dir[512];
    snprintf(dir, sizeof dir, "-data-dir=%s/dev", fx->dir);
    char *argv[] = {"regiond", "-dev", dir};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv), argv, &fx->err), 0);
    assert_i64_equal(rcfg_validate(&fx->c, &fx->err), 0);
    assert_false(fx->c.data_dir_temp);
    assert_i64_equal(rcfg_remove_temp_data_dir(&fx->c, &fx->err), 0);
    struct stat st;
    assert_i64_equal(stat(fx->c.data_dir, &st), 0);

    rcfg_free(&fx->c);
    rcfg_init(&fx->c);
    char *argv2[] = {"regiond", "-dev", "-bootstrap-expect", "3"};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv2), argv2, &fx->err), 0);
    int rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "bootstrap_expect", "must be 1 with -dev");

    rcfg_free(&fx->c);
    rcfg_init(&fx->c);
    char *argv3[] = {"regiond", "-dev", "-peer", "2@127.0.0.1:5647"};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv3), argv3, &fx->err), 0);
    rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "peers", "-dev runs one server");
}

/* ---- files --------------------------------------------------------------------- */

static void test_full_file(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    char data[512];
    snprintf(data, sizeof data, "%s/data/regiond-1", fx->dir);
    char text[4096];
    snprintf(text, sizeof text,
             "{'region': 'eu', 'datacenter': 'eu-west-1a', 'name': 'srv-1',"
             " 'data_dir': '%s', 'bind_addr': '127.0.0.1', 'advertise': 'srv-1.example.com',"
             " 'ports': {'http': 5646, 'rpc': 5647, 'serf': 5648},"
             " 'server_id': 1, 'bootstrap_expect': 3, 'join': false,"
             " 'peers': ['2@10.0.0.2:4647', '3@[fd00::3]:4647'],"
             " 'store': {'adaptor': 'postgres', 'embedded': {'segment_size': 8388608},"
             "   'postgres': {'conninfo': 'host=db user=caravan', 'schema': 'caravan_eu_1',"
             "                'reconnect_timeout_ms': 5000}},"
             " 'log_level': 'DEBUG', 'log_file': '%s/regiond.log',"
             " 'raft': {'election_timeout_ms': 2000, 'heartbeat_ms': 200,"
             "          'snapshot_threshold': 1000, 'snapshot_interval_s': 60,"
             "          'trailing_logs': 500},"
             " 'http': {'max_body_bytes': 1048576},"
             " 'heartbeat': {'min_ttl_s': 20, 'max_per_second': 12.5, 'grace_s': 5,"
             "               'failover_ttl_s': 600}}",
             data, fx->dir);
    assert_i64_equal(load(fx, text), 0);
    assert_string_equal(c->region, "eu");
    assert_string_equal(c->datacenter, "eu-west-1a");
    assert_string_equal(c->name, "srv-1");
    assert_string_equal(c->data_dir, data);
    assert_string_equal(c->bind_addr, "127.0.0.1");
    assert_string_equal(c->advertise, "srv-1.example.com");
    assert_i64_equal(c->ports.http, 5646);
    assert_i64_equal(c->ports.rpc, 5647);
    assert_i64_equal(c->ports.serf, 5648);
    assert_i64_equal(c->server_id, 1);
    assert_i64_equal(c->bootstrap_expect, 3);
    assert_i64_equal((int64_t)c->n_peers, 2);
    assert_i64_equal(c->peers[0].id, 2);
    assert_string_equal(c->peers[0].host, "10.0.0.2");
    assert_i64_equal(c->peers[0].port, 4647);
    assert_i64_equal(c->peers[1].id, 3);
    assert_string_equal(c->peers[1].host, "fd00::3");
    assert_i64_equal(c->store.adaptor, RCFG_STORE_POSTGRES);
    assert_u64_equal(c->store.embedded.segment_size, 8388608);
    assert_string_equal(c->store.postgres.conninfo, "host=db user=caravan");
    assert_string_equal(c->store.postgres.schema, "caravan_eu_1");
    assert_i64_equal(c->store.postgres.reconnect_timeout_ms, 5000);
    assert_i64_equal(c->log_level, CV_LOG_DEBUG);
    assert_non_null(strstr(c->log_file, "regiond.log"));
    assert_i64_equal(c->raft.election_timeout_ms, 2000);
    assert_i64_equal(c->raft.heartbeat_ms, 200);
    assert_u64_equal(c->raft.snapshot_threshold, 1000);
    assert_i64_equal(c->raft.snapshot_interval_s, 60);
    assert_u64_equal(c->raft.trailing_logs, 500);
    assert_u64_equal(c->http.max_body_bytes, 1048576);
    assert_i64_equal(c->heartbeat.min_ttl_s, 20);
    assert_true(c->heartbeat.max_per_second == 12.5);
    assert_i64_equal(c->heartbeat.grace_s, 5);
    assert_i64_equal(c->heartbeat.failover_ttl_s, 600);
    assert_i64_equal((int64_t)c->n_files, 1);

    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
    struct stat st;
    assert_i64_equal(stat(data, &st), 0); /* created, parents too */
    assert_true(S_ISDIR(st.st_mode));
    assert_string_equal(c->advertise, "srv-1.example.com");
}

/* A file only changes the keys it names. */
static void test_file_is_partial(void **state)
{
    struct fixture *fx = *state;
    assert_i64_equal(load(fx, "{'ports': {'rpc': 7000}}"), 0);
    assert_i64_equal(fx->c.ports.http, 4646);
    assert_i64_equal(fx->c.ports.rpc, 7000);
    assert_string_equal(fx->c.region, "global");
    assert_i64_equal(load(fx, "{}"), 0);
    assert_i64_equal(fx->c.ports.rpc, 7000);
}

static void test_derived_values(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    assert_i64_equal(load(fx,
                          "{'region': 'EU-West', 'name': 'srv.1', 'bind_addr': '10.1.2.3',"
                          " 'store': {'adaptor': 'postgres',"
                          "           'postgres': {'conninfo': 'host=db'}}}"),
                     0);
    set_data_dir(fx, "d");
    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
    assert_string_equal(c->store.postgres.schema, "caravan_eu_west_srv_1");
    assert_string_equal(c->advertise, "10.1.2.3");
    assert_i64_equal(c->server_id, 1); /* a lone server */

    /* A long region and name are cut to PostgreSQL's 63 characters. */
    rcfg_free(c);
    rcfg_init(c);
    assert_i64_equal(load(fx,
                          "{'region': 'rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr',"
                          " 'name': 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn',"
                          " 'bind_addr': '127.0.0.1',"
                          " 'store': {'adaptor': 'postgres',"
                          "           'postgres': {'conninfo': 'host=db'}}}"),
                     0);
    set_data_dir(fx, "d");
    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
    assert_i64_equal((int64_t)strlen(c->store.postgres.schema), 63);
}

/* ---- flags --------------------------------------------------------------------- */

static void test_flags_override_file(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    char f1[512];
    char f2[512];
    write_file(fx, "a.json",
               "{'region': 'a', 'datacenter': 'dc-a', 'ports': {'http': 5000, 'rpc': 5001},"
               " 'bootstrap_expect': 3, 'server_id': 1,"
               " 'peers': ['2@127.0.0.1:6001', '3@127.0.0.1:7001'], 'log_level': 'warn'}",
               f1, sizeof f1);
    write_file(fx, "b.json", "{'datacenter': 'dc-b', 'ports': {'rpc': 5002}}", f2, sizeof f2);
    char cfg1[600];
    snprintf(cfg1, sizeof cfg1, "-config=%s", f1);
    /* Flags win over files wherever they stand; later files over earlier. */
    char *argv[] = {"regiond",
                    "-region",
                    "b",
                    cfg1,
                    "-config",
                    f2,
                    "-http-port=6000",
                    "--server-id",
                    "2",
                    "-peer",
                    "1@127.0.0.1:5002",
                    "-peer",
                    "3@127.0.0.1:7001",
                    "-log-level",
                    "error",
                    "-store",
                    "postgres",
                    "-pg-conninfo",
                    "host=db",
                    "-pg-schema=s1",
                    "-name",
                    "n2",
                    "-bind",
                    "127.0.0.1",
                    "-advertise",
                    "localhost",
                    "-serf-port",
                    "6003",
                    "-bootstrap-expect",
                    "3",
                    "-dc",
                    "dc-c"};
    assert_i64_equal(rcfg_apply_flags(c, ARGC(argv), argv, &fx->err), 0);
    assert_string_equal(c->region, "b");
    assert_string_equal(c->datacenter, "dc-c");
    assert_i64_equal(c->ports.http, 6000);
    assert_i64_equal(c->ports.rpc, 5002);
    assert_i64_equal(c->ports.serf, 6003);
    assert_i64_equal(c->server_id, 2);
    assert_i64_equal((int64_t)c->n_peers, 2); /* the flags' peers replace the file's */
    assert_i64_equal(c->peers[0].id, 1);
    assert_i64_equal(c->peers[1].id, 3);
    assert_i64_equal(c->log_level, CV_LOG_ERROR);
    assert_i64_equal(c->store.adaptor, RCFG_STORE_POSTGRES);
    assert_string_equal(c->store.postgres.conninfo, "host=db");
    assert_string_equal(c->store.postgres.schema, "s1");
    assert_string_equal(c->name, "n2");
    assert_string_equal(c->advertise, "localhost");
    assert_i64_equal((int64_t)c->n_files, 2);
    assert_string_equal(c->files[0], f1);
    assert_string_equal(c->files[1], f2);

    char dd[600];
    snprintf(dd, sizeof dd, "%s/d2", fx->dir);
    char *argv2[] = {"regiond", "-data-dir", dd, "-log-file", "", "-join=false"};
    assert_i64_equal(rcfg_apply_flags(c, ARGC(argv2), argv2, &fx->err), 0);
    assert_null(c->log_file);
    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
}

/* -dev's defaults come before the files, so a file can change them. */
static void test_dev_then_file(void **state)
{
    struct fixture *fx = *state;
    char f[512];
    write_file(fx, "dev.json", "{'bind_addr': '127.0.0.2', 'ports': {'http': 7646}}", f, sizeof f);
    char *argv[] = {"regiond", "-config", f, "-dev"};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv), argv, &fx->err), 0);
    assert_true(fx->c.dev);
    assert_string_equal(fx->c.bind_addr, "127.0.0.2");
    assert_i64_equal(fx->c.ports.http, 7646);
}

static void test_help(void **state)
{
    struct fixture *fx = *state;
    char *argv[] = {"regiond", "-region", "x", "-h"};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv), argv, &fx->err), RCFG_HELP);
    char *argv2[] = {"regiond", "--help"};
    assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv2), argv2, &fx->err), RCFG_HELP);
}

static void test_usage(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    rcfg_usage(f);
    fclose(f);
    static const char *const want[] = {
        "Usage: regiond",
        "-config FILE",
        "-dev\n",
        "-http-port PORT",
        "(default: 4646)",
        "-rpc-port PORT",
        "(default: 4647)",
        "-serf-port PORT",
        "(default: 4648)",
        "-region NAME",
        "(default: global)",
        "-dc NAME",
        "(default: dc1)",
        "-bind ADDR",
        "(default: 0.0.0.0)",
        "-peer ID@HOST:PORT",
        "-store ADAPTOR",
        "(default: embedded)",
        "-pg-schema SCHEMA",
        "caravan_<region>_<name>",
        "-log-level LEVEL",
        "(default: info)",
        "-bootstrap-expect N",
        "-server-id ID",
        "-log-file FILE",
        "-pg-conninfo CONNINFO",
        "-data-dir DIR",
        "-name NAME",
        "-advertise HOST",
        "-join\n",
        "-h, -help",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(text, want[i])) {
            print_error("usage lacks \"%s\":\n%s", want[i], text);
            fail();
        }
    }
    free(text);
}

/* ---- errors in files ----------------------------------------------------------- */

static void test_error_malformed_json(void **state)
{
    struct fixture *fx = *state;
    int rc = load(fx, "{'region': 'a',}");
    assert_i64_equal(rc, CV_EPARSE);
    assert_non_null(strstr(fx->err.msg, "c.json"));
    assert_non_null(strstr(fx->err.msg, "invalid JSON"));

    rc = load(fx, "['region']");
    assert_err(&fx->err, rc, CV_EINVAL, "", "expected a JSON object of settings, got array");

    rc = load(fx, "{'region': 'a', 'region': 'b'}");
    assert_i64_equal(rc, CV_EPARSE);
    assert_non_null(strstr(fx->err.msg, "duplicate key"));
}

static void test_error_file_unreadable(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.json", fx->dir);
    int rc = rcfg_load_file(&fx->c, path, &fx->err);
    assert_i64_equal(rc, CV_ENOTFOUND);
    assert_non_null(strstr(fx->err.msg, "missing.json: cannot open: No such file"));

    rc = rcfg_load_file(&fx->c, fx->dir, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "", "is a directory");

    /* Over the 1 MiB limit: refused before it is read. */
    snprintf(path, sizeof path, "%s/big.json", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"region\": \"", f);
    for (int i = 0; i < 1100 * 1024; i++) {
        fputc('a', f);
    }
    fputs("\"}", f);
    fclose(f);
    rc = rcfg_load_file(&fx->c, path, &fx->err);
    assert_i64_equal(rc, CV_ETOOBIG);
}

static void test_error_unknown_key(void **state)
{
    struct fixture *fx = *state;
    int rc = load(fx, "{'store': {'postgres': {'conninfoo': 'host=db'}}}");
    assert_err(&fx->err, rc, CV_EINVAL, "store.postgres.conninfoo", "unknown field");
    char buf[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX];
    assert_string_equal(cv_err_format(&fx->err, buf, sizeof buf),
                        "store.postgres.conninfoo: unknown field");

    rc = load(fx, "{'regoin': 'x'}");
    assert_err(&fx->err, rc, CV_EINVAL, "regoin", "unknown field");
    rc = load(fx, "{'ports': {'grpc': 1}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.grpc", "unknown field");
    /* Keys are case-sensitive, as Nomad's are. */
    rc = load(fx, "{'Region': 'x'}");
    assert_err(&fx->err, rc, CV_EINVAL, "Region", "unknown field");
    /* -dev is a flag, never a file setting. */
    rc = load(fx, "{'dev': true}");
    assert_err(&fx->err, rc, CV_EINVAL, "dev", "use the -dev flag");
}

static void test_error_wrong_type(void **state)
{
    struct fixture *fx = *state;
    int rc = load(fx, "{'ports': {'http': '4646'}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.http", "expected an integer, got string");
    rc = load(fx, "{'region': 5}");
    assert_err(&fx->err, rc, CV_EINVAL, "region", "expected a string, got number");
    rc = load(fx, "{'ports': 4646}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports", "expected an object, got number");
    rc = load(fx, "{'join': 'yes'}");
    assert_err(&fx->err, rc, CV_EINVAL, "join", "expected a boolean, got string");
    rc = load(fx, "{'peers': '2@h:1'}");
    assert_err(&fx->err, rc, CV_EINVAL, "peers", "expected an array of strings, got string");
    rc = load(fx, "{'peers': [2]}");
    assert_err(&fx->err, rc, CV_EINVAL, "peers[0]", "expected a string, got number");
    rc = load(fx, "{'server_id': 1.5}");
    assert_err(&fx->err, rc, CV_EINVAL, "server_id", "expected an integer, got 1.5");
    rc = load(fx, "{'heartbeat': {'max_per_second': 'x'}}");
    assert_err(&fx->err, rc, CV_EINVAL, "heartbeat.max_per_second", "expected a number");
    rc = load(fx, "{'data_dir': null}");
    assert_err(&fx->err, rc, CV_EINVAL, "data_dir", "expected a string, got null");
}

static void test_error_bad_values(void **state)
{
    struct fixture *fx = *state;
    int rc = load(fx, "{'ports': {'http': 70000}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.http", "must be 1 to 65535, got 70000");
    rc = load(fx, "{'ports': {'rpc': 0}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.rpc", "must be 1 to 65535, got 0");
    rc = load(fx, "{'ports': {'serf': -1}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.serf", "must be 1 to 65535, got -1");
    rc = load(fx, "{'ports': {'serf': 99999999999999999999999}}");
    assert_err(&fx->err, rc, CV_EINVAL, "ports.serf", "must be 1 to 65535");
    rc = load(fx, "{'bootstrap_expect': 2}");
    assert_err(&fx->err, rc, CV_EINVAL, "bootstrap_expect", "must be 1, 3 or 5, got 2");
    rc = load(fx, "{'bootstrap_expect': 0}");
    assert_err(&fx->err, rc, CV_EINVAL, "bootstrap_expect", "must be 1, 3 or 5, got 0");
    rc = load(fx, "{'server_id': 0}");
    assert_err(&fx->err, rc, CV_EINVAL, "server_id", "must be 1 to 65535, got 0");
    rc = load(fx, "{'store': {'adaptor': 'sqlite'}}");
    assert_err(&fx->err, rc, CV_EINVAL, "store.adaptor",
               "must be \"embedded\" or \"postgres\", got \"sqlite\"");
    rc = load(fx, "{'store': {'postgres': {'schema': 'Bad-Name'}}}");
    assert_err(&fx->err, rc, CV_EINVAL, "store.postgres.schema", "\"Bad-Name\": use 1 to 63");
    rc = load(fx, "{'store': {'postgres': {'schema': 'pg_catalog'}}}");
    assert_err(&fx->err, rc, CV_EINVAL, "store.postgres.schema", "not pg_");
    rc = load(fx, "{'store': {'embedded': {'segment_size': 100}}}");
    assert_err(&fx->err, rc, CV_EINVAL, "store.embedded.segment_size", "must be 4096 to");
    rc = load(fx, "{'log_level': 'verbose'}");
    assert_err(&fx->err, rc, CV_EINVAL, "log_level", "must be debug, info, warn or error");
    rc = load(fx, "{'bind_addr': 'localhost'}");
    assert_err(&fx->err, rc, CV_EINVAL, "bind_addr", "must be an IPv4 or IPv6 address");
    rc = load(fx, "{'advertise': 'bad_host!'}");
    assert_err(&fx->err, rc, CV_EINVAL, "advertise", "must be an IP address or a DNS name");
    rc = load(fx, "{'region': 'us east'}");
    assert_err(&fx->err, rc, CV_EINVAL, "region", "must be 1 to 128 letters");
    rc = load(fx, "{'datacenter': ''}");
    assert_err(&fx->err, rc, CV_EINVAL, "datacenter", "must be 1 to 128 letters");
    rc = load(fx, "{'data_dir': ''}");
    assert_err(&fx->err, rc, CV_EINVAL, "data_dir", "must be a path");
    rc = load(fx, "{'data_dir': 'a\\u0000b'}");
    assert_err(&fx->err, rc, CV_EINVAL, "data_dir", "NUL");
    rc = load(fx, "{'heartbeat': {'max_per_second': 0}}");
    assert_err(&fx->err, rc, CV_EINVAL, "heartbeat.max_per_second", "must be more than 0");
    rc = load(fx, "{'raft': {'election_timeout_ms': 10}}");
    assert_err(&fx->err, rc, CV_EINVAL, "raft.election_timeout_ms", "must be 50 to 60000");
    rc = load(fx, "{'num_schedulers': 257}");
    assert_err(&fx->err, rc, CV_EINVAL, "num_schedulers", "must be 0 to 256, got 257");
    rc = load(fx, "{'num_schedulers': 0}");
    assert_int_equal(rc, 0);
    assert_u64_equal(rcfg_num_schedulers(&fx->c), 0);
}

static void test_error_peers(void **state)
{
    struct fixture *fx = *state;
    static const struct
    {
        const char *peer;
        const char *msg;
    } bad[] = {
        {"abc", "expected ID@HOST:PORT"},
        {"@h:1", "expected ID@HOST:PORT"},
        {"x@h:1", "expected ID@HOST:PORT"},
        {"2@h", "the RPC port is required"},
        {"2@:4647", "expected ID@HOST:PORT"},
        {"0@h:1", "server id must be 1 to 65535"},
        {"65536@h:1", "server id must be 1 to 65535"},
        {"99999999999999999999999@h:1", "server id must be 1 to 65535"},
        {"2@h:0", "the port must be 1 to 65535"},
        {"2@h:65536", "the port must be 1 to 65535"},
        {"2@h:x", "the port must be 1 to 65535"},
        {"2@::1:4647", "write an IPv6 address in brackets"},
        {"2@[::1]4647", "expected ID@HOST:PORT"},
        {"2@[nope]:4647", "is not an IP address or a DNS name"},
        {"2@bad_host:4647", "is not an IP address or a DNS name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{'peers': ['3@10.0.0.3:4647', '%s']}", bad[i].peer);
        int rc = load(fx, text);
        assert_err(&fx->err, rc, CV_EINVAL, "peers[1]", bad[i].msg);
        /* A bad list leaves the previous one as it was. */
        assert_i64_equal((int64_t)fx->c.n_peers, 0);
    }
    int rc = load(fx,
                  "{'peers': ['2@a:1','3@a:2','4@a:3','5@a:4','6@a:5','7@a:6','7@a:7',"
                  "'8@a:8','9@a:9']}");
    assert_err(&fx->err, rc, CV_EINVAL, "peers", "at most 8 peers");
}

static void test_error_peers_validate(void **state)
{
    struct fixture *fx = *state;
    static const struct
    {
        const char *flags[4];
        const char *path;
        const char *msg;
    } cases[] = {
        /* duplicate id */
        {{"-peer", "2@127.0.0.1:5647", "-peer", "2@127.0.0.1:6647"},
         "peers[1]",
         "server id 2 is also peers[0]"},
        /* duplicate address */
        {{"-peer", "2@LOCALHOST:5647", "-peer", "3@localhost:5647"},
         "peers[1]",
         "address localhost:5647 is also peers[0]"},
        /* our own id */
        {{"-peer", "1@127.0.0.1:5647", "-peer", "3@127.0.0.1:6647"},
         "peers[0]",
         "server id 1 is this server's own server_id"},
        /* our own address */
        {{"-peer", "2@127.0.0.1:4647", "-peer", "3@127.0.0.1:6647"},
         "peers[0]",
         "127.0.0.1:4647 is this server's own RPC address"},
        /* too few for bootstrap_expect 3 */
        {{"-peer", "2@127.0.0.1:5647", "-rpc-port", "4647"},
         "peers",
         "bootstrap_expect is 3, so list the other 2 servers, got 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rcfg_free(&fx->c);
        rcfg_init(&fx->c);
        char dd[600];
        snprintf(dd, sizeof dd, "-data-dir=%s/d", fx->dir);
        char *argv[] = {"regiond",
                        dd,
                        "-bind=127.0.0.1",
                        "-bootstrap-expect=3",
                        "-server-id=1",
                        (char *)cases[i].flags[0],
                        (char *)cases[i].flags[1],
                        (char *)cases[i].flags[2],
                        (char *)cases[i].flags[3]};
        assert_i64_equal(rcfg_apply_flags(&fx->c, ARGC(argv), argv, &fx->err), 0);
        int rc = rcfg_validate(&fx->c, &fx->err);
        assert_err(&fx->err, rc, CV_EINVAL, cases[i].path, cases[i].msg);
    }

    /* A lone server has no peers, unless it joins a running region. */
    rcfg_free(&fx->c);
    rcfg_init(&fx->c);
    assert_i64_equal(load(fx, "{'bind_addr': '127.0.0.1', 'peers': ['2@127.0.0.1:5647']}"), 0);
    set_data_dir(fx, "d");
    int rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "peers", "bootstrap_expect is 1 (a lone server)");
    fx->c.join = true;
    fx->c.server_id = 0;
    rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "server_id", "required in a region of several");
    fx->c.server_id = 4;
    assert_i64_equal(rcfg_validate(&fx->c, &fx->err), 0);
    fx->c.n_peers = 0; /* peers_clear by hand: keep the array for rcfg_free */
    rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "peers", "join needs at least one server");
    fx->c.n_peers = 1;
}

static void test_error_cross_checks(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    assert_i64_equal(load(fx, "{'ports': {'http': 5000, 'rpc': 5000}}"), 0);
    set_data_dir(fx, "d");
    int rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "ports.rpc", "5000 is also ports.http");
    assert_i64_equal(load(fx, "{'ports': {'http': 5000, 'rpc': 5001, 'serf': 5001}}"), 0);
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "ports.serf", "5001 is also ports.rpc");
    assert_i64_equal(load(fx, "{'ports': {'http': 5000, 'rpc': 5001, 'serf': 5000}}"), 0);
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "ports.serf", "5000 is also ports.http");
    assert_i64_equal(load(fx, "{'ports': {'http': 4646, 'rpc': 4647, 'serf': 4648}}"), 0);

    /* postgres without its conninfo */
    assert_i64_equal(load(fx, "{'bind_addr': '127.0.0.1', 'store': {'adaptor': 'postgres'}}"), 0);
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "store.postgres.conninfo",
               "required when store.adaptor is \"postgres\"");
    assert_i64_equal(load(fx, "{'store': {'adaptor': 'embedded'}}"), 0);

    /* heartbeat not under the election timeout */
    assert_i64_equal(load(fx, "{'raft': {'election_timeout_ms': 100, 'heartbeat_ms': 100}}"), 0);
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "raft.heartbeat_ms",
               "must be less than raft.election_timeout_ms (100), got 100");
    assert_i64_equal(load(fx, "{'raft': {'election_timeout_ms': 1000}}"), 0);

    /* log_file that cannot be opened */
    char lf[600];
    snprintf(lf, sizeof lf, "{'log_file': '%s/no/such/dir/x.log'}", fx->dir);
    assert_i64_equal(load(fx, lf), 0);
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EIO, "log_file", "cannot open for appending");
    assert_i64_equal(load(fx, "{'log_file': ''}"), 0);

    /* server_id is required with three servers */
    assert_i64_equal(load(fx, "{'bootstrap_expect': 3, 'peers': ['2@h2:4647', '3@h3:4647']}"), 0);
    c->server_id = 0;
    rc = rcfg_validate(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "server_id", "required");
    c->server_id = 1;
    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
}

/* ---- the data directory -------------------------------------------------------- */

static void test_data_dir_checks(void **state)
{
    struct fixture *fx = *state;
    char path[600];
    /* Missing parents are created. */
    snprintf(path, sizeof path, "%s/a/b/c", fx->dir);
    assert_i64_equal(rcfg_check_data_dir(path, &fx->err), 0);
    struct stat st;
    assert_i64_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* A regular file is not a data dir. */
    char file[600];
    snprintf(file, sizeof file, "%s/file", fx->dir);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    int rc = rcfg_check_data_dir(file, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "data_dir", "not a directory");

    /* Cannot be created: below a regular file (works as root too). */
    snprintf(path, sizeof path, "%s/file/sub", fx->dir);
    rc = rcfg_check_data_dir(path, &fx->err);
    assert_err(&fx->err, rc, CV_EIO, "data_dir", "cannot create");
    snprintf(path, sizeof path, "%s/file/sub/deeper", fx->dir);
    rc = rcfg_check_data_dir(path, &fx->err);
    assert_err(&fx->err, rc, CV_EIO, "data_dir", "cannot create");

    if (geteuid() != 0) {
        /* Unreadable, and not creatable below an unwritable parent; root
         * ignores permissions, hence the test above. */
        snprintf(path, sizeof path, "%s/locked", fx->dir);
        assert_i64_equal(mkdir(path, 0000), 0);
        rc = rcfg_check_data_dir(path, &fx->err);
        assert_err(&fx->err, rc, CV_EIO, "data_dir", "not readable: Permission denied");
        snprintf(path, sizeof path, "%s/locked/sub", fx->dir);
        rc = rcfg_check_data_dir(path, &fx->err);
        assert_err(&fx->err, rc, CV_EIO, "data_dir", "Permission denied");
        snprintf(path, sizeof path, "%s/readonly", fx->dir);
        assert_i64_equal(mkdir(path, 0500), 0);
        rc = rcfg_check_data_dir(path, &fx->err);
        assert_err(&fx->err, rc, CV_EIO, "data_dir", "not writable");
    }

    /* rcfg_validate runs the same check. */
    snprintf(path, sizeof path, "%s/file/sub", fx->dir);
    char text[800];
    snprintf(text, sizeof text, "{'data_dir': '%s', 'bind_addr': '127.0.0.1'}", path);
    assert_i64_equal(load(fx, text), 0);
    rc = rcfg_validate(&fx->c, &fx->err);
    assert_err(&fx->err, rc, CV_EIO, "data_dir", "cannot create");

    /* A relative data_dir becomes absolute. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_i64_equal(chdir(fx->dir), 0);
    assert_i64_equal(load(fx, "{'data_dir': './data/regiond-1'}"), 0);
    rc = rcfg_validate(&fx->c, &fx->err);
    assert_i64_equal(chdir(cwd), 0);
    assert_i64_equal(rc, 0);
    assert_true(fx->c.data_dir[0] == '/');
    assert_non_null(strstr(fx->c.data_dir, "/data/regiond-1"));
}

/* ---- errors in flags ----------------------------------------------------------- */

static void test_error_flags(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    char *a1[] = {"regiond", "-regoin", "x"};
    int rc = rcfg_apply_flags(c, ARGC(a1), a1, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-regoin", "unknown flag");
    char *a2[] = {"regiond", "-region"};
    rc = rcfg_apply_flags(c, ARGC(a2), a2, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-region", "missing value");
    char *a3[] = {"regiond", "-data-dir", "-dev"};
    rc = rcfg_apply_flags(c, ARGC(a3), a3, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-data-dir", "missing value (next is \"-dev\"");
    char *a4[] = {"regiond", "stray"};
    rc = rcfg_apply_flags(c, ARGC(a4), a4, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "", "unexpected argument \"stray\"");
    char *a5[] = {"regiond", "-http-port", "70000"};
    rc = rcfg_apply_flags(c, ARGC(a5), a5, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-http-port", "must be 1 to 65535, got 70000");
    char *a6[] = {"regiond", "-http-port=http"};
    rc = rcfg_apply_flags(c, ARGC(a6), a6, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-http-port", "expected an integer, got \"http\"");
    char *a7[] = {"regiond", "-rpc-port=99999999999999999999999"};
    rc = rcfg_apply_flags(c, ARGC(a7), a7, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-rpc-port", "must be 1 to 65535");
    char *a8[] = {"regiond", "-bootstrap-expect", "4"};
    rc = rcfg_apply_flags(c, ARGC(a8), a8, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-bootstrap-expect", "must be 1, 3 or 5, got 4");
    char *a9[] = {"regiond", "-peer", "2@nowhere"};
    rc = rcfg_apply_flags(c, ARGC(a9), a9, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-peer", "the RPC port is required");
    char *a10[] = {"regiond", "-store", "sqlite"};
    rc = rcfg_apply_flags(c, ARGC(a10), a10, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-store", "must be \"embedded\" or \"postgres\"");
    char *a11[] = {"regiond", "-pg-schema", "9lives"};
    rc = rcfg_apply_flags(c, ARGC(a11), a11, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-pg-schema", "use 1 to 63 characters");
    char *a12[] = {"regiond", "-dev=maybe"};
    rc = rcfg_apply_flags(c, ARGC(a12), a12, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-dev", "expected true or false");
    char *a13[] = {"regiond", "-log-level", "loud"};
    rc = rcfg_apply_flags(c, ARGC(a13), a13, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-log-level", "must be debug, info, warn or error");
    char *a14[] = {"regiond", "-", "x"};
    rc = rcfg_apply_flags(c, ARGC(a14), a14, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "", "unexpected argument \"-\"");
    char *a15[] = {"regiond", "--", "x"};
    rc = rcfg_apply_flags(c, ARGC(a15), a15, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "", "unexpected argument \"x\"");
    char *a16[] = {"regiond", "-bind", "not-an-ip"};
    rc = rcfg_apply_flags(c, ARGC(a16), a16, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "-bind", "must be an IPv4 or IPv6 address");

    /* A file's error names the file and the key. */
    char f[512];
    write_file(fx, "bad.json", "{'ports': {'htp': 1}}", f, sizeof f);
    char *a17[] = {"regiond", "-config", f};
    rc = rcfg_apply_flags(c, ARGC(a17), a17, &fx->err);
    assert_i64_equal(rc, CV_EINVAL);
    assert_string_equal(fx->err.path, "");
    assert_non_null(strstr(fx->err.msg, "bad.json: ports.htp: unknown field"));
    char missing[600];
    snprintf(missing, sizeof missing, "-config=%s/none.json", fx->dir);
    char *a18[] = {"regiond", missing};
    rc = rcfg_apply_flags(c, ARGC(a18), a18, &fx->err);
    assert_i64_equal(rc, CV_ENOTFOUND);
    assert_non_null(strstr(fx->err.msg, "none.json: cannot open"));
}

/* ---- ports ---------------------------------------------------------------------- */

/* A port the kernel calls free now on 127.0.0.1 (another than `busy`). */
static uint16_t free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_i64_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_i64_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static void test_check_ports(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_i64_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_i64_equal(listen(fd, 1), 0);
    socklen_t len = sizeof sin;
    assert_i64_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    uint16_t busy = ntohs(sin.sin_port);

    cv_free(c->bind_addr);
    c->bind_addr = cv_strdup("127.0.0.1");
    c->ports.rpc = busy;
    /* The other ports: free ones, not the defaults a running server may hold. */
    c->ports.http = free_port(SOCK_STREAM);
    c->ports.serf = free_port(SOCK_DGRAM);
    int rc = rcfg_check_ports(c, &fx->err);
    char want[128];
    snprintf(want, sizeof want, "TCP 127.0.0.1:%u is already in use", busy);
    assert_err(&fx->err, rc, CV_ECONFLICT, "ports.rpc", want);
    assert_non_null(strstr(fx->err.msg, "-rpc-port"));
    close(fd);

    /* An address this machine does not have (TEST-NET-1). */
    cv_free(c->bind_addr);
    c->bind_addr = cv_strdup("192.0.2.1");
    rc = rcfg_check_ports(c, &fx->err);
    assert_err(&fx->err, rc, CV_EINVAL, "bind_addr", "192.0.2.1 is not an address of this machine");
}

/* ---- the example region in ops/examples ------------------------------------------ */

/* The three files describe one region: each validates, and each one's
 * peers are the other two, by id and RPC address. */
static void test_examples(void **state)
{
    struct fixture *fx = *state;
    const char *root = getenv("CARAVAN_TEST_DATA");
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    struct rcfg c[3];
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/../ops/examples/regiond-%d.json", root ? root : "tests",
                 i + 1);
        char abs[2048];
        snprintf(abs, sizeof abs, "%s%s%s", path[0] == '/' ? "" : cwd, path[0] == '/' ? "" : "/",
                 path);
        rcfg_init(&c[i]);
        int rc = rcfg_load_file(&c[i], abs, &fx->err);
        if (rc != 0) {
            print_error("%s: %s: %s\n", abs, fx->err.path, fx->err.msg);
            fail();
        }
        /* data_dir is relative: run where the test may create it. */
        assert_i64_equal(chdir(fx->dir), 0);
        rc = rcfg_validate(&c[i], &fx->err);
        assert_i64_equal(chdir(cwd), 0);
        if (rc != 0) {
            print_error("%s: %s: %s\n", abs, fx->err.path, fx->err.msg);
            fail();
        }
        assert_i64_equal(c[i].server_id, i + 1);
    }
    for (int i = 0; i < 3; i++) {
        assert_i64_equal((int64_t)c[i].n_peers, 2);
        for (size_t k = 0; k < 2; k++) {
            const struct rcfg_peer *p = &c[i].peers[k];
            const struct rcfg *other = &c[p->id - 1];
            assert_true(p->id != c[i].server_id);
            assert_string_equal(p->host, other->advertise);
            assert_i64_equal(p->port, other->ports.rpc);
        }
        for (int j = 0; j < i; j++) {
            assert_true(c[i].ports.http != c[j].ports.http);
            assert_string_not_equal(c[i].data_dir, c[j].data_dir);
        }
    }
    for (int i = 0; i < 3; i++) {
        rcfg_free(&c[i]);
    }
}

/* ---- the effective configuration ------------------------------------------------ */

static const struct cv_json *get(const struct cv_json *v, const char *key)
{
    const struct cv_json *m = cv_json_object_get(v, key);
    if (!m) {
        print_error("no key %s\n", key);
        fail();
    }
    return m;
}

static void test_to_json(void **state)
{
    struct fixture *fx = *state;
    struct rcfg *c = &fx->c;
    assert_i64_equal(load(fx,
                          "{'region': 'eu', 'bind_addr': '127.0.0.1', 'server_id': 2,"
                          " 'bootstrap_expect': 3,"
                          " 'peers': ['1@127.0.0.1:5647', '3@[::1]:6647'],"
                          " 'store': {'adaptor': 'postgres', 'postgres': {"
                          "   'conninfo': 'host=db password=s3cret user=caravan'}}}"),
                     0);
    set_data_dir(fx, "d");
    assert_i64_equal(rcfg_validate(c, &fx->err), 0);
    char *text = rcfg_to_json(c);
    assert_null(strstr(text, "s3cret"));
    struct cv_json_doc *doc = NULL;
    assert_i64_equal(cv_json_parse(text, strlen(text), NULL, &doc, &fx->err), 0);
    const struct cv_json *root = cv_json_doc_root(doc);
    /* Nomad's api package reads these two from agent/self's config. */
    assert_string_equal(get(root, "Region")->u.string.ptr, "eu");
    assert_string_equal(get(root, "Datacenter")->u.string.ptr, "dc1");
    assert_string_equal(get(root, "BindAddr")->u.string.ptr, "127.0.0.1");
    assert_string_equal(get(root, "LogLevel")->u.string.ptr, "INFO");
    assert_string_equal(get(get(root, "Ports"), "HTTP")->u.number.text, "4646");
    assert_string_equal(get(get(root, "AdvertiseAddrs"), "RPC")->u.string.ptr, "127.0.0.1:4647");
    const struct cv_json *server = get(root, "Server");
    assert_true(get(server, "Enabled")->u.boolean);
    assert_string_equal(get(server, "BootstrapExpect")->u.number.text, "3");
    assert_string_equal(get(server, "ServerID")->u.number.text, "2");
    assert_string_equal(get(server, "HeartbeatGrace")->u.number.text, "10000000000");
    const struct cv_json *peers = get(server, "Peers");
    assert_i64_equal((int64_t)peers->u.array.len, 2);
    assert_string_equal(peers->u.array.items[1]->u.string.ptr, "3@[::1]:6647");
    const struct cv_json *pg = get(get(server, "Store"), "Postgres");
    assert_string_equal(get(pg, "Conninfo")->u.string.ptr,
                        "host=db password=redacted user=caravan");
    assert_true(strncmp(get(pg, "Schema")->u.string.ptr, "caravan_eu_", 11) == 0);
    assert_false(get(root, "DevMode")->u.boolean);
    assert_i64_equal((int64_t)get(root, "Files")->u.array.len, 1);
    cv_json_doc_free(doc);
    cv_free(text);
}

static void test_redact_conninfo(void **state)
{
    (void)state;
    static const struct
    {
        const char *in;
        const char *out;
    } cases[] = {
        {"host=db user=u", "host=db user=u"},
        {"host=db password=s3cret", "host=db password=redacted"},
        {"password = 's3 cr\\'et' host=db", "password = redacted host=db"},
        {"host=db passwordx=keep", "host=db passwordx=keep"},
        {"application_name='password=x' password=y",
         "application_name='password=x' password=redacted"},
        {"postgresql://u:s3cret@db:5432/caravan", "postgresql://u:redacted@db:5432/caravan"},
        {"postgres://u@db/caravan", "postgres://u@db/caravan"},
        {"postgresql://db/caravan?user=u&password=s3cret&sslmode=require",
         "postgresql://db/caravan?user=u&password=redacted&sslmode=require"},
        {"postgresql://u:p%40ss@db", "postgresql://u:redacted@db"},
        {"host='unterminated password=s3cret", "redacted"},
        {"=nokey", "redacted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = rcfg_redact_conninfo(cases[i].in);
        if (strcmp(got, cases[i].out) != 0) {
            print_error("redact(\"%s\") = \"%s\", want \"%s\"\n", cases[i].in, got, cases[i].out);
            cv_free(got);
            fail();
        }
        cv_free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_defaults),
        CV_TEST(test_defaults_agree_with_modules),
        FX_TEST(test_dev_defaults),
        FX_TEST(test_dev_rules),
        FX_TEST(test_full_file),
        FX_TEST(test_file_is_partial),
        FX_TEST(test_derived_values),
        FX_TEST(test_flags_override_file),
        FX_TEST(test_dev_then_file),
        FX_TEST(test_help),
        CV_TEST(test_usage),
        FX_TEST(test_error_malformed_json),
        FX_TEST(test_error_file_unreadable),
        FX_TEST(test_error_unknown_key),
        FX_TEST(test_error_wrong_type),
        FX_TEST(test_error_bad_values),
        FX_TEST(test_error_peers),
        FX_TEST(test_error_peers_validate),
        FX_TEST(test_error_cross_checks),
        FX_TEST(test_data_dir_checks),
        FX_TEST(test_error_flags),
        FX_TEST(test_check_ports),
        FX_TEST(test_examples),
        FX_TEST(test_to_json),
        CV_TEST(test_redact_conninfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
