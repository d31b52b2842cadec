/* Unit tests of the mapping between SQS's parameters and results and the
 * state machine's args and replies (node/http/action.c), and of the MD5 of
 * message attributes against values computed as AWS documents it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "node/http/http.h"

static const struct httpAction *act(const char *name)
{
    const struct httpAction *a = httpActionByName(name, strlen(name));
    assert_non_null(a);
    return a;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    return j;
}

/* The value of @key in the msgpack map @o. */
static const msgpack_object *get(const msgpack_object *o, const char *key)
{
    uint32_t i;
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    for (i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static void assertStr(const msgpack_object *o, const char *s)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

static void argsOfSend(void **state)
{
    json_t *p = parse("{\"QueueUrl\":\"http://h:1/123456789012/q1\",\"MessageBody\":\"hi\","
                      "\"DelaySeconds\":3,\"MessageAttributes\":{\"b\":{\"DataType\":\"Binary\","
                      "\"BinaryValue\":\"AAEC\"}},\"MessageSystemAttributes\":{}}");
    void *args;
    size_t len, off = 0;
    const char *code;
    char errmsg[128];
    msgpack_unpacked u;
    const msgpack_object *bv;

    (void)state;
    assert_int_equal(
        httpArgsBuild(act("SendMessage"), p, NULL, &args, &len, &code, errmsg, sizeof errmsg), 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, args, len, &off), MSGPACK_UNPACK_SUCCESS);
    assertStr(get(&u.data, "QueueName"), "q1");
    assertStr(get(&u.data, "MessageBody"), "hi");
    assert_null(get(&u.data, "QueueUrl"));
    assert_non_null(get(&u.data, "MessageSystemAttributes"));
    assert_int_equal(get(&u.data, "DelaySeconds")->via.u64, 3);
    bv = get(get(get(&u.data, "MessageAttributes"), "b"), "BinaryValue");
    assert_int_equal(bv->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(bv->via.bin.size, 3);
    assert_memory_equal(bv->via.bin.ptr, "\x00\x01\x02", 3);
    msgpack_unpacked_destroy(&u);
    free(args);
    json_decref(p);
}

static void argsErrors(void **state)
{
    json_t *p = parse("{\"MessageBody\":\"hi\"}");
    json_t *bad = parse("{\"QueueUrl\":\"q\",\"MessageBody\":\"x\",\"MessageAttributes\":{\"b\":"
                        "{\"DataType\":\"Binary\",\"BinaryValue\":\"!!\"}}}");
    void *args;
    size_t len;
    const char *code;
    char errmsg[128];

    (void)state;
    assert_int_equal(
        httpArgsBuild(act("SendMessage"), p, NULL, &args, &len, &code, errmsg, sizeof errmsg), -1);
    assert_string_equal(code, "MissingParameter");
    assert_non_null(strstr(errmsg, "QueueUrl"));
    assert_int_equal(
        httpArgsBuild(act("SendMessage"), bad, NULL, &args, &len, &code, errmsg, sizeof errmsg), -1);
    assert_string_equal(code, "InvalidParameterValue");
    json_decref(p);
    json_decref(bad);
}

static void argsOfGetQueueUrlAndMove(void **state)
{
    json_t *p = parse("{\"QueueName\":\"q1\",\"QueueOwnerAWSAccountId\":\"1\"}");
    json_t *m = parse("{\"SourceArn\":\"arn:aws:sqs:eu-west-1:123456789012:dlq\"}");
    void *args;
    size_t len, off = 0;
    const char *code;
    char errmsg[128];
    msgpack_unpacked u;

    (void)state;
    assert_int_equal(
        httpArgsBuild(act("GetQueueUrl"), p, NULL, &args, &len, &code, errmsg, sizeof errmsg), 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, args, len, &off), MSGPACK_UNPACK_SUCCESS);
    assertStr(get(&u.data, "QueueName"), "q1");
    assert_non_null(get(&u.data, "AttributeNames"));
    assert_null(get(&u.data, "QueueOwnerAWSAccountId"));
    msgpack_unpacked_destroy(&u);
    free(args);
    off = 0;
    assert_int_equal(httpArgsBuild(act("StartMessageMoveTask"), m, NULL, &args, &len, &code, errmsg,
                                   sizeof errmsg),
                     0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, args, len, &off), MSGPACK_UNPACK_SUCCESS);
    /* The ARN's account names the namespace. */
    assertStr(get(&u.data, "SourceQueueName"), "123456789012~dlq");
    msgpack_unpacked_destroy(&u);
    free(args);
    json_decref(p);
    json_decref(m);
}

static const struct httpContext ctx = {"10.0.0.1:7201", "eu-west-1", "123456789012"};

