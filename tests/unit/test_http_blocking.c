/*
 * test_http_blocking: the region server's HTTP API (regiond/http.h) over real
 * sockets on 127.0.0.1, with libevent's HTTP client, against a fake
 * backend: a real state store and the real FSM, where a proposal is
 * applied by fsm_apply at the next index from a zero-delay event (so it
 * completes asynchronously, as through Raft), and a forward hands the
 * request, encoded and decoded with http_fwd, to a second server's
 * http_handle_forwarded.
 *
 * This program: blocking queries (woken, timed out, woken from another
 * thread), forwarding to the leader and stale reads, no leader, freeing
 * with requests in flight, the forwarding codec and bad options.
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

static void test_blocking_query_wakes_on_change(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *a = job_text("a", 1);
    char *b = job_text("b", 1);
    register_job(&x, &x.a, a, NULL);

    struct reply r;
    request(&x, &x.a, "GET", "/v1/jobs", NULL, &r);
    uint64_t index = header_u64(r.index);
    reply_free(&r);

    char uri[96];
    snprintf(uri, sizeof uri, "/v1/jobs?index=%llu&wait=5s", (unsigned long long)index);
    struct reply blocked;
    start(&x, &x.a, "GET", uri, NULL, 0, &blocked);
    spin(&x);
    assert_false(blocked.done);
    struct http_stats st;
    http_server_stats(x.a.http, &st);
    assert_u64_equal(st.waiting, 1);

    /* A write to another table does not wake it for good: it waits on. */
    register_node(&x.a);
    spin(&x);
    assert_false(blocked.done);

    /* A new job does. */
    struct reply w;
    start(&x, &x.a, "PUT", "/v1/jobs", b, strlen(b), &w);
    wait_reply(&x, &w);
    expect_status(&w, 200);
    reply_free(&w);
    wait_reply(&x, &blocked);
    expect_status(&blocked, 200);
    assert_true(header_u64(blocked.index) > index);
    struct cv_json_doc *doc = jparse(&blocked);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 2);
    cv_json_doc_free(doc);
    reply_free(&blocked);
    http_server_stats(x.a.http, &st);
    assert_u64_equal(st.waiting, 0);
    assert_true(st.blocked >= 1);

    /* A single object: wakes only when that object changes. */
    request(&x, &x.a, "GET", "/v1/job/a", NULL, &r);
    uint64_t a_index = header_u64(r.index);
    reply_free(&r);
    snprintf(uri, sizeof uri, "/v1/job/a?index=%llu&wait=5s", (unsigned long long)a_index);
    start(&x, &x.a, "GET", uri, NULL, 0, &blocked);
    spin(&x);
    char *b2 = job_text("b", 2);
    request(&x, &x.a, "PUT", "/v1/job/b", b2, &w);
    expect_status(&w, 200);
    reply_free(&w);
    cv_free(b2);
    spin(&x);
    assert_false(blocked.done); /* job b changed, not a */
    char *a2 = job_text("a", 2);
    request(&x, &x.a, "PUT", "/v1/job/a", a2, &w);
    reply_free(&w);
    wait_reply(&x, &blocked);
    expect_status(&blocked, 200);
    assert_true(header_u64(blocked.index) > a_index);
    reply_free(&blocked);
    cv_free(a2);
    cv_free(a);
    cv_free(b);
    tfx_free(&x);
}

