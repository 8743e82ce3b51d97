/*
 * regiond_config: the region server's configuration (`regiond -config FILE`,
 * `regiond -dev`, and the flags that override both).
 *
 * How it works. A configuration is built in layers, each overriding the one
 * before: the built-in defaults (rcfg_init), the -dev defaults when -dev is
 * given, every -config file in the order given, then the other flags in the
 * order given. rcfg_apply_flags does the layering; rcfg_validate then checks
 * what only the whole can tell (distinct ports, peers against
 * bootstrap_expect and server_id, a postgres store with its conninfo) and
 * fills what is derived (server_id of a lone server, the advertise address,
 * the postgres schema, the absolute data_dir, the -dev temporary data_dir).
 *
 * Files are JSON read through common/json.h with limits of their own. Every
 * key is known: an unknown one is an error naming its path
 * ("store.postgres.conninfoo: unknown field"), as is a value of the wrong
 * type ("ports.http: expected an integer, got string") or out of range.
 * Each value is checked where it is set, so a flag's error names the flag
 * ("-http-port: must be 1 to 65535, got 70000").
 *
 * What it does not do: open the store, bind the ports for real, reopen the
 * log file on SIGHUP. Those are the daemon's; rcfg_check_ports only probes
 * the ports so that a busy one is reported before anything starts.
 * docs/config.md is the operator's reference for every key and flag.
 */
#ifndef CV_REGIOND_CONFIG_H
#define CV_REGIOND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"

/* Defaults (Nomad's where Nomad has the setting). */
#define RCFG_DEFAULT_REGION     "global"
#define RCFG_DEFAULT_DATACENTER "dc1"
#define RCFG_DEFAULT_BIND       "0.0.0.0"
#define RCFG_DEV_BIND           "127.0.0.1"
#define RCFG_DEFAULT_HTTP_PORT  4646
#define RCFG_DEFAULT_RPC_PORT   4647
#define RCFG_DEFAULT_SERF_PORT  4648

/* Server ids are Raft's integer ids: 1..RCFG_MAX_SERVER_ID, unique in the
 * region for the life of the region (a replacement server takes a new id). */
#define RCFG_MAX_SERVER_ID 65535u
/* Raft allows 9 voters (RAFT_MAX_SERVERS): this server and 8 others. */
#define RCFG_MAX_PEERS 8u

/* The same values as STORE_SEGMENT_SIZE_DEFAULT and
 * STORE_PG_RECONNECT_TIMEOUT_MS (the tests check that they agree). */
#define RCFG_DEFAULT_SEGMENT_SIZE       (UINT64_C(64) * 1024 * 1024)
#define RCFG_DEFAULT_PG_RECONNECT_MS    30000u
#define RCFG_DEFAULT_ELECTION_MS        300u
#define RCFG_DEFAULT_RAFT_HEARTBEAT_MS  50u
#define RCFG_DEFAULT_SNAPSHOT_THRESHOLD 8192u
#define RCFG_DEFAULT_SNAPSHOT_INTERVAL  120u
#define RCFG_DEFAULT_TRAILING_LOGS      10240u
#define RCFG_DEFAULT_MAX_BODY_BYTES     (UINT64_C(16) * 1024 * 1024)
#define RCFG_DEFAULT_HB_MIN_TTL_S       10u
#define RCFG_DEFAULT_HB_MAX_PER_SECOND  50.0
#define RCFG_DEFAULT_HB_GRACE_S         10u
#define RCFG_DEFAULT_HB_FAILOVER_TTL_S  300u
/* num_schedulers' default: one scheduler worker per online CPU. */
#define RCFG_NUM_SCHEDULERS_AUTO UINT32_MAX
#define RCFG_MAX_NUM_SCHEDULERS  256u

/* rcfg_apply_flags' return value when -h/-help printed the usage. */
#define RCFG_HELP 1

enum rcfg_store_adaptor
{
    RCFG_STORE_EMBEDDED = 0,
    RCFG_STORE_POSTGRES = 1,
};

/* Another server of the region, from "ID@HOST:PORT" (PORT is its RPC port). */
struct rcfg_peer
{
    uint32_t id;
    char *host; /* owned; an IP address (IPv6 without brackets) or a DNS name */
    uint16_t port;
};

struct rcfg_ports
{
    uint16_t http;
    uint16_t rpc;
    uint16_t serf; /* gossip, UDP and TCP */
};

struct rcfg_store
{
    enum rcfg_store_adaptor adaptor;
    struct
    {
        uint64_t segment_size;
    } embedded;
    struct
    {
        char *conninfo; /* owned; may hold a password (rcfg_to_json hides it) */
        char *schema;   /* owned; NULL until rcfg_validate derives it */
        uint32_t reconnect_timeout_ms;
    } postgres;
};

struct rcfg_raft
{
    uint32_t election_timeout_ms;
    uint32_t heartbeat_ms; /* less than election_timeout_ms */
    uint64_t snapshot_threshold;
    uint32_t snapshot_interval_s;
    uint64_t trailing_logs;
};

struct rcfg_heartbeat
{
    uint32_t min_ttl_s;
    double max_per_second;
    uint32_t grace_s;
    uint32_t failover_ttl_s;
};

