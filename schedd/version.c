/*
 * version: versions and version constraints for the `version` and `semver`
 * operators (see version.h for the two dialects).
 *
 * Parsing works on (pointer, length) slices of the caller's strings, so a
 * match allocates nothing. A version keeps at most VERSION_SEGMENTS numeric
 * segments; a longer one does not parse (no real version has that many).
 */
#include "schedd/version.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VERSION_SEGMENTS 16

struct version
{
    int64_t seg[VERSION_SEGMENTS];
    size_t nseg;     /* segments written in the text */
    const char *pre; /* pre-release, without its '-'; NULL when none */
    size_t pre_len;
};

enum term_op
{
    TERM_EQ,
    TERM_NE,
    TERM_GT,
    TERM_GE,
    TERM_LT,
    TERM_LE,
    TERM_PESSIMISTIC
};

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '~' || c == '.';
}

/* Reads a run of identifier characters that must not be empty nor hold an
 * empty dot-separated part. Returns the index after it, or 0 on failure. */
static size_t ident_end(const char *s, size_t i, size_t len)
{
    size_t start = i;
    while (i < len && ident_char(s[i])) {
        if (s[i] == '.' && (i == start || s[i - 1] == '.')) {
            return 0;
        }
        i++;
    }
    if (i == start || s[i - 1] == '.') {
        return 0;
    }
    return i;
}

static bool version_parse(enum sch_version_dialect dialect, const char *s, size_t len,
                          struct version *v)
{
    memset(v, 0, sizeof *v);
    size_t i = 0;
    if (i < len && s[i] == 'v') {
        i++;
    }
    for (;;) {
        if (i >= len || !isdigit((unsigned char)s[i]) || v->nseg == VERSION_SEGMENTS) {
            return false;
        }
        int64_t n = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (n > (INT64_MAX - 9) / 10) {
                return false;
            }
            n = n * 10 + (s[i] - '0');
            i++;
        }
        v->seg[v->nseg++] = n;
        if (i + 1 < len && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    if (dialect == SCH_VERSION_SEMVER && v->nseg > 3) {
        return false;
    }
    /* go-version also takes a pre-release glued to the digits ("1.2beta"). */
    bool dash = i < len && s[i] == '-';
    bool glued = dialect == SCH_VERSION_GO && i < len && isalpha((unsigned char)s[i]);
    if (dash || glued) {
        size_t start = dash ? i + 1 : i;
        size_t end = ident_end(s, start, len);
        /* A '+' may follow; ident_end stops before it. */
        if (end == 0) {
            return false;
        }
        v->pre = s + start;
        v->pre_len = end - start;
        i = end;
    }
    if (i < len && s[i] == '+') {
        size_t end = ident_end(s, i + 1, len);
        if (end == 0) {
            return false;
        }
        i = end;
    }
    return i == len;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return len > 0;
}

/* Compares two dot-separated pre-release identifiers by Semantic
 * Versioning 2.0 rule 11: numeric parts numerically and below alphanumeric
 * ones, alphanumeric parts in ASCII order, and a shorter list of equal
 * parts first. */
static int pre_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        size_t ie = i, je = j;
        while (ie < alen && a[ie] != '.') {
            ie++;
        }
        while (je < blen && b[je] != '.') {
            je++;
        }
        bool an = all_digits(a + i, ie - i), bn = all_digits(b + j, je - j);
        int c;
        if (an && bn) {
            /* Without leading zeros the longer number is the larger. */
            while (i + 1 < ie && a[i] == '0') {
                i++;
            }
            while (j + 1 < je && b[j] == '0') {
                j++;
            }
            size_t al = ie - i, bl = je - j;
            c = al != bl ? (al < bl ? -1 : 1) : memcmp(a + i, b + j, al);
        } else if (an != bn) {
            c = an ? -1 : 1;
        } else {
            size_t al = ie - i, bl = je - j;
            c = memcmp(a + i, b + j, al < bl ? al : bl);
            if (c == 0 && al != bl) {
                c = al < bl ? -1 : 1;
            }
        }
        if (c != 0) {
            return c < 0 ? -1 : 1;
        }
        i = ie < alen ? ie + 1 : ie;
        j = je < blen ? je + 1 : je;
    }
    if (i < alen) {
        return 1;
    }
    if (j < blen) {
        return -1;
    }
    return 0;
}

