/* libqraft: the C client library of qraft, and its wire codec.
 *
 * A client holds one TCP connection to the cluster's leader, found from a
 * list of servers by following NotLeader replies. Every call that changes
 * state carries the client's session (a random client id, a sequence number
 * and an acknowledged mark), so that the library can resend it after a
 * timeout or a leader change and the cluster applies it exactly once.
 *
 * Blocking calls (qraft_send, ...) wait for their reply or their deadline.
 * Pipelining: qraft_send_async() queues a send and returns at once; up to
 * `window` requests are in flight; qraft_wait() drives the connection until
 * every queued request has completed, calling each callback exactly once.
 *
 * Outcomes. QRAFT_OK: applied. An error from the cluster (QRAFT_EQUEUE_...):
 * applied as a refusal, nothing changed. QRAFT_ETIMEDOUT: the deadline passed
 * before a reply; the request stays in the session and is still resent (in
 * order) by later calls, so it may yet take effect exactly once: its outcome
 * is unknown to the caller. Transport failures and leader changes are retried
 * inside the deadline and never surface on their own.
 * QRAFT_EUNAVAILABLE: the request was never sent (no server reachable before
 * the deadline); it is not in the session, nothing happened.
 *
 * Why a timed-out request stays: the cluster applies a session's requests
 * in seq order with no gaps, so a later request can only be applied after
 * every earlier seq. The library therefore resends timed-out requests (same
 * seq) ahead of new ones, drops their replies, and holds the ack mark below
 * them until they are answered. Timing out a request that was in flight
 * also drops the connection (the server may be a partitioned leader); the
 * next call connects to the next server.
 *
 * Retries, exactly:
 * - connection refused, reset, closed, hello failed: next server of the
 *   list after a backoff (50 ms, then 100 ms, back to 0 once a
 *   request completes); every pending request is resent in seq order;
 * - NotLeader: to the `leader` address of the reply at once (if it is not
 *   empty; after more hops than servers without progress, with the
 *   backoff), else as a connection failure;
 * - Unavailable, TooManyInFlight: that request again after 50, then every
 *   100 ms; later requests of the session wait behind it;
 * - UnknownOutcome: that request again at once, same seq;
 * - OutOfOrder: every pending request from the first unanswered, in order;
 * - SessionExpired to a request's first attempt: a new session (new client
 *   id, pending requests renumbered from seq 1; those whose caller already
 *   timed out are dropped), then resent; to a later attempt: the request
 *   fails with QRAFT_ESESSION_EXPIRED (its outcome is unknown).
 * Each attempt carries a fresh frame id. Retryable errors count only for a
 * request's latest attempt; a final reply to any attempt completes it.
 *
 * Errors from the cluster fill qraft_errmsg() with "Code: message".
 *
 * Thread safety: a client is used by one thread at a time.
 * Memory: strings passed in are copied or used only during the call;
 * results are owned by the caller and freed with the matching qraft_*_free.
 */
#ifndef QRAFT_H
#define QRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define QRAFT_API __attribute__((visibility("default")))
#else
#define QRAFT_API
#endif

#define QRAFT_PROTOCOL_VERSION 1

/* Error codes: code, wire name, text. The wire name is what a reply's
 * "code" field holds (AWS names where one fits). */
