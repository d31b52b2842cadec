/* Applied entries as the checker sees them, and the self-check's broken
 * state machine.
 *
 * An entry is a batch of commands (raft/batch.c) or, in an older log, one
 * command; the glue (raft/fsmglue.c) tells them apart the same way
 * simCommandsInit does, and gives one reply per command. simApply records
 * the entry's bytes and all its replies (simRepliesPack: each reply's
 * length, then its bytes), so that every server must agree on each reply of
 * a batch, and the model and the history printer walk the commands of an
 * entry with their replies (simCommandsNext).
 *
 * The broken delete (simBrokenDelete): some DeleteMessage commands reach
 * the fsm as ChangeMessageVisibility 0 with the same receipt and session,
 * so the client is told "deleted" while the message stays. In a batch only
 * those commands are rewritten; every other one is passed on byte for byte
 * (checked: the rewritten batch is compared with the original). Every
 * server makes the same choice, so the servers agree; only the model can
 * see it.
 *
 * Failure modes: a recorded entry whose replies do not match its commands
 * in number (simCommandsNext gives NULL replies past the last), a rewrite
 * that would touch another command (recorded as a simulator failure).
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

void simCommandsInit(struct simCommands *r,
                     const void *buf,
                     size_t len,
                     const void *replies,
                     size_t replies_len)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->len = len;
    r->replies = replies;
    r->replies_len = replies_len;
    r->is_batch = batchIs(buf, len) && batchReaderInit(&r->batch, buf, len) == 0;
}

bool simCommandsNext(struct simCommands *r,
                     const void **cmd,
                     size_t *len,
                     const void **reply,
                     size_t *reply_len)
{
    uint32_t n;

    if (r->is_batch) {
        if (!batchReaderNext(&r->batch, cmd, len)) {
            return false;
        }
    } else {
        if (r->done) {
            return false;
        }
        r->done = true;
        *cmd = r->buf;
        *len = r->len;
    }
    r->k++;
    *reply = NULL;
    *reply_len = 0;
    if (r->replies != NULL && r->replies_len - r->reply_off >= sizeof n) {
        memcpy(&n, (const char *)r->replies + r->reply_off, sizeof n);
        if (r->replies_len - r->reply_off - sizeof n >= n) {
            *reply = (const char *)r->replies + r->reply_off + sizeof n;
            *reply_len = n;
            r->reply_off += sizeof n + n;
        } else {
            r->reply_off = r->replies_len;
        }
    }
    return true;
}

unsigned simCommandCount(const void *buf, size_t len)
{
    struct simCommands r;
    const void *cmd, *reply;
    size_t cmd_len, reply_len;
    unsigned n = 0;

    simCommandsInit(&r, buf, len, NULL, 0);
    while (simCommandsNext(&r, &cmd, &cmd_len, &reply, &reply_len)) {
        n++;
    }
    return n;
}

void *simRepliesPack(const struct glueResult *res, size_t *len)
{
    size_t total = 0, off = 0;
    uint32_t i, n;
    char *out;

    for (i = 0; i < res->n; i++) {
        total += sizeof n + res->replies[i].len;
    }
    out = malloc(total > 0 ? total : 1);
    for (i = 0; i < res->n; i++) {
        n = (uint32_t)res->replies[i].len;
        memcpy(out + off, &n, sizeof n);
        memcpy(out + off + sizeof n, res->replies[i].data, n);
        off += sizeof n + n;
    }
    *len = total;
    return out;
}

/* If the command @buf qualifies for the broken delete, its rewrite into
 * @out (a ChangeMessageVisibility 0, now_ms, session and receipt kept) and
 * true; @sb then holds the rewritten args, to be destroyed by the caller. */
