/*
 * test_store_recovery: the embedded adaptor's recovery rules and its
 * promise under power loss.
 *
 * Corruption: bytes flipped in the middle of a segment refuse the open with
 * a message naming the file and offset; the same in the last record (a torn
 * tail) is truncated and the store keeps working. Power loss: a seeded
 * workload (appends, term/vote, compaction, tail truncation, snapshots) runs
 * on the simulated file system in manual mode (so the same seed makes the
 * same syncs), the power is cut at the Nth sync for every N the workload
 * reaches, the unsynced writes are kept, dropped or torn, and the reopened
 * store must hold everything that was acknowledged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "regiond/store/store.h"
#include "regiond/store/store_embedded.h"
#include "regiond/store/store_fs_sim.h"
#include "store_testutil.h"
#include "testutil.h"

static int setup(void **state)
{
    (void)state;
    cv_log_set_level(CV_LOG_ERROR);
    store_test_count_allocs();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    size_t leaks = store_test_leaks();
    if (leaks) {
        print_error("test leaked %zu allocation(s)\n", leaks);
        return -1;
    }
    return 0;
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- corruption on the real file system -------------------------------------- */

static int open_dir(const char *dir, struct store **s, struct store_state *st, struct cv_err *err)
{
    struct store_embedded_config cfg = {.dir = dir, .segment_size = 1 << 20};
    return store_embedded_open(&cfg, s, st, err);
}

/* Writes 10 synced batches of 10 entries of 100 bytes. */
static void write_log(const char *dir)
{
    struct store *s;
    struct store_state st;
    assert_i64_equal(open_dir(dir, &s, &st, NULL), 0);
    for (uint64_t i = 1; i <= 100; i += 10) {
        struct store_test_call c = {0};
        assert_i64_equal(store_test_append(s, i, i + 9, 1, 0, &c), 0);
        store_drain(s);
        assert_i64_equal(c.status, 0);
    }
    store_close(s);
    store_state_free(&st);
}

/* Offset of record `index` in the first segment (records of 0 bytes). */
static long record_offset(uint64_t index)
{
    return 40 + (long)(index - 1) * 40;
}

static void flip_byte(const char *dir, long off)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seg-0000000000000001", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
}

static void test_corrupt_middle_refuses(void **state)
{
    (void)state;
    char dir[512];
    store_test_mkdtemp(dir, sizeof dir);
    write_log(dir);
    long off = record_offset(35);
    flip_byte(dir, off + 17); /* inside the term */
    struct store *s = NULL;
    struct store_state st;
    struct cv_err err = {0};
    assert_i64_equal(open_dir(dir, &s, &st, &err), CV_EIO);
    char want[64];
    snprintf(want, sizeof want, "at offset %ld", off);
    if (!strstr(err.msg, "seg-0000000000000001") || !strstr(err.msg, want)) {
        print_error("message: %s\n", err.msg);
        fail();
    }
    /* Refusing must not have changed anything: still refused. */
    assert_i64_equal(open_dir(dir, &s, &st, &err), CV_EIO);
    store_test_rmdir(dir);
}

static void test_torn_tail_is_truncated(void **state)
{
    (void)state;
    char dir[512];
    store_test_mkdtemp(dir, sizeof dir);
    write_log(dir);
    flip_byte(dir, record_offset(100) + 9); /* the last record's index */
    /* Garbage after the end, as a partly written next batch leaves. */
    flip_byte(dir, record_offset(103) + 3);
    struct store *s;
    struct store_state st;
    struct cv_err err = {0};
    assert_i64_equal(open_dir(dir, &s, &st, &err), 0);
    assert_u64_equal(st.last_index, 99);
    struct store_test_call c = {0};
    assert_i64_equal(store_test_append(s, 100, 104, 2, 50, &c), 0);
    store_close(s);
    store_state_free(&st);
    assert_i64_equal(c.status, 0);
    assert_i64_equal(open_dir(dir, &s, &st, &err), 0);
    assert_u64_equal(st.last_index, 104);
    store_close(s);
    store_state_free(&st);
    store_test_rmdir(dir);
}

/* ---- power loss on the simulated file system ----------------------------------- */

#define MAXI 4096

struct model
{
    uint64_t acked_last;    /* highest index whose append was acknowledged */
    uint64_t acked_first;   /* first_index after the last acknowledged compaction */
    uint64_t term_of[MAXI]; /* term each acknowledged index was written with */
    uint64_t acked_term, acked_vote;
    uint64_t acked_snap; /* index of the last acknowledged snapshot (a later, unacknowledged
                            one may have replaced it: only its presence is checked) */
    /* Tail truncations submitted but not acknowledged: a crash may or may not
     * have applied them, so entries from the lowest one on are uncertain. */
    unsigned tails_pending;
    uint64_t tail_floor;
};

