/*
 * safety_end: test_sched_safety's chaos (nodes down or ineligible, count
 * changes, late registrations), the final sweep that evaluates every job
 * until its plan is empty, and the final check of both invariants.
 */
#include "safety_internal.h"

#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/mem.h"
#include "regiond/fsm.h"
#include "regiond/plan.h"
#include "regiond/state/state.h"
#include "sched_sim.h"

/* Applies an entry at once (the final sweep). */
static bool apply_now(struct sim *s, struct cv_buf *entry, const char *what)
{
    struct fsm_result res;
    char why[600];
    if (sim_apply(&s->w, entry, &res, why, sizeof why) != 0) {
        return safety_failf(s, "%s: %s", what, why);
    }
    return true;
}

/* Encodes job n's registration with its evaluation into out. The job
 * stays in s->jobs, counted as pending, until the entry is applied. */
static void encode_register(struct sim *s, unsigned n, struct cv_buf *out, char eval_id[40])
{
    struct cv_evaluation *e = sim_mk_eval(&s->w, s->jobs[n], CV_EVAL_TRIGGER_JOB_REGISTER, NULL);
    assert_int_equal(fsm_encode_job_register(s->jobs[n], e, out, NULL), 0);
    snprintf(eval_id, 40, "%s", e->id);
    cv_eval_free(e);
}

/* ---- chaos ---------------------------------------------------------------------------------- */

bool safety_chaos_in_log(const struct sim *s)
{
    for (unsigned i = 0; i < s->log_len; i++) {
        if (s->log[(s->log_head + i) % MAX_ENTRIES].chaos) {
            return true;
        }
    }
    return false;
}

/* Would the cluster stay ample with this change (always, on tight seeds)? */
static bool still_ample(struct sim *s, const struct state_snap *snap, const struct cv_node *node,
                        const struct cv_job *job)
{
    if (s->tight) {
        return true;
    }
    const struct cv_job *pending[MAX_JOBS];
    struct sim_what_if wi = {.node_override = node, .job_override = job, .pending = pending};
    for (unsigned j = 0; j < s->n_jobs; j++) {
        if (s->jobs[j] != NULL) {
            pending[wi.n_pending++] = s->jobs[j];
        }
    }
    char why[600];
    if (!sim_ample_snap(snap, &wi, CHAOS_PCT, why, sizeof why)) {
        safety_trace(s, "chaos skipped: %s", why);
        return false;
    }
    return true;
}

static void add_eval(struct entry *e, const struct cv_evaluation *ev)
{
    snprintf(e->evals[e->n_evals], sizeof e->evals[0], "%s", ev->id);
    e->eval_jobs[e->n_evals++] = sim_job_number(ev->job_id);
}

/* A node goes down (with node-update evaluations of its jobs) or becomes
 * ineligible. */
static void chaos_node(struct sim *s, const struct state_snap *snap, bool down)
{
    const struct cv_node *cands[128];
    unsigned n = 0;
    struct state_iter it;
    state_iter_nodes(snap, NULL, &it);
    for (const struct cv_node *node; (node = state_iter_next(&it)) != NULL && n < 128;) {
        if (down ? strcmp(node->status, CV_NODE_STATUS_READY) == 0
                 : strcmp(node->scheduling_eligibility, CV_NODE_ELIGIBLE) == 0) {
            cands[n++] = node;
        }
    }
    if (n == 0) {
        return;
    }
    const struct cv_node *node = cands[sim_below(&s->rng, n)];
    struct cv_node *changed = cv_node_copy(node);
    cv_set_string(down ? &changed->status : &changed->scheduling_eligibility,
                  down ? CV_NODE_STATUS_DOWN : CV_NODE_INELIGIBLE);
    bool fine = still_ample(s, snap, changed, NULL);
    cv_node_free(changed);
    if (!fine) {
        return;
    }
    struct entry *e = safety_log_push(s);
    e->chaos = true;
    if (!down) {
        e->what = "node-ineligible";
        assert_int_equal(fsm_encode_node_eligibility(node->id, CV_NODE_INELIGIBLE, &e->data, NULL),
                         0);
    } else {
        e->what = "node-down";
        struct cv_evaluation *evals[MAX_JOBS];
        size_t n_evals = 0;
        bool seen[MAX_JOBS] = {false};
        state_iter_allocs_by_node(snap, node->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
            int j = sim_job_number(a->job_id);
            if (!sim_alloc_terminal(a) && j >= 0 && j < MAX_JOBS) {
                seen[j] = true;
            }
        }
        /* In job order: allocation IDs, hence their order, differ per run. */
        for (unsigned j = 0; j < MAX_JOBS; j++) {
            if (seen[j]) {
                evals[n_evals] = sim_mk_eval(&s->w, state_job(snap, sim_job_id(j)),
                                             CV_EVAL_TRIGGER_NODE_UPDATE, node->id);
                add_eval(e, evals[n_evals++]);
            }
        }
        assert_int_equal(fsm_encode_node_status(
                             node->id, CV_NODE_STATUS_DOWN, SIM_NOW_NS / 1000000000,
                             (const struct cv_evaluation *const *)evals, n_evals, &e->data, NULL),
                         0);
        for (size_t i = 0; i < n_evals; i++) {
            cv_eval_free(evals[i]);
        }
    }
    s->stats->chaos++;
    safety_trace(s, "chaos: %s %s proposed", e->what, safety_tail(node->id));
}

