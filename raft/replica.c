/* The replica: libraft set up as DESIGN.md requires, leadership readiness,
 * proposals, status and an orderly close.
 *
 * The happy path of a proposal: replicaPropose stamps now_ms (never going
 * back and never frozen: see replicaNow) and appends the command to this
 * loop iteration's batch (batch.c); the check handle (after the loop's I/O
 * callbacks) or the prepare handle (before the loop sleeps) hands the batch
 * to raft_apply as one entry, so followers get one AppendEntries per
 * iteration rather than one per command. The uv backend writes it with one
 * fsync; once a majority has it, the entry is applied on the loop thread and
 * each proposal's callback gets its command's reply.
 *
 * Failure modes: not leader (returned at once, nothing proposed); leader but
 * not ready (its barrier is not yet applied, returned at once); leadership
 * lost before the batch was handed to raft, or close (callback with
 * REPLICA_ENOTLEADER or REPLICA_ESHUTDOWN: nothing proposed); leadership
 * lost or shutdown while in flight (callback with REPLICA_EUNKNOWN: the
 * entry may still commit under the next leader, and the client's retry with
 * the same session sequence then gets the stored reply).
 */
#include "raft/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void replicaFlushProposals(struct replica *r);
static void replicaDropProposals(struct replica *r, int status);

void replicaLog(struct replica *r, int level, const char *msg, const char *fmt, ...)
{
    char kv[512];
    va_list ap;

    if (r->config.log == NULL) {
        return;
    }
    kv[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(kv, sizeof kv, fmt, ap);
        va_end(ap);
    }
    r->config.log(r->config.arg, level, msg, kv);
}

void replicaFatal(struct replica *r, const char *what, int rv)
{
    char text[256];

    if (r->fatal) {
        return;
    }
    r->fatal = true;
    snprintf(text, sizeof text, "%s: %s", what, raft_strerror(rv));
    replicaLog(r, REPLICA_LOG_ERROR, "fatal: stopping the node", "error=\"%s\"", text);
    if (r->config.fatal != NULL) {
        r->config.fatal(r->config.arg, text);
    }
}

static void adapterFatal(void *arg, const char *what, int rv)
{
    replicaFatal(arg, what, rv);
}

static void adapterLogCb(void *arg, int level, const char *msg, const char *kv)
{
    struct replica *r = arg;
    if (r->config.log != NULL) {
        r->config.log(r->config.arg, level, msg, kv);
    }
}

static uint64_t wallClockMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *stateName(int state)
{
    switch (state) {
        case RAFT_LEADER:
            return "leader";
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_CANDIDATE:
            return "candidate";
        default:
            return "unavailable";
    }
}

static const char *roleName(int role)
{
    switch (role) {
        case RAFT_VOTER:
            return "voter";
        case RAFT_STANDBY:
            return "standby";
        case RAFT_SPARE:
            return "spare";
        default:
            return "none";
    }
}

