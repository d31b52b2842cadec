/* The node's lifecycle on one libuv loop.
 *
 * Start: open the state machine (an empty store: libraft replays the last
 * snapshot and the log into it), then the replica (raft), then the client
 * listener. Stop on SIGTERM/SIGINT: stop accepting, hand leadership over and
 * close raft (replicaClose), then close every connection and the store. A
 * fatal disk or store error exits at once with status 3: the raft log holds
 * everything that was acknowledged, so a restart recovers.
 *
 * Replies are batched per loop iteration: a check handle (after the poll
 * phase) writes every connection's replies of the iteration in one
 * uv_write each (conn.c connFlushAll). Replies produced before the poll
 * (timers, write callbacks) start an idle handle, which makes that poll
 * return at once, so they never wait for the next I/O event; the check
 * stops it again.
 */
#include "node/internal.h"

#include "node/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void replicaLogCb(void *arg, int level, const char *msg, const char *kv)
{
    (void)arg;
    if (kv == NULL || kv[0] == '\0') {
        nodeLog(level, msg, NULL);
    } else {
        nodeLog(level, msg, "%s", kv);
    }
}

static void fatalCb(void *arg, const char *what)
{
    (void)arg;
    nodeLog(NODE_LOG_ERROR, "fatal error, exiting", "error=\"%s\"", what);
    _exit(3);
}

static void leadershipLostCb(void *arg)
{
    longpollLeadershipLost(arg);
}

/* After the poll phase of each loop iteration: write the replies. */
static void flushCheckCb(uv_check_t *handle)
{
    struct server *s = handle->data;

    connFlushAll(s);
    uv_idle_stop(&s->flush_idle);
}

/* Nothing to do: an active idle handle only keeps the poll from blocking. */
static void flushIdleCb(uv_idle_t *handle)
{
    (void)handle;
}

void serverFlushSoon(struct server *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->flush_idle)) {
        uv_idle_start(&s->flush_idle, flushIdleCb);
    }
}

static void connectionCb(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    if (status != 0 || s->stopping) {
        return;
    }
    connAccept(s);
}

static int listenOn(struct server *s, char *errmsg, size_t len)
{
    struct sockaddr_storage addr;
    char host[NODE_ADDR_MAX];
    const char *bind = s->config->client_bind[0] != '\0' ? s->config->client_bind
                                                          : s->config->client_addr;
    const char *colon = strrchr(bind, ':');
    int port = atoi(colon + 1);
    int rv;

    /* The handle first, so that the caller always has one to close. */
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    snprintf(host, sizeof host, "%.*s", (int)(colon - bind), bind);
    rv = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rv != 0) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    }
    if (rv != 0) {
        snprintf(errmsg, len, "client address %s: not an IP address", bind);
        return -1;
    }
    rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 511, connectionCb);
    }
    if (rv != 0) {
        snprintf(errmsg, len, "listen on %s: %s", bind, uv_strerror(rv));
        return -1;
    }
    return 0;
}

static void replicaClosedCb(void *arg)
{
    struct server *s = arg;

    s->replica = NULL;
    longpollClose(s, QRAFT_EUNAVAILABLE, "node shutting down: retry");
    while (s->conns != NULL) {
        connClose(s->conns);
    }
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    /* Every connection is closed (off the flush list): nothing to write. */
    uv_close((uv_handle_t *)&s->flush_check, NULL);
    uv_close((uv_handle_t *)&s->flush_idle, NULL);
    if (s->http != NULL) {
        /* h2o keeps handles of its own (idle connections, a queue):
         * stop the loop instead of waiting for them. */
        uv_stop(&s->loop);
    }
    nodeLog(NODE_LOG_INFO, "stopped", NULL);
}

static void stop(struct server *s)
{
    if (s->stopping) {
        return;
    }
    s->stopping = true;
    nodeLog(NODE_LOG_INFO, "stopping", NULL);
    uv_close((uv_handle_t *)&s->listener, NULL);
    httpStop(s);
    replicaClose(s->replica, replicaClosedCb, s);
}

static void signalCb(uv_signal_t *handle, int signum)
{
    (void)signum;
    stop(handle->data);
}

