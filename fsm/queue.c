/* Queues: a basic SQS subset (create, delete, list, send, receive, delete
 * message).
 *
 * Tables (all integers big-endian):
 * - queues:     name -> id(8) created_ms(8) visibility_s(4) next_seq(8)
 *               id comes from meta "next_queue" (from 1, never reused);
 *               next_seq numbers the queue's messages (from 1).
 * - messages:   id(8) seq(8) -> sent_ms(8) visible_at_ms(8)
 *               first_receive_ms(8) receive_count(4) body
 * - visibility: id(8) visible_at_ms(8) seq(8) -> empty
 *               one entry per message, so that a receive walks the queue's
 *               messages in (visible_at, seq) order and stops at the first
 *               one not yet visible.
 *
 * Message id: SHA-256 of id(8)|seq(8), first 16 bytes, with the UUID
 * version nibble set to 4 and the variant bits to 10, as 36-char text.
 *
 * Receipt handle: 48 lowercase hex chars: id(8) seq(8) receive_count(4)
 * (40 chars), then the first 4 bytes of SHA-256("qraft-receipt" | those 20
 * bytes) (8 chars), a check that rejects random or mistyped text (it is not
 * a secret). The receive_count tells a stale receipt from the current one.
 *
 * Every op checks everything before it writes, so a business error leaves
 * the tables untouched. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Lengths of stored records and keys. */
#define QUEUE_RECORD_LEN 28
#define MSG_HEADER_LEN 28
#define MSG_KEY_LEN 16
#define VIS_KEY_LEN 24
#define RECEIPT_RAW_LEN 20
#define RECEIPT_CHECK_LEN 4
#define RECEIPT_TEXT_LEN (2 * (RECEIPT_RAW_LEN + RECEIPT_CHECK_LEN))

/* A queue record. */
struct queueRecord
{
    uint64_t id;           /* never reused */
    uint64_t created_ms;   /* now_ms of its creation */
    uint32_t visibility_s; /* default visibility timeout */
    uint64_t next_seq;     /* sequence of its next message */
};

/* The header of a message record (the body follows it). */
struct queueMessage
{
    uint64_t sent_ms;
    uint64_t visible_at_ms;
    uint64_t first_receive_ms; /* 0: never received */
    uint32_t receive_count;
};

static const char queueHex[] = "0123456789abcdef";

/* Write @n bytes of @in as lowercase hex into @out (2n chars, no NUL). */
static void queueHexEncode(const uint8_t *in, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = queueHex[in[i] >> 4];
        out[2 * i + 1] = queueHex[in[i] & 0x0f];
    }
}

/* Value of a lowercase hex digit, or -1. */
static int queueHexDigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* SHA-256 of @a then @b into @out. */
static int queueSha256(const void *a,
                       size_t alen,
                       const void *b,
                       size_t blen,
                       uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok;

    if (md == NULL) {
        return FSM_ENOMEM;
    }
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, a, alen) == 1 &&
         EVP_DigestUpdate(md, b, blen) == 1 &&
         EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    return ok ? 0 : FSM_ENOMEM;
}

/* Message id of message @seq of queue @id: UUID text (36 chars + NUL). */
static int queueMessageId(uint64_t id, uint64_t seq, char out[37])
{
    uint8_t key[16];
    uint8_t h[32];
    size_t i;
    size_t o = 0;
    int rv;

    bePut64(key, id);
    bePut64(key + 8, seq);
    rv = queueSha256(key, sizeof key, "", 0, h);
    if (rv != 0) {
        return rv;
    }
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        queueHexEncode(h + i, 1, out + o);
        o += 2;
    }
    out[o] = '\0';
    return 0;
}

