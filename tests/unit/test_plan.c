/*
 * test_plan: the plan verifier through its public face. Every state is
 * built through the real FSM (node register, job register, plan apply,
 * client updates, node status and eligibility), so the objects have the
 * shapes the leader will see; results are committed through the FSM too,
 * to check that what the verifier accepts is what the FSM applies.
 *
 * Covered: a plan that fits, one node over on CPU, memory or disk (and
 * reserved resources, NodeMaxAllocs, ports), AllAtOnce, nodes missing,
 * down, disconnected, initializing or ineligible (placements refused,
 * stops applied), in-place updates on an ineligible node, room freed by a
 * stop of the same plan, terminal allocations not counted, two plans
 * racing for one node's last capacity through the overlay (before and
 * after the first commits, pruned, dropped, no double count), stops of
 * allocations gone, a purged job, the snapshot index rule, and the JSON
 * decoder: a round trip and malformed plans refused with field paths.
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
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/plan.h"
#include "regiond/state/state.h"

/* ---- objects ------------------------------------------------------------------------------ */

/* "k0000000-0000-4000-8000-<n>": kind 1 nodes, 2 allocations, 3 evaluations. */
static const char *uuid(unsigned kind, unsigned n)
{
    static char ring[16][37];
    static unsigned next;
    char *out = ring[next++ % 16];
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

/* A ready, eligible node with 1000 MHz, 1000 MB of memory and 1000 MB of
 * disk; `extra` is spliced into its JSON (", \"NodeMaxAllocs\": 2"). */
static struct cv_node *mk_node(unsigned n, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"client-%u\","
             " \"Status\": \"ready\", \"NodeResources\": {\"Cpu\": {\"CpuShares\": 1000},"
             " \"Memory\": {\"MemoryMB\": 1000}, \"Disk\": {\"DiskMB\": 1000}}%s}",
             NODE_ID(n), n, extra ? extra : "");
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *node = NULL;
    parsed(cv_node_parse(text, strlen(text), &node, &errs), &errs);
    return node;
}

static struct cv_evaluation *mk_eval(unsigned n, const char *job_id)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Priority\": 50, \"Type\": \"service\", \"JobID\": \"%s\","
             " \"TriggeredBy\": \"job-register\", \"Status\": \"pending\"}",
             EVAL_ID(n), job_id);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *e = NULL;
    parsed(cv_eval_parse(text, strlen(text), &e, &errs), &errs);
    return e;
}

/* The JSON of allocation n of job "web" on node `node`, placed by
 * evaluation 1, using cpu MHz, mem MB and disk MB; `ports` is the JSON of
 * AllocatedResources.Shared.Ports ("" for none). */
static void alloc_json(char *out, size_t size, unsigned n, unsigned node, int cpu, int mem,
                       int disk, const char *ports)
{
    snprintf(out, size,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"web.g[%u]\", \"NodeID\": \"%s\","
             " \"JobID\": \"web\", \"TaskGroup\": \"g\", \"AllocatedResources\": {\"Tasks\":"
             " {\"t\": {\"Cpu\": {\"CpuShares\": %d}, \"Memory\": {\"MemoryMB\": %d}}},"
             " \"Shared\": {\"DiskMB\": %d%s%s%s}}}",
             ALLOC_ID(n), EVAL_ID(1), n, NODE_ID(node), cpu, mem, disk,
             ports[0] ? ", \"Ports\": [" : "", ports, ports[0] ? "]" : "");
}

static struct cv_allocation *mk_alloc_ports(unsigned n, unsigned node, int cpu, int mem, int disk,
                                            const char *ports)
{
    char text[2048];
    alloc_json(text, sizeof text, n, node, cpu, mem, disk, ports);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    parsed(cv_alloc_parse(text, strlen(text), &a, &errs), &errs);
    return a;
}

static struct cv_allocation *mk_alloc(unsigned n, unsigned node, int cpu, int mem, int disk)
{
    return mk_alloc_ports(n, node, cpu, mem, disk, "");
}

/* A port mapping's JSON. */
static const char *port(int value, const char *ip)
{
    static char ring[4][128];
    static unsigned next;
    char *out = ring[next++ % 4];
    snprintf(out, 128, "{\"Label\": \"http\", \"Value\": %d, \"To\": 8080, \"HostIP\": \"%s\"}",
             value, ip);
    return out;
}

/* A plan of evaluation 1 for job "web". */
static struct plan *mk_plan(void)
{
    struct plan *p = plan_new();
    cv_set_string(&p->eval_id, EVAL_ID(1));
    cv_set_string(&p->eval_token, "token-1");
    cv_set_string(&p->job_id, "web");
    return p;
}

/* ---- fixture: a store written through the FSM -------------------------------------------- */

struct fx
{
    struct state_store *st;
    struct fsm *f;
    uint64_t index;
    struct cv_buf entry;
    struct state_snap *snap; /* the latest view taken by view() */
    struct plan_overlay *ov;
};

static void fx_init(struct fx *x)
{
    memset(x, 0, sizeof *x);
    x->st = state_store_new(NULL);
    x->f = fsm_new(x->st);
    x->ov = plan_overlay_new();
    cv_buf_init(&x->entry);
}

static void fx_done(struct fx *x)
{
    state_snapshot_release(x->snap);
    plan_overlay_free(x->ov);
    fsm_free(x->f);
    state_store_free(x->st);
    cv_buf_free(&x->entry);
}

static const struct state_snap *view(struct fx *x)
{
    state_snapshot_release(x->snap);
    x->snap = state_snapshot(x->st);
    return x->snap;
}

static struct fsm_result apply(struct fx *x)
{
    struct fsm_result res;
    x->index++;
    assert_int_equal(fsm_apply(x->f, x->index, x->entry.data, x->entry.len, &res), 0);
    if (res.outcome != FSM_APPLIED) {
        char line[1024];
        print_error("not applied (%d): %s\n", (int)res.outcome,
                    cv_err_format(&res.err, line, sizeof line));
    }
    assert_int_equal(res.outcome, FSM_APPLIED);
    return res;
}

static void register_node(struct fx *x, unsigned n, const char *extra)
{
    struct cv_node *node = mk_node(n, extra);
    assert_int_equal(fsm_encode_node_register(node, &x->entry, NULL), 0);
    cv_node_free(node);
    apply(x);
}

/* Job "web" with its evaluation 1. */
static void register_web(struct fx *x)
{
    struct cv_job *job = mk_job("web");
    struct cv_evaluation *e = mk_eval(1, "web");
    assert_int_equal(fsm_encode_job_register(job, e, &x->entry, NULL), 0);
    cv_job_free(job);
    cv_eval_free(e);
    apply(x);
}

