/*
 * test_fsm: the region server's FSM through its public face: every command
 * encoded as a leader would and applied as every server does, with the
 * state checked through state.h; job register writing job and evaluation
 * in one publication; versions, stop and purge; nodes; client updates;
 * plans; commands the state refuses leaving no partial write; every kind
 * of malformed entry skipped, counted and logged while the index still
 * advances; the index rules and no-ops; snapshot and restore with the
 * FSM's header, and the headers it refuses.
 *
 * Objects are built from JSON with the models' decoders, so they are
 * canonical as the leader's will be.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"

/* ---- objects ------------------------------------------------------------------------ */

/* "k0000000-0000-4000-8000-<n>": kind 1 nodes, 2 allocations, 3 evaluations. */
static const char *uuid(unsigned kind, unsigned n)
{
    static char ring[8][37];
    static unsigned next;
    char *out = ring[next++ % 8];
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", kind << 28, n);
    return out;
}

#define NODE_ID(n)  uuid(1, (n))
#define ALLOC_ID(n) uuid(2, (n))
#define EVAL_ID(n)  uuid(3, (n))

static void parsed(int rc, struct cv_errlist *errs)
{
    if (rc != 0) {
        cv_test_print_errors(errs);
    }
    cv_errlist_free(errs);
    assert_int_equal(rc, 0);
}

static struct cv_job *mk_job(const char *id)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
             " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2, \"Tasks\": [{\"Name\": \"t\","
             " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}",
             id);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    parsed(cv_job_parse(text, strlen(text), &job, &errs), &errs);
    return job;
}

static struct cv_node *mk_node(unsigned n, bool draining)
{
    char text[768];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"client-%u\","
             " \"Status\": \"ready\", \"NodeResources\": {\"Cpu\": {\"CpuShares\": 4000},"
             " \"Memory\": {\"MemoryMB\": 8192}, \"Disk\": {\"DiskMB\": 10000}}%s}",
             NODE_ID(n), n,
             draining ? ", \"DrainStrategy\": {\"Deadline\": 3600000000000,"
                        " \"StartedAt\": \"2026-01-01T00:00:00Z\"}, \"Drain\": true,"
                        " \"SchedulingEligibility\": \"ineligible\""
                      : "");
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *node = NULL;
    parsed(cv_node_parse(text, strlen(text), &node, &errs), &errs);
    return node;
}

static struct cv_evaluation *mk_eval(unsigned n, const char *job_id, const char *status)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Priority\": 50, \"Type\": \"service\", \"JobID\": \"%s\","
             " \"TriggeredBy\": \"job-register\", \"Status\": \"%s\"}",
             EVAL_ID(n), job_id, status);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *e = NULL;
    parsed(cv_eval_parse(text, strlen(text), &e, &errs), &errs);
    return e;
}

/* Allocation n of job_id on node `node`, placed by evaluation `eval`. */
static struct cv_allocation *mk_alloc(unsigned n, const char *job_id, unsigned node, unsigned eval)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"%s.g[%u]\", \"NodeID\": \"%s\","
             " \"JobID\": \"%s\", \"TaskGroup\": \"g\"}",
             ALLOC_ID(n), EVAL_ID(eval), job_id, n, NODE_ID(node), job_id);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    parsed(cv_alloc_parse(text, strlen(text), &a, &errs), &errs);
    return a;
}

/* ---- fixture --------------------------------------------------------------------------- */

struct fx
{
    struct state_store *st;
    struct fsm *f;
    uint64_t index; /* of the last entry applied */
    struct cv_buf entry;
    struct state_snap *snap; /* the latest view taken by view() */
};

static void fx_init(struct fx *x)
{
    memset(x, 0, sizeof *x);
    x->st = state_store_new(NULL);
    x->f = fsm_new(x->st);
    cv_buf_init(&x->entry);
}

static void fx_done(struct fx *x)
{
    state_snapshot_release(x->snap);
    fsm_free(x->f);
    state_store_free(x->st);
    cv_buf_free(&x->entry);
}

/* A fresh snapshot of the state, held until the next call. */
static const struct state_snap *view(struct fx *x)
{
    state_snapshot_release(x->snap);
    x->snap = state_snapshot(x->st);
    return x->snap;
}

/* Applies x->entry at the next index. */
static struct fsm_result apply(struct fx *x)
{
    struct fsm_result res;
    x->index++;
    assert_int_equal(fsm_apply(x->f, x->index, x->entry.data, x->entry.len, &res), 0);
    assert_u64_equal(res.index, x->index);
    assert_u64_equal(state_snap_index(view(x)), x->index);
    return res;
}

static void applied(const struct fsm_result *res)
{
    if (res->outcome != FSM_APPLIED) {
        char line[1024];
        print_error("not applied (%d): %s\n", (int)res->outcome,
                    cv_err_format(&res->err, line, sizeof line));
    }
    assert_int_equal(res->outcome, FSM_APPLIED);
    assert_int_equal(res->err.code, 0);
}

static void encoded(int rc)
{
    assert_int_equal(rc, 0);
}

static void register_job(struct fx *x, const char *id, unsigned eval)
{
    struct cv_job *job = mk_job(id);
    struct cv_evaluation *e = eval ? mk_eval(eval, id, CV_EVAL_STATUS_PENDING) : NULL;
    encoded(fsm_encode_job_register(job, e, &x->entry, NULL));
    cv_job_free(job);
    cv_eval_free(e);
    struct fsm_result res = apply(x);
    applied(&res);
}

static void register_node(struct fx *x, unsigned n, bool draining)
{
    struct cv_node *node = mk_node(n, draining);
    encoded(fsm_encode_node_register(node, &x->entry, NULL));
    cv_node_free(node);
    struct fsm_result res = apply(x);
    applied(&res);
}

/* Places allocations [first, first+n) of job_id on node 1 for eval. */
static struct fsm_result place(struct fx *x, const char *job_id, unsigned eval, unsigned first,
                               unsigned n)
{
    struct cv_allocation *allocs[8];
    assert_true(n <= 8);
    for (unsigned i = 0; i < n; i++) {
        allocs[i] = mk_alloc(first + i, job_id, 1, eval);
    }
    struct fsm_plan plan = {.eval_id = EVAL_ID(eval),
                            .allocs_updated = (const struct cv_allocation *const *)allocs,
                            .n_updated = n};
    encoded(fsm_encode_plan_apply(&plan, &x->entry, NULL));
    for (unsigned i = 0; i < n; i++) {
        cv_alloc_free(allocs[i]);
    }
    return apply(x);
}

static int buf_write(void *arg, const void *data, size_t len)
{
    cv_buf_append(arg, data, len);
    return 0;
}

/* The state's snapshot stream, a new string. */
static char *state_text(struct state_store *st)
{
    struct cv_buf b = CV_BUF_INIT;
    struct state_snap *s = state_snapshot(st);
    assert_int_equal(state_snapshot_write(s, buf_write, &b, NULL), 0);
    state_snapshot_release(s);
    return cv_buf_take(&b);
}

