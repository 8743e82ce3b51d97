/*
 * test_http: the region server's HTTP API (regiond/http.h) over real
 * sockets on 127.0.0.1, with libevent's HTTP client, against a fake
 * backend: a real state store and the real FSM, where a proposal is
 * applied by fsm_apply at the next index from a zero-delay event (so it
 * completes asynchronously, as through Raft), and a forward hands the
 * request, encoded and decoded with http_fwd, to a second server's
 * http_handle_forwarded.
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

#define GUARD_MS 10000

/* ---- the fake backend ------------------------------------------------------------------ */

struct tfx;

struct srv_be
{
    struct tfx *x;
    struct state_store *st;
    struct fsm *fsm;
    uint64_t index;
    bool leader;
    bool known_leader;
    struct srv_be *leader_be; /* where forwards go; NULL: none (CV_EUNAVAILABLE) */
    struct http_server *http;
};

/* An operation the backend holds: a proposal not yet applied, or a
 * forward not yet answered. */
struct op
{
    struct tfx *x;
    struct op *prev, *next;
    struct srv_be *be;
    struct event *ev;
    bool is_forward;
    bool dispatched; /* a forward handed to the leader */
    void *cmd;
    size_t len;
    http_propose_cb pcb;
    struct http_fwd_decoded_request *req;
    http_fwd_cb fcb;
    void *arg;
};

struct tfx
{
    struct event_base *base;
    struct srv_be a, b; /* a: the leader; b: a follower when used */
    struct op *ops;
    uint64_t forwards;
};

static void op_unlink(struct op *o)
{
    if (o->prev) {
        o->prev->next = o->next;
    } else {
        o->x->ops = o->next;
    }
    if (o->next) {
        o->next->prev = o->prev;
    }
}

static void op_free(struct op *o)
{
    op_unlink(o);
    if (o->ev) {
        event_free(o->ev);
    }
    cv_free(o->cmd);
    http_fwd_decoded_free(o->req);
    cv_free(o);
}

static struct op *op_new(struct srv_be *be, void (*fn)(evutil_socket_t, short, void *))
{
    struct op *o = cv_calloc(1, sizeof *o);
    o->x = be->x;
    o->be = be;
    o->next = be->x->ops;
    if (o->next) {
        o->next->prev = o;
    }
    be->x->ops = o;
    o->ev = event_new(be->x->base, -1, 0, fn, o);
    event_active(o->ev, 0, 0);
    return o;
}

static struct state_store *be_state(void *data)
{
    return ((struct srv_be *)data)->st;
}

static bool be_is_leader(void *data)
{
    return ((struct srv_be *)data)->leader;
}

static bool be_known_leader(void *data)
{
    return ((struct srv_be *)data)->known_leader;
}

static uint64_t be_last_contact(void *data)
{
    return ((struct srv_be *)data)->leader ? 0 : 42;
}

static void run_proposal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct op *o = arg;
    struct fsm_result res;
    memset(&res, 0, sizeof res);
    uint64_t index = ++o->be->index;
    assert_int_equal(fsm_apply(o->be->fsm, index, o->cmd, o->len, &res), 0);
    http_propose_cb cb = o->pcb;
    void *cb_arg = o->arg;
    op_free(o);
    cb(cb_arg, 0, index, &res);
}

static int be_propose(void *data, const void *cmd, size_t len, http_propose_cb cb, void *arg)
{
    struct srv_be *be = data;
    if (!be->leader) {
        return CV_ENOTLEADER;
    }
    struct op *o = op_new(be, run_proposal);
    o->cmd = cv_malloc(len);
    memcpy(o->cmd, cmd, len);
    o->len = len;
    o->pcb = cb;
    o->arg = arg;
    return 0;
}

