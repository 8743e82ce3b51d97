/*
 * place: the placement engine of one evaluation (see place.h).
 */
#include "schedd/place.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/constraint.h"
#include "common/mem.h"
#include "schedd/feasible.h"
#include "schedd/smap.h"

/* Nomad's LimitIterator: up to MAX_SKIP options scoring at most
 * SKIP_THRESHOLD are set aside while better ones may follow. */
#define MAX_SKIP       3
#define SKIP_THRESHOLD 0.0
/* Nomad keeps the score breakdown of this many nodes per placement. */
#define SCORE_META_KEEP 5

static const char *nonnull(const char *s)
{
    return s != NULL ? s : "";
}

/* ---- the engine ----------------------------------------------------------------- */

/* A candidate node and what is known of its usage. */
struct slot
{
    const struct cv_node *node;
    bool loaded;
    struct sch_resources used; /* live allocations not stopped, plus the plan's */
    int64_t count;             /* the same, counted */
    /* The feasibility verdict for the selected group, valid while
     * verdict_group equals the stack's group_epoch. */
    uint32_t verdict_group;
    bool verdict_ok;
    const char *verdict_reason; /* borrowed from the checker */
};

/* A placement the plan made: where, and for which group. */
struct placed_rec
{
    size_t slot;
    size_t group;
};

/* A distinct_property constraint of the selected group and the number of
 * live allocations (job- or group-wide) per value of its property. */
struct dprop
{
    const struct cv_constraint *c;
    bool job_scope;
    size_t limit;
    struct sch_smap counts;
    char reason[160];
};

/* Class eligibility flags. */
#define CLASS_ELIGIBLE   1u
#define CLASS_INELIGIBLE 2u

struct sch_stack
{
    const struct sch_state *st;
    const struct cv_job *job;
    enum sch_fit_algorithm algorithm;
    bool score_metadata;

    struct slot *slots;
    size_t n, cap_slots;
    size_t *order;
    size_t cursor;
    struct sch_smap by_node; /* node ID -> slot */
    struct sch_smap stopped; /* allocation IDs the plan stops */

    size_t n_groups;
    uint32_t *counts; /* [slot * n_groups + group]: live allocations of the job */
    const struct cv_allocation *const *job_allocs;
    size_t n_job_allocs;
    struct placed_rec *placed;
    size_t n_placed, cap_placed;

    /* Metric context, the same for every placement. */
    int64_t nodes_in_pool;
    struct cv_intmap available; /* candidates by datacenter */

    struct sch_smap classes; /* computed class -> CLASS_* flags */
    bool escaped;
    uint64_t visits;

    /* The selected group; group_epoch counts selections (never 0 once
     * selected) so that slots' cached verdicts of an older group are stale. */
    uint32_t group_epoch;
    const struct cv_task_group *tg;
    size_t group;
    size_t limit;
    struct sch_feasibility *feas;
    struct sch_spreads *spreads;
    const struct cv_constraint *distinct_hosts;
    bool distinct_hosts_job;
    char distinct_hosts_reason[160];
    struct dprop *dprops;
    size_t n_dprops;
};

static size_t group_index(const struct cv_job *job, const char *name)
{
    for (size_t g = 0; job != NULL && name != NULL && g < job->task_groups.len; g++) {
        if (strcmp(job->task_groups.items[g].name, name) == 0) {
            return g;
        }
    }
    return SIZE_MAX;
}

bool sch_node_candidate(const struct cv_job *job, const struct cv_node *n)
{
    return strcmp(nonnull(n->status), CV_NODE_STATUS_READY) == 0 &&
           strcmp(nonnull(n->scheduling_eligibility), CV_NODE_ELIGIBLE) == 0 &&
           n->drain_strategy == NULL && sch_dcs_match(&job->datacenters, nonnull(n->datacenter)) &&
           sch_pool_match(job->node_pool, n->node_pool);
}

static void collect_node(void *arg, const struct cv_node *n)
{
    struct sch_stack *s = arg;
    if (sch_pool_match(s->job->node_pool, n->node_pool)) {
        s->nodes_in_pool++;
    }
    if (!sch_node_candidate(s->job, n)) {
        return;
    }
    if (s->n == s->cap_slots) {
        s->cap_slots = s->cap_slots != 0 ? s->cap_slots * 2 : 64;
        s->slots = cv_reallocarray(s->slots, s->cap_slots, sizeof *s->slots);
    }
    s->slots[s->n] = (struct slot){.node = n};
    *sch_smap_put(&s->by_node, n->id) = s->n;
    s->n++;
    const char *dc = nonnull(n->datacenter);
    cv_intmap_set(&s->available, dc, cv_intmap_get(&s->available, dc, 0) + 1);
}

