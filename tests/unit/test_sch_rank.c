/*
 * test_sch_rank: schedd's ranking through its public face: node usage with
 * reserved resources and terminal allocations, the exhausted dimension, the
 * bin-packing and spread fit scores for known numbers, job anti-affinity,
 * affinities, spreads with and without targets, the limit rule, the seeded
 * shuffle, and the ranker choosing the best of the nodes it scored.
 *
 * Jobs go through cv_job_parse (canonicalized and validated as real ones);
 * nodes and allocations are built by hand.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "common/node.h"
#include "schedd/rank.h"

#define EPS 1e-9

static struct cv_node *make_node(const char *name, const char *dc, int64_t cpu, int64_t mem,
                                 int64_t disk)
{
    struct cv_node *n = cv_node_new();
    cv_set_string(&n->id, name);
    cv_set_string(&n->name, name);
    cv_set_string(&n->datacenter, dc);
    cv_set_string(&n->node_pool, "default");
    cv_set_string(&n->status, CV_NODE_STATUS_READY);
    cv_set_string(&n->scheduling_eligibility, CV_NODE_ELIGIBLE);
    cv_strmap_set(&n->attributes, "kernel.name", "linux");
    n->node_resources = cv_calloc(1, sizeof *n->node_resources);
    n->node_resources->cpu.cpu_shares = cpu;
    n->node_resources->memory.memory_mb = mem;
    n->node_resources->disk.disk_mb = disk;
    return n;
}

static void reserve(struct cv_node *n, int64_t cpu, int64_t mem, int64_t disk)
{
    n->reserved_resources = cv_calloc(1, sizeof *n->reserved_resources);
    n->reserved_resources->cpu.cpu_shares = cpu;
    n->reserved_resources->memory.memory_mb = mem;
    n->reserved_resources->disk.disk_mb = disk;
}

static struct cv_allocation *make_alloc(const char *job, const char *group, int64_t cpu,
                                        int64_t mem, int64_t disk)
{
    struct cv_allocation *a = cv_alloc_new();
    cv_set_string(&a->job_id, job);
    cv_set_string(&a->task_group, group);
    a->allocated_resources = cv_calloc(1, sizeof *a->allocated_resources);
    a->allocated_resources->tasks.items = cv_calloc(1, sizeof(struct cv_allocated_task_resources));
    a->allocated_resources->tasks.len = 1;
    struct cv_allocated_task_resources *t = &a->allocated_resources->tasks.items[0];
    cv_set_string(&t->key, "t");
    t->cpu.cpu_shares = cpu;
    t->memory.memory_mb = mem;
    a->allocated_resources->shared.disk_mb = disk;
    return a;
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

/* A job "web" with one group "g" of `count` asking 500 MHz, 256 MB, 300 MB
 * disk; `extra_job` and `extra_group` are spliced into the job and group. */
static struct cv_job *web_job(const char *type, int count, const char *extra_job,
                              const char *extra_group)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{'ID': 'web', 'Type': '%s', %s 'TaskGroups': [{'Name': 'g', 'Count': %d, %s"
             "  'EphemeralDisk': {'SizeMB': 300},"
             "  'Tasks': [{'Name': 't', 'Driver': 'raw_exec',"
             "             'Resources': {'CPU': 500, 'MemoryMB': 256}}]}]}",
             type, extra_job, count, extra_group);
    return parse_job(buf);
}

static void assert_near(double actual, double expected)
{
    if (fabs(actual - expected) > 1e-6) {
        print_error("expected %.9f, got %.9f\n", expected, actual);
        fail();
    }
}

static void test_group_and_alloc_resources(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 1, "", "");
    struct sch_resources r;
    sch_group_resources(&job->task_groups.items[0], &r);
    assert_i64_equal(r.cpu, 500);
    assert_i64_equal(r.memory_mb, 256);
    assert_i64_equal(r.disk_mb, 300);

    struct cv_allocation *a = make_alloc("web", "g", 100, 200, 300);
    sch_alloc_resources(a, &r);
    assert_i64_equal(r.cpu, 100);
    assert_i64_equal(r.memory_mb, 200);
    assert_i64_equal(r.disk_mb, 300);
    assert_false(sch_alloc_terminal(a));
    cv_set_string(&a->client_status, CV_ALLOC_CLIENT_COMPLETE);
    assert_true(sch_alloc_terminal(a));
    cv_set_string(&a->client_status, CV_ALLOC_CLIENT_RUNNING);
    cv_set_string(&a->desired_status, CV_ALLOC_DESIRED_STOP);
    assert_true(sch_alloc_terminal(a));
    cv_alloc_free(a);
    cv_job_free(job);
}

