/*
 * codec: the engine behind every model struct's JSON codec: init, decode
 * (with every error's path) and encode. Release, copy and equality are in
 * codec_ops.c; what both share is in codec_internal.h.
 */
#include "common/codec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/codec_internal.h"
#include "common/mem.h"

/* Decoding stops adding errors past this many, so a hostile document of a
 * million unknown fields produces a short answer. */
#define MAX_DECODE_ERRORS 100

/* ---- init ---------------------------------------------------------------- */

void cv_init(const struct cv_schema *s, void *obj)
{
    memset(obj, 0, s->size);
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct cv_field *f = &s->fields[i];
        if (f->kind == CV_F_STRING) {
            *(char **)field_at(obj, f) = cv_strdup("");
        } else if (f->kind == CV_F_STRUCT) {
            cv_init(f->schema, field_at(obj, f));
        }
    }
    if (s->init) {
        s->init(obj);
    }
}

/* ---- decode -------------------------------------------------------------- */

struct decoder
{
    struct cv_errlist *errs;
    struct cv_buf path;
    size_t errors;
};

static void fail(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct decoder *d, const char *fmt, ...)
{
    d->errors++;
    if (d->errors > MAX_DECODE_ERRORS + 1) {
        return;
    }
    if (d->errors == MAX_DECODE_ERRORS + 1) {
        cv_errlist_addf(d->errs, "", "too many errors: stopped after %d", MAX_DECODE_ERRORS);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(d->errs, cv_buf_str(&d->path), fmt, ap);
    va_end(ap);
}

/* Appends ".key" (or "key" at the top) to the path, made printable and
 * shortened so that a hostile key cannot bloat every message. */
static size_t path_push_key(struct decoder *d, const char *key, size_t len)
{
    size_t mark = d->path.len;
    if (d->path.len) {
        cv_buf_append_char(&d->path, '.');
    }
    size_t shown = len > 64 ? 64 : len;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)key[i];
        cv_buf_append_char(&d->path, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
    }
    if (shown < len) {
        cv_buf_append_str(&d->path, "...");
    }
    return mark;
}

static size_t path_push_index(struct decoder *d, size_t i)
{
    size_t mark = d->path.len;
    cv_buf_appendf(&d->path, "[%zu]", i);
    return mark;
}

static void path_pop(struct decoder *d, size_t mark)
{
    cv_buf_truncate(&d->path, mark);
}

static bool expect_type(struct decoder *d, const struct cv_json *v, enum cv_json_type want,
                        const char *what)
{
    if (v->type != want) {
        fail(d, "must be %s, got %s", what, cv_json_type_name(v->type));
        return false;
    }
    return true;
}

static char *decode_string(struct decoder *d, const struct cv_json *v)
{
    if (!expect_type(d, v, CV_JSON_STRING, "a string")) {
        return NULL;
    }
    if (strlen(v->u.string.ptr) != v->u.string.len) {
        fail(d, "must not contain a NUL character");
        return NULL;
    }
    return cv_strndup(v->u.string.ptr, v->u.string.len);
}

/* Go's zero values: what Nomad's client sends for a field it leaves unset. */
static bool is_zero_value(const struct cv_json *v)
{
    double num;
    switch (v->type) {
    case CV_JSON_NULL:
        return true;
    case CV_JSON_BOOL:
        return !v->u.boolean;
    case CV_JSON_NUMBER:
        return cv_json_double(v, &num) == 0 && num == 0;
    case CV_JSON_STRING:
        return v->u.string.len == 0;
    case CV_JSON_ARRAY:
        return v->u.array.len == 0;
    case CV_JSON_OBJECT:
        return v->u.object.len == 0;
    }
    return false;
}

static const struct cv_field *find_field(const struct cv_schema *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *name = s->fields[i].name;
        if (name && strlen(name) == len && memcmp(name, key, len) == 0) {
            return &s->fields[i];
        }
    }
    return NULL;
}

static const struct cv_field *find_field_ignoring_case(const struct cv_schema *s, const char *key,
                                                       size_t len)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *name = s->fields[i].name;
        if (name && strlen(name) == len && strncasecmp(name, key, len) == 0) {
            return &s->fields[i];
        }
    }
    return NULL;
}

