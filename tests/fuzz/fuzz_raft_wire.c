/*
 * fuzz_raft_wire: libFuzzer target for the Raft message decoder, which reads
 * every byte a peer server sends before the Raft core sees it.
 *
 * The input is the payload itself. Every input must be either refused with
 * one of the RAFT_WIRE_E* codes and a message, or decoded, never a crash or
 * undefined behaviour. A decoded message must re-encode to exactly the
 * input (the format has one encoding per message), and decoding that again
 * must give an equal message. The input is copied to a buffer of exactly
 * its size first, so AddressSanitizer sees a read one byte past the end.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "regiond/raft/raft_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct raft_entry entries[RAFT_WIRE_MAX_ENTRIES];
static struct raft_entry entries2[RAFT_WIRE_MAX_ENTRIES];

static bool same_bytes(const void *a, const void *b, size_t len)
{
    return len == 0 || memcmp(a, b, len) == 0;
}

static bool same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->last_log_index != b->last_log_index || a->last_log_term != b->last_log_term ||
        a->granted != b->granted || a->transfer != b->transfer || a->prev_index != b->prev_index ||
        a->prev_term != b->prev_term || a->n_entries != b->n_entries || a->commit != b->commit ||
        a->rejected != b->rejected || a->match_index != b->match_index ||
        a->reject_hint != b->reject_hint || a->last_index != b->last_index ||
        a->read_seq != b->read_seq || a->snapshot.index != b->snapshot.index ||
        a->snapshot.term != b->snapshot.term || a->snapshot.size != b->snapshot.size ||
        a->snapshot.n_servers != b->snapshot.n_servers || a->offset != b->offset ||
        a->len != b->len || !same_bytes(a->data, b->data, a->len)) {
        return false;
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i];
        const struct raft_entry *y = &b->entries[i];
        if (x->term != y->term || x->index != y->index || x->type != y->type || x->len != y->len ||
            !same_bytes(x->data, y->data, x->len)) {
            return false;
        }
    }
    for (size_t i = 0; i < a->snapshot.n_servers; i++) {
        if (a->snapshot.servers[i].id != b->snapshot.servers[i].id ||
            a->snapshot.servers[i].voter != b->snapshot.servers[i].voter) {
            return false;
        }
    }
    return true;
}

static bool known_error(int rc)
{
    switch (rc) {
#define RAFT_WIRE_ERROR_CASE(name, value, text) case name:
        RAFT_WIRE_ERROR_TABLE(RAFT_WIRE_ERROR_CASE)
#undef RAFT_WIRE_ERROR_CASE
        return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *input = size > 0 ? cv_malloc(size) : NULL;
    if (size > 0) {
        memcpy(input, data, size);
    }
    struct raft_msg m;
    char errmsg[RAFT_WIRE_ERRMSG_MAX] = "";
    int rc =
        raft_wire_decode(input, size, &m, entries, RAFT_WIRE_MAX_ENTRIES, errmsg, sizeof errmsg);
    if (rc != 0) {
        if (!known_error(rc) || errmsg[0] == '\0') {
            abort(); /* a refusal must say why, with one of the codes */
        }
        cv_free(input);
        return 0;
    }

    struct cv_buf enc = CV_BUF_INIT;
    if (raft_wire_encode(&m, &enc) != 0 || enc.len != size || !same_bytes(enc.data, input, size)) {
        abort(); /* what decodes must encode back to the same bytes */
    }
    struct raft_msg again;
    if (raft_wire_decode(enc.data, enc.len, &again, entries2, RAFT_WIRE_MAX_ENTRIES, errmsg,
                         sizeof errmsg) != 0 ||
        !same_msg(&m, &again)) {
        abort();
    }
    cv_buf_free(&enc);
    cv_free(input);
    return 0;
}
