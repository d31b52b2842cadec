/* node/http: qraftd's AWS-compatible SQS endpoint, on the node's own loop.
 *
 * One listener (libh2o 2.2.5, HTTP/1.1 keep-alive and pipelining) serves
 * both SQS wire protocols on every path: the query protocol (form-encoded
 * POST, XML replies) and JSON 1.0 (X-Amz-Target: AmazonSQS.<Action>), plus
 * GET /health and GET /metrics. A request travels:
 *
 *   h2o -> SigV4 (sigv4.c) -> decode (query.c or json.c) into SQS's
 *   parameter names (a jansson object) -> args (action.c: msgpack, the
 *   fsm's args) -> exec (exec.c: served here when this node leads, else
 *   forwarded to the leader over the client protocol, forward.c) -> reply
 *   map -> result (action.c: jansson, SQS's element names) -> XML (xml.c)
 *   or JSON.
 *
 * The first section is what the rest of qraftd calls; the rest is shared
 * by the files of node/http and by its unit tests (tests/unit/test_http_*),
 * which link the pure parts (form, xml, action mapping, errors, md5,
 * sigv4) without a server.
 */
#ifndef QRAFT_NODE_HTTP_H
#define QRAFT_NODE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

/* ---------------------------------------------------------------------- */
/* For the node                                                            */

/* Start the endpoint on s->config->http_addr (nothing when it is empty):
 * load the credentials, listen. Returns 0, or -1 with a sentence in
 * errmsg. */
int httpStart(struct server *s, char *errmsg, size_t errmsg_len);

/* Stop accepting; answer every pending request 503 (shutdown). */
void httpStop(struct server *s);

/* Free what is left, after the loop has run down (h2o's handles). */
void httpDispose(struct server *s);

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */

/* Largest request body served (above: 413, AWS-shaped). A message or a
 * batch is at most 256 KiB, which even percent-encoded stays below this. */
#define HTTP_BODY_MAX ((size_t)1 << 20)
/* Bodies past this are refused by h2o itself (413, plain text). */
#define HTTP_BODY_HARD_MAX ((size_t)2 << 20)
/* Largest header section (names and values) served (above: 431). */
#define HTTP_HEADERS_MAX ((size_t)64 << 10)
/* How often pending long polls' sockets are checked for a closed client. */
#define HTTP_SWEEP_MS 100
/* How long a request may spend finding a leader before 503. */
#define HTTP_LEADER_WAIT_MS 10000
/* Largest index of a flattened list in the query protocol (X.N). */
#define HTTP_LIST_INDEX_MAX 1000
/* Clock skew beyond which a signed request is refused (RequestExpired). */
#define HTTP_SIGV4_SKEW_S (15 * 60)

/* ---------------------------------------------------------------------- */
/* A growable byte buffer                                                  */

struct httpBuf
{
    char *p;
    size_t len;
    size_t cap;
    bool oom; /* an append failed: the content is incomplete */
};

