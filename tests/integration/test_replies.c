/* Replies batched per loop iteration (node/conn.c), end to end on a real
 * 3-node cluster: thousands of pipelined requests on one connection each
 * get exactly one reply, the right one, and in order where the node's order
 * is defined; clients that leave while replies are still queued for them
 * (unread, or not yet written) cost the node nothing: it keeps serving, and
 * every node exits cleanly on SIGTERM (under `make SANITIZE=1`, with no
 * leak and no use after free).
 *
 * Ports 22500-22603 (no other test uses them). Every wait is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>
#include <openssl/evp.h>

#include "tests/integration/cluster.h"

#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"
#define BASE_PORT 22500

/* Body of the large messages. */
#define BIG_BODY (200 * 1024)

/* Requests pipelined on one connection by the libqraft and raw tests. */
#define PIPELINED 3000

static struct testCluster cluster;
static qraft_client *client;
static int leaderIndex;

static int setup(void **state)
{
    (void)state;
    if (testClusterStart(&cluster, 3, BASE_PORT, FLAGS, 30000) != 0) {
        return -1;
    }
    leaderIndex = testClusterLeader(&cluster, 10000);
    if (leaderIndex < 0) {
        return -1;
    }
    return qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 30000}, &client);
}

static int teardown(void **state)
{
    (void)state;
    qraft_close(client);
    testClusterStop(&cluster, true);
    return 0;
}

/* Hex MD5 of @len bytes at @data into @hex (33 bytes). */
static void md5Hex(const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned int i;

    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_md5(), NULL), 1);
    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
}

/* ---------------------------------------------------------------------- */
/* Pipelined sends through libqraft                                        */

/* One async send: what its callback saw. */
struct sendSlot
{
    char md5[33]; /* expected MD5OfMessageBody */
    unsigned calls;
    int status;
    bool md5_ok;
};

static void sendCb(void *arg, int status, const struct qraft_send_result *result)
{
    struct sendSlot *slot = arg;

    slot->calls++;
    slot->status = status;
    slot->md5_ok = result != NULL && strcmp(result->md5_body, slot->md5) == 0;
}

/* Every one of PIPELINED sends on one connection completes exactly once,
 * with its own reply (the MD5 of its own body). */
static void test_pipelined_sends_each_once(void **state)
{
    struct sendSlot *slots = calloc(PIPELINED, sizeof *slots);
    char body[64];
    unsigned i;
    uint64_t t0;
    (void)state;

    assert_non_null(slots);
    assert_int_equal(qraft_create_queue(client, "pipe", NULL, 0, NULL, 0), QRAFT_OK);
    t0 = testNowMs();
    for (i = 0; i < PIPELINED; i++) {
        size_t len = (size_t)snprintf(body, sizeof body, "pipelined-%05u", i);
        md5Hex(body, len, slots[i].md5);
        assert_int_equal(qraft_send_async(client, "pipe", body, len, NULL, sendCb, &slots[i]),
                         0);
    }
    assert_int_equal(qraft_wait(client), 0);
    printf("# %u pipelined sends completed in %llu ms\n", PIPELINED,
           (unsigned long long)(testNowMs() - t0));
    for (i = 0; i < PIPELINED; i++) {
        if (slots[i].calls != 1 || slots[i].status != QRAFT_OK || !slots[i].md5_ok) {
            fail_msg("send %u: %u callbacks, status %s, md5 %s", i, slots[i].calls,
                     qraft_errname(slots[i].status), slots[i].md5_ok ? "ok" : "wrong");
        }
    }
    free(slots);
}

/* ---------------------------------------------------------------------- */
/* Pipelined receives and deletes through libqraft                         */

#define CONSUMED 500

/* A consumer with RECEIVES_IN_FLIGHT receives in flight, chained from
 * their callbacks: every receive deletes what it got and asks for more. */
#define RECEIVES_IN_FLIGHT 3

struct consumerLog
{
    unsigned seen[CONSUMED];   /* deliveries of each body */
    unsigned deleted;          /* entries deleted (QRAFT_OK) */
    unsigned failed;           /* entries or calls that failed */
    unsigned receives, deletes; /* callbacks */
    unsigned in_flight;        /* receives not yet called back */
    bool bad_receipt;          /* the next delete carries a bad receipt */
    unsigned bad_refused;      /* ... refused alone, as ReceiptHandleIsInvalid */
};