int nodeRun(const struct nodeConfig *c)
{
    struct server *s;
    struct fsmConfig fc;
    struct replicaConfig rc;
    struct replicaPeer peers[NODE_PEERS_MAX];
    char dir[1100];
    char errmsg[256];
    size_t i;
    int rv;

    s = calloc(1, sizeof *s);
    if (s == NULL) {
        nodeLog(NODE_LOG_ERROR, "out of memory", NULL);
        return 1;
    }
    s->config = c;
    uv_loop_init(&s->loop);
    longpollInit(s);

    fsmConfigDefaults(&fc);
    snprintf(dir, sizeof dir, "%s/state", c->data_dir);
    fc.dir = dir;
    fc.map_size = c->map_size;
    fc.session_idle_ms = c->session_idle_ms;
    fc.durable = true; /* the state survives restarts: snapshot markers */
    rv = fsmOpen(&fc, &s->fsm, errmsg);
    if (rv != 0) {
        nodeLog(NODE_LOG_ERROR, "cannot open the state machine", "error=\"%s\"", errmsg);
        goto err;
    }

    memset(&rc, 0, sizeof rc);
    for (i = 0; i < c->n_peers; i++) {
        peers[i].id = c->peers[i].id;
        peers[i].raft_addr = c->peers[i].raft_addr;
    }
    snprintf(dir, sizeof dir, "%s/raft", c->data_dir);
    rc.id = c->id;
    rc.raft_addr = c->raft_addr;
    rc.raft_bind = c->raft_bind[0] != '\0' ? c->raft_bind : NULL;
    rc.dir = dir;
    rc.peers = peers;
    rc.n_peers = c->n_peers;
    rc.election_timeout_ms = c->election_timeout_ms;
    rc.heartbeat_timeout_ms = c->heartbeat_timeout_ms;
    rc.snapshot_threshold = c->snapshot_threshold;
    rc.snapshot_trailing = c->snapshot_trailing;
    rc.snapshot_log_max = c->snapshot_log_max;
    rc.tick_interval_ms = c->tick_interval_ms;
    rc.fault_append_after = c->fault_append_after;
    rc.fsm = s->fsm;
    rc.log = replicaLogCb;
    rc.fatal = fatalCb;
    rc.leadership_lost = leadershipLostCb;
    rc.arg = s;
    rv = replicaInit(&s->loop, &rc, &s->replica, errmsg);
    if (rv != 0) {
        nodeLog(NODE_LOG_ERROR, "cannot set up raft", "error=\"%s\"", errmsg);
        goto err_after_fsm;
    }
    rv = replicaStart(s->replica, errmsg);
    if (rv != 0) {
        nodeLog(NODE_LOG_ERROR, "cannot start raft", "error=\"%s\"", errmsg);
        goto err_after_replica;
    }
    if (listenOn(s, errmsg, sizeof errmsg) != 0) {
        nodeLog(NODE_LOG_ERROR, "cannot listen for clients", "error=\"%s\"", errmsg);
        uv_close((uv_handle_t *)&s->listener, NULL);
        goto err_after_replica;
    }
    if (httpStart(s, errmsg, sizeof errmsg) != 0) {
        nodeLog(NODE_LOG_ERROR, "cannot serve HTTP", "error=\"%s\"", errmsg);
        uv_close((uv_handle_t *)&s->listener, NULL);
        httpStop(s);
        goto err_after_replica;
    }
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, signalCb, SIGTERM);
    uv_signal_init(&s->loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, signalCb, SIGINT);
    /* Neither keeps the loop alive: connections do. */
    uv_check_init(&s->loop, &s->flush_check);
    s->flush_check.data = s;
    uv_check_start(&s->flush_check, flushCheckCb);
    uv_unref((uv_handle_t *)&s->flush_check);
    uv_idle_init(&s->loop, &s->flush_idle);
    s->flush_idle.data = s;
    uv_unref((uv_handle_t *)&s->flush_idle);
    signal(SIGPIPE, SIG_IGN);

    nodeLog(NODE_LOG_INFO, "serving", "zone=%s raft=%s client=%s data=%s", c->zone,
            c->raft_addr, c->client_addr, c->data_dir);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    attemptsClose(s);
    if (s->http != NULL) {
        /* Let the closes already started finish, then leave h2o's. */
        for (i = 0; i < 16; i++) {
            uv_run(&s->loop, UV_RUN_NOWAIT);
        }
        httpDispose(s);
        fsmClose(s->fsm);
        return 0;
    }

    fsmClose(s->fsm);
    rv = uv_loop_close(&s->loop);
    if (rv != 0) {
        nodeLog(NODE_LOG_WARN, "loop closed with handles still open", "error=\"%s\"",
                uv_strerror(rv));
    }
    free(s);
    return 0;

err_after_replica:
    /* raft owns loop resources now: close it and let the loop release them. */
    replicaClose(s->replica, NULL, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    s->replica = NULL;
err_after_fsm:
    fsmClose(s->fsm);
err:
    uv_close((uv_handle_t *)&s->longpoll.timer, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    free(s);
    return 2;
}
