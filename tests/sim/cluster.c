/* The simulated cluster: libraft's fixture with the real fsm and glue on
 * every server, and the node layer of qraftd rebuilt around each.
 *
 * What runs as in production:
 *   - fsm/ over LMDB, one environment per server, opened empty;
 *   - raft/fsmglue.c (struct fsmAdapter), snapshots taken in "the thread
 *     pool" (the fixture runs async work as a timed request);
 *   - io.version = 2 (the fixture never sets it; raft_init needs it for
 *     snapshot_async), pre-vote on;
 *   - a new leader proposes a barrier and acknowledges nothing before it is
 *     applied (raft/replica.c watchLeadership);
 *   - proposals: now_ms = max(clock, last stamp, last applied stamp); the
 *     commands of a step on a server go to raft as one batch entry
 *     (raft/batch.c; propose.c);
 *   - the fsm write batch is committed after some loop iterations;
 *   - a failed append, truncate, term or vote write, or a store error in
 *     apply, stops the node for good (fail-stop, DESIGN.md).
 *
 * What differs: the clock is the fixture's; a node's "process" is paused
 * (raft_fixture_kill) instead of killed, as 0.15's fixture cannot restart a
 * server; a fail-stopped server stays down.
 */
#include "tests/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The simulation of this process (one at a time: each seed is a child). */
static struct sim *simCurrent;

/* Map size of each server's LMDB (sparse). */
#define SIM_MAP_SIZE (256u << 20)

uint64_t simNowMs(struct sim *sim)
{
    return SIM_EPOCH_MS + (uint64_t)sim->f.time;
}

bool simServerUp(struct sim *sim, unsigned i)
{
    return i < sim->n && sim->servers[i].started && !sim->servers[i].killed &&
           !sim->servers[i].stopped;
}

/* The server whose fixture I/O is @io. */
static struct simServer *serverOfIo(struct raft_io *io)
{
    struct sim *sim = simCurrent;
    unsigned i;

    for (i = 0; i < sim->n; i++) {
        if (&sim->f.servers[i].io == io) {
            return &sim->servers[i];
        }
    }
    abort();
}

/* Stop server @s for good: what qraftd's fatal callback does (exit). */
static void serverFailStop(struct simServer *s, const char *what, int rv)
{
    struct sim *sim = s->sim;

    if (s->stopped) {
        return;
    }
    s->stopped = true;
    sim->fail_stops++;
    sim->f.servers[s->index].alive = false;
    simEvent(sim, "server %u fail-stop: %s (%s)", s->index, what, raft_strerror(rv));
    simNetworkApply(sim);
}

static void adapterFatal(void *arg, const char *what, int rv)
{
    serverFailStop(arg, what, rv);
}

/* An append in flight, wrapped to keep count of completed appends. */
struct simAppend
{
    struct raft_io_append inner;
    struct raft_io_append *outer;
    struct simServer *s;
    uint64_t seq;
};

/* Run the deferred truncations whose appends have all completed. */
/* Truncate the fixture's log at raft index @index. The fixture's array
 * starts at index 1 until a snapshot install empties it (truncate(1) in its
 * flush); after that its first entry is the one after the snapshot, and
 * raft's indexes must be shifted (0.15's fixture does not). */
static int realTruncate(struct simServer *s, struct raft_io *io, raft_index index, bool install)
{
    int rv;

    if (install) {
        rv = s->io_truncate(io, 1);
        if (rv == 0) {
            s->log_base = s->install_index;
        }
        return rv;
    }
    return s->io_truncate(io, index > s->log_base ? index - s->log_base : 1);
}

static void runDeferredTruncates(struct simServer *s, struct raft_io *io)
{
    while (s->n_truncates > 0 && s->appends_done >= s->truncates[0].after) {
        raft_index index = s->truncates[0].index;
        bool install = s->truncates[0].install;
        int rv;
        s->n_truncates--;
        memmove(&s->truncates[0], &s->truncates[1], s->n_truncates * sizeof s->truncates[0]);
        rv = realTruncate(s, io, index, install);
        if (rv != 0) {
            serverFailStop(s, "log truncate failed", rv);
        }
    }
}

