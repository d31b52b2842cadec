/* FIFO queues: message groups, deduplication, and the FIFO receive.
 *
 * Tables (integers big-endian):
 * - groups:     mid(8) glen(1) group seq(8) -> empty: the messages of each
 *               group of a FIFO queue in send order. A group's head is its
 *               first entry; groups are ordered by (length, name).
 * - dedupe:     id(8) scope(1) [glen(1) group] dedup_id ->
 *               expires_ms(8) seqnum(8) msgid(36). scope 0: per queue;
 *               scope 1 (DeduplicationScope=messageGroup): per group.
 * - dedupe_exp: expires_ms(8) then the dedupe key -> empty, so that tick
 *               expires entries with one prefix scan. An entry whose
 *               dedupe record was replaced (same id after its window) or
 *               whose queue was deleted is dropped without effect.
 *
 * Delivery rules:
 * - only a group's head can be delivered, when visible (visible_at <=
 *   now: not delayed, not in flight); then its successors in the same
 *   receive, while they are visible too;
 * - while the head is in flight the group delivers nothing; when its
 *   visibility times out it is visible again and comes first;
 * - groups are served round-robin: the queue record keeps the last group
 *   served (its cursor), and a receive starts with the group after it,
 *   wrapping around once. The walk visits each group at most once per
 *   receive (cost: the number of groups of the queue). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

size_t fifoGroupPrefix(uint64_t qid, const struct fsmStr *g, uint8_t *out)
{
    bePut64(out, qid);
    out[8] = (uint8_t)g->len;
    memcpy(out + 9, g->p, g->len);
    return 9 + g->len;
}

/* Dedupe key of @dedup (in @group for messageGroup scope). */
static size_t fifoDedupeKey(const struct queueRecord *q,
                            const struct fsmStr *group,
                            const struct fsmStr *dedup, uint8_t *out)
{
    size_t n = 9;

    bePut64(out, q->id);
    if (q->flags & QUEUE_F_SCOPE_GROUP) {
        out[8] = 1;
        out[9] = (uint8_t)group->len;
        memcpy(out + 10, group->p, group->len);
        n = 10 + group->len;
    } else {
        out[8] = 0;
    }
    memcpy(out + n, dedup->p, dedup->len);
    return n + dedup->len;
}

/* Longest dedupe key. */
#define FIFO_DEDUPE_KEY_MAX (10 + FSM_GROUP_MAX + FSM_DEDUP_MAX)
#define FIFO_DEDUPE_VAL_LEN (16 + FSM_MESSAGE_ID_LEN)

int fifoDedupeGet(struct fsm *f, const struct queueRecord *q,
                  const struct fsmStr *group, const struct fsmStr *dedup,
                  uint64_t now, bool *found, uint64_t *seqnum,
                  char msgid[FSM_MESSAGE_ID_LEN + 1])
{
    uint8_t key[FIFO_DEDUPE_KEY_MAX];
    struct storeVal v;
    size_t klen = fifoDedupeKey(q, group, dedup, key);
    int rv;

    rv = storeGet(&f->store, STORE_DEDUPE, key, klen, &v, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (v.len != FIFO_DEDUPE_VAL_LEN) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed dedupe record");
        return FSM_ECORRUPT;
    }
    if (beGet64(v.data) <= now) {
        *found = false; /* outside the window */
        return 0;
    }
    *seqnum = beGet64((const uint8_t *)v.data + 8);
    memcpy(msgid, (const uint8_t *)v.data + 16, FSM_MESSAGE_ID_LEN);
    msgid[FSM_MESSAGE_ID_LEN] = '\0';
    return 0;
}

int fifoDedupePut(struct fsm *f, const struct queueRecord *q,
                  const struct fsmStr *group, const struct fsmStr *dedup,
                  uint64_t now, uint64_t seqnum,
                  const char msgid[FSM_MESSAGE_ID_LEN])
{
    uint8_t key[8 + FIFO_DEDUPE_KEY_MAX];
    uint8_t val[FIFO_DEDUPE_VAL_LEN];
    uint64_t expires = now + FSM_DEDUPE_WINDOW_MS;
    size_t klen = fifoDedupeKey(q, group, dedup, key + 8);
    int rv;

    bePut64(val, expires);
    bePut64(val + 8, seqnum);
    memcpy(val + 16, msgid, FSM_MESSAGE_ID_LEN);
    rv = storePut(&f->store, STORE_DEDUPE, key + 8, klen, val, sizeof val);
    if (rv != 0) {
        return rv;
    }
    bePut64(key, expires);
    return storePut(&f->store, STORE_DEDUPE_EXP, key, 8 + klen, "", 0);
}

