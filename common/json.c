/*
 * json: a yajl event parser that builds a tree in an arena.
 *
 * Containers under construction live on a stack of frames; a frame gathers
 * its children in a heap vector and, when the container closes, the children
 * are copied into the arena at their exact size. Duplicate keys are found
 * when an object closes, by sorting a scratch array of its keys, so hostile
 * objects with many members cost O(n log n), not O(n^2).
 */
#include "common/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/mem.h"

const struct cv_json_limits cv_json_default_limits = {
    .max_bytes = 4u << 20,
    .max_depth = 64,
    .max_string = 1u << 20,
    .max_nodes = 1000000,
};

struct cv_json_doc
{
    struct cv_arena arena;
    const struct cv_json *root;
};

struct frame
{
    struct cv_json *node;
    /* children gathered so far; one of the two is used */
    const struct cv_json **items;
    struct cv_json_member *members;
    size_t len;
    size_t cap;
    /* key of the member whose value comes next (objects only) */
    const char *pending_key;
    size_t pending_key_len;
};

struct parser
{
    struct cv_json_doc *doc;
    const struct cv_json_limits *limits;
    struct frame *stack;
    unsigned depth;
    size_t nodes;
    struct cv_err *err;
    int failed; /* our own rejection (a CV_E* code), as opposed to yajl's */
};

/* Writes the path of the value being parsed ("TaskGroups[0].Name") into b. */
static void current_path(const struct parser *p, struct cv_buf *b)
{
    for (unsigned i = 0; i < p->depth; i++) {
        const struct frame *f = &p->stack[i];
        if (f->node->type == CV_JSON_ARRAY) {
            cv_buf_appendf(b, "[%zu]", f->len);
        } else if (f->pending_key) {
            if (b->len) {
                cv_buf_append_char(b, '.');
            }
            cv_buf_append(b, f->pending_key, strnlen(f->pending_key, f->pending_key_len));
        }
    }
}

static int reject(struct parser *p, int code, const char *what)
{
    struct cv_buf path = CV_BUF_INIT;
    current_path(p, &path);
    if (path.len) {
        cv_err_setf(p->err, code, "%s at %s", what, cv_buf_str(&path));
    } else {
        cv_err_setf(p->err, code, "%s", what);
    }
    cv_buf_free(&path);
    p->failed = code;
    return 0; /* tells yajl to stop */
}

