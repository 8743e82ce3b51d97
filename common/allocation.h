/*
 * allocation: one placement of a task group of a job on a node (Nomad's
 * Allocation), with its resources, task states, reschedule history and the
 * scheduler's metrics, in Nomad's JSON shape.
 *
 * cv_alloc_decode() decodes with the codec engine, fills defaults
 * (Namespace "default", DesiredStatus "run", ClientStatus "pending", task
 * State "pending") and validates: IDs are UUIDs, the job and group are
 * named, statuses come from Nomad's vocabularies, resources are not
 * negative. An embedded Job is canonicalized and validated like a submitted
 * one, its errors reported under "Job.".
 *
 * Times follow Nomad's JSON: TaskState's LastRestart/StartedAt/FinishedAt
 * are RFC 3339 strings (Go's time.Time), TaskEvent.Time, CreateTime and
 * ModifyTime are Unix nanoseconds, durations are nanoseconds.
 *
 * AllocationMetric is exported (cv_alloc_metric_schema) because an
 * evaluation's FailedTGAllocs holds the same struct, and so is the
 * map[string]int element (cv_int_kv_schema) they both use.
 */
#ifndef CV_ALLOCATION_H
#define CV_ALLOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/job.h"
#include "common/json.h"
#include "common/jsongen.h"

/* Vocabularies, as Nomad spells them. */
#define CV_ALLOC_DESIRED_RUN   "run"
#define CV_ALLOC_DESIRED_STOP  "stop"
#define CV_ALLOC_DESIRED_EVICT "evict"

#define CV_ALLOC_CLIENT_PENDING  "pending"
#define CV_ALLOC_CLIENT_RUNNING  "running"
#define CV_ALLOC_CLIENT_COMPLETE "complete"
#define CV_ALLOC_CLIENT_FAILED   "failed"
#define CV_ALLOC_CLIENT_LOST     "lost"
#define CV_ALLOC_CLIENT_UNKNOWN  "unknown"

#define CV_TASK_STATE_PENDING "pending"
#define CV_TASK_STATE_RUNNING "running"
#define CV_TASK_STATE_DEAD    "dead"

/* An element of a map[string]int (kept sorted by key). */
struct cv_int_kv
{
    char *key;
    int64_t value;
};

struct cv_intmap
{
    struct cv_int_kv *items;
    size_t len;
};

/* An element of a map[string]float64. */
struct cv_double_kv
{
    char *key;
    double value;
};

struct cv_node_score_meta
{
    char *node_id;
    CV_VEC(struct cv_double_kv) scores;
    double norm_score;
};

/* Why and how the scheduler placed an allocation, or failed to. */
struct cv_alloc_metric
{
    int64_t nodes_evaluated;
    int64_t nodes_filtered;
    int64_t nodes_in_pool;
    char *node_pool;
    struct cv_intmap nodes_available; /* by datacenter */
    struct cv_intmap class_filtered;
    struct cv_intmap constraint_filtered;
    int64_t nodes_exhausted;
    struct cv_intmap class_exhausted;
    struct cv_intmap dimension_exhausted;
    struct cv_strings quota_exhausted;
    CV_VEC(struct cv_node_score_meta) score_meta_data;
    int64_t allocation_time; /* ns */
    int64_t coalesced_failures;
};

struct cv_allocated_cpu
{
    int64_t cpu_shares;
};

struct cv_allocated_memory
{
    int64_t memory_mb;
    int64_t memory_max_mb; /* 0 = no oversubscription, -1 = no limit */
};

/* An element of AllocatedResources.Tasks, keyed by task name. */
struct cv_allocated_task_resources
{
    char *key;
    struct cv_allocated_cpu cpu;
    struct cv_allocated_memory memory;
    CV_VEC(struct cv_network) networks;
};

struct cv_port_mapping
{
    char *label;
    int64_t value; /* host port */
    int64_t to;    /* port inside the task */
    char *host_ip;
};

struct cv_allocated_shared
{
    int64_t disk_mb;
    CV_VEC(struct cv_network) networks;
    CV_VEC(struct cv_port_mapping) ports;
};

struct cv_allocated_resources
{
    CV_VEC(struct cv_allocated_task_resources) tasks;
    struct cv_allocated_shared shared;
};

struct cv_desired_transition
{
    bool migrate;
    bool reschedule;
    bool force_reschedule;
    bool no_shutdown_delay;
    bool migrate_disable_placement;
};

