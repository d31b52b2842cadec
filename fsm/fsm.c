/* The state machine: open/close, apply, query, digest.
 *
 * The happy path of fsmApply() is:
 * 1. fold the entry's bytes into the running digest (every entry, even one
 *    that does not decode, so that replicas that applied the same entries
 *    agree);
 * 2. decode it (cmd.c); an entry that does not decode gets an
 *    InvalidCommand reply;
 * 3. raise last_now to the entry's now_ms;
 * 4. a mutating op goes through the session rules (session.c), which run the
 *    op if its sequence is the next one and store its reply; other ops
 *    (the reads, tick) run directly;
 * 5. mark digest and last_now for the meta table, written once per commit
 *    (fsmFlush: entries applied in one loop iteration share it).
 *
 * Possible failure modes: a store failure (LMDB error, map full) or running
 * out of memory. Both abort the pending write transaction and make the fsm
 * fail-stop: this and every later call return the error, since the state no
 * longer matches the entries applied. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The digest's hash, inlined from the header of Debian's libxxhash-dev:
 * no library to link. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

void fsmConfigDefaults(struct fsmConfig *c)
{
    c->dir = NULL;
    c->map_size = (size_t)8 << 30;
    c->session_window = 1024;
    c->session_idle_ms = 3600 * 1000;
    c->inflight_max = 120000;
    c->sweep_keys = FSM_SWEEP_KEYS;
    c->durable = false;
}

/* msgpack write callback into the fsm's reply buffer; latches OOM. */
static int fsmReplyWrite(void *data, const char *buf, size_t len)
{
    struct fsm *f = data;

    if (f->oom || msgpack_sbuffer_write(&f->reply, buf, len) != 0) {
        f->oom = true;
        return -1;
    }
    return 0;
}

/* msgpack write callback into the fsm's side buffer; latches OOM. */
static int fsmAuxWrite(void *data, const char *buf, size_t len)
{
    struct fsm *f = data;

    if (f->oom || msgpack_sbuffer_write(&f->aux, buf, len) != 0) {
        f->oom = true;
        return -1;
    }
    return 0;
}

int fsmOpen(const struct fsmConfig *c, struct fsm **out, char *errmsg)
{
    struct fsm *f;
    int rv;

    *out = NULL;
    if (c->dir == NULL || c->session_window == 0 || c->map_size == 0) {
        snprintf(errmsg, FSM_ERRMSG_LEN,
                 "fsm config: dir, map_size and session_window must be set");
        return FSM_ESTORE;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    f->session_window = c->session_window;
    f->session_idle_ms = c->session_idle_ms;
    f->inflight_max = c->inflight_max > 0 ? c->inflight_max : 120000;
    f->sweep_keys = c->sweep_keys > 0 ? c->sweep_keys : FSM_SWEEP_KEYS;
    msgpack_sbuffer_init(&f->reply);
    msgpack_packer_init(&f->pk, f, fsmReplyWrite);
    msgpack_sbuffer_init(&f->aux);
    msgpack_packer_init(&f->apk, f, fsmAuxWrite);
    msgpack_sbuffer_init(&f->stored.buf);
    rv = storeOpen(&f->store, c->dir, c->map_size, c->durable, f->errmsg);
    if (rv != 0) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "%s", f->errmsg);
        goto err;
    }
    f->durable = c->durable;
    f->stale = c->durable;
    *out = f;
    return 0;

err:
    msgpack_sbuffer_destroy(&f->reply);
    msgpack_sbuffer_destroy(&f->aux);
    msgpack_sbuffer_destroy(&f->stored.buf);
    free(f);
    return rv;
}

void fsmClose(struct fsm *f)
{
    if (f == NULL) {
        return;
    }
    if (!f->failed) {
        (void)fsmFlush(f);
    }
    storeAbort(&f->store);
    storeClose(&f->store);
    msgpack_sbuffer_destroy(&f->reply);
    msgpack_sbuffer_destroy(&f->aux);
    msgpack_sbuffer_destroy(&f->stored.buf);
    free(f);
}

const char *fsmErrmsg(const struct fsm *f)
{
    return f->errmsg;
}