/* The stream without its header line (which carries the state's index). */
static const char *rows(const char *text)
{
    const char *nl = strchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void test_entry_header_and_names(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    struct cv_job *job = mk_job("web");
    encoded(fsm_encode_job_register(job, NULL, &b, NULL));
    assert_int_equal((unsigned char)b.data[0], FSM_JOB_REGISTER);
    assert_int_equal((unsigned char)b.data[1], FSM_COMMAND_VERSION);
    assert_memory_equal(b.data + 2, "{\"Job\":{", 8); /* readable in a hex dump */

    const char *ids[] = {NODE_ID(1)};
    encoded(fsm_encode_node_deregister(ids, 1, &b, NULL));
    assert_int_equal((unsigned char)b.data[0], FSM_NODE_DEREGISTER);
    char expect[128];
    snprintf(expect, sizeof expect, "{\"NodeIDs\":[\"%s\"]}", NODE_ID(1));
    assert_string_equal(b.data + 2, expect);
    assert_int_equal(b.len, 2 + strlen(expect));

    encoded(fsm_encode_eval_delete(NULL, 0, NULL, 0, &b, NULL));
    assert_int_equal((unsigned char)b.data[0], FSM_EVAL_DELETE);
    assert_string_equal(b.data + 2, "{\"Evals\":[],\"Allocs\":[]}");

    assert_string_equal(fsm_command_name(FSM_JOB_REGISTER), "JobRegister");
    assert_string_equal(fsm_command_name(FSM_PLAN_APPLY), "PlanApply");
    assert_string_equal(fsm_command_name(0), "unknown");
    assert_string_equal(fsm_command_name(FSM_COMMAND_MAX + 1), "unknown");

    /* A string that is not UTF-8 cannot be encoded: an error, an empty buffer. */
    cv_set_string(&job->name, "bad \xff name");
    struct cv_err err = {0};
    assert_int_equal(fsm_encode_job_register(job, NULL, &b, &err), CV_EINVAL);
    assert_int_equal(err.code, CV_EINVAL);
    assert_non_null(strstr(err.msg, "encode JobRegister"));
    assert_int_equal(b.len, 0);
    cv_job_free(job);
    cv_buf_free(&b);
}

/* ---- jobs --------------------------------------------------------------------------------- */

struct seen
{
    struct state_store *st;
    int fired;
    bool job, eval;
    uint64_t index;
};

static void on_evals(void *arg, uint64_t index)
{
    struct seen *s = arg;
    struct state_snap *snap = state_snapshot(s->st);
    s->fired++;
    s->index = index;
    s->job = state_job(snap, "web") != NULL;
    s->eval = state_eval(snap, EVAL_ID(1)) != NULL;
    state_snapshot_release(snap);
}

static void test_job_register_writes_job_and_eval_at_one_index(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    x.index = 9;
    fsm_apply_noop(x.f, 9);
    struct seen seen = {.st = x.st};
    struct state_watch w;
    assert_true(state_watch_add(x.st, &w, STATE_MASK(STATE_JOBS) | STATE_MASK(STATE_EVALS), 9,
                                on_evals, &seen));

    struct cv_job *job = mk_job("web");
    struct cv_evaluation *eval = mk_eval(1, "web", CV_EVAL_STATUS_PENDING);
    encoded(fsm_encode_job_register(job, eval, &x.entry, NULL));
    cv_job_free(job);
    cv_eval_free(eval);
    struct fsm_result res = apply(&x);
    applied(&res);
    assert_int_equal(res.type, FSM_JOB_REGISTER);
    assert_u64_equal(res.job_version, 0);
    assert_u64_equal(res.job_modify_index, 10);
    assert_string_equal(res.eval_id, EVAL_ID(1));

    /* One publication holds both: the watch saw them together. */
    assert_int_equal(seen.fired, 1);
    assert_u64_equal(seen.index, 10);
    assert_true(seen.job && seen.eval);

    const struct state_snap *s = view(&x);
    const struct cv_job *j = state_job(s, "web");
    assert_non_null(j);
    assert_u64_equal(j->create_index, 10);
    assert_u64_equal(j->job_modify_index, 10);
    assert_string_equal(j->status, CV_JOB_STATUS_PENDING);
    const struct cv_evaluation *e = state_eval(s, EVAL_ID(1));
    assert_non_null(e);
    assert_u64_equal(e->create_index, 10);
    assert_u64_equal(e->job_modify_index, 10); /* set by the FSM, as Nomad's */
    assert_u64_equal(state_table_index(s, STATE_JOBS), 10);
    assert_u64_equal(state_table_index(s, STATE_JOB_VERSIONS), 10);
    assert_u64_equal(state_table_index(s, STATE_EVALS), 10);

    struct fsm_stats st;
    fsm_get_stats(x.f, &st);
    assert_u64_equal(st.applied, 1);
    assert_u64_equal(st.noops, 1);
    assert_u64_equal(st.last_index, 10);
    fx_done(&x);
}

static void test_job_reregister_bumps_version(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    struct cv_job *job = mk_job("web");
    cv_set_string(&job->name, "web-v2");
    struct cv_evaluation *eval = mk_eval(2, "web", CV_EVAL_STATUS_PENDING);
    encoded(fsm_encode_job_register(job, eval, &x.entry, NULL));
    cv_job_free(job);
    cv_eval_free(eval);
    struct fsm_result res = apply(&x);
    applied(&res);
    assert_u64_equal(res.job_version, 1);
    assert_u64_equal(res.job_modify_index, 2);

    const struct state_snap *s = view(&x);
    const struct cv_job *j = state_job(s, "web");
    assert_u64_equal(j->version, 1);
    assert_u64_equal(j->create_index, 1);
    assert_string_equal(j->name, "web-v2");
    assert_non_null(state_job_version(s, "web", 0));
    assert_non_null(state_job_version(s, "web", 1));
    assert_string_equal(state_job_version(s, "web", 0)->name, "web");
    /* Re-registering creates a new evaluation, as in Nomad. */
    assert_u64_equal(state_eval(s, EVAL_ID(2))->job_modify_index, 2);

    /* A job as the state holds it (Status, Version, indexes set) encodes
     * and applies too: a revert to version 0, which becomes version 2. */
    job = cv_job_copy(state_job_version(s, "web", 0));
    encoded(fsm_encode_job_register(job, NULL, &x.entry, NULL));
    cv_job_free(job);
    res = apply(&x);
    applied(&res);
    assert_u64_equal(res.job_version, 2);
    s = view(&x);
    assert_string_equal(state_job(s, "web")->name, "web");
    assert_u64_equal(state_job(s, "web")->create_index, 1);
    fx_done(&x);
}

static void test_job_stop(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    struct cv_evaluation *eval = mk_eval(2, "web", CV_EVAL_STATUS_PENDING);
    cv_set_string(&eval->triggered_by, CV_EVAL_TRIGGER_JOB_DEREGISTER);
    encoded(fsm_encode_job_deregister("web", false, 1234567, eval, &x.entry, NULL));
    cv_eval_free(eval);
    struct fsm_result res = apply(&x);
    applied(&res);
    assert_int_equal(res.type, FSM_JOB_DEREGISTER);
    assert_u64_equal(res.job_version, 1);
    assert_u64_equal(res.job_modify_index, 2);
    assert_string_equal(res.eval_id, EVAL_ID(2));

    const struct state_snap *s = view(&x);
    const struct cv_job *j = state_job(s, "web");
    assert_true(j->stop);
    assert_u64_equal(j->version, 1);
    assert_i64_equal(j->submit_time, 1234567);
    assert_false(state_job_version(s, "web", 0)->stop); /* the old version is untouched */
    assert_u64_equal(state_eval(s, EVAL_ID(2))->job_modify_index, 2);
    fx_done(&x);
}

static void test_job_purge_keeps_allocs_and_evals(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    struct fsm_result res = place(&x, "web", 1, 1, 2);
    applied(&res);
    encoded(fsm_encode_job_deregister("web", true, 0, NULL, &x.entry, NULL));
    res = apply(&x);
    applied(&res);
    assert_u64_equal(res.job_version, 0);
    assert_string_equal(res.eval_id, "");

    const struct state_snap *s = view(&x);
    assert_null(state_job(s, "web"));
    assert_null(state_job_version(s, "web", 0));
    assert_int_equal(state_table_count(s, STATE_JOB_VERSIONS), 0);
    /* Garbage collection deletes these, as in Nomad. */
    assert_non_null(state_eval(s, EVAL_ID(1)));
    assert_non_null(state_alloc(s, ALLOC_ID(1)));
    assert_non_null(state_alloc(s, ALLOC_ID(2)));
    fx_done(&x);
}

static void test_job_deregister_unknown_is_rejected_whole(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    for (int purge = 0; purge <= 1; purge++) {
        struct cv_evaluation *eval = mk_eval(9, "nope", CV_EVAL_STATUS_PENDING);
        encoded(fsm_encode_job_deregister("nope", purge, 0, eval, &x.entry, NULL));
        cv_eval_free(eval);
        struct fsm_result res = apply(&x);
        assert_int_equal(res.outcome, FSM_REJECTED);
        assert_int_equal(res.err.code, CV_ENOTFOUND);
        assert_string_equal(res.eval_id, "");
        const struct state_snap *s = view(&x);
        assert_null(state_eval(s, EVAL_ID(9))); /* the eval went with the refusal */
        assert_u64_equal(state_table_index(s, STATE_EVALS), 1);
        assert_u64_equal(state_table_index(s, STATE_JOBS), 1);
    }
    struct fsm_stats st;
    fsm_get_stats(x.f, &st);
    assert_u64_equal(st.rejected, 2);
    assert_u64_equal(st.applied, 1);
    assert_u64_equal(st.last_index, 3);
    fx_done(&x);
}

/* ---- nodes --------------------------------------------------------------------------------- */

static void test_node_lifecycle(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_node(&x, 1, false);
    const struct state_snap *s = view(&x);
    assert_u64_equal(state_node(s, NODE_ID(1))->create_index, 1);

    /* Status and the evaluations it creates, in one entry. */
    struct cv_evaluation *evals[2] = {mk_eval(1, "web", CV_EVAL_STATUS_PENDING),
                                      mk_eval(2, "api", CV_EVAL_STATUS_PENDING)};
    encoded(fsm_encode_node_status(NODE_ID(1), CV_NODE_STATUS_DOWN, 1700000000,
                                   (const struct cv_evaluation *const *)evals, 2, &x.entry, NULL));
    cv_eval_free(evals[0]);
    cv_eval_free(evals[1]);
    struct fsm_result res = apply(&x);
    applied(&res);
    s = view(&x);
    const struct cv_node *n = state_node(s, NODE_ID(1));
    assert_string_equal(n->status, CV_NODE_STATUS_DOWN);
    assert_i64_equal(n->status_updated_at, 1700000000);
    assert_u64_equal(n->modify_index, 2);
    assert_u64_equal(state_eval(s, EVAL_ID(1))->create_index, 2);
    assert_u64_equal(state_eval(s, EVAL_ID(2))->create_index, 2);

    encoded(fsm_encode_node_eligibility(NODE_ID(1), CV_NODE_INELIGIBLE, &x.entry, NULL));
    res = apply(&x);
    applied(&res);
    s = view(&x);
    assert_string_equal(state_node(s, NODE_ID(1))->scheduling_eligibility, CV_NODE_INELIGIBLE);

    /* Re-registration keeps the operator's eligibility. */
    register_node(&x, 1, false);
    s = view(&x);
    assert_string_equal(state_node(s, NODE_ID(1))->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_string_equal(state_node(s, NODE_ID(1))->status, CV_NODE_STATUS_READY);

    const char *ids[] = {NODE_ID(1)};
    encoded(fsm_encode_node_deregister(ids, 1, &x.entry, NULL));
    res = apply(&x);
    applied(&res);
    assert_null(state_node(view(&x), NODE_ID(1)));
    fx_done(&x);
}

static void test_node_commands_refused_by_the_state(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_node(&x, 1, false);
    register_node(&x, 2, true); /* draining */

    /* A status for an unknown node: refused with its evaluations (Nomad). */
    struct cv_evaluation *e = mk_eval(1, "web", CV_EVAL_STATUS_PENDING);
    encoded(fsm_encode_node_status(NODE_ID(7), CV_NODE_STATUS_DOWN, 0,
                                   (const struct cv_evaluation *const *)&e, 1, &x.entry, NULL));
    cv_eval_free(e);
    struct fsm_result res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_ENOTFOUND);
    assert_null(state_eval(view(&x), EVAL_ID(1)));

    /* A draining node cannot be made eligible. */
    encoded(fsm_encode_node_eligibility(NODE_ID(2), CV_NODE_ELIGIBLE, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_EINVAL);
    assert_string_equal(state_node(view(&x), NODE_ID(2))->scheduling_eligibility,
                        CV_NODE_INELIGIBLE);

    encoded(fsm_encode_node_eligibility(NODE_ID(7), CV_NODE_INELIGIBLE, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_ENOTFOUND);

    /* One unknown node refuses the whole batch. */
    const char *ids[] = {NODE_ID(1), NODE_ID(7)};
    encoded(fsm_encode_node_deregister(ids, 2, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    const struct state_snap *s = view(&x);
    assert_non_null(state_node(s, NODE_ID(1)));
    assert_u64_equal(state_table_index(s, STATE_NODES), 2);
    assert_u64_equal(state_snap_index(s), 6);
    fx_done(&x);
}

/* NodeDrain: the entry as it reads; drain on (ineligible, kept across a
 * re-registration, "eligible" refused); drain off with MarkEligible; an
 * unknown node refused without a trace; a bad strategy named by path. */
static void test_node_drain(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_node(&x, 1, false);
    char force[] = "2026-01-01T01:00:00Z", started[] = "2026-01-01T00:00:00.25Z";
    struct cv_drain_strategy ds = {.deadline = 3600000000000,
                                   .ignore_system_jobs = true,
                                   .force_deadline = force,
                                   .started_at = started};
    encoded(fsm_encode_node_drain(NODE_ID(1), &ds, false, 1700000000, &x.entry, NULL));
    assert_int_equal((unsigned char)x.entry.data[0], FSM_NODE_DRAIN);
    assert_int_equal((unsigned char)x.entry.data[1], FSM_COMMAND_VERSION);
    char expect[512];
    snprintf(expect, sizeof expect,
             "{\"NodeID\":\"%s\",\"DrainStrategy\":{\"Deadline\":3600000000000,"
             "\"IgnoreSystemJobs\":true,\"ForceDeadline\":\"%s\",\"StartedAt\":\"%s\"},"
             "\"MarkEligible\":false,\"UpdatedAt\":1700000000}",
             NODE_ID(1), force, started);
    assert_string_equal(x.entry.data + 2, expect);
    assert_string_equal(fsm_command_name(FSM_NODE_DRAIN), "NodeDrain");
    struct fsm_result res = apply(&x);
    applied(&res);
    assert_int_equal(res.type, FSM_NODE_DRAIN);
    const struct cv_node *n = state_node(view(&x), NODE_ID(1));
    assert_true(n->drain);
    assert_non_null(n->drain_strategy);
    assert_i64_equal(n->drain_strategy->deadline, 3600000000000);
    assert_true(n->drain_strategy->ignore_system_jobs);
    assert_string_equal(n->drain_strategy->force_deadline, force);
    assert_string_equal(n->drain_strategy->started_at, started);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_i64_equal(n->status_updated_at, 1700000000);
    assert_u64_equal(n->modify_index, x.index);

    /* Still refused: "eligible" while draining. A client registering
     * again does not undo the drain. */
    encoded(fsm_encode_node_eligibility(NODE_ID(1), CV_NODE_ELIGIBLE, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_EINVAL);
    register_node(&x, 1, false);
    n = state_node(view(&x), NODE_ID(1));
    assert_non_null(n->drain_strategy);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);

    /* Off, with MarkEligible. */
    encoded(fsm_encode_node_drain(NODE_ID(1), NULL, true, 1700000100, &x.entry, NULL));
    snprintf(expect, sizeof expect,
             "{\"NodeID\":\"%s\",\"DrainStrategy\":null,\"MarkEligible\":true,"
             "\"UpdatedAt\":1700000100}",
             NODE_ID(1));
    assert_string_equal(x.entry.data + 2, expect);
    res = apply(&x);
    applied(&res);
    n = state_node(view(&x), NODE_ID(1));
    assert_false(n->drain);
    assert_null(n->drain_strategy);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_ELIGIBLE);
    assert_i64_equal(n->status_updated_at, 1700000100);

    /* An unknown node: refused, the state byte-identical. */
    char *before = state_text(x.st);
    uint64_t nodes = state_table_index(view(&x), STATE_NODES);
    encoded(fsm_encode_node_drain(NODE_ID(7), &ds, false, 1, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_ENOTFOUND);
    assert_non_null(strstr(res.err.msg, "not found"));
    char *after = state_text(x.st);
    assert_string_equal(rows(after), rows(before));
    assert_u64_equal(state_table_index(view(&x), STATE_NODES), nodes);
    cv_free(after);
    cv_free(before);

    /* A strategy with a bad time is skipped, the field named. */
    FILE *log = tmpfile();
    assert_non_null(log);
    cv_log_set_sink(log);
    char bad[256];
    int len = snprintf(bad, sizeof bad,
                       "\x0b\x01{\"NodeID\":\"%s\",\"DrainStrategy\":{\"Deadline\":-1,"
                       "\"ForceDeadline\":\"tomorrow\"}}",
                       NODE_ID(1));
    x.index++;
    assert_int_equal(fsm_apply(x.f, x.index, bad, (size_t)len, &res), 0);
    cv_log_set_sink(NULL);
    fclose(log);
    assert_int_equal(res.outcome, FSM_SKIPPED);
    assert_string_equal(res.err.path, "DrainStrategy.ForceDeadline");
    assert_null(state_node(view(&x), NODE_ID(1))->drain_strategy);

    struct fsm_stats st;
    fsm_get_stats(x.f, &st);
    assert_u64_equal(st.applied, 4);
    assert_u64_equal(st.rejected, 2);
    assert_u64_equal(st.skipped, 1);
    fx_done(&x);
}

/* ---- evaluations and allocations ------------------------------------------------------------- */

static void test_eval_update_and_delete(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 0);
    struct fsm_result res = place(&x, "web", 1, 1, 2);
    /* The plan's evaluation does not exist yet: refused. */
    assert_int_equal(res.outcome, FSM_REJECTED);

    /* Evaluations of a job that does not exist are written (Nomad). */
    struct cv_evaluation *evals[2] = {mk_eval(1, "web", CV_EVAL_STATUS_PENDING),
                                      mk_eval(2, "ghost", CV_EVAL_STATUS_BLOCKED)};
    encoded(fsm_encode_eval_update((const struct cv_evaluation *const *)evals, 2, &x.entry, NULL));
    cv_eval_free(evals[0]);
    cv_eval_free(evals[1]);
    res = apply(&x);
    applied(&res);
    const struct state_snap *s = view(&x);
    assert_non_null(state_eval(s, EVAL_ID(1)));
    assert_non_null(state_eval(s, EVAL_ID(2)));
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_PENDING);

    res = place(&x, "web", 1, 1, 2);
    applied(&res);

    /* Garbage collection: unknown IDs are skipped. */
    const char *eval_ids[] = {EVAL_ID(1), EVAL_ID(8)};
    const char *alloc_ids[] = {ALLOC_ID(1), ALLOC_ID(2), ALLOC_ID(9)};
    encoded(fsm_encode_eval_delete(eval_ids, 2, alloc_ids, 3, &x.entry, NULL));
    res = apply(&x);
    applied(&res);
    s = view(&x);
    assert_null(state_eval(s, EVAL_ID(1)));
    assert_non_null(state_eval(s, EVAL_ID(2)));
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 0);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_DEAD);
    fx_done(&x);
}

static void test_alloc_client_update(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    struct fsm_result res = place(&x, "web", 1, 1, 2);
    applied(&res);
    uint64_t placed = x.index;

    /* A client's update: status and task states; one for an unknown allocation. */
    struct cv_allocation *u1 = mk_alloc(1, "web", 1, 1);
    cv_set_string(&u1->client_status, CV_ALLOC_CLIENT_RUNNING);
    cv_set_string(&u1->client_description, "tasks are running");
    u1->modify_time = 42;
    u1->task_states.items = cv_calloc(1, sizeof *u1->task_states.items);
    u1->task_states.len = 1;
    u1->task_states.items[0].key = cv_strdup("t");
    u1->task_states.items[0].state = cv_strdup(CV_TASK_STATE_RUNNING);
    u1->task_states.items[0].last_restart = cv_strdup("");
    u1->task_states.items[0].started_at = cv_strdup("2026-01-01T00:00:00Z");
    u1->task_states.items[0].finished_at = cv_strdup("");
    struct cv_allocation *u2 = mk_alloc(9, "web", 1, 1);
    cv_set_string(&u2->client_status, CV_ALLOC_CLIENT_FAILED);
    struct cv_evaluation *e = mk_eval(2, "web", CV_EVAL_STATUS_PENDING);
    cv_set_string(&e->triggered_by, CV_EVAL_TRIGGER_RETRY_FAILED_ALLOC);
    const struct cv_allocation *ups[] = {u1, u2};
    encoded(fsm_encode_alloc_client_update(ups, 2, (const struct cv_evaluation *const *)&e, 1,
                                           &x.entry, NULL));
    cv_alloc_free(u1);
    cv_alloc_free(u2);
    cv_eval_free(e);
    res = apply(&x);
    applied(&res);

    const struct state_snap *s = view(&x);
    const struct cv_allocation *a = state_alloc(s, ALLOC_ID(1));
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_RUNNING);
    assert_string_equal(a->client_description, "tasks are running");
    assert_int_equal(a->task_states.len, 1);
    assert_string_equal(a->task_states.items[0].state, CV_TASK_STATE_RUNNING);
    assert_i64_equal(a->modify_time, 42);
    assert_u64_equal(a->modify_index, x.index);
    assert_u64_equal(a->alloc_modify_index, placed); /* a client update does not move it */
    assert_non_null(a->job);
    assert_string_equal(a->job->id, "web");
    assert_string_equal(state_alloc(s, ALLOC_ID(2))->client_status, CV_ALLOC_CLIENT_PENDING);
    assert_null(state_alloc(s, ALLOC_ID(9)));
    assert_non_null(state_eval(s, EVAL_ID(2)));
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_RUNNING);
    /* Running is not terminal: no capacity was freed. */
    assert_int_equal(res.n_freed_nodes, 0);

    /* Allocation 1 completes: its node has room again. */
    struct cv_allocation *done = mk_alloc(1, "web", 1, 1);
    cv_set_string(&done->client_status, CV_ALLOC_CLIENT_COMPLETE);
    const struct cv_allocation *finished[] = {done};
    encoded(fsm_encode_alloc_client_update(finished, 1, NULL, 0, &x.entry, NULL));
    cv_alloc_free(done);
    res = apply(&x);
    applied(&res);
    assert_int_equal(res.n_freed_nodes, 1);
    assert_string_equal(res.freed_nodes[0], NODE_ID(1));
    assert_false(res.freed_overflow);
    fx_done(&x);
}

