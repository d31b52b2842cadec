/* Log entry envelope: round trips, names, padding, strict decoding, args
 * well-formedness, seeded fuzzing of decode and apply, and fsmCommandCheck
 * on malformed args (every ftApplyCmd also asserts that check and apply
 * agree). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsm/internal.h"
#include "tests/lib/fsmtest.h"

/* Seeded generator. */
static uint64_t rng;
static uint64_t rngNext(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A msgpack map {"QueueName":"q","MaxNumberOfMessages":3}. */
static const uint8_t argsMap[] = {0x82, 0xa9, 'Q', 'u', 'e', 'u', 'e', 'N', 'a', 'm', 'e',
                                  0xa1, 'q', 0xb3, 'M', 'a', 'x', 'N', 'u', 'm', 'b', 'e',
                                  'r', 'O', 'f', 'M', 'e', 's', 's', 'a', 'g', 'e', 's', 0x03};

static void test_roundTrip(void **state)
{
    struct fsmCommand c;
    struct fsmCommand d;
    void *buf;
    size_t len;
    unsigned op;

    (void)state;
    for (op = 1; op <= FSM_OP_TICK; op++) {
        memset(&c, 0, sizeof c);
        c.op = op;
        c.now_ms = 123456789;
        if (fsmOpMutates(op)) {
            c.client_id = 9;
            c.seq = 5;
            c.ack = 4;
        }
        c.wait = op == FSM_OP_RECEIVE_MESSAGE;
        c.args = argsMap;
        c.args_len = sizeof argsMap;
        assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
        assert_int_equal(len % 8, 0);
        assert_int_equal(fsmCommandDecode(buf, len, &d), 0);
        assert_int_equal(d.op, op);
        assert_int_equal(d.now_ms, 123456789);
        assert_int_equal(d.client_id, c.client_id);
        assert_int_equal(d.seq, c.seq);
        assert_int_equal(d.wait, c.wait);
        assert_int_equal(d.args_len, sizeof argsMap);
        assert_memory_equal(d.args, argsMap, sizeof argsMap);
        assert_true((const uint8_t *)d.args > (const uint8_t *)buf &&
                    (const uint8_t *)d.args + d.args_len <= (const uint8_t *)buf + len);
        free(buf);
        assert_non_null(fsmOpName(op));
        assert_int_equal(fsmOpByName(fsmOpName(op), strlen(fsmOpName(op))), op);
    }
    assert_int_equal(fsmOpByName("Nope", 4), 0);
    assert_true(fsmOpReads(FSM_OP_LIST_QUEUES));
    assert_false(fsmOpReads(FSM_OP_SEND_MESSAGE));
    {
        const char *n;
        size_t l;
        memset(&c, 0, sizeof c);
        c.op = FSM_OP_RECEIVE_MESSAGE;
        c.args = argsMap;
        c.args_len = sizeof argsMap;
        assert_true(fsmCommandQueue(&c, &n, &l));
        assert_int_equal(l, 1);
        assert_memory_equal(n, "q", 1);
    }
}

static void test_encodeRejects(void **state)
{
    static const uint8_t notMap[] = {0x91, 0x01};
    static const uint8_t trailing[] = {0x80, 0x80};
    struct fsmCommand c;
    void *buf;
    size_t len;

    (void)state;
    memset(&c, 0, sizeof c);
    c.op = 99;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.op = FSM_OP_SEND_MESSAGE; /* no session */
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.op = FSM_OP_TICK;
    c.wait = true;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.wait = false;
    c.args = notMap;
    c.args_len = sizeof notMap;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.args = trailing;
    c.args_len = sizeof trailing;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
}

/* Decode @hex-like bytes; expect @rv. */
static void dec(const void *p, size_t len, int rv)
{
    struct fsmCommand d;

    assert_int_equal(fsmCommandDecode(p, len, &d), rv);
}

/* Decode a string literal without its NUL. */
#define DEC(S, RV) dec(S, sizeof(S) - 1, RV)

static void test_strict(void **state)
{
    (void)state;
    /* {"v":1,"op":19,"now":5} */
    DEC("\x83\xa1v\x01\xa2op\x13\xa3now\x05", 0);
    DEC("\x83\xa1v\x01\xa2op\x13\xa3now\x05\0\0\0\0", 0);
    DEC("\x83\xa1v\x01\xa2op\x13\xa3now\x05\0\0\0\0\0\0\0\0", FSM_ECORRUPT);
    DEC("\x83\xa1v\x01\xa2op\x13\xa3now\x05\0\1", FSM_ECORRUPT);
    DEC("\x83\xa1v\x02\xa2op\x13\xa3now\x05", FSM_ECORRUPT);   /* version */
    DEC("\x82\xa1v\x01\xa2op\x13", FSM_ECORRUPT);                /* no now */
    DEC("\x83\xa1v\x01\xa2op\x63\xa3now\x05", FSM_ECORRUPT);   /* op 99 */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa1x\x01", FSM_ECORRUPT); /* key */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa3" "cid\x01", FSM_ECORRUPT); /* session on tick */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa1w\xc3", FSM_ECORRUPT); /* w on tick */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa4" "args\x91\x01", FSM_ECORRUPT);
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa4" "args\x81\x01", FSM_ECORRUPT); /* truncated */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa4" "args\x80", 0);
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa4" "args\xdf\xff\xff\xff\xff", FSM_ECORRUPT);
    DEC("\x83\xa1v\x01\xa2op\x13\xa2op\x13", FSM_ECORRUPT); /* duplicate */
    /* Keys near the known ones: a prefix, one byte more, a NUL inside, a
     * bin instead of a str. */
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa3" "arg\x80", FSM_ECORRUPT);
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa5" "argsx\x80", FSM_ECORRUPT);
    DEC("\x84\xa1v\x01\xa2op\x13\xa3now\x05\xa5" "args\0\x80", FSM_ECORRUPT);
    DEC("\x83\xa1v\x01\xa2op\x13\xc4\x03now\x05", FSM_ECORRUPT);
    DEC("\x83\xa1v\x01\xa2op\x13\xa0\x05", FSM_ECORRUPT);
}

