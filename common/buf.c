/*
 * buf: growable byte buffer, doubling its capacity as it grows.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"

void cv_buf_init(struct cv_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cv_buf_free(struct cv_buf *b)
{
    cv_free(b->data);
    cv_buf_init(b);
}

void cv_buf_reset(struct cv_buf *b)
{
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

void cv_buf_reserve(struct cv_buf *b, size_t extra)
{
    if (extra >= SIZE_MAX - b->len) {
        cv_reallocarray(NULL, SIZE_MAX, 2); /* aborts: the size cannot exist */
    }
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    b->data = cv_realloc(b->data, cap);
    b->cap = cap;
}

void cv_buf_append(struct cv_buf *b, const void *data, size_t len)
{
    cv_buf_reserve(b, len);
    if (len) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
}

void cv_buf_append_str(struct cv_buf *b, const char *s)
{
    cv_buf_append(b, s, strlen(s));
}

void cv_buf_append_char(struct cv_buf *b, char c)
{
    cv_buf_append(b, &c, 1);
}

void cv_buf_appendf(struct cv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    cv_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cv_buf_truncate(struct cv_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

char *cv_buf_take(struct cv_buf *b)
{
    char *s = b->data ? b->data : cv_strdup("");
    cv_buf_init(b);
    return s;
}

const char *cv_buf_str(const struct cv_buf *b)
{
    return b->data ? b->data : "";
}
