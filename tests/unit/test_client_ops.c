/* Unit tests of the client library's operations against the fake server of
 * test_client_fake.h: the args each call sends (decoded here with
 * msgpack-c, SQS's parameter names and types), and the parsing of canned
 * SQS-shaped replies into the API's structs (receive with system and
 * message attributes, batch partial failures, list paging, attributes,
 * tags, move task), and the argument checks made before anything is sent.
 */
#include "test_client_fake.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* The args of the fake's @i-th request, unpacked (valid until the next
 * call). */
static msgpack_unpacked argsUnp;

static const msgpack_object *argsOf(struct fake *f, int i)
{
    size_t off = 0;
    msgpack_unpacked_destroy(&argsUnp);
    msgpack_unpacked_init(&argsUnp);
    pthread_mutex_lock(&f->mu);
    assert_true(i < f->nSeen && i < FAKE_ARGS_KEPT);
    assert_int_equal(msgpack_unpack_next(&argsUnp, f->args[i], f->argsLen[i],
                                         &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, f->argsLen[i]);
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(argsUnp.data.type, MSGPACK_OBJECT_MAP);
    return &argsUnp.data;
}

/* The value of @key in map @m, or NULL. */
static const msgpack_object *get(const msgpack_object *m, const char *key)
{
    uint32_t i;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    for (i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR &&
            k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            return &m->via.map.ptr[i].val;
        }
    }
    return NULL;
}

/* Check that @o is the string @s. */
static void isStr(const msgpack_object *o, const char *s)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

/* Check that @o is the unsigned integer @u. */
static void isUint(const msgpack_object *o, uint64_t u)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(o->via.u64, u);
}

/* The op name of the fake's @i-th request. */
static void opIs(struct fake *f, int i, const char *op)
{
    pthread_mutex_lock(&f->mu);
    assert_string_equal(f->seen[i].op, op);
    pthread_mutex_unlock(&f->mu);
}

/* Pack "key": "value". */
static void kvStr(msgpack_packer *pk, const char *k, const char *v)
{
    packStr(pk, k);
    packStr(pk, v);
}

/* ---------------------------------------------------------------------- */
/* Canned replies                                                          */

/* ReceiveMessage: two messages (one FIFO with attributes); SendMessage:
 * FIFO results; the rest: ok. */
static size_t replyMessages(struct fake *f,
                            const struct qraft_request *req,
                            msgpack_packer *pk)
{
    (void)f;
    if (fakeOpIs(req, "SendMessage")) {
        kvStr(pk, "MessageId", "mid-1");
        kvStr(pk, "MD5OfMessageBody", "5d41402abc4b2a76b9719d911017c592");
        kvStr(pk, "MD5OfMessageAttributes",
              "0123456789abcdef0123456789abcdef");
        kvStr(pk, "SequenceNumber", "18849496460467696128");
        return 4;
    }
    if (!fakeOpIs(req, "ReceiveMessage")) {
        return 0;
    }
    packStr(pk, "Messages");
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 7);
    kvStr(pk, "MessageId", "id-0");
    kvStr(pk, "ReceiptHandle", "rc-0");
    kvStr(pk, "MD5OfBody", "900150983cd24fb0d6963f7d28e17f72");
    kvStr(pk, "Body", "abc");
    packStr(pk, "Attributes");
    msgpack_pack_map(pk, 6);
    kvStr(pk, "SentTimestamp", "1700000000123");
    kvStr(pk, "ApproximateReceiveCount", "3");
    kvStr(pk, "ApproximateFirstReceiveTimestamp", "1700000000456");
    kvStr(pk, "MessageGroupId", "g1");
    kvStr(pk, "MessageDeduplicationId", "d1");
    kvStr(pk, "SequenceNumber", "42");
    packStr(pk, "MessageAttributes");
    msgpack_pack_map(pk, 2);
    packStr(pk, "color");
    msgpack_pack_map(pk, 2);
    kvStr(pk, "DataType", "String");
    kvStr(pk, "StringValue", "blue");
    packStr(pk, "blob");
    msgpack_pack_map(pk, 2);
    kvStr(pk, "DataType", "Binary");
    packStr(pk, "BinaryValue");
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "\x00\x01\x02", 3);
    kvStr(pk, "MD5OfMessageAttributes", "ffffffffffffffffffffffffffffffff");
    /* A standard-queue message: integer attribute values are accepted. */
    msgpack_pack_map(pk, 5);
    kvStr(pk, "MessageId", "id-1");
    kvStr(pk, "ReceiptHandle", "rc-1");
    kvStr(pk, "Body", "");
    packStr(pk, "Attributes");
    msgpack_pack_map(pk, 1);
    packStr(pk, "ApproximateReceiveCount");
    msgpack_pack_uint32(pk, 1);
    kvStr(pk, "Unknown", "ignored");
    return 1;
}

