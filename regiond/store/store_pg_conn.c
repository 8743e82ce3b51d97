/*
 * store_pg_conn: the PostgreSQL adaptor's connection (see store_pg.h and
 * store_pg_internal.h).
 *
 * Opening a session: connect (our keepalive and timeout defaults first, the
 * operator's connection string after them so it wins), check that commits
 * are durable and the server is a writable primary, point search_path at
 * the server's schema alone, terminate the backend of our previous session
 * if it is still there, and take the schema's session advisory lock.
 *
 * Why terminate the old backend: when a connection breaks during a commit,
 * the old backend may still be running the transaction. Running the
 * operation again while it lives could interleave with it; once it is gone,
 * its transaction either committed or never will, and the retried operation
 * is written to be correct in both cases. It also releases the old session's
 * advisory lock, which the new session needs.
 *
 * Migrations run once, at open, in one transaction serialised by a
 * transaction-level advisory lock per schema.
 */
#include "regiond/store/store_pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* Backoff between reconnect attempts: doubles from the first to the cap. */
#define BACKOFF_FIRST_MS 20u
#define BACKOFF_CAP_MS   1000u

void pg_put_u64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t pg_get_u64(const char *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | (unsigned char)in[i];
    }
    return v;
}

static uint64_t now_ms(void)
{
    return cv_clock_monotonic_ns(cv_clock_system()) / (uint64_t)CV_NSEC_PER_MSEC;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The server's message without libpq's "ERROR:  " prefix and trailing
 * newline. */
static void server_message(const struct pg_conn *c, const PGresult *res, char *out, size_t size)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (msg) {
        snprintf(out, size, "%s (SQLSTATE %s)", msg, state ? state : "?");
        return;
    }
    /* libpq's own messages span lines ("FATAL:  ...\n\tIs the server
     * running..."): one line reads better in a log and an API answer. */
    const char *text = c->conn ? PQerrorMessage(c->conn) : "no connection";
    size_t len = 0;
    bool space = false;
    for (const char *t = text; *t && len + 1 < size; t++) {
        bool blank = *t == '\n' || *t == '\t' || *t == ' ';
        if (blank) {
            space = len > 0;
            continue;
        }
        if (space && len + 2 < size) {
            out[len++] = ' ';
        }
        space = false;
        out[len++] = *t;
    }
    out[len] = '\0';
    if (len == 0) {
        snprintf(out, size, "no answer from the server");
    }
}

/* Connection exceptions (class 08) and the server shutting down or starting
 * (57P01..57P03) end the session: the operation is retried on a new one. */
static bool connection_lost(const struct pg_conn *c, const PGresult *res)
{
    if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
        return true;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) {
        return res == NULL;
    }
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

int pg_check(struct pg_conn *c, PGresult *res, ExecStatusType want, const char *what,
             struct cv_err *err)
{
    if (res && PQresultStatus(res) == want) {
        return 0;
    }
    char msg[400];
    server_message(c, res, msg, sizeof msg);
    bool lost = connection_lost(c, res);
    PQclear(res);
    cv_err_setf(err, CV_EIO, "%s: %s", what, msg);
    return lost ? PG_RETRY : CV_EIO;
}

int pg_exec(struct pg_conn *c, const char *sql, const char *what, struct cv_err *err)
{
    PGresult *res = PQexec(c->conn, sql);
    int rc = pg_check(c, res, PGRES_COMMAND_OK, what, err);
    if (rc == 0) {
        PQclear(res);
    }
    return rc;
}

int pg_commit(struct pg_conn *c, const char *what, struct cv_err *err)
{
    PGresult *res = PQexec(c->conn, "COMMIT");
    int rc = pg_check(c, res, PGRES_COMMAND_OK, what, err);
    if (rc != 0) {
        return rc;
    }
    bool committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (!committed) {
        return cv_err_setf(err, CV_EIO, "%s: the server rolled the transaction back", what);
    }
    return 0;
}

