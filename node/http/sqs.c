/* One HTTP request: routing, authentication, protocol detection, and the
 * answer, now or when the cluster replies.
 *
 * The happy path for an SQS call: the body is bounded (HTTP_BODY_MAX);
 * SigV4 names the caller's account (or --http-auth none: 000000000000);
 * the protocol is JSON 1.0 when X-Amz-Target is present or the content type
 * is application/x-amz-json-1.0, else the query protocol (form body, or
 * the query string of a GET); the action's parameters become fsm args
 * (action.c) and run in the cluster (exec.c); the reply becomes the
 * action's result, written as XML or JSON, with x-amzn-RequestId.
 *
 * The request outlives h2o's callback while the cluster works: its state
 * (struct httpRequest) is malloc'd, and a reference in h2o's request pool
 * (h2o_mem_alloc_shared with a dispose callback) tells it when h2o frees
 * the request (its connection closed), so that it never answers a freed
 * request. A long poll whose client has gone is found by httpSweep, every
 * HTTP_SWEEP_MS while long polls are pending (recv MSG_PEEK on its
 * socket sees the end of the stream), cancelled
 * (its waiter dropped, here or at the leader) and answered, so that h2o
 * reads the end of the stream and frees the connection.
 *
 * Failure modes: each refusal is AWS-shaped (errors.c) under the request's
 * protocol, and nothing reaches the cluster before the request has passed
 * every check that needs no state.
 */
#include "node/http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "node/internal.h"

struct httpRequest
{
    struct http *http;
    h2o_req_t *req;            /* NULL once h2o has freed it */
    struct httpRequest **ref;  /* the slot in h2o's pool pointing here */
    int proto;
    const struct httpAction *action;
    json_t *params;
    char request_id[37];
    char account[13];
    uint64_t started_ns;
    int fd;                    /* the connection's socket (long polls), or -1 */
    bool executing;
    struct httpExec exec;
    struct httpRequest *prev, *next;
};

const double httpLatencyBounds[HTTP_LATENCY_BUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void requestId(char out[37])
{
    unsigned char r[16];
    size_t i, o = 0;

    if (getrandom(r, sizeof r, 0) != sizeof r) {
        memset(r, 0x5a, sizeof r);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        snprintf(out + o, 3, "%02x", r[i]);
        o += 2;
    }
    out[o] = '\0';
}

static void countResponse(struct http *h, const struct httpAction *a, int status,
                          uint64_t started_ns)
{
    struct httpOpStats *st = &h->ops[httpActionIndex(a)];
    double s = (double)(nowNs() - started_ns) / 1e9;
    size_t b = 0;

    st->requests++;
    if (status >= 400) {
        st->errors++;
    }
    while (b < HTTP_LATENCY_BUCKETS - 1 && s > httpLatencyBounds[b]) {
        b++;
    }
    st->buckets[b]++;
    st->seconds += s;
    if (status >= 100 && status < 600) {
        h->status_counts[status / 100]++;
    }
}

static const char *reasonOf(int status)
{
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Request Entity Too Large";
        case 415: return "Unsupported Media Type";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        default: return "Internal Server Error";
    }
}

/* Send @body with @status on @req (h2o copies it). */
static void sendBody(h2o_req_t *req, int status, const char *type, const char *request_id,
                     const char *query_error, const char *error_type, const struct httpBuf *body)
{
    req->res.status = status;
    req->res.reason = reasonOf(status);
    req->res.content_length = body->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type,
                   strlen(type));
    if (request_id != NULL) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-requestid"), 0,
                              NULL, request_id, strlen(request_id));
    }
    if (query_error != NULL) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-query-error"),
                              0, NULL, query_error, strlen(query_error));
    }
    if (error_type != NULL) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-errortype"), 0,
                              NULL, error_type, strlen(error_type));
    }
    h2o_send_inline(req, body->p != NULL ? body->p : "", body->len);
}

