/* The peer's load generator: qraft's rows 1, 2 (2a-2d) and 3 against a
 * RabbitMQ quorum queue, on librabbitmq (rabbitmq-c), with the same
 * connections, in-flight window and message sizes as the bench (load.c).
 *
 *   peer_rabbit --port AMQP_PORT --out FILE [--quick] [--info JSON_MEMBERS]
 *
 * tests/bench/rabbit starts the 3-node RabbitMQ cluster and calls this;
 * tests/bench/run calls that before qraft's cluster starts, and bench
 * reads FILE back (peer.c has its format).
 *
 * The happy path: each scenario declares its own durable quorum queue
 * (x-queue-type=quorum) on the node the clients connect to (so that node
 * leads it, as qraft's clients talk to qraft's leader), runs, and deletes
 * it. A publisher is one thread, one connection, one channel in confirm
 * mode, publishing persistent messages (delivery mode 2) to the default
 * exchange and keeping W unconfirmed (a basic.ack, multiple or not,
 * confirms every tag up to its own): the analogue of W sends in flight.
 * A publish's latency runs from basic.publish to the basic.ack that
 * covers it, which RabbitMQ sends once a majority of the queue's members
 * have the message fsynced in their logs. Row 2d: 10 publishes, then wait
 * for their 10 confirms (SendMessageBatch of 10). Row 3: the backlog is
 * published as in row 2, then 16 consumers (basic.consume, prefetch 20)
 * acknowledge every 10th delivery with multiple=true (a receive of 10 and
 * a DeleteMessageBatch).
 *
 * Failure modes: a connection, login or declaration that fails ends that
 * worker (counted as an error) and the row goes on with the others; a
 * basic.nack or a closed channel counts as errors; every wait is bounded
 * (5 s for a frame, the scenario's deadline overall). */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "tests/bench/hist.h"

/* Options. */
static struct
{
    int port;
    const char *out;
    const char *info;
    bool quick;
    double seconds;
} popt = {0, NULL, "", false, 5.0};

static FILE *out;

/* Monotonic nanoseconds. */
static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An open connection with channel 1, or NULL (the reason on stderr). */
static amqp_connection_state_t peerConnect(bool confirm)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = c != NULL ? amqp_tcp_socket_new(c) : NULL;
    struct timeval tv = {5, 0};
    if (sock == NULL || amqp_socket_open_noblock(sock, "127.0.0.1", popt.port, &tv) != 0) {
        fprintf(stderr, "peer_rabbit: cannot connect to 127.0.0.1:%d\n", popt.port);
        goto err;
    }
    amqp_rpc_reply_t r =
        amqp_login(c, "/", 0, 262144 + 8192, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "peer_rabbit: login failed\n");
        goto err;
    }
    amqp_channel_open(c, 1);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "peer_rabbit: channel.open failed\n");
        goto err;
    }
    if (confirm) {
        amqp_confirm_select(c, 1);
        if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
            fprintf(stderr, "peer_rabbit: confirm.select failed\n");
            goto err;
        }
    }
    return c;
err:
    if (c != NULL) {
        amqp_destroy_connection(c);
    }
    return NULL;
}

