/*
 * caravan: the command-line interface to a Caravan cluster.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("Usage: caravan version\n\n  Prints the version of this caravan binary.\n");
        return CLI_EXIT_OK;
    }
    if (argc != 1) {
        fprintf(stderr, "caravan version: takes no arguments\n");
        return CLI_EXIT_USAGE;
    }
    printf("Caravan v%s\n", CARAVAN_VERSION);
    return CLI_EXIT_OK;
}

static const struct cli_command commands[] = {
    {"job", "Validate and work with jobs", cli_job},
    {"version", "Print the version", version},
    {NULL, NULL, NULL},
};

static const char usage[] =
    "Usage: caravan <command> [args]\n"
    "\n"
    "  Caravan is a federated workload orchestrator.\n";

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        return version(1, argv);
    }
    return cli_dispatch("caravan", usage, commands, argc, argv);
}