#define QRAFT_ERRORS(X)                                                       \
    X(QRAFT_OK, "OK", "success")                                              \
    X(QRAFT_ENOMEM, "NoMemory", "out of memory")                              \
    X(QRAFT_EINVAL, "InvalidArgument", "invalid argument to a library call")  \
    X(QRAFT_EUNAVAILABLE, "Unavailable", "no server reachable or no leader")  \
    X(QRAFT_ETIMEDOUT, "Timeout", "deadline passed, outcome unknown")         \
    X(QRAFT_EPROTO, "ProtocolError", "malformed reply from the server")       \
    X(QRAFT_ENOTLEADER, "NotLeader", "the server is not the leader")          \
    X(QRAFT_EUNKNOWN_OUTCOME, "UnknownOutcome",                               \
      "leadership lost while the request was in flight")                      \
    X(QRAFT_EOUT_OF_ORDER, "OutOfOrder",                                      \
      "an earlier request of this session was lost")                          \
    X(QRAFT_ESESSION_EXPIRED, "SessionExpired",                               \
      "the session no longer holds this request's reply")                     \
    X(QRAFT_ETOO_MANY_IN_FLIGHT, "TooManyInFlight",                           \
      "more requests in flight than the session window")                      \
    X(QRAFT_EMALFORMED, "MalformedRequest", "the request was malformed")      \
    X(QRAFT_EUNKNOWN_OP, "UnknownOperation", "unknown operation")             \
    X(QRAFT_EFRAME_TOO_LARGE, "FrameTooLarge", "frame above the maximum")     \
    X(QRAFT_EINTERNAL, "InternalError", "internal error on the server")       \
    X(QRAFT_EINVALID_COMMAND, "InvalidCommand", "log entry does not decode")  \
    X(QRAFT_EINVALID_PARAMETER, "InvalidParameterValue",                      \
      "a parameter is out of range or malformed")                             \
    X(QRAFT_EINVALID_ATTRIBUTE_NAME, "InvalidAttributeName",                  \
      "unknown attribute name")                                               \
    X(QRAFT_EINVALID_ATTRIBUTE_VALUE, "InvalidAttributeValue",                \
      "attribute value out of range or malformed")                            \
    X(QRAFT_EMISSING_PARAMETER, "MissingParameter",                           \
      "a required parameter is missing")                                      \
    X(QRAFT_EQUEUE_DOES_NOT_EXIST, "QueueDoesNotExist",                       \
      "the queue does not exist")                                             \
    X(QRAFT_EQUEUE_ALREADY_EXISTS, "QueueAlreadyExists",                      \
      "a queue of that name exists with other attributes")                    \
    X(QRAFT_EQUEUE_DELETED_RECENTLY, "QueueDeletedRecently",                  \
      "a queue of that name was deleted less than 60 s ago")                  \
    X(QRAFT_EMESSAGE_TOO_LONG, "MessageTooLong",                              \
      "the message is above the queue's maximum size")                        \
    X(QRAFT_EINVALID_MESSAGE_CONTENTS, "InvalidMessageContents",              \
      "the message holds characters SQS does not allow")                      \
    X(QRAFT_ERECEIPT_INVALID, "ReceiptHandleIsInvalid",                       \
      "the receipt handle is malformed or no longer current")                 \
    X(QRAFT_EMESSAGE_NOT_INFLIGHT, "MessageNotInflight",                      \
      "the message is not in flight")                                         \
    X(QRAFT_EOVER_LIMIT, "OverLimit", "a queue limit was reached")            \
    X(QRAFT_EPURGE_IN_PROGRESS, "PurgeQueueInProgress",                       \
      "the queue was purged less than 60 s ago")                              \
    X(QRAFT_EEMPTY_BATCH, "EmptyBatchRequest", "the batch has no entries")    \
    X(QRAFT_ETOO_MANY_ENTRIES, "TooManyEntriesInBatchRequest",                \
      "the batch has more than 10 entries")                                   \
    X(QRAFT_EBATCH_IDS_NOT_DISTINCT, "BatchEntryIdsNotDistinct",              \
      "two batch entries have the same Id")                                   \
    X(QRAFT_EBATCH_TOO_LONG, "BatchRequestTooLong",                           \
      "the batch's messages add up to more than 262,144 bytes")               \
    X(QRAFT_EINVALID_BATCH_ENTRY_ID, "InvalidBatchEntryId",                   \
      "a batch entry Id is malformed")                                        \
    X(QRAFT_ERESOURCE_NOT_FOUND, "ResourceNotFoundException",                 \
      "the resource does not exist")

enum qraft_error {
#define QRAFT__ERROR_ENUM(CODE, NAME, TEXT) CODE,
    QRAFT_ERRORS(QRAFT__ERROR_ENUM)
#undef QRAFT__ERROR_ENUM
        QRAFT_ERROR_COUNT
};

/* "QueueDoesNotExist" for QRAFT_EQUEUE_DOES_NOT_EXIST. */
QRAFT_API const char *qraft_errname(int code);
/* A sentence for the code. */
QRAFT_API const char *qraft_strerror(int code);
/* Code of a wire name; QRAFT_EINTERNAL for a name we do not know. */
QRAFT_API int qraft_errcode(const char *name, size_t len);

