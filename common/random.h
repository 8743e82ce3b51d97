/*
 * random: the kernel's randomness for identifiers and tokens.
 *
 * IDs (evaluations, allocations, nodes) and delivery tokens must not repeat
 * or be guessable, so they come from getrandom(2), never from a seeded
 * generator. Logic that must replay in a simulation takes its randomness
 * from its caller instead (as Raft's raft_io.random does).
 */
#ifndef CV_RANDOM_H
#define CV_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#define CV_UUID_LEN 36 /* characters, without the terminating NUL */

/* Fills buf with len random bytes. Aborts when the kernel has none to give:
 * identifiers that might repeat are worse than stopping. */
void cv_random_bytes(void *buf, size_t len);

/* A random 64-bit number. */
uint64_t cv_random_u64(void);

/* Writes a random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
 * The bytes come from a per-thread buffer of getrandom(2) output (one call
 * per 64 UUIDs); a fork empties every buffer, so parent and child never
 * issue the same ID. */
void cv_uuid_generate(char out[CV_UUID_LEN + 1]);

#endif
