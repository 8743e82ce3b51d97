/*
 * allocation: Nomad's Allocation on the codec engine: field tables,
 * defaults, validation and the AllocationMetric schema the evaluation
 * module shares.
 *
 * The deprecated resource fields (Resources, TaskResources), Services, the
 * client's NetworkStatus and DeploymentStatus (until deployments exist) are
 * output that clients may echo back: accepted and dropped. Devices are
 * refused unless empty, since Caravan schedules none yet.
 */
#include "common/allocation.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/model.h"
#include "common/node.h"

/* ---- field tables ---------------------------------------------------------- */

/* A value map's element schema: one field with a NULL name (codec.h). */
static const struct cv_field int_kv_fields[] = {
    CV_FIELD(NULL, CV_F_INT, struct cv_int_kv, value, NULL, INT64_MIN, INT64_MAX),
};
const struct cv_schema cv_int_kv_schema = CV_SCHEMA("int", struct cv_int_kv, NULL, int_kv_fields);

static const struct cv_field double_kv_fields[] = {
    CV_FIELD(NULL, CV_F_DOUBLE, struct cv_double_kv, value, NULL, 0, 0),
};
static const struct cv_schema double_kv_schema =
    CV_SCHEMA("float64", struct cv_double_kv, NULL, double_kv_fields);

static const struct cv_field score_meta_fields[] = {
    F_STRING("NodeID", struct cv_node_score_meta, node_id),
    F_STRUCT_MAP("Scores", struct cv_node_score_meta, scores, &double_kv_schema),
    F_DOUBLE("NormScore", struct cv_node_score_meta, norm_score),
};
static const struct cv_schema score_meta_schema =
    CV_SCHEMA("NodeScoreMeta", struct cv_node_score_meta, NULL, score_meta_fields);

static const struct cv_field metric_fields[] = {
    F_INT("NodesEvaluated", struct cv_alloc_metric, nodes_evaluated),
    F_INT("NodesFiltered", struct cv_alloc_metric, nodes_filtered),
    F_INT("NodesInPool", struct cv_alloc_metric, nodes_in_pool),
    F_STRING("NodePool", struct cv_alloc_metric, node_pool),
    F_STRUCT_MAP("NodesAvailable", struct cv_alloc_metric, nodes_available, &cv_int_kv_schema),
    F_STRUCT_MAP("ClassFiltered", struct cv_alloc_metric, class_filtered, &cv_int_kv_schema),
    F_STRUCT_MAP("ConstraintFiltered", struct cv_alloc_metric, constraint_filtered,
                 &cv_int_kv_schema),
    F_INT("NodesExhausted", struct cv_alloc_metric, nodes_exhausted),
    F_STRUCT_MAP("ClassExhausted", struct cv_alloc_metric, class_exhausted, &cv_int_kv_schema),
    F_STRUCT_MAP("DimensionExhausted", struct cv_alloc_metric, dimension_exhausted,
                 &cv_int_kv_schema),
    F_STRINGS("QuotaExhausted", struct cv_alloc_metric, quota_exhausted),
    F_ARRAY("ScoreMetaData", struct cv_alloc_metric, score_meta_data, &score_meta_schema),
    F_INT("AllocationTime", struct cv_alloc_metric, allocation_time),
    F_INT("CoalescedFailures", struct cv_alloc_metric, coalesced_failures),
    F_IGNORED("ResourcesExhausted"),
    F_IGNORED("Scores"), /* deprecated by ScoreMetaData */
};
const struct cv_schema cv_alloc_metric_schema =
    CV_SCHEMA("AllocationMetric", struct cv_alloc_metric, NULL, metric_fields);

static const struct cv_field allocated_cpu_fields[] = {
    F_INT("CpuShares", struct cv_allocated_cpu, cpu_shares),
};
static const struct cv_schema allocated_cpu_schema =
    CV_SCHEMA("AllocatedCpuResources", struct cv_allocated_cpu, NULL, allocated_cpu_fields);

