/* Queue management: names, attributes (every bound at and past it),
 * CreateQueue idempotence, tombstones, ListQueues paging, tags, purge,
 * dead-letter source listing. Refusals change no state (ftRefused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/fsmtest.h"

#define CREATE FSM_OP_CREATE_QUEUE

/* Create @q with attributes JSON @attrs (NULL: none); assert ok. */
static void create(struct ft *t, const char *q, const char *attrs)
{
    const msgpack_object *o =
        attrs != NULL
            ? ftDo(t, CREATE, "{\"QueueName\":\"%s\",\"Attributes\":%s}", q, attrs)
            : ftDo(t, CREATE, "{\"QueueName\":\"%s\"}", q);

    if (strcmp(ftCode(o), "ok") != 0) {
        fail_msg("create %s: %s %s", q, ftCode(o), ftMsg(o));
    }
    assert_string_equal(ftS(o, "QueueName"), q);
}

static void test_names(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    char name[100];

    (void)state;
    memset(name, 'a', 80);
    name[80] = '\0';
    create(t, name, NULL);
    name[80] = 'a';
    name[81] = '\0';
    {
        char json[200];
        snprintf(json, sizeof json, "{\"QueueName\":\"%s\"}", name);
        ftRefused(t, CREATE, "InvalidParameterValue", "1 to 80", json);
    }
    ftRefused(t, CREATE, "InvalidParameterValue", NULL, "{\"QueueName\":\"\"}");
    ftRefused(t, CREATE, "InvalidParameterValue", NULL, "{\"QueueName\":\"a b\"}");
    ftRefused(t, CREATE, "MissingParameter",
              "The request must contain the parameter QueueName.", "{}");
    ftRefused(t, CREATE, "InvalidParameterValue", "must be a string",
              "{\"QueueName\":5}");
    /* FIFO names: suffix <=> FifoQueue=true, counted in the 80. */
    memset(name, 'b', 75);
    strcpy(name + 75, ".fifo");
    create(t, name, "{\"FifoQueue\":\"true\"}");
    memset(name, 'b', 76);
    strcpy(name + 76, ".fifo");
    {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"%s\",\"Attributes\":{\"FifoQueue\":\"true\"}}",
                 name);
        ftRefused(t, CREATE, "InvalidParameterValue", NULL, json);
    }
    ftRefused(t, CREATE, "InvalidParameterValue", ".fifo",
              "{\"QueueName\":\"x.fifo\"}");
    ftRefused(t, CREATE, "InvalidParameterValue", "must end with .fifo",
              "{\"QueueName\":\"x\",\"Attributes\":{\"FifoQueue\":\"true\"}}");
    create(t, "std", "{\"FifoQueue\":\"false\"}");
    ftRefused(t, CREATE, "InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication",
              "{\"QueueName\":\"s2\",\"Attributes\":{\"ContentBasedDeduplication\":\"true\"}}");
    ftRefused(t, CREATE, "InvalidAttributeName", "Unknown Attribute Bogus",
              "{\"QueueName\":\"s2\",\"Attributes\":{\"Bogus\":\"1\"}}");
    ftRefused(t, CREATE, "InvalidAttributeName", "read-only",
              "{\"QueueName\":\"s2\",\"Attributes\":{\"CreatedTimestamp\":\"1\"}}");
    /* Other ops: a name that cannot exist is QueueDoesNotExist. */
    ftRefused(t, FSM_OP_DELETE_QUEUE, "QueueDoesNotExist", NULL,
              "{\"QueueName\":\"a b\"}");
    ftRefused(t, FSM_OP_DELETE_QUEUE, "QueueDoesNotExist", "nope",
              "{\"QueueName\":\"nope\"}");
    ftClose(t);
}

