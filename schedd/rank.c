/*
 * rank: scoring feasible nodes for one placement (see rank.h).
 *
 * Every score is computed from what the request carries: the node, the
 * allocations on it, and, for spreads, the job's allocations with their
 * nodes. Nothing is remembered between placements; the caller adds the
 * placements it proposes to the allocation lists before ranking again, as
 * Nomad's plan-aware ProposedAllocs does.
 *
 * Spread counts (allocations of the task group per value of each spread
 * attribute) are computed once per ranker, before any node is scored.
 */
#include "schedd/rank.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "common/mem.h"
#include "schedd/feasible.h"

/* Nomad's LimitIterator may set aside this many options whose final score is
 * at most SKIP_THRESHOLD, using them only when nothing else is left. */
#define MAX_SKIP       3
#define SKIP_THRESHOLD 0.0

void sch_group_resources(const struct cv_task_group *tg, struct sch_resources *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < tg->tasks.len; i++) {
        const struct cv_resources *r = tg->tasks.items[i].resources;
        if (r != NULL) {
            out->cpu += r->cpu;
            out->memory_mb += r->memory_mb;
        }
    }
    if (tg->ephemeral_disk != NULL) {
        out->disk_mb = tg->ephemeral_disk->size_mb;
    }
}

void sch_alloc_resources(const struct cv_allocation *alloc, struct sch_resources *out)
{
    memset(out, 0, sizeof *out);
    const struct cv_allocated_resources *ar = alloc->allocated_resources;
    if (ar == NULL) {
        return;
    }
    for (size_t i = 0; i < ar->tasks.len; i++) {
        out->cpu += ar->tasks.items[i].cpu.cpu_shares;
        out->memory_mb += ar->tasks.items[i].memory.memory_mb;
    }
    out->disk_mb = ar->shared.disk_mb;
}

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool sch_alloc_terminal(const struct cv_allocation *alloc)
{
    if (str_eq(alloc->desired_status, CV_ALLOC_DESIRED_STOP) ||
        str_eq(alloc->desired_status, CV_ALLOC_DESIRED_EVICT)) {
        return true;
    }
    return alloc->client_status != NULL && cv_alloc_client_terminal(alloc->client_status);
}

static void add_resources(struct sch_resources *to, const struct sch_resources *r)
{
    to->cpu += r->cpu;
    to->memory_mb += r->memory_mb;
    to->disk_mb += r->disk_mb;
}

void sch_node_usage(const struct cv_node *node, const struct cv_allocation *const *allocs, size_t n,
                    const struct sch_resources *ask, struct sch_usage *out)
{
    memset(out, 0, sizeof *out);
    if (node->node_resources != NULL) {
        out->capacity.cpu = node->node_resources->cpu.cpu_shares;
        out->capacity.memory_mb = node->node_resources->memory.memory_mb;
        out->capacity.disk_mb = node->node_resources->disk.disk_mb;
    }
    if (node->reserved_resources != NULL) {
        out->capacity.cpu -= node->reserved_resources->cpu.cpu_shares;
        out->capacity.memory_mb -= node->reserved_resources->memory.memory_mb;
        out->capacity.disk_mb -= node->reserved_resources->disk.disk_mb;
    }
    for (size_t i = 0; i < n; i++) {
        if (sch_alloc_terminal(allocs[i])) {
            continue;
        }
        struct sch_resources r;
        sch_alloc_resources(allocs[i], &r);
        add_resources(&out->used, &r);
    }
    if (ask != NULL) {
        add_resources(&out->used, ask);
    }
}

bool sch_fits(const struct sch_usage *u, const char **dimension)
{
    const char *dim = NULL;
    if (u->used.cpu > u->capacity.cpu) {
        dim = SCH_DIM_CPU;
    } else if (u->used.memory_mb > u->capacity.memory_mb) {
        dim = SCH_DIM_MEMORY;
    } else if (u->used.disk_mb > u->capacity.disk_mb) {
        dim = SCH_DIM_DISK;
    }
    if (dim != NULL && dimension != NULL) {
        *dimension = dim;
    }
    return dim == NULL;
}

/* 1 - used/capacity. A node with no capacity in a dimension counts as full
 * there rather than dividing by zero (Nomad would compute NaN or -Inf). */