static bool brokenRewrite(const void *buf, size_t len, struct fsmCommand *out,
                          msgpack_sbuffer *sb)
{
    msgpack_unpacked u;
    msgpack_packer pk;
    const msgpack_object *q, *h;
    size_t off = 0;
    bool done = false;

    if (fsmCommandDecode(buf, len, out) != 0 || out->op != FSM_OP_DELETE_MESSAGE ||
        (out->client_id + out->seq) % 3 != 0) {
        return false;
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, out->args, out->args_len, &off) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return false;
    }
    q = mpGet(&u.data, "QueueName");
    h = mpGet(&u.data, "ReceiptHandle");
    if (q != NULL && h != NULL) {
        msgpack_sbuffer_init(sb);
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        mpPackStr(&pk, "QueueName");
        msgpack_pack_object(&pk, *q);
        mpPackStr(&pk, "ReceiptHandle");
        msgpack_pack_object(&pk, *h);
        mpPackStr(&pk, "VisibilityTimeout");
        msgpack_pack_uint64(&pk, 0);
        out->op = FSM_OP_CHANGE_VISIBILITY;
        out->args = sb->data;
        out->args_len = sb->size;
        done = true;
    }
    msgpack_unpacked_destroy(&u);
    return done;
}

/* Whether every command of batch @b that brokenRewrite leaves alone is
 * the same, byte for byte, as in batch @a (both sound batches). */
static bool othersKept(const void *a, size_t a_len, const void *b, size_t b_len)
{
    struct batchReader ra, rb;
    const void *ca, *cb;
    size_t la, lb;
    struct fsmCommand cmd;
    msgpack_sbuffer sb;

    if (batchReaderInit(&ra, a, a_len) != 0 || batchReaderInit(&rb, b, b_len) != 0 ||
        ra.left != rb.left) {
        return false;
    }
    while (batchReaderNext(&ra, &ca, &la) && batchReaderNext(&rb, &cb, &lb)) {
        if (brokenRewrite(ca, la, &cmd, &sb)) {
            msgpack_sbuffer_destroy(&sb);
            continue;
        }
        if (la != lb || memcmp(ca, cb, la) != 0) {
            return false;
        }
    }
    return true;
}

void *simBrokenDelete(struct sim *sim, const struct raft_buffer *buf, size_t *len)
{
    struct batchReader r;
    struct batchWriter w;
    struct raft_buffer out;
    struct fsmCommand cmd;
    msgpack_sbuffer sb;
    const void *c;
    size_t c_len;
    unsigned rewritten = 0;
    void *single = NULL;

    if (!sim->p.broken_delete) {
        return NULL;
    }
    if (!batchIs(buf->base, buf->len) || batchReaderInit(&r, buf->base, buf->len) != 0) {
        /* A single-command entry. */
        if (brokenRewrite(buf->base, buf->len, &cmd, &sb)) {
            if (fsmCommandEncode(&cmd, raft_malloc, &single, len) != 0) {
                single = NULL;
            }
            msgpack_sbuffer_destroy(&sb);
        }
        return single;
    }
    memset(&w, 0, sizeof w);
    while (batchReaderNext(&r, &c, &c_len)) {
        int rv;
        if (brokenRewrite(c, c_len, &cmd, &sb)) {
            rv = batchWriterAdd(&w, &cmd);
            msgpack_sbuffer_destroy(&sb);
            rewritten++;
        } else if (fsmCommandDecode(c, c_len, &cmd) == 0) {
            rv = batchWriterAdd(&w, &cmd);
        } else {
            rv = RAFT_INVALID; /* the sim proposes nothing undecodable */
        }
        if (rv != 0) {
            batchWriterDiscard(&w);
            return NULL;
        }
    }
    if (rewritten == 0) {
        batchWriterDiscard(&w);
        return NULL;
    }
    batchWriterTake(&w, &out);
    if (!othersKept(buf->base, buf->len, out.base, out.len)) {
        simFail(sim, SIM_INV_LIVENESS, 0,
                "simulator bug: the broken delete changed commands it must leave alone");
    }
    *len = out.len;
    return out.base;
}
