/* ReceiveMessage's attribute filters and the 12-hour visibility cap:
 * AttributeNames / MessageSystemAttributeNames (their union; unknown names
 * ignored), MessageAttributeNames ("All", ".*", names, "prefix.*"), the
 * MD5 of the attributes returned, malformed lists refused before the log;
 * ChangeMessageVisibility[Batch] at and past 43,200 s after the receive;
 * and that replies, stored session replies and snapshots stay the same
 * bytes for the same entries. Time is explicit now_ms. */
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
#define RECV FSM_OP_RECEIVE_MESSAGE
#define VIS FSM_OP_CHANGE_VISIBILITY
#define VISB FSM_OP_CHANGE_VISIBILITY_BATCH

/* The three attributes of the filter tests, as SendMessage args. */
#define ATTRS3                                                            \
    "{\"Help.Me\":{\"DataType\":\"String\",\"StringValue\":\"Me\"},"      \
    "\"Hello\":{\"DataType\":\"String\",\"StringValue\":\"There\"},"      \
    "\"General\":{\"DataType\":\"String\",\"StringValue\":\"Kenobi\"}}"

/* Create @q with attributes JSON @attrs (NULL: none). */
static void create(struct ft *t, const char *q, const char *attrs)
{
    const msgpack_object *o =
        attrs != NULL
            ? ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"%s\",\"Attributes\":%s}", q, attrs)
            : ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"%s\"}", q);

    assert_string_equal(ftCode(o), "ok");
}

/* Receive one message of @q with the extra args @extra (JSON members,
 * possibly empty) and visibility 0, so that the next receive gets it
 * again; the message (asserted present). */
static const msgpack_object *recvWith(struct ft *t, const char *q, const char *extra)
{
    const msgpack_object *o =
        ftDo(t, RECV, "{\"QueueName\":\"%s\",\"VisibilityTimeout\":0%s%s}", q,
             extra[0] != '\0' ? "," : "", extra);
    const msgpack_object *m = ftArr(o, "Messages");

    assert_int_equal(m->via.array.size, 1);
    return &m->via.array.ptr[0];
}

/* Number of entries of map field @key of @o (-1: absent). */
static int mapSize(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ftGet(o, key);

    if (v == NULL) {
        return -1;
    }
    assert_int_equal(v->type, MSGPACK_OBJECT_MAP);
    return (int)v->via.map.size;
}

/* Key @i of map field @key of @o. */
static const char *mapKey(const msgpack_object *o, const char *key, uint32_t i)
{
    const msgpack_object *v = ftGet(o, key);

    assert_non_null(v);
    assert_true(i < v->via.map.size);
    return ftStr(&v->via.map.ptr[i].key);
}

/* MD5OfMessageAttributes that SendMessage answers for attributes @attrs
 * (JSON), sent to scratch queue "md5" (created on first use). */
static const char *md5Of(struct ft *t, const char *attrs)
{
    static char out[33];
    const msgpack_object *o;

    o = ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"md5\"}");
    assert_string_equal(ftCode(o), "ok");
    o = ftDo(t, SEND, "{\"QueueName\":\"md5\",\"MessageBody\":\"x\",\"MessageAttributes\":%s}", attrs);
    assert_string_equal(ftCode(o), "ok");
    snprintf(out, sizeof out, "%s", ftS(o, "MD5OfMessageAttributes"));
    return out;
}

