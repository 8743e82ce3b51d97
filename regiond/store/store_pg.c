/*
 * store_pg: the PostgreSQL adaptor's operations (see store_pg.h).
 *
 * Appends are gathered by `append` into binary arrays (PostgreSQL's array
 * wire format: a header, then each element as length + bytes) and written
 * by `sync` as
 *
 *     INSERT INTO raft_log SELECT * FROM unnest($1::int8[], $2::int8[],
 *                                               $3::int2[], $4::bytea[])
 *
 * one prepared statement whatever the batch size: one round trip, and, run
 * on its own, one implicit transaction. A group over BATCH_BYTES_MAX is cut
 * into several statements inside BEGIN/COMMIT. A retry after a lost
 * connection always uses BEGIN; DELETE idx >= first; INSERT...; COMMIT, so
 * it is right whether or not the first attempt committed.
 *
 * store.c syncs before any write that must not overtake appends, but lets
 * reads run after unsynced appends: read and snapshot_get therefore flush
 * (commit) pending appends first, since uncommitted rows are not readable.
 */
#include "regiond/store/store_pg.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "regiond/store/store_internal.h"
#include "regiond/store/store_pg_internal.h"

/* Type OIDs of the array parameters (fixed in PostgreSQL's catalog). */
#define OID_INT8       20u
#define OID_INT2       21u
#define OID_BYTEA      17u
#define OID_INT8_ARRAY 1016u
#define OID_INT2_ARRAY 1005u
#define OID_BYTE_ARRAY 1001u

/* Bytes of payload per INSERT statement (an entry larger than this gets a
 * statement of its own). */
#define BATCH_BYTES_MAX (16u * 1024u * 1024u)
/* Bytes per row of raft_snapshot_chunk. */
#define SNAPSHOT_ROW_MAX (1024u * 1024u)
/* Length of an array's header in the binary format. */
#define ARRAY_HEADER 20u

/* A group of one entry (the common case at low load) skips unnest(). */
static const char *const APPEND_ONE_SQL =
    "INSERT INTO raft_log (idx, term, type, data) VALUES ($1::int8, $2::int8, $3::int2, $4::bytea)";

static const char *const APPEND_SQL =
    "INSERT INTO raft_log (idx, term, type, data)"
    " SELECT * FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::bytea[])";

/* One INSERT statement's worth of entries, as four binary arrays. */
struct pg_batch
{
    struct cv_buf col[4]; /* idx, term, type, data */
    uint32_t n;
    size_t bytes;
};

struct pg_store
{
    struct pg_conn c;
    PGconn *prepared_on; /* the connection the append statement exists on */

    struct pg_batch *batches; /* appends not yet committed */
    size_t nbatches, cap;
    uint64_t pending_first; /* index of the first of them */

    bool has_snapshot;
    uint64_t snapshot_id;
    struct store_snapshot_meta snapshot; /* conf owned */
    uint64_t next_snapshot_id;
    uint64_t writing_id; /* the snapshot being written, 0 when none */
};

/* ---- binary arrays ---------------------------------------------------------- */

static void put_u32(struct cv_buf *b, uint32_t v)
{
    unsigned char out[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                            (unsigned char)(v >> 8), (unsigned char)v};
    cv_buf_append(b, out, sizeof out);
}

static void array_start(struct cv_buf *b, uint32_t elem_oid)
{
    cv_buf_reset(b);
    put_u32(b, 1);        /* dimensions */
    put_u32(b, 0);        /* no NULLs */
    put_u32(b, elem_oid); /* element type */
    put_u32(b, 0);        /* length of the dimension, set by array_finish */
    put_u32(b, 1);        /* lower bound */
}