/* ---- plans ------------------------------------------------------------------------------------
 */

static void test_plan_apply(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    struct fsm_result res = place(&x, "web", 1, 1, 2);
    applied(&res);
    assert_string_equal(res.eval_id, "");
    const struct state_snap *s = view(&x);
    const struct cv_allocation *a1 = state_alloc(s, ALLOC_ID(1));
    assert_u64_equal(a1->create_index, 2);
    assert_u64_equal(a1->alloc_modify_index, 2);
    assert_string_equal(a1->job->id, "web");
    assert_u64_equal(state_eval(s, EVAL_ID(1))->modify_index, 2); /* the plan's eval touched */
    assert_u64_equal(state_eval(s, EVAL_ID(1))->create_index, 1);
    assert_string_equal(state_job(s, "web")->status, CV_JOB_STATUS_RUNNING);

    /* Stop allocation 1 (its node is down: lost), place 3, complete the eval. */
    struct cv_allocation *a3 = mk_alloc(3, "web", 2, 2);
    struct cv_evaluation *e2 = mk_eval(2, "web", CV_EVAL_STATUS_COMPLETE);
    struct fsm_alloc_stop stop = {.id = ALLOC_ID(1),
                                  .desired_description = "alloc is lost since its node is down",
                                  .client_status = CV_ALLOC_CLIENT_LOST,
                                  .followup_eval_id = EVAL_ID(2),
                                  .modify_time = 99};
    const struct cv_allocation *updated[] = {a3};
    struct fsm_plan plan = {.eval_id = EVAL_ID(2),
                            .allocs_updated = updated,
                            .n_updated = 1,
                            .allocs_stopped = &stop,
                            .n_stopped = 1,
                            .eval = e2};
    encoded(fsm_encode_plan_apply(&plan, &x.entry, NULL));
    cv_alloc_free(a3);
    cv_eval_free(e2);
    res = apply(&x);
    applied(&res);
    assert_int_equal(res.type, FSM_PLAN_APPLY);
    assert_string_equal(res.eval_id, EVAL_ID(2));

    s = view(&x);
    a1 = state_alloc(s, ALLOC_ID(1));
    assert_string_equal(a1->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_string_equal(a1->desired_description, "alloc is lost since its node is down");
    assert_string_equal(a1->client_status, CV_ALLOC_CLIENT_LOST);
    assert_string_equal(a1->followup_eval_id, EVAL_ID(2));
    assert_i64_equal(a1->modify_time, 99);
    assert_u64_equal(a1->create_index, 2);
    assert_u64_equal(a1->alloc_modify_index, 3);
    assert_ptr_equal(a1->job, state_alloc(s, ALLOC_ID(2))->job); /* still shared */
    assert_string_equal(state_alloc(s, ALLOC_ID(3))->node_id, NODE_ID(2));
    assert_string_equal(state_eval(s, EVAL_ID(2))->status, CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 3);

    /* A stop's client status other than lost/unknown keeps the client's. */
    struct fsm_alloc_stop stop2 = {.id = ALLOC_ID(2),
                                   .desired_description = "stopped",
                                   .client_status = CV_ALLOC_CLIENT_COMPLETE};
    struct fsm_plan plan2 = {.eval_id = EVAL_ID(1), .allocs_stopped = &stop2, .n_stopped = 1};
    encoded(fsm_encode_plan_apply(&plan2, &x.entry, NULL));
    res = apply(&x);
    applied(&res);
    s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(2))->client_status, CV_ALLOC_CLIENT_PENDING);
    assert_string_equal(state_alloc(s, ALLOC_ID(2))->desired_status, CV_ALLOC_DESIRED_STOP);

    /* An allocation with a Job of its own keeps it. */
    struct cv_allocation *a4 = mk_alloc(4, "web", 1, 1);
    a4->job = cv_job_copy(state_job(s, "web"));
    cv_set_string(&a4->job->name, "pinned");
    const struct cv_allocation *pinned[] = {a4};
    struct fsm_plan plan3 = {.eval_id = EVAL_ID(1), .allocs_updated = pinned, .n_updated = 1};
    encoded(fsm_encode_plan_apply(&plan3, &x.entry, NULL));
    cv_alloc_free(a4);
    res = apply(&x);
    applied(&res);
    s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(4))->job->name, "pinned");
    assert_string_equal(state_job(s, "web")->name, "web");
    fx_done(&x);
}

