/* Snapshots and restore.
 *
 * A snapshot is an exact image of every table at one applied index. Format
 * (integers big-endian):
 *
 *   magic        8 bytes  "QRAFTSN1"
 *   version      u32      5 (3: msgstate values carry the latest receive
 *                         time, 28 bytes; 4: message records carry the
 *                         body's MD5, a fixed part of 79 bytes; 5: the
 *                         sweep table, last)
 *   table count  u32      15 (version 4: 14, every table but sweep)
 *   per table, in enum storeTable order (internal.h STORE_TABLES):
 *     name length  u8, name bytes
 *     entry count  u64
 *     per entry, in key order: key length u32, key, value length u32, value
 *   checksum     32 bytes SHA-256 of every byte before it
 *
 * The same state gives the same bytes: tables come in a fixed order and
 * entries in LMDB key order, with no padding, time or address in them.
 *
 * fsmSnapshotBegin() commits pending writes and pins a read transaction
 * (MDB_NOTLS); from the thread pool, while the loop thread goes on applying
 * in new write transactions that the pinned one does not see,
 * fsmSnapshotSize() walks it once to count (the size, and each table's
 * entry count, which comes before the table's entries), and
 * fsmSnapshotStream() walks it again and hands the bytes on in chunks of a
 * given size, computing the checksum as it goes: the caller (raft/'s glue
 * compresses each chunk) never holds the whole uncompressed snapshot.
 * fsmSnapshotWrite() is the same bytes in one buffer.
 *
 * fsmRestore() validates the whole buffer first (checksum, magic, version,
 * table names and order, every length in bounds, keys strictly increasing,
 * key and value shapes of each table), so that bad bytes change nothing
 * (FSM_ECORRUPT); then empties every table and inserts every entry,
 * committing every STORE_TXN_SPLIT_BYTES (one transaction over the whole
 * state would hold as much heap for ever, see internal.h), then reloads
 * digest and last_now. A store failure on the way leaves a partial state:
 * the fsm is then failed (fail-stop; the node rebuilds from its log). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SNAP_MAGIC "QRAFTSN1"
#define SNAP_MAGIC_LEN 8
#define SNAP_VERSION 5
/* The previous version, still restored: every table but the last (sweep,
 * left empty). Older ones are refused (message records changed in 4). */
#define SNAP_VERSION_OLD 4
#define SNAP_SUM_LEN 32

/* A snapshot in progress. */
struct fsmSnapshot
{
    struct fsm *f;         /* the fsm it was taken from */
    struct storeView *view; /* the pinned read transaction */
    bool sized;            /* @body and @counts are known */
    size_t body;           /* bytes before the checksum */
    uint64_t counts[STORE_NTABLES]; /* entries of each table */
};

int fsmSnapshotBegin(struct fsm *f, struct fsmSnapshot **out)
{
    struct fsmSnapshot *s;
    int rv;

    *out = NULL;
    rv = fsmFresh(f);
    if (rv == 0) {
        rv = fsmFlush(f);
    }
    if (rv != 0) {
        return rv;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    s->f = f;
    rv = storeViewBegin(&f->store, &s->view);
    if (rv != 0) {
        free(s);
        return rv;
    }
    *out = s;
    return 0;
}

void fsmSnapshotEnd(struct fsmSnapshot *s)
{
    if (s == NULL) {
        return;
    }
    storeViewEnd(s->view);
    free(s);
}

/* Where the second walk puts the bytes: a staging chunk, handed to @sink
 * (and to the running SHA-256) each time it fills up. */
struct snapWriter
{
    uint8_t *chunk;
    size_t cap;
    size_t used;
    size_t written;  /* bytes handed on so far */
    EVP_MD_CTX *md;  /* SHA-256 of the body */
    int (*sink)(void *arg, const void *p, size_t len);
    void *arg;
};

/* Hand the staged bytes on. */
static int snapFlush(struct snapWriter *w, bool sum)
{
    int rv;

    if (w->used == 0) {
        return 0;
    }
    if (sum && EVP_DigestUpdate(w->md, w->chunk, w->used) != 1) {
        return FSM_ENOMEM;
    }
    rv = w->sink(w->arg, w->chunk, w->used);
    if (rv != 0) {
        return rv;
    }
    w->written += w->used;
    w->used = 0;
    return 0;
}

/* Append @n bytes of the body. */
static int snapPut(struct snapWriter *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    int rv;

    while (n > 0) {
        size_t room = w->cap - w->used;
        size_t take = n < room ? n : room;
        memcpy(w->chunk + w->used, b, take);
        w->used += take;
        b += take;
        n -= take;
        if (w->used == w->cap) {
            rv = snapFlush(w, true);
            if (rv != 0) {
                return rv;
            }
        }
    }
    return 0;
}

/* Append a big-endian integer of @bytes (4 or 8) bytes. */
static int snapPutBe(struct snapWriter *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];

    if (bytes == 8) {
        bePut64(b, v);
    } else {
        bePut32(b, (uint32_t)v);
    }
    return snapPut(w, b, bytes);
}