/* Writes allocations into the state as a committed plan would. Takes
 * ownership of them. */
static void place(struct fx *x, struct cv_allocation **allocs, size_t n)
{
    struct fsm_plan fp = {.eval_id = EVAL_ID(1),
                          .allocs_updated = (const struct cv_allocation *const *)allocs,
                          .n_updated = n};
    assert_int_equal(fsm_encode_plan_apply(&fp, &x->entry, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        cv_alloc_free(allocs[i]);
    }
    apply(x);
}

static void place1(struct fx *x, struct cv_allocation *a)
{
    place(x, &a, 1);
}

/* A client reports allocation n's status. */
static void client_status(struct fx *x, unsigned n, const char *status)
{
    struct cv_allocation *a = cv_alloc_copy(state_alloc(view(x), ALLOC_ID(n)));
    cv_set_string(&a->client_status, status);
    const struct cv_allocation *ups[] = {a};
    assert_int_equal(fsm_encode_alloc_client_update(ups, 1, NULL, 0, &x->entry, NULL), 0);
    cv_alloc_free(a);
    apply(x);
}

/* A plan stops allocation n. */
static void stop_alloc(struct fx *x, unsigned n)
{
    struct fsm_alloc_stop s = {.id = ALLOC_ID(n), .desired_description = "stopped"};
    struct fsm_plan fp = {.eval_id = EVAL_ID(1), .allocs_stopped = &s, .n_stopped = 1};
    assert_int_equal(fsm_encode_plan_apply(&fp, &x->entry, NULL), 0);
    apply(x);
}

static void node_status(struct fx *x, unsigned n, const char *status)
{
    assert_int_equal(
        fsm_encode_node_status(NODE_ID(n), status, 1700000000, NULL, 0, &x->entry, NULL), 0);
    apply(x);
}

static void node_ineligible(struct fx *x, unsigned n)
{
    assert_int_equal(fsm_encode_node_eligibility(NODE_ID(n), CV_NODE_INELIGIBLE, &x->entry, NULL),
                     0);
    apply(x);
}

/* Evaluates p against the current state and x's overlay. */
static void evaluate(struct fx *x, const struct plan *p, struct plan_result *res)
{
    struct cv_err err = {0};
    int rc = plan_evaluate(view(x), x->ov, p, res, &err);
    if (rc != 0) {
        print_error("plan_evaluate: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
}

/* Commits a result through the FSM, as the applier proposes it. */
static struct fsm_result commit(struct fx *x, const struct plan_result *res)
{
    struct fsm_plan fp;
    plan_result_fsm(res, &fp);
    assert_int_equal(fsm_encode_plan_apply(&fp, &x->entry, NULL), 0);
    return apply(x);
}

static bool result_places(const struct plan_result *r, unsigned alloc)
{
    for (size_t i = 0; i < r->n_allocs; i++) {
        if (strcmp(r->allocs[i]->id, ALLOC_ID(alloc)) == 0) {
            return true;
        }
    }
    return false;
}

static bool result_stops(const struct plan_result *r, unsigned alloc)
{
    for (size_t i = 0; i < r->n_stops; i++) {
        if (strcmp(r->stops[i].id, ALLOC_ID(alloc)) == 0) {
            return true;
        }
    }
    return false;
}

/* The reason node n was rejected for, or NULL when it was not. */
static const char *rejected(const struct plan_result *r, unsigned node)
{
    for (size_t i = 0; i < r->n_rejected; i++) {
        if (strcmp(r->rejected[i].node_id, NODE_ID(node)) == 0) {
            return r->rejected[i].reason;
        }
    }
    return NULL;
}

/* Nodes 1 and 2 (and optionally more), job web with evaluation 1. */
static void setup(struct fx *x, unsigned nodes)
{
    fx_init(x);
    for (unsigned n = 1; n <= nodes; n++) {
        register_node(x, n, NULL);
    }
    register_web(x);
}

/* ---- plans that fit, plans that do not ------------------------------------------------------ */

static void test_fits_whole(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 2);
    place1(&x, mk_alloc(1, 1, 400, 400, 400)); /* already running on node 1 */

    struct plan *p = mk_plan();
    plan_add_alloc(p, mk_alloc(2, 1, 600, 600, 600)); /* node 1 exactly full */
    plan_add_alloc(p, mk_alloc(3, 2, 500, 500, 500));
    plan_add_alloc(p, mk_alloc(4, 2, 500, 500, 500));
    p->snapshot_index = x.index;
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    assert_int_equal(res.n_allocs, 3);
    assert_int_equal(res.n_stops, 0);
    assert_u64_equal(res.refresh_index, 0);
    assert_u64_equal(res.snapshot_index, x.index);
    assert_u64_equal(res.pending_ticket, 0);
    assert_false(plan_result_is_noop(&res));
    assert_string_equal(res.eval_id, EVAL_ID(1));

    /* What was accepted is what the FSM applies. */
    commit(&x, &res);
    const struct state_snap *s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(2))->node_id, NODE_ID(1));
    assert_string_equal(state_alloc(s, ALLOC_ID(4))->node_id, NODE_ID(2));
    assert_int_equal(state_table_count(s, STATE_ALLOCS), 4);
    plan_result_free(&res);

    /* The same plan again: node 1 and node 2 are now full (the plan's
     * allocations replace themselves in place, so it still fits). */
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);

    /* One more allocation does not. */
    plan_add_alloc(p, mk_alloc(5, 2, 1, 1, 1));
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 1);
    assert_string_equal(rejected(&res, 2), "cpu");
    assert_int_equal(res.n_allocs, 1);
    assert_true(result_places(&res, 2));
    assert_u64_equal(res.refresh_index, x.index);
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void overcommit_one(int cpu, int mem, int disk, const char *dimension)
{
    struct fx x;
    setup(&x, 3);
    place1(&x, mk_alloc(1, 1, 500, 500, 500));
    place1(&x, mk_alloc(9, 1, 100, 100, 100));

    struct plan *p = mk_plan();
    /* Node 1: one allocation over in one dimension, with a stop that does
     * not free enough: its whole part is refused, the stop too. */
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(9), "replaced", NULL, NULL);
    plan_add_alloc(p, mk_alloc(2, 1, cpu, mem, disk));
    plan_add_alloc(p, mk_alloc(3, 2, 1000, 1000, 1000)); /* node 2: full but fits */
    plan_add_alloc(p, mk_alloc(4, 3, 10, 10, 10));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 1);
    assert_non_null(rejected(&res, 1));
    assert_string_equal(rejected(&res, 1), dimension);
    assert_false(result_places(&res, 2));
    assert_false(result_stops(&res, 9));
    assert_true(result_places(&res, 3));
    assert_true(result_places(&res, 4));
    assert_int_equal(res.n_allocs, 2);
    assert_int_equal(res.n_stops, 0);
    assert_u64_equal(res.refresh_index, x.index);
    assert_u64_equal(res.refresh_index, state_snap_index(x.snap));

    commit(&x, &res);
    const struct state_snap *s = view(&x);
    assert_null(state_alloc(s, ALLOC_ID(2)));
    assert_non_null(state_alloc(s, ALLOC_ID(3)));
    assert_string_equal(state_alloc(s, ALLOC_ID(9))->desired_status, CV_ALLOC_DESIRED_RUN);
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void test_overcommit_rejects_the_node_only(void **state)
{
    (void)state;
    overcommit_one(501, 100, 100, "cpu");
    overcommit_one(100, 501, 100, "memory");
    overcommit_one(100, 100, 501, "disk");
}