static void test_systemAttributes(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;

    (void)state;
    create(t, "q", NULL);
    ftSend(t, "q", "a");
    t->now += 10;
    /* No list, an empty one: no Attributes map at all. */
    m = recvWith(t, "q", "");
    assert_int_equal(mapSize(m, "Attributes"), -1);
    assert_string_equal(ftS(m, "Body"), "a");
    assert_non_null(ftGet(m, "MD5OfBody"));
    m = recvWith(t, "q", "\"AttributeNames\":[]");
    assert_int_equal(mapSize(m, "Attributes"), -1);
    m = recvWith(t, "q", "\"AttributeNames\":[],\"MessageSystemAttributeNames\":[]");
    assert_int_equal(mapSize(m, "Attributes"), -1);
    /* One name, from either list. */
    m = recvWith(t, "q", "\"AttributeNames\":[\"SentTimestamp\"]");
    assert_int_equal(mapSize(m, "Attributes"), 1);
    assert_string_equal(ftS(ftGet(m, "Attributes"), "SentTimestamp"), "1000000");
    m = recvWith(t, "q", "\"MessageSystemAttributeNames\":[\"ApproximateReceiveCount\"]");
    assert_int_equal(mapSize(m, "Attributes"), 1);
    assert_string_equal(ftS(ftGet(m, "Attributes"), "ApproximateReceiveCount"), "5");
    /* The union of both lists, in the fixed order; a repeat counts once. */
    m = recvWith(t, "q",
                 "\"AttributeNames\":[\"ApproximateFirstReceiveTimestamp\",\"SentTimestamp\"],"
                 "\"MessageSystemAttributeNames\":[\"SentTimestamp\",\"ApproximateReceiveCount\"]");
    assert_int_equal(mapSize(m, "Attributes"), 3);
    assert_string_equal(mapKey(m, "Attributes", 0), "SentTimestamp");
    assert_string_equal(mapKey(m, "Attributes", 1), "ApproximateReceiveCount");
    assert_string_equal(mapKey(m, "Attributes", 2), "ApproximateFirstReceiveTimestamp");
    assert_string_equal(ftS(ftGet(m, "Attributes"), "ApproximateFirstReceiveTimestamp"), "1000010");
    /* All: what a standard message has (no FIFO fields, no SenderId). */
    m = recvWith(t, "q", "\"MessageSystemAttributeNames\":[\"All\"]");
    assert_int_equal(mapSize(m, "Attributes"), 3);
    assert_null(ftGet(ftGet(m, "Attributes"), "SenderId"));
    assert_null(ftGet(ftGet(m, "Attributes"), "MessageGroupId"));
    /* Unknown names and names a standard message lacks are ignored, and
     * SenderId / AWSTraceHeader are never returned: no map. */
    m = recvWith(t, "q",
                 "\"AttributeNames\":[\"Foo\",\"VisibilityTimeout\",\"SenderId\","
                 "\"AWSTraceHeader\",\"SequenceNumber\",\"MessageDeduplicationId\","
                 "\"MessageGroupId\",\"DeadLetterQueueSourceArn\",\"sentTimestamp\"]");
    assert_int_equal(mapSize(m, "Attributes"), -1);
    m = recvWith(t, "q", "\"AttributeNames\":[\"Foo\",\"SentTimestamp\"]");
    assert_int_equal(mapSize(m, "Attributes"), 1);
    /* A system attribute list does not bring message attributes. */
    assert_null(ftGet(m, "MessageAttributes"));

    /* FIFO: the group, deduplication id and sequence number on request. */
    create(t, "f.fifo", "{\"FifoQueue\":\"true\"}");
    assert_string_equal(ftCode(ftDo(t, SEND, "{\"QueueName\":\"f.fifo\",\"MessageBody\":\"x\","
                                             "\"MessageGroupId\":\"g\",\"MessageDeduplicationId\":\"d\"}")),
                        "ok");
    m = recvWith(t, "f.fifo", "\"AttributeNames\":[\"MessageGroupId\"]");
    assert_int_equal(mapSize(m, "Attributes"), 1);
    assert_string_equal(ftS(ftGet(m, "Attributes"), "MessageGroupId"), "g");
    m = recvWith(t, "f.fifo", "\"MessageSystemAttributeNames\":[\"SequenceNumber\",\"MessageDeduplicationId\"]");
    assert_int_equal(mapSize(m, "Attributes"), 2);
    assert_string_equal(mapKey(m, "Attributes", 0), "MessageDeduplicationId");
    assert_string_equal(ftS(ftGet(m, "Attributes"), "MessageDeduplicationId"), "d");
    assert_int_equal(strlen(ftS(ftGet(m, "Attributes"), "SequenceNumber")), 20);
    m = recvWith(t, "f.fifo", "\"AttributeNames\":[\"All\"]");
    assert_int_equal(mapSize(m, "Attributes"), 6);
    m = recvWith(t, "f.fifo", "");
    assert_int_equal(mapSize(m, "Attributes"), -1);

    /* A dead-lettered message: DeadLetterQueueSourceArn on request. */
    create(t, "dlq", NULL);
    create(t, "src", "{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":1}\"}");
    ftSend(t, "src", "d");
    recvWith(t, "src", "");
    assert_int_equal(ftArr(ftDo(t, RECV, "{\"QueueName\":\"src\"}"), "Messages")->via.array.size, 0);
    m = recvWith(t, "dlq", "\"AttributeNames\":[\"DeadLetterQueueSourceArn\"]");
    assert_string_equal(ftS(ftGet(m, "Attributes"), "DeadLetterQueueSourceArn"), "src");
    ftClose(t);
}

