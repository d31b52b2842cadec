/* The replicated state machine of qraft, over LMDB.
 *
 * fsm/ knows nothing about sockets, raft or the time of day: it sees log
 * entries (bytes) that carry a leader-stamped `now_ms`, and it answers each
 * with a reply (bytes). Every node that applies the same entries in the same
 * order reaches byte-identical state; the tests compare snapshots to check it.
 *
 * Threading: every function runs on the node's loop thread, except
 * fsmSnapshotWrite(), which runs in the thread pool while applies go on.
 *
 * Errors: functions return 0 or an FSM_E* code, with detail in the fsm's
 * errmsg. A business outcome (queue missing, body too long, ...) is NOT an
 * error of fsmApply(): it is a reply with ok=false, and fsmApply() returns 0.
 * A non-zero return from fsmApply() means the store failed (disk full, map
 * full, I/O error): the node must stop, since every node would fail alike.
 */
#ifndef QRAFT_FSM_H
#define QRAFT_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes of the fsm functions (not business errors). */
enum {
    FSM_OK = 0,
    FSM_ENOMEM = 1,  /* allocation failed */
    FSM_ESTORE = 2,  /* LMDB failed: fatal for the node */
    FSM_ECORRUPT = 3 /* a snapshot or stored value does not decode */
};

/* Business error names carried in replies ("code"). SQS's names where one
 * fits; the client library maps them to its own enum by name. */
#define FSM_ERRORS(X)                                                        \
    X(FSM_ERR_INVALID_COMMAND, "InvalidCommand")                             \
    X(FSM_ERR_INVALID_PARAMETER, "InvalidParameterValue")                    \
    X(FSM_ERR_INVALID_ATTRIBUTE_NAME, "InvalidAttributeName")                \
    X(FSM_ERR_INVALID_ATTRIBUTE_VALUE, "InvalidAttributeValue")              \
    X(FSM_ERR_MISSING_PARAMETER, "MissingParameter")                         \
    X(FSM_ERR_QUEUE_DOES_NOT_EXIST, "QueueDoesNotExist")                     \
    X(FSM_ERR_QUEUE_ALREADY_EXISTS, "QueueAlreadyExists")                    \
    X(FSM_ERR_QUEUE_DELETED_RECENTLY, "QueueDeletedRecently")                \
    X(FSM_ERR_MESSAGE_TOO_LONG, "MessageTooLong")                            \
    X(FSM_ERR_INVALID_MESSAGE_CONTENTS, "InvalidMessageContents")            \
    X(FSM_ERR_RECEIPT_INVALID, "ReceiptHandleIsInvalid")                     \
    X(FSM_ERR_MESSAGE_NOT_INFLIGHT, "MessageNotInflight")                    \
    X(FSM_ERR_OVER_LIMIT, "OverLimit")                                       \
    X(FSM_ERR_PURGE_IN_PROGRESS, "PurgeQueueInProgress")                     \
    X(FSM_ERR_EMPTY_BATCH, "EmptyBatchRequest")                              \
    X(FSM_ERR_TOO_MANY_ENTRIES, "TooManyEntriesInBatchRequest")              \
    X(FSM_ERR_BATCH_IDS_NOT_DISTINCT, "BatchEntryIdsNotDistinct")            \
    X(FSM_ERR_BATCH_TOO_LONG, "BatchRequestTooLong")                         \
    X(FSM_ERR_INVALID_BATCH_ENTRY_ID, "InvalidBatchEntryId")                 \
    X(FSM_ERR_RESOURCE_NOT_FOUND, "ResourceNotFoundException")               \
    X(FSM_ERR_OUT_OF_ORDER, "OutOfOrder")                                    \
    X(FSM_ERR_SESSION_EXPIRED, "SessionExpired")                             \
    X(FSM_ERR_TOO_MANY_IN_FLIGHT, "TooManyInFlight")                         \
    X(FSM_ERR_WOULD_WAIT, "WouldWait")

enum fsmError {
    FSM_ERR_NONE = 0,
#define FSM__ERROR_ENUM(CODE, NAME) CODE,
    FSM_ERRORS(FSM__ERROR_ENUM)
#undef FSM__ERROR_ENUM
};

/* Name of a business error, e.g. "QueueDoesNotExist". */
const char *fsmErrorName(enum fsmError e);

