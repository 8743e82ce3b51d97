/*
 * plan_check: the check of a plan against a state snapshot seen through
 * the overlay, node by node (plan_evaluate).
 *
 * How a check works. The plan's stops and placements are sorted once by
 * (node, kind, allocation ID), which groups them by node and gives each
 * node's stop IDs and placement IDs as sorted runs to search. For every
 * node the plan places on, the allocations that will run there after the
 * plan are counted in three passes, none of which builds a list:
 *
 *   1. the state's allocations of the node (a range scan of the
 *      allocs-by-node index), skipping the terminal ones, those an overlay
 *      entry stops or rewrites, and those the plan stops or replaces;
 *   2. the overlay's placements on the node (a range of each entry's
 *      placements, sorted by node), skipping those a later entry stops or
 *      rewrites and those the plan stops or replaces;
 *   3. the plan's own placements on the node.
 *
 * CPU, memory and disk are summed; host ports go into one bitmap per host
 * IP (8 KiB each, made only when a port is seen), pre-set with the node's
 * reserved ports; a port met twice is a collision.
 */
#include "regiond/plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/plan_internal.h"
#include "regiond/state/state.h"

#define PORT_COUNT (CV_PORT_MAX + 1)
#define PORT_BYTES (PORT_COUNT / 8)

/* ---- checking one node ------------------------------------------------------------------- */

/* The overlay entries a snapshot does not contain yet, in ticket order. */
struct ov_view
{
    const struct state_snap *snap;
    const struct ov_entry **active;
    size_t n_active;
};

/* True when an active entry from `from` on stops or rewrites allocation id:
 * its version in the state (or in an earlier entry) is no longer current. */
static bool superseded(const struct ov_view *v, size_t from, const char *id)
{
    for (size_t i = from; i < v->n_active; i++) {
        if (plan__entry_stops(v->active[i], id) || plan__entry_placement(v->active[i], id)) {
            return true;
        }
    }
    return false;
}

/* True when an allocation of that ID will exist once the overlay is
 * applied (for stops of allocations the state does not have yet). */
static bool overlay_places(const struct ov_view *v, const char *id)
{
    for (size_t i = 0; i < v->n_active; i++) {
        if (plan__entry_placement(v->active[i], id)) {
            return true;
        }
    }
    return false;
}

struct ipbits
{
    const char *ip; /* borrowed from an allocation or the overlay */
    uint8_t *bits;  /* PORT_BYTES */
};

/* The sums and ports of one node's allocations after the plan. */
struct fit
{
    const struct cv_node *node;
    int64_t count;
    struct usage use;
    struct ipbits *ips;
    size_t n_ips, cap_ips;
    uint8_t *reserved; /* the node's ReservedHostPorts, NULL when none */
    bool reserved_read;
    const char *alloc_id;         /* the allocation being added, for messages */
    char reason[PLAN_REASON_MAX]; /* the first port problem, "" when none */
};

static void bit_set(uint8_t *bits, unsigned port)
{
    bits[port / 8] = (uint8_t)(bits[port / 8] | (1u << (port % 8)));
}

static bool bit_test(const uint8_t *bits, unsigned port)
{
    return (bits[port / 8] >> (port % 8)) & 1u;
}

/* Parses "22,80,8000-8100" into bits. Validated when the node registered;
 * false if it does not parse anyway. */
static bool parse_port_ranges(const char *s, uint8_t *bits)
{
    const char *p = s;
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        char *end;
        if (*p < '0' || *p > '9') {
            return false;
        }
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9') {
                return false;
            }
            hi = strtoul(p, &end, 10);
            p = end;
        }
        while (*p == ' ') {
            p++;
        }
        if (hi < lo || hi > CV_PORT_MAX || (*p && *p != ',')) {
            return false;
        }
        for (unsigned long port = lo; port <= hi; port++) {
            bit_set(bits, (unsigned)port);
        }
        if (*p == ',') {
            p++;
        }
    }
    return true;
}