static const struct cv_field allocated_memory_fields[] = {
    F_INT("MemoryMB", struct cv_allocated_memory, memory_mb),
    F_INT("MemoryMaxMB", struct cv_allocated_memory, memory_max_mb),
};
static const struct cv_schema allocated_memory_schema = CV_SCHEMA(
    "AllocatedMemoryResources", struct cv_allocated_memory, NULL, allocated_memory_fields);

static const struct cv_field task_resources_fields[] = {
    F_STRUCT("Cpu", struct cv_allocated_task_resources, cpu, &allocated_cpu_schema),
    F_STRUCT("Memory", struct cv_allocated_task_resources, memory, &allocated_memory_schema),
    F_ARRAY("Networks", struct cv_allocated_task_resources, networks, &cv_network_resource_schema),
    F_UNSUPPORTED("Devices"),
};
static const struct cv_schema task_resources_schema = CV_SCHEMA(
    "AllocatedTaskResources", struct cv_allocated_task_resources, NULL, task_resources_fields);

static const struct cv_field port_mapping_fields[] = {
    F_STRING("Label", struct cv_port_mapping, label),
    F_INT("Value", struct cv_port_mapping, value),
    F_INT("To", struct cv_port_mapping, to),
    F_STRING("HostIP", struct cv_port_mapping, host_ip),
};
static const struct cv_schema port_mapping_schema =
    CV_SCHEMA("PortMapping", struct cv_port_mapping, NULL, port_mapping_fields);

static const struct cv_field shared_fields[] = {
    F_INT("DiskMB", struct cv_allocated_shared, disk_mb),
    F_ARRAY("Networks", struct cv_allocated_shared, networks, &cv_network_resource_schema),
    F_ARRAY("Ports", struct cv_allocated_shared, ports, &port_mapping_schema),
};
static const struct cv_schema shared_schema =
    CV_SCHEMA("AllocatedSharedResources", struct cv_allocated_shared, NULL, shared_fields);

static const struct cv_field allocated_fields[] = {
    F_STRUCT_MAP("Tasks", struct cv_allocated_resources, tasks, &task_resources_schema),
    F_STRUCT("Shared", struct cv_allocated_resources, shared, &shared_schema),
};
static const struct cv_schema allocated_schema =
    CV_SCHEMA("AllocatedResources", struct cv_allocated_resources, NULL, allocated_fields);

static const struct cv_field transition_fields[] = {
    F_BOOL("Migrate", struct cv_desired_transition, migrate),
    F_BOOL("Reschedule", struct cv_desired_transition, reschedule),
    F_BOOL("ForceReschedule", struct cv_desired_transition, force_reschedule),
    F_BOOL("NoShutdownDelay", struct cv_desired_transition, no_shutdown_delay),
    F_BOOL("MigrateDisablePlacement", struct cv_desired_transition, migrate_disable_placement),
};
static const struct cv_schema transition_schema =
    CV_SCHEMA("DesiredTransition", struct cv_desired_transition, NULL, transition_fields);

static const struct cv_field task_event_fields[] = {
    F_STRING("Type", struct cv_task_event, type),
    F_INT("Time", struct cv_task_event, time),
    F_STRING("DisplayMessage", struct cv_task_event, display_message),
    F_STRMAP("Details", struct cv_task_event, details),
    F_STRING("Message", struct cv_task_event, message),
    F_BOOL("FailsTask", struct cv_task_event, fails_task),
    F_STRING("RestartReason", struct cv_task_event, restart_reason),
    F_STRING("SetupError", struct cv_task_event, setup_error),
    F_STRING("DriverError", struct cv_task_event, driver_error),
    F_STRING("DriverMessage", struct cv_task_event, driver_message),
    F_INT("ExitCode", struct cv_task_event, exit_code),
    F_INT("Signal", struct cv_task_event, signal),
    F_STRING("KillReason", struct cv_task_event, kill_reason),
    F_INT("KillTimeout", struct cv_task_event, kill_timeout),
    F_STRING("KillError", struct cv_task_event, kill_error),
    F_INT("StartDelay", struct cv_task_event, start_delay),
    F_STRING("DownloadError", struct cv_task_event, download_error),
    F_STRING("ValidationError", struct cv_task_event, validation_error),
    F_INT("DiskLimit", struct cv_task_event, disk_limit),
    F_INT("DiskSize", struct cv_task_event, disk_size),
    F_STRING("FailedSibling", struct cv_task_event, failed_sibling),
    F_STRING("VaultError", struct cv_task_event, vault_error),
    F_STRING("TaskSignalReason", struct cv_task_event, task_signal_reason),
    F_STRING("TaskSignal", struct cv_task_event, task_signal),
    F_STRING("GenericSource", struct cv_task_event, generic_source),
};
static const struct cv_schema task_event_schema =
    CV_SCHEMA("TaskEvent", struct cv_task_event, NULL, task_event_fields);

