/*
 * codec_ops: the schema-driven operations other than decoding and encoding:
 * releasing what a struct owns, deep copies, structural equality, and the
 * helpers for code that builds model structs by hand.
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/codec_internal.h"
#include "common/mem.h"

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
void cv__release_field(const struct cv_field *f, void *at)
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
        cv__release_field(&s->fields[i], field_at(obj, &s->fields[i]));
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
