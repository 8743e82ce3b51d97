/*
 * test_sch_feasible: schedd's feasibility checks through their public face:
 * target resolution, every constraint operator (true, false, and with a
 * missing attribute), datacenter globs, node pools, drivers, status and
 * eligibility, the reason strings placement metrics count, the deferred
 * distinct_* constraints, and the computed-class cache (hits for nodes of
 * one class, per-node checks for constraints that escape the class).
 *
 * Jobs are written in JSON with single quotes (cv_test_quotes) and go
 * through cv_job_parse, so they are canonicalized and validated as real
 * ones are; nodes are built by hand.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/node.h"
#include "schedd/feasible.h"
#include "schedd/version.h"

#define NODE_ID "f7476465-4d6e-c0de-26d0-e383c49be941"

static void add_driver(struct cv_node *n, const char *name, bool detected, bool healthy)
{
    n->drivers.items =
        cv_reallocarray(n->drivers.items, n->drivers.len + 1, sizeof(struct cv_driver_info));
    struct cv_driver_info *d = &n->drivers.items[n->drivers.len++];
    memset(d, 0, sizeof *d);
    cv_set_string(&d->key, name);
    cv_set_string(&d->health_description, "");
    cv_set_string(&d->update_time, "");
    d->detected = detected;
    d->healthy = healthy;
}

/* A ready, eligible node in dc1 / pool default with raw_exec healthy. */
static struct cv_node *make_node(const char *name, const char *cls)
{
    struct cv_node *n = cv_node_new();
    cv_set_string(&n->id, NODE_ID);
    cv_set_string(&n->name, name);
    cv_set_string(&n->datacenter, "dc1");
    cv_set_string(&n->node_class, "web");
    cv_set_string(&n->node_pool, "default");
    cv_set_string(&n->computed_class, cls);
    cv_set_string(&n->status, CV_NODE_STATUS_READY);
    cv_set_string(&n->scheduling_eligibility, CV_NODE_ELIGIBLE);
    cv_strmap_set(&n->attributes, "kernel.name", "linux");
    cv_strmap_set(&n->attributes, "cpu.numcores", "8");
    cv_strmap_set(&n->attributes, "cpu.frequency", "2.5");
    cv_strmap_set(&n->attributes, "os.version", "22.04");
    cv_strmap_set(&n->attributes, "kernel.version", "5.15.0");
    cv_strmap_set(&n->attributes, "unique.hostname", name);
    cv_strmap_set(&n->meta, "rack", "r1");
    cv_strmap_set(&n->meta, "tags", "ssd, gpu,fast");
    add_driver(n, "raw_exec", true, true);
    return n;
}

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

/* Runs one constraint on node; fails the test unless it is node-local. */
static bool holds(const struct cv_node *n, const char *l, const char *op, const char *r)
{
    struct cv_constraint c = {(char *)l, (char *)r, (char *)op};
    bool ok = false;
    struct cv_err err = {0};
    assert_int_equal(sch_check_constraint(n, &c, &ok, &err), SCH_NODE_LOCAL);
    return ok;
}

static void test_resolve_target(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    assert_string_equal(sch_resolve_target(n, "${node.unique.id}"), NODE_ID);
    assert_string_equal(sch_resolve_target(n, "${node.unique.name}"), "n1");
    assert_string_equal(sch_resolve_target(n, "${node.datacenter}"), "dc1");
    assert_string_equal(sch_resolve_target(n, "${node.class}"), "web");
    assert_string_equal(sch_resolve_target(n, "${node.pool}"), "default");
    assert_string_equal(sch_resolve_target(n, "${attr.kernel.name}"), "linux");
    assert_string_equal(sch_resolve_target(n, "${attr.unique.hostname}"), "n1");
    assert_string_equal(sch_resolve_target(n, "${meta.rack}"), "r1");
    assert_string_equal(sch_resolve_target(n, "linux"), "linux");
    assert_string_equal(sch_resolve_target(n, ""), "");
    assert_null(sch_resolve_target(n, "${attr.kernel}")); /* prefix of a key */
    assert_null(sch_resolve_target(n, "${attr.kernel.namex}"));
    assert_null(sch_resolve_target(n, "${meta.missing}"));
    assert_null(sch_resolve_target(n, "${node.region}")); /* not in Nomad */
    assert_null(sch_resolve_target(n, "${attr.kernel.name"));
    /* ${node.class} is set even when empty. */
    cv_set_string(&n->node_class, "");
    assert_string_equal(sch_resolve_target(n, "${node.class}"), "");
    assert_true(sch_target_escapes("${node.unique.id}"));
    assert_true(sch_target_escapes("${attr.unique.hostname}"));
    assert_true(sch_target_escapes("${meta.unique.x}"));
    assert_false(sch_target_escapes("${meta.rack}"));
    assert_false(sch_target_escapes("${node.datacenter}"));
    cv_node_free(n);
}

