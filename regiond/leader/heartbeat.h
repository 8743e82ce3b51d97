/*
 * heartbeat: the leader's node heartbeat timers (Nomad's nodeHeartbeater),
 * as plain C with no I/O, no timers and no threads of its own.
 *
 * Each node the leader hears from has an expiry time. A heartbeat
 * (hb_reset) gives the node a TTL and moves its expiry to now + TTL +
 * grace: the node heartbeats after TTL, and the grace absorbs its network
 * and retry delays. hb_tick() returns the nodes whose expiry has passed,
 * and forgets them; the caller marks them down through Raft. Heartbeats
 * are not Raft writes: only the leader keeps these timers, in memory.
 *
 * TTL. The TTL grows with the number of nodes so that the whole fleet
 * stays under `max_heartbeats_per_second`: base = max(min_ttl, nodes /
 * rate), and the TTL is base plus a random stagger in [0, base), so that
 * nodes registered together do not heartbeat together. Every TTL is at
 * least base, so the rate is never exceeded on average.
 *
 * Leadership. A new leader calls hb_initialize() with every non-terminal
 * node: each gets the long failover TTL (no grace), so the nodes have time
 * to find the new leader before any is marked down; an election never
 * takes the fleet down with it. On loss of leadership hb_stop() drops
 * every timer, and resets fail with CV_ENOTLEADER until the next
 * hb_initialize().
 *
 * Time is the caller's: every call takes `now` in nanoseconds on one
 * monotonic clock, and hb_next_deadline() says when hb_tick() has work.
 * Not thread-safe: the daemon calls it from its event loop only.
 */
#ifndef HB_H
#define HB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"

#define HB_DEFAULT_MIN_TTL_NS      (10 * CV_NSEC_PER_SEC)
#define HB_DEFAULT_MAX_PER_SECOND  50.0
#define HB_DEFAULT_GRACE_NS        (10 * CV_NSEC_PER_SEC)
#define HB_DEFAULT_FAILOVER_TTL_NS (300 * CV_NSEC_PER_SEC)

struct hb_config
{
    uint64_t min_ttl_ns;           /* Nomad's min_heartbeat_ttl; > 0 */
    double max_per_second;         /* Nomad's max_heartbeats_per_second; > 0 */
    uint64_t grace_ns;             /* Nomad's heartbeat_grace */
    uint64_t failover_ttl_ns;      /* Nomad's failover_heartbeat_ttl; > 0 */
    uint64_t (*random)(void *ctx); /* stagger and hash keys (required) */
    void *random_ctx;
};

/* Nomad's defaults; random NULL. */
void hb_config_default(struct hb_config *cfg);

/* Node IDs handed to the caller, who owns them (hb_node_list_free). */
struct hb_node_list
{
    char **ids;
    size_t len;
    size_t cap;
};

void hb_node_list_init(struct hb_node_list *list);
void hb_node_list_free(struct hb_node_list *list);

struct hb;

/* Creates a stopped set of timers; cfg is copied. Returns 0, or CV_EINVAL
 * for a bad configuration (message in err). */
int hb_new(const struct hb_config *cfg, struct hb **out, struct cv_err *err);
void hb_free(struct hb *h);

/* The base TTL for node_count nodes: max(min_ttl, node_count / rate). */
uint64_t hb_ttl_base(const struct hb_config *cfg, size_t node_count);
/* base plus a random stagger in [0, base): the TTL to give a node. */
uint64_t hb_ttl(struct hb *h, size_t node_count);

/* Leadership gained: drops any timer and gives every node of node_ids
 * (borrowed) the failover TTL from now. Duplicates count once. */
void hb_initialize(struct hb *h, const char *const *node_ids, size_t n, uint64_t now);
/* Leadership lost: drops every timer. */
void hb_stop(struct hb *h);
bool hb_enabled(const struct hb *h);

/* A heartbeat from node_id (borrowed, copied when new): computes its TTL
 * for the current node count (counting it), stores it in *ttl_ns, and
 * moves its expiry to now + TTL + grace. Returns 0, CV_ENOTLEADER
 * "failed to reset heartbeat since server is not leader" when stopped, or
 * CV_EINVAL for a missing node ID. */
int hb_reset(struct hb *h, const char *node_id, uint64_t now, uint64_t *ttl_ns, struct cv_err *err);
/* Forgets node_id (deregistered, or marked down by other means). Returns
 * true when it had a timer. */
bool hb_clear(struct hb *h, const char *node_id);

/* Appends to `expired` (initialized by the caller) every node whose expiry
 * is <= now, earliest first, and forgets them. Returns how many. */
size_t hb_tick(struct hb *h, uint64_t now, struct hb_node_list *expired);
/* The earliest expiry, or UINT64_MAX when there is no timer. */
uint64_t hb_next_deadline(const struct hb *h);

/* How many nodes have a timer. */
size_t hb_count(const struct hb *h);
/* The expiry of node_id into *expiry; false when it has no timer. */
bool hb_expiry(const struct hb *h, const char *node_id, uint64_t *expiry);

#endif
