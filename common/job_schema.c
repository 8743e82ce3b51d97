/*
 * job_schema: the field tables of the Job and the structs inside it, in
 * Nomad's JSON names and order (api/jobs.go, api/tasks.go, api/resources.go).
 *
 * A field Caravan does not run yet is listed as F_UNSUPPORTED so that a
 * job using it is refused by name instead of silently losing it. Fields the
 * servers fill (Status, Version...) are accepted, since clients echo a job
 * they read back to the API.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/job.h"

static void init_affinity(void *obj)
{
    struct cv_affinity *a = obj;
    a->weight = CV_UNSET;
}

static void init_spread(void *obj)
{
    struct cv_spread *s = obj;
    s->weight = CV_UNSET;
}

static void init_resources(void *obj)
{
    struct cv_resources *r = obj;
    r->cpu = CV_UNSET;
    r->cores = CV_UNSET;
    r->memory_mb = CV_UNSET;
}

static void init_restart_policy(void *obj)
{
    struct cv_restart_policy *p = obj;
    p->attempts = CV_UNSET;
    p->interval = CV_UNSET;
    p->delay = CV_UNSET;
    p->render_templates = CV_OPTBOOL_UNSET;
}

static void init_reschedule_policy(void *obj)
{
    struct cv_reschedule_policy *p = obj;
    p->attempts = CV_UNSET;
    p->interval = CV_UNSET;
    p->delay = CV_UNSET;
    p->max_delay = CV_UNSET;
    p->unlimited = CV_OPTBOOL_UNSET;
}

static void init_update_strategy(void *obj)
{
    struct cv_update_strategy *u = obj;
    u->stagger = CV_UNSET;
    u->max_parallel = CV_UNSET;
    u->min_healthy_time = CV_UNSET;
    u->healthy_deadline = CV_UNSET;
    u->progress_deadline = CV_UNSET;
    u->canary = CV_UNSET;
    u->auto_revert = CV_OPTBOOL_UNSET;
    u->auto_promote = CV_OPTBOOL_UNSET;
}

static void init_migrate_strategy(void *obj)
{
    struct cv_migrate_strategy *m = obj;
    m->max_parallel = CV_UNSET;
    m->min_healthy_time = CV_UNSET;
    m->healthy_deadline = CV_UNSET;
}

static void init_ephemeral_disk(void *obj)
{
    struct cv_ephemeral_disk *d = obj;
    d->size_mb = CV_UNSET;
}

static void init_log_config(void *obj)
{
    struct cv_log_config *l = obj;
    l->max_files = CV_UNSET;
    l->max_file_size_mb = CV_UNSET;
}

static void init_task(void *obj)
{
    struct cv_task *t = obj;
    t->kill_timeout = CV_UNSET;
}

static void init_task_group(void *obj)
{
    struct cv_task_group *g = obj;
    g->count = CV_UNSET;
}

static void init_job(void *obj)
{
    struct cv_job *j = obj;
    j->priority = CV_UNSET;
}

static const struct cv_field constraint_fields[] = {
    F_STRING("LTarget", struct cv_constraint, ltarget),
    F_STRING("RTarget", struct cv_constraint, rtarget),
    F_STRING("Operand", struct cv_constraint, operand),
};
const struct cv_schema cv_constraint_schema =
    CV_SCHEMA("Constraint", struct cv_constraint, NULL, constraint_fields);

static const struct cv_field affinity_fields[] = {
    F_STRING("LTarget", struct cv_affinity, ltarget),
    F_STRING("RTarget", struct cv_affinity, rtarget),
    F_STRING("Operand", struct cv_affinity, operand),
    F_INT_RANGE("Weight", struct cv_affinity, weight, INT8_MIN, INT8_MAX),
};
static const struct cv_schema affinity_schema =
    CV_SCHEMA("Affinity", struct cv_affinity, init_affinity, affinity_fields);

static const struct cv_field spread_target_fields[] = {
    F_STRING("Value", struct cv_spread_target, value),
    F_INT_RANGE("Percent", struct cv_spread_target, percent, 0, UINT8_MAX),
};
static const struct cv_schema spread_target_schema =
    CV_SCHEMA("SpreadTarget", struct cv_spread_target, NULL, spread_target_fields);

static const struct cv_field spread_fields[] = {
    F_STRING("Attribute", struct cv_spread, attribute),
    F_INT_RANGE("Weight", struct cv_spread, weight, INT8_MIN, INT8_MAX),
    F_ARRAY("SpreadTarget", struct cv_spread, targets, &spread_target_schema),
};
static const struct cv_schema spread_schema =
    CV_SCHEMA("Spread", struct cv_spread, init_spread, spread_fields);

static const struct cv_field port_fields[] = {
    F_STRING("Label", struct cv_port, label), F_INT("Value", struct cv_port, value),
    F_INT("To", struct cv_port, to),          F_STRING("HostNetwork", struct cv_port, host_network),
    F_UNSUPPORTED("IgnoreCollision"),
};
static const struct cv_schema port_schema = CV_SCHEMA("Port", struct cv_port, NULL, port_fields);

static const struct cv_field network_fields[] = {
    F_STRING("Mode", struct cv_network, mode),
    F_STRING("Device", struct cv_network, device),
    F_STRING("CIDR", struct cv_network, cidr),
    F_STRING("IP", struct cv_network, ip),
    F_STRING("Hostname", struct cv_network, hostname),
    F_INT("MBits", struct cv_network, mbits),
    F_ARRAY("ReservedPorts", struct cv_network, reserved_ports, &port_schema),
    F_ARRAY("DynamicPorts", struct cv_network, dynamic_ports, &port_schema),
    F_UNSUPPORTED("DNS"),
    F_UNSUPPORTED("CNI"),
};
const struct cv_schema cv_network_resource_schema =
    CV_SCHEMA("NetworkResource", struct cv_network, NULL, network_fields);

static const struct cv_field resources_fields[] = {
    F_INT("CPU", struct cv_resources, cpu),
    F_INT("Cores", struct cv_resources, cores),
    F_INT("MemoryMB", struct cv_resources, memory_mb),
    F_INT("MemoryMaxMB", struct cv_resources, memory_max_mb),
    F_INT("DiskMB", struct cv_resources, disk_mb),
    F_ARRAY("Networks", struct cv_resources, networks, &cv_network_resource_schema),
    F_UNSUPPORTED("Devices"),
    F_UNSUPPORTED("NUMA"),
    F_UNSUPPORTED("SecretsMB"),
    F_UNSUPPORTED("IOPS"),
};
const struct cv_schema cv_resources_schema =
    CV_SCHEMA("Resources", struct cv_resources, init_resources, resources_fields);

static const struct cv_field restart_fields[] = {
    F_INT("Attempts", struct cv_restart_policy, attempts),
    F_INT("Interval", struct cv_restart_policy, interval),
    F_INT("Delay", struct cv_restart_policy, delay),
    F_STRING("Mode", struct cv_restart_policy, mode),
    F_OPTBOOL("RenderTemplates", struct cv_restart_policy, render_templates),
};
const struct cv_schema cv_restart_policy_schema =
    CV_SCHEMA("RestartPolicy", struct cv_restart_policy, init_restart_policy, restart_fields);

static const struct cv_field reschedule_fields[] = {
    F_INT("Attempts", struct cv_reschedule_policy, attempts),
    F_INT("Interval", struct cv_reschedule_policy, interval),
    F_INT("Delay", struct cv_reschedule_policy, delay),
    F_STRING("DelayFunction", struct cv_reschedule_policy, delay_function),
    F_INT("MaxDelay", struct cv_reschedule_policy, max_delay),
    F_OPTBOOL("Unlimited", struct cv_reschedule_policy, unlimited),
};
const struct cv_schema cv_reschedule_policy_schema = CV_SCHEMA(
    "ReschedulePolicy", struct cv_reschedule_policy, init_reschedule_policy, reschedule_fields);

static const struct cv_field update_fields[] = {
    F_INT("Stagger", struct cv_update_strategy, stagger),
    F_INT("MaxParallel", struct cv_update_strategy, max_parallel),
    F_STRING("HealthCheck", struct cv_update_strategy, health_check),
    F_INT("MinHealthyTime", struct cv_update_strategy, min_healthy_time),
    F_INT("HealthyDeadline", struct cv_update_strategy, healthy_deadline),
    F_INT("ProgressDeadline", struct cv_update_strategy, progress_deadline),
    F_OPTBOOL("AutoRevert", struct cv_update_strategy, auto_revert),
    F_OPTBOOL("AutoPromote", struct cv_update_strategy, auto_promote),
    F_INT("Canary", struct cv_update_strategy, canary),
};
const struct cv_schema cv_update_strategy_schema =
    CV_SCHEMA("UpdateStrategy", struct cv_update_strategy, init_update_strategy, update_fields);

static const struct cv_field migrate_fields[] = {
    F_INT("MaxParallel", struct cv_migrate_strategy, max_parallel),
    F_STRING("HealthCheck", struct cv_migrate_strategy, health_check),
    F_INT("MinHealthyTime", struct cv_migrate_strategy, min_healthy_time),
    F_INT("HealthyDeadline", struct cv_migrate_strategy, healthy_deadline),
};
const struct cv_schema cv_migrate_strategy_schema =
    CV_SCHEMA("MigrateStrategy", struct cv_migrate_strategy, init_migrate_strategy, migrate_fields);

static const struct cv_field ephemeral_disk_fields[] = {
    F_BOOL("Sticky", struct cv_ephemeral_disk, sticky),
    F_BOOL("Migrate", struct cv_ephemeral_disk, migrate),
    F_INT("SizeMB", struct cv_ephemeral_disk, size_mb),
};
const struct cv_schema cv_ephemeral_disk_schema = CV_SCHEMA(
    "EphemeralDisk", struct cv_ephemeral_disk, init_ephemeral_disk, ephemeral_disk_fields);

static const struct cv_field log_config_fields[] = {
    F_INT("MaxFiles", struct cv_log_config, max_files),
    F_INT("MaxFileSizeMB", struct cv_log_config, max_file_size_mb),
    F_BOOL("Disabled", struct cv_log_config, disabled),
    F_UNSUPPORTED("Enabled"),
};
const struct cv_schema cv_log_config_schema =
    CV_SCHEMA("LogConfig", struct cv_log_config, init_log_config, log_config_fields);

static const struct cv_field lifecycle_fields[] = {
    F_STRING("Hook", struct cv_task_lifecycle, hook),
    F_BOOL("Sidecar", struct cv_task_lifecycle, sidecar),
};
const struct cv_schema cv_task_lifecycle_schema =
    CV_SCHEMA("TaskLifecycle", struct cv_task_lifecycle, NULL, lifecycle_fields);

static const struct cv_field task_fields[] = {
    F_STRING("Name", struct cv_task, name),
    F_STRING("Driver", struct cv_task, driver),
    F_STRING("User", struct cv_task, user),
    F_JSON("Config", struct cv_task, config),
    F_ARRAY("Constraints", struct cv_task, constraints, &cv_constraint_schema),
    F_ARRAY("Affinities", struct cv_task, affinities, &affinity_schema),
    F_STRMAP("Env", struct cv_task, env),
    F_STRUCT_PTR("Resources", struct cv_task, resources, &cv_resources_schema),
    F_STRUCT_PTR("RestartPolicy", struct cv_task, restart_policy, &cv_restart_policy_schema),
    F_STRMAP("Meta", struct cv_task, meta),
    F_INT("KillTimeout", struct cv_task, kill_timeout),
    F_STRUCT_PTR("LogConfig", struct cv_task, log_config, &cv_log_config_schema),
    F_BOOL("Leader", struct cv_task, leader),
    F_INT("ShutdownDelay", struct cv_task, shutdown_delay),
    F_STRING("KillSignal", struct cv_task, kill_signal),
    F_STRING("Kind", struct cv_task, kind),
    F_STRUCT_PTR("Lifecycle", struct cv_task, lifecycle, &cv_task_lifecycle_schema),
    F_UNSUPPORTED("Services"),
    F_UNSUPPORTED("Artifacts"),
    F_UNSUPPORTED("Vault"),
    F_UNSUPPORTED("Consul"),
    F_UNSUPPORTED("Templates"),
    F_UNSUPPORTED("DispatchPayload"),
    F_UNSUPPORTED("VolumeMounts"),
    F_UNSUPPORTED("CSIPluginConfig"),
    F_UNSUPPORTED("Identity"),
    F_UNSUPPORTED("Identities"),
    F_UNSUPPORTED("Actions"),
    F_UNSUPPORTED("ScalingPolicies"),
    F_UNSUPPORTED("Schedule"),
    F_UNSUPPORTED("Secrets"),
};
const struct cv_schema cv_task_schema = CV_SCHEMA("Task", struct cv_task, init_task, task_fields);

static const struct cv_field task_group_fields[] = {
    F_STRING("Name", struct cv_task_group, name),
    F_INT("Count", struct cv_task_group, count),
    F_ARRAY("Constraints", struct cv_task_group, constraints, &cv_constraint_schema),
    F_ARRAY("Affinities", struct cv_task_group, affinities, &affinity_schema),
    F_ARRAY("Tasks", struct cv_task_group, tasks, &cv_task_schema),
    F_ARRAY("Spreads", struct cv_task_group, spreads, &spread_schema),
    F_STRUCT_PTR("RestartPolicy", struct cv_task_group, restart_policy, &cv_restart_policy_schema),
    F_STRUCT_PTR("ReschedulePolicy", struct cv_task_group, reschedule_policy,
                 &cv_reschedule_policy_schema),
    F_STRUCT_PTR("EphemeralDisk", struct cv_task_group, ephemeral_disk, &cv_ephemeral_disk_schema),
    F_STRUCT_PTR("Update", struct cv_task_group, update, &cv_update_strategy_schema),
    F_STRUCT_PTR("Migrate", struct cv_task_group, migrate, &cv_migrate_strategy_schema),
    F_ARRAY("Networks", struct cv_task_group, networks, &cv_network_resource_schema),
    F_STRMAP("Meta", struct cv_task_group, meta),
    F_INT("ShutdownDelay", struct cv_task_group, shutdown_delay),
    F_UNSUPPORTED("MaxRunDuration"),
    F_UNSUPPORTED("StopAfterClientDisconnect"),
    F_UNSUPPORTED("MaxClientDisconnect"),
    F_UNSUPPORTED("PreventRescheduleOnLost"),
    F_UNSUPPORTED("Volumes"),
    F_UNSUPPORTED("Services"),
    F_UNSUPPORTED("Scaling"),
    F_UNSUPPORTED("Consul"),
    F_UNSUPPORTED("Disconnect"),
};
const struct cv_schema cv_task_group_schema =
    CV_SCHEMA("TaskGroup", struct cv_task_group, init_task_group, task_group_fields);

static const struct cv_field job_fields[] = {
    F_STRING("Region", struct cv_job, region),
    F_STRING("Namespace", struct cv_job, namespace),
    F_STRING("ID", struct cv_job, id),
    F_STRING("ParentID", struct cv_job, parent_id),
    F_STRING("Name", struct cv_job, name),
    F_STRING("Type", struct cv_job, type),
    F_INT("Priority", struct cv_job, priority),
    F_BOOL("AllAtOnce", struct cv_job, all_at_once),
    F_STRINGS("Datacenters", struct cv_job, datacenters),
    F_STRING("NodePool", struct cv_job, node_pool),
    F_ARRAY("Constraints", struct cv_job, constraints, &cv_constraint_schema),
    F_ARRAY("Affinities", struct cv_job, affinities, &affinity_schema),
    F_ARRAY("TaskGroups", struct cv_job, task_groups, &cv_task_group_schema),
    F_STRUCT_PTR("Update", struct cv_job, update, &cv_update_strategy_schema),
    F_ARRAY("Spreads", struct cv_job, spreads, &spread_schema),
    F_STRUCT_PTR("Reschedule", struct cv_job, reschedule, &cv_reschedule_policy_schema),
    F_STRUCT_PTR("Migrate", struct cv_job, migrate, &cv_migrate_strategy_schema),
    F_STRMAP("Meta", struct cv_job, meta),
    F_BOOL("Stop", struct cv_job, stop),
    F_STRING("Status", struct cv_job, status),
    F_STRING("StatusDescription", struct cv_job, status_description),
    F_BOOL("Stable", struct cv_job, stable),
    F_UINT("Version", struct cv_job, version),
    F_INT("SubmitTime", struct cv_job, submit_time),
    F_UINT("CreateIndex", struct cv_job, create_index),
    F_UINT("ModifyIndex", struct cv_job, modify_index),
    F_UINT("JobModifyIndex", struct cv_job, job_modify_index),
    F_UNSUPPORTED("Multiregion"),
    F_UNSUPPORTED("Periodic"),
    F_UNSUPPORTED("ParameterizedJob"),
    F_UNSUPPORTED("Dispatched"),
    F_UNSUPPORTED("DispatchIdempotencyToken"),
    F_UNSUPPORTED("Payload"),
    F_UNSUPPORTED("ConsulToken"),
    F_UNSUPPORTED("VaultToken"),
    F_UNSUPPORTED("ConsulNamespace"),
    F_UNSUPPORTED("VaultNamespace"),
    F_UNSUPPORTED("UI"),
    F_UNSUPPORTED("VersionTag"),
    F_IGNORED("NomadTokenID"),
};
const struct cv_schema cv_job_schema = CV_SCHEMA("Job", struct cv_job, init_job, job_fields);