static int compare_kv(const void *a, const void *b)
{
    return strcmp(((const struct cv_kv *)a)->key, ((const struct cv_kv *)b)->key);
}

static void decode_object(struct decoder *d, const struct cv_schema *s, const struct cv_json *v,
                          void *obj);

static void decode_field(struct decoder *d, const struct cv_field *f, const struct cv_json *v,
                         void *obj);

static void decode_strings(struct decoder *d, const struct cv_json *v, struct cv_strings *out)
{
    if (!expect_type(d, v, CV_JSON_ARRAY, "an array of strings")) {
        return;
    }
    out->items = cv_calloc(v->u.array.len, sizeof *out->items);
    out->len = 0;
    for (size_t i = 0; i < v->u.array.len; i++) {
        size_t mark = path_push_index(d, i);
        char *s = decode_string(d, v->u.array.items[i]);
        path_pop(d, mark);
        if (s) {
            out->items[out->len++] = s;
        }
    }
}

static void decode_strmap(struct decoder *d, const struct cv_json *v, struct cv_strmap *out)
{
    if (!expect_type(d, v, CV_JSON_OBJECT, "an object of strings")) {
        return;
    }
    out->items = cv_calloc(v->u.object.len, sizeof *out->items);
    out->len = 0;
    for (size_t i = 0; i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        size_t mark = path_push_key(d, m->key, m->key_len);
        if (strlen(m->key) != m->key_len) {
            fail(d, "key must not contain a NUL character");
        } else {
            char *value =
                m->value->type == CV_JSON_NULL ? cv_strdup("") : decode_string(d, m->value);
            if (value) {
                out->items[out->len].key = cv_strndup(m->key, m->key_len);
                out->items[out->len].value = value;
                out->len++;
            }
        }
        path_pop(d, mark);
    }
    qsort(out->items, out->len, sizeof *out->items, compare_kv);
}

static void decode_array(struct decoder *d, const struct cv_field *f, const struct cv_json *v,
                         void *at)
{
    if (!expect_type(d, v, CV_JSON_ARRAY, "an array")) {
        return;
    }
    const struct cv_schema *s = f->schema;
    struct vec vec = {cv_calloc(v->u.array.len, s->size), v->u.array.len};
    for (size_t i = 0; i < vec.len; i++) {
        void *elem = (char *)vec.items + i * s->size;
        cv_init(s, elem);
        size_t mark = path_push_index(d, i);
        decode_object(d, s, v->u.array.items[i], elem);
        path_pop(d, mark);
    }
    vec_set(at, vec);
}

static int compare_elem_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void decode_struct_map(struct decoder *d, const struct cv_field *f, const struct cv_json *v,
                              void *at)
{
    if (!expect_type(d, v, CV_JSON_OBJECT, "an object")) {
        return;
    }
    const struct cv_schema *s = f->schema;
    struct vec vec = {cv_calloc(v->u.object.len, s->size), 0};
    for (size_t i = 0; i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        size_t mark = path_push_key(d, m->key, m->key_len);
        if (strlen(m->key) != m->key_len) {
            fail(d, "key must not contain a NUL character");
        } else {
            void *elem = (char *)vec.items + vec.len * s->size;
            cv_init(s, elem);
            cv_free(*elem_key(elem));
            *elem_key(elem) = cv_strndup(m->key, m->key_len);
            if (is_value_map(s)) {
                decode_field(d, &s->fields[0], m->value, elem);
            } else {
                decode_object(d, s, m->value, elem);
            }
            vec.len++;
        }
        path_pop(d, mark);
    }
    qsort(vec.items, vec.len, s->size, compare_elem_keys);
    vec_set(at, vec);
}

static void decode_int(struct decoder *d, const struct cv_field *f, const struct cv_json *v,
                       int64_t *out)
{
    if (!expect_type(d, v, CV_JSON_NUMBER, "an integer")) {
        return;
    }
    int64_t n;
    int rc = cv_json_int64(v, &n);
    if (rc == CV_EINVAL) {
        fail(d, "must be an integer, got %s", v->u.number.text);
    } else if (rc != 0 && f->min <= INT64_MIN + 1 && f->max == INT64_MAX) {
        fail(d, "%s is out of range for a 64-bit integer", v->u.number.text);
    } else if (rc != 0 || n < f->min || n > f->max) {
        fail(d, "%s is out of range (%" PRId64 " to %" PRId64 ")", v->u.number.text, f->min,
             f->max);
    } else {
        *out = n;
    }
}

