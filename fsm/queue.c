/* Queues: records, and the queue management ops (CreateQueue, DeleteQueue,
 * ListQueues, PurgeQueue, Tag/Untag/ListQueueTags,
 * ListDeadLetterSourceQueues). Attributes live beside: attrs.c parses an
 * Attributes map, queueattrs.c applies it to a record (CreateQueue calls
 * queueCheckRedrive, queueApplyAttrs and queueAttrsDiffer there) and
 * serves Get/SetQueueAttributes.
 *
 * The happy path for CreateQueue is: no queue of that name (or one with the
 * same attributes: the same reply, nothing written), no recent tombstone, a
 * valid redrive target; then a fresh id, the record and its tags. Failure
 * modes are: QueueAlreadyExists, QueueDeletedRecently or a rejected
 * RedrivePolicy, replied before any write; a malformed record or counter
 * (FSM_ECORRUPT) or a store error, returned as is (the node fail-stops).
 *
 * Tables (integers big-endian):
 * - queues:     name -> queue record (below). The id comes from meta
 *               "next_queue" (from 1, never reused), so every other key of
 *               a queue starts with id(8) and a deleted queue's keys never
 *               meet a new queue's.
 * - tombstones: name -> deleted_ms(8): CreateQueue of a name deleted less
 *               than 60 s ago is QueueDeletedRecently; tick expires them.
 * - tags:       id(8) key -> value.
 *
 * Two ids: a queue's identity (id: tags, dedupe, receipts, message ids)
 * and its message keyspace (mid: the prefix of its keys in messages,
 * msgstate, ready, inflight, retention and groups). They are equal until
 * the first purge; both come from the same counter, so no two ever meet.
 *
 * DeleteQueue and PurgeQueue do O(1) work whatever the queue holds (the
 * removal of a million messages in one apply would stop every node's loop
 * at the same entry for seconds: no heartbeats, elections, every other
 * queue stalled):
 * - DeleteQueue removes the record and writes the tombstone at once, so
 *   the name is gone for every read and a later CreateQueue gets a fresh
 *   id and keyspace; it hands the keyspace mid (messages) and the id
 *   (tags, dedupe) to the sweeper (sweep.c);
 * - PurgeQueue gives the queue a fresh keyspace from the id counter and
 *   zero counters, and hands the old keyspace to the sweeper: every
 *   message present at the purge is out of reach of every command at once
 *   (nothing reads another keyspace), while sends after it go to the new
 *   one. Tags and deduplication ids stay with the queue, as before.
 * The sweeper then removes the dead keys in bounded slices (sweep.c).
 *
 * Queue record: id(8) created_ms(8) modified_ms(8) next_seq(8) purge_ms(8)
 * n_ready(8) n_inflight(8) vis(4) retention(4) delay(4) maxsize(4) wait(4)
 * max_rc(4) flags(1) redrive_len(2) dlq_len(1) cursor_len(1), then mid(8)
 * if flags has QUEUE_F_KEYSPACE (mid differs from id; records without it
 * have mid = id), then the RedrivePolicy text, the dead-letter queue's
 * name, the FIFO cursor (the last group served: glen(1) group), and the
 * RedriveAllowPolicy text
 * (the rest of the record; records written before it existed end after
 * the cursor).
 *
 * Every op checks everything before it writes, so a business error leaves
 * the tables untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Length of the fixed part of a queue record. */
#define QUEUE_FIXED_LEN 85

/* Offset of the RedrivePolicy text in a record whose fixed part is @p:
 * after mid when the record has one. */
static size_t queueVarOffset(const uint8_t *p)
{
    return QUEUE_FIXED_LEN + ((p[80] & QUEUE_F_KEYSPACE) ? 8 : 0);
}

int queueGet(struct fsm *f, const char *name, size_t len,
             struct queueRecord *q, bool *found)
{
    struct storeVal v;
    const uint8_t *p;
    size_t var;
    int rv;

