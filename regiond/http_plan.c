/*
 * http_plan: POST /v1/job/:id/plan, what `nomad job plan` asks: what would
 * the scheduler do with this job, and how does it differ from the one
 * registered? Nomad's Job.Plan (nomad/job_endpoint.go).
 *
 * The job goes through register's decoding and validation (http_jobs.c);
 * then, against one state snapshot and without writing anything, the
 * scheduler (schedd/sched.h) runs on a synthetic "job-register"
 * evaluation with AnnotatePlan, reading the submitted job in place of the
 * stored one (sched_state_init_override). The answer is Nomad's
 * JobPlanResponse: the scheduler's decisions per group (DesiredTGUpdates),
 * why groups could not be placed (FailedTGAllocs, AllocMetric each), the
 * stored job's JobModifyIndex for `job run -check-index`, and with
 * "Diff": true the job diff (job_diff.h) annotated with the decisions.
 *
 * As in Nomad, a job whose spec did not change is planned as the stored
 * version (so its allocations are ignored, not updated), and a changed one
 * as the next version. The plan is only read, so any server answers it
 * from its own state (HTTP_LOCAL): a follower's answer may lag the
 * leader's by its replication delay.
 *
 * Not done: preemption (PreemptedAllocs is null), CreatedEvals (blocked or
 * follow-up evaluations are never created by a plan here), periodic jobs
 * (NextPeriodicLaunch is Go's zero time), warnings.
 */
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/http_internal.h"
#include "regiond/job_diff.h"
#include "regiond/sched_state.h"

struct plan_answer
{
    const struct cv_job *old; /* the stored job, or NULL */
    const struct cv_job *job; /* as planned */
    const struct sch_outcome *out;
    bool diff;
    uint64_t index;
};

static void write_desired(struct cv_jgen *g, const struct sch_outcome *out)
{
    cv_jgen_key(g, "Annotations");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "DesiredTGUpdates");
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < out->desired.len; i++) {
        const struct sch_desired_updates *u = &out->desired.items[i];
        cv_jgen_key(g, u->task_group);
        cv_jgen_object_begin(g);
        const struct
        {
            const char *key;
            int64_t v;
        } kv[] = {
            {"Ignore", u->ignore},
            {"Place", u->place},
            {"Migrate", u->migrate},
            {"Stop", u->stop},
            {"InPlaceUpdate", u->inplace},
            {"DestructiveUpdate", u->destructive},
            {"Canary", 0},
            {"Preemptions", 0},
        };
        for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
            cv_jgen_key(g, kv[k].key);
            cv_jgen_int(g, kv[k].v);
        }
        cv_jgen_object_end(g);
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "PreemptedAllocs");
    cv_jgen_null(g);
    cv_jgen_object_end(g);
}

/* Nomad's JobPlanResponse, in its members' order. */
static void write_answer(struct cv_jgen *g, const void *arg)
{
    const struct plan_answer *a = arg;
    const struct sch_outcome *out = a->out;
    cv_jgen_object_begin(g);
    write_desired(g, out);
    cv_jgen_key(g, "FailedTGAllocs");
    if (out->failed_tg_allocs.len == 0) {
        cv_jgen_null(g);
    } else {
        cv_jgen_object_begin(g);
        for (size_t i = 0; i < out->failed_tg_allocs.len; i++) {
            const struct cv_tg_metric *m = &out->failed_tg_allocs.items[i];
            cv_jgen_key(g, m->key);
            cv_encode(&cv_alloc_metric_schema, &m->metric, g);
        }
        cv_jgen_object_end(g);
    }
    cv_jgen_key(g, "JobModifyIndex");
    cv_jgen_uint(g, a->old ? a->old->job_modify_index : 0);
    cv_jgen_key(g, "CreatedEvals");
    cv_jgen_null(g);
    cv_jgen_key(g, "Diff");
    if (a->diff) {
        job_diff_encode(a->old, a->job, out->desired.items, out->desired.len, true, g);
    } else {
        cv_jgen_null(g);
    }
    cv_jgen_key(g, "NextPeriodicLaunch");
    cv_jgen_string(g, "0001-01-01T00:00:00Z");
    cv_jgen_key(g, "Warnings");
    cv_jgen_string(g, "");
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, a->index);
    cv_jgen_object_end(g);
}

