/*
 * sched_sim: the world of test_sched_safety (see sched_sim.h): random
 * objects, the FSM-backed store, the capacity rule of the ample seeds and
 * the invariant checkers.
 */
#include "sched_sim.h"

#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "schedd/feasible.h"

/* ---- randomness ----------------------------------------------------------------------------- */

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    /* splitmix64 spreads consecutive seeds over the whole state. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    r->s = z != 0 ? z : 0x2545f4914f6cdd1dull;
}

uint64_t sim_next(struct sim_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

unsigned sim_below(struct sim_rng *r, unsigned n)
{
    return (unsigned)((sim_next(r) >> 32) % n);
}

bool sim_chance(struct sim_rng *r, unsigned percent)
{
    return sim_below(r, 100) < percent;
}

/* ---- the world ------------------------------------------------------------------------------ */

void sim_world_init(struct sim_world *w)
{
    memset(w, 0, sizeof *w);
    w->st = state_store_new(NULL);
    w->fsm = fsm_new(w->st);
    const char *v = getenv("CARAVAN_SAFETY_VERBOSE");
    w->verbose = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

void sim_world_free(struct sim_world *w)
{
    fsm_free(w->fsm);
    state_store_free(w->st);
}

int sim_apply(struct sim_world *w, const struct cv_buf *entry, struct fsm_result *res, char *why,
              size_t why_len)
{
    w->index++;
    int rc = fsm_apply(w->fsm, w->index, entry->data, entry->len, res);
    if (rc != 0) {
        snprintf(why, why_len, "fsm_apply at %" PRIu64 ": %d", w->index, rc);
        return -1;
    }
    if (res->outcome != FSM_APPLIED) {
        char line[512];
        snprintf(why, why_len, "%s at %" PRIu64 " not applied (%d): %s",
                 fsm_command_name(res->type), w->index, (int)res->outcome,
                 cv_err_format(&res->err, line, sizeof line));
        return -1;
    }
    return 0;
}

static const char *ring_id(unsigned kind, unsigned n)
{
    static char ring[16][40];
    static unsigned next;
    char *out = ring[next++ % 16];
    if (kind == 0) {
        snprintf(out, 40, "job-%02u", n);
    } else {
        snprintf(out, 40, "%08x-0000-4000-8000-%012x", kind << 28, n);
    }
    return out;
}

const char *sim_node_id(unsigned n)
{
    return ring_id(1, n);
}

const char *sim_eval_id(unsigned n)
{
    return ring_id(3, n);
}

const char *sim_job_id(unsigned n)
{
    return ring_id(0, n);
}

int sim_job_number(const char *job_id)
{
    if (strncmp(job_id, "job-", 4) != 0) {
        return -1;
    }
    return atoi(job_id + 4);
}

/* ---- objects -------------------------------------------------------------------------------- */

static void parsed(int rc, struct cv_errlist *errs, const char *text)
{
    if (rc != 0) {
        print_error("cannot decode %s\n", text);
        cv_test_print_errors(errs);
    }
    cv_errlist_free(errs);
    assert_int_equal(rc, 0);
}

struct cv_node *sim_mk_node(unsigned n, const struct sim_node_spec *s)
{
    static const char *const classes[] = {"", "small", "large"};
    char reserved[256] = "", max_allocs[64] = "", text[2048];
    if (s->res_cpu || s->res_mem || s->res_disk) {
        snprintf(reserved, sizeof reserved,
                 ", \"ReservedResources\": {\"Cpu\": {\"CpuShares\": %d},"
                 " \"Memory\": {\"MemoryMB\": %d}, \"Disk\": {\"DiskMB\": %d}}",
                 s->res_cpu, s->res_mem, s->res_disk);
    }
    if (s->max_allocs > 0) {
        snprintf(max_allocs, sizeof max_allocs, ", \"NodeMaxAllocs\": %d", s->max_allocs);
    }
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Datacenter\": \"dc%u\", \"Name\": \"client-%u\","
             " \"NodeClass\": \"%s\", \"Status\": \"%s\", \"SchedulingEligibility\": \"%s\","
             " \"Attributes\": {\"kernel.name\": \"linux\", \"cpu.arch\": \"amd64\"},"
             " \"Meta\": {\"rack\": \"r%u\", \"zone\": \"z%u\"},"
             " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": %d}, \"Memory\": {\"MemoryMB\": %d},"
             " \"Disk\": {\"DiskMB\": %d}}%s%s}",
             sim_node_id(n), s->dc + 1, n, classes[s->klass % 3],
             s->ready ? CV_NODE_STATUS_READY : CV_NODE_STATUS_INITIALIZING,
             s->eligible ? CV_NODE_ELIGIBLE : CV_NODE_INELIGIBLE, s->rack + 1, n % 2, s->cpu,
             s->mem, s->disk, reserved, max_allocs);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *node = NULL;
    parsed(cv_node_parse(text, strlen(text), &node, &errs), &errs, text);
    cv_node_compute_class(node);
    return node;
}

