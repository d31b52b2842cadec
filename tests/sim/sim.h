/* The deterministic simulator: the real state machine (fsm/) and the real
 * raft_fsm glue (raft/fsmglue.c) on every server of libraft's fixture, a
 * seeded workload of SQS operations from clients that retry as libqraft does,
 * and a seeded nemesis. One seed fixes everything: the same seed replays the
 * same run, step by step.
 *
 * Files:
 *   cluster.c   the fixture, one fsm per server, the node layer (readiness
 *               barrier, write batches), fail-stop disk errors, the network
 *               state, the applied log of every server;
 *   propose.c   proposals as qraftd makes them: now_ms stamping, the
 *               commands of a step batched into one raft entry per server;
 *   entry.c     the commands and replies of an applied entry, and the
 *               self-check's broken delete;
 *   client.c    client sessions: seq, ack mark, pipelining and retries;
 *   workload.c  the operations the clients issue, and what they learn from
 *               the replies (receipts, acknowledged sends);
 *   nemesis.c   the fault schedule;
 *   model.c     the invariants, checked by replaying the applied log;
 *   mp.c        msgpack helpers, and the history printer;
 *   main.c      seeds, phases, the report, the self-check.
 */
#ifndef QRAFT_SIM_H
#define QRAFT_SIM_H

#include <raft.h>
#include <raft/fixture.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm/fsm.h"
#include "raft/internal.h"

/* Bounds. */
#define SIM_SERVERS_MAX 6   /* 3 to 5 at start, one more by growing */
#define SIM_CLIENTS_MAX 5   /* workload clients, plus the drain client */
#define SIM_QUEUES 3        /* two standard queues and one FIFO queue */
#define SIM_WINDOW_MAX 4    /* requests a client pipelines */
#define SIM_RECEIPTS 24     /* receipts a client remembers */
#define SIM_NEMESIS_MAX 64  /* faults in force at once */
#define SIM_EPOCH_MS 1700000000000ull /* now_ms = fixture time + this */

/* The invariants (issue 5), numbered as in the report. */
enum {
    SIM_INV_NONE = 0,
    SIM_INV_IDENTICAL = 1, /* same entries, replies and snapshots everywhere */
    SIM_INV_LOST = 2,      /* nothing acknowledged lost */
    SIM_INV_SENT = 3,      /* nothing delivered unsent; retries apply once */
    SIM_INV_FIFO = 4,      /* FIFO order, group blocking, dedupe */
    SIM_INV_VISIBLE = 5,   /* never delivered while invisible */
    SIM_INV_LIVENESS = 6   /* the healed cluster converges (not an issue
                              invariant, but a run that cannot finish fails) */
};

/* Title of an invariant, for the report. */
const char *simInvariantName(int inv);

/* Deterministic random numbers (splitmix64). */
struct simRng
{
    uint64_t s;
};
uint64_t simRand(struct simRng *r);
/* Uniform in [0, n), n > 0. */
unsigned simRandN(struct simRng *r, unsigned n);
/* True with probability pct / 100. */
bool simChance(struct simRng *r, unsigned pct);

/* Parameters drawn from the seed (or forced on the command line). */
struct simParams
{
    unsigned n_servers;      /* 3 to 5 */
    unsigned n_clients;      /* workload clients */
    unsigned ops;            /* requests the workload issues in all */
    unsigned window;         /* pipelined requests per client */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned nemesis_rate;   /* percent chance of a fault per 100 ms */
    unsigned issue_rate;     /* percent chance a client issues per 10 ms */
    bool grow;               /* add a server during the run */
    unsigned batch_max;      /* commands in one raft entry, at most */
    unsigned legacy_pct;     /* percent of one-command batches proposed as
                                an older single-command entry */
    unsigned late_pct;       /* percent of steps whose proposals are flushed
                                after the fixture step, not before: raft's
                                own I/O came between them (leadership may
                                have gone: nothing is proposed) */
    bool broken_delete;      /* the self-check: a wrapper forgets deletes */
    bool verbose;            /* trace every event to stderr */
};

