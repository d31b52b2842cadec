/* A scripted fake server for the client library's unit tests
 * (test_client_lib.c: the session engine; test_client_ops.c: the
 * operations), included by both.
 *
 * The fake server is a thread on 127.0.0.1 (ephemeral port) that speaks
 * protocol v2 with the library's own wire codec and applies the session
 * rules of DESIGN.md: seq = last + 1 is applied, seq <= last gets its
 * reply again (replies are a function of seq), seq > last + 1 gets
 * OutOfOrder. A hook per test decides, request by request, to answer
 * normally, to answer with an error, to stay silent, or to hang up; a
 * reply function may give canned SQS-shaped results. Every request's op,
 * session and (for the first ones) args bytes are recorded. Every loop is
 * bounded in count and time; every thread is joined.
 */
#ifndef TEST_CLIENT_FAKE_H
#define TEST_CLIENT_FAKE_H

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

/* Helpers here are static; each test file uses some of them. */
#define FAKE_API static __attribute__((unused))

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

/* Requests whose args the fake keeps a copy of (the first ones). */
#define FAKE_ARGS_KEPT 64

/* Largest args copy kept. */
#define FAKE_ARGS_MAX 4096

/* A request as the fake saw it. */
struct fakeSeen
{
    uint64_t id;
    char op[48]; /* op name, cut to fit */
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

/* Write the success results of @req after "ok": true (@pairs more pairs
 * than the map header announced: return how many were packed). */
typedef size_t (*fakeReplyFn)(struct fake *f,
                              const struct qraft_request *req,
                              msgpack_packer *pk);

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
    fakeReplyFn reply;  /* NULL: the default results */
    int conns;          /* connections accepted */
    int hellos;         /* hello requests */
    uint32_t helloVersion; /* version of the last hello */
    struct fakeSeen seen[FAKE_SEEN_MAX]; /* non-hello requests, in order */
    char args[FAKE_ARGS_KEPT][FAKE_ARGS_MAX]; /* args of seen[i] */
    size_t argsLen[FAKE_ARGS_KEPT];
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

FAKE_API int64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write a whole frame (blocking) and free it. */
FAKE_API void fakeWrite(int fd, void *frame, size_t len)
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
FAKE_API void packStr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* True if @req's op is @name. */
FAKE_API bool fakeOpIs(const struct qraft_request *req, const char *name)
{
    return req->op_len == strlen(name) &&
           memcmp(req->op, name, req->op_len) == 0;
}

/* Pack the status results. */
FAKE_API void fakeStatus(struct fake *f, msgpack_packer *pk)
{
    int i;
    msgpack_pack_map(pk, 12);
    packStr(pk, "ok");
    msgpack_pack_true(pk);
    packStr(pk, "node");
    msgpack_pack_uint64(pk, f->nodeId);
    packStr(pk, "zone");
    packStr(pk, "az2");
    packStr(pk, "role");
    packStr(pk, "voter");
    packStr(pk, "state");
    packStr(pk, "follower");
    packStr(pk, "term");
    msgpack_pack_uint64(pk, 7);
    packStr(pk, "last_index");
    msgpack_pack_uint64(pk, 1234);
    packStr(pk, "applied");
    msgpack_pack_uint64(pk, 1230);
    packStr(pk, "leader");
    msgpack_pack_uint64(pk, 1);
    packStr(pk, "digest");
    packStr(pk, "0123456789abcdef0123456789abcdef");
    packStr(pk, "unknown_key");
    msgpack_pack_array(pk, 1);
    msgpack_pack_nil(pk);
    packStr(pk, "members");
    msgpack_pack_array(pk, 3);
    for (i = 1; i <= 3; i++) {
        char buf[64];
        msgpack_pack_map(pk, 5);
        packStr(pk, "id");
        msgpack_pack_uint64(pk, (uint64_t)i);
        packStr(pk, "zone");
        snprintf(buf, sizeof buf, "az%d", i);
        packStr(pk, buf);
        packStr(pk, "raft");
        snprintf(buf, sizeof buf, "127.0.0.1:700%d", i);
        packStr(pk, buf);
        packStr(pk, "client");
        snprintf(buf, sizeof buf, "127.0.0.1:710%d", i);
        packStr(pk, buf);
        packStr(pk, "role");
        packStr(pk, i == 3 ? "standby" : "voter");
    }
}

/* Send the success reply of @req: hello and status as a node would; then
 * f->reply's results if set; else SendMessage gets MessageId m-<seq>,
 * the rest nothing but ok. */
FAKE_API void fakeReplyOk(struct fake *f, int fd, const struct qraft_request *req)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer body;
    msgpack_packer pk;
    msgpack_packer bpk;
    void *frame;
    size_t len;
    size_t pairs;
    char id[32];
    int rv;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (fakeOpIs(req, "hello")) {
        msgpack_pack_map(&pk, 3);
        packStr(&pk, "ok");
        msgpack_pack_true(&pk);
        packStr(&pk, "version");
        msgpack_pack_uint32(&pk, QRAFT_PROTOCOL_VERSION);
        packStr(&pk, "node");
        msgpack_pack_uint64(&pk, f->nodeId);
    } else if (fakeOpIs(req, "status")) {
        fakeStatus(f, &pk);
    } else {
        /* Results first into their own buffer, to count them. */
        msgpack_sbuffer_init(&body);
        msgpack_packer_init(&bpk, &body, msgpack_sbuffer_write);
        pairs = 0;
        if (f->reply != NULL) {
            pairs = f->reply(f, req, &bpk);
        } else if (fakeOpIs(req, "SendMessage")) {
            packStr(&bpk, "MessageId");
            snprintf(id, sizeof id, "m-%llu", (unsigned long long)req->seq);
            packStr(&bpk, id);
            packStr(&bpk, "MD5OfMessageBody");
            packStr(&bpk, "d41d8cd98f00b204e9800998ecf8427e");
            pairs = 2;
        }
        msgpack_pack_map(&pk, 1 + pairs);
        packStr(&pk, "ok");
        msgpack_pack_true(&pk);
        msgpack_sbuffer_write(&sb, body.data, body.size);
        msgpack_sbuffer_destroy(&body);
    }
    rv = qraft_wire_encode_reply(req->id, sb.data, sb.size, &frame, &len);
    FAKE_CHECK(f, rv == 0);
    msgpack_sbuffer_destroy(&sb);
    if (rv == 0) {
        fakeWrite(fd, frame, len);
    }
}