static void test_plan_rejected_leaves_no_partial_write(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    char *before = state_text(x.st);

    /* One good placement, one whose job the state does not have. */
    struct cv_allocation *allocs[2] = {mk_alloc(1, "web", 1, 1), mk_alloc(2, "nope", 1, 1)};
    struct fsm_plan plan = {.eval_id = EVAL_ID(1),
                            .allocs_updated = (const struct cv_allocation *const *)allocs,
                            .n_updated = 2};
    encoded(fsm_encode_plan_apply(&plan, &x.entry, NULL));
    struct fsm_result res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_int_equal(res.err.code, CV_ENOTFOUND);
    char *after = state_text(x.st);
    assert_string_equal(rows(after), rows(before)); /* not even the eval's ModifyIndex */
    cv_free(after);

    /* A good placement and a stop of an allocation that does not exist. */
    struct fsm_alloc_stop stop = {.id = ALLOC_ID(7), .desired_description = "gone"};
    plan.n_updated = 1;
    plan.allocs_stopped = &stop;
    plan.n_stopped = 1;
    encoded(fsm_encode_plan_apply(&plan, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_non_null(strstr(res.err.msg, ALLOC_ID(7)));
    after = state_text(x.st);
    assert_string_equal(rows(after), rows(before));
    cv_free(after);

    /* A plan of an evaluation that does not exist, with its own Eval. */
    struct cv_evaluation *e = mk_eval(5, "web", CV_EVAL_STATUS_COMPLETE);
    plan.eval_id = EVAL_ID(4);
    plan.n_stopped = 0;
    plan.eval = e;
    encoded(fsm_encode_plan_apply(&plan, &x.entry, NULL));
    res = apply(&x);
    assert_int_equal(res.outcome, FSM_REJECTED);
    assert_string_equal(res.eval_id, "");
    after = state_text(x.st);
    assert_string_equal(rows(after), rows(before));
    cv_free(after);

    cv_eval_free(e);
    cv_alloc_free(allocs[0]);
    cv_alloc_free(allocs[1]);
    cv_free(before);
    const struct state_snap *s = view(&x);
    assert_u64_equal(state_snap_index(s), 4);
    assert_u64_equal(state_tables_index(s, STATE_ALL_TABLES), 1);
    fx_done(&x);
}

/* ---- malformed entries ------------------------------------------------------------------------
 */

struct bad_entry
{
    const char *what;
    const char *bytes; /* type and version as the first two characters */
    size_t len;        /* 0: strlen(bytes) */
};

#define B(what, bytes) \
    {                  \
        what, bytes, 0 \
    }

static void test_malformed_entries_are_skipped(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    register_node(&x, 1, false);
    char *before = state_text(x.st);
    uint64_t tables = state_tables_index(view(&x), STATE_ALL_TABLES);

    FILE *log = tmpfile();
    assert_non_null(log);
    cv_log_set_sink(log);

    static const char long_nest[] =
        "\x01\x01{\"Job\":"
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}";
    const struct bad_entry bad[] = {
        {"empty", "", 0},
        {"one byte", "\x01", 1},
        {"header only", "\x01\x01", 2},
        {"type 0", "\x00\x01{}", 4},
        B("unknown type", "\x63\x01{}"),
        B("type past the last", "\x0c\x01{}"),
        {"version 0", "\x01\x00{}", 4},
        B("version 2", "\x01\x02{}"),
        B("bad JSON", "\x01\x01{\"Job\":"),
        B("trailing bytes", "\x01\x01{}{}"),
        B("duplicate keys", "\x02\x01{\"JobID\":\"a\",\"JobID\":\"b\"}"),
        B("invalid UTF-8", "\x02\x01{\"JobID\":\"\xc3\x28\"}"),
        B("body not an object", "\x07\x01[]"),
        B("body a string", "\x07\x01\"Evals\""),
        B("missing Job", "\x01\x01{}"),
        B("null Job", "\x01\x01{\"Job\":null}"),
        B("Job a string", "\x01\x01{\"Job\":\"web\"}"),
        B("Job invalid", "\x01\x01{\"Job\":{\"ID\":\"web\"}}"),
        B("Job with an unknown field", "\x01\x01{\"Job\":{\"ID\":\"web\",\"Bogus\":1}}"),
        B("too deep", long_nest),
        B("JobID a number", "\x02\x01{\"JobID\":5}"),
        B("JobID empty", "\x02\x01{\"JobID\":\"\"}"),
        B("JobID with NUL", "\x02\x01{\"JobID\":\"we\\u0000b\"}"),
        B("Purge a string", "\x02\x01{\"JobID\":\"web\",\"Purge\":\"yes\"}"),
        B("SubmitTime a float", "\x02\x01{\"JobID\":\"web\",\"SubmitTime\":1.5}"),
        B("SubmitTime too big", "\x02\x01{\"JobID\":\"web\",\"SubmitTime\":99999999999999999999}"),
        B("Eval of another job",
          "\x02\x01{\"JobID\":\"web\",\"Eval\":{\"ID\":\"30000000-0000-4000-8000-000000000001\","
          "\"Priority\":50,\"Type\":\"service\",\"JobID\":\"api\",\"TriggeredBy\":"
          "\"job-deregister\"}}"),
        B("Eval invalid", "\x02\x01{\"JobID\":\"web\",\"Eval\":{\"ID\":\"x\"}}"),
        B("Node missing", "\x03\x01{\"node\":{}}"),
        B("Node invalid", "\x03\x01{\"Node\":{\"ID\":\"not-a-uuid\"}}"),
        B("NodeID not a UUID", "\x04\x01{\"NodeID\":\"n1\",\"Status\":\"down\"}"),
        B("Status unknown",
          "\x04\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"Status\":\"asleep\"}"),
        B("UpdatedAt a string",
          "\x04\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"Status\":\"down\","
          "\"UpdatedAt\":\"now\"}"),
        B("Evals an object",
          "\x04\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"Status\":\"down\","
          "\"Evals\":{}}"),
        B("Eligibility unknown",
          "\x05\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"Eligibility\":\"yes\"}"),
        B("Eligibility missing", "\x05\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\"}"),
        B("NodeIDs missing", "\x06\x01{}"),
        B("NodeIDs an object", "\x06\x01{\"NodeIDs\":{}}"),
        B("NodeIDs with a number", "\x06\x01{\"NodeIDs\":[1]}"),
        B("NodeIDs with a non-UUID", "\x06\x01{\"NodeIDs\":[\"n1\"]}"),
        B("Evals missing", "\x07\x01{}"),
        B("Evals with an empty object", "\x07\x01{\"Evals\":[{}]}"),
        B("Evals with a number", "\x07\x01{\"Evals\":[3]}"),
        B("delete Evals a string", "\x08\x01{\"Evals\":\"x\"}"),
        B("delete Allocs with null", "\x08\x01{\"Allocs\":[null]}"),
        B("Allocs missing", "\x09\x01{\"Evals\":[]}"),
        B("Allocs with a number", "\x09\x01{\"Allocs\":[5]}"),
        B("client update without ID", "\x09\x01{\"Allocs\":[{\"ClientStatus\":\"running\"}]}"),
        B("client status unknown",
          "\x09\x01{\"Allocs\":[{\"ID\":\"20000000-0000-4000-8000-000000000001\","
          "\"ClientStatus\":\"sleeping\"}]}"),
        B("client task state unknown",
          "\x09\x01{\"Allocs\":[{\"ID\":\"20000000-0000-4000-8000-000000000001\","
          "\"ClientStatus\":\"running\",\"TaskStates\":{\"t\":{\"State\":\"odd\"}}}]}"),
        B("client update of the wrong type",
          "\x09\x01{\"Allocs\":[{\"ID\":\"20000000-0000-4000-8000-000000000001\","
          "\"ClientStatus\":\"running\",\"ModifyTime\":\"later\"}]}"),
        B("drain without NodeID", "\x0b\x01{\"MarkEligible\":true}"),
        B("drain NodeID not a UUID", "\x0b\x01{\"NodeID\":\"n1\"}"),
        B("drain MarkEligible a string",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"MarkEligible\":\"yes\"}"),
        B("drain UpdatedAt negative",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"UpdatedAt\":-1}"),
        B("DrainStrategy a string",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":\"on\"}"),
        B("DrainStrategy an array",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":[]}"),
        B("drain Deadline a float",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":{"
          "\"Deadline\":1.5}}"),
        B("drain IgnoreSystemJobs a number",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":{"
          "\"IgnoreSystemJobs\":1}}"),
        B("drain ForceDeadline not a time",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":{"
          "\"ForceDeadline\":\"soon\"}}"),
        B("drain StartedAt a number",
          "\x0b\x01{\"NodeID\":\"10000000-0000-4000-8000-000000000001\",\"DrainStrategy\":{"
          "\"StartedAt\":5}}"),
        B("plan without EvalID", "\x0a\x01{\"AllocsUpdated\":[]}"),
        B("plan AllocsUpdated invalid",
          "\x0a\x01{\"EvalID\":\"30000000-0000-4000-8000-000000000001\","
          "\"AllocsUpdated\":[{\"ID\":\"20000000-0000-4000-8000-000000000001\"}]}"),
        B("plan stop ID a number",
          "\x0a\x01{\"EvalID\":\"30000000-0000-4000-8000-000000000001\","
          "\"AllocsStopped\":[{\"ID\":7}]}"),
        B("plan stop not an object",
          "\x0a\x01{\"EvalID\":\"30000000-0000-4000-8000-000000000001\","
          "\"AllocsStopped\":[\"x\"]}"),
        B("plan stop with a bad client status",
          "\x0a\x01{\"EvalID\":\"30000000-0000-4000-8000-000000000001\","
          "\"AllocsStopped\":[{\"ID\":\"20000000-0000-4000-8000-000000000001\","
          "\"ClientStatus\":\"gone\"}]}"),
    };
    size_t n_bad = sizeof bad / sizeof bad[0];
    struct cv_err last = {0};
    for (size_t i = 0; i < n_bad; i++) {
        struct fsm_result res;
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].bytes);
        x.index++;
        int rc = fsm_apply(x.f, x.index, bad[i].bytes, len, &res);
        if (rc != 0 || res.outcome != FSM_SKIPPED) {
            print_error("entry \"%s\" was not skipped (rc %d, outcome %d)\n", bad[i].what, rc,
                        (int)res.outcome);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(res.outcome, FSM_SKIPPED);
        assert_int_not_equal(res.err.code, 0);
        assert_u64_equal(state_snap_index(view(&x)), x.index);
        last = res.err;
    }
    /* Wrong types are named by their field. */
    assert_string_equal(last.path, "AllocsStopped[0].ClientStatus");

    /* Every prefix of a good entry. */
    struct cv_job *job = mk_job("api");
    struct cv_evaluation *e = mk_eval(7, "api", CV_EVAL_STATUS_PENDING);
    encoded(fsm_encode_job_register(job, e, &x.entry, NULL));
    cv_job_free(job);
    cv_eval_free(e);
    for (size_t cut = 0; cut < x.entry.len; cut++) {
        struct fsm_result res;
        x.index++;
        assert_int_equal(fsm_apply(x.f, x.index, x.entry.data, cut, &res), 0);
        assert_int_equal(res.outcome, FSM_SKIPPED);
    }

    cv_log_set_sink(NULL);
    char *after = state_text(x.st);
    assert_string_equal(rows(after), rows(before));
    cv_free(after);
    cv_free(before);
    const struct state_snap *s = view(&x);
    assert_u64_equal(state_snap_index(s), x.index);
    assert_u64_equal(state_tables_index(s, STATE_ALL_TABLES), tables);

    struct fsm_stats st;
    fsm_get_stats(x.f, &st);
    assert_u64_equal(st.skipped, n_bad + x.entry.len);
    assert_u64_equal(st.applied, 2);
    assert_u64_equal(st.last_skipped_index, x.index);
    assert_u64_equal(st.last_index, x.index);

    /* Each one logged an error line. */
    fflush(log);
    rewind(log);
    char line[2048];
    size_t lines = 0;
    bool named = false;
    while (fgets(line, sizeof line, log)) {
        assert_non_null(strstr(line, " error fsm entry skipped "));
        named = named || strstr(line, "command=JobDeregister version=1") != NULL;
        lines++;
    }
    fclose(log);
    assert_int_equal(lines, n_bad + x.entry.len);
    assert_true(named);

    /* The next good entry applies. */
    register_job(&x, "api", 7);
    assert_non_null(state_job(view(&x), "api"));
    fx_done(&x);
}

