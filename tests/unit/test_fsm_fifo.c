/* FIFO queues: group blocking, order across many groups with interleaved
 * sends, random deletes and expiries (seeded), round-robin, dedupe inside
 * and after the window (queue and messageGroup scope, content-based),
 * SequenceNumber, FIFO argument rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/fsmtest.h"

#define SEND FSM_OP_SEND_MESSAGE

/* Send @body to group @g of @q with dedup id @d; the reply. */
static const msgpack_object *fsend(struct ft *t, const char *q, const char *g,
                                   const char *d, const char *body)
{
    return ftDo(t, SEND,
                "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\",\"MessageGroupId\":\"%s\","
                "\"MessageDeduplicationId\":\"%s\"}",
                q, body, g, d);
}

/* Create FIFO queue @q with extra attributes @extra ("" or ",..."). */
static void fcreate(struct ft *t, const char *q, const char *extra)
{
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE,
                                    "{\"QueueName\":\"%s\",\"Attributes\":{\"FifoQueue\":\"true\"%s}}",
                                    q, extra)),
                        "ok");
}

static void test_groupBlocking(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    char r[64];

    (void)state;
    fcreate(t, "q.fifo", ",\"VisibilityTimeout\":\"10\"");
    assert_string_equal(ftCode(fsend(t, "q.fifo", "g", "1", "a")), "ok");
    assert_string_equal(ftCode(fsend(t, "q.fifo", "g", "2", "b")), "ok");
    assert_string_equal(ftCode(fsend(t, "q.fifo", "g", "3", "c")), "ok");
    m = ftRecv(t, "q.fifo", 1, -1);
    assert_int_equal(m->via.array.size, 1);
    assert_string_equal(ftS(&m->via.array.ptr[0], "Body"), "a");
    {
        const msgpack_object *a = ftGet(&m->via.array.ptr[0], "Attributes");
        assert_string_equal(ftS(a, "MessageGroupId"), "g");
        assert_string_equal(ftS(a, "MessageDeduplicationId"), "1");
        assert_string_equal(ftS(a, "SequenceNumber"), "00000000000000000001");
    }
    strcpy(r, ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    /* The head is in flight: the group delivers nothing. */
    assert_int_equal(ftRecv(t, "q.fifo", 10, -1)->via.array.size, 0);
    /* Expiry: the head first again. */
    t->now += 10000;
    m = ftRecv(t, "q.fifo", 1, -1);
    assert_string_equal(ftS(&m->via.array.ptr[0], "Body"), "a");
    strcpy(r, ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_MESSAGE,
                                    "{\"QueueName\":\"q.fifo\",\"ReceiptHandle\":\"%s\"}", r)),
                        "ok");
    assert_int_equal(t->raw.wake, 1); /* b is now deliverable */
    m = ftRecv(t, "q.fifo", 10, -1);
    assert_int_equal(m->via.array.size, 2);
    assert_string_equal(ftS(&m->via.array.ptr[0], "Body"), "b");
    assert_string_equal(ftS(&m->via.array.ptr[1], "Body"), "c");
    /* b and c are in flight together; b made visible again while c still
     * is: the group stays locked until c is deleted or visible too
     * (found by the simulator, make sim SEED=56). */
    strcpy(r, ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CHANGE_VISIBILITY,
                                    "{\"QueueName\":\"q.fifo\",\"ReceiptHandle\":\"%s\","
                                    "\"VisibilityTimeout\":0}",
                                    r)),
                        "ok");
    assert_int_equal(ftRecv(t, "q.fifo", 10, -1)->via.array.size, 0);
    t->now += 10000; /* c's visibility ends too: b first again, then c */
    m = ftRecv(t, "q.fifo", 10, -1);
    assert_int_equal(m->via.array.size, 2);
    assert_string_equal(ftS(&m->via.array.ptr[0], "Body"), "b");
    assert_string_equal(ftS(&m->via.array.ptr[1], "Body"), "c");
    ftClose(t);
}

