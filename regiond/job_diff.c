/*
 * job_diff: Nomad's Job.Diff and scheduler.Annotate over Caravan's job
 * model (see job_diff.h): which fields and objects a job, a group and a
 * task have, how each is flattened, and which changes force what. The
 * generic machinery (flat maps, field and object diffs, sets, sorting, the
 * JSON writer) is job_diff_tree.c.
 *
 * The diff is built as a tree first (job_diff_internal.h), then annotated,
 * then written. Order follows Nomad: fields sorted by name; the objects of
 * a job, group or task in Nomad's fixed order of kinds (constraints,
 * affinities, policies, networks...), each set of objects sorted by name,
 * type and size; groups and tasks sorted by name.
 */
#include "regiond/job_diff.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regiond/job_diff_internal.h"

/* ---- the model's flatteners ---------------------------------------------------------- */

static void flat_constraint(struct cv_strmap *f, const void *obj)
{
    const struct cv_constraint *c = obj;
    jdiff_flat_str(f, "LTarget", c->ltarget);
    jdiff_flat_str(f, "Operand", c->operand);
    jdiff_flat_str(f, "RTarget", c->rtarget);
}

static void flat_affinity(struct cv_strmap *f, const void *obj)
{
    const struct cv_affinity *a = obj;
    jdiff_flat_str(f, "LTarget", a->ltarget);
    jdiff_flat_str(f, "Operand", a->operand);
    jdiff_flat_str(f, "RTarget", a->rtarget);
    jdiff_flat_int(f, "Weight", a->weight);
}

static void flat_spread_target(struct cv_strmap *f, const void *obj)
{
    const struct cv_spread_target *t = obj;
    jdiff_flat_int(f, "Percent", t->percent);
    jdiff_flat_str(f, "Value", t->value);
}

/* A spread's identity includes its targets ("SpreadTarget[i].*" keys are
 * only for the set comparison; the object shows Attribute and Weight). */
static void flat_spread_key(struct cv_strmap *f, const void *obj)
{
    const struct cv_spread *s = obj;
    jdiff_flat_str(f, "Attribute", s->attribute);
    jdiff_flat_int(f, "Weight", s->weight);
    char key[64];
    for (size_t i = 0; i < s->targets.len; i++) {
        snprintf(key, sizeof key, "SpreadTarget[%zu].Percent", i);
        jdiff_flat_int(f, key, s->targets.items[i].percent);
        snprintf(key, sizeof key, "SpreadTarget[%zu].Value", i);
        jdiff_flat_str(f, key, s->targets.items[i].value);
    }
}

static void flat_restart(struct cv_strmap *f, const void *obj)
{
    const struct cv_restart_policy *p = obj;
    jdiff_flat_int(f, "Attempts", p->attempts);
    jdiff_flat_int(f, "Delay", p->delay);
    jdiff_flat_int(f, "Interval", p->interval);
    jdiff_flat_str(f, "Mode", p->mode);
    jdiff_flat_optbool(f, "RenderTemplates", p->render_templates);
}

static void flat_reschedule(struct cv_strmap *f, const void *obj)
{
    const struct cv_reschedule_policy *p = obj;
    jdiff_flat_int(f, "Attempts", p->attempts);
    jdiff_flat_int(f, "Delay", p->delay);
    jdiff_flat_str(f, "DelayFunction", p->delay_function);
    jdiff_flat_int(f, "Interval", p->interval);
    jdiff_flat_int(f, "MaxDelay", p->max_delay);
    jdiff_flat_optbool(f, "Unlimited", p->unlimited);
}

static void flat_disk(struct cv_strmap *f, const void *obj)
{
    const struct cv_ephemeral_disk *d = obj;
    jdiff_flat_bool(f, "Migrate", d->migrate);
    jdiff_flat_int(f, "SizeMB", d->size_mb);
    jdiff_flat_bool(f, "Sticky", d->sticky);
}

