/*
 * model: what every object of the data model does the same way on top of
 * the codec engine: decode from JSON (decode, fill defaults, validate, one
 * answer with every problem), parse from text, encode to a string, copy,
 * free. Each object's module (job, node, allocation, evaluation) describes
 * itself with a `struct cv_model` and keeps typed one-line wrappers.
 */
#ifndef CV_MODEL_H
#define CV_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"

/* At most this many problems are listed for one object; a hostile
 * document could otherwise produce an answer larger than itself. */
#define CV_MODEL_MAX_ERRORS 100

struct cv_model
{
    const struct cv_schema *schema;
    const char *noun; /* for messages: "a job", "an evaluation" */
    /* Optional: the object inside an envelope ({"Job": {...}}). */
    const struct cv_json *(*unwrap)(const struct cv_json *v);
    /* Fills every unset field with its default. */
    void (*canonicalize)(void *obj);
    /* Adds every problem of a canonicalized object to errs; 0 or CV_EVALIDATE. */
    int (*validate)(const void *obj, struct cv_errlist *errs);
};

/* Decodes, canonicalizes and validates. Validation runs even after a
 * decoding error, so one answer lists every problem (a field that failed to
 * decode keeps its default, and a rule's complaint about that same field is
 * dropped). On success returns 0 and *out is a new object; on failure
 * CV_EVALIDATE with *out NULL. */
int cv_model_decode(const struct cv_model *m, const struct cv_json *v, void **out,
                    struct cv_errlist *errs);

/* Parses text, then decodes; a JSON syntax error becomes errs' only entry
 * and its code (CV_EPARSE or CV_ETOOBIG) is returned. */
int cv_model_parse(const struct cv_model *m, const char *text, size_t len, void **out,
                   struct cv_errlist *errs);

/* A new object with every default filled in. */
void *cv_model_new(const struct cv_model *m);
/* The object as a new JSON string (compact or indented). */
char *cv_model_to_json(const struct cv_schema *s, const void *obj, bool pretty);
void *cv_model_copy(const struct cv_schema *s, const void *obj);
/* Frees the object and all it owns; NULL is ignored. */
void cv_model_free(const struct cv_schema *s, void *obj);

#endif