static void test_usage_reserved_and_terminal(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "dc1", 4000, 8192, 10000);
    reserve(n, 1000, 2048, 1000);
    struct cv_allocation *live = make_alloc("other", "x", 500, 1024, 500);
    struct cv_allocation *done = make_alloc("other", "x", 2000, 2000, 2000);
    cv_set_string(&done->client_status, CV_ALLOC_CLIENT_FAILED);
    const struct cv_allocation *allocs[] = {live, done};
    struct sch_resources ask = {.cpu = 1000, .memory_mb = 2048, .disk_mb = 300};
    struct sch_usage u;
    sch_node_usage(n, allocs, 2, &ask, &u);
    assert_i64_equal(u.capacity.cpu, 3000);
    assert_i64_equal(u.capacity.memory_mb, 6144);
    assert_i64_equal(u.capacity.disk_mb, 9000);
    assert_i64_equal(u.used.cpu, 1500);
    assert_i64_equal(u.used.memory_mb, 3072);
    assert_i64_equal(u.used.disk_mb, 800);
    assert_true(sch_fits(&u, NULL));
    /* Half free in both dimensions, counted against capacity net of the
     * reservation: 20 - 2*10^0.5 = 13.675444680, over 18. */
    assert_near(sch_binpack_score(&u, SCH_FIT_BINPACK), (20.0 - 2.0 * sqrt(10.0)) / 18.0);
    assert_near(sch_binpack_score(&u, SCH_FIT_BINPACK), 0.759746927);
    assert_near(sch_binpack_score(&u, SCH_FIT_SPREAD), 0.240253073);

    /* Without the reservation the same usage leaves more free and scores
     * lower (emptier). */
    struct cv_node_reserved_resources *res = n->reserved_resources;
    n->reserved_resources = NULL;
    struct sch_usage u2;
    sch_node_usage(n, allocs, 2, &ask, &u2);
    assert_true(sch_binpack_score(&u2, SCH_FIT_BINPACK) < sch_binpack_score(&u, SCH_FIT_BINPACK));
    n->reserved_resources = res;

    cv_alloc_free(live);
    cv_alloc_free(done);
    cv_node_free(n);
}

static void test_binpack_bounds(void **state)
{
    (void)state;
    struct sch_usage empty = {.capacity = {1000, 1000, 1000}};
    struct sch_usage full = {.capacity = {1000, 1000, 1000}, .used = {1000, 1000, 0}};
    /* 20 - (10 + 10) = 0; 20 - (1 + 1) = 18. */
    assert_near(sch_binpack_score(&empty, SCH_FIT_BINPACK), 0.0);
    assert_near(sch_binpack_score(&full, SCH_FIT_BINPACK), 1.0);
    assert_near(sch_binpack_score(&empty, SCH_FIT_SPREAD), 1.0);
    assert_near(sch_binpack_score(&full, SCH_FIT_SPREAD), 0.0);
    /* No capacity counts as full, never NaN. */
    struct sch_usage none = {0};
    assert_near(sch_binpack_score(&none, SCH_FIT_BINPACK), 1.0);
}

