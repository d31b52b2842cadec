/* SendMessage, DeleteMessage, ChangeMessageVisibility and their batch
 * forms.
 *
 * Each op finds its queue, brings it up to now (msgNormalize: expired
 * in-flight messages back to ready, retention-expired ones removed), then
 * handles each entry with a *One function that either succeeds or gives a
 * business error for that entry; the single op replies that error, the
 * batch op lists it in Failed. A failed entry writes nothing.
 *
 * Receipts (util.c) carry the queue id, the message's sequence and its
 * receive count at that receive:
 * - DeleteMessage: a message already gone succeeds (as SQS); a receipt
 *   from an earlier receive of a message received again since is
 *   ReceiptHandleIsInvalid (SQS may accept it: documented difference).
 * - ChangeMessageVisibility: a stale receipt or a message gone is
 *   ReceiptHandleIsInvalid; a message not in flight is MessageNotInflight.
 *   As in SQS, a message may stay invisible at most 12 hours
 *   (FSM_VISIBILITY_MAX_S) after the receive that put it in flight (the
 *   latest, msgstate's last_recv_ms): a change whose new end, now +
 *   VisibilityTimeout, lies past it is InvalidParameterValue and changes
 *   nothing. The bound is in milliseconds, from the receive's now_ms.
 *
 * Hints: a send without delay counts in wake; a delay sets
 * next_visible_ms; a visibility change to 0, and a delete or visibility
 * change that leaves a FIFO group's head visible, count in wake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Result of one send. */
struct sendResult
{
    struct argErr err; /* code FSM_ERR_NONE: sent */
    char msgid[FSM_MESSAGE_ID_LEN + 1];
    char md5body[33];
    char md5attrs[33];
    bool has_attrs;
    uint64_t seqnum;
};

/* Encode the attributes of @e in SQS's MD5 input form into @out (malloc'd). */
static int msgAttrsEncode(struct fsm *f, const struct sendEntry *e,
                          uint8_t **out, size_t *len)
{
    size_t n = 0;
    uint8_t *p;
    uint8_t *w;
    unsigned i;

    for (i = 0; i < e->nattrs; i++) {
        n += 13 + e->attrs[i].name.len + e->attrs[i].type.len +
             e->attrs[i].value.len;
    }
    p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    w = p;
    for (i = 0; i < e->nattrs; i++) {
        const struct msgAttr *a = &e->attrs[i];
        bePut32(w, (uint32_t)a->name.len);
        memcpy(w + 4, a->name.p, a->name.len);
        w += 4 + a->name.len;
        bePut32(w, (uint32_t)a->type.len);
        memcpy(w + 4, a->type.p, a->type.len);
        w += 4 + a->type.len;
        *w++ = a->binary ? 2 : 1;
        bePut32(w, (uint32_t)a->value.len);
        memcpy(w + 4, a->value.p, a->value.len);
        w += 4 + a->value.len;
    }
    *out = p;
    *len = n;
    return 0;
}

/* The entry of the MessageBody of @map (a message's args in @cmd) at
 * @out, its MD5 zero; false if it has none to hash. */
static bool msgFindBody(const struct fsmCommand *cmd, const struct mpVal *map, uint8_t *out)
{
    struct mpVal v;

    if (!argsFind(map, "MessageBody", &v) || (v.type != MP_STR && v.type != MP_BIN) ||
        v.len == 0 || v.len > UINT32_MAX) {
        return false;
    }
    bePut32(out, (uint32_t)(v.ptr - (const uint8_t *)cmd->args));
    bePut32(out + 4, (uint32_t)v.len);
    memset(out + 8, 0, FSM_BODY_DIGEST_LEN - 8);
    return true;
}