static void appendCb(struct raft_io_append *req, int status)
{
    struct simAppend *a = req->data;
    struct raft_io_append *outer = a->outer;
    struct simServer *s = a->s;

    s->appends_done = a->seq;
    free(a);
    runDeferredTruncates(s, &s->sim->f.servers[s->index].io);
    outer->cb(outer, status);
}

static int ioAppend(struct raft_io *io,
                    struct raft_io_append *req,
                    const struct raft_entry entries[],
                    unsigned n,
                    raft_io_append_cb cb)
{
    struct simServer *s = serverOfIo(io);
    struct simAppend *a;
    int rv;

    if (s->stopped) {
        return 0; /* the process is gone: the request never completes */
    }
    a = malloc(sizeof *a);
    a->inner.data = a;
    a->outer = req;
    a->s = s;
    a->seq = s->appends_issued + 1;
    req->cb = cb;
    rv = s->io_append(io, &a->inner, entries, n, appendCb);
    if (rv != 0) {
        free(a);
        serverFailStop(s, "log append failed", rv);
        return 0; /* qraftd exits here: raft never sees the error */
    }
    s->appends_issued++;
    return 0;
}

/* libraft truncates entries that may still be on their way to disk. The uv
 * backend orders a truncation after the appends before it; 0.15's fixture
 * does not, and copies past the end of its array (memory corruption). So a
 * truncation waits here until the appends issued before it are done. Disk
 * latency is constant per server, so appends complete in order. */
static int ioTruncate(struct raft_io *io, raft_index index)
{
    struct simServer *s = serverOfIo(io);
    bool install = s->installing && index == 1;
    int rv;

    if (s->stopped) {
        return 0;
    }
    if (s->appends_done == s->appends_issued && s->n_truncates == 0) {
        rv = realTruncate(s, io, index, install);
        if (rv != 0) {
            serverFailStop(s, "log truncate failed", rv);
        }
        return 0;
    }
    if (s->n_truncates == sizeof s->truncates / sizeof s->truncates[0]) {
        serverFailStop(s, "too many deferred truncations", RAFT_NOMEM);
        return RAFT_NOMEM;
    }
    s->truncates[s->n_truncates].index = index;
    s->truncates[s->n_truncates].after = s->appends_issued;
    s->truncates[s->n_truncates].install = install;
    s->n_truncates++;
    return 0;
}

/* A snapshot put in flight (to know when the fixture's flush of an install,
 * trailing 0, empties its log). */
struct simSnapshotPut
{
    struct raft_io_snapshot_put inner;
    struct raft_io_snapshot_put *outer;
    struct simServer *s;
};

static void snapshotPutCb(struct raft_io_snapshot_put *req, int status)
{
    struct simSnapshotPut *p = req->data;
    struct raft_io_snapshot_put *outer = p->outer;

    p->s->installing = false;
    free(p);
    outer->cb(outer, status);
}

static int ioSnapshotPut(struct raft_io *io,
                         unsigned trailing,
                         struct raft_io_snapshot_put *req,
                         const struct raft_snapshot *snapshot,
                         raft_io_snapshot_put_cb cb)
{
    struct simServer *s = serverOfIo(io);
    struct simSnapshotPut *p;
    int rv;

    if (s->stopped) {
        return 0;
    }
    p = malloc(sizeof *p);
    p->inner.data = p;
    p->outer = req;
    p->s = s;
    req->cb = cb;
    if (trailing == 0) {
        s->installing = true;
        s->install_index = snapshot->index;
        s->sim->snapshots_installed++;
    }
    rv = s->io_snapshot_put(io, trailing, &p->inner, snapshot, snapshotPutCb);
    if (rv != 0) {
        free(p);
        s->installing = false;
        serverFailStop(s, "snapshot write failed", rv);
    }
    return 0;
}

static int ioSetTerm(struct raft_io *io, raft_term term)
{
    struct simServer *s = serverOfIo(io);
    int rv;
    if (s->stopped) {
        return 0;
    }
    rv = s->io_set_term(io, term);
    if (rv != 0) {
        serverFailStop(s, "term write failed", rv);
    }
    return 0;
}