static void test_messageAttributes(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    const msgpack_object *m;
    char all[33];
    char two[33];
    char hello[33];
    char help[33];

    (void)state;
    create(t, "q", NULL);
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"msg\",\"MessageAttributes\":" ATTRS3 "}");
    assert_string_equal(ftCode(o), "ok");
    strcpy(all, ftS(o, "MD5OfMessageAttributes"));
    strcpy(two, md5Of(t, "{\"Hello\":{\"DataType\":\"String\",\"StringValue\":\"There\"},"
                         "\"General\":{\"DataType\":\"String\",\"StringValue\":\"Kenobi\"}}"));
    strcpy(hello, md5Of(t, "{\"Hello\":{\"DataType\":\"String\",\"StringValue\":\"There\"}}"));
    strcpy(help, md5Of(t, "{\"Help.Me\":{\"DataType\":\"String\",\"StringValue\":\"Me\"}}"));

    /* No list, an empty one, names that match nothing: no
     * MessageAttributes, and the MD5 of all of them still (SQS). */
    m = recvWith(t, "q", "");
    assert_null(ftGet(m, "MessageAttributes"));
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), all);
    m = recvWith(t, "q", "\"MessageAttributeNames\":[]");
    assert_null(ftGet(m, "MessageAttributes"));
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), all);
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Foo\",\"Help\",\"hello\",\"Help.Me.*\"]");
    assert_null(ftGet(m, "MessageAttributes"));
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), all);
    /* All, and .*: every attribute. */
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"All\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 3);
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), all);
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\".*\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 3);
    assert_string_equal(mapKey(m, "MessageAttributes", 0), "General");
    assert_string_equal(mapKey(m, "MessageAttributes", 1), "Hello");
    assert_string_equal(mapKey(m, "MessageAttributes", 2), "Help.Me");
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), all);
    /* Names: only those, and the MD5 of what is returned (what an SDK
     * checks), equal to a send of just those attributes. */
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Hello\",\"General\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 2);
    assert_string_equal(ftS(ftGet(ftGet(m, "MessageAttributes"), "General"), "StringValue"), "Kenobi");
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), two);
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Foo\",\"Hello\",\"Hello\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 1);
    assert_string_equal(ftS(ftGet(ftGet(m, "MessageAttributes"), "Hello"), "StringValue"), "There");
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), hello);
    /* Prefixes: "Help.*" is the names that start with "Help." ("Hel.*"
     * does not match "Hello"). */
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Help.*\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 1);
    assert_string_equal(mapKey(m, "MessageAttributes", 0), "Help.Me");
    assert_string_equal(ftS(m, "MD5OfMessageAttributes"), help);
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Hel.*\"]");
    assert_null(ftGet(m, "MessageAttributes"));
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"Help.*\",\"General\"]");
    assert_int_equal(mapSize(m, "MessageAttributes"), 2);
    /* Message attributes do not bring system attributes. */
    assert_null(ftGet(m, "Attributes"));
    /* A message without attributes: neither field, whatever the list. */
    ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}");
    t->now += 61000;
    ftSend(t, "q", "plain");
    m = recvWith(t, "q", "\"MessageAttributeNames\":[\"All\"],\"AttributeNames\":[\"All\"]");
    assert_null(ftGet(m, "MessageAttributes"));
    assert_null(ftGet(m, "MD5OfMessageAttributes"));
    assert_int_equal(mapSize(m, "Attributes"), 3);
    ftClose(t);
}

