/*
 * evaluation: Nomad's Evaluation on the codec engine: field tables,
 * defaults and validation.
 *
 * FailedTGAllocs maps a task group to an AllocationMetric. The engine's
 * struct maps want the key as the element's first member, which the metric
 * (also an allocation's Metrics) does not have; so the element is a value
 * map entry (codec.h) whose one unnamed field is the embedded metric.
 */
#include "common/evaluation.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "common/mem.h"
#include "common/model.h"
#include "common/node.h"

/* ---- field tables ---------------------------------------------------------- */

static const struct cv_field tg_metric_fields[] = {
    CV_FIELD(NULL, CV_F_STRUCT, struct cv_tg_metric, metric, &cv_alloc_metric_schema, 0, 0),
};
static const struct cv_schema tg_metric_schema =
    CV_SCHEMA("AllocationMetric", struct cv_tg_metric, NULL, tg_metric_fields);

static const struct cv_field bool_kv_fields[] = {
    CV_FIELD(NULL, CV_F_BOOL, struct cv_bool_kv, value, NULL, 0, 0),
};
static const struct cv_schema bool_kv_schema =
    CV_SCHEMA("bool", struct cv_bool_kv, NULL, bool_kv_fields);

static const struct cv_field evaluation_fields[] = {
    F_STRING("ID", struct cv_evaluation, id),
    F_STRING("Namespace", struct cv_evaluation, namespace),
    F_INT("Priority", struct cv_evaluation, priority),
    F_STRING("Type", struct cv_evaluation, type),
    F_STRING("TriggeredBy", struct cv_evaluation, triggered_by),
    F_STRING("JobID", struct cv_evaluation, job_id),
    F_UINT("JobModifyIndex", struct cv_evaluation, job_modify_index),
    F_STRING("NodeID", struct cv_evaluation, node_id),
    F_UINT("NodeModifyIndex", struct cv_evaluation, node_modify_index),
    F_STRING("DeploymentID", struct cv_evaluation, deployment_id),
    F_STRING("Status", struct cv_evaluation, status),
    F_STRING("StatusDescription", struct cv_evaluation, status_description),
    F_INT("Wait", struct cv_evaluation, wait),
    F_STRING("WaitUntil", struct cv_evaluation, wait_until),
    F_STRING("NextEval", struct cv_evaluation, next_eval),
    F_STRING("PreviousEval", struct cv_evaluation, previous_eval),
    F_STRING("BlockedEval", struct cv_evaluation, blocked_eval),
    F_STRUCT_MAP("FailedTGAllocs", struct cv_evaluation, failed_tg_allocs, &tg_metric_schema),
    F_STRUCT_MAP("ClassEligibility", struct cv_evaluation, class_eligibility, &bool_kv_schema),
    F_BOOL("EscapedComputedClass", struct cv_evaluation, escaped_computed_class),
    F_STRING("QuotaLimitReached", struct cv_evaluation, quota_limit_reached),
    F_BOOL("AnnotatePlan", struct cv_evaluation, annotate_plan),
    F_STRUCT_MAP("QueuedAllocations", struct cv_evaluation, queued_allocations, &cv_int_kv_schema),
    F_UINT("SnapshotIndex", struct cv_evaluation, snapshot_index),
    F_UINT("CreateIndex", struct cv_evaluation, create_index),
    F_UINT("ModifyIndex", struct cv_evaluation, modify_index),
    F_INT("CreateTime", struct cv_evaluation, create_time),
    F_INT("ModifyTime", struct cv_evaluation, modify_time),
    /* Output Caravan does not keep. */
    F_IGNORED("RelatedEvals"),
    F_IGNORED("PlanAnnotations"),
    F_IGNORED("MissingNonNodeResources"),
};
const struct cv_schema cv_evaluation_schema =
    CV_SCHEMA("Evaluation", struct cv_evaluation, NULL, evaluation_fields);

/* ---- validation -------------------------------------------------------------- */

