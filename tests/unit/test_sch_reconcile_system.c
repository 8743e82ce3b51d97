/*
 * test_sch_reconcile_system: schedd's node reconciler (system and sysbatch
 * jobs) through its public face: a placement on every candidate node
 * without an allocation, nodes that join later, in-place and destructive
 * updates on the same node, down, gone, draining and ineligible nodes,
 * duplicates, terminal allocations replaced (system) or left alone
 * (sysbatch) unless the job changed, stopped and purged jobs, removed
 * groups, the output order, and the refusals.
 *
 * Jobs go through cv_job_parse; allocations and nodes are built by hand,
 * each allocation with its own copy of the job version it runs.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "common/node.h"
#include "schedd/reconcile.h"
#include "schedd/reconcile_system.h"

#define HOUR 3600000000000LL
#define NOW  (1000 * HOUR)

static struct cv_job *parse_job(const char *single_quoted)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse(text, strlen(text), &job, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    cv_free(text);
    assert_int_equal(rc, 0);
    return job;
}

/* Job "web" of type, group "g" (Count 1) with one task "t" of cpu MHz, then
 * more_groups (",{...}" entries, or ""); extra_group is spliced into g. */
static struct cv_job *sys_job(const char *type, int cpu, const char *extra_group,
                              const char *more_groups, uint64_t version)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{'ID': 'web', 'Type': '%s', 'TaskGroups': [{'Name': 'g', 'Count': 1, %s"
             "  'Tasks': [{'Name': 't', 'Driver': 'raw_exec',"
             "             'Resources': {'CPU': %d, 'MemoryMB': 256}}]}%s]}",
             type, extra_group, cpu, more_groups);
    struct cv_job *job = parse_job(buf);
    job->version = version;
    job->job_modify_index = 100 + version;
    return job;
}

#define GROUP_H ",{'Name': 'h', 'Count': 1, 'Tasks': [{'Name': 'u', 'Driver': 'raw_exec'}]}"

/* An allocation id named web.<group>[0] on node, running a copy of job. */
static struct cv_allocation *make_alloc(const struct cv_job *job, const char *id, const char *group,
                                        const char *client_status, const char *node,
                                        uint64_t create_index)
{
    struct cv_allocation *a = cv_alloc_new();
    char name[64];
    snprintf(name, sizeof name, "web.%s[0]", group);
    cv_set_string(&a->id, id);
    cv_set_string(&a->name, name);
    cv_set_string(&a->job_id, "web");
    cv_set_string(&a->task_group, group);
    cv_set_string(&a->node_id, node);
    cv_set_string(&a->client_status, client_status);
    a->create_index = create_index;
    a->job = job != NULL ? cv_job_copy(job) : NULL;
    return a;
}

static void free_allocs(struct cv_allocation **allocs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cv_alloc_free(allocs[i]);
    }
}

/* Up to 8 candidate nodes with the given IDs. */
struct nodes
{
    struct cv_node *items[8];
    size_t n;
};

static void make_nodes(struct nodes *ns, const char *const *ids, size_t n)
{
    assert_true(n <= 8);
    ns->n = n;
    for (size_t i = 0; i < n; i++) {
        ns->items[i] = cv_node_new();
        cv_set_string(&ns->items[i]->id, ids[i]);
    }
}

static void free_nodes(struct nodes *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        cv_node_free(ns->items[i]);
    }
}

/* Node states for the callback: "down*" down, "gone*" gone, "drain*"
 * draining, anything else up. Counts the calls and remembers the last. */
struct probe
{
    int calls;
    char last[32];
};

static enum sch_node_state node_state(void *ctx, const char *node_id)
{
    struct probe *p = ctx;
    p->calls++;
    snprintf(p->last, sizeof p->last, "%s", node_id);
    if (strncmp(node_id, "down", 4) == 0) {
        return SCH_NODE_DOWN;
    }
    if (strncmp(node_id, "gone", 4) == 0) {
        return SCH_NODE_GONE;
    }
    if (strncmp(node_id, "drain", 5) == 0) {
        return SCH_NODE_DRAINING;
    }
    return SCH_NODE_UP;
}

static int run(const struct cv_job *job, const struct nodes *ns, struct cv_allocation **allocs,
               size_t n, struct sch_reconcile_result *r)
{
    struct probe p = {0};
    struct cv_err err = {0};
    int rc = sch_reconcile_system(job, (const struct cv_node *const *)ns->items, ns->n,
                                  (const struct cv_allocation *const *)allocs, n, node_state, &p,
                                  NOW, r, &err);
    assert_int_equal(rc, 0);
    return p.calls;
}