/* Limits and defaults (SQS's numbers). */
/* A queue's name: up to FSM_QUEUE_BARE_MAX characters, optionally after
 * an account's namespace prefix "NNNNNNNNNNNN~" (12 digits and '~': queues
 * of an AWS account other than 000000000000, see node/http). */
#define FSM_QUEUE_BARE_MAX 80
#define FSM_QUEUE_NAME_MAX (13 + FSM_QUEUE_BARE_MAX)
#define FSM_BODY_MAX 262144
#define FSM_RECEIVE_MAX 10
#define FSM_VISIBILITY_DEFAULT_S 30
#define FSM_VISIBILITY_MAX_S 43200
#define FSM_WAIT_MAX_S 20
#define FSM_RECEIPT_MAX 128   /* longest receipt handle we emit, in chars */
#define FSM_MESSAGE_ID_LEN 36 /* UUID text form */

/* Operations of the state machine: wire and log name (SQS's action names),
 * value in the log format, whether it changes state (and so carries a
 * session), whether it is answered by fsmQuery after a barrier. Values are
 * part of the log format: append only once a release exists. */
#define FSM_OPS(X)                                                              \
    X(FSM_OP_CREATE_QUEUE, 1, "CreateQueue", true)                              \
    X(FSM_OP_DELETE_QUEUE, 2, "DeleteQueue", true)                              \
    X(FSM_OP_LIST_QUEUES, 3, "ListQueues", false)                               \
    X(FSM_OP_GET_QUEUE_ATTRIBUTES, 4, "GetQueueAttributes", false)              \
    X(FSM_OP_SET_QUEUE_ATTRIBUTES, 5, "SetQueueAttributes", true)               \
    X(FSM_OP_PURGE_QUEUE, 6, "PurgeQueue", true)                                \
    X(FSM_OP_TAG_QUEUE, 7, "TagQueue", true)                                    \
    X(FSM_OP_UNTAG_QUEUE, 8, "UntagQueue", true)                                \
    X(FSM_OP_LIST_QUEUE_TAGS, 9, "ListQueueTags", false)                        \
    X(FSM_OP_LIST_DLQ_SOURCES, 10, "ListDeadLetterSourceQueues", false)         \
    X(FSM_OP_SEND_MESSAGE, 11, "SendMessage", true)                             \
    X(FSM_OP_SEND_MESSAGE_BATCH, 12, "SendMessageBatch", true)                  \
    X(FSM_OP_RECEIVE_MESSAGE, 13, "ReceiveMessage", true)                       \
    X(FSM_OP_DELETE_MESSAGE, 14, "DeleteMessage", true)                         \
    X(FSM_OP_DELETE_MESSAGE_BATCH, 15, "DeleteMessageBatch", true)              \
    X(FSM_OP_CHANGE_VISIBILITY, 16, "ChangeMessageVisibility", true)            \
    X(FSM_OP_CHANGE_VISIBILITY_BATCH, 17, "ChangeMessageVisibilityBatch", true) \
    X(FSM_OP_START_MESSAGE_MOVE_TASK, 18, "StartMessageMoveTask", true)         \
    X(FSM_OP_TICK, 19, "tick", false)                                           \
    X(FSM_OP_SWEEP, 20, "sweep", false)

enum fsmOp {
#define FSM__OP_ENUM(CODE, VALUE, NAME, MUTATES) CODE = VALUE,
    FSM_OPS(FSM__OP_ENUM)
#undef FSM__OP_ENUM
};

/* Name of an op ("SendMessage"), or NULL if unknown. */
const char *fsmOpName(unsigned op);

/* The op of a name, or 0 if unknown. */
unsigned fsmOpByName(const char *name, size_t len);

/* True for ops that change state on behalf of a client, and so carry a
 * session (client id, sequence, acknowledged mark). */
bool fsmOpMutates(unsigned op);

/* True for the read-only client ops, answered by fsmQuery after a barrier
 * (ListQueues, GetQueueAttributes, ListQueueTags,
 * ListDeadLetterSourceQueues). */
bool fsmOpReads(unsigned op);

/* One command: what a log entry holds, decoded. Pointers refer to memory
 * owned by the caller (encode) or to the decoded buffer (decode). */
