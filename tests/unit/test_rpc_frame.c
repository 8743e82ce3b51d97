/*
 * test_rpc_frame: the RPC frame codec (common/rpc_frame.h).
 *
 * Round trips of every kind, incremental decoding (every prefix of a frame
 * asks for more bytes, never fails), and one test per rule the decoder
 * enforces, each with hand-built bytes and the message it must give.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/rpc_frame.h"
#include "testutil.h"

#define LIMIT ((size_t)1 << 20)

/* Writes a fixed header with arbitrary (possibly invalid) fields. */
static void put_header(uint8_t *b, uint32_t rest_len, uint8_t magic, uint8_t version, uint8_t kind,
                       uint8_t method_len, uint64_t id, uint16_t status, uint16_t err_len)
{
    b[0] = (uint8_t)(rest_len >> 24);
    b[1] = (uint8_t)(rest_len >> 16);
    b[2] = (uint8_t)(rest_len >> 8);
    b[3] = (uint8_t)rest_len;
    b[4] = magic;
    b[5] = version;
    b[6] = kind;
    b[7] = method_len;
    for (int i = 0; i < 8; i++) {
        b[8 + i] = (uint8_t)(id >> (56 - 8 * i));
    }
    b[16] = (uint8_t)(status >> 8);
    b[17] = (uint8_t)status;
    b[18] = (uint8_t)(err_len >> 8);
    b[19] = (uint8_t)err_len;
}

/* Decodes data[0..len) with LIMIT and asserts the code and that the message
 * contains `needle`. */
static void expect_reject(const void *data, size_t len, int code, const char *needle)
{
    struct rpc_frame f;
    size_t need = 0;
    struct cv_err err;
    cv_err_clear(&err);
    int rc = rpc_frame_decode(data, len, LIMIT, &f, &need, &err);
    if (rc != code || !strstr(err.msg, needle)) {
        print_error("rc %d (expected %d), message \"%s\" (expected to contain \"%s\")\n", rc, code,
                    err.msg, needle);
        fail();
    }
}

static void expect_encode_reject(const struct rpc_frame *f, size_t limit, int code,
                                 const char *needle)
{
    struct cv_err err;
    cv_err_clear(&err);
    struct cv_buf out = CV_BUF_INIT;
    int rc = rpc_frame_encode(f, limit, &out, &err);
    if (rc != code || !strstr(err.msg, needle) || out.len != 0) {
        print_error("rc %d (expected %d), message \"%s\" (expected to contain \"%s\")\n", rc, code,
                    err.msg, needle);
        fail();
    }
    cv_buf_free(&out);
}

static void encode_ok(const struct rpc_frame *f, struct cv_buf *out)
{
    struct cv_err err;
    cv_err_clear(&err);
    int rc = rpc_frame_encode(f, LIMIT, out, &err);
    if (rc != 0) {
        print_error("encode: %s\n", err.msg);
    }
    assert_i64_equal(rc, 0);
}

static void assert_same_frame(const struct rpc_frame *a, const struct rpc_frame *b)
{
    assert_i64_equal(a->kind, b->kind);
    assert_u64_equal(a->id, b->id);
    assert_u64_equal(a->method_len, b->method_len);
    assert_memory_equal(a->method ? a->method : "", b->method ? b->method : "", a->method_len);
    assert_i64_equal(a->status, b->status);
    assert_u64_equal(a->err_msg_len, b->err_msg_len);
    assert_memory_equal(a->err_msg ? a->err_msg : "", b->err_msg ? b->err_msg : "", a->err_msg_len);
    assert_u64_equal(a->payload_len, b->payload_len);
    if (a->payload_len) {
        assert_memory_equal(a->payload, b->payload, a->payload_len);
    }
}

