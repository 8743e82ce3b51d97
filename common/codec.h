/*
 * codec: table-driven JSON decoding, encoding, comparison, copy and release
 * of the data model's structs.
 *
 * Each struct of the model is described once by a `struct cv_schema`: its
 * JSON field names (Nomad's), the kind of each field and where it lives in
 * the C struct. The engine walks the table to decode a parsed JSON value
 * (collecting every type error with its field path), to encode the struct
 * back to the same JSON shape, to compare two structs, to deep-copy one and
 * to free what one owns. Semantic validation (ranges, vocabularies, cross-
 * field rules) is not here: it belongs to each object's module (job.c...).
 *
 * Decoding follows Go's encoding/json where Nomad's clients rely on it: a
 * JSON null leaves the field at its default, and a field Caravan knows from
 * Nomad but does not support is accepted while it holds a zero value (null,
 * false, 0, "", [] or {}), as Nomad's Go client sends them, and rejected
 * by name otherwise. Unlike Go, a field nobody knows is an error, and keys
 * match case-sensitively (a key that differs only in case is reported with
 * the right spelling).
 *
 * Memory: strings and arrays inside a decoded struct are owned by it and
 * freed by cv_release(); the struct itself is the caller's.
 */
#ifndef CV_CODEC_H
#define CV_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"

/* An owned array of T, as the engine sees every array field. */
#define CV_VEC(T)   \
    struct          \
    {               \
        T *items;   \
        size_t len; \
    }

struct cv_strings
{
    char **items;
    size_t len;
};

struct cv_kv
{
    char *key;
    char *value;
};

/* map[string]string, kept sorted by key (Go's encoder sorts map keys). */
struct cv_strmap
{
    struct cv_kv *items;
    size_t len;
};

/* An optional bool, for policy fields that merge: a group's explicit false
 * must override a job's true, so "absent" needs a value of its own. */
#define CV_OPTBOOL_UNSET ((int8_t)-1)

enum cv_field_kind
{
    CV_F_STRING,      /* char * ("" when absent, never NULL after init) */
    CV_F_INT,         /* int64_t within [min, max] */
    CV_F_UINT,        /* uint64_t */
    CV_F_BOOL,        /* bool */
    CV_F_OPTBOOL,     /* int8_t: 1 true, 0 false, CV_OPTBOOL_UNSET when absent */
    CV_F_DOUBLE,      /* double */
    CV_F_STRINGS,     /* struct cv_strings */
    CV_F_STRMAP,      /* struct cv_strmap */
    CV_F_STRUCT,      /* an embedded struct described by `schema` */
    CV_F_STRUCT_PTR,  /* a pointer to one, NULL when absent */
    CV_F_ARRAY,       /* CV_VEC(struct of `schema`) */
    CV_F_STRUCT_MAP,  /* CV_VEC(struct whose first member is `char *key`) */
    CV_F_JSON,        /* struct cv_json_doc *, any JSON value, NULL when absent */
    CV_F_UNSUPPORTED, /* known to Nomad, not supported: only a zero value passes */
    CV_F_IGNORED,     /* known, accepted and dropped (read-only output fields) */
};

struct cv_schema;

struct cv_field
{
    /* JSON name. In a CV_F_STRUCT_MAP element schema, a single field with a
     * NULL name stands for the whole member value (map[string]bool...). */
    const char *name;
    enum cv_field_kind kind;
    size_t offset;
    const struct cv_schema *schema; /* STRUCT, STRUCT_PTR, ARRAY, STRUCT_MAP */
    int64_t min, max;               /* CV_F_INT range (the Go type's) */
};

struct cv_schema
{
    const char *name; /* the Nomad type name, for messages */
    size_t size;      /* sizeof the C struct */
    /* Optional: called after the struct is zeroed, to set defaults or the
     * markers canonicalization uses to tell "absent" from "zero". */
    void (*init)(void *obj);
    const struct cv_field *fields;
    size_t n_fields;
};

/* Field table helpers: F_STRING("ID", struct cv_job, id) and so on. */
#define CV_FIELD(json, kind, type, member, schema, min, max) \
    {                                                        \
        json, kind, offsetof(type, member), schema, min, max \
    }
