/* Queue ops: every limit at and past its bound, the receive/delete cycle,
 * visibility timeouts driven by now_ms, receipts, and error replies that
 * change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "fsm/fsm.h"
#include "tests/lib/tmpdir.h"

/* ---- harness (same in test_fsm_session.c and test_fsm_snapshot.c) ---- */

/* One fsm in its own directory, with one client session. */
struct h
{
    char *dir;
    struct fsm *f;
    uint64_t cid;        /* session used when a command has none */
    uint64_t seq;        /* last sequence sent by that session */
    uint64_t now;        /* now_ms stamped on commands that have none */
    msgpack_unpacked u;  /* the last reply, decoded */
    struct fsmReply raw; /* the last reply's bytes */
};

/* Open a fresh fsm with @window and @idle_ms. */
static inline struct h *hOpen(uint32_t window, uint64_t idle_ms)
{
    struct fsmConfig conf;
    char errmsg[256];
    struct h *h = calloc(1, sizeof *h);

    assert_non_null(h);
    h->dir = tmpdirMake();
    assert_non_null(h->dir);
    fsmConfigDefaults(&conf);
    conf.dir = h->dir;
    conf.map_size = (size_t)256 << 20;
    conf.session_window = window;
    conf.session_idle_ms = idle_ms;
    assert_int_equal(fsmOpen(&conf, &h->f, errmsg), 0);
    h->cid = 7;
    h->now = 1000;
    msgpack_unpacked_init(&h->u);
    return h;
}

/* Close and remove everything. */
static inline void hClose(struct h *h)
{
    msgpack_unpacked_destroy(&h->u);
    fsmClose(h->f);
    tmpdirRemove(h->dir);
    free(h);
}