/* Stagger is left out, as Nomad's group diff does. */
static void flat_update(struct cv_strmap *f, const void *obj)
{
    const struct cv_update_strategy *u = obj;
    jdiff_flat_optbool(f, "AutoPromote", u->auto_promote);
    jdiff_flat_optbool(f, "AutoRevert", u->auto_revert);
    jdiff_flat_int(f, "Canary", u->canary);
    jdiff_flat_str(f, "HealthCheck", u->health_check);
    jdiff_flat_int(f, "HealthyDeadline", u->healthy_deadline);
    jdiff_flat_int(f, "MaxParallel", u->max_parallel);
    jdiff_flat_int(f, "MinHealthyTime", u->min_healthy_time);
    jdiff_flat_int(f, "ProgressDeadline", u->progress_deadline);
}

static void flat_log_config(struct cv_strmap *f, const void *obj)
{
    const struct cv_log_config *l = obj;
    jdiff_flat_bool(f, "Disabled", l->disabled);
    jdiff_flat_int(f, "MaxFileSizeMB", l->max_file_size_mb);
    jdiff_flat_int(f, "MaxFiles", l->max_files);
}

static void flat_port(struct cv_strmap *f, const void *obj)
{
    const struct cv_port *p = obj;
    jdiff_flat_str(f, "HostNetwork", p->host_network);
    jdiff_flat_str(f, "Label", p->label);
    jdiff_flat_int(f, "To", p->to);
    jdiff_flat_int(f, "Value", p->value);
}

/* A dynamic port's Value is the scheduler's choice: left out. */
static void flat_dynamic_port(struct cv_strmap *f, const void *obj)
{
    const struct cv_port *p = obj;
    jdiff_flat_str(f, "HostNetwork", p->host_network);
    jdiff_flat_str(f, "Label", p->label);
    jdiff_flat_int(f, "To", p->to);
}

/* Device, CIDR and IP are left out, as Nomad's network diff does. */
static void flat_network(struct cv_strmap *f, const void *obj)
{
    const struct cv_network *n = obj;
    jdiff_flat_str(f, "Hostname", n->hostname);
    jdiff_flat_int(f, "MBits", n->mbits);
    jdiff_flat_str(f, "Mode", n->mode);
}

/* IOPS: Nomad still prints its deprecated field, always 0 here. */
static void flat_resources(struct cv_strmap *f, const void *obj)
{
    const struct cv_resources *r = obj;
    jdiff_flat_int(f, "CPU", r->cpu);
    jdiff_flat_int(f, "Cores", r->cores);
    jdiff_flat_int(f, "DiskMB", r->disk_mb);
    jdiff_flat_str(f, "IOPS", "0");
    jdiff_flat_int(f, "MemoryMB", r->memory_mb);
    jdiff_flat_int(f, "MemoryMaxMB", r->memory_max_mb);
}

/* ---- objects with objects inside ----------------------------------------------------- */

static bool spread_in(const struct cv_spread *s, const struct cv_spread *list, size_t n)
{
    struct cv_strmap f = {0};
    flat_spread_key(&f, s);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        struct cv_strmap g = {0};
        flat_spread_key(&g, &list[i]);
        found = jdiff_flat_equal(&f, &g);
        jdiff_flat_free(&g);
    }
    jdiff_flat_free(&f);
    return found;
}

/* A spread added or deleted: Attribute and Weight as fields, the targets
 * as "SpreadTarget" objects. */
static void spread_object(struct jdiff_node *parent, const struct cv_spread *s, bool added,
                          bool contextual)
{
    struct cv_strmap f = {0}, empty = {0};
    jdiff_flat_str(&f, "Attribute", s->attribute);
    jdiff_flat_int(&f, "Weight", s->weight);
    struct jdiff_node *n =
        jdiff_object(parent, "Spread", added ? &empty : &f, added ? &f : &empty, contextual);
    jdiff_flat_free(&f);
    if (!n) {
        return;
    }
    const struct cv_spread_target *t = s->targets.items;
    size_t len = s->targets.len;
    jdiff_set(n, "SpreadTarget", flat_spread_target, added ? NULL : t, added ? 0 : len,
              added ? t : NULL, added ? len : 0, sizeof *t, contextual);
}