static void fit_failf(struct fit *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fit_failf(struct fit *f, const char *fmt, ...)
{
    if (f->reason[0]) {
        return; /* the first problem is the one reported */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
}

/* The port bitmap of a host IP, made on first use with the node's
 * reserved ports set. Nomad reserves them on the addresses of the node's
 * networks; Caravan on every address an allocation names (a client's
 * reserved ports are not for tasks, whatever the address). */
static uint8_t *fit_bits(struct fit *f, const char *ip)
{
    for (size_t i = 0; i < f->n_ips; i++) {
        if (strcmp(f->ips[i].ip, ip) == 0) {
            return f->ips[i].bits;
        }
    }
    if (!f->reserved_read) {
        f->reserved_read = true;
        const struct cv_node_reserved_resources *r = f->node->reserved_resources;
        if (r && r->networks.reserved_host_ports[0]) {
            f->reserved = cv_calloc(1, PORT_BYTES);
            if (!parse_port_ranges(r->networks.reserved_host_ports, f->reserved)) {
                fit_failf(f,
                          "reserved node port collision: ReservedHostPorts \"%.32s\" does not "
                          "parse",
                          r->networks.reserved_host_ports);
            }
        }
    }
    if (f->n_ips == f->cap_ips) {
        f->cap_ips = f->cap_ips ? f->cap_ips * 2 : 2;
        f->ips = cv_reallocarray(f->ips, f->cap_ips, sizeof *f->ips);
    }
    struct ipbits *b = &f->ips[f->n_ips++];
    b->ip = ip;
    b->bits = f->reserved ? cv_malloc(PORT_BYTES) : cv_calloc(1, PORT_BYTES);
    if (f->reserved) {
        memcpy(b->bits, f->reserved, PORT_BYTES);
    }
    return b->bits;
}

/* Port 0 is "none assigned" (an unassigned dynamic port), not a host
 * port, and is skipped. */
static void fit_port(void *ctx, const char *ip, int64_t port)
{
    struct fit *f = ctx;
    if (port == 0) {
        return;
    }
    if (port < 0 || port > CV_PORT_MAX) {
        fit_failf(f, "reserved alloc port collision: invalid port %" PRId64 " in alloc %s", port,
                  f->alloc_id);
        return;
    }
    ip = plan__str_or_empty(ip);
    uint8_t *bits = fit_bits(f, ip);
    if (bit_test(bits, (unsigned)port)) {
        fit_failf(f,
                  "reserved alloc port collision: collision when reserving port for alloc %s: "
                  "port %" PRId64 " already in use%s%s",
                  f->alloc_id, port, ip[0] ? " on " : "", ip);
        return;
    }
    bit_set(bits, (unsigned)port);
}

static void fit_add_use(struct fit *f, struct usage u)
{
    f->count++;
    f->use.cpu = plan__sat_add(f->use.cpu, u.cpu);
    f->use.memory_mb = plan__sat_add(f->use.memory_mb, u.memory_mb);
    f->use.disk_mb = plan__sat_add(f->use.disk_mb, u.disk_mb);
}

static void fit_add_alloc(struct fit *f, const struct cv_allocation *a)
{
    fit_add_use(f, plan__alloc_usage(a));
    f->alloc_id = a->id;
    plan__each_alloc_port(a, fit_port, f);
}

static void fit_add_ov(struct fit *f, const struct ov_alloc *a)
{
    fit_add_use(f, a->use);
    f->alloc_id = a->id;
    for (size_t i = 0; i < a->n_ports; i++) {
        fit_port(f, a->ports[i].ip, a->ports[i].port);
    }
}

static void fit_release(struct fit *f)
{
    for (size_t i = 0; i < f->n_ips; i++) {
        cv_free(f->ips[i].bits);
    }
    cv_free(f->ips);
    cv_free(f->reserved);
}

/* Nomad's AllocsFit after the sums: the count, then each dimension of
 * NodeResources minus ReservedResources, then ports. Returns true, or
 * false with the reason in f->reason. */
static bool fit_check(struct fit *f)
{
    const struct cv_node *n = f->node;
    const struct cv_node_resources *nr = n->node_resources;
    const struct cv_node_reserved_resources *rr = n->reserved_resources;
    int64_t cpu = nr ? nr->cpu.cpu_shares : 0;
    int64_t mem = nr ? nr->memory.memory_mb : 0;
    int64_t disk = nr ? nr->disk.disk_mb : 0;
    if (rr) {
        cpu = plan__sat_add(cpu, -rr->cpu.cpu_shares);
        mem = plan__sat_add(mem, -rr->memory.memory_mb);
        disk = plan__sat_add(disk, -rr->disk.disk_mb);
    }
    char port_reason[PLAN_REASON_MAX];
    memcpy(port_reason, f->reason, sizeof port_reason);
    f->reason[0] = '\0';
    if (n->node_max_allocs > 0 && f->count > n->node_max_allocs) {
        fit_failf(f, "max allocation exceeded");
    } else if (f->use.cpu > cpu) {
        fit_failf(f, "cpu");
    } else if (f->use.memory_mb > mem) {
        fit_failf(f, "memory");
    } else if (f->use.disk_mb > disk) {
        fit_failf(f, "disk");
    } else {
        memcpy(f->reason, port_reason, sizeof port_reason);
    }
    return f->reason[0] == '\0';
}

/* An entry of the plan, for grouping by node. */
struct item
{
    const char *node;
    const char *id;
    int kind; /* ITEM_STOP or ITEM_ALLOC */
    size_t idx;
};

enum
{
    ITEM_STOP = 0,
    ITEM_ALLOC = 1
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->node, y->node);
    if (c == 0) {
        c = x->kind - y->kind;
    }
    if (c == 0) {
        c = strcmp(x->id, y->id);
    }
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* True when items[lo, hi), sorted by ID, hold id. */
static bool run_has(const struct item *items, size_t lo, size_t hi, const char *id)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(items[mid].id, id);
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

/* One node's part of the plan: items [stops, allocs) are its stops,
 * [allocs, end) its placements, each run sorted by allocation ID. */
struct group
{
    const char *node_id;
    size_t stops, allocs, end;
};

enum verdict
{
    ACCEPT,            /* everything */
    REJECT_PLACEMENTS, /* the stops still apply */
    REJECT_ALL,        /* the node does not fit: nothing of it */
};

static bool is_status(const char *s, const char *status)
{
    return strcmp(s, status) == 0;
}

/* Nomad's isValidForDownNode / isValidForDisconnectedNode: a node that is
 * down takes updates marking allocations lost or unknown, a disconnected
 * one only unknown. */
static bool only_marks(const struct plan *p, const struct item *items, const struct group *g,
                       bool lost_too)
{
    for (size_t i = g->allocs; i < g->end; i++) {
        const char *cs = p->allocs[items[i].idx]->client_status;
        if (!is_status(cs, CV_ALLOC_CLIENT_UNKNOWN) &&
            !(lost_too && is_status(cs, CV_ALLOC_CLIENT_LOST))) {
            return false;
        }
    }
    return true;
}

/* Counts what will run on a ready node after the plan, into f; returns how
 * many of the plan's placements there are in-place updates of allocations
 * already running there. */
static size_t count_node(const struct ov_view *v, const struct plan *p, const struct item *items,
                         const struct group *g, struct fit *f)
{
    size_t in_place = 0;

    /* 1. The state's allocations of the node. */
    struct state_iter it;
    state_iter_allocs_by_node(v->snap, g->node_id, &it);
    const struct cv_allocation *a;
    while ((a = state_iter_next(&it)) != NULL) {
        if (!plan__state_alloc_counts(a) || superseded(v, 0, a->id)) {
            continue;
        }
        if (run_has(items, g->allocs, g->end, a->id)) {
            in_place++;
            continue;
        }
        if (run_has(items, g->stops, g->allocs, a->id)) {
            continue;
        }
        fit_add_alloc(f, a);
    }

    /* 2. The overlay's placements on the node, each entry's version until
     * a later entry changes it. */
    for (size_t e = 0; e < v->n_active; e++) {
        const struct ov_entry *en = v->active[e];
        for (size_t i = plan__entry_node_start(en, g->node_id);
             i < en->n_allocs && strcmp(en->allocs[i].node_id, g->node_id) == 0; i++) {
            const struct ov_alloc *o = &en->allocs[i];
            if (!o->counts || superseded(v, e + 1, o->id)) {
                continue;
            }
            if (run_has(items, g->allocs, g->end, o->id)) {
                in_place++;
                continue;
            }
            if (run_has(items, g->stops, g->allocs, o->id)) {
                continue;
            }
            fit_add_ov(f, o);
        }
    }

    /* 3. The plan's placements. */
    for (size_t i = g->allocs; i < g->end; i++) {
        const struct cv_allocation *pa = p->allocs[items[i].idx];
        if (plan__placement_counts(pa)) {
            fit_add_alloc(f, pa);
        }
    }
    return in_place;
}

/* Nomad's evaluateNodePlan for one node; reason filled unless ACCEPT. */
static enum verdict check_node(const struct ov_view *v, const struct plan *p,
                               const struct item *items, const struct group *g,
                               char reason[PLAN_REASON_MAX])
{
    size_t n_place = g->end - g->allocs;
    if (n_place == 0) {
        return ACCEPT; /* a node that only loses allocations always fits */
    }
    const struct cv_node *node = state_node(v->snap, g->node_id);
    if (!node) {
        snprintf(reason, PLAN_REASON_MAX, "node does not exist");
        return REJECT_PLACEMENTS;
    }
    if (is_status(node->status, CV_NODE_STATUS_DOWN)) {
        if (only_marks(p, items, g, true)) {
            return ACCEPT;
        }
        snprintf(reason, PLAN_REASON_MAX, "node is down and contains invalid updates");
        return REJECT_PLACEMENTS;
    }
    if (is_status(node->status, CV_NODE_STATUS_DISCONNECTED)) {
        if (only_marks(p, items, g, false)) {
            return ACCEPT;
        }
        snprintf(reason, PLAN_REASON_MAX, "node is disconnected and contains invalid updates");
        return REJECT_PLACEMENTS;
    }
    if (!is_status(node->status, CV_NODE_STATUS_READY)) {
        snprintf(reason, PLAN_REASON_MAX, "node is not ready for placements");
        return REJECT_PLACEMENTS;
    }
    /* A placement without a Job of its own shares the job of the
     * allocation it replaces, or takes its job's current version from the
     * state; the FSM refuses the whole entry when there is neither (the job
     * was purged meanwhile). */
    for (size_t i = g->allocs; i < g->end; i++) {
        const struct cv_allocation *pa = p->allocs[items[i].idx];
        if (!pa->job && !state_job(v->snap, pa->job_id) && !state_alloc(v->snap, pa->id) &&
            !overlay_places(v, pa->id)) {
            snprintf(reason, PLAN_REASON_MAX, "job \"%.64s\" does not exist", pa->job_id);
            return REJECT_PLACEMENTS;
        }
    }

    struct fit f;
    memset(&f, 0, sizeof f);
    f.node = node;
    f.reason[0] = '\0';
    size_t in_place = count_node(v, p, items, g, &f);
    enum verdict verdict = ACCEPT;
    if (in_place < n_place && !is_status(node->scheduling_eligibility, CV_NODE_ELIGIBLE)) {
        snprintf(reason, PLAN_REASON_MAX, "node is not eligible");
        verdict = REJECT_PLACEMENTS;
    } else if (!fit_check(&f)) {
        snprintf(reason, PLAN_REASON_MAX, "%s", f.reason);
        verdict = REJECT_ALL;
    }
    fit_release(&f);
    return verdict;
}

/* ---- the whole plan ---------------------------------------------------------------------- */

static int cmp_alloc_id(const void *a, const void *b)
{
    const struct cv_allocation *x = *(const struct cv_allocation *const *)a;
    const struct cv_allocation *y = *(const struct cv_allocation *const *)b;
    return strcmp(x->id, y->id);
}

/* CV_EINVAL when one allocation is placed twice (the FSM would write one
 * of them, the check would count both). */
static int check_placed_once(const struct plan *p, struct cv_err *err)
{
    if (p->n_allocs < 2) {
        return 0;
    }
    const struct cv_allocation **sorted = cv_calloc(p->n_allocs, sizeof *sorted);
    memcpy(sorted, p->allocs, p->n_allocs * sizeof *sorted);
    qsort(sorted, p->n_allocs, sizeof *sorted, cmp_alloc_id);
    int rc = 0;
    for (size_t i = 1; i < p->n_allocs && rc == 0; i++) {
        if (strcmp(sorted[i]->id, sorted[i - 1]->id) == 0) {
            rc = cv_err_setf(err, CV_EINVAL, "plan places allocation %s twice", sorted[i]->id);
        }
    }
    cv_free(sorted);
    return rc;
}

static void add_rejection(struct plan_result *out, const char *node_id, const char *reason)
{
    struct plan_rejection *r = &out->rejected[out->n_rejected++];
    r->node_id = node_id;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

/* Adds the stops of a group to the result, leaving out those of
 * allocations that exist neither in the state nor in the overlay. */
static void accept_stops(const struct ov_view *v, const struct plan *p, const struct item *items,
                         const struct group *g, struct plan_result *out)
{
    for (size_t i = g->stops; i < g->allocs; i++) {
        const struct plan_stop *s = &p->stops[items[i].idx];
        if (!state_alloc(v->snap, s->alloc_id) && !overlay_places(v, s->alloc_id)) {
            out->stops_gone++;
            continue;
        }
        out->stops[out->n_stops++] = (struct fsm_alloc_stop){
            .id = s->alloc_id,
            .desired_description = s->desired_description,
            .client_status = s->client_status,
            .followup_eval_id = s->followup_eval_id,
            .modify_time = 0,
        };
    }
}

static void accept_allocs(const struct plan *p, const struct item *items, const struct group *g,
                          struct plan_result *out)
{
    for (size_t i = g->allocs; i < g->end; i++) {
        out->allocs[out->n_allocs++] = p->allocs[items[i].idx];
    }
}

int plan_evaluate(const struct state_snap *snap, const struct plan_overlay *ov,
                  const struct plan *p, struct plan_result *out, struct cv_err *err)
{
    plan_result_init(out);
    uint64_t snap_index = state_snap_index(snap);
    if (snap_index < p->snapshot_index) {
        return cv_err_setf(err, CV_EINVAL,
                           "the state is at index %" PRIu64
                           ", older than the plan's snapshot "
                           "index %" PRIu64 ": wait for the state to reach it",
                           snap_index, p->snapshot_index);
    }
    int rc = check_placed_once(p, err);
    if (rc) {
        return rc;
    }

    /* The overlay as this snapshot needs it: entries not applied in it. */
    struct ov_view v = {snap, NULL, 0};
    uint64_t seen_commit = 0;
    uint64_t pending = 0;
    if (ov && ov->n) {
        v.active = cv_calloc(ov->n, sizeof *v.active);
        for (size_t i = 0; i < ov->n; i++) {
            const struct ov_entry *e = &ov->entries[i];
            if (e->commit_index && e->commit_index <= snap_index) {
                continue;
            }
            v.active[v.n_active++] = e;
            if (e->commit_index > seen_commit) {
                seen_commit = e->commit_index;
            }
            if (!e->commit_index) {
                pending = e->ticket;
            }
        }
    }

    size_t n_items = p->n_stops + p->n_allocs;
    struct item *items = cv_calloc(n_items ? n_items : 1, sizeof *items);
    for (size_t i = 0; i < p->n_stops; i++) {
        items[i] = (struct item){p->stops[i].node_id, p->stops[i].alloc_id, ITEM_STOP, i};
    }
    for (size_t i = 0; i < p->n_allocs; i++) {
        items[p->n_stops + i] =
            (struct item){p->allocs[i]->node_id, p->allocs[i]->id, ITEM_ALLOC, i};
    }
    qsort(items, n_items, sizeof *items, cmp_item);

    out->eval_id = p->eval_id;
    out->snapshot_index = snap_index;
    out->allocs = cv_calloc(p->n_allocs ? p->n_allocs : 1, sizeof *out->allocs);
    out->stops = cv_calloc(p->n_stops ? p->n_stops : 1, sizeof *out->stops);
    out->rejected = cv_calloc(n_items ? n_items : 1, sizeof *out->rejected);

    for (size_t start = 0; start < n_items;) {
        struct group g = {items[start].node, start, start, start};
        while (g.end < n_items && strcmp(items[g.end].node, g.node_id) == 0) {
            g.end++;
        }
        g.allocs = g.stops;
        while (g.allocs < g.end && items[g.allocs].kind == ITEM_STOP) {
            g.allocs++;
        }
        start = g.end;

        char reason[PLAN_REASON_MAX] = "";
        enum verdict verdict = check_node(&v, p, items, &g, reason);
        if (verdict != ACCEPT) {
            add_rejection(out, g.node_id, reason);
            if (p->all_at_once) {
                /* Gang semantics: nothing commits; no point going on. */
                out->n_allocs = 0;
                out->n_stops = 0;
                out->stops_gone = 0;
                break;
            }
        }
        if (verdict != REJECT_ALL) {
            accept_stops(&v, p, items, &g, out);
        }
        if (verdict == ACCEPT) {
            accept_allocs(p, items, &g, out);
        }
    }

    if (out->n_rejected) {
        out->refresh_index = snap_index > seen_commit ? snap_index : seen_commit;
    }
    out->pending_ticket = pending;
    cv_free(items);
    cv_free(v.active);
    return 0;
}
