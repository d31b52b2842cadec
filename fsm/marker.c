/* Snapshot markers and the state's place in the raft log (DESIGN.md
 * "Storage").
 *
 * A durable fsm keeps its LMDB files across restarts, each commit synced
 * (store.c), and each commit records which raft entry, and how many of its
 * commands, the state holds (META_POSITION). A snapshot can then be a
 * marker, a few bytes naming that place, instead of a copy of the state:
 * once the store is synced at or past the marker's place, the log before
 * it is no longer needed to rebuild the state. On start, libraft restores
 * the marker and replays the log after the marker's index; the store may
 * hold more than the marker (it went on committing), so the caller skips
 * the entries and commands fsmPosition says are in already.
 *
 * Layout (FSM_MARKER_LEN bytes, big-endian):
 *   magic     8 bytes "QRAFTMK1"
 *   index     8       raft entry of the position
 *   commands  4       commands of that entry the state holds
 *   reserved  4       zero
 *   digest   32       running digest of the state at that place
 *   checksum 32       SHA-256 of the 56 bytes before it
 *
 * A marker is accepted if the store holds its place or a later one, and
 * at its very place the same digest. Anything else (the state directory
 * lost, wiped, or from another node) is refused before anything changes:
 * the node cannot rebuild the state from its log and must be wiped whole
 * to rejoin from a leader's snapshot. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MARKER_MAGIC "QRAFTMK1"
#define MARKER_BODY 56

int fsmFresh(struct fsm *f)
{
    int rv;

    if (!f->stale) {
        return 0;
    }
    rv = storeClear(&f->store);
    if (rv == 0) {
        rv = storeCommit(&f->store);
    }
    if (rv != 0) {
        storeAbort(&f->store);
        f->failed = true;
        return rv;
    }
    memset(f->digest, 0, sizeof f->digest);
    f->last_now = 0;
    f->pos_index = 0;
    f->pos_cmds = 0;
    f->sweep_pending = false;
    f->stale = false;
    return 0;
}

void fsmSetIndex(struct fsm *f, uint64_t index)
{
    /* Empty a stale store now, not at the apply that follows (which would
     * forget @index). On failure the fsm is failed, and that apply says so. */
    if (fsmFresh(f) != 0) {
        return;
    }
    if (index != f->pos_index) {
        f->pos_index = index;
        f->pos_cmds = 0;
    }
}

void fsmPosition(const struct fsm *f, uint64_t *index, uint32_t *cmds)
{
    *index = f->pos_index;
    *cmds = f->pos_cmds;
}

bool fsmDurable(const struct fsm *f)
{
    return f->durable;
}

bool fsmIsMarker(const void *buf, size_t len)
{
    return len == FSM_MARKER_LEN && memcmp(buf, MARKER_MAGIC, 8) == 0;
}

int fsmMarker(struct fsm *f, uint8_t out[FSM_MARKER_LEN])
{
    int rv;

    if (f->failed) {
        return FSM_ESTORE;
    }
    if (!f->durable) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "a snapshot marker needs a durable state machine");
        return FSM_ESTORE;
    }
    rv = fsmFresh(f);
    if (rv == 0) {
        rv = fsmFlush(f);
    }
    if (rv != 0) {
        return rv;
    }
    memset(out, 0, FSM_MARKER_LEN);
    memcpy(out, MARKER_MAGIC, 8);
    bePut64(out + 8, f->pos_index);
    bePut32(out + 16, f->pos_cmds);
    memcpy(out + 24, f->digest, sizeof f->digest);
    rv = snapshotSum(out, MARKER_BODY, out + MARKER_BODY);
    if (rv != 0) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "sha-256 failed");
    }
    return rv;
}

int fsmSync(struct fsm *f)
{
    return storeSync(&f->store);
}

int fsmRestoreMarker(struct fsm *f, const void *buf, size_t len)
{
    const uint8_t *m = buf;
    uint8_t sum[32];
    uint64_t index;
    uint32_t cmds;
    int rv;

    if (f->failed) {
        return FSM_ESTORE;
    }
    if (!f->durable) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "a snapshot marker needs a durable state machine");
        return FSM_ECORRUPT;
    }
    if (!fsmIsMarker(buf, len) || snapshotSum(m, MARKER_BODY, sum) != 0 ||
        memcmp(sum, m + MARKER_BODY, sizeof sum) != 0) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN, "snapshot marker is corrupt");
        return FSM_ECORRUPT;
    }
    index = beGet64(m + 8);
    cmds = beGet32(m + 16);
    if (!f->stale) {
        /* The store is this run's own: its mirrors are what it holds. */
        rv = fsmFlush(f);
    } else {
        rv = fsmLoadMeta(f);
        if (rv == 0) {
            rv = sweepLoad(f);
        }
    }
    if (rv != 0) {
        storeAbort(&f->store);
        f->failed = rv != FSM_ECORRUPT;
        return rv;
    }
    if (f->pos_index < index || (f->pos_index == index && f->pos_cmds < cmds) ||
        (f->pos_index == index && f->pos_cmds == cmds &&
         memcmp(f->digest, m + 24, sizeof f->digest) != 0)) {
        snprintf(f->errmsg, FSM_ERRMSG_LEN,
                 "the state directory holds raft entry %llu (%u commands) but the snapshot "
                 "marker needs entry %llu (%u commands)%s: the state was lost or replaced; "
                 "wipe this node's data directory to rejoin from a leader's snapshot",
                 (unsigned long long)f->pos_index, (unsigned)f->pos_cmds,
                 (unsigned long long)index, (unsigned)cmds,
                 f->pos_index == index && f->pos_cmds == cmds ? " with another digest" : "");
        /* Not a store failure: leave the store as it is, untrusted. */
        if (f->stale) {
            memset(f->digest, 0, sizeof f->digest);
            f->last_now = 0;
            f->pos_index = 0;
            f->pos_cmds = 0;
            f->sweep_pending = false;
        }
        return FSM_ECORRUPT;
    }
    f->stale = false;
    return 0;
}
