/*
 * store_pg: the PostgreSQL adaptor (libpq).
 *
 * The log, term/vote and snapshots live in tables of one schema per server
 * (`schema/store/NNNN_name.sql`, applied as numbered migrations at open), so several
 * servers may share one database. The worker thread of store.c owns one
 * connection:
 *
 *   - a group of appends is one statement, `INSERT ... SELECT FROM unnest()`
 *     of binary arrays, committed on its own (one round trip, one commit);
 *     a group too large for one statement is several inside BEGIN/COMMIT;
 *   - every other operation is one transaction;
 *   - a lost connection is reopened with backoff (up to reconnect_timeout)
 *     while queued operations wait; the interrupted operation is then run
 *     again in a form that is correct whether or not its first attempt
 *     committed (an append first deletes what it may have written), after
 *     the old backend is terminated so it cannot commit behind our back;
 *   - no completion fires before its COMMIT returned.
 *
 * Open refuses a session where commits are not durable (`fsync` or
 * `synchronous_commit` off), a standby, a schema that holds tables Caravan
 * did not create or a newer schema version, and a schema another server has
 * open (a session advisory lock is held for the life of the store).
 */
#ifndef CV_STORE_PG_H
#define CV_STORE_PG_H

#include <stdbool.h>

#include "common/err.h"
#include "regiond/store/store.h"

/* Default for store_pg_config.reconnect_timeout_ms. */
#define STORE_PG_RECONNECT_TIMEOUT_MS 30000u

struct store_pg_config
{
    /* libpq connection string or URI (borrowed). Keepalives and a connect
     * timeout are added unless it sets them. */
    const char *conninfo;
    /* Schema holding this server's tables: [a-z_][a-z0-9_]*, at most 63
     * characters; created when missing. */
    const char *schema;
    /* How long a lost connection is retried before the store fails (0:
     * STORE_PG_RECONNECT_TIMEOUT_MS). */
    unsigned reconnect_timeout_ms;
    /* Tests only: skip the synchronous_commit check, so a test can show that
     * its durability check catches a server that loses acknowledged commits.
     * Never set by the daemon's configuration. */
    bool unsafe_allow_async_commit;
};

/* Connects, checks the server, applies pending migrations, recovers and fills
 * *state (release with store_state_free). The store owns its connection and
 * worker thread. Returns 0, CV_EINVAL (bad config), CV_EUNAVAILABLE (cannot
 * connect), CV_ECONFLICT (schema in use or not ours) or CV_EIO, with a
 * message naming the server, database and schema. */
int store_pg_open(const struct store_pg_config *cfg, struct store **out, struct store_state *state,
                  struct cv_err *err);

#endif
