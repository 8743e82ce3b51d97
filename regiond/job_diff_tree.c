/*
 * job_diff_tree: the generic half of the job diff (job_diff_internal.h):
 * flat maps of Go-printed values, Nomad's fieldDiffs, primitiveObjectDiff,
 * primitiveObjectSetDiff and stringSetDiff, the sort order of Nomad's
 * FieldDiffs and ObjectDiffs, and the writer of the JSON shape Nomad's API
 * gives a JobDiff. It knows nothing of jobs: job_diff.c says what a job,
 * a group and a task are made of.
 */
#include "regiond/job_diff_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const type_names[] = {"None", "Added", "Deleted", "Edited"};

/* Go's DiffType.Less (a reverse sort): Edited, Added, Deleted, None. */
static int type_rank(enum jdiff_type t)
{
    static const int rank[] = {
        [JDIFF_EDITED] = 0, [JDIFF_ADDED] = 1, [JDIFF_DELETED] = 2, [JDIFF_NONE] = 3};
    return rank[t];
}

void jdiff_node_release(struct jdiff_node *n)
{
    cv_free(n->name);
    for (size_t i = 0; i < n->fields.len; i++) {
        cv_free(n->fields.items[i].name);
        cv_free(n->fields.items[i].old);
        cv_free(n->fields.items[i].new_value);
    }
    cv_free(n->fields.items);
    for (size_t i = 0; i < n->objects.len; i++) {
        jdiff_node_release(&n->objects.items[i]);
    }
    cv_free(n->objects.items);
    for (size_t i = 0; i < n->kids.len; i++) {
        jdiff_node_release(&n->kids.items[i]);
    }
    cv_free(n->kids.items);
    memset(n, 0, sizeof *n);
}

/* ---- flat maps ----------------------------------------------------------------------- */

void jdiff_flat_free(struct cv_strmap *f)
{
    for (size_t i = 0; i < f->len; i++) {
        cv_free(f->items[i].key);
        cv_free(f->items[i].value);
    }
    cv_free(f->items);
    f->items = NULL;
    f->len = 0;
}

void jdiff_flat_str(struct cv_strmap *f, const char *name, const char *value)
{
    cv_strmap_set(f, name, value ? value : "");
}

/* CV_UNSET (never left by canonicalization) reads as absent. */
void jdiff_flat_int(struct cv_strmap *f, const char *name, int64_t v)
{
    char buf[24];
    if (v == CV_UNSET) {
        buf[0] = '\0';
    } else {
        snprintf(buf, sizeof buf, "%" PRId64, v);
    }
    cv_strmap_set(f, name, buf);
}

void jdiff_flat_bool(struct cv_strmap *f, const char *name, bool v)
{
    cv_strmap_set(f, name, v ? "true" : "false");
}

/* Nomad's bools are plain: an unset optional bool prints as false. */
void jdiff_flat_optbool(struct cv_strmap *f, const char *name, int8_t v)
{
    jdiff_flat_bool(f, name, v == 1);
}

/* A map[string]string field: "Meta[key]". */
void jdiff_flat_map(struct cv_strmap *f, const char *name, const struct cv_strmap *m)
{
    struct cv_buf key = CV_BUF_INIT;
    for (size_t i = 0; i < m->len; i++) {
        cv_buf_reset(&key);
        cv_buf_appendf(&key, "%s[%s]", name, m->items[i].key);
        cv_strmap_set(f, cv_buf_str(&key), m->items[i].value);
    }
    cv_buf_free(&key);
}

/* A JSON number as Go's fmt prints the float64 encoding/json decoded it
 * into (%v: strconv 'g' with the shortest digits, exponent form below
 * 1e-4 and from 1e+06 on). */
static void go_float(const char *text, char *out, size_t cap)
{
    double v = strtod(text, NULL);
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) {
            break;
        }
    }
    /* e is "[-]d[.ddd]e(+|-)XX" */
    const char *s = e;
    bool neg = *s == '-';
    s += neg;
    char digits[24];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s != '.' && nd < sizeof digits - 1) {
            digits[nd++] = *s;
        }
    }
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    digits[nd] = '\0';
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append_str(&b, neg ? "-" : "");
    if (v == 0) {
        cv_buf_append_char(&b, '0');
    } else if (exp < -4 || exp >= 6) {
        cv_buf_append_char(&b, digits[0]);
        if (nd > 1) {
            cv_buf_appendf(&b, ".%s", digits + 1);
        }
        cv_buf_appendf(&b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        cv_buf_append_str(&b, "0.");
        for (int i = 0; i < -exp - 1; i++) {
            cv_buf_append_char(&b, '0');
        }
        cv_buf_append_str(&b, digits);
    } else {
        for (int i = 0; i <= exp || (size_t)i < nd; i++) {
            if (i == exp + 1) {
                cv_buf_append_char(&b, '.');
            }
            cv_buf_append_char(&b, (size_t)i < nd ? digits[i] : '0');
        }
    }
    snprintf(out, cap, "%s", cv_buf_str(&b));
    cv_buf_free(&b);
}