/* A batch of proposals of one server (propose.c). */
struct simBatch;

/* One server: fixture index, its fsm and glue, and the node layer that
 * qraftd puts around them (raft/replica.c), rebuilt for the fixture. */
struct simServer
{
    struct sim *sim;
    unsigned index;
    unsigned zone;
    char dir[256];              /* LMDB directory */
    struct fsm *fsm;
    struct fsmAdapter adapter;  /* the production raft_fsm v3 glue */
    struct preVoteGuard prevote; /* the production pre-vote guard */
    /* The fixture's disk methods, wrapped to stop the node on errors. */
    int (*io_append)(struct raft_io *io,
                     struct raft_io_append *req,
                     const struct raft_entry entries[],
                     unsigned n,
                     raft_io_append_cb cb);
    int (*io_truncate)(struct raft_io *io, raft_index index);
    int (*io_set_term)(struct raft_io *io, raft_term term);
    int (*io_set_vote)(struct raft_io *io, raft_id id);
    int (*io_send)(struct raft_io *io,
                   struct raft_io_send *req,
                   const struct raft_message *message,
                   raft_io_send_cb cb);
    /* The fixture's start, wrapped so that received messages pass the
     * production append guard (raft/appendguard.c) on their way to raft. */
    int (*io_start)(struct raft_io *io,
                    unsigned msecs,
                    raft_io_tick_cb tick,
                    raft_io_recv_cb recv);
    raft_io_recv_cb raft_recv;
    struct appendGuard append_guard;
    int (*io_snapshot_put)(struct raft_io *io,
                           unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb);
    /* The fixture's snapshot_get: on seeds that ask for it, the snapshot
     * sent to a follower is an image of the state as it is then, further
     * on than its index, as qraftd sends (raft/snapget.c). */
    int (*io_snapshot_get)(struct raft_io *io,
                           struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb);
    /* Appends issued and completed, and truncations waiting for the appends
     * issued before them (the fixture cannot truncate what is in flight). */
    uint64_t appends_issued;
    uint64_t appends_done;
    struct
    {
        raft_index index;
        uint64_t after;
        bool install; /* the fixture's own truncate(1) of an install */
    } truncates[16];
    bool installing;          /* an install (trailing 0) is being put */
    raft_index install_index; /* its snapshot's index */
    raft_index log_base;      /* raft index before the fixture's first entry */
    unsigned n_truncates;
    bool started;
    bool killed;   /* paused by the nemesis (the fixture's kill) */
    bool stopped;  /* fail-stop after a disk or store error: never back */
    /* Node layer: leadership readiness and the now_ms stamp. */
    struct raft_barrier barrier;
    bool barrier_pending;
    raft_term barrier_term;
    raft_term ready_term;
    uint64_t last_stamp;
    /* Proposals of this step not yet handed to raft (propose.c): batches
     * in order, each one raft entry. */
    struct simBatch *batches;
    struct simBatch *batches_last;
    unsigned disk_latency;
    unsigned net_latency;
};

/* One entry of the applied log, as the first server to apply it saw it. */
struct simEntry
{
    bool set;
    unsigned server;       /* first server that applied it */
    void *buf;             /* the log entry: a batch, or one command */
    size_t len;
    void *reply;           /* the replies to its commands (simRepliesPack) */
    size_t reply_len;
    raft_time time;        /* fixture time of the first apply */
};

/* A request of a client session. */
struct simRequest
{
    uint64_t seq;
    unsigned op;
    void *args;             /* msgpack map, the same on every attempt */
    size_t args_len;
    unsigned attempt;       /* number of the latest attempt */
    bool in_flight;         /* the latest attempt awaits its callback */
    bool done;
    raft_time sent_at;      /* fixture time of the latest attempt */
    raft_time retry_at;     /* no attempt before this time */
    unsigned backoff;       /* ms, for Unavailable/TooManyInFlight */
    unsigned queue;         /* queue index, for the workload */
};

