/* DeleteQueue and PurgeQueue of large queues (fsm/sweep.c): the command
 * makes the old messages unreachable at once; sweep slices remove their
 * keys, at most the budget per slice, until no table holds one; snapshots
 * carry a sweep in progress; replicas agree. Tables are walked through
 * snapshots (the public image of every table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "tests/lib/fsmtest.h"

/* Messages of the large queues. */
#define LARGE 20000
/* The default slice budget (fsm/internal.h FSM_SWEEP_KEYS). */
#define BUDGET 4096

/* Big-endian integer of @n bytes at @p. */
static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Entries of table @name in @t's state (see ftTableEntries). */
static uint64_t entries(struct ft *t, const char *name, uint64_t prefix)
{
    return ftTableEntries(t, name, prefix, NULL);
}

/* Entries of every table that holds a queue's messages or identity. */
static uint64_t deadTables(struct ft *t)
{
    static const char *const names[] = {"messages", "msgstate", "ready", "inflight",
                                        "retention", "groups", "tags", "dedupe"};
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        n += entries(t, names[i], 0);
    }
    return n;
}

/* Send @n messages to @q in batches of 10 (FIFO: three groups, explicit
 * deduplication ids). */
static void fill(struct ft *t, const char *q, unsigned n, bool fifo)
{
    char buf[2048];
    unsigned i = 0;

    while (i < n) {
        size_t off = 0;
        unsigned j;
        off += (size_t)snprintf(buf + off, sizeof buf - off, "{\"QueueName\":\"%s\",\"Entries\":[", q);
        for (j = 0; j < 10 && i < n; j++, i++) {
            if (fifo) {
                off += (size_t)snprintf(buf + off, sizeof buf - off,
                                        "%s{\"Id\":\"e%u\",\"MessageBody\":\"m%u\",\"MessageGroupId\":\"g%u\","
                                        "\"MessageDeduplicationId\":\"d%u\"}",
                                        j ? "," : "", j, i, i % 3, i);
            } else {
                off += (size_t)snprintf(buf + off, sizeof buf - off,
                                        "%s{\"Id\":\"e%u\",\"MessageBody\":\"m%u\"}", j ? "," : "", j, i);
            }
        }
        snprintf(buf + off, sizeof buf - off, "]}");
        assert_string_equal(ftCode(ftDo(t, FSM_OP_SEND_MESSAGE_BATCH, "%s", buf)), "ok");
    }
}

/* One sweep slice: the keys it removed; *more as replied. */
static uint64_t sweepOnce(struct ft *t, bool *more)
{
    const msgpack_object *o = ftDo(t, FSM_OP_SWEEP, "{}");
    const msgpack_object *m;

    assert_string_equal(ftCode(o), "ok");
    m = ftGet(o, "More");
    assert_non_null(m);
    assert_int_equal(m->type, MSGPACK_OBJECT_BOOLEAN);
    *more = m->via.boolean;
    assert_true(*more == fsmSweepPending(t->f));
    return ftU(o, "Removed");
}

/* Sweep until nothing is left (at most @max_slices slices, each at most
 * @budget keys): the number of slices; *total gets the keys removed. */
static unsigned sweepAll(struct ft *t, uint64_t budget, unsigned max_slices, uint64_t *total)
{
    unsigned n = 0;
    bool more = true;

    *total = 0;
    while (more) {
        uint64_t k;
        assert_true(n < max_slices);
        k = sweepOnce(t, &more);
        assert_true(k <= budget);
        *total += k;
        n++;
    }
    assert_false(fsmSweepPending(t->f));
    assert_int_equal(entries(t, "sweep", 0), 0);
    return n;
}

/* The queue id a receipt handle names (its first 16 hex chars). */
static uint64_t receiptQueue(const char *receipt)
{
    char hex[17];

    memcpy(hex, receipt, 16);
    hex[16] = '\0';
    return strtoull(hex, NULL, 16);
}