/* Runs a query with text parameters that returns rows. */
static PGresult *query(struct pg_conn *c, const char *sql, int nparams, const char *const *params)
{
    return PQexecParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

static bool schema_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
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

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int connect_once(struct pg_conn *c, struct cv_err *err)
{
    /* Later keywords override earlier ones, and the operator's connection
     * string (expanded from "dbname") comes last. */
    const char *const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                "application_name",    "dbname",           NULL};
    const char *const values[] = {"10",        "1", "10", "5", "3", "30000", "caravan-regiond",
                                  c->conninfo, NULL};
    c->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c->conn) == CONNECTION_OK) {
        /* NOTICEs ("already exists, skipping") are not for the operator. */
        PQsetNoticeProcessor(c->conn, ignore_notice, NULL);
        snprintf(c->where, sizeof c->where, "%s:%s database \"%s\" schema \"%s\"", PQhost(c->conn),
                 PQport(c->conn), PQdb(c->conn), c->schema);
        return 0;
    }
    char msg[400];
    server_message(c, NULL, msg, sizeof msg);
    PQfinish(c->conn);
    c->conn = NULL;
    return cv_err_setf(err, CV_EUNAVAILABLE, "cannot connect to PostgreSQL: %s", msg);
}

/* Refuses a server where an acknowledged commit could be lost or where we
 * cannot write. */
static int check_server(struct pg_conn *c, struct cv_err *err)
{
    PGresult *res = query(c,
                          "SELECT current_setting('server_version_num')::int,"
                          " current_setting('fsync'), current_setting('synchronous_commit'),"
                          " pg_is_in_recovery()",
                          0, NULL);
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "checking the server's settings", err);
    if (rc != 0) {
        return rc;
    }
    int version = atoi(PQgetvalue(res, 0, 0));
    bool fsync_on = strcmp(PQgetvalue(res, 0, 1), "on") == 0;
    char sync_commit[32];
    snprintf(sync_commit, sizeof sync_commit, "%s", PQgetvalue(res, 0, 2));
    bool standby = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    PQclear(res);
    if (version < 120000) {
        return cv_err_setf(err, CV_EUNSUPPORTED,
                           "PostgreSQL at %s is version %d; Caravan needs 12 or later", c->where,
                           version);
    }
    if (standby) {
        return cv_err_setf(err, CV_EUNAVAILABLE,
                           "PostgreSQL at %s is a standby (read-only): point the store at the "
                           "primary",
                           c->where);
    }
    if (!fsync_on) {
        return cv_err_setf(err, CV_EUNSUPPORTED,
                           "PostgreSQL at %s runs with fsync=off: an acknowledged commit could be "
                           "lost in a crash; turn fsync on",
                           c->where);
    }
    if (strcmp(sync_commit, "off") == 0 && !c->allow_async_commit) {
        return cv_err_setf(err, CV_EUNSUPPORTED,
                           "PostgreSQL at %s has synchronous_commit=off for this session: a "
                           "commit could be acknowledged before it is durable; set it to on "
                           "(check ALTER ROLE/DATABASE settings and the connection options)",
                           c->where);
    }
    return 0;
}

/* Terminates the backend of our previous session if it still runs, and
 * waits (until `deadline_ms`) for it to be gone. */
static int end_previous_backend(struct pg_conn *c, uint64_t deadline_ms, struct cv_err *err)
{
    if (c->backend_pid == 0) {
        return 0;
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%d", c->backend_pid);
    const char *params[] = {pid, c->backend_start};
    PGresult *res = query(c,
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE pid = $1::int AND backend_start = $2::timestamptz",
                          2, params);
    /* Without the right to terminate it, waiting for it still works. */
    PQclear(res);
    for (;;) {
        res = query(c,
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = $1::int AND backend_start = $2::timestamptz",
                    2, params);
        int rc = pg_check(c, res, PGRES_TUPLES_OK, "waiting for the previous session to end", err);
        if (rc != 0) {
            return rc;
        }
        bool alive = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
        PQclear(res);
        if (!alive) {
            c->backend_pid = 0;
            return 0;
        }
        if (now_ms() >= deadline_ms) {
            return cv_err_setf(err, CV_EIO,
                               "the previous session's backend (pid %d) is still running",
                               c->backend_pid);
        }
        sleep_ms(10);
    }
}

static int take_lock(struct pg_conn *c, struct cv_err *err)
{
    const char *params[] = {c->schema};
    PGresult *res = query(c,
                          "SELECT pg_try_advisory_lock(hashtext('caravan.store'), hashtext($1)),"
                          " pg_backend_pid(),"
                          " (SELECT backend_start::text FROM pg_stat_activity"
                          "  WHERE pid = pg_backend_pid())",
                          1, params);
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "taking the schema's lock", err);
    if (rc != 0) {
        return rc;
    }
    bool locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    c->backend_pid = atoi(PQgetvalue(res, 0, 1));
    snprintf(c->backend_start, sizeof c->backend_start, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!locked) {
        return cv_err_setf(err, CV_ECONFLICT,
                           "PostgreSQL %s is in use by another Caravan server (its lock is "
                           "held): give every server its own schema",
                           c->where);
    }
    return 0;
}

