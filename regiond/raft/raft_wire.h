/*
 * raft_wire: the byte encoding of a struct raft_msg, the payload the region
 * servers exchange over RPC (docs/raft.md, "Wire format").
 *
 * A message is a version byte, a type byte, the sender, the receiver and the
 * term, then only the fields its type uses, in a fixed order; integers are
 * big-endian and fixed-width, booleans are bits of a flags byte, byte strings
 * (entry data, snapshot chunks) carry a 4-byte length. Nothing is padded and
 * nothing unused is sent, so an empty AppendEntries (a heartbeat) is 62
 * bytes.
 *
 * The decoder is the border between a peer's bytes and the Raft core, which
 * trusts what raft_recv() hands it: it treats its input as hostile, never
 * reads outside it, never allocates, and refuses anything it could not
 * produce itself (unknown version or type, short input, a length beyond the
 * bytes present or beyond its limit, too many entries, a bad server list, an
 * entry type outside the enum, undefined flag bits, a snapshot chunk outside
 * its snapshot, bytes after the end), each with its own code and a message
 * naming the field. The encoder checks the same rules, so a message it
 * encodes always decodes to an equal one, and one it refuses would be
 * refused by every receiver.
 *
 * Decoding copies no data: entries and chunks point into the input, which the
 * caller keeps alive for as long as it uses the message (the raft_recv()
 * call).
 */
#ifndef RAFT_WIRE_H
#define RAFT_WIRE_H

#include <stddef.h>

#include "regiond/raft/raft.h"

struct cv_buf;

#define RAFT_WIRE_VERSION 1

/* Most entries one AppendEntries may carry on the wire. A leader of this
 * version sends at most RAFT_MAX_BATCH_ENTRIES; the margin lets a peer with
 * a larger batch (a later version during a rolling upgrade) still be heard,
 * while keeping the receiver's entry array bounded. */
#define RAFT_WIRE_MAX_ENTRIES ((size_t)2 * RAFT_MAX_BATCH_ENTRIES)

/* Room for any message raft_wire_decode() writes into its `errmsg`. */
#define RAFT_WIRE_ERRMSG_MAX 128

/*   name                 value  text */
#define RAFT_WIRE_ERROR_TABLE(X)                                    \
    X(RAFT_WIRE_EVERSION, 100, "unsupported wire format version")   \
    X(RAFT_WIRE_ETYPE, 101, "unknown message type")                 \
    X(RAFT_WIRE_ETRUNCATED, 102, "message ends inside a field")     \
    X(RAFT_WIRE_ELENGTH, 103, "length or count out of bounds")      \
    X(RAFT_WIRE_ETOOMANY, 104, "too many entries")                  \
    X(RAFT_WIRE_ESERVERS, 105, "invalid snapshot server list")      \
    X(RAFT_WIRE_EENTRYTYPE, 106, "unknown entry type")              \
    X(RAFT_WIRE_EFLAGS, 107, "undefined flag bits set")             \
    X(RAFT_WIRE_ECHUNK, 108, "snapshot chunk outside its snapshot") \
    X(RAFT_WIRE_ETRAILING, 109, "bytes after the end of the message")

/* Results, as negative numbers (0 is success). Their values are apart from
 * the RAFT_E* codes of raft.h, so one int can carry either. */
enum raft_wire_error
{
#define RAFT_WIRE_ERROR_ENUM(name, value, text) name = -(value),
    RAFT_WIRE_ERROR_TABLE(RAFT_WIRE_ERROR_ENUM)
#undef RAFT_WIRE_ERROR_ENUM
};

/* Returns a static description of a RAFT_WIRE_E* code ("success" for 0). */
const char *raft_wire_strerror(int code);

/* Checks that `msg` (borrowed) can be encoded and sets *size to the length
 * of its encoding. Returns 0 or the RAFT_WIRE_E* code a decoder would
 * refuse the encoding with: RAFT_WIRE_ETYPE, RAFT_WIRE_ETOOMANY (more than
 * RAFT_WIRE_MAX_ENTRIES), RAFT_WIRE_ELENGTH (an entry longer than
 * RAFT_MAX_ENTRY_BYTES, a chunk of 4 GiB or more), RAFT_WIRE_ESERVERS
 * (more than RAFT_MAX_SERVERS, an id 0 or the same id twice),
 * RAFT_WIRE_EENTRYTYPE or RAFT_WIRE_ECHUNK. Fields the type does not use are
 * ignored. */
int raft_wire_size(const struct raft_msg *msg, size_t *size);

/* Appends the encoding of `msg` (borrowed) to `out`. Same checks and
 * returns as raft_wire_size(); `out` is unchanged on failure. */
int raft_wire_encode(const struct raft_msg *msg, struct cv_buf *out);

/* Decodes the message that is exactly buf[0..len) into `out`.
 *
 * On success returns 0 and fills every field of `out`: those the type does
 * not use are zero. out->entries is `entries` (borrowed, room for `cap`
 * entries; cap >= RAFT_WIRE_MAX_ENTRIES accepts every valid message) or
 * NULL when there are none. Entry data and the snapshot chunk point into
 * `buf` (never NULL, even when empty), so `buf` and `entries` must stay
 * valid for as long as `out` is used.
 *
 * On failure returns a negative RAFT_WIRE_E* code, leaves `out` and
 * `entries` in an unspecified state, and writes a NUL-terminated message
 * naming the offending field into errmsg[0..errmsg_size) (cut to fit;
 * errmsg may be NULL when errmsg_size is 0). */
int raft_wire_decode(const void *buf, size_t len, struct raft_msg *out, struct raft_entry *entries,
                     size_t cap, char *errmsg, size_t errmsg_size);

#endif
