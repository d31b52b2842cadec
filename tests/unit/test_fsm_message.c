/* Standard queue messages: send limits, MD5s, attributes, receive,
 * visibility expiry and redelivery, receipts, delays, retention, the
 * in-flight limit, batches, long-poll reply fields, dead-letter moves and
 * redrive. Time is explicit now_ms. */
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

/* Create @q with attributes JSON @attrs (NULL: none). */
static void create(struct ft *t, const char *q, const char *attrs)
{
    const msgpack_object *o =
        attrs != NULL
            ? ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"%s\",\"Attributes\":%s}", q, attrs)
            : ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"%s\"}", q);

    assert_string_equal(ftCode(o), "ok");
}

/* Receipt of message @i of a Messages array. */
static const char *receipt(const msgpack_object *msgs, uint32_t i)
{
    assert_true(i < msgs->via.array.size);
    return ftS(&msgs->via.array.ptr[i], "ReceiptHandle");
}

/* Body of message @i. */
static const char *body(const msgpack_object *msgs, uint32_t i)
{
    assert_true(i < msgs->via.array.size);
    return ftS(&msgs->via.array.ptr[i], "Body");
}

/* System attribute @name of message @i. */
static const char *sysattr(const msgpack_object *msgs, uint32_t i, const char *name)
{
    return ftS(ftGet(&msgs->via.array.ptr[i], "Attributes"), name);
}

static void test_sendReceiveDelete(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    const msgpack_object *m;
    char id[64];
    char r[64];

    (void)state;
    create(t, "q", NULL);
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"hello\"}");
    assert_string_equal(ftCode(o), "ok");
    assert_string_equal(ftS(o, "MD5OfMessageBody"), "5d41402abc4b2a76b9719d911017c592");
    assert_null(ftGet(o, "MD5OfMessageAttributes"));
    assert_null(ftGet(o, "SequenceNumber"));
    assert_int_equal(t->raw.wake, 1);
    strcpy(id, ftS(o, "MessageId"));
    assert_int_equal(strlen(id), 36);
    t->now += 10;
    m = ftRecv(t, "q", 10, -1);
    assert_int_equal(m->via.array.size, 1);
    assert_string_equal(ftS(&m->via.array.ptr[0], "MessageId"), id);
    assert_string_equal(body(m, 0), "hello");
    assert_string_equal(ftS(&m->via.array.ptr[0], "MD5OfBody"),
                        "5d41402abc4b2a76b9719d911017c592");
    assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), "1");
    assert_string_equal(sysattr(m, 0, "SentTimestamp"), "1000000");
    assert_string_equal(sysattr(m, 0, "ApproximateFirstReceiveTimestamp"), "1000010");
    assert_null(ftGet(&m->via.array.ptr[0], "MessageAttributes"));
    assert_int_equal(t->raw.next_visible_ms, 1000010 + 30000);
    strcpy(r, receipt(m, 0));
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesNotVisible"), "1");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "0");
    o = ftDo(t, FSM_OP_DELETE_MESSAGE, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", r);
    assert_string_equal(ftCode(o), "ok");
    /* Deleting again: already gone, success (SQS). */
    o = ftDo(t, FSM_OP_DELETE_MESSAGE, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", r);
    assert_string_equal(ftCode(o), "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesNotVisible"), "0");
    ftRefused(t, FSM_OP_DELETE_MESSAGE, "ReceiptHandleIsInvalid", "not a valid receipt handle",
              "{\"QueueName\":\"q\",\"ReceiptHandle\":\"garbage\"}");
    ftRefused(t, FSM_OP_DELETE_MESSAGE, "MissingParameter", "ReceiptHandle",
              "{\"QueueName\":\"q\"}");
    ftClose(t);
}