/* Answer @req with the AWS error @name under @proto. */
static void sendError(struct http *h, h2o_req_t *req, int proto, const struct httpAction *a,
                      const char *name, const char *message, const char *request_id,
                      uint64_t started_ns)
{
    const struct httpError *e = httpErrorByName(name);
    struct httpBuf b;
    const char *type;
    char qe[160];

    httpBufInit(&b);
    httpErrorBody(proto, e, message, request_id, &b, &type);
    snprintf(qe, sizeof qe, "%s;%s", e->query_code, e->sender ? "Sender" : "Receiver");
    /* JSON: the SDKs name the error after x-amzn-ErrorType (the modeled
     * shape) and take its query Code from x-amzn-query-error. */
    sendBody(req, e->status, type, request_id, proto == HTTP_PROTO_JSON ? qe : NULL,
             proto == HTTP_PROTO_JSON ? e->json_type : NULL, &b);
    httpBufFree(&b);
    countResponse(h, a, e->status, started_ns);
}

static void requestFree(struct httpRequest *r)
{
    json_decref(r->params);
    free(r->exec.args);
    free(r);
}

static void pendingUnlink(struct httpRequest *r)
{
    struct http *h = r->http;

    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else if (h->pending == r) {
        h->pending = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
    h->n_pending--;
}

/* h2o frees the request (its connection closed): never touch it again. */
static void requestDisposeCb(void *p)
{
    struct httpRequest *r = *(struct httpRequest **)p;

    if (r == NULL) {
        return;
    }
    r->req = NULL;
    r->ref = NULL;
    if (r->executing) {
        httpExecCancel(&r->exec);
        r->executing = false;
        pendingUnlink(r);
        requestFree(r);
    }
}

/* Detach @r from h2o's pool before answering, so that the dispose
 * callback (which may run inside the send) finds nothing. */
static h2o_req_t *requestDetach(struct httpRequest *r)
{
    h2o_req_t *req = r->req;
    if (r->ref != NULL) {
        *r->ref = NULL;
        r->ref = NULL;
    }
    r->req = NULL;
    return req;
}

/* Send @result of @a, as XML or JSON. */
static void sendResult(struct http *h, h2o_req_t *req, int proto, const struct httpAction *a,
                       json_t *result, const char *request_id, uint64_t started_ns)
{
    struct httpBuf b;

    httpBufInit(&b);
    if (proto == HTTP_PROTO_JSON) {
        char *text;
        json_t *urls = json_object_get(result, "QueueUrls");
        if (a->fsm_op == FSM_OP_LIST_DLQ_SOURCES && urls != NULL) {
            /* JSON's ListDeadLetterSourceQueues names them queueUrls. */
            json_object_set(result, "queueUrls", urls);
            json_object_del(result, "QueueUrls");
        }
        text = json_dumps(result, JSON_COMPACT);
        if (text != NULL) {
            httpBufStr(&b, text);
            free(text);
        } else {
            b.oom = true;
        }
    } else {
        httpXmlResult(a, result, request_id, &b);
    }
    if (b.oom) {
        sendError(h, req, proto, a, "InternalError", "out of memory", request_id, started_ns);
    } else {
        sendBody(req, 200, proto == HTTP_PROTO_JSON ? "application/x-amz-json-1.0" : "text/xml",
                 request_id, NULL, NULL, &b);
        countResponse(h, a, 200, started_ns);
    }
    httpBufFree(&b);
}

/* Whether @a with @params is a FIFO receive carrying a
 * ReceiveRequestAttemptId; the id and the queue's name. */
static bool fifoAttempt(const struct httpAction *a, const json_t *params, const char **attempt,
                        const char **queue, size_t *queue_len)
{
    const json_t *id = json_object_get(params, "ReceiveRequestAttemptId");
    const json_t *url = json_object_get(params, "QueueUrl");

    if (a->fsm_op != FSM_OP_RECEIVE_MESSAGE || !json_is_string(id) ||
        json_string_length(id) == 0 || !json_is_string(url) ||
        !httpQueueNameOfUrl(json_string_value(url), queue, queue_len) || *queue_len < 5 ||
        memcmp(*queue + *queue_len - 5, ".fifo", 5) != 0) {
        return false;
    }
    *attempt = json_string_value(id);
    return true;
}

/* The account a QueueUrl's path names (/ACCOUNT/NAME), or NULL. */
static bool urlAccount(const char *url, char out[13])
{
    const char *name = strrchr(url, '/');
    const char *p;
    size_t i;

    if (name == NULL || name - url < 13) {
        return false;
    }
    p = name - 12;
    if (p[-1] != '/') {
        return false;
    }
    for (i = 0; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
    }
    memcpy(out, p, 12);
    out[12] = '\0';
    return true;
}

static void execDone(struct httpExec *e, const char *code, const void *reply, size_t len)
{
    struct httpRequest *r = e->data;
    struct http *h = r->http;
    h2o_req_t *req;
    struct httpContext ctx;
    json_t *result = NULL;
    const char *ecode;
    char codebuf[64];
    char errmsg[512];

    r->executing = false;
    pendingUnlink(r);
    req = requestDetach(r);
    if (req == NULL) {
        requestFree(r);
        return;
    }
    if (code != NULL) {
        sendError(h, req, r->proto, r->action, code,
                  strcmp(code, "ServiceUnavailable") == 0
                      ? "No leader could serve the request in time: retry."
                      : "The request could not be served.",
                  r->request_id, r->started_ns);
        requestFree(r);
        return;
    }
    ctx.advertise = h->server->config->http_advertise;
    ctx.region = h->server->config->region;
    ctx.account = r->account;
    if (httpResultBuild(r->action, &ctx, r->params, reply, len, &result, &ecode, codebuf,
                        sizeof codebuf, errmsg, sizeof errmsg) != 0) {
        sendError(h, req, r->proto, r->action, ecode, errmsg, r->request_id, r->started_ns);
    } else {
        const char *attempt;
        const char *queue;
        size_t queue_len;
        if (fifoAttempt(r->action, r->params, &attempt, &queue, &queue_len) &&
            json_array_size(json_object_get(result, "Messages")) > 0) {
            httpAttemptPut(h, r->account, queue, queue_len, attempt, result,
                           uv_now(&h->server->loop));
        }
        sendResult(h, req, r->proto, r->action, result, r->request_id, r->started_ns);
    }
    json_decref(result);
    requestFree(r);
}

/* The header @name (lower case) of @req, or NULL. */
static const h2o_iovec_t *header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i >= 0 ? &req->headers.entries[i].value : NULL;
}