/* Limits (SQS's numbers). */
#define QRAFT_QUEUE_NAME_MAX 80
#define QRAFT_BODY_MAX 262144
#define QRAFT_RECEIVE_MAX 10
#define QRAFT_BATCH_MAX 10        /* entries of a batch call */
#define QRAFT_VISIBILITY_MAX 43200
#define QRAFT_WAIT_MAX 20         /* long poll, seconds */
#define QRAFT_MESSAGE_ID_MAX 64   /* buffer size for a message id */
#define QRAFT_RECEIPT_MAX 128     /* buffer size for a receipt handle */
#define QRAFT_MD5_MAX 33          /* buffer size for a hex MD5 */
#define QRAFT_SEQUENCE_MAX 48     /* buffer size for a FIFO sequence number */
#define QRAFT_GROUP_ID_MAX 129    /* buffer size for a group or dedup id */
#define QRAFT_BATCH_ID_MAX 81     /* buffer size for a batch entry Id */
/* Largest frame a server accepts by default: the largest message plus 1 MiB
 * for everything around it. */
#define QRAFT_FRAME_MAX_DEFAULT (QRAFT_BODY_MAX + (1u << 20))

/* ---------------------------------------------------------------------- */
/* Client                                                                  */

typedef struct qraft_client qraft_client;

struct qraft_options
{
    int timeout_ms;  /* per-call deadline; 0: 10000 */
    unsigned window; /* max requests in flight; 0: 1024 */
};

/* Connect to the cluster. @servers is "host:port[,host:port...]" (client
 * addresses of any nodes). Returns 0 and a client, or an error code; on
 * error *out is NULL. Connecting is lazy: the first call finds the leader. */
QRAFT_API int qraft_open(const char *servers,
                         const struct qraft_options *opts,
                         qraft_client **out);

/* Close the connection and free the client. Async requests whose callback
 * has not run yet get it now, with QRAFT_EUNAVAILABLE (they may have been
 * applied). Must not be called from a callback. */
QRAFT_API void qraft_close(qraft_client *c);

/* Detail of the last error on this client (never NULL). */
QRAFT_API const char *qraft_errmsg(const qraft_client *c);

/* Change the per-call deadline. */
QRAFT_API void qraft_set_timeout(qraft_client *c, int timeout_ms);

/* Drive the connection until every queued async request has completed or
 * its deadline passed. Returns 0, or QRAFT_ETIMEDOUT if some timed out. */
QRAFT_API int qraft_wait(qraft_client *c);

/* ---------------------------------------------------------------------- */
/* Results and their memory                                                */
/*                                                                        */
/* Every call returns 0 (QRAFT_OK) or an error code, with "Code: message" */
/* in qraft_errmsg(). Arguments are copied or used only during the call.  */
/* Arrays returned through pointers are malloc'd, owned by the caller and */
/* freed with the matching qraft_*_free (NULL with a count of 0 is fine); */
/* on error they are set to NULL and their count to 0.                    */

/* A name and a string value: a queue attribute (SQS's names, such as
 * "VisibilityTimeout", "FifoQueue", "RedrivePolicy") or a tag. In results
 * both strings belong to the array. */
struct qraft_attr
{
    const char *name;
    const char *value;
};

/* Free an array of attributes or tags returned by the library. */
QRAFT_API void qraft_attrs_free(struct qraft_attr *attrs, size_t n);

/* Free an array of strings returned by the library. */
QRAFT_API void qraft_strings_free(char **names, size_t n);

/* ---------------------------------------------------------------------- */
/* Queues                                                                  */

/* CreateQueue. @attrs (n_attrs) and @tags (n_tags) may be NULL with 0.
 * Creating an existing queue with the same attributes succeeds; with other
 * attributes it fails with QRAFT_EQUEUE_ALREADY_EXISTS. FIFO queues: name
 * ending in ".fifo" and the attribute FifoQueue=true. */
QRAFT_API int qraft_create_queue(qraft_client *c,
                                 const char *name,
                                 const struct qraft_attr *attrs,
                                 size_t n_attrs,
                                 const struct qraft_attr *tags,
                                 size_t n_tags);

/* DeleteQueue: the queue and its messages. */
QRAFT_API int qraft_delete_queue(qraft_client *c, const char *name);

/* ListQueues. @prefix: NULL for all. @max_results: 0 for no paging (every
 * name in one reply), else 1..1000 per page. @next_token: NULL for the
 * first page, else the token of the previous page. On success *names is
 * an array of *n names (free with qraft_strings_free) and, if @next_out is
 * not NULL, *next_out the token of the next page (malloc'd, free() it) or
 * NULL on the last page. */
