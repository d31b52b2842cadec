/* The message operations of libqraft, one at a time: SendMessage (blocking
 * and pipelined), ReceiveMessage, DeleteMessage, ChangeMessageVisibility.
 * The batch forms are in batch.c.
 *
 * A receive may be a long poll, held at the leader up to WaitTimeSeconds
 * (the request's, or the queue's default of at most 20 s): its deadline is
 * stretched to cover the wait plus RECEIVE_SLACK_MS, so that an idle queue
 * does not look like a dead leader.
 */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Margin of a long poll's deadline beyond its wait, ms. */
#define MESSAGE_SLACK_MS 5000

/* Deadline of a receive whose wait is the queue's default (up to 20 s). */
#define MESSAGE_DEFAULT_WAIT_MS ((QRAFT_WAIT_MAX * 1000) + MESSAGE_SLACK_MS)

/* Most messages a receive reply may carry before we call it broken. */
#define MESSAGE_REPLY_MAX 1000

/* Build the args of a SendMessage. Returns the request or NULL (out of
 * memory). */
static struct clientReq *messageSendReq(qraft_client *c,
                                        const char *queue,
                                        const void *body,
                                        size_t len,
                                        const struct qraft_send_params *p)
{
    struct argsBuf a;
    void *args;
    size_t alen;
    argsInit(&a, 1 + argsSendPairs(p));
    argsStr(&a, "QueueName", queue);
    argsSend(&a, body, len, p);
    if (argsEnd(&a, &args, &alen) != 0) {
        return NULL;
    }
    return clientReqNew(c, CLIENT_OP_SEND_MESSAGE, args, alen);
}

/* Checks of a send's arguments. Returns 0 or QRAFT_EINVAL. */
static int messageSendCheck(qraft_client *c,
                            const char *queue,
                            const void *body,
                            size_t len,
                            const struct qraft_send_params *p)
{
    const char *why;
    if (queue == NULL || (body == NULL && len > 0)) {
        return opsInval(c, "a required argument is NULL");
    }
    why = argsSendCheck(p);
    return why != NULL ? opsInval(c, why) : 0;
}

QRAFT_API int qraft_send(qraft_client *c,
                         const char *queue,
                         const void *body,
                         size_t len,
                         const struct qraft_send_params *params,
                         struct qraft_send_result *result)
{
    struct clientReq *done;
    struct qraft_send_result res;
    int rv = opsCheck(c, "", "");
    if (rv == 0) {
        rv = messageSendCheck(c, queue, body, len, params);
    }
    if (rv != 0) {
        return rv;
    }
    rv = opsRun(c, messageSendReq(c, queue, body, len, params), &done);
    if (rv != 0) {
        return rv;
    }
    if (opsSendResult(done->reply, done->replyLen, &res) != 0) {
        return opsBadReply(c, done, "is malformed");
    }
    if (result != NULL) {
        *result = res;
    }
    clientReqFree(done);
    return 0;
}

