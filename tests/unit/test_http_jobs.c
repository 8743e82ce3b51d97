/*
 * test_http_jobs: the region server's HTTP API (regiond/http.h) over real
 * sockets on 127.0.0.1, with libevent's HTTP client, against a fake
 * backend: a real state store and the real FSM, where a proposal is
 * applied by fsm_apply at the next index from a zero-delay event (so it
 * completes asynchronously, as through Raft), and a forward hands the
 * request, encoded and decoded with http_fwd, to a second server's
 * http_handle_forwarded.
 *
 * This program: registering and reading jobs, validation errors, body
 * limits, routing (404/405), the list endpoints, versions, stop and purge.
 *
 * Every wait is bounded: a loop runs the event base until the reply has
 * come or a guard timer fires; there are no fixed sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/http.h"
#include "regiond/http_fwd.h"
#include "regiond/state/state.h"
#include "testutil.h"
#include "http_fixture.h"

/* ---- tests -------------------------------------------------------------------------------- */

static void test_register_and_read(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *web = web_job();
    struct reply r;
    request(&x, &x.a, "PUT", "/v1/jobs", web, &r);
    expect_status(&r, 200);
    assert_string_equal(r.content_type, "application/json");
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *o = cv_json_doc_root(doc);
    char eval_id[37];
    snprintf(eval_id, sizeof eval_id, "%s", jstr(o, "EvalID"));
    assert_true(cv_uuid_valid(eval_id));
    uint64_t index = juint(o, "Index");
    assert_u64_equal(index, 1);
    assert_u64_equal(juint(o, "EvalCreateIndex"), index);
    assert_u64_equal(juint(o, "JobModifyIndex"), index);
    assert_u64_equal(juint(o, "LastIndex"), index);
    assert_string_equal(jstr(o, "Warnings"), "");
    assert_true(jbool(o, "KnownLeader"));
    assert_u64_equal(header_u64(r.index), index);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/job/web", NULL, &r);
    expect_status(&r, 200);
    assert_u64_equal(header_u64(r.index), index);
    assert_string_equal(r.known_leader, "true");
    assert_string_equal(r.last_contact, "0");
    doc = jparse(&r);
    o = cv_json_doc_root(doc);
    assert_string_equal(jstr(o, "ID"), "web");
    assert_string_equal(jstr(o, "Type"), "service");
    assert_string_equal(jstr(o, "Status"), "pending");
    assert_u64_equal(juint(o, "Version"), 0);
    assert_true(juint(o, "SubmitTime") > 0);
    assert_u64_equal(jlen(jget(o, "TaskGroups")), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    char uri[128];
    snprintf(uri, sizeof uri, "/v1/evaluation/%s", eval_id);
    request(&x, &x.a, "GET", uri, NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    o = cv_json_doc_root(doc);
    assert_string_equal(jstr(o, "ID"), eval_id);
    assert_string_equal(jstr(o, "TriggeredBy"), "job-register");
    assert_string_equal(jstr(o, "Status"), "pending");
    assert_string_equal(jstr(o, "Type"), "service");
    assert_string_equal(jstr(o, "JobID"), "web");
    assert_u64_equal(juint(o, "Priority"), 50);
    assert_u64_equal(juint(o, "CreateIndex"), index);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/job/web/evaluations", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/evaluations?job=web&status=pending", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    /* The same job under /v1/job/:id, and ?pretty. */
    request(&x, &x.a, "POST", "/v1/job/web?pretty", web, &r);
    expect_status(&r, 200);
    assert_non_null(strstr(r.body, "\n  \"EvalID\""));
    assert_true(r.body[r.len - 1] == '\n');
    reply_free(&r);
    cv_free(web);
    tfx_free(&x);
}

static void test_invalid_job_is_400_with_field_paths(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *bad = job_text("bad", -1);
    /* And a memory size under the minimum. */
    char *mem = strstr(bad, "\"MemoryMB\": 256");
    assert_non_null(mem);
    memcpy(mem, "\"MemoryMB\":   1", strlen("\"MemoryMB\":   1"));
    struct reply r;
    request(&x, &x.a, "PUT", "/v1/jobs", bad, &r);
    expect_status(&r, 400);
    assert_non_null(strstr(r.body, "TaskGroups[0].Count"));
    assert_non_null(strstr(r.body, "TaskGroups[0].Tasks[0].Resources.MemoryMB"));
    assert_non_null(strchr(r.body, '\n')); /* one line per problem */
    reply_free(&r);
    cv_free(bad);

    /* Nothing was written. */
    request(&x, &x.a, "GET", "/v1/jobs", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.body, "[]");
    reply_free(&r);

    static const struct
    {
        const char *uri, *body, *needle;
    } cases[] = {
        {"/v1/jobs", "{\"Job\": {\"ID\": ", "invalid JSON"},
        {"/v1/jobs", "", "empty"},
        {"/v1/jobs", "[1, 2]", "must be a JSON object"},
        {"/v1/jobs", "{\"EnforceIndex\": true}", "Job must be specified"},
        {"/v1/jobs", "{\"Job\": {\"Name\": \"x\"}}", "Job ID hasn't been provided"},
        {"/v1/job/other", "{\"Job\": {\"ID\": \"web\"}}", "Job ID does not match name"},
        {"/v1/jobs", "{\"Job\": {\"ID\": \"web\"}, \"EnforceIndex\": \"yes\"}",
         "EnforceIndex: must be a boolean"},
        {"/v1/jobs", "{\"Job\": {\"ID\": \"web\"}, \"EvalPriority\": 101}", "EvalPriority"},
        {"/v1/jobs", "{\"Job\": {\"ID\": \"web\", \"Periodic\": {\"Spec\": \"* * * * *\"}}}",
         "Periodic"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request(&x, &x.a, "PUT", cases[i].uri, cases[i].body, &r);
        expect_status(&r, 400);
        if (!strstr(r.body, cases[i].needle)) {
            fprintf(stderr, "case %zu: %s\n", i, r.body);
        }
        assert_non_null(strstr(r.body, cases[i].needle));
        assert_string_equal(r.content_type, "text/plain; charset=utf-8");
        reply_free(&r);
    }
    struct state_snap *snap = state_snapshot(x.a.st);
    assert_u64_equal(state_table_count(snap, STATE_JOBS), 0);
    assert_u64_equal(state_snap_index(snap), 0);
    state_snapshot_release(snap);
    tfx_free(&x);
}

static void test_body_over_the_limit_is_413(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 1024);
    char *big = cv_malloc(4096);
    memset(big, ' ', 4095);
    big[0] = '{';
    big[4094] = '}';
    big[4095] = '\0';
    struct reply r;
    request(&x, &x.a, "PUT", "/v1/jobs", big, &r);
    expect_status(&r, 413);
    reply_free(&r);
    cv_free(big);
    /* The server still answers. */
    request(&x, &x.a, "GET", "/v1/jobs", NULL, &r);
    expect_status(&r, 200);
    reply_free(&r);
    tfx_free(&x);
}

static void test_not_found_and_wrong_method(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    static const struct
    {
        const char *method, *uri;
        int status;
        const char *allow;
    } cases[] = {
        {"GET", "/v1/job/nope", 404, ""},
        {"GET", "/v1/job/nope/summary", 404, ""},
        {"GET", "/v1/job/nope/versions", 404, ""},
        {"DELETE", "/v1/job/nope", 404, ""},
        {"GET", "/v1/node/nope", 404, ""},
        {"GET", "/v1/allocation/nope", 404, ""},
        {"GET", "/v1/evaluation/nope", 404, ""},
        {"GET", "/v1/nothing", 404, ""},
        {"GET", "/v1/job/", 404, ""},
        {"GET", "/", 404, ""},
        {"DELETE", "/v1/jobs", 405, "GET, PUT, POST"},
        {"PATCH", "/v1/job/web", 405, "GET, PUT, POST, DELETE"},
        {"GET", "/v1/node/x/eligibility", 405, "PUT, POST"},
        {"PUT", "/v1/status/leader", 405, "GET"},
        {"GET", "/v1/jobs?index=abc", 400, ""},
        {"GET", "/v1/jobs?index=1&wait=5x", 400, ""},
        {"GET", "/v1/jobs?stale=maybe", 400, ""},
        {"GET", "/v1/job/web/allocations?all=perhaps", 400, ""},
        {"GET", "/v1/jobs?prefix=%zz", 400, ""},
        {"GET", "/v1/job/a%00b", 400, ""},
        {"GET", "/v1/jobs?region=elsewhere", 500, ""},
        {"GET", "/v1/jobs?region=global", 200, ""},
        {"GET", "/v1/job/nope/allocations", 200, ""},
        {"GET", "/v1/jobs?namespace=other", 200, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reply r;
        request(&x, &x.a, cases[i].method, cases[i].uri, NULL, &r);
        if (r.status != cases[i].status) {
            fprintf(stderr, "case %zu %s %s\n", i, cases[i].method, cases[i].uri);
        }
        expect_status(&r, cases[i].status);
        assert_string_equal(r.allow, cases[i].allow);
        if (cases[i].status == 404 && strncmp(cases[i].uri, "/v1/job/nope", 12) == 0 &&
            strcmp(cases[i].method, "GET") == 0 && !strstr(cases[i].uri, "versions")) {
            assert_string_equal(r.body, "job not found");
            assert_true(r.index[0] != '\0'); /* a read's 404 carries the index */
        }
        reply_free(&r);
    }
    tfx_free(&x);
}

static void test_list_stubs(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *web = web_job();
    char eval_id[37];
    register_job(&x, &x.a, web, eval_id);
    cv_free(web);
    register_node(&x.a);
    place_alloc(&x.a, eval_id);

    struct reply r;
    request(&x, &x.a, "GET", "/v1/jobs", NULL, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *list = cv_json_doc_root(doc);
    assert_u64_equal(jlen(list), 1);
    const struct cv_json *stub = list->u.array.items[0];
    assert_string_equal(jstr(stub, "ID"), "web");
    assert_string_equal(jstr(stub, "Type"), "service");
    assert_string_equal(jstr(stub, "Status"), "running");
    assert_u64_equal(juint(stub, "Priority"), 50);
    assert_false(jbool(stub, "Periodic"));
    assert_false(jbool(stub, "ParameterizedJob"));
    assert_null(cv_json_object_get(stub, "TaskGroups"));
    assert_null(cv_json_object_get(stub, "Meta"));
    const struct cv_json *summary = jget(stub, "JobSummary");
    assert_string_equal(jstr(summary, "JobID"), "web");
    const struct cv_json *fe = jget(jget(summary, "Summary"), "frontend");
    assert_u64_equal(juint(fe, "Running"), 1);
    assert_u64_equal(juint(fe, "Queued"), 0);
    assert_u64_equal(juint(jget(summary, "Children"), "Dead"), 0);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/jobs?meta=true&prefix=we", NULL, &r);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    assert_string_equal(jstr(jget(cv_json_doc_root(doc)->u.array.items[0], "Meta"), "owner"),
                        "team-a");
    cv_json_doc_free(doc);
    reply_free(&r);
    request(&x, &x.a, "GET", "/v1/jobs?prefix=x", NULL, &r);
    assert_string_equal(r.body, "[]");
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/job/web/summary", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_u64_equal(juint(jget(jget(cv_json_doc_root(doc), "Summary"), "frontend"), "Running"), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/nodes", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    list = cv_json_doc_root(doc);
    assert_u64_equal(jlen(list), 1);
    stub = list->u.array.items[0];
    assert_string_equal(jstr(stub, "ID"), NODE_ID);
    assert_string_equal(jstr(stub, "Address"), "10.0.0.7");
    assert_string_equal(jstr(stub, "Version"), "1.8.0");
    assert_string_equal(jstr(stub, "SchedulingEligibility"), "eligible");
    assert_true(jbool(jget(jget(stub, "Drivers"), "raw_exec"), "Healthy"));
    assert_null(cv_json_object_get(stub, "SecretID"));
    assert_null(cv_json_object_get(stub, "NodeResources"));
    assert_null(cv_json_object_get(stub, "Attributes"));
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/nodes?resources=true&os=true", NULL, &r);
    doc = jparse(&r);
    stub = cv_json_doc_root(doc)->u.array.items[0];
    jget(stub, "NodeResources");
    assert_string_equal(jstr(jget(stub, "Attributes"), "os.name"), "debian");
    cv_json_doc_free(doc);
    reply_free(&r);

    char uri[128];
    snprintf(uri, sizeof uri, "/v1/node/%s", NODE_ID);
    request(&x, &x.a, "GET", uri, NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_string_equal(jstr(cv_json_doc_root(doc), "SecretID"), "");
    assert_string_equal(jstr(cv_json_doc_root(doc), "Name"), "client-1");
    cv_json_doc_free(doc);
    reply_free(&r);

    snprintf(uri, sizeof uri, "/v1/node/%s/allocations", NODE_ID);
    request(&x, &x.a, "GET", uri, NULL, &r);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    static const char *const alloc_lists[] = {"/v1/allocations", "/v1/job/web/allocations",
                                              "/v1/job/web/allocations?all=true", NULL};
    for (const char *const *u = alloc_lists; *u; u++) {
        request(&x, &x.a, "GET", *u, NULL, &r);
        expect_status(&r, 200);
        doc = jparse(&r);
        list = cv_json_doc_root(doc);
        assert_u64_equal(jlen(list), 1);
        stub = list->u.array.items[0];
        assert_string_equal(jstr(stub, "ID"), ALLOC_ID);
        assert_string_equal(jstr(stub, "JobType"), "service");
        assert_u64_equal(juint(stub, "JobVersion"), 0);
        assert_string_equal(jstr(stub, "ClientStatus"), "running");
        assert_int_equal(jget(stub, "TaskStates")->type, CV_JSON_NULL); /* none reported */
        assert_null(cv_json_object_get(stub, "Job"));
        assert_null(cv_json_object_get(stub, "AllocatedResources"));
        cv_json_doc_free(doc);
        reply_free(&r);
    }
    snprintf(uri, sizeof uri, "/v1/evaluation/%s/allocations", eval_id);
    request(&x, &x.a, "GET", uri, NULL, &r);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    cv_json_doc_free(doc);
    reply_free(&r);

    snprintf(uri, sizeof uri, "/v1/allocation/%s", ALLOC_ID);
    request(&x, &x.a, "GET", uri, NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    assert_string_equal(jstr(jget(cv_json_doc_root(doc), "Job"), "ID"), "web");
    cv_json_doc_free(doc);
    reply_free(&r);
    tfx_free(&x);
}

static void test_versions_stop_and_purge(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *v0 = job_text("web", 3);
    char *v1 = job_text("web", 5);
    register_job(&x, &x.a, v0, NULL);
    register_job(&x, &x.a, v1, NULL);

    /* The same spec again: a new evaluation, no new version. */
    struct reply r;
    request(&x, &x.a, "PUT", "/v1/jobs", v1, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    assert_u64_equal(juint(cv_json_doc_root(doc), "JobModifyIndex"), 2);
    assert_u64_equal(juint(cv_json_doc_root(doc), "Index"), 3);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/job/web/versions", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    const struct cv_json *o = cv_json_doc_root(doc);
    const struct cv_json *versions = jget(o, "Versions");
    assert_u64_equal(jlen(versions), 2);
    assert_u64_equal(juint(versions->u.array.items[0], "Version"), 1);
    assert_u64_equal(juint(versions->u.array.items[1], "Version"), 0);
    assert_int_equal(jget(o, "Diffs")->type, CV_JSON_NULL);
    assert_u64_equal(juint(o, "Index"), 2);
    assert_u64_equal(header_u64(r.index), 2);
    cv_json_doc_free(doc);
    reply_free(&r);

    request(&x, &x.a, "GET", "/v1/job/web/evaluations", NULL, &r);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 3);
    cv_json_doc_free(doc);
    reply_free(&r);

    /* EnforceIndex against the stored JobModifyIndex (2). */
    struct cv_buf b = CV_BUF_INIT;
    const char *end = strrchr(v1, '}');
    cv_buf_append(&b, v1, (size_t)(end - v1));
    cv_buf_append_str(&b, ", \"EnforceIndex\": true, \"JobModifyIndex\": 1}");
    request(&x, &x.a, "PUT", "/v1/jobs", b.data, &r);
    expect_status(&r, 409);
    assert_non_null(strstr(r.body, "Enforcing job modify index 1"));
    reply_free(&r);
    cv_buf_free(&b);

    /* Stop: a new version with Stop and a job-deregister evaluation. */
    request(&x, &x.a, "DELETE", "/v1/job/web", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    char eval_id[37];
    snprintf(eval_id, sizeof eval_id, "%s", jstr(cv_json_doc_root(doc), "EvalID"));
    assert_true(cv_uuid_valid(eval_id));
    assert_string_equal(jstr(cv_json_doc_root(doc), "VolumeEvalID"), "");
    cv_json_doc_free(doc);
    reply_free(&r);
    request(&x, &x.a, "GET", "/v1/job/web", NULL, &r);
    doc = jparse(&r);
    assert_true(jbool(cv_json_doc_root(doc), "Stop"));
    cv_json_doc_free(doc);
    reply_free(&r);
    char uri[96];
    snprintf(uri, sizeof uri, "/v1/evaluation/%s", eval_id);
    request(&x, &x.a, "GET", uri, NULL, &r);
    doc = jparse(&r);
    assert_string_equal(jstr(cv_json_doc_root(doc), "TriggeredBy"), "job-deregister");
    cv_json_doc_free(doc);
    reply_free(&r);

    /* Purge: gone, its evaluations stay. */
    request(&x, &x.a, "DELETE", "/v1/job/web?purge=true", NULL, &r);
    expect_status(&r, 200);
    reply_free(&r);
    request(&x, &x.a, "GET", "/v1/job/web", NULL, &r);
    expect_status(&r, 404);
    reply_free(&r);
    request(&x, &x.a, "GET", "/v1/job/web/evaluations", NULL, &r);
    doc = jparse(&r);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 5);
    cv_json_doc_free(doc);
    reply_free(&r);
    request(&x, &x.a, "DELETE", "/v1/job/web?purge=maybe", NULL, &r);
    expect_status(&r, 400);
    reply_free(&r);
    cv_free(v0);
    cv_free(v1);
    tfx_free(&x);
}

int main(void)
{
    cv_log_set_level(CV_LOG_ERROR);
    /* Before any event_base: state watches may fire on another thread. */
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        CV_TEST(test_register_and_read),
        CV_TEST(test_invalid_job_is_400_with_field_paths),
        CV_TEST(test_body_over_the_limit_is_413),
        CV_TEST(test_not_found_and_wrong_method),
        CV_TEST(test_list_stubs),
        CV_TEST(test_versions_stop_and_purge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