/* Each numeric attribute at both bounds and one past them. */
static void test_attributeBounds(void **state)
{
    static const struct
    {
        const char *name;
        unsigned lo, hi;
    } b[] = {{"VisibilityTimeout", 0, 43200},
             {"MessageRetentionPeriod", 60, 1209600},
             {"DelaySeconds", 0, 900},
             {"MaximumMessageSize", 1024, 262144},
             {"ReceiveMessageWaitTimeSeconds", 0, 20}};
    struct ft *t = ftOpen(1024, 3600000, 0);
    char json[256];
    size_t i;

    (void)state;
    create(t, "q", NULL);
    for (i = 0; i < sizeof b / sizeof b[0]; i++) {
        char v[16];
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":\"%u\"}}",
                 b[i].name, b[i].lo);
        assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "%s", json)), "ok");
        snprintf(v, sizeof v, "%u", b[i].lo);
        assert_string_equal(ftAttr(t, "q", b[i].name), v);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":\"%u\"}}",
                 b[i].name, b[i].hi);
        assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "%s", json)), "ok");
        snprintf(v, sizeof v, "%u", b[i].hi);
        assert_string_equal(ftAttr(t, "q", b[i].name), v);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":\"%u\"}}",
                 b[i].name, b[i].hi + 1);
        ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue",
                  b[i].name, json);
        if (b[i].lo > 0) {
            snprintf(json, sizeof json,
                     "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":\"%u\"}}",
                     b[i].name, b[i].lo - 1);
            ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue",
                      "must be an integer between", json);
        }
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":\"-1\"}}", b[i].name);
        ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", NULL, json);
        snprintf(json, sizeof json,
                 "{\"QueueName\":\"q\",\"Attributes\":{\"%s\":5}}", b[i].name);
        ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue",
                  "must be strings", json);
    }
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeName",
              "FifoQueue", "{\"QueueName\":\"q\",\"Attributes\":{\"FifoQueue\":\"true\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "MissingParameter", "Attributes",
              "{\"QueueName\":\"q\"}");
    ftClose(t);
}

static void test_attributesDefaultsAndReport(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    const msgpack_object *a;

    (void)state;
    t->now = 5000000;
    create(t, "q", NULL);
    o = ftQuery(t, FSM_OP_GET_QUEUE_ATTRIBUTES, "{\"QueueName\":\"q\"}");
    a = ftGet(o, "Attributes");
    assert_string_equal(ftS(a, "VisibilityTimeout"), "30");
    assert_string_equal(ftS(a, "MessageRetentionPeriod"), "345600");
    assert_string_equal(ftS(a, "DelaySeconds"), "0");
    assert_string_equal(ftS(a, "MaximumMessageSize"), "262144");
    assert_string_equal(ftS(a, "ReceiveMessageWaitTimeSeconds"), "0");
    assert_string_equal(ftS(a, "ApproximateNumberOfMessages"), "0");
    assert_string_equal(ftS(a, "ApproximateNumberOfMessagesNotVisible"), "0");
    assert_string_equal(ftS(a, "ApproximateNumberOfMessagesDelayed"), "0");
    assert_string_equal(ftS(a, "CreatedTimestamp"), "5000");
    assert_string_equal(ftS(a, "LastModifiedTimestamp"), "5000");
    assert_string_equal(ftS(a, "QueueArn"), "arn:aws:sqs:us-east-1:000000000000:q");
    assert_null(ftGet(a, "FifoQueue"));
    assert_null(ftGet(a, "RedrivePolicy"));
    t->now = 7000000;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                                    "{\"QueueName\":\"q\",\"Attributes\":{\"VisibilityTimeout\":\"5\"}}")),
                        "ok");
    assert_string_equal(ftAttr(t, "q", "LastModifiedTimestamp"), "7000");
    assert_string_equal(ftAttr(t, "q", "CreatedTimestamp"), "5000");
    /* Unknown names in AttributeNames. */
    o = ftQuery(t, FSM_OP_GET_QUEUE_ATTRIBUTES,
                "{\"QueueName\":\"q\",\"AttributeNames\":[\"Nope\"]}");
    assert_string_equal(ftCode(o), "InvalidAttributeName");
    assert_string_equal(ftMsg(o), "Unknown Attribute Nope.");
    o = ftQuery(t, FSM_OP_GET_QUEUE_ATTRIBUTES,
                "{\"QueueName\":\"q\",\"AttributeNames\":[\"All\"]}");
    assert_true(ftGet(o, "Attributes")->via.map.size >= 11);
    /* FIFO attributes. */
    create(t, "f.fifo", "{\"FifoQueue\":\"true\",\"ContentBasedDeduplication\":\"TRUE\","
                        "\"DeduplicationScope\":\"messageGroup\","
                        "\"FifoThroughputLimit\":\"perMessageGroupId\"}");
    assert_string_equal(ftAttr(t, "f.fifo", "FifoQueue"), "true");
    assert_string_equal(ftAttr(t, "f.fifo", "ContentBasedDeduplication"), "true");
    assert_string_equal(ftAttr(t, "f.fifo", "DeduplicationScope"), "messageGroup");
    assert_string_equal(ftAttr(t, "f.fifo", "FifoThroughputLimit"), "perMessageGroupId");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "queue or messageGroup",
              "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"DeduplicationScope\":\"x\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "true or false",
              "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"ContentBasedDeduplication\":\"yes\"}}");
    ftClose(t);
}

