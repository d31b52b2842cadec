/* Private declarations of libqraft, shared by its files. Nothing here is exported (the library is built with
 * hidden visibility); the public contract is qraft.h.
 *
 * Layers, bottom up:
 * - mpread.c: msgpack reading (wireCursor, no allocation, strings point
 *   into the input); wire.c: the public frame codec.
 * - net.c: the monotonic clock, "host:port" parsing, dialing with a
 *   deadline, whole-frame writes and reads on a blocking-style socket.
 * - conn.c: one connection (dial, hello, output buffer, backoff);
 * - client.c: the session engine (pending list, resend rules, the I/O
 *   loop, deadlines).
 * - args.c: building the args maps of requests (SQS parameter names).
 * - ops.c: reply parsing helpers, common checks, node status;
 *   queue.c, message.c, batch.c: one public call per operation.
 */
#ifndef QRAFT_CLIENT_INTERNAL_H
#define QRAFT_CLIENT_INTERNAL_H

#include "client/qraft.h"

#include <msgpack.h>
#include <stdarg.h>

/* ---------------------------------------------------------------------- */
/* msgpack reading (wire.c)                                                */

/* Types of a msgpack value as wireNext() reports them. Integers that are
 * not negative are WIRE_UINT whatever their encoding. */
enum wireType {
    WIRE_NIL = 1,
    WIRE_BOOL,
    WIRE_UINT,
    WIRE_INT, /* negative */
    WIRE_FLOAT,
    WIRE_STR,
    WIRE_BIN,
    WIRE_ARRAY,
    WIRE_MAP,
    WIRE_EXT
};

/* A read position in msgpack bytes. */
struct wireCursor
{
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* one past the last byte */
};

/* One value header. For str, bin and ext, ptr/len are the bytes (pointing
 * into the input); for array and map, len is the count of elements (pairs
 * for a map), and the elements follow in the input. */
struct wireValue
{
    int type;        /* enum wireType */
    bool b;          /* WIRE_BOOL */
    uint64_t u;      /* WIRE_UINT */
    int64_t i;       /* WIRE_INT */
    const char *ptr; /* WIRE_STR, WIRE_BIN, WIRE_EXT */
    size_t len;      /* bytes, or elements of an array or map */
};

/* Point @cur at @len bytes. */
void wireCursorInit(struct wireCursor *cur, const void *data, size_t len);

/* Read one value header. Returns 0, or -1 if the bytes are truncated or not
 * msgpack (a declared length beyond the input, or a container declaring
 * more elements than bytes left, counts as truncated). */
int wireNext(struct wireCursor *cur, struct wireValue *v);

/* Skip one whole value, containers included, without recursion. Returns 0
 * or -1 as wireNext(). */
int wireSkip(struct wireCursor *cur);

/* Skip the elements of a container whose header @v was just read. */
int wireSkipElements(struct wireCursor *cur, const struct wireValue *v);

/* True if @v is a string equal to the NUL-terminated @s. */
bool wireStrEq(const struct wireValue *v, const char *s);

/* Copy a str or bin value into @dst (size @cap) with a NUL. Returns 0, or
 * -1 if it is not a string or does not fit. */
int wireStrCopy(const struct wireValue *v, char *dst, size_t cap);

/* snprintf into @buf unless @buf is NULL or @len is 0. */
void wireErrf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------- */
/* Network (net.c)                                                         */

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t netNow(void);

/* Deadline value meaning "never". */
#define NET_NEVER INT64_MAX

/* A server address: "host:port" split, "[v6]:port" accepted. */
struct netAddr
{
    char host[256];
    char port[8];
    char text[272]; /* as given, for messages */
};

/* Parse one "host:port". Returns 0 or QRAFT_EINVAL. */
int netAddrParse(const char *s, size_t len, struct netAddr *a);

/* Parse "host:port[,host:port...]" into a malloc'd array. Returns 0 or
 * QRAFT_EINVAL (with a sentence in @err) or QRAFT_ENOMEM. */
