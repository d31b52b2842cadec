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

/* Business error names carried in replies ("code"). They reuse AWS names
 * where one fits; the client library maps them to its own enum by name. */
#define FSM_ERRORS(X)                                                        \
    X(FSM_ERR_INVALID_COMMAND, "InvalidCommand")                             \
    X(FSM_ERR_INVALID_PARAMETER, "InvalidParameterValue")                    \
    X(FSM_ERR_QUEUE_DOES_NOT_EXIST, "QueueDoesNotExist")                     \
    X(FSM_ERR_QUEUE_ALREADY_EXISTS, "QueueAlreadyExists")                    \
    X(FSM_ERR_MESSAGE_TOO_LONG, "MessageTooLong")                            \
    X(FSM_ERR_RECEIPT_INVALID, "ReceiptHandleIsInvalid")                     \
    X(FSM_ERR_OUT_OF_ORDER, "OutOfOrder")                                    \
    X(FSM_ERR_SESSION_EXPIRED, "SessionExpired")                             \
    X(FSM_ERR_TOO_MANY_IN_FLIGHT, "TooManyInFlight")

enum fsmError {
    FSM_ERR_NONE = 0,
#define FSM__ERROR_ENUM(CODE, NAME) CODE,
    FSM_ERRORS(FSM__ERROR_ENUM)
#undef FSM__ERROR_ENUM
};

/* Name of a business error, e.g. "QueueDoesNotExist". */
const char *fsmErrorName(enum fsmError e);

/* Limits and defaults (SQS's numbers). */
#define FSM_QUEUE_NAME_MAX 80
#define FSM_BODY_MAX 262144
#define FSM_RECEIVE_MAX 10
#define FSM_VISIBILITY_DEFAULT_S 30
#define FSM_VISIBILITY_MAX_S 43200
#define FSM_RECEIPT_MAX 64   /* longest receipt handle we emit, in chars */
#define FSM_MESSAGE_ID_LEN 36 /* UUID text form */

/* Operations of the state machine. Values are part of the log format:
 * never renumber, only append. */
#define FSM_OPS(X)                                                           \
    X(FSM_OP_QUEUE_CREATE, 1, "queue_create", true)                          \
    X(FSM_OP_QUEUE_DELETE, 2, "queue_delete", true)                          \
    X(FSM_OP_QUEUE_LIST, 3, "queue_list", false)                             \
    X(FSM_OP_SEND, 4, "send", true)                                          \
    X(FSM_OP_RECEIVE, 5, "recv", true)                                       \
    X(FSM_OP_DELETE, 6, "delete", true)                                      \
    X(FSM_OP_TICK, 7, "tick", false)

enum fsmOp {
#define FSM__OP_ENUM(CODE, VALUE, NAME, MUTATES) CODE = VALUE,
    FSM_OPS(FSM__OP_ENUM)
#undef FSM__OP_ENUM
};

/* Name of an op ("send"), or NULL if unknown. */
const char *fsmOpName(unsigned op);

/* True for ops that change state on behalf of a client, and so carry a
 * session (client id, sequence, acknowledged mark). */
bool fsmOpMutates(unsigned op);

/* One command: what a log entry holds, decoded. Pointers refer to memory
 * owned by the caller (encode) or to the decoded buffer (decode). */
struct fsmCommand
{
    unsigned op;         /* enum fsmOp */
    uint64_t now_ms;     /* stamped by the leader when it proposes */
    uint64_t client_id;  /* 0: no session (reads, housekeeping) */
    uint64_t seq;        /* session sequence, from 1 */
    uint64_t ack;        /* every sequence below it was answered */
    const char *queue;   /* queue name, not NUL-terminated */
    size_t queue_len;
    const void *body;    /* send */
    size_t body_len;
    const char *receipt; /* delete */
    size_t receipt_len;
    uint32_t max_messages; /* receive; 0 means 1 */
    int64_t visibility_s;  /* create: queue default; receive: override.
                              -1: not given */
};

/* Encode @cmd as a log entry into memory from @alloc (raft_malloc for raft,
 * malloc elsewhere). The length is padded with zero bytes to a multiple of 8
 * (libraft's uv writer needs it, DESIGN.md). On success *buf belongs to the
 * caller. */
int fsmCommandEncode(const struct fsmCommand *cmd,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len);

/* Decode a log entry. Strict: wrong types, unknown op, trailing non-zero
 * bytes give FSM_ECORRUPT (no crash, no allocation that outlives the call).
 * Pointers in @cmd point into @buf. */
int fsmCommandDecode(const void *buf, size_t len, struct fsmCommand *cmd);

/* Configuration of a state machine. */
struct fsmConfig
{
    const char *dir;           /* LMDB environment directory (created) */
    size_t map_size;           /* LMDB map size in bytes */
    uint32_t session_window;   /* max replies kept per client (1024) */
    uint64_t session_idle_ms;  /* idle time after which a session expires */
};

/* Defaults for fsmConfig (dir must still be set). */
void fsmConfigDefaults(struct fsmConfig *c);

struct fsm;

/* Open the state machine in c->dir. The directory's LMDB files, if any, are
 * removed first: state is rebuilt from the raft log on every start
 * (DESIGN.md). On failure *f is NULL and errmsg (256 bytes) says why. */
int fsmOpen(const struct fsmConfig *c, struct fsm **f, char *errmsg);

/* Commit pending writes and close. */
void fsmClose(struct fsm *f);

/* Detail of the last failure. */
const char *fsmErrmsg(const struct fsm *f);

/* A reply: one msgpack map, {"ok": true, ...} or {"ok": false, "code": NAME,
 * "message": TEXT}. Owned by the fsm, valid until the next call into it. */
struct fsmReply
{
    const void *data;
    size_t len;
};

/* Apply one log entry. Writes go into a write transaction that stays open
 * across applies until fsmFlush() (entries applied in one loop iteration
 * share it). Session rules of DESIGN.md are enforced here. */
int fsmApply(struct fsm *f, const void *buf, size_t len, struct fsmReply *reply);

/* Commit the pending write transaction, if any. */
int fsmFlush(struct fsm *f);

/* Answer a read-only command (FSM_OP_QUEUE_LIST) from the current state,
 * including writes not yet flushed. */
int fsmQuery(struct fsm *f, const struct fsmCommand *cmd, struct fsmReply *reply);

/* Running digest of every applied command, hex, NUL-terminated (33 chars
 * with the NUL). Part of the state, so snapshots carry it. */
void fsmDigest(struct fsm *f, char out[33]);

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
void fsmSnapshotEnd(struct fsmSnapshot *s);

/* Replace the whole state with a snapshot, in one write transaction: on any
 * error (FSM_ECORRUPT for bad bytes) the state is unchanged. */
int fsmRestore(struct fsm *f, const void *buf, size_t len);

#endif /* QRAFT_FSM_H */
