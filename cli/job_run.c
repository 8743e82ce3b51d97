/*
 * job_run: `caravan job run` (register a job file, then follow its
 * evaluation) and the reading of job files it shares with `job plan`.
 *
 * A job file is JSON in Nomad's API shape, a job object or {"Job": {...}},
 * as `job validate` reads it. It is sent as read: the server decodes,
 * defaults and validates it, and its 400 lists every problem.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/job_file.h"
#include "cli/monitor.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"

int cli_job_file_body(const char *path, const struct cli_job_req *req, char **body, char *id,
                      size_t id_size, char *type, size_t type_size)
{
    char *text = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    if (cli_read_input(path, cv_json_default_limits.max_bytes, &text, &len, &err) != 0) {
        fprintf(stderr, "Error: %s\n", err.msg);
        return -1;
    }
    struct cv_json_doc *doc = NULL;
    if (cv_json_parse(text, len, NULL, &doc, &err) != 0) {
        size_t i = strspn(text, " \t\r\n");
        fprintf(stderr, "Error parsing job file %s: %s%s\n", path, err.msg,
                i < len && text[i] != '{' && text[i] != '['
                    ? " (Caravan reads jobs in JSON; convert HCL with `nomad job run -output`)"
                    : "");
        cv_free(text);
        return -1;
    }
    cv_free(text);
    const struct cv_json *root = cv_json_doc_root(doc);
    const struct cv_json *job = cli_jget(root, "Job");
    if (!job) {
        job = root;
    }
    if (job->type != CV_JSON_OBJECT) {
        fprintf(stderr, "Error parsing job file %s: expected a job object, not %s\n", path,
                cv_json_type_name(job->type));
        cv_json_doc_free(doc);
        return -1;
    }
    const char *job_id = cli_jstr(job, "ID");
    if (!job_id[0]) {
        fprintf(stderr, "Error parsing job file %s: the job has no ID\n", path);
        cv_json_doc_free(doc);
        return -1;
    }
    snprintf(id, id_size, "%s", job_id);
    snprintf(type, type_size, "%s", cli_jstr(job, "Type")[0] ? cli_jstr(job, "Type") : "service");

    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Job");
    cv_jgen_value(g, job);
    if (req->diff) {
        cv_jgen_key(g, "Diff");
        cv_jgen_bool(g, true);
    }
    if (req->enforce_index) {
        cv_jgen_key(g, "EnforceIndex");
        cv_jgen_bool(g, true);
        cv_jgen_key(g, "JobModifyIndex");
        cv_jgen_uint(g, req->job_modify_index);
    }
    if (req->preserve_counts) {
        cv_jgen_key(g, "PreserveCounts");
        cv_jgen_bool(g, true);
    }
    if (req->eval_priority) {
        cv_jgen_key(g, "EvalPriority");
        cv_jgen_int(g, req->eval_priority);
    }
    cv_jgen_object_end(g);
    const char *out;
    size_t out_len;
    int rc = cv_jgen_finish(g, &out, &out_len, &err);
    if (rc == 0) {
        *body = cv_strndup(out, out_len);
    } else {
        fprintf(stderr, "Error encoding the job: %s\n", err.msg);
    }
    cv_jgen_free(g);
    cv_json_doc_free(doc);
    return rc == 0 ? 0 : -1;
}

static const char run_usage[] =
    "Usage: caravan job run [options] <file|->\n"
    "\n"
    "  Registers the job in a JSON job file (Nomad's API shape, as `job validate`\n"
    "  reads it) and follows the evaluation it creates until it finishes,\n"
    "  printing the allocations placed and, when some could not be, why.\n"
    "\n"
    "  Exit status: 0 when every allocation was placed (or with -detach),\n"
    "  2 when placements failed, 1 on any other error.\n"
    "\n"
    "Run Options:\n"
    "  -detach               Print the evaluation ID and exit, without monitoring.\n"
    "  -check-index=<index>  Register only if the job's modify index is <index>\n"
    "                        (0: only if the job does not exist); see `job plan`.\n"
    "  -eval-priority=<n>    Priority of the evaluation (1..100).\n"
    "  -preserve-counts      Keep the task groups' current counts.\n"
    "  -monitor-timeout=<d>  Give up monitoring after <d> (default 5m).\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

int cli_job_run(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool detach = false, preserve = false;
    /* INT64_MIN: no -check-index given. */
    int64_t check_index = INT64_MIN, priority = 0, timeout = CLI_MONITOR_TIMEOUT_NS;
    const struct cli_flag flags[] = {
        {"detach", CLI_FLAG_BOOL, &detach},
        {"check-index", CLI_FLAG_INT, &check_index},
        {"eval-priority", CLI_FLAG_INT, &priority},
        {"preserve-counts", CLI_FLAG_BOOL, &preserve},
        {"monitor-timeout", CLI_FLAG_DURATION, &timeout},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    int code;
    int first = cli_parse_flags("caravan job run", run_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first != 1) {
        return cli_usage_error("caravan job run", run_usage, "expected one job file or \"-\"");
    }
    if (check_index != INT64_MIN && check_index < 0) {
        return cli_usage_error("caravan job run", run_usage, "-check-index must not be negative");
    }
    struct cli_job_req req = {
        .enforce_index = check_index != INT64_MIN,
        .job_modify_index = check_index >= 0 ? (uint64_t)check_index : 0,
        .preserve_counts = preserve,
        .eval_priority = priority,
    };
    char *body = NULL, id[256], type[32];
    if (cli_job_file_body(argv[first], &req, &body, id, sizeof id, type, sizeof type) != 0) {
        return CLI_EXIT_FAILURE;
    }
    struct cli_reply r;
    int rc = cli_api_call(&ctx, "submitting job", "PUT", "/v1/jobs", body, &r);
    cv_free(body);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (ctx.json) {
        rc = cli_print_json(r.root);
        cli_reply_free(&r);
        return rc;
    }
    const char *warnings = cli_jstr(r.root, "Warnings");
    if (warnings[0]) {
        printf("Job Warnings:\n%s\n\n", warnings);
    }
    char eval_id[128];
    snprintf(eval_id, sizeof eval_id, "%s", cli_jstr(r.root, "EvalID"));
    cli_reply_free(&r);
    if (detach || !eval_id[0]) {
        printf("Job registration successful\n");
        if (eval_id[0]) {
            printf("Evaluation ID: %s\n", eval_id);
        }
        return CLI_EXIT_OK;
    }
    return cli_monitor_eval(&ctx, eval_id, timeout);
}