static int ioSetVote(struct raft_io *io, raft_id id)
{
    struct simServer *s = serverOfIo(io);
    int rv;
    if (s->stopped) {
        return 0;
    }
    rv = s->io_set_vote(io, id);
    if (rv != 0) {
        serverFailStop(s, "vote write failed", rv);
    }
    return 0;
}

/* The fixture's io fault also fails sends synchronously, which libraft
 * 0.15 answers by turning unavailable (the uv transport reports send
 * errors in the callback). An injected fault is an I/O error: the node
 * stops, as for the disk. */
static void ioRecv(struct raft_io *io, struct raft_message *m)
{
    struct simServer *s = serverOfIo(io);
    appendGuardRecv(&s->append_guard, &s->sim->f.servers[s->index].raft, m);
    s->raft_recv(io, m);
}

static int ioStart(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct simServer *s = serverOfIo(io);
    s->raft_recv = recv;
    return s->io_start(io, msecs, tick, ioRecv);
}

static int ioSend(struct raft_io *io,
                  struct raft_io_send *req,
                  const struct raft_message *message,
                  raft_io_send_cb cb)
{
    struct simServer *s = serverOfIo(io);
    int rv;
    if (s->stopped) {
        return 0;
    }
    {
        struct raft_message copy;
        rv = s->io_send(io, req, appendGuardSend(&s->append_guard, message, &copy), cb);
    }
    if (rv != 0) {
        serverFailStop(s, "send failed", rv);
    }
    return 0;
}

/* A snapshot read for sending: its bytes replaced with an image of the
 * server's state as it is now (raft/snapget.c does this to markers). */
struct simSnapshotGet
{
    struct raft_io_snapshot_get inner;
    struct raft_io_snapshot_get *outer;
    struct simServer *s;
};

static void snapshotGetCb(struct raft_io_snapshot_get *req,
                          struct raft_snapshot *snapshot,
                          int status)
{
    struct simSnapshotGet *g = req->data;
    struct raft_io_snapshot_get *outer = g->outer;
    struct simServer *s = g->s;
    struct fsmSnapshot *pin;
    struct snapshotFrame frame;

    free(g);
    if (status == 0 && snapshot != NULL && !s->stopped) {
        if (fsmSnapshotBegin(s->fsm, &pin) != 0) {
            serverFailStop(s, "snapshot image failed", RAFT_IOERR);
        } else {
            if (snapshotFrameBuild(pin, NULL, &frame) != 0) {
                serverFailStop(s, "snapshot image failed", RAFT_NOMEM);
            } else {
                raft_free(snapshot->bufs[0].base);
                snapshot->bufs[0].base = frame.base;
                snapshot->bufs[0].len = frame.len;
                s->sim->images_sent++;
            }
            fsmSnapshotEnd(pin);
        }
    }
    outer->cb(outer, snapshot, status);
}

static int ioSnapshotGet(struct raft_io *io,
                         struct raft_io_snapshot_get *req,
                         raft_io_snapshot_get_cb cb)
{
    struct simServer *s = serverOfIo(io);
    struct simSnapshotGet *g = malloc(sizeof *g);
    int rv;

    g->inner.data = g;
    g->outer = req;
    g->s = s;
    req->cb = cb;
    rv = s->io_snapshot_get(io, &g->inner, snapshotGetCb);
    if (rv != 0) {
        free(g);
    }
    return rv;
}

/* raft_fsm.apply of every server: the production glue, plus a record of
 * what was applied at which index, with every reply of the entry. */
