/* The qraft benchmark: a load generator on libqraft against a running
 * cluster, beside the machine's own ceilings (README "Benchmarks").
 *
 *   bench --servers H:P,... --dir CLUSTER_DIR --script scripts/cluster
 *         [--quick] [--json FILE] [--commit SHA] [--peer PEER_RESULTS]
 *         [--only ROW,ROW,...]   (1 2 2a-2d 2o 3 4 5 6 7 10; 7 is 7a-9 and 7b)
 *
 * tests/bench/run starts the cluster and calls this; `make bench` calls
 * that. The cluster directory gives the data disk (for the fsync probe)
 * and the nodes' PID files (for the failover scenario, which SIGKILLs the
 * leader by PID and restarts it with scripts/cluster).
 *
 * The load generator: N connections, one qraft_client each in its own
 * thread, each keeping up to W sends in flight with qraft_send_async: a
 * completion callback issues the next send, so the window stays full
 * (closed loop) until the deadline or the count is reached. Open loop: the
 * sends are due at start + i / rate and are issued at the next completion
 * or wake-up at or after that time; the latency runs from the due time, so
 * a stall counts for every send it held back (coordinated omission).
 * libqraft has no step call that returns before every request completes,
 * so an open-loop sender reacts only at completions and when idle: a send
 * due while the window is full waits, and that wait is counted.
 *
 * Every figure goes into one row; rows not yet implemented print "not
 * measured yet" so the table keeps the issue's shape. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "client/qraft.h"
#include "tests/bench/bench.h"


struct benchOptions opt = {.script = "scripts/cluster",
                           .json = "tests/bench/results.json",
                           .commit = "unknown",
                           .seconds = 5.0};

uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleepNs(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---------------------------------------------------------------------- */
/* Rows of the table                                                       */


struct row rows[ROWS_MAX];
unsigned n_rows;
double load_start[3], load_end[3];
double run_seconds;

struct row *rowAdd(const char *id, const char *name)
{
    struct row *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->msgs_s = -1;
    r->mb_s = -1;
    return r;
}

void rowLatency(struct row *r, const struct hist *h)
{
    r->has_lat = h->n > 0;
    r->p50_ms = (double)histQuantile(h, 0.50) / 1e6;
    r->p90_ms = (double)histQuantile(h, 0.90) / 1e6;
    r->p99_ms = (double)histQuantile(h, 0.99) / 1e6;
    r->p999_ms = (double)histQuantile(h, 0.999) / 1e6;
    r->max_ms = (double)h->max / 1e6;
}

void rowExtra(struct row *r, const char *fmt, ...)
{
    char buf[sizeof r->extra];
    size_t len = strlen(r->extra);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* A member that does not fit whole is left out: the JSON stays valid. */
    if (n < 0 || len + (size_t)n + 3 > sizeof r->extra) {
        fprintf(stderr, "bench: row %s: a JSON member left out (no room)\n", r->id);
        return;
    }
    snprintf(r->extra + len, sizeof r->extra - len, "%s%s", len > 0 ? ", " : "", buf);
}

/* ---------------------------------------------------------------------- */
/* The load generator                                                      */


/* Bytes of random letters a worker's bodies are cut from. */
#define BODY_POOL (1u << 20)

/* Outcome of send i of a tracked worker. */
enum { SENT_PENDING = 0, SENT_OK = 1, SENT_FAILED = 2 };

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


/* Run @l; @ws_out (may be NULL) receives the workers, to be freed with
 * loadFree, for a caller that reads their outcomes. */
void loadRun(const struct load *l, struct loadResult *r, struct worker **ws_out)
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
    if (ws_out != NULL) {
        *ws_out = ws;
    } else {
        for (unsigned i = 0; i < l->conns; i++) {
            free(ws[i].outcome);
            free(ws[i].ack_ms);
        }
        free(ws);
    }
}

/* ---------------------------------------------------------------------- */
/* Scenarios                                                               */

qraft_client *admin;

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