/* The result of @action for the msgpack reply packed by @pack. */
static json_t *resultOf(const char *action, const json_t *params,
                        void (*pack)(msgpack_packer *pk), const char **code)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    json_t *r = NULL;
    char codebuf[64], errmsg[128];
    int rv;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack(&pk);
    *code = NULL;
    rv = httpResultBuild(act(action), &ctx, params, sb.data, sb.size, &r, code, codebuf,
                         sizeof codebuf, errmsg, sizeof errmsg);
    msgpack_sbuffer_destroy(&sb);
    if (rv != 0) {
        static char saved[64];
        strcpy(saved, *code);
        *code = saved;
        return NULL;
    }
    return r;
}

static void kv(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
    msgpack_pack_str(pk, strlen(v));
    msgpack_pack_str_body(pk, v, strlen(v));
}

static void key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
}

static void packCreate(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    key(pk, "id");
    msgpack_pack_uint64(pk, 7);
    key(pk, "ok");
    msgpack_pack_true(pk);
    kv(pk, "QueueName", "123456789012~q1");
}

static void packList(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    key(pk, "ok");
    msgpack_pack_true(pk);
    key(pk, "QueueNames");
    msgpack_pack_array(pk, 3);
    msgpack_pack_str(pk, 14);
    msgpack_pack_str_body(pk, "123456789012~a", 14);
    msgpack_pack_str(pk, 1);
    msgpack_pack_str_body(pk, "x", 1); /* another namespace's: left out */
    msgpack_pack_str(pk, 14);
    msgpack_pack_str_body(pk, "123456789012~b", 14);
    kv(pk, "NextToken", "b");
}

static void packEmptyList(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    key(pk, "ok");
    msgpack_pack_true(pk);
    key(pk, "QueueNames");
    msgpack_pack_array(pk, 0);
}

static void packAttrs(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    key(pk, "ok");
    msgpack_pack_true(pk);
    key(pk, "Attributes");
    msgpack_pack_map(pk, 2);
    kv(pk, "QueueArn", "arn:aws:sqs:us-east-1:000000000000:123456789012~q1");
    kv(pk, "VisibilityTimeout", "30");
}

static void packReceive(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    key(pk, "ok");
    msgpack_pack_true(pk);
    key(pk, "Messages");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 2);
    key(pk, "Attributes");
    msgpack_pack_map(pk, 1);
    kv(pk, "DeadLetterQueueSourceArn", "123456789012~src");
    key(pk, "MessageAttributes");
    msgpack_pack_map(pk, 1);
    key(pk, "b");
    msgpack_pack_map(pk, 2);
    kv(pk, "DataType", "Binary");
    key(pk, "BinaryValue");
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "\x00\x01\x02", 3);
}

static void packError(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    key(pk, "ok");
    msgpack_pack_false(pk);
    kv(pk, "code", "QueueDoesNotExist");
    kv(pk, "message", "The specified queue q does not exist.");
}

static void packBatch(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    key(pk, "ok");
    msgpack_pack_true(pk);
    key(pk, "Successful");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    kv(pk, "Id", "a");
    key(pk, "Failed");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 3);
    kv(pk, "Id", "b");
    kv(pk, "Code", "BatchEntryIdsNotDistinct");
    key(pk, "SenderFault");
    msgpack_pack_true(pk);
}

static void results(void **state)
{
    json_t *empty = json_object();
    json_t *sent = parse("{\"Entries\":[{\"Id\":\"a\",\"MessageSystemAttributes\":{"
                         "\"AWSTraceHeader\":{\"DataType\":\"String\",\"StringValue\":"
                         "\"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
                         "Sampled=1\"}}}]}");
    json_t *named = parse("{\"QueueName\":\"q9\"}");
    json_t *all = parse("{\"AttributeNames\":[\"All\"]}");
    const char *code;
    json_t *r;
    json_t *m;

    (void)state;
    r = resultOf("CreateQueue", empty, packCreate, &code);
    assert_string_equal(json_string_value(json_object_get(r, "QueueUrl")),
                        "http://10.0.0.1:7201/123456789012/q1");
    assert_null(json_object_get(r, "ok"));
    assert_null(json_object_get(r, "id"));
    assert_int_equal(json_object_size(r), 1);
    json_decref(r);

    r = resultOf("ListQueues", empty, packList, &code);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "QueueUrls"), 1)),
                        "http://10.0.0.1:7201/123456789012/b");
    assert_string_equal(json_string_value(json_object_get(r, "NextToken")), "b");
    json_decref(r);
    r = resultOf("ListQueues", empty, packEmptyList, &code);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);

    r = resultOf("GetQueueAttributes", all, packAttrs, &code);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "Attributes"), "QueueArn")),
        "arn:aws:sqs:eu-west-1:123456789012:q1");
    json_decref(r);
    /* No AttributeNames: no attributes, as SQS. */
    r = resultOf("GetQueueAttributes", empty, packAttrs, &code);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    r = resultOf("GetQueueUrl", named, packAttrs, &code);
    assert_string_equal(json_string_value(json_object_get(r, "QueueUrl")),
                        "http://10.0.0.1:7201/123456789012/q9");
    assert_int_equal(json_object_size(r), 1);
    json_decref(r);

    r = resultOf("ReceiveMessage", empty, packReceive, &code);
    m = json_array_get(json_object_get(r, "Messages"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "Attributes"),
                                                          "DeadLetterQueueSourceArn")),
                        "arn:aws:sqs:eu-west-1:123456789012:src");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(m, "MessageAttributes"), "b"), "BinaryValue")),
        "AAEC");
    json_decref(r);

    r = resultOf("SendMessageBatch", sent, packBatch, &code);
    m = json_array_get(json_object_get(r, "Successful"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "MD5OfMessageSystemAttributes")),
                        "5ae4d5d7636402d80f4eb6d213245a88");
    m = json_array_get(json_object_get(r, "Failed"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "Code")),
                        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    assert_true(json_is_true(json_object_get(m, "SenderFault")));
    json_decref(r);

    r = resultOf("SendMessage", empty, packError, &code);
    assert_null(r);
    assert_string_equal(code, "QueueDoesNotExist");
    json_decref(empty);
    json_decref(sent);
    json_decref(named);
    json_decref(all);
}

