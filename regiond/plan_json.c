/*
 * plan_json: a plan from and to a worker's JSON, in Nomad's Plan shape
 * (plan_decode, plan_parse, plan_encode; plan.h has the shape).
 *
 * Decoding treats the document as hostile: every member is checked
 * against what Caravan knows (unknown keys refused, Nomad's unsupported
 * ones accepted only empty), allocations go through cv_alloc_decode, and
 * the plan is built with plan_add_stop / plan_add_alloc as it is read.
 * Encoding writes NodeUpdate and NodeAllocation grouped by node, in the
 * shape decoding reads.
 */
#include "regiond/plan.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/allocation.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/node.h"
#include "regiond/plan_internal.h"

/* ---- decoding ----------------------------------------------------------------------------
 * Every problem is CV_EVALIDATE with the path of the field; the first one
 * found is reported (allocations report their decoder's first problem and
 * how many more there were).
 */

static const char *const stop_client_statuses[] = {CV_ALLOC_CLIENT_PENDING,
                                                   CV_ALLOC_CLIENT_RUNNING,
                                                   CV_ALLOC_CLIENT_COMPLETE,
                                                   CV_ALLOC_CLIENT_FAILED,
                                                   CV_ALLOC_CLIENT_LOST,
                                                   CV_ALLOC_CLIENT_UNKNOWN,
                                                   NULL};

