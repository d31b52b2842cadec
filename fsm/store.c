/* The store: the only file of qraft that calls mdb_*.
 *
 * One LMDB environment in the configured directory, opened with
 * MDB_NOTLS (a snapshot's read transaction is created on the loop thread and
 * read from a thread-pool thread) and, as the caller asks:
 *   - durable (qraftd): MDB_NOMETASYNC. Each commit fsyncs the pages it
 *     wrote before it writes the meta page, so a crash, the machine's
 *     included, leaves the last or the one before last committed state,
 *     never a torn one; storeSync makes the last one durable too. The
 *     files of the previous run are kept if a durable store wrote them
 *     (STORE_DURABLE_MARK): the state survives restarts (DESIGN.md
 *     "Storage": snapshot markers).
 *   - not durable (tests, the simulator): MDB_NOSYNC, and the files of a
 *     previous run (and the mark) are removed at open.
 *
 * Writes go into one write transaction that stays open across applies,
 * opened lazily by the first access and committed by storeCommit(). Reads of
 * the loop thread also go through it, so they see unflushed writes.
 *
 * Failure modes: any mdb_* error becomes FSM_ESTORE with the LMDB text in
 * errmsg. After a failed write the transaction is unusable (LMDB marks it);
 * the caller aborts it and stops (fsm.c "failed"). */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Names of the tables, indexed by enum storeTable. */
static const char *const storeNames[STORE_NTABLES] = {
#define STORE__TABLE_NAME(CODE, NAME) NAME,
    STORE_TABLES(STORE__TABLE_NAME)
#undef STORE__TABLE_NAME
};

/* A pinned read-only transaction. */
struct storeView
{
    struct store *s;              /* the store it reads */
    MDB_txn *txn;                 /* read-only, MDB_NOTLS */
    char errmsg[FSM_ERRMSG_LEN];  /* failures of cursors on the view */
};

const char *storeTableName(unsigned t)
{
    return t < STORE_NTABLES ? storeNames[t] : NULL;
}

void bePut32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void bePut64(uint8_t *p, uint64_t v)
{
    bePut32(p, (uint32_t)(v >> 32));
    bePut32(p + 4, (uint32_t)v);
}

uint32_t beGet32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

uint64_t beGet64(const uint8_t *p)
{
    return (uint64_t)beGet32(p) << 32 | beGet32(p + 4);
}

/* Describe an LMDB failure into @errmsg and return FSM_ESTORE. */
static int storeFail(char *errmsg, const char *what, int rv)
{
    if (errmsg != NULL) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "lmdb %s: %s", what, mdb_strerror(rv));
    }
    return FSM_ESTORE;
}

/* mkdir -p @dir. */
static int storeMkdirs(const char *dir, char *errmsg)
{
    char path[4096];
    size_t n = strlen(dir);
    size_t i;

    if (n == 0 || n >= sizeof path) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "bad state directory '%.180s'", dir);
        return FSM_ESTORE;
    }
    memcpy(path, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(errmsg, FSM_ERRMSG_LEN, "mkdir %.180s: %.60s", path,
                     strerror(errno));
            return FSM_ESTORE;
        }
        path[i] = dir[i];
    }
    return 0;
}

/* Remove @dir/@name if it exists. */
static int storeUnlink(const char *dir, const char *name, char *errmsg)
{
    char path[4096];

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "state directory path too long");
        return FSM_ESTORE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "unlink %.180s: %.60s", path, strerror(errno));
        return FSM_ESTORE;
    }
    return 0;
}

/* The file that says the LMDB files beside it were written by a durable
 * store: files without it (an earlier build's, or a store that was not
 * durable: MDB_NOSYNC, torn by a machine crash perhaps) are removed
 * before a durable open, never read. */
#define STORE_DURABLE_MARK "durable"

/* Whether @dir/STORE_DURABLE_MARK exists. */
static bool storeMarked(const char *dir)
{
    char path[4096];

    return (size_t)snprintf(path, sizeof path, "%s/%s", dir, STORE_DURABLE_MARK) < sizeof path &&
           access(path, F_OK) == 0;
}

/* Create @dir/STORE_DURABLE_MARK, durably (the file and the directory
 * fsynced), once the environment it vouches for is on disk. */
