/*
 * test_agent_rpc: the agent (nodeagent/agent.h) against fake servers in the
 * test's process, on one libevent loop over loopback RPC: registration
 * failing over from a refusing server, heartbeats at half the TTL,
 * registering again when a server forgets the node, allocations run with
 * the mock driver from the watch, status updates retried until accepted
 * (one per allocation per call, the last one complete), a refused update
 * dropped alone, a stop killing a task, and a vanished allocation
 * forgotten with its files.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/rpc.h"
#include "common/node.h"
#include "nodeagent/agent.h"
#include "nodeagent/agent_config.h"
#include "nodeagent/simulate.h"
#include "testutil.h"

#define MAX_ALLOCS 8
#define MAX_HELD   8
#define MAX_IDS    16

struct fake_alloc
{
    char id[40];
    char desired[16];
    char type[16];
    char config[128];
    char driver[16];
    uint64_t index;
    bool present;
    char last_status[32]; /* the last ClientStatus reported */
};

struct fake_server
{
    struct rpc_server *rs;
    char addr[RPC_ADDR_MAX];
    bool refuse_register;
    int notfound_heartbeats; /* answer that many heartbeats "not registered" */
    int fail_updates;        /* fail that many Node.UpdateAlloc calls */
    char refuse_id[40];      /* refuse updates of this allocation */
    uint64_t ttl_ns;
    int registers, heartbeats, update_calls, dup_in_call;
    char node_id[40];
    char ids[MAX_IDS][40]; /* distinct node IDs registered */
    int n_ids;
    char register_body[8192];
    struct fake_alloc allocs[MAX_ALLOCS];
    size_t n_allocs;
    uint64_t index;
    struct rpc_call *held[MAX_HELD];
    size_t n_held;
};

struct fixture
{
    struct event_base *base;
    struct fake_server a, b;
    struct agent_config cfg;
    struct agent *agent;
    char dir[64];
};

/* ---- the fake server ------------------------------------------------------------- */

static void reply_json(struct rpc_call *call, struct cv_jgen *g)
{
    const char *text = NULL;
    size_t len = 0;
    assert_int_equal(cv_jgen_finish(g, &text, &len, NULL), 0);
    rpc_reply(call, 0, NULL, text, len);
    cv_jgen_free(g);
}

static void reply_ttl(struct fake_server *s, struct rpc_call *call)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "HeartbeatTTL");
    cv_jgen_uint(g, s->ttl_ns);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, 1);
    cv_jgen_key(g, "LeaderRPCAddr");
    cv_jgen_string(g, s->addr);
    cv_jgen_object_end(g);
    reply_json(call, g);
}

static void on_register(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct fake_server *s = arg;
    s->registers++;
    if (s->refuse_register) {
        rpc_reply(call, CV_EUNAVAILABLE, "refusing on purpose", NULL, 0);
        return;
    }
    snprintf(s->register_body, sizeof s->register_body, "%.*s", (int)len, (const char *)payload);
    const char *p = strstr(s->register_body, "\"ID\":\"");
    assert_non_null(p);
    snprintf(s->node_id, sizeof s->node_id, "%.36s", p + 6);
    bool known = false;
    for (int i = 0; i < s->n_ids; i++) {
        known = known || strcmp(s->ids[i], s->node_id) == 0;
    }
    if (!known && s->n_ids < MAX_IDS) {
        snprintf(s->ids[s->n_ids++], sizeof s->ids[0], "%s", s->node_id);
    }
    reply_ttl(s, call);
}

static void on_heartbeat(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct fake_server *s = arg;
    (void)payload;
    (void)len;
    s->heartbeats++;
    if (s->notfound_heartbeats > 0) {
        s->notfound_heartbeats--;
        rpc_reply(call, CV_ENOTFOUND, "node is not registered", NULL, 0);
        return;
    }
    reply_ttl(s, call);
}

static void answer_map(struct fake_server *s, struct rpc_call *call)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Allocs");
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < s->n_allocs; i++) {
        if (s->allocs[i].present) {
            cv_jgen_key(g, s->allocs[i].id);
            cv_jgen_uint(g, s->allocs[i].index);
        }
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, s->index);
    cv_jgen_object_end(g);
    reply_json(call, g);
}

static void on_client_allocs(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct fake_server *s = arg;
    struct cv_json_doc *doc = NULL;
    assert_int_equal(cv_json_parse(payload, len, NULL, &doc, NULL), 0);
    uint64_t min = 0;
    const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), "MinQueryIndex");
    assert_non_null(v);
    assert_int_equal(cv_json_uint64(v, &min), 0);
    cv_json_doc_free(doc);
    if (s->index > min) {
        answer_map(s, call);
        return;
    }
    assert_true(s->n_held < MAX_HELD);
    s->held[s->n_held++] = call;
}