static void test_badLists(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    char json[4096];
    size_t n;
    int i;

    (void)state;
    create(t, "q", NULL);
    ftSend(t, "q", "a");
    /* ftDo checks that fsmCommandCheck gives the same code and text. */
    ftRefused(t, RECV, "InvalidParameterValue",
              "Value for parameter AttributeNames is invalid. Reason: must be an array of strings.",
              "{\"QueueName\":\"q\",\"AttributeNames\":\"All\"}");
    ftRefused(t, RECV, "InvalidParameterValue", "parameter MessageSystemAttributeNames",
              "{\"QueueName\":\"q\",\"MessageSystemAttributeNames\":[\"All\",1]}");
    ftRefused(t, RECV, "InvalidParameterValue", "parameter MessageAttributeNames",
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":{\"All\":\"x\"}}");
    ftRefused(t, RECV, "InvalidParameterValue", "parameter MessageAttributeNames",
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[true]}");
    ftRefused(t, RECV, "InvalidAttributeName", "'AWS.'",
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"AWS.\"]}");
    ftRefused(t, RECV, "InvalidAttributeName", "'..foo'",
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"..foo\"]}");
    ftRefused(t, RECV, "InvalidAttributeName", NULL,
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"a..*\"]}");
    ftRefused(t, RECV, "InvalidAttributeName", NULL,
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"*\"]}");
    ftRefused(t, RECV, "InvalidAttributeName", NULL,
              "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"\"]}");
    /* At most 100 names. */
    n = (size_t)snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"MessageAttributeNames\":[");
    for (i = 0; i < 100; i++) {
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"n%d\"", i > 0 ? "," : "", i);
    }
    snprintf(json + n, sizeof json - n, "]}");
    assert_string_equal(ftCode(ftDo(t, RECV, "%s", json)), "ok");
    snprintf(json + n, sizeof json - n, ",\"n100\"]}");
    ftRefused(t, RECV, "InvalidParameterValue", "at most 100 names, 101 given", json);
    ftClose(t);
}

/* Receive the one message of @q with visibility @vis: its receipt. */
static const char *recvOne(struct ft *t, const char *q, int vis)
{
    static char r[128];
    const msgpack_object *m = ftRecv(t, q, 1, vis);

    assert_int_equal(m->via.array.size, 1);
    snprintf(r, sizeof r, "%s", ftS(&m->via.array.ptr[0], "ReceiptHandle"));
    return r;
}

/* ChangeMessageVisibility of receipt @r on @q to @vis: the reply. */
static const msgpack_object *vis(struct ft *t, const char *q, const char *r, unsigned v)
{
    return ftDo(t, VIS, "{\"QueueName\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":%u}",
                q, r, v);
}

/* Assert that a change of receipt @r on @q to @v is refused by the cap
 * and changes nothing. */
static void visCapped(struct ft *t, const char *q, const char *r, unsigned v)
{
    char json[512];
    char msg[256];

    snprintf(json, sizeof json,
             "{\"QueueName\":\"%s\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":%u}", q, r, v);
    snprintf(msg, sizeof msg,
             "Value %u for parameter VisibilityTimeout is invalid. Reason: Total "
             "VisibilityTimeout for the message is beyond the limit [43200 seconds].",
             v);
    ftRefused(t, VIS, "InvalidParameterValue", msg, json);
}