static void test_sendLimits(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    char *big = malloc(262145 + 200);
    char *json = malloc(262145 + 400);

    (void)state;
    create(t, "q", NULL);
    create(t, "small", "{\"MaximumMessageSize\":\"1024\"}");
    memset(big, 'x', 262144);
    big[262144] = '\0';
    snprintf(json, 262145 + 400, "{\"QueueName\":\"q\",\"MessageBody\":\"%s\"}", big);
    assert_string_equal(ftCode(ftDo(t, SEND, "%s", json)), "ok");
    big[262144] = 'x';
    big[262145] = '\0';
    snprintf(json, 262145 + 400, "{\"QueueName\":\"q\",\"MessageBody\":\"%s\"}", big);
    ftRefused(t, SEND, "MessageTooLong", "maximum is 262144", json);
    big[1024] = '\0';
    snprintf(json, 262145 + 400, "{\"QueueName\":\"small\",\"MessageBody\":\"%s\"}", big);
    assert_string_equal(ftCode(ftDo(t, SEND, "%s", json)), "ok");
    big[1024] = 'x';
    big[1025] = '\0';
    snprintf(json, 262145 + 400, "{\"QueueName\":\"small\",\"MessageBody\":\"%s\"}", big);
    ftRefused(t, SEND, "MessageTooLong", "shorter than 1024 bytes", json);
    /* Attributes count in the size: 1000 + "a" + "String" + 17 = 1024. */
    big[1000] = '\0';
    snprintf(json, 262145 + 400,
             "{\"QueueName\":\"small\",\"MessageBody\":\"%s\",\"MessageAttributes\":"
             "{\"a\":{\"DataType\":\"String\",\"StringValue\":\"12345678901234567\"}}}",
             big);
    assert_string_equal(ftCode(ftDo(t, SEND, "%s", json)), "ok");
    snprintf(json, 262145 + 400,
             "{\"QueueName\":\"small\",\"MessageBody\":\"%s\",\"MessageAttributes\":"
             "{\"a\":{\"DataType\":\"String\",\"StringValue\":\"123456789012345678\"}}}",
             big);
    ftRefused(t, SEND, "MessageTooLong", NULL, json);
    ftRefused(t, SEND, "InvalidParameterValue", "must not be empty",
              "{\"QueueName\":\"q\",\"MessageBody\":\"\"}");
    ftRefused(t, SEND, "MissingParameter", "MessageBody", "{\"QueueName\":\"q\"}");
    ftRefused(t, SEND, "InvalidMessageContents", "#x9",
              "{\"QueueName\":\"q\",\"MessageBody\":\"a\\u0001b\"}");
    ftRefused(t, SEND, "InvalidMessageContents", NULL,
              "{\"QueueName\":\"q\",\"MessageBody\":\"bin:\xff\xfe\"}");
    assert_string_equal(ftCode(ftDo(t, SEND,
                                    "{\"QueueName\":\"q\",\"MessageBody\":\"tab\\there \xc3\xa9\"}")),
                        "ok");
    /* DelaySeconds 0..900, integers or decimal strings. */
    assert_string_equal(ftCode(ftDo(t, SEND,
                                    "{\"QueueName\":\"q\",\"MessageBody\":\"d\",\"DelaySeconds\":900}")),
                        "ok");
    assert_string_equal(ftCode(ftDo(t, SEND,
                                    "{\"QueueName\":\"q\",\"MessageBody\":\"d\",\"DelaySeconds\":\"900\"}")),
                        "ok");
    ftRefused(t, SEND, "InvalidParameterValue",
              "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.",
              "{\"QueueName\":\"q\",\"MessageBody\":\"d\",\"DelaySeconds\":901}");
    ftRefused(t, SEND, "InvalidParameterValue", "must be an integer",
              "{\"QueueName\":\"q\",\"MessageBody\":\"d\",\"DelaySeconds\":\"9x\"}");
    ftRefused(t, SEND, "InvalidParameterValue", "not valid for this queue type",
              "{\"QueueName\":\"q\",\"MessageBody\":\"d\",\"MessageDeduplicationId\":\"x\"}");
    ftRefused(t, SEND, "QueueDoesNotExist", NULL,
              "{\"QueueName\":\"none\",\"MessageBody\":\"d\"}");
    free(big);
    free(json);
    ftClose(t);
}