struct pending
{
    struct model *m;
    int kind;
    uint64_t a, b, c;
};

enum
{
    K_APPEND,
    K_TERM,
    K_HEAD,
    K_TAIL,
    K_SNAP,
    K_OTHER,
};

static void on_done(void *arg, int status, const struct cv_err *err)
{
    (void)err;
    struct pending *p = arg;
    struct model *m = p->m;
    if (status == 0) {
        switch (p->kind) {
        case K_APPEND:
            for (uint64_t i = p->a; i <= p->b; i++) {
                m->term_of[i] = p->c;
            }
            if (p->b >= p->a) {
                m->acked_last = p->b;
            }
            break;
        case K_TERM:
            m->acked_term = p->a;
            m->acked_vote = p->b;
            break;
        case K_HEAD:
            if (p->a + 1 > m->acked_first) {
                m->acked_first = p->a + 1;
            }
            if (p->a > m->acked_last) {
                m->acked_last = p->a;
            }
            break;
        case K_TAIL:
            if (m->acked_last >= p->a) {
                m->acked_last = p->a - 1;
            }
            if (--m->tails_pending == 0) {
                m->tail_floor = UINT64_MAX;
            }
            break;
        case K_SNAP:
            m->acked_snap = p->a;
            break;
        default:
            break;
        }
    }
    free(p);
}