/* Decode the reply bytes in h->raw into h->u. */
static inline const msgpack_object *hDecode(struct h *h)
{
    size_t off = 0;

    assert_int_equal(msgpack_unpack_next(&h->u, h->raw.data, h->raw.len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, h->raw.len);
    assert_int_equal(h->u.data.type, MSGPACK_OBJECT_MAP);
    return &h->u.data;
}

/* Apply raw entry bytes. */
static inline const msgpack_object *hApplyRaw(struct h *h, const void *buf, size_t len)
{
    assert_int_equal(fsmApply(h->f, buf, len, &h->raw), 0);
    return hDecode(h);
}

/* Apply @c exactly as given (no session filled in). */
static inline const msgpack_object *hApplyExact(struct h *h, const struct fsmCommand *c)
{
    const msgpack_object *o;
    void *buf;
    size_t len;

    assert_int_equal(fsmCommandEncode(c, malloc, &buf, &len), 0);
    o = hApplyRaw(h, buf, len);
    free(buf);
    return o;
}

/* Apply @c, filling in now (if 0) and, for a mutating op without a client
 * id, the harness session's next sequence (acknowledging all before it). */
static inline const msgpack_object *hApply(struct h *h, struct fsmCommand c)
{
    if (c.now_ms == 0) {
        c.now_ms = h->now;
    }
    if (fsmOpMutates(c.op) && c.client_id == 0) {
        c.client_id = h->cid;
        c.seq = ++h->seq;
        c.ack = c.seq;
    }
    return hApplyExact(h, &c);
}

/* Value of @key in map @o, or NULL. */
static inline const msgpack_object *hGet(const msgpack_object *o, const char *key)
{
    uint32_t i;

    for (i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

/* Copy of string @o (static buffer, overwritten by the next call). */
static inline const char *hStr(const msgpack_object *o)
{
    static char buf[2][512];
    static int which;
    char *b = buf[which ^= 1];

    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_true(o->via.str.size < sizeof buf[0]);
    memcpy(b, o->via.str.ptr, o->via.str.size);
    b[o->via.str.size] = '\0';
    return b;
}

/* "ok" for a success reply, else its error code. */
static inline const char *hCode(const msgpack_object *o)
{
    const msgpack_object *ok = hGet(o, "ok");

    assert_non_null(ok);
    assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
    if (ok->via.boolean) {
        return "ok";
    }
    assert_non_null(hGet(o, "message"));
    return hStr(hGet(o, "code"));
}

/* Command builders. */
static inline struct fsmCommand cCreate(const char *q, int64_t vis)
{
    struct fsmCommand c = {.op = FSM_OP_QUEUE_CREATE, .queue = q,
                           .queue_len = strlen(q), .visibility_s = vis};
    return c;
}

static inline struct fsmCommand cDrop(const char *q)
{
    struct fsmCommand c = {.op = FSM_OP_QUEUE_DELETE, .queue = q,
                           .queue_len = strlen(q), .visibility_s = -1};
    return c;
}

static inline struct fsmCommand cList(void)
{
    struct fsmCommand c = {.op = FSM_OP_QUEUE_LIST, .visibility_s = -1};
    return c;
}

static inline struct fsmCommand cSend(const char *q, const void *body, size_t len)
{
    struct fsmCommand c = {.op = FSM_OP_SEND, .queue = q, .queue_len = strlen(q),
                           .body = body, .body_len = len, .visibility_s = -1};
    return c;
}

static inline struct fsmCommand cRecv(const char *q, uint32_t max, int64_t vis)
{
    struct fsmCommand c = {.op = FSM_OP_RECEIVE, .queue = q,
                           .queue_len = strlen(q), .max_messages = max,
                           .visibility_s = vis};
    return c;
}

static inline struct fsmCommand cDel(const char *q, const char *receipt)
{
    struct fsmCommand c = {.op = FSM_OP_DELETE, .queue = q,
                           .queue_len = strlen(q), .receipt = receipt,
                           .receipt_len = strlen(receipt), .visibility_s = -1};
    return c;
}

static inline struct fsmCommand cTick(void)
{
    struct fsmCommand c = {.op = FSM_OP_TICK, .visibility_s = -1};
    return c;
}

/* The "messages" array of a recv reply. */
static inline const msgpack_object *hMessages(const msgpack_object *o)
{
    const msgpack_object *m = hGet(o, "messages");

    assert_string_equal(hCode(o), "ok");
    assert_non_null(m);
    assert_int_equal(m->type, MSGPACK_OBJECT_ARRAY);
    return m;
}

/* Unsigned field @key of map @o. */
static inline uint64_t hU(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = hGet(o, key);

    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return v->via.u64;
}

/* Take a snapshot of @h; *len gets its length. Caller frees. */
static inline uint8_t *hSnapshot(struct h *h, size_t *len)
{
    struct fsmSnapshot *s;
    void *buf;

    assert_int_equal(fsmSnapshotBegin(h->f, &s), 0);
    assert_int_equal(fsmSnapshotWrite(s, malloc, &buf, len), 0);
    fsmSnapshotEnd(s);
    return buf;
}

/* The bytes of snapshot tables whose names are listed in @names
 * (space-separated), concatenated. Caller frees. */
static inline uint8_t *hTables(struct h *h, const char *names, size_t *outlen)
{
    size_t len;
    uint8_t *snap = hSnapshot(h, &len);
    uint8_t *out = malloc(len);
    size_t off = 16;
    size_t o = 0;
    uint32_t t;

    assert_non_null(out);
    for (t = 0; t < 6; t++) {
        size_t start = off;
        size_t nlen = snap[off];
        char name[32];
        uint64_t count;
        uint64_t i;
        memcpy(name, snap + off + 1, nlen);
        name[nlen] = '\0';
        off += 1 + nlen;
        count = 0;
        for (i = 0; i < 8; i++) {
            count = count << 8 | snap[off + i];
        }
        off += 8;
        for (i = 0; i < count; i++) {
            size_t k = (size_t)snap[off] << 24 | (size_t)snap[off + 1] << 16 |
                       (size_t)snap[off + 2] << 8 | snap[off + 3];
            size_t v;
            off += 4 + k;
            v = (size_t)snap[off] << 24 | (size_t)snap[off + 1] << 16 |
                (size_t)snap[off + 2] << 8 | snap[off + 3];
            off += 4 + v;
        }
        if (strstr(names, name) != NULL) {
            memcpy(out + o, snap + start, off - start);
            o += off - start;
        }
    }
    assert_int_equal(off + 32, len);
    free(snap);
    *outlen = o;
    return out;
}

/* ---- tests ---- */

/* The queue, message and visibility tables, to compare around a refusal. */
static uint8_t *dataTables(struct h *h, size_t *len)
{
    return hTables(h, "queues messages visibility", len);
}

/* Queue names: 1..80 of [A-Za-z0-9_-]. */
static void test_createName(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    char name[90];
    static const char *const bad[] = {"", "a b", "a.b", "a/b", "caf\xc3\xa9",
                                      "q\n", "q:1", "*"};
    size_t i;

    (void)state;
    memset(name, 'a', 80);
    name[80] = '\0';
    assert_string_equal(hCode(hApply(h, cCreate(name, -1))), "ok");
    assert_string_equal(hStr(hGet(&h->u.data, "queue")), name);
    name[80] = 'a';
    name[81] = '\0';
    assert_string_equal(hCode(hApply(h, cCreate(name, -1))),
                        "InvalidParameterValue");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_string_equal(hCode(hApply(h, cCreate(bad[i], -1))),
                            "InvalidParameterValue");
    }
    assert_string_equal(hCode(hApply(h, cCreate("Az09_-", -1))), "ok");
    hClose(h);
}

/* Visibility 0..43200, -1 for the default, and re-creation. */
static void test_createVisibility(void **state)
{
    struct h *h = hOpen(1024, 3600000);

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("max", 43200))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("over", 43201))),
                        "InvalidParameterValue");
    assert_string_equal(hCode(hApply(h, cCreate("neg", -2))),
                        "InvalidParameterValue");
    assert_string_equal(hCode(hApply(h, cCreate("zero", 0))), "ok");
    /* Same attributes: ok, the existing queue. Different: refused. */
    assert_string_equal(hCode(hApply(h, cCreate("max", 43200))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("max", 43199))),
                        "QueueAlreadyExists");
    assert_string_equal(hCode(hApply(h, cCreate("dflt", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("dflt", 30))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("dflt", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("dflt", 31))),
                        "QueueAlreadyExists");
    hClose(h);
}