void fsmCommandFindBodies(struct fsmCommand *cmd, uint8_t out[FSM_BODY_DIGESTS_MAX])
{
    struct mpReader r = {cmd->args, cmd->args_len};
    struct mpVal map;
    struct mpVal list;
    size_t n = 0;

    cmd->bodies = NULL;
    cmd->bodies_len = 0;
    if (cmd->args == NULL || cmd->args_len > UINT32_MAX || !mpNext(&r, &map) ||
        map.type != MP_MAP) {
        return;
    }
    if (cmd->op == FSM_OP_SEND_MESSAGE) {
        n = msgFindBody(cmd, &map, out) ? 1 : 0;
    } else if (cmd->op == FSM_OP_SEND_MESSAGE_BATCH && argsFind(&map, "Entries", &list) &&
               list.type == MP_ARRAY && list.n <= FSM_BATCH_MAX) {
        struct mpReader e;
        struct mpVal entry;
        mpEnter(&list, &e);
        for (uint32_t i = 0; i < list.n && mpNext(&e, &entry); i++) {
            if (entry.type == MP_MAP &&
                msgFindBody(cmd, &entry, out + n * FSM_BODY_DIGEST_LEN)) {
                n++;
            }
        }
    }
    if (n > 0) {
        cmd->bodies = out;
        cmd->bodies_len = n * FSM_BODY_DIGEST_LEN;
    }
}

/* Bodies hashed per md5Many call: enough to keep its lanes busy, few
 * enough for the stack. */
#define MSG_HASH_CHUNK 64

/* Add a job to @jobs for each entry of @bodies that names bytes of @args,
 * hashing a chunk whenever @jobs fills up. */
static void msgHashEntries(uint8_t *bodies, size_t bodies_len, const uint8_t *args,
                           size_t args_len, struct md5Job *jobs, size_t *njobs)
{
    for (size_t i = 0; i + FSM_BODY_DIGEST_LEN <= bodies_len; i += FSM_BODY_DIGEST_LEN) {
        uint8_t *entry = bodies + i;
        uint32_t at = beGet32(entry);
        uint32_t len = beGet32(entry + 4);

        if (at > args_len || len > args_len - at) {
            continue; /* not from fsmCommandFindBodies: no replica uses it */
        }
        jobs[(*njobs)++] = (struct md5Job){args + at, len, entry + 8};
        if (*njobs == MSG_HASH_CHUNK) {
            md5Many(jobs, *njobs);
            *njobs = 0;
        }
    }
}

void fsmBodiesHash(uint8_t *base, const struct fsmBodiesAt *at, size_t n)
{
    struct md5Job jobs[MSG_HASH_CHUNK];
    size_t njobs = 0;

    for (size_t c = 0; c < n; c++) {
        msgHashEntries(base + at[c].bodies, at[c].bodies_len, base + at[c].args,
                       at[c].args_len, jobs, &njobs);
    }
    md5Many(jobs, njobs);
}

void fsmCommandHashBodies(struct fsmCommand *cmd, uint8_t out[FSM_BODY_DIGESTS_MAX])
{
    struct md5Job jobs[MSG_HASH_CHUNK];
    size_t njobs = 0;

    fsmCommandFindBodies(cmd, out);
    msgHashEntries(out, cmd->bodies_len, cmd->args, cmd->args_len, jobs, &njobs);
    md5Many(jobs, njobs);
}

/* The MD5 of @body that the proposer carried in @cmd, if it carried one for
 * exactly these bytes of args (fsmCommandHashBodies); else NULL. */
static const uint8_t *msgCarriedMd5(const struct fsmCommand *cmd, const struct fsmStr *body)
{
    const uint8_t *d = cmd->bodies;
    uintptr_t args = (uintptr_t)cmd->args;
    uintptr_t at = (uintptr_t)body->p;
    size_t i;

    if (d == NULL || at < args || at - args > cmd->args_len) {
        return NULL;
    }
    for (i = 0; i + FSM_BODY_DIGEST_LEN <= cmd->bodies_len; i += FSM_BODY_DIGEST_LEN) {
        if (beGet32(d + i) == at - args && beGet32(d + i + 4) == body->len) {
            return d + i + 8;
        }
    }
    return NULL;
}

/* Send entry @e of @cmd to @q into @res. */
static int msgSendOne(struct fsm *f, struct queueRecord *q,
                      const struct sendEntry *e, const struct fsmCommand *cmd,
                      struct sendResult *res)
{
    const uint8_t *carried = msgCarriedMd5(cmd, &e->body);
    uint64_t now = cmd->now_ms;
    struct msgRecord m;
    struct fsmStr dedup = e->dedup;
    char cbd[65];
    uint8_t *attrs = NULL;
    size_t alen = 0;
    uint64_t seq;
    uint32_t delay;
    int rv;

