/*
 * model: the shared life cycle of data-model objects (see model.h).
 */
#include "common/model.h"

#include <string.h>

#include "common/jsongen.h"
#include "common/mem.h"

/* Drops validation errors [decoded, len) whose path already carries a
 * decoding error in [first, decoded): "ID: is required" after "ID: must
 * not contain a NUL character" says nothing new. */
static void drop_echoes(struct cv_errlist *errs, size_t first, size_t decoded)
{
    size_t kept = decoded;
    for (size_t i = decoded; i < errs->len; i++) {
        bool echo = false;
        for (size_t j = first; j < decoded && !echo; j++) {
            echo = strcmp(errs->items[i].path, errs->items[j].path) == 0;
        }
        if (echo) {
            cv_free(errs->items[i].path);
            cv_free(errs->items[i].msg);
        } else {
            errs->items[kept++] = errs->items[i];
        }
    }
    errs->len = kept;
}

int cv_model_decode(const struct cv_model *m, const struct cv_json *v, void **out,
                    struct cv_errlist *errs)
{
    *out = NULL;
    if (v->type != CV_JSON_OBJECT) {
        cv_errlist_addf(errs, "", "%s must be a JSON object, got %s", m->noun,
                        cv_json_type_name(v->type));
        return CV_EVALIDATE;
    }
    void *obj = cv_malloc(m->schema->size);
    cv_init(m->schema, obj);
    size_t first = errs->len;
    int rc = cv_decode(m->schema, m->unwrap ? m->unwrap(v) : v, obj, "", errs);
    size_t decoded = errs->len;
    m->canonicalize(obj);
    if (m->validate(obj, errs) != 0) {
        rc = CV_EVALIDATE;
    }
    drop_echoes(errs, first, decoded);
    cv_errlist_truncate(errs, first + CV_MODEL_MAX_ERRORS);
    if (rc != 0) {
        cv_model_free(m->schema, obj);
        return rc;
    }
    *out = obj;
    return 0;
}

int cv_model_parse(const struct cv_model *m, const char *text, size_t len, void **out,
                   struct cv_errlist *errs)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    *out = NULL;
    int rc = cv_json_parse(text, len, NULL, &doc, &err);
    if (rc != 0) {
        cv_errlist_addf(errs, err.path, "%s", err.msg);
        return rc;
    }
    rc = cv_model_decode(m, cv_json_doc_root(doc), out, errs);
    cv_json_doc_free(doc);
    return rc;
}

void *cv_model_new(const struct cv_model *m)
{
    void *obj = cv_malloc(m->schema->size);
    cv_init(m->schema, obj);
    m->canonicalize(obj);
    return obj;
}

char *cv_model_to_json(const struct cv_schema *s, const void *obj, bool pretty)
{
    struct cv_jgen *g = cv_jgen_new(pretty);
    cv_encode(s, obj, g);
    const char *text = NULL;
    size_t len = 0;
    char *copy = NULL;
    /* A decoded object holds valid UTF-8 and finite numbers only, so
     * encoding it cannot fail; a hand-built one that does yields NULL. */
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        copy = cv_strndup(text, len);
    }
    cv_jgen_free(g);
    return copy;
}

void *cv_model_copy(const struct cv_schema *s, const void *obj)
{
    void *copy = cv_malloc(s->size);
    cv_copy(s, copy, obj);
    return copy;
}

void cv_model_free(const struct cv_schema *s, void *obj)
{
    if (obj) {
        cv_release(s, obj);
        cv_free(obj);
    }
}