static void array_finish(struct cv_buf *b, uint32_t n)
{
    unsigned char *p = (unsigned char *)b->data + 12;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

static void batch_start(struct pg_batch *bt)
{
    static const uint32_t oids[4] = {OID_INT8, OID_INT8, OID_INT2, OID_BYTEA};
    for (int i = 0; i < 4; i++) {
        array_start(&bt->col[i], oids[i]);
    }
    bt->n = 0;
    bt->bytes = 0;
}

static void batch_add(struct pg_batch *bt, const struct store_entry *e)
{
    unsigned char v[8];
    put_u32(&bt->col[0], 8);
    pg_put_u64(v, e->index);
    cv_buf_append(&bt->col[0], v, 8);
    put_u32(&bt->col[1], 8);
    pg_put_u64(v, e->term);
    cv_buf_append(&bt->col[1], v, 8);
    put_u32(&bt->col[2], 2);
    unsigned char type[2] = {0, e->type};
    cv_buf_append(&bt->col[2], type, 2);
    put_u32(&bt->col[3], (uint32_t)e->len);
    cv_buf_append(&bt->col[3], e->data, e->len);
    bt->n++;
    bt->bytes += e->len;
}

static void batches_clear(struct pg_store *p)
{
    for (size_t i = 0; i < p->nbatches; i++) {
        /* Keep the buffers for the next group unless one grew large. */
        for (int k = 0; k < 4; k++) {
            if (p->batches[i].col[k].cap > BATCH_BYTES_MAX) {
                cv_buf_free(&p->batches[i].col[k]);
            }
        }
    }
    p->nbatches = 0;
}

/* ---- append and sync ---------------------------------------------------------- */

static int pg_append(void *b, const struct store_entry *entries, size_t n, struct cv_err *err)
{
    (void)err;
    struct pg_store *p = b;
    if (p->nbatches == 0) {
        p->pending_first = entries[0].index;
    }
    for (size_t i = 0; i < n; i++) {
        struct pg_batch *bt = p->nbatches ? &p->batches[p->nbatches - 1] : NULL;
        if (!bt || (bt->n > 0 && bt->bytes + entries[i].len > BATCH_BYTES_MAX)) {
            if (p->nbatches == p->cap) {
                size_t old = p->cap;
                p->cap = p->cap ? p->cap * 2 : 4;
                p->batches = cv_reallocarray(p->batches, p->cap, sizeof *p->batches);
                memset(p->batches + old, 0, (p->cap - old) * sizeof *p->batches);
            }
            bt = &p->batches[p->nbatches++];
            batch_start(bt);
        }
        batch_add(bt, &entries[i]);
    }
    return 0;
}

static int ensure_prepared(struct pg_store *p, struct cv_err *err)
{
    if (p->prepared_on == p->c.conn) {
        return 0;
    }
    const Oid types[4] = {OID_INT8_ARRAY, OID_INT8_ARRAY, OID_INT2_ARRAY, OID_BYTE_ARRAY};
    PGresult *res = PQprepare(p->c.conn, "cv_append", APPEND_SQL, 4, types);
    int rc = pg_check(&p->c, res, PGRES_COMMAND_OK, "preparing the append statement", err);
    if (rc != 0) {
        return rc;
    }
    PQclear(res);
    const Oid one[4] = {OID_INT8, OID_INT8, OID_INT2, OID_BYTEA};
    res = PQprepare(p->c.conn, "cv_append1", APPEND_ONE_SQL, 4, one);
    rc = pg_check(&p->c, res, PGRES_COMMAND_OK, "preparing the append statement", err);
    if (rc != 0) {
        return rc;
    }
    PQclear(res);
    p->prepared_on = p->c.conn;
    return 0;
}

/* A batch of one entry as plain parameters: each array holds one element
 * right after its header and the element's 4-byte length. */
static int insert_one(struct pg_store *p, struct pg_batch *bt, struct cv_err *err)
{
    const char *values[4];
    int lengths[4];
    const int formats[4] = {1, 1, 1, 1};
    for (int k = 0; k < 4; k++) {
        values[k] = bt->col[k].data + ARRAY_HEADER + 4;
        lengths[k] = (int)(bt->col[k].len - ARRAY_HEADER - 4);
    }
    PGresult *res = PQexecPrepared(p->c.conn, "cv_append1", 4, values, lengths, formats, 0);
    int rc = pg_check(&p->c, res, PGRES_COMMAND_OK, "appending to the log", err);
    if (rc == 0) {
        PQclear(res);
    }
    return rc;
}

static int insert_batch(struct pg_store *p, struct pg_batch *bt, struct cv_err *err)
{
    if (bt->n == 1) {
        return insert_one(p, bt, err);
    }
    const char *values[4];
    int lengths[4];
    const int formats[4] = {1, 1, 1, 1};
    for (int k = 0; k < 4; k++) {
        array_finish(&bt->col[k], bt->n);
        values[k] = bt->col[k].data;
        lengths[k] = (int)bt->col[k].len;
    }
    PGresult *res = PQexecPrepared(p->c.conn, "cv_append", 4, values, lengths, formats, 0);
    int rc = pg_check(&p->c, res, PGRES_COMMAND_OK, "appending to the log", err);
    if (rc == 0) {
        PQclear(res);
    }
    return rc;
}

static int tx_sync(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err)
{
    (void)c;
    struct pg_store *p = arg;
    int rc = ensure_prepared(p, err);
    if (rc != 0) {
        return rc;
    }
    if (p->nbatches == 1 && attempt == 0) {
        return insert_batch(p, &p->batches[0], err);
    }
    if ((rc = pg_exec(&p->c, "BEGIN", "appending to the log", err)) != 0) {
        return rc;
    }
    if (attempt > 0) {
        char first[24];
        snprintf(first, sizeof first, "%llu", (unsigned long long)p->pending_first);
        const char *params[] = {first};
        PGresult *res = PQexecParams(p->c.conn, "DELETE FROM raft_log WHERE idx >= $1::int8", 1,
                                     NULL, params, NULL, NULL, 0);
        if ((rc = pg_check(&p->c, res, PGRES_COMMAND_OK, "appending to the log", err)) != 0) {
            return rc;
        }
        PQclear(res);
    }
    for (size_t i = 0; i < p->nbatches; i++) {
        if ((rc = insert_batch(p, &p->batches[i], err)) != 0) {
            return rc;
        }
    }
    return pg_commit(&p->c, "committing appends", err);
}

static int pg_sync(void *b, struct cv_err *err)
{
    struct pg_store *p = b;
    if (p->nbatches == 0) {
        return 0;
    }
    int rc = pg_run(&p->c, tx_sync, p, err);
    if (rc == 0) {
        batches_clear(p);
    }
    return rc;
}

/* ---- truncation, term and vote ------------------------------------------------ */

struct stmt
{
    const char *sql;
    const char *what;
    int nparams;
    const char *params[3];
};

/* One statement with text parameters, run on its own: each is idempotent,
 * so running it again after a lost connection is right. */
static int tx_stmt(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err)
{
    (void)attempt;
    const struct stmt *st = arg;
    PGresult *res = PQexecParams(c->conn, st->sql, st->nparams, NULL, st->params, NULL, NULL, 0);
    int rc = pg_check(c, res, PGRES_COMMAND_OK, st->what, err);
    if (rc == 0) {
        PQclear(res);
    }
    return rc;
}

static int pg_truncate_tail(void *b, uint64_t index, struct cv_err *err)
{
    struct pg_store *p = b;
    assert(p->nbatches == 0);
    char idx[24];
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)index);
    struct stmt st = {
        "DELETE FROM raft_log WHERE idx >= $1::int8", "truncating the log's tail", 1, {idx}};
    return pg_run(&p->c, tx_stmt, &st, err);
}

