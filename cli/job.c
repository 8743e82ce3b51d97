/*
 * job: the `caravan job` subcommands: validate (offline), inspect, status,
 * stop, and the dispatch to run (job_run.c) and plan (job_plan.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/monitor.h"
#include "cli/table.h"
#include "common/buf.h"
#include "common/job.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"

static const char validate_usage[] =
    "Usage: caravan job validate [options] <file|->\n"
    "\n"
    "  Checks a job file in Nomad's JSON format (a job object, or {\"Job\": {...}})\n"
    "  without submitting it. \"-\" reads the job from standard input.\n"
    "  Prints every problem found, one per line, each naming its field.\n"
    "\n"
    "  Exit status: 0 when the job is valid, 1 when it is not or on a usage error.\n"
    "\n"
    "Options:\n"
    "  -h, -help    Show this help.\n";

/* A job file that does not start like JSON is most likely HCL. */
static void hint_if_not_json(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i])) {
        i++;
    }
    if (i < len && text[i] != '{' && text[i] != '[') {
        fprintf(stderr,
                "hint: Caravan reads jobs in JSON; convert HCL job files with "
                "`nomad job run -output FILE.hcl > FILE.json`\n");
    }
}

static int job_validate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(validate_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (argc >= 2 && argv[1][0] == '-' && argv[1][1] != '\0') {
        fprintf(stderr, "caravan job validate: unknown flag %s\n\n%s", argv[1], validate_usage);
        return CLI_EXIT_USAGE;
    }
    if (argc != 2) {
        fprintf(stderr, "caravan job validate: expected one job file or \"-\"\n\n%s",
                validate_usage);
        return CLI_EXIT_USAGE;
    }

    char *text = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    if (cli_read_input(argv[1], cv_json_default_limits.max_bytes, &text, &len, &err) != 0) {
        fprintf(stderr, "Error: %s\n", err.msg);
        return CLI_EXIT_FAILURE;
    }

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse(text, len, &job, &errs);
    if (rc == CV_EPARSE) {
        hint_if_not_json(text, len);
    }
    cv_free(text);
    if (rc == 0) {
        cv_job_free(job);
        cv_errlist_free(&errs);
        printf("Job validation successful\n");
        return CLI_EXIT_OK;
    }
    char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
    for (size_t i = 0; i < errs.len; i++) {
        fprintf(stderr, "%s\n", cv_errlist_format(&errs, i, line, sizeof line));
    }
    cv_errlist_free(&errs);
    return CLI_EXIT_FAILURE;
}

/* Resolves a job ID prefix and returns the escaped full ID (cv_free), or
 * NULL with the error printed. */
static char *resolve_job(const struct cli_ctx *ctx, const char *prefix)
{
    char id[512];
    if (cli_resolve_prefix(ctx, "job", "/v1/jobs", "/v1/job", prefix, id, sizeof id) != 0) {
        return NULL;
    }
    return cli_http_escape(id);
}

static const char inspect_usage[] =
    "Usage: caravan job inspect [options] <job>\n"
    "\n"
    "  Prints the registered job as JSON, as the API holds it (with its\n"
    "  defaults filled in). The job may be given by a unique ID prefix.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int job_inspect(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    int first =
        cli_parse_flags("caravan job inspect", inspect_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first != 1) {
        return cli_usage_error("caravan job inspect", inspect_usage, "expected one job ID");
    }
    char *esc = resolve_job(&ctx, argv[first]);
    if (!esc) {
        return CLI_EXIT_FAILURE;
    }
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/job/%s", esc);
    cv_free(esc);
    struct cli_reply r;
    int rc = cli_api_get(&ctx, "inspecting job", cv_buf_str(&path), &r);
    cv_buf_free(&path);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    /* Nomad prints {"Job": ...}, and the job alone with -json. */
    if (ctx.json) {
        rc = cli_print_json(r.root);
    } else {
        struct cv_jgen *g = cv_jgen_new(true);
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "Job");
        cv_jgen_value(g, r.root);
        cv_jgen_object_end(g);
        const char *text;
        size_t len;
        rc = cv_jgen_finish(g, &text, &len, NULL) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
        if (rc == CLI_EXIT_OK) {
            printf("%.*s\n", (int)len, text);
        }
        cv_jgen_free(g);
    }
    cli_reply_free(&r);
    return rc;
}

