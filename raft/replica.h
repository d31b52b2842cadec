/* replica: one node's membership in the raft group. The only code of qraft
 * that includes raft.h; nothing of raft's types shows through this header.
 *
 * A replica owns libraft (uv backend and TCP transport, log and snapshots in
 * its directory) and drives the state machine (fsm/) through raft_fsm v3.
 * It applies DESIGN.md's rules for libraft 0.15.0:
 *   - io.version = 2, so that snapshots are taken in the thread pool;
 *   - every entry padded to a multiple of 8 bytes (fsmCommandEncode does);
 *   - auto-recovery off: a corrupt log is a start error, never skipped;
 *   - pre-vote on;
 *   - a barrier on winning leadership, and no acknowledgement before it is
 *     applied (replicaPropose answers REPLICA_ENOTREADY until then);
 *   - a disk error (failed append, truncate, snapshot write, term or vote
 *     write) or a store error in apply stops the node (fatal callback);
 *   - RAFT_LEADERSHIPLOST/RAFT_SHUTDOWN in an apply callback is reported as
 *     REPLICA_EUNKNOWN: the entry may still commit.
 *
 * Threading: everything runs on the loop given to replicaInit.
 */
#ifndef QRAFT_REPLICA_H
#define QRAFT_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "fsm/fsm.h"

/* Outcomes of a proposal or a read. */
enum {
    REPLICA_OK = 0,
    REPLICA_ENOTLEADER = 1, /* not the leader: nothing was proposed */
    REPLICA_ENOTREADY = 2,  /* leader, but its barrier is not applied yet */
    REPLICA_EUNKNOWN = 3,   /* leadership lost in flight: may still commit */
    REPLICA_ENOMEM = 4,
    REPLICA_ESHUTDOWN = 5,  /* closing: nothing was proposed */
    REPLICA_EIO = 6         /* the state machine's store failed: the node
                               stops */
};

/* Log levels, shared with the node's logger. */
enum { REPLICA_LOG_DEBUG, REPLICA_LOG_INFO, REPLICA_LOG_WARN, REPLICA_LOG_ERROR };

/* One of the initial voters, from --cluster. */
struct replicaPeer
{
    uint64_t id;
    const char *raft_addr;
};

struct replicaConfig
{
    uint64_t id;
    const char *raft_addr; /* IPv4 host:port this node announces */
    const char *raft_bind; /* IPv4 host:port it binds; NULL: raft_addr */
    const char *dir;       /* raft log and snapshots (created if missing) */
    const struct replicaPeer *peers; /* initial voters (bootstrap only) */
    size_t n_peers;
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold; /* entries between snapshots */
    unsigned snapshot_trailing;  /* entries kept behind a snapshot */
    uint64_t snapshot_log_max;   /* bytes of log between snapshots, at most
                                    (0: no bound but the state's size) */
    unsigned tick_interval_ms;   /* leader housekeeping (session expiry) */
    unsigned fault_append_after; /* tests only: the Nth log append reports a
                                    disk error (0: never) */
    struct fsm *fsm;             /* owned by the caller, outlives the replica */
    /* Log sink (printf-style message, then key=value text). */
    void (*log)(void *arg, int level, const char *msg, const char *kv);
    /* Called once when the node must stop (disk or store error). The
     * callee is expected to exit the process. */
    void (*fatal)(void *arg, const char *what);
    /* Called when this node stops being a ready leader (lost leadership,
     * or closing): leader-local state such as long polls must go. May be
     * NULL. */
    void (*leadership_lost)(void *arg);
    void *arg;
};

struct replica;

/* Create the replica, open raft's storage, bootstrap when the directory is
 * empty and peers are given. On error, *r is NULL and errmsg (256 bytes)
 * says why. */
int replicaInit(uv_loop_t *loop,
                const struct replicaConfig *c,
                struct replica **r,
                char *errmsg);

/* Start raft: load the log (restoring the last snapshot and replaying). */
int replicaStart(struct replica *r, char *errmsg);

/* Close: if leader, hand leadership to another voter first (bounded by the
 * election timeout), then close raft. @cb is called once everything is
 * released, and the replica is freed before it is called. */
void replicaClose(struct replica *r, void (*cb)(void *arg), void *arg);

/* Propose one command. The leader stamps cmd->now_ms. Returns non-zero
 * (REPLICA_ENOTLEADER, REPLICA_ENOTREADY, REPLICA_ENOMEM, REPLICA_ESHUTDOWN)
 * and never calls @cb; or 0 and calls @cb exactly once, later (never from
 * inside this call), with:
 * - REPLICA_OK and the state machine's reply (valid only during the
 *   callback);
 * - REPLICA_EUNKNOWN and a NULL reply: leadership lost in flight, the
 *   command may still commit;
 * - REPLICA_ENOTLEADER, REPLICA_ENOMEM or REPLICA_ESHUTDOWN and a NULL
 *   reply: nothing reached the log (the commands of a loop iteration are
 *   proposed together at its end, and leadership can go before then).
 * @cmd is used only during the call. */
typedef void (*replicaProposeCb)(void *arg,
                                 int status,
                                 const struct fsmReply *reply);
int replicaPropose(struct replica *r,
                   struct fsmCommand *cmd,
                   replicaProposeCb cb,
                   void *arg);

/* A linearizable read: a barrier, then @cb, in which the caller may query
 * the state machine. Same rules as replicaPropose. */
typedef void (*replicaReadCb)(void *arg, int status);
int replicaRead(struct replica *r, replicaReadCb cb, void *arg);

/* A member of the current configuration. */
struct replicaMember
{
    uint64_t id;
    char raft_addr[128];
    const char *role; /* "voter", "standby", "spare" */
};

#define REPLICA_MEMBERS_MAX 16

struct replicaStatus
{
    const char *state; /* "leader", "follower", "candidate", "unavailable" */
    const char *role;  /* this node's role, or "none" */
    uint64_t term;
    uint64_t last_index;
    uint64_t applied_index;
    uint64_t commit_index; /* the highest index this node knows committed */
    uint64_t leader_id; /* 0 if unknown */
    bool ready;         /* leader whose barrier has been applied */
    size_t n_members;
    struct replicaMember members[REPLICA_MEMBERS_MAX];
};

void replicaGetStatus(struct replica *r, struct replicaStatus *st);

/* The state machine's clock as this leader would stamp it now, without
 * stamping: for reads, and to turn the fsm's times into local delays. */
uint64_t replicaNow(struct replica *r);

/* Make the state machine the loop thread's to read (fsm* calls on the
 * loop): a follower's applier thread (raft/applier.c) hands it back after
 * applying what it was given. replicaNow and replicaGetStatus do it
 * themselves. 0, or REPLICA_EIO when the store failed (the node stops). */
int replicaSettle(struct replica *r);

#endif /* QRAFT_REPLICA_H */
