/* Private interface between the files of fsm/.
 *
 * Layering inside fsm/:
 * - store.c is the only file that calls mdb_*; everything else sees tables,
 *   byte keys and byte values through the store* functions below.
 * - cmd.c encodes and decodes log entries (no store access).
 * - queue.c and session.c implement the ops and the session rules on top of
 *   the store and write their reply through the fsmReply* helpers;
 *   attrs.c parses queue attributes, queueattrs.c applies them to a queue
 *   record and reports them.
 * - sweep.c removes what DeleteQueue and PurgeQueue left unreachable, in
 *   bounded slices.
 * - snapshot.c serialises and restores every table.
 * - fsm.c glues them: open/close, apply, query, digest.
 *
 * All integers in keys and stored values are big-endian (bePut64/beGet64),
 * so that LMDB's bytewise key order is numeric order, and so that snapshots
 * move between machines of any endianness. */
#ifndef QRAFT_FSM_INTERNAL_H
#define QRAFT_FSM_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"

/* Length of fsm errmsg buffers, as documented for fsmOpen(). */
#define FSM_ERRMSG_LEN 256

#include "store.h"

/* Big-endian helpers. */
void bePut32(uint8_t *p, uint32_t v);
void bePut64(uint8_t *p, uint64_t v);
uint32_t beGet32(const uint8_t *p);
uint64_t beGet64(const uint8_t *p);

/* Meta keys (table STORE_META), with their value lengths. */
#define META_DIGEST "digest"             /* 32 bytes: running SHA-256 */
#define META_LAST_NOW "last_now"         /* 8 bytes: largest now_ms */
#define META_NEXT_QUEUE_ID "next_queue"  /* 8 bytes: next queue id */
#define META_POSITION "position"         /* 12 bytes: raft index, commands
                                            of it applied (fsmSetIndex) */

/* ---- SQS numbers ---- */

#define FSM_RETENTION_MIN_S 60
#define FSM_RETENTION_MAX_S 1209600
#define FSM_RETENTION_DEFAULT_S 345600
#define FSM_DELAY_MAX_S 900
#define FSM_MAXSIZE_MIN 1024
#define FSM_MAX_RECEIVE_COUNT_MAX 1000
#define FSM_TAGS_MAX 50
#define FSM_TAG_KEY_MAX 128
#define FSM_TAG_VALUE_MAX 256
#define FSM_MSG_ATTRS_MAX 10
#define FSM_MSG_ATTR_NAME_MAX 256
#define FSM_MSG_ATTR_TYPE_MAX 256
#define FSM_MSG_ATTR_NAMES_MAX 100 /* MessageAttributeNames of a receive */
#define FSM_BATCH_MAX 10
#define FSM_BATCH_ID_MAX 80
#define FSM_GROUP_MAX 128
#define FSM_DEDUP_MAX 128
#define FSM_LIST_MAX 1000
#define FSM_DEDUPE_WINDOW_MS (5 * 60 * 1000)
#define FSM_TOMBSTONE_MS (60 * 1000)
#define FSM_PURGE_WINDOW_MS (60 * 1000)
#define FSM_REDRIVE_MAX 1024     /* longest RedrivePolicy text we keep */
#define FSM_ALLOW_MAX 2048       /* longest RedriveAllowPolicy text we keep */
#define FSM_TRACE_MAX 1024       /* longest AWSTraceHeader we keep */
#define FSM_ALLOW_SOURCES_MAX 10 /* sourceQueueArns of a byQueue policy */
#define FSM_TICK_BUDGET 10000    /* deletions per tick */
#define FSM_CMD_BUDGET 10000     /* retention deletions per command */
#define FSM_RECEIVE_BUDGET 1000  /* moves/deletions skipped per receive */
#define FSM_SWEEP_KEYS 4096      /* keys a sweep slice removes, default */
#define FSM_SWEEP_BYTES ((uint64_t)64 << 20) /* and key+value bytes */

/* ---- msgpack reader (mp.c) ---- */

/* Kinds of msgpack values. */
enum mpType {
    MP_NIL,
    MP_BOOL,
    MP_UINT,
    MP_INT,
    MP_FLOAT,
    MP_STR,
    MP_BIN,
    MP_ARRAY,
    MP_MAP,
    MP_EXT
};

/* One value read by mpNext(). For a str, bin or ext, ptr/len are its bytes;
 * for an array or map, n is its element (pair) count and ptr/len the bytes
 * of its elements, already checked to be well formed. */
