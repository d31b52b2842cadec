/* The sweeper: removal of a deleted queue's keys, and of a purged queue's
 * old message keyspace, in bounded slices.
 *
 * Why: every node applies DeleteQueue and PurgeQueue at the same log
 * entry. Removing a million messages there (six tables, a few million
 * keys) took every node's loop for seconds at once: no heartbeats, then
 * elections, and every other queue stalled. SQS itself says a deletion or
 * purge may take up to 60 seconds. So those ops only make the keys
 * unreachable (queue.c: the record goes, or the queue gets a fresh
 * keyspace) and record what is dead here; the keys go later, a slice at a
 * time, at log entries of their own.
 *
 * Table sweep (integers big-endian):
 * - sweep: id(8) -> mask(1): every key that starts with id(8) in the
 *          tables of @mask is dead. SWEEP_MESSAGES: messages, msgstate,
 *          ready, inflight, retention, groups (a message keyspace);
 *          SWEEP_QUEUE: tags, dedupe (a deleted queue's identity). Ids
 *          come from one counter and are never reused, so nothing writes
 *          a dead prefix again, and an id entered twice (a purged
 *          keyspace, then the deletion of its queue) merges its masks.
 *          dedupe_exp entries of a swept queue are left to tick, which
 *          drops an entry whose dedupe record is gone.
 *
 * The happy path of a slice (sweepSlice) is: take the first entry; in
 * each of its tables, in a fixed order, delete keys with its prefix in key
 * order until the table has none left or the slice's budget is spent
 * (f->sweep_keys keys, FSM_SWEEP_BYTES bytes of keys and values); an
 * entry whose tables are all empty is removed, and the slice goes on with
 * the next entry while budget is left. So a slice removes at most the
 * budget, and an entry of exactly the budget's keys goes in one slice.
 * Failure modes are: a malformed entry (FSM_ECORRUPT) or a store error,
 * returned as is (the node fail-stops, like every node at that entry).
 *
 * Determinism: a slice reads nothing but the store (no clock, no local
 * state; the budget is configuration, equal on every node like the
 * session window), so every node removes the same keys at the same entry.
 * Slices run in two ops: FSM_OP_SWEEP, which the leader proposes, one at a
 * time, for as long as fsmSweepPending() says the table is not empty
 * (raft/replica.c), and FSM_OP_TICK, which runs one slice too.
 *
 * Capacity while a sweep runs: the counters n_ready/n_inflight of a purged
 * queue are zeroed by the purge (they count the live keyspace only), and
 * a deleted queue has none. The dead keys still fill pages until swept,
 * so the store's usage (fsmStoreUsage, the high-water mark) falls as the
 * slices go, and a purge never needs room for more than one slice. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Tables of a message keyspace, in the order a slice empties them. */
static const unsigned sweepMessageTables[] = {
    STORE_MESSAGES, STORE_MSGSTATE, STORE_READY,
    STORE_INFLIGHT, STORE_RETENTION, STORE_GROUPS,
};

/* Tables of a queue's identity. */
static const unsigned sweepQueueTables[] = {STORE_TAGS, STORE_DEDUPE};

int sweepAdd(struct fsm *f, uint64_t id, uint8_t mask)
{
    struct storeVal v;
    uint8_t key[8];
    uint8_t val;
    bool found;
    int rv;

    bePut64(key, id);
    rv = storeGet(&f->store, STORE_SWEEP, key, sizeof key, &v, &found);
    if (rv != 0) {
        return rv;
    }
    if (found && v.len != 1) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed sweep entry");
        return FSM_ECORRUPT;
    }
    val = (uint8_t)(mask | (found ? *(const uint8_t *)v.data : 0));
    rv = storePut(&f->store, STORE_SWEEP, key, sizeof key, &val, 1);
    if (rv == 0) {
        f->sweep_pending = true;
    }
    return rv;
}

int sweepIsDead(struct fsm *f, uint64_t id, uint8_t mask, bool *dead)
{
    struct storeVal v;
    uint8_t key[8];
    bool found;
    int rv;

    *dead = false;
    bePut64(key, id);
    rv = storeGet(&f->store, STORE_SWEEP, key, sizeof key, &v, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    if (v.len != 1) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed sweep entry");
        return FSM_ECORRUPT;
    }
    *dead = (*(const uint8_t *)v.data & mask) != 0;
    return 0;
}

