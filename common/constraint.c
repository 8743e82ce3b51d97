/*
 * constraint: operators, target syntax and the rules of Nomad's
 * Constraint.Validate, Affinity.Validate and Spread.Validate, with messages
 * that name the field.
 *
 * Regular expressions are checked with POSIX extended syntax (regcomp), the
 * dialect the scheduler evaluates them in.
 */
#include "common/constraint.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static const struct
{
    const char *text;
    enum cv_operand op;
} operands[] = {
    {"=", CV_OP_EQ},
    {"==", CV_OP_EQ},
    {"is", CV_OP_EQ},
    {"!=", CV_OP_NE},
    {"not", CV_OP_NE},
    {"<", CV_OP_LT},
    {"<=", CV_OP_LE},
    {">", CV_OP_GT},
    {">=", CV_OP_GE},
    {"regexp", CV_OP_REGEXP},
    {"set_contains", CV_OP_SET_CONTAINS},
    {"set_contains_all", CV_OP_SET_CONTAINS_ALL},
    {"set_contains_any", CV_OP_SET_CONTAINS_ANY},
    {"version", CV_OP_VERSION},
    {"semver", CV_OP_SEMVER},
    {"is_set", CV_OP_IS_SET},
    {"is_not_set", CV_OP_IS_NOT_SET},
    {"distinct_hosts", CV_OP_DISTINCT_HOSTS},
    {"distinct_property", CV_OP_DISTINCT_PROPERTY},
};

int cv_operand_parse(const char *text, enum cv_operand *out)
{
    for (size_t i = 0; i < sizeof operands / sizeof operands[0]; i++) {
        if (strcmp(text, operands[i].text) == 0) {
            *out = operands[i].op;
            return 0;
        }
    }
    return CV_EINVAL;
}

/* version := v? digits ( . digits )* ( - ident )? ( + ident )? */
static bool version_valid(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == 'v') {
        i++;
    }
    bool segment = false;
    for (;;) {
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == start) {
            return false;
        }
        segment = true;
        if (i < len && s[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    for (int part = 0; part < 2 && i < len; part++) {
        char mark = part == 0 ? '-' : '+';
        if (s[i] != mark) {
            continue;
        }
        i++;
        size_t start = i;
        while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.')) {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    return segment && i == len;
}

bool cv_version_constraint_valid(const char *text)
{
    static const char *const ops[] = {">=", "<=", "!=", "~>", "=", ">", "<"};
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            size_t n = strlen(ops[i]);
            if (len >= n && strncmp(p, ops[i], n) == 0) {
                p += n;
                len -= n;
                break;
            }
        }
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        if (!version_valid(p, len)) {
            return false;
        }
        if (!end) {
            return true;
        }
        p = end + 1;
    }
}

static void add(struct cv_errlist *errs, const char *path, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds an error at path.field (or path when field is NULL). */
static void add(struct cv_errlist *errs, const char *path, const char *field, const char *fmt, ...)
{
    char full[CV_ERR_PATH_MAX];
    cv_path_join(full, path, field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(errs, full, fmt, ap);
    va_end(ap);
}

static void check_regexp(const char *pattern, const char *path, struct cv_errlist *errs)
{
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &re, why, sizeof why);
        add(errs, path, "RTarget", "is not a valid regular expression: %s", why);
        return;
    }
    regfree(&re);
}

/* LTarget is a literal or an interpolation of a node property. */
static void check_attribute(const char *target, const char *path, struct cv_errlist *errs)
{
    static const char *const exact[] = {"${node.unique.id}", "${node.datacenter}",
                                        "${node.unique.name}", "${node.class}", "${node.pool}"};
    static const char *const prefixes[] = {"${attr.", "${meta.", "${device."};
    if (target[0] != '$') {
        return;
    }
    size_t len = strlen(target);
    if (target[1] != '{') {
        add(errs, path, "LTarget", "\"%s\" is missing an opening brace", target);
        return;
    }
    if (target[len - 1] != '}') {
        add(errs, path, "LTarget", "\"%s\" is missing a closing brace", target);
        return;
    }
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        if (strcmp(target, exact[i]) == 0) {
            return;
        }
    }
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(target, prefixes[i], n) == 0 && len > n + 1) {
            return;
        }
    }
    add(errs, path, "LTarget", "unsupported attribute \"%s\"", target);
}

