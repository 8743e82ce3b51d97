/*
 * test_http_plan: POST /v1/job/:id/plan (regiond/http_plan.c) over real
 * sockets, on the fake backend of http_fixture (a real state store and
 * FSM): the scheduler's dry run against registered nodes (placements,
 * constraint and memory failures with their AllocMetric), the diff with
 * and without "Diff", the stored version kept for an unchanged job, a
 * follower answering from its own state, hostile bodies, and that a plan
 * writes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"
#include "testutil.h"
#include "http_fixture.h"

/* A node in dc1 running linux with raw_exec, 4000 MHz and mem_mb MiB. */
static void add_node(struct srv_be *be, int n, int mem_mb)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"ID\": \"44444444-0000-4000-8000-%012d\","
             " \"SecretID\": \"55555555-0000-4000-8000-%012d\","
             " \"Datacenter\": \"dc1\", \"Name\": \"node-%d\", \"Status\": \"ready\","
             " \"Attributes\": {\"kernel.name\": \"linux\", \"os.name\": \"debian\","
             " \"unique.network.ip-address\": \"10.0.1.%d\"},"
             " \"Drivers\": {\"raw_exec\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": 4000},"
             " \"Memory\": {\"MemoryMB\": %d}, \"Disk\": {\"DiskMB\": 10000}}}",
             n, n, n, n, mem_mb);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *node = NULL;
    int rc = cv_node_parse(text, strlen(text), &node, &errs);
    if (rc) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    struct cv_buf cmd = CV_BUF_INIT;
    assert_int_equal(fsm_encode_node_register(node, &cmd, NULL), 0);
    cv_node_free(node);
    struct fsm_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(fsm_apply(be->fsm, ++be->index, cmd.data, cmd.len, &res), 0);
    assert_int_equal(res.outcome, FSM_APPLIED);
    cv_buf_free(&cmd);
}

/* A plan request: job "api", one group "web" of count tasks, `extra`
 * spliced into the group, `task_extra` into the task, `body_extra` into the
 * envelope. */
static char *plan_body(int count, const char *extra, const char *task_extra, const char *body_extra)
{
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_appendf(&b,
                   "{\"Job\": {\"ID\": \"api\", \"Datacenters\": [\"dc1\"],"
                   " \"TaskGroups\": [{\"Name\": \"web\", \"Count\": %d%s,"
                   " \"Tasks\": [{\"Name\": \"srv\", \"Driver\": \"raw_exec\","
                   " \"Config\": {\"command\": \"/bin/sleep\"},"
                   " \"Resources\": {\"CPU\": 100, \"MemoryMB\": 128}%s}]}]}%s}",
                   count, extra ? extra : "", task_extra ? task_extra : "",
                   body_extra ? body_extra : "");
    return cv_buf_take(&b);
}

static int64_t jint(const struct cv_json *o, const char *key)
{
    int64_t v = 0;
    assert_int_equal(cv_json_int64(jget(o, key), &v), 0);
    return v;
}

static bool jnull(const struct cv_json *o, const char *key)
{
    return jget(o, key)->type == CV_JSON_NULL;
}

/* Nothing of job "api" in the state, and the state index unchanged. */
static void expect_nothing_written(struct srv_be *be, uint64_t index)
{
    struct state_snap *snap = state_snapshot(be->st);
    assert_null(state_job(snap, "api"));
    assert_u64_equal(state_table_count(snap, STATE_EVALS), 0);
    assert_u64_equal(state_table_count(snap, STATE_ALLOCS), 0);
    assert_u64_equal(state_snap_index(snap), index);
    state_snapshot_release(snap);
}

