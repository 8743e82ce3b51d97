/*
 * err: error codes, one error value, and a list of errors.
 *
 * Functions that can fail return 0 or a negative CV_E* code and fill an
 * optional `struct cv_err *` with a message for the operator and, for
 * validation, the path of the offending field ("TaskGroups[1].Count").
 * One X-macro table yields the enum, cv_strerror() and the HTTP status each
 * code maps to, so the three never drift apart.
 *
 * Validation reports every problem of an input, not only the first: it
 * collects into a `struct cv_errlist`.
 */
#ifndef CV_ERR_H
#define CV_ERR_H

#include <stdarg.h>
#include <stddef.h>

/*   name             value  text                          HTTP status */
#define CV_ERROR_TABLE(X)                        \
    X(CV_EINVAL, 1, "invalid argument", 400)     \
    X(CV_EPARSE, 2, "malformed input", 400)      \
    X(CV_EVALIDATE, 3, "validation failed", 400) \
    X(CV_ETOOBIG, 4, "input too large", 413)     \
    X(CV_ENOTFOUND, 5, "not found", 404)         \
    X(CV_EEXIST, 6, "already exists", 409)       \
    X(CV_EUNSUPPORTED, 7, "not supported", 400)  \
    X(CV_EIO, 8, "input/output error", 500)      \
    X(CV_ETIMEDOUT, 9, "timed out", 504)         \
    X(CV_ENOTLEADER, 10, "not the leader", 503)  \
    X(CV_ESHUTDOWN, 11, "shutting down", 503)    \
    X(CV_EUNAVAILABLE, 12, "unavailable", 503)   \
    X(CV_EINTERNAL, 13, "internal error", 500)   \
    X(CV_ECONFLICT, 14, "conflict", 409)

enum cv_error_code
{
    CV_OK = 0,
#define CV_ERROR_ENUM(name, value, text, http) name = -(value),
    CV_ERROR_TABLE(CV_ERROR_ENUM)
#undef CV_ERROR_ENUM
};

/* Returns a static description of `code` (0 or a negative CV_E* code). */
const char *cv_strerror(int code);
/* Returns the HTTP status an API answer carries for `code`. */
int cv_error_http_status(int code);

#define CV_ERR_PATH_MAX 256
#define CV_ERR_MSG_MAX  512

struct cv_err
{
    int code;                   /* 0 when no error was recorded */
    char path[CV_ERR_PATH_MAX]; /* field path, "" when not about a field */
    char msg[CV_ERR_MSG_MAX];
};

/* Each setter accepts err == NULL (caller not interested) and returns code,
 * so `return cv_err_setf(err, CV_EINVAL, "...")` reads naturally. */
int cv_err_setf(struct cv_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cv_err_set_pathf(struct cv_err *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes the existing message with context: "load segment 3: <msg>". */
int cv_err_wrapf(struct cv_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cv_err_clear(struct cv_err *err);
/* Writes "path: msg" (or "msg") into buf; returns buf. */
const char *cv_err_format(const struct cv_err *err, char *buf, size_t size);

/* Field paths for messages: cv_path_join(out, "TaskGroups[0]", "Name")
 * gives "TaskGroups[0].Name" ("Name" under an empty prefix, the prefix
 * alone under an empty field); cv_path_index(out, "TaskGroups[0]", "Tasks", 2)
 * gives "TaskGroups[0].Tasks[2]". A path longer than CV_ERR_PATH_MAX is cut. */
void cv_path_join(char out[CV_ERR_PATH_MAX], const char *prefix, const char *field);
void cv_path_index(char out[CV_ERR_PATH_MAX], const char *prefix, const char *field, size_t i);

/* An ordered list of field errors. */
struct cv_errlist_item
{
    char *path; /* owned; "" when the error is about the whole input */
    char *msg;  /* owned */
};

struct cv_errlist
{
    struct cv_errlist_item *items;
    size_t len;
    size_t cap;
};

void cv_errlist_init(struct cv_errlist *list);
void cv_errlist_free(struct cv_errlist *list);
void cv_errlist_addf(struct cv_errlist *list, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cv_errlist_vaddf(struct cv_errlist *list, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Keeps the first `max` items; when more were dropped, a last item says how
 * many ("... and 12 more errors"). */
void cv_errlist_truncate(struct cv_errlist *list, size_t max);
/* Writes item i as "path: msg" into buf; returns buf. */
const char *cv_errlist_format(const struct cv_errlist *list, size_t i, char *buf, size_t size);

#endif
