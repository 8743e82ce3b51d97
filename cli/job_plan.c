/*
 * job_plan: `caravan job plan`, a dry run of the scheduler for a job file.
 *
 * The plan reply's JobDiff is printed as Nomad's command/job_plan.go
 * prints it (without colours): a marker per level ("+" added, "-" deleted,
 * "+/-" edited), names and values aligned within their level, a group's
 * scheduler decisions in brackets ("(2 create, 1 in-place update)"), and
 * a job or group's fields only when it was edited (or with -verbose).
 * Then the dry run ("All tasks successfully allocated." or the groups that
 * would fail, with reasons) and the check-index hint.
 */
#include <inttypes.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/job_file.h"
#include "common/buf.h"
#include "common/mem.h"

static const char *marker(const char *type, size_t *len)
{
    if (strcmp(type, "Added") == 0) {
        *len = 2;
        return "+ ";
    }
    if (strcmp(type, "Deleted") == 0) {
        *len = 2;
        return "- ";
    }
    if (strcmp(type, "Edited") == 0) {
        *len = 4;
        return "+/- ";
    }
    *len = 0;
    return "";
}

static size_t marker_len(const struct cv_json *v)
{
    size_t l;
    marker(cli_jstr(v, "Type"), &l);
    return l;
}

static const struct cv_json *item(const struct cv_json *arr, size_t i)
{
    return arr->u.array.items[i];
}

static size_t count(const struct cv_json *arr)
{
    return arr && arr->type == CV_JSON_ARRAY ? arr->u.array.len : 0;
}

static void spaces(struct cv_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cv_buf_append_char(b, ' ');
    }
}

static void longest(const struct cv_json *fields, const struct cv_json *objects, size_t *field,
                    size_t *mark)
{
    *field = *mark = 0;
    for (size_t i = 0; i < count(fields); i++) {
        size_t l = strlen(cli_jstr(item(fields, i), "Name"));
        *field = l > *field ? l : *field;
        l = marker_len(item(fields, i));
        *mark = l > *mark ? l : *mark;
    }
    for (size_t i = 0; i < count(objects); i++) {
        size_t l = marker_len(item(objects, i));
        *mark = l > *mark ? l : *mark;
    }
}

/* Go's %q for the plain strings diffs carry: quotes and backslashes escaped. */
static void quoted(struct cv_buf *b, const char *s)
{
    cv_buf_append_char(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            cv_buf_append_char(b, '\\');
            cv_buf_append_char(b, *s);
        } else if (*s == '\n') {
            cv_buf_append_str(b, "\\n");
        } else if (*s == '\t') {
            cv_buf_append_str(b, "\\t");
        } else {
            cv_buf_append_char(b, *s);
        }
    }
    cv_buf_append_char(b, '"');
}

static void annotations(struct cv_buf *b, const struct cv_json *ann)
{
    for (size_t i = 0; i < count(ann); i++) {
        const struct cv_json *a = item(ann, i);
        if (a->type == CV_JSON_STRING) {
            cv_buf_appendf(b, "%s%s", i ? ", " : "", a->u.string.ptr);
        }
    }
}

static void field_diff(struct cv_buf *b, const struct cv_json *f, size_t start, size_t key_pad,
                       size_t value_pad)
{
    size_t ml;
    const char *type = cli_jstr(f, "Type");
    spaces(b, start);
    cv_buf_append_str(b, marker(type, &ml));
    spaces(b, key_pad);
    cv_buf_appendf(b, "%s: ", cli_jstr(f, "Name"));
    spaces(b, value_pad);
    if (strcmp(type, "Deleted") == 0) {
        quoted(b, cli_jstr(f, "Old"));
    } else if (strcmp(type, "Edited") == 0) {
        quoted(b, cli_jstr(f, "Old"));
        cv_buf_append_str(b, " => ");
        quoted(b, cli_jstr(f, "New"));
    } else {
        quoted(b, cli_jstr(f, "New"));
    }
    const struct cv_json *ann = cli_jget(f, "Annotations");
    if (count(ann)) {
        cv_buf_append_str(b, " (");
        annotations(b, ann);
        cv_buf_append_char(b, ')');
    }
}

static void fields_and_objects(struct cv_buf *b, const struct cv_json *fields,
                               const struct cv_json *objects, size_t start, size_t longest_field,
                               size_t longest_marker);

static void object_diff(struct cv_buf *b, const struct cv_json *o, size_t start, size_t key_pad)
{
    size_t ml;
    spaces(b, start);
    cv_buf_append_str(b, marker(cli_jstr(o, "Type"), &ml));
    spaces(b, key_pad);
    cv_buf_appendf(b, "%s {\n", cli_jstr(o, "Name"));
    size_t lf, lm;
    const struct cv_json *fields = cli_jget(o, "Fields"), *objects = cli_jget(o, "Objects");
    longest(fields, objects, &lf, &lm);
    fields_and_objects(b, fields, objects, start + key_pad + 2, lf, lm);
    cv_buf_append_char(b, '\n');
    spaces(b, start + ml + key_pad);
    cv_buf_append_char(b, '}');
}

