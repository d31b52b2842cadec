/* Long polling: leader-local, never replicated (DESIGN.md "Determinism and
 * time").
 *
 * The happy path: a ReceiveMessage is proposed with wait=true. When the
 * state machine has nothing to deliver and the effective WaitTimeSeconds is
 * above 0, it answers WouldWait, which consumes no session sequence; the
 * request is parked here, on its queue. It is proposed again (same session
 * sequence) as soon as something may be deliverable: a command on that
 * queue reports `wake` (a send, a delete that unblocks a FIFO group, a
 * visibility change to 0), or the earliest time the state machine reported
 * (`next_visible_ms`: a delay or a visibility timeout ending) arrives. Its
 * wait ends at its deadline: then it is proposed with wait=false, and the
 * state machine answers with messages or an empty list.
 *
 * One timer serves every waiter: it is armed at the earliest deadline or
 * visibility time, so idle waiters cost no CPU. Waiters of a closing
 * connection are dropped; on leadership loss every waiter gets NotLeader,
 * and the client retries at the new leader with the same sequence.
 */
#include "node/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct waitQueue
{
    char name[FSM_QUEUE_NAME_MAX + 1];
    struct pending *head, *tail; /* in arrival order */
    uint64_t next_visible_ms;    /* fsm clock; 0: nothing known */
    struct waitQueue *next;
};

static void timerCb(uv_timer_t *timer);

void longpollInit(struct server *s)
{
    memset(&s->longpoll, 0, sizeof s->longpoll);
    uv_timer_init(&s->loop, &s->longpoll.timer);
    s->longpoll.timer.data = s;
}

static struct waitQueue *queueFind(struct server *s, const char *name, bool create)
{
    struct waitQueue *q;

    for (q = s->longpoll.queues; q != NULL; q = q->next) {
        if (strcmp(q->name, name) == 0) {
            return q;
        }
    }
    if (!create) {
        return NULL;
    }
    q = calloc(1, sizeof *q);
    if (q == NULL) {
        return NULL;
    }
    snprintf(q->name, sizeof q->name, "%s", name);
    q->next = s->longpoll.queues;
    s->longpoll.queues = q;
    return q;
}

/* Free queues that have no waiters left. */
static void queuesPrune(struct server *s)
{
    struct waitQueue **link = &s->longpoll.queues;

    while (*link != NULL) {
        struct waitQueue *q = *link;
        if (q->head == NULL) {
            *link = q->next;
            free(q);
        } else {
            link = &q->next;
        }
    }
}

static void waiterUnlink(struct server *s, struct pending *p)
{
    struct waitQueue *q = p->wq;

    if (p->wprev != NULL) {
        p->wprev->wnext = p->wnext;
    } else {
        q->head = p->wnext;
    }
    if (p->wnext != NULL) {
        p->wnext->wprev = p->wprev;
    } else {
        q->tail = p->wprev;
    }
    p->wq = NULL;
    p->wprev = p->wnext = NULL;
    s->longpoll.n_waiters--;
}

/* Arm the timer at the earliest deadline or visibility time. */
static void rearm(struct server *s)
{
    uint64_t now = uv_now(&s->loop);
    uint64_t fsm_now = s->replica != NULL ? replicaNow(s->replica) : 0;
    uint64_t earliest = UINT64_MAX;
    struct waitQueue *q;
    struct pending *p;

    for (q = s->longpoll.queues; q != NULL; q = q->next) {
        if (q->head == NULL) {
            continue;
        }
        if (q->next_visible_ms != 0) {
            uint64_t at = now + (q->next_visible_ms > fsm_now ? q->next_visible_ms - fsm_now : 0);
            earliest = at < earliest ? at : earliest;
        }
        for (p = q->head; p != NULL; p = p->wnext) {
            earliest = p->deadline < earliest ? p->deadline : earliest;
        }
    }
    if (earliest == UINT64_MAX) {
        uv_timer_stop(&s->longpoll.timer);
        return;
    }
    /* +1: the state machine compares visible_at <= now_ms. */
    uv_timer_start(&s->longpoll.timer, timerCb, earliest > now ? earliest - now + 1 : 0, 0);
}

void longpollPark(struct server *s, struct pending *p, uint32_t wait_s,
                  uint64_t next_visible_ms)
{
    struct waitQueue *q;

    if (p->deadline == 0) {
        /* First time parked: the wait starts now. */
        p->deadline = uv_now(&s->loop) + (uint64_t)wait_s * 1000u;
    }
    q = queueFind(s, p->queue, true);
    if (q == NULL) {
        dispatchFail(p, QRAFT_EINTERNAL, "out of memory");
        return;
    }
    p->wq = q;
    p->wnext = NULL;
    p->wprev = q->tail;
    if (q->tail != NULL) {
        q->tail->wnext = p;
    } else {
        q->head = p;
    }
    q->tail = p;
    s->longpoll.n_waiters++;
    if (next_visible_ms != 0 &&
        (q->next_visible_ms == 0 || next_visible_ms < q->next_visible_ms)) {
        q->next_visible_ms = next_visible_ms;
    }
    rearm(s);
}