static void test_deleteLarge(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    uint64_t total;
    uint64_t qid;
    unsigned slices;

    (void)state;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE,
                                    "{\"QueueName\":\"q\",\"Tags\":{\"a\":\"1\",\"b\":\"2\"}}")),
                        "ok");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"other\"}")), "ok");
    fill(t, "q", LARGE, false);
    m = ftRecv(t, "q", 10, 600);
    assert_int_equal(m->via.array.size, 10);
    qid = receiptQueue(ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    ftSend(t, "other", "stays");
    assert_int_equal(entries(t, "messages", qid), LARGE);
    assert_int_equal(entries(t, "inflight", qid), 10);
    assert_false(fsmSweepPending(t->f));

    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    /* Gone for every read at once; the keys are still there. */
    assert_true(fsmSweepPending(t->f));
    assert_string_equal(ftCode(ftQuery(t, FSM_OP_GET_QUEUE_ATTRIBUTES, "{\"QueueName\":\"q\"}")),
                        "QueueDoesNotExist");
    assert_int_equal(ftArr(ftQuery(t, FSM_OP_LIST_QUEUES, "{}"), "QueueNames")->via.array.size, 1);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_RECEIVE_MESSAGE, "{\"QueueName\":\"q\"}")),
                        "QueueDoesNotExist");
    assert_int_equal(entries(t, "messages", qid), LARGE);

    /* Slices of at most the budget, until every table is empty of it. */
    slices = sweepAll(t, BUDGET, 1000, &total);
    assert_int_equal(total, (uint64_t)LARGE * 4 + 2);
    assert_int_equal(slices, (total + BUDGET - 1) / BUDGET);
    assert_int_equal(entries(t, "messages", qid), 0);
    assert_int_equal(entries(t, "tags", qid), 0);
    /* Only the other queue's message is left. */
    assert_int_equal(deadTables(t), 4);
    m = ftRecv(t, "other", 10, -1);
    assert_int_equal(m->via.array.size, 1);
    /* Nothing more to do: a slice removes nothing. */
    {
        bool more;
        assert_int_equal(sweepOnce(t, &more), 0);
        assert_false(more);
    }
    ftClose(t);
}

static void test_purgeLarge(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    char old_receipt[256];
    uint64_t total;
    unsigned i;
    bool more;

    (void)state;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\",\"Tags\":{\"a\":\"1\"}}")),
                        "ok");
    fill(t, "q", LARGE, false);
    m = ftRecv(t, "q", 10, 600);
    assert_int_equal(m->via.array.size, 10);
    snprintf(old_receipt, sizeof old_receipt, "%s", ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "19990");

    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_true(fsmSweepPending(t->f));
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "0");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesNotVisible"), "0");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesDelayed"), "0");
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 0);
    /* An old receipt finds nothing (a delete of a gone message succeeds). */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_MESSAGE,
                                    "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", old_receipt)),
                        "ok");
    /* Sends after the purge stay, through the sweep. */
    ftSend(t, "q", "new1");
    ftSend(t, "q", "new2");
    assert_int_equal(sweepOnce(t, &more), BUDGET);
    assert_true(more);
    ftSend(t, "q", "new3");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "3");
    sweepAll(t, BUDGET, 1000, &total);
    assert_int_equal(total + BUDGET, (uint64_t)LARGE * 4);
    /* Tags stay with the queue; only the three new messages are left. */
    assert_int_equal(entries(t, "tags", 0), 1);
    assert_int_equal(entries(t, "messages", 0), 3);
    assert_int_equal(deadTables(t), 3 * 4 + 1);
    m = ftRecv(t, "q", 10, -1);
    assert_int_equal(m->via.array.size, 3);
    for (i = 0; i < 3; i++) {
        const char *b = ftS(&m->via.array.ptr[i], "Body");
        assert_true(strncmp(b, "new", 3) == 0);
    }
    /* A second purge (after the 60 s window) goes the same way. */
    t->now += 60000;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_int_equal(ftRecv(t, "q", 10, 0)->via.array.size, 0);
    assert_int_equal(sweepAll(t, BUDGET, 10, &total), 1);
    assert_int_equal(total, 3 * 4);
    assert_int_equal(deadTables(t), 1);
    ftClose(t);
}