/* Check bytes of a receipt's 20 raw bytes. */
static int queueReceiptCheck(const uint8_t raw[RECEIPT_RAW_LEN],
                             uint8_t check[RECEIPT_CHECK_LEN])
{
    static const char tag[] = "qraft-receipt";
    uint8_t h[32];
    int rv;

    rv = queueSha256(tag, strlen(tag), raw, RECEIPT_RAW_LEN, h);
    if (rv == 0) {
        memcpy(check, h, RECEIPT_CHECK_LEN);
    }
    return rv;
}

/* Receipt handle text (RECEIPT_TEXT_LEN chars + NUL). */
static int queueReceiptMake(uint64_t id,
                            uint64_t seq,
                            uint32_t count,
                            char out[RECEIPT_TEXT_LEN + 1])
{
    uint8_t raw[RECEIPT_RAW_LEN + RECEIPT_CHECK_LEN];
    int rv;

    bePut64(raw, id);
    bePut64(raw + 8, seq);
    bePut32(raw + 16, count);
    rv = queueReceiptCheck(raw, raw + RECEIPT_RAW_LEN);
    if (rv != 0) {
        return rv;
    }
    queueHexEncode(raw, sizeof raw, out);
    out[RECEIPT_TEXT_LEN] = '\0';
    return 0;
}