struct mpVal
{
    enum mpType type;
    bool b;          /* MP_BOOL */
    uint64_t u;      /* MP_UINT */
    int64_t i;       /* MP_INT (negative) */
    const uint8_t *ptr;
    size_t len;
    uint32_t n;      /* MP_ARRAY, MP_MAP */
    const uint8_t *raw; /* the whole value, header included */
    size_t raw_len;
};

/* A position in msgpack bytes. */
struct mpReader
{
    const uint8_t *p;
    size_t left;
};

/* Read one complete, well-formed value (nesting at most 32 deep). Never
 * allocates; false on malformed or truncated input. */
bool mpNext(struct mpReader *r, struct mpVal *v);

/* Reader over the elements of array or map @v. */
void mpEnter(const struct mpVal *v, struct mpReader *r);

/* True if @v is a str equal to @s. */
bool mpIs(const struct mpVal *v, const char *s);

/* ---- helpers (util.c) ---- */

/* A byte string in someone else's memory. */
struct fsmStr
{
    const char *p;
    size_t len;
};

/* Lowercase hex of @n bytes into @out (2n chars, then a NUL). */
void utilHex(const uint8_t *in, size_t n, char *out);

/* Parse 2n lowercase or uppercase hex chars into @out; false if not hex. */
bool utilUnhex(const char *in, size_t n, uint8_t *out);

/* MD5 of @len bytes as 32 hex chars + NUL. */
int utilMd5Hex(const void *p, size_t len, char out[33]);

/* MD5 of @len bytes, raw. */
int utilMd5(const void *p, size_t len, uint8_t out[16]);

/* md5.c: the MD5 of each of @n buffers into its @out, eight at a time in
 * AVX2 lanes where md5HasLanes(), else one by one (md5ManyScalar). Never
 * fails. */
struct md5Job
{
    const void *data;
    size_t len;
    uint8_t *out; /* 16 bytes */
};
void md5Many(const struct md5Job *jobs, size_t n);
void md5ManyScalar(const struct md5Job *jobs, size_t n);
bool md5HasLanes(void);

/* SHA-256 for EVP_DigestInit_ex/EVP_Digest, fetched once per process. */
const struct evp_md_st *utilMdSha256(void);

/* SHA-256 of @a then @b. */
int utilSha256(const void *a, size_t alen, const void *b, size_t blen,
               uint8_t out[32]);

/* True if @p is UTF-8 of characters SQS allows in a message (#x9 #xA #xD
 * #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF). *chars gets the count. */
bool utilSqsText(const void *p, size_t len, size_t *chars);

/* Message id of message @seq of queue @qid: UUID text (36 chars + NUL). */
int utilMessageId(uint64_t qid, uint64_t seq, char out[37]);

/* Length of a receipt handle's text. */
#define RECEIPT_TEXT_LEN 48

/* Receipt handle of the receive number @count of message @seq of @qid. */
int utilReceiptMake(uint64_t qid, uint64_t seq, uint32_t count,
                    char out[RECEIPT_TEXT_LEN + 1]);

/* Parse a receipt handle; *ok false if malformed or its check fails. */
int utilReceiptParse(const char *text, size_t len, uint64_t *qid,
                     uint64_t *seq, uint32_t *count, bool *ok);

/* True if @name is a queue name: 1..80 of [A-Za-z0-9_-], or of those
 * followed by ".fifo" (counted in the 80). *fifo tells which. */
bool utilQueueName(const char *name, size_t len, bool *fifo);

/* The queue an ARN (arn:aws:sqs:REGION:ACCOUNT:NAME) or a bare name
 * names, as stored: NAME, or ACCOUNT~NAME for an account other than
 * 000000000000. Into @out (FSM_QUEUE_NAME_MAX bytes); 0 or -1. */
int utilArnQueue(const char *arn, size_t len, char *out, size_t *out_len);

/* ---- queue attributes (attrs.c) ---- */

/* Queue attributes: id, name, whether SetQueueAttributes/CreateQueue may
 * give it, whether it exists only on FIFO queues. */