struct cv_node *sim_mk_node_from(const struct cv_node *tmpl, unsigned n,
                                 const struct sim_node_spec *s)
{
    static const char *const classes[] = {"", "small", "large"};
    struct cv_node *node = cv_node_copy(tmpl);
    char text[64];
    cv_set_string(&node->id, sim_node_id(n));
    snprintf(text, sizeof text, "client-%u", n);
    cv_set_string(&node->name, text);
    snprintf(text, sizeof text, "dc%u", s->dc + 1);
    cv_set_string(&node->datacenter, text);
    cv_set_string(&node->node_class, classes[s->klass % 3]);
    cv_set_string(&node->status, s->ready ? CV_NODE_STATUS_READY : CV_NODE_STATUS_INITIALIZING);
    cv_set_string(&node->scheduling_eligibility,
                  s->eligible ? CV_NODE_ELIGIBLE : CV_NODE_INELIGIBLE);
    snprintf(text, sizeof text, "r%u", s->rack + 1);
    cv_strmap_set(&node->meta, "rack", text);
    snprintf(text, sizeof text, "z%u", n % 2);
    cv_strmap_set(&node->meta, "zone", text);
    node->node_resources->cpu.cpu_shares = s->cpu;
    node->node_resources->memory.memory_mb = s->mem;
    node->node_resources->disk.disk_mb = s->disk;
    node->reserved_resources->cpu.cpu_shares = s->res_cpu;
    node->reserved_resources->memory.memory_mb = s->res_mem;
    node->reserved_resources->disk.disk_mb = s->res_disk;
    node->node_max_allocs = s->max_allocs;
    cv_node_compute_class(node);
    return node;
}

struct cv_job *sim_mk_job(unsigned n, const struct sim_job_spec *s)
{
    static const char *const dcs[] = {"[\"*\"]", "[\"dc1\", \"dc2\"]", "[\"dc1\"]"};
    struct cv_buf b;
    cv_buf_init(&b);
    cv_buf_appendf(&b, "{\"ID\": \"%s\", \"Type\": \"%s\", \"Priority\": %d, \"Datacenters\": %s",
                   sim_job_id(n), s->batch ? CV_JOB_TYPE_BATCH : CV_JOB_TYPE_SERVICE, s->priority,
                   dcs[s->dcs]);
    cv_buf_append_str(&b, ", \"Constraints\": [");
    const char *sep = "";
    if (s->rack_r1) {
        cv_buf_append_str(&b,
                          "{\"LTarget\": \"${meta.rack}\", \"RTarget\": \"r1\","
                          " \"Operand\": \"=\"}");
        sep = ", ";
    }
    if (s->linux_only) {
        cv_buf_appendf(&b,
                       "%s{\"LTarget\": \"${attr.kernel.name}\", \"RTarget\": \"linux\","
                       " \"Operand\": \"=\"}",
                       sep);
    }
    cv_buf_append_str(&b, "], \"TaskGroups\": [");
    for (unsigned g = 0; g < s->n_groups; g++) {
        const struct sim_group_spec *gs = &s->groups[g];
        cv_buf_appendf(
            &b,
            "%s{\"Name\": \"g%u\", \"Count\": %d, \"Constraints\": [%s],"
            " \"EphemeralDisk\": {\"SizeMB\": %d}, \"Tasks\": [{\"Name\": \"t\","
            " \"Driver\": \"mock\", \"Config\": {\"run_for\": \"10s\"},"
            " \"Resources\": {\"CPU\": %d, \"MemoryMB\": %d}}]}",
            g ? ", " : "", g, gs->count,
            gs->distinct_hosts ? "{\"Operand\": \"distinct_hosts\", \"RTarget\": \"true\"}" : "",
            gs->disk, gs->cpu, gs->mem);
    }
    cv_buf_append_str(&b, "]}");
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    parsed(cv_job_parse(b.data, b.len, &job, &errs), &errs, cv_buf_str(&b));
    cv_buf_free(&b);
    return job;
}