static int pg_truncate_head(void *b, uint64_t index, struct cv_err *err)
{
    struct pg_store *p = b;
    assert(p->nbatches == 0);
    char idx[24];
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)index);
    /* One statement: the entries and the new first index go together. */
    struct stmt st = {
        "WITH gone AS (DELETE FROM raft_log WHERE idx <= $1::int8)"
        " UPDATE raft_meta SET first_index = GREATEST(first_index, $1::int8 + 1)",
        "truncating the log's head",
        1,
        {idx}};
    return pg_run(&p->c, tx_stmt, &st, err);
}

static int pg_set_term_vote(void *b, uint64_t term, uint64_t vote, struct cv_err *err)
{
    struct pg_store *p = b;
    char t[24], v[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)term);
    snprintf(v, sizeof v, "%llu", (unsigned long long)vote);
    struct stmt st = {"UPDATE raft_meta SET term = $1::int8, vote = $2::int8",
                      "recording term and vote",
                      2,
                      {t, v}};
    return pg_run(&p->c, tx_stmt, &st, err);
}

/* ---- snapshots ---------------------------------------------------------------- */

struct snapshot_chunk
{
    struct pg_store *p;
    const struct store_snapshot_meta *meta;
    uint64_t offset;
    const void *data;
    size_t len;
    bool finish;
};

