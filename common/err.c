/*
 * err: the error-code table, error values and error lists.
 */
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"

const char *cv_strerror(int code)
{
    switch (code) {
    case CV_OK:
        return "ok";
#define CV_ERROR_TEXT(name, value, text, http) \
    case name:                                 \
        return text;
        CV_ERROR_TABLE(CV_ERROR_TEXT)
#undef CV_ERROR_TEXT
    }
    return "unknown error";
}

int cv_error_http_status(int code)
{
    switch (code) {
    case CV_OK:
        return 200;
#define CV_ERROR_HTTP(name, value, text, http) \
    case name:                                 \
        return http;
        CV_ERROR_TABLE(CV_ERROR_HTTP)
#undef CV_ERROR_HTTP
    }
    return 500;
}

static void copy_path(struct cv_err *err, const char *path)
{
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
}

int cv_err_setf(struct cv_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->path[0] = '\0';
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cv_err_set_pathf(struct cv_err *err, int code, const char *path, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        copy_path(err, path);
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cv_err_wrapf(struct cv_err *err, const char *fmt, ...)
{
    if (!err) {
        return CV_EINTERNAL;
    }
    char prefix[CV_ERR_MSG_MAX];
    char old[CV_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) >= (int)sizeof err->msg) {
        /* truncated: the context and the start of the cause still read well */
        err->msg[sizeof err->msg - 1] = '\0';
    }
    return err->code;
}

void cv_err_clear(struct cv_err *err)
{
    if (err) {
        err->code = 0;
        err->path[0] = '\0';
        err->msg[0] = '\0';
    }
}

const char *cv_err_format(const struct cv_err *err, char *buf, size_t size)
{
    if (err->path[0]) {
        snprintf(buf, size, "%s: %s", err->path, err->msg);
    } else {
        snprintf(buf, size, "%s", err->msg);
    }
    return buf;
}

void cv_path_join(char out[CV_ERR_PATH_MAX], const char *prefix, const char *field)
{
    const char *dot = prefix[0] && field[0] ? "." : "";
    if (snprintf(out, CV_ERR_PATH_MAX, "%s%s%s", prefix, dot, field) >= CV_ERR_PATH_MAX) {
        out[CV_ERR_PATH_MAX - 1] = '\0'; /* cut: long paths come only from hostile input */
    }
}

void cv_path_index(char out[CV_ERR_PATH_MAX], const char *prefix, const char *field, size_t i)
{
    const char *dot = prefix[0] && field[0] ? "." : "";
    if (snprintf(out, CV_ERR_PATH_MAX, "%s%s%s[%zu]", prefix, dot, field, i) >= CV_ERR_PATH_MAX) {
        out[CV_ERR_PATH_MAX - 1] = '\0';
    }
}

void cv_errlist_init(struct cv_errlist *list)
{
    list->items = NULL;
    list->len = 0;
    list->cap = 0;
}

void cv_errlist_free(struct cv_errlist *list)
{
    for (size_t i = 0; i < list->len; i++) {
        cv_free(list->items[i].path);
        cv_free(list->items[i].msg);
    }
    cv_free(list->items);
    cv_errlist_init(list);
}

void cv_errlist_vaddf(struct cv_errlist *list, const char *path, const char *fmt, va_list ap)
{
    char msg[CV_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (list->len == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 8;
        list->items = cv_reallocarray(list->items, list->cap, sizeof *list->items);
    }
    list->items[list->len].path = cv_strdup(path ? path : "");
    list->items[list->len].msg = cv_strdup(msg);
    list->len++;
}

void cv_errlist_addf(struct cv_errlist *list, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(list, path, fmt, ap);
    va_end(ap);
}

void cv_errlist_truncate(struct cv_errlist *list, size_t max)
{
    if (list->len <= max) {
        return;
    }
    size_t dropped = list->len - max;
    for (size_t i = max; i < list->len; i++) {
        cv_free(list->items[i].path);
        cv_free(list->items[i].msg);
    }
    list->len = max;
    cv_errlist_addf(list, "", "... and %zu more error%s", dropped, dropped == 1 ? "" : "s");
}

const char *cv_errlist_format(const struct cv_errlist *list, size_t i, char *buf, size_t size)
{
    const struct cv_errlist_item *item = &list->items[i];
    if (item->path[0]) {
        snprintf(buf, size, "%s: %s", item->path, item->msg);
    } else {
        snprintf(buf, size, "%s", item->msg);
    }
    return buf;
}