static void test_exhausted_dimensions(void **state)
{
    (void)state;
    struct cv_node *n = make_node("n1", "dc1", 1000, 1000, 1000);
    reserve(n, 100, 100, 100);
    struct sch_usage u;
    const char *dim = NULL;

    struct sch_resources exact = {900, 900, 900};
    sch_node_usage(n, NULL, 0, &exact, &u);
    assert_true(sch_fits(&u, &dim));
    assert_null(dim);

    struct sch_resources cpu = {901, 10, 10};
    sch_node_usage(n, NULL, 0, &cpu, &u);
    assert_false(sch_fits(&u, &dim));
    assert_string_equal(dim, SCH_DIM_CPU);

    struct sch_resources mem = {10, 901, 10};
    sch_node_usage(n, NULL, 0, &mem, &u);
    assert_false(sch_fits(&u, &dim));
    assert_string_equal(dim, SCH_DIM_MEMORY);

    /* Disk is exhausted by the reservation plus an existing allocation. */
    struct cv_allocation *a = make_alloc("other", "x", 0, 0, 800);
    const struct cv_allocation *allocs[] = {a};
    struct sch_resources disk = {10, 10, 101};
    sch_node_usage(n, allocs, 1, &disk, &u);
    assert_false(sch_fits(&u, &dim));
    assert_string_equal(dim, SCH_DIM_DISK);

    cv_alloc_free(a);
    cv_node_free(n);
}

static void test_anti_affinity(void **state)
{
    (void)state;
    assert_near(sch_anti_affinity_score(0, 4), 0.0);
    assert_near(sch_anti_affinity_score(1, 4), -0.5);
    assert_near(sch_anti_affinity_score(3, 4), -1.0);
    assert_near(sch_anti_affinity_score(5, 2), -1.0);
    assert_near(sch_anti_affinity_score(1, 0), -1.0);

    struct cv_job *job = web_job("service", 4, "", "");
    struct cv_node *n1 = make_node("n1", "dc1", 4000, 4096, 10000);
    struct cv_node *n2 = make_node("n2", "dc1", 4000, 4096, 10000);
    /* Same load on both nodes; n1's is one of web.g's, n2's another job's
     * and a stopped web.g. */
    struct cv_allocation *mine = make_alloc("web", "g", 500, 256, 300);
    struct cv_allocation *theirs = make_alloc("db", "g", 500, 256, 300);
    struct cv_allocation *stopped = make_alloc("web", "g", 0, 0, 0);
    cv_set_string(&stopped->desired_status, CV_ALLOC_DESIRED_STOP);
    const struct cv_allocation *on1[] = {mine};
    const struct cv_allocation *on2[] = {theirs, stopped};
    struct sch_candidate c[] = {{n1, on1, 1}, {n2, on2, 2}};
    struct sch_rank_request req = {
        .job = job, .tg = &job->task_groups.items[0], .nodes = c, .n_nodes = 2};
    struct sch_ranked r1, r2;
    assert_true(sch_rank_node(&req, &c[0], &r1, NULL));
    assert_true(sch_rank_node(&req, &c[1], &r2, NULL));
    assert_near(r1.binpack, r2.binpack);
    assert_true(r1.has_anti_affinity);
    assert_near(r1.anti_affinity, -0.5); /* -(1+1)/4 */
    assert_near(r1.final_score, (r1.binpack - 0.5) / 2.0);
    assert_false(r2.has_anti_affinity);
    assert_near(r2.final_score, r2.binpack);
    assert_true(r1.final_score < r2.final_score);

    cv_alloc_free(mine);
    cv_alloc_free(theirs);
    cv_alloc_free(stopped);
    cv_node_free(n1);
    cv_node_free(n2);
    cv_job_free(job);
}