static void test_createExisting(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);

    (void)state;
    create(t, "q", "{\"VisibilityTimeout\":\"40\"}");
    create(t, "q", "{\"VisibilityTimeout\":\"40\"}");
    create(t, "q", NULL);
    create(t, "q", "{\"DelaySeconds\":\"0\"}");
    ftRefused(t, CREATE, "QueueAlreadyExists", "VisibilityTimeout",
              "{\"QueueName\":\"q\",\"Attributes\":{\"VisibilityTimeout\":\"41\"}}");
    ftRefused(t, CREATE, "QueueAlreadyExists", "DelaySeconds",
              "{\"QueueName\":\"q\",\"Attributes\":{\"DelaySeconds\":\"1\"}}");
    ftClose(t);
}

static void test_deletedRecently(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);

    (void)state;
    create(t, "q", NULL);
    ftSend(t, "q", "hello");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    t->now += 59999;
    ftRefused(t, CREATE, "QueueDeletedRecently", "60 seconds", "{\"QueueName\":\"q\"}");
    t->now += 1;
    create(t, "q", NULL);
    /* The new queue is empty. */
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 0);
    /* Tick expires tombstones. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_DELETE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    t->now += 60000;
    ftTick(t);
    create(t, "q", NULL);
    ftClose(t);
}

/* The QueueNames of a reply as one comma-separated string. */
static const char *names(const msgpack_object *o)
{
    static char buf[4096];
    const msgpack_object *a = ftArr(o, "QueueNames");
    uint32_t i;

    buf[0] = '\0';
    for (i = 0; i < a->via.array.size; i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, ftStr(&a->via.array.ptr[i]));
    }
    return buf;
}

static void test_listPaging(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;
    char tok[200];
    int i;

    (void)state;
    for (i = 0; i < 7; i++) {
        char q[8];
        snprintf(q, sizeof q, "q%d", i);
        create(t, q, NULL);
    }
    create(t, "other", NULL);
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{}");
    assert_string_equal(names(o), "other,q0,q1,q2,q3,q4,q5,q6");
    assert_null(ftGet(o, "NextToken"));
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"QueueNamePrefix\":\"q\",\"MaxResults\":3}");
    assert_string_equal(names(o), "q0,q1,q2");
    strcpy(tok, ftS(o, "NextToken"));
    o = ftQuery(t, FSM_OP_LIST_QUEUES,
                "{\"QueueNamePrefix\":\"q\",\"MaxResults\":3,\"NextToken\":\"%s\"}", tok);
    assert_string_equal(names(o), "q3,q4,q5");
    strcpy(tok, ftS(o, "NextToken"));
    o = ftQuery(t, FSM_OP_LIST_QUEUES,
                "{\"QueueNamePrefix\":\"q\",\"MaxResults\":3,\"NextToken\":\"%s\"}", tok);
    assert_string_equal(names(o), "q6");
    assert_null(ftGet(o, "NextToken"));
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"MaxResults\":8}");
    assert_null(ftGet(o, "NextToken"));
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"MaxResults\":\"1000\"}");
    assert_string_equal(names(o), "other,q0,q1,q2,q3,q4,q5,q6");
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"MaxResults\":1001}");
    assert_string_equal(ftCode(o), "InvalidParameterValue");
    assert_string_equal(ftMsg(o), "Value for parameter MaxResults is invalid. "
                                  "Reason: must be between 1 and 1000.");
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"MaxResults\":0}");
    assert_string_equal(ftCode(o), "InvalidParameterValue");
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"NextToken\":\"zz\"}");
    assert_string_equal(ftCode(o), "InvalidParameterValue");
    assert_string_equal(ftMsg(o), "Invalid NextToken value.");
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{\"QueueNamePrefix\":\"x\"}");
    assert_string_equal(names(o), "");
    ftClose(t);
}