static void test_plan_places_on_fitting_nodes(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    for (int i = 1; i <= 3; i++) {
        add_node(&x.a, i, 8192);
    }
    char *body = plan_body(2, NULL, NULL, NULL);
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_u64_equal(header_u64(r.index), 3);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *o = cv_json_doc_root(doc);
    const struct cv_json *web = jget(jget(jget(o, "Annotations"), "DesiredTGUpdates"), "web");
    assert_i64_equal(jint(web, "Place"), 2);
    assert_i64_equal(jint(web, "Ignore"), 0);
    assert_i64_equal(jint(web, "Stop"), 0);
    assert_i64_equal(jint(web, "InPlaceUpdate"), 0);
    assert_i64_equal(jint(web, "DestructiveUpdate"), 0);
    assert_i64_equal(jint(web, "Canary"), 0);
    assert_true(jnull(jget(o, "Annotations"), "PreemptedAllocs"));
    assert_true(jnull(o, "FailedTGAllocs"));
    assert_true(jnull(o, "CreatedEvals"));
    assert_true(jnull(o, "Diff")); /* not asked for */
    assert_u64_equal(juint(o, "JobModifyIndex"), 0);
    assert_u64_equal(juint(o, "Index"), 3);
    assert_string_equal(jstr(o, "NextPeriodicLaunch"), "0001-01-01T00:00:00Z");
    assert_string_equal(jstr(o, "Warnings"), "");
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);

    /* A plan writes nothing: no job, no evaluation, no allocation. */
    expect_nothing_written(&x.a, 3);
    request(&x, &x.a, "GET", "/v1/job/api", NULL, &r);
    expect_status(&r, 404);
    reply_free(&r);

    /* PUT works too; GET does not. */
    body = plan_body(1, NULL, NULL, NULL);
    request(&x, &x.a, "PUT", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    reply_free(&r);
    cv_free(body);
    request(&x, &x.a, "GET", "/v1/job/api/plan", NULL, &r);
    expect_status(&r, 405);
    assert_string_equal(r.allow, "PUT, POST");
    reply_free(&r);
    tfx_free(&x);
}

static void test_plan_explains_constraint_failure(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    for (int i = 1; i <= 3; i++) {
        add_node(&x.a, i, 8192);
    }
    char *body = plan_body(2,
                           ", \"Constraints\": [{\"LTarget\": \"${attr.kernel.name}\","
                           " \"RTarget\": \"windows\", \"Operand\": \"=\"}]",
                           NULL, NULL);
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *o = cv_json_doc_root(doc);
    const struct cv_json *m = jget(jget(o, "FailedTGAllocs"), "web");
    assert_i64_equal(jint(m, "NodesEvaluated"), 3);
    assert_i64_equal(jint(m, "NodesFiltered"), 3);
    assert_i64_equal(jint(jget(m, "ConstraintFiltered"), "${attr.kernel.name} = windows"), 3);
    assert_i64_equal(jint(m, "NodesExhausted"), 0);
    assert_i64_equal(jint(jget(jget(jget(o, "Annotations"), "DesiredTGUpdates"), "web"), "Place"),
                     2);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);
    expect_nothing_written(&x.a, 3);
    tfx_free(&x);
}

static void test_plan_explains_exhausted_memory(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    add_node(&x.a, 1, 2048);
    add_node(&x.a, 2, 4096);
    char *body = plan_body(1, NULL, NULL, NULL);
    char *mem = strstr(body, "\"MemoryMB\": 128");
    assert_non_null(mem);
    char *big = cv_malloc(strlen(body) + 8);
    snprintf(big, strlen(body) + 8, "%.*s\"MemoryMB\": 16384%s", (int)(mem - body), body,
             mem + strlen("\"MemoryMB\": 128"));
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/api/plan", big, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *m = jget(jget(cv_json_doc_root(doc), "FailedTGAllocs"), "web");
    assert_i64_equal(jint(m, "NodesEvaluated"), 2);
    assert_i64_equal(jint(m, "NodesFiltered"), 0);
    assert_i64_equal(jint(m, "NodesExhausted"), 2);
    assert_i64_equal(jint(jget(m, "DimensionExhausted"), "memory"), 2);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(big);
    cv_free(body);
    tfx_free(&x);
}

