/*
 * test_state: the region server's state store through its public face:
 * every table and index (put, get, iterate, prefix and range scans), job
 * versions kept and trimmed, Nomad's index and status rules, snapshot
 * isolation (before/after a commit, during a transaction, objects kept
 * alive), abort and failed writes leaving no trace, watches firing at the
 * right index for the right tables only, a model-checked random workload
 * with old snapshots re-verified, a reader thread checking a cross-table
 * invariant while the writer commits 10,000 transactions, and FSM snapshot
 * write/restore: exact round trip, truncated and damaged streams rejected
 * with the record named and the store left unchanged.
 *
 * Objects are built from JSON with the model's decoders, so they are
 * canonical as the FSM's will be.
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

/* ---- object builders ------------------------------------------------------------ */

/* A UUID from a kind digit and a number: "k0000000-0000-4000-8000-<n>". */
static void uuid(char out[37], unsigned kind, unsigned n)
{
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", kind << 28, n);
}

static void check_parsed(int rc, struct cv_errlist *errs)
{
    if (rc != 0) {
        cv_test_print_errors(errs);
    }
    cv_errlist_free(errs);
    assert_int_equal(rc, 0);
}

static struct cv_job *mk_job(const char *id, const char *type)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Type\": \"%s\", \"Datacenters\": [\"dc1\"],"
             " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": %d, \"Tasks\": [{\"Name\": \"t\","
             " \"Driver\": \"mock\", \"Config\": {\"run_for\": \"10s\"},"
             " \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}",
             id, type, strcmp(type, CV_JOB_TYPE_SYSTEM) == 0 ? 1 : 2);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    check_parsed(cv_job_parse(text, strlen(text), &job, &errs), &errs);
    return job;
}

static struct cv_node *mk_node(unsigned n)
{
    char id[37], text[512];
    uuid(id, 1, n);
    snprintf(
        text, sizeof text,
        "{\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"client-%u\","
        " \"Status\": \"ready\", \"Attributes\": {\"kernel.name\": \"linux\"},"
        " \"NodeResources\": {\"Cpu\": {\"CpuShares\": 4000}, \"Memory\": {\"MemoryMB\": 8192},"
        " \"Disk\": {\"DiskMB\": 10000}}}",
        id, n);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *node = NULL;
    check_parsed(cv_node_parse(text, strlen(text), &node, &errs), &errs);
    return node;
}

/* An allocation of job_id on node n; with its own copy of job when given. */
static struct cv_allocation *mk_alloc(unsigned n, const char *job_id, unsigned node,
                                      const struct cv_job *job)
{
    char id[37], eval[37], node_id[37], text[512];
    uuid(id, 2, n);
    uuid(eval, 3, n);
    uuid(node_id, 1, node);
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"%s.g[%u]\", \"NodeID\": \"%s\","
             " \"JobID\": \"%s\", \"TaskGroup\": \"g\", \"DesiredStatus\": \"run\","
             " \"ClientStatus\": \"pending\"}",
             id, eval, job_id, n, node_id, job_id);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    check_parsed(cv_alloc_parse(text, strlen(text), &a, &errs), &errs);
    if (job) {
        a->job = cv_job_copy(job);
    }
    return a;
}

static struct cv_evaluation *mk_eval(unsigned n, const char *job_id, const char *status)
{
    char id[37], text[512];
    uuid(id, 3, n);
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Priority\": 50, \"Type\": \"service\", \"JobID\": \"%s\","
             " \"TriggeredBy\": \"job-register\", \"Status\": \"%s\"}",
             id, job_id, status);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *e = NULL;
    check_parsed(cv_eval_parse(text, strlen(text), &e, &errs), &errs);
    return e;
}

static const char *alloc_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 2, n);
    return out;
}

static const char *eval_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 3, n);
    return out;
}

static const char *node_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 1, n);
    return out;
}

/* ---- write helpers: one call, one transaction ------------------------------------ */

static void put_job(struct state_store *st, uint64_t index, struct cv_job *job)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_job(txn, job, NULL), 0);
    state_txn_commit(txn);
}

static void put_node(struct state_store *st, uint64_t index, struct cv_node *node)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_node(txn, node, NULL), 0);
    state_txn_commit(txn);
}

static void put_alloc(struct state_store *st, uint64_t index, struct cv_allocation *a)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_allocs(txn, &a, 1, NULL), 0);
    state_txn_commit(txn);
}

static void put_eval(struct state_store *st, uint64_t index, struct cv_evaluation *e)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
    state_txn_commit(txn);
}

static size_t iter_count(struct state_iter *it)
{
    size_t n = 0;
    while (state_iter_next(it)) {
        n++;
    }
    return n;
}

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

struct fired
{
    int count;
    uint64_t index;
};

static void on_fire(void *arg, uint64_t index)
{
    struct fired *f = arg;
    f->count++;
    f->index = index;
}

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
        CV_TEST(test_snapshot_isolation),
        CV_TEST(test_snapshot_outlives_store),
        CV_TEST(test_abort_leaves_no_trace),
        CV_TEST(test_watches),
        CV_TEST(test_random_workload_against_model),
        CV_TEST(test_reader_thread_sees_consistent_states),
        CV_TEST(test_snapshot_round_trip),
        CV_TEST(test_empty_snapshot_round_trip),
        CV_TEST(test_restore_rejects_damage),
        CV_TEST(test_snapshot_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