QRAFT_API int qraft_list_queues(qraft_client *c,
                                const char *prefix,
                                unsigned max_results,
                                const char *next_token,
                                char ***names,
                                size_t *n,
                                char **next_out);

/* GetQueueAttributes. @names (n_names): the attribute names wanted, NULL
 * (or n_names 0) for All. On success *attrs holds *n attributes in the
 * order of the reply; free with qraft_attrs_free. */
QRAFT_API int qraft_get_queue_attributes(qraft_client *c,
                                         const char *queue,
                                         const char *const *names,
                                         size_t n_names,
                                         struct qraft_attr **attrs,
                                         size_t *n);

/* SetQueueAttributes (n at least 1). */
QRAFT_API int qraft_set_queue_attributes(qraft_client *c,
                                         const char *queue,
                                         const struct qraft_attr *attrs,
                                         size_t n);

/* PurgeQueue: delete every message of the queue. */
QRAFT_API int qraft_purge_queue(qraft_client *c, const char *queue);

/* TagQueue: add or replace tags (n at least 1). */
QRAFT_API int qraft_tag_queue(qraft_client *c,
                              const char *queue,
                              const struct qraft_attr *tags,
                              size_t n);

/* UntagQueue: remove the tags of these keys (n at least 1). */
QRAFT_API int qraft_untag_queue(qraft_client *c,
                                const char *queue,
                                const char *const *keys,
                                size_t n);

/* ListQueueTags. *tags: free with qraft_attrs_free. */
QRAFT_API int qraft_list_queue_tags(qraft_client *c,
                                    const char *queue,
                                    struct qraft_attr **tags,
                                    size_t *n);

/* ListDeadLetterSourceQueues: the queues whose RedrivePolicy names @dlq.
 * Paging and results as qraft_list_queues. */
QRAFT_API int qraft_list_dead_letter_source_queues(qraft_client *c,
                                                   const char *dlq,
                                                   unsigned max_results,
                                                   const char *next_token,
                                                   char ***names,
                                                   size_t *n,
                                                   char **next_out);

/* StartMessageMoveTask: move the messages of dead-letter queue @dlq to
 * @dest, or (NULL) back to each message's source queue. The move is done
 * in one command: *moved (may be NULL) is the number of messages moved. */
QRAFT_API int qraft_start_message_move_task(qraft_client *c,
                                            const char *dlq,
                                            const char *dest,
                                            uint64_t *moved);

/* ---------------------------------------------------------------------- */
/* Sending                                                                 */

/* A message attribute. @type is "String", "Number" or "Binary", optionally
 * with a custom suffix ("Number.float"); Binary values are sent as bytes,
 * the others as strings. @value holds @len bytes. In received messages
 * every pointer belongs to the message array, and String/Number values
 * are NUL-terminated (the NUL not counted in len). */
struct qraft_message_attr
{
    const char *name;
    const char *type;
    const void *value;
    size_t len;
};

/* Optional parameters of a send. */
struct qraft_send_params
{
    int delay_s;          /* DelaySeconds 0..900; -1: the queue's default */
    const char *group_id; /* MessageGroupId (FIFO, required there) or NULL */
    const char *dedup_id; /* MessageDeduplicationId (FIFO) or NULL */
    const struct qraft_message_attr *attrs; /* MessageAttributes, or NULL */
    size_t n_attrs;                         /* entries in attrs (0..10) */
};

/* Parameters that say nothing: the queue's defaults. */
#define QRAFT_SEND_PARAMS_INIT {-1, NULL, NULL, NULL, 0}

/* What a successful send returns. Strings are NUL-terminated; empty when
 * the reply had none (md5_attrs without attributes, sequence_number on a
 * standard queue). */
struct qraft_send_result
{
    char message_id[QRAFT_MESSAGE_ID_MAX];
    char md5_body[QRAFT_MD5_MAX];  /* hex MD5 of the body */
    char md5_attrs[QRAFT_MD5_MAX]; /* hex MD5 of the message attributes */
    char sequence_number[QRAFT_SEQUENCE_MAX]; /* FIFO */
};

/* SendMessage. @body: @len bytes of UTF-8 (characters SQS allows).
 * @params may be NULL (QRAFT_SEND_PARAMS_INIT). @result may be NULL. */
