/* Snapshots: determinism across fsms, restore gives the same state and
 * behaviour, corrupt snapshots change nothing, and a snapshot written from
 * another thread reflects the state at Begin while applies go on. */
#include <openssl/evp.h>
#include <pthread.h>
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

/* Number of steps of the scripted workload. */
#define SCRIPT_STEPS 400

/* Step @i of a workload that touches every op and table: several sessions,
 * queues created and deleted, sends, receives with timeouts that expire,
 * deletes with fresh and stale receipts, ticks, retries, refusals and a
 * garbage entry. Receipts come from the previous receive's reply. */
static void scriptStep(struct h *h, int i, char receipts[][128], int *nrec)
{
    static const char *const queues[] = {"alpha", "beta", "gamma"};
    const char *q = queues[i % 3];
    uint64_t cid = 1 + (uint64_t)(i % 4);
    uint64_t seq = 1 + (uint64_t)(i / 4);
    struct fsmCommand c;
    char body[32];
    int kind = (i * 7) % 11;

    snprintf(body, sizeof body, "body-%d", i);
    h->now = 1000 + (uint64_t)i * 700;
    if (i < 12 || i % 97 == 3) {
        c = cCreate(q, i % 2 ? 1 : -1);
    } else if (i % 97 == 0) {
        c = cDrop(q);
    } else if (kind < 4) {
        c = cSend(q, body, strlen(body));
    } else if (kind < 7) {
        c = cRecv(q, (uint32_t)(i % 4), i % 5 == 0 ? 0 : 2);
    } else if (kind < 9 && *nrec > 0) {
        c = cDel(q, receipts[(i * 13) % *nrec]);
    } else {
        if (kind == 9) {
            struct fsmCommand t = cTick();
            t.now_ms = h->now;
            hApplyExact(h, &t);
        }
        c = cSend(q, body, strlen(body));
    }
    c.client_id = cid;
    c.seq = i % 37 == 0 && seq > 1 ? seq - 1 : seq; /* some retries */
    c.ack = seq > 3 ? seq - 3 : 1;
    c.now_ms = h->now;
    {
        const msgpack_object *o = hApplyExact(h, &c);
        const msgpack_object *m = hGet(o, "messages");
        uint32_t j;
        if (m != NULL && m->type == MSGPACK_OBJECT_ARRAY) {
            for (j = 0; j < m->via.array.size && *nrec < 64; j++) {
                strcpy(receipts[(*nrec)++],
                       hStr(hGet(&m->via.array.ptr[j], "receipt")));
            }
        }
    }
    /* The session of this step skipped a sequence on a retry: resend. */
    if (c.seq != seq) {
        c.seq = seq;
        hApplyExact(h, &c);
    }
    if (i % 50 == 25) {
        assert_string_equal(hCode(hApplyRaw(h, "\x91\x01\0\0\0\0\0\0", 8)),
                            "InvalidCommand");
    }
}

/* Run the workload on @h, flushing every @flush_every steps (0: never). */
static void script(struct h *h, int flush_every)
{
    char receipts[64][128];
    int nrec = 0;
    int i;

    for (i = 0; i < SCRIPT_STEPS; i++) {
        scriptStep(h, i, receipts, &nrec);
        if (flush_every > 0 && i % flush_every == 0) {
            assert_int_equal(fsmFlush(h->f), 0);
        }
    }
    assert_true(nrec > 20); /* receives did get messages */
}

/* Assert that @a and @b have the same snapshot bytes, digest and last now.
 * Returns the snapshot of @a (caller frees) in *len. */
static uint8_t *assertSameState(struct h *a, struct h *b, size_t *len)
{
    char da[33];
    char db[33];
    size_t la;
    size_t lb;
    uint8_t *sa = hSnapshot(a, &la);
    uint8_t *sb = hSnapshot(b, &lb);

    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    fsmDigest(a->f, da);
    fsmDigest(b->f, db);
    assert_string_equal(da, db);
    assert_int_equal(fsmLastNow(a->f), fsmLastNow(b->f));
    free(sb);
    *len = la;
    return sa;
}

