/* Dead-letter queues: the move of a message that exceeded its queue's
 * maxReceiveCount, and StartMessageMoveTask (redrive).
 *
 * A moved message keeps its MessageId, body, attributes, sent time (so
 * retention still counts from the original send), group, deduplication id
 * and SequenceNumber; it gets a new sequence in the destination (its key
 * and place in the destination's order), receive count 0, and is visible
 * at once. A move to a dead-letter queue records the source queue's name
 * (reported as DeadLetterQueueSourceArn, and where a redrive sends it
 * back); a redrive clears it. Deduplication is not checked again.
 *
 * StartMessageMoveTask moves every message of the dead-letter queue now,
 * in flight or not (their receipts become stale), in one command, and
 * answers MovedCount (SQS runs a task and answers a TaskHandle). Without
 * DestinationQueueName each message goes back to its recorded source; a
 * message whose source queue no longer exists stays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int dlqMove(struct fsm *f, struct queueRecord *q, uint64_t seq,
            const struct msgRecord *m, struct queueRecord *dst,
            const struct fsmStr *src_name, uint64_t now)
{
    struct msgRecord n = *m;
    uint8_t *buf;
    size_t len;
    uint64_t dseq;
    int rv;

    if (src_name != NULL) {
        n.src = *src_name;
    } else {
        n.src.len = 0;
    }
    if (!(dst->flags & QUEUE_F_FIFO)) {
        n.dedup.len = 0;
    }
    /* Encode before any write: @m points into stored values. */
    rv = msgEncode(f, &n, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    rv = msgRemove(f, q, seq, m);
    if (rv == 0) {
        dseq = dst->next_seq++;
        rv = msgInsertEncoded(f, dst, dseq, buf, len, now);
    }
    free(buf);
    return rv;
}

int dlqIsTarget(struct fsm *f, const char *name, size_t len, bool *yes)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    bool found;
    int rv;

    *yes = false;
    rv = storeCursorOpen(&f->store, NULL, STORE_QUEUES, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
    while (rv == 0 && found && !*yes) {
        struct queueRecord q;
        bool ok;
        storeCursorClose(&c);
        if (k.len > FSM_QUEUE_NAME_MAX) {
            return FSM_ECORRUPT;
        }
        memcpy(q.name, k.data, k.len);
        q.name_len = k.len;
        rv = queueGet(f, q.name, q.name_len, &q, &ok);
        if (rv != 0) {
            return rv;
        }
        *yes = q.dlq_len == len && memcmp(q.dlq, name, len) == 0;
        /* Next name: seek past this one. */
        {
            char next[FSM_QUEUE_NAME_MAX + 1];
            memcpy(next, q.name, q.name_len);
            next[q.name_len] = 0;
            rv = storeCursorOpen(&f->store, NULL, STORE_QUEUES, &c);
            if (rv != 0) {
                return rv;
            }
            rv = storeCursorSeek(&c, next, q.name_len + 1, &k, &v, &found);
        }
    }
    storeCursorClose(&c);
    return rv;
}

/* Reply ResourceNotFoundException for parameter @param. */
static int dlqNotFound(struct fsm *f, const char *param)
{
    return fsmReplyError(f, FSM_ERR_RESOURCE_NOT_FOUND,
                         "The resource that you specified for the %s "
                         "parameter doesn't exist.",
                         param);
}

int dlqStartMoveTask(struct fsm *f, const struct fsmCommand *cmd)
{
    struct args *a = &f->args;
    struct queueRecord src;
    struct queueRecord dst;
    struct msgRecord m;
    uint8_t lo[16];
    uint64_t moved = 0;
    uint64_t seq = 0;
    bool have_dst = false;
    bool fixed_dst = a->dest.len > 0;
    bool found;
    bool yes;
    int rv;

    rv = queueGet(f, a->name.p, a->name.len, &src, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return dlqNotFound(f, "SourceQueueName");
    }
    rv = dlqIsTarget(f, a->name.p, a->name.len, &yes);
    if (rv != 0) {
        return rv;
    }
    if (!yes) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Source queue must be configured as a Dead "
                             "Letter Queue.");
    }
    if (fixed_dst) {
        rv = queueGet(f, a->dest.p, a->dest.len, &dst, &found);
        if (rv != 0) {
            return rv;
        }
        if (!found) {
            return dlqNotFound(f, "DestinationQueueName");
        }
        if (dst.id == src.id ||
            (dst.flags & QUEUE_F_FIFO) != (src.flags & QUEUE_F_FIFO)) {
            return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                                 "The destination must be another queue of "
                                 "the same type as the source.");
        }
        have_dst = true;
    }
    for (;;) {
        struct storeCursor c;
        struct storeVal k;
        struct storeVal v;
        struct fsmStr target;
        msgKey(src.mid, seq, lo);
        rv = storeCursorOpen(&f->store, NULL, STORE_MESSAGES, &c);
        if (rv != 0) {
            return rv;
        }
        rv = storeCursorSeek(&c, lo, sizeof lo, &k, &v, &found);
        if (rv == 0 && found &&
            (k.len != 16 || memcmp(k.data, lo, 8) != 0)) {
            found = false;
        }
        if (found) {
            seq = beGet64((const uint8_t *)k.data + 8);
        }
        storeCursorClose(&c);
        if (rv != 0 || !found) {
            break;
        }
        rv = msgGet(f, src.mid, seq, &m, &found);
        if (rv != 0) {
            return rv;
        }
        seq++;
        if (!found) {
            continue;
        }
        if (msgExpired(&src, &m, cmd->now_ms)) {
            rv = msgRemove(f, &src, seq - 1, &m);
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (!fixed_dst) {
            target = m.src;
            if (target.len == 0 ||
                (target.len == src.name_len &&
                 memcmp(target.p, src.name, src.name_len) == 0)) {
                continue; /* no source recorded: it stays */
            }
            if (!have_dst || dst.name_len != target.len ||
                memcmp(dst.name, target.p, target.len) != 0) {
                if (have_dst) {
                    rv = queuePut(f, &dst);
                    if (rv != 0) {
                        return rv;
                    }
                    have_dst = false;
                }
                rv = queueGet(f, target.p, target.len, &dst, &found);
                if (rv != 0) {
                    return rv;
                }
                if (!found) {
                    continue; /* its source is gone: it stays */
                }
                have_dst = true;
            }
        }
        rv = dlqMove(f, &src, seq - 1, &m, &dst, NULL, cmd->now_ms);
        if (rv != 0) {
            return rv;
        }
        moved++;
    }
    if (rv != 0) {
        return rv;
    }
    if (have_dst) {
        rv = queuePut(f, &dst);
    }
    if (rv == 0) {
        rv = queuePut(f, &src);
    }
    if (rv != 0) {
        return rv;
    }
    f->hint.wake_all = moved > 0;
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "MovedCount");
    msgpack_pack_uint64(&f->pk, moved);
    return 0;
}