static const struct sch_placement *find_place(const struct sch_reconcile_result *r,
                                              const char *group, const char *node)
{
    for (size_t i = 0; i < r->place.len; i++) {
        const struct sch_placement *p = &r->place.items[i];
        assert_non_null(p->node_id);
        if (strcmp(p->task_group, group) == 0 && strcmp(p->node_id, node) == 0) {
            return p;
        }
    }
    return NULL;
}

static const struct sch_stop *find_stop(const struct sch_reconcile_result *r, const char *id)
{
    for (size_t i = 0; i < r->stop.len; i++) {
        if (strcmp(r->stop.items[i].alloc_id, id) == 0) {
            return &r->stop.items[i];
        }
    }
    return NULL;
}

static void assert_place(const struct sch_reconcile_result *r, const char *group, const char *node,
                         const char *prev, enum sch_place_reason reason)
{
    const struct sch_placement *p = find_place(r, group, node);
    if (p == NULL) {
        print_error("no placement of %s on %s\n", group, node);
        fail();
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "web.%s[0]", group);
    assert_string_equal(p->name, name);
    if (prev == NULL) {
        assert_null(p->previous_id);
    } else {
        assert_non_null(p->previous_id);
        assert_string_equal(p->previous_id, prev);
    }
    assert_int_equal(p->reason, reason);
}

static void assert_stop(const struct sch_reconcile_result *r, const char *id, const char *desc,
                        const char *client_status)
{
    const struct sch_stop *s = find_stop(r, id);
    if (s == NULL) {
        print_error("no stop of %s\n", id);
        fail();
        return;
    }
    assert_string_equal(s->description, desc);
    if (client_status == NULL) {
        assert_null(s->client_status);
    } else {
        assert_string_equal(s->client_status, client_status);
    }
}

static void assert_desired(const struct sch_desired_updates *d, int64_t place, int64_t stop,
                           int64_t migrate, int64_t inplace, int64_t destructive, int64_t ignore)
{
    assert_i64_equal(d->place, place);
    assert_i64_equal(d->stop, stop);
    assert_i64_equal(d->migrate, migrate);
    assert_i64_equal(d->inplace, inplace);
    assert_i64_equal(d->destructive, destructive);
    assert_i64_equal(d->ignore, ignore);
}

