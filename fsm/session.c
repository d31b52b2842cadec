/* Client sessions: exactly-once effect of retried requests (DESIGN.md
 * "Client sessions").
 *
 * Tables (integers big-endian):
 * - sessions: client_id(8) -> last_seq(8) ack(8) last_used_ms(8)
 * - replies:  client_id(8) seq(8) -> reply bytes, for ack <= seq <= last_seq;
 *             for a ReceiveMessage that delivered messages, a compact form
 *             without the bodies (recvreply.c)
 *
 * Rules for a mutating command (client id c, sequence s, ack a):
 * - no session for c: s must be 1, else SessionExpired ("unknown session").
 * - s == last + 1: the mark it would raise to is m = max(stored ack,
 *   min(a, s)) (a client cannot have acknowledged s itself; a larger a is
 *   clamped). If s - max(m, 1) >= window: TooManyInFlight. (ack 0 and ack 1
 *   both mean "nothing acknowledged": no sequence is below 1.) Otherwise run
 *   the op, store its reply (success or business error) at c|s, set last =
 *   s, ack = m, last_used = now, and free stored replies below m.
 * - s <= last: s < stored ack gives SessionExpired; otherwise the stored
 *   reply, byte for byte (a receive's is rebuilt from its compact form and
 *   the messages table: the same bytes, less any message deleted since).
 * - s > last + 1: OutOfOrder.
 *
 * A ReceiveMessage answered WouldWait (fsmCommand.wait) is like a refusal:
 * its reply is not stored and the sequence is not consumed.
 *
 * Refusals (SessionExpired, TooManyInFlight, OutOfOrder) and retries
 * change nothing at all, not even last_used: a session's idle time runs
 * from the last command it applied. Their replies are not stored.
 *
 * Expiry (the tick op): a session whose last_used + idle < now is deleted
 * with its stored replies. The tick walks the whole sessions table. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Length of a session record. */
#define SESSION_RECORD_LEN 24

/* A session record. */
struct sessionRecord
{
    uint64_t last_seq;     /* last applied sequence */
    uint64_t ack;          /* replies below it are freed */
    uint64_t last_used_ms; /* now_ms of the last applied command */
};

/* Decode a session record from @v. */
static int sessionDecode(struct fsm *f,
                         const struct storeVal *v,
                         struct sessionRecord *r)
{
    const uint8_t *p = v->data;

    if (v->len != SESSION_RECORD_LEN) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed session record");
        return FSM_ECORRUPT;
    }
    r->last_seq = beGet64(p);
    r->ack = beGet64(p + 8);
    r->last_used_ms = beGet64(p + 16);
    return 0;
}

/* Key of reply @seq of client @cid. */
static void sessionReplyKey(uint64_t cid, uint64_t seq, uint8_t out[16])
{
    bePut64(out, cid);
    bePut64(out + 8, seq);
}

/* Answer a retry of @cmd (seq <= last applied). */
static int sessionRetry(struct fsm *f,
                        const struct fsmCommand *cmd,
                        const struct sessionRecord *r)
{
    struct storeVal v;
    uint8_t key[16];
    bool found;
    int rv;

    if (cmd->seq < r->ack) {
        return fsmReplyError(f, FSM_ERR_SESSION_EXPIRED,
                             "sequence %llu was acknowledged (mark %llu): its "
                             "reply is gone",
                             (unsigned long long)cmd->seq,
                             (unsigned long long)r->ack);
    }
    sessionReplyKey(cmd->client_id, cmd->seq, key);
    rv = storeGet(&f->store, STORE_REPLIES, key, sizeof key, &v, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return fsmReplyError(f, FSM_ERR_SESSION_EXPIRED,
                             "no stored reply for sequence %llu",
                             (unsigned long long)cmd->seq);
    }
    if (recvStoredIs(v.data, v.len)) {
        return recvStoredRebuild(f, v.data, v.len);
    }
    fsmReplyRaw(f, v.data, v.len);
    return 0;
}

