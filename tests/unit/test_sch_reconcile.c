/*
 * test_sch_reconcile: schedd's reconciler through its public face: placing
 * to Count at the lowest free indexes, stopping the highest when Count
 * falls, stopped and purged jobs, removed groups, destructive and in-place
 * updates, lost and migrating allocations, rescheduling within and out of
 * the policy's attempts, batch completions, and the refusals.
 *
 * Jobs go through cv_job_parse; allocations are built by hand, each with its
 * own copy of the job version it runs.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "schedd/reconcile.h"

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

/* Job "web", group "g" of count, one task "t" of cpu MHz; extra_group and
 * extra_task are spliced into the group and the task. */
static struct cv_job *web_job(const char *type, int count, int cpu, const char *extra_group,
                              const char *extra_task, uint64_t version)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{'ID': 'web', 'Type': '%s', 'TaskGroups': [{'Name': 'g', 'Count': %d, %s"
             "  'Tasks': [{'Name': 't', 'Driver': 'raw_exec', %s"
             "             'Resources': {'CPU': %d, 'MemoryMB': 256}}]}]}",
             type, count, extra_group, extra_task, cpu);
    struct cv_job *job = parse_job(buf);
    job->version = version;
    job->job_modify_index = 100 + version;
    return job;
}

/* An allocation "a<index>" (or id) named web.<group>[index] on node, running
 * a copy of job. */
static struct cv_allocation *make_alloc(const struct cv_job *job, const char *id, const char *group,
                                        int index, const char *client_status, const char *node)
{
    struct cv_allocation *a = cv_alloc_new();
    char name[64];
    snprintf(name, sizeof name, "web.%s[%d]", group, index);
    cv_set_string(&a->id, id);
    cv_set_string(&a->name, name);
    cv_set_string(&a->job_id, "web");
    cv_set_string(&a->task_group, group);
    cv_set_string(&a->node_id, node);
    cv_set_string(&a->client_status, client_status);
    a->job = job != NULL ? cv_job_copy(job) : NULL;
    return a;
}

static void free_allocs(struct cv_allocation **allocs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cv_alloc_free(allocs[i]);
    }
}

/* Node states for the callback: "down*" down, "gone*" gone, "drain*"
 * draining, anything else up. */
static enum sch_node_state node_state(void *ctx, const char *node_id)
{
    int *calls = ctx;
    (*calls)++;
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

static void run(const struct cv_job *job, struct cv_allocation **allocs, size_t n,
                struct sch_reconcile_result *r)
{
    int calls = 0;
    struct cv_err err = {0};
    int rc = sch_reconcile(job, (const struct cv_allocation *const *)allocs, n, node_state, &calls,
                           NOW, r, &err);
    assert_int_equal(rc, 0);
}

static const struct sch_placement *find_place(const struct sch_reconcile_result *r,
                                              const char *name)
{
    for (size_t i = 0; i < r->place.len; i++) {
        if (strcmp(r->place.items[i].name, name) == 0) {
            return &r->place.items[i];
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

static void assert_place(const struct sch_reconcile_result *r, const char *name, const char *prev,
                         enum sch_place_reason reason)
{
    const struct sch_placement *p = find_place(r, name);
    if (p == NULL) {
        print_error("no placement %s\n", name);
        fail();
    }
    assert_string_equal(p->task_group, "g");
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

static void test_place_to_count(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 3, 500, "", "", 0);
    struct sch_reconcile_result r;
    run(job, NULL, 0, &r);
    assert_int_equal(r.place.len, 3);
    assert_string_equal(r.place.items[0].name, "web.g[0]");
    assert_string_equal(r.place.items[1].name, "web.g[1]");
    assert_string_equal(r.place.items[2].name, "web.g[2]");
    assert_place(&r, "web.g[2]", NULL, SCH_PLACE_NEW);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.desired.len, 1);
    assert_string_equal(r.desired.items[0].task_group, "g");
    assert_desired(&r.desired.items[0], 3, 0, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);
    cv_job_free(job);
}

static void test_fill_lowest_free_indexes(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 4, 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
        make_alloc(job, "a2", "g", 2, CV_ALLOC_CLIENT_PENDING, "n1"),
        /* already stopped: neither counts nor holds its index */
        make_alloc(job, "a5", "g", 5, CV_ALLOC_CLIENT_RUNNING, "n1"),
    };
    cv_set_string(&allocs[2]->desired_status, CV_ALLOC_DESIRED_STOP);
    struct sch_reconcile_result r;
    run(job, allocs, 3, &r);
    assert_int_equal(r.place.len, 2);
    assert_string_equal(r.place.items[0].name, "web.g[1]");
    assert_string_equal(r.place.items[1].name, "web.g[3]");
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.inplace.len, 0);
    assert_desired(&r.desired.items[0], 2, 0, 0, 0, 0, 3);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    cv_job_free(job);
}

static void test_count_fell_stops_highest(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 2, 500, "", "", 0);
    struct cv_allocation *allocs[5];
    const char *ids[] = {"a3", "a0", "a4", "a1", "a2"};
    const int idx[] = {3, 0, 4, 1, 2};
    for (int i = 0; i < 5; i++) {
        allocs[i] = make_alloc(job, ids[i], "g", idx[i], CV_ALLOC_CLIENT_RUNNING, "n1");
    }
    struct sch_reconcile_result r;
    run(job, allocs, 5, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 3);
    assert_string_equal(r.stop.items[0].alloc_id, "a4");
    assert_string_equal(r.stop.items[1].alloc_id, "a3");
    assert_string_equal(r.stop.items[2].alloc_id, "a2");
    assert_stop(&r, "a2", SCH_DESC_NOT_NEEDED, NULL);
    assert_desired(&r.desired.items[0], 0, 3, 0, 0, 0, 2);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 5);
    cv_job_free(job);
}