/* Spreads as a set, like constraints (Nomad's diff leaves them out). */
static void spread_diffs(struct jdiff_node *parent, const struct cv_spread *o, size_t no,
                         const struct cv_spread *w, size_t nw, bool contextual)
{
    size_t from = parent->objects.len;
    for (size_t i = 0; i < no; i++) {
        if (!spread_in(&o[i], w, nw) && !spread_in(&o[i], o, i)) {
            spread_object(parent, &o[i], false, contextual);
        }
    }
    for (size_t i = 0; i < nw; i++) {
        if (!spread_in(&w[i], o, no) && !spread_in(&w[i], w, i)) {
            spread_object(parent, &w[i], true, contextual);
        }
    }
    jdiff_sort_objects(parent, from);
}

/* Nomad's portDiffs: ports matched by label. */
static void port_diffs(struct jdiff_node *parent, const char *name, jdiff_flatten_fn flatten,
                       const struct cv_port *o, size_t no, const struct cv_port *w, size_t nw,
                       bool contextual)
{
    size_t from = parent->objects.len;
    for (size_t i = 0; i < no; i++) {
        const struct cv_port *match = NULL;
        for (size_t k = 0; k < nw && !match; k++) {
            match = strcmp(o[i].label, w[k].label) == 0 ? &w[k] : NULL;
        }
        jdiff_struct(parent, name, flatten, &o[i], match, contextual);
    }
    for (size_t k = 0; k < nw; k++) {
        bool seen = false;
        for (size_t i = 0; i < no && !seen; i++) {
            seen = strcmp(o[i].label, w[k].label) == 0;
        }
        if (!seen) {
            jdiff_struct(parent, name, flatten, NULL, &w[k], contextual);
        }
    }
    jdiff_sort_objects(parent, from);
}

/* Nomad's NetworkResource.Diff for one network added or deleted. */
static void network_diff(struct jdiff_node *parent, const struct cv_network *o,
                         const struct cv_network *w, bool contextual)
{
    struct jdiff_node *n = JDIFF_PUSH(parent->objects);
    n->type = o ? JDIFF_DELETED : JDIFF_ADDED;
    n->name = cv_strdup("Network");
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        flat_network(&fo, o);
    }
    if (w) {
        flat_network(&fw, w);
    }
    jdiff_fields(n, &fo, &fw, contextual);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
    const struct cv_network *e = o ? o : w;
    const struct cv_port *rp = e->reserved_ports.items, *dp = e->dynamic_ports.items;
    size_t nr = e->reserved_ports.len, ndyn = e->dynamic_ports.len;
    port_diffs(n, "Static Port", flat_port, o ? rp : NULL, o ? nr : 0, o ? NULL : rp, o ? 0 : nr,
               contextual);
    port_diffs(n, "Dynamic Port", flat_dynamic_port, o ? dp : NULL, o ? ndyn : 0, o ? NULL : dp,
               o ? 0 : ndyn, contextual);
}

/* Nomad's networkResourceDiffs: a set, so a changed network is a Deleted
 * one and an Added one. */
static void network_diffs(struct jdiff_node *parent, const struct cv_network *o, size_t no,
                          const struct cv_network *w, size_t nw, bool contextual)
{
    const struct cv_schema *s = &cv_network_resource_schema;
    size_t from = parent->objects.len;
    for (size_t i = 0; i < no; i++) {
        bool kept = false;
        for (size_t k = 0; k < nw && !kept; k++) {
            kept = cv_equal(s, &o[i], &w[k]);
        }
        if (!kept) {
            network_diff(parent, &o[i], NULL, contextual);
        }
    }
    for (size_t k = 0; k < nw; k++) {
        bool had = false;
        for (size_t i = 0; i < no && !had; i++) {
            had = cv_equal(s, &o[i], &w[k]);
        }
        if (!had) {
            network_diff(parent, NULL, &w[k], contextual);
        }
    }
    jdiff_sort_objects(parent, from);
}

