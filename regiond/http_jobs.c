/*
 * http_jobs: /v1/jobs and /v1/job/:id with its sub-resources (versions,
 * allocations, evaluations, summary), register, update, stop and purge.
 *
 * Register follows Nomad's Job.Register on the leader: decode, canonicalize
 * and validate the job with the job model (400 with every field-path
 * message); check EnforceIndex and the job type against the stored job;
 * stamp SubmitTime; create the "job-register" evaluation; and propose the
 * job and its evaluation as ONE FSM command, so they commit together or
 * not at all. A job whose spec did not change gets no new version: only
 * its evaluation is written (Nomad does the same, so re-registering is a
 * way to force an evaluation). Stop and purge propose one JobDeregister
 * command carrying the "job-deregister" evaluation.
 *
 * Job summaries (JobListStub.JobSummary, /summary) are computed from the
 * job's allocations at read time: the state store keeps no summary table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/http_internal.h"

/* ---- summaries -------------------------------------------------------------------- */

struct tg_count
{
    const char *name;
    int64_t queued, complete, failed, running, starting, lost, unknown;
};

struct summary
{
    struct tg_count *groups;
    size_t n;
    uint64_t modify_index;
};

static struct tg_count *summary_group(struct summary *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->groups[i].name, name) == 0) {
            return &s->groups[i];
        }
    }
    s->groups = cv_reallocarray(s->groups, s->n + 1, sizeof *s->groups);
    struct tg_count *g = &s->groups[s->n++];
    memset(g, 0, sizeof *g);
    g->name = name;
    return g;
}

/* Counts the allocations of the job's current instance by client status
 * (Nomad's JobSummary); Queued comes from the newest evaluation that
 * reported queued allocations. Names point into the snapshot. */
static void summary_compute(const struct state_snap *snap, const struct cv_job *job,
                            struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->modify_index = job->modify_index;
    for (size_t i = 0; i < job->task_groups.len; i++) {
        summary_group(s, job->task_groups.items[i].name);
    }
    struct state_iter it;
    state_iter_allocs_by_job(snap, job->id, &it);
    const struct cv_allocation *a;
    while ((a = state_iter_next(&it))) {
        if (a->job && a->job->create_index != job->create_index) {
            continue; /* an earlier job of the same ID */
        }
        struct tg_count *g = summary_group(s, a->task_group);
        const char *cs = a->client_status;
        if (strcmp(cs, CV_ALLOC_CLIENT_PENDING) == 0) {
            g->starting++;
        } else if (strcmp(cs, CV_ALLOC_CLIENT_RUNNING) == 0) {
            g->running++;
        } else if (strcmp(cs, CV_ALLOC_CLIENT_COMPLETE) == 0) {
            g->complete++;
        } else if (strcmp(cs, CV_ALLOC_CLIENT_FAILED) == 0) {
            g->failed++;
        } else if (strcmp(cs, CV_ALLOC_CLIENT_LOST) == 0) {
            g->lost++;
        } else if (strcmp(cs, CV_ALLOC_CLIENT_UNKNOWN) == 0) {
            g->unknown++;
        }
        if (a->modify_index > s->modify_index) {
            s->modify_index = a->modify_index;
        }
    }
    const struct cv_evaluation *queued = NULL;
    state_iter_evals_by_job(snap, job->id, &it);
    const struct cv_evaluation *e;
    while ((e = state_iter_next(&it))) {
        if (e->queued_allocations.len && (!queued || e->modify_index > queued->modify_index)) {
            queued = e;
        }
    }
    if (queued) {
        for (size_t i = 0; i < queued->queued_allocations.len; i++) {
            const struct cv_int_kv *kv = &queued->queued_allocations.items[i];
            summary_group(s, kv->key)->queued = kv->value;
        }
        if (queued->modify_index > s->modify_index) {
            s->modify_index = queued->modify_index;
        }
    }
}