/* Parse a receipt handle. *ok is false if it is malformed. */
static int queueReceiptParse(const char *text,
                             size_t len,
                             uint64_t *id,
                             uint64_t *seq,
                             uint32_t *count,
                             bool *ok)
{
    uint8_t raw[RECEIPT_RAW_LEN + RECEIPT_CHECK_LEN];
    uint8_t check[RECEIPT_CHECK_LEN];
    size_t i;
    int rv;

    *ok = false;
    if (len != RECEIPT_TEXT_LEN) {
        return 0;
    }
    for (i = 0; i < sizeof raw; i++) {
        int hi = queueHexDigit(text[2 * i]);
        int lo = queueHexDigit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    rv = queueReceiptCheck(raw, check);
    if (rv != 0) {
        return rv;
    }
    if (memcmp(check, raw + RECEIPT_RAW_LEN, RECEIPT_CHECK_LEN) != 0) {
        return 0;
    }
    *id = beGet64(raw);
    *seq = beGet64(raw + 8);
    *count = beGet32(raw + 16);
    *ok = true;
    return 0;
}

/* True if @name is a valid queue name: 1..80 of [A-Za-z0-9_-]. */
static bool queueNameValid(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > FSM_QUEUE_NAME_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Serialise a queue record. */
static void queueRecordEncode(const struct queueRecord *q,
                              uint8_t out[QUEUE_RECORD_LEN])
{
    bePut64(out, q->id);
    bePut64(out + 8, q->created_ms);
    bePut32(out + 16, q->visibility_s);
    bePut64(out + 20, q->next_seq);
}

/* Look the queue of @cmd up. *found is false if the name is invalid or no
 * such queue exists. */
static int queueLookup(struct fsm *f,
                       const struct fsmCommand *cmd,
                       struct queueRecord *q,
                       bool *found)
{
    struct storeVal v;
    const uint8_t *p;
    int rv;

    *found = false;
    if (!queueNameValid(cmd->queue, cmd->queue_len)) {
        return 0;
    }
    rv = storeGet(&f->store, STORE_QUEUES, cmd->queue, cmd->queue_len, &v,
                  found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (v.len != QUEUE_RECORD_LEN) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed queue record");
        return FSM_ECORRUPT;
    }
    p = v.data;
    q->id = beGet64(p);
    q->created_ms = beGet64(p + 8);
    q->visibility_s = beGet32(p + 16);
    q->next_seq = beGet64(p + 20);
    return 0;
}

/* Reply QueueDoesNotExist for the queue of @cmd. */
static int queueMissing(struct fsm *f, const struct fsmCommand *cmd)
{
    if (!queueNameValid(cmd->queue, cmd->queue_len)) {
        return fsmReplyError(f, FSM_ERR_QUEUE_DOES_NOT_EXIST,
                             "queue does not exist (not a valid queue name)");
    }
    return fsmReplyError(f, FSM_ERR_QUEUE_DOES_NOT_EXIST,
                         "queue '%.*s' does not exist", (int)cmd->queue_len,
                         cmd->queue);
}

/* Read the message at key @key (MSG_KEY_LEN bytes) into @m and point @body
 * at its body (valid until the next write). */
static int queueMessageGet(struct fsm *f,
                           const uint8_t key[MSG_KEY_LEN],
                           struct queueMessage *m,
                           struct storeVal *body,
                           bool *found)
{
    struct storeVal v;
    const uint8_t *p;
    int rv;

    rv = storeGet(&f->store, STORE_MESSAGES, key, MSG_KEY_LEN, &v, found);
    if (rv != 0 || !*found) {
        return rv;
    }
    if (v.len < MSG_HEADER_LEN) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed message record");
        return FSM_ECORRUPT;
    }
    p = v.data;
    m->sent_ms = beGet64(p);
    m->visible_at_ms = beGet64(p + 8);
    m->first_receive_ms = beGet64(p + 16);
    m->receive_count = beGet32(p + 24);
    body->data = p + MSG_HEADER_LEN;
    body->len = v.len - MSG_HEADER_LEN;
    return 0;
}

/* Serialise a message header. */
static void queueMessageEncode(const struct queueMessage *m,
                               uint8_t out[MSG_HEADER_LEN])
{
    bePut64(out, m->sent_ms);
    bePut64(out + 8, m->visible_at_ms);
    bePut64(out + 16, m->first_receive_ms);
    bePut32(out + 24, m->receive_count);
}

/* Visibility index key of message @seq of queue @id. */
static void queueVisKey(uint64_t id, uint64_t at, uint64_t seq,
                        uint8_t out[VIS_KEY_LEN])
{
    bePut64(out, id);
    bePut64(out + 8, at);
    bePut64(out + 16, seq);
}

/* Check a visibility timeout: -1 gives @dflt. */
static bool queueVisibility(int64_t given, uint32_t dflt, uint32_t *out)
{
    if (given == -1) {
        *out = dflt;
        return true;
    }
    if (given < 0 || given > FSM_VISIBILITY_MAX_S) {
        return false;
    }
    *out = (uint32_t)given;
    return true;
}

int queueCreate(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    uint8_t rec[QUEUE_RECORD_LEN];
    uint8_t idbuf[8];
    struct storeVal v;
    uint32_t vis;
    bool found;
    int rv;

    if (!queueNameValid(cmd->queue, cmd->queue_len)) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "queue name must be 1 to %d characters of "
                             "A-Z, a-z, 0-9, '-' and '_'",
                             FSM_QUEUE_NAME_MAX);
    }
    if (!queueVisibility(cmd->visibility_s, FSM_VISIBILITY_DEFAULT_S, &vis)) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "visibility timeout must be 0 to %d seconds",
                             FSM_VISIBILITY_MAX_S);
    }
    rv = queueLookup(f, cmd, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (found && q.visibility_s != vis) {
        return fsmReplyError(f, FSM_ERR_QUEUE_ALREADY_EXISTS,
                             "queue '%.*s' exists with visibility timeout %u",
                             (int)cmd->queue_len, cmd->queue, q.visibility_s);
    }
    if (!found) {
        rv = storeGet(&f->store, STORE_META, META_NEXT_QUEUE_ID,
                      strlen(META_NEXT_QUEUE_ID), &v, &found);
        if (rv != 0) {
            return rv;
        }
        if (found && v.len != 8) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed queue counter");
            return FSM_ECORRUPT;
        }
        q.id = found ? beGet64(v.data) : 1;
        q.created_ms = cmd->now_ms;
        q.visibility_s = vis;
        q.next_seq = 1;
        bePut64(idbuf, q.id + 1);
        rv = storePut(&f->store, STORE_META, META_NEXT_QUEUE_ID,
                      strlen(META_NEXT_QUEUE_ID), idbuf, sizeof idbuf);
        if (rv != 0) {
            return rv;
        }
        queueRecordEncode(&q, rec);
        rv = storePut(&f->store, STORE_QUEUES, cmd->queue, cmd->queue_len, rec,
                      sizeof rec);
        if (rv != 0) {
            return rv;
        }
    }
    fsmReplyOk(f, 1);
    fsmPackStr(f, "queue");
    fsmPackStrN(f, cmd->queue, cmd->queue_len);
    return 0;
}

