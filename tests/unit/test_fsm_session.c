/* Client sessions: every rule of DESIGN.md "Client sessions", a pipeline
 * that loses requests in the middle, the acknowledged mark, the in-flight
 * window, and expiry by tick. */
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

/* Every table but meta (whose digest changes with every entry). */
#define ALL_TABLES "queues messages visibility sessions replies"

/* A command of session @cid at @seq with @ack. */
static struct fsmCommand withSession(struct fsmCommand c,
                                     uint64_t cid,
                                     uint64_t seq,
                                     uint64_t ack)
{
    c.client_id = cid;
    c.seq = seq;
    c.ack = ack;
    return c;
}

/* Apply @c and assert that no table but meta changed. Returns the reply. */
static const msgpack_object *applyNoChange(struct h *h, struct fsmCommand c)
{
    const msgpack_object *o;
    size_t la;
    size_t lb;
    uint8_t *a = hTables(h, ALL_TABLES, &la);
    uint8_t *b;

    o = hApply(h, c);
    b = hTables(h, ALL_TABLES, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    /* hTables does not touch the reply. */
    return o;
}

/* Number of entries of table @name. */
static uint64_t tableCount(struct h *h, const char *name)
{
    size_t len;
    uint8_t *t = hTables(h, name, &len);
    uint64_t n = 0;
    int i;

    assert_true(len >= 1 + strlen(name) + 8);
    for (i = 0; i < 8; i++) {
        n = n << 8 | t[1 + strlen(name) + (size_t)i];
    }
    free(t);
    return n;
}

/* A new client id must start at 1; anything else is an unknown session,
 * answered with nothing stored. */
static void test_newSession(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    const msgpack_object *o;

    (void)state;
    o = applyNoChange(h, withSession(cCreate("q", -1), 5, 2, 0));
    assert_string_equal(hCode(o), "SessionExpired");
    assert_string_equal(hStr(hGet(o, "message")),
                        "unknown session: start a new one");
    assert_string_equal(hCode(hApply(h, withSession(cCreate("q", -1), 5, 1, 0))),
                        "ok");
    assert_int_equal(tableCount(h, "sessions"), 1);
    assert_int_equal(tableCount(h, "replies"), 1);
    hClose(h);
}

/* A retry returns the stored reply byte for byte and changes nothing,
 * whatever the retried command holds; business errors are stored too. */
static void test_retry(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    uint8_t first[256];
    size_t flen;
    uint8_t err[256];
    size_t elen;

    (void)state;
    assert_string_equal(hCode(hApply(h, withSession(cCreate("q", -1), 9, 1, 1))),
                        "ok");
    assert_string_equal(hCode(hApply(h, withSession(cSend("q", "a", 1), 9, 2, 1))),
                        "ok");
    flen = h->raw.len;
    memcpy(first, h->raw.data, flen);
    assert_string_equal(
        hCode(hApply(h, withSession(cSend("nope", "b", 1), 9, 3, 1))),
        "QueueDoesNotExist");
    elen = h->raw.len;
    memcpy(err, h->raw.data, elen);
    /* Retries, even with other content, even after state moved on. */
    assert_string_equal(hCode(hApply(h, withSession(cCreate("nope", -1), 10, 1, 1))),
                        "ok");
    applyNoChange(h, withSession(cSend("q", "a", 1), 9, 2, 1));
    assert_int_equal(h->raw.len, flen);
    assert_memory_equal(h->raw.data, first, flen);
    applyNoChange(h, withSession(cSend("q", "zzz", 3), 9, 2, 1));
    assert_memory_equal(h->raw.data, first, flen);
    applyNoChange(h, withSession(cSend("nope", "b", 1), 9, 3, 1));
    assert_int_equal(h->raw.len, elen);
    assert_memory_equal(h->raw.data, err, elen);
    /* Still exactly one message. */
    assert_int_equal(hMessages(hApply(h, withSession(cRecv("q", 10, -1), 9, 4, 1)))
                         ->via.array.size,
                     1);
    hClose(h);
}

/* A gap is refused with OutOfOrder and consumes nothing. */
static void test_outOfOrder(void **state)
{
    struct h *h = hOpen(1024, 3600000);

    (void)state;
    assert_string_equal(hCode(hApply(h, withSession(cCreate("q", -1), 3, 1, 1))),
                        "ok");
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 3, 3, 1))),
        "OutOfOrder");
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 3, 1000, 1))),
        "OutOfOrder");
    assert_string_equal(hCode(hApply(h, withSession(cSend("q", "x", 1), 3, 2, 1))),
                        "ok");
    assert_string_equal(hCode(hApply(h, withSession(cSend("q", "y", 1), 3, 3, 1))),
                        "ok");
    hClose(h);
}