static int simApply(struct raft_fsm *rfsm, const struct raft_buffer *buf, void **result)
{
    struct simServer *s =
        (struct simServer *)((char *)rfsm - offsetof(struct simServer, adapter));
    struct sim *sim = s->sim;
    struct raft_buffer alt;
    const struct glueResult *res;
    raft_index index;
    uint64_t skipped;
    unsigned n_cmds;
    void *broken;
    void *replies;
    size_t replies_len;
    int rv;

    if (s->stopped) {
        return RAFT_IOERR; /* the process is gone */
    }
    index = raft_last_applied(&sim->f.servers[s->index].raft) + 1;
    skipped = s->adapter.skipped;
    /* The glue with the entry's index, as glueApply gives it under
     * libraft: it skips what the state holds (an image further on than
     * its snapshot's index). */
    (void)rfsm;
    broken = simBrokenDelete(sim, buf, &alt.len);
    if (broken != NULL) {
        alt.base = broken;
        rv = fsmAdapterApplyAt(&s->adapter, index, &alt, result);
        raft_free(broken);
    } else {
        rv = fsmAdapterApplyAt(&s->adapter, index, buf, result);
    }
    if (rv != 0) {
        return rv; /* the glue called adapterFatal */
    }
    res = *result;
    if (s->adapter.skipped != skipped) {
        simLogRecord(sim, s->index, index, buf->base, buf->len, NULL, 0);
        return 0;
    }
    /* With no raft handed to the glue, every server keeps every reply. */
    n_cmds = simCommandCount(buf->base, buf->len);
    if (res->n != n_cmds) {
        simFail(sim, SIM_INV_IDENTICAL, index,
                "server %u: the glue gave %u replies to entry %llu of %u commands", s->index,
                res->n, (unsigned long long)index, n_cmds);
    }
    replies = simRepliesPack(res, &replies_len);
    simLogRecord(sim, s->index, index, buf->base, buf->len, replies, replies_len);
    free(replies);
    return 0;
}

/* Create server @i's fsm and glue, add it to the fixture, set raft up. */
static int serverCreate(struct sim *sim, unsigned i)
{
    struct simServer *s = &sim->servers[i];
    struct fsmConfig config;
    struct raft *raft;
    struct raft_io *io;
    char errmsg[256];
    int rv;

    memset(s, 0, sizeof *s);
    s->sim = sim;
    s->index = i;
    s->zone = i % 3;
    /* Disk latency is constant for a server (appends must complete in
     * order); now and then one server has a slow disk. */
    s->disk_latency = simChance(&sim->rng, 15) ? 150 + simRandN(&sim->rng, 400)
                                                : 2 + simRandN(&sim->rng, 40);
    s->net_latency = 15;
    snprintf(s->dir, sizeof s->dir, "%s/s%u", sim->tmp, i);
    fsmConfigDefaults(&config);
    config.dir = s->dir;
    config.map_size = SIM_MAP_SIZE;
    /* Small sweep slices (from the seed, equal on every server), so that
     * a purge or delete of a few messages takes several. */
    config.sweep_keys = 1 + (unsigned)(sim->seed % 23);
    rv = fsmOpen(&config, &s->fsm, errmsg);
    if (rv != 0) {
        fprintf(stderr, "sim: fsmOpen %s: %s\n", s->dir, errmsg);
        return -1;
    }
    fsmAdapterInit(&s->adapter, s->fsm);
    s->adapter.fatal = adapterFatal;
    s->adapter.arg = s;
    s->adapter.raft_fsm.apply = simApply;

    /* raft_init refuses snapshot_async unless io.version >= 2, and the
     * fixture never sets it. */
    sim->f.servers[i].io.version = 2;
    rv = raft_fixture_grow(&sim->f, &s->adapter.raft_fsm);
    if (rv != 0) {
        fprintf(stderr, "sim: raft_fixture_grow: %s\n", raft_strerror(rv));
        return -1;
    }
    io = &sim->f.servers[i].io;
    s->io_append = io->append;
    s->io_truncate = io->truncate;
    s->io_set_term = io->set_term;
    s->io_set_vote = io->set_vote;
    s->io_snapshot_put = io->snapshot_put;
    s->io_snapshot_get = io->snapshot_get;
    s->io_send = io->send;
    s->io_start = io->start;
    io->start = ioStart;
    io->send = ioSend;
    io->snapshot_put = ioSnapshotPut;
    if (sim->seed % 2 == 1) {
        io->snapshot_get = ioSnapshotGet;
    }
    io->append = ioAppend;
    io->truncate = ioTruncate;
    io->set_term = ioSetTerm;
    io->set_vote = ioSetVote;

    raft = &sim->f.servers[i].raft;
    raft_set_pre_vote(raft, true);
    raft_set_snapshot_threshold(raft, sim->p.snapshot_threshold);
    raft_set_snapshot_trailing(raft, sim->p.snapshot_trailing);
    raft_fixture_set_randomized_election_timeout(&sim->f, i, 1000 + simRandN(&sim->rng, 1000));
    raft_fixture_set_disk_latency(&sim->f, i, s->disk_latency);
    sim->n = i + 1;
    return 0;
}