static void test_tags(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    char json[8192];
    size_t n;
    int i;
    const msgpack_object *o;

    (void)state;
    create(t, "q", NULL);
    n = (size_t)snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"Tags\":{");
    for (i = 0; i < 50; i++) {
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"k%d\":\"v%d\"",
                              i ? "," : "", i, i);
    }
    snprintf(json + n, sizeof json - n, "}}");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_TAG_QUEUE, "%s", json)), "ok");
    o = ftQuery(t, FSM_OP_LIST_QUEUE_TAGS, "{\"QueueName\":\"q\"}");
    assert_int_equal(ftGet(o, "Tags")->via.map.size, 50);
    /* Replacing a value is fine; a 51st key is not. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_TAG_QUEUE,
                                    "{\"QueueName\":\"q\",\"Tags\":{\"k3\":\"new\"}}")),
                        "ok");
    ftRefused(t, FSM_OP_TAG_QUEUE, "InvalidParameterValue", "Too many tags",
              "{\"QueueName\":\"q\",\"Tags\":{\"k50\":\"x\"}}");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_UNTAG_QUEUE,
                                    "{\"QueueName\":\"q\",\"TagKeys\":[\"k0\",\"none\"]}")),
                        "ok");
    assert_string_equal(ftCode(ftDo(t, FSM_OP_TAG_QUEUE,
                                    "{\"QueueName\":\"q\",\"Tags\":{\"k50\":\"x\"}}")),
                        "ok");
    o = ftQuery(t, FSM_OP_LIST_QUEUE_TAGS, "{\"QueueName\":\"q\"}");
    assert_string_equal(ftS(ftGet(o, "Tags"), "k3"), "new");
    assert_null(ftGet(ftGet(o, "Tags"), "k0"));
    /* Key 128 / 129, value 256 / 257. */
    memset(json, 0, sizeof json);
    {
        char k[130];
        char v[258];
        memset(k, 'k', 129);
        k[129] = '\0';
        memset(v, 'v', 257);
        v[257] = '\0';
        assert_string_equal(ftCode(ftDo(t, FSM_OP_UNTAG_QUEUE,
                                        "{\"QueueName\":\"q\",\"TagKeys\":[\"k1\",\"k2\"]}")),
                            "ok");
        snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"Tags\":{\"%.128s\":\"%.256s\"}}", k, v);
        assert_string_equal(ftCode(ftDo(t, FSM_OP_TAG_QUEUE, "%s", json)), "ok");
        snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"Tags\":{\"%s\":\"x\"}}", k);
        ftRefused(t, FSM_OP_TAG_QUEUE, "InvalidParameterValue", "1 to 128", json);
        snprintf(json, sizeof json, "{\"QueueName\":\"q\",\"Tags\":{\"a\":\"%s\"}}", v);
        ftRefused(t, FSM_OP_TAG_QUEUE, "InvalidParameterValue", "at most 256", json);
    }
    ftRefused(t, FSM_OP_TAG_QUEUE, "MissingParameter", "Tags", "{\"QueueName\":\"q\"}");
    ftRefused(t, FSM_OP_UNTAG_QUEUE, "InvalidParameterValue", "TagKeys",
              "{\"QueueName\":\"q\",\"TagKeys\":[1]}");
    /* Tags at creation; deleted with the queue. */
    assert_string_equal(ftCode(ftDo(t, CREATE,
                                    "{\"QueueName\":\"r\",\"Tags\":{\"a\":\"b\"}}")),
                        "ok");
    o = ftQuery(t, FSM_OP_LIST_QUEUE_TAGS, "{\"QueueName\":\"r\"}");
    assert_string_equal(ftS(ftGet(o, "Tags"), "a"), "b");
    ftClose(t);
}

