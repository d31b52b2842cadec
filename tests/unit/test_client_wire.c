/* Unit tests of the wire codec (client/wire.c): frames, requests, replies
 * and error names, each on inputs built for the case. Seeded garbage and
 * mutated frames are in test_client_garbage.c. */
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

/* Kinds of value the map builder can write. */
enum {
    V_UINT,
    V_INT,
    V_STR,
    V_BIN,
    V_BOOL,
    V_NIL,
    V_ARRAY,
    V_MAP,
    V_FLOAT,
    V_RAW /* u bytes of s, written as they are */
};

/* One key and value of a map to build. */
struct kv
{
    const char *key;
    int type;
    uint64_t u; /* V_UINT, V_BOOL; V_ARRAY/V_MAP: count of elements;
                   V_RAW: bytes */
    int64_t i;  /* V_INT */
    const char *s; /* V_STR, V_BIN */
};

/* Pack @v into @pk. */
static void packValue(msgpack_packer *pk, const struct kv *v)
{
    size_t n;
    uint64_t k;
    switch (v->type) {
        case V_UINT:
            msgpack_pack_uint64(pk, v->u);
            break;
        case V_INT:
            msgpack_pack_int64(pk, v->i);
            break;
        case V_STR:
            n = strlen(v->s);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, v->s, n);
            break;
        case V_BIN:
            n = strlen(v->s);
            msgpack_pack_bin(pk, n);
            msgpack_pack_bin_body(pk, v->s, n);
            break;
        case V_BOOL:
            if (v->u) {
                msgpack_pack_true(pk);
            } else {
                msgpack_pack_false(pk);
            }
            break;
        case V_ARRAY:
            msgpack_pack_array(pk, v->u);
            for (k = 0; k < v->u; k++) {
                msgpack_pack_nil(pk);
            }
            break;
        case V_MAP:
            msgpack_pack_map(pk, v->u);
            for (k = 0; k < 2 * v->u; k++) {
                msgpack_pack_uint8(pk, (uint8_t)k);
            }
            break;
        case V_FLOAT:
            msgpack_pack_double(pk, 1.5);
            break;
        case V_RAW:
            msgpack_pack_str_body(pk, v->s, (size_t)v->u);
            break;
        default:
            msgpack_pack_nil(pk);
            break;
    }
}

/* Build a msgpack map of @n pairs into @sb (initialised here). */
static void buildMap(msgpack_sbuffer *sb, const struct kv *kv, size_t n)
{
    msgpack_packer pk;
    size_t i;
    size_t len;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (i = 0; i < n; i++) {
        len = strlen(kv[i].key);
        msgpack_pack_str(&pk, len);
        msgpack_pack_str_body(&pk, kv[i].key, len);
        packValue(&pk, &kv[i]);
    }
}

/* A SendMessage args map: {"QueueName": "orders", "MessageBody":
 * "payload", "DelaySeconds": 5}. */
static const char sendArgs[] =
    "\x83\xa9" "QueueName\xa6" "orders\xab" "MessageBody\xa7" "payload"
    "\xac" "DelaySeconds\x05";
#define SEND_ARGS_LEN (sizeof sendArgs - 1)

/* A valid SendMessage request, as pairs. */
static const struct kv sendPairs[] = {
    {"id", V_UINT, 77, 0, NULL},
    {"op", V_STR, 0, 0, "SendMessage"},
    {"cid", V_UINT, 9, 0, NULL},
    {"seq", V_UINT, 3, 0, NULL},
    {"ack", V_UINT, 2, 0, NULL},
    {"args", V_RAW, SEND_ARGS_LEN, 0, sendArgs},
};
#define N_SEND_PAIRS (sizeof sendPairs / sizeof sendPairs[0])

/* Decode @sb's bytes. */
static int decode(const msgpack_sbuffer *sb,
                  struct qraft_request *req,
                  char *err,
                  size_t errlen)
{
    return qraft_wire_decode_request(sb->data, sb->size, req, err, errlen);
}

/* Split a whole frame: check the length prefix, return the payload. */
static const char *framePayload(const void *frame, size_t len, size_t *plen)
{
    const unsigned char *p = frame;
    uint32_t n;
    assert_true(len >= 4);
    n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
        p[3];
    assert_int_equal(n, len - 4);
    *plen = n;
    return (const char *)p + 4;
}