static bool alloc_live(const struct sch_stack *s, const struct cv_allocation *a)
{
    return !sch_alloc_terminal(a) && sch_smap_get(&s->stopped, a->id) == NULL;
}

/* Adds (delta +1) or removes (-1) a job allocation from the per-node counts. */
static void count_job_alloc(struct sch_stack *s, const struct cv_allocation *a, int delta)
{
    size_t g = group_index(s->job, a->task_group);
    size_t *slot = a->node_id != NULL ? sch_smap_get(&s->by_node, a->node_id) : NULL;
    if (g == SIZE_MAX || slot == NULL) {
        return;
    }
    uint32_t *c = &s->counts[*slot * s->n_groups + g];
    if (delta > 0) {
        (*c)++;
    } else if (*c > 0) {
        (*c)--;
    }
}

struct sch_stack *sch_stack_new(const struct sch_state *st, const struct cv_job *job,
                                const struct cv_allocation *const *job_allocs, size_t n,
                                uint64_t seed, enum sch_fit_algorithm algorithm,
                                bool score_metadata)
{
    struct sch_stack *s = cv_calloc(1, sizeof *s);
    s->st = st;
    s->job = job;
    s->algorithm = algorithm;
    s->score_metadata = score_metadata;
    s->job_allocs = job_allocs;
    s->n_job_allocs = n;
    st->each_node(st->ctx, collect_node, s);
    s->order = cv_calloc(s->n != 0 ? s->n : 1, sizeof *s->order);
    sch_shuffle(seed, s->order, s->n);
    s->n_groups = job->task_groups.len != 0 ? job->task_groups.len : 1;
    s->counts = cv_calloc(s->n * s->n_groups + 1, sizeof *s->counts);
    for (size_t i = 0; i < n; i++) {
        if (!sch_alloc_terminal(job_allocs[i])) {
            count_job_alloc(s, job_allocs[i], +1);
        }
    }
    return s;
}

static void free_group(struct sch_stack *s)
{
    sch_feasibility_free(s->feas);
    s->feas = NULL;
    sch_spreads_free(s->spreads);
    s->spreads = NULL;
    for (size_t i = 0; i < s->n_dprops; i++) {
        sch_smap_free(&s->dprops[i].counts);
    }
    cv_free(s->dprops);
    s->dprops = NULL;
    s->n_dprops = 0;
    s->distinct_hosts = NULL;
    s->tg = NULL;
}

void sch_stack_free(struct sch_stack *s)
{
    if (s == NULL) {
        return;
    }
    free_group(s);
    cv_free(s->slots);
    cv_free(s->order);
    cv_free(s->counts);
    cv_free(s->placed);
    sch_smap_free(&s->by_node);
    sch_smap_free(&s->stopped);
    sch_smap_free(&s->classes);
    for (size_t i = 0; i < s->available.len; i++) {
        cv_free(s->available.items[i].key);
    }
    cv_free(s->available.items);
    cv_free(s);
}

void sch_stack_stop(struct sch_stack *s, const struct cv_allocation *alloc)
{
    if (sch_smap_get(&s->stopped, alloc->id) != NULL || sch_alloc_terminal(alloc)) {
        return;
    }
    size_t *slot = alloc->node_id != NULL ? sch_smap_get(&s->by_node, alloc->node_id) : NULL;
    /* Stops come before any node's usage is loaded (loading skips them). */
    assert(slot == NULL || !s->slots[*slot].loaded);
    *sch_smap_put(&s->stopped, alloc->id) = 1;
    if (slot != NULL && group_index(s->job, alloc->task_group) != SIZE_MAX) {
        count_job_alloc(s, alloc, -1);
    }
}

/* ---- selecting a group ---------------------------------------------------------- */

static bool in_array(const struct cv_constraint *c, const struct cv_constraint *items, size_t len)
{
    return len > 0 && c >= items && c < items + len;
}

static void dprop_count(struct sch_stack *s, struct dprop *d, const struct cv_node *node,
                        size_t group)
{
    if (node == NULL || (!d->job_scope && group != s->group)) {
        return;
    }
    const char *v = sch_resolve_target(node, d->c->ltarget);
    if (v != NULL) {
        (*sch_smap_put(&d->counts, v))++;
    }
}