    rv = storeGet(&f->store, STORE_QUEUES, name, len, &v, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    p = v.data;
    if (v.len < QUEUE_FIXED_LEN || len > FSM_QUEUE_NAME_MAX) {
        goto corrupt;
    }
    var = queueVarOffset(p);
    q->id = beGet64(p);
    q->created_ms = beGet64(p + 8);
    q->modified_ms = beGet64(p + 16);
    q->next_seq = beGet64(p + 24);
    q->purge_ms = beGet64(p + 32);
    q->n_ready = beGet64(p + 40);
    q->n_inflight = beGet64(p + 48);
    q->vis = beGet32(p + 56);
    q->retention = beGet32(p + 60);
    q->delay = beGet32(p + 64);
    q->maxsize = beGet32(p + 68);
    q->wait = beGet32(p + 72);
    q->max_rc = beGet32(p + 76);
    q->flags = p[80];
    q->redrive_len = (size_t)p[81] << 8 | p[82];
    q->dlq_len = p[83];
    q->cursor_len = p[84];
    if (q->redrive_len > FSM_REDRIVE_MAX || q->dlq_len > FSM_QUEUE_NAME_MAX ||
        q->cursor_len > sizeof q->cursor ||
        v.len < var + q->redrive_len + q->dlq_len + q->cursor_len ||
        v.len - (var + q->redrive_len + q->dlq_len + q->cursor_len) >
            FSM_ALLOW_MAX) {
        goto corrupt;
    }
    q->mid = var > QUEUE_FIXED_LEN ? beGet64(p + QUEUE_FIXED_LEN) : q->id;
    q->allow_len = v.len - (var + q->redrive_len + q->dlq_len + q->cursor_len);
    p += var;
    memcpy(q->redrive, p, q->redrive_len);
    memcpy(q->dlq, p + q->redrive_len, q->dlq_len);
    memcpy(q->cursor, p + q->redrive_len + q->dlq_len, q->cursor_len);
    memcpy(q->allow, p + q->redrive_len + q->dlq_len + q->cursor_len, q->allow_len);
    memcpy(q->name, name, len);
    q->name_len = len;
    return 0;

corrupt:
    snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed queue record");
    return FSM_ECORRUPT;
}

int queuePut(struct fsm *f, const struct queueRecord *q)
{
    uint8_t buf[QUEUE_FIXED_LEN + 8 + FSM_REDRIVE_MAX + FSM_QUEUE_NAME_MAX +
                1 + FSM_GROUP_MAX + FSM_ALLOW_MAX];
    uint8_t *p = buf;
    uint8_t flags = (uint8_t)(q->flags & ~QUEUE_F_KEYSPACE);

    bePut64(p, q->id);
    bePut64(p + 8, q->created_ms);
    bePut64(p + 16, q->modified_ms);
    bePut64(p + 24, q->next_seq);
    bePut64(p + 32, q->purge_ms);
    bePut64(p + 40, q->n_ready);
    bePut64(p + 48, q->n_inflight);
    bePut32(p + 56, q->vis);
    bePut32(p + 60, q->retention);
    bePut32(p + 64, q->delay);
    bePut32(p + 68, q->maxsize);
    bePut32(p + 72, q->wait);
    bePut32(p + 76, q->max_rc);
    p[80] = q->mid != q->id ? (uint8_t)(flags | QUEUE_F_KEYSPACE) : flags;
    p[81] = (uint8_t)(q->redrive_len >> 8);
    p[82] = (uint8_t)q->redrive_len;
    p[83] = (uint8_t)q->dlq_len;
    p[84] = (uint8_t)q->cursor_len;
    p += QUEUE_FIXED_LEN;
    if (q->mid != q->id) {
        bePut64(p, q->mid);
        p += 8;
    }
    memcpy(p, q->redrive, q->redrive_len);
    p += q->redrive_len;
    memcpy(p, q->dlq, q->dlq_len);
    p += q->dlq_len;
    memcpy(p, q->cursor, q->cursor_len);
    p += q->cursor_len;
    memcpy(p, q->allow, q->allow_len);
    p += q->allow_len;
    return storePut(&f->store, STORE_QUEUES, q->name, q->name_len, buf,
                    (size_t)(p - buf));
}

int queueFind(struct fsm *f, const struct fsmStr *name,
              struct queueRecord *q, bool *found)
{
    int rv;