/* Moves the index and answers the waiting queries. */
static void publish(struct fake_server *s)
{
    s->index++;
    for (size_t i = 0; i < s->n_held; i++) {
        answer_map(s, s->held[i]);
    }
    s->n_held = 0;
}

static void write_alloc(struct fake_server *s, const struct fake_alloc *fa, struct cv_jgen *g)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"ID\": \"%s\", \"EvalID\": \"8a0c6b3c-7f09-4a6f-b1a2-2f2d8a6a9b01\","
             " \"NodeID\": \"%s\", \"Name\": \"app.grp[0]\", \"JobID\": \"app\","
             " \"TaskGroup\": \"grp\", \"Namespace\": \"default\", \"DesiredStatus\": \"%s\","
             " \"ClientStatus\": \"pending\", \"AllocModifyIndex\": %llu,"
             " \"Job\": {\"ID\": \"app\", \"Name\": \"app\", \"Type\": \"%s\","
             " \"Region\": \"global\", \"Datacenters\": [\"dc1\"], \"TaskGroups\": [{\"Name\":"
             " \"grp\", \"Count\": 1, \"Tasks\": [{\"Name\": \"t1\", \"Driver\": \"%s\","
             " \"Config\": %s}]}]}}",
             fa->id, s->node_id, fa->desired, (unsigned long long)fa->index, fa->type, fa->driver,
             fa->config);
    struct cv_json_doc *doc = NULL;
    assert_int_equal(cv_json_parse(json, strlen(json), NULL, &doc, NULL), 0);
    cv_jgen_value(g, cv_json_doc_root(doc));
    cv_json_doc_free(doc);
}

static struct fake_alloc *find_fake(struct fake_server *s, const char *id)
{
    for (size_t i = 0; i < s->n_allocs; i++) {
        if (strcmp(s->allocs[i].id, id) == 0) {
            return &s->allocs[i];
        }
    }
    return NULL;
}

static void on_get_allocs(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct fake_server *s = arg;
    struct cv_json_doc *doc = NULL;
    assert_int_equal(cv_json_parse(payload, len, NULL, &doc, NULL), 0);
    const struct cv_json *ids = cv_json_object_get(cv_json_doc_root(doc), "AllocIDs");
    assert_non_null(ids);
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Allocs");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < ids->u.array.len; i++) {
        struct fake_alloc *fa = find_fake(s, ids->u.array.items[i]->u.string.ptr);
        if (fa && fa->present) {
            write_alloc(s, fa, g);
        }
    }
    cv_jgen_array_end(g);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, s->index);
    cv_jgen_object_end(g);
    cv_json_doc_free(doc);
    reply_json(call, g);
}

static void on_update_alloc(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    struct fake_server *s = arg;
    s->update_calls++;
    if (s->fail_updates > 0) {
        s->fail_updates--;
        rpc_reply(call, CV_EUNAVAILABLE, "no leader is known in this region", NULL, 0);
        return;
    }
    struct cv_json_doc *doc = NULL;
    assert_int_equal(cv_json_parse(payload, len, NULL, &doc, NULL), 0);
    const struct cv_json *list = cv_json_object_get(cv_json_doc_root(doc), "Allocs");
    assert_non_null(list);
    assert_true(list->u.array.len >= 1 && list->u.array.len <= 1024);
    for (size_t i = 0; i < list->u.array.len; i++) {
        const struct cv_json *u = list->u.array.items[i];
        const char *id = cv_json_object_get(u, "ID")->u.string.ptr;
        if (s->refuse_id[0] && strcmp(id, s->refuse_id) == 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "Allocs[%zu]: allocation %s does not exist", i, id);
            cv_json_doc_free(doc);
            rpc_reply(call, CV_ENOTFOUND, msg, NULL, 0);
            return;
        }
        for (size_t j = 0; j < i; j++) {
            const struct cv_json *o = list->u.array.items[j];
            if (strcmp(cv_json_object_get(o, "ID")->u.string.ptr, id) == 0) {
                s->dup_in_call++;
            }
        }
    }
    for (size_t i = 0; i < list->u.array.len; i++) {
        const struct cv_json *u = list->u.array.items[i];
        struct fake_alloc *fa = find_fake(s, cv_json_object_get(u, "ID")->u.string.ptr);
        assert_non_null(fa);
        assert_string_equal(cv_json_object_get(u, "NodeID")->u.string.ptr, s->node_id);
        assert_non_null(cv_json_object_get(u, "TaskStates"));
        snprintf(fa->last_status, sizeof fa->last_status, "%s",
                 cv_json_object_get(u, "ClientStatus")->u.string.ptr);
    }
    cv_json_doc_free(doc);
    rpc_reply(call, 0, NULL, "{\"Index\": 7}", 12);
}

