/*
 * test_lheap: the leader's indexed binary heap: order, removal from the
 * middle, re-ordering after a key change, positions kept in the items,
 * against a sorted model over a seeded random sequence.
 */
#include "testutil.h"

#include <stddef.h>

#include "regiond/leader/lheap.h"

struct item
{
    int key;
    int id;
    size_t pos;
};

static bool item_before(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    return a->key != b->key ? a->key < b->key : a->id < b->id;
}

static void test_pops_in_order(void **state)
{
    (void)state;
    struct item items[6] = {{5, 0, LHEAP_NONE}, {1, 1, LHEAP_NONE}, {9, 2, LHEAP_NONE},
                            {1, 3, LHEAP_NONE}, {7, 4, LHEAP_NONE}, {3, 5, LHEAP_NONE}};
    struct lheap h;
    lheap_init(&h, item_before, offsetof(struct item, pos));
    assert_null(lheap_peek(&h));
    assert_null(lheap_pop(&h));
    for (int i = 0; i < 6; i++) {
        lheap_push(&h, &items[i]);
        assert_true(lheap_valid(&h));
    }
    int expect[6] = {1, 3, 5, 0, 4, 2};
    for (int i = 0; i < 6; i++) {
        struct item *it = lheap_pop(&h);
        assert_int_equal(it->id, expect[i]);
        assert_true(it->pos == LHEAP_NONE);
        assert_false(lheap_contains(&h, it));
    }
    lheap_free(&h);
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

static void test_random_remove_and_fix(void **state)
{
    (void)state;
    enum
    {
        N = 500
    };
    static struct item items[N];
    static bool in[N];
    struct lheap h;
    lheap_init(&h, item_before, offsetof(struct item, pos));
    for (int i = 0; i < N; i++) {
        items[i] = (struct item){0, i, LHEAP_NONE};
        in[i] = false;
    }
    uint64_t seed = 12345;
    for (int step = 0; step < 50000; step++) {
        int i = (int)(xorshift(&seed) % N);
        switch (xorshift(&seed) % 4) {
        case 0:
        case 1:
            if (!in[i]) {
                items[i].key = (int)(xorshift(&seed) % 1000);
                lheap_push(&h, &items[i]);
                in[i] = true;
            } else {
                items[i].key = (int)(xorshift(&seed) % 1000);
                lheap_fix(&h, &items[i]);
            }
            break;
        case 2:
            if (in[i]) {
                lheap_remove(&h, &items[i]);
                in[i] = false;
            }
            break;
        default: {
            struct item *top = lheap_pop(&h);
            if (top) {
                /* Nothing left in the heap comes before the popped item. */
                for (int k = 0; k < N; k++) {
                    assert_false(in[k] && &items[k] != top && item_before(&items[k], top));
                }
                in[top->id] = false;
            }
            break;
        }
        }
        if (step % 1000 == 0) {
            assert_true(lheap_valid(&h));
            for (int k = 0; k < N; k++) {
                assert_true(lheap_contains(&h, &items[k]) == in[k]);
            }
        }
    }
    lheap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_pops_in_order),
        CV_TEST(test_random_remove_and_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
