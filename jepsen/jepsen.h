/* jepsen: qraft's chaos harness, in the manner of Jepsen, in C.
 *
 * One process (bin/jepsen) starts N qraftd on 127.0.0.1 in Z simulated
 * zones, puts a fault proxy between every pair of nodes and between the
 * clients and the nodes, runs a workload (queue or fifo) of concurrent
 * client threads on libqraft while a nemesis injects faults on a seeded
 * schedule, heals everything, drains the queues, and hands the history to
 * the checker, which reads nothing else.
 *
 *   proxy.c      the fault proxy: a libuv loop on a thread of its own
 *   cluster.c    the nodes as processes: start, kill, pause, status
 *   nemesis.c    the fault schedule and the faults
 *   history.c    the history file (format below)
 *   workload.c   the workload interface; workload_queue.c, workload_fifo.c
 *   checker.c    reads a history, checks the invariants
 *   report.c     results.json, summary.txt, latency.svg (gnuplot)
 *   main.c       flags, the run's phases, `jepsen check HISTORY`
 *
 * History format (version 1): one event per line, tab-separated:
 *
 *   T_US <TAB> PROCESS <TAB> TYPE <TAB> OP <TAB> VALUE [<TAB> NOTE]
 *
 * - T_US: monotonic microseconds since the run began.
 * - PROCESS: "w<N>" a workload thread, "drain" the final drain, "nemesis",
 *   "harness".
 * - TYPE: invoke, ok, fail (definitely did not happen), info (outcome
 *   unknown: a timeout).
 * - OP and VALUE of the workloads:
 *     send     VALUE the body, unique per logical message. A FIFO body is
 *              "GROUP/N": N counts up within the group, which one thread
 *              owns, and it is also the deduplication id; a retry of an
 *              info send reuses it (same body, same dedup id).
 *     receive  invoke VALUE "-"; ok VALUE "BODY@MESSAGEID,..." (or "-" for
 *              none), in the order the cluster returned them.
 *     delete   VALUE "BODY@MESSAGEID".
 * - Nemesis and harness events (TYPE info):
 *     nemesis  info  start  "FAULT#K:DETAIL"   a fault window opens
 *     nemesis  info  stop   "FAULT#K:DETAIL"   ... and closes (same #K)
 *     harness  info  phase  "final"            every fault healed; drain
 *     harness  ok|fail  check  "NAME:DETAIL"   a check the harness made
 *                                              (fail counts as a violation)
 * - NOTE: free text (the error of a fail or info), no tabs or newlines.
 * - Lines starting with '#' are comments; the first is
 *   "# qraft-jepsen history v1 workload=W nodes=N zones=Z seed=S".
 */
#ifndef QRAFT_JEPSEN_H
#define QRAFT_JEPSEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/qraft.h"

#define JEPSEN_NODES_MAX 9
#define JEPSEN_ZONES_MAX 9

/* ---------------------------------------------------------------------- */
/* History (history.c)                                                     */

struct history;

/* Create the file at @path and write "# " @header as its first line.
 * Returns 0, or -1 with @errmsg filled. */
int historyOpen(const char *path, const char *header, struct history **out, char *errmsg,
                size_t len);

/* Microseconds since the history was opened (monotonic). */
uint64_t historyNow(const struct history *h);

/* Append one event stamped now: PROCESS TYPE OP VALUE [NOTE]. @value NULL
 * is written "-"; tabs and newlines in @note become spaces. Thread safe;
 * every line is flushed as written. */
void historyAdd(struct history *h,
                const char *process,
                const char *type,
                const char *op,
                const char *value,
                const char *note);