static void test_messageAttributes(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    const msgpack_object *m;
    char json[4096];
    size_t n;
    int i;

    (void)state;
    create(t, "q", NULL);
    /* The MD5 of SQS's documented example encoding, computed by hand:
     * one String attribute. */
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":"
                      "{\"z\":{\"DataType\":\"Number\",\"StringValue\":\"-1.5e3\"},"
                      "\"a\":{\"DataType\":\"Binary.raw\",\"BinaryValue\":\"bin:\x01\x02\"},"
                      "\"m\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(strlen(ftS(o, "MD5OfMessageAttributes")), 32);
    {
        char md5[33];
        strcpy(md5, ftS(o, "MD5OfMessageAttributes"));
        m = ftRecv(t, "q", 1, -1);
        assert_string_equal(ftS(&m->via.array.ptr[0], "MD5OfMessageAttributes"), md5);
    }
    {
        const msgpack_object *ma = ftGet(&m->via.array.ptr[0], "MessageAttributes");
        assert_int_equal(ma->via.map.size, 3);
        assert_string_equal(ftStr(&ma->via.map.ptr[0].key), "a");
        assert_string_equal(ftS(ftGet(ma, "m"), "StringValue"), "v");
        assert_string_equal(ftS(ftGet(ma, "a"), "DataType"), "Binary.raw");
        assert_int_equal(ftGet(ftGet(ma, "a"), "BinaryValue")->type, MSGPACK_OBJECT_BIN);
    }
    /* A known vector: attribute "k" String "v":
     * 00000001 6b 00000006 "String" 01 00000001 76 -> md5 below. */
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":"
                      "{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
    {
        static const unsigned char enc[] = {0, 0, 0, 1, 'k', 0, 0, 0, 6, 'S', 't', 'r', 'i',
                                            'n', 'g', 1, 0, 0, 0, 1, 'v'};
        (void)enc; /* md5 of these bytes, computed apart */
        assert_string_equal(ftS(o, "MD5OfMessageAttributes"), "0a77b0642718c3d9dd47090567d11e0d");
    }
    /* 10 attributes fine, 11 not. */
    n = (size_t)snprintf(json, sizeof json,
                         "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{");
    for (i = 0; i < 11; i++) {
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "%s\"a%d\":{\"DataType\":\"String\",\"StringValue\":\"v\"}",
                              i ? "," : "", i);
    }
    snprintf(json + n, sizeof json - n, "}}");
    ftRefused(t, SEND, "InvalidParameterValue",
              "Number of message attributes [11] exceeds the allowed maximum [10].", json);
    ftRefused(t, SEND, "InvalidParameterValue", "is invalid",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"AWS.x\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "is invalid",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"a..b\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "is invalid",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\".a\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "cast",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"n\":{\"DataType\":\"Number\",\"StringValue\":\"1x\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "type",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"n\":{\"DataType\":\"Str\",\"StringValue\":\"1\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "non-empty StringValue",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"n\":{\"DataType\":\"String\"}}}");
    ftRefused(t, SEND, "InvalidParameterValue", "message attribute type",
              "{\"QueueName\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"n\":{\"StringValue\":\"1\"}}}");
    ftClose(t);
}

