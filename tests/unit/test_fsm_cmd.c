/* Log entry codec: round trips, padding, strict rejection, and seeded
 * random inputs that must never crash (run under SANITIZE=1 too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "fsm/fsm.h"
#include "tests/lib/tmpdir.h"

/* Deterministic pseudo-random numbers (xorshift64*). */
static uint64_t rngState;

/* Next pseudo-random number. */
static uint64_t rngNext(void)
{
    rngState ^= rngState >> 12;
    rngState ^= rngState << 25;
    rngState ^= rngState >> 27;
    return rngState * 2685821657736338717ull;
}

/* A command of @op with every field its op uses set. */
static struct fsmCommand fullCommand(unsigned op)
{
    struct fsmCommand c;

    memset(&c, 0, sizeof c);
    c.op = op;
    c.now_ms = 1700000000123ull;
    c.visibility_s = -1;
    if (fsmOpMutates(op)) {
        c.client_id = 0xfeedfacecafebeefull;
        c.seq = 77;
        c.ack = 70;
    }
    switch (op) {
        case FSM_OP_QUEUE_CREATE:
            c.queue = "orders";
            c.queue_len = 6;
            c.visibility_s = 45;
            break;
        case FSM_OP_QUEUE_DELETE:
            c.queue = "orders";
            c.queue_len = 6;
            break;
        case FSM_OP_SEND:
            c.queue = "orders";
            c.queue_len = 6;
            c.body = "hello\0world";
            c.body_len = 11;
            break;
        case FSM_OP_RECEIVE:
            c.queue = "orders";
            c.queue_len = 6;
            c.max_messages = 10;
            c.visibility_s = 0;
            break;
        case FSM_OP_DELETE:
            c.queue = "orders";
            c.queue_len = 6;
            c.receipt = "abc123";
            c.receipt_len = 6;
            break;
        default:
            break;
    }
    return c;
}

/* Every op value. */
static const unsigned allOps[] = {
#define OP_VALUE(CODE, VALUE, NAME, MUTATES) CODE,
    FSM_OPS(OP_VALUE)
#undef OP_VALUE
};
#define N_OPS (sizeof allOps / sizeof allOps[0])

/* Compare two optional byte strings. */
static void assertBytes(const void *a, size_t alen, const void *b, size_t blen)
{
    assert_int_equal(alen, blen);
    if (alen > 0) {
        assert_memory_equal(a, b, alen);
    }
}

/* Assert that @p, if set, points into [buf, buf + len). */
static void assertInside(const void *p, size_t plen, const void *buf, size_t len)
{
    const char *q = p;
    const char *b = buf;

    if (p == NULL) {
        return;
    }
    assert_true(q >= b && q + plen <= b + len);
}

/* Encode then decode @c and compare. */
static void roundTrip(const struct fsmCommand *c)
{
    struct fsmCommand d;
    void *buf;
    size_t len;

    assert_int_equal(fsmCommandEncode(c, malloc, &buf, &len), 0);
    assert_int_equal(len % 8, 0);
    assert_int_equal(fsmCommandDecode(buf, len, &d), 0);
    assert_int_equal(d.op, c->op);
    assert_int_equal(d.now_ms, c->now_ms);
    assert_int_equal(d.client_id, c->client_id);
    assert_int_equal(d.seq, c->seq);
    assert_int_equal(d.ack, c->ack);
    assertBytes(d.queue, d.queue_len, c->queue, c->queue_len);
    assertBytes(d.body, d.body_len, c->body, c->body_len);
    assertBytes(d.receipt, d.receipt_len, c->receipt, c->receipt_len);
    assert_int_equal(d.max_messages, c->max_messages);
    assert_int_equal(d.visibility_s, c->visibility_s);
    assertInside(d.queue, d.queue_len, buf, len);
    assertInside(d.body, d.body_len, buf, len);
    assertInside(d.receipt, d.receipt_len, buf, len);
    /* Re-encoding gives the same bytes. */
    {
        void *again;
        size_t alen;
        assert_int_equal(fsmCommandEncode(&d, malloc, &again, &alen), 0);
        assert_int_equal(alen, len);
        assert_memory_equal(again, buf, len);
        free(again);
    }
    free(buf);
}