/* True if [p, p+n) lies inside [base, base+len). */
static bool inside(const void *p, size_t n, const void *base, size_t len)
{
    const char *a = p;
    const char *b = base;
    return a >= b && n <= len && a - b <= (ptrdiff_t)(len - n);
}

/* ---------------------------------------------------------------------- */
/* Requests                                                                */

/* Encode @in, decode it back, compare every field. */
static void roundTrip(const struct qraft_request *in)
{
    struct qraft_request out;
    void *frame;
    size_t len;
    size_t plen;
    const char *payload;
    char err[256];
    assert_int_equal(qraft_wire_encode_request(in, &frame, &len), 0);
    payload = framePayload(frame, len, &plen);
    assert_int_equal(qraft_wire_decode_request(payload, plen, &out, err,
                                               sizeof err),
                     0);
    assert_int_equal(out.id, in->id);
    assert_int_equal(out.op_len, in->op_len);
    assert_memory_equal(out.op, in->op, in->op_len);
    assert_true(inside(out.op, out.op_len, payload, plen));
    assert_int_equal(out.client_id, in->client_id);
    assert_int_equal(out.seq, in->client_id != 0 ? in->seq : 0);
    assert_int_equal(out.ack, in->client_id != 0 ? in->ack : 0);
    assert_int_equal(out.version, in->version);
    if (in->args != NULL) {
        /* Byte for byte what was given, pointing into the frame. */
        assert_int_equal(out.args_len, in->args_len);
        assert_memory_equal(out.args, in->args, in->args_len);
        assert_true(inside(out.args, out.args_len, payload, plen));
    } else {
        assert_null(out.args);
        assert_int_equal(out.args_len, 0);
    }
    free(frame);
}

static void roundTripEnvelopes(void **state)
{
    static char big[QRAFT_BODY_MAX + 16];
    static const char *const ops[] = {
        "CreateQueue", "DeleteQueue", "ListQueues", "GetQueueAttributes",
        "SendMessage", "SendMessageBatch", "ReceiveMessage",
        "DeleteMessageBatch", "ChangeMessageVisibilityBatch",
        "StartMessageMoveTask", "AnythingTheNodeMayRefuse"};
    struct qraft_request r;
    size_t i;
    (void)state;

    memset(&r, 0, sizeof r);
    r.id = 1;
    r.op = "hello";
    r.op_len = 5;
    r.version = QRAFT_PROTOCOL_VERSION;
    roundTrip(&r);

    memset(&r, 0, sizeof r);
    r.id = UINT64_MAX;
    r.op = "status";
    r.op_len = 6;
    roundTrip(&r);
    r.args = "\x80"; /* an empty map */
    r.args_len = 1;
    roundTrip(&r);

    memset(&r, 0, sizeof r);
    r.id = 5;
    r.client_id = 0xdeadbeefcafef00dULL;
    r.seq = 1000;
    r.ack = 999;
    r.args = sendArgs;
    r.args_len = SEND_ARGS_LEN;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        r.op = ops[i];
        r.op_len = strlen(ops[i]);
        roundTrip(&r);
    }

    /* A map around the largest body (str 32 header). */
    big[0] = (char)0x81;
    big[1] = (char)0xab;
    memcpy(big + 2, "MessageBody", 11);
    big[13] = (char)0xdb;
    big[14] = 0;
    big[15] = (char)(QRAFT_BODY_MAX >> 16);
    big[16] = (char)(QRAFT_BODY_MAX >> 8);
    big[17] = (char)QRAFT_BODY_MAX;
    memset(big + 18, 'b', sizeof big - 18);
    r.args = big;
    r.args_len = 18 + QRAFT_BODY_MAX - 2;
    big[15] = (char)((QRAFT_BODY_MAX - 2) >> 16);
    big[16] = (char)((QRAFT_BODY_MAX - 2) >> 8);
    big[17] = (char)(QRAFT_BODY_MAX - 2);
    roundTrip(&r);
}