/* 100 pipelined sends lose 40..59 in transit: 60..99 are refused and
 * change nothing; resending 40..99 gives exactly 100 messages in order,
 * and retries of 1..39 return their stored replies. */
static void test_pipelineLoss(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    static uint8_t replies[101][128];
    static size_t lens[101];
    char bodies[101][8];
    const msgpack_object *m;
    uint64_t s;
    int i;

    (void)state;
    assert_string_equal(hCode(hApply(h, withSession(cCreate("q", -1), 1, 1, 1))),
                        "ok");
    for (s = 1; s <= 100; s++) {
        snprintf(bodies[s], sizeof bodies[s], "m%03d", (int)s);
    }
    /* session 2: sequence s sends message s */
    for (s = 1; s <= 100; s++) {
        struct fsmCommand c = withSession(cSend("q", bodies[s], 4), 2, s, 1);
        if (s >= 40 && s <= 59) {
            continue; /* lost */
        }
        if (s < 40) {
            assert_string_equal(hCode(hApply(h, c)), "ok");
            memcpy(replies[s], h->raw.data, h->raw.len);
            lens[s] = h->raw.len;
        } else {
            assert_string_equal(hCode(applyNoChange(h, c)), "OutOfOrder");
        }
    }
    for (s = 40; s <= 100; s++) {
        struct fsmCommand c = withSession(cSend("q", bodies[s], 4), 2, s, 1);
        assert_string_equal(hCode(hApply(h, c)), "ok");
    }
    for (s = 1; s < 40; s++) {
        struct fsmCommand c = withSession(cSend("q", bodies[s], 4), 2, s, 1);
        applyNoChange(h, c);
        assert_int_equal(h->raw.len, lens[s]);
        assert_memory_equal(h->raw.data, replies[s], lens[s]);
    }
    for (i = 0; i < 10; i++) {
        int j;
        m = hMessages(hApply(h, withSession(cRecv("q", 10, 3600), 1, 2 + (uint64_t)i, 1)));
        assert_int_equal(m->via.array.size, 10);
        for (j = 0; j < 10; j++) {
            assert_memory_equal(hGet(&m->via.array.ptr[j], "body")->via.bin.ptr,
                                bodies[i * 10 + j + 1], 4);
        }
    }
    m = hMessages(hApply(h, withSession(cRecv("q", 10, 3600), 1, 12, 1)));
    assert_int_equal(m->via.array.size, 0);
    hClose(h);
}

/* The acknowledged mark frees replies below it; retries below it get
 * SessionExpired; it never goes down and is clamped to the sequence. */
static void test_ack(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    uint64_t s;

    (void)state;
    assert_string_equal(hCode(hApply(h, withSession(cCreate("q", -1), 4, 1, 0))),
                        "ok");
    for (s = 2; s <= 10; s++) {
        assert_string_equal(
            hCode(hApply(h, withSession(cSend("q", "x", 1), 4, s, 1))), "ok");
    }
    assert_int_equal(tableCount(h, "replies"), 10);
    assert_string_equal(hCode(hApply(h, withSession(cSend("q", "x", 1), 4, 11, 6))),
                        "ok");
    assert_int_equal(tableCount(h, "replies"), 6); /* 6..11 */
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 4, 5, 6))),
        "SessionExpired");
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 4, 1, 6))),
        "SessionExpired");
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 4, 6, 6))), "ok");
    /* A lower ack does not lower the mark. */
    assert_string_equal(hCode(hApply(h, withSession(cSend("q", "x", 1), 4, 12, 2))),
                        "ok");
    assert_int_equal(tableCount(h, "replies"), 7); /* 6..12 */
    /* An ack past the sequence is clamped to it: its reply stays. */
    assert_string_equal(
        hCode(hApply(h, withSession(cSend("q", "x", 1), 4, 13, 1000))), "ok");
    assert_int_equal(tableCount(h, "replies"), 1);
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 4, 13, 1000))),
        "ok");
    assert_string_equal(
        hCode(applyNoChange(h, withSession(cSend("q", "x", 1), 4, 12, 1000))),
        "SessionExpired");
    hClose(h);
}

/* At most session_window sequences past the mark: with nothing
 * acknowledged, 1..1024 apply and 1025 is refused, consuming nothing. */