/* Walk every table of @s. With @w NULL only count: set s->body and
 * s->counts. Otherwise write the body (everything but the checksum)
 * through @w, with the counts of the first walk (the view is fixed, so a
 * difference is corruption). */
static int snapshotWalk(struct fsmSnapshot *s, struct snapWriter *w)
{
    uint8_t head[SNAP_MAGIC_LEN + 8];
    size_t off;
    unsigned t;
    int rv = 0;

    memcpy(head, SNAP_MAGIC, SNAP_MAGIC_LEN);
    bePut32(head + 8, SNAP_VERSION);
    bePut32(head + 12, STORE_NTABLES);
    off = sizeof head;
    if (w != NULL) {
        rv = snapPut(w, head, sizeof head);
    }
    for (t = 0; t < STORE_NTABLES && rv == 0; t++) {
        const char *name = storeTableName(t);
        uint8_t nlen = (uint8_t)strlen(name);
        uint64_t count = 0;
        struct storeCursor c;
        struct storeVal k;
        struct storeVal v;
        bool found;

        off += 1 + nlen + 8;
        if (w != NULL) {
            rv = snapPut(w, &nlen, 1);
            if (rv == 0) {
                rv = snapPut(w, name, nlen);
            }
            if (rv == 0) {
                rv = snapPutBe(w, s->counts[t], 8);
            }
            if (rv != 0) {
                break;
            }
        }
        rv = storeCursorOpen(&s->f->store, s->view, t, &c);
        if (rv != 0) {
            break;
        }
        rv = storeCursorSeek(&c, NULL, 0, &k, &v, &found);
        while (rv == 0 && found) {
            if (k.len > UINT32_MAX || v.len > UINT32_MAX) {
                rv = FSM_ECORRUPT;
                break;
            }
            if (w != NULL) {
                rv = snapPutBe(w, k.len, 4);
                if (rv == 0) {
                    rv = snapPut(w, k.data, k.len);
                }
                if (rv == 0) {
                    rv = snapPutBe(w, v.len, 4);
                }
                if (rv == 0) {
                    rv = snapPut(w, v.data, v.len);
                }
                if (rv != 0) {
                    break;
                }
            }
            off += 8 + k.len + v.len;
            count++;
            rv = storeCursorNext(&c, &k, &v, &found);
        }
        storeCursorClose(&c);
        if (w == NULL) {
            s->counts[t] = count;
        } else if (rv == 0 && count != s->counts[t]) {
            rv = FSM_ECORRUPT; /* cannot happen: the view is fixed */
        }
    }
    if (rv != 0) {
        return rv;
    }
    if (w == NULL) {
        s->body = off;
        s->sized = true;
    } else if (off != s->body) {
        return FSM_ECORRUPT;
    }
    return 0;
}

/* SHA-256 of @len bytes at @p. */
int snapshotSum(const void *p, size_t len, uint8_t out[SNAP_SUM_LEN])
{
    unsigned n = 0;

    if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != SNAP_SUM_LEN) {
        return FSM_ENOMEM;
    }
    return 0;
}

int fsmSnapshotSize(struct fsmSnapshot *s, size_t *len)
{
    int rv;

    *len = 0;
    if (!s->sized) {
        rv = snapshotWalk(s, NULL);
        if (rv != 0) {
            return rv;
        }
    }
    *len = s->body + SNAP_SUM_LEN;
    return 0;
}