/* Every op round-trips, with its optional fields set and unset. */
static void test_roundTrip(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_OPS; i++) {
        struct fsmCommand c = fullCommand(allOps[i]);
        roundTrip(&c);
        c.visibility_s = -1;
        c.max_messages = 0;
        roundTrip(&c);
    }
    /* Extremes of every integer. */
    {
        struct fsmCommand c = fullCommand(FSM_OP_RECEIVE);
        c.now_ms = UINT64_MAX;
        c.client_id = UINT64_MAX;
        c.seq = UINT64_MAX;
        c.ack = UINT64_MAX;
        c.max_messages = UINT32_MAX;
        c.visibility_s = INT64_MAX;
        roundTrip(&c);
        c.visibility_s = INT64_MIN;
        roundTrip(&c);
        c.visibility_s = -2;
        roundTrip(&c);
    }
    /* Empty queue name, body and receipt are encodable (the fsm answers
     * them with a business error). */
    {
        struct fsmCommand c = fullCommand(FSM_OP_SEND);
        c.queue = NULL;
        c.queue_len = 0;
        c.body = NULL;
        c.body_len = 0;
        roundTrip(&c);
    }
}

/* Names and flags of ops and errors. */
static void test_names(void **state)
{
    (void)state;
    assert_string_equal(fsmOpName(FSM_OP_SEND), "send");
    assert_string_equal(fsmOpName(FSM_OP_RECEIVE), "recv");
    assert_null(fsmOpName(0));
    assert_null(fsmOpName(8));
    assert_true(fsmOpMutates(FSM_OP_QUEUE_CREATE));
    assert_true(fsmOpMutates(FSM_OP_DELETE));
    assert_false(fsmOpMutates(FSM_OP_QUEUE_LIST));
    assert_false(fsmOpMutates(FSM_OP_TICK));
    assert_false(fsmOpMutates(99));
    assert_string_equal(fsmErrorName(FSM_ERR_QUEUE_DOES_NOT_EXIST),
                        "QueueDoesNotExist");
    assert_string_equal(fsmErrorName(FSM_ERR_TOO_MANY_IN_FLIGHT),
                        "TooManyInFlight");
    assert_null(fsmErrorName(FSM_ERR_NONE));
}

/* Lengths are padded to a multiple of 8 with zero bytes. */
static void test_padding(void **state)
{
    char body[64];
    size_t n;

    (void)state;
    memset(body, 'x', sizeof body);
    for (n = 1; n <= sizeof body; n++) {
        struct fsmCommand c = fullCommand(FSM_OP_SEND);
        msgpack_unpacked u;
        size_t off = 0;
        void *buf;
        size_t len;
        size_t i;

        c.body = body;
        c.body_len = n;
        assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
        assert_int_equal(len % 8, 0);
        msgpack_unpacked_init(&u);
        assert_true(msgpack_unpack_next(&u, buf, len, &off) ==
                        MSGPACK_UNPACK_SUCCESS ||
                    off < len);
        msgpack_unpacked_destroy(&u);
        assert_true(len - off < 8);
        for (i = off; i < len; i++) {
            assert_int_equal(((uint8_t *)buf)[i], 0);
        }
        free(buf);
    }
}

/* Encoding refuses commands that could not decode. */
static void test_encodeRejects(void **state)
{
    struct fsmCommand c = fullCommand(FSM_OP_SEND);
    void *buf = (void *)1;
    size_t len = 1;

    (void)state;
    c.client_id = 0;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    assert_null(buf);
    c = fullCommand(FSM_OP_SEND);
    c.seq = 0;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c = fullCommand(FSM_OP_SEND);
    c.op = 42;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
}

/* Builder of hand-made entries. */
struct entry
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

/* Start an entry holding a map of @n pairs. */
static void entryStart(struct entry *e, uint32_t n)
{
    msgpack_sbuffer_init(&e->sb);
    msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&e->pk, n);
}

/* Pack a key. */
static void entryKey(struct entry *e, const char *k)
{
    msgpack_pack_str_with_body(&e->pk, k, strlen(k));
}

/* Pack key @k with unsigned value @v. */
static void entryU(struct entry *e, const char *k, uint64_t v)
{
    entryKey(e, k);
    msgpack_pack_uint64(&e->pk, v);
}

/* Pack key @k with string value @v. */
static void entryS(struct entry *e, const char *k, const char *v)
{
    entryKey(e, k);
    msgpack_pack_str_with_body(&e->pk, v, strlen(v));
}

/* Pack "v", "op", "now" and, for @session, "cid", "seq", "ack" (3 or 6
 * pairs). */