#define FSM_ATTRS(X)                                                         \
    X(ATTR_VISIBILITY, "VisibilityTimeout", true, false)                     \
    X(ATTR_RETENTION, "MessageRetentionPeriod", true, false)                 \
    X(ATTR_DELAY, "DelaySeconds", true, false)                               \
    X(ATTR_MAXSIZE, "MaximumMessageSize", true, false)                       \
    X(ATTR_WAIT, "ReceiveMessageWaitTimeSeconds", true, false)               \
    X(ATTR_REDRIVE, "RedrivePolicy", true, false)                            \
    X(ATTR_ALLOW, "RedriveAllowPolicy", true, false)                         \
    X(ATTR_FIFO, "FifoQueue", true, true)                                    \
    X(ATTR_CBD, "ContentBasedDeduplication", true, true)                     \
    X(ATTR_SCOPE, "DeduplicationScope", true, true)                          \
    X(ATTR_THROUGHPUT, "FifoThroughputLimit", true, true)                    \
    X(ATTR_ARN, "QueueArn", false, false)                                    \
    X(ATTR_NVISIBLE, "ApproximateNumberOfMessages", false, false)            \
    X(ATTR_NINFLIGHT, "ApproximateNumberOfMessagesNotVisible", false, false) \
    X(ATTR_NDELAYED, "ApproximateNumberOfMessagesDelayed", false, false)     \
    X(ATTR_CREATED, "CreatedTimestamp", false, false)                        \
    X(ATTR_MODIFIED, "LastModifiedTimestamp", false, false)

enum attrId {
#define ATTR__ENUM(CODE, NAME, WRITABLE, FIFO) CODE,
    FSM_ATTRS(ATTR__ENUM)
#undef ATTR__ENUM
    ATTR_COUNT
};

/* Bit of an attribute in masks. */
#define ATTR_BIT(A) (1u << (A))

/* Message system attributes a ReceiveMessage may ask for (AttributeNames,
 * MessageSystemAttributeNames), in the order replies list them. SenderId
 * and AWSTraceHeader are accepted names but never returned: qraft has no
 * authenticated sender, and no request can set a trace header. */
#define FSM_SYSATTRS(X)                                                      \
    X(SYSATTR_SENT, "SentTimestamp")                                         \
    X(SYSATTR_RECEIVE_COUNT, "ApproximateReceiveCount")                      \
    X(SYSATTR_FIRST_RECEIVE, "ApproximateFirstReceiveTimestamp")             \
    X(SYSATTR_SENDER, "SenderId")                                            \
    X(SYSATTR_GROUP, "MessageGroupId")                                       \
    X(SYSATTR_DEDUP, "MessageDeduplicationId")                               \
    X(SYSATTR_SEQNUM, "SequenceNumber")                                      \
    X(SYSATTR_DLQ_SOURCE, "DeadLetterQueueSourceArn")                        \
    X(SYSATTR_TRACE, "AWSTraceHeader")

enum sysAttrId {
#define SYSATTR__ENUM(CODE, NAME) CODE,
    FSM_SYSATTRS(SYSATTR__ENUM)
#undef SYSATTR__ENUM
    SYSATTR_COUNT
};

/* Queue flags (queue record). */
#define QUEUE_F_FIFO 0x01
#define QUEUE_F_CBD 0x02
#define QUEUE_F_SCOPE_GROUP 0x04 /* DeduplicationScope=messageGroup */
#define QUEUE_F_TP_GROUP 0x08    /* FifoThroughputLimit=perMessageGroupId */
#define QUEUE_F_PURGED 0x10      /* purge_ms is set */
#define QUEUE_F_KEYSPACE 0x20    /* record only: mid follows the fixed part */

/* Writable attributes as given in a request (bits of @given). */
struct attrSet
{
    uint32_t given;
    uint32_t vis, retention, delay, maxsize, wait;
    bool fifo, cbd, scope_group, tp_group;
    struct fsmStr redrive; /* the text as given ("" removes the policy) */
    struct fsmStr dlq;     /* the dead-letter queue's name, parsed (in dlq_buf) */
    char dlq_buf[FSM_QUEUE_NAME_MAX];
    uint32_t max_rc;       /* maxReceiveCount, parsed */
    struct fsmStr allow;   /* RedriveAllowPolicy text ("" removes it) */
};

/* An error found while parsing arguments. */
struct argErr
{
    enum fsmError code;
    char msg[256];
};