static void consumeReceive(struct consumerLog *log);

static void consumeDeleted(void *arg, int status, const struct qraft_batch_result *res, size_t n)
{
    struct consumerLog *log = arg;
    size_t i;

    log->deletes++;
    if (status != QRAFT_OK) {
        log->failed += (unsigned)n;
        return;
    }
    for (i = 0; i < n; i++) {
        if (res[i].status == QRAFT_OK) {
            log->deleted++;
        } else if (strcmp(res[i].id, "bad") == 0 &&
                   strstr(res[i].message, "ReceiptHandleIsInvalid") != NULL) {
            log->bad_refused++;
        } else {
            log->failed++;
        }
    }
}

static void consumeReceived(void *arg, int status, const struct qraft_message *m, size_t n)
{
    struct consumerLog *log = arg;
    struct qraft_delete_entry e[QRAFT_BATCH_MAX];
    size_t k = 0;
    size_t i;
    unsigned idx;

    log->receives++;
    log->in_flight--;
    if (status != QRAFT_OK) {
        log->failed++;
        return;
    }
    for (i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof body, "%.*s", (int)m[i].body_len, (const char *)m[i].body);
        assert_int_equal(sscanf(body, "consumed-%u", &idx), 1);
        assert_true(idx < CONSUMED);
        log->seen[idx]++;
        e[k++] = (struct qraft_delete_entry){NULL, m[i].receipt};
    }
    if (k > 0 && log->bad_receipt && k < QRAFT_BATCH_MAX) {
        /* One bad entry fails alone; the others are deleted. */
        e[k++] = (struct qraft_delete_entry){"bad", "not-a-receipt"};
        log->bad_receipt = false;
    }
    if (k > 0) {
        assert_int_equal(qraft_delete_batch_async(client, "consumed", e, k, consumeDeleted, log),
                         0);
        consumeReceive(log);
    }
}

static int blockingRefused = -1;

static void blockingFromCallback(void *arg, int status, const struct qraft_message *m, size_t n)
{
    struct qraft_message *msgs;
    size_t got;
    (void)arg;
    (void)status;
    (void)m;
    (void)n;
    blockingRefused = qraft_receive(client, "consumed", NULL, &msgs, &got);
}

static void consumeReceive(struct consumerLog *log)
{
    /* 9: room in a delete batch for the bad receipt. */
    static const struct qraft_receive_params p = {QRAFT_RECEIVE_MAX - 1, 300, 0};

    log->in_flight++;
    assert_int_equal(qraft_receive_async(client, "consumed", &p, consumeReceived, log), 0);
}

/* CONSUMED messages drained by one connection with several receives and
 * deletes in flight: each body delivered once, each delete answered entry
 * by entry (one bad receipt fails alone), the queue empty at the end, and
 * a blocking call from a callback still refused. */
