/*
 * feasible: the node-local feasibility rules of Nomad's scheduler, and a
 * checker that remembers constraint verdicts per computed node class.
 *
 * How it works: sch_feasibility_new() flattens the job's, the group's and
 * the group's tasks' constraints into one array, parses each operand once,
 * precomputes the reason string and whether the constraint escapes the
 * computed class, and compiles literal regexps once (Nomad caches them per
 * evaluation too). distinct_* constraints go to a separate list. A check
 * then runs the cheap per-node rules, looks the node's class up in an
 * open-addressing hash table of verdicts (index of the first failing
 * class-wide constraint, or "all hold"), and finally runs the escaped
 * constraints on the node itself.
 *
 * What it does not do: resources, ports, devices, volumes (ranking and the
 * plan verifier own those), distinct_* (needs the allocations placed), and
 * computing ComputedClass (the node arrives with it).
 */
#include "schedd/feasible.h"

#include <assert.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/constraint.h"
#include "common/mem.h"
#include "schedd/version.h"

/* ---- datacenters and pools ------------------------------------------------ */

bool sch_dc_match(const char *pattern, const char *dc)
{
    /* Greedy glob with one backtrack point: the last '*' seen. */
    const char *star = NULL, *resume = NULL;
    while (*dc) {
        if (*pattern == '*') {
            star = pattern++;
            resume = dc;
        } else if (*pattern == *dc) {
            pattern++;
            dc++;
        } else if (star) {
            pattern = star + 1;
            dc = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

bool sch_dcs_match(const struct cv_strings *patterns, const char *dc)
{
    for (size_t i = 0; i < patterns->len; i++) {
        if (sch_dc_match(patterns->items[i], dc)) {
            return true;
        }
    }
    return false;
}

bool sch_pool_match(const char *job_pool, const char *node_pool)
{
    if (!job_pool || !job_pool[0]) {
        job_pool = CV_NODE_POOL_DEFAULT;
    }
    if (!node_pool || !node_pool[0]) {
        node_pool = CV_NODE_POOL_DEFAULT;
    }
    return strcmp(job_pool, SCH_NODE_POOL_ALL) == 0 || strcmp(job_pool, node_pool) == 0;
}

/* ---- targets --------------------------------------------------------------- */

/* cv_strmap_get for a key that is not NUL-terminated (a slice of a target):
 * binary search over the sorted map. */
static const char *map_get(const struct cv_strmap *map, const char *key, size_t len)
{
    size_t lo = 0, hi = map->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = map->items[mid].key;
        int c = strncmp(k, key, len);
        if (c == 0 && k[len] != '\0') {
            c = 1; /* k is longer, so it sorts after key */
        }
        if (c == 0) {
            return map->items[mid].value;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static const char *nonnull(const char *s)
{
    return s ? s : "";
}

const char *sch_resolve_target(const struct cv_node *node, const char *target)
{
    if (strncmp(target, "${", 2) != 0) {
        return target;
    }
    if (strcmp(target, "${node.unique.id}") == 0) {
        return nonnull(node->id);
    }
    if (strcmp(target, "${node.unique.name}") == 0) {
        return nonnull(node->name);
    }
    if (strcmp(target, "${node.datacenter}") == 0) {
        return nonnull(node->datacenter);
    }
    if (strcmp(target, "${node.class}") == 0) {
        return nonnull(node->node_class);
    }
    if (strcmp(target, "${node.pool}") == 0) {
        return nonnull(node->node_pool);
    }
    size_t len = strlen(target);
    if (target[len - 1] != '}') {
        return NULL;
    }
    if (strncmp(target, "${attr.", 7) == 0) {
        return map_get(&node->attributes, target + 7, len - 8);
    }
    if (strncmp(target, "${meta.", 7) == 0) {
        return map_get(&node->meta, target + 7, len - 8);
    }
    return NULL;
}

bool sch_target_escapes(const char *target)
{
    return strncmp(target, "${node.unique.", 14) == 0 ||
           strncmp(target, "${attr.unique.", 14) == 0 || strncmp(target, "${meta.unique.", 14) == 0;
}

/* ---- operators ------------------------------------------------------------- */

static bool parse_i64(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static bool check_order(enum cv_operand op, const char *l, const char *r)
{
    int cmp;
    long long li, ri;
    double lf, rf;
    if (parse_i64(l, &li) && parse_i64(r, &ri)) {
        cmp = li < ri ? -1 : li > ri;
    } else if (parse_f64(l, &lf) && parse_f64(r, &rf)) {
        cmp = lf < rf ? -1 : lf > rf;
    } else {
        cmp = strcmp(l, r);
    }
    switch (op) {
    case CV_OP_LT:
        return cmp < 0;
    case CV_OP_LE:
        return cmp <= 0;
    case CV_OP_GT:
        return cmp > 0;
    default:
        return cmp >= 0;
    }
}

/* Next item of a comma-separated list, trimmed: *s advances past it. */
static bool next_item(const char **s, const char **item, size_t *len)
{
    if (!*s) {
        return false;
    }
    const char *p = *s;
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    *s = comma ? comma + 1 : NULL;
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    *item = p;
    *len = n;
    return true;
}

static bool set_has(const char *set, const char *item, size_t len)
{
    const char *s = set, *it;
    size_t n;
    while (next_item(&s, &it, &n)) {
        if (n == len && memcmp(it, item, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool check_set(const char *l, const char *r, bool all)
{
    const char *s = r, *it;
    size_t n;
    while (next_item(&s, &it, &n)) {
        bool has = set_has(l, it, n);
        if (has != all) {
            return has; /* any: found one; all: one is missing */
        }
    }
    return all;
}

static bool check_regexp(const regex_t *compiled, const char *l, const char *r)
{
    if (compiled) {
        return regexec(compiled, l, 0, NULL, 0) == 0;
    }
    regex_t re;
    if (regcomp(&re, r, REG_EXTENDED | REG_NOSUB) != 0) {
        return false;
    }
    bool match = regexec(&re, l, 0, NULL, 0) == 0;
    regfree(&re);
    return match;
}

/* The node-local operators; `compiled` is RTarget's regexp when the caller
 * has it already. */
static bool check_op(const struct cv_node *node, const struct cv_constraint *c, enum cv_operand op,
                     const regex_t *compiled)
{
    const char *l = sch_resolve_target(node, c->ltarget ? c->ltarget : "");
    const char *r = sch_resolve_target(node, c->rtarget ? c->rtarget : "");
    bool both = l && r;
    switch (op) {
    case CV_OP_EQ:
        return both && strcmp(l, r) == 0;
    case CV_OP_NE:
        return !(both ? strcmp(l, r) == 0 : l == r);
    case CV_OP_LT:
    case CV_OP_LE:
    case CV_OP_GT:
    case CV_OP_GE:
        return both && check_order(op, l, r);
    case CV_OP_REGEXP:
        return both && check_regexp(compiled, l, r);
    case CV_OP_SET_CONTAINS:
    case CV_OP_SET_CONTAINS_ALL:
        return both && check_set(l, r, true);
    case CV_OP_SET_CONTAINS_ANY:
        return both && check_set(l, r, false);
    case CV_OP_VERSION:
        return both && sch_version_match(SCH_VERSION_GO, l, r);
    case CV_OP_SEMVER:
        return both && sch_version_match(SCH_VERSION_SEMVER, l, r);
    case CV_OP_IS_SET:
        return l != NULL;
    case CV_OP_IS_NOT_SET:
        return l == NULL;
    case CV_OP_DISTINCT_HOSTS:
    case CV_OP_DISTINCT_PROPERTY:
        break;
    }
    assert(!"distinct_* reached a node-local check");
    return false;
}

static bool needs_alloc_context(enum cv_operand op)
{
    return op == CV_OP_DISTINCT_HOSTS || op == CV_OP_DISTINCT_PROPERTY;
}

int sch_check_constraint(const struct cv_node *node, const struct cv_constraint *c, bool *ok,
                         struct cv_err *err)
{
    enum cv_operand op;
    if (cv_operand_parse(c->operand ? c->operand : "", &op) != 0) {
        return cv_err_setf(err, CV_EINVAL, "unknown constraint operator \"%s\"",
                           c->operand ? c->operand : "");
    }
    if (needs_alloc_context(op)) {
        return SCH_NEEDS_ALLOC_CONTEXT;
    }
    *ok = check_op(node, c, op, NULL);
    return SCH_NODE_LOCAL;
}

const char *sch_constraint_string(const struct cv_constraint *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s %s %s", nonnull(c->ltarget), nonnull(c->operand), nonnull(c->rtarget));
    return buf;
}

/* ---- the checker ----------------------------------------------------------- */

struct fconstraint
{
    const struct cv_constraint *c; /* borrowed from the job */
    enum cv_operand op;
    bool escapes;  /* checked per node, never cached */
    bool compiled; /* re holds RTarget, a literal regexp */
    regex_t re;
    char *text; /* the reason string; owned */
};

/* A class's verdict over the class-wide constraints. */
#define VERDICT_FEASIBLE SIZE_MAX

struct class_entry
{
    char *cls; /* owned; NULL marks an empty slot */
    uint64_t hash;
    size_t verdict; /* index of the first failing constraint, or VERDICT_FEASIBLE */
};

struct sch_feasibility
{
    const struct cv_job *job;
    const struct cv_task_group *tg;
    struct fconstraint *cons; /* job's, group's, then each task's, in order */
    size_t ncons;
    const struct cv_constraint **deferred;
    size_t ndeferred;
    struct class_entry *table; /* open addressing, linear probing */
    size_t cap;                /* a power of two, or 0 */
    size_t used;
    struct sch_class_stats stats;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static struct class_entry *slot_for(struct class_entry *table, size_t cap, const char *cls,
                                    uint64_t hash)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (!table[i].cls || (table[i].hash == hash && strcmp(table[i].cls, cls) == 0)) {
            return &table[i];
        }
    }
}

static void table_grow(struct sch_feasibility *f)
{
    size_t cap = f->cap ? f->cap * 2 : 16;
    struct class_entry *table = cv_calloc(cap, sizeof *table);
    for (size_t i = 0; i < f->cap; i++) {
        if (f->table[i].cls) {
            *slot_for(table, cap, f->table[i].cls, f->table[i].hash) = f->table[i];
        }
    }
    cv_free(f->table);
    f->table = table;
    f->cap = cap;
}

static int add_constraints(struct sch_feasibility *f, const struct cv_constraint *items, size_t len,
                           struct cv_err *err)
{
    for (size_t i = 0; i < len; i++) {
        const struct cv_constraint *c = &items[i];
        enum cv_operand op;
        if (cv_operand_parse(nonnull(c->operand), &op) != 0) {
            return cv_err_setf(err, CV_EINVAL, "unknown constraint operator \"%s\"",
                               nonnull(c->operand));
        }
        if (needs_alloc_context(op)) {
            f->deferred[f->ndeferred++] = c;
            continue;
        }
        struct fconstraint *fc = &f->cons[f->ncons++];
        fc->c = c;
        fc->op = op;
        fc->escapes =
            sch_target_escapes(nonnull(c->ltarget)) || sch_target_escapes(nonnull(c->rtarget));
        const char *r = nonnull(c->rtarget);
        if (op == CV_OP_REGEXP && strncmp(r, "${", 2) != 0) {
            /* An invalid pattern stays uncompiled and fails again per
             * check, which makes the constraint false (validation refuses
             * such jobs before they get here). */
            fc->compiled = regcomp(&fc->re, r, REG_EXTENDED | REG_NOSUB) == 0;
        }
        char buf[1024];
        fc->text = cv_strdup(sch_constraint_string(c, buf, sizeof buf));
    }
    return 0;
}

int sch_feasibility_new(const struct cv_job *job, const struct cv_task_group *tg,
                        struct sch_feasibility **out, struct cv_err *err)
{
    *out = NULL;
    size_t total = job->constraints.len + tg->constraints.len;
    for (size_t i = 0; i < tg->tasks.len; i++) {
        total += tg->tasks.items[i].constraints.len;
    }
    struct sch_feasibility *f = cv_calloc(1, sizeof *f);
    f->job = job;
    f->tg = tg;
    f->cons = cv_calloc(total ? total : 1, sizeof *f->cons);
    f->deferred = cv_calloc(total ? total : 1, sizeof *f->deferred);
    int rc = add_constraints(f, job->constraints.items, job->constraints.len, err);
    if (rc == 0) {
        rc = add_constraints(f, tg->constraints.items, tg->constraints.len, err);
    }
    for (size_t i = 0; rc == 0 && i < tg->tasks.len; i++) {
        const struct cv_task *t = &tg->tasks.items[i];
        rc = add_constraints(f, t->constraints.items, t->constraints.len, err);
    }
    if (rc != 0) {
        sch_feasibility_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void sch_feasibility_free(struct sch_feasibility *f)
{
    if (!f) {
        return;
    }
    for (size_t i = 0; i < f->ncons; i++) {
        if (f->cons[i].compiled) {
            regfree(&f->cons[i].re);
        }
        cv_free(f->cons[i].text);
    }
    for (size_t i = 0; i < f->cap; i++) {
        cv_free(f->table[i].cls);
    }
    cv_free(f->table);
    cv_free(f->cons);
    cv_free(f->deferred);
    cv_free(f);
}

static bool fc_holds(const struct fconstraint *fc, const struct cv_node *node)
{
    return check_op(node, fc->c, fc->op, fc->compiled ? &fc->re : NULL);
}

/* Go's strconv.ParseBool, true side: what a "driver.<name>" attribute of an
 * older client says when the node has no Drivers entry. */
static bool attr_true(const char *v)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    for (size_t i = 0; v && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(v, yes[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool driver_ok(const struct cv_node *node, const char *driver)
{
    for (size_t i = 0; i < node->drivers.len; i++) {
        const struct cv_driver_info *d = &node->drivers.items[i];
        if (strcmp(d->key, driver) == 0) {
            return d->detected && d->healthy;
        }
    }
    char key[256];
    int n = snprintf(key, sizeof key, "driver.%s", driver);
    return n > 0 && (size_t)n < sizeof key && attr_true(cv_strmap_get(&node->attributes, key));
}

/* The class-wide verdict: the first non-escaped constraint that fails. */
static size_t class_verdict(const struct sch_feasibility *f, const struct cv_node *node)
{
    for (size_t i = 0; i < f->ncons; i++) {
        if (!f->cons[i].escapes && !fc_holds(&f->cons[i], node)) {
            return i;
        }
    }
    return VERDICT_FEASIBLE;
}

static size_t cached_verdict(struct sch_feasibility *f, const struct cv_node *node)
{
    const char *cls = node->computed_class;
    if (!cls || !cls[0]) {
        f->stats.uncached++;
        return class_verdict(f, node);
    }
    uint64_t hash = hash_str(cls);
    if (f->cap) {
        struct class_entry *e = slot_for(f->table, f->cap, cls, hash);
        if (e->cls) {
            f->stats.hits++;
            return e->verdict;
        }
    }
    f->stats.misses++;
    size_t verdict = class_verdict(f, node);
    if ((f->used + 1) * 2 > f->cap) {
        table_grow(f);
    }
    struct class_entry *e = slot_for(f->table, f->cap, cls, hash);
    e->cls = cv_strdup(cls);
    e->hash = hash;
    e->verdict = verdict;
    f->used++;
    return verdict;
}

static bool fail(const char **reason, const char *why)
{
    if (reason) {
        *reason = why;
    }
    return false;
}

bool sch_feasibility_check(struct sch_feasibility *f, const struct cv_node *node,
                           const char **reason)
{
    if (reason) {
        *reason = NULL;
    }
    if (strcmp(nonnull(node->status), CV_NODE_STATUS_READY) != 0) {
        return fail(reason, SCH_REASON_NOT_READY);
    }
    if (strcmp(nonnull(node->scheduling_eligibility), CV_NODE_ELIGIBLE) != 0) {
        return fail(reason, SCH_REASON_INELIGIBLE);
    }
    if (node->drain_strategy) {
        return fail(reason, SCH_REASON_DRAINING);
    }
    if (!sch_dcs_match(&f->job->datacenters, nonnull(node->datacenter))) {
        return fail(reason, SCH_REASON_DATACENTER);
    }
    if (!sch_pool_match(f->job->node_pool, node->node_pool)) {
        return fail(reason, SCH_REASON_NODE_POOL);
    }
    for (size_t i = 0; i < f->tg->tasks.len; i++) {
        const char *driver = f->tg->tasks.items[i].driver;
        if (driver && driver[0] && !driver_ok(node, driver)) {
            return fail(reason, SCH_REASON_DRIVERS);
        }
    }
    size_t verdict = cached_verdict(f, node);
    if (verdict != VERDICT_FEASIBLE) {
        return fail(reason, f->cons[verdict].text);
    }
    for (size_t i = 0; i < f->ncons; i++) {
        if (f->cons[i].escapes && !fc_holds(&f->cons[i], node)) {
            return fail(reason, f->cons[i].text);
        }
    }
    return true;
}

void sch_feasibility_stats(const struct sch_feasibility *f, struct sch_class_stats *out)
{
    *out = f->stats;
}

size_t sch_feasibility_deferred_count(const struct sch_feasibility *f)
{
    return f->ndeferred;
}

const struct cv_constraint *sch_feasibility_deferred(const struct sch_feasibility *f, size_t i)
{
    assert(i < f->ndeferred);
    return f->deferred[i];
}
