/* The HTTP listener: libh2o 2.2.5 (its libuv binding) on the node's loop.
 *
 * The happy path: httpStart loads the credentials, sets up one h2o host
 * with one handler on "/" (sqs.c's httpServe sees every path), binds
 * --http-addr, and accepts each connection into a uv_tcp_t of ours handed
 * to h2o (h2o_uv_socket_create + h2o_accept). h2o parses HTTP/1.1, keeps
 * connections alive and serves pipelined requests one after another; a
 * request may be answered later (a long poll), h2o stops reading the
 * connection meanwhile. Header blocks are bounded by h2o (400 past its
 * limit); bodies above HTTP_BODY_HARD_MAX get h2o's own 413 before they
 * are buffered, sqs.c refuses bodies above HTTP_BODY_MAX with an
 * AWS-shaped 413.
 *
 * Failure modes: a bind error stops the start (exit status 2, like the
 * client listener); an accept error drops that connection. Since h2o does
 * not read while a request is pending, it cannot see a long poll's client
 * leave: while long polls are pending, a sweep every HTTP_SWEEP_MS peeks at
 * their sockets (sqs.c httpSweep).
 * Shutdown answers pending requests 503 and closes the listener; h2o's
 * own handles are released by httpDispose after the loop has stopped.
 */
#include "node/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"

/* The handler h2o calls. */
struct httpHandler
{
    h2o_handler_t super;
    struct http *http;
};

/* Keep the endpoint reachable for leak checkers after shutdown: h2o's
 * connection state is freed by h2o alone. */
static struct http *httpLast;

static int onReq(h2o_handler_t *self, h2o_req_t *req)
{
    struct httpHandler *hh = (struct httpHandler *)self;
    return httpServe(hh->http, req);
}

static void sockClosedCb(uv_handle_t *handle)
{
    struct httpSock *hs = (struct httpSock *)handle;
    struct http *h = hs->http;

    if (hs->prev != NULL) {
        hs->prev->next = hs->next;
    } else {
        h->socks = hs->next;
    }
    if (hs->next != NULL) {
        hs->next->prev = hs->prev;
    }
    h->n_socks--;
    free(hs);
}

static void acceptCb(uv_stream_t *listener, int status)
{
    struct http *h = listener->data;
    struct httpSock *hs;
    h2o_socket_t *sock;

    if (status != 0 || h->stopping) {
        return;
    }
    hs = calloc(1, sizeof *hs);
    if (hs == NULL) {
        return;
    }
    hs->http = h;
    uv_tcp_init(&h->server->loop, &hs->tcp);
    if (uv_accept(listener, (uv_stream_t *)&hs->tcp) != 0) {
        uv_close((uv_handle_t *)&hs->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&hs->tcp, 1);
    hs->next = h->socks;
    if (h->socks != NULL) {
        h->socks->prev = hs;
    }
    h->socks = hs;
    h->n_socks++;
    h->n_accepted++;
    sock = h2o_uv_socket_create((uv_stream_t *)&hs->tcp, sockClosedCb);
    h2o_accept(&h->accept, sock);
}

static int bindListener(struct http *h, const char *addr, char *errmsg, size_t len)
{
    struct sockaddr_storage sa;
    char host[NODE_ADDR_MAX];
    const char *colon = strrchr(addr, ':');
    int port = atoi(colon + 1);
    int rv;

    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    rv = uv_ip4_addr(host, port, (struct sockaddr_in *)&sa);
    if (rv != 0) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa);
    }
    if (rv != 0) {
        snprintf(errmsg, len, "--http-addr %s: not an IP address", addr);
        return -1;
    }
    rv = uv_tcp_bind(&h->listener, (struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&h->listener, 511, acceptCb);
    }
    if (rv != 0) {
        snprintf(errmsg, len, "listen on %s: %s", addr, uv_strerror(rv));
        return -1;
    }
    return 0;
}

int httpStart(struct server *s, char *errmsg, size_t errmsg_len)
{
    const struct nodeConfig *c = s->config;
    struct http *h;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    struct httpHandler *handler;

    if (c->http_addr[0] == '\0') {
        return 0;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(errmsg, errmsg_len, "out of memory");
        return -1;
    }
    h->server = s;
    h->auth_none = c->http_auth_none;
    if (c->credentials[0] != '\0' &&
        httpKeysLoad(c->credentials, &h->keys, errmsg, errmsg_len) != 0) {
        free(h);
        return -1;
    }
    if (httpClusterInit(s, &h->cluster) != 0) {
        httpKeysFree(&h->keys);
        free(h);
        snprintf(errmsg, errmsg_len, "out of memory");
        return -1;
    }
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = HTTP_BODY_HARD_MAX;
    h->config.http1.upgrade_to_http2 = 0;
    host = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = (struct httpHandler *)h2o_create_handler(path, sizeof *handler);
    handler->super.on_req = onReq;
    handler->http = h;
    h2o_context_init(&h->ctx, &s->loop, &h->config);
    h->accept.ctx = &h->ctx;
    h->accept.hosts = h->config.hosts;

    uv_tcp_init(&s->loop, &h->listener);
    h->listener.data = h;
    uv_timer_init(&s->loop, &h->sweep);
    h->sweep.data = h;
    s->http = h;
    httpLast = h;
    if (bindListener(h, c->http_addr, errmsg, errmsg_len) != 0) {
        return -1;
    }
    if (h->auth_none) {
        nodeLog(NODE_LOG_WARN, "HTTP requests are not authenticated (--http-auth none)",
                "http=%s", c->http_addr);
    } else if (h->keys.n == 0) {
        nodeLog(NODE_LOG_WARN,
                "no --credentials: every SQS request over HTTP is refused (or use "
                "--http-auth none)",
                "http=%s", c->http_addr);
    }
    nodeLog(NODE_LOG_INFO, "serving HTTP", "http=%s advertise=%s region=%s keys=%zu",
            c->http_addr, c->http_advertise, c->region, h->keys.n);
    return 0;
}

void httpStop(struct server *s)
{
    struct http *h = s->http;

    if (h == NULL || h->stopping) {
        return;
    }
    h->stopping = true;
    uv_close((uv_handle_t *)&h->listener, NULL);
    uv_timer_stop(&h->sweep);
    uv_close((uv_handle_t *)&h->sweep, NULL);
    httpFailPending(h, "ServiceUnavailable", "The node is shutting down: retry.");
    httpClusterClose(h->cluster);
    h->cluster = NULL;
    h2o_context_request_shutdown(&h->ctx);
}

void httpDispose(struct server *s)
{
    struct http *h = s->http;

    if (h == NULL) {
        return;
    }
    /* Connections h2o still holds (idle keep-alives) are closed with the
     * process; their memory stays reachable through httpLast. */
    httpKeysFree(&h->keys);
    httpAttemptsFree(h);
    s->http = NULL;
}
