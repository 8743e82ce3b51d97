/*
 * codec: the engine behind every model struct's JSON codec.
 *
 * Array fields are declared with CV_VEC(T), an anonymous struct of a T
 * pointer and a length. The engine reads and writes them through
 * `struct vec`, copying the pointer with memcpy so no object is accessed
 * through an lvalue of another type.
 */
#include "common/codec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/mem.h"

/* Decoding stops adding errors past this many, so a hostile document of a
 * million unknown fields produces a short answer. */
#define MAX_DECODE_ERRORS 100

struct vec
{
    void *items;
    size_t len;
};

static void *field_at(void *obj, const struct cv_field *f)
{
    return (char *)obj + f->offset;
}

static const void *cfield_at(const void *obj, const struct cv_field *f)
{
    return (const char *)obj + f->offset;
}

static struct vec vec_get(const void *at)
{
    struct vec v;
    memcpy(&v.items, at, sizeof v.items);
    memcpy(&v.len, (const char *)at + offsetof(struct vec, len), sizeof v.len);
    return v;
}

static void vec_set(void *at, struct vec v)
{
    memcpy(at, &v.items, sizeof v.items);
    memcpy((char *)at + offsetof(struct vec, len), &v.len, sizeof v.len);
}

static void *ptr_get(const void *at)
{
    void *p;
    memcpy(&p, at, sizeof p);
    return p;
}

static void ptr_set(void *at, void *p)
{
    memcpy(at, &p, sizeof p);
}

/* The key of a CV_F_STRUCT_MAP element is its first member. */
static char **elem_key(void *elem)
{
    return (char **)elem;
}

static bool is_value_map(const struct cv_schema *s)
{
    return s->n_fields == 1 && s->fields[0].name == NULL;
}

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
static void release_field(const struct cv_field *f, void *at);

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
        release_field(f, at); /* a default set by the schema's init */
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

/* ---- release ------------------------------------------------------------- */

static void release_elems(const struct cv_schema *s, struct vec v, bool keyed)
{
    for (size_t i = 0; i < v.len; i++) {
        void *elem = (char *)v.items + i * s->size;
        if (keyed) {
            cv_free(*elem_key(elem));
        }
        cv_release(s, elem);
    }
    cv_free(v.items);
}

/* Frees what one field owns and zeroes it. */
static void release_field(const struct cv_field *f, void *at)
{
    switch (f->kind) {
    case CV_F_STRING:
        cv_free(*(char **)at);
        *(char **)at = NULL;
        break;
    case CV_F_STRINGS: {
        struct cv_strings *l = at;
        for (size_t j = 0; j < l->len; j++) {
            cv_free(l->items[j]);
        }
        cv_free(l->items);
        memset(l, 0, sizeof *l);
        break;
    }
    case CV_F_STRMAP: {
        struct cv_strmap *m = at;
        for (size_t j = 0; j < m->len; j++) {
            cv_free(m->items[j].key);
            cv_free(m->items[j].value);
        }
        cv_free(m->items);
        memset(m, 0, sizeof *m);
        break;
    }
    case CV_F_STRUCT:
        cv_release(f->schema, at);
        break;
    case CV_F_STRUCT_PTR: {
        void *sub = ptr_get(at);
        if (sub) {
            cv_release(f->schema, sub);
            cv_free(sub);
        }
        ptr_set(at, NULL);
        break;
    }
    case CV_F_ARRAY:
    case CV_F_STRUCT_MAP: {
        release_elems(f->schema, vec_get(at), f->kind == CV_F_STRUCT_MAP);
        struct vec empty = {NULL, 0};
        vec_set(at, empty);
        break;
    }
    case CV_F_JSON:
        cv_json_doc_free(*(struct cv_json_doc **)at);
        *(struct cv_json_doc **)at = NULL;
        break;
    default:
        break;
    }
}

void cv_release(const struct cv_schema *s, void *obj)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        release_field(&s->fields[i], field_at(obj, &s->fields[i]));
    }
    memset(obj, 0, s->size);
}

/* ---- copy ---------------------------------------------------------------- */

static struct vec copy_elems(const struct cv_schema *s, struct vec src, bool keyed)
{
    struct vec dst = {cv_calloc(src.len, s->size), src.len};
    for (size_t i = 0; i < src.len; i++) {
        void *d = (char *)dst.items + i * s->size;
        const void *e = (const char *)src.items + i * s->size;
        cv_copy(s, d, e);
        if (keyed) {
            *elem_key(d) = cv_strdup(*(char *const *)e);
        }
    }
    return dst;
}