int queueDelete(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    uint8_t lo[8];
    uint8_t hi[8];
    bool found;
    int rv;

    rv = queueLookup(f, cmd, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return queueMissing(f, cmd);
    }
    /* Every key of the queue starts with its id: [id, id + 1). Ids never
     * reach UINT64_MAX (one per create). */
    bePut64(lo, q.id);
    bePut64(hi, q.id + 1);
    rv = storeDelRange(&f->store, STORE_MESSAGES, lo, 8, hi, 8);
    if (rv == 0) {
        rv = storeDelRange(&f->store, STORE_VISIBILITY, lo, 8, hi, 8);
    }
    if (rv == 0) {
        rv = storeDel(&f->store, STORE_QUEUES, cmd->queue, cmd->queue_len);
    }
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 0);
    return 0;
}

int queueList(struct fsm *f)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint64_t n;
    bool found;
    int rv;

    rv = storeCount(&f->store, STORE_QUEUES, &n);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorOpen(&f->store, NULL, STORE_QUEUES, &c);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 1);
    fsmPackStr(f, "queues");
    msgpack_pack_array(&f->pk, (size_t)n);
    rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
    while (rv == 0 && found && n > 0) {
        fsmPackStrN(f, k.data, k.len);
        n--;
        rv = storeCursorNext(&c, &k, &v, &found);
    }
    storeCursorClose(&c);
    if (rv == 0 && n != 0) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "queue count mismatch");
        rv = FSM_ECORRUPT;
    }
    return rv;
}

int queueSend(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    struct queueMessage m;
    uint8_t rec[QUEUE_RECORD_LEN];
    uint8_t key[MSG_KEY_LEN];
    uint8_t vkey[VIS_KEY_LEN];
    uint8_t md5[EVP_MAX_MD_SIZE];
    char md5hex[33];
    char id[37];
    unsigned md5len = 0;
    uint8_t *val;
    uint64_t seq;
    bool found;
    int rv;

    rv = queueLookup(f, cmd, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return queueMissing(f, cmd);
    }
    if (cmd->body_len == 0) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "message body must not be empty");
    }
    if (cmd->body_len > FSM_BODY_MAX) {
        return fsmReplyError(f, FSM_ERR_MESSAGE_TOO_LONG,
                             "message body is %zu bytes, the maximum is %d",
                             cmd->body_len, FSM_BODY_MAX);
    }
    if (EVP_Digest(cmd->body, cmd->body_len, md5, &md5len, EVP_md5(), NULL) !=
            1 ||
        md5len != 16) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "md5 failed");
        return FSM_ENOMEM;
    }
    seq = q.next_seq;
    rv = queueMessageId(q.id, seq, id);
    if (rv != 0) {
        return rv;
    }
    val = malloc(MSG_HEADER_LEN + cmd->body_len);
    if (val == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    m.sent_ms = cmd->now_ms;
    m.visible_at_ms = cmd->now_ms;
    m.first_receive_ms = 0;
    m.receive_count = 0;
    queueMessageEncode(&m, val);
    memcpy(val + MSG_HEADER_LEN, cmd->body, cmd->body_len);
    bePut64(key, q.id);
    bePut64(key + 8, seq);
    rv = storePut(&f->store, STORE_MESSAGES, key, sizeof key, val,
                  MSG_HEADER_LEN + cmd->body_len);
    free(val);
    if (rv != 0) {
        return rv;
    }
    queueVisKey(q.id, m.visible_at_ms, seq, vkey);
    rv = storePut(&f->store, STORE_VISIBILITY, vkey, sizeof vkey, "", 0);
    if (rv != 0) {
        return rv;
    }
    q.next_seq = seq + 1;
    queueRecordEncode(&q, rec);
    rv = storePut(&f->store, STORE_QUEUES, cmd->queue, cmd->queue_len, rec,
                  sizeof rec);
    if (rv != 0) {
        return rv;
    }
    queueHexEncode(md5, 16, md5hex);
    md5hex[32] = '\0';
    fsmReplyOk(f, 2);
    fsmPackStr(f, "msg_id");
    fsmPackStr(f, id);
    fsmPackStr(f, "md5");
    fsmPackStr(f, md5hex);
    return 0;
}