int netAddrList(const char *s,
                struct netAddr **out,
                size_t *n,
                char *err,
                size_t errlen);

/* Connect a non-blocking TCP socket to @a, trying each resolved address,
 * until @deadline (monotonic ms). Returns 0 and *fd, or QRAFT_EUNAVAILABLE
 * or QRAFT_ETIMEDOUT with a sentence in @err. */
int netDial(const struct netAddr *a,
            int64_t deadline,
            int *fd,
            char *err,
            size_t errlen);

/* Wait for @events on @fd until @deadline. Returns revents (> 0), 0 at the
 * deadline, or -1 on a poll error. */
int netWait(int fd, short events, int64_t deadline);

/* Sleep until @until (monotonic ms). */
void netSleepUntil(int64_t until);

/* Write all of @data to non-blocking @fd by @deadline. Returns 0,
 * QRAFT_ETIMEDOUT or QRAFT_EUNAVAILABLE (with a sentence in @err). */
int netWriteAll(int fd,
                const void *data,
                size_t len,
                int64_t deadline,
                char *err,
                size_t errlen);

/* Read from @fd into @r until it yields one frame or @deadline. Returns 0
 * and the payload, or QRAFT_ETIMEDOUT, QRAFT_EUNAVAILABLE (EOF, reset),
 * QRAFT_EFRAME_TOO_LARGE, QRAFT_ENOMEM (with a sentence in @err). */
int netReadFrame(int fd,
                 struct qraft_wire_reader *r,
                 int64_t deadline,
                 const void **payload,
                 size_t *len,
                 char *err,
                 size_t errlen);

/* Largest reply frame the library accepts: ten maximum-size messages plus
 * room for everything around them. */
#define NET_REPLY_FRAME_MAX (16u << 20)

/* ---------------------------------------------------------------------- */
/* Session engine (client.c)                                               */

/* Operations the library sends: enum constant, wire name, and whether it
 * carries the session (README "Protocol", column S). The order is the
 * library's own; the wire carries names. */
#define CLIENT_OPS(X)                                                         \
    X(CLIENT_OP_HELLO, "hello", false)                                        \
    X(CLIENT_OP_STATUS, "status", false)                                      \
    X(CLIENT_OP_CREATE_QUEUE, "CreateQueue", true)                            \
    X(CLIENT_OP_DELETE_QUEUE, "DeleteQueue", true)                            \
    X(CLIENT_OP_LIST_QUEUES, "ListQueues", false)                             \
    X(CLIENT_OP_GET_QUEUE_ATTRIBUTES, "GetQueueAttributes", false)            \
    X(CLIENT_OP_SET_QUEUE_ATTRIBUTES, "SetQueueAttributes", true)             \
    X(CLIENT_OP_PURGE_QUEUE, "PurgeQueue", true)                              \
    X(CLIENT_OP_TAG_QUEUE, "TagQueue", true)                                  \
    X(CLIENT_OP_UNTAG_QUEUE, "UntagQueue", true)                              \
    X(CLIENT_OP_LIST_QUEUE_TAGS, "ListQueueTags", false)                      \
    X(CLIENT_OP_LIST_DLQ_SOURCES, "ListDeadLetterSourceQueues", false)        \
    X(CLIENT_OP_SEND_MESSAGE, "SendMessage", true)                            \
    X(CLIENT_OP_SEND_MESSAGE_BATCH, "SendMessageBatch", true)                 \
    X(CLIENT_OP_RECEIVE_MESSAGE, "ReceiveMessage", true)                      \
    X(CLIENT_OP_DELETE_MESSAGE, "DeleteMessage", true)                        \
    X(CLIENT_OP_DELETE_MESSAGE_BATCH, "DeleteMessageBatch", true)             \
    X(CLIENT_OP_CHANGE_VISIBILITY, "ChangeMessageVisibility", true)           \
    X(CLIENT_OP_CHANGE_VISIBILITY_BATCH, "ChangeMessageVisibilityBatch",      \
      true)                                                                   \
    X(CLIENT_OP_START_MOVE_TASK, "StartMessageMoveTask", true)