static void encodeRejectsBadRequests(void **state)
{
    struct qraft_request r;
    void *frame = NULL;
    size_t len;
    (void)state;
    memset(&r, 0, sizeof r);
    r.id = 1;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL); /* no op */
    r.op = "";
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL); /* empty op */
    r.op = "SendMessage";
    r.op_len = 11;
    r.args = "\x91\x01"; /* an array */
    r.args_len = 2;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL);
    r.args = "\x81\xa1x"; /* truncated map */
    r.args_len = 3;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL);
    r.args = "\x80\x80"; /* two maps */
    r.args_len = 2;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL);
    r.args = "";
    r.args_len = 0;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len),
                     QRAFT_EINVAL);
    assert_null(frame);
    assert_int_equal(qraft_wire_encode_request(NULL, &frame, &len),
                     QRAFT_EINVAL);
}

static void encodeOmitsAbsentKeys(void **state)
{
    struct qraft_request r;
    msgpack_unpacked u;
    void *frame;
    size_t len;
    size_t plen;
    const char *payload;
    (void)state;
    memset(&r, 0, sizeof r);
    r.id = 3;
    r.op = "ListQueues";
    r.op_len = 10;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len), 0);
    payload = framePayload(frame, len, &plen);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, payload, plen, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 2); /* id, op: no session */
    msgpack_unpacked_destroy(&u);
    free(frame);

    r.client_id = 4;
    r.seq = 1;
    r.ack = 1;
    r.args = sendArgs;
    r.args_len = SEND_ARGS_LEN;
    assert_int_equal(qraft_wire_encode_request(&r, &frame, &len), 0);
    payload = framePayload(frame, len, &plen);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, payload, plen, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 6);
    assert_int_equal(u.data.via.map.ptr[5].val.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(u.data.via.map.ptr[5].val.via.map.size, 3);
    msgpack_unpacked_destroy(&u);
    free(frame);
}

static void decodeIgnoresUnknownKeys(void **state)
{
    struct kv kv[N_SEND_PAIRS + 3];
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    (void)state;
    memcpy(kv, sendPairs, sizeof sendPairs);
    kv[N_SEND_PAIRS] = (struct kv){"zzz", V_MAP, 3, 0, NULL};
    kv[N_SEND_PAIRS + 1] = (struct kv){"queue", V_ARRAY, 4, 0, NULL};
    kv[N_SEND_PAIRS + 2] = (struct kv){"f", V_FLOAT, 0, 0, NULL};
    buildMap(&sb, kv, N_SEND_PAIRS + 3);
    assert_int_equal(decode(&sb, &r, err, sizeof err), 0);
    assert_int_equal(r.op_len, 11);
    assert_memory_equal(r.op, "SendMessage", 11);
    assert_int_equal(r.client_id, 9);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.ack, 2);
    assert_int_equal(r.args_len, SEND_ARGS_LEN);
    assert_memory_equal(r.args, sendArgs, SEND_ARGS_LEN);
    msgpack_sbuffer_destroy(&sb);
}

