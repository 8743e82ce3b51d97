/*
 * test_job_diff: Nomad's job diff (regiond/job_diff.h) through its public
 * face: two jobs in, JSON out, parsed back and checked: a new job, an
 * identical one, a count change with its annotations, a driver config
 * change, groups and tasks added and removed, meta, constraints, datacenters,
 * spreads, networks, resources, contextual on and off, and numbers printed
 * as Go prints them.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/job.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "regiond/job_diff.h"

/* One group "cache" of one docker task "redis", one job constraint. */
static const char BASE[] =
    "{'ID': 'app', 'Datacenters': ['dc1', 'dc2'], 'Meta': {'owner': 'a'},"
    " 'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': 'linux', 'Operand': '='}],"
    " 'TaskGroups': [{'Name': 'cache', 'Count': 1,"
    "   'Tasks': [{'Name': 'redis', 'Driver': 'docker',"
    "     'Config': {'image': 'redis:7', 'ports': ['db']},"
    "     'Resources': {'CPU': 500, 'MemoryMB': 256}}]}]}";

/* BASE with up to three substitutions (from, to pairs; NULL ends). */
static struct cv_job *job_with(const char *from1, const char *to1, const char *from2,
                               const char *to2, const char *from3, const char *to3)
{
    const char *pairs[3][2] = {{from1, to1}, {from2, to2}, {from3, to3}};
    char *text = cv_test_quotes(BASE);
    for (size_t i = 0; i < 3 && pairs[i][0]; i++) {
        char *from = cv_test_quotes(pairs[i][0]);
        char *to = cv_test_quotes(pairs[i][1]);
        char *at = strstr(text, from);
        if (!at) {
            fail_msg("no %s in the job", from);
        }
        struct cv_buf b = CV_BUF_INIT;
        cv_buf_append(&b, text, (size_t)(at - text));
        cv_buf_append_str(&b, to);
        cv_buf_append_str(&b, at + strlen(from));
        cv_free(text);
        text = cv_buf_take(&b);
        cv_free(from);
        cv_free(to);
    }
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

static struct cv_job *base_job(void)
{
    return job_with(NULL, NULL, NULL, NULL, NULL, NULL);
}

static struct cv_json_doc *diff(const struct cv_job *old, const struct cv_job *new_job,
                                const struct sch_desired_updates *u, size_t n, bool contextual)
{
    struct cv_jgen *g = cv_jgen_new(false);
    job_diff_encode(old, new_job, u, n, contextual, g);
    const char *text;
    size_t len;
    assert_int_equal(cv_jgen_finish(g, &text, &len, NULL), 0);
    if (getenv("CARAVAN_TEST_DIFF_DUMP")) {
        fprintf(stderr, "%.*s\n", (int)len, text);
    }
    struct cv_json_doc *doc = NULL;
    assert_int_equal(cv_json_parse(text, len, NULL, &doc, NULL), 0);
    cv_jgen_free(g);
    return doc;
}

/* ---- accessors ------------------------------------------------------------------------ */

static const struct cv_json *get(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = cv_json_object_get(o, key);
    if (!v) {
        fail_msg("no member %s", key);
    }
    return v;
}

static const char *str(const struct cv_json *o, const char *key)
{
    const struct cv_json *v = get(o, key);
    assert_int_equal(v->type, CV_JSON_STRING);
    return v->u.string.ptr;
}

static size_t len_of(const struct cv_json *v)
{
    return v->type == CV_JSON_NULL ? 0 : v->u.array.len;
}

static bool is_null(const struct cv_json *o, const char *key)
{
    return get(o, key)->type == CV_JSON_NULL;
}

/* The nth element of list (an array member of o) whose Name is name; NULL
 * when there is none. */
static const struct cv_json *named(const struct cv_json *o, const char *list, const char *name,
                                   size_t nth)
{
    const struct cv_json *a = get(o, list);
    for (size_t i = 0; i < len_of(a); i++) {
        const struct cv_json *e = a->u.array.items[i];
        if (strcmp(str(e, "Name"), name) == 0 && nth-- == 0) {
            return e;
        }
    }
    return NULL;
}

/* Asserts that o's field `name` exists with that type, old and new value. */
static void expect_field(const struct cv_json *o, const char *name, const char *type,
                         const char *old, const char *new_value)
{
    const struct cv_json *f = named(o, "Fields", name, 0);
    if (!f) {
        fail_msg("no field %s", name);
    }
    assert_string_equal(str(f, "Type"), type);
    assert_string_equal(str(f, "Old"), old);
    assert_string_equal(str(f, "New"), new_value);
}

static const struct cv_json *group0(const struct cv_json *d)
{
    const struct cv_json *tgs = get(d, "TaskGroups");
    assert_true(len_of(tgs) >= 1);
    return tgs->u.array.items[0];
}

static const struct cv_json *task0(const struct cv_json *d)
{
    const struct cv_json *tasks = get(group0(d), "Tasks");
    assert_true(len_of(tasks) >= 1);
    return tasks->u.array.items[0];
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_new_job_is_added(void **state)
{
    (void)state;
    struct cv_job *job = base_job();
    struct cv_json_doc *doc = diff(NULL, job, NULL, 0, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Added");
    assert_string_equal(str(d, "ID"), "app");
    expect_field(d, "Name", "Added", "", "app");
    expect_field(d, "Priority", "Added", "", "50");
    expect_field(d, "Type", "Added", "", "service");
    expect_field(d, "AllAtOnce", "Added", "", "false");
    expect_field(d, "Meta[owner]", "Added", "", "a");
    assert_null(named(d, "Fields", "ID", 0));       /* ignored, as Nomad */
    assert_null(named(d, "Fields", "ParentID", 0)); /* empty on both sides */
    assert_null(named(d, "Fields", "Status", 0));
    const struct cv_json *dcs = named(d, "Objects", "Datacenters", 0);
    assert_non_null(dcs);
    assert_string_equal(str(dcs, "Type"), "Added");
    assert_int_equal(len_of(get(dcs, "Fields")), 2);
    expect_field(dcs, "Datacenters", "Added", "", "dc1");
    const struct cv_json *con = named(d, "Objects", "Constraint", 0);
    assert_string_equal(str(con, "Type"), "Added");
    expect_field(con, "LTarget", "Added", "", "${attr.kernel.name}");
    expect_field(con, "Operand", "Added", "", "=");

    const struct cv_json *tg = group0(d);
    assert_string_equal(str(tg, "Type"), "Added");
    assert_string_equal(str(tg, "Name"), "cache");
    expect_field(tg, "Count", "Added", "", "1");
    assert_true(is_null(tg, "Updates"));
    assert_string_equal(str(named(tg, "Objects", "RestartPolicy", 0), "Type"), "Added");
    assert_string_equal(str(named(tg, "Objects", "EphemeralDisk", 0), "Type"), "Added");
    const struct cv_json *t = task0(d);
    assert_string_equal(str(t, "Type"), "Added");
    expect_field(t, "Driver", "Added", "", "docker");
    expect_field(t, "KillTimeout", "Added", "", "5000000000");
    assert_true(is_null(t, "Annotations"));
    const struct cv_json *cfg = named(t, "Objects", "Config", 0);
    assert_string_equal(str(cfg, "Type"), "Added");
    expect_field(cfg, "image", "Added", "", "redis:7");
    expect_field(cfg, "ports[0]", "Added", "", "db");
    const struct cv_json *res = named(t, "Objects", "Resources", 0);
    expect_field(res, "CPU", "Added", "", "500");
    expect_field(res, "MemoryMB", "Added", "", "256");
    cv_json_doc_free(doc);

    /* Annotated: a new group's tasks force creation. */
    struct sch_desired_updates u = {.task_group = "cache", .place = 1};
    doc = diff(NULL, job, &u, 1, false);
    d = cv_json_doc_root(doc);
    assert_int_equal(get(get(group0(d), "Updates"), "create")->type, CV_JSON_NUMBER);
    assert_string_equal(get(get(group0(d), "Updates"), "create")->u.number.text, "1");
    const struct cv_json *ann = get(task0(d), "Annotations");
    assert_int_equal(len_of(ann), 1);
    assert_string_equal(ann->u.array.items[0]->u.string.ptr, "forces create");
    const struct cv_json *count = named(group0(d), "Fields", "Count", 0);
    assert_string_equal(get(count, "Annotations")->u.array.items[0]->u.string.ptr, "forces create");
    cv_json_doc_free(doc);

    /* And the other way: a job gone. */
    doc = diff(job, NULL, NULL, 0, false);
    d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Deleted");
    expect_field(d, "Name", "Deleted", "app", "");
    assert_string_equal(str(group0(d), "Type"), "Deleted");
    cv_json_doc_free(doc);
    cv_job_free(job);
}

static void test_identical_job_is_none(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = base_job();
    /* Fields the servers own do not count. */
    b->version = 7;
    b->modify_index = 99;
    b->job_modify_index = 98;
    b->submit_time = 12345;
    cv_set_string(&b->status, "running");
    for (int contextual = 0; contextual < 2; contextual++) {
        struct cv_json_doc *doc = diff(a, b, NULL, 0, contextual);
        const struct cv_json *d = cv_json_doc_root(doc);
        assert_string_equal(str(d, "Type"), "None");
        assert_true(is_null(d, "Fields"));
        assert_true(is_null(d, "Objects"));
        assert_string_equal(str(group0(d), "Type"), "None");
        assert_true(is_null(group0(d), "Fields"));
        assert_true(is_null(group0(d), "Objects"));
        assert_string_equal(str(task0(d), "Type"), "None");
        assert_true(is_null(task0(d), "Objects"));
        cv_json_doc_free(doc);
    }
    /* Annotated with what the scheduler would do: nothing but ignore. */
    struct sch_desired_updates u = {.task_group = "cache", .ignore = 1};
    struct cv_json_doc *doc = diff(a, b, &u, 1, true);
    const struct cv_json *up = get(group0(cv_json_doc_root(doc)), "Updates");
    assert_int_equal(up->u.object.len, 1);
    assert_string_equal(get(up, "ignore")->u.number.text, "1");
    assert_true(is_null(task0(cv_json_doc_root(doc)), "Annotations"));
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_count_change(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = job_with("'Count': 1", "'Count': 3", NULL, NULL, NULL, NULL);
    struct sch_desired_updates u = {.task_group = "cache", .place = 2, .ignore = 1};
    struct cv_json_doc *doc = diff(a, b, &u, 1, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Edited");
    assert_true(is_null(d, "Fields"));
    const struct cv_json *tg = group0(d);
    assert_string_equal(str(tg, "Type"), "Edited");
    assert_int_equal(len_of(get(tg, "Fields")), 1);
    expect_field(tg, "Count", "Edited", "1", "3");
    const struct cv_json *ann = get(named(tg, "Fields", "Count", 0), "Annotations");
    assert_string_equal(ann->u.array.items[0]->u.string.ptr, "forces create");
    const struct cv_json *up = get(tg, "Updates");
    assert_int_equal(up->u.object.len, 2);
    assert_string_equal(up->u.object.members[0].key, "create"); /* Go sorts map keys */
    assert_string_equal(up->u.object.members[1].key, "ignore");
    assert_string_equal(str(task0(d), "Type"), "None");
    cv_json_doc_free(doc);

    /* Down: forces destroy; without updates no annotation at all. */
    doc = diff(b, a, &u, 1, false);
    ann = get(named(group0(cv_json_doc_root(doc)), "Fields", "Count", 0), "Annotations");
    assert_string_equal(ann->u.array.items[0]->u.string.ptr, "forces destroy");
    cv_json_doc_free(doc);
    doc = diff(b, a, NULL, 0, false);
    tg = group0(cv_json_doc_root(doc));
    assert_true(is_null(named(tg, "Fields", "Count", 0), "Annotations"));
    assert_true(is_null(tg, "Updates"));
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_config_change_contextual(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = job_with("redis:7", "redis:8", NULL, NULL, NULL, NULL);
    struct sch_desired_updates u = {.task_group = "cache", .destructive = 1};

    struct cv_json_doc *doc = diff(a, b, &u, 1, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Edited");
    const struct cv_json *t = task0(d);
    assert_string_equal(str(t, "Type"), "Edited");
    assert_true(is_null(t, "Fields"));
    assert_int_equal(len_of(get(t, "Objects")), 1);
    const struct cv_json *cfg = named(t, "Objects", "Config", 0);
    assert_string_equal(str(cfg, "Type"), "Edited");
    assert_int_equal(len_of(get(cfg, "Fields")), 1);
    expect_field(cfg, "image", "Edited", "redis:7", "redis:8");
    assert_string_equal(get(t, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces create/destroy update");
    assert_string_equal(get(get(group0(d), "Updates"), "create/destroy update")->u.number.text,
                        "1");
    cv_json_doc_free(doc);

    /* Contextual: the fields that did not change come along as None. */
    doc = diff(a, b, &u, 1, true);
    cfg = named(task0(cv_json_doc_root(doc)), "Objects", "Config", 0);
    assert_int_equal(len_of(get(cfg, "Fields")), 2);
    expect_field(cfg, "image", "Edited", "redis:7", "redis:8");
    expect_field(cfg, "ports[0]", "None", "db", "db");
    /* ...but objects that did not change at all still do not appear. */
    assert_null(named(task0(cv_json_doc_root(doc)), "Objects", "Resources", 0));
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_resources_contextual(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = job_with("'CPU': 500", "'CPU': 750", NULL, NULL, NULL, NULL);
    struct cv_json_doc *doc = diff(a, b, NULL, 0, false);
    const struct cv_json *res = named(task0(cv_json_doc_root(doc)), "Objects", "Resources", 0);
    assert_string_equal(str(res, "Type"), "Edited");
    assert_int_equal(len_of(get(res, "Fields")), 1);
    expect_field(res, "CPU", "Edited", "500", "750");
    cv_json_doc_free(doc);
    doc = diff(a, b, NULL, 0, true);
    res = named(task0(cv_json_doc_root(doc)), "Objects", "Resources", 0);
    expect_field(res, "CPU", "Edited", "500", "750");
    expect_field(res, "MemoryMB", "None", "256", "256");
    expect_field(res, "IOPS", "None", "0", "0");
    /* Sorted by name. */
    const struct cv_json *fields = get(res, "Fields");
    for (size_t i = 1; i < len_of(fields); i++) {
        assert_true(strcmp(str(fields->u.array.items[i - 1], "Name"),
                           str(fields->u.array.items[i], "Name")) < 0);
    }
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_groups_and_tasks_added_and_removed(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    /* A second task in cache, and a group "web" before it in name order. */
    struct cv_job *b =
        job_with("'Resources': {'CPU': 500, 'MemoryMB': 256}}]}]",
                 "'Resources': {'CPU': 500, 'MemoryMB': 256}},"
                 " {'Name': 'exporter', 'Driver': 'docker', 'Config': {'image': 'exp:1'}}]},"
                 " {'Name': 'api', 'Count': 2, 'Tasks': [{'Name': 'srv', 'Driver': 'exec'}]}]",
                 NULL, NULL, NULL, NULL);
    struct sch_desired_updates u[] = {{.task_group = "cache", .destructive = 1},
                                      {.task_group = "api", .place = 2}};
    struct cv_json_doc *doc = diff(a, b, u, 2, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Edited");
    const struct cv_json *tgs = get(d, "TaskGroups");
    assert_int_equal(len_of(tgs), 2);
    const struct cv_json *api = tgs->u.array.items[0]; /* sorted by name */
    assert_string_equal(str(api, "Name"), "api");
    assert_string_equal(str(api, "Type"), "Added");
    expect_field(api, "Count", "Added", "", "2");
    assert_string_equal(get(get(api, "Updates"), "create")->u.number.text, "2");
    const struct cv_json *cache = tgs->u.array.items[1];
    assert_string_equal(str(cache, "Type"), "Edited");
    const struct cv_json *tasks = get(cache, "Tasks");
    assert_int_equal(len_of(tasks), 2);
    const struct cv_json *exporter = tasks->u.array.items[0];
    assert_string_equal(str(exporter, "Name"), "exporter");
    assert_string_equal(str(exporter, "Type"), "Added");
    /* An added task in an edited group is a destructive update of it. */
    assert_string_equal(get(exporter, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces create/destroy update");
    assert_string_equal(str(tasks->u.array.items[1], "Type"), "None");
    cv_json_doc_free(doc);

    /* Backwards: a deleted group and a deleted task. */
    doc = diff(b, a, NULL, 0, false);
    d = cv_json_doc_root(doc);
    tgs = get(d, "TaskGroups");
    assert_string_equal(str(tgs->u.array.items[0], "Type"), "Deleted");
    expect_field(tgs->u.array.items[0], "Count", "Deleted", "2", "");
    tasks = get(tgs->u.array.items[1], "Tasks");
    assert_string_equal(str(tasks->u.array.items[0], "Type"), "Deleted");
    expect_field(tasks->u.array.items[0], "Driver", "Deleted", "docker", "");
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_meta_and_datacenters(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = job_with("'Meta': {'owner': 'a'}", "'Meta': {'owner': 'b', 'tier': '1'}",
                                "['dc1', 'dc2']", "['dc1', 'dc3']", NULL, NULL);
    struct cv_json_doc *doc = diff(a, b, NULL, 0, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Edited");
    assert_int_equal(len_of(get(d, "Fields")), 2);
    expect_field(d, "Meta[owner]", "Edited", "a", "b");
    expect_field(d, "Meta[tier]", "Added", "", "1");
    const struct cv_json *dcs = named(d, "Objects", "Datacenters", 0);
    assert_string_equal(str(dcs, "Type"), "Edited");
    assert_int_equal(len_of(get(dcs, "Fields")), 2); /* dc1 unchanged: not contextual */
    const struct cv_json *f0 = get(dcs, "Fields")->u.array.items[0];
    const struct cv_json *f1 = get(dcs, "Fields")->u.array.items[1];
    /* Same name: sorted by Old, then New. */
    assert_string_equal(str(f0, "Type"), "Added");
    assert_string_equal(str(f0, "New"), "dc3");
    assert_string_equal(str(f1, "Type"), "Deleted");
    assert_string_equal(str(f1, "Old"), "dc2");
    cv_json_doc_free(doc);

    doc = diff(a, b, NULL, 0, true);
    dcs = named(cv_json_doc_root(doc), "Objects", "Datacenters", 0);
    assert_int_equal(len_of(get(dcs, "Fields")), 3);
    const struct cv_json *mid = get(dcs, "Fields")->u.array.items[1]; /* Old "", dc1, dc2 */
    assert_string_equal(str(mid, "Type"), "None");
    assert_string_equal(str(mid, "Old"), "dc1");
    assert_string_equal(str(mid, "New"), "dc1");
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_constraints_are_a_set(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    /* The job constraint changes; the task gets one. */
    struct cv_job *b = job_with("'RTarget': 'linux'", "'RTarget': 'windows'", "'Driver': 'docker'",
                                "'Driver': 'docker', 'Constraints': [{'LTarget': "
                                "'${attr.cpu.arch}', 'RTarget': 'amd64', 'Operand': '='}]",
                                NULL, NULL);
    struct sch_desired_updates u = {.task_group = "cache", .inplace = 1};
    struct cv_json_doc *doc = diff(a, b, &u, 1, false);
    const struct cv_json *d = cv_json_doc_root(doc);
    assert_string_equal(str(d, "Type"), "Edited");
    const struct cv_json *objs = get(d, "Objects");
    assert_int_equal(len_of(objs), 2);
    /* A changed element is one Added and one Deleted, Added first. */
    assert_string_equal(str(objs->u.array.items[0], "Type"), "Added");
    expect_field(objs->u.array.items[0], "RTarget", "Added", "", "windows");
    assert_string_equal(str(objs->u.array.items[1], "Type"), "Deleted");
    expect_field(objs->u.array.items[1], "RTarget", "Deleted", "linux", "");
    const struct cv_json *t = task0(d);
    assert_string_equal(str(t, "Type"), "Edited");
    expect_field(named(t, "Objects", "Constraint", 0), "LTarget", "Added", "", "${attr.cpu.arch}");
    /* Constraints alone change in place. */
    assert_string_equal(get(t, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces in-place update");
    assert_string_equal(get(get(group0(d), "Updates"), "in-place update")->u.number.text, "1");
    cv_json_doc_free(doc);

    /* The same constraints in another order are the same set. */
    struct cv_job *c = job_with(
        "'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': "
        "'linux', 'Operand': '='}]",
        "'Constraints': [{'LTarget': '${meta.x}', 'RTarget': 'y', "
        "'Operand': '='}, {'LTarget': '${attr.kernel.name}', 'RTarget': "
        "'linux', 'Operand': '='}]",
        NULL, NULL, NULL, NULL);
    struct cv_job *e = job_with(
        "'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': "
        "'linux', 'Operand': '='}]",
        "'Constraints': [{'LTarget': '${attr.kernel.name}', 'RTarget': "
        "'linux', 'Operand': '='}, {'LTarget': '${meta.x}', 'RTarget': "
        "'y', 'Operand': '='}]",
        NULL, NULL, NULL, NULL);
    doc = diff(c, e, NULL, 0, true);
    assert_true(is_null(cv_json_doc_root(doc), "Objects"));
    assert_string_equal(str(cv_json_doc_root(doc), "Type"), "None");
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
    cv_job_free(c);
    cv_job_free(e);
}

static void test_group_objects(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b = job_with("'Count': 1,",
                                "'Count': 1, 'Meta': {'k': 'v'}, 'EphemeralDisk': {'SizeMB': 500},"
                                " 'Spreads': [{'Attribute': '${node.datacenter}', 'Weight': 100,"
                                "   'SpreadTarget': [{'Value': 'dc1', 'Percent': 70}]}],"
                                " 'Networks': [{'DynamicPorts': [{'Label': 'db', 'To': 6379}]}],"
                                " 'RestartPolicy': {'Attempts': 9},",
                                NULL, NULL, NULL, NULL);
    struct cv_json_doc *doc = diff(a, b, NULL, 0, false);
    const struct cv_json *tg = group0(cv_json_doc_root(doc));
    assert_string_equal(str(tg, "Type"), "Edited");
    expect_field(tg, "Meta[k]", "Added", "", "v");
    const struct cv_json *disk = named(tg, "Objects", "EphemeralDisk", 0);
    assert_string_equal(str(disk, "Type"), "Edited");
    expect_field(disk, "SizeMB", "Edited", "300", "500");
    const struct cv_json *rp = named(tg, "Objects", "RestartPolicy", 0);
    expect_field(rp, "Attempts", "Edited", "2", "9");
    const struct cv_json *sp = named(tg, "Objects", "Spread", 0);
    assert_string_equal(str(sp, "Type"), "Added");
    expect_field(sp, "Attribute", "Added", "", "${node.datacenter}");
    expect_field(named(sp, "Objects", "SpreadTarget", 0), "Percent", "Added", "", "70");
    const struct cv_json *net = named(tg, "Objects", "Network", 0);
    assert_string_equal(str(net, "Type"), "Added");
    const struct cv_json *port = named(net, "Objects", "Dynamic Port", 0);
    expect_field(port, "Label", "Added", "", "db");
    expect_field(port, "To", "Added", "", "6379");
    assert_null(named(port, "Fields", "Value", 0)); /* the scheduler's choice */
    /* Nomad's order of kinds: spreads, restart, ephemeral disk, networks. */
    const struct cv_json *objs = get(tg, "Objects");
    assert_string_equal(str(objs->u.array.items[0], "Name"), "Spread");
    assert_string_equal(str(objs->u.array.items[1], "Name"), "RestartPolicy");
    assert_string_equal(str(objs->u.array.items[2], "Name"), "EphemeralDisk");
    assert_string_equal(str(objs->u.array.items[len_of(objs) - 1], "Name"), "Network");
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
}

static void test_task_fields_and_numbers(void **state)
{
    (void)state;
    struct cv_job *a = base_job();
    struct cv_job *b =
        job_with("'ports': ['db']",
                 "'ports': ['db'], 'n': 1000000, 'f': 1.5, 'z': 0.00001,"
                 " 'i': 8080, 'o': {'k': true}, 'x': null",
                 "'Driver': 'docker',",
                 "'Driver': 'docker', 'Env': {'A': '1'}, 'KillTimeout': 9000000000,", NULL, NULL);
    struct cv_json_doc *doc = diff(a, b, NULL, 0, false);
    const struct cv_json *t = task0(cv_json_doc_root(doc));
    expect_field(t, "Env[A]", "Added", "", "1");
    expect_field(t, "KillTimeout", "Edited", "5000000000", "9000000000");
    const struct cv_json *cfg = named(t, "Objects", "Config", 0);
    expect_field(cfg, "n", "Added", "", "1e+06");
    expect_field(cfg, "f", "Added", "", "1.5");
    expect_field(cfg, "z", "Added", "", "1e-05");
    expect_field(cfg, "i", "Added", "", "8080");
    expect_field(cfg, "o[k]", "Added", "", "true");
    expect_field(cfg, "x", "Added", "", "nil");
    cv_json_doc_free(doc);

    /* KillTimeout alone is an in-place update. */
    struct cv_job *c = job_with("'Driver': 'docker',", "'Driver': 'docker', 'KillTimeout': 1,",
                                NULL, NULL, NULL, NULL);
    struct sch_desired_updates u = {.task_group = "cache", .inplace = 1};
    doc = diff(a, c, &u, 1, false);
    t = task0(cv_json_doc_root(doc));
    assert_string_equal(get(t, "Annotations")->u.array.items[0]->u.string.ptr,
                        "forces in-place update");
    cv_json_doc_free(doc);
    cv_job_free(a);
    cv_job_free(b);
    cv_job_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_new_job_is_added),     CV_TEST(test_identical_job_is_none),
        CV_TEST(test_count_change),         CV_TEST(test_config_change_contextual),
        CV_TEST(test_resources_contextual), CV_TEST(test_groups_and_tasks_added_and_removed),
        CV_TEST(test_meta_and_datacenters), CV_TEST(test_constraints_are_a_set),
        CV_TEST(test_group_objects),        CV_TEST(test_task_fields_and_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