/* Send an error reply. */
FAKE_API void fakeReplyError(struct fake *f,
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
FAKE_API int fakeSession(struct fake *f, const struct qraft_request *req)
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
FAKE_API bool fakeFrame(struct fake *f, int fd, const void *payload, size_t len)
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
    if (fakeOpIs(&req, "hello")) {
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
        struct fakeSeen *s = &f->seen[f->nSeen];
        memset(s, 0, sizeof *s);
        s->id = req.id;
        memcpy(s->op, req.op, req.op_len < 47 ? req.op_len : 47);
        s->cid = req.client_id;
        s->seq = req.seq;
        s->ack = req.ack;
        s->conn = f->conns;
        if (f->nSeen < FAKE_ARGS_KEPT && req.args_len <= FAKE_ARGS_MAX) {
            if (req.args_len > 0) {
                memcpy(f->args[f->nSeen], req.args, req.args_len);
            }
            f->argsLen[f->nSeen] = req.args_len;
        }
        f->nSeen++;
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
FAKE_API void fakeServe(struct fake *f, int fd, int64_t until)
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

FAKE_API void *fakeMain(void *arg)
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
FAKE_API int listenAny(char *addr, size_t len)
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
FAKE_API struct fake *fakeStart(uint64_t nodeId, fakeHook hook, bool noAccept)
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
FAKE_API void fakeStop(struct fake *f)
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
FAKE_API void closedAddr(char *addr, size_t len)
{
    close(listenAny(addr, len));
}

/* Open a client on @servers with @timeoutMs. */
FAKE_API qraft_client *openClient(const char *servers, int timeoutMs)
{
    struct qraft_options o = {timeoutMs, 0};
    qraft_client *c = NULL;
    assert_int_equal(qraft_open(servers, &o, &c), 0);
    assert_non_null(c);
    return c;
}

/* Check that the fake applied exactly seqs 1..n, in order. */
FAKE_API void assertApplied(struct fake *f, int n)
{
    int i;
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nApplied, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(f->applied[i], (uint64_t)i + 1);
    }
    pthread_mutex_unlock(&f->mu);
}


#endif /* TEST_CLIENT_FAKE_H */
