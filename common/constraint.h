/*
 * constraint: the operator vocabulary of Constraint and Affinity blocks and
 * their validation. The scheduler's feasibility checks reuse the operator
 * parsing so that what validation accepts is exactly what placement knows.
 */
#ifndef CV_CONSTRAINT_H
#define CV_CONSTRAINT_H

#include <stdbool.h>

#include "common/err.h"
#include "common/job.h"

enum cv_operand
{
    CV_OP_EQ,               /* "=", "==", "is" */
    CV_OP_NE,               /* "!=", "not" */
    CV_OP_LT,               /* "<" */
    CV_OP_LE,               /* "<=" */
    CV_OP_GT,               /* ">" */
    CV_OP_GE,               /* ">=" */
    CV_OP_REGEXP,           /* "regexp" */
    CV_OP_SET_CONTAINS,     /* "set_contains" (same as _all) */
    CV_OP_SET_CONTAINS_ALL, /* "set_contains_all" */
    CV_OP_SET_CONTAINS_ANY, /* "set_contains_any" */
    CV_OP_VERSION,          /* "version" */
    CV_OP_SEMVER,           /* "semver" */
    CV_OP_IS_SET,           /* "is_set" */
    CV_OP_IS_NOT_SET,       /* "is_not_set" */
    CV_OP_DISTINCT_HOSTS,   /* "distinct_hosts" */
    CV_OP_DISTINCT_PROPERTY /* "distinct_property" */
};

/* Parses an operand as Nomad spells it. Returns 0 or CV_EINVAL. */
int cv_operand_parse(const char *text, enum cv_operand *out);

/* True when `text` is a version constraint go-version accepts:
 * comma-separated terms of an optional operator (=, !=, >, <, >=, <=, ~>)
 * and a version such as 1.2, v1.2.3 or 1.2.3-beta.1+build. */
bool cv_version_constraint_valid(const char *text);

/* Each adds every problem of the block to errs, under `path`
 * ("TaskGroups[0].Constraints[1]"). Task-level constraints may not use
 * distinct_hosts or distinct_property. */
void cv_constraint_validate(const struct cv_constraint *c, bool task_level, const char *path,
                            struct cv_errlist *errs);
void cv_affinity_validate(const struct cv_affinity *a, const char *path, struct cv_errlist *errs);
void cv_spread_validate(const struct cv_spread *s, const char *path, struct cv_errlist *errs);

#endif