void cv_constraint_validate(const struct cv_constraint *c, bool task_level, const char *path,
                            struct cv_errlist *errs)
{
    enum cv_operand op;
    if (c->operand[0] == '\0') {
        add(errs, path, "Operand", "is required");
        return;
    }
    if (cv_operand_parse(c->operand, &op) != 0) {
        add(errs, path, "Operand", "unknown operator \"%s\"", c->operand);
        return;
    }
    bool needs_ltarget = op != CV_OP_DISTINCT_HOSTS;
    switch (op) {
    case CV_OP_DISTINCT_HOSTS:
    case CV_OP_DISTINCT_PROPERTY:
        if (task_level) {
            add(errs, path, "Operand", "%s is not allowed in a task's constraints", c->operand);
        }
        if (op == CV_OP_DISTINCT_PROPERTY && c->rtarget[0]) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(c->rtarget, &end, 10);
            if (errno || *end || !isdigit((unsigned char)c->rtarget[0]) || n < 1) {
                add(errs, path, "RTarget", "must be a count of 1 or more, got \"%s\"", c->rtarget);
            }
        }
        break;
    case CV_OP_SET_CONTAINS:
    case CV_OP_SET_CONTAINS_ALL:
    case CV_OP_SET_CONTAINS_ANY:
        if (!c->rtarget[0]) {
            add(errs, path, "RTarget", "is required by operator %s", c->operand);
        }
        break;
    case CV_OP_REGEXP:
        check_regexp(c->rtarget, path, errs);
        break;
    case CV_OP_VERSION:
    case CV_OP_SEMVER:
        if (!cv_version_constraint_valid(c->rtarget)) {
            add(errs, path, "RTarget", "\"%s\" is not a valid %s constraint", c->rtarget,
                c->operand);
        }
        break;
    case CV_OP_IS_SET:
    case CV_OP_IS_NOT_SET:
        if (c->rtarget[0]) {
            add(errs, path, "RTarget", "must be empty for operator %s", c->operand);
        }
        break;
    default:
        if (!c->rtarget[0]) {
            add(errs, path, "RTarget", "is required by operator \"%s\"", c->operand);
        }
        break;
    }
    if (needs_ltarget) {
        if (!c->ltarget[0]) {
            add(errs, path, "LTarget", "is required by operator \"%s\"", c->operand);
        } else {
            check_attribute(c->ltarget, path, errs);
        }
    }
}

void cv_affinity_validate(const struct cv_affinity *a, const char *path, struct cv_errlist *errs)
{
    enum cv_operand op;
    if (a->operand[0] == '\0') {
        add(errs, path, "Operand", "is required");
    } else if (cv_operand_parse(a->operand, &op) != 0 || op == CV_OP_DISTINCT_HOSTS ||
               op == CV_OP_DISTINCT_PROPERTY || op == CV_OP_IS_SET || op == CV_OP_IS_NOT_SET) {
        add(errs, path, "Operand", "unknown affinity operator \"%s\"", a->operand);
    } else if (op == CV_OP_REGEXP) {
        check_regexp(a->rtarget, path, errs);
    } else if (op == CV_OP_VERSION || op == CV_OP_SEMVER) {
        if (!cv_version_constraint_valid(a->rtarget)) {
            add(errs, path, "RTarget", "\"%s\" is not a valid %s constraint", a->rtarget,
                a->operand);
        }
    } else if (!a->rtarget[0]) {
        add(errs, path, "RTarget", "is required by operator \"%s\"", a->operand);
    }
    if (!a->ltarget[0]) {
        add(errs, path, "LTarget", "is required");
    }
    if (a->weight == 0) {
        add(errs, path, "Weight", "must not be zero");
    } else if (a->weight < -100 || a->weight > 100) {
        add(errs, path, "Weight", "must be between -100 and 100, got %lld", (long long)a->weight);
    }
}

void cv_spread_validate(const struct cv_spread *s, const char *path, struct cv_errlist *errs)
{
    if (!s->attribute[0]) {
        add(errs, path, "Attribute", "is required");
    }
    if (s->weight <= 0 || s->weight > 100) {
        add(errs, path, "Weight", "must be between 1 and 100, got %lld", (long long)s->weight);
    }
    int64_t sum = 0;
    for (size_t i = 0; i < s->targets.len; i++) {
        const struct cv_spread_target *t = &s->targets.items[i];
        char tpath[CV_ERR_PATH_MAX];
        cv_path_index(tpath, path, "SpreadTarget", i);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->targets.items[j].value, t->value) == 0) {
                add(errs, tpath, "Value", "\"%s\" is already a target of SpreadTarget[%zu]",
                    t->value, j);
                break;
            }
        }
        if (t->percent > 100) {
            add(errs, tpath, "Percent", "must be between 0 and 100, got %lld",
                (long long)t->percent);
        }
        sum += t->percent;
    }
    if (sum > 100) {
        add(errs, path, "SpreadTarget", "percentages add up to %lld, more than 100",
            (long long)sum);
    }
}
