/* The compact stored form of ReceiveMessage replies (fsm/recvreply.c): a
 * retry gets the original bytes while the messages exist, a message
 * deleted since is left out, the form is small (no bodies), session expiry
 * drops it, and it survives snapshot/restore with equal snapshots and
 * digests on every replica. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/fsmtest.h"

#define RECV FSM_OP_RECEIVE_MESSAGE

/* Length of the bodies sent: well above the stored form of a message. */
#define BODY_LEN 1500

/* A copy of reply bytes. */
struct bytes
{
    uint8_t *p;
    size_t n;
};

/* Copy the last reply of @t. */
static struct bytes keepReply(struct ft *t)
{
    struct bytes b;

    b.n = t->raw.len;
    b.p = malloc(b.n);
    assert_non_null(b.p);
    memcpy(b.p, t->raw.data, b.n);
    return b;
}

/* Assert that the last reply of @t is @b, byte for byte. */
static void assertReply(struct ft *t, const struct bytes *b)
{
    assert_int_equal(t->raw.len, b->n);
    assert_memory_equal(t->raw.data, b->p, b->n);
}

/* Send @n messages to @q, bodies of BODY_LEN chars ('a' + i), the second
 * with a message attribute; FIFO queues get group "g". */
static void sendSome(struct ft *t, const char *q, int n, bool fifo)
{
    char body[BODY_LEN + 1];
    int i;

    for (i = 0; i < n; i++) {
        const msgpack_object *o;
        memset(body, 'a' + i, BODY_LEN);
        body[BODY_LEN] = '\0';
        o = ftDo(t, FSM_OP_SEND_MESSAGE,
                 "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\"%s%s}", q, body,
                 fifo ? ",\"MessageGroupId\":\"g\",\"MessageDeduplicationId\":\"d" : "",
                 fifo ? (i == 0 ? "0\"" : i == 1 ? "1\"" : "2\"") : "");
        assert_string_equal(ftCode(o), "ok");
        if (i == 1 && !fifo) {
            ftDo(t, FSM_OP_SEND_MESSAGE,
                 "{\"QueueName\":\"%s\",\"MessageBody\":\"attr\","
                 "\"MessageAttributes\":{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}",
                 q);
        }
    }
}

/* ReceiveMessage of up to 10 from @q (every attribute, VisibilityTimeout
 * @vis) as session (@cid, @seq, ack 0: its replies are kept). */
static const msgpack_object *recvAs(struct ft *t, const char *q, int vis,
                                    uint64_t cid, uint64_t seq)
{
    ftArgs(t, "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":%d,"
              "\"AttributeNames\":[\"All\"],\"MessageAttributeNames\":[\"All\"]}",
           q, vis);
    return ftApplyCmd(t, RECV, cid, seq, 0);
}

/* Entries and value bytes of table "replies" in a snapshot of @t. */
static void repliesOf(struct ft *t, uint64_t *count, size_t *bytes)
{
    *count = ftTableEntries(t, "replies", 0, bytes);
}

/* A fresh fsm with standard queue "q" and FIFO queue "f.fifo". */
static struct ft *setup(uint64_t idle)
{
    struct ft *t = ftOpen(1024, idle, 0);

    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE,
                                    "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}")),
                        "ok");
    return t;
}

/* A retried receive gets the original bytes and changes nothing; what is
 * stored holds no body. */
static void test_retrySame(void **state)
{
    struct ft *t = setup(3600000);
    const msgpack_object *o;
    struct bytes first;
    struct bytes fifo;
    uint8_t *a;
    uint8_t *b;
    size_t la;
    size_t lb;
    uint64_t n;
    size_t bytes;

    (void)state;
    sendSome(t, "q", 3, false);
    sendSome(t, "f.fifo", 3, true);
    t->now += 1000;
    o = recvAs(t, "q", 30, 50, 1);
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 4);
    first = keepReply(t);
    assert_true(first.n > 3 * BODY_LEN);
    o = recvAs(t, "f.fifo", 30, 50, 2);
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 3);
    fifo = keepReply(t);
    /* Two stored replies (the harness's replies were acknowledged), of
     * seven messages, together smaller than two of the bodies. */
    repliesOf(t, &n, &bytes);
    assert_int_equal(n, 2 + 1);
    assert_true(bytes < 2 * BODY_LEN);

    a = ftState(t, &la);
    t->now += 5000;
    recvAs(t, "q", 99, 50, 1);
    assertReply(t, &first);
    recvAs(t, "f.fifo", 99, 50, 2);
    assertReply(t, &fifo);
    b = ftState(t, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    free(first.p);
    free(fifo.p);
    ftClose(t);
}

/* Another consumer received a message after the visibility timeout ran
 * out and deleted it: the retry lists the others, unchanged; after a
 * purge it lists none. */
