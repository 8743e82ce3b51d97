/*
 * test_state_concurrency: the region server's state store through its public face (the
 * programs test_state, test_state_concurrency and test_state_snapshots
 * share state_fixture.[ch]).
 *
 * This program: snapshot isolation (before/after a commit, during a
 * transaction, objects kept alive), abort leaving no trace, watches firing
 * at the right index for the right tables only, a model-checked random
 * workload with old snapshots re-verified, and a reader thread checking a
 * cross-table invariant while the writer commits 10,000 transactions.
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

/* ---- isolation ---------------------------------------------------------------------- */

static void test_snapshot_isolation(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    struct state_snap *before = state_snapshot(st);
    const struct cv_job *old_web = state_job(before, "web");

    struct state_txn *txn = state_txn_begin(st, 11);
    struct cv_job *v1 = mk_job("web", "service");
    assert_int_equal(state_txn_upsert_job(txn, v1, NULL), 0);
    assert_int_equal(state_txn_upsert_job(txn, mk_job("api", "service"), NULL), 0);
    /* The transaction sees its writes; nobody else does. */
    assert_u64_equal(state_job(state_txn_view(txn), "web")->version, 1);
    struct state_snap *during = state_snapshot(st);
    assert_null(state_job(during, "api"));
    assert_ptr_equal(state_job(during, "web"), old_web);
    state_txn_commit(txn);

    struct state_snap *after = state_snapshot(st);
    assert_u64_equal(state_snap_index(before), 10);
    assert_u64_equal(state_snap_index(during), 10);
    assert_u64_equal(state_snap_index(after), 11);
    assert_null(state_job(before, "api"));
    assert_non_null(state_job(after, "api"));
    assert_u64_equal(state_job(before, "web")->version, 0);
    assert_u64_equal(state_job(after, "web")->version, 1);
    assert_int_equal(state_table_count(before, STATE_JOBS), 1);
    assert_int_equal(state_table_count(after, STATE_JOBS), 2);

    /* Purged: old snapshots still hold the job, alive. */
    txn = state_txn_begin(st, 12);
    assert_int_equal(state_txn_delete_job(txn, "web", NULL), 0);
    state_txn_commit(txn);
    struct state_snap *purged = state_snapshot(st);
    assert_null(state_job(purged, "web"));
    assert_string_equal(old_web->id, "web");
    assert_u64_equal(state_job(after, "web")->version, 1);
    struct state_snap *again = state_snapshot_retain(before);
    state_snapshot_release(before);
    assert_string_equal(state_job(again, "web")->status, CV_JOB_STATUS_PENDING);
    state_snapshot_release(again);
    state_snapshot_release(during);
    state_snapshot_release(after);
    state_snapshot_release(purged);
    state_snapshot_release(NULL);
    state_store_free(st);
}

static void test_snapshot_outlives_store(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_node(st, 3, mk_node(1));
    struct state_snap *s = state_snapshot(st);
    state_store_free(st);
    assert_string_equal(state_node(s, node_id(1))->name, "client-1");
    state_snapshot_release(s);
}

static void test_abort_leaves_no_trace(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    put_node(st, 11, mk_node(1));
    struct state_snap *before = state_snapshot(st);

    struct state_txn *txn = state_txn_begin(st, 12);
    assert_int_equal(state_txn_upsert_job(txn, mk_job("web", "service"), NULL), 0);
    assert_int_equal(state_txn_upsert_job(txn, mk_job("api", "service"), NULL), 0);
    struct cv_allocation *a = mk_alloc(1, "web", 1, NULL);
    assert_int_equal(state_txn_upsert_allocs(txn, &a, 1, NULL), 0);
    struct cv_evaluation *e = mk_eval(1, "web", CV_EVAL_STATUS_PENDING);
    assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
    const char *nodes[] = {node_id(1)};
    assert_int_equal(state_txn_delete_nodes(txn, nodes, 1, NULL), 0);
    state_txn_abort(txn);

    struct state_snap *s = state_snapshot(st);
    assert_ptr_equal(s, before); /* the very same state */
    assert_u64_equal(state_snap_index(s), 11);
    assert_int_equal(state_table_count(s, STATE_JOBS), 1);
    assert_int_equal(state_table_count(s, STATE_JOB_VERSIONS), 1);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 0);
    assert_int_equal(state_table_count(s, STATE_EVALS), 0);
    assert_non_null(state_node(s, node_id(1)));
    assert_u64_equal(state_job(s, "web")->version, 0);
    state_snapshot_release(s);
    state_snapshot_release(before);

    /* The index the aborted transaction had can be used again. */
    txn = state_txn_begin(st, 12);
    assert_u64_equal(state_txn_commit(txn), 12);
    s = state_snapshot(st);
    assert_u64_equal(state_snap_index(s), 12);
    assert_u64_equal(state_tables_index(s, STATE_ALL_TABLES), 11);
    state_snapshot_release(s);
    state_store_free(st);
}