/* Waiters taken off their queues, in order, linked by wnext. */
struct chain
{
    struct pending *head, *tail;
};

static void chainAdd(struct chain *c, struct pending *p)
{
    p->wnext = NULL;
    if (c->tail != NULL) {
        c->tail->wnext = p;
    } else {
        c->head = p;
    }
    c->tail = p;
}

/* Move up to @n waiters of @q, oldest first, to @out. */
static void detach(struct server *s, struct waitQueue *q, uint32_t n, struct chain *out)
{
    while (q->head != NULL && n-- > 0) {
        struct pending *p = q->head;
        waiterUnlink(s, p);
        chainAdd(out, p);
    }
}

/* Propose every waiter of @chain again (@wait: the wait goes on). Each is
 * off every list first: proposing may close connections, which drains
 * waiters and prunes queues, and must not meet a list being walked. */
static void proposeChain(struct chain *c, bool wait)
{
    while (c->head != NULL) {
        struct pending *p = c->head;
        c->head = p->wnext;
        p->wnext = NULL;
        dispatchPropose(p, wait);
    }
}

void longpollNotify(struct server *s, const char *queue, uint32_t n, bool wake_all,
                    uint64_t next_visible_ms)
{
    struct chain woken = {NULL, NULL};
    struct waitQueue *q;

    if (s->longpoll.n_waiters == 0) {
        return;
    }
    if (wake_all) {
        for (q = s->longpoll.queues; q != NULL; q = q->next) {
            detach(s, q, UINT32_MAX, &woken);
        }
    } else if ((q = queueFind(s, queue, false)) != NULL) {
        if (next_visible_ms != 0 &&
            (q->next_visible_ms == 0 || next_visible_ms < q->next_visible_ms)) {
            q->next_visible_ms = next_visible_ms;
        }
        detach(s, q, n, &woken);
    }
    queuesPrune(s);
    proposeChain(&woken, true);
    rearm(s);
}

static void timerCb(uv_timer_t *timer)
{
    struct server *s = timer->data;
    uint64_t now = uv_now(&s->loop);
    uint64_t fsm_now = s->replica != NULL ? replicaNow(s->replica) : 0;
    struct chain woken = {NULL, NULL};
    struct chain due = {NULL, NULL};
    struct waitQueue *q;

    for (q = s->longpoll.queues; q != NULL; q = q->next) {
        struct pending *p = q->head;
        if (q->next_visible_ms != 0 && q->next_visible_ms <= fsm_now) {
            /* Something may have become visible: every waiter tries; those
             * that find nothing come back with the next time. */
            q->next_visible_ms = 0;
            detach(s, q, UINT32_MAX, &woken);
            continue;
        }
        while (p != NULL) {
            struct pending *next = p->wnext;
            if (p->deadline <= now) {
                waiterUnlink(s, p);
                chainAdd(&due, p);
            }
            p = next;
        }
    }
    queuesPrune(s);
    proposeChain(&woken, true);
    proposeChain(&due, false);
    rearm(s);
}

/* Take the waiters (of @only, or all) off their queues and fail each. */
static void drainAll(struct server *s, struct conn *only, int code, const char *message)
{
    struct chain failed = {NULL, NULL};
    struct waitQueue *q;

    for (q = s->longpoll.queues; q != NULL; q = q->next) {
        struct pending *p = q->head;
        while (p != NULL) {
            struct pending *next = p->wnext;
            if (only == NULL || p->conn == only) {
                waiterUnlink(s, p);
                chainAdd(&failed, p);
            }
            p = next;
        }
    }
    queuesPrune(s);
    while (failed.head != NULL) {
        struct pending *p = failed.head;
        failed.head = p->wnext;
        p->wnext = NULL;
        dispatchFail(p, code, message);
    }
}

void longpollConnClosed(struct server *s, struct conn *c)
{
    if (s->longpoll.n_waiters > 0) {
        drainAll(s, c, QRAFT_EUNAVAILABLE, "connection closed");
        rearm(s);
    }
}

bool longpollCancel(struct server *s, struct conn *c, uint64_t id)
{
    struct waitQueue *q;
    struct pending *p;

    for (q = s->longpoll.queues; q != NULL; q = q->next) {
        for (p = q->head; p != NULL; p = p->wnext) {
            if (p->conn == c && p->id == id) {
                waiterUnlink(s, p);
                queuesPrune(s);
                dispatchFail(p, QRAFT_EUNAVAILABLE, "cancelled by the client");
                rearm(s);
                return true;
            }
        }
    }
    return false;
}

void longpollLeadershipLost(struct server *s)
{
    if (s->longpoll.n_waiters > 0) {
        drainAll(s, NULL, QRAFT_ENOTLEADER, "leadership lost during a long poll: retry");
        rearm(s);
    }
}

void longpollClose(struct server *s, int code, const char *message)
{
    drainAll(s, NULL, code, message);
    uv_close((uv_handle_t *)&s->longpoll.timer, NULL);
}