static void test_blocking_query_times_out(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    struct reply r;
    request(&x, &x.a, "GET", "/v1/nodes", NULL, &r);
    assert_u64_equal(header_u64(r.index), 1); /* never 0 */
    reply_free(&r);
    char *web = web_job();
    register_job(&x, &x.a, web, NULL); /* index 1 */
    cv_free(web);
    request(&x, &x.a, "GET", "/v1/nodes", NULL, &r);
    uint64_t index = header_u64(r.index);
    assert_u64_equal(index, 1);
    reply_free(&r);
    char uri[96];
    snprintf(uri, sizeof uri, "/v1/nodes?index=%llu&wait=200ms", (unsigned long long)index);
    request(&x, &x.a, "GET", uri, NULL, &r);
    expect_status(&r, 200);
    assert_u64_equal(header_u64(r.index), index);
    assert_true(r.got_ns - r.sent_ns >= 190u * 1000000u);
    assert_string_equal(r.body, "[]");
    reply_free(&r);
    /* A 404 blocks too, until the object appears. */
    snprintf(uri, sizeof uri, "/v1/node/%s?index=%llu&wait=5s", NODE_ID, (unsigned long long)index);
    struct reply blocked;
    start(&x, &x.a, "GET", uri, NULL, 0, &blocked);
    spin(&x);
    assert_false(blocked.done);
    register_node(&x.a);
    wait_reply(&x, &blocked);
    expect_status(&blocked, 200);
    reply_free(&blocked);
    tfx_free(&x);
}

static void *commit_node(void *arg)
{
    register_node(arg);
    return NULL;
}

/* The state watch fires on the thread that commits; with libevent's
 * locking on (main), the loop thread still gets the wake-up. */
static void test_blocking_query_woken_from_another_thread(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    char *web = web_job();
    register_job(&x, &x.a, web, NULL); /* index 1 */
    cv_free(web);
    struct reply blocked;
    start(&x, &x.a, "GET", "/v1/nodes?index=1&wait=5s", NULL, 0, &blocked);
    spin(&x);
    assert_false(blocked.done);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_node, &x.a), 0);
    wait_reply(&x, &blocked);
    assert_int_equal(pthread_join(t, NULL), 0);
    expect_status(&blocked, 200);
    assert_u64_equal(header_u64(blocked.index), 2);
    struct cv_json_doc *doc = jparse(&blocked);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 1);
    cv_json_doc_free(doc);
    reply_free(&blocked);
    tfx_free(&x);
}

static void test_follower_forwards_and_serves_stale(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    tfx_add_follower(&x);
    char *web = web_job();
    struct reply r;
    /* A write on the follower is the leader's. */
    request(&x, &x.b, "PUT", "/v1/jobs", web, &r);
    expect_status(&r, 200);
    assert_u64_equal(header_u64(r.index), 1);
    reply_free(&r);
    assert_u64_equal(x.forwards, 1);
    struct state_snap *snap = state_snapshot(x.a.st);
    assert_u64_equal(state_table_count(snap, STATE_JOBS), 1);
    state_snapshot_release(snap);
    snap = state_snapshot(x.b.st);
    assert_u64_equal(state_table_count(snap, STATE_JOBS), 0);
    state_snapshot_release(snap);

    /* A read without ?stale too: the leader's state has the job... */
    request(&x, &x.b, "GET", "/v1/job/web", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.known_leader, "true");
    assert_string_equal(r.last_contact, "0"); /* the leader's headers, relayed */
    reply_free(&r);
    /* ...while ?stale reads the follower's own, which has not caught up. */
    request(&x, &x.b, "GET", "/v1/job/web?stale", NULL, &r);
    expect_status(&r, 404);
    assert_string_equal(r.last_contact, "42");
    reply_free(&r);
    request(&x, &x.b, "GET", "/v1/jobs?stale=true", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.body, "[]");
    reply_free(&r);
    /* Errors are relayed too. */
    request(&x, &x.b, "PUT", "/v1/jobs", "{", &r);
    expect_status(&r, 400);
    reply_free(&r);
    /* Local endpoints are answered here. */
    uint64_t before = x.forwards;
    request(&x, &x.b, "GET", "/v1/status/leader", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.body, "\"127.0.0.1:4647\"");
    reply_free(&r);
    assert_u64_equal(x.forwards, before);

    struct http_stats st;
    http_server_stats(x.b.http, &st);
    assert_u64_equal(st.forwarded_out, 3);
    http_server_stats(x.a.http, &st);
    assert_u64_equal(st.forwarded_in, 3);

    /* A blocking read forwarded to the leader waits there. */
    char uri[96];
    snprintf(uri, sizeof uri, "/v1/jobs?index=%llu&wait=5s", (unsigned long long)x.a.index);
    struct reply blocked;
    start(&x, &x.b, "GET", uri, NULL, 0, &blocked);
    spin(&x);
    assert_false(blocked.done);
    char *other = job_text("other", 1);
    request(&x, &x.a, "PUT", "/v1/jobs", other, &r);
    reply_free(&r);
    wait_reply(&x, &blocked);
    expect_status(&blocked, 200);
    struct cv_json_doc *doc = jparse(&blocked);
    assert_u64_equal(jlen(cv_json_doc_root(doc)), 2);
    cv_json_doc_free(doc);
    reply_free(&blocked);
    cv_free(other);
    cv_free(web);
    tfx_free(&x);
}

