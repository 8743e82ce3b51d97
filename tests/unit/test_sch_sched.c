/*
 * test_sch_sched: the scheduler's public face, sch_schedule, over a small
 * in-memory state (arrays behind struct sch_state): what a plan holds for a
 * new job, distinct_hosts and distinct_property, the anti-affinity that
 * spreads a group over equal nodes, coalesced failures and their metrics,
 * class eligibility for a blocked evaluation, system jobs one per node,
 * a stopped job, an in-place update, and the same seed giving the same plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/allocation.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "schedd/sched.h"
#include "testutil.h"

#define MAX_NODES  16
#define MAX_ALLOCS 64
#define NOW        ((int64_t)1700000000 * 1000000000)

struct world
{
    struct cv_node *nodes[MAX_NODES];
    size_t n_nodes;
    struct cv_job *job;
    struct cv_allocation *allocs[MAX_ALLOCS];
    size_t n_allocs;
};

static const struct cv_job *w_job(void *ctx, const char *id)
{
    struct world *w = ctx;
    return w->job != NULL && strcmp(w->job->id, id) == 0 ? w->job : NULL;
}

static const struct cv_node *w_node(void *ctx, const char *id)
{
    struct world *w = ctx;
    for (size_t i = 0; i < w->n_nodes; i++) {
        if (strcmp(w->nodes[i]->id, id) == 0) {
            return w->nodes[i];
        }
    }
    return NULL;
}

static void w_each_node(void *ctx, sch_visit_node_fn fn, void *arg)
{
    struct world *w = ctx;
    for (size_t i = 0; i < w->n_nodes; i++) {
        fn(arg, w->nodes[i]);
    }
}

static void w_each_job_alloc(void *ctx, const char *job_id, sch_visit_alloc_fn fn, void *arg)
{
    struct world *w = ctx;
    for (size_t i = 0; i < w->n_allocs; i++) {
        if (strcmp(w->allocs[i]->job_id, job_id) == 0) {
            fn(arg, w->allocs[i]);
        }
    }
}

static void w_each_node_alloc(void *ctx, const char *node_id, sch_visit_alloc_fn fn, void *arg)
{
    struct world *w = ctx;
    for (size_t i = 0; i < w->n_allocs; i++) {
        if (strcmp(w->allocs[i]->node_id, node_id) == 0) {
            fn(arg, w->allocs[i]);
        }
    }
}

static struct sch_state state_of(struct world *w)
{
    return (struct sch_state){.ctx = w,
                              .index = 100,
                              .job = w_job,
                              .node = w_node,
                              .each_node = w_each_node,
                              .each_job_alloc = w_each_job_alloc,
                              .each_node_alloc = w_each_node_alloc};
}

static void add_node(struct world *w, const char *name, int cpu, int mem, const char *rack,
                     const char *kernel)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"ID\": \"00000000-0000-4000-8000-0000000000%02zu\", \"Name\": \"%s\","
             " \"Datacenter\": \"dc1\", \"Status\": \"ready\", \"NodeClass\": \"c\","
             " \"ComputedClass\": \"v1:%s\","
             " \"Attributes\": {\"kernel.name\": \"%s\"}, \"Meta\": {\"rack\": \"%s\"},"
             " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": %d}, \"Memory\": {\"MemoryMB\": %d},"
             " \"Disk\": {\"DiskMB\": 10000}}}",
             w->n_nodes + 1, name, kernel, kernel, rack, cpu, mem);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *n = NULL;
    assert_int_equal(cv_node_parse(text, strlen(text), &n, &errs), 0);
    cv_errlist_free(&errs);
    assert_true(w->n_nodes < MAX_NODES);
    w->nodes[w->n_nodes++] = n;
}

static void set_job(struct world *w, const char *text)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    if (cv_job_parse(text, strlen(text), &job, &errs) != 0) {
        char one[CV_ERR_MSG_MAX];
        fail_msg("job: %s", cv_errlist_format(&errs, 0, one, sizeof one));
    }
    cv_errlist_free(&errs);
    cv_job_free(w->job);
    w->job = job;
}

/* Commits the plan's placements into the world, as the leader's state
 * would: a placement without a job gets the job's current version. */