static void decodeRejectsTruncated(void **state)
{
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    size_t n;
    (void)state;
    buildMap(&sb, sendPairs, N_SEND_PAIRS);
    assert_int_equal(decode(&sb, &r, err, sizeof err), 0);
    for (n = 0; n < sb.size; n++) {
        assert_int_equal(qraft_wire_decode_request(sb.data, n, &r, err,
                                                   sizeof err),
                         QRAFT_EMALFORMED);
        assert_true(strlen(err) > 0);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void decodeRejectsNonMap(void **state)
{
    static const char *const bad[] = {
        "\x93\x01\x02\x03", /* array */
        "\x05",             /* int */
        "\xa3" "abc",       /* str */
        "\xc0",             /* nil */
        "\xc1",             /* never used */
    };
    static const size_t lens[] = {4, 1, 4, 1, 1};
    struct qraft_request r;
    char err[256];
    size_t i;
    (void)state;
    assert_int_equal(qraft_wire_decode_request("", 0, &r, err, sizeof err),
                     QRAFT_EMALFORMED);
    assert_int_equal(qraft_wire_decode_request(NULL, 0, &r, NULL, 0),
                     QRAFT_EMALFORMED);
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        assert_int_equal(qraft_wire_decode_request(bad[i], lens[i], &r, err,
                                                   sizeof err),
                         QRAFT_EMALFORMED);
        assert_non_null(strstr(err, "not a msgpack map"));
    }
}

static void decodeRejectsTrailingBytesAndBadKeys(void **state)
{
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    static const char intKey[] = "\x81\x01\x02";
    struct kv dup[N_SEND_PAIRS + 1];
    size_t i;
    (void)state;
    buildMap(&sb, sendPairs, N_SEND_PAIRS);
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    assert_int_equal(decode(&sb, &r, err, sizeof err), QRAFT_EMALFORMED);
    assert_non_null(strstr(err, "after the map"));
    assert_int_equal(r.id, 77);
    msgpack_sbuffer_destroy(&sb);

    assert_int_equal(qraft_wire_decode_request(intKey, 3, &r, err,
                                               sizeof err),
                     QRAFT_EMALFORMED);
    assert_non_null(strstr(err, "strings"));

    /* Every known key twice. */
    for (i = 0; i < N_SEND_PAIRS; i++) {
        char quoted[16];
        memcpy(dup, sendPairs, sizeof sendPairs);
        dup[N_SEND_PAIRS] = sendPairs[i];
        buildMap(&sb, dup, N_SEND_PAIRS + 1);
        assert_int_equal(decode(&sb, &r, err, sizeof err), QRAFT_EMALFORMED);
        snprintf(quoted, sizeof quoted, "'%s'", sendPairs[i].key);
        assert_non_null(strstr(err, quoted));
        assert_non_null(strstr(err, "twice"));
        msgpack_sbuffer_destroy(&sb);
    }
}

static void decodeRejectsWrongTypes(void **state)
{
    /* Every known key, with a value of a wrong type. */
    static const struct kv wrong[] = {
        {"id", V_STR, 0, 0, "1"},         {"op", V_UINT, 1, 0, NULL},
        {"op", V_BIN, 0, 0, "Send"},      {"cid", V_STR, 0, 0, "9"},
        {"seq", V_INT, 0, -1, NULL},      {"ack", V_BOOL, 1, 0, NULL},
        {"version", V_STR, 0, 0, "1"},    {"args", V_ARRAY, 2, 0, NULL},
        {"args", V_NIL, 0, 0, NULL},      {"args", V_STR, 0, 0, "{}"},
        {"args", V_BIN, 0, 0, "\x80"},    {"seq", V_FLOAT, 0, 0, NULL},
        {"version", V_INT, 0, -2, NULL},  {"id", V_MAP, 1, 0, NULL},
    };
    struct kv kv[N_SEND_PAIRS + 1];
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    char quoted[32];
    size_t i;
    size_t j;
    size_t n;
    (void)state;
    for (i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        n = 0;
        for (j = 0; j < N_SEND_PAIRS; j++) {
            if (strcmp(sendPairs[j].key, wrong[i].key) != 0) {
                kv[n++] = sendPairs[j];
            }
        }
        kv[n++] = wrong[i];
        buildMap(&sb, kv, n);
        assert_int_equal(decode(&sb, &r, err, sizeof err), QRAFT_EMALFORMED);
        snprintf(quoted, sizeof quoted, "'%s'", wrong[i].key);
        assert_non_null(strstr(err, quoted));
        if (strcmp(wrong[i].key, "id") != 0) {
            assert_int_equal(r.id, 77); /* still reported */
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Decode @sendPairs without @key. */
static int decodeWithout(const char *key, char *err, struct qraft_request *r)
{
    struct kv kv[N_SEND_PAIRS];
    msgpack_sbuffer sb;
    size_t j;
    size_t n = 0;
    int rv;
    for (j = 0; j < N_SEND_PAIRS; j++) {
        if (strcmp(sendPairs[j].key, key) != 0) {
            kv[n++] = sendPairs[j];
        }
    }
    buildMap(&sb, kv, n);
    rv = decode(&sb, r, err, 256);
    msgpack_sbuffer_destroy(&sb);
    return rv;
}

static void decodeRequiresIdAndOpOnly(void **state)
{
    struct qraft_request r;
    char err[256];
    (void)state;
    assert_int_equal(decodeWithout("id", err, &r), QRAFT_EMALFORMED);
    assert_non_null(strstr(err, "'id'"));
    assert_int_equal(decodeWithout("op", err, &r), QRAFT_EMALFORMED);
    assert_non_null(strstr(err, "'op'"));
    assert_int_equal(r.id, 77);
    /* The session and the args are the node's to require. */
    assert_int_equal(decodeWithout("cid", err, &r), 0);
    assert_int_equal(r.client_id, 0);
    assert_int_equal(decodeWithout("seq", err, &r), 0);
    assert_int_equal(r.seq, 0);
    assert_int_equal(decodeWithout("args", err, &r), 0);
    assert_null(r.args);
    assert_int_equal(r.args_len, 0);
}

static void decodeLeavesOpAndArgsToTheNode(void **state)
{
    struct kv kv[N_SEND_PAIRS];
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    (void)state;
    /* Unknown op names, odd args contents, zero session fields: all the
     * envelope's decoder lets through. */
    memcpy(kv, sendPairs, sizeof sendPairs);
    kv[1].s = "\x01\x02 explode";
    kv[2].u = 0;
    kv[3].u = 0;
    kv[5] = (struct kv){"args", V_MAP, 2, 0, NULL}; /* uint keys */
    buildMap(&sb, kv, N_SEND_PAIRS);
    assert_int_equal(decode(&sb, &r, err, sizeof err), 0);
    assert_int_equal(r.op_len, 10);
    assert_int_equal(r.client_id, 0);
    assert_int_equal(r.args_len, 5);
    assert_memory_equal(r.args, "\x82\x00\x01\x02\x03", 5);
    msgpack_sbuffer_destroy(&sb);
}

static void decodeSaturatesVersion(void **state)
{
    static const struct kv kv[] = {
        {"id", V_UINT, 1, 0, NULL},
        {"op", V_STR, 0, 0, "hello"},
        {"version", V_UINT, UINT64_MAX, 0, NULL},
    };
    msgpack_sbuffer sb;
    struct qraft_request r;
    char err[256];
    (void)state;
    buildMap(&sb, kv, 3);
    assert_int_equal(decode(&sb, &r, err, sizeof err), 0);
    assert_int_equal(r.version, UINT32_MAX);
    msgpack_sbuffer_destroy(&sb);
}

/* ---------------------------------------------------------------------- */
/* Frame reader                                                            */

/* Two frames, payloads "abc" and 300 bytes of 'x'. */
static size_t twoFrames(char *out)
{
    size_t n = 0;
    memcpy(out, "\0\0\0\x03" "abc", 7);
    n = 7;
    memcpy(out + n, "\0\0\x01\x2c", 4);
    n += 4;
    memset(out + n, 'x', 300);
    return n + 300;
}

static void readerByteByByte(void **state)
{
    struct qraft_wire_reader r;
    char buf[400];
    size_t n = twoFrames(buf);
    size_t i;
    const void *p;
    size_t len;
    int got = 0;
    int rv;
    (void)state;
    qraft_wire_reader_init(&r, 1024);
    for (i = 0; i < n; i++) {
        assert_int_equal(qraft_wire_reader_feed(&r, buf + i, 1), 0);
        while ((rv = qraft_wire_reader_next(&r, &p, &len)) == 1) {
            if (got == 0) {
                assert_int_equal(len, 3);
                assert_memory_equal(p, "abc", 3);
                assert_int_equal(i, 6);
            } else {
                assert_int_equal(len, 300);
                assert_int_equal(((const char *)p)[299], 'x');
                assert_int_equal(i, n - 1);
            }
            got++;
        }
        assert_int_equal(rv, 0);
    }
    assert_int_equal(got, 2);
    qraft_wire_reader_close(&r);
}

static void readerTwoFramesInOneFeed(void **state)
{
    struct qraft_wire_reader r;
    char buf[400];
    size_t n = twoFrames(buf);
    const void *p;
    size_t len;
    int round;
    (void)state;
    qraft_wire_reader_init(&r, 1024);
    /* Twice, so that the second round starts from a compacted buffer. */
    for (round = 0; round < 2; round++) {
        assert_int_equal(qraft_wire_reader_feed(&r, buf, n), 0);
        assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 1);
        assert_int_equal(len, 3);
        assert_memory_equal(p, "abc", 3);
        assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 1);
        assert_int_equal(len, 300);
        assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 0);
    }
    /* An empty frame is a frame (the decoder refuses its payload). */
    assert_int_equal(qraft_wire_reader_feed(&r, "\0\0\0\0", 4), 0);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 1);
    assert_int_equal(len, 0);
    qraft_wire_reader_close(&r);
}

