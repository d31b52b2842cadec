/* Snapshots: the same entries give the same bytes whatever the flush
 * boundaries (over a seeded workload that runs every op), restore gives
 * an equal state, a corrupt snapshot changes nothing. */
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
#include "tests/lib/tmpdir.h"

/* Seeded generator. */
static uint64_t rng;
static uint64_t rngNext(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Steps of the workload. */
#define STEPS 600

/* Run the workload on @t, flushing every @flush steps (0: never). */
static void workload(struct ft *t, int flush)
{
    static const char *const qs[] = {"a", "b", "dlq", "f.fifo"};
    char receipts[32][64];
    int nrec = 0;
    int i;

    rng = 42;
    memset(receipts, 0, sizeof receipts);
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"dlq\"}");
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"a\",\"Attributes\":{\"VisibilityTimeout\":\"2\","
                                 "\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":2}\"},"
                                 "\"Tags\":{\"t\":\"1\"}}");
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"b\",\"Attributes\":{\"MessageRetentionPeriod\":\"60\",\"DelaySeconds\":\"1\"}}");
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\",\"ContentBasedDeduplication\":\"true\",\"VisibilityTimeout\":\"3\"}}");
    for (i = 0; i < STEPS; i++) {
        const char *q = qs[rngNext() % 4];
        const msgpack_object *o = NULL;
        unsigned k = (unsigned)(rngNext() % 20);
        t->now += 500;
        switch (k) {
            case 0: case 1: case 2: case 3:
                o = ftDo(t, FSM_OP_SEND_MESSAGE,
                         "{\"QueueName\":\"%s\",\"MessageBody\":\"m%d\",\"MessageGroupId\":\"g%d\","
                         "\"MessageAttributes\":{\"n\":{\"DataType\":\"Number\",\"StringValue\":\"%d\"}}}",
                         q, i % 7, i % 3, i);
                break;
            case 4:
                o = ftDo(t, FSM_OP_SEND_MESSAGE_BATCH,
                         "{\"QueueName\":\"%s\",\"Entries\":[{\"Id\":\"x\",\"MessageBody\":\"b%d\",\"MessageGroupId\":\"g\"},"
                         "{\"Id\":\"y\",\"MessageBody\":\"\"}]}", q, i);
                break;
            case 5: case 6: case 7: case 8: {
                const msgpack_object *m;
                uint32_t j;
                o = ftDo(t, FSM_OP_RECEIVE_MESSAGE, "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":%d}",
                         q, 1 + i % 10);
                m = ftGet(o, "Messages");
                for (j = 0; m != NULL && j < m->via.array.size; j++) {
                    strcpy(receipts[nrec++ % 32], ftS(&m->via.array.ptr[j], "ReceiptHandle"));
                }
                break;
            }
            case 9: case 10:
                if (nrec > 0) {
                    o = ftDo(t, FSM_OP_DELETE_MESSAGE, "{\"QueueName\":\"%s\",\"ReceiptHandle\":\"%s\"}",
                             q, receipts[rngNext() % (nrec < 32 ? (unsigned)nrec : 32u)]);
                }
                break;
            case 11:
                if (nrec > 0) {
                    o = ftDo(t, FSM_OP_DELETE_MESSAGE_BATCH,
                             "{\"QueueName\":\"%s\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"%s\"}]}",
                             q, receipts[rngNext() % (nrec < 32 ? (unsigned)nrec : 32u)]);
                }
                break;
            case 12:
                if (nrec > 0) {
                    o = ftDo(t, FSM_OP_CHANGE_VISIBILITY,
                             "{\"QueueName\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":%d}",
                             q, receipts[rngNext() % (nrec < 32 ? (unsigned)nrec : 32u)], i % 3);
                    ftDo(t, FSM_OP_CHANGE_VISIBILITY_BATCH,
                         "{\"QueueName\":\"%s\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":1}]}",
                         q, receipts[0]);
                }
                break;
            case 13:
                o = ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                         "{\"QueueName\":\"%s\",\"Attributes\":{\"DelaySeconds\":\"%d\"}}", q, i % 2);
                ftDo(t, FSM_OP_TAG_QUEUE, "{\"QueueName\":\"%s\",\"Tags\":{\"k%d\":\"v\"}}", q, i % 5);
                ftDo(t, FSM_OP_UNTAG_QUEUE, "{\"QueueName\":\"%s\",\"TagKeys\":[\"k%d\"]}", q, (i + 1) % 5);
                break;
            case 14:
                ftTick(t);
                break;
            case 15:
                o = ftDo(t, FSM_OP_START_MESSAGE_MOVE_TASK, "{\"SourceQueueName\":\"dlq\"}");
                break;
            case 16:
                if (i % 5 == 0) {
                    o = ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"%s\"}", q);
                }
                break;
            case 17:
                if (i % 7 == 0 && q[0] == 'b') {
                    ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"b\"}");
                    t->now += 61000;
                    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"b\",\"Attributes\":{\"MessageRetentionPeriod\":\"60\"}}");
                }
                break;
            default:
                ftDo(t, FSM_OP_LIST_QUEUES, "{\"MaxResults\":2}");
                ftDo(t, FSM_OP_GET_QUEUE_ATTRIBUTES, "{\"QueueName\":\"%s\"}", q);
                ftDo(t, FSM_OP_LIST_QUEUE_TAGS, "{\"QueueName\":\"%s\"}", q);
                ftDo(t, FSM_OP_LIST_DLQ_SOURCES, "{\"QueueName\":\"dlq\"}");
                break;
        }
        (void)o;
        if (flush > 0 && i % flush == 0) {
            assert_int_equal(fsmFlush(t->f), 0);
        }
    }
    assert_true(nrec > 20);
}


