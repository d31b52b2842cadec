/* Unit tests of the client library against a scripted fake server.
 *
 * The fake server is a thread on 127.0.0.1 (ephemeral port) that speaks the
 * protocol with the library's own wire codec and applies the session rules
 * of DESIGN.md: seq = last + 1 is applied, seq <= last gets its reply again
 * (replies are a function of seq), seq > last + 1 gets OutOfOrder. A hook
 * per test decides, request by request, to answer normally, to answer with
 * an error, to stay silent, or to hang up. Every loop is bounded in count
 * and time; every thread is joined.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <msgpack.h>

#include "client/qraft.h"

/* Longest a fake server runs, whatever happens (ms). */
#define FAKE_LIFETIME_MS 20000

/* Most requests a fake records. */
#define FAKE_SEEN_MAX 8192

/* ---------------------------------------------------------------------- */
/* Fake server                                                             */

/* What the fake does with one request. */
enum {
    FAKE_NORMAL,       /* session rules, reply */
    FAKE_ERROR,        /* reply with code, apply nothing */
    FAKE_APPLY_ERROR,  /* session rules, then reply with code instead */
    FAKE_SWALLOW,      /* no reply, apply nothing */
    FAKE_APPLY_SILENT, /* session rules, no reply */
    FAKE_APPLY_HANGUP  /* session rules, no reply, then hang up */
};

/* A request as the fake saw it. */
struct fakeSeen
{
    uint64_t id;
    int op;
    uint64_t cid;
    uint64_t seq;
    uint64_t ack;
    int conn; /* 1 for the first connection */
};

struct fake;

/* Decide what to do with @req (its @nth sighting of this seq, from 1). */
typedef int (*fakeHook)(struct fake *f,
                        const struct qraft_request *req,
                        int nth,
                        int *code,
                        const char **leader);

struct fake
{
    int lfd;            /* listening socket */
    char addr[32];      /* "127.0.0.1:port" */
    uint64_t nodeId;    /* answered in hello and status */
    pthread_t thread;   /* the server */
    pthread_mutex_t mu; /* guards everything below */
    bool stop;          /* asks the thread to end */
    bool noAccept;      /* never accept (a black hole) */
    fakeHook hook;      /* NULL: always FAKE_NORMAL */
    int conns;          /* connections accepted */
    int hellos;         /* hello requests */
    uint32_t helloVersion; /* version of the last hello */
    struct fakeSeen seen[FAKE_SEEN_MAX]; /* non-hello requests, in order */
    int nSeen;
    uint64_t cid;       /* session */
    uint64_t last;      /* last applied seq */
    uint64_t applied[FAKE_SEEN_MAX]; /* seqs applied, in order */
    int nApplied;
    int outOfOrder;     /* OutOfOrder replies sent */
    const char *leader; /* for hooks: the address to point at */
    bool broken;        /* a check failed in the server thread */
};

/* cmocka's asserts must not run outside the test's thread: the server
 * thread records failures here, and fakeStop() asserts on them. */
#define FAKE_CHECK(f, cond)                                                 \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fake server: check failed: %s (line %d)\n",    \
                    #cond, __LINE__);                                       \
            (f)->broken = true;                                             \
        }                                                                   \
    } while (0)

static int64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write a whole frame (blocking) and free it. */
static void fakeWrite(int fd, void *frame, size_t len)
{
    const char *p = frame;
    ssize_t n;
    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    free(frame);
}