static void test_equality_operators(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    const char *k = "${attr.kernel.name}";
    assert_true(holds(n, k, "=", "linux"));
    assert_true(holds(n, k, "==", "linux"));
    assert_true(holds(n, k, "is", "linux"));
    assert_false(holds(n, k, "=", "windows"));
    assert_false(holds(n, "${attr.nope}", "=", "linux"));
    assert_false(holds(n, "${attr.nope}", "=", "${attr.nope2}")); /* both missing */
    assert_true(holds(n, k, "!=", "windows"));
    assert_true(holds(n, k, "not", "windows"));
    assert_false(holds(n, k, "!=", "linux"));
    assert_true(holds(n, "${attr.nope}", "!=", "linux")); /* a missing side differs */
    assert_true(holds(n, "${attr.nope}", "!=", ""));
    assert_false(holds(n, "${attr.nope}", "!=", "${meta.nope}"));
    cv_node_free(n);
}

static void test_order_operators(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    const char *cores = "${attr.cpu.numcores}"; /* "8" */
    assert_true(holds(n, cores, ">", "4"));
    assert_false(holds(n, cores, ">", "10")); /* integers, not bytes: "8" > "10" lexically */
    assert_true(holds(n, cores, ">=", "8"));
    assert_false(holds(n, cores, ">=", "9"));
    assert_true(holds(n, cores, "<", "16"));
    assert_false(holds(n, cores, "<", "8"));
    assert_true(holds(n, cores, "<=", "8"));
    assert_false(holds(n, cores, "<=", "7"));
    const char *freq = "${attr.cpu.frequency}"; /* "2.5" */
    assert_true(holds(n, freq, ">", "2.25"));
    assert_false(holds(n, freq, ">", "10.0"));
    assert_true(holds(n, freq, "<", "3"));
    /* Neither number: byte order. */
    assert_true(holds(n, "${attr.kernel.name}", ">", "bsd"));
    assert_false(holds(n, "${attr.kernel.name}", "<", "bsd"));
    assert_false(holds(n, "${attr.nope}", "<", "9"));
    assert_false(holds(n, "${attr.nope}", ">=", ""));
    cv_node_free(n);
}

static void test_regexp(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    assert_true(holds(n, "${attr.kernel.name}", "regexp", "^lin"));
    assert_true(holds(n, "${attr.kernel.name}", "regexp", "nu")); /* unanchored */
    assert_true(holds(n, "${attr.kernel.name}", "regexp", "^(linux|darwin)$"));
    assert_false(holds(n, "${attr.kernel.name}", "regexp", "^win"));
    assert_false(holds(n, "${attr.nope}", "regexp", ".*"));
    assert_false(holds(n, "${attr.kernel.name}", "regexp", "(")); /* does not compile */
    cv_node_free(n);
}

static void test_set_operators(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    const char *tags = "${meta.tags}"; /* "ssd, gpu,fast" */
    assert_true(holds(n, tags, "set_contains", "ssd"));
    assert_true(holds(n, tags, "set_contains", "gpu, ssd"));
    assert_false(holds(n, tags, "set_contains", "gpu,nvme"));
    assert_true(holds(n, tags, "set_contains_all", "fast,gpu,ssd"));
    assert_false(holds(n, tags, "set_contains_all", "fast,hdd"));
    assert_true(holds(n, tags, "set_contains_any", "hdd,gpu"));
    assert_false(holds(n, tags, "set_contains_any", "hdd,nvme"));
    assert_false(holds(n, tags, "set_contains", "gp")); /* items, not substrings */
    assert_false(holds(n, "${meta.nope}", "set_contains", "ssd"));
    assert_false(holds(n, "${meta.nope}", "set_contains_any", "ssd"));
    cv_node_free(n);
}