static void test_place_on_every_node(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", GROUP_H, 0);
    const char *ids[] = {"n3", "n1", "n2"};
    struct nodes ns;
    make_nodes(&ns, ids, 3);
    struct sch_reconcile_result r;
    run(job, &ns, NULL, 0, &r);
    /* Groups in job order, nodes in the order given. */
    assert_int_equal(r.place.len, 6);
    const char *want[][2] = {{"g", "n3"}, {"g", "n1"}, {"g", "n2"},
                             {"h", "n3"}, {"h", "n1"}, {"h", "n2"}};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(r.place.items[i].task_group, want[i][0]);
        assert_string_equal(r.place.items[i].node_id, want[i][1]);
    }
    assert_place(&r, "g", "n1", NULL, SCH_PLACE_NEW);
    assert_place(&r, "h", "n2", NULL, SCH_PLACE_NEW);
    assert_null(r.place.items[0].reschedule_tracker);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.desired.len, 2);
    assert_string_equal(r.desired.items[0].task_group, "g");
    assert_desired(&r.desired.items[0], 3, 0, 0, 0, 0, 0);
    assert_string_equal(r.desired.items[1].task_group, "h");
    assert_desired(&r.desired.items[1], 3, 0, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_node_joins_later(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 10),
        make_alloc(job, "a2", "g", CV_ALLOC_CLIENT_PENDING, "n2", 11),
    };
    const char *ids[] = {"n1", "n2", "n3"};
    struct nodes ns;
    make_nodes(&ns, ids, 3);
    struct sch_reconcile_result r;
    int calls = run(job, &ns, allocs, 2, &r);
    assert_int_equal(calls, 0); /* candidates are up: never asked */
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "g", "n3", NULL, SCH_PLACE_NEW);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.inplace.len, 0);
    assert_desired(&r.desired.items[0], 1, 0, 0, 0, 0, 2);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 2);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_destructive_update(void **state)
{
    (void)state;
    struct cv_job *old = sys_job("system", 500, "", "", 0);
    struct cv_job *job = sys_job("system", 600, "", "", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(old, "a1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 10),
        make_alloc(job, "a2", "g", CV_ALLOC_CLIENT_RUNNING, "n2", 20),
    };
    const char *ids[] = {"n1", "n2"};
    struct nodes ns;
    make_nodes(&ns, ids, 2);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 2, &r);
    assert_int_equal(r.stop.len, 1);
    assert_stop(&r, "a1", SCH_DESC_UPDATING, NULL);
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "g", "n1", "a1", SCH_PLACE_DESTRUCTIVE);
    assert_int_equal(r.inplace.len, 0);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 1, 1);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 2);
    free_nodes(&ns);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_inplace_update(void **state)
{
    (void)state;
    struct cv_job *old = sys_job("system", 500, "", "", 0);
    struct cv_job *job = sys_job("system", 500,
                                 "'Constraints': [{'LTarget': '${attr.kernel.name}', "
                                 "'RTarget': 'linux', 'Operand': '='}],",
                                 "", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(old, "a1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 10),
    };
    const char *ids[] = {"n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 1);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 1, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.inplace.len, 1);
    assert_string_equal(r.inplace.items[0], "a1");
    assert_desired(&r.desired.items[0], 0, 0, 0, 1, 0, 0);
    sch_reconcile_result_free(&r);

    /* The same Version under another JobModifyIndex is older too. */
    allocs[0]->job->version = job->version;
    allocs[0]->job->job_modify_index = 999;
    run(job, &ns, allocs, 1, &r);
    assert_int_equal(r.inplace.len, 1);
    sch_reconcile_result_free(&r);
    allocs[0]->job->job_modify_index = job->job_modify_index;
    run(job, &ns, allocs, 1, &r);
    assert_int_equal(r.inplace.len, 0);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 0, 1);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 1);
    free_nodes(&ns);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_tainted_and_ineligible_nodes(void **state)
{
    (void)state;
    struct cv_job *old = sys_job("system", 400, "", "", 0);
    struct cv_job *job = sys_job("system", 500, "", "", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a-down", "g", CV_ALLOC_CLIENT_RUNNING, "down1", 1),
        make_alloc(job, "a-gone", "g", CV_ALLOC_CLIENT_PENDING, "gone1", 2),
        make_alloc(job, "a-drain", "g", CV_ALLOC_CLIENT_RUNNING, "drain1", 3),
        /* up but no candidate (ineligible, or left the pool): kept, and
         * not updated although it runs an older job */
        make_alloc(old, "a-idle", "g", CV_ALLOC_CLIENT_RUNNING, "idle1", 4),
        /* terminal on a down node: nothing to do, node not even asked */
        make_alloc(job, "a-old", "g", CV_ALLOC_CLIENT_LOST, "down2", 5),
    };
    const char *ids[] = {"n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 1);
    struct sch_reconcile_result r;
    int calls = run(job, &ns, allocs, 5, &r);
    assert_int_equal(calls, 4);
    assert_int_equal(r.stop.len, 3);
    assert_stop(&r, "a-down", SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
    assert_stop(&r, "a-gone", SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
    assert_stop(&r, "a-drain", SCH_DESC_MIGRATING, NULL);
    assert_null(find_stop(&r, "a-idle"));
    assert_int_equal(r.inplace.len, 0);
    /* no replacement anywhere but the candidate, which had none */
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "g", "n1", NULL, SCH_PLACE_NEW);
    assert_desired(&r.desired.items[0], 1, 2, 1, 0, 0, 2);
    sch_reconcile_result_free(&r);

    /* Without a callback every node is up: all kept. */
    struct cv_err err = {0};
    assert_int_equal(sch_reconcile_system(job, (const struct cv_node *const *)ns.items, 1,
                                          (const struct cv_allocation *const *)allocs, 5, NULL,
                                          NULL, NOW, &r, &err),
                     0);
    assert_int_equal(r.stop.len, 0);
    assert_desired(&r.desired.items[0], 1, 0, 0, 0, 0, 5);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 5);
    free_nodes(&ns);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 10),
        make_alloc(job, "b", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 20),
        make_alloc(job, "c", "g", CV_ALLOC_CLIENT_PENDING, "n1", 15),
        /* same create index: the higher ID stays */
        make_alloc(job, "x", "g", CV_ALLOC_CLIENT_RUNNING, "idle1", 7),
        make_alloc(job, "y", "g", CV_ALLOC_CLIENT_RUNNING, "idle1", 7),
    };
    const char *ids[] = {"n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 1);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 5, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 3);
    assert_stop(&r, "a", SCH_DESC_NOT_NEEDED, NULL);
    assert_stop(&r, "c", SCH_DESC_NOT_NEEDED, NULL);
    assert_stop(&r, "x", SCH_DESC_NOT_NEEDED, NULL);
    assert_null(find_stop(&r, "b"));
    assert_null(find_stop(&r, "y"));
    assert_desired(&r.desired.items[0], 0, 3, 0, 0, 0, 2);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 5);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_system_terminal_replaced(void **state)
{
    (void)state;
    struct cv_job *old = sys_job("system", 400, "", "", 0);
    struct cv_job *job = sys_job("system", 500, "", "", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "f1", "g", CV_ALLOC_CLIENT_FAILED, "n1", 1),
        make_alloc(job, "l2", "g", CV_ALLOC_CLIENT_LOST, "n2", 2),
        make_alloc(old, "c3", "g", CV_ALLOC_CLIENT_COMPLETE, "n3", 3),
        /* a live one already replaced the failed one */
        make_alloc(job, "f4", "g", CV_ALLOC_CLIENT_FAILED, "n4", 4),
        make_alloc(job, "r4", "g", CV_ALLOC_CLIENT_RUNNING, "n4", 40),
        /* the latest terminal one is the one replaced */
        make_alloc(job, "s5", "g", CV_ALLOC_CLIENT_RUNNING, "n5", 9),
        make_alloc(job, "f5", "g", CV_ALLOC_CLIENT_FAILED, "n5", 5),
    };
    cv_set_string(&allocs[5]->desired_status, CV_ALLOC_DESIRED_STOP);
    const char *ids[] = {"n1", "n2", "n3", "n4", "n5"};
    struct nodes ns;
    make_nodes(&ns, ids, 5);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 7, &r);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.place.len, 4);
    assert_place(&r, "g", "n1", "f1", SCH_PLACE_RESCHEDULE);
    assert_null(find_place(&r, "g", "n1")->reschedule_tracker);
    assert_place(&r, "g", "n2", "l2", SCH_PLACE_LOST);
    assert_place(&r, "g", "n3", "c3", SCH_PLACE_NEW);
    assert_null(find_place(&r, "g", "n4"));
    assert_place(&r, "g", "n5", "s5", SCH_PLACE_NEW);
    assert_desired(&r.desired.items[0], 4, 0, 0, 0, 0, 3);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 7);
    free_nodes(&ns);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_sysbatch_terminal(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("sysbatch", 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "c1", "g", CV_ALLOC_CLIENT_COMPLETE, "n1", 1),
        make_alloc(job, "f2", "g", CV_ALLOC_CLIENT_FAILED, "n2", 2),
        make_alloc(job, "l3", "g", CV_ALLOC_CLIENT_LOST, "n3", 3),
    };
    const char *ids[] = {"n1", "n2", "n3", "n4"};
    struct nodes ns;
    make_nodes(&ns, ids, 4);
    struct sch_reconcile_result r;

    /* Same version: done is done; a validated sysbatch job has no
     * reschedule policy, so the failed one stays failed. */
    assert_null(job->task_groups.items[0].reschedule_policy);
    run(job, &ns, allocs, 3, &r);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "g", "n4", NULL, SCH_PLACE_NEW);
    assert_desired(&r.desired.items[0], 1, 0, 0, 0, 0, 3);
    sch_reconcile_result_free(&r);

    /* A new version changing only what may change in place: not rerun. */
    struct cv_job *v1 = sys_job("sysbatch", 500,
                                "'Constraints': [{'LTarget': '${attr.kernel.name}', "
                                "'RTarget': 'linux', 'Operand': '='}],",
                                "", 1);
    run(v1, &ns, allocs, 3, &r);
    assert_int_equal(r.place.len, 1);
    assert_int_equal(r.inplace.len, 0);
    assert_null(find_place(&r, "g", "n1"));
    sch_reconcile_result_free(&r);

    /* A destructive change: every node runs the new tasks, nothing to stop. */
    struct cv_job *v2 = sys_job("sysbatch", 700, "", "", 2);
    run(v2, &ns, allocs, 3, &r);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.place.len, 4);
    assert_place(&r, "g", "n1", "c1", SCH_PLACE_DESTRUCTIVE);
    assert_place(&r, "g", "n2", "f2", SCH_PLACE_DESTRUCTIVE);
    assert_place(&r, "g", "n3", "l3", SCH_PLACE_DESTRUCTIVE);
    assert_place(&r, "g", "n4", NULL, SCH_PLACE_NEW);
    assert_desired(&r.desired.items[0], 1, 0, 0, 0, 3, 0);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    free_nodes(&ns);
    cv_job_free(v2);
    cv_job_free(v1);
    cv_job_free(job);
}