/* Nomad's flatmap over a task's Config (map[string]interface{}, not only
 * primitives): "image", "args[0]", "labels[team]", null as "nil". */
void jdiff_flat_json(struct cv_strmap *f, struct cv_buf *path, const struct cv_json *v)
{
    size_t mark = path->len;
    char num[64];
    switch (v->type) {
    case CV_JSON_NULL:
        cv_strmap_set(f, cv_buf_str(path), "nil");
        break;
    case CV_JSON_BOOL:
        cv_strmap_set(f, cv_buf_str(path), v->u.boolean ? "true" : "false");
        break;
    case CV_JSON_NUMBER:
        go_float(v->u.number.text, num, sizeof num);
        cv_strmap_set(f, cv_buf_str(path), num);
        break;
    case CV_JSON_STRING:
        cv_strmap_set(f, cv_buf_str(path), v->u.string.ptr);
        break;
    case CV_JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++) {
            cv_buf_appendf(path, "[%zu]", i);
            jdiff_flat_json(f, path, v->u.array.items[i]);
            cv_buf_truncate(path, mark);
        }
        break;
    case CV_JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.len; i++) {
            const struct cv_json_member *m = &v->u.object.members[i];
            cv_buf_appendf(path, mark ? "[%s]" : "%s", m->key);
            jdiff_flat_json(f, path, m->value);
            cv_buf_truncate(path, mark);
        }
        break;
    }
}

/* ---- fields and objects -------------------------------------------------------------- */

/* Nomad's fieldDiff: nothing when equal unless contextual. */
static void field_add(struct jdiff_node *n, const char *name, const char *o, const char *w,
                      bool contextual)
{
    enum jdiff_type t;
    if (strcmp(o, w) == 0) {
        if (!contextual) {
            return;
        }
        t = JDIFF_NONE;
    } else if (!*o) {
        t = JDIFF_ADDED;
    } else if (!*w) {
        t = JDIFF_DELETED;
    } else {
        t = JDIFF_EDITED;
    }
    struct jdiff_field *fd = JDIFF_PUSH(n->fields);
    fd->type = t;
    fd->name = cv_strdup(name);
    fd->old = cv_strdup(o);
    fd->new_value = cv_strdup(w);
}

static int field_cmp(const void *a, const void *b)
{
    const struct jdiff_field *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c == 0) {
        c = strcmp(x->old, y->old);
    }
    return c ? c : strcmp(x->new_value, y->new_value);
}

static int node_cmp(const void *a, const void *b)
{
    const struct jdiff_node *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) {
        return c;
    }
    if (x->type != y->type) {
        return type_rank(x->type) - type_rank(y->type);
    }
    if (x->fields.len != y->fields.len) {
        return x->fields.len < y->fields.len ? -1 : 1;
    }
    if (x->objects.len != y->objects.len) {
        return x->objects.len < y->objects.len ? -1 : 1;
    }
    for (size_t i = 0; i < x->fields.len; i++) {
        if ((c = field_cmp(&x->fields.items[i], &y->fields.items[i])) != 0) {
            return c;
        }
    }
    for (size_t i = 0; i < x->objects.len; i++) {
        if ((c = node_cmp(&x->objects.items[i], &y->objects.items[i])) != 0) {
            return c;
        }
    }
    return 0;
}

void jdiff_sort_objects(struct jdiff_node *n, size_t from)
{
    if (n->objects.len - from > 1) {
        qsort(n->objects.items + from, n->objects.len - from, sizeof *n->objects.items, node_cmp);
    }
}

/* Nomad's fieldDiffs over two flat maps (sorted by key, so the merge gives
 * the fields sorted). */
void jdiff_fields(struct jdiff_node *n, const struct cv_strmap *o, const struct cv_strmap *w,
                  bool contextual)
{
    size_t i = 0, j = 0;
    while (i < o->len || j < w->len) {
        int c = i == o->len ? 1 : j == w->len ? -1 : strcmp(o->items[i].key, w->items[j].key);
        if (c < 0) {
            field_add(n, o->items[i].key, o->items[i].value, "", contextual);
            i++;
        } else if (c > 0) {
            field_add(n, w->items[j].key, "", w->items[j].value, contextual);
            j++;
        } else {
            field_add(n, o->items[i].key, o->items[i].value, w->items[j].value, contextual);
            i++;
            j++;
        }
    }
}

