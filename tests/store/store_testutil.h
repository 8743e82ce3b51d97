/*
 * store_testutil: what the store's test programs share.
 *
 * A counting allocator that is safe with the store's worker thread (the one
 * in common/mem.c counts without a lock), temporary directories, entry
 * payloads that can be recomputed from (index, term) so any reader can check
 * an entry without a copy of what was written, and completion recorders.
 */
#ifndef CV_STORE_TESTUTIL_H
#define CV_STORE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/store/store.h"

/* Installs the locked counting allocator; store_test_leaks() uninstalls it
 * and returns the number of live allocations. */
void store_test_count_allocs(void);
size_t store_test_leaks(void);

/* Creates a new empty directory under $TMPDIR (or /tmp); path gets its name. */
void store_test_mkdtemp(char *path, size_t size);
/* Removes the files of a flat directory and the directory. */
void store_test_rmdir(const char *path);

/* The payload of entry (index, term) of length len: byte j is a function of
 * all three, so a misplaced or stale entry does not pass for the right one. */
void store_test_fill(unsigned char *out, uint64_t index, uint64_t term, size_t len);
/* Returns true when data matches store_test_fill(index, term, len). */
bool store_test_check(const unsigned char *data, uint64_t index, uint64_t term, size_t len);
/* A length that varies with the index: 0..max. */
size_t store_test_len(uint64_t index, uint64_t term, size_t max);

/* A completion record: done/status/order it ran in (a global sequence). */
struct store_test_call
{
    bool done;
    int status;
    unsigned seq;
    struct store_entry *entries; /* store_read results, owned */
    size_t n;
};

void store_test_done_cb(void *arg, int status, const struct cv_err *err);
void store_test_read_cb(void *arg, int status, const struct cv_err *err,
                        struct store_entry *entries, size_t n);
/* The sequence number the next completion gets. */
unsigned store_test_next_seq(void);

/* Appends [from, to] in one batch with term `term` and lengths
 * store_test_len(index, term, max_len); returns store_append's result. */
int store_test_append(struct store *s, uint64_t from, uint64_t to, uint64_t term, size_t max_len,
                      struct store_test_call *call);

#endif