void fsmReplyOk(struct fsm *f, uint32_t nfields)
{
    msgpack_sbuffer_clear(&f->reply);
    msgpack_pack_map(&f->pk, 1 + nfields);
    fsmPackStr(&f->pk, "ok");
    msgpack_pack_true(&f->pk);
}

int fsmReplyError(struct fsm *f, enum fsmError e, const char *fmt, ...)
{
    char text[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    msgpack_sbuffer_clear(&f->reply);
    msgpack_pack_map(&f->pk, 3);
    fsmPackStr(&f->pk, "ok");
    msgpack_pack_false(&f->pk);
    fsmPackKV(&f->pk, "code", fsmErrorName(e));
    fsmPackKV(&f->pk, "message", text);
    return 0;
}

void fsmReplyRaw(struct fsm *f, const void *data, size_t len)
{
    msgpack_sbuffer_clear(&f->reply);
    fsmReplyWrite(f, data, len);
}

void fsmReplyAppend(struct fsm *f, const void *data, size_t len)
{
    fsmReplyWrite(f, data, len);
}

void fsmPackStr(msgpack_packer *pk, const char *s)
{
    fsmPackStrN(pk, s, strlen(s));
}

void fsmPackStrN(msgpack_packer *pk, const void *s, size_t len)
{
    msgpack_pack_str_with_body(pk, len > 0 ? s : "", len);
}

void fsmPackKV(msgpack_packer *pk, const char *k, const char *v)
{
    fsmPackStr(pk, k);
    fsmPackStr(pk, v);
}

/* Meta value @key into @out, which must be @len bytes long if present;
 * @found says whether it was. */
static int fsmMetaGet(struct fsm *f, const char *key, void *out, size_t len, bool *found)
{
    struct storeVal v;
    int rv;

    rv = storeGet(&f->store, STORE_META, key, strlen(key), &v, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (v.len != len) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "meta table holds a malformed value");
        return FSM_ECORRUPT;
    }
    memcpy(out, v.data, len);
    return 0;
}

int fsmLoadMeta(struct fsm *f)
{
    uint8_t digest[32] = {0};
    uint8_t now[8];
    uint8_t pos[12];
    bool has_now;
    bool has_pos;
    bool found;
    int rv;

    rv = fsmMetaGet(f, META_DIGEST, digest, sizeof digest, &found);
    if (rv == 0) {
        rv = fsmMetaGet(f, META_LAST_NOW, now, sizeof now, &has_now);
    }
    if (rv == 0) {
        rv = fsmMetaGet(f, META_POSITION, pos, sizeof pos, &has_pos);
    }
    if (rv != 0) {
        return rv;
    }
    memcpy(f->digest, digest, sizeof digest);
    f->last_now = has_now ? beGet64(now) : 0;
    f->pos_index = has_pos ? beGet64(pos) : 0;
    f->pos_cmds = has_pos ? beGet32(pos + 8) : 0;
    return 0;
}

/* Fold an entry into the running digest:
 *     digest = XXH3-128(digest || XXH3-128(buf)),
 * each hash in its canonical (big-endian) bytes, so that every machine
 * computes the same. XXH3 is not a cryptographic hash, and need not be:
 * the digest catches replicas that diverge by a bug, not by an attacker
 * (who would have to write the raft log), and SHA-256 of every entry was
 * 7% of the cluster's CPU under pipelined sends (README "Finding where
 * time goes"). The digest is 128 bits; the second half of the 32 bytes
 * that the meta table and markers keep for it stays zero (stores written
 * before held SHA-256 there, and their chain goes on from its first half:
 * nodes of the two versions show different digests). */
static void fsmDigestUpdate(struct fsm *f, const void *buf, size_t len)
{
    XXH128_canonical_t link[2];

    memcpy(&link[0], f->digest, sizeof link[0]);
    XXH128_canonicalFromHash(&link[1], XXH3_128bits(buf, len));
    XXH128_canonicalFromHash((XXH128_canonical_t *)f->digest,
                             XXH3_128bits(link, sizeof link));
    memset(f->digest + sizeof link[0], 0, sizeof f->digest - sizeof link[0]);
}