static double free_fraction(int64_t used, int64_t capacity)
{
    if (capacity <= 0) {
        return 0.0;
    }
    return 1.0 - (double)used / (double)capacity;
}

double sch_binpack_score(const struct sch_usage *u, enum sch_fit_algorithm alg)
{
    double total = pow(10.0, free_fraction(u->used.cpu, u->capacity.cpu)) +
                   pow(10.0, free_fraction(u->used.memory_mb, u->capacity.memory_mb));
    double score = alg == SCH_FIT_SPREAD ? total - 2.0 : 20.0 - total;
    if (score > SCH_BINPACK_MAX_FIT) {
        score = SCH_BINPACK_MAX_FIT;
    } else if (score < 0.0) {
        score = 0.0;
    }
    return score / SCH_BINPACK_MAX_FIT;
}

double sch_anti_affinity_score(size_t collisions, int64_t desired_count)
{
    if (collisions == 0) {
        return 0.0;
    }
    double desired = desired_count < 1 ? 1.0 : (double)desired_count;
    double penalty = -((double)collisions + 1.0) / desired;
    return penalty < -1.0 ? -1.0 : penalty;
}

size_t sch_rank_limit(const char *job_type, size_t n_nodes, bool has_spread_or_affinity,
                      int64_t group_count)
{
    size_t limit;
    if (has_spread_or_affinity) {
        limit = group_count > SCH_RANK_LIMIT_SPREAD ? (size_t)group_count : SCH_RANK_LIMIT_SPREAD;
    } else if (str_eq(job_type, CV_JOB_TYPE_BATCH)) {
        limit = 2;
    } else {
        /* ceil(log2 n) by integer steps: the smallest k with 2^k >= n. */
        size_t k = 0;
        while (k < 63 && ((size_t)1 << k) < n_nodes) {
            k++;
        }
        limit = k < 2 ? 2 : k;
    }
    if (limit > n_nodes) {
        limit = n_nodes;
    }
    return limit;
}