struct cv_evaluation *sim_mk_eval(struct sim_world *w, const struct cv_job *job,
                                  const char *triggered_by, const char *node_id)
{
    struct cv_evaluation *e = cv_eval_new();
    cv_set_string(&e->id, sim_eval_id(++w->next_eval));
    cv_set_string(&e->job_id, job->id);
    cv_set_string(&e->type, job->type);
    cv_set_string(&e->triggered_by, triggered_by);
    cv_set_string(&e->status, CV_EVAL_STATUS_PENDING);
    if (node_id != NULL) {
        cv_set_string(&e->node_id, node_id);
    }
    e->priority = job->priority;
    cv_eval_canonicalize(e);
    return e;
}

/* ---- capacity ------------------------------------------------------------------------------- */

struct sim_sum
{
    int64_t cpu, mem, disk;
};

/* The job's and its groups' constraints that read one node property,
 * checked by hand; distinct_hosts is counted separately. */
static bool node_feasible(const struct cv_node *node, const struct cv_job *job)
{
    if (strcmp(node->status, CV_NODE_STATUS_READY) != 0 ||
        strcmp(node->scheduling_eligibility, CV_NODE_ELIGIBLE) != 0 ||
        node->drain_strategy != NULL || !sch_dcs_match(&job->datacenters, node->datacenter)) {
        return false;
    }
    for (size_t i = 0; i < job->constraints.len; i++) {
        const struct cv_constraint *c = &job->constraints.items[i];
        if (strcmp(c->ltarget, "${meta.rack}") == 0) {
            const char *rack = cv_strmap_get(&node->meta, "rack");
            if (rack == NULL || strcmp(rack, c->rtarget) != 0) {
                return false;
            }
        }
    }
    return true;
}

static struct sim_sum job_ask(const struct cv_job *job)
{
    struct sim_sum s = {0, 0, 0};
    if (job->stop) {
        return s;
    }
    for (size_t g = 0; g < job->task_groups.len; g++) {
        const struct cv_task_group *tg = &job->task_groups.items[g];
        for (size_t t = 0; t < tg->tasks.len; t++) {
            const struct cv_resources *r = tg->tasks.items[t].resources;
            if (r != NULL) {
                s.cpu += tg->count * r->cpu;
                s.mem += tg->count * r->memory_mb;
            }
        }
        s.disk += tg->count * (tg->ephemeral_disk ? tg->ephemeral_disk->size_mb : 0);
    }
    return s;
}

static struct sim_sum node_capacity(const struct cv_node *n)
{
    struct sim_sum c = {n->node_resources->cpu.cpu_shares, n->node_resources->memory.memory_mb,
                        n->node_resources->disk.disk_mb};
    if (n->reserved_resources != NULL) {
        c.cpu -= n->reserved_resources->cpu.cpu_shares;
        c.mem -= n->reserved_resources->memory.memory_mb;
        c.disk -= n->reserved_resources->disk.disk_mb;
    }
    return c;
}

