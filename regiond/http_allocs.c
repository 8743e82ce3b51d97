/*
 * http_allocs: /v1/allocations, /v1/allocation/:id, /v1/evaluations,
 * /v1/evaluation/:id and /v1/evaluation/:id/allocations.
 *
 * Lists of allocations answer with Nomad's AllocListStub: by default
 * without AllocatedResources and with TaskStates (?resources=true and
 * ?task_states=false change that, as Nomad's). Lists of evaluations answer
 * with whole evaluations, as Nomad's do.
 */
#include <pthread.h>
#include <string.h>

#include "regiond/http_internal.h"

/* The four stub shapes (resources yes/no x task states yes/no), built
 * once: a list of 100,000 allocations must not rebuild them per row. */
static struct http_pick alloc_picks[2][2];
static pthread_once_t alloc_picks_once = PTHREAD_ONCE_INIT;

static void alloc_picks_init(void)
{
    static const char *const base[] = {"ID",
                                       "EvalID",
                                       "Name",
                                       "Namespace",
                                       "NodeID",
                                       "NodeName",
                                       "JobID",
                                       "TaskGroup",
                                       "DesiredStatus",
                                       "DesiredDescription",
                                       "ClientStatus",
                                       "ClientDescription",
                                       "DesiredTransition",
                                       "FollowupEvalID",
                                       "NextAllocation",
                                       "RescheduleTracker",
                                       "PreemptedAllocations",
                                       "PreemptedByAllocation",
                                       "CreateIndex",
                                       "ModifyIndex",
                                       "CreateTime",
                                       "ModifyTime"};
    const size_t n = sizeof base / sizeof base[0];
    for (int r = 0; r < 2; r++) {
        for (int t = 0; t < 2; t++) {
            const char *names[sizeof base / sizeof base[0] + 3];
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                names[k++] = base[i];
            }
            if (r) {
                names[k++] = "AllocatedResources";
            }
            if (t) {
                names[k++] = "TaskStates";
            }
            names[k] = NULL;
            http_pick_init(&alloc_picks[r][t], &cv_allocation_schema, names);
        }
    }
}

struct alloc_stub_opts
{
    bool task_states;
};

static void alloc_stub_extra(struct cv_jgen *g, const void *obj, const void *arg)
{
    const struct cv_allocation *a = obj;
    const struct alloc_stub_opts *o = arg;
    cv_jgen_key(g, "JobType");
    cv_jgen_string(g, a->job ? a->job->type : "");
    cv_jgen_key(g, "JobVersion");
    cv_jgen_uint(g, a->job ? a->job->version : 0);
    cv_jgen_key(g, "DeploymentStatus");
    cv_jgen_null(g);
    if (!o->task_states) {
        cv_jgen_key(g, "TaskStates");
        cv_jgen_null(g);
    }
}

int http_alloc_stub(struct cv_buf *out, const struct cv_allocation *a, bool resources,
                    bool task_states)
{
    pthread_once(&alloc_picks_once, alloc_picks_init);
    struct alloc_stub_opts o = {task_states};
    return http_json_stub(out, &alloc_picks[resources][task_states], a, alloc_stub_extra, &o);
}

static bool namespace_ok(const struct http_ctx *c)
{
    const char *ns = http_query(c, "namespace");
    return !ns || !*ns || strcmp(ns, "default") == 0 || strcmp(ns, "*") == 0;
}

/* ---- allocations --------------------------------------------------------------------- */

void http_allocs_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    bool resources, task_states;
    if (!http_query_bool(c, "resources", false, &resources) ||
        !http_query_bool(c, "task_states", true, &task_states)) {
        return;
    }
    cv_buf_append_char(&c->out, '[');
    struct state_iter it;
    state_iter_allocs(snap, http_query(c, "prefix"), &it);
    const struct cv_allocation *a;
    size_t n = 0;
    while (namespace_ok(c) && (a = state_iter_next(&it))) {
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_alloc_stub(&c->out, a, resources, task_states) != 0) {
            http_set_error(c, 500, "could not encode the answer");
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

void http_alloc_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    const struct cv_allocation *a = namespace_ok(c) ? state_alloc(snap, c->id) : NULL;
    if (!a) {
        http_set_error(c, 404, "alloc not found");
        return;
    }
    *index = a->modify_index;
    if (http_json_object(&c->out, &cv_allocation_schema, a) != 0) {
        http_set_error(c, 500, "could not encode the answer");
    }
}

/* ---- evaluations --------------------------------------------------------------------- */

void http_evals_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    const char *status = http_query(c, "status");
    const char *job = http_query(c, "job");
    cv_buf_append_char(&c->out, '[');
    struct state_iter it;
    state_iter_evals(snap, http_query(c, "prefix"), &it);
    const struct cv_evaluation *e;
    size_t n = 0;
    while (namespace_ok(c) && (e = state_iter_next(&it))) {
        if ((status && *status && strcmp(e->status, status) != 0) ||
            (job && *job && strcmp(e->job_id, job) != 0)) {
            continue;
        }
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_json_object(&c->out, &cv_evaluation_schema, e) != 0) {
            http_set_error(c, 500, "could not encode the answer");
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

void http_eval_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    const struct cv_evaluation *e = namespace_ok(c) ? state_eval(snap, c->id) : NULL;
    if (!e) {
        http_set_error(c, 404, "eval not found");
        return;
    }
    *index = e->modify_index;
    if (http_json_object(&c->out, &cv_evaluation_schema, e) != 0) {
        http_set_error(c, 500, "could not encode the answer");
    }
}

void http_eval_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    cv_buf_append_char(&c->out, '[');
    const struct cv_evaluation *e = state_eval(snap, c->id);
    if (e) {
        /* No index by evaluation: the allocations an evaluation placed are
         * among its job's. */
        struct state_iter it;
        state_iter_allocs_by_job(snap, e->job_id, &it);
        const struct cv_allocation *a;
        size_t n = 0;
        while ((a = state_iter_next(&it))) {
            if (strcmp(a->eval_id, c->id) != 0) {
                continue;
            }
            if (n++) {
                cv_buf_append_char(&c->out, ',');
            }
            if (http_alloc_stub(&c->out, a, false, true) != 0) {
                http_set_error(c, 500, "could not encode the answer");
                return;
            }
        }
    }
    cv_buf_append_char(&c->out, ']');
}