static int exec_params(struct pg_conn *c, const char *sql, int n, const char *const *values,
                       const int *lengths, const int *formats, const char *what, struct cv_err *err)
{
    PGresult *res = PQexecParams(c->conn, sql, n, NULL, values, lengths, formats, 0);
    int rc = pg_check(c, res, PGRES_COMMAND_OK, what, err);
    if (rc == 0) {
        PQclear(res);
    }
    return rc;
}

/* One chunk in one transaction. Every statement is an upsert or a delete of
 * what a finished snapshot replaces, so a retry writes the same rows. */
static int tx_snapshot_chunk(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err)
{
    (void)attempt;
    struct snapshot_chunk *ch = arg;
    const char *what = "writing a snapshot";
    char id[24], idx[24], term[24], size[24], off[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)ch->p->writing_id);
    int rc = pg_exec(c, "BEGIN", what, err);
    if (rc != 0) {
        return rc;
    }
    if (ch->offset == 0) {
        snprintf(idx, sizeof idx, "%llu", (unsigned long long)ch->meta->index);
        snprintf(term, sizeof term, "%llu", (unsigned long long)ch->meta->term);
        snprintf(size, sizeof size, "%llu", (unsigned long long)ch->meta->size);
        const char *v[] = {id, idx, term, size, ch->meta->conf_len ? ch->meta->conf : ""};
        const int len[] = {0, 0, 0, 0, (int)ch->meta->conf_len};
        const int fmt[] = {0, 0, 0, 0, 1};
        if ((rc = exec_params(c, "DELETE FROM raft_snapshot WHERE NOT complete", 0, NULL, NULL,
                              NULL, what, err)) != 0 ||
            (rc = exec_params(c,
                              "INSERT INTO raft_snapshot (id, idx, term, size, conf)"
                              " VALUES ($1::int8, $2::int8, $3::int8, $4::int8, $5::bytea)"
                              " ON CONFLICT (id) DO NOTHING",
                              5, v, len, fmt, what, err)) != 0) {
            return rc;
        }
    }
    for (size_t done = 0; done < ch->len;) {
        size_t n = ch->len - done < SNAPSHOT_ROW_MAX ? ch->len - done : SNAPSHOT_ROW_MAX;
        snprintf(off, sizeof off, "%llu", (unsigned long long)(ch->offset + done));
        const char *v[] = {id, off, (const char *)ch->data + done};
        const int len[] = {0, 0, (int)n};
        const int fmt[] = {0, 0, 1};
        rc = exec_params(c,
                         "INSERT INTO raft_snapshot_chunk (snapshot_id, off, data)"
                         " VALUES ($1::int8, $2::int8, $3::bytea)"
                         " ON CONFLICT (snapshot_id, off) DO UPDATE SET data = EXCLUDED.data",
                         3, v, len, fmt, what, err);
        if (rc != 0) {
            return rc;
        }
        done += n;
    }
    if (ch->finish) {
        const char *v[] = {id};
        if ((rc = exec_params(c, "UPDATE raft_snapshot SET complete = true WHERE id = $1::int8", 1,
                              v, NULL, NULL, what, err)) != 0 ||
            (rc = exec_params(c, "DELETE FROM raft_snapshot WHERE id <> $1::int8", 1, v, NULL, NULL,
                              what, err)) != 0) {
            return rc;
        }
    }
    return pg_commit(c, "committing a snapshot chunk", err);
}