/* Pack a string. */
static void packStr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Send the success reply of @req (a function of its op and seq). */
static void fakeReplyOk(struct fake *f, int fd, const struct qraft_request *req)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    void *frame;
    size_t len;
    char id[32];
    int i;
    int rv;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    switch (req->op) {
        case QRAFT_OP_HELLO:
            msgpack_pack_map(&pk, 3);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            packStr(&pk, "version");
            msgpack_pack_uint32(&pk, QRAFT_PROTOCOL_VERSION);
            packStr(&pk, "node");
            msgpack_pack_uint64(&pk, f->nodeId);
            break;
        case QRAFT_OP_STATUS:
            msgpack_pack_map(&pk, 12);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            packStr(&pk, "node");
            msgpack_pack_uint64(&pk, f->nodeId);
            packStr(&pk, "zone");
            packStr(&pk, "az2");
            packStr(&pk, "role");
            packStr(&pk, "voter");
            packStr(&pk, "state");
            packStr(&pk, "follower");
            packStr(&pk, "term");
            msgpack_pack_uint64(&pk, 7);
            packStr(&pk, "last_index");
            msgpack_pack_uint64(&pk, 1234);
            packStr(&pk, "applied");
            msgpack_pack_uint64(&pk, 1230);
            packStr(&pk, "leader");
            msgpack_pack_uint64(&pk, 1);
            packStr(&pk, "digest");
            packStr(&pk, "0123456789abcdef0123456789abcdef");
            packStr(&pk, "unknown_key");
            msgpack_pack_array(&pk, 1);
            msgpack_pack_nil(&pk);
            packStr(&pk, "members");
            msgpack_pack_array(&pk, 3);
            for (i = 1; i <= 3; i++) {
                char buf[64];
                msgpack_pack_map(&pk, 5);
                packStr(&pk, "id");
                msgpack_pack_uint64(&pk, (uint64_t)i);
                packStr(&pk, "zone");
                snprintf(buf, sizeof buf, "az%d", i);
                packStr(&pk, buf);
                packStr(&pk, "raft");
                snprintf(buf, sizeof buf, "127.0.0.1:700%d", i);
                packStr(&pk, buf);
                packStr(&pk, "client");
                snprintf(buf, sizeof buf, "127.0.0.1:710%d", i);
                packStr(&pk, buf);
                packStr(&pk, "role");
                packStr(&pk, i == 3 ? "standby" : "voter");
            }
            break;
        case QRAFT_OP_SEND:
            msgpack_pack_map(&pk, 3);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            packStr(&pk, "msg_id");
            snprintf(id, sizeof id, "m-%llu", (unsigned long long)req->seq);
            packStr(&pk, id);
            packStr(&pk, "md5");
            packStr(&pk, "d41d8cd98f00b204e9800998ecf8427e");
            break;
        case QRAFT_OP_RECEIVE:
            msgpack_pack_map(&pk, 2);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            packStr(&pk, "messages");
            msgpack_pack_array(&pk, 2);
            for (i = 0; i < 2; i++) {
                msgpack_pack_map(&pk, 6);
                packStr(&pk, "msg_id");
                packStr(&pk, i == 0 ? "id-0" : "id-1");
                packStr(&pk, "receipt");
                packStr(&pk, i == 0 ? "rc-0" : "rc-1");
                packStr(&pk, "body");
                msgpack_pack_bin(&pk, i == 0 ? 3 : 0);
                msgpack_pack_bin_body(&pk, "a\0b", i == 0 ? 3 : 0);
                packStr(&pk, "receive_count");
                msgpack_pack_uint32(&pk, (uint32_t)i + 1);
                packStr(&pk, "sent_ms");
                msgpack_pack_uint64(&pk, 1000 + (uint64_t)i);
                packStr(&pk, "first_receive_ms");
                msgpack_pack_uint64(&pk, 2000 + (uint64_t)i);
            }
            break;
        case QRAFT_OP_QUEUE_LIST:
            msgpack_pack_map(&pk, 2);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            packStr(&pk, "queues");
            msgpack_pack_array(&pk, 2);
            packStr(&pk, "alpha");
            packStr(&pk, "beta");
            break;
        default:
            msgpack_pack_map(&pk, 1);
            packStr(&pk, "ok");
            msgpack_pack_true(&pk);
            break;
    }
    rv = qraft_wire_encode_reply(req->id, sb.data, sb.size, &frame, &len);
    FAKE_CHECK(f, rv == 0);
    msgpack_sbuffer_destroy(&sb);
    if (rv == 0) {
        fakeWrite(fd, frame, len);
    }
}

/* Send an error reply. */
static void fakeReplyError(struct fake *f,
                           int fd,
                           uint64_t id,
                           int code,
                           const char *leader)
{
    void *frame;
    size_t len;
    char msg[64];
    int rv;
    snprintf(msg, sizeof msg, "fake says %s", qraft_errname(code));
    rv = qraft_wire_encode_error(id, code, msg, leader, &frame, &len);
    FAKE_CHECK(f, rv == 0);
    if (rv == 0) {
        fakeWrite(fd, frame, len);
    }
}

/* Apply the session rules to @req. Returns 0 (applied now or before) or
 * the error the rules give. */
