/* Messages: records, indexes, and the ops that send, delete and change the
 * visibility of messages (single and batch).
 *
 * Tables (integers big-endian; qid = the queue's message keyspace, the
 * mid of its record (queue.c: its id until a purge gives it a new one);
 * seq = the message's sequence in its queue, from the queue's next_seq,
 * which a purge does not reset):
 * - messages:  qid seq -> the immutable part of a message:
 *              sent_ms(8) seqnum(8) msgid(36) src_len(1) group_len(1)
 *              dedup_len(1) attrs_len(4) body_len(4) md5_body(16), then
 *              the source
 *              queue's name (dead-lettered messages), MessageGroupId,
 *              MessageDeduplicationId, message attributes (in the MD5
 *              input encoding of SQS, sorted by name), body, and the
 *              AWSTraceHeader (the rest of the record, often nothing).
 * - msgstate:  qid seq -> visible_at(8) first_recv_ms(8) last_recv_ms(8)
 *              recv_count(4): the part a receive or a visibility change
 *              rewrites (small, so that a receive never copies a body).
 *              last_recv_ms is the now_ms of the latest receive: a
 *              visibility change may not make the message invisible past
 *              12 hours after it (msgops.c).
 * - ready:     qid visible_at seq -> empty: messages not in flight,
 *              visible (visible_at <= now) or delayed.
 * - inflight:  qid visible_at seq -> empty: received messages. Each
 *              command on a queue first moves its entries with
 *              visible_at <= now back to ready (msgNormalize), so an
 *              inflight entry means "received and invisible".
 * - retention: qid sent_ms seq -> empty: a message is removed once
 *              sent_ms + MessageRetentionPeriod <= now (lazily by commands
 *              on its queue, and by tick), and never delivered after.
 * - groups:    see fifo.c.
 *
 * The queue record counts n_ready and n_inflight, so that
 * GetQueueAttributes needs only range scans for delayed messages and for
 * in-flight ones whose time has passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Length of the fixed part of a message record, and of a msgstate. */
#define MSG_FIXED_LEN 79
#define MSG_STATE_LEN 28

void msgKey(uint64_t qid, uint64_t seq, uint8_t out[16])
{
    bePut64(out, qid);
    bePut64(out + 8, seq);
}

void msgIdxKey(uint64_t qid, uint64_t at, uint64_t seq, uint8_t out[24])
{
    bePut64(out, qid);
    bePut64(out + 8, at);
    bePut64(out + 16, seq);
}

/* Decode the immutable part of a message from @v into @m. */
static bool msgDecode(const struct storeVal *v, struct msgRecord *m)
{
    const uint8_t *p = v->data;
    size_t src, grp, ded, att, body;

    if (v->len < MSG_FIXED_LEN) {
        return false;
    }
    m->sent_ms = beGet64(p);
    m->seqnum = beGet64(p + 8);
    memcpy(m->msgid, p + 16, FSM_MESSAGE_ID_LEN);
    src = p[52];
    grp = p[53];
    ded = p[54];
    att = beGet32(p + 55);
    body = beGet32(p + 59);
    memcpy(m->md5body, p + 63, sizeof m->md5body);
    if (v->len < MSG_FIXED_LEN + src + grp + ded + att + body ||
        v->len - (MSG_FIXED_LEN + src + grp + ded + att + body) > FSM_TRACE_MAX) {
        return false;
    }
    p += MSG_FIXED_LEN;
    m->src.p = (const char *)p;
    m->src.len = src;
    m->group.p = (const char *)p + src;
    m->group.len = grp;
    m->dedup.p = (const char *)p + src + grp;
    m->dedup.len = ded;
    m->attrs.p = (const char *)p + src + grp + ded;
    m->attrs.len = att;
    m->body.p = (const char *)p + src + grp + ded + att;
    m->body.len = body;
    m->trace.p = m->body.p + body;
    m->trace.len = v->len - (MSG_FIXED_LEN + src + grp + ded + att + body);
    return true;
}