static void test_purge(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);

    (void)state;
    create(t, "q", NULL);
    ftSend(t, "q", "a");
    ftSend(t, "q", "b");
    assert_int_equal(ftRecv(t, "q", 1, -1)->via.array.size, 1);
    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "0");
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessagesNotVisible"), "0");
    ftSend(t, "q", "c");
    t->now += 59999;
    ftRefused(t, FSM_OP_PURGE_QUEUE, "PurgeQueueInProgress", "60 seconds",
              "{\"QueueName\":\"q\"}");
    t->now += 1;
    assert_string_equal(ftCode(ftDo(t, FSM_OP_PURGE_QUEUE, "{\"QueueName\":\"q\"}")), "ok");
    assert_int_equal(ftRecv(t, "q", 10, -1)->via.array.size, 0);
    ftClose(t);
}

static void test_redrivePolicy(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    const msgpack_object *o;

    (void)state;
    create(t, "dlq", NULL);
    create(t, "f.fifo", "{\"FifoQueue\":\"true\"}");
    create(t, "a", "{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:1:dlq\\\",\\\"maxReceiveCount\\\":\\\"1000\\\"}\"}");
    create(t, "b", "{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":1}\"}");
    create(t, "c", NULL);
    assert_non_null(strstr(ftAttr(t, "a", "RedrivePolicy"), "maxReceiveCount"));
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "from 1 to 1000",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":1001}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "from 1 to 1000",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\",\\\"maxReceiveCount\\\":0}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "does not exist",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"nope\\\",\\\"maxReceiveCount\\\":3}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "same type",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"f.fifo\\\",\\\"maxReceiveCount\\\":3}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "not a valid JSON",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{nope\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "maxReceiveCount",
              "{\"QueueName\":\"c\",\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"dlq\\\"}\"}}");
    o = ftQuery(t, FSM_OP_LIST_DLQ_SOURCES, "{\"QueueName\":\"dlq\"}");
    assert_string_equal(names(o), "a,b");
    o = ftQuery(t, FSM_OP_LIST_DLQ_SOURCES, "{\"QueueName\":\"dlq\",\"MaxResults\":1}");
    assert_string_equal(names(o), "a");
    assert_non_null(ftGet(o, "NextToken"));
    /* An empty policy removes it. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                                    "{\"QueueName\":\"a\",\"Attributes\":{\"RedrivePolicy\":\"\"}}")),
                        "ok");
    assert_null(ftAttr(t, "a", "RedrivePolicy"));
    o = ftQuery(t, FSM_OP_LIST_DLQ_SOURCES, "{\"QueueName\":\"dlq\"}");
    assert_string_equal(names(o), "b");
    ftClose(t);
}

/* Account namespaces (node/http): "NNNNNNNNNNNN~name" is a queue of that
 * account; an ARN naming an account other than 000000000000 names a queue
 * of its namespace. */
static void test_accountNamespaces(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);

    (void)state;
    create(t, "dlq", NULL);
    create(t, "123456789012~dlq", NULL);
    create(t, "123456789012~src", NULL);
    ftRefused(t, CREATE, "InvalidParameterValue", "1 to 80", "{\"QueueName\":\"12345~q\"}");
    ftRefused(t, CREATE, "InvalidParameterValue", "1 to 80", "{\"QueueName\":\"123456789012~\"}");
    assert_string_equal(
        ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                    "{\"QueueName\":\"123456789012~src\",\"Attributes\":{\"RedrivePolicy\":"
                    "\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:r:123456789012:dlq\\\","
                    "\\\"maxReceiveCount\\\":3}\"}}")),
        "ok");
    assert_string_equal(names(ftQuery(t, FSM_OP_LIST_DLQ_SOURCES,
                                      "{\"QueueName\":\"123456789012~dlq\"}")),
                        "123456789012~src");
    assert_string_equal(names(ftQuery(t, FSM_OP_LIST_DLQ_SOURCES, "{\"QueueName\":\"dlq\"}")), "");
    assert_string_equal(names(ftQuery(t, FSM_OP_LIST_QUEUES, "{\"QueueNamePrefix\":\"123456789012~\"}")),
                        "123456789012~dlq,123456789012~src");
    ftClose(t);
}