static void test_stopped_and_purged_job(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 2, 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
        make_alloc(job, "a1", "g", 1, CV_ALLOC_CLIENT_FAILED, "n1"),
        make_alloc(job, "h0", "h", 0, CV_ALLOC_CLIENT_PENDING, "n1"),
    };
    job->stop = true;
    struct sch_reconcile_result r;
    run(job, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 2);
    assert_stop(&r, "a0", SCH_DESC_NOT_NEEDED, NULL);
    assert_stop(&r, "h0", SCH_DESC_NOT_NEEDED, NULL);
    assert_int_equal(r.desired.len, 2);
    assert_desired(&r.desired.items[0], 0, 1, 0, 0, 0, 1);
    assert_string_equal(r.desired.items[1].task_group, "h");
    assert_desired(&r.desired.items[1], 0, 1, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);

    /* Purged: the groups come from the allocations. */
    run(NULL, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 2);
    assert_int_equal(r.desired.len, 2);
    assert_string_equal(r.desired.items[0].task_group, "g");
    assert_desired(&r.desired.items[0], 0, 1, 0, 0, 0, 1);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    cv_job_free(job);
}

static void test_removed_group_stopped(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 1, 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
        make_alloc(job, "h0", "h", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
    };
    struct sch_reconcile_result r;
    run(job, allocs, 2, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 1);
    assert_stop(&r, "h0", SCH_DESC_NOT_NEEDED, NULL);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 0, 1);
    assert_desired(&r.desired.items[1], 0, 1, 0, 0, 0, 0);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 2);
    cv_job_free(job);
}

static void test_destructive_update(void **state)
{
    (void)state;
    struct cv_job *old = web_job("service", 2, 500, "", "", 0);
    struct cv_job *job = web_job("service", 2, 600, "", "", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(old, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
        make_alloc(job, "a1", "g", 1, CV_ALLOC_CLIENT_RUNNING, "n1"),
    };
    struct sch_reconcile_result r;
    run(job, allocs, 2, &r);
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "web.g[0]", "a0", SCH_PLACE_DESTRUCTIVE);
    assert_int_equal(r.stop.len, 1);
    assert_stop(&r, "a0", SCH_DESC_UPDATING, NULL);
    assert_int_equal(r.inplace.len, 0);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 1, 1);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 2);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_inplace_update(void **state)
{
    (void)state;
    struct cv_job *old = web_job("service", 1, 500, "", "", 0);
    /* Constraints, restart policy, kill timeout: nothing the task runs. */
    struct cv_job *job = web_job("service", 1, 500,
                                 "'Constraints': [{'LTarget': '${attr.kernel.name}', "
                                 "'RTarget': 'linux', 'Operand': '='}],"
                                 "'RestartPolicy': {'Attempts': 7},",
                                 "'KillTimeout': 9000000000,", 1);
    struct cv_allocation *allocs[] = {
        make_alloc(old, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1"),
    };
    struct sch_reconcile_result r;
    run(job, allocs, 1, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.inplace.len, 1);
    assert_string_equal(r.inplace.items[0], "a0");
    assert_desired(&r.desired.items[0], 0, 0, 0, 1, 0, 0);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 1);
    cv_job_free(old);
    cv_job_free(job);
}

