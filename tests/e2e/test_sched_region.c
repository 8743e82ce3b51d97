/*
 * test_sched_region: scheduler safety across three real regiond processes.
 *
 * Every server runs three scheduler workers (num_schedulers 3), so nine
 * workers on three processes race for the same 40 small simulated nodes
 * (tests/e2e/e2e_nodes.h, registered over RPC through all three servers).
 * Thirteen jobs are submitted at once through the HTTP API of different
 * servers: twelve that together ask for 85% of the cluster (so plans
 * collide and the leader refuses parts of them) and one whose tasks ask for
 * more CPU than any node has. Once every evaluation is terminal or blocked
 * and the allocations stop changing, the committed state is read back over
 * HTTP and must show:
 *   (a) no node over-committed: the live allocations' AllocatedResources
 *       (CPU, memory, disk) fit in NodeResources minus ReservedResources;
 *   (b) every job that fits with exactly Count live allocations, named
 *       <job>.g[0..Count-1], each name once, on registered nodes;
 *   (c) the job that cannot fit: no allocation, its evaluation complete with
 *       FailedTGAllocs saying cpu was exhausted, and a blocked evaluation.
 * The same holds read from each follower (?stale, once it has caught up),
 * and the followers' allocations are the leader's. Then the leader is
 * killed with SIGKILL, two more jobs are submitted through the survivors,
 * and (a) and (b) are checked again, also on the killed server once it has
 * restarted and caught up.
 *
 * Sizes are chosen so that a correct scheduler can always place every job:
 * an allocation takes 1 or 2 "units" (125 MHz, 128 MB, 256 MB of disk per
 * unit) and a node holds exactly 8 units once its reservation is taken off
 * (1500 MHz / 1536 MB / 2560 MB with 500 / 512 / 512 reserved; a scheduler
 * ignoring the reservation would place 12 units on a node). With 272 of
 * 320 units asked, at least 50 units are free whenever a 2-unit allocation
 * is placed, more than the 40 a cluster could hold with 1 unit free per
 * node, so fragmentation can never leave one without a node.
 *
 * Nine workers collide often enough that a batch evaluation (2 plans at
 * most, Nomad's limit) regularly ends `failed` with a blocked
 * `max-plan-attempts` evaluation, which the leader queues again once a
 * minute: the wait allows for one such round (SETTLE_MS), so the test takes
 * about 6 s when no evaluation ran out of plans and about a minute when one
 * did. A short job is explained by its evaluations before the checks fail.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cluster.h"
#include "common/json.h"
#include "e2e_nodes.h"

#define N_NODES       40
#define UNIT_CPU      125
#define UNIT_MEM      128
#define UNIT_DISK     256
#define NODE_UNITS    8
#define RESERVED_CPU  500
#define RESERVED_MEM  512
#define RESERVED_DISK 512
#define SETTLE_MS     80000 /* a max-plan-attempts retry waits for the leader's minute */
#define CATCHUP_MS    30000

struct job_def
{
    const char *id;
    const char *type;
    int count;
    int units; /* per allocation; 0: the job that cannot fit */
};

/* 272 units of the cluster's 320, submitted at once. */
static const struct job_def first_jobs[] = {
    {"svc-1", "service", 16, 2},  {"svc-2", "service", 16, 2}, {"bat-1", "batch", 16, 2},
    {"bat-2", "batch", 16, 2},    {"svc-3", "service", 18, 1}, {"svc-4", "service", 18, 1},
    {"svc-5", "service", 18, 1},  {"svc-6", "service", 18, 1}, {"bat-3", "batch", 18, 1},
    {"bat-4", "batch", 18, 1},    {"bat-5", "batch", 18, 1},   {"bat-6", "batch", 18, 1},
    {"too-big", "service", 3, 0},
};
#define N_FIRST (sizeof first_jobs / sizeof first_jobs[0])
/* After the leader's death: 16 more units. */
static const struct job_def later_jobs[] = {
    {"after-1", "service", 8, 1},
    {"after-2", "batch", 8, 1},
};
#define N_LATER (sizeof later_jobs / sizeof later_jobs[0])

static struct e2e_cluster cluster;
static char node_ids[N_NODES][37];

