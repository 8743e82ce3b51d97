/*
 * job: decoding a job from JSON, Nomad's defaults, encoding, copy and
 * equality. Validation lives in job_validate.c, the field tables in
 * job_schema.c.
 *
 * Canonicalization follows Nomad's api package (Job.Canonicalize and
 * friends): policies set on the job are merged into each task group, a
 * group's restart policy into each task, and every field still unset gets
 * the default for the job's type. It is idempotent, so a job read back from
 * Caravan and submitted again canonicalizes to itself.
 */
#include "common/job.h"

#include <string.h>

#include "common/clock.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/model.h"

#define SECONDS(n) ((int64_t)(n)*CV_NSEC_PER_SEC)
#define MINUTES(n) (SECONDS(n) * 60)
#define HOURS(n)   (MINUTES(n) * 60)

/* ---- defaults ------------------------------------------------------------ */

static bool is_type(const struct cv_job *job, const char *type)
{
    return strcmp(job->type, type) == 0;
}

static bool is_system_like(const struct cv_job *job)
{
    return is_type(job, CV_JOB_TYPE_SYSTEM) || is_type(job, CV_JOB_TYPE_SYSBATCH);
}

static void fill_int(int64_t *field, int64_t value)
{
    if (*field == CV_UNSET) {
        *field = value;
    }
}

static void fill_string(char **field, const char *value)
{
    if ((*field)[0] == '\0') {
        cv_set_string(field, value);
    }
}

static void fill_bool(int8_t *field, bool value)
{
    if (*field == CV_OPTBOOL_UNSET) {
        *field = value ? 1 : 0;
    }
}

static void merge_bool(int8_t *base, int8_t over)
{
    if (over != CV_OPTBOOL_UNSET) {
        *base = over;
    }
}

/* Overlays the fields `over` sets onto `base` (Nomad's Merge methods). */
static void merge_update(struct cv_update_strategy *base, const struct cv_update_strategy *over)
{
    if (over->stagger != CV_UNSET)
        base->stagger = over->stagger;
    if (over->max_parallel != CV_UNSET)
        base->max_parallel = over->max_parallel;
    if (over->health_check[0])
        cv_set_string(&base->health_check, over->health_check);
    if (over->min_healthy_time != CV_UNSET)
        base->min_healthy_time = over->min_healthy_time;
    if (over->healthy_deadline != CV_UNSET)
        base->healthy_deadline = over->healthy_deadline;
    if (over->progress_deadline != CV_UNSET)
        base->progress_deadline = over->progress_deadline;
    if (over->canary != CV_UNSET)
        base->canary = over->canary;
    merge_bool(&base->auto_revert, over->auto_revert);
    merge_bool(&base->auto_promote, over->auto_promote);
}

static void fill_update(struct cv_update_strategy *u)
{
    fill_int(&u->stagger, SECONDS(30));
    fill_int(&u->max_parallel, 1);
    fill_string(&u->health_check, "checks");
    fill_int(&u->min_healthy_time, SECONDS(10));
    fill_int(&u->healthy_deadline, MINUTES(5));
    fill_int(&u->progress_deadline, MINUTES(10));
    fill_int(&u->canary, 0);
    fill_bool(&u->auto_revert, false);
    fill_bool(&u->auto_promote, false);
}

static void merge_reschedule(struct cv_reschedule_policy *base,
                             const struct cv_reschedule_policy *over)
{
    if (over->attempts != CV_UNSET)
        base->attempts = over->attempts;
    if (over->interval != CV_UNSET)
        base->interval = over->interval;
    if (over->delay != CV_UNSET)
        base->delay = over->delay;
    if (over->delay_function[0])
        cv_set_string(&base->delay_function, over->delay_function);
    if (over->max_delay != CV_UNSET)
        base->max_delay = over->max_delay;
    merge_bool(&base->unlimited, over->unlimited);
}

static void fill_reschedule(struct cv_reschedule_policy *p, const struct cv_job *job)
{
    if (is_type(job, CV_JOB_TYPE_BATCH)) {
        fill_int(&p->attempts, 1);
        fill_int(&p->interval, HOURS(24));
        fill_int(&p->delay, SECONDS(5));
        fill_string(&p->delay_function, "constant");
        fill_int(&p->max_delay, 0);
        fill_bool(&p->unlimited, false);
    } else if (is_type(job, CV_JOB_TYPE_SERVICE)) {
        fill_int(&p->attempts, 0);
        fill_int(&p->interval, 0);
        fill_int(&p->delay, SECONDS(30));
        fill_string(&p->delay_function, "exponential");
        fill_int(&p->max_delay, HOURS(1));
        fill_bool(&p->unlimited, true);
    } else {
        fill_int(&p->attempts, 0);
        fill_int(&p->interval, 0);
        fill_int(&p->delay, 0);
        fill_int(&p->max_delay, 0);
        fill_bool(&p->unlimited, false);
    }
}

