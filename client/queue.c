/* The queue operations of libqraft: CreateQueue, DeleteQueue, ListQueues,
 * Get/SetQueueAttributes, PurgeQueue, Tag/UntagQueue, ListQueueTags,
 * ListDeadLetterSourceQueues, StartMessageMoveTask.
 *
 * Each call checks its arguments (NULL pointers, counts), builds the args
 * map with SQS's parameter names, runs the request through the session
 * engine, and parses the reply it kept. Range checks of values (names,
 * attribute values) are the cluster's: it answers with SQS's errors.
 */
#include "client/internal.h"

#include <stdlib.h>
#include <string.h>

/* Most results a ListQueues page may ask for. */
#define QUEUE_PAGE_MAX 1000

/* Check an array of @n attributes: present if n > 0, no NULL strings. */
static int queueCheckAttrs(qraft_client *c,
                           const struct qraft_attr *v,
                           size_t n)
{
    size_t i;
    if (n > 0 && v == NULL) {
        return opsInval(c, "an attribute array is NULL but its count is not 0");
    }
    for (i = 0; i < n; i++) {
        if (v[i].name == NULL || v[i].value == NULL) {
            return opsInval(c, "an attribute has a NULL name or value");
        }
    }
    return 0;
}

/* Check an array of @n strings: present if n > 0, no NULL entry. */
static int queueCheckStrings(qraft_client *c, const char *const *v, size_t n)
{
    size_t i;
    if (n > 0 && v == NULL) {
        return opsInval(c, "a string array is NULL but its count is not 0");
    }
    for (i = 0; i < n; i++) {
        if (v[i] == NULL) {
            return opsInval(c, "a string array holds NULL");
        }
    }
    return 0;
}

/* Build and run a request whose only argument is @key = @name. */
static int queueSimple(qraft_client *c, int op, const char *key, const char *name)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, name, "");
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 1);
    argsStr(&a, key, name);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, op, args, len), NULL);
}

QRAFT_API int qraft_create_queue(qraft_client *c,
                                 const char *name,
                                 const struct qraft_attr *attrs,
                                 size_t n_attrs,
                                 const struct qraft_attr *tags,
                                 size_t n_tags)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, name, "");
    if (rv == 0) {
        rv = queueCheckAttrs(c, attrs, n_attrs);
    }
    if (rv == 0) {
        rv = queueCheckAttrs(c, tags, n_tags);
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 1 + (n_attrs > 0) + (n_tags > 0));
    argsStr(&a, "QueueName", name);
    if (n_attrs > 0) {
        argsAttrMap(&a, "Attributes", attrs, n_attrs);
    }
    if (n_tags > 0) {
        argsAttrMap(&a, "Tags", tags, n_tags);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, CLIENT_OP_CREATE_QUEUE, args, len), NULL);
}

QRAFT_API int qraft_delete_queue(qraft_client *c, const char *name)
{
    return queueSimple(c, CLIENT_OP_DELETE_QUEUE, "QueueName", name);
}

QRAFT_API int qraft_purge_queue(qraft_client *c, const char *queue)
{
    return queueSimple(c, CLIENT_OP_PURGE_QUEUE, "QueueName", queue);
}

/* ListQueues and ListDeadLetterSourceQueues: @key names @name (the prefix
 * or the dead-letter queue, NULL: absent), then paging. */