/* Close channel 1 and the connection, and free it. */
static void peerClose(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Declare (fresh: delete first) or delete the quorum queue @name. */
static int queueSetup(const char *name, bool create)
{
    amqp_connection_state_t c = peerConnect(false);
    if (c == NULL) {
        return -1;
    }
    amqp_queue_delete(c, 1, amqp_cstring_bytes(name), 0, 0);
    int rv = amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
    if (rv != 0) {
        /* A failed delete closes the channel: open another. */
        amqp_channel_open(c, 2);
    }
    if (create) {
        amqp_table_entry_t e;
        e.key = amqp_cstring_bytes("x-queue-type");
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = amqp_cstring_bytes("quorum");
        amqp_table_t args = {1, &e};
        amqp_queue_declare(c, rv == 0 ? 1 : 2, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
        rv = amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
        if (rv != 0) {
            fprintf(stderr, "peer_rabbit: cannot declare the quorum queue %s\n", name);
        }
    }
    peerClose(c);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* Publishers                                                              */

struct pubLoad
{
    const char *queue;
    size_t size;
    unsigned conns, window;
    bool batch;     /* publish window, then wait for all its confirms */
    double seconds; /* 0: bounded by count */
    uint64_t count; /* per connection; 0: bounded by time */
};

struct publisher
{
    const struct pubLoad *l;
    pthread_barrier_t *barrier;
    uint64_t ok, err, end;
    struct hist h;
};

/* Read frames until every publish up to @want_acked has its confirm or a
 * wait fails. t0[tag] is the publish time, 0 once confirmed. */
static int pubReap(amqp_connection_state_t c, uint64_t *t0, uint64_t *low, uint64_t next,
                   unsigned *in_flight, unsigned until, struct publisher *p)
{
    while (*in_flight > until) {
        amqp_frame_t f;
        /* 256 KiB x 64 unconfirmed take seconds to confirm. */
        struct timeval tv = {30, 0};
        int rv = amqp_simple_wait_frame_noblock(c, &f, &tv);
        if (rv != AMQP_STATUS_OK) {
            return -1;
        }
        if (f.frame_type != AMQP_FRAME_METHOD) {
            continue;
        }
        uint64_t tag;
        bool multiple, ok;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            tag = a->delivery_tag, multiple = a->multiple, ok = true;
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            amqp_basic_nack_t *a = f.payload.method.decoded;
            tag = a->delivery_tag, multiple = a->multiple, ok = false;
        } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            return -1;
        } else {
            continue;
        }
        uint64_t now = nowNs();
        uint64_t from = multiple ? *low : tag;
        for (uint64_t t = from; t <= tag && t < next; t++) {
            if (t0[t] == 0) {
                continue;
            }
            if (ok) {
                p->ok++;
                if (!p->l->batch) {
                    histRecord(&p->h, now - t0[t]);
                }
            } else {
                p->err++;
            }
            t0[t] = 0;
            (*in_flight)--;
        }
        while (*low < next && t0[*low] == 0) {
            (*low)++;
        }
    }
    return 0;
}

/* One publisher: closed loop (or batches) until the deadline or count. */
static void *publisherMain(void *arg)
{
    struct publisher *p = arg;
    const struct pubLoad *l = p->l;
    amqp_connection_state_t c = peerConnect(true);
    char *body = malloc(l->size);
    /* Letters, as the bench (load.c) sends. */
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)p;
    for (size_t j = 0; j < l->size; j++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        body[j] = (char)('a' + (x % 26));
    }
    size_t cap = 65536;
    uint64_t *t0 = calloc(cap, sizeof *t0);
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2; /* persistent */
    pthread_barrier_wait(p->barrier);
    uint64_t start = nowNs();
    uint64_t deadline = start + (uint64_t)(l->seconds * 1e9);
    uint64_t next = 1, low = 1, issued = 0;
    unsigned in_flight = 0;
    while (c != NULL) {
        uint64_t now = nowNs();
        bool more = (l->count == 0 || issued < l->count) && (l->seconds == 0 || now < deadline);
        if (!more && in_flight == 0) {
            break;
        }
        uint64_t batch_start = now;
        while (more && in_flight < l->window) {
            if (next + 1 >= cap) {
                t0 = realloc(t0, 2 * cap * sizeof *t0);
                memset(t0 + cap, 0, cap * sizeof *t0);
                cap *= 2;
            }
            t0[next] = nowNs();
            if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(l->queue), 0, 0,
                                   &props, (amqp_bytes_t){l->size, body}) != AMQP_STATUS_OK) {
                t0[next] = 0;
                p->err++;
                more = false;
                break;
            }
            next++;
            issued++;
            in_flight++;
            more = l->count == 0 || issued < l->count;
        }
        /* Closed loop: one confirm frees a slot; a batch waits for all. */
        if (pubReap(c, t0, &low, next, &in_flight, l->batch ? 0 : in_flight - 1, p) != 0) {
            p->err += in_flight;
            break;
        }
        if (l->batch) {
            histRecord(&p->h, nowNs() - batch_start);
        }
    }
    p->end = nowNs();
    if (c != NULL) {
        peerClose(c);
    } else {
        p->err++;
    }
    free(t0);
    free(body);
    return NULL;
}

struct pubResult
{
    uint64_t ok, err;
    double elapsed;
    struct hist h;
};

