/* Workload threads: producers and consumers on libqraft, each with a
 * client of its own (as a user's processes would have), through the
 * proxy's front ports. A workload file (workload_queue.c, ...) says which
 * queue and which messages; everything else is here.
 *
 * Every operation is written to the history as an invoke, then exactly one
 * of ok (applied), fail (definitely not applied: the library never sent
 * it, or the cluster refused it) or info (unknown: a timeout, a lost
 * session; libqraft may still apply it later, once).
 *
 * Producers send the workload's next message; after an info they send the
 * same message again up to ops->send_retries times (FIFO: the same
 * deduplication id). Consumers receive up to 10 messages with a short long
 * poll and delete each, except a share they leave undeleted so that it
 * comes back after the visibility timeout. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jepsen/jepsen.h"

#define WORKERS_MAX 64
#define RECEIVE_VALUE_MAX 8192

const struct workloadOps *workloadFind(const char *name)
{
    if (strcmp(name, workloadQueue.name) == 0) {
        return &workloadQueue;
    }
    if (strcmp(name, workloadFifo.name) == 0) {
        return &workloadFifo;
    }
    return NULL;
}

struct worker
{
    struct workload *workload;
    unsigned index;
    bool producer;
    unsigned producer_index; /* among producers */
    uint64_t state[WORKLOAD_STATE_MAX]; /* the workload's, per producer */
    uint64_t rng;
    char process[16];
    qraft_client *client;
    pthread_t thread;
};

struct workload
{
    const struct workloadConfig *config;
    unsigned n_workers;
    atomic_bool stop;
    struct worker workers[WORKERS_MAX];
};

static uint64_t nowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleepUs(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}


/* ok, fail or info for a libqraft result (see client/qraft.h "Outcomes"). */
static const char *outcomeOf(int rv)
{
    switch (rv) {
        case QRAFT_OK:
            return "ok";
        case QRAFT_ETIMEDOUT:
        case QRAFT_ESESSION_EXPIRED:
        case QRAFT_EUNKNOWN_OUTCOME:
        case QRAFT_EPROTO:
        case QRAFT_EINTERNAL:
        case QRAFT_ENOMEM:
            return "info";
        default:
            /* Never sent (Unavailable) or refused by the cluster. */
            return "fail";
    }
}

static void record(struct history *h, const char *process, int rv, const char *op,
                   const char *value, qraft_client *client)
{
    historyAdd(h, process, outcomeOf(rv), op, value, rv == QRAFT_OK ? NULL : qraft_errmsg(client));
}

static void produce(struct worker *w)
{
    const struct workloadConfig *c = w->workload->config;
    const struct workloadOps *ops = c->ops;
    unsigned producers = (c->concurrency + 1) / 2;
    char body[256], group[QRAFT_GROUP_ID_MAX], dedup[QRAFT_GROUP_ID_MAX];
    struct qraft_send_params params = QRAFT_SEND_PARAMS_INIT;
    struct qraft_send_result result;
    unsigned attempt;

    group[0] = '\0';
    dedup[0] = '\0';
    ops->next(w->producer_index, producers, c->groups, w->state, body, sizeof body, group, dedup);
    params.group_id = group[0] != '\0' ? group : NULL;
    params.dedup_id = dedup[0] != '\0' ? dedup : NULL;
    for (attempt = 0; attempt <= ops->send_retries; attempt++) {
        int rv;
        historyAdd(c->history, w->process, "invoke", "send", body, NULL);
        rv = qraft_send(w->client, ops->queue, body, strlen(body), &params, &result);
        record(c->history, w->process, rv, "send", body, w->client);
        if (strcmp(outcomeOf(rv), "info") != 0 || atomic_load(&w->workload->stop)) {
            break;
        }
    }
}

/* "body@id,body@id" into @value. */
static void listMessages(const struct qraft_message *msgs, size_t n, char *value, size_t cap)
{
    size_t off = 0;
    size_t i;

    value[0] = '\0';
    for (i = 0; i < n && off < cap; i++) {
        off += (size_t)snprintf(value + off, cap - off, "%s%s@%s", i > 0 ? "," : "",
                                (const char *)msgs[i].body, msgs[i].id);
    }
}

/* One receive, and the deletes after it. @skip_percent of the messages
 * are left undeleted. Returns the number of messages received, or -1 if
 * the receive failed. */
static int consumeOnce(qraft_client *client, const struct workloadConfig *c,
                       const char *process, unsigned skip_percent, uint64_t *rng, int wait_s)
{
    struct qraft_receive_params params = {10, -1, wait_s};
    struct qraft_message *msgs = NULL;
    char value[RECEIVE_VALUE_MAX];
    size_t n = 0;
    size_t i;
    int rv;

    historyAdd(c->history, process, "invoke", "receive", NULL, NULL);
    rv = qraft_receive(client, c->ops->queue, &params, &msgs, &n);
    if (rv != QRAFT_OK) {
        record(c->history, process, rv, "receive", NULL, client);
        return -1;
    }
    listMessages(msgs, n, value, sizeof value);
    historyAdd(c->history, process, "ok", "receive", value, NULL);
    for (i = 0; i < n; i++) {
        char item[300];
        if (skip_percent > 0 && jepsenRandom(rng) % 100 < skip_percent) {
            continue;
        }
        snprintf(item, sizeof item, "%s@%s", (const char *)msgs[i].body, msgs[i].id);
        historyAdd(c->history, process, "invoke", "delete", item, NULL);
        rv = qraft_delete(client, c->ops->queue, msgs[i].receipt);
        record(c->history, process, rv, "delete", item, client);
    }
    qraft_messages_free(msgs, n);
    return (int)n;
}