static const struct cv_field task_state_fields[] = {
    F_STRING("State", struct cv_task_state, state),
    F_BOOL("Failed", struct cv_task_state, failed),
    F_UINT("Restarts", struct cv_task_state, restarts),
    F_STRING("LastRestart", struct cv_task_state, last_restart),
    F_STRING("StartedAt", struct cv_task_state, started_at),
    F_STRING("FinishedAt", struct cv_task_state, finished_at),
    F_ARRAY("Events", struct cv_task_state, events, &task_event_schema),
};
static const struct cv_schema task_state_schema =
    CV_SCHEMA("TaskState", struct cv_task_state, NULL, task_state_fields);
/* Exported for the agent, which persists one task's state on its own. */
const struct cv_schema cv_task_state_schema =
    CV_SCHEMA("TaskState", struct cv_task_state, NULL, task_state_fields);
const struct cv_schema cv_task_event_schema =
    CV_SCHEMA("TaskEvent", struct cv_task_event, NULL, task_event_fields);

static const struct cv_field reschedule_event_fields[] = {
    F_INT("RescheduleTime", struct cv_reschedule_event, reschedule_time),
    F_STRING("PrevAllocID", struct cv_reschedule_event, prev_alloc_id),
    F_STRING("PrevNodeID", struct cv_reschedule_event, prev_node_id),
    F_INT("Delay", struct cv_reschedule_event, delay),
};
static const struct cv_schema reschedule_event_schema =
    CV_SCHEMA("RescheduleEvent", struct cv_reschedule_event, NULL, reschedule_event_fields);

static const struct cv_field reschedule_tracker_fields[] = {
    F_ARRAY("Events", struct cv_reschedule_tracker, events, &reschedule_event_schema),
    F_STRING("LastReschedule", struct cv_reschedule_tracker, last_reschedule),
};
static const struct cv_schema reschedule_tracker_schema =
    CV_SCHEMA("RescheduleTracker", struct cv_reschedule_tracker, NULL, reschedule_tracker_fields);