/* The leader's answer travels back encoded and decoded, as over RPC. */
static void on_leader_answer(void *arg, int status, const struct http_fwd_response *resp)
{
    struct op *o = arg;
    assert_int_equal(status, 0);
    struct cv_buf buf = CV_BUF_INIT;
    assert_int_equal(http_fwd_encode_response(resp, &buf, NULL), 0);
    struct http_fwd_decoded_response *dec = NULL;
    assert_int_equal(http_fwd_decode_response(buf.data, buf.len, SIZE_MAX, &dec, NULL), 0);
    cv_buf_free(&buf);
    http_fwd_cb cb = o->fcb;
    void *cb_arg = o->arg;
    op_free(o);
    cb(cb_arg, 0, &dec->resp);
    http_fwd_decoded_free(dec);
}

static void run_forward(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct op *o = arg;
    o->dispatched = true;
    o->x->forwards++;
    http_handle_forwarded(o->be->leader_be->http, &o->req->req, on_leader_answer, o);
}

static int be_forward(void *data, const struct http_fwd_request *req, http_fwd_cb cb, void *arg)
{
    struct srv_be *be = data;
    if (!be->leader_be || !be->leader_be->http) {
        return CV_EUNAVAILABLE;
    }
    struct cv_buf buf = CV_BUF_INIT;
    assert_int_equal(http_fwd_encode_request(req, SIZE_MAX, &buf, NULL), 0);
    struct op *o = op_new(be, run_forward);
    o->is_forward = true;
    assert_int_equal(http_fwd_decode_request(buf.data, buf.len, SIZE_MAX, &o->req, NULL), 0);
    cv_buf_free(&buf);
    o->fcb = cb;
    o->arg = arg;
    return 0;
}

static void be_leader_addr(void *data, char buf[HTTP_ADDR_MAX])
{
    struct srv_be *be = data;
    snprintf(buf, HTTP_ADDR_MAX, "%s", be->known_leader ? "127.0.0.1:4647" : "");
}

static size_t be_peers(void *data, char (*addrs)[HTTP_ADDR_MAX], size_t cap)
{
    (void)data;
    static const char *const peers[] = {"127.0.0.1:4647", "127.0.0.1:5647", "127.0.0.1:6647"};
    size_t n = 0;
    for (; n < 3 && n < cap; n++) {
        snprintf(addrs[n], HTTP_ADDR_MAX, "%s", peers[n]);
    }
    return n;
}

/* agent/self's config for the next server made (NULL: the default). */
static const char *next_agent_config;

static void be_init(struct tfx *x, struct srv_be *be, bool leader, size_t max_body)
{
    be->x = x;
    be->st = state_store_new(NULL);
    be->fsm = fsm_new(be->st);
    be->leader = leader;
    be->known_leader = true;
    struct http_backend ops = {
        .data = be,
        .state = be_state,
        .is_leader = be_is_leader,
        .known_leader = be_known_leader,
        .last_contact_ms = be_last_contact,
        .propose = be_propose,
        .forward = be_forward,
        .leader_addr = be_leader_addr,
        .peers = be_peers,
    };
    struct http_options opts = {.bind_addr = "127.0.0.1",
                                .port = 0,
                                .max_body = max_body,
                                .region = "global",
                                .datacenter = "dc1",
                                .node_name = leader ? "server-1" : "server-2",
                                .rpc_addr = "127.0.0.1:4647",
                                .agent_config_json = next_agent_config};
    struct cv_err err = {0};
    be->http = http_server_new(x->base, &ops, &opts, &err);
    if (!be->http) {
        fprintf(stderr, "http_server_new: %s\n", err.msg);
    }
    assert_non_null(be->http);
    assert_true(http_server_port(be->http) != 0);
}

static void tfx_init(struct tfx *x, size_t max_body)
{
    memset(x, 0, sizeof *x);
    x->base = event_base_new();
    be_init(x, &x->a, true, max_body);
}

static void tfx_add_follower(struct tfx *x)
{
    be_init(x, &x->b, false, 0);
    x->b.leader_be = &x->a;
}