/* historyAdd with a printf-style value. */
void historyAddf(struct history *h, const char *process, const char *type, const char *op,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void historyClose(struct history *h);

/* Small helpers shared by the harness's files (history.c). */

/* splitmix64: the next number of the seeded stream at @state. */
uint64_t jepsenRandom(uint64_t *state);

/* Monotonic milliseconds. */
uint64_t jepsenNowMs(void);

/* Sleep @ms milliseconds. */
void jepsenSleepMs(unsigned ms);

/* ---------------------------------------------------------------------- */
/* The nodes as processes (cluster.c)                                      */
/*                                                                        */
/* Node i (0-based, raft id i+1, zone i % zones) lives in ROOT/nI: data in */
/* ROOT/nI/data, its stdout and stderr in ROOT/nI/log. It binds its raft   */
/* port BASE+1+i and client port BASE+101+i, and announces the proxy's    */
/* front ports BASE+21+i (raft) and BASE+121+i (client). Only the main    */
/* thread calls these functions.                                          */

enum jnodeState {
    JNODE_DOWN,
    JNODE_UP,
    JNODE_PAUSED,
};

struct jnode
{
    unsigned index;
    uint64_t id;
    unsigned zone;
    int pid;                /* 0 when down */
    enum jnodeState state;
    bool expect_exit;       /* a fault explains its next exit */
    char root[512];         /* ROOT/nI */
    char data[560];         /* ROOT/nI/data */
    char clock_file[560];   /* faketime offset ("+0", "+90s", ...) */
    uint16_t raft_back, raft_front, client_back, client_front;
};

struct jcluster
{
    unsigned n;
    unsigned zones;
    uint16_t base_port;
    char qraftd[512];
    char root[512];
    char faketime_lib[256]; /* empty: nodes run without libfaketime */
    char cluster_flag[1024];
    char servers[512];      /* every node's front client address */
    struct history *history;
    struct jnode nodes[JEPSEN_NODES_MAX];
};

/* Fill @c (no process started): ports, directories (created). */
int clusterInit(struct jcluster *c,
                unsigned n,
                unsigned zones,
                uint16_t base_port,
                const char *qraftd,
                const char *root,
                bool faketime,
                struct history *history,
                char *errmsg,
                size_t len);

/* Start node @i (it must be down). Returns 0 or -1. */
int clusterStart(struct jcluster *c, unsigned i);

/* SIGKILL node @i and reap it (no-op when down). */
void clusterKill(struct jcluster *c, unsigned i);

/* SIGSTOP / SIGCONT node @i. */
void clusterPause(struct jcluster *c, unsigned i);
void clusterResume(struct jcluster *c, unsigned i);

/* SIGTERM every node, wait up to 10 s each, then SIGKILL. */
void clusterStopAll(struct jcluster *c);

/* Reap nodes that exited on their own; an exit no fault explains is
 * written to the history as a failed "node-exit" check. */
void clusterReap(struct jcluster *c);

/* Status of node @i asked directly (not through the proxy). */
int clusterStatus(struct jcluster *c, unsigned i, struct qraft_node_status *st);

/* Index of the node that the up nodes agree leads, or -1. */
int clusterLeader(struct jcluster *c);

/* Wait up to @timeout_ms until every node is up, a leader is known and all
 * are at the same applied index with the same digest. Returns 0, or -1
 * with what differs in @detail. */
int clusterAwaitConverged(struct jcluster *c, unsigned timeout_ms, char *detail, size_t len);

/* ---------------------------------------------------------------------- */
/* Nemesis (nemesis.c)                                                     */

#define NEMESIS_FAULTS(X)                                                   \
    X(FAULT_KILL, "kill")                                                   \
    X(FAULT_PAUSE, "pause")                                                 \
    X(FAULT_PARTITION_ZONE, "partition-zone")                               \
    X(FAULT_PARTITION_LEADER, "partition-leader")                           \
    X(FAULT_PARTITION_HALVES, "partition-halves")                           \
    X(FAULT_BRIDGE, "bridge")                                               \
    X(FAULT_ONE_WAY, "one-way")                                             \
    X(FAULT_RESTART_ALL, "restart-all")                                     \
    X(FAULT_SLOW, "slow")                                                   \
    X(FAULT_CLOCK, "clock")                                                 \
    X(FAULT_CORRUPT, "corrupt")                                             \
    X(FAULT_DISK_FULL, "disk-full")

enum faultKind {
#define NEMESIS__ENUM(E, NAME) E,
    NEMESIS_FAULTS(NEMESIS__ENUM)
#undef NEMESIS__ENUM
        FAULT_KINDS
};

/* "kill" for FAULT_KILL. */
const char *faultName(enum faultKind k);

/* Parse "all", "none" or a comma-separated list of names into a bit mask
 * of (1 << kind). Returns 0 or -1 with @errmsg filled. */
int faultParseList(const char *list, unsigned *mask, char *errmsg, size_t len);

/* One planned fault: on at start_ms, healed at end_ms (run time). */
struct faultPlan
{
    uint64_t start_ms;
    uint64_t end_ms;
    enum faultKind kind;
    uint64_t choice; /* random bits for choosing targets when it starts */
};

#define NEMESIS_PLAN_MAX 4096

struct nemesis
{
    struct jcluster *cluster;
    struct proxy *proxy;
    struct history *history;
    unsigned zone_delay_us, zone_jitter_us;
    char tmpfs[600];              /* disk-full: the mount point, or "" */
    int tmpfs_node;               /* ... the node whose data it holds */
    unsigned n_plan;
    struct faultPlan plan[NEMESIS_PLAN_MAX];
    /* What the fault now on did, for healing it. */
    int active;                   /* index into plan, -1: none */
    char active_value[160];
    unsigned targets;             /* bit mask of node indices */
    bool refused;                 /* corrupt: the node refused to start */
    char backup[640];             /* corrupt: copy of the data directory */
    uint64_t faults_injected;
    volatile int *interrupted;    /* set by a signal: stop waiting */
};

/* Plan faults of the kinds in @mask over @duration_ms of run time: each
 * lasts @min_ms..@max_ms, after a healing gap of @gap_ms.."2 x @gap_ms".
 * Kinds take turns (shuffled, each before any repeats). */
void nemesisPlan(struct nemesis *n, unsigned mask, uint64_t seed, uint64_t duration_ms,
                 unsigned min_ms, unsigned max_ms, unsigned gap_ms);

/* The schedule, one line per fault. */
void nemesisPrintPlan(const struct nemesis *n, FILE *f);

/* Set up what the kinds in @mask need before the nodes start (disk-full:
 * a tmpfs as one node's data directory). Returns @mask without the kinds
 * this machine cannot do, each with a note on @f (disk-full needs root for
 * mount(2)). */
unsigned nemesisPrepare(struct nemesis *n, unsigned mask, uint64_t seed, FILE *f);

/* Run the plan in real time until run time @until_ms, reaping exited
 * nodes meanwhile. Returns with the last fault healed. */
void nemesisRun(struct nemesis *n, uint64_t until_ms);

/* Heal everything: proxy, paused and stopped nodes, clocks, disk. */
void nemesisHealAll(struct nemesis *n);

/* Undo nemesisPrepare (unmount). */
void nemesisCleanup(struct nemesis *n);

/* ---------------------------------------------------------------------- */
/* Workloads (workload.c; one file per workload: workload_queue.c, ...)    */

/* Room for a producer's own state, in uint64_t. */
#define WORKLOAD_STATE_MAX 256

/* What makes one workload: its queue and the messages it sends. */
struct workloadOps
{
    const char *name;
    const char *queue;
    const struct qraft_attr *attrs; /* CreateQueue attributes */
    size_t n_attrs;
    unsigned send_retries; /* sends of the same body again after an info */
    /* The next message of producer @producer (of @producers): fill @body
     * and the send parameters (@group and @dedup have room for
     * QRAFT_GROUP_ID_MAX). @state (WORKLOAD_STATE_MAX words) is the
     * producer's own, zeroed at start; @groups the number of groups. */
    void (*next)(unsigned producer, unsigned producers, unsigned groups, uint64_t *state,
                 char *body, size_t cap, char *group, char *dedup);
};

extern const struct workloadOps workloadQueue;
extern const struct workloadOps workloadFifo;

/* Look a workload up by name. */
const struct workloadOps *workloadFind(const char *name);

struct workloadConfig
{
    const struct workloadOps *ops;
    const char *servers;
    struct history *history;
    unsigned concurrency; /* threads: half producers, half consumers */
    double rate;          /* operations per second, all threads */
    int timeout_ms;       /* libqraft per-call deadline */
    unsigned groups;      /* fifo */
    unsigned skip_delete_percent; /* received and left undeleted */
    uint64_t seed;
};

struct workload;

/* Create the queue (retried up to @timeout_ms). Returns 0 or -1. */
int workloadSetup(const struct workloadConfig *c, unsigned timeout_ms, char *errmsg,
                  size_t len);

/* Start the threads. */
int workloadStart(const struct workloadConfig *c, struct workload **out);

/* Ask the threads to finish their current operation and join them. */
void workloadStop(struct workload *w);

/* Final phase: receive and delete until the queue is empty (the drain
 * process), up to @timeout_ms. Returns 0, or -1 with @errmsg filled. */
int workloadDrain(const struct workloadConfig *c, unsigned timeout_ms, char *errmsg,
                  size_t len);

/* ---------------------------------------------------------------------- */
/* Fault proxy (proxy.c)                                                   */
/*                                                                        */
/* Every node i has two front ports on the proxy: one for raft, one for   */
/* clients. Nodes are told their peers' raft addresses as the front ports */
/* (and bind their real ones with --raft-bind/--client-bind), so all      */
/* traffic crosses the proxy. A raft connection in libraft's uv transport */
/* carries one direction, from the node that dialled it to the node it    */
/* dialled, and opens with a handshake naming the dialler (protocol,      */
/* server id, address: uint64 little-endian each, then the address padded */
/* to 8 bytes); the proxy reads the dialler's id from it, so it knows the */
/* directed link (from, to) of each raft connection. Client connections   */
/* come from PROXY_CLIENT.                                                 */
/*                                                                        */
/* Faults are per directed link. A cut link either stalls (bytes held,    */
/* reading from the sender stopped, new connections accepted and held:    */
/* what a dropped route looks like to TCP) or resets (connections closed  */
/* with RST, new ones reset at once). Healing a stalled link lets the held */
/* bytes through, late, as TCP's retransmissions would. A delay holds each */
/* chunk for delay +- jitter microseconds, in order. The link's default    */
/* delay is the zone delay between nodes in different zones, 0 otherwise  */
/* (and 0 for client links).                                              */
/*                                                                        */
/* Precisely:                                                             */
/* - A connection belongs to link (from, to): the raft dialler (by its    */
/*   handshake's server id, see raft_id) or PROXY_CLIENT, and the node    */
/*   whose front port it came in on. Its bytes from -> to follow the      */
/*   delay and the stall of (from, to); the bytes back (raft sends none;  */
/*   client replies) follow (to, from).                                   */
/* - The handshake (libraft 0.15.0 src/uv_tcp_connect.c, uv_tcp_listen.c) */
/*   is read whole, in any number of pieces, and forwarded unchanged.     */
/*   Protocol != 1, an unknown id, an address length of 0 or above 1024:  */
/*   the connection is closed and nothing is dialled (bad_handshakes).    */
/* - STALL of (a, b): reading stops on every direction carrying a -> b;  */
/*   bytes already read stay queued, nothing is written; a new connection */
/*   of link (a, b) is accepted, its handshake read, and held without    */
/*   dialling the node. Lifting it dials the held connections and lets   */
/*   the queued bytes through, in order.                                   */
/* - RESET of (a, b): every connection of link (a, b) is closed with RST  */
/*   on both sides, at once, and new ones as soon as their link is known  */
/*   (after the handshake, or at accept for clients), while the cut       */
/*   holds. A RESET of (n, PROXY_CLIENT) resets the client connections of */
/*   node n. A cut of (a, b) never touches a connection of link (b, a).   */
/* - Each chunk read is released at now + delay +- jitter (uniform, from  */
/*   seed), never before the chunk read before it in that direction. A   */
/*   new delay applies to bytes read from then on.                         */
/* - The node's port refuses (it is down): the front is reset             */
/*   (upstream_failures). One side closes (EOF): what is queued towards   */
/*   the other side is written, then both are closed; one side resets:    */
/*   the other is reset.                                                   */
/* - Memory is bounded: a direction with more than 4 MiB queued or being  */
/*   written is not read until it is below 1 MiB.                          */

#define PROXY_CLIENT (-1) /* "from" of client connections */

struct proxy;

struct proxyConfig
{
    unsigned n_nodes;
    unsigned zone[JEPSEN_NODES_MAX];         /* zone index of node i */
    uint64_t raft_id[JEPSEN_NODES_MAX];      /* raft server id of node i */
    uint16_t raft_front[JEPSEN_NODES_MAX];   /* proxy listens: raft to i */
    uint16_t raft_back[JEPSEN_NODES_MAX];    /* node i's real raft port */
    uint16_t client_front[JEPSEN_NODES_MAX]; /* proxy listens: clients */
    uint16_t client_back[JEPSEN_NODES_MAX];  /* node i's real client port */
    unsigned zone_delay_us;                  /* one way, between zones */
    unsigned zone_jitter_us;                 /* +- around it */
    uint64_t seed;                           /* jitter's random stream */
};

enum proxyCutMode {
    PROXY_CUT_STALL = 1,
    PROXY_CUT_RESET = 2,
};

struct proxyStats
{
    uint64_t connections; /* accepted in all */
    uint64_t resets;      /* connections reset by a cut */
    uint64_t bytes;       /* forwarded, both directions */
    uint64_t held_bytes;  /* now held by stalls and delays */
    uint64_t live;              /* connections open now */
    uint64_t held_connections;  /* ... of which held by a stall, no upstream */
    uint64_t bad_handshakes;    /* raft connections closed: bad handshake */
    uint64_t upstream_failures; /* back port refused (node down): front reset */
};

/* Listen on every front port (127.0.0.1) and start the proxy's thread.
 * Returns 0, or -1 with @errmsg filled (a front port taken, n_nodes 0 or
 * above JEPSEN_NODES_MAX): nothing left bound or running, *out NULL. The
 * node's back ports need not be listening yet. */
int proxyStart(const struct proxyConfig *c, struct proxy **out, char *errmsg, size_t len);

/* Close every connection (plainly, no RST), stop the thread, free. @p may
 * be NULL. No other call may be running or follow. */
void proxyStop(struct proxy *p);

/* The calls below are thread safe and have taken effect on the proxy's
 * loop when they return. @from and @to are node indices or PROXY_CLIENT
 * (not both): (PROXY_CLIENT, n) carries requests to node n, (n,
 * PROXY_CLIENT) its replies. A link that does not exist is ignored. */

/* Cut the directed link from -> to (a second cut replaces the mode). */
void proxyCut(struct proxy *p, int from, int to, enum proxyCutMode mode);

/* Lift the cut of one link. */
void proxyUncut(struct proxy *p, int from, int to);

/* Set the link's delay (one way, both directions of its connections'
 * bytes follow the link they belong to: from -> to bytes use (from, to),
 * the replies use (to, from)). */
void proxySetDelay(struct proxy *p, int from, int to, unsigned delay_us, unsigned jitter_us);

/* Every cut lifted, every delay back to its default (the zone delay). */
void proxyHeal(struct proxy *p);

/* A consistent snapshot of the counters, taken on the loop. */
void proxyGetStats(struct proxy *p, struct proxyStats *out);

/* ---------------------------------------------------------------------- */
/* Checker (checker.c) and report (report.c)                               */

enum checkOp {
    CHECK_SEND,
    CHECK_RECEIVE,
    CHECK_DELETE,
    CHECK_OPS,
};

struct checkLatency
{
    uint64_t count; /* completed (ok, fail, info) */
    double p50_ms, p90_ms, p99_ms, p999_ms, max_ms;
};

#define CHECK_PROBLEMS_MAX 16

struct checkResult
{
    char workload[16];
    bool fifo;               /* the history's workload is fifo */
    uint64_t events;         /* event lines read */
    double duration_s;       /* the last event's time */
    uint64_t unfinished;     /* invokes never completed (count as info) */
    uint64_t sends_ok;       /* logical sends acknowledged */
    uint64_t sends_fail;     /* definitely refused */
    uint64_t sends_info;     /* outcome unknown (never acked) */
    uint64_t info_appeared;  /* ... of which received later */
    uint64_t info_missing;   /* ... of which never received */
    uint64_t lost;           /* acked, never received: must be 0 */
    uint64_t phantoms;       /* received, never sent: must be 0 */
    uint64_t failed_appeared;  /* refused, yet received: must be 0 */
    uint64_t received;       /* distinct bodies received */
    uint64_t deliveries;     /* every message of every receive */
    uint64_t redeliveries;   /* same message id delivered again */
    uint64_t duplicates;     /* bodies delivered under >1 message id */
    uint64_t duplicates_in_window; /* fifo: ... within 5 min: must be 0 */
    uint64_t order_violations;     /* fifo: must be 0 */
    uint64_t harness_failures;     /* "check" events that failed */
    uint64_t faults;               /* fault windows */
    uint64_t ops_fault, ok_fault;  /* client ops completed in a window */
    uint64_t ops_calm, ok_calm;    /* ... outside every window */
    double availability_fault;     /* ok / completed, in windows */
    double availability_calm;      /* ... outside them */
    struct checkLatency latency[CHECK_OPS];
    unsigned n_problems;           /* examples, human-readable */
    char problems[CHECK_PROBLEMS_MAX][200];
    bool valid; /* every "must be" holds */
};

/* Read the history at @path and check it. Returns 0 (see r->valid), or -1
 * with @errmsg filled if the file cannot be read or is malformed
 * ("history:LINE: what is wrong": field count, time, type, receive list,
 * nemesis start/stop without FAULT#K, a completion with no invoke
 * outstanding or of another op than its invoke). Blank lines are skipped.
 * A completion pairs with the latest invoke of its process; an invoke
 * abandoned by a later one, or never completed, counts as info
 * (r->unfinished). A body's status: ok if any send attempt was ok, else
 * info if any was info or unfinished, else fail. Problem examples are
 * shared out across kinds (harness, lost, phantom, failed appeared, fifo
 * duplicate, order) so that a flood of one hides no other. Details:
 * checker.c, checker_eval.c. */
int checkHistory(const char *path, struct checkResult *r, char *errmsg, size_t len);

/* The text summary, as a person reads it at a glance: "VALID" or
 * "INVALID: <invariant> <value>, ...", the invariants with their required
 * value, the counts, availability in and out of fault windows ("n/a" when
 * no op fell there), the latency table, the problem examples. */
void checkPrint(FILE *f, const struct checkResult *r);

/* Into @dir: results.json (@config_json, an object, embedded as "config";
 * may be NULL), summary.txt, latency.svg (latency of every operation over
 * time, fault windows shaded, fail and info marked; drawn by gnuplot if
 * /usr/bin/gnuplot exists, else latency.gp and its data are left for it).
 * Reads @history_path again (for the plot's points). results.json's "plot"
 * says what became of the picture: "latency.svg", "gnuplot missing" (still
 * returns 0), or why gnuplot failed (gnuplot.log holds its output).
 * Returns 0, or -1 with @errmsg filled (a file could not be written, or
 * gnuplot failed or ran past 120 s: results.json and summary.txt are
 * written even then). */
int reportWrite(const char *dir,
                const char *history_path,
                const struct checkResult *r,
                const char *config_json,
                char *errmsg,
                size_t len);

#endif /* QRAFT_JEPSEN_H */
