/*
 * job_validate: the rules a canonicalized job must meet before Caravan
 * accepts it. They follow Nomad's Job.Validate, TaskGroup.Validate,
 * Task.Validate and the admission checks of its job endpoint, reworded so
 * that every message starts from the path of the offending field.
 */
#include "common/job.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/constraint.h"
#include "common/mem.h"

/* Caravan's limits where Nomad has none: IDs and names travel in URLs, log
 * lines and state keys, so they are kept short. */
#define MAX_ID_BYTES            256
#define JOB_MAX_COUNT           50000 /* Nomad's job_max_count default */
#define MIN_RESTART_INTERVAL    (5 * CV_NSEC_PER_SEC)
#define MIN_RESCHEDULE_INTERVAL (15 * CV_NSEC_PER_SEC)
#define MIN_RESCHEDULE_DELAY    (5 * CV_NSEC_PER_SEC)

struct checker
{
    struct cv_errlist *errs;
    const struct cv_job *job;
};

/* Adds an error at prefix.field; prefix may be "". */
static void fail(struct checker *c, const char *prefix, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct checker *c, const char *prefix, const char *field, const char *fmt, ...)
{
    char path[CV_ERR_PATH_MAX];
    cv_path_join(path, prefix, field);
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(c->errs, path, fmt, ap);
    va_end(ap);
}

/* Formats a duration in nanoseconds for a message: "5s", "1.5s", "30m", "250ms". */
static const char *duration(int64_t ns, char *buf, size_t size)
{
    if (ns % (CV_NSEC_PER_SEC * 3600) == 0 && ns != 0) {
        snprintf(buf, size, "%" PRId64 "h", ns / (CV_NSEC_PER_SEC * 3600));
    } else if (ns % (CV_NSEC_PER_SEC * 60) == 0 && ns != 0) {
        snprintf(buf, size, "%" PRId64 "m", ns / (CV_NSEC_PER_SEC * 60));
    } else if (ns % CV_NSEC_PER_MSEC == 0 && ns % CV_NSEC_PER_SEC != 0) {
        snprintf(buf, size, "%" PRId64 "ms", ns / CV_NSEC_PER_MSEC);
    } else if (ns % CV_NSEC_PER_SEC == 0) {
        snprintf(buf, size, "%" PRId64 "s", ns / CV_NSEC_PER_SEC);
    } else {
        snprintf(buf, size, "%" PRId64 "ns", ns);
    }
    return buf;
}

static bool is_type(const struct cv_job *job, const char *type)
{
    return strcmp(job->type, type) == 0;
}

static bool takes_update(const struct cv_job *job)
{
    return is_type(job, CV_JOB_TYPE_SERVICE) || is_type(job, CV_JOB_TYPE_SYSTEM);
}

/* True when a group's policy is the job-level one, unchanged. */
static bool inherited(const struct cv_schema *s, const void *group, const void *job_level)
{
    return group && job_level && cv_equal(s, group, job_level);
}

static bool one_of(const char *value, const char *const *allowed)
{
    for (; *allowed; allowed++) {
        if (strcmp(value, *allowed) == 0) {
            return true;
        }
    }
    return false;
}

static void check_identifier(struct checker *c, const char *prefix, const char *field,
                             const char *value)
{
    if (!value[0]) {
        fail(c, prefix, field, "is required");
    } else if (strlen(value) > MAX_ID_BYTES) {
        fail(c, prefix, field, "must be at most %d bytes, got %zu", MAX_ID_BYTES, strlen(value));
    }
}

static void check_non_negative(struct checker *c, const char *prefix, const char *field,
                               int64_t value)
{
    if (value < 0) {
        fail(c, prefix, field, "must not be negative, got %" PRId64, value);
    }
}

