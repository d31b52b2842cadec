/* The batch operations of libqraft: SendMessageBatch, DeleteMessageBatch,
 * ChangeMessageVisibilityBatch.
 *
 * A batch is one command: the cluster applies every entry it accepts and
 * answers with a Successful and a Failed list, each entry named by its
 * Id. The library gives entries without an Id their index ("0".."9"),
 * and fills the caller's results array in entry order by matching Ids.
 * An entry the reply does not mention gets QRAFT_EPROTO.
 */
#include "client/internal.h"

#include <stdio.h>
#include <string.h>

/* The Id of entry @i: the caller's, or its index written into @buf. */
static const char *batchId(const char *id, size_t i, char *buf, size_t cap)
{
    if (id != NULL) {
        return id;
    }
    snprintf(buf, cap, "%zu", i);
    return buf;
}

/* Check the count and the results array of a batch, for a blocking call
 * (@blocking: not from a callback) or an async one (allowed in
 * callbacks). */
static int batchCheckFrom(qraft_client *c,
                          const char *queue,
                          const void *entries,
                          size_t n,
                          const void *results,
                          bool blocking)
{
    int rv = 0;
    if (blocking) {
        rv = opsCheck(c, queue, results);
    } else if (queue == NULL || results == NULL) {
        rv = opsInval(c, "a required argument is NULL");
    }
    if (rv != 0) {
        return rv;
    }
    if (n == 0 || n > QRAFT_BATCH_MAX || entries == NULL) {
        return opsInval(c, "a batch has 1..10 entries");
    }
    return 0;
}

/* batchCheckFrom for a blocking call. */
static int batchCheck(qraft_client *c,
                      const char *queue,
                      const void *entries,
                      size_t n,
                      const void *results)
{
    return batchCheckFrom(c, queue, entries, n, results, true);
}

