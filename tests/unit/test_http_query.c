/* Unit tests of the SQS query protocol's request side (node/http/query.c):
 * form decoding, the flattened list and map forms, and their errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/http/http.h"

/* Decode @form into parameters; the test fails if it does not. */
static json_t *paramsOf(const char *form)
{
    json_t *flat = NULL, *params = NULL;
    const char *code = NULL;
    char errmsg[256];

    assert_int_equal(httpFormDecode(form, strlen(form), &flat, &code, errmsg, sizeof errmsg), 0);
    assert_int_equal(httpQueryParams(flat, &params, &code, errmsg, sizeof errmsg), 0);
    json_decref(flat);
    return params;
}

/* The error name of decoding @form (fails the test if it succeeds). */
static const char *errorOf(const char *form)
{
    json_t *flat = NULL, *params = NULL;
    const char *code = NULL;
    char errmsg[256];

    if (httpFormDecode(form, strlen(form), &flat, &code, errmsg, sizeof errmsg) == 0) {
        int rv = httpQueryParams(flat, &params, &code, errmsg, sizeof errmsg);
        json_decref(flat);
        json_decref(params);
        assert_int_equal(rv, -1);
    }
    assert_non_null(code);
    return code;
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void percentAndPlus(void **state)
{
    json_t *flat = NULL;
    const char *code;
    char errmsg[128];
    const char form[] = "Action=SendMessage&MessageBody=a+b%26c%3D%E2%82%AC&Empty=&NoValue";

    (void)state;
    assert_int_equal(httpFormDecode(form, strlen(form), &flat, &code, errmsg, sizeof errmsg), 0);
    assert_string_equal(str(flat, "Action"), "SendMessage");
    assert_string_equal(str(flat, "MessageBody"), "a b&c=\xe2\x82\xac");
    assert_string_equal(str(flat, "Empty"), "");
    assert_string_equal(str(flat, "NoValue"), "");
    json_decref(flat);
}

static void badEscapesAndUtf8(void **state)
{
    (void)state;
    assert_string_equal(errorOf("Action=X&A=%4"), "MalformedQueryString");
    assert_string_equal(errorOf("Action=X&A=%zz"), "MalformedQueryString");
    assert_string_equal(errorOf("Action=X&=v"), "MalformedQueryString");
    assert_string_equal(errorOf("Action=SendMessage&MessageBody=%FF%FE"), "InvalidMessageContents");
    assert_string_equal(errorOf("Action=X&QueueUrl=%C3"), "InvalidParameterValue");
}

static void attributesMap(void **state)
{
    json_t *p = paramsOf("Action=CreateQueue&Version=2012-11-05&QueueName=q"
                         "&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=10"
                         "&Attribute.2.Name=DelaySeconds&Attribute.2.Value=5"
                         "&Tag.1.Key=team&Tag.1.Value=blue");
    json_t *attrs = json_object_get(p, "Attributes");
    json_t *tags = json_object_get(p, "Tags");

    (void)state;
    assert_null(json_object_get(p, "Action"));
    assert_null(json_object_get(p, "Version"));
    assert_string_equal(str(p, "QueueName"), "q");
    assert_int_equal(json_object_size(attrs), 2);
    assert_string_equal(str(attrs, "VisibilityTimeout"), "10");
    assert_string_equal(str(attrs, "DelaySeconds"), "5");
    assert_string_equal(str(tags, "team"), "blue");
    json_decref(p);
}

static void messageAttributes(void **state)
{
    json_t *p = paramsOf("Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F1%2Fq&MessageBody=x"
                         "&MessageAttribute.1.Name=s&MessageAttribute.1.Value.DataType=String"
                         "&MessageAttribute.1.Value.StringValue=v"
                         "&MessageAttribute.2.Name=b&MessageAttribute.2.Value.DataType=Binary"
                         "&MessageAttribute.2.Value.BinaryValue=AAE%3D"
                         "&MessageSystemAttribute.1.Name=AWSTraceHeader"
                         "&MessageSystemAttribute.1.Value.DataType=String"
                         "&MessageSystemAttribute.1.Value.StringValue=Root%3D1");
    json_t *ma = json_object_get(p, "MessageAttributes");
    json_t *sys = json_object_get(p, "MessageSystemAttributes");

    (void)state;
    assert_string_equal(str(json_object_get(ma, "s"), "DataType"), "String");
    assert_string_equal(str(json_object_get(ma, "s"), "StringValue"), "v");
    assert_string_equal(str(json_object_get(ma, "b"), "BinaryValue"), "AAE=");
    assert_string_equal(str(json_object_get(sys, "AWSTraceHeader"), "StringValue"), "Root=1");
    assert_string_equal(str(p, "QueueUrl"), "http://h/1/q");
    json_decref(p);
}

static void listsAndEntries(void **state)
{
    json_t *p = paramsOf("Action=SendMessageBatch&QueueUrl=q"
                         "&SendMessageBatchRequestEntry.1.Id=a"
                         "&SendMessageBatchRequestEntry.1.MessageBody=one"
                         "&SendMessageBatchRequestEntry.2.Id=b"
                         "&SendMessageBatchRequestEntry.2.MessageBody=two"
                         "&SendMessageBatchRequestEntry.2.DelaySeconds=3"
                         "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=k"
                         "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=Number"
                         "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=1"
                         "&AttributeName.1=All&AttributeName.3=SentTimestamp"
                         "&MessageAttributeName.1=k&MessageSystemAttributeName.1=All"
                         "&TagKey.1=t1&TagKey.2=t2");
    json_t *entries = json_object_get(p, "Entries");
    json_t *second = json_array_get(entries, 1);

    (void)state;
    assert_int_equal(json_array_size(entries), 2);
    assert_string_equal(str(json_array_get(entries, 0), "Id"), "a");
    assert_string_equal(str(second, "DelaySeconds"), "3");
    assert_string_equal(
        str(json_object_get(json_object_get(second, "MessageAttributes"), "k"), "DataType"),
        "Number");
    /* A hole in the numbering is closed up. */
    assert_int_equal(json_array_size(json_object_get(p, "AttributeNames")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "AttributeNames"), 1)),
                        "SentTimestamp");
    assert_int_equal(json_array_size(json_object_get(p, "MessageAttributeNames")), 1);
    assert_int_equal(json_array_size(json_object_get(p, "MessageSystemAttributeNames")), 1);
    assert_int_equal(json_array_size(json_object_get(p, "TagKeys")), 2);
    json_decref(p);
}