bool sim_ample(const struct cv_node *const *nodes, size_t n_nodes, const struct cv_job *const *jobs,
               size_t n_jobs, int pct, size_t *bad_job, char *why, size_t why_len)
{
    bool *feas = cv_calloc(n_jobs * (n_nodes ? n_nodes : 1), sizeof *feas);
    for (size_t j = 0; j < n_jobs; j++) {
        for (size_t n = 0; n < n_nodes; n++) {
            feas[j * n_nodes + n] = node_feasible(nodes[n], jobs[j]);
        }
    }
    bool ok = true;
    for (size_t j = 0; j < n_jobs && ok; j++) {
        if (jobs[j]->stop) {
            continue;
        }
        if (bad_job != NULL) {
            *bad_job = j;
        }
        struct sim_sum cap = {0, 0, 0}, ask = {0, 0, 0};
        size_t hosts = 0;
        for (size_t n = 0; n < n_nodes; n++) {
            if (feas[j * n_nodes + n] && nodes[n]->node_max_allocs == 0) {
                struct sim_sum c = node_capacity(nodes[n]);
                cap.cpu += c.cpu;
                cap.mem += c.mem;
                cap.disk += c.disk;
                hosts++;
            }
        }
        for (size_t k = 0; k < n_jobs; k++) {
            bool subset = true;
            for (size_t n = 0; n < n_nodes && subset; n++) {
                subset = !feas[k * n_nodes + n] || feas[j * n_nodes + n];
            }
            if (subset) {
                struct sim_sum a = job_ask(jobs[k]);
                ask.cpu += a.cpu;
                ask.mem += a.mem;
                ask.disk += a.disk;
            }
        }
        if (ask.cpu * 100 > cap.cpu * pct || ask.mem * 100 > cap.mem * pct ||
            ask.disk * 100 > cap.disk * pct) {
            snprintf(why, why_len,
                     "job %s: jobs on its %zu nodes ask cpu %" PRId64 "/%" PRId64 " mem %" PRId64
                     "/%" PRId64 " disk %" PRId64 "/%" PRId64 " (over %d%%)",
                     jobs[j]->id, hosts, ask.cpu, cap.cpu, ask.mem, cap.mem, ask.disk, cap.disk,
                     pct);
            ok = false;
        }
        for (size_t g = 0; g < jobs[j]->task_groups.len && ok; g++) {
            const struct cv_task_group *tg = &jobs[j]->task_groups.items[g];
            for (size_t c = 0; c < tg->constraints.len; c++) {
                if (strcmp(tg->constraints.items[c].operand, "distinct_hosts") == 0 &&
                    (size_t)tg->count * 2 > hosts) {
                    snprintf(why, why_len,
                             "job %s group %s: distinct_hosts count %" PRId64
                             " over half of %zu nodes",
                             jobs[j]->id, tg->name, tg->count, hosts);
                    ok = false;
                }
            }
        }
    }
    cv_free(feas);
    return ok;
}

bool sim_ample_snap(const struct state_snap *snap, const struct sim_what_if *wi, int pct, char *why,
                    size_t why_len)
{
    static const struct sim_what_if none = {NULL, NULL, NULL, 0};
    if (wi == NULL) {
        wi = &none;
    }
    size_t n_nodes = state_table_count(snap, STATE_NODES);
    size_t n_jobs = state_table_count(snap, STATE_JOBS) + wi->n_pending;
    const struct cv_node **nodes = cv_calloc(n_nodes + 1, sizeof *nodes);
    const struct cv_job **jobs = cv_calloc(n_jobs + 1, sizeof *jobs);
    struct state_iter it;
    size_t i = 0;
    state_iter_nodes(snap, NULL, &it);
    for (const struct cv_node *n; (n = state_iter_next(&it)) != NULL;) {
        bool swap = wi->node_override != NULL && strcmp(wi->node_override->id, n->id) == 0;
        nodes[i++] = swap ? wi->node_override : n;
    }
    i = 0;
    state_iter_jobs(snap, NULL, &it);
    for (const struct cv_job *j; (j = state_iter_next(&it)) != NULL;) {
        bool swap = wi->job_override != NULL && strcmp(wi->job_override->id, j->id) == 0;
        jobs[i++] = swap ? wi->job_override : j;
    }
    for (size_t p = 0; p < wi->n_pending; p++) {
        jobs[i++] = wi->pending[p];
    }
    bool ok = sim_ample(nodes, n_nodes, jobs, n_jobs, pct, NULL, why, why_len);
    cv_free(nodes);
    cv_free(jobs);
    return ok;
}

/* ---- the invariants ------------------------------------------------------------------------- */

bool sim_alloc_terminal(const struct cv_allocation *a)
{
    return strcmp(a->desired_status, CV_ALLOC_DESIRED_STOP) == 0 ||
           strcmp(a->desired_status, CV_ALLOC_DESIRED_EVICT) == 0 ||
           strcmp(a->client_status, CV_ALLOC_CLIENT_COMPLETE) == 0 ||
           strcmp(a->client_status, CV_ALLOC_CLIENT_FAILED) == 0 ||
           strcmp(a->client_status, CV_ALLOC_CLIENT_LOST) == 0;
}

static struct sim_sum alloc_use(const struct cv_allocation *a)
{
    struct sim_sum u = {0, 0, 0};
    const struct cv_allocated_resources *r = a->allocated_resources;
    if (r == NULL) {
        return u;
    }
    for (size_t t = 0; t < r->tasks.len; t++) {
        u.cpu += r->tasks.items[t].cpu.cpu_shares;
        u.mem += r->tasks.items[t].memory.memory_mb;
    }
    u.disk = r->shared.disk_mb;
    return u;
}