static void snapshot_set_current(struct pg_store *p, uint64_t id,
                                 const struct store_snapshot_meta *meta)
{
    cv_free((void *)p->snapshot.conf);
    p->snapshot = *meta;
    p->snapshot.conf = NULL;
    if (meta->conf_len) {
        void *conf = cv_malloc(meta->conf_len);
        memcpy(conf, meta->conf, meta->conf_len);
        p->snapshot.conf = conf;
    }
    p->snapshot_id = id;
    p->has_snapshot = true;
}

static int pg_snapshot_put(void *b, const struct store_snapshot_meta *meta, uint64_t offset,
                           const void *data, size_t len, bool finish, struct cv_err *err)
{
    struct pg_store *p = b;
    assert(p->nbatches == 0);
    if (offset == 0) {
        p->writing_id = p->next_snapshot_id++;
    }
    struct snapshot_chunk ch = {p, meta, offset, data, len, finish};
    int rc = pg_run(&p->c, tx_snapshot_chunk, &ch, err);
    if (rc == 0 && finish) {
        snapshot_set_current(p, p->writing_id, meta);
        p->writing_id = 0;
    }
    return rc;
}

struct snapshot_read
{
    struct pg_store *p;
    uint64_t offset;
    unsigned char *buf;
    size_t max_len;
    size_t *len;
};

static int tx_snapshot_read(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err)
{
    (void)attempt;
    struct snapshot_read *r = arg;
    char id[24], off[24], end[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)r->p->snapshot_id);
    snprintf(off, sizeof off, "%llu", (unsigned long long)r->offset);
    snprintf(end, sizeof end, "%llu", (unsigned long long)(r->offset + r->max_len));
    const char *v[] = {id, off, end};
    /* The row holding `offset` (the last starting at or before it) and the
     * rows after it up to offset + max_len, by the primary key's order. */
    PGresult *res = PQexecParams(c->conn,
                                 "SELECT off, data FROM raft_snapshot_chunk"
                                 " WHERE snapshot_id = $1::int8 AND off < $3::int8 AND off >="
                                 " (SELECT coalesce(max(off), 0) FROM raft_snapshot_chunk"
                                 "  WHERE snapshot_id = $1::int8 AND off <= $2::int8)"
                                 " ORDER BY off",
                                 3, NULL, v, NULL, NULL, 1);
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "reading the snapshot", err);
    if (rc != 0) {
        return rc;
    }
    uint64_t want = r->offset;
    size_t got = 0;
    uint64_t size = r->p->snapshot.size;
    uint64_t stop = r->offset + r->max_len < size ? r->offset + r->max_len : size;
    for (int i = 0; i < PQntuples(res) && want < stop; i++) {
        uint64_t row_off = pg_get_u64(PQgetvalue(res, i, 0));
        uint64_t row_len = (uint64_t)PQgetlength(res, i, 1);
        if (row_off > want || row_off + row_len <= want) {
            break; /* a gap: reported below */
        }
        uint64_t from = want - row_off;
        uint64_t n = row_len - from;
        if (n > stop - want) {
            n = stop - want;
        }
        memcpy(r->buf + got, PQgetvalue(res, i, 1) + from, n);
        got += n;
        want += n;
    }
    PQclear(res);
    if (want < stop) {
        return cv_err_setf(err, CV_EIO, "snapshot %llu in %s is missing bytes at offset %llu",
                           (unsigned long long)r->p->snapshot.index, c->where,
                           (unsigned long long)want);
    }
    *r->len = got;
    return 0;
}

static int flush_pending(struct pg_store *p, struct cv_err *err)
{
    return pg_sync(p, err);
}