static void readerMaxFrame(void **state)
{
    struct qraft_wire_reader r;
    const size_t max = 1u << 20;
    unsigned char head[4];
    char *payload;
    const void *p;
    size_t len;
    (void)state;

    /* Exactly max_frame: accepted once complete. */
    qraft_wire_reader_init(&r, max);
    head[0] = (unsigned char)(max >> 24);
    head[1] = (unsigned char)(max >> 16);
    head[2] = (unsigned char)(max >> 8);
    head[3] = (unsigned char)max;
    assert_int_equal(qraft_wire_reader_feed(&r, head, 4), 0);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 0);
    assert_true(r.cap < max); /* nothing reserved from the declared size */
    payload = calloc(1, max);
    assert_non_null(payload);
    assert_int_equal(qraft_wire_reader_feed(&r, payload, max), 0);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len), 1);
    assert_int_equal(len, max);
    qraft_wire_reader_close(&r);
    free(payload);

    /* max_frame + 1: an error from the header alone, nothing allocated
     * for it. */
    qraft_wire_reader_init(&r, max);
    head[3] = (unsigned char)(max + 1);
    assert_int_equal(qraft_wire_reader_feed(&r, head, 4), 0);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len),
                     QRAFT_EFRAME_TOO_LARGE);
    assert_true(r.cap <= 4096);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len),
                     QRAFT_EFRAME_TOO_LARGE);
    qraft_wire_reader_close(&r);

    /* 4 GiB - 1 declared. */
    qraft_wire_reader_init(&r, max);
    assert_int_equal(qraft_wire_reader_feed(&r, "\xff\xff\xff\xff", 4), 0);
    assert_int_equal(qraft_wire_reader_next(&r, &p, &len),
                     QRAFT_EFRAME_TOO_LARGE);
    qraft_wire_reader_close(&r);
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */

