/* Seeded garbage against the wire codec (client/wire.c): random bytes,
 * mutated requests and random frame streams must never crash the decoder
 * or the frame reader, and whatever the decoder accepts must be
 * consistent (pointers inside the input, args exactly one map, encodes
 * back). Run this binary under SANITIZE=1 too. QRAFT_SEED picks the seed
 * of garbageNeverCrashes; the other two use fixed seeds. The hand-built
 * cases are in test_client_wire.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "client/qraft.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* A SendMessage args map: {"QueueName": "orders", "MessageBody":
 * "payload", "DelaySeconds": 5}. */
static const char sendArgs[] =
    "\x83\xa9" "QueueName\xa6" "orders\xab" "MessageBody\xa7" "payload"
    "\xac" "DelaySeconds\x05";

/* Pack the string @s. */
static void packStr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Build into @sb (initialised here) a valid request of op @op, with the
 * keys a node knows plus "version" and an unknown "extra" map:
 * {"id": 77, "op": @op, "cid": 9, "seq": 3, "ack": 2, "args": sendArgs,
 *  "version": 2, "extra": {0: 1, 2: 3}}. */
static void seedRequest(msgpack_sbuffer *sb, const char *op)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 77);
    packStr(&pk, "op");
    packStr(&pk, op);
    packStr(&pk, "cid");
    msgpack_pack_uint64(&pk, 9);
    packStr(&pk, "seq");
    msgpack_pack_uint64(&pk, 3);
    packStr(&pk, "ack");
    msgpack_pack_uint64(&pk, 2);
    packStr(&pk, "args");
    msgpack_pack_str_body(&pk, sendArgs, sizeof sendArgs - 1);
    packStr(&pk, "version");
    msgpack_pack_uint64(&pk, 2);
    packStr(&pk, "extra");
    msgpack_pack_map(&pk, 2);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_uint8(&pk, 3);
}

/* True if [p, p+n) lies inside [base, base+len). */
static bool inside(const void *p, size_t n, const void *base, size_t len)
{
    const char *a = p;
    const char *b = base;
    return a >= b && n <= len && a - b <= (ptrdiff_t)(len - n);
}

/* A small seeded generator (xorshift64*), independent of libc's rand. */
static uint64_t rngState;

/* The next number of the generator. */
static uint64_t rng(void)
{
    rngState ^= rngState >> 12;
    rngState ^= rngState << 25;
    rngState ^= rngState >> 27;
    return rngState * 2685821657736338717ULL;
}

/* Decode @buf and check that what it says holds. */
static void decodeAnything(const char *buf, size_t len)
{
    struct qraft_request r;
    msgpack_unpacked u;
    char err[128];
    void *frame;
    size_t flen;
    size_t off = 0;
    int rv = qraft_wire_decode_request(buf, len, &r, err, sizeof err);
    assert_true(rv == 0 || rv == QRAFT_EMALFORMED);
    if (rv == 0) {
        assert_non_null(r.op);
        assert_true(inside(r.op, r.op_len, buf, len));
        if (r.args != NULL) {
            assert_true(inside(r.args, r.args_len, buf, len));
            /* Exactly one map, as msgpack-c reads it too. */
            msgpack_unpacked_init(&u);
            assert_int_equal(msgpack_unpack_next(&u, r.args, r.args_len,
                                                 &off),
                             MSGPACK_UNPACK_SUCCESS);
            assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
            assert_int_equal(off, r.args_len);
            msgpack_unpacked_destroy(&u);
            /* And it encodes back. */
            assert_int_equal(qraft_wire_encode_request(&r, &frame, &flen),
                             r.op_len > 0 ? 0 : QRAFT_EINVAL);
            if (r.op_len > 0) {
                free(frame);
            }
        }
    } else {
        assert_true(strlen(err) > 0);
    }
    /* The reply encoder must cope with the same bytes as a body. */
    if (qraft_wire_encode_reply(1, buf, len, &frame, &flen) == 0) {
        free(frame);
    }
}