static struct cv_json *new_node(struct parser *p, enum cv_json_type type)
{
    if (++p->nodes > p->limits->max_nodes) {
        return NULL;
    }
    struct cv_json *n = cv_arena_alloc(&p->doc->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->type = type;
    return n;
}

/* Attaches a finished value to the enclosing container, or makes it the root. */
static void attach(struct parser *p, const struct cv_json *v)
{
    if (p->depth == 0) {
        p->doc->root = v;
        return;
    }
    struct frame *f = &p->stack[p->depth - 1];
    if (f->len == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        if (f->node->type == CV_JSON_ARRAY) {
            f->items = cv_reallocarray(f->items, f->cap, sizeof *f->items);
        } else {
            f->members = cv_reallocarray(f->members, f->cap, sizeof *f->members);
        }
    }
    if (f->node->type == CV_JSON_ARRAY) {
        f->items[f->len++] = v;
    } else {
        f->members[f->len].key = f->pending_key;
        f->members[f->len].key_len = f->pending_key_len;
        f->members[f->len].value = v;
        f->len++;
        f->pending_key = NULL;
    }
}

static int add_scalar(struct parser *p, struct cv_json *n)
{
    if (!n) {
        char what[80];
        snprintf(what, sizeof what, "more than %zu values in the document", p->limits->max_nodes);
        return reject(p, CV_ETOOBIG, what);
    }
    attach(p, n);
    return 1;
}

static int on_null(void *ctx)
{
    struct parser *p = ctx;
    return add_scalar(p, new_node(p, CV_JSON_NULL));
}

static int on_boolean(void *ctx, int value)
{
    struct parser *p = ctx;
    struct cv_json *n = new_node(p, CV_JSON_BOOL);
    if (n) {
        n->u.boolean = value != 0;
    }
    return add_scalar(p, n);
}

static int on_number(void *ctx, const char *text, size_t len)
{
    struct parser *p = ctx;
    if (len > 64) {
        return reject(p, CV_EPARSE, "number literal too long");
    }
    struct cv_json *n = new_node(p, CV_JSON_NUMBER);
    if (n) {
        n->u.number.text = cv_arena_strndup(&p->doc->arena, text, len);
        n->u.number.len = len;
    }
    return add_scalar(p, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct parser *p = ctx;
    if (!cv_utf8_valid((const char *)s, len)) {
        return reject(p, CV_EPARSE, "string is not valid UTF-8");
    }
    if (len > p->limits->max_string) {
        char what[80];
        snprintf(what, sizeof what, "string longer than %zu bytes", p->limits->max_string);
        return reject(p, CV_ETOOBIG, what);
    }
    struct cv_json *n = new_node(p, CV_JSON_STRING);
    if (n) {
        n->u.string.ptr = cv_arena_strndup(&p->doc->arena, (const char *)s, len);
        n->u.string.len = len;
    }
    return add_scalar(p, n);
}

static int open_container(struct parser *p, enum cv_json_type type)
{
    if (p->depth >= p->limits->max_depth) {
        char what[64];
        snprintf(what, sizeof what, "nesting deeper than %u levels", p->limits->max_depth);
        p->depth = 0; /* report without a path: it would be as deep as the input */
        int rc = reject(p, CV_EPARSE, what);
        p->depth = p->limits->max_depth;
        return rc;
    }
    struct cv_json *n = new_node(p, type);
    if (!n) {
        char what[80];
        snprintf(what, sizeof what, "more than %zu values in the document", p->limits->max_nodes);
        return reject(p, CV_ETOOBIG, what);
    }
    struct frame *f = &p->stack[p->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, CV_JSON_OBJECT);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, CV_JSON_ARRAY);
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct parser *p = ctx;
    if (!cv_utf8_valid((const char *)key, len)) {
        return reject(p, CV_EPARSE, "object key is not valid UTF-8");
    }
    if (len > p->limits->max_string) {
        char what[80];
        snprintf(what, sizeof what, "object key longer than %zu bytes", p->limits->max_string);
        return reject(p, CV_ETOOBIG, what);
    }
    struct frame *f = &p->stack[p->depth - 1];
    f->pending_key = cv_arena_strndup(&p->doc->arena, (const char *)key, len);
    f->pending_key_len = len;
    return 1;
}

static int compare_members(const void *a, const void *b)
{
    const struct cv_json_member *ma = *(const struct cv_json_member *const *)a;
    const struct cv_json_member *mb = *(const struct cv_json_member *const *)b;
    size_t n = ma->key_len < mb->key_len ? ma->key_len : mb->key_len;
    int c = memcmp(ma->key, mb->key, n);
    if (c) {
        return c;
    }
    return (ma->key_len > mb->key_len) - (ma->key_len < mb->key_len);
}

/* Returns the first duplicated member of f, or NULL. */
static const struct cv_json_member *find_duplicate(const struct frame *f)
{
    if (f->len < 2) {
        return NULL;
    }
    const struct cv_json_member **sorted = cv_reallocarray(NULL, f->len, sizeof *sorted);
    for (size_t i = 0; i < f->len; i++) {
        sorted[i] = &f->members[i];
    }
    qsort(sorted, f->len, sizeof *sorted, compare_members);
    const struct cv_json_member *dup = NULL;
    for (size_t i = 1; i < f->len && !dup; i++) {
        if (compare_members(&sorted[i - 1], &sorted[i]) == 0) {
            dup = sorted[i];
        }
    }
    cv_free(sorted);
    return dup;
}

static void free_frame(struct frame *f)
{
    cv_free(f->items);
    cv_free(f->members);
    f->items = NULL;
    f->members = NULL;
}

static int close_container(void *ctx)
{
    struct parser *p = ctx;
    struct frame *f = &p->stack[p->depth - 1];
    struct cv_json *n = f->node;
    if (n->type == CV_JSON_OBJECT) {
        const struct cv_json_member *dup = find_duplicate(f);
        if (dup) {
            char what[160];
            snprintf(what, sizeof what, "duplicate key \"%.100s\"", dup->key);
            f->pending_key = NULL;
            return reject(p, CV_EPARSE, what);
        }
        struct cv_json_member *members = cv_arena_alloc(&p->doc->arena, f->len * sizeof *members);
        if (f->len) {
            memcpy(members, f->members, f->len * sizeof *members);
        }
        n->u.object.members = members;
        n->u.object.len = f->len;
    } else {
        const struct cv_json **items = cv_arena_alloc(&p->doc->arena, f->len * sizeof *items);
        if (f->len) {
            memcpy(items, f->items, f->len * sizeof *items);
        }
        n->u.array.items = items;
        n->u.array.len = f->len;
    }
    free_frame(f);
    p->depth--;
    attach(p, n);
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = close_container,
    .yajl_start_array = on_start_array,
    .yajl_end_array = close_container,
};

/* yajl allocates through our family too, so leak counting covers it. */
static void *yajl_cv_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return cv_malloc(size);
}