static void test_reserved_resources_and_max_allocs(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_node(&x, 1,
                  ", \"ReservedResources\": {\"Cpu\": {\"CpuShares\": 100},"
                  " \"Memory\": {\"MemoryMB\": 200}, \"Disk\": {\"DiskMB\": 300}}");
    register_node(&x, 2, ", \"NodeMaxAllocs\": 2");
    register_web(&x);
    place1(&x, mk_alloc(1, 2, 1, 1, 1));

    const int sizes[3][3] = {{901, 1, 1}, {1, 801, 1}, {1, 1, 701}};
    const char *dims[3] = {"cpu", "memory", "disk"};
    for (int d = 0; d < 3; d++) {
        struct plan *p = mk_plan();
        plan_add_alloc(p, mk_alloc(2, 1, sizes[d][0], sizes[d][1], sizes[d][2]));
        struct plan_result res;
        evaluate(&x, p, &res);
        assert_string_equal(rejected(&res, 1), dims[d]);
        plan_result_free(&res);
        plan_free(p);
    }
    /* What the reservation leaves fits exactly. */
    struct plan *p = mk_plan();
    plan_add_alloc(p, mk_alloc(2, 1, 900, 800, 700));
    plan_add_alloc(p, mk_alloc(3, 2, 1, 1, 1)); /* node 2's second allocation: fits */
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);
    /* A third on node 2 is over NodeMaxAllocs. */
    plan_add_alloc(p, mk_alloc(4, 2, 1, 1, 1));
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 1);
    assert_string_equal(rejected(&res, 2), "max allocation exceeded");
    assert_true(result_places(&res, 2));
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void test_all_at_once_rejects_everything(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 3);
    place1(&x, mk_alloc(1, 2, 100, 100, 100));

    struct plan *p = mk_plan();
    p->all_at_once = true;
    plan_add_stop(p, NODE_ID(2), ALLOC_ID(1), "replaced", NULL, NULL);
    plan_add_alloc(p, mk_alloc(2, 1, 100, 100, 100));
    plan_add_alloc(p, mk_alloc(3, 2, 100, 100, 100));
    plan_add_alloc(p, mk_alloc(4, 3, 2000, 100, 100)); /* node 3 does not fit */
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_true(plan_result_is_noop(&res));
    assert_int_equal(res.n_allocs, 0);
    assert_int_equal(res.n_stops, 0);
    assert_int_equal(res.n_rejected, 1);
    assert_string_equal(rejected(&res, 3), "cpu");
    assert_u64_equal(res.refresh_index, x.index);
    plan_result_free(&res);

    /* Without the bad node the gang fits whole. */
    cv_alloc_free(p->allocs[--p->n_allocs]);
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    assert_int_equal(res.n_allocs, 2);
    assert_int_equal(res.n_stops, 1);
    assert_u64_equal(res.refresh_index, 0);
    plan_result_free(&res);

    /* A node refused for its status refuses the gang too, stops included. */
    node_ineligible(&x, 1);
    evaluate(&x, p, &res);
    assert_true(plan_result_is_noop(&res));
    assert_string_equal(rejected(&res, 1), "node is not eligible");
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

/* ---- node status and eligibility ------------------------------------------------------------- */

static void test_unusable_nodes_reject_placements_but_stops_apply(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 5);
    for (unsigned n = 1; n <= 5; n++) {
        place1(&x, mk_alloc(10 + n, n, 10, 10, 10));
    }
    node_status(&x, 1, CV_NODE_STATUS_DOWN);
    node_ineligible(&x, 2);
    node_status(&x, 3, CV_NODE_STATUS_DISCONNECTED);
    node_status(&x, 4, CV_NODE_STATUS_INITIALIZING);
    /* Node 6 was never registered; node 5 is fine. */

    struct plan *p = mk_plan();
    for (unsigned n = 1; n <= 5; n++) {
        plan_add_stop(p, NODE_ID(n), ALLOC_ID(10 + n), "node gone", CV_ALLOC_CLIENT_LOST, NULL);
        plan_add_alloc(p, mk_alloc(20 + n, n, 10, 10, 10));
    }
    plan_add_alloc(p, mk_alloc(26, 6, 10, 10, 10));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 5);
    assert_string_equal(rejected(&res, 1), "node is down and contains invalid updates");
    assert_string_equal(rejected(&res, 2), "node is not eligible");
    assert_string_equal(rejected(&res, 3), "node is disconnected and contains invalid updates");
    assert_string_equal(rejected(&res, 4), "node is not ready for placements");
    assert_string_equal(rejected(&res, 6), "node does not exist");
    assert_null(rejected(&res, 5));
    /* Rejections come in node order. */
    for (size_t i = 1; i < res.n_rejected; i++) {
        assert_true(strcmp(res.rejected[i - 1].node_id, res.rejected[i].node_id) < 0);
    }
    assert_int_equal(res.n_allocs, 1);
    assert_true(result_places(&res, 25));
    assert_int_equal(res.n_stops, 5); /* every stop applies */
    for (unsigned n = 1; n <= 5; n++) {
        assert_true(result_stops(&res, 10 + n));
    }
    assert_u64_equal(res.refresh_index, x.index);

    commit(&x, &res);
    const struct state_snap *s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(11))->client_status, CV_ALLOC_CLIENT_LOST);
    assert_string_equal(state_alloc(s, ALLOC_ID(12))->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_null(state_alloc(s, ALLOC_ID(21)));
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void test_down_node_takes_lost_updates_ineligible_takes_in_place(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 3);
    place1(&x, mk_alloc(1, 1, 100, 100, 100));
    place1(&x, mk_alloc(2, 2, 100, 100, 100));
    place1(&x, mk_alloc(3, 3, 100, 100, 100));
    node_status(&x, 1, CV_NODE_STATUS_DOWN);
    node_ineligible(&x, 2);
    node_status(&x, 3, CV_NODE_STATUS_DISCONNECTED);

    /* A down node takes updates that mark its allocations lost, a
     * disconnected one updates that mark them unknown; an ineligible one
     * takes in-place updates of what runs there (checked for fit). */
    struct plan *p = mk_plan();
    struct cv_allocation *lost = mk_alloc(1, 1, 100, 100, 100);
    cv_set_string(&lost->client_status, CV_ALLOC_CLIENT_LOST);
    plan_add_alloc(p, lost);
    plan_add_alloc(p, mk_alloc(2, 2, 200, 200, 200));
    struct cv_allocation *unknown = mk_alloc(3, 3, 100, 100, 100);
    cv_set_string(&unknown->client_status, CV_ALLOC_CLIENT_UNKNOWN);
    plan_add_alloc(p, unknown);
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    assert_int_equal(res.n_allocs, 3);
    commit(&x, &res);
    const struct state_snap *s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(1))->client_status, CV_ALLOC_CLIENT_LOST);
    assert_string_equal(state_alloc(s, ALLOC_ID(3))->client_status, CV_ALLOC_CLIENT_UNKNOWN);
    plan_result_free(&res);
    plan_free(p);

    /* An in-place update that grows past the node's capacity does not fit,
     * eligible or not. */
    p = mk_plan();
    plan_add_alloc(p, mk_alloc(2, 2, 1001, 100, 100));
    evaluate(&x, p, &res);
    assert_string_equal(rejected(&res, 2), "cpu");
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