/* ---- index rules ----------------------------------------------------------------------------- */

static void test_index_rules_and_noops(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_job(&x, "web", 1);
    assert_int_equal(fsm_apply_noop(x.f, 2), 0);
    assert_int_equal(fsm_apply_noop(x.f, 5), 0); /* indexes may jump */
    const struct state_snap *s = view(&x);
    assert_u64_equal(state_snap_index(s), 5);
    assert_u64_equal(state_tables_index(s, STATE_ALL_TABLES), 1);

    /* An index the state has reached: refused, nothing done. */
    FILE *log = tmpfile();
    cv_log_set_sink(log);
    assert_int_equal(fsm_apply_noop(x.f, 5), CV_EINVAL);
    struct fsm_result res;
    struct cv_job *job = mk_job("api");
    encoded(fsm_encode_job_register(job, NULL, &x.entry, NULL));
    cv_job_free(job);
    assert_int_equal(fsm_apply(x.f, 4, x.entry.data, x.entry.len, &res), CV_EINVAL);
    assert_int_equal(res.err.code, CV_EINVAL);
    assert_u64_equal(res.index, 5);
    assert_int_equal(fsm_apply(x.f, 5, x.entry.data, x.entry.len, NULL), CV_EINVAL);
    cv_log_set_sink(NULL);
    fclose(log);
    s = view(&x);
    assert_null(state_job(s, "api"));
    assert_u64_equal(state_snap_index(s), 5);

    /* A NULL result is fine. */
    assert_int_equal(fsm_apply(x.f, 6, x.entry.data, x.entry.len, NULL), 0);
    assert_non_null(state_job(view(&x), "api"));

    struct fsm_stats st;
    fsm_get_stats(x.f, &st);
    assert_u64_equal(st.noops, 2);
    assert_u64_equal(st.applied, 2);
    assert_u64_equal(st.skipped, 0);
    assert_u64_equal(st.last_index, 6);
    fx_done(&x);
}