#define F_STRING(json, type, member) CV_FIELD(json, CV_F_STRING, type, member, NULL, 0, 0)
/* INT64_MIN stays out of range: models use it to mark "absent" (CV_UNSET). */
#define F_INT(json, type, member) \
    CV_FIELD(json, CV_F_INT, type, member, NULL, INT64_MIN + 1, INT64_MAX)
#define F_INT_RANGE(json, type, member, lo, hi) CV_FIELD(json, CV_F_INT, type, member, NULL, lo, hi)
#define F_UINT(json, type, member)              CV_FIELD(json, CV_F_UINT, type, member, NULL, 0, 0)
#define F_BOOL(json, type, member)              CV_FIELD(json, CV_F_BOOL, type, member, NULL, 0, 0)
#define F_OPTBOOL(json, type, member)           CV_FIELD(json, CV_F_OPTBOOL, type, member, NULL, 0, 0)
#define F_DOUBLE(json, type, member)            CV_FIELD(json, CV_F_DOUBLE, type, member, NULL, 0, 0)
#define F_STRINGS(json, type, member)           CV_FIELD(json, CV_F_STRINGS, type, member, NULL, 0, 0)
#define F_STRMAP(json, type, member)            CV_FIELD(json, CV_F_STRMAP, type, member, NULL, 0, 0)
#define F_STRUCT(json, type, member, s)         CV_FIELD(json, CV_F_STRUCT, type, member, s, 0, 0)
#define F_STRUCT_PTR(json, type, member, s)     CV_FIELD(json, CV_F_STRUCT_PTR, type, member, s, 0, 0)
#define F_ARRAY(json, type, member, s)          CV_FIELD(json, CV_F_ARRAY, type, member, s, 0, 0)
#define F_STRUCT_MAP(json, type, member, s)     CV_FIELD(json, CV_F_STRUCT_MAP, type, member, s, 0, 0)
#define F_JSON(json, type, member)              CV_FIELD(json, CV_F_JSON, type, member, NULL, 0, 0)
#define F_UNSUPPORTED(json)                   \
    {                                         \
        json, CV_F_UNSUPPORTED, 0, NULL, 0, 0 \
    }
#define F_IGNORED(json)                   \
    {                                     \
        json, CV_F_IGNORED, 0, NULL, 0, 0 \
    }
#define CV_SCHEMA(nomad_name, type, init_fn, table)                                  \
    {                                                                                \
        nomad_name, sizeof(type), init_fn, table, sizeof(table) / sizeof((table)[0]) \
    }

/* Zeroes obj, sets every string to "" and runs the schema's init. */
void cv_init(const struct cv_schema *s, void *obj);

/* Decodes `v` into obj, which must have been set up by cv_init(). Every
 * problem is added to errs with its path below `path` ("" at the top).
 * Returns 0, or CV_EVALIDATE when anything was added. obj is always left
 * consistent: cv_release() frees it whatever the outcome. */
int cv_decode(const struct cv_schema *s, const struct cv_json *v, void *obj, const char *path,
              struct cv_errlist *errs);

/* Writes obj as a JSON object with the schema's field names. */
void cv_encode(const struct cv_schema *s, const void *obj, struct cv_jgen *g);

/* Frees everything obj owns (not obj itself) and leaves it zeroed. */
void cv_release(const struct cv_schema *s, void *obj);

/* Deep-copies src into dst (uninitialized memory of the schema's size). */
void cv_copy(const struct cv_schema *s, void *dst, const void *src);

/* Deep structural equality. */
bool cv_equal(const struct cv_schema *s, const void *a, const void *b);

/* Helpers for code that builds model structs by hand. */
void cv_set_string(char **field, const char *value); /* frees the old value */
void cv_strings_push(struct cv_strings *list, const char *value);
/* Sets key to value, replacing an existing entry; keeps the map sorted. */
void cv_strmap_set(struct cv_strmap *map, const char *key, const char *value);
/* Returns the value for key, or NULL. */
const char *cv_strmap_get(const struct cv_strmap *map, const char *key);

#endif
