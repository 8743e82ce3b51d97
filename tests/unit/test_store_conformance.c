/*
 * test_store_conformance: the tests every persistence adaptor must pass.
 *
 * Each test runs once per adaptor (a cmocka prestate names it): the
 * in-memory one with and without its worker thread, and the embedded one on
 * a temporary directory of the real file system and on the simulated file
 * system. A test sees the store only through store.h; reopening it is what
 * a restart does. The fixture checks that no allocation outlives a test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#ifdef CARAVAN_TEST_PG
#include <libpq-fe.h>
#endif

#include "regiond/store/store.h"
#include "regiond/store/store_embedded.h"
#include "regiond/store/store_fs_sim.h"
#include "regiond/store/store_mem.h"
#include "regiond/store/store_pg.h"
#ifdef CARAVAN_TEST_PG
#include "pg_server.h"
#endif
#include "store_testutil.h"
#include "testutil.h"

struct fixture;

struct adaptor
{
    const char *name;
    void (*init)(struct fixture *fx);
    int (*open)(struct fixture *fx, struct store **s, struct store_state *st, struct cv_err *err);
    void (*fail_sync)(struct fixture *fx, unsigned after);
    void (*fini)(struct fixture *fx);
};

struct fixture
{
    const struct adaptor *ad;
    struct store *s;
    struct store_state st;
    struct store_mem_disk *disk;
    struct store_fs *fs;
    char dir[512];
};

/* ---- adaptors ---------------------------------------------------------------- */

static void mem_init(struct fixture *fx)
{
    fx->disk = store_mem_disk_new();
}

static int mem_open(struct fixture *fx, struct store **s, struct store_state *st,
                    struct cv_err *err)
{
    return store_mem_open(fx->disk, false, s, st, err);
}

static int mem_open_manual(struct fixture *fx, struct store **s, struct store_state *st,
                           struct cv_err *err)
{
    return store_mem_open(fx->disk, true, s, st, err);
}

static void mem_fail_sync(struct fixture *fx, unsigned after)
{
    store_mem_disk_fail_sync(fx->disk, after);
}

static void mem_fini(struct fixture *fx)
{
    store_mem_disk_free(fx->disk);
}

static const struct adaptor mem_threaded = {"mem", mem_init, mem_open, mem_fail_sync, mem_fini};
static const struct adaptor mem_manual = {"mem-manual", mem_init, mem_open_manual, mem_fail_sync,
                                          mem_fini};

static void emb_init(struct fixture *fx)
{
    store_test_mkdtemp(fx->dir, sizeof fx->dir);
}

static int emb_open(struct fixture *fx, struct store **s, struct store_state *st,
                    struct cv_err *err)
{
    struct store_embedded_config cfg = {.dir = fx->dir, .fs = fx->fs, .segment_size = 16384};
    return store_embedded_open(&cfg, s, st, err);
}

static void emb_fini(struct fixture *fx)
{
    store_test_rmdir(fx->dir);
}

static const struct adaptor emb_posix = {"embedded", emb_init, emb_open, NULL, emb_fini};

static void sim_init(struct fixture *fx)
{
    fx->fs = store_fs_sim_new(1);
    snprintf(fx->dir, sizeof fx->dir, "/data");
}

static void sim_fail_sync(struct fixture *fx, unsigned after)
{
    store_fs_sim_fail_sync(fx->fs, after, -5 /* EIO */);
}

static void sim_fini(struct fixture *fx)
{
    store_fs_sim_free(fx->fs);
}

static const struct adaptor emb_sim = {"embedded-simfs", sim_init, emb_open, sim_fail_sync,
                                       sim_fini};

#ifdef CARAVAN_TEST_PG
/* The postgres adaptor: a schema per test in the server main() started. */
static const char *pg_conninfo;
static unsigned pg_schema_seq;

static void pg_init(struct fixture *fx)
{
    snprintf(fx->dir, sizeof fx->dir, "conformance_%u", ++pg_schema_seq);
}

static int pg_open(struct fixture *fx, struct store **s, struct store_state *st, struct cv_err *err)
{
    struct store_pg_config cfg = {.conninfo = pg_conninfo, .schema = fx->dir};
    return store_pg_open(&cfg, s, st, err);
}