int fsmSnapshotStream(struct fsmSnapshot *s,
                      size_t chunk,
                      int (*sink)(void *arg, const void *p, size_t len),
                      void *arg)
{
    struct snapWriter w;
    uint8_t sum[SNAP_SUM_LEN];
    unsigned n = 0;
    size_t total;
    int rv;

    rv = fsmSnapshotSize(s, &total);
    if (rv != 0) {
        return rv;
    }
    memset(&w, 0, sizeof w);
    w.cap = chunk < SNAP_SUM_LEN ? SNAP_SUM_LEN : chunk;
    w.sink = sink;
    w.arg = arg;
    w.chunk = malloc(w.cap);
    w.md = EVP_MD_CTX_new();
    if (w.chunk == NULL || w.md == NULL || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1) {
        rv = FSM_ENOMEM;
        goto out;
    }
    rv = snapshotWalk(s, &w);
    if (rv == 0) {
        rv = snapFlush(&w, true);
    }
    if (rv == 0 && (EVP_DigestFinal_ex(w.md, sum, &n) != 1 || n != SNAP_SUM_LEN)) {
        rv = FSM_ENOMEM;
    }
    if (rv == 0) {
        memcpy(w.chunk, sum, SNAP_SUM_LEN);
        w.used = SNAP_SUM_LEN;
        rv = snapFlush(&w, false);
    }
    if (rv == 0 && w.written != total) {
        rv = FSM_ECORRUPT;
    }

out:
    EVP_MD_CTX_free(w.md);
    free(w.chunk);
    return rv;
}

/* fsmSnapshotWrite's sink: the next bytes of the whole buffer. */
struct snapBuffer
{
    uint8_t *p;
    size_t len;
    size_t used;
};

static int snapBufferSink(void *arg, const void *p, size_t len)
{
    struct snapBuffer *b = arg;

    if (len > b->len - b->used) {
        return FSM_ECORRUPT; /* cannot happen: the size was walked first */
    }
    memcpy(b->p + b->used, p, len);
    b->used += len;
    return 0;
}