int msgGet(struct fsm *f, uint64_t qid, uint64_t seq, struct msgRecord *m,
           bool *found)
{
    struct storeVal v;
    struct storeVal s;
    uint8_t key[16];
    uint8_t ikey[24];
    bool has;
    int rv;

    msgKey(qid, seq, key);
    rv = storeGet(&f->store, STORE_MSGSTATE, key, sizeof key, &s, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (s.len != MSG_STATE_LEN) {
        goto corrupt;
    }
    m->visible_at = beGet64(s.data);
    m->first_recv_ms = beGet64((const uint8_t *)s.data + 8);
    m->last_recv_ms = beGet64((const uint8_t *)s.data + 16);
    m->recv_count = beGet32((const uint8_t *)s.data + 24);
    msgIdxKey(qid, m->visible_at, seq, ikey);
    rv = storeGet(&f->store, STORE_INFLIGHT, ikey, sizeof ikey, &s, &has);
    if (rv != 0) {
        return rv;
    }
    m->state = has ? MSG_INFLIGHT : MSG_READY;
    rv = storeGet(&f->store, STORE_MESSAGES, key, sizeof key, &v, &has);
    if (rv != 0) {
        return rv;
    }
    if (!has || !msgDecode(&v, m)) {
        goto corrupt;
    }
    return 0;

corrupt:
    snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed message record");
    return FSM_ECORRUPT;
}

/* Copy @s to @w (nothing if empty: its pointer may be NULL); the end. */
static uint8_t *msgCopy(uint8_t *w, const struct fsmStr *s)
{
    if (s->len > 0) {
        memcpy(w, s->p, s->len);
    }
    return w + s->len;
}

int msgEncode(struct fsm *f, const struct msgRecord *m, uint8_t **out,
              size_t *len)
{
    size_t n = MSG_FIXED_LEN + m->src.len + m->group.len + m->dedup.len +
               m->attrs.len + m->body.len + m->trace.len;
    uint8_t *p = malloc(n);
    uint8_t *w;

    if (p == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    bePut64(p, m->sent_ms);
    bePut64(p + 8, m->seqnum);
    memcpy(p + 16, m->msgid, FSM_MESSAGE_ID_LEN);
    p[52] = (uint8_t)m->src.len;
    p[53] = (uint8_t)m->group.len;
    p[54] = (uint8_t)m->dedup.len;
    bePut32(p + 55, (uint32_t)m->attrs.len);
    bePut32(p + 59, (uint32_t)m->body.len);
    memcpy(p + 63, m->md5body, sizeof m->md5body);
    w = p + MSG_FIXED_LEN;
    w = msgCopy(w, &m->src);
    w = msgCopy(w, &m->group);
    w = msgCopy(w, &m->dedup);
    w = msgCopy(w, &m->attrs);
    w = msgCopy(w, &m->body);
    msgCopy(w, &m->trace);
    *out = p;
    *len = n;
    return 0;
}

/* Write the msgstate of message @seq of @qid. */
static int msgPutState(struct fsm *f, uint64_t qid, uint64_t seq, uint64_t at,
                       uint64_t first, uint64_t last, uint32_t count)
{
    uint8_t key[16];
    uint8_t val[MSG_STATE_LEN];

    msgKey(qid, seq, key);
    bePut64(val, at);
    bePut64(val + 8, first);
    bePut64(val + 16, last);
    bePut32(val + 24, count);
    return storePut(&f->store, STORE_MSGSTATE, key, sizeof key, val, sizeof val);
}

int msgInsertEncoded(struct fsm *f, struct queueRecord *q, uint64_t seq,
                     const uint8_t *buf, size_t len, uint64_t at)
{
    struct storeVal v = {buf, len};
    struct msgRecord m;
    uint8_t key[16];
    uint8_t ikey[24];
    uint8_t gkey[8 + 1 + FSM_GROUP_MAX + 8];
    size_t glen;
    int rv;

    if (!msgDecode(&v, &m)) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed message record");
        return FSM_ECORRUPT;
    }
    msgKey(q->mid, seq, key);
    rv = storePut(&f->store, STORE_MESSAGES, key, sizeof key, buf, len);
    if (rv == 0) {
        rv = msgPutState(f, q->mid, seq, at, 0, 0, 0);
    }
    msgIdxKey(q->mid, at, seq, ikey);
    if (rv == 0) {
        rv = storePut(&f->store, STORE_READY, ikey, sizeof ikey, "", 0);
    }
    msgIdxKey(q->mid, m.sent_ms, seq, ikey);
    if (rv == 0) {
        rv = storePut(&f->store, STORE_RETENTION, ikey, sizeof ikey, "", 0);
    }
    if (rv == 0 && (q->flags & QUEUE_F_FIFO) && m.group.len > 0) {
        glen = fifoGroupPrefix(q->mid, &m.group, gkey);
        bePut64(gkey + glen, seq);
        rv = storePut(&f->store, STORE_GROUPS, gkey, glen + 8, "", 0);
    }
    if (rv == 0) {
        q->n_ready++;
    }
    return rv;
}

int msgInsert(struct fsm *f, struct queueRecord *q, uint64_t seq,
              const struct msgRecord *m)
{
    uint8_t *buf;
    size_t len;
    int rv;

    rv = msgEncode(f, m, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    rv = msgInsertEncoded(f, q, seq, buf, len, m->visible_at);
    free(buf);
    return rv;
}

int msgRemove(struct fsm *f, struct queueRecord *q, uint64_t seq,
              const struct msgRecord *m)
{
    uint8_t key[16];
    uint8_t ikey[24];
    uint8_t rkey[24];
    uint8_t gkey[8 + 1 + FSM_GROUP_MAX + 8];
    size_t glen = 0;
    bool inflight = m->state == MSG_INFLIGHT;
    int rv;

    /* Every key first: @m points into values a write may move. */
    msgKey(q->mid, seq, key);
    msgIdxKey(q->mid, m->visible_at, seq, ikey);
    msgIdxKey(q->mid, m->sent_ms, seq, rkey);
    if ((q->flags & QUEUE_F_FIFO) && m->group.len > 0) {
        glen = fifoGroupPrefix(q->mid, &m->group, gkey);
        bePut64(gkey + glen, seq);
        glen += 8;
    }
    rv = storeDel(&f->store, STORE_MESSAGES, key, sizeof key);
    if (rv == 0) {
        rv = storeDel(&f->store, STORE_MSGSTATE, key, sizeof key);
    }
    if (rv == 0) {
        rv = storeDel(&f->store, inflight ? STORE_INFLIGHT : STORE_READY, ikey,
                      sizeof ikey);
    }
    if (rv == 0) {
        rv = storeDel(&f->store, STORE_RETENTION, rkey, sizeof rkey);
    }
    if (rv == 0 && glen > 0) {
        rv = storeDel(&f->store, STORE_GROUPS, gkey, glen);
    }
    if (rv == 0) {
        if (inflight) {
            q->n_inflight--;
        } else {
            q->n_ready--;
        }
    }
    return rv;
}

int msgSetState(struct fsm *f, struct queueRecord *q, uint64_t seq,
                struct msgRecord *m, uint8_t state, uint64_t at,
                uint32_t recv_count, uint64_t first_recv_ms,
                uint64_t last_recv_ms)
{
    uint8_t okey[24];
    uint8_t nkey[24];
    int rv;

    msgIdxKey(q->mid, m->visible_at, seq, okey);
    msgIdxKey(q->mid, at, seq, nkey);
    rv = storeDel(&f->store,
                  m->state == MSG_INFLIGHT ? STORE_INFLIGHT : STORE_READY, okey,
                  sizeof okey);
    if (rv == 0) {
        rv = storePut(&f->store,
                      state == MSG_INFLIGHT ? STORE_INFLIGHT : STORE_READY,
                      nkey, sizeof nkey, "", 0);
    }
    if (rv == 0) {
        rv = msgPutState(f, q->mid, seq, at, first_recv_ms, last_recv_ms,
                         recv_count);
    }
    if (rv != 0) {
        return rv;
    }
    if (m->state != state) {
        if (state == MSG_INFLIGHT) {
            q->n_ready--;
            q->n_inflight++;
        } else {
            q->n_inflight--;
            q->n_ready++;
        }
    }
    m->state = state;
    m->visible_at = at;
    m->recv_count = recv_count;
    m->first_recv_ms = first_recv_ms;
    m->last_recv_ms = last_recv_ms;
    return 0;
}

bool msgExpired(const struct queueRecord *q, const struct msgRecord *m,
                uint64_t now)
{
    return m->sent_ms + (uint64_t)q->retention * 1000 <= now;
}

/* First key of table @t with prefix qid and key[8..16) <= @upto. */
static int msgFirstUpTo(struct fsm *f, unsigned t, uint64_t qid, uint64_t upto,
                        uint64_t *at, uint64_t *seq, bool *found)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t lo[8];
    int rv;

    bePut64(lo, qid);
    rv = storeCursorOpen(&f->store, NULL, t, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, lo, sizeof lo, &k, &v, found);
    storeCursorClose(&c);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (k.len != 24 || memcmp(k.data, lo, 8) != 0 ||
        beGet64((const uint8_t *)k.data + 8) > upto) {
        *found = false;
        return 0;
    }
    *at = beGet64((const uint8_t *)k.data + 8);
    *seq = beGet64((const uint8_t *)k.data + 16);
    return 0;
}

int msgNormalize(struct fsm *f, struct queueRecord *q, uint64_t now,
                 uint32_t budget, uint32_t *removed)
{
    struct msgRecord m;
    uint64_t at;
    uint64_t seq;
    bool found;
    int rv;

    *removed = 0;
    for (;;) {
        rv = msgFirstUpTo(f, STORE_INFLIGHT, q->mid, now, &at, &seq, &found);
        if (rv != 0 || !found) {
            break;
        }
        rv = msgGet(f, q->mid, seq, &m, &found);
        if (rv == 0 && !found) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "inflight entry without message");
            rv = FSM_ECORRUPT;
        }
        if (rv == 0) {
            rv = msgSetState(f, q, seq, &m, MSG_READY, at, m.recv_count,
                             m.first_recv_ms, m.last_recv_ms);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (rv != 0) {
        return rv;
    }
    while (*removed < budget) {
        uint64_t cutoff = (uint64_t)q->retention * 1000;
        if (now < cutoff) {
            break;
        }
        rv = msgFirstUpTo(f, STORE_RETENTION, q->mid, now - cutoff, &at, &seq,
                          &found);
        if (rv != 0 || !found) {
            return rv;
        }
        rv = msgGet(f, q->mid, seq, &m, &found);
        if (rv == 0 && !found) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "retention entry without message");
            rv = FSM_ECORRUPT;
        }
        if (rv == 0) {
            rv = msgRemove(f, q, seq, &m);
        }
        if (rv != 0) {
            return rv;
        }
        (*removed)++;
    }
    return 0;
}

