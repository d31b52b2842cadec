/* AWS's error codes, statuses and shapes for every refusal node/http
 * sends, whichever layer made it (fsm, node, HTTP, SigV4).
 *
 * One table maps a name to the code the query protocol sends (also the
 * one in JSON's x-amzn-query-error header, which the SDKs read), the JSON
 * __type and the HTTP status, as current SQS answers them. A name that is
 * not in the table is an internal failure (500): a bug, never a client's
 * fault.
 */
#include "node/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct errorRow
{
    const char *name;
    struct httpError e;
};

#define SENDER true
#define RECEIVER false

static const struct errorRow errorRows[] = {
    /* fsm business errors */
    {"InvalidParameterValue",
     {"InvalidParameterValue", "InvalidParameterValueException", 400, SENDER}},
    {"InvalidCommand", {"InvalidParameterValue", "InvalidParameterValueException", 400, SENDER}},
    {"InvalidAttributeName", {"InvalidAttributeName", "InvalidAttributeName", 400, SENDER}},
    {"InvalidAttributeValue", {"InvalidAttributeValue", "InvalidAttributeValue", 400, SENDER}},
    {"MissingParameter", {"MissingParameter", "MissingParameter", 400, SENDER}},
    {"QueueDoesNotExist",
     {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400, SENDER}},
    {"QueueAlreadyExists", {"QueueAlreadyExists", "QueueNameExists", 400, SENDER}},
    {"QueueDeletedRecently",
     {"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently", 400, SENDER}},
    /* SQS answers a message over the queue's maximum this way. */
    {"MessageTooLong", {"InvalidParameterValue", "InvalidParameterValueException", 400, SENDER}},
    {"InvalidMessageContents", {"InvalidMessageContents", "InvalidMessageContents", 400, SENDER}},
    {"ReceiptHandleIsInvalid", {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400, SENDER}},
    {"MessageNotInflight",
     {"AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight", 400, SENDER}},
    {"OverLimit", {"OverLimit", "OverLimit", 403, SENDER}},
    {"PurgeQueueInProgress",
     {"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress", 403, SENDER}},
    {"EmptyBatchRequest",
     {"AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest", 400, SENDER}},
    {"TooManyEntriesInBatchRequest",
     {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest", 400,
      SENDER}},
    {"BatchEntryIdsNotDistinct",
     {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct", 400,
      SENDER}},
    {"BatchRequestTooLong",
     {"AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", 400, SENDER}},
    {"InvalidBatchEntryId",
     {"AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId", 400, SENDER}},
    {"ResourceNotFoundException",
     {"ResourceNotFoundException", "ResourceNotFoundException", 400, SENDER}},
    {"UnsupportedOperation",
     {"AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation", 400, SENDER}},
    {"InvalidIdFormat", {"InvalidIdFormat", "InvalidIdFormat", 400, SENDER}},
    /* the request itself */
    {"InvalidAction", {"InvalidAction", "InvalidAction", 400, SENDER}},
    {"MissingAction", {"MissingAction", "MissingAction", 400, SENDER}},
    {"UnknownOperationException",
     {"UnknownOperationException", "UnknownOperationException", 400, SENDER}},
    {"MalformedQueryString", {"MalformedQueryString", "MalformedQueryString", 400, SENDER}},
    {"SerializationException",
     {"SerializationException", "SerializationException", 400, SENDER}},
    {"InvalidQueryParameter", {"InvalidQueryParameter", "InvalidQueryParameter", 400, SENDER}},
    {"UnsupportedMediaType", {"InvalidAction", "UnsupportedMediaType", 415, SENDER}},
    {"RequestEntityTooLarge", {"RequestEntityTooLarge", "RequestEntityTooLarge", 413, SENDER}},
    {"RequestHeaderFieldsTooLarge",
     {"RequestHeaderFieldsTooLarge", "RequestHeaderFieldsTooLarge", 431, SENDER}},
    {"AccessDenied", {"AccessDenied", "AccessDeniedException", 403, SENDER}},
    /* SigV4 */
    {"MissingAuthenticationToken",
     {"MissingAuthenticationToken", "MissingAuthenticationTokenException", 403, SENDER}},
    {"IncompleteSignature", {"IncompleteSignature", "IncompleteSignatureException", 403, SENDER}},
    {"InvalidClientTokenId", {"InvalidClientTokenId", "InvalidClientTokenId", 403, SENDER}},
    {"SignatureDoesNotMatch", {"SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, SENDER}},
    {"RequestExpired", {"RequestExpired", "RequestExpired", 403, SENDER}},
    /* the cluster */
    {"ServiceUnavailable", {"ServiceUnavailable", "ServiceUnavailable", 503, RECEIVER}},
    {"InternalError", {"InternalError", "InternalError", 500, RECEIVER}},
};

static const struct httpError internalFailure = {"InternalFailure", "InternalFailure", 500,
                                                 RECEIVER};

const struct httpError *httpErrorByName(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof errorRows / sizeof errorRows[0]; i++) {
        if (strcmp(errorRows[i].name, name) == 0) {
            return &errorRows[i].e;
        }
    }
    return &internalFailure;
}

void httpErrorBody(int proto, const struct httpError *e, const char *message,
                   const char *request_id, struct httpBuf *out, const char **content_type)
{
    if (proto == HTTP_PROTO_JSON) {
        json_t *o = json_object();
        json_t *m;
        char type[128];
        char *text;

        snprintf(type, sizeof type, "com.amazonaws.sqs#%s", e->json_type);
        json_object_set_new(o, "__type", json_string(type));
        /* message may hold bytes that are not UTF-8 (an echoed value):
         * json_string refuses them, so fall back to a generic text. */
        m = json_string(message);
        json_object_set_new(o, "message", m != NULL ? m : json_string("invalid request"));
        text = json_dumps(o, JSON_COMPACT);
        if (text != NULL) {
            httpBufStr(out, text);
            free(text);
        } else {
            out->oom = true;
        }
        json_decref(o);
        *content_type = "application/x-amz-json-1.0";
        return;
    }
    httpBufStr(out, "<?xml version=\"1.0\"?><ErrorResponse "
                    "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>");
    httpBufStr(out, e->sender ? "Sender" : "Receiver");
    httpBufStr(out, "</Type><Code>");
    httpXmlEscape(out, e->query_code, strlen(e->query_code));
    httpBufStr(out, "</Code><Message>");
    httpXmlEscape(out, message, strlen(message));
    httpBufStr(out, "</Message><Detail/></Error><RequestId>");
    httpXmlEscape(out, request_id, strlen(request_id));
    httpBufStr(out, "</RequestId></ErrorResponse>");
    *content_type = "text/xml";
}