static int fakeSession(struct fake *f, const struct qraft_request *req)
{
    if (req->client_id != f->cid) {
        if (req->seq != 1) {
            return QRAFT_ESESSION_EXPIRED;
        }
        f->cid = req->client_id;
        f->last = 0;
    }
    if (req->seq <= f->last) {
        return 0;
    }
    if (req->seq != f->last + 1) {
        f->outOfOrder++;
        return QRAFT_EOUT_OF_ORDER;
    }
    f->last = req->seq;
    if (f->nApplied < FAKE_SEEN_MAX) {
        f->applied[f->nApplied++] = req->seq;
    }
    return 0;
}

/* Handle one frame. Returns false to hang up. */
static bool fakeFrame(struct fake *f, int fd, const void *payload, size_t len)
{
    struct qraft_request req;
    char err[256];
    const char *leader = NULL;
    int code = 0;
    int action = FAKE_NORMAL;
    int nth = 1;
    int rv;
    int i;

    rv = qraft_wire_decode_request(payload, len, &req, err, sizeof err);
    FAKE_CHECK(f, rv == 0); /* the library never sends bad frames */
    if (rv != 0) {
        return false;
    }
    pthread_mutex_lock(&f->mu);
    if (req.op == QRAFT_OP_HELLO) {
        f->hellos++;
        f->helloVersion = req.version;
        pthread_mutex_unlock(&f->mu);
        fakeReplyOk(f, fd, &req);
        return true;
    }
    for (i = 0; i < f->nSeen; i++) {
        nth += req.seq != 0 && f->seen[i].seq == req.seq &&
               f->seen[i].cid == req.client_id;
    }
    if (f->nSeen < FAKE_SEEN_MAX) {
        f->seen[f->nSeen++] = (struct fakeSeen){
            req.id, req.op, req.client_id, req.seq, req.ack, f->conns};
    }
    if (f->hook != NULL) {
        action = f->hook(f, &req, nth, &code, &leader);
    }
    if (action != FAKE_ERROR && action != FAKE_SWALLOW && req.seq != 0) {
        rv = fakeSession(f, &req);
        if (rv != 0 && action == FAKE_NORMAL) {
            action = FAKE_ERROR;
            code = rv;
        }
    }
    pthread_mutex_unlock(&f->mu);
    switch (action) {
        case FAKE_NORMAL:
            fakeReplyOk(f, fd, &req);
            return true;
        case FAKE_ERROR:
        case FAKE_APPLY_ERROR:
            fakeReplyError(f, fd, req.id, code, leader);
            return true;
        case FAKE_APPLY_HANGUP:
            return false;
        default:
            return true;
    }
}

/* Serve one connection until EOF, hang-up, stop or the lifetime. */
static void fakeServe(struct fake *f, int fd, int64_t until)
{
    struct qraft_wire_reader r;
    struct pollfd p;
    char buf[65536];
    const void *payload;
    size_t len;
    ssize_t n;
    bool stop = false;
    bool hungUp = false;
    qraft_wire_reader_init(&r, QRAFT_FRAME_MAX_DEFAULT);
    while (!stop && nowMs() < until) {
        pthread_mutex_lock(&f->mu);
        stop = f->stop;
        pthread_mutex_unlock(&f->mu);
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        if (hungUp) {
            continue; /* drain until the client closes */
        }
        FAKE_CHECK(f, qraft_wire_reader_feed(&r, buf, (size_t)n) == 0);
        while (!hungUp && qraft_wire_reader_next(&r, &payload, &len) == 1) {
            if (!fakeFrame(f, fd, payload, len)) {
                /* FIN after the replies already written; keep reading so
                 * that closing does not turn into a reset. */
                shutdown(fd, SHUT_WR);
                hungUp = true;
            }
        }
    }
    qraft_wire_reader_close(&r);
    close(fd);
}

static void *fakeMain(void *arg)
{
    struct fake *f = arg;
    int64_t until = nowMs() + FAKE_LIFETIME_MS;
    struct pollfd p;
    bool stop = false;
    int fd;
    while (!stop && nowMs() < until) {
        pthread_mutex_lock(&f->mu);
        stop = f->stop;
        pthread_mutex_unlock(&f->mu);
        if (f->noAccept) {
            poll(NULL, 0, 20);
            continue;
        }
        p.fd = f->lfd;
        p.events = POLLIN;
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pthread_mutex_lock(&f->mu);
        f->conns++;
        pthread_mutex_unlock(&f->mu);
        fakeServe(f, fd, until);
    }
    return NULL;
}

