/*
 * e2e_nodes: simulated client nodes, registered with real servers over RPC.
 *
 * A multi-process test or benchmark needs nodes for the scheduler to place
 * on, without running a client agent per node. This helper sends one
 * "Node.Register" call per node ({"Node": {...}}, the shape a client sends:
 * a fresh UUID, Name "<prefix>-<i>", Status "ready", the mock driver
 * detected and healthy, kernel.name linux and a unique.hostname, Meta
 * rack "r<i % racks>", the resources asked for) with many calls in flight
 * at once, on an event_base and rpc_pool of its own (so it may run on any
 * thread that owns nothing else of libevent's).
 *
 * Node i goes to addrs[i % n_addrs]: any server takes it (a follower relays
 * it to the leader). A call that fails because there is no leader (yet, or
 * any more), because the connection failed or because it timed out is sent
 * again, to the next address, up to E2E_NODES_RETRIES times, 50 ms later
 * per attempt; anything else (a node the leader refused) is not retried.
 * Everything stops at the deadline: calls still in flight then count as
 * failed. Nodes never send heartbeats: give the servers a long minimum TTL
 * (`{"heartbeat": {"min_ttl_s": 3600}}`) so they stay ready.
 */
#ifndef CV_TEST_E2E_NODES_H
#define CV_TEST_E2E_NODES_H

#include <stddef.h>
#include <stdint.h>

#define E2E_NODES_RETRIES      8
#define E2E_NODES_MAX_INFLIGHT 4096

/* What every simulated node looks like; zero fields take the defaults
 * noted. */
struct e2e_node_spec
{
    const char *datacenter;  /* "dc1" */
    const char *node_class;  /* none */
    const char *name_prefix; /* "sim" */
    size_t first_index;      /* node i is named <prefix>-<first_index + i> */
    unsigned racks;          /* Meta.rack is "r<index % racks>" (1) */
    int64_t cpu_mhz;         /* NodeResources.Cpu.CpuShares (4000) */
    int64_t memory_mb;       /* NodeResources.Memory.MemoryMB (8192) */
    int64_t disk_mb;         /* NodeResources.Disk.DiskMB (100000) */
    int64_t reserved_cpu_mhz, reserved_memory_mb, reserved_disk_mb; /* ReservedResources (0) */
};

struct e2e_nodes_result
{
    size_t registered; /* acknowledged by the leader */
    size_t failed;     /* refused, out of retries, or still in flight at the deadline */
    size_t retries;    /* calls sent again */
    double seconds;    /* from the first call to the last answer */
    /* ids[i] is node i's ID, or "" when it was not registered; n entries,
     * owned (free with e2e_nodes_result_free). */
    char (*ids)[37];
    size_t n;
    char first_error[512]; /* the first non-retried failure, "" when none */
};

/* Registers n nodes described by spec through the servers at addrs
 * ("127.0.0.1:port", borrowed for the call), at most max_inflight calls
 * outstanding (1..E2E_NODES_MAX_INFLIGHT), all within deadline_ms. Fills
 * *out (free it with e2e_nodes_result_free). Returns 0 when every node was
 * registered, -1 otherwise (out says how many were). */
int e2e_nodes_register(const char *const *addrs, size_t n_addrs, size_t n,
                       const struct e2e_node_spec *spec, unsigned max_inflight, int deadline_ms,
                       struct e2e_nodes_result *out);

void e2e_nodes_result_free(struct e2e_nodes_result *r);

#endif