static void test_affinity_weights(void **state)
{
    (void)state;
    /* +50 for rack r1 (group), -25 for linux (job), +25 for ssd (task,
     * never matching here): sum |w| = 100. */
    struct cv_job *job = parse_job(
        "{'ID': 'web', 'Type': 'service',"
        " 'Affinities': [{'LTarget': '${attr.kernel.name}', 'RTarget': 'linux',"
        "                 'Operand': '=', 'Weight': -25}],"
        " 'TaskGroups': [{'Name': 'g', 'Count': 1,"
        "  'Affinities': [{'LTarget': '${meta.rack}', 'RTarget': 'r1', 'Operand': '=',"
        "                  'Weight': 50}],"
        "  'Tasks': [{'Name': 't', 'Driver': 'raw_exec',"
        "             'Affinities': [{'LTarget': '${meta.disk}', 'RTarget': 'ssd',"
        "                             'Operand': '=', 'Weight': 25}],"
        "             'Resources': {'CPU': 100, 'MemoryMB': 100}}]}]}");
    struct cv_node *a = make_node("a", "dc1", 1000, 1000, 100000);
    struct cv_node *b = make_node("b", "dc1", 1000, 1000, 100000);
    struct cv_node *c = make_node("c", "dc1", 1000, 1000, 100000);
    cv_strmap_set(&a->meta, "rack", "r1");
    cv_strmap_set(&b->meta, "rack", "r2");
    cv_strmap_set(&c->meta, "rack", "r1");
    cv_strmap_set(&c->attributes, "kernel.name", "freebsd");
    struct sch_candidate cs[] = {{a, NULL, 0}, {b, NULL, 0}, {c, NULL, 0}};
    struct sch_rank_request req = {
        .job = job, .tg = &job->task_groups.items[0], .nodes = cs, .n_nodes = 3};
    struct sch_ranked ra, rb, rc;
    assert_true(sch_rank_node(&req, &cs[0], &ra, NULL));
    assert_true(sch_rank_node(&req, &cs[1], &rb, NULL));
    assert_true(sch_rank_node(&req, &cs[2], &rc, NULL));
    assert_true(ra.has_affinity);
    assert_near(ra.affinity, 0.25);  /* (50 - 25) / 100 */
    assert_near(rb.affinity, -0.25); /* -25 / 100 */
    assert_near(rc.affinity, 0.5);   /* 50 / 100 */
    assert_near(ra.final_score, (ra.binpack + 0.25) / 2.0);
    assert_true(rc.final_score > ra.final_score);
    assert_true(ra.final_score > rb.final_score);

    /* The ranker scores every node (the limit is 100 with affinities) and
     * picks c. */
    struct sch_ranker *r = sch_ranker_new(&req);
    assert_int_equal(sch_ranker_limit(r), 3);
    struct sch_ranked best;
    assert_true(sch_ranker_best(r, &best));
    assert_ptr_equal(best.node, c);
    assert_int_equal(best.index, 2);
    sch_ranker_free(r);

    cv_node_free(a);
    cv_node_free(b);
    cv_node_free(c);
    cv_job_free(job);
}

/* Spread fixture: nodes in dc1, dc2, dc3 and one without meta.zone. */
struct spread_fixture
{
    struct cv_node *nodes[4];
    struct cv_allocation *allocs[10];
    struct sch_placed placed[10];
    size_t n_placed;
    struct sch_candidate cands[4];
};

/* Places n1 allocations of web.g on the dc1 node and n2 on the dc2 node. */
static void spread_setup(struct spread_fixture *f, size_t n1, size_t n2)
{
    memset(f, 0, sizeof *f);
    const char *dcs[] = {"dc1", "dc2", "dc3", "dc4"};
    for (size_t i = 0; i < 4; i++) {
        f->nodes[i] = make_node(dcs[i], dcs[i], 10000, 10000, 100000);
        if (i < 3) {
            cv_strmap_set(&f->nodes[i]->meta, "zone", dcs[i]);
        }
        f->cands[i] = (struct sch_candidate){f->nodes[i], NULL, 0};
    }
    assert_true(n1 + n2 <= 8);
    size_t k = 0;
    for (size_t i = 0; i < n1 + n2; i++, k++) {
        f->allocs[k] = make_alloc("web", "g", 0, 0, 0);
        f->placed[k] = (struct sch_placed){f->allocs[k], f->nodes[i < n1 ? 0 : 1]};
    }
    /* Another group's and a terminal allocation do not count. */
    f->allocs[k] = make_alloc("web", "other", 0, 0, 0);
    f->placed[k] = (struct sch_placed){f->allocs[k], f->nodes[2]};
    f->allocs[k + 1] = make_alloc("web", "g", 0, 0, 0);
    cv_set_string(&f->allocs[k + 1]->client_status, CV_ALLOC_CLIENT_LOST);
    f->placed[k + 1] = (struct sch_placed){f->allocs[k + 1], f->nodes[2]};
    f->n_placed = k + 2;
}

