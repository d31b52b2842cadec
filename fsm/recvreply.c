/* The stored form of a ReceiveMessage reply: without the bodies.
 *
 * Every node stores the reply of every applied command for the session's
 * retries (session.c). A receive of ten 1 KiB messages replies about
 * 12 KiB, nearly all bodies, which the messages table already holds; so a
 * receive that delivered messages stores a compact form instead, and a
 * retry rebuilds the reply from it and the messages table.
 *
 * The happy path is:
 * 1. msgReceive() calls recvStoredBegin() before it delivers; each
 *    delivered message is packed into f->aux and recvStoredAdd() notes
 *    where its map starts, where the body's value starts and ends, and
 *    where the map ends;
 * 2. once the reply is built, recvStoredBuild() writes the compact form
 *    into f->stored.buf and marks it ready; sessionApply() stores it
 *    instead of the reply;
 * 3. a retry finds the compact form (its first byte) and
 *    recvStoredRebuild() writes the reply: the same bytes as the original
 *    for every message that still exists.
 *
 * Stored form (integers big-endian):
 *   0xc1             a byte msgpack never uses: a stored reply in full
 *                    begins with a map, so the two cannot be confused
 *   qid   u64        the message keyspace of the queue (its mid) they
 *                    came from
 *   n     u32        messages delivered, 1..FSM_BATCH_MAX
 *   n times:
 *     seq u64        the message's sequence in its queue
 *     head_len u32, head   its map as packed, up to and including the key
 *                          "Body" (MessageId, ReceiptHandle, MD5OfBody)
 *     tail_len u32, tail   what follows the body's value (Attributes,
 *                          MessageAttributes, MD5OfMessageAttributes)
 * The body is packed again from the message record, as msgPackMessage()
 * packed it; a message's body never changes and its (qid, seq) is never
 * reused, so where the message exists the rebuilt reply is byte for byte
 * the original. Every replica stores the same form, so snapshots and
 * digests stay equal.
 *
 * A message that no longer exists is left out of the rebuilt reply (the
 * array is shorter). The retry comes from a client that never saw the
 * reply, so that client cannot have deleted it: it was deleted by another
 * consumer that received it after this receive's visibility timeout ran
 * out, or by retention, a purge, a queue deletion, or a move to a
 * dead-letter queue. The message was then delivered to someone (or
 * expired or was purged as the user asked), which is what at-least-once
 * promises; SQS itself gives a lost receive's messages back only by the
 * visibility timeout running out, and a receive retried with the same
 * ReceiveRequestAttemptId (FIFO) after that gets new messages, not the
 * old ones. The receipts in a rebuilt reply are those of the original
 * receive: stale if the message was received again since (then a delete
 * with them is ReceiptHandleIsInvalid), as they were when the whole reply
 * was stored.
 *
 * Failure modes: out of memory while building (f->oom, the apply fails
 * like any reply that cannot be packed); a stored form that does not parse
 * (FSM_ECORRUPT: the store is damaged). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* First byte of a compact stored form (never a msgpack value's first). */
#define RECV_STORED_MAGIC 0xc1

/* Append @len bytes to the stored form; latches OOM. */
static void recvStoredWrite(struct fsm *f, const void *p, size_t len)
{
    if (f->oom || msgpack_sbuffer_write(&f->stored.buf, p, len) != 0) {
        f->oom = true;
    }
}

void recvStoredBegin(struct fsm *f, uint64_t qid)
{
    f->stored.active = true;
    f->stored.ready = false;
    f->stored.qid = qid;
    f->stored.n = 0;
}

void recvStoredAdd(struct fsm *f, uint64_t seq, size_t start, size_t body,
                   size_t tail, size_t end)
{
    struct recvSlot *s;

    if (!f->stored.active) {
        return;
    }
    if (f->stored.n == FSM_BATCH_MAX) {
        f->stored.active = false; /* cannot happen: store the reply whole */
        return;
    }
    s = &f->stored.slot[f->stored.n++];
    s->seq = seq;
    s->start = start;
    s->body = body;
    s->tail = tail;
    s->end = end;
}