/* Bind a listening socket on 127.0.0.1, ephemeral port. */
static int listenAny(char *addr, size_t len)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    snprintf(addr, len, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

/* Start a fake server (heap, zeroed). */
static struct fake *fakeStart(uint64_t nodeId, fakeHook hook, bool noAccept)
{
    struct fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->nodeId = nodeId;
    f->hook = hook;
    f->noAccept = noAccept;
    f->lfd = listenAny(f->addr, sizeof f->addr);
    pthread_mutex_init(&f->mu, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, fakeMain, f), 0);
    return f;
}

/* Stop, join and free a fake server. */
static void fakeStop(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    assert_false(f->broken);
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* An address where nothing listens. */
static void closedAddr(char *addr, size_t len)
{
    close(listenAny(addr, len));
}

/* Open a client on @servers with @timeoutMs. */
static qraft_client *openClient(const char *servers, int timeoutMs)
{
    struct qraft_options o = {timeoutMs, 0};
    qraft_client *c = NULL;
    assert_int_equal(qraft_open(servers, &o, &c), 0);
    assert_non_null(c);
    return c;
}

/* Check that the fake applied exactly seqs 1..n, in order. */
static void assertApplied(struct fake *f, int n)
{
    int i;
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nApplied, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(f->applied[i], (uint64_t)i + 1);
    }
    pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------------- */
/* Async bookkeeping                                                       */

#define N_ASYNC 100

/* Outcomes of the async sends of one test. */
struct asyncLog
{
    int calls[N_ASYNC];
    int status[N_ASYNC];
    char ids[N_ASYNC][QRAFT_MESSAGE_ID_MAX];
};

static struct asyncLog alog;

static void asyncCb(void *arg, int status, const char *msg_id)
{
    int i = (int)(intptr_t)arg;
    alog.calls[i]++;
    alog.status[i] = status;
    if (msg_id != NULL) {
        snprintf(alog.ids[i], sizeof alog.ids[i], "%s", msg_id);
    }
}

/* Queue @n async sends, wait, check each completed once with m-<seq>. */
static void sendAsyncAndCheck(qraft_client *c, int n)
{
    char want[32];
    int i;
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < n; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    assert_int_equal(qraft_wait(c), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_OK);
        snprintf(want, sizeof want, "m-%d", i + 1);
        assert_string_equal(alog.ids[i], want);
    }
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */

static void connectAndHello(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    qraft_client *c = openClient(f->addr, 2000);
    char id[QRAFT_MESSAGE_ID_MAX];
    (void)state;
    assert_int_equal(qraft_send(c, "q", "hi", 2, id), 0);
    assert_string_equal(id, "m-1");
    assert_int_equal(qraft_queue_create(c, "q", 30), 0);
    assert_int_equal(qraft_queue_delete(c, "q"), 0);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->conns, 1);
    assert_int_equal(f->hellos, 1);
    assert_int_equal(f->helloVersion, QRAFT_PROTOCOL_VERSION);
    assert_int_equal(f->nSeen, 3);
    assert_true(f->seen[0].cid != 0);
    assert_int_equal(f->seen[0].seq, 1);
    assert_int_equal(f->seen[0].ack, 1);
    assert_int_equal(f->seen[2].seq, 3);
    assert_int_equal(f->seen[2].ack, 3); /* 1 and 2 answered */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 3);
    qraft_close(c);
    fakeStop(f);
}