static void *yajl_cv_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return cv_realloc(ptr, size);
}

static void yajl_cv_free(void *ctx, void *ptr)
{
    (void)ctx;
    cv_free(ptr);
}

static yajl_alloc_funcs yajl_allocator = {yajl_cv_malloc, yajl_cv_realloc, yajl_cv_free, NULL};

static void location(const char *text, size_t offset, unsigned *line, unsigned *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

/* Turns yajl's message ("lexical error: invalid char in json text.\n...")
 * into one line with a line and column. */
static void yajl_failure(yajl_handle h, const char *text, size_t len, bool at_end,
                         struct cv_err *err)
{
    /* Mid-input, yajl has consumed the offending byte; report that byte. */
    size_t offset = at_end ? len : yajl_get_bytes_consumed(h);
    if (!at_end && offset > 0) {
        offset--;
    }
    if (offset > len) {
        offset = len;
    }
    unsigned line, column;
    location(text, offset, &line, &column);
    unsigned char *raw = yajl_get_error(h, 0, (const unsigned char *)text, len);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", raw ? (const char *)raw : "parse error");
    if (raw) {
        yajl_free_error(h, raw);
    }
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ' || msg[n - 1] == '.')) {
        msg[--n] = '\0';
    }
    cv_err_setf(err, CV_EPARSE, "invalid JSON at line %u, column %u: %s", line, column, msg);
}

static int hex4(const char *p, const char *end)
{
    if (end - p < 4) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* yajl decodes an unpaired UTF-16 surrogate escape ("\ud800") into '?' or
 * into ill-formed bytes, and pairs a high surrogate with any escape that
 * follows it. Returns the offset of the first unpaired surrogate escape, or
 * -1. Malformed escapes are left to yajl to report. */
static long find_unpaired_surrogate(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    bool in_string = false;
    while (p < end) {
        char c = *p;
        if (!in_string) {
            in_string = c == '"';
            p++;
            continue;
        }
        if (c == '"') {
            in_string = false;
            p++;
            continue;
        }
        if (c != '\\' || p + 1 >= end) {
            p++;
            continue;
        }
        if (p[1] != 'u') {
            p += 2;
            continue;
        }
        int unit = hex4(p + 2, end);
        if (unit >= 0xDC00 && unit <= 0xDFFF) {
            return p - text;
        }
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            int low = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8, end) : -1;
            if (low < 0xDC00 || low > 0xDFFF) {
                return p - text;
            }
            p += 12;
            continue;
        }
        p += 2;
    }
    return -1;
}

static bool only_whitespace(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            return false;
        }
    }
    return true;
}