static void encodeReplyMergesId(void **state)
{
    static const struct kv body[] = {
        {"ok", V_BOOL, 1, 0, NULL},
        {"MessageId", V_STR, 0, 0, "m-1"},
        {"pad1", V_UINT, 1, 0, NULL}, {"pad2", V_UINT, 1, 0, NULL},
        {"pad3", V_UINT, 1, 0, NULL}, {"pad4", V_UINT, 1, 0, NULL},
        {"pad5", V_UINT, 1, 0, NULL}, {"pad6", V_UINT, 1, 0, NULL},
        {"pad7", V_UINT, 1, 0, NULL}, {"pad8", V_UINT, 1, 0, NULL},
        {"pad9", V_UINT, 1, 0, NULL}, {"padA", V_UINT, 1, 0, NULL},
        {"padB", V_UINT, 1, 0, NULL}, {"padC", V_UINT, 1, 0, NULL},
        {"padD", V_UINT, 1, 0, NULL},
    };
    size_t counts[] = {2, 15};
    msgpack_sbuffer sb;
    msgpack_unpacked u;
    void *frame;
    size_t len;
    size_t plen;
    const char *payload;
    size_t c;
    (void)state;
    for (c = 0; c < 2; c++) {
        buildMap(&sb, body, counts[c]);
        assert_int_equal(qraft_wire_encode_reply(1234567890123ULL, sb.data,
                                                 sb.size, &frame, &len),
                         0);
        payload = framePayload(frame, len, &plen);
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, payload, plen, NULL),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
        assert_int_equal(u.data.via.map.size, counts[c] + 1);
        assert_int_equal(u.data.via.map.ptr[0].key.via.str.size, 2);
        assert_memory_equal(u.data.via.map.ptr[0].key.via.str.ptr, "id", 2);
        assert_int_equal(u.data.via.map.ptr[0].val.via.u64, 1234567890123ULL);
        assert_memory_equal(u.data.via.map.ptr[2].val.via.str.ptr, "m-1", 3);
        msgpack_unpacked_destroy(&u);
        free(frame);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void encodeReplyRejectsNonMap(void **state)
{
    void *frame = NULL;
    size_t len;
    (void)state;
    assert_int_equal(qraft_wire_encode_reply(1, "\x91\x01", 2, &frame, &len),
                     QRAFT_EMALFORMED);
    assert_int_equal(qraft_wire_encode_reply(1, "", 0, &frame, &len),
                     QRAFT_EMALFORMED);
    assert_int_equal(qraft_wire_encode_reply(1, "\x81\xa1x", 3, &frame, &len),
                     QRAFT_EMALFORMED); /* truncated */
    assert_int_equal(qraft_wire_encode_reply(1, "\x80\x80", 2, &frame, &len),
                     QRAFT_EMALFORMED); /* two maps */
    assert_null(frame);
    assert_int_equal(qraft_wire_encode_reply(1, "\x80", 1, &frame, &len), 0);
    free(frame);
}

static void encodeErrorFields(void **state)
{
    msgpack_unpacked u;
    void *frame;
    size_t len;
    size_t plen;
    const char *payload;
    const msgpack_object_kv *kv;
    (void)state;
    assert_int_equal(qraft_wire_encode_error(9, QRAFT_ENOTLEADER, "go there",
                                             "10.0.0.1:7101", &frame, &len),
                     0);
    payload = framePayload(frame, len, &plen);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, payload, plen, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 5);
    kv = u.data.via.map.ptr;
    assert_int_equal(kv[0].val.via.u64, 9);
    assert_int_equal(kv[1].val.type, MSGPACK_OBJECT_BOOLEAN);
    assert_false(kv[1].val.via.boolean);
    assert_memory_equal(kv[2].val.via.str.ptr, "NotLeader", 9);
    assert_memory_equal(kv[3].val.via.str.ptr, "go there", 8);
    assert_memory_equal(kv[4].val.via.str.ptr, "10.0.0.1:7101", 13);
    msgpack_unpacked_destroy(&u);
    free(frame);

    assert_int_equal(qraft_wire_encode_error(9, QRAFT_EMALFORMED, NULL, NULL,
                                             &frame, &len),
                     0);
    payload = framePayload(frame, len, &plen);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, payload, plen, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 4);
    msgpack_unpacked_destroy(&u);
    free(frame);
}

