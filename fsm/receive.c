/* ReceiveMessage, and retention expiry by tick.
 *
 * A receive on a standard queue takes the ready index of its queue in
 * (visible_at, seq) order, from the oldest, while visible_at <= now; on a
 * FIFO queue it asks fifo.c, which walks message groups. Each candidate
 * goes through msgDeliver():
 * - past retention: removed, not delivered;
 * - a RedrivePolicy whose maxReceiveCount this receive would exceed, and
 *   a dead-letter queue that exists: moved there (dlq.c), not delivered;
 * - otherwise delivered: receive count + 1, first receive time set once,
 *   in flight until now + visibility timeout; packed into the side buffer.
 * Removals and moves are bounded per receive (FSM_RECEIVE_BUDGET).
 *
 * At most fsmConfig.inflight_max messages of a queue are in flight: a
 * receive at the limit is OverLimit; one near it gets fewer messages.
 *
 * Long polling: when nothing was delivered, the command carries `w` and
 * the effective wait (WaitTimeSeconds, else the queue's
 * ReceiveMessageWaitTimeSeconds) is above 0, the reply is WouldWait, which
 * the session layer neither stores nor counts (session.c). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Pack message @seq of @q (record @m, already updated by the receive) into
 * f->apk. */
static int msgPackMessage(struct fsm *f, const struct queueRecord *q,
                          uint64_t seq, const struct msgRecord *m)
{
    msgpack_packer *pk = &f->apk;
    char receipt[RECEIPT_TEXT_LEN + 1];
    char md5[33];
    char num[32];
    bool fifo = (q->flags & QUEUE_F_FIFO) != 0;
    bool has_attrs = m->attrs.len > 0;
    uint32_t nattr = 3;
    int rv;

    rv = utilReceiptMake(q->id, seq, m->recv_count, receipt);
    if (rv == 0) {
        rv = utilMd5Hex(m->body.p, m->body.len, md5);
    }
    if (rv != 0) {
        return rv;
    }
    msgpack_pack_map(pk, 5 + (has_attrs ? 2u : 0u));
    fsmPackStr(pk, "MessageId");
    fsmPackStrN(pk, m->msgid, FSM_MESSAGE_ID_LEN);
    fsmPackKV(pk, "ReceiptHandle", receipt);
    fsmPackKV(pk, "MD5OfBody", md5);
    fsmPackStr(pk, "Body");
    fsmPackStrN(pk, m->body.p, m->body.len);
    fsmPackStr(pk, "Attributes");
    nattr += m->group.len > 0;
    nattr += fifo ? 2 : 0;
    nattr += m->src.len > 0;
    msgpack_pack_map(pk, nattr);
    snprintf(num, sizeof num, "%llu", (unsigned long long)m->sent_ms);
    fsmPackKV(pk, "SentTimestamp", num);
    snprintf(num, sizeof num, "%u", m->recv_count);
    fsmPackKV(pk, "ApproximateReceiveCount", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)m->first_recv_ms);
    fsmPackKV(pk, "ApproximateFirstReceiveTimestamp", num);
    if (m->group.len > 0) {
        fsmPackStr(pk, "MessageGroupId");
        fsmPackStrN(pk, m->group.p, m->group.len);
    }
    if (fifo) {
        fsmPackStr(pk, "MessageDeduplicationId");
        fsmPackStrN(pk, m->dedup.p, m->dedup.len);
        snprintf(num, sizeof num, "%020llu", (unsigned long long)m->seqnum);
        fsmPackKV(pk, "SequenceNumber", num);
    }
    if (m->src.len > 0) {
        fsmPackStr(pk, "DeadLetterQueueSourceArn");
        fsmPackStrN(pk, m->src.p, m->src.len);
    }
    if (has_attrs) {
        fsmPackStr(pk, "MessageAttributes");
        msgPackAttrs(pk, &m->attrs);
        rv = utilMd5Hex(m->attrs.p, m->attrs.len, md5);
        if (rv != 0) {
            return rv;
        }
        fsmPackKV(pk, "MD5OfMessageAttributes", md5);
    }
    return 0;
}

int msgDeliver(struct fsm *f, struct queueRecord *q, uint64_t seq,
               struct msgRecord *m, uint64_t now, uint32_t vis,
               bool *delivered)
{
    uint32_t count = m->recv_count + 1;
    int rv;

    *delivered = false;
    if (q->max_rc > 0 && count > q->max_rc) {
        struct queueRecord d;
        struct fsmStr src = {q->name, q->name_len};
        bool found;
        rv = queueGet(f, q->dlq, q->dlq_len, &d, &found);
        if (rv != 0) {
            return rv;
        }
        if (found && d.id != q->id) {
            rv = dlqMove(f, q, seq, m, &d, &src, now);
            if (rv == 0) {
                rv = queuePut(f, &d);
            }
            return rv;
        }
        /* The dead-letter queue is gone: deliver as usual. */
    }
    /* Pack first: the record's pointers do not survive the writes. */
    m->recv_count = count;
    if (m->first_recv_ms == 0) {
        m->first_recv_ms = now;
    }
    rv = msgPackMessage(f, q, seq, m);
    if (rv == 0) {
        m->recv_count = count - 1;
        rv = msgSetState(f, q, seq, m, MSG_INFLIGHT, now + (uint64_t)vis * 1000,
                         count, m->first_recv_ms);
    }
    *delivered = rv == 0;
    return rv;
}