static void openRejectsBadLists(void **state)
{
    qraft_client *c = (qraft_client *)1;
    (void)state;
    assert_int_equal(qraft_open("", NULL, &c), QRAFT_EINVAL);
    assert_null(c);
    assert_int_equal(qraft_open("localhost", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:1,", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:0", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:65536", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:12x", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open(NULL, NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:1,[::1]:2,localhost:65535", NULL, &c), 0);
    qraft_close(c);
}

/* Every request: NotLeader pointing at f->leader. */
static int hookNotLeader(struct fake *f,
                         const struct qraft_request *req,
                         int nth,
                         int *code,
                         const char **leader)
{
    (void)req;
    (void)nth;
    *code = QRAFT_ENOTLEADER;
    *leader = f->leader;
    return FAKE_ERROR;
}

static void notLeaderFollowsHint(void **state)
{
    struct fake *b = fakeStart(2, NULL, false);
    struct fake *a = fakeStart(1, hookNotLeader, false);
    qraft_client *c;
    char id[QRAFT_MESSAGE_ID_MAX];
    char servers[80];
    (void)state;
    a->leader = b->addr;
    /* Only a is listed: the hint alone leads to b. */
    snprintf(servers, sizeof servers, "%s", a->addr);
    c = openClient(servers, 3000);
    assert_int_equal(qraft_send(c, "q", "x", 1, id), 0);
    assert_string_equal(id, "m-1");
    pthread_mutex_lock(&a->mu);
    assert_int_equal(a->nSeen, 1);
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&b->mu);
    assert_int_equal(b->nSeen, 1);
    assert_int_equal(b->seen[0].seq, 1);
    assert_int_equal(b->hellos, 1);
    pthread_mutex_unlock(&b->mu);
    assert_int_equal(qraft_send(c, "q", "y", 1, id), 0);
    assert_string_equal(id, "m-2");
    qraft_close(c);
    fakeStop(a);
    fakeStop(b);
}

static void notLeaderWithoutHintTriesNext(void **state)
{
    struct fake *b = fakeStart(2, NULL, false);
    struct fake *a = fakeStart(1, hookNotLeader, false);
    qraft_client *c;
    char servers[80];
    int64_t t0;
    (void)state;
    a->leader = ""; /* no leader known */
    snprintf(servers, sizeof servers, "%s,%s", a->addr, b->addr);
    c = openClient(servers, 3000);
    t0 = nowMs();
    assert_int_equal(qraft_queue_create(c, "q", -1), 0);
    assert_true(nowMs() - t0 >= 40); /* after the 50 ms backoff */
    assertApplied(b, 1);
    qraft_close(c);
    fakeStop(a);
    fakeStop(b);
}

/* First connection: normal up to seq 30, then silent (applied) up to 40,
 * then hang up. Afterwards normal. */
static int hookDrop(struct fake *f,
                    const struct qraft_request *req,
                    int nth,
                    int *code,
                    const char **leader)
{
    (void)nth;
    (void)code;
    (void)leader;
    if (f->conns > 1 || req->seq <= 30) {
        return FAKE_NORMAL;
    }
    if (req->seq < 40) {
        return FAKE_APPLY_SILENT;
    }
    if (req->seq == 40) {
        return FAKE_APPLY_HANGUP;
    }
    return FAKE_SWALLOW;
}

static void dropMidPipelineResendsInOrder(void **state)
{
    struct fake *f = fakeStart(1, hookDrop, false);
    qraft_client *c = openClient(f->addr, 5000);
    uint64_t cid;
    uint64_t expect = 31;
    int i;
    (void)state;
    sendAsyncAndCheck(c, N_ASYNC);
    assertApplied(f, N_ASYNC);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->conns, 2);
    assert_int_equal(f->outOfOrder, 0);
    cid = f->seen[0].cid;
    for (i = 0; i < f->nSeen; i++) {
        assert_int_equal(f->seen[i].cid, cid);
        if (f->seen[i].conn == 2) {
            /* From the first unanswered (31), in order, no gap. */
            assert_int_equal(f->seen[i].seq, expect);
            expect++;
        }
    }
    assert_int_equal(expect, N_ASYNC + 1);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* First sighting of seq 1: applied, but answered UnknownOutcome. */
static int hookUnknownOutcome(struct fake *f,
                              const struct qraft_request *req,
                              int nth,
                              int *code,
                              const char **leader)
{
    (void)f;
    (void)leader;
    if (req->seq == 1 && nth == 1) {
        *code = QRAFT_EUNKNOWN_OUTCOME;
        return FAKE_APPLY_ERROR;
    }
    return FAKE_NORMAL;
}

static void unknownOutcomeResendsSameSeq(void **state)
{
    struct fake *f = fakeStart(1, hookUnknownOutcome, false);
    qraft_client *c = openClient(f->addr, 3000);
    char id[QRAFT_MESSAGE_ID_MAX];
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, id), 0);
    assert_string_equal(id, "m-1");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 2);
    assert_int_equal(f->seen[1].seq, 1);
    assert_int_equal(f->seen[1].cid, f->seen[0].cid);
    assert_true(f->seen[1].id != f->seen[0].id); /* a fresh frame id */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 1); /* once */
    qraft_close(c);
    fakeStop(f);
}

/* First sighting of seq 3: lost (no reply, not applied). */
static int hookLose3(struct fake *f,
                     const struct qraft_request *req,
                     int nth,
                     int *code,
                     const char **leader)
{
    (void)f;
    (void)code;
    (void)leader;
    return req->seq == 3 && nth == 1 ? FAKE_SWALLOW : FAKE_NORMAL;
}

