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
 *   latest receive time set, in flight until now + visibility timeout;
 *   packed into the side buffer with only the attributes the receive asks
 *   for (msgPackMessage: nothing of either kind without a list), and noted
 *   for the reply's compact stored form (recvreply.c).
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
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* True if message attribute @name (@len bytes) is among those the
 * receive's MessageAttributeNames asks for (args.c validated the list). */
static bool msgAttrWanted(const struct args *a, const uint8_t *name,
                          size_t len)
{
    struct mpReader r;
    uint32_t i;

    if (a->msgattr_all) {
        return true;
    }
    mpEnter(&a->msgnames, &r);
    for (i = 0; i < a->msgnames.n; i++) {
        struct mpVal v;
        mpNext(&r, &v);
        if (v.len > 2 && v.ptr[v.len - 2] == '.' && v.ptr[v.len - 1] == '*') {
            /* "bar.*": names that start with "bar." */
            if (len >= v.len - 1 && memcmp(name, v.ptr, v.len - 1) == 0) {
                return true;
            }
        } else if (v.len == len && memcmp(name, v.ptr, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Select the attributes of @attrs (MD5-input encoding) that the receive
 * asks for: their records, in order, into *out (malloc'd, NULL if none)
 * and *n of them. The selection is itself an MD5-input encoding. */
static int msgAttrsSelect(struct fsm *f, const struct fsmStr *attrs,
                          uint8_t **out, size_t *len, uint32_t *n)
{
    const struct args *a = &f->args;
    const uint8_t *p = (const uint8_t *)attrs->p;
    uint8_t *w;
    size_t off = 0;

    *out = NULL;
    *len = 0;
    *n = 0;
    if (attrs->len == 0 || (!a->msgattr_all && a->msgnames.n == 0)) {
        return 0;
    }
    w = malloc(attrs->len);
    if (w == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    while (off + 4 <= attrs->len) {
        size_t start = off;
        uint32_t nl = beGet32(p + off);
        const uint8_t *name = p + off + 4;
        off += 4 + nl;                      /* name */
        off += 4 + beGet32(p + off);        /* type */
        off += 1;                           /* transport */
        off += 4 + beGet32(p + off);        /* value */
        if (msgAttrWanted(a, name, nl)) {
            memcpy(w + *len, p + start, off - start);
            *len += off - start;
            (*n)++;
        }
    }
    if (*n == 0) {
        free(w);
        w = NULL;
    }
    *out = w;
    return 0;
}

/* Number of system attributes of @m (on @q) that the receive asks for. */
static uint32_t msgSysAttrCount(uint32_t mask, bool fifo,
                                const struct msgRecord *m)
{
    uint32_t n = 0;

    n += (mask & ATTR_BIT(SYSATTR_SENT)) != 0;
    n += (mask & ATTR_BIT(SYSATTR_RECEIVE_COUNT)) != 0;
    n += (mask & ATTR_BIT(SYSATTR_FIRST_RECEIVE)) != 0;
    n += (mask & ATTR_BIT(SYSATTR_GROUP)) != 0 && m->group.len > 0;
    n += (mask & ATTR_BIT(SYSATTR_DEDUP)) != 0 && fifo;
    n += (mask & ATTR_BIT(SYSATTR_SEQNUM)) != 0 && fifo;
    n += (mask & ATTR_BIT(SYSATTR_DLQ_SOURCE)) != 0 && m->src.len > 0;
    n += (mask & ATTR_BIT(SYSATTR_TRACE)) != 0 && m->trace.len > 0;
    return n;
}

/* Pack message @seq of @q (record @m, already updated by the receive) into
 * f->apk, with the attributes the receive asks for:
 * - Attributes: the system attributes of AttributeNames and
 *   MessageSystemAttributeNames that the message has; absent if none.
 * - MessageAttributes: those of MessageAttributeNames; absent if none.
 * - MD5OfMessageAttributes: of the attributes returned, or of all of them
 *   when none is returned, as SQS does; absent if the message has none. */
static int msgPackMessage(struct fsm *f, const struct queueRecord *q,
                          uint64_t seq, const struct msgRecord *m)
{
    msgpack_packer *pk = &f->apk;
    uint32_t mask = f->args.sysnames;
    char receipt[RECEIPT_TEXT_LEN + 1];
    char md5[33];
    char num[32];
    bool fifo = (q->flags & QUEUE_F_FIFO) != 0;
    uint32_t nsys = msgSysAttrCount(mask, fifo, m);
    uint8_t *sel;
    size_t sel_len;
    uint32_t nsel;
    size_t start = f->aux.size;
    size_t body;
    size_t tail;
    int rv;

    rv = utilReceiptMake(q->id, seq, m->recv_count, receipt);
    utilHex(m->md5body, sizeof m->md5body, md5); /* stored at send */
    if (rv == 0) {
        rv = msgAttrsSelect(f, &m->attrs, &sel, &sel_len, &nsel);
    }
    if (rv != 0) {
        return rv;
    }
    msgpack_pack_map(pk, 4 + (nsys > 0 ? 1u : 0u) + (nsel > 0 ? 1u : 0u) +
                             (m->attrs.len > 0 ? 1u : 0u));
    fsmPackStr(pk, "MessageId");
    fsmPackStrN(pk, m->msgid, FSM_MESSAGE_ID_LEN);
    fsmPackKV(pk, "ReceiptHandle", receipt);
    fsmPackKV(pk, "MD5OfBody", md5);
    fsmPackStr(pk, "Body");
    body = f->aux.size;
    fsmPackStrN(pk, m->body.p, m->body.len);
    tail = f->aux.size;
    if (nsys > 0) {
        fsmPackStr(pk, "Attributes");
        msgpack_pack_map(pk, nsys);
    }
    if (mask & ATTR_BIT(SYSATTR_SENT)) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)m->sent_ms);
        fsmPackKV(pk, "SentTimestamp", num);
    }
    if (mask & ATTR_BIT(SYSATTR_RECEIVE_COUNT)) {
        snprintf(num, sizeof num, "%u", m->recv_count);
        fsmPackKV(pk, "ApproximateReceiveCount", num);
    }
    if (mask & ATTR_BIT(SYSATTR_FIRST_RECEIVE)) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)m->first_recv_ms);
        fsmPackKV(pk, "ApproximateFirstReceiveTimestamp", num);
    }
    if ((mask & ATTR_BIT(SYSATTR_GROUP)) && m->group.len > 0) {
        fsmPackStr(pk, "MessageGroupId");
        fsmPackStrN(pk, m->group.p, m->group.len);
    }
    if ((mask & ATTR_BIT(SYSATTR_DEDUP)) && fifo) {
        fsmPackStr(pk, "MessageDeduplicationId");
        fsmPackStrN(pk, m->dedup.p, m->dedup.len);
    }
    if ((mask & ATTR_BIT(SYSATTR_SEQNUM)) && fifo) {
        snprintf(num, sizeof num, "%020llu", (unsigned long long)m->seqnum);
        fsmPackKV(pk, "SequenceNumber", num);
    }
    if ((mask & ATTR_BIT(SYSATTR_DLQ_SOURCE)) && m->src.len > 0) {
        fsmPackStr(pk, "DeadLetterQueueSourceArn");
        fsmPackStrN(pk, m->src.p, m->src.len);
    }
    if ((mask & ATTR_BIT(SYSATTR_TRACE)) && m->trace.len > 0) {
        fsmPackStr(pk, "AWSTraceHeader");
        fsmPackStrN(pk, m->trace.p, m->trace.len);
    }
    if (nsel > 0) {
        struct fsmStr s = {(const char *)sel, sel_len};
        fsmPackStr(pk, "MessageAttributes");
        msgPackAttrs(pk, &s);
        rv = utilMd5Hex(sel, sel_len, md5);
    } else if (m->attrs.len > 0) {
        rv = utilMd5Hex(m->attrs.p, m->attrs.len, md5);
    }
    free(sel);
    if (rv != 0) {
        return rv;
    }
    if (m->attrs.len > 0) {
        fsmPackKV(pk, "MD5OfMessageAttributes", md5);
    }
    recvStoredAdd(f, seq, start, body, tail, f->aux.size);
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
    m->last_recv_ms = now;
    rv = msgPackMessage(f, q, seq, m);
    if (rv == 0) {
        m->recv_count = count - 1;
        rv = msgSetState(f, q, seq, m, MSG_INFLIGHT, now + (uint64_t)vis * 1000,
                         count, m->first_recv_ms, now);
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

    bePut64(lo, q->mid);
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
        rv = msgGet(f, q->mid, seq, &m, &found);
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
    recvStoredBegin(f, q.mid);
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
    recvStoredBuild(f); /* what session.c stores: no bodies */
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
