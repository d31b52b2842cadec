/* Message bodies hashed once by the proposer (fsmCommandHashBodies, the
 * "bd" key of a log entry): a send applied with them must leave the same
 * replies and state as one applied without (replicas hashing each body),
 * a digest that does not name exactly the body's bytes must be ignored,
 * and the codec must refuse "bd" anywhere but on SendMessage(Batch) and in
 * any length but whole digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "fsm/internal.h"
#include "tests/lib/fsmtest.h"

/* How to spoil the digests before applying. */
enum spoil {
    SPOIL_NONE,
    SPOIL_NO_BODIES, /* apply without them: replicas hash */
    SPOIL_OFFSET,    /* every digest names the wrong bytes (and is wrong:
                        used, it would show) */
    SPOIL_MD5        /* right bytes, wrong MD5 (the log is trusted) */
};

/* Apply @op with the args in t->args on the harness session, with body
 * digests spoiled as @how says. */
static const msgpack_object *applySend(struct ft *t, unsigned op, enum spoil how)
{
    uint8_t bodies[FSM_BODY_DIGESTS_MAX];
    struct fsmCommand c;
    void *buf;
    size_t len;
    size_t i;
    const msgpack_object *o;

    ftCommandNext(t, op, &c);
    fsmCommandHashBodies(&c, bodies);
    for (i = 0; i + FSM_BODY_DIGEST_LEN <= c.bodies_len; i += FSM_BODY_DIGEST_LEN) {
        if (how == SPOIL_OFFSET) {
            bePut32(bodies + i, beGet32(bodies + i) + 1);
            bodies[i + 8] ^= 0xff;
        } else if (how == SPOIL_MD5) {
            bodies[i + 8] ^= 0xff;
        }
    }
    if (how == SPOIL_NO_BODIES) {
        c.bodies = NULL;
        c.bodies_len = 0;
    }
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
    o = ftApplyRaw(t, buf, len);
    free(buf);
    return o;
}

/* Two fsms with queue "q": one gets digests, the other hashes. */
struct pair
{
    struct ft *with;
    struct ft *without;
};

static int pairSetUp(void **state)
{
    struct pair *p = calloc(1, sizeof *p);

    assert_non_null(p);
    p->with = ftOpen(1024, 3600000, 0);
    p->without = ftOpen(1024, 3600000, 0);
    ftDo(p->with, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    ftDo(p->without, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    *state = p;
    return 0;
}

static int pairTearDown(void **state)
{
    struct pair *p = *state;

    ftClose(p->with);
    ftClose(p->without);
    free(p);
    return 0;
}

static void assertSameState(struct pair *p)
{
    size_t la;
    size_t lb;
    uint8_t *a = ftState(p->with, &la);
    uint8_t *b = ftState(p->without, &lb);

    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* The JSON args of a batch of @n entries. */
static const char *batchJson(unsigned n)
{
    static char json[4096];
    size_t at = 0;

    at += (size_t)snprintf(json + at, sizeof json - at, "{\"QueueName\":\"q\",\"Entries\":[");
    for (unsigned i = 0; i < n; i++) {
        at += (size_t)snprintf(json + at, sizeof json - at,
                               "%s{\"Id\":\"e%u\",\"MessageBody\":\"body %u of the batch\"}",
                               i > 0 ? "," : "", i, i);
    }
    snprintf(json + at, sizeof json - at, "]}");
    return json;
}

/* SendMessage and a full SendMessageBatch with digests reply and store
 * exactly as without; so do digests naming the wrong bytes. */
static void digestsChangeNothing(void **state)
{
    struct pair *p = *state;
    static const enum spoil hows[] = {SPOIL_NONE, SPOIL_OFFSET};
    char with[128];

    for (size_t k = 0; k < sizeof hows / sizeof hows[0]; k++) {
        const msgpack_object *o;
        const msgpack_object *ok;

        ftArgs(p->with, "{\"QueueName\":\"q\",\"MessageBody\":\"hello %zu\"}", k);
        o = applySend(p->with, FSM_OP_SEND_MESSAGE, hows[k]);
        snprintf(with, sizeof with, "%s %s", ftS(o, "MD5OfMessageBody"), ftS(o, "MessageId"));
        ftArgs(p->without, "{\"QueueName\":\"q\",\"MessageBody\":\"hello %zu\"}", k);
        o = applySend(p->without, FSM_OP_SEND_MESSAGE, SPOIL_NO_BODIES);
        assert_true(strncmp(with, ftS(o, "MD5OfMessageBody"), 32) == 0);
        assert_string_equal(with + 33, ftS(o, "MessageId"));

        ftArgs(p->with, "%s", batchJson(10));
        o = applySend(p->with, FSM_OP_SEND_MESSAGE_BATCH, hows[k]);
        ok = ftArr(o, "Successful");
        assert_int_equal(ok->via.array.size, 10);
        ftArgs(p->without, "%s", batchJson(10));
        o = applySend(p->without, FSM_OP_SEND_MESSAGE_BATCH, SPOIL_NO_BODIES);
        assert_int_equal(ftArr(o, "Successful")->via.array.size, 10);
        assertSameState(p);
    }
}

/* A digest for the right bytes is used as it is: replicas take the log's
 * word for it (the proposer is our own node, never a client). */
static void digestOfTheLogIsTrusted(void **state)
{
    struct pair *p = *state;
    const msgpack_object *o;
    char spoiled[33];

    ftArgs(p->with, "{\"QueueName\":\"q\",\"MessageBody\":\"trusted\"}");
    o = applySend(p->with, FSM_OP_SEND_MESSAGE, SPOIL_MD5);
    snprintf(spoiled, sizeof spoiled, "%s", ftS(o, "MD5OfMessageBody"));
    ftArgs(p->without, "{\"QueueName\":\"q\",\"MessageBody\":\"trusted\"}");
    o = applySend(p->without, FSM_OP_SEND_MESSAGE, SPOIL_NO_BODIES);
    assert_string_not_equal(spoiled, ftS(o, "MD5OfMessageBody"));
}

/* What fsmCommandHashBodies finds: one digest per body, at the body's
 * bytes; nothing for other ops, unreadable args or too many entries. */
static void hashFindsEachBody(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    uint8_t bodies[FSM_BODY_DIGESTS_MAX];
    struct fsmCommand c;
    (void)state;

    memset(&c, 0, sizeof c);
    c.op = FSM_OP_SEND_MESSAGE;
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"abc\"}");
    c.args = t->args.data;
    c.args_len = t->args.size;
    fsmCommandHashBodies(&c, bodies);
    assert_ptr_equal(c.bodies, bodies);
    assert_int_equal(c.bodies_len, FSM_BODY_DIGEST_LEN);
    assert_int_equal(beGet32(bodies + 4), 3);
    assert_memory_equal((const uint8_t *)c.args + beGet32(bodies), "abc", 3);
    /* MD5("abc") */
    assert_memory_equal(bodies + 8,
                        "\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72", 16);

    c.op = FSM_OP_SEND_MESSAGE_BATCH;
    ftArgs(t, "%s", batchJson(10));
    c.args = t->args.data;
    c.args_len = t->args.size;
    fsmCommandHashBodies(&c, bodies);
    assert_int_equal(c.bodies_len, 10 * FSM_BODY_DIGEST_LEN);
    ftArgs(t, "%s", batchJson(11)); /* refused by the op: nothing to hash */
    c.args = t->args.data;
    c.args_len = t->args.size;
    fsmCommandHashBodies(&c, bodies);
    assert_null(c.bodies);

    c.op = FSM_OP_DELETE_MESSAGE;
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"abc\"}");
    c.args = t->args.data;
    c.args_len = t->args.size;
    fsmCommandHashBodies(&c, bodies);
    assert_null(c.bodies);

    c.op = FSM_OP_SEND_MESSAGE;
    c.args = "\xc1"; /* not msgpack */
    c.args_len = 1;
    fsmCommandHashBodies(&c, bodies);
    assert_null(c.bodies);
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"\"}"); /* empty: refused */
    c.args = t->args.data;
    c.args_len = t->args.size;
    fsmCommandHashBodies(&c, bodies);
    assert_null(c.bodies);
    ftClose(t);
}