static void deleteAndVisibilityEntries(void **state)
{
    json_t *p = paramsOf("Action=DeleteMessageBatch&QueueUrl=q"
                         "&DeleteMessageBatchRequestEntry.1.Id=a"
                         "&DeleteMessageBatchRequestEntry.1.ReceiptHandle=r1");
    json_t *v = paramsOf("Action=ChangeMessageVisibilityBatch&QueueUrl=q"
                         "&ChangeMessageVisibilityBatchRequestEntry.1.Id=a"
                         "&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=r1"
                         "&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=0");

    (void)state;
    assert_string_equal(str(json_array_get(json_object_get(p, "Entries"), 0), "ReceiptHandle"),
                        "r1");
    assert_string_equal(
        str(json_array_get(json_object_get(v, "Entries"), 0), "VisibilityTimeout"), "0");
    json_decref(p);
    json_decref(v);
}

/* botocore sends an empty list or map as "Member=" under its JSON name. */
static void emptyListsAndMaps(void **state)
{
    json_t *p = paramsOf("Action=SendMessageBatch&QueueUrl=q&Entries=");
    json_t *a = paramsOf("Action=CreateQueue&QueueName=q&Attributes=&AttributeNames=&Tag=");

    (void)state;
    assert_true(json_is_array(json_object_get(p, "Entries")));
    assert_int_equal(json_array_size(json_object_get(p, "Entries")), 0);
    assert_true(json_is_object(json_object_get(a, "Attributes")));
    assert_true(json_is_array(json_object_get(a, "AttributeNames")));
    assert_true(json_is_object(json_object_get(a, "Tags")));
    assert_null(json_object_get(a, "Tag"));
    json_decref(p);
    json_decref(a);
}

static void malformedPaths(void **state)
{
    (void)state;
    /* A value and a structure at the same place. */
    assert_string_equal(errorOf("Action=X&Attribute.1=a&Attribute.1.Name=b"),
                        "MalformedQueryString");
    /* Index 0, and an index past the bound. */
    assert_string_equal(errorOf("Action=X&AttributeName.0=All"), "MalformedQueryString");
    assert_string_equal(errorOf("Action=X&AttributeName.1001=All"), "MalformedQueryString");
    /* A map entry without its name. */
    assert_string_equal(errorOf("Action=X&Attribute.1.Value=10"), "InvalidParameterValue");
    assert_string_equal(errorOf("Action=X&A..B=1"), "MalformedQueryString");
}

static void queueNameOfUrl(void **state)
{
    const char *name;
    size_t len;

    (void)state;
    assert_true(httpQueueNameOfUrl("http://127.0.0.1:7201/000000000000/orders.fifo", &name, &len));
    assert_int_equal(len, 11);
    assert_memory_equal(name, "orders.fifo", 11);
    assert_true(httpQueueNameOfUrl("bare", &name, &len));
    assert_false(httpQueueNameOfUrl("http://h/1/", &name, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percentAndPlus),
        cmocka_unit_test(badEscapesAndUtf8),
        cmocka_unit_test(attributesMap),
        cmocka_unit_test(messageAttributes),
        cmocka_unit_test(listsAndEntries),
        cmocka_unit_test(deleteAndVisibilityEntries),
        cmocka_unit_test(emptyListsAndMaps),
        cmocka_unit_test(malformedPaths),
        cmocka_unit_test(queueNameOfUrl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