static void test_visibility(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    char r1[64];
    char r2[64];
    uint64_t t0;

    (void)state;
    create(t, "q", "{\"VisibilityTimeout\":\"10\"}");
    ftSend(t, "q", "m");
    t0 = t->now;
    m = ftRecv(t, "q", 1, -1);
    strcpy(r1, receipt(m, 0));
    t->now = t0 + 9999;
    assert_int_equal(ftRecv(t, "q", 1, -1)->via.array.size, 0);
    assert_int_equal(t->raw.next_visible_ms, t0 + 10000);
    t->now = t0 + 10000;
    m = ftRecv(t, "q", 1, 5);
    assert_int_equal(m->via.array.size, 1);
    assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), "2");
    assert_string_equal(sysattr(m, 0, "ApproximateFirstReceiveTimestamp"), "1000000");
    strcpy(r2, receipt(m, 0));
    /* The first receipt is stale now. */
    {
        char json[256];
        snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", r1);
        ftRefused(t, FSM_OP_DELETE_MESSAGE, "ReceiptHandleIsInvalid", "received again", json);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":5}", r1);
        ftRefused(t, FSM_OP_CHANGE_VISIBILITY, "ReceiptHandleIsInvalid", "received again", json);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":43201}", r2);
        ftRefused(t, FSM_OP_CHANGE_VISIBILITY, "InvalidParameterValue", "between 0 and 43200", json);
        snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\"}", r2);
        ftRefused(t, FSM_OP_CHANGE_VISIBILITY, "MissingParameter", "VisibilityTimeout", json);
    }
    /* Extend to 43200, then back to 0: visible at once, wake. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CHANGE_VISIBILITY,
                                    "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":43200}", r2)),
                        "ok");
    assert_int_equal(t->raw.next_visible_ms, t->now + 43200000);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_CHANGE_VISIBILITY,
                                    "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0}", r2)),
                        "ok");
    assert_int_equal(t->raw.wake, 1);
    {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":1}", r2);
        ftRefused(t, FSM_OP_CHANGE_VISIBILITY, "MessageNotInflight", "not in flight", json);
    }
    m = ftRecv(t, "q", 1, -1);
    assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), "3");
    ftClose(t);
}

static void test_delays(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    uint64_t t0 = t->now;

    (void)state;
    create(t, "q", "{\"DelaySeconds\":\"5\"}");
    ftSend(t, "q", "queue-delay");
    assert_int_equal(t->raw.wake, 0);
    assert_int_equal(t->raw.next_visible_ms, t0 + 5000);
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"now\",\"DelaySeconds\":0}");
    assert_int_equal(t->raw.wake, 1);
    o = ftDo(t, SEND, "{\"QueueName\":\"q\",\"MessageBody\":\"late\",\"DelaySeconds\":8}");
    assert_string_equal(ftCode(o), "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesDelayed"), "2");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "1");
    o = ftRecv(t, "q", 10, -1);
    assert_int_equal(o->via.array.size, 1);
    assert_string_equal(body(o, 0), "now");
    t->now = t0 + 4999;
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 0);
    t->now = t0 + 5000;
    o = ftRecv(t, "q", 10, -1);
    assert_int_equal(o->via.array.size, 1);
    assert_string_equal(body(o, 0), "queue-delay");
    t->now = t0 + 8000;
    o = ftRecv(t, "q", 10, -1);
    assert_int_equal(o->via.array.size, 1);
    assert_string_equal(body(o, 0), "late");
    ftClose(t);
}

static void test_retention(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    uint64_t t0 = t->now;

    (void)state;
    create(t, "q", "{\"MessageRetentionPeriod\":\"60\"}");
    ftSend(t, "q", "old");
    t->now = t0 + 30000;
    ftSend(t, "q", "young");
    o = ftRecv(t, "q", 1, 1);
    assert_string_equal(body(o, 0), "old");
    t->now = t0 + 59999;
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "2");
    t->now = t0 + 60000;
    /* Counted out at once, even before any command removes it. */
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "1");
    o = ftRecv(t, "q", 10, -1);
    assert_int_equal(o->via.array.size, 1);
    assert_string_equal(body(o, 0), "young");
    /* Tick removes expired messages of queues nobody touches. */
    create(t, "r", "{\"MessageRetentionPeriod\":\"60\"}");
    ftSend(t, "r", "x");
    t->now += 60000;
    ftTick(t);
    assert_string_equal(ftAttr(t, "r", "ApproximateNumberOfMessages"), "0");
    ftClose(t);
}

static void test_inflightLimit(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 5);
    const msgpack_object *o;
    int i;

    (void)state;
    create(t, "q", NULL);
    for (i = 0; i < 8; i++) {
        ftSend(t, "q", "m");
    }
    assert_int_equal(ftRecv(t, "q", 3, -1)->via.array.size, 3);
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 2); /* up to 5 */
    ftRefused(t, RECV, "OverLimit", "the maximum is 5",
              "{\"QueueName\":\"q\",\"MaxNumberOfMessages\":1}");
    t->now += 30000; /* all five time out */
    o = ftRecv(t, "q", 10, -1);
    assert_int_equal(o->via.array.size, 5);
    ftClose(t);
}

