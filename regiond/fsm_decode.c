/*
 * fsm_decode: the readers the FSM's command decoders (fsm_commands.c,
 * fsm_nodes.c) share: a command body's members by shape (string, UUID,
 * boolean, 64-bit integer, array, array of UUIDs), its evaluations through
 * the model's decoder, and how a problem becomes the command's error.
 *
 * A member reader takes an object and a key, treats JSON null as absent
 * (Go's nil) and returns 0, or CV_EPARSE with err's path naming the key
 * alone: a caller decoding a nested object prefixes the path itself.
 * Strings are borrowed from the document, which must outlive the command;
 * arrays of pointers are new and the command frees them (fsm_cmd_free).
 * Whether a value is allowed beyond its shape (a UUID, a vocabulary) is
 * checked with the model's checks, so messages read as the API's do.
 */
#include "regiond/fsm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"

/* ---- shapes ------------------------------------------------------------------------ */

int fsm_bad(struct cv_err *err, const char *path, const char *fmt, ...)
{
    char msg[CV_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cv_err_set_pathf(err, CV_EPARSE, path, "%s", msg);
}

/* Turns the first problem of a list (a model's decoder's, or checks made
 * with the model's helpers) into err, under path. Frees the list. */
int fsm_list_failed(struct cv_err *err, const char *path, struct cv_errlist *errs)
{
    char full[CV_ERR_PATH_MAX];
    int rc;
    if (errs->len == 0) {
        rc = fsm_bad(err, path, "is invalid");
    } else {
        cv_path_join(full, path, errs->items[0].path);
        if (errs->len > 1) {
            rc = fsm_bad(err, full, "%s (and %zu more)", errs->items[0].msg, errs->len - 1);
        } else {
            rc = fsm_bad(err, full, "%s", errs->items[0].msg);
        }
    }
    cv_errlist_free(errs);
    return rc;
}

/* The member `key` of an object; NULL when absent or null (Go's nil). */
const struct cv_json *fsm_member(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cv_json_object_get(obj, key);
    return v && v->type != CV_JSON_NULL ? v : NULL;
}

static int string_value(const struct cv_json *v, const char *path, bool required, const char **out,
                        struct cv_err *err)
{
    if (v->type != CV_JSON_STRING) {
        return fsm_bad(err, path, "must be a string, got %s", cv_json_type_name(v->type));
    }
    if (strlen(v->u.string.ptr) != v->u.string.len) {
        return fsm_bad(err, path, "must not contain a NUL character");
    }
    if (required && v->u.string.len == 0) {
        return fsm_bad(err, path, "is required");
    }
    *out = v->u.string.ptr;
    return 0;
}

/* A string member; "" when absent and not required. Borrowed from the
 * document. */
int fsm_get_string(const struct cv_json *obj, const char *key, bool required, const char **out,
                   struct cv_err *err)
{
    const struct cv_json *v = fsm_member(obj, key);
    *out = "";
    if (!v) {
        return required ? fsm_bad(err, key, "is required") : 0;
    }
    return string_value(v, key, required, out, err);
}

/* A UUID at path (or "" when not required). */
static int check_uuid(const char *value, const char *path, bool required, struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_check_uuid(&errs, "", path, value, required);
    return errs.len ? fsm_list_failed(err, "", &errs) : (cv_errlist_free(&errs), 0);
}

int fsm_check_vocab(const char *value, const char *path, const char *const *allowed,
                    struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_check_vocab(&errs, "", path, value, allowed);
    return errs.len ? fsm_list_failed(err, "", &errs) : (cv_errlist_free(&errs), 0);
}

int fsm_get_uuid(const struct cv_json *obj, const char *key, bool required, const char **out,
                 struct cv_err *err)
{
    int rc = fsm_get_string(obj, key, required, out, err);
    return rc ? rc : check_uuid(*out, key, required, err);
}

int fsm_get_bool(const struct cv_json *obj, const char *key, bool *out, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(obj, key);
    *out = false;
    if (!v) {
        return 0;
    }
    if (v->type != CV_JSON_BOOL) {
        return fsm_bad(err, key, "must be a boolean, got %s", cv_json_type_name(v->type));
    }
    *out = v->u.boolean;
    return 0;
}

int fsm_get_int(const struct cv_json *obj, const char *key, int64_t *out, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(obj, key);
    *out = 0;
    if (!v) {
        return 0;
    }
    if (v->type != CV_JSON_NUMBER || cv_json_int64(v, out) != 0) {
        *out = 0;
        return fsm_bad(err, key, "must be a 64-bit integer, got %.32s",
                       v->type == CV_JSON_NUMBER ? v->u.number.text : cv_json_type_name(v->type));
    }
    return 0;
}

/* An array member; *arr NULL when absent (an error when required). */
int fsm_get_array(const struct cv_json *obj, const char *key, bool required,
                  const struct cv_json **arr, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(obj, key);
    *arr = NULL;
    if (!v) {
        return required ? fsm_bad(err, key, "is required") : 0;
    }
    if (v->type != CV_JSON_ARRAY) {
        return fsm_bad(err, key, "must be an array, got %s", cv_json_type_name(v->type));
    }
    *arr = v;
    return 0;
}

/* An array of UUIDs, borrowed from the document into a new array of
 * pointers (*out, freed by the command). */
int fsm_get_uuids(const struct cv_json *obj, const char *key, bool required, const char ***out,
                  size_t *n, struct cv_err *err)
{
    const struct cv_json *arr;
    int rc = fsm_get_array(obj, key, required, &arr, err);
    if (rc || !arr || arr->u.array.len == 0) {
        return rc;
    }
    *out = cv_calloc(arr->u.array.len, sizeof **out);
    for (size_t i = 0; i < arr->u.array.len; i++) {
        char path[CV_ERR_PATH_MAX];
        cv_path_index(path, "", key, i);
        const char *s = NULL;
        rc = string_value(arr->u.array.items[i], path, true, &s, err);
        if (rc == 0) {
            rc = check_uuid(s, path, true, err);
        }
        if (rc) {
            return rc;
        }
        (*out)[(*n)++] = s;
    }
    return 0;
}

/* ---- evaluations ------------------------------------------------------------------- */

static int decode_eval(const struct cv_json *v, const char *path, struct cv_evaluation **out,
                       struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_eval_decode(v, out, &errs) != 0) {
        return fsm_list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    return 0;
}

/* An optional "Eval" member. */
int fsm_get_eval(const struct cv_json *obj, struct cv_evaluation **out, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(obj, "Eval");
    return v ? decode_eval(v, "Eval", out, err) : 0;
}

int fsm_get_evals(const struct cv_json *obj, const char *key, bool required,
                  struct cv_evaluation ***out, size_t *n, struct cv_err *err)
{
    const struct cv_json *arr;
    int rc = fsm_get_array(obj, key, required, &arr, err);
    if (rc || !arr || arr->u.array.len == 0) {
        return rc;
    }
    *out = cv_calloc(arr->u.array.len, sizeof **out);
    for (size_t i = 0; i < arr->u.array.len && rc == 0; i++) {
        char path[CV_ERR_PATH_MAX];
        cv_path_index(path, "", key, i);
        rc = decode_eval(arr->u.array.items[i], path, &(*out)[i], err);
        *n += rc == 0;
    }
    return rc;
}