static void test_window(void **state)
{
    struct h *h = hOpen(1024, 3600000);
    uint64_t s;

    (void)state;
    for (s = 1; s <= 1024; s++) {
        assert_string_equal(
            hCode(hApply(h, withSession(cDrop("none"), 8, s, s % 2))),
            "QueueDoesNotExist");
    }
    assert_int_equal(tableCount(h, "replies"), 1024);
    assert_string_equal(hCode(applyNoChange(h, withSession(cDrop("none"), 8, 1025, 1))),
                        "TooManyInFlight");
    assert_string_equal(hCode(applyNoChange(h, withSession(cDrop("none"), 8, 1026, 2))),
                        "OutOfOrder");
    /* Acknowledging one more makes room. */
    assert_string_equal(hCode(hApply(h, withSession(cDrop("none"), 8, 1025, 2))),
                        "QueueDoesNotExist");
    assert_int_equal(tableCount(h, "replies"), 1024);
    hClose(h);

    /* A small window, and an ack that arrives with the refused command. */
    h = hOpen(4, 3600000);
    for (s = 1; s <= 4; s++) {
        assert_string_equal(hCode(hApply(h, withSession(cDrop("n"), 8, s, 1))),
                            "QueueDoesNotExist");
    }
    assert_string_equal(hCode(applyNoChange(h, withSession(cDrop("n"), 8, 5, 1))),
                        "TooManyInFlight");
    assert_string_equal(hCode(hApply(h, withSession(cDrop("n"), 8, 5, 3))),
                        "QueueDoesNotExist");
    assert_int_equal(tableCount(h, "replies"), 3); /* 3..5 */
    hClose(h);
}

/* tick expires sessions idle for longer than session_idle_ms, with their
 * replies; retries do not refresh a session. */
static void test_expiry(void **state)
{
    struct h *h = hOpen(1024, 1000);
    struct fsmCommand c;

    (void)state;
    c = withSession(cCreate("q", -1), 1, 1, 1);
    c.now_ms = 1000;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    c = withSession(cCreate("r", -1), 2, 1, 1);
    c.now_ms = 1500;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    /* A retry of session 1 at 1900 does not count as use. */
    c = withSession(cCreate("q", -1), 1, 1, 1);
    c.now_ms = 1900;
    assert_string_equal(hCode(applyNoChange(h, c)), "ok");
    c = cTick();
    c.now_ms = 2000;
    assert_string_equal(hCode(applyNoChange(h, c)), "ok");
    assert_int_equal(tableCount(h, "sessions"), 2);
    c.now_ms = 2001;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    assert_int_equal(tableCount(h, "sessions"), 1);
    assert_int_equal(tableCount(h, "replies"), 1);
    c = withSession(cCreate("q", -1), 1, 2, 1);
    c.now_ms = 2002;
    assert_string_equal(hCode(applyNoChange(h, c)), "SessionExpired");
    c = withSession(cCreate("q", -1), 1, 1, 1);
    assert_string_equal(hCode(hApply(h, c)), "ok"); /* starts over at 1 */
    c = withSession(cCreate("s", -1), 2, 2, 1);
    c.now_ms = 2500;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    c = cTick();
    c.now_ms = 1000000;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    assert_int_equal(tableCount(h, "sessions"), 0);
    assert_int_equal(tableCount(h, "replies"), 0);
    /* Queues outlive sessions. */
    assert_int_equal(hGet(hApply(h, cList()), "queues")->via.array.size, 3);
    hClose(h);
}

/* Many sessions expire in one tick (the walk survives deletions). */
static void test_expiryMany(void **state)
{
    struct h *h = hOpen(16, 10);
    struct fsmCommand c;
    uint64_t cid;
    uint64_t s;

    (void)state;
    for (cid = 1; cid <= 200; cid++) {
        for (s = 1; s <= 3; s++) {
            c = withSession(cDrop("x"), cid, s, 1);
            c.now_ms = cid % 2 == 0 ? 100 : 1000;
            assert_string_equal(hCode(hApply(h, c)), "QueueDoesNotExist");
        }
    }
    c = cTick();
    c.now_ms = 500;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    assert_int_equal(tableCount(h, "sessions"), 100);
    assert_int_equal(tableCount(h, "replies"), 300);
    c.now_ms = 5000;
    assert_string_equal(hCode(hApply(h, c)), "ok");
    assert_int_equal(tableCount(h, "sessions"), 0);
    assert_int_equal(tableCount(h, "replies"), 0);
    hClose(h);
}

/* Reads and housekeeping carry no session and store nothing. */
static void test_noSession(void **state)
{
    struct h *h = hOpen(1024, 3600000);

    (void)state;
    applyNoChange(h, cList());
    applyNoChange(h, cTick());
    assert_int_equal(tableCount(h, "sessions"), 0);
    hClose(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newSession),  cmocka_unit_test(test_retry),
        cmocka_unit_test(test_outOfOrder),  cmocka_unit_test(test_pipelineLoss),
        cmocka_unit_test(test_ack),         cmocka_unit_test(test_window),
        cmocka_unit_test(test_expiry),      cmocka_unit_test(test_expiryMany),
        cmocka_unit_test(test_noSession),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