struct fsmCommand
{
    unsigned op;        /* enum fsmOp */
    uint64_t now_ms;    /* stamped by the leader when it proposes */
    uint64_t client_id; /* 0: no session (reads, housekeeping) */
    uint64_t seq;       /* session sequence, from 1 */
    uint64_t ack;       /* every sequence below it was answered */
    bool wait;          /* ReceiveMessage only: when nothing can be delivered
                           and the effective wait time is above 0, answer
                           WouldWait (not stored, consumes nothing) instead
                           of an empty result. The node sets it while a long
                           poll has time left. */
    unsigned refuse;    /* mutating ops: FSM_ERR_NONE, or an error the node
                           decided before the log (FSM_ERR_OVER_LIMIT: the
                           store is past its high-water mark). The op is not
                           run; the session stores the refusal, so the
                           sequence is consumed like any other. */
    const void *args;   /* one msgpack map: the op's arguments, keyed by
                           SQS parameter names (README "Protocol"); NULL or
                           empty means an empty map */
    size_t args_len;
    const void *bodies; /* SendMessage(Batch): the MD5 of message bodies,
                           computed once by the proposer so that replicas
                           do not hash them again (fsmCommandFindBodies,
                           then fsmBodiesHash in the encoded batch):
                           per body FSM_BODY_DIGEST_LEN bytes, BE32 offset
                           of the body's bytes in args, BE32 their length,
                           their MD5. NULL: replicas hash the bodies. */
    size_t bodies_len;
};

/* One entry of fsmCommand.bodies, and at most as many as a batch has. */
#define FSM_BODY_DIGEST_LEN 24
#define FSM_BODY_DIGESTS_MAX (10 * FSM_BODY_DIGEST_LEN)

/* The proposer's share of a SendMessage(Batch), in two steps. First,
 * fsmCommandFindBodies finds each message body of @cmd's args, writes its
 * entry into @out with the MD5 left zero, and points cmd->bodies at @out.
 * Then, once the command is encoded with others (raft/batch.c),
 * fsmBodiesHash writes the MD5s into the encoded entries: many bodies hash
 * at once several times faster than one by one (fsm/md5.c). A replica
 * uses an entry only for the body at exactly that offset and length in
 * args, so a body this finds differently from the op's parser is hashed
 * as before. Other ops, and args this cannot read, get no bodies.
 * fsmCommandHashBodies does both steps on @cmd itself. */
void fsmCommandFindBodies(struct fsmCommand *cmd, uint8_t out[FSM_BODY_DIGESTS_MAX]);
void fsmCommandHashBodies(struct fsmCommand *cmd, uint8_t out[FSM_BODY_DIGESTS_MAX]);

/* Where one encoded command's body entries and the args they point into
 * are: offsets from the start of the buffer that holds the command
 * (fsmCommandPlaces, plus the command's own offset in it). */
struct fsmBodiesAt
{
    size_t bodies;
    size_t bodies_len;
    size_t args;
    size_t args_len;
};
void fsmBodiesHash(uint8_t *base, const struct fsmBodiesAt *at, size_t n);

/* Encode @cmd as a log entry into memory from @alloc (raft_malloc for raft,
 * malloc elsewhere). The length is padded with zero bytes to a multiple of 8
 * (libraft's uv writer needs it, DESIGN.md). On success *buf belongs to the
 * caller. */
int fsmCommandEncode(const struct fsmCommand *cmd,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len);

/* Where fsmCommandPack wrote the bytes of cmd->bodies and of cmd->args:
 * offsets from the start of the encoding (0 when not written). */
struct fsmCommandPlaces
{
    size_t bodies;
    size_t args;
};

/* The same encoding, written through @write (which returns 0, or non-zero
 * on failure) instead of into one new buffer: for a caller that packs
 * several commands into one log entry (raft/batch.c). *len gets the
 * encoding's length, padding included, and @at (unless NULL) the places of
 * bodies and args. Returns FSM_ECORRUPT for a command that cannot be
 * encoded (nothing written) and FSM_ENOMEM when @write failed (part may
 * have been written). */
int fsmCommandPack(const struct fsmCommand *cmd,
                   int (*write)(void *data, const char *buf, size_t len),
                   void *data,
                   size_t *len,
                   struct fsmCommandPlaces *at);

/* Decode a log entry. Strict on the envelope: wrong types, unknown op,
 * trailing non-zero bytes give FSM_ECORRUPT (no crash, no allocation that
 * outlives the call); args must be one well-formed msgpack map, whose
 * contents the op checks when it runs. Pointers in @cmd point into @buf. */