static const struct cv_field allocation_fields[] = {
    F_STRING("ID", struct cv_allocation, id),
    F_STRING("Namespace", struct cv_allocation, namespace),
    F_STRING("EvalID", struct cv_allocation, eval_id),
    F_STRING("Name", struct cv_allocation, name),
    F_STRING("NodeID", struct cv_allocation, node_id),
    F_STRING("NodeName", struct cv_allocation, node_name),
    F_STRING("JobID", struct cv_allocation, job_id),
    F_STRUCT_PTR("Job", struct cv_allocation, job, &cv_job_schema),
    F_STRING("TaskGroup", struct cv_allocation, task_group),
    F_STRUCT_PTR("AllocatedResources", struct cv_allocation, allocated_resources,
                 &allocated_schema),
    F_STRUCT_PTR("Metrics", struct cv_allocation, metrics, &cv_alloc_metric_schema),
    F_STRING("DesiredStatus", struct cv_allocation, desired_status),
    F_STRING("DesiredDescription", struct cv_allocation, desired_description),
    F_STRUCT("DesiredTransition", struct cv_allocation, desired_transition, &transition_schema),
    F_STRING("ClientStatus", struct cv_allocation, client_status),
    F_STRING("ClientDescription", struct cv_allocation, client_description),
    F_STRUCT_MAP("TaskStates", struct cv_allocation, task_states, &task_state_schema),
    F_STRING("DeploymentID", struct cv_allocation, deployment_id),
    F_STRING("FollowupEvalID", struct cv_allocation, followup_eval_id),
    F_STRING("PreviousAllocation", struct cv_allocation, previous_allocation),
    F_STRING("NextAllocation", struct cv_allocation, next_allocation),
    F_STRUCT_PTR("RescheduleTracker", struct cv_allocation, reschedule_tracker,
                 &reschedule_tracker_schema),
    F_STRINGS("PreemptedAllocations", struct cv_allocation, preempted_allocations),
    F_STRING("PreemptedByAllocation", struct cv_allocation, preempted_by_allocation),
    F_UINT("CreateIndex", struct cv_allocation, create_index),
    F_UINT("ModifyIndex", struct cv_allocation, modify_index),
    F_UINT("AllocModifyIndex", struct cv_allocation, alloc_modify_index),
    F_INT("CreateTime", struct cv_allocation, create_time),
    F_INT("ModifyTime", struct cv_allocation, modify_time),
    /* Output Caravan does not keep (deprecated or not modelled yet). */
    F_IGNORED("Resources"),
    F_IGNORED("TaskResources"),
    F_IGNORED("Services"),
    F_IGNORED("DeploymentStatus"),
    F_IGNORED("NetworkStatus"),
};
const struct cv_schema cv_allocation_schema =
    CV_SCHEMA("Allocation", struct cv_allocation, NULL, allocation_fields);

/* ---- small helpers -------------------------------------------------------------- */

bool cv_alloc_client_terminal(const char *client_status)
{
    return strcmp(client_status, CV_ALLOC_CLIENT_COMPLETE) == 0 ||
           strcmp(client_status, CV_ALLOC_CLIENT_FAILED) == 0 ||
           strcmp(client_status, CV_ALLOC_CLIENT_LOST) == 0;
}

int64_t cv_intmap_get(const struct cv_intmap *m, const char *key, int64_t dflt)
{
    for (size_t i = 0; i < m->len; i++) {
        if (strcmp(m->items[i].key, key) == 0) {
            return m->items[i].value;
        }
    }
    return dflt;
}

void cv_intmap_set(struct cv_intmap *m, const char *key, int64_t value)
{
    size_t i = 0;
    while (i < m->len && strcmp(m->items[i].key, key) < 0) {
        i++;
    }
    if (i < m->len && strcmp(m->items[i].key, key) == 0) {
        m->items[i].value = value;
        return;
    }
    m->items = cv_reallocarray(m->items, m->len + 1, sizeof *m->items);
    memmove(&m->items[i + 1], &m->items[i], (m->len - i) * sizeof *m->items);
    m->items[i].key = cv_strdup(key);
    m->items[i].value = value;
    m->len++;
}

/* ---- validation -------------------------------------------------------------- */