int simClusterStart(struct sim *sim)
{
    struct raft_configuration conf;
    unsigned i;
    int rv;

    simCurrent = sim;
    memset(&sim->f, 0, sizeof sim->f);
    raft_fixture_initialize(&sim->f);
    for (i = 0; i < sim->p.n_servers; i++) {
        if (serverCreate(sim, i) != 0) {
            return -1;
        }
    }
    rv = raft_fixture_configuration(&sim->f, sim->n, &conf);
    if (rv == 0) {
        rv = raft_fixture_bootstrap(&sim->f, &conf);
        raft_configuration_close(&conf);
    }
    if (rv == 0) {
        rv = raft_fixture_start(&sim->f);
    }
    if (rv != 0) {
        fprintf(stderr, "sim: bootstrap/start: %s\n", raft_strerror(rv));
        return -1;
    }
    for (i = 0; i < sim->n; i++) {
        sim->servers[i].started = true;
    }
    return 0;
}

void simClusterClose(struct sim *sim)
{
    unsigned i;

    sim->closing = true;
    simProposalsDrop(sim, RAFT_SHUTDOWN);
    if (sim->n > 0) {
        raft_fixture_close(&sim->f);
    }
    for (i = 0; i < sim->n; i++) {
        if (sim->servers[i].fsm != NULL) {
            fsmClose(sim->servers[i].fsm);
        }
    }
    simCurrent = NULL;
}

/* ------------------------------------------------------------------------ */
/* Node layer. */

static void barrierCb(struct raft_barrier *req, int status)
{
    struct simServer *s = req->data;
    struct raft *raft = &s->sim->f.servers[s->index].raft;

    s->barrier_pending = false;
    if (status != 0 || s->sim->closing) {
        return;
    }
    if (raft_state(raft) == RAFT_LEADER && raft->current_term == s->barrier_term) {
        s->ready_term = s->barrier_term;
        simEvent(s->sim, "server %u ready leader term %llu applied %llu", s->index,
                 (unsigned long long)s->ready_term,
                 (unsigned long long)raft_last_applied(raft));
    }
}

/* raft/replica.c watchLeadership, for one server. */
static void watchLeadership(struct sim *sim, struct simServer *s)
{
    struct raft *raft = &sim->f.servers[s->index].raft;

    if (preVoteGuardUpdate(&s->prevote, raft, raft_fixture_time(&sim->f))) {
        simEvent(sim, "server %u pre-vote %s", s->index, s->prevote.off ? "off" : "on");
    }
    if (raft_state(raft) != RAFT_LEADER) {
        s->ready_term = 0;
        return;
    }
    if (s->ready_term == raft->current_term || s->barrier_pending) {
        return;
    }
    s->barrier.data = s;
    s->barrier_term = raft->current_term;
    if (raft_barrier(raft, &s->barrier, barrierCb) == 0) {
        s->barrier_pending = true;
    }
}

void simClusterStep(struct sim *sim)
{
    unsigned i;
    bool late = sim->p.late_pct > 0 && simChance(&sim->batch_rng, sim->p.late_pct);

    /* What the step's clients and ticks proposed, before time moves on:
     * qraftd flushes its batch at the end of the loop iteration. Now and
     * then raft's own I/O of the same iteration comes first (a message
     * that deposes the leader, say). */
    if (!late) {
        simClusterFlush(sim);
    }
    raft_fixture_step(&sim->f);
    if (late) {
        simClusterFlush(sim);
    }
    sim->steps++;
    for (i = 0; i < sim->n; i++) {
        struct simServer *s = &sim->servers[i];
        if (!s->started || s->stopped) {
            continue;
        }
        /* libraft 0.15 turns itself unavailable when an I/O method fails
         * synchronously inside a handler (the fixture's io fault on send
         * does it): the node is then dead while its process runs. qraftd
         * would have to stop; the simulator stops it. */
        if (raft_state(&sim->f.servers[i].raft) == RAFT_UNAVAILABLE) {
            serverFailStop(s, "raft became unavailable", RAFT_IOERR);
            continue;
        }
        /* A paused process runs nothing of its own. */
        if (s->killed) {
            continue;
        }
        if (simChance(&sim->rng, 70) && fsmFlush(s->fsm) != 0) {
            serverFailStop(s, "state machine flush failed", RAFT_IOERR);
            continue;
        }
        watchLeadership(sim, s);
    }
    if (sim->f.leader_id != sim->last_leader) {
        sim->last_leader = sim->f.leader_id;
        simEvent(sim, "fixture leader is %llu", (unsigned long long)sim->f.leader_id);
    }
}

