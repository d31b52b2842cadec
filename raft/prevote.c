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

/* Make a candidate that is in 0.15's pre-vote phase run a real election at
 * its next election timeout. 0.15's electionStart reads
 * candidate_state.in_pre_vote, which only convertToCandidate sets, so
 * without this two candidates both stuck in that phase stay stuck
 * (simulator seeds 2614, 2984, 3867, 4213, 5416).
 *
 * The tally restarts from our own vote, as electionStart does, so that no
 * pre-vote grant is ever counted as a vote. Until that timeout we stay at
 * our term with no real RequestVote of ours out: the only real grants that
 * can still arrive are for an election we ran at this very term, in which
 * we voted for ourselves, so counting them is sound. Touch candidate_state
 * only while a candidate (it shares a union with the other states).
 *
 * An earlier try at this was blamed for crashing seed 20 and leaving seed
 * 4286 with an unavailable server; both are libraft 0.15 replication bugs
 * that the changed timing exposed (see tests/sim/main.c), not this. */
static void leavePreVotePhase(struct raft *r)
{
    unsigned i, n_voters = 0, self = 0;

    if (r->state != RAFT_CANDIDATE || !r->candidate_state.in_pre_vote) {
        return;
    }
    for (i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].role != RAFT_VOTER) {
            continue;
        }
        if (r->configuration.servers[i].id == r->id) {
            self = n_voters;
        }
        n_voters++;
    }
    for (i = 0; i < n_voters; i++) {
        r->candidate_state.votes[i] = i == self;
    }
    r->candidate_state.in_pre_vote = false;
}

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
    if (g->off) {
        leavePreVotePhase(r);
    }
    return true;
}