static void server_start(struct fixture *f, struct fake_server *s)
{
    memset(s, 0, sizeof *s);
    s->ttl_ns = 2 * (uint64_t)CV_NSEC_PER_SEC;
    s->index = 1;
    assert_int_equal(rpc_server_new(f->base, NULL, &s->rs, NULL), 0);
    assert_int_equal(rpc_server_listen(s->rs, "127.0.0.1:0", NULL), 0);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%u", rpc_server_port(s->rs));
    assert_int_equal(rpc_server_handle(s->rs, "Node.Register", on_register, s, NULL), 0);
    assert_int_equal(rpc_server_handle(s->rs, "Node.UpdateStatus", on_heartbeat, s, NULL), 0);
    assert_int_equal(rpc_server_handle(s->rs, "Node.GetClientAllocs", on_client_allocs, s, NULL),
                     0);
    assert_int_equal(rpc_server_handle(s->rs, "Alloc.GetAllocs", on_get_allocs, s, NULL), 0);
    assert_int_equal(rpc_server_handle(s->rs, "Node.UpdateAlloc", on_update_alloc, s, NULL), 0);
}

static void server_stop(struct fake_server *s)
{
    for (size_t i = 0; i < s->n_held; i++) {
        rpc_reply(s->held[i], CV_ESHUTDOWN, "test over", NULL, 0);
    }
    s->n_held = 0;
    rpc_server_free(s->rs);
    s->rs = NULL;
}

static struct fake_alloc *add_fake(struct fake_server *s, const char *type, const char *config)
{
    assert_true(s->n_allocs < MAX_ALLOCS);
    struct fake_alloc *fa = &s->allocs[s->n_allocs++];
    memset(fa, 0, sizeof *fa);
    snprintf(fa->id, sizeof fa->id, "0b6b1f4e-1c1d-4c8e-9f5a-00000000000%zu", s->n_allocs);
    snprintf(fa->desired, sizeof fa->desired, "run");
    snprintf(fa->type, sizeof fa->type, "%s", type);
    snprintf(fa->config, sizeof fa->config, "%s", config);
    snprintf(fa->driver, sizeof fa->driver, "mock");
    fa->present = true;
    fa->index = s->index + 1;
    return fa;
}

/* ---- the fixture ------------------------------------------------------------------ */

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

typedef bool (*pred_fn)(struct fixture *f);

static bool run_until(struct fixture *f, pred_fn pred, int timeout_ms)
{
    struct event *t = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 10000};
    event_add(t, &tv);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool ok = false;
    for (int i = 0; i < 100000; i++) {
        if (pred && pred(f)) {
            ok = true;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= timeout_ms) {
            break;
        }
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    event_free(t);
    return ok;
}