static int queueList(qraft_client *c,
                     int op,
                     const char *key,
                     const char *name,
                     unsigned max_results,
                     const char *next_token,
                     char ***names,
                     size_t *n,
                     char **next_out)
{
    struct argsBuf a;
    struct clientReq *done;
    struct wireCursor cur;
    struct wireValue v;
    void *args;
    size_t len;
    int found;
    int rv = opsCheck(c, names, n);
    if (rv != 0) {
        return rv;
    }
    *names = NULL;
    *n = 0;
    if (next_out != NULL) {
        *next_out = NULL;
    }
    if (max_results > QUEUE_PAGE_MAX) {
        return opsInval(c, "max_results must be 0..1000");
    }
    argsInit(&a, (name != NULL) + (max_results > 0) + (next_token != NULL));
    if (name != NULL) {
        argsStr(&a, key, name);
    }
    if (max_results > 0) {
        argsUint(&a, "MaxResults", max_results);
    }
    if (next_token != NULL) {
        argsStr(&a, "NextToken", next_token);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    rv = opsRun(c, clientReqNew(c, op, args, len), &done);
    if (rv != 0) {
        return rv;
    }
    found = opsFind(done->reply, done->replyLen, "QueueNames", &cur, &v);
    if (found < 0) {
        return opsBadReply(c, done, "is malformed");
    }
    if (found == 1) {
        rv = opsStrings(&cur, &v, names, n);
        if (rv != 0) {
            clientReqFree(done);
            clientErrf(c, "%s: QueueNames of the reply", qraft_errname(rv));
            return rv;
        }
    }
    found = opsFind(done->reply, done->replyLen, "NextToken", &cur, &v);
    if (found == 1 && v.type == WIRE_STR && v.len > 0 && next_out != NULL) {
        *next_out = opsDup(&v);
        if (*next_out == NULL) {
            qraft_strings_free(*names, *n);
            *names = NULL;
            *n = 0;
            clientReqFree(done);
            return opsRun(c, NULL, NULL);
        }
    }
    clientReqFree(done);
    return 0;
}

QRAFT_API int qraft_list_queues(qraft_client *c,
                                const char *prefix,
                                unsigned max_results,
                                const char *next_token,
                                char ***names,
                                size_t *n,
                                char **next_out)
{
    return queueList(c, CLIENT_OP_LIST_QUEUES, "QueueNamePrefix", prefix,
                     max_results, next_token, names, n, next_out);
}

QRAFT_API int qraft_list_dead_letter_source_queues(qraft_client *c,
                                                   const char *dlq,
                                                   unsigned max_results,
                                                   const char *next_token,
                                                   char ***names,
                                                   size_t *n,
                                                   char **next_out)
{
    if (c != NULL && dlq == NULL) {
        return opsInval(c, "a required argument is NULL");
    }
    return queueList(c, CLIENT_OP_LIST_DLQ_SOURCES, "QueueName", dlq,
                     max_results, next_token, names, n, next_out);
}

/* Run @r and parse the map of strings under @key of its reply into
 * @out and @n (absent: empty). */
static int queueStrMapCall(qraft_client *c,
                           struct clientReq *r,
                           const char *key,
                           struct qraft_attr **out,
                           size_t *n)
{
    struct clientReq *done;
    struct wireCursor cur;
    struct wireValue v;
    int found;
    int rv = opsRun(c, r, &done);
    if (rv != 0) {
        return rv;
    }
    found = opsFind(done->reply, done->replyLen, key, &cur, &v);
    if (found < 0) {
        return opsBadReply(c, done, "is malformed");
    }
    if (found == 1) {
        rv = opsStrMap(&cur, &v, out, n);
        if (rv != 0) {
            clientErrf(c, "%s: %s of the %s reply", qraft_errname(rv), key,
                       clientOpName(done->op));
        }
    }
    clientReqFree(done);
    return rv;
}

QRAFT_API int qraft_get_queue_attributes(qraft_client *c,
                                         const char *queue,
                                         const char *const *names,
                                         size_t n_names,
                                         struct qraft_attr **attrs,
                                         size_t *n)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, attrs != NULL && n != NULL ? "" : NULL);
    if (rv != 0) {
        return rv;
    }
    *attrs = NULL;
    *n = 0;
    if (names == NULL) {
        n_names = 0;
    }
    rv = queueCheckStrings(c, names, n_names);
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 1 + (n_names > 0));
    argsStr(&a, "QueueName", queue);
    if (n_names > 0) {
        argsStrArray(&a, "AttributeNames", names, n_names);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return queueStrMapCall(
        c, clientReqNew(c, CLIENT_OP_GET_QUEUE_ATTRIBUTES, args, len),
        "Attributes", attrs, n);
}

