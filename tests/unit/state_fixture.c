/*
 * state_fixture: the shared builders and write helpers of the
 * test_state_* programs (see state_fixture.h).
 */
#include "state_fixture.h"

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
void uuid(char out[37], unsigned kind, unsigned n)
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

struct cv_job *mk_job(const char *id, const char *type)
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

struct cv_node *mk_node(unsigned n)
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
struct cv_allocation *mk_alloc(unsigned n, const char *job_id, unsigned node,
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

struct cv_evaluation *mk_eval(unsigned n, const char *job_id, const char *status)
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

const char *alloc_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 2, n);
    return out;
}

const char *eval_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 3, n);
    return out;
}

const char *node_id(unsigned n)
{
    static char ids[4][37];
    static unsigned next;
    char *out = ids[next++ % 4];
    uuid(out, 1, n);
    return out;
}

/* ---- write helpers: one call, one transaction ------------------------------------ */

void put_job(struct state_store *st, uint64_t index, struct cv_job *job)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_job(txn, job, NULL), 0);
    state_txn_commit(txn);
}

void put_node(struct state_store *st, uint64_t index, struct cv_node *node)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_node(txn, node, NULL), 0);
    state_txn_commit(txn);
}

void put_alloc(struct state_store *st, uint64_t index, struct cv_allocation *a)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_allocs(txn, &a, 1, NULL), 0);
    state_txn_commit(txn);
}

void put_eval(struct state_store *st, uint64_t index, struct cv_evaluation *e)
{
    struct state_txn *txn = state_txn_begin(st, index);
    assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
    state_txn_commit(txn);
}

size_t iter_count(struct state_iter *it)
{
    size_t n = 0;
    while (state_iter_next(it)) {
        n++;
    }
    return n;
}

void on_fire(void *arg, uint64_t index)
{
    struct fired *f = arg;
    f->count++;
    f->index = index;
}