static int pg_snapshot_get(void *b, struct store_snapshot_meta *meta, uint64_t offset, void *buf,
                           size_t max_len, size_t *len, struct cv_err *err)
{
    struct pg_store *p = b;
    if (!p->has_snapshot) {
        return cv_err_setf(err, CV_ENOTFOUND, "no snapshot in %s", p->c.where);
    }
    int rc = flush_pending(p, err);
    if (rc != 0) {
        return rc;
    }
    *meta = p->snapshot;
    *len = 0;
    if (offset >= p->snapshot.size || max_len == 0) {
        return 0;
    }
    struct snapshot_read r = {p, offset, buf, max_len, len};
    return pg_run(&p->c, tx_snapshot_read, &r, err);
}

/* ---- reads -------------------------------------------------------------------- */

struct log_read
{
    uint64_t from, to;
    struct store_entry **entries;
    size_t *n;
};

static int tx_read(struct pg_conn *c, void *arg, unsigned attempt, struct cv_err *err)
{
    (void)attempt;
    struct log_read *r = arg;
    char from[24], to[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)r->from);
    snprintf(to, sizeof to, "%llu", (unsigned long long)r->to);
    const char *v[] = {from, to};
    PGresult *res = PQexecParams(c->conn,
                                 "SELECT idx, term, type, data FROM raft_log"
                                 " WHERE idx BETWEEN $1::int8 AND $2::int8 ORDER BY idx",
                                 2, NULL, v, NULL, NULL, 1);
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "reading the log", err);
    if (rc != 0) {
        return rc;
    }
    size_t rows = (size_t)PQntuples(res);
    size_t want = (size_t)(r->to - r->from + 1);
    size_t bytes = 0;
    for (size_t i = 0; i < rows; i++) {
        uint64_t idx = pg_get_u64(PQgetvalue(res, (int)i, 0));
        if (idx != r->from + i) {
            PQclear(res);
            return cv_err_setf(err, CV_EIO, "log entry %llu is missing from %s",
                               (unsigned long long)(r->from + i), c->where);
        }
        bytes += (size_t)PQgetlength(res, (int)i, 3);
    }
    if (rows != want) {
        PQclear(res);
        return cv_err_setf(err, CV_EIO, "log entry %llu is missing from %s",
                           (unsigned long long)(r->from + rows), c->where);
    }
    struct store_entry *out = store_entries_alloc(rows, bytes);
    unsigned char *data = store_entries_data(out, rows);
    for (size_t i = 0; i < rows; i++) {
        const char *type = PQgetvalue(res, (int)i, 2);
        size_t len = (size_t)PQgetlength(res, (int)i, 3);
        out[i] = (struct store_entry){
            .index = r->from + i,
            .term = pg_get_u64(PQgetvalue(res, (int)i, 1)),
            .type = (uint8_t)type[1],
            .data = data,
            .len = len,
        };
        memcpy(data, PQgetvalue(res, (int)i, 3), len);
        data += len;
    }
    PQclear(res);
    *r->entries = out;
    *r->n = rows;
    return 0;
}

static int pg_read(void *b, uint64_t from, uint64_t to, struct store_entry **entries, size_t *n,
                   struct cv_err *err)
{
    struct pg_store *p = b;
    int rc = flush_pending(p, err);
    if (rc != 0) {
        return rc;
    }
    struct log_read r = {from, to, entries, n};
    return pg_run(&p->c, tx_read, &r, err);
}

/* ---- open and close ----------------------------------------------------------- */

static void pg_close(void *b)
{
    struct pg_store *p = b;
    for (size_t i = 0; i < p->cap; i++) {
        for (int k = 0; k < 4; k++) {
            cv_buf_free(&p->batches[i].col[k]);
        }
    }
    cv_free(p->batches);
    cv_free((void *)p->snapshot.conf);
    pg_conn_close(&p->c);
    cv_free(p);
}

static const struct store_backend_ops pg_ops = {
    .name = "postgres",
    .append = pg_append,
    .sync = pg_sync,
    .truncate_tail = pg_truncate_tail,
    .truncate_head = pg_truncate_head,
    .set_term_vote = pg_set_term_vote,
    .snapshot_put = pg_snapshot_put,
    .snapshot_get = pg_snapshot_get,
    .read = pg_read,
    .close = pg_close,
};