/* Write the digest and last_now to the meta table. */
static int fsmSaveMeta(struct fsm *f)
{
    uint8_t now[8];
    uint8_t pos[12];
    int rv;

    rv = storePut(&f->store, STORE_META, META_DIGEST, strlen(META_DIGEST),
                  f->digest, sizeof f->digest);
    if (rv != 0) {
        return rv;
    }
    bePut64(now, f->last_now);
    rv = storePut(&f->store, STORE_META, META_LAST_NOW, strlen(META_LAST_NOW), now, sizeof now);
    if (rv != 0 || f->pos_index == 0) {
        return rv;
    }
    bePut64(pos, f->pos_index);
    bePut32(pos + 8, f->pos_cmds);
    return storePut(&f->store, STORE_META, META_POSITION, strlen(META_POSITION), pos,
                    sizeof pos);
}

/* The housekeeping op: expire sessions, deduplication entries,
 * tombstones and retention-expired messages, and one sweep slice (bounded
 * work). */
static int fsmTick(struct fsm *f, const struct fsmCommand *cmd)
{
    uint64_t removed;
    bool more;
    int rv;

    rv = sessionExpire(f, cmd->now_ms);
    if (rv == 0) {
        rv = fifoTickDedupe(f, cmd->now_ms);
    }
    if (rv == 0) {
        rv = queueTickTombstones(f, cmd->now_ms);
    }
    if (rv == 0) {
        rv = msgTickRetention(f, cmd->now_ms);
    }
    if (rv == 0) {
        rv = sweepSlice(f, &removed, &more);
    }
    if (rv == 0) {
        fsmReplyOk(f, 0);
    }
    return rv;
}

int fsmExecute(struct fsm *f, const struct fsmCommand *cmd)
{
    struct argErr e;

    /* Refused by the node before the log: store the refusal, run nothing. */
    if (cmd->refuse == FSM_ERR_OVER_LIMIT) {
        return fsmReplyError(f, FSM_ERR_OVER_LIMIT,
                             "The store is past its high-water mark: sends are refused "
                             "until messages are deleted or the map size is raised.");
    }
    if (cmd->refuse != FSM_ERR_NONE) {
        return fsmReplyError(f, (enum fsmError)cmd->refuse, "Refused by the node.");
    }
    if (argsParse(cmd, &f->args, &e) != 0) {
        return fsmReplyError(f, e.code, "%s", e.msg);
    }
    switch (cmd->op) {
        case FSM_OP_CREATE_QUEUE:
            return queueCreate(f, cmd);
        case FSM_OP_DELETE_QUEUE:
            return queueDelete(f, cmd);
        case FSM_OP_LIST_QUEUES:
            return queueList(f, cmd);
        case FSM_OP_GET_QUEUE_ATTRIBUTES:
            return queueGetAttributes(f, cmd);
        case FSM_OP_SET_QUEUE_ATTRIBUTES:
            return queueSetAttributes(f, cmd);
        case FSM_OP_PURGE_QUEUE:
            return queuePurge(f, cmd);
        case FSM_OP_TAG_QUEUE:
            return queueTag(f, cmd);
        case FSM_OP_UNTAG_QUEUE:
            return queueUntag(f, cmd);
        case FSM_OP_LIST_QUEUE_TAGS:
            return queueListTags(f, cmd);
        case FSM_OP_LIST_DLQ_SOURCES:
            return queueListDlqSources(f, cmd);
        case FSM_OP_SEND_MESSAGE:
            return msgSend(f, cmd);
        case FSM_OP_SEND_MESSAGE_BATCH:
            return msgSendBatch(f, cmd);
        case FSM_OP_RECEIVE_MESSAGE:
            return msgReceive(f, cmd);
        case FSM_OP_DELETE_MESSAGE:
            return msgDelete(f, cmd);
        case FSM_OP_DELETE_MESSAGE_BATCH:
            return msgDeleteBatch(f, cmd);
        case FSM_OP_CHANGE_VISIBILITY:
            return msgChangeVisibility(f, cmd);
        case FSM_OP_CHANGE_VISIBILITY_BATCH:
            return msgChangeVisibilityBatch(f, cmd);
        case FSM_OP_START_MESSAGE_MOVE_TASK:
            return dlqStartMoveTask(f, cmd);
        case FSM_OP_TICK:
            return fsmTick(f, cmd);
        case FSM_OP_SWEEP:
            return sweepRun(f, cmd);
        default:
            return fsmReplyError(f, FSM_ERR_INVALID_COMMAND, "unknown op %u",
                                 cmd->op);
    }
}