static void spread_teardown(struct spread_fixture *f)
{
    for (size_t i = 0; i < f->n_placed; i++) {
        cv_alloc_free(f->allocs[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        cv_node_free(f->nodes[i]);
    }
}

static double spread_of(const struct sch_rank_request *req, const struct sch_candidate *c,
                        bool *has)
{
    struct sch_ranked r;
    assert_true(sch_rank_node(req, c, &r, NULL));
    *has = r.has_spread;
    return r.spread;
}

static void test_spread_even(void **state)
{
    (void)state;
    struct cv_job *job =
        web_job("service", 10, "", "'Spreads': [{'Attribute': '${meta.zone}', 'Weight': 50}],");
    struct spread_fixture f;
    spread_setup(&f, 2, 1);
    struct sch_rank_request req = {.job = job,
                                   .tg = &job->task_groups.items[0],
                                   .nodes = f.cands,
                                   .n_nodes = 4,
                                   .job_allocs = f.placed,
                                   .n_job_allocs = f.n_placed};
    bool has;
    /* dc1 has 2 (above the minimum 1): (1 - 2) / 1. */
    assert_near(spread_of(&req, &f.cands[0], &has), -1.0);
    /* dc2 holds the minimum and dc1 more: (max - min) / min = 1. */
    assert_near(spread_of(&req, &f.cands[1], &has), 1.0);
    /* dc3 has none yet: (1 - 0) / 1. */
    assert_near(spread_of(&req, &f.cands[2], &has), 1.0);
    /* No zone at all: the maximum penalty. */
    assert_near(spread_of(&req, &f.cands[3], &has), -1.0);
    spread_teardown(&f);

    /* An even distribution penalises every value already used. */
    spread_setup(&f, 1, 1);
    req.job_allocs = f.placed;
    req.n_job_allocs = f.n_placed;
    req.nodes = f.cands;
    assert_near(spread_of(&req, &f.cands[0], &has), -1.0);
    assert_near(spread_of(&req, &f.cands[2], &has), 1.0);
    spread_teardown(&f);

    /* Nothing placed: the score does not apply. */
    spread_setup(&f, 0, 0);
    req.job_allocs = f.placed;
    req.n_job_allocs = f.n_placed;
    req.nodes = f.cands;
    spread_of(&req, &f.cands[0], &has);
    assert_false(has);
    spread_teardown(&f);
    cv_job_free(job);
}

static void test_spread_targets(void **state)
{
    (void)state;
    struct cv_job *job =
        web_job("service", 10, "",
                "'Spreads': [{'Attribute': '${meta.zone}', 'Weight': 100, 'SpreadTarget': "
                "  [{'Value': 'dc1', 'Percent': 70}, {'Value': 'dc2', 'Percent': 30}]}],");
    struct spread_fixture f;
    spread_setup(&f, 3, 3);
    struct sch_rank_request req = {.job = job,
                                   .tg = &job->task_groups.items[0],
                                   .nodes = f.cands,
                                   .n_nodes = 4,
                                   .job_allocs = f.placed,
                                   .n_job_allocs = f.n_placed};
    bool has;
    /* dc1: desired 7, used 3 + 1 = 4: (7 - 4) / 7. */
    assert_near(spread_of(&req, &f.cands[0], &has), 3.0 / 7.0);
    /* dc2: desired 3, used 4: (3 - 4) / 3. */
    assert_near(spread_of(&req, &f.cands[1], &has), -1.0 / 3.0);
    /* dc3: targets cover the whole count, no implicit target: -1. */
    assert_near(spread_of(&req, &f.cands[2], &has), -1.0);
    spread_teardown(&f);
    cv_job_free(job);

    /* Targets covering half: the other values share the remaining 5; two
     * spreads weigh 75 and 25. */
    job = web_job("service", 10, "'Spreads': [{'Attribute': '${node.datacenter}', 'Weight': 25}],",
                  "'Spreads': [{'Attribute': '${meta.zone}', 'Weight': 75, 'SpreadTarget': "
                  "  [{'Value': 'dc1', 'Percent': 50}]}],");
    spread_setup(&f, 1, 1);
    req.job = job;
    req.tg = &job->task_groups.items[0];
    req.job_allocs = f.placed;
    req.n_job_allocs = f.n_placed;
    req.nodes = f.cands;
    /* dc3: zone target: implicit 5, used 1: 0.8 * 0.75; datacenter even: +1. */
    assert_near(spread_of(&req, &f.cands[2], &has), 0.8 * 0.75 + 1.0);
    /* dc1: zone (5 - 2) / 5 * 0.75; datacenter even and used: -1. */
    assert_near(spread_of(&req, &f.cands[0], &has), 0.6 * 0.75 - 1.0);
    spread_teardown(&f);
    cv_job_free(job);
}

static void test_limit_rule(void **state)
{
    (void)state;
    assert_int_equal(sch_rank_limit("batch", 5000, false, 1), 2);
    assert_int_equal(sch_rank_limit("service", 5000, false, 1), 13);
    assert_int_equal(sch_rank_limit("service", 100, false, 1), 7);
    assert_int_equal(sch_rank_limit("service", 128, false, 1), 7);
    assert_int_equal(sch_rank_limit("service", 129, false, 1), 8);
    assert_int_equal(sch_rank_limit("service", 3, false, 1), 2);
    assert_int_equal(sch_rank_limit("service", 1, false, 1), 1);
    assert_int_equal(sch_rank_limit("batch", 1, false, 1), 1);
    assert_int_equal(sch_rank_limit("service", 0, false, 1), 0);
    assert_int_equal(sch_rank_limit("service", 5000, true, 5), 100);
    assert_int_equal(sch_rank_limit("batch", 5000, true, 500), 500);
    assert_int_equal(sch_rank_limit("service", 10, true, 5), 10);
}

static void test_shuffle(void **state)
{
    (void)state;
    enum
    {
        N = 32
    };
    size_t a[N], b[N], c[N];
    sch_shuffle(42, a, N);
    sch_shuffle(42, b, N);
    sch_shuffle(43, c, N);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* A permutation of 0..N-1. */
    bool seen[N] = {false};
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        assert_false(seen[a[i]]);
        seen[a[i]] = true;
    }
    /* Seed 0 still shuffles. */
    sch_shuffle(0, c, N);
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) {
        fixed += c[i] == i;
    }
    assert_true(fixed < N);
}