int fifoTickDedupe(struct fsm *f, uint64_t now_ms)
{
    uint8_t key[8 + FIFO_DEDUPE_KEY_MAX];
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint32_t budget = FSM_TICK_BUDGET;
    size_t klen = 0;
    bool found;
    int rv;

    while (budget-- > 0) {
        rv = storeCursorOpen(&f->store, NULL, STORE_DEDUPE_EXP, &c);
        if (rv != 0) {
            return rv;
        }
        rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
        if (rv == 0 && found && (k.len < 17 || k.len > sizeof key)) {
            rv = FSM_ECORRUPT;
        }
        if (rv == 0 && found) {
            klen = k.len;
            memcpy(key, k.data, klen);
        }
        storeCursorClose(&c);
        if (rv != 0 || !found || beGet64(key) > now_ms) {
            return rv;
        }
        rv = storeGet(&f->store, STORE_DEDUPE, key + 8, klen - 8, &v, &found);
        if (rv == 0 && found && v.len == FIFO_DEDUPE_VAL_LEN &&
            beGet64(v.data) == beGet64(key)) {
            rv = storeDel(&f->store, STORE_DEDUPE, key + 8, klen - 8);
        }
        if (rv == 0) {
            rv = storeDel(&f->store, STORE_DEDUPE_EXP, key, klen);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* The first entry of the group at or after key @from (length @flen) in
 * queue @qid: *found, its group prefix (@prefix, *plen) and seq. */
static int fifoSeek(struct fsm *f, uint64_t qid, const uint8_t *from,
                    size_t flen, uint8_t *prefix, size_t *plen, uint64_t *seq,
                    bool *found)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    const uint8_t *p;
    int rv;

    rv = storeCursorOpen(&f->store, NULL, STORE_GROUPS, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, from, flen, &k, &v, found);
    storeCursorClose(&c);
    if (rv != 0 || !*found) {
        return rv;
    }
    p = k.data;
    if (k.len < 17 || beGet64(p) != qid) {
        *found = false;
        return 0;
    }
    if (k.len != 17 + (size_t)p[8]) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed group key");
        return FSM_ECORRUPT;
    }
    *plen = k.len - 8;
    memcpy(prefix, p, *plen);
    *seq = beGet64(p + *plen);
    return 0;
}

int fifoGroupHeadVisible(struct fsm *f, const struct queueRecord *q,
                         const struct fsmStr *group, uint64_t now,
                         bool *visible)
{
    uint8_t from[9 + FSM_GROUP_MAX];
    uint8_t prefix[9 + FSM_GROUP_MAX];
    struct msgRecord m;
    size_t flen = fifoGroupPrefix(q->mid, group, from);
    size_t plen;
    uint64_t seq;
    bool found;
    int rv;

    *visible = false;
    rv = fifoSeek(f, q->mid, from, flen, prefix, &plen, &seq, &found);
    if (rv != 0 || !found || plen != flen || memcmp(prefix, from, flen) != 0) {
        return rv;
    }
    rv = msgGet(f, q->mid, seq, &m, &found);
    if (rv == 0 && found) {
        *visible = m.visible_at <= now;
    }
    return rv;
}

/* Whether group @prefix is locked: a message of it was received and is
 * still in flight. Received messages are always a prefix of the group
 * (only a head and its successors are delivered), so the walk stops at the
 * first message never received. A head made visible again (its visibility
 * changed to 0) while a successor is in flight must wait for it: SQS
 * returns no message of a group while one of it is in flight. */
static int fifoGroupLocked(struct fsm *f, const struct queueRecord *q,
                           const uint8_t *prefix, size_t plen, uint64_t now,
                           bool *locked)
{
    uint8_t from[9 + FSM_GROUP_MAX + 8];
    uint8_t got[9 + FSM_GROUP_MAX];
    struct msgRecord m;
    uint64_t after = 0;
    unsigned walked;
    size_t glen;
    uint64_t seq;
    bool found;
    int rv;

    *locked = false;
    for (walked = 0; walked < FSM_RECEIVE_BUDGET; walked++) {
        memcpy(from, prefix, plen);
        bePut64(from + plen, after);
        rv = fifoSeek(f, q->mid, from, plen + 8, got, &glen, &seq, &found);
        if (rv != 0 || !found || glen != plen || memcmp(got, prefix, plen) != 0) {
            return rv;
        }
        rv = msgGet(f, q->mid, seq, &m, &found);
        if (rv != 0 || !found || m.recv_count == 0) {
            return rv;
        }
        if (m.visible_at > now) {
            *locked = true;
            return 0;
        }
        after = seq + 1;
    }
    return 0;
}

/* Serve group @prefix: its head and successors while visible, up to @max
 * in total, unless the group is locked. *served tells whether anything was
 * delivered. */
static int fifoServeGroup(struct fsm *f, struct queueRecord *q,
                          const uint8_t *prefix, size_t plen, uint64_t now,
                          uint32_t max, uint32_t vis, uint32_t *n,
                          uint32_t *skipped, bool *served)
{
    uint8_t from[9 + FSM_GROUP_MAX + 8];
    uint8_t got[9 + FSM_GROUP_MAX];
    struct msgRecord m;
    uint64_t after = 0;
    size_t glen;
    uint64_t seq;
    bool found;
    bool delivered;
    int rv;

    *served = false;
    rv = fifoGroupLocked(f, q, prefix, plen, now, &delivered);
    if (rv != 0 || delivered) {
        return rv;
    }
    while (*n < max && *skipped < FSM_RECEIVE_BUDGET) {
        memcpy(from, prefix, plen);
        bePut64(from + plen, after);
        rv = fifoSeek(f, q->mid, from, plen + 8, got, &glen, &seq, &found);
        if (rv != 0) {
            return rv;
        }
        if (!found || glen != plen || memcmp(got, prefix, plen) != 0) {
            return 0; /* the group has nothing more */
        }
        rv = msgGet(f, q->mid, seq, &m, &found);
        if (rv == 0 && !found) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "group entry without message");
            rv = FSM_ECORRUPT;
        }
        if (rv != 0) {
            return rv;
        }
        if (msgExpired(q, &m, now)) {
            rv = msgRemove(f, q, seq, &m);
            (*skipped)++;
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (m.visible_at > now) {
            return 0; /* in flight or delayed: the group waits */
        }
        rv = msgDeliver(f, q, seq, &m, now, vis, &delivered);
        if (rv != 0) {
            return rv;
        }
        if (delivered) {
            (*n)++;
            *served = true;
            after = seq + 1;
        } else {
            (*skipped)++; /* moved to the dead-letter queue */
        }
    }
    return 0;
}

