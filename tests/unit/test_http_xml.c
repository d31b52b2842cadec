/* Unit tests of what node/http writes: XML escaping, the query protocol's
 * result documents (xml.c), and the AWS error shapes of both protocols
 * (errors.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/http/http.h"

static void escaping(void **state)
{
    struct httpBuf b;
    const char in[] = "a&b<c>d\"e'f\tg\nh\ri\x01j\xc3\xa9";

    (void)state;
    httpBufInit(&b);
    httpXmlEscape(&b, in, sizeof in - 1);
    assert_string_equal(b.p, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#x9;g&#xA;h&#xD;i?j\xc3\xa9");
    httpBufFree(&b);
    httpBufInit(&b);
    httpXmlEscape(&b, "", 0);
    httpBufStr(&b, "plain");
    assert_string_equal(b.p, "plain");
    httpBufFree(&b);
}

static const struct httpAction *act(const char *name)
{
    const struct httpAction *a = httpActionByName(name, strlen(name));
    assert_non_null(a);
    return a;
}

static char *xmlOf(const char *action, const char *json)
{
    json_error_t err;
    json_t *r = json_loads(json, 0, &err);
    struct httpBuf b;

    assert_non_null(r);
    httpBufInit(&b);
    httpXmlResult(act(action), r, "rid-1", &b);
    json_decref(r);
    return b.p;
}

static void receiveDocument(void **state)
{
    char *x = xmlOf("ReceiveMessage",
                    "{\"Messages\":[{\"MessageId\":\"m1\",\"ReceiptHandle\":\"r1\","
                    "\"MD5OfBody\":\"d\",\"Body\":\"<b>\",\"Attributes\":{\"SentTimestamp\":"
                    "\"1\"},\"MessageAttributes\":{\"k\":{\"DataType\":\"String\","
                    "\"StringValue\":\"v\"}}}]}");

    (void)state;
    assert_string_equal(
        x, "<?xml version=\"1.0\"?><ReceiveMessageResponse "
           "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult>"
           "<Message><MessageId>m1</MessageId><ReceiptHandle>r1</ReceiptHandle>"
           "<MD5OfBody>d</MD5OfBody><Body>&lt;b&gt;</Body><Attribute><Name>SentTimestamp"
           "</Name><Value>1</Value></Attribute><MessageAttribute><Name>k</Name><Value>"
           "<DataType>String</DataType><StringValue>v</StringValue></Value>"
           "</MessageAttribute></Message></ReceiveMessageResult><ResponseMetadata>"
           "<RequestId>rid-1</RequestId></ResponseMetadata></ReceiveMessageResponse>");
    free(x);
    x = xmlOf("ReceiveMessage", "{}");
    assert_non_null(strstr(x, "<ReceiveMessageResult/>"));
    free(x);
}

static void batchAndListDocuments(void **state)
{
    char *x = xmlOf("SendMessageBatch",
                    "{\"Successful\":[{\"Id\":\"a\",\"MessageId\":\"m\"}],\"Failed\":[{\"Id\":"
                    "\"b\",\"SenderFault\":true,\"Code\":\"InvalidParameterValue\","
                    "\"Message\":\"no\"}]}");

    (void)state;
    assert_non_null(strstr(x, "<SendMessageBatchResultEntry><Id>a</Id><MessageId>m</MessageId>"
                              "</SendMessageBatchResultEntry>"));
    assert_non_null(strstr(x, "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault>"
                              "<Code>InvalidParameterValue</Code><Message>no</Message>"
                              "</BatchResultErrorEntry>"));
    free(x);
    x = xmlOf("ListQueues", "{\"QueueUrls\":[\"u1\",\"u2\"]}");
    assert_non_null(strstr(x, "<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl>"
                              "</ListQueuesResult>"));
    free(x);
    x = xmlOf("ListQueueTags", "{\"Tags\":{\"k\":\"v\"}}");
    assert_non_null(strstr(x, "<Tag><Key>k</Key><Value>v</Value></Tag>"));
    free(x);
    /* No result members: no Result element. */
    x = xmlOf("DeleteQueue", "{}");
    assert_null(strstr(x, "DeleteQueueResult"));
    assert_non_null(strstr(x, "<DeleteQueueResponse "));
    free(x);
}

static void errorShapes(void **state)
{
    struct httpBuf b;
    const char *type;
    const struct httpError *e = httpErrorByName("QueueDoesNotExist");

    (void)state;
    assert_string_equal(e->query_code, "AWS.SimpleQueueService.NonExistentQueue");
    assert_int_equal(e->status, 400);
    httpBufInit(&b);
    httpErrorBody(HTTP_PROTO_QUERY, e, "no <queue>", "rid", &b, &type);
    assert_string_equal(type, "text/xml");
    assert_string_equal(b.p, "<?xml version=\"1.0\"?><ErrorResponse "
                             "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>"
                             "Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
                             "<Message>no &lt;queue&gt;</Message><Detail/></Error><RequestId>rid"
                             "</RequestId></ErrorResponse>");
    httpBufFree(&b);
    httpBufInit(&b);
    httpErrorBody(HTTP_PROTO_JSON, e, "no queue", "rid", &b, &type);
    assert_string_equal(type, "application/x-amz-json-1.0");
    assert_string_equal(b.p, "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\","
                             "\"message\":\"no queue\"}");
    httpBufFree(&b);
    /* A message that is not UTF-8 still gives valid JSON. */
    httpBufInit(&b);
    httpErrorBody(HTTP_PROTO_JSON, e, "\xff", "rid", &b, &type);
    assert_non_null(strstr(b.p, "\"message\":\"invalid request\""));
    httpBufFree(&b);

    assert_string_equal(httpErrorByName("QueueAlreadyExists")->json_type, "QueueNameExists");
    assert_int_equal(httpErrorByName("SignatureDoesNotMatch")->status, 403);
    assert_int_equal(httpErrorByName("MissingAuthenticationToken")->status, 403);
    assert_int_equal(httpErrorByName("RequestEntityTooLarge")->status, 413);
    assert_int_equal(httpErrorByName("ServiceUnavailable")->status, 503);
    assert_false(httpErrorByName("ServiceUnavailable")->sender);
    assert_string_equal(httpErrorByName("MessageTooLong")->query_code, "InvalidParameterValue");
    assert_string_equal(httpErrorByName("no such name")->query_code, "InternalFailure");
    assert_int_equal(httpErrorByName("no such name")->status, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping),
        cmocka_unit_test(receiveDocument),
        cmocka_unit_test(batchAndListDocuments),
        cmocka_unit_test(errorShapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