static void round_trip(const struct rpc_frame *in)
{
    struct cv_buf buf = CV_BUF_INIT;
    encode_ok(in, &buf);

    size_t expected_len;
    assert_i64_equal(rpc_frame_check(in, LIMIT, &expected_len, NULL), 0);
    assert_u64_equal(buf.len, expected_len);

    struct rpc_frame out;
    size_t frame_len = 0;
    assert_i64_equal(rpc_frame_decode(buf.data, buf.len, LIMIT, &out, &frame_len, NULL), 0);
    assert_u64_equal(frame_len, buf.len);
    assert_same_frame(in, &out);

    /* Every strict prefix asks for more bytes and never fails. */
    for (size_t n = 0; n < buf.len; n++) {
        size_t need = 0;
        struct rpc_frame none;
        memset(&none, 0x5a, sizeof none);
        assert_i64_equal(rpc_frame_decode(buf.data, n, LIMIT, &none, &need, NULL), 0);
        assert_true(need > n);
        assert_u64_equal(need, n < RPC_FRAME_HEADER_SIZE ? RPC_FRAME_HEADER_SIZE : buf.len);
    }

    /* The prefix encoder writes the same bytes. */
    uint8_t prefix[RPC_FRAME_PREFIX_MAX];
    size_t prefix_len = 0, total = 0;
    assert_i64_equal(rpc_frame_encode_prefix(in, LIMIT, prefix, &prefix_len, &total, NULL), 0);
    assert_u64_equal(total, buf.len);
    assert_u64_equal(prefix_len + in->payload_len, buf.len);
    assert_memory_equal(prefix, buf.data, prefix_len);
    cv_buf_free(&buf);
}

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    struct rpc_frame req = {
        .kind = RPC_FRAME_REQUEST,
        .id = 1,
        .method = "Node.Register",
        .method_len = 13,
        .payload = "{\"ID\":\"n1\"}",
        .payload_len = 11,
    };
    round_trip(&req);
    req.id = UINT64_MAX;
    req.payload = NULL;
    req.payload_len = 0;
    round_trip(&req);

    struct rpc_frame ok = {
        .kind = RPC_FRAME_RESPONSE,
        .id = 42,
        .payload = "\x00\x01\x02\xff",
        .payload_len = 4,
    };
    round_trip(&ok);

    struct rpc_frame fail = {
        .kind = RPC_FRAME_RESPONSE,
        .id = 7,
        .status = CV_ENOTLEADER,
        .err_msg = "leader is 10.0.0.2:4647",
        .err_msg_len = 23,
        .payload = "x",
        .payload_len = 1,
    };
    round_trip(&fail);

    struct rpc_frame bye = {
        .kind = RPC_FRAME_RESPONSE,
        .id = 0,
        .status = CV_EPARSE,
        .err_msg = "bad magic",
        .err_msg_len = 9,
    };
    round_trip(&bye);

    struct rpc_frame msg = {
        .kind = RPC_FRAME_MESSAGE,
        .method = "Raft.AppendEntries",
        .method_len = 18,
        .payload = "entries",
        .payload_len = 7,
    };
    round_trip(&msg);

    /* Longest method and error message, widest status. */
    char method[RPC_METHOD_MAX];
    memset(method, 'm', sizeof method);
    msg.method = method;
    msg.method_len = sizeof method;
    round_trip(&msg);
    char text[RPC_ERR_MSG_MAX];
    memset(text, 'e', sizeof text);
    fail.err_msg = text;
    fail.err_msg_len = sizeof text;
    fail.status = -0xFFFF;
    round_trip(&fail);
}

static void test_wire_layout(void **state)
{
    (void)state;
    struct rpc_frame req = {
        .kind = RPC_FRAME_REQUEST,
        .id = 0x0102030405060708ULL,
        .method = "A.B",
        .method_len = 3,
        .payload = "pq",
        .payload_len = 2,
    };
    struct cv_buf buf = CV_BUF_INIT;
    encode_ok(&req, &buf);
    const uint8_t expected[] = {0, 0, 0, 21, 0xCA, 1, 1, 3,   1,   2,   3,   4,  5,
                                6, 7, 8, 0,  0,    0, 0, 'A', '.', 'B', 'p', 'q'};
    assert_u64_equal(buf.len, sizeof expected);
    assert_memory_equal(buf.data, expected, sizeof expected);
    cv_buf_free(&buf);

    struct rpc_frame resp = {
        .kind = RPC_FRAME_RESPONSE,
        .id = 9,
        .status = CV_ENOTFOUND,
        .err_msg = "no",
        .err_msg_len = 2,
    };
    encode_ok(&resp, &buf);
    const uint8_t expected2[] = {0, 0, 0, 18, 0xCA, 1, 2, 0, 0, 0,   0,
                                 0, 0, 0, 0,  9,    0, 5, 0, 2, 'n', 'o'};
    assert_u64_equal(buf.len, sizeof expected2);
    assert_memory_equal(buf.data, expected2, sizeof expected2);
    cv_buf_free(&buf);
}