static void commit(struct world *w, struct sch_outcome *o)
{
    for (size_t i = 0; i < o->plan.allocs.len; i++) {
        assert_true(w->n_allocs < MAX_ALLOCS);
        struct cv_allocation *a = cv_alloc_copy(o->plan.allocs.items[i]);
        if (a->job == NULL) {
            a->job = cv_job_copy(w->job);
        }
        w->allocs[w->n_allocs++] = a;
    }
}

static void world_free(struct world *w)
{
    for (size_t i = 0; i < w->n_nodes; i++) {
        cv_node_free(w->nodes[i]);
    }
    for (size_t i = 0; i < w->n_allocs; i++) {
        cv_alloc_free(w->allocs[i]);
    }
    cv_job_free(w->job);
}

static int schedule(struct world *w, uint64_t seed, struct sch_outcome *out)
{
    struct cv_evaluation *ev = cv_eval_new();
    cv_set_string(&ev->id, "e0000000-0000-4000-8000-000000000001");
    cv_set_string(&ev->job_id, w->job->id);
    cv_set_string(&ev->type, w->job->type);
    cv_set_string(&ev->triggered_by, CV_EVAL_TRIGGER_JOB_REGISTER);
    ev->priority = 50;
    struct sch_state st = state_of(w);
    struct sch_options opts = {.now = NOW, .seed = seed};
    struct cv_err err = {0};
    sch_outcome_init(out);
    int rc = sch_schedule(&st, ev, &opts, out, &err);
    cv_eval_free(ev);
    return rc;
}

static const struct cv_tg_metric *failed(const struct sch_outcome *o, const char *group)
{
    for (size_t i = 0; i < o->failed_tg_allocs.len; i++) {
        if (strcmp(o->failed_tg_allocs.items[i].key, group) == 0) {
            return &o->failed_tg_allocs.items[i];
        }
    }
    return NULL;
}

#define JOB_HEAD(id, type, count)                     \
    "{\"ID\": \"" id "\", \"Type\": \"" type          \
    "\", \"Datacenters\": [\"dc1\"], \"TaskGroups\":" \
    " [{\"Name\": \"g\", \"Count\": " #count          \
    ", \"Tasks\": [{\"Name\": \"t\", \"Driver\":"     \
    " \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]"

static void test_new_job_plan(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 1000, 1024, "r1", "linux");
    add_node(&w, "b", 1000, 1024, "r2", "linux");
    set_job(&w, JOB_HEAD("web", "service", 4) "}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 7, &o), 0);
    assert_int_equal(o.plan.allocs.len, 4);
    assert_int_equal(o.plan.stops.len, 0);
    assert_int_equal(o.placed, 4);
    assert_int_equal(o.plan.snapshot_index, 100);
    assert_string_equal(o.plan.job_id, "web");
    bool seen[4] = {false};
    for (size_t i = 0; i < o.plan.allocs.len; i++) {
        const struct cv_allocation *a = o.plan.allocs.items[i];
        assert_null(a->job); /* the state pins the current version */
        assert_string_equal(a->eval_id, "e0000000-0000-4000-8000-000000000001");
        assert_string_equal(a->desired_status, CV_ALLOC_DESIRED_RUN);
        assert_non_null(a->allocated_resources);
        assert_int_equal(a->allocated_resources->tasks.items[0].cpu.cpu_shares, 100);
        assert_non_null(w_node(&w, a->node_id));
        int idx = -1;
        assert_int_equal(sscanf(a->name, "web.g[%d]", &idx), 1);
        assert_true(idx >= 0 && idx < 4);
        assert_false(seen[idx]);
        seen[idx] = true;
    }
    assert_null(failed(&o, "g"));
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 0);
    assert_false(sch_outcome_blocked(&o));
    sch_outcome_free(&o);
    world_free(&w);
}

static size_t on_node(const struct sch_outcome *o, const char *node_id)
{
    size_t n = 0;
    for (size_t i = 0; i < o->plan.allocs.len; i++) {
        n += strcmp(o->plan.allocs.items[i]->node_id, node_id) == 0;
    }
    return n;
}

