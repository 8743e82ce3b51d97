/*
 * test_lmap: the leader's string-keyed hash map: put, get, replace, remove
 * with backward shift (checked against a plain array model over a seeded
 * random sequence), growth and shrinking, iteration, and the keyed hash.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "regiond/leader/lmap.h"

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    struct lmap m;
    lmap_init(&m, 1, 2);
    assert_null(lmap_get(&m, "a"));
    assert_null(lmap_remove(&m, "a"));
    int a = 1, b = 2, c = 3;
    assert_null(lmap_put(&m, "a", &a));
    assert_null(lmap_put(&m, "b", &b));
    assert_ptr_equal(lmap_get(&m, "a"), &a);
    assert_ptr_equal(lmap_put(&m, "a", &c), &a);
    assert_ptr_equal(lmap_get(&m, "a"), &c);
    assert_u64_equal(lmap_len(&m), 2);
    assert_ptr_equal(lmap_remove(&m, "a"), &c);
    assert_null(lmap_get(&m, "a"));
    assert_ptr_equal(lmap_get(&m, "b"), &b);
    assert_u64_equal(lmap_len(&m), 1);
    lmap_free(&m);
    assert_null(lmap_get(&m, "b"));
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Random puts and removes over 2,000 keys, checked against an array. */
static void test_random_against_model(void **state)
{
    (void)state;
    enum
    {
        N = 2000
    };
    static char keys[N][16];
    static int present[N];
    static int values[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "node-%d", i);
        present[i] = 0;
        values[i] = i;
    }
    struct lmap m;
    lmap_init(&m, 42, 7);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t live = 0;
    for (int step = 0; step < 200000; step++) {
        int k = (int)(xorshift(&seed) % N);
        /* Phases of mostly-insert and mostly-remove exercise grow and shrink. */
        bool insert = (step / 20000) % 2 == 0 ? xorshift(&seed) % 4 != 0 : xorshift(&seed) % 4 == 0;
        if (insert) {
            void *old = lmap_put(&m, keys[k], &values[k]);
            assert_true(present[k] ? old == &values[k] : old == NULL);
            if (!present[k]) {
                live++;
            }
            present[k] = 1;
        } else {
            void *old = lmap_remove(&m, keys[k]);
            assert_true(present[k] ? old == &values[k] : old == NULL);
            if (present[k]) {
                live--;
            }
            present[k] = 0;
        }
        assert_u64_equal(lmap_len(&m), live);
        if (step % 10000 == 0) {
            for (int i = 0; i < N; i++) {
                assert_ptr_equal(lmap_get(&m, keys[i]), present[i] ? &values[i] : NULL);
            }
        }
    }
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(lmap_get(&m, keys[i]), present[i] ? &values[i] : NULL);
    }
    lmap_free(&m);
}

static void test_iteration_sees_every_entry_once(void **state)
{
    (void)state;
    enum
    {
        N = 300
    };
    static char keys[N][16];
    static int seen[N];
    struct lmap m;
    lmap_init(&m, 3, 4);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        seen[i] = 0;
        lmap_put(&m, keys[i], &seen[i]);
    }
    size_t pos = 0, n = 0;
    const char *key;
    void *value;
    while (lmap_next(&m, &pos, &key, &value)) {
        int *s = value;
        assert_string_equal(key, keys[s - seen]);
        (*s)++;
        n++;
    }
    assert_u64_equal(n, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i], 1);
    }
    lmap_free(&m);
}

static void test_siphash_is_keyed(void **state)
{
    (void)state;
    const char *s = "0f1e2d3c-aaaa-bbbb-cccc-000000000001";
    uint64_t h1 = lmap_siphash(s, strlen(s), 1, 2);
    assert_u64_equal(lmap_siphash(s, strlen(s), 1, 2), h1);
    assert_true(lmap_siphash(s, strlen(s), 1, 3) != h1);
    assert_true(lmap_siphash(s, strlen(s) - 1, 1, 2) != h1);
    /* Every length up to two blocks hashes, and the empty input too. */
    uint64_t prev = lmap_siphash("", 0, 1, 2);
    for (size_t n = 1; n <= 16; n++) {
        uint64_t h = lmap_siphash(s, n, 1, 2);
        assert_true(h != prev);
        prev = h;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_put_get_replace_remove),
        CV_TEST(test_random_against_model),
        CV_TEST(test_iteration_sees_every_entry_once),
        CV_TEST(test_siphash_is_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
