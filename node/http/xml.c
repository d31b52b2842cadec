/* The SQS query protocol's responses: a result object with the JSON
 * protocol's member names, written as SQS's XML.
 *
 * The happy path: `<XResponse xmlns=...><XResult>members</XResult>
 * <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata>
 * </XResponse>`, where members follow SQS's flattened forms: a list is its
 * elements repeated under the singular name (QueueUrls -> QueueUrl,
 * Messages -> Message, Successful -> the action's ...ResultEntry, Failed
 * -> BatchResultErrorEntry), a map is repeated Name/Value (Attributes,
 * MessageAttributes) or Key/Value (Tags) pairs. Text is escaped
 * (httpXmlEscape). There are no failure modes beyond running out of
 * memory (the buffer's oom flag).
 */
#include "node/http/http.h"

#include <string.h>

static void writeMembers(const struct httpAction *a, const json_t *o, struct httpBuf *b);

static void openTag(struct httpBuf *b, const char *name)
{
    httpBufStr(b, "<");
    httpBufStr(b, name);
    httpBufStr(b, ">");
}

static void closeTag(struct httpBuf *b, const char *name)
{
    httpBufStr(b, "</");
    httpBufStr(b, name);
    httpBufStr(b, ">");
}

/* A scalar's text. */
static void writeScalar(const json_t *v, struct httpBuf *b)
{
    if (json_is_string(v)) {
        httpXmlEscape(b, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        httpBufPrintf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_true(v)) {
        httpBufStr(b, "true");
    } else if (json_is_false(v)) {
        httpBufStr(b, "false");
    } else if (json_is_real(v)) {
        httpBufPrintf(b, "%g", json_real_value(v));
    }
}

/* <name>value</name>, for a scalar, an object (its members) or a list
 * (each element under @name). */
static void writeElement(const struct httpAction *a, const char *name, const json_t *v,
                         struct httpBuf *b)
{
    size_t i;
    json_t *e;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            writeElement(a, name, e, b);
        }
        return;
    }
    openTag(b, name);
    if (json_is_object(v)) {
        writeMembers(a, v, b);
    } else {
        writeScalar(v, b);
    }
    closeTag(b, name);
}

/* A map as repeated <ENTRY><K>key</K><V>value</V></ENTRY>. */
static void writeMap(const struct httpAction *a, const char *entry, const char *kname,
                     const char *vname, const json_t *map, struct httpBuf *b)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)map, key, v)
    {
        openTag(b, entry);
        openTag(b, kname);
        httpXmlEscape(b, key, strlen(key));
        closeTag(b, kname);
        writeElement(a, vname, v, b);
        closeTag(b, entry);
    }
}

static void writeMembers(const struct httpAction *a, const json_t *o, struct httpBuf *b)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "QueueUrls") == 0) {
            writeElement(a, "QueueUrl", v, b);
        } else if (strcmp(key, "Attributes") == 0 && json_is_object(v)) {
            writeMap(a, "Attribute", "Name", "Value", v, b);
        } else if (strcmp(key, "MessageAttributes") == 0 && json_is_object(v)) {
            writeMap(a, "MessageAttribute", "Name", "Value", v, b);
        } else if (strcmp(key, "Tags") == 0 && json_is_object(v)) {
            writeMap(a, "Tag", "Key", "Value", v, b);
        } else if (strcmp(key, "Messages") == 0) {
            writeElement(a, "Message", v, b);
        } else if (strcmp(key, "Successful") == 0) {
            writeElement(a, a->entry != NULL ? a->entry : "Entry", v, b);
        } else if (strcmp(key, "Failed") == 0) {
            writeElement(a, "BatchResultErrorEntry", v, b);
        } else {
            writeElement(a, key, v, b);
        }
    }
}

/* Whether SQS's @a has an output shape. */
static bool hasOutput(const struct httpAction *a)
{
    static const char *const none[] = {"DeleteQueue", "SetQueueAttributes", "PurgeQueue",
                                       "TagQueue", "UntagQueue", "DeleteMessage",
                                       "ChangeMessageVisibility", "AddPermission",
                                       "RemovePermission"};
    size_t i;

    for (i = 0; i < sizeof none / sizeof none[0]; i++) {
        if (strcmp(a->name, none[i]) == 0) {
            return false;
        }
    }
    return true;
}

void httpXmlResult(const struct httpAction *action, const json_t *result,
                   const char *request_id, struct httpBuf *out)
{
    httpBufPrintf(out,
                  "<?xml version=\"1.0\"?><%sResponse "
                  "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">",
                  action->name);
    if (result != NULL && json_object_size(result) > 0) {
        httpBufPrintf(out, "<%sResult>", action->name);
        writeMembers(action, result, out);
        httpBufPrintf(out, "</%sResult>", action->name);
    } else if (hasOutput(action)) {
        /* botocore looks for the Result element of every action that has
         * an output, even an empty one (ListQueues of nothing). */
        httpBufPrintf(out, "<%sResult/>", action->name);
    }
    httpBufStr(out, "<ResponseMetadata><RequestId>");
    httpXmlEscape(out, request_id, strlen(request_id));
    httpBufPrintf(out, "</RequestId></ResponseMetadata></%sResponse>", action->name);
}