/* Nomad's Resources.Diff: typed by presence, not by its fields. */
static void resources_diff(struct jdiff_node *parent, const struct cv_resources *o,
                           const struct cv_resources *w, bool contextual)
{
    if ((!o && !w) || (o && w && cv_equal(&cv_resources_schema, o, w))) {
        return;
    }
    struct jdiff_node *n = JDIFF_PUSH(parent->objects);
    n->type = !o ? JDIFF_ADDED : !w ? JDIFF_DELETED : JDIFF_EDITED;
    n->name = cv_strdup("Resources");
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        flat_resources(&fo, o);
    }
    if (w) {
        flat_resources(&fw, w);
    }
    jdiff_fields(n, &fo, &fw, contextual);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
    network_diffs(n, o ? o->networks.items : NULL, o ? o->networks.len : 0,
                  w ? w->networks.items : NULL, w ? w->networks.len : 0, contextual);
}

static bool config_empty(const struct cv_json_doc *d)
{
    if (!d) {
        return true;
    }
    const struct cv_json *v = cv_json_doc_root(d);
    return v->type == CV_JSON_NULL || (v->type == CV_JSON_OBJECT && v->u.object.len == 0);
}

/* Nomad's configDiff: the driver configuration, flattened all the way. */
static void config_diff(struct jdiff_node *parent, const struct cv_json_doc *o,
                        const struct cv_json_doc *w, bool contextual)
{
    bool oe = config_empty(o), we = config_empty(w);
    if ((oe && we) || (!oe && !we && cv_json_equal(cv_json_doc_root(o), cv_json_doc_root(w)))) {
        return;
    }
    struct jdiff_node *n = JDIFF_PUSH(parent->objects);
    n->type = oe ? JDIFF_ADDED : we ? JDIFF_DELETED : JDIFF_EDITED;
    n->name = cv_strdup("Config");
    struct cv_strmap fo = {0}, fw = {0};
    struct cv_buf path = CV_BUF_INIT;
    if (!oe) {
        jdiff_flat_json(&fo, &path, cv_json_doc_root(o));
    }
    cv_buf_reset(&path);
    if (!we) {
        jdiff_flat_json(&fw, &path, cv_json_doc_root(w));
    }
    cv_buf_free(&path);
    jdiff_fields(n, &fo, &fw, contextual);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
}

/* ---- tasks, groups, the job ---------------------------------------------------------- */

static void task_fields(struct cv_strmap *f, const struct cv_task *t)
{
    jdiff_flat_str(f, "Driver", t->driver);
    jdiff_flat_map(f, "Env", &t->env);
    jdiff_flat_str(f, "KillSignal", t->kill_signal);
    jdiff_flat_int(f, "KillTimeout", t->kill_timeout);
    jdiff_flat_str(f, "Kind", t->kind);
    jdiff_flat_bool(f, "Leader", t->leader);
    jdiff_flat_map(f, "Meta", &t->meta);
    jdiff_flat_int(f, "ShutdownDelay", t->shutdown_delay);
    jdiff_flat_str(f, "User", t->user);
}

#define ITEMS(p, member)   ((p) ? (p)->member.items : NULL)
#define LEN(p, member)     ((p) ? (p)->member.len : 0)
#define FIELD_OF(p, field) ((p) ? (p)->field : NULL)

