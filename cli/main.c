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
    {"alloc", "Show allocations", cli_alloc},
    {"eval", "Show evaluations", cli_eval},
    {"job", "Run, plan, inspect, stop and validate jobs", cli_job},
    {"node", "Show nodes, drain them, set their eligibility", cli_node},
    {"operator", "Operator commands (raft list-peers)", cli_operator},
    {"server", "Show the region's servers", cli_server},
    {"status", "List jobs, or show one", cli_status},
    {"version", "Print the version", version},
    {NULL, NULL, NULL},
};

static const char usage[] =
    "Usage: caravan <command> [args]\n"
    "\n"
    "  Caravan is a federated workload orchestrator. Commands that talk to a\n"
    "  server take -address (env CARAVAN_ADDR, default " CLI_DEFAULT_ADDRESS
    "),\n"
    "  -region, -token, -json; `caravan <command> -h` tells more.\n";

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        return version(1, argv);
    }
    return cli_dispatch("caravan", usage, commands, argc, argv);
}