QRAFT_API int qraft_send_async(qraft_client *c,
                               const char *queue,
                               const void *body,
                               size_t len,
                               const struct qraft_send_params *params,
                               qraft_send_cb cb,
                               void *arg)
{
    struct clientReq *r;
    int rv;
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    rv = messageSendCheck(c, queue, body, len, params);
    if (rv != 0) {
        return rv;
    }
    r = messageSendReq(c, queue, body, len, params);
    if (r == NULL) {
        clientErrf(c, "NoMemory: out of memory");
        return QRAFT_ENOMEM;
    }
    r->cb = cb;
    r->arg = arg;
    clientSubmitAsync(c, r);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Receive                                                                 */

/* Parse the system attributes map (header @v just read) into @m. Values
 * are strings of digits (SQS) or integers. */
static int messageSysAttrs(struct wireCursor *cur,
                           const struct wireValue *v,
                           struct qraft_message *m)
{
    struct wireValue k;
    struct wireValue x;
    char num[32];
    size_t i;
    uint64_t u;
    if (v->type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < v->len; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &x) != 0 || wireSkipElements(cur, &x) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "MessageGroupId")) {
            if (opsText(&x, m->group_id, sizeof m->group_id) != 0) {
                return -1;
            }
        } else if (wireStrEq(&k, "MessageDeduplicationId")) {
            if (opsText(&x, m->dedup_id, sizeof m->dedup_id) != 0) {
                return -1;
            }
        } else if (wireStrEq(&k, "SequenceNumber")) {
            if (opsText(&x, m->sequence_number,
                        sizeof m->sequence_number) != 0) {
                return -1;
            }
        } else if (wireStrEq(&k, "SentTimestamp") ||
                   wireStrEq(&k, "ApproximateReceiveCount") ||
                   wireStrEq(&k, "ApproximateFirstReceiveTimestamp")) {
            char *end;
            if (opsText(&x, num, sizeof num) != 0 || num[0] < '0' ||
                num[0] > '9') {
                return -1;
            }
            u = strtoull(num, &end, 10);
            if (*end != '\0') {
                return -1;
            }
            if (k.len == strlen("SentTimestamp")) {
                m->sent_ms = u;
            } else if (k.len == strlen("ApproximateReceiveCount")) {
                m->receive_count = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
            } else {
                m->first_receive_ms = u;
            }
        }
    }
    return 0;
}

/* Parse one message attribute value map {DataType, StringValue |
 * BinaryValue} into @a (name already set). */
static int messageAttrValue(struct wireCursor *cur, struct qraft_message_attr *a)
{
    struct wireValue m;
    struct wireValue k;
    struct wireValue x;
    size_t i;
    if (wireNext(cur, &m) != 0 || m.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < m.len; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &x) != 0 || wireSkipElements(cur, &x) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "DataType")) {
            if (x.type != WIRE_STR || a->type != NULL) {
                return -1;
            }
            a->type = opsDup(&x);
            if (a->type == NULL) {
                return -1;
            }
        } else if (wireStrEq(&k, "StringValue") ||
                   wireStrEq(&k, "BinaryValue")) {
            if ((x.type != WIRE_STR && x.type != WIRE_BIN) ||
                a->value != NULL) {
                return -1;
            }
            a->value = opsDup(&x);
            a->len = x.len;
            if (a->value == NULL) {
                return -1;
            }
        }
    }
    return a->type != NULL && a->value != NULL ? 0 : -1;
}