static void test_visibilityCap(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    struct ft *u;
    const msgpack_object *o;
    uint64_t t0;
    uint8_t *snap;
    size_t len;
    char r[128];
    char old[128];

    (void)state;
    create(t, "q", NULL);
    ftSend(t, "q", "a");
    t0 = t->now;
    strcpy(r, recvOne(t, "q", 120));
    /* 100 s after the receive: 43,100 more is exactly 43,200 in all. */
    t->now = t0 + 100000;
    assert_string_equal(ftCode(vis(t, "q", r, 43100)), "ok");
    assert_int_equal(t->raw.next_visible_ms, t0 + 43200000);
    /* At 150 s: 43,050 is still exactly the cap; one second more is
     * refused and changes nothing. */
    t->now = t0 + 150000;
    visCapped(t, "q", r, 43051);
    visCapped(t, "q", r, 43200);
    assert_string_equal(ftCode(vis(t, "q", r, 43050)), "ok");
    /* The batch: the entry past the cap fails alone. */
    o = ftDo(t, VISB, "{\"QueueName\":\"q\",\"Entries\":["
                      "{\"Id\":\"ok\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":43050},"
                      "{\"Id\":\"over\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":43051}]}",
             r, r);
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(ftArr(o, "Successful")->via.array.size, 1);
    assert_string_equal(ftS(&ftArr(o, "Successful")->via.array.ptr[0], "Id"), "ok");
    assert_int_equal(ftArr(o, "Failed")->via.array.size, 1);
    assert_string_equal(ftS(&ftArr(o, "Failed")->via.array.ptr[0], "Id"), "over");
    assert_string_equal(ftS(&ftArr(o, "Failed")->via.array.ptr[0], "Code"), "InvalidParameterValue");
    assert_non_null(strstr(ftS(&ftArr(o, "Failed")->via.array.ptr[0], "Message"),
                           "Value 43051 for parameter VisibilityTimeout is invalid"));
    /* Shorter is always allowed, 0 too. */
    assert_string_equal(ftCode(vis(t, "q", r, 10)), "ok");

    /* The cap survives a snapshot: a restored copy refuses the same. */
    snap = ftSnapshot(t, &len);
    u = ftOpen(1024, 3600000, 0);
    assert_int_equal(fsmRestore(u->f, snap, len), 0);
    free(snap);
    u->now = t->now;
    u->seq = t->seq;
    visCapped(u, "q", r, 43051);
    assert_string_equal(ftCode(vis(u, "q", r, 43050)), "ok");
    ftClose(u);

    assert_string_equal(ftCode(vis(t, "q", r, 0)), "ok");
    /* A new receive starts a new 12 hours, counted from it. */
    strcpy(old, r);
    t->now = t0 + 200000;
    strcpy(r, recvOne(t, "q", 43200));
    assert_string_equal(ftCode(vis(t, "q", r, 43200)), "ok");
    t->now += 1000;
    visCapped(t, "q", r, 43200);
    assert_string_equal(ftCode(vis(t, "q", r, 43199)), "ok");
    /* The earlier receipt stays invalid, whatever its time. */
    o = vis(t, "q", old, 1);
    assert_string_equal(ftCode(o), "ReceiptHandleIsInvalid");
    ftClose(t);
}

/* Replies of the script, for comparison between runs. */
struct replies
{
    uint8_t *data[64];
    size_t len[64];
    unsigned n;
};

/* Keep a copy of the last reply of @t in @rs. */
static void keep(struct replies *rs, struct ft *t)
{
    assert_true(rs->n < 64);
    rs->data[rs->n] = malloc(t->raw.len);
    memcpy(rs->data[rs->n], t->raw.data, t->raw.len);
    rs->len[rs->n++] = t->raw.len;
}

/* Commands that use every filter form and the cap on @t, keeping each
 * reply in @rs; with @flush, commit after each. */
static void script(struct ft *t, struct replies *rs, bool flush)
{
    static const char *const lists[] = {
        "",
        "\"AttributeNames\":[\"All\"]",
        "\"MessageSystemAttributeNames\":[\"SentTimestamp\"],\"AttributeNames\":[\"MessageGroupId\"]",
        "\"MessageAttributeNames\":[\"All\"]",
        "\"MessageAttributeNames\":[\"Help.*\",\"General\"],\"AttributeNames\":[\"Foo\"]",
        "\"MessageAttributeNames\":[\"Hello\"],\"MessageSystemAttributeNames\":[\"All\"]",
    };
    char r[128] = "";
    int i;

    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    keep(rs, t);
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\","
                                 "\"ContentBasedDeduplication\":\"true\"}}");
    keep(rs, t);
    for (i = 0; i < 12; i++) {
        const char *q = i % 2 ? "f.fifo" : "q";
        const msgpack_object *o;
        const msgpack_object *m;
        t->now += 1000;
        ftDo(t, SEND, "{\"QueueName\":\"%s\",\"MessageBody\":\"m%d\",\"MessageGroupId\":\"g%d\","
                      "\"MessageAttributes\":" ATTRS3 "}",
             q, i, i % 3);
        keep(rs, t);
        o = ftDo(t, RECV, "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":%d%s%s}",
                 q, 100 + i, lists[i % 6][0] != '\0' ? "," : "", lists[i % 6]);
        keep(rs, t);
        m = ftArr(o, "Messages");
        if (m->via.array.size > 0) {
            snprintf(r, sizeof r, "%s", ftS(&m->via.array.ptr[0], "ReceiptHandle"));
            t->now += 20000;
            /* Alternately at and past the cap. */
            o = vis(t, q, r, i % 2 ? 43180 : 43181);
            assert_string_equal(ftCode(o), i % 2 ? "ok" : "InvalidParameterValue");
            keep(rs, t);
        }
        if (flush) {
            assert_int_equal(fsmFlush(t->f), 0);
        }
    }
}