/* The first entry of the sweep table: *found, and its id and mask. */
static int sweepFirst(struct fsm *f, uint8_t key[8], uint8_t *mask,
                      bool *found)
{
    struct storeCursor c;
    struct storeVal k;
    struct storeVal v;
    int rv;

    rv = storeCursorOpen(&f->store, NULL, STORE_SWEEP, &c);
    if (rv != 0) {
        return rv;
    }
    rv = storeCursorSeek(&c, NULL, 0, &k, &v, found);
    if (rv == 0 && *found) {
        if (k.len != 8 || v.len != 1) {
            snprintf(f->errmsg, FSM_ERRMSG_LEN, "malformed sweep entry");
            rv = FSM_ECORRUPT;
        } else {
            memcpy(key, k.data, 8);
            *mask = *(const uint8_t *)v.data;
        }
    }
    storeCursorClose(&c);
    return rv;
}

/* Delete keys with prefix @key from @tables (@n of them) within the
 * slice's budget; *done tells whether none is left. */
static int sweepTables(struct fsm *f, const uint8_t key[8],
                       const unsigned *tables, size_t n, uint64_t *keys,
                       uint64_t *bytes, bool *done)
{
    size_t i;
    bool more = false;
    int rv;

    *done = false;
    for (i = 0; i < n; i++) {
        rv = storeDelPrefix(&f->store, tables[i], key, 8, f->sweep_keys,
                            FSM_SWEEP_BYTES, keys, bytes, &more);
        if (rv != 0) {
            return rv;
        }
        if (more) {
            return 0;
        }
    }
    *done = true;
    return 0;
}

int sweepSlice(struct fsm *f, uint64_t *removed, bool *more)
{
    uint64_t keys = 0;
    uint64_t bytes = 0;
    uint8_t key[8];
    uint8_t mask = 0;
    bool found = false;
    bool done;
    int rv;

    *removed = 0;
    *more = false;
    for (;;) {
        rv = sweepFirst(f, key, &mask, &found);
        if (rv != 0 || !found) {
            break;
        }
        if (keys >= f->sweep_keys || bytes >= FSM_SWEEP_BYTES) {
            break; /* budget spent: the next slice goes on from here */
        }
        done = true;
        if (mask & SWEEP_MESSAGES) {
            rv = sweepTables(f, key, sweepMessageTables,
                             sizeof sweepMessageTables / sizeof sweepMessageTables[0],
                             &keys, &bytes, &done);
        }
        if (rv == 0 && done && (mask & SWEEP_QUEUE)) {
            rv = sweepTables(f, key, sweepQueueTables,
                             sizeof sweepQueueTables / sizeof sweepQueueTables[0],
                             &keys, &bytes, &done);
        }
        if (rv != 0 || !done) {
            break;
        }
        rv = storeDel(&f->store, STORE_SWEEP, key, sizeof key);
        if (rv != 0) {
            break;
        }
    }
    if (rv != 0) {
        return rv;
    }
    *removed = keys;
    *more = found;
    f->sweep_pending = found;
    return 0;
}

int sweepRun(struct fsm *f, const struct fsmCommand *cmd)
{
    uint64_t removed;
    bool more;
    int rv;

    (void)cmd;
    rv = sweepSlice(f, &removed, &more);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 2);
    fsmPackStr(&f->pk, "Removed");
    msgpack_pack_uint64(&f->pk, removed);
    fsmPackStr(&f->pk, "More");
    if (more) {
        msgpack_pack_true(&f->pk);
    } else {
        msgpack_pack_false(&f->pk);
    }
    return 0;
}

int sweepLoad(struct fsm *f)
{
    uint64_t n;
    int rv;

    rv = storeCount(&f->store, STORE_SWEEP, &n);
    if (rv == 0) {
        f->sweep_pending = n > 0;
    }
    return rv;
}

bool fsmSweepPending(struct fsm *f)
{
    return !f->failed && f->sweep_pending;
}
