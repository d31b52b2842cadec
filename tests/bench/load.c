/* The load generator, and the queue helpers every row uses.
 *
 * N connections, one qraft_client each in its own thread, each keeping up
 * to W sends in flight with qraft_send_async: a completion callback issues
 * the next send, so the window stays full (closed loop) until the deadline
 * or the count is reached. Open loop: the sends are due at start + i /
 * rate and are issued at the next completion or wake-up at or after that
 * time; the latency runs from the due time, so a stall counts for every
 * send it held back (coordinated omission). libqraft has no step call that
 * returns before every request completes, so an open-loop sender reacts
 * only at completions and when idle: a send due while the window is full
 * waits, and that wait is counted.
 *
 * A tracked load (row 10) keeps each send's outcome and acknowledgement
 * time, and loadAckWatchStart/loadAckFirst time the first acknowledgement
 * of a send issued after a given instant (a kill).
 *
 * drainQueue: consumers doing receive (10) + DeleteMessageBatch until a
 * target, an empty queue or a time limit.
 *
 * Failure modes: a connection that cannot open or warm up is reported and
 * sends nothing; a failed send counts as an error and the window goes on;
 * a consumer's failed receive counts as an error; every loop is bounded by
 * count, time or the stop flag. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/qraft.h"
#include "tests/bench/bench.h"

/* Bytes of random letters a worker's bodies are cut from. */
#define BODY_POOL (1u << 20)

struct worker;

struct slot
{
    struct worker *w;
    uint64_t t0;  /* issue time (closed loop) or due time (open loop) */
    uint64_t seq; /* the send's number within its worker */
    struct slot *next_free;
};

struct worker
{
    const struct load *l;
    unsigned index;
    qraft_client *c;
    char *body;
    struct slot *slots;
    struct slot *free_slots;
    unsigned in_flight;
    uint64_t issued, ok, err;
    uint64_t start, deadline, end;
    double interval; /* open loop: ns between two sends of this worker */
    struct hist h;
    uint8_t *outcome; /* track: one per issued send */
    uint32_t *ack_ms; /* track: when each was acknowledged, ms from start */
    size_t outcome_cap;
    pthread_barrier_t *barrier;
    int open_err;
};

/* Failover: the kill time and the first acknowledgement of a send issued
 * after it (0: none yet). */
static atomic_uint_fast64_t kill_ns;
static atomic_uint_fast64_t first_ack_ns;

void loadAckWatchStart(uint64_t t)
{
    atomic_store(&first_ack_ns, 0);
    atomic_store(&kill_ns, t);
}

uint64_t loadAckFirst(void)
{
    return atomic_load(&first_ack_ns);
}

void loadAckWatchStop(void)
{
    atomic_store(&kill_ns, 0);
}

static void workerIssue(struct worker *w, uint64_t now);

static void onSent(void *arg, int status, const struct qraft_send_result *res)
{
    (void)res;
    struct slot *s = arg;
    struct worker *w = s->w;
    uint64_t now = nowNs();
    if (status == QRAFT_OK) {
        w->ok++;
        histRecord(&w->h, now - s->t0);
        uint64_t k = atomic_load(&kill_ns);
        if (k != 0 && s->t0 >= k) {
            uint_fast64_t zero = 0;
            atomic_compare_exchange_strong(&first_ack_ns, &zero, now);
        }
    } else {
        w->err++;
    }
    if (w->outcome != NULL) {
        w->outcome[s->seq] = status == QRAFT_OK ? SENT_OK : SENT_FAILED;
        w->ack_ms[s->seq] = (uint32_t)((now - w->start) / 1000000u);
    }
    w->in_flight--;
    s->next_free = w->free_slots;
    w->free_slots = s;
    workerIssue(w, now);
}

static bool workerMore(const struct worker *w, uint64_t now)
{
    if (w->l->stop != NULL && atomic_load(w->l->stop)) {
        return false;
    }
    if (w->l->count != 0 && w->issued >= w->l->count) {
        return false;
    }
    return w->l->seconds == 0 || now < w->deadline;
}