static void fields_and_objects(struct cv_buf *b, const struct cv_json *fields,
                               const struct cv_json *objects, size_t start, size_t longest_field,
                               size_t longest_marker)
{
    size_t nf = count(fields), no = count(objects);
    for (size_t i = 0; i < nf; i++) {
        const struct cv_json *f = item(fields, i);
        field_diff(b, f, start, longest_marker - marker_len(f),
                   longest_field - strlen(cli_jstr(f, "Name")));
        if (i + 1 != nf) {
            cv_buf_append_char(b, '\n');
        }
    }
    if (nf && no) {
        cv_buf_append_char(b, '\n');
    }
    for (size_t i = 0; i < no; i++) {
        const struct cv_json *o = item(objects, i);
        object_diff(b, o, start, longest_marker - marker_len(o));
        if (i + 1 != no) {
            cv_buf_append_char(b, '\n');
        }
    }
}

static void task_diff(struct cv_buf *b, const struct cv_json *task, size_t start, size_t pad,
                      bool verbose)
{
    size_t ml;
    const char *type = cli_jstr(task, "Type");
    spaces(b, start);
    cv_buf_append_str(b, marker(type, &ml));
    spaces(b, pad);
    cv_buf_append_str(b, "Task: ");
    quoted(b, cli_jstr(task, "Name"));
    const struct cv_json *ann = cli_jget(task, "Annotations");
    if (count(ann)) {
        cv_buf_append_str(b, " (");
        annotations(b, ann);
        cv_buf_append_char(b, ')');
    }
    if (strcmp(type, "None") == 0 ||
        ((strcmp(type, "Deleted") == 0 || strcmp(type, "Added") == 0) && !verbose)) {
        return;
    }
    cv_buf_append_char(b, '\n');
    size_t lf, lm;
    const struct cv_json *fields = cli_jget(task, "Fields"), *objects = cli_jget(task, "Objects");
    longest(fields, objects, &lf, &lm);
    fields_and_objects(b, fields, objects, start + 2, lf, lm);
}

static void group_diff(struct cv_buf *b, const struct cv_json *tg, size_t pad, bool verbose)
{
    size_t ml;
    const char *type = cli_jstr(tg, "Type");
    cv_buf_append_str(b, marker(type, &ml));
    spaces(b, pad);
    cv_buf_append_str(b, "Task Group: ");
    quoted(b, cli_jstr(tg, "Name"));
    const struct cv_json *updates = cli_jget(tg, "Updates");
    const char *keys[32];
    size_t nk = cli_sorted_keys(updates, keys, 32);
    if (nk) {
        cv_buf_append_str(b, " (");
        for (size_t i = 0; i < nk; i++) {
            cv_buf_appendf(b, "%s%" PRId64 " %s", i ? ", " : "", cli_jint(updates, keys[i]),
                           keys[i]);
        }
        cv_buf_append_char(b, ')');
    }
    cv_buf_append_char(b, '\n');
    const struct cv_json *fields = cli_jget(tg, "Fields"), *objects = cli_jget(tg, "Objects");
    const struct cv_json *tasks = cli_jget(tg, "Tasks");
    size_t lf, lm;
    longest(fields, objects, &lf, &lm);
    for (size_t i = 0; i < count(tasks); i++) {
        size_t l = marker_len(item(tasks, i));
        lm = l > lm ? l : lm;
    }
    size_t sub = pad + 2;
    if (strcmp(type, "Edited") == 0 || verbose) {
        size_t before = b->len;
        fields_and_objects(b, fields, objects, sub, lf, lm);
        if (b->len > before) {
            cv_buf_append_char(b, '\n');
        }
    }
    for (size_t i = 0; i < count(tasks); i++) {
        const struct cv_json *t = item(tasks, i);
        task_diff(b, t, sub, lm - marker_len(t), verbose);
        cv_buf_append_char(b, '\n');
    }
}

static void job_diff(struct cv_buf *b, const struct cv_json *job, bool verbose)
{
    size_t ml;
    const char *type = cli_jstr(job, "Type");
    cv_buf_append_str(b, marker(type, &ml));
    cv_buf_append_str(b, "Job: ");
    quoted(b, cli_jstr(job, "ID"));
    cv_buf_append_char(b, '\n');
    const struct cv_json *fields = cli_jget(job, "Fields"), *objects = cli_jget(job, "Objects");
    const struct cv_json *groups = cli_jget(job, "TaskGroups");
    size_t lf, lm;
    longest(fields, objects, &lf, &lm);
    for (size_t i = 0; i < count(groups); i++) {
        size_t l = marker_len(item(groups, i));
        lm = l > lm ? l : lm;
    }
    if (strcmp(type, "Edited") == 0 || verbose) {
        size_t before = b->len;
        fields_and_objects(b, fields, objects, 0, lf, lm);
        if (b->len > before) {
            cv_buf_append_char(b, '\n');
        }
    }
    for (size_t i = 0; i < count(groups); i++) {
        const struct cv_json *g = item(groups, i);
        group_diff(b, g, lm - marker_len(g), verbose);
        cv_buf_append_char(b, '\n');
    }
}

