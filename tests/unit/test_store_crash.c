/*
 * test_store_crash: kill -9 at random moments loses nothing acknowledged.
 *
 * A forked child opens the embedded store in a temporary directory (small
 * segments, so it rolls and compacts often), prints "R <last>" once
 * recovered, then appends batches of random sizes, several in flight, and
 * prints "A <index> <term>" for each acknowledged batch (term = the run
 * number). The parent SIGKILLs it after a random 0-25 ms, reads every line
 * the child managed to print, reopens the store itself and checks that
 * every acknowledged entry is there, intact, with the term it was written
 * with, and that the log is contiguous. At least CARAVAN_CRASH_KILLS (200)
 * kills, stopping early only past CARAVAN_CRASH_SECONDS (50).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "regiond/store/store.h"
#include "regiond/store/store_embedded.h"
#include "store_testutil.h"
#include "testutil.h"

#define SEG_SIZE (64 * 1024)
#define MAX_LEN  2000
#define MAXI     (1 << 22)

struct child
{
    struct store *s;
    uint64_t term;
    int inflight;
};

static void child_acked(void *arg, int status, const struct cv_err *err)
{
    (void)err;
    struct child *c = arg;
    c->inflight--;
    if (status != 0) {
        _exit(3);
    }
}

struct ack
{
    struct child *c;
    uint64_t last;
};

static void child_ack_cb(void *arg, int status, const struct cv_err *err)
{
    struct ack *a = arg;
    char line[64];
    int n = snprintf(line, sizeof line, "A %" PRIu64 " %" PRIu64 "\n", a->last, a->c->term);
    child_acked(a->c, status, err);
    /* One write per line: what the parent reads was acknowledged. */
    if (write(1, line, (size_t)n) != n) {
        _exit(4);
    }
    free(a);
}

static void child_main(const char *dir, uint64_t term, uint64_t seed)
{
    struct store_embedded_config cfg = {.dir = dir, .segment_size = SEG_SIZE};
    struct child c = {.term = term};
    struct store_state st;
    struct cv_err err = {0};
    if (store_embedded_open(&cfg, &c.s, &st, &err) != 0) {
        fprintf(stderr, "child: open: %s\n", err.msg);
        _exit(2);
    }
    char line[64];
    int n = snprintf(line, sizeof line, "R %" PRIu64 "\n", st.last_index);
    if (write(1, line, (size_t)n) != n) {
        _exit(4);
    }
    uint64_t x = seed | 1;
    unsigned char *data = malloc(MAX_LEN * 32);
    for (uint64_t round = 0;; round++) {
        while (c.inflight < 6) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t k = 1 + (size_t)(x % 32);
            uint64_t first = store_last_index(c.s) + 1;
            struct store_entry es[32];
            unsigned char *p = data;
            for (size_t i = 0; i < k; i++) {
                size_t len = store_test_len(first + i, term, MAX_LEN);
                store_test_fill(p, first + i, term, len);
                es[i] = (struct store_entry){first + i, term, (uint8_t)((first + i) % 3), p, len};
                p += len;
            }
            struct ack *a = malloc(sizeof *a);
            *a = (struct ack){&c, first + k - 1};
            c.inflight++;
            if (store_append(c.s, es, k, child_ack_cb, a) != 0) {
                _exit(5);
            }
        }
        if (round % 50 == 49 && store_last_index(c.s) > 3000) {
            c.inflight++;
            store_truncate_head(c.s, store_last_index(c.s) - 2000, child_acked, &c);
        }
        struct pollfd pfd = {.fd = store_event_fd(c.s), .events = POLLIN};
        poll(&pfd, 1, -1);
        store_dispatch(c.s);
    }
}

static uint64_t *acked_term; /* term each acknowledged index was written with; 0: none */