    memset(res, 0, sizeof *res);
    if (e->size > q->maxsize) {
        argFail(&res->err, FSM_ERR_MESSAGE_TOO_LONG,
                "One or more parameters are invalid. Reason: Message must be "
                "shorter than %u bytes.",
                q->maxsize);
        return 0;
    }
    if ((q->flags & QUEUE_F_FIFO) && dedup.len == 0) {
        uint8_t h[32];
        if (!(q->flags & QUEUE_F_CBD)) {
            argFail(&res->err, FSM_ERR_INVALID_PARAMETER,
                    "The queue should either have ContentBasedDeduplication "
                    "enabled or MessageDeduplicationId provided explicitly.");
            return 0;
        }
        rv = utilSha256(e->body.p, e->body.len, "", 0, h);
        if (rv != 0) {
            return rv;
        }
        utilHex(h, 32, cbd);
        dedup.p = cbd;
        dedup.len = 64;
    }
    memset(&m, 0, sizeof m);
    if (carried != NULL) {
        memcpy(m.md5body, carried, sizeof m.md5body);
    } else {
        rv = utilMd5(e->body.p, e->body.len, m.md5body);
        if (rv != 0) {
            return rv;
        }
    }
    utilHex(m.md5body, sizeof m.md5body, res->md5body);
    rv = msgAttrsEncode(f, e, &attrs, &alen);
    if (rv != 0) {
        return rv;
    }
    res->has_attrs = e->nattrs > 0;
    if (res->has_attrs) {
        rv = utilMd5Hex(attrs, alen, res->md5attrs);
        if (rv != 0) {
            goto out;
        }
    }
    if (q->flags & QUEUE_F_FIFO) {
        bool dup;
        rv = fifoDedupeGet(f, q, &e->group, &dedup, now, &dup, &res->seqnum,
                           res->msgid);
        if (rv != 0 || dup) {
            goto out; /* accepted, not enqueued again */
        }
    }
    seq = q->next_seq++;
    delay = e->has_delay ? e->delay : q->delay;
    m.sent_ms = now;
    m.visible_at = now + (uint64_t)delay * 1000;
    m.seqnum = seq;
    rv = utilMessageId(q->id, seq, res->msgid);
    if (rv != 0) {
        goto out;
    }
    memcpy(m.msgid, res->msgid, FSM_MESSAGE_ID_LEN);
    m.group = e->group;
    if (q->flags & QUEUE_F_FIFO) {
        m.dedup = dedup;
    }
    m.attrs.p = (const char *)attrs;
    m.attrs.len = alen;
    m.body = e->body;
    m.trace = e->trace;
    res->seqnum = seq;
    rv = msgInsert(f, q, seq, &m);
    if (rv == 0 && (q->flags & QUEUE_F_FIFO)) {
        rv = fifoDedupePut(f, q, &e->group, &dedup, now, seq, res->msgid);
    }
    if (rv == 0 && delay == 0) {
        f->hint.wake++;
    }

out:
    free(attrs);
    return rv;
}

/* Pack the fields of a successful send (without Id) into @pk. */
static void msgPackSent(msgpack_packer *pk, const struct sendResult *r,
                        bool fifo)
{
    char seqnum[21];

    fsmPackKV(pk, "MessageId", r->msgid);
    fsmPackKV(pk, "MD5OfMessageBody", r->md5body);
    if (r->has_attrs) {
        fsmPackKV(pk, "MD5OfMessageAttributes", r->md5attrs);
    }
    if (fifo) {
        snprintf(seqnum, sizeof seqnum, "%020llu", (unsigned long long)r->seqnum);
        fsmPackKV(pk, "SequenceNumber", seqnum);
    }
}

/* Find the queue of the args and normalise it; *found false: replied. */
static int msgOpen(struct fsm *f, const struct fsmCommand *cmd,
                   struct queueRecord *q, bool *found)
{
    uint32_t removed;
    int rv;

