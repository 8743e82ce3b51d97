/*
 * buf: a growable byte buffer that is always NUL-terminated, so its
 * contents can be used as a C string when they are text.
 */
#ifndef CV_BUF_H
#define CV_BUF_H

#include <stddef.h>

struct cv_buf
{
    char *data; /* NULL until the first append; then data[len] == '\0' */
    size_t len;
    size_t cap;
};

#define CV_BUF_INIT \
    {               \
        NULL, 0, 0  \
    }

void cv_buf_init(struct cv_buf *b);
void cv_buf_free(struct cv_buf *b);
/* Empties the buffer, keeping its memory. */
void cv_buf_reset(struct cv_buf *b);
/* Makes room for `extra` more bytes beyond len. */
void cv_buf_reserve(struct cv_buf *b, size_t extra);
void cv_buf_append(struct cv_buf *b, const void *data, size_t len);
void cv_buf_append_str(struct cv_buf *b, const char *s);
void cv_buf_append_char(struct cv_buf *b, char c);
void cv_buf_appendf(struct cv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shrinks the contents to `len` bytes (len <= b->len). */
void cv_buf_truncate(struct cv_buf *b, size_t len);
/* Returns the contents (a new string the caller owns, never NULL) and
 * leaves the buffer empty. */
char *cv_buf_take(struct cv_buf *b);
/* Returns the contents as a string; "" when empty. Borrowed. */
const char *cv_buf_str(const struct cv_buf *b);

#endif