static void test_no_leader_is_503(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    tfx_add_follower(&x);
    x.b.leader_be = NULL;
    x.b.known_leader = false;
    char *web = web_job();
    struct reply r;
    request(&x, &x.b, "PUT", "/v1/jobs", web, &r);
    expect_status(&r, 503);
    assert_string_equal(r.body, "No cluster leader");
    assert_string_equal(r.known_leader, "false");
    reply_free(&r);
    request(&x, &x.b, "GET", "/v1/jobs", NULL, &r);
    expect_status(&r, 503);
    reply_free(&r);
    request(&x, &x.b, "GET", "/v1/jobs?stale", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.known_leader, "false");
    reply_free(&r);
    request(&x, &x.b, "GET", "/v1/status/leader", NULL, &r);
    expect_status(&r, 200);
    assert_string_equal(r.body, "\"\"");
    reply_free(&r);
    /* A write forwarded to a server that has lost leadership since: it is
     * not forwarded again, its proposal is refused, 503; nothing written. */
    x.b.leader_be = &x.a;
    x.a.leader = false;
    request(&x, &x.b, "PUT", "/v1/jobs", web, &r);
    expect_status(&r, 503);
    reply_free(&r);
    struct state_snap *snap = state_snapshot(x.a.st);
    assert_u64_equal(state_table_count(snap, STATE_JOBS), 0);
    state_snapshot_release(snap);
    cv_free(web);
    tfx_free(&x);
}

/* Freeing a server with a blocking query waiting, a proposal in flight and
 * a forwarded request waiting on the leader: no crash, no leak. */
static void test_free_with_requests_in_flight(void **state)
{
    (void)state;
    struct tfx x;
    tfx_init(&x, 0);
    tfx_add_follower(&x);
    char *web = web_job();
    struct reply blocked, writing, fwd;
    start(&x, &x.a, "GET", "/v1/jobs?index=5&wait=10s", NULL, 0, &blocked);
    start(&x, &x.b, "GET", "/v1/jobs?index=7&wait=10s", NULL, 0, &fwd);
    spin(&x);
    start(&x, &x.a, "PUT", "/v1/jobs", web, strlen(web), &writing);
    /* Run until the proposal is held by the backend, not applied. */
    for (int i = 0; i < 1000 && !x.ops; i++) {
        event_base_loop(x.base, EVLOOP_ONCE);
    }
    assert_false(blocked.done);
    assert_false(fwd.done);
    assert_false(writing.done);
    /* The clients go away first (their callbacks never run); the servers
     * do not notice until they reply. */
    reply_free(&blocked);
    reply_free(&writing);
    reply_free(&fwd);
    tfx_free(&x);
    cv_free(web);
}

/* ---- the forwarding codec ----------------------------------------------------------------- */

