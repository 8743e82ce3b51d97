/*
 * agent_config: the node agent's configuration (`nodeagent -config FILE`,
 * `nodeagent -dev`, and the flags that override both).
 *
 * Layers, each overriding the one before: the built-in defaults, the -dev
 * defaults when -dev is given anywhere on the command line (servers
 * 127.0.0.1:4647, a temporary data dir, datacenter dc1, the raw_exec and
 * mock drivers enabled), every -config file in the order given, then the
 * other flags in the order given. agent_config_finish() then checks what
 * only the whole can tell and fills what is derived (the name from the
 * hostname, the -dev temporary directory, an absolute data_dir).
 *
 * Files are JSON. Every key is known; an unknown one, a value of the wrong
 * type or out of range is an error naming its key ("reserved.cpu: must not
 * be negative, got -1"); a flag's error names the flag ("-meta: expected
 * key=value, got \"rack\""). docs/nodeagent.md lists every key and flag.
 *
 * It does not create the data dir (the fingerprint does) nor open the log
 * file (main does).
 */
#ifndef CV_AGENT_CONFIG_H
#define CV_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"

#define AGENT_DEFAULT_SERVER     "127.0.0.1:4647"
#define AGENT_DEFAULT_DATACENTER "dc1"
#define AGENT_MAX_SERVERS        16
#define AGENT_DEFAULT_HTTP_PORT  4656
#define AGENT_DEFAULT_BIND_ADDR  "127.0.0.1"

/* agent_config_parse_args' return value when -h printed the usage. */
#define AGENT_CONFIG_HELP 1

struct agent_config
{
    char *servers[AGENT_MAX_SERVERS]; /* "host:port" RPC addresses, owned */
    size_t n_servers;
    char *data_dir;
    char *datacenter;
    char *name; /* "" until finish: the hostname */
    char *node_class;
    char *node_pool;
    struct cv_strmap meta;
    bool raw_exec;
    bool mock;
    /* Reserved for the host: CPU MHz, memory and disk MiB, host ports. */
    int64_t reserved_cpu;
    int64_t reserved_memory_mb;
    int64_t reserved_disk_mb;
    char *reserved_ports;
    enum cv_log_level log_level;
    char *log_file; /* "" for stderr */
    bool dev;
    bool data_dir_is_temp; /* -dev made it; nobody removes it (tasks may still use it) */
    int simulate;          /* -simulate N: N simulated nodes (simulate.h); 0: one real node */
    /* The agent's HTTP API (agent_http.c): bind_addr:http_port, advertised
     * as the node's HTTPAddr. http_port 0 (only set from code: the
     * simulated fleet, unit tests) runs no listener. */
    char *bind_addr;
    int http_port;
};

/* Sets the built-in defaults. Free with agent_config_free. */
void agent_config_init(struct agent_config *c);
void agent_config_free(struct agent_config *c);
/* Applies the -dev layer. */
void agent_config_dev(struct agent_config *c);

/* Applies a JSON config document (text[0..len)); `origin` names it in
 * messages (a file name). */
int agent_config_apply_json(struct agent_config *c, const char *text, size_t len,
                            const char *origin, struct cv_err *err);
/* Reads and applies a JSON config file. */
int agent_config_load_file(struct agent_config *c, const char *path, struct cv_err *err);

/* The whole command line (argv[1..argc)): -dev first, then -config files,
 * then the flags, then agent_config_finish. Returns 0, AGENT_CONFIG_HELP
 * (usage printed to stdout) or an error naming the flag or key. */
int agent_config_parse_args(struct agent_config *c, int argc, char **argv, struct cv_err *err);

/* Checks the whole and fills derived values (see above). */
int agent_config_finish(struct agent_config *c, struct cv_err *err);

/* Prints the flags. */
void agent_config_usage(FILE *out);

#endif
