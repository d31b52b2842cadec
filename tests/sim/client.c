/* Client sessions, retried exactly as libqraft retries (client/qraft.h):
 *
 *   - connection failure (server paused or stopped, or no reply within the
 *     request timeout): next server after a backoff of 50 ms doubling to
 *     500 ms; every pending request is resent in seq order;
 *   - NotLeader: to the leader the server names, at once (after more hops
 *     than servers without progress, as a connection failure);
 *   - Unavailable (leader not ready), TooManyInFlight: that request again
 *     after 50, 100, 200, 400, then 500 ms; later requests wait behind it;
 *   - UnknownOutcome (leadership lost in flight): that request again at
 *     once, with the same seq;
 *   - OutOfOrder: every pending request from the first unanswered, in order.
 *
 * Each attempt is one command of its server's batch entry (propose.c), with
 * its own callback; a final reply to any attempt completes the request,
 * retryable outcomes count only for the latest.
 * The acknowledged mark is the lowest seq without a final reply.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* No reply within this many ms of fixture time: the connection is
 * considered lost. */
#define SIM_REQUEST_TIMEOUT 4000

/* One attempt in flight. */
struct simAttempt
{
    struct raft_apply req;
    struct simClient *c;
    uint64_t seq;
    unsigned attempt;
    unsigned server;
};

void simClientInit(struct sim *sim, struct simClient *c, unsigned index)
{
    memset(c, 0, sizeof *c);
    c->sim = sim;
    c->index = index;
    do {
        c->id = simRand(&sim->rng);
    } while (c->id == 0);
    c->next_seq = 1;
    c->window = sim->p.window;
    c->target = simRandN(&sim->rng, sim->n);
}

/* The lowest seq without a final reply (the acknowledged mark). */
static uint64_t clientAck(struct simClient *c)
{
    uint64_t s;

    for (s = c->next_seq > c->window ? c->next_seq - c->window : 1; s < c->next_seq; s++) {
        struct simRequest *r = &c->req[s % SIM_WINDOW_MAX];
        if (r->seq == s && !r->done) {
            return s;
        }
    }
    return c->next_seq;
}

unsigned simClientPending(struct simClient *c)
{
    return (unsigned)(c->next_seq - clientAck(c));
}

bool simClientHasRoom(struct simClient *c)
{
    return simClientPending(c) < c->window;
}

void simClientSubmit(struct simClient *c, unsigned op, unsigned queue,
                     const void *args, size_t len)
{
    struct simRequest *r = &c->req[c->next_seq % SIM_WINDOW_MAX];

    free(r->args);
    memset(r, 0, sizeof *r);
    r->seq = c->next_seq++;
    r->op = op;
    r->queue = queue;
    r->args = malloc(len);
    memcpy(r->args, args, len);
    r->args_len = len;
    c->issued++;
}

/* Forget every attempt in flight: they will be resent in seq order. */
static void clientResendAll(struct simClient *c)
{
    uint64_t s;

    for (s = clientAck(c); s < c->next_seq; s++) {
        c->req[s % SIM_WINDOW_MAX].in_flight = false;
    }
}

static unsigned nextBackoff(unsigned b)
{
    return b == 0 ? 50 : (b * 2 > 500 ? 500 : b * 2);
}

/* The connection to the target failed: next server, after a backoff. */
static void clientConnectionFailed(struct simClient *c)
{
    struct sim *sim = c->sim;

    c->target = (c->target + 1) % sim->n;
    c->conn_backoff = nextBackoff(c->conn_backoff);
    c->conn_retry_at = sim->f.time + c->conn_backoff;
    c->hops = 0;
    clientResendAll(c);
}