/* Run @l's publishers from a common start; sum their results. */
static void pubRun(const struct pubLoad *l, struct pubResult *r)
{
    struct publisher *ps = calloc(l->conns, sizeof *ps);
    pthread_t *th = calloc(l->conns, sizeof *th);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, l->conns + 1);
    for (unsigned i = 0; i < l->conns; i++) {
        ps[i].l = l;
        ps[i].barrier = &barrier;
        histInit(&ps[i].h);
        pthread_create(&th[i], NULL, publisherMain, &ps[i]);
    }
    pthread_barrier_wait(&barrier);
    uint64_t start = nowNs(), end = start;
    memset(r, 0, sizeof *r);
    histInit(&r->h);
    for (unsigned i = 0; i < l->conns; i++) {
        pthread_join(th[i], NULL);
        r->ok += ps[i].ok;
        r->err += ps[i].err;
        histMerge(&r->h, &ps[i].h);
        end = ps[i].end > end ? ps[i].end : end;
    }
    r->elapsed = (double)(end - start) / 1e9;
    pthread_barrier_destroy(&barrier);
    free(th);
    free(ps);
}

/* Write one row to the results file and print it. */
static void rowOut(const char *id, double msgs_s, size_t size, const struct hist *h, uint64_t n,
                   uint64_t errors, const char *name)
{
    fprintf(out, "row %s %.1f %.2f %.4f %.4f %.4f %.4f %.4f %llu %llu %s\n", id, msgs_s,
            msgs_s * (double)size / 1e6, (double)histQuantile(h, 0.5) / 1e6,
            (double)histQuantile(h, 0.9) / 1e6, (double)histQuantile(h, 0.99) / 1e6,
            (double)histQuantile(h, 0.999) / 1e6, (double)h->max / 1e6, (unsigned long long)n,
            (unsigned long long)errors, name);
    fflush(out);
    printf("  peer %-3s %-48s %9.0f msgs/s  p50 %.3f ms  p99 %.3f ms%s\n", id, name, msgs_s,
           (double)histQuantile(h, 0.5) / 1e6, (double)histQuantile(h, 0.99) / 1e6,
           errors ? " (errors)" : "");
    fflush(stdout);
}

/* Rows 1 and 2: a fresh quorum queue, publishers, then the queue deleted. */
static void scenarioPublish(const char *id, const char *name, size_t size, unsigned conns,
                            unsigned window, bool batch)
{
    char queue[64];
    snprintf(queue, sizeof queue, "bench-%s", id);
    if (queueSetup(queue, true) != 0) {
        return;
    }
    struct pubLoad l = {queue, size, conns, window, batch, popt.seconds, 0};
    struct pubResult r;
    pubRun(&l, &r);
    rowOut(id, r.elapsed > 0 ? (double)r.ok / r.elapsed : 0, size, &r.h, r.ok, r.err, name);
    queueSetup(queue, false);
}

/* ---------------------------------------------------------------------- */
/* Consumers (row 3)                                                       */

struct consumer
{
    const char *queue;
    atomic_uint_fast64_t *acked;
    atomic_uint_fast64_t *done_ns; /* when acked reached target */
    uint64_t target, deadline, err;
};

/* Count @n acknowledged; the consumer that reaches the target notes when:
 * the others may still be in a wait of up to a second. */
static void ackCount(struct consumer *cs, unsigned n)
{
    uint64_t prev = atomic_fetch_add(cs->acked, n);
    if (prev < cs->target && prev + n >= cs->target) {
        atomic_store(cs->done_ns, nowNs());
    }
}

/* A row 3 consumer: consume, ack every 10th with multiple=true. */
static void *consumerMain(void *arg)
{
    struct consumer *cs = arg;
    amqp_connection_state_t c = peerConnect(false);
    if (c == NULL) {
        cs->err++;
        return NULL;
    }
    amqp_basic_qos(c, 1, 0, 20, 0);
    amqp_basic_consume(c, 1, amqp_cstring_bytes(cs->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
        cs->err++;
        amqp_destroy_connection(c);
        return NULL;
    }
    unsigned held = 0, idle = 0;
    uint64_t last_tag = 0;
    while (atomic_load(cs->acked) < cs->target && nowNs() < cs->deadline && idle < 2) {
        amqp_envelope_t env;
        /* Holding fewer than 10: ack them as soon as no delivery follows
         * within 5 ms (the backlog's last ones), not after a second. */
        struct timeval tv = {held > 0 ? 0 : 1, held > 0 ? 5000 : 0};
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                r.library_error == AMQP_STATUS_TIMEOUT) {
                idle += held == 0;
                if (held > 0) {
                    amqp_basic_ack(c, 1, last_tag, 1);
                    ackCount(cs, held);
                    held = 0;
                }
                continue;
            }
            cs->err++;
            break;
        }
        idle = 0;
        last_tag = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (++held == 10) {
            amqp_basic_ack(c, 1, last_tag, 1);
            ackCount(cs, held);
            held = 0;
        }
    }
    if (held > 0) {
        amqp_basic_ack(c, 1, last_tag, 1);
        ackCount(cs, held);
    }
    peerClose(c);
    return NULL;
}