static void test_max_placements_truncates_the_plan(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 4000, 4096, "r1", "linux");
    set_job(&w, JOB_HEAD("web", "service", 5) "}]}");
    struct cv_evaluation *ev = cv_eval_new();
    cv_set_string(&ev->id, "e0000000-0000-4000-8000-000000000001");
    cv_set_string(&ev->job_id, "web");
    cv_set_string(&ev->type, "service");
    struct sch_state st = state_of(&w);
    struct sch_options opts = {.now = NOW, .seed = 1, .max_placements = 2};
    struct cv_err err = {0};
    struct sch_outcome o;
    sch_outcome_init(&o);
    assert_int_equal(sch_schedule(&st, ev, &opts, &o, &err), 0);
    assert_int_equal(o.plan.allocs.len, 2);
    assert_true(o.truncated);
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 3);
    assert_false(sch_outcome_blocked(&o)); /* left for the next plan, not failed */
    commit(&w, &o);
    sch_outcome_free(&o);
    /* The next plans place the rest; the last one is not truncated. */
    sch_outcome_init(&o);
    assert_int_equal(sch_schedule(&st, ev, &opts, &o, &err), 0);
    assert_int_equal(o.plan.allocs.len, 2);
    commit(&w, &o);
    sch_outcome_free(&o);
    sch_outcome_init(&o);
    assert_int_equal(sch_schedule(&st, ev, &opts, &o, &err), 0);
    assert_int_equal(o.plan.allocs.len, 1);
    assert_false(o.truncated);
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 0);
    sch_outcome_free(&o);
    cv_eval_free(ev);
    world_free(&w);
}