static void dry_run(const struct cv_json *resp, const char *job_type)
{
    printf("Scheduler dry-run:\n");
    const struct cv_json *failed = cli_jget(resp, "FailedTGAllocs");
    if (cli_jlen(failed) == 0) {
        printf("- All tasks successfully allocated.\n");
        return;
    }
    printf(strcmp(job_type, "system") == 0
               ? "- WARNING: Failed to place allocations on all nodes.\n"
               : "- WARNING: Failed to place all allocations.\n");
    const char *groups[256];
    size_t n = cli_sorted_keys(failed, groups, 256);
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *metric = cli_jget(failed, groups[i]);
        int64_t c = cli_jint(metric, "CoalescedFailures") + 1;
        printf("  Task Group \"%s\" (failed to place %" PRId64 " allocation%s):\n", groups[i], c,
               c > 1 ? "s" : "");
        cli_print_alloc_metrics(stdout, metric, "    ");
        if (i + 1 < n) {
            printf("\n");
        }
    }
}

/* Nomad's getExitCode: 1 when allocations would be created, stopped,
 * migrated or replaced. */
static int plan_exit_code(const struct cv_json *resp)
{
    const struct cv_json *diff = cli_jget(resp, "Diff");
    if (!diff || diff->type != CV_JSON_OBJECT || strcmp(cli_jstr(diff, "Type"), "None") == 0) {
        return CLI_EXIT_OK;
    }
    const struct cv_json *updates = cli_jget(cli_jget(resp, "Annotations"), "DesiredTGUpdates");
    for (size_t i = 0; updates && updates->type == CV_JSON_OBJECT && i < updates->u.object.len;
         i++) {
        const struct cv_json *d = updates->u.object.members[i].value;
        if (cli_jint(d, "Stop") + cli_jint(d, "Place") + cli_jint(d, "Migrate") +
                cli_jint(d, "DestructiveUpdate") + cli_jint(d, "Canary") >
            0) {
            return 1;
        }
    }
    return CLI_EXIT_OK;
}

static const char plan_usage[] =
    "Usage: caravan job plan [options] <file|->\n"
    "\n"
    "  Asks the scheduler what running the job file would do, without doing it:\n"
    "  the difference from the registered job, and whether every allocation\n"
    "  could be placed. Nothing is written.\n"
    "\n"
    "  Exit status: 0 when no allocations would be created or destroyed, 1 when\n"
    "  some would, 255 on an error.\n"
    "\n"
    "Plan Options:\n"
    "  -diff=<bool>  Print the difference (default true).\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

int cli_job_plan(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool diff = true;
    const struct cli_flag flags[] = {
        {"diff", CLI_FLAG_BOOL, &diff},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    int code;
    int first = cli_parse_flags("caravan job plan", plan_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code == CLI_EXIT_OK ? code : CLI_EXIT_PLAN_ERROR;
    }
    if (argc - first != 1) {
        cli_usage_error("caravan job plan", plan_usage, "expected one job file or \"-\"");
        return CLI_EXIT_PLAN_ERROR;
    }
    struct cli_job_req req = {.diff = true};
    char *body = NULL, id[256], type[32];
    if (cli_job_file_body(argv[first], &req, &body, id, sizeof id, type, sizeof type) != 0) {
        return CLI_EXIT_PLAN_ERROR;
    }
    char *esc = cli_http_escape(id);
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/job/%s/plan", esc);
    cv_free(esc);
    struct cli_reply r;
    int rc = cli_api_call(&ctx, "during plan", "PUT", cv_buf_str(&path), body, &r);
    cv_buf_free(&path);
    cv_free(body);
    if (rc != 0) {
        return CLI_EXIT_PLAN_ERROR;
    }
    if (ctx.json) {
        rc = cli_print_json(r.root);
        int exit = rc == 0 ? plan_exit_code(r.root) : CLI_EXIT_PLAN_ERROR;
        cli_reply_free(&r);
        return exit;
    }
    const struct cv_json *d = cli_jget(r.root, "Diff");
    if (diff && d && d->type == CV_JSON_OBJECT) {
        struct cv_buf b = CV_BUF_INIT;
        job_diff(&b, d, ctx.verbose);
        /* Nomad trims the diff and ends it with one blank line. */
        while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ')) {
            cv_buf_truncate(&b, b.len - 1);
        }
        printf("%s\n\n", cv_buf_str(&b));
        cv_buf_free(&b);
    }
    dry_run(r.root, type);
    printf("\n");
    uint64_t index = (uint64_t)cli_jint(r.root, "JobModifyIndex");
    printf("Job Modify Index: %" PRIu64
           "\n"
           "To submit the job with version verification run:\n"
           "\n"
           "caravan job run -check-index %" PRIu64
           " %s\n"
           "\n"
           "When running the job with the check-index flag, the job will only be run if the\n"
           "job modify index given matches the server-side version. If the index has\n"
           "changed, another user has modified the job and the plan's results are\n"
           "potentially invalid.\n",
           index, index, argv[first]);
    int exit = plan_exit_code(r.root);
    cli_reply_free(&r);
    return exit;
}