/* Issue every send the window and the schedule allow. */
static void workerIssue(struct worker *w, uint64_t now)
{
    while (w->in_flight < w->l->window && workerMore(w, now)) {
        uint64_t t0 = now;
        if (w->interval > 0) {
            t0 = w->start + (uint64_t)((double)w->issued * w->interval);
            if (t0 > now) {
                break;
            }
        }
        struct slot *s = w->free_slots;
        w->free_slots = s->next_free;
        s->t0 = t0;
        s->seq = w->issued;
        /* Each send's body starts at its own place in the worker's pool of
         * letters, so that no two bodies are alike. */
        uint64_t h = (w->issued + 1) * 0x9E3779B97F4A7C15ull;
        char *body = w->body + (h >> 40) % BODY_POOL;
        if (w->outcome != NULL) {
            if (s->seq >= w->outcome_cap) {
                size_t cap = w->outcome_cap ? w->outcome_cap * 2 : 65536;
                w->outcome = realloc(w->outcome, cap);
                memset(w->outcome + w->outcome_cap, 0, cap - w->outcome_cap);
                w->ack_ms = realloc(w->ack_ms, cap * sizeof *w->ack_ms);
                w->outcome_cap = cap;
            }
            /* The body names its sender: "c<worker>-<seq> " then padding. */
            int n = snprintf(body, w->l->size, "c%u-%llu ", w->index,
                             (unsigned long long)s->seq);
            body[n] = 'x';
        }
        if (w->l->stamp) {
            /* The body carries its due time, for the consumer's clock
             * (the same CLOCK_MONOTONIC: one process). */
            int n = snprintf(body, w->l->size, "t%llu ", (unsigned long long)t0);
            body[n] = 'x';
        }
        struct qraft_send_params params = QRAFT_SEND_PARAMS_INIT;
        char group[32], dedup[48];
        if (w->l->groups > 0) {
            /* Sends spread round-robin over the groups; every send is
             * distinct (its own deduplication id). */
            snprintf(group, sizeof group, "g%llu",
                     (unsigned long long)((w->issued * w->l->conns + w->index) % w->l->groups));
            snprintf(dedup, sizeof dedup, "d%u-%llu", w->index, (unsigned long long)w->issued);
            params.group_id = group;
            params.dedup_id = dedup;
        }
        w->issued++;
        w->in_flight++;
        int rv = qraft_send_async(w->c, w->l->queue, body, w->l->size,
                                  w->l->groups > 0 ? &params : NULL, onSent, s);
        if (rv != 0) {
            w->in_flight--;
            w->err++;
            s->next_free = w->free_slots;
            w->free_slots = s;
            break;
        }
    }
}

static void workerBatch(struct worker *w)
{
    struct qraft_send_entry e[QRAFT_BATCH_MAX];
    struct qraft_batch_result res[QRAFT_BATCH_MAX];
    for (unsigned i = 0; i < w->l->batch; i++) {
        e[i] = (struct qraft_send_entry){NULL, w->body, w->l->size, NULL};
    }
    for (uint64_t now = nowNs(); workerMore(w, now); now = nowNs()) {
        w->issued++;
        int rv = qraft_send_batch(w->c, w->l->queue, e, w->l->batch, res);
        uint64_t t1 = nowNs();
        if (rv != 0) {
            w->err += w->l->batch;
            continue;
        }
        histRecord(&w->h, t1 - now);
        for (unsigned i = 0; i < w->l->batch; i++) {
            if (res[i].status == QRAFT_OK) {
                w->ok++;
            } else {
                w->err++;
            }
        }
    }
}

static void *workerMain(void *arg)
{
    struct worker *w = arg;
    struct qraft_options o = {0, w->l->window + 16};
    w->open_err = qraft_open(opt.servers, &o, &w->c);
    if (w->open_err == 0) {
        /* Find the leader before the clock starts. */
        struct qraft_send_params wp = QRAFT_SEND_PARAMS_INIT;
        char dedup[32];
        snprintf(dedup, sizeof dedup, "warm-up-%u", w->index);
        wp.group_id = "warm-up";
        wp.dedup_id = dedup;
        w->open_err = qraft_send(w->c, w->l->queue, "warm-up", 7, w->l->groups > 0 ? &wp : NULL,
                                 NULL);
    }
    pthread_barrier_wait(w->barrier);
    w->start = nowNs();
    w->deadline = w->start + (uint64_t)(w->l->seconds * 1e9);
    if (w->open_err == 0) {
        if (w->l->batch > 0) {
            workerBatch(w);
        } else {
            for (;;) {
                uint64_t now = nowNs();
                workerIssue(w, now);
                if (w->in_flight > 0) {
                    qraft_wait(w->c);
                    continue;
                }
                if (w->interval > 0 && workerMore(w, now)) {
                    uint64_t due = w->start + (uint64_t)((double)w->issued * w->interval);
                    if (due > now) {
                        sleepNs(due - now);
                    }
                    continue;
                }
                break;
            }
        }
    }
    w->end = nowNs();
    return NULL;
}