static void summary_write(struct cv_jgen *g, const struct cv_job *job, const struct summary *s)
{
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "JobID");
    cv_jgen_string(g, job->id);
    cv_jgen_key(g, "Namespace");
    cv_jgen_string(g, job->namespace);
    cv_jgen_key(g, "Summary");
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < s->n; i++) {
        const struct tg_count *t = &s->groups[i];
        cv_jgen_key(g, t->name);
        cv_jgen_object_begin(g);
        static const char *const keys[] = {"Queued",   "Complete", "Failed", "Running",
                                           "Starting", "Lost",     "Unknown"};
        const int64_t vals[] = {t->queued,   t->complete, t->failed, t->running,
                                t->starting, t->lost,     t->unknown};
        for (size_t k = 0; k < 7; k++) {
            cv_jgen_key(g, keys[k]);
            cv_jgen_int(g, vals[k]);
        }
        cv_jgen_object_end(g);
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Children");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Pending");
    cv_jgen_int(g, 0);
    cv_jgen_key(g, "Running");
    cv_jgen_int(g, 0);
    cv_jgen_key(g, "Dead");
    cv_jgen_int(g, 0);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "CreateIndex");
    cv_jgen_uint(g, job->create_index);
    cv_jgen_key(g, "ModifyIndex");
    cv_jgen_uint(g, s->modify_index);
    cv_jgen_object_end(g);
}

/* ---- reads ------------------------------------------------------------------------- */

/* Only the namespace "default" exists; "*" means all of them. */
static bool namespace_ok(const struct http_ctx *c)
{
    const char *ns = http_query(c, "namespace");
    return !ns || !*ns || strcmp(ns, "default") == 0 || strcmp(ns, "*") == 0;
}

static void fail_encode(struct http_ctx *c)
{
    http_set_error(c, 500, "could not encode the answer");
}

struct stub_arg
{
    const struct state_snap *snap;
};

static void job_stub_extra(struct cv_jgen *g, const void *obj, const void *arg)
{
    const struct cv_job *job = obj;
    const struct stub_arg *sa = arg;
    cv_jgen_key(g, "Multiregion");
    cv_jgen_null(g);
    cv_jgen_key(g, "Periodic");
    cv_jgen_bool(g, false);
    cv_jgen_key(g, "ParameterizedJob");
    cv_jgen_bool(g, false);
    struct summary s;
    summary_compute(sa->snap, job, &s);
    cv_jgen_key(g, "JobSummary");
    summary_write(g, job, &s);
    cv_free(s.groups);
}

void http_jobs_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    bool meta;
    if (!http_query_bool(c, "meta", false, &meta)) {
        return;
    }
    static const char *const fields[] = {"ID",
                                         "ParentID",
                                         "Name",
                                         "Namespace",
                                         "Datacenters",
                                         "NodePool",
                                         "Type",
                                         "Priority",
                                         "Stop",
                                         "Status",
                                         "StatusDescription",
                                         "CreateIndex",
                                         "ModifyIndex",
                                         "JobModifyIndex",
                                         "SubmitTime",
                                         NULL,
                                         NULL};
    static const char *const with_meta[] = {"ID",
                                            "ParentID",
                                            "Name",
                                            "Namespace",
                                            "Datacenters",
                                            "NodePool",
                                            "Type",
                                            "Priority",
                                            "Stop",
                                            "Status",
                                            "StatusDescription",
                                            "CreateIndex",
                                            "ModifyIndex",
                                            "JobModifyIndex",
                                            "SubmitTime",
                                            "Meta",
                                            NULL};
    struct http_pick pick;
    http_pick_init(&pick, &cv_job_schema, meta ? with_meta : fields);
    struct stub_arg sa = {snap};
    cv_buf_append_char(&c->out, '[');
    if (namespace_ok(c)) {
        struct state_iter it;
        state_iter_jobs(snap, http_query(c, "prefix"), &it);
        const struct cv_job *job;
        bool first = true;
        while ((job = state_iter_next(&it))) {
            if (!first) {
                cv_buf_append_char(&c->out, ',');
            }
            first = false;
            if (http_json_stub(&c->out, &pick, job, job_stub_extra, &sa) != 0) {
                fail_encode(c);
                return;
            }
        }
    }
    cv_buf_append_char(&c->out, ']');
}