/* A new session: connect, check, search_path, end the old backend, lock. */
static int open_session(struct pg_conn *c, uint64_t deadline_ms, struct cv_err *err)
{
    int rc = connect_once(c, err);
    if (rc != 0) {
        return rc;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SET search_path TO %s", c->schema_ident);
    if ((rc = check_server(c, err)) != 0 ||
        (rc = pg_exec(c, sql, "setting search_path", err)) != 0 ||
        (rc = end_previous_backend(c, deadline_ms, err)) != 0 || (rc = take_lock(c, err)) != 0) {
        PQfinish(c->conn);
        c->conn = NULL;
        return rc == PG_RETRY ? CV_EUNAVAILABLE : rc;
    }
    return 0;
}

/* ---- migrations --------------------------------------------------------------- */

static int check_applied(struct pg_conn *c, PGresult *res, size_t *applied, struct cv_err *err)
{
    int rows = PQntuples(res);
    const struct pg_migration *known = store_pg_migrations;
    for (int i = 0; i < rows; i++) {
        int version = atoi(PQgetvalue(res, i, 0));
        const char *name = PQgetvalue(res, i, 1);
        if ((size_t)i >= store_pg_migrations_count) {
            return cv_err_setf(err, CV_EUNSUPPORTED,
                               "PostgreSQL %s is at schema version %d, newer than this build of "
                               "Caravan knows (%d): upgrade Caravan",
                               c->where, version, known[store_pg_migrations_count - 1].version);
        }
        if (version != known[i].version || strcmp(name, known[i].name) != 0) {
            return cv_err_setf(err, CV_ECONFLICT,
                               "PostgreSQL %s records migration %d \"%s\" where this build has "
                               "%d \"%s\": the schema was not made by this Caravan",
                               c->where, version, name, known[i].version, known[i].name);
        }
    }
    *applied = (size_t)rows;
    return 0;
}

static int migrate_in_tx(struct pg_conn *c, struct cv_err *err)
{
    const char *params[] = {c->schema};
    PGresult *res = query(c,
                          "SELECT pg_advisory_xact_lock(hashtext('caravan.migrate'), hashtext($1)),"
                          " (SELECT count(*) FROM pg_namespace WHERE nspname = $1),"
                          " (SELECT count(*) FROM pg_class k JOIN pg_namespace n"
                          "   ON n.oid = k.relnamespace WHERE n.nspname = $1"
                          "   AND k.relname = 'schema_migrations'),"
                          " (SELECT count(*) FROM pg_class k JOIN pg_namespace n"
                          "   ON n.oid = k.relnamespace WHERE n.nspname = $1"
                          "   AND k.relkind IN ('r', 'p', 'v', 'm', 'f'))",
                          1, params);
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "inspecting the schema", err);
    if (rc != 0) {
        return rc;
    }
    bool exists = strcmp(PQgetvalue(res, 0, 1), "0") != 0;
    bool ours = strcmp(PQgetvalue(res, 0, 2), "0") != 0;
    long relations = atol(PQgetvalue(res, 0, 3));
    PQclear(res);
    char sql[256];
    if (!exists) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", c->schema_ident);
        if ((rc = pg_exec(c, sql, "creating the schema", err)) != 0) {
            return rc;
        }
    } else if (!ours && relations > 0) {
        return cv_err_setf(err, CV_ECONFLICT,
                           "PostgreSQL %s holds %ld tables or views but no schema_migrations "
                           "table: it was not created by Caravan; choose another schema",
                           c->where, relations);
    }
    rc = pg_exec(c,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 "creating schema_migrations", err);
    if (rc != 0) {
        return rc;
    }
    res = query(c, "SELECT version, name FROM schema_migrations ORDER BY version", 0, NULL);
    if ((rc = pg_check(c, res, PGRES_TUPLES_OK, "reading schema_migrations", err)) != 0) {
        return rc;
    }
    size_t applied = 0;
    rc = check_applied(c, res, &applied, err);
    PQclear(res);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = applied; i < store_pg_migrations_count; i++) {
        const struct pg_migration *m = &store_pg_migrations[i];
        char what[160];
        snprintf(what, sizeof what, "applying migration %d (%s)", m->version, m->name);
        res = PQexec(c->conn, m->sql);
        if ((rc = pg_check(c, res, PGRES_COMMAND_OK, what, err)) != 0) {
            return rc;
        }
        PQclear(res);
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *row[] = {version, m->name};
        res =
            query(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, row);
        if ((rc = pg_check(c, res, PGRES_COMMAND_OK, what, err)) != 0) {
            return rc;
        }
        PQclear(res);
        cv_log(CV_LOG_INFO, "store", "applied schema migration", "version=%d name=%s schema=%s",
               m->version, m->name, c->schema);
    }
    return 0;
}

