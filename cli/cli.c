/*
 * cli: dispatch of subcommands and input reading shared by every command.
 */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>

#include "common/mem.h"

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "-help") == 0 ||
            strcmp(argv[i], "--help") == 0) {
            return 1;
        }
    }
    return 0;
}

static void print_usage(FILE *out, const char *usage, const struct cli_command *commands)
{
    fputs(usage, out);
    fputs("\nSubcommands:\n", out);
    for (const struct cli_command *c = commands; c->name; c++) {
        fprintf(out, "    %-12s %s\n", c->name, c->synopsis);
    }
}

int cli_dispatch(const char *prefix, const char *usage, const struct cli_command *commands,
                 int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr, usage, commands);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        print_usage(stdout, usage, commands);
        return CLI_EXIT_OK;
    }
    for (const struct cli_command *c = commands; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0) {
            return c->run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "%s: unknown subcommand \"%s\"\n\n", prefix, argv[1]);
    print_usage(stderr, usage, commands);
    return CLI_EXIT_USAGE;
}

int cli_read_input(const char *path, size_t max_bytes, char **out, size_t *len, struct cv_err *err)
{
    int from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        return cv_err_setf(err, CV_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    size_t cap = 4096, used = 0;
    char *data = cv_malloc(cap + 1);
    int rc = 0;
    for (;;) {
        if (used == cap) {
            if (cap > max_bytes) {
                rc = cv_err_setf(err, CV_ETOOBIG, "%s is larger than the limit of %zu bytes",
                                 from_stdin ? "standard input" : path, max_bytes);
                break;
            }
            cap *= 2;
            data = cv_realloc(data, cap + 1);
        }
        size_t n = fread(data + used, 1, cap - used, f);
        used += n;
        if (n == 0) {
            if (ferror(f)) {
                rc = cv_err_setf(err, CV_EIO, "cannot read %s: %s", path, strerror(errno));
            }
            break;
        }
    }
    if (!rc && used > max_bytes) {
        rc = cv_err_setf(err, CV_ETOOBIG, "%s is larger than the limit of %zu bytes",
                         from_stdin ? "standard input" : path, max_bytes);
    }
    if (!from_stdin) {
        fclose(f);
    }
    if (rc) {
        cv_free(data);
        return rc;
    }
    data[used] = '\0';
    *out = data;
    *len = used;
    return 0;
}