/* Nomad's Task.Diff; o or w may be NULL. */
static void task_diff(struct jdiff_node *n, const struct cv_task *o, const struct cv_task *w,
                      bool contextual)
{
    n->type = !o                                ? JDIFF_ADDED
              : !w                              ? JDIFF_DELETED
              : cv_equal(&cv_task_schema, o, w) ? JDIFF_NONE
                                                : JDIFF_EDITED;
    n->name = cv_strdup(w ? w->name : o->name);
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        task_fields(&fo, o);
    }
    if (w) {
        task_fields(&fw, w);
    }
    jdiff_fields(n, &fo, &fw, false);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
    jdiff_set(n, "Constraint", flat_constraint, ITEMS(o, constraints), LEN(o, constraints),
              ITEMS(w, constraints), LEN(w, constraints), sizeof(struct cv_constraint), contextual);
    jdiff_set(n, "Affinity", flat_affinity, ITEMS(o, affinities), LEN(o, affinities),
              ITEMS(w, affinities), LEN(w, affinities), sizeof(struct cv_affinity), contextual);
    config_diff(n, FIELD_OF(o, config), FIELD_OF(w, config), contextual);
    resources_diff(n, FIELD_OF(o, resources), FIELD_OF(w, resources), contextual);
    jdiff_struct(n, "LogConfig", flat_log_config, FIELD_OF(o, log_config), FIELD_OF(w, log_config),
                 contextual);
}

static const struct cv_task *find_task(const struct cv_task_group *g, const char *name)
{
    for (size_t i = 0; g && i < g->tasks.len; i++) {
        if (strcmp(g->tasks.items[i].name, name) == 0) {
            return &g->tasks.items[i];
        }
    }
    return NULL;
}

static const struct cv_task_group *find_group(const struct cv_job *j, const char *name)
{
    for (size_t i = 0; j && i < j->task_groups.len; i++) {
        if (strcmp(j->task_groups.items[i].name, name) == 0) {
            return &j->task_groups.items[i];
        }
    }
    return NULL;
}

static void group_fields(struct cv_strmap *f, const struct cv_task_group *g, bool edited)
{
    jdiff_flat_int(f, "Count", g->count);
    jdiff_flat_map(f, "Meta", &g->meta);
    /* A pointer in Nomad, compared only between two versions; 0 is unset. */
    if (edited) {
        jdiff_flat_int(f, "ShutdownDelay", g->shutdown_delay ? g->shutdown_delay : CV_UNSET);
    }
}

static int kid_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jdiff_node *)a)->name, ((const struct jdiff_node *)b)->name);
}

/* Nomad's TaskGroup.Diff; o or w may be NULL. */
static void group_diff(struct jdiff_node *n, const struct cv_task_group *o,
                       const struct cv_task_group *w, bool contextual)
{
    n->type = !o                                      ? JDIFF_ADDED
              : !w                                    ? JDIFF_DELETED
              : cv_equal(&cv_task_group_schema, o, w) ? JDIFF_NONE
                                                      : JDIFF_EDITED;
    n->name = cv_strdup(w ? w->name : o->name);
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        group_fields(&fo, o, o && w);
    }
    if (w) {
        group_fields(&fw, w, o && w);
    }
    jdiff_fields(n, &fo, &fw, false);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
    jdiff_set(n, "Constraint", flat_constraint, ITEMS(o, constraints), LEN(o, constraints),
              ITEMS(w, constraints), LEN(w, constraints), sizeof(struct cv_constraint), contextual);
    jdiff_set(n, "Affinity", flat_affinity, ITEMS(o, affinities), LEN(o, affinities),
              ITEMS(w, affinities), LEN(w, affinities), sizeof(struct cv_affinity), contextual);
    spread_diffs(n, ITEMS(o, spreads), LEN(o, spreads), ITEMS(w, spreads), LEN(w, spreads),
                 contextual);
    jdiff_struct(n, "RestartPolicy", flat_restart, FIELD_OF(o, restart_policy),
                 FIELD_OF(w, restart_policy), contextual);
    jdiff_struct(n, "ReschedulePolicy", flat_reschedule, FIELD_OF(o, reschedule_policy),
                 FIELD_OF(w, reschedule_policy), contextual);
    jdiff_struct(n, "EphemeralDisk", flat_disk, FIELD_OF(o, ephemeral_disk),
                 FIELD_OF(w, ephemeral_disk), contextual);
    jdiff_struct(n, "Update", flat_update, FIELD_OF(o, update), FIELD_OF(w, update), contextual);
    network_diffs(n, ITEMS(o, networks), LEN(o, networks), ITEMS(w, networks), LEN(w, networks),
                  contextual);
    for (size_t i = 0; o && i < o->tasks.len; i++) {
        const struct cv_task *t = &o->tasks.items[i];
        task_diff(JDIFF_PUSH(n->kids), t, find_task(w, t->name), contextual);
    }
    for (size_t i = 0; w && i < w->tasks.len; i++) {
        const struct cv_task *t = &w->tasks.items[i];
        if (!find_task(o, t->name)) {
            task_diff(JDIFF_PUSH(n->kids), NULL, t, contextual);
        }
    }
    qsort(n->kids.items, n->kids.len, sizeof *n->kids.items, kid_cmp);
}