/* ---- what counts on a node ---------------------------------------------------------------- */

static void test_stop_frees_room_in_the_same_plan(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    place1(&x, mk_alloc(1, 1, 600, 600, 600));

    struct plan *p = mk_plan();
    plan_add_alloc(p, mk_alloc(2, 1, 600, 600, 600));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_string_equal(rejected(&res, 1), "cpu");
    plan_result_free(&res);

    /* A destructive update: stop the old one, place the new one. */
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(1), "alloc is being updated", NULL, NULL);
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    assert_true(result_stops(&res, 1));
    assert_true(result_places(&res, 2));
    commit(&x, &res);
    const struct state_snap *s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(1))->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_string_equal(state_alloc(s, ALLOC_ID(1))->desired_description, "alloc is being updated");
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void test_terminal_allocations_do_not_count(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    place1(&x, mk_alloc(1, 1, 250, 250, 250));
    place1(&x, mk_alloc(2, 1, 250, 250, 250));
    place1(&x, mk_alloc(3, 1, 250, 250, 250));
    place1(&x, mk_alloc(4, 1, 250, 250, 250));
    place1(&x, mk_alloc(5, 1, 250, 250, 250));
    client_status(&x, 1, CV_ALLOC_CLIENT_COMPLETE);
    client_status(&x, 2, CV_ALLOC_CLIENT_FAILED);
    stop_alloc(&x, 3); /* desired stop, still running on its client */
    client_status(&x, 4, CV_ALLOC_CLIENT_RUNNING);
    const struct state_snap *s = view(&x);
    assert_string_equal(state_alloc(s, ALLOC_ID(3))->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_string_equal(state_alloc(s, ALLOC_ID(4))->client_status, CV_ALLOC_CLIENT_RUNNING);

    /* 4 and 5 count: 500 used, 500 free. */
    struct plan *p = mk_plan();
    plan_add_alloc(p, mk_alloc(6, 1, 500, 500, 500));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);

    plan_add_alloc(p, mk_alloc(7, 1, 1, 1, 1));
    evaluate(&x, p, &res);
    assert_string_equal(rejected(&res, 1), "cpu");
    plan_result_free(&res);

    /* A placement the plan itself marks lost does not count either. */
    cv_set_string(&p->allocs[1]->client_status, CV_ALLOC_CLIENT_LOST);
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

static void test_ports(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x);
    register_node(&x, 1,
                  ", \"ReservedResources\": {\"Networks\": {\"ReservedHostPorts\": "
                  "\"22, 8000-8010\"}}");
    register_web(&x);
    char ports[256];
    snprintf(ports, sizeof ports, "%s", port(9000, "10.0.0.1"));
    place1(&x, mk_alloc_ports(1, 1, 1, 1, 1, ports));

    struct
    {
        const char *ports;
        const char *problem; /* NULL: fits */
    } cases[] = {
        {"9000@10.0.0.2", NULL},
        {"9001@10.0.0.1", NULL},
        {"9000@10.0.0.1", "port 9000 already in use on 10.0.0.1"},
        {"8005@10.0.0.9", "port 8005 already in use on 10.0.0.9"}, /* reserved */
        {"22@", "port 22 already in use"},                         /* reserved, no IP */
        {"7000@10.0.0.1,7000@10.0.0.1", "port 7000 already in use on 10.0.0.1"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* "port@ip,port@ip" into Ports JSON. */
        char list[512] = "";
        char spec[128];
        snprintf(spec, sizeof spec, "%s", cases[c].ports);
        for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
            char *at = strchr(tok, '@');
            *at = '\0';
            if (list[0]) {
                strcat(list, ", ");
            }
            strcat(list, port(atoi(tok), at + 1));
        }
        struct plan *p = mk_plan();
        plan_add_alloc(p, mk_alloc_ports(2, 1, 1, 1, 1, list));
        struct plan_result res;
        evaluate(&x, p, &res);
        if (!cases[c].problem) {
            assert_int_equal(res.n_rejected, 0);
        } else {
            char want[PLAN_REASON_MAX];
            snprintf(want, sizeof want,
                     "reserved alloc port collision: collision when reserving port for alloc "
                     "%s: %s",
                     ALLOC_ID(2), cases[c].problem);
            assert_int_equal(res.n_rejected, 1);
            assert_string_equal(rejected(&res, 1), want);
        }
        plan_result_free(&res);
        plan_free(p);
    }

    /* Two placements of one plan on the same port; the stop of the holder
     * frees its port. */
    struct plan *p = mk_plan();
    plan_add_alloc(p, mk_alloc_ports(2, 1, 1, 1, 1, port(9100, "10.0.0.1")));
    plan_add_alloc(p, mk_alloc_ports(3, 1, 1, 1, 1, port(9100, "10.0.0.1")));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 1);
    assert_non_null(strstr(rejected(&res, 1), "port 9100 already in use"));
    plan_result_free(&res);
    plan_free(p);

    p = mk_plan();
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(1), "moved", NULL, NULL);
    plan_add_alloc(p, mk_alloc_ports(2, 1, 1, 1, 1, port(9000, "10.0.0.1")));
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