/* SigV4 over h2o's view of the request. */
static int authenticate(struct http *h, h2o_req_t *req, char account[13], const char **code,
                        char *errmsg, size_t len)
{
    size_t n = req->headers.size + 2, i, k = 0;
    const char **names = calloc(n, sizeof *names);
    const char **values = calloc(n, sizeof *values);
    size_t *nl = calloc(n, sizeof *nl);
    size_t *vl = calloc(n, sizeof *vl);
    char clen[32];
    struct httpSigRequest sr;
    int rv = -1;

    if (names == NULL || values == NULL || nl == NULL || vl == NULL) {
        *code = "InternalError";
        snprintf(errmsg, len, "out of memory");
        goto done;
    }
    /* h2o keeps Host and Content-Length apart from the other headers. */
    names[k] = "host";
    nl[k] = 4;
    values[k] = req->input.authority.base != NULL ? req->input.authority.base : "";
    vl[k++] = req->input.authority.len;
    if (req->entity.base != NULL) {
        snprintf(clen, sizeof clen, "%zu", req->entity.len);
        names[k] = "content-length";
        nl[k] = 14;
        values[k] = clen;
        vl[k++] = strlen(clen);
    }
    for (i = 0; i < req->headers.size; i++) {
        names[k] = req->headers.entries[i].name->base;
        nl[k] = req->headers.entries[i].name->len;
        values[k] = req->headers.entries[i].value.base;
        vl[k++] = req->headers.entries[i].value.len;
    }
    memset(&sr, 0, sizeof sr);
    sr.method = req->method.base;
    sr.method_len = req->method.len;
    sr.path = req->path.base;
    sr.path_len = req->path.len;
    sr.names = names;
    sr.name_lens = nl;
    sr.values = values;
    sr.value_lens = vl;
    sr.n_headers = k;
    sr.body = req->entity.base;
    sr.body_len = req->entity.base != NULL ? req->entity.len : 0;
    rv = httpSigv4Verify(&sr, &h->keys, "sqs", h->server->config->region, (int64_t)time(NULL),
                         account, code, errmsg, len);
done:
    free(names);
    free(values);
    free(nl);
    free(vl);
    return rv;
}