static void decode_field(struct decoder *d, const struct cv_field *f, const struct cv_json *v,
                         void *obj)
{
    void *at = field_at(obj, f);
    if (f->kind == CV_F_UNSUPPORTED) {
        if (!is_zero_value(v)) {
            fail(d, "not supported by Caravan");
        }
        return;
    }
    if (f->kind == CV_F_IGNORED || v->type == CV_JSON_NULL) {
        return; /* null leaves the default in place, as in Go */
    }
    if (f->kind == CV_F_STRINGS || f->kind == CV_F_STRMAP || f->kind == CV_F_ARRAY ||
        f->kind == CV_F_STRUCT_MAP || f->kind == CV_F_JSON) {
        cv__release_field(f, at); /* a default set by the schema's init */
    }
    switch (f->kind) {
    case CV_F_STRING: {
        char *s = decode_string(d, v);
        if (s) {
            cv_set_string(at, NULL);
            *(char **)at = s;
        }
        break;
    }
    case CV_F_INT:
        decode_int(d, f, v, at);
        break;
    case CV_F_UINT:
        if (expect_type(d, v, CV_JSON_NUMBER, "a non-negative integer")) {
            int rc = cv_json_uint64(v, at);
            if (rc == CV_EINVAL) {
                fail(d, "must be a non-negative integer, got %s", v->u.number.text);
            } else if (rc) {
                fail(d, "%s is out of range (0 to %" PRIu64 ")", v->u.number.text, UINT64_MAX);
            }
        }
        break;
    case CV_F_BOOL:
        if (expect_type(d, v, CV_JSON_BOOL, "a boolean")) {
            *(bool *)at = v->u.boolean;
        }
        break;
    case CV_F_OPTBOOL:
        if (expect_type(d, v, CV_JSON_BOOL, "a boolean")) {
            *(int8_t *)at = v->u.boolean ? 1 : 0;
        }
        break;
    case CV_F_DOUBLE:
        if (expect_type(d, v, CV_JSON_NUMBER, "a number") && cv_json_double(v, at) != 0) {
            fail(d, "%s is out of range", v->u.number.text);
        }
        break;
    case CV_F_STRINGS:
        decode_strings(d, v, at);
        break;
    case CV_F_STRMAP:
        decode_strmap(d, v, at);
        break;
    case CV_F_STRUCT:
        decode_object(d, f->schema, v, at);
        break;
    case CV_F_STRUCT_PTR: {
        void *sub = ptr_get(at);
        if (!sub) {
            sub = cv_malloc(f->schema->size);
            cv_init(f->schema, sub);
            ptr_set(at, sub);
        }
        decode_object(d, f->schema, v, sub);
        break;
    }
    case CV_F_ARRAY:
        decode_array(d, f, v, at);
        break;
    case CV_F_STRUCT_MAP:
        decode_struct_map(d, f, v, at);
        break;
    case CV_F_JSON:
        *(struct cv_json_doc **)at = cv_json_clone(v);
        break;
    case CV_F_UNSUPPORTED:
    case CV_F_IGNORED:
        break;
    }
}

static void decode_object(struct decoder *d, const struct cv_schema *s, const struct cv_json *v,
                          void *obj)
{
    if (!expect_type(d, v, CV_JSON_OBJECT, "an object")) {
        return;
    }
    for (size_t i = 0; i < v->u.object.len; i++) {
        const struct cv_json_member *m = &v->u.object.members[i];
        size_t mark = path_push_key(d, m->key, m->key_len);
        const struct cv_field *f = find_field(s, m->key, m->key_len);
        if (f) {
            decode_field(d, f, m->value, obj);
        } else {
            const struct cv_field *near = find_field_ignoring_case(s, m->key, m->key_len);
            if (near) {
                fail(d, "unknown field (did you mean \"%s\"?)", near->name);
            } else {
                fail(d, "unknown field in %s", s->name);
            }
        }
        path_pop(d, mark);
    }
}