/* queue_list: sorted bytewise, through fsmQuery and fsmApply alike; sees
 * unflushed writes. */
static void test_list(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    static const char *const names[] = {"b", "B", "a-1", "a_1", "a", "Z9"};
    static const char *const sorted[] = {"B", "Z9", "a", "a-1", "a_1", "b"};
    struct fsmCommand list = cList();
    const msgpack_object *q;
    size_t i;

    (void)state;
    q = hGet(hApply(h, cList()), "queues");
    assert_int_equal(q->via.array.size, 0);
    for (i = 0; i < 6; i++) {
        assert_string_equal(hCode(hApply(h, cCreate(names[i], -1))), "ok");
    }
    assert_int_equal(fsmQuery(h->f, &list, &h->raw), 0);
    q = hGet(hDecode(h), "queues");
    assert_non_null(q);
    assert_int_equal(q->via.array.size, 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(hStr(&q->via.array.ptr[i]), sorted[i]);
    }
    q = hGet(hApply(h, cList()), "queues");
    assert_int_equal(q->via.array.size, 6);
    assert_string_equal(hCode(hApply(h, cDrop("a"))), "ok");
    assert_string_equal(hCode(hApply(h, cDrop("a"))), "QueueDoesNotExist");
    assert_int_equal(fsmFlush(h->f), 0);
    q = hGet(hApply(h, cList()), "queues");
    assert_int_equal(q->via.array.size, 5);
    hClose(h);
}