unsigned simReadyLeader(struct sim *sim)
{
    unsigned i, best = sim->n;
    raft_term term = 0;

    for (i = 0; i < sim->n; i++) {
        struct raft *raft = &sim->f.servers[i].raft;
        if (simServerUp(sim, i) && raft_state(raft) == RAFT_LEADER &&
            sim->servers[i].ready_term == raft->current_term && raft->current_term > term) {
            best = i;
            term = raft->current_term;
        }
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Network. */

void simNetworkApply(struct sim *sim)
{
    unsigned i, j;

    for (i = 0; i < sim->n; i++) {
        sim->f.servers[i].alive = sim->servers[i].started && !sim->servers[i].killed &&
                                  !sim->servers[i].stopped;
    }
    /* Connect first: the fixture saturates only connected links. */
    for (i = 0; i < sim->n; i++) {
        for (j = 0; j < sim->n; j++) {
            if (i != j) {
                raft_fixture_reconnect(&sim->f, i, j);
            }
        }
    }
    for (i = 0; i < sim->n; i++) {
        for (j = 0; j < sim->n; j++) {
            bool sat;
            if (i == j) {
                continue;
            }
            sat = sim->saturated[i][j] || !sim->f.servers[i].alive || !sim->f.servers[j].alive;
            if (sat) {
                raft_fixture_saturate(&sim->f, i, j);
            } else {
                raft_fixture_desaturate(&sim->f, i, j);
            }
        }
    }
    for (i = 0; i < sim->n; i++) {
        for (j = 0; j < sim->n; j++) {
            if (i != j && sim->cut[i][j]) {
                raft_fixture_disconnect(&sim->f, i, j);
            }
        }
    }
}

void simKill(struct sim *sim, unsigned i)
{
    sim->servers[i].killed = true;
    simNetworkApply(sim);
}

void simRevive(struct sim *sim, unsigned i)
{
    sim->servers[i].killed = false;
    simNetworkApply(sim);
}

/* ------------------------------------------------------------------------ */
/* Growing the cluster by one server. */

int simGrow(struct sim *sim)
{
    unsigned i = sim->n;
    int rv;

    if (i >= SIM_SERVERS_MAX) {
        return -1;
    }
    if (serverCreate(sim, i) != 0) {
        return -1;
    }
    rv = raft_start(&sim->f.servers[i].raft);
    if (rv != 0) {
        fprintf(stderr, "sim: raft_start of grown server: %s\n", raft_strerror(rv));
        return -1;
    }
    sim->servers[i].started = true;
    sim->grow_index = i;
    simNetworkApply(sim);
    simEvent(sim, "grow: server %u started (id %u)", i, i + 1);
    return 0;
}

static void changeCb(struct raft_change *req, int status)
{
    struct sim *sim = req->data;

    if (sim == NULL || sim->closing) {
        return;
    }
    if (req == sim->change) {
        sim->change_pending = false;
        simEvent(sim, "grow: membership change done: %s",
                 status == 0 ? "ok" : raft_strerror(status));
    }
}

void simGrowTick(struct sim *sim)
{
    unsigned leader, k;
    struct raft *raft;
    raft_id id;
    int role = -1;
    int rv;

    if (sim->grow_index == 0 || sim->grow_done) {
        return;
    }
    if (sim->change_pending) {
        /* A change whose callback never comes is abandoned (its memory is
         * left to raft). */
        if (sim->f.time - sim->change_at < 20000) {
            return;
        }
        sim->change->data = NULL;
        sim->change_pending = false;
    }
    leader = simReadyLeader(sim);
    if (leader == sim->n) {
        return;
    }
    raft = &sim->f.servers[leader].raft;
    id = sim->grow_index + 1;
    for (k = 0; k < raft->configuration.n; k++) {
        if (raft->configuration.servers[k].id == id) {
            role = raft->configuration.servers[k].role;
        }
    }
    if (role == RAFT_VOTER) {
        sim->grow_done = true;
        simEvent(sim, "grow: server %u is a voter", sim->grow_index);
        return;
    }
    sim->change = calloc(1, sizeof *sim->change);
    if (sim->change == NULL) {
        return;
    }
    sim->change->data = sim;
    if (role == -1) {
        rv = raft_add(raft, sim->change, id, sim->f.servers[sim->grow_index].address, changeCb);
    } else {
        rv = raft_assign(raft, sim->change, id, RAFT_VOTER, changeCb);
    }
    if (rv != 0) {
        free(sim->change);
        sim->change = NULL;
        return;
    }
    sim->change_pending = true;
    sim->change_at = sim->f.time;
    simEvent(sim, "grow: %s server %u on leader %u", role == -1 ? "add" : "assign voter",
             sim->grow_index, leader);
}

/* ------------------------------------------------------------------------ */
/* Invariant 1: byte-identical state. */

int simCompareSnapshots(struct sim *sim)
{
    void *first = NULL;
    size_t first_len = 0;
    unsigned first_server = 0;
    unsigned i;
    int result = 0;

    for (i = 0; i < sim->n; i++) {
        struct simServer *s = &sim->servers[i];
        struct fsmSnapshot *snap;
        void *buf;
        size_t len, k;

        if (!simServerUp(sim, i) || (i == sim->grow_index && !sim->grow_done)) {
            continue;
        }
        if (fsmSnapshotBegin(s->fsm, &snap) != 0) {
            simFail(sim, SIM_INV_IDENTICAL, 0, "server %u: fsmSnapshotBegin failed: %s", i,
                    fsmErrmsg(s->fsm));
            result = -1;
            break;
        }
        if (fsmSnapshotWrite(snap, malloc, &buf, &len) != 0) {
            fsmSnapshotEnd(snap);
            simFail(sim, SIM_INV_IDENTICAL, 0, "server %u: fsmSnapshotWrite failed", i);
            result = -1;
            break;
        }
        fsmSnapshotEnd(snap);
        if (first == NULL) {
            first = buf;
            first_len = len;
            first_server = i;
            continue;
        }
        if (len != first_len || memcmp(buf, first, len) != 0) {
            for (k = 0; k < len && k < first_len && ((char *)buf)[k] == ((char *)first)[k]; k++) {
            }
            simFail(sim, SIM_INV_IDENTICAL,
                    raft_last_applied(&sim->f.servers[i].raft),
                    "snapshots differ: server %u (%zu bytes) and server %u (%zu bytes), "
                    "first difference at byte %zu; both applied index %llu",
                    first_server, first_len, i, len, k,
                    (unsigned long long)raft_last_applied(&sim->f.servers[i].raft));
            result = -1;
        }
        free(buf);
        if (result != 0) {
            break;
        }
    }
    free(first);
    return result;
}

void simPrintServers(struct sim *sim, FILE *out)
{
    static const char *const states[] = {"unavailable", "follower", "candidate", "leader"};
    unsigned i;

    fprintf(out, "servers at t=%.3fs:\n", (double)sim->f.time / 1000.0);
    for (i = 0; i < sim->n; i++) {
        struct raft *raft = &sim->f.servers[i].raft;
        struct simServer *s = &sim->servers[i];
        raft_id leader;
        const char *addr;
        int st = raft_state(raft);

        raft_leader(raft, &leader, &addr);
        fprintf(out, "  s%u: %s term %llu leader %llu commit %llu applied %llu ready %d%s%s "
                "disk %u ms\n",
                i, st >= 0 && st <= 3 ? states[st] : "?", (unsigned long long)raft->current_term,
                (unsigned long long)leader, (unsigned long long)raft->commit_index,
                (unsigned long long)raft_last_applied(raft),
                s->ready_term != 0 && s->ready_term == raft->current_term,
                s->killed ? " PAUSED" : "", s->stopped ? " STOPPED" : "", s->disk_latency);
    }
}
