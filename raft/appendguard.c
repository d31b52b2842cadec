/* The append guard: AppendEntries from index 1 to a follower that has
 * compacted index 1 away.
 *
 * libraft 0.15 (and as far as we can tell every later release) crashes a
 * follower in this case (found by the simulator, seeds 20 and 243):
 *   1. a new leader whose own log still starts at index 1 fails to send to
 *      a follower (RAFT_NOCONNECTION); progressToProbe sets that
 *      follower's next_index to match_index + 1, which is 1 for a fresh
 *      leader;
 *   2. it sends entries from index 1 with prev_log_index 0;
 *   3. the follower, whose log starts after a snapshot, accepts prev 0
 *      without a check (checkLogMatchingProperty), finds no term for the
 *      compacted entries (deleteConflictingEntries: "missing") and appends
 *      them at the end of its log under the wrong indexes; logAcquire then
 *      finds nothing, and the error path truncates at index 1, below the
 *      log's start: memory corruption (an assert only in debug builds).
 * It needs a leader that still holds index 1 (a cluster younger than its
 * snapshot threshold + trailing) and a follower that installed a snapshot.
 *
 * The guard rewrites such a message before raft sees it: the entries at or
 * below the follower's log offset are committed (they are in its
 * snapshot), so dropping them loses nothing; the message then starts from
 * the last dropped entry (prev_log_index/prev_log_term), which raft checks
 * like any other, rejecting with a hint when it cannot match it. Only
 * prev_log_index 0 needs it: any other compacted prev is already rejected.
 * Ownership as raft expects: the array stays the same (entries moved down),
 * and the batch is freed here when no entry is left, since raft frees it
 * only through an entry. */
#include "raft/internal.h"

#include <string.h>

void appendGuardRecv(struct raft *r, struct raft_message *m)
{
    struct raft_append_entries *a;
    raft_index offset = r->log.offset;
    size_t drop;

    if (m->type != RAFT_IO_APPEND_ENTRIES) {
        return;
    }
    a = &m->append_entries;
    if (a->prev_log_index != 0 || offset == 0 || a->n_entries == 0) {
        return;
    }
    drop = offset < a->n_entries ? (size_t)offset : a->n_entries;
    a->prev_log_index = drop;
    a->prev_log_term = a->entries[drop - 1].term;
    if (drop == a->n_entries) {
        /* Nothing left: free the batch raft would have freed through the
         * first entry (every entry of a message shares one batch). */
        raft_free(a->entries[0].batch);
        a->n_entries = 0;
        return;
    }
    memmove(a->entries, a->entries + drop, (a->n_entries - drop) * sizeof *a->entries);
    a->n_entries -= (unsigned)drop;
}