/* ---------------------------------------------------------------------- */
/* Names                                                                   */

static void errorNamesRoundTrip(void **state)
{
    int code;
    const char *name;
    (void)state;
    for (code = 0; code < QRAFT_ERROR_COUNT; code++) {
        name = qraft_errname(code);
        assert_int_equal(qraft_errcode(name, strlen(name)), code);
        assert_true(strlen(qraft_strerror(code)) > 0);
    }
    assert_string_equal(qraft_errname(QRAFT_EQUEUE_DOES_NOT_EXIST),
                        "QueueDoesNotExist");
    assert_string_equal(qraft_errname(QRAFT_ERECEIPT_INVALID),
                        "ReceiptHandleIsInvalid");
    assert_int_equal(qraft_errcode("NotLeaderX", 9), QRAFT_ENOTLEADER);
    assert_int_equal(qraft_errcode("Nope", 4), QRAFT_EINTERNAL);
    assert_int_equal(qraft_errcode(NULL, 0), QRAFT_EINTERNAL);
    assert_string_equal(qraft_errname(-1), "UnknownError");
    assert_string_equal(qraft_errname(QRAFT_ERROR_COUNT), "UnknownError");
    assert_non_null(qraft_strerror(1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundTripEnvelopes),
        cmocka_unit_test(encodeRejectsBadRequests),
        cmocka_unit_test(encodeOmitsAbsentKeys),
        cmocka_unit_test(decodeIgnoresUnknownKeys),
        cmocka_unit_test(decodeRejectsTruncated),
        cmocka_unit_test(decodeRejectsNonMap),
        cmocka_unit_test(decodeRejectsTrailingBytesAndBadKeys),
        cmocka_unit_test(decodeRejectsWrongTypes),
        cmocka_unit_test(decodeRequiresIdAndOpOnly),
        cmocka_unit_test(decodeLeavesOpAndArgsToTheNode),
        cmocka_unit_test(decodeSaturatesVersion),
        cmocka_unit_test(readerByteByByte),
        cmocka_unit_test(readerTwoFramesInOneFeed),
        cmocka_unit_test(readerMaxFrame),
        cmocka_unit_test(encodeReplyMergesId),
        cmocka_unit_test(encodeReplyRejectsNonMap),
        cmocka_unit_test(encodeErrorFields),
        cmocka_unit_test(errorNamesRoundTrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