int cv_json_parse(const char *text, size_t len, const struct cv_json_limits *limits,
                  struct cv_json_doc **out, struct cv_err *err)
{
    if (!limits) {
        limits = &cv_json_default_limits;
    }
    *out = NULL;
    if (len > limits->max_bytes) {
        return cv_err_setf(err, CV_ETOOBIG,
                           "JSON input of %zu bytes is larger than the limit of %zu", len,
                           limits->max_bytes);
    }
    if (only_whitespace(text, len)) {
        return cv_err_setf(err, CV_EPARSE, "empty input: expected a JSON value");
    }
    {
        long at = find_unpaired_surrogate(text, len);
        if (at >= 0) {
            unsigned line, column;
            location(text, (size_t)at, &line, &column);
            return cv_err_setf(err, CV_EPARSE,
                               "invalid JSON at line %u, column %u: unpaired UTF-16 surrogate "
                               "in a \\u escape",
                               line, column);
        }
    }

    struct cv_json_doc *doc = cv_malloc(sizeof *doc);
    cv_arena_init(&doc->arena);
    doc->root = NULL;
    struct parser p = {
        .doc = doc,
        .limits = limits,
        .stack = cv_calloc(limits->max_depth + 1, sizeof(struct frame)),
        .err = err,
    };

    int rc = 0;
    yajl_handle h = yajl_alloc(&callbacks, &yajl_allocator, &p);
    yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
    bool at_end = false; /* yajl counts only the bytes of its last call */
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        at_end = true;
    }
    if (st != yajl_status_ok) {
        if (p.failed) {
            rc = p.failed;
        } else {
            yajl_failure(h, text, len, at_end, err);
            rc = CV_EPARSE;
        }
    } else if (!doc->root) {
        rc = cv_err_setf(err, CV_EPARSE, "invalid JSON: truncated input");
    }
    yajl_free(h);

    for (unsigned i = 0; i < p.depth; i++) {
        free_frame(&p.stack[i]);
    }
    cv_free(p.stack);
    if (rc) {
        cv_json_doc_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. yajl checks only the byte structure. */
bool cv_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) {
                lo = 0xA0; /* overlong below U+0800 */
            } else if (c == 0xED) {
                hi = 0x9F; /* surrogates U+D800..U+DFFF */
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) {
                lo = 0x90; /* overlong below U+10000 */
            } else if (c == 0xF4) {
                hi = 0x8F; /* past U+10FFFF */
            }
        } else {
            return false;
        }
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return false;
            }
        }
        i += n + 1;
    }
    return true;
}

const struct cv_json *cv_json_doc_root(const struct cv_json_doc *doc)
{
    return doc->root;
}

void cv_json_doc_free(struct cv_json_doc *doc)
{
    if (doc) {
        cv_arena_free(&doc->arena);
        cv_free(doc);
    }
}

const struct cv_json *cv_json_object_get(const struct cv_json *obj, const char *key)
{
    if (!obj || obj->type != CV_JSON_OBJECT) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0) {
            return m->value;
        }
    }
    return NULL;
}

static bool is_integer_text(const char *t)
{
    return strpbrk(t, ".eE") == NULL;
}