static void *workerMain(void *arg)
{
    struct worker *w = arg;
    const struct workloadConfig *c = w->workload->config;
    uint64_t interval_us = (uint64_t)(1e6 * (double)c->concurrency / c->rate);
    uint64_t next = nowUs();

    while (!atomic_load(&w->workload->stop)) {
        uint64_t now = nowUs();
        if (next > now) {
            sleepUs(next - now < 100000 ? next - now : 100000);
            continue;
        }
        /* Closed loop when behind: no backlog of missed operations. */
        next = (next + interval_us < now ? now : next) + interval_us;
        if (w->producer) {
            produce(w);
        } else {
            consumeOnce(w->client, c, w->process, c->skip_delete_percent, &w->rng, 1);
        }
    }
    return NULL;
}

static int openClient(const struct workloadConfig *c, qraft_client **out)
{
    struct qraft_options opts = {c->timeout_ms, 0};
    return qraft_open(c->servers, &opts, out);
}

int workloadSetup(const struct workloadConfig *c, unsigned timeout_ms, char *errmsg,
                  size_t len)
{
    qraft_client *client;
    uint64_t deadline = nowUs() + (uint64_t)timeout_ms * 1000u;
    int rv;

    if (openClient(c, &client) != 0) {
        snprintf(errmsg, len, "cannot open a client");
        return -1;
    }
    do {
        rv = qraft_create_queue(client, c->ops->queue, c->ops->attrs, c->ops->n_attrs, NULL, 0);
        if (rv == QRAFT_OK) {
            break;
        }
        sleepUs(200000);
    } while (nowUs() < deadline);
    if (rv != QRAFT_OK) {
        snprintf(errmsg, len, "create queue %s: %s", c->ops->queue, qraft_errmsg(client));
    }
    qraft_close(client);
    return rv == QRAFT_OK ? 0 : -1;
}

int workloadStart(const struct workloadConfig *c, struct workload **out)
{
    struct workload *w = calloc(1, sizeof *w);
    unsigned producers = (c->concurrency + 1) / 2;
    unsigned i;

    *out = NULL;
    if (w == NULL || c->concurrency < 2 || c->concurrency > WORKERS_MAX) {
        free(w);
        return -1;
    }
    w->config = c;
    atomic_init(&w->stop, false);
    for (i = 0; i < c->concurrency; i++) {
        struct worker *k = &w->workers[i];
        k->workload = w;
        k->index = i;
        k->producer = i < producers;
        k->producer_index = i;
        k->rng = c->seed ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull);
        snprintf(k->process, sizeof k->process, "w%u", i);
        if (openClient(c, &k->client) != 0 ||
            pthread_create(&k->thread, NULL, workerMain, k) != 0) {
            if (k->client != NULL) {
                qraft_close(k->client);
            }
            break;
        }
        w->n_workers++;
    }
    if (w->n_workers < c->concurrency) {
        workloadStop(w);
        return -1;
    }
    *out = w;
    return 0;
}

void workloadStop(struct workload *w)
{
    unsigned i;

    if (w == NULL) {
        return;
    }
    atomic_store(&w->stop, true);
    for (i = 0; i < w->n_workers; i++) {
        pthread_join(w->workers[i].thread, NULL);
        qraft_close(w->workers[i].client);
    }
    free(w);
}

/* The queue's visible, in-flight and delayed counts all 0. */
static bool queueEmpty(qraft_client *client, const char *queue)
{
    static const char *const names[] = {"ApproximateNumberOfMessages",
                                        "ApproximateNumberOfMessagesNotVisible",
                                        "ApproximateNumberOfMessagesDelayed"};
    struct qraft_attr *attrs = NULL;
    size_t n = 0;
    size_t i;
    bool empty = true;

    if (qraft_get_queue_attributes(client, queue, names, 3, &attrs, &n) != QRAFT_OK) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(attrs[i].value, "0") != 0) {
            empty = false;
        }
    }
    qraft_attrs_free(attrs, n);
    return empty && n == 3;
}

int workloadDrain(const struct workloadConfig *c, unsigned timeout_ms, char *errmsg,
                  size_t len)
{
    qraft_client *client;
    uint64_t deadline = nowUs() + (uint64_t)timeout_ms * 1000u;
    uint64_t rng = c->seed;
    int done = -1;

    if (openClient(c, &client) != 0) {
        snprintf(errmsg, len, "cannot open a client");
        return -1;
    }
    while (nowUs() < deadline) {
        int got = consumeOnce(client, c, "drain", 0, &rng, 1);
        if (got == 0 && queueEmpty(client, c->ops->queue)) {
            done = 0;
            break;
        }
    }
    if (done != 0) {
        snprintf(errmsg, len, "queue %s not empty after %u s", c->ops->queue, timeout_ms / 1000);
    }
    qraft_close(client);
    return done;
}