void loadRun(const struct load *l, struct loadResult *r, struct sendTrack **tracks_out)
{
    struct worker *ws = calloc(l->conns, sizeof *ws);
    pthread_t *th = calloc(l->conns, sizeof *th);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, l->conns + 1);
    for (unsigned i = 0; i < l->conns; i++) {
        struct worker *w = &ws[i];
        w->l = l;
        w->index = i;
        w->barrier = &barrier;
        /* Random letters (raft's snapshots are LZ4-compressed: alike
         * bodies would make a snapshot of 1 GiB a few MiB). */
        w->body = malloc(BODY_POOL + l->size + 1);
        uint64_t x = 0x9E3779B97F4A7C15ull ^ (i + 1);
        for (size_t j = 0; j < BODY_POOL + l->size; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w->body[j] = (char)('a' + (x % 26));
        }
        w->body[BODY_POOL + l->size] = '\0';
        w->slots = calloc(l->window, sizeof *w->slots);
        for (unsigned j = 0; j < l->window; j++) {
            w->slots[j].w = w;
            w->slots[j].next_free = w->free_slots;
            w->free_slots = &w->slots[j];
        }
        if (l->rate > 0) {
            w->interval = 1e9 * l->conns / l->rate;
        }
        if (l->track) {
            w->outcome_cap = 65536;
            w->outcome = calloc(w->outcome_cap, 1);
            w->ack_ms = calloc(w->outcome_cap, sizeof *w->ack_ms);
        }
        histInit(&w->h);
        pthread_create(&th[i], NULL, workerMain, w);
    }
    pthread_barrier_wait(&barrier);
    uint64_t start = nowNs();
    memset(r, 0, sizeof *r);
    histInit(&r->h);
    uint64_t end = start;
    for (unsigned i = 0; i < l->conns; i++) {
        pthread_join(th[i], NULL);
        struct worker *w = &ws[i];
        if (w->open_err != 0) {
            fprintf(stderr, "bench: connection %u: %s\n", i, qraft_strerror(w->open_err));
        }
        r->ok += w->ok;
        r->err += w->err;
        histMerge(&r->h, &w->h);
        if (w->end > end) {
            end = w->end;
        }
    }
    r->elapsed = (double)(end - start) / 1e9;
    pthread_barrier_destroy(&barrier);
    free(th);
    for (unsigned i = 0; i < l->conns; i++) {
        qraft_close(ws[i].c);
        ws[i].c = NULL;
        free(ws[i].body);
        free(ws[i].slots);
    }
    struct sendTrack *tracks = tracks_out != NULL ? calloc(l->conns, sizeof *tracks) : NULL;
    for (unsigned i = 0; i < l->conns; i++) {
        if (tracks != NULL) {
            tracks[i] = (struct sendTrack){ws[i].issued, ws[i].outcome, ws[i].ack_ms};
        } else {
            free(ws[i].outcome);
            free(ws[i].ack_ms);
        }
    }
    free(ws);
    if (tracks_out != NULL) {
        *tracks_out = tracks;
    }
}

void queueFresh(const char *name)
{
    int rv = qraft_create_queue(admin, name, NULL, 0, NULL, 0);
    if (rv != 0) {
        die("create queue %s: %s", name, qraft_errmsg(admin));
    }
}

void queueFreshFifo(const char *name)
{
    struct qraft_attr a = {"FifoQueue", "true"};
    int rv = qraft_create_queue(admin, name, &a, 1, NULL, 0);
    if (rv != 0) {
        die("create queue %s: %s", name, qraft_errmsg(admin));
    }
}

/* After a queue is dropped: the nodes are settled once the three of them
 * used under this much CPU over one sample, or after the bound. */
#define SETTLE_SAMPLE_NS 250000000ull
#define SETTLE_IDLE_CPU_S 0.025
#define SETTLE_BOUND_S 60

void queueDrop(const char *name)
{
    uint64_t start = nowNs();
    double before = nodesCpuSeconds();

    qraft_delete_queue(admin, name);
    /* The queue's keys go in the background (bounded sweep slices, and
     * the snapshots that follow a row's load): let that finish, so that
     * the next row measures its own work only. */
    for (unsigned i = 0; before >= 0 && i < SETTLE_BOUND_S * 4; i++) {
        sleepNs(SETTLE_SAMPLE_NS);
        double now = nodesCpuSeconds();
        if (now < 0 || now - before < SETTLE_IDLE_CPU_S) {
            break;
        }
        before = now;
    }
    printf("       (%s dropped; nodes settled after %.1f s)\n", name,
           (double)(nowNs() - start) / 1e9);
    fflush(stdout);
}

void rowFromLoad(struct row *row, const struct load *l, const struct loadResult *r)
{
    row->measured = true;
    row->n = r->ok;
    row->errors = r->err;
    row->msgs_s = r->elapsed > 0 ? (double)r->ok / r->elapsed : 0;
    row->mb_s = row->msgs_s * (double)l->size / 1e6;
    rowLatency(row, &r->h);
}