int fsmCommandDecode(const void *buf, size_t len, struct fsmCommand *cmd);

/* Check @cmd's args as its op will, without touching any state: missing
 * or mistyped parameters and stateless limits (MaxNumberOfMessages,
 * WaitTimeSeconds, batch sizes, name syntax, ...). Returns FSM_ERR_NONE, or
 * the error the op would reply with and a sentence in errmsg. The node
 * answers reads that fail it at once; a session request that fails it
 * still goes to the log, so that its refusal is stored and its sequence
 * consumed (a sequence skipped would block the session's next requests). */
enum fsmError fsmCommandCheck(const struct fsmCommand *cmd,
                              char *errmsg,
                              size_t errmsg_len);

/* The queue @cmd addresses (QueueName, or SourceQueueName for
 * StartMessageMoveTask), pointing into its args; false if none. */
bool fsmCommandQueue(const struct fsmCommand *cmd,
                     const char **name,
                     size_t *len);

/* Configuration of a state machine. */
struct fsmConfig
{
    const char *dir;           /* LMDB environment directory (created) */
    size_t map_size;           /* LMDB map size in bytes */
    uint32_t session_window;   /* max replies kept per client (1024) */
    uint64_t session_idle_ms;  /* idle time after which a session expires */
    uint32_t inflight_max;     /* in-flight messages per queue (120,000) */
    uint32_t sweep_keys;       /* keys one sweep slice removes at most
                                  (4,096); equal on every node, like the
                                  session window */
    bool durable;              /* keep the state across restarts: LMDB
                                  synced at every commit, its files kept
                                  at open, snapshot markers (qraftd);
                                  false: removed at open, never synced */
};

/* Defaults for fsmConfig (dir must still be set). */
void fsmConfigDefaults(struct fsmConfig *c);

struct fsm;

/* Open the state machine in c->dir. Not durable, the directory's LMDB
 * files, if any, are removed first. Durable, they are kept but not
 * trusted: the first fsmRestoreMarker that matches them makes them the
 * state; any other first use (apply, query, restore, snapshot) empties
 * them first (DESIGN.md "Storage"). On failure *f is NULL and errmsg (256
 * bytes) says why. */
int fsmOpen(const struct fsmConfig *c, struct fsm **f, char *errmsg);

/* Commit pending writes and close. */
void fsmClose(struct fsm *f);

/* Detail of the last failure. */
const char *fsmErrmsg(const struct fsm *f);

/* A reply: one msgpack map, {"ok": true, ...} or {"ok": false, "code": NAME,
 * "message": TEXT}. Owned by the fsm, valid until the next call into it.
 * Beside the bytes, what the node needs for long polling, decoded. */
struct fsmReply
{
    const void *data;
    size_t len;
    /* ReceiveMessage with cmd.wait found nothing to deliver: wait up to
     * wait_s seconds (the request's WaitTimeSeconds, else the queue's
     * ReceiveMessageWaitTimeSeconds) and propose it again. */
    bool would_wait;
    uint32_t wait_s;
    /* This command may have made messages of its queue deliverable now
     * (a send without delay, a delete that unblocks a FIFO group, a
     * visibility change to 0, ...): how many, as a hint of how many
     * waiters to wake. */
    uint32_t wake;
    /* Messages may have become deliverable in other queues than the
     * command's (StartMessageMoveTask): wake every waiter. */
    bool wake_all;
    /* The earliest future time, in the state machine's clock, at which a
     * message of the command's queue becomes deliverable (a delay or a
     * visibility timeout ending), 0 if none known. */
    uint64_t next_visible_ms;
};

/* Apply one log entry. Writes go into a write transaction that stays open
 * across applies until fsmFlush() (entries applied in one loop iteration
 * share it). Session rules of DESIGN.md are enforced here. */
int fsmApply(struct fsm *f, const void *buf, size_t len, struct fsmReply *reply);

/* Commit the pending write transaction, if any. */
int fsmFlush(struct fsm *f);

/* Key and value bytes the pending write transaction has written (a
 * deletion counts its key): what the caller's commit policy weighs. */
uint64_t fsmPendingBytes(const struct fsm *f);

/* Answer a read-only command (fsmOpReads) from the current state, including
 * writes not yet flushed. Time-driven rules use cmd->now_ms. */