/* End a call: on failure abort the write transaction and stop for good;
 * on success point @reply at the reply buffer. */
static int fsmFinish(struct fsm *f, int rv, struct fsmReply *reply)
{
    if (rv == 0 && f->oom) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory packing a reply");
        rv = FSM_ENOMEM;
    }
    memset(reply, 0, sizeof *reply);
    if (rv != 0) {
        storeAbort(&f->store);
        f->failed = true;
        return rv;
    }
    reply->data = f->reply.data;
    reply->len = f->reply.size;
    reply->would_wait = f->hint.would_wait;
    reply->wait_s = f->hint.wait_s;
    reply->wake = f->hint.wake;
    reply->wake_all = f->hint.wake_all;
    reply->next_visible_ms = f->hint.next_visible_ms;
    return 0;
}

int fsmApply(struct fsm *f, const void *buf, size_t len, struct fsmReply *reply)
{
    struct fsmCommand cmd;
    int rv;

    if (f->failed || fsmFresh(f) != 0) {
        return FSM_ESTORE;
    }
    msgpack_sbuffer_clear(&f->reply);
    memset(&f->hint, 0, sizeof f->hint);
    f->stored.active = false;
    f->stored.ready = false;
    rv = storeBegin(&f->store);
    if (rv != 0) {
        goto out;
    }
    fsmDigestUpdate(f, buf, len);
    if (fsmCommandDecode(buf, len, &cmd) != 0) {
        fsmReplyError(f, FSM_ERR_INVALID_COMMAND,
                      "log entry does not decode as a command");
    } else {
        if (cmd.now_ms > f->last_now) {
            f->last_now = cmd.now_ms;
        }
        if (fsmOpMutates(cmd.op)) {
            rv = sessionApply(f, &cmd);
        } else {
            rv = fsmExecute(f, &cmd);
        }
        if (rv != 0) {
            goto out;
        }
    }
    /* The meta table gets digest, last_now and the position once per
     * commit (fsmFlush), not once per command. */
    if (f->pos_index != 0) {
        f->pos_cmds++;
    }
    f->meta_dirty = true;
    if (f->store.txn_bytes >= STORE_TXN_SPLIT_BYTES) {
        rv = fsmFlush(f);
    }

out:
    return fsmFinish(f, rv, reply);
}

int fsmFlush(struct fsm *f)
{
    int rv;

    if (f->failed) {
        return FSM_ESTORE;
    }
    if (f->meta_dirty) {
        rv = fsmSaveMeta(f);
        if (rv != 0) {
            storeAbort(&f->store);
            f->failed = true;
            return rv;
        }
        f->meta_dirty = false;
    }
    rv = storeCommit(&f->store);
    if (rv != 0) {
        f->failed = true;
    }
    return rv;
}

uint64_t fsmPendingBytes(const struct fsm *f)
{
    return f->store.txn_bytes;
}

int fsmStoreUsage(struct fsm *f, uint64_t *used, uint64_t *capacity)
{
    int rv;

    if (f->failed || fsmFresh(f) != 0) {
        return FSM_ESTORE;
    }
    rv = storeUsage(&f->store, used, capacity);
    if (rv != 0) {
        f->failed = true;
    }
    return rv;
}

int fsmQuery(struct fsm *f, const struct fsmCommand *cmd, struct fsmReply *reply)
{
    int rv = 0;

    if (f->failed || fsmFresh(f) != 0) {
        return FSM_ESTORE;
    }
    msgpack_sbuffer_clear(&f->reply);
    memset(&f->hint, 0, sizeof f->hint);
    if (fsmOpReads(cmd->op)) {
        rv = fsmExecute(f, cmd);
    } else {
        fsmReplyError(f, FSM_ERR_INVALID_COMMAND,
                      "op %u is not a read-only query", cmd->op);
    }
    return fsmFinish(f, rv, reply);
}

void fsmDigest(struct fsm *f, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    int i;

    for (i = 0; i < 16; i++) {
        out[2 * i] = hex[f->digest[i] >> 4];
        out[2 * i + 1] = hex[f->digest[i] & 0x0f];
    }
    out[32] = '\0';
}

uint64_t fsmLastNow(struct fsm *f)
{
    return f->last_now;
}