/* The operations, numbered from 0. */
enum clientOp {
#define CLIENT__OP_ENUM(CODE, NAME, SESSION) CODE,
    CLIENT_OPS(CLIENT__OP_ENUM)
#undef CLIENT__OP_ENUM
        CLIENT_OP_COUNT
};

/* Wire name of @op ("SendMessage"). */
const char *clientOpName(int op);

/* True for the operations that carry the session. */
bool clientOpHasSession(int op);

/* One request of the client, from creation to completion. Session
 * requests sit in the client's pending list in seq order. */
struct clientReq
{
    struct clientReq *prev, *next; /* pending list */
    int op;                        /* enum clientOp */
    uint64_t uid;                  /* unique per client, never reused */
    uint64_t seq;                  /* session sequence; 0: no session */
    uint32_t attempts;             /* frames written so far */
    uint32_t sessionFirst;  /* first attempt under the current seq */
    bool inFlight;          /* current attempt awaits its reply */
    bool abandoned;         /* caller gone: the reply is dropped */
    bool done;              /* completed (blocking: result ready) */
    bool async;             /* a qraft_*_async request */
    qraft_send_cb cb;       /* async send: completion */
    /* Any other async request: completes through @complete, which parses
     * the reply kept in @reply (when @status is QRAFT_OK) and calls the
     * caller's callback @ucb. */
    void (*complete)(struct clientReq *r, int status);
    void (*ucb)(void);
    void *arg;              /* argument of cb / ucb */
    struct qraft_batch_result *results; /* async batches: owned */
    size_t nResults;
    int timeoutMs;          /* this call's deadline; 0: the client's */
    int64_t deadline;       /* monotonic ms */
    int64_t retryAt;        /* not sent before this (backoff) */
    unsigned retries;       /* Unavailable/TooManyInFlight replies */
    void *args;             /* the args map, msgpack (owned), or NULL */
    size_t argsLen;         /* bytes in args */
    /* Outcome. */
    int status;
    char errmsg[256];
    void *reply;            /* copy of the success reply payload */
    size_t replyLen;        /* bytes in reply */
    struct qraft_send_result sent; /* async sends: the parsed reply */
};

/* Frame ids: uid in the high bits, attempt number in the low ones. */
#define CLIENT_ATTEMPT_BITS 24
#define CLIENT_ATTEMPT_MAX ((1u << CLIENT_ATTEMPT_BITS) - 1)

/* Backoff bounds, ms. */
#define CLIENT_BACKOFF_MIN 50
/* A leader change takes an election (1-2 s with the default timeout): retrying
 * every 100 ms finds the new leader soon after it is ready. */
#define CLIENT_BACKOFF_MAX 100

/* Longest a single connect + hello may take before trying the next server. */
#define CLIENT_CONNECT_MS 2000

/* Stop encoding when this many bytes wait to be written. */
#define CLIENT_OUT_BUDGET (4u << 20)

/* Defaults of struct qraft_options. */
#define CLIENT_TIMEOUT_DEFAULT 10000
#define CLIENT_WINDOW_DEFAULT 1024