static int migrate(struct pg_conn *c, struct cv_err *err)
{
    int rc = pg_exec(c, "BEGIN", "starting the migration transaction", err);
    if (rc == 0) {
        rc = migrate_in_tx(c, err);
        if (rc == 0) {
            rc = pg_commit(c, "committing the migrations", err);
        }
    }
    return rc == PG_RETRY ? CV_EUNAVAILABLE : rc;
}

/* ---- open, close, run --------------------------------------------------------- */

int pg_conn_open(struct pg_conn *c, const struct store_pg_config *cfg, struct cv_err *err)
{
    memset(c, 0, sizeof *c);
    if (!cfg->conninfo || !cfg->schema) {
        return cv_err_setf(err, CV_EINVAL, "the postgres store needs a conninfo and a schema");
    }
    if (!schema_name_valid(cfg->schema)) {
        return cv_err_setf(err, CV_EINVAL,
                           "schema \"%s\": use 1 to 63 characters of a-z, 0-9 and _, starting "
                           "with a letter or _ (not pg_)",
                           cfg->schema);
    }
    snprintf(c->schema, sizeof c->schema, "%s", cfg->schema);
    snprintf(c->schema_ident, sizeof c->schema_ident, "\"%s\"", cfg->schema);
    c->conninfo = cv_strdup(cfg->conninfo);
    c->reconnect_timeout_ms =
        cfg->reconnect_timeout_ms ? cfg->reconnect_timeout_ms : STORE_PG_RECONNECT_TIMEOUT_MS;
    c->allow_async_commit = cfg->unsafe_allow_async_commit;

    int rc = open_session(c, now_ms() + c->reconnect_timeout_ms, err);
    if (rc == 0) {
        rc = migrate(c, err);
    }
    if (rc != 0) {
        pg_conn_close(c);
    }
    return rc;
}

void pg_conn_close(struct pg_conn *c)
{
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    cv_free(c->conninfo);
    c->conninfo = NULL;
}

int pg_run(struct pg_conn *c, pg_tx_fn fn, void *arg, struct cv_err *err)
{
    uint64_t deadline = 0;
    unsigned backoff = BACKOFF_FIRST_MS;
    for (unsigned attempt = 0;; attempt++) {
        int rc = fn(c, arg, attempt, err);
        if (rc != PG_RETRY) {
            if (attempt > 0 && rc == 0) {
                cv_log(CV_LOG_INFO, "store", "PostgreSQL connection restored", "where=\"%s\"",
                       c->where);
            }
            return rc;
        }
        if (deadline == 0) {
            deadline = now_ms() + c->reconnect_timeout_ms;
            cv_log(CV_LOG_WARN, "store", "lost the PostgreSQL connection, reconnecting",
                   "where=\"%s\" error=\"%s\" timeout_ms=%u", c->where, err->msg,
                   c->reconnect_timeout_ms);
        }
        PQfinish(c->conn);
        c->conn = NULL;
        /* Reconnect until a session opens or the time is up; the operation
         * runs again only on a session that passed every check. */
        for (;;) {
            uint64_t now = now_ms();
            if (now >= deadline) {
                char cause[CV_ERR_MSG_MAX];
                snprintf(cause, sizeof cause, "%s", err->msg);
                return cv_err_setf(err, CV_EIO,
                                   "lost the connection to PostgreSQL %s and could not restore "
                                   "it within %u ms: %s",
                                   c->where, c->reconnect_timeout_ms, cause);
            }
            uint64_t left = deadline - now;
            sleep_ms(backoff < left ? backoff : (unsigned)left);
            backoff = backoff * 2 < BACKOFF_CAP_MS ? backoff * 2 : BACKOFF_CAP_MS;
            cv_err_clear(err);
            if (open_session(c, deadline, err) == 0) {
                break;
            }
        }
    }
}