/* The evaluation Job.Register would create, as Nomad's Job.Plan makes it. */
static struct cv_evaluation *plan_eval(const struct cv_job *job, int64_t now)
{
    struct cv_evaluation *e = cv_eval_new();
    char id[FSM_ID_MAX + 1];
    http_uuid(id);
    cv_set_string(&e->id, id);
    cv_set_string(&e->namespace, "default");
    e->priority = job->priority;
    cv_set_string(&e->type, job->type);
    cv_set_string(&e->triggered_by, CV_EVAL_TRIGGER_JOB_REGISTER);
    cv_set_string(&e->job_id, job->id);
    e->job_modify_index = job->job_modify_index;
    cv_set_string(&e->status, CV_EVAL_STATUS_PENDING);
    e->annotate_plan = true;
    e->create_time = now;
    e->modify_time = now;
    return e;
}

void http_job_plan(struct http_ctx *c)
{
    struct cv_json_doc *doc = http_parse_body(c);
    if (!doc) {
        return;
    }
    const struct cv_json *body = cv_json_doc_root(doc);
    struct cv_job *job = NULL;
    struct state_snap *snap = NULL;
    struct cv_evaluation *eval = NULL;
    struct sch_outcome out;
    sch_outcome_init(&out);
    bool diff = false, policy_override = false;
    const struct cv_json *jv = http_job_member(c, body);
    if (!jv || !http_body_bool(c, body, "Diff", &diff) ||
        !http_body_bool(c, body, "PolicyOverride", &policy_override) ||
        !(job = http_job_decode(c, jv))) {
        goto out;
    }
    (void)policy_override; /* no Sentinel policies to override */

    snap = state_snapshot(http_state(c));
    const struct cv_job *old = state_job(snap, job->id);
    if (old && strcmp(old->type, job->type) != 0) {
        http_reply_error(c, 400, "cannot update job from type \"%s\" to \"%s\"", old->type,
                         job->type);
        goto out;
    }
    uint64_t index = state_snap_index(snap);
    int64_t now = http_now_ns();
    /* What register would store: an unchanged spec keeps the stored
     * version (its allocations stay current); a changed one is the next
     * version; a new job gets indexes no earlier instance of its ID had. */
    bool changed = !old || http_job_spec_changed(old, job);
    if (old) {
        job->create_index = old->create_index;
        job->version = changed ? old->version + 1 : old->version;
        job->job_modify_index = changed ? old->job_modify_index + 1 : old->job_modify_index;
        job->modify_index = changed ? index + 1 : old->modify_index;
    } else {
        job->create_index = job->modify_index = job->job_modify_index = index + 1;
    }
    job->submit_time = now;
    const struct cv_job *planned = changed ? job : old;

    struct sched_state_override ov = {snap, changed ? job : NULL};
    struct sch_state st;
    sched_state_init_override(&st, &ov);
    eval = plan_eval(planned, now);
    struct sch_options opts = {.now = now, .seed = 0};
    struct cv_err err = {0};
    int rc = sch_schedule(&st, eval, &opts, &out, &err);
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, 500, "could not plan the job: %s",
                         cv_err_format(&err, msg, sizeof msg));
        goto out;
    }
    struct plan_answer a = {old, job, &out, diff, index};
    if (http_json_gen(&c->out, write_answer, &a) != 0) {
        cv_buf_reset(&c->out);
        http_reply_error(c, 500, "could not encode the answer");
        goto out;
    }
    c->has_index = true;
    c->index = index ? index : 1; /* X-Nomad-Index is never 0 */
    http_reply_json(c);
out:
    sch_outcome_free(&out);
    if (eval) {
        cv_eval_free(eval);
    }
    state_snapshot_release(snap);
    if (job) {
        cv_job_free(job);
    }
    cv_json_doc_free(doc);
}
