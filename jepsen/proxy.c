/* The fault proxy: lifecycle, the control calls, the links' fault state,
 * the front ports. One connection's life is in proxy_conn.c.
 *
 * The happy path is: proxyStart copies the configuration, binds and
 * listens on every front port on a private loop, then starts the thread
 * that runs the loop. A control call (proxyCut, ...) takes the command
 * slot under the mutex, wakes the loop with uv_async_send and waits on the
 * condition variable until the loop has applied it to the link table and
 * to every live connection. proxyStop posts a stop: the loop closes the
 * listeners, every connection and the async handle, uv_run returns, the
 * caller joins the thread, closes the loop and frees.
 *
 * Failure modes are:
 * - a front port cannot be bound or listened on: proxyStart closes what it
 *   opened, runs the loop until the closes are done and returns -1 with
 *   the port named in @errmsg; no thread was started;
 * - a control call names a link that does not exist (an index out of
 *   range, or PROXY_CLIENT at both ends): it is ignored;
 * - uv_loop_close fails after the stop (a handle left open, a bug): it is
 *   reported on stderr and the loop's memory is leaked rather than freed
 *   under libuv's feet.
 */
#include "jepsen/proxy_internal.h"

#include <stdlib.h>
#include <string.h>

uint64_t proxyNowUs(void)
{
    return uv_hrtime() / 1000;
}

struct proxyLink *proxyLinkOf(struct proxy *p, int from, int to)
{
    return &p->links[from + 1][to + 1];
}

/* The next number of the jitter's stream (xorshift64*). */
static uint64_t proxyRandom(struct proxy *p)
{
    uint64_t x = p->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 2685821657736338717ULL;
}

uint64_t proxyReleaseTime(struct proxy *p, int from, int to)
{
    const struct proxyLink *link = proxyLinkOf(p, from, to);
    uint64_t now = proxyNowUs();
    int64_t delay = (int64_t)link->delay_us;

    if (link->jitter_us > 0) {
        uint64_t span = 2 * (uint64_t)link->jitter_us + 1;
        delay += (int64_t)(proxyRandom(p) % span) - (int64_t)link->jitter_us;
    }
    return delay > 0 ? now + (uint64_t)delay : now;
}

/* Whether (from, to) names a link: ends in [PROXY_CLIENT, n_nodes), not
 * both the clients. */
static bool proxyLinkValid(const struct proxy *p, int from, int to)
{
    int n = (int)p->config.n_nodes;

    return from >= PROXY_CLIENT && from < n && to >= PROXY_CLIENT && to < n &&
           !(from == PROXY_CLIENT && to == PROXY_CLIENT);
}

/* The default delay of a link: the zone delay between nodes of different
 * zones, 0 within a zone and for client links. */
static void proxyLinkDefault(struct proxy *p, int from, int to)
{
    struct proxyLink *link = proxyLinkOf(p, from, to);
    const struct proxyConfig *c = &p->config;

    link->cut = 0;
    link->delay_us = 0;
    link->jitter_us = 0;
    if (from >= 0 && to >= 0 && c->zone[from] != c->zone[to]) {
        link->delay_us = c->zone_delay_us;
        link->jitter_us = c->zone_jitter_us;
    }
}

static void proxyLinksDefault(struct proxy *p)
{
    int n = (int)p->config.n_nodes;

    for (int from = PROXY_CLIENT; from < n; from++) {
        for (int to = PROXY_CLIENT; to < n; to++) {
            proxyLinkDefault(p, from, to);
        }
    }
}

/* Apply the link table to every live connection. */
static void proxyRefreshAll(struct proxy *p)
{
    struct proxyConn *c = p->conns;

    while (c != NULL) {
        struct proxyConn *next = c->next; /* @c may close and unlink */
        proxyConnRefresh(c);
        c = next;
    }
}

static void proxyListenerClosedCb(uv_handle_t *handle)
{
    (void)handle; /* the listener lives inside struct proxy */
}

/* Close the listeners, every connection and the async handle: the loop
 * then runs out of handles and uv_run returns. */
