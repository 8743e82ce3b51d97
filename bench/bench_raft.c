/*
 * bench_raft: the CPU cost of the Raft core alone.
 *
 * A whole cluster runs in this process over zero-latency I/O: messages are
 * delivered from a FIFO queue, persistence completes at once, nothing is
 * written anywhere. The leader is fed proposals in batches of 64 (as a busy
 * server would), and the benchmark reports committed entries per second
 * for 3 and 5 servers at 64 B and 1 KiB, with the allocations the library
 * makes per committed entry (cv_malloc calls, counted). One core does all
 * the servers' work, so the figure is what the core's code costs.
 *
 * The yardstick printed beside each figure is a memcpy of the same payload
 * bytes into a ring, the floor for moving the data at all. The issue's
 * target: 500,000 committed entries/s for 3 servers at 64 B.
 *
 *   bench_raft [ENTRIES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "regiond/raft/raft.h"

#define MAX_NODES 5
#define QUEUE_CAP (1u << 16)

enum item_kind
{
    ITEM_MSG,
    ITEM_PERSISTED,
    ITEM_APPENDED,
};

/* A queued event. Messages keep a private copy of their entries. */
struct item
{
    enum item_kind kind;
    int node;
    struct raft_msg msg;
    raft_index last;
};

struct bench_cluster
{
    struct raft_io io[MAX_NODES];
    struct raft *servers[MAX_NODES];
    int n;
    struct item *queue;
    size_t head, tail;
    struct raft_entry *entry_pool; /* copies of message entries */
    size_t pool_len, pool_cap;
    uint64_t now_ms;
    uint64_t rng;
    uint64_t committed;
};

static struct bench_cluster cluster;

static struct item *push(void)
{
    if (cluster.tail - cluster.head == QUEUE_CAP) {
        fprintf(stderr, "bench_raft: event queue full\n");
        exit(1);
    }
    return &cluster.queue[cluster.tail++ % QUEUE_CAP];
}

static int node_of(struct raft_io *io)
{
    return (int)(io - cluster.io);
}

/* Entries are copied by reference: the sender's log outlives the delivery
 * here because nothing truncates a log in a fault-free run. */
static void io_send(struct raft_io *io, const struct raft_msg *m)
{
    (void)io;
    struct item *it = push();
    it->kind = ITEM_MSG;
    it->msg = *m;
    if (m->n_entries) {
        if (cluster.pool_len + m->n_entries > cluster.pool_cap) {
            cluster.pool_len = 0; /* the pool is a ring: old copies are delivered already */
        }
        struct raft_entry *copy = &cluster.entry_pool[cluster.pool_len];
        memcpy(copy, m->entries, m->n_entries * sizeof *copy);
        cluster.pool_len += m->n_entries;
        it->msg.entries = copy;
    }
}

static void io_persist(struct raft_io *io, raft_term term, raft_id vote)
{
    (void)term;
    (void)vote;
    struct item *it = push();
    it->kind = ITEM_PERSISTED;
    it->node = node_of(io);
}

static void io_append(struct raft_io *io, const struct raft_entry *entries, size_t n)
{
    struct item *it = push();
    it->kind = ITEM_APPENDED;
    it->node = node_of(io);
    it->last = entries[n - 1].index;
}

static void io_apply(struct raft_io *io, const struct raft_entry *entry)
{
    if (node_of(io) == 0 && entry->type == RAFT_COMMAND) {
        cluster.committed++;
    }
}

static uint64_t io_now(struct raft_io *io)
{
    (void)io;
    return cluster.now_ms;
}

static uint64_t io_random(struct raft_io *io)
{
    (void)io;
    cluster.rng ^= cluster.rng << 13;
    cluster.rng ^= cluster.rng >> 7;
    cluster.rng ^= cluster.rng << 17;
    return cluster.rng;
}

static void deliver_all(void)
{
    while (cluster.head != cluster.tail) {
        struct item *it = &cluster.queue[cluster.head++ % QUEUE_CAP];
        switch (it->kind) {
        case ITEM_MSG:
            raft_recv(cluster.servers[it->msg.to - 1], &it->msg);
            break;
        case ITEM_PERSISTED:
            raft_persisted(cluster.servers[it->node], 0);
            break;
        case ITEM_APPENDED:
            raft_appended(cluster.servers[it->node], it->last, 0);
            break;
        }
    }
}