static void be_free_http(struct srv_be *be)
{
    http_server_free(be->http);
    be->http = NULL;
}

static void be_free_state(struct srv_be *be)
{
    if (be->fsm) {
        fsm_free(be->fsm);
        state_store_free(be->st);
    }
}

static void tfx_free(struct tfx *x)
{
    /* Servers first: their requests in the backend are orphaned and freed
     * by the operations' completions below. */
    be_free_http(&x->b);
    be_free_http(&x->a);
    while (x->ops) {
        struct op *o = x->ops;
        if (o->is_forward) {
            http_fwd_cb cb = o->fcb;
            void *arg = o->arg;
            op_free(o);
            cb(arg, CV_ESHUTDOWN, NULL);
        } else {
            http_propose_cb cb = o->pcb;
            void *arg = o->arg;
            op_free(o);
            cb(arg, CV_ESHUTDOWN, 0, NULL);
        }
    }
    be_free_state(&x->b);
    be_free_state(&x->a);
    event_base_free(x->base);
}

/* Applies a command straight to a server's FSM (what another server's
 * proposal committing would do). */
static void apply_direct(struct srv_be *be, const struct cv_buf *cmd)
{
    struct fsm_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(fsm_apply(be->fsm, ++be->index, cmd->data, cmd->len, &res), 0);
    if (res.outcome != FSM_APPLIED) {
        fprintf(stderr, "apply_direct: %s\n", res.err.msg);
    }
    assert_int_equal(res.outcome, FSM_APPLIED);
}

/* ---- the HTTP client --------------------------------------------------------------------- */

struct reply
{
    bool done;
    int status;
    char *body;
    size_t len;
    char index[32];
    char known_leader[16];
    char last_contact[32];
    char allow[64];
    char content_type[64];
    struct evhttp_connection *conn;
    uint64_t sent_ns;
    uint64_t got_ns;
};

static uint64_t now_ns(void)
{
    return cv_clock_monotonic_ns(cv_clock_system());
}

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t cap)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct reply *r = arg;
    r->done = true;
    r->got_ns = now_ns();
    if (!req) {
        r->status = -1;
        return;
    }
    r->status = evhttp_request_get_response_code(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r->len = evbuffer_get_length(in);
    r->body = cv_malloc(r->len + 1);
    evbuffer_remove(in, r->body, r->len);
    r->body[r->len] = '\0';
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    copy_header(h, "X-Nomad-Index", r->index, sizeof r->index);
    copy_header(h, "X-Nomad-KnownLeader", r->known_leader, sizeof r->known_leader);
    copy_header(h, "X-Nomad-LastContact", r->last_contact, sizeof r->last_contact);
    copy_header(h, "Allow", r->allow, sizeof r->allow);
    copy_header(h, "Content-Type", r->content_type, sizeof r->content_type);
    if (getenv("CARAVAN_TEST_HTTP_DUMP")) {
        /* for debugging: every answer on stderr */
        fprintf(stderr, "<< %d index=%s allow=%s\n%.*s\n", r->status, r->index, r->allow,
                (int)(r->len > 2000 ? 2000 : r->len), r->body);
    }
}

static enum evhttp_cmd_type cmd_of(const char *method)
{
    if (strcmp(method, "GET") == 0) {
        return EVHTTP_REQ_GET;
    }
    if (strcmp(method, "PUT") == 0) {
        return EVHTTP_REQ_PUT;
    }
    if (strcmp(method, "POST") == 0) {
        return EVHTTP_REQ_POST;
    }
    if (strcmp(method, "DELETE") == 0) {
        return EVHTTP_REQ_DELETE;
    }
    if (strcmp(method, "PATCH") == 0) {
        return EVHTTP_REQ_PATCH;
    }
    return EVHTTP_REQ_OPTIONS;
}