/* Count entries of table @t with prefix qid and key[8..16) in [lo, hi];
 * with @first, stop at the first and give its time. */
static int msgRange(struct fsm *f, unsigned t, uint64_t qid, uint64_t lo,
                    uint64_t hi, bool first, uint64_t *n, uint64_t *at)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t key[16];
    bool found;
    int rv;

    *n = 0;
    bePut64(key, qid);
    bePut64(key + 8, lo);
    rv = storeCursorOpen(&f->store, NULL, t, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, key, sizeof key, &k, &v, &found);
    while (rv == 0 && found && k.len == 24 && memcmp(k.data, key, 8) == 0 &&
           beGet64((const uint8_t *)k.data + 8) <= hi) {
        (*n)++;
        if (first) {
            *at = beGet64((const uint8_t *)k.data + 8);
            break;
        }
        rv = storeCursorNext(&c, &k, &v, &found);
    }
    storeCursorClose(&c);
    return rv;
}

int msgNextVisible(struct fsm *f, const struct queueRecord *q, uint64_t now,
                   uint64_t *at)
{
    uint64_t n;
    uint64_t a = 0;
    uint64_t b = 0;
    int rv;

    *at = 0;
    rv = msgRange(f, STORE_READY, q->mid, now + 1, UINT64_MAX, true, &n, &a);
    if (rv == 0 && n == 0) {
        a = 0;
    }
    if (rv == 0) {
        rv = msgRange(f, STORE_INFLIGHT, q->mid, now + 1, UINT64_MAX, true, &n, &b);
        if (n == 0) {
            b = 0;
        }
    }
    *at = a == 0 ? b : (b == 0 || a < b ? a : b);
    return rv;
}

