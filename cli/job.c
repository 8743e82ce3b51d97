/*
 * job: the `caravan job` subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/job.h"
#include "common/json.h"
#include "common/mem.h"

static const char validate_usage[] =
    "Usage: caravan job validate [options] <file|->\n"
    "\n"
    "  Checks a job file in Nomad's JSON format (a job object, or {\"Job\": {...}})\n"
    "  without submitting it. \"-\" reads the job from standard input.\n"
    "  Prints every problem found, one per line, each naming its field.\n"
    "\n"
    "  Exit status: 0 when the job is valid, 1 when it is not, 2 on a usage error.\n"
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

static const struct cli_command job_commands[] = {
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