/* Assert that @o is the array ["All"]. */
static void allNames(const msgpack_object *o)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 1);
    isStr(&o->via.array.ptr[0], "All");
}

static void receiveParsesMessages(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    struct qraft_receive_params p = {10, 5, 2};
    struct qraft_message *m = NULL;
    const msgpack_object *a;
    qraft_client *c;
    size_t n = 0;
    (void)state;
    f->reply = replyMessages;
    c = openClient(f->addr, 2000);
    assert_int_equal(qraft_receive(c, "q", &p, &m, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].id, "id-0");
    assert_string_equal(m[0].receipt, "rc-0");
    assert_int_equal(m[0].body_len, 3);
    assert_string_equal(m[0].body, "abc");
    assert_string_equal(m[0].md5_body, "900150983cd24fb0d6963f7d28e17f72");
    assert_string_equal(m[0].md5_attrs, "ffffffffffffffffffffffffffffffff");
    assert_int_equal(m[0].receive_count, 3);
    assert_int_equal(m[0].sent_ms, 1700000000123ULL);
    assert_int_equal(m[0].first_receive_ms, 1700000000456ULL);
    assert_string_equal(m[0].group_id, "g1");
    assert_string_equal(m[0].dedup_id, "d1");
    assert_string_equal(m[0].sequence_number, "42");
    assert_int_equal(m[0].n_attrs, 2);
    assert_string_equal(m[0].attrs[0].name, "color");
    assert_string_equal(m[0].attrs[0].type, "String");
    assert_int_equal(m[0].attrs[0].len, 4);
    assert_string_equal(m[0].attrs[0].value, "blue");
    assert_string_equal(m[0].attrs[1].type, "Binary");
    assert_int_equal(m[0].attrs[1].len, 3);
    assert_memory_equal(m[0].attrs[1].value, "\x00\x01\x02", 3);
    assert_string_equal(m[1].id, "id-1");
    assert_int_equal(m[1].body_len, 0);
    assert_non_null(m[1].body);
    assert_int_equal(m[1].receive_count, 1);
    assert_string_equal(m[1].group_id, "");
    assert_int_equal(m[1].n_attrs, 0);
    qraft_messages_free(m, n);

    opIs(f, 0, "ReceiveMessage");
    a = argsOf(f, 0);
    assert_int_equal(a->via.map.size, 6);
    isStr(get(a, "QueueName"), "q");
    isUint(get(a, "MaxNumberOfMessages"), 10);
    isUint(get(a, "VisibilityTimeout"), 5);
    isUint(get(a, "WaitTimeSeconds"), 2);
    allNames(get(a, "AttributeNames"));
    allNames(get(a, "MessageAttributeNames"));

    /* Defaults: the queue, 1 message, and still every attribute (the node
     * returns only those asked for). */
    assert_int_equal(qraft_receive(c, "q", NULL, &m, &n), 0);
    qraft_messages_free(m, n);
    a = argsOf(f, 1);
    assert_int_equal(a->via.map.size, 4);
    isUint(get(a, "MaxNumberOfMessages"), 1);
    allNames(get(a, "AttributeNames"));
    allNames(get(a, "MessageAttributeNames"));
    pthread_mutex_lock(&f->mu);
    assert_true(f->seen[1].seq == 2); /* a session op */
    pthread_mutex_unlock(&f->mu);

    p.max = 0;
    assert_int_equal(qraft_receive(c, "q", &p, &m, &n), QRAFT_EINVAL);
    qraft_close(c);
    fakeStop(f);
    msgpack_unpacked_destroy(&argsUnp);
}