/* Index of the result whose id is @v, or -1. */
static int batchFindResult(const struct wireValue *v,
                           struct qraft_batch_result *results,
                           size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (v->type == WIRE_STR && strlen(results[i].id) == v->len &&
            memcmp(results[i].id, v->ptr, v->len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Parse one entry map of Successful (@ok) or Failed into @results. */
static int batchEntry(struct wireCursor *cur,
                      bool ok,
                      struct qraft_batch_result *results,
                      size_t n)
{
    struct qraft_batch_result tmp;
    struct qraft_batch_result *res;
    struct wireValue m;
    struct wireValue k;
    struct wireValue v;
    struct wireValue code;
    struct wireValue message;
    size_t i;
    int at = -1;
    int rv = 0;
    memset(&tmp, 0, sizeof tmp);
    memset(&code, 0, sizeof code);
    memset(&message, 0, sizeof message);
    if (wireNext(cur, &m) != 0 || m.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < m.len && rv == 0; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &v) != 0 || wireSkipElements(cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "Id")) {
            at = batchFindResult(&v, results, n);
        } else if (wireStrEq(&k, "MessageId")) {
            rv = opsText(&v, tmp.message_id, sizeof tmp.message_id);
        } else if (wireStrEq(&k, "MD5OfMessageBody")) {
            rv = opsText(&v, tmp.md5_body, sizeof tmp.md5_body);
        } else if (wireStrEq(&k, "MD5OfMessageAttributes")) {
            rv = opsText(&v, tmp.md5_attrs, sizeof tmp.md5_attrs);
        } else if (wireStrEq(&k, "SequenceNumber")) {
            rv = opsText(&v, tmp.sequence_number,
                         sizeof tmp.sequence_number);
        } else if (wireStrEq(&k, "Code") && v.type == WIRE_STR) {
            code = v;
        } else if (wireStrEq(&k, "Message") && v.type == WIRE_STR) {
            message = v;
        } else if (wireStrEq(&k, "SenderFault") && v.type == WIRE_BOOL) {
            tmp.sender_fault = v.b;
        }
    }
    if (rv != 0 || at < 0) {
        return -1; /* an Id we did not send */
    }
    res = &results[at];
    memcpy(tmp.id, res->id, sizeof tmp.id);
    if (ok) {
        tmp.status = QRAFT_OK;
    } else {
        tmp.status = code.type == WIRE_STR
                         ? qraft_errcode(code.ptr, code.len)
                         : QRAFT_EINTERNAL;
        if (tmp.status == QRAFT_OK) {
            tmp.status = QRAFT_EPROTO;
        }
        snprintf(tmp.message, sizeof tmp.message, "%s: %.*s",
                 qraft_errname(tmp.status),
                 (int)(message.len > 200 ? 200 : message.len),
                 message.ptr != NULL ? message.ptr : "");
    }
    *res = tmp;
    return 0;
}

/* Parse Successful and Failed of a batch reply into @results (whose ids
 * are set and statuses QRAFT_EPROTO). */
static int batchParse(const void *payload,
                      size_t len,
                      struct qraft_batch_result *results,
                      size_t n)
{
    static const char *const lists[] = {"Successful", "Failed"};
    struct wireCursor cur;
    struct wireValue v;
    size_t l;
    size_t i;
    int found;
    for (l = 0; l < 2; l++) {
        found = opsFind(payload, len, lists[l], &cur, &v);
        if (found < 0 || (found == 1 && v.type != WIRE_ARRAY)) {
            return -1;
        }
        for (i = 0; found == 1 && i < v.len; i++) {
            if (batchEntry(&cur, l == 0, results, n) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Run a batch request @r and fill @results (ids set by the caller). */
/* Every result an error until the reply names its entry (their Ids
 * kept). */
static void batchResultsUnknown(struct qraft_batch_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char id[QRAFT_BATCH_ID_MAX];
        memcpy(id, results[i].id, sizeof id);
        memset(&results[i], 0, sizeof results[i]);
        memcpy(results[i].id, id, sizeof id);
        results[i].status = QRAFT_EPROTO;
        snprintf(results[i].message, sizeof results[i].message,
                 "ProtocolError: the reply does not mention this entry");
    }
}

static int batchRun(qraft_client *c,
                    struct clientReq *r,
                    struct qraft_batch_result *results,
                    size_t n)
{
    struct qraft_batch_result *mine = results;
    struct clientReq *done;
    int rv = opsRun(c, r, &done);
    if (rv != 0) {
        return rv;
    }
    batchResultsUnknown(mine, n);
    if (batchParse(done->reply, done->replyLen, results, n) != 0) {
        return opsBadReply(c, done, "is malformed");
    }
    clientReqFree(done);
    return 0;
}

/* Set results[i].id from the entry's Id. Returns 0 or QRAFT_EINVAL (an Id
 * too long for the result). */
static int batchSetId(qraft_client *c,
                      struct qraft_batch_result *res,
                      const char *id)
{
    if (strlen(id) >= sizeof res->id) {
        return opsInval(c, "a batch entry Id is longer than 80 bytes");
    }
    memset(res, 0, sizeof *res);
    memcpy(res->id, id, strlen(id) + 1);
    return 0;
}

QRAFT_API int qraft_send_batch(qraft_client *c,
                               const char *queue,
                               const struct qraft_send_entry *entries,
                               size_t n,
                               struct qraft_batch_result *results)
{
    struct argsBuf a;
    char buf[24];
    const char *why;
    void *args;
    size_t len;
    size_t i;
    int rv = batchCheck(c, queue, entries, n, results);
    for (i = 0; rv == 0 && i < n; i++) {
        why = argsSendCheck(entries[i].params);
        if (entries[i].body == NULL && entries[i].len > 0) {
            why = "a batch entry has a NULL body";
        }
        rv = why != NULL ? opsInval(c, why) : 0;
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsKey(&a, "Entries");
    if (a.rv == 0) {
        a.rv = msgpack_pack_array(&a.pk, n);
    }
    for (i = 0; i < n; i++) {
        const char *id = batchId(entries[i].id, i, buf, sizeof buf);
        if (batchSetId(c, &results[i], id) != 0) {
            msgpack_sbuffer_destroy(&a.sb);
            return QRAFT_EINVAL;
        }
        if (a.rv == 0) {
            a.rv = msgpack_pack_map(&a.pk,
                                    1 + argsSendPairs(entries[i].params));
        }
        argsStr(&a, "Id", id);
        argsSend(&a, entries[i].body != NULL ? entries[i].body : "",
                 entries[i].len, entries[i].params);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return batchRun(c, clientReqNew(c, CLIENT_OP_SEND_MESSAGE_BATCH, args, len),
                    results, n);
}

/* Check a DeleteMessageBatch (from a blocking call or not, see
 * batchCheckFrom) and build its request, the entries' Ids in @results. 0
 * with *@req set (NULL: out of memory), or an error. */
static int batchDeleteReq(qraft_client *c,
                          const char *queue,
                          const struct qraft_delete_entry *entries,
                          size_t n,
                          struct qraft_batch_result *results,
                          bool blocking,
                          struct clientReq **req)
{
    struct argsBuf a;
    char buf[24];
    void *args;
    size_t len;
    size_t i;
    int rv = batchCheckFrom(c, queue, entries, n, results, blocking);
    *req = NULL;
    for (i = 0; rv == 0 && i < n; i++) {
        if (entries[i].receipt == NULL) {
            rv = opsInval(c, "a batch entry has a NULL receipt");
        }
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsKey(&a, "Entries");
    if (a.rv == 0) {
        a.rv = msgpack_pack_array(&a.pk, n);
    }
    for (i = 0; i < n; i++) {
        const char *id = batchId(entries[i].id, i, buf, sizeof buf);
        if (batchSetId(c, &results[i], id) != 0) {
            msgpack_sbuffer_destroy(&a.sb);
            return QRAFT_EINVAL;
        }
        if (a.rv == 0) {
            a.rv = msgpack_pack_map(&a.pk, 2);
        }
        argsStr(&a, "Id", id);
        argsStr(&a, "ReceiptHandle", entries[i].receipt);
    }
    if (argsEnd(&a, &args, &len) == 0) {
        *req = clientReqNew(c, CLIENT_OP_DELETE_MESSAGE_BATCH, args, len);
    }
    return 0;
}

QRAFT_API int qraft_delete_batch(qraft_client *c,
                                 const char *queue,
                                 const struct qraft_delete_entry *entries,
                                 size_t n,
                                 struct qraft_batch_result *results)
{
    struct clientReq *r;
    int rv = batchDeleteReq(c, queue, entries, n, results, true, &r);
    if (rv != 0) {
        return rv;
    }
    return batchRun(c, r, results, n);
}

/* An async batch is done: its results, from the reply, to the caller. */
static void batchAsyncDone(struct clientReq *r, int status)
{
    qraft_batch_cb cb = (qraft_batch_cb)r->ucb;
    if (status == QRAFT_OK) {
        batchResultsUnknown(r->results, r->nResults);
        if (batchParse(r->reply, r->replyLen, r->results, r->nResults) != 0) {
            status = QRAFT_EPROTO;
        }
    }
    if (cb != NULL) {
        cb(r->arg, status, status == QRAFT_OK ? r->results : NULL, r->nResults);
    }
}

QRAFT_API int qraft_delete_batch_async(qraft_client *c,
                                       const char *queue,
                                       const struct qraft_delete_entry *entries,
                                       size_t n,
                                       qraft_batch_cb cb,
                                       void *arg)
{
    struct qraft_batch_result *results;
    struct clientReq *r;
    int rv;
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    results = calloc(n > 0 ? n : 1, sizeof *results);
    if (results == NULL) {
        clientErrf(c, "NoMemory: out of memory");
        return QRAFT_ENOMEM;
    }
    rv = batchDeleteReq(c, queue, entries, n, results, false, &r);
    if (rv == 0 && r == NULL) {
        clientErrf(c, "NoMemory: out of memory");
        rv = QRAFT_ENOMEM;
    }
    if (rv != 0) {
        free(results);
        return rv;
    }
    r->results = results;
    r->nResults = n;
    r->complete = batchAsyncDone;
    r->ucb = (void (*)(void))cb;
    r->arg = arg;
    clientSubmitAsync(c, r);
    return 0;
}

QRAFT_API int qraft_change_visibility_batch(
    qraft_client *c,
    const char *queue,
    const struct qraft_visibility_entry *entries,
    size_t n,
    struct qraft_batch_result *results)
{
    struct argsBuf a;
    char buf[24];
    void *args;
    size_t len;
    size_t i;
    int rv = batchCheck(c, queue, entries, n, results);
    for (i = 0; rv == 0 && i < n; i++) {
        if (entries[i].receipt == NULL || entries[i].visibility_s < 0) {
            rv = opsInval(c, "a batch entry has a NULL receipt or a "
                             "negative visibility_s");
        }
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsKey(&a, "Entries");
    if (a.rv == 0) {
        a.rv = msgpack_pack_array(&a.pk, n);
    }
    for (i = 0; i < n; i++) {
        const char *id = batchId(entries[i].id, i, buf, sizeof buf);
        if (batchSetId(c, &results[i], id) != 0) {
            msgpack_sbuffer_destroy(&a.sb);
            return QRAFT_EINVAL;
        }
        if (a.rv == 0) {
            a.rv = msgpack_pack_map(&a.pk, 3);
        }
        argsStr(&a, "Id", id);
        argsStr(&a, "ReceiptHandle", entries[i].receipt);
        argsUint(&a, "VisibilityTimeout", (uint64_t)entries[i].visibility_s);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return batchRun(
        c, clientReqNew(c, CLIENT_OP_CHANGE_VISIBILITY_BATCH, args, len),
        results, n);
}