/* RedriveAllowPolicy: kept as given, checked when a source names the
 * queue in its RedrivePolicy (not again when the policy changes later). */
static void test_redriveAllowPolicy(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
#define RP(Q)                                                                          \
    "{\"QueueName\":\"" Q "\",\"Attributes\":{\"RedrivePolicy\":"                     \
    "\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:r:1:dlq\\\","                      \
    "\\\"maxReceiveCount\\\":3}\"}}"
    char json[512];

    (void)state;
    create(t, "dlq", NULL);
    create(t, "src", NULL);
    create(t, "other", NULL);
    assert_null(ftAttr(t, "dlq", "RedriveAllowPolicy"));
    assert_string_equal(
        ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                    "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
                    "\"{\\\"redrivePermission\\\":\\\"byQueue\\\",\\\"sourceQueueArns\\\":"
                    "[\\\"arn:aws:sqs:r:1:src\\\"]}\"}}")),
        "ok");
    assert_non_null(strstr(ftAttr(t, "dlq", "RedriveAllowPolicy"), "byQueue"));
    snprintf(json, sizeof json, "%s", RP("src"));
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "%s", json)), "ok");
    snprintf(json, sizeof json, "%s", RP("other"));
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "RedriveAllowPolicy", json);
    /* denyAll: refused for every new source; the existing one stays. */
    assert_string_equal(
        ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                    "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
                    "\"{\\\"redrivePermission\\\":\\\"denyAll\\\"}\"}}")),
        "ok");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidParameterValue", "RedriveAllowPolicy", json);
    assert_non_null(ftAttr(t, "src", "RedrivePolicy"));
    /* Malformed policies. */
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "allowAll, denyAll",
              "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
              "\"{\\\"redrivePermission\\\":\\\"sometimes\\\"}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "1 to 10",
              "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
              "\"{\\\"redrivePermission\\\":\\\"byQueue\\\"}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "at most 10",
              "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
              "\"{\\\"redrivePermission\\\":\\\"byQueue\\\",\\\"sourceQueueArns\\\":"
              "[\\\"a\\\",\\\"b\\\",\\\"c\\\",\\\"d\\\",\\\"e\\\",\\\"f\\\","
              "\\\"g\\\",\\\"h\\\",\\\"i\\\",\\\"j\\\",\\\"k\\\"]}\"}}");
    ftRefused(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "InvalidAttributeValue", "only with",
              "{\"QueueName\":\"dlq\",\"Attributes\":{\"RedriveAllowPolicy\":"
              "\"{\\\"redrivePermission\\\":\\\"allowAll\\\",\\\"sourceQueueArns\\\":"
              "[\\\"a\\\"]}\"}}");
    /* Empty removes it: allowed again. */
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES,
                                    "{\"QueueName\":\"dlq\",\"Attributes\":{"
                                    "\"RedriveAllowPolicy\":\"\"}}")),
                        "ok");
    assert_null(ftAttr(t, "dlq", "RedriveAllowPolicy"));
    assert_string_equal(ftCode(ftDo(t, FSM_OP_SET_QUEUE_ATTRIBUTES, "%s", json)), "ok");
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redriveAllowPolicy),
        cmocka_unit_test(test_accountNamespaces),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_attributeBounds),
        cmocka_unit_test(test_attributesDefaultsAndReport),
        cmocka_unit_test(test_createExisting),
        cmocka_unit_test(test_deletedRecently),
        cmocka_unit_test(test_listPaging),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_redrivePolicy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