/* Body 1..262144 bytes; message id and md5 in the reply. */
static void test_sendLimits(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    char *body = malloc(262145);
    const msgpack_object *o;
    const char *id;
    char idcopy[64];

    (void)state;
    memset(body, 'b', 262145);
    assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))),
                        "QueueDoesNotExist");
    assert_string_equal(hCode(hApply(h, cCreate("q", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", body, 262144))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", body, 262145))),
                        "MessageTooLong");
    o = hApply(h, cSend("q", "", 0));
    assert_string_equal(hCode(o), "InvalidParameterValue");
    assert_string_equal(hStr(hGet(o, "message")),
                        "message body must not be empty");
    o = hApply(h, cSend("q", "hello", 5));
    assert_string_equal(hCode(o), "ok");
    assert_string_equal(hStr(hGet(o, "md5")), "5d41402abc4b2a76b9719d911017c592");
    id = hStr(hGet(o, "msg_id"));
    strcpy(idcopy, id);
    assert_int_equal(strlen(id), FSM_MESSAGE_ID_LEN);
    assert_int_equal(id[8], '-');
    assert_int_equal(id[13], '-');
    assert_int_equal(id[14], '4');
    assert_int_equal(id[18], '-');
    assert_non_null(strchr("89ab", id[19]));
    assert_int_equal(id[23], '-');
    /* Both messages are there, the big one first. */
    o = hMessages(hApply(h, cRecv("q", 10, -1)));
    assert_int_equal(o->via.array.size, 2);
    assert_int_equal(hGet(&o->via.array.ptr[0], "body")->via.bin.size, 262144);
    assert_string_equal(hStr(hGet(&o->via.array.ptr[1], "msg_id")), idcopy);
    free(body);
    hClose(h);
}

/* max 0 -> 1, 1..10, 11 refused; visibility override 0..43200. */
static void test_recvLimits(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    int i;

    (void)state;
    assert_string_equal(hCode(hApply(h, cRecv("q", 1, -1))), "QueueDoesNotExist");
    assert_string_equal(hCode(hApply(h, cCreate("q", -1))), "ok");
    for (i = 0; i < 12; i++) {
        assert_string_equal(hCode(hApply(h, cSend("q", "m", 1))), "ok");
    }
    assert_string_equal(hCode(hApply(h, cRecv("q", 11, -1))),
                        "InvalidParameterValue");
    assert_string_equal(hCode(hApply(h, cRecv("q", 1, 43201))),
                        "InvalidParameterValue");
    assert_string_equal(hCode(hApply(h, cRecv("q", 1, -3))),
                        "InvalidParameterValue");
    assert_int_equal(hMessages(hApply(h, cRecv("q", 0, 43200)))->via.array.size,
                     1);
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size,
                     10);
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size,
                     1);
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size,
                     0);
    hClose(h);
}

