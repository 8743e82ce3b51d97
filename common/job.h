/*
 * job: the Job and everything inside it (TaskGroup, Task, Resources,
 * Constraint, Affinity, Spread, policies), with Nomad's JSON shape.
 *
 * cv_job_decode() is the one door through which a job enters Caravan, from
 * a job file, the CLI or the HTTP API. It accepts a bare job object or
 * {"Job": {...}}, decodes it, applies Nomad's defaults (cv_job_canonicalize)
 * and validates it (cv_job_validate), reporting every problem with the path
 * of its field: "TaskGroups[1].Tasks[0].Resources.MemoryMB: must be at
 * least 10".
 *
 * Durations are int64 nanoseconds, as in Nomad's JSON. Integer fields that
 * Nomad's client leaves unset carry CV_UNSET, and the bools of policies that
 * merge carry CV_OPTBOOL_UNSET, until canonicalization gives them their
 * default, so "absent" and "zero" stay distinct.
 */
#ifndef CV_JOB_H
#define CV_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"

/* Marks an integer field that the input did not set. */
#define CV_UNSET INT64_MIN

/* Vocabularies, as Nomad spells them. */
#define CV_JOB_TYPE_SERVICE  "service"
#define CV_JOB_TYPE_BATCH    "batch"
#define CV_JOB_TYPE_SYSTEM   "system"
#define CV_JOB_TYPE_SYSBATCH "sysbatch"

#define CV_JOB_STATUS_PENDING "pending"
#define CV_JOB_STATUS_RUNNING "running"
#define CV_JOB_STATUS_DEAD    "dead"

struct cv_constraint
{
    char *ltarget;
    char *rtarget;
    char *operand;
};

struct cv_affinity
{
    char *ltarget;
    char *rtarget;
    char *operand;
    int64_t weight; /* -100..100, not 0 */
};

struct cv_spread_target
{
    char *value;
    int64_t percent;
};

struct cv_spread
{
    char *attribute;
    int64_t weight; /* 0..100 */
    CV_VEC(struct cv_spread_target) targets;
};

struct cv_port
{
    char *label;
    int64_t value; /* static host port; 0 for dynamic */
    int64_t to;    /* port inside the task; -1 maps to the same */
    char *host_network;
};

struct cv_network
{
    char *mode;
    char *device;
    char *cidr;
    char *ip;
    char *hostname;
    int64_t mbits;
    CV_VEC(struct cv_port) reserved_ports;
    CV_VEC(struct cv_port) dynamic_ports;
};

struct cv_resources
{
    int64_t cpu;   /* MHz */
    int64_t cores; /* whole cores, exclusive of cpu */
    int64_t memory_mb;
    int64_t memory_max_mb; /* oversubscription ceiling, 0 = none */
    int64_t disk_mb;
    CV_VEC(struct cv_network) networks;
};

struct cv_restart_policy
{
    int64_t attempts;
    int64_t interval;        /* ns */
    int64_t delay;           /* ns */
    char *mode;              /* "fail" | "delay" */
    int8_t render_templates; /* CV_F_OPTBOOL */
};

struct cv_reschedule_policy
{
    int64_t attempts;
    int64_t interval;     /* ns */
    int64_t delay;        /* ns */
    char *delay_function; /* "constant" | "exponential" | "fibonacci" */
    int64_t max_delay;    /* ns */
    int8_t unlimited;     /* CV_F_OPTBOOL */
};

struct cv_update_strategy
{
    int64_t stagger; /* ns */
    int64_t max_parallel;
    char *health_check;        /* "checks" | "task_states" | "manual" */
    int64_t min_healthy_time;  /* ns */
    int64_t healthy_deadline;  /* ns */
    int64_t progress_deadline; /* ns */
    int8_t auto_revert;        /* CV_F_OPTBOOL */
    int8_t auto_promote;       /* CV_F_OPTBOOL */
    int64_t canary;
};

struct cv_migrate_strategy
{
    int64_t max_parallel;
    char *health_check;
    int64_t min_healthy_time; /* ns */
    int64_t healthy_deadline; /* ns */
};

struct cv_ephemeral_disk
{
    bool sticky;
    bool migrate;
    int64_t size_mb;
};

struct cv_log_config
{
    int64_t max_files;
    int64_t max_file_size_mb;
    bool disabled;
};

struct cv_task_lifecycle
{
    char *hook; /* "prestart" | "poststart" | "poststop" */
    bool sidecar;
};

