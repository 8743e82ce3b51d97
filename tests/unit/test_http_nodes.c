/*
 * test_http_nodes: the region server's HTTP API (regiond/http.h) over real
 * sockets on 127.0.0.1, with libevent's HTTP client, against a fake
 * backend: a real state store and the real FSM, where a proposal is
 * applied by fsm_apply at the next index from a zero-delay event (so it
 * completes asynchronously, as through Raft), and a forward hands the
 * request, encoded and decoded with http_fwd, to a second server's
 * http_handle_forwarded.
 *
 * This program: node eligibility, node drain, /v1/status and agent/self.
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

static void test_node_eligibility(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    register_node(&x.a);
    char uri[128];
    snprintf(uri, sizeof uri, "/v1/node/%s/eligibility", NODE_ID);
    struct reply r;
    request(&x, &x.a, "POST", uri, "{\"Eligibility\": \"ineligible\"}", &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    uint64_t index = juint(cv_json_doc_root(doc), "Index");
    assert_u64_equal(juint(cv_json_doc_root(doc), "NodeModifyIndex"), index);
    assert_u64_equal(header_u64(r.index), index);
    cv_json_doc_free(doc);
    reply_free(&r);

    snprintf(uri, sizeof uri, "/v1/node/%s", NODE_ID);
    request(&x, &x.a, "GET", uri, NULL, &r);
    doc = jparse(&r);
    assert_string_equal(jstr(cv_json_doc_root(doc), "SchedulingEligibility"), "ineligible");
    cv_json_doc_free(doc);
    reply_free(&r);

    snprintf(uri, sizeof uri, "/v1/node/%s/eligibility", NODE_ID);
    request(&x, &x.a, "PUT", uri, "{\"Eligibility\": \"maybe\"}", &r);
    expect_status(&r, 400);
    assert_non_null(strstr(r.body, "invalid scheduling eligibility"));
    reply_free(&r);
    request(&x, &x.a, "PUT", "/v1/node/99999999-0000-4000-8000-000000000009/eligibility",
            "{\"Eligibility\": \"eligible\"}", &r);
    expect_status(&r, 404);
    reply_free(&r);
    tfx_free(&x);
}

/* GET /v1/node/:id as parsed JSON (the caller frees the document). */
static struct cv_json_doc *get_node(struct tfx *x, struct srv_be *be)
{
    char uri[128];
    snprintf(uri, sizeof uri, "/v1/node/%s", NODE_ID);
    struct reply r;
    request(x, be, "GET", uri, NULL, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    reply_free(&r);
    return doc;
}

/* Unix seconds of an RFC 3339 UTC time as this server writes them
 * ("2026-01-01T00:00:00.25Z"); the date by Howard Hinnant's
 * days_from_civil. */
static int64_t time_secs(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    assert_int_equal(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n), 6);
    assert_true(s[n] == '.' || s[n] == 'Z');
    assert_true(s[strlen(s) - 1] == 'Z');
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

static int64_t wall_secs(void)
{
    return cv_clock_wall_ns(cv_clock_system()) / CV_NSEC_PER_SEC;
}

static void test_node_drain(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    register_node(&x.a);
    char uri[128];
    snprintf(uri, sizeof uri, "/v1/node/%s/drain", NODE_ID);
    struct reply r;

    /* On, with a deadline of an hour: Nomad's NodeDrainUpdateResponse. */
    int64_t t0 = wall_secs();
    request(&x, &x.a, "POST", uri,
            "{\"DrainSpec\": {\"Deadline\": 3600000000000, \"IgnoreSystemJobs\": true},"
            " \"MarkEligible\": false, \"Meta\": {\"reason\": \"kernel upgrade\"}}",
            &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *root = cv_json_doc_root(doc);
    uint64_t index = juint(root, "Index");
    assert_u64_equal(juint(root, "NodeModifyIndex"), index);
    assert_u64_equal(jlen(jget(root, "EvalIDs")), 0);
    assert_u64_equal(juint(root, "EvalCreateIndex"), 0);
    assert_u64_equal(header_u64(r.index), index);
    cv_json_doc_free(doc);
    reply_free(&r);

    doc = get_node(&x, &x.a);
    root = cv_json_doc_root(doc);
    assert_string_equal(jstr(root, "SchedulingEligibility"), "ineligible");
    assert_true(jbool(root, "Drain"));
    assert_u64_equal(juint(root, "ModifyIndex"), index);
    const struct cv_json *ds = jget(root, "DrainStrategy");
    assert_u64_equal(juint(ds, "Deadline"), 3600000000000);
    assert_true(jbool(ds, "IgnoreSystemJobs"));
    int64_t started = time_secs(jstr(ds, "StartedAt"));
    int64_t force = time_secs(jstr(ds, "ForceDeadline"));
    assert_true(started >= t0 && started <= wall_secs());
    assert_i64_equal(force - started, 3600); /* both from the same now */
    char first_start[64];
    snprintf(first_start, sizeof first_start, "%s", jstr(ds, "StartedAt"));
    cv_json_doc_free(doc);

    /* "eligible" is still refused while draining. */
    char elig[128];
    snprintf(elig, sizeof elig, "/v1/node/%s/eligibility", NODE_ID);
    request(&x, &x.a, "PUT", elig, "{\"Eligibility\": \"eligible\"}", &r);
    expect_status(&r, 400);
    assert_non_null(strstr(r.body, "while it is draining"));
    reply_free(&r);

    /* An update to a force drain (Deadline -1) keeps the start; a force
     * drain has Go's zero time as ForceDeadline. */
    request(&x, &x.a, "PUT", uri, "{\"DrainSpec\": {\"Deadline\": -1}}", &r);
    expect_status(&r, 200);
    reply_free(&r);
    doc = get_node(&x, &x.a);
    ds = jget(cv_json_doc_root(doc), "DrainStrategy");
    assert_string_equal(jstr(ds, "StartedAt"), first_start);
    assert_string_equal(jstr(ds, "ForceDeadline"), "0001-01-01T00:00:00Z");
    assert_false(jbool(ds, "IgnoreSystemJobs"));
    cv_json_doc_free(doc);

    /* Off with MarkEligible: eligible again, no strategy. */
    request(&x, &x.a, "POST", uri, "{\"DrainSpec\": null, \"MarkEligible\": true}", &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    index = juint(cv_json_doc_root(doc), "Index");
    cv_json_doc_free(doc);
    reply_free(&r);
    doc = get_node(&x, &x.a);
    root = cv_json_doc_root(doc);
    assert_string_equal(jstr(root, "SchedulingEligibility"), "eligible");
    assert_false(jbool(root, "Drain"));
    assert_int_equal(jget(root, "DrainStrategy")->type, CV_JSON_NULL);
    assert_u64_equal(juint(root, "ModifyIndex"), index);
    cv_json_doc_free(doc);

    /* Malformed bodies: 400 naming the field; nothing proposed. */
    static const struct
    {
        const char *body;
        const char *want;
    } bad[] = {
        {"", "Request body is empty"},
        {"[]", "must be a JSON object"},
        {"{\"DrainSpec\": 5}", "DrainSpec: must be an object"},
        {"{\"DrainSpec\": {\"Deadline\": \"1h\"}}", "DrainSpec.Deadline: must be an integer"},
        {"{\"DrainSpec\": {\"Deadline\": 1.5}}", "DrainSpec.Deadline: must be an integer"},
        {"{\"DrainSpec\": {\"IgnoreSystemJobs\": \"yes\"}}",
         "DrainSpec.IgnoreSystemJobs: must be a boolean"},
        {"{\"MarkEligible\": 1}", "MarkEligible: must be a boolean"},
        {"{\"Meta\": []}", "Meta: must be an object"},
        {"{\"Meta\": {\"a\": 1}}", "Meta.a: must be a string"},
        {"{\"NodeID\": 7}", "NodeID: must be a string"},
    };
    uint64_t before = x.a.index;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        request(&x, &x.a, "POST", uri, bad[i].body, &r);
        if (r.status != 400 || !strstr(r.body, bad[i].want)) {
            fprintf(stderr, "body %s: %d %s\n", bad[i].body, r.status, r.body);
        }
        expect_status(&r, 400);
        assert_non_null(strstr(r.body, bad[i].want));
        reply_free(&r);
    }
    assert_u64_equal(x.a.index, before);

    /* An unknown node: 404. */
    request(&x, &x.a, "POST", "/v1/node/99999999-0000-4000-8000-000000000009/drain",
            "{\"DrainSpec\": {\"Deadline\": 0}}", &r);
    expect_status(&r, 404);
    assert_string_equal(r.body, "node not found");
    reply_free(&r);

    /* Through a follower: forwarded, written by the leader. */
    tfx_add_follower(&x);
    uint64_t forwards = x.forwards;
    request(&x, &x.b, "PUT", uri, "{\"DrainSpec\": {\"Deadline\": 0}}", &r);
    expect_status(&r, 200);
    assert_u64_equal(x.forwards, forwards + 1);
    assert_u64_equal(header_u64(r.index), x.a.index);
    reply_free(&r);
    doc = get_node(&x, &x.a);
    root = cv_json_doc_root(doc);
    assert_string_equal(jstr(root, "SchedulingEligibility"), "ineligible");
    ds = jget(root, "DrainStrategy");
    assert_u64_equal(juint(ds, "Deadline"), 0);
    assert_string_equal(jstr(ds, "ForceDeadline"), "0001-01-01T00:00:00Z");
    cv_json_doc_free(doc);
    /* The follower's own state has no node: it was not written there. */
    struct state_snap *snap = state_snapshot(x.b.st);
    assert_null(state_node(snap, NODE_ID));
    state_snapshot_release(snap);
    tfx_free(&x);
}

static void test_status_and_agent_self(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    struct reply r;
    request(&x, &x.a, "GET", "/v1/status/peers", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.body, "[\"127.0.0.1:4647\",\"127.0.0.1:5647\",\"127.0.0.1:6647\"]");
    reply_free(&r);
    request(&x, &x.a, "GET", "/v1/agent/self", NULL, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    const struct cv_json *o = cv_json_doc_root(doc);
    assert_string_equal(jstr(jget(o, "config"), "Region"), "global");
    assert_string_equal(jstr(jget(o, "config"), "Datacenter"), "dc1");
    assert_string_equal(jstr(jget(o, "member"), "Name"), "server-1.global");
    assert_string_equal(jstr(jget(o, "member"), "Addr"), "127.0.0.1");
    assert_u64_equal(juint(jget(o, "member"), "Port"), 4647);
    assert_string_equal(jstr(jget(jget(o, "stats"), "nomad"), "leader"), "true");
    assert_string_equal(jstr(jget(jget(o, "stats"), "raft"), "num_peers"), "2");
    cv_json_doc_free(doc);
    reply_free(&r);
    tfx_free(&x);

    /* The daemon's own config object, as given. */
    next_agent_config = "{\"Region\": \"global\", \"DataDir\": \"/var/lib/caravan\"}";
    tfx_init(&x, 0);
    next_agent_config = NULL;
    request(&x, &x.a, "GET", "/v1/agent/self", NULL, &r);
    expect_status(&r, 200);
    doc = jparse(&r);
    o = cv_json_doc_root(doc);
    assert_string_equal(jstr(jget(o, "config"), "DataDir"), "/var/lib/caravan");
    assert_string_equal(jstr(jget(o, "member"), "Name"), "server-1.global");
    cv_json_doc_free(doc);
    reply_free(&r);
    tfx_free(&x);
}

int main(void)
{
    cv_log_set_level(CV_LOG_ERROR);
    /* Before any event_base: state watches may fire on another thread. */
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        CV_TEST(test_node_eligibility),
        CV_TEST(test_node_drain),
        CV_TEST(test_status_and_agent_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