static void test_ranker_best_of_scored(void **state)
{
    (void)state;
    struct cv_job *job = web_job("service", 3, "", "");
    /* Ten nodes from nearly empty to nearly full, plus one short of each
     * dimension. */
    enum
    {
        N = 13
    };
    struct cv_node *nodes[N];
    struct cv_allocation *allocs[N];
    const struct cv_allocation *on[N][1];
    struct sch_candidate cands[N];
    for (size_t i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%zu", i);
        nodes[i] = make_node(name, "dc1", 10000, 10000, 100000);
        int64_t load = i < 10 ? (int64_t)i * 900 : 0;
        allocs[i] = make_alloc("other", "x", load, load, 0);
        if (i == 10) {
            nodes[i]->node_resources->cpu.cpu_shares = 100;
        } else if (i == 11) {
            nodes[i]->node_resources->memory.memory_mb = 100;
        } else if (i == 12) {
            nodes[i]->node_resources->disk.disk_mb = 100;
        }
        on[i][0] = allocs[i];
        cands[i] = (struct sch_candidate){nodes[i], on[i], 1};
    }
    struct sch_rank_request req = {.job = job,
                                   .tg = &job->task_groups.items[0],
                                   .nodes = cands,
                                   .n_nodes = N,
                                   .seed = 7,
                                   .limit = N};
    struct sch_ranker *r = sch_ranker_new(&req);
    struct sch_rank_stats st;
    sch_ranker_stats(r, &st);
    assert_int_equal(st.visited, N);
    assert_int_equal(st.exhausted, 3);
    assert_int_equal(st.exhausted_cpu, 1);
    assert_int_equal(st.exhausted_memory, 1);
    assert_int_equal(st.exhausted_disk, 1);
    assert_int_equal(st.scored, 10);
    struct sch_ranked best;
    assert_true(sch_ranker_best(r, &best));
    assert_ptr_equal(best.node, nodes[9]); /* the fullest that fits */
    sch_ranker_free(r);

    /* With the default limit (ceil(log2 13) = 4) only four fitting nodes are
     * scored, in the seed's order; the best is the best of those. */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        req.limit = 0;
        req.seed = seed;
        r = sch_ranker_new(&req);
        sch_ranker_stats(r, &st);
        assert_int_equal(sch_ranker_limit(r), 4);
        assert_int_equal(st.scored, 4);
        assert_true(st.visited >= 4);
        assert_int_equal(st.visited - st.exhausted, 4);
        assert_true(sch_ranker_best(r, &best));
        double max = -2.0;
        for (size_t i = 0; i < st.scored; i++) {
            const struct sch_ranked *s = sch_ranker_scored(r, i);
            max = s->final_score > max ? s->final_score : max;
        }
        assert_near(best.final_score, max);
        assert_ptr_equal(best.node, cands[best.index].node);

        /* The same seed ranks the same way. */
        struct sch_ranker *again = sch_ranker_new(&req);
        struct sch_ranked best2;
        assert_true(sch_ranker_best(again, &best2));
        assert_ptr_equal(best2.node, best.node);
        sch_ranker_free(again);
        sch_ranker_free(r);
    }

    /* Nothing fits. */
    struct sch_resources huge = {1000000, 1, 1};
    req.ask = &huge;
    r = sch_ranker_new(&req);
    assert_false(sch_ranker_best(r, &best));
    sch_ranker_stats(r, &st);
    assert_int_equal(st.exhausted, N);
    assert_int_equal(st.exhausted_cpu, N);
    sch_ranker_free(r);

    /* No nodes at all. */
    req.n_nodes = 0;
    r = sch_ranker_new(&req);
    assert_false(sch_ranker_best(r, &best));
    sch_ranker_free(r);

    for (size_t i = 0; i < N; i++) {
        cv_alloc_free(allocs[i]);
        cv_node_free(nodes[i]);
    }
    cv_job_free(job);
}

