/*
 * node: a client machine as the servers know it (Nomad's Node), with its
 * resources, drivers, drain strategy and status, in Nomad's JSON shape.
 *
 * cv_node_decode() is the door through which a node enters from JSON (node
 * registration, `nomad node status -json` output echoed back, tests): it
 * decodes with the codec engine, fills Nomad's defaults (Status
 * "initializing", SchedulingEligibility "eligible", NodePool "default") and
 * validates, reporting every problem with its field path
 * ("NodeResources.MinDynamicPort: must be between 1 and 65535, got 0").
 *
 * Times Nomad encodes as time.Time (DrainStrategy.ForceDeadline, DriverInfo.
 * UpdateTime...) stay RFC 3339 strings here, checked but not parsed; times
 * Nomad encodes as integers stay integers (StatusUpdatedAt is Unix seconds).
 * Fields Caravan does not model yet (host volumes and networks, CSI, devices)
 * are refused by name unless zero; output-only fields the servers fill
 * (Events, LastDrain, deprecated Resources/Reserved) are accepted and dropped.
 *
 * SecretID is encoded like every other field: an HTTP handler that shows a
 * node to anyone but its own client must blank it first.
 *
 * This module also holds the small format checks the rest of the model
 * shares: UUIDs and RFC 3339 times.
 */
#ifndef CV_NODE_H
#define CV_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/job.h"
#include "common/json.h"
#include "common/jsongen.h"

/* Vocabularies, as Nomad spells them. */
#define CV_NODE_STATUS_INITIALIZING "initializing"
#define CV_NODE_STATUS_READY        "ready"
#define CV_NODE_STATUS_DOWN         "down"
#define CV_NODE_STATUS_DISCONNECTED "disconnected"

#define CV_NODE_ELIGIBLE   "eligible"
#define CV_NODE_INELIGIBLE "ineligible"

#define CV_NODE_POOL_DEFAULT "default"

#define CV_PORT_MAX 65535

struct cv_node_cpu
{
    int64_t cpu_shares;      /* MHz */
    int64_t total_cpu_cores; /* uint16 in Nomad */
    /* []uint16 of core ids, kept as raw JSON (checked by validation);
     * NULL when absent. */
    struct cv_json_doc *reservable_cpu_cores;
};

struct cv_node_memory
{
    int64_t memory_mb;
};

struct cv_node_disk
{
    int64_t disk_mb;
};

struct cv_node_resources
{
    struct cv_node_cpu cpu;
    struct cv_node_memory memory;
    struct cv_node_disk disk;
    CV_VEC(struct cv_network) networks;
    int64_t min_dynamic_port; /* 0 = the client's default */
    int64_t max_dynamic_port;
};

struct cv_node_reserved_cpu
{
    int64_t cpu_shares;
};

struct cv_node_reserved_networks
{
    char *reserved_host_ports; /* "22,80,8000-8100" */
};

struct cv_node_reserved_resources
{
    struct cv_node_reserved_cpu cpu;
    struct cv_node_memory memory;
    struct cv_node_disk disk;
    struct cv_node_reserved_networks networks;
};

struct cv_drain_strategy
{
    int64_t deadline; /* ns; 0 = no deadline, negative = force */
    bool ignore_system_jobs;
    char *force_deadline; /* RFC 3339 */
    char *started_at;     /* RFC 3339 */
};

/* An element of Node.Drivers, keyed by driver name. */
struct cv_driver_info
{
    char *key;
    struct cv_strmap attributes;
    bool detected;
    bool healthy;
    char *health_description;
    char *update_time; /* RFC 3339 */
};

struct cv_node
{
    char *id; /* UUID */
    char *secret_id;
    char *datacenter;
    char *name;
    char *http_addr;
    bool tls_enabled;
    struct cv_strmap attributes;
    struct cv_node_resources *node_resources;
    struct cv_node_reserved_resources *reserved_resources;
    struct cv_strmap links;
    struct cv_strmap meta;
    char *node_class;
    char *node_pool;
    char *computed_class;
    bool drain;
    struct cv_drain_strategy *drain_strategy;
    char *scheduling_eligibility;
    char *status;
    char *status_description;
    int64_t status_updated_at; /* Unix seconds */
    CV_VEC(struct cv_driver_info) drivers;
    int64_t node_max_allocs; /* 0 = no limit */
    uint64_t create_index;
    uint64_t modify_index;
};

extern const struct cv_schema cv_node_schema;

/* Decodes, fills defaults and validates a node from parsed JSON. On success
 * returns 0 and *out is a new node (free with cv_node_free). On failure
 * returns CV_EVALIDATE with every problem in errs (initialized by the
 * caller) and *out NULL. */
int cv_node_decode(const struct cv_json *v, struct cv_node **out, struct cv_errlist *errs);
/* Parses text and does the above; a syntax error is errs' only entry and
 * the parser's code is returned. */
int cv_node_parse(const char *text, size_t len, struct cv_node **out, struct cv_errlist *errs);

/* Returns a new node with every field empty and Nomad's defaults set, for
 * code that builds one by hand. */
struct cv_node *cv_node_new(void);
/* Sets the defaults on fields still empty. Idempotent. */
void cv_node_canonicalize(struct cv_node *node);
/* Checks a canonicalized node; adds every problem to errs. Returns 0 or
 * CV_EVALIDATE. */
int cv_node_validate(const struct cv_node *node, struct cv_errlist *errs);

void cv_node_encode(const struct cv_node *node, struct cv_jgen *g);
/* Returns a new string with the node as JSON (pretty when asked). */
char *cv_node_to_json(const struct cv_node *node, bool pretty);

struct cv_node *cv_node_copy(const struct cv_node *node);
bool cv_node_equal(const struct cv_node *a, const struct cv_node *b);
void cv_node_free(struct cv_node *node);

/* Sets node->computed_class ("v1:" and 16 hex digits, as Nomad spells it):
 * a hash of what placement sees alike on nodes of one kind (datacenter,
 * node class, node pool, attributes and meta other than "unique.*", the
 * drivers detected and healthy), independent of map order. Nodes with the
 * same class get the same feasibility verdict for constraints that do not
 * name unique values, so the scheduler checks one of them. */
void cv_node_compute_class(struct cv_node *node);

/* True when s is a UUID as Nomad writes them: 36 characters,
 * 8-4-4-4-12 lowercase hexadecimal digits. */
bool cv_uuid_valid(const char *s);
/* True when s is an RFC 3339 date-time ("2024-05-01T10:00:00Z",
 * "2024-05-01T10:00:00.123456789+02:00"), as Go writes time.Time. */
bool cv_rfc3339_valid(const char *s);

/* Shared by the model's validators: add "must be a UUID" / "must be an RFC
 * 3339 time" errors at `path` joined with `field`. An empty string passes
 * unless required. */
void cv_check_uuid(struct cv_errlist *errs, const char *path, const char *field, const char *value,
                   bool required);
void cv_check_time(struct cv_errlist *errs, const char *path, const char *field, const char *value);
/* Checks MBits and port numbers of Nomad NetworkResources found at
 * path.Networks[i]. */
void cv_check_networks(struct cv_errlist *errs, const char *path, const struct cv_network *nets,
                       size_t n);
/* Adds "must not be negative" when value < 0. */
void cv_check_non_negative(struct cv_errlist *errs, const char *path, const char *field,
                           int64_t value);
/* Adds "must be one of ..." unless value is in the NULL-terminated list. */
void cv_check_vocab(struct cv_errlist *errs, const char *path, const char *field, const char *value,
                    const char *const *allowed);

#endif