static void check_restart(struct checker *c, const struct cv_restart_policy *p, const char *path)
{
    static const char *const modes[] = {"delay", "fail", NULL};
    char d1[32], d2[32], d3[32];
    if (!one_of(p->mode, modes)) {
        fail(c, path, "Mode", "must be \"delay\" or \"fail\", got \"%s\"", p->mode);
    } else if (p->attempts == 0 && strcmp(p->mode, "fail") != 0) {
        fail(c, path, "Attempts", "0 attempts with mode \"%s\" is ambiguous", p->mode);
    }
    check_non_negative(c, path, "Attempts", p->attempts);
    check_non_negative(c, path, "Delay", p->delay);
    if (p->interval < MIN_RESTART_INTERVAL) {
        fail(c, path, "Interval", "must be at least %s, got %s",
             duration(MIN_RESTART_INTERVAL, d1, sizeof d1), duration(p->interval, d2, sizeof d2));
    } else if (p->attempts > 0 && p->delay > 0 && p->attempts > p->interval / p->delay) {
        fail(c, path, "", "%" PRId64 " attempts with a delay of %s do not fit in an interval of %s",
             p->attempts, duration(p->delay, d1, sizeof d1), duration(p->interval, d3, sizeof d3));
    }
}

/* Nomad's viableAttempts: whether p->attempts reschedules fit in the
 * interval, and how many do. Exponential delays double up to MaxDelay and
 * then accumulate; fibonacci delays grow up to MaxDelay and then grow by
 * MaxDelay a step. The phases after the ceiling are counted in closed form,
 * so a hostile Attempts costs nothing. Requires Delay >= 5s and, for the
 * growing functions, MaxDelay >= Delay (checked before). */
static bool reschedules_fit(const struct cv_reschedule_policy *p, int64_t *possible)
{
    const int64_t n = p->attempts, interval = p->interval, max = p->max_delay;
    *possible = 0;
    if (strcmp(p->delay_function, "constant") == 0) {
        *possible = interval / p->delay;
        return n <= *possible;
    }
    if (strcmp(p->delay_function, "exponential") == 0) {
        int64_t i = 0, recommended = 0;
        for (; i < n && i < 62 && p->delay <= (max >> i); i++) {
            recommended = p->delay << i;
            *possible += recommended < interval;
        }
        int64_t rest = n - i; /* each adds MaxDelay to the recommended interval */
        if (rest > 0 && interval > recommended) {
            int64_t fit = (interval - recommended - 1) / max;
            *possible += fit < rest ? fit : rest;
        }
        return *possible >= n;
    }
    /* fibonacci: slots[0] = slots[1] = Delay, then the sum of the two before */
    int64_t prev2 = p->delay, prev = p->delay, i = 2, first_over = -1;
    if (prev > interval) {
        first_over = 0;
    }
    for (; i < n && prev < max; i++) {
        int64_t next = prev > max - prev2 ? max : prev + prev2;
        prev2 = prev;
        prev = next;
        if (first_over < 0 && prev > interval) {
            first_over = i;
        }
    }
    int64_t last = prev;
    if (i < n) { /* linear after the ceiling: last = max * (1 + steps) */
        int64_t steps = n - i;
        last = steps > INT64_MAX / max - 1 ? INT64_MAX : max * (1 + steps);
        if (first_over < 0 && last > interval) {
            first_over = i + (interval - prev) / max;
        }
    }
    *possible = first_over < 0 ? n : first_over;
    return interval >= last;
}