static void test_what_is_destructive(void **state)
{
    (void)state;
    struct cv_job *base = web_job("service", 1, 500, "", "", 0);
    struct cv_job *env = web_job("service", 1, 500, "", "'Env': {'A': 'b'},", 1);
    struct cv_job *mem = web_job("service", 1, 500, "'EphemeralDisk': {'SizeMB': 900},", "", 1);
    struct cv_job *count = web_job("service", 5, 500, "'Meta': {}, ", "", 1);
    const struct cv_task_group *b = &base->task_groups.items[0];
    assert_true(sch_group_update_destructive(base, b, env, &env->task_groups.items[0]));
    assert_true(sch_group_update_destructive(base, b, mem, &mem->task_groups.items[0]));
    assert_false(sch_group_update_destructive(base, b, count, &count->task_groups.items[0]));
    assert_true(sch_group_update_destructive(NULL, NULL, base, b));
    cv_job_free(base);
    cv_job_free(env);
    cv_job_free(mem);
    cv_job_free(count);
}

static void test_lost_and_migrating(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 4, 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "down1"),
        make_alloc(job, "a1", "g", 1, CV_ALLOC_CLIENT_PENDING, "gone1"),
        make_alloc(job, "a2", "g", 2, CV_ALLOC_CLIENT_RUNNING, "drain1"),
        make_alloc(job, "a3", "g", 3, CV_ALLOC_CLIENT_RUNNING, "up1"),
        /* already lost earlier: ignored, does not count */
        make_alloc(job, "a9", "g", 0, CV_ALLOC_CLIENT_LOST, "down1"),
    };
    struct sch_reconcile_result r;
    run(job, allocs, 5, &r);
    assert_int_equal(r.stop.len, 3);
    assert_stop(&r, "a0", SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
    assert_stop(&r, "a1", SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
    assert_stop(&r, "a2", SCH_DESC_MIGRATING, NULL);
    assert_int_equal(r.place.len, 3);
    assert_place(&r, "web.g[0]", "a0", SCH_PLACE_LOST);
    assert_place(&r, "web.g[1]", "a1", SCH_PLACE_LOST);
    assert_place(&r, "web.g[2]", "a2", SCH_PLACE_MIGRATE);
    assert_desired(&r.desired.items[0], 2, 2, 1, 0, 0, 2);
    sch_reconcile_result_free(&r);

    /* Count fell to 1: the lost and migrating ones are still stopped but
     * not replaced; the running one stays. */
    job->task_groups.items[0].count = 1;
    run(job, allocs, 5, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 3);
    assert_stop(&r, "a0", SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
    assert_null(find_stop(&r, "a3"));
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 5);
    cv_job_free(job);
}

static struct cv_allocation *failed_with_events(const struct cv_job *job, const char *id, int index,
                                                const int64_t *times, size_t n)
{
    struct cv_allocation *a = make_alloc(job, id, "g", index, CV_ALLOC_CLIENT_FAILED, "n1");
    a->reschedule_tracker = cv_calloc(1, sizeof *a->reschedule_tracker);
    a->reschedule_tracker->events.items = cv_calloc(n + 1, sizeof(struct cv_reschedule_event));
    a->reschedule_tracker->events.len = n;
    for (size_t i = 0; i < n; i++) {
        a->reschedule_tracker->events.items[i].reschedule_time = times[i];
        a->reschedule_tracker->events.items[i].prev_alloc_id = cv_strdup("older");
    }
    return a;
}

static void test_reschedule_attempts(void **state)
{
    (void)state;
    struct cv_job *job = web_job(
        "service", 4, 500,
        "'ReschedulePolicy': {'Attempts': 2, 'Interval': 3600000000000, 'Unlimited': false},", "",
        0);
    const int64_t one_in[] = {NOW - HOUR / 2};
    const int64_t two_in[] = {NOW - HOUR / 2, NOW - HOUR / 4};
    const int64_t old[] = {NOW - 3 * HOUR, NOW - 2 * HOUR};
    struct cv_allocation *allocs[] = {
        failed_with_events(job, "a0", 0, one_in, 1), /* 1 of 2 used: replaced */
        failed_with_events(job, "a1", 1, two_in, 2), /* out of attempts: kept */
        failed_with_events(job, "a2", 2, old, 2),    /* attempts aged out: replaced */
        failed_with_events(job, "a3", 3, NULL, 0),   /* already replaced: ignored */
    };
    cv_set_string(&allocs[3]->next_allocation, "a3-next");
    struct sch_reconcile_result r;
    run(job, allocs, 4, &r);
    assert_int_equal(r.stop.len, 0);
    assert_int_equal(r.place.len, 3);
    assert_place(&r, "web.g[0]", "a0", SCH_PLACE_RESCHEDULE);
    assert_place(&r, "web.g[2]", "a2", SCH_PLACE_RESCHEDULE);
    assert_place(&r, "web.g[3]", NULL, SCH_PLACE_NEW);
    assert_null(find_place(&r, "web.g[1]"));
    const struct sch_placement *p = find_place(&r, "web.g[0]");
    assert_non_null(p->reschedule_tracker);
    assert_int_equal(p->reschedule_tracker->events.len, 2);
    const struct cv_reschedule_event *ev = &p->reschedule_tracker->events.items[1];
    assert_i64_equal(ev->reschedule_time, NOW);
    assert_string_equal(ev->prev_alloc_id, "a0");
    assert_string_equal(ev->prev_node_id, "n1");
    assert_null(find_place(&r, "web.g[3]")->reschedule_tracker);
    assert_desired(&r.desired.items[0], 3, 0, 0, 0, 0, 2);
    sch_reconcile_result_free(&r);

    /* Unlimited replaces even with every attempt used; zero attempts never. */
    struct cv_reschedule_policy *rp = job->task_groups.items[0].reschedule_policy;
    rp->unlimited = 1;
    run(job, allocs, 4, &r);
    assert_place(&r, "web.g[1]", "a1", SCH_PLACE_RESCHEDULE);
    sch_reconcile_result_free(&r);
    rp->unlimited = 0;
    rp->attempts = 0;
    run(job, allocs, 4, &r);
    assert_int_equal(r.place.len, 1);
    assert_place(&r, "web.g[3]", NULL, SCH_PLACE_NEW);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 4);
    cv_job_free(job);
}