    rv = queueGet(f, name->p, name->len, q, found);
    if (rv == 0 && !*found) {
        fsmReplyError(f, FSM_ERR_QUEUE_DOES_NOT_EXIST,
                      "The specified queue %.*s does not exist.",
                      (int)name->len, name->p);
    }
    return rv;
}

/* Tag key prefix of queue @id with @key. */
static size_t queueTagKey(uint64_t id, const void *key, size_t len,
                          uint8_t *out)
{
    bePut64(out, id);
    memcpy(out + 8, key, len);
    return 8 + len;
}

/* Write the tags of map @tags to queue @id. */
static int queuePutTags(struct fsm *f, uint64_t id, const struct mpVal *tags)
{
    uint8_t key[8 + 4 * FSM_TAG_KEY_MAX];
    struct mpReader r;
    uint32_t i;
    int rv;

    mpEnter(tags, &r);
    for (i = 0; i < tags->n; i++) {
        struct mpVal k;
        struct mpVal v;
        size_t klen;
        mpNext(&r, &k);
        mpNext(&r, &v);
        klen = queueTagKey(id, k.ptr, k.len, key);
        rv = storePut(&f->store, STORE_TAGS, key, klen, v.ptr, v.len);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Next queue id (and advance the counter). */
static int queueNextId(struct fsm *f, uint64_t *id)
{
    struct storeVal v;
    uint8_t buf[8];
    bool found;
    int rv;

    rv = storeGet(&f->store, STORE_META, META_NEXT_QUEUE_ID,
                  strlen(META_NEXT_QUEUE_ID), &v, &found);
    if (rv != 0) {
        return rv;
    }
    if (found && v.len != 8) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed queue counter");
        return FSM_ECORRUPT;
    }
    *id = found ? beGet64(v.data) : 1;
    bePut64(buf, *id + 1);
    return storePut(&f->store, STORE_META, META_NEXT_QUEUE_ID,
                    strlen(META_NEXT_QUEUE_ID), buf, sizeof buf);
}

int queueCreate(struct fsm *f, const struct fsmCommand *cmd)
{
    struct args *a = &f->args;
    struct queueRecord q;
    struct storeVal v;
    bool found;
    bool ok;
    int rv;

    rv = queueGet(f, a->name.p, a->name.len, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (found) {
        int diff = queueAttrsDiffer(&q, &a->attrs);
        if (diff >= 0) {
            return fsmReplyError(f, FSM_ERR_QUEUE_ALREADY_EXISTS,
                                 "A queue already exists with the same name "
                                 "and a different value for attribute %s.",
                                 attrName((unsigned)diff));
        }
        goto reply;
    }
    rv = storeGet(&f->store, STORE_TOMBSTONES, a->name.p, a->name.len, &v,
                  &found);
    if (rv != 0) {
        return rv;
    }
    if (found && v.len == 8 &&
        cmd->now_ms < beGet64(v.data) + FSM_TOMBSTONE_MS) {
        return fsmReplyError(f, FSM_ERR_QUEUE_DELETED_RECENTLY,
                             "You must wait 60 seconds after deleting a queue "
                             "before you can create another with the same "
                             "name.");
    }
    rv = queueCheckRedrive(f, &a->name, a->fifo, &a->attrs, &ok);
    if (rv != 0 || !ok) {
        return rv;
    }
    if (found) {
        rv = storeDel(&f->store, STORE_TOMBSTONES, a->name.p, a->name.len);
        if (rv != 0) {
            return rv;
        }
    }
    memset(&q, 0, sizeof q);
    rv = queueNextId(f, &q.id);
    if (rv != 0) {
        return rv;
    }
    q.mid = q.id;
    q.created_ms = cmd->now_ms;
    q.modified_ms = cmd->now_ms;
    q.next_seq = 1;
    q.vis = FSM_VISIBILITY_DEFAULT_S;
    q.retention = FSM_RETENTION_DEFAULT_S;
    q.maxsize = FSM_BODY_MAX;
    q.flags = a->fifo ? QUEUE_F_FIFO : 0;
    memcpy(q.name, a->name.p, a->name.len);
    q.name_len = a->name.len;
    queueApplyAttrs(&q, &a->attrs);
    rv = queuePut(f, &q);
    if (rv == 0 && a->has_tags) {
        rv = queuePutTags(f, q.id, &a->tags);
    }
    if (rv != 0) {
        return rv;
    }

reply:
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "QueueName");
    fsmPackStrN(&f->pk, a->name.p, a->name.len);
    return 0;
}

int queueDelete(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    uint8_t ts[8];
    bool found;
    int rv;

    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    /* The keys go to the sweeper: O(1) here, whatever the queue holds. */
    rv = sweepAdd(f, q.mid, SWEEP_MESSAGES);
    if (rv == 0) {
        rv = sweepAdd(f, q.id, SWEEP_QUEUE);
    }
    if (rv == 0) {
        rv = storeDel(&f->store, STORE_QUEUES, q.name, q.name_len);
    }
    bePut64(ts, cmd->now_ms);
    if (rv == 0) {
        rv = storePut(&f->store, STORE_TOMBSTONES, q.name, q.name_len, ts, 8);
    }
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 0);
    return 0;
}

/* Pack a list of queue names (in f->apk) with paging: names with
 * @prefix, after the NextToken of the args, whose record satisfies
 * @dlq_of (NULL: any), and reply {"QueueNames", "NextToken"}. */
static int queueListPaged(struct fsm *f, const struct fsmStr *prefix,
                          const struct fsmStr *dlq_of)
{
    struct args *a = &f->args;
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t start[FSM_QUEUE_NAME_MAX];
    size_t start_len = 0;
    uint32_t limit = a->has_max ? a->max : FSM_LIST_MAX;
    uint32_t n = 0;
    char last[2 * FSM_QUEUE_NAME_MAX + 1];
    bool more = false;
    bool found;
    int rv;

    msgpack_sbuffer_clear(&f->aux);
    if (prefix->len > 0 && prefix->len <= FSM_QUEUE_NAME_MAX) {
        memcpy(start, prefix->p, prefix->len);
        start_len = prefix->len;
    }
    if (a->has_token) {
        size_t m = a->token_len < start_len ? a->token_len : start_len;
        int cmp = memcmp(a->token, start, m);
        if (cmp > 0 || (cmp == 0 && a->token_len >= start_len)) {
            memcpy(start, a->token, a->token_len);
            start_len = a->token_len;
        }
    }
    rv = storeCursorOpen(&f->store, NULL, STORE_QUEUES, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, start_len > 0 ? start : NULL, start_len, &k, &v,
                         &found);
    while (rv == 0 && found) {
        if (prefix->len > 0 &&
            (k.len < prefix->len || memcmp(k.data, prefix->p, prefix->len) != 0)) {
            break;
        }
        if (a->has_token && k.len == a->token_len &&
            memcmp(k.data, a->token, k.len) == 0) {
            rv = storeCursorNext(&c, &k, &v, &found);
            continue;
        }
        if (dlq_of != NULL) {
            const uint8_t *p = v.data;
            size_t rlen;
            size_t var;
            if (v.len < QUEUE_FIXED_LEN) {
                rv = FSM_ECORRUPT;
                break;
            }
            var = queueVarOffset(p);
            rlen = (size_t)p[81] << 8 | p[82];
            if (p[83] != dlq_of->len || v.len < var + rlen + p[83] ||
                memcmp(p + var + rlen, dlq_of->p, dlq_of->len) != 0) {
                rv = storeCursorNext(&c, &k, &v, &found);
                continue;
            }
        }
        if (n == limit) {
            more = true;
            break;
        }
        fsmPackStrN(&f->apk, k.data, k.len);
        utilHex(k.data, k.len, last);
        n++;
        rv = storeCursorNext(&c, &k, &v, &found);
    }
    storeCursorClose(&c);
    if (rv != 0) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "listing queues failed");
        return rv;
    }
    more = more && a->has_max;
    fsmReplyOk(f, more ? 2 : 1);
    fsmPackStr(&f->pk, "QueueNames");
    msgpack_pack_array(&f->pk, n);
    fsmReplyAppend(f, f->aux.data, f->aux.size);
    if (more) {
        fsmPackKV(&f->pk, "NextToken", last);
    }
    return 0;
}