static void outOfOrderResendsFromFirstUnanswered(void **state)
{
    struct fake *f = fakeStart(1, hookLose3, false);
    qraft_client *c = openClient(f->addr, 3000);
    int i;
    (void)state;
    sendAsyncAndCheck(c, 10);
    assertApplied(f, 10);
    pthread_mutex_lock(&f->mu);
    assert_true(f->outOfOrder >= 1);
    /* 1..10 once, then one resend from 3 (the first unanswered) to 10. */
    assert_int_equal(f->nSeen, 18);
    for (i = 0; i < 10; i++) {
        assert_int_equal(f->seen[i].seq, (uint64_t)i + 1);
    }
    for (i = 10; i < 18; i++) {
        assert_int_equal(f->seen[i].seq, (uint64_t)i - 7);
    }
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* Swallow everything until the test says otherwise (via f->leader). */
static int hookSilentUntilTold(struct fake *f,
                               const struct qraft_request *req,
                               int nth,
                               int *code,
                               const char **leader)
{
    (void)req;
    (void)nth;
    (void)code;
    (void)leader;
    return f->leader == NULL ? FAKE_SWALLOW : FAKE_NORMAL;
}

static void timeoutKeepsRequestInSession(void **state)
{
    struct fake *f = fakeStart(1, hookSilentUntilTold, false);
    qraft_client *c = openClient(f->addr, 300);
    char id[QRAFT_MESSAGE_ID_MAX];
    int64_t t0 = nowMs();
    int64_t took;
    uint64_t cid;
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, id), QRAFT_ETIMEDOUT);
    took = nowMs() - t0;
    assert_true(took >= 290);
    assert_true(took < 1300);
    assert_non_null(strstr(qraft_errmsg(c), "Timeout"));

    pthread_mutex_lock(&f->mu);
    f->leader = "answer now";
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(qraft_send(c, "q", "y", 1, id), 0);
    assert_string_equal(id, "m-2");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    cid = f->seen[0].cid;
    assert_int_equal(f->seen[0].seq, 1);
    assert_int_equal(f->seen[1].seq, 1); /* resent, same seq and session */
    assert_int_equal(f->seen[1].cid, cid);
    assert_int_equal(f->seen[1].conn, 2);
    assert_int_equal(f->seen[2].seq, 2);
    assert_int_equal(f->seen[2].ack, 1); /* 1 not answered when 2 left */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 2);
    qraft_close(c);
    fakeStop(f);
}

static void asyncTimeoutCallsBackOnce(void **state)
{
    struct fake *f = fakeStart(1, hookSilentUntilTold, false);
    qraft_client *c = openClient(f->addr, 200);
    int64_t t0 = nowMs();
    int i;
    (void)state;
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < 5; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    assert_int_equal(qraft_wait(c), QRAFT_ETIMEDOUT);
    assert_true(nowMs() - t0 < 1200);
    for (i = 0; i < 5; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_ETIMEDOUT);
    }
    /* Later calls resend them first; their replies are dropped. */
    pthread_mutex_lock(&f->mu);
    f->leader = "answer now";
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(qraft_queue_create(c, "q", -1), 0);
    assertApplied(f, 6);
    for (i = 0; i < 5; i++) {
        assert_int_equal(alog.calls[i], 1);
    }
    qraft_close(c);
    fakeStop(f);
}

static void unreachableFailsAtDeadline(void **state)
{
    struct fake *hole = fakeStart(1, NULL, true);
    char a1[32];
    char a2[32];
    char servers[80];
    qraft_client *c;
    int64_t t0;
    int rv;
    (void)state;
    closedAddr(a1, sizeof a1);
    closedAddr(a2, sizeof a2);
    snprintf(servers, sizeof servers, "%s,%s", a1, a2);
    c = openClient(servers, 300);
    t0 = nowMs();
    rv = qraft_send(c, "q", "x", 1, NULL);
    assert_int_equal(rv, QRAFT_EUNAVAILABLE);
    assert_true(nowMs() - t0 >= 290);
    assert_true(nowMs() - t0 < 1300);
    assert_non_null(strstr(qraft_errmsg(c), "refused"));
    /* Nothing was sent: QRAFT_EUNAVAILABLE says so (not Timeout). */
    qraft_close(c);

    /* A server that accepts TCP but never answers hello. */
    c = openClient(hole->addr, 300);
    t0 = nowMs();
    rv = qraft_queue_delete(c, "q");
    assert_true(rv == QRAFT_EUNAVAILABLE || rv == QRAFT_ETIMEDOUT);
    assert_true(nowMs() - t0 >= 290);
    assert_true(nowMs() - t0 < 1300);
    qraft_close(c);
    fakeStop(hole);
}

