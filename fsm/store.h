/* The store: fsm/'s tables over LMDB (store.c, the only file that calls
 * mdb_*). Private to fsm/, included by internal.h. */
#ifndef QRAFT_FSM_STORE_H
#define QRAFT_FSM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tables of the store, in the order snapshots list them. Values are
 * indexes, not part of any format (names are). Key layouts are described
 * where each table is used (queue.c, message.c, fifo.c, session.c). */
#define STORE_TABLES(X)                                                      \
    X(STORE_META, "meta")                                                    \
    X(STORE_QUEUES, "queues")                                                \
    X(STORE_TOMBSTONES, "tombstones")                                        \
    X(STORE_TAGS, "tags")                                                    \
    X(STORE_MESSAGES, "messages")                                            \
    X(STORE_MSGSTATE, "msgstate")                                            \
    X(STORE_READY, "ready")                                                  \
    X(STORE_INFLIGHT, "inflight")                                            \
    X(STORE_RETENTION, "retention")                                          \
    X(STORE_GROUPS, "groups")                                                \
    X(STORE_DEDUPE, "dedupe")                                                \
    X(STORE_DEDUPE_EXP, "dedupe_exp")                                        \
    X(STORE_SESSIONS, "sessions")                                            \
    X(STORE_REPLIES, "replies")                                              \
    X(STORE_SWEEP, "sweep")

enum storeTable {
#define STORE__TABLE_ENUM(CODE, NAME) CODE,
    STORE_TABLES(STORE__TABLE_ENUM)
#undef STORE__TABLE_ENUM
    STORE_NTABLES
};

/* Name of a table ("messages"). */
const char *storeTableName(unsigned t);

/* A byte string owned by someone else: a key or value read from the store
 * (valid until the next write in the same transaction, or the end of the
 * transaction), or a slice of a caller's buffer. */
struct storeVal
{
    const void *data;
    size_t len;
};

/* The LMDB environment and its pending write transaction. LMDB types are
 * hidden (void *) so that only store.c includes lmdb.h. */
struct store
{
    void *env;                    /* MDB_env */
    void *txn;                    /* pending write transaction, or NULL */
    unsigned dbi[STORE_NTABLES];  /* MDB_dbi of each table */
    size_t max_key;               /* longest key LMDB accepts */
    bool durable;                 /* opened durable (storeOpen) */
    char *errmsg;                 /* where failures are described */
    size_t txn_bytes;             /* key and value bytes written by the
                                     pending write transaction */
};

/* A write transaction is committed once it has written this much, at the
 * next point where no cursor is open (the end of a command, between the
 * entries of a restore): LMDB keeps every page a transaction dirtied on a
 * free list of the environment until it closes (mdb_page_free), so one
 * transaction over a whole restore or a long replay would hold that much
 * heap for the life of the process. */
#define STORE_TXN_SPLIT_BYTES ((size_t)8 << 20)

/* A pinned read-only transaction (MDB_NOTLS: usable from another thread). */
struct storeView;

/* A cursor over one table, in the write transaction or in a view. */
struct storeCursor
{
    void *mc;     /* MDB_cursor */
    char *errmsg; /* where failures are described */
};

/* Create @dir (and parents) and open the environment with every table:
 * @durable keeps the files of the last run and syncs every commit (see
 * store.c), otherwise they are removed first and nothing is synced.
 * @errmsg (FSM_ERRMSG_LEN) receives detail now and on later failures.
 * Returns 0 or FSM_ESTORE. */
int storeOpen(struct store *s, const char *dir, size_t map_size, bool durable, char *errmsg);

/* Flush everything committed so far to disk, the meta page included.
 * Safe from another thread than the writer's. Returns 0 or FSM_ESTORE. */
int storeSync(struct store *s);

/* A durable store: stop syncing each commit (@on false: for a restore,
 * whose source is on disk already and is read again after a crash), or
 * sync everything now and each commit from now on (@on true). Nothing
 * for a store that is not durable. Returns 0 or FSM_ESTORE. */
int storeSyncEachCommit(struct store *s, bool on);

/* Commit pending writes (if any) and close the environment. */
void storeClose(struct store *s);

/* Make sure a write transaction is open. */
int storeBegin(struct store *s);

/* Commit the pending write transaction, if any. */
int storeCommit(struct store *s);

/* Bytes in pages that hold live data (every table, branch, leaf and
 * overflow pages; free pages not counted), and the map size. */
int storeUsage(struct store *s, uint64_t *used, uint64_t *capacity);

/* Abort the pending write transaction, if any: its writes are lost. */
void storeAbort(struct store *s);

/* Look @key up in table @t of the write transaction (opened if needed).
 * *found tells whether it exists; if so *val holds its value. */
int storeGet(struct store *s,
             unsigned t,
             const void *key,
             size_t klen,
             struct storeVal *val,
             bool *found);

/* Insert or replace @key in table @t. */
int storePut(struct store *s,
             unsigned t,
             const void *key,
             size_t klen,
             const void *val,
             size_t vlen);

/* Insert @key at the end of table @t: keys must come in increasing order
 * (restore uses it). */
int storeAppend(struct store *s,
                unsigned t,
                const void *key,
                size_t klen,
                const void *val,
                size_t vlen);

/* Delete @key from table @t; a missing key is not an error. */
int storeDel(struct store *s, unsigned t, const void *key, size_t klen);

/* Delete every key k of table @t with lo <= k < hi (bytewise order; hi
 * NULL: no upper bound). */
int storeDelRange(struct store *s,
                  unsigned t,
                  const void *lo,
                  size_t lolen,
                  const void *hi,
                  size_t hilen);

/* The same for the keys that start with @prefix, in key order, while
 * *keys < @max_keys and *bytes < @max_bytes; each key deleted adds 1 to
 * *keys and its key and value lengths to *bytes (both counters are the
 * caller's, so that one budget spans several calls). *more tells whether a
 * key with @prefix is left. */
int storeDelPrefix(struct store *s,
                   unsigned t,
                   const void *prefix,
                   size_t plen,
                   uint64_t max_keys,
                   uint64_t max_bytes,
                   uint64_t *keys,
                   uint64_t *bytes,
                   bool *more);

/* Number of entries of table @t in the write transaction. */
int storeCount(struct store *s, unsigned t, uint64_t *n);

/* Empty every table, in the write transaction. */
int storeClear(struct store *s);

/* Pin a read-only transaction at the last committed state (pending writes
 * are not in it: commit them first). On failure *v is NULL. */
int storeViewBegin(struct store *s, struct storeView **v);

/* Release a view (any thread that no longer reads it; we call it from the
 * loop thread). */
void storeViewEnd(struct storeView *v);

/* Open a cursor on table @t of view @v, or of the write transaction if @v
 * is NULL (opened if needed). */
int storeCursorOpen(struct store *s,
                    struct storeView *v,
                    unsigned t,
                    struct storeCursor *c);

/* Position @c at the first key >= @key (@key NULL: the first key). */
int storeCursorSeek(struct storeCursor *c,
                    const void *key,
                    size_t klen,
                    struct storeVal *k,
                    struct storeVal *v,
                    bool *found);

/* Move @c to the next key. */
int storeCursorNext(struct storeCursor *c,
                    struct storeVal *k,
                    struct storeVal *v,
                    bool *found);

/* Close a cursor (safe on a cursor that failed to open). */
void storeCursorClose(struct storeCursor *c);

#endif /* QRAFT_FSM_STORE_H */