/* ---- snapshot and restore ------------------------------------------------------------------ */

struct reader
{
    const char *p;
    size_t len, pos, chunk;
};

static int chunk_read(void *arg, void *buf, size_t cap, size_t *got)
{
    struct reader *r = arg;
    size_t n = r->len - r->pos;
    if (n > cap) {
        n = cap;
    }
    if (n > r->chunk) {
        n = r->chunk;
    }
    memcpy(buf, r->p + r->pos, n);
    r->pos += n;
    *got = n;
    return 0;
}

static int failing_write(void *arg, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    return CV_EIO;
}

static int restore_text(struct fsm *f, const char *text, size_t len, size_t chunk,
                        struct cv_err *err)
{
    struct reader r = {text, len, 0, chunk};
    return fsm_restore(f, chunk_read, &r, err);
}

static void build_state(struct fx *x)
{
    register_node(x, 1, false);
    register_node(x, 2, true);
    register_job(x, "web", 1);
    register_job(x, "web", 2);
    register_job(x, "api", 3);
    struct fsm_result res = place(x, "web", 1, 1, 3);
    applied(&res);
    res = place(x, "api", 3, 4, 2);
    applied(&res);
    encoded(fsm_encode_job_deregister("api", false, 5, NULL, &x->entry, NULL));
    res = apply(x);
    applied(&res);
    fsm_apply_noop(x->f, ++x->index);
}