void http_job_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    const struct cv_job *job = namespace_ok(c) ? state_job(snap, c->id) : NULL;
    if (!job) {
        http_set_error(c, 404, "job not found");
        return;
    }
    *index = job->modify_index;
    if (http_json_object(&c->out, &cv_job_schema, job) != 0) {
        fail_encode(c);
    }
}

/* Closes an object left open with Nomad's QueryMeta members. */
static void close_with_meta(struct http_ctx *c, uint64_t index)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    http_json_query_meta(g, c, index);
    cv_jgen_object_end(g);
    const char *text;
    size_t len;
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        cv_buf_append_char(&c->out, ',');
        cv_buf_append(&c->out, text + 1, len - 1);
    }
    cv_jgen_free(g);
}

void http_job_versions(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    bool diffs;
    if (!http_query_bool(c, "diffs", false, &diffs)) {
        return;
    }
    struct state_iter it;
    state_iter_job_versions(snap, c->id, &it);
    const struct cv_job *job;
    uint64_t max = 0;
    cv_buf_append_str(&c->out, "{\"Versions\":[");
    size_t n = 0;
    while (namespace_ok(c) && (job = state_iter_next(&it))) {
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (job->modify_index > max) {
            max = job->modify_index;
        }
        if (http_json_object(&c->out, &cv_job_schema, job) != 0) {
            fail_encode(c);
            return;
        }
    }
    if (n == 0) {
        http_set_error(c, 404, "job versions not found");
        return;
    }
    *index = max;
    /* Diffs between versions are not computed (docs/http-api.md). */
    cv_buf_append_str(&c->out, "],\"Diffs\":null");
    close_with_meta(c, max);
}

