/*
 * fuzz_rpc_frame: libFuzzer target for the RPC frame decoder, which reads
 * every byte a peer sends before anything else looks at it.
 *
 * The input is treated as a stream, decoded frame after frame as a
 * connection would, under a limit picked by the first byte (so small
 * limits are explored too). Every input must end in "needs more bytes" or
 * an error with a message, never a crash or undefined behaviour. Each
 * frame accepted must re-encode to exactly the bytes it was decoded from:
 * the encoder and the decoder agree on one canonical form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/rpc_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    static const size_t limits[] = {0, 20, 64, 4096, RPC_DEFAULT_MAX_FRAME};
    size_t limit = limits[data[0] % (sizeof limits / sizeof limits[0])];
    data++;
    size--;

    size_t off = 0;
    struct cv_buf again = CV_BUF_INIT;
    while (off < size) {
        struct rpc_frame f;
        size_t frame_len = 0;
        struct cv_err err;
        cv_err_clear(&err);
        int rc = rpc_frame_decode(data + off, size - off, limit, &f, &frame_len, &err);
        if (rc != 0) {
            if ((rc != CV_EPARSE && rc != CV_ETOOBIG) || err.msg[0] == '\0') {
                abort(); /* a rejection must say why, with one of the two codes */
            }
            break;
        }
        if (frame_len < RPC_FRAME_HEADER_SIZE || frame_len > RPC_FRAME_HEADER_SIZE + limit) {
            abort();
        }
        if (frame_len > size - off) {
            break; /* needs more bytes */
        }
        if (frame_len > limit) {
            abort(); /* an accepted frame is within the limit */
        }
        cv_buf_reset(&again);
        if (rpc_frame_encode(&f, limit, &again, &err) != 0 || again.len != frame_len ||
            memcmp(again.data, data + off, frame_len) != 0) {
            abort();
        }
        off += frame_len;
    }
    cv_buf_free(&again);
    return 0;
}