/* A receipt a client got from a receive. */
struct simReceipt
{
    unsigned queue;
    char handle[FSM_RECEIPT_MAX + 1];
};

/* A client: one session, pipelining up to window requests. */
struct simClient
{
    struct sim *sim;
    unsigned index;
    uint64_t id;              /* client id (non-zero) */
    uint64_t next_seq;        /* seq of the next new request */
    struct simRequest req[SIM_WINDOW_MAX]; /* by seq % SIM_WINDOW_MAX */
    unsigned window;
    unsigned target;          /* server the client talks to */
    unsigned hops;            /* NotLeader hops without progress */
    unsigned conn_backoff;    /* ms, after connection failures */
    raft_time conn_retry_at;  /* no attempt before this time */
    unsigned issued;          /* requests issued so far */
    unsigned completed;       /* final replies */
    struct simReceipt receipts[SIM_RECEIPTS];
    unsigned n_receipts;
    bool drain;               /* the drain client of the final phase */
};

/* An acknowledged send: the client got its MessageId in a final reply. */
struct simAck
{
    char id[FSM_MESSAGE_ID_LEN + 8];
    unsigned client;
    uint64_t seq;
};

/* A fault in force, to be undone at until (or by the heal). */
struct simFault
{
    int kind;
    unsigned a, b;
    raft_time until;
};

/* A line of the event trace (nemesis actions, leader changes). */
struct simEvent
{
    raft_time time;
    char text[120];
};

/* A violation, with the index of the applied log it concerns (0 if none). */
struct simFailure
{
    int inv;
    raft_index index;
    char text[512];
};

struct sim
{
    uint64_t seed;
    struct simParams p;
    struct simRng rng;      /* workload and nemesis draws */
    struct simRng batch_rng; /* batching draws (apart, so that a seed's
                                workload and faults do not depend on them) */
    char *tmp;              /* temporary directory of this seed */
    struct raft_fixture f;
    struct simServer servers[SIM_SERVERS_MAX];
    unsigned n;             /* servers in the fixture */
    unsigned n_voters_wanted;
    struct simClient clients[SIM_CLIENTS_MAX];
    unsigned n_clients;
    /* Queues of the workload. */
    const char *queue_names[SIM_QUEUES];
    bool queue_fifo[SIM_QUEUES];
    /* Applied log, indexed by raft index. */
    struct simEntry *log;
    size_t log_cap;
    raft_index log_max;
    /* Acknowledged sends. */
    struct simAck *acks;
    size_t n_acks, acks_cap;
    /* Faults in force. */
    struct simFault faults[SIM_NEMESIS_MAX];
    unsigned n_faults;
    bool cut[SIM_SERVERS_MAX][SIM_SERVERS_MAX];       /* i -> j disconnected */
    bool saturated[SIM_SERVERS_MAX][SIM_SERVERS_MAX]; /* i -> j saturated */
    raft_time next_nemesis;
    raft_time next_client;
    /* The sweep slice in flight (raft/replica.c replicaSweep): proposed by
     * server sweep_leader in term sweep_term; a new leader proposes its
     * own. */
    bool sweep_inflight;
    unsigned sweep_leader;
    raft_term sweep_term;
    unsigned fsm_dedupe_counter; /* fresh FIFO dedupe ids */
    unsigned drain_got;          /* messages the drain client received */
    /* Growing: the membership change in progress. */
    struct raft_change *change; /* in flight (heap: never reused) */
    bool change_pending;
    raft_time change_at;
    unsigned grow_index;    /* the grown server, or 0 */
    bool grow_done;
    /* Trace. */
    struct simEvent *events;
    size_t n_events, events_cap;
    raft_id last_leader;
    /* Statistics. */
    unsigned long steps;
    unsigned snapshots_installed;
    unsigned images_sent;        /* snapshots sent as images of the state
                                    as it was then (odd seeds) */
    unsigned flush_failures;     /* batches raft_apply refused at the flush */
    unsigned fail_stops;
    bool closing;
    /* The first violation. */
    struct simFailure failure;
};