/* Receive the message whose visibility key is @vkey: update it, move its
 * index entry, and pack it into the reply. */
static int queueReceiveOne(struct fsm *f,
                           const struct fsmCommand *cmd,
                           uint64_t id,
                           const uint8_t vkey[VIS_KEY_LEN],
                           uint32_t vis)
{
    struct queueMessage m;
    struct storeVal body;
    uint8_t key[MSG_KEY_LEN];
    uint8_t nkey[VIS_KEY_LEN];
    char receipt[RECEIPT_TEXT_LEN + 1];
    char msgid[37];
    uint64_t seq = beGet64(vkey + 16);
    uint64_t delay = (uint64_t)vis * 1000;
    uint8_t *val = NULL;
    size_t vlen;
    bool found;
    int rv;

    bePut64(key, id);
    bePut64(key + 8, seq);
    rv = queueMessageGet(f, key, &m, &body, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "visibility entry without message");
        return FSM_ECORRUPT;
    }
    /* Copy before writing: LMDB values are valid only until a write. */
    vlen = MSG_HEADER_LEN + body.len;
    val = malloc(vlen);
    if (val == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    memcpy(val + MSG_HEADER_LEN, body.data, body.len);
    m.receive_count++;
    if (m.first_receive_ms == 0) {
        m.first_receive_ms = cmd->now_ms;
    }
    m.visible_at_ms = cmd->now_ms > UINT64_MAX - delay ? UINT64_MAX
                                                         : cmd->now_ms + delay;
    queueMessageEncode(&m, val);
    rv = storePut(&f->store, STORE_MESSAGES, key, sizeof key, val, vlen);
    if (rv != 0) {
        goto out;
    }
    rv = storeDel(&f->store, STORE_VISIBILITY, vkey, VIS_KEY_LEN);
    if (rv != 0) {
        goto out;
    }
    queueVisKey(id, m.visible_at_ms, seq, nkey);
    rv = storePut(&f->store, STORE_VISIBILITY, nkey, sizeof nkey, "", 0);
    if (rv != 0) {
        goto out;
    }
    rv = queueMessageId(id, seq, msgid);
    if (rv == 0) {
        rv = queueReceiptMake(id, seq, m.receive_count, receipt);
    }
    if (rv != 0) {
        goto out;
    }
    msgpack_pack_map(&f->pk, 6);
    fsmPackStr(f, "msg_id");
    fsmPackStr(f, msgid);
    fsmPackStr(f, "receipt");
    fsmPackStr(f, receipt);
    fsmPackStr(f, "body");
    msgpack_pack_bin_with_body(&f->pk, val + MSG_HEADER_LEN, body.len);
    fsmPackStr(f, "receive_count");
    msgpack_pack_uint32(&f->pk, m.receive_count);
    fsmPackStr(f, "sent_ms");
    msgpack_pack_uint64(&f->pk, m.sent_ms);
    fsmPackStr(f, "first_receive_ms");
    msgpack_pack_uint64(&f->pk, m.first_receive_ms);

out:
    free(val);
    return rv;
}