static void test_pipelined_receive_delete(void **state)
{
    static struct consumerLog log;
    char body[32];
    unsigned i;
    unsigned rounds;
    (void)state;

    memset(&log, 0, sizeof log);
    log.bad_receipt = true;
    assert_int_equal(qraft_create_queue(client, "consumed", NULL, 0, NULL, 0), QRAFT_OK);
    for (i = 0; i < CONSUMED; i++) {
        size_t len = (size_t)snprintf(body, sizeof body, "consumed-%05u", i);
        assert_int_equal(qraft_send(client, "consumed", body, len, NULL, NULL), QRAFT_OK);
    }
    for (rounds = 0; log.deleted < CONSUMED && rounds < 50; rounds++) {
        for (i = 0; i < RECEIVES_IN_FLIGHT; i++) {
            consumeReceive(&log);
        }
        assert_int_equal(qraft_wait(client), 0);
        assert_int_equal(log.in_flight, 0);
    }
    printf("# %u messages drained with %u receives and %u deletes in %u rounds\n", CONSUMED,
           log.receives, log.deletes, rounds);
    assert_int_equal(log.deleted, CONSUMED);
    assert_int_equal(log.failed, 0);
    assert_int_equal(log.bad_refused, 1);
    for (i = 0; i < CONSUMED; i++) {
        assert_int_equal(log.seen[i], 1);
    }
    {
        static const char *const names[] = {"ApproximateNumberOfMessages",
                                            "ApproximateNumberOfMessagesNotVisible"};
        struct qraft_attr *attrs;
        size_t n;
        assert_int_equal(qraft_get_queue_attributes(client, "consumed", names, 2, &attrs, &n),
                         QRAFT_OK);
        assert_int_equal(n, 2);
        assert_string_equal(attrs[0].value, "0");
        assert_string_equal(attrs[1].value, "0");
        qraft_attrs_free(attrs, n);
    }
    /* Blocking calls stay refused inside callbacks. */
    assert_int_equal(qraft_receive_async(client, "consumed", NULL, blockingFromCallback, NULL),
                     0);
    assert_int_equal(qraft_wait(client), 0);
    assert_int_equal(blockingRefused, QRAFT_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* Raw connections                                                         */

static int dial(unsigned node, int rcvbuf)
{
    struct sockaddr_in sa;
    const char *addr = cluster.nodes[node].client_addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    if (rcvbuf > 0) {
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Close @fd with a reset (SO_LINGER 0) rather than a FIN. */
static void closeReset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void writeAll(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void packStr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A growing buffer of request frames, written in one go. */
struct frames
{
    char *data;
    size_t len, cap;
};

/* Append the frame of request @id: @op with @args (a msgpack map, or
 * NULL) and, when @seq is not 0, the session (@cid, @seq, ack = seq). */
static void framesAdd(struct frames *f, uint64_t id, const char *op, const msgpack_sbuffer *args,
                      uint64_t cid, uint64_t seq)
{
    struct qraft_request req;
    void *frame;
    size_t len;

    memset(&req, 0, sizeof req);
    req.id = id;
    req.op = op;
    req.op_len = strlen(op);
    if (seq != 0) {
        req.client_id = cid;
        req.seq = seq;
        req.ack = seq;
    }
    if (args != NULL) {
        req.args = args->data;
        req.args_len = args->size;
    }
    assert_int_equal(qraft_wire_encode_request(&req, &frame, &len), 0);
    if (f->len + len > f->cap) {
        f->cap = (f->len + len) * 2;
        f->data = realloc(f->data, f->cap);
        assert_non_null(f->data);
    }
    memcpy(f->data + f->len, frame, len);
    f->len += len;
    free(frame);
}

/* SendMessage args: {"QueueName": @queue, "MessageBody": @body}. */
static void sendArgs(msgpack_sbuffer *sb, const char *queue, const char *body, size_t len)
{
    msgpack_packer pk;

    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    packStr(&pk, "QueueName");
    packStr(&pk, queue);
    packStr(&pk, "MessageBody");
    msgpack_pack_str(&pk, len);
    msgpack_pack_str_body(&pk, body, len);
}

/* A session id that no other connection of this run uses. */
static uint64_t newSessionId(void)
{
    static uint64_t next;
    if (next == 0) {
        next = ((uint64_t)getpid() << 32) ^ testNowMs() << 8;
    }
    return ++next;
}

/* The value of @key in the map @map, or NULL. */
static const msgpack_object *mapGet(const msgpack_object *map, const char *key)
{
    uint32_t i;
    size_t n = strlen(key);

    if (map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
            memcmp(kv->key.via.str.ptr, key, n) == 0) {
            return &kv->val;
        }
    }
    return NULL;
}

static bool strIs(const msgpack_object *o, const char *s)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The writer of the raw test: writes the whole buffer while the test
 * reads the replies (the node may stop reading until replies are taken). */
struct writer
{
    int fd;
    const struct frames *frames;
    pthread_t thread;
};

static void *writerMain(void *arg)
{
    struct writer *w = arg;
    const char *p = w->frames->data;
    size_t left = w->frames->len;

    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    return NULL;
}

/* Kinds of request in the raw test, by id % 3. */
enum rawKind
{
    RAW_UNKNOWN_OP, /* answered at once, while the frame is read */
    RAW_READ,       /* ListQueues: answered after a barrier */
    RAW_SEND,       /* SendMessage in a session: answered when applied */
};

/* One connection, PIPELINED requests of three kinds written in one go,
 * whose replies the node produces in different phases of its loop (while
 * reading, after a barrier, after the log). Each id is answered exactly
 * once, with the reply of its kind (a send's MD5 is its own body's), and
 * nothing comes after the last. Replies of the same kind come in request
 * order: unknown ops are answered in read order, and a session's sends
 * are applied in sequence order. */
static void test_raw_pipeline_each_once_in_order(void **state)
{
    struct frames frames = {0};
    msgpack_sbuffer args;
    struct writer w;
    struct qraft_wire_reader reader;
    unsigned *seen = calloc(PIPELINED + 1, sizeof *seen);
    char (*md5)[33] = calloc(PIPELINED + 1, sizeof *md5);
    uint64_t last[3] = {0, 0, 0};
    uint64_t cid = newSessionId();
    uint64_t seq = 0;
    uint64_t deadline;
    unsigned replies = 0;
    char buf[65536];
    uint64_t id;
    int fd;
    (void)state;

    assert_non_null(seen);
    assert_non_null(md5);
    assert_int_equal(qraft_create_queue(client, "raw", NULL, 0, NULL, 0), QRAFT_OK);
    msgpack_sbuffer_init(&args);
    for (id = 1; id <= PIPELINED; id++) {
        char body[64];
        size_t len;
        switch ((enum rawKind)(id % 3)) {
        case RAW_UNKNOWN_OP:
            framesAdd(&frames, id, "NoSuchOperation", NULL, 0, 0);
            break;
        case RAW_READ:
            framesAdd(&frames, id, "ListQueues", NULL, 0, 0);
            break;
        case RAW_SEND:
            len = (size_t)snprintf(body, sizeof body, "raw-%05llu", (unsigned long long)id);
            md5Hex(body, len, md5[id]);
            sendArgs(&args, "raw", body, len);
            framesAdd(&frames, id, "SendMessage", &args, cid, ++seq);
            break;
        }
    }
    msgpack_sbuffer_destroy(&args);

    fd = dial((unsigned)leaderIndex, 0);
    w.fd = fd;
    w.frames = &frames;
    assert_int_equal(pthread_create(&w.thread, NULL, writerMain, &w), 0);
    qraft_wire_reader_init(&reader, 1 << 20);
    deadline = testNowMs() + 60000;
    while (replies < PIPELINED) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        const void *payload;
        size_t len;
        ssize_t n;

        assert_true(testNowMs() < deadline);
        assert_true(poll(&pfd, 1, 100) >= 0);
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        n = read(fd, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(qraft_wire_reader_feed(&reader, buf, (size_t)n), 0);
        while (qraft_wire_reader_next(&reader, &payload, &len) == 1) {
            msgpack_unpacked u;
            const msgpack_object *o;
            enum rawKind kind;

            msgpack_unpacked_init(&u);
            assert_int_equal(msgpack_unpack_next(&u, payload, len, NULL), MSGPACK_UNPACK_SUCCESS);
            o = mapGet(&u.data, "id");
            assert_non_null(o);
            assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            id = o->via.u64;
            assert_true(id >= 1 && id <= PIPELINED);
            if (seen[id]++ != 0) {
                fail_msg("request %llu answered twice", (unsigned long long)id);
            }
            kind = (enum rawKind)(id % 3);
            if (id < last[kind]) {
                fail_msg("request %llu answered after %llu (same kind %d)",
                         (unsigned long long)id, (unsigned long long)last[kind], kind);
            }
            last[kind] = id;
            o = mapGet(&u.data, "ok");
            assert_non_null(o);
            assert_int_equal(o->type, MSGPACK_OBJECT_BOOLEAN);
            if (kind == RAW_UNKNOWN_OP) {
                assert_false(o->via.boolean);
                assert_true(strIs(mapGet(&u.data, "code"), "UnknownOperation"));
            } else {
                if (!o->via.boolean) {
                    const msgpack_object *code = mapGet(&u.data, "code");
                    fail_msg("request %llu failed: %.*s", (unsigned long long)id,
                             code != NULL && code->type == MSGPACK_OBJECT_STR
                                 ? (int)code->via.str.size
                                 : 0,
                             code != NULL && code->type == MSGPACK_OBJECT_STR ? code->via.str.ptr
                                                                              : "");
                }
                if (kind == RAW_SEND) {
                    assert_true(strIs(mapGet(&u.data, "MD5OfMessageBody"), md5[id]));
                }
            }
            msgpack_unpacked_destroy(&u);
            replies++;
        }
    }
    /* Nothing more: no reply twice. */
    {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 300), 0);
    }
    pthread_join(w.thread, NULL);
    qraft_wire_reader_close(&reader);
    close(fd);
    printf("# %u replies on one connection, each once\n", replies);
    free(frames.data);
    free(seen);
    free(md5);
}

/* 10 messages of 200 KiB in queue "big" (once). */
static void bigQueue(void)
{
    static bool done;
    char *big;
    unsigned i;

    if (done) {
        return;
    }
    assert_int_equal(qraft_create_queue(client, "big", NULL, 0, NULL, 0), QRAFT_OK);
    big = malloc(BIG_BODY);
    assert_non_null(big);
    memset(big, 'b', BIG_BODY);
    for (i = 0; i < 10; i++) {
        assert_int_equal(qraft_send(client, "big", big, BIG_BODY, NULL, NULL), QRAFT_OK);
    }
    free(big);
    done = true;
}

/* Append a ReceiveMessage of up to 10 messages of "big", which stay
 * visible (VisibilityTimeout 0): a reply of about 2 MiB. */
static void receiveAdd(struct frames *f, uint64_t id, uint64_t cid, uint64_t seq)
{
    msgpack_sbuffer args;
    msgpack_packer pk;

    msgpack_sbuffer_init(&args);
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    packStr(&pk, "QueueName");
    packStr(&pk, "big");
    packStr(&pk, "MaxNumberOfMessages");
    msgpack_pack_uint32(&pk, 10);
    packStr(&pk, "VisibilityTimeout");
    msgpack_pack_uint32(&pk, 0);
    packStr(&pk, "WaitTimeSeconds");
    msgpack_pack_uint32(&pk, 0);
    framesAdd(f, id, "ReceiveMessage", &args, cid, seq);
    msgpack_sbuffer_destroy(&args);
}

/* Clients that leave with replies queued for them:
 * - a burst of unknown ops then a close (FIN or reset): the close is read
 *   in the same loop iteration as the requests, before their replies are
 *   written;
 * - sends then a close: the replies come after the connection is gone;
 * - a client that reads nothing, with a small receive buffer, asks for
 *   MiBs of messages and resets the connection: a write is in flight and
 *   more replies wait behind it.
 * The node keeps serving others throughout. */
static void test_close_with_output_pending(void **state)
{
    struct qraft_send_result sent;
    msgpack_sbuffer args;
    unsigned round;
    unsigned i;
    int fd;
    (void)state;

    for (round = 0; round < 40; round++) {
        struct frames frames = {0};
        for (i = 1; i <= 2000; i++) {
            framesAdd(&frames, i, "NoSuchOperation", NULL, 0, 0);
        }
        fd = dial((unsigned)leaderIndex, 0);
        writeAll(fd, frames.data, frames.len);
        if (round % 2 == 0) {
            close(fd);
        } else {
            closeReset(fd);
        }
        free(frames.data);
    }

    assert_int_equal(qraft_create_queue(client, "leaving", NULL, 0, NULL, 0), QRAFT_OK);
    msgpack_sbuffer_init(&args);
    for (round = 0; round < 10; round++) {
        struct frames frames = {0};
        uint64_t cid = newSessionId();
        for (i = 1; i <= 200; i++) {
            sendArgs(&args, "leaving", "gone", 4);
            framesAdd(&frames, i, "SendMessage", &args, cid, i);
        }
        fd = dial((unsigned)leaderIndex, 0);
        writeAll(fd, frames.data, frames.len);
        testSleepMs(round); /* closes at different points of the log's work */
        closeReset(fd);
        free(frames.data);
    }

    /* A client that reads nothing asks for 40 MiB: the first replies fill
     * the socket and stay in flight, the later ones wait behind them. */
    bigQueue();
    {
        struct frames first = {0}, second = {0};
        uint64_t cid = newSessionId();
        for (i = 1; i <= 10; i++) {
            receiveAdd(&first, i, cid, i);
            receiveAdd(&second, 10 + i, cid, 10 + i);
        }
        fd = dial((unsigned)leaderIndex, 4096);
        writeAll(fd, first.data, first.len);
        testSleepMs(500);
        writeAll(fd, second.data, second.len);
        testSleepMs(500);
        closeReset(fd);
        free(first.data);
        free(second.data);
    }
    msgpack_sbuffer_destroy(&args);

    /* Still serving. */
    assert_int_equal(qraft_send(client, "pipe", "after", 5, NULL, &sent), QRAFT_OK);
    for (i = 0; i < cluster.n; i++) {
        struct qraft_node_status st;
        assert_int_equal(testNodeStatus(&cluster, i, &st), 0);
    }
}

/* A stream that cannot be cut into frames gets its error reply after every
 * reply queued before it, even those waiting behind a write in flight,
 * and then the end of the stream. */
static void test_close_after_writes_waits_for_output(void **state)
{
    static const unsigned char too_large[4] = {0xff, 0xff, 0xff, 0xf0};
    struct frames frames = {0};
    struct qraft_wire_reader reader;
    uint64_t cid = newSessionId();
    uint64_t deadline;
    uint64_t next = 1;
    bool error_seen = false;
    char *buf;
    unsigned i;
    int fd;
    (void)state;

    bigQueue();
    for (i = 1; i <= 20; i++) {
        receiveAdd(&frames, i, cid, i);
    }
    fd = dial((unsigned)leaderIndex, 0);
    writeAll(fd, frames.data, frames.len);
    free(frames.data);
    testSleepMs(700); /* replies applied; the socket is full, a write in flight */
    writeAll(fd, too_large, sizeof too_large);
    testSleepMs(200);

    buf = malloc(1 << 20);
    assert_non_null(buf);
    qraft_wire_reader_init(&reader, 64u << 20);
    deadline = testNowMs() + 60000;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        const void *payload;
        size_t len;
        ssize_t n;

        assert_true(testNowMs() < deadline);
        assert_true(poll(&pfd, 1, 100) >= 0);
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        n = read(fd, buf, 1 << 20);
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        assert_int_equal(qraft_wire_reader_feed(&reader, buf, (size_t)n), 0);
        while (qraft_wire_reader_next(&reader, &payload, &len) == 1) {
            msgpack_unpacked u;
            const msgpack_object *id;
            const msgpack_object *ok;

            assert_false(error_seen); /* nothing after the error */
            msgpack_unpacked_init(&u);
            assert_int_equal(msgpack_unpack_next(&u, payload, len, NULL), MSGPACK_UNPACK_SUCCESS);
            id = mapGet(&u.data, "id");
            ok = mapGet(&u.data, "ok");
            assert_non_null(id);
            assert_non_null(ok);
            if (id->via.u64 == 0) {
                assert_false(ok->via.boolean);
                assert_true(strIs(mapGet(&u.data, "code"), "FrameTooLarge"));
                error_seen = true;
            } else {
                assert_int_equal(id->via.u64, next);
                assert_true(ok->via.boolean);
                next++;
            }
            msgpack_unpacked_destroy(&u);
        }
    }
    printf("# %llu replies, then the error, then the end of the stream\n",
           (unsigned long long)(next - 1));
    assert_int_equal(next, 21);
    assert_true(error_seen);
    qraft_wire_reader_close(&reader);
    free(buf);
    close(fd);
}

/* Every node stops on SIGTERM with status 0: under SANITIZE=1 a leak or a
 * use after free of a connection's output would change it. */
static void test_nodes_exit_cleanly(void **state)
{
    unsigned i;
    (void)state;

    qraft_close(client);
    client = NULL;
    for (i = 0; i < cluster.n; i++) {
        int status = testNodeStop(&cluster, i, SIGTERM, 30000);
        assert_true(status != -1);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "tail -n 40 '%s/log'", cluster.nodes[i].dir);
            if (system(cmd) != 0) {
                printf("# no log in %s\n", cluster.nodes[i].dir);
            }
            fail_msg("node %u: %s %d (its log above)", i + 1,
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_sends_each_once),
        cmocka_unit_test(test_pipelined_receive_delete),
        cmocka_unit_test(test_raw_pipeline_each_once_in_order),
        cmocka_unit_test(test_close_with_output_pending),
        cmocka_unit_test(test_close_after_writes_waits_for_output),
        cmocka_unit_test(test_nodes_exit_cleanly),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("integration/replies", tests, setup, teardown);
}