/* ---- the overlay: plans in flight --------------------------------------------------------- */

static void test_racing_plans_never_both_commit(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 2);
    place1(&x, mk_alloc(1, 1, 600, 600, 600)); /* node 1: room for 400 more */

    /* Two workers planned against the same state, each taking node 1's
     * last capacity, and B also something on node 2. */
    struct plan *a = mk_plan();
    plan_add_alloc(a, mk_alloc(2, 1, 400, 400, 400));
    struct plan *b = mk_plan();
    plan_add_alloc(b, mk_alloc(3, 1, 400, 400, 400));
    plan_add_alloc(b, mk_alloc(4, 2, 400, 400, 400));

    struct plan_result ra, rb;
    evaluate(&x, a, &ra);
    assert_int_equal(ra.n_rejected, 0);
    /* Alone, B would fit too: only the overlay tells the verifier about A. */
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 0);
    plan_result_free(&rb);

    /* A is proposed: in the overlay until it commits. */
    uint64_t ta = plan_overlay_add(x.ov, &ra);
    assert_true(ta != 0);
    assert_int_equal(plan_overlay_len(x.ov), 1);
    struct state_snap *before = state_snapshot(x.st);
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 1);
    assert_string_equal(rejected(&rb, 1), "cpu");
    assert_true(result_places(&rb, 4));
    assert_false(result_places(&rb, 3));
    assert_u64_equal(rb.refresh_index, x.index);
    assert_u64_equal(rb.pending_ticket, ta);
    plan_result_free(&rb);

    /* A commits through the FSM at the next index. */
    struct fsm_result fr = commit(&x, &ra);
    plan_overlay_commit(x.ov, ta, fr.index);
    plan_result_free(&ra);
    plan_free(a); /* the overlay keeps its own copy */

    /* B against the new state: still refused for node 1. */
    evaluate(&x, b, &rb);
    assert_string_equal(rejected(&rb, 1), "cpu");
    assert_u64_equal(rb.refresh_index, fr.index);
    assert_u64_equal(rb.pending_ticket, 0);
    plan_result_free(&rb);

    /* B against the older snapshot: the committed entry still counts, and
     * the worker is sent to A's commit index. */
    struct cv_err err = {0};
    assert_int_equal(plan_evaluate(before, x.ov, b, &rb, &err), 0);
    assert_string_equal(rejected(&rb, 1), "cpu");
    assert_u64_equal(rb.snapshot_index, state_snap_index(before));
    assert_u64_equal(rb.refresh_index, fr.index);
    plan_result_free(&rb);
    state_snapshot_release(before);

    /* Pruned once no evaluation reads an older snapshot: still refused. */
    plan_overlay_prune(x.ov, fr.index - 1);
    assert_int_equal(plan_overlay_len(x.ov), 1);
    plan_overlay_prune(x.ov, fr.index);
    assert_int_equal(plan_overlay_len(x.ov), 0);
    evaluate(&x, b, &rb);
    assert_string_equal(rejected(&rb, 1), "cpu");
    commit(&x, &rb);
    const struct state_snap *s = view(&x);
    assert_non_null(state_alloc(s, ALLOC_ID(2)));
    assert_null(state_alloc(s, ALLOC_ID(3)));
    assert_non_null(state_alloc(s, ALLOC_ID(4)));
    plan_result_free(&rb);
    plan_free(b);
    fx_done(&x);
}

static void test_overlay_no_double_count_and_drop(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    struct plan *a = mk_plan();
    plan_add_alloc(a, mk_alloc(1, 1, 500, 500, 500));
    struct plan *b = mk_plan();
    plan_add_alloc(b, mk_alloc(2, 1, 500, 500, 500));

    struct plan_result ra, rb;
    evaluate(&x, a, &ra);
    uint64_t ta = plan_overlay_add(x.ov, &ra);
    /* A applied, but its commit not yet told to the overlay: the state and
     * the overlay both hold allocation 1, counted once. */
    commit(&x, &ra);
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 0);
    assert_u64_equal(rb.pending_ticket, ta);
    plan_result_free(&rb);
    plan_overlay_commit(x.ov, ta, x.index);
    plan_overlay_prune(x.ov, x.index);
    assert_int_equal(plan_overlay_len(x.ov), 0);
    plan_result_free(&ra);

    /* A proposal that fails is dropped: its placements no longer count. */
    struct plan *c = mk_plan();
    plan_add_alloc(c, mk_alloc(3, 1, 500, 500, 500));
    struct plan_result rc;
    evaluate(&x, c, &rc);
    assert_int_equal(rc.n_rejected, 0);
    uint64_t tc = plan_overlay_add(x.ov, &rc);
    assert_true(tc > ta);
    plan_result_free(&rc);
    evaluate(&x, b, &rb);
    assert_string_equal(rejected(&rb, 1), "cpu");
    plan_result_free(&rb);
    plan_overlay_drop(x.ov, tc);
    plan_overlay_drop(x.ov, 999); /* unknown: ignored */
    plan_overlay_commit(x.ov, 999, 5);
    assert_int_equal(plan_overlay_len(x.ov), 0);
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 0);
    plan_result_free(&rb);
    plan_free(a);
    plan_free(b);
    plan_free(c);
    fx_done(&x);
}