/* Appends the node's live allocations to why, after what is there. */
static void list_allocs(const struct state_snap *snap, const char *node_id, char *why,
                        size_t why_len)
{
    struct state_iter it;
    state_iter_allocs_by_node(snap, node_id, &it);
    for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
        size_t used = strlen(why);
        if (sim_alloc_terminal(a) || used + 8 >= why_len) {
            continue;
        }
        struct sim_sum u = alloc_use(a);
        snprintf(why + used, why_len - used,
                 "\n    %s %s cpu %" PRId64 " mem %" PRId64 " disk %" PRId64 " (index %" PRIu64
                 ", eval %.8s)",
                 a->id, a->name, u.cpu, u.mem, u.disk, a->create_index, a->eval_id);
    }
}

bool sim_check_capacity(const struct state_snap *snap, char *why, size_t why_len)
{
    struct state_iter nodes;
    state_iter_nodes(snap, NULL, &nodes);
    for (const struct cv_node *n; (n = state_iter_next(&nodes)) != NULL;) {
        struct sim_sum cap = node_capacity(n), use = {0, 0, 0};
        int64_t count = 0;
        struct state_iter it;
        state_iter_allocs_by_node(snap, n->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
            if (!sim_alloc_terminal(a)) {
                struct sim_sum u = alloc_use(a);
                use.cpu += u.cpu;
                use.mem += u.mem;
                use.disk += u.disk;
                count++;
            }
        }
        const char *dim = NULL;
        int64_t used = 0, avail = 0;
        if (n->node_max_allocs > 0 && count > n->node_max_allocs) {
            dim = "allocations", used = count, avail = n->node_max_allocs;
        } else if (use.cpu > cap.cpu) {
            dim = "cpu", used = use.cpu, avail = cap.cpu;
        } else if (use.mem > cap.mem) {
            dim = "memory", used = use.mem, avail = cap.mem;
        } else if (use.disk > cap.disk) {
            dim = "disk", used = use.disk, avail = cap.disk;
        }
        if (dim != NULL) {
            snprintf(why, why_len,
                     "node %s (%s, %s) overcommitted on %s: %" PRId64 " > %" PRId64
                     " at index %" PRIu64 "; live allocations:",
                     n->id, n->name, n->status, dim, used, avail, state_snap_index(snap));
            list_allocs(snap, n->id, why, why_len);
            return false;
        }
    }
    return true;
}

static bool has_distinct_hosts(const struct cv_constraint *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].operand, "distinct_hosts") == 0 &&
            (c[i].rtarget[0] == '\0' || strcmp(c[i].rtarget, "true") == 0)) {
            return true;
        }
    }
    return false;
}

/* The job's `${meta.<key>} = value` constraints hold on node. */
static bool meta_constraints_hold(const struct cv_node *node, const struct cv_job *job)
{
    for (size_t i = 0; i < job->constraints.len; i++) {
        const struct cv_constraint *c = &job->constraints.items[i];
        if (strncmp(c->ltarget, "${meta.", 7) == 0 && strcmp(c->operand, "=") == 0) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)strlen(c->ltarget) - 8, c->ltarget + 7);
            const char *v = cv_strmap_get(&node->meta, key);
            if (v == NULL || strcmp(v, c->rtarget) != 0) {
                return false;
            }
        }
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool sim_check_constraints(const struct state_snap *snap, char *why, size_t why_len)
{
    struct state_iter jobs;
    state_iter_jobs(snap, NULL, &jobs);
    bool ok = true;
    for (const struct cv_job *j; ok && (j = state_iter_next(&jobs)) != NULL;) {
        CV_VEC(const char *) keys = {NULL, 0}; /* "<group> <node>" of distinct_hosts groups */
        size_t cap = 0;
        struct state_iter it;
        state_iter_allocs_by_job(snap, j->id, &it);
        for (const struct cv_allocation *a; ok && (a = state_iter_next(&it)) != NULL;) {
            if (sim_alloc_terminal(a)) {
                continue;
            }
            const struct cv_node *n = state_node(snap, a->node_id);
            if (n == NULL || !sch_dcs_match(&j->datacenters, n->datacenter) ||
                !meta_constraints_hold(n, j)) {
                snprintf(why, why_len, "job %s: %s on node %s (%s), which the job may not use",
                         j->id, a->name, a->node_id, n != NULL ? n->datacenter : "gone");
                ok = false;
                break;
            }
            const struct cv_task_group *tg = NULL;
            for (size_t g = 0; g < j->task_groups.len && tg == NULL; g++) {
                if (strcmp(j->task_groups.items[g].name, a->task_group) == 0) {
                    tg = &j->task_groups.items[g];
                }
            }
            if (tg != NULL && has_distinct_hosts(tg->constraints.items, tg->constraints.len)) {
                if (keys.len == cap) {
                    cap = cap ? 2 * cap : 16;
                    keys.items = cv_reallocarray(keys.items, cap, sizeof *keys.items);
                }
                struct cv_buf b;
                cv_buf_init(&b);
                cv_buf_appendf(&b, "%s %s", tg->name, a->node_id);
                keys.items[keys.len++] = cv_buf_take(&b);
            }
        }
        if (ok && keys.len > 1) {
            qsort(keys.items, keys.len, sizeof *keys.items, cmp_str);
        }
        for (size_t i = 1; ok && i < keys.len; i++) {
            if (strcmp(keys.items[i - 1], keys.items[i]) == 0) {
                snprintf(why, why_len, "job %s: distinct_hosts group and node %s twice", j->id,
                         keys.items[i]);
                ok = false;
            }
        }
        for (size_t i = 0; i < keys.len; i++) {
            cv_free((char *)keys.items[i]);
        }
        cv_free(keys.items);
    }
    return ok;
}

