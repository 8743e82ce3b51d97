/*
 * cli: what the caravan command's subcommands share: the command table,
 * flag parsing (each command's own flags and the global ones), the
 * connection settings, and reading a job file.
 *
 * Exit codes, as Nomad's CLI: 0 success, 1 a failure of the operation
 * (invalid job, unreachable server, an error answer) or a usage error,
 * 2 placements that failed (`job run`), and for `job plan` 1 when changes
 * would be made, 255 on an error.
 *
 * The other shared pieces have headers of their own: http.h (the blocking
 * HTTP client), api.h (requests with one-line errors, JSON access and
 * formatting), table.h (aligned columns), monitor.h (following an
 * evaluation).
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

enum
{
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,
    CLI_EXIT_USAGE = 1,
    CLI_EXIT_PLACEMENT = 2, /* job run: the evaluation failed to place allocations */
    CLI_EXIT_PLAN_ERROR = 255,
};

#define CLI_DEFAULT_ADDRESS "http://127.0.0.1:4646"

struct cli_command
{
    const char *name;
    const char *synopsis; /* one line for the parent's usage */
    int (*run)(int argc, char **argv);
};

/* Where and how a command talks to a server; filled by cli_parse_flags
 * from the environment (CARAVAN_ADDR, CARAVAN_REGION, CARAVAN_TOKEN), then
 * the flags, which win. Strings are borrowed from argv or the environment. */
struct cli_ctx
{
    const char *address; /* "http://127.0.0.1:4646" */
    const char *region;  /* NULL: the server's own */
    const char *token;   /* NULL: none */
    bool json;           /* -json: print the API's JSON */
    bool verbose;        /* -verbose: full IDs */
    /* Parsed from address by cli_parse_flags. */
    char host[256];
    int port;
};

enum cli_flag_kind
{
    CLI_FLAG_BOOL,     /* bool *: "-x", "-x=true", "-x=false" */
    CLI_FLAG_STRING,   /* const char **: "-x v", "-x=v" */
    CLI_FLAG_INT,      /* int64_t *: a decimal integer */
    CLI_FLAG_DURATION, /* int64_t * nanoseconds: a Go duration ("90s", "1h30m") */
};

struct cli_flag
{
    const char *name; /* without the dash */
    enum cli_flag_kind kind;
    void *value;
};

/* Help text for the flags every command that talks to a server takes. */
#define CLI_GLOBAL_OPTIONS_HELP                                             \
    "General Options:\n"                                                    \
    "  -address=<addr>  The server's HTTP API (env CARAVAN_ADDR; default\n" \
    "                   " CLI_DEFAULT_ADDRESS                               \
    ").\n"                                                                  \
    "  -region=<region> The region to ask (env CARAVAN_REGION).\n"          \
    "  -token=<token>   Sent as X-Nomad-Token (env CARAVAN_TOKEN).\n"       \
    "  -json            Print the API's JSON answer, indented.\n"           \
    "  -verbose         Print full IDs.\n"                                  \
    "  -h, -help        Show this help.\n"

/* True when argv[1..] holds a help flag (-h, -help, --help). */
int cli_wants_help(int argc, char **argv);

/* Runs the subcommand named by argv[1] from `commands` (NULL-terminated).
 * `prefix` ("caravan job") and `usage` are printed for help or a bad name. */
int cli_dispatch(const char *prefix, const char *usage, const struct cli_command *commands,
                 int argc, char **argv);

/* Parses the flags of argv[1..] (argv[0] is the command's name): those of
 * `flags` (a NULL-name-terminated table; may be NULL) and, when ctx is not
 * NULL, the global ones into *ctx (set up from the environment first).
 * Flags come before the arguments, as in Go's flag package: "-x v",
 * "-x=v", "--x"; "--" ends them. Returns the index in argv of the first
 * argument (argc when none). On -h it prints `usage` to stdout and returns
 * -1 with *exit_code 0; on a bad flag or address it prints one line and
 * the usage to stderr and returns -1 with *exit_code CLI_EXIT_USAGE. */
int cli_parse_flags(const char *prefix, const char *usage, const struct cli_flag *flags,
                    struct cli_ctx *ctx, int argc, char **argv, int *exit_code);

/* Prints "<prefix>: <msg>\n\n<usage>" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *prefix, const char *usage, const char *msg);

/* Parses a Go duration ("300ms", "1h30m", "0") into nanoseconds. Returns
 * 0 or CV_EINVAL. */
int cli_parse_duration(const char *text, int64_t *out_ns);

/* Reads a whole file, or standard input for "-", up to max_bytes. On
 * success returns 0 and *out is a new buffer (NUL-terminated) the caller
 * frees with cv_free. Fails with CV_EIO or CV_ETOOBIG and err filled. */
int cli_read_input(const char *path, size_t max_bytes, char **out, size_t *len, struct cv_err *err);

/* Subcommand groups and top-level commands. */
int cli_job(int argc, char **argv);
int cli_node(int argc, char **argv);
int cli_alloc(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_server(int argc, char **argv);
int cli_operator(int argc, char **argv);
int cli_status(int argc, char **argv);

/* Subcommands in files of their own (job_run.c, job_plan.c, job.c). */
int cli_job_run(int argc, char **argv);
int cli_job_plan(int argc, char **argv);
int cli_job_stop(int argc, char **argv);
int cli_job_status(int argc, char **argv);
int cli_alloc_logs(int argc, char **argv);
/* The job list (`job status` and `status` without an ID). */
int cli_job_list(const struct cli_ctx *ctx);

#endif
