/*
 * test_state_snapshots: the region server's state store through its public face (the
 * programs test_state, test_state_concurrency and test_state_snapshots
 * share state_fixture.[ch]).
 *
 * This program: FSM snapshot write/restore: exact round trip, truncated
 * and damaged streams rejected with the record named and the store left
 * unchanged, and write errors.
 */
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/state/state.h"
#include "state_fixture.h"

/* ---- FSM snapshot and restore ------------------------------------------------------------ */

static int buf_write(void *arg, const void *data, size_t len)
{
    cv_buf_append(arg, data, len);
    return 0;
}

struct mem_reader
{
    const char *data;
    size_t len, pos, chunk;
    int fail_at; /* return CV_EIO once pos reaches it; -1 never */
};

static int mem_read(void *arg, void *buf, size_t cap, size_t *got)
{
    struct mem_reader *r = arg;
    if (r->fail_at >= 0 && r->pos >= (size_t)r->fail_at) {
        return CV_EIO;
    }
    size_t n = r->len - r->pos;
    if (n > cap) {
        n = cap;
    }
    if (n > r->chunk) {
        n = r->chunk;
    }
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    *got = n;
    return 0;
}

static int restore_from(struct state_store *st, const char *data, size_t len, size_t chunk,
                        struct cv_err *err)
{
    struct mem_reader r = {data, len, 0, chunk, -1};
    return state_restore(st, mem_read, &r, err);
}

/* A state with every table, shared and private jobs, trimmed versions. */
static struct state_store *build_rich_store(void)
{
    struct state_store *st = state_store_new(NULL);
    uint64_t index = 100;
    for (int v = 0; v < 8; v++) {
        struct cv_job *job = mk_job("web", "service");
        job->stable = v == 1;
        job->priority = 40 + v;
        put_job(st, index++, job);
    }
    put_job(st, index++, mk_job("batchy", "batch"));
    put_job(st, index++, mk_job("sys", "system"));
    for (unsigned i = 1; i <= 5; i++) {
        put_node(st, index++, mk_node(i));
    }
    struct state_txn *txn = state_txn_begin(st, index++);
    struct cv_allocation *allocs[12];
    for (unsigned i = 0; i < 12; i++) {
        allocs[i] = mk_alloc(i, i % 3 ? "web" : "batchy", 1 + i % 5, NULL);
    }
    assert_int_equal(state_txn_upsert_allocs(txn, allocs, 12, NULL), 0);
    state_txn_commit(txn);
    put_job(st, index++, mk_job("web", "service")); /* allocs keep version 7 */
    struct cv_job *own = mk_job("web", "service");
    cv_set_string(&own->status_description, "a private copy \"quoted\"\n");
    put_alloc(st, index++, mk_alloc(50, "web", 2, own));
    cv_job_free(own);
    for (unsigned i = 0; i < 6; i++) {
        put_eval(st, index++,
                 mk_eval(i, i % 2 ? "web" : "sys",
                         i % 3 == 0 ? CV_EVAL_STATUS_BLOCKED : CV_EVAL_STATUS_PENDING));
    }
    struct cv_allocation *u = cv_alloc_new();
    cv_set_string(&u->id, alloc_id(3));
    cv_set_string(&u->client_status, CV_ALLOC_CLIENT_FAILED);
    txn = state_txn_begin(st, index++);
    assert_int_equal(state_txn_update_allocs_from_client(txn, &u, 1, NULL), 0);
    state_txn_commit(txn);
    return st;
}