/* Scenario 3: fill a backlog with pipelined sends, then drain it with
 * consumers doing receive (10) + DeleteMessageBatch, each keeping
 * CONSUMER_RECEIVES receives in flight (libqraft's async calls): the
 * counterpart of the peer's consumers, whose prefetch of 20 keeps two
 * batches of 10 on their way. A receive's callback deletes what it got
 * and asks for more; an empty receive stops that chain, and the consumer
 * waits 5 ms before it starts again. */
#define CONSUMER_RECEIVES 2

struct consumer
{
    const char *queue;
    atomic_uint_fast64_t *deleted;
    uint64_t target;
    uint64_t deadline;
    uint64_t received, errors;
    struct hist h; /* one receive + delete round */
    qraft_client *c;
    unsigned empties; /* empty receives in a row */
};

/* One round: a receive, then the delete of what it got. */
struct consumerRound
{
    struct consumer *cs;
    uint64_t t0;
};

static void consumerReceive(struct consumer *cs);

static void consumerDeleted(void *arg, int status, const struct qraft_batch_result *res,
                            size_t n)
{
    struct consumerRound *rd = arg;
    struct consumer *cs = rd->cs;
    uint64_t ok = 0;
    for (size_t i = 0; status == QRAFT_OK && i < n; i++) {
        ok += res[i].status == QRAFT_OK;
    }
    cs->errors += n - ok;
    atomic_fetch_add(cs->deleted, ok);
    histRecord(&cs->h, nowNs() - rd->t0);
    free(rd);
}

static void consumerReceived(void *arg, int status, const struct qraft_message *m, size_t n)
{
    struct consumerRound *rd = arg;
    struct consumer *cs = rd->cs;
    if (status != QRAFT_OK || n == 0) {
        cs->errors += status != QRAFT_OK;
        cs->empties += status == QRAFT_OK;
        free(rd);
        return;
    }
    cs->empties = 0;
    cs->received += n;
    struct qraft_delete_entry e[QRAFT_RECEIVE_MAX];
    for (size_t i = 0; i < n; i++) {
        e[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
    }
    if (qraft_delete_batch_async(cs->c, cs->queue, e, n, consumerDeleted, rd) != 0) {
        cs->errors += n;
        free(rd);
    }
    consumerReceive(cs);
}

/* Ask for more, unless the drain is done or over its bound. */
static void consumerReceive(struct consumer *cs)
{
    static const struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 600, 0};
    if (atomic_load(cs->deleted) >= cs->target || nowNs() >= cs->deadline) {
        return;
    }
    struct consumerRound *rd = malloc(sizeof *rd);
    if (rd == NULL) {
        cs->errors++;
        return;
    }
    *rd = (struct consumerRound){cs, nowNs()};
    if (qraft_receive_async(cs->c, cs->queue, &p, consumerReceived, rd) != 0) {
        cs->errors++;
        free(rd);
    }
}

static void *consumerMain(void *arg)
{
    struct consumer *cs = arg;
    if (qraft_open(opt.servers, NULL, &cs->c) != 0) {
        return NULL;
    }
    while (atomic_load(cs->deleted) < cs->target && nowNs() < cs->deadline &&
           cs->empties <= 200) {
        for (unsigned i = 0; i < CONSUMER_RECEIVES; i++) {
            consumerReceive(cs);
        }
        qraft_wait(cs->c);
        if (cs->empties > 0) {
            sleepNs(5000000);
        }
    }
    qraft_close(cs->c);
    return NULL;
}

void drainQueue(const char *queue, unsigned consumers, uint64_t target, double limit_s,
                struct drainResult *r)
{
    struct consumer *cs = calloc(consumers, sizeof *cs);
    pthread_t *th = calloc(consumers, sizeof *th);
    atomic_uint_fast64_t deleted = 0;
    uint64_t start = nowNs();
    for (unsigned i = 0; i < consumers; i++) {
        cs[i] = (struct consumer){queue, &deleted, target,
                                  start + (uint64_t)(limit_s * 1e9), 0, 0, {{0}}, NULL, 0};
        histInit(&cs[i].h);
        pthread_create(&th[i], NULL, consumerMain, &cs[i]);
    }
    memset(r, 0, sizeof *r);
    histInit(&r->h);
    for (unsigned i = 0; i < consumers; i++) {
        pthread_join(th[i], NULL);
        histMerge(&r->h, &cs[i].h);
        r->errors += cs[i].errors;
    }
    r->elapsed = (double)(nowNs() - start) / 1e9;
    r->deleted = atomic_load(&deleted);
    free(cs);
    free(th);
}
