/*
 * cli: dispatch of subcommands, flag parsing and input reading shared by
 * every command.
 *
 * Flags follow Go's flag package, which Nomad's commands use: they come
 * before the arguments, take one or two dashes, and a value either after
 * "=" or as the next argument. The global flags (-address, -region,
 * -token, -json, -verbose) are accepted by every command that talks to a
 * server, after defaults from the environment.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
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

int cli_usage_error(const char *prefix, const char *usage, const char *msg)
{
    fprintf(stderr, "%s: %s\n\n%s", prefix, msg, usage);
    return CLI_EXIT_USAGE;
}

int cli_parse_duration(const char *text, int64_t *out_ns)
{
    static const struct
    {
        const char *unit;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60LL * 1000000000},
        {"h", 3600LL * 1000000000},
    };
    const char *p = text;
    double total = 0;
    if (*p == '\0') {
        return CV_EINVAL;
    }
    if (strcmp(p, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || v < 0 || *p == '-' || *p == '+') {
            return CV_EINVAL;
        }
        p = end;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].unit);
            /* "ms" before "m": take the longest unit that matches */
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (best_len == 0) {
            return CV_EINVAL;
        }
        total += v * (double)units[best].ns;
        p += best_len;
    }
    if (total > 9.2e18) {
        return CV_EINVAL;
    }
    *out_ns = (int64_t)total;
    return 0;
}

/* Splits "http://host:port" (scheme and port optional) into ctx->host and
 * ctx->port. Only plain HTTP is spoken. */
static int parse_address(struct cli_ctx *ctx, char *msg, size_t size)
{
    const char *a = ctx->address;
    int default_port = 4646;
    if (strncmp(a, "http://", 7) == 0) {
        a += 7;
        default_port = 80;
    } else if (strncmp(a, "https://", 8) == 0) {
        snprintf(msg, size, "invalid address \"%s\": https is not supported yet", ctx->address);
        return -1;
    } else if (strstr(a, "://")) {
        snprintf(msg, size, "invalid address \"%s\": the scheme must be http", ctx->address);
        return -1;
    }
    size_t hostlen = strcspn(a, ":/");
    if (a[0] == '[') { /* [::1]:4646 */
        const char *close = strchr(a, ']');
        hostlen = close ? (size_t)(close - a) + 1 : strlen(a);
    }
    if (hostlen == 0 || hostlen >= sizeof ctx->host) {
        snprintf(msg, size, "invalid address \"%s\": no host", ctx->address);
        return -1;
    }
    if (a[0] == '[') {
        memcpy(ctx->host, a + 1, hostlen - 2);
        ctx->host[hostlen - 2] = '\0';
    } else {
        memcpy(ctx->host, a, hostlen);
        ctx->host[hostlen] = '\0';
    }
    const char *rest = a + hostlen;
    ctx->port = default_port;
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            snprintf(msg, size, "invalid address \"%s\": bad port", ctx->address);
            return -1;
        }
        ctx->port = (int)port;
        rest = end;
    }
    if (*rest != '\0' && strcmp(rest, "/") != 0) {
        snprintf(msg, size, "invalid address \"%s\": a path is not supported", ctx->address);
        return -1;
    }
    return 0;
}

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int set_flag(const struct cli_flag *f, const char *value, char *msg, size_t size)
{
    switch (f->kind) {
    case CLI_FLAG_BOOL:
        if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(bool *)f->value = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(bool *)f->value = false;
        } else {
            snprintf(msg, size, "invalid boolean value \"%s\" for flag -%s", value, f->name);
            return -1;
        }
        return 0;
    case CLI_FLAG_STRING:
        *(const char **)f->value = value;
        return 0;
    case CLI_FLAG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno) {
            snprintf(msg, size, "invalid value \"%s\" for flag -%s: expected an integer", value,
                     f->name);
            return -1;
        }
        *(int64_t *)f->value = v;
        return 0;
    }
    case CLI_FLAG_DURATION:
        if (cli_parse_duration(value, (int64_t *)f->value) != 0) {
            snprintf(msg, size, "invalid value \"%s\" for flag -%s: expected a duration (10s, 5m)",
                     value, f->name);
            return -1;
        }
        return 0;
    }
    return -1;
}

int cli_parse_flags(const char *prefix, const char *usage, const struct cli_flag *flags,
                    struct cli_ctx *ctx, int argc, char **argv, int *exit_code)
{
    if (ctx) {
        memset(ctx, 0, sizeof *ctx);
        ctx->address = env_or_null("CARAVAN_ADDR");
        if (!ctx->address) {
            ctx->address = CLI_DEFAULT_ADDRESS;
        }
        ctx->region = env_or_null("CARAVAN_REGION");
        ctx->token = env_or_null("CARAVAN_TOKEN");
    }
    const struct cli_flag globals[] = {
        {"address", CLI_FLAG_STRING, ctx ? (void *)&ctx->address : NULL},
        {"region", CLI_FLAG_STRING, ctx ? (void *)&ctx->region : NULL},
        {"token", CLI_FLAG_STRING, ctx ? (void *)&ctx->token : NULL},
        {"json", CLI_FLAG_BOOL, ctx ? (void *)&ctx->json : NULL},
        {"verbose", CLI_FLAG_BOOL, ctx ? (void *)&ctx->verbose : NULL},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    char msg[512];
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            break; /* "-" is an argument (standard input) */
        }
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            fputs(usage, stdout);
            *exit_code = CLI_EXIT_OK;
            return -1;
        }
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_flag *f = NULL;
        for (int pass = 0; pass < 2 && !f; pass++) {
            const struct cli_flag *table = pass == 0 ? flags : (ctx ? globals : NULL);
            for (; table && table->name; table++) {
                if (strlen(table->name) == name_len && strncmp(table->name, name, name_len) == 0) {
                    f = table;
                    break;
                }
            }
        }
        if (!f) {
            snprintf(msg, sizeof msg, "flag provided but not defined: -%.*s", (int)name_len, name);
            *exit_code = cli_usage_error(prefix, usage, msg);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && f->kind != CLI_FLAG_BOOL) {
            if (i + 1 >= argc) {
                snprintf(msg, sizeof msg, "flag needs an argument: -%s", f->name);
                *exit_code = cli_usage_error(prefix, usage, msg);
                return -1;
            }
            value = argv[++i];
        }
        if (set_flag(f, value, msg, sizeof msg) != 0) {
            *exit_code = cli_usage_error(prefix, usage, msg);
            return -1;
        }
    }
    if (ctx && parse_address(ctx, msg, sizeof msg) != 0) {
        *exit_code = cli_usage_error(prefix, usage, msg);
        return -1;
    }
    return i;
}