static void test_batch_complete_counts(void **state)
{
    (void)state;
    struct cv_job *job = web_job("batch", 3, 500, "", "", 0);
    struct cv_allocation *allocs[] = {
        make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_COMPLETE, "n1"),
        make_alloc(job, "a1", "g", 1, CV_ALLOC_CLIENT_COMPLETE, "down1"),
        make_alloc(job, "a2", "g", 2, CV_ALLOC_CLIENT_RUNNING, "n1"),
    };
    cv_set_string(&allocs[1]->desired_status, CV_ALLOC_DESIRED_STOP);
    struct sch_reconcile_result r;
    run(job, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 0);
    assert_desired(&r.desired.items[0], 0, 0, 0, 0, 0, 3);
    sch_reconcile_result_free(&r);

    /* The same for a service job: completions are replaced at their index. */
    cv_set_string(&job->type, CV_JOB_TYPE_SERVICE);
    run(job, allocs, 3, &r);
    assert_int_equal(r.place.len, 2);
    assert_place(&r, "web.g[0]", NULL, SCH_PLACE_NEW);
    assert_place(&r, "web.g[1]", NULL, SCH_PLACE_NEW);
    sch_reconcile_result_free(&r);

    /* Batch, count fell below the completions: nothing to stop or place. */
    cv_set_string(&job->type, CV_JOB_TYPE_BATCH);
    job->task_groups.items[0].count = 1;
    run(job, allocs, 3, &r);
    assert_int_equal(r.place.len, 0);
    assert_int_equal(r.stop.len, 1);
    assert_stop(&r, "a2", SCH_DESC_NOT_NEEDED, NULL);
    sch_reconcile_result_free(&r);
    free_allocs(allocs, 3);
    cv_job_free(job);
}

static void test_refusals(void **state)
{
    (void)state;
    struct cv_job *job = web_job("system", 1, 500, "", "", 0);
    struct sch_reconcile_result r;
    struct cv_err err = {0};
    assert_int_equal(sch_reconcile(job, NULL, 0, NULL, NULL, NOW, &r, &err), CV_EUNSUPPORTED);
    assert_int_equal(r.place.len, 0);
    cv_job_free(job);

    job = web_job("service", 1, 500, "", "", 0);
    struct cv_allocation *a = make_alloc(job, "a0", "g", 0, CV_ALLOC_CLIENT_RUNNING, "n1");
    cv_set_string(&a->name, "web.g");
    const struct cv_allocation *allocs[] = {a};
    assert_int_equal(sch_reconcile(job, allocs, 1, NULL, NULL, NOW, &r, &err), CV_EINVAL);
    assert_int_equal(r.desired.len, 0);
    sch_reconcile_result_free(&r);
    cv_alloc_free(a);
    cv_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_place_to_count),           CV_TEST(test_fill_lowest_free_indexes),
        CV_TEST(test_count_fell_stops_highest), CV_TEST(test_stopped_and_purged_job),
        CV_TEST(test_removed_group_stopped),    CV_TEST(test_destructive_update),
        CV_TEST(test_inplace_update),           CV_TEST(test_what_is_destructive),
        CV_TEST(test_lost_and_migrating),       CV_TEST(test_reschedule_attempts),
        CV_TEST(test_batch_complete_counts),    CV_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