struct cv_task
{
    char *name;
    char *driver;
    char *user;
    struct cv_json_doc *config; /* driver configuration, any JSON object */
    CV_VEC(struct cv_constraint) constraints;
    CV_VEC(struct cv_affinity) affinities;
    struct cv_strmap env;
    struct cv_resources *resources;
    struct cv_restart_policy *restart_policy;
    struct cv_strmap meta;
    int64_t kill_timeout; /* ns */
    struct cv_log_config *log_config;
    bool leader;
    int64_t shutdown_delay; /* ns */
    char *kill_signal;
    char *kind;
    struct cv_task_lifecycle *lifecycle;
};

struct cv_task_group
{
    char *name;
    int64_t count;
    CV_VEC(struct cv_constraint) constraints;
    CV_VEC(struct cv_affinity) affinities;
    CV_VEC(struct cv_task) tasks;
    CV_VEC(struct cv_spread) spreads;
    struct cv_restart_policy *restart_policy;
    struct cv_reschedule_policy *reschedule_policy;
    struct cv_ephemeral_disk *ephemeral_disk;
    struct cv_update_strategy *update;
    struct cv_migrate_strategy *migrate;
    CV_VEC(struct cv_network) networks;
    struct cv_strmap meta;
    int64_t shutdown_delay; /* ns */
};

struct cv_job
{
    char *region;
    char *namespace;
    char *id;
    char *parent_id;
    char *name;
    char *type;
    int64_t priority;
    bool all_at_once;
    struct cv_strings datacenters;
    char *node_pool;
    CV_VEC(struct cv_constraint) constraints;
    CV_VEC(struct cv_affinity) affinities;
    CV_VEC(struct cv_task_group) task_groups;
    struct cv_update_strategy *update;
    CV_VEC(struct cv_spread) spreads;
    struct cv_reschedule_policy *reschedule;
    struct cv_migrate_strategy *migrate;
    struct cv_strmap meta;

    /* Set by the servers, echoed back by clients. */
    bool stop;
    char *status;
    char *status_description;
    bool stable;
    uint64_t version;
    int64_t submit_time; /* ns since the epoch */
    uint64_t create_index;
    uint64_t modify_index;
    uint64_t job_modify_index;
};

extern const struct cv_schema cv_job_schema;
extern const struct cv_schema cv_task_group_schema;
extern const struct cv_schema cv_task_schema;
extern const struct cv_schema cv_constraint_schema;
extern const struct cv_schema cv_resources_schema;
extern const struct cv_schema cv_network_resource_schema;
extern const struct cv_schema cv_restart_policy_schema;
extern const struct cv_schema cv_reschedule_policy_schema;
extern const struct cv_schema cv_update_strategy_schema;
extern const struct cv_schema cv_migrate_strategy_schema;
extern const struct cv_schema cv_ephemeral_disk_schema;
extern const struct cv_schema cv_log_config_schema;
extern const struct cv_schema cv_task_lifecycle_schema;

/* Decodes, canonicalizes and validates a job from parsed JSON: a job object
 * or {"Job": {...}}. On success returns 0 and *out is a new job (free with
 * cv_job_free). On failure returns CV_EVALIDATE with every problem in errs
 * and *out NULL. errs must have been initialized by the caller. */
int cv_job_decode(const struct cv_json *v, struct cv_job **out, struct cv_errlist *errs);

/* Parses text and does the above; a JSON syntax error becomes errs' only
 * entry and the parse error's code (CV_EPARSE or CV_ETOOBIG) is returned. */
int cv_job_parse(const char *text, size_t len, struct cv_job **out, struct cv_errlist *errs);

/* Fills every unset field with Nomad's default for the job's type. */
void cv_job_canonicalize(struct cv_job *job);

/* Checks a canonicalized job; adds every problem to errs. Returns 0 or
 * CV_EVALIDATE. */
int cv_job_validate(const struct cv_job *job, struct cv_errlist *errs);

/* Writes {"Job": ...}-less job JSON: the job object itself. */
void cv_job_encode(const struct cv_job *job, struct cv_jgen *g);
/* Returns a new string with the job as JSON (pretty when asked). */
char *cv_job_to_json(const struct cv_job *job, bool pretty);

struct cv_job *cv_job_copy(const struct cv_job *job);
bool cv_job_equal(const struct cv_job *a, const struct cv_job *b);
void cv_job_free(struct cv_job *job);

#endif