static void check_reschedule(struct checker *c, const struct cv_reschedule_policy *p,
                             const char *path)
{
    static const char *const functions[] = {"constant", "exponential", "fibonacci", NULL};
    char d1[32], d2[32];
    if (p->attempts == 0 && !p->unlimited) {
        return; /* rescheduling is off: nothing else matters */
    }
    check_non_negative(c, path, "Attempts", p->attempts);
    bool ok = true;
    if (p->attempts > 0 && p->unlimited) {
        fail(c, path, "Unlimited", "cannot be true when Attempts is set (%" PRId64 ")",
             p->attempts);
        ok = false;
    }
    if (p->attempts > 0 && p->interval <= 0) {
        fail(c, path, "Interval", "must be greater than zero when Attempts is set");
        ok = false;
    }
    if (p->delay < MIN_RESCHEDULE_DELAY) {
        fail(c, path, "Delay", "must be at least %s, got %s",
             duration(MIN_RESCHEDULE_DELAY, d1, sizeof d1), duration(p->delay, d2, sizeof d2));
        ok = false;
    }
    if (!one_of(p->delay_function, functions)) {
        fail(c, path, "DelayFunction",
             "must be one of constant, exponential, fibonacci; got \"%s\"", p->delay_function);
        ok = false;
    } else if (strcmp(p->delay_function, "constant") != 0 && p->max_delay < p->delay) {
        fail(c, path, "MaxDelay", "must be at least Delay (%s), got %s",
             duration(p->delay, d1, sizeof d1), duration(p->max_delay, d2, sizeof d2));
        ok = false;
    }
    if (!p->unlimited && p->interval < MIN_RESCHEDULE_INTERVAL) {
        fail(c, path, "Interval", "must be at least %s, got %s",
             duration(MIN_RESCHEDULE_INTERVAL, d1, sizeof d1),
             duration(p->interval, d2, sizeof d2));
        ok = false;
    }
    int64_t fit = 0;
    if (ok && !p->unlimited && !reschedules_fit(p, &fit)) {
        fail(c, path, "", "only %" PRId64 " of %" PRId64 " attempts fit in an interval of %s", fit,
             p->attempts, duration(p->interval, d1, sizeof d1));
    }
}

static void check_update(struct checker *c, const struct cv_update_strategy *u, const char *path)
{
    static const char *const checks[] = {"checks", "task_states", "manual", NULL};
    char d1[32], d2[32];
    if (!one_of(u->health_check, checks)) {
        fail(c, path, "HealthCheck", "must be one of checks, task_states, manual; got \"%s\"",
             u->health_check);
    }
    check_non_negative(c, path, "MaxParallel", u->max_parallel);
    check_non_negative(c, path, "Canary", u->canary);
    if (u->canary == 0 && u->auto_promote) {
        fail(c, path, "AutoPromote", "requires a Canary count greater than zero");
    }
    check_non_negative(c, path, "MinHealthyTime", u->min_healthy_time);
    if (u->healthy_deadline <= 0) {
        fail(c, path, "HealthyDeadline", "must be greater than zero");
    } else if (u->min_healthy_time >= u->healthy_deadline) {
        fail(c, path, "MinHealthyTime", "must be less than HealthyDeadline (%s), got %s",
             duration(u->healthy_deadline, d1, sizeof d1),
             duration(u->min_healthy_time, d2, sizeof d2));
    }
    check_non_negative(c, path, "ProgressDeadline", u->progress_deadline);
    if (u->progress_deadline > 0 && u->healthy_deadline >= u->progress_deadline) {
        fail(c, path, "HealthyDeadline", "must be less than ProgressDeadline (%s), got %s",
             duration(u->progress_deadline, d1, sizeof d1),
             duration(u->healthy_deadline, d2, sizeof d2));
    }
    if (u->stagger <= 0) {
        fail(c, path, "Stagger", "must be greater than zero");
    }
}

static void check_migrate(struct checker *c, const struct cv_migrate_strategy *m, const char *path)
{
    static const char *const checks[] = {"checks", "task_states", NULL};
    check_non_negative(c, path, "MaxParallel", m->max_parallel);
    if (!one_of(m->health_check, checks)) {
        fail(c, path, "HealthCheck", "must be \"checks\" or \"task_states\", got \"%s\"",
             m->health_check);
    }
    check_non_negative(c, path, "MinHealthyTime", m->min_healthy_time);
    check_non_negative(c, path, "HealthyDeadline", m->healthy_deadline);
    if (m->min_healthy_time > m->healthy_deadline) {
        fail(c, path, "MinHealthyTime", "must not be longer than HealthyDeadline");
    }
}

/* Port labels must be unique and static ports distinct across a group's
 * networks and its tasks' networks. The index gathers what was declared;
 * its size bounds the quadratic check against hostile input. */
#define MAX_PORTS_PER_GROUP 1024

struct port_seen
{
    const char *label;
    int64_t value; /* -1 for a dynamic port */
    char path[CV_ERR_PATH_MAX];
};

struct port_index
{
    struct port_seen *items;
    size_t len;
    bool overflowed;
};

