/*
 * alloc_eval: `caravan alloc status` and `caravan eval status`.
 *
 * Both take an ID or a unique prefix of at least two characters, resolved
 * with the list endpoints' ?prefix=, and print Nomad's key = value block
 * followed by the object's details: an allocation's task states and recent
 * events, an evaluation's placed allocations and failed placements.
 * (`alloc logs` is in alloc_logs.c.)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/table.h"
#include "common/buf.h"
#include "common/mem.h"

static const char *or_none(const char *s)
{
    return s && s[0] ? s : "<none>";
}

/* GETs <base>/<full id>[suffix] after resolving the prefix through list. */
static int get_by_prefix(const struct cli_ctx *ctx, const char *noun, const char *list,
                         const char *base, const char *prefix, const char *what,
                         struct cli_reply *out)
{
    char id[128];
    if (cli_resolve_prefix(ctx, noun, list, base, prefix, id, sizeof id) != 0) {
        return -1;
    }
    char *esc = cli_http_escape(id);
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "%s/%s", base, esc);
    cv_free(esc);
    int rc = cli_api_get(ctx, what, cv_buf_str(&path), out);
    cv_buf_free(&path);
    return rc;
}

static void task_states(const struct cv_json *states)
{
    const char *names[128];
    size_t n = cli_sorted_keys(states, names, 128);
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *ts = cli_jget(states, names[i]);
        printf("\nTask \"%s\" is \"%s\"\n", names[i], cli_jstr(ts, "State"));
        const struct cv_json *events = cli_jget(ts, "Events");
        size_t ne = cli_jlen(events);
        if (ne == 0) {
            continue;
        }
        printf("Recent Events:\n");
        struct cli_table *t = cli_table_new("  ");
        cli_table_addf(t, "Time|Type|Description");
        /* newest first, at most ten, as Nomad */
        for (size_t k = 0; k < ne && k < 10; k++) {
            const struct cv_json *e = events->u.array.items[ne - 1 - k];
            char when[64];
            const char *msg = cli_jstr(e, "DisplayMessage");
            cli_table_addf(t, "%s|%s|%s", cli_format_time(cli_jint(e, "Time"), when, sizeof when),
                           cli_jstr(e, "Type"), msg[0] ? msg : cli_jstr(e, "Message"));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
}

static const char alloc_status_usage[] =
    "Usage: caravan alloc status [options] <allocation>\n"
    "\n"
    "  Prints an allocation (an ID or a unique prefix of two or more characters):\n"
    "  where it runs, its desired and client status, and each task's state and\n"
    "  recent events.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int alloc_status(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    const char *prefix = "caravan alloc status";
    int first = cli_parse_flags(prefix, alloc_status_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first != 1) {
        return cli_usage_error(prefix, alloc_status_usage, "expected one allocation ID");
    }
    struct cli_reply r;
    if (get_by_prefix(&ctx, "allocation", "/v1/allocations", "/v1/allocation", argv[first],
                      "querying allocation", &r) != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (ctx.json) {
        int rc = cli_print_json(r.root);
        cli_reply_free(&r);
        return rc;
    }
    const struct cv_json *a = r.root;
    char i1[64], i2[64], i3[64], c[64], m[64];
    struct cli_table *t = cli_table_new(" = ");
    cli_table_addf(t, "ID|%s", cli_short_id(&ctx, cli_jstr(a, "ID"), i1));
    cli_table_addf(t, "Eval ID|%s", cli_short_id(&ctx, cli_jstr(a, "EvalID"), i2));
    cli_table_addf(t, "Name|%s", cli_jstr(a, "Name"));
    cli_table_addf(t, "Node ID|%s", cli_short_id(&ctx, cli_jstr(a, "NodeID"), i3));
    cli_table_addf(t, "Node Name|%s", or_none(cli_jstr(a, "NodeName")));
    cli_table_addf(t, "Job ID|%s", cli_jstr(a, "JobID"));
    cli_table_addf(t, "Job Version|%" PRId64, cli_jint(cli_jget(a, "Job"), "Version"));
    cli_table_addf(t, "Client Status|%s", cli_jstr(a, "ClientStatus"));
    cli_table_addf(t, "Client Description|%s", or_none(cli_jstr(a, "ClientDescription")));
    cli_table_addf(t, "Desired Status|%s", cli_jstr(a, "DesiredStatus"));
    cli_table_addf(t, "Desired Description|%s", or_none(cli_jstr(a, "DesiredDescription")));
    cli_table_addf(t, "Created|%s", cli_format_ago(cli_jint(a, "CreateTime"), c, sizeof c));
    cli_table_addf(t, "Modified|%s", cli_format_ago(cli_jint(a, "ModifyTime"), m, sizeof m));
    cli_table_print(t, stdout);
    cli_table_free(t);
    task_states(cli_jget(a, "TaskStates"));
    cli_reply_free(&r);
    return CLI_EXIT_OK;
}

static const char eval_status_usage[] =
    "Usage: caravan eval status [options] <evaluation>\n"
    "\n"
    "  Prints an evaluation (an ID or a unique prefix of two or more characters):\n"
    "  what triggered it, its status, the evaluations chained to it, the\n"
    "  allocations it placed and, when some could not be placed, why.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int eval_status(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    const char *prefix = "caravan eval status";
    int first = cli_parse_flags(prefix, eval_status_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first != 1) {
        return cli_usage_error(prefix, eval_status_usage, "expected one evaluation ID");
    }
    struct cli_reply r;
    if (get_by_prefix(&ctx, "evaluation", "/v1/evaluations", "/v1/evaluation", argv[first],
                      "querying evaluation", &r) != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (ctx.json) {
        int rc = cli_print_json(r.root);
        cli_reply_free(&r);
        return rc;
    }
    const struct cv_json *e = r.root;
    struct cli_reply al;
    char *esc = cli_http_escape(cli_jstr(e, "ID"));
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/evaluation/%s/allocations", esc);
    cv_free(esc);
    int rc = cli_api_get(&ctx, "querying evaluation allocations", cv_buf_str(&path), &al);
    cv_buf_free(&path);
    if (rc != 0) {
        cli_reply_free(&r);
        return CLI_EXIT_FAILURE;
    }
    const struct cv_json *failed = cli_jget(e, "FailedTGAllocs");
    char i1[64], i2[64], i3[64], i4[64], ct[64], mt[64];
    struct cli_table *t = cli_table_new(" = ");
    cli_table_addf(t, "ID|%s", cli_short_id(&ctx, cli_jstr(e, "ID"), i1));
    cli_table_addf(t, "Create Time|%s", cli_format_time(cli_jint(e, "CreateTime"), ct, sizeof ct));
    cli_table_addf(t, "Modify Time|%s", cli_format_time(cli_jint(e, "ModifyTime"), mt, sizeof mt));
    cli_table_addf(t, "Status|%s", cli_jstr(e, "Status"));
    cli_table_addf(t, "Status Description|%s", or_none(cli_jstr(e, "StatusDescription")));
    cli_table_addf(t, "Type|%s", cli_jstr(e, "Type"));
    cli_table_addf(t, "TriggeredBy|%s", cli_jstr(e, "TriggeredBy"));
    if (cli_jstr(e, "NodeID")[0]) {
        cli_table_addf(t, "Node ID|%s", cli_short_id(&ctx, cli_jstr(e, "NodeID"), i2));
    } else {
        cli_table_addf(t, "Job ID|%s", cli_jstr(e, "JobID"));
    }
    cli_table_addf(t, "Namespace|%s", cli_jstr(e, "Namespace"));
    cli_table_addf(t, "Priority|%" PRId64, cli_jint(e, "Priority"));
    cli_table_addf(t, "Placement Failures|%s", cli_jlen(failed) ? "true" : "false");
    cli_table_addf(t, "Previous Eval|%s",
                   or_none(cli_short_id(&ctx, cli_jstr(e, "PreviousEval"), i2)));
    cli_table_addf(t, "Next Eval|%s", or_none(cli_short_id(&ctx, cli_jstr(e, "NextEval"), i3)));
    cli_table_addf(t, "Blocked Eval|%s",
                   or_none(cli_short_id(&ctx, cli_jstr(e, "BlockedEval"), i4)));
    cli_table_print(t, stdout);
    cli_table_free(t);

    if (cli_jlen(al.root)) {
        printf("\nPlaced Allocations\n");
        t = cli_table_new("  ");
        cli_table_addf(t, "ID|Node ID|Task Group|Desired|Status|Created");
        for (size_t i = 0; i < cli_jlen(al.root); i++) {
            const struct cv_json *x = al.root->u.array.items[i];
            char created[64];
            cli_table_addf(t, "%s|%s|%s|%s|%s|%s", cli_short_id(&ctx, cli_jstr(x, "ID"), i1),
                           cli_short_id(&ctx, cli_jstr(x, "NodeID"), i2), cli_jstr(x, "TaskGroup"),
                           cli_jstr(x, "DesiredStatus"), cli_jstr(x, "ClientStatus"),
                           cli_format_ago(cli_jint(x, "CreateTime"), created, sizeof created));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    if (cli_jlen(failed)) {
        printf("\nFailed Placements\n");
        const char *groups[256];
        size_t n = cli_sorted_keys(failed, groups, 256);
        for (size_t i = 0; i < n; i++) {
            const struct cv_json *metric = cli_jget(failed, groups[i]);
            int64_t c = cli_jint(metric, "CoalescedFailures") + 1;
            printf("Task Group \"%s\" (failed to place %" PRId64 " allocation%s):\n", groups[i], c,
                   c > 1 ? "s" : "");
            cli_print_alloc_metrics(stdout, metric, "  ");
            printf("\n");
        }
        if (cli_jstr(e, "BlockedEval")[0]) {
            printf("Evaluation \"%s\" waiting for additional capacity to place remainder\n",
                   cli_short_id(&ctx, cli_jstr(e, "BlockedEval"), i1));
        }
    }
    cli_reply_free(&al);
    cli_reply_free(&r);
    return CLI_EXIT_OK;
}

static const struct cli_command alloc_commands[] = {
    {"status", "Show an allocation and its tasks", alloc_status},
    {"logs", "Print a task's stdout or stderr", cli_alloc_logs},
    {NULL, NULL, NULL},
};

static const char alloc_usage[] =
    "Usage: caravan alloc <subcommand> [options] [args]\n"
    "\n"
    "  Work with allocations.\n";

int cli_alloc(int argc, char **argv)
{
    return cli_dispatch("caravan alloc", alloc_usage, alloc_commands, argc, argv);
}

static const struct cli_command eval_commands[] = {
    {"status", "Show an evaluation and its placement failures", eval_status},
    {NULL, NULL, NULL},
};

static const char eval_usage[] =
    "Usage: caravan eval <subcommand> [options] [args]\n"
    "\n"
    "  Work with evaluations.\n";

int cli_eval(int argc, char **argv)
{
    return cli_dispatch("caravan eval", eval_usage, eval_commands, argc, argv);
}