int sessionApply(struct fsm *f, const struct fsmCommand *cmd)
{
    struct sessionRecord r = {0, 0, 0};
    struct storeVal v;
    uint8_t cidkey[8];
    uint8_t key[16];
    uint8_t hi[16];
    uint8_t rec[SESSION_RECORD_LEN];
    uint64_t mark;
    uint64_t base;
    bool found;
    int rv;

    bePut64(cidkey, cmd->client_id);
    rv = storeGet(&f->store, STORE_SESSIONS, cidkey, sizeof cidkey, &v, &found);
    if (rv != 0) {
        return rv;
    }
    if (found) {
        rv = sessionDecode(f, &v, &r);
        if (rv != 0) {
            return rv;
        }
    } else if (cmd->seq != 1) {
        return fsmReplyError(f, FSM_ERR_SESSION_EXPIRED,
                             "unknown session: start a new one");
    }
    if (found && cmd->seq <= r.last_seq) {
        return sessionRetry(f, cmd, &r);
    }
    if (found && cmd->seq != r.last_seq + 1) {
        return fsmReplyError(f, FSM_ERR_OUT_OF_ORDER,
                             "sequence %llu is ahead of the next one (%llu): "
                             "resend from the first unanswered",
                             (unsigned long long)cmd->seq,
                             (unsigned long long)(r.last_seq + 1));
    }
    mark = cmd->ack < cmd->seq ? cmd->ack : cmd->seq;
    if (mark < r.ack) {
        mark = r.ack;
    }
    base = mark > 0 ? mark : 1;
    if (cmd->seq - base >= f->session_window) {
        return fsmReplyError(f, FSM_ERR_TOO_MANY_IN_FLIGHT,
                             "sequence %llu is %u or more past the "
                             "acknowledged mark %llu",
                             (unsigned long long)cmd->seq, f->session_window,
                             (unsigned long long)base);
    }

    rv = fsmExecute(f, cmd);
    if (rv != 0) {
        return rv;
    }
    if (f->hint.would_wait) {
        return 0; /* a long poll goes on: nothing stored, nothing consumed */
    }
    if (f->oom) {
        return FSM_ENOMEM; /* the reply is short: do not store it */
    }
    sessionReplyKey(cmd->client_id, cmd->seq, key);
    if (f->stored.ready) {
        /* A receive's reply without its bodies (recvreply.c). */
        rv = storePut(&f->store, STORE_REPLIES, key, sizeof key,
                      f->stored.buf.data, f->stored.buf.size);
    } else {
        rv = storePut(&f->store, STORE_REPLIES, key, sizeof key,
                      f->reply.data, f->reply.size);
    }
    if (rv != 0) {
        return rv;
    }
    if (mark > r.ack) {
        sessionReplyKey(cmd->client_id, r.ack, key);
        sessionReplyKey(cmd->client_id, mark, hi);
        rv = storeDelRange(&f->store, STORE_REPLIES, key, sizeof key, hi,
                           sizeof hi);
        if (rv != 0) {
            return rv;
        }
    }
    r.last_seq = cmd->seq;
    r.ack = mark;
    r.last_used_ms = cmd->now_ms;
    bePut64(rec, r.last_seq);
    bePut64(rec + 8, r.ack);
    bePut64(rec + 16, r.last_used_ms);
    return storePut(&f->store, STORE_SESSIONS, cidkey, sizeof cidkey, rec,
                    sizeof rec);
}

/* Delete session @cid and its stored replies. */
static int sessionDrop(struct fsm *f, uint64_t cid)
{
    uint8_t lo[8];
    uint8_t hi[8];
    int rv;

    bePut64(lo, cid);
    bePut64(hi, cid + 1);
    rv = storeDelRange(&f->store, STORE_REPLIES, lo, sizeof lo,
                       cid == UINT64_MAX ? NULL : hi, sizeof hi);
    if (rv != 0) {
        return rv;
    }
    return storeDel(&f->store, STORE_SESSIONS, lo, sizeof lo);
}

int sessionExpire(struct fsm *f, uint64_t now_ms)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    struct sessionRecord r;
    uint8_t pos[8];
    uint64_t cid;
    bool found;
    int rv;

    rv = storeCursorOpen(&f->store, NULL, STORE_SESSIONS, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
    while (rv == 0 && found) {
        if (k.len != 8) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed session key");
            rv = FSM_ECORRUPT;
            break;
        }
        cid = beGet64(k.data);
        rv = sessionDecode(f, &v, &r);
        if (rv != 0) {
            break;
        }
        if (r.last_used_ms > UINT64_MAX - f->session_idle_ms ||
            r.last_used_ms + f->session_idle_ms >= now_ms) {
            rv = storeCursorNext(&c, &k, &v, &found);
            continue;
        }
        rv = sessionDrop(f, cid);
        if (rv != 0 || cid == UINT64_MAX) {
            break;
        }
        /* Writes may move pages under the cursor: seek past @cid again. */
        bePut64(pos, cid + 1);
        rv = storeCursorSeek(&c, pos, sizeof pos, &k, &v, &found);
    }
    storeCursorClose(&c);
    return rv;
}