/* Row 3: fill a backlog as in row 2, drain it with 16 consumers. */
static void scenarioDrain(void)
{
    const char *queue = "bench-3";
    uint64_t backlog = popt.quick ? 20000 : 100000;
    if (queueSetup(queue, true) != 0) {
        return;
    }
    struct pubLoad l = {queue, 1024, 16, 64, false, 0, backlog / 16};
    struct pubResult fill;
    pubRun(&l, &fill);
    enum { CONSUMERS = 16 };
    struct consumer cs[CONSUMERS];
    pthread_t th[CONSUMERS];
    atomic_uint_fast64_t acked = 0, done_ns = 0;
    uint64_t start = nowNs();
    for (unsigned i = 0; i < CONSUMERS; i++) {
        cs[i] = (struct consumer){queue, &acked, &done_ns, fill.ok,
                                  start + (uint64_t)((popt.quick ? 30 : 120) * 1e9), 0};
        pthread_create(&th[i], NULL, consumerMain, &cs[i]);
    }
    uint64_t err = 0;
    for (unsigned i = 0; i < CONSUMERS; i++) {
        pthread_join(th[i], NULL);
        err += cs[i].err;
    }
    uint64_t end = atomic_load(&done_ns) ? atomic_load(&done_ns) : nowNs();
    double elapsed = (double)(end - start) / 1e9;
    struct hist none;
    histInit(&none);
    rowOut("3", elapsed > 0 ? (double)atomic_load(&acked) / elapsed : 0, 1024, &none,
           atomic_load(&acked), err,
           "consume + ack 1 KiB, 16 consumers, prefetch 20, ack multiple per 10");
    queueSetup(queue, false);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            popt.quick = true;
        } else if (v != NULL && strcmp(argv[i], "--port") == 0) {
            popt.port = atoi(v), i++;
        } else if (v != NULL && strcmp(argv[i], "--out") == 0) {
            popt.out = v, i++;
        } else if (v != NULL && strcmp(argv[i], "--info") == 0) {
            popt.info = v, i++;
        } else {
            fprintf(stderr, "usage: peer_rabbit --port P --out FILE [--quick] [--info JSON]\n");
            return 2;
        }
    }
    if (popt.port <= 0 || popt.out == NULL) {
        fprintf(stderr, "usage: peer_rabbit --port P --out FILE [--quick] [--info JSON]\n");
        return 2;
    }
    popt.seconds = popt.quick ? 2.0 : 10.0;
    out = fopen(popt.out, "w");
    if (out == NULL) {
        perror(popt.out);
        return 1;
    }
    if (popt.info[0] != '\0') {
        fprintf(out, "info %s\n", popt.info);
    }
    if (queueSetup("bench-probe", true) != 0) {
        fprintf(out, "skipped cannot declare a quorum queue on 127.0.0.1:%d\n", popt.port);
        fclose(out);
        return 1;
    }
    queueSetup("bench-probe", false);
    scenarioPublish("1", "publish 1 KiB, 1 x 1 unconfirmed", 1024, 1, 1, false);
    scenarioPublish("2", "publish 1 KiB, 16 x 64 unconfirmed", 1024, 16, 64, false);
    /* QUICK: rows 1, 2 and 3 only, to stay within its time. */
    if (!popt.quick) {
        scenarioPublish("2a", "publish 64 B, 16 x 64 unconfirmed", 64, 16, 64, false);
        scenarioPublish("2b", "publish 16 KiB, 16 x 64 unconfirmed", 16384, 16, 64, false);
        scenarioPublish("2c", "publish 256 KiB, 16 x 64 unconfirmed", 262144, 16, 64, false);
        scenarioPublish("2d", "10 publishes then their confirms, 16 x 1", 1024, 16, 10, true);
    }
    scenarioDrain();
    fclose(out);
    return 0;
}