static void pg_fini(struct fixture *fx)
{
    PGconn *conn = PQconnectdb(pg_conninfo);
    char sql[600];
    snprintf(sql, sizeof sql, "SET client_min_messages = warning; DROP SCHEMA %s CASCADE", fx->dir);
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        print_error("dropping %s: %s\n", fx->dir, PQerrorMessage(conn));
    }
    PQclear(res);
    PQfinish(conn);
}

static const struct adaptor pg = {"postgres", pg_init, pg_open, NULL, pg_fini};
#endif

/* ---- fixture ------------------------------------------------------------------ */

static void reopen(struct fixture *fx)
{
    if (fx->s) {
        store_close(fx->s);
        fx->s = NULL;
        store_state_free(&fx->st);
    }
    struct cv_err err = {0};
    int rc = fx->ad->open(fx, &fx->s, &fx->st, &err);
    if (rc != 0) {
        print_error("open %s: %s\n", fx->ad->name, err.msg);
    }
    assert_i64_equal(rc, 0);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->ad = *state;
    store_test_count_allocs();
    fx->ad->init(fx);
    reopen(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->s);
    store_state_free(&fx->st);
    fx->ad->fini(fx);
    size_t leaks = store_test_leaks();
    const char *name = fx->ad->name;
    free(fx);
    if (leaks) {
        print_error("%s: test leaked %zu allocation(s)\n", name, leaks);
        return -1;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void append_ok(struct fixture *fx, uint64_t from, uint64_t to, uint64_t term, size_t max)
{
    struct store_test_call c = {0};
    assert_i64_equal(store_test_append(fx->s, from, to, term, max, &c), 0);
    store_drain(fx->s);
    assert_true(c.done);
    assert_i64_equal(c.status, 0);
}

/* Reads [from, to] and checks each entry was written with term(index). */
static void check_range(struct fixture *fx, uint64_t from, uint64_t to,
                        uint64_t (*term)(uint64_t index), size_t max)
{
    struct store_test_call c = {0};
    assert_i64_equal(store_read(fx->s, from, to, store_test_read_cb, &c), 0);
    store_drain(fx->s);
    assert_true(c.done);
    assert_i64_equal(c.status, 0);
    assert_u64_equal(c.n, to - from + 1);
    for (size_t i = 0; i < c.n; i++) {
        const struct store_entry *e = &c.entries[i];
        uint64_t t = term(from + i);
        assert_u64_equal(e->index, from + i);
        assert_u64_equal(e->term, t);
        assert_u64_equal(e->type, (from + i) % 3);
        assert_u64_equal(e->len, store_test_len(e->index, t, max));
        assert_true(store_test_check(e->data, e->index, t, e->len));
    }
    store_entries_free(c.entries, c.n);
}

static uint64_t term1(uint64_t index)
{
    (void)index;
    return 1;
}

static uint64_t term_by_tens(uint64_t index)
{
    return (index - 1) / 10 + 1;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_empty_store(void **state)
{
    struct fixture *fx = *state;
    assert_u64_equal(fx->st.term, 0);
    assert_u64_equal(fx->st.vote, 0);
    assert_u64_equal(fx->st.first_index, 1);
    assert_u64_equal(fx->st.last_index, 0);
    assert_false(fx->st.has_snapshot);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 0);
}

static void test_append_read_reopen(void **state)
{
    struct fixture *fx = *state;
    for (uint64_t i = 1; i <= 100; i += 10) {
        append_ok(fx, i, i + 9, term_by_tens(i), 700);
    }
    check_range(fx, 1, 100, term_by_tens, 700);
    check_range(fx, 37, 41, term_by_tens, 700);
    reopen(fx);
    assert_u64_equal(fx->st.first_index, 1);
    assert_u64_equal(fx->st.last_index, 100);
    check_range(fx, 1, 100, term_by_tens, 700);
    append_ok(fx, 101, 110, 11, 700);
    append_ok(fx, 111, 120, 12, 700);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 120);
    check_range(fx, 95, 120, term_by_tens, 700);
}

static void test_completion_order(void **state)
{
    struct fixture *fx = *state;
    enum
    {
        N = 60
    };
    struct store_test_call calls[N];
    memset(calls, 0, sizeof calls);
    uint64_t next = 1;
    unsigned first_seq = store_test_next_seq();
    for (int i = 0; i < N; i++) {
        int rc;
        switch (i % 5) {
        case 0:
        case 1:
            rc = store_test_append(fx->s, next, next + (uint64_t)(i % 4), 1, 100, &calls[i]);
            next += (uint64_t)(i % 4) + 1;
            break;
        case 2:
            rc = store_set_term_vote(fx->s, (uint64_t)i, 2, store_test_done_cb, &calls[i]);
            break;
        case 3:
            rc = store_read(fx->s, 1, next - 1, store_test_read_cb, &calls[i]);
            break;
        default:
            rc = store_append(fx->s, NULL, 0, store_test_done_cb, &calls[i]);
            break;
        }
        assert_i64_equal(rc, 0);
    }
    store_drain(fx->s);
    for (int i = 0; i < N; i++) {
        assert_true(calls[i].done);
        assert_i64_equal(calls[i].status, 0);
        assert_u64_equal(calls[i].seq, first_seq + (unsigned)i);
        store_entries_free(calls[i].entries, calls[i].n);
    }
    reopen(fx);
    assert_u64_equal(fx->st.term, N - 3);
    assert_u64_equal(fx->st.vote, 2);
    assert_u64_equal(fx->st.last_index, next - 1);
    check_range(fx, 1, next - 1, term1, 100);
}

static void test_empty_batches(void **state)
{
    struct fixture *fx = *state;
    struct store_test_call a = {0}, b = {0}, c = {0};
    assert_i64_equal(store_append(fx->s, NULL, 0, store_test_done_cb, &a), 0);
    assert_i64_equal(store_test_append(fx->s, 1, 3, 1, 50, &b), 0);
    assert_i64_equal(store_append(fx->s, NULL, 0, store_test_done_cb, &c), 0);
    store_drain(fx->s);
    assert_true(a.done && b.done && c.done);
    assert_true(a.seq < b.seq && b.seq < c.seq);
    assert_i64_equal(a.status | b.status | c.status, 0);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 3);
}