static void sendCarriesParamsAndAttributes(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    struct qraft_message_attr attrs[2] = {
        {"color", "String", "blue", 4},
        {"blob", "Binary.raw", "\x00\xff", 2},
    };
    struct qraft_send_params p = {7, "grp", "dd", attrs, 2};
    struct qraft_send_result res;
    const msgpack_object *a;
    const msgpack_object *ma;
    qraft_client *c;
    (void)state;
    f->reply = replyMessages;
    c = openClient(f->addr, 2000);
    assert_int_equal(qraft_send(c, "q.fifo", "hello", 5, &p, &res), 0);
    assert_string_equal(res.message_id, "mid-1");
    assert_string_equal(res.md5_body, "5d41402abc4b2a76b9719d911017c592");
    assert_string_equal(res.md5_attrs, "0123456789abcdef0123456789abcdef");
    assert_string_equal(res.sequence_number, "18849496460467696128");
    opIs(f, 0, "SendMessage");
    a = argsOf(f, 0);
    assert_int_equal(a->via.map.size, 6);
    isStr(get(a, "QueueName"), "q.fifo");
    isStr(get(a, "MessageBody"), "hello");
    isUint(get(a, "DelaySeconds"), 7);
    isStr(get(a, "MessageGroupId"), "grp");
    isStr(get(a, "MessageDeduplicationId"), "dd");
    ma = get(a, "MessageAttributes");
    assert_non_null(ma);
    assert_int_equal(ma->via.map.size, 2);
    isStr(get(get(ma, "color"), "DataType"), "String");
    isStr(get(get(ma, "color"), "StringValue"), "blue");
    isStr(get(get(ma, "blob"), "DataType"), "Binary.raw");
    assert_int_equal(get(get(ma, "blob"), "BinaryValue")->type,
                     MSGPACK_OBJECT_BIN);
    assert_null(get(get(ma, "blob"), "StringValue"));

    /* Without params: QueueName and MessageBody only. */
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, NULL), 0);
    assert_int_equal(argsOf(f, 1)->via.map.size, 2);

    /* Checked before sending. */
    p.delay_s = 901;
    assert_int_equal(qraft_send(c, "q", "x", 1, &p, &res), QRAFT_EINVAL);
    p.delay_s = -1;
    attrs[1].type = NULL;
    assert_int_equal(qraft_send(c, "q", "x", 1, &p, &res), QRAFT_EINVAL);
    p.n_attrs = 11;
    assert_int_equal(qraft_send(c, "q", "x", 1, &p, &res), QRAFT_EINVAL);
    assert_int_equal(qraft_send(c, NULL, "x", 1, NULL, &res), QRAFT_EINVAL);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 2);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
    msgpack_unpacked_destroy(&argsUnp);
}

/* Batches: entry "0" succeeds, "b" fails, "c" is not mentioned. */
static size_t replyBatch(struct fake *f,
                         const struct qraft_request *req,
                         msgpack_packer *pk)
{
    (void)f;
    (void)req;
    packStr(pk, "Successful");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 3);
    kvStr(pk, "Id", "0");
    kvStr(pk, "MessageId", "m-0");
    kvStr(pk, "MD5OfMessageBody", "0cc175b9c0f1b6a831c399e269772661");
    packStr(pk, "Failed");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 4);
    kvStr(pk, "Id", "b");
    kvStr(pk, "Code", "MessageTooLong");
    kvStr(pk, "Message", "too long");
    packStr(pk, "SenderFault");
    msgpack_pack_true(pk);
    return 2;
}