int fifoReceive(struct fsm *f, struct queueRecord *q, uint64_t now,
                uint32_t max, uint32_t vis, uint32_t *n)
{
    uint8_t cursor[9 + FSM_GROUP_MAX];
    uint8_t from[9 + FSM_GROUP_MAX + 8];
    uint8_t prefix[9 + FSM_GROUP_MAX];
    size_t clen = 0;
    size_t plen;
    uint32_t skipped = 0;
    uint64_t seq;
    int pass;
    bool found;
    bool served;
    int rv;

    /* The cursor as a group prefix (empty: start from the first group). */
    if (q->cursor_len > 0) {
        struct fsmStr g = {(const char *)q->cursor + 1, q->cursor[0]};
        clen = fifoGroupPrefix(q->mid, &g, cursor);
    }
    for (pass = 0; pass < 2 && *n < max; pass++) {
        size_t flen;
        if (pass == 0 && clen > 0) {
            memcpy(from, cursor, clen);
            memset(from + clen, 0xff, 8); /* past the cursor's group */
            flen = clen + 8;
        } else if (pass == 0) {
            pass = 1; /* no cursor: one pass over every group */
            bePut64(from, q->mid);
            flen = 8;
        } else {
            bePut64(from, q->mid);
            flen = 8;
        }
        while (*n < max && skipped < FSM_RECEIVE_BUDGET) {
            rv = fifoSeek(f, q->mid, from, flen, prefix, &plen, &seq, &found);
            if (rv != 0) {
                return rv;
            }
            if (!found) {
                break;
            }
            if (pass == 1 && clen > 0) {
                /* The second pass ends after the cursor's group. */
                size_t m = plen < clen ? plen : clen;
                int cmp = memcmp(prefix, cursor, m);
                if (cmp > 0 || (cmp == 0 && plen > clen)) {
                    break;
                }
            }
            rv = fifoServeGroup(f, q, prefix, plen, now, max, vis, n, &skipped,
                                &served);
            if (rv != 0) {
                return rv;
            }
            if (served) {
                q->cursor_len = plen - 8;
                memcpy(q->cursor, prefix + 8, plen - 8);
            }
            memcpy(from, prefix, plen);
            memset(from + plen, 0xff, 8);
            flen = plen + 8;
        }
    }
    return 0;
}