/* Send, receive, delete; FIFO-ish order of visible messages. */
static void test_happyPath(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *m;
    char receipt[128];
    char id[64];
    char body[16];
    int i;

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("q", -1))), "ok");
    m = hApply(h, cSend("q", "first", 5));
    strcpy(id, hStr(hGet(m, "msg_id")));
    for (i = 0; i < 24; i++) {
        snprintf(body, sizeof body, "m%02d", i);
        assert_string_equal(hCode(hApply(h, cSend("q", body, strlen(body)))),
                            "ok");
    }
    h->now = 2000;
    m = hMessages(hApply(h, cRecv("q", 1, -1)));
    assert_int_equal(m->via.array.size, 1);
    m = &m->via.array.ptr[0];
    assert_string_equal(hStr(hGet(m, "msg_id")), id);
    assert_int_equal(hGet(m, "body")->type, MSGPACK_OBJECT_BIN);
    assert_memory_equal(hGet(m, "body")->via.bin.ptr, "first", 5);
    assert_int_equal(hU(m, "receive_count"), 1);
    assert_int_equal(hU(m, "sent_ms"), 1000);
    assert_int_equal(hU(m, "first_receive_ms"), 2000);
    strcpy(receipt, hStr(hGet(m, "receipt")));
    assert_true(strlen(receipt) <= FSM_RECEIPT_MAX);
    assert_string_equal(hCode(hApply(h, cDel("q", receipt))), "ok");
    /* The rest come in send order. */
    for (i = 0; i < 24; i += 8) {
        int j;
        m = hMessages(hApply(h, cRecv("q", 8, -1)));
        assert_int_equal(m->via.array.size, 8);
        for (j = 0; j < 8; j++) {
            snprintf(body, sizeof body, "m%02d", i + j);
            assert_memory_equal(hGet(&m->via.array.ptr[j], "body")->via.bin.ptr,
                                body, 3);
        }
    }
    /* Deleting an already deleted message succeeds. */
    assert_string_equal(hCode(hApply(h, cDel("q", receipt))), "ok");
    /* The deleted one never comes back, even after every timeout. */
    h->now += 31000;
    m = hMessages(hApply(h, cRecv("q", 10, -1)));
    assert_int_equal(m->via.array.size, 10);
    for (i = 0; i < 10; i++) {
        assert_string_not_equal(hStr(hGet(&m->via.array.ptr[i], "msg_id")), id);
    }
    hClose(h);
}

/* Each receive counts, gives a fresh receipt, keeps first_receive_ms. */
static void test_receiveCount(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    char receipts[5][128];
    int i;
    int j;

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("q", 0))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))), "ok");
    for (i = 0; i < 5; i++) {
        const msgpack_object *m;
        h->now = 5000 + (uint64_t)i;
        m = hMessages(hApply(h, cRecv("q", 1, -1)));
        assert_int_equal(m->via.array.size, 1);
        m = &m->via.array.ptr[0];
        assert_int_equal(hU(m, "receive_count"), (uint64_t)i + 1);
        assert_int_equal(hU(m, "first_receive_ms"), 5000);
        strcpy(receipts[i], hStr(hGet(m, "receipt")));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(receipts[i], receipts[j]);
        }
    }
    /* Only the newest receipt deletes; older ones are stale. */
    for (i = 0; i < 4; i++) {
        const msgpack_object *o = hApply(h, cDel("q", receipts[i]));
        assert_string_equal(hCode(o), "ReceiptHandleIsInvalid");
        assert_non_null(strstr(hStr(hGet(o, "message")), "received again"));
    }
    assert_string_equal(hCode(hApply(h, cDel("q", receipts[4]))), "ok");
    assert_string_equal(hCode(hApply(h, cDel("q", receipts[0]))), "ok");
    hClose(h);
}

/* An invisible message is not delivered before its timeout, and is
 * delivered again at it (at-least-once). */
static void test_visibilityTimeout(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *m;
    char first[128];

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("q", 10))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))), "ok");
    h->now = 1000;
    m = hMessages(hApply(h, cRecv("q", 1, -1)));
    assert_int_equal(m->via.array.size, 1);
    strcpy(first, hStr(hGet(&m->via.array.ptr[0], "receipt")));
    h->now = 10999;
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size, 0);
    h->now = 11000;
    m = hMessages(hApply(h, cRecv("q", 10, 100)));
    assert_int_equal(m->via.array.size, 1);
    assert_int_equal(hU(&m->via.array.ptr[0], "receive_count"), 2);
    assert_int_equal(hU(&m->via.array.ptr[0], "first_receive_ms"), 1000);
    /* The override (100 s) applies, not the queue's 10 s. */
    h->now = 110999;
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size, 0);
    h->now = 111000;
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size, 1);
    assert_string_equal(hCode(hApply(h, cDel("q", first))),
                        "ReceiptHandleIsInvalid");
    hClose(h);
}