/* SetQueueAttributes and TagQueue: QueueName plus a map under @key. */
static int queueSetMap(qraft_client *c,
                       int op,
                       const char *queue,
                       const char *key,
                       const struct qraft_attr *v,
                       size_t n)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, "");
    if (rv == 0 && n == 0) {
        rv = opsInval(c, "at least one attribute or tag is needed");
    }
    if (rv == 0) {
        rv = queueCheckAttrs(c, v, n);
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsAttrMap(&a, key, v, n);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, op, args, len), NULL);
}

QRAFT_API int qraft_set_queue_attributes(qraft_client *c,
                                         const char *queue,
                                         const struct qraft_attr *attrs,
                                         size_t n)
{
    return queueSetMap(c, CLIENT_OP_SET_QUEUE_ATTRIBUTES, queue, "Attributes",
                       attrs, n);
}

QRAFT_API int qraft_tag_queue(qraft_client *c,
                              const char *queue,
                              const struct qraft_attr *tags,
                              size_t n)
{
    return queueSetMap(c, CLIENT_OP_TAG_QUEUE, queue, "Tags", tags, n);
}

QRAFT_API int qraft_untag_queue(qraft_client *c,
                                const char *queue,
                                const char *const *keys,
                                size_t n)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, "");
    if (rv == 0 && n == 0) {
        rv = opsInval(c, "at least one tag key is needed");
    }
    if (rv == 0) {
        rv = queueCheckStrings(c, keys, n);
    }
    if (rv != 0) {
        return rv;
    }
    argsInit(&a, 2);
    argsStr(&a, "QueueName", queue);
    argsStrArray(&a, "TagKeys", keys, n);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return opsRun(c, clientReqNew(c, CLIENT_OP_UNTAG_QUEUE, args, len), NULL);
}

QRAFT_API int qraft_list_queue_tags(qraft_client *c,
                                    const char *queue,
                                    struct qraft_attr **tags,
                                    size_t *n)
{
    struct argsBuf a;
    void *args;
    size_t len;
    int rv = opsCheck(c, queue, tags != NULL && n != NULL ? "" : NULL);
    if (rv != 0) {
        return rv;
    }
    *tags = NULL;
    *n = 0;
    argsInit(&a, 1);
    argsStr(&a, "QueueName", queue);
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    return queueStrMapCall(
        c, clientReqNew(c, CLIENT_OP_LIST_QUEUE_TAGS, args, len), "Tags",
        tags, n);
}

QRAFT_API int qraft_start_message_move_task(qraft_client *c,
                                            const char *dlq,
                                            const char *dest,
                                            uint64_t *moved)
{
    struct argsBuf a;
    struct clientReq *done;
    struct wireCursor cur;
    struct wireValue v;
    void *args;
    size_t len;
    int found;
    int rv = opsCheck(c, dlq, "");
    if (rv != 0) {
        return rv;
    }
    if (moved != NULL) {
        *moved = 0;
    }
    argsInit(&a, 1 + (dest != NULL));
    argsStr(&a, "SourceQueueName", dlq);
    if (dest != NULL) {
        argsStr(&a, "DestinationQueueName", dest);
    }
    if (argsEnd(&a, &args, &len) != 0) {
        return opsRun(c, NULL, NULL);
    }
    rv = opsRun(c, clientReqNew(c, CLIENT_OP_START_MOVE_TASK, args, len),
                &done);
    if (rv != 0) {
        return rv;
    }
    found = opsFind(done->reply, done->replyLen, "MovedCount", &cur, &v);
    if (found < 0 || (found == 1 && v.type != WIRE_UINT)) {
        return opsBadReply(c, done, "is malformed");
    }
    if (found == 1 && moved != NULL) {
        *moved = v.u;
    }
    clientReqFree(done);
    return 0;
}