bool sim_check_unique_names(const struct state_snap *snap, char *why, size_t why_len)
{
    struct state_iter jobs;
    state_iter_jobs(snap, NULL, &jobs);
    bool ok = true;
    for (const struct cv_job *j; ok && (j = state_iter_next(&jobs)) != NULL;) {
        CV_VEC(const char *) names = {NULL, 0};
        size_t cap = 0;
        struct state_iter it;
        state_iter_allocs_by_job(snap, j->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
            if (sim_alloc_terminal(a)) {
                continue;
            }
            if (names.len == cap) {
                cap = cap ? cap * 2 : 16;
                names.items = cv_reallocarray(names.items, cap, sizeof *names.items);
            }
            names.items[names.len++] = a->name;
        }
        if (names.len > 1) {
            qsort(names.items, names.len, sizeof *names.items, cmp_str);
        }
        for (size_t i = 1; i < names.len && ok; i++) {
            if (strcmp(names.items[i - 1], names.items[i]) == 0) {
                snprintf(why, why_len, "job %s: two live allocations named %s at index %" PRIu64,
                         j->id, names.items[i], state_snap_index(snap));
                ok = false;
            }
        }
        cv_free(names.items);
    }
    return ok;
}

/* The index i of "<job>.<group>[i]", or -1 when name is not of that shape. */
static int64_t name_index(const char *name, const char *job, const char *group)
{
    size_t jl = strlen(job), gl = strlen(group);
    if (strncmp(name, job, jl) != 0 || name[jl] != '.' || strncmp(name + jl + 1, group, gl) != 0 ||
        name[jl + 1 + gl] != '[') {
        return -1;
    }
    char *end = NULL;
    long long i = strtoll(name + jl + gl + 2, &end, 10);
    if (end == name + jl + gl + 2 || strcmp(end, "]") != 0 || i < 0) {
        return -1;
    }
    return i;
}

/* True, with the node and its free resources in why, when a node could
 * run one more allocation of tg now. */