/* A job's group gets another count: a new version and its evaluation. */
static void chaos_count(struct sim *s, const struct state_snap *snap)
{
    unsigned n = (unsigned)state_table_count(snap, STATE_JOBS);
    if (n == 0) {
        return;
    }
    unsigned pick = sim_below(&s->rng, n);
    struct state_iter it;
    state_iter_jobs(snap, NULL, &it);
    const struct cv_job *job = state_iter_next(&it);
    while (pick-- > 0) {
        job = state_iter_next(&it);
    }
    struct cv_job *changed = cv_job_copy(job);
    struct cv_task_group *tg =
        &changed->task_groups.items[sim_below(&s->rng, (unsigned)changed->task_groups.len)];
    int delta = (int)sim_below(&s->rng, 6) - 2;
    tg->count = tg->count + (delta != 0 ? delta : 1);
    if (tg->count < 0) {
        tg->count = 0;
    }
    if (still_ample(s, snap, NULL, changed)) {
        struct entry *e = safety_log_push(s);
        e->chaos = true;
        e->what = "job-count";
        struct cv_evaluation *ev = sim_mk_eval(&s->w, changed, CV_EVAL_TRIGGER_JOB_REGISTER, NULL);
        assert_int_equal(fsm_encode_job_register(changed, ev, &e->data, NULL), 0);
        add_eval(e, ev);
        cv_eval_free(ev);
        s->stats->chaos++;
        safety_trace(s, "chaos: %s.%s count %" PRId64 " proposed", changed->id, tg->name,
                     tg->count);
    }
    cv_job_free(changed);
}

void safety_chaos(struct sim *s)
{
    s->chaos_left--;
    struct state_snap *snap = state_snapshot(s->w.st);
    unsigned op = sim_below(&s->rng, 3);
    if (op < 2) {
        chaos_node(s, snap, op == 0);
    } else {
        chaos_count(s, snap);
    }
    state_snapshot_release(snap);
}

void safety_register_next(struct sim *s)
{
    struct entry *e = safety_log_push(s);
    e->what = "job-register";
    e->registers_job = (int)s->next_job;
    encode_register(s, s->next_job, &e->data, e->evals[0]);
    e->eval_jobs[0] = (int)s->next_job;
    e->n_evals = 1;
    safety_trace(s, "job-%02u registration proposed", s->next_job);
    s->next_job++;
}