static void add_dprop(struct sch_stack *s, const struct cv_constraint *c, bool job_scope)
{
    struct dprop *d = &s->dprops[s->n_dprops++];
    memset(d, 0, sizeof *d);
    d->c = c;
    d->job_scope = job_scope;
    long long limit = 1;
    if (c->rtarget != NULL && c->rtarget[0] != '\0') {
        char *end = NULL;
        limit = strtoll(c->rtarget, &end, 10);
        if (end == c->rtarget || *end != '\0' || limit < 1) {
            limit = 1; /* validation refuses these; be safe */
        }
    }
    d->limit = (size_t)limit;
    sch_constraint_string(c, d->reason, sizeof d->reason);
    for (size_t i = 0; i < s->n_job_allocs; i++) {
        const struct cv_allocation *a = s->job_allocs[i];
        if (alloc_live(s, a)) {
            size_t g = group_index(s->job, a->task_group);
            if (g != SIZE_MAX) {
                dprop_count(s, d, s->st->node(s->st->ctx, a->node_id), g);
            }
        }
    }
    for (size_t i = 0; i < s->n_placed; i++) {
        dprop_count(s, d, s->slots[s->placed[i].slot].node, s->placed[i].group);
    }
}

static bool targets_escape(const struct cv_constraint *items, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (sch_target_escapes(nonnull(items[i].ltarget)) ||
            sch_target_escapes(nonnull(items[i].rtarget))) {
            return true;
        }
    }
    return false;
}

int sch_stack_select_group(struct sch_stack *s, const struct cv_task_group *tg, struct cv_err *err)
{
    free_group(s);
    int rc = sch_feasibility_new(s->job, tg, &s->feas, err);
    if (rc != 0) {
        return rc;
    }
    s->tg = tg;
    s->group = group_index(s->job, tg->name);
    assert(s->group != SIZE_MAX);

    bool escaped = targets_escape(s->job->constraints.items, s->job->constraints.len) ||
                   targets_escape(tg->constraints.items, tg->constraints.len);
    for (size_t i = 0; i < tg->tasks.len; i++) {
        const struct cv_task *t = &tg->tasks.items[i];
        escaped = escaped || targets_escape(t->constraints.items, t->constraints.len);
    }
    s->escaped = s->escaped || escaped;

    size_t nd = sch_feasibility_deferred_count(s->feas);
    s->dprops = cv_calloc(nd != 0 ? nd : 1, sizeof *s->dprops);
    for (size_t i = 0; i < nd; i++) {
        const struct cv_constraint *c = sch_feasibility_deferred(s->feas, i);
        bool job_scope = in_array(c, s->job->constraints.items, s->job->constraints.len);
        enum cv_operand op = CV_OP_DISTINCT_PROPERTY;
        if (cv_operand_parse(c->operand, &op) == 0 && op == CV_OP_DISTINCT_HOSTS) {
            /* A job-wide distinct_hosts wins over the group's. */
            if (s->distinct_hosts == NULL || job_scope) {
                s->distinct_hosts = c;
                s->distinct_hosts_job = job_scope;
                sch_constraint_string(c, s->distinct_hosts_reason, sizeof s->distinct_hosts_reason);
            }
        } else {
            add_dprop(s, c, job_scope);
        }
    }

    /* Spreads count the group's live allocations, then the plan's. */
    bool has_spreads = tg->spreads.len > 0 || s->job->spreads.len > 0;
    if (has_spreads) {
        struct sch_placed *placed = cv_calloc(s->n_job_allocs + 1, sizeof *placed);
        size_t np = 0;
        for (size_t i = 0; i < s->n_job_allocs; i++) {
            const struct cv_allocation *a = s->job_allocs[i];
            if (alloc_live(s, a)) {
                placed[np++] = (struct sch_placed){a, s->st->node(s->st->ctx, a->node_id)};
            }
        }
        s->spreads = sch_spreads_new(s->job, tg, placed, np);
        cv_free(placed);
        for (size_t i = 0; i < s->n_placed; i++) {
            if (s->placed[i].group == s->group) {
                sch_spreads_add(s->spreads, s->slots[s->placed[i].slot].node);
            }
        }
    }
    bool special = has_spreads || sch_has_affinities(s->job, tg);
    s->limit = sch_rank_limit(s->job->type, s->n, special, tg->count);
    s->group_epoch++;
    return 0;
}