static void run_once(const char *dir, uint64_t term, uint64_t *max_acked, unsigned delay_us)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        child_main(dir, term, term * 7919);
        _exit(0);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[128];
    uint64_t base = 0;
    bool ready = false, killed = false;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (!killed && ready) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long us = (now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000;
            if (us >= (long)delay_us) {
                kill(pid, SIGKILL);
                killed = true;
            }
        }
        if (!fgets(line, sizeof line, in)) {
            break;
        }
        uint64_t a, t;
        if (sscanf(line, "R %" SCNu64, &a) == 1) {
            base = a;
            ready = true;
            clock_gettime(CLOCK_MONOTONIC, &start);
        } else if (sscanf(line, "A %" SCNu64 " %" SCNu64, &a, &t) == 2) {
            assert_true(a < MAXI);
            for (uint64_t i = base + 1; i <= a; i++) {
                acked_term[i] = t;
            }
            base = a;
            if (a > *max_acked) {
                *max_acked = a;
            }
        }
    }
    fclose(in);
    int status;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        print_error("child ended with status %d before the kill\n", status);
        fail();
    }
}

static void verify(const char *dir, uint64_t max_acked, unsigned run)
{
    struct store_embedded_config cfg = {.dir = dir, .segment_size = SEG_SIZE};
    struct store *s;
    struct store_state st;
    struct cv_err err = {0};
    if (store_embedded_open(&cfg, &s, &st, &err) != 0) {
        print_error("run %u: reopen failed: %s\n", run, err.msg);
        fail();
    }
    if (st.last_index < max_acked) {
        print_error("run %u: last index %" PRIu64 " but %" PRIu64 " was acknowledged\n", run,
                    st.last_index, max_acked);
        fail();
    }
    struct store_test_call c = {0};
    assert_i64_equal(store_read(s, st.first_index, st.last_index, store_test_read_cb, &c), 0);
    store_drain(s);
    assert_i64_equal(c.status, 0);
    for (size_t i = 0; i < c.n; i++) {
        const struct store_entry *e = &c.entries[i];
        uint64_t want = e->index <= max_acked ? acked_term[e->index] : e->term;
        if (e->index != st.first_index + i || e->term != want ||
            e->len != store_test_len(e->index, e->term, MAX_LEN) ||
            !store_test_check(e->data, e->index, e->term, e->len)) {
            print_error("run %u: entry %" PRIu64 " (term %" PRIu64
                        ", %zu bytes) is not what "
                        "was acknowledged (term %" PRIu64 ")\n",
                        run, e->index, e->term, e->len, want);
            fail();
        }
        acked_term[e->index] = e->term; /* survived: part of the log from now on */
    }
    store_entries_free(c.entries, c.n);
    /* Compact, as Raft would after a snapshot, so runs stay short. */
    if (st.last_index - st.first_index > 2000) {
        struct store_test_call t = {0};
        assert_i64_equal(store_truncate_head(s, st.last_index - 1000, store_test_done_cb, &t), 0);
        store_drain(s);
        assert_i64_equal(t.status, 0);
    }
    store_close(s);
    store_state_free(&st);
}

static void test_kill9_loses_nothing_acknowledged(void **state)
{
    (void)state;
    cv_log_set_level(CV_LOG_ERROR);
    const char *k = getenv("CARAVAN_CRASH_KILLS"), *secs = getenv("CARAVAN_CRASH_SECONDS");
    unsigned kills = k ? (unsigned)atoi(k) : 200;
    double limit = secs ? atof(secs) : 240; /* a safety valve, far above the ~40 s it takes */
    char dir[512];
    store_test_mkdtemp(dir, sizeof dir);
    acked_term = calloc(MAXI, sizeof *acked_term);
    uint64_t max_acked = 0, x = 88172645463325252ULL;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned run = 0;
    for (; run < kills; run++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        run_once(dir, run + 1, &max_acked, (unsigned)(x % 25000));
        verify(dir, max_acked, run);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (el > limit) {
            run++;
            break;
        }
    }
    print_message("crash: %u kills, %" PRIu64 " entries acknowledged\n", run, max_acked);
    free(acked_term);
    store_test_rmdir(dir);
    assert_true(run >= kills);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_nothing_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
