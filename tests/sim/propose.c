/* Proposals as qraftd makes them (raft/replica.c): the commands proposed on
 * a server during one loop iteration go to raft as one batch entry
 * (raft/batch.c), in one raft_apply.
 *
 * The happy path: simPropose refuses at once what qraftd refuses at once
 * (server down, not the leader, leader not ready), stamps now_ms and
 * appends the command to the server's pending batch, with the attempt that
 * waits for it; at the end of the step (simClusterFlush, called before the
 * next raft_fixture_step, where qraftd's check and prepare handles flush)
 * each pending batch is handed to raft with one raft_apply; when the entry
 * is applied, batchAppliedCb hands attempt i the reply to command i, as a
 * struct glueResult of one reply, so that the callbacks keep the shape they
 * had with one entry per command.
 *
 * How much goes in one entry is drawn from the seed (simParams.batch_max):
 * a batch that is full is closed and the next command starts another, all
 * flushed at the same point (qraftd closes a batch early at 1 MiB). Some
 * seeds also turn a one-command batch into a single-command entry of the
 * older format now and then (simParams.legacy_pct): a log of an upgraded
 * cluster mixes both.
 *
 * Failure modes:
 *   - raft_apply fails at the flush (leadership went, or memory): nothing
 *     of the batch reached the log; every attempt gets that status (the
 *     client retries the same seq, as after NotLeader);
 *   - leadership is lost with the entry in flight, or raft closes: every
 *     attempt gets raft's status (the outcome is unknown; same seq again);
 *   - the entry is applied but the glue kept fewer replies than commands
 *     (out of memory): the attempts without a reply get RAFT_NOMEM;
 *   - the simulation ends with batches pending: simProposalsDrop gives
 *     each attempt RAFT_SHUTDOWN.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* Who waits for a command of a batch. */
struct simWaiter
{
    struct raft_apply *req;
    raft_apply_cb cb;
};

/* A batch entry being written or in flight: its commands and who waits
 * for each, in the same order. */
struct simBatch
{
    struct raft_apply req; /* the batch's own request to raft */
    struct batchWriter w;
    unsigned n;
    unsigned cap;
    struct simWaiter *waiters;
    struct simBatch *next; /* the server's next pending batch */
};

/* Tell every waiter of @b @status (no reply) and free @b. */
static void batchFail(struct simBatch *b, int status)
{
    unsigned i;

    batchWriterDiscard(&b->w);
    for (i = 0; i < b->n; i++) {
        b->waiters[i].cb(b->waiters[i].req, status, NULL);
    }
    free(b->waiters);
    free(b);
}

static void batchAppliedCb(struct raft_apply *req, int status, void *result)
{
    struct simBatch *b = req->data;
    const struct glueResult *res = result;
    struct glueResult one;
    unsigned i;

    if (status != 0) {
        batchFail(b, status);
        return;
    }
    for (i = 0; i < b->n; i++) {
        if (i < res->n) {
            one.n = 1;
            one.replies = &res->replies[i];
            b->waiters[i].cb(b->waiters[i].req, 0, &one);
        } else {
            b->waiters[i].cb(b->waiters[i].req, RAFT_NOMEM, NULL);
        }
    }
    free(b->waiters);
    free(b);
}

/* The pending batch of @s that takes the next command: the last one, or a
 * new one when there is none or it is full. NULL if out of memory. */
static struct simBatch *batchOpen(struct sim *sim, struct simServer *s)
{
    struct simBatch *b = s->batches_last;