static void test_version_operators(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    const char *kv = "${attr.kernel.version}"; /* "5.15.0" */
    assert_true(holds(n, kv, "version", ">= 5.4"));
    assert_true(holds(n, kv, "version", ">= 5.4, < 6.0"));
    assert_false(holds(n, kv, "version", ">= 5.4, < 5.10"));
    assert_true(holds(n, kv, "version", "~> 5.15"));
    assert_true(holds(n, kv, "version", "~> 5.0"));
    assert_false(holds(n, kv, "version", "~> 5.16.1"));
    assert_true(holds(n, kv, "version", "5.15"));
    assert_true(holds(n, kv, "version", "!= 5.14"));
    assert_false(holds(n, kv, "version", "not a version"));
    assert_false(holds(n, "${attr.nope}", "version", ">= 1.0"));
    assert_true(holds(n, kv, "semver", ">= 5.15.0"));
    assert_false(holds(n, kv, "semver", "> 5.15.0"));
    assert_false(holds(n, kv, "semver", "~> 5.15")); /* no pessimistic operator */
    assert_false(holds(n, "${attr.nope}", "semver", ">= 1.0.0"));

    /* The two dialects part on pre-releases and on segment counts. */
    assert_false(sch_version_match(SCH_VERSION_GO, "1.3.0-beta1", ">= 1.2.0"));
    assert_true(sch_version_match(SCH_VERSION_SEMVER, "1.3.0-beta1", ">= 1.2.0"));
    assert_true(sch_version_match(SCH_VERSION_GO, "1.3.0-beta1", ">= 1.3.0-alpha"));
    assert_true(sch_version_match(SCH_VERSION_SEMVER, "1.0.0-alpha.2", "> 1.0.0-alpha.1"));
    assert_true(sch_version_match(SCH_VERSION_SEMVER, "1.0.0-beta.11", "> 1.0.0-beta.2"));
    assert_true(sch_version_match(SCH_VERSION_SEMVER, "1.0.0", "> 1.0.0-rc.1"));
    assert_true(sch_version_match(SCH_VERSION_SEMVER, "1.0.0-alpha.1", "> 1.0.0-alpha"));
    assert_true(sch_version_match(SCH_VERSION_GO, "1.2.3.4", "> 1.2.3"));
    assert_false(sch_version_match(SCH_VERSION_SEMVER, "1.2.3.4", "> 1.2.3"));
    assert_true(sch_version_match(SCH_VERSION_GO, "v1.2.3+build.7", "= 1.2.3"));
    assert_true(sch_version_match(SCH_VERSION_GO, "1.2", "= 1.2.0"));
    assert_false(sch_version_match(SCH_VERSION_GO, "2.0.0", "~> 1.2"));
    assert_true(sch_version_match(SCH_VERSION_GO, "1.9.0", "~> 1.2"));
    assert_false(sch_version_match(SCH_VERSION_GO, "1.3.0", "~> 1.2.3"));
    assert_true(sch_version_match(SCH_VERSION_GO, "1.2.9", "~> 1.2.3"));
    assert_false(sch_version_match(SCH_VERSION_GO, "1..2", "> 1.0"));
    cv_node_free(n);
}

static void test_is_set_and_unknown(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "v1:1");
    assert_true(holds(n, "${meta.rack}", "is_set", ""));
    assert_false(holds(n, "${meta.nope}", "is_set", ""));
    assert_true(holds(n, "${meta.nope}", "is_not_set", ""));
    assert_false(holds(n, "${meta.rack}", "is_not_set", ""));

    struct cv_constraint c = {"${meta.rack}", "", "distinct_hosts"};
    bool ok = true;
    assert_int_equal(sch_check_constraint(n, &c, &ok, NULL), SCH_NEEDS_ALLOC_CONTEXT);
    c.operand = "distinct_property";
    assert_int_equal(sch_check_constraint(n, &c, &ok, NULL), SCH_NEEDS_ALLOC_CONTEXT);
    assert_true(ok); /* untouched */
    c.operand = "like";
    struct cv_err err = {0};
    assert_int_equal(sch_check_constraint(n, &c, &ok, &err), CV_EINVAL);
    assert_string_equal(err.msg, "unknown constraint operator \"like\"");
    cv_node_free(n);
}