static void batchesReportPerEntry(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    struct qraft_send_params p = QRAFT_SEND_PARAMS_INIT;
    struct qraft_send_entry se[3] = {
        {NULL, "a", 1, NULL}, {"b", "bb", 2, &p}, {"c", "", 0, NULL}};
    struct qraft_delete_entry de[3] = {{NULL, "r0"}, {"b", "r1"}, {"c", "r2"}};
    struct qraft_visibility_entry ve[3] = {
        {NULL, "r0", 0}, {"b", "r1", 10}, {"c", "r2", 43200}};
    struct qraft_batch_result res[3];
    const msgpack_object *a;
    const msgpack_object *e;
    qraft_client *c;
    int i;
    (void)state;
    f->reply = replyBatch;
    c = openClient(f->addr, 2000);
    p.group_id = "g";
    for (i = 0; i < 3; i++) {
        if (i == 0) {
            assert_int_equal(qraft_send_batch(c, "q", se, 3, res), 0);
            assert_string_equal(res[0].message_id, "m-0");
            assert_string_equal(res[0].md5_body,
                                "0cc175b9c0f1b6a831c399e269772661");
        } else if (i == 1) {
            assert_int_equal(qraft_delete_batch(c, "q", de, 3, res), 0);
        } else {
            assert_int_equal(qraft_change_visibility_batch(c, "q", ve, 3, res),
                             0);
        }
        assert_string_equal(res[0].id, "0");
        assert_int_equal(res[0].status, QRAFT_OK);
        assert_string_equal(res[0].message, "");
        assert_string_equal(res[1].id, "b");
        assert_int_equal(res[1].status, QRAFT_EMESSAGE_TOO_LONG);
        assert_true(res[1].sender_fault);
        assert_string_equal(res[1].message, "MessageTooLong: too long");
        assert_string_equal(res[2].id, "c");
        assert_int_equal(res[2].status, QRAFT_EPROTO);
    }
    opIs(f, 0, "SendMessageBatch");
    a = argsOf(f, 0);
    isStr(get(a, "QueueName"), "q");
    e = get(a, "Entries");
    assert_non_null(e);
    assert_int_equal(e->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(e->via.array.size, 3);
    isStr(get(&e->via.array.ptr[0], "Id"), "0");
    isStr(get(&e->via.array.ptr[0], "MessageBody"), "a");
    isStr(get(&e->via.array.ptr[1], "MessageGroupId"), "g");
    assert_int_equal(e->via.array.ptr[2].via.map.size, 2);
    opIs(f, 1, "DeleteMessageBatch");
    e = get(argsOf(f, 1), "Entries");
    isStr(get(&e->via.array.ptr[1], "ReceiptHandle"), "r1");
    opIs(f, 2, "ChangeMessageVisibilityBatch");
    e = get(argsOf(f, 2), "Entries");
    isUint(get(&e->via.array.ptr[2], "VisibilityTimeout"), 43200);

    /* Whole-request checks: 1..10 entries. */
    assert_int_equal(qraft_send_batch(c, "q", se, 0, res), QRAFT_EINVAL);
    assert_int_equal(qraft_delete_batch(c, "q", de, 11, res), QRAFT_EINVAL);
    qraft_close(c);
    fakeStop(f);
    msgpack_unpacked_destroy(&argsUnp);
}

/* ListQueues: page 1 names a and b with NextToken "t1"; page 2 (asked
 * with "t1") c and no token. Get attributes, tags, move task too. */
static size_t replyQueues(struct fake *f,
                          const struct qraft_request *req,
                          msgpack_packer *pk)
{
    bool second = req->args_len > 0 &&
                  memmem(req->args, req->args_len, "t1", 2) != NULL;
    (void)f;
    if (fakeOpIs(req, "ListQueues") ||
        fakeOpIs(req, "ListDeadLetterSourceQueues")) {
        packStr(pk, "QueueNames");
        msgpack_pack_array(pk, second ? 1 : 2);
        packStr(pk, second ? "c" : "a");
        if (!second) {
            packStr(pk, "b");
            kvStr(pk, "NextToken", "t1");
        }
        return second ? 1 : 2;
    }
    if (fakeOpIs(req, "GetQueueAttributes") ||
        fakeOpIs(req, "ListQueueTags")) {
        packStr(pk, fakeOpIs(req, "ListQueueTags") ? "Tags" : "Attributes");
        msgpack_pack_map(pk, 2);
        kvStr(pk, "VisibilityTimeout", "30");
        kvStr(pk, "FifoQueue", "true");
        return 1;
    }
    if (fakeOpIs(req, "StartMessageMoveTask")) {
        packStr(pk, "MovedCount");
        msgpack_pack_uint64(pk, 17);
        return 1;
    }
    return 0;
}

static void queueCallsArgsAndResults(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    struct qraft_attr attrs[2] = {{"FifoQueue", "true"},
                                  {"VisibilityTimeout", "60"}};
    struct qraft_attr tags[1] = {{"team", "core"}};
    const char *names[2] = {"VisibilityTimeout", "FifoQueue"};
    const char *keys[1] = {"team"};
    struct qraft_attr *got;
    const msgpack_object *a;
    qraft_client *c;
    char **list;
    char *next;
    char *token;
    size_t n;
    uint64_t moved;
    (void)state;
    f->reply = replyQueues;
    c = openClient(f->addr, 2000);

    assert_int_equal(qraft_list_queues(c, "p", 2, NULL, &list, &n, &next), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "b");
    assert_string_equal(next, "t1");
    qraft_strings_free(list, n);
    a = argsOf(f, 0);
    isStr(get(a, "QueueNamePrefix"), "p");
    isUint(get(a, "MaxResults"), 2);
    assert_null(get(a, "NextToken"));
    token = next;
    assert_int_equal(qraft_list_queues(c, "p", 2, token, &list, &n, &next), 0);
    free(token);
    assert_int_equal(n, 1);
    assert_string_equal(list[0], "c");
    assert_null(next); /* last page */
    qraft_strings_free(list, n);
    isStr(get(argsOf(f, 1), "NextToken"), "t1");
    assert_int_equal(qraft_list_queues(c, NULL, 0, NULL, &list, &n, NULL), 0);
    qraft_strings_free(list, n);
    assert_int_equal(argsOf(f, 2)->via.map.size, 0);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->seen[0].seq, 0); /* no session */
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(qraft_list_queues(c, NULL, 1001, NULL, &list, &n, NULL),
                     QRAFT_EINVAL);

    assert_int_equal(qraft_create_queue(c, "q.fifo", attrs, 2, tags, 1), 0);
    opIs(f, 3, "CreateQueue");
    a = argsOf(f, 3);
    isStr(get(a, "QueueName"), "q.fifo");
    isStr(get(get(a, "Attributes"), "VisibilityTimeout"), "60");
    isStr(get(get(a, "Tags"), "team"), "core");

    assert_int_equal(qraft_get_queue_attributes(c, "q", names, 2, &got, &n),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].name, "VisibilityTimeout");
    assert_string_equal(got[0].value, "30");
    qraft_attrs_free(got, n);
    a = get(argsOf(f, 4), "AttributeNames");
    assert_non_null(a);
    assert_int_equal(a->via.array.size, 2);
    isStr(&a->via.array.ptr[1], "FifoQueue");
    assert_int_equal(qraft_get_queue_attributes(c, "q", NULL, 0, &got, &n), 0);
    qraft_attrs_free(got, n);
    assert_null(get(argsOf(f, 5), "AttributeNames")); /* All */

    assert_int_equal(qraft_set_queue_attributes(c, "q", attrs, 2), 0);
    opIs(f, 6, "SetQueueAttributes");
    assert_int_equal(qraft_tag_queue(c, "q", tags, 1), 0);
    opIs(f, 7, "TagQueue");
    assert_int_equal(qraft_untag_queue(c, "q", keys, 1), 0);
    isStr(&get(argsOf(f, 8), "TagKeys")->via.array.ptr[0], "team");
    assert_int_equal(qraft_list_queue_tags(c, "q", &got, &n), 0);
    assert_int_equal(n, 2);
    qraft_attrs_free(got, n);
    assert_int_equal(qraft_purge_queue(c, "q"), 0);
    opIs(f, 10, "PurgeQueue");
    assert_int_equal(qraft_start_message_move_task(c, "dlq", NULL, &moved), 0);
    assert_int_equal(moved, 17);
    a = argsOf(f, 11);
    isStr(get(a, "SourceQueueName"), "dlq");
    assert_null(get(a, "DestinationQueueName"));
    assert_int_equal(qraft_list_dead_letter_source_queues(c, "dlq", 0, NULL,
                                                          &list, &n, NULL),
                     0);
    qraft_strings_free(list, n);
    isStr(get(argsOf(f, 12), "QueueName"), "dlq");
    assert_int_equal(qraft_delete(c, "q", "rc"), 0);
    isStr(get(argsOf(f, 13), "ReceiptHandle"), "rc");
    assert_int_equal(qraft_change_visibility(c, "q", "rc", 0), 0);
    isUint(get(argsOf(f, 14), "VisibilityTimeout"), 0);
    assert_int_equal(qraft_delete_queue(c, "q"), 0);
    opIs(f, 15, "DeleteQueue");

    /* Refused before sending. */
    assert_int_equal(qraft_set_queue_attributes(c, "q", attrs, 0),
                     QRAFT_EINVAL);
    assert_int_equal(qraft_untag_queue(c, "q", NULL, 1), QRAFT_EINVAL);
    assert_int_equal(qraft_change_visibility(c, "q", "rc", -1), QRAFT_EINVAL);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 16);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
    msgpack_unpacked_destroy(&argsUnp);
}

/* A malformed result: Messages is a string. */
static size_t replyBroken(struct fake *f,
                          const struct qraft_request *req,
                          msgpack_packer *pk)
{
    (void)f;
    (void)req;
    kvStr(pk, "Messages", "nope");
    return 1;
}

static void malformedResultIsProtocolError(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    struct qraft_message *m;
    qraft_client *c;
    size_t n;
    (void)state;
    f->reply = replyBroken;
    c = openClient(f->addr, 2000);
    assert_int_equal(qraft_receive(c, "q", NULL, &m, &n), QRAFT_EPROTO);
    assert_null(m);
    assert_int_equal(n, 0);
    assert_non_null(strstr(qraft_errmsg(c), "ReceiveMessage"));
    /* SendMessage without a MessageId. */
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, NULL), QRAFT_EPROTO);
    qraft_close(c);
    fakeStop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(receiveParsesMessages),
        cmocka_unit_test(sendCarriesParamsAndAttributes),
        cmocka_unit_test(batchesReportPerEntry),
        cmocka_unit_test(queueCallsArgsAndResults),
        cmocka_unit_test(malformedResultIsProtocolError),
    };
    msgpack_unpacked_init(&argsUnp);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