static void test_fwd_codec(void **state)
{
    (void)state;
    const char body[] = {'{', '\0', '\xff', '}'};
    struct http_fwd_request req = {"PUT", "/v1/job/a%2Fb?index=3", body, sizeof body, 4242};
    struct cv_buf buf = CV_BUF_INIT;
    assert_int_equal(http_fwd_encode_request(&req, 1024, &buf, NULL), 0);
    struct http_fwd_decoded_request *dq = NULL;
    assert_int_equal(http_fwd_decode_request(buf.data, buf.len, 1024, &dq, NULL), 0);
    assert_string_equal(dq->req.method, "PUT");
    assert_string_equal(dq->req.uri, "/v1/job/a%2Fb?index=3");
    assert_int_equal(dq->req.body_len, sizeof body);
    assert_memory_equal(dq->req.body, body, sizeof body);
    assert_int_equal(dq->req.timeout_ms, 4242);
    http_fwd_decoded_free(dq);
    /* Every truncation, and one byte too many, is refused. */
    for (size_t n = 0; n < buf.len; n++) {
        struct cv_err err = {0};
        assert_int_equal(http_fwd_decode_request(buf.data, n, 1024, &dq, &err), CV_EPARSE);
        assert_null(dq);
    }
    cv_buf_append_char(&buf, 'x');
    assert_int_equal(http_fwd_decode_request(buf.data, buf.len, 1024, &dq, NULL), CV_EPARSE);
    /* A body over the limit. */
    assert_int_equal(http_fwd_decode_request(buf.data, buf.len - 1, 2, &dq, NULL), CV_ETOOBIG);
    assert_int_equal(http_fwd_encode_request(&req, 2, &buf, NULL), CV_EINVAL);
    /* A response as a request, and a bad version. */
    struct http_fwd_response resp = {.status = 404, .n_headers = 2, .body = "nope", .body_len = 4};
    resp.headers[0] = (struct http_fwd_header){"Content-Type", "text/plain"};
    resp.headers[1] = (struct http_fwd_header){"X-Nomad-Index", "12"};
    assert_int_equal(http_fwd_encode_response(&resp, &buf, NULL), 0);
    assert_int_equal(http_fwd_decode_request(buf.data, buf.len, 1024, &dq, NULL), CV_EPARSE);
    struct http_fwd_decoded_response *dr = NULL;
    assert_int_equal(http_fwd_decode_response(buf.data, buf.len, 1024, &dr, NULL), 0);
    assert_int_equal(dr->resp.status, 404);
    assert_int_equal(dr->resp.n_headers, 2);
    assert_string_equal(http_fwd_header_get(&dr->resp, "x-nomad-index"), "12");
    assert_null(http_fwd_header_get(&dr->resp, "Allow"));
    assert_memory_equal(dr->resp.body, "nope", 4);
    http_fwd_decoded_free(dr);
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_equal(http_fwd_decode_response(buf.data, n, 1024, &dr, NULL), CV_EPARSE);
    }
    buf.data[0] = 9;
    assert_int_equal(http_fwd_decode_response(buf.data, buf.len, 1024, &dr, NULL), CV_EPARSE);
    resp.status = 42;
    assert_int_equal(http_fwd_encode_response(&resp, &buf, NULL), CV_EINVAL);
    cv_buf_free(&buf);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct http_backend ops = {0};
    struct http_options o = {.bind_addr = "localhost"};
    struct cv_err err = {0};
    assert_null(http_server_new(base, &ops, &o, &err));
    assert_int_equal(err.code, CV_EINVAL);
    static const char *const bad_configs[] = {"[1]", "{", "\"x\""};
    for (size_t i = 0; i < 3; i++) {
        struct http_options o2 = {.agent_config_json = bad_configs[i]};
        memset(&err, 0, sizeof err);
        assert_null(http_server_new(base, &ops, &o2, &err));
        assert_int_equal(err.code, CV_EINVAL);
    }
    /* A port in use. */
    struct tfx x;
    tfx_init(&x, 0);
    struct http_options o3 = {.port = http_server_port(x.a.http)};
    memset(&err, 0, sizeof err);
    assert_null(http_server_new(base, &ops, &o3, &err));
    assert_int_equal(err.code, CV_EUNAVAILABLE);
    tfx_free(&x);
    event_base_free(base);
}

int main(void)
{
    cv_log_set_level(CV_LOG_ERROR);
    /* Before any event_base: state watches may fire on another thread. */
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        CV_TEST(test_blocking_query_wakes_on_change),
        CV_TEST(test_blocking_query_times_out),
        CV_TEST(test_blocking_query_woken_from_another_thread),
        CV_TEST(test_follower_forwards_and_serves_stale),
        CV_TEST(test_no_leader_is_503),
        CV_TEST(test_free_with_requests_in_flight),
        CV_TEST(test_fwd_codec),
        CV_TEST(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