static int mkdirAll(const char *path)
{
    char tmp[4096];
    size_t len = strlen(path);
    size_t i;

    if (len == 0 || len >= sizeof tmp) {
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char saved = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            tmp[i] = saved;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Leadership readiness (canonical/raft #220): a new leader appends a barrier
 * and acknowledges nothing until it is applied. */

static void barrierCb(struct raft_barrier *req, int status)
{
    struct replica *r = req->data;

    r->barrier_pending = false;
    if (status != 0) {
        replicaLog(r, REPLICA_LOG_INFO, "leadership barrier failed", "term=%llu error=\"%s\"",
                   (unsigned long long)r->barrier_term, raft_strerror(status));
        return;
    }
    if (raft_state(&r->raft) == RAFT_LEADER && r->raft.current_term == r->barrier_term) {
        r->ready_term = r->barrier_term;
        replicaLog(r, REPLICA_LOG_INFO, "leader ready", "term=%llu applied=%llu",
                   (unsigned long long)r->ready_term,
                   (unsigned long long)raft_last_applied(&r->raft));
    }
}

/* Pre-vote on, except after a long time without a leader (prevote.c). */
static void guardPreVote(struct replica *r)
{
    if (!preVoteGuardUpdate(&r->prevote, &r->raft, uv_now(r->loop))) {
        return;
    }
    if (!r->prevote.off) {
        replicaLog(r, REPLICA_LOG_INFO, "leader known again: pre-vote back on", NULL);
    } else {
        replicaLog(r, REPLICA_LOG_WARN,
                   "no leader for a long time: pre-vote off until one is known "
                   "(canonical/raft #279)",
                   "term=%llu", (unsigned long long)r->raft.current_term);
    }
}

static void watchLeadership(struct replica *r)
{
    raft_id leader_id;
    const char *leader_addr;
    int state;
    int rv;

    if (r->closing) {
        return;
    }
    state = raft_state(&r->raft);
    raft_leader(&r->raft, &leader_id, &leader_addr);
    if (state != r->logged_state || r->raft.current_term != r->logged_term ||
        leader_id != r->logged_leader) {
        replicaLog(r, REPLICA_LOG_INFO, "raft state", "state=%s term=%llu leader=%llu",
                   stateName(state), (unsigned long long)r->raft.current_term,
                   (unsigned long long)leader_id);
        r->logged_state = state;
        r->logged_term = r->raft.current_term;
        r->logged_leader = leader_id;
    }
    if (state == RAFT_UNAVAILABLE) {
        /* libraft 0.15 turns itself unavailable after some I/O failures
         * inside its handlers, while the process goes on: stop instead. */
        replicaFatal(r, "raft became unavailable", RAFT_IOERR);
        return;
    }
    guardPreVote(r);
    if (state != RAFT_LEADER) {
        if (r->ready_term != 0) {
            r->ready_term = 0;
            if (r->config.leadership_lost != NULL) {
                r->config.leadership_lost(r->config.arg);
            }
        }
        return;
    }
    if (r->ready_term == r->raft.current_term || r->barrier_pending) {
        return;
    }
    r->barrier.data = r;
    r->barrier_term = r->raft.current_term;
    rv = raft_barrier(&r->raft, &r->barrier, barrierCb);
    if (rv == 0) {
        r->barrier_pending = true;
    }
}

static void sweepProposedCb(void *arg, int status, const struct fsmReply *reply)
{
    struct replica *r = arg;

    (void)status;
    (void)reply;
    r->sweep_inflight = false;
}

/* A ready leader whose state machine holds dead keys (a deleted queue, a
 * purged keyspace: fsm/sweep.c) proposes one sweep slice, and the next
 * once it is applied: a slice's removal is bounded, so no apply stalls
 * the loop, and with one in flight the sweep goes as fast as entries
 * commit while every other command still gets through between slices. */
static void replicaSweep(struct replica *r)
{
    struct fsmCommand cmd;

    if (r->closing || r->fatal || r->ready_term == 0 || r->sweep_inflight ||
        fsmAdapterSettle(&r->adapter) != 0 || !fsmSweepPending(r->config.fsm)) {
        return;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.op = FSM_OP_SWEEP;
    if (replicaPropose(r, &cmd, sweepProposedCb, r) == 0) {
        r->sweep_inflight = true;
    }
}

static void checkCb(uv_check_t *handle)
{
    struct replica *r = handle->data;

    (void)fsmAdapterHandOff(&r->adapter); /* a failure is fatal already */
    replicaSweep(r);
    replicaFlushProposals(r);
    watchLeadership(r);
}

/* Before the loop sleeps: hand this iteration's proposals to raft, and
 * commit the state machine's write transaction if it is due
 * (REPLICA_COMMIT_MS, REPLICA_COMMIT_BYTES). */
static void prepareCb(uv_prepare_t *handle)
{
    struct replica *r = handle->data;
    uint64_t now;
    int rv;

    if (r->fatal) {
        return;
    }
    (void)fsmAdapterHandOff(&r->adapter);
    replicaFlushProposals(r);
    now = replicaMonotonicMs();
    if (now - r->trim_checked_ms >= 1000) {
        r->trim_checked_ms = now;
        fsmAdapterTrimOwed(&r->adapter); /* glibc's, whichever thread has the state */
    }
    if (applierEngaged(&r->adapter)) {
        return; /* the applier's thread holds the state, and commits it */
    }
    if (now - r->repaced_ms >= 1000) {
        r->repaced_ms = now;
        fsmAdapterRepace(&r->adapter);
    }
    rv = replicaCommitIfDue(&r->adapter.pace, r->config.fsm, now);
    if (rv != 0) {
        replicaLog(r, REPLICA_LOG_ERROR, "state machine flush failed", "error=\"%s\"",
                   fsmErrmsg(r->config.fsm));
        replicaFatal(r, "state machine flush failed", RAFT_IOERR);
    }
}

static void tickProposedCb(void *arg, int status, const struct fsmReply *reply)
{
    (void)arg;
    (void)status;
    (void)reply;
}

static void tickCb(uv_timer_t *handle)
{
    struct replica *r = handle->data;
    struct fsmCommand cmd;

    if (r->closing || r->ready_term == 0) {
        return;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.op = FSM_OP_TICK;
    (void)replicaPropose(r, &cmd, tickProposedCb, NULL);
}

/* ------------------------------------------------------------------------ */

int replicaInit(uv_loop_t *loop,
                const struct replicaConfig *c,
                struct replica **out,
                char *errmsg)
{
    struct replica *r;
    struct raft_configuration conf;
    size_t i;
    int rv;

    *out = NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return REPLICA_ENOMEM;
    }
    r->loop = loop;
    r->config = *c;
    r->dir = strdup(c->dir);
    r->raft_addr = strdup(c->raft_addr);
    r->logged_state = -1;
    if (r->dir == NULL || r->raft_addr == NULL) {
        snprintf(errmsg, 256, "out of memory");
        goto err;
    }
    r->config.dir = r->dir;
    r->config.raft_addr = r->raft_addr;
    r->config.peers = NULL;
    r->config.n_peers = 0;

    if (mkdirAll(r->dir) != 0) {
        snprintf(errmsg, 256, "create raft directory %s: %s", r->dir, strerror(errno));
        goto err;
    }

    rv = replicaTransportInit(&r->transport, loop);
    if (rv != 0) {
        snprintf(errmsg, 256, "raft tcp transport: %s", raft_strerror(rv));
        goto err;
    }
    if (c->raft_bind != NULL) {
        rv = raft_uv_tcp_set_bind_address(&r->transport.inner, c->raft_bind);
        if (rv != 0) {
            snprintf(errmsg, 256, "--raft-bind %s: %s", c->raft_bind, raft_strerror(rv));
            goto err_after_transport;
        }
    }
    rv = raft_uv_init(&r->io, loop, r->dir, &r->transport.outer);
    if (rv != 0) {
        snprintf(errmsg, 256, "raft storage in %s: %s", r->dir, r->io.errmsg);
        goto err_after_transport;
    }
    /* libraft 0.15.0 leaves io.version at 1, and raft_init then refuses an
     * fsm with snapshot_async (fixed upstream only in 0.17.1). The uv
     * backend has async_work, so version 2 is true of it. */
    r->io.version = 2;
    /* A corrupt segment is a start error, never moved aside silently. */
    raft_uv_set_auto_recovery(&r->io, false);
    /* glueSnapshotAsync hands over its snapshot already LZ4-compressed
     * (the same frame libraft would write, which its loader decompresses),
     * so that no whole uncompressed copy is held (fsmglue.c "Memory"). */
    raft_uv_set_snapshot_compression(&r->io, false);
    replicaWrapIo(r);
    fsmAdapterInit(&r->adapter, c->fsm);
    r->adapter.fatal = adapterFatal;
    r->adapter.log = adapterLogCb;
    r->adapter.arg = r;

    rv = raft_init(&r->raft, &r->io, &r->adapter.raft_fsm, c->id, r->raft_addr);
    if (rv != 0) {
        snprintf(errmsg, 256, "raft init: %s", raft_errmsg(&r->raft));
        goto err_after_io;
    }
    r->raft.data = r;
    raft_set_election_timeout(&r->raft, c->election_timeout_ms);
    raft_set_heartbeat_timeout(&r->raft, c->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&r->raft, c->snapshot_threshold);
    r->adapter.raft = &r->raft;
    r->adapter.base_threshold = c->snapshot_threshold;
    r->adapter.log_max = c->snapshot_log_max;
    r->adapter.scratch_dir = r->dir;
    r->adapter.defer_follower = true;
    rv = applierStart(&r->adapter);
    if (rv != 0) {
        replicaLog(r, REPLICA_LOG_WARN, "applier thread not started: followers apply on the loop",
                   "error=\"%s\"", strerror(rv));
    }
    replicaCommitPaceInit(&r->adapter.pace,
                          ((uint64_t)c->id * 0x9E3779B97F4A7C15ull) ^ uv_hrtime(),
                          replicaMonotonicMs());
    r->adapter.markers = fsmDurable(c->fsm);
    raft_set_snapshot_trailing(&r->raft, c->snapshot_trailing);
    r->adapter.base_trailing = c->snapshot_trailing;
    raft_set_pre_vote(&r->raft, true);

    if (c->n_peers > 0) {
        raft_configuration_init(&conf);
        for (i = 0; i < c->n_peers; i++) {
            rv = raft_configuration_add(&conf, c->peers[i].id, c->peers[i].raft_addr, RAFT_VOTER);
            if (rv != 0) {
                raft_configuration_close(&conf);
                snprintf(errmsg, 256, "cluster member %llu: %s",
                         (unsigned long long)c->peers[i].id, raft_strerror(rv));
                goto err_after_raft;
            }
        }
        rv = raft_bootstrap(&r->raft, &conf);
        raft_configuration_close(&conf);
        if (rv == 0) {
            replicaLog(r, REPLICA_LOG_INFO, "bootstrapped a new cluster", "voters=%zu",
                       c->n_peers);
        } else if (rv != RAFT_CANTBOOTSTRAP) {
            snprintf(errmsg, 256, "bootstrap: %s", raft_errmsg(&r->raft));
            goto err_after_raft;
        }
    }
    *out = r;
    return 0;

err_after_raft:
    /* raft_init succeeded: raft must be closed through raft_close, which
     * needs the loop; the caller exits after a failed init anyway, and the
     * uv io has not started, so releasing it directly is safe. */
err_after_io:
    raft_uv_close(&r->io);
err_after_transport:
    replicaTransportClose(&r->transport);
err:
    replicaDropProposals(r, REPLICA_ESHUTDOWN);
    fsmAdapterClose(&r->adapter);
    free(r->dir);
    free(r->raft_addr);
    free(r);
    return REPLICA_ESHUTDOWN;
}

int replicaStart(struct replica *r, char *errmsg)
{
    int rv;

    rv = replicaCheckSnapshots(r->dir, errmsg);
    if (rv != 0) {
        return RAFT_CORRUPT;
    }
    rv = raft_start(&r->raft);
    if (rv != 0) {
        snprintf(errmsg, 256, "raft start: %s (%s)", raft_errmsg(&r->raft), raft_strerror(rv));
        return rv;
    }
    uv_prepare_init(r->loop, &r->prepare);
    r->prepare.data = r;
    uv_prepare_start(&r->prepare, prepareCb);
    uv_check_init(r->loop, &r->check);
    r->check.data = r;
    uv_check_start(&r->check, checkCb);
    uv_timer_init(r->loop, &r->tick);
    r->tick.data = r;
    if (r->config.tick_interval_ms > 0) {
        uv_timer_start(&r->tick, tickCb, r->config.tick_interval_ms, r->config.tick_interval_ms);
    }
    r->handles_open = 3;
    replicaLog(r, REPLICA_LOG_INFO, "raft started", "term=%llu last_index=%llu",
               (unsigned long long)r->raft.current_term,
               (unsigned long long)raft_last_index(&r->raft));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Proposals */

/* Who waits for a command of a batch. */
struct proposalWaiter
{
    replicaProposeCb cb;
    void *arg;
};

/* The waiters of one batch entry, in the order of its commands. */
struct proposalBatch
{
    struct raft_apply req;
    uint32_t n;
    uint32_t cap;
    struct proposalWaiter *waiters;
};

/* A batch is handed to raft early once it holds this much: an entry much
 * larger than this would delay its first command's fsync for the rest. */
#define PROPOSAL_BATCH_BYTES ((size_t)1 << 20)

static void proposalBatchFree(struct proposalBatch *p)
{
    free(p->waiters);
    free(p);
}

/* Tell every waiter of @p @status (no reply) and free it. */
static void proposalBatchFail(struct proposalBatch *p, int status)
{
    uint32_t i;

    for (i = 0; i < p->n; i++) {
        p->waiters[i].cb(p->waiters[i].arg, status, NULL);
    }
    proposalBatchFree(p);
}

static void proposalApplied(struct raft_apply *req, int status, void *result)
{
    struct proposalBatch *p = req->data;
    const struct glueResult *res = result;
    uint32_t i;

    if (status != 0) {
        /* RAFT_LEADERSHIPLOST or RAFT_SHUTDOWN: the entry may commit. */
        proposalBatchFail(p, REPLICA_EUNKNOWN);
        return;
    }
    for (i = 0; i < p->n; i++) {
        if (i < res->n) {
            p->waiters[i].cb(p->waiters[i].arg, REPLICA_OK, &res->replies[i]);
        } else {
            /* Applied, but the reply could not be kept (out of memory). */
            p->waiters[i].cb(p->waiters[i].arg, REPLICA_EUNKNOWN, NULL);
        }
    }
    proposalBatchFree(p);
}

/* Hand the commands proposed so far to raft as one entry. Called from the
 * check handle (after the loop's I/O callbacks), the prepare handle (before
 * the loop sleeps), and when a batch grows past PROPOSAL_BATCH_BYTES. */
static void replicaFlushProposals(struct replica *r)
{
    struct proposalBatch *p = r->batch_waiters;
    struct raft_buffer buf;
    int rv;

    if (p == NULL || p->n == 0) {
        return;
    }
    r->batch_waiters = NULL;
    batchWriterTake(&r->batch, &buf);
    p->req.data = p;
    rv = raft_apply(&r->raft, &p->req, &buf, 1, proposalApplied);
    if (rv != 0) {
        /* Leadership went between the proposals and now: nothing of the
         * batch reached the log. */
        raft_free(buf.base);
        proposalBatchFail(p, rv == RAFT_NOTLEADER ? REPLICA_ENOTLEADER : REPLICA_ENOMEM);
    }
}

/* Refuse the proposals not yet handed to raft (closing). */
static void replicaDropProposals(struct replica *r, int status)
{
    struct proposalBatch *p = r->batch_waiters;

    r->batch_waiters = NULL;
    batchWriterDiscard(&r->batch);
    if (p != NULL) {
        proposalBatchFail(p, status);
    }
}

static int admissible(struct replica *r)
{
    if (r->closing) {
        return REPLICA_ESHUTDOWN;
    }
    if (raft_state(&r->raft) != RAFT_LEADER || r->raft.transfer != NULL) {
        return REPLICA_ENOTLEADER;
    }
    if (r->ready_term != r->raft.current_term) {
        return REPLICA_ENOTREADY;
    }
    return 0;
}

int replicaSettle(struct replica *r)
{
    return fsmAdapterSettle(&r->adapter) == 0 ? REPLICA_OK : REPLICA_EIO;
}

/* The cluster's time never goes backwards, and never stands still: when
 * this node's wall clock is behind the last stamp (its clock stepped back,
 * or an earlier leader's clock was ahead), time goes on from that stamp at
 * the rate of the monotonic clock. Merely clamping to the last stamp would
 * freeze the cluster's time, and with it every visibility timeout and
 * delay, until the wall clock caught up (found by the chaos harness's
 * clock fault: a leader 1 h ahead, then back, froze in-flight messages). */
uint64_t replicaNow(struct replica *r)
{
    uint64_t wall = wallClockMs();
    uint64_t applied;

    (void)fsmAdapterSettle(&r->adapter); /* the state is the loop's again */
    applied = fsmLastNow(r->config.fsm);
    uint64_t floor = applied;
    uint64_t now;

    if (r->last_stamp != 0) {
        uint64_t since = r->last_stamp + (replicaMonotonicMs() - r->last_stamp_mono);
        floor = since > floor ? since : floor;
    }
    now = wall > floor ? wall : floor;
    if (floor > wall + 1000 && !r->clock_behind_logged) {
        r->clock_behind_logged = true;
        replicaLog(r, REPLICA_LOG_WARN, "wall clock behind the cluster's time; "
                   "stamping the cluster's time", "behind_ms=%llu",
                   (unsigned long long)(floor - wall));
    } else if (floor <= wall) {
        r->clock_behind_logged = false;
    }
    return now;
}

int replicaPropose(struct replica *r,
                   struct fsmCommand *cmd,
                   replicaProposeCb cb,
                   void *arg)
{
    uint8_t bodies[FSM_BODY_DIGESTS_MAX];
    struct proposalBatch *p;
    int rv;

    rv = admissible(r);
    if (rv != 0) {
        return rv;
    }
    p = r->batch_waiters;
    if (p == NULL) {
        p = calloc(1, sizeof *p);
        if (p == NULL) {
            return REPLICA_ENOMEM;
        }
        r->batch_waiters = p;
    }
    if (p->n == p->cap) {
        uint32_t cap = p->cap > 0 ? p->cap * 2 : 64;
        struct proposalWaiter *waiters = realloc(p->waiters, cap * sizeof *waiters);
        if (waiters == NULL) {
            return REPLICA_ENOMEM;
        }
        p->waiters = waiters;
        p->cap = cap;
    }
    cmd->now_ms = replicaNow(r);
    r->last_stamp = cmd->now_ms;
    r->last_stamp_mono = replicaMonotonicMs();
    /* Message bodies are hashed by the proposer once, not by every
     * replica, when the batch is flushed (batchWriterTake). */
    fsmCommandFindBodies(cmd, bodies);
    rv = batchWriterAdd(&r->batch, cmd);
    cmd->bodies = NULL; /* @bodies is ours */
    cmd->bodies_len = 0;
    if (rv != 0) {
        return REPLICA_ENOMEM;
    }
    p->waiters[p->n].cb = cb;
    p->waiters[p->n].arg = arg;
    p->n++;
    if (r->batch.len >= PROPOSAL_BATCH_BYTES) {
        replicaFlushProposals(r);
    }
    return 0;
}

struct readRequest
{
    struct raft_barrier req;
    replicaReadCb cb;
    void *arg;
};

static void readBarrierCb(struct raft_barrier *req, int status)
{
    struct readRequest *rr = req->data;
    rr->cb(rr->arg, status == 0 ? REPLICA_OK : REPLICA_EUNKNOWN);
    free(rr);
}

int replicaRead(struct replica *r, replicaReadCb cb, void *arg)
{
    struct readRequest *rr;
    int rv;

    rv = admissible(r);
    if (rv != 0) {
        return rv;
    }
    rr = malloc(sizeof *rr);
    if (rr == NULL) {
        return REPLICA_ENOMEM;
    }
    rr->req.data = rr;
    rr->cb = cb;
    rr->arg = arg;
    rv = raft_barrier(&r->raft, &rr->req, readBarrierCb);
    if (rv != 0) {
        free(rr);
        return rv == RAFT_NOTLEADER ? REPLICA_ENOTLEADER : REPLICA_ENOMEM;
    }
    return 0;
}

void replicaGetStatus(struct replica *r, struct replicaStatus *st)
{
    uint64_t state_index;
    uint32_t state_cmds;
    raft_id leader_id;
    const char *leader_addr;
    unsigned i;

    memset(st, 0, sizeof *st);
    st->state = stateName(raft_state(&r->raft));
    st->term = r->raft.current_term;
    st->last_index = raft_last_index(&r->raft);
    st->applied_index = raft_last_applied(&r->raft);
    /* Replaying after a restart or an install, the state may be further on
     * than libraft's count (fsmglue.c): the digest is the state's. The
     * loop takes the state back first (the caller reads its digest). */
    (void)fsmAdapterSettle(&r->adapter);
    fsmPosition(r->config.fsm, &state_index, &state_cmds);
    if (state_index > st->applied_index) {
        st->applied_index = state_index;
    }
    st->commit_index = r->raft.commit_index;
    raft_leader(&r->raft, &leader_id, &leader_addr);
    st->leader_id = leader_id;
    st->ready = raft_state(&r->raft) == RAFT_LEADER && r->ready_term == r->raft.current_term;
    st->role = "none";
    for (i = 0; i < r->raft.configuration.n && i < REPLICA_MEMBERS_MAX; i++) {
        const struct raft_server *s = &r->raft.configuration.servers[i];
        struct replicaMember *m = &st->members[st->n_members++];
        m->id = s->id;
        snprintf(m->raft_addr, sizeof m->raft_addr, "%s", s->address);
        m->role = roleName(s->role);
        if (s->id == r->raft.id) {
            st->role = m->role;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Close: leadership transfer, raft_close, then our handles. */

static void replicaFree(struct replica *r)
{
    void (*cb)(void *arg) = r->close_cb;
    void *arg = r->close_arg;

    replicaDropProposals(r, REPLICA_ESHUTDOWN);
    fsmAdapterClose(&r->adapter);
    free(r->dir);
    free(r->raft_addr);
    free(r);
    if (cb != NULL) {
        cb(arg);
    }
}

void replicaRelease(struct replica *r)
{
    if (--r->handles_open == 0) {
        replicaFree(r);
    }
}

static void handleClosedCb(uv_handle_t *handle)
{
    replicaRelease(handle->data);
}

static void raftClosedCb(struct raft *raft)
{
    struct replica *r = raft->data;

    raft_uv_close(&r->io);
    replicaTransportClose(&r->transport);
    replicaLog(r, REPLICA_LOG_INFO, "raft closed", NULL);
    if (r->handles_open == 0) { /* never started */
        replicaFree(r);
        return;
    }
    uv_close((uv_handle_t *)&r->prepare, handleClosedCb);
    uv_close((uv_handle_t *)&r->check, handleClosedCb);
    uv_close((uv_handle_t *)&r->tick, handleClosedCb);
}

/* raft_close frees libraft's log, which deferred entries point into: the
 * state gets them first. */
static void replicaRaftClose(struct replica *r)
{
    (void)fsmAdapterSettle(&r->adapter);
    applierStop(&r->adapter);
    raft_close(&r->raft, raftClosedCb);
}

static void closeLaterCb(uv_timer_t *handle)
{
    replicaRaftClose(handle->data);
}

static void transferDoneCb(struct raft_transfer *req)
{
    struct replica *r = req->data;
    raft_id leader_id;
    const char *leader_addr;

    raft_leader(&r->raft, &leader_id, &leader_addr);
    replicaLog(r, REPLICA_LOG_INFO, "leadership transfer done", "leader=%llu",
               (unsigned long long)leader_id);
    /* Let libraft finish the code that called us before raft is closed
     * under it: close from the next loop iteration. */
    uv_timer_stop(&r->tick);
    uv_timer_start(&r->tick, closeLaterCb, 0, 0);
}

void replicaClose(struct replica *r, void (*cb)(void *arg), void *arg)
{
    int rv;

    if (r->closing) {
        return;
    }
    r->closing = true;
    replicaDropProposals(r, REPLICA_ESHUTDOWN);
    if (r->ready_term != 0 && r->config.leadership_lost != NULL) {
        r->ready_term = 0;
        r->config.leadership_lost(r->config.arg);
    }
    r->close_cb = cb;
    r->close_arg = arg;
    if (raft_state(&r->raft) == RAFT_LEADER && r->raft.configuration.n > 1) {
        r->transfer.data = r;
        rv = raft_transfer(&r->raft, &r->transfer, 0, transferDoneCb);
        if (rv == 0) {
            replicaLog(r, REPLICA_LOG_INFO, "transferring leadership before close", NULL);
            return;
        }
        replicaLog(r, REPLICA_LOG_WARN, "leadership transfer failed", "error=\"%s\"",
                   raft_strerror(rv));
    }
    replicaRaftClose(r);
}