/* ---- watches ------------------------------------------------------------------------- */

static void test_watches(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 5, mk_job("web", "service"));

    struct state_watch allocs_w, jobs_w, removed_w, both_w;
    struct fired allocs_f = {0}, jobs_f = {0}, removed_f = {0}, both_f = {0};
    /* Already past: not registered, answer at once. */
    assert_false(state_watch_add(st, &jobs_w, STATE_MASK(STATE_JOBS), 4, on_fire, &jobs_f));
    assert_true(state_watch_add(st, &jobs_w, STATE_MASK(STATE_JOBS), 5, on_fire, &jobs_f));
    assert_true(state_watch_add(st, &allocs_w, STATE_MASK(STATE_ALLOCS), 0, on_fire, &allocs_f));
    assert_true(state_watch_add(st, &removed_w, STATE_MASK(STATE_NODES), 0, on_fire, &removed_f));
    assert_true(state_watch_add(st, &both_w, STATE_MASK(STATE_NODES) | STATE_MASK(STATE_EVALS), 0,
                                on_fire, &both_f));

    put_node(st, 6, mk_node(1)); /* nodes only */
    assert_int_equal(jobs_f.count, 0);
    assert_int_equal(allocs_f.count, 0);
    assert_int_equal(removed_f.count, 1);
    assert_u64_equal(removed_f.index, 6);
    assert_int_equal(both_f.count, 1);
    assert_false(state_watch_remove(st, &removed_w)); /* already fired */

    struct state_txn *txn = state_txn_begin(st, 7); /* an empty transaction */
    state_txn_commit(txn);
    assert_int_equal(jobs_f.count + allocs_f.count, 0);

    put_alloc(st, 8, mk_alloc(1, "web", 1, NULL)); /* allocs, and web's status */
    assert_int_equal(allocs_f.count, 1);
    assert_u64_equal(allocs_f.index, 8);
    assert_int_equal(jobs_f.count, 1);
    assert_u64_equal(jobs_f.index, 8);

    /* Removed before a matching commit: never fires. */
    assert_true(state_watch_add(st, &removed_w, STATE_MASK(STATE_EVALS), 8, on_fire, &removed_f));
    assert_true(state_watch_remove(st, &removed_w));
    put_eval(st, 9, mk_eval(1, "web", CV_EVAL_STATUS_PENDING));
    assert_int_equal(removed_f.count, 1);
    assert_int_equal(both_f.count, 1);
    state_store_free(st);
}

/* ---- a random workload checked against a model ---------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define MODEL_KEYS 400

/* model[i]: 0 when node i is absent, else the index of its last write. */
struct model_snap
{
    struct state_snap *snap;
    uint64_t model[MODEL_KEYS];
};

static void check_model(const struct state_snap *s, const uint64_t *model, uint64_t seed)
{
    struct state_iter it;
    const struct cv_node *n;
    unsigned next = 0;
    size_t live = 0;
    state_iter_nodes(s, NULL, &it);
    while ((n = state_iter_next(&it))) {
        while (next < MODEL_KEYS && !model[next]) {
            next++;
        }
        if (next == MODEL_KEYS || strcmp(n->id, node_id(next)) != 0 ||
            n->modify_index != model[next]) {
            print_error("seed %" PRIu64 ": node %s (index %" PRIu64 ") does not match the model\n",
                        seed, n->id, n->modify_index);
            fail();
        }
        next++;
        live++;
    }
    while (next < MODEL_KEYS && !model[next]) {
        next++;
    }
    assert_int_equal(next, MODEL_KEYS);
    assert_int_equal(state_table_count(s, STATE_NODES), live);
}

static void test_random_workload_against_model(void **state)
{
    (void)state;
    uint64_t seed = 20240531, rng = seed;
    struct state_store *st = state_store_new(NULL);
    struct cv_node *tmpl = mk_node(0);
    uint64_t model[MODEL_KEYS] = {0};
    struct model_snap kept[10]; /* one every 300 of 3000 commits */
    size_t nkept = 0;
    for (uint64_t index = 1; index <= 3000; index++) {
        struct state_txn *txn = state_txn_begin(st, index);
        unsigned ops = 1 + (unsigned)(rng_next(&rng) % 8);
        for (unsigned k = 0; k < ops; k++) {
            unsigned key = (unsigned)(rng_next(&rng) % MODEL_KEYS);
            if (rng_next(&rng) % 3 == 0) {
                if (model[key]) {
                    const char *ids[] = {node_id(key)};
                    assert_int_equal(state_txn_delete_nodes(txn, ids, 1, NULL), 0);
                    model[key] = 0;
                }
            } else {
                struct cv_node *n = cv_node_copy(tmpl);
                cv_set_string(&n->id, node_id(key));
                assert_int_equal(state_txn_upsert_node(txn, n, NULL), 0);
                model[key] = index;
            }
        }
        state_txn_commit(txn);
        if (index % 300 == 0) {
            assert_true(nkept < sizeof kept / sizeof kept[0]);
            kept[nkept].snap = state_snapshot(st);
            memcpy(kept[nkept].model, model, sizeof model);
            nkept++;
        }
        if (index % 97 == 0) {
            struct state_snap *s = state_snapshot(st);
            check_model(s, model, seed);
            state_snapshot_release(s);
        }
    }
    /* Old states are intact after thousands of later writes. */
    for (size_t i = 0; i < nkept; i++) {
        check_model(kept[i].snap, kept[i].model, seed);
        state_snapshot_release(kept[i].snap);
    }
    cv_node_free(tmpl);
    state_store_free(st);
}