/* Sends a request without waiting for the answer. */
static void start(struct tfx *x, struct srv_be *be, const char *method, const char *uri,
                  const char *body, size_t body_len, struct reply *r)
{
    memset(r, 0, sizeof *r);
    r->conn = evhttp_connection_base_new(x->base, NULL, "127.0.0.1", http_server_port(be->http));
    assert_non_null(r->conn);
    struct evhttp_request *req = evhttp_request_new(on_reply, r);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (body) {
        evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
    }
    r->sent_ns = now_ns();
    assert_int_equal(evhttp_make_request(r->conn, req, cmd_of(method), uri), 0);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Runs the loop until r is answered; fails after GUARD_MS. */
static void wait_reply(struct tfx *x, struct reply *r)
{
    bool fired = false;
    struct event *guard = evtimer_new(x->base, on_guard, &fired);
    struct timeval tv = {GUARD_MS / 1000, 0};
    evtimer_add(guard, &tv);
    for (unsigned i = 0; i < 1000000 && !r->done && !fired; i++) {
        event_base_loop(x->base, EVLOOP_ONCE);
    }
    event_free(guard);
    assert_true(r->done);
}

/* Runs what is ready now, without blocking. */
static void spin(struct tfx *x)
{
    for (int i = 0; i < 20; i++) {
        event_base_loop(x->base, EVLOOP_NONBLOCK);
    }
}

static void reply_free(struct reply *r)
{
    cv_free(r->body);
    r->body = NULL;
    if (r->conn) {
        evhttp_connection_free(r->conn);
        r->conn = NULL;
    }
}

static void request(struct tfx *x, struct srv_be *be, const char *method, const char *uri,
                    const char *body, struct reply *r)
{
    start(x, be, method, uri, body, body ? strlen(body) : 0, r);
    wait_reply(x, r);
}

/* ---- JSON helpers ------------------------------------------------------------------------ */

static struct cv_json_doc *jparse(const struct reply *r)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (cv_json_parse(r->body, r->len, NULL, &doc, &err) != 0) {
        fprintf(stderr, "not JSON (%s): %s\n", err.msg, r->body);
    }
    assert_non_null(doc);
    return doc;
}

static const struct cv_json *jget(const struct cv_json *o, const char *key)
{
    assert_int_equal(o->type, CV_JSON_OBJECT);
    const struct cv_json *v = cv_json_object_get(o, key);
    if (!v) {
        fprintf(stderr, "no member %s\n", key);
    }
    assert_non_null(v);
    return v;
}

static const char *jstr(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    assert_int_equal(v->type, CV_JSON_STRING);
    return v->u.string.ptr;
}

static uint64_t juint(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    uint64_t out = 0;
    assert_int_equal(v->type, CV_JSON_NUMBER);
    assert_int_equal(cv_json_uint64(v, &out), 0);
    return out;
}

static bool jbool(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    assert_int_equal(v->type, CV_JSON_BOOL);
    return v->u.boolean;
}

static size_t jlen(const struct cv_json *v)
{
    assert_int_equal(v->type, CV_JSON_ARRAY);
    return v->u.array.len;
}

static void expect_status(const struct reply *r, int status)
{
    if (r->status != status) {
        fprintf(stderr, "status %d, expected %d: %s\n", r->status, status, r->body ? r->body : "");
    }
    assert_int_equal(r->status, status);
}

static uint64_t header_u64(const char *v)
{
    assert_true(v[0] != '\0');
    return strtoull(v, NULL, 10);
}

/* ---- test data ------------------------------------------------------------------------- */

static char *web_job(void)
{
    size_t len;
    return cv_test_read_file("../ops/examples/web.json", &len);
}

