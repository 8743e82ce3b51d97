/*
 * jsongen: yajl_gen with a sticky error and output into a cv_buf.
 */
#include "common/jsongen.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "common/buf.h"
#include "common/mem.h"

#define MAX_GEN_DEPTH 128 /* yajl's own limit */

struct cv_jgen
{
    yajl_gen gen;
    struct cv_buf out;
    yajl_gen_status status; /* first failure, or yajl_gen_status_ok */
    /* Open containers, innermost last ('{' or '['): yajl does not check that
     * a close matches its open, nor can it say whether a document is whole. */
    char open[MAX_GEN_DEPTH];
    unsigned depth;
    bool wrote; /* a top-level value was begun */
};

static void print_to_buf(void *ctx, const char *s, size_t len)
{
    cv_buf_append(ctx, s, len);
}

static void *gen_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return cv_malloc(size);
}

static void *gen_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return cv_realloc(ptr, size);
}

static void gen_free(void *ctx, void *ptr)
{
    (void)ctx;
    cv_free(ptr);
}

static yajl_alloc_funcs gen_allocator = {gen_malloc, gen_realloc, gen_free, NULL};

struct cv_jgen *cv_jgen_new(bool pretty)
{
    struct cv_jgen *g = cv_malloc(sizeof *g);
    cv_buf_init(&g->out);
    g->status = yajl_gen_status_ok;
    g->depth = 0;
    g->wrote = false;
    g->gen = yajl_gen_alloc(&gen_allocator);
    yajl_gen_config(g->gen, yajl_gen_print_callback, print_to_buf, &g->out);
    yajl_gen_config(g->gen, yajl_gen_validate_utf8, 1);
    if (pretty) {
        yajl_gen_config(g->gen, yajl_gen_beautify, 1);
        yajl_gen_config(g->gen, yajl_gen_indent_string, "  ");
    }
    return g;
}

void cv_jgen_free(struct cv_jgen *g)
{
    if (g) {
        yajl_gen_free(g->gen);
        cv_buf_free(&g->out);
        cv_free(g);
    }
}

static void track(struct cv_jgen *g, yajl_gen_status st)
{
    if (g->status == yajl_gen_status_ok) {
        g->status = st;
    }
}

#define GEN(g, call)                             \
    do {                                         \
        if ((g)->status == yajl_gen_status_ok) { \
            track((g), (call));                  \
        }                                        \
    } while (0)

static void push(struct cv_jgen *g, char kind)
{
    if (g->depth == MAX_GEN_DEPTH) {
        track(g, yajl_max_depth_exceeded);
        return;
    }
    g->open[g->depth++] = kind;
    g->wrote = true;
}

static bool pop(struct cv_jgen *g, char kind)
{
    if (g->depth == 0 || g->open[g->depth - 1] != kind) {
        track(g, yajl_gen_in_error_state);
        return false;
    }
    g->depth--;
    return true;
}

void cv_jgen_object_begin(struct cv_jgen *g)
{
    GEN(g, yajl_gen_map_open(g->gen));
    push(g, '{');
}

void cv_jgen_object_end(struct cv_jgen *g)
{
    if (pop(g, '{')) {
        GEN(g, yajl_gen_map_close(g->gen));
    }
}

void cv_jgen_array_begin(struct cv_jgen *g)
{
    GEN(g, yajl_gen_array_open(g->gen));
    push(g, '[');
}

void cv_jgen_array_end(struct cv_jgen *g)
{
    if (pop(g, '[')) {
        GEN(g, yajl_gen_array_close(g->gen));
    }
}

void cv_jgen_key(struct cv_jgen *g, const char *key)
{
    cv_jgen_string(g, key);
}

void cv_jgen_string(struct cv_jgen *g, const char *s)
{
    cv_jgen_string_len(g, s ? s : "", s ? strlen(s) : 0);
}

void cv_jgen_string_len(struct cv_jgen *g, const char *s, size_t len)
{
    g->wrote = true;
    GEN(g, cv_utf8_valid(s, len) ? yajl_gen_string(g->gen, (const unsigned char *)s, len)
                                 : yajl_gen_invalid_string);
}

void cv_jgen_int(struct cv_jgen *g, int64_t v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRId64, v);
    g->wrote = true;
    GEN(g, yajl_gen_number(g->gen, text, (size_t)n));
}

void cv_jgen_uint(struct cv_jgen *g, uint64_t v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64, v);
    g->wrote = true;
    GEN(g, yajl_gen_number(g->gen, text, (size_t)n));
}

void cv_jgen_double(struct cv_jgen *g, double v)
{
    /* JSON has no NaN or infinity; yajl refuses them, and so do we. */
    g->wrote = true;
    GEN(g, isfinite(v) ? yajl_gen_double(g->gen, v) : yajl_gen_invalid_number);
}

void cv_jgen_bool(struct cv_jgen *g, bool v)
{
    g->wrote = true;
    GEN(g, yajl_gen_bool(g->gen, v));
}

void cv_jgen_null(struct cv_jgen *g)
{
    g->wrote = true;
    GEN(g, yajl_gen_null(g->gen));
}

void cv_jgen_value(struct cv_jgen *g, const struct cv_json *v)
{
    switch (v->type) {
    case CV_JSON_NULL:
        cv_jgen_null(g);
        break;
    case CV_JSON_BOOL:
        cv_jgen_bool(g, v->u.boolean);
        break;
    case CV_JSON_NUMBER:
        g->wrote = true;
        GEN(g, yajl_gen_number(g->gen, v->u.number.text, v->u.number.len));
        break;
    case CV_JSON_STRING:
        cv_jgen_string_len(g, v->u.string.ptr, v->u.string.len);
        break;
    case CV_JSON_ARRAY:
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < v->u.array.len; i++) {
            cv_jgen_value(g, v->u.array.items[i]);
        }
        cv_jgen_array_end(g);
        break;
    case CV_JSON_OBJECT:
        cv_jgen_object_begin(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const struct cv_json_member *m = &v->u.object.members[i];
            cv_jgen_string_len(g, m->key, m->key_len);
            cv_jgen_value(g, m->value);
        }
        cv_jgen_object_end(g);
        break;
    }
}

static const char *gen_status_text(yajl_gen_status st)
{
    switch (st) {
    case yajl_gen_keys_must_be_strings:
        return "object keys must be strings";
    case yajl_max_depth_exceeded:
        return "nesting too deep";
    case yajl_gen_in_error_state:
        return "a close does not match the open container";
    case yajl_gen_generation_complete:
        return "value written after the document was complete";
    case yajl_gen_invalid_number:
        return "number is not finite";
    case yajl_gen_no_buf:
        return "no output buffer";
    case yajl_gen_invalid_string:
        return "string is not valid UTF-8";
    default:
        return "generator failure";
    }
}

int cv_jgen_finish(struct cv_jgen *g, const char **out, size_t *len, struct cv_err *err)
{
    if (g->status != yajl_gen_status_ok) {
        return cv_err_setf(err, CV_EINVAL, "cannot encode JSON: %s", gen_status_text(g->status));
    }
    if (!g->wrote || g->depth != 0) {
        return cv_err_setf(err, CV_EINVAL, "cannot encode JSON: %s",
                           g->wrote ? "a container was left open" : "nothing was written");
    }
    *out = cv_buf_str(&g->out);
    *len = g->out.len;
    return 0;
}