static void proxyShutdown(struct proxy *p)
{
    p->stopping = true;
    for (unsigned i = 0; i < p->n_listeners; i++) {
        uv_close((uv_handle_t *)&p->listeners[i].tcp, proxyListenerClosedCb);
    }
    while (p->conns != NULL) {
        proxyConnClose(p->conns, false);
    }
    uv_close((uv_handle_t *)&p->async, NULL);
}

/* Apply one command on the loop. */
static void proxyApply(struct proxy *p, const struct proxyCmd *cmd)
{
    switch (cmd->kind) {
    case PROXY_CMD_CUT:
        proxyLinkOf(p, cmd->from, cmd->to)->cut = cmd->mode;
        proxyRefreshAll(p);
        break;
    case PROXY_CMD_UNCUT:
        proxyLinkOf(p, cmd->from, cmd->to)->cut = 0;
        proxyRefreshAll(p);
        break;
    case PROXY_CMD_DELAY:
        proxyLinkOf(p, cmd->from, cmd->to)->delay_us = cmd->delay_us;
        proxyLinkOf(p, cmd->from, cmd->to)->jitter_us = cmd->jitter_us;
        break;
    case PROXY_CMD_HEAL:
        proxyLinksDefault(p);
        proxyRefreshAll(p);
        break;
    case PROXY_CMD_STATS: {
        struct proxyStats *out = cmd->stats_out;
        *out = p->stats;
        out->live = 0;
        out->held_connections = 0;
        for (struct proxyConn *c = p->conns; c != NULL; c = c->next) {
            out->live++;
            out->held_connections += c->state == PROXY_CONN_HELD;
        }
        break;
    }
    case PROXY_CMD_STOP:
        proxyShutdown(p);
        break;
    }
}

