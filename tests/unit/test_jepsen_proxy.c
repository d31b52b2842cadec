/* Unit tests of the fault proxy (jepsen/proxy.c, jepsen/proxy_conn.c).
 *
 * The test plays both ends itself: it dials the proxy's front ports with
 * plain blocking sockets, as a node or a client would, and plays the nodes'
 * real ports with plain listening sockets. Each test gets its own block of
 * 16 ports from 21000 up (3 nodes: raft front, raft back, client front,
 * client back). Every wait is bounded by poll() with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jepsen/jepsen.h"

#define PORT_FIRST 21000
#define PORT_BLOCK 16
#define NODES 3
#define FDS_MAX 32

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* One test's proxy and the sockets that play its nodes. */
struct fix
{
    struct proxyConfig cfg;
    struct proxy *p;
    int raft_back[NODES];   /* listening: node i's real raft port */
    int client_back[NODES]; /* listening: node i's real client port */
    int fds[FDS_MAX];       /* every other socket, closed in teardown */
    unsigned n_fds;
};

/* The next test's port block. */
static unsigned port_block;

static uint64_t nowMs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Remember @fd for teardown; returns it. */
static int track(struct fix *f, int fd)
{
    assert_true(fd >= 0);
    assert_true(f->n_fds < FDS_MAX);
    f->fds[f->n_fds++] = fd;
    return fd;
}

/* A listening socket on 127.0.0.1:@port. */
static int tcpListen(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* A blocking socket connected to 127.0.0.1:@port, with TCP_NODELAY. */
static int tcpConnect(struct fix *f, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return track(f, fd);
}

/* Accept on @lfd within @ms: the socket, or -1. */
static int acceptWithin(struct fix *f, int lfd, int ms)
{
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    int fd;

    if (poll(&pfd, 1, ms) != 1) {
        return -1;
    }
    fd = accept(lfd, NULL, NULL);
    return fd < 0 ? -1 : track(f, fd);
}

static void sendAll(int fd, const void *buf, size_t len)
{
    const char *b = buf;

    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        b += n;
        len -= (size_t)n;
    }
}

/* Read exactly @len bytes within @ms. Returns 0, or -1 (timeout, EOF or
 * error). */
static int recvExact(int fd, void *buf, size_t len, int ms)
{
    uint64_t deadline = nowMs() + (uint64_t)ms;
    char *b = buf;

    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t now = nowMs();
        ssize_t n;

        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) != 1) {
            return -1;
        }
        n = recv(fd, b, len, 0);
        if (n <= 0) {
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Whether @fd is closed by its peer (EOF or reset) within @ms, reading
 * and dropping any bytes before. */
static bool closedWithin(int fd, int ms)
{
    uint64_t deadline = nowMs() + (uint64_t)ms;
    char buf[4096];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t now = nowMs();
        ssize_t n;

        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) != 1) {
            return false;
        }
        n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return true;
        }
    }
}

/* Whether nothing at all arrives on @fd for @ms. */
static bool quietFor(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, ms) == 0;
}

/* libraft 0.15.0's handshake for server @id at @address, written with
 * @protocol and @addr_len (0: the true padded length) into @buf. Returns
 * its length. */
static size_t handshakeRaw(unsigned char *buf, uint64_t protocol, uint64_t id, const char *address,
                           uint64_t addr_len)
{
    size_t padded = (strlen(address) + 1 + 7) / 8 * 8;
    uint64_t words[3] = {protocol, id, addr_len != 0 ? addr_len : padded};

    for (int w = 0; w < 3; w++) {
        for (int i = 0; i < 8; i++) {
            buf[w * 8 + i] = (unsigned char)(words[w] >> (8 * i));
        }
    }
    memset(buf + 24, 0, padded);
    memcpy(buf + 24, address, strlen(address));
    return 24 + padded;
}