static void test_invalid_arguments(void **state)
{
    struct fixture *fx = *state;
    struct store_test_call c = {0};
    assert_i64_equal(store_test_append(fx->s, 2, 3, 1, 10, &c), CV_EINVAL);
    append_ok(fx, 1, 5, 1, 10);
    assert_i64_equal(store_test_append(fx->s, 5, 6, 1, 10, &c), CV_EINVAL);
    assert_i64_equal(store_truncate_tail(fx->s, 7, store_test_done_cb, &c), CV_EINVAL);
    assert_i64_equal(store_truncate_tail(fx->s, 0, store_test_done_cb, &c), CV_EINVAL);
    assert_i64_equal(store_read(fx->s, 0, 3, store_test_read_cb, &c), CV_EINVAL);
    assert_i64_equal(store_read(fx->s, 3, 6, store_test_read_cb, &c), CV_EINVAL);
    struct store_snapshot_meta m = {.index = 5, .term = 1, .size = 10};
    assert_i64_equal(store_snapshot_put(fx->s, &m, 4, "abc", 3, store_test_done_cb, &c), CV_EINVAL);
    assert_i64_equal(store_snapshot_put(fx->s, &m, 0, "0123456789a", 11, store_test_done_cb, &c),
                     CV_EINVAL);
    store_drain(fx->s);
    assert_false(c.done);
}