/* primitiveObjectDiff's rule: the type its changed fields give. */
static enum jdiff_type type_of_fields(const struct jdiff_node *n)
{
    bool added = false, deleted = false;
    for (size_t i = 0; i < n->fields.len; i++) {
        switch (n->fields.items[i].type) {
        case JDIFF_EDITED:
            return JDIFF_EDITED;
        case JDIFF_ADDED:
            added = true;
            break;
        case JDIFF_DELETED:
            deleted = true;
            break;
        case JDIFF_NONE:
            break;
        }
    }
    return added && deleted ? JDIFF_EDITED
           : added          ? JDIFF_ADDED
           : deleted        ? JDIFF_DELETED
                            : JDIFF_NONE;
}

/* Nomad's primitiveObjectDiff: an object named `name` under parent when a
 * field changed. Returns it (valid until parent's next object), or NULL. */
struct jdiff_node *jdiff_object(struct jdiff_node *parent, const char *name,
                                const struct cv_strmap *o, const struct cv_strmap *w,
                                bool contextual)
{
    struct jdiff_node n = {0};
    jdiff_fields(&n, o, w, contextual);
    n.type = type_of_fields(&n);
    if (n.type == JDIFF_NONE) {
        jdiff_node_release(&n);
        return NULL;
    }
    n.name = cv_strdup(name);
    struct jdiff_node *slot = JDIFF_PUSH(parent->objects);
    *slot = n;
    return slot;
}

/* A struct whose primitive fields `flatten` writes; NULL when absent. */
typedef void (*jdiff_flatten_fn)(struct cv_strmap *f, const void *obj);

void jdiff_struct(struct jdiff_node *parent, const char *name, jdiff_flatten_fn flatten,
                  const void *o, const void *w, bool contextual)
{
    struct cv_strmap fo = {0}, fw = {0};
    if (o) {
        flatten(&fo, o);
    }
    if (w) {
        flatten(&fw, w);
    }
    jdiff_object(parent, name, &fo, &fw, contextual);
    jdiff_flat_free(&fo);
    jdiff_flat_free(&fw);
}

bool jdiff_flat_equal(const struct cv_strmap *a, const struct cv_strmap *b)
{
    if (a->len != b->len) {
        return false;
    }
    for (size_t i = 0; i < a->len; i++) {
        if (strcmp(a->items[i].key, b->items[i].key) != 0 ||
            strcmp(a->items[i].value, b->items[i].value) != 0) {
            return false;
        }
    }
    return true;
}

static bool flat_in(const struct cv_strmap *f, const struct cv_strmap *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (jdiff_flat_equal(f, &set[i])) {
            return true;
        }
    }
    return false;
}

/* Nomad's primitiveObjectSetDiff: elements of items_o[0..no) (each `size`
 * bytes) not in the new list are Deleted objects, new ones not in the old
 * list Added; equal elements give nothing, a changed one both. */
void jdiff_set(struct jdiff_node *parent, const char *name, jdiff_flatten_fn flatten,
               const void *items_o, size_t no, const void *items_w, size_t nw, size_t size,
               bool contextual)
{
    struct cv_strmap *fo = cv_calloc(no + 1, sizeof *fo);
    struct cv_strmap *fw = cv_calloc(nw + 1, sizeof *fw);
    struct cv_strmap empty = {0};
    for (size_t i = 0; i < no; i++) {
        flatten(&fo[i], (const char *)items_o + i * size);
    }
    for (size_t i = 0; i < nw; i++) {
        flatten(&fw[i], (const char *)items_w + i * size);
    }
    size_t from = parent->objects.len;
    for (size_t i = 0; i < no; i++) {
        if (!flat_in(&fo[i], fw, nw) && !flat_in(&fo[i], fo, i)) {
            jdiff_object(parent, name, &fo[i], &empty, contextual);
        }
    }
    for (size_t i = 0; i < nw; i++) {
        if (!flat_in(&fw[i], fo, no) && !flat_in(&fw[i], fw, i)) {
            jdiff_object(parent, name, &empty, &fw[i], contextual);
        }
    }
    jdiff_sort_objects(parent, from);
    for (size_t i = 0; i < no; i++) {
        jdiff_flat_free(&fo[i]);
    }
    for (size_t i = 0; i < nw; i++) {
        jdiff_flat_free(&fw[i]);
    }
    cv_free(fo);
    cv_free(fw);
}

/* Nomad's stringSetDiff (Datacenters): one field per element, all named
 * `name`; at the job level only a changed set is shown. */