/* Random bytes, a third of them msgpack type bytes, as a request. */
static void garbageNeverCrashes(void **state)
{
    /* Bytes that msgpack gives meaning to, to get past the first byte. */
    static const unsigned char heads[] = {
        0x80, 0x81, 0x87, 0x8f, 0x90, 0x9f, 0xa0, 0xa2, 0xbf, 0xc0, 0xc1,
        0xc4, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8,
        0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff, 0x00, 0x7f, 0xe0};
    char buf[96];
    const char *env = getenv("QRAFT_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : 20240611;
    size_t len;
    size_t i;
    int iter;
    (void)state;
    print_message("garbage seed %llu (QRAFT_SEED)\n",
                  (unsigned long long)seed);
    rngState = seed * 2 + 1;
    for (iter = 0; iter < 200000; iter++) {
        len = rng() % sizeof buf;
        for (i = 0; i < len; i++) {
            uint64_t x = rng();
            buf[i] = (char)(x % 3 == 0 ? heads[(x >> 8) % sizeof heads]
                                       : (unsigned char)(x >> 16));
        }
        decodeAnything(buf, len);
    }
}

/* Valid requests of five ops with bytes flipped, cut, retyped or added. */
static void mutatedFramesNeverCrash(void **state)
{
    static const char *const ops[] = {"SendMessage", "ReceiveMessage",
                                      "DeleteMessage", "hello",
                                      "CreateQueue"};
    msgpack_sbuffer sb;
    char *buf;
    size_t len;
    size_t orig;
    size_t k;
    int iter;
    int m;
    (void)state;
    rngState = 77;
    for (iter = 0; iter < 50000; iter++) {
        seedRequest(&sb, ops[iter % 5]);
        len = orig = sb.size;
        buf = malloc(len + 8);
        assert_non_null(buf);
        memcpy(buf, sb.data, len);
        msgpack_sbuffer_destroy(&sb);
        for (m = (int)(rng() % 4); m >= 0; m--) {
            k = rng() % len;
            switch (rng() % 4) {
                case 0: /* flip a byte */
                    buf[k] = (char)rng();
                    break;
                case 1: /* truncate */
                    len = k;
                    break;
                case 2: /* type byte swap */
                    buf[k] = (char)(0xc4 + rng() % 28);
                    break;
                default: /* grow with a random tail */
                    buf[len] = (char)rng();
                    len += len < orig + 7 ? 1 : 0;
                    break;
            }
            if (len == 0) {
                break;
            }
        }
        decodeAnything(buf, len);
        free(buf);
    }
}

/* Random chunks fed to a frame reader (256-byte frames at most); every
 * frame it yields goes to the decoder. */
static void readerGarbageNeverCrashes(void **state)
{
    struct qraft_wire_reader r;
    char buf[64];
    const void *p;
    size_t len;
    size_t i;
    int iter;
    int rv;
    (void)state;
    rngState = 12345;
    for (iter = 0; iter < 2000; iter++) {
        qraft_wire_reader_init(&r, 256);
        for (;;) {
            size_t n = 1 + rng() % sizeof buf;
            for (i = 0; i < n; i++) {
                buf[i] = (char)(rng() % 5 == 0 ? 0 : rng());
            }
            assert_int_equal(qraft_wire_reader_feed(&r, buf, n), 0);
            while ((rv = qraft_wire_reader_next(&r, &p, &len)) == 1) {
                assert_true(len <= 256);
                decodeAnything(p, len);
            }
            if (rv != 0) {
                assert_int_equal(rv, QRAFT_EFRAME_TOO_LARGE);
                break;
            }
            if (r.len > 4096) {
                break;
            }
        }
        assert_true(r.cap <= 8192);
        qraft_wire_reader_close(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(garbageNeverCrashes),
        cmocka_unit_test(mutatedFramesNeverCrash),
        cmocka_unit_test(readerGarbageNeverCrashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