static void test_truncate_tail(void **state)
{
    struct fixture *fx = *state;
    for (uint64_t i = 1; i <= 200; i += 20) {
        append_ok(fx, i, i + 19, 1, 300);
    }
    struct store_test_call t = {0};
    assert_i64_equal(store_truncate_tail(fx->s, 51, store_test_done_cb, &t), 0);
    struct store_test_call a = {0};
    assert_i64_equal(store_test_append(fx->s, 51, 60, 2, 300, &a), 0);
    store_drain(fx->s);
    assert_i64_equal(t.status | a.status, 0);
    assert_u64_equal(store_last_index(fx->s), 60);
    check_range(fx, 1, 50, term1, 300);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 60);
    check_range(fx, 1, 50, term1, 300);
    struct store_test_call r = {0};
    assert_i64_equal(store_read(fx->s, 51, 60, store_test_read_cb, &r), 0);
    store_drain(fx->s);
    for (size_t i = 0; i < r.n; i++) {
        assert_u64_equal(r.entries[i].term, 2);
        assert_true(store_test_check(r.entries[i].data, 51 + i, 2, r.entries[i].len));
    }
    store_entries_free(r.entries, r.n);
    /* Everything, then start over. */
    assert_i64_equal(store_truncate_tail(fx->s, 1, store_test_done_cb, &t), 0);
    store_drain(fx->s);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 0);
    append_ok(fx, 1, 10, 3, 300);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 10);
}

static void test_truncate_head(void **state)
{
    struct fixture *fx = *state;
    for (uint64_t i = 1; i <= 300; i += 10) {
        append_ok(fx, i, i + 9, 1, 500);
    }
    struct store_test_call t = {0};
    assert_i64_equal(store_truncate_head(fx->s, 180, store_test_done_cb, &t), 0);
    store_drain(fx->s);
    assert_i64_equal(t.status, 0);
    assert_u64_equal(store_first_index(fx->s), 181);
    check_range(fx, 181, 300, term1, 500);
    reopen(fx);
    assert_u64_equal(fx->st.first_index, 181);
    assert_u64_equal(fx->st.last_index, 300);
    check_range(fx, 181, 300, term1, 500);
    append_ok(fx, 301, 320, 1, 500);
    /* A snapshot past the end of the log (installed from a leader). */
    assert_i64_equal(store_truncate_head(fx->s, 1000, store_test_done_cb, &t), 0);
    store_drain(fx->s);
    assert_u64_equal(store_first_index(fx->s), 1001);
    assert_u64_equal(store_last_index(fx->s), 1000);
    reopen(fx);
    assert_u64_equal(fx->st.first_index, 1001);
    assert_u64_equal(fx->st.last_index, 1000);
    append_ok(fx, 1001, 1010, 1, 500);
    reopen(fx);
    assert_u64_equal(fx->st.first_index, 1001);
    assert_u64_equal(fx->st.last_index, 1010);
    check_range(fx, 1001, 1010, term1, 500);
    /* Exactly the last entry, and an index already gone. */
    assert_i64_equal(store_truncate_head(fx->s, 1010, store_test_done_cb, &t), 0);
    assert_i64_equal(store_truncate_head(fx->s, 5, store_test_done_cb, &t), 0);
    store_drain(fx->s);
    reopen(fx);
    assert_u64_equal(fx->st.first_index, 1011);
    assert_u64_equal(fx->st.last_index, 1010);
}

struct chunk_result
{
    bool done;
    int status;
    struct store_snapshot_meta meta;
    unsigned char conf[64];
    unsigned char data[4096];
    size_t len;
};

static void chunk_cb(void *arg, int status, const struct cv_err *err,
                     const struct store_snapshot_meta *meta, uint64_t offset, const void *data,
                     size_t len)
{
    (void)err;
    (void)offset;
    struct chunk_result *r = arg;
    r->done = true;
    r->status = status;
    if (status == 0) {
        r->meta = *meta;
        assert_true(meta->conf_len <= sizeof r->conf && len <= sizeof r->data);
        if (meta->conf_len) {
            memcpy(r->conf, meta->conf, meta->conf_len);
        }
        if (len) {
            memcpy(r->data, data, len);
        }
        r->len = len;
    }
}