int fsmQuery(struct fsm *f, const struct fsmCommand *cmd, struct fsmReply *reply);

/* How full the store is: bytes of pages holding live data, and the LMDB
 * map size. Applying must never meet a full map (every node would meet it
 * at the same entry), so the node refuses growth before the log well
 * below it (DESIGN.md "Storage"). */
int fsmStoreUsage(struct fsm *f, uint64_t *used, uint64_t *capacity);

/* Running digest of every applied command, hex, NUL-terminated (33 chars
 * with the NUL). Part of the state, so snapshots carry it. */
void fsmDigest(struct fsm *f, char out[33]);

/* True while a deleted queue's or a purged keyspace's keys are still in
 * the store: the leader then proposes FSM_OP_SWEEP (no session, empty
 * args), one at a time, each of which removes a bounded slice of them
 * and replies {"ok": true, "Removed": n, "More": bool}. Cheap (no store
 * access). Clients may not send FSM_OP_SWEEP, nor FSM_OP_TICK. */
bool fsmSweepPending(struct fsm *f);

/* Largest now_ms applied so far (the leader stamps max(clock, this)). */
uint64_t fsmLastNow(struct fsm *f);

/* Snapshots (raft_fsm version 3). Begin runs on the loop thread: it commits
 * pending writes and pins a read transaction (MDB_NOTLS) at the applied
 * state. Write runs in the thread pool: it serialises every table from that
 * transaction into one buffer from @alloc. End runs on the loop thread and
 * releases the transaction. The same state gives the same bytes. */
struct fsmSnapshot;
int fsmSnapshotBegin(struct fsm *f, struct fsmSnapshot **s);
int fsmSnapshotWrite(struct fsmSnapshot *s,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len);
/* The same bytes in pieces, from the thread pool too: Size gives the total
 * (it walks the transaction once, the first time); Stream calls @sink with
 * consecutive pieces of at most @chunk bytes (the last is the checksum)
 * that add up to it, from a staging buffer of @chunk bytes, and stops at
 * the first non-zero return of @sink, which it returns. */
int fsmSnapshotSize(struct fsmSnapshot *s, size_t *len);
int fsmSnapshotStream(struct fsmSnapshot *s,
                      size_t chunk,
                      int (*sink)(void *arg, const void *p, size_t len),
                      void *arg);
void fsmSnapshotEnd(struct fsmSnapshot *s);

/* The state's place in the raft log. The caller names the entry it is
 * about to apply (fsmSetIndex, before its first command); each command
 * applied then counts, and the place goes into the store with every
 * commit (a commit may fall between two commands of one entry). Unset (0),
 * nothing is counted or stored. fsmPosition gives the entry and how many
 * of its commands the state holds: after a restart or a restore, raft
 * hands the node entries the state already holds, which the caller must
 * skip. */
void fsmSetIndex(struct fsm *f, uint64_t index);
void fsmPosition(const struct fsm *f, uint64_t *index, uint32_t *cmds);

/* Snapshot markers (durable fsm only; fsm/marker.c). A marker stands for
 * the state as the store holds it, which survives restarts, instead of a
 * copy of it: FSM_MARKER_LEN bytes naming the position and digest of the
 * state when it was made. fsmMarker commits pending writes and fills
 * @out; fsmSync (from any thread) then makes that commit durable, which
 * must happen before the marker is written anywhere. fsmRestoreMarker
 * accepts a marker if the store holds that state or a later one (the log
 * then replays entries the caller skips, see fsmPosition), and fails with
 * FSM_ECORRUPT, changing nothing, if the store is older (lost or
 * replaced). */
#define FSM_MARKER_LEN 88
bool fsmDurable(const struct fsm *f);
bool fsmIsMarker(const void *buf, size_t len);
int fsmMarker(struct fsm *f, uint8_t out[FSM_MARKER_LEN]);
int fsmSync(struct fsm *f);
int fsmRestoreMarker(struct fsm *f, const void *buf, size_t len);

/* Replace the whole state with a snapshot. Bad bytes (FSM_ECORRUPT) are
 * found before anything changes; a store failure while replacing leaves the
 * fsm failed (every later call returns FSM_ESTORE). */
int fsmRestore(struct fsm *f, const void *buf, size_t len);

#endif /* QRAFT_FSM_H */