static void receiveParsesMessages(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    qraft_client *c = openClient(f->addr, 2000);
    struct qraft_message *m = NULL;
    char **names = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(qraft_receive(c, "q", 10, 5, &m, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].id, "id-0");
    assert_string_equal(m[0].receipt, "rc-0");
    assert_int_equal(m[0].body_len, 3);
    assert_memory_equal(m[0].body, "a\0b", 3);
    assert_int_equal(m[0].receive_count, 1);
    assert_int_equal(m[0].sent_ms, 1000);
    assert_int_equal(m[0].first_receive_ms, 2000);
    assert_string_equal(m[1].id, "id-1");
    assert_int_equal(m[1].body_len, 0);
    assert_non_null(m[1].body);
    assert_int_equal(m[1].receive_count, 2);
    qraft_messages_free(m, n);

    assert_int_equal(qraft_queue_list(c, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "beta");
    qraft_strings_free(names, n);

    assert_int_equal(qraft_receive(c, "q", 0, -1, &m, &n), QRAFT_EINVAL);
    assert_int_equal(qraft_delete(c, "q", "rc-0"), 0);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->seen[0].op, QRAFT_OP_RECEIVE);
    assert_int_equal(f->seen[1].op, QRAFT_OP_QUEUE_LIST);
    assert_int_equal(f->seen[1].seq, 0); /* no session */
    assert_int_equal(f->seen[2].op, QRAFT_OP_DELETE);
    assert_int_equal(f->seen[2].seq, 2);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* Every session request: a business error. */
static int hookQueueMissing(struct fake *f,
                            const struct qraft_request *req,
                            int nth,
                            int *code,
                            const char **leader)
{
    (void)f;
    (void)req;
    (void)nth;
    (void)leader;
    *code = QRAFT_EQUEUE_DOES_NOT_EXIST;
    return FAKE_APPLY_ERROR;
}

static void serverErrorFillsErrmsg(void **state)
{
    struct fake *f = fakeStart(1, hookQueueMissing, false);
    qraft_client *c = openClient(f->addr, 2000);
    (void)state;
    assert_int_equal(qraft_send(c, "nope", "x", 1, NULL),
                     QRAFT_EQUEUE_DOES_NOT_EXIST);
    assert_string_equal(qraft_errmsg(c),
                        "QueueDoesNotExist: fake says QueueDoesNotExist");
    /* Refusals are final: the next request follows at once. */
    assert_int_equal(qraft_queue_delete(c, "nope"),
                     QRAFT_EQUEUE_DOES_NOT_EXIST);
    assertApplied(f, 2);
    qraft_close(c);
    fakeStop(f);
}

/* Unavailable twice, then normal. */
static int hookUnavailableTwice(struct fake *f,
                                const struct qraft_request *req,
                                int nth,
                                int *code,
                                const char **leader)
{
    (void)f;
    (void)req;
    (void)leader;
    if (nth <= 2) {
        *code = QRAFT_EUNAVAILABLE;
        return FAKE_ERROR;
    }
    return FAKE_NORMAL;
}

static void unavailableBacksOff(void **state)
{
    struct fake *f = fakeStart(1, hookUnavailableTwice, false);
    qraft_client *c = openClient(f->addr, 3000);
    int64_t t0 = nowMs();
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL), 0);
    assert_true(nowMs() - t0 >= 140); /* 50 + 100 ms */
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    assert_int_equal(f->seen[2].seq, 1);
    assert_int_equal(f->conns, 1); /* same connection */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 1);
    qraft_close(c);
    fakeStop(f);
}

/* SessionExpired to the first attempt of seq 2 (of the first session). */
static int hookExpireFirst(struct fake *f,
                           const struct qraft_request *req,
                           int nth,
                           int *code,
                           const char **leader)
{
    (void)leader;
    (void)nth;
    if (f->nSeen == 2) {
        *code = QRAFT_ESESSION_EXPIRED;
        return FAKE_ERROR;
    }
    (void)req;
    return FAKE_NORMAL;
}