static void test_snapshot_restore_round_trip(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    build_state(&x);
    struct cv_buf snap = CV_BUF_INIT;
    struct cv_err err = {0};
    assert_int_equal(fsm_snapshot_write(view(&x), buf_write, &snap, &err), 0);
    assert_memory_equal(snap.data, "{\"Format\":\"caravan-fsm\",\"Version\":1}\n", 37);

    static const size_t chunks[] = {1, 7, 64, 1u << 20};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        struct fx y;
        fx_init(&y);
        assert_int_equal(restore_text(y.f, snap.data, snap.len, chunks[c], &err), 0);
        char *a = state_text(x.st), *b = state_text(y.st);
        assert_string_equal(a, b); /* rows, indexes, shared jobs: the same bytes */
        cv_free(a);
        cv_free(b);
        struct fsm_stats st;
        fsm_get_stats(y.f, &st);
        assert_u64_equal(st.last_index, x.index);

        /* The restored FSM carries on from the snapshot's index. */
        y.index = x.index;
        struct cv_evaluation *e = mk_eval(4, "web", CV_EVAL_STATUS_PENDING);
        encoded(fsm_encode_eval_update((const struct cv_evaluation *const *)&e, 1, &y.entry, NULL));
        cv_eval_free(e);
        struct fsm_result res = apply(&y);
        applied(&res);
        fx_done(&y);
    }

    /* A writer's error is passed on. */
    assert_int_equal(fsm_snapshot_write(view(&x), failing_write, NULL, &err), CV_EIO);
    cv_buf_free(&snap);
    fx_done(&x);
}