/* The handshake of node @node of @f. */
static size_t handshake(const struct fix *f, unsigned char *buf, int node)
{
    char address[32];

    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)f->cfg.raft_front[node]);
    return handshakeRaw(buf, 1, f->cfg.raft_id[node], address, 0);
}

/* Dial node @to's raft front port as node @from, send the handshake and
 * @payload, accept the forwarded connection at @to's back port and check
 * that the same bytes arrive. Returns the back socket; *front the front. */
static int raftOpen(struct fix *f, int from, int to, const char *payload, int *front)
{
    unsigned char out[128], in[128];
    size_t len = handshake(f, out, from);
    int fd = tcpConnect(f, f->cfg.raft_front[to]);
    int bfd;

    memcpy(out + len, payload, strlen(payload));
    len += strlen(payload);
    sendAll(fd, out, len);
    bfd = acceptWithin(f, f->raft_back[to], 2000);
    assert_true(bfd >= 0);
    assert_int_equal(recvExact(bfd, in, len, 2000), 0);
    assert_memory_equal(in, out, len);
    *front = fd;
    return bfd;
}

/* The byte at offset @i of a test stream: its position, so order shows. */
static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static void fillPattern(unsigned char *b, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        b[i] = pattern(off + i);
    }
}

/* Whether @b holds the pattern from @off. */
static bool checkPattern(const unsigned char *b, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (b[i] != pattern(off + i)) {
            return false;
        }
    }
    return true;
}

static struct proxyStats stats(struct fix *f)
{
    struct proxyStats s;

    proxyGetStats(f->p, &s);
    return s;
}

/* The configuration of port block @block: 3 nodes in @zones. */
static void configure(struct proxyConfig *c, unsigned block, const unsigned zones[NODES])
{
    uint16_t base = (uint16_t)(PORT_FIRST + PORT_BLOCK * block);

    memset(c, 0, sizeof *c);
    c->n_nodes = NODES;
    c->seed = 42;
    for (int i = 0; i < NODES; i++) {
        c->zone[i] = zones[i];
        c->raft_id[i] = 101 + (uint64_t)i;
        c->raft_front[i] = (uint16_t)(base + i);
        c->raft_back[i] = (uint16_t)(base + 3 + i);
        c->client_front[i] = (uint16_t)(base + 6 + i);
        c->client_back[i] = (uint16_t)(base + 9 + i);
    }
}

