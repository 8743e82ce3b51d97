/*
 * job_diff_internal: what job_diff.c (the job model's side: which fields
 * and objects a job, group and task have) and job_diff_tree.c (the generic
 * side: flat maps, field and object diffs, sets, the JSON writer) share.
 *
 * A diff is a tree of struct jdiff_node: a JobDiff, TaskGroupDiff,
 * TaskDiff or ObjectDiff, each a type, a name, fields and objects. A level
 * is compared by flattening both versions into a struct cv_strmap (kept
 * sorted by key) of Nomad's field names and Go-printed values; a missing
 * field and an empty value mean the same, as in Nomad's fieldDiff.
 */
#ifndef CV_REGIOND_JOB_DIFF_INTERNAL_H
#define CV_REGIOND_JOB_DIFF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "schedd/reconcile.h"

enum jdiff_type
{
    JDIFF_NONE,
    JDIFF_ADDED,
    JDIFF_DELETED,
    JDIFF_EDITED,
};

struct jdiff_field
{
    enum jdiff_type type;
    char *name;
    char *old;
    char *new_value;
    const char *annotation; /* static; NULL: none */
};

struct jdiff_node
{
    enum jdiff_type type;
    char *name; /* the job's ID for the root */
    CV_VEC(struct jdiff_field) fields;
    CV_VEC(struct jdiff_node) objects;
    CV_VEC(struct jdiff_node) kids;            /* the job's groups, a group's tasks */
    const char *annotation;                    /* a task's; static */
    bool annotated;                            /* a group of an annotated diff */
    const struct sch_desired_updates *updates; /* a group's decisions, or NULL */
};

/* Appends a zeroed element to a CV_VEC and yields a pointer to it (valid
 * until the next push). */
#define JDIFF_PUSH(v)                                                        \
    ((v).items = cv_reallocarray((v).items, (v).len + 1, sizeof *(v).items), \
     memset(&(v).items[(v).len], 0, sizeof *(v).items), &(v).items[(v).len++])

/* Frees what n owns and zeroes it. */
void jdiff_node_release(struct jdiff_node *n);

/* ---- flat maps: value as Go's fmt prints it --------------------------------------- */

void jdiff_flat_free(struct cv_strmap *f);
void jdiff_flat_str(struct cv_strmap *f, const char *name, const char *value);
/* CV_UNSET reads as absent (""). */
void jdiff_flat_int(struct cv_strmap *f, const char *name, int64_t v);
void jdiff_flat_bool(struct cv_strmap *f, const char *name, bool v);
/* An optional bool: unset prints as false, as Nomad's plain bools. */
void jdiff_flat_optbool(struct cv_strmap *f, const char *name, int8_t v);
/* A map[string]string: "<name>[<key>]" fields. */
void jdiff_flat_map(struct cv_strmap *f, const char *name, const struct cv_strmap *m);
/* Any JSON value, all the way down (Nomad's flatmap of a task's Config):
 * "image", "args[0]", "labels[team]", numbers as Go prints a float64,
 * null as "nil". path holds the prefix ("" at the top) and is restored. */
void jdiff_flat_json(struct cv_strmap *f, struct cv_buf *path, const struct cv_json *v);
bool jdiff_flat_equal(const struct cv_strmap *a, const struct cv_strmap *b);

/* Writes an object's primitive fields. */
typedef void (*jdiff_flatten_fn)(struct cv_strmap *f, const void *obj);

/* ---- diffs ------------------------------------------------------------------------ */

/* Nomad's fieldDiffs: appends the fields of o -> w to n (in name order);
 * unchanged ones only when contextual. */
void jdiff_fields(struct jdiff_node *n, const struct cv_strmap *o, const struct cv_strmap *w,
                  bool contextual);
/* Nomad's primitiveObjectDiff: appends an object named `name` to parent
 * when a field changed, typed by its fields. Returns it (valid until
 * parent's next object), or NULL. */
struct jdiff_node *jdiff_object(struct jdiff_node *parent, const char *name,
                                const struct cv_strmap *o, const struct cv_strmap *w,
                                bool contextual);
/* The same over two structs (NULL: absent) and their flattener. */
void jdiff_struct(struct jdiff_node *parent, const char *name, jdiff_flatten_fn flatten,
                  const void *o, const void *w, bool contextual);
/* Nomad's primitiveObjectSetDiff over arrays of `size`-byte elements: an
 * element only in o is a Deleted object, one only in w an Added one. */
void jdiff_set(struct jdiff_node *parent, const char *name, jdiff_flatten_fn flatten, const void *o,
               size_t no, const void *w, size_t nw, size_t size, bool contextual);
/* Nomad's stringSetDiff, appended only when the set changed. */
void jdiff_string_set(struct jdiff_node *parent, const char *name, const struct cv_strings *o,
                      const struct cv_strings *w, bool contextual);
/* Sorts parent's objects from index `from` on as Nomad's ObjectDiffs. */
void jdiff_sort_objects(struct jdiff_node *parent, size_t from);

/* ---- writing ---------------------------------------------------------------------- */

/* Writes the root (a JobDiff) to g, with Nomad's members. */
void jdiff_write(struct cv_jgen *g, const struct jdiff_node *root);

#endif
