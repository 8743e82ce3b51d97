/*
 * store_pg_internal: the connection side of the PostgreSQL adaptor, shared by
 * store_pg.c (the log operations) and store_pg_conn.c (connect, checks,
 * migrations, reconnect with backoff).
 *
 * Every operation is written as a transaction function that store_pg_conn
 * runs: it returns 0, a negative CV_E* code (the store fails), or
 * PG_RETRY when the connection was lost, in which case pg_run reconnects
 * with backoff and calls it again with attempt > 0. A function must then
 * be correct whether or not its earlier attempt committed.
 */
#ifndef CV_STORE_PG_INTERNAL_H
#define CV_STORE_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "regiond/store/store_pg.h"

/* One migration of schema/store/, embedded at build time. */
struct pg_migration
{
    int version;
    const char *name;
    const char *sql;
};

extern const struct pg_migration store_pg_migrations[];
extern const size_t store_pg_migrations_count;

/* Returned by a transaction function when the connection failed. */
#define PG_RETRY 1

struct pg_conn
{
    PGconn *conn;
    char *conninfo;
    char schema[64];
    char schema_ident[160]; /* schema quoted as an SQL identifier */
    unsigned reconnect_timeout_ms;
    bool allow_async_commit;
    /* The backend behind the current connection, so that after a loss the
     * next connection can terminate it before running anything again. */
    int backend_pid;
    char backend_start[64];
    char where[256]; /* "host:port database D schema S", for messages */
};

typedef int (*pg_tx_fn)(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err);

/* Connects, checks the server, takes the schema's lock and applies the
 * pending migrations. On failure everything is released. */
int pg_conn_open(struct pg_conn *c, const struct store_pg_config *cfg, struct cv_err *err);
void pg_conn_close(struct pg_conn *c);

/* Runs fn until it returns something other than PG_RETRY, reconnecting with
 * backoff in between; gives up with CV_EIO after the reconnect timeout. */
int pg_run(struct pg_conn *c, pg_tx_fn fn, void *arg, struct cv_err *err);

/* Turns a failed result (NULL or not of status `want`) into PG_RETRY when the
 * connection is gone or the server is shutting down, or into CV_EIO with
 * "<what>: <server message>". Clears res. Returns 0 when res has status
 * `want` (and leaves it to the caller). */
int pg_check(struct pg_conn *c, PGresult *res, ExecStatusType want, const char *what,
             struct cv_err *err);

/* Runs a statement without parameters that returns no rows. */
int pg_exec(struct pg_conn *c, const char *sql, const char *what, struct cv_err *err);

/* Sends COMMIT and checks the server really committed (a COMMIT of a failed
 * transaction answers ROLLBACK without an error). */
int pg_commit(struct pg_conn *c, const char *what, struct cv_err *err);

/* Big-endian helpers for binary parameters and results. */
void pg_put_u64(unsigned char out[8], uint64_t v);
uint64_t pg_get_u64(const char *in);

#endif