static void put_snapshot(struct fixture *fx, uint64_t index, uint64_t term, const char *conf,
                         const unsigned char *data, size_t size, size_t chunk)
{
    struct store_snapshot_meta m = {index, term, size, conf, strlen(conf)};
    struct store_test_call c[64];
    memset(c, 0, sizeof c);
    size_t k = 0;
    uint64_t off = 0;
    do {
        size_t len = size - off < chunk ? size - off : chunk;
        assert_i64_equal(
            store_snapshot_put(fx->s, &m, off, data + off, len, store_test_done_cb, &c[k++]), 0);
        off += len;
    } while (off < size);
    store_drain(fx->s);
    for (size_t i = 0; i < k; i++) {
        assert_true(c[i].done);
        assert_i64_equal(c[i].status, 0);
    }
}

static void check_snapshot(struct fixture *fx, uint64_t index, uint64_t term, const char *conf,
                           const unsigned char *data, size_t size)
{
    unsigned char got[4096];
    size_t have = 0;
    for (;;) {
        struct chunk_result r = {0};
        assert_i64_equal(store_snapshot_get(fx->s, have, 1000, chunk_cb, &r), 0);
        store_drain(fx->s);
        assert_true(r.done);
        assert_i64_equal(r.status, 0);
        assert_u64_equal(r.meta.index, index);
        assert_u64_equal(r.meta.term, term);
        assert_u64_equal(r.meta.size, size);
        assert_u64_equal(r.meta.conf_len, strlen(conf));
        assert_memory_equal(r.conf, conf, strlen(conf));
        if (r.len == 0) {
            break;
        }
        memcpy(got + have, r.data, r.len);
        have += r.len;
    }
    assert_u64_equal(have, size);
    assert_memory_equal(got, data, size);
}

static void test_snapshots(void **state)
{
    struct fixture *fx = *state;
    struct chunk_result none = {0};
    assert_i64_equal(store_snapshot_get(fx->s, 0, 100, chunk_cb, &none), 0);
    store_drain(fx->s);
    assert_i64_equal(none.status, CV_ENOTFOUND);

    unsigned char data[3000];
    store_test_fill(data, 7, 7, sizeof data);
    append_ok(fx, 1, 50, 1, 100);
    put_snapshot(fx, 40, 1, "servers=1,2,3", data, sizeof data, 1024);
    check_snapshot(fx, 40, 1, "servers=1,2,3", data, sizeof data);
    reopen(fx);
    assert_true(fx->st.has_snapshot);
    assert_u64_equal(fx->st.snapshot.index, 40);
    assert_u64_equal(fx->st.snapshot.term, 1);
    assert_u64_equal(fx->st.snapshot.size, sizeof data);
    assert_u64_equal(fx->st.snapshot.conf_len, 13);
    assert_memory_equal(fx->st.snapshot.conf, "servers=1,2,3", 13);
    check_snapshot(fx, 40, 1, "servers=1,2,3", data, sizeof data);

    /* An unfinished snapshot does not replace the finished one. */
    struct store_snapshot_meta m = {45, 1, 100, "x", 1};
    struct store_test_call c = {0};
    assert_i64_equal(store_snapshot_put(fx->s, &m, 0, data, 50, store_test_done_cb, &c), 0);
    store_drain(fx->s);
    assert_i64_equal(c.status, 0);
    check_snapshot(fx, 40, 1, "servers=1,2,3", data, sizeof data);
    reopen(fx);
    check_snapshot(fx, 40, 1, "servers=1,2,3", data, sizeof data);

    /* A newer one replaces it; an empty one is allowed. */
    put_snapshot(fx, 50, 1, "servers=1,2", data + 5, 777, 100);
    check_snapshot(fx, 50, 1, "servers=1,2", data + 5, 777);
    put_snapshot(fx, 50, 2, "", data, 0, 100);
    reopen(fx);
    assert_u64_equal(fx->st.snapshot.term, 2);
    check_snapshot(fx, 50, 2, "", data, 0);
}

