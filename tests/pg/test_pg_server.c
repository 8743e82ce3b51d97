/*
 * test_pg_server: the throwaway PostgreSQL server the other tests rely on.
 *
 * A committed row survives pg_server_crash and a restart on the same port;
 * the server runs as a non-root user when the test is root; destroy leaves
 * nothing behind; a missing bin dir or a server that will not start fails
 * with a message that says why; and a test process that dies without
 * cleaning up has its server stopped and its directory removed by the
 * watchdog.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "testutil.h"
#include "pg_server.h"

/* The server of the running test: the teardown destroys it even when an
 * assertion failed half-way. */
static struct pg_server srv;

static int setup(void **state)
{
    memset(&srv, 0, sizeof srv);
    return cv_test_setup(state);
}

static int teardown(void **state)
{
    pg_server_destroy(&srv);
    return cv_test_teardown(state);
}

#define PG_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static void start_or_fail(const char *extra_conf)
{
    struct cv_err err = {0};
    int rc = pg_server_start(&srv, extra_conf, &err);
    if (rc != 0) {
        print_error("pg_server_start: %s\n", err.msg);
    }
    assert_i64_equal(rc, 0);
    assert_true(srv.running);
}

static PGconn *connect_or_fail(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        print_error("connect %s: %s", conninfo, PQerrorMessage(c));
        PQfinish(c);
        fail();
    }
    return c;
}

/* Runs sql on c and returns the first value of the first row (a new string,
 * free()), or NULL when there is no row. */
static char *query_one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        print_error("%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        fail();
    }
    char *v = PQntuples(r) > 0 ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