static struct pending *pend(struct model *m, int kind, uint64_t a, uint64_t b, uint64_t c)
{
    struct pending *p = malloc(sizeof *p);
    *p = (struct pending){m, kind, a, b, c};
    return p;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Runs the workload for `steps` or until the power is cut; true if cut. */
static bool workload(struct store_fs *fs, struct model *m, uint64_t seed, int steps)
{
    struct store_embedded_config cfg = {
        .dir = "/d", .fs = fs, .segment_size = 4096, .manual = true};
    struct store *s;
    struct store_state st;
    int rc = store_embedded_open(&cfg, &s, &st, NULL);
    if (rc != 0 && store_fs_sim_crashed(fs)) {
        return true; /* the power went during the open */
    }
    assert_i64_equal(rc, 0);
    store_state_free(&st);
    uint64_t x = seed | 1, term = 1;
    unsigned char snap[1500];
    for (int i = 0; i < steps && !store_fs_sim_crashed(fs); i++) {
        uint64_t r = rnd(&x) % 100, last = store_last_index(s), first = store_first_index(s);
        int burst = 1 + (int)(rnd(&x) % 3);
        if (r < 60) {
            for (int b = 0; b < burst && last + 8 < MAXI; b++) {
                uint64_t n = 1 + rnd(&x) % 8;
                struct store_test_call dummy;
                (void)dummy;
                struct store_entry es[8];
                unsigned char data[8][600];
                for (uint64_t k = 0; k < n; k++) {
                    size_t len = store_test_len(last + 1 + k, term, 600);
                    store_test_fill(data[k], last + 1 + k, term, len);
                    es[k] = (struct store_entry){last + 1 + k, term, (uint8_t)((last + 1 + k) % 3),
                                                 data[k], len};
                }
                assert_i64_equal(
                    store_append(s, es, n, on_done, pend(m, K_APPEND, last + 1, last + n, term)),
                    0);
                last += n;
            }
        } else if (r < 70) {
            term++;
            assert_i64_equal(store_set_term_vote(s, term, term % 3 + 1, on_done,
                                                 pend(m, K_TERM, term, term % 3 + 1, 0)),
                             0);
        } else if (r < 78 && last > first + 10) {
            assert_i64_equal(
                store_truncate_head(s, last - 5, on_done, pend(m, K_HEAD, last - 5, 0, 0)), 0);
        } else if (r < 86 && last >= first + 3) {
            m->tails_pending++;
            if (last - 2 < m->tail_floor) {
                m->tail_floor = last - 2;
            }
            assert_i64_equal(
                store_truncate_tail(s, last - 2, on_done, pend(m, K_TAIL, last - 2, 0, 0)), 0);
        } else if (r < 94 && last > 0) {
            size_t size = (size_t)(rnd(&x) % sizeof snap);
            store_test_fill(snap, last, term, size);
            struct store_snapshot_meta meta = {last, term, size, "c", 1};
            size_t half = size / 2;
            assert_i64_equal(
                store_snapshot_put(s, &meta, 0, snap, half, on_done, pend(m, K_OTHER, 0, 0, 0)), 0);
            assert_i64_equal(store_snapshot_put(s, &meta, half, snap + half, size - half, on_done,
                                                pend(m, K_SNAP, last, 0, 0)),
                             0);
        }
        store_drain(s);
    }
    bool crashed = store_fs_sim_crashed(fs);
    store_close(s);
    return crashed;
}

/* Checks the reopened store against the model, then makes what it holds the
 * model's baseline (entries that survived unacknowledged are part of the log
 * from now on). */
static void check_recovered(struct store_fs *fs, struct model *m, const char *what)
{
    struct store_embedded_config cfg = {.dir = "/d", .fs = fs, .segment_size = 4096};
    struct store *s;
    struct store_state st;
    struct cv_err err = {0};
    int rc = store_embedded_open(&cfg, &s, &st, &err);
    if (rc != 0) {
        print_error("%s: reopen failed: %s\n", what, err.msg);
        fail();
    }
    uint64_t certain = m->acked_last;
    if (m->tail_floor != UINT64_MAX && m->tail_floor - 1 < certain) {
        certain = m->tail_floor - 1;
    }
    m->tails_pending = 0;
    m->tail_floor = UINT64_MAX;
    if (st.last_index < certain || st.first_index < m->acked_first || st.term < m->acked_term ||
        (st.term == m->acked_term && st.vote != m->acked_vote) ||
        (m->acked_snap && !st.has_snapshot)) {
        print_error(
            "%s: recovered first=%llu last=%llu term=%llu vote=%llu snap=%llu; acked "
            "first=%llu last=%llu term=%llu vote=%llu snap=%llu\n",
            what, (unsigned long long)st.first_index, (unsigned long long)st.last_index,
            (unsigned long long)st.term, (unsigned long long)st.vote,
            (unsigned long long)st.snapshot.index, (unsigned long long)m->acked_first,
            (unsigned long long)m->acked_last, (unsigned long long)m->acked_term,
            (unsigned long long)m->acked_vote, (unsigned long long)m->acked_snap);
        fail();
    }
    uint64_t from = st.first_index;
    if (from <= st.last_index) {
        struct store_test_call c = {0};
        assert_i64_equal(store_read(s, from, st.last_index, store_test_read_cb, &c), 0);
        store_drain(s);
        assert_i64_equal(c.status, 0);
        for (size_t i = 0; i < c.n; i++) {
            const struct store_entry *e = &c.entries[i];
            if (e->index > certain) {
                m->term_of[e->index] = e->term;
                continue;
            }
            if (e->term != m->term_of[e->index] ||
                !store_test_check(e->data, e->index, e->term, e->len)) {
                print_error("%s: entry %llu has term %llu, acknowledged with %llu\n", what,
                            (unsigned long long)e->index, (unsigned long long)e->term,
                            (unsigned long long)m->term_of[e->index]);
                fail();
            }
        }
        store_entries_free(c.entries, c.n);
    }
    m->acked_last = st.last_index;
    m->acked_first = st.first_index;
    store_close(s);
    store_state_free(&st);
}

static void test_power_loss_at_every_sync(void **state)
{
    (void)state;
    static const char *names[] = {"keep", "drop", "torn"};
    enum
    {
        STEPS = 60
    };
    unsigned runs = 0;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        for (int mode = STORE_FS_SIM_KEEP; mode <= STORE_FS_SIM_TORN; mode++) {
            for (unsigned n = 1;; n++) {
                struct store_fs *fs = store_fs_sim_new(seed * 1000 + n);
                struct model *m = calloc(1, sizeof *m);
                m->acked_first = 1;
                m->tail_floor = UINT64_MAX;
                store_fs_sim_crash_at_sync(fs, n);
                bool crashed = workload(fs, m, seed, STEPS);
                if (crashed) {
                    store_fs_sim_power_cycle(fs, (enum store_fs_sim_mode)mode);
                }
                char what[96];
                snprintf(what, sizeof what, "seed %llu, %s, power cut at sync %u",
                         (unsigned long long)seed, names[mode], n);
                check_recovered(fs, m, what);
                /* And the store keeps working after the restart. */
                if (crashed) {
                    workload(fs, m, seed + 7, 5);
                    check_recovered(fs, m, what);
                }
                free(m);
                store_fs_sim_free(fs);
                runs++;
                if (!crashed) {
                    break;
                }
            }
        }
    }
    print_message("power loss: %u runs\n", runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_corrupt_middle_refuses),
        TEST(test_torn_tail_is_truncated),
        TEST(test_power_loss_at_every_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