/* ---- a reader thread while the writer commits ------------------------------------------ */

#define WRITES 10000
#define WINDOW 40

struct reader_arg
{
    struct state_store *st;
    int done; /* set by the writer (atomically) */
    unsigned snapshots;
    unsigned failures;
};

/* The writer keeps, in every transaction, one evaluation per allocation
 * (alloc n <-> eval n) and at most WINDOW of each; every object in a state
 * was written at or before the state's index. */
static void check_consistent(const struct state_snap *s, struct reader_arg *ra)
{
    uint64_t index = state_snap_index(s);
    size_t n_allocs = state_table_count(s, STATE_ALLOCS);
    size_t n_evals = state_table_count(s, STATE_EVALS);
    size_t seen = 0;
    struct state_iter it;
    const struct cv_allocation *a;
    state_iter_allocs_by_job(s, "web", &it);
    while ((a = state_iter_next(&it))) {
        seen++;
        unsigned n = (unsigned)strtoul(a->id + 24, NULL, 16);
        char id[37]; /* not eval_id(): its buffers are the writer's */
        uuid(id, 3, n);
        const struct cv_evaluation *e = state_eval(s, id);
        if (!e || e->modify_index != a->modify_index || a->create_index > index ||
            strcmp(a->job->id, "web") != 0 || a->job->version != 0) {
            ra->failures++;
        }
    }
    if (seen != n_allocs || n_allocs != n_evals || n_allocs > WINDOW ||
        (index > 1 && state_table_index(s, STATE_ALLOCS) != index) ||
        (index > 1 && state_table_index(s, STATE_EVALS) != index)) {
        ra->failures++;
    }
}

static void *reader_main(void *arg)
{
    struct reader_arg *ra = arg;
    while (!__atomic_load_n(&ra->done, __ATOMIC_ACQUIRE)) {
        struct state_snap *s = state_snapshot(ra->st);
        check_consistent(s, ra);
        check_consistent(s, ra); /* the same answer while the writer goes on */
        state_snapshot_release(s);
        ra->snapshots++;
    }
    return NULL;
}

static void test_reader_thread_sees_consistent_states(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 1, mk_job("web", "service"));
    struct cv_allocation *atmpl = mk_alloc(0, "web", 1, NULL);
    struct cv_evaluation *etmpl = mk_eval(0, "web", CV_EVAL_STATUS_PENDING);
    struct reader_arg ra = {.st = st};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, reader_main, &ra), 0);

    for (unsigned i = 1; i <= WRITES; i++) {
        struct state_txn *txn = state_txn_begin(st, 1 + i);
        struct cv_allocation *a = cv_alloc_copy(atmpl);
        cv_set_string(&a->id, alloc_id(i));
        struct cv_evaluation *e = cv_eval_copy(etmpl);
        cv_set_string(&e->id, eval_id(i));
        assert_int_equal(state_txn_upsert_allocs(txn, &a, 1, NULL), 0);
        assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
        if (i > WINDOW) {
            const char *evals[] = {eval_id(i - WINDOW)}, *allocs[] = {alloc_id(i - WINDOW)};
            assert_int_equal(state_txn_delete_evals(txn, evals, 1, allocs, 1, NULL), 0);
        }
        state_txn_commit(txn);
    }
    __atomic_store_n(&ra.done, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(thread, NULL), 0);
    print_message("reader checked %u snapshots during %d commits\n", ra.snapshots, WRITES);
    assert_int_equal(ra.failures, 0);
    assert_true(ra.snapshots > 0);

    struct state_snap *s = state_snapshot(st);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), WINDOW);
    assert_u64_equal(state_snap_index(s), WRITES + 1);
    state_snapshot_release(s);
    cv_alloc_free(atmpl);
    cv_eval_free(etmpl);
    state_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_snapshot_isolation),
        CV_TEST(test_snapshot_outlives_store),
        CV_TEST(test_abort_leaves_no_trace),
        CV_TEST(test_watches),
        CV_TEST(test_random_workload_against_model),
        CV_TEST(test_reader_thread_sees_consistent_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