static void entryHead(struct entry *e, uint64_t op, bool session)
{
    entryU(e, "v", 1);
    entryU(e, "op", op);
    entryU(e, "now", 1000);
    if (session) {
        entryU(e, "cid", 9);
        entryU(e, "seq", 1);
        entryU(e, "ack", 0);
    }
}

/* Decode the entry (padded) and return the result; frees it. */
static int entryDecode(struct entry *e)
{
    struct fsmCommand c;
    size_t len = (e->sb.size + 7) & ~(size_t)7;
    char *buf = calloc(1, len + 1);
    int rv;

    memcpy(buf, e->sb.data, e->sb.size);
    rv = fsmCommandDecode(buf, len, &c);
    free(buf);
    msgpack_sbuffer_destroy(&e->sb);
    return rv;
}

/* The builder itself produces decodable entries. */
static void test_builderValid(void **state)
{
    struct entry e;

    (void)state;
    entryStart(&e, 7);
    entryHead(&e, FSM_OP_QUEUE_DELETE, true);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), 0);
    entryStart(&e, 3);
    entryHead(&e, FSM_OP_TICK, false);
    assert_int_equal(entryDecode(&e), 0);
    /* Non-canonical integer widths are accepted. */
    entryStart(&e, 3);
    entryKey(&e, "v");
    msgpack_pack_int64(&e.pk, 1);
    entryKey(&e, "op");
    msgpack_pack_fix_uint64(&e.pk, FSM_OP_TICK);
    entryKey(&e, "now");
    msgpack_pack_fix_int32(&e.pk, 5);
    assert_int_equal(entryDecode(&e), 0);
}

