/*
 * test_state: the region server's state store through its public face (the
 * programs test_state, test_state_concurrency and test_state_snapshots
 * share state_fixture.[ch]).
 *
 * This program: every table and index (put, get, iterate, prefix and range
 * scans), job versions kept and trimmed, Nomad's index and status rules,
 * node drain, and failed writes leaving no trace.
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

/* ---- tables ------------------------------------------------------------------------- */

static void test_empty_store(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    struct state_snap *s = state_snapshot(st);
    assert_u64_equal(state_snap_index(s), 0);
    for (int t = 0; t < STATE_TABLE_COUNT; t++) {
        assert_u64_equal(state_table_index(s, t), 0);
        assert_int_equal(state_table_count(s, t), 0);
    }
    assert_null(state_job(s, "web"));
    assert_null(state_node(s, node_id(1)));
    assert_null(state_alloc(s, alloc_id(1)));
    assert_null(state_eval(s, eval_id(1)));
    struct state_iter it;
    state_iter_jobs(s, NULL, &it);
    assert_null(state_iter_next(&it));
    state_iter_allocs_by_job(s, "web", &it);
    assert_null(state_iter_next(&it));
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_jobs_get_and_iterate(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    const char *ids[] = {"worker", "web-2", "api", "web", "web+1"};
    uint64_t index = 10;
    for (size_t i = 0; i < 5; i++) {
        put_job(st, index++, mk_job(ids[i], "service"));
    }
    struct state_snap *s = state_snapshot(st);
    assert_u64_equal(state_snap_index(s), 14);
    assert_u64_equal(state_table_index(s, STATE_JOBS), 14);
    assert_u64_equal(state_table_index(s, STATE_JOB_VERSIONS), 14);
    assert_u64_equal(state_table_index(s, STATE_NODES), 0);
    assert_u64_equal(state_tables_index(s, STATE_MASK(STATE_NODES) | STATE_MASK(STATE_JOBS)), 14);
    assert_int_equal(state_table_count(s, STATE_JOBS), 5);
    assert_int_equal(state_table_count(s, STATE_JOB_VERSIONS), 5);

    const struct cv_job *web = state_job(s, "web");
    assert_non_null(web);
    assert_u64_equal(web->create_index, 13);
    assert_u64_equal(web->modify_index, 13);
    assert_u64_equal(web->job_modify_index, 13);
    assert_u64_equal(web->version, 0);
    assert_string_equal(web->status, CV_JOB_STATUS_PENDING);
    assert_ptr_equal(state_job_version(s, "web", 0), web);
    assert_null(state_job(s, "we"));

    const char *sorted[] = {"api", "web", "web+1", "web-2", "worker"};
    struct state_iter it;
    const struct cv_job *j;
    size_t n = 0;
    state_iter_jobs(s, "", &it);
    while ((j = state_iter_next(&it))) {
        assert_true(n < 5);
        assert_string_equal(j->id, sorted[n++]);
    }
    assert_int_equal(n, 5);
    state_iter_jobs(s, "web", &it);
    assert_int_equal(iter_count(&it), 3);
    state_iter_jobs(s, "web-", &it);
    j = state_iter_next(&it);
    assert_string_equal(j->id, "web-2");
    assert_null(state_iter_next(&it));
    state_iter_jobs(s, "x", &it);
    assert_null(state_iter_next(&it));
    state_iter_jobs(s, "a", &it);
    assert_int_equal(iter_count(&it), 1);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_job_versions(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    for (uint64_t i = 0; i < 9; i++) {
        struct cv_job *job = mk_job("web", "service");
        job->priority = 10 + (int64_t)i; /* a spec change */
        put_job(st, 100 + i, job);
    }
    struct state_snap *s = state_snapshot(st);
    const struct cv_job *web = state_job(s, "web");
    assert_u64_equal(web->version, 8);
    assert_u64_equal(web->create_index, 100);
    assert_u64_equal(web->modify_index, 108);
    assert_u64_equal(web->job_modify_index, 108);
    assert_int_equal(state_table_count(s, STATE_JOB_VERSIONS), STATE_JOB_TRACKED_VERSIONS);

    struct state_iter it;
    const struct cv_job *v;
    uint64_t want = 8;
    state_iter_job_versions(s, "web", &it);
    while ((v = state_iter_next(&it))) {
        assert_u64_equal(v->version, want);
        assert_i64_equal(v->priority, 10 + (int64_t)want);
        assert_u64_equal(v->job_modify_index, 100 + want);
        want--;
    }
    assert_u64_equal(want, 8 - STATE_JOB_TRACKED_VERSIONS);
    assert_null(state_job_version(s, "web", 2));
    assert_non_null(state_job_version(s, "web", 3));
    assert_ptr_equal(state_job_version(s, "web", 8), web);
    state_iter_job_versions(s, "we", &it); /* not a prefix match */
    assert_null(state_iter_next(&it));
    state_snapshot_release(s);

    /* A version given above the current one is kept. */
    struct cv_job *job = mk_job("web", "service");
    job->version = 20;
    put_job(st, 200, job);
    s = state_snapshot(st);
    assert_u64_equal(state_job(s, "web")->version, 20);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_job_versions_keep_newest_stable(void **state)
{
    (void)state;
    struct state_config cfg = {.job_tracked_versions = 3};
    struct state_store *st = state_store_new(&cfg);
    for (uint64_t i = 0; i < 7; i++) {
        struct cv_job *job = mk_job("web", "batch");
        job->stable = i == 1 || i == 2;
        put_job(st, 10 + i, job);
    }
    struct state_snap *s = state_snapshot(st);
    struct state_iter it;
    const struct cv_job *v;
    uint64_t want[] = {6, 5, 2}, n = 0;
    state_iter_job_versions(s, "web", &it);
    while ((v = state_iter_next(&it))) {
        assert_true(n < 3);
        assert_u64_equal(v->version, want[n++]);
    }
    assert_u64_equal(n, 3);
    state_snapshot_release(s);

    struct state_txn *txn = state_txn_begin(st, 50);
    assert_int_equal(state_txn_delete_job(txn, "web", NULL), 0);
    /* Purging by the ID string of the job itself, as read from the view:
     * the job dies during the call (it was never published). */
    assert_int_equal(state_txn_upsert_job(txn, mk_job("tmp", "batch"), NULL), 0);
    assert_int_equal(state_txn_upsert_job(txn, mk_job("tmp", "batch"), NULL), 0);
    assert_int_equal(state_txn_delete_job(txn, state_job(state_txn_view(txn), "tmp")->id, NULL), 0);
    struct cv_err err;
    assert_int_equal(state_txn_delete_job(txn, "web", &err), CV_ENOTFOUND);
    assert_string_equal(err.msg, "job \"web\" not found");
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_null(state_job(s, "web"));
    assert_int_equal(state_table_count(s, STATE_JOB_VERSIONS), 0);
    assert_u64_equal(state_table_index(s, STATE_JOB_VERSIONS), 50);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_job_status(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    put_job(st, 11, mk_job("sys", "system"));
    put_node(st, 12, mk_node(1));
    struct state_snap *s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_PENDING);
    assert_string_equal(state_job(s, "sys")->status, CV_JOB_STATUS_RUNNING);
    state_snapshot_release(s);

    /* A pending evaluation: still pending, and the job is not rewritten. */
    put_eval(st, 13, mk_eval(1, "web", CV_EVAL_STATUS_PENDING));
    s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_PENDING);
    assert_u64_equal(state_job(s, "web")->modify_index, 10);
    assert_u64_equal(state_table_index(s, STATE_JOBS), 11);
    state_snapshot_release(s);

    /* A live allocation: running, ModifyIndex and the jobs index move. */
    put_alloc(st, 14, mk_alloc(1, "web", 1, NULL));
    s = state_snapshot(st);
    const struct cv_job *web = state_job(s, "web");
    assert_string_equal(web->status, CV_JOB_STATUS_RUNNING);
    assert_u64_equal(web->modify_index, 14);
    assert_u64_equal(web->job_modify_index, 10);
    assert_u64_equal(state_table_index(s, STATE_JOBS), 14);
    /* The tracked version keeps the status it was registered with. */
    assert_string_equal(state_job_version(s, "web", 0)->status, CV_JOB_STATUS_PENDING);
    state_snapshot_release(s);

    /* Everything terminal: dead. */
    struct cv_allocation *u = cv_alloc_new();
    cv_set_string(&u->id, alloc_id(1));
    cv_set_string(&u->client_status, CV_ALLOC_CLIENT_COMPLETE);
    struct state_txn *txn = state_txn_begin(st, 15);
    assert_int_equal(state_txn_update_allocs_from_client(txn, &u, 1, NULL), 0);
    struct cv_evaluation *e = mk_eval(1, "web", CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_DEAD);
    state_snapshot_release(s);

    /* Garbage collected: dead, not pending. */
    txn = state_txn_begin(st, 16);
    const char *evals[] = {eval_id(1)}, *allocs[] = {alloc_id(1)};
    assert_int_equal(state_txn_delete_evals(txn, evals, 1, allocs, 1, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_DEAD);
    assert_int_equal(state_table_count(s, STATE_EVALS), 0);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 0);
    assert_u64_equal(state_table_index(s, STATE_EVALS), 16);
    assert_u64_equal(state_table_index(s, STATE_ALLOCS), 16);
    state_snapshot_release(s);

    /* Re-registered with nothing left: pending again... */
    put_job(st, 17, mk_job("web", "service"));
    /* ...and a stopped system job is dead. */
    struct cv_job *sys = mk_job("sys", "system");
    sys->stop = true;
    put_job(st, 18, sys);
    s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_PENDING);
    assert_string_equal(state_job(s, "sys")->status, CV_JOB_STATUS_DEAD);
    state_snapshot_release(s);

    /* One batch places an allocation and stops it again: what counts is
     * the last write (a live allocation written earlier in the call does
     * not make the job running). */
    put_eval(st, 19, mk_eval(2, "web", CV_EVAL_STATUS_COMPLETE));
    struct cv_allocation *twice[] = {mk_alloc(2, "web", 1, NULL), mk_alloc(2, "web", 1, NULL)};
    cv_set_string(&twice[1]->desired_status, CV_ALLOC_DESIRED_STOP);
    txn = state_txn_begin(st, 20);
    assert_int_equal(state_txn_upsert_allocs(txn, twice, 2, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_DEAD);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 1);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_nodes(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    /* Node 2 arrives draining (as a restored or hand-built node may). */
    struct cv_drain_strategy *ds = cv_calloc(1, sizeof *ds);
    ds->force_deadline = cv_strdup("");
    ds->started_at = cv_strdup("");
    ds->deadline = 3600;
    struct cv_node *drained = mk_node(2);
    drained->drain_strategy = ds;
    drained->drain = true;
    cv_set_string(&drained->scheduling_eligibility, CV_NODE_INELIGIBLE);
    put_node(st, 11, mk_node(1));
    put_node(st, 12, drained);
    put_node(st, 13, mk_node(3));

    /* Re-registration keeps drain, eligibility and CreateIndex. */
    struct cv_node *again = mk_node(2);
    cv_set_string(&again->name, "renamed");
    put_node(st, 21, again);
    struct state_snap *s = state_snapshot(st);
    const struct cv_node *n = state_node(s, node_id(2));
    assert_string_equal(n->name, "renamed");
    assert_true(n->drain);
    assert_non_null(n->drain_strategy);
    assert_i64_equal(n->drain_strategy->deadline, 3600);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_u64_equal(n->create_index, 12);
    assert_u64_equal(n->modify_index, 21);
    struct state_iter it;
    const struct cv_node *x;
    unsigned want = 1;
    state_iter_nodes(s, NULL, &it);
    while ((x = state_iter_next(&it))) {
        assert_string_equal(x->id, node_id(want++));
    }
    assert_int_equal(want, 4);
    state_iter_nodes(s, "10000000", &it);
    assert_int_equal(iter_count(&it), 3);
    state_iter_nodes(s, "20000000", &it);
    assert_int_equal(iter_count(&it), 0);
    state_snapshot_release(s);

    /* Status and eligibility updates. */
    struct cv_err err;
    struct state_txn *txn = state_txn_begin(st, 22);
    assert_int_equal(state_txn_update_node_status(txn, node_id(1), CV_NODE_STATUS_DOWN, 1717, NULL),
                     0);
    assert_int_equal(state_txn_update_node_status(txn, node_id(9), CV_NODE_STATUS_DOWN, 1, &err),
                     CV_ENOTFOUND);
    assert_int_equal(state_txn_update_node_eligibility(txn, node_id(2), CV_NODE_ELIGIBLE, &err),
                     CV_EINVAL);
    assert_string_equal(
        err.msg, "can not set node's scheduling eligibility to eligible while it is draining");
    assert_int_equal(state_txn_update_node_eligibility(txn, node_id(3), "maybe", &err), CV_EINVAL);
    assert_int_equal(state_txn_update_node_eligibility(txn, node_id(3), CV_NODE_INELIGIBLE, NULL),
                     0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    n = state_node(s, node_id(1));
    assert_string_equal(n->status, CV_NODE_STATUS_DOWN);
    assert_i64_equal(n->status_updated_at, 1717);
    assert_u64_equal(n->modify_index, 22);
    assert_u64_equal(n->create_index, 11);
    assert_string_equal(state_node(s, node_id(3))->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_u64_equal(state_table_index(s, STATE_NODES), 22);
    state_snapshot_release(s);

    /* Delete: all or nothing. */
    txn = state_txn_begin(st, 23);
    const char *bad[] = {node_id(1), node_id(7)};
    assert_int_equal(state_txn_delete_nodes(txn, bad, 2, &err), CV_ENOTFOUND);
    assert_non_null(state_node(state_txn_view(txn), node_id(1)));
    const char *good[] = {node_id(1), node_id(3)};
    assert_int_equal(state_txn_delete_nodes(txn, good, 2, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_int_equal(state_table_count(s, STATE_NODES), 1);
    assert_non_null(state_node(s, node_id(2)));
    state_snapshot_release(s);
    state_store_free(st);
}

/* Nomad's UpdateNodeDrain: the strategy is copied in, the node becomes
 * ineligible; off with MarkEligible makes it eligible, off without leaves
 * its eligibility; the old node object stays in older snapshots. */
static void test_node_drain(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_node(st, 11, mk_node(1));
    put_node(st, 12, mk_node(2));
    struct state_snap *before = state_snapshot(st);
    const struct cv_node *old = state_node(before, node_id(1));

    /* The strategy is borrowed: the caller frees its own right after. */
    struct cv_drain_strategy *ds = cv_calloc(1, sizeof *ds);
    ds->deadline = 3600000000000;
    ds->ignore_system_jobs = true;
    ds->force_deadline = cv_strdup("2026-01-01T01:00:00Z");
    ds->started_at = cv_strdup("2026-01-01T00:00:00.5Z");
    struct state_txn *txn = state_txn_begin(st, 13);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(1), ds, false, 1717, NULL), 0);
    state_txn_commit(txn);
    cv_free(ds->force_deadline);
    cv_free(ds->started_at);
    cv_free(ds);

    struct state_snap *s = state_snapshot(st);
    const struct cv_node *n = state_node(s, node_id(1));
    assert_true(n != old); /* a new object: the old one is immutable */
    assert_true(n->drain);
    assert_non_null(n->drain_strategy);
    assert_i64_equal(n->drain_strategy->deadline, 3600000000000);
    assert_true(n->drain_strategy->ignore_system_jobs);
    assert_string_equal(n->drain_strategy->force_deadline, "2026-01-01T01:00:00Z");
    assert_string_equal(n->drain_strategy->started_at, "2026-01-01T00:00:00.5Z");
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_i64_equal(n->status_updated_at, 1717);
    assert_string_equal(n->status, CV_NODE_STATUS_READY);
    assert_u64_equal(n->create_index, 11);
    assert_u64_equal(n->modify_index, 13);
    assert_u64_equal(state_table_index(s, STATE_NODES), 13);
    /* The snapshot taken before still holds the node as it was. */
    assert_ptr_equal(state_node(before, node_id(1)), old);
    assert_false(old->drain);
    assert_null(old->drain_strategy);
    assert_string_equal(old->scheduling_eligibility, CV_NODE_ELIGIBLE);
    assert_u64_equal(old->modify_index, 11);
    state_snapshot_release(s);
    state_snapshot_release(before);

    /* While draining: "eligible" is refused; an update replaces the
     * strategy; strings left NULL are stored canonical (""). */
    struct cv_err err;
    struct cv_drain_strategy force = {.deadline = -1};
    txn = state_txn_begin(st, 14);
    assert_int_equal(state_txn_update_node_eligibility(txn, node_id(1), CV_NODE_ELIGIBLE, &err),
                     CV_EINVAL);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(1), &force, true, 1718, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    n = state_node(s, node_id(1));
    assert_i64_equal(n->drain_strategy->deadline, -1);
    assert_false(n->drain_strategy->ignore_system_jobs);
    assert_string_equal(n->drain_strategy->force_deadline, "");
    assert_string_equal(n->drain_strategy->started_at, "");
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE); /* MarkEligible ignored */
    state_snapshot_release(s);

    /* Off without MarkEligible: no strategy, still ineligible. */
    txn = state_txn_begin(st, 15);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(1), NULL, false, 1719, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    n = state_node(s, node_id(1));
    assert_false(n->drain);
    assert_null(n->drain_strategy);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_i64_equal(n->status_updated_at, 1719);
    state_snapshot_release(s);

    /* Off with MarkEligible: eligible again (also for a node that was not
     * draining, as Nomad's). Re-registering keeps what the drain set. */
    txn = state_txn_begin(st, 16);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(1), NULL, true, 1720, NULL), 0);
    assert_int_equal(state_txn_update_node_eligibility(txn, node_id(2), CV_NODE_INELIGIBLE, NULL),
                     0);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(2), NULL, true, 1720, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_string_equal(state_node(s, node_id(1))->scheduling_eligibility, CV_NODE_ELIGIBLE);
    assert_string_equal(state_node(s, node_id(2))->scheduling_eligibility, CV_NODE_ELIGIBLE);
    state_snapshot_release(s);

    /* An unknown node: CV_ENOTFOUND, and nothing written. */
    txn = state_txn_begin(st, 17);
    assert_int_equal(state_txn_update_node_drain(txn, node_id(9), &force, false, 1, &err),
                     CV_ENOTFOUND);
    assert_string_equal(err.msg, "node \"10000000-0000-4000-8000-000000000009\" not found");
    const struct state_snap *view = state_txn_view(txn);
    assert_null(state_node(view, node_id(9)));
    assert_int_equal(state_table_count(view, STATE_NODES), 2);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_u64_equal(state_table_index(s, STATE_NODES), 16);
    assert_u64_equal(state_snap_index(s), 17);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_allocs_and_indexes(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    put_job(st, 11, mk_job("web-2", "service"));
    struct state_txn *txn = state_txn_begin(st, 12);
    struct cv_allocation *batch[6];
    for (unsigned i = 0; i < 6; i++) {
        batch[i] = mk_alloc(i, i % 2 ? "web-2" : "web", 1 + i % 3, NULL);
    }
    assert_int_equal(state_txn_upsert_allocs(txn, batch, 6, NULL), 0);
    state_txn_commit(txn);

    struct state_snap *s = state_snapshot(st);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 6);
    assert_u64_equal(state_table_index(s, STATE_ALLOCS), 12);
    const struct cv_allocation *a = state_alloc(s, alloc_id(0));
    assert_non_null(a);
    assert_u64_equal(a->create_index, 12);
    assert_u64_equal(a->alloc_modify_index, 12);
    /* Denormalized: the allocation shares the stored job (the version it
     * was placed with; the jobs table has since a copy with the new
     * status, as Nomad's setJobStatus makes). */
    assert_ptr_equal(a->job, state_job_version(s, "web", 0));
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_RUNNING);

    struct state_iter it;
    const struct cv_allocation *x;
    unsigned n = 0;
    state_iter_allocs_by_job(s, "web", &it); /* not web-2's */
    while ((x = state_iter_next(&it))) {
        assert_string_equal(x->job_id, "web");
        n++;
    }
    assert_int_equal(n, 3);
    state_iter_allocs_by_job(s, "web-2", &it);
    assert_int_equal(iter_count(&it), 3);
    state_iter_allocs_by_job(s, "we", &it);
    assert_int_equal(iter_count(&it), 0);
    for (unsigned node = 1; node <= 3; node++) {
        n = 0;
        state_iter_allocs_by_node(s, node_id(node), &it);
        while ((x = state_iter_next(&it))) {
            assert_string_equal(x->node_id, node_id(node));
            n++;
        }
        assert_int_equal(n, 2);
    }
    state_iter_allocs(s, "20000000-0000-4000-8000-00000000000", &it);
    assert_int_equal(iter_count(&it), 6);
    state_snapshot_release(s);

    /* A client update: client fields move in, the rest is kept. */
    struct cv_allocation *u = cv_alloc_new();
    cv_set_string(&u->id, alloc_id(0));
    cv_set_string(&u->client_status, CV_ALLOC_CLIENT_RUNNING);
    cv_set_string(&u->client_description, "Tasks are running");
    u->task_states.items = cv_calloc(1, sizeof *u->task_states.items);
    u->task_states.len = 1;
    u->task_states.items[0].key = cv_strdup("t");
    u->task_states.items[0].state = cv_strdup(CV_TASK_STATE_RUNNING);
    u->task_states.items[0].last_restart = cv_strdup("");
    u->task_states.items[0].started_at = cv_strdup("2024-05-31T16:08:37Z");
    u->task_states.items[0].finished_at = cv_strdup("");
    u->modify_time = 42;
    cv_set_string(&u->desired_status, CV_ALLOC_DESIRED_STOP); /* not the client's to set */
    struct cv_allocation *unknown = cv_alloc_new();
    cv_set_string(&unknown->id, alloc_id(99));
    struct cv_allocation *updates[] = {u, unknown};
    txn = state_txn_begin(st, 13);
    assert_int_equal(state_txn_update_allocs_from_client(txn, updates, 2, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    a = state_alloc(s, alloc_id(0));
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_RUNNING);
    assert_string_equal(a->client_description, "Tasks are running");
    assert_string_equal(a->desired_status, CV_ALLOC_DESIRED_RUN);
    assert_int_equal(a->task_states.len, 1);
    assert_string_equal(a->task_states.items[0].state, CV_TASK_STATE_RUNNING);
    assert_i64_equal(a->modify_time, 42);
    assert_u64_equal(a->modify_index, 13);
    assert_u64_equal(a->alloc_modify_index, 12);
    assert_ptr_equal(a->job, state_job_version(s, "web", 0));
    assert_null(state_alloc(s, alloc_id(99)));
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_RUNNING);
    state_snapshot_release(s);

    /* The scheduler replaces it (stop, moved to node 3): the client's
     * status and task states are kept, the node index follows. */
    put_job(st, 14, mk_job("web", "service")); /* version 1 */
    struct cv_allocation *stop = mk_alloc(0, "web", 3, NULL);
    cv_set_string(&stop->desired_status, CV_ALLOC_DESIRED_STOP);
    put_alloc(st, 15, stop);
    s = state_snapshot(st);
    a = state_alloc(s, alloc_id(0));
    assert_string_equal(a->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_RUNNING);
    assert_int_equal(a->task_states.len, 1);
    assert_u64_equal(a->create_index, 12);
    assert_u64_equal(a->alloc_modify_index, 15);
    assert_ptr_equal(a->job, state_job_version(s, "web", 0)); /* its own version, kept */
    assert_u64_equal(a->job->version, 0);
    state_iter_allocs_by_node(s, node_id(1), &it);
    assert_int_equal(iter_count(&it), 1);
    state_iter_allocs_by_node(s, node_id(3), &it);
    assert_int_equal(iter_count(&it), 3);
    state_snapshot_release(s);

    /* Marked lost by the server: that status wins. */
    struct cv_allocation *lost = mk_alloc(0, "web", 3, NULL);
    cv_set_string(&lost->client_status, CV_ALLOC_CLIENT_LOST);
    put_alloc(st, 16, lost);
    /* A new allocation with its own job keeps it. */
    struct cv_job *other = mk_job("web", "service");
    other->priority = 77;
    put_alloc(st, 17, mk_alloc(10, "web", 2, other));
    cv_job_free(other);
    s = state_snapshot(st);
    assert_string_equal(state_alloc(s, alloc_id(0))->client_status, CV_ALLOC_CLIENT_LOST);
    assert_i64_equal(state_alloc(s, alloc_id(10))->job->priority, 77);
    assert_ptr_not_equal(state_alloc(s, alloc_id(10))->job, state_job(s, "web"));
    /* New allocations without a job take the current version. */
    state_snapshot_release(s);
    put_alloc(st, 18, mk_alloc(11, "web", 2, NULL));
    s = state_snapshot(st);
    assert_ptr_equal(state_alloc(s, alloc_id(11))->job, state_job(s, "web"));
    assert_u64_equal(state_alloc(s, alloc_id(11))->job->version, 1);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_failed_write_changes_nothing(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    struct state_txn *txn = state_txn_begin(st, 11);
    struct cv_allocation *batch[] = {mk_alloc(1, "web", 1, NULL), mk_alloc(2, "nope", 1, NULL)};
    struct cv_err err;
    assert_int_equal(state_txn_upsert_allocs(txn, batch, 2, &err), CV_ENOTFOUND);
    assert_non_null(strstr(err.msg, "job \"nope\" is not in the state"));
    const struct state_snap *view = state_txn_view(txn);
    assert_int_equal(state_table_count(view, STATE_ALLOCS), 0);
    assert_u64_equal(state_table_index(view, STATE_ALLOCS), 0);
    assert_null(state_alloc(view, alloc_id(1)));
    /* The caller still owns them; the first alone goes in. */
    cv_alloc_free(batch[1]);
    assert_int_equal(state_txn_upsert_allocs(txn, batch, 1, NULL), 0);

    struct cv_evaluation *e = mk_eval(1, "web", CV_EVAL_STATUS_PENDING);
    cv_set_string(&e->job_id, "");
    assert_int_equal(state_txn_upsert_evals(txn, &e, 1, &err), CV_EINVAL);
    cv_eval_free(e);
    struct cv_job *nameless = mk_job("x", "service");
    cv_set_string(&nameless->id, "");
    assert_int_equal(state_txn_upsert_job(txn, nameless, &err), CV_EINVAL);
    cv_job_free(nameless);
    state_txn_commit(txn);

    struct state_snap *s = state_snapshot(st);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 1);
    assert_int_equal(state_table_count(s, STATE_EVALS), 0);
    assert_int_equal(state_table_count(s, STATE_JOBS), 1);
    state_snapshot_release(s);
    state_store_free(st);
}