static void test_fifoArgs(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    char json[512];
    char g[130];

    (void)state;
    fcreate(t, "q.fifo", "");
    ftRefused(t, SEND, "MissingParameter", "MessageGroupId",
              "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageDeduplicationId\":\"1\"}");
    ftRefused(t, SEND, "InvalidParameterValue", "not valid for this queue type",
              "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"g\",\"MessageDeduplicationId\":\"1\",\"DelaySeconds\":0}");
    ftRefused(t, SEND, "InvalidParameterValue", "ContentBasedDeduplication",
              "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"g\"}");
    memset(g, 'g', 129);
    g[129] = '\0';
    snprintf(json, sizeof json,
             "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"%.128s\",\"MessageDeduplicationId\":\"%.128s\"}",
             g, g);
    assert_string_equal(ftCode(ftDo(t, SEND, "%s", json)), "ok");
    snprintf(json, sizeof json,
             "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"%s\",\"MessageDeduplicationId\":\"x\"}", g);
    ftRefused(t, SEND, "InvalidParameterValue", "MessageGroupId", json);
    snprintf(json, sizeof json,
             "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"x\",\"MessageDeduplicationId\":\"%s\"}", g);
    ftRefused(t, SEND, "InvalidParameterValue", "MessageDeduplicationId", json);
    ftRefused(t, SEND, "InvalidParameterValue", "MessageGroupId",
              "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"a b\",\"MessageDeduplicationId\":\"1\"}");
    assert_string_equal(ftCode(ftDo(t, SEND,
                                    "{\"QueueName\":\"q.fifo\",\"MessageBody\":\"a\",\"MessageGroupId\":\"!#$%%&'()*+,-./:;<=>?@[]^_`{|}~\",\"MessageDeduplicationId\":\"2\"}")),
                        "ok");
    /* A queue-level delay is allowed on FIFO queues. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                                    "{\"QueueName\":\"q.fifo\",\"Attributes\":{\"DelaySeconds\":\"3\"}}")),
                        "ok");
    /* On a standard queue MessageGroupId is accepted and returned. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"s\"}")), "ok");
    assert_string_equal(ftCode(ftDo(t, SEND,
                                    "{\"QueueName\":\"s\",\"MessageBody\":\"a\",\"MessageGroupId\":\"g\"}")),
                        "ok");
    {
        const msgpack_object *m = ftRecv(t, "s", 1, -1);
        const msgpack_object *a = ftGet(&m->via.array.ptr[0], "Attributes");
        assert_string_equal(ftS(a, "MessageGroupId"), "g");
        assert_null(ftGet(a, "SequenceNumber"));
    }
    ftClose(t);
}

/* A FIFO batch with an entry lacking its group, or its deduplication id
 * (no content-based deduplication), is refused whole and sends nothing;
 * another entry error fails only its entry. */
static void test_batchWholeRefusals(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;

    (void)state;
    fcreate(t, "q.fifo", "");
    fcreate(t, "c.fifo", ",\"ContentBasedDeduplication\":\"true\"");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "InvalidParameterValue", "MessageGroupId",
              "{\"QueueName\":\"c.fifo\",\"Entries\":[{\"Id\":\"1\",\"MessageBody\":\"x\","
              "\"MessageGroupId\":\"g\"},{\"Id\":\"2\",\"MessageBody\":\"y\"}]}");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "InvalidParameterValue", "ContentBasedDeduplication",
              "{\"QueueName\":\"q.fifo\",\"Entries\":[{\"Id\":\"1\",\"MessageBody\":\"x\","
              "\"MessageGroupId\":\"g\",\"MessageDeduplicationId\":\"d\"},"
              "{\"Id\":\"2\",\"MessageBody\":\"y\",\"MessageGroupId\":\"g\"}]}");
    assert_int_equal(ftRecv(t, "q.fifo", 10, -1)->via.array.size, 0);
    assert_int_equal(ftRecv(t, "c.fifo", 10, -1)->via.array.size, 0);
    o = ftDo(t, FSM_OP_SEND_MESSAGE_BATCH,
             "{\"QueueName\":\"c.fifo\",\"Entries\":[{\"Id\":\"1\",\"MessageBody\":\"x\","
             "\"MessageGroupId\":\"g\"},{\"Id\":\"2\",\"MessageBody\":\"y\","
             "\"MessageGroupId\":\"a b\"}]}");
    assert_int_equal(ftArr(o, "Successful")->via.array.size, 1);
    assert_int_equal(ftArr(o, "Failed")->via.array.size, 1);
    ftClose(t);
}

static void test_dedupe(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    char id[64];
    char seq[32];
    uint64_t t0 = t->now;

    (void)state;
    fcreate(t, "q.fifo", "");
    o = fsend(t, "q.fifo", "g", "d1", "a");
    strcpy(id, ftS(o, "MessageId"));
    strcpy(seq, ftS(o, "SequenceNumber"));
    t->now = t0 + 299999;
    o = fsend(t, "q.fifo", "h", "d1", "other body");
    assert_string_equal(ftS(o, "MessageId"), id);
    assert_string_equal(ftS(o, "SequenceNumber"), seq);
    assert_string_equal(ftAttr(t, "q.fifo", "ApproximateNumberOfMessages"), "1");
    t->now = t0 + 300000;
    o = fsend(t, "q.fifo", "g", "d1", "a");
    assert_string_not_equal(ftS(o, "MessageId"), id);
    assert_true(strcmp(ftS(o, "SequenceNumber"), seq) > 0);
    assert_string_equal(ftAttr(t, "q.fifo", "ApproximateNumberOfMessages"), "2");
    /* Tick drops expired entries. */
    t->now += 300000;
    ftTick(t);
    /* messageGroup scope: the same id in two groups is two messages. */
    fcreate(t, "g.fifo", ",\"DeduplicationScope\":\"messageGroup\"");
    fsend(t, "g.fifo", "g1", "d", "a");
    fsend(t, "g.fifo", "g2", "d", "a");
    fsend(t, "g.fifo", "g2", "d", "a");
    assert_string_equal(ftAttr(t, "g.fifo", "ApproximateNumberOfMessages"), "2");
    /* Content-based: SHA-256 of the body. */
    fcreate(t, "c.fifo", ",\"ContentBasedDeduplication\":\"true\"");
    o = ftDo(t, SEND, "{\"QueueName\":\"c.fifo\",\"MessageBody\":\"same\",\"MessageGroupId\":\"g\"}");
    strcpy(id, ftS(o, "MessageId"));
    o = ftDo(t, SEND, "{\"QueueName\":\"c.fifo\",\"MessageBody\":\"same\",\"MessageGroupId\":\"g\"}");
    assert_string_equal(ftS(o, "MessageId"), id);
    o = ftDo(t, SEND, "{\"QueueName\":\"c.fifo\",\"MessageBody\":\"diff\",\"MessageGroupId\":\"g\"}");
    assert_string_not_equal(ftS(o, "MessageId"), id);
    {
        const msgpack_object *m = ftRecv(t, "c.fifo", 1, -1);
        assert_string_equal(ftS(ftGet(&m->via.array.ptr[0], "Attributes"), "MessageDeduplicationId"),
                            "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5");
    }
    ftClose(t);
}

