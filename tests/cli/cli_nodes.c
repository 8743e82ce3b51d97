/*
 * cli_nodes: registers simulated client nodes with a running region, for
 * the CLI's shell test (test_cli_server.sh), which has no client agent.
 *
 *   cli_nodes HOST:RPC_PORT N [MEMORY_MB]
 *
 * Prints the N node IDs, one per line; exit status 0 when all were
 * registered. The nodes never heartbeat: start the server with a long
 * heartbeat.min_ttl_s. The work is e2e_nodes_register's (tests/e2e).
 */
#include <stdio.h>
#include <stdlib.h>

#include "e2e_nodes.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: cli_nodes HOST:RPC_PORT N [MEMORY_MB]\n");
        return 2;
    }
    const char *addrs[] = {argv[1]};
    size_t n = strtoul(argv[2], NULL, 10);
    struct e2e_node_spec spec = {.name_prefix = "cli"};
    if (argc == 4) {
        spec.memory_mb = strtoll(argv[3], NULL, 10);
    }
    struct e2e_nodes_result r;
    int rc = e2e_nodes_register(addrs, 1, n, &spec, 8, 20000, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (r.ids[i][0]) {
            printf("%s\n", r.ids[i]);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "cli_nodes: %zu of %zu registered%s%s\n", r.registered, n,
                r.first_error[0] ? ": " : "", r.first_error);
    }
    e2e_nodes_result_free(&r);
    return rc == 0 ? 0 : 1;
}
