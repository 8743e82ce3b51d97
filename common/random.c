/*
 * random: getrandom(2) for identifiers and tokens (see random.h).
 */
#include "common/random.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* UUIDs come from a per-thread buffer of kernel randomness refilled 64
 * UUIDs at a time: one getrandom(2) per UUID was a measurable share of the
 * scheduler's cost. A forked child must never hand out its parent's
 * buffered bytes, so a fork invalidates every buffer (fork_generation). */
#define UUID_BUFFER_BYTES 1024

static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

struct uuid_buffer
{
    unsigned char bytes[UUID_BUFFER_BYTES];
    size_t used; /* bytes handed out */
    unsigned generation;
    bool filled;
};

static _Thread_local struct uuid_buffer uuid_buf;

void cv_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    int failures = 0;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0) {
            if (errno != EINTR && ++failures > 100) {
                fprintf(stderr, "fatal: getrandom: no randomness from the kernel\n");
                abort();
            }
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
}

uint64_t cv_random_u64(void)
{
    uint64_t v;
    cv_random_bytes(&v, sizeof v);
    return v;
}

/* 16 random bytes for a UUID, from the thread's buffer. */
static void uuid_bytes(unsigned char out[16])
{
    pthread_once(&atfork_once, install_atfork);
    struct uuid_buffer *b = &uuid_buf;
    unsigned gen = atomic_load(&fork_generation);
    if (!b->filled || b->generation != gen || b->used + 16 > sizeof b->bytes) {
        cv_random_bytes(b->bytes, sizeof b->bytes);
        b->used = 0;
        b->generation = gen;
        b->filled = true;
    }
    memcpy(out, b->bytes + b->used, 16);
    /* Handed out once: wipe them so a later copy of memory does not hold
     * identifiers not yet issued. */
    memset(b->bytes + b->used, 0, 16);
    b->used += 16;
}

void cv_uuid_generate(char out[CV_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uuid_bytes(b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
}