static int storeMark(const char *dir, char *errmsg)
{
    char path[4096];
    int fd;
    int err = 0;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STORE_DURABLE_MARK) >= sizeof path) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "state directory path too long");
        return FSM_ESTORE;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || fsync(fd) != 0) {
        err = errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    fd = err == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (err == 0 && (fd < 0 || fsync(fd) != 0)) {
        err = errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (err != 0) {
        snprintf(errmsg, FSM_ERRMSG_LEN, "cannot write %.180s: %.60s", path, strerror(err));
        return FSM_ESTORE;
    }
    return 0;
}

int storeOpen(struct store *s, const char *dir, size_t map_size, bool durable, char *errmsg)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    bool marked;
    unsigned t;
    int rv;

    memset(s, 0, sizeof *s);
    s->errmsg = errmsg;
    if (storeMkdirs(dir, errmsg) != 0) {
        return FSM_ESTORE;
    }
    marked = durable && storeMarked(dir);
    if (!marked && (storeUnlink(dir, STORE_DURABLE_MARK, errmsg) != 0 ||
                    storeUnlink(dir, "data.mdb", errmsg) != 0 ||
                    storeUnlink(dir, "lock.mdb", errmsg) != 0)) {
        return FSM_ESTORE;
    }
    rv = mdb_env_create(&env);
    if (rv != 0) {
        return storeFail(errmsg, "env_create", rv);
    }
    rv = mdb_env_set_maxdbs(env, 32);
    if (rv != 0) {
        storeFail(errmsg, "set_maxdbs", rv);
        goto err;
    }
    rv = mdb_env_set_mapsize(env, map_size);
    if (rv != 0) {
        storeFail(errmsg, "set_mapsize", rv);
        goto err;
    }
    rv = mdb_env_open(env, dir, (durable ? MDB_NOMETASYNC : MDB_NOSYNC) | MDB_NOTLS, 0644);
    if (rv != 0) {
        storeFail(errmsg, "env_open", rv);
        goto err;
    }
    rv = mdb_txn_begin(env, NULL, 0, &txn);
    if (rv != 0) {
        storeFail(errmsg, "txn_begin", rv);
        goto err;
    }
    for (t = 0; t < STORE_NTABLES; t++) {
        MDB_dbi dbi;
        rv = mdb_dbi_open(txn, storeNames[t], MDB_CREATE, &dbi);
        if (rv != 0) {
            storeFail(errmsg, "dbi_open", rv);
            mdb_txn_abort(txn);
            goto err;
        }
        s->dbi[t] = dbi;
    }
    rv = mdb_txn_commit(txn);
    if (rv != 0) {
        storeFail(errmsg, "txn_commit", rv);
        goto err;
    }
    if (durable && !marked) {
        rv = mdb_env_sync(env, 1);
        if (rv != 0) {
            storeFail(errmsg, "env_sync", rv);
            goto err;
        }
        if (storeMark(dir, errmsg) != 0) {
            goto err;
        }
    }
    s->env = env;
    s->durable = durable;
    s->max_key = (size_t)mdb_env_get_maxkeysize(env);
    return 0;

err:
    mdb_env_close(env);
    return FSM_ESTORE;
}

void storeClose(struct store *s)
{
    if (s->env == NULL) {
        return;
    }
    storeCommit(s);
    storeAbort(s);
    mdb_env_close(s->env);
    s->env = NULL;
}

int storeBegin(struct store *s)
{
    MDB_txn *txn;
    int rv;

    if (s->txn != NULL) {
        return 0;
    }
    rv = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rv != 0) {
        return storeFail(s->errmsg, "txn_begin", rv);
    }
    s->txn = txn;
    return 0;
}

int storeCommit(struct store *s)
{
    MDB_txn *txn = s->txn;
    int rv;

    if (txn == NULL) {
        return 0;
    }
    s->txn = NULL;
    s->txn_bytes = 0;
    rv = mdb_txn_commit(txn); /* frees txn even on failure */
    if (rv != 0) {
        return storeFail(s->errmsg, "txn_commit", rv);
    }
    return 0;
}

void storeAbort(struct store *s)
{
    if (s->txn != NULL) {
        mdb_txn_abort(s->txn);
        s->txn = NULL;
        s->txn_bytes = 0;
    }
}

int storeGet(struct store *s,
             unsigned t,
             const void *key,
             size_t klen,
             struct storeVal *val,
             bool *found)
{
    MDB_val k = {klen, (void *)key};
    MDB_val v;
    int rv;

    *found = false;
    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    rv = mdb_get(s->txn, s->dbi[t], &k, &v);
    if (rv == MDB_NOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return storeFail(s->errmsg, "get", rv);
    }
    val->data = v.mv_data;
    val->len = v.mv_size;
    *found = true;
    return 0;
}