void http_job_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    bool all;
    if (!http_query_bool(c, "all", false, &all)) {
        return;
    }
    const struct cv_job *job = state_job(snap, c->id);
    struct state_iter it;
    state_iter_allocs_by_job(snap, c->id, &it);
    const struct cv_allocation *a;
    cv_buf_append_char(&c->out, '[');
    size_t n = 0;
    while (namespace_ok(c) && (a = state_iter_next(&it))) {
        /* Without ?all, only the allocations of the job's current instance
         * (a job purged and registered again starts afresh), as Nomad. */
        if (!all && job && a->job && a->job->create_index != job->create_index) {
            continue;
        }
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_alloc_stub(&c->out, a, false, true) != 0) {
            fail_encode(c);
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

void http_job_evaluations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    struct state_iter it;
    state_iter_evals_by_job(snap, c->id, &it);
    const struct cv_evaluation *e;
    cv_buf_append_char(&c->out, '[');
    size_t n = 0;
    while (namespace_ok(c) && (e = state_iter_next(&it))) {
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_json_object(&c->out, &cv_evaluation_schema, e) != 0) {
            fail_encode(c);
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

struct summary_arg
{
    const struct cv_job *job;
    const struct summary *s;
};

static void write_summary(struct cv_jgen *g, const void *arg)
{
    const struct summary_arg *sa = arg;
    summary_write(g, sa->job, sa->s);
}

void http_job_summary(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    const struct cv_job *job = namespace_ok(c) ? state_job(snap, c->id) : NULL;
    if (!job) {
        http_set_error(c, 404, "job not found");
        return;
    }
    struct summary s;
    summary_compute(snap, job, &s);
    *index = s.modify_index;
    struct summary_arg sa = {job, &s};
    if (http_json_gen(&c->out, write_summary, &sa) != 0) {
        fail_encode(c);
    }
    cv_free(s.groups);
}

/* ---- register ---------------------------------------------------------------------- */

/* The evaluation a job write creates, as Nomad's Job.Register/Deregister. */
static struct cv_evaluation *new_eval(const struct cv_job *job, const char *job_id,
                                      const char *trigger, int64_t priority, int64_t now,
                                      char id[FSM_ID_MAX + 1])
{
    struct cv_evaluation *e = cv_eval_new();
    http_uuid(id);
    cv_set_string(&e->id, id);
    cv_set_string(&e->namespace, "default");
    e->priority = priority;
    cv_set_string(&e->type, job->type);
    cv_set_string(&e->triggered_by, trigger);
    cv_set_string(&e->job_id, job_id);
    cv_set_string(&e->status, CV_EVAL_STATUS_PENDING);
    e->create_time = now;
    e->modify_time = now;
    return e;
}

static const struct cv_task_group *find_group(const struct cv_job *job, const char *name)
{
    for (size_t i = 0; i < job->task_groups.len; i++) {
        if (strcmp(job->task_groups.items[i].name, name) == 0) {
            return &job->task_groups.items[i];
        }
    }
    return NULL;
}

/* PreserveCounts / PreserveResources: keep what the stored job has for the
 * groups and tasks both versions share (Nomad's register options). */
static void preserve(struct cv_job *job, const struct cv_job *old, bool counts, bool resources)
{
    for (size_t i = 0; i < job->task_groups.len; i++) {
        struct cv_task_group *tg = &job->task_groups.items[i];
        const struct cv_task_group *otg = find_group(old, tg->name);
        if (!otg) {
            continue;
        }
        if (counts) {
            tg->count = otg->count;
        }
        for (size_t t = 0; resources && t < tg->tasks.len; t++) {
            struct cv_task *task = &tg->tasks.items[t];
            for (size_t o = 0; o < otg->tasks.len; o++) {
                const struct cv_task *ot = &otg->tasks.items[o];
                if (strcmp(ot->name, task->name) != 0 || !ot->resources) {
                    continue;
                }
                if (task->resources) {
                    cv_release(&cv_resources_schema, task->resources);
                } else {
                    task->resources = cv_malloc(sizeof *task->resources);
                }
                cv_copy(&cv_resources_schema, task->resources, ot->resources);
            }
        }
    }
}

/* Nomad's Job.SpecChanged: equal but for the fields the servers own. */
bool http_job_spec_changed(const struct cv_job *old, struct cv_job *job)
{
    struct cv_job saved = *job;
    job->status = old->status;
    job->status_description = old->status_description;
    job->stable = old->stable;
    job->version = old->version;
    job->submit_time = old->submit_time;
    job->create_index = old->create_index;
    job->modify_index = old->modify_index;
    job->job_modify_index = old->job_modify_index;
    bool changed = !cv_job_equal(old, job);
    job->status = saved.status;
    job->status_description = saved.status_description;
    job->stable = saved.stable;
    job->version = saved.version;
    job->submit_time = saved.submit_time;
    job->create_index = saved.create_index;
    job->modify_index = saved.modify_index;
    job->job_modify_index = saved.job_modify_index;
    return changed;
}

static void write_register_reply(struct http_ctx *c, uint64_t index, uint64_t job_modify_index,
                                 bool deregister)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "EvalID");
    cv_jgen_string(g, c->scratch_id);
    cv_jgen_key(g, "EvalCreateIndex");
    cv_jgen_uint(g, c->scratch_id[0] ? index : 0);
    cv_jgen_key(g, "JobModifyIndex");
    cv_jgen_uint(g, job_modify_index);
    if (deregister) {
        cv_jgen_key(g, "VolumeEvalID");
        cv_jgen_string(g, "");
        cv_jgen_key(g, "VolumeEvalIndex");
        cv_jgen_uint(g, 0);
    } else {
        cv_jgen_key(g, "Warnings");
        cv_jgen_string(g, "");
    }
    http_json_query_meta(g, c, index);
    cv_jgen_key(g, "LastIndex");
    cv_jgen_uint(g, index);
    cv_jgen_object_end(g);
    const char *text;
    size_t len;
    cv_buf_reset(&c->out);
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        cv_buf_append(&c->out, text, len);
    }
    cv_jgen_free(g);
    c->has_index = true;
    c->index = index;
    http_reply_json(c);
}

