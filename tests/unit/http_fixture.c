/*
 * http_fixture: the shared fixture of the test_http_* programs (see
 * http_fixture.h). Every wait is bounded: a loop runs the event base until
 * the reply has come or a guard timer fires; there are no fixed sleeps.
 */
#include "http_fixture.h"

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

/* ---- the fake backend ------------------------------------------------------------------ */

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
const char *next_agent_config;

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

void tfx_init(struct tfx *x, size_t max_body)
{
    memset(x, 0, sizeof *x);
    x->base = event_base_new();
    be_init(x, &x->a, true, max_body);
}

void tfx_add_follower(struct tfx *x)
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

void tfx_free(struct tfx *x)
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
void start(struct tfx *x, struct srv_be *be, const char *method, const char *uri, const char *body,
           size_t body_len, struct reply *r)
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
void wait_reply(struct tfx *x, struct reply *r)
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
void spin(struct tfx *x)
{
    for (int i = 0; i < 20; i++) {
        event_base_loop(x->base, EVLOOP_NONBLOCK);
    }
}

void reply_free(struct reply *r)
{
    cv_free(r->body);
    r->body = NULL;
    if (r->conn) {
        evhttp_connection_free(r->conn);
        r->conn = NULL;
    }
}

void request(struct tfx *x, struct srv_be *be, const char *method, const char *uri,
             const char *body, struct reply *r)
{
    start(x, be, method, uri, body, body ? strlen(body) : 0, r);
    wait_reply(x, r);
}

/* ---- JSON helpers ------------------------------------------------------------------------ */

struct cv_json_doc *jparse(const struct reply *r)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (cv_json_parse(r->body, r->len, NULL, &doc, &err) != 0) {
        fprintf(stderr, "not JSON (%s): %s\n", err.msg, r->body);
    }
    assert_non_null(doc);
    return doc;
}

const struct cv_json *jget(const struct cv_json *o, const char *key)
{
    assert_int_equal(o->type, CV_JSON_OBJECT);
    const struct cv_json *v = cv_json_object_get(o, key);
    if (!v) {
        fprintf(stderr, "no member %s\n", key);
    }
    assert_non_null(v);
    return v;
}

const char *jstr(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    assert_int_equal(v->type, CV_JSON_STRING);
    return v->u.string.ptr;
}

uint64_t juint(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    uint64_t out = 0;
    assert_int_equal(v->type, CV_JSON_NUMBER);
    assert_int_equal(cv_json_uint64(v, &out), 0);
    return out;
}

bool jbool(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = jget(o, key);
    assert_int_equal(v->type, CV_JSON_BOOL);
    return v->u.boolean;
}

size_t jlen(const struct cv_json *v)
{
    assert_int_equal(v->type, CV_JSON_ARRAY);
    return v->u.array.len;
}

void expect_status(const struct reply *r, int status)
{
    if (r->status != status) {
        fprintf(stderr, "status %d, expected %d: %s\n", r->status, status, r->body ? r->body : "");
    }
    assert_int_equal(r->status, status);
}

uint64_t header_u64(const char *v)
{
    assert_true(v[0] != '\0');
    return strtoull(v, NULL, 10);
}

/* ---- test data ------------------------------------------------------------------------- */

char *web_job(void)
{
    size_t len;
    return cv_test_read_file("../ops/examples/web.json", &len);
}

/* web.json with another ID and count. */
char *job_text(const char *id, int count)
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

const char NODE_ID[37] = "11111111-0000-4000-8000-000000000001";
const char ALLOC_ID[37] = "22222222-0000-4000-8000-000000000001";

void register_node(struct srv_be *be)
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
void place_alloc(struct srv_be *be, const char *eval_id)
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
void register_job(struct tfx *x, struct srv_be *be, const char *text, char eval_id[37])
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
