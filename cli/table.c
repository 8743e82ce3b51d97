/*
 * table: aligned columns (see table.h). Cells are kept as the rows' text
 * split in place; widths are computed when printed.
 */
#include "cli/table.h"

#include <stdarg.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

struct cli_table
{
    const char *glue;
    char **rows; /* each a NUL-terminated "a|b|c" */
    size_t n, cap;
};

struct cli_table *cli_table_new(const char *glue)
{
    struct cli_table *t = cv_calloc(1, sizeof *t);
    t->glue = glue;
    return t;
}

void cli_table_free(struct cli_table *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        cv_free(t->rows[i]);
    }
    cv_free(t->rows);
    cv_free(t);
}

void cli_table_addf(struct cli_table *t, const char *fmt, ...)
{
    struct cv_buf b = CV_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        cv_buf_append(&b, small, (size_t)n);
    } else if (n >= 0) {
        char *big = cv_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        cv_buf_append(&b, big, (size_t)n);
        cv_free(big);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->rows = cv_reallocarray(t->rows, t->cap, sizeof t->rows[0]);
    }
    t->rows[t->n++] = cv_buf_take(&b);
}

size_t cli_table_rows(const struct cli_table *t)
{
    return t->n;
}

/* Display width of `len` bytes of UTF-8: continuation bytes take no column. */
static size_t width(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
    size_t ncols = 0;
    for (size_t r = 0; r < t->n; r++) {
        size_t c = 1;
        for (const char *p = t->rows[r]; *p; p++) {
            c += *p == '|';
        }
        ncols = c > ncols ? c : ncols;
    }
    size_t *widths = cv_calloc(ncols ? ncols : 1, sizeof *widths);
    for (size_t r = 0; r < t->n; r++) {
        const char *cell = t->rows[r];
        for (size_t c = 0;; c++) {
            size_t len = strcspn(cell, "|");
            size_t w = width(cell, len);
            widths[c] = w > widths[c] ? w : widths[c];
            if (cell[len] == '\0') {
                break;
            }
            cell += len + 1;
        }
    }
    for (size_t r = 0; r < t->n; r++) {
        const char *cell = t->rows[r];
        for (size_t c = 0;; c++) {
            size_t len = strcspn(cell, "|");
            fwrite(cell, 1, len, out);
            if (cell[len] == '\0') {
                break;
            }
            for (size_t pad = width(cell, len); pad < widths[c]; pad++) {
                fputc(' ', out);
            }
            fputs(t->glue, out);
            cell += len + 1;
        }
        fputc('\n', out);
    }
    cv_free(widths);
}