static void test_fifo(void **state)
{
    struct ft *t = ftOpenSweep(1024, 3600000, 0, 100);
    const msgpack_object *o;
    uint64_t total;

    (void)state;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE,
                                    "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}")),
                        "ok");
    fill(t, "f.fifo", 300, true);
    assert_int_equal(entries(t, "groups", 0), 300);
    assert_int_equal(entries(t, "dedupe", 0), 300);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"f.fifo\"}")), "ok");
    assert_int_equal(ftRecv(t, "f.fifo", 10, -1)->via.array.size, 0);
    /* Deduplication ids outlive a purge, as before: d1 is a duplicate. */
    o = ftDo(t, FSM_OP_SEND_MESSAGE,
             "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"again\",\"MessageGroupId\":\"g1\","
             "\"MessageDeduplicationId\":\"d1\"}");
    assert_string_equal(ftCode(o), "ok");
    o = ftDo(t, FSM_OP_SEND_MESSAGE,
             "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"fresh\",\"MessageGroupId\":\"g1\","
             "\"MessageDeduplicationId\":\"new\"}");
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(sweepAll(t, 100, 100, &total), (300 * 5 + 99) / 100);
    assert_int_equal(total, 300 * 5);
    assert_int_equal(entries(t, "groups", 0), 1);
    o = ftDo(t, FSM_OP_RECEIVE_MESSAGE, "{\"QueueName\":\"f.fifo\",\"MaxNumberOfMessages\":10}");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 1);
    assert_string_equal(ftS(&ftArr(o, "Messages")->via.array.ptr[0], "Body"), "fresh");
    /* Delete: dedupe and groups go too; dedupe_exp is tick's. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"f.fifo\"}")), "ok");
    sweepAll(t, 100, 100, &total);
    assert_int_equal(total, 5 + 301);
    assert_int_equal(deadTables(t), 0);
    t->now += 10 * 60000;
    ftTick(t);
    assert_int_equal(entries(t, "dedupe_exp", 0), 0);
    ftClose(t);
}

static void test_recreate(void **state)
{
    struct ft *t = ftOpenSweep(1024, 3600000, 0, 1000);
    uint64_t total;
    bool more;

    (void)state;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\",\"Tags\":{\"old\":\"1\"}}")),
                        "ok");
    fill(t, "q", 5000, false);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_int_equal(sweepOnce(t, &more), 1000);
    t->now += 59999;
    ftRefused(t, FSM_OP_CREATE_QUEUE, "QueueDeletedRecently", "60 seconds", "{\"QueueName\":\"q\"}");
    t->now += 1;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    /* The new queue sees nothing of the old one, mid-sweep. */
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "0");
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 0);
    assert_int_equal(ftGet(ftQuery(t, FSM_OP_LIST_QUEUE_TAGS, "{\"QueueName\":\"q\"}"), "Tags")
                         ->via.map.size,
                     0);
    ftSend(t, "q", "fresh");
    sweepAll(t, 1000, 100, &total);
    assert_int_equal(total + 1000, 5000 * 4 + 1);
    assert_int_equal(deadTables(t), 4);
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 1);
    ftClose(t);
}

/* A slice removes at most the budget: exactly the budget in one slice,
 * one key more in two. Standard messages have 4 keys each. */
static void test_sliceBound(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    bool more;

    (void)state;
    /* Purge of BUDGET / 4 messages: exactly BUDGET keys. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    fill(t, "q", BUDGET / 4, false);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_int_equal(sweepOnce(t, &more), BUDGET);
    assert_false(more);
    assert_int_equal(deadTables(t), 0);
    /* Delete of BUDGET / 4 messages and one tag: BUDGET + 1 keys. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_TAG_QUEUE, "{\"QueueName\":\"q\",\"Tags\":{\"a\":\"1\"}}")),
                        "ok");
    fill(t, "q", BUDGET / 4, false);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_int_equal(sweepOnce(t, &more), BUDGET);
    assert_true(more);
    assert_int_equal(deadTables(t), 1);
    assert_int_equal(sweepOnce(t, &more), 1);
    assert_false(more);
    assert_int_equal(deadTables(t), 0);
    /* Several small dead queues share a slice. */
    t->now += 60000;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"x\"}")), "ok");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"y\"}")), "ok");
    fill(t, "x", 3, false);
    fill(t, "y", 2, false);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"x\"}")), "ok");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"y\"}")), "ok");
    assert_int_equal(entries(t, "sweep", 0), 2);
    assert_int_equal(sweepOnce(t, &more), 20);
    assert_false(more);
    ftClose(t);
}

/* Assert equal snapshots and digests of @a and @b. */
static void same(struct ft *a, struct ft *b)
{
    size_t len;

    free(ftSame(a, b, &len));
}

/* The same commands on @t: queues, a purge and a delete of large ones,
 * sweeps interleaved with sends to a third queue. @flush: flush every
 * @flush commands (0: never). */
static void sweepWorkload(struct ft *t, int flush)
{
    bool more = true;
    unsigned i;

    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"a\",\"Tags\":{\"t\":\"1\"}}");
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"b\"}");
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\"}}");
    fill(t, "a", 3000, false);
    fill(t, "b", 2000, false);
    fill(t, "f.fifo", 500, true);
    ftRecv(t, "a", 10, 600);
    ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"b\"}");
    ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"a\"}");
    ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"f.fifo\"}");
    for (i = 0; more && i < 1000; i++) {
        t->now += 10;
        sweepOnce(t, &more);
        ftSend(t, "b", "during");
        if (i % 3 == 0) {
            ftTick(t);
        }
        if (flush > 0 && i % (unsigned)flush == 0) {
            assert_int_equal(fsmFlush(t->f), 0);
        }
    }
    assert_false(more);
}