/* ---- one node ------------------------------------------------------------------- */

static void note_class(struct sch_stack *s, const struct cv_node *node, bool eligible)
{
    const char *cls = node->computed_class;
    if (cls == NULL || cls[0] == '\0') {
        return;
    }
    *sch_smap_put(&s->classes, cls) |= eligible ? CLASS_ELIGIBLE : CLASS_INELIGIBLE;
}

/* Feasibility, then distinct_hosts and distinct_property. */
static bool slot_feasible(struct sch_stack *s, size_t i, const char **reason)
{
    struct slot *sl = &s->slots[i];
    /* The node's own verdict does not change during an evaluation: checked
     * once per group, then remembered (the cursor comes back to a node many
     * times when a group has many placements). */
    if (sl->verdict_group != s->group_epoch) {
        sl->verdict_ok = sch_feasibility_check(s->feas, sl->node, &sl->verdict_reason);
        sl->verdict_group = s->group_epoch;
        note_class(s, sl->node, sl->verdict_ok);
    }
    if (!sl->verdict_ok) {
        *reason = sl->verdict_reason;
        return false;
    }
    if (s->distinct_hosts != NULL) {
        const uint32_t *c = &s->counts[i * s->n_groups];
        uint32_t n = 0;
        if (s->distinct_hosts_job) {
            for (size_t g = 0; g < s->n_groups; g++) {
                n += c[g];
            }
        } else {
            n = c[s->group];
        }
        if (n > 0) {
            *reason = s->distinct_hosts_reason;
            return false;
        }
    }
    for (size_t k = 0; k < s->n_dprops; k++) {
        struct dprop *d = &s->dprops[k];
        const char *v = sch_resolve_target(sl->node, d->c->ltarget);
        size_t *have = v != NULL ? sch_smap_get(&d->counts, v) : NULL;
        if (v == NULL || (have != NULL && *have >= d->limit)) {
            *reason = d->reason;
            return false;
        }
    }
    return true;
}

static void add_res(struct sch_resources *to, const struct sch_resources *r)
{
    to->cpu += r->cpu;
    to->memory_mb += r->memory_mb;
    to->disk_mb += r->disk_mb;
}

static void load_alloc(void *arg, const struct cv_allocation *a)
{
    void **args = arg;
    struct sch_stack *s = args[0];
    struct slot *sl = args[1];
    if (!alloc_live(s, a)) {
        return;
    }
    struct sch_resources r;
    sch_alloc_resources(a, &r);
    add_res(&sl->used, &r);
    sl->count++;
}

static void load_slot(struct sch_stack *s, struct slot *sl)
{
    if (sl->loaded) {
        return;
    }
    void *args[2] = {s, sl};
    s->st->each_node_alloc(s->st->ctx, sl->node->id, load_alloc, args);
    sl->loaded = true;
}

struct option
{
    size_t slot;
    double binpack, anti_affinity, affinity, spread, final_score;
    bool has_anti_affinity, has_affinity, has_spread;
};

/* Fit and scores of one more allocation asking `ask` on slot i. */
static bool score_slot(struct sch_stack *s, size_t i, const struct sch_resources *ask,
                       struct option *out, const char **dimension)
{
    struct slot *sl = &s->slots[i];
    load_slot(s, sl);
    const struct cv_node *node = sl->node;
    if (node->node_max_allocs > 0 && sl->count + 1 > node->node_max_allocs) {
        *dimension = SCH_DIM_MAX_ALLOCS;
        return false;
    }
    struct sch_usage u;
    sch_node_usage(node, NULL, 0, ask, &u);
    add_res(&u.used, &sl->used);
    if (!sch_fits(&u, dimension)) {
        return false;
    }
    memset(out, 0, sizeof *out);
    out->slot = i;
    out->binpack = sch_binpack_score(&u, s->algorithm);
    double sum = out->binpack;
    int n = 1;
    uint32_t hits = s->counts[i * s->n_groups + s->group];
    if (hits > 0) {
        out->anti_affinity = sch_anti_affinity_score(hits, s->tg->count);
        out->has_anti_affinity = true;
        sum += out->anti_affinity;
        n++;
    }
    if (sch_affinity_score(s->job, s->tg, node, &out->affinity)) {
        out->has_affinity = true;
        sum += out->affinity;
        n++;
    }
    if (s->spreads != NULL && sch_spreads_score(s->spreads, node, &out->spread)) {
        out->has_spread = true;
        sum += out->spread;
        n++;
    }
    out->final_score = sum / n;
    return true;
}