static void test_receiveLimits(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    int i;

    (void)state;
    create(t, "q", NULL);
    for (i = 0; i < 12; i++) {
        ftSend(t, "q", "m");
    }
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 10);
    ftRefused(t, RECV, "InvalidParameterValue",
              "Value for parameter MaxNumberOfMessages is invalid. Reason: must be between 1 and 10.",
              "{\"QueueName\":\"q\",\"MaxNumberOfMessages\":11}");
    ftRefused(t, RECV, "InvalidParameterValue", NULL,
              "{\"QueueName\":\"q\",\"MaxNumberOfMessages\":0}");
    ftRefused(t, RECV, "InvalidParameterValue", "between 0 and 20",
              "{\"QueueName\":\"q\",\"WaitTimeSeconds\":21}");
    ftRefused(t, RECV, "InvalidParameterValue", "between 0 and 43200",
              "{\"QueueName\":\"q\",\"VisibilityTimeout\":43201}");
    assert_string_equal(ftCode(ftDo(t, RECV, "{\"QueueName\":\"q\",\"WaitTimeSeconds\":20,\"VisibilityTimeout\":43200}")), "ok");
    ftClose(t);
}

static void test_longPoll(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    uint64_t seq;
    size_t la, lb;
    uint8_t *a;
    uint8_t *b;

    (void)state;
    create(t, "q", NULL);
    create(t, "w", "{\"ReceiveMessageWaitTimeSeconds\":\"7\"}");
    t->wait = true;
    /* Nothing to deliver, wait from the request: WouldWait, not stored. */
    seq = t->seq;
    a = ftState(t, &la);
    o = ftDo(t, RECV, "{\"QueueName\":\"q\",\"WaitTimeSeconds\":3}");
    assert_string_equal(ftCode(o), "WouldWait");
    assert_true(t->raw.would_wait);
    assert_int_equal(t->raw.wait_s, 3);
    assert_int_equal(t->seq, seq);
    b = ftState(t, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    /* After a send: delivered, and the sequence is consumed. */
    t->wait = false;
    ftSend(t, "q", "x");
    t->wait = true;
    o = ftDo(t, RECV, "{\"QueueName\":\"q\",\"WaitTimeSeconds\":3}");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 1);
    assert_false(t->raw.would_wait);
    assert_int_equal(t->seq, seq + 2);
    /* Wait from the queue default. */
    o = ftDo(t, RECV, "{\"QueueName\":\"w\"}");
    assert_string_equal(ftCode(o), "WouldWait");
    assert_int_equal(t->raw.wait_s, 7);
    /* WaitTimeSeconds 0 overrides the default: an empty result, stored. */
    o = ftDo(t, RECV, "{\"QueueName\":\"w\",\"WaitTimeSeconds\":0}");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 0);
    /* Without w: an empty result, even with a wait time. */
    t->wait = false;
    o = ftDo(t, RECV, "{\"QueueName\":\"w\"}");
    assert_int_equal(ftArr(o, "Messages")->via.array.size, 0);
    /* next_visible_ms on an empty receive with a delayed message. */
    o = ftDo(t, SEND, "{\"QueueName\":\"w\",\"MessageBody\":\"d\",\"DelaySeconds\":2}");
    t->wait = true;
    o = ftDo(t, RECV, "{\"QueueName\":\"w\"}");
    assert_string_equal(ftCode(o), "WouldWait");
    assert_int_equal(t->raw.next_visible_ms, t->now + 2000);
    ftClose(t);
}