/* The same entries give the same bytes, whatever the flush boundaries. */
static void test_determinism(void **state)
{
    struct h *a = hOpen(1024, 5000);
    struct h *b = hOpen(1024, 5000);
    char d[33];
    size_t len;
    uint8_t *snap;

    (void)state;
    script(a, 0);
    script(b, 7);
    snap = assertSameState(a, b, &len);
    assert_memory_equal(snap, "QRAFTSN1", 8);
    fsmDigest(a->f, d);
    assert_int_equal(strlen(d), 32);
    assert_string_not_equal(d, "00000000000000000000000000000000");
    assert_int_equal(fsmLastNow(a->f), 1000 + (SCRIPT_STEPS - 1) * 700);
    /* The workload left entries in every table. */
    {
        static const char *const tables[] = {"meta", "queues", "messages",
                                             "visibility", "sessions",
                                             "replies"};
        size_t k;
        for (k = 0; k < 6; k++) {
            size_t tl;
            uint8_t *t = hTables(a, tables[k], &tl);
            if (tl <= 1 + strlen(tables[k]) + 8) {
                fail_msg("table %s is empty", tables[k]);
            }
            free(t);
        }
    }
    free(snap);
    hClose(a);
    hClose(b);
}

/* The digest folds every entry, garbage included; last now is the max. */
static void test_digest(void **state)
{
    struct h *h = hOpen(1024, 5000);
    char d0[33];
    char d1[33];
    char d2[33];
    struct fsmCommand c = cTick();

    (void)state;
    fsmDigest(h->f, d0);
    assert_string_equal(d0, "00000000000000000000000000000000");
    assert_int_equal(fsmLastNow(h->f), 0);
    c.now_ms = 500;
    hApply(h, c);
    fsmDigest(h->f, d1);
    assert_string_not_equal(d0, d1);
    hApplyRaw(h, "\0\0\0\0\0\0\0\0", 8);
    fsmDigest(h->f, d2);
    assert_string_not_equal(d1, d2);
    c.now_ms = 100; /* now_ms going back does not lower it */
    hApply(h, c);
    assert_int_equal(fsmLastNow(h->f), 500);
    hClose(h);
}

/* Restore gives the same bytes and digest, and the same behaviour after. */
static void test_restore(void **state)
{
    struct h *a = hOpen(1024, 5000);
    struct h *c = hOpen(1024, 5000);
    static char receipts[64][128];
    int nrec = 0;
    size_t len;
    size_t len2;
    uint8_t *snap;
    uint8_t *again;
    int i;

    (void)state;
    script(a, 0);
    snap = hSnapshot(a, &len);
    /* c has other state that the restore replaces entirely. */
    assert_string_equal(hCode(hApply(c, cCreate("zzz", -1))), "ok");
    assert_int_equal(fsmRestore(c->f, snap, len), 0);
    free(assertSameState(a, c, &len2));
    assert_int_equal(len2, len);
    /* The same further entries give the same replies and state. */
    for (i = SCRIPT_STEPS; i < SCRIPT_STEPS + 200; i++) {
        char rc[64][128];
        int nc = nrec;
        uint8_t *ra;
        size_t rl;
        memcpy(rc, receipts, sizeof rc);
        scriptStep(a, i, receipts, &nrec);
        rl = a->raw.len;
        ra = malloc(rl);
        memcpy(ra, a->raw.data, rl);
        scriptStep(c, i, rc, &nc);
        assert_int_equal(c->raw.len, rl);
        assert_memory_equal(c->raw.data, ra, rl);
        free(ra);
    }
    again = assertSameState(a, c, &len2);
    free(again);
    /* Restoring the same snapshot twice is fine; the caller keeps @snap. */
    assert_int_equal(fsmRestore(c->f, snap, len), 0);
    assert_int_equal(fsmRestore(c->f, snap, len), 0);
    again = hSnapshot(c, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, snap, len);
    free(again);
    free(snap);
    hClose(a);
    hClose(c);
}

/* Recompute the trailing checksum of a snapshot in place. */
static void resum(uint8_t *snap, size_t len)
{
    unsigned n = 0;

    assert_int_equal(EVP_Digest(snap, len - 32, snap + len - 32, &n,
                                EVP_sha256(), NULL),
                     1);
}