static void test_anti_affinity_spreads_over_equal_nodes(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 4000, 4096, "r1", "linux");
    add_node(&w, "b", 4000, 4096, "r1", "linux");
    set_job(&w, JOB_HEAD("web", "service", 2) "}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 3, &o), 0);
    assert_int_equal(o.plan.allocs.len, 2);
    assert_int_equal(on_node(&o, w.nodes[0]->id), 1);
    assert_int_equal(on_node(&o, w.nodes[1]->id), 1);
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_distinct_hosts(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 4000, 4096, "r1", "linux");
    add_node(&w, "b", 4000, 4096, "r1", "linux");
    set_job(&w, JOB_HEAD("web", "service", 3) ", \"Constraints\": [{\"Operand\":"
                                              " \"distinct_hosts\", \"RTarget\": \"true\"}]}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 1, &o), 0);
    assert_int_equal(o.plan.allocs.len, 2);
    assert_int_equal(on_node(&o, w.nodes[0]->id), 1);
    assert_int_equal(on_node(&o, w.nodes[1]->id), 1);
    const struct cv_tg_metric *f = failed(&o, "g");
    assert_non_null(f);
    assert_int_equal(f->metric.nodes_filtered, 2);
    assert_int_equal(f->metric.constraint_filtered.len, 1);
    assert_non_null(strstr(f->metric.constraint_filtered.items[0].key, "distinct_hosts"));
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 1);
    sch_outcome_free(&o);

    /* The placements committed, a new evaluation places nothing more and
     * counts the committed allocations as well. */
    set_job(&w, JOB_HEAD("web", "service", 3) ", \"Constraints\": [{\"Operand\":"
                                              " \"distinct_hosts\", \"RTarget\": \"true\"}]}]}");
    struct sch_outcome first;
    assert_int_equal(schedule(&w, 1, &first), 0);
    commit(&w, &first);
    sch_outcome_free(&first);
    assert_int_equal(schedule(&w, 2, &o), 0);
    assert_int_equal(o.plan.allocs.len, 0);
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 1);
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_distinct_property(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a1", 4000, 4096, "r1", "linux");
    add_node(&w, "a2", 4000, 4096, "r1", "linux");
    add_node(&w, "b1", 4000, 4096, "r2", "linux");
    add_node(&w, "b2", 4000, 4096, "r2", "linux");
    set_job(&w, JOB_HEAD("web", "service", 5) ", \"Constraints\": [{\"Operand\":"
                                              " \"distinct_property\", \"LTarget\":"
                                              " \"${meta.rack}\", \"RTarget\": \"2\"}]}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 5, &o), 0);
    assert_int_equal(o.plan.allocs.len, 4); /* two per rack */
    size_t r1 = on_node(&o, w.nodes[0]->id) + on_node(&o, w.nodes[1]->id);
    size_t r2 = on_node(&o, w.nodes[2]->id) + on_node(&o, w.nodes[3]->id);
    assert_int_equal(r1, 2);
    assert_int_equal(r2, 2);
    const struct cv_tg_metric *f = failed(&o, "g");
    assert_non_null(f);
    assert_non_null(strstr(f->metric.constraint_filtered.items[0].key, "distinct_property"));
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_failures_coalesce_with_metrics(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "small-1", 500, 4096, "r1", "linux");
    add_node(&w, "small-2", 500, 4096, "r1", "linux");
    add_node(&w, "win", 4000, 4096, "r1", "windows");
    set_job(&w,
            "{\"ID\": \"big\", \"Type\": \"batch\", \"Datacenters\": [\"dc1\"],"
            " \"Constraints\": [{\"LTarget\": \"${attr.kernel.name}\", \"RTarget\": \"linux\","
            " \"Operand\": \"=\"}], \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 5,"
            " \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"mock\", \"Resources\":"
            " {\"CPU\": 1000, \"MemoryMB\": 64}}]}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 9, &o), 0);
    assert_int_equal(o.plan.allocs.len, 0);
    const struct cv_tg_metric *f = failed(&o, "g");
    assert_non_null(f);
    /* One visit of the cluster, not five. */
    assert_int_equal(f->metric.nodes_evaluated, 3);
    assert_int_equal(o.nodes_visited, 3);
    assert_int_equal(f->metric.coalesced_failures, 4);
    assert_int_equal(f->metric.nodes_filtered, 1);
    assert_int_equal(
        cv_intmap_get(&f->metric.constraint_filtered, "${attr.kernel.name} = linux", -1), 1);
    assert_int_equal(f->metric.nodes_exhausted, 2);
    assert_int_equal(cv_intmap_get(&f->metric.dimension_exhausted, "cpu", -1), 2);
    assert_int_equal(cv_intmap_get(&f->metric.nodes_available, "dc1", -1), 3);
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 5);
    assert_true(sch_outcome_blocked(&o));
    /* The linux class was eligible (only full), the windows one was not. */
    assert_int_equal(o.class_eligibility.len, 2);
    assert_string_equal(o.class_eligibility.items[0].key, "v1:linux");
    assert_true(o.class_eligibility.items[0].value);
    assert_string_equal(o.class_eligibility.items[1].key, "v1:windows");
    assert_false(o.class_eligibility.items[1].value);
    assert_false(o.escaped_computed_class);
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_system_job_one_per_node(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 1000, 1024, "r1", "linux");
    add_node(&w, "b", 1000, 1024, "r1", "linux");
    add_node(&w, "win", 1000, 1024, "r1", "windows");
    add_node(&w, "tiny", 50, 1024, "r1", "linux");
    set_job(&w,
            "{\"ID\": \"agent\", \"Type\": \"system\", \"Datacenters\": [\"dc1\"],"
            " \"Constraints\": [{\"LTarget\": \"${attr.kernel.name}\", \"RTarget\": \"linux\","
            " \"Operand\": \"=\"}], \"TaskGroups\": [{\"Name\": \"g\", \"Tasks\": [{\"Name\":"
            " \"t\", \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 1, &o), 0);
    assert_int_equal(o.plan.allocs.len, 2);
    assert_int_equal(on_node(&o, w.nodes[0]->id), 1);
    assert_int_equal(on_node(&o, w.nodes[1]->id), 1);
    assert_string_equal(o.plan.allocs.items[0]->name, "agent.g[0]");
    /* The windows node is filtered silently; the tiny one is a failure. */
    const struct cv_tg_metric *f = failed(&o, "g");
    assert_non_null(f);
    assert_int_equal(cv_intmap_get(&f->metric.dimension_exhausted, "cpu", -1), 1);
    assert_int_equal(cv_intmap_get(&o.queued, "g", -1), 1);
    commit(&w, &o);
    sch_outcome_free(&o);

    /* A node that joins later gets its allocation; the others are left. */
    add_node(&w, "c", 1000, 1024, "r1", "linux");
    assert_int_equal(schedule(&w, 2, &o), 0);
    assert_int_equal(o.plan.allocs.len, 1);
    assert_string_equal(o.plan.allocs.items[0]->node_id, w.nodes[4]->id);
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_stopped_job_stops_everything(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 1000, 1024, "r1", "linux");
    set_job(&w, JOB_HEAD("web", "service", 2) "}]}");
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 1, &o), 0);
    commit(&w, &o);
    sch_outcome_free(&o);
    w.job->stop = true;
    assert_int_equal(schedule(&w, 1, &o), 0);
    assert_int_equal(o.plan.allocs.len, 0);
    assert_int_equal(o.plan.stops.len, 2);
    assert_string_equal(o.plan.stops.items[0].node_id, w.nodes[0]->id);
    assert_false(sch_outcome_blocked(&o));
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_inplace_update_pins_the_new_version(void **state)
{
    (void)state;
    struct world w = {0};
    add_node(&w, "a", 1000, 1024, "r1", "linux");
    set_job(&w, JOB_HEAD("web", "service", 1) "}]}");
    w.job->version = 0;
    w.job->job_modify_index = 10;
    struct sch_outcome o;
    assert_int_equal(schedule(&w, 1, &o), 0);
    commit(&w, &o);
    sch_outcome_free(&o);
    /* A new version that changes only the Priority: no new allocation. */
    w.job->priority = 70;
    w.job->version = 1;
    w.job->job_modify_index = 20;
    assert_int_equal(schedule(&w, 1, &o), 0);
    assert_int_equal(o.plan.stops.len, 0);
    assert_int_equal(o.plan.allocs.len, 1);
    const struct cv_allocation *a = o.plan.allocs.items[0];
    assert_string_equal(a->id, w.allocs[0]->id);
    assert_non_null(a->job);
    assert_int_equal(a->job->version, 1);
    assert_int_equal(a->job->priority, 70);
    sch_outcome_free(&o);
    world_free(&w);
}

static void test_same_seed_same_plan(void **state)
{
    (void)state;
    struct world w = {0};
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        add_node(&w, name, 2000 + 100 * i, 4096, i % 2 ? "r1" : "r2", "linux");
    }
    set_job(&w, JOB_HEAD("web", "service", 6) "}]}");
    struct sch_outcome a, b;
    assert_int_equal(schedule(&w, 42, &a), 0);
    assert_int_equal(schedule(&w, 42, &b), 0);
    assert_int_equal(a.plan.allocs.len, b.plan.allocs.len);
    for (size_t i = 0; i < a.plan.allocs.len; i++) {
        assert_string_equal(a.plan.allocs.items[i]->node_id, b.plan.allocs.items[i]->node_id);
        assert_string_equal(a.plan.allocs.items[i]->name, b.plan.allocs.items[i]->name);
    }
    sch_outcome_free(&a);
    sch_outcome_free(&b);
    world_free(&w);
}

