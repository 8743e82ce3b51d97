/*
 * safety_run: one seed of test_sched_safety (see safety_run.h and the
 * test's header comment). Everything happens on this thread, one step at
 * a time, in an order drawn from the seed: the concurrency is in the
 * interleaving, not in threads, so a failing seed replays exactly.
 */
#include "safety_run.h"

#include "testutil.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/model.h"
#include "regiond/fsm.h"
#include "regiond/plan.h"
#include "regiond/sched_state.h"
#include "regiond/state/state.h"
#include "safety_internal.h"
#include "sched_sim.h"
#include "schedd/sched.h"

void safety_stats_add(struct safety_stats *into, const struct safety_stats *s)
{
    into->steps += s->steps;
    into->plans += s->plans;
    into->rejected_plans += s->rejected_plans;
    into->partial += s->partial;
    into->pipelined += s->pipelined;
    into->direct += s->direct;
    into->retries += s->retries;
    into->requeues += s->requeues;
    into->chaos += s->chaos;
    into->blocked_ample += s->blocked_ample;
    into->placed += s->placed;
    into->name_gaps += s->name_gaps;
    into->starved_ample += s->starved_ample;
    into->digest ^= s->digest;
}

bool safety_tight(uint64_t seed)
{
    return seed % 4 == 3;
}

bool safety_failf(struct sim *s, const char *fmt, ...)
{
    if (!s->failed) {
        int n = snprintf(s->why, s->why_len, "step %" PRIu64 ", index %" PRIu64 ": ", s->step,
                         s->w.index);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->why + n, s->why_len - (size_t)n, fmt, ap);
        va_end(ap);
        s->failed = true;
    }
    return false;
}

const char *safety_tail(const char *id)
{
    size_t n = strlen(id);
    return n > 12 ? id + n - 12 : id;
}