static void assert_same_state(const struct state_snap *a, const struct state_snap *b)
{
    assert_u64_equal(state_snap_index(a), state_snap_index(b));
    for (int t = 0; t < STATE_TABLE_COUNT; t++) {
        assert_u64_equal(state_table_index(a, t), state_table_index(b, t));
        assert_int_equal(state_table_count(a, t), state_table_count(b, t));
    }
    struct state_iter ia, ib;
    const void *x, *y;
    state_iter_jobs(a, NULL, &ia);
    state_iter_jobs(b, NULL, &ib);
    while ((x = state_iter_next(&ia))) {
        y = state_iter_next(&ib);
        assert_non_null(y);
        assert_true(cv_job_equal(x, y));
        const struct cv_job *ja = x, *jb = y;
        struct state_iter va, vb;
        state_iter_job_versions(a, ja->id, &va);
        state_iter_job_versions(b, jb->id, &vb);
        const void *p, *q;
        while ((p = state_iter_next(&va))) {
            q = state_iter_next(&vb);
            assert_non_null(q);
            assert_true(cv_job_equal(p, q));
            /* sharing between the tables is reproduced */
            const struct cv_job *pa = p, *qb = q;
            assert_int_equal(p == x, q == y);
            assert_int_equal(pa->version, qb->version);
        }
        assert_null(state_iter_next(&vb));
    }
    assert_null(state_iter_next(&ib));
    state_iter_nodes(a, NULL, &ia);
    state_iter_nodes(b, NULL, &ib);
    while ((x = state_iter_next(&ia))) {
        y = state_iter_next(&ib);
        assert_non_null(y);
        assert_true(cv_node_equal(x, y));
    }
    assert_null(state_iter_next(&ib));
    state_iter_allocs(a, NULL, &ia);
    state_iter_allocs(b, NULL, &ib);
    while ((x = state_iter_next(&ia))) {
        y = state_iter_next(&ib);
        assert_non_null(y);
        const struct cv_allocation *aa = x, *ab = y;
        assert_true(cv_alloc_equal(aa, ab)); /* the job included */
        assert_int_equal(aa->job == state_job(a, aa->job_id), ab->job == state_job(b, ab->job_id));
        assert_int_equal(aa->job == state_job_version(a, aa->job_id, aa->job->version),
                         ab->job == state_job_version(b, ab->job_id, ab->job->version));
    }
    assert_null(state_iter_next(&ib));
    state_iter_evals(a, NULL, &ia);
    state_iter_evals(b, NULL, &ib);
    while ((x = state_iter_next(&ia))) {
        y = state_iter_next(&ib);
        assert_non_null(y);
        assert_true(cv_eval_equal(x, y));
    }
    assert_null(state_iter_next(&ib));
    /* secondary indexes were rebuilt */
    const char *keys[] = {"web", "batchy", "sys"};
    for (int k = 0; k < 3; k++) {
        state_iter_allocs_by_job(a, keys[k], &ia);
        state_iter_allocs_by_job(b, keys[k], &ib);
        assert_int_equal(iter_count(&ia), iter_count(&ib));
        state_iter_evals_by_job(a, keys[k], &ia);
        state_iter_evals_by_job(b, keys[k], &ib);
        assert_int_equal(iter_count(&ia), iter_count(&ib));
    }
    state_iter_evals_by_status(a, CV_EVAL_STATUS_BLOCKED, &ia);
    state_iter_evals_by_status(b, CV_EVAL_STATUS_BLOCKED, &ib);
    assert_int_equal(iter_count(&ia), iter_count(&ib));
    state_iter_allocs_by_node(a, node_id(2), &ia);
    state_iter_allocs_by_node(b, node_id(2), &ib);
    assert_int_equal(iter_count(&ia), iter_count(&ib));
}