    rv = queueFind(f, &f->args.name, q, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    return msgNormalize(f, q, cmd->now_ms, FSM_CMD_BUDGET, &removed);
}

/* Write @q back and set next_visible_ms. */
static int msgClose(struct fsm *f, const struct fsmCommand *cmd,
                    const struct queueRecord *q)
{
    int rv;

    rv = queuePut(f, q);
    if (rv == 0) {
        rv = msgNextVisible(f, q, cmd->now_ms, &f->hint.next_visible_ms);
    }
    return rv;
}

int msgSend(struct fsm *f, const struct fsmCommand *cmd)
{
    struct sendResult res;
    struct queueRecord q;
    bool fifo;
    bool found;
    int rv;

    rv = msgOpen(f, cmd, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    rv = msgSendOne(f, &q, &f->args.send[0], cmd, &res);
    if (rv == 0) {
        rv = msgClose(f, cmd, &q);
    }
    if (rv != 0) {
        return rv;
    }
    if (res.err.code != FSM_ERR_NONE) {
        f->hint.wake = 0;
        return fsmReplyError(f, res.err.code, "%s", res.err.msg);
    }
    fifo = (q.flags & QUEUE_F_FIFO) != 0;
    fsmReplyOk(f, 2 + (res.has_attrs ? 1u : 0u) + (fifo ? 1u : 0u));
    msgPackSent(&f->pk, &res, fifo);
    return 0;
}

/* Pack a Failed entry. */
static void msgPackFailed(msgpack_packer *pk, const struct fsmStr *id,
                          const struct argErr *e)
{
    msgpack_pack_map(pk, 4);
    fsmPackStr(pk, "Id");
    fsmPackStrN(pk, id->p, id->len);
    fsmPackKV(pk, "Code", fsmErrorName(e->code));
    fsmPackKV(pk, "Message", e->msg);
    fsmPackStr(pk, "SenderFault");
    msgpack_pack_true(pk);
}

int msgSendBatch(struct fsm *f, const struct fsmCommand *cmd)
{
    struct sendResult res[FSM_BATCH_MAX];
    struct args *a = &f->args;
    struct queueRecord q;
    uint32_t ok = 0;
    unsigned i;
    bool fifo;
    bool found;
    int rv;

    rv = msgOpen(f, cmd, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    /* On a FIFO queue SQS refuses the whole batch, sending nothing, when
     * an entry lacks its MessageGroupId, or its MessageDeduplicationId
     * without content-based deduplication. */
    for (i = 0; i < a->n && (q.flags & QUEUE_F_FIFO); i++) {
        const struct sendEntry *e = &a->send[i];
        bool no_group = e->err.code == FSM_ERR_MISSING_PARAMETER &&
                        strstr(e->err.msg, "MessageGroupId") != NULL;
        bool no_dedup = e->err.code == FSM_ERR_NONE && e->dedup.len == 0 &&
                        !(q.flags & QUEUE_F_CBD);
        if (no_group || no_dedup) {
            rv = msgClose(f, cmd, &q);
            if (rv != 0) {
                return rv;
            }
            return fsmReplyError(
                f, FSM_ERR_INVALID_PARAMETER,
                no_group ? "Value for parameter MessageGroupId is invalid. Reason: "
                           "The request must contain the parameter MessageGroupId "
                           "(entry %.*s)."
                         : "The queue should either have ContentBasedDeduplication "
                           "enabled or MessageDeduplicationId provided explicitly "
                           "(entry %.*s).",
                (int)e->id.len, e->id.p);
        }
    }
    for (i = 0; i < a->n; i++) {
        if (a->send[i].err.code != FSM_ERR_NONE) {
            res[i].err = a->send[i].err;
            continue;
        }
        rv = msgSendOne(f, &q, &a->send[i], cmd, &res[i]);
        if (rv != 0) {
            return rv;
        }
        ok += res[i].err.code == FSM_ERR_NONE;
    }
    rv = msgClose(f, cmd, &q);
    if (rv != 0) {
        return rv;
    }
    fifo = (q.flags & QUEUE_F_FIFO) != 0;
    fsmReplyOk(f, 2);
    fsmPackStr(&f->pk, "Successful");
    msgpack_pack_array(&f->pk, ok);
    for (i = 0; i < a->n; i++) {
        if (res[i].err.code == FSM_ERR_NONE) {
            msgpack_pack_map(&f->pk, 3 + (res[i].has_attrs ? 1u : 0u) +
                                         (fifo ? 1u : 0u));
            fsmPackStr(&f->pk, "Id");
            fsmPackStrN(&f->pk, a->send[i].id.p, a->send[i].id.len);
            msgPackSent(&f->pk, &res[i], fifo);
        }
    }
    fsmPackStr(&f->pk, "Failed");
    msgpack_pack_array(&f->pk, a->n - ok);
    for (i = 0; i < a->n; i++) {
        if (res[i].err.code != FSM_ERR_NONE) {
            msgPackFailed(&f->pk, &a->send[i].id, &res[i].err);
        }
    }
    return 0;
}

/* Look up the message of receipt @r in @q: *found false if it is gone;
 * a receipt error goes into @err. */
static int msgByReceipt(struct fsm *f, const struct queueRecord *q,
                        const struct receiptEntry *r, struct msgRecord *m,
                        bool *found, struct argErr *err)
{
    int rv;

    *found = false;
    if (r->qid != q->id) {
        argFail(err, FSM_ERR_RECEIPT_INVALID,
                "The input receipt handle is invalid: it belongs to another "
                "queue.");
        return 0;
    }
    rv = msgGet(f, q->mid, r->seq, m, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (r->count < m->recv_count) {
        argFail(err, FSM_ERR_RECEIPT_INVALID,
                "The input receipt handle is invalid: the message was "
                "received again since it was issued.");
    } else if (r->count != m->recv_count) {
        argFail(err, FSM_ERR_RECEIPT_INVALID,
                "The input receipt handle is invalid: it does not match the "
                "message.");
    }
    return 0;
}

/* Count a wake if the group of a FIFO message @group has a visible head. */
static int msgWakeGroup(struct fsm *f, const struct queueRecord *q,
                        const struct fsmStr *group, uint64_t now)
{
    bool visible = false;
    int rv;

    if (!(q->flags & QUEUE_F_FIFO) || group->len == 0) {
        return 0;
    }
    rv = fifoGroupHeadVisible(f, q, group, now, &visible);
    if (rv == 0 && visible) {
        f->hint.wake++;
    }
    return rv;
}

/* Delete by receipt @r. */
static int msgDeleteOne(struct fsm *f, struct queueRecord *q,
                        const struct receiptEntry *r, uint64_t now,
                        struct argErr *err)
{
    char group[FSM_GROUP_MAX];
    struct fsmStr g = {group, 0};
    struct msgRecord m;
    bool found;
    int rv;

    err->code = FSM_ERR_NONE;
    rv = msgByReceipt(f, q, r, &m, &found, err);
    if (rv != 0 || !found || err->code != FSM_ERR_NONE) {
        return rv; /* SQS: deleting a message already gone succeeds */
    }
    g.len = m.group.len;
    memcpy(group, m.group.p, m.group.len);
    rv = msgRemove(f, q, r->seq, &m);
    if (rv == 0) {
        rv = msgWakeGroup(f, q, &g, now);
    }
    return rv;
}

/* Change visibility by receipt @r. */
static int msgVisibilityOne(struct fsm *f, struct queueRecord *q,
                            const struct receiptEntry *r, uint64_t now,
                            struct argErr *err)
{
    char group[FSM_GROUP_MAX];
    struct fsmStr g = {group, 0};
    struct msgRecord m;
    bool found;
    int rv;

    err->code = FSM_ERR_NONE;
    rv = msgByReceipt(f, q, r, &m, &found, err);
    if (rv != 0 || err->code != FSM_ERR_NONE) {
        return rv;
    }
    if (!found) {
        /* As SQS answers a visibility change of a deleted message. */
        argFail(err, FSM_ERR_INVALID_PARAMETER,
                "Value for parameter ReceiptHandle is invalid. Reason: Message "
                "does not exist or is not available for visibility timeout "
                "change.");
        return 0;
    }
    if (m.state != MSG_INFLIGHT) {
        argFail(err, FSM_ERR_MESSAGE_NOT_INFLIGHT,
                "The message referred to is not in flight.");
        return 0;
    }
    if (now + (uint64_t)r->vis * 1000 >
        m.last_recv_ms + (uint64_t)FSM_VISIBILITY_MAX_S * 1000) {
        argFail(err, FSM_ERR_INVALID_PARAMETER,
                "Value %u for parameter VisibilityTimeout is invalid. Reason: "
                "Total VisibilityTimeout for the message is beyond the limit "
                "[%d seconds].",
                r->vis, FSM_VISIBILITY_MAX_S);
        return 0;
    }
    g.len = m.group.len;
    memcpy(group, m.group.p, m.group.len);
    if (r->vis == 0) {
        rv = msgSetState(f, q, r->seq, &m, MSG_READY, now, m.recv_count,
                         m.first_recv_ms, m.last_recv_ms);
        if (rv == 0 && !(q->flags & QUEUE_F_FIFO)) {
            f->hint.wake++;
        } else if (rv == 0) {
            rv = msgWakeGroup(f, q, &g, now);
        }
        return rv;
    }
    return msgSetState(f, q, r->seq, &m, MSG_INFLIGHT,
                       now + (uint64_t)r->vis * 1000, m.recv_count,
                       m.first_recv_ms, m.last_recv_ms);
}

/* The single-entry receipt ops. */
static int msgReceiptOp(struct fsm *f, const struct fsmCommand *cmd, bool vis)
{
    struct queueRecord q;
    struct argErr err;
    bool found;
    int rv;

    rv = msgOpen(f, cmd, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    rv = vis ? msgVisibilityOne(f, &q, &f->args.rcpt[0], cmd->now_ms, &err)
             : msgDeleteOne(f, &q, &f->args.rcpt[0], cmd->now_ms, &err);
    if (rv == 0) {
        rv = msgClose(f, cmd, &q);
    }
    if (rv != 0) {
        return rv;
    }
    if (err.code != FSM_ERR_NONE) {
        return fsmReplyError(f, err.code, "%s", err.msg);
    }
    fsmReplyOk(f, 0);
    return 0;
}

/* The batch receipt ops. */
static int msgReceiptBatch(struct fsm *f, const struct fsmCommand *cmd,
                           bool vis)
{
    struct argErr err[FSM_BATCH_MAX];
    struct args *a = &f->args;
    struct queueRecord q;
    uint32_t ok = 0;
    unsigned i;
    bool found;
    int rv;

    rv = msgOpen(f, cmd, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    for (i = 0; i < a->n; i++) {
        if (a->rcpt[i].err.code != FSM_ERR_NONE) {
            err[i] = a->rcpt[i].err;
            continue;
        }
        rv = vis ? msgVisibilityOne(f, &q, &a->rcpt[i], cmd->now_ms, &err[i])
                 : msgDeleteOne(f, &q, &a->rcpt[i], cmd->now_ms, &err[i]);
        if (rv != 0) {
            return rv;
        }
        ok += err[i].code == FSM_ERR_NONE;
    }
    rv = msgClose(f, cmd, &q);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 2);
    fsmPackStr(&f->pk, "Successful");
    msgpack_pack_array(&f->pk, ok);
    for (i = 0; i < a->n; i++) {
        if (err[i].code == FSM_ERR_NONE) {
            msgpack_pack_map(&f->pk, 1);
            fsmPackStr(&f->pk, "Id");
            fsmPackStrN(&f->pk, a->rcpt[i].id.p, a->rcpt[i].id.len);
        }
    }
    fsmPackStr(&f->pk, "Failed");
    msgpack_pack_array(&f->pk, a->n - ok);
    for (i = 0; i < a->n; i++) {
        if (err[i].code != FSM_ERR_NONE) {
            msgPackFailed(&f->pk, &a->rcpt[i].id, &err[i]);
        }
    }
    return 0;
}

int msgDelete(struct fsm *f, const struct fsmCommand *cmd)
{
    return msgReceiptOp(f, cmd, false);
}

int msgDeleteBatch(struct fsm *f, const struct fsmCommand *cmd)
{
    return msgReceiptBatch(f, cmd, false);
}

int msgChangeVisibility(struct fsm *f, const struct fsmCommand *cmd)
{
    return msgReceiptOp(f, cmd, true);
}

int msgChangeVisibilityBatch(struct fsm *f, const struct fsmCommand *cmd)
{
    return msgReceiptBatch(f, cmd, true);
}