int msgCounts(struct fsm *f, const struct queueRecord *q, uint64_t now,
              uint64_t *visible, uint64_t *inflight, uint64_t *delayed)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint64_t rdel;
    uint64_t iexp;
    uint64_t cutoff = (uint64_t)q->retention * 1000;
    uint64_t vis;
    uint64_t inf;
    uint8_t key[8];
    bool found;
    int rv;

    rv = msgRange(f, STORE_READY, q->mid, now + 1, UINT64_MAX, false, &rdel, NULL);
    if (rv == 0) {
        rv = msgRange(f, STORE_INFLIGHT, q->mid, 0, now, false, &iexp, NULL);
    }
    if (rv != 0) {
        return rv;
    }
    vis = q->n_ready - rdel + iexp;
    inf = q->n_inflight - iexp;
    /* Messages past retention are gone, even if no command removed them. */
    if (now >= cutoff) {
        bePut64(key, q->mid);
        rv = storeCursorOpen(&f->store, NULL, STORE_RETENTION, &c);
        if (rv != 0) {
            return rv;
        }
        rv = storeCursorSeek(&c, key, sizeof key, &k, &v, &found);
        while (rv == 0 && found && k.len == 24 && memcmp(k.data, key, 8) == 0 &&
               beGet64((const uint8_t *)k.data + 8) <= now - cutoff) {
            struct storeVal s;
            uint8_t skey[16];
            bool has;
            msgKey(q->mid, beGet64((const uint8_t *)k.data + 16), skey);
            rv = storeGet(&f->store, STORE_MSGSTATE, skey, sizeof skey, &s, &has);
            if (rv != 0 || !has || s.len != MSG_STATE_LEN) {
                break;
            }
            if (beGet64(s.data) > now) {
                /* Delayed or invisible: which one needs the index. */
                uint8_t ikey[24];
                struct storeVal x;
                bool in;
                msgIdxKey(q->mid, beGet64(s.data), beGet64(skey + 8), ikey);
                rv = storeGet(&f->store, STORE_INFLIGHT, ikey, sizeof ikey, &x,
                              &in);
                if (rv != 0) {
                    break;
                }
                if (in) {
                    inf--;
                } else {
                    rdel--;
                }
            } else {
                vis--;
            }
            rv = storeCursorNext(&c, &k, &v, &found);
        }
        storeCursorClose(&c);
        if (rv != 0) {
            return rv;
        }
    }
    *visible = vis;
    *inflight = inf;
    *delayed = rdel;
    return 0;
}