static void failf(struct cv_errlist *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(struct cv_errlist *errs, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(errs, field, fmt, ap);
    va_end(ap);
}

bool cv_eval_terminal(const char *status)
{
    return strcmp(status, CV_EVAL_STATUS_COMPLETE) == 0 ||
           strcmp(status, CV_EVAL_STATUS_FAILED) == 0 ||
           strcmp(status, CV_EVAL_STATUS_CANCELED) == 0;
}

int cv_eval_validate(const struct cv_evaluation *e, struct cv_errlist *errs)
{
    static const char *const statuses[] = {CV_EVAL_STATUS_BLOCKED,  CV_EVAL_STATUS_PENDING,
                                           CV_EVAL_STATUS_COMPLETE, CV_EVAL_STATUS_FAILED,
                                           CV_EVAL_STATUS_CANCELED, NULL};
    static const char *const types[] = {CV_JOB_TYPE_SERVICE,  CV_JOB_TYPE_BATCH, CV_JOB_TYPE_SYSTEM,
                                        CV_JOB_TYPE_SYSBATCH, CV_EVAL_TYPE_CORE, NULL};
    static const char *const triggers[] = {CV_EVAL_TRIGGER_JOB_REGISTER,
                                           CV_EVAL_TRIGGER_JOB_DEREGISTER,
                                           CV_EVAL_TRIGGER_PERIODIC_JOB,
                                           CV_EVAL_TRIGGER_NODE_DRAIN,
                                           CV_EVAL_TRIGGER_NODE_UPDATE,
                                           CV_EVAL_TRIGGER_ALLOC_STOP,
                                           CV_EVAL_TRIGGER_SCHEDULED,
                                           CV_EVAL_TRIGGER_ROLLING_UPDATE,
                                           CV_EVAL_TRIGGER_DEPLOYMENT_WATCHER,
                                           CV_EVAL_TRIGGER_FAILED_FOLLOW_UP,
                                           CV_EVAL_TRIGGER_MAX_PLANS,
                                           CV_EVAL_TRIGGER_RETRY_FAILED_ALLOC,
                                           CV_EVAL_TRIGGER_QUEUED_ALLOCS,
                                           CV_EVAL_TRIGGER_PREEMPTION,
                                           CV_EVAL_TRIGGER_SCALING,
                                           CV_EVAL_TRIGGER_MAX_DISCONNECT_TIMEOUT,
                                           CV_EVAL_TRIGGER_RECONNECT,
                                           CV_EVAL_TRIGGER_ALLOC_RESCHEDULE,
                                           NULL};
    size_t before = errs->len;

    cv_check_uuid(errs, "", "ID", e->id, true);
    if (e->priority < CV_EVAL_PRIORITY_MIN || e->priority > CV_EVAL_PRIORITY_MAX) {
        failf(errs, "Priority", "must be between %d and %d, got %" PRId64, CV_EVAL_PRIORITY_MIN,
              CV_EVAL_PRIORITY_MAX, e->priority);
    }
    if (!e->type[0]) {
        failf(errs, "Type", "is required");
    } else {
        cv_check_vocab(errs, "", "Type", e->type, types);
    }
    if (!e->triggered_by[0]) {
        failf(errs, "TriggeredBy", "is required");
    } else {
        cv_check_vocab(errs, "", "TriggeredBy", e->triggered_by, triggers);
    }
    if (!e->job_id[0]) {
        failf(errs, "JobID", "is required");
    }
    cv_check_uuid(errs, "", "NodeID", e->node_id, false);
    cv_check_uuid(errs, "", "DeploymentID", e->deployment_id, false);
    cv_check_vocab(errs, "", "Status", e->status, statuses);
    cv_check_non_negative(errs, "", "Wait", e->wait);
    cv_check_time(errs, "", "WaitUntil", e->wait_until);
    cv_check_uuid(errs, "", "NextEval", e->next_eval, false);
    cv_check_uuid(errs, "", "PreviousEval", e->previous_eval, false);
    cv_check_uuid(errs, "", "BlockedEval", e->blocked_eval, false);
    for (size_t i = 0; i < e->queued_allocations.len; i++) {
        char path[CV_ERR_PATH_MAX];
        cv_path_join(path, "QueuedAllocations", e->queued_allocations.items[i].key);
        cv_check_non_negative(errs, path, "", e->queued_allocations.items[i].value);
    }
    return errs->len > before ? CV_EVALIDATE : 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void fill_string(char **field, const char *value)
{
    if (!(*field)[0]) {
        cv_set_string(field, value);
    }
}

void cv_eval_canonicalize(struct cv_evaluation *e)
{
    fill_string(&e->namespace, "default");
    fill_string(&e->status, CV_EVAL_STATUS_PENDING);
}

static void model_canonicalize(void *obj)
{
    cv_eval_canonicalize(obj);
}

static int model_validate(const void *obj, struct cv_errlist *errs)
{
    return cv_eval_validate(obj, errs);
}

static const struct cv_model eval_model = {&cv_evaluation_schema, "an evaluation", NULL,
                                           model_canonicalize, model_validate};

struct cv_evaluation *cv_eval_new(void)
{
    return cv_model_new(&eval_model);
}

int cv_eval_decode(const struct cv_json *v, struct cv_evaluation **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_decode(&eval_model, v, &obj, errs);
    *out = obj;
    return rc;
}

int cv_eval_parse(const char *text, size_t len, struct cv_evaluation **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_parse(&eval_model, text, len, &obj, errs);
    *out = obj;
    return rc;
}

void cv_eval_encode(const struct cv_evaluation *obj, struct cv_jgen *g)
{
    cv_encode(&cv_evaluation_schema, obj, g);
}

char *cv_eval_to_json(const struct cv_evaluation *obj, bool pretty)
{
    return cv_model_to_json(&cv_evaluation_schema, obj, pretty);
}

struct cv_evaluation *cv_eval_copy(const struct cv_evaluation *obj)
{
    return cv_model_copy(&cv_evaluation_schema, obj);
}

bool cv_eval_equal(const struct cv_evaluation *a, const struct cv_evaluation *b)
{
    return cv_equal(&cv_evaluation_schema, a, b);
}

void cv_eval_free(struct cv_evaluation *obj)
{
    cv_model_free(&cv_evaluation_schema, obj);
}
