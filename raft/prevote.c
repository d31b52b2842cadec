/* The pre-vote guard: pre-vote on, except while a node has seen no leader
 * for long.
 *
 * libraft 0.15.0's pre-vote can leave a cluster without a leader for good
 * while a majority is up: a node whose term is behind never raises it on
 * a pre-vote request, and the others ignore its votes (canonical/raft #279,
 * fixed upstream by #280 after 0.15.0; our simulator found it as seed 421).
 * A real election, with its term bump, brings the lagging node along. So a
 * node that has known no leader for PREVOTE_GUARD_TIMEOUTS election
 * timeouts turns pre-vote off until it knows one again. The price is the
 * disruption pre-vote exists to prevent, paid only after that long without
 * a leader: a node cut off from the majority may bump the term once it is
 * back.
 */
#include "raft/internal.h"

/* Election timeouts without a leader before pre-vote is turned off. */
#define PREVOTE_GUARD_TIMEOUTS 5

bool preVoteGuardUpdate(struct preVoteGuard *g, struct raft *r, uint64_t now_ms)
{
    raft_id leader_id;
    const char *leader_addr;
    bool was_off = g->off;

    raft_leader(r, &leader_id, &leader_addr);
    if (leader_id != 0) {
        g->leaderless_since = 0;
        g->off = false;
    } else if (g->leaderless_since == 0) {
        g->leaderless_since = now_ms == 0 ? 1 : now_ms;
    } else if (now_ms - g->leaderless_since >=
               (uint64_t)PREVOTE_GUARD_TIMEOUTS * r->election_timeout) {
        g->off = true;
    }
    if (g->off == was_off) {
        return false;
    }
    raft_set_pre_vote(r, !g->off);
    /* A node that is already a candidate keeps the pre-vote phase it
     * started with across election timeouts (0.15's electionStart reads
     * candidate_state.in_pre_vote, set only by convertToCandidate), so the
     * change reaches it at its next conversion. Clearing that field here
     * (with or without restarting the tally from our own vote) crashed
     * libraft in the simulator (seed 20), for reasons not yet understood,
     * so we do not: two candidates both stuck in that phase stay stuck
     * (simulator seeds 2614, 2984, 3867, 4213). */
    return true;
}