    if (b != NULL && b->n < sim->p.batch_max) {
        return b;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    if (s->batches_last != NULL) {
        s->batches_last->next = b;
    } else {
        s->batches = b;
    }
    s->batches_last = b;
    return b;
}

int simPropose(struct sim *sim,
               unsigned i,
               struct fsmCommand *cmd,
               struct raft_apply *req,
               raft_apply_cb cb)
{
    struct simServer *s = &sim->servers[i];
    struct raft *raft = &sim->f.servers[i].raft;
    uint8_t bodies[FSM_BODY_DIGESTS_MAX];
    struct simBatch *b;
    uint64_t now, applied;
    int rv;

    if (!simServerUp(sim, i)) {
        return SIM_EDOWN;
    }
    if (raft_state(raft) != RAFT_LEADER || raft->transfer != NULL) {
        return SIM_ENOTLEADER;
    }
    if (s->ready_term != raft->current_term) {
        return SIM_ENOTREADY;
    }
    b = batchOpen(sim, s);
    if (b == NULL) {
        return SIM_ENOMEM;
    }
    if (b->n == b->cap) {
        unsigned cap = b->cap > 0 ? b->cap * 2 : 8;
        struct simWaiter *waiters = realloc(b->waiters, cap * sizeof *waiters);
        if (waiters == NULL) {
            return SIM_ENOMEM; /* an empty batch stays, flushed as nothing */
        }
        b->waiters = waiters;
        b->cap = cap;
    }
    now = simNowMs(sim);
    applied = fsmLastNow(s->fsm);
    if (now < s->last_stamp) {
        now = s->last_stamp;
    }
    if (now < applied) {
        now = applied;
    }
    s->last_stamp = now;
    cmd->now_ms = now;
    /* As replicaPropose: bodies hashed once, by the proposer. */
    fsmCommandHashBodies(cmd, bodies);
    rv = batchWriterAdd(&b->w, cmd);
    cmd->bodies = NULL;
    cmd->bodies_len = 0;
    if (rv != 0) {
        return SIM_ENOMEM;
    }
    b->waiters[b->n].req = req;
    b->waiters[b->n].cb = cb;
    b->n++;
    return 0;
}

/* The entry to hand raft for @b: the batch, or now and then (seeds with
 * legacy_pct) its only command as a single-command entry. On success
 * buf->base is from raft_malloc and @b's writer is empty. */
static int batchEntry(struct sim *sim, struct simBatch *b, struct raft_buffer *buf)
{
    struct batchReader r;
    const void *cmd;
    size_t len;

    if (b->n == 1 && sim->p.legacy_pct > 0 && simChance(&sim->batch_rng, sim->p.legacy_pct) &&
        batchReaderInit(&r, b->w.base, b->w.len) == 0 && batchReaderNext(&r, &cmd, &len)) {
        buf->base = raft_malloc(len);
        if (buf->base == NULL) {
            return RAFT_NOMEM;
        }
        memcpy(buf->base, cmd, len);
        buf->len = len;
        batchWriterDiscard(&b->w);
        return 0;
    }
    batchWriterTake(&b->w, buf);
    return 0;
}

/* Hand server @i's pending batches to raft, one raft_apply each. */
static void serverFlush(struct sim *sim, unsigned i)
{
    struct simServer *s = &sim->servers[i];
    struct simBatch *b = s->batches;

    /* Taken out first: a callback may propose again. */
    s->batches = NULL;
    s->batches_last = NULL;
    while (b != NULL) {
        struct simBatch *next = b->next;
        struct raft_buffer buf;
        int rv;

        b->next = NULL;
        if (b->n == 0) {
            batchFail(b, RAFT_NOMEM); /* nobody waits: just freed */
            b = next;
            continue;
        }
        rv = s->stopped ? RAFT_NOTLEADER : batchEntry(sim, b, &buf);
        if (rv == 0) {
            b->req.data = b;
            rv = raft_apply(&sim->f.servers[i].raft, &b->req, &buf, 1, batchAppliedCb);
            if (rv != 0) {
                raft_free(buf.base);
            }
        }
        if (rv != 0) {
            /* Nothing of the batch reached the log. */
            simEvent(sim, "server %u: a batch of %u failed at the flush: %s", i, b->n,
                     raft_strerror(rv));
            sim->flush_failures++;
            batchFail(b, rv);
        }
        b = next;
    }
}

void simClusterFlush(struct sim *sim)
{
    unsigned i;

    for (i = 0; i < sim->n; i++) {
        if (sim->servers[i].batches != NULL) {
            serverFlush(sim, i);
        }
    }
}

void simProposalsDrop(struct sim *sim, int status)
{
    unsigned i;

    for (i = 0; i < sim->n; i++) {
        struct simServer *s = &sim->servers[i];
        struct simBatch *b = s->batches;
        s->batches = NULL;
        s->batches_last = NULL;
        while (b != NULL) {
            struct simBatch *next = b->next;
            batchFail(b, status);
            b = next;
        }
    }
}