static void dump_logs(void)
{
    for (size_t i = 0; i < cluster.n; i++) {
        if (cluster.servers[i].pid > 0) {
            e2e_server_dump_log(&cluster, i);
        }
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- JSON over HTTP --------------------------------------------------------------------- */

static const struct cv_json_limits big_limits = {.max_bytes = 256u << 20,
                                                 .max_depth = 64,
                                                 .max_string = 1u << 20,
                                                 .max_nodes = 1u << 26};

/* GETs path from server i; returns the parsed body (free it) and the
 * answer's X-Nomad-Index, or NULL when there was no 200. */
static struct cv_json_doc *get_json(size_t i, const char *path, uint64_t *index)
{
    struct e2e_response r;
    if (e2e_http(cluster.servers[i].http_port, "GET", path, NULL, 20000, &r) != 0) {
        return NULL;
    }
    struct cv_json_doc *doc = NULL;
    if (r.status == 200) {
        struct cv_err err = {0};
        if (cv_json_parse(r.body, strlen(r.body), &big_limits, &doc, &err) != 0) {
            print_error("GET %s: %s\n", path, err.msg);
        }
        char v[32];
        if (index) {
            *index = e2e_header(&r, "X-Nomad-Index", v, sizeof v) ? strtoull(v, NULL, 10) : 0;
        }
    } else {
        print_error("GET %s from server %u: %d %s\n", path, cluster.servers[i].id, r.status,
                    r.body);
    }
    e2e_response_free(&r);
    return doc;
}

static const struct cv_json *jget(const struct cv_json *obj, const char *key)
{
    return obj && obj->type == CV_JSON_OBJECT ? cv_json_object_get(obj, key) : NULL;
}

static const char *jstr(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = jget(obj, key);
    return v && v->type == CV_JSON_STRING ? v->u.string.ptr : "";
}

static int64_t jint(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = jget(obj, key);
    int64_t n = 0;
    if (v && v->type == CV_JSON_NUMBER) {
        cv_json_int64(v, &n);
    }
    return n;
}

/* path of nested keys, NULL-terminated */
static int64_t jpath_int(const struct cv_json *v, ...)
{
    va_list ap;
    va_start(ap, v);
    const char *k, *last = NULL;
    while ((k = va_arg(ap, const char *)) != NULL) {
        if (last) {
            v = jget(v, last);
        }
        last = k;
    }
    va_end(ap);
    return last ? jint(v, last) : 0;
}

static size_t jlen(const struct cv_json *v)
{
    return v && v->type == CV_JSON_ARRAY ? v->u.array.len : 0;
}

/* ---- jobs ------------------------------------------------------------------------------ */

static int job_body(const struct job_def *j, char *out, size_t cap)
{
    int cpu = j->units ? j->units * UNIT_CPU : 1200; /* more than any node has */
    int mem = j->units ? j->units * UNIT_MEM : UNIT_MEM;
    int disk = j->units ? j->units * UNIT_DISK : UNIT_DISK;
    return snprintf(out, cap,
                    "{\"Job\": {\"ID\": \"%s\", \"Name\": \"%s\", \"Type\": \"%s\","
                    " \"Datacenters\": [\"dc1\"], \"TaskGroups\": [{\"Name\": \"g\", \"Count\": %d,"
                    " \"EphemeralDisk\": {\"SizeMB\": %d}, \"Tasks\": [{\"Name\": \"t\","
                    " \"Driver\": \"mock\", \"Resources\": {\"CPU\": %d, \"MemoryMB\": %d}}]}]}}",
                    j->id, j->id, j->type, j->count, disk, cpu, mem);
}

struct submit
{
    const struct job_def *job;
    int port;
    const char *method;
    int status;
    int retries_503;
    char body[512];
};

static void *submit_thread(void *arg)
{
    struct submit *s = arg;
    char body[1024];
    job_body(s->job, body, sizeof body);
    /* Right after an election the new leader may not serve writes yet
     * (503 "No cluster leader"): a client tries again, a bounded number of
     * times. */
    for (int attempt = 0; attempt < 50; attempt++) {
        struct e2e_response r;
        s->status = -1;
        if (e2e_http(s->port, s->method, "/v1/jobs", body, 30000, &r) == 0) {
            s->status = r.status;
            snprintf(s->body, sizeof s->body, "%s", r.body);
            e2e_response_free(&r);
        }
        if (s->status != 503) {
            break;
        }
        s->retries_503++;
        sleep_ms(100);
    }
    return NULL;
}

/* Submits the jobs all at once, job k through running server k (mod the
 * running ones), PUT and POST alternately. */
static void submit_all(const struct job_def *jobs, size_t n)
{
    size_t up[E2E_MAX_SERVERS] = {0}, n_up = 0;
    for (size_t i = 0; i < cluster.n; i++) {
        if (cluster.servers[i].pid > 0) {
            up[n_up++] = i;
        }
    }
    struct submit subs[N_FIRST];
    pthread_t threads[N_FIRST];
    assert_true(n <= N_FIRST && n_up > 0);
    for (size_t k = 0; k < n; k++) {
        subs[k] = (struct submit){.job = &jobs[k],
                                  .port = cluster.servers[up[k % n_up]].http_port,
                                  .method = k % 2 ? "POST" : "PUT"};
        assert_int_equal(pthread_create(&threads[k], NULL, submit_thread, &subs[k]), 0);
    }
    for (size_t k = 0; k < n; k++) {
        pthread_join(threads[k], NULL);
    }
    for (size_t k = 0; k < n; k++) {
        if (subs[k].retries_503) {
            print_message("submit %s: %d answers 503 before %d\n", jobs[k].id, subs[k].retries_503,
                          subs[k].status);
        }
        if (subs[k].status != 200) {
            print_error("submit %s: %d %s\n", jobs[k].id, subs[k].status, subs[k].body);
        }
        assert_int_equal(subs[k].status, 200);
    }
}

/* ---- waiting --------------------------------------------------------------------------- */

static bool alloc_live(const struct cv_json *a)
{
    const char *d = jstr(a, "DesiredStatus"), *c = jstr(a, "ClientStatus");
    return strcmp(d, "run") == 0 && strcmp(c, "complete") != 0 && strcmp(c, "failed") != 0 &&
           strcmp(c, "lost") != 0;
}

static size_t live_of_job(const struct cv_json *allocs, const char *job)
{
    size_t n = 0;
    for (size_t i = 0; i < jlen(allocs); i++) {
        const struct cv_json *a = allocs->u.array.items[i];
        n += alloc_live(a) && strcmp(jstr(a, "JobID"), job) == 0;
    }
    return n;
}

struct settle
{
    size_t pending, complete, failed, blocked, canceled, max_plans_blocked;
    size_t live;
    uint64_t alloc_index;
    bool jobs_full; /* every fitting job has Count live allocations */
    const struct job_def *short_jobs[N_FIRST + 2];
    size_t short_live[N_FIRST + 2];
    size_t n_short;
};

static bool poll_state(size_t server, const struct job_def *const *jobs, size_t n_jobs,
                       struct settle *s)
{
    memset(s, 0, sizeof *s);
    struct cv_json_doc *evals = get_json(server, "/v1/evaluations", NULL);
    struct cv_json_doc *allocs = get_json(server, "/v1/allocations", &s->alloc_index);
    bool ok = evals && allocs;
    if (ok) {
        const struct cv_json *ev = cv_json_doc_root(evals);
        for (size_t i = 0; i < jlen(ev); i++) {
            const struct cv_json *e = ev->u.array.items[i];
            const char *st = jstr(e, "Status");
            if (strcmp(st, "pending") == 0) {
                s->pending++;
            } else if (strcmp(st, "complete") == 0) {
                s->complete++;
            } else if (strcmp(st, "failed") == 0) {
                s->failed++;
            } else if (strcmp(st, "canceled") == 0) {
                s->canceled++;
            } else if (strcmp(st, "blocked") == 0) {
                s->blocked++;
                s->max_plans_blocked += strcmp(jstr(e, "TriggeredBy"), "max-plan-attempts") == 0;
            }
        }
        const struct cv_json *al = cv_json_doc_root(allocs);
        s->jobs_full = true;
        for (size_t k = 0; k < n_jobs; k++) {
            size_t live = live_of_job(al, jobs[k]->id);
            s->live += live;
            if (jobs[k]->units != 0 && live != (size_t)jobs[k]->count) {
                s->jobs_full = false;
                s->short_live[s->n_short] = live;
                s->short_jobs[s->n_short++] = jobs[k];
            }
        }
    }
    cv_json_doc_free(evals);
    cv_json_doc_free(allocs);
    return ok;
}

/* Waits until no evaluation is pending and the allocations stopped
 * changing (every fitting job full, or nothing new for 3 s while nothing
 * waits for the leader's periodic retry of max-plan-attempts). */
static void wait_settled(size_t server, const struct job_def *const *jobs, size_t n_jobs)
{
    long long start = e2e_now_ms(), deadline = start + SETTLE_MS, stable_since = start;
    uint64_t last_index = 0;
    struct settle s = {0};
    for (int polls = 0; e2e_now_ms() < deadline && polls < 2000; polls++) {
        if (!poll_state(server, jobs, n_jobs, &s)) {
            sleep_ms(200);
            continue;
        }
        if (s.alloc_index != last_index || s.pending > 0) {
            last_index = s.alloc_index;
            stable_since = e2e_now_ms();
        }
        bool quiet = s.pending == 0 && e2e_now_ms() - stable_since >= 3000;
        if (s.pending == 0 && s.jobs_full) {
            break;
        }
        if (quiet && s.max_plans_blocked == 0) {
            break;
        }
        sleep_ms(200);
    }
    print_message(
        "settled after %lld ms: %zu live allocations; evaluations: %zu complete, %zu failed, "
        "%zu blocked (%zu max-plan-attempts), %zu canceled, %zu pending\n",
        e2e_now_ms() - start, s.live, s.complete, s.failed, s.blocked, s.max_plans_blocked,
        s.canceled, s.pending);
    /* Why a job is short, by its evaluations. */
    for (size_t k = 0; k < s.n_short; k++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/evaluations?job=%s", s.short_jobs[k]->id);
        struct cv_json_doc *doc = get_json(server, path, NULL);
        const struct cv_json *ev = doc ? cv_json_doc_root(doc) : NULL;
        print_message("job %s: %zu of %d live; evaluations:\n", s.short_jobs[k]->id,
                      s.short_live[k], s.short_jobs[k]->count);
        for (size_t i = 0; i < jlen(ev); i++) {
            const struct cv_json *e = ev->u.array.items[i];
            print_message("  %s %s triggered by %s, %s; modify index %lld\n", jstr(e, "ID"),
                          jstr(e, "Status"), jstr(e, "TriggeredBy"), jstr(e, "StatusDescription"),
                          (long long)jint(e, "ModifyIndex"));
        }
        cv_json_doc_free(doc);
    }
}

/* Waits until server i's own state (?stale) has the allocations table at
 * least at index. */
static void wait_caught_up(size_t i, uint64_t index)
{
    long long deadline = e2e_now_ms() + CATCHUP_MS;
    uint64_t seen = 0;
    while (e2e_now_ms() < deadline) {
        struct cv_json_doc *d = get_json(i, "/v1/allocations?stale", &seen);
        cv_json_doc_free(d);
        if (d && seen >= index) {
            return;
        }
        sleep_ms(100);
    }
    print_error("server %u stayed at index %llu < %llu\n", cluster.servers[i].id,
                (unsigned long long)seen, (unsigned long long)index);
    fail();
}

/* ---- the checks ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The live allocations as sorted "ID node job name" lines (free each and
 * the array); *n their number. */
static char **live_lines(const struct cv_json *allocs, size_t *n)
{
    char **lines = calloc(jlen(allocs) + 1, sizeof *lines);
    *n = 0;
    for (size_t i = 0; i < jlen(allocs); i++) {
        const struct cv_json *a = allocs->u.array.items[i];
        if (!alloc_live(a)) {
            continue;
        }
        char line[256];
        snprintf(line, sizeof line, "%s %s %s %s", jstr(a, "ID"), jstr(a, "NodeID"),
                 jstr(a, "JobID"), jstr(a, "Name"));
        lines[(*n)++] = strdup(line);
    }
    qsort(lines, *n, sizeof *lines, cmp_str);
    return lines;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(lines[i]);
    }
    free(lines);
}

/* (a): sums per node, against what the node offers. */
static void check_no_overcommit(size_t server, const struct cv_json *allocs, bool stale)
{
    struct cv_json_doc *nodes_doc = get_json(
        server, stale ? "/v1/nodes?resources=true&stale" : "/v1/nodes?resources=true", NULL);
    assert_non_null(nodes_doc);
    const struct cv_json *nodes = cv_json_doc_root(nodes_doc);
    assert_int_equal(jlen(nodes), N_NODES);
    size_t placed = 0;
    for (size_t k = 0; k < jlen(nodes); k++) {
        const struct cv_json *node = nodes->u.array.items[k];
        const char *id = jstr(node, "ID");
        assert_string_equal(jstr(node, "Status"), "ready");
        const struct cv_json *nr = jget(node, "NodeResources");
        const struct cv_json *rr = jget(node, "ReservedResources");
        int64_t cap_cpu =
            jpath_int(nr, "Cpu", "CpuShares", NULL) - jpath_int(rr, "Cpu", "CpuShares", NULL);
        int64_t cap_mem =
            jpath_int(nr, "Memory", "MemoryMB", NULL) - jpath_int(rr, "Memory", "MemoryMB", NULL);
        int64_t cap_disk =
            jpath_int(nr, "Disk", "DiskMB", NULL) - jpath_int(rr, "Disk", "DiskMB", NULL);
        assert_int_equal(cap_cpu, NODE_UNITS * UNIT_CPU);
        assert_int_equal(cap_mem, NODE_UNITS * UNIT_MEM);
        assert_int_equal(cap_disk, NODE_UNITS * UNIT_DISK);
        int64_t cpu = 0, mem = 0, disk = 0;
        size_t on_node = 0;
        for (size_t i = 0; i < jlen(allocs); i++) {
            const struct cv_json *a = allocs->u.array.items[i];
            if (!alloc_live(a) || strcmp(jstr(a, "NodeID"), id) != 0) {
                continue;
            }
            on_node++;
            const struct cv_json *ar = jget(a, "AllocatedResources");
            const struct cv_json *tasks = jget(ar, "Tasks");
            assert_non_null(tasks);
            for (size_t t = 0; tasks && t < tasks->u.object.len; t++) {
                const struct cv_json *tr = tasks->u.object.members[t].value;
                cpu += jpath_int(tr, "Cpu", "CpuShares", NULL);
                mem += jpath_int(tr, "Memory", "MemoryMB", NULL);
            }
            disk += jpath_int(ar, "Shared", "DiskMB", NULL);
        }
        placed += on_node;
        if (cpu > cap_cpu || mem > cap_mem || disk > cap_disk) {
            print_error(
                "node %s (%s) over-committed on server %u: cpu %lld/%lld memory "
                "%lld/%lld disk %lld/%lld, %zu allocations\n",
                jstr(node, "Name"), id, cluster.servers[server].id, (long long)cpu,
                (long long)cap_cpu, (long long)mem, (long long)cap_mem, (long long)disk,
                (long long)cap_disk, on_node);
            fail();
        }
    }
    /* Every live allocation is on one of these nodes. */
    size_t live = 0;
    for (size_t i = 0; i < jlen(allocs); i++) {
        live += alloc_live(allocs->u.array.items[i]);
    }
    assert_int_equal(placed, live);
    cv_json_doc_free(nodes_doc);
}

/* (b): Count live allocations named <job>.g[0..Count-1], each once. */
static void check_job_allocs(const struct cv_json *allocs, const struct job_def *j)
{
    size_t want = j->units ? (size_t)j->count : 0;
    bool *seen = calloc((size_t)j->count, sizeof *seen);
    size_t live = 0;
    for (size_t i = 0; i < jlen(allocs); i++) {
        const struct cv_json *a = allocs->u.array.items[i];
        if (!alloc_live(a) || strcmp(jstr(a, "JobID"), j->id) != 0) {
            continue;
        }
        live++;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.g[", j->id);
        const char *name = jstr(a, "Name");
        size_t pl = strlen(prefix);
        char *end = NULL;
        long idx = strncmp(name, prefix, pl) == 0 ? strtol(name + pl, &end, 10) : -1;
        if (idx < 0 || idx >= j->count || !end || strcmp(end, "]") != 0 || seen[idx]) {
            print_error("job %s: allocation %s named \"%s\" (%s)\n", j->id, jstr(a, "ID"), name,
                        idx >= 0 && idx < j->count && seen[idx] ? "twice" : "out of range");
            free(seen);
            fail();
        }
        seen[idx] = true;
    }
    free(seen);
    if (live != want) {
        print_error("job %s: %zu live allocations, want %zu\n", j->id, live, want);
    }
    assert_int_equal(live, want);
}

/* (a) and (b) on server i; returns the live allocations as sorted lines. */
static char **check_state(size_t i, bool stale, const struct job_def *const *jobs, size_t n_jobs,
                          size_t *n_lines)
{
    struct cv_json_doc *doc = get_json(
        i, stale ? "/v1/allocations?resources=true&stale" : "/v1/allocations?resources=true", NULL);
    assert_non_null(doc);
    const struct cv_json *allocs = cv_json_doc_root(doc);
    check_no_overcommit(i, allocs, stale);
    for (size_t k = 0; k < n_jobs; k++) {
        check_job_allocs(allocs, jobs[k]);
    }
    char **lines = live_lines(allocs, n_lines);
    cv_json_doc_free(doc);
    return lines;
}

/* Every node's own allocation list (GET /v1/node/:id/allocations) is what
 * the global list says is on it. */
static void check_node_endpoints(size_t i, char **lines, size_t n_lines)
{
    for (size_t k = 0; k < N_NODES; k++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/node/%.36s/allocations", node_ids[k]);
        struct cv_json_doc *doc = get_json(i, path, NULL);
        assert_non_null(doc);
        const struct cv_json *list = cv_json_doc_root(doc);
        size_t live = 0, want = 0;
        for (size_t a = 0; a < jlen(list); a++) {
            live += alloc_live(list->u.array.items[a]);
        }
        for (size_t l = 0; l < n_lines; l++) {
            want += strstr(lines[l], node_ids[k]) != NULL;
        }
        assert_int_equal(live, want);
        cv_json_doc_free(doc);
    }
}

/* (c): the job that cannot fit. */
static void check_unplaceable(size_t i, const char *job)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/evaluations?job=%s", job);
    struct cv_json_doc *doc = get_json(i, path, NULL);
    assert_non_null(doc);
    const struct cv_json *evals = cv_json_doc_root(doc);
    size_t explained = 0, blocked = 0;
    for (size_t k = 0; k < jlen(evals); k++) {
        const struct cv_json *e = evals->u.array.items[k];
        if (strcmp(jstr(e, "Status"), "blocked") == 0) {
            blocked++;
            continue;
        }
        const struct cv_json *m = jget(jget(e, "FailedTGAllocs"), "g");
        if (m) {
            assert_string_equal(jstr(e, "Status"), "complete");
            assert_true(jpath_int(m, "DimensionExhausted", "cpu", NULL) > 0);
            assert_true(jint(m, "NodesExhausted") > 0);
            assert_int_equal(jpath_int(e, "QueuedAllocations", "g", NULL), 3);
            assert_int_equal(strlen(jstr(e, "BlockedEval")), 36);
            explained++;
        }
    }
    print_message("%s: %zu evaluations, %zu explaining the failure, %zu blocked\n", job,
                  jlen(evals), explained, blocked);
    assert_true(explained >= 1);
    /* One blocked evaluation per job, as Nomad's blocked-evals tracker keeps. */
    assert_int_equal(blocked, 1);
    cv_json_doc_free(doc);
}

static void assert_same_lines(char **a, size_t na, char **b, size_t nb, unsigned server)
{
    if (na != nb) {
        print_error("server %u has %zu live allocations, the leader %zu\n", server, nb, na);
    }
    assert_int_equal(na, nb);
    for (size_t k = 0; k < na; k++) {
        if (strcmp(a[k], b[k]) != 0) {
            print_error("server %u: \"%s\", the leader: \"%s\"\n", server, b[k], a[k]);
            fail();
        }
    }
}

/* ---- the tests ------------------------------------------------------------------------- */

static const struct job_def *all_jobs[N_FIRST + N_LATER];
static size_t n_all;

static void test_workers_race_without_overcommit(void **state)
{
    (void)state;
    int leader = e2e_wait_leader(&cluster, 30000);
    if (leader < 0) {
        dump_logs();
    }
    assert_true(leader >= 0);
    /* Nodes register through all three servers; followers relay. */
    char addrs[E2E_MAX_SERVERS][64];
    const char *addr_ptrs[E2E_MAX_SERVERS];
    for (size_t i = 0; i < cluster.n; i++) {
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", cluster.servers[i].rpc_port);
        addr_ptrs[i] = addrs[i];
    }
    struct e2e_node_spec spec = {.cpu_mhz = NODE_UNITS * UNIT_CPU + RESERVED_CPU,
                                 .memory_mb = NODE_UNITS * UNIT_MEM + RESERVED_MEM,
                                 .disk_mb = NODE_UNITS * UNIT_DISK + RESERVED_DISK,
                                 .reserved_cpu_mhz = RESERVED_CPU,
                                 .reserved_memory_mb = RESERVED_MEM,
                                 .reserved_disk_mb = RESERVED_DISK,
                                 .racks = 4};
    struct e2e_nodes_result nr;
    int rc = e2e_nodes_register(addr_ptrs, cluster.n, N_NODES, &spec, 16, 30000, &nr);
    print_message("%zu nodes registered in %.2f s (%zu retries)%s%s\n", nr.registered, nr.seconds,
                  nr.retries, nr.first_error[0] ? ": " : "", nr.first_error);
    assert_int_equal(rc, 0);
    memcpy(node_ids, nr.ids, sizeof node_ids);
    e2e_nodes_result_free(&nr);

    long long start = e2e_now_ms();
    submit_all(first_jobs, N_FIRST);
    for (size_t k = 0; k < N_FIRST; k++) {
        all_jobs[n_all++] = &first_jobs[k];
    }
    wait_settled((size_t)leader, all_jobs, n_all);
    print_message("13 jobs scheduled by 9 workers in %lld ms\n", e2e_now_ms() - start);

    uint64_t index = 0;
    cv_json_doc_free(get_json((size_t)leader, "/v1/allocations", &index));
    size_t n_lead = 0;
    char **lead = check_state((size_t)leader, false, all_jobs, n_all, &n_lead);
    check_node_endpoints((size_t)leader, lead, n_lead);
    check_unplaceable((size_t)leader, "too-big");
    for (size_t i = 0; i < cluster.n; i++) {
        if ((int)i == leader) {
            continue;
        }
        wait_caught_up(i, index);
        size_t n_f = 0;
        char **f = check_state(i, true, all_jobs, n_all, &n_f);
        assert_same_lines(lead, n_lead, f, n_f, cluster.servers[i].id);
        free_lines(f, n_f);
    }
    free_lines(lead, n_lead);
}

static void test_after_leader_killed(void **state)
{
    (void)state;
    int leader = e2e_wait_leader(&cluster, 10000);
    assert_true(leader >= 0);
    e2e_server_stop(&cluster, (size_t)leader, SIGKILL);
    int next = e2e_wait_leader(&cluster, 30000);
    if (next < 0) {
        dump_logs();
    }
    assert_true(next >= 0 && next != leader);
    submit_all(later_jobs, N_LATER);
    for (size_t k = 0; k < N_LATER; k++) {
        all_jobs[n_all++] = &later_jobs[k];
    }
    wait_settled((size_t)next, all_jobs, n_all);
    uint64_t index = 0;
    cv_json_doc_free(get_json((size_t)next, "/v1/allocations", &index));
    size_t n_lead = 0;
    char **lead = check_state((size_t)next, false, all_jobs, n_all, &n_lead);
    /* The survivor, and the killed server once restarted and caught up. */
    assert_int_equal(e2e_server_start(&cluster, (size_t)leader), 0);
    for (size_t i = 0; i < cluster.n; i++) {
        if ((int)i == next) {
            continue;
        }
        wait_caught_up(i, index);
        size_t n_f = 0;
        char **f = check_state(i, true, all_jobs, n_all, &n_f);
        assert_same_lines(lead, n_lead, f, n_f, cluster.servers[i].id);
        free_lines(f, n_f);
    }
    free_lines(lead, n_lead);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (e2e_cluster_init(&cluster, 3) != 0) {
        return -1;
    }
    snprintf(cluster.config_json, sizeof cluster.config_json,
             "{\"heartbeat\": {\"min_ttl_s\": 3600}, \"num_schedulers\": 3}");
    for (size_t i = 0; i < cluster.n; i++) {
        if (e2e_server_start(&cluster, i) != 0) {
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    e2e_cluster_destroy(&cluster);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_race_without_overcommit),
        cmocka_unit_test(test_after_leader_killed),
    };
    return cmocka_run_group_tests_name("sched_region", tests, group_setup, group_teardown);
}