int fsmSnapshotWrite(struct fsmSnapshot *s,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len)
{
    struct snapBuffer b = {NULL, 0, 0};
    int rv;

    *buf = NULL;
    *len = 0;
    rv = fsmSnapshotSize(s, &b.len);
    if (rv != 0) {
        return rv;
    }
    b.p = alloc(b.len);
    if (b.p == NULL) {
        return FSM_ENOMEM;
    }
    rv = fsmSnapshotStream(s, (size_t)1 << 20, snapBufferSink, &b);
    if (rv != 0) {
        /* @alloc has no matching free we know of (raft_malloc/raft_free):
         * the caller's allocator must be free()-compatible or this leaks.
         * Both raft_malloc (default heap) and malloc are. */
        free(b.p);
        return rv;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

/* A position in a snapshot being parsed. */
struct snapReader
{
    const uint8_t *p;
    size_t left;
};

/* Take @n bytes. */
static bool snapTake(struct snapReader *r, size_t n, const uint8_t **out)
{
    if (r->left < n) {
        return false;
    }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

/* Bytewise order of LMDB's default comparator: memcmp, then length. */
static int snapKeyCmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* True if a key/value pair has the shape table @t stores. */
static bool snapShapeValid(unsigned t, size_t klen, size_t vlen)
{
    switch (t) {
        case STORE_META:
            return klen <= 32;
        case STORE_QUEUES:
            return klen <= FSM_QUEUE_NAME_MAX && vlen >= 85;
        case STORE_TOMBSTONES:
            return klen <= FSM_QUEUE_NAME_MAX && vlen == 8;
        case STORE_TAGS:
            return klen > 8;
        case STORE_MESSAGES:
            return klen == 16 && vlen >= 79;
        case STORE_MSGSTATE:
            return klen == 16 && vlen == 28;
        case STORE_READY:
        case STORE_INFLIGHT:
        case STORE_RETENTION:
            return klen == 24 && vlen == 0;
        case STORE_GROUPS:
            return klen >= 17 && vlen == 0;
        case STORE_DEDUPE:
            return klen >= 9 && vlen == 52;
        case STORE_DEDUPE_EXP:
            return klen >= 17 && vlen == 0;
        case STORE_SESSIONS:
            return klen == 8 && vlen == 24;
        case STORE_REPLIES:
            return klen == 16;
        case STORE_SWEEP:
            return klen == 8 && vlen == 1;
        default:
            return false;
    }
}

/* One entry located in a validated snapshot. */
struct snapEntry
{
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
};

/* Read one entry. */
static bool snapEntryRead(struct snapReader *r, struct snapEntry *e)
{
    const uint8_t *b;

    if (!snapTake(r, 4, &b)) {
        return false;
    }
    e->klen = beGet32(b);
    if (!snapTake(r, e->klen, &e->key) || !snapTake(r, 4, &b)) {
        return false;
    }
    e->vlen = beGet32(b);
    return snapTake(r, e->vlen, &e->val);
}

/* Parse the body of a snapshot (without checksum). With @f NULL only
 * validate; otherwise insert every entry into @f's write transaction. */
static int snapshotParse(struct fsm *f,
                         const uint8_t *p,
                         size_t len,
                         size_t max_key)
{
    struct snapReader r = {p, len};
    const uint8_t *b;
    unsigned ntables;
    unsigned t;
    int rv;

    if (!snapTake(&r, SNAP_MAGIC_LEN + 8, &b) ||
        memcmp(b, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0) {
        return FSM_ECORRUPT;
    }
    if (beGet32(b + 8) == SNAP_VERSION) {
        ntables = STORE_NTABLES;
    } else if (beGet32(b + 8) == SNAP_VERSION_OLD) {
        ntables = STORE_SWEEP;
    } else {
        return FSM_ECORRUPT;
    }
    if (beGet32(b + 12) != ntables) {
        return FSM_ECORRUPT;
    }
    for (t = 0; t < ntables; t++) {
        const char *name = storeTableName(t);
        struct snapEntry prev = {NULL, 0, NULL, 0};
        uint64_t count;
        uint64_t i;

        if (!snapTake(&r, 1, &b) || b[0] != strlen(name) ||
            !snapTake(&r, b[0], &b) || memcmp(b, name, strlen(name)) != 0 ||
            !snapTake(&r, 8, &b)) {
            return FSM_ECORRUPT;
        }
        count = beGet64(b);
        if (count > r.left / 8) { /* each entry takes at least 8 bytes */
            return FSM_ECORRUPT;
        }
        for (i = 0; i < count; i++) {
            struct snapEntry e;
            if (!snapEntryRead(&r, &e) || e.klen == 0 || e.klen > max_key ||
                !snapShapeValid(t, e.klen, e.vlen) ||
                (i > 0 && snapKeyCmp(prev.key, prev.klen, e.key, e.klen) >= 0)) {
                return FSM_ECORRUPT;
            }
            if (f != NULL) {
                rv = storeAppend(&f->store, t, e.key, e.klen, e.val, e.vlen);
                if (rv == 0 && f->store.txn_bytes >= STORE_TXN_SPLIT_BYTES) {
                    rv = storeCommit(&f->store); /* see STORE_TXN_SPLIT_BYTES */
                }
                if (rv != 0) {
                    return rv;
                }
            }
            prev = e;
        }
    }
    return r.left == 0 ? 0 : FSM_ECORRUPT;
}

int fsmRestore(struct fsm *f, const void *buf, size_t len)
{
    uint8_t sum[SNAP_SUM_LEN];
    size_t body;
    int rv;

    if (f->failed) {
        return FSM_ESTORE;
    }
    if (buf == NULL || len < SNAP_SUM_LEN) {
        goto corrupt;
    }
    body = len - SNAP_SUM_LEN;
    rv = snapshotSum(buf, body, sum);
    if (rv != 0) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "sha-256 failed");
        return rv;
    }
    if (memcmp(sum, (const uint8_t *)buf + body, SNAP_SUM_LEN) != 0 ||
        snapshotParse(NULL, buf, body, f->store.max_key) != 0) {
        goto corrupt;
    }
    /* Keep what was applied so far, then replace it, without an fsync per
     * commit (the source is on disk: libraft wrote it before the restore,
     * and restores it again after a crash); one at the end. */
    rv = fsmFlush(f);
    if (rv != 0) {
        return rv;
    }
    rv = storeSyncEachCommit(&f->store, false);
    if (rv == 0) {
        rv = storeClear(&f->store);
    }
    if (rv == 0) {
        rv = snapshotParse(f, buf, body, f->store.max_key);
    }
    if (rv == 0) {
        rv = fsmLoadMeta(f);
    }
    if (rv == 0) {
        rv = sweepLoad(f);
    }
    if (rv == 0) {
        rv = storeCommit(&f->store);
        if (rv == 0) {
            rv = storeSyncEachCommit(&f->store, true);
        }
        if (rv != 0) {
            /* LMDB freed the transaction; the file may hold anything. */
            f->failed = true;
            return rv;
        }
    }
    if (rv != 0) {
        /* The bytes were valid, so the store failed; and parts of the new
         * state may be committed already (STORE_TXN_SPLIT_BYTES): the
         * state matches nothing any more. */
        storeAbort(&f->store);
        f->failed = true;
        return rv;
    }
    f->stale = false;
    return 0;

corrupt:
    snprintf(f->errmsg, FSM_ERRMSG_LEN, "snapshot is corrupt");
    return FSM_ECORRUPT;
}