void recvStoredBuild(struct fsm *f)
{
    const uint8_t *aux = (const uint8_t *)f->aux.data;
    uint8_t head[1 + 8 + 4];
    uint8_t num[12];
    uint32_t i;

    if (!f->stored.active || f->stored.n == 0) {
        return;
    }
    msgpack_sbuffer_clear(&f->stored.buf);
    head[0] = RECV_STORED_MAGIC;
    bePut64(head + 1, f->stored.qid);
    bePut32(head + 9, f->stored.n);
    recvStoredWrite(f, head, sizeof head);
    for (i = 0; i < f->stored.n; i++) {
        const struct recvSlot *s = &f->stored.slot[i];
        bePut64(num, s->seq);
        bePut32(num + 8, (uint32_t)(s->body - s->start));
        recvStoredWrite(f, num, sizeof num);
        recvStoredWrite(f, aux + s->start, s->body - s->start);
        bePut32(num, (uint32_t)(s->end - s->tail));
        recvStoredWrite(f, num, 4);
        recvStoredWrite(f, aux + s->tail, s->end - s->tail);
    }
    f->stored.ready = !f->oom;
}

bool recvStoredIs(const void *data, size_t len)
{
    return len > 0 && ((const uint8_t *)data)[0] == RECV_STORED_MAGIC;
}

/* One message of a parsed stored form. */
struct recvPart
{
    uint64_t seq;
    const uint8_t *head;
    size_t head_len;
    const uint8_t *tail;
    size_t tail_len;
    struct fsmStr body; /* from the message record, if present */
    bool present;
};

/* Take a u32 length and that many bytes from *p (*left bytes). */
static bool recvTake(const uint8_t **p, size_t *left, const uint8_t **out,
                     size_t *out_len)
{
    uint32_t n;

    if (*left < 4) {
        return false;
    }
    n = beGet32(*p);
    if (*left - 4 < n) {
        return false;
    }
    *out = *p + 4;
    *out_len = n;
    *p += 4 + n;
    *left -= 4 + n;
    return true;
}

int recvStoredRebuild(struct fsm *f, const void *data, size_t len)
{
    struct recvPart part[FSM_BATCH_MAX];
    const uint8_t *p = data;
    size_t left = len;
    uint64_t qid;
    uint32_t n;
    uint32_t present = 0;
    uint32_t i;
    bool dead;
    int rv;

    if (len < 13 || p[0] != RECV_STORED_MAGIC) {
        goto corrupt;
    }
    qid = beGet64(p + 1);
    /* A keyspace purged or deleted since: its messages are gone (some of
     * their keys may still wait for the sweep). */
    rv = sweepIsDead(f, qid, SWEEP_MESSAGES, &dead);
    if (rv != 0) {
        return rv;
    }
    n = beGet32(p + 9);
    if (n == 0 || n > FSM_BATCH_MAX) {
        goto corrupt;
    }
    p += 13;
    left -= 13;
    for (i = 0; i < n; i++) {
        struct recvPart *e = &part[i];
        struct msgRecord m;
        if (left < 8) {
            goto corrupt;
        }
        e->seq = beGet64(p);
        p += 8;
        left -= 8;
        if (!recvTake(&p, &left, &e->head, &e->head_len) ||
            !recvTake(&p, &left, &e->tail, &e->tail_len)) {
            goto corrupt;
        }
        /* Reads only from here on: the record's pointers stay valid. */
        e->present = false;
        rv = dead ? 0 : msgGet(f, qid, e->seq, &m, &e->present);
        if (rv != 0) {
            return rv;
        }
        if (e->present) {
            e->body = m.body;
            present++;
        }
    }
    if (left != 0) {
        goto corrupt;
    }
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "Messages");
    msgpack_pack_array(&f->pk, present);
    for (i = 0; i < n; i++) {
        const struct recvPart *e = &part[i];
        if (!e->present) {
            continue;
        }
        fsmReplyAppend(f, e->head, e->head_len);
        fsmPackStrN(&f->pk, e->body.p, e->body.len);
        fsmReplyAppend(f, e->tail, e->tail_len);
    }
    return 0;

corrupt:
    snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed stored receive reply");
    return FSM_ECORRUPT;
}
