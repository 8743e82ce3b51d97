/*
 * api: what the commands do with the server's answers: requests that
 * print one error line on failure, JSON field access that tolerates
 * missing members, ID prefixes, and Nomad's ways of printing IDs, times
 * and placement metrics.
 *
 * Every error a command meets while talking to a server is printed here,
 * once, as "Error <doing what>: <why>" on stderr: the caller only returns
 * its exit code. That keeps "one clear line" true for every command.
 */
#ifndef CV_CLI_API_H
#define CV_CLI_API_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/json.h"

/* Timeout of a request that does not block on the server. */
#define CLI_API_TIMEOUT_MS 60000

struct cli_reply
{
    int status;
    uint64_t index; /* X-Nomad-Index */
    struct cv_json_doc *doc;
    const struct cv_json *root; /* the answer's JSON; NULL when it was not JSON */
    char *body;                 /* the raw answer */
};

/* Makes a request and parses its JSON answer into *out. On success (a 2xx
 * whose body is JSON) returns 0. Otherwise prints "Error <what>: <reason>"
 * (connection failure, "Unexpected response code: 404 (job not found)" or
 * a bad answer) on stderr and returns -1; out needs no freeing then. */
int cli_api_call(const struct cli_ctx *ctx, const char *what, const char *method, const char *path,
                 const char *body, struct cli_reply *out);
int cli_api_get(const struct cli_ctx *ctx, const char *what, const char *path,
                struct cli_reply *out);
/* A GET that blocks on the server until the answer's index passes `index`
 * or `wait_ms` pass ("?index=N&wait=Dms" is appended). */
int cli_api_block(const struct cli_ctx *ctx, const char *what, const char *path, uint64_t index,
                  int wait_ms, struct cli_reply *out);
void cli_reply_free(struct cli_reply *r);

/* Prints v indented on stdout (what -json prints). Returns an exit code. */
int cli_print_json(const struct cv_json *v);

/* Member access: NULL when obj is not an object or lacks the member. */
const struct cv_json *cli_jget(const struct cv_json *obj, const char *key);
/* A string member, or "" when absent or not a string. */
const char *cli_jstr(const struct cv_json *obj, const char *key);
/* An integer member, or 0. */
int64_t cli_jint(const struct cv_json *obj, const char *key);
bool cli_jbool(const struct cv_json *obj, const char *key);
/* The number of members of an object or items of an array (0 otherwise). */
size_t cli_jlen(const struct cv_json *v);

/* The first 8 characters of an ID, or all of it with ctx->verbose, in buf
 * (which must hold 64 bytes); returns buf. */
const char *cli_short_id(const struct cli_ctx *ctx, const char *id, char *buf);
/* Nomad's formatTime: local time as 2006-01-02T15:04:05Z07:00, "" for 0. */
const char *cli_format_time(int64_t unix_ns, char *buf, size_t size);
/* The time now, as cli_format_time. */
const char *cli_now(char *buf, size_t size);
/* Nomad's prettyTimeDiff: "5s ago", "3m12s ago", "2h5m ago", "4d2h ago". */
const char *cli_format_ago(int64_t unix_ns, char *buf, size_t size);

/* Looks up the single object whose ID starts with `prefix` in the list at
 * list_path ("/v1/allocations"), Nomad's way: an exact match wins, one
 * match is taken, several are listed and refused. When nothing matches,
 * <object_path>/<prefix> ("/v1/allocation/...") is asked for, so the error
 * printed is the server's ("404 (alloc not found)"). On success copies the
 * full ID into id (size bytes) and returns 0; otherwise prints the error
 * and returns -1. `noun` is "allocation", "evaluation", "node", "job". */
int cli_resolve_prefix(const struct cli_ctx *ctx, const char *noun, const char *list_path,
                       const char *object_path, const char *prefix, char *id, size_t size);

/* Prints an AllocationMetric as Nomad's formatAllocMetrics: one
 * "<indent>* reason" line per filter and exhaustion cause. */
void cli_print_alloc_metrics(FILE *out, const struct cv_json *metric, const char *indent);

/* Task groups of a FailedTGAllocs object, sorted by name: fills names
 * (up to max) and returns how many there are. */
size_t cli_sorted_keys(const struct cv_json *obj, const char **names, size_t max);

#endif