/* The socket of @req's connection, for the long-poll sweep. */
static int socketOf(h2o_req_t *req)
{
    h2o_socket_t *sock;

    if (req->conn->callbacks->get_socket == NULL) {
        return -1;
    }
    sock = req->conn->callbacks->get_socket(req->conn);
    return sock != NULL ? h2o_socket_get_fd(sock) : -1;
}

static bool hasPrefix(const h2o_iovec_t *v, const char *p)
{
    size_t n = strlen(p);
    return v != NULL && v->len >= n && strncasecmp(v->base, p, n) == 0;
}

/* Decode the request's protocol, action and parameters. */
static int decode(h2o_req_t *req, bool is_json, const struct httpAction **action,
                  json_t **params, const char **code, char *errmsg, size_t len)
{
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    size_t body_len = req->entity.base != NULL ? req->entity.len : 0;

    if (is_json) {
        const h2o_iovec_t *target = header(req, "x-amz-target");
        json_error_t jerr;

        if (target == NULL || !hasPrefix(target, "AmazonSQS.") ||
            (*action = httpActionByName(target->base + 10, target->len - 10)) == NULL) {
            *code = "UnknownOperationException";
            snprintf(errmsg, len, "The target %.*s is not an operation of AmazonSQS.",
                     target != NULL ? (int)(target->len > 100 ? 100 : target->len) : 4,
                     target != NULL ? target->base : "none");
            return -1;
        }
        *params = body_len == 0 ? json_object() : json_loadb(body, body_len, JSON_ALLOW_NUL, &jerr);
        if (*params == NULL || !json_is_object(*params)) {
            json_decref(*params);
            *params = NULL;
            *code = "SerializationException";
            snprintf(errmsg, len, "The body is not a JSON object%s%s.",
                     body_len > 0 ? ": " : "", body_len > 0 ? jerr.text : "");
            return -1;
        }
        return 0;
    } else {
        json_t *form = NULL;
        json_t *act;
        int rv;

        if (req->entity.base == NULL) {
            /* GET with the query string as the form. */
            const char *q = memchr(req->path.base, '?', req->path.len);
            body = q != NULL ? q + 1 : "";
            body_len = q != NULL ? req->path.len - (size_t)(q + 1 - req->path.base) : 0;
        }
        if (httpFormDecode(body, body_len, &form, code, errmsg, len) != 0) {
            return -1;
        }
        act = json_object_get(form, "Action");
        if (!json_is_string(act)) {
            json_decref(form);
            *code = "MissingAction";
            snprintf(errmsg, len, "The request must contain the parameter Action.");
            return -1;
        }
        *action = httpActionByName(json_string_value(act), json_string_length(act));
        if (*action == NULL) {
            *code = "InvalidAction";
            snprintf(errmsg, len, "The action %.100s is not valid for this endpoint.",
                     json_string_value(act));
            json_decref(form);
            return -1;
        }
        rv = httpQueryParams(form, params, code, errmsg, len);
        json_decref(form);
        return rv;
    }
}

static void sweepCb(uv_timer_t *t);

/* Bytes of the request line's target and headers. */
static size_t headerBytes(h2o_req_t *req)
{
    size_t i, n = req->path.len + req->input.authority.len;

    for (i = 0; i < req->headers.size; i++) {
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    }
    return n;
}

/* A request POSTed to a queue's URL path (/ACCOUNT/NAME) without a
 * QueueUrl parameter addresses that queue. */
static void queueFromPath(h2o_req_t *req, const struct httpAction *a, json_t *params)
{
    const char *p = req->path_normalized.base;
    size_t n = req->path_normalized.len;
    const char *slash;

    if (!a->needs_url || json_object_get(params, "QueueUrl") != NULL || n < 4 || p[0] != '/') {
        return;
    }
    slash = memchr(p + 1, '/', n - 1);
    if (slash == NULL || slash == p + 1 || slash + 1 == p + n ||
        memchr(slash + 1, '/', (size_t)(p + n - slash - 1)) != NULL) {
        return;
    }
    json_object_set_new(params, "QueueUrl", json_stringn(p, n));
}