/* An entry with "bd" of @len bytes (type bin, or str with @as_str) for
 * @op, hand-packed. */
static int decodeWithBodies(unsigned op, size_t len, bool as_str)
{
    static const uint8_t zeros[FSM_BODY_DIGESTS_MAX + FSM_BODY_DIGEST_LEN] = {0};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct fsmCommand c;
    int rv;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_uint64(&pk, op);
    msgpack_pack_str_with_body(&pk, "now", 3);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "cid", 3);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "seq", 3);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "ack", 3);
    msgpack_pack_uint64(&pk, 0);
    msgpack_pack_str_with_body(&pk, "bd", 2);
    if (as_str) {
        msgpack_pack_str_with_body(&pk, (const char *)zeros, len);
    } else {
        msgpack_pack_bin_with_body(&pk, zeros, len);
    }
    rv = fsmCommandDecode(sb.data, sb.size, &c);
    if (rv == 0) {
        assert_int_equal(c.bodies_len, len);
    }
    msgpack_sbuffer_destroy(&sb);
    return rv;
}

/* "bd": SendMessage(Batch) only, whole digests, at most ten, a bin. */
static void codecIsStrict(void **state)
{
    struct fsmCommand c;
    uint8_t bodies[FSM_BODY_DIGEST_LEN + 1] = {0};
    void *buf;
    size_t len;
    (void)state;

    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE, FSM_BODY_DIGEST_LEN, false), 0);
    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE_BATCH, FSM_BODY_DIGESTS_MAX, false),
                     0);
    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE_BATCH,
                                      FSM_BODY_DIGESTS_MAX + FSM_BODY_DIGEST_LEN, false),
                     FSM_ECORRUPT);
    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE, FSM_BODY_DIGEST_LEN - 1, false),
                     FSM_ECORRUPT);
    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE, 0, false), FSM_ECORRUPT);
    assert_int_equal(decodeWithBodies(FSM_OP_SEND_MESSAGE, FSM_BODY_DIGEST_LEN, true),
                     FSM_ECORRUPT);
    assert_int_equal(decodeWithBodies(FSM_OP_DELETE_MESSAGE, FSM_BODY_DIGEST_LEN, false),
                     FSM_ECORRUPT);

    memset(&c, 0, sizeof c);
    c.op = FSM_OP_SEND_MESSAGE;
    c.client_id = 1;
    c.seq = 1;
    c.bodies = bodies;
    c.bodies_len = FSM_BODY_DIGEST_LEN;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
    free(buf);
    c.bodies_len = FSM_BODY_DIGEST_LEN + 1;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.op = FSM_OP_DELETE_MESSAGE;
    c.bodies_len = FSM_BODY_DIGEST_LEN;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(digestsChangeNothing, pairSetUp, pairTearDown),
        cmocka_unit_test_setup_teardown(digestOfTheLogIsTrusted, pairSetUp, pairTearDown),
        cmocka_unit_test(hashFindsEachBody),
        cmocka_unit_test(codecIsStrict),
    };
    return cmocka_run_group_tests_name("unit/fsm_bodies", tests, NULL, NULL);
}