/* Assert that restoring @bad fails with FSM_ECORRUPT and changes nothing. */
static void assertRefused(struct h *h,
                          const uint8_t *bad,
                          size_t len,
                          const uint8_t *before,
                          size_t blen)
{
    uint8_t *after;
    size_t alen;

    assert_int_equal(fsmRestore(h->f, bad, len), FSM_ECORRUPT);
    after = hSnapshot(h, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(after, before, blen);
    free(after);
}

/* Corrupt snapshots are refused and leave the state as it was. */
static void test_corrupt(void **state)
{
    struct h *a = hOpen(1024, 5000);
    struct h *t = hOpen(1024, 5000);
    uint8_t *snap;
    uint8_t *before;
    uint8_t *bad;
    size_t len;
    size_t blen;
    size_t i;

    (void)state;
    script(a, 0);
    snap = hSnapshot(a, &len);
    assert_string_equal(hCode(hApply(t, cCreate("mine", -1))), "ok");
    assert_string_equal(hCode(hApply(t, cSend("mine", "x", 1))), "ok");
    before = hSnapshot(t, &blen);
    bad = malloc(len + 16);
    /* A flipped bit anywhere (every 7th byte, and the first and last 64). */
    for (i = 0; i < len; i++) {
        if (i % 7 != 0 && i >= 64 && i + 64 < len) {
            continue;
        }
        memcpy(bad, snap, len);
        bad[i] ^= 0x10;
        assertRefused(t, bad, len, before, blen);
    }
    /* Truncated, extended, empty. */
    assertRefused(t, snap, len - 1, before, blen);
    assertRefused(t, snap, len / 2, before, blen);
    assertRefused(t, snap, 31, before, blen);
    assertRefused(t, snap, 0, before, blen);
    memcpy(bad, snap, len);
    memset(bad + len, 0, 16);
    assertRefused(t, bad, len + 16, before, blen);
    /* With a valid checksum: bad magic, version, table count or name, a
     * cut inside the body, trailing bytes, keys out of order. */
    memcpy(bad, snap, len);
    bad[0] = 'X';
    resum(bad, len);
    assertRefused(t, bad, len, before, blen);
    memcpy(bad, snap, len);
    bad[11] = 2;
    resum(bad, len);
    assertRefused(t, bad, len, before, blen);
    memcpy(bad, snap, len);
    bad[15] = 5;
    resum(bad, len);
    assertRefused(t, bad, len, before, blen);
    memcpy(bad, snap, len);
    bad[17] = 'M'; /* "meta" -> "Meta" */
    resum(bad, len);
    assertRefused(t, bad, len, before, blen);
    memcpy(bad, snap, len - 40);
    memset(bad + len - 40, 0, 32);
    resum(bad, len - 8);
    assertRefused(t, bad, len - 8, before, blen);
    memcpy(bad, snap, len - 32);
    memset(bad + len - 32, 0, 8);
    resum(bad, len + 8);
    assertRefused(t, bad, len + 8, before, blen);
    {
        /* Swap the first two keys of the meta table (both 8 bytes:
         * "digest"/"last_now" differ in length, so swap their first
         * bytes instead, which breaks the order). */
        size_t off = 16 + 1 + 4 + 8;
        size_t k1 = (size_t)snap[off + 3];
        memcpy(bad, snap, len);
        bad[off + 4] = 'z'; /* "digest" -> "zigest" > "last_now" */
        assert_int_equal(k1, 6);
        resum(bad, len);
        assertRefused(t, bad, len, before, blen);
    }
    /* Still working, and a good snapshot still restores. */
    assert_string_equal(hCode(hApply(t, cSend("mine", "y", 1))), "ok");
    assert_int_equal(fsmRestore(t->f, snap, len), 0);
    free(assertSameState(a, t, &blen));
    free(bad);
    free(before);
    free(snap);
    hClose(a);
    hClose(t);
}

/* Arguments of the writer thread. */
struct writer
{
    struct fsmSnapshot *s;
    void *buf;
    size_t len;
    int rv;
};

/* Thread body: write the snapshot, as raft's thread pool would. */
static void *writerMain(void *arg)
{
    struct writer *w = arg;

    w->rv = fsmSnapshotWrite(w->s, malloc, &w->buf, &w->len);
    return NULL;
}

/* A snapshot written from another thread reflects the state at Begin,
 * while the loop thread applies (and commits) more. */
static void test_concurrent(void **state)
{
    struct h *h = hOpen(1024, 5000);
    struct writer w = {NULL, NULL, 0, -1};
    pthread_t th;
    uint8_t *expect;
    size_t elen;
    char body[300];
    int i;

    (void)state;
    memset(body, 'c', sizeof body);
    script(h, 13);
    expect = hSnapshot(h, &elen);
    assert_int_equal(fsmSnapshotBegin(h->f, &w.s), 0);
    assert_int_equal(pthread_create(&th, NULL, writerMain, &w), 0);
    for (i = 0; i < 300; i++) {
        hApply(h, cCreate("concurrent", -1));
        hApply(h, cSend("concurrent", body, sizeof body));
        if (i % 10 == 0) {
            assert_int_equal(fsmFlush(h->f), 0);
        }
    }
    assert_int_equal(fsmFlush(h->f), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    fsmSnapshotEnd(w.s);
    assert_int_equal(w.rv, 0);
    assert_int_equal(w.len, elen);
    assert_memory_equal(w.buf, expect, elen);
    free(w.buf);
    free(expect);
    /* And the later state is in the next snapshot. */
    expect = hSnapshot(h, &elen);
    assert_true(elen > w.len);
    free(expect);
    hClose(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_digest),
        cmocka_unit_test(test_restore),     cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