static void on_registered(struct http_ctx *c, int status, uint64_t index,
                          const struct fsm_result *res)
{
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        http_reply_apply_error(c, status, res);
        return;
    }
    /* scratch_index: the stored job's ModifyIndex when only an evaluation
     * was written (the spec did not change), else 0. */
    uint64_t jmi = c->scratch_index ? c->scratch_index
                                    : (res->job_modify_index ? res->job_modify_index : index);
    write_register_reply(c, index, jmi, false);
}

static void reply_validation(struct http_ctx *c, const struct cv_errlist *errs)
{
    struct cv_buf msg = CV_BUF_INIT;
    char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
    for (size_t i = 0; i < errs->len; i++) {
        if (i) {
            cv_buf_append_char(&msg, '\n');
        }
        cv_buf_append_str(&msg, cv_errlist_format(errs, i, line, sizeof line));
    }
    http_reply_error(c, 400, "%s", cv_buf_str(&msg));
    cv_buf_free(&msg);
}

const struct cv_json *http_job_member(struct http_ctx *c, const struct cv_json *body)
{
    const struct cv_json *jv = cv_json_object_get(body, "Job");
    if (!jv || jv->type != CV_JSON_OBJECT) {
        http_reply_error(c, 400, "Job must be specified");
        return NULL;
    }
    const struct cv_json *idv = cv_json_object_get(jv, "ID");
    if (!idv || idv->type != CV_JSON_STRING) {
        http_reply_error(c, 400, "Job ID hasn't been provided");
        return NULL;
    }
    if (c->id && strcmp(idv->u.string.ptr, c->id) != 0) {
        http_reply_error(c, 400,
                         "Job ID does not match name: \"%s\" in the path, \"%s\" in the body",
                         c->id, idv->u.string.ptr);
        return NULL;
    }
    return jv;
}

struct cv_job *http_job_decode(struct http_ctx *c, const struct cv_json *jv)
{
    struct cv_job *job = NULL;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_job_decode(jv, &job, &errs) != 0) {
        reply_validation(c, &errs);
        job = NULL;
    }
    cv_errlist_free(&errs);
    return job;
}

/* The register request's envelope (api.JobRegisterRequest). */
struct register_opts
{
    bool enforce_index;
    uint64_t job_modify_index;
    bool policy_override, preserve_counts, preserve_resources;
    int64_t eval_priority;
};

static bool read_register_opts(struct http_ctx *c, const struct cv_json *body,
                               struct register_opts *o)
{
    memset(o, 0, sizeof *o);
    if (!http_body_bool(c, body, "EnforceIndex", &o->enforce_index) ||
        !http_body_uint(c, body, "JobModifyIndex", &o->job_modify_index) ||
        !http_body_bool(c, body, "PolicyOverride", &o->policy_override) ||
        !http_body_bool(c, body, "PreserveCounts", &o->preserve_counts) ||
        !http_body_bool(c, body, "PreserveResources", &o->preserve_resources) ||
        !http_body_int(c, body, "EvalPriority", &o->eval_priority)) {
        return false;
    }
    if (o->eval_priority != 0 && (o->eval_priority < 1 || o->eval_priority > 100)) {
        http_reply_error(c, 400, "EvalPriority: must be between 1 and 100, got %lld",
                         (long long)o->eval_priority);
        return false;
    }
    return true;
}

/* Nomad's Job.EnforceIndex, with its messages (the CLI looks for their
 * prefix). Returns false after replying. */
static bool enforce_index(struct http_ctx *c, const struct cv_job *old, uint64_t want)
{
    if (old) {
        if (want == 0) {
            http_reply_error(c, 409, "Enforcing job modify index 0: job already exists");
            return false;
        }
        if (want != old->job_modify_index) {
            http_reply_error(c, 409,
                             "Enforcing job modify index %llu: job exists with conflicting job "
                             "modify index: %llu",
                             (unsigned long long)want, (unsigned long long)old->job_modify_index);
            return false;
        }
    } else if (want != 0) {
        http_reply_error(c, 409, "Enforcing job modify index %llu: job does not exist",
                         (unsigned long long)want);
        return false;
    }
    return true;
}

