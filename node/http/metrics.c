/* GET /health and GET /metrics (Prometheus text format 0.0.4).
 *
 * /health is 200 "ok" when this node sees a leader (and, leading, has
 * applied its barrier) and has applied everything it knows committed;
 * else 503 with the reason. /metrics reads this node's own view, without
 * a barrier: raft's role, state, term and indexes; per action request,
 * error and latency counters of this listener; per queue visible,
 * in-flight and delayed counts from the local state machine; long-poll
 * waiters; connections; forwarding counters. Neither needs credentials.
 */
#include "node/http/http.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"

int httpHealth(struct http *h, struct httpBuf *out)
{
    struct replicaStatus st;

    replicaGetStatus(h->server->replica, &st);
    if (h->stopping) {
        httpBufStr(out, "shutting down\n");
        return 503;
    }
    if (st.leader_id == 0) {
        httpBufPrintf(out, "no leader known (state %s, term %llu)\n", st.state,
                      (unsigned long long)st.term);
        return 503;
    }
    if (st.leader_id == h->server->config->id && !st.ready) {
        httpBufStr(out, "leader elected, not ready yet\n");
        return 503;
    }
    if (st.applied_index < st.commit_index) {
        httpBufPrintf(out, "applying: applied %llu of commit index %llu\n",
                      (unsigned long long)st.applied_index,
                      (unsigned long long)st.commit_index);
        return 503;
    }
    httpBufStr(out, "ok\n");
    return 200;
}

/* A label value, escaped as Prometheus wants (\\, \", \n). */
static void label(struct httpBuf *b, const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            httpBufAdd(b, "\\", 1);
            httpBufAdd(b, &s[i], 1);
        } else if (s[i] == '\n') {
            httpBufStr(b, "\\n");
        } else {
            httpBufAdd(b, &s[i], 1);
        }
    }
}

/* Run a read-only op on the local state machine; its reply copied into
 * *copy (the caller frees it: @u points into it) and unpacked into @u.
 * 0 or -1. */