/* Dispatched: Caravan has no dispatched jobs, so always "false", which
 * Nomad prints for every other job. */
static void job_fields(struct cv_strmap *f, const struct cv_job *j)
{
    jdiff_flat_bool(f, "AllAtOnce", j->all_at_once);
    jdiff_flat_str(f, "Dispatched", "false");
    jdiff_flat_map(f, "Meta", &j->meta);
    jdiff_flat_str(f, "Name", j->name);
    jdiff_flat_str(f, "Namespace", j->namespace);
    jdiff_flat_str(f, "NodePool", j->node_pool);
    jdiff_flat_str(f, "ParentID", j->parent_id);
    jdiff_flat_int(f, "Priority", j->priority);
    jdiff_flat_str(f, "Region", j->region);
    jdiff_flat_bool(f, "Stop", j->stop);
    jdiff_flat_str(f, "Type", j->type);
}

static void job_diff(struct jdiff_node *n, const struct cv_job *o, const struct cv_job *w,
                     bool contextual)
{
    n->type = !o ? JDIFF_ADDED : !w ? JDIFF_DELETED : JDIFF_NONE;
    n->name = cv_strdup(w ? w->id : o->id);
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        job_fields(&fo, o);
    }
    if (w) {
        job_fields(&fw, w);
    }
    jdiff_fields(n, &fo, &fw, false);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
    jdiff_string_set(n, "Datacenters", o ? &o->datacenters : NULL, w ? &w->datacenters : NULL,
                     contextual);
    jdiff_set(n, "Constraint", flat_constraint, ITEMS(o, constraints), LEN(o, constraints),
              ITEMS(w, constraints), LEN(w, constraints), sizeof(struct cv_constraint), contextual);
    jdiff_set(n, "Affinity", flat_affinity, ITEMS(o, affinities), LEN(o, affinities),
              ITEMS(w, affinities), LEN(w, affinities), sizeof(struct cv_affinity), contextual);
    spread_diffs(n, ITEMS(o, spreads), LEN(o, spreads), ITEMS(w, spreads), LEN(w, spreads),
                 contextual);
    for (size_t i = 0; o && i < o->task_groups.len; i++) {
        const struct cv_task_group *g = &o->task_groups.items[i];
        group_diff(JDIFF_PUSH(n->kids), g, find_group(w, g->name), contextual);
    }
    for (size_t i = 0; w && i < w->task_groups.len; i++) {
        const struct cv_task_group *g = &w->task_groups.items[i];
        if (!find_group(o, g->name)) {
            group_diff(JDIFF_PUSH(n->kids), NULL, g, contextual);
        }
    }
    qsort(n->kids.items, n->kids.len, sizeof *n->kids.items, kid_cmp);
    /* Edited when anything under it is not None (Nomad does not compare
     * whole jobs: servers change fields a diff must not show). */
    for (size_t i = 0; n->type == JDIFF_NONE && i < n->fields.len; i++) {
        n->type = n->fields.items[i].type != JDIFF_NONE ? JDIFF_EDITED : JDIFF_NONE;
    }
    for (size_t i = 0; n->type == JDIFF_NONE && i < n->objects.len; i++) {
        n->type = n->objects.items[i].type != JDIFF_NONE ? JDIFF_EDITED : JDIFF_NONE;
    }
    for (size_t i = 0; n->type == JDIFF_NONE && i < n->kids.len; i++) {
        n->type = n->kids.items[i].type != JDIFF_NONE ? JDIFF_EDITED : JDIFF_NONE;
    }
}