uint32_t msgAttrCount(const struct fsmStr *attrs)
{
    const uint8_t *p = (const uint8_t *)attrs->p;
    size_t off = 0;
    uint32_t n = 0;

    while (off + 4 <= attrs->len) {
        off += 4 + beGet32(p + off);       /* name */
        off += 4 + beGet32(p + off);       /* type */
        off += 1;                          /* transport */
        off += 4 + beGet32(p + off);       /* value */
        n++;
    }
    return n;
}

void msgPackAttrs(msgpack_packer *pk, const struct fsmStr *attrs)
{
    const uint8_t *p = (const uint8_t *)attrs->p;
    size_t off = 0;

    msgpack_pack_map(pk, msgAttrCount(attrs));
    while (off + 4 <= attrs->len) {
        uint32_t nl = beGet32(p + off);
        const uint8_t *name = p + off + 4;
        uint32_t tl;
        const uint8_t *type;
        uint8_t transport;
        uint32_t vl;
        off += 4 + nl;
        tl = beGet32(p + off);
        type = p + off + 4;
        off += 4 + tl;
        transport = p[off];
        off += 1;
        vl = beGet32(p + off);
        fsmPackStrN(pk, name, nl);
        msgpack_pack_map(pk, 2);
        fsmPackStr(pk, "DataType");
        fsmPackStrN(pk, type, tl);
        if (transport == 2) {
            fsmPackStr(pk, "BinaryValue");
            msgpack_pack_bin_with_body(pk, p + off + 4, vl);
        } else {
            fsmPackStr(pk, "StringValue");
            fsmPackStrN(pk, p + off + 4, vl);
        }
        off += 4 + vl;
    }
}