static void check_port(struct checker *c, struct port_index *seen, const struct cv_port *p,
                       bool is_static, const char *path)
{
    if (!p->label[0]) {
        fail(c, path, "Label", "is required");
    }
    if (p->value < 0 || p->value > 65535) {
        fail(c, path, "Value", "must be between 0 and 65535, got %" PRId64, p->value);
    } else if (is_static && p->value == 0) {
        fail(c, path, "Value", "a reserved port needs a port number");
    }
    if (p->to < -1 || p->to > 65535) {
        fail(c, path, "To", "must be between -1 and 65535, got %" PRId64, p->to);
    }
    if (seen->len == MAX_PORTS_PER_GROUP) {
        if (!seen->overflowed) {
            fail(c, path, "", "a task group may declare at most %d ports", MAX_PORTS_PER_GROUP);
            seen->overflowed = true;
        }
        return;
    }
    for (size_t i = 0; i < seen->len; i++) {
        if (p->label[0] && strcmp(seen->items[i].label, p->label) == 0) {
            fail(c, path, "Label", "\"%s\" is already used by %s", p->label, seen->items[i].path);
            break;
        }
        if (is_static && seen->items[i].value == p->value) {
            fail(c, path, "Value", "static port %" PRId64 " is already reserved by %s", p->value,
                 seen->items[i].path);
            break;
        }
    }
    if (!seen->items) {
        seen->items = cv_calloc(MAX_PORTS_PER_GROUP, sizeof *seen->items);
    }
    struct port_seen *s = &seen->items[seen->len++];
    s->label = p->label;
    s->value = is_static ? p->value : -1;
    cv_path_join(s->path, path, "");
}

static void check_networks(struct checker *c, struct port_index *seen,
                           const struct cv_network *nets, size_t n, const char *path)
{
    static const char *const modes[] = {"", "host", "bridge", "none", NULL};
    for (size_t i = 0; i < n; i++) {
        char npath[CV_ERR_PATH_MAX], ppath[CV_ERR_PATH_MAX];
        cv_path_index(npath, path, "Networks", i);
        if (!one_of(nets[i].mode, modes) && strncmp(nets[i].mode, "cni/", 4) != 0) {
            fail(c, npath, "Mode", "must be host, bridge, none or cni/<name>; got \"%s\"",
                 nets[i].mode);
        }
        check_non_negative(c, npath, "MBits", nets[i].mbits);
        for (size_t j = 0; j < nets[i].reserved_ports.len; j++) {
            cv_path_index(ppath, npath, "ReservedPorts", j);
            check_port(c, seen, &nets[i].reserved_ports.items[j], true, ppath);
        }
        for (size_t j = 0; j < nets[i].dynamic_ports.len; j++) {
            cv_path_index(ppath, npath, "DynamicPorts", j);
            check_port(c, seen, &nets[i].dynamic_ports.items[j], false, ppath);
        }
    }
}

static void check_resources(struct checker *c, const struct cv_resources *r, const char *path)
{
    if (r->cores > 0 && r->cpu > 0) {
        fail(c, path, "", "may ask for CPU or Cores, not both");
    }
    check_non_negative(c, path, "Cores", r->cores);
    if (r->cores == 0 && r->cpu < 1) {
        fail(c, path, "CPU", "must be at least 1, got %" PRId64, r->cpu);
    }
    if (r->memory_mb < 10) {
        fail(c, path, "MemoryMB", "must be at least 10, got %" PRId64, r->memory_mb);
    }
    if (r->memory_max_mb != 0 && r->memory_max_mb != -1 && r->memory_max_mb < r->memory_mb) {
        fail(c, path, "MemoryMaxMB",
             "must be -1 (no limit), 0 (none) or at least MemoryMB (%" PRId64 "), got %" PRId64,
             r->memory_mb, r->memory_max_mb);
    }
    check_non_negative(c, path, "DiskMB", r->disk_mb);
    if (r->disk_mb > 0) {
        fail(c, path, "DiskMB", "is set per task group, in EphemeralDisk.SizeMB");
    }
}

static void check_constraints(struct checker *c, const struct cv_constraint *items, size_t n,
                              bool task_level, const char *path)
{
    char cpath[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cv_path_index(cpath, path, "Constraints", i);
        cv_constraint_validate(&items[i], task_level, cpath, c->errs);
    }
}