static void proxyAsyncCb(uv_async_t *async)
{
    struct proxy *p = async->data;

    pthread_mutex_lock(&p->mu);
    if (p->cmd_busy && p->done_seq < p->cmd_seq) {
        if (!p->stopping) {
            proxyApply(p, &p->cmd);
        }
        p->done_seq = p->cmd_seq;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Post @cmd and wait until the loop has applied it. */
static void proxyPost(struct proxy *p, const struct proxyCmd *cmd)
{
    uint64_t seq;

    pthread_mutex_lock(&p->mu);
    while (p->cmd_busy) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->cmd = *cmd;
    p->cmd_busy = true;
    seq = ++p->cmd_seq;
    uv_async_send(&p->async);
    while (p->done_seq < seq) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->cmd_busy = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *proxyThread(void *arg)
{
    struct proxy *p = arg;

    uv_run(&p->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void proxyConnectionCb(uv_stream_t *server, int status)
{
    struct proxyListener *l = server->data;

    if (status < 0 || l->p->stopping) {
        return;
    }
    proxyConnAccept(l);
}

/* Bind and listen on 127.0.0.1:@port as listener number p->n_listeners. */
static int proxyListen(struct proxy *p, uint16_t port, int node, bool raft, char *errmsg, size_t len)
{
    struct proxyListener *l = &p->listeners[p->n_listeners];
    struct sockaddr_in addr;
    int rv;

    l->p = p;
    l->node = node;
    l->raft = raft;
    rv = uv_tcp_init(&p->loop, &l->tcp);
    if (rv != 0) {
        goto err;
    }
    l->tcp.data = l;
    p->n_listeners++;
    rv = uv_ip4_addr("127.0.0.1", port, &addr);
    if (rv == 0) {
        rv = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&l->tcp, 128, proxyConnectionCb);
    }
    if (rv != 0) {
        goto err;
    }
    return 0;

err:
    snprintf(errmsg, len, "proxy: listen on 127.0.0.1:%u (%s port of node %d): %s", (unsigned)port,
             raft ? "raft" : "client", node, uv_strerror(rv));
    return -1;
}

/* Undo a proxyStart that failed after the loop was initialised. */
static void proxyAbandon(struct proxy *p)
{
    for (unsigned i = 0; i < p->n_listeners; i++) {
        uv_close((uv_handle_t *)&p->listeners[i].tcp, proxyListenerClosedCb);
    }
    uv_close((uv_handle_t *)&p->async, NULL);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&p->loop) != 0) {
        fprintf(stderr, "proxy: uv_loop_close failed after a failed start\n");
        return; /* leak rather than free a loop libuv still uses */
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int proxyStart(const struct proxyConfig *c, struct proxy **out, char *errmsg, size_t len)
{
    struct proxy *p;
    int rv;

    *out = NULL;
    if (c->n_nodes == 0 || c->n_nodes > JEPSEN_NODES_MAX) {
        snprintf(errmsg, len, "proxy: %u nodes (1 to %d)", c->n_nodes, JEPSEN_NODES_MAX);
        return -1;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(errmsg, len, "proxy: out of memory");
        return -1;
    }
    p->config = *c;
    p->rng = c->seed ^ 0x9E3779B97F4A7C15ULL;
    if (p->rng == 0) {
        p->rng = 1; /* xorshift's one forbidden state */
    }
    proxyLinksDefault(p);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        snprintf(errmsg, len, "proxy: pthread_mutex_init failed");
        return -1;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        snprintf(errmsg, len, "proxy: pthread_cond_init failed");
        return -1;
    }
    rv = uv_loop_init(&p->loop);
    if (rv != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        snprintf(errmsg, len, "proxy: uv_loop_init: %s", uv_strerror(rv));
        return -1;
    }
    rv = uv_async_init(&p->loop, &p->async, proxyAsyncCb);
    if (rv != 0) {
        uv_loop_close(&p->loop);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        snprintf(errmsg, len, "proxy: uv_async_init: %s", uv_strerror(rv));
        return -1;
    }
    p->async.data = p;
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (proxyListen(p, c->raft_front[i], (int)i, true, errmsg, len) != 0 ||
            proxyListen(p, c->client_front[i], (int)i, false, errmsg, len) != 0) {
            goto err;
        }
    }
    if (pthread_create(&p->thread, NULL, proxyThread, p) != 0) {
        snprintf(errmsg, len, "proxy: pthread_create failed");
        goto err;
    }
    *out = p;
    return 0;

err:
    proxyAbandon(p);
    return -1;
}

void proxyStop(struct proxy *p)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_STOP};

    if (p == NULL) {
        return;
    }
    proxyPost(p, &cmd);
    pthread_join(p->thread, NULL);
    if (uv_loop_close(&p->loop) != 0) {
        fprintf(stderr, "proxy: uv_loop_close: a handle is still open (bug)\n");
        return; /* leak rather than free a loop libuv still uses */
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void proxyCut(struct proxy *p, int from, int to, enum proxyCutMode mode)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_CUT, .from = from, .to = to, .mode = (int)mode};

    if (!proxyLinkValid(p, from, to) || (mode != PROXY_CUT_STALL && mode != PROXY_CUT_RESET)) {
        return;
    }
    proxyPost(p, &cmd);
}

void proxyUncut(struct proxy *p, int from, int to)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_UNCUT, .from = from, .to = to};

    if (!proxyLinkValid(p, from, to)) {
        return;
    }
    proxyPost(p, &cmd);
}

void proxySetDelay(struct proxy *p, int from, int to, unsigned delay_us, unsigned jitter_us)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_DELAY,
                           .from = from,
                           .to = to,
                           .delay_us = delay_us,
                           .jitter_us = jitter_us};

    if (!proxyLinkValid(p, from, to)) {
        return;
    }
    proxyPost(p, &cmd);
}

void proxyHeal(struct proxy *p)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_HEAL};

    proxyPost(p, &cmd);
}

void proxyGetStats(struct proxy *p, struct proxyStats *out)
{
    struct proxyCmd cmd = {.kind = PROXY_CMD_STATS, .stats_out = out};

    memset(out, 0, sizeof *out);
    proxyPost(p, &cmd);
}
