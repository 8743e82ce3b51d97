/*
 * bench_state: what the state store costs the FSM and its readers.
 *
 * Builds a state of NODES nodes and ALLOCS allocations (over ALLOCS/100
 * jobs) the way the FSM would, one transaction per Raft entry, and prints:
 * node upserts/s (one per transaction, as registrations arrive), plan
 * results/s (10 allocations per transaction), client updates/s (50 per
 * transaction, as Nomad batches them), the cost of taking and releasing a
 * snapshot with that state, reads (get by ID, allocations by node), and the
 * FSM snapshot's size, write and restore speed.
 *
 * The yardstick is decoding the same object from JSON (cv_*_parse), which
 * the FSM does for every entry before it calls the store: the store's part
 * should be a fraction of it.
 *
 *   bench_state [NODES] [ALLOCS]     (defaults 10000 100000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"
#include "regiond/state/state.h"

static const struct cv_clock *clk;

static uint64_t now_ns(void)
{
    return cv_clock_monotonic_ns(clk);
}

static void uuid(char out[37], unsigned kind, unsigned n)
{
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", kind << 28, n);
}

static void die_errors(const char *what, int rc, struct cv_errlist *errs)
{
    if (rc == 0) {
        cv_errlist_free(errs);
        return;
    }
    char line[512];
    fprintf(stderr, "bench_state: %s: %s\n", what,
            errs->len ? cv_errlist_format(errs, 0, line, sizeof line) : cv_strerror(rc));
    exit(1);
}

static char node_json[1024], alloc_json[1024];

static struct cv_node *parse_node(void)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *n = NULL;
    die_errors("node", cv_node_parse(node_json, strlen(node_json), &n, &errs), &errs);
    return n;
}

static struct cv_allocation *parse_alloc(void)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    die_errors("alloc", cv_alloc_parse(alloc_json, strlen(alloc_json), &a, &errs), &errs);
    return a;
}

static struct cv_job *parse_job(const char *id)
{
    char text[1200];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
             " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 100, \"Tasks\": [{\"Name\": \"t\","
             " \"Driver\": \"mock\", \"Config\": {\"run_for\": \"10s\"},"
             " \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}",
             id);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *j = NULL;
    die_errors("job", cv_job_parse(text, strlen(text), &j, &errs), &errs);
    return j;
}

static void report(const char *what, uint64_t ops, uint64_t ns, double yard_ns)
{
    double per = (double)ns / (double)ops;
    printf("  %-44s %10.0f /s  %8.2f us each", what, 1e9 / per, per / 1000.0);
    if (yard_ns > 0) {
        printf("  (%.2fx decode)", per / yard_ns);
    }
    printf("\n");
}

static int buf_write(void *arg, const void *data, size_t len)
{
    cv_buf_append(arg, data, len);
    return 0;
}

struct mem_reader
{
    const char *data;
    size_t len, pos;
};

static int mem_read(void *arg, void *buf, size_t cap, size_t *got)
{
    struct mem_reader *r = arg;
    size_t n = r->len - r->pos < cap ? r->len - r->pos : cap;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    *got = n;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned nodes = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
    unsigned allocs = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100000;
    if (nodes == 0 || allocs < 100) {
        fprintf(stderr, "usage: bench_state [NODES >= 1] [ALLOCS >= 100]\n");
        return 2;
    }
    unsigned jobs = allocs / 100;
    clk = cv_clock_system();
    struct cv_mem_counter counter;
    cv_mem_count_into(&counter);

    char id[37], other[37];
    uuid(id, 1, 0);
    snprintf(node_json, sizeof node_json,
             "{\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"client\", \"Status\": "
             "\"ready\", \"Attributes\": {\"kernel.name\": \"linux\", \"cpu.arch\": \"amd64\","
             " \"os.name\": \"debian\"}, \"NodeResources\": {\"Cpu\": {\"CpuShares\": 16000},"
             " \"Memory\": {\"MemoryMB\": 65536}, \"Disk\": {\"DiskMB\": 500000}},"
             " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}}}",
             id);
    uuid(id, 2, 0);
    uuid(other, 3, 0);
    snprintf(alloc_json, sizeof alloc_json,
             "{\"ID\": \"%s\", \"EvalID\": \"%s\", \"Name\": \"job.g[0]\", \"NodeID\": \"%s\","
             " \"JobID\": \"job\", \"TaskGroup\": \"g\", \"DesiredStatus\": \"run\","
             " \"ClientStatus\": \"pending\", \"AllocatedResources\": {\"Tasks\": {\"t\":"
             " {\"Cpu\": {\"CpuShares\": 100}, \"Memory\": {\"MemoryMB\": 64}}},"
             " \"Shared\": {\"DiskMB\": 300}}}",
             id, other, other);

    printf("bench_state: %u nodes, %u allocations over %u jobs\n", nodes, allocs, jobs);
    /* Yardsticks: decoding the objects the entries carry. */
    uint64_t t0 = now_ns();
    for (int i = 0; i < 2000; i++) {
        cv_node_free(parse_node());
    }
    double node_decode = (double)(now_ns() - t0) / 2000;
    t0 = now_ns();
    for (int i = 0; i < 2000; i++) {
        cv_alloc_free(parse_alloc());
    }
    double alloc_decode = (double)(now_ns() - t0) / 2000;
    printf("  yardstick: decode a node %.2f us, an allocation %.2f us\n", node_decode / 1000,
           alloc_decode / 1000);

    struct state_store *st = state_store_new(NULL);
    struct cv_node *node_tmpl = parse_node();
    struct cv_allocation *alloc_tmpl = parse_alloc();
    uint64_t index = 0;

    /* Nodes: one registration per entry. */
    uint64_t spent = 0;
    for (unsigned i = 0; i < nodes; i++) {
        struct cv_node *n = cv_node_copy(node_tmpl);
        uuid(id, 1, i);
        cv_set_string(&n->id, id);
        t0 = now_ns();
        struct state_txn *txn = state_txn_begin(st, ++index);
        state_txn_upsert_node(txn, n, NULL);
        state_txn_commit(txn);
        spent += now_ns() - t0;
    }
    report("node upsert, 1 per transaction", nodes, spent, node_decode);

    for (unsigned j = 0; j < jobs; j++) {
        char jid[32];
        snprintf(jid, sizeof jid, "job-%05u", j);
        struct state_txn *txn = state_txn_begin(st, ++index);
        state_txn_upsert_job(txn, parse_job(jid), NULL);
        state_txn_commit(txn);
    }

    /* Plan results: 10 allocations per entry, without their job (shared). */
    spent = 0;
    struct cv_allocation *batch[50];
    for (unsigned i = 0; i < allocs; i += 10) {
        unsigned n = allocs - i < 10 ? allocs - i : 10;
        for (unsigned k = 0; k < n; k++) {
            struct cv_allocation *a = cv_alloc_copy(alloc_tmpl);
            char jid[32];
            uuid(id, 2, i + k);
            cv_set_string(&a->id, id);
            uuid(id, 1, (i + k) % nodes);
            cv_set_string(&a->node_id, id);
            snprintf(jid, sizeof jid, "job-%05u", (i + k) % jobs);
            cv_set_string(&a->job_id, jid);
            batch[k] = a;
        }
        t0 = now_ns();
        struct state_txn *txn = state_txn_begin(st, ++index);
        state_txn_upsert_allocs(txn, batch, n, NULL);
        state_txn_commit(txn);
        spent += now_ns() - t0;
    }
    report("allocation upsert, 10 per transaction", allocs, spent, alloc_decode);

    /* Client updates: 50 per entry, running. */
    spent = 0;
    for (unsigned i = 0; i < allocs; i += 50) {
        unsigned n = allocs - i < 50 ? allocs - i : 50;
        for (unsigned k = 0; k < n; k++) {
            struct cv_allocation *u = cv_alloc_new();
            uuid(id, 2, i + k);
            cv_set_string(&u->id, id);
            cv_set_string(&u->client_status, CV_ALLOC_CLIENT_RUNNING);
            batch[k] = u;
        }
        t0 = now_ns();
        struct state_txn *txn = state_txn_begin(st, ++index);
        state_txn_update_allocs_from_client(txn, batch, n, NULL);
        state_txn_commit(txn);
        spent += now_ns() - t0;
    }
    report("client update, 50 per transaction", allocs, spent, alloc_decode);
    printf("  live cv_malloc blocks in the state: %zu (%.1f per object)\n", counter.live,
           (double)counter.live / (double)(nodes + allocs + jobs));

    /* Snapshots. */
    const unsigned snaps = 1000000;
    t0 = now_ns();
    for (unsigned i = 0; i < snaps; i++) {
        state_snapshot_release(state_snapshot(st));
    }
    report("snapshot take + release", snaps, now_ns() - t0, 0);

    /* A write right after a snapshot pays the path copies. */
    struct state_snap *held = state_snapshot(st);
    spent = 0;
    for (unsigned i = 0; i < 10000; i++) {
        struct cv_allocation *u = cv_alloc_new();
        uuid(id, 2, i % allocs);
        cv_set_string(&u->id, id);
        cv_set_string(&u->client_status, CV_ALLOC_CLIENT_RUNNING);
        t0 = now_ns();
        struct state_txn *txn = state_txn_begin(st, ++index);
        state_txn_update_allocs_from_client(txn, &u, 1, NULL);
        state_txn_commit(txn);
        spent += now_ns() - t0;
    }
    report("client update, 1 per transaction", 10000, spent, alloc_decode);
    state_snapshot_release(held);

    /* Reads. */
    struct state_snap *s = state_snapshot(st);
    unsigned found = 0;
    t0 = now_ns();
    for (unsigned i = 0; i < 1000000; i++) {
        uuid(id, 2, (unsigned)(((uint64_t)i * 7919) % allocs));
        found += state_alloc(s, id) != NULL;
    }
    report("alloc get by ID (incl. formatting the ID)", 1000000, now_ns() - t0, 0);
    size_t seen = 0;
    t0 = now_ns();
    for (unsigned i = 0; i < nodes; i++) {
        struct state_iter it;
        uuid(id, 1, i);
        state_iter_allocs_by_node(s, id, &it);
        while (state_iter_next(&it)) {
            seen++;
        }
    }
    uint64_t scan = now_ns() - t0;
    printf("  allocations by node, every node: %zu allocations in %.2f ms (%.0f ns each)\n", seen,
           (double)scan / 1e6, (double)scan / (double)(seen ? seen : 1));

    /* FSM snapshot and restore. */
    struct cv_buf out;
    cv_buf_init(&out);
    t0 = now_ns();
    state_snapshot_write(s, buf_write, &out, NULL);
    uint64_t wns = now_ns() - t0;
    printf("  FSM snapshot: %.1f MB written in %.0f ms (%.0f MB/s)\n", (double)out.len / 1e6,
           (double)wns / 1e6, (double)out.len / 1e6 / ((double)wns / 1e9));
    struct state_store *copy = state_store_new(NULL);
    struct mem_reader r = {out.data, out.len, 0};
    struct cv_err err;
    t0 = now_ns();
    int rc = state_restore(copy, mem_read, &r, &err);
    uint64_t rns = now_ns() - t0;
    if (rc) {
        fprintf(stderr, "bench_state: restore: %s\n", err.msg);
        return 1;
    }
    printf("  FSM restore: %.0f ms (%.0f objects/s)\n", (double)rns / 1e6,
           (double)(nodes + allocs + jobs) / ((double)rns / 1e9));
    if (found != 1000000) {
        fprintf(stderr, "bench_state: %u lookups failed\n", 1000000 - found);
        return 1;
    }

    cv_buf_free(&out);
    state_snapshot_release(s);
    state_store_free(copy);
    state_store_free(st);
    cv_node_free(node_tmpl);
    cv_alloc_free(alloc_tmpl);
    cv_mem_set_allocator(NULL);
    if (counter.live != 0) {
        fprintf(stderr, "bench_state: %zu allocations leaked\n", counter.live);
        return 1;
    }
    return 0;
}