void httpBufInit(struct httpBuf *b);
void httpBufFree(struct httpBuf *b);
void httpBufAdd(struct httpBuf *b, const void *data, size_t len);
void httpBufStr(struct httpBuf *b, const char *s);
void httpBufPrintf(struct httpBuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append @s (@len bytes) escaped for XML text and attribute values:
 * & < > " ' and the control characters SQS allows (\t \n \r) as
 * character references, so that they survive parsing unchanged. */
void httpXmlEscape(struct httpBuf *b, const char *s, size_t len);

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

/* An AWS error: its code under the query protocol (also the one in the
 * x-amzn-query-error header), its JSON __type (without the namespace),
 * the HTTP status, and whether the sender is at fault. */
struct httpError
{
    const char *query_code;
    const char *json_type;
    int status;
    bool sender;
};

/* The AWS error for @name, an fsm or client error name ("QueueDoesNotExist",
 * "NotLeader", ...) or an AWS code used here ("InvalidAction",
 * "SignatureDoesNotMatch", ...). Unknown names: InternalFailure, 500. */
const struct httpError *httpErrorByName(const char *name);

/* Render an error response body for @proto (HTTP_PROTO_*), with its
 * content type; @request_id goes into the query protocol's RequestId. */
void httpErrorBody(int proto, const struct httpError *e, const char *message,
                   const char *request_id, struct httpBuf *out, const char **content_type);

/* ---------------------------------------------------------------------- */
/* Protocols and actions                                                   */

enum { HTTP_PROTO_QUERY = 1, HTTP_PROTO_JSON = 2 };

/* How an action is served. */
enum httpActionKind {
    HTTP_ACT_FSM = 0,      /* one fsm op, args and results mapped */
    HTTP_ACT_GET_URL,      /* GetQueueUrl: a GetQueueAttributes behind */
    HTTP_ACT_UNSUPPORTED   /* known to SQS, not served: UnsupportedOperation */
};

struct httpAction
{
    const char *name;   /* SQS action name */
    unsigned fsm_op;    /* enum fsmOp, for HTTP_ACT_FSM and GET_URL */
    int kind;           /* enum httpActionKind */
    bool needs_url;     /* QueueUrl is required */
    const char *entry;  /* query protocol: element of a Successful entry */
};

/* The action named @name (@len bytes), or NULL. */
const struct httpAction *httpActionByName(const char *name, size_t len);

/* What the mapping needs to know about this node and this request. */
struct httpContext
{
    const char *advertise; /* host:port in QueueUrls */
    const char *region;
    const char *account;   /* 12 digits: the caller's account */
};

/* Query protocol: decode a form body into one JSON object of its keys and
 * percent-decoded values (strings; a key given twice keeps the last).
 * Returns 0, or -1 with the AWS error name in *code ("MalformedQueryString",
 * "InvalidParameterValue" for invalid UTF-8) and a sentence in errmsg. */
int httpFormDecode(const char *body, size_t len, json_t **out, const char **code,
                   char *errmsg, size_t errmsg_len);

/* Query protocol: turn the flat form keys (Action, Version and X-Amz-*
 * dropped) into the action's parameters as the JSON protocol names them:
 * `Attribute.N.Name/Value` -> Attributes map, `Tag.N.Key/Value` -> Tags,
 * `MessageAttribute.N.Name` + `.Value.DataType/StringValue/BinaryValue` ->
 * MessageAttributes, `MessageSystemAttribute.N.*` likewise, `AttributeName.N`
 * -> AttributeNames, `MessageAttributeName.N`, `MessageSystemAttributeName.N`,
 * `TagKey.N` -> TagKeys, `QueueUrl` as is, `<Action>RequestEntry.N.*` ->
 * Entries. Returns 0 or -1 with the AWS error name and a sentence. */
int httpQueryParams(const json_t *form, json_t **params, const char **code,
                    char *errmsg, size_t errmsg_len);

/* The queue name of a QueueUrl (`http://host/ACCOUNT/NAME` or a bare
 * name): a pointer into @url and its length; false if it names none. */
bool httpQueueNameOfUrl(const char *url, const char **name, size_t *len);

/* Build the fsm args (one msgpack map, malloc'd into *args) of @action
 * from @params for the caller's @account: QueueUrl -> QueueName (in the
 * account's namespace, as QueueName and QueueNamePrefix), SourceArn/DestinationArn ->
 * Source/DestinationQueueName, BinaryValue base64 -> bin, every other
 * parameter as it is. Returns 0 or -1 with the AWS error name and a
 * sentence. */
int httpArgsBuild(const struct httpAction *action, const json_t *params, const char *account,
                  void **args, size_t *args_len, const char **code, char *errmsg,
                  size_t errmsg_len);

/* Queue names per account: the queues of account 000000000000 are stored
 * under their names (the native protocol's namespace), every other
 * account's as "ACCOUNT~NAME". The name of a stored one, and its account
 * (12 digits, not NUL-terminated; NULL for 000000000000's). */
const char *httpQueueExternal(const char *stored, const char **account);

/* The result of @action (a JSON object with SQS's names) from the fsm's
 * reply map @reply: names become QueueUrls, bin becomes base64, QueueArns
 * carry @ctx's region and account. On an error reply (ok false), returns
 * -1 with *code pointing into a static string or @codebuf, and the
 * message in errmsg. */
int httpResultBuild(const struct httpAction *action, const struct httpContext *ctx,
                    const json_t *params, const void *reply, size_t reply_len,
                    json_t **result, const char **code, char *codebuf, size_t codebuf_len,
                    char *errmsg, size_t errmsg_len);

/* The query protocol's XML response of @action for @result. */
void httpXmlResult(const struct httpAction *action, const json_t *result,
                   const char *request_id, struct httpBuf *out);

/* MD5OfMessageSystemAttributes (hex) of a MessageSystemAttributes object
 * ({name: {DataType, StringValue | BinaryValue}}), AWS's algorithm (the
 * same as MD5OfMessageAttributes). 0 or -1 (bad shape). */
int httpMd5OfAttributes(const json_t *attrs, char out[33]);

/* ---------------------------------------------------------------------- */
/* SigV4                                                                   */

/* One access key of the credentials file. */
struct httpKey
{
    char id[129];
    char secret[129];
    char account[13];
};

struct httpKeys
{
    struct httpKey *keys;
    size_t n;
};

/* Load --credentials FILE: `ACCESS_KEY_ID SECRET ACCOUNT_ID` per line,
 * blank lines and '#' comments ignored. 0 or -1 with a sentence. */
int httpKeysLoad(const char *path, struct httpKeys *k, char *errmsg, size_t errmsg_len);
void httpKeysFree(struct httpKeys *k);

/* A request as SigV4 sees it. Headers are name/value pairs as received
 * (names in any case). */
struct httpSigRequest
{
    const char *method;
    size_t method_len;
    const char *path; /* with the query string, if any */
    size_t path_len;
    const char *const *names; /* header names */
    const size_t *name_lens;
    const char *const *values;
    const size_t *value_lens;
    size_t n_headers;
    const char *body;
    size_t body_len;
};

/* Verify @r's Authorization header against @keys at @now (seconds since
 * the epoch), for service @service in @region (NULL: any region). Returns
 * 0 with the key's account in
 * @account, or -1 with the AWS error name in *code
 * (MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
 * SignatureDoesNotMatch, RequestExpired) and a sentence in errmsg. */
int httpSigv4Verify(const struct httpSigRequest *r, const struct httpKeys *keys,
                    const char *service, const char *region, int64_t now, char account[13],
                    const char **code, char *errmsg, size_t errmsg_len);

/* The signature (hex) of @r for @secret with the Authorization header's
 * other parts given: the test seam, and what Verify compares. */
int httpSigv4Sign(const struct httpSigRequest *r, const char *secret, const char *amz_date,
                  const char *scope, const char *signed_headers, char out[65]);

/* ---------------------------------------------------------------------- */
/* The endpoint (listener.c, sqs.c, metrics.c)                             */

#include <h2o.h>

/* Latency histogram bounds (seconds) of /metrics, +Inf last. */
#define HTTP_LATENCY_BUCKETS 12
extern const double httpLatencyBounds[HTTP_LATENCY_BUCKETS - 1];

/* Per action counters; index HTTP_ACTIONS_MAX counts requests that named
 * no known action. */
#define HTTP_ACTIONS_MAX 32
struct httpOpStats
{
    uint64_t requests;
    uint64_t errors;
    uint64_t buckets[HTTP_LATENCY_BUCKETS];
    double seconds;
};

/* Index of @a in the action table, for the counters. */
size_t httpActionIndex(const struct httpAction *a);
/* The action at @i, or NULL past the end. */
const struct httpAction *httpActionAt(size_t i);

/* One accepted TCP connection (h2o owns its protocol state). */
struct httpSock
{
    uv_tcp_t tcp;
    struct http *http;
    struct httpSock *prev, *next;
};

struct httpRequest;
struct httpAttempt;

/* FIFO ReceiveMessage's ReceiveRequestAttemptId: a retry with the same id
 * within this time gets the first receive's result again (attempt.c). */
#define HTTP_ATTEMPT_TTL_MS (5u * 60u * 1000u)
/* Results kept at most (the oldest go first). */
#define HTTP_ATTEMPTS_MAX 10000

struct http
{
    struct server *server;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    uv_timer_t sweep;           /* checks that long polls' clients are there */
    struct httpKeys keys;
    bool auth_none;
    struct httpCluster *cluster;
    struct httpSock *socks;     /* open connections */
    unsigned n_socks;
    uint64_t n_accepted;
    struct httpRequest *pending; /* requests waiting for the cluster */
    unsigned n_pending;
    struct httpOpStats ops[HTTP_ACTIONS_MAX + 1];
    uint64_t status_counts[6];  /* responses by status class: 1xx..5xx */
    struct httpAttempt *attempts; /* receive results by attempt id, newest first */
    unsigned n_attempts;
    bool stopping;
};

/* The result kept for @account's receive on @queue with attempt id
 * @attempt (a new reference), or NULL. */
json_t *httpAttemptGet(struct http *h, const char *account, const char *queue, size_t queue_len,
                       const char *attempt, uint64_t now_ms);
/* Keep @result (a reference is taken) for that attempt id. */
void httpAttemptPut(struct http *h, const char *account, const char *queue, size_t queue_len,
                    const char *attempt, json_t *result, uint64_t now_ms);
/* Drop every kept result. */
void httpAttemptsFree(struct http *h);

/* Serve one h2o request (sqs.c): GET /health, GET /metrics, or an SQS
 * call under either protocol. */
int httpServe(struct http *h, h2o_req_t *req);

/* Answer every pending request with @code (shutdown) (sqs.c). */
void httpFailPending(struct http *h, const char *code, const char *message);

/* Drop pending long polls whose client has gone (sqs.c, from the sweep). */
void httpSweep(struct http *h);

/* The /health text and its status (metrics.c). */
int httpHealth(struct http *h, struct httpBuf *out);
/* The /metrics text (metrics.c). */
void httpMetrics(struct http *h, struct httpBuf *out);

#endif /* QRAFT_NODE_HTTP_H */

/* ---------------------------------------------------------------------- */
/* Executing an fsm op anywhere in the cluster (exec.c)                    */

struct conn;
struct httpCluster;
struct httpPeer;
struct httpSession;
struct httpExec;

/* Called once per httpExecStart: @code NULL and @reply the leader's reply
 * map (success or a business error), or @code an AWS error name
 * (ServiceUnavailable: no leader within the deadline; InternalError). */
typedef void (*httpExecDone)(struct httpExec *e, const char *code, const void *reply,
                             size_t reply_len);

/* One operation on its way to the leader. The caller fills op, args,
 * wait_s and done, and keeps the struct alive until done runs or
 * httpExecCancel returns. */
struct httpExec
{
    unsigned fsm_op;
    void *args; /* msgpack map, owned by the caller */
    size_t args_len;
    unsigned wait_s; /* a long poll's longest wait (added to the deadline) */
    httpExecDone done;
    void *data;      /* the caller's */
    /* Private to exec.c: */
    struct httpCluster *cluster;
    struct httpSession *session;
    uint64_t seq;
    uint64_t id;        /* the current attempt's request id */
    uint64_t deadline;  /* loop time (ms) */
    uint64_t retry_at;  /* loop time (ms): when to retry (EXEC_RETRY), when
                           the attempt began (EXEC_REMOTE) */
    int where;          /* EXEC_IDLE, EXEC_LOCAL, EXEC_REMOTE, EXEC_RETRY */
    bool in_dispatch;
    void *local_reply;  /* a reply frame that came during dispatch */
    size_t local_reply_len;
    struct conn *vconn;
    struct httpPeer *peer;
    bool sent;          /* remote: the frame is written */
    unsigned attempts;
    struct httpExec *prev, *next; /* in a peer's list or the retry list */
};

/* Counters for /metrics. */
struct httpClusterStats
{
    uint64_t forwarded;  /* attempts sent to another node */
    uint64_t local;      /* attempts served here */
    uint64_t retries;    /* attempts after the first */
    unsigned sessions;   /* node-owned sessions idle in the pool */
};

int httpClusterInit(struct server *s, struct httpCluster **out);
/* Cancel every operation (their done is not called) and close the
 * forwarding connections. */
void httpClusterClose(struct httpCluster *c);
void httpClusterStatsGet(struct httpCluster *c, struct httpClusterStats *st);

/* Serve @e: here when this node leads, else at the leader (forwarded),
 * retried with the same session sequence through leader changes until
 * HTTP_LEADER_WAIT_MS (+ wait_s) has passed. */
void httpExecStart(struct httpCluster *c, struct httpExec *e);

/* Give up on @e (its HTTP client left): a parked long poll is dropped
 * here or at the leader; done is not called. */
void httpExecCancel(struct httpExec *e);