static bool room_for(const struct state_snap *snap, const struct cv_job *j,
                     const struct cv_task_group *tg, char *why, size_t why_len)
{
    struct cv_job one = *j;
    one.task_groups.items = (struct cv_task_group *)tg;
    one.task_groups.len = 1;
    one.stop = false;
    struct sim_sum ask = job_ask(&one);
    ask.cpu /= tg->count, ask.mem /= tg->count, ask.disk /= tg->count;
    bool job_distinct = has_distinct_hosts(j->constraints.items, j->constraints.len);
    bool group_distinct = has_distinct_hosts(tg->constraints.items, tg->constraints.len);
    struct state_iter nodes;
    state_iter_nodes(snap, NULL, &nodes);
    for (const struct cv_node *n; (n = state_iter_next(&nodes)) != NULL;) {
        if (!node_feasible(n, j)) {
            continue;
        }
        struct sim_sum free = node_capacity(n);
        int64_t count = 0;
        bool clash = false;
        struct state_iter it;
        state_iter_allocs_by_node(snap, n->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
            if (sim_alloc_terminal(a)) {
                continue;
            }
            struct sim_sum u = alloc_use(a);
            free.cpu -= u.cpu, free.mem -= u.mem, free.disk -= u.disk;
            count++;
            if (strcmp(a->job_id, j->id) == 0 &&
                (job_distinct || (group_distinct && strcmp(a->task_group, tg->name) == 0))) {
                clash = true;
            }
        }
        if (!clash && (n->node_max_allocs == 0 || count < n->node_max_allocs) &&
            ask.cpu <= free.cpu && ask.mem <= free.mem && ask.disk <= free.disk) {
            snprintf(why, why_len,
                     "node %s could take one (free cpu %" PRId64 " mem %" PRId64 " disk %" PRId64
                     ", %" PRId64 " allocations; one asks cpu %" PRId64 " mem %" PRId64
                     " disk %" PRId64 ")",
                     n->id, free.cpu, free.mem, free.disk, count, ask.cpu, ask.mem, ask.disk);
            return true;
        }
    }
    return false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool check_group(const struct state_snap *snap, const struct cv_job *j,
                        const struct cv_task_group *tg, bool dense, size_t *starved, char *why,
                        size_t why_len)
{
    int64_t count = j->stop ? 0 : tg->count;
    CV_VEC(int64_t) idx = {NULL, 0};
    size_t cap = 0;
    bool ok = true;
    struct state_iter it;
    state_iter_allocs_by_job(snap, j->id, &it);
    for (const struct cv_allocation *a; ok && (a = state_iter_next(&it)) != NULL;) {
        if (sim_alloc_terminal(a) || strcmp(a->task_group, tg->name) != 0) {
            continue;
        }
        int64_t i = name_index(a->name, j->id, tg->name);
        if (i < 0 || (dense && i >= count)) {
            snprintf(why, why_len,
                     "job %s group %s (count %" PRId64
                     "): live allocation %s (%s)"
                     " on node %s is not wanted",
                     j->id, tg->name, count, a->name, a->id, a->node_id);
            ok = false;
        }
        if (idx.len == cap) {
            cap = cap ? 2 * cap : 16;
            idx.items = cv_reallocarray(idx.items, cap, sizeof *idx.items);
        }
        idx.items[idx.len++] = i;
    }
    if (ok && idx.len > 1) {
        qsort(idx.items, idx.len, sizeof *idx.items, cmp_i64);
    }
    for (size_t k = 1; ok && k < idx.len; k++) {
        if (idx.items[k] == idx.items[k - 1]) {
            snprintf(why, why_len, "job %s: %s.%s[%" PRId64 "] placed twice", j->id, j->id,
                     tg->name, idx.items[k]);
            ok = false;
        }
    }
    if (ok && (int64_t)idx.len > count) {
        snprintf(why, why_len, "job %s group %s: %zu live allocations, count %" PRId64, j->id,
                 tg->name, idx.len, count);
        ok = false;
    } else if (ok && (int64_t)idx.len < count) {
        char room[256];
        if (room_for(snap, j, tg, room, sizeof room)) {
            snprintf(why, why_len,
                     "job %s group %s: %zu live allocations, count %" PRId64 ", yet %s", j->id,
                     tg->name, idx.len, count, room);
            ok = false;
        } else {
            (*starved)++;
        }
    }
    cv_free(idx.items);
    return ok;
}

bool sim_check_exactly_once(const struct state_snap *snap, bool dense_names, size_t *starved,
                            char *why, size_t why_len)
{
    struct state_iter jobs;
    state_iter_jobs(snap, NULL, &jobs);
    for (const struct cv_job *j; (j = state_iter_next(&jobs)) != NULL;) {
        for (size_t g = 0; g < j->task_groups.len; g++) {
            if (!check_group(snap, j, &j->task_groups.items[g], dense_names, starved, why,
                             why_len)) {
                return false;
            }
        }
        /* Live allocations of a group the job no longer has. */
        struct state_iter it;
        state_iter_allocs_by_job(snap, j->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
            bool known = false;
            for (size_t g = 0; g < j->task_groups.len && !known; g++) {
                known = strcmp(j->task_groups.items[g].name, a->task_group) == 0;
            }
            if (!known && !sim_alloc_terminal(a)) {
                snprintf(why, why_len, "job %s: live allocation %s of unknown group %s", j->id,
                         a->name, a->task_group);
                return false;
            }
        }
    }
    return true;
}