void safety_trace(struct sim *s, const char *fmt, ...)
{
    if (!s->w.verbose) {
        return;
    }
    printf("[%" PRIu64 " @%" PRIu64 "] ", s->step, s->w.index);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ---- generation ----------------------------------------------------------------------------- */

static void gen_node(struct sim *s, struct sim_node_spec *ns)
{
    struct sim_rng *r = &s->rng;
    if (s->tight) {
        ns->cpu = 1000 + 250 * (int)sim_below(r, 9);
        ns->mem = 1024 * (1 + (int)sim_below(r, 4));
        ns->disk = 5000 + 1000 * (int)sim_below(r, 6);
    } else {
        ns->cpu = 2000 + 500 * (int)sim_below(r, 13);
        ns->mem = 2048 * (1 + (int)sim_below(r, 8));
        ns->disk = 20000 + 10000 * (int)sim_below(r, 9);
    }
    bool reserved = sim_chance(r, 25);
    ns->res_cpu = reserved ? 100 * (1 + (int)sim_below(r, 5)) : 0;
    ns->res_mem = reserved ? 128 * (1 + (int)sim_below(r, 4)) : 0;
    ns->res_disk = reserved ? 500 * (1 + (int)sim_below(r, 4)) : 0;
    ns->max_allocs = sim_chance(r, 10) ? 2 + (int)sim_below(r, 5) : 0;
    ns->dc = sim_below(r, 3);
    ns->rack = sim_below(r, 3);
    ns->klass = sim_below(r, 3);
    ns->ready = !sim_chance(r, 6);
    ns->eligible = !sim_chance(r, 6);
}

static void gen_job(struct sim *s, struct sim_job_spec *js)
{
    struct sim_rng *r = &s->rng;
    js->batch = sim_chance(r, 30);
    js->priority = 20 + (int)sim_below(r, 71);
    js->dcs = sim_chance(r, 60) ? SIM_DCS_ANY : sim_chance(r, 50) ? SIM_DCS_TWO : SIM_DCS_FIRST;
    js->rack_r1 = sim_chance(r, 25);
    js->linux_only = sim_chance(r, 20);
    js->n_groups = 1 + sim_below(r, 2);
    for (unsigned g = 0; g < js->n_groups; g++) {
        struct sim_group_spec *gs = &js->groups[g];
        gs->count = s->tight ? 2 + (int)sim_below(r, 10) : 1 + (int)sim_below(r, 8);
        gs->cpu = 100 + 50 * (int)sim_below(r, 9);
        gs->mem = 64 * (1 + (int)sim_below(r, 8));
        gs->disk = 150 + 50 * (int)sim_below(r, 8);
        gs->distinct_hosts = sim_chance(r, 20);
    }
}

/* Makes an ample seed's job fit: halves its largest group, then lifts its
 * restrictions, then shrinks its asks. */
static void shrink(struct sim_job_spec *js)
{
    struct sim_group_spec *big = &js->groups[0];
    for (unsigned g = 1; g < js->n_groups; g++) {
        if (js->groups[g].count > big->count) {
            big = &js->groups[g];
        }
    }
    if (big->count > 1) {
        big->count /= 2;
    } else if (js->rack_r1 || js->dcs != SIM_DCS_ANY || big->distinct_hosts) {
        js->rack_r1 = false;
        js->dcs = SIM_DCS_ANY;
        for (unsigned g = 0; g < js->n_groups; g++) {
            js->groups[g].distinct_hosts = false;
        }
    } else {
        for (unsigned g = 0; g < js->n_groups; g++) {
            js->groups[g].cpu = 100, js->groups[g].mem = 64, js->groups[g].disk = 150;
        }
    }
}

void safety_enqueue(struct sim *s, const char *eval_id, int job)
{
    assert_false(s->queue_len == sizeof s->queue / sizeof s->queue[0]);
    struct queued *q = &s->queue[s->queue_len++];
    snprintf(q->eval_id, sizeof q->eval_id, "%s", eval_id);
    q->job = job;
}

static void registered(struct sim *s, unsigned n)
{
    cv_job_free(s->jobs[n]);
    s->jobs[n] = NULL;
    s->jobs_applied++;
}

static void setup(struct sim *s)
{
    struct sim_rng *r = &s->rng;
    s->n_nodes = s->tight ? 4 + sim_below(r, 9) : 20 + sim_below(r, 21);
    s->n_jobs = s->tight ? 5 + sim_below(r, 6) : 5 + sim_below(r, 8);
    s->k = 2 + sim_below(r, MAX_WORKERS - 1);
    s->chaos_left = 2 + sim_below(r, 5);
    struct cv_node **nodes = cv_calloc(s->n_nodes, sizeof *nodes);
    const struct sim_node_spec tspec = {.cpu = 1, .mem = 1, .disk = 1, .res_cpu = 1};
    struct cv_node *tmpl = sim_mk_node(0, &tspec);
    for (unsigned n = 0; n < s->n_nodes; n++) {
        struct sim_node_spec ns;
        gen_node(s, &ns);
        nodes[n] = sim_mk_node_from(tmpl, n, &ns);
    }
    cv_node_free(tmpl);
    struct sim_job_spec specs[MAX_JOBS];
    for (unsigned j = 0; j < s->n_jobs; j++) {
        gen_job(s, &specs[j]);
        s->jobs[j] = sim_mk_job(j, &specs[j]);
    }
    char why[600];
    size_t bad;
    for (int i = 0; !s->tight && i < 1000; i++) {
        if (sim_ample((const struct cv_node *const *)nodes, s->n_nodes,
                      (const struct cv_job *const *)s->jobs, s->n_jobs, AMPLE_PCT, &bad, why,
                      sizeof why)) {
            break;
        }
        shrink(&specs[bad]);
        cv_job_free(s->jobs[bad]);
        s->jobs[bad] = sim_mk_job((unsigned)bad, &specs[bad]);
    }
    for (unsigned n = 0; n < s->n_nodes && s->w.verbose; n++) {
        const struct cv_node *x = nodes[n];
        safety_trace(s,
                     "node %s %s rack %s %s/%s cpu %" PRId64 " mem %" PRId64 " disk %" PRId64
                     " reserved %s max_allocs %" PRId64,
                     safety_tail(x->id), x->datacenter, cv_strmap_get(&x->meta, "rack"), x->status,
                     x->scheduling_eligibility, x->node_resources->cpu.cpu_shares,
                     x->node_resources->memory.memory_mb, x->node_resources->disk.disk_mb,
                     x->reserved_resources->cpu.cpu_shares ? "yes" : "no", x->node_max_allocs);
    }
    for (unsigned j = 0; j < s->n_jobs && s->w.verbose; j++) {
        safety_trace(s, "job %s: %s", s->jobs[j]->id, specs[j].batch ? "batch" : "service");
        safety_trace(s, "  datacenters %d, rack r1 %d", (int)specs[j].dcs, specs[j].rack_r1);
        for (unsigned g = 0; g < specs[j].n_groups; g++) {
            const struct sim_group_spec *gs = &specs[j].groups[g];
            safety_trace(s, "  g%u: count %d cpu %d mem %d disk %d distinct_hosts %d", g, gs->count,
                         gs->cpu, gs->mem, gs->disk, gs->distinct_hosts);
        }
    }
    /* The initial state through plain write transactions (cheaper than
     * the FSM's JSON under ASan); everything after goes through the FSM. */
    struct state_txn *txn = state_txn_begin(s->w.st, ++s->w.index);
    for (unsigned n = 0; n < s->n_nodes; n++) {
        assert_int_equal(state_txn_upsert_node(txn, nodes[n], NULL), 0);
    }
    state_txn_commit(txn);
    cv_free(nodes); /* the store took them */
    /* Half the jobs now, the others while the workers run. */
    for (; s->next_job < (s->n_jobs + 1) / 2; s->next_job++) {
        struct cv_evaluation *e =
            sim_mk_eval(&s->w, s->jobs[s->next_job], CV_EVAL_TRIGGER_JOB_REGISTER, NULL);
        safety_enqueue(s, e->id, (int)s->next_job);
        txn = state_txn_begin(s->w.st, ++s->w.index);
        assert_int_equal(state_txn_upsert_job(txn, s->jobs[s->next_job], NULL), 0);
        assert_int_equal(state_txn_upsert_evals(txn, &e, 1, NULL), 0);
        state_txn_commit(txn);
        s->jobs[s->next_job] = NULL;
        s->jobs_applied++;
    }
    safety_trace(s, "seed %" PRIu64 " %s: %u nodes, %u jobs, %u workers", s->seed,
                 s->tight ? "tight" : "ample", s->n_nodes, s->n_jobs, s->k);
}

/* ---- the checks after every entry ----------------------------------------------------------- */

bool safety_check_now(struct sim *s, const char *after)
{
    struct state_snap *snap = state_snapshot(s->w.st);
    char why[SIM_FAIL_MAX - 200];
    bool ok = sim_check_capacity(snap, why, sizeof why) &&
              sim_check_unique_names(snap, why, sizeof why) &&
              sim_check_constraints(snap, why, sizeof why);
    state_snapshot_release(snap);
    return ok || safety_failf(s, "after %s: %s", after, why);
}

/* ---- workers -------------------------------------------------------------------------------- */

static void finish(struct sim *s, struct worker *w)
{
    if (w->blocked) {
        memcpy(s->blocked[w->job], w->eval_id, sizeof w->eval_id);
    }
    s->outstanding[w->job] = false;
    w->state = W_IDLE;
}

/* The worker learns its plan's result. */
static void deliver(struct sim *s, struct worker *w, size_t n_rejected, uint64_t wait_ticket)
{
    if (n_rejected == 0) {
        safety_trace(s, "worker %d: eval %s of job-%02d done%s", (int)(w - s->workers),
                     safety_tail(w->eval_id), w->job, w->blocked ? " (blocked)" : "");
        finish(s, w);
        return;
    }
    w->attempts++;
    s->stats->retries++;
    if (w->attempts >= MAX_ATTEMPTS) {
        safety_trace(s, "worker %d: eval %s of job-%02d requeued after %u attempts (%s)",
                     (int)(w - s->workers), safety_tail(w->eval_id), w->job, w->attempts,
                     w->last_reject);
        s->stats->requeues++;
        s->outstanding[w->job] = false;
        safety_enqueue(s, w->eval_id, w->job);
        w->state = W_IDLE;
        return;
    }
    w->state = W_READY;
    w->wait_ticket = wait_ticket;
}

static bool can_dequeue(const struct sim *s)
{
    for (unsigned i = 0; i < s->queue_len; i++) {
        if (!s->outstanding[s->queue[i].job]) {
            return true;
        }
    }
    return false;
}

static void dequeue(struct sim *s, struct worker *w)
{
    unsigned eligible[4 * MAX_ENTRIES], n = 0;
    for (unsigned i = 0; i < s->queue_len; i++) {
        if (!s->outstanding[s->queue[i].job]) {
            eligible[n++] = i;
        }
    }
    /* Mostly the oldest, as a broker would; sometimes another. */
    unsigned i = sim_chance(&s->rng, 70) ? eligible[0] : eligible[sim_below(&s->rng, n)];
    *w = (struct worker){.state = W_READY, .job = s->queue[i].job};
    memcpy(w->eval_id, s->queue[i].eval_id, sizeof w->eval_id);
    memmove(&s->queue[i], &s->queue[i + 1], (s->queue_len - i - 1) * sizeof s->queue[0]);
    s->queue_len--;
    s->outstanding[w->job] = true;
}

static bool ticket_pending(const struct sim *s, uint64_t ticket)
{
    for (unsigned i = 0; i < s->log_len; i++) {
        const struct entry *e = &s->log[(s->log_head + i) % MAX_ENTRIES];
        if (e->ticket != 0 && e->ticket <= ticket) {
            return true;
        }
    }
    return false;
}

/* A plan must fit the very snapshot it was made on: the verifier may only
 * refuse what changed since. A refusal here is the scheduler's own fit
 * arithmetic disagreeing with the verifier's (safe, but it livelocks). */
static bool self_consistent(struct sim *s, const struct state_snap *snap, const struct plan *p)
{
    struct plan_result res;
    struct cv_err err = {0};
    if (plan_evaluate(snap, NULL, p, &res, &err) != 0) {
        return safety_failf(s, "plan_evaluate of job %s on its own snapshot: %s", p->job_id,
                            err.msg);
    }
    bool ok =
        res.n_rejected == 0 ||
        safety_failf(
            s, "job %s: the plan does not fit its own snapshot %" PRIu64 ": node %s refused (%s)",
            p->job_id, state_snap_index(snap), res.rejected[0].node_id, res.rejected[0].reason);
    plan_result_free(&res);
    return ok;
}

/* Runs the scheduler for eval_id on the current state. Returns false on
 * failure; *out is the plan, NULL when the plan is empty. */
bool safety_schedule(struct sim *s, const char *eval_id, bool *blocked, struct plan **out)
{
    *out = NULL;
    struct state_snap *snap = state_snapshot(s->w.st);
    const struct cv_evaluation *ev = state_eval(snap, eval_id);
    if (ev == NULL) {
        state_snapshot_release(snap);
        return safety_failf(s, "evaluation %s is not in the state", eval_id);
    }
    struct sch_state ss;
    sched_state_init(&ss, snap);
    struct sch_options opts = {
        .now = SIM_NOW_NS,
        .seed = sim_next(&s->rng) | 1,
        .algorithm = sim_chance(&s->rng, 20) ? SCH_FIT_SPREAD : SCH_FIT_BINPACK,
    };
    struct sch_outcome o;
    sch_outcome_init(&o);
    struct cv_err err = {0};
    bool ok = true;
    if (sch_schedule(&ss, ev, &opts, &o, &err) != 0) {
        ok = safety_failf(s, "sch_schedule(job %s, eval %s): %s", ev->job_id, eval_id, err.msg);
    } else {
        *blocked = sch_outcome_blocked(&o);
        if (*blocked && !s->tight) {
            s->stats->blocked_ample++;
        }
        safety_trace(s, "  job %s at %" PRIu64 ": %zu placements/updates, %zu stops%s", ev->job_id,
                     state_snap_index(snap), o.plan.allocs.len, o.plan.stops.len,
                     *blocked ? ", blocked" : "");
        for (size_t i = 0; s->w.verbose && i < o.failed_tg_allocs.len; i++) {
            const struct cv_tg_metric *m = &o.failed_tg_allocs.items[i];
            char *json = cv_model_to_json(&cv_alloc_metric_schema, &m->metric, false);
            safety_trace(s, "    ! group %s: %s", m->key, json);
            cv_free(json);
        }
        for (size_t i = 0; s->w.verbose && i < o.plan.allocs.len; i++) {
            const struct cv_allocation *a = o.plan.allocs.items[i];
            safety_trace(s, "    + %s on %s (alloc %s%s)", a->name, safety_tail(a->node_id),
                         safety_tail(a->id), state_alloc(snap, a->id) != NULL ? ", update" : "");
        }
        for (size_t i = 0; s->w.verbose && i < o.plan.stops.len; i++) {
            const struct sch_plan_stop *st = &o.plan.stops.items[i];
            const struct cv_allocation *a = state_alloc(snap, st->alloc_id);
            safety_trace(s, "    - %s on %s (alloc %s): %s", a != NULL ? a->name : "?",
                         safety_tail(st->node_id), safety_tail(st->alloc_id), st->description);
        }
        if (o.plan.snapshot_index != state_snap_index(snap)) {
            ok = safety_failf(s, "job %s: plan SnapshotIndex %" PRIu64 ", snapshot %" PRIu64,
                              ev->job_id, o.plan.snapshot_index, state_snap_index(snap));
        } else if (o.plan.allocs.len > 0 || o.plan.stops.len > 0) {
            *out = sched_plan_to_plan(&o.plan, "token");
            ok = self_consistent(s, snap, *out);
        }
    }
    sch_outcome_free(&o);
    state_snapshot_release(snap);
    return ok;
}

static bool plan_step(struct sim *s, struct worker *w)
{
    safety_trace(s, "worker %d: plans eval %s of job-%02d (attempt %u)", (int)(w - s->workers),
                 safety_tail(w->eval_id), w->job, w->attempts + 1);
    w->blocked = false;
    if (!safety_schedule(s, w->eval_id, &w->blocked, &w->plan)) {
        return false;
    }
    if (w->plan == NULL) {
        finish(s, w);
    } else {
        w->state = W_PLANNED;
    }
    return true;
}

struct entry *safety_log_push(struct sim *s)
{
    assert_false(s->log_len == MAX_ENTRIES);
    struct entry *e = &s->log[(s->log_head + s->log_len++) % MAX_ENTRIES];
    cv_buf_reset(&e->data);
    e->what = "";
    e->ticket = 0;
    e->worker = -1;
    e->n_rejected = e->n_stops = 0;
    e->chaos = false;
    e->registers_job = -1;
    e->n_evals = 0;
    return e;
}

static bool apply_head(struct sim *s);

/* The leader verifies a worker's plan against the latest state and the
 * overlay, and proposes what fits. */
static bool submit(struct sim *s, struct worker *w)
{
    struct state_snap *snap = state_snapshot(s->w.st);
    plan_overlay_prune(s->ov, state_snap_index(snap));
    struct plan_result res;
    struct cv_err err = {0};
    if (plan_evaluate(snap, s->faults.no_overlay ? NULL : s->ov, w->plan, &res, &err) != 0) {
        state_snapshot_release(snap);
        return safety_failf(s, "plan_evaluate of job-%02d: %s", w->job, err.msg);
    }
    s->stats->plans++;
    if (res.n_rejected > 0) {
        s->stats->rejected_plans++;
        s->stats->partial += !plan_result_is_noop(&res);
        snprintf(w->last_reject, sizeof w->last_reject, "node %s: %s",
                 safety_tail(res.rejected[0].node_id), res.rejected[0].reason);
    }
    safety_trace(s,
                 "worker %d: plan of job-%02d verified at %" PRIu64 " (planned at %" PRIu64
                 "): %zu allocs, %zu stops commit, %zu nodes rejected%s%s",
                 (int)(w - s->workers), w->job, state_snap_index(snap), w->plan->snapshot_index,
                 res.n_allocs, res.n_stops, res.n_rejected, res.n_rejected ? ", first: " : "",
                 res.n_rejected ? w->last_reject : "");
    bool ok = true, direct = false;
    if (plan_result_is_noop(&res)) {
        deliver(s, w, res.n_rejected, res.pending_ticket);
    } else {
        struct fsm_plan fp;
        plan_result_fsm(&res, &fp);
        struct entry *e = safety_log_push(s);
        e->what = "plan";
        e->worker = (int)(w - s->workers);
        e->n_rejected = res.n_rejected;
        e->n_stops = res.n_stops;
        if (fsm_encode_plan_apply(&fp, &e->data, &err) != 0) {
            ok = safety_failf(s, "fsm_encode_plan_apply: %s", err.msg);
        }
        direct = s->log_len == 1 && sim_chance(&s->rng, 30);
        if (!direct) {
            e->ticket = plan_overlay_add(s->ov, &res);
            s->stats->pipelined += s->log_len > 1;
        }
        w->state = W_WAITING;
    }
    plan_result_free(&res);
    plan_free(w->plan);
    w->plan = NULL;
    state_snapshot_release(snap);
    if (ok && direct) {
        s->stats->direct++;
        ok = apply_head(s);
    }
    return ok;
}

static void unblock(struct sim *s)
{
    for (unsigned j = 0; j < s->n_jobs; j++) {
        if (s->blocked[j][0] != '\0') {
            safety_enqueue(s, s->blocked[j], (int)j);
            s->blocked[j][0] = '\0';
        }
    }
}

/* Raft applies the oldest entry of the log. */
static bool apply_head(struct sim *s)
{
    struct entry *e = &s->log[s->log_head];
    s->log_head = (s->log_head + 1) % MAX_ENTRIES;
    s->log_len--;
    struct fsm_result res;
    char why[600];
    if (sim_apply(&s->w, &e->data, &res, why, sizeof why) != 0) {
        return safety_failf(s, "%s entry: %s", e->what, why);
    }
    safety_trace(s, "applied %s entry%s", e->what, e->ticket ? " (overlay)" : "");
    if (e->ticket != 0) {
        plan_overlay_commit(s->ov, e->ticket, s->w.index);
    }
    if (!safety_check_now(s, e->what)) {
        return false;
    }
    if (e->registers_job >= 0) {
        registered(s, (unsigned)e->registers_job);
    }
    for (unsigned i = 0; i < e->n_evals; i++) {
        safety_enqueue(s, e->evals[i], e->eval_jobs[i]);
    }
    if (e->n_stops > 0 || e->chaos) {
        unblock(s); /* capacity freed or the job changed: blocked evaluations may fit */
    }
    if (e->worker >= 0) {
        deliver(s, &s->workers[e->worker], e->n_rejected, 0);
    }
    return true;
}

/* ---- the run -------------------------------------------------------------------------------- */

enum action
{
    A_DEQUEUE,
    A_PLAN,
    A_SUBMIT,
    A_APPLY,
    A_REGISTER,
    A_CHAOS,
};

struct choice
{
    enum action a;
    unsigned worker;
};

static bool stuck(struct sim *s)
{
    char line[400] = "";
    for (unsigned i = 0; i < s->k; i++) {
        const struct worker *w = &s->workers[i];
        size_t used = strlen(line);
        snprintf(line + used, sizeof line - used, " [w%u state %d job-%02d attempt %u: %s]", i,
                 (int)w->state, w->job, w->attempts, w->last_reject);
    }
    return safety_failf(s, "no quiescence after %d steps (%u queued, %u in the log):%s", STEP_LIMIT,
                        s->queue_len, s->log_len, line);
}

static bool run_steps(struct sim *s)
{
    struct choice c[MAX_WORKERS + 8];
    while (!s->failed) {
        unsigned n = 0;
        bool deq = can_dequeue(s);
        for (unsigned i = 0; i < s->k; i++) {
            const struct worker *w = &s->workers[i];
            if (w->state == W_IDLE && deq) {
                c[n++] = (struct choice){A_DEQUEUE, i};
            } else if (w->state == W_READY &&
                       (w->wait_ticket == 0 || !ticket_pending(s, w->wait_ticket))) {
                c[n++] = (struct choice){A_PLAN, i};
            } else if (w->state == W_PLANNED) {
                c[n++] = (struct choice){A_SUBMIT, i};
            }
        }
        for (unsigned i = 0; s->log_len > 0 && i < (s->k + 1) / 2; i++) {
            c[n++] = (struct choice){A_APPLY, 0};
        }
        if (s->next_job < s->n_jobs) {
            c[n++] = (struct choice){A_REGISTER, 0};
        }
        if (s->chaos_left > 0 && s->step > 10 && !safety_chaos_in_log(s)) {
            c[n++] = (struct choice){A_CHAOS, 0};
        }
        if (n == 0) {
            break;
        }
        if (++s->step > STEP_LIMIT) {
            return stuck(s);
        }
        struct choice ch = c[sim_below(&s->rng, n)];
        struct worker *w = &s->workers[ch.worker];
        switch (ch.a) {
        case A_DEQUEUE:
            dequeue(s, w);
            break;
        case A_PLAN:
            plan_step(s, w);
            break;
        case A_SUBMIT:
            submit(s, w);
            break;
        case A_APPLY:
            apply_head(s);
            break;
        case A_REGISTER:
            safety_register_next(s);
            break;
        case A_CHAOS:
            safety_chaos(s);
            break;
        }
    }
    return !s->failed;
}

bool safety_run(uint64_t seed, const struct safety_faults *faults, struct safety_stats *stats,
                char *why, size_t why_len)
{
    struct sim *s = cv_calloc(1, sizeof *s);
    s->seed = seed;
    s->tight = safety_tight(seed);
    if (faults != NULL) {
        s->faults = *faults;
    }
    s->stats = stats;
    s->why = why;
    s->why_len = why_len;
    why[0] = '\0';
    sim_rng_seed(&s->rng, seed);
    sim_world_init(&s->w);
    const char *dense = getenv("CARAVAN_SAFETY_DENSE_NAMES");
    s->dense_names = dense != NULL && dense[0] != '\0' && strcmp(dense, "0") != 0;
    s->ov = plan_overlay_new();
    for (unsigned i = 0; i < MAX_ENTRIES; i++) {
        cv_buf_init(&s->log[i].data);
    }
    setup(s);
    bool ok = run_steps(s) && safety_sweep(s) && safety_final_check(s) && !s->failed;
    stats->steps += s->step;
    for (unsigned i = 0; i < MAX_WORKERS; i++) {
        plan_free(s->workers[i].plan);
    }
    for (unsigned i = 0; i < MAX_ENTRIES; i++) {
        cv_buf_free(&s->log[i].data);
    }
    for (unsigned j = 0; j < MAX_JOBS; j++) {
        cv_job_free(s->jobs[j]);
    }
    plan_overlay_free(s->ov);
    sim_world_free(&s->w);
    cv_free(s);
    return ok;
}