static void test_retryAfterDelete(void **state)
{
    struct ft *t = setup(3600000);
    const msgpack_object *o;
    const msgpack_object *orig;
    const msgpack_object *now;
    msgpack_unpacked u;
    struct bytes first;
    char receipt[128];
    uint32_t i;

    (void)state;
    sendSome(t, "q", 3, false);
    t->now += 1000;
    o = recvAs(t, "q", 1, 50, 1);
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 4);
    first = keepReply(t);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)first.p, first.n, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    orig = ftArr(&u.data, "Messages");

    /* Visible again after 1 s: the harness receives the oldest, deletes it. */
    t->now += 2000;
    o = ftRecv(t, "q", 1, 30);
    assert_int_equal(o->via.array.size, 1);
    assert_string_equal(ftS(&o->via.array.ptr[0], "MessageId"),
                        ftS(&orig->via.array.ptr[0], "MessageId"));
    snprintf(receipt, sizeof receipt, "%s", ftS(&o->via.array.ptr[0], "ReceiptHandle"));
    o = ftDo(t, FSM_OP_DELETE_MESSAGE, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", receipt);
    assert_string_equal(ftCode(o), "ok");

    o = recvAs(t, "q", 1, 50, 1);
    assert_string_equal(ftCode(o), "ok");
    now = ftArr(o, "Messages");
    assert_int_equal(now->via.array.size, 3);
    for (i = 0; i < 3; i++) {
        assert_true(msgpack_object_equal(now->via.array.ptr[i], orig->via.array.ptr[i + 1]));
    }

    ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}");
    o = recvAs(t, "q", 1, 50, 1);
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 0);
    /* An empty receive is stored whole, and retried as such. */
    msgpack_unpacked_destroy(&u);
    free(first.p);
    o = recvAs(t, "q", 1, 50, 2);
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 0);
    first = keepReply(t);
    recvAs(t, "q", 1, 50, 2);
    assertReply(t, &first);
    free(first.p);
    ftClose(t);
}

/* An expired session takes its compact replies with it. */
static void test_expiry(void **state)
{
    struct ft *t = setup(5000);
    const msgpack_object *o;
    uint64_t n;
    size_t bytes;

    (void)state;
    sendSome(t, "q", 3, false);
    t->now += 1000;
    recvAs(t, "q", 30, 50, 1);
    recvAs(t, "q", 30, 50, 2);
    repliesOf(t, &n, &bytes);
    assert_int_equal(n, 2 + 1); /* and the harness session's last */
    t->now += 5001;
    ftTick(t);
    /* Both sessions were idle for longer than 5 s: gone, replies too. */
    repliesOf(t, &n, &bytes);
    assert_int_equal(n, 0);
    o = recvAs(t, "q", 30, 50, 2);
    assert_string_equal(ftCode(o), "SessionExpired");
    assert_string_equal(ftMsg(o), "unknown session: start a new one");
    ftClose(t);
}

/* Two replicas: the same entries give the same snapshot and digest; a
 * replica restored from a snapshot answers a retry with the original
 * bytes. */
static void test_snapshotRestore(void **state)
{
    struct ft *x = setup(3600000);
    struct ft *y = setup(3600000);
    struct ft *z = ftOpen(1024, 3600000, 0);
    struct bytes first;
    char dx[33];
    char dy[33];
    uint8_t *sx;
    uint8_t *sy;
    size_t lx;
    size_t ly;

    (void)state;
    sendSome(x, "q", 3, false);
    sendSome(y, "q", 3, false);
    x->now += 1000;
    y->now += 1000;
    recvAs(x, "q", 30, 50, 1);
    first = keepReply(x);
    assert_int_equal(fsmFlush(x->f), 0);
    recvAs(y, "q", 30, 50, 1);
    assertReply(y, &first);
    sx = ftSame(x, y, &lx);
    fsmDigest(x->f, dx);

    assert_int_equal(fsmRestore(z->f, sx, lx), 0);
    fsmDigest(z->f, dy);
    assert_string_equal(dx, dy);
    sy = ftSnapshot(z, &ly);
    assert_int_equal(lx, ly);
    assert_memory_equal(sx, sy, lx);
    z->now = x->now + 1000;
    recvAs(z, "q", 30, 50, 1);
    assertReply(z, &first);
    free(sx);
    free(sy);
    free(first.p);
    ftClose(x);
    ftClose(y);
    ftClose(z);
}

/* A retry after a purge whose old keyspace is half swept (a slice of a
 * few keys removed some of its tables' keys, not all): the keyspace counts
 * as gone, never read half removed; the retry is an empty receive. */
static void test_retryAfterPurgeHalfSwept(void **state)
{
    struct ft *t = ftOpenSweep(1024, 3600000, 0, 5);
    const msgpack_object *o;

    (void)state;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    sendSome(t, "q", 3, false);
    o = recvAs(t, "q", 50, 1, 1);
    assert_true(ftArr(o, "Messages")->via.array.size > 0);
    ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}");
    ftTick(t); /* one slice of 5 keys: the messages table, not the rest */
    assert_true(fsmSweepPending(t->f));
    o = recvAs(t, "q", 50, 1, 1);
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 0);
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retrySame),
        cmocka_unit_test(test_retryAfterDelete),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_snapshotRestore),
        cmocka_unit_test(test_retryAfterPurgeHalfSwept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