static void intmap_add(struct cv_intmap *m, const char *key, int64_t delta)
{
    cv_intmap_set(m, key, cv_intmap_get(m, key, 0) + delta);
}

static void metric_context(const struct sch_stack *s, struct cv_alloc_metric *m)
{
    if (m->node_pool == NULL || m->node_pool[0] == '\0') {
        cv_set_string(&m->node_pool, nonnull(s->job->node_pool));
        m->nodes_in_pool = s->nodes_in_pool;
        for (size_t i = 0; i < s->available.len; i++) {
            cv_intmap_set(&m->nodes_available, s->available.items[i].key,
                          s->available.items[i].value);
        }
    }
}

static void metric_filtered(struct cv_alloc_metric *m, const struct cv_node *node,
                            const char *reason)
{
    m->nodes_filtered++;
    if (node->node_class != NULL && node->node_class[0] != '\0') {
        intmap_add(&m->class_filtered, node->node_class, 1);
    }
    intmap_add(&m->constraint_filtered, reason, 1);
}

static void metric_exhausted(struct cv_alloc_metric *m, const struct cv_node *node,
                             const char *dimension)
{
    m->nodes_exhausted++;
    if (node->node_class != NULL && node->node_class[0] != '\0') {
        intmap_add(&m->class_exhausted, node->node_class, 1);
    }
    intmap_add(&m->dimension_exhausted, dimension, 1);
}

static void record_placement(struct sch_stack *s, size_t i, const struct sch_resources *ask)
{
    struct slot *sl = &s->slots[i];
    add_res(&sl->used, ask);
    sl->count++;
    s->counts[i * s->n_groups + s->group]++;
    if (s->spreads != NULL) {
        sch_spreads_add(s->spreads, sl->node);
    }
    for (size_t k = 0; k < s->n_dprops; k++) {
        dprop_count(s, &s->dprops[k], sl->node, s->group);
    }
    if (s->n_placed == s->cap_placed) {
        s->cap_placed = s->cap_placed != 0 ? s->cap_placed * 2 : 64;
        s->placed = cv_reallocarray(s->placed, s->cap_placed, sizeof *s->placed);
    }
    s->placed[s->n_placed++] = (struct placed_rec){i, s->group};
}

/* ---- score metadata --------------------------------------------------------------- */

static void push_score(struct cv_node_score_meta *sm, const char *name, double v)
{
    size_t n = sm->scores.len;
    sm->scores.items = cv_reallocarray(sm->scores.items, n + 1, sizeof *sm->scores.items);
    sm->scores.items[n] = (struct cv_double_kv){.key = cv_strdup(name), .value = v};
    sm->scores.len = n + 1;
}

static int cmp_option(const void *pa, const void *pb)
{
    const struct option *a = pa;
    const struct option *b = pb;
    return (a->final_score < b->final_score) - (a->final_score > b->final_score);
}

static void keep_score_meta(const struct sch_stack *s, struct option *opts, size_t n,
                            struct cv_alloc_metric *m)
{
    if (n > 1) {
        qsort(opts, n, sizeof *opts, cmp_option);
    }
    for (size_t i = 0; i < n && i < SCORE_META_KEEP; i++) {
        struct cv_node_score_meta sm = {.node_id = cv_strdup(s->slots[opts[i].slot].node->id),
                                        .norm_score = opts[i].final_score};
        push_score(&sm, SCH_SCORE_BINPACK, opts[i].binpack);
        if (opts[i].has_anti_affinity) {
            push_score(&sm, SCH_SCORE_ANTI_AFFINITY, opts[i].anti_affinity);
        }
        if (opts[i].has_affinity) {
            push_score(&sm, SCH_SCORE_AFFINITY, opts[i].affinity);
        }
        if (opts[i].has_spread) {
            push_score(&sm, SCH_SCORE_SPREAD, opts[i].spread);
        }
        size_t len = m->score_meta_data.len;
        m->score_meta_data.items =
            cv_reallocarray(m->score_meta_data.items, len + 1, sizeof *m->score_meta_data.items);
        m->score_meta_data.items[len] = sm;
        m->score_meta_data.len = len + 1;
    }
}

/* ---- placing ------------------------------------------------------------------------ */