static uint64_t u64_at(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoull(PQgetvalue(res, row, col), NULL, 10);
}

/* Reads term/vote, the log's bounds and the latest snapshot, checking that
 * the log has no hole. */
static int recover(struct pg_store *p, struct store_state *st, struct cv_err *err)
{
    struct pg_conn *c = &p->c;
    PGresult *res =
        PQexec(c->conn,
               "SELECT m.term, m.vote, m.first_index, l.lo, l.hi, l.n,"
               " (SELECT coalesce(max(id), 0) FROM raft_snapshot)"
               " FROM raft_meta m,"
               " (SELECT min(idx) AS lo, max(idx) AS hi, count(*) AS n FROM raft_log) l");
    int rc = pg_check(c, res, PGRES_TUPLES_OK, "recovering the log", err);
    if (rc != 0) {
        return rc == PG_RETRY ? CV_EUNAVAILABLE : rc;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return cv_err_setf(err, CV_EIO, "%s: raft_meta must hold exactly one row", c->where);
    }
    st->term = u64_at(res, 0, 0);
    st->vote = u64_at(res, 0, 1);
    st->first_index = u64_at(res, 0, 2);
    uint64_t lo = u64_at(res, 0, 3), hi = u64_at(res, 0, 4), n = u64_at(res, 0, 5);
    p->next_snapshot_id = u64_at(res, 0, 6) + 1;
    PQclear(res);
    if (n == 0) {
        st->last_index = st->first_index - 1;
    } else if (lo != st->first_index || hi - lo + 1 != n) {
        return cv_err_setf(err, CV_EIO,
                           "%s: the log holds %llu entries between %llu and %llu but should "
                           "start at %llu with no gap",
                           c->where, (unsigned long long)n, (unsigned long long)lo,
                           (unsigned long long)hi, (unsigned long long)st->first_index);
    } else {
        st->last_index = hi;
    }

    res = PQexecParams(c->conn,
                       "SELECT id, idx, term, size, conf FROM raft_snapshot WHERE complete"
                       " ORDER BY id DESC LIMIT 1",
                       0, NULL, NULL, NULL, NULL, 1);
    if ((rc = pg_check(c, res, PGRES_TUPLES_OK, "recovering the snapshot", err)) != 0) {
        return rc == PG_RETRY ? CV_EUNAVAILABLE : rc;
    }
    if (PQntuples(res) == 1) {
        struct store_snapshot_meta meta = {
            .index = pg_get_u64(PQgetvalue(res, 0, 1)),
            .term = pg_get_u64(PQgetvalue(res, 0, 2)),
            .size = pg_get_u64(PQgetvalue(res, 0, 3)),
            .conf = PQgetvalue(res, 0, 4),
            .conf_len = (size_t)PQgetlength(res, 0, 4),
        };
        snapshot_set_current(p, pg_get_u64(PQgetvalue(res, 0, 0)), &meta);
        st->has_snapshot = true;
        st->snapshot = p->snapshot;
        st->snapshot.conf = NULL;
        if (meta.conf_len) {
            void *conf = cv_malloc(meta.conf_len);
            memcpy(conf, meta.conf, meta.conf_len);
            st->snapshot.conf = conf;
        }
    }
    PQclear(res);
    return 0;
}

int store_pg_open(const struct store_pg_config *cfg, struct store **out, struct store_state *state,
                  struct cv_err *err)
{
    memset(state, 0, sizeof *state);
    struct pg_store *p = cv_calloc(1, sizeof *p);
    int rc = pg_conn_open(&p->c, cfg, err);
    if (rc != 0) {
        cv_free(p);
        return rc;
    }
    rc = recover(p, state, err);
    if (rc != 0) {
        store_state_free(state);
        memset(state, 0, sizeof *state);
        pg_close(p);
        return rc;
    }
    *out = store_new(&pg_ops, p, state, false);
    return 0;
}