void cv_copy(const struct cv_schema *s, void *dst, const void *src)
{
    memcpy(dst, src, s->size);
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct cv_field *f = &s->fields[i];
        void *to = field_at(dst, f);
        const void *from = cfield_at(src, f);
        switch (f->kind) {
        case CV_F_STRING: {
            const char *str = *(char *const *)from;
            *(char **)to = cv_strdup(str ? str : "");
            break;
        }
        case CV_F_STRINGS: {
            const struct cv_strings *l = from;
            struct cv_strings *out = to;
            out->items = cv_calloc(l->len, sizeof *out->items);
            for (size_t j = 0; j < l->len; j++) {
                out->items[j] = cv_strdup(l->items[j]);
            }
            break;
        }
        case CV_F_STRMAP: {
            const struct cv_strmap *m = from;
            struct cv_strmap *out = to;
            out->items = cv_calloc(m->len, sizeof *out->items);
            for (size_t j = 0; j < m->len; j++) {
                out->items[j].key = cv_strdup(m->items[j].key);
                out->items[j].value = cv_strdup(m->items[j].value);
            }
            break;
        }
        case CV_F_STRUCT:
            cv_copy(f->schema, to, from);
            break;
        case CV_F_STRUCT_PTR: {
            const void *sub = ptr_get(from);
            void *copy = NULL;
            if (sub) {
                copy = cv_malloc(f->schema->size);
                cv_copy(f->schema, copy, sub);
            }
            ptr_set(to, copy);
            break;
        }
        case CV_F_ARRAY:
            vec_set(to, copy_elems(f->schema, vec_get(from), false));
            break;
        case CV_F_STRUCT_MAP:
            vec_set(to, copy_elems(f->schema, vec_get(from), true));
            break;
        case CV_F_JSON: {
            const struct cv_json_doc *doc = *(struct cv_json_doc *const *)from;
            *(struct cv_json_doc **)to = doc ? cv_json_clone(cv_json_doc_root(doc)) : NULL;
            break;
        }
        default:
            break;
        }
    }
}

/* ---- equality ------------------------------------------------------------ */

static bool str_equal(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool elems_equal(const struct cv_schema *s, struct vec a, struct vec b, bool keyed)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        const char *ea = (const char *)a.items + i * s->size;
        const char *eb = (const char *)b.items + i * s->size;
        if (keyed && !str_equal(*(char *const *)ea, *(char *const *)eb)) {
            return false;
        }
        if (!cv_equal(s, ea, eb)) {
            return false;
        }
    }
    return true;
}

static bool field_equal(const struct cv_field *f, const void *a, const void *b)
{
    switch (f->kind) {
    case CV_F_STRING:
        return str_equal(*(char *const *)a, *(char *const *)b);
    case CV_F_INT:
        return *(const int64_t *)a == *(const int64_t *)b;
    case CV_F_UINT:
        return *(const uint64_t *)a == *(const uint64_t *)b;
    case CV_F_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case CV_F_OPTBOOL:
        return *(const int8_t *)a == *(const int8_t *)b;
    case CV_F_DOUBLE:
        return *(const double *)a == *(const double *)b;
    case CV_F_STRINGS: {
        const struct cv_strings *la = a, *lb = b;
        if (la->len != lb->len) {
            return false;
        }
        for (size_t j = 0; j < la->len; j++) {
            if (!str_equal(la->items[j], lb->items[j])) {
                return false;
            }
        }
        return true;
    }
    case CV_F_STRMAP: {
        const struct cv_strmap *ma = a, *mb = b;
        if (ma->len != mb->len) {
            return false;
        }
        for (size_t j = 0; j < ma->len; j++) {
            if (!str_equal(ma->items[j].key, mb->items[j].key) ||
                !str_equal(ma->items[j].value, mb->items[j].value)) {
                return false;
            }
        }
        return true;
    }
    case CV_F_STRUCT:
        return cv_equal(f->schema, a, b);
    case CV_F_STRUCT_PTR: {
        const void *pa = ptr_get(a), *pb = ptr_get(b);
        if (!pa || !pb) {
            return pa == pb;
        }
        return cv_equal(f->schema, pa, pb);
    }
    case CV_F_ARRAY:
        return elems_equal(f->schema, vec_get(a), vec_get(b), false);
    case CV_F_STRUCT_MAP:
        return elems_equal(f->schema, vec_get(a), vec_get(b), true);
    case CV_F_JSON: {
        const struct cv_json_doc *da = *(struct cv_json_doc *const *)a;
        const struct cv_json_doc *db = *(struct cv_json_doc *const *)b;
        if (!da || !db) {
            return da == db;
        }
        return cv_json_equal(cv_json_doc_root(da), cv_json_doc_root(db));
    }
    case CV_F_UNSUPPORTED:
    case CV_F_IGNORED:
        return true;
    }
    return false;
}

bool cv_equal(const struct cv_schema *s, const void *a, const void *b)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct cv_field *f = &s->fields[i];
        if (!field_equal(f, cfield_at(a, f), cfield_at(b, f))) {
            return false;
        }
    }
    return true;
}

/* ---- helpers for hand-built structs ----------------------------------------- */

void cv_set_string(char **field, const char *value)
{
    cv_free(*field);
    *field = value ? cv_strdup(value) : NULL;
}

void cv_strings_push(struct cv_strings *list, const char *value)
{
    list->items = cv_reallocarray(list->items, list->len + 1, sizeof *list->items);
    list->items[list->len++] = cv_strdup(value);
}

void cv_strmap_set(struct cv_strmap *map, const char *key, const char *value)
{
    size_t i = 0;
    while (i < map->len && strcmp(map->items[i].key, key) < 0) {
        i++;
    }
    if (i < map->len && strcmp(map->items[i].key, key) == 0) {
        cv_set_string(&map->items[i].value, value);
        return;
    }
    map->items = cv_reallocarray(map->items, map->len + 1, sizeof *map->items);
    memmove(&map->items[i + 1], &map->items[i], (map->len - i) * sizeof *map->items);
    map->items[i].key = cv_strdup(key);
    map->items[i].value = cv_strdup(value);
    map->len++;
}

const char *cv_strmap_get(const struct cv_strmap *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            return map->items[i].value;
        }
    }
    return NULL;
}