static void attemptCb(struct raft_apply *req, int status, void *result)
{
    struct simAttempt *a = req->data;
    struct simClient *c = a->c;
    struct sim *sim = c->sim;
    struct simRequest *r = &c->req[a->seq % SIM_WINDOW_MAX];
    const struct glueResult *res = result;
    const struct fsmReply *reply = status == 0 ? &res->replies[0] : NULL;
    bool latest;
    char code[64];

    if (sim->closing || r->seq != a->seq || r->done) {
        goto out;
    }
    latest = a->attempt == r->attempt;
    if (sim->servers[a->server].stopped) {
        /* The process is gone: the client sees a reset connection. */
        if (latest) {
            r->in_flight = false;
        }
        goto out;
    }
    if (status != 0) {
        /* UnknownOutcome (leadership lost in flight), or nothing proposed
         * (raft_apply refused the batch at the flush: NotLeader): again at
         * once, same seq; a server that is no longer the leader refuses it
         * then and names the leader. */
        if (latest) {
            r->in_flight = false;
        }
        goto out;
    }
    mpReplyCode(reply->data, reply->len, code, sizeof code);
    if (strcmp(code, "OutOfOrder") == 0) {
        if (latest) {
            clientResendAll(c);
        }
        goto out;
    }
    if (strcmp(code, "TooManyInFlight") == 0) {
        if (latest) {
            r->in_flight = false;
            r->backoff = nextBackoff(r->backoff);
            r->retry_at = sim->f.time + r->backoff;
        }
        goto out;
    }
    if (strcmp(code, "SessionExpired") == 0) {
        simFail(sim, SIM_INV_SENT, raft_last_applied(&sim->f.servers[a->server].raft),
                "client %u seq %llu (ack mark %llu) got SessionExpired: its reply was freed "
                "although the client never acknowledged it",
                c->index, (unsigned long long)a->seq, (unsigned long long)clientAck(c));
    }
    r->done = true;
    r->in_flight = false;
    c->completed++;
    c->conn_backoff = 0;
    c->hops = 0;
    simWorkloadReply(c, r, reply->data, reply->len);
out:
    free(a);
}

void simClientPump(struct simClient *c)
{
    struct sim *sim = c->sim;
    raft_time now = sim->f.time;
    uint64_t ack = clientAck(c);
    uint64_t s;

    if (now < c->conn_retry_at) {
        return;
    }
    for (s = ack; s < c->next_seq; s++) {
        struct simRequest *r = &c->req[s % SIM_WINDOW_MAX];
        struct simAttempt *a;
        struct fsmCommand cmd;
        raft_id leader_id;
        const char *leader_addr;
        int rv;

        if (r->done) {
            continue;
        }
        if (r->in_flight) {
            if (now - r->sent_at > SIM_REQUEST_TIMEOUT) {
                clientConnectionFailed(c);
                return;
            }
            continue;
        }
        if (now < r->retry_at) {
            return; /* later requests wait behind it */
        }
        memset(&cmd, 0, sizeof cmd);
        cmd.op = r->op;
        cmd.client_id = c->id;
        cmd.seq = r->seq;
        cmd.ack = ack;
        cmd.args = r->args;
        cmd.args_len = r->args_len;
        a = malloc(sizeof *a);
        a->req.data = a;
        a->c = c;
        a->seq = r->seq;
        a->attempt = r->attempt + 1;
        a->server = c->target;
        rv = simPropose(sim, c->target, &cmd, &a->req, attemptCb);
        if (rv == 0) {
            r->attempt++;
            r->in_flight = true;
            r->sent_at = now;
            continue;
        }
        free(a);
        switch (rv) {
            case SIM_ENOTLEADER:
                raft_leader(&sim->f.servers[c->target].raft, &leader_id, &leader_addr);
                if (leader_id != 0 && leader_id - 1 != c->target && leader_id <= sim->n &&
                    c->hops <= sim->n) {
                    c->target = (unsigned)(leader_id - 1);
                    c->hops++;
                    clientResendAll(c);
                } else {
                    clientConnectionFailed(c);
                }
                return;
            case SIM_ENOTREADY:
                r->backoff = nextBackoff(r->backoff);
                r->retry_at = now + r->backoff;
                return;
            default:
                clientConnectionFailed(c);
                return;
        }
    }
}