int cv_json_int64(const struct cv_json *num, int64_t *out)
{
    if (num->type != CV_JSON_NUMBER || !is_integer_text(num->u.number.text)) {
        return CV_EINVAL;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(num->u.number.text, &end, 10);
    if (errno == ERANGE) {
        return CV_ETOOBIG;
    }
    if (*end != '\0') {
        return CV_EINVAL;
    }
    *out = (int64_t)v;
    return 0;
}

int cv_json_uint64(const struct cv_json *num, uint64_t *out)
{
    if (num->type != CV_JSON_NUMBER || !is_integer_text(num->u.number.text)) {
        return CV_EINVAL;
    }
    if (num->u.number.text[0] == '-') {
        /* "-0" is zero; any other negative is out of range */
        if (strspn(num->u.number.text + 1, "0") == num->u.number.len - 1) {
            *out = 0;
            return 0;
        }
        return CV_ETOOBIG;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(num->u.number.text, &end, 10);
    if (errno == ERANGE) {
        return CV_ETOOBIG;
    }
    if (*end != '\0') {
        return CV_EINVAL;
    }
    *out = (uint64_t)v;
    return 0;
}

int cv_json_double(const struct cv_json *num, double *out)
{
    if (num->type != CV_JSON_NUMBER) {
        return CV_EINVAL;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(num->u.number.text, &end);
    if (*end != '\0') {
        return CV_EINVAL;
    }
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) {
        return CV_ETOOBIG;
    }
    *out = v;
    return 0;
}

const char *cv_json_type_name(enum cv_json_type type)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

static const struct cv_json *clone_value(struct cv_arena *a, const struct cv_json *v)
{
    struct cv_json *n = cv_arena_alloc(a, sizeof *n);
    *n = *v;
    switch (v->type) {
    case CV_JSON_NULL:
    case CV_JSON_BOOL:
        break;
    case CV_JSON_NUMBER:
        n->u.number.text = cv_arena_strndup(a, v->u.number.text, v->u.number.len);
        break;
    case CV_JSON_STRING:
        n->u.string.ptr = cv_arena_strndup(a, v->u.string.ptr, v->u.string.len);
        break;
    case CV_JSON_ARRAY: {
        const struct cv_json **items = cv_arena_alloc(a, v->u.array.len * sizeof *items);
        for (size_t i = 0; i < v->u.array.len; i++) {
            items[i] = clone_value(a, v->u.array.items[i]);
        }
        n->u.array.items = items;
        break;
    }
    case CV_JSON_OBJECT: {
        struct cv_json_member *members = cv_arena_alloc(a, v->u.object.len * sizeof *members);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const struct cv_json_member *m = &v->u.object.members[i];
            members[i].key = cv_arena_strndup(a, m->key, m->key_len);
            members[i].key_len = m->key_len;
            members[i].value = clone_value(a, m->value);
        }
        n->u.object.members = members;
        break;
    }
    }
    return n;
}

struct cv_json_doc *cv_json_clone(const struct cv_json *v)
{
    struct cv_json_doc *doc = cv_malloc(sizeof *doc);
    cv_arena_init(&doc->arena);
    doc->root = clone_value(&doc->arena, v);
    return doc;
}

static const struct cv_json *member_value(const struct cv_json *obj, const char *key, size_t len)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        if (m->key_len == len && memcmp(m->key, key, len) == 0) {
            return m->value;
        }
    }
    return NULL;
}

bool cv_json_equal(const struct cv_json *a, const struct cv_json *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case CV_JSON_NULL:
        return true;
    case CV_JSON_BOOL:
        return a->u.boolean == b->u.boolean;
    case CV_JSON_NUMBER:
        return a->u.number.len == b->u.number.len &&
               memcmp(a->u.number.text, b->u.number.text, a->u.number.len) == 0;
    case CV_JSON_STRING:
        return a->u.string.len == b->u.string.len &&
               memcmp(a->u.string.ptr, b->u.string.ptr, a->u.string.len) == 0;
    case CV_JSON_ARRAY:
        if (a->u.array.len != b->u.array.len) {
            return false;
        }
        for (size_t i = 0; i < a->u.array.len; i++) {
            if (!cv_json_equal(a->u.array.items[i], b->u.array.items[i])) {
                return false;
            }
        }
        return true;
    case CV_JSON_OBJECT:
        if (a->u.object.len != b->u.object.len) {
            return false;
        }
        /* Keys are unique in a parsed object, so equal sizes plus every key
         * of a found in b with an equal value means equal objects. */
        for (size_t i = 0; i < a->u.object.len; i++) {
            const struct cv_json_member *m = &a->u.object.members[i];
            const struct cv_json *other = member_value(b, m->key, m->key_len);
            if (!other || !cv_json_equal(m->value, other)) {
                return false;
            }
        }
        return true;
    }
    return false;
}