static void test_evals_and_indexes(void **state)
{
    (void)state;
    struct state_store *st = state_store_new(NULL);
    put_job(st, 10, mk_job("web", "service"));
    put_job(st, 11, mk_job("db", "service"));
    struct state_txn *txn = state_txn_begin(st, 12);
    struct cv_evaluation *batch[] = {
        mk_eval(1, "web", CV_EVAL_STATUS_BLOCKED), mk_eval(2, "web", CV_EVAL_STATUS_PENDING),
        mk_eval(3, "db", CV_EVAL_STATUS_BLOCKED), mk_eval(4, "web", CV_EVAL_STATUS_BLOCKED)};
    assert_int_equal(state_txn_upsert_evals(txn, batch, 4, NULL), 0);
    state_txn_commit(txn);

    struct state_snap *s = state_snapshot(st);
    struct state_iter it;
    state_iter_evals_by_job(s, "web", &it);
    assert_int_equal(iter_count(&it), 3);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_BLOCKED, &it);
    assert_int_equal(iter_count(&it), 3);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_PENDING, &it);
    const struct cv_evaluation *e = state_iter_next(&it);
    assert_string_equal(e->id, eval_id(2));
    assert_null(state_iter_next(&it));
    assert_u64_equal(e->create_index, 12);
    state_snapshot_release(s);

    /* Eval 2 completes without failures: web's blocked evals are canceled,
     * db's are not; the status index follows. */
    put_eval(st, 13, mk_eval(2, "web", CV_EVAL_STATUS_COMPLETE));
    s = state_snapshot(st);
    e = state_eval(s, eval_id(1));
    assert_string_equal(e->status, CV_EVAL_STATUS_CANCELED);
    char desc[80];
    snprintf(desc, sizeof desc, "evaluation \"%s\" successful", eval_id(1));
    assert_string_equal(e->status_description, desc);
    assert_u64_equal(e->modify_index, 13);
    assert_u64_equal(e->create_index, 12);
    assert_string_equal(state_eval(s, eval_id(4))->status, CV_EVAL_STATUS_CANCELED);
    assert_string_equal(state_eval(s, eval_id(3))->status, CV_EVAL_STATUS_BLOCKED);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_BLOCKED, &it);
    assert_int_equal(iter_count(&it), 1);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_CANCELED, &it);
    assert_int_equal(iter_count(&it), 2);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_PENDING, &it);
    assert_int_equal(iter_count(&it), 0);
    state_iter_evals(s, NULL, &it);
    assert_int_equal(iter_count(&it), 4);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_DEAD);
    state_snapshot_release(s);

    /* Deleting skips unknown IDs. */
    txn = state_txn_begin(st, 14);
    const char *ids[] = {eval_id(1), eval_id(77), eval_id(3)};
    assert_int_equal(state_txn_delete_evals(txn, ids, 3, NULL, 0, NULL), 0);
    state_txn_commit(txn);
    s = state_snapshot(st);
    assert_int_equal(state_table_count(s, STATE_EVALS), 2);
    state_iter_evals_by_job(s, "db", &it);
    assert_int_equal(iter_count(&it), 0);
    state_iter_evals_by_status(s, CV_EVAL_STATUS_BLOCKED, &it);
    assert_int_equal(iter_count(&it), 0);
    assert_string_equal(state_job(s, "db")->status, CV_JOB_STATUS_DEAD);
    state_snapshot_release(s);
    state_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_empty_store),
        CV_TEST(test_jobs_get_and_iterate),
        CV_TEST(test_job_versions),
        CV_TEST(test_job_versions_keep_newest_stable),
        CV_TEST(test_job_status),
        CV_TEST(test_nodes),
        CV_TEST(test_node_drain),
        CV_TEST(test_allocs_and_indexes),
        CV_TEST(test_failed_write_changes_nothing),
        CV_TEST(test_evals_and_indexes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