/* Set @e and return -1. */
int argFail(struct argErr *e, enum fsmError code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse an Attributes map (str -> str) for CreateQueue (@create) or
 * SetQueueAttributes of a queue whose type is @fifo. */
int attrsParse(const struct mpVal *map, bool create, bool fifo,
               struct attrSet *out, struct argErr *e);

/* Attribute id of a name, or -1. */
int attrByName(const char *name, size_t len);

/* Whether a RedriveAllowPolicy @text (as stored; empty: none, which
 * allows all) lets queue @source use its queue as a dead-letter queue. */
bool attrAllowPermits(const char *text, size_t len, const struct fsmStr *source);

/* Name of an attribute. */
const char *attrName(unsigned a);

/* ---- operation arguments (args.c) ---- */

/* One message attribute of a send. */
struct msgAttr
{
    struct fsmStr name;
    struct fsmStr type;
    bool binary;
    struct fsmStr value;
};

/* One message to send (SendMessage, or an entry of SendMessageBatch). */
struct sendEntry
{
    struct fsmStr id; /* batch entry id */
    struct fsmStr body;
    bool has_delay;
    uint32_t delay;
    unsigned nattrs;
    struct msgAttr attrs[FSM_MSG_ATTRS_MAX]; /* sorted by name */
    struct fsmStr group;
    struct fsmStr dedup;
    struct fsmStr trace; /* MessageSystemAttributes AWSTraceHeader, or empty */
    size_t size; /* body + attribute names, types and values */
    struct argErr err; /* a batch entry's own parse error */
};

/* One receipt entry (DeleteMessage[Batch], ChangeMessageVisibility[Batch]). */
struct receiptEntry
{
    struct fsmStr id;
    struct fsmStr receipt;
    uint64_t qid;
    uint64_t seq;
    uint32_t count;
    uint32_t vis;
    struct argErr err;
};

/* The parsed arguments of any op. */
struct args
{
    struct fsmStr name;  /* QueueName (SourceQueueName for move tasks) */
    bool fifo;           /* name ends in .fifo */
    struct attrSet attrs;       /* Create, SetAttributes */
    struct mpVal tags;          /* Create, TagQueue: map; Untag: array */
    bool has_tags;
    struct fsmStr prefix;       /* ListQueues */
    bool has_max;
    uint32_t max;               /* MaxResults, MaxNumberOfMessages */
    uint8_t token[FSM_QUEUE_NAME_MAX]; /* NextToken, decoded */
    size_t token_len;
    bool has_token;
    uint32_t names;             /* GetQueueAttributes: mask */
    uint32_t sysnames;          /* ReceiveMessage: ATTR_BIT(SYSATTR_*) mask
                                   of the system attributes to return */
    bool msgattr_all;           /* ReceiveMessage: every message attribute */
    struct mpVal msgnames;      /* ReceiveMessage: MessageAttributeNames
                                   (names and "prefix.*"), if !msgattr_all
                                   and msgnames.n > 0; validated */
    bool has_vis;
    uint32_t vis;
    bool has_wait;
    uint32_t wait;
    struct fsmStr dest;         /* DestinationQueueName */
    unsigned n;                 /* entries */
    struct sendEntry send[FSM_BATCH_MAX];
    struct receiptEntry rcpt[FSM_BATCH_MAX];
};

/* Parse @cmd's args for its op. 0, or -1 with @e set. */
int argsParse(const struct fsmCommand *cmd, struct args *a, struct argErr *e);

/* Parsing primitives shared by args.c and argsmsg.c. Each returns 0 or -1
 * with @e filled (SQS's code and message). */

/* Find @key in map @map (first occurrence). */
bool argsFind(const struct mpVal *map, const char *key, struct mpVal *out);
/* MissingParameter for @key. */
int argsMissing(struct argErr *e, const char *key);
/* A string parameter; *present tells whether it was there. */
int argsString(const struct mpVal *map, const char *key, bool required,
            struct fsmStr *out, bool *present, struct argErr *e);
/* A number parameter in [lo, hi] (msgpack int or decimal string). */
int argsNum(const struct mpVal *map, const char *key, uint32_t lo,
            uint32_t hi, bool required, uint32_t *out, bool *present,
            struct argErr *e);

/* Message args (argsmsg.c). */

/* One message of SendMessage or of a SendMessageBatch entry. */
int argsSendEntry(const struct mpVal *map, bool fifo, struct sendEntry *m,
                  struct argErr *e);
/* ReceiptHandle (and VisibilityTimeout when @vis) of a delete or
 * visibility change, or of one batch entry. */
int argsReceiptEntry(const struct mpVal *map, bool vis, struct receiptEntry *r,
                     struct argErr *e);
/* The Entries of a batch op: shape errors fail the request, an entry's own
 * errors stay in the entry. */
int argsBatch(const struct mpVal *map, struct args *a, unsigned op, struct argErr *e);
/* ReceiveMessage's system attribute names under @key (AttributeNames or
 * MessageSystemAttributeNames), merged into @a. */
int argsSysAttrNames(const struct mpVal *map, const char *key, struct args *a,
                     struct argErr *e);
/* ReceiveMessage's MessageAttributeNames. */
int argsMsgAttrNames(const struct mpVal *map, struct args *a, struct argErr *e);

/* ---- the state machine ---- */

/* Hints for the node, beside the reply bytes (struct fsmReply). */
struct fsmHint
{
    bool would_wait;
    uint32_t wait_s;
    uint32_t wake;
    bool wake_all;
    uint64_t next_visible_ms;
};

/* Where one delivered message of the current ReceiveMessage lies in
 * f->aux: its map from @start to @end, the body's value from @body to
 * @tail (recvreply.c). */
struct recvSlot
{
    uint64_t seq;   /* the message's sequence in its queue */
    size_t start;   /* its map */
    size_t body;    /* the body's value, after the key "Body" */
    size_t tail;    /* what follows the body's value */
    size_t end;     /* the end of its map */
};

/* The compact stored form of the current ReceiveMessage's reply. */
struct recvStored
{
    bool active;       /* a receive is noting its messages */
    bool ready;        /* @buf holds the form to store instead of the reply */
    uint64_t qid;      /* the queue received from */
    uint32_t n;        /* messages noted */
    struct recvSlot slot[FSM_BATCH_MAX];
    msgpack_sbuffer buf; /* the form, reused */
};

/* The state machine. */
struct fsm
{
    struct store store;           /* LMDB environment */
    uint32_t session_window;      /* max replies kept per client */
    uint64_t session_idle_ms;     /* idle time before a session expires */
    uint32_t inflight_max;        /* in-flight messages per queue */
    uint32_t sweep_keys;          /* keys a sweep slice removes at most */
    bool sweep_pending;           /* the sweep table is not empty (mirrors
                                     it: set by sweepAdd, sweepSlice and
                                     restore) */
    uint8_t digest[32];           /* running digest (mirrors meta) */
    bool meta_dirty;              /* digest/last_now not yet in meta */
    uint64_t last_now;            /* largest now_ms (mirrors meta) */
    uint64_t pos_index;           /* raft entry being applied, 0 if unset
                                     (mirrors meta, see fsmSetIndex) */
    uint32_t pos_cmds;            /* commands of it applied */
    bool durable;                 /* fsmConfig.durable */
    bool stale;                   /* durable store of the last run, not yet
                                     trusted or emptied (fsmFresh) */
    bool failed;                  /* a store failure happened: fail-stop */
    bool oom;                     /* packing the reply ran out of memory */
    msgpack_sbuffer reply;        /* the current reply, reused */
    msgpack_packer pk;            /* packs into reply */
    msgpack_sbuffer aux;          /* side buffer (received messages) */
    msgpack_packer apk;           /* packs into aux */
    struct fsmHint hint;          /* of the current command */
    struct recvStored stored;     /* of the current command, if a receive */
    struct args args;             /* of the current command (large) */
    char errmsg[FSM_ERRMSG_LEN];  /* detail of the last failure */
};

/* Start a success reply: a map of 1 + @nfields entries whose first is
 * "ok": true. The caller packs the @nfields other key/value pairs. */
void fsmReplyOk(struct fsm *f, uint32_t nfields);

/* Replace the reply with {"ok": false, "code": NAME, "message": TEXT}.
 * Returns 0, so that ops can `return fsmReplyError(...)`. */
int fsmReplyError(struct fsm *f, enum fsmError e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replace the reply with a copy of stored reply bytes. */
void fsmReplyRaw(struct fsm *f, const void *data, size_t len);

/* Append raw bytes to the reply. */
void fsmReplyAppend(struct fsm *f, const void *data, size_t len);

/* Pack a NUL-terminated string into @pk. */
void fsmPackStr(msgpack_packer *pk, const char *s);

/* Pack @len bytes as a msgpack str into @pk. */
void fsmPackStrN(msgpack_packer *pk, const void *s, size_t len);

/* Pack "key": "value" (both NUL-terminated). */
void fsmPackKV(msgpack_packer *pk, const char *k, const char *v);

/* Run the op of a command (sessions already checked) and write its reply. */
int fsmExecute(struct fsm *f, const struct fsmCommand *cmd);

/* Apply a mutating command under the session rules of DESIGN.md: run it
 * through fsmExecute() if its sequence is the next one, store its reply,
 * or answer a retry / refusal. */
int sessionApply(struct fsm *f, const struct fsmCommand *cmd);

/* Expire sessions idle for longer than the configured time at @now_ms. */
int sessionExpire(struct fsm *f, uint64_t now_ms);

/* Compact stored form of a ReceiveMessage reply (recvreply.c). */

/* Start noting the messages a receive from queue @qid delivers. */
void recvStoredBegin(struct fsm *f, uint64_t qid);

/* Note message @seq, packed in f->aux at [@start, @end) with its body's
 * value at [@body, @tail). */
void recvStoredAdd(struct fsm *f, uint64_t seq, size_t start, size_t body,
                   size_t tail, size_t end);

/* Once the reply is built: write the form into f->stored.buf and set
 * f->stored.ready, if the receive delivered messages. */
void recvStoredBuild(struct fsm *f);

/* True if stored reply bytes are a compact form. */
bool recvStoredIs(const void *data, size_t len);

/* Write the reply that compact form @data stands for: the original, less
 * the messages that no longer exist. */
int recvStoredRebuild(struct fsm *f, const void *data, size_t len);

/* Read digest, last_now and the position from the meta table of the
 * write transaction into @f's mirrors (zeros if absent). FSM_ECORRUPT on
 * bad lengths; the mirrors change only on success. */
int fsmLoadMeta(struct fsm *f);

/* SHA-256 of @len bytes at @p (snapshot.c). FSM_ENOMEM if OpenSSL fails. */
int snapshotSum(const void *p, size_t len, uint8_t out[32]);

/* A durable store of the last run that no marker vouched for is emptied
 * before its first use (see fsmOpen). */
int fsmFresh(struct fsm *f);

/* ---- queues (queue.c) ---- */

/* A queue record (table queues, key = name). */
struct queueRecord
{
    uint64_t id;           /* never reused */
    uint64_t mid;          /* message keyspace: prefix of its messages'
                              keys (= id until the first purge; from the
                              same counter, never reused) */
    uint64_t created_ms;
    uint64_t modified_ms;
    uint64_t next_seq;     /* sequence of its next message, from 1 */
    uint64_t purge_ms;     /* last purge (QUEUE_F_PURGED) */
    uint64_t n_ready;      /* messages in the ready index */
    uint64_t n_inflight;   /* messages in the inflight index */
    uint32_t vis, retention, delay, maxsize, wait;
    uint32_t max_rc;       /* RedrivePolicy maxReceiveCount, 0: none */
    uint8_t flags;         /* QUEUE_F_* */
    char name[FSM_QUEUE_NAME_MAX];
    size_t name_len;
    char redrive[FSM_REDRIVE_MAX];
    size_t redrive_len;
    char dlq[FSM_QUEUE_NAME_MAX];
    size_t dlq_len;
    uint8_t cursor[1 + FSM_GROUP_MAX]; /* FIFO: last group served */
    size_t cursor_len;
    char allow[FSM_ALLOW_MAX]; /* RedriveAllowPolicy text, or empty */
    size_t allow_len;
};

/* Look a queue up by name. */
int queueGet(struct fsm *f, const char *name, size_t len,
             struct queueRecord *q, bool *found);

/* Write a queue record back. */
int queuePut(struct fsm *f, const struct queueRecord *q);

/* Look up the queue of the current args; reply QueueDoesNotExist and set
 * *found false if missing. */
int queueFind(struct fsm *f, const struct fsmStr *name,
              struct queueRecord *q, bool *found);

/* Ops of queue.c. */
int queueCreate(struct fsm *f, const struct fsmCommand *cmd);
int queueDelete(struct fsm *f, const struct fsmCommand *cmd);
int queueList(struct fsm *f, const struct fsmCommand *cmd);
int queuePurge(struct fsm *f, const struct fsmCommand *cmd);
int queueTag(struct fsm *f, const struct fsmCommand *cmd);
int queueUntag(struct fsm *f, const struct fsmCommand *cmd);
int queueListTags(struct fsm *f, const struct fsmCommand *cmd);
int queueListDlqSources(struct fsm *f, const struct fsmCommand *cmd);

/* Remove expired tombstones (tick). */
int queueTickTombstones(struct fsm *f, uint64_t now_ms);

/* ---- the sweeper (sweep.c) ---- */

/* What a sweep entry removes (bits of its mask). */
#define SWEEP_MESSAGES 0x01 /* a message keyspace: messages, msgstate,
                               ready, inflight, retention, groups */
#define SWEEP_QUEUE 0x02    /* a deleted queue's identity: tags, dedupe */

/* Record that every key with prefix @id(8) in the tables of @mask is dead
 * (merged with an entry already there). */
int sweepAdd(struct fsm *f, uint64_t id, uint8_t mask);

/* *@dead: keys with prefix @id in the tables of @mask are waiting to be
 * swept (unreachable; perhaps half removed: never read them). */
int sweepIsDead(struct fsm *f, uint64_t id, uint8_t mask, bool *dead);

/* Remove dead keys, from the sweep table's first entry on, at most
 * f->sweep_keys keys and FSM_SWEEP_BYTES bytes; entries left empty go.
 * *removed gets the keys removed, *more whether entries are left. */
int sweepSlice(struct fsm *f, uint64_t *removed, bool *more);

/* The op FSM_OP_SWEEP: one slice; replies {"Removed": n, "More": bool}. */
int sweepRun(struct fsm *f, const struct fsmCommand *cmd);

/* Set f->sweep_pending from the table (after a restore). */
int sweepLoad(struct fsm *f);

/* ---- attributes of a queue record (queueattrs.c) ---- */

/* Check a RedrivePolicy of @set for queue @name of type @fifo: the
 * dead-letter queue exists, is another queue, of the same type, and its
 * RedriveAllowPolicy permits @name. *ok false: the error reply is
 * written. */
int queueCheckRedrive(struct fsm *f, const struct fsmStr *name,
                      bool fifo, const struct attrSet *set, bool *ok);

/* Apply the attributes given in @set to @q. */
void queueApplyAttrs(struct queueRecord *q, const struct attrSet *set);

/* The first attribute of @set whose value differs from @q's, or -1. */
int queueAttrsDiffer(const struct queueRecord *q,
                     const struct attrSet *set);

/* Ops of queueattrs.c. */
int queueGetAttributes(struct fsm *f, const struct fsmCommand *cmd);
int queueSetAttributes(struct fsm *f, const struct fsmCommand *cmd);

/* ---- messages (message.c, receive.c, fifo.c, dlq.c) ---- */

/* Message states. */
#define MSG_READY 0    /* in the ready index: visible or delayed */
#define MSG_INFLIGHT 1 /* in the inflight index: received */

/* A message (tables messages and msgstate, key = qid(8) seq(8)),
 * decoded; the pointers refer to the stored value (valid until the next
 * write). */
struct msgRecord
{
    uint64_t sent_ms;
    uint64_t visible_at;    /* msgstate */
    uint64_t first_recv_ms; /* msgstate; 0: never received */
    uint64_t last_recv_ms;  /* msgstate; the latest receive, 0: never */
    uint64_t seqnum;        /* SequenceNumber */
    uint32_t recv_count;    /* msgstate */
    uint8_t state;          /* MSG_*: which index holds it */
    char msgid[FSM_MESSAGE_ID_LEN];
    uint8_t md5body[16];    /* MD5 of the body, computed once at send */
    struct fsmStr src;      /* source queue of a dead-lettered message */
    struct fsmStr group;
    struct fsmStr dedup;
    struct fsmStr attrs;    /* MD5-input encoding, sorted by name */
    struct fsmStr body;
    struct fsmStr trace;    /* AWSTraceHeader, or empty */
};

/* Build a message key / an index key. */
void msgKey(uint64_t qid, uint64_t seq, uint8_t out[16]);
void msgIdxKey(uint64_t qid, uint64_t at, uint64_t seq, uint8_t out[24]);

/* Read message @seq of queue @qid. */
int msgGet(struct fsm *f, uint64_t qid, uint64_t seq, struct msgRecord *m,
           bool *found);

/* Encode @m into a malloc'd buffer. */
int msgEncode(struct fsm *f, const struct msgRecord *m, uint8_t **out,
              size_t *len);

/* Insert a new message @m as @seq of @q (ready at m->visible_at, never
 * received; indexes and counters updated; @q not written back). Reads
 * everything of @m before it writes. */
int msgInsert(struct fsm *f, struct queueRecord *q, uint64_t seq,
              const struct msgRecord *m);

/* The same from a record encoded by msgEncode(), ready at @at. */
int msgInsertEncoded(struct fsm *f, struct queueRecord *q, uint64_t seq,
                     const uint8_t *buf, size_t len, uint64_t at);

/* Remove message @seq of @q, whose record is @m (indexes, counters). */
int msgRemove(struct fsm *f, struct queueRecord *q, uint64_t seq,
              const struct msgRecord *m);

/* Move message @seq of @q (record @m, whose state, visible_at,
 * first_recv_ms, last_recv_ms and recv_count are the current ones) to
 * index @state at @at, with @recv_count, @first_recv_ms and @last_recv_ms;
 * updates @m and the counters. */
int msgSetState(struct fsm *f, struct queueRecord *q, uint64_t seq,
                struct msgRecord *m, uint8_t state, uint64_t at,
                uint32_t recv_count, uint64_t first_recv_ms,
                uint64_t last_recv_ms);

/* Bring @q up to @now: expired in-flight messages back to ready, and up
 * to @budget retention-expired messages removed. */
int msgNormalize(struct fsm *f, struct queueRecord *q, uint64_t now,
                 uint32_t budget, uint32_t *removed);

/* True if @m is past @q's retention at @now. */
bool msgExpired(const struct queueRecord *q, const struct msgRecord *m,
                uint64_t now);

/* Earliest future visible_at of @q's messages (0: none). */
int msgNextVisible(struct fsm *f, const struct queueRecord *q, uint64_t now,
                   uint64_t *at);

/* Counts for GetQueueAttributes at @now (no writes). */
int msgCounts(struct fsm *f, const struct queueRecord *q, uint64_t now,
              uint64_t *visible, uint64_t *inflight, uint64_t *delayed);

/* Pack the MessageAttributes map of an attrs encoding into @pk. */
void msgPackAttrs(msgpack_packer *pk, const struct fsmStr *attrs);

/* Number of attributes in an attrs encoding. */
uint32_t msgAttrCount(const struct fsmStr *attrs);

/* Ops of message.c. */
int msgSend(struct fsm *f, const struct fsmCommand *cmd);
int msgSendBatch(struct fsm *f, const struct fsmCommand *cmd);
int msgDelete(struct fsm *f, const struct fsmCommand *cmd);
int msgDeleteBatch(struct fsm *f, const struct fsmCommand *cmd);
int msgChangeVisibility(struct fsm *f, const struct fsmCommand *cmd);
int msgChangeVisibilityBatch(struct fsm *f, const struct fsmCommand *cmd);

/* ReceiveMessage (receive.c). */
int msgReceive(struct fsm *f, const struct fsmCommand *cmd);

/* Remove retention-expired messages of every queue (tick). */
int msgTickRetention(struct fsm *f, uint64_t now_ms);

/* FIFO (fifo.c). Group index key prefix of message group @g of @qid. */
size_t fifoGroupPrefix(uint64_t qid, const struct fsmStr *g, uint8_t *out);

/* Look a deduplication id up: *found, and if so the original seqnum and
 * message id. */
int fifoDedupeGet(struct fsm *f, const struct queueRecord *q,
                  const struct fsmStr *group, const struct fsmStr *dedup,
                  uint64_t now, bool *found, uint64_t *seqnum,
                  char msgid[FSM_MESSAGE_ID_LEN + 1]);

/* Record a deduplication id for 5 minutes from @now. */
int fifoDedupePut(struct fsm *f, const struct queueRecord *q,
                  const struct fsmStr *group, const struct fsmStr *dedup,
                  uint64_t now, uint64_t seqnum,
                  const char msgid[FSM_MESSAGE_ID_LEN]);

/* Remove expired deduplication entries (tick). */
int fifoTickDedupe(struct fsm *f, uint64_t now_ms);

/* Is the message after @seq in its group (FIFO) visible at @now? */
int fifoGroupHeadVisible(struct fsm *f, const struct queueRecord *q,
                         const struct fsmStr *group, uint64_t now,
                         bool *visible);

/* Receive from a FIFO queue: deliver up to @max messages into f->apk. */
int fifoReceive(struct fsm *f, struct queueRecord *q, uint64_t now,
                uint32_t max, uint32_t vis, uint32_t *n);

/* Deliver message @seq of @q (record @m) or move it to the dead-letter
 * queue; *delivered tells which (receive.c). */
int msgDeliver(struct fsm *f, struct queueRecord *q, uint64_t seq,
               struct msgRecord *m, uint64_t now, uint32_t vis,
               bool *delivered);

/* Move message @seq of @q (record @m) to queue @dst (dlq.c): removed from
 * @q, appended to @dst with a new sequence, receive count 0, visible at
 * @now; @src_name is recorded as its source (NULL: keep). */
int dlqMove(struct fsm *f, struct queueRecord *q, uint64_t seq,
            const struct msgRecord *m, struct queueRecord *dst,
            const struct fsmStr *src_name, uint64_t now);

/* StartMessageMoveTask (dlq.c). */
int dlqStartMoveTask(struct fsm *f, const struct fsmCommand *cmd);

/* True if some queue's RedrivePolicy names @name. */
int dlqIsTarget(struct fsm *f, const char *name, size_t len, bool *yes);

#endif /* QRAFT_FSM_INTERNAL_H */