static void test_refuses_what_it_cannot_schedule(void **state)
{
    (void)state;
    struct world w = {0};
    set_job(&w, JOB_HEAD("web", "service", 1) "}]}");
    struct cv_evaluation *ev = cv_eval_new();
    cv_set_string(&ev->id, "e0000000-0000-4000-8000-000000000001");
    struct sch_state st = state_of(&w);
    struct sch_options opts = {.now = NOW};
    struct cv_err err = {0};
    struct sch_outcome o;
    sch_outcome_init(&o);
    assert_int_equal(sch_schedule(&st, ev, &opts, &o, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "JobID"));
    cv_set_string(&ev->job_id, "gone");
    cv_set_string(&ev->type, "_core");
    assert_int_equal(sch_schedule(&st, ev, &opts, &o, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "_core"));
    cv_eval_free(ev);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_new_job_plan),
        CV_TEST(test_max_placements_truncates_the_plan),
        CV_TEST(test_anti_affinity_spreads_over_equal_nodes),
        CV_TEST(test_distinct_hosts),
        CV_TEST(test_distinct_property),
        CV_TEST(test_failures_coalesce_with_metrics),
        CV_TEST(test_system_job_one_per_node),
        CV_TEST(test_stopped_job_stops_everything),
        CV_TEST(test_inplace_update_pins_the_new_version),
        CV_TEST(test_same_seed_same_plan),
        CV_TEST(test_refuses_what_it_cannot_schedule),
    };
    return cmocka_run_group_tests_name("sch_sched", tests, NULL, NULL);
}