static void test_dc_glob_and_pool(void **state)
{
    (void)state;
    assert_true(sch_dc_match("*", "dc1"));
    assert_true(sch_dc_match("*", ""));
    assert_true(sch_dc_match("dc*", "dc1"));
    assert_true(sch_dc_match("dc*", "dc"));
    assert_false(sch_dc_match("dc*", "east-dc1"));
    assert_true(sch_dc_match("us-*-1", "us-east-1"));
    assert_false(sch_dc_match("us-*-1", "us-east-2"));
    assert_true(sch_dc_match("*a*b", "xaxab"));
    assert_true(sch_dc_match("dc1", "dc1"));
    assert_false(sch_dc_match("dc1", "dc10"));
    assert_false(sch_dc_match("dc10", "dc1"));
    struct cv_strings list = {0};
    assert_false(sch_dcs_match(&list, "dc1"));
    cv_strings_push(&list, "eu-*");
    cv_strings_push(&list, "dc1");
    assert_true(sch_dcs_match(&list, "dc1"));
    assert_true(sch_dcs_match(&list, "eu-west"));
    assert_false(sch_dcs_match(&list, "us-west"));
    for (size_t i = 0; i < list.len; i++) {
        cv_free(list.items[i]);
    }
    cv_free(list.items);

    assert_true(sch_pool_match("default", "default"));
    assert_true(sch_pool_match("", "default"));
    assert_true(sch_pool_match("all", "gpu"));
    assert_true(sch_pool_match("gpu", "gpu"));
    assert_false(sch_pool_match("gpu", "default"));
    assert_false(sch_pool_match("default", "gpu"));
}

#define JOB_HEAD "{'ID': 'j', 'Datacenters': ['dc*'], "
#define GROUP    "'TaskGroups': [{'Name': 'g', 'Tasks': [{'Name': 't', 'Driver': 'raw_exec'}]}]}"

static const char *check(struct sch_feasibility *f, const struct cv_node *n)
{
    const char *reason = "unset";
    bool ok = sch_feasibility_check(f, n, &reason);
    if (ok) {
        assert_null(reason);
        return "feasible";
    }
    assert_non_null(reason);
    return reason;
}