/* The client: server list, one connection, the session. */
struct qraft_client
{
    struct netAddr *servers;     /* from qraft_open */
    size_t nServers;             /* entries in servers */
    size_t nextServer;           /* next to try */
    struct netAddr hint;         /* leader named by NotLeader */
    bool hasHint;                /* hint is to be tried next */
    char peer[272];              /* address of the connection */
    int fd;                      /* -1: not connected */
    struct qraft_wire_reader rd; /* reply frames */
    char *out;                   /* frames to write */
    size_t outLen;               /* bytes in out */
    size_t outOff;               /* bytes of out written */
    size_t outCap;               /* allocated size of out */
    uint64_t cid;                /* session client id, never 0 */
    uint64_t nextSeq;            /* seq of the next session request */
    uint64_t nextUid;            /* uid of the next request */
    uint64_t helloCount;         /* ids of hello frames (uid 0) */
    struct clientReq *head;      /* pending list, seq order */
    struct clientReq *tail;      /* last of the pending list */
    unsigned inFlight;           /* requests whose attempt awaits a reply */
    unsigned window;             /* max in flight */
    int timeoutMs;               /* per-call deadline */
    int64_t connectAt;           /* no connect attempt before this */
    int backoffMs;               /* last reconnect backoff, 0: none */
    unsigned hops;               /* reconnects since the last progress */
    bool everConnected;          /* some hello succeeded */
    bool running;                /* inside clientRun: no reentry */
    bool asyncTimedOut;          /* an async request timed out */
    char lastErr[256];           /* last transport problem */
    char errmsg[256];            /* detail of the last error */
};

/* Create a request of @op around @args (a msgpack map built by argsEnd,
 * or NULL), whose ownership passes to the request, even on failure.
 * Session operations take the next seq. Returns NULL on allocation
 * failure. */
struct clientReq *clientReqNew(qraft_client *c,
                               int op,
                               void *args,
                               size_t argsLen);

/* Free a request that is in no list. */
void clientReqFree(struct clientReq *r);

/* Queue @r (from clientReqNew) and drive the connection until it completes
 * or the call's deadline passes. Ownership of @r passes to the client: on
 * QRAFT_OK or a server error it is returned in *done for the caller to read
 * and free; otherwise *done is NULL. Returns the outcome. */
int clientCall(qraft_client *c, struct clientReq *r, struct clientReq **done);

/* Queue an async request (the engine owns it from here) and run the I/O
 * once, so that it goes out without waiting for qraft_wait. */
void clientSubmitAsync(qraft_client *c, struct clientReq *r);

/* Run the I/O once without blocking, if connected. */
void clientPump(qraft_client *c);

/* True (with errmsg set) if a blocking call comes from inside a callback,
 * which is not allowed. */
bool clientBusy(qraft_client *c);

/* Connection (conn.c). */

/* A random non-zero 64-bit client id. */
uint64_t clientRandomId(void);

/* Connect to the next server and say hello, by @deadline at the latest.
 * Returns 0, or an error after scheduling the next attempt. */
int clientConnect(qraft_client *c, int64_t deadline);

/* Drop the connection; every pending request will be resent, in order, on
 * the next one, which is scheduled here. @why goes into lastErr. */
void clientDisconnect(qraft_client *c, const char *why);

/* Append @len bytes to the output buffer. */
int clientOut(qraft_client *c, const void *data, size_t len);

/* Write what the socket takes now (drops the connection on error). */
void clientFlush(qraft_client *c);