static void test_batches(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    const msgpack_object *m;
    char json[8192];
    size_t n;
    int i;

    (void)state;
    create(t, "q", "{\"MaximumMessageSize\":\"1024\"}");
    o = ftDo(t, FSM_OP_SEND_MESSAGE_BATCH,
             "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"one\"},"
             "{\"Id\":\"b\",\"MessageBody\":\"\"},{\"Id\":\"c\",\"MessageBody\":\"three\",\"DelaySeconds\":901},"
             "{\"Id\":\"d\",\"MessageBody\":\"four\"}]}");
    assert_int_equal(ftArr(o, "Successful")->via.array.size, 2);
    assert_int_equal(ftArr(o, "Failed")->via.array.size, 2);
    m = ftArr(o, "Failed");
    assert_string_equal(ftS(&m->via.array.ptr[0], "Id"), "b");
    assert_string_equal(ftS(&m->via.array.ptr[0], "Code"), "InvalidParameterValue");
    assert_true(ftGet(&m->via.array.ptr[0], "SenderFault")->via.boolean);
    assert_string_equal(ftS(&m->via.array.ptr[1], "Id"), "c");
    assert_int_equal(t->raw.wake, 2);
    m = ftRecv(t, "q", 10, -1);
    assert_int_equal(m->via.array.size, 2);
    /* Whole-batch errors. */
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "EmptyBatchRequest", "at least one",
              "{\"QueueName\":\"q\",\"Entries\":[]}");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "EmptyBatchRequest", NULL, "{\"QueueName\":\"q\"}");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "BatchEntryIdsNotDistinct", "Id a repeated.",
              "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"1\"},{\"Id\":\"a\",\"MessageBody\":\"2\"}]}");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "InvalidBatchEntryId", "alphanumeric",
              "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a.b\",\"MessageBody\":\"1\"}]}");
    ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "InvalidBatchEntryId", NULL,
              "{\"QueueName\":\"q\",\"Entries\":[{\"MessageBody\":\"1\"}]}");
    for (i = 10; i <= 11; i++) {
        int k;
        n = (size_t)snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"Entries\":[");
        for (k = 0; k < i; k++) {
            n += (size_t)snprintf(json + n, sizeof json - n,
                                  "%s{\"Id\":\"e%d\",\"MessageBody\":\"x\"}", k ? "," : "", k);
        }
        snprintf(json + n, sizeof json - n, "]}");
        if (i == 10) {
            o = ftDo(t, FSM_OP_SEND_MESSAGE_BATCH, "%s", json);
            assert_int_equal(ftArr(o, "Successful")->via.array.size, 10);
        } else {
            ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "TooManyEntriesInBatchRequest",
                      "Maximum number of entries per request are 10. You have sent 11.", json);
        }
    }
    {
        char id[82];
        memset(id, 'i', 81);
        id[81] = '\0';
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"%.80s\",\"MessageBody\":\"1\"}]}", id);
        assert_int_equal(ftArr(ftDo(t, FSM_OP_SEND_MESSAGE_BATCH, "%s", json), "Successful")->via.array.size, 1);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"%s\",\"MessageBody\":\"1\"}]}", id);
        ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "InvalidBatchEntryId", NULL, json);
    }
    /* Total size: 262,144 at most (a big queue). */
    create(t, "big", NULL);
    {
        char *body1 = malloc(200000);
        char *j = malloc(300000);
        memset(body1, 'x', 131072);
        body1[131072] = '\0';
        snprintf(j, 300000,
                 "{\"QueueName\":\"big\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"%s\"},"
                 "{\"Id\":\"b\",\"MessageBody\":\"%s\"}]}",
                 body1, body1);
        assert_int_equal(ftArr(ftDo(t, FSM_OP_SEND_MESSAGE_BATCH, "%s", j), "Successful")->via.array.size, 2);
        snprintf(j, 300000,
                 "{\"QueueName\":\"big\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"%s\"},"
                 "{\"Id\":\"b\",\"MessageBody\":\"%sy\"}]}",
                 body1, body1);
        ftRefused(t, FSM_OP_SEND_MESSAGE_BATCH, "BatchRequestTooLong",
                  "You have sent 262145 bytes.", j);
        free(body1);
        free(j);
    }
    /* Delete and visibility batches with partial failures. */
    m = ftRecv(t, "q", 3, -1);
    assert_int_equal(m->via.array.size, 3);
    char r0[64];
    char r1[64];
    strcpy(r0, receipt(m, 0));
    strcpy(r1, receipt(m, 1));
    o = ftDo(t, FSM_OP_DELETE_MESSAGE_BATCH,
             "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"%s\"},"
             "{\"Id\":\"b\",\"ReceiptHandle\":\"junk\"},{\"Id\":\"c\"}]}",
             r0);
    assert_int_equal(ftArr(o, "Successful")->via.array.size, 1);
    assert_int_equal(ftArr(o, "Failed")->via.array.size, 2);
    assert_string_equal(ftS(&ftArr(o, "Failed")->via.array.ptr[0], "Code"), "ReceiptHandleIsInvalid");
    assert_string_equal(ftS(&ftArr(o, "Failed")->via.array.ptr[1], "Code"), "MissingParameter");
    o = ftDo(t, FSM_OP_CHANGE_VISIBILITY_BATCH,
             "{\"QueueName\":\"q\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":0},"
             "{\"Id\":\"b\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":43201},"
             "{\"Id\":\"c\",\"ReceiptHandle\":\"%s\",\"VisibilityTimeout\":100}]}",
             r1, r1, r0);
    assert_int_equal(ftArr(o, "Successful")->via.array.size, 1);
    assert_int_equal(ftArr(o, "Failed")->via.array.size, 2);
    /* c's message was deleted: SQS's InvalidParameterValue. */
    assert_string_equal(ftS(&ftArr(o, "Failed")->via.array.ptr[1], "Code"), "InvalidParameterValue");
    ftClose(t);
}