/* Every string is owned by the struct (rcfg_free). NULL means unset. */
struct rcfg
{
    char *region;
    char *datacenter;
    char *name;      /* default: the hostname */
    char *data_dir;  /* required unless dev; absolute after rcfg_validate */
    char *bind_addr; /* an IP address */
    char *advertise; /* what other servers and clients dial; see rcfg_validate */
    struct rcfg_ports ports;
    uint32_t server_id;        /* 0 until set */
    uint32_t bootstrap_expect; /* 1, 3 or 5 */
    bool join;                 /* peers are contacts in a running region */
    struct rcfg_peer *peers;   /* the other servers */
    size_t n_peers;
    struct rcfg_store store;
    enum cv_log_level log_level;
    char *log_file; /* NULL: stderr */
    struct rcfg_raft raft;
    struct
    {
        uint64_t max_body_bytes;
    } http;
    struct rcfg_heartbeat heartbeat;
    /* Scheduler worker threads (0: this server schedules nothing);
     * RCFG_NUM_SCHEDULERS_AUTO: one per online CPU. */
    uint32_t num_schedulers;
    bool dev;
    bool data_dir_temp; /* rcfg_validate made data_dir (dev): remove it at exit */
    char **files;       /* config files loaded, in order */
    size_t n_files;
};

/* Fills *c with the built-in defaults (name: the hostname). */
void rcfg_init(struct rcfg *c);
/* Frees what *c owns; *c may then be initialised again. */
void rcfg_free(struct rcfg *c);

/* Applies the JSON config file at `path` over *c: only the keys the file
 * names change. Returns 0; CV_ENOTFOUND or CV_EIO when the file cannot be
 * read, CV_ETOOBIG over 1 MiB, CV_EPARSE for malformed JSON (these messages
 * name the file), or CV_EINVAL for a bad key or value, with err->path the
 * key's path and err->msg what is wrong. On error *c may hold part of the
 * file; it stays valid to free. */
int rcfg_load_file(struct rcfg *c, const char *path, struct cv_err *err);

/* Applies argv[1..argc) to *c, which comes from rcfg_init: -dev defaults,
 * then each -config file, then the other flags (see rcfg_usage). Flags are
 * Nomad's single-dash style, `-flag value` or `-flag=value` (`--flag`
 * works too); a value that starts with '-' needs the `=` form. Returns 0;
 * RCFG_HELP when -h/-help printed the usage on stdout; or CV_EINVAL for an
 * unknown flag, a missing or bad value or a stray argument (err->path is
 * the flag), or the error of a config file (the message names the file). */
int rcfg_apply_flags(struct rcfg *c, int argc, char **argv, struct cv_err *err);

/* Final checks and derived values: see the comment at the top. Fills
 * server_id (1 for a lone server), advertise (bind_addr, or the first
 * non-loopback IPv4 address when bind_addr is 0.0.0.0 or ::), the postgres
 * schema ("caravan_<region>_<name>", sanitised), and in dev mode without a
 * data_dir a new temporary directory (data_dir_temp set). Checks data_dir
 * with rcfg_check_data_dir and makes it absolute, and opens log_file for
 * appending. Returns 0, CV_EINVAL (err->path names the key) or CV_EIO; on
 * error *c may hold some derived values and stays valid to free (a
 * temporary data_dir made by this call is removed again). */
int rcfg_validate(struct rcfg *c, struct cv_err *err);

/* Creates `dir` (and its parents) when missing, then checks that it is a
 * directory this process can list and write, by creating and removing a
 * file in it. Returns 0, CV_EINVAL (not a directory) or CV_EIO, with a
 * message naming the directory and the cause. */
int rcfg_check_data_dir(const char *dir, struct cv_err *err);

/* Probes the HTTP and RPC ports (TCP) and the serf port (TCP and UDP) on
 * bind_addr by binding and closing a socket on each. Returns 0, or
 * CV_ECONFLICT for a port in use, CV_EINVAL for a bind_addr that is not
 * this machine's, CV_EIO otherwise; err->path names the port's key. A probe
 * that passes does not reserve the port. */
int rcfg_check_ports(const struct rcfg *c, struct cv_err *err);

/* Removes data_dir and everything in it when rcfg_validate created it (dev
 * mode); does nothing otherwise. Returns 0 or CV_EIO. */
int rcfg_remove_temp_data_dir(struct rcfg *c, struct cv_err *err);

/* Prints the flags with one line of help and their defaults. */
void rcfg_usage(FILE *out);

/* Returns the effective configuration as a new JSON object (cv_free it) in
 * the shape of Nomad's /v1/agent/self "config" (Region, Datacenter,
 * NodeName, Ports, Server...), with Caravan's settings beside Nomad's. The
 * postgres conninfo's password, if any, is replaced by "redacted". */
char *rcfg_to_json(const struct rcfg *c);

/* The number of online CPUs (at least 1): num_schedulers' default. */
unsigned rcfg_online_cpus(void);

/* The scheduler workers this server runs: num_schedulers, resolved. */
unsigned rcfg_num_schedulers(const struct rcfg *c);

/* Writes conninfo (key=value or postgresql:// URI) with any password
 * replaced by "redacted" into a new string (cv_free it). A conninfo that
 * does not parse is replaced by "redacted" as a whole. */
char *rcfg_redact_conninfo(const char *conninfo);

#endif