/* Malformed receipts and receipts of another queue are refused. */
static void test_receiptInvalid(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *m;
    char receipt[128];
    char bad[128];
    size_t i;

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("a", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("b", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("a", "x", 1))), "ok");
    m = hMessages(hApply(h, cRecv("a", 1, -1)));
    strcpy(receipt, hStr(hGet(&m->via.array.ptr[0], "receipt")));
    assert_string_equal(hCode(hApply(h, cDel("b", receipt))),
                        "ReceiptHandleIsInvalid");
    assert_string_equal(hCode(hApply(h, cDel("c", receipt))),
                        "QueueDoesNotExist");
    assert_string_equal(hCode(hApply(h, cDel("a", ""))),
                        "ReceiptHandleIsInvalid");
    assert_string_equal(hCode(hApply(h, cDel("a", "garbage"))),
                        "ReceiptHandleIsInvalid");
    /* Every single-character change is caught. */
    for (i = 0; i < strlen(receipt); i++) {
        strcpy(bad, receipt);
        bad[i] = bad[i] == '0' ? '1' : '0';
        assert_string_equal(hCode(hApply(h, cDel("a", bad))),
                            "ReceiptHandleIsInvalid");
        strcpy(bad, receipt);
        bad[i] = (char)(bad[i] >= 'a' ? bad[i] - 32 : 'G');
        assert_string_equal(hCode(hApply(h, cDel("a", bad))),
                            "ReceiptHandleIsInvalid");
    }
    strcpy(bad, receipt);
    bad[strlen(bad) - 1] = '\0';
    assert_string_equal(hCode(hApply(h, cDel("a", bad))), "ReceiptHandleIsInvalid");
    strcat(receipt, "0");
    assert_string_equal(hCode(hApply(h, cDel("a", receipt))),
                        "ReceiptHandleIsInvalid");
    receipt[strlen(receipt) - 1] = '\0';
    assert_string_equal(hCode(hApply(h, cDel("a", receipt))), "ok");
    hClose(h);
}

/* Deleting a queue removes its messages; a new queue of that name starts
 * empty and rejects the old queue's receipts. */
static void test_queueDelete(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *m;
    char receipt[128];
    size_t before;
    size_t after;
    uint8_t *t;
    int i;

    (void)state;
    assert_string_equal(hCode(hApply(h, cDrop("q"))), "QueueDoesNotExist");
    assert_string_equal(hCode(hApply(h, cCreate("keep", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("keep", "k", 1))), "ok");
    free(hTables(h, "messages visibility", &before));
    assert_string_equal(hCode(hApply(h, cCreate("q", -1))), "ok");
    for (i = 0; i < 50; i++) {
        assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))), "ok");
    }
    m = hMessages(hApply(h, cRecv("q", 1, -1)));
    strcpy(receipt, hStr(hGet(&m->via.array.ptr[0], "receipt")));
    assert_string_equal(hCode(hApply(h, cDrop("q"))), "ok");
    t = hTables(h, "messages visibility", &after);
    free(t);
    assert_int_equal(after, before); /* only "keep"'s message is left */
    assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))), "QueueDoesNotExist");
    assert_string_equal(hCode(hApply(h, cCreate("q", -1))), "ok");
    assert_int_equal(hMessages(hApply(h, cRecv("q", 10, -1)))->via.array.size, 0);
    assert_string_equal(hCode(hApply(h, cDel("q", receipt))),
                        "ReceiptHandleIsInvalid");
    assert_int_equal(hMessages(hApply(h, cRecv("keep", 10, -1)))->via.array.size,
                     1);
    hClose(h);
}