static void test_node_rules_and_reasons(void **state)
{
    (void)state;
    struct cv_job *job = parse_job(JOB_HEAD "'NodePool': 'default', " GROUP);
    struct sch_feasibility *f = NULL;
    assert_int_equal(sch_feasibility_new(job, &job->task_groups.items[0], &f, NULL), 0);
    struct cv_node *n = make_node("n1", "v1:1");
    assert_string_equal(check(f, n), "feasible");

    cv_set_string(&n->status, CV_NODE_STATUS_DOWN);
    assert_string_equal(check(f, n), SCH_REASON_NOT_READY);
    cv_set_string(&n->status, CV_NODE_STATUS_INITIALIZING);
    assert_string_equal(check(f, n), SCH_REASON_NOT_READY);
    cv_set_string(&n->status, CV_NODE_STATUS_READY);

    cv_set_string(&n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_string_equal(check(f, n), SCH_REASON_INELIGIBLE);
    cv_set_string(&n->scheduling_eligibility, CV_NODE_ELIGIBLE);

    n->drain_strategy = cv_calloc(1, sizeof *n->drain_strategy);
    cv_set_string(&n->drain_strategy->force_deadline, "");
    cv_set_string(&n->drain_strategy->started_at, "");
    assert_string_equal(check(f, n), SCH_REASON_DRAINING);
    cv_node_free(n);

    n = make_node("n1", "v1:1");
    cv_set_string(&n->datacenter, "east");
    assert_string_equal(check(f, n), SCH_REASON_DATACENTER);
    cv_set_string(&n->datacenter, "dc7");
    assert_string_equal(check(f, n), "feasible");

    cv_set_string(&n->node_pool, "gpu");
    assert_string_equal(check(f, n), SCH_REASON_NODE_POOL);
    cv_node_free(n);

    /* Drivers: absent, undetected, unhealthy; the old attribute form. */
    n = make_node("n1", "v1:1");
    n->drivers.items[0].healthy = false;
    assert_string_equal(check(f, n), SCH_REASON_DRIVERS);
    n->drivers.items[0].healthy = true;
    n->drivers.items[0].detected = false;
    assert_string_equal(check(f, n), SCH_REASON_DRIVERS);
    cv_set_string(&n->drivers.items[0].key, "docker");
    assert_string_equal(check(f, n), SCH_REASON_DRIVERS);
    cv_strmap_set(&n->attributes, "driver.raw_exec", "1");
    assert_string_equal(check(f, n), "feasible");
    cv_strmap_set(&n->attributes, "driver.raw_exec", "false");
    assert_string_equal(check(f, n), SCH_REASON_DRIVERS);
    cv_node_free(n);

    sch_feasibility_free(f);
    cv_job_free(job);
}

static void test_pool_all_and_constraint_reasons(void **state)
{
    (void)state;
    struct cv_job *job = parse_job(
        "{'ID': 'j', 'NodePool': 'all', "
        "'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': 'linux', 'Operand': '='}], "
        "'TaskGroups': [{'Name': 'g', "
        "  'Constraints': [{'LTarget': '${meta.rack}', 'Operand': 'is_set'},"
        "                  {'Operand': 'distinct_hosts', 'RTarget': 'true'}],"
        "  'Tasks': [{'Name': 't', 'Driver': 'raw_exec', 'Constraints': "
        "    [{'LTarget': '${attr.cpu.numcores}', 'RTarget': '4', 'Operand': '>='}]}]}]}");
    struct sch_feasibility *f = NULL;
    assert_int_equal(sch_feasibility_new(job, &job->task_groups.items[0], &f, NULL), 0);
    assert_int_equal(sch_feasibility_deferred_count(f), 1);
    assert_string_equal(sch_feasibility_deferred(f, 0)->operand, "distinct_hosts");

    struct cv_node *n = make_node("n1", "");
    cv_set_string(&n->node_pool, "gpu"); /* "all" admits every pool */
    assert_string_equal(check(f, n), "feasible");
    cv_strmap_set(&n->attributes, "kernel.name", "darwin");
    assert_string_equal(check(f, n), "${attr.kernel.name} = linux");
    cv_node_free(n);

    n = make_node("n2", "");
    n->meta.len = 0; /* hide meta for one check; restored before the free */
    struct cv_kv *saved = n->meta.items;
    n->meta.items = NULL;
    assert_string_equal(check(f, n), "${meta.rack} is_set "); /* Nomad's trailing space */
    n->meta.items = saved;
    n->meta.len = 2;
    cv_strmap_set(&n->attributes, "cpu.numcores", "2");
    assert_string_equal(check(f, n), "${attr.cpu.numcores} >= 4");
    cv_node_free(n);

    struct sch_class_stats st;
    sch_feasibility_stats(f, &st);
    assert_u64_equal(st.hits, 0);
    assert_u64_equal(st.misses, 0);
    assert_u64_equal(st.uncached, 4);
    sch_feasibility_free(f);

    /* An operator validation would refuse is refused here too. */
    cv_set_string(&job->constraints.items[0].operand, "like");
    struct cv_err err = {0};
    assert_int_equal(sch_feasibility_new(job, &job->task_groups.items[0], &f, &err), CV_EINVAL);
    assert_null(f);
    assert_string_equal(err.msg, "unknown constraint operator \"like\"");
    cv_job_free(job);
}

static void test_class_cache(void **state)
{
    (void)state;
    struct cv_job *job =
        parse_job(JOB_HEAD
                  "'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': 'linux', "
                  "'Operand': '='}], " GROUP);
    struct sch_feasibility *f = NULL;
    assert_int_equal(sch_feasibility_new(job, &job->task_groups.items[0], &f, NULL), 0);

    /* Three nodes of class A: one check, two hits. */
    for (int i = 0; i < 3; i++) {
        struct cv_node *n = make_node("a", "v1:A");
        assert_string_equal(check(f, n), "feasible");
        cv_node_free(n);
    }
    /* Class B fails; its second node is answered from the cache even though
     * it (wrongly, for the test's sake) claims a matching kernel: the cache
     * trusts the computed class. */
    struct cv_node *b = make_node("b", "v1:B");
    cv_strmap_set(&b->attributes, "kernel.name", "windows");
    assert_string_equal(check(f, b), "${attr.kernel.name} = linux");
    cv_node_free(b);
    b = make_node("b2", "v1:B");
    assert_string_equal(check(f, b), "${attr.kernel.name} = linux");
    cv_node_free(b);
    /* Per-node rules are never cached: a down node of class A. */
    struct cv_node *down = make_node("a2", "v1:A");
    cv_set_string(&down->status, CV_NODE_STATUS_DOWN);
    assert_string_equal(check(f, down), SCH_REASON_NOT_READY);
    cv_node_free(down);

    struct sch_class_stats st;
    sch_feasibility_stats(f, &st);
    assert_u64_equal(st.misses, 2);
    assert_u64_equal(st.hits, 3);
    assert_u64_equal(st.uncached, 0);

    /* Many classes: the table grows and keeps every verdict. */
    char cls[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(cls, sizeof cls, "v1:%d", i);
            struct cv_node *n = make_node("m", cls);
            if (i % 2) {
                cv_strmap_set(&n->attributes, "kernel.name", "plan9");
            }
            assert_string_equal(check(f, n), i % 2 ? "${attr.kernel.name} = linux" : "feasible");
            cv_node_free(n);
        }
    }
    sch_feasibility_stats(f, &st);
    assert_u64_equal(st.misses, 102);
    assert_u64_equal(st.hits, 103);
    sch_feasibility_free(f);
    cv_job_free(job);
}