static void check_affinities(struct checker *c, const struct cv_affinity *items, size_t n,
                             const char *path)
{
    char apath[CV_ERR_PATH_MAX];
    if (n && is_type(c->job, CV_JOB_TYPE_SYSTEM)) {
        fail(c, path, "Affinities", "system jobs may not have affinities");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cv_path_index(apath, path, "Affinities", i);
        cv_affinity_validate(&items[i], apath, c->errs);
    }
}

static void check_spreads(struct checker *c, const struct cv_spread *items, size_t n,
                          const char *path)
{
    char spath[CV_ERR_PATH_MAX];
    if (n && is_type(c->job, CV_JOB_TYPE_SYSTEM)) {
        fail(c, path, "Spreads", "system jobs may not have spreads");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cv_path_index(spath, path, "Spreads", i);
        cv_spread_validate(&items[i], spath, c->errs);
    }
}

static void check_task(struct checker *c, const struct cv_task *t, const struct cv_task_group *g,
                       struct port_index *ports, const char *path)
{
    static const char *const hooks[] = {"prestart", "poststart", "poststop", NULL};
    char sub[CV_ERR_PATH_MAX], d1[32], d2[32];

    check_identifier(c, path, "Name", t->name);
    if (strcmp(t->name, "alloc") == 0) {
        fail(c, path, "Name", "must not be \"alloc\" (the shared allocation directory)");
    } else if (strpbrk(t->name, "/\\")) {
        fail(c, path, "Name", "must not contain a slash");
    }
    if (!t->driver[0]) {
        fail(c, path, "Driver", "is required");
    }
    check_non_negative(c, path, "KillTimeout", t->kill_timeout);
    if (is_type(c->job, CV_JOB_TYPE_SERVICE) && g->update && g->update->progress_deadline > 0 &&
        t->kill_timeout > g->update->progress_deadline) {
        fail(c, path, "KillTimeout", "%s is longer than the group's Update.ProgressDeadline (%s)",
             duration(t->kill_timeout, d1, sizeof d1),
             duration(g->update->progress_deadline, d2, sizeof d2));
    }
    check_non_negative(c, path, "ShutdownDelay", t->shutdown_delay);
    if (t->config && cv_json_doc_root(t->config)->type != CV_JSON_OBJECT) {
        fail(c, path, "Config", "must be an object");
    }

    cv_path_join(sub, path, "Resources");
    check_resources(c, t->resources, sub);
    check_networks(c, ports, t->resources->networks.items, t->resources->networks.len, sub);

    cv_path_join(sub, path, "LogConfig");
    if (t->log_config->max_files < 1) {
        fail(c, sub, "MaxFiles", "must be at least 1, got %" PRId64, t->log_config->max_files);
    }
    if (t->log_config->max_file_size_mb < 1) {
        fail(c, sub, "MaxFileSizeMB", "must be at least 1, got %" PRId64,
             t->log_config->max_file_size_mb);
    }
    if (t->log_config->max_files >= 1 && t->log_config->max_file_size_mb >= 1 &&
        t->log_config->max_files <= INT64_MAX / t->log_config->max_file_size_mb) {
        int64_t logs = t->log_config->max_files * t->log_config->max_file_size_mb;
        if (logs >= g->ephemeral_disk->size_mb) {
            fail(c, sub, "",
                 "log storage (%" PRId64
                 " MB) must be less than the group's "
                 "EphemeralDisk.SizeMB (%" PRId64 " MB)",
                 logs, g->ephemeral_disk->size_mb);
        }
    }

    if (!cv_equal(&cv_restart_policy_schema, t->restart_policy, g->restart_policy)) {
        /* one inherited unchanged from the group was checked there */
        cv_path_join(sub, path, "RestartPolicy");
        check_restart(c, t->restart_policy, sub);
    }
    if (t->lifecycle && !one_of(t->lifecycle->hook, hooks)) {
        cv_path_join(sub, path, "Lifecycle");
        fail(c, sub, "Hook", "must be one of prestart, poststart, poststop; got \"%s\"",
             t->lifecycle->hook);
    }
    check_constraints(c, t->constraints.items, t->constraints.len, true, path);
    check_affinities(c, t->affinities.items, t->affinities.len, path);
}