static void test_roundRobin(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    char seen[8];
    int i;

    (void)state;
    fcreate(t, "q.fifo", "");
    for (i = 0; i < 12; i++) {
        char g[4];
        char d[8];
        snprintf(g, sizeof g, "%c", 'a' + i % 3);
        snprintf(d, sizeof d, "%d", i);
        fsend(t, "q.fifo", g, d, g);
    }
    /* One message per receive, each deleted: groups alternate a,b,c,a... */
    for (i = 0; i < 6; i++) {
        char r[64];
        m = ftRecv(t, "q.fifo", 1, -1);
        assert_int_equal(m->via.array.size, 1);
        seen[i] = ftS(&m->via.array.ptr[0], "Body")[0];
        strcpy(r, ftS(&m->via.array.ptr[0], "ReceiptHandle"));
        ftDo(t, FSM_OP_DELETE_MESSAGE, "{\"QueueName\":\"q.fifo\",\"ReceiptHandle\":\"%s\"}", r);
    }
    assert_memory_equal(seen, "abcabc", 6);
    ftClose(t);
}

/* Seeded generator. */
static uint64_t rng;
static uint64_t rngNext(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* 50 groups, interleaved sends, random deletes and expiries: each group's
 * messages are delivered in send order, never two of a group in flight at
 * once, and every message is delivered. */
static void test_orderManyGroups(void **state)
{
    enum { G = 50, PER = 6 };
    struct ft *t = ftOpen(1024, 3600000, 0);
    int next_send[G] = {0};
    int next_done[G] = {0};
    char inflight[G][64];
    int sent = 0;
    int done = 0;
    int step;

    (void)state;
    rng = 0x1234567;
    memset(inflight, 0, sizeof inflight);
    fcreate(t, "q.fifo", ",\"VisibilityTimeout\":\"5\"");
    for (step = 0; step < 3000 && done < G * PER; step++) {
        int op = (int)(rngNext() % 4);
        t->now += 700;
        if (op == 0 && sent < G * PER) {
            int g = (int)(rngNext() % G);
            char gs[8], d[16], b[16];
            if (next_send[g] == PER) {
                continue;
            }
            snprintf(gs, sizeof gs, "g%d", g);
            snprintf(d, sizeof d, "%d-%d", g, next_send[g]);
            snprintf(b, sizeof b, "%d:%d", g, next_send[g]);
            assert_string_equal(ftCode(fsend(t, "q.fifo", gs, d, b)), "ok");
            next_send[g]++;
            sent++;
        } else {
            const msgpack_object *m = ftRecv(t, "q.fifo", 1 + (int)(rngNext() % 10), -1);
            int last[G];
            uint32_t i;
            for (i = 0; i < G; i++) {
                last[i] = -1;
            }
            for (i = 0; i < m->via.array.size; i++) {
                int g, k;
                assert_int_equal(sscanf(ftS(&m->via.array.ptr[i], "Body"), "%d:%d", &g, &k), 2);
                /* In order: the next undeleted one, or its successor in
                 * the same receive. */
                assert_int_equal(k, last[g] >= 0 ? last[g] + 1 : next_done[g]);
                last[g] = k;
                if (k == next_done[g]) {
                    strcpy(inflight[g], ftS(&m->via.array.ptr[i], "ReceiptHandle"));
                }
            }
            /* Delete the heads received, sometimes (else they expire). */
            for (i = 0; i < G; i++) {
                if (last[i] >= 0 && rngNext() % 3 != 0 && last[i] == next_done[i]) {
                    const msgpack_object *o = ftDo(
                        t, FSM_OP_DELETE_MESSAGE,
                        "{\"QueueName\":\"q.fifo\",\"ReceiptHandle\":\"%s\"}", inflight[i]);
                    assert_string_equal(ftCode(o), "ok");
                    next_done[i]++;
                    done++;
                }
            }
        }
    }
    assert_int_equal(done, G * PER);
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groupBlocking),
        cmocka_unit_test(test_fifoArgs),
        cmocka_unit_test(test_batchWholeRefusals),
        cmocka_unit_test(test_dedupe),
        cmocka_unit_test(test_roundRobin),
        cmocka_unit_test(test_orderManyGroups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