/* Wrong types, unknown ops and keys, missing or extra fields. */
static void test_rejects(void **state)
{
    struct entry e;

    (void)state;
    /* not a map */
    entryStart(&e, 0);
    msgpack_sbuffer_clear(&e.sb);
    msgpack_pack_array(&e.pk, 3);
    msgpack_pack_uint8(&e.pk, 1);
    msgpack_pack_uint8(&e.pk, 7);
    msgpack_pack_uint8(&e.pk, 0);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* empty map */
    entryStart(&e, 0);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* op as a string */
    entryStart(&e, 3);
    entryU(&e, "v", 1);
    entryS(&e, "op", "tick");
    entryU(&e, "now", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* unknown ops */
    entryStart(&e, 3);
    entryHead(&e, 0, false);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 3);
    entryHead(&e, 8, false);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 3);
    entryHead(&e, 0x100000001ull, false);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* wrong version */
    entryStart(&e, 3);
    entryU(&e, "v", 2);
    entryU(&e, "op", FSM_OP_TICK);
    entryU(&e, "now", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* missing version / now */
    entryStart(&e, 2);
    entryU(&e, "op", FSM_OP_TICK);
    entryU(&e, "now", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 2);
    entryU(&e, "v", 1);
    entryU(&e, "op", FSM_OP_TICK);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* negative now */
    entryStart(&e, 3);
    entryU(&e, "v", 1);
    entryU(&e, "op", FSM_OP_TICK);
    entryKey(&e, "now");
    msgpack_pack_int64(&e.pk, -5);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* unknown key */
    entryStart(&e, 4);
    entryHead(&e, FSM_OP_TICK, false);
    entryU(&e, "zzz", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* duplicate key */
    entryStart(&e, 4);
    entryHead(&e, FSM_OP_TICK, false);
    entryU(&e, "now", 2);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* key that is not a string */
    entryStart(&e, 4);
    entryHead(&e, FSM_OP_TICK, false);
    msgpack_pack_uint8(&e.pk, 1);
    msgpack_pack_uint8(&e.pk, 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* mutating op without a session */
    entryStart(&e, 4);
    entryHead(&e, FSM_OP_QUEUE_DELETE, false);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* partial session */
    entryStart(&e, 6);
    entryHead(&e, FSM_OP_QUEUE_DELETE, false);
    entryU(&e, "cid", 1);
    entryU(&e, "seq", 1);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* client id 0, seq 0 */
    entryStart(&e, 7);
    entryU(&e, "v", 1);
    entryU(&e, "op", FSM_OP_QUEUE_DELETE);
    entryU(&e, "now", 1);
    entryU(&e, "cid", 0);
    entryU(&e, "seq", 1);
    entryU(&e, "ack", 0);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 7);
    entryU(&e, "v", 1);
    entryU(&e, "op", FSM_OP_QUEUE_DELETE);
    entryU(&e, "now", 1);
    entryU(&e, "cid", 5);
    entryU(&e, "seq", 0);
    entryU(&e, "ack", 0);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* session on a non-mutating op */
    entryStart(&e, 6);
    entryHead(&e, FSM_OP_TICK, true);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* cid as a string */
    entryStart(&e, 7);
    entryU(&e, "v", 1);
    entryU(&e, "op", FSM_OP_QUEUE_DELETE);
    entryU(&e, "now", 1);
    entryS(&e, "cid", "5");
    entryU(&e, "seq", 1);
    entryU(&e, "ack", 0);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* queue as bin */
    entryStart(&e, 7);
    entryHead(&e, FSM_OP_QUEUE_DELETE, true);
    entryKey(&e, "queue");
    msgpack_pack_bin_with_body(&e.pk, "q", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* missing queue */
    entryStart(&e, 6);
    entryHead(&e, FSM_OP_QUEUE_DELETE, true);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* send: body as str, body missing */
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_SEND, true);
    entryS(&e, "queue", "q");
    entryS(&e, "body", "x");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 7);
    entryHead(&e, FSM_OP_SEND, true);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* delete without receipt */
    entryStart(&e, 7);
    entryHead(&e, FSM_OP_DELETE, true);
    entryS(&e, "queue", "q");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* a field the op does not use */
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_QUEUE_DELETE, true);
    entryS(&e, "queue", "q");
    entryU(&e, "max", 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* max above 32 bits, max negative, vis as string, vis as nil */
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryU(&e, "max", 0x100000000ull);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryKey(&e, "max");
    msgpack_pack_int8(&e.pk, -1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryS(&e, "vis", "30");
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryKey(&e, "vis");
    msgpack_pack_nil(&e.pk);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryKey(&e, "vis");
    msgpack_pack_double(&e.pk, 1.0);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
    /* nested array as a value */
    entryStart(&e, 8);
    entryHead(&e, FSM_OP_RECEIVE, true);
    entryS(&e, "queue", "q");
    entryKey(&e, "max");
    msgpack_pack_array(&e.pk, 1);
    msgpack_pack_uint8(&e.pk, 1);
    assert_int_equal(entryDecode(&e), FSM_ECORRUPT);
}

/* Truncation, trailing bytes, and headers that declare huge sizes. */
static void test_bytes(void **state)
{
    struct fsmCommand c = fullCommand(FSM_OP_SEND);
    struct fsmCommand d;
    msgpack_unpacked u;
    uint8_t *buf;
    uint8_t *big;
    size_t len;
    size_t maplen = 0;
    size_t i;
    static const uint8_t huge[][9] = {
        {0xdf, 0xff, 0xff, 0xff, 0xff},       /* map32 of 4G pairs */
        {0x81, 0xdb, 0xff, 0xff, 0xff, 0xff}, /* key: str32 of 4 GB */
        {0x81, 0xa1, 'v', 0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 */
        {0x81, 0xa1, 'v', 0xdd, 0xff, 0xff, 0xff, 0xff}, /* array32 */
        {0x81, 0xa1, 'v', 0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32 */
    };

    (void)state;
    assert_int_equal(fsmCommandEncode(&c, malloc, (void **)&buf, &len), 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (char *)buf, len, &maplen),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_unpacked_destroy(&u);
    /* Every cut inside the map fails; cuts in the padding succeed. */
    for (i = 0; i < len; i++) {
        assert_int_equal(fsmCommandDecode(buf, i, &d) == 0, i >= maplen);
    }
    assert_int_equal(fsmCommandDecode(NULL, 0, &d), FSM_ECORRUPT);
    /* A non-zero padding byte fails. */
    big = calloc(1, len + 16);
    memcpy(big, buf, len);
    for (i = maplen; i < len; i++) {
        big[i] = 1;
        assert_int_equal(fsmCommandDecode(big, len, &d), FSM_ECORRUPT);
        big[i] = 0;
    }
    /* 8 or more zero bytes after the map fail. */
    assert_int_equal(fsmCommandDecode(big, maplen + 7, &d), 0);
    assert_int_equal(fsmCommandDecode(big, maplen + 8, &d), FSM_ECORRUPT);
    /* Two maps fail. */
    memcpy(big + maplen, buf, maplen <= 16 ? maplen : 16);
    assert_int_equal(fsmCommandDecode(big, maplen + 16, &d), FSM_ECORRUPT);
    free(big);
    free(buf);
    for (i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        assert_int_equal(fsmCommandDecode(huge[i], sizeof huge[i], &d),
                         FSM_ECORRUPT);
    }
}

/* Decode @buf; when it succeeds, pointers are inside and re-encoding
 * decodes to the same command. */
static void fuzzOne(const uint8_t *buf, size_t len)
{
    struct fsmCommand d;
    struct fsmCommand e;
    void *again;
    size_t alen;

    if (fsmCommandDecode(buf, len, &d) != 0) {
        return;
    }
    assertInside(d.queue, d.queue_len, buf, len);
    assertInside(d.body, d.body_len, buf, len);
    assertInside(d.receipt, d.receipt_len, buf, len);
    assert_int_equal(fsmCommandEncode(&d, malloc, &again, &alen), 0);
    assert_int_equal(fsmCommandDecode(again, alen, &e), 0);
    assert_int_equal(e.op, d.op);
    assert_int_equal(e.seq, d.seq);
    free(again);
}

/* Seeded random buffers and mutations of valid entries never crash. */
static void test_fuzz(void **state)
{
    uint8_t raw[96];
    int round;
    size_t i;

    (void)state;
    rngState = 0x9e3779b97f4a7c15ull;
    for (round = 0; round < 5000; round++) {
        size_t len = rngNext() % sizeof raw;
        uint8_t *buf;
        for (i = 0; i < len; i++) {
            raw[i] = (uint8_t)rngNext();
        }
        /* Half of them start like a map, to get past the first byte. */
        if (len > 0 && round % 2 == 0) {
            raw[0] = (uint8_t)(0x80 | (rngNext() % 12));
        }
        buf = malloc(len > 0 ? len : 1); /* exact size: ASan sees overreads */
        memcpy(buf, raw, len);
        fuzzOne(buf, len);
        free(buf);
    }
    for (round = 0; round < 20000; round++) {
        struct fsmCommand c = fullCommand(allOps[rngNext() % N_OPS]);
        uint8_t *buf;
        size_t len;
        int flips = 1 + (int)(rngNext() % 4);
        assert_int_equal(fsmCommandEncode(&c, malloc, (void **)&buf, &len), 0);
        while (flips-- > 0) {
            size_t at = rngNext() % len;
            switch (rngNext() % 4) {
                case 0:
                    buf[at] ^= (uint8_t)(1u << (rngNext() % 8));
                    break;
                case 1:
                    buf[at] = (uint8_t)rngNext();
                    break;
                case 2:
                    buf[at] = (uint8_t)(0xc0 + rngNext() % 0x20);
                    break;
                default:
                    len = at; /* truncate */
                    break;
            }
            if (len == 0) {
                break;
            }
        }
        fuzzOne(buf, len);
        free(buf);
    }
}

/* Garbage entries go through fsmApply as InvalidCommand replies. */
static void test_fuzzApply(void **state)
{
    struct fsmConfig conf;
    struct fsm *f;
    char errmsg[256];
    char *dir = tmpdirMake();
    int round;

    (void)state;
    assert_non_null(dir);
    fsmConfigDefaults(&conf);
    conf.dir = dir;
    conf.map_size = 64 << 20;
    assert_int_equal(fsmOpen(&conf, &f, errmsg), 0);
    rngState = 12345;
    for (round = 0; round < 3000; round++) {
        struct fsmCommand c = fullCommand(allOps[rngNext() % N_OPS]);
        struct fsmReply r;
        uint8_t *buf;
        size_t len;
        c.client_id = 1 + rngNext() % 3;
        c.seq = 1 + rngNext() % 4;
        c.ack = rngNext() % 4;
        assert_int_equal(fsmCommandEncode(&c, malloc, (void **)&buf, &len), 0);
        if (round % 3 != 0) {
            buf[rngNext() % len] ^= (uint8_t)(1u << (rngNext() % 8));
        }
        assert_int_equal(fsmApply(f, buf, len, &r), 0);
        assert_non_null(r.data);
        assert_true(r.len > 0);
        free(buf);
        if (round % 100 == 0) {
            assert_int_equal(fsmFlush(f), 0);
        }
    }
    fsmClose(f);
    tmpdirRemove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundTrip),   cmocka_unit_test(test_names),
        cmocka_unit_test(test_padding),     cmocka_unit_test(test_encodeRejects),
        cmocka_unit_test(test_builderValid), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_bytes),       cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_fuzzApply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