QRAFT_API int qraft_send(qraft_client *c,
                         const char *queue,
                         const void *body,
                         size_t len,
                         const struct qraft_send_params *params,
                         struct qraft_send_result *result);

/* Pipelined SendMessage: queued at once, completed by a later qraft_wait()
 * (or by a later blocking call) with the callback, exactly once. @body and
 * @params are copied. @result in the callback is valid only during the
 * callback, and NULL unless @status is QRAFT_OK. A request that reaches
 * its deadline (timeout_ms from this call) gets QRAFT_ETIMEDOUT and stays
 * in the session (see above). Returns 0, or an error (and then the
 * callback is never called). Callbacks run inside qraft_wait() and the
 * blocking calls; they may call qraft_send_async() but no blocking call,
 * qraft_wait() or qraft_close(). */
typedef void (*qraft_send_cb)(void *arg,
                              int status,
                              const struct qraft_send_result *result);
QRAFT_API int qraft_send_async(qraft_client *c,
                               const char *queue,
                               const void *body,
                               size_t len,
                               const struct qraft_send_params *params,
                               qraft_send_cb cb,
                               void *arg);

/* Outcome of one entry of a batch call. */
struct qraft_batch_result
{
    char id[QRAFT_BATCH_ID_MAX]; /* the entry's Id */
    int status;        /* QRAFT_OK, or the entry's error (its Code) */
    bool sender_fault; /* SenderFault of a failed entry */
    char message[256]; /* "Code: message" of a failed entry, else "" */
    /* SendMessageBatch only, when status is QRAFT_OK: */
    char message_id[QRAFT_MESSAGE_ID_MAX];
    char md5_body[QRAFT_MD5_MAX];
    char md5_attrs[QRAFT_MD5_MAX];
    char sequence_number[QRAFT_SEQUENCE_MAX];
};

/* One message of a SendMessageBatch. @id: the entry's Id (1-80 of
 * [A-Za-z0-9_-], distinct), or NULL for its index in decimal. @params may
 * be NULL. */
struct qraft_send_entry
{
    const char *id;
    const void *body;
    size_t len;
    const struct qraft_send_params *params;
};

/* SendMessageBatch of @n (1..10) entries, in one command. Returns an error
 * when the whole request failed (EmptyBatchRequest, BatchRequestTooLong,
 * ...: then no entry took effect, and only results[i].id is set); QRAFT_OK
 * otherwise, with results[i] (the caller's array of @n) telling entry i's
 * outcome: some may succeed and others fail. */
QRAFT_API int qraft_send_batch(qraft_client *c,
                               const char *queue,
                               const struct qraft_send_entry *entries,
                               size_t n,
                               struct qraft_batch_result *results);

/* ---------------------------------------------------------------------- */
/* Receiving                                                               */

/* A received message. Every pointer belongs to the message array. */
struct qraft_message
{
    char id[QRAFT_MESSAGE_ID_MAX];    /* MessageId */
    char receipt[QRAFT_RECEIPT_MAX];  /* ReceiptHandle of this receive */
    void *body;                       /* Body, NUL-terminated (not counted) */
    size_t body_len;
    char md5_body[QRAFT_MD5_MAX];     /* MD5OfBody */
    char md5_attrs[QRAFT_MD5_MAX];    /* MD5OfMessageAttributes, or "" */
    uint32_t receive_count;           /* ApproximateReceiveCount */
    uint64_t sent_ms;                 /* SentTimestamp */
    uint64_t first_receive_ms;        /* ApproximateFirstReceiveTimestamp */
    char group_id[QRAFT_GROUP_ID_MAX];        /* FIFO: MessageGroupId */
    char dedup_id[QRAFT_GROUP_ID_MAX];        /* FIFO: MessageDeduplicationId */
    char sequence_number[QRAFT_SEQUENCE_MAX]; /* FIFO: SequenceNumber */
    struct qraft_message_attr *attrs; /* MessageAttributes */
    size_t n_attrs;
};

/* Parameters of a receive. */
struct qraft_receive_params
{
    unsigned max;     /* MaxNumberOfMessages 1..10 */
    int visibility_s; /* VisibilityTimeout override; -1: the queue's */
    int wait_s;       /* WaitTimeSeconds 0..20; -1: the queue's default */
};

/* One message, the queue's visibility timeout and wait time. */
#define QRAFT_RECEIVE_PARAMS_INIT {1, -1, -1}