void queueDrop(const char *name)
{
    qraft_delete_queue(admin, name);
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

static double scenarioSend(const char *id, const char *name, size_t size, unsigned conns,
                           unsigned window, unsigned batch, double rate, const char *note)
{
    char queue[64];
    snprintf(queue, sizeof queue, "bench-%s", id);
    queueFresh(queue);
    struct load l = {queue, size,  conns, window, batch, opt.seconds,
                     0,     rate,  NULL,  false,  false, 0};
    struct loadResult r;
    printf("  %-4s %s ...\n", id, name);
    fflush(stdout);
    loadRun(&l, &r, NULL);
    struct row *row = rowAdd(id, name);
    rowFromLoad(row, &l, &r);
    snprintf(row->note, sizeof row->note, "%s", note);
    queueDrop(queue);
    return row->msgs_s;
}

/* Scenario 3: fill a backlog with pipelined sends, then drain it with
 * consumers doing receive (10) + DeleteMessageBatch. */
struct consumer
{
    const char *queue;
    atomic_uint_fast64_t *deleted;
    uint64_t target;
    uint64_t deadline;
    uint64_t received, errors;
    struct hist h; /* one receive + delete round */
};

static void *consumerMain(void *arg)
{
    struct consumer *cs = arg;
    qraft_client *c;
    if (qraft_open(opt.servers, NULL, &c) != 0) {
        return NULL;
    }
    struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 600, 0};
    unsigned empties = 0;
    while (atomic_load(cs->deleted) < cs->target && nowNs() < cs->deadline) {
        struct qraft_message *m;
        size_t n;
        uint64_t t0 = nowNs();
        if (qraft_receive(c, cs->queue, &p, &m, &n) != 0) {
            cs->errors++;
            continue;
        }
        if (n == 0) {
            if (++empties > 200) {
                break;
            }
            sleepNs(5000000);
            continue;
        }
        empties = 0;
        struct qraft_delete_entry e[QRAFT_RECEIVE_MAX];
        struct qraft_batch_result res[QRAFT_RECEIVE_MAX];
        for (size_t i = 0; i < n; i++) {
            e[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
        }
        int rv = qraft_delete_batch(c, cs->queue, e, n, res);
        uint64_t ok = 0;
        for (size_t i = 0; rv == 0 && i < n; i++) {
            ok += res[i].status == QRAFT_OK;
        }
        cs->received += n;
        cs->errors += n - ok;
        atomic_fetch_add(cs->deleted, ok);
        histRecord(&cs->h, nowNs() - t0);
        qraft_messages_free(m, n);
    }
    qraft_close(c);
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
                                  start + (uint64_t)(limit_s * 1e9), 0, 0, {{0}}};
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

static void scenarioDrain(void)
{
    const char *queue = "bench-3";
    uint64_t backlog = opt.quick ? 20000 : 100000;
    queueFresh(queue);
    printf("  3    receive + delete, draining %llu ...\n", (unsigned long long)backlog);
    fflush(stdout);
    struct load l = {queue, 1024, 16, 64, 0, 0, backlog / 16, 0, NULL, false, false, 0};
    struct loadResult fill;
    loadRun(&l, &fill, NULL);
    /* Every warm-up message is in the backlog too. */
    uint64_t target = fill.ok + l.conns;

    struct drainResult d;
    drainQueue(queue, 16, target, opt.quick ? 30 : 120, &d);
    struct row *row = rowAdd("3", "receive+delete 1 KiB, 16 consumers, batches of 10");
    row->measured = true;
    row->n = d.deleted;
    row->errors = d.errors;
    row->msgs_s = (double)row->n / d.elapsed;
    row->mb_s = row->msgs_s * 1024 / 1e6;
    rowLatency(row, &d.h);
    snprintf(row->note, sizeof row->note,
             "%llu of %llu drained; latency: one receive + DeleteMessageBatch; fill ran at %.0f "
             "msgs/s",
             (unsigned long long)row->n, (unsigned long long)target,
             fill.elapsed > 0 ? (double)fill.ok / fill.elapsed : 0);
    queueDrop(queue);
}

/* Scenario 10: SIGKILL the leader under load, time to the next
 * acknowledged send (issued after the kill), then count acknowledged sends
 * that never arrive. */
struct failoverArg
{
    struct load *l;
    struct loadResult *r;
    struct worker **ws;
};

static void *failoverLoad(void *arg)
{
    struct failoverArg *a = arg;
    loadRun(a->l, a->r, a->ws);
    return NULL;
}

static void scenarioFailover(void)
{
    const char *queue = "bench-10";
    unsigned kills = opt.quick ? 2 : 10;
    queueFresh(queue);
    printf("  10   failover, %u leader kills under load ...\n", kills);
    fflush(stdout);
    atomic_int stop = 0;
    struct load l = {queue, 256, 4, 16, 0, 0, 0, 0, &stop, true, false, 0};
    struct loadResult r;
    struct worker *ws = NULL;
    struct failoverArg fa = {&l, &r, &ws};
    pthread_t th;
    uint64_t load_t0 = nowNs();
    pthread_create(&th, NULL, failoverLoad, &fa);
    sleepNs(1000000000);

    struct hist h;
    histInit(&h);
    unsigned done = 0;
    char note[256] = "";
    for (unsigned k = 0; k < kills; k++) {
        int leader = leaderId();
        pid_t pid = leader > 0 ? nodePid(leader) : 0;
        if (pid <= 0) {
            snprintf(note, sizeof note, "kill %u: no leader or no pid file", k + 1);
            break;
        }
        atomic_store(&first_ack_ns, 0);
        uint64_t t = nowNs();
        atomic_store(&kill_ns, t);
        kill(pid, SIGKILL);
        uint64_t deadline = t + 30000000000ull;
        while (atomic_load(&first_ack_ns) == 0 && nowNs() < deadline) {
            sleepNs(1000000);
        }
        uint64_t ack = atomic_load(&first_ack_ns);
        atomic_store(&kill_ns, 0);
        if (ack == 0) {
            snprintf(note, sizeof note, "kill %u: no acknowledged send within 30 s", k + 1);
            break;
        }
        histRecord(&h, ack - t);
        done++;
        printf("       kill %u: node %d at %.3f s, next ack after %.0f ms\n", k + 1, leader,
               (double)(t - load_t0) / 1e9, (double)(ack - t) / 1e6);
        fflush(stdout);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s restart %d --dir %s >/dev/null", opt.script, leader,
                 opt.dir);
        if (system(cmd) != 0 || !nodeCaughtUp(leader, 30)) {
            snprintf(note, sizeof note, "kill %u: node %d did not come back", k + 1, leader);
            break;
        }
        sleepNs(500000000);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);

    /* Read everything back: each acknowledged send must be there. */
    uint8_t **seen = calloc(l.conns, sizeof *seen);
    for (unsigned i = 0; i < l.conns; i++) {
        seen[i] = calloc(ws[i].issued + 1, 1);
    }
    qraft_client *c;
    uint64_t dups = 0, got = 0, read_errors = 0;
    qraft_open(opt.servers, NULL, &c);
    /* A 1 s long poll, so that an empty answer means empty; a failed
     * receive is retried (bounded), never taken for the end. */
    struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 3600, 1};
    for (unsigned empties = 0, fails = 0; empties < 3 && fails < 100;) {
        struct qraft_message *m;
        size_t n;
        if (qraft_receive(c, queue, &p, &m, &n) != 0) {
            fails++;
            read_errors++;
            sleepNs(100000000);
            continue;
        }
        fails = 0;
        if (n == 0) {
            empties++;
            continue;
        }
        empties = 0;
        struct qraft_delete_entry de[QRAFT_RECEIVE_MAX];
        struct qraft_batch_result dr[QRAFT_RECEIVE_MAX];
        for (size_t i = 0; i < n; i++) {
            unsigned w;
            unsigned long long s;
            if (sscanf(m[i].body, "c%u-%llu ", &w, &s) == 2 && w < l.conns &&
                s < ws[w].issued) {
                dups += seen[w][s];
                seen[w][s] = 1;
                got++;
            }
            de[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
        }
        /* Deleted as read: a queue holds at most 120,000 messages in
         * flight (SQS's limit), and a run can ack more than that. */
        if (qraft_delete_batch(c, queue, de, n, dr) != 0) {
            read_errors++;
        }
        qraft_messages_free(m, n);
    }
    /* What the queue says it holds, beside what was read. */
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible"};
    struct qraft_attr *qa = NULL;
    size_t n_qa = 0;
    char counts[96] = "";
    if (qraft_get_queue_attributes(c, queue, names, 2, &qa, &n_qa) == 0 && n_qa == 2) {
        snprintf(counts, sizeof counts, "; left in the queue: %s visible, %s in flight",
                 qa[0].value, qa[1].value);
    }
    qraft_attrs_free(qa, n_qa);
    qraft_close(c);
    uint64_t lost = 0, unknown = 0, acked = 0;
    unsigned ranges = 0;
    for (unsigned i = 0; i < l.conns; i++) {
        for (uint64_t s = 0; s < ws[i].issued; s++) {
            if (ws[i].outcome[s] == SENT_OK) {
                acked++;
                lost += !seen[i][s];
            } else {
                unknown++;
            }
            /* Each run of lost sends, printed with when they were acked,
             * to set beside the kills above. */
            if (ws[i].outcome[s] == SENT_OK && !seen[i][s] &&
                (s == 0 || seen[i][s - 1] || ws[i].outcome[s - 1] != SENT_OK)) {
                uint64_t e = s;
                while (e + 1 < ws[i].issued && ws[i].outcome[e + 1] == SENT_OK &&
                       !seen[i][e + 1]) {
                    e++;
                }
                if (ranges++ < 20) {
                    printf("       lost: connection %u sends %llu-%llu (%llu), acked at "
                           "%.3f-%.3f s\n",
                           i, (unsigned long long)s, (unsigned long long)e,
                           (unsigned long long)(e - s + 1), ws[i].ack_ms[s] / 1e3,
                           ws[i].ack_ms[e] / 1e3);
                }
            }
        }
        free(seen[i]);
        free(ws[i].outcome);
        free(ws[i].ack_ms);
    }
    free(seen);
    free(ws);

    struct row *row = rowAdd("10", "failover: SIGKILL the leader under load (4 x 16, 256 B)");
    row->measured = done > 0;
    row->n = done;
    row->errors = lost;
    rowLatency(row, &h);
    row->msgs_s = (double)r.ok / r.elapsed;
    snprintf(row->note, sizeof row->note,
             "%u kills; next ack median %.0f ms, max %.0f ms; %llu acked, %llu lost, %llu "
             "duplicated, %llu not acked (outcome unknown); %llu receive errors in the "
             "read-back%s%s%s",
             done, (double)histQuantile(&h, 0.5) / 1e6, (double)h.max / 1e6,
             (unsigned long long)acked, (unsigned long long)lost, (unsigned long long)dups,
             (unsigned long long)unknown, (unsigned long long)read_errors, counts,
             note[0] ? "; " : "", note);
    (void)got;
    queueDrop(queue);
}