/* Receive from a standard queue: up to @max messages into f->apk. */
static int msgReceiveStandard(struct fsm *f, struct queueRecord *q,
                              uint64_t now, uint32_t max, uint32_t vis,
                              uint32_t *n)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    struct msgRecord m;
    uint32_t skipped = 0;
    uint8_t lo[8];
    uint64_t seq;
    bool found;
    bool delivered;
    int rv = 0;

    bePut64(lo, q->id);
    while (*n < max && skipped < FSM_RECEIVE_BUDGET) {
        /* Seek again each time: the entry taken leaves the ready index. */
        rv = storeCursorOpen(&f->store, NULL, STORE_READY, &c);
        if (rv != 0) {
            break;
        }
        rv = storeCursorSeek(&c, lo, sizeof lo, &k, &v, &found);
        if (rv == 0 && found &&
            (k.len != 24 || memcmp(k.data, lo, 8) != 0 ||
             beGet64((const uint8_t *)k.data + 8) > now)) {
            found = false;
        }
        seq = found ? beGet64((const uint8_t *)k.data + 16) : 0;
        storeCursorClose(&c);
        if (rv != 0 || !found) {
            break;
        }
        rv = msgGet(f, q->id, seq, &m, &found);
        if (rv == 0 && !found) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "ready entry without message");
            rv = FSM_ECORRUPT;
        }
        if (rv != 0) {
            break;
        }
        if (msgExpired(q, &m, now)) {
            rv = msgRemove(f, q, seq, &m);
            skipped++;
        } else {
            rv = msgDeliver(f, q, seq, &m, now, vis, &delivered);
            if (delivered) {
                (*n)++;
            } else {
                skipped++;
            }
        }
        if (rv != 0) {
            break;
        }
    }
    return rv;
}

int msgReceive(struct fsm *f, const struct fsmCommand *cmd)
{
    struct args *a = &f->args;
    struct queueRecord q;
    uint32_t removed;
    uint32_t max = a->max;
    uint32_t vis;
    uint32_t wait;
    uint32_t n = 0;
    bool found;
    int rv;

    rv = queueFind(f, &a->name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    rv = msgNormalize(f, &q, cmd->now_ms, FSM_CMD_BUDGET, &removed);
    if (rv != 0) {
        return rv;
    }
    if (q.n_inflight >= f->inflight_max) {
        rv = queuePut(f, &q);
        if (rv == 0) {
            rv = msgNextVisible(f, &q, cmd->now_ms, &f->hint.next_visible_ms);
        }
        if (rv != 0) {
            return rv;
        }
        return fsmReplyError(f, FSM_ERR_OVER_LIMIT,
                             "Too many messages in flight: the queue has "
                             "%llu, the maximum is %u.",
                             (unsigned long long)q.n_inflight, f->inflight_max);
    }
    if (max > f->inflight_max - q.n_inflight) {
        max = (uint32_t)(f->inflight_max - q.n_inflight);
    }
    vis = a->has_vis ? a->vis : q.vis;
    msgpack_sbuffer_clear(&f->aux);
    if (q.flags & QUEUE_F_FIFO) {
        rv = fifoReceive(f, &q, cmd->now_ms, max, vis, &n);
    } else {
        rv = msgReceiveStandard(f, &q, cmd->now_ms, max, vis, &n);
    }
    if (rv == 0) {
        rv = queuePut(f, &q);
    }
    if (rv == 0) {
        rv = msgNextVisible(f, &q, cmd->now_ms, &f->hint.next_visible_ms);
    }
    if (rv != 0) {
        return rv;
    }
    wait = a->has_wait ? a->wait : q.wait;
    if (n == 0 && cmd->wait && wait > 0) {
        f->hint.would_wait = true;
        f->hint.wait_s = wait;
        return fsmReplyError(f, FSM_ERR_WOULD_WAIT,
                             "No message can be delivered now: wait up to %u "
                             "s.",
                             wait);
    }
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "Messages");
    msgpack_pack_array(&f->pk, n);
    fsmReplyAppend(f, f->aux.data, f->aux.size);
    return 0;
}

int msgTickRetention(struct fsm *f, uint64_t now_ms)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    struct queueRecord q;
    uint8_t name[FSM_QUEUE_NAME_MAX + 1];
    uint32_t budget = FSM_TICK_BUDGET;
    uint32_t removed;
    size_t len = 0;
    bool found;
    int rv;

    for (;;) {
        /* The next queue after @name (all of them, in name order). */
        rv = storeCursorOpen(&f->store, NULL, STORE_QUEUES, &c);
        if (rv != 0) {
            return rv;
        }
        rv = storeCursorSeek(&c, len > 0 ? name : NULL, len, &k, &v, &found);
        if (rv == 0 && found && len > 0 && k.len == len - 1 &&
            memcmp(k.data, name, len - 1) == 0) {
            rv = storeCursorNext(&c, &k, &v, &found);
        }
        if (rv == 0 && found && k.len > FSM_QUEUE_NAME_MAX) {
            rv = FSM_ECORRUPT;
        }
        if (rv == 0 && found) {
            memcpy(name, k.data, k.len);
            len = k.len;
        }
        storeCursorClose(&c);
        if (rv != 0 || !found || budget == 0) {
            return rv;
        }
        rv = queueGet(f, (const char *)name, len, &q, &found);
        if (rv != 0) {
            return rv;
        }
        rv = msgNormalize(f, &q, now_ms, budget, &removed);
        if (rv == 0) {
            rv = queuePut(f, &q);
        }
        if (rv != 0) {
            return rv;
        }
        budget -= removed;
        name[len++] = 0; /* seek past this name */
    }
}