/* Every refused op leaves queues, messages and visibility untouched. */
static void test_errorsChangeNothing(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *m;
    char receipt[128];
    char stale[128];
    char *big = calloc(1, 262145);
    struct fsmCommand refused[16];
    size_t n = 0;
    size_t i;

    (void)state;
    assert_string_equal(hCode(hApply(h, cCreate("q", 5))), "ok");
    assert_string_equal(hCode(hApply(h, cCreate("other", -1))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", "x", 1))), "ok");
    assert_string_equal(hCode(hApply(h, cSend("q", "y", 1))), "ok");
    m = hMessages(hApply(h, cRecv("q", 1, 0)));
    strcpy(stale, hStr(hGet(&m->via.array.ptr[0], "receipt")));
    m = hMessages(hApply(h, cRecv("q", 1, -1)));
    strcpy(receipt, hStr(hGet(&m->via.array.ptr[0], "receipt")));
    refused[n++] = cCreate("q", 6);
    refused[n++] = cCreate("bad name", -1);
    refused[n++] = cCreate("v", 43201);
    refused[n++] = cDrop("nope");
    refused[n++] = cSend("nope", "x", 1);
    refused[n++] = cSend("q", "", 0);
    refused[n++] = cSend("q", big, 262145);
    refused[n++] = cRecv("q", 11, -1);
    refused[n++] = cRecv("q", 1, 43201);
    refused[n++] = cRecv("nope", 1, -1);
    refused[n++] = cDel("q", stale);
    refused[n++] = cDel("other", receipt);
    refused[n++] = cDel("q", "zz");
    refused[n++] = cDel("nope", receipt);
    for (i = 0; i < n; i++) {
        size_t la;
        size_t lb;
        uint8_t *a = dataTables(h, &la);
        uint8_t *b;
        assert_string_not_equal(hCode(hApply(h, refused[i])), "ok");
        b = dataTables(h, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
    }
    /* A garbage entry too (InvalidCommand). */
    {
        size_t la;
        size_t lb;
        uint8_t *a = dataTables(h, &la);
        uint8_t *b;
        assert_string_equal(hCode(hApplyRaw(h, "\x81\xa1x\x01\0\0\0\0", 8)),
                            "InvalidCommand");
        b = dataTables(h, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
    }
    assert_string_equal(hCode(hApply(h, cDel("q", receipt))), "ok");
    free(big);
    hClose(h);
}

/* The store failing is fatal: a tiny map fills up and fsmApply returns
 * non-zero, then keeps refusing. */
static void test_mapFull(void **state)
{
    struct fsmConfig conf;
    struct fsmReply r;
    struct fsm *f;
    char errmsg[256];
    char *dir = tmpdirMake();
    char *body = calloc(1, 262144);
    int rv = 0;
    uint64_t seq;

    (void)state;
    fsmConfigDefaults(&conf);
    conf.dir = dir;
    conf.map_size = 1 << 20;
    assert_int_equal(fsmOpen(&conf, &f, errmsg), 0);
    for (seq = 1; seq < 100 && rv == 0; seq++) {
        struct fsmCommand c = seq == 1 ? cCreate("q", -1)
                                       : cSend("q", body, 262144);
        void *buf;
        size_t len;
        c.now_ms = 1;
        c.client_id = 1;
        c.seq = seq;
        c.ack = seq;
        assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
        rv = fsmApply(f, buf, len, &r);
        if (rv == 0) {
            rv = fsmFlush(f);
        }
        free(buf);
    }
    assert_int_equal(rv, FSM_ESTORE);
    assert_non_null(strstr(fsmErrmsg(f), "MDB_MAP_FULL"));
    {
        struct fsmCommand t = cTick();
        void *buf;
        size_t len;
        t.now_ms = 2;
        assert_int_equal(fsmCommandEncode(&t, malloc, &buf, &len), 0);
        assert_int_equal(fsmApply(f, buf, len, &r), FSM_ESTORE);
        free(buf);
    }
    fsmClose(f);
    free(body);
    tmpdirRemove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_createName),
        cmocka_unit_test(test_createVisibility),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_sendLimits),
        cmocka_unit_test(test_recvLimits),
        cmocka_unit_test(test_happyPath),
        cmocka_unit_test(test_receiveCount),
        cmocka_unit_test(test_visibilityTimeout),
        cmocka_unit_test(test_receiptInvalid),
        cmocka_unit_test(test_queueDelete),
        cmocka_unit_test(test_errorsChangeNothing),
        cmocka_unit_test(test_mapFull),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