static int setup(void **state)
{
    cv_test_setup(state);
    struct fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    snprintf(f->dir, sizeof f->dir, "/tmp/agent-rpc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    server_start(f, &f->a);
    server_start(f, &f->b);
    agent_config_init(&f->cfg);
    f->cfg.servers[f->cfg.n_servers++] = cv_strdup(f->a.addr);
    f->cfg.servers[f->cfg.n_servers++] = cv_strdup(f->b.addr);
    cv_set_string(&f->cfg.data_dir, f->dir);
    f->cfg.mock = true;
    f->cfg.http_port = 0; /* no HTTP listener in unit tests */
    assert_int_equal(agent_config_finish(&f->cfg, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    agent_free(f->agent);
    server_stop(&f->a);
    server_stop(&f->b);
    event_base_free(f->base);
    agent_config_free(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    *state = NULL;
    return cv_test_teardown(state);
}

static void start_agent(struct fixture *f)
{
    struct cv_err err = {0};
    if (agent_new(f->base, &f->cfg, NULL, &f->agent, &err) != 0) {
        fail_msg("agent_new: %s", err.msg);
    }
}

/* ---- the tests -------------------------------------------------------------------- */

static bool b_two_heartbeats(struct fixture *f)
{
    return f->b.heartbeats >= 2;
}

static void test_register_failover_and_heartbeat(void **state)
{
    struct fixture *f = *state;
    f->a.refuse_register = true;
    start_agent(f);
    assert_true(run_until(f, b_two_heartbeats, 5000));
    assert_true(f->a.registers >= 1);
    assert_int_equal(f->b.registers, 1);
    assert_string_equal(f->b.node_id, agent_node_id(f->agent));
    assert_non_null(strstr(f->b.register_body, "\"Status\":\"ready\""));
    assert_non_null(strstr(f->b.register_body, "\"driver.mock\":\"1\""));
    /* Half of a 2 s TTL: two heartbeats take about 2 s, not less than 1.5. */
    int before = f->b.heartbeats;
    run_until(f, NULL, 700);
    assert_true(f->b.heartbeats <= before + 1);
}

static bool b_registered_twice(struct fixture *f)
{
    return f->b.registers >= 2;
}

static void test_register_again_when_unknown(void **state)
{
    struct fixture *f = *state;
    f->a.refuse_register = true;
    f->b.notfound_heartbeats = 1;
    start_agent(f);
    assert_true(run_until(f, b_registered_twice, 5000));
    assert_int_equal(f->b.heartbeats, 1);
}

static struct fake_alloc *g_watch[3];

static bool all_complete(struct fixture *f)
{
    (void)f;
    for (size_t i = 0; i < 3; i++) {
        if (g_watch[i] && strcmp(g_watch[i]->last_status, "complete") != 0) {
            return false;
        }
    }
    return true;
}

static bool raw_failed(struct fixture *f)
{
    for (size_t i = 0; i < f->b.n_allocs; i++) {
        if (strcmp(f->b.allocs[i].driver, "raw_exec") == 0) {
            return strcmp(f->b.allocs[i].last_status, "failed") == 0;
        }
    }
    return false;
}

static bool b_registered(struct fixture *f)
{
    return f->b.registers >= 1 && f->b.n_held >= 1;
}

static void test_allocations_run_and_report(void **state)
{
    struct fixture *f = *state;
    /* a is gone for good: every call fails over to b. */
    server_stop(&f->a);
    f->b.fail_updates = 3;
    start_agent(f);
    assert_true(run_until(f, b_registered, 5000));
    g_watch[0] = add_fake(&f->b, "batch", "{\"run_for\": \"50ms\"}");
    g_watch[1] = add_fake(&f->b, "batch", "{\"run_for\": \"80ms\"}");
    struct fake_alloc *svc = add_fake(&f->b, "service", "{\"run_for\": \"1h\"}");
    struct fake_alloc *refused = add_fake(&f->b, "batch", "{\"run_for\": \"10ms\"}");
    snprintf(f->b.refuse_id, sizeof f->b.refuse_id, "%s", refused->id);
    /* raw_exec is off here: never run, reported failed. */
    struct fake_alloc *raw = add_fake(&f->b, "batch", "{\"command\": \"/bin/true\"}");
    snprintf(raw->driver, sizeof raw->driver, "raw_exec");
    g_watch[2] = NULL;
    publish(&f->b);
    assert_true(run_until(f, all_complete, 8000));
    assert_true(run_until(f, raw_failed, 3000));
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/client/%s.json", f->dir, raw->id);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(f->b.dup_in_call, 0);
    assert_true(f->b.update_calls >= 4);
    assert_string_equal(refused->last_status, ""); /* refused, dropped, others went on */

    /* The service runs until the servers stop it. */
    snprintf(path, sizeof path, "%s/client/%s.json", f->dir, svc->id);
    assert_int_equal(stat(path, &st), 0);
    snprintf(svc->desired, sizeof svc->desired, "stop");
    svc->index = f->b.index + 1;
    g_watch[0] = svc;
    g_watch[1] = NULL;
    publish(&f->b);
    assert_true(run_until(f, all_complete, 8000));

    /* Collected by the servers: forgotten here, files and all. */
    svc->present = false;
    publish(&f->b);
    for (int i = 0; i < 500 && stat(path, &st) == 0; i++) {
        run_until(f, NULL, 10);
    }
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/allocs/%s/t1.json", f->dir, svc->id);
    assert_int_not_equal(stat(path, &st), 0);
    memset(g_watch, 0, sizeof g_watch);
}

static bool b_five_nodes(struct fixture *f)
{
    return f->b.n_ids == 5 && f->b.heartbeats >= 5;
}

/* -simulate: distinct nodes, each registering and heartbeating, over one
 * connection. */
static void test_fleet(void **state)
{
    struct fixture *f = *state;
    server_stop(&f->a);
    f->cfg.raw_exec = true; /* never in a fleet */
    struct agent_fleet *fleet = NULL;
    struct cv_err err = {0};
    if (agent_fleet_new(f->base, &f->cfg, 5, &fleet, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(agent_fleet_size(fleet), 5);
    bool ok = run_until(f, b_five_nodes, 8000);
    struct rpc_stats st;
    rpc_server_stats(f->b.rs, &st);
    for (size_t i = 0; i < 5; i++) {
        assert_true(cv_uuid_valid(agent_fleet_node_id(fleet, i)));
    }
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/sim-4/node-id", f->dir);
    int exists = stat(path, &sb);
    bool mock_only = strstr(f->b.register_body, "\"driver.mock\":\"1\"") != NULL &&
                     strstr(f->b.register_body, "driver.raw_exec") == NULL;
    agent_fleet_free(fleet);
    assert_true(ok);
    assert_int_equal(exists, 0);
    assert_true(mock_only);
    assert_u64_equal(st.conns_opened, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_failover_and_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_again_when_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocations_run_and_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