int queueReceive(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    uint8_t keys[FSM_RECEIVE_MAX][VIS_KEY_LEN];
    uint8_t lo[8];
    uint32_t max = cmd->max_messages == 0 ? 1 : cmd->max_messages;
    uint32_t vis;
    uint32_t n = 0;
    uint32_t i;
    bool found;
    int rv;

    rv = queueLookup(f, cmd, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return queueMissing(f, cmd);
    }
    if (max > FSM_RECEIVE_MAX) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "max_messages must be 1 to %d", FSM_RECEIVE_MAX);
    }
    if (!queueVisibility(cmd->visibility_s, q.visibility_s, &vis)) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "visibility timeout must be 0 to %d seconds",
                             FSM_VISIBILITY_MAX_S);
    }
    /* Collect the keys first: moving an entry while walking could meet it
     * again (visibility 0 moves it to now, still ahead of the cursor). */
    rv = storeCursorOpen(&f->store, NULL, STORE_VISIBILITY, &c);
    if (rv != 0) {
        return rv;
    }
    bePut64(lo, q.id);
    rv = storeCursorSeek(&c, lo, sizeof lo, &k, &v, &found);
    while (rv == 0 && found && n < max) {
        if (k.len != VIS_KEY_LEN || memcmp(k.data, lo, 8) != 0 ||
            beGet64((const uint8_t *)k.data + 8) > cmd->now_ms) {
            break;
        }
        memcpy(keys[n++], k.data, VIS_KEY_LEN);
        rv = storeCursorNext(&c, &k, &v, &found);
    }
    storeCursorClose(&c);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 1);
    fsmPackStr(f, "messages");
    msgpack_pack_array(&f->pk, n);
    for (i = 0; i < n; i++) {
        rv = queueReceiveOne(f, cmd, q.id, keys[i], vis);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int queueDeleteMessage(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    struct queueMessage m;
    struct storeVal body;
    uint8_t key[MSG_KEY_LEN];
    uint8_t vkey[VIS_KEY_LEN];
    uint64_t id;
    uint64_t seq;
    uint32_t count;
    bool ok;
    bool found;
    int rv;

    rv = queueLookup(f, cmd, &q, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return queueMissing(f, cmd);
    }
    rv = queueReceiptParse(cmd->receipt, cmd->receipt_len, &id, &seq, &count,
                           &ok);
    if (rv != 0) {
        return rv;
    }
    if (!ok) {
        return fsmReplyError(f, FSM_ERR_RECEIPT_INVALID,
                             "receipt handle is malformed");
    }
    if (id != q.id) {
        return fsmReplyError(f, FSM_ERR_RECEIPT_INVALID,
                             "receipt handle belongs to another queue");
    }
    bePut64(key, id);
    bePut64(key + 8, seq);
    rv = queueMessageGet(f, key, &m, &body, &found);
    if (rv != 0) {
        return rv;
    }
    if (found && count < m.receive_count) {
        return fsmReplyError(f, FSM_ERR_RECEIPT_INVALID,
                             "the message was received again since this "
                             "receipt handle was issued");
    }
    if (found && count != m.receive_count) {
        return fsmReplyError(f, FSM_ERR_RECEIPT_INVALID,
                             "receipt handle does not match the message");
    }
    if (found) {
        queueVisKey(id, m.visible_at_ms, seq, vkey);
        rv = storeDel(&f->store, STORE_VISIBILITY, vkey, sizeof vkey);
        if (rv == 0) {
            rv = storeDel(&f->store, STORE_MESSAGES, key, sizeof key);
        }
        if (rv != 0) {
            return rv;
        }
    }
    /* SQS: deleting a message that is already gone succeeds. */
    fsmReplyOk(f, 0);
    return 0;
}