/* mpIs: a str of exactly those bytes, no more, no fewer. */
static void test_mpIs(void **state)
{
    struct mpVal v = {0};

    (void)state;
    v.type = MP_STR;
    v.ptr = (const uint8_t *)"Queue\0";
    v.len = 5;
    assert_true(mpIs(&v, "Queue"));
    assert_false(mpIs(&v, "Queu"));
    assert_false(mpIs(&v, "QueueName"));
    assert_false(mpIs(&v, "Queux"));
    assert_false(mpIs(&v, ""));
    v.len = 6; /* "Queue" and a NUL */
    assert_false(mpIs(&v, "Queue"));
    v.len = 0;
    assert_true(mpIs(&v, ""));
    assert_false(mpIs(&v, "Q"));
    v.type = MP_BIN;
    v.len = 5;
    assert_false(mpIs(&v, "Queue"));
}

static void test_fuzz(void **state)
{
    uint8_t raw[96];
    int round;

    (void)state;
    rng = 0x9e3779b97f4a7c15ull;
    for (round = 0; round < 20000; round++) {
        size_t len = rngNext() % sizeof raw;
        uint8_t *buf;
        struct fsmCommand d;
        size_t i;
        for (i = 0; i < len; i++) {
            raw[i] = (uint8_t)rngNext();
        }
        if (len > 0 && round % 2 == 0) {
            raw[0] = (uint8_t)(0x80 | (rngNext() % 9));
        }
        buf = malloc(len > 0 ? len : 1);
        memcpy(buf, raw, len);
        if (fsmCommandDecode(buf, len, &d) == 0) {
            char e[256];
            fsmCommandCheck(&d, e, sizeof e);
        }
        free(buf);
    }
}