/* Parse MessageAttributes (header @v just read) into @m. */
static int messageAttrs(struct wireCursor *cur,
                        const struct wireValue *v,
                        struct qraft_message *m)
{
    struct wireValue k;
    size_t i;
    if (v->type != WIRE_MAP || v->len > MESSAGE_REPLY_MAX ||
        m->attrs != NULL) {
        return -1;
    }
    if (v->len == 0) {
        return 0;
    }
    m->attrs = calloc(v->len, sizeof *m->attrs);
    if (m->attrs == NULL) {
        return -1;
    }
    m->n_attrs = v->len;
    for (i = 0; i < v->len; i++) {
        if (wireNext(cur, &k) != 0 || k.type != WIRE_STR) {
            return -1;
        }
        m->attrs[i].name = opsDup(&k);
        if (m->attrs[i].name == NULL ||
            messageAttrValue(cur, &m->attrs[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Parse one message map at @cur into @m (zeroed). */
static int messageParse(struct wireCursor *cur, struct qraft_message *m)
{
    struct wireValue map;
    struct wireValue k;
    struct wireValue v;
    bool id = false;
    bool receipt = false;
    size_t i;
    int rv = 0;
    if (wireNext(cur, &map) != 0 || map.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < map.len && rv == 0; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "Attributes")) {
            rv = messageSysAttrs(cur, &v, m);
            continue;
        }
        if (wireStrEq(&k, "MessageAttributes")) {
            rv = messageAttrs(cur, &v, m);
            continue;
        }
        if (wireSkipElements(cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "MessageId")) {
            rv = opsText(&v, m->id, sizeof m->id);
            id = true;
        } else if (wireStrEq(&k, "ReceiptHandle")) {
            rv = opsText(&v, m->receipt, sizeof m->receipt);
            receipt = true;
        } else if (wireStrEq(&k, "MD5OfBody")) {
            rv = opsText(&v, m->md5_body, sizeof m->md5_body);
        } else if (wireStrEq(&k, "MD5OfMessageAttributes")) {
            rv = opsText(&v, m->md5_attrs, sizeof m->md5_attrs);
        } else if (wireStrEq(&k, "Body")) {
            if ((v.type != WIRE_STR && v.type != WIRE_BIN) ||
                m->body != NULL) {
                return -1;
            }
            m->body = opsDup(&v);
            m->body_len = v.len;
            rv = m->body != NULL ? 0 : -1;
        }
    }
    return rv == 0 && id && receipt && m->body != NULL ? 0 : -1;
}

/* Parse the Messages of a receive reply. */
static int messageParseAll(const void *payload,
                           size_t len,
                           struct qraft_message **msgs,
                           size_t *n)
{
    struct wireCursor cur;
    struct wireValue v;
    struct qraft_message *m;
    size_t i;
    int found = opsFind(payload, len, "Messages", &cur, &v);
    if (found <= 0) {
        return found; /* absent: no message */
    }
    if (v.type != WIRE_ARRAY || v.len > MESSAGE_REPLY_MAX) {
        return -1;
    }
    if (v.len == 0) {
        return 0;
    }
    m = calloc(v.len, sizeof *m);
    if (m == NULL) {
        return -1;
    }
    for (i = 0; i < v.len; i++) {
        if (messageParse(&cur, &m[i]) != 0) {
            qraft_messages_free(m, v.len);
            return -1;
        }
    }
    *msgs = m;
    *n = v.len;
    return 0;
}

/* The request of a ReceiveMessage with @p, or NULL (out of memory). */
static struct clientReq *messageReceiveReq(qraft_client *c,
                                           const char *queue,
                                           const struct qraft_receive_params *p)
{
    static const char *const all[] = {"All"};
    struct argsBuf a;
    struct clientReq *r = NULL;
    void *args;
    size_t len;
    /* Every system and message attribute: struct qraft_message has a
     * field for each, and the node returns only those asked for. */
    argsInit(&a, 4 + (p->visibility_s >= 0) + (p->wait_s >= 0));
    argsStr(&a, "QueueName", queue);
    argsUint(&a, "MaxNumberOfMessages", p->max);
    argsStrArray(&a, "AttributeNames", all, 1);
    argsStrArray(&a, "MessageAttributeNames", all, 1);
    if (p->visibility_s >= 0) {
        argsUint(&a, "VisibilityTimeout", (uint64_t)p->visibility_s);
    }
    if (p->wait_s >= 0) {
        argsUint(&a, "WaitTimeSeconds", (uint64_t)p->wait_s);
    }
    if (argsEnd(&a, &args, &len) == 0) {
        r = clientReqNew(c, CLIENT_OP_RECEIVE_MESSAGE, args, len);
    }
    if (r != NULL && p->wait_s != 0) {
        int64_t ms = p->wait_s < 0 ? MESSAGE_DEFAULT_WAIT_MS
                                   : (int64_t)p->wait_s * 1000 +
                                         MESSAGE_SLACK_MS;
        r->timeoutMs = ms > INT32_MAX ? INT32_MAX : (int)ms;
        if (r->timeoutMs < c->timeoutMs) {
            r->timeoutMs = 0; /* the client's deadline is longer */
        }
    }
    return r;
}

/* Bad receive parameters: the reason, or NULL. */
/* @params, or the defaults (QRAFT_RECEIVE_PARAMS_INIT) when NULL. */
static const struct qraft_receive_params *
messageReceiveParams(const struct qraft_receive_params *params)
{
    static const struct qraft_receive_params defaults = QRAFT_RECEIVE_PARAMS_INIT;
    return params != NULL ? params : &defaults;
}

static const char *messageReceiveCheck(const struct qraft_receive_params *p)
{
    if (p->max == 0 || p->visibility_s < -1 || p->wait_s < -1) {
        return "max must be 1 or more, visibility_s and wait_s -1 or 0 or more";
    }
    return NULL;
}

QRAFT_API int qraft_receive(qraft_client *c,
                            const char *queue,
                            const struct qraft_receive_params *params,
                            struct qraft_message **msgs,
                            size_t *n)
{
    const struct qraft_receive_params *p = messageReceiveParams(params);
    struct clientReq *done;
    const char *why;
    int rv = opsCheck(c, queue, msgs != NULL && n != NULL ? "" : NULL);
    if (rv != 0) {
        return rv;
    }
    *msgs = NULL;
    *n = 0;
    why = messageReceiveCheck(p);
    if (why != NULL) {
        return opsInval(c, why);
    }
    rv = opsRun(c, messageReceiveReq(c, queue, p), &done);
    if (rv != 0) {
        return rv;
    }
    if (messageParseAll(done->reply, done->replyLen, msgs, n) != 0) {
        return opsBadReply(c, done, "is malformed (or too large for memory)");
    }
    clientReqFree(done);
    return 0;
}

/* An async receive is done: parse its messages and hand them over. */
static void messageReceiveDone(struct clientReq *r, int status)
{
    qraft_receive_cb cb = (qraft_receive_cb)r->ucb;
    struct qraft_message *msgs = NULL;
    size_t n = 0;
    if (status == QRAFT_OK && messageParseAll(r->reply, r->replyLen, &msgs, &n) != 0) {
        status = QRAFT_EPROTO;
    }
    if (cb != NULL) {
        cb(r->arg, status, msgs, n);
    }
    qraft_messages_free(msgs, n);
}

QRAFT_API int qraft_receive_async(qraft_client *c,
                                  const char *queue,
                                  const struct qraft_receive_params *params,
                                  qraft_receive_cb cb,
                                  void *arg)
{
    const struct qraft_receive_params *p = messageReceiveParams(params);
    struct clientReq *r;
    const char *why;
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    if (queue == NULL) {
        return opsInval(c, "a required argument is NULL");
    }
    why = messageReceiveCheck(p);
    if (why != NULL) {
        return opsInval(c, why);
    }
    r = messageReceiveReq(c, queue, p);
    if (r == NULL) {
        clientErrf(c, "NoMemory: out of memory");
        return QRAFT_ENOMEM;
    }
    r->complete = messageReceiveDone;
    r->ucb = (void (*)(void))cb;
    r->arg = arg;
    clientSubmitAsync(c, r);
    return 0;
}

QRAFT_API void qraft_messages_free(struct qraft_message *msgs, size_t n)
{
    size_t i;
    size_t j;
    if (msgs == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(msgs[i].body);
        for (j = 0; msgs[i].attrs != NULL && j < msgs[i].n_attrs; j++) {
            free((char *)msgs[i].attrs[j].name);
            free((char *)msgs[i].attrs[j].type);
            free((void *)msgs[i].attrs[j].value);
        }
        free(msgs[i].attrs);
    }
    free(msgs);
}

/* ---------------------------------------------------------------------- */
/* Delete and visibility                                                   */

QRAFT_API int qraft_delete(qraft_client *c,
                           const char *queue,
                           const char *receipt)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, receipt);
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsStr(&a, "ReceiptHandle", receipt);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, CLIENT_OP_DELETE_MESSAGE, args, len),
                  NULL);
}

QRAFT_API int qraft_change_visibility(qraft_client *c,
                                      const char *queue,
                                      const char *receipt,
                                      int visibility_s)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, receipt);
    if (rv != 0) {
        return rv;
    }
    if (visibility_s < 0) {
        return opsInval(c, "visibility_s must be 0 or more");
    }
    argsInit(&a, 3);
    argsStr(&a, "QueueName", queue);
    argsStr(&a, "ReceiptHandle", receipt);
    argsUint(&a, "VisibilityTimeout", (uint64_t)visibility_s);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, CLIENT_OP_CHANGE_VISIBILITY, args, len),
                  NULL);
}