/* Every job again, one at a time, until no plan changes anything. */
bool safety_sweep(struct sim *s)
{
    char last[400] = "";
    struct cv_buf entry;
    cv_buf_init(&entry);
    for (int round = 0; round < SWEEP_ROUNDS && !s->failed; round++) {
        bool changed = false;
        for (unsigned j = 0; j < s->n_jobs && !s->failed; j++) {
            struct state_snap *snap = state_snapshot(s->w.st);
            struct cv_evaluation *ev = sim_mk_eval(&s->w, state_job(snap, sim_job_id(j)),
                                                   CV_EVAL_TRIGGER_JOB_REGISTER, NULL);
            state_snapshot_release(snap);
            char eval_id[40];
            snprintf(eval_id, sizeof eval_id, "%s", ev->id);
            struct state_txn *txn = state_txn_begin(s->w.st, ++s->w.index);
            assert_int_equal(state_txn_upsert_evals(txn, &ev, 1, NULL), 0);
            state_txn_commit(txn);
            for (unsigned attempt = 0; attempt < MAX_ATTEMPTS && !s->failed; attempt++) {
                bool blocked = false;
                struct plan *p = NULL;
                if (!safety_schedule(s, eval_id, &blocked, &p) || p == NULL) {
                    break;
                }
                changed = true;
                snap = state_snapshot(s->w.st);
                plan_overlay_prune(s->ov, state_snap_index(snap));
                struct plan_result res;
                struct cv_err err = {0};
                assert_int_equal(plan_evaluate(snap, s->ov, p, &res, &err), 0);
                snprintf(last, sizeof last,
                         "job-%02u in round %d: %zu allocs, %zu stops, %zu nodes rejected%s%s", j,
                         round, p->n_allocs, p->n_stops, res.n_rejected,
                         res.n_rejected ? ", first: " : "",
                         res.n_rejected ? res.rejected[0].reason : "");
                safety_trace(s, "sweep: %s", last);
                if (!plan_result_is_noop(&res)) {
                    struct fsm_plan fp;
                    plan_result_fsm(&res, &fp);
                    assert_int_equal(fsm_encode_plan_apply(&fp, &entry, NULL), 0);
                    if (apply_now(s, &entry, "sweep plan")) {
                        safety_check_now(s, "sweep plan");
                    }
                }
                size_t rejected = res.n_rejected;
                plan_result_free(&res);
                plan_free(p);
                state_snapshot_release(snap);
                if (rejected == 0) {
                    break;
                }
            }
        }
        if (!changed) {
            cv_buf_free(&entry);
            return !s->failed;
        }
    }
    cv_buf_free(&entry);
    return s->failed ? false
                     : safety_failf(s, "plans still change the state after %d rounds; last: %s",
                                    SWEEP_ROUNDS, last);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Of what runs, not where, nor of IDs. IDs come from the kernel, and
 * sch_schedule places a group's replacements in allocation ID order, so
 * the same seed may put two names on each other's nodes. */
static uint64_t digest(struct sim *s, const struct state_snap *snap)
{
    size_t n = state_table_count(snap, STATE_ALLOCS), i = 0;
    char **lines = cv_calloc(n + 1, sizeof *lines);
    struct state_iter it;
    state_iter_allocs(snap, NULL, &it);
    for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL && i < n;) {
        struct cv_buf b;
        cv_buf_init(&b);
        cv_buf_appendf(&b, "%s|%s|%s|%s", a->name, a->desired_status, a->client_status,
                       s->w.verbose ? a->node_id : "");
        lines[i++] = cv_buf_take(&b);
    }
    qsort(lines, i, sizeof *lines, cmp_str);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t k = 0; k < i; k++) {
        safety_trace(s, "final: %s", lines[k]);
        for (const char *c = lines[k]; *c; c++) {
            h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
        }
        h = (h ^ '\n') * 0x100000001b3ull;
        cv_free(lines[k]);
    }
    cv_free(lines);
    return h;
}

bool safety_final_check(struct sim *s)
{
    struct state_snap *snap = state_snapshot(s->w.st);
    char why[SIM_FAIL_MAX - 200];
    bool ok = true;
    size_t starved = 0, starved2 = 0;
    if (!sim_check_capacity(snap, why, sizeof why) ||
        !sim_check_unique_names(snap, why, sizeof why)) {
        ok = safety_failf(s, "at the end: %s", why);
    } else if (!sim_check_exactly_once(snap, false, &starved, why, sizeof why)) {
        ok = safety_failf(s, "at the end: %s", why);
    } else if (!sim_check_exactly_once(snap, true, &starved2, why, sizeof why)) {
        s->stats->name_gaps++;
        safety_trace(s, "names not dense (Nomad's behaviour too): %s", why);
        if (s->dense_names) {
            ok = safety_failf(s, "at the end (CARAVAN_SAFETY_DENSE_NAMES): %s", why);
        }
    }
    if (ok && !s->tight) {
        s->stats->starved_ample += starved;
        if (starved > 0 && !sim_ample_snap(snap, NULL, FINAL_PCT, why, sizeof why)) {
            safety_trace(s, "the generator left too little capacity: %s", why);
        }
    }
    s->stats->placed += state_table_count(snap, STATE_ALLOCS);
    s->stats->digest = digest(s, snap);
    state_snapshot_release(snap);
    return ok;
}
