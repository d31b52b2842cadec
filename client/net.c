/* Sockets and time for libqraft: plain POSIX, poll(), CLOCK_MONOTONIC.
 *
 * Every wait here is bounded by a deadline in monotonic milliseconds, so
 * no call can hang past its caller's deadline (DNS resolution excepted:
 * getaddrinfo has no timeout).
 */
#include "client/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t netNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds from now to @deadline for poll(), rounded up, capped. */
static int netTimeout(int64_t deadline)
{
    int64_t now = netNow();
    if (deadline == NET_NEVER) {
        return -1;
    }
    if (deadline <= now) {
        return 0;
    }
    if (deadline - now > 1000000) {
        return 1000000;
    }
    return (int)(deadline - now);
}

void netSleepUntil(int64_t until)
{
    while (netNow() < until) {
        poll(NULL, 0, netTimeout(until));
    }
}

int netWait(int fd, short events, int64_t deadline)
{
    struct pollfd p;
    int rv;
    for (;;) {
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        rv = poll(&p, 1, netTimeout(deadline));
        if (rv > 0) {
            return p.revents;
        }
        if (rv == 0) {
            if (netNow() >= deadline) {
                return 0;
            }
            continue;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

int netAddrParse(const char *s, size_t len, struct netAddr *a)
{
    const char *colon = NULL;
    const char *host = s;
    size_t hostLen;
    size_t portLen;
    size_t i;
    unsigned long port = 0;

    memset(a, 0, sizeof *a);
    if (s == NULL || len == 0 || len >= sizeof a->text) {
        return QRAFT_EINVAL;
    }
    memcpy(a->text, s, len);
    for (i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    }
    if (colon == NULL) {
        return QRAFT_EINVAL;
    }
    hostLen = (size_t)(colon - s);
    portLen = len - hostLen - 1;
    if (hostLen >= 2 && s[0] == '[' && s[hostLen - 1] == ']') {
        host = s + 1;
        hostLen -= 2;
    }
    if (hostLen == 0 || hostLen >= sizeof a->host || portLen == 0 ||
        portLen > 5) {
        return QRAFT_EINVAL;
    }
    for (i = 0; i < portLen; i++) {
        char ch = colon[1 + i];
        if (ch < '0' || ch > '9') {
            return QRAFT_EINVAL;
        }
        port = port * 10 + (unsigned long)(ch - '0');
    }
    if (port == 0 || port > 65535) {
        return QRAFT_EINVAL;
    }
    memcpy(a->host, host, hostLen);
    memcpy(a->port, colon + 1, portLen);
    return 0;
}

int netAddrList(const char *s,
                struct netAddr **out,
                size_t *n,
                char *err,
                size_t errlen)
{
    struct netAddr *list = NULL;
    size_t count = 1;
    size_t i = 0;
    const char *p;
    const char *comma;
    size_t len;

    *out = NULL;
    *n = 0;
    if (s == NULL || *s == '\0') {
        wireErrf(err, errlen, "no server address given");
        return QRAFT_EINVAL;
    }
    for (p = s; *p != '\0'; p++) {
        count += *p == ',';
    }
    list = calloc(count, sizeof *list);
    if (list == NULL) {
        wireErrf(err, errlen, "out of memory");
        return QRAFT_ENOMEM;
    }
    for (p = s;; p = comma + 1) {
        comma = strchr(p, ',');
        len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (netAddrParse(p, len, &list[i]) != 0) {
            wireErrf(err, errlen, "bad server address '%.*s' (want host:port)",
                     (int)(len > 200 ? 200 : len), p);
            free(list);
            return QRAFT_EINVAL;
        }
        i++;
        if (comma == NULL) {
            break;
        }
    }
    *out = list;
    *n = i;
    return 0;
}

/* Try one resolved address. Returns 0 and *fd, or an errno. */
static int netDialOne(const struct addrinfo *ai, int64_t deadline, int *fd)
{
    int s;
    int e = 0;
    int one = 1;
    int rv;
    socklen_t elen = sizeof e;

    s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    if (s < 0) {
        return errno;
    }
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            e = errno;
            goto err;
        }
        rv = netWait(s, POLLOUT, deadline);
        if (rv == 0) {
            e = ETIMEDOUT;
            goto err;
        }
        if (rv < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &elen) != 0) {
            e = errno != 0 ? errno : EIO;
            goto err;
        }
        if (e != 0) {
            goto err;
        }
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd = s;
    return 0;
err:
    close(s);
    return e;
}

int netDial(const struct netAddr *a,
            int64_t deadline,
            int *fd,
            char *err,
            size_t errlen)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    int rv;
    int e = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rv = getaddrinfo(a->host, a->port, &hints, &res);
    if (rv != 0) {
        wireErrf(err, errlen, "%s: cannot resolve: %s", a->text,
                 gai_strerror(rv));
        return QRAFT_EUNAVAILABLE;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        e = netDialOne(ai, deadline, fd);
        if (e == 0) {
            freeaddrinfo(res);
            return 0;
        }
        if (e == ETIMEDOUT) {
            break;
        }
    }
    freeaddrinfo(res);
    wireErrf(err, errlen, "%s: connect: %s", a->text, strerror(e));
    return e == ETIMEDOUT ? QRAFT_ETIMEDOUT : QRAFT_EUNAVAILABLE;
}

int netWriteAll(int fd,
                const void *data,
                size_t len,
                int64_t deadline,
                char *err,
                size_t errlen)
{
    const char *p = data;
    ssize_t n;
    int rv;
    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            wireErrf(err, errlen, "write: %s", strerror(errno));
            return QRAFT_EUNAVAILABLE;
        }
        rv = netWait(fd, POLLOUT, deadline);
        if (rv == 0) {
            wireErrf(err, errlen, "write: deadline passed");
            return QRAFT_ETIMEDOUT;
        }
        if (rv < 0) {
            wireErrf(err, errlen, "poll: %s", strerror(errno));
            return QRAFT_EUNAVAILABLE;
        }
    }
    return 0;
}

int netReadFrame(int fd,
                 struct qraft_wire_reader *r,
                 int64_t deadline,
                 const void **payload,
                 size_t *len,
                 char *err,
                 size_t errlen)
{
    char buf[65536];
    ssize_t n;
    int rv;
    for (;;) {
        rv = qraft_wire_reader_next(r, payload, len);
        if (rv == 1) {
            return 0;
        }
        if (rv != 0) {
            wireErrf(err, errlen, "reply frame above %zu bytes", r->max_frame);
            return rv;
        }
        n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            rv = qraft_wire_reader_feed(r, buf, (size_t)n);
            if (rv != 0) {
                wireErrf(err, errlen, "out of memory");
                return rv;
            }
            continue;
        }
        if (n == 0) {
            wireErrf(err, errlen, "connection closed by the server");
            return QRAFT_EUNAVAILABLE;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            wireErrf(err, errlen, "read: %s", strerror(errno));
            return QRAFT_EUNAVAILABLE;
        }
        rv = netWait(fd, POLLIN, deadline);
        if (rv == 0) {
            wireErrf(err, errlen, "no reply before the deadline");
            return QRAFT_ETIMEDOUT;
        }
        if (rv < 0) {
            wireErrf(err, errlen, "poll: %s", strerror(errno));
            return QRAFT_EUNAVAILABLE;
        }
    }
}