/* web.json with another ID and count. */
static char *job_text(const char *id, int count)
{
    char *web = web_job();
    char *at = strstr(web, "\"ID\": \"web\", \"Name\": \"web\"");
    assert_non_null(at);
    char *countp = strstr(web, "\"Count\": 3");
    assert_non_null(countp);
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append(&b, web, (size_t)(at - web));
    cv_buf_appendf(&b, "\"ID\": \"%s\", \"Name\": \"%s\"", id, id);
    const char *after_id = at + strlen("\"ID\": \"web\", \"Name\": \"web\"");
    cv_buf_append(&b, after_id, (size_t)(countp - after_id));
    cv_buf_appendf(&b, "\"Count\": %d", count);
    cv_buf_append_str(&b, countp + strlen("\"Count\": 3"));
    cv_free(web);
    return cv_buf_take(&b);
}

static const char NODE_ID[] = "11111111-0000-4000-8000-000000000001";
static const char ALLOC_ID[] = "22222222-0000-4000-8000-000000000001";

static void register_node(struct srv_be *be)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"SecretID\": \"33333333-0000-4000-8000-000000000001\","
             " \"Datacenter\": \"dc1\", \"Name\": \"client-1\", \"Status\": \"ready\","
             " \"Attributes\": {\"unique.network.ip-address\": \"10.0.0.7\","
             " \"nomad.version\": \"1.8.0\", \"os.name\": \"debian\"},"
             " \"Drivers\": {\"raw_exec\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": 4000},"
             " \"Memory\": {\"MemoryMB\": 8192}, \"Disk\": {\"DiskMB\": 10000}}}",
             NODE_ID);
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
    apply_direct(be, &cmd);
    cv_buf_free(&cmd);
}

/* Places one allocation of job web (group frontend) for eval_id. */
static void place_alloc(struct srv_be *be, const char *eval_id)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"web.frontend[0]\","
             " \"NodeID\": \"%s\", \"NodeName\": \"client-1\", \"JobID\": \"web\","
             " \"TaskGroup\": \"frontend\", \"ClientStatus\": \"running\"}",
             ALLOC_ID, eval_id, NODE_ID);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    int rc = cv_alloc_parse(text, strlen(text), &a, &errs);
    if (rc) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    const struct cv_allocation *allocs[1] = {a};
    struct fsm_plan plan = {.eval_id = eval_id, .allocs_updated = allocs, .n_updated = 1};
    struct cv_buf cmd = CV_BUF_INIT;
    assert_int_equal(fsm_encode_plan_apply(&plan, &cmd, NULL), 0);
    cv_alloc_free(a);
    apply_direct(be, &cmd);
    cv_buf_free(&cmd);
}

/* Registers a job through the API; returns its EvalID in eval_id. */
static void register_job(struct tfx *x, struct srv_be *be, const char *text, char eval_id[37])
{
    struct reply r;
    request(x, be, "PUT", "/v1/jobs", text, &r);
    expect_status(&r, 200);
    struct cv_json_doc *doc = jparse(&r);
    if (eval_id) {
        snprintf(eval_id, 37, "%s", jstr(cv_json_doc_root(doc), "EvalID"));
    }
    cv_json_doc_free(doc);
    reply_free(&r);
}

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
        CV_TEST(test_register_and_read),
        CV_TEST(test_invalid_job_is_400_with_field_paths),
        CV_TEST(test_body_over_the_limit_is_413),
        CV_TEST(test_not_found_and_wrong_method),
        CV_TEST(test_list_stubs),
        CV_TEST(test_versions_stop_and_purge),
        CV_TEST(test_blocking_query_wakes_on_change),
        CV_TEST(test_blocking_query_times_out),
        CV_TEST(test_blocking_query_woken_from_another_thread),
        CV_TEST(test_follower_forwards_and_serves_stale),
        CV_TEST(test_no_leader_is_503),
        CV_TEST(test_node_eligibility),
        CV_TEST(test_node_drain),
        CV_TEST(test_status_and_agent_self),
        CV_TEST(test_free_with_requests_in_flight),
        CV_TEST(test_fwd_codec),
        CV_TEST(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