static void merge_migrate(struct cv_migrate_strategy *base, const struct cv_migrate_strategy *over)
{
    if (over->max_parallel != CV_UNSET)
        base->max_parallel = over->max_parallel;
    if (over->health_check[0])
        cv_set_string(&base->health_check, over->health_check);
    if (over->min_healthy_time != CV_UNSET)
        base->min_healthy_time = over->min_healthy_time;
    if (over->healthy_deadline != CV_UNSET)
        base->healthy_deadline = over->healthy_deadline;
}

static void fill_migrate(struct cv_migrate_strategy *m)
{
    fill_int(&m->max_parallel, 1);
    fill_string(&m->health_check, "checks");
    fill_int(&m->min_healthy_time, SECONDS(10));
    fill_int(&m->healthy_deadline, MINUTES(5));
}

static void merge_restart(struct cv_restart_policy *base, const struct cv_restart_policy *over)
{
    if (over->attempts != CV_UNSET)
        base->attempts = over->attempts;
    if (over->interval != CV_UNSET)
        base->interval = over->interval;
    if (over->delay != CV_UNSET)
        base->delay = over->delay;
    if (over->mode[0])
        cv_set_string(&base->mode, over->mode);
    merge_bool(&base->render_templates, over->render_templates);
}

static void fill_restart(struct cv_restart_policy *p, const struct cv_job *job)
{
    bool service_like = is_type(job, CV_JOB_TYPE_SERVICE) || is_type(job, CV_JOB_TYPE_SYSTEM);
    fill_int(&p->attempts, service_like ? 2 : 3);
    fill_int(&p->interval, service_like ? MINUTES(30) : HOURS(24));
    fill_int(&p->delay, SECONDS(15));
    fill_string(&p->mode, "fail");
    fill_bool(&p->render_templates, false);
}

/* Returns a new struct of schema s, initialized, then overlaid by `over`
 * when given. */
static void *new_from(const struct cv_schema *s, const void *copy_of)
{
    void *obj = cv_malloc(s->size);
    if (copy_of) {
        cv_copy(s, obj, copy_of);
    } else {
        cv_init(s, obj);
    }
    return obj;
}

static void canonicalize_resources(struct cv_resources *r)
{
    if (r->cores == CV_UNSET) {
        r->cores = 0;
        fill_int(&r->cpu, 100);
    } else {
        fill_int(&r->cpu, 0);
    }
    fill_int(&r->memory_mb, 300);
}

static void canonicalize_task(struct cv_task *t, const struct cv_task_group *g)
{
    const struct cv_schema *restart_schema = &cv_restart_policy_schema;
    const struct cv_schema *log_schema = &cv_log_config_schema;

    if (t->lifecycle && !t->lifecycle->hook[0] && !t->lifecycle->sidecar) {
        /* an empty block is what Nomad's client sends for "no lifecycle" */
        cv_model_free(&cv_task_lifecycle_schema, t->lifecycle);
        t->lifecycle = NULL;
    }
    if (!t->resources) {
        t->resources = new_from(&cv_resources_schema, NULL);
    }
    canonicalize_resources(t->resources);
    fill_int(&t->kill_timeout, SECONDS(5));
    if (!t->log_config) {
        t->log_config = new_from(log_schema, NULL);
    }
    fill_int(&t->log_config->max_files, 10);
    fill_int(&t->log_config->max_file_size_mb, 10);

    struct cv_restart_policy *merged = new_from(restart_schema, g->restart_policy);
    if (t->restart_policy) {
        merge_restart(merged, t->restart_policy);
        cv_model_free(restart_schema, t->restart_policy);
    }
    t->restart_policy = merged;

    for (size_t i = 0; i < t->affinities.len; i++) {
        fill_int(&t->affinities.items[i].weight, 50);
    }
}