const struct cv_node *sch_stack_place(struct sch_stack *s, const struct sch_resources *ask,
                                      struct cv_alloc_metric *metric)
{
    assert(s->tg != NULL);
    metric_context(s, metric);
    struct option *scored = cv_calloc(s->limit + MAX_SKIP + 1, sizeof *scored);
    size_t n_scored = 0;
    struct option skipped[MAX_SKIP];
    size_t n_skipped = 0;
    for (size_t v = 0; v < s->n && n_scored < s->limit; v++) {
        size_t i = s->order[s->cursor];
        s->cursor = (s->cursor + 1) % s->n;
        s->visits++;
        metric->nodes_evaluated++;
        const char *reason = NULL;
        if (!slot_feasible(s, i, &reason)) {
            metric_filtered(metric, s->slots[i].node, reason);
            continue;
        }
        struct option opt;
        const char *dim = NULL;
        if (!score_slot(s, i, ask, &opt, &dim)) {
            metric_exhausted(metric, s->slots[i].node, dim);
            continue;
        }
        if (opt.final_score <= SKIP_THRESHOLD && n_skipped < MAX_SKIP) {
            skipped[n_skipped++] = opt;
            continue;
        }
        scored[n_scored++] = opt;
    }
    for (size_t k = 0; k < n_skipped && n_scored < s->limit; k++) {
        scored[n_scored++] = skipped[k];
    }
    const struct cv_node *chosen = NULL;
    if (n_scored > 0) {
        size_t best = 0;
        for (size_t k = 1; k < n_scored; k++) {
            if (scored[k].final_score > scored[best].final_score) {
                best = k;
            }
        }
        chosen = s->slots[scored[best].slot].node;
        record_placement(s, scored[best].slot, ask);
        if (s->score_metadata) {
            keep_score_meta(s, scored, n_scored, metric);
        }
    }
    cv_free(scored);
    return chosen;
}

bool sch_stack_place_on(struct sch_stack *s, const struct cv_node *node,
                        const struct sch_resources *ask, struct cv_alloc_metric *metric,
                        bool *filtered)
{
    assert(s->tg != NULL);
    metric_context(s, metric);
    *filtered = false;
    metric->nodes_evaluated++;
    s->visits++;
    size_t *slot = sch_smap_get(&s->by_node, node->id);
    const char *reason = NULL;
    if (slot == NULL) {
        const char *why = SCH_REASON_NOT_READY;
        sch_feasibility_check(s->feas, node, &why); /* the first basic rule failing */
        metric_filtered(metric, node, why != NULL ? why : SCH_REASON_NOT_READY);
        *filtered = true;
        return false;
    }
    if (!slot_feasible(s, *slot, &reason)) {
        metric_filtered(metric, node, reason);
        *filtered = true;
        return false;
    }
    struct option opt;
    const char *dim = NULL;
    if (!score_slot(s, *slot, ask, &opt, &dim)) {
        metric_exhausted(metric, node, dim);
        return false;
    }
    record_placement(s, *slot, ask);
    return true;
}

size_t sch_stack_candidates(const struct sch_stack *s)
{
    return s->n;
}

uint64_t sch_stack_visits(const struct sch_stack *s)
{
    return s->visits;
}

static int cmp_bool_kv(const void *pa, const void *pb)
{
    const struct cv_bool_kv *a = pa;
    const struct cv_bool_kv *b = pb;
    return strcmp(a->key, b->key);
}

void sch_stack_class_eligibility(const struct sch_stack *s, struct sch_outcome *out)
{
    for (size_t i = 0; i < s->classes.cap; i++) {
        const struct sch_smap_entry *e = &s->classes.items[i];
        if (e->key == NULL) {
            continue;
        }
        size_t n = out->class_eligibility.len;
        out->class_eligibility.items = cv_reallocarray(out->class_eligibility.items, n + 1,
                                                       sizeof *out->class_eligibility.items);
        out->class_eligibility.items[n] = (struct cv_bool_kv){
            .key = cv_strdup(e->key), .value = (e->value & CLASS_ELIGIBLE) != 0};
        out->class_eligibility.len = n + 1;
    }
    if (out->class_eligibility.len > 1) {
        qsort(out->class_eligibility.items, out->class_eligibility.len,
              sizeof *out->class_eligibility.items, cmp_bool_kv);
    }
    out->escaped_computed_class = out->escaped_computed_class || s->escaped;
}