static void test_determinism(void **state)
{
    struct ft *a = ftOpen(1024, 3600000, 0);
    struct ft *b = ftOpen(1024, 3600000, 0);
    size_t len;
    uint8_t *s;

    (void)state;
    workload(a, 0);
    workload(b, 7);
    s = ftSame(a, b, &len);
    assert_memory_equal(s, "QRAFTSN1", 8);
    free(s);
    ftClose(a);
    ftClose(b);
}

static void test_restoreAndCorrupt(void **state)
{
    struct ft *a = ftOpen(1024, 3600000, 0);
    struct ft *b = ftOpen(1024, 3600000, 0);
    size_t len;
    size_t l2;
    uint8_t *s;
    uint8_t *s2;
    size_t i;

    (void)state;
    workload(a, 0);
    s = ftSnapshot(a, &len);
    assert_int_equal(fsmRestore(b->f, s, len), 0);
    free(ftSame(a, b, &l2));
    /* Both go on alike. */
    b->now = a->now;
    b->seq = a->seq;
    ftSend(a, "a", "after");
    ftSend(b, "a", "after");
    free(ftSame(a, b, &l2));
    /* Corruptions are refused and change nothing. */
    s2 = ftSnapshot(b, &l2);
    for (i = 0; i < len; i += len / 50 + 1) {
        s[i] ^= 0x5a;
        assert_int_equal(fsmRestore(b->f, s, len), FSM_ECORRUPT);
        s[i] ^= 0x5a;
    }
    assert_int_equal(fsmRestore(b->f, s, len / 2), FSM_ECORRUPT);
    free(s);
    s = ftSnapshot(b, &len);
    assert_int_equal(len, l2);
    assert_memory_equal(s, s2, len);
    free(s);
    free(s2);
    ftClose(a);
    ftClose(b);
}

/* A body of @len letters (static; NUL-terminated). */
static const char *bigBody(size_t len)
{
    static char body[FSM_BODY_MAX + 1];

    assert_true(len <= FSM_BODY_MAX);
    memset(body, 'k', len);
    body[len] = '\0';
    return body;
}

/* Applies commit their write transaction once it holds
 * STORE_TXN_SPLIT_BYTES (8 MiB) of keys and values, at a command boundary:
 * never below the bound, always past it (LMDB keeps a transaction's dirty
 * pages on the heap until the environment closes). */
static void test_txnSplitAtBound(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const size_t body = 200 * 1024;
    size_t before;
    unsigned commits = 0;
    unsigned i;

    (void)state;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"big\"}");
    assert_int_equal(fsmFlush(t->f), 0);
    for (i = 0; i < 200; i++) { /* about 40 MiB */
        before = t->f->store.txn_bytes;
        ftSend(t, "big", bigBody(body));
        if (t->f->store.txn_bytes < before) {
            /* Committed: only once this command took it past the bound. */
            assert_true(before + body >= STORE_TXN_SPLIT_BYTES);
            assert_int_equal(t->f->store.txn_bytes, 0);
            commits++;
        } else {
            /* Not committed: it is still below the bound. */
            assert_true(t->f->store.txn_bytes < STORE_TXN_SPLIT_BYTES);
        }
    }
    assert_true(commits >= 4);
    ftClose(t);
}

/* A store failure midway through a restore, after some of it was
 * committed (STORE_TXN_SPLIT_BYTES): a 16 MiB map cannot hold a 30 MiB
 * state. The fsm is failed from then on (fail-stop: the node stops),
 * never half-restored and running. */
static void test_restoreStoreFailsMidway(void **state)
{
    struct ft *a = ftOpen(1024, 3600000, 0);
    struct fsmConfig conf;
    struct fsm *f;
    struct fsmReply reply;
    char errmsg[256];
    char *dir;
    uint8_t *s;
    size_t len;
    unsigned i;

    (void)state;
    ftDo(a, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"big\"}");
    for (i = 0; i < 150; i++) {
        ftSend(a, "big", bigBody(200 * 1024));
    }
    s = ftSnapshot(a, &len);
    assert_true(len > 3 * STORE_TXN_SPLIT_BYTES);

    dir = tmpdirMake();
    assert_non_null(dir);
    fsmConfigDefaults(&conf);
    conf.dir = dir;
    conf.map_size = (size_t)16 << 20;
    assert_int_equal(fsmOpen(&conf, &f, errmsg), 0);
    assert_int_equal(fsmRestore(f, s, len), FSM_ESTORE);
    /* Failed for good: nothing applies, nothing restores. */
    assert_int_equal(fsmApply(f, "x", 1, &reply), FSM_ESTORE);
    assert_int_equal(fsmRestore(f, s, len), FSM_ESTORE);
    fsmClose(f);
    tmpdirRemove(dir);
    free(s);
    ftClose(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_restoreAndCorrupt),
        cmocka_unit_test(test_txnSplitAtBound),
        cmocka_unit_test(test_restoreStoreFailsMidway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