static void serveSqs(struct http *h, h2o_req_t *req, uint64_t started)
{
    const h2o_iovec_t *ctype = header(req, "content-type");
    bool is_json = header(req, "x-amz-target") != NULL ||
                   hasPrefix(ctype, "application/x-amz-json");
    int proto = is_json ? HTTP_PROTO_JSON : HTTP_PROTO_QUERY;
    const struct httpAction *action = NULL;
    struct httpRequest *r = NULL;
    json_t *params = NULL;
    const char *code;
    char errmsg[512];
    char account[13] = "000000000000";
    char rid[37];
    const json_t *wait;

    requestId(rid);
    if (headerBytes(req) > HTTP_HEADERS_MAX) {
        snprintf(errmsg, sizeof errmsg, "The request's headers are above the limit of %zu bytes.",
                 HTTP_HEADERS_MAX);
        sendError(h, req, proto, NULL, "RequestHeaderFieldsTooLarge", errmsg, rid, started);
        return;
    }
    if (req->entity.base != NULL && req->entity.len > HTTP_BODY_MAX) {
        snprintf(errmsg, sizeof errmsg, "The request body of %zu bytes is above the limit of %zu.",
                 req->entity.len, HTTP_BODY_MAX);
        sendError(h, req, proto, NULL, "RequestEntityTooLarge", errmsg, rid, started);
        return;
    }
    if (!h->auth_none &&
        authenticate(h, req, account, &code, errmsg, sizeof errmsg) != 0) {
        sendError(h, req, proto, NULL, code, errmsg, rid, started);
        return;
    }
    if (decode(req, is_json, &action, &params, &code, errmsg, sizeof errmsg) != 0) {
        sendError(h, req, proto, action, code, errmsg, rid, started);
        return;
    }
    queueFromPath(req, action, params);
    {
        /* Queues are addressed in the caller's account: a QueueUrl or a
         * QueueOwnerAWSAccountId naming another one finds nothing. */
        const json_t *url = json_object_get(params, "QueueUrl");
        const json_t *owner = json_object_get(params, "QueueOwnerAWSAccountId");
        char other[13];
        if ((json_is_string(owner) && strcmp(json_string_value(owner), account) != 0) ||
            (action->needs_url && json_is_string(url) &&
             urlAccount(json_string_value(url), other) && strcmp(other, account) != 0)) {
            sendError(h, req, proto, action, "QueueDoesNotExist",
                      "The specified queue does not exist for this wsdl version.", rid, started);
            json_decref(params);
            return;
        }
    }
    {
        const char *attempt, *queue;
        size_t queue_len;
        json_t *kept;
        if (fifoAttempt(action, params, &attempt, &queue, &queue_len) &&
            (kept = httpAttemptGet(h, account, queue, queue_len, attempt,
                                   uv_now(&h->server->loop))) != NULL) {
            sendResult(h, req, proto, action, kept, rid, started);
            json_decref(kept);
            json_decref(params);
            return;
        }
    }
    if (action->kind == HTTP_ACT_UNSUPPORTED) {
        snprintf(errmsg, sizeof errmsg, "%s is not supported by qraft.", action->name);
        sendError(h, req, proto, action, "UnsupportedOperation", errmsg, rid, started);
        json_decref(params);
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        sendError(h, req, proto, action, "InternalError", "out of memory", rid, started);
        json_decref(params);
        return;
    }
    r->http = h;
    r->req = req;
    r->proto = proto;
    r->action = action;
    r->params = params;
    r->started_ns = started;
    r->fd = -1;
    memcpy(r->request_id, rid, sizeof rid);
    memcpy(r->account, account, sizeof account);
    if (httpArgsBuild(action, params, account, &r->exec.args, &r->exec.args_len, &code, errmsg,
                      sizeof errmsg) != 0) {
        sendError(h, req, proto, action, code, errmsg, rid, started);
        requestFree(r);
        return;
    }
    if (r->exec.args_len + 1024 > h->server->config->max_frame) {
        /* It would not fit in a frame of the cluster's client protocol. */
        snprintf(errmsg, sizeof errmsg,
                 "The request's parameters take %zu bytes, above this cluster's limit (--max-frame "
                 "%zu).",
                 r->exec.args_len, h->server->config->max_frame);
        sendError(h, req, proto, action, "RequestEntityTooLarge", errmsg, rid, started);
        requestFree(r);
        return;
    }
    r->ref = h2o_mem_alloc_shared(&req->pool, sizeof *r->ref, requestDisposeCb);
    *r->ref = r;
    r->exec.fsm_op = action->fsm_op;
    r->exec.done = execDone;
    r->exec.data = r;
    wait = json_object_get(params, "WaitTimeSeconds");
    r->exec.wait_s = action->fsm_op == FSM_OP_RECEIVE_MESSAGE ? FSM_WAIT_MAX_S + 1 : 0;
    (void)wait;
    if (action->fsm_op == FSM_OP_RECEIVE_MESSAGE) {
        r->fd = socketOf(req);
        if (r->fd >= 0 && !uv_is_active((uv_handle_t *)&h->sweep)) {
            uv_timer_start(&h->sweep, sweepCb, HTTP_SWEEP_MS, HTTP_SWEEP_MS);
        }
    }
    r->next = h->pending;
    if (h->pending != NULL) {
        h->pending->prev = r;
    }
    h->pending = r;
    h->n_pending++;
    r->executing = true;
    httpExecStart(h->cluster, &r->exec);
}

