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
 * prev_log_index 0 crashes: any other compacted prev is rejected (which
 * can livelock instead: the fourth below).
 *
 * A second 0.15 bug, a commit-safety one (simulator seed 4286): a
 * follower answers a successful AppendEntries with last_log_index = its
 * own last stored index (recv_append_entries.c), even when entries beyond
 * the leader's message are stale ones from an older term. The new leader
 * then counts them as matching its own entries at those indexes and may
 * commit an entry that a majority lacks. The guard remembers, per leader
 * term, the highest index up to which this follower's log is known to
 * match the leader's (the end of every AppendEntries whose previous entry
 * matched, or of an installed snapshot), and clamps the last_log_index of
 * successful answers to it. A lower answer only makes the leader send
 * entries again.
 *
 * A third, on the leader's side (found by the benchmark's wiped follower):
 * a follower that lost its data (wiped, its disk replaced) and installed
 * the leader's snapshot answers with last_log_index = the snapshot's
 * index, which is below the match_index the leader still holds from
 * before. replicationUpdate then sees no progress (progressMaybeUpdate)
 * and returns before it checks whether the snapshot is done, so the
 * follower stays in snapshot state, sent nothing, until the install
 * snapshot timeout (30 s) aborts it. The guard lowers that stale
 * match_index to just below the answer, so raft sees the progress it
 * should; a lower match_index only makes the leader count this follower
 * for less, which is the truth.
 *
 * A fourth, a livelock (simulator seed 903280): a follower that took its
 * own snapshot past the leader's (101 against 98, keeping entries from
 * 100 on) rejects every AppendEntries whose previous entry lies in what
 * it compacted (98: checkLogMatchingProperty finds no term), the leader
 * steps back below its own log's start and sends its older snapshot,
 * which the follower skips, and round again, for ever. Entries up to the
 * follower's snapshot are committed, hence the same in every log: the
 * guard drops the message's entries up to the first index whose term the
 * follower knows (at most its snapshot's), which becomes the previous
 * entry raft checks, as for the first bug. */
#include "raft/internal.h"

#include <string.h>

/* Term of the entry at @index in @log as libraft's logTermOf sees it: the
 * snapshot's term at its last index, 0 if unknown (compacted or missing). */
static raft_term termAt(const struct raft_log *log, raft_index index)
{
    size_t n;

    if (index == 0) {
        return 0;
    }
    if (index == log->snapshot.last_index) {
        return log->snapshot.last_term;
    }
    n = log->back >= log->front ? log->back - log->front : log->size - log->front + log->back;
    if (index <= log->offset || index > log->offset + n) {
        return 0;
    }
    return log->entries[(log->front + (index - log->offset - 1)) % log->size].term;
}

/* Remember that the log matches the leader of @term up to @index. */
static void confirm(struct appendGuard *g, raft_term term, raft_index index)
{
    if (term > g->term) {
        g->term = term;
        g->confirmed = 0;
    }
    if (term == g->term && index > g->confirmed) {
        g->confirmed = index;
    }
}

/* Drop the first @drop entries of @a (all committed, so nothing is lost):
 * the message then starts from the last one dropped, which raft checks as
 * its previous entry. Ownership as raft expects: the array stays the same
 * (entries moved down), and the batch is freed here when no entry is left,
 * since raft frees it only through an entry. */
static void dropFront(struct raft_append_entries *a, size_t drop)
{
    a->prev_log_index += drop;
    a->prev_log_term = a->entries[drop - 1].term;
    if (drop == a->n_entries) {
        /* Every entry of a message shares one batch. */
        raft_free(a->entries[0].batch);
        a->n_entries = 0;
        return;
    }
    memmove(a->entries, a->entries + drop, (a->n_entries - drop) * sizeof *a->entries);
    a->n_entries -= (unsigned)drop;
}

/* See the first bug above: prev_log_index 0 to a follower whose log
 * starts after a snapshot. */
static void trimFromStart(struct raft *r, struct raft_append_entries *a)
{
    raft_index offset = r->log.offset;

    if (a->prev_log_index != 0 || offset == 0 || a->n_entries == 0) {
        return;
    }
    dropFront(a, offset < a->n_entries ? (size_t)offset : a->n_entries);
}

/* See "A fourth" above: a previous entry the follower has compacted, in a
 * message that reaches into what its own snapshot covers. */
static void trimCompacted(struct raft *r, struct raft_append_entries *a)
{
    raft_index prev = a->prev_log_index;
    raft_index snap = r->log.snapshot.last_index;
    raft_index to;

    if (prev == 0 || a->n_entries == 0 || prev >= snap || termAt(&r->log, prev) != 0) {
        return;
    }
    to = prev + a->n_entries < snap ? prev + a->n_entries : snap;
    if (termAt(&r->log, to) == 0) {
        return; /* the message ends where this log knows no term either */
    }
    dropFront(a, (size_t)(to - prev));
}

/* libraft's PROGRESS__SNAPSHOT (src/progress.h, 0.15): sending a snapshot. */
#define GUARD_PROGRESS_SNAPSHOT 2

/* See "A third" above. */
static void snapshotDoneGuard(struct raft *r, const struct raft_message *m)
{
    const struct raft_append_entries_result *res = &m->append_entries_result;
    struct raft_progress *p;
    unsigned i;

    if (r->state != RAFT_LEADER || res->rejected != 0 || res->term != r->current_term ||
        r->leader_state.progress == NULL) {
        return;
    }
    for (i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == m->server_id) {
            break;
        }
    }
    if (i == r->configuration.n) {
        return;
    }
    p = &r->leader_state.progress[i];
    if (p->state == GUARD_PROGRESS_SNAPSHOT && res->last_log_index >= p->snapshot_index &&
        res->last_log_index <= p->match_index && res->last_log_index > 0) {
        p->match_index = res->last_log_index - 1;
    }
}

void appendGuardRecv(struct appendGuard *g, struct raft *r, struct raft_message *m)
{
    if (m->type == RAFT_IO_APPEND_ENTRIES_RESULT) {
        snapshotDoneGuard(r, m);
        return;
    }
    if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        if (m->install_snapshot.term >= r->current_term) {
            confirm(g, m->install_snapshot.term, m->install_snapshot.last_index);
        }
        return;
    }
    if (m->type != RAFT_IO_APPEND_ENTRIES) {
        return;
    }
    trimFromStart(r, &m->append_entries);
    trimCompacted(r, &m->append_entries);
    {
        const struct raft_append_entries *a = &m->append_entries;
        /* An older term is rejected by raft; a previous entry that does not
         * match is rejected too. Otherwise, once raft has handled it, the
         * log matches the leader's up to the message's end. */
        if (a->term >= r->current_term &&
            (a->prev_log_index == 0 || termAt(&r->log, a->prev_log_index) == a->prev_log_term)) {
            confirm(g, a->term, a->prev_log_index + a->n_entries);
        }
    }
}

const struct raft_message *appendGuardSend(struct appendGuard *g,
                                           const struct raft_message *m,
                                           struct raft_message *copy)
{
    const struct raft_append_entries_result *res = &m->append_entries_result;

    if (m->type != RAFT_IO_APPEND_ENTRIES_RESULT || res->rejected != 0 ||
        res->term != g->term || res->last_log_index <= g->confirmed) {
        return m;
    }
    *copy = *m;
    copy->append_entries_result.last_log_index = g->confirmed;
    return copy;
}