static void test_replicasAgree(void **state)
{
    struct ft *a = ftOpenSweep(1024, 3600000, 0, 500);
    struct ft *b = ftOpenSweep(1024, 3600000, 0, 500);

    (void)state;
    sweepWorkload(a, 0);
    sweepWorkload(b, 3);
    same(a, b);
    assert_int_equal(entries(a, "messages", 0), entries(a, "msgstate", 0));
    ftClose(a);
    ftClose(b);
}

static void test_snapshotMidSweep(void **state)
{
    struct ft *a = ftOpenSweep(1024, 3600000, 0, 700);
    struct ft *b = ftOpenSweep(1024, 3600000, 0, 700);
    uint64_t ta, tb;
    uint8_t *s;
    size_t len;
    bool more;

    (void)state;
    ftDo(a, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\",\"Tags\":{\"t\":\"1\"}}");
    ftDo(a, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"p\"}");
    fill(a, "q", 2000, false);
    fill(a, "p", 1000, false);
    ftDo(a, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"p\"}");
    ftDo(a, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}");
    assert_int_equal(sweepOnce(a, &more), 700);
    assert_int_equal(sweepOnce(a, &more), 700);
    assert_true(more);
    s = ftSnapshot(a, &len);
    assert_false(fsmSweepPending(b->f));
    assert_int_equal(fsmRestore(b->f, s, len), 0);
    free(s);
    assert_true(fsmSweepPending(b->f));
    same(a, b);
    /* Both go on alike, to the end. */
    b->now = a->now;
    b->seq = a->seq;
    sweepAll(a, 700, 100, &ta);
    sweepAll(b, 700, 100, &tb);
    assert_int_equal(ta, tb);
    assert_int_equal(ta + 1400, 3000 * 4 + 1);
    same(a, b);
    assert_int_equal(deadTables(b), 0);
    ftClose(a);
    ftClose(b);
}

/* A version 4 snapshot (before the sweep table) still restores. */
static void test_snapshotV4(void **state)
{
    struct ft *a = ftOpen(1024, 3600000, 0);
    struct ft *b = ftOpen(1024, 3600000, 0);
    static const uint8_t sweep_empty[] = {5, 's', 'w', 'e', 'e', 'p', 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t *s;
    size_t len;
    unsigned n = 0;

    (void)state;
    ftDo(a, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    ftSend(a, "q", "kept");
    s = ftSnapshot(a, &len);
    assert_int_equal(be(s + 8, 4), 5);
    assert_int_equal(be(s + 12, 4), 15);
    /* Drop the (empty, last) sweep table, rewrite the header and sum. */
    assert_memory_equal(s + len - 32 - sizeof sweep_empty, sweep_empty, sizeof sweep_empty);
    len -= sizeof sweep_empty;
    s[11] = 4;
    s[15] = 14;
    assert_int_equal(EVP_Digest(s, len - 32, s + len - 32, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(fsmRestore(b->f, s, len), 0);
    free(s);
    assert_false(fsmSweepPending(b->f));
    b->now = a->now;
    b->seq = a->seq;
    assert_int_equal(ftRecv(b, "q", 10, -1)->via.array.size, 1);
    ftClose(a);
    ftClose(b);
}

/* Tick runs a slice too; the store's usage falls as the sweep goes. */
static void test_tickAndUsage(void **state)
{
    struct ft *t = ftOpenSweep(1024, 3600000, 0, 2000);
    uint64_t used0, used1, cap;
    unsigned i;

    (void)state;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    fill(t, "q", 4000, false);
    ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}");
    assert_int_equal(fsmFlush(t->f), 0);
    assert_int_equal(fsmStoreUsage(t->f, &used0, &cap), 0);
    for (i = 0; i < 100 && fsmSweepPending(t->f); i++) {
        ftTick(t);
    }
    assert_int_equal(i, 8);
    assert_int_equal(deadTables(t), 0);
    assert_int_equal(fsmFlush(t->f), 0);
    assert_int_equal(fsmStoreUsage(t->f, &used1, &cap), 0);
    assert_true(used1 < used0);
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleteLarge),
        cmocka_unit_test(test_purgeLarge),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_recreate),
        cmocka_unit_test(test_sliceBound),
        cmocka_unit_test(test_replicasAgree),
        cmocka_unit_test(test_snapshotMidSweep),
        cmocka_unit_test(test_snapshotV4),
        cmocka_unit_test(test_tickAndUsage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