static void sweepCb(uv_timer_t *t)
{
    httpSweep(t->data);
}

static void sendText(struct http *h, h2o_req_t *req, int status, const char *type,
                     struct httpBuf *b, uint64_t started)
{
    sendBody(req, status, type, NULL, NULL, NULL, b);
    countResponse(h, NULL, status, started);
}

int httpServe(struct http *h, h2o_req_t *req)
{
    uint64_t started = nowNs();
    const h2o_iovec_t *path = &req->path_normalized;
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    struct httpBuf b;

    httpBufInit(&b);
    if (get && h2o_memis(path->base, path->len, H2O_STRLIT("/health"))) {
        int status = httpHealth(h, &b);
        sendText(h, req, status, "text/plain; charset=utf-8", &b, started);
    } else if (get && h2o_memis(path->base, path->len, H2O_STRLIT("/metrics"))) {
        httpMetrics(h, &b);
        sendText(h, req, b.oom ? 500 : 200, "text/plain; version=0.0.4", &b, started);
    } else if (h->stopping) {
        char rid[37];
        requestId(rid);
        sendError(h, req, HTTP_PROTO_QUERY, NULL, "ServiceUnavailable",
                  "The node is shutting down: retry.", rid, started);
    } else if (get || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        serveSqs(h, req, started);
    } else {
        char rid[37];
        requestId(rid);
        sendError(h, req, HTTP_PROTO_QUERY, NULL, "InvalidAction",
                  "Only POST (and GET with a query string) are served.", rid, started);
    }
    httpBufFree(&b);
    return 0;
}

void httpFailPending(struct http *h, const char *code, const char *message)
{
    while (h->pending != NULL) {
        struct httpRequest *r = h->pending;
        h2o_req_t *req;

        httpExecCancel(&r->exec);
        r->executing = false;
        pendingUnlink(r);
        req = requestDetach(r);
        if (req != NULL) {
            sendError(h, req, r->proto, r->action, code, message, r->request_id,
                      r->started_ns);
        }
        requestFree(r);
    }
}

void httpSweep(struct http *h)
{
    struct httpRequest *r, *next;
    unsigned polls = 0;

    for (r = h->pending; r != NULL; r = next) {
        char c;
        ssize_t n;
        h2o_req_t *req;

        next = r->next;
        if (r->fd < 0) {
            continue;
        }
        polls++;
        n = recv(r->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
            continue;
        }
        /* The client has gone: drop its long poll, then answer, so that
         * h2o reads the end of the stream and frees the connection. */
        httpExecCancel(&r->exec);
        r->executing = false;
        pendingUnlink(r);
        req = requestDetach(r);
        if (req != NULL) {
            sendError(h, req, r->proto, r->action, "ServiceUnavailable",
                      "The client closed the connection.", r->request_id, r->started_ns);
        }
        requestFree(r);
        polls--;
    }
    if (polls == 0) {
        uv_timer_stop(&h->sweep);
    }
}
