/* The benchmark's shared parts: options, the table's rows, the load
 * generator, the cluster's nodes and the machine's ceilings.
 *
 * bench.c: options, the table's rows, main; load.c: the load generator
 * and the queue helpers; throughput.c: rows 1-3 (send, drain); flow.c:
 * rows 4-6 (end to end, long poll, FIFO); state.c: rows 7-9 (memory,
 * snapshot, restart at a large backlog); failover.c: row 10 (leader
 * kills); nodes.c: the cluster's nodes seen from outside (status, PIDs,
 * RSS, files); ceilings.c: the machine; peer.c: the peer broker's figures
 * read back; report.c: the table and the JSON. peer_rabbit.c is a program
 * of its own (the peer's load generator). */
#ifndef QRAFT_BENCH_H
#define QRAFT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/qraft.h"
#include "tests/bench/hist.h"

#define ROWS_MAX 32
#define NODES 3

/* Command-line options. */
struct benchOptions
{
    const char *servers;
    const char *dir;
    const char *script;
    const char *json;
    const char *commit;
    const char *peer;   /* the peer's results file (peer_rabbit), or NULL */
    const char *only;   /* rows to run ("1,2,10"), or NULL for all */
    bool quick;
    double seconds; /* length of a timed scenario */
};
extern struct benchOptions opt;

/* One row of the table. */
struct row
{
    char id[8];
    char name[96];
    bool measured;
    double msgs_s;   /* < 0: not applicable */
    double mb_s;     /* < 0: not applicable */
    bool has_lat;    /* latency percentiles below are meaningful */
    double p50_ms, p90_ms, p99_ms, p999_ms, max_ms;
    uint64_t n;      /* operations counted */
    uint64_t errors; /* operations that did not succeed */
    char note[640];
    char extra[4096]; /* more JSON members ("k": v, ...) or "" */
};
extern struct row rows[ROWS_MAX];
extern unsigned n_rows;
/* Load average (1, 5, 15 min) at the start and at the end of the run:
 * the figures of a loaded machine are not comparable. */
extern double load_start[3], load_end[3];
/* Seconds from the bench's start to the table (the peer's run not included). */
extern double run_seconds;

/* The machine's ceilings, measured in the same run. */
struct ceilings
{
    struct hist fsync;
    double fsync_rate; /* appends + fdatasync per second */
    struct hist rtt;
    double best_one_ms; /* fsync p50 + 2 loopback round trips */
};
extern struct ceilings ceil_;

/* Monotonic nanoseconds. */
uint64_t nowNs(void);
/* Print "bench: ..." and exit 1. */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);

/* Measure fsync of small appends in opt.dir, and loopback round trips. */
void ceilFsync(void);
void ceilRtt(void);

/* Sleep @ns nanoseconds (through signals). */
void sleepNs(uint64_t ns);

/* A new row (its figures -1: not applicable). */
struct row *rowAdd(const char *id, const char *name);
/* The latency columns of @r from @h. */
void rowLatency(struct row *r, const struct hist *h);
/* Append to r->extra (JSON members, comma-separated). */
__attribute__((format(printf, 2, 3))) void rowExtra(struct row *r, const char *fmt, ...);

/* ---------------------------------------------------------------------- */
/* The load generator (load.c)                                             */

struct load
{
    const char *queue;
    size_t size;        /* body bytes */
    unsigned conns;
    unsigned window;    /* sends in flight per connection */
    unsigned batch;     /* 0: qraft_send_async; N: qraft_send_batch of N */
    double seconds;     /* 0: bounded by count */
    uint64_t count;     /* per connection; 0: bounded by time */
    double rate;        /* total msgs/s for an open loop; 0: closed loop */
    _Atomic int *stop;  /* or NULL: set to end the run at once */
    bool track;         /* keep each send's outcome (failover) */
    bool stamp;         /* the body starts "t<due time, ns> " (end to end) */
    unsigned groups;    /* FIFO: MessageGroupId among this many; 0: none */
};

struct loadResult
{
    uint64_t ok, err;
    double elapsed; /* s, from the common start to the last worker's end */
    struct hist h;
};

/* Outcome of send i of a tracked load. */
enum { SENT_PENDING = 0, SENT_OK = 1, SENT_FAILED = 2 };

/* The sends of one connection of a tracked load (load.track), send i's
 * body starting "c<connection>-<i> ". */
struct sendTrack
{
    uint64_t issued;   /* sends issued */
    uint8_t *outcome;  /* [issued]: SENT_* */
    uint32_t *ack_ms;  /* [issued]: when acknowledged, ms from the start */
};

/* Run @l. For a tracked load, @tracks_out (may be NULL) receives one
 * sendTrack per connection; the caller frees each outcome and ack_ms, then
 * the array. */