/* Set the client's errmsg. */
void clientErrf(qraft_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------- */
/* Replies (ops.c)                                                         */

/* Fields common to every reply. */
struct opsReplyHead
{
    bool hasId;
    uint64_t id;
    bool ok;
    int code;             /* QRAFT_OK when ok */
    struct wireValue codeName;
    struct wireValue message;
    struct wireValue leader; /* str, or type 0 if absent */
};

/* Decode the common fields of a reply. Returns 0 or QRAFT_EPROTO. */
int opsReplyHead(const void *payload, size_t len, struct opsReplyHead *h);

/* Keep a successful reply in @r (r->reply), for the call to parse once
 * it returns; an async send's reply is parsed here (r->sent). Returns 0
 * or QRAFT_EPROTO / QRAFT_ENOMEM (with a sentence in r->errmsg). */
int opsParseResult(struct clientReq *r, const void *payload, size_t len);

/* Run @r (from clientReqNew; NULL means it could not be allocated) to
 * completion. On QRAFT_OK, *done (if not NULL) is the completed request,
 * whose reply the caller parses and then frees with clientReqFree;
 * otherwise *done is NULL and the client's errmsg says why. */
int opsRun(qraft_client *c, struct clientReq *r, struct clientReq **done);

/* Checks common to every call: client usable (not inside a callback) and
 * @a, @b not NULL. Returns 0 or QRAFT_EINVAL with errmsg set. */
int opsCheck(qraft_client *c, const void *a, const void *b);

/* Fail with QRAFT_EINVAL and "InvalidArgument: <why>" in errmsg. */
int opsInval(qraft_client *c, const char *why);

/* Fail @r's call with QRAFT_EPROTO after its reply did not parse (the
 * request took effect). Frees @r. */
int opsBadReply(qraft_client *c, struct clientReq *r, const char *what);

/* Find top-level key @key of the reply map in [payload, payload + len):
 * returns 1 with @v its value header and @cur just after it, 0 if absent,
 * -1 if the bytes are not a well-formed map. */
int opsFind(const void *payload,
            size_t len,
            const char *key,
            struct wireCursor *cur,
            struct wireValue *v);

/* Copy a string value (str; a uint is written in decimal) into @dst of
 * @cap bytes. Returns 0, or -1 for another type or a string too long. */
int opsText(const struct wireValue *v, char *dst, size_t cap);

/* malloc'd NUL-terminated copy of a str or bin value, or NULL. */
char *opsDup(const struct wireValue *v);

/* Read the array of strings whose header @v was just read. */
int opsStrings(struct wireCursor *cur,
               const struct wireValue *v,
               char ***out,
               size_t *n);

/* Read the map of strings (values str, or uint written in decimal) whose
 * header @v was just read. */
int opsStrMap(struct wireCursor *cur,
              const struct wireValue *v,
              struct qraft_attr **out,
              size_t *n);

/* Parse SendMessage's results (a reply payload) into @res. Returns 0 or
 * QRAFT_EPROTO (no MessageId, or a field of the wrong type). */
int opsSendResult(const void *payload,
                  size_t len,
                  struct qraft_send_result *res);

/* ---------------------------------------------------------------------- */
/* Building args maps (args.c)                                             */

/* A msgpack map being built, with a sticky error. */
struct argsBuf
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rv; /* 0, or non-zero once a write failed */
};

/* Start a map of @pairs pairs. */
void argsInit(struct argsBuf *a, size_t pairs);

/* Pack a string of @len bytes (no key). */
void argsRawStr(struct argsBuf *a, const char *s, size_t len);

/* Pack the key @key. */
void argsKey(struct argsBuf *a, const char *key);

/* Pack @key and the NUL-terminated string @s. */
void argsStr(struct argsBuf *a, const char *key, const char *s);

/* Pack @key and an unsigned integer. */
void argsUint(struct argsBuf *a, const char *key, uint64_t x);

/* Pack @key and an array of @n strings. */
void argsStrArray(struct argsBuf *a,
                  const char *key,
                  const char *const *v,
                  size_t n);

/* Pack @key and a map of @n name/value strings. */
void argsAttrMap(struct argsBuf *a,
                 const char *key,
                 const struct qraft_attr *v,
                 size_t n);

/* Number of pairs argsSend packs for @p (NULL: none). */
size_t argsSendPairs(const struct qraft_send_params *p);

/* Pack MessageBody and the fields of @p (NULL: none), argsSendPairs() of
 * them in all. */
void argsSend(struct argsBuf *a,
              const void *body,
              size_t len,
              const struct qraft_send_params *p);

/* Check @p (NULL is fine): fields in range, attributes complete. Returns
 * NULL or a sentence. */
const char *argsSendCheck(const struct qraft_send_params *p);

/* Finish: the map's bytes, malloc'd, in *out. Returns 0 or QRAFT_ENOMEM
 * (the buffer is freed either way). */
int argsEnd(struct argsBuf *a, void **out, size_t *len);

#endif /* QRAFT_CLIENT_INTERNAL_H */