static int bad(struct cv_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct cv_err *err, const char *path, const char *fmt, ...)
{
    char msg[CV_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cv_err_set_pathf(err, CV_EVALIDATE, path, "%s", msg);
}

/* The first problem of a list, under path; frees the list. */
static int list_failed(struct cv_err *err, const char *path, struct cv_errlist *errs)
{
    char full[CV_ERR_PATH_MAX];
    int rc;
    if (errs->len == 0) {
        rc = bad(err, path, "is invalid");
    } else {
        cv_path_join(full, path, errs->items[0].path);
        if (errs->len > 1) {
            rc = bad(err, full, "%s (and %zu more)", errs->items[0].msg, errs->len - 1);
        } else {
            rc = bad(err, full, "%s", errs->items[0].msg);
        }
    }
    cv_errlist_free(errs);
    return rc;
}

/* A member that is present and not null (null is Go's absent value). */
static const struct cv_json *member(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cv_json_object_get(obj, key);
    return v && v->type != CV_JSON_NULL ? v : NULL;
}

static int expect_type(const struct cv_json *v, enum cv_json_type type, const char *path,
                       struct cv_err *err)
{
    if (v->type != type) {
        return bad(err, path, "must be %s %s, got %s",
                   type == CV_JSON_OBJECT || type == CV_JSON_ARRAY ? "an" : "a",
                   cv_json_type_name(type), cv_json_type_name(v->type));
    }
    return 0;
}

/* Refuses a key of obj not in `known` (NULL-terminated). A key in
 * `unsupported` passes only with a zero value (null, false, 0, "", [],
 * {}), as Nomad's Go client sends the fields it does not use. */
static int check_keys(const struct cv_json *obj, const char *path, const char *const *known,
                      const char *const *unsupported, struct cv_err *err)
{
    char sub[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        bool found = false;
        for (size_t k = 0; known[k] && !found; k++) {
            found = strcmp(m->key, known[k]) == 0 && strlen(m->key) == m->key_len;
        }
        if (found) {
            continue;
        }
        cv_path_join(sub, path, m->key);
        for (size_t k = 0; unsupported && unsupported[k]; k++) {
            if (strcmp(m->key, unsupported[k]) != 0) {
                continue;
            }
            const struct cv_json *v = m->value;
            bool zero = v->type == CV_JSON_NULL || (v->type == CV_JSON_BOOL && !v->u.boolean) ||
                        (v->type == CV_JSON_NUMBER && strcmp(v->u.number.text, "0") == 0) ||
                        (v->type == CV_JSON_STRING && v->u.string.len == 0) ||
                        (v->type == CV_JSON_ARRAY && v->u.array.len == 0) ||
                        (v->type == CV_JSON_OBJECT && v->u.object.len == 0);
            return zero ? 0 : bad(err, sub, "is not supported by Caravan");
        }
        return bad(err, sub, "unknown field");
    }
    return 0;
}

static int string_value(const struct cv_json *v, const char *path, bool required, const char **out,
                        struct cv_err *err)
{
    int rc = expect_type(v, CV_JSON_STRING, path, err);
    if (rc) {
        return rc;
    }
    if (strlen(v->u.string.ptr) != v->u.string.len) {
        return bad(err, path, "must not contain a NUL character");
    }
    if (required && v->u.string.len == 0) {
        return bad(err, path, "is required");
    }
    *out = v->u.string.ptr;
    return 0;
}

/* A string member (borrowed from the document), "" when absent. */
static int get_string(const struct cv_json *obj, const char *path, const char *key, bool required,
                      const char **out, struct cv_err *err)
{
    char sub[CV_ERR_PATH_MAX];
    cv_path_join(sub, path, key);
    const struct cv_json *v = member(obj, key);
    *out = "";
    if (!v) {
        return required ? bad(err, sub, "is required") : 0;
    }
    return string_value(v, sub, required, out, err);
}

static int check_uuid(const char *value, const char *path, bool required, struct cv_err *err)
{
    if (!value[0] && !required) {
        return 0;
    }
    if (!cv_uuid_valid(value)) {
        return value[0] ? bad(err, path, "must be a UUID, got \"%.64s\"", value)
                        : bad(err, path, "is required");
    }
    return 0;
}

static int get_uuid(const struct cv_json *obj, const char *path, const char *key, bool required,
                    const char **out, struct cv_err *err)
{
    char sub[CV_ERR_PATH_MAX];
    cv_path_join(sub, path, key);
    int rc = get_string(obj, path, key, required, out, err);
    return rc ? rc : check_uuid(*out, sub, required, err);
}

static int check_vocab(const char *value, const char *path, const char *const *allowed,
                       struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_check_vocab(&errs, "", path, value, allowed);
    return errs.len ? list_failed(err, "", &errs) : (cv_errlist_free(&errs), 0);
}

static int get_bool(const struct cv_json *obj, const char *key, bool *out, struct cv_err *err)
{
    const struct cv_json *v = member(obj, key);
    *out = false;
    if (!v) {
        return 0;
    }
    int rc = expect_type(v, CV_JSON_BOOL, key, err);
    if (rc == 0) {
        *out = v->u.boolean;
    }
    return rc;
}

static int get_priority(const struct cv_json *obj, int64_t *out, struct cv_err *err)
{
    const struct cv_json *v = member(obj, "Priority");
    if (!v) {
        return bad(err, "Priority", "is required");
    }
    if (v->type != CV_JSON_NUMBER || cv_json_int64(v, out) != 0 || *out < PLAN_PRIORITY_MIN ||
        *out > PLAN_PRIORITY_MAX) {
        return bad(err, "Priority", "must be an integer between %d and %d, got %.32s",
                   PLAN_PRIORITY_MIN, PLAN_PRIORITY_MAX,
                   v->type == CV_JSON_NUMBER ? v->u.number.text : cv_json_type_name(v->type));
    }
    return 0;
}

static int get_index(const struct cv_json *obj, const char *key, uint64_t *out, struct cv_err *err)
{
    const struct cv_json *v = member(obj, key);
    *out = 0;
    if (!v) {
        return 0;
    }
    if (v->type != CV_JSON_NUMBER || cv_json_uint64(v, out) != 0) {
        *out = 0;
        return bad(err, key, "must be an unsigned 64-bit integer, got %.32s",
                   v->type == CV_JSON_NUMBER ? v->u.number.text : cv_json_type_name(v->type));
    }
    return 0;
}

/* {"ID", "Namespace"}: Nomad 1.11's lean JobInfo. */
static int dec_job(const struct cv_json *root, struct plan *p, struct cv_err *err)
{
    static const char *const known[] = {"ID", "Namespace", NULL};
    const struct cv_json *v = member(root, "Job");
    if (!v) {
        return bad(err, "Job", "is required");
    }
    const char *id, *ns;
    int rc;
    if ((rc = expect_type(v, CV_JSON_OBJECT, "Job", err)) != 0 ||
        (rc = check_keys(v, "Job", known, NULL, err)) != 0 ||
        (rc = get_string(v, "Job", "ID", true, &id, err)) != 0 ||
        (rc = get_string(v, "Job", "Namespace", false, &ns, err)) != 0) {
        return rc;
    }
    if (ns[0] && strcmp(ns, "default") != 0) {
        return bad(err, "Job.Namespace",
                   "must be \"default\" (Caravan has one namespace), got "
                   "\"%.64s\"",
                   ns);
    }
    cv_set_string(&p->job_id, id);
    return 0;
}

/* A key of NodeUpdate / NodeAllocation: a node ID. */
static int check_node_key(const struct cv_json_member *m, const char *path, struct cv_err *err)
{
    if (strlen(m->key) != m->key_len) {
        return bad(err, path, "node IDs must not contain a NUL character");
    }
    if (!cv_uuid_valid(m->key)) {
        return bad(err, path, "node IDs must be UUIDs, got \"%.64s\"", m->key);
    }
    return 0;
}

/* One stop: {"ID", "NodeID", "DesiredStatus", "DesiredDescription",
 * "ClientStatus", "FollowupEvalID"}. */
static int dec_stop(const struct cv_json *v, const char *path, const char *node_id, struct plan *p,
                    struct cv_err *err)
{
    static const char *const known[] = {
        "ID", "NodeID", "DesiredStatus", "DesiredDescription", "ClientStatus", "FollowupEvalID",
        NULL};
    char sub[CV_ERR_PATH_MAX];
    const char *id, *node, *desired, *desc, *client, *followup;
    int rc;
    if ((rc = expect_type(v, CV_JSON_OBJECT, path, err)) != 0 ||
        (rc = check_keys(v, path, known, NULL, err)) != 0 ||
        (rc = get_uuid(v, path, "ID", true, &id, err)) != 0 ||
        (rc = get_string(v, path, "NodeID", false, &node, err)) != 0 ||
        (rc = get_string(v, path, "DesiredStatus", false, &desired, err)) != 0 ||
        (rc = get_string(v, path, "DesiredDescription", false, &desc, err)) != 0 ||
        (rc = get_string(v, path, "ClientStatus", false, &client, err)) != 0 ||
        (rc = get_uuid(v, path, "FollowupEvalID", false, &followup, err)) != 0) {
        return rc;
    }
    if (node[0] && strcmp(node, node_id) != 0) {
        cv_path_join(sub, path, "NodeID");
        return bad(err, sub, "must be the node it is listed under (%s), got \"%.64s\"", node_id,
                   node);
    }
    if (desired[0] && strcmp(desired, CV_ALLOC_DESIRED_STOP) != 0) {
        cv_path_join(sub, path, "DesiredStatus");
        return bad(err, sub, "must be \"stop\" in NodeUpdate, got \"%.64s\"", desired);
    }
    if (client[0]) {
        cv_path_join(sub, path, "ClientStatus");
        if ((rc = check_vocab(client, sub, stop_client_statuses, err)) != 0) {
            return rc;
        }
    }
    plan_add_stop(p, node_id, id, desc, client, followup);
    return 0;
}

static int dec_alloc(const struct cv_json *v, const char *path, const char *node_id, struct plan *p,
                     struct cv_err *err)
{
    char sub[CV_ERR_PATH_MAX];
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    if (cv_alloc_decode(v, &a, &errs) != 0) {
        return list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    int rc = 0;
    if (strcmp(a->node_id, node_id) != 0) {
        cv_path_join(sub, path, "NodeID");
        rc = bad(err, sub, "must be the node it is listed under (%s), got \"%.64s\"", node_id,
                 a->node_id);
    } else if (strcmp(a->job_id, p->job_id) != 0) {
        cv_path_join(sub, path, "JobID");
        rc = bad(err, sub, "must be the plan's job \"%.64s\", got \"%.64s\"", p->job_id, a->job_id);
    } else if (!a->allocated_resources) {
        cv_path_join(sub, path, "AllocatedResources");
        rc = bad(err, sub, "is required");
    }
    if (rc) {
        cv_alloc_free(a);
        return rc;
    }
    plan_add_alloc(p, a);
    return 0;
}

typedef int (*dec_entry_fn)(const struct cv_json *v, const char *path, const char *node_id,
                            struct plan *p, struct cv_err *err);

/* NodeUpdate or NodeAllocation: {"<node>": [entry...]}. */
static int dec_node_map(const struct cv_json *root, const char *key, dec_entry_fn fn,
                        struct plan *p, struct cv_err *err)
{
    const struct cv_json *map = member(root, key);
    if (!map) {
        return 0;
    }
    int rc = expect_type(map, CV_JSON_OBJECT, key, err);
    for (size_t i = 0; rc == 0 && i < map->u.object.len; i++) {
        const struct cv_json_member *m = &map->u.object.members[i];
        char path[CV_ERR_PATH_MAX];
        cv_path_join(path, key, m->key);
        if ((rc = check_node_key(m, path, err)) != 0) {
            break;
        }
        const struct cv_json *arr = m->value;
        if (arr->type == CV_JSON_NULL) {
            continue;
        }
        if ((rc = expect_type(arr, CV_JSON_ARRAY, path, err)) != 0) {
            break;
        }
        for (size_t j = 0; rc == 0 && j < arr->u.array.len; j++) {
            char item[CV_ERR_PATH_MAX];
            cv_path_index(item, key, m->key, j);
            rc = fn(arr->u.array.items[j], item, m->key, p, err);
        }
    }
    return rc;
}

/* For the check of IDs listed twice: an entry and where it was listed. */
struct id_ref
{
    const char *id;
    const char *node;
    size_t seq; /* order of appearance */
};

static int cmp_id_ref(const void *a, const void *b)
{
    const struct id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Refuses an allocation ID listed twice in one map; names the second. */
static int check_unique(struct id_ref *refs, size_t n, const char *key, struct cv_err *err)
{
    qsort(refs, n, sizeof *refs, cmp_id_ref);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(refs[i].id, refs[i - 1].id) == 0) {
            char path[CV_ERR_PATH_MAX];
            cv_path_join(path, key, refs[i].node);
            return bad(err, path, "allocation %s is listed twice in %s", refs[i].id, key);
        }
    }
    return 0;
}

static int check_duplicates(const struct plan *p, struct cv_err *err)
{
    size_t n = p->n_stops > p->n_allocs ? p->n_stops : p->n_allocs;
    if (n < 2) {
        return 0;
    }
    struct id_ref *refs = cv_calloc(n, sizeof *refs);
    for (size_t i = 0; i < p->n_stops; i++) {
        refs[i] = (struct id_ref){p->stops[i].alloc_id, p->stops[i].node_id, i};
    }
    int rc = check_unique(refs, p->n_stops, "NodeUpdate", err);
    if (rc == 0) {
        for (size_t i = 0; i < p->n_allocs; i++) {
            refs[i] = (struct id_ref){p->allocs[i]->id, p->allocs[i]->node_id, i};
        }
        rc = check_unique(refs, p->n_allocs, "NodeAllocation", err);
    }
    cv_free(refs);
    return rc;
}

int plan_decode(const struct cv_json *v, struct plan **out, struct cv_err *err)
{
    static const char *const known[] = {"EvalID",         "EvalToken",     "Priority",
                                        "AllAtOnce",      "Job",           "NodeUpdate",
                                        "NodeAllocation", "SnapshotIndex", NULL};
    static const char *const unsupported[] = {"NodePreemptions", "Deployment", "DeploymentUpdates",
                                              "Annotations", NULL};
    *out = NULL;
    if (v->type != CV_JSON_OBJECT) {
        return bad(err, "", "a plan must be a JSON object, got %s", cv_json_type_name(v->type));
    }
    struct plan *p = plan_new();
    const char *eval_id, *token;
    int rc;
    if ((rc = check_keys(v, "", known, unsupported, err)) != 0 ||
        (rc = get_uuid(v, "", "EvalID", true, &eval_id, err)) != 0 ||
        (rc = get_string(v, "", "EvalToken", true, &token, err)) != 0 ||
        (rc = get_priority(v, &p->priority, err)) != 0 ||
        (rc = get_bool(v, "AllAtOnce", &p->all_at_once, err)) != 0 ||
        (rc = dec_job(v, p, err)) != 0 ||
        (rc = get_index(v, "SnapshotIndex", &p->snapshot_index, err)) != 0 ||
        (rc = dec_node_map(v, "NodeUpdate", dec_stop, p, err)) != 0 ||
        (rc = dec_node_map(v, "NodeAllocation", dec_alloc, p, err)) != 0 ||
        (rc = check_duplicates(p, err)) != 0) {
        plan_free(p);
        return rc;
    }
    cv_set_string(&p->eval_id, eval_id);
    cv_set_string(&p->eval_token, token);
    *out = p;
    return 0;
}

/* A plan is at most one Raft entry; a job sits some levels deeper inside
 * a plan's allocations than at the API's border. */
static const struct cv_json_limits plan_limits = {
    .max_bytes = PLAN_MAX_BYTES,
    .max_depth = 96,
    .max_string = 16u << 20,
    .max_nodes = 8u << 20,
};

int plan_parse(const char *text, size_t len, struct plan **out, struct cv_err *err)
{
    struct cv_json_doc *doc = NULL;
    *out = NULL;
    int rc = cv_json_parse(text, len, &plan_limits, &doc, err);
    if (rc == 0) {
        rc = plan_decode(cv_json_doc_root(doc), out, err);
        cv_json_doc_free(doc);
    }
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static const char *stop_node(const void *s)
{
    return ((const struct plan_stop *)s)->node_id;
}

static const char *alloc_node(const void *a)
{
    return (*(const struct cv_allocation *const *)a)->node_id;
}

static void enc_stop(struct cv_jgen *g, const void *item)
{
    const struct plan_stop *s = item;
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "ID");
    cv_jgen_string(g, s->alloc_id);
    cv_jgen_key(g, "DesiredDescription");
    cv_jgen_string(g, s->desired_description);
    cv_jgen_key(g, "ClientStatus");
    cv_jgen_string(g, s->client_status);
    cv_jgen_key(g, "FollowupEvalID");
    cv_jgen_string(g, s->followup_eval_id);
    cv_jgen_object_end(g);
}

static void enc_alloc(struct cv_jgen *g, const void *item)
{
    cv_alloc_encode(*(const struct cv_allocation *const *)item, g);
}

/* Writes {"<node>": [...]} for n items of size `size`, grouped by node
 * (node IDs in byte order, items in plan order within a node). */
static void enc_node_map(struct cv_jgen *g, const char *key, const void *items, size_t n,
                         size_t size, const char *(*node_of)(const void *),
                         void (*enc)(struct cv_jgen *, const void *))
{
    const char **nodes = cv_calloc(n ? n : 1, sizeof *nodes);
    size_t n_nodes = 0;
    for (size_t i = 0; i < n; i++) {
        nodes[n_nodes++] = node_of((const char *)items + i * size);
    }
    qsort(nodes, n_nodes, sizeof *nodes, plan__cmp_str_ptr);
    cv_jgen_key(g, key);
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < n_nodes; i++) {
        if (i > 0 && strcmp(nodes[i], nodes[i - 1]) == 0) {
            continue;
        }
        cv_jgen_key(g, nodes[i]);
        cv_jgen_array_begin(g);
        for (size_t j = 0; j < n; j++) {
            const void *item = (const char *)items + j * size;
            if (strcmp(node_of(item), nodes[i]) == 0) {
                enc(g, item);
            }
        }
        cv_jgen_array_end(g);
    }
    cv_jgen_object_end(g);
    cv_free(nodes);
}

void plan_encode(const struct plan *p, struct cv_jgen *g)
{
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "EvalID");
    cv_jgen_string(g, p->eval_id);
    cv_jgen_key(g, "EvalToken");
    cv_jgen_string(g, p->eval_token);
    cv_jgen_key(g, "Priority");
    cv_jgen_int(g, p->priority);
    cv_jgen_key(g, "AllAtOnce");
    cv_jgen_bool(g, p->all_at_once);
    cv_jgen_key(g, "Job");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "ID");
    cv_jgen_string(g, p->job_id);
    cv_jgen_key(g, "Namespace");
    cv_jgen_string(g, "default");
    cv_jgen_object_end(g);
    enc_node_map(g, "NodeUpdate", p->stops, p->n_stops, sizeof *p->stops, stop_node, enc_stop);
    enc_node_map(g, "NodeAllocation", p->allocs, p->n_allocs, sizeof *p->allocs, alloc_node,
                 enc_alloc);
    cv_jgen_key(g, "SnapshotIndex");
    cv_jgen_uint(g, p->snapshot_index);
    cv_jgen_object_end(g);
}