/* ---- annotations (scheduler.Annotate) ------------------------------------------------ */

static void annotate_count(struct jdiff_node *g)
{
    for (size_t i = 0; i < g->fields.len; i++) {
        struct jdiff_field *f = &g->fields.items[i];
        if (strcmp(f->name, "Count") != 0) {
            continue;
        }
        long long o = strtoll(f->old, NULL, 10), w = strtoll(f->new_value, NULL, 10);
        f->annotation = o < w ? "forces create" : w < o ? "forces destroy" : NULL;
        return;
    }
}

static void annotate_task(struct jdiff_node *t, const struct jdiff_node *g)
{
    if (t->type == JDIFF_NONE) {
        return;
    }
    if (g->type == JDIFF_ADDED || g->type == JDIFF_DELETED) {
        if (t->type == JDIFF_ADDED || t->type == JDIFF_DELETED) {
            t->annotation = t->type == JDIFF_ADDED ? "forces create" : "forces destroy";
            return;
        }
    }
    /* Every field but KillTimeout, and every object but constraints,
     * affinities, spreads and a LogConfig that does not touch Disabled,
     * needs new allocations. */
    bool destructive = false;
    for (size_t i = 0; i < t->fields.len && !destructive; i++) {
        destructive = strcmp(t->fields.items[i].name, "KillTimeout") != 0;
    }
    for (size_t i = 0; i < t->objects.len && !destructive; i++) {
        const struct jdiff_node *o = &t->objects.items[i];
        if (strcmp(o->name, "Constraint") == 0 || strcmp(o->name, "Affinity") == 0 ||
            strcmp(o->name, "Spread") == 0) {
            continue;
        }
        if (strcmp(o->name, "LogConfig") == 0) {
            for (size_t k = 0; k < o->fields.len && !destructive; k++) {
                destructive = strcmp(o->fields.items[k].name, "Disabled") == 0;
            }
            continue;
        }
        destructive = true;
    }
    t->annotation = destructive ? "forces create/destroy update" : "forces in-place update";
}

static void annotate(struct jdiff_node *job, const struct sch_desired_updates *updates, size_t n)
{
    for (size_t i = 0; i < job->kids.len; i++) {
        struct jdiff_node *g = &job->kids.items[i];
        g->annotated = true;
        for (size_t k = 0; k < n && !g->updates; k++) {
            g->updates = strcmp(updates[k].task_group, g->name) == 0 ? &updates[k] : NULL;
        }
        annotate_count(g);
        for (size_t k = 0; k < g->kids.len; k++) {
            annotate_task(&g->kids.items[k], g);
        }
    }
}

void job_diff_encode(const struct cv_job *old, const struct cv_job *new_job,
                     const struct sch_desired_updates *updates, size_t n_updates, bool contextual,
                     struct cv_jgen *g)
{
    assert(old || new_job);
    assert(!old || !new_job || strcmp(old->id, new_job->id) == 0);
    struct jdiff_node root = {0};
    job_diff(&root, old, new_job, contextual);
    if (updates) {
        annotate(&root, updates, n_updates);
    }
    jdiff_write(g, &root);
    jdiff_node_release(&root);
}