static void check_group(struct checker *c, const struct cv_task_group *g, const char *path)
{
    char sub[CV_ERR_PATH_MAX];
    const struct cv_job *job = c->job;

    check_identifier(c, path, "Name", g->name);
    check_non_negative(c, path, "Count", g->count);
    if (is_type(job, CV_JOB_TYPE_SYSTEM) && g->count > 1) {
        fail(c, path, "Count", "must be 0 or 1 for a system job, got %" PRId64, g->count);
    }
    check_non_negative(c, path, "ShutdownDelay", g->shutdown_delay);
    check_constraints(c, g->constraints.items, g->constraints.len, false, path);
    check_affinities(c, g->affinities.items, g->affinities.len, path);
    check_spreads(c, g->spreads.items, g->spreads.len, path);

    cv_path_join(sub, path, "RestartPolicy");
    check_restart(c, g->restart_policy, sub);
    cv_path_join(sub, path, "ReschedulePolicy");
    if (inherited(&cv_reschedule_policy_schema, g->reschedule_policy, job->reschedule)) {
        /* the job-level policy, checked once at the job */
    } else if (is_type(job, CV_JOB_TYPE_SYSTEM) || is_type(job, CV_JOB_TYPE_SYSBATCH)) {
        if (g->reschedule_policy) {
            fail(c, sub, "", "%s jobs are not rescheduled; remove the policy", job->type);
        }
    } else {
        check_reschedule(c, g->reschedule_policy, sub);
    }
    if (g->ephemeral_disk->size_mb < 10) {
        cv_path_join(sub, path, "EphemeralDisk");
        fail(c, sub, "SizeMB", "must be at least 10, got %" PRId64, g->ephemeral_disk->size_mb);
    }
    if (g->update && !inherited(&cv_update_strategy_schema, g->update, job->update)) {
        cv_path_join(sub, path, "Update");
        if (!takes_update(job)) {
            fail(c, sub, "", "%s jobs do not take an update strategy", job->type);
        } else {
            check_update(c, g->update, sub);
        }
    }
    if (g->migrate && !inherited(&cv_migrate_strategy_schema, g->migrate, job->migrate)) {
        cv_path_join(sub, path, "Migrate");
        if (!is_type(job, CV_JOB_TYPE_SERVICE)) {
            fail(c, sub, "", "%s jobs do not take a migrate strategy", job->type);
        } else {
            check_migrate(c, g->migrate, sub);
        }
    }

    struct port_index ports = {NULL, 0, false};
    check_networks(c, &ports, g->networks.items, g->networks.len, path);

    if (g->tasks.len == 0) {
        fail(c, path, "Tasks", "must have at least one task");
    }
    size_t leaders = 0, main_tasks = 0;
    for (size_t i = 0; i < g->tasks.len; i++) {
        const struct cv_task *t = &g->tasks.items[i];
        cv_path_index(sub, path, "Tasks", i);
        for (size_t j = 0; j < i && t->name[0]; j++) {
            if (strcmp(g->tasks.items[j].name, t->name) == 0) {
                char name_path[CV_ERR_PATH_MAX];
                cv_path_join(name_path, sub, "Name");
                cv_errlist_addf(c->errs, name_path, "\"%s\" is already the name of Tasks[%zu]",
                                t->name, j);
                break;
            }
        }
        leaders += t->leader;
        main_tasks += !t->lifecycle || !t->lifecycle->hook[0];
        check_task(c, t, g, &ports, sub);
    }
    cv_free(ports.items);
    if (leaders > 1) {
        fail(c, path, "Tasks", "only one task may be the leader, %zu are", leaders);
    }
    if (g->tasks.len && main_tasks == 0) {
        fail(c, path, "Tasks", "must have at least one main task (one without a Lifecycle hook)");
    }
}

