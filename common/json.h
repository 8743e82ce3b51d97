/*
 * json: parse untrusted JSON into a read-only tree, with limits.
 *
 * The tokenizer is yajl's (it validates UTF-8 and the grammar); this module
 * builds a tree in an arena and enforces what yajl does not: a size limit,
 * a depth limit, a string-length limit, a node-count limit, no duplicate
 * keys in an object, nothing after the top-level value. Every rejection is
 * a CV_EPARSE (or CV_ETOOBIG) error whose message says what was wrong and
 * where: "duplicate key \"Name\" at TaskGroups[0]" or
 * "invalid JSON at line 3, column 14: lexical error: invalid char in json text".
 *
 * Numbers are kept as the text of the input, so that integers of any size
 * and floats are converted by the consumer with range checks of its own
 * (cv_json_int64, cv_json_uint64, cv_json_double).
 *
 * The tree is immutable and owned by its `struct cv_json_doc`.
 */
#ifndef CV_JSON_H
#define CV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum cv_json_type
{
    CV_JSON_NULL,
    CV_JSON_BOOL,
    CV_JSON_NUMBER,
    CV_JSON_STRING,
    CV_JSON_ARRAY,
    CV_JSON_OBJECT,
};

struct cv_json;

struct cv_json_member
{
    const char *key; /* NUL-terminated; may hold an escaped NUL before key_len */
    size_t key_len;
    const struct cv_json *value;
};

struct cv_json
{
    enum cv_json_type type;
    union
    {
        bool boolean;
        struct
        {
            const char *text; /* the number as written, NUL-terminated */
            size_t len;
        } number;
        struct
        {
            const char *ptr; /* NUL-terminated; may hold an escaped NUL before len */
            size_t len;
        } string;
        struct
        {
            const struct cv_json **items;
            size_t len;
        } array;
        struct
        {
            const struct cv_json_member *members; /* in input order */
            size_t len;
        } object;
    } u;
};

struct cv_json_limits
{
    size_t max_bytes;   /* input size */
    unsigned max_depth; /* nesting of arrays and objects */
    size_t max_string;  /* bytes of one string or key, after unescaping */
    size_t max_nodes;   /* values in the whole document */
};

/* Limits fit for job files and API bodies: 4 MiB, depth 64, 1 MiB strings,
 * one million values. */
extern const struct cv_json_limits cv_json_default_limits;

struct cv_json_doc;

/* Parses `len` bytes of `text` (need not be NUL-terminated; borrowed).
 * limits may be NULL for the defaults. On success returns 0 and *out owns
 * the tree; on failure returns CV_EPARSE or CV_ETOOBIG with err filled. */
int cv_json_parse(const char *text, size_t len, const struct cv_json_limits *limits,
                  struct cv_json_doc **out, struct cv_err *err);
const struct cv_json *cv_json_doc_root(const struct cv_json_doc *doc);
void cv_json_doc_free(struct cv_json_doc *doc);

/* Returns the member named `key`, or NULL. */
const struct cv_json *cv_json_object_get(const struct cv_json *obj, const char *key);

/* Number conversions. Each returns 0, or CV_EINVAL when the text is not of
 * the asked kind ("1.5" for an integer), or CV_ETOOBIG when it is out of range. */
int cv_json_int64(const struct cv_json *num, int64_t *out);
int cv_json_uint64(const struct cv_json *num, uint64_t *out);
int cv_json_double(const struct cv_json *num, double *out);

/* True when `len` bytes of text are strict UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
bool cv_utf8_valid(const char *text, size_t len);

/* "null", "boolean", "number", "string", "array", "object". */
const char *cv_json_type_name(enum cv_json_type type);

/* Returns a deep copy of `v` in a document of its own. */
struct cv_json_doc *cv_json_clone(const struct cv_json *v);
/* Structural equality; object members compare by key, in any order. */
bool cv_json_equal(const struct cv_json *a, const struct cv_json *b);

#endif