void http_job_register(struct http_ctx *c)
{
    struct cv_json_doc *doc = http_parse_body(c);
    if (!doc) {
        return;
    }
    const struct cv_json *body = cv_json_doc_root(doc);
    struct cv_job *job = NULL;
    struct cv_evaluation *eval = NULL;
    struct state_snap *snap = NULL;
    struct cv_buf cmd = CV_BUF_INIT;
    struct register_opts o;
    const struct cv_json *jv = http_job_member(c, body);
    if (!jv || !read_register_opts(c, body, &o) || !(job = http_job_decode(c, jv))) {
        goto out;
    }
    int rc;

    snap = state_snapshot(http_state(c));
    const struct cv_job *old = state_job(snap, job->id);
    if (o.enforce_index && !enforce_index(c, old, o.job_modify_index)) {
        goto out;
    }
    if (old && strcmp(old->type, job->type) != 0) {
        http_reply_error(c, 400, "cannot update job from type \"%s\" to \"%s\"", old->type,
                         job->type);
        goto out;
    }
    if (old && (o.preserve_counts || o.preserve_resources)) {
        preserve(job, old, o.preserve_counts, o.preserve_resources);
    }
    int64_t now = http_now_ns();
    job->submit_time = now;
    eval = new_eval(job, job->id, CV_EVAL_TRIGGER_JOB_REGISTER,
                    o.eval_priority ? o.eval_priority : job->priority, now, c->scratch_id);
    struct cv_err err = {0};
    if (old && !http_job_spec_changed(old, job)) {
        c->scratch_index = old->modify_index;
        const struct cv_evaluation *evals[1] = {eval};
        rc = fsm_encode_eval_update(evals, 1, &cmd, &err);
    } else {
        c->scratch_index = 0;
        rc = fsm_encode_job_register(job, eval, &cmd, &err);
    }
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, cv_error_http_status(rc), "%s", cv_err_format(&err, msg, sizeof msg));
        goto out;
    }
    http_propose(c, &cmd, on_registered);
out:
    cv_buf_free(&cmd);
    state_snapshot_release(snap);
    if (eval) {
        cv_eval_free(eval);
    }
    if (job) {
        cv_job_free(job);
    }
    cv_json_doc_free(doc);
}

/* ---- stop and purge ---------------------------------------------------------------- */

static void on_deregistered(struct http_ctx *c, int status, uint64_t index,
                            const struct fsm_result *res)
{
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        http_reply_apply_error(c, status, res);
        return;
    }
    write_register_reply(c, index, index, true);
}

void http_job_deregister(struct http_ctx *c)
{
    bool purge, global;
    if (!http_query_bool(c, "purge", false, &purge) ||
        !http_query_bool(c, "global", false, &global)) {
        http_reply(c);
        return;
    }
    int64_t priority = 0;
    const char *p = http_query(c, "eval_priority");
    if (p && *p) {
        char *end = NULL;
        long long v = strtoll(p, &end, 10);
        if (!end || *end || v < 1 || v > 100) {
            http_reply_error(c, 400, "eval_priority: must be an integer between 1 and 100");
            return;
        }
        priority = v;
    }
    struct state_snap *snap = state_snapshot(http_state(c));
    const struct cv_job *job = state_job(snap, c->id);
    if (!job) {
        state_snapshot_release(snap);
        http_reply_error(c, 404, "job not found");
        return;
    }
    int64_t now = http_now_ns();
    struct cv_evaluation *eval = new_eval(job, c->id, CV_EVAL_TRIGGER_JOB_DEREGISTER,
                                          priority ? priority : job->priority, now, c->scratch_id);
    state_snapshot_release(snap);
    struct cv_buf cmd = CV_BUF_INIT;
    struct cv_err err = {0};
    int rc = fsm_encode_job_deregister(c->id, purge, now, eval, &cmd, &err);
    cv_eval_free(eval);
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, cv_error_http_status(rc), "%s", cv_err_format(&err, msg, sizeof msg));
    } else {
        http_propose(c, &cmd, on_deregistered);
    }
    cv_buf_free(&cmd);
}