static void test_overlay_stops_and_updates(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    place1(&x, mk_alloc(1, 1, 600, 600, 600));
    place1(&x, mk_alloc(2, 1, 300, 300, 300));

    /* In flight: A stops allocation 1, then C shrinks allocation 2 in place. */
    struct plan *a = mk_plan();
    plan_add_stop(a, NODE_ID(1), ALLOC_ID(1), "stopped", NULL, NULL);
    struct plan_result ra;
    evaluate(&x, a, &ra);
    plan_overlay_add(x.ov, &ra);
    plan_result_free(&ra);
    struct plan *c = mk_plan();
    plan_add_alloc(c, mk_alloc(2, 1, 100, 100, 100));
    struct plan_result rc;
    evaluate(&x, c, &rc);
    assert_int_equal(rc.n_rejected, 0);
    plan_overlay_add(x.ov, &rc);
    plan_result_free(&rc);
    assert_int_equal(plan_overlay_len(x.ov), 2);

    /* B sees 100 used: 900 fits, 901 does not. */
    struct plan *b = mk_plan();
    plan_add_alloc(b, mk_alloc(3, 1, 900, 900, 900));
    struct plan_result rb;
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 0);
    plan_result_free(&rb);
    b->allocs[0]->allocated_resources->tasks.items[0].cpu.cpu_shares = 901;
    evaluate(&x, b, &rb);
    assert_string_equal(rejected(&rb, 1), "cpu");
    plan_result_free(&rb);

    /* A later entry stopping what an earlier one placed wins. */
    struct plan *d = mk_plan();
    plan_add_stop(d, NODE_ID(1), ALLOC_ID(2), "stopped", NULL, NULL);
    struct plan_result rd;
    evaluate(&x, d, &rd);
    assert_int_equal(rd.n_stops, 1);
    plan_overlay_add(x.ov, &rd);
    plan_result_free(&rd);
    b->allocs[0]->allocated_resources->tasks.items[0].cpu.cpu_shares = 1000;
    evaluate(&x, b, &rb);
    assert_int_equal(rb.n_rejected, 0);
    plan_result_free(&rb);
    plan_free(a);
    plan_free(b);
    plan_free(c);
    plan_free(d);
    fx_done(&x);
}

static void test_stop_of_allocation_gone(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    place1(&x, mk_alloc(1, 1, 100, 100, 100));

    /* Allocation 7 was never there (garbage collected meanwhile): its stop
     * is left out, so the FSM does not refuse the whole entry. */
    struct plan *p = mk_plan();
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(7), "stopped", NULL, NULL);
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(1), "stopped", NULL, NULL);
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_int_equal(res.n_rejected, 0);
    assert_int_equal(res.stops_gone, 1);
    assert_int_equal(res.n_stops, 1);
    assert_true(result_stops(&res, 1));
    assert_u64_equal(res.refresh_index, 0);
    commit(&x, &res);
    plan_result_free(&res);
    plan_free(p);

    /* A stop of an allocation only the overlay has is kept. */
    struct plan *a = mk_plan();
    plan_add_alloc(a, mk_alloc(8, 1, 1, 1, 1));
    struct plan_result ra;
    evaluate(&x, a, &ra);
    plan_overlay_add(x.ov, &ra);
    plan_result_free(&ra);
    p = mk_plan();
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(8), "stopped", NULL, NULL);
    evaluate(&x, p, &res);
    assert_int_equal(res.stops_gone, 0);
    assert_true(result_stops(&res, 8));
    plan_result_free(&res);

    /* A no-op result. */
    plan_free(p);
    p = mk_plan();
    evaluate(&x, p, &res);
    assert_true(plan_result_is_noop(&res));
    assert_int_equal(res.n_rejected, 0);
    plan_result_free(&res);
    plan_free(p);
    plan_free(a);
    fx_done(&x);
}