/* mdb_put with @flags. */
static int storePutFlags(struct store *s,
                         unsigned t,
                         const void *key,
                         size_t klen,
                         const void *val,
                         size_t vlen,
                         unsigned flags)
{
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    int rv;

    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    rv = mdb_put(s->txn, s->dbi[t], &k, &v, flags);
    if (rv != 0) {
        return storeFail(s->errmsg, "put", rv);
    }
    s->txn_bytes += klen + vlen;
    return 0;
}

int storePut(struct store *s,
             unsigned t,
             const void *key,
             size_t klen,
             const void *val,
             size_t vlen)
{
    return storePutFlags(s, t, key, klen, val, vlen, 0);
}

int storeAppend(struct store *s,
                unsigned t,
                const void *key,
                size_t klen,
                const void *val,
                size_t vlen)
{
    return storePutFlags(s, t, key, klen, val, vlen, MDB_APPEND);
}

int storeDel(struct store *s, unsigned t, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    int rv;

    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    rv = mdb_del(s->txn, s->dbi[t], &k, NULL);
    if (rv != 0 && rv != MDB_NOTFOUND) {
        return storeFail(s->errmsg, "del", rv);
    }
    s->txn_bytes += klen;
    return 0;
}

/* Delete keys of table @t from @lo on, in key order, while they sort
 * below @hi (NULL: no bound) and start with the first @plen bytes of @lo
 * (0: any), within the budget of storeDelPrefix (*more: a key was left
 * for lack of it). Seeks again after every delete: simple and always
 * correct. */
static int storeDelFrom(struct store *s,
                        unsigned t,
                        const void *lo,
                        size_t lolen,
                        const void *hi,
                        size_t hilen,
                        size_t plen,
                        uint64_t max_keys,
                        uint64_t max_bytes,
                        uint64_t *keys,
                        uint64_t *bytes,
                        bool *more)
{
    MDB_cursor *mc;
    MDB_val h = {hilen, (void *)hi};
    int rv;

    *more = false;
    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    rv = mdb_cursor_open(s->txn, s->dbi[t], &mc);
    if (rv != 0) {
        return storeFail(s->errmsg, "cursor_open", rv);
    }
    for (;;) {
        MDB_val k = {lolen, (void *)lo};
        MDB_val v;
        rv = mdb_cursor_get(mc, &k, &v, MDB_SET_RANGE);
        if (rv == MDB_NOTFOUND) {
            rv = 0;
            break;
        }
        if (rv != 0) {
            storeFail(s->errmsg, "cursor_get", rv);
            break;
        }
        if ((hi != NULL && mdb_cmp(s->txn, s->dbi[t], &k, &h) >= 0) ||
            (plen > 0 && (k.mv_size < plen || memcmp(k.mv_data, lo, plen) != 0))) {
            break;
        }
        if (*keys >= max_keys || *bytes >= max_bytes) {
            *more = true;
            break;
        }
        rv = mdb_cursor_del(mc, 0);
        if (rv != 0) {
            storeFail(s->errmsg, "cursor_del", rv);
            break;
        }
        (*keys)++;
        *bytes += k.mv_size + v.mv_size;
        s->txn_bytes += k.mv_size;
    }
    mdb_cursor_close(mc);
    return rv == 0 ? 0 : FSM_ESTORE;
}

int storeDelRange(struct store *s,
                  unsigned t,
                  const void *lo,
                  size_t lolen,
                  const void *hi,
                  size_t hilen)
{
    uint64_t keys = 0;
    uint64_t bytes = 0;
    bool more;

    return storeDelFrom(s, t, lo, lolen, hi, hilen, 0, UINT64_MAX, UINT64_MAX, &keys, &bytes,
                        &more);
}

int storeDelPrefix(struct store *s,
                   unsigned t,
                   const void *prefix,
                   size_t plen,
                   uint64_t max_keys,
                   uint64_t max_bytes,
                   uint64_t *keys,
                   uint64_t *bytes,
                   bool *more)
{
    return storeDelFrom(s, t, prefix, plen, NULL, 0, plen, max_keys, max_bytes, keys, bytes,
                        more);
}

int storeCount(struct store *s, unsigned t, uint64_t *n)
{
    MDB_stat st;
    int rv;

    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    rv = mdb_stat(s->txn, s->dbi[t], &st);
    if (rv != 0) {
        return storeFail(s->errmsg, "stat", rv);
    }
    *n = st.ms_entries;
    return 0;
}