int cv_decode(const struct cv_schema *s, const struct cv_json *v, void *obj, const char *path,
              struct cv_errlist *errs)
{
    struct decoder d = {.errs = errs};
    cv_buf_init(&d.path);
    cv_buf_append_str(&d.path, path ? path : "");
    decode_object(&d, s, v, obj);
    cv_buf_free(&d.path);
    return d.errors ? CV_EVALIDATE : 0;
}

/* ---- encode -------------------------------------------------------------- */

static void encode_value(const struct cv_field *f, const void *at, struct cv_jgen *g);

static void encode_elem(const struct cv_schema *s, const void *elem, struct cv_jgen *g)
{
    if (is_value_map(s)) {
        encode_value(&s->fields[0], cfield_at(elem, &s->fields[0]), g);
    } else {
        cv_encode(s, elem, g);
    }
}

static void encode_value(const struct cv_field *f, const void *at, struct cv_jgen *g)
{
    switch (f->kind) {
    case CV_F_STRING:
        cv_jgen_string(g, *(char *const *)at);
        break;
    case CV_F_INT:
        cv_jgen_int(g, *(const int64_t *)at);
        break;
    case CV_F_UINT:
        cv_jgen_uint(g, *(const uint64_t *)at);
        break;
    case CV_F_BOOL:
        cv_jgen_bool(g, *(const bool *)at);
        break;
    case CV_F_OPTBOOL:
        cv_jgen_bool(g, *(const int8_t *)at == 1);
        break;
    case CV_F_DOUBLE:
        cv_jgen_double(g, *(const double *)at);
        break;
    case CV_F_STRINGS: {
        const struct cv_strings *l = at;
        if (!l->len) {
            cv_jgen_null(g);
            break;
        }
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < l->len; i++) {
            cv_jgen_string(g, l->items[i]);
        }
        cv_jgen_array_end(g);
        break;
    }
    case CV_F_STRMAP: {
        const struct cv_strmap *m = at;
        if (!m->len) {
            cv_jgen_null(g);
            break;
        }
        cv_jgen_object_begin(g);
        for (size_t i = 0; i < m->len; i++) {
            cv_jgen_key(g, m->items[i].key);
            cv_jgen_string(g, m->items[i].value);
        }
        cv_jgen_object_end(g);
        break;
    }
    case CV_F_STRUCT:
        cv_encode(f->schema, at, g);
        break;
    case CV_F_STRUCT_PTR: {
        const void *sub = ptr_get(at);
        if (sub) {
            cv_encode(f->schema, sub, g);
        } else {
            cv_jgen_null(g);
        }
        break;
    }
    case CV_F_ARRAY: {
        struct vec v = vec_get(at);
        if (!v.len) {
            cv_jgen_null(g);
            break;
        }
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < v.len; i++) {
            cv_encode(f->schema, (const char *)v.items + i * f->schema->size, g);
        }
        cv_jgen_array_end(g);
        break;
    }
    case CV_F_STRUCT_MAP: {
        struct vec v = vec_get(at);
        if (!v.len) {
            cv_jgen_null(g);
            break;
        }
        cv_jgen_object_begin(g);
        for (size_t i = 0; i < v.len; i++) {
            const char *elem = (const char *)v.items + i * f->schema->size;
            cv_jgen_key(g, *(char *const *)elem);
            encode_elem(f->schema, elem, g);
        }
        cv_jgen_object_end(g);
        break;
    }
    case CV_F_JSON: {
        const struct cv_json_doc *doc = *(struct cv_json_doc *const *)at;
        if (doc) {
            cv_jgen_value(g, cv_json_doc_root(doc));
        } else {
            cv_jgen_null(g);
        }
        break;
    }
    case CV_F_UNSUPPORTED:
    case CV_F_IGNORED:
        break;
    }
}

void cv_encode(const struct cv_schema *s, const void *obj, struct cv_jgen *g)
{
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct cv_field *f = &s->fields[i];
        if (f->kind == CV_F_UNSUPPORTED || f->kind == CV_F_IGNORED) {
            continue;
        }
        cv_jgen_key(g, f->name);
        encode_value(f, cfield_at(obj, f), g);
    }
    cv_jgen_object_end(g);
}