/* xorshift64* (Marsaglia, Vigna): small, fast, and reproducible. */
static uint64_t xorshift_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void sch_shuffle(uint64_t seed, size_t *order, size_t n)
{
    uint64_t state = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        /* The modulo bias is below 2^-40 for any realistic node count. */
        size_t j = (size_t)(xorshift_next(&state) % (uint64_t)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* ---- affinities ------------------------------------------------------------ */

static bool affinity_matches(const struct cv_node *node, const struct cv_affinity *a)
{
    struct cv_constraint c = {.ltarget = a->ltarget, .rtarget = a->rtarget, .operand = a->operand};
    bool ok = false;
    int rc = sch_check_constraint(node, &c, &ok, NULL);
    /* distinct_* and unknown operands never match an affinity. */
    return rc == SCH_NODE_LOCAL && ok;
}

static void affinity_sum(const struct cv_node *node, const struct cv_affinity *items, size_t n,
                         double *matched, double *total)
{
    for (size_t i = 0; i < n; i++) {
        *total += fabs((double)items[i].weight);
        if (affinity_matches(node, &items[i])) {
            *matched += (double)items[i].weight;
        }
    }
}

/* Σ weights of the matching affinities / Σ |weights| over the job's, the
 * group's and its tasks'. Returns false when the score does not apply (no
 * affinities, or the matched weights sum to 0, as Nomad skips it). */
bool sch_affinity_score(const struct cv_job *job, const struct cv_task_group *tg,
                        const struct cv_node *node, double *out)
{
    double matched = 0.0;
    double total = 0.0;
    affinity_sum(node, job->affinities.items, job->affinities.len, &matched, &total);
    affinity_sum(node, tg->affinities.items, tg->affinities.len, &matched, &total);
    for (size_t i = 0; i < tg->tasks.len; i++) {
        const struct cv_task *t = &tg->tasks.items[i];
        affinity_sum(node, t->affinities.items, t->affinities.len, &matched, &total);
    }
    if (total == 0.0 || matched == 0.0) {
        return false;
    }
    *out = matched / total;
    return true;
}

bool sch_has_affinities(const struct cv_job *job, const struct cv_task_group *tg)
{
    if (job->affinities.len > 0 || tg->affinities.len > 0) {
        return true;
    }
    for (size_t i = 0; i < tg->tasks.len; i++) {
        if (tg->tasks.items[i].affinities.len > 0) {
            return true;
        }
    }
    return false;
}

/* ---- spreads --------------------------------------------------------------- */

struct value_count
{
    const char *value; /* borrowed from a node */
    size_t count;
};

/* One spread block (the group's, then the job's) and the number of the
 * group's live allocations per value of its attribute. */
struct spread_state
{
    const struct cv_spread *spread;
    struct value_count *counts;
    size_t n_counts;
};

struct sch_spreads
{
    struct spread_state *items;
    size_t len;
    int64_t sum_weights;
    int64_t group_count;
};

static size_t count_of(const struct spread_state *s, const char *value)
{
    for (size_t i = 0; i < s->n_counts; i++) {
        if (strcmp(s->counts[i].value, value) == 0) {
            return s->counts[i].count;
        }
    }
    return 0;
}

static void count_value(struct spread_state *s, const char *value)
{
    for (size_t i = 0; i < s->n_counts; i++) {
        if (strcmp(s->counts[i].value, value) == 0) {
            s->counts[i].count++;
            return;
        }
    }
    s->counts = cv_reallocarray(s->counts, s->n_counts + 1, sizeof *s->counts);
    s->counts[s->n_counts++] = (struct value_count){.value = value, .count = 1};
}

static void spreads_init(struct sch_spreads *sp, const struct cv_job *job,
                         const struct cv_task_group *tg)
{
    memset(sp, 0, sizeof *sp);
    size_t n = tg->spreads.len + job->spreads.len;
    sp->group_count = tg->count;
    if (n == 0) {
        return;
    }
    sp->items = cv_calloc(n, sizeof *sp->items);
    for (size_t i = 0; i < n; i++) {
        struct spread_state *s = &sp->items[sp->len++];
        s->spread =
            i < tg->spreads.len ? &tg->spreads.items[i] : &job->spreads.items[i - tg->spreads.len];
        sp->sum_weights += s->spread->weight;
    }
}

static void spreads_count(struct sch_spreads *sp, const struct cv_node *node)
{
    for (size_t i = 0; i < sp->len; i++) {
        struct spread_state *s = &sp->items[i];
        const char *v = sch_resolve_target(node, s->spread->attribute);
        if (v != NULL) {
            count_value(s, v);
        }
    }
}

static void spreads_init_placed(struct sch_spreads *sp, const struct cv_job *job,
                                const struct cv_task_group *tg, const struct sch_placed *placed,
                                size_t n_placed)
{
    spreads_init(sp, job, tg);
    for (size_t k = 0; k < n_placed && sp->len > 0; k++) {
        const struct sch_placed *p = &placed[k];
        if (p->node == NULL || sch_alloc_terminal(p->alloc) ||
            !str_eq(p->alloc->task_group, tg->name)) {
            continue;
        }
        spreads_count(sp, p->node);
    }
}

static void spreads_free(struct sch_spreads *sp)
{
    for (size_t i = 0; i < sp->len; i++) {
        cv_free(sp->items[i].counts);
    }
    cv_free(sp->items);
}

struct sch_spreads *sch_spreads_new(const struct cv_job *job, const struct cv_task_group *tg,
                                    const struct sch_placed *placed, size_t n_placed)
{
    struct sch_spreads *sp = cv_malloc(sizeof *sp);
    spreads_init_placed(sp, job, tg, placed, n_placed);
    return sp;
}

void sch_spreads_add(struct sch_spreads *sp, const struct cv_node *node)
{
    spreads_count(sp, node);
}

void sch_spreads_free(struct sch_spreads *sp)
{
    if (sp == NULL) {
        return;
    }
    spreads_free(sp);
    cv_free(sp);
}

/* Nomad's evenSpreadScoreBoost: with no targets, favour the values with the
 * fewest allocations. */
static double even_spread_boost(const struct spread_state *s, const char *value)
{
    if (s->n_counts == 0) {
        return 0.0; /* nothing placed yet */
    }
    size_t current = count_of(s, value);
    size_t min = s->counts[0].count;
    size_t max = s->counts[0].count;
    for (size_t i = 1; i < s->n_counts; i++) {
        min = s->counts[i].count < min ? s->counts[i].count : min;
        max = s->counts[i].count > max ? s->counts[i].count : max;
    }
    /* Every counted value has count >= 1, so min > 0. */
    assert(min > 0);
    if (current != min) {
        /* Below the minimum (an unused value) gives +1; above it, less. */
        return ((double)min - (double)current) / (double)min;
    }
    if (min == max) {
        return -1.0; /* even already: placing here unbalances it */
    }
    return ((double)max - (double)min) / (double)min;
}

/* The desired count of value under s's targets, as Nomad's computeSpreadInfo:
 * percent/100 × group count, and the remainder for values not named when
 * the targets add up to less than the count. False when the value has no
 * desired count at all. */
static bool desired_count(const struct spread_state *s, int64_t group_count, const char *value,
                          double *out)
{
    double sum = 0.0;
    for (size_t i = 0; i < s->spread->targets.len; i++) {
        const struct cv_spread_target *t = &s->spread->targets.items[i];
        double d = (double)t->percent / 100.0 * (double)group_count;
        if (str_eq(t->value, value)) {
            *out = d;
            return true;
        }
        sum += d;
    }
    if (sum > 0.0 && sum < (double)group_count) {
        *out = (double)group_count - sum;
        return true;
    }
    return false;
}

bool sch_spreads_score(const struct sch_spreads *sp, const struct cv_node *node, double *out)
{
    if (sp->len == 0) {
        return false;
    }
    double total = 0.0;
    for (size_t i = 0; i < sp->len; i++) {
        const struct spread_state *s = &sp->items[i];
        const char *value = sch_resolve_target(node, s->spread->attribute);
        if (value == NULL) {
            total -= 1.0; /* the node lacks the attribute: the maximum penalty */
            continue;
        }
        if (s->spread->targets.len == 0) {
            total += even_spread_boost(s, value);
            continue;
        }
        double desired;
        if (!desired_count(s, sp->group_count, value, &desired) || desired <= 0.0) {
            /* No allocation is wanted on this value. Nomad uses the lowest
             * boost seen so far for a 0% target; Caravan's score must not
             * depend on the visiting order, so it takes the maximum penalty. */
            total -= 1.0;
            continue;
        }
        double weight =
            sp->sum_weights > 0 ? (double)s->spread->weight / (double)sp->sum_weights : 0.0;
        /* +1: the placement being scored. */
        double used = (double)count_of(s, value) + 1.0;
        total += (desired - used) / desired * weight;
    }
    if (total == 0.0) {
        return false;
    }
    *out = total;
    return true;
}

/* ---- one node -------------------------------------------------------------- */

static size_t collisions(const struct cv_job *job, const struct cv_task_group *tg,
                         const struct sch_candidate *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_allocs; i++) {
        const struct cv_allocation *a = c->allocs[i];
        if (sch_alloc_terminal(a) || !str_eq(a->job_id, job->id) ||
            !str_eq(a->task_group, tg->name)) {
            continue;
        }
        /* Job IDs are unique per namespace only. */
        if (a->namespace != NULL && job->namespace != NULL &&
            strcmp(a->namespace, job->namespace) != 0) {
            continue;
        }
        n++;
    }
    return n;
}

static bool rank_one(const struct sch_rank_request *req, const struct sch_resources *ask,
                     const struct sch_spreads *sp, const struct sch_candidate *c,
                     struct sch_ranked *out, const char **dimension)
{
    struct sch_usage u;
    sch_node_usage(c->node, c->allocs, c->n_allocs, ask, &u);
    if (!sch_fits(&u, dimension)) {
        return false;
    }
    memset(out, 0, sizeof *out);
    out->node = c->node;
    out->index = (size_t)(c - req->nodes);
    out->binpack = sch_binpack_score(&u, req->algorithm);
    double sum = out->binpack;
    int n = 1;

    size_t hits = collisions(req->job, req->tg, c);
    if (hits > 0) {
        out->anti_affinity = sch_anti_affinity_score(hits, req->tg->count);
        out->has_anti_affinity = true;
        sum += out->anti_affinity;
        n++;
    }
    if (sch_affinity_score(req->job, req->tg, c->node, &out->affinity)) {
        out->has_affinity = true;
        sum += out->affinity;
        n++;
    }
    if (sch_spreads_score(sp, c->node, &out->spread)) {
        out->has_spread = true;
        sum += out->spread;
        n++;
    }
    out->final_score = sum / n;
    return true;
}

bool sch_rank_node(const struct sch_rank_request *req, const struct sch_candidate *c,
                   struct sch_ranked *out, const char **dimension)
{
    struct sch_resources ask;
    if (req->ask != NULL) {
        ask = *req->ask;
    } else {
        sch_group_resources(req->tg, &ask);
    }
    struct sch_spreads sp;
    spreads_init_placed(&sp, req->job, req->tg, req->job_allocs, req->n_job_allocs);
    bool fits = rank_one(req, &ask, &sp, c, out, dimension);
    spreads_free(&sp);
    return fits;
}

/* ---- the ranker ------------------------------------------------------------ */

struct sch_ranker
{
    size_t limit;
    struct sch_rank_stats stats;
    struct sch_ranked *scored; /* the limited set, in the order taken */
    bool has_best;
    struct sch_ranked best;
};

static void take(struct sch_ranker *r, const struct sch_ranked *opt)
{
    r->scored[r->stats.scored++] = *opt;
    if (!r->has_best || opt->final_score > r->best.final_score) {
        r->best = *opt;
        r->has_best = true;
    }
}

struct sch_ranker *sch_ranker_new(const struct sch_rank_request *req)
{
    struct sch_ranker *r = cv_calloc(1, sizeof *r);
    const struct cv_task_group *tg = req->tg;
    bool special =
        tg->spreads.len > 0 || req->job->spreads.len > 0 || sch_has_affinities(req->job, tg);
    r->limit = req->limit != 0 ? req->limit
                               : sch_rank_limit(req->job->type, req->n_nodes, special, tg->count);
    if (r->limit > req->n_nodes) {
        r->limit = req->n_nodes;
    }
    if (req->n_nodes == 0) {
        return r;
    }
    r->scored = cv_calloc(r->limit, sizeof *r->scored);

    struct sch_resources ask;
    if (req->ask != NULL) {
        ask = *req->ask;
    } else {
        sch_group_resources(tg, &ask);
    }
    struct sch_spreads sp;
    spreads_init_placed(&sp, req->job, req->tg, req->job_allocs, req->n_job_allocs);
    size_t *order = cv_calloc(req->n_nodes, sizeof *order);
    sch_shuffle(req->seed, order, req->n_nodes);

    /* Nomad's LimitIterator: options scoring at most SKIP_THRESHOLD are set
     * aside (up to MAX_SKIP of them) while better ones may follow, and used
     * only if the nodes run out before the limit is reached. */
    struct sch_ranked skipped[MAX_SKIP];
    size_t n_skipped = 0;
    for (size_t i = 0; i < req->n_nodes && r->stats.scored < r->limit; i++) {
        const struct sch_candidate *c = &req->nodes[order[i]];
        struct sch_ranked opt;
        const char *dim = NULL;
        r->stats.visited++;
        if (!rank_one(req, &ask, &sp, c, &opt, &dim)) {
            r->stats.exhausted++;
            if (strcmp(dim, SCH_DIM_CPU) == 0) {
                r->stats.exhausted_cpu++;
            } else if (strcmp(dim, SCH_DIM_MEMORY) == 0) {
                r->stats.exhausted_memory++;
            } else {
                r->stats.exhausted_disk++;
            }
            continue;
        }
        if (opt.final_score <= SKIP_THRESHOLD && n_skipped < MAX_SKIP) {
            skipped[n_skipped++] = opt;
            continue;
        }
        take(r, &opt);
    }
    for (size_t i = 0; i < n_skipped && r->stats.scored < r->limit; i++) {
        take(r, &skipped[i]);
    }

    cv_free(order);
    spreads_free(&sp);
    return r;
}

void sch_ranker_free(struct sch_ranker *r)
{
    if (r == NULL) {
        return;
    }
    cv_free(r->scored);
    cv_free(r);
}

bool sch_ranker_best(const struct sch_ranker *r, struct sch_ranked *out)
{
    if (!r->has_best) {
        return false;
    }
    *out = r->best;
    return true;
}

size_t sch_ranker_limit(const struct sch_ranker *r)
{
    return r->limit;
}

void sch_ranker_stats(const struct sch_ranker *r, struct sch_rank_stats *out)
{
    *out = r->stats;
}

const struct sch_ranked *sch_ranker_scored(const struct sch_ranker *r, size_t i)
{
    assert(i < r->stats.scored);
    return &r->scored[i];
}
