/* The machine's ceilings: fsync of small appends and loopback round trips. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bench.h"

/* ---------------------------------------------------------------------- */
/* Machine ceilings                                                        */

struct ceilings ceil_;

/* 4 KiB appends, each followed by fdatasync, in the data directory. */
void ceilFsync(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fsync-probe", opt.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0) {
        die("open %s: %s", path, strerror(errno));
    }
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    histInit(&ceil_.fsync);
    uint64_t start = nowNs();
    uint64_t end = start + (uint64_t)((opt.quick ? 1.0 : 3.0) * 1e9);
    uint64_t t = start;
    while (t < end) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || fdatasync(fd) != 0) {
            die("append %s: %s", path, strerror(errno));
        }
        uint64_t t1 = nowNs();
        histRecord(&ceil_.fsync, t1 - t);
        t = t1;
    }
    close(fd);
    unlink(path);
    ceil_.fsync_rate = (double)ceil_.fsync.n / ((double)(t - start) / 1e9);
}

static void *rttServer(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0 || write(fd, buf, (size_t)n) != n) {
            break;
        }
    }
    close(fd);
    return NULL;
}

/* A 64-byte ping-pong over 127.0.0.1 with TCP_NODELAY. */
void ceilRtt(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        die("loopback listen: %s", strerror(errno));
    }
    pthread_t th;
    pthread_create(&th, NULL, rttServer, &lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        die("loopback connect: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64];
    memset(buf, 'p', sizeof buf);
    histInit(&ceil_.rtt);
    uint64_t end = nowNs() + (uint64_t)(1.0e9);
    for (uint64_t t = nowNs(); t < end;) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            break;
        }
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t n = read(fd, buf + got, sizeof buf - got);
            if (n <= 0) {
                die("loopback read: %s", strerror(errno));
            }
            got += (size_t)n;
        }
        uint64_t t1 = nowNs();
        histRecord(&ceil_.rtt, t1 - t);
        t = t1;
    }
    close(fd);
    pthread_join(th, NULL);
    close(lfd);
    /* Raft: the leader's fsync and a follower's run in parallel; the client
     * pays a round trip to the leader and the leader one to the follower. */
    ceil_.best_one_ms = ((double)histQuantile(&ceil_.fsync, 0.5) +
                         2.0 * (double)histQuantile(&ceil_.rtt, 0.5)) / 1e6;
}