static void ignore_result(void *data, int status, raft_index index)
{
    (void)data;
    (void)status;
    (void)index;
}

/* Runs one configuration; returns committed entries per second. */
static double run(int n, size_t payload, uint64_t entries, double *allocs_per_entry)
{
    memset(&cluster, 0, sizeof cluster);
    cluster.n = n;
    cluster.rng = 0x9e3779b97f4a7c15ull;
    cluster.queue = malloc(QUEUE_CAP * sizeof *cluster.queue);
    cluster.pool_cap = 1u << 20;
    cluster.entry_pool = malloc(cluster.pool_cap * sizeof *cluster.entry_pool);

    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.n_servers = (size_t)n;
    for (int i = 0; i < n; i++) {
        cfg.servers[i] = (raft_id)i + 1;
    }
    for (int i = 0; i < n; i++) {
        cluster.io[i] = (struct raft_io){
            .send = io_send,
            .persist = io_persist,
            .append = io_append,
            .apply = io_apply,
            .now_ms = io_now,
            .random = io_random,
        };
        cfg.id = (raft_id)i + 1;
        int err = 0;
        cluster.servers[i] = raft_new(&cfg, &cluster.io[i], NULL, &err);
    }
    /* Server 1 wins the first election: only its timer runs out. */
    cluster.now_ms = 2 * cfg.election_timeout_ms;
    raft_tick(cluster.servers[0]);
    deliver_all();
    if (raft_state(cluster.servers[0]) != RAFT_LEADER) {
        fprintf(stderr, "bench_raft: no leader\n");
        exit(1);
    }

    char *data = calloc(1, payload);
    struct cv_mem_counter counter;
    cv_mem_count_into(&counter);
    const struct cv_clock *clock = cv_clock_system();
    uint64_t start = cv_clock_monotonic_ns(clock);
    uint64_t proposed = 0;
    while (cluster.committed < entries) {
        for (int k = 0; k < 64 && proposed < entries; k++, proposed++) {
            raft_propose(cluster.servers[0], RAFT_COMMAND, data, payload, ignore_result, NULL,
                         NULL);
        }
        deliver_all();
    }
    uint64_t elapsed = cv_clock_monotonic_ns(clock) - start;
    size_t allocations = counter.total;
    cv_mem_set_allocator(NULL);

    *allocs_per_entry = (double)allocations / (double)entries;
    for (int i = 0; i < n; i++) {
        raft_free(cluster.servers[i]);
    }
    free(data);
    free(cluster.queue);
    free(cluster.entry_pool);
    return (double)entries / ((double)elapsed / 1e9);
}

/* The yardstick: copying the same payloads into a ring buffer. */
static double memcpy_rate(size_t payload, uint64_t entries)
{
    size_t ring = 64u << 20;
    char *dst = malloc(ring);
    char *src = calloc(1, payload);
    const struct cv_clock *clock = cv_clock_system();
    uint64_t start = cv_clock_monotonic_ns(clock);
    size_t off = 0;
    for (uint64_t i = 0; i < entries; i++) {
        if (off + payload > ring) {
            off = 0;
        }
        memcpy(dst + off, src, payload);
        off += payload;
    }
    uint64_t elapsed = cv_clock_monotonic_ns(clock) - start;
    volatile char sink = dst[off ? off - 1 : 0];
    (void)sink;
    free(dst);
    free(src);
    return (double)entries / ((double)elapsed / 1e9);
}

int main(int argc, char **argv)
{
    uint64_t entries = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const int sizes[] = {3, 5};
    const size_t payloads[] = {64, 1024};
    printf("raft core, zero-latency I/O, %llu entries per case, proposals in batches of 64\n",
           (unsigned long long)entries);
    double warm = 0;
    run(3, 64, entries, &warm); /* warm the heap: the first run would pay its page faults */
    for (size_t s = 0; s < 2; s++) {
        for (size_t p = 0; p < 2; p++) {
            double allocs = 0;
            double rate = run(sizes[s], payloads[p], entries, &allocs);
            double floor = memcpy_rate(payloads[p], entries);
            printf(
                "%d servers %5zu B: %10.0f committed entries/s  %5.2f allocations/entry   "
                "(memcpy of the payload: %.0f/s)\n",
                sizes[s], payloads[p], rate, allocs, floor);
        }
    }
    return 0;
}