static void canonicalize_group(struct cv_task_group *g, const struct cv_job *job)
{
    const struct cv_schema *update_schema = &cv_update_strategy_schema;
    const struct cv_schema *reschedule_schema = &cv_reschedule_policy_schema;
    const struct cv_schema *migrate_schema = &cv_migrate_strategy_schema;
    const struct cv_schema *restart_schema = &cv_restart_policy_schema;
    const struct cv_schema *disk_schema = &cv_ephemeral_disk_schema;

    fill_int(&g->count, 1);

    if (!g->ephemeral_disk) {
        g->ephemeral_disk = new_from(disk_schema, NULL);
    }
    fill_int(&g->ephemeral_disk->size_mb, 300);

    if (job->update) {
        struct cv_update_strategy *merged = new_from(update_schema, job->update);
        if (g->update) {
            merge_update(merged, g->update);
            cv_model_free(update_schema, g->update);
        }
        g->update = merged;
    }
    if (g->update) {
        fill_update(g->update);
    }

    if (job->reschedule) {
        struct cv_reschedule_policy *merged = new_from(reschedule_schema, job->reschedule);
        if (g->reschedule_policy) {
            merge_reschedule(merged, g->reschedule_policy);
            cv_model_free(reschedule_schema, g->reschedule_policy);
        }
        g->reschedule_policy = merged;
    }
    if (!g->reschedule_policy && !is_system_like(job)) {
        g->reschedule_policy = new_from(reschedule_schema, NULL);
    }
    if (g->reschedule_policy) {
        fill_reschedule(g->reschedule_policy, job);
    }

    if (job->migrate) {
        struct cv_migrate_strategy *merged = new_from(migrate_schema, job->migrate);
        if (g->migrate) {
            merge_migrate(merged, g->migrate);
            cv_model_free(migrate_schema, g->migrate);
        }
        g->migrate = merged;
    }
    if (!g->migrate && is_type(job, CV_JOB_TYPE_SERVICE)) {
        g->migrate = new_from(migrate_schema, NULL);
    }
    if (g->migrate) {
        fill_migrate(g->migrate);
    }

    struct cv_restart_policy *restart = new_from(restart_schema, NULL);
    fill_restart(restart, job);
    if (g->restart_policy) {
        merge_restart(restart, g->restart_policy);
        cv_model_free(restart_schema, g->restart_policy);
    }
    g->restart_policy = restart;

    for (size_t i = 0; i < g->affinities.len; i++) {
        fill_int(&g->affinities.items[i].weight, 50);
    }
    for (size_t i = 0; i < g->spreads.len; i++) {
        fill_int(&g->spreads.items[i].weight, 50);
    }
    for (size_t i = 0; i < g->tasks.len; i++) {
        canonicalize_task(&g->tasks.items[i], g);
    }
}

void cv_job_canonicalize(struct cv_job *job)
{
    const struct cv_schema *update_schema = &cv_update_strategy_schema;

    fill_string(&job->name, job->id);
    fill_string(&job->namespace, "default");
    fill_string(&job->region, "global");
    fill_string(&job->type, CV_JOB_TYPE_SERVICE);
    fill_string(&job->node_pool, "default");
    fill_int(&job->priority, 50);
    if (job->datacenters.len == 0) {
        cv_strings_push(&job->datacenters, "*");
    }
    if (!job->update && (is_type(job, CV_JOB_TYPE_SERVICE) || is_type(job, CV_JOB_TYPE_SYSTEM))) {
        job->update = new_from(update_schema, NULL);
    }
    if (job->update) {
        fill_update(job->update);
    }
    for (size_t i = 0; i < job->affinities.len; i++) {
        fill_int(&job->affinities.items[i].weight, 50);
    }
    for (size_t i = 0; i < job->spreads.len; i++) {
        fill_int(&job->spreads.items[i].weight, 50);
    }
    for (size_t i = 0; i < job->task_groups.len; i++) {
        canonicalize_group(&job->task_groups.items[i], job);
    }
    /* The groups merged the job-level policies as given; complete those
     * afterwards so that the job reads back with no unset field. */
    if (job->reschedule) {
        fill_reschedule(job->reschedule, job);
    }
    if (job->migrate) {
        fill_migrate(job->migrate);
    }
}

/* ---- decode / encode ------------------------------------------------------- */

/* {"Job": {...}} is the shape of Nomad's register request and of job files
 * written by `nomad job run -output`; a bare job object is accepted too. */
static const struct cv_json *unwrap(const struct cv_json *v)
{
    if (v->type == CV_JSON_OBJECT && v->u.object.len == 1) {
        const struct cv_json *inner = cv_json_object_get(v, "Job");
        if (inner && inner->type == CV_JSON_OBJECT) {
            return inner;
        }
    }
    return v;
}

static void model_canonicalize(void *obj)
{
    cv_job_canonicalize(obj);
}

static int model_validate(const void *obj, struct cv_errlist *errs)
{
    return cv_job_validate(obj, errs);
}

static const struct cv_model job_model = {&cv_job_schema, "a job", unwrap, model_canonicalize,
                                          model_validate};

int cv_job_decode(const struct cv_json *v, struct cv_job **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_decode(&job_model, v, &obj, errs);
    *out = obj;
    return rc;
}

int cv_job_parse(const char *text, size_t len, struct cv_job **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_parse(&job_model, text, len, &obj, errs);
    *out = obj;
    return rc;
}

void cv_job_encode(const struct cv_job *obj, struct cv_jgen *g)
{
    cv_encode(&cv_job_schema, obj, g);
}

char *cv_job_to_json(const struct cv_job *obj, bool pretty)
{
    return cv_model_to_json(&cv_job_schema, obj, pretty);
}

struct cv_job *cv_job_copy(const struct cv_job *obj)
{
    return cv_model_copy(&cv_job_schema, obj);
}

bool cv_job_equal(const struct cv_job *a, const struct cv_job *b)
{
    return cv_equal(&cv_job_schema, a, b);
}

void cv_job_free(struct cv_job *obj)
{
    cv_model_free(&cv_job_schema, obj);
}