static void test_back_to_back_frames(void **state)
{
    (void)state;
    struct cv_buf buf = CV_BUF_INIT;
    for (uint64_t i = 1; i <= 3; i++) {
        struct rpc_frame f = {
            .kind = RPC_FRAME_REQUEST,
            .id = i,
            .method = "M",
            .method_len = 1,
            .payload = "abc",
            .payload_len = (size_t)i,
        };
        encode_ok(&f, &buf);
    }
    size_t off = 0;
    for (uint64_t i = 1; i <= 3; i++) {
        struct rpc_frame f;
        size_t n = 0;
        assert_i64_equal(rpc_frame_decode(buf.data + off, buf.len - off, LIMIT, &f, &n, NULL), 0);
        assert_u64_equal(f.id, i);
        assert_u64_equal(f.payload_len, i);
        off += n;
    }
    assert_u64_equal(off, buf.len);
    cv_buf_free(&buf);
}

static void test_size_limit(void **state)
{
    (void)state;
    size_t limit = 4096;
    static uint8_t payload[8192];
    struct rpc_frame f = {
        .kind = RPC_FRAME_MESSAGE,
        .method = "M",
        .method_len = 1,
        .payload = payload,
        .payload_len = limit - RPC_FRAME_HEADER_SIZE - 1,
    };
    struct cv_buf buf = CV_BUF_INIT;
    assert_i64_equal(rpc_frame_encode(&f, limit, &buf, NULL), 0);
    assert_u64_equal(buf.len, limit);
    struct rpc_frame out;
    size_t n = 0;
    assert_i64_equal(rpc_frame_decode(buf.data, buf.len, limit, &out, &n, NULL), 0);
    assert_u64_equal(n, limit);

    /* One byte more is refused by the decoder from the header alone ... */
    struct cv_err err;
    cv_err_clear(&err);
    assert_i64_equal(rpc_frame_decode(buf.data, buf.len, limit - 1, &out, &n, &err), CV_ETOOBIG);
    assert_non_null(strstr(err.msg, "message frame of 4096 bytes is over the limit of 4095 bytes"));
    assert_i64_equal(rpc_frame_decode(buf.data, RPC_FRAME_HEADER_SIZE, limit - 1, &out, &n, NULL),
                     CV_ETOOBIG);
    cv_buf_free(&buf);

    /* ... and by the encoder. */
    f.payload_len++;
    expect_encode_reject(&f, limit, CV_ETOOBIG, "over the limit of 4096 bytes");

    /* A length field of 4 GiB is refused after 20 bytes, whatever follows. */
    uint8_t h[RPC_FRAME_HEADER_SIZE];
    put_header(h, UINT32_MAX, RPC_FRAME_MAGIC, 1, RPC_FRAME_MESSAGE, 1, 0, 0, 0);
    expect_reject(h, sizeof h, CV_ETOOBIG, "frame of 4294967299 bytes is over the limit");

    /* Absurd field sizes do not overflow the encoder's arithmetic. */
    f.payload_len = SIZE_MAX;
    expect_encode_reject(&f, limit, CV_ETOOBIG, "over the limit");
}

static void test_rejects_bad_magic_early(void **state)
{
    (void)state;
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_reject(http, strlen(http), CV_EPARSE, "bad magic byte 0x2f");
    /* Five bytes are enough to tell. */
    expect_reject(http, 5, CV_EPARSE, "not a Caravan RPC stream");
    /* Four are not: the length prefix alone says nothing. */
    struct rpc_frame f;
    size_t need = 0;
    assert_i64_equal(rpc_frame_decode(http, 4, LIMIT, &f, &need, NULL), 0);
    assert_u64_equal(need, RPC_FRAME_HEADER_SIZE);
}

static void test_rejects_bad_version(void **state)
{
    (void)state;
    uint8_t b[RPC_FRAME_HEADER_SIZE + 1];
    put_header(b, 17, RPC_FRAME_MAGIC, 2, RPC_FRAME_MESSAGE, 1, 0, 0, 0);
    b[20] = 'M';
    expect_reject(b, sizeof b, CV_EPARSE, "unsupported protocol version 2 (this build speaks 1)");
    put_header(b, 17, RPC_FRAME_MAGIC, 0, RPC_FRAME_MESSAGE, 1, 0, 0, 0);
    expect_reject(b, sizeof b, CV_EPARSE, "unsupported protocol version 0");
}

static void test_rejects_unknown_kind(void **state)
{
    (void)state;
    uint8_t b[RPC_FRAME_HEADER_SIZE + 1];
    const uint8_t kinds[] = {0, 4, 9, 255};
    for (size_t i = 0; i < sizeof kinds; i++) {
        put_header(b, 17, RPC_FRAME_MAGIC, 1, kinds[i], 1, 1, 0, 0);
        b[20] = 'M';
        char want[32];
        snprintf(want, sizeof want, "unknown frame kind %u", kinds[i]);
        expect_reject(b, sizeof b, CV_EPARSE, want);
        /* from the header alone */
        expect_reject(b, RPC_FRAME_HEADER_SIZE, CV_EPARSE, want);
    }
    struct rpc_frame f = {.kind = (enum rpc_frame_kind)4, .id = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "unknown frame kind 4");
}