static void test_deterministic(void **state)
{
    struct replies a = {0};
    struct replies b = {0};
    struct ft *x = ftOpen(1024, 3600000, 0);
    struct ft *y = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    uint8_t *sx;
    uint8_t *sy;
    uint8_t first[4096];
    size_t lx;
    size_t ly;
    size_t lf;
    unsigned i;

    (void)state;
    script(x, &a, false);
    script(y, &b, true);
    /* The same replies, byte for byte, and the same snapshot. */
    assert_int_equal(a.n, b.n);
    for (i = 0; i < a.n; i++) {
        assert_int_equal(a.len[i], b.len[i]);
        assert_memory_equal(a.data[i], b.data[i], a.len[i]);
        free(a.data[i]);
        free(b.data[i]);
    }
    sx = ftSnapshot(x, &lx);
    sy = ftSnapshot(y, &ly);
    assert_int_equal(lx, ly);
    assert_memory_equal(sx, sy, lx);
    free(sy);

    /* A filtered receive retried: the stored reply, unchanged state. */
    ftSend(x, "q", "again");
    o = ftDo(x, RECV, "{\"QueueName\":\"q\",\"MessageAttributeNames\":[\"Help.*\"],"
                      "\"AttributeNames\":[\"ApproximateReceiveCount\"]}");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 1);
    assert_true(x->raw.len <= sizeof first);
    lf = x->raw.len;
    memcpy(first, x->raw.data, lf);
    free(sx);
    sx = ftState(x, &lx);
    x->now += 5000;
    ftApplyCmd(x, RECV, x->cid, x->seq, x->seq);
    assert_int_equal(x->raw.len, lf);
    assert_memory_equal(x->raw.data, first, lf);
    sy = ftState(x, &ly);
    assert_int_equal(lx, ly);
    assert_memory_equal(sx, sy, lx);
    free(sx);
    free(sy);
    ftClose(x);
    ftClose(y);
}

/* MessageSystemAttributes AWSTraceHeader: kept with the message and
 * returned when asked for (AttributeNames All or AWSTraceHeader); any
 * other system attribute name or a non-String value is refused. */
static void test_traceHeader(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;

    (void)state;
    create(t, "q", NULL);
    assert_string_equal(
        ftCode(ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"b\","
                             "\"MessageSystemAttributes\":{\"AWSTraceHeader\":{\"DataType\":"
                             "\"String\",\"StringValue\":\"Root=1-a\"}}}")),
        "ok");
    m = recvWith(t, "q", "\"AttributeNames\":[\"All\"]");
    assert_string_equal(ftS(ftGet(m, "Attributes"), "AWSTraceHeader"), "Root=1-a");
    m = recvWith(t, "q", "\"MessageSystemAttributeNames\":[\"SentTimestamp\"]");
    assert_null(ftGet(ftGet(m, "Attributes"), "AWSTraceHeader"));
    m = recvWith(t, "q", "\"MessageSystemAttributeNames\":[\"AWSTraceHeader\"]");
    assert_int_equal(mapSize(m, "Attributes"), 1);
    ftRefused(t, SEND, "InvalidParameterValue", "only AWSTraceHeader",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageSystemAttributes\":"
              "{\"SenderId\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "AWSTraceHeader",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageSystemAttributes\":"
              "{\"AWSTraceHeader\":{\"DataType\":\"Number\",\"StringValue\":\"1\"}}}");
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceHeader),
        cmocka_unit_test(test_systemAttributes),
        cmocka_unit_test(test_messageAttributes),
        cmocka_unit_test(test_badLists),
        cmocka_unit_test(test_visibilityCap),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