static int64_t seg_at(const struct version *v, size_t i)
{
    return i < v->nseg ? v->seg[i] : 0;
}

static bool same_segments(const struct version *a, const struct version *b)
{
    size_t n = a->nseg > b->nseg ? a->nseg : b->nseg;
    for (size_t i = 0; i < n; i++) {
        if (seg_at(a, i) != seg_at(b, i)) {
            return false;
        }
    }
    return true;
}

static int version_compare(const struct version *a, const struct version *b)
{
    size_t n = a->nseg > b->nseg ? a->nseg : b->nseg;
    for (size_t i = 0; i < n; i++) {
        int64_t x = seg_at(a, i), y = seg_at(b, i);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    if (!a->pre || !b->pre) {
        /* A release ranks above its pre-releases. */
        return a->pre ? -1 : b->pre ? 1 : 0;
    }
    return pre_compare(a->pre, a->pre_len, b->pre, b->pre_len);
}

/* go-version's rule for ordering terms: a pre-release version is only
 * compared with a pre-release term of the very same segments. */
static bool go_prerelease_ok(const struct version *v, const struct version *c)
{
    if (v->pre && c->pre) {
        return same_segments(v, c);
    }
    return !v->pre;
}

static bool term_holds(enum sch_version_dialect dialect, enum term_op op, const struct version *v,
                       const struct version *c)
{
    int cmp = version_compare(v, c);
    if (op == TERM_EQ) {
        return cmp == 0;
    }
    if (op == TERM_NE) {
        return cmp != 0;
    }
    if (dialect == SCH_VERSION_GO && !go_prerelease_ok(v, c)) {
        return false;
    }
    switch (op) {
    case TERM_GT:
        return cmp > 0;
    case TERM_GE:
        return cmp >= 0;
    case TERM_LT:
        return cmp < 0;
    case TERM_LE:
        return cmp <= 0;
    case TERM_PESSIMISTIC:
        /* "~> 1.2.3" is >= 1.2.3 and < 1.3; "~> 1.2" is >= 1.2 and < 2. */
        if (cmp < 0 || (c->pre && !v->pre)) {
            return false;
        }
        for (size_t i = 0; i + 1 < c->nseg; i++) {
            if (seg_at(v, i) != c->seg[i]) {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

bool sch_version_match(enum sch_version_dialect dialect, const char *version,
                       const char *constraint)
{
    static const struct
    {
        const char *text;
        enum term_op op;
    } ops[] = {{">=", TERM_GE}, {"<=", TERM_LE}, {"!=", TERM_NE}, {"~>", TERM_PESSIMISTIC},
               {"=", TERM_EQ},  {">", TERM_GT},  {"<", TERM_LT}};
    struct version v;
    if (!version_parse(dialect, version, strlen(version), &v)) {
        return false;
    }
    const char *p = constraint;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        enum term_op op = TERM_EQ;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            size_t n = strlen(ops[i].text);
            if (len >= n && strncmp(p, ops[i].text, n) == 0) {
                op = ops[i].op;
                p += n;
                len -= n;
                break;
            }
        }
        if (op == TERM_PESSIMISTIC && dialect == SCH_VERSION_SEMVER) {
            return false;
        }
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        struct version c;
        if (!version_parse(dialect, p, len, &c) || !term_holds(dialect, op, &v, &c)) {
            return false;
        }
        if (!comma) {
            return true;
        }
        p = comma + 1;
    }
}