static void test_big_entries(void **state)
{
    struct fixture *fx = *state;
    enum
    {
        BIG = 1024 * 1024
    };
    unsigned char *big = malloc(BIG);
    struct store_entry es[3];
    for (int i = 0; i < 3; i++) {
        es[i] = (struct store_entry){(uint64_t)i + 1, 1, 0, big, BIG - (size_t)i};
    }
    store_test_fill(big, 1, 1, BIG);
    struct store_test_call c = {0};
    assert_i64_equal(store_append(fx->s, es, 3, store_test_done_cb, &c), 0);
    append_ok(fx, 4, 20, 1, 100);
    assert_i64_equal(c.status, 0);
    reopen(fx);
    assert_u64_equal(fx->st.last_index, 20);
    struct store_test_call r = {0};
    assert_i64_equal(store_read(fx->s, 1, 4, store_test_read_cb, &r), 0);
    store_drain(fx->s);
    assert_i64_equal(r.status, 0);
    for (int i = 0; i < 3; i++) {
        assert_u64_equal(r.entries[i].len, BIG - (size_t)i);
        assert_memory_equal(r.entries[i].data, big, BIG - (size_t)i);
    }
    store_entries_free(r.entries, r.n);
    check_range(fx, 4, 20, term1, 100);
    free(big);
}

static void test_fail_stop(void **state)
{
    struct fixture *fx = *state;
    if (!fx->ad->fail_sync) {
        skip();
    }
    append_ok(fx, 1, 10, 1, 100);
    fx->ad->fail_sync(fx, 0);
    struct store_test_call a = {0}, b = {0}, c = {0}, d = {0};
    assert_i64_equal(store_test_append(fx->s, 11, 20, 1, 100, &a), 0);
    store_drain(fx->s);
    assert_i64_equal(store_test_append(fx->s, 21, 30, 1, 100, &b), 0);
    assert_i64_equal(store_set_term_vote(fx->s, 5, 1, store_test_done_cb, &c), 0);
    assert_i64_equal(store_read(fx->s, 1, 5, store_test_read_cb, &d), 0);
    store_drain(fx->s);
    assert_i64_equal(a.status, CV_EIO);
    assert_i64_equal(b.status, CV_EIO);
    assert_i64_equal(c.status, CV_EIO);
    assert_i64_equal(d.status, CV_EIO);
    struct cv_err err = {0};
    assert_i64_equal(store_failed(fx->s, &err), CV_EIO);
    assert_true(strlen(err.msg) > 0);
    /* A restart finds everything that was acknowledged. */
    reopen(fx);
    assert_true(fx->st.last_index >= 10);
    check_range(fx, 1, 10, term1, 100);
    assert_i64_equal(store_failed(fx->s, NULL), 0);
}

#define FOR_EACH_TEST(X)       \
    X(test_empty_store)        \
    X(test_append_read_reopen) \
    X(test_completion_order)   \
    X(test_empty_batches)      \
    X(test_invalid_arguments)  \
    X(test_truncate_tail)      \
    X(test_truncate_head)      \
    X(test_snapshots)          \
    X(test_big_entries)        \
    X(test_fail_stop)

#define TEST_FOR(ad)                                                                               \
    {                                                                                              \
        const struct CMUnitTest tests[] = {FOR_EACH_TEST(ENTRY_##ad)};                             \
        failed += _cmocka_run_group_tests(#ad, tests, sizeof tests / sizeof tests[0], NULL, NULL); \
    }

int main(void)
{
    int failed = 0;
#define ENTRY(fn, ad)          cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&ad),
#define ENTRY_mem_threaded(fn) ENTRY(fn, mem_threaded)
#define ENTRY_mem_manual(fn)   ENTRY(fn, mem_manual)
#define ENTRY_emb_posix(fn)    ENTRY(fn, emb_posix)
#define ENTRY_emb_sim(fn)      ENTRY(fn, emb_sim)
#define ENTRY_pg(fn)           ENTRY(fn, pg)
    TEST_FOR(mem_threaded)
    TEST_FOR(mem_manual)
    TEST_FOR(emb_posix)
    TEST_FOR(emb_sim)
#ifdef CARAVAN_TEST_PG
    struct pg_server server;
    struct cv_err err = {0};
    if (pg_server_start(&server, NULL, &err) != 0) {
        fprintf(stderr, "cannot start PostgreSQL for the postgres adaptor: %s\n", err.msg);
        return failed + 1;
    }
    pg_conninfo = server.conninfo;
    TEST_FOR(pg)
    pg_server_destroy(&server);
#endif
    return failed;
}