static void assert_query(PGconn *c, const char *sql, const char *expected)
{
    char *v = query_one(c, sql);
    if (v == NULL || strcmp(v, expected) != 0) {
        print_error("%s gave %s, expected %s\n", sql, v ? v : "no row", expected);
        free(v);
        fail();
    }
    free(v);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* True when this process has no children, not even zombies. */
static bool no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_committed_row_survives_crash(void **state)
{
    (void)state;
    start_or_fail(NULL);
    assert_true(srv.port >= PG_SERVER_PORT_MIN && srv.port <= PG_SERVER_PORT_MAX);
    assert_non_null(strstr(srv.conninfo, "host=127.0.0.1"));

    PGconn *c = connect_or_fail(srv.conninfo);
    /* The defaults the crash tests depend on. */
    assert_query(c, "SHOW fsync", "on");
    assert_query(c, "SHOW synchronous_commit", "on");
    assert_query(c, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", "t");
    assert_query(c, "SELECT current_user", "caravan");
    assert_query(c, "SHOW server_encoding", "UTF8");
    assert_query(c, "SHOW unix_socket_directories", srv.dir);
    assert_null(query_one(c, "CREATE TABLE t (id int PRIMARY KEY, v text)"));
    assert_null(query_one(c, "INSERT INTO t VALUES (1, 'committed')"));
    PQfinish(c);

    struct cv_err err = {0};
    int port = srv.port;
    assert_i64_equal(pg_server_crash(&srv, &err), 0);
    assert_false(srv.running);
    assert_i64_equal(pg_server_restart(&srv, &err), 0);
    assert_true(srv.running);
    assert_i64_equal(srv.port, port);

    c = connect_or_fail(srv.conninfo);
    assert_query(c, "SELECT v FROM t WHERE id = 1", "committed");
    PQfinish(c);

    /* A clean stop and a second restart work too. */
    assert_i64_equal(pg_server_stop(&srv, &err), 0);
    assert_false(srv.running);
    assert_i64_equal(pg_server_restart(&srv, &err), 0);
    assert_i64_equal(pg_server_exec(&srv, "SELECT count(*) FROM t", &err), 0);
}

static void test_runs_as_non_root_user(void **state)
{
    (void)state;
    start_or_fail(NULL);
    struct stat st;
    assert_int_equal(stat(srv.datadir, &st), 0);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        assert_non_null(pw);
        assert_i64_equal(st.st_uid, pw->pw_uid);
        assert_true(st.st_uid != 0);
        /* The postmaster runs as that user, too. */
        char path[PG_SERVER_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/postmaster.pid", srv.datadir);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        long pid = 0;
        assert_int_equal(fscanf(f, "%ld", &pid), 1);
        fclose(f);
        snprintf(path, sizeof path, "/proc/%ld", pid);
        assert_int_equal(stat(path, &st), 0);
        assert_i64_equal(st.st_uid, pw->pw_uid);
    } else {
        assert_i64_equal(st.st_uid, geteuid());
    }
}

static void test_destroy_removes_everything(void **state)
{
    (void)state;
    start_or_fail(NULL);
    char dir[PG_SERVER_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", srv.dir);
    assert_true(exists(dir));
    struct cv_err err = {0};
    assert_i64_equal(pg_server_stop(&srv, &err), 0);
    pg_server_destroy(&srv);
    assert_false(exists(dir));
    assert_false(srv.running);
    pg_server_destroy(&srv); /* twice is fine */

    /* Destroy also stops a server that still runs. */
    start_or_fail(NULL);
    snprintf(dir, sizeof dir, "%s", srv.dir);
    char conninfo[PG_SERVER_CONNINFO_MAX + 32];
    snprintf(conninfo, sizeof conninfo, "%s connect_timeout=5", srv.conninfo);
    pg_server_destroy(&srv);
    assert_false(exists(dir));
    PGconn *c = PQconnectdb(conninfo);
    assert_true(PQstatus(c) != CONNECTION_OK);
    PQfinish(c);
    /* initdb, pg_ctl, the postmaster and the watchdog were all reaped. */
    assert_true(no_children());
}

static void test_missing_bindir_is_reported(void **state)
{
    (void)state;
    const char *old = getenv("CARAVAN_PG_BINDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CARAVAN_PG_BINDIR", "/nonexistent/caravan-pg/bin", 1);
    struct cv_err err = {0};
    int rc = pg_server_start(&srv, NULL, &err);
    if (saved) {
        setenv("CARAVAN_PG_BINDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("CARAVAN_PG_BINDIR");
    }
    assert_i64_equal(rc, CV_ENOTFOUND);
    assert_false(srv.running);
    assert_string_equal(srv.dir, "");
    assert_non_null(strstr(err.msg, "/nonexistent/caravan-pg/bin"));
    assert_non_null(strstr(err.msg, "CARAVAN_PG_BINDIR"));
    assert_non_null(strstr(err.msg, "initdb"));
    pg_server_destroy(&srv); /* a no-op after a failed start */
}

static void test_failed_start_carries_the_log(void **state)
{
    (void)state;
    struct cv_err err = {0};
    int rc = pg_server_start(&srv, "no_such_setting = 1\n", &err);
    assert_i64_equal(rc, CV_EIO);
    assert_false(srv.running);
    assert_string_equal(srv.dir, "");
    assert_non_null(strstr(err.msg, "server.log"));
    assert_non_null(strstr(err.msg, "no_such_setting"));
}

static void test_extra_conf_exec_and_databases(void **state)
{
    (void)state;
    start_or_fail("max_connections = 23\nwork_mem = '8MB'");
    struct cv_err err = {0};
    assert_i64_equal(pg_server_create_database(&srv, "caravan \"quoted\" db", &err), 0);
    assert_i64_equal(pg_server_exec(&srv, "CREATE TABLE x (a int)", &err), 0);
    assert_i64_equal(pg_server_exec(&srv, "SELECT no_such_column FROM x", &err), CV_EIO);
    assert_non_null(strstr(err.msg, "no_such_column"));

    char conninfo[PG_SERVER_CONNINFO_MAX];
    pg_server_conninfo(&srv, "caravan \"quoted\" db", conninfo, sizeof conninfo);
    PGconn *c = connect_or_fail(conninfo);
    assert_query(c, "SHOW max_connections", "23");
    assert_query(c, "SHOW work_mem", "8MB");
    assert_query(c, "SELECT current_database()", "caravan \"quoted\" db");
    PQfinish(c);
}

/* A test process that dies without pg_server_destroy: the watchdog stops its
 * server and removes its directory. */
static void test_watchdog_cleans_up_after_a_killed_process(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct pg_server s;
        struct cv_err err = {0};
        if (pg_server_start(&s, NULL, &err) != 0) {
            fprintf(stderr, "child: %s\n", err.msg);
            _exit(1);
        }
        char line[PG_SERVER_PATH_MAX + PG_SERVER_CONNINFO_MAX + 8];
        int n = snprintf(line, sizeof line, "%s\n%s\n", s.dir, s.conninfo);
        (void)!write(fds[1], line, (size_t)n);
        raise(SIGKILL);
    }
    close(fds[1]);
    char buf[PG_SERVER_PATH_MAX + PG_SERVER_CONNINFO_MAX + 8] = {0};
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        assert_true(poll(&p, 1, 300000) == 1); /* start takes seconds, not minutes */
        ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = '\0';
    const char *dir = buf, *conninfo = nl + 1;
    nl = strchr(conninfo, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_true(strncmp(dir, "/", 1) == 0);

    /* The watchdog needs a moment: poll, bounded. */
    for (int i = 0; i < 300 && exists(dir); i++) {
        sleep_ms(100);
        (void)waitpid(-1, NULL, WNOHANG); /* see below */
    }
    assert_false(exists(dir));
    char probe[PG_SERVER_CONNINFO_MAX + 32];
    snprintf(probe, sizeof probe, "%s connect_timeout=5", conninfo);
    PGconn *c = PQconnectdb(probe);
    assert_true(PQstatus(c) != CONNECTION_OK);
    PQfinish(c);

    /* The dead child's postmaster and watchdog may have been handed to this
     * process (a subreaper since an earlier test): reap them. */
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0) {
            break;
        }
        if (r == 0) {
            sleep_ms(50);
        }
    }
    assert_true(no_children());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PG_TEST(test_committed_row_survives_crash),
        PG_TEST(test_runs_as_non_root_user),
        PG_TEST(test_destroy_removes_everything),
        PG_TEST(test_missing_bindir_is_reported),
        PG_TEST(test_failed_start_carries_the_log),
        PG_TEST(test_extra_conf_exec_and_databases),
        PG_TEST(test_watchdog_cleans_up_after_a_killed_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