static void test_snapshot_round_trip(void **state)
{
    (void)state;
    struct state_store *st = build_rich_store();
    struct state_snap *s = state_snapshot(st);
    struct cv_buf out;
    cv_buf_init(&out);
    assert_int_equal(state_snapshot_write(s, buf_write, &out, NULL), 0);

    /* Restored into a fresh store, read 7 bytes at a time. */
    struct state_store *copy = state_store_new(NULL);
    struct cv_err err;
    cv_err_clear(&err);
    int rc = restore_from(copy, out.data, out.len, 7, &err);
    if (rc) {
        print_error("%s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    struct state_snap *r = state_snapshot(copy);
    assert_same_state(s, r);

    /* Deterministic: the restored state writes the same bytes. */
    struct cv_buf again;
    cv_buf_init(&again);
    assert_int_equal(state_snapshot_write(r, buf_write, &again, NULL), 0);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);

    /* The restored store goes on from the snapshot's index. */
    struct state_txn *txn = state_txn_begin(copy, state_snap_index(r) + 1);
    assert_int_equal(state_txn_upsert_job(txn, mk_job("web", "service"), NULL), 0);
    state_txn_commit(txn);
    struct state_snap *r2 = state_snapshot(copy);
    assert_u64_equal(state_job(r2, "web")->version, 9);
    assert_int_equal(state_table_count(r2, STATE_JOB_VERSIONS),
                     state_table_count(r, STATE_JOB_VERSIONS));
    state_snapshot_release(r2);

    state_snapshot_release(r);
    state_snapshot_release(s);
    cv_buf_free(&out);
    cv_buf_free(&again);
    state_store_free(copy);
    state_store_free(st);
}

static void test_empty_snapshot_round_trip(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    struct state_snap *s = state_snapshot(st);
    struct cv_buf out;
    cv_buf_init(&out);
    assert_int_equal(state_snapshot_write(s, buf_write, &out, NULL), 0);
    struct state_store *copy = state_store_new(NULL);
    assert_int_equal(restore_from(copy, out.data, out.len, 1 << 20, NULL), 0);
    struct state_snap *r = state_snapshot(copy);
    assert_u64_equal(state_snap_index(r), 0);
    assert_int_equal(state_table_count(r, STATE_JOBS), 0);
    state_snapshot_release(r);
    state_snapshot_release(s);
    cv_buf_free(&out);
    state_store_free(copy);
    state_store_free(st);
}

static uint64_t fnv(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* Appends a record line with a correct checksum. */
static void add_line(struct cv_buf *b, const char *json)
{
    cv_buf_appendf(b, "%016" PRIx64 " %s\n", fnv(json, strlen(json)), json);
}

static void expect_rejected(struct state_store *st, const char *data, size_t len, const char *want)
{
    struct cv_err err;
    cv_err_clear(&err);
    int rc = restore_from(st, data, len, 4096, &err);
    if (rc == 0 || !strstr(err.msg, want)) {
        print_error("rc %d, message \"%s\", wanted \"%s\"\n", rc, err.msg, want);
        fail();
    }
}

static void test_restore_rejects_damage(void **state)
{
    (void)state;
    struct state_store *src = build_rich_store();
    struct state_snap *s = state_snapshot(src);
    struct cv_buf out;
    cv_buf_init(&out);
    assert_int_equal(state_snapshot_write(s, buf_write, &out, NULL), 0);
    state_snapshot_release(s);
    state_store_free(src);

    /* The target holds a state of its own, which failures must not touch. */
    struct state_store *st = state_store_new(NULL);
    put_node(st, 3, mk_node(9));
    struct state_snap *before = state_snapshot(st);
    struct state_watch w;
    struct fired f = {0};
    assert_true(state_watch_add(st, &w, STATE_ALL_TABLES, 3, on_fire, &f));

    /* Cut at every line boundary and inside every line. */
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] != '\n') {
            continue;
        }
        lines++;
        if (i + 1 < out.len) {
            expect_rejected(st, out.data, i + 1, "truncated: no end record");
        }
        expect_rejected(st, out.data, i, lines == 1 ? "truncated" : "is incomplete");
    }
    assert_true(lines > 30);
    expect_rejected(st, out.data, 0, "state snapshot is empty");

    /* One flipped byte in a record names that record. */
    char *bad = cv_malloc(out.len);
    memcpy(bad, out.data, out.len);
    char *third = strchr(strchr(strchr(bad, '\n') + 1, '\n') + 1, '\n') + 1;
    third[40] ^= 0x01;
    expect_rejected(st, bad, out.len, "record 3 is damaged (checksum mismatch)");
    memcpy(bad, out.data, out.len);
    bad[3] = 'x';
    expect_rejected(st, bad, out.len, "record 0 is not a record line");
    cv_free(bad);

    /* Data after the end record. */
    struct cv_buf more;
    cv_buf_init(&more);
    cv_buf_append(&more, out.data, out.len);
    add_line(&more, "{\"Type\": \"Eval\"}");
    expect_rejected(st, more.data, more.len, "data after its end record");

    /* Hand-made streams: well-formed lines with wrong contents. */
    const char *header =
        "{\"Format\": \"caravan-state\", \"Version\": 1, \"Index\": 9,"
        " \"TableIndexes\": {\"Jobs\": 1, \"JobVersions\": 1, \"Nodes\": 0,"
        " \"Allocs\": 0, \"Evals\": 0}}";
    struct
    {
        const char *records[3];
        const char *want;
    } cases[] = {
        {{"{\"Type\": \"Job\", \"Ref\": 1}"}, "record 1 (Job): Ref names no job written before"},
        {{"{\"Type\": \"JobObj\", \"Ref\": 2, \"Job\": {}}"},
         "record 1 (JobObj): Ref is not the next job reference"},
        {{"{\"Type\": \"JobObj\", \"Ref\": 1, \"Job\": {\"Priority\": \"high\"}}"},
         "record 1 (JobObj): Job.Priority:"},
        {{"{\"Type\": \"Alloc\", \"JobRef\": 3, \"Alloc\": {}}"},
         "record 1 (Alloc): JobRef names no job written before"},
        {{"{\"Type\": \"Node\"}"}, "record 1 (Node): Node is missing"},
        {{"{\"Type\": \"Deployment\"}"}, "record 1 (Deployment): unknown record type"},
        {{"{\"Type\": \"End\", \"Records\": 5}"},
         "record 1 (End): the record count does not match"},
        {{"[1, 2]"}, "record 1 is not an object"},
        {{"{\"Type\": \"JobObj\", \"Ref\": 1, \"Job\": {\"ID\": \"j\"}}",
          "{\"Type\": \"Job\", \"Ref\": 1}", "{\"Type\": \"Job\", \"Ref\": 1}"},
         "record 3 (Job): the job is already in the table"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct cv_buf b;
        cv_buf_init(&b);
        add_line(&b, header);
        int n = 0;
        for (; n < 3 && cases[c].records[n]; n++) {
            add_line(&b, cases[c].records[n]);
        }
        char end[64];
        snprintf(end, sizeof end, "{\"Type\": \"End\", \"Records\": %d}", n);
        add_line(&b, end);
        expect_rejected(st, b.data, b.len, cases[c].want);
        cv_buf_free(&b);
    }
    struct cv_buf b;
    cv_buf_init(&b);
    add_line(&b, "{\"Format\": \"caravan-state\", \"Version\": 2}");
    expect_rejected(st, b.data, b.len, "format version 2 is not supported");
    cv_buf_reset(&b);
    add_line(&b, "{\"Format\": \"nomad\", \"Version\": 1}");
    expect_rejected(st, b.data, b.len, "not a Caravan state snapshot");
    cv_buf_free(&b);

    /* The reader's error is passed on. */
    struct mem_reader r = {out.data, out.len, 0, 100, 1000};
    struct cv_err err;
    assert_int_equal(state_restore(st, mem_read, &r, &err), CV_EIO);
    assert_non_null(strstr(err.msg, "read state snapshot record"));

    /* Nothing changed, nothing fired. */
    struct state_snap *now = state_snapshot(st);
    assert_ptr_equal(now, before);
    assert_int_equal(f.count, 0);
    state_snapshot_release(now);

    /* A good stream replaces the state and fires every watch. */
    assert_int_equal(restore_from(st, out.data, out.len, 4096, NULL), 0);
    assert_int_equal(f.count, 1);
    now = state_snapshot(st);
    assert_null(state_node(now, node_id(9)));
    assert_non_null(state_job(now, "web"));
    assert_non_null(state_node(before, node_id(9)));
    state_snapshot_release(now);
    state_snapshot_release(before);
    cv_buf_free(&more);
    cv_buf_free(&out);
    state_store_free(st);
}

static int failing_write(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    int *calls = arg;
    return ++*calls == 2 ? CV_EIO : 0;
}

static void test_snapshot_write_error(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 1, mk_job("web", "service"));
    /* Enough rows to need more than one write. */
    struct state_txn *txn = state_txn_begin(st, 2);
    for (unsigned i = 0; i < 300; i++) {
        struct cv_node *n = mk_node(i);
        assert_int_equal(state_txn_upsert_node(txn, n, NULL), 0);
    }
    state_txn_commit(txn);
    struct state_snap *s = state_snapshot(st);
    int calls = 0;
    struct cv_err err;
    assert_int_equal(state_snapshot_write(s, failing_write, &calls, &err), CV_EIO);
    assert_int_equal(calls, 2); /* stops at the first error */
    assert_non_null(strstr(err.msg, "write state snapshot after record"));
    state_snapshot_release(s);
    state_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_snapshot_round_trip),
        CV_TEST(test_empty_snapshot_round_trip),
        CV_TEST(test_restore_rejects_damage),
        CV_TEST(test_snapshot_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