int queueList(struct fsm *f, const struct fsmCommand *cmd)
{
    (void)cmd;
    return queueListPaged(f, &f->args.prefix, NULL);
}

int queueListDlqSources(struct fsm *f, const struct fsmCommand *cmd)
{
    struct fsmStr none = {NULL, 0};
    struct queueRecord q;
    bool found;
    int rv;

    (void)cmd;
    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    return queueListPaged(f, &none, &f->args.name);
}

int queuePurge(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    bool found;
    int rv;

    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    if ((q.flags & QUEUE_F_PURGED) &&
        cmd->now_ms < q.purge_ms + FSM_PURGE_WINDOW_MS) {
        return fsmReplyError(f, FSM_ERR_PURGE_IN_PROGRESS,
                             "Only one PurgeQueue operation on %.*s is "
                             "allowed every 60 seconds.",
                             (int)q.name_len, q.name);
    }
    /* A fresh keyspace: the old one, with every message present now, goes
     * to the sweeper and is out of reach of every later command. */
    rv = sweepAdd(f, q.mid, SWEEP_MESSAGES);
    if (rv == 0) {
        rv = queueNextId(f, &q.mid);
    }
    if (rv != 0) {
        return rv;
    }
    q.n_ready = 0;
    q.n_inflight = 0;
    q.flags |= QUEUE_F_PURGED;
    q.purge_ms = cmd->now_ms;
    rv = queuePut(f, &q);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 0);
    return 0;
}