/* Whether row @id is to run (--only ID,ID,...; all by default). */
static bool want(const char *id)
{
    if (opt.only == NULL) {
        return true;
    }
    size_t n = strlen(id);
    for (const char *p = opt.only; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, id, n) == 0) {
            return true;
        }
        p += len + (p[len] == ',');
    }
    return false;
}

/* Print how long the scenario that just ended took (the run's budget:
 * QUICK under 2 minutes, full under 20). */
static uint64_t step_start;
static void stepTook(void)
{
    uint64_t now = nowNs();
    printf("       (%.1f s)\n", (double)(now - step_start) / 1e9);
    fflush(stdout);
    step_start = now;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            opt.quick = true;
        } else if (v != NULL && strcmp(a, "--servers") == 0) {
            opt.servers = v, i++;
        } else if (v != NULL && strcmp(a, "--dir") == 0) {
            opt.dir = v, i++;
        } else if (v != NULL && strcmp(a, "--script") == 0) {
            opt.script = v, i++;
        } else if (v != NULL && strcmp(a, "--json") == 0) {
            opt.json = v, i++;
        } else if (v != NULL && strcmp(a, "--only") == 0) {
            opt.only = v, i++;
        } else if (v != NULL && strcmp(a, "--peer") == 0) {
            opt.peer = v, i++;
        } else if (v != NULL && strcmp(a, "--commit") == 0) {
            opt.commit = v, i++;
        } else {
            die("unknown argument %s", a);
        }
    }
    if (opt.servers == NULL || opt.dir == NULL) {
        die("usage: bench --servers H:P,... --dir CLUSTER_DIR [--script S] [--quick] "
            "[--json FILE] [--commit SHA] [--peer FILE] [--only ROWS]");
    }
    signal(SIGPIPE, SIG_IGN);
    opt.seconds = opt.quick ? 2.0 : 10.0;
    if (qraft_open(opt.servers, NULL, &admin) != 0) {
        die("cannot open a client on %s", opt.servers);
    }

    uint64_t run_start = nowNs();
    peerLoad();
    loadAverage(load_start);
    stateIdleSample();
    printf("load average at the start: %.2f %.2f %.2f (%ld cores)\n", load_start[0],
           load_start[1], load_start[2], sysconf(_SC_NPROCESSORS_ONLN));
    printf("machine ceilings ...\n");
    fflush(stdout);
    ceilFsync();
    ceilRtt();
    printf("  fsync of a 4 KiB append: p50 %.3f ms, p99 %.3f ms, %.0f per second\n",
           (double)histQuantile(&ceil_.fsync, 0.5) / 1e6,
           (double)histQuantile(&ceil_.fsync, 0.99) / 1e6, ceil_.fsync_rate);
    printf("  loopback round trip: p50 %.1f us, p99 %.1f us\n",
           (double)histQuantile(&ceil_.rtt, 0.5) / 1e3,
           (double)histQuantile(&ceil_.rtt, 0.99) / 1e3);
    printf("  best one-in-flight durable send: %.3f ms (%.0f per second)\n", ceil_.best_one_ms,
           1000.0 / ceil_.best_one_ms);

    printf("scenarios (%.0f s each) ...\n", opt.seconds);
    step_start = nowNs();
    if (want("1")) {
        scenarioSend("1", "send 1 KiB, 1 connection x 1 in flight", 1024, 1, 1, 0, 0, "");
        stepTook();
    }
    double r2 = 0;
    if (want("2")) {
        r2 = scenarioSend("2", "send 1 KiB, 16 x 64 in flight", 1024, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2a")) {
        scenarioSend("2a", "send 64 B, 16 x 64 in flight", 64, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2b")) {
        scenarioSend("2b", "send 16 KiB, 16 x 64 in flight", 16384, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2c")) {
        scenarioSend("2c", "send 256 KiB, 16 x 64 in flight", 262144, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2d")) {
        scenarioSend("2d", "SendMessageBatch 10 x 1 KiB, 16 x 1 in flight", 1024, 16, 1, 10, 0,
                     "libqraft has no async batch call: one batch in flight per connection; "
                     "latency is per batch");
        stepTook();
    }
    char note[160];
    snprintf(note, sizeof note,
             "open loop at 50%% of row 2 (%.0f msgs/s); latency from each send's due time "
             "(coordinated omission corrected)",
             r2 / 2);
    if (want("2o")) {
        scenarioSend("2o", "send 1 KiB, 16 x 64, open loop at half of row 2", 1024, 16, 64, 0,
                     r2 / 2, note);
        stepTook();
    }
    if (want("3")) {
        scenarioDrain();
        stepTook();
    }
    if (want("4")) {
        scenarioEndToEnd(r2);
        stepTook();
    }
    if (want("5")) {
        scenarioLongPoll();
        stepTook();
    }
    if (want("6")) {
        scenarioFifo();
        stepTook();
    }
    if (want("7")) {
        scenarioStateBegin();
        stepTook();
    }
    if (want("7")) {
        scenarioStateEnd();
        stepTook();
    }
    if (want("10")) {
        scenarioFailover();
        stepTook();
    }
    qraft_close(admin);

    printf("\nmachine ceilings: fsync 4 KiB append p50 %.3f / p99 %.3f ms (%.0f/s); "
           "loopback RTT p50 %.1f us; best one-in-flight send %.3f ms (%.0f/s)\n",
           (double)histQuantile(&ceil_.fsync, 0.5) / 1e6,
           (double)histQuantile(&ceil_.fsync, 0.99) / 1e6, ceil_.fsync_rate,
           (double)histQuantile(&ceil_.rtt, 0.5) / 1e3, ceil_.best_one_ms,
           1000.0 / ceil_.best_one_ms);
    loadAverage(load_end);
    run_seconds = (double)(nowNs() - run_start) / 1e9;
    printTable();
    writeJson();
    printf("\nresults: %s\n", opt.json);
    for (unsigned i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].id, "10") == 0 && rows[i].measured && rows[i].errors > 0) {
            fprintf(stderr, "bench: acknowledged messages were lost in failover\n");
            return 2;
        }
    }
    return 0;
}