/* cluster.c ------------------------------------------------------------ */

/* Create the fixture with p.n_servers servers, each with its own fsm in
 * sim->tmp, bootstrap and start. Returns 0 or -1 (message on stderr). */
int simClusterStart(struct sim *sim);

/* Close raft and every fsm. */
void simClusterClose(struct sim *sim);

/* Hand the proposals of the step to raft (simClusterFlush), one fixture
 * step, then what a node does after a loop iteration: commit the fsm write
 * batch (sometimes: batches vary), watch leadership. */
void simClusterStep(struct sim *sim);

/* propose.c ------------------------------------------------------------ */

/* Propose @cmd on server @i as qraftd would: refuse at once, or stamp
 * now_ms and add the command to the server's batch of this step. Returns 0
 * (then @cb is called once: with 0 and a struct glueResult holding the one
 * reply to @cmd, or with a raft status and NULL when the outcome is not
 * known or nothing was proposed), or one of: */
enum { SIM_ENOTLEADER = 1, SIM_ENOTREADY, SIM_EDOWN, SIM_ENOMEM };
int simPropose(struct sim *sim,
               unsigned i,
               struct fsmCommand *cmd,
               struct raft_apply *req,
               raft_apply_cb cb);

/* The end of a step's loop iteration: every server's pending batches go
 * to raft, one raft_apply each. */
void simClusterFlush(struct sim *sim);

/* Give every proposal not yet handed to raft @status (closing). */
void simProposalsDrop(struct sim *sim, int status);

/* entry.c -------------------------------------------------------------- */

/* The commands of an entry, with their replies (packed by simRepliesPack;
 * NULL for none), in order. */
struct simCommands
{
    const void *buf;
    size_t len;
    const void *replies;
    size_t replies_len;
    size_t reply_off;
    struct batchReader batch;
    bool is_batch; /* a sound batch; else one command, as the glue does */
    bool done;     /* the one command was given */
    unsigned k;    /* commands given so far */
};
void simCommandsInit(struct simCommands *r,
                     const void *buf,
                     size_t len,
                     const void *replies,
                     size_t replies_len);

/* The next command and its reply (NULL, 0 past the last reply); false
 * after the last command. */
bool simCommandsNext(struct simCommands *r,
                     const void **cmd,
                     size_t *len,
                     const void **reply,
                     size_t *reply_len);

/* Number of commands the glue applies for entry @buf. */
unsigned simCommandCount(const void *buf, size_t len);

/* Every reply of @res, each as a 4-byte length (host order) and its bytes,
 * in memory from malloc. */
void *simRepliesPack(const struct glueResult *res, size_t *len);

/* The self-check: @buf with its qualifying DeleteMessage commands turned
 * into ChangeMessageVisibility 0 (in memory from raft_malloc), or NULL when
 * it has none or broken_delete is off. */
void *simBrokenDelete(struct sim *sim, const struct raft_buffer *buf, size_t *len);

/* Index of the leader whose barrier is applied, or sim->n if none. */
unsigned simReadyLeader(struct sim *sim);

/* Whether server @i runs (neither killed nor stopped). */
bool simServerUp(struct sim *sim, unsigned i);

/* Re-apply the desired network state (cuts, saturation, dead servers) to
 * the fixture. */
void simNetworkApply(struct sim *sim);

/* Kill (pause) or revive server @i. */
void simKill(struct sim *sim, unsigned i);
void simRevive(struct sim *sim, unsigned i);

/* Add a server to the fixture and start it (not yet in the configuration).
 * Returns 0 or -1. */
int simGrow(struct sim *sim);

/* Drive the membership change of the grown server (add, then voter) from
 * the current leader. */
