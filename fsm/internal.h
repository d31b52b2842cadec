/* Private interface between the files of fsm/.
 *
 * Layering inside fsm/:
 * - store.c is the only file that calls mdb_*; everything else sees tables,
 *   byte keys and byte values through the store* functions below.
 * - cmd.c encodes and decodes log entries (no store access).
 * - queue.c and session.c implement the ops and the session rules on top of
 *   the store and write their reply through the fsmReply* helpers.
 * - snapshot.c serialises and restores every table.
 * - fsm.c glues them: open/close, apply, query, digest.
 *
 * All integers in keys and stored values are big-endian (bePut64/beGet64),
 * so that LMDB's bytewise key order is numeric order, and so that snapshots
 * move between machines of any endianness. */
#ifndef QRAFT_FSM_INTERNAL_H
#define QRAFT_FSM_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"

/* Length of fsm errmsg buffers, as documented for fsmOpen(). */
#define FSM_ERRMSG_LEN 256

/* Tables of the store, in the order snapshots list them. Values are
 * indexes, not part of any format (names are). */
#define STORE_TABLES(X)                                                      \
    X(STORE_META, "meta")                                                    \
    X(STORE_QUEUES, "queues")                                                \
    X(STORE_MESSAGES, "messages")                                            \
    X(STORE_VISIBILITY, "visibility")                                        \
    X(STORE_SESSIONS, "sessions")                                            \
    X(STORE_REPLIES, "replies")

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
    char *errmsg;                 /* where failures are described */
};

/* A pinned read-only transaction (MDB_NOTLS: usable from another thread). */
struct storeView;

/* A cursor over one table, in the write transaction or in a view. */
struct storeCursor
{
    void *mc;     /* MDB_cursor */
    char *errmsg; /* where failures are described */
};

/* Create @dir (and parents), remove any LMDB files in it, and open a fresh
 * environment with every table. @errmsg (FSM_ERRMSG_LEN) receives detail
 * now and on later failures. Returns 0 or FSM_ESTORE. */
int storeOpen(struct store *s, const char *dir, size_t map_size, char *errmsg);

/* Commit pending writes (if any) and close the environment. */
void storeClose(struct store *s);

/* Make sure a write transaction is open. */
int storeBegin(struct store *s);

/* Commit the pending write transaction, if any. */
int storeCommit(struct store *s);

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

/* Big-endian helpers. */
void bePut32(uint8_t *p, uint32_t v);
void bePut64(uint8_t *p, uint64_t v);
uint32_t beGet32(const uint8_t *p);
uint64_t beGet64(const uint8_t *p);

/* Meta keys (table STORE_META), with their value lengths. */
#define META_DIGEST "digest"             /* 32 bytes: running SHA-256 */
#define META_LAST_NOW "last_now"         /* 8 bytes: largest now_ms */
#define META_NEXT_QUEUE_ID "next_queue"  /* 8 bytes: next queue id */

/* The state machine. */
struct fsm
{
    struct store store;           /* LMDB environment */
    uint32_t session_window;      /* max replies kept per client */
    uint64_t session_idle_ms;     /* idle time before a session expires */
    uint8_t digest[32];           /* running digest (mirrors meta) */
    uint64_t last_now;            /* largest now_ms (mirrors meta) */
    bool failed;                  /* a store failure happened: fail-stop */
    bool oom;                     /* packing the reply ran out of memory */
    msgpack_sbuffer reply;        /* the current reply, reused */
    msgpack_packer pk;            /* packs into reply */
    void *md;                     /* EVP_MD_CTX for the running digest */
    char errmsg[FSM_ERRMSG_LEN];  /* detail of the last failure */
};

/* Start a success reply: a map of 1 + @nfields entries whose first is
 * "ok": true. The caller packs the @nfields other key/value pairs. */
void fsmReplyOk(struct fsm *f, uint32_t nfields);

/* Replace the reply with {"ok": false, "code": NAME, "message": TEXT}.
 * Returns 0, so that ops can `return fsmReplyError(...)`. */
int fsmReplyError(struct fsm *f, enum fsmError e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replace the reply with a copy of stored reply bytes. */
void fsmReplyRaw(struct fsm *f, const void *data, size_t len);

/* Pack a NUL-terminated string. */
void fsmPackStr(struct fsm *f, const char *s);

/* Pack @len bytes as a msgpack str. */
void fsmPackStrN(struct fsm *f, const void *s, size_t len);

/* Run the op of a command (sessions already checked) and write its reply. */
int fsmExecute(struct fsm *f, const struct fsmCommand *cmd);

/* Queue ops (queue.c). Each writes the reply; business errors are replies
 * and return 0; non-zero is a store failure. */
int queueCreate(struct fsm *f, const struct fsmCommand *cmd);
int queueDelete(struct fsm *f, const struct fsmCommand *cmd);
int queueList(struct fsm *f);
int queueSend(struct fsm *f, const struct fsmCommand *cmd);
int queueReceive(struct fsm *f, const struct fsmCommand *cmd);
int queueDeleteMessage(struct fsm *f, const struct fsmCommand *cmd);

/* Apply a mutating command under the session rules of DESIGN.md: run it
 * through fsmExecute() if its sequence is the next one, store its reply,
 * or answer a retry / refusal. */
int sessionApply(struct fsm *f, const struct fsmCommand *cmd);

/* Expire sessions idle for longer than the configured time at @now_ms. */
int sessionExpire(struct fsm *f, uint64_t now_ms);

/* Load digest and last_now from the meta table of the write transaction
 * into @digest and @last_now (zeros if absent). FSM_ECORRUPT on bad
 * lengths. */
int fsmLoadMeta(struct fsm *f, uint8_t digest[32], uint64_t *last_now);

#endif /* QRAFT_FSM_INTERNAL_H */
