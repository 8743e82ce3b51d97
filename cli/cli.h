/*
 * cli: what the caravan command's subcommands share: the command table
 * type, usage output and reading a job file.
 *
 * Exit codes, as Nomad's CLI: 0 success, 1 a failure of the operation
 * (invalid job, unreachable server), 2 a usage error.
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

enum
{
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,
    CLI_EXIT_USAGE = 2,
};

struct cli_command
{
    const char *name;
    const char *synopsis; /* one line for the parent's usage */
    int (*run)(int argc, char **argv);
};

/* True when argv[1] asks for help (-h, -help, --help). */
int cli_wants_help(int argc, char **argv);

/* Runs the subcommand named by argv[1] from `commands` (NULL-terminated).
 * `prefix` ("caravan job") and `usage` are printed for help or a bad name. */
int cli_dispatch(const char *prefix, const char *usage, const struct cli_command *commands,
                 int argc, char **argv);

/* Reads a whole file, or standard input for "-", up to max_bytes. On
 * success returns 0 and *out is a new buffer (NUL-terminated) the caller
 * frees with cv_free. Fails with CV_EIO or CV_ETOOBIG and err filled. */
int cli_read_input(const char *path, size_t max_bytes, char **out, size_t *len, struct cv_err *err);

/* Subcommand groups. */
int cli_job(int argc, char **argv);

#endif