static void test_purged_job_and_snapshot_index(void **state)
{
    (void)state;
    struct fx x;
    setup(&x, 1);
    place1(&x, mk_alloc(1, 1, 100, 100, 100));
    assert_int_equal(fsm_encode_job_deregister("web", true, 0, NULL, &x.entry, NULL), 0);
    apply(&x);

    struct plan *p = mk_plan();
    plan_add_stop(p, NODE_ID(1), ALLOC_ID(1), "job purged", NULL, NULL);
    plan_add_alloc(p, mk_alloc(2, 1, 100, 100, 100));
    struct plan_result res;
    evaluate(&x, p, &res);
    assert_string_equal(rejected(&res, 1), "job \"web\" does not exist");
    assert_int_equal(res.n_allocs, 0);
    assert_int_equal(res.n_stops, 1);
    commit(&x, &res); /* the FSM takes it */
    plan_result_free(&res);

    /* An in-place update shares the job of the allocation it replaces. */
    struct plan *u = mk_plan();
    plan_add_alloc(u, mk_alloc(1, 1, 50, 50, 50));
    evaluate(&x, u, &res);
    assert_int_equal(res.n_rejected, 0);
    commit(&x, &res);
    assert_string_equal(state_alloc(view(&x), ALLOC_ID(1))->job->id, "web");
    plan_result_free(&res);
    plan_free(u);

    /* A plan from a worker that saw a newer state than the verifier's. */
    p->snapshot_index = x.index + 1;
    struct cv_err err = {0};
    assert_int_equal(plan_evaluate(view(&x), NULL, p, &res, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "wait for the state"));
    assert_int_equal(res.n_allocs + res.n_stops + res.n_rejected, 0);
    plan_result_free(&res);

    /* One allocation placed twice is the caller's bug. */
    p->snapshot_index = 0;
    plan_add_alloc(p, mk_alloc(2, 1, 100, 100, 100));
    assert_int_equal(plan_evaluate(view(&x), NULL, p, &res, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    plan_result_free(&res);
    plan_free(p);
    fx_done(&x);
}

/* ---- JSON -------------------------------------------------------------------------------- */

static char *plan_text(const char *node_update, const char *node_allocation)
{
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_appendf(&b,
                   "{\"EvalID\": \"%s\", \"EvalToken\": \"tok\", \"Priority\": 70,"
                   " \"AllAtOnce\": true, \"Job\": {\"ID\": \"web\", \"Namespace\": \"default\"},"
                   " \"NodeUpdate\": %s, \"NodeAllocation\": %s, \"SnapshotIndex\": 12,"
                   " \"NodePreemptions\": null, \"Deployment\": null,"
                   " \"DeploymentUpdates\": [], \"Annotations\": null}",
                   EVAL_ID(1), node_update, node_allocation);
    return cv_buf_take(&b);
}

static void test_decode_and_round_trip(void **state)
{
    (void)state;
    char a1[2048], a2[2048], update[512], alloc[4600];
    alloc_json(a1, sizeof a1, 1, 1, 100, 200, 300, "");
    alloc_json(a2, sizeof a2, 2, 2, 100, 200, 300, "");
    snprintf(update, sizeof update,
             "{\"%s\": [{\"ID\": \"%s\", \"DesiredDescription\": \"lost\","
             " \"ClientStatus\": \"lost\", \"FollowupEvalID\": \"%s\", \"NodeID\": \"%s\","
             " \"DesiredStatus\": \"stop\"}], \"%s\": null}",
             NODE_ID(1), ALLOC_ID(9), EVAL_ID(2), NODE_ID(1), NODE_ID(3));
    snprintf(alloc, sizeof alloc, "{\"%s\": [%s], \"%s\": [%s]}", NODE_ID(1), a1, NODE_ID(2), a2);
    char *text = plan_text(update, alloc);
    struct plan *p = NULL;
    struct cv_err err = {0};
    int rc = plan_parse(text, strlen(text), &p, &err);
    if (rc) {
        print_error("%s: %s\n", err.path, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(p->eval_id, EVAL_ID(1));
    assert_string_equal(p->eval_token, "tok");
    assert_i64_equal(p->priority, 70);
    assert_true(p->all_at_once);
    assert_string_equal(p->job_id, "web");
    assert_u64_equal(p->snapshot_index, 12);
    assert_int_equal(p->n_stops, 1);
    assert_string_equal(p->stops[0].node_id, NODE_ID(1));
    assert_string_equal(p->stops[0].alloc_id, ALLOC_ID(9));
    assert_string_equal(p->stops[0].client_status, "lost");
    assert_string_equal(p->stops[0].followup_eval_id, EVAL_ID(2));
    assert_int_equal(p->n_allocs, 2);
    assert_i64_equal(p->allocs[1]->allocated_resources->shared.disk_mb, 300);

    /* Encoded and decoded again: the same plan, the same bytes. */
    struct cv_jgen *g = cv_jgen_new(false);
    plan_encode(p, g);
    const char *out;
    size_t len;
    assert_int_equal(cv_jgen_finish(g, &out, &len, NULL), 0);
    struct plan *q = NULL;
    rc = plan_parse(out, len, &q, &err);
    if (rc) {
        print_error("%s: %s\n", err.path, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(q->n_stops, 1);
    assert_int_equal(q->n_allocs, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(cv_alloc_equal(p->allocs[i], q->allocs[i]));
    }
    struct cv_jgen *g2 = cv_jgen_new(false);
    plan_encode(q, g2);
    const char *out2;
    size_t len2;
    assert_int_equal(cv_jgen_finish(g2, &out2, &len2, NULL), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(out, out2, len);
    cv_jgen_free(g);
    cv_jgen_free(g2);
    plan_free(q);
    plan_free(p);
    cv_free(text);
}

static void test_decode_rejects_malformed_plans(void **state)
{
    (void)state;
    char a1[2048], a1_other_node[2048], good_alloc[2400], na_path[128], nu_path[128];
    alloc_json(a1, sizeof a1, 1, 1, 100, 200, 300, "");
    alloc_json(a1_other_node, sizeof a1_other_node, 1, 2, 100, 200, 300, "");
    snprintf(good_alloc, sizeof good_alloc, "{\"%s\": [%s]}", NODE_ID(1), a1);
    snprintf(na_path, sizeof na_path, "NodeAllocation.%s[0]", NODE_ID(1));
    snprintf(nu_path, sizeof nu_path, "NodeUpdate.%s[0]", NODE_ID(1));

    char buf[6000];
    struct
    {
        const char *name;
        char *text; /* owned */
        char path[CV_ERR_PATH_MAX];
        const char *msg; /* a part of the message */
    } cases[32];
    size_t n = 0;
#define CASE(label, p, m, ...)                                    \
    do {                                                          \
        snprintf(buf, sizeof buf, __VA_ARGS__);                   \
        cases[n].name = (label);                                  \
        cases[n].text = cv_strdup(buf);                           \
        snprintf(cases[n].path, sizeof cases[n].path, "%s", (p)); \
        cases[n].msg = (m);                                       \
        n++;                                                      \
    } while (0)
#define HEAD "\"EvalToken\": \"t\", \"Priority\": 50, \"Job\": {\"ID\": \"web\"}"

    CASE("not an object", "", "must be a JSON object", "[1, 2]");
    CASE("no EvalID", "EvalID", "is required", "{" HEAD "}");
    CASE("EvalID not a UUID", "EvalID", "must be a UUID", "{\"EvalID\": \"x\", " HEAD "}");
    CASE("EvalID a number", "EvalID", "must be a string", "{\"EvalID\": 7, " HEAD "}");
    CASE("no token", "EvalToken", "is required",
         "{\"EvalID\": \"%s\", \"Priority\": 50, \"Job\": {\"ID\": \"web\"}}", EVAL_ID(1));
    CASE("priority out of range", "Priority", "between 1 and 100",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 101, \"Job\": {\"ID\": \"w\"}}",
         EVAL_ID(1));
    CASE("priority a float", "Priority", "integer",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 1.5, \"Job\": {\"ID\": \"w\"}}",
         EVAL_ID(1));
    CASE("no job", "Job", "is required",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 5}", EVAL_ID(1));
    CASE("job without ID", "Job.ID", "is required",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 5, \"Job\": {}}", EVAL_ID(1));
    CASE("a full job", "Job.TaskGroups", "unknown field",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 5,"
         " \"Job\": {\"ID\": \"w\", \"TaskGroups\": []}}",
         EVAL_ID(1));
    CASE("another namespace", "Job.Namespace", "one namespace",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 5,"
         " \"Job\": {\"ID\": \"w\", \"Namespace\": \"prod\"}}",
         EVAL_ID(1));
    CASE("AllAtOnce a string", "AllAtOnce", "must be a boolean",
         "{\"EvalID\": \"%s\", " HEAD ", \"AllAtOnce\": \"yes\"}", EVAL_ID(1));
    CASE("SnapshotIndex negative", "SnapshotIndex", "unsigned",
         "{\"EvalID\": \"%s\", " HEAD ", \"SnapshotIndex\": -1}", EVAL_ID(1));
    CASE("unknown field", "Foo", "unknown field", "{\"EvalID\": \"%s\", " HEAD ", \"Foo\": 1}",
         EVAL_ID(1));
    CASE("preemptions", "NodePreemptions", "not supported",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodePreemptions\": {\"%s\": []}}", EVAL_ID(1),
         NODE_ID(1));
    CASE("NodeUpdate an array", "NodeUpdate", "must be an object",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeUpdate\": []}", EVAL_ID(1));
    CASE("node key not a UUID", "NodeUpdate.n1", "node IDs must be UUIDs",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeUpdate\": {\"n1\": []}}", EVAL_ID(1));
    char nu_key[128];
    snprintf(nu_key, sizeof nu_key, "NodeUpdate.%s", NODE_ID(1));
    CASE("node list an object", nu_key, "must be an array",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeUpdate\": {\"%s\": {}}}", EVAL_ID(1), NODE_ID(1));
    char p_id[CV_ERR_PATH_MAX];
    snprintf(p_id, sizeof p_id, "%s.ID", nu_path);
    CASE("stop without ID", p_id, "is required",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeUpdate\": {\"%s\": [{}]}}", EVAL_ID(1), NODE_ID(1));
    char p_cs[CV_ERR_PATH_MAX];
    snprintf(p_cs, sizeof p_cs, "%s.ClientStatus", nu_path);
    CASE("stop with a bad client status", p_cs, "must be one of",
         "{\"EvalID\": \"%s\", " HEAD
         ", \"NodeUpdate\": {\"%s\": [{\"ID\": \"%s\","
         " \"ClientStatus\": \"gone\"}]}}",
         EVAL_ID(1), NODE_ID(1), ALLOC_ID(1));
    char p_node[CV_ERR_PATH_MAX];
    snprintf(p_node, sizeof p_node, "%s.NodeID", nu_path);
    CASE("stop listed under another node", p_node, "must be the node",
         "{\"EvalID\": \"%s\", " HEAD
         ", \"NodeUpdate\": {\"%s\": [{\"ID\": \"%s\","
         " \"NodeID\": \"%s\"}]}}",
         EVAL_ID(1), NODE_ID(1), ALLOC_ID(1), NODE_ID(2));
    char p_x[CV_ERR_PATH_MAX];
    snprintf(p_x, sizeof p_x, "%s.JobID", nu_path);
    CASE("stop with an unknown field", p_x, "unknown field",
         "{\"EvalID\": \"%s\", " HEAD
         ", \"NodeUpdate\": {\"%s\": [{\"ID\": \"%s\","
         " \"JobID\": \"web\"}]}}",
         EVAL_ID(1), NODE_ID(1), ALLOC_ID(1));
    CASE("stop listed twice", nu_key, "listed twice in NodeUpdate",
         "{\"EvalID\": \"%s\", " HEAD
         ", \"NodeUpdate\": {\"%s\": [{\"ID\": \"%s\"},"
         " {\"ID\": \"%s\"}]}}",
         EVAL_ID(1), NODE_ID(1), ALLOC_ID(1), ALLOC_ID(1));
    char p_res[CV_ERR_PATH_MAX];
    snprintf(p_res, sizeof p_res, "%s.AllocatedResources.Tasks.t.Cpu.CpuShares", na_path);
    char bad_alloc[2048];
    alloc_json(bad_alloc, sizeof bad_alloc, 1, 1, -5, 200, 300, "");
    CASE("negative CPU", p_res, "must not be negative",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeAllocation\": {\"%s\": [%s]}}", EVAL_ID(1),
         NODE_ID(1), bad_alloc);
    snprintf(p_node, sizeof p_node, "%s.NodeID", na_path);
    CASE("placement under another node", p_node, "must be the node",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeAllocation\": {\"%s\": [%s]}}", EVAL_ID(1),
         NODE_ID(1), a1_other_node);
    snprintf(p_x, sizeof p_x, "%s.JobID", na_path);
    CASE("placement of another job", p_x, "must be the plan's job",
         "{\"EvalID\": \"%s\", \"EvalToken\": \"t\", \"Priority\": 5, \"Job\": {\"ID\": \"api\"},"
         " \"NodeAllocation\": %s}",
         EVAL_ID(1), good_alloc);
    char no_res[2048];
    snprintf(no_res, sizeof no_res,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"web.g[0]\", \"NodeID\": \"%s\","
             " \"JobID\": \"web\", \"TaskGroup\": \"g\"}",
             ALLOC_ID(1), EVAL_ID(1), NODE_ID(1));
    snprintf(p_x, sizeof p_x, "%s.AllocatedResources", na_path);
    CASE("placement without resources", p_x, "is required",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeAllocation\": {\"%s\": [%s]}}", EVAL_ID(1),
         NODE_ID(1), no_res);
    snprintf(p_x, sizeof p_x, "NodeAllocation.%s", NODE_ID(2));
    CASE("placement listed twice", p_x, "listed twice in NodeAllocation",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeAllocation\": {\"%s\": [%s], \"%s\": [%s]}}",
         EVAL_ID(1), NODE_ID(1), a1, NODE_ID(2), a1_other_node);
    CASE("placement not an object", na_path, "",
         "{\"EvalID\": \"%s\", " HEAD ", \"NodeAllocation\": {\"%s\": [7]}}", EVAL_ID(1),
         NODE_ID(1));
#undef CASE
#undef HEAD
    assert_true(n <= sizeof cases / sizeof cases[0]);

    for (size_t i = 0; i < n; i++) {
        struct plan *p = (struct plan *)1;
        struct cv_err err = {0};
        int rc = plan_parse(cases[i].text, strlen(cases[i].text), &p, &err);
        if (rc != CV_EVALIDATE || strcmp(err.path, cases[i].path) != 0 ||
            !strstr(err.msg, cases[i].msg)) {
            print_error("case \"%s\": rc %d, path \"%s\" (want \"%s\"), msg \"%s\" (want \"%s\")\n",
                        cases[i].name, rc, err.path, cases[i].path, err.msg, cases[i].msg);
        }
        assert_int_equal(rc, CV_EVALIDATE);
        assert_int_equal(err.code, CV_EVALIDATE);
        assert_string_equal(err.path, cases[i].path);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_null(p);
        cv_free(cases[i].text);
    }

    /* Syntax errors keep the parser's code. */
    struct plan *p = NULL;
    struct cv_err err = {0};
    assert_int_equal(plan_parse("{\"EvalID\": ", 11, &p, &err), CV_EPARSE);
    assert_null(p);
    assert_int_equal(plan_parse("{} {}", 5, &p, &err), CV_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_fits_whole),
        CV_TEST(test_overcommit_rejects_the_node_only),
        CV_TEST(test_reserved_resources_and_max_allocs),
        CV_TEST(test_all_at_once_rejects_everything),
        CV_TEST(test_unusable_nodes_reject_placements_but_stops_apply),
        CV_TEST(test_down_node_takes_lost_updates_ineligible_takes_in_place),
        CV_TEST(test_stop_frees_room_in_the_same_plan),
        CV_TEST(test_terminal_allocations_do_not_count),
        CV_TEST(test_ports),
        CV_TEST(test_racing_plans_never_both_commit),
        CV_TEST(test_overlay_no_double_count_and_drop),
        CV_TEST(test_overlay_stops_and_updates),
        CV_TEST(test_stop_of_allocation_gone),
        CV_TEST(test_purged_job_and_snapshot_index),
        CV_TEST(test_decode_and_round_trip),
        CV_TEST(test_decode_rejects_malformed_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
