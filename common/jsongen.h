/*
 * jsongen: write JSON with yajl's generator into a growable buffer.
 *
 * Calls never fail one by one: the first misuse or invalid string (bad
 * UTF-8) makes the generator "failed", later calls do nothing, and
 * cv_jgen_finish() reports it. That keeps encoders free of error checks on
 * every line.
 */
#ifndef CV_JSONGEN_H
#define CV_JSONGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/json.h"

struct cv_jgen;

/* Returns a new generator; `pretty` indents with two spaces. */
struct cv_jgen *cv_jgen_new(bool pretty);
void cv_jgen_free(struct cv_jgen *g);

void cv_jgen_object_begin(struct cv_jgen *g);
void cv_jgen_object_end(struct cv_jgen *g);
void cv_jgen_array_begin(struct cv_jgen *g);
void cv_jgen_array_end(struct cv_jgen *g);
/* Object keys; a key must precede every value inside an object. */
void cv_jgen_key(struct cv_jgen *g, const char *key);
void cv_jgen_string(struct cv_jgen *g, const char *s); /* NULL writes "" */
void cv_jgen_string_len(struct cv_jgen *g, const char *s, size_t len);
void cv_jgen_int(struct cv_jgen *g, int64_t v);
void cv_jgen_uint(struct cv_jgen *g, uint64_t v);
void cv_jgen_double(struct cv_jgen *g, double v);
void cv_jgen_bool(struct cv_jgen *g, bool v);
void cv_jgen_null(struct cv_jgen *g);
/* Writes a parsed value as it was (numbers keep their text). */
void cv_jgen_value(struct cv_jgen *g, const struct cv_json *v);

/* Returns 0 and points *out at the text (borrowed, valid until the
 * generator is freed), or CV_EINVAL with err naming the first failure. */
int cv_jgen_finish(struct cv_jgen *g, const char **out, size_t *len, struct cv_err *err);

#endif