static void test_plan_diff(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    add_node(&x.a, 1, 8192);

    /* A new job, with the diff: Added, annotated with the placements. */
    char *body = plan_body(2, NULL, NULL, ", \"Diff\": true");
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *d = jget(cv_json_doc_root(doc), "Diff");
    assert_string_equal(jstr(d, "Type"), "Added");
    assert_string_equal(jstr(d, "ID"), "api");
    const struct cv_json *tg = jget(d, "TaskGroups")->u.array.items[0];
    assert_string_equal(jstr(tg, "Type"), "Added");
    assert_i64_equal(jint(jget(tg, "Updates"), "create"), 2);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);

    /* Registered, then planned again unchanged: None, the stored
     * JobModifyIndex. */
    body = plan_body(2, NULL, NULL, NULL);
    register_job(&x, &x.a, body, NULL);
    cv_free(body);
    uint64_t jmi;
    {
        struct state_snap *snap = state_snapshot(x.a.st);
        jmi = state_job(snap, "api")->job_modify_index;
        state_snapshot_release(snap);
    }
    assert_true(jmi > 0);
    body = plan_body(2, NULL, NULL, ", \"Diff\": true");
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_u64_equal(juint(cv_json_doc_root(doc), "JobModifyIndex"), jmi);
    d = jget(cv_json_doc_root(doc), "Diff");
    assert_string_equal(jstr(d, "Type"), "None");
    assert_true(jnull(d, "Fields"));
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);

    /* A count change and a new image: Edited, with contextual fields. */
    body = plan_body(4, NULL, NULL, ", \"Diff\": true");
    char *cmd = strstr(body, "/bin/sleep");
    memcpy(cmd, "/bin/true ", 10);
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    d = jget(cv_json_doc_root(doc), "Diff");
    assert_string_equal(jstr(d, "Type"), "Edited");
    tg = jget(d, "TaskGroups")->u.array.items[0];
    assert_string_equal(jstr(tg, "Type"), "Edited");
    const struct cv_json *count = jget(tg, "Fields")->u.array.items[0];
    assert_string_equal(jstr(count, "Name"), "Count");
    assert_string_equal(jstr(count, "Old"), "2");
    assert_string_equal(jstr(count, "New"), "4");
    assert_string_equal(jget(count, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces create");
    const struct cv_json *task = jget(tg, "Tasks")->u.array.items[0];
    const struct cv_json *cfg = jget(task, "Objects")->u.array.items[0];
    assert_string_equal(jstr(cfg, "Name"), "Config");
    const struct cv_json *f = jget(cfg, "Fields")->u.array.items[0];
    assert_string_equal(jstr(f, "Name"), "command");
    assert_string_equal(jstr(f, "Old"), "/bin/sleep");
    assert_string_equal(jstr(f, "New"), "/bin/true ");
    assert_string_equal(jget(task, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces create/destroy update");
    cv_json_doc_free(doc);
    reply_free(&r);

    /* The same without "Diff": null. */
    char *nodiff = strstr(body, ", \"Diff\": true");
    memcpy(nodiff, ", \"Diff\":false", 14);
    request(&x, &x.a, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_true(jnull(cv_json_doc_root(doc), "Diff"));
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);

    /* The plans wrote nothing: still one version. */
    struct state_snap *snap = state_snapshot(x.a.st);
    assert_u64_equal(state_job(snap, "api")->version, 0);
    assert_u64_equal(state_job(snap, "api")->job_modify_index, jmi);
    state_snapshot_release(snap);
    tfx_free(&x);
}

/* An unchanged job is planned as the stored version: its allocation stays;
 * a count change updates it in place. */
static void test_plan_keeps_current_allocations(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *web = web_job();
    char eval_id[37];
    register_job(&x, &x.a, web, eval_id);
    register_node(&x.a);
    place_alloc(&x.a, eval_id);
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/web/plan", web, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *fe =
        jget(jget(jget(cv_json_doc_root(doc), "Annotations"), "DesiredTGUpdates"), "frontend");
    assert_i64_equal(jint(fe, "Ignore"), 1);
    assert_i64_equal(jint(fe, "Place"), 2);
    assert_i64_equal(jint(fe, "DestructiveUpdate"), 0);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(web);

    char *more = job_text("web", 5);
    request(&x, &x.a, "POST", "/v1/job/web/plan", more, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    fe = jget(jget(jget(cv_json_doc_root(doc), "Annotations"), "DesiredTGUpdates"), "frontend");
    assert_i64_equal(jint(fe, "Ignore"), 0);
    assert_i64_equal(jint(fe, "InPlaceUpdate"), 1);
    assert_i64_equal(jint(fe, "Place"), 4);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(more);
    tfx_free(&x);
}

static void test_plan_on_a_follower_is_local(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    tfx_add_follower(&x);
    add_node(&x.b, 1, 8192); /* only the follower's state has it */
    char *body = plan_body(1, NULL, NULL, NULL);
    struct reply r;
    request(&x, &x.b, "POST", "/v1/job/api/plan", body, &r);
    expect_status(&r, 200);
    assert_u64_equal(x.forwards, 0);
    struct cv_json_doc *doc = jparse(&r);
    assert_true(jnull(cv_json_doc_root(doc), "FailedTGAllocs"));
    assert_u64_equal(juint(cv_json_doc_root(doc), "Index"), 1);
    cv_json_doc_free(doc);
    reply_free(&r);
    cv_free(body);
    tfx_free(&x);
}

static void test_plan_refuses_bad_requests(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    add_node(&x.a, 1, 8192);
    char *good = plan_body(1, NULL, NULL, NULL);
    char *bad_count = plan_body(-1, NULL, NULL, NULL);
    char *unknown = plan_body(1, ", \"Bogus\": 1", NULL, NULL);
    char *bad_diff = plan_body(1, NULL, NULL, ", \"Diff\": \"yes\"");
    char *bad_override = plan_body(1, NULL, NULL, ", \"PolicyOverride\": 1");
    char *batch = plan_body(1, NULL, NULL, NULL);
    char *type_at = strstr(batch, "\"Datacenters\"");
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append(&b, batch, (size_t)(type_at - batch));
    cv_buf_append_str(&b, "\"Type\": \"batch\", ");
    cv_buf_append_str(&b, type_at);
    cv_free(batch);
    batch = cv_buf_take(&b);
    register_job(&x, &x.a, good, NULL); /* a service job "api" */
    uint64_t index = x.a.index;

    const struct
    {
        const char *uri, *body, *needle;
    } cases[] = {
        {"/v1/job/api/plan", "{\"Job\": {\"ID\": ", "invalid JSON"},
        {"/v1/job/api/plan", "", "empty"},
        {"/v1/job/api/plan", "[1, 2]", "must be a JSON object"},
        {"/v1/job/api/plan", "{\"Diff\": true}", "Job must be specified"},
        {"/v1/job/api/plan", "{\"Job\": [1]}", "Job must be specified"},
        {"/v1/job/api/plan", "{\"Job\": {\"Name\": \"x\"}}", "Job ID hasn't been provided"},
        {"/v1/job/other/plan", good, "\"other\" in the path, \"api\" in the body"},
        {"/v1/job/api/plan", bad_count, "TaskGroups[0].Count"},
        {"/v1/job/api/plan", unknown, "Bogus"},
        {"/v1/job/api/plan", bad_diff, "Diff: must be a boolean"},
        {"/v1/job/api/plan", bad_override, "PolicyOverride: must be a boolean"},
        {"/v1/job/api/plan", batch, "cannot update job from type \"service\" to \"batch\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reply r;
        request(&x, &x.a, "POST", cases[i].uri, cases[i].body, &r);
        if (r.status != 400 || !strstr(r.body, cases[i].needle)) {
            fprintf(stderr, "case %zu: %d %s\n", i, r.status, r.body);
        }
        expect_status(&r, 400);
        assert_non_null(strstr(r.body, cases[i].needle));
        assert_string_equal(r.content_type, "text/plain; charset=utf-8");
        reply_free(&r);
    }
    assert_u64_equal(x.a.index, index); /* nothing proposed */
    cv_free(good);
    cv_free(bad_count);
    cv_free(unknown);
    cv_free(bad_diff);
    cv_free(bad_override);
    cv_free(batch);
    tfx_free(&x);

    /* Over the body limit: 413 before it is read, as for register. */
    tfx_init(&x, 1024);
    char *big = cv_malloc(4096);
    memset(big, ' ', 4095);
    big[0] = '{';
    big[4094] = '}';
    big[4095] = '\0';
    struct reply r;
    request(&x, &x.a, "POST", "/v1/job/api/plan", big, &r);
    expect_status(&r, 413);
    reply_free(&r);
    cv_free(big);
    tfx_free(&x);
}

int main(void)
{
    cv_log_set_level(CV_LOG_ERROR);
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        CV_TEST(test_plan_places_on_fitting_nodes),
        CV_TEST(test_plan_explains_constraint_failure),
        CV_TEST(test_plan_explains_exhausted_memory),
        CV_TEST(test_plan_diff),
        CV_TEST(test_plan_keeps_current_allocations),
        CV_TEST(test_plan_on_a_follower_is_local),
        CV_TEST(test_plan_refuses_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