static void test_escaped_constraints_not_cached(void **state)
{
    (void)state;
    struct cv_job *job = parse_job(
        JOB_HEAD
        "'Constraints': ["
        "{'LTarget': '${attr.kernel.name}', 'RTarget': 'linux', 'Operand': '='},"
        "{'LTarget': '${node.unique.name}', 'RTarget': 'bad', 'Operand': '!='},"
        "{'LTarget': '${attr.unique.hostname}', 'RTarget': '^n', 'Operand': 'regexp'},"
        "{'LTarget': '${meta.unique.id}', 'RTarget': '', 'Operand': 'is_not_set'}], " GROUP);
    struct sch_feasibility *f = NULL;
    assert_int_equal(sch_feasibility_new(job, &job->task_groups.items[0], &f, NULL), 0);

    struct cv_node *n1 = make_node("n1", "v1:A");
    struct cv_node *bad = make_node("bad", "v1:A");
    struct cv_node *x = make_node("x1", "v1:A");
    struct cv_node *m = make_node("n3", "v1:A");
    cv_strmap_set(&m->meta, "unique.id", "7");
    assert_string_equal(check(f, n1), "feasible");
    assert_string_equal(check(f, bad), "${node.unique.name} != bad");
    assert_string_equal(check(f, x), "${attr.unique.hostname} regexp ^n");
    assert_string_equal(check(f, m), "${meta.unique.id} is_not_set ");
    assert_string_equal(check(f, n1), "feasible");

    struct sch_class_stats st;
    sch_feasibility_stats(f, &st);
    assert_u64_equal(st.misses, 1); /* the class-wide kernel check ran once */
    assert_u64_equal(st.hits, 4);
    cv_node_free(n1);
    cv_node_free(bad);
    cv_node_free(x);
    cv_node_free(m);
    sch_feasibility_free(f);
    cv_job_free(job);
}

static void test_constraint_string(void **state)
{
    (void)state;
    struct cv_constraint c = {"${attr.kernel.name}", "linux", "="};
    char buf[64];
    assert_string_equal(sch_constraint_string(&c, buf, sizeof buf), "${attr.kernel.name} = linux");
    char small[8];
    assert_string_equal(sch_constraint_string(&c, small, sizeof small), "${attr.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_resolve_target),
        CV_TEST(test_equality_operators),
        CV_TEST(test_order_operators),
        CV_TEST(test_regexp),
        CV_TEST(test_set_operators),
        CV_TEST(test_version_operators),
        CV_TEST(test_is_set_and_unknown),
        CV_TEST(test_dc_glob_and_pool),
        CV_TEST(test_node_rules_and_reasons),
        CV_TEST(test_pool_all_and_constraint_reasons),
        CV_TEST(test_class_cache),
        CV_TEST(test_escaped_constraints_not_cached),
        CV_TEST(test_constraint_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