static void test_sysbatch_reschedule_policy(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("sysbatch", 500, "", "", 0);
    /* Validation refuses the policy on sysbatch jobs; set it by hand to see
     * the rule the reconcilers share. */
    struct cv_reschedule_policy *rp = cv_calloc(1, sizeof *rp);
    rp->attempts = 1;
    rp->interval = HOUR;
    job->task_groups.items[0].reschedule_policy = rp;
    struct cv_allocation *allocs[] = {
        make_alloc(job, "f1", "g", CV_ALLOC_CLIENT_FAILED, "n1", 1),
        make_alloc(job, "f2", "g", CV_ALLOC_CLIENT_FAILED, "n2", 2),
        /* the policy is for failures: a completion is still not rerun */
        make_alloc(job, "c3", "g", CV_ALLOC_CLIENT_COMPLETE, "n3", 3),
    };
    /* f2 used its one attempt half an hour ago */
    allocs[1]->reschedule_tracker = cv_calloc(1, sizeof *allocs[1]->reschedule_tracker);
    allocs[1]->reschedule_tracker->events.items = cv_calloc(1, sizeof(struct cv_reschedule_event));
    allocs[1]->reschedule_tracker->events.len = 1;
    allocs[1]->reschedule_tracker->events.items[0].reschedule_time = NOW - HOUR / 2;
    const char *ids[] = {"n1", "n2", "n3"};
    struct nodes ns;
    make_nodes(&ns, ids, 3);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 3, &r);
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "g", "n1", "f1", SCH_PLACE_RESCHEDULE);
    const struct cv_reschedule_tracker *t = r.place.items[0].reschedule_tracker;
    assert_non_null(t);
    assert_int_equal(t->events.len, 1);
    assert_i64_equal(t->events.items[0].reschedule_time, NOW);
    assert_string_equal(t->events.items[0].prev_alloc_id, "f1");
    assert_string_equal(t->events.items[0].prev_node_id, "n1");
    assert_desired(&r.desired.items[0], 1, 0, 0, 0, 0, 2);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_stopped_and_purged_job(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 1),
        make_alloc(job, "f2", "g", CV_ALLOC_CLIENT_FAILED, "n2", 2),
        make_alloc(job, "h1", "h", CV_ALLOC_CLIENT_PENDING, "n1", 3),
    };
    const char *ids[] = {"n1", "n2", "n3"};
    struct nodes ns;
    make_nodes(&ns, ids, 3);
    job->stop = true;
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 2);
    assert_stop(&r, "a1", SCH_DESC_NOT_NEEDED, NULL);
    assert_stop(&r, "h1", SCH_DESC_NOT_NEEDED, NULL);
    assert_int_equal(r.desired.len, 2);
    assert_desired(&r.desired.items[0], 0, 1, 0, 0, 0, 1);
    assert_string_equal(r.desired.items[1].task_group, "h");
    assert_desired(&r.desired.items[1], 0, 1, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);

    /* Purged: the groups come from the allocations. */
    run(NULL, &ns, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 2);
    assert_int_equal(r.desired.len, 2);
    assert_string_equal(r.desired.items[0].task_group, "g");
    assert_desired(&r.desired.items[0], 0, 1, 0, 0, 0, 1);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_removed_group_and_count_zero(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", GROUP_H, 0);
    job->task_groups.items[1].count = 0;
    struct cv_allocation *allocs[] = {
        make_alloc(job, "g1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 1),
        make_alloc(job, "h1", "h", CV_ALLOC_CLIENT_RUNNING, "n1", 2),
        make_alloc(job, "k1", "k", CV_ALLOC_CLIENT_RUNNING, "n1", 3),
    };
    const char *ids[] = {"n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 1);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 2);
    assert_stop(&r, "h1", SCH_DESC_NOT_NEEDED, NULL);
    assert_stop(&r, "k1", SCH_DESC_NOT_NEEDED, NULL);
    assert_int_equal(r.desired.len, 3);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 0, 1);
    assert_desired(&r.desired.items[1], 0, 1, 0, 0, 0, 0);
    assert_string_equal(r.desired.items[2].task_group, "k");
    assert_desired(&r.desired.items[2], 0, 1, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_output_order(void **state)
{
    (void)state;
    struct cv_job *job = sys_job("system", 500, "", "", 0);
    /* Off-candidate nodes come after the candidates, by node ID, whatever
     * the order of the allocations. */
    struct cv_allocation *allocs[] = {
        make_alloc(job, "z", "g", CV_ALLOC_CLIENT_RUNNING, "down2", 1),
        make_alloc(job, "y", "g", CV_ALLOC_CLIENT_RUNNING, "down1", 2),
        make_alloc(job, "old", "g", CV_ALLOC_CLIENT_RUNNING, "n2", 3),
        make_alloc(job, "new", "g", CV_ALLOC_CLIENT_RUNNING, "n2", 4),
    };
    const char *ids[] = {"n2", "n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 2);
    struct sch_reconcile_result r;
    run(job, &ns, allocs, 4, &r);
    assert_int_equal(r.stop.len, 3);
    assert_string_equal(r.stop.items[0].alloc_id, "old");
    assert_string_equal(r.stop.items[1].alloc_id, "y");
    assert_string_equal(r.stop.items[2].alloc_id, "z");
    assert_int_equal(r.place.len, 1);
    assert_string_equal(r.place.items[0].node_id, "n1");
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 4);
    free_nodes(&ns);
    cv_job_free(job);
}

static void test_refusals(void **state)
{
    (void)state;
    struct sch_reconcile_result r;
    struct cv_err err = {0};
    const char *ids[] = {"n1", "n1"};
    struct nodes ns;
    make_nodes(&ns, ids, 2);
    const struct cv_node *const *nodes = (const struct cv_node *const *)ns.items;

    struct cv_job *svc = sys_job("service", 500, "", "", 0);
    assert_int_equal(sch_reconcile_system(svc, nodes, 1, NULL, 0, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL);
    assert_int_equal(r.desired.len, 0);
    /* and the service reconciler leaves node_id NULL */
    assert_int_equal(sch_reconcile(svc, NULL, 0, NULL, NULL, NOW, &r, NULL), 0);
    assert_int_equal(r.place.len, 1);
    assert_null(r.place.items[0].node_id);
    sch_reconcile_result_free(&r);
    cv_job_free(svc);

    struct cv_job *job = sys_job("system", 500, "", "", 0);
    assert_int_equal(sch_reconcile_system(job, nodes, 2, NULL, 0, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL); /* n1 twice */
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.desired.len, 0);

    struct cv_allocation *a = make_alloc(job, "a1", "g", CV_ALLOC_CLIENT_RUNNING, "n1", 1);
    const struct cv_allocation *allocs[] = {a};
    assert_int_equal(sch_reconcile_system(job, nodes, 1, allocs, 1, NULL, NULL, NOW, &r, &err), 0);
    sch_reconcile_result_free(&r);
    cv_set_string(&a->node_id, NULL);
    assert_int_equal(sch_reconcile_system(job, nodes, 1, allocs, 1, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL);
    assert_int_equal(r.desired.len, 0);
    cv_set_string(&a->node_id, "n1");
    cv_set_string(&a->task_group, NULL);
    assert_int_equal(sch_reconcile_system(job, nodes, 1, allocs, 1, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL);
    cv_set_string(&a->task_group, "g");
    cv_set_string(&a->id, NULL);
    assert_int_equal(sch_reconcile_system(job, nodes, 1, allocs, 1, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL);
    assert_int_equal(r.stop.len, 0);

    cv_set_string(&ns.items[1]->id, NULL);
    assert_int_equal(sch_reconcile_system(job, nodes, 2, NULL, 0, NULL, NULL, NOW, &r, &err),
                     CV_EINVAL); /* node without an ID */
    sch_reconcile_result_free(&r);
    cv_alloc_free(a);
    free_nodes(&ns);
    cv_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_place_on_every_node),
        CV_TEST(test_node_joins_later),
        CV_TEST(test_destructive_update),
        CV_TEST(test_inplace_update),
        CV_TEST(test_tainted_and_ineligible_nodes),
        CV_TEST(test_duplicates),
        CV_TEST(test_system_terminal_replaced),
        CV_TEST(test_sysbatch_terminal),
        CV_TEST(test_sysbatch_reschedule_policy),
        CV_TEST(test_stopped_and_purged_job),
        CV_TEST(test_removed_group_and_count_zero),
        CV_TEST(test_output_order),
        CV_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