static void failf(struct cv_errlist *errs, const char *prefix, const char *field, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static void failf(struct cv_errlist *errs, const char *prefix, const char *field, const char *fmt,
                  ...)
{
    char path[CV_ERR_PATH_MAX];
    cv_path_join(path, prefix, field);
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(errs, path, fmt, ap);
    va_end(ap);
}

static void check_required(struct cv_errlist *errs, const char *field, const char *value)
{
    if (!value[0]) {
        failf(errs, "", field, "is required");
    }
}

static void check_port_range(struct cv_errlist *errs, const char *path, const char *field,
                             int64_t value, int64_t min)
{
    if (value < min || value > CV_PORT_MAX) {
        failf(errs, path, field, "must be between %" PRId64 " and %d, got %" PRId64, min,
              CV_PORT_MAX, value);
    }
}

static void check_allocated(struct cv_errlist *errs, const struct cv_allocated_resources *r)
{
    char path[CV_ERR_PATH_MAX], sub[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < r->tasks.len; i++) {
        const struct cv_allocated_task_resources *t = &r->tasks.items[i];
        cv_path_join(path, "AllocatedResources.Tasks", t->key);
        cv_path_join(sub, path, "Cpu");
        cv_check_non_negative(errs, sub, "CpuShares", t->cpu.cpu_shares);
        cv_path_join(sub, path, "Memory");
        cv_check_non_negative(errs, sub, "MemoryMB", t->memory.memory_mb);
        if (t->memory.memory_max_mb < -1) {
            failf(errs, sub, "MemoryMaxMB", "must be -1 (no limit) or more, got %" PRId64,
                  t->memory.memory_max_mb);
        }
        cv_check_networks(errs, path, t->networks.items, t->networks.len);
    }
    const char *shared = "AllocatedResources.Shared";
    cv_check_non_negative(errs, shared, "DiskMB", r->shared.disk_mb);
    cv_check_networks(errs, shared, r->shared.networks.items, r->shared.networks.len);
    for (size_t i = 0; i < r->shared.ports.len; i++) {
        cv_path_index(path, shared, "Ports", i);
        check_port_range(errs, path, "Value", r->shared.ports.items[i].value, 0);
        check_port_range(errs, path, "To", r->shared.ports.items[i].to, -1);
    }
}

static void check_task_states(struct cv_errlist *errs, const struct cv_allocation *a)
{
    static const char *const states[] = {CV_TASK_STATE_PENDING, CV_TASK_STATE_RUNNING,
                                         CV_TASK_STATE_DEAD, NULL};
    char path[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < a->task_states.len; i++) {
        const struct cv_task_state *ts = &a->task_states.items[i];
        cv_path_join(path, "TaskStates", ts->key);
        cv_check_vocab(errs, path, "State", ts->state, states);
        cv_check_time(errs, path, "LastRestart", ts->last_restart);
        cv_check_time(errs, path, "StartedAt", ts->started_at);
        cv_check_time(errs, path, "FinishedAt", ts->finished_at);
    }
}

/* Validates the embedded job as a submitted one, its paths under "Job". */
static void check_job(struct cv_errlist *errs, const struct cv_allocation *a)
{
    struct cv_errlist job_errs;
    cv_errlist_init(&job_errs);
    cv_job_validate(a->job, &job_errs);
    char path[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < job_errs.len; i++) {
        cv_path_join(path, "Job", job_errs.items[i].path);
        cv_errlist_addf(errs, path, "%s", job_errs.items[i].msg);
    }
    cv_errlist_free(&job_errs);

    if (a->job_id[0] && strcmp(a->job_id, a->job->id) != 0) {
        failf(errs, "", "JobID", "must match Job.ID (\"%.64s\"), got \"%.64s\"", a->job->id,
              a->job_id);
    }
    if (a->task_group[0]) {
        bool found = false;
        for (size_t i = 0; i < a->job->task_groups.len && !found; i++) {
            found = strcmp(a->job->task_groups.items[i].name, a->task_group) == 0;
        }
        if (!found) {
            failf(errs, "", "TaskGroup", "names no task group of Job: \"%.64s\"", a->task_group);
        }
    }
}

int cv_alloc_validate(const struct cv_allocation *a, struct cv_errlist *errs)
{
    static const char *const desired[] = {CV_ALLOC_DESIRED_RUN, CV_ALLOC_DESIRED_STOP,
                                          CV_ALLOC_DESIRED_EVICT, NULL};
    static const char *const client[] = {CV_ALLOC_CLIENT_PENDING,
                                         CV_ALLOC_CLIENT_RUNNING,
                                         CV_ALLOC_CLIENT_COMPLETE,
                                         CV_ALLOC_CLIENT_FAILED,
                                         CV_ALLOC_CLIENT_LOST,
                                         CV_ALLOC_CLIENT_UNKNOWN,
                                         NULL};
    size_t before = errs->len;

    cv_check_uuid(errs, "", "ID", a->id, true);
    cv_check_uuid(errs, "", "EvalID", a->eval_id, true);
    check_required(errs, "Name", a->name);
    cv_check_uuid(errs, "", "NodeID", a->node_id, true);
    check_required(errs, "JobID", a->job_id);
    if (a->job) {
        check_job(errs, a);
    }
    check_required(errs, "TaskGroup", a->task_group);
    if (a->allocated_resources) {
        check_allocated(errs, a->allocated_resources);
    }
    cv_check_vocab(errs, "", "DesiredStatus", a->desired_status, desired);
    cv_check_vocab(errs, "", "ClientStatus", a->client_status, client);
    check_task_states(errs, a);
    cv_check_uuid(errs, "", "DeploymentID", a->deployment_id, false);
    cv_check_uuid(errs, "", "FollowupEvalID", a->followup_eval_id, false);
    cv_check_uuid(errs, "", "PreviousAllocation", a->previous_allocation, false);
    cv_check_uuid(errs, "", "NextAllocation", a->next_allocation, false);
    if (a->reschedule_tracker) {
        char path[CV_ERR_PATH_MAX];
        for (size_t i = 0; i < a->reschedule_tracker->events.len; i++) {
            const struct cv_reschedule_event *e = &a->reschedule_tracker->events.items[i];
            cv_path_index(path, "RescheduleTracker", "Events", i);
            cv_check_uuid(errs, path, "PrevAllocID", e->prev_alloc_id, false);
            cv_check_uuid(errs, path, "PrevNodeID", e->prev_node_id, false);
        }
    }
    for (size_t i = 0; i < a->preempted_allocations.len; i++) {
        char field[64];
        snprintf(field, sizeof field, "PreemptedAllocations[%zu]", i);
        cv_check_uuid(errs, "", field, a->preempted_allocations.items[i], true);
    }
    cv_check_uuid(errs, "", "PreemptedByAllocation", a->preempted_by_allocation, false);
    return errs->len > before ? CV_EVALIDATE : 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void fill_string(char **field, const char *value)
{
    if (!(*field)[0]) {
        cv_set_string(field, value);
    }
}

void cv_alloc_canonicalize(struct cv_allocation *a)
{
    fill_string(&a->namespace, "default");
    fill_string(&a->desired_status, CV_ALLOC_DESIRED_RUN);
    fill_string(&a->client_status, CV_ALLOC_CLIENT_PENDING);
    for (size_t i = 0; i < a->task_states.len; i++) {
        fill_string(&a->task_states.items[i].state, CV_TASK_STATE_PENDING);
    }
    if (a->job) {
        cv_job_canonicalize(a->job);
    }
}

static void model_canonicalize(void *obj)
{
    cv_alloc_canonicalize(obj);
}

static int model_validate(const void *obj, struct cv_errlist *errs)
{
    return cv_alloc_validate(obj, errs);
}

static const struct cv_model alloc_model = {&cv_allocation_schema, "an allocation", NULL,
                                            model_canonicalize, model_validate};

struct cv_allocation *cv_alloc_new(void)
{
    return cv_model_new(&alloc_model);
}

int cv_alloc_decode(const struct cv_json *v, struct cv_allocation **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_decode(&alloc_model, v, &obj, errs);
    *out = obj;
    return rc;
}

int cv_alloc_parse(const char *text, size_t len, struct cv_allocation **out,
                   struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_parse(&alloc_model, text, len, &obj, errs);
    *out = obj;
    return rc;
}

void cv_alloc_encode(const struct cv_allocation *obj, struct cv_jgen *g)
{
    cv_encode(&cv_allocation_schema, obj, g);
}

char *cv_alloc_to_json(const struct cv_allocation *obj, bool pretty)
{
    return cv_model_to_json(&cv_allocation_schema, obj, pretty);
}

struct cv_allocation *cv_alloc_copy(const struct cv_allocation *obj)
{
    return cv_model_copy(&cv_allocation_schema, obj);
}

bool cv_alloc_equal(const struct cv_allocation *a, const struct cv_allocation *b)
{
    return cv_equal(&cv_allocation_schema, a, b);
}

void cv_alloc_free(struct cv_allocation *obj)
{
    cv_model_free(&cv_allocation_schema, obj);
}