void jdiff_string_set(struct jdiff_node *parent, const char *name, const struct cv_strings *o,
                      const struct cv_strings *w, bool contextual)
{
    struct cv_strmap so = {0}, sw = {0};
    for (size_t i = 0; o && i < o->len; i++) {
        cv_strmap_set(&so, o->items[i], "");
    }
    for (size_t i = 0; w && i < w->len; i++) {
        cv_strmap_set(&sw, w->items[i], "");
    }
    struct jdiff_node n = {0};
    bool added = false, removed = false;
    for (size_t i = 0; i < so.len; i++) {
        bool kept = cv_strmap_get(&sw, so.items[i].key) != NULL;
        removed |= !kept;
        field_add(&n, name, so.items[i].key, kept ? so.items[i].key : "", contextual);
    }
    for (size_t i = 0; i < sw.len; i++) {
        if (!cv_strmap_get(&so, sw.items[i].key)) {
            added = true;
            field_add(&n, name, "", sw.items[i].key, contextual);
        }
    }
    jdiff_flat_free(&so);
    jdiff_flat_free(&sw);
    n.type = added && removed ? JDIFF_EDITED
             : added          ? JDIFF_ADDED
             : removed        ? JDIFF_DELETED
                              : JDIFF_NONE;
    if (n.type == JDIFF_NONE) {
        jdiff_node_release(&n);
        return;
    }
    qsort(n.fields.items, n.fields.len, sizeof *n.fields.items, field_cmp);
    n.name = cv_strdup(name);
    *JDIFF_PUSH(parent->objects) = n;
}

/* ---- writing ------------------------------------------------------------------------- */

static void write_annotation(struct cv_jgen *g, const char *a)
{
    cv_jgen_key(g, "Annotations");
    if (a) {
        cv_jgen_array_begin(g);
        cv_jgen_string(g, a);
        cv_jgen_array_end(g);
    } else {
        cv_jgen_null(g);
    }
}

static void write_node(struct cv_jgen *g, const struct jdiff_node *n, int level);

/* Go encodes an empty slice as null. */
static void write_nodes(struct cv_jgen *g, const char *key, const struct jdiff_node *items,
                        size_t len, int level)
{
    cv_jgen_key(g, key);
    if (len == 0) {
        cv_jgen_null(g);
        return;
    }
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < len; i++) {
        write_node(g, &items[i], level);
    }
    cv_jgen_array_end(g);
}

/* Nomad's update types, as the JSON map's sorted keys. */
static void write_updates(struct cv_jgen *g, const struct jdiff_node *n)
{
    cv_jgen_key(g, "Updates");
    if (!n->annotated || !n->updates) {
        cv_jgen_null(g);
        return;
    }
    const struct sch_desired_updates *u = n->updates;
    const struct
    {
        const char *key;
        int64_t v;
    } kv[] = {
        {"create", u->place},  {"create/destroy update", u->destructive}, {"destroy", u->stop},
        {"ignore", u->ignore}, {"in-place update", u->inplace},           {"migrate", u->migrate},
    };
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (kv[i].v != 0) {
            cv_jgen_key(g, kv[i].key);
            cv_jgen_int(g, kv[i].v);
        }
    }
    cv_jgen_object_end(g);
}

/* level: 0 the job, 1 a group, 2 a task, 3 an object. */
static void write_node(struct cv_jgen *g, const struct jdiff_node *n, int level)
{
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Type");
    cv_jgen_string(g, type_names[n->type]);
    cv_jgen_key(g, level == 0 ? "ID" : "Name");
    cv_jgen_string(g, n->name);
    cv_jgen_key(g, "Fields");
    if (n->fields.len == 0) {
        cv_jgen_null(g);
    } else {
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < n->fields.len; i++) {
            const struct jdiff_field *f = &n->fields.items[i];
            cv_jgen_object_begin(g);
            cv_jgen_key(g, "Type");
            cv_jgen_string(g, type_names[f->type]);
            cv_jgen_key(g, "Name");
            cv_jgen_string(g, f->name);
            cv_jgen_key(g, "Old");
            cv_jgen_string(g, f->old);
            cv_jgen_key(g, "New");
            cv_jgen_string(g, f->new_value);
            write_annotation(g, f->annotation);
            cv_jgen_object_end(g);
        }
        cv_jgen_array_end(g);
    }
    write_nodes(g, "Objects", n->objects.items, n->objects.len, 3);
    if (level == 0) {
        write_nodes(g, "TaskGroups", n->kids.items, n->kids.len, 1);
    } else if (level == 1) {
        write_nodes(g, "Tasks", n->kids.items, n->kids.len, 2);
        write_updates(g, n);
    } else if (level == 2) {
        write_annotation(g, n->annotation);
    }
    cv_jgen_object_end(g);
}

void jdiff_write(struct cv_jgen *g, const struct jdiff_node *root)
{
    write_node(g, root, 0);
}