static void test_deadLetter(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *m;
    const msgpack_object *o;
    char id[64];
    int i;

    (void)state;
    create(t, "dlq", NULL);
    create(t, "src", "{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":3}\"}");
    strcpy(id, ftSend(t, "src", "poison"));
    for (i = 1; i <= 3; i++) {
        char n[4];
        m = ftRecv(t, "src", 1, 0);
        assert_int_equal(m->via.array.size, 1);
        snprintf(n, sizeof n, "%d", i);
        assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), n);
    }
    /* The fourth receive moves it instead of delivering it. */
    m = ftRecv(t, "src", 1, 0);
    assert_int_equal(m->via.array.size, 0);
    assert_string_equal(ftAttr(t, "src", "ApproximateNumberOfMessages"), "0");
    assert_string_equal(ftAttr(t, "dlq", "ApproximateNumberOfMessages"), "1");
    m = ftRecv(t, "dlq", 1, 0);
    assert_string_equal(ftS(&m->via.array.ptr[0], "MessageId"), id);
    assert_string_equal(body(m, 0), "poison");
    assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), "1");
    assert_string_equal(sysattr(m, 0, "SentTimestamp"), "1000000");
    assert_string_equal(sysattr(m, 0, "DeadLetterQueueSourceArn"), "src");
    /* Redrive: only a dead-letter queue can be a source. */
    ftRefused(t, FSM_OP_START_MESSAGE_MOVE_TASK, "InvalidParameterValue", "Dead Letter Queue",
              "{\"SourceQueueName\":\"src\"}");
    ftRefused(t, FSM_OP_START_MESSAGE_MOVE_TASK, "ResourceNotFoundException", NULL,
              "{\"SourceQueueName\":\"nope\"}");
    ftRefused(t, FSM_OP_START_MESSAGE_MOVE_TASK, "MissingParameter", "SourceQueueName", "{}");
    o = ftDo(t, FSM_OP_START_MESSAGE_MOVE_TASK, "{\"SourceQueueName\":\"dlq\"}");
    assert_string_equal(ftCode(o), "ok");
    assert_int_equal(ftU(o, "MovedCount"), 1);
    assert_true(t->raw.wake_all);
    m = ftRecv(t, "src", 1, 0);
    assert_string_equal(ftS(&m->via.array.ptr[0], "MessageId"), id);
    assert_string_equal(sysattr(m, 0, "ApproximateReceiveCount"), "1");
    assert_null(ftGet(ftGet(&m->via.array.ptr[0], "Attributes"), "DeadLetterQueueSourceArn"));
    /* To an explicit destination; a message whose source is gone stays. */
    create(t, "other", NULL);
    for (i = 0; i < 3; i++) {
        ftRecv(t, "src", 1, 0);
    }
    assert_string_equal(ftAttr(t, "dlq", "ApproximateNumberOfMessages"), "1");
    o = ftDo(t, FSM_OP_START_MESSAGE_MOVE_TASK,
             "{\"SourceQueueName\":\"dlq\",\"DestinationQueueName\":\"other\"}");
    assert_int_equal(ftU(o, "MovedCount"), 1);
    assert_string_equal(ftAttr(t, "other", "ApproximateNumberOfMessages"), "1");
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sendReceiveDelete),
        cmocka_unit_test(test_sendLimits),
        cmocka_unit_test(test_messageAttributes),
        cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_inflightLimit),
        cmocka_unit_test(test_receiveLimits),
        cmocka_unit_test(test_longPoll),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_deadLetter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