static int localQuery(struct server *s, unsigned op, const msgpack_sbuffer *args,
                      msgpack_unpacked *u, void **copy)
{
    struct fsmCommand cmd;
    struct fsmReply reply;
    size_t off = 0;

    memset(&cmd, 0, sizeof cmd);
    cmd.op = op;
    cmd.now_ms = replicaNow(s->replica);
    cmd.args = args->data;
    cmd.args_len = args->size;
    *copy = NULL;
    if (fsmQuery(s->fsm, &cmd, &reply) != 0 || (*copy = malloc(reply.len + 1)) == NULL) {
        return -1;
    }
    memcpy(*copy, reply.data, reply.len);
    if (msgpack_unpack_next(u, *copy, reply.len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u->data.type != MSGPACK_OBJECT_MAP) {
        return -1;
    }
    return 0;
}

static const msgpack_object *mapGet(const msgpack_object *m, const char *key)
{
    uint32_t i;
    size_t n = strlen(key);

    if (m->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0) {
            return &m->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static void packKey(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Per queue counts, at most 1000 queues. */
static void queueMetrics(struct server *s, struct httpBuf *b)
{
    static const char *const attrs[3][2] = {
        {"ApproximateNumberOfMessages", "visible"},
        {"ApproximateNumberOfMessagesNotVisible", "inflight"},
        {"ApproximateNumberOfMessagesDelayed", "delayed"}};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked lu;
    void *lcopy = NULL;
    const msgpack_object *names;
    uint32_t i;
    int a;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    packKey(&pk, "MaxResults");
    msgpack_pack_uint32(&pk, 1000);
    msgpack_unpacked_init(&lu);
    if (localQuery(s, FSM_OP_LIST_QUEUES, &sb, &lu, &lcopy) != 0 ||
        (names = mapGet(&lu.data, "QueueNames")) == NULL ||
        names->type != MSGPACK_OBJECT_ARRAY) {
        goto done;
    }
    httpBufStr(b, "# HELP qraft_queue_messages Messages per queue and state, this node's view.\n"
                  "# TYPE qraft_queue_messages gauge\n");
    for (i = 0; i < names->via.array.size; i++) {
        const msgpack_object *n = &names->via.array.ptr[i];
        msgpack_unpacked au;
        void *acopy = NULL;
        const msgpack_object *attributes;

        if (n->type != MSGPACK_OBJECT_STR) {
            continue;
        }
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, 1);
        packKey(&pk, "QueueName");
        msgpack_pack_str(&pk, n->via.str.size);
        msgpack_pack_str_body(&pk, n->via.str.ptr, n->via.str.size);
        msgpack_unpacked_init(&au);
        if (localQuery(s, FSM_OP_GET_QUEUE_ATTRIBUTES, &sb, &au, &acopy) == 0 &&
            (attributes = mapGet(&au.data, "Attributes")) != NULL) {
            for (a = 0; a < 3; a++) {
                const msgpack_object *v = mapGet(attributes, attrs[a][0]);
                if (v == NULL || v->type != MSGPACK_OBJECT_STR) {
                    continue;
                }
                httpBufStr(b, "qraft_queue_messages{queue=\"");
                label(b, n->via.str.ptr, n->via.str.size);
                httpBufPrintf(b, "\",state=\"%s\"} %.*s\n", attrs[a][1], (int)v->via.str.size,
                              v->via.str.ptr);
            }
        }
        msgpack_unpacked_destroy(&au);
        free(acopy);
    }
done:
    msgpack_unpacked_destroy(&lu);
    free(lcopy);
    msgpack_sbuffer_destroy(&sb);
}

void httpMetrics(struct http *h, struct httpBuf *b)
{
    static const char *const states[] = {"leader", "follower", "candidate", "unavailable"};
    struct server *s = h->server;
    struct replicaStatus st;
    struct httpClusterStats cs;
    struct conn *c;
    unsigned clients = 0;
    size_t i, k;

    replicaGetStatus(s->replica, &st);
    httpBufStr(b, "# HELP qraft_raft_state This node's raft state (1 for the current one).\n"
                  "# TYPE qraft_raft_state gauge\n");
    for (i = 0; i < 4; i++) {
        httpBufPrintf(b, "qraft_raft_state{state=\"%s\"} %d\n", states[i],
                      strcmp(st.state, states[i]) == 0);
    }
    httpBufPrintf(b,
                  "# HELP qraft_raft_role This node's role in the configuration.\n"
                  "# TYPE qraft_raft_role gauge\nqraft_raft_role{role=\"%s\"} 1\n"
                  "# TYPE qraft_raft_term gauge\nqraft_raft_term %llu\n"
                  "# TYPE qraft_raft_leader_id gauge\nqraft_raft_leader_id %llu\n"
                  "# TYPE qraft_raft_last_index gauge\nqraft_raft_last_index %llu\n"
                  "# TYPE qraft_raft_commit_index gauge\nqraft_raft_commit_index %llu\n"
                  "# TYPE qraft_raft_applied_index gauge\nqraft_raft_applied_index %llu\n",
                  st.role, (unsigned long long)st.term, (unsigned long long)st.leader_id,
                  (unsigned long long)st.last_index, (unsigned long long)st.commit_index,
                  (unsigned long long)st.applied_index);

    httpBufStr(b, "# HELP qraft_http_requests_total SQS requests over HTTP, by action.\n"
                  "# TYPE qraft_http_requests_total counter\n");
    for (i = 0; i <= HTTP_ACTIONS_MAX; i++) {
        const struct httpAction *a = httpActionAt(i);
        if (a == NULL && (i != HTTP_ACTIONS_MAX || h->ops[i].requests == 0)) {
            continue;
        }
        httpBufPrintf(b, "qraft_http_requests_total{action=\"%s\"} %llu\n",
                      a != NULL ? a->name : "none", (unsigned long long)h->ops[i].requests);
    }
    httpBufStr(b, "# HELP qraft_http_errors_total Requests answered with a 4xx or 5xx.\n"
                  "# TYPE qraft_http_errors_total counter\n");
    for (i = 0; i <= HTTP_ACTIONS_MAX; i++) {
        const struct httpAction *a = httpActionAt(i);
        if (a == NULL && (i != HTTP_ACTIONS_MAX || h->ops[i].requests == 0)) {
            continue;
        }
        httpBufPrintf(b, "qraft_http_errors_total{action=\"%s\"} %llu\n",
                      a != NULL ? a->name : "none", (unsigned long long)h->ops[i].errors);
    }
    httpBufStr(b, "# HELP qraft_http_request_duration_seconds Time from request to answer.\n"
                  "# TYPE qraft_http_request_duration_seconds histogram\n");
    for (i = 0; i <= HTTP_ACTIONS_MAX; i++) {
        const struct httpAction *a = httpActionAt(i);
        const char *name = a != NULL ? a->name : "none";
        uint64_t cum = 0;
        if (h->ops[i].requests == 0) {
            continue;
        }
        for (k = 0; k < HTTP_LATENCY_BUCKETS; k++) {
            cum += h->ops[i].buckets[k];
            if (k < HTTP_LATENCY_BUCKETS - 1) {
                httpBufPrintf(b,
                              "qraft_http_request_duration_seconds_bucket{action=\"%s\",le=\"%g\"} "
                              "%llu\n",
                              name, httpLatencyBounds[k], (unsigned long long)cum);
            } else {
                httpBufPrintf(b,
                              "qraft_http_request_duration_seconds_bucket{action=\"%s\",le=\"+Inf\"} "
                              "%llu\n",
                              name, (unsigned long long)cum);
            }
        }
        httpBufPrintf(b, "qraft_http_request_duration_seconds_sum{action=\"%s\"} %.6f\n", name,
                      h->ops[i].seconds);
        httpBufPrintf(b, "qraft_http_request_duration_seconds_count{action=\"%s\"} %llu\n", name,
                      (unsigned long long)cum);
    }
    httpBufStr(b, "# TYPE qraft_http_responses_total counter\n");
    for (i = 1; i < 6; i++) {
        httpBufPrintf(b, "qraft_http_responses_total{class=\"%zuxx\"} %llu\n", i,
                      (unsigned long long)h->status_counts[i]);
    }
    for (c = s->conns; c != NULL; c = c->next) {
        clients++;
    }
    if (h->cluster != NULL) {
        httpClusterStatsGet(h->cluster, &cs);
    } else {
        memset(&cs, 0, sizeof cs);
    }
    httpBufPrintf(b,
                  "# HELP qraft_longpoll_waiters Receives parked on this node (a leader).\n"
                  "# TYPE qraft_longpoll_waiters gauge\nqraft_longpoll_waiters %u\n"
                  "# HELP qraft_http_pending Requests of this listener waiting for the cluster.\n"
                  "# TYPE qraft_http_pending gauge\nqraft_http_pending %u\n"
                  "# TYPE qraft_http_connections gauge\nqraft_http_connections %u\n"
                  "# TYPE qraft_http_connections_accepted_total counter\n"
                  "qraft_http_connections_accepted_total %llu\n"
                  "# TYPE qraft_client_connections gauge\nqraft_client_connections %u\n"
                  "# HELP qraft_http_forwarded_total Attempts forwarded to the leader.\n"
                  "# TYPE qraft_http_forwarded_total counter\nqraft_http_forwarded_total %llu\n"
                  "# TYPE qraft_http_local_total counter\nqraft_http_local_total %llu\n"
                  "# TYPE qraft_http_retries_total counter\nqraft_http_retries_total %llu\n"
                  "# TYPE qraft_http_sessions_idle gauge\nqraft_http_sessions_idle %u\n",
                  s->longpoll.n_waiters, h->n_pending, h->n_socks,
                  (unsigned long long)h->n_accepted, clients, (unsigned long long)cs.forwarded,
                  (unsigned long long)cs.local, (unsigned long long)cs.retries, cs.sessions);
    queueMetrics(s, b);
}
