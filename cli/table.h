/*
 * table: aligned columns for the caravan command's human output, as
 * Nomad's CLI prints them with columnize.
 *
 * Rows are added as one string with "|" between the cells (Nomad's
 * formatList and formatKV do the same); the table pads every column but
 * the last to its widest cell and glues cells with `glue`: "  " for a
 * list, " = " for key/value lines. A cell cannot contain "|".
 */
#ifndef CV_CLI_TABLE_H
#define CV_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct cli_table;

/* Returns a new, empty table; glue is borrowed and must outlive it. */
struct cli_table *cli_table_new(const char *glue);
void cli_table_free(struct cli_table *t);
/* Adds a row: printf-style text with "|" between the cells. */
void cli_table_addf(struct cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t cli_table_rows(const struct cli_table *t);
/* Prints the rows, each on its own line, to out. */
void cli_table_print(const struct cli_table *t, FILE *out);

#endif
