/*
 * random: getrandom(2) for identifiers and tokens (see random.h).
 */
#include "common/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

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

void cv_uuid_generate(char out[CV_UUID_LEN + 1])
{
    unsigned char b[16];
    cv_random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, CV_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