static void test_rejects_short_length(void **state)
{
    (void)state;
    uint8_t b[RPC_FRAME_HEADER_SIZE];
    for (uint32_t len = 0; len < 16; len++) {
        put_header(b, len, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 1, 0, 0);
        expect_reject(b, sizeof b, CV_EPARSE, "is shorter than the 20-byte header");
    }
    /* Exactly the header: an empty successful response. */
    put_header(b, 16, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 1, 0, 0);
    struct rpc_frame f;
    size_t n = 0;
    assert_i64_equal(rpc_frame_decode(b, sizeof b, LIMIT, &f, &n, NULL), 0);
    assert_u64_equal(n, RPC_FRAME_HEADER_SIZE);
    assert_u64_equal(f.payload_len, 0);
}

static void test_rejects_lengths_past_the_end(void **state)
{
    (void)state;
    uint8_t b[64] = {0};
    /* method of 10 bytes in a frame with room for 5 */
    put_header(b, 16 + 5, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 10, 1, 0, 0);
    expect_reject(b, 25, CV_EPARSE, "run past the end of a 25-byte frame");
    /* error message of 30 bytes in a frame with room for 3 */
    put_header(b, 16 + 3, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 1, CV_EIO * -1, 30);
    expect_reject(b, RPC_FRAME_HEADER_SIZE, CV_EPARSE, "run past the end");
}

static void test_rejects_fields_wrong_for_kind(void **state)
{
    (void)state;
    uint8_t b[64];
    memset(b, 'M', sizeof b);

    put_header(b, 16 + 1, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 1, 0, 0, 0);
    expect_reject(b, 21, CV_EPARSE, "request with id 0");
    put_header(b, 16 + 1, RPC_FRAME_MAGIC, 1, RPC_FRAME_MESSAGE, 1, 5, 0, 0);
    expect_reject(b, 21, CV_EPARSE, "message with a request id");
    put_header(b, 16 + 1, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 1, 5, 0, 0);
    expect_reject(b, 21, CV_EPARSE, "response carries a method name");
    put_header(b, 16, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 0, 5, 0, 0);
    expect_reject(b, 20, CV_EPARSE, "request without a method name");
    put_header(b, 16, RPC_FRAME_MAGIC, 1, RPC_FRAME_MESSAGE, 0, 0, 0, 0);
    expect_reject(b, 20, CV_EPARSE, "message without a method name");
    put_header(b, 16 + 1, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 1, 5, 3, 0);
    expect_reject(b, 21, CV_EPARSE, "request carries a status");
    put_header(b, 16 + 2, RPC_FRAME_MAGIC, 1, RPC_FRAME_MESSAGE, 1, 0, 0, 1);
    expect_reject(b, 22, CV_EPARSE, "message carries a status");
    put_header(b, 16 + 1, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 5, 0, 1);
    expect_reject(b, 21, CV_EPARSE, "error message without an error status");
    put_header(b, 16, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 0, 0, 0);
    expect_reject(b, 20, CV_EPARSE, "response with id 0 and no error status");

    /* The encoder applies the same rules. */
    struct rpc_frame f = {.kind = RPC_FRAME_REQUEST, .id = 0, .method = "M", .method_len = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "request with id 0");
    f = (struct rpc_frame){.kind = RPC_FRAME_MESSAGE, .id = 3, .method = "M", .method_len = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "message with a request id");
    f = (struct rpc_frame){.kind = RPC_FRAME_RESPONSE, .id = 3, .method = "M", .method_len = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "response carries a method name");
    f = (struct rpc_frame){.kind = RPC_FRAME_REQUEST, .id = 3};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "request without a method name");
    f = (struct rpc_frame){
        .kind = RPC_FRAME_REQUEST, .id = 3, .method = "M", .method_len = 1, .status = CV_EIO};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "request carries a status");
    f = (struct rpc_frame){.kind = RPC_FRAME_RESPONSE, .id = 3, .err_msg = "x", .err_msg_len = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "error message without an error status");
    f = (struct rpc_frame){.kind = RPC_FRAME_RESPONSE, .id = 3, .status = 1};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "status 1 is not 0 or a CV_E* code");
    f = (struct rpc_frame){.kind = RPC_FRAME_RESPONSE, .id = 3, .status = -0x10000};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "is not 0 or a CV_E* code");
    f = (struct rpc_frame){.kind = RPC_FRAME_RESPONSE, .id = 3, .payload_len = 3};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "a length but no data");
}