void simGrowTick(struct sim *sim);

/* Compare the snapshots of all running servers byte for byte. Returns 0, or
 * -1 after recording an SIM_INV_IDENTICAL failure. */
int simCompareSnapshots(struct sim *sim);

/* One line per server: raft state, term, indexes, faults. */
void simPrintServers(struct sim *sim, FILE *out);

/* Fixture time as the state machine's clock. */
uint64_t simNowMs(struct sim *sim);

/* client.c ------------------------------------------------------------- */

/* Set up client @c with a fresh client id. */
void simClientInit(struct sim *sim, struct simClient *c, unsigned index);

/* Whether the client can take one more request. */
bool simClientHasRoom(struct simClient *c);

/* Queue a new request (args copied). */
void simClientSubmit(struct simClient *c, unsigned op, unsigned queue,
                     const void *args, size_t len);

/* Send what can be sent, retry what must be retried. */
void simClientPump(struct simClient *c);

/* Requests of @c not yet answered. */
unsigned simClientPending(struct simClient *c);

/* workload.c ----------------------------------------------------------- */

/* Issue the next requests of the workload, if there is room. */
void simWorkloadTick(struct sim *sim);

/* A final reply reached client @c for request @r. */
void simWorkloadReply(struct simClient *c,
                      struct simRequest *r,
                      const void *reply,
                      size_t len);

/* The setup requests (create the queues), on client 0. */
void simWorkloadSetup(struct sim *sim);

/* The drain of the final phase: a receive of up to 10 messages with a long
 * visibility timeout on @queue (counted in sim->drain_got); then deletes of
 * what it returned, as many as there is room for. simDrainDeletes returns
 * whether receipts remain to delete. */
void simDrainReceive(struct sim *sim, struct simClient *c, unsigned queue);
bool simDrainDeletes(struct sim *sim, struct simClient *c);

/* nemesis.c ------------------------------------------------------------ */

/* Maybe start a fault, and undo those whose time is up. */
void simNemesisTick(struct sim *sim);

/* Undo every fault: reconnect, desaturate, revive, default latencies. */
void simNemesisHeal(struct sim *sim);

/* model.c -------------------------------------------------------------- */

/* Record that server @s applied @buf at @index with @reply (every reply of
 * the entry, simRepliesPack): the first server to apply an index defines
 * it; others must match it byte for byte. @reply NULL: the server skipped
 * the entry, or some of its commands (its state held them, from an
 * image): only the entry is compared. */
void simLogRecord(struct sim *sim,
                  unsigned s,
                  raft_index index,
                  const void *buf,
                  size_t len,
                  const void *reply,
                  size_t reply_len);

/* Replay the applied log through the model and check invariants 2 to 5.
 * Returns 0, or -1 after recording the first failure. */
int simModelCheck(struct sim *sim);

/* Record a failure (only the first is kept). */
void simFail(struct sim *sim, int inv, raft_index index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* mp.c ----------------------------------------------------------------- */

/* Find @key in map @m, or NULL. */
const msgpack_object *mpGet(const msgpack_object *m, const char *key);
/* A string value as a NUL-terminated copy into @out (truncated). */
bool mpStr(const msgpack_object *o, char *out, size_t size);
/* Whether string @o equals @s. */
bool mpStrEq(const msgpack_object *o, const char *s);
/* An unsigned integer value. */
bool mpU64(const msgpack_object *o, uint64_t *v);
/* Pack a NUL-terminated string. */
void mpPackStr(msgpack_packer *pk, const char *s);
/* The reply's "code" if it is an error, "" if ok. */
void mpReplyCode(const void *reply, size_t len, char *code, size_t size);
/* Print the applied log from @from to @to and the events of that time. */
void simPrintHistory(struct sim *sim, FILE *out, raft_index from, raft_index to);
/* Add a line to the event trace. */
void simEvent(struct sim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* QRAFT_SIM_H */