int storeUsage(struct store *s, uint64_t *used, uint64_t *capacity)
{
    MDB_envinfo info;
    MDB_stat st;
    uint64_t pages = 0;
    unsigned t;
    int rv;

    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    /* The main database holds the tables' records. */
    for (t = 0; t <= STORE_NTABLES; t++) {
        MDB_dbi dbi = t < STORE_NTABLES ? s->dbi[t] : 1 /* MAIN_DBI */;
        rv = mdb_stat(s->txn, dbi, &st);
        if (rv != 0) {
            return storeFail(s->errmsg, "stat", rv);
        }
        pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    rv = mdb_env_info(s->env, &info);
    if (rv != 0) {
        return storeFail(s->errmsg, "env info", rv);
    }
    *used = pages * st.ms_psize;
    *capacity = info.me_mapsize;
    return 0;
}

int storeSync(struct store *s)
{
    int rv = mdb_env_sync(s->env, 1);

    if (rv != 0) {
        /* Not s->errmsg: this may run in the thread pool. */
        return FSM_ESTORE;
    }
    return 0;
}

int storeSyncEachCommit(struct store *s, bool on)
{
    int rv;

    if (!s->durable) {
        return 0;
    }
    rv = mdb_env_set_flags(s->env, MDB_NOSYNC, on ? 0 : 1);
    if (rv == 0 && on) {
        rv = mdb_env_sync(s->env, 1);
    }
    if (rv != 0) {
        return storeFail(s->errmsg, on ? "env_sync" : "env_set_flags", rv);
    }
    return 0;
}

int storeClear(struct store *s)
{
    unsigned t;
    int rv;

    rv = storeBegin(s);
    if (rv != 0) {
        return rv;
    }
    for (t = 0; t < STORE_NTABLES; t++) {
        rv = mdb_drop(s->txn, s->dbi[t], 0);
        if (rv != 0) {
            return storeFail(s->errmsg, "drop", rv);
        }
    }
    return 0;
}

int storeViewBegin(struct store *s, struct storeView **v)
{
    struct storeView *view;
    int rv;

    *v = NULL;
    view = calloc(1, sizeof *view);
    if (view == NULL) {
        snprintf(s->errmsg, FSM_ERRMSG_LEN, "out of memory");
        return FSM_ENOMEM;
    }
    view->s = s;
    rv = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &view->txn);
    if (rv != 0) {
        free(view);
        return storeFail(s->errmsg, "txn_begin(read)", rv);
    }
    *v = view;
    return 0;
}

void storeViewEnd(struct storeView *v)
{
    if (v == NULL) {
        return;
    }
    mdb_txn_abort(v->txn);
    free(v);
}

int storeCursorOpen(struct store *s,
                    struct storeView *v,
                    unsigned t,
                    struct storeCursor *c)
{
    MDB_cursor *mc;
    MDB_txn *txn;
    int rv;

    c->mc = NULL;
    c->errmsg = v != NULL ? v->errmsg : s->errmsg;
    if (v != NULL) {
        txn = v->txn;
    } else {
        rv = storeBegin(s);
        if (rv != 0) {
            return rv;
        }
        txn = s->txn;
    }
    rv = mdb_cursor_open(txn, s->dbi[t], &mc);
    if (rv != 0) {
        return storeFail(c->errmsg, "cursor_open", rv);
    }
    c->mc = mc;
    return 0;
}

/* mdb_cursor_get with @op, mapping NOTFOUND to *found = false. */
static int storeCursorGet(struct storeCursor *c,
                          MDB_val *k,
                          struct storeVal *key,
                          struct storeVal *val,
                          bool *found,
                          MDB_cursor_op op)
{
    MDB_val v;
    int rv;

    *found = false;
    rv = mdb_cursor_get(c->mc, k, &v, op);
    if (rv == MDB_NOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return storeFail(c->errmsg, "cursor_get", rv);
    }
    key->data = k->mv_data;
    key->len = k->mv_size;
    val->data = v.mv_data;
    val->len = v.mv_size;
    *found = true;
    return 0;
}

int storeCursorSeek(struct storeCursor *c,
                    const void *key,
                    size_t klen,
                    struct storeVal *k,
                    struct storeVal *v,
                    bool *found)
{
    MDB_val mk = {klen, (void *)key};

    return storeCursorGet(c, &mk, k, v, found,
                          key == NULL ? MDB_FIRST : MDB_SET_RANGE);
}

int storeCursorNext(struct storeCursor *c,
                    struct storeVal *k,
                    struct storeVal *v,
                    bool *found)
{
    MDB_val mk = {0, NULL};

    return storeCursorGet(c, &mk, k, v, found, MDB_NEXT);
}

void storeCursorClose(struct storeCursor *c)
{
    if (c->mc != NULL) {
        mdb_cursor_close(c->mc);
        c->mc = NULL;
    }
}