/* Set up a fixture on zones @zones, with zone delay @delay_us +- @jitter_us. */
static int fixSetup(void **state, const unsigned zones[NODES], unsigned delay_us, unsigned jitter_us)
{
    struct fix *f = calloc(1, sizeof *f);
    char err[256];

    assert_non_null(f);
    assert_true(port_block < (1000 / PORT_BLOCK));
    configure(&f->cfg, port_block++, zones);
    f->cfg.zone_delay_us = delay_us;
    f->cfg.zone_jitter_us = jitter_us;
    for (int i = 0; i < NODES; i++) {
        f->raft_back[i] = tcpListen(f->cfg.raft_back[i]);
        f->client_back[i] = tcpListen(f->cfg.client_back[i]);
    }
    if (proxyStart(&f->cfg, &f->p, err, sizeof err) != 0) {
        fprintf(stderr, "proxyStart: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int setUp(void **state)
{
    static const unsigned zones[NODES] = {0, 0, 0};

    return fixSetup(state, zones, 0, 0);
}

/* Node 0 in zone 0, nodes 1 and 2 in zone 1, 20 ms +- 10 ms between. */
static int setUpZones(void **state)
{
    static const unsigned zones[NODES] = {0, 1, 1};

    return fixSetup(state, zones, 20000, 10000);
}

static int tearDown(void **state)
{
    struct fix *f = *state;

    proxyStop(f->p);
    for (unsigned i = 0; i < f->n_fds; i++) {
        close(f->fds[i]);
    }
    for (int i = 0; i < NODES; i++) {
        if (f->raft_back[i] >= 0) {
            close(f->raft_back[i]);
        }
        if (f->client_back[i] >= 0) {
            close(f->client_back[i]);
        }
    }
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Raft links and the handshake                                            */

/* A connection naming node 0, on node 2's front port, reaches node 2's
 * back port with the handshake intact, and bytes flow back too. */
static void raftHandshakeForwarded(void **state)
{
    struct fix *f = *state;
    char reply[8];
    int fd;
    int bfd = raftOpen(f, 0, 2, "append entries", &fd);
    struct proxyStats s;

    sendAll(bfd, "ack", 3);
    assert_int_equal(recvExact(fd, reply, 3, 2000), 0);
    assert_memory_equal(reply, "ack", 3);
    s = stats(f);
    assert_int_equal(s.connections, 1);
    assert_int_equal(s.live, 1);
    assert_int_equal(s.bytes, 24 + 16 + 14 + 3);
    assert_int_equal(s.held_bytes, 0);
}

/* The handshake one byte at a time, then the payload. */
static void raftHandshakeBytewise(void **state)
{
    struct fix *f = *state;
    unsigned char out[128], in[128];
    size_t len = handshake(f, out, 1);
    int fd = tcpConnect(f, f->cfg.raft_front[0]);
    int bfd;

    memcpy(out + len, "payload", 7);
    len += 7;
    for (size_t i = 0; i < len; i++) {
        sendAll(fd, out + i, 1);
        usleep(1000);
    }
    bfd = acceptWithin(f, f->raft_back[0], 2000);
    assert_true(bfd >= 0);
    assert_int_equal(recvExact(bfd, in, len, 2000), 0);
    assert_memory_equal(in, out, len);
}

/* A bad protocol, an unknown id, an absurd length: closed, never dialled. */
static void raftBadHandshake(void **state)
{
    struct fix *f = *state;
    size_t lens[3];
    unsigned char bufs[3][64];

    lens[0] = handshakeRaw(bufs[0], 7, 101, "127.0.0.1:1", 0);
    lens[1] = handshakeRaw(bufs[1], 1, 999, "127.0.0.1:1", 0);
    lens[2] = handshakeRaw(bufs[2], 1, 101, "127.0.0.1:1", (uint64_t)1 << 40);
    lens[2] = 24; /* the length is absurd: only the preamble goes */
    for (int k = 0; k < 3; k++) {
        int fd = tcpConnect(f, f->cfg.raft_front[1]);
        sendAll(fd, bufs[k], lens[k]);
        assert_true(closedWithin(fd, 2000));
    }
    assert_int_equal(acceptWithin(f, f->raft_back[1], 100), -1);
    assert_int_equal(stats(f).bad_handshakes, 3);
}

/* ---------------------------------------------------------------------- */
/* Client links                                                            */

/* A client's request and the reply, through an echoing back end; the
 * counters move, and the connection leaves the live count when closed. */
static void clientRoundTrip(void **state)
{
    struct fix *f = *state;
    char buf[8];
    int fd = tcpConnect(f, f->cfg.client_front[1]);
    int bfd = acceptWithin(f, f->client_back[1], 2000);
    struct proxyStats s;
    uint64_t deadline;

    assert_true(bfd >= 0);
    sendAll(fd, "ping", 4);
    assert_int_equal(recvExact(bfd, buf, 4, 2000), 0);
    sendAll(bfd, buf, 4);
    assert_int_equal(recvExact(fd, buf, 4, 2000), 0);
    assert_memory_equal(buf, "ping", 4);
    s = stats(f);
    assert_int_equal(s.connections, 1);
    assert_int_equal(s.bytes, 8);
    assert_int_equal(s.live, 1);
    shutdown(fd, SHUT_WR);
    assert_true(closedWithin(bfd, 2000));
    deadline = nowMs() + 2000;
    while (stats(f).live != 0 && nowMs() < deadline) {
        usleep(5000);
    }
    assert_int_equal(stats(f).live, 0);
}

/* The node is down: the front connection is closed (reset). */
static void backEndDown(void **state)
{
    struct fix *f = *state;
    unsigned char hs[64];
    size_t len = handshake(f, hs, 2);
    int fd;

    close(f->client_back[0]);
    f->client_back[0] = -1;
    fd = tcpConnect(f, f->cfg.client_front[0]);
    assert_true(closedWithin(fd, 2000));
    close(f->raft_back[1]);
    f->raft_back[1] = -1;
    fd = tcpConnect(f, f->cfg.raft_front[1]);
    sendAll(fd, hs, len);
    assert_true(closedWithin(fd, 2000));
    assert_int_equal(stats(f).upstream_failures, 2);
}

/* ---------------------------------------------------------------------- */
/* Cuts                                                                    */

/* STALL: bytes sent while cut are not delivered, neither those queued in
 * the proxy (under a delay) nor those sent after; after the uncut they all
 * arrive, in order. */
static void stallHoldsThenReleases(void **state)
{
    struct fix *f = *state;
    enum { N = 100000 };
    static unsigned char out[N], in[N];
    int fd;
    int bfd = raftOpen(f, 0, 1, "x", &fd);
    struct proxyStats s;

    fillPattern(out, 0, N);
    proxySetDelay(f->p, 0, 1, 300000, 0);
    sendAll(fd, out, 1000); /* queued in the proxy for 300 ms */
    usleep(20000);
    proxyCut(f->p, 0, 1, PROXY_CUT_STALL);
    sendAll(fd, out + 1000, N - 1000); /* stays with the sender */
    assert_true(quietFor(bfd, 600)); /* past the 300 ms */
    s = stats(f);
    assert_int_equal(s.held_bytes, 1000);
    proxySetDelay(f->p, 0, 1, 0, 0);
    proxyUncut(f->p, 0, 1);
    assert_int_equal(recvExact(bfd, in, N, 3000), 0);
    assert_true(checkPattern(in, 0, N));
    assert_int_equal(stats(f).held_bytes, 0);
}

/* A connection opened while its link stalls is held (no upstream), and
 * goes through whole after proxyHeal. */
static void stallHoldsNewConnection(void **state)
{
    struct fix *f = *state;
    unsigned char out[128], in[128];
    size_t len = handshake(f, out, 0);
    int fd, bfd;

    proxyCut(f->p, 0, 1, PROXY_CUT_STALL);
    proxyCut(f->p, PROXY_CLIENT, 2, PROXY_CUT_STALL);
    memcpy(out + len, "late", 4);
    len += 4;
    fd = tcpConnect(f, f->cfg.raft_front[1]);
    sendAll(fd, out, len);
    tcpConnect(f, f->cfg.client_front[2]);
    assert_int_equal(acceptWithin(f, f->raft_back[1], 300), -1);
    assert_int_equal(acceptWithin(f, f->client_back[2], 10), -1);
    assert_int_equal(stats(f).held_connections, 2);
    proxyHeal(f->p);
    bfd = acceptWithin(f, f->raft_back[1], 2000);
    assert_true(bfd >= 0);
    assert_int_equal(recvExact(bfd, in, len, 2000), 0);
    assert_memory_equal(in, out, len);
    assert_true(acceptWithin(f, f->client_back[2], 2000) >= 0);
    assert_int_equal(stats(f).held_connections, 0);
}

/* RESET: a live connection of the link is reset on both sides, a new one
 * is reset after its handshake (raft) or at accept (client); after the
 * uncut, connections go through again. */
static void resetLiveAndNew(void **state)
{
    struct fix *f = *state;
    unsigned char hs[64];
    size_t len = handshake(f, hs, 0);
    int fd;
    int bfd = raftOpen(f, 0, 1, "x", &fd);

    proxyCut(f->p, 0, 1, PROXY_CUT_RESET);
    assert_true(closedWithin(fd, 2000));
    assert_true(closedWithin(bfd, 2000));
    fd = tcpConnect(f, f->cfg.raft_front[1]);
    sendAll(fd, hs, len);
    assert_true(closedWithin(fd, 2000));
    assert_int_equal(acceptWithin(f, f->raft_back[1], 100), -1);
    proxyCut(f->p, PROXY_CLIENT, 2, PROXY_CUT_RESET);
    fd = tcpConnect(f, f->cfg.client_front[2]);
    assert_true(closedWithin(fd, 2000));
    assert_int_equal(acceptWithin(f, f->client_back[2], 100), -1);
    assert_int_equal(stats(f).resets, 3);
    proxyUncut(f->p, 0, 1);
    proxyUncut(f->p, PROXY_CLIENT, 2);
    raftOpen(f, 0, 1, "again", &fd);
    tcpConnect(f, f->cfg.client_front[2]);
    assert_true(acceptWithin(f, f->client_back[2], 2000) >= 0);
}

/* A cut of (0, 1), stalled or reset, leaves (1, 0) working: its live
 * connection and new ones. */
static void cutIsOneWay(void **state)
{
    struct fix *f = *state;
    char buf[4];
    int fd, other;
    int bfd = raftOpen(f, 1, 0, "before", &fd);

    proxyCut(f->p, 0, 1, PROXY_CUT_STALL);
    sendAll(fd, "more", 4);
    assert_int_equal(recvExact(bfd, buf, 4, 2000), 0);
    assert_memory_equal(buf, "more", 4);
    raftOpen(f, 1, 0, "stalled", &other);
    proxyCut(f->p, 0, 1, PROXY_CUT_RESET);
    sendAll(fd, "tail", 4);
    assert_int_equal(recvExact(bfd, buf, 4, 2000), 0);
    assert_memory_equal(buf, "tail", 4);
    raftOpen(f, 1, 0, "reset", &other);
    assert_int_equal(stats(f).resets, 0);
    assert_int_equal(stats(f).live, 3);
}

/* The reply link (node, PROXY_CLIENT) of client connections: a STALL holds
 * the replies (requests still pass), a RESET resets the connections. */
static void replyLinkCuts(void **state)
{
    struct fix *f = *state;
    char buf[4];
    int fd = tcpConnect(f, f->cfg.client_front[1]);
    int bfd = acceptWithin(f, f->client_back[1], 2000);

    assert_true(bfd >= 0);
    proxyCut(f->p, 1, PROXY_CLIENT, PROXY_CUT_STALL);
    sendAll(fd, "req1", 4);
    assert_int_equal(recvExact(bfd, buf, 4, 2000), 0);
    sendAll(bfd, "rep1", 4);
    assert_true(quietFor(fd, 200));
    proxyUncut(f->p, 1, PROXY_CLIENT);
    assert_int_equal(recvExact(fd, buf, 4, 2000), 0);
    assert_memory_equal(buf, "rep1", 4);
    proxyCut(f->p, 1, PROXY_CLIENT, PROXY_CUT_RESET);
    assert_true(closedWithin(fd, 2000));
    assert_true(closedWithin(bfd, 2000));
    assert_int_equal(stats(f).resets, 1);
}

/* ---------------------------------------------------------------------- */
/* Delays and backpressure                                                 */

/* A client round trip over links delayed 30 ms each way takes >= 60 ms. */
static void delayRoundTrip(void **state)
{
    struct fix *f = *state;
    char buf[4];
    int fd = tcpConnect(f, f->cfg.client_front[0]);
    int bfd = acceptWithin(f, f->client_back[0], 2000);
    uint64_t t0, t1;

    assert_true(bfd >= 0);
    proxySetDelay(f->p, PROXY_CLIENT, 0, 30000, 0);
    proxySetDelay(f->p, 0, PROXY_CLIENT, 30000, 0);
    t0 = nowMs();
    sendAll(fd, "ping", 4);
    assert_int_equal(recvExact(bfd, buf, 4, 3000), 0);
    sendAll(bfd, "pong", 4);
    assert_int_equal(recvExact(fd, buf, 4, 3000), 0);
    t1 = nowMs();
    assert_memory_equal(buf, "pong", 4);
    assert_true(t1 - t0 >= 60);
    assert_true(t1 - t0 < 3000);
}

/* Between zones the default delay holds (20 ms - 10 ms jitter at least),
 * and jittered chunks arrive in order; proxyHeal keeps the zone delay. */
static void zoneDelayKeepsOrder(void **state)
{
    struct fix *f = *state;
    enum { PIECES = 40, PIECE = 100 };
    static unsigned char out[PIECES * PIECE], in[PIECES * PIECE];
    unsigned char hs[64];
    size_t len = handshake(f, hs, 0);
    int fd = tcpConnect(f, f->cfg.raft_front[1]);
    int bfd;
    uint64_t t0;

    fillPattern(out, 0, sizeof out);
    proxyHeal(f->p);
    t0 = nowMs();
    sendAll(fd, hs, len);
    bfd = acceptWithin(f, f->raft_back[1], 2000);
    assert_true(bfd >= 0);
    assert_int_equal(recvExact(bfd, in, len, 2000), 0);
    assert_true(nowMs() - t0 >= 10);
    assert_memory_equal(in, hs, len);
    for (int i = 0; i < PIECES; i++) {
        sendAll(fd, out + i * PIECE, PIECE);
        usleep(500);
    }
    assert_int_equal(recvExact(bfd, in, sizeof in, 3000), 0);
    assert_true(checkPattern(in, 0, sizeof in));
}

/* A direction whose writes lag holds at most about 4 MiB: the proxy stops
 * reading the sender; everything still arrives once the reader drains. */
static void backpressureBoundsMemory(void **state)
{
    struct fix *f = *state;
    enum { BUF = 65536, TOTAL = 24 << 20 };
    static unsigned char buf[BUF];
    size_t sent = 0, got = 0;
    uint64_t deadline;
    int fd;
    int bfd = raftOpen(f, 2, 0, "", &fd);
    struct proxyStats s;

    proxySetDelay(f->p, 2, 0, 1000000, 0); /* nothing leaves for 1 s */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    deadline = nowMs() + 300;
    while (sent < TOTAL && nowMs() < deadline) {
        size_t n = TOTAL - sent < BUF ? TOTAL - sent : BUF;
        ssize_t w;
        fillPattern(buf, sent, n);
        w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
        } else {
            usleep(1000);
        }
    }
    s = stats(f);
    assert_true(s.held_bytes > (1 << 20));
    assert_true(s.held_bytes <= (4 << 20) + BUF);
    assert_true(sent < TOTAL); /* the sender was held back */
    proxySetDelay(f->p, 2, 0, 0, 0); /* what is read from now on flows */
    deadline = nowMs() + 8000;
    while (got < sent && nowMs() < deadline) {
        struct pollfd pfd = {.fd = bfd, .events = POLLIN};
        ssize_t n;
        if (poll(&pfd, 1, 100) != 1) {
            continue;
        }
        n = recv(bfd, buf, sizeof buf, 0);
        assert_true(n > 0);
        assert_true(checkPattern(buf, got, (size_t)n));
        got += (size_t)n;
    }
    assert_int_equal(got, sent);
}

/* An orderly close after data still delayed: the data arrives, then EOF. */
static void eofFlushesFirst(void **state)
{
    struct fix *f = *state;
    char buf[16];
    int fd = tcpConnect(f, f->cfg.client_front[2]);
    int bfd = acceptWithin(f, f->client_back[2], 2000);

    assert_true(bfd >= 0);
    proxySetDelay(f->p, PROXY_CLIENT, 2, 100000, 0);
    sendAll(fd, "last words", 10);
    shutdown(fd, SHUT_WR);
    assert_int_equal(recvExact(bfd, buf, 10, 2000), 0);
    assert_memory_equal(buf, "last words", 10);
    assert_int_equal(recv(bfd, buf, sizeof buf, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */

/* proxyStop with connections in every state: open with bytes delayed,
 * held by a stall, mid-handshake, a client's. */
static void stopWithOpenConnections(void **state)
{
    struct fix *f = *state;
    unsigned char hs[64];
    size_t len = handshake(f, hs, 2);
    int fd;

    raftOpen(f, 0, 1, "open", &fd);
    proxySetDelay(f->p, 0, 1, 5000000, 0);
    sendAll(fd, "delayed", 7);
    proxyCut(f->p, 2, 0, PROXY_CUT_STALL);
    fd = tcpConnect(f, f->cfg.raft_front[0]);
    sendAll(fd, hs, len);
    fd = tcpConnect(f, f->cfg.raft_front[1]);
    sendAll(fd, hs, 10);
    tcpConnect(f, f->cfg.client_front[0]);
    usleep(50000);
    assert_int_equal(stats(f).live, 4);
    assert_int_equal(stats(f).held_connections, 1);
    assert_int_equal(stats(f).held_bytes, 7 + len); /* + the held one's handshake */
}

/* A front port already taken: proxyStart fails, naming it, and leaves
 * nothing bound. */
static void startFailsOnBusyPort(void **state)
{
    struct proxyConfig c;
    static const unsigned zones[NODES] = {0, 0, 0};
    struct proxy *p = (struct proxy *)1;
    char err[256] = "";
    int busy;

    (void)state;
    configure(&c, port_block++, zones);
    busy = tcpListen(c.client_front[1]);
    assert_int_equal(proxyStart(&c, &p, err, sizeof err), -1);
    assert_null(p);
    assert_non_null(strstr(err, "client port of node 1"));
    close(busy);
    /* The ports bound before the failure are free again. */
    close(tcpListen(c.raft_front[0]));
    close(tcpListen(c.raft_front[1]));
    close(tcpListen(c.client_front[0]));
    c.n_nodes = 0;
    assert_int_equal(proxyStart(&c, &p, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(raftHandshakeForwarded, setUp, tearDown),
        cmocka_unit_test_setup_teardown(raftHandshakeBytewise, setUp, tearDown),
        cmocka_unit_test_setup_teardown(raftBadHandshake, setUp, tearDown),
        cmocka_unit_test_setup_teardown(clientRoundTrip, setUp, tearDown),
        cmocka_unit_test_setup_teardown(backEndDown, setUp, tearDown),
        cmocka_unit_test_setup_teardown(stallHoldsThenReleases, setUp, tearDown),
        cmocka_unit_test_setup_teardown(stallHoldsNewConnection, setUp, tearDown),
        cmocka_unit_test_setup_teardown(resetLiveAndNew, setUp, tearDown),
        cmocka_unit_test_setup_teardown(cutIsOneWay, setUp, tearDown),
        cmocka_unit_test_setup_teardown(replyLinkCuts, setUp, tearDown),
        cmocka_unit_test_setup_teardown(delayRoundTrip, setUp, tearDown),
        cmocka_unit_test_setup_teardown(zoneDelayKeepsOrder, setUpZones, tearDown),
        cmocka_unit_test_setup_teardown(backpressureBoundsMemory, setUp, tearDown),
        cmocka_unit_test_setup_teardown(eofFlushesFirst, setUp, tearDown),
        cmocka_unit_test_setup_teardown(stopWithOpenConnections, setUp, tearDown),
        cmocka_unit_test(startFailsOnBusyPort),
    };

    if (getenv("PROXY_TEST") != NULL) {
        cmocka_set_test_filter(getenv("PROXY_TEST")); /* one test, by name */
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
