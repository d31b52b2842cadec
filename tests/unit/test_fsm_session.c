/* Client sessions: every rule of DESIGN.md "Client sessions" over the v2
 * commands: new sessions start at 1, retries return the stored bytes and
 * change nothing, gaps are OutOfOrder, the acknowledged mark frees
 * replies, the in-flight window, expiry by tick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/fsmtest.h"

/* SendMessage of @body to "q" as session (@cid, @seq, @ack). */
static const msgpack_object *sendAs(struct ft *t, uint64_t cid, uint64_t seq,
                                  uint64_t ack, const char *body)
{
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"%s\"}", body);
    return ftApplyCmd(t, FSM_OP_SEND_MESSAGE, cid, seq, ack);
}

/* A fresh fsm with queue "q". */
static struct ft *setup(uint32_t window, uint64_t idle)
{
    struct ft *t = ftOpen(window, idle, 0);

    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    return t;
}

static void test_newSession(void **state)
{
    struct ft *t = setup(1024, 3600000);

    (void)state;
    assert_string_equal(ftCode(sendAs(t, 50, 2, 0, "a")), "SessionExpired");
    assert_string_equal(ftMsg(&t->u.data), "unknown session: start a new one");
    assert_string_equal(ftCode(sendAs(t, 50, 1, 0, "a")), "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "1");
    ftClose(t);
}

static void test_retry(void **state)
{
    struct ft *t = setup(1024, 3600000);
    uint8_t first[256];
    size_t flen;
    size_t la, lb;
    uint8_t *a;
    uint8_t *b;

    (void)state;
    sendAs(t, 50, 1, 0, "a");
    flen = t->raw.len;
    memcpy(first, t->raw.data, flen);
    sendAs(t, 50, 2, 0, "b");
    a = ftState(t, &la);
    /* Same sequence, even with other args: the stored reply, byte for byte. */
    sendAs(t, 50, 1, 0, "zzz");
    assert_int_equal(t->raw.len, flen);
    assert_memory_equal(t->raw.data, first, flen);
    b = ftState(t, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "2");
    ftClose(t);
}

static void test_outOfOrder(void **state)
{
    struct ft *t = setup(1024, 3600000);

    (void)state;
    sendAs(t, 50, 1, 0, "a");
    assert_string_equal(ftCode(sendAs(t, 50, 3, 0, "c")), "OutOfOrder");
    assert_string_equal(ftCode(sendAs(t, 50, 2, 0, "b")), "ok");
    assert_string_equal(ftCode(sendAs(t, 50, 3, 0, "c")), "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "3");
    ftClose(t);
}

static void test_ackAndWindow(void **state)
{
    struct ft *t = setup(4, 3600000);

    (void)state;
    sendAs(t, 50, 1, 0, "a");
    sendAs(t, 50, 2, 0, "a");
    sendAs(t, 50, 3, 0, "a");
    sendAs(t, 50, 4, 0, "a");
    assert_string_equal(ftCode(sendAs(t, 50, 5, 0, "a")), "TooManyInFlight");
    assert_string_equal(ftCode(sendAs(t, 50, 5, 2, "a")), "ok");
    /* Replies below the mark are gone. */
    assert_string_equal(ftCode(sendAs(t, 50, 1, 2, "a")), "SessionExpired");
    assert_string_equal(ftCode(sendAs(t, 50, 2, 2, "a")), "ok");
    ftClose(t);
}

static void test_expiry(void **state)
{
    struct ft *t = setup(1024, 5000);

    (void)state;
    sendAs(t, 50, 1, 0, "a");
    t->now += 5000;
    ftTick(t);
    assert_string_equal(ftCode(sendAs(t, 50, 2, 0, "a")), "ok"); /* not yet */
    t->now += 5001;
    ftTick(t);
    assert_string_equal(ftCode(sendAs(t, 50, 3, 0, "a")), "SessionExpired");
    assert_string_equal(ftCode(sendAs(t, 50, 1, 0, "a")), "ok");
    ftClose(t);
}

/* A refusal the node decided before the log (cmd.refuse) consumes the
 * sequence like any reply: stored, returned again on a retry, the op not
 * run; the session goes on with the next sequence. */
static void test_nodeRefusal(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    struct fsmCommand c;
    const msgpack_object *o;
    void *buf;
    size_t len;
    int round;

    (void)state;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"x\"}");
    memset(&c, 0, sizeof c);
    c.op = FSM_OP_SEND_MESSAGE;
    c.now_ms = t->now;
    c.client_id = t->cid;
    c.seq = t->seq + 1;
    c.ack = t->seq + 1;
    c.refuse = FSM_ERR_OVER_LIMIT;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
    for (round = 0; round < 2; round++) { /* the second is a retry */
        o = ftApplyRaw(t, buf, len);
        assert_string_equal(ftCode(o), "OverLimit");
    }
    free(buf);
    t->seq++;
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "0");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SEND_MESSAGE,
                                    "{\"QueueName\":\"q\",\"MessageBody\":\"y\"}")),
                        "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "1");
    /* Only mutating ops carry a refusal, and only a known error. */
    c.op = FSM_OP_LIST_QUEUES;
    c.client_id = c.seq = c.ack = 0;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    c.op = FSM_OP_SEND_MESSAGE;
    c.client_id = c.seq = c.ack = 9;
    c.refuse = 9999;
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), FSM_ECORRUPT);
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodeRefusal),
        cmocka_unit_test(test_newSession), cmocka_unit_test(test_retry),
        cmocka_unit_test(test_outOfOrder), cmocka_unit_test(test_ackAndWindow),
        cmocka_unit_test(test_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