/* Digests computed by an independent implementation of AWS's documented
 * algorithm (and checked by the AWS SDK for JavaScript against a live
 * node). */
static void md5OfAttributes(void **state)
{
    json_t *a = parse("{\"x\":{\"DataType\":\"String\",\"StringValue\":\"y\"},"
                      "\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAE=\"}}");
    json_t *b = parse("{\"a\":{\"DataType\":\"String\",\"StringValue\":\"b\"},"
                      "\"n\":{\"DataType\":\"Number\",\"StringValue\":\"12\"},"
                      "\"bin\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AQID\"}}");
    json_t *bad = parse("{\"a\":{\"StringValue\":\"b\"}}");
    char md5[33];

    (void)state;
    assert_int_equal(httpMd5OfAttributes(a, md5), 0);
    assert_string_equal(md5, "59dd85c4198840e38cbbe29350947d7b");
    assert_int_equal(httpMd5OfAttributes(b, md5), 0);
    assert_string_equal(md5, "ceb93d389ba0e44c6bbd5766c367416c");
    assert_int_equal(httpMd5OfAttributes(bad, md5), -1);
    json_decref(a);
    json_decref(b);
    json_decref(bad);
}

static void actionTable(void **state)
{
    (void)state;
    assert_null(httpActionByName("Nope", 4));
    assert_int_equal(act("AddPermission")->kind, HTTP_ACT_UNSUPPORTED);
    assert_true(act("SendMessage")->needs_url);
    assert_false(act("CreateQueue")->needs_url);
    assert_string_equal(act("DeleteMessageBatch")->entry, "DeleteMessageBatchResultEntry");
    assert_ptr_equal(httpActionAt(httpActionIndex(act("PurgeQueue"))), act("PurgeQueue"));
}

/* FIFO ReceiveRequestAttemptId results: kept per account, queue and id,
 * for 5 minutes. */
static void attemptCache(void **state)
{
    struct http *h = calloc(1, sizeof *h);
    json_t *r = parse("{\"Messages\":[{\"MessageId\":\"m\"}]}");
    json_t *got;

    (void)state;
    assert_null(httpAttemptGet(h, "111111111111", "q.fifo", 6, "a1", 0));
    httpAttemptPut(h, "111111111111", "q.fifo", 6, "a1", r, 1000);
    got = httpAttemptGet(h, "111111111111", "q.fifo", 6, "a1", 2000);
    assert_ptr_equal(got, r);
    json_decref(got);
    assert_null(httpAttemptGet(h, "222222222222", "q.fifo", 6, "a1", 2000));
    assert_null(httpAttemptGet(h, "111111111111", "p.fifo", 6, "a1", 2000));
    assert_null(httpAttemptGet(h, "111111111111", "q.fifo", 6, "a2", 2000));
    assert_null(httpAttemptGet(h, "111111111111", "q.fifo", 6, "a1", 1000 + HTTP_ATTEMPT_TTL_MS + 1));
    /* A later put prunes what expired. */
    httpAttemptPut(h, "111111111111", "q.fifo", 6, "a2", r, 1000 + HTTP_ATTEMPT_TTL_MS + 1);
    assert_int_equal(h->n_attempts, 1);
    httpAttemptsFree(h);
    assert_int_equal(h->n_attempts, 0);
    json_decref(r);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attemptCache),
        cmocka_unit_test(argsOfSend),
        cmocka_unit_test(argsErrors),
        cmocka_unit_test(argsOfGetQueueUrlAndMove),
        cmocka_unit_test(results),
        cmocka_unit_test(md5OfAttributes),
        cmocka_unit_test(actionTable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