static void test_restore_refuses_other_streams(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    build_state(&x);
    struct cv_buf snap = CV_BUF_INIT;
    assert_int_equal(fsm_snapshot_write(view(&x), buf_write, &snap, NULL), 0);
    char *state_stream = state_text(x.st);
    const char *body = strchr(snap.data, '\n') + 1;

    struct fx y;
    fx_init(&y);
    register_job(&y, "other", 1);
    char *before = state_text(y.st);

    struct cv_buf b = CV_BUF_INIT;
    char big[400];
    memset(big, 'x', sizeof big);
    struct
    {
        const char *what;
        const char *text;
        size_t len;
        int code;
        const char *msg;
    } cases[] = {
        {"empty", "", 0, CV_EPARSE, "FSM snapshot is empty"},
        {"cut in the header", "{\"Format\":\"cara", 15, CV_EPARSE, "truncated in its header"},
        {"no header line", big, sizeof big, CV_EPARSE, "no header line"},
        {"a bare state stream", state_stream, strlen(state_stream), CV_EPARSE,
         "not an FSM snapshot"},
        {"another format", "{\"Format\":\"caravan-state\",\"Version\":1}\n", 0, CV_EPARSE,
         "no Format"},
        {"no version", "{\"Format\":\"caravan-fsm\"}\n", 0, CV_EPARSE, "no Version"},
        {"a later version", NULL, 0, CV_EUNSUPPORTED, "version 2 is not supported"},
        {"a header alone", "{\"Format\":\"caravan-fsm\",\"Version\":1}\n", 0, CV_EPARSE, ""},
        {"a damaged body", NULL, 0, CV_EPARSE, "damaged"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_buf_reset(&b);
        if (strcmp(cases[i].what, "a later version") == 0) {
            cv_buf_append_str(&b, "{\"Format\":\"caravan-fsm\",\"Version\":2}\n");
            cv_buf_append_str(&b, body);
        } else if (strcmp(cases[i].what, "a damaged body") == 0) {
            cv_buf_append(&b, snap.data, snap.len);
            b.data[snap.len / 2] ^= 0x01;
        } else {
            cv_buf_append(&b, cases[i].text, cases[i].len ? cases[i].len : strlen(cases[i].text));
        }
        struct cv_err err = {0};
        int rc = restore_text(y.f, b.data ? b.data : "", b.len, 5, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].msg)) {
            print_error("%s: rc %d, \"%s\"\n", cases[i].what, rc, err.msg);
        }
        assert_int_equal(rc, cases[i].code);
        assert_non_null(strstr(err.msg, cases[i].msg));
        char *after = state_text(y.st);
        assert_string_equal(after, before);
        cv_free(after);
    }
    cv_buf_free(&b);
    cv_free(before);
    cv_free(state_stream);
    cv_buf_free(&snap);
    fx_done(&y);
    fx_done(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_entry_header_and_names),
        CV_TEST(test_job_register_writes_job_and_eval_at_one_index),
        CV_TEST(test_job_reregister_bumps_version),
        CV_TEST(test_job_stop),
        CV_TEST(test_job_purge_keeps_allocs_and_evals),
        CV_TEST(test_job_deregister_unknown_is_rejected_whole),
        CV_TEST(test_node_lifecycle),
        CV_TEST(test_node_commands_refused_by_the_state),
        CV_TEST(test_node_drain),
        CV_TEST(test_eval_update_and_delete),
        CV_TEST(test_alloc_client_update),
        CV_TEST(test_plan_apply),
        CV_TEST(test_plan_rejected_leaves_no_partial_write),
        CV_TEST(test_malformed_entries_are_skipped),
        CV_TEST(test_index_rules_and_noops),
        CV_TEST(test_snapshot_restore_round_trip),
        CV_TEST(test_restore_refuses_other_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