void loadRun(const struct load *l, struct loadResult *r, struct sendTrack **tracks_out);
/* Time the first acknowledgement of a send issued at or after @t (ns,
 * nowNs): start watching (forgetting any earlier one), read it (0: none
 * yet), stop watching. */
void loadAckWatchStart(uint64_t t);
uint64_t loadAckFirst(void);
void loadAckWatchStop(void);
/* Fill a row's rate and latency from a load's result. */
void rowFromLoad(struct row *row, const struct load *l, const struct loadResult *r);

/* The bench's own client, for setup. */
extern struct qraft_client *admin;
/* Create a queue (die on failure); @fifo: a FIFO queue (name ends .fifo). */
void queueFresh(const char *name);
void queueFreshFifo(const char *name);
/* Delete a scenario's queue after it, so the next one starts small. */
void queueDrop(const char *name);

/* Drain @queue with @consumers threads (receive 10 + DeleteMessageBatch)
 * until @target are deleted, nothing is left, or @limit_s passes. */
struct drainResult
{
    uint64_t deleted, errors;
    double elapsed;
    struct hist h; /* one receive + delete round */
};
void drainQueue(const char *queue, unsigned consumers, uint64_t target, double limit_s,
                struct drainResult *r);

/* ---------------------------------------------------------------------- */
/* The cluster's nodes, seen from outside (nodes.c)                        */

/* The node that says it is the leader, or -1. */
int leaderId(void);
/* Status of node @id (1..NODES), asked of it alone. */
int nodeStatus(int id, struct qraft_node_status *st);
/* PID of node @id from DIR/nodeI/pid, or 0. */
int nodePid(int id);
/* Wait until node @id is a follower that keeps pace with the leader: it
 * reaches the leader's applied index within a second of its reading.
 * Reaching where the leader was when the wait began is not enough under
 * load: a node restored from an image is then still seconds of log behind,
 * and a leader killed at that moment leaves no caught-up majority (row 10
 * measured the follower's second image install, not a failover). */
bool nodeCaughtUp(int id, int timeout_s);
/* Send SIGTERM to node @id and wait (up to @timeout_s) until it is gone. */
bool nodeStop(int id, int timeout_s);
/* `scripts/cluster restart ID`: start node @id again with its flags. */
bool nodeStart(int id);
/* CPU seconds (user + system) the process has used, or -1. */
double procCpuSeconds(int pid);
/* utime + stime of every node (their PID files), in seconds; -1 if one
 * is unknown. */
double nodesCpuSeconds(void);

/* Memory and files of every node at one point (row 7). */
struct nodeMem
{
    long rss_kb, hwm_kb;        /* VmRSS, VmHWM; -1 if unknown */
    long anon_kb, file_kb;      /* RssAnon (heap), RssFile (LMDB's map) */
    long long lmdb_bytes;       /* state/data.mdb size */
    long long lmdb_disk_bytes;  /* its allocated blocks (sparse map) */
    long long raft_bytes;       /* everything in raft/ (log + snapshots) */
};
void nodeMemSample(struct nodeMem out[NODES]);
/* MemAvailable of the machine in MiB, or -1. */
long memAvailableMiB(void);
/* Load average (1, 5, 15 min) from /proc/loadavg. */
void loadAverage(double la[3]);

/* Rows 1-3 (throughput.c): one send row of @size bytes, @conns x @window
 * in flight (@batch: SendMessageBatch of that many; @rate: open loop),
 * returning its msgs/s; and the drain of row 3. */
double scenarioSend(const char *id, const char *name, size_t size, unsigned conns,
                    unsigned window, unsigned batch, double rate, const char *note);
void scenarioDrain(void);
/* Row 10 (failover.c): on a fresh cluster (the old one's data removed),
 * so it runs last; admin is reopened on the fresh cluster. */
void scenarioFailover(void);
/* Rows 4-6 (flow.c) and 7-9 (state.c). */
void scenarioEndToEnd(double row2_rate);
void scenarioLongPoll(void);
void scenarioFifo(void);
/* Fill the backlog, then 7 (memory at backlog), 8, 9; scenarioStateEnd
 * drains and adds row 7's drained point. */
void scenarioStateBegin(void);
void scenarioStateEnd(void);
/* Memory at the start (before any scenario), for row 7. */
void stateIdleSample(void);

/* The peer's rows read from opt.peer (peer.c); 0 if none. */
int peerLoad(void);
/* The peer figure for qraft row @id, or NULL. */
const struct row *peerRow(const char *id);
/* Peer version and config (JSON members), "" when none. */
const char *peerInfo(void);
/* Why the peer did not run, or "". */
const char *peerSkipped(void);

/* Print the table; write opt.json. */
void printTable(void);
void writeJson(void);

#endif /* QRAFT_BENCH_H */