int cv_job_validate(const struct cv_job *job, struct cv_errlist *errs)
{
    static const char *const types[] = {CV_JOB_TYPE_SERVICE, CV_JOB_TYPE_BATCH, CV_JOB_TYPE_SYSTEM,
                                        CV_JOB_TYPE_SYSBATCH, NULL};
    struct checker c = {errs, job};
    size_t before = errs->len;
    char sub[CV_ERR_PATH_MAX];

    check_identifier(&c, "", "ID", job->id);
    if (strchr(job->id, ' ')) {
        fail(&c, "", "ID", "must not contain a space");
    }
    if (job->id[0]) { /* Name defaults to ID: a missing ID is reported once */
        check_identifier(&c, "", "Name", job->name);
    }
    check_identifier(&c, "", "Region", job->region);
    check_identifier(&c, "", "Namespace", job->namespace);
    if (strlen(job->namespace) > 128) {
        fail(&c, "", "Namespace", "must be at most 128 bytes, got %zu", strlen(job->namespace));
    }
    if (job->namespace[0] && strspn(job->namespace,
                                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-") != strlen(job->namespace)) {
        fail(&c, "", "Namespace", "may contain only letters, digits and '-', got \"%s\"",
             job->namespace);
    }
    check_identifier(&c, "", "NodePool", job->node_pool);
    if (!one_of(job->type, types)) {
        fail(&c, "", "Type", "must be one of service, batch, system, sysbatch; got \"%s\"",
             job->type);
    }
    if (job->priority < 1 || job->priority > 100) {
        fail(&c, "", "Priority", "must be between 1 and 100, got %" PRId64, job->priority);
    }
    for (size_t i = 0; i < job->datacenters.len; i++) {
        if (!job->datacenters.items[i][0]) {
            cv_path_index(sub, "", "Datacenters", i);
            fail(&c, sub, "", "must not be empty");
        }
    }
    check_constraints(&c, job->constraints.items, job->constraints.len, false, "");
    check_affinities(&c, job->affinities.items, job->affinities.len, "");
    check_spreads(&c, job->spreads.items, job->spreads.len, "");
    /* Job-level policies are checked once here; groups that inherit them
     * unchanged are not checked again. */
    if (job->update) {
        if (takes_update(job)) {
            check_update(&c, job->update, "Update");
        } else {
            fail(&c, "Update", "", "%s jobs do not take an update strategy", job->type);
        }
    }
    if (job->reschedule) {
        if (is_type(job, CV_JOB_TYPE_SYSTEM) || is_type(job, CV_JOB_TYPE_SYSBATCH)) {
            fail(&c, "Reschedule", "", "%s jobs are not rescheduled; remove the policy", job->type);
        } else {
            check_reschedule(&c, job->reschedule, "Reschedule");
        }
    }
    if (job->migrate) {
        if (is_type(job, CV_JOB_TYPE_SERVICE)) {
            check_migrate(&c, job->migrate, "Migrate");
        } else {
            fail(&c, "Migrate", "", "%s jobs do not take a migrate strategy", job->type);
        }
    }

    if (job->task_groups.len == 0) {
        fail(&c, "", "TaskGroups", "must have at least one task group");
    }
    int64_t total = 0;
    for (size_t i = 0; i < job->task_groups.len; i++) {
        const struct cv_task_group *g = &job->task_groups.items[i];
        cv_path_index(sub, "", "TaskGroups", i);
        for (size_t j = 0; j < i && g->name[0]; j++) {
            if (strcmp(job->task_groups.items[j].name, g->name) == 0) {
                char name_path[CV_ERR_PATH_MAX];
                cv_path_join(name_path, sub, "Name");
                cv_errlist_addf(errs, name_path, "\"%s\" is already the name of TaskGroups[%zu]",
                                g->name, j);
                break;
            }
        }
        if (g->count > 0 && total <= JOB_MAX_COUNT) {
            total += g->count > JOB_MAX_COUNT ? JOB_MAX_COUNT + 1 : g->count;
        }
        check_group(&c, g, sub);
    }
    if (total > JOB_MAX_COUNT) {
        fail(&c, "", "TaskGroups", "the counts add up to more than %d allocations", JOB_MAX_COUNT);
    }
    return errs->len > before ? CV_EVALIDATE : 0;
}