/* ReceiveMessage. @params may be NULL (QRAFT_RECEIVE_PARAMS_INIT). On
 * success *msgs is an array of *n messages (possibly 0, and then NULL);
 * free it with qraft_messages_free. A long poll waits at the leader: the
 * call's deadline is at least wait_s + 5 s (25 s when wait_s is -1, as
 * the queue's default may be up to 20 s). */
QRAFT_API int qraft_receive(qraft_client *c,
                            const char *queue,
                            const struct qraft_receive_params *params,
                            struct qraft_message **msgs,
                            size_t *n);

/* Free the messages of a receive, attributes included. */
QRAFT_API void qraft_messages_free(struct qraft_message *msgs, size_t n);

/* DeleteMessage by the receipt handle of its latest receive. Deleting a
 * message that is already gone succeeds, as in SQS. */
QRAFT_API int qraft_delete(qraft_client *c,
                           const char *queue,
                           const char *receipt);

/* One entry of DeleteMessageBatch. @id as in qraft_send_entry. */
struct qraft_delete_entry
{
    const char *id;
    const char *receipt;
};

/* DeleteMessageBatch of @n (1..10) entries; results as qraft_send_batch. */
QRAFT_API int qraft_delete_batch(qraft_client *c,
                                 const char *queue,
                                 const struct qraft_delete_entry *entries,
                                 size_t n,
                                 struct qraft_batch_result *results);

/* Pipelined ReceiveMessage and DeleteMessageBatch, as qraft_send_async:
 * queued at once, completed by a later qraft_wait() (or blocking call)
 * with the callback, exactly once; they may be called from callbacks. The
 * messages (@msgs, @n; NULL and 0 unless @status is QRAFT_OK) and the
 * results (@results, one per entry, in order; NULL unless QRAFT_OK) are
 * valid only during the callback: copy what is kept (receipts, say). A
 * receive's deadline is as qraft_receive's. Returns 0, or an error (and
 * then the callback is never called). A consumer keeps two or three
 * receives in flight this way, as an AMQP consumer's prefetch does. */
typedef void (*qraft_receive_cb)(void *arg,
                                 int status,
                                 const struct qraft_message *msgs,
                                 size_t n);
QRAFT_API int qraft_receive_async(qraft_client *c,
                                  const char *queue,
                                  const struct qraft_receive_params *params,
                                  qraft_receive_cb cb,
                                  void *arg);
typedef void (*qraft_batch_cb)(void *arg,
                               int status,
                               const struct qraft_batch_result *results,
                               size_t n);
QRAFT_API int qraft_delete_batch_async(qraft_client *c,
                                       const char *queue,
                                       const struct qraft_delete_entry *entries,
                                       size_t n,
                                       qraft_batch_cb cb,
                                       void *arg);

/* ChangeMessageVisibility: the message becomes visible again in
 * @visibility_s seconds (0..43,200) from now. */
QRAFT_API int qraft_change_visibility(qraft_client *c,
                                      const char *queue,
                                      const char *receipt,
                                      int visibility_s);

/* One entry of ChangeMessageVisibilityBatch. @id as in qraft_send_entry. */
struct qraft_visibility_entry
{
    const char *id;
    const char *receipt;
    int visibility_s;
};

/* ChangeMessageVisibilityBatch of @n (1..10) entries; results as
 * qraft_send_batch. */
QRAFT_API int qraft_change_visibility_batch(
    qraft_client *c,
    const char *queue,
    const struct qraft_visibility_entry *entries,
    size_t n,
    struct qraft_batch_result *results);

/* ---------------------------------------------------------------------- */
/* Cluster                                                                 */

/* Status of one node, asked of that node alone (no leader needed). */
struct qraft_member
{
    uint64_t id;
    char zone[64];
    char raft_addr[128];
    char client_addr[128];
    char role[16]; /* voter, standby, spare */
};

struct qraft_node_status
{
    uint64_t id;
    char zone[64];
    char role[16];  /* voter, standby, spare */
    char state[16]; /* leader, follower, candidate, unavailable */
    uint64_t term;
    uint64_t last_index;
    uint64_t applied_index;
    uint64_t leader_id; /* 0: none known */
    char digest[40];    /* state digest at applied_index, hex */
    size_t n_members;   /* the node's view of the configuration */
    struct qraft_member members[16];
};