int cli_job_list(const struct cli_ctx *ctx)
{
    struct cli_reply r;
    if (cli_api_get(ctx, "querying jobs", "/v1/jobs", &r) != 0) {
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_OK;
    if (ctx->json) {
        rc = cli_print_json(r.root);
    } else if (cli_jlen(r.root) == 0) {
        printf("No running jobs\n");
    } else {
        struct cli_table *t = cli_table_new("  ");
        cli_table_addf(t, "ID|Type|Priority|Status|Submit Date");
        for (size_t i = 0; i < cli_jlen(r.root); i++) {
            const struct cv_json *j = r.root->u.array.items[i];
            char when[64];
            cli_table_addf(t, "%s|%s|%" PRId64 "|%s|%s", cli_jstr(j, "ID"), cli_jstr(j, "Type"),
                           cli_jint(j, "Priority"),
                           cli_jbool(j, "Stop") ? "dead (stopped)" : cli_jstr(j, "Status"),
                           cli_format_time(cli_jint(j, "SubmitTime"), when, sizeof when));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    cli_reply_free(&r);
    return rc;
}

static void print_placement_failures(const struct cv_json *eval)
{
    const struct cv_json *failed = cli_jget(eval, "FailedTGAllocs");
    const char *groups[256];
    size_t n = cli_sorted_keys(failed, groups, 256);
    printf("\nPlacement Failure\n");
    for (size_t i = 0; i < n; i++) {
        printf("Task Group \"%s\":\n", groups[i]);
        cli_print_alloc_metrics(stdout, cli_jget(failed, groups[i]), "  ");
        if (i + 1 < n) {
            printf("\n");
        }
    }
}

/* The sections after the job's own lines: summary, placement failures,
 * (evaluations with -evals), allocations. Returns an exit code. */
static int job_sections(const struct cli_ctx *ctx, const char *esc, bool all_allocs, bool evals)
{
    struct cli_reply sum, ev, al;
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/job/%s/summary", esc);
    int rc = cli_api_get(ctx, "querying job summary", cv_buf_str(&path), &sum);
    if (rc != 0) {
        goto out;
    }
    cv_buf_reset(&path);
    cv_buf_appendf(&path, "/v1/job/%s/evaluations", esc);
    rc = cli_api_get(ctx, "querying job evaluations", cv_buf_str(&path), &ev);
    if (rc != 0) {
        goto out_sum;
    }
    cv_buf_reset(&path);
    cv_buf_appendf(&path, "/v1/job/%s/allocations%s", esc, all_allocs ? "?all=true" : "");
    rc = cli_api_get(ctx, "querying job allocations", cv_buf_str(&path), &al);
    if (rc != 0) {
        goto out_ev;
    }

    const struct cv_json *groups = cli_jget(sum.root, "Summary");
    const char *names[256];
    size_t n = cli_sorted_keys(groups, names, 256);
    struct cli_table *t = cli_table_new("  ");
    cli_table_addf(t, "Task Group|Queued|Starting|Running|Failed|Complete|Lost|Unknown");
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *g = cli_jget(groups, names[i]);
        cli_table_addf(t,
                       "%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64
                       "|%" PRId64,
                       names[i], cli_jint(g, "Queued"), cli_jint(g, "Starting"),
                       cli_jint(g, "Running"), cli_jint(g, "Failed"), cli_jint(g, "Complete"),
                       cli_jint(g, "Lost"), cli_jint(g, "Unknown"));
    }
    printf("\nSummary\n");
    cli_table_print(t, stdout);
    cli_table_free(t);

    /* Nomad shows the newest evaluation with failures while one is blocked. */
    const struct cv_json *latest_failed = NULL;
    bool blocked = false;
    for (size_t i = 0; i < cli_jlen(ev.root); i++) {
        const struct cv_json *e = ev.root->u.array.items[i];
        if (cli_jlen(cli_jget(e, "FailedTGAllocs")) &&
            (!latest_failed ||
             cli_jint(latest_failed, "CreateIndex") < cli_jint(e, "CreateIndex"))) {
            latest_failed = e;
        }
        blocked = blocked || strcmp(cli_jstr(e, "Status"), "blocked") == 0;
    }
    if (blocked && latest_failed) {
        print_placement_failures(latest_failed);
    }
    char a[64], b[64];
    if (evals) {
        printf("\nEvaluations\n");
        t = cli_table_new("  ");
        cli_table_addf(t, "ID|Priority|Triggered By|Status|Placement Failures");
        for (size_t i = 0; i < cli_jlen(ev.root); i++) {
            const struct cv_json *e = ev.root->u.array.items[i];
            cli_table_addf(t, "%s|%" PRId64 "|%s|%s|%s", cli_short_id(ctx, cli_jstr(e, "ID"), a),
                           cli_jint(e, "Priority"), cli_jstr(e, "TriggeredBy"),
                           cli_jstr(e, "Status"),
                           cli_jlen(cli_jget(e, "FailedTGAllocs")) ? "true" : "false");
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }

    printf("\nAllocations\n");
    if (cli_jlen(al.root) == 0) {
        printf("No allocations placed\n");
    } else {
        t = cli_table_new("  ");
        cli_table_addf(t, "ID|Node ID|Task Group|Version|Desired|Status|Created|Modified");
        for (size_t i = 0; i < cli_jlen(al.root); i++) {
            const struct cv_json *x = al.root->u.array.items[i];
            char created[64], modified[64];
            cli_table_addf(t, "%s|%s|%s|%" PRId64 "|%s|%s|%s|%s",
                           cli_short_id(ctx, cli_jstr(x, "ID"), a),
                           cli_short_id(ctx, cli_jstr(x, "NodeID"), b), cli_jstr(x, "TaskGroup"),
                           cli_jint(x, "JobVersion"), cli_jstr(x, "DesiredStatus"),
                           cli_jstr(x, "ClientStatus"),
                           cli_format_ago(cli_jint(x, "CreateTime"), created, sizeof created),
                           cli_format_ago(cli_jint(x, "ModifyTime"), modified, sizeof modified));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    cli_reply_free(&al);
out_ev:
    cli_reply_free(&ev);
out_sum:
    cli_reply_free(&sum);
out:
    cv_buf_free(&path);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static const char status_usage[] =
    "Usage: caravan job status [options] [job]\n"
    "\n"
    "  Without a job, lists every job. With one (a unique ID prefix is enough),\n"
    "  prints the job, its task groups' summary, the reasons of placement\n"
    "  failures while an evaluation is blocked, and its allocations.\n"
    "\n"
    "Status Options:\n"
    "  -all-allocs  Show the allocations of the job's older versions too.\n"
    "  -evals       Show the job's evaluations.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

int cli_job_status(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool all_allocs = false, evals = false;
    const struct cli_flag flags[] = {
        {"all-allocs", CLI_FLAG_BOOL, &all_allocs},
        {"evals", CLI_FLAG_BOOL, &evals},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    int code;
    int first = cli_parse_flags("caravan job status", status_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first > 1) {
        return cli_usage_error("caravan job status", status_usage, "expected at most one job ID");
    }
    if (argc == first) {
        return cli_job_list(&ctx);
    }
    char *esc = resolve_job(&ctx, argv[first]);
    if (!esc) {
        return CLI_EXIT_FAILURE;
    }
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/job/%s", esc);
    struct cli_reply r;
    int rc = cli_api_get(&ctx, "querying job", cv_buf_str(&path), &r);
    cv_buf_free(&path);
    if (rc != 0) {
        cv_free(esc);
        return CLI_EXIT_FAILURE;
    }
    if (ctx.json) {
        rc = cli_print_json(r.root);
        cli_reply_free(&r);
        cv_free(esc);
        return rc;
    }
    const struct cv_json *j = r.root;
    struct cv_buf dcs = CV_BUF_INIT;
    const struct cv_json *dc = cli_jget(j, "Datacenters");
    for (size_t i = 0; dc && dc->type == CV_JSON_ARRAY && i < dc->u.array.len; i++) {
        if (dc->u.array.items[i]->type == CV_JSON_STRING) {
            cv_buf_appendf(&dcs, "%s%s", i ? "," : "", dc->u.array.items[i]->u.string.ptr);
        }
    }
    char when[64];
    struct cli_table *t = cli_table_new(" = ");
    cli_table_addf(t, "ID|%s", cli_jstr(j, "ID"));
    cli_table_addf(t, "Name|%s", cli_jstr(j, "Name"));
    cli_table_addf(t, "Submit Date|%s",
                   cli_format_time(cli_jint(j, "SubmitTime"), when, sizeof when));
    cli_table_addf(t, "Type|%s", cli_jstr(j, "Type"));
    cli_table_addf(t, "Priority|%" PRId64, cli_jint(j, "Priority"));
    cli_table_addf(t, "Datacenters|%s", cv_buf_str(&dcs));
    cli_table_addf(t, "Namespace|%s", cli_jstr(j, "Namespace"));
    cli_table_addf(t, "Node Pool|%s", cli_jstr(j, "NodePool"));
    cli_table_addf(t, "Status|%s", cli_jbool(j, "Stop") ? "dead (stopped)" : cli_jstr(j, "Status"));
    cli_table_addf(t, "Periodic|false");
    cli_table_addf(t, "Parameterized|false");
    cli_table_print(t, stdout);
    cli_table_free(t);
    cv_buf_free(&dcs);
    cli_reply_free(&r);
    rc = job_sections(&ctx, esc, all_allocs, evals);
    cv_free(esc);
    return rc;
}

static const char stop_usage[] =
    "Usage: caravan job stop [options] <job>\n"
    "\n"
    "  Stops the job (a unique ID prefix is enough) and follows the evaluation\n"
    "  that stops its allocations.\n"
    "\n"
    "  Exit status: 0 when the evaluation completed (or with -detach), 1 on an\n"
    "  error.\n"
    "\n"
    "Stop Options:\n"
    "  -detach               Print the evaluation ID and exit, without monitoring.\n"
    "  -purge                Delete the job and its versions instead of marking it\n"
    "                        stopped.\n"
    "  -monitor-timeout=<d>  Give up monitoring after <d> (default 5m).\n"
    "  -yes                  Accepted for Nomad's scripts; nothing is asked.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

int cli_job_stop(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool detach = false, purge = false, yes = false;
    int64_t timeout = CLI_MONITOR_TIMEOUT_NS;
    const struct cli_flag flags[] = {
        {"detach", CLI_FLAG_BOOL, &detach}, {"purge", CLI_FLAG_BOOL, &purge},
        {"yes", CLI_FLAG_BOOL, &yes},       {"monitor-timeout", CLI_FLAG_DURATION, &timeout},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    int code;
    int first = cli_parse_flags("caravan job stop", stop_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    (void)yes;
    if (argc - first != 1) {
        return cli_usage_error("caravan job stop", stop_usage, "expected one job ID");
    }
    char *esc = resolve_job(&ctx, argv[first]);
    if (!esc) {
        return CLI_EXIT_FAILURE;
    }
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/job/%s%s", esc, purge ? "?purge=true" : "");
    cv_free(esc);
    struct cli_reply r;
    int rc = cli_api_call(&ctx, "deregistering job", "DELETE", cv_buf_str(&path), NULL, &r);
    cv_buf_free(&path);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (ctx.json) {
        rc = cli_print_json(r.root);
        cli_reply_free(&r);
        return rc;
    }
    char eval_id[128];
    snprintf(eval_id, sizeof eval_id, "%s", cli_jstr(r.root, "EvalID"));
    cli_reply_free(&r);
    if (detach || !eval_id[0]) {
        printf("%s\n", eval_id);
        return CLI_EXIT_OK;
    }
    rc = cli_monitor_eval(&ctx, eval_id, timeout);
    /* Stopping places nothing: only an error or a timeout is a failure. */
    return rc == CLI_EXIT_PLACEMENT ? CLI_EXIT_OK : rc;
}

static const struct cli_command job_commands[] = {
    {"inspect", "Print a registered job as JSON", job_inspect},
    {"plan", "Dry-run a job file: what would change, and would it fit", cli_job_plan},
    {"run", "Register a job file and follow its evaluation", cli_job_run},
    {"status", "List jobs, or show one job's status and allocations", cli_job_status},
    {"stop", "Stop a job and follow its evaluation", cli_job_stop},
    {"validate", "Check a job file without submitting it", job_validate},
    {NULL, NULL, NULL},
};

static const char job_usage[] =
    "Usage: caravan job <subcommand> [options] [args]\n"
    "\n"
    "  Work with jobs.\n";

int cli_job(int argc, char **argv)
{
    return cli_dispatch("caravan job", job_usage, job_commands, argc, argv);
}
