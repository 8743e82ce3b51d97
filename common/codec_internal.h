/*
 * codec_internal: what the two halves of the codec engine share: codec.c
 * (init, decode, encode) and codec_ops.c (release, copy, equality, the
 * helpers for hand-built structs). Not for other modules.
 */
#ifndef CV_CODEC_INTERNAL_H
#define CV_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/codec.h"

/* Array fields are declared with CV_VEC(T), an anonymous struct of a T
 * pointer and a length. The engine reads and writes them through
 * `struct vec`, copying the pointer with memcpy so no object is accessed
 * through an lvalue of another type. */
struct vec
{
    void *items;
    size_t len;
};

static inline void *field_at(void *obj, const struct cv_field *f)
{
    return (char *)obj + f->offset;
}

static inline const void *cfield_at(const void *obj, const struct cv_field *f)
{
    return (const char *)obj + f->offset;
}

static inline struct vec vec_get(const void *at)
{
    struct vec v;
    memcpy(&v.items, at, sizeof v.items);
    memcpy(&v.len, (const char *)at + offsetof(struct vec, len), sizeof v.len);
    return v;
}

static inline void vec_set(void *at, struct vec v)
{
    memcpy(at, &v.items, sizeof v.items);
    memcpy((char *)at + offsetof(struct vec, len), &v.len, sizeof v.len);
}

static inline void *ptr_get(const void *at)
{
    void *p;
    memcpy(&p, at, sizeof p);
    return p;
}

static inline void ptr_set(void *at, void *p)
{
    memcpy(at, &p, sizeof p);
}

/* The key of a CV_F_STRUCT_MAP element is its first member. */
static inline char **elem_key(void *elem)
{
    return (char **)elem;
}

static inline bool is_value_map(const struct cv_schema *s)
{
    return s->n_fields == 1 && s->fields[0].name == NULL;
}

/* Frees what one field owns and zeroes it. */
void cv__release_field(const struct cv_field *f, void *at);

#endif