/* Count the tags of queue @id; with @pack, pack them into f->apk. */
static int queueTagsWalk(struct fsm *f, uint64_t id, bool pack, uint32_t *n)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t lo[8];
    bool found;
    int rv;

    *n = 0;
    bePut64(lo, id);
    rv = storeCursorOpen(&f->store, NULL, STORE_TAGS, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, lo, 8, &k, &v, &found);
    while (rv == 0 && found && k.len >= 8 && memcmp(k.data, lo, 8) == 0) {
        if (pack) {
            fsmPackStrN(&f->apk, (const uint8_t *)k.data + 8, k.len - 8);
            fsmPackStrN(&f->apk, v.data, v.len);
        }
        (*n)++;
        rv = storeCursorNext(&c, &k, &v, &found);
    }
    storeCursorClose(&c);
    return rv;
}

int queueTag(struct fsm *f, const struct fsmCommand *cmd)
{
    uint8_t key[8 + 4 * FSM_TAG_KEY_MAX];
    struct queueRecord q;
    struct mpReader r;
    uint32_t have;
    uint32_t added = 0;
    uint32_t i;
    bool found;
    int rv;

    (void)cmd;
    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    rv = queueTagsWalk(f, q.id, false, &have);
    if (rv != 0) {
        return rv;
    }
    mpEnter(&f->args.tags, &r);
    for (i = 0; i < f->args.tags.n; i++) {
        struct mpVal k;
        struct mpVal v;
        struct storeVal x;
        size_t klen;
        mpNext(&r, &k);
        mpNext(&r, &v);
        klen = queueTagKey(q.id, k.ptr, k.len, key);
        rv = storeGet(&f->store, STORE_TAGS, key, klen, &x, &found);
        if (rv != 0) {
            return rv;
        }
        added += !found;
    }
    if (have + added > FSM_TAGS_MAX) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Too many tags: the queue would have %u, the "
                             "maximum is %d.",
                             have + added, FSM_TAGS_MAX);
    }
    rv = queuePutTags(f, q.id, &f->args.tags);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 0);
    return 0;
}

int queueUntag(struct fsm *f, const struct fsmCommand *cmd)
{
    uint8_t key[8 + 4 * FSM_TAG_KEY_MAX];
    struct queueRecord q;
    struct mpReader r;
    uint32_t i;
    bool found;
    int rv;

    (void)cmd;
    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    mpEnter(&f->args.tags, &r);
    for (i = 0; i < f->args.tags.n; i++) {
        struct mpVal k;
        mpNext(&r, &k);
        if (k.len > 500) {
            continue; /* no such tag can exist */
        }
        rv = storeDel(&f->store, STORE_TAGS, key,
                      queueTagKey(q.id, k.ptr, k.len, key));
        if (rv != 0) {
            return rv;
        }
    }
    fsmReplyOk(f, 0);
    return 0;
}

int queueListTags(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    uint32_t n;
    bool found;
    int rv;

    (void)cmd;
    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    msgpack_sbuffer_clear(&f->aux);
    rv = queueTagsWalk(f, q.id, true, &n);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "Tags");
    msgpack_pack_map(&f->pk, n);
    fsmReplyAppend(f, f->aux.data, f->aux.size);
    return 0;
}

int queueTickTombstones(struct fsm *f, uint64_t now_ms)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t name[FSM_QUEUE_NAME_MAX + 1];
    size_t len;
    bool found;
    int rv;

    rv = storeCursorOpen(&f->store, NULL, STORE_TOMBSTONES, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
    while (rv == 0 && found) {
        if (k.len > FSM_QUEUE_NAME_MAX || v.len != 8) {
            rv = FSM_ECORRUPT;
            break;
        }
        if (now_ms < beGet64(v.data) + FSM_TOMBSTONE_MS) {
            rv = storeCursorNext(&c, &k, &v, &found);
            continue;
        }
        len = k.len;
        memcpy(name, k.data, len);
        rv = storeDel(&f->store, STORE_TOMBSTONES, name, len);
        if (rv != 0) {
            break;
        }
        /* Seek past the deleted name: the key plus a zero byte. */
        name[len] = 0;
        rv = storeCursorSeek(&c, name, len + 1, &k, &v, &found);
    }
    storeCursorClose(&c);
    if (rv == FSM_ECORRUPT) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed tombstone");
    }
    return rv;
}
