/*
 * plan_overlay: the plans proposed to Raft but not yet applied, as
 * plan_evaluate reads them (plan.h has the protocol: add, commit, drop,
 * prune).
 *
 * One entry per result proposed, in ticket order, with the Raft index it
 * was applied at once committed. The overlay stores, for each placement,
 * only what the check's passes read (ID, node, whether it counts, its sums
 * and ports), not a copy of the allocation. An entry's stops are sorted by
 * ID; its placements by (node, ID), so a node's are one range, and again
 * by ID (by_id) for lookups. The structs are in plan_internal.h, as
 * plan_check.c reads them.
 */
#include "regiond/plan.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "regiond/plan_internal.h"

/* ---- the overlay -------------------------------------------------------------------------- */

struct plan_overlay *plan_overlay_new(void)
{
    return cv_calloc(1, sizeof(struct plan_overlay));
}

static void entry_free(struct ov_entry *e)
{
    for (size_t i = 0; i < e->n_stops; i++) {
        cv_free(e->stops[i]);
    }
    for (size_t i = 0; i < e->n_allocs; i++) {
        struct ov_alloc *a = &e->allocs[i];
        for (size_t j = 0; j < a->n_ports; j++) {
            cv_free(a->ports[j].ip);
        }
        cv_free(a->ports);
        cv_free(a->id);
        cv_free(a->node_id);
    }
    cv_free(e->stops);
    cv_free(e->allocs);
    cv_free(e->by_id);
}

void plan_overlay_free(struct plan_overlay *ov)
{
    if (!ov) {
        return;
    }
    for (size_t i = 0; i < ov->n; i++) {
        entry_free(&ov->entries[i]);
    }
    cv_free(ov->entries);
    cv_free(ov);
}

struct port_list
{
    struct ov_port *items;
    size_t n, cap;
};

static void collect_port(void *ctx, const char *ip, int64_t port)
{
    struct port_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->items = cv_reallocarray(l->items, l->cap, sizeof *l->items);
    }
    l->items[l->n++] = (struct ov_port){cv_strdup(plan__str_or_empty(ip)), port};
}

static int cmp_ov_alloc(const void *a, const void *b)
{
    const struct ov_alloc *x = a, *y = b;
    int c = strcmp(x->node_id, y->node_id);
    return c ? c : strcmp(x->id, y->id);
}

static int cmp_ov_alloc_id(const void *a, const void *b)
{
    const struct ov_alloc *x = *(const struct ov_alloc *const *)a;
    const struct ov_alloc *y = *(const struct ov_alloc *const *)b;
    return strcmp(x->id, y->id);
}

uint64_t plan_overlay_add(struct plan_overlay *ov, const struct plan_result *res)
{
    if (ov->n == ov->cap) {
        ov->cap = ov->cap ? ov->cap * 2 : 4;
        ov->entries = cv_reallocarray(ov->entries, ov->cap, sizeof *ov->entries);
    }
    struct ov_entry *e = &ov->entries[ov->n++];
    memset(e, 0, sizeof *e);
    e->ticket = ++ov->last_ticket;
    if (res->n_stops) {
        e->stops = cv_calloc(res->n_stops, sizeof *e->stops);
        for (size_t i = 0; i < res->n_stops; i++) {
            e->stops[i] = cv_strdup(res->stops[i].id);
        }
        e->n_stops = res->n_stops;
        qsort(e->stops, e->n_stops, sizeof *e->stops, plan__cmp_str_ptr);
    }
    if (res->n_allocs) {
        e->allocs = cv_calloc(res->n_allocs, sizeof *e->allocs);
        for (size_t i = 0; i < res->n_allocs; i++) {
            const struct cv_allocation *a = res->allocs[i];
            struct ov_alloc *o = &e->allocs[i];
            struct port_list ports = {NULL, 0, 0};
            o->id = cv_strdup(a->id);
            o->node_id = cv_strdup(a->node_id);
            o->counts = plan__placement_counts(a);
            o->use = plan__alloc_usage(a);
            plan__each_alloc_port(a, collect_port, &ports);
            o->ports = ports.items;
            o->n_ports = ports.n;
        }
        e->n_allocs = res->n_allocs;
        qsort(e->allocs, e->n_allocs, sizeof *e->allocs, cmp_ov_alloc);
        e->by_id = cv_calloc(e->n_allocs, sizeof *e->by_id);
        for (size_t i = 0; i < e->n_allocs; i++) {
            e->by_id[i] = &e->allocs[i];
        }
        qsort(e->by_id, e->n_allocs, sizeof *e->by_id, cmp_ov_alloc_id);
    }
    return e->ticket;
}

static struct ov_entry *entry_find(struct plan_overlay *ov, uint64_t ticket)
{
    for (size_t i = 0; i < ov->n; i++) {
        if (ov->entries[i].ticket == ticket) {
            return &ov->entries[i];
        }
    }
    return NULL;
}

static void entry_remove(struct plan_overlay *ov, size_t i)
{
    entry_free(&ov->entries[i]);
    memmove(&ov->entries[i], &ov->entries[i + 1], (ov->n - i - 1) * sizeof *ov->entries);
    ov->n--;
}

void plan_overlay_commit(struct plan_overlay *ov, uint64_t ticket, uint64_t index)
{
    struct ov_entry *e = entry_find(ov, ticket);
    if (e) {
        assert(index > 0);
        e->commit_index = index;
    }
}

void plan_overlay_drop(struct plan_overlay *ov, uint64_t ticket)
{
    for (size_t i = 0; i < ov->n; i++) {
        if (ov->entries[i].ticket == ticket) {
            entry_remove(ov, i);
            return;
        }
    }
}

void plan_overlay_prune(struct plan_overlay *ov, uint64_t index)
{
    size_t i = 0;
    while (i < ov->n) {
        const struct ov_entry *e = &ov->entries[i];
        if (e->commit_index && e->commit_index <= index) {
            entry_remove(ov, i);
        } else {
            i++;
        }
    }
}

size_t plan_overlay_len(const struct plan_overlay *ov)
{
    return ov->n;
}

bool plan__entry_stops(const struct ov_entry *e, const char *id)
{
    size_t lo = 0, hi = e->n_stops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(e->stops[mid], id);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

const struct ov_alloc *plan__entry_placement(const struct ov_entry *e, const char *id)
{
    size_t lo = 0, hi = e->n_allocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(e->by_id[mid]->id, id);
        if (c == 0) {
            return e->by_id[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The first of e's placements on node_id (or e->n_allocs). */
size_t plan__entry_node_start(const struct ov_entry *e, const char *node_id)
{
    size_t lo = 0, hi = e->n_allocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e->allocs[mid].node_id, node_id) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}