/* Ask the node at @addr ("host:port") for its status, on a connection of
 * its own (hello, then status), within @timeout_ms (0: 10000). On error
 * st->state is "unavailable" and @errmsg holds "Code: detail". At most 16
 * members are kept; strings too long for their field are cut. */
QRAFT_API int qraft_node_status(const char *addr,
                                int timeout_ms,
                                struct qraft_node_status *st,
                                char *errmsg,
                                size_t errmsg_len);

/* ---------------------------------------------------------------------- */
/* Wire codec: no I/O, shared by the library and the node.                */
/*                                                                        */
/* A frame is a 4-byte big-endian length, then that many bytes holding one */
/* msgpack map. See README.md "Protocol" for the keys of each operation.   */

/* Incremental frame reader. Feed it bytes as they arrive; take complete
 * frames out. A declared length above max_frame is an error before any
 * allocation. */
struct qraft_wire_reader
{
    size_t max_frame;
    char *buf;    /* bytes received and not yet consumed */
    size_t len;   /* bytes in buf */
    size_t cap;   /* allocated size of buf */
    size_t start; /* offset of the next frame in buf */
};

QRAFT_API void qraft_wire_reader_init(struct qraft_wire_reader *r,
                                      size_t max_frame);
QRAFT_API void qraft_wire_reader_close(struct qraft_wire_reader *r);
/* Append bytes. QRAFT_ENOMEM on allocation failure. */
QRAFT_API int qraft_wire_reader_feed(struct qraft_wire_reader *r,
                                     const void *data,
                                     size_t len);
/* 1 and a frame payload (valid until the next feed or next call), 0 if no
 * complete frame yet, or QRAFT_EFRAME_TOO_LARGE (the stream is unusable). */
QRAFT_API int qraft_wire_reader_next(struct qraft_wire_reader *r,
                                     const void **payload,
                                     size_t *len);

/* A request, decoded or to encode (README "Protocol"). The op is a name:
 * an SQS action ("SendMessage") or "hello"/"status"; the node looks it up.
 * Strings are not NUL-terminated and point into the frame (decode) or into
 * the caller's memory (encode). */
struct qraft_request
{
    uint64_t id;        /* chosen by the client, echoed in the reply */
    const char *op;     /* operation name */
    size_t op_len;
    uint64_t client_id; /* session: 0 when absent */
    uint64_t seq;
    uint64_t ack;
    uint32_t version;   /* hello: the client's protocol version, 0 absent */
    const void *args;   /* one msgpack map (the op's arguments), or NULL */
    size_t args_len;
};

/* Encode a request as a whole frame (length prefix included) into malloc'd
 * memory owned by the caller. */
QRAFT_API int qraft_wire_encode_request(const struct qraft_request *req,
                                        void **frame,
                                        size_t *len);

/* Decode a frame payload: the envelope only. Strict: one msgpack map with
 * string keys; `id` (uint) and `op` (str) required; `cid`, `seq`, `ack`,
 * `version` uints and `args` a well-formed map when present; a known key
 * twice or bytes after the map refused; unknown keys ignored. Errors are
 * QRAFT_EMALFORMED with a sentence in errmsg (errmsg_len bytes). req->id is
 * set whenever the map had a valid id, so that an error reply can echo it.
 * The node checks the op name, the session and the args (fsmCommandCheck).
 * Allocates nothing; never reads outside [payload, payload + len). */
QRAFT_API int qraft_wire_decode_request(const void *payload,
                                        size_t len,
                                        struct qraft_request *req,
                                        char *errmsg,
                                        size_t errmsg_len);

/* Encode a reply frame: {"id": id} merged with @body, which is one msgpack
 * map such as the state machine's replies ({"ok": ..., ...}) and holds no
 * "id" of its own. "id" comes first. QRAFT_EMALFORMED if @body is not
 * exactly one map. */
QRAFT_API int qraft_wire_encode_reply(uint64_t id,
                                      const void *body,
                                      size_t body_len,
                                      void **frame,
                                      size_t *len);

/* Encode an error reply frame {"id", "ok": false, "code", "message"} and,
 * when @leader is not NULL, "leader" (a client address, for NotLeader). */
QRAFT_API int qraft_wire_encode_error(uint64_t id,
                                      int code,
                                      const char *message,
                                      const char *leader,
                                      void **frame,
                                      size_t *len);

#endif /* QRAFT_H */