/* Mutated valid entries through apply: always a reply, never a failure. */
static void test_fuzzApply(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    int round;

    (void)state;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    rng = 777;
    for (round = 0; round < 3000; round++) {
        struct fsmCommand c;
        struct fsmReply r;
        uint8_t *buf;
        size_t len;
        memset(&c, 0, sizeof c);
        c.op = 1 + (unsigned)(rngNext() % FSM_OP_TICK);
        c.now_ms = 1000 + (uint64_t)round;
        c.client_id = 1 + rngNext() % 3;
        c.seq = 1 + rngNext() % 4;
        c.ack = rngNext() % 4;
        ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"x\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"y\"}],"
                  "\"ReceiptHandle\":\"0000000000000001000000000000000100000001deadbeef\",\"VisibilityTimeout\":1,"
                  "\"SourceQueueName\":\"q\",\"Tags\":{\"a\":\"b\"},\"TagKeys\":[\"a\"],\"Attributes\":{\"DelaySeconds\":\"1\"}}");
        c.args = t->args.data;
        c.args_len = t->args.size;
        assert_int_equal(fsmCommandEncode(&c, malloc, (void **)&buf, &len), 0);
        if (round % 3 != 0) {
            int flips = 1 + (int)(rngNext() % 3);
            while (flips-- > 0) {
                buf[rngNext() % len] ^= (uint8_t)(1u << (rngNext() % 8));
            }
        }
        assert_int_equal(fsmApply(t->f, buf, len, &r), 0);
        assert_non_null(r.data);
        free(buf);
    }
    ftClose(t);
}

/* fsmCommandCheck gives the error apply would store, for malformed args. */
static void test_checkAgrees(void **state)
{
    static const struct
    {
        unsigned op;
        const char *json;
        const char *code;
    } cases[] = {
        {FSM_OP_SEND_MESSAGE, "{\"QueueName\":\"q\"}", "MissingParameter"},
        {FSM_OP_SEND_MESSAGE, "{\"QueueName\":\"q\",\"MessageBody\":5}", "InvalidParameterValue"},
        {FSM_OP_RECEIVE_MESSAGE, "{\"QueueName\":\"q\",\"MaxNumberOfMessages\":\"x\"}", "InvalidParameterValue"},
        {FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\",\"Attributes\":{\"X\":\"1\"}}", "InvalidAttributeName"},
        {FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\",\"Attributes\":{\"DelaySeconds\":\"901\"}}", "InvalidAttributeValue"},
        {FSM_OP_DELETE_MESSAGE_BATCH, "{\"QueueName\":\"q\",\"Entries\":[]}", "EmptyBatchRequest"},
        {FSM_OP_CHANGE_VISIBILITY, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"x\",\"VisibilityTimeout\":1}", "ReceiptHandleIsInvalid"},
        {FSM_OP_LIST_QUEUES, "{\"MaxResults\":-1}", "InvalidParameterValue"},
        {FSM_OP_START_MESSAGE_MOVE_TASK, "{\"SourceQueueName\":\"a b\"}", "ResourceNotFoundException"},
    };
    struct ft *t = ftOpen(1024, 3600000, 0);
    size_t i;

    (void)state;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fsmCommand c;
        char e[256];
        ftArgs(t, "%s", cases[i].json);
        memset(&c, 0, sizeof c);
        c.op = cases[i].op;
        c.args = t->args.data;
        c.args_len = t->args.size;
        assert_string_equal(fsmErrorName(fsmCommandCheck(&c, e, sizeof e)), cases[i].code);
        assert_true(strlen(e) > 0);
        /* ftDo asserts that apply replies the same code and message. */
        assert_string_equal(ftCode(ftDo(t, cases[i].op, "%s", cases[i].json)), cases[i].code);
    }
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundTrip), cmocka_unit_test(test_encodeRejects),
        cmocka_unit_test(test_strict),    cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_mpIs),
        cmocka_unit_test(test_fuzzApply), cmocka_unit_test(test_checkAgrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