static void sessionExpiredStartsNewSession(void **state)
{
    struct fake *f = fakeStart(1, hookExpireFirst, false);
    qraft_client *c = openClient(f->addr, 3000);
    char id[QRAFT_MESSAGE_ID_MAX];
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, id), 0);
    assert_int_equal(qraft_send(c, "q", "y", 1, id), 0);
    assert_string_equal(id, "m-1"); /* renumbered in the new session */
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    assert_int_equal(f->seen[1].seq, 2);
    assert_int_equal(f->seen[2].seq, 1);
    assert_true(f->seen[2].cid != f->seen[1].cid);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* seq 1: UnknownOutcome first (not applied), then SessionExpired. */
static int hookExpireRetry(struct fake *f,
                           const struct qraft_request *req,
                           int nth,
                           int *code,
                           const char **leader)
{
    (void)f;
    (void)req;
    (void)leader;
    *code = nth == 1 ? QRAFT_EUNKNOWN_OUTCOME : QRAFT_ESESSION_EXPIRED;
    return FAKE_ERROR;
}

static void sessionExpiredOnRetryFails(void **state)
{
    struct fake *f = fakeStart(1, hookExpireRetry, false);
    qraft_client *c = openClient(f->addr, 3000);
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL),
                     QRAFT_ESESSION_EXPIRED);
    assert_non_null(strstr(qraft_errmsg(c), "SessionExpired"));
    qraft_close(c);
    fakeStop(f);
}

static void nodeStatusParses(void **state)
{
    struct fake *f = fakeStart(2, NULL, false);
    struct qraft_node_status st;
    char err[256];
    char addr[32];
    (void)state;
    assert_int_equal(qraft_node_status(f->addr, 2000, &st, err, sizeof err),
                     0);
    assert_int_equal(st.id, 2);
    assert_string_equal(st.zone, "az2");
    assert_string_equal(st.role, "voter");
    assert_string_equal(st.state, "follower");
    assert_int_equal(st.term, 7);
    assert_int_equal(st.last_index, 1234);
    assert_int_equal(st.applied_index, 1230);
    assert_int_equal(st.leader_id, 1);
    assert_string_equal(st.digest, "0123456789abcdef0123456789abcdef");
    assert_int_equal(st.n_members, 3);
    assert_int_equal(st.members[2].id, 3);
    assert_string_equal(st.members[2].zone, "az3");
    assert_string_equal(st.members[2].raft_addr, "127.0.0.1:7003");
    assert_string_equal(st.members[2].client_addr, "127.0.0.1:7103");
    assert_string_equal(st.members[2].role, "standby");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->hellos, 1);
    assert_int_equal(f->seen[0].op, QRAFT_OP_STATUS);
    pthread_mutex_unlock(&f->mu);
    fakeStop(f);

    closedAddr(addr, sizeof addr);
    assert_int_equal(qraft_node_status(addr, 500, &st, err, sizeof err),
                     QRAFT_EUNAVAILABLE);
    assert_string_equal(st.state, "unavailable");
    assert_non_null(strstr(err, "Unavailable: "));
    assert_int_equal(qraft_node_status("nonsense", 500, &st, err, sizeof err),
                     QRAFT_EINVAL);
}

static void closeCompletesQueuedAsync(void **state)
{
    char addr[32];
    qraft_client *c;
    int i;
    (void)state;
    closedAddr(addr, sizeof addr);
    c = openClient(addr, 1000);
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < 3; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    qraft_close(c);
    for (i = 0; i < 3; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_EUNAVAILABLE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connectAndHello),
        cmocka_unit_test(openRejectsBadLists),
        cmocka_unit_test(notLeaderFollowsHint),
        cmocka_unit_test(notLeaderWithoutHintTriesNext),
        cmocka_unit_test(dropMidPipelineResendsInOrder),
        cmocka_unit_test(unknownOutcomeResendsSameSeq),
        cmocka_unit_test(outOfOrderResendsFromFirstUnanswered),
        cmocka_unit_test(timeoutKeepsRequestInSession),
        cmocka_unit_test(asyncTimeoutCallsBackOnce),
        cmocka_unit_test(unreachableFailsAtDeadline),
        cmocka_unit_test(receiveParsesMessages),
        cmocka_unit_test(serverErrorFillsErrmsg),
        cmocka_unit_test(unavailableBacksOff),
        cmocka_unit_test(sessionExpiredStartsNewSession),
        cmocka_unit_test(sessionExpiredOnRetryFails),
        cmocka_unit_test(nodeStatusParses),
        cmocka_unit_test(closeCompletesQueuedAsync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
