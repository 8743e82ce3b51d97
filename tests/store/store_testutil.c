/*
 * store_testutil: shared helpers of the store tests (see store_testutil.h).
 */
#include "store_testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

/* Guards live. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t live;

static void *locked_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = malloc(size);
    if (p) {
        pthread_mutex_lock(&count_lock);
        live++;
        pthread_mutex_unlock(&count_lock);
    }
    return p;
}

static void *locked_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    void *p = realloc(ptr, size);
    if (p && !ptr) {
        pthread_mutex_lock(&count_lock);
        live++;
        pthread_mutex_unlock(&count_lock);
    }
    return p;
}

static void locked_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr) {
        pthread_mutex_lock(&count_lock);
        live--;
        pthread_mutex_unlock(&count_lock);
    }
    free(ptr);
}

void store_test_count_allocs(void)
{
    struct cv_allocator a = {locked_malloc, locked_realloc, locked_free, NULL};
    pthread_mutex_lock(&count_lock);
    live = 0;
    pthread_mutex_unlock(&count_lock);
    cv_mem_set_allocator(&a);
}

size_t store_test_leaks(void)
{
    cv_mem_set_allocator(NULL);
    pthread_mutex_lock(&count_lock);
    size_t n = live;
    pthread_mutex_unlock(&count_lock);
    return n;
}

void store_test_mkdtemp(char *path, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, size, "%s/cvstore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
}

void store_test_rmdir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        return;
    }
    struct dirent *de;
    char file[4096];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        unlink(file);
    }
    closedir(d);
    rmdir(path);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void store_test_fill(unsigned char *out, uint64_t index, uint64_t term, size_t len)
{
    uint64_t seed = mix(index * 0x9e3779b97f4a7c15ULL + term + len);
    for (size_t j = 0; j < len; j++) {
        if (j % 8 == 0) {
            seed = mix(seed + j);
        }
        out[j] = (unsigned char)(seed >> (8 * (j % 8)));
    }
}

bool store_test_check(const unsigned char *data, uint64_t index, uint64_t term, size_t len)
{
    unsigned char *want = malloc(len ? len : 1);
    store_test_fill(want, index, term, len);
    bool ok = len == 0 || memcmp(want, data, len) == 0;
    free(want);
    return ok;
}

size_t store_test_len(uint64_t index, uint64_t term, size_t max)
{
    return max ? (size_t)(mix(index ^ (term << 40)) % (max + 1)) : 0;
}

static unsigned seq;

unsigned store_test_next_seq(void)
{
    return seq + 1;
}

void store_test_done_cb(void *arg, int status, const struct cv_err *err)
{
    struct store_test_call *c = arg;
    (void)err;
    c->done = true;
    c->status = status;
    c->seq = ++seq;
}

void store_test_read_cb(void *arg, int status, const struct cv_err *err,
                        struct store_entry *entries, size_t n)
{
    struct store_test_call *c = arg;
    if (status != 0 && err && getenv("STORE_TEST_VERBOSE")) {
        fprintf(stderr, "read failed: %s\n", err->msg);
    }
    c->done = true;
    c->status = status;
    c->seq = ++seq;
    c->entries = entries;
    c->n = n;
}

int store_test_append(struct store *s, uint64_t from, uint64_t to, uint64_t term, size_t max_len,
                      struct store_test_call *call)
{
    size_t n = to >= from ? (size_t)(to - from + 1) : 0;
    struct store_entry *es = calloc(n ? n : 1, sizeof *es);
    for (size_t i = 0; i < n; i++) {
        uint64_t index = from + i;
        size_t len = store_test_len(index, term, max_len);
        unsigned char *d = malloc(len ? len : 1);
        store_test_fill(d, index, term, len);
        es[i] = (struct store_entry){index, term, (uint8_t)(index % 3), d, len};
    }
    int rc = store_append(s, es, n, store_test_done_cb, call);
    for (size_t i = 0; i < n; i++) {
        free((void *)es[i].data);
    }
    free(es);
    return rc;
}