static void test_ranker_spread_algorithm(void **state)
{
    (void)state;
    struct cv_job *job = web_job("batch", 1, "", "");
    struct cv_node *empty = make_node("empty", "dc1", 4000, 4000, 100000);
    struct cv_node *busy = make_node("busy", "dc1", 4000, 4000, 100000);
    struct cv_allocation *load = make_alloc("other", "x", 3000, 3000, 0);
    const struct cv_allocation *on[] = {load};
    struct sch_candidate cs[] = {{empty, NULL, 0}, {busy, on, 1}};
    struct sch_rank_request req = {
        .job = job, .tg = &job->task_groups.items[0], .nodes = cs, .n_nodes = 2, .seed = 1};
    struct sch_ranker *r = sch_ranker_new(&req);
    struct sch_ranked best;
    assert_true(sch_ranker_best(r, &best));
    assert_ptr_equal(best.node, busy);
    sch_ranker_free(r);

    req.algorithm = SCH_FIT_SPREAD;
    r = sch_ranker_new(&req);
    assert_true(sch_ranker_best(r, &best));
    assert_ptr_equal(best.node, empty);
    sch_ranker_free(r);

    cv_alloc_free(load);
    cv_node_free(empty);
    cv_node_free(busy);
    cv_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_group_and_alloc_resources),
        CV_TEST(test_usage_reserved_and_terminal),
        CV_TEST(test_binpack_bounds),
        CV_TEST(test_exhausted_dimensions),
        CV_TEST(test_anti_affinity),
        CV_TEST(test_affinity_weights),
        CV_TEST(test_spread_even),
        CV_TEST(test_spread_targets),
        CV_TEST(test_limit_rule),
        CV_TEST(test_shuffle),
        CV_TEST(test_ranker_best_of_scored),
        CV_TEST(test_ranker_spread_algorithm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