struct cv_task_event
{
    char *type;
    int64_t time; /* Unix ns */
    char *display_message;
    struct cv_strmap details;
    char *message;
    /* Deprecated by Nomad in favour of Details, still written. */
    bool fails_task;
    char *restart_reason;
    char *setup_error;
    char *driver_error;
    char *driver_message;
    int64_t exit_code;
    int64_t signal;
    char *kill_reason;
    int64_t kill_timeout; /* ns */
    char *kill_error;
    int64_t start_delay; /* Unix ns */
    char *download_error;
    char *validation_error;
    int64_t disk_limit;
    int64_t disk_size;
    char *failed_sibling;
    char *vault_error;
    char *task_signal_reason;
    char *task_signal;
    char *generic_source;
};

/* An element of Allocation.TaskStates, keyed by task name. */
struct cv_task_state
{
    char *key;
    char *state; /* CV_TASK_STATE_* */
    bool failed;
    uint64_t restarts;
    char *last_restart; /* RFC 3339 */
    char *started_at;   /* RFC 3339 */
    char *finished_at;  /* RFC 3339 */
    CV_VEC(struct cv_task_event) events;
};

struct cv_reschedule_event
{
    int64_t reschedule_time; /* Unix ns */
    char *prev_alloc_id;
    char *prev_node_id;
    int64_t delay; /* ns */
};

struct cv_reschedule_tracker
{
    CV_VEC(struct cv_reschedule_event) events;
    char *last_reschedule;
};

struct cv_allocation
{
    char *id; /* UUID */
    char *namespace;
    char *eval_id;
    char *name; /* "<job>.<group>[<index>]" */
    char *node_id;
    char *node_name;
    char *job_id;
    struct cv_job *job;
    char *task_group;
    struct cv_allocated_resources *allocated_resources;
    struct cv_alloc_metric *metrics;
    char *desired_status;
    char *desired_description;
    struct cv_desired_transition desired_transition;
    char *client_status;
    char *client_description;
    CV_VEC(struct cv_task_state) task_states;
    char *deployment_id;
    char *followup_eval_id;
    char *previous_allocation;
    char *next_allocation;
    struct cv_reschedule_tracker *reschedule_tracker;
    struct cv_strings preempted_allocations;
    char *preempted_by_allocation;
    uint64_t create_index;
    uint64_t modify_index;
    uint64_t alloc_modify_index;
    int64_t create_time; /* Unix ns */
    int64_t modify_time; /* Unix ns */
};

extern const struct cv_schema cv_allocation_schema;
extern const struct cv_schema cv_alloc_metric_schema;
extern const struct cv_schema cv_int_kv_schema;
/* One element of TaskStates and one TaskEvent, for code that keeps a task's
 * state apart from its allocation (the agent's local state). */
extern const struct cv_schema cv_task_state_schema;
extern const struct cv_schema cv_task_event_schema;

/* Decodes, fills defaults and validates an allocation from parsed JSON. On
 * success returns 0 and *out is a new allocation (free with
 * cv_alloc_free). On failure returns CV_EVALIDATE with every problem in
 * errs (initialized by the caller) and *out NULL. */
int cv_alloc_decode(const struct cv_json *v, struct cv_allocation **out, struct cv_errlist *errs);
/* Parses text and does the above; a syntax error is errs' only entry and
 * the parser's code is returned. */
int cv_alloc_parse(const char *text, size_t len, struct cv_allocation **out,
                   struct cv_errlist *errs);

/* Returns a new allocation with every field empty and the defaults set. */
struct cv_allocation *cv_alloc_new(void);
/* Sets the defaults on fields still empty (and canonicalizes the embedded
 * job). Idempotent. */
void cv_alloc_canonicalize(struct cv_allocation *alloc);
/* Checks a canonicalized allocation; adds every problem to errs. Returns 0
 * or CV_EVALIDATE. */
int cv_alloc_validate(const struct cv_allocation *alloc, struct cv_errlist *errs);

void cv_alloc_encode(const struct cv_allocation *alloc, struct cv_jgen *g);
/* Returns a new string with the allocation as JSON (pretty when asked). */
char *cv_alloc_to_json(const struct cv_allocation *alloc, bool pretty);

struct cv_allocation *cv_alloc_copy(const struct cv_allocation *alloc);
bool cv_alloc_equal(const struct cv_allocation *a, const struct cv_allocation *b);
void cv_alloc_free(struct cv_allocation *alloc);

/* True for the client statuses an allocation never leaves: complete,
 * failed and lost. */
bool cv_alloc_client_terminal(const char *client_status);

/* Returns the value for key in m, or dflt. */
int64_t cv_intmap_get(const struct cv_intmap *m, const char *key, int64_t dflt);
/* Sets key to value, keeping the map sorted. */
void cv_intmap_set(struct cv_intmap *m, const char *key, int64_t value);

#endif