static void test_rejects_bad_method_bytes(void **state)
{
    (void)state;
    const char bad[] = {' ', '\n', '\0', 0x7f, (char)0x80, (char)0xff};
    for (size_t i = 0; i < sizeof bad; i++) {
        uint8_t b[RPC_FRAME_HEADER_SIZE + 3];
        put_header(b, 16 + 3, RPC_FRAME_MAGIC, 1, RPC_FRAME_MESSAGE, 3, 0, 0, 0);
        b[20] = 'A';
        b[21] = (uint8_t)bad[i];
        b[22] = 'B';
        char want[64];
        snprintf(want, sizeof want, "method name has byte 0x%02x at offset 1",
                 (unsigned char)bad[i]);
        expect_reject(b, sizeof b, CV_EPARSE, want);
        /* The header alone passes: the body is checked when it is there. */
        struct rpc_frame f;
        size_t need = 0;
        assert_i64_equal(rpc_frame_decode(b, RPC_FRAME_HEADER_SIZE, LIMIT, &f, &need, NULL), 0);
        assert_u64_equal(need, sizeof b);

        char method[3] = {'A', bad[i], 'B'};
        struct rpc_frame g = {.kind = RPC_FRAME_MESSAGE, .method = method, .method_len = 3};
        expect_encode_reject(&g, LIMIT, CV_EINVAL, want);
    }

    /* 129..255 bytes of method name */
    uint8_t big[RPC_FRAME_HEADER_SIZE + 255];
    memset(big, 'm', sizeof big);
    put_header(big, 16 + 255, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 255, 1, 0, 0);
    expect_reject(big, sizeof big, CV_EPARSE, "method name of 255 bytes is over the limit of 128");
    put_header(big, 16 + 129, RPC_FRAME_MAGIC, 1, RPC_FRAME_REQUEST, 129, 1, 0, 0);
    expect_reject(big, RPC_FRAME_HEADER_SIZE, CV_EPARSE, "method name of 129 bytes");
}

static void test_rejects_bad_error_message(void **state)
{
    (void)state;
    static uint8_t b[RPC_FRAME_HEADER_SIZE + 2000];
    memset(b, 'e', sizeof b);
    put_header(b, 16 + 1025, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 1, 9, 1025);
    expect_reject(b, RPC_FRAME_HEADER_SIZE + 1025, CV_EPARSE,
                  "error message of 1025 bytes is over the limit of 1024");
    put_header(b, 16 + 4, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 1, 9, 4);
    b[22] = '\0';
    expect_reject(b, RPC_FRAME_HEADER_SIZE + 4, CV_EPARSE, "error message contains a NUL byte");

    struct rpc_frame f = {
        .kind = RPC_FRAME_RESPONSE, .id = 1, .status = CV_EIO, .err_msg = "a\0b", .err_msg_len = 3};
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "NUL byte");
    f.err_msg = (const char *)b;
    f.err_msg_len = RPC_ERR_MSG_MAX + 1;
    expect_encode_reject(&f, LIMIT, CV_EINVAL, "over the limit of 1024");
}

static void test_unknown_status_passes_through(void **state)
{
    (void)state;
    /* A newer peer may send a code this build does not know: it is kept,
     * not treated as a broken stream. */
    uint8_t b[RPC_FRAME_HEADER_SIZE];
    put_header(b, 16, RPC_FRAME_MAGIC, 1, RPC_FRAME_RESPONSE, 0, 3, 999, 0);
    struct rpc_frame f;
    size_t n = 0;
    assert_i64_equal(rpc_frame_decode(b, sizeof b, LIMIT, &f, &n, NULL), 0);
    assert_i64_equal(f.status, -999);
    assert_string_equal(rpc_frame_kind_name(RPC_FRAME_MESSAGE), "message");
    assert_string_equal(rpc_frame_kind_name(0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_round_trip_every_kind),         CV_TEST(test_wire_layout),
        CV_TEST(test_back_to_back_frames),           CV_TEST(test_size_limit),
        CV_TEST(test_rejects_bad_magic_early),       CV_TEST(test_rejects_bad_version),
        CV_TEST(test_rejects_unknown_kind),          CV_TEST(test_rejects_short_length),
        CV_TEST(test_rejects_lengths_past_the_end),  CV_TEST(test_rejects_fields_wrong_for_kind),
        CV_TEST(test_rejects_bad_method_bytes),      CV_TEST(test_rejects_bad_error_message),
        CV_TEST(test_unknown_status_passes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
