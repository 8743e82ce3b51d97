/*
 * evaluation: a unit of scheduling work (Nomad's Evaluation): why the
 * scheduler must look at a job again, what it concluded, and for the task
 * groups it could not place, the metrics that say why.
 *
 * cv_eval_decode() decodes with the codec engine, fills defaults
 * (Namespace "default", Status "pending") and validates: ID a UUID, JobID
 * and Type and TriggeredBy present, Type, Status and TriggeredBy from
 * Nomad's vocabularies, Priority within 1..32767, the eval links (NextEval,
 * PreviousEval, BlockedEval, NodeID, DeploymentID) UUIDs when set.
 *
 * Wait is a duration in nanoseconds; WaitUntil an RFC 3339 string (Go's
 * time.Time); CreateTime/ModifyTime Unix nanoseconds. RelatedEvals,
 * PlanAnnotations and MissingNonNodeResources are output Caravan does not
 * keep: accepted and dropped.
 */
#ifndef CV_EVALUATION_H
#define CV_EVALUATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"

#define CV_EVAL_STATUS_BLOCKED  "blocked"
#define CV_EVAL_STATUS_PENDING  "pending"
#define CV_EVAL_STATUS_COMPLETE "complete"
#define CV_EVAL_STATUS_FAILED   "failed"
#define CV_EVAL_STATUS_CANCELED "canceled" /* one 'l', as Nomad */

/* The scheduler type of the core (garbage collection) evaluations. */
#define CV_EVAL_TYPE_CORE "_core"

#define CV_EVAL_PRIORITY_MIN 1
#define CV_EVAL_PRIORITY_MAX 32767 /* Nomad's CoreJobPriority */

#define CV_EVAL_TRIGGER_JOB_REGISTER           "job-register"
#define CV_EVAL_TRIGGER_JOB_DEREGISTER         "job-deregister"
#define CV_EVAL_TRIGGER_PERIODIC_JOB           "periodic-job"
#define CV_EVAL_TRIGGER_NODE_DRAIN             "node-drain"
#define CV_EVAL_TRIGGER_NODE_UPDATE            "node-update"
#define CV_EVAL_TRIGGER_ALLOC_STOP             "alloc-stop"
#define CV_EVAL_TRIGGER_SCHEDULED              "scheduled"
#define CV_EVAL_TRIGGER_ROLLING_UPDATE         "rolling-update"
#define CV_EVAL_TRIGGER_DEPLOYMENT_WATCHER     "deployment-watcher"
#define CV_EVAL_TRIGGER_FAILED_FOLLOW_UP       "failed-follow-up"
#define CV_EVAL_TRIGGER_MAX_PLANS              "max-plan-attempts"
#define CV_EVAL_TRIGGER_RETRY_FAILED_ALLOC     "alloc-failure"
#define CV_EVAL_TRIGGER_QUEUED_ALLOCS          "queued-allocs"
#define CV_EVAL_TRIGGER_PREEMPTION             "preemption"
#define CV_EVAL_TRIGGER_SCALING                "job-scaling"
#define CV_EVAL_TRIGGER_MAX_DISCONNECT_TIMEOUT "max-disconnect-timeout"
#define CV_EVAL_TRIGGER_RECONNECT              "reconnect"
#define CV_EVAL_TRIGGER_ALLOC_RESCHEDULE       "alloc-reschedule"

/* An element of FailedTGAllocs, keyed by task group name. */
struct cv_tg_metric
{
    char *key;
    struct cv_alloc_metric metric;
};

/* An element of ClassEligibility, keyed by computed node class. */
struct cv_bool_kv
{
    char *key;
    bool value;
};

struct cv_evaluation
{
    char *id; /* UUID */
    char *namespace;
    int64_t priority;
    char *type; /* a job type, or CV_EVAL_TYPE_CORE */
    char *triggered_by;
    char *job_id;
    uint64_t job_modify_index;
    char *node_id;
    uint64_t node_modify_index;
    char *deployment_id;
    char *status;
    char *status_description;
    int64_t wait;     /* ns */
    char *wait_until; /* RFC 3339 */
    char *next_eval;
    char *previous_eval;
    char *blocked_eval;
    CV_VEC(struct cv_tg_metric) failed_tg_allocs;
    CV_VEC(struct cv_bool_kv) class_eligibility;
    bool escaped_computed_class;
    char *quota_limit_reached;
    bool annotate_plan;
    struct cv_intmap queued_allocations; /* by task group */
    uint64_t snapshot_index;
    uint64_t create_index;
    uint64_t modify_index;
    int64_t create_time; /* Unix ns */
    int64_t modify_time; /* Unix ns */
};

extern const struct cv_schema cv_evaluation_schema;

/* Decodes, fills defaults and validates an evaluation from parsed JSON. On
 * success returns 0 and *out is a new evaluation (free with cv_eval_free).
 * On failure returns CV_EVALIDATE with every problem in errs (initialized
 * by the caller) and *out NULL. */
int cv_eval_decode(const struct cv_json *v, struct cv_evaluation **out, struct cv_errlist *errs);
/* Parses text and does the above; a syntax error is errs' only entry and
 * the parser's code is returned. */
int cv_eval_parse(const char *text, size_t len, struct cv_evaluation **out,
                  struct cv_errlist *errs);

/* Returns a new evaluation with every field empty and the defaults set. */
struct cv_evaluation *cv_eval_new(void);
/* Sets the defaults on fields still empty. Idempotent. */
void cv_eval_canonicalize(struct cv_evaluation *eval);
/* Checks a canonicalized evaluation; adds every problem to errs. Returns 0
 * or CV_EVALIDATE. */
int cv_eval_validate(const struct cv_evaluation *eval, struct cv_errlist *errs);

void cv_eval_encode(const struct cv_evaluation *eval, struct cv_jgen *g);
/* Returns a new string with the evaluation as JSON (pretty when asked). */
char *cv_eval_to_json(const struct cv_evaluation *eval, bool pretty);

struct cv_evaluation *cv_eval_copy(const struct cv_evaluation *eval);
bool cv_eval_equal(const struct cv_evaluation *a, const struct cv_evaluation *b);
void cv_eval_free(struct cv_evaluation *eval);

/* True for the statuses an evaluation never leaves: complete, failed,
 * canceled. */
bool cv_eval_terminal(const char *status);

#endif
