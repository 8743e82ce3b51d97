/*
 * bench_store: how fast the embedded log makes appends durable.
 *
 * Yardsticks, measured first in the same directory and the same run:
 *   raw append     pwrite 4 KiB at the end of a file + fdatasync, in a loop
 *   raw overwrite  the same into a preallocated (zero-written) file, which is
 *                  what the store's preallocated segments see
 * Then for entries of 256 B and 4 KiB and batches of 1, 16 and 256 entries
 * per store_append:
 *   serial     one append in flight: the latency of one durable append,
 *              comparable with the raw fdatasync rate
 *   pipelined  64 appends in flight: group commit packs what arrives while
 *              a sync runs into the next one
 * printing entries/s, appends/s, p50/p99 completion latency (submit to
 * callback) and serial batch-1 appends/s as a share of the raw overwrite
 * rate. Nothing is asserted.
 *
 *   bench_store [DIR] [SECONDS_PER_CASE]     (default: ./bench-store-data, 2)
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "regiond/store/store.h"
#include "regiond/store/store_embedded.h"

static const struct cv_clock *clk;

static uint64_t now_ns(void)
{
    return cv_clock_monotonic_ns(clk);
}

static double raw_rate(const char *dir, bool prealloc, double seconds)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/raw-%s", dir, prealloc ? "overwrite" : "append");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    static char block[4096];
    memset(block, 'x', sizeof block);
    const off_t size = 256 << 20;
    if (prealloc) {
        for (off_t off = 0; off < size; off += sizeof block) {
            if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block) {
                perror("pwrite");
                exit(1);
            }
        }
        fdatasync(fd);
    }
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), n = 0;
    off_t off = 0;
    while (now_ns() < end && off + (off_t)sizeof block <= size) {
        if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block || fdatasync(fd) != 0) {
            perror("raw write");
            exit(1);
        }
        off += sizeof block;
        n++;
    }
    double rate = (double)n / ((double)(now_ns() - start) / 1e9);
    close(fd);
    unlink(path);
    return rate;
}

struct run
{
    uint64_t *lat;
    size_t nlat, cap;
    int inflight;
};

struct pending
{
    struct run *r;
    uint64_t t0;
};

static void done(void *arg, int status, const struct cv_err *err)
{
    struct pending *p = arg;
    if (status != 0) {
        fprintf(stderr, "append failed: %s\n", err ? err->msg : "?");
        exit(1);
    }
    struct run *r = p->r;
    if (r->nlat < r->cap) {
        r->lat[r->nlat++] = now_ns() - p->t0;
    }
    r->inflight--;
    free(p);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double run_case(const char *dir, size_t size, size_t batch, int depth, double seconds)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/store-%zu-%zu-%d", dir, size, batch, depth);
    struct store_embedded_config cfg = {.dir = sub};
    struct store *s;
    struct store_state st;
    struct cv_err err = {0};
    if (store_embedded_open(&cfg, &s, &st, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", sub, err.msg);
        exit(1);
    }
    unsigned char *data = calloc(1, size);
    struct store_entry *es = calloc(batch, sizeof *es);
    struct run r = {.cap = 1 << 21};
    r.lat = malloc(r.cap * sizeof *r.lat);
    uint64_t next = st.last_index + 1, appends = 0;
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    while (now_ns() < end) {
        while (r.inflight < depth) {
            for (size_t i = 0; i < batch; i++) {
                es[i] = (struct store_entry){next + i, 1, 0, data, size};
            }
            struct pending *p = malloc(sizeof *p);
            *p = (struct pending){&r, now_ns()};
            r.inflight++;
            store_append(s, es, batch, done, p);
            next += batch;
            appends++;
        }
        struct pollfd pfd = {.fd = store_event_fd(s), .events = POLLIN};
        poll(&pfd, 1, -1);
        store_dispatch(s);
    }
    store_drain(s);
    double elapsed = (double)(now_ns() - start) / 1e9;
    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_u64);
    double p50 = r.nlat ? (double)r.lat[r.nlat / 2] / 1e3 : 0;
    double p99 = r.nlat ? (double)r.lat[r.nlat * 99 / 100] / 1e3 : 0;
    double aps = (double)appends / elapsed;
    printf(
        "%6zu B  batch %4zu  %-9s %10.0f entries/s %9.0f appends/s  p50 %8.1f us  p99 %8.1f "
        "us\n",
        size, batch, depth == 1 ? "serial" : "pipelined", aps * (double)batch, aps, p50, p99);
    fflush(stdout);
    store_close(s);
    store_state_free(&st);
    free(r.lat);
    free(es);
    free(data);
    /* Remove the case's files. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", sub);
    }
    return aps;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "bench-store-data";
    double seconds = argc > 2 ? atof(argv[2]) : 2;
    clk = cv_clock_system();
    cv_log_set_level(CV_LOG_WARN);
    mkdir(dir, 0755);
    double raw_append = raw_rate(dir, false, seconds);
    double raw_over = raw_rate(dir, true, seconds);
    printf("yardstick in %s: raw fdatasync, 4 KiB: append %.0f/s, overwrite preallocated %.0f/s\n",
           dir, raw_append, raw_over);
    static const size_t sizes[] = {256, 4096}, batches[] = {1, 16, 256};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 3; j++) {
            double aps = run_case(dir, sizes[i], batches[j], 1, seconds);
            if (batches[j] == 1) {
                printf("%32s serial batch 1 = %.0f%% of raw overwrite, %.0f%% of raw append\n", "",
                       100 * aps / raw_over, 100 * aps / raw_append);
            }
            run_case(dir, sizes[i], batches[j], 64, seconds);
        }
    }
    rmdir(dir);
    return 0;
}
